//! What the user sees while a run goes on, as a subscriber of the run's
//! events: a spinner per step and a bar per counted load on a terminal,
//! plain `blobfail: …` lines otherwise; each start and stop of a fault as
//! a line of the history ("blobfail: 12.4 s: pause b started (…)").

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use crate::events::{Event, Subscriber};

/// A step or bar on show.
struct Shown {
    bar: ProgressBar,
    what: String,
    start: Instant,
    /// A bar's length, its count and the last quarter said (plain lines).
    len: u64,
    pos: u64,
    last_quarter: u64,
}

/// The progress display; plain lines when stderr is not a terminal.
pub struct Progress {
    tty: bool,
    out: Box<dyn Write + Send>,
    shown: HashMap<u64, Shown>,
    /// When the run's history began (its events' times count from it).
    history: Option<Instant>,
}

impl Progress {
    pub fn new() -> Self {
        Self { tty: std::io::stderr().is_terminal(), out: Box::new(std::io::stderr()), shown: HashMap::new(), history: None }
    }

    /// Plain lines into `out` (tests).
    #[cfg(test)]
    fn plain(out: Box<dyn Write + Send>) -> Self {
        Self { tty: false, out, shown: HashMap::new(), history: None }
    }

    fn say(&mut self, line: String) {
        let _ = writeln!(self.out, "{line}");
    }

    fn shown(&mut self, id: u64, bar: ProgressBar, what: &str, len: u64) {
        let s = Shown { bar, what: what.to_string(), start: Instant::now(), len, pos: 0, last_quarter: 0 };
        self.shown.insert(id, s);
    }
}

impl Subscriber for Progress {
    fn on(&mut self, event: &Event) {
        match event {
            Event::StepStarted { id, what, at } => {
                let bar = if self.tty {
                    let b = ProgressBar::new_spinner();
                    b.set_style(ProgressStyle::with_template("{spinner} {prefix} {msg}").unwrap());
                    b.set_prefix(what.clone());
                    b.enable_steady_tick(Duration::from_millis(120));
                    b
                } else {
                    self.say(format!("blobfail: {what} ..."));
                    ProgressBar::hidden()
                };
                self.shown(*id, bar, what, 0);
                if let Some(s) = self.shown.get_mut(id) {
                    s.start = *at;
                }
            }
            Event::StepMessage { id, message } => {
                if let Some(s) = self.shown.get(id) {
                    s.bar.set_message(message.clone());
                }
            }
            Event::StepFinished { id, detail, at } => {
                let Some(s) = self.shown.remove(id) else { return };
                if self.tty {
                    s.bar.finish_and_clear();
                    self.say(format!("✓ {}: {detail}", s.what));
                } else {
                    let secs = at.saturating_duration_since(s.start).as_secs_f64();
                    self.say(format!("blobfail: {}: {detail} ({secs:.1} s)", s.what));
                }
            }
            Event::StepAbandoned { id } => {
                if let Some(s) = self.shown.remove(id) {
                    s.bar.finish_and_clear();
                }
            }
            Event::BarStarted { id, what, len } => {
                let bar = if self.tty {
                    let b = ProgressBar::new(*len);
                    b.set_style(
                        ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {msg} ({elapsed})")
                            .unwrap()
                            .progress_chars("=> "),
                    );
                    b.set_prefix(what.clone());
                    b
                } else {
                    self.say(format!("blobfail: {what} ({len}) ..."));
                    ProgressBar::hidden()
                };
                self.shown(*id, bar, what, *len);
            }
            Event::BarAdvanced { id } => {
                let Some(s) = self.shown.get_mut(id) else { return };
                s.bar.inc(1);
                s.pos += 1;
                if self.tty || s.len == 0 {
                    return;
                }
                // Not on a terminal: a line at each quarter.
                let q = s.pos * 4 / s.len;
                if q > s.last_quarter && q < 4 {
                    s.last_quarter = q;
                    let line = format!("blobfail: {}: {}/{}", s.what, s.pos, s.len);
                    self.say(line);
                }
            }
            Event::BarFinished { id, detail } => {
                let Some(s) = self.shown.remove(id) else { return };
                s.bar.finish_and_clear();
                let mark = if self.tty { "✓ " } else { "blobfail: " };
                self.say(format!("{mark}{}: {detail}", s.what));
            }
            Event::HistoryBegan { at } => self.history = Some(*at),
            Event::Nemesis { nemesis, node, change, detail, at, t } => {
                let e = crate::nemesis::Event::of(self.history.unwrap_or(*at), nemesis, node, *change, detail, *at, *t);
                self.say(format!("blobfail: {}", e.line()));
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::events::{Change, Events};

    /// A `Write` whose bytes the test reads back.
    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl Write for Sink {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn plain_lines_for_steps_bars_and_the_history() {
        let sink = Sink::default();
        let mut p = Progress::plain(Box::new(sink.clone()));
        let t0 = Instant::now();
        p.on(&Event::StepStarted { id: 1, what: "joining node b to node a".into(), at: t0 });
        p.on(&Event::StepFinished { id: 1, detail: "connected in 2.9 s".into(), at: t0 + Duration::from_millis(2940) });
        p.on(&Event::BarStarted { id: 2, what: "GET /T/{n} on node a".into(), len: 8 });
        for _ in 0..8 {
            p.on(&Event::BarAdvanced { id: 2 });
        }
        p.on(&Event::BarFinished { id: 2, detail: "8 ok".into() });
        p.on(&Event::StepStarted { id: 3, what: "stopping".into(), at: t0 });
        p.on(&Event::StepAbandoned { id: 3 });
        p.on(&Event::HistoryBegan { at: t0 });
        let at = t0 + Duration::from_millis(12_440);
        p.on(&Event::Nemesis { nemesis: "pause".into(), node: "b".into(), change: Change::Started, detail: "SIGSTOP to process group 42".into(), at, t: None });
        p.on(&Event::Nemesis { nemesis: "shim plan x".into(), node: "b".into(), change: Change::Started, detail: "armed".into(), at, t: Some(0.0) });
        let text = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        assert_eq!(
            text,
            "blobfail: joining node b to node a ...\n\
             blobfail: joining node b to node a: connected in 2.9 s (2.9 s)\n\
             blobfail: GET /T/{n} on node a (8) ...\n\
             blobfail: GET /T/{n} on node a: 2/8\n\
             blobfail: GET /T/{n} on node a: 4/8\n\
             blobfail: GET /T/{n} on node a: 6/8\n\
             blobfail: GET /T/{n} on node a: 8 ok\n\
             blobfail: stopping ...\n\
             blobfail: 12.4 s: pause b started (SIGSTOP to process group 42)\n\
             blobfail: 0.0 s: shim plan x b started (armed)\n"
        );
        assert!(p.shown.is_empty(), "every step and bar is let go");
    }

    #[test]
    fn a_bar_advanced_from_many_tasks_counts_every_item() {
        let sink = Sink::default();
        let events = Events::default();
        let _p = events.subscribe(Progress::plain(Box::new(sink.clone())));
        let bar = events.bar("load", 400);
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| (0..100).for_each(|_| bar.inc()));
            }
        });
        bar.finish("400 ok");
        let text = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        assert_eq!(text, "blobfail: load (400) ...\nblobfail: load: 100/400\nblobfail: load: 200/400\nblobfail: load: 300/400\nblobfail: load: 400 ok\n");
    }
}
