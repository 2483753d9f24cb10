//! Runtime control (`HARPER_TEST_BLOB_FAIL_CONTROL=FILE`): a small file
//! every process maps shared, which `blobfail ctl FILE arm|heal|set
//! VAR=VALUE…` changes. A process notices a change by the next matching
//! call (one load of the file's generation counter, compared with the
//! generation it applied; no lock on the hot path), re-reads the plan as a
//! seqlock reader, and applies it whole or not at all.
//!
//! The file: 512 little-endian 64-bit words: the magic `blobfctl`, the
//! version (1), the generation (odd while `ctl` writes), healed (0 or 1),
//! the plan's length in bytes; from byte 64, the plan: `VAR=VALUE` lines
//! that override the environment's.
//!
//! Healed, every hook passes straight through and the counters keep their
//! values. Each change a process applies is a line in its fault log
//! (`{"control":true,…}`). The variables fixed at load stay so: PATH, LOG,
//! JOURNAL, SCOPE, IO_URING (`ctl` refuses them). A descriptor opened while
//! healed is not tracked after an `arm`.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::config::{self, Config, Parsed};
use crate::format::StackBuf;
use crate::sys;

pub const MAGIC: u64 = u64::from_le_bytes(*b"blobfctl");
const VERSION: u64 = 1;
const W_MAGIC: usize = 0;
const W_VERSION: usize = 1;
const W_GENERATION: usize = 2;
const W_HEALED: usize = 3;
const W_LEN: usize = 4;
const TEXT_START: usize = 64;
const TEXT_MAX: usize = sys::CONTROL_WORDS * 8 - TEXT_START;

/// The generation this process applied last.
static SEEN: AtomicU64 = AtomicU64::new(0);
static REFRESHING: AtomicBool = AtomicBool::new(false);
static MAPPED: AtomicBool = AtomicBool::new(false);

/// Maps the control file named by the environment; false (with the
/// reason) when it is missing or not a control file.
pub fn attach(path: &[u8]) -> Result<(), &'static str> {
    let mut buf = [0u8; sys::PATH_MAX + 1];
    if path.len() >= buf.len() {
        return Err("longer than PATH_MAX");
    }
    buf[..path.len()].copy_from_slice(path);
    if !sys::map_control(&buf[..=path.len()]) {
        return Err("missing or too small: make it with `blobfail ctl FILE init`");
    }
    if sys::control_word(W_MAGIC) != MAGIC || sys::control_word(W_VERSION) != VERSION {
        return Err("not a blobfail control file (make one with `blobfail ctl FILE init`)");
    }
    MAPPED.store(true, Ordering::Release);
    Ok(())
}

/// Whether the file changed since this process last applied it: the hot
/// path's one extra load and compare when healed.
#[inline(always)]
pub fn changed() -> bool {
    sys::control_generation() != SEEN.load(Ordering::Relaxed)
}

/// What the file says now, read as a seqlock: (generation, healed, plan
/// length), the plan in `text`; None while `ctl` is writing.
fn snapshot(text: &mut [u8; TEXT_MAX]) -> Option<(u64, bool, usize)> {
    let g1 = sys::control_word(W_GENERATION);
    if g1 % 2 == 1 {
        return None;
    }
    let healed = sys::control_word(W_HEALED) != 0;
    let len = (sys::control_word(W_LEN) as usize).min(TEXT_MAX);
    for (i, chunk) in text[..len.div_ceil(8) * 8].chunks_mut(8).enumerate() {
        chunk.copy_from_slice(&sys::control_word(TEXT_START / 8 + i).to_le_bytes());
    }
    (sys::control_word(W_GENERATION) == g1).then_some((g1, healed, len))
}

/// The plan's value for `var` (`HARPER_TEST_BLOB_FAIL_X=value` lines).
fn lookup<'a>(text: &'a [u8], var: &str) -> Option<&'a [u8]> {
    text.split(|&b| b == b'\n').find_map(|line| {
        let eq = line.iter().position(|&b| b == b'=')?;
        (&line[..eq] == var.as_bytes()).then(|| &line[eq + 1..])
    })
}

/// What a refresh decided: a new configuration to install, and whether
/// the plan is healed.
pub struct Change {
    pub config: Config,
    pub healed: bool,
    pub generation: u64,
}

/// Re-reads the file when it changed; Some when the new plan is valid.
/// One thread refreshes at a time; the others go on with the old plan,
/// which is fine: a change takes effect by the next matching call.
pub fn refresh() -> Option<Change> {
    if !MAPPED.load(Ordering::Acquire) || REFRESHING.swap(true, Ordering::Acquire) {
        return None;
    }
    let mut text = [0u8; TEXT_MAX];
    let out = snapshot(&mut text).and_then(|(generation, healed, len)| {
        let plan = &text[..len];
        let parsed = config::parse(|var| lookup(plan, var).or_else(|| sys::getenv(var)));
        let result = match parsed {
            Parsed::Armed(config) => Some(Change { config, healed, generation }),
            _ => None,
        };
        // Applied or refused, this generation is done with.
        SEEN.store(generation, Ordering::Relaxed);
        result
    });
    REFRESHING.store(false, Ordering::Release);
    out
}

/// The log line of an applied change: `heal`, or `arm` with the plan.
pub fn log_change(cfg: &Config, generation: u64, healed: bool) {
    let Some(log) = cfg.log_path_nul() else { return };
    let mut text = [0u8; TEXT_MAX];
    let plan = snapshot(&mut text).map_or(&b""[..], |(_, _, len)| &text[..len]);
    let mut action = StackBuf::<1024>::new();
    action.push(if healed { b"heal" } else { b"arm" });
    for line in plan.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        action.push(b" ");
        action.push(line.strip_prefix(b"HARPER_TEST_BLOB_FAIL_").unwrap_or(line));
    }
    let mut line = StackBuf::<2048>::new();
    let _ = blobfail_vocab::log::control_line(
        &mut line,
        sys::pid(),
        generation,
        core::str::from_utf8(action.as_bytes()).unwrap_or("?"),
        sys::now_ns(),
    );
    let _ = sys::append_file(log, line.finish_line());
}

#[cfg(test)]
mod tests {
    #[test]
    fn plan_lines_are_looked_up_by_full_name() {
        let text = b"HARPER_TEST_BLOB_FAIL_INTERVAL=3\nHARPER_TEST_BLOB_FAIL_EFFECT=crash-before\n";
        assert_eq!(super::lookup(text, "HARPER_TEST_BLOB_FAIL_INTERVAL"), Some(&b"3"[..]));
        assert_eq!(super::lookup(text, "HARPER_TEST_BLOB_FAIL_EFFECT"), Some(&b"crash-before"[..]));
        assert_eq!(super::lookup(text, "HARPER_TEST_BLOB_FAIL_SKIP"), None);
    }
}
