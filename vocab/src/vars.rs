//! The environment variables the shim reads (and two it sets or watches).
//! The grammar of each value is in the shim's `config` module and in
//! docs/shim-in-time.md; the names are here so the driver never retypes them.

/// Arms the shim: every Nth matching call of a chosen family is triggered.
pub const INTERVAL: &str = "HARPER_TEST_BLOB_FAIL_INTERVAL";
/// Substring of the resolved absolute path that makes a call match.
pub const PATH: &str = "HARPER_TEST_BLOB_FAIL_PATH";
/// `write` (opens for writing only) or `all`.
pub const OPS: &str = "HARPER_TEST_BLOB_FAIL_OPS";
/// The errno of a failed call (a name from [`crate::errno::NAMES`] or a number).
pub const ERRNO: &str = "HARPER_TEST_BLOB_FAIL_ERRNO";
/// Matching calls let through before counting starts.
pub const SKIP: &str = "HARPER_TEST_BLOB_FAIL_SKIP";
/// Most faults injected (`none`: no limit).
pub const MAX: &str = "HARPER_TEST_BLOB_FAIL_MAX";
/// The fault log: one JSON line per fault, and a summary line per process.
pub const LOG: &str = "HARPER_TEST_BLOB_FAIL_LOG";
/// Comma list of call families ([`crate::Family`]) that count.
pub const CALLS: &str = "HARPER_TEST_BLOB_FAIL_CALLS";
/// Arms the shim: a full disk after this many bytes ([`crate::units::parse_size`]).
pub const SPACE: &str = "HARPER_TEST_BLOB_FAIL_SPACE";
/// Arms the shim: each matching call sleeps this long ([`crate::units::parse_duration_ns`]).
pub const DELAY: &str = "HARPER_TEST_BLOB_FAIL_DELAY";
/// `process` or `tree`: who shares the counters.
pub const SCOPE: &str = "HARPER_TEST_BLOB_FAIL_SCOPE";
/// `deny` (io_uring_setup fails with ENOSYS) or `allow`.
pub const IO_URING: &str = "HARPER_TEST_BLOB_FAIL_IO_URING";
/// What a triggered call does ([`crate::Effect`]); `fail` by default.
pub const EFFECT: &str = "HARPER_TEST_BLOB_FAIL_EFFECT";
/// Who a crash kills: `process` (the default) or its process `group`.
pub const CRASH: &str = "HARPER_TEST_BLOB_FAIL_CRASH";
/// How `corrupt` changes bytes ([`crate::CorruptMode`]); `flip` by default.
pub const CORRUPT: &str = "HARPER_TEST_BLOB_FAIL_CORRUPT";
/// The seed of `corrupt`'s choices (a whole number); 0 by default.
pub const SEED: &str = "HARPER_TEST_BLOB_FAIL_SEED";
/// Arms the shim: the durability journal's file (see `blobfail power-loss`).
pub const JOURNAL: &str = "HARPER_TEST_BLOB_FAIL_JOURNAL";
/// A control file mapped shared (see `blobfail ctl`).
pub const CONTROL: &str = "HARPER_TEST_BLOB_FAIL_CONTROL";
/// Set by the shim itself under `SCOPE=tree`: how descendants find the
/// shared counters (`<fd>:<device>:<inode>` of a memfd they inherit).
pub const TREE: &str = "HARPER_TEST_BLOB_FAIL_TREE";
/// Not ours, but it decides whether the shim can see Node's opens at all.
pub const UV_USE_IO_URING: &str = "UV_USE_IO_URING";

/// Every variable a user may set, in the order the shim reports problems.
pub const ALL: [&str; 18] = [
    INTERVAL, SKIP, MAX, ERRNO, OPS, PATH, LOG, CALLS, SPACE, DELAY, SCOPE, IO_URING, EFFECT, CRASH, CORRUPT, SEED,
    JOURNAL, CONTROL,
];

/// The path substring matched when `PATH` is unset.
pub const DEFAULT_PATH: &str = "/blobs/";
