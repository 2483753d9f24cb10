//! What the user sees while a run goes on: a spinner per long step and a bar
//! per counted load on a terminal, plain `blobfail: …` lines otherwise.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

/// Progress for the run's steps; plain lines when stderr is not a terminal.
#[derive(Clone)]
pub struct Progress {
    tty: bool,
}

impl Default for Progress {
    fn default() -> Self {
        Self::new()
    }
}

impl Progress {
    pub fn new() -> Self {
        Self { tty: std::io::stderr().is_terminal() }
    }

    /// A spinner with a message, or one line when not on a terminal.
    pub fn step(&self, what: &str) -> Step {
        let bar = if self.tty {
            let b = ProgressBar::new_spinner();
            b.set_style(ProgressStyle::with_template("{spinner} {prefix} {msg}").unwrap());
            b.set_prefix(what.to_string());
            b.enable_steady_tick(Duration::from_millis(120));
            b
        } else {
            eprintln!("blobfail: {what} ...");
            ProgressBar::hidden()
        };
        Step { bar, what: what.to_string(), tty: self.tty, start: Instant::now() }
    }

    /// A bar of `len` items; when not on a terminal, a line every 25%.
    pub fn bar(&self, what: &str, len: u64) -> Bar {
        let bar = if self.tty {
            let b = ProgressBar::new(len);
            b.set_style(
                ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {msg} ({elapsed})")
                    .unwrap()
                    .progress_chars("=> "),
            );
            b.set_prefix(what.to_string());
            b
        } else {
            eprintln!("blobfail: {what} ({len}) ...");
            ProgressBar::hidden()
        };
        Bar { bar, what: what.to_string(), tty: self.tty, len, last_quarter: AtomicU64::new(0) }
    }
}

pub struct Step {
    bar: ProgressBar,
    what: String,
    tty: bool,
    start: Instant,
}

impl Step {
    pub fn set_message(&self, msg: &str) {
        self.bar.set_message(msg.to_string());
    }

    pub fn finish(self, detail: &str) {
        if self.tty {
            self.bar.finish_and_clear();
            eprintln!("✓ {}: {detail}", self.what);
        } else {
            eprintln!("blobfail: {}: {detail} ({:.1} s)", self.what, self.start.elapsed().as_secs_f64());
        }
    }
}

impl Drop for Step {
    fn drop(&mut self) {
        if !self.bar.is_finished() {
            self.bar.finish_and_clear();
        }
    }
}

pub struct Bar {
    bar: ProgressBar,
    what: String,
    tty: bool,
    len: u64,
    last_quarter: AtomicU64,
}

impl Bar {
    pub fn inc(&self) {
        self.bar.inc(1);
        if !self.tty && self.len > 0 {
            let q = self.bar.position() * 4 / self.len;
            let prev = self.last_quarter.fetch_max(q, Ordering::Relaxed);
            if q > prev && q < 4 {
                eprintln!("blobfail: {}: {}/{}", self.what, self.bar.position(), self.len);
            }
        }
    }

    pub fn finish(self, detail: &str) {
        self.bar.finish_and_clear();
        if self.tty {
            eprintln!("✓ {}: {detail}", self.what);
        } else {
            eprintln!("blobfail: {}: {detail}", self.what);
        }
    }
}
