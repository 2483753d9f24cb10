//! The fault: which node gets the preload shim, with which settings, and
//! reading back what the shim says it did (its fault log and the lines it
//! prints on stderr when armed and at exit).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use blobfail_vocab::log as log_keys;
use serde::{Deserialize, Serialize};

pub mod kind;
pub mod plan;
mod plan_json;

pub use kind::{Effect, Fault, Trigger};
pub use plan::PlanSpec;

/// What is injected into node B, and where it is recorded.
#[derive(Debug, Clone)]
pub struct FaultPlan {
    pub shim: PathBuf,
    /// The named plan with its parts as run.
    pub spec: PlanSpec,
    pub log: PathBuf,
}

impl FaultPlan {
    /// Every `interval`-th blob write-open fails with ENOENT, as Harper's own
    /// injector did (`open-enoent`; backlog-memory's `--shim-on-b`).
    /// Every caller's option parser refuses an interval of 0.
    pub fn blob_writes(shim: PathBuf, interval: u64, log: PathBuf) -> FaultPlan {
        let spec = PlanSpec::open_enoent_every(interval).expect("an interval from 1 (the options refuse 0)");
        FaultPlan { shim, spec, log }
    }

    /// The environment that arms the shim in the faulted node only.
    pub fn env(&self) -> Vec<(String, String)> {
        arm(&self.shim, &self.spec.fault, &self.log)
    }
}

/// The environment that arms `shim` with `fault` in one node: the preload,
/// the fault's variables, its log, and libuv's io_uring off (it could open
/// and write files through io_uring, which no preload sees).
pub fn arm(shim: &Path, fault: &Fault, log: &Path) -> Vec<(String, String)> {
    let mut env = vec![("LD_PRELOAD".to_string(), shim.display().to_string())];
    env.extend(fault.env());
    env.push((blobfail_vocab::vars::LOG.into(), log.display().to_string()));
    env.push((blobfail_vocab::vars::UV_USE_IO_URING.into(), "0".into()));
    env
}

/// `--shim PATH` if given, else the shim this binary carries, written to the
/// user's cache (`embedded`).
pub fn find_shim(explicit: Option<&Path>) -> Result<PathBuf> {
    let path = match explicit {
        Some(p) => p.to_path_buf(),
        None => return crate::embedded::shim_path(),
    };
    if !path.is_file() {
        bail!(
            "the preload shim {} does not exist: build it with `cargo build --release`, or pass --shim PATH",
            path.display()
        );
    }
    path.canonicalize().with_context(|| format!("failed to resolve {}", path.display()))
}

/// One injected fault, as the shim logs it (one JSON object per line).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FaultRecord {
    /// The k-th matching call in that process.
    pub seq: u64,
    /// The running fault number in that process.
    pub fault: u64,
    pub pid: u32,
    #[serde(default)]
    pub tid: u32,
    /// The call family (`open`, `write`, `sync`, …; lines of shims before
    /// the write path have none: they failed opens only).
    #[serde(default = "open_family")]
    pub call: String,
    #[serde(default)]
    pub function: String,
    pub path: String,
    /// The descriptor of a call on one (write, sync, close, …).
    #[serde(default)]
    pub fd: Option<i64>,
    /// A write against the space budget (a full disk), not an every-Nth fault.
    #[serde(default)]
    pub space: bool,
    #[serde(default)]
    pub flags: i64,
    #[serde(default)]
    pub errno: i32,
}

fn open_family() -> String {
    "open".into()
}

/// A process's summary, the fault log's last line of it (`"summary":true`),
/// with the per-family counts.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LogSummary {
    pub pid: u32,
    pub matching: u64,
    pub faults: u64,
    /// family → its matching calls and faults (only when more than `open` was chosen).
    #[serde(default)]
    pub calls: BTreeMap<String, FamilyCount>,
    #[serde(default)]
    pub space_used: Option<u64>,
    #[serde(default)]
    pub space_faults: Option<u64>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct FamilyCount {
    pub matching: u64,
    pub faults: u64,
}

impl LogSummary {
    /// A chosen family's counts (None: not chosen). A summary without
    /// families (an older shim) has the open family's counts as its totals.
    pub fn family(&self, name: &str) -> Option<FamilyCount> {
        match self.calls.get(name) {
            Some(c) => Some(*c),
            None if self.calls.is_empty() && name == "open" => Some(FamilyCount { matching: self.matching, faults: self.faults }),
            None => None,
        }
    }
}

/// The fault log: one record per fault, and each exited process's summary.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct FaultLog {
    pub records: Vec<FaultRecord>,
    pub summaries: Vec<LogSummary>,
}

/// Reads the fault log's faults; a log that does not exist means no fault was injected.
pub fn read_fault_log(path: &Path) -> Result<Vec<FaultRecord>> {
    Ok(read_fault_log_whole(path)?.records)
}

/// Reads the whole fault log, summaries included.
pub fn read_fault_log_whole(path: &Path) -> Result<FaultLog> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(FaultLog::default()),
        Err(e) => return Err(e).with_context(|| format!("failed to read the fault log {}", path.display())),
    };
    parse_fault_log_whole(&text).with_context(|| format!("in the fault log {}", path.display()))
}

pub fn parse_fault_log_whole(text: &str) -> Result<FaultLog> {
    let mut log = FaultLog::default();
    for (i, l) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let bad = || format!("line {} is not a fault record: {l}", i + 1);
        let v: serde_json::Value = serde_json::from_str(l).with_context(bad)?;
        if v.get(log_keys::KEY_SUMMARY).and_then(serde_json::Value::as_bool) == Some(true) {
            log.summaries.push(serde_json::from_value(v).with_context(bad)?);
        } else {
            log.records.push(serde_json::from_value(v).with_context(bad)?);
        }
    }
    Ok(log)
}

/// Faults grouped by the process that injected them (counters are per process).
pub fn by_pid(records: &[FaultRecord]) -> BTreeMap<u32, Vec<&FaultRecord>> {
    let mut m: BTreeMap<u32, Vec<&FaultRecord>> = BTreeMap::new();
    for r in records {
        m.entry(r.pid).or_default().push(r);
    }
    m
}

/// The shim's exit line: `blobfail: summary pid=<pid> matching=<n> faults=<n>`,
/// then (when more than `open` was chosen) `<family>=<matching>/<faults>`
/// per chosen family, and with a space budget `space_used=<n> space_faults=<n>`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShimSummary {
    pub pid: u32,
    pub matching: u64,
    pub faults: u64,
    /// family → (matching, faults); empty for an open-only shim.
    pub calls: BTreeMap<String, FamilyCount>,
    pub space_used: Option<u64>,
    pub space_faults: Option<u64>,
}

pub fn parse_summaries(stderr: &str) -> Vec<ShimSummary> {
    stderr
        .lines()
        .filter_map(|l| {
            let rest = l.trim().strip_prefix(log_keys::SUMMARY_PREFIX)?;
            let field = |k: &str| -> Option<u64> {
                rest.split_whitespace().find_map(|kv| kv.strip_prefix(k)?.strip_prefix('=')?.parse().ok())
            };
            let calls = rest
                .split_whitespace()
                .filter_map(|kv| {
                    let (family, counts) = kv.split_once('=')?;
                    let (m, f) = counts.split_once('/')?;
                    Some((family.to_string(), FamilyCount { matching: m.parse().ok()?, faults: f.parse().ok()? }))
                })
                .collect();
            Some(ShimSummary {
                pid: field(log_keys::KEY_PID)? as u32,
                matching: field(log_keys::KEY_MATCHING)?,
                faults: field(log_keys::KEY_FAULTS)?,
                calls,
                space_used: field(log_keys::KEY_SPACE_USED),
                space_faults: field(log_keys::KEY_SPACE_FAULTS),
            })
        })
        .collect()
}

/// The shim's load lines (`blobfail: armed pid=...`), proof it was preloaded.
pub fn armed_lines(stderr: &str) -> Vec<String> {
    stderr.lines().filter(|l| l.trim_start().starts_with(log_keys::ARMED_PREFIX)).map(|l| l.trim().to_string()).collect()
}

/// The sizes of the regular files under `dir` (B's blob files), none when it does not exist.
pub fn file_sizes(dir: &Path) -> Vec<u64> {
    let Ok(rd) = std::fs::read_dir(dir) else { return Vec::new() };
    rd.flatten()
        .flat_map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => file_sizes(&e.path()),
            Ok(t) if t.is_file() => e.metadata().map(|m| vec![m.len()]).unwrap_or_default(),
            _ => Vec::new(),
        })
        .collect()
}

/// Counts regular files under `dir` (B's blob files), 0 when it does not exist.
pub fn count_files(dir: &Path) -> u64 {
    let Ok(rd) = std::fs::read_dir(dir) else { return 0 };
    rd.flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => count_files(&e.path()),
            Ok(t) if t.is_file() => 1,
            _ => 0,
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    // A real line from the shim's log on node B under harperdb 4.7.29.
    const REAL: &str = r#"{"seq":7,"fault":1,"pid":20916,"tid":20955,"function":"open64","path":"/tmp/ex2/b/root/blobs/data/0/0/7","flags":524865,"errno":2,"time_ns":1795670106509486587}"#;

    #[test]
    fn parses_a_real_fault_log_line() {
        let r = parse_fault_log_whole(&format!("{REAL}\n\n")).map(|l| l.records).unwrap();
        assert_eq!(r.len(), 1);
        assert_eq!((r[0].seq, r[0].fault, r[0].pid, r[0].errno), (7, 1, 20916, 2));
        assert_eq!(r[0].path, "/tmp/ex2/b/root/blobs/data/0/0/7");
    }

    #[test]
    fn a_garbled_fault_log_line_is_an_error_naming_the_line() {
        let err = parse_fault_log_whole(&format!("{REAL}\nnot json\n")).unwrap_err();
        assert!(format!("{err:#}").contains("line 2"), "{err:#}");
    }

    #[test]
    fn parses_summary_and_armed_lines_among_other_stderr() {
        let stderr = "blobfail: armed pid=20916 interval=7 path=/blobs/ ops=write errno=ENOENT skip=0 max=none log=/x\n\
                      some node warning\n\
                      blobfail: summary pid=20916 matching=60 faults=8\n";
        assert_eq!(parse_summaries(stderr), vec![ShimSummary { pid: 20916, matching: 60, faults: 8, ..Default::default() }]);
        assert_eq!(armed_lines(stderr).len(), 1);
    }

    #[test]
    fn plan_env_arms_the_shim_and_disables_io_uring() {
        let plan = FaultPlan::blob_writes("/x/libblobfail.so".into(), 7, "/run/faults.jsonl".into());
        let env: BTreeMap<_, _> = plan.env().into_iter().collect();
        assert_eq!(env["LD_PRELOAD"], "/x/libblobfail.so");
        assert_eq!(env["HARPER_TEST_BLOB_FAIL_INTERVAL"], "7");
        assert_eq!(env["HARPER_TEST_BLOB_FAIL_LOG"], "/run/faults.jsonl");
        assert_eq!(env["UV_USE_IO_URING"], "0");
        assert_eq!(env["HARPER_TEST_BLOB_FAIL_CALLS"], "open");
    }

    #[test]
    fn a_stderr_summary_keeps_its_families_and_space() {
        let stderr = "blobfail: summary pid=7 matching=0 faults=0 sync=0/0\n\
                      blobfail: summary pid=8 matching=1530 faults=218 open=90/12 write=1440/206 space_used=10485760 space_faults=3\n";
        let s = parse_summaries(stderr);
        assert_eq!(s[0].calls.get("sync"), Some(&FamilyCount { matching: 0, faults: 0 }));
        assert_eq!((s[0].space_used, s[0].space_faults), (None, None));
        assert_eq!(s[1].calls.get("write"), Some(&FamilyCount { matching: 1440, faults: 206 }));
        assert_eq!(s[1].calls.len(), 2);
        assert_eq!((s[1].space_used, s[1].space_faults), (Some(10485760), Some(3)));
    }

    #[test]
    fn the_write_paths_log_lines_and_summary_are_read_apart() {
        let text = format!(
            "{REAL}\n{}\n{}\n{}\n",
            r#"{"seq":14,"fault":2,"pid":5831,"tid":5840,"call":"write","function":"pwrite64","fd":31,"path":"/srv/h/blobs/data/0/0/1d","errno":5,"time_ns":1}"#,
            r#"{"seq":3,"fault":3,"pid":5831,"tid":5841,"call":"write","function":"write","fd":32,"path":"/srv/h/blobs/data/0/0/1e","space":true,"bytes":65536,"written":1024,"errno":0,"time_ns":2}"#,
            r#"{"summary":true,"pid":5831,"matching":1530,"faults":218,"calls":{"open":{"matching":90,"faults":12},"write":{"matching":1440,"faults":206}},"space_used":10485760,"space_faults":3,"time_ns":3}"#
        );
        let log = parse_fault_log_whole(&text).unwrap();
        assert_eq!(log.records.len(), 3);
        assert_eq!((log.records[0].call.as_str(), log.records[1].call.as_str()), ("open", "write"));
        assert_eq!((log.records[1].fd, log.records[2].space), (Some(31), true));
        assert_eq!(log.summaries.len(), 1);
        let s = &log.summaries[0];
        assert_eq!(s.family("write"), Some(FamilyCount { matching: 1440, faults: 206 }));
        assert_eq!(s.family("sync"), None, "not chosen");
        assert_eq!((s.space_used, s.space_faults), (Some(10485760), Some(3)));
        // A summary of an open-only shim has no families: its totals are open's.
        let open_only: LogSummary = serde_json::from_str(r#"{"summary":true,"pid":1,"matching":60,"faults":8}"#).unwrap();
        assert_eq!(open_only.family("open"), Some(FamilyCount { matching: 60, faults: 8 }));
        assert_eq!(open_only.family("write"), None);
    }
}
