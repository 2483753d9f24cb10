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
//! `HARPER_TEST_BLOB_FAIL_CALLS` widens it from opens to the whole write path
//! (write, sync, close, rename, truncate, mkdir, unlink); `SPACE` and `DELAY`
//! act as a full disk and a slow one; `SCOPE=tree` shares the counters with
//! every descendant.
//!
//! The grammar of the variables is in [`config`]. How the parts fit: the
//! unsafe code is in two files, [`hooks`] (the exported libc entry points and
//! the load/exit hooks) and [`sys`] (the table of real functions and the OS
//! wrappers; a leaf that imports nothing from the shim). Each entry point
//! asks this module ([`check`], [`check_write`], ...) whether its call fails,
//! which is safe code over the pure parts: [`matcher`] (does the call
//! match), [`counter`] (is this match a fault), [`fds`] (which descriptors
//! were opened on a matching path) and [`format`] (what gets written).
//!
//! Unset, the shim is invisible: no output, one atomic load per open, one
//! table load per write or close. Counters are per process unless
//! `SCOPE=tree`: a forked child goes on from its parent's count, and an
//! exec'd program starts again from 0. A path the kernel would refuse
//! as too long (PATH_MAX bytes or more) is never counted: the caller gets
//! the real ENAMETOOLONG.
//!
//! The shim writes to stderr only while fd 2 is still the file it was at
//! load, so a program that runs with stderr closed never finds the shim's
//! words in a file of its own. RELIABILITY.md lists the hazards the shim is
//! tested against, and the test for each.

mod config;
mod counter;
mod fds;
mod format;
mod hooks;
mod matcher;
mod sys;

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::OnceLock;

use config::{Config, Family, Parsed, Scope, FAMILIES};
use counter::{Fault, Shared, WORDS};
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
    Mkstemp,
    Mkstemp64,
    Mkostemp,
    Mkostemp64,
    Mkstemps,
    Mkstemps64,
    Mkostemps,
    Mkostemps64,
    Write,
    Pwrite,
    Pwrite64,
    Writev,
    Pwritev,
    Pwritev64,
    Pwritev2,
    Pwritev64v2,
    Fsync,
    Fdatasync,
    SyncFileRange,
    Close,
    Rename,
    Renameat,
    Renameat2,
    Truncate,
    Truncate64,
    Ftruncate,
    Ftruncate64,
    Fallocate,
    Fallocate64,
    PosixFallocate,
    PosixFallocate64,
    Mkdir,
    Mkdirat,
    Unlink,
    Unlinkat,
    Rmdir,
}

impl Entry {
    pub(crate) fn family(self) -> Family {
        use Entry::*;
        match self {
            Write | Pwrite | Pwrite64 | Writev | Pwritev | Pwritev64 | Pwritev2 | Pwritev64v2 => Family::Write,
            Fsync | Fdatasync | SyncFileRange => Family::Sync,
            Close => Family::Close,
            Rename | Renameat | Renameat2 => Family::Rename,
            Truncate | Truncate64 | Ftruncate | Ftruncate64 | Fallocate | Fallocate64 | PosixFallocate
            | PosixFallocate64 => Family::Truncate,
            Mkdir | Mkdirat => Family::Mkdir,
            Unlink | Unlinkat | Rmdir => Family::Unlink,
            _ => Family::Open,
        }
    }

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
            Entry::Mkstemp => "mkstemp",
            Entry::Mkstemp64 => "mkstemp64",
            Entry::Mkostemp => "mkostemp",
            Entry::Mkostemp64 => "mkostemp64",
            Entry::Mkstemps => "mkstemps",
            Entry::Mkstemps64 => "mkstemps64",
            Entry::Mkostemps => "mkostemps",
            Entry::Mkostemps64 => "mkostemps64",
            Entry::Write => "write",
            Entry::Pwrite => "pwrite",
            Entry::Pwrite64 => "pwrite64",
            Entry::Writev => "writev",
            Entry::Pwritev => "pwritev",
            Entry::Pwritev64 => "pwritev64",
            Entry::Pwritev2 => "pwritev2",
            Entry::Pwritev64v2 => "pwritev64v2",
            Entry::Fsync => "fsync",
            Entry::Fdatasync => "fdatasync",
            Entry::SyncFileRange => "sync_file_range",
            Entry::Close => "close",
            Entry::Rename => "rename",
            Entry::Renameat => "renameat",
            Entry::Renameat2 => "renameat2",
            Entry::Truncate => "truncate",
            Entry::Truncate64 => "truncate64",
            Entry::Ftruncate => "ftruncate",
            Entry::Ftruncate64 => "ftruncate64",
            Entry::Fallocate => "fallocate",
            Entry::Fallocate64 => "fallocate64",
            Entry::PosixFallocate => "posix_fallocate",
            Entry::PosixFallocate64 => "posix_fallocate64",
            Entry::Mkdir => "mkdir",
            Entry::Mkdirat => "mkdirat",
            Entry::Unlink => "unlink",
            Entry::Unlinkat => "unlinkat",
            Entry::Rmdir => "rmdir",
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
/// The process's own counters; under `SCOPE=tree`, `TREE` points at the
/// shared ones instead.
static LOCAL: [AtomicU64; WORDS] = [const { AtomicU64::new(0) }; WORDS];
static TREE: OnceLock<Shared> = OnceLock::new();
static LOG_WARNED: AtomicBool = AtomicBool::new(false);
/// Armed with a family on descriptors, or a space budget: opens mark.
static TRACKING: AtomicBool = AtomicBool::new(false);

/// The counters in use: the tree's under `SCOPE=tree`, else this process's.
#[inline(always)]
fn counters() -> Shared {
    match TREE.get() {
        Some(t) => *t,
        None => Shared(&LOCAL),
    }
}

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
            if let Some(uv) = sys::getenv(config::VAR_IO_URING) {
                if !cfg.deny_io_uring && config::uv_io_uring_on(uv) {
                    let mut line = StackBuf::<512>::new();
                    format::io_uring_warning(&mut line, uv);
                    sys::write_stderr(line.finish_line());
                }
            }
            if cfg.scope == Scope::Tree && !join_tree() {
                let mut line = StackBuf::<256>::new();
                format::tree_warning(&mut line);
                sys::write_stderr(line.finish_line());
            }
            TRACKING.store(cfg.tracks_descriptors(), Ordering::Relaxed);
            if cfg.tracks_descriptors() {
                mark_inherited(&cfg);
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

/// The armed needle (less a trailing `/`) with its NUL, for the hooks'
/// early out: an absolute path that does not contain it cannot match,
/// whatever the flags (`hooks::cannot_match` runs libc's `strstr` over the
/// caller's C string, with no `strlen` before it and no per-call setup).
#[inline(always)]
pub(crate) fn armed_needle_nul() -> Option<&'static [u8]> {
    if STATE.load(Ordering::Acquire) != READY {
        return None;
    }
    CONFIG.get().map(Config::prefilter_nul)
}

/// Under `SCOPE=tree`: joins the tree's counters, inherited through
/// `HARPER_TEST_BLOB_FAIL_TREE`, or creates them and publishes them to every
/// descendant. False when neither works (this process then counts alone).
fn join_tree() -> bool {
    if let Some((fd, dev, ino)) = sys::getenv(config::VAR_TREE).and_then(parse_tree_var) {
        if let Some(shared) = sys::tree_attach::<WORDS>(fd, dev, ino).map(Shared) {
            if shared.is_ours() {
                let _ = TREE.set(shared);
                return true;
            }
        }
    }
    let Some((words, fd, dev, ino)) = sys::tree_create::<WORDS>() else { return false };
    let shared = Shared(words);
    shared.stamp();
    let mut value = StackBuf::<64>::new();
    let _ = std::fmt::Write::write_fmt(&mut value, format_args!("{fd}:{dev}:{ino}"));
    if !sys::setenv(config::VAR_TREE, value.as_bytes()) {
        return false;
    }
    let _ = TREE.set(shared);
    true
}

/// Marks the descriptors this process was started with that name a
/// matching file (a shell's `> blobs/x` before it execs the program, a
/// parent's descriptor kept across exec): the table is empty after exec.
/// Their flags say whether they write, as an open's would.
fn mark_inherited(cfg: &Config) {
    let finder = memchr::memmem::Finder::new(cfg.needle());
    sys::for_each_open_fd(|fd| {
        let Some(flags) = sys::fd_flags(fd) else { return };
        if !Intent::Flags(flags).counts_under(cfg.ops) {
            return;
        }
        let mut buf = [std::mem::MaybeUninit::<u8>::uninit(); sys::PATH_MAX];
        if let Some(path) = sys::fd_path(fd, &mut buf) {
            if ResolvedPath::absolute(path).contains_with(&finder) {
                fds::set(fd, true);
            }
        }
    });
}

/// `<fd>:<device>:<inode>`.
fn parse_tree_var(raw: &[u8]) -> Option<(i32, u64, u64)> {
    let mut parts = raw.split(|&b| b == b':');
    let fd = i32::try_from(config::parse_u64(parts.next()?)?).ok()?;
    let dev = config::parse_u64(parts.next()?)?;
    let ino = config::parse_u64(parts.next()?)?;
    parts.next().is_none().then_some((fd, dev, ino))
}

/// What an open-family hook does with its call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Forward it; the descriptor it returns did not match.
    Pass,
    /// Forward it; it matched: track the descriptor it returns.
    Mark,
    /// Fail it with this errno, without calling the real function.
    Fail(i32),
}

/// Whether opens must mark descriptors (armed with a family on descriptors
/// or a space budget).
#[inline(always)]
pub(crate) fn tracking() -> bool {
    TRACKING.load(Ordering::Relaxed)
}

/// After an open reached the real function: its descriptor is marked when
/// the open matched, unmarked otherwise (its number may have been marked
/// before and closed where the shim could not see it).
#[inline(always)]
pub(crate) fn after_open(fd: i32, verdict: Verdict) {
    if fd >= 0 && tracking() {
        fds::set(fd, verdict == Verdict::Mark);
    }
}

/// A descriptor is being closed: it is no longer tracked.
pub(crate) fn after_close(fd: i32) {
    fds::set(fd, false);
}

/// `to` was made a copy of `from` (dup, dup2, dup3, F_DUPFD): same mark.
#[inline(always)]
pub(crate) fn after_dup(from: i32, to: i32) {
    if to >= 0 {
        fds::copy(from, to);
    }
}

/// Whether `syscall(SYS_io_uring_setup, …)` must fail with ENOSYS.
pub(crate) fn deny_io_uring() -> bool {
    armed().is_some_and(|c| c.deny_io_uring)
}

/// Whether `entry`'s family is chosen (the path hooks' early out).
#[inline(always)]
pub(crate) fn family_armed(entry: Entry) -> bool {
    armed().is_some_and(|c| c.calls.has(entry.family()))
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
    if !intent.counts_under(cfg.ops) {
        return Verdict::Pass;
    }
    std::panic::catch_unwind(AssertUnwindSafe(|| match path() {
        Some(p) => check_path(cfg, entry, dir, intent, p),
        None => Verdict::Pass,
    }))
    .unwrap_or(Verdict::Pass)
}

#[inline(never)]
fn check_path(cfg: &Config, entry: Entry, dir: Dir, intent: Intent, path: &[u8]) -> Verdict {
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
fn check_relative(cfg: &Config, entry: Entry, dir: Dir, intent: Intent, path: &[u8]) -> Verdict {
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

#[inline(always)]
fn decide_open(cfg: &Config, entry: Entry, intent: Intent, path: ResolvedPath) -> Verdict {
    let tmpfile = matches!(intent, Intent::Flags(f) if matcher::flags_tmpfile(f));
    if !path_matches(cfg, &path, tmpfile) {
        return Verdict::Pass;
    }
    let Some(fault) = decide(cfg, entry) else { return Verdict::Mark };
    if cfg.log_path_nul().is_some() {
        log_fault(
            cfg,
            (fault.seq, fault.number),
            &LogCall { entry, path: path.pieces(), intent: Some(intent), errno: cfg.errno, ..LogCall::EMPTY },
        );
    }
    Verdict::Fail(cfg.errno)
}

/// A call on one path (truncate, mkdir, unlink and their variants).
pub(crate) fn check_path_call<'p>(entry: Entry, dir: Dir, path: impl FnOnce() -> Option<&'p [u8]>) -> Option<i32> {
    let cfg = armed()?;
    std::panic::catch_unwind(AssertUnwindSafe(|| {
        let p = path()?;
        let mut buf = [std::mem::MaybeUninit::<u8>::uninit(); sys::PATH_MAX];
        let resolved = resolve(dir, p, &mut buf)?;
        if !path_matches(cfg, &resolved, false) {
            return None;
        }
        let fault = decide(cfg, entry)?;
        if cfg.log_path_nul().is_some() {
            log_fault(
                cfg,
                (fault.seq, fault.number),
                &LogCall { entry, path: resolved.pieces(), errno: cfg.errno, ..LogCall::EMPTY },
            );
        }
        Some(cfg.errno)
    }))
    .unwrap_or(None)
}

/// A rename: it matches when either path does.
pub(crate) fn check_rename<'p, 'q>(
    entry: Entry,
    (old_dir, old): (Dir, impl FnOnce() -> Option<&'p [u8]>),
    (new_dir, new): (Dir, impl FnOnce() -> Option<&'q [u8]>),
) -> Option<i32> {
    let cfg = armed()?;
    std::panic::catch_unwind(AssertUnwindSafe(|| {
        let (old, new) = (old()?, new()?);
        let mut b1 = [std::mem::MaybeUninit::<u8>::uninit(); sys::PATH_MAX];
        let mut b2 = [std::mem::MaybeUninit::<u8>::uninit(); sys::PATH_MAX];
        let old = resolve(old_dir, old, &mut b1);
        let new = resolve(new_dir, new, &mut b2);
        let hit = |p: &Option<ResolvedPath>| p.as_ref().is_some_and(|p| path_matches(cfg, p, false));
        if !hit(&old) && !hit(&new) {
            return None;
        }
        let fault = decide(cfg, entry)?;
        if cfg.log_path_nul().is_some() {
            let empty = [&b""[..]; 3];
            log_fault(
                cfg,
                (fault.seq, fault.number),
                &LogCall {
                    entry,
                    path: old.map_or(empty, |p| p.pieces()),
                    new_path: Some(new.map_or(empty, |p| p.pieces())),
                    errno: cfg.errno,
                    ..LogCall::EMPTY
                },
            );
        }
        Some(cfg.errno)
    }))
    .unwrap_or(None)
}

/// A call on a tracked descriptor that fails whole (sync, close,
/// ftruncate, fallocate): `Some(errno)` when it must.
pub(crate) fn check_fd_call(entry: Entry, fd: i32) -> Option<i32> {
    let cfg = armed()?;
    std::panic::catch_unwind(AssertUnwindSafe(|| {
        let fault = decide(cfg, entry)?;
        log_fd_fault(cfg, entry, fd, (fault.seq, fault.number), None, cfg.errno);
        Some(cfg.errno)
    }))
    .unwrap_or(None)
}

/// What a write hook on a tracked descriptor does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WriteVerdict {
    /// Fail with this errno, writing nothing.
    Fail(i32),
    /// Write the first `allowed` bytes (all of them, or a short write at
    /// the space budget); `budgeted` bytes were drawn from the budget, to
    /// be given back by [`write_done`] for any the real write did not write.
    Write { allowed: usize, budgeted: usize },
}

/// A write of `len` bytes on a tracked descriptor: the write family's
/// count when chosen, then the space budget when set.
pub(crate) fn check_write(entry: Entry, fd: i32, len: usize) -> WriteVerdict {
    let pass = WriteVerdict::Write { allowed: len, budgeted: 0 };
    let Some(cfg) = armed() else { return pass };
    std::panic::catch_unwind(AssertUnwindSafe(|| {
        if let Some(fault) = decide(cfg, entry) {
            log_fd_fault(cfg, entry, fd, (fault.seq, fault.number), None, cfg.errno);
            return WriteVerdict::Fail(cfg.errno);
        }
        let Some(budget) = cfg.space else { return pass };
        if len == 0 {
            return pass;
        }
        let c = counters();
        let granted = c.take_space(budget, len as u64) as usize;
        if granted < len {
            let n = c.space_fault();
            let errno = if granted == 0 { cfg.space_errno() } else { 0 };
            log_fd_fault(cfg, entry, fd, (n, n), Some((len as u64, granted as u64)), errno);
            if granted == 0 {
                return WriteVerdict::Fail(errno);
            }
        }
        WriteVerdict::Write { allowed: granted, budgeted: granted }
    }))
    .unwrap_or(pass)
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
            effect: blobfail_vocab::Effect::Fail,
            corrupt: None,
            errno: call.errno,
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

/// At exit: what was seen and done, when armed, on stderr. When the
/// program closed the fd 2 it was started with (coreutils and tar do,
/// before they exit), saw at least one matching call, and there is a fault
/// log, the summary goes there instead, as this process's last line in the
/// log (`"summary":true`).
/// Only then: a log whose readers expect fault lines only (the driver's)
/// stays as it was for every other process, including one started with
/// fd 2 closed, one whose fd 2 points elsewhere, or a broken pipe (the
/// summary is dropped then, as before).
pub(crate) fn on_exit() {
    if STATE.load(Ordering::Acquire) != READY {
        return;
    }
    let Some(cfg) = CONFIG.get() else { return };
    let c = counters();
    let mut t = format::Totals {
        families: [(0, 0); FAMILIES.len()],
        calls: cfg.calls,
        space: cfg.space.map(|_| (c.space_used(), c.space_faults())),
    };
    for f in FAMILIES {
        t.families[f as usize] = c.family(f).totals();
    }
    let pid = sys::pid();
    let mut line = StackBuf::<512>::new();
    format::summary(&mut line, pid, &t);
    // On stderr for a person; whether or not that worked (coreutils and tar
    // close stderr before they exit), also into the fault log as its last
    // line for this process, where a program reading the log (the driver's
    // per-family injector check) finds each family's counts and the space
    // used without parsing the process's stderr.
    let _ = sys::write_stderr(line.finish_line());
    if c.totals() == (0, 0) && t.space.is_none_or(|(used, _)| used == 0) {
        // Saw nothing: the many short-lived helpers a server runs (Harper's
        // system information runs coreutils) would fill the log with empty
        // summaries.
        return;
    }
    if let Some(log) = cfg.log_path_nul() {
        let mut line = StackBuf::<1024>::new();
        format::summary_json(&mut line, pid, &t, sys::now_ns());
        if let Err(errno) = sys::append_file(log, line.finish_line()) {
            warn_log_once(cfg, errno);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn armed_with(vars: &[(&'static str, &'static [u8])]) -> Config {
        let vars = vars.to_vec();
        match config::parse(|v| vars.iter().find(|(k, _)| *k == v).map(|(_, x)| *x)) {
            Parsed::Armed(cfg) => cfg,
            other => panic!("not armed: {other:?}"),
        }
    }

    /// Regression: a path of PATH_MAX bytes or more under `/blobs/` was
    /// counted and failed with the injected errno, where the real call gives
    /// ENAMETOOLONG without opening anything.
    #[test]
    fn paths_of_path_max_bytes_or_more_are_not_counted() {
        let cfg = armed_with(&[(config::VAR_INTERVAL, b"1")]);
        let write = Intent::Flags(libc::O_WRONLY | libc::O_CREAT);
        let mut long = b"/tmp/blobs/".to_vec();
        long.resize(sys::PATH_MAX, b'a');
        let open = || counters().family(Family::Open).totals();
        let before = open();
        assert_eq!(check_path(&cfg, Entry::Open, Dir::Cwd, write, &long), Verdict::Pass);
        assert_eq!(check_path(&cfg, Entry::Openat, Dir::Fd(-1), write, &long[1..]), Verdict::Pass);
        assert_eq!(open(), before);
        // One byte shorter, the kernel would take it: it counts.
        long.truncate(sys::PATH_MAX - 1);
        assert_eq!(check_path(&cfg, Entry::Open, Dir::Cwd, write, &long), Verdict::Fail(libc::ENOENT));
        assert!(open().0 > before.0 && open().1 > before.1);
    }

    /// Regression (issue 11): a read-only directory open was taken for a
    /// write (O_TMPFILE holds O_DIRECTORY's bit), so `du`, `rm -rf`, `find`
    /// and `tar -C` under blobs/ failed or miscounted.
    #[test]
    fn directory_opens_never_count_under_ops_write_and_tmpfile_folders_match() {
        let cfg = armed_with(&[(config::VAR_INTERVAL, b"1")]);
        let dir = Intent::Flags(libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC);
        assert!(!dir.counts_under(cfg.ops));
        // An O_TMPFILE open of the folder itself makes a file in it: it matches.
        let tmp = Intent::Flags(libc::O_TMPFILE | libc::O_WRONLY);
        assert!(tmp.counts_under(cfg.ops));
        assert_eq!(check_path(&cfg, Entry::Open64, Dir::Cwd, tmp, b"/tmp/x/blobs"), Verdict::Fail(libc::ENOENT));
        assert_eq!(check_path(&cfg, Entry::Open64, Dir::Cwd, tmp, b"/tmp/x/other"), Verdict::Pass);
        // Not for an ordinary open: /tmp/x/blobs is not under /blobs/.
        let w = Intent::Flags(libc::O_WRONLY | libc::O_CREAT);
        assert_eq!(check_path(&cfg, Entry::Open64, Dir::Cwd, w, b"/tmp/x/blobs"), Verdict::Pass);
    }

    #[test]
    fn families_decide_on_their_own_and_unchosen_ones_never_count() {
        let cfg = armed_with(&[(config::VAR_INTERVAL, b"1"), (config::VAR_CALLS, b"write,close")]);
        let sync = || counters().family(Family::Sync).totals();
        let before = sync();
        assert!(decide(&cfg, Entry::Pwrite64).is_some());
        assert!(decide(&cfg, Entry::Close).is_some());
        assert!(decide(&cfg, Entry::Fsync).is_none());
        assert_eq!(sync(), before, "an unchosen family is not even counted");
        // A matching open under CALLS without open: passes, and is tracked.
        let w = Intent::Flags(libc::O_WRONLY | libc::O_CREAT);
        assert_eq!(check_path(&cfg, Entry::Open, Dir::Cwd, w, b"/t/blobs/a"), Verdict::Mark);
        assert_eq!(check_path(&cfg, Entry::Open, Dir::Cwd, w, b"/t/other/a"), Verdict::Pass);
        assert!(cfg.tracks_descriptors());
        assert!(!armed_with(&[(config::VAR_INTERVAL, b"1")]).tracks_descriptors(), "the default tracks nothing");
        assert!(armed_with(&[(config::VAR_SPACE, b"1KiB")]).tracks_descriptors());
    }

    #[test]
    fn tree_variable() {
        assert_eq!(parse_tree_var(b"5:27:1234"), Some((5, 27, 1234)));
        for bad in [&b""[..], b"5", b"5:1", b"5:1:2:3", b"-1:1:2", b"x:1:2", b"2147483648:1:2"] {
            assert_eq!(parse_tree_var(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn every_entry_names_its_family() {
        assert_eq!(Entry::Pwritev64v2.family(), Family::Write);
        assert_eq!(Entry::SyncFileRange.family(), Family::Sync);
        assert_eq!(Entry::PosixFallocate64.family(), Family::Truncate);
        assert_eq!(Entry::Rmdir.family(), Family::Unlink);
        assert_eq!(Entry::Mkostemps64.family(), Family::Open);
        assert_eq!(Entry::Renameat2.name(), "renameat2");
    }
}
