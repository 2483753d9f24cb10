//! # libblobfail: make chosen file opens fail, inside any dynamically linked process
//!
//! Preload it and arm it with one variable; every Nth open that writes under
//! `/blobs/` then fails with `ENOENT` without reaching the kernel:
//!
//! ```text
//! $ LD_PRELOAD=target/release/libblobfail.so HARPER_TEST_BLOB_FAIL_INTERVAL=7 \
//!     python3 -c 'import os; os.makedirs("blobs", exist_ok=True)
//! for i in range(70):
//!     try: open(f"blobs/{i}", "w").close()
//!     except OSError as e: print(i + 1, e.strerror)'
//! blobfail: armed pid=4242 interval=7 path=/blobs/ ops=write errno=ENOENT skip=0 max=none log=none
//! 7 No such file or directory
//! 14 No such file or directory
//! ...
//! 70 No such file or directory
//! blobfail: summary pid=4242 matching=70 faults=10
//! ```
//!
//! The grammar of the variables is in [`config`]. How the parts fit:
//! [`sys`] holds every line of unsafe code (the exported libc entry points,
//! the table of real functions, raw syscalls); each entry point asks
//! [`check`] whether its call fails, which is safe code over the pure parts:
//! [`matcher`] (does the call match), [`counter`] (is this match a fault) and
//! [`format`] (what gets written).
//!
//! Unset, the shim is invisible: no output, one atomic load per open.
//! Counters are per process: a forked child goes on from its parent's count,
//! and an exec'd program starts again from 0. A path the kernel would refuse
//! as too long (PATH_MAX bytes or more) is never counted: the caller gets
//! the real ENAMETOOLONG.
//!
//! The shim writes to stderr only while fd 2 is still the file it was at
//! load, so a program that runs with stderr closed never finds the shim's
//! words in a file of its own. RELIABILITY.md lists the hazards the shim is
//! tested against, and the test for each.

mod config;
mod counter;
mod format;
mod matcher;
mod sys;

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::OnceLock;

use config::{Config, Parsed};
use counter::{Counters, Fault};
use format::StackBuf;
use matcher::{Intent, ResolvedPath};

/// The libc functions the shim stands in for, by the name it reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Entry {
    Open,
    Open64,
    Openat,
    Openat64,
    Open2,
    Open64_2,
    Openat2,
    Openat64_2,
    Creat,
    Creat64,
    Fopen,
    Fopen64,
    Freopen,
    Freopen64,
}

impl Entry {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Entry::Open => "open",
            Entry::Open64 => "open64",
            Entry::Openat => "openat",
            Entry::Openat64 => "openat64",
            Entry::Open2 => "__open_2",
            Entry::Open64_2 => "__open64_2",
            Entry::Openat2 => "__openat_2",
            Entry::Openat64_2 => "__openat64_2",
            Entry::Creat => "creat",
            Entry::Creat64 => "creat64",
            Entry::Fopen => "fopen",
            Entry::Fopen64 => "fopen64",
            Entry::Freopen => "freopen",
            Entry::Freopen64 => "freopen64",
        }
    }
}

/// Where a relative path starts from.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Dir {
    Cwd,
    Fd(i32),
}

const UNINIT: u8 = 0;
const INITIALIZING: u8 = 1;
const READY: u8 = 2;
/// Ready and disarmed: every hook passes straight through.
const OFF: u8 = 3;

/// Set once; `CONFIG` is filled (or left empty: disarmed) before `READY`.
static STATE: AtomicU8 = AtomicU8::new(UNINIT);
static CONFIG: OnceLock<Config> = OnceLock::new();
/// The needle's searcher, built once: `memmem::find` builds one per call,
/// which cost more than the search itself.
static FINDER: OnceLock<memchr::memmem::Finder<'static>> = OnceLock::new();
static COUNTERS: Counters = Counters::new();
static LOG_WARNED: AtomicBool = AtomicBool::new(false);

/// Reads the environment once. Runs from the library's constructor, or from
/// the first hooked call when another library's constructor opens a file
/// before ours ran. Never blocks: a call that finds another thread (or a
/// signal handler interrupting this one) mid-way passes through uncounted.
pub(crate) fn init() {
    if STATE
        .compare_exchange(UNINIT, INITIALIZING, Ordering::Acquire, Ordering::Acquire)
        .is_err()
    {
        return;
    }
    let parsed = config::parse(sys::getenv);
    if !matches!(parsed, Parsed::Off) {
        // Before the shim's first word: it writes to fd 2 only while fd 2 is
        // still this file (see `sys::write_stderr`). Disarmed, it makes no
        // system call at all.
        sys::remember_stderr();
    }
    let mut end = READY;
    match parsed {
        Parsed::Off => end = OFF,
        Parsed::Invalid { problems } => {
            for p in problems.iter().flatten() {
                let mut line = StackBuf::<512>::new();
                format::problem(&mut line, p);
                sys::write_stderr(line.finish_line());
            }
            end = OFF;
        }
        Parsed::Armed(cfg) => {
            let mut line = StackBuf::<1024>::new();
            format::banner(&mut line, &cfg, sys::pid());
            sys::write_stderr(line.finish_line());
            if sys::getenv(config::VAR_IO_URING) == Some(b"1") {
                let mut line = StackBuf::<256>::new();
                format::io_uring_warning(&mut line);
                sys::write_stderr(line.finish_line());
            }
            if let Some(path) = cfg.log_path_nul() {
                // Find out now, not at the first fault, that the log is unwritable.
                if let Err(errno) = sys::append_file(path, b"") {
                    warn_log_once(&cfg, errno);
                }
            }
            // We won the CAS, so nobody else can have set it.
            let _ = CONFIG.set(cfg);
            if let Some(cfg) = CONFIG.get() {
                let _ = FINDER.set(memchr::memmem::Finder::new(cfg.needle()));
            }
        }
    }
    STATE.store(end, Ordering::Release);
}

/// True once init found the shim disarmed: the hooks' one-load fast path.
#[inline(always)]
pub(crate) fn is_off() -> bool {
    STATE.load(Ordering::Relaxed) == OFF
}

/// The configuration when armed.
#[inline(always)]
fn armed() -> Option<&'static Config> {
    match STATE.load(Ordering::Acquire) {
        READY => CONFIG.get(),
        UNINIT => {
            init();
            CONFIG.get()
        }
        _ => None,
    }
}

/// The armed needle with its NUL, for the hooks' early out: an absolute
/// path that does not contain it cannot match, whatever the flags
/// (`sys::cannot_match` runs libc's `strstr` over the caller's C string, with
/// no `strlen` before it and no per-call setup).
#[inline(always)]
pub(crate) fn armed_needle_nul() -> Option<&'static [u8]> {
    if STATE.load(Ordering::Acquire) != READY {
        return None;
    }
    CONFIG.get().map(Config::needle_nul)
}

/// The decision for one call: `Some(errno)` when it must fail. `path` is
/// only asked for when the call could count, so a disarmed shim or a read
/// under `ops=write` costs no `strlen`. A panic here (a bug) must not cross
/// into C, so it becomes "pass through".
#[inline(always)]
pub(crate) fn check<'p>(
    entry: Entry,
    dir: Dir,
    intent: Intent<'_>,
    path: impl FnOnce() -> Option<&'p [u8]>,
) -> Option<i32> {
    let cfg = armed()?;
    if !intent.counts_under(cfg.ops) {
        return None;
    }
    std::panic::catch_unwind(AssertUnwindSafe(|| {
        check_path(cfg, entry, dir, intent, path()?)
    }))
    .unwrap_or(None)
}

#[inline(never)]
fn check_path(cfg: &Config, entry: Entry, dir: Dir, intent: Intent, path: &[u8]) -> Option<i32> {
    if path.len() >= sys::PATH_MAX {
        // The kernel refuses such a path (ENAMETOOLONG) before it looks at
        // any file: no file is opened, so nothing counts, and the caller
        // gets the real function's own error rather than an injected one.
        return None;
    }
    if path.first() == Some(&b'/') {
        return match_resolved(cfg, entry, intent, ResolvedPath::absolute(path));
    }
    check_relative(cfg, entry, dir, intent, path)
}

/// Apart, so that an absolute path has no page-sized frame on its way; and
/// the buffer is not zeroed, since getcwd/readlink say how much they wrote.
#[inline(never)]
fn check_relative(cfg: &Config, entry: Entry, dir: Dir, intent: Intent, path: &[u8]) -> Option<i32> {
    let mut base = [std::mem::MaybeUninit::<u8>::uninit(); sys::PATH_MAX];
    let base = match dir {
        Dir::Cwd => sys::cwd(&mut base)?,
        Dir::Fd(fd) => sys::fd_path(fd, &mut base)?,
    };
    match_resolved(cfg, entry, intent, ResolvedPath { base, rel: path })
}

#[inline(always)]
fn match_resolved(cfg: &Config, entry: Entry, intent: Intent, path: ResolvedPath) -> Option<i32> {
    let found = match FINDER.get() {
        Some(f) => path.contains_with(f),
        None => path.contains(cfg.needle()),
    };
    if !found {
        return None;
    }
    let fault = COUNTERS.on_match(&cfg.plan)?;
    if cfg.log_path_nul().is_some() {
        log_fault(cfg, entry, intent, path, fault);
    }
    Some(cfg.errno)
}

#[cold]
#[inline(never)]
fn log_fault(cfg: &Config, entry: Entry, intent: Intent, path: ResolvedPath, fault: Fault) {
    let Some(log) = cfg.log_path_nul() else { return };
    let mut line = StackBuf::<8192>::new();
    format::fault_line(
        &mut line,
        &format::FaultRecord {
            seq: fault.seq,
            fault: fault.number,
            pid: sys::pid(),
            tid: sys::tid(),
            function: entry.name(),
            path: path.pieces(),
            flags: intent.flags(),
            mode: match intent {
                Intent::Mode(m) => Some(m),
                Intent::Flags(_) => None,
            },
            errno: cfg.errno,
            time_ns: sys::now_ns(),
        },
    );
    if let Err(errno) = sys::append_file(log, line.finish_line()) {
        warn_log_once(cfg, errno);
    }
}

fn warn_log_once(cfg: &Config, errno: i32) {
    if LOG_WARNED.swap(true, Ordering::Relaxed) {
        return;
    }
    let mut line = StackBuf::<1024>::new();
    format::log_warning(&mut line, cfg.log_path().unwrap_or_default(), errno);
    sys::write_stderr(line.finish_line());
}

/// At exit: what was seen and done, when armed.
pub(crate) fn on_exit() {
    if STATE.load(Ordering::Acquire) != READY {
        return;
    }
    if CONFIG.get().is_some() {
        let (matching, faults) = COUNTERS.totals();
        let mut line = StackBuf::<256>::new();
        format::summary(&mut line, sys::pid(), matching, faults);
        sys::write_stderr(line.finish_line());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression: a path of PATH_MAX bytes or more under `/blobs/` was
    /// counted and failed with the injected errno, where the real call gives
    /// ENAMETOOLONG without opening anything.
    #[test]
    fn paths_of_path_max_bytes_or_more_are_not_counted() {
        let Parsed::Armed(cfg) = config::parse(|v| (v == config::VAR_INTERVAL).then_some(&b"1"[..])) else {
            panic!("armed")
        };
        let write = Intent::Flags(libc::O_WRONLY | libc::O_CREAT);
        let mut long = b"/tmp/blobs/".to_vec();
        long.resize(sys::PATH_MAX, b'a');
        let before = COUNTERS.totals();
        assert_eq!(check_path(&cfg, Entry::Open, Dir::Cwd, write, &long), None);
        assert_eq!(check_path(&cfg, Entry::Openat, Dir::Fd(-1), write, &long[1..]), None);
        assert_eq!(COUNTERS.totals(), before);
        // One byte shorter, the kernel would take it: it counts.
        long.truncate(sys::PATH_MAX - 1);
        assert_eq!(check_path(&cfg, Entry::Open, Dir::Cwd, write, &long), Some(libc::ENOENT));
        assert_eq!(COUNTERS.totals(), (before.0 + 1, before.1 + 1));
    }
}
