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
//!
//! Any of INTERVAL, SPACE and DELAY arms the shim. An empty value counts as unset. Any invalid value keeps the whole shim
//! disarmed: injecting with a configuration other than the one asked for
//! would make a test's result mean something else than its author thinks.

pub use blobfail_vocab::vars::{
    CALLS as VAR_CALLS, DELAY as VAR_DELAY, ERRNO as VAR_ERRNO, INTERVAL as VAR_INTERVAL, IO_URING as VAR_URING,
    LOG as VAR_LOG, MAX as VAR_MAX, OPS as VAR_OPS, PATH as VAR_PATH, SCOPE as VAR_SCOPE, SKIP as VAR_SKIP,
    SPACE as VAR_SPACE, TREE as VAR_TREE, UV_USE_IO_URING as VAR_IO_URING,
};
pub use blobfail_vocab::units::{parse_duration_ns, parse_u64};
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
    /// NUL-terminated, so the hot path can hand it to libc's `strstr`.
    needle: [u8; MAX_NEEDLE + 1],
    needle_len: usize,
    /// The needle less a trailing `/`, NUL-terminated.
    prefilter: [u8; MAX_NEEDLE + 1],
    prefilter_len: usize,
    /// NUL-terminated so it can be handed to the kernel as is.
    log: [u8; MAX_LOG_PATH + 1],
    log_len: usize,
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

    /// Whether descriptors opened on matching paths must be tracked: some
    /// chosen family acts on descriptors, or a space budget is set.
    pub fn tracks_descriptors(&self) -> bool {
        self.calls.any_on_descriptors() || self.space.is_some()
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
pub const MAX_PROBLEMS: usize = 12;

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
    if interval_raw.is_none() && get(VAR_SPACE).is_none() && get(VAR_DELAY).is_none() {
        return Parsed::Off;
    }
    let mut problems: [Option<Problem<'a>>; MAX_PROBLEMS] = [None; MAX_PROBLEMS];
    let mut n = 0;
    let mut problem = |var, value, what| {
        problems[n] = Some(Problem { var, value, what });
        n += 1;
    };

    let interval = match interval_raw.map(|raw| (raw, parse_u64(raw))) {
        None => 0,
        Some((_, Some(v))) if v >= 1 => v,
        Some((raw, _)) => {
            problem(VAR_INTERVAL, raw, "not a whole number from 1 to 18446744073709551615");
            0
        }
    };
    let skip = match get(VAR_SKIP) {
        None => 0,
        Some(raw) => parse_u64(raw).unwrap_or_else(|| {
            problem(VAR_SKIP, raw, "not a whole number >= 0");
            0
        }),
    };
    let max = match get(VAR_MAX) {
        None => None,
        Some(raw) if raw.eq_ignore_ascii_case(b"none") => None,
        Some(raw) => match parse_u64(raw) {
            Some(v) => Some(v),
            None => {
                problem(VAR_MAX, raw, "not a whole number >= 0 or `none`");
                None
            }
        },
    };
    let errno_set = get(VAR_ERRNO).is_some();
    let errno = match get(VAR_ERRNO) {
        None => libc::ENOENT,
        Some(raw) => parse_errno(raw).unwrap_or_else(|| {
            problem(VAR_ERRNO, raw, "not an errno name or number (e.g. ENOENT, EIO, ENOSPC, 28)");
            libc::ENOENT
        }),
    };
    let ops = match get(VAR_OPS) {
        None => Ops::Write,
        Some(raw) if raw.eq_ignore_ascii_case(b"write") => Ops::Write,
        Some(raw) if raw.eq_ignore_ascii_case(b"all") => Ops::All,
        Some(raw) => {
            problem(VAR_OPS, raw, "neither `write` nor `all`");
            Ops::Write
        }
    };
    let mut needle = [0u8; MAX_NEEDLE + 1];
    let needle_src = match get(VAR_PATH) {
        None => DEFAULT_NEEDLE,
        Some(raw) if raw.len() > MAX_NEEDLE => {
            problem(VAR_PATH, raw, "longer than 256 bytes");
            DEFAULT_NEEDLE
        }
        Some(raw) => raw,
    };
    needle[..needle_src.len()].copy_from_slice(needle_src);
    let mut log = [0u8; MAX_LOG_PATH + 1];
    let log_len = match get(VAR_LOG) {
        None => 0,
        Some(raw) if raw.len() > MAX_LOG_PATH => {
            problem(VAR_LOG, raw, "longer than PATH_MAX");
            0
        }
        Some(raw) => {
            log[..raw.len()].copy_from_slice(raw);
            raw.len()
        }
    };

    let calls = match get(VAR_CALLS) {
        None => Calls::OPEN,
        Some(raw) => parse_calls(raw).unwrap_or_else(|| {
            problem(
                VAR_CALLS,
                raw,
                "not a comma list of open, write, sync, close, rename, truncate, mkdir, unlink (or `all`)",
            );
            Calls::OPEN
        }),
    };
    let space = match get(VAR_SPACE) {
        None => None,
        Some(raw) => match parse_size(raw) {
            Ok(v) => Some(v),
            Err(e) => {
                problem(VAR_SPACE, raw, e.what());
                None
            }
        },
    };
    let delay_ns = match get(VAR_DELAY) {
        None => 0,
        Some(raw) => parse_delay(raw).unwrap_or_else(|| {
            problem(VAR_DELAY, raw, "not a duration: a whole number with ns, us, ms or s (e.g. 50ms), up to 1 hour");
            0
        }),
    };
    let scope = match get(VAR_SCOPE) {
        None => Scope::Process,
        Some(raw) if raw.eq_ignore_ascii_case(b"process") => Scope::Process,
        Some(raw) if raw.eq_ignore_ascii_case(b"tree") => Scope::Tree,
        Some(raw) => {
            problem(VAR_SCOPE, raw, "neither `process` nor `tree`");
            Scope::Process
        }
    };
    let deny_io_uring = match get(VAR_URING) {
        None => true,
        Some(raw) if raw.eq_ignore_ascii_case(b"deny") => true,
        Some(raw) if raw.eq_ignore_ascii_case(b"allow") => false,
        Some(raw) => {
            problem(VAR_URING, raw, "neither `deny` nor `allow`");
            true
        }
    };

    if n > 0 {
        return Parsed::Invalid { problems };
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
        needle,
        needle_len: needle_src.len(),
        prefilter,
        prefilter_len,
        log,
        log_len,
    })
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
mod tests {
    use super::*;

    fn parse_env<'a>(vars: &'a [(&'static str, &'a [u8])]) -> Parsed<'a> {
        parse(|name| vars.iter().find(|(k, _)| *k == name).map(|&(_, v)| v))
    }

    fn armed(vars: &[(&'static str, &[u8])]) -> Config {
        match parse_env(vars) {
            Parsed::Armed(c) => c,
            other => panic!("expected armed, got {other:?}"),
        }
    }

    fn problem_vars(vars: &[(&'static str, &[u8])]) -> Vec<&'static str> {
        match parse_env(vars) {
            Parsed::Invalid { problems } => problems.iter().flatten().map(|p| p.var).collect(),
            other => panic!("expected invalid, got {other:?}"),
        }
    }

    #[test]
    fn unset_or_empty_interval_is_off() {
        assert!(matches!(parse_env(&[]), Parsed::Off));
        assert!(matches!(parse_env(&[(VAR_INTERVAL, b"")]), Parsed::Off));
        // Other variables alone do not arm it, and are not even looked at.
        assert!(matches!(parse_env(&[(VAR_ERRNO, b"bogus")]), Parsed::Off));
    }

    #[test]
    fn defaults() {
        let c = armed(&[(VAR_INTERVAL, b"7")]);
        assert_eq!(c.plan, Plan { interval: 7, skip: 0, max: None });
        assert_eq!(c.errno, libc::ENOENT);
        assert_eq!(c.ops, Ops::Write);
        assert_eq!(c.needle(), b"/blobs/");
        assert_eq!(c.needle_nul(), b"/blobs/\0");
        assert_eq!(c.prefilter_nul(), b"/blobs\0");
        assert_eq!(c.log_path(), None);
    }

    #[test]
    fn every_variable() {
        let c = armed(&[
            (VAR_INTERVAL, b"3"),
            (VAR_SKIP, b"10"),
            (VAR_MAX, b"2"),
            (VAR_ERRNO, b"eio"),
            (VAR_OPS, b"ALL"),
            (VAR_PATH, b"/data/\xff/"),
            (VAR_LOG, b"/tmp/f.jsonl"),
        ]);
        assert_eq!(c.plan, Plan { interval: 3, skip: 10, max: Some(2) });
        assert_eq!(c.errno, libc::EIO);
        assert_eq!(c.ops, Ops::All);
        assert_eq!(c.needle(), b"/data/\xff/");
        assert_eq!(c.log_path(), Some(&b"/tmp/f.jsonl"[..]));
        assert_eq!(c.log_path_nul(), Some(&b"/tmp/f.jsonl\0"[..]));
        assert_eq!(armed(&[(VAR_INTERVAL, b"1"), (VAR_ERRNO, b"28")]).errno, 28);
        assert_eq!(armed(&[(VAR_INTERVAL, b"1"), (VAR_MAX, b"none")]).plan.max, None);
    }

    #[test]
    fn invalid_interval_values() {
        for bad in [
            &b"0"[..], b"-7", b"+7", b" 7", b"7 ", b"7x", b"0x7", b"abc", b"1e3", b"7.0",
            b"18446744073709551616", b"99999999999999999999999", b"\xff",
        ] {
            assert_eq!(problem_vars(&[(VAR_INTERVAL, bad)]), [VAR_INTERVAL], "{bad:?}");
        }
        assert_eq!(parse_u64(b"18446744073709551615"), Some(u64::MAX));
    }

    #[test]
    fn one_problem_per_invalid_variable() {
        let vars = problem_vars(&[
            (VAR_INTERVAL, b"7"),
            (VAR_ERRNO, b"EWHAT"),
            (VAR_OPS, b"read"),
            (VAR_SKIP, b"-1"),
            (VAR_MAX, b"lots"),
        ]);
        assert_eq!(vars, [VAR_SKIP, VAR_MAX, VAR_ERRNO, VAR_OPS]);
        assert_eq!(problem_vars(&[(VAR_INTERVAL, b"7"), (VAR_ERRNO, b"0")]), [VAR_ERRNO]);
        assert_eq!(problem_vars(&[(VAR_INTERVAL, b"7"), (VAR_ERRNO, b"4096")]), [VAR_ERRNO]);
        let long = [b'a'; MAX_NEEDLE + 1];
        assert_eq!(problem_vars(&[(VAR_INTERVAL, b"7"), (VAR_PATH, &long)]), [VAR_PATH]);
    }

    /// Regression: a zero-padded number longer than 20 bytes was refused as
    /// if it overflowed.
    #[test]
    fn leading_zeros_do_not_count_toward_overflow() {
        assert_eq!(parse_u64(b"0000000000000000000000000007"), Some(7));
        assert_eq!(parse_u64(b"0000000000000000000018446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_u64(b"0000000000000000000018446744073709551616"), None);
        assert_eq!(armed(&[(VAR_INTERVAL, b"00000000000000000000013")]).plan.interval, 13);
    }

    #[test]
    fn libuv_reads_uv_use_io_uring_with_atoi() {
        for on in [&b"1"[..], b"2", b"01", b" 1", b"\t+1", b"1x", b"-1", b"10"] {
            assert!(uv_io_uring_on(on), "{on:?}");
        }
        for off in [&b"0"[..], b"00", b"-0", b"no", b"", b" ", b"x1", b"+", b"- 1"] {
            assert!(!uv_io_uring_on(off), "{off:?}");
        }
    }

    #[test]
    fn new_variables() {
        let c = armed(&[(VAR_SPACE, b"10MiB")]);
        assert_eq!((c.plan.interval, c.space, c.calls), (0, Some(10 << 20), Calls::OPEN), "SPACE arms alone");
        assert_eq!(armed(&[(VAR_DELAY, b"50ms")]).delay_ns, 50_000_000, "DELAY arms alone");
        let c = armed(&[(VAR_INTERVAL, b"7"), (VAR_CALLS, b"open,WRITE,sync"), (VAR_SCOPE, b"tree"), (VAR_URING, b"allow")]);
        assert!(c.calls.has(Family::Open) && c.calls.has(Family::Write) && c.calls.has(Family::Sync));
        assert!(!c.calls.has(Family::Close));
        assert_eq!((c.scope, c.deny_io_uring), (Scope::Tree, false));
        let d = armed(&[(VAR_INTERVAL, b"7")]);
        assert_eq!((d.calls, d.space, d.delay_ns, d.scope, d.deny_io_uring), (Calls::OPEN, None, 0, Scope::Process, true));
        assert_eq!(armed(&[(VAR_INTERVAL, b"1"), (VAR_CALLS, b"all")]).calls, Calls(0xff));
        assert_eq!(d.space_errno(), libc::ENOSPC);
        assert_eq!(armed(&[(VAR_SPACE, b"1"), (VAR_ERRNO, b"EIO")]).space_errno(), libc::EIO);
        for (raw, want) in [(&b"0"[..], Some(0)), (b"12", Some(12)), (b"3B", Some(3)), (b"2kib", Some(2048)), (b"1GiB", Some(1 << 30)),
                            (b"1.5KiB", Some(1536)), (b"1 MiB", None), (b"1MB", None), (b"MiB", None), (b"-1", None), (b"99999999999999GiB", None)] {
            assert_eq!(parse_size(raw).ok(), want, "{raw:?}");
        }
        for (raw, want) in [(&b"0"[..], Some(0)), (b"50ms", Some(50_000_000)), (b"2s", Some(2_000_000_000)), (b"7us", Some(7_000)),
                            (b"9ns", Some(9)), (b"3600s", Some(MAX_DELAY_NS)), (b"3601s", None), (b"50", None), (b"1m", None), (b"ms", None)] {
            assert_eq!(parse_delay(raw), want, "{raw:?}");
        }
        for bad in [&b"open,"[..], b",open", b"open,,write", b"opens", b"open write", b"read"] {
            assert_eq!(problem_vars(&[(VAR_INTERVAL, b"1"), (VAR_CALLS, bad)]), [VAR_CALLS], "{bad:?}");
        }
        assert_eq!(problem_vars(&[(VAR_SPACE, b"lots"), (VAR_SCOPE, b"world"), (VAR_URING, b"maybe"), (VAR_DELAY, b"soon")]),
                   [VAR_SPACE, VAR_DELAY, VAR_SCOPE, VAR_URING]);
    }

    #[test]
    fn errno_names_round_trip() {
        for &(name, v) in ERRNO_NAMES {
            assert_eq!(parse_errno(name.as_bytes()), Some(v));
            assert_eq!(errno_name(v), Some(name));
        }
    }

    /// Property tests: every variable gets hostile values (arbitrary bytes,
    /// numbers with signs, spaces, hex prefixes and junk around them,
    /// overflowing and zero-padded digits, names in odd cases, very long
    /// values, invalid UTF-8), and `parse` must agree with a model of the
    /// grammar written independently of it, never panic, never arm with an
    /// invalid value, and name each invalid variable exactly once.
    mod properties {
        use super::*;
        use crate::format::{self, StackBuf};
        use proptest::prelude::*;

        const ORDER: [&str; 12] = [
            VAR_INTERVAL, VAR_SKIP, VAR_MAX, VAR_ERRNO, VAR_OPS, VAR_PATH, VAR_LOG, VAR_CALLS, VAR_SPACE, VAR_DELAY,
            VAR_SCOPE, VAR_URING,
        ];

        /// A number with one of `units` (lower case) after it, in any case; its value in base units.
        fn model_with_unit(v: &[u8], units: &[(&str, u128)]) -> Option<u128> {
            let text = std::str::from_utf8(v).ok()?;
            let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
            let (digits, unit) = text.split_at(split);
            let n = model_number(digits.as_bytes())? as u128;
            let &(_, factor) = units.iter().find(|(u, _)| *u == unit.to_ascii_lowercase())?;
            Some(n * factor).filter(|&b| b <= u64::MAX as u128)
        }

        /// A size: digits, an optional `.digits` fraction, a binary unit;
        /// the bytes rounded down, when they fit in 64 bits.
        fn model_size(v: &[u8]) -> Option<u128> {
            let text = std::str::from_utf8(v).ok()?;
            let int_end = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
            let (int, rest) = text.split_at(int_end);
            let (frac, unit) = match rest.strip_prefix('.') {
                Some(r) => {
                    let e = r.find(|c: char| !c.is_ascii_digit()).unwrap_or(r.len());
                    if e == 0 {
                        return None;
                    }
                    r.split_at(e)
                }
                None => ("", rest),
            };
            let units = [("", 1u128), ("b", 1), ("kib", 1 << 10), ("mib", 1 << 20), ("gib", 1 << 30), ("tib", 1 << 40)];
            let &(_, factor) = units.iter().find(|(u, _)| *u == unit.to_ascii_lowercase())?;
            let whole = model_number(int.as_bytes())? as u128 * factor;
            let frac = &frac[..frac.len().min(30)];
            let part = if frac.is_empty() { 0 } else { frac.parse::<u128>().ok()? * factor / 10u128.pow(frac.len() as u32) };
            Some(whole + part).filter(|&b| whole <= u64::MAX as u128 && b <= u64::MAX as u128)
        }

        /// The value of a string of plain ASCII digits, None when it is not one or exceeds u64.
        fn model_number(v: &[u8]) -> Option<u64> {
            if v.is_empty() || !v.iter().all(u8::is_ascii_digit) {
                return None;
            }
            let digits = std::str::from_utf8(v).unwrap().trim_start_matches('0');
            if digits.is_empty() {
                return Some(0);
            }
            if digits.len() > 20 {
                return None;
            }
            digits.parse::<u128>().ok().and_then(|n| u64::try_from(n).ok())
        }

        /// What the grammar says about one non-empty value: Ok(is valid) per variable.
        fn model_valid(var: &str, v: &[u8]) -> bool {
            let lower = v.to_ascii_lowercase();
            match var {
                VAR_INTERVAL => model_number(v).is_some_and(|n| n >= 1),
                VAR_SKIP => model_number(v).is_some(),
                VAR_MAX => lower == b"none" || model_number(v).is_some(),
                VAR_ERRNO => {
                    ERRNO_NAMES.iter().any(|(n, _)| n.to_ascii_lowercase().as_bytes() == lower)
                        || model_number(v).is_some_and(|n| (1..=4095).contains(&n))
                }
                VAR_OPS => lower == b"write" || lower == b"all",
                VAR_PATH => v.len() <= 256,
                VAR_LOG => v.len() <= 4095,
                VAR_CALLS => v.split(|&b| b == b',').all(|item| {
                    let item = item.to_ascii_lowercase();
                    ["open", "write", "sync", "close", "rename", "truncate", "mkdir", "unlink", "all"]
                        .iter()
                        .any(|n| n.as_bytes() == item)
                }),
                VAR_SPACE => model_size(v).is_some(),
                VAR_DELAY => {
                    v == b"0"
                        || model_with_unit(v, &[("ns", 1), ("us", 1000), ("ms", 1_000_000), ("s", 1_000_000_000)])
                            .is_some_and(|ns| ns <= 3_600_000_000_000)
                }
                VAR_SCOPE => lower == b"process" || lower == b"tree",
                VAR_URING => lower == b"deny" || lower == b"allow",
                _ => unreachable!(),
            }
        }

        fn from_strs(options: &'static [&'static str]) -> impl Strategy<Value = Vec<u8>> {
            prop::sample::select(options).prop_map(|s| s.as_bytes().to_vec())
        }

        /// Values meant to hurt a parser.
        fn hostile() -> impl Strategy<Value = Vec<u8>> {
            let junk: &'static [&'static str] =
                &["", "", " ", "\t", "\n", "+", "-", "0x", "0X", "x", "e3", ".0", "_", "k", "\u{a0}", "\u{ff10}"];
            let names: &'static [&'static str] = &[
                "none", "NONE", "NoNe", "write", "WRITE", "all", "All", "ENOENT", "eio", "EnOsPc",
                "EOVERFLOW", "E", "ENOENT2", "read", "writes", "al", "non", "/blobs/", "0", "4095",
                "4096", "18446744073709551615", "18446744073709551616", "open,write", "SYNC", "all", "close,",
                "10MiB", "1kib", "7B", "50ms", "2s", "3601s", "1m", "tree", "Process", "deny", "ALLOW",
            ];
            prop_oneof![
                // Arbitrary bytes, UTF-8 or not.
                4 => prop::collection::vec(any::<u8>(), 0..24),
                // A number with junk before and after it.
                4 => (from_strs(junk), any::<u64>(), from_strs(junk))
                    .prop_map(|(a, n, b)| [a, n.to_string().into_bytes(), b].concat()),
                // Overflowing, or zero-padded, digit strings.
                2 => prop::collection::vec(b'0'..=b'9', 18..45),
                2 => (0usize..40, any::<u64>()).prop_map(|(z, n)| [vec![b'0'; z], n.to_string().into_bytes()].concat()),
                // The grammar's own words and near misses, with junk around them.
                3 => (from_strs(junk), from_strs(names), from_strs(junk)).prop_map(|(a, n, b)| [a, n, b].concat()),
                // Invalid UTF-8 next to something that would be valid.
                1 => (from_strs(names), prop::sample::select(&[0x80u8, 0xc3, 0xfe, 0xff][..]))
                    .prop_map(|(n, b)| [n, vec![b]].concat()),
                // Very long values, around each length limit.
                1 => (250usize..5000, any::<u8>()).prop_map(|(len, b)| vec![b; len]),
                1 => prop::sample::select(&[256usize, 257, 4095, 4096][..]).prop_map(|len| vec![b'/'; len]),
            ]
        }

        fn env() -> impl Strategy<Value = Vec<Option<Vec<u8>>>> {
            prop::collection::vec(prop::option::weighted(0.6, hostile()), ORDER.len())
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 4000, ..ProptestConfig::default() })]

            #[test]
            fn parse_agrees_with_the_grammar(values in env()) {
                let vars: Vec<(&'static str, &[u8])> = ORDER
                    .iter()
                    .zip(&values)
                    .filter_map(|(&k, v)| v.as_deref().map(|v| (k, v)))
                    .collect();
                let parsed = parse_env(&vars);
                // Empty counts as unset.
                let set: Vec<(&str, &[u8])> = vars.iter().copied().filter(|(_, v)| !v.is_empty()).collect();
                let get = |k: &str| set.iter().find(|(n, _)| *n == k).map(|&(_, v)| v);
                if get(VAR_INTERVAL).is_none() && get(VAR_SPACE).is_none() && get(VAR_DELAY).is_none() {
                    prop_assert!(matches!(parsed, Parsed::Off), "{:?}", parsed);
                    return Ok(());
                }
                let invalid: Vec<&str> = ORDER
                    .iter()
                    .copied()
                    .filter(|&k| get(k).is_some_and(|v| !model_valid(k, v)))
                    .collect();
                match parsed {
                    Parsed::Off => prop_assert!(false, "interval, space or delay set but off"),
                    Parsed::Armed(cfg) => {
                        prop_assert!(invalid.is_empty(), "armed despite invalid {:?}", invalid);
                        let interval = get(VAR_INTERVAL).map_or(0, |v| model_number(v).unwrap());
                        prop_assert_eq!(cfg.plan.interval, interval);
                        prop_assert_eq!(cfg.plan.skip, get(VAR_SKIP).map_or(0, |v| model_number(v).unwrap()));
                        prop_assert_eq!(cfg.needle(), get(VAR_PATH).unwrap_or(b"/blobs/"));
                        prop_assert_eq!(cfg.log_path(), get(VAR_LOG));
                        if let Some(p) = cfg.log_path_nul() {
                            prop_assert_eq!(p.last(), Some(&0));
                        }
                    }
                    Parsed::Invalid { problems } => {
                        let named: Vec<&str> = problems.iter().flatten().map(|p| p.var).collect();
                        prop_assert_eq!(&named, &invalid, "one problem per invalid variable, in order");
                        for p in problems.iter().flatten() {
                            prop_assert_eq!(Some(p.value), get(p.var));
                            // Its warning is one printable line that names the variable.
                            let mut line = StackBuf::<512>::new();
                            format::problem(&mut line, p);
                            let line = line.finish_line();
                            let prefix = format!("blobfail: ignoring {}=\"", p.var);
                            prop_assert!(line.starts_with(prefix.as_bytes()));
                            prop_assert_eq!(line.iter().filter(|&&b| b == b'\n').count(), 1);
                            prop_assert_eq!(line.last(), Some(&b'\n'));
                            prop_assert!(line[..line.len() - 1].iter().all(|b| (0x20..0x7f).contains(b)));
                        }
                    }
                }
            }

            /// An interval that is not a whole number from 1 up never arms the
            /// shim, whatever the other variables say.
            #[test]
            fn an_invalid_interval_never_arms(interval in hostile(), rest in env()) {
                prop_assume!(!interval.is_empty() && !model_valid(VAR_INTERVAL, &interval));
                let mut vars: Vec<(&'static str, &[u8])> = vec![(VAR_INTERVAL, &interval)];
                vars.extend(ORDER[1..].iter().zip(&rest).filter_map(|(&k, v)| v.as_deref().map(|v| (k, v))));
                match parse_env(&vars) {
                    Parsed::Invalid { problems } => {
                        let first = problems[0].unwrap();
                        prop_assert_eq!(first.var, VAR_INTERVAL);
                        prop_assert_eq!(first.value, &interval[..]);
                    }
                    other => prop_assert!(false, "{:?}", other),
                }
            }

            #[test]
            fn parse_u64_is_plain_decimal(raw in hostile()) {
                prop_assert_eq!(parse_u64(&raw), model_number(&raw));
            }
        }
    }
}

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
