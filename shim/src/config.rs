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
//!
//! An empty value counts as unset. Any invalid value keeps the whole shim
//! disarmed: injecting with a configuration other than the one asked for
//! would make a test's result mean something else than its author thinks.

pub const VAR_INTERVAL: &str = "HARPER_TEST_BLOB_FAIL_INTERVAL";
pub const VAR_PATH: &str = "HARPER_TEST_BLOB_FAIL_PATH";
pub const VAR_OPS: &str = "HARPER_TEST_BLOB_FAIL_OPS";
pub const VAR_ERRNO: &str = "HARPER_TEST_BLOB_FAIL_ERRNO";
pub const VAR_SKIP: &str = "HARPER_TEST_BLOB_FAIL_SKIP";
pub const VAR_MAX: &str = "HARPER_TEST_BLOB_FAIL_MAX";
pub const VAR_LOG: &str = "HARPER_TEST_BLOB_FAIL_LOG";
/// Not ours, but it decides whether we can see Node's opens at all.
pub const VAR_IO_URING: &str = "UV_USE_IO_URING";

/// Longest accepted `HARPER_TEST_BLOB_FAIL_PATH`, in bytes.
pub const MAX_NEEDLE: usize = 256;
/// Longest accepted `HARPER_TEST_BLOB_FAIL_LOG`, in bytes (PATH_MAX less the NUL).
pub const MAX_LOG_PATH: usize = 4095;

const DEFAULT_NEEDLE: &[u8] = b"/blobs/";

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

/// When a matching call fails: the k-th matching call fails iff
/// `k > skip` and `(k - skip) % interval == 0`, until `max` faults.
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
    pub ops: Ops,
    needle: [u8; MAX_NEEDLE],
    needle_len: usize,
    /// NUL-terminated so it can be handed to the kernel as is.
    log: [u8; MAX_LOG_PATH + 1],
    log_len: usize,
}

impl Config {
    /// The substring a resolved path must contain to match.
    pub fn needle(&self) -> &[u8] {
        &self.needle[..self.needle_len]
    }

    /// The fault log's path, without its NUL.
    pub fn log_path(&self) -> Option<&[u8]> {
        (self.log_len > 0).then(|| &self.log[..self.log_len])
    }

    /// The fault log's path with its terminating NUL, for a raw `open`.
    pub fn log_path_nul(&self) -> Option<&[u8]> {
        (self.log_len > 0).then(|| &self.log[..=self.log_len])
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
pub const MAX_PROBLEMS: usize = 7;

/// What the environment asks for.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
pub enum Parsed<'a> {
    /// `HARPER_TEST_BLOB_FAIL_INTERVAL` unset or empty: silent pass-through.
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
    let Some(interval_raw) = get(VAR_INTERVAL) else {
        return Parsed::Off;
    };
    let mut problems: [Option<Problem<'a>>; MAX_PROBLEMS] = [None; MAX_PROBLEMS];
    let mut n = 0;
    let mut problem = |var, value, what| {
        problems[n] = Some(Problem { var, value, what });
        n += 1;
    };

    let interval = match parse_u64(interval_raw) {
        Some(v) if v >= 1 => v,
        _ => {
            problem(VAR_INTERVAL, interval_raw, "not a whole number from 1 to 18446744073709551615");
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
    let mut needle = [0u8; MAX_NEEDLE];
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

    if n > 0 {
        return Parsed::Invalid { problems };
    }
    Parsed::Armed(Config {
        plan: Plan { interval, skip, max },
        errno,
        ops,
        needle,
        needle_len: needle_src.len(),
        log,
        log_len,
    })
}

/// Plain decimal digits only: no sign, no spaces, no hex, no overflow.
pub fn parse_u64(raw: &[u8]) -> Option<u64> {
    if raw.is_empty() || raw.len() > 20 {
        return None;
    }
    let mut v: u64 = 0;
    for &b in raw {
        if !b.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    Some(v)
}

/// The errno names a fault is most often asked to look like.
pub const ERRNO_NAMES: &[(&str, i32)] = &[
    ("ENOENT", libc::ENOENT),
    ("EIO", libc::EIO),
    ("ENOSPC", libc::ENOSPC),
    ("EACCES", libc::EACCES),
    ("EPERM", libc::EPERM),
    ("EMFILE", libc::EMFILE),
    ("ENFILE", libc::ENFILE),
    ("EROFS", libc::EROFS),
    ("EDQUOT", libc::EDQUOT),
    ("EEXIST", libc::EEXIST),
    ("EISDIR", libc::EISDIR),
    ("ENOTDIR", libc::ENOTDIR),
    ("ENAMETOOLONG", libc::ENAMETOOLONG),
    ("ELOOP", libc::ELOOP),
    ("EINTR", libc::EINTR),
    ("EAGAIN", libc::EAGAIN),
    ("ENOMEM", libc::ENOMEM),
    ("EBUSY", libc::EBUSY),
    ("ETXTBSY", libc::ETXTBSY),
    ("EFBIG", libc::EFBIG),
    ("EINVAL", libc::EINVAL),
    ("ENXIO", libc::ENXIO),
    ("ENODEV", libc::ENODEV),
    ("ESTALE", libc::ESTALE),
    ("EOVERFLOW", libc::EOVERFLOW),
];

/// Largest errno value the kernel ABI allows (`-4095..-1` are errors).
const MAX_ERRNO: u64 = 4095;

/// A name from [`ERRNO_NAMES`] (any case) or a number from 1 to 4095.
pub fn parse_errno(raw: &[u8]) -> Option<i32> {
    if let Some(&(_, v)) = ERRNO_NAMES
        .iter()
        .find(|(name, _)| name.as_bytes().eq_ignore_ascii_case(raw))
    {
        return Some(v);
    }
    match parse_u64(raw)? {
        v @ 1..=MAX_ERRNO => Some(v as i32),
        _ => None,
    }
}

/// The name of `errno` when it has one in [`ERRNO_NAMES`].
pub fn errno_name(errno: i32) -> Option<&'static str> {
    ERRNO_NAMES.iter().find(|&&(_, v)| v == errno).map(|&(n, _)| n)
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

    #[test]
    fn errno_names_round_trip() {
        for &(name, v) in ERRNO_NAMES {
            assert_eq!(parse_errno(name.as_bytes()), Some(v));
            assert_eq!(errno_name(v), Some(name));
        }
    }
}
