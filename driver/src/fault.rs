//! The fault: which node gets the preload shim, with which settings, and
//! reading back what the shim says it did (its fault log and the lines it
//! prints on stderr when armed and at exit).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use serde::Deserialize;

/// What is injected, and where it is recorded.
#[derive(Debug, Clone)]
pub struct FaultPlan {
    pub shim: PathBuf,
    /// Every Nth matching write-open fails.
    pub interval: u64,
    /// Substring of the path that makes an open "matching".
    pub path: String,
    pub errno: String,
    pub log: PathBuf,
}

impl FaultPlan {
    /// Every `interval`-th blob write-open fails with ENOENT, as Harper's own
    /// injector did: the plan both scenarios use.
    pub fn blob_writes(shim: PathBuf, interval: u64, log: PathBuf) -> FaultPlan {
        FaultPlan { shim, interval, path: "/blobs/".into(), errno: "ENOENT".into(), log }
    }

    /// The environment that arms the shim in the faulted node only.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("LD_PRELOAD".into(), self.shim.display().to_string()),
            ("HARPER_TEST_BLOB_FAIL_INTERVAL".into(), self.interval.to_string()),
            ("HARPER_TEST_BLOB_FAIL_PATH".into(), self.path.clone()),
            ("HARPER_TEST_BLOB_FAIL_OPS".into(), "write".into()),
            ("HARPER_TEST_BLOB_FAIL_ERRNO".into(), self.errno.clone()),
            ("HARPER_TEST_BLOB_FAIL_LOG".into(), self.log.display().to_string()),
            // libuv could open files through io_uring, which no preload sees.
            ("UV_USE_IO_URING".into(), "0".into()),
        ]
    }
}

/// `--shim PATH` if given, else `libblobfail.so` next to this executable.
pub fn find_shim(explicit: Option<&Path>) -> Result<PathBuf> {
    let path = match explicit {
        Some(p) => p.to_path_buf(),
        None => {
            let exe = std::env::current_exe().context("failed to find the driver's own path")?;
            exe.parent().map(|d| d.join("libblobfail.so")).ok_or_else(|| anyhow!("the driver has no folder"))?
        }
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
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct FaultRecord {
    /// The k-th matching call in that process.
    pub seq: u64,
    /// The running fault number in that process.
    pub fault: u64,
    pub pid: u32,
    #[serde(default)]
    pub tid: u32,
    #[serde(default)]
    pub function: String,
    pub path: String,
    #[serde(default)]
    pub flags: i64,
    #[serde(default)]
    pub errno: i32,
}

/// Reads the fault log; a log that does not exist means no fault was injected.
pub fn read_fault_log(path: &Path) -> Result<Vec<FaultRecord>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("failed to read the fault log {}", path.display())),
    };
    parse_fault_log(&text).with_context(|| format!("in the fault log {}", path.display()))
}

pub fn parse_fault_log(text: &str) -> Result<Vec<FaultRecord>> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| serde_json::from_str(l).with_context(|| format!("line {} is not a fault record: {l}", i + 1)))
        .collect()
}

/// Faults grouped by the process that injected them (counters are per process).
pub fn by_pid(records: &[FaultRecord]) -> BTreeMap<u32, Vec<&FaultRecord>> {
    let mut m: BTreeMap<u32, Vec<&FaultRecord>> = BTreeMap::new();
    for r in records {
        m.entry(r.pid).or_default().push(r);
    }
    m
}

/// The shim's exit line: `blobfail: summary pid=<pid> matching=<n> faults=<n>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShimSummary {
    pub pid: u32,
    pub matching: u64,
    pub faults: u64,
}

pub fn parse_summaries(stderr: &str) -> Vec<ShimSummary> {
    stderr
        .lines()
        .filter_map(|l| {
            let rest = l.trim().strip_prefix("blobfail: summary ")?;
            let field = |k: &str| -> Option<u64> {
                rest.split_whitespace().find_map(|kv| kv.strip_prefix(k)?.strip_prefix('=')?.parse().ok())
            };
            Some(ShimSummary { pid: field("pid")? as u32, matching: field("matching")?, faults: field("faults")? })
        })
        .collect()
}

/// The shim's load lines (`blobfail: armed pid=...`), proof it was preloaded.
pub fn armed_lines(stderr: &str) -> Vec<String> {
    stderr.lines().filter(|l| l.trim_start().starts_with("blobfail: armed ")).map(|l| l.trim().to_string()).collect()
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
        let r = parse_fault_log(&format!("{REAL}\n\n")).unwrap();
        assert_eq!(r.len(), 1);
        assert_eq!((r[0].seq, r[0].fault, r[0].pid, r[0].errno), (7, 1, 20916, 2));
        assert_eq!(r[0].path, "/tmp/ex2/b/root/blobs/data/0/0/7");
    }

    #[test]
    fn a_garbled_fault_log_line_is_an_error_naming_the_line() {
        let err = parse_fault_log(&format!("{REAL}\nnot json\n")).unwrap_err();
        assert!(format!("{err:#}").contains("line 2"), "{err:#}");
    }

    #[test]
    fn parses_summary_and_armed_lines_among_other_stderr() {
        let stderr = "blobfail: armed pid=20916 interval=7 path=/blobs/ ops=write errno=ENOENT skip=0 max=none log=/x\n\
                      some node warning\n\
                      blobfail: summary pid=20916 matching=60 faults=8\n";
        assert_eq!(parse_summaries(stderr), vec![ShimSummary { pid: 20916, matching: 60, faults: 8 }]);
        assert_eq!(armed_lines(stderr).len(), 1);
    }

    #[test]
    fn plan_env_arms_the_shim_and_disables_io_uring() {
        let plan = FaultPlan {
            shim: "/x/libblobfail.so".into(),
            interval: 7,
            path: "/blobs/".into(),
            errno: "ENOENT".into(),
            log: "/run/faults.jsonl".into(),
        };
        let env: BTreeMap<_, _> = plan.env().into_iter().collect();
        assert_eq!(env["LD_PRELOAD"], "/x/libblobfail.so");
        assert_eq!(env["HARPER_TEST_BLOB_FAIL_INTERVAL"], "7");
        assert_eq!(env["HARPER_TEST_BLOB_FAIL_LOG"], "/run/faults.jsonl");
        assert_eq!(env["UV_USE_IO_URING"], "0");
    }
}
