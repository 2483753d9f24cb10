//! The per-call decisions, in safe code: does this call match, is it a
//! fault, and what is logged. The hooks (`hooks/`) ask; the pure parts
//! they build on are [`crate::matcher`], [`crate::counter`] and
//! [`crate::format`]. A panic here (a bug) never crosses into C: each
//! entry is wrapped in `catch_unwind` and becomes "pass through".

use std::panic::AssertUnwindSafe;
use std::sync::atomic::Ordering;

use crate::config::{Config, CorruptMode, Effect, Family};
use crate::corrupt::{self, Corruption};
use crate::counter::Fault;
use crate::format::{self, StackBuf};
use crate::matcher::{self, Intent, ResolvedPath};
use crate::{armed, counters, sys, Dir, Entry, Verdict, FINDER, LOG_WARNED};

/// Whether `entry`'s family is chosen (the path hooks' early out).
#[inline(always)]
pub(crate) fn family_armed(entry: Entry) -> bool {
    armed().is_some_and(|c| c.calls.has(entry.family()) || c.journal_path_nul().is_some())
}

/// `decide(cfg)` when the shim is armed, else `pass`; a panic inside (a
/// bug) becomes `pass` too, so it never crosses into C.
#[inline(always)]
fn armed_or<T: Copy>(pass: T, decide: impl FnOnce(&'static Config) -> T) -> T {
    let Some(cfg) = armed() else { return pass };
    std::panic::catch_unwind(AssertUnwindSafe(|| decide(cfg))).unwrap_or(pass)
}

/// The decision for one open-family call. `path` is only asked for when
/// the call could count, so a disarmed shim or a read under `ops=write`
/// costs no `strlen`. A panic here (a bug) must not cross into C, so it
/// becomes "pass through".
#[inline(always)]
pub(crate) fn check<'p>(
    entry: Entry,
    dir: Dir,
    intent: Intent<'_>,
    path: impl FnOnce() -> Option<&'p [u8]>,
) -> Verdict {
    let Some(cfg) = armed() else { return Verdict::Pass };
    // An open that cannot count (a read under OPS=write) is still tracked
    // when reads are chosen: its reads are what they count.
    let counts = intent.counts_under(cfg.ops);
    if !counts && !cfg.calls.has(Family::Read) {
        return Verdict::Pass;
    }
    std::panic::catch_unwind(AssertUnwindSafe(|| match path() {
        Some(p) => check_path(cfg, entry, dir, Open { intent, counts }, p),
        None => Verdict::Pass,
    }))
    .unwrap_or(Verdict::Pass)
}

/// An open's intent, and whether it counts in the open family.
#[derive(Clone, Copy)]
struct Open<'a> {
    intent: Intent<'a>,
    counts: bool,
}

#[inline(never)]
fn check_path(cfg: &Config, entry: Entry, dir: Dir, intent: Open, path: &[u8]) -> Verdict {
    if path.len() >= sys::PATH_MAX {
        // The kernel refuses such a path (ENAMETOOLONG) before it looks at
        // any file: no file is opened, so nothing counts, and the caller
        // gets the real function's own error rather than an injected one.
        return Verdict::Pass;
    }
    if path.first() == Some(&b'/') {
        return decide_open(cfg, entry, intent, ResolvedPath::absolute(path));
    }
    check_relative(cfg, entry, dir, intent, path)
}

/// Apart, so that an absolute path has no page-sized frame on its way; and
/// the buffer is not zeroed, since getcwd/readlink say how much they wrote.
#[inline(never)]
fn check_relative(cfg: &Config, entry: Entry, dir: Dir, intent: Open, path: &[u8]) -> Verdict {
    let mut base = [std::mem::MaybeUninit::<u8>::uninit(); sys::PATH_MAX];
    match resolve(dir, path, &mut base) {
        Some(resolved) => decide_open(cfg, entry, intent, resolved),
        None => Verdict::Pass,
    }
}

/// `path` as the kernel would resolve it, joined with the cwd or the
/// directory of `dir` into `buf`; None when that cannot be had, or the
/// path is one the kernel refuses (PATH_MAX bytes or more).
fn resolve<'a>(
    dir: Dir,
    path: &'a [u8],
    buf: &'a mut [std::mem::MaybeUninit<u8>; sys::PATH_MAX],
) -> Option<ResolvedPath<'a>> {
    if path.len() >= sys::PATH_MAX {
        return None;
    }
    if path.first() == Some(&b'/') {
        return Some(ResolvedPath::absolute(path));
    }
    let base = match dir {
        Dir::Cwd => sys::cwd(buf)?,
        Dir::Fd(fd) => sys::fd_path(fd, buf)?,
    };
    Some(ResolvedPath { base, rel: path })
}

/// Whether the path contains the needle; `as_folder`: whether a file
/// created inside it would (an `O_TMPFILE` open names its folder).
fn path_matches(cfg: &Config, path: &ResolvedPath, as_folder: bool) -> bool {
    let built;
    let finder = match FINDER.get() {
        Some(f) => f,
        None => {
            built = memchr::memmem::Finder::new(cfg.needle());
            &built
        }
    };
    if as_folder {
        path.contains_as_folder(finder)
    } else {
        path.contains_with(finder)
    }
}

/// A matching call of `entry`'s family: when the family is chosen, it
/// sleeps (DELAY) and counts; `Some` when it must fail.
fn decide(cfg: &Config, entry: Entry) -> Option<Fault> {
    let family = entry.family();
    if !cfg.calls.has(family) {
        return None;
    }
    if cfg.delay_ns > 0 {
        sys::sleep_ns(cfg.delay_ns);
    }
    counters().family(family).on_match(&cfg.plan)
}

/// What a triggered call does, as its hook acts it out (crash-before
/// never returns: the process is dead).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Action {
    /// Forward the call as usual.
    Pass,
    /// Fail it with this errno, without calling the real function.
    Fail(i32),
    /// Forward it, then die of SIGKILL.
    CrashAfter,
    /// Return success (0) without calling the real function (fake-sync).
    Lie,
}

/// The effect of a triggered call that is not a write (writes have their
/// own, in [`check_write`]), once its fault line is logged. Config refuses
/// `corrupt` and `drop` outside the write family, `fake-sync` outside sync.
fn act(cfg: &Config) -> Action {
    match cfg.effect {
        Effect::Fail => Action::Fail(cfg.errno),
        Effect::CrashBefore => crate::crash(),
        Effect::CrashAfter => Action::CrashAfter,
        Effect::FakeSync => Action::Lie,
        Effect::Corrupt | Effect::Drop | Effect::Short => Action::Pass,
    }
}

/// The errno a fault line reports: the injected one for `fail`, else 0.
fn logged_errno(cfg: &Config) -> i32 {
    if cfg.effect == Effect::Fail { cfg.errno } else { 0 }
}

#[inline(always)]
fn decide_open(cfg: &Config, entry: Entry, open: Open, path: ResolvedPath) -> Verdict {
    let intent = open.intent;
    let tmpfile = matches!(intent, Intent::Flags(f) if matcher::flags_tmpfile(f));
    if !path_matches(cfg, &path, tmpfile) {
        return Verdict::Pass;
    }
    if !open.counts {
        return Verdict::Mark;
    }
    if cfg.journal_path_nul().is_some() {
        crate::journal::before_open(cfg, intent, &path);
    }
    let Some(fault) = decide(cfg, entry) else { return Verdict::Mark };
    if cfg.log_path_nul().is_some() {
        log_fault(
            cfg,
            (fault.seq, fault.number),
            &LogCall { entry, path: path.pieces(), intent: Some(intent), errno: logged_errno(cfg), ..LogCall::EMPTY },
        );
    }
    match act(cfg) {
        Action::Fail(errno) => Verdict::Fail(errno),
        Action::CrashAfter => Verdict::CrashAfter,
        Action::Pass | Action::Lie => Verdict::Mark,
    }
}

/// A call on one path (truncate, mkdir, unlink and their variants).
pub(crate) fn check_path_call<'p>(entry: Entry, dir: Dir, path: impl FnOnce() -> Option<&'p [u8]>) -> Action {
    armed_or(Action::Pass, |cfg| {
        let Some(p) = path() else { return Action::Pass };
        let mut buf = [std::mem::MaybeUninit::<u8>::uninit(); sys::PATH_MAX];
        let Some(resolved) = resolve(dir, p, &mut buf) else { return Action::Pass };
        if !path_matches(cfg, &resolved, false) {
            return Action::Pass;
        }
        if cfg.journal_path_nul().is_some() {
            crate::journal::before_path_call(cfg, entry, &resolved);
        }
        let Some(fault) = decide(cfg, entry) else { return Action::Pass };
        if cfg.log_path_nul().is_some() {
            log_fault(
                cfg,
                (fault.seq, fault.number),
                &LogCall { entry, path: resolved.pieces(), errno: logged_errno(cfg), ..LogCall::EMPTY },
            );
        }
        act(cfg)
    })
}

/// A rename: it matches when either path does.
pub(crate) fn check_rename<'p, 'q>(
    entry: Entry,
    (old_dir, old): (Dir, impl FnOnce() -> Option<&'p [u8]>),
    (new_dir, new): (Dir, impl FnOnce() -> Option<&'q [u8]>),
) -> Action {
    armed_or(Action::Pass, |cfg| {
        let (Some(old), Some(new)) = (old(), new()) else { return Action::Pass };
        let mut b1 = [std::mem::MaybeUninit::<u8>::uninit(); sys::PATH_MAX];
        let mut b2 = [std::mem::MaybeUninit::<u8>::uninit(); sys::PATH_MAX];
        let old = resolve(old_dir, old, &mut b1);
        let new = resolve(new_dir, new, &mut b2);
        let hit = |p: &Option<ResolvedPath>| p.as_ref().is_some_and(|p| path_matches(cfg, p, false));
        if !hit(&old) && !hit(&new) {
            return Action::Pass;
        }
        if cfg.journal_path_nul().is_some() {
            if let (Some(o), Some(n)) = (&old, &new) {
                crate::journal::before_rename(cfg, o, n);
            }
        }
        let Some(fault) = decide(cfg, entry) else { return Action::Pass };
        if cfg.log_path_nul().is_some() {
            let empty = [&b""[..]; 3];
            log_fault(
                cfg,
                (fault.seq, fault.number),
                &LogCall {
                    entry,
                    path: old.map_or(empty, |p| p.pieces()),
                    new_path: Some(new.map_or(empty, |p| p.pieces())),
                    errno: logged_errno(cfg),
                    ..LogCall::EMPTY
                },
            );
        }
        act(cfg)
    })
}

/// A call on a tracked descriptor that fails whole (sync, close,
/// ftruncate, fallocate).
pub(crate) fn check_fd_call(entry: Entry, fd: i32) -> Action {
    armed_or(Action::Pass, |cfg| {
        let Some(fault) = decide(cfg, entry) else { return Action::Pass };
        log_fd_fault(cfg, entry, fd, (fault.seq, fault.number), None, logged_errno(cfg));
        act(cfg)
    })
}

/// What a write hook on a tracked descriptor does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WriteVerdict {
    /// Fail with this errno, writing nothing.
    Fail(i32),
    /// Write the first `allowed` bytes (all of them, or a short write at
    /// the space budget); `budgeted` bytes were drawn from the budget, to
    /// be given back by [`write_done`] for any the real write did not write.
    /// `then`: what follows the real write.
    Write { allowed: usize, budgeted: usize, then: AfterWrite },
    /// Write a corrupted copy of the whole write (`corrupt`): the hook asks
    /// [`corrupt_write`] what to change, which logs it.
    Corrupt { seq: u64, number: u64 },
}

/// What follows a write's real call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AfterWrite {
    /// Its result goes back to the caller.
    Return,
    /// The process dies of SIGKILL (crash-after).
    Crash,
    /// The caller is told every byte was written (drop).
    ReportAll,
}

/// A write of `len` bytes on a tracked descriptor: the write family's
/// count when chosen, then the space budget when set. Either trigger
/// applies the effect.
pub(crate) fn check_write(entry: Entry, fd: i32, len: usize) -> WriteVerdict {
    let pass = WriteVerdict::Write { allowed: len, budgeted: 0, then: AfterWrite::Return };
    armed_or(pass, |cfg| {
        if let Some(fault) = decide(cfg, entry) {
            return write_effect(cfg, entry, fd, (fault.seq, fault.number), len, None);
        }
        let Some(budget) = cfg.space else { return pass };
        if len == 0 {
            return pass;
        }
        let c = counters();
        let granted = c.take_space(budget, len as u64) as usize;
        if granted < len {
            let n = c.space_fault();
            return write_effect(cfg, entry, fd, (n, n), len, Some(granted));
        }
        WriteVerdict::Write { allowed: granted, budgeted: granted, then: AfterWrite::Return }
    })
}

/// A triggered write of `len` bytes; `granted`: what the space budget lets
/// through when it is the trigger (`None`: every Nth, which grants nothing
/// for `fail` and `drop`, and the whole write for the others).
fn write_effect(cfg: &Config, entry: Entry, fd: i32, numbers: (u64, u64), len: usize, granted: Option<usize>) -> WriteVerdict {
    let space = granted.map(|g| (len as u64, g as u64));
    let budgeted = granted.unwrap_or(0);
    let log = |errno| log_fd_fault(cfg, entry, fd, numbers, space, errno);
    match cfg.effect {
        Effect::Fail => match granted {
            Some(g) if g > 0 => {
                log(0);
                WriteVerdict::Write { allowed: g, budgeted, then: AfterWrite::Return }
            }
            Some(_) => {
                log(cfg.space_errno());
                WriteVerdict::Fail(cfg.space_errno())
            }
            None => {
                log(cfg.errno);
                WriteVerdict::Fail(cfg.errno)
            }
        },
        Effect::CrashBefore => {
            log(0);
            crate::crash()
        }
        Effect::CrashAfter => {
            log(0);
            WriteVerdict::Write { allowed: granted.unwrap_or(len), budgeted, then: AfterWrite::Crash }
        }
        Effect::Drop => {
            log(0);
            WriteVerdict::Write { allowed: granted.unwrap_or(0), budgeted, then: AfterWrite::ReportAll }
        }
        Effect::Corrupt if len > 0 => WriteVerdict::Corrupt { seq: numbers.0, number: numbers.1 },
        Effect::Corrupt | Effect::FakeSync | Effect::Short => {
            log(0);
            WriteVerdict::Write { allowed: len, budgeted, then: AfterWrite::Return }
        }
    }
}

/// `corrupt`: what to change in a write whose data is `parts` (its iovec
/// entries, in order), logged with where and how many bytes.
pub(crate) fn corrupt_data(entry: Entry, fd: i32, (seq, number): (u64, u64), parts: &[&[u8]]) -> Option<Corruption> {
    armed_or(None, |cfg| {
        let c = corrupt::choose(cfg.corrupt, cfg.seed, number, parts)?;
        if cfg.log_path_nul().is_some() {
            let mut buf = [std::mem::MaybeUninit::<u8>::uninit(); sys::PATH_MAX];
            let path = sys::fd_path(fd, &mut buf).unwrap_or_default();
            log_fault(
                cfg,
                (seq, number),
                &LogCall {
                    entry,
                    path: [b"", b"", path],
                    fd: Some(fd),
                    corrupt: Some((cfg.corrupt, c.at as u64, c.changed as u64)),
                    ..LogCall::EMPTY
                },
            );
        }
        Some(c)
    })
}

/// What a read hook on a tracked descriptor does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ReadVerdict {
    Pass,
    Fail(i32),
    /// Read, then die of SIGKILL.
    CrashAfter,
    /// Read fewer bytes than asked (half, at least 1).
    Short,
    /// Read, then change what the caller received: [`corrupt_data`].
    Corrupt { seq: u64, number: u64 },
}

/// A read on a tracked descriptor, when reads are chosen.
pub(crate) fn check_read(entry: Entry, fd: i32) -> ReadVerdict {
    armed_or(ReadVerdict::Pass, |cfg| {
        let Some(fault) = decide(cfg, entry) else { return ReadVerdict::Pass };
        let numbers = (fault.seq, fault.number);
        if cfg.effect == Effect::Corrupt {
            return ReadVerdict::Corrupt { seq: numbers.0, number: numbers.1 };
        }
        log_fd_fault(cfg, entry, fd, numbers, None, logged_errno(cfg));
        match cfg.effect {
            Effect::Fail => ReadVerdict::Fail(cfg.errno),
            Effect::CrashBefore => crate::crash(),
            Effect::CrashAfter => ReadVerdict::CrashAfter,
            Effect::Short => ReadVerdict::Short,
            _ => ReadVerdict::Pass,
        }
    })
}

/// After a budgeted write: gives back what it did not write.
pub(crate) fn write_done(budgeted: usize, written: isize) {
    if budgeted == 0 {
        return;
    }
    let written = written.max(0) as usize;
    if written < budgeted {
        counters().return_space((budgeted - written) as u64);
    }
}

/// One fault log line's call-specific parts.
struct LogCall<'a> {
    entry: Entry,
    path: [&'a [u8]; 3],
    new_path: Option<[&'a [u8]; 3]>,
    fd: Option<i32>,
    intent: Option<Intent<'a>>,
    space: Option<(u64, u64)>,
    corrupt: Option<(CorruptMode, u64, u64)>,
    errno: i32,
}

impl LogCall<'_> {
    const EMPTY: LogCall<'static> = LogCall {
        entry: Entry::Open,
        path: [b"", b"", b""],
        new_path: None,
        fd: None,
        intent: None,
        space: None,
        corrupt: None,
        errno: 0,
    };
}

/// Logs a fault on a descriptor, with the path it names now (read from
/// /proc/self/fd: a deleted file's path ends in ` (deleted)`).
#[cold]
#[inline(never)]
fn log_fd_fault(cfg: &Config, entry: Entry, fd: i32, numbers: (u64, u64), space: Option<(u64, u64)>, errno: i32) {
    if cfg.log_path_nul().is_none() {
        return;
    }
    let mut buf = [std::mem::MaybeUninit::<u8>::uninit(); sys::PATH_MAX];
    let path = sys::fd_path(fd, &mut buf).unwrap_or_default();
    log_fault(cfg, numbers, &LogCall { entry, path: [b"", b"", path], fd: Some(fd), space, errno, ..LogCall::EMPTY });
}

/// Appends one fault line to the log. One O_APPEND write: the line is in
/// the file (the page cache, which a crash of the process does not lose)
/// before the call returns, so before any crash-before/crash-after.
#[cold]
#[inline(never)]
fn log_fault(cfg: &Config, (seq, number): (u64, u64), call: &LogCall) {
    let Some(log) = cfg.log_path_nul() else { return };
    let mut line = StackBuf::<8192>::new();
    format::fault_line(
        &mut line,
        &format::FaultRecord {
            seq,
            fault: number,
            pid: sys::pid(),
            tid: sys::tid(),
            family: call.entry.family(),
            function: call.entry.name(),
            path: call.path,
            new_path: call.new_path,
            fd: call.fd,
            flags: call.intent.map(Intent::flags),
            mode: match call.intent {
                Some(Intent::Mode(m)) => Some(m),
                _ => None,
            },
            space: call.space,
            effect: cfg.effect,
            corrupt: call.corrupt,
            errno: call.errno,
            time_ns: sys::now_ns(),
        },
    );
    if let Err(errno) = sys::append_file(log, line.finish_line()) {
        warn_log_once(cfg, errno);
    }
}

pub(crate) fn warn_log_once(cfg: &Config, errno: i32) {
    if LOG_WARNED.swap(true, Ordering::Relaxed) {
        return;
    }
    let mut line = StackBuf::<1024>::new();
    format::log_warning(&mut line, cfg.log_path().unwrap_or_default(), errno);
    sys::write_stderr(line.finish_line());
}

#[cfg(test)]
mod tests;
