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
//! The grammar of the variables is in [`config`]; the words it shares with
//! the driver (names, families, effects, units, log formats) in the
//! `blobfail-vocab` crate. How the parts fit: every entry point is one row
//! of one table ([`table`]), which generates the `Entry` enum, the real
//! functions and the regular exports. The unsafe code is in [`hooks`] (the
//! exported libc entry points and the load/exit hooks) and [`sys`] (the real
//! functions and the OS wrappers; a leaf that imports nothing from the shim
//! but the table). Each entry point asks [`decide`] ([`check`],
//! [`check_write`], ...) whether its call fails, which is safe code over
//! the pure parts: [`matcher`] (does the call match), [`counter`] (is this
//! match a fault), [`fds`] (which descriptors were opened on a matching
//! path), [`corrupt`] (what `corrupt` changes) and [`format`] (what gets
//! written). [`journal`] records what a power cut could undo, [`control`]
//! follows the runtime control file. What a triggered call does
//! (`EFFECT`: crash, corrupt, drop, fake-sync, short reads), the journal,
//! control and `blobfail exec` are described in docs/shim-in-time.md.
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

#[macro_use]
mod table;
mod config;
mod control;
mod corrupt;
mod counter;
mod decide;
mod journal;
mod fds;
mod format;
mod hooks;
mod matcher;
mod sys;

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::OnceLock;

use config::{Config, Family, Parsed, Scope, FAMILIES};
use counter::{Shared, WORDS};
use format::StackBuf;
use matcher::{Intent, ResolvedPath};

/// The enum of every row of the entry table (`table.rs`), with the name
/// and family each reports.
macro_rules! entry_enum {
    (
        opens { $( $osym:ident: $ov:ident, $ofam:ident, $oreal:ident: fn($($oa:ident: $ot:ty),* $(; ... $ova:ident: $ovt:ty)?) -> $or:ty = $ofail:expr, [$($oshape:tt)*]; )* }
        calls { $( $sym:ident: $v:ident, $fam:ident, $real:ident: fn($($a:ident: $t:ty),*) -> $r:ty = $fail:expr, [$($shape:tt)*]; )* }
        helpers { $( $hsym:ident: $hreal:ident: fn($($ha:ident: $ht:ty),*) -> $hr:ty = $hfail:expr, [$($hshape:tt)*]; )* }
    ) => {
        /// The libc functions the shim stands in for, by the name it reports.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub(crate) enum Entry { $($ov,)* $($v,)* }

        impl Entry {
            pub(crate) fn family(self) -> Family {
                match self {
                    $(Entry::$ov => Family::$ofam,)*
                    $(Entry::$v => Family::$fam,)*
                }
            }

            pub(crate) fn name(self) -> &'static str {
                match self {
                    $(Entry::$ov => stringify!($osym),)*
                    $(Entry::$v => stringify!($sym),)*
                }
            }
        }
    };
}

entry_table!(entry_enum);

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
/// Healed by the control file: every hook passes straight through until
/// its generation changes.
const HEALED: u8 = 4;

/// Set at init to READY, OFF or HEALED; the control file moves it between
/// READY and HEALED.
static STATE: AtomicU8 = AtomicU8::new(UNINIT);
/// The configurations in use, each set once: the first from the
/// environment, the others from control-file changes (so a reader never
/// sees one being written); `CURRENT` is the one in force.
const SLOTS: usize = 64;
static CONFIGS: [OnceLock<Config>; SLOTS] = [const { OnceLock::new() }; SLOTS];
static CURRENT: AtomicUsize = AtomicUsize::new(0);
static NEXT_SLOT: AtomicUsize = AtomicUsize::new(1);

fn current() -> Option<&'static Config> {
    CONFIGS[CURRENT.load(Ordering::Acquire)].get()
}
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
/// `CRASH=group`: a crash kills the process group.
static CRASH_GROUP: AtomicBool = AtomicBool::new(false);

/// A crash effect: SIGKILL now, to this process or its group.
pub(crate) fn crash() -> ! {
    sys::crash(CRASH_GROUP.load(Ordering::Relaxed))
}

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
            CRASH_GROUP.store(cfg.crash_group, Ordering::Relaxed);
            journal::init(&cfg);
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
            let control = sys::getenv(config::VAR_CONTROL);
            // We won the CAS, so nobody else can have set it.
            let _ = CONFIGS[0].set(cfg);
            if let Some(cfg) = current() {
                let _ = FINDER.set(memchr::memmem::Finder::new(cfg.needle()));
            }
            if let Some(path) = control {
                match control::attach(path) {
                    Ok(()) => {
                        if let Some(healed) = apply_control() {
                            end = if healed { HEALED } else { READY };
                        }
                    }
                    Err(why) => {
                        let mut line = StackBuf::<1024>::new();
                        format::control_warning(&mut line, path, why);
                        sys::write_stderr(line.finish_line());
                    }
                }
            }
        }
    }
    STATE.store(end, Ordering::Release);
}

/// Applies a control-file change, when there is a valid one: installs its
/// configuration and logs it; Some(healed).
#[cold]
#[inline(never)]
fn apply_control() -> Option<bool> {
    let change = control::refresh()?;
    let slot = NEXT_SLOT.fetch_add(1, Ordering::Relaxed);
    if slot >= SLOTS || CONFIGS[slot].set(change.config).is_err() {
        return None;
    }
    CURRENT.store(slot, Ordering::Release);
    let cfg = current()?;
    TRACKING.store(TRACKING.load(Ordering::Relaxed) || cfg.tracks_descriptors(), Ordering::Relaxed);
    CRASH_GROUP.store(cfg.crash_group, Ordering::Relaxed);
    control::log_change(cfg, change.generation, change.healed);
    Some(change.healed)
}

/// A control-file change noticed by a hook: applied, and the state moved.
#[cold]
#[inline(never)]
fn on_control_change() {
    if let Some(healed) = apply_control() {
        STATE.store(if healed { HEALED } else { READY }, Ordering::Release);
    }
}

/// True once init found the shim disarmed: the hooks' one-load fast path.
#[inline(always)]
pub(crate) fn is_off() -> bool {
    STATE.load(Ordering::Relaxed) == OFF
}

/// Whether every hook passes straight through: disarmed, or healed with
/// the control file unchanged since (one more load and compare).
#[inline(always)]
pub(crate) fn passes_through() -> bool {
    match STATE.load(Ordering::Relaxed) {
        OFF => true,
        HEALED => !control::changed(),
        _ => false,
    }
}

/// The configuration when armed.
#[inline(always)]
fn armed() -> Option<&'static Config> {
    match STATE.load(Ordering::Acquire) {
        READY if !control::changed() => current(),
        READY | HEALED => {
            if control::changed() {
                on_control_change();
            }
            (STATE.load(Ordering::Acquire) == READY).then(current).flatten()
        }
        UNINIT => {
            init();
            (STATE.load(Ordering::Acquire) == READY).then(current).flatten()
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
    current().map(Config::prefilter_nul)
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
    /// Forward it, then die of SIGKILL (crash-after).
    CrashAfter,
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
    if verdict == Verdict::CrashAfter {
        crate::crash();
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
    if !matches!(STATE.load(Ordering::Acquire), READY | HEALED) {
        return;
    }
    let Some(cfg) = current() else { return };
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

pub(crate) use decide::*;
