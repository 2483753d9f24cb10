//! The environment grammar: every `HARPER_TEST_BLOB_FAIL_*` variable, parsed
//! once at load into a [`Config`] without allocating, or into the list of
//! [`Problem`]s that keep the shim disarmed.
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `HARPER_TEST_BLOB_FAIL_INTERVAL` | arms the shim: every Nth matching open fails | unset: off |
//! | `HARPER_TEST_BLOB_FAIL_PATH` | substring of the resolved absolute path | `/blobs/` |
//! | `HARPER_TEST_BLOB_FAIL_OPS` | `write`: only opens for writing match; `all`: every open | `write` |
//! | `HARPER_TEST_BLOB_FAIL_ERRNO` | errno of a failed call: a name (`EIO`) or a number | `ENOENT` |
//! | `HARPER_TEST_BLOB_FAIL_SKIP` | matching calls let through before counting starts | `0` |
//! | `HARPER_TEST_BLOB_FAIL_MAX` | stop after this many faults (`none`: never) | `none` |
//! | `HARPER_TEST_BLOB_FAIL_LOG` | file that gets one JSON line per fault | none |
//! | `HARPER_TEST_BLOB_FAIL_CALLS` | comma list of call families that can fail | `open` |
//! | `HARPER_TEST_BLOB_FAIL_SPACE` | arms the shim: a full disk after this many bytes written | unset: none |
//! | `HARPER_TEST_BLOB_FAIL_DELAY` | arms the shim: each matching call sleeps this long first | unset: none |
//! | `HARPER_TEST_BLOB_FAIL_SCOPE` | `process` or `tree`: who shares the counters | `process` |
//! | `HARPER_TEST_BLOB_FAIL_IO_URING` | `deny`: `io_uring_setup` fails with ENOSYS; `allow` | `deny` |
//! | `HARPER_TEST_BLOB_FAIL_EFFECT` | what a triggered call does: `fail`, `crash-before`, `crash-after`, `corrupt`, `drop`, `fake-sync`, `short` | `fail` |
//! | `HARPER_TEST_BLOB_FAIL_CRASH` | who a crash kills: `process`, or its whole process `group` | `process` |
//! | `HARPER_TEST_BLOB_FAIL_CORRUPT` | how `corrupt` changes bytes: `flip`, `zero`, `random` | `flip` |
//! | `HARPER_TEST_BLOB_FAIL_SEED` | the seed of `corrupt`'s choices | `0` |
//! | `HARPER_TEST_BLOB_FAIL_JOURNAL` | arms the shim: the durability journal (docs/shim-in-time.md) | none |
//!
//! An effect applies to the families it makes sense for (`corrupt`: write
//! and read; `drop`: write; `fake-sync`: sync; `short`: read; the others:
//! all); a plan whose
//! INTERVAL triggers another chosen family, or whose SPACE budget (a write
//! trigger) meets `fake-sync`, is refused.
//!
//! | `HARPER_TEST_BLOB_FAIL_CONTROL` | arms the shim: a control file `blobfail ctl` changes at run time | none |
//!
//! Any of INTERVAL, SPACE, DELAY, JOURNAL and CONTROL arms the shim. An empty value counts as unset. Any invalid value keeps the whole shim
//! disarmed: injecting with a configuration other than the one asked for
//! would make a test's result mean something else than its author thinks.

pub use blobfail_vocab::vars::{
    CALLS as VAR_CALLS, DELAY as VAR_DELAY, ERRNO as VAR_ERRNO, INTERVAL as VAR_INTERVAL, IO_URING as VAR_URING,
    LOG as VAR_LOG, MAX as VAR_MAX, OPS as VAR_OPS, PATH as VAR_PATH, SCOPE as VAR_SCOPE, SKIP as VAR_SKIP,
    SPACE as VAR_SPACE, TREE as VAR_TREE, UV_USE_IO_URING as VAR_IO_URING,
};
pub use blobfail_vocab::units::{parse_duration_ns, parse_u64};
pub use blobfail_vocab::vars::{CONTROL as VAR_CONTROL, CRASH as VAR_CRASH, CORRUPT as VAR_CORRUPT, EFFECT as VAR_EFFECT, JOURNAL as VAR_JOURNAL, SEED as VAR_SEED};
pub use blobfail_vocab::{CorruptMode, Effect};
pub use blobfail_vocab::{errno::parse as parse_errno, parse_calls, Calls, Family, FAMILIES};
#[cfg(test)]
pub use blobfail_vocab::{errno::name as errno_name, errno::NAMES as ERRNO_NAMES};
use blobfail_vocab::units::parse_size;

/// Longest accepted `HARPER_TEST_BLOB_FAIL_PATH`, in bytes.
pub const MAX_NEEDLE: usize = 256;
/// Longest accepted `HARPER_TEST_BLOB_FAIL_LOG`, in bytes (PATH_MAX less the NUL).
pub const MAX_LOG_PATH: usize = 4095;

const DEFAULT_NEEDLE: &[u8] = blobfail_vocab::vars::DEFAULT_PATH.as_bytes();

/// Which opens can match.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ops {
    /// Only opens that may write (`O_WRONLY`, `O_RDWR`, `O_CREAT`, `O_TRUNC`,
    /// `O_APPEND`; fopen modes with `w`, `a` or `+`).
    Write,
    /// Every open, reads included.
    All,
}

impl Ops {
    pub fn name(self) -> &'static str {
        match self {
            Ops::Write => "write",
            Ops::All => "all",
        }
    }
}

/// Who shares the counters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Each process counts on its own (a forked child from its parent's value).
    Process,
    /// The arming process and all its descendants, across fork and exec.
    Tree,
}

/// When a matching call fails: the k-th matching call fails iff
/// `k > skip` and `(k - skip) % interval == 0`, until `max` faults.
/// `interval` 0 (INTERVAL unset, the shim armed by SPACE or DELAY) never fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Plan {
    pub interval: u64,
    pub skip: u64,
    pub max: Option<u64>,
}

/// The armed shim's whole configuration; fixed-size so that parsing it never
/// allocates (it may run inside the first hooked `open`, before `main`).
#[derive(Clone, Debug)]
pub struct Config {
    pub plan: Plan,
    pub errno: i32,
    /// Whether `HARPER_TEST_BLOB_FAIL_ERRNO` was set (SPACE's ENOSPC otherwise).
    pub errno_set: bool,
    pub ops: Ops,
    pub calls: Calls,
    /// Bytes matching writes may write before the disk is "full".
    pub space: Option<u64>,
    /// Nanoseconds each matching call of the chosen families sleeps first.
    pub delay_ns: u64,
    pub scope: Scope,
    /// Whether `io_uring_setup` through `syscall()` fails with ENOSYS.
    pub deny_io_uring: bool,
    /// What a triggered call does.
    pub effect: Effect,
    /// `CRASH=group`: a crash kills the whole process group.
    pub crash_group: bool,
    pub corrupt: CorruptMode,
    pub seed: u64,
    /// NUL-terminated, so the hot path can hand it to libc's `strstr`.
    needle: [u8; MAX_NEEDLE + 1],
    needle_len: usize,
    /// The needle less a trailing `/`, NUL-terminated.
    prefilter: [u8; MAX_NEEDLE + 1],
    prefilter_len: usize,
    /// NUL-terminated so it can be handed to the kernel as is.
    log: [u8; MAX_LOG_PATH + 1],
    log_len: usize,
    /// The durability journal's path, NUL-terminated.
    journal: [u8; MAX_LOG_PATH + 1],
    journal_len: usize,
}

impl Config {
    /// The substring a resolved path must contain to match.
    pub fn needle(&self) -> &[u8] {
        &self.needle[..self.needle_len]
    }

    /// The needle with its terminating NUL.
    #[cfg(test)]
    pub fn needle_nul(&self) -> &[u8] {
        &self.needle[..=self.needle_len]
    }

    /// What the hooks' early out looks for, with its NUL: the needle
    /// without a trailing `/`. A path without it cannot match, not even as
    /// the folder of an `O_TMPFILE` open (`…/blobs` for `/blobs/`).
    pub fn prefilter_nul(&self) -> &[u8] {
        &self.prefilter[..=self.prefilter_len]
    }

    /// The fault log's path, without its NUL.
    pub fn log_path(&self) -> Option<&[u8]> {
        (self.log_len > 0).then(|| &self.log[..self.log_len])
    }

    /// The fault log's path with its terminating NUL, for a raw `open`.
    pub fn log_path_nul(&self) -> Option<&[u8]> {
        (self.log_len > 0).then(|| &self.log[..=self.log_len])
    }

    /// The journal's path with its terminating NUL.
    pub fn journal_path_nul(&self) -> Option<&[u8]> {
        (self.journal_len > 0).then(|| &self.journal[..=self.journal_len])
    }

    /// Whether descriptors opened on matching paths must be tracked: some
    /// chosen family acts on descriptors, a space budget is set, or the
    /// journal records writes and syncs.
    pub fn tracks_descriptors(&self) -> bool {
        self.calls.any_on_descriptors() || self.space.is_some() || self.journal_len > 0
    }

    /// The errno of a write past the space budget.
    pub fn space_errno(&self) -> i32 {
        if self.errno_set {
            self.errno
        } else {
            libc::ENOSPC
        }
    }
}

/// One invalid variable: named on stderr, and the shim stays disarmed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Problem<'a> {
    pub var: &'static str,
    pub value: &'a [u8],
    /// Reads after the quoted value: `"abc" is <what>`.
    pub what: &'static str,
}

/// Up to one problem per variable.
pub const MAX_PROBLEMS: usize = 20;

/// What the environment asks for.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
pub enum Parsed<'a> {
    /// INTERVAL, SPACE and DELAY all unset or empty: silent pass-through.
    Off,
    /// Every value valid. Not boxed: parsing must not allocate.
    Armed(Config),
    /// Something invalid: pass-through, with one warning per problem.
    Invalid {
        problems: [Option<Problem<'a>>; MAX_PROBLEMS],
    },
}

/// Reads the configuration through `get`, which returns a variable's raw
/// bytes (None when unset). Empty values count as unset.
pub fn parse<'a>(get: impl Fn(&'static str) -> Option<&'a [u8]>) -> Parsed<'a> {
    let get = |var| get(var).filter(|v: &&[u8]| !v.is_empty());
    let interval_raw = get(VAR_INTERVAL);
    if interval_raw.is_none() && get(VAR_SPACE).is_none() && get(VAR_DELAY).is_none() && get(VAR_JOURNAL).is_none()
        && get(VAR_CONTROL).is_none()
    {
        return Parsed::Off;
    }
    let mut env = Reader { get, problems: [None; MAX_PROBLEMS], n: 0 };

    let interval = env.value(VAR_INTERVAL, 0, "not a whole number from 1 to 18446744073709551615", |raw| {
        parse_u64(raw).filter(|&v| v >= 1)
    });
    let skip = env.value(VAR_SKIP, 0, "not a whole number >= 0", parse_u64);
    let max = env.value(VAR_MAX, None, "not a whole number >= 0 or `none`", |raw| {
        if raw.eq_ignore_ascii_case(b"none") { Some(None) } else { parse_u64(raw).map(Some) }
    });
    let errno_set = get(VAR_ERRNO).is_some();
    let errno = env.value(VAR_ERRNO, libc::ENOENT, "not an errno name or number (e.g. ENOENT, EIO, ENOSPC, 28)", parse_errno);
    let ops =
        env.value(VAR_OPS, Ops::Write, "neither `write` nor `all`", |raw| one_of(raw, [(b"write", Ops::Write), (b"all", Ops::All)]));
    let mut needle = [0u8; MAX_NEEDLE + 1];
    let needle_src = match get(VAR_PATH) {
        None => DEFAULT_NEEDLE,
        Some(raw) if raw.len() > MAX_NEEDLE => {
            env.problem(VAR_PATH, raw, "longer than 256 bytes");
            DEFAULT_NEEDLE
        }
        Some(raw) => raw,
    };
    needle[..needle_src.len()].copy_from_slice(needle_src);
    let mut log = [0u8; MAX_LOG_PATH + 1];
    let log_len = match get(VAR_LOG) {
        None => 0,
        Some(raw) if raw.len() > MAX_LOG_PATH => {
            env.problem(VAR_LOG, raw, "longer than PATH_MAX");
            0
        }
        Some(raw) => {
            log[..raw.len()].copy_from_slice(raw);
            raw.len()
        }
    };

    let calls = env.value(
        VAR_CALLS,
        Calls::OPEN,
        "not a comma list of open, write, sync, close, rename, truncate, mkdir, unlink, read (or `all`)",
        parse_calls,
    );
    let space = match get(VAR_SPACE) {
        None => None,
        Some(raw) => match parse_size(raw) {
            Ok(v) => Some(v),
            Err(e) => {
                env.problem(VAR_SPACE, raw, e.what());
                None
            }
        },
    };
    let delay_ns =
        env.value(VAR_DELAY, 0, "not a duration: a whole number with ns, us, ms or s (e.g. 50ms), up to 1 hour", parse_delay);
    let scope = env.value(VAR_SCOPE, Scope::Process, "neither `process` nor `tree`", |raw| {
        one_of(raw, [(b"process", Scope::Process), (b"tree", Scope::Tree)])
    });
    let deny_io_uring =
        env.value(VAR_URING, true, "neither `deny` nor `allow`", |raw| one_of(raw, [(b"deny", true), (b"allow", false)]));

    let effect = match get(VAR_EFFECT) {
        None => Effect::Fail,
        Some(raw) => match Effect::from_name(raw) {
            Some(e) if !effect_fits(e, interval, calls, space) => {
                env.problem(VAR_EFFECT, raw, effect_misfit(e));
                e
            }
            Some(e) => e,
            None => {
                env.problem(VAR_EFFECT, raw, "not an effect: fail, crash-before, crash-after, corrupt, drop, fake-sync or short");
                Effect::Fail
            }
        },
    };
    let crash_group = env.value(VAR_CRASH, false, "neither `process` nor `group`", |raw| {
        one_of(raw, [(b"process", false), (b"group", true)])
    });
    let corrupt = env.value(VAR_CORRUPT, CorruptMode::Flip, "neither `flip`, `zero` nor `random`", CorruptMode::from_name);
    let seed = env.value(VAR_SEED, 0, "not a whole number >= 0", parse_u64);
    let mut journal = [0u8; MAX_LOG_PATH + 1];
    let journal_len = match get(VAR_JOURNAL) {
        None => 0,
        Some(raw) if raw.len() > MAX_LOG_PATH - 8 => {
            env.problem(VAR_JOURNAL, raw, "longer than PATH_MAX less 8");
            0
        }
        Some(raw) => {
            journal[..raw.len()].copy_from_slice(raw);
            raw.len()
        }
    };

    if env.n > 0 {
        return Parsed::Invalid { problems: env.problems };
    }
    let prefilter_len = match needle_src {
        [head @ .., b'/'] => head.len(),
        _ => needle_src.len(),
    };
    let mut prefilter = [0u8; MAX_NEEDLE + 1];
    prefilter[..prefilter_len].copy_from_slice(&needle_src[..prefilter_len]);
    Parsed::Armed(Config {
        plan: Plan { interval, skip, max },
        errno,
        errno_set,
        ops,
        calls,
        space,
        delay_ns,
        scope,
        deny_io_uring,
        effect,
        crash_group,
        corrupt,
        seed,
        needle,
        needle_len: needle_src.len(),
        prefilter,
        prefilter_len,
        log,
        log_len,
        journal,
        journal_len,
    })
}

/// The variables as `parse` reads them, and the problems found so far.
struct Reader<'a, G> {
    get: G,
    problems: [Option<Problem<'a>>; MAX_PROBLEMS],
    n: usize,
}

impl<'a, G: Fn(&'static str) -> Option<&'a [u8]>> Reader<'a, G> {
    fn problem(&mut self, var: &'static str, value: &'a [u8], what: &'static str) {
        self.problems[self.n] = Some(Problem { var, value, what });
        self.n += 1;
    }

    /// `var` through `parse`: `default` when unset, or (a problem, `what`
    /// it is) when `parse` refuses it.
    fn value<T>(&mut self, var: &'static str, default: T, what: &'static str, parse: impl FnOnce(&'a [u8]) -> Option<T>) -> T {
        let Some(raw) = (self.get)(var) else { return default };
        parse(raw).unwrap_or_else(|| {
            self.problem(var, raw, what);
            default
        })
    }
}

/// The value of the word `raw` is (any case), among `words`.
fn one_of<T: Copy, const N: usize>(raw: &[u8], words: [(&[u8], T); N]) -> Option<T> {
    words.iter().find(|(w, _)| raw.eq_ignore_ascii_case(w)).map(|&(_, v)| v)
}

/// Whether every call the plan can trigger is one the effect acts on: the
/// chosen families under INTERVAL, writes under SPACE.
fn effect_fits(effect: Effect, interval: u64, calls: Calls, space: Option<u64>) -> bool {
    (interval == 0 || calls.iter().all(|f| effect.applies_to(f)))
        && (space.is_none() || effect.applies_to(Family::Write))
}

fn effect_misfit(effect: Effect) -> &'static str {
    match effect {
        Effect::Corrupt => "for writes and reads only: set HARPER_TEST_BLOB_FAIL_CALLS=write or read (or use SPACE alone)",
        Effect::Drop => "for writes only: set HARPER_TEST_BLOB_FAIL_CALLS=write (or use SPACE alone)",
        Effect::Short => "for reads only: set HARPER_TEST_BLOB_FAIL_CALLS=read, without SPACE",
        _ => "for syncs only: set HARPER_TEST_BLOB_FAIL_CALLS=sync, without SPACE",
    }
}

/// Longest accepted `DELAY`: one hour.
pub const MAX_DELAY_NS: u64 = 3600 * 1_000_000_000;

/// `DELAY` up to [`MAX_DELAY_NS`].
fn parse_delay(raw: &[u8]) -> Option<u64> {
    parse_duration_ns(raw).filter(|&ns| ns <= MAX_DELAY_NS)
}

/// Whether libuv would turn io_uring on for this `UV_USE_IO_URING` value:
/// it takes `atoi(value) != 0`, so `1`, `2`, `01`, ` 1`, `+1`, `1x`, `-1`
/// all do, and `0`, `00`, `no`, `` do not.
pub fn uv_io_uring_on(raw: &[u8]) -> bool {
    let mut rest = raw;
    while let [b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r', tail @ ..] = rest {
        rest = tail;
    }
    if let [b'+' | b'-', tail @ ..] = rest {
        rest = tail;
    }
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    rest[..digits].iter().any(|&b| b != b'0')
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod vocab_agrees_with_libc {
    /// The vocabulary's errno numbers are Linux's; this libc must agree.
    #[test]
    fn errno_numbers() {
        let libc_names = [
            libc::ENOENT, libc::EIO, libc::ENOSPC, libc::EACCES, libc::EPERM, libc::EMFILE, libc::ENFILE, libc::EROFS,
            libc::EDQUOT, libc::EEXIST, libc::EISDIR, libc::ENOTDIR, libc::ENAMETOOLONG, libc::ELOOP, libc::EINTR,
            libc::EAGAIN, libc::ENOMEM, libc::EBUSY, libc::ETXTBSY, libc::EFBIG, libc::EINVAL, libc::ENXIO, libc::ENODEV,
            libc::ESTALE, libc::EOVERFLOW,
        ];
        let vocab: Vec<i32> = super::ERRNO_NAMES.iter().map(|&(_, v)| v).collect();
        assert_eq!(vocab, libc_names);
    }
}
