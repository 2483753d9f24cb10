//! Harper's log, read two ways: `hdb.log` split into entries (a timestamped
//! line and its continuation lines), and `read_log` answers turned into the
//! same entries; and the patterns the checks look for in them.

use std::path::Path;

use serde_json::Value;

/// What Harper writes to its log at every start (`HarperDB successfully
/// started.` on 4.7.29): a log without it is not a log the checks can see.
pub const STARTED: &str = "successfully started";

/// A node's own log file, or why the checks cannot see through it: it is
/// missing, unreadable, or holds none of the lines Harper writes at every
/// start (then it is not this node's log, or the node logs elsewhere).
pub fn read_node_log(path: &Path) -> Result<String, String> {
    let text = read_output(path)?;
    if !text.contains(STARTED) {
        return Err(format!(
            "{} holds none of the lines Harper writes at every start (\"{STARTED}\"; {} bytes): it is not the node's log, \
             or the node logs elsewhere",
            path.display(),
            text.len()
        ));
    }
    Ok(text)
}

/// A node's output file (stdout, stderr), or why it cannot be read.
pub fn read_output(path: &Path) -> Result<String, String> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(String::from_utf8_lossy(&bytes).into_owned()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Err(format!("{} does not exist: the node wrote it elsewhere, or not at all", path.display()))
        }
        Err(e) => Err(format!("{} could not be read: {e}", path.display())),
    }
}

/// The log patterns, options so a user can adapt them to another Harper.
#[derive(Debug, Clone)]
pub struct LogPatterns {
    /// A line per contained blob-save failure (Harper ≥ 5.0.8).
    pub failure: String,
    /// A failure that escaped to the process's last-resort handler.
    pub uncaught: String,
}

impl Default for LogPatterns {
    fn default() -> Self {
        Self { failure: "Blob save failed for".into(), uncaught: "uncaughtException".into() }
    }
}

/// One log entry: a timestamped line and its continuation lines (Harper
/// prints an error's fields on the lines after it).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LogEntry {
    /// 1-based line number of the entry's first line.
    pub line: usize,
    pub text: String,
}

impl LogEntry {
    pub fn first_line(&self) -> &str {
        self.text.lines().next().unwrap_or("")
    }
}

fn starts_with_timestamp(l: &str) -> bool {
    let b = l.as_bytes();
    b.len() > 11 && b[..4].iter().all(u8::is_ascii_digit) && b[4] == b'-' && b[7] == b'-' && b[10] == b'T'
}

/// Splits an `hdb.log` into entries.
pub fn parse_log(text: &str) -> Vec<LogEntry> {
    let mut entries: Vec<LogEntry> = Vec::new();
    for (i, l) in text.lines().enumerate() {
        match entries.last_mut() {
            Some(e) if !starts_with_timestamp(l) => {
                e.text.push('\n');
                e.text.push_str(l);
            }
            _ => entries.push(LogEntry { line: i + 1, text: l.to_string() }),
        }
    }
    entries
}

/// An uncaught exception that is about a blob: it mentions `Blob`, or
/// `ENOENT` together with a path under `/blobs/`.
pub fn is_uncaught_blob_failure(e: &LogEntry, p: &LogPatterns) -> bool {
    e.first_line().contains(&p.uncaught)
        && (e.text.contains("Blob") || (e.text.contains("ENOENT") && e.text.contains("/blobs/")))
}

/// What ties an escaped error to the injected fault: the errno's code the
/// shim returned, and the files it faulted (paths, and the paths of the
/// descriptors it faulted).
#[derive(Debug, Clone, Default)]
pub struct FaultSignature {
    /// `ENOSPC`, `EIO`, … (None for a plan that fails nothing, e.g. a slow disk).
    pub errno: Option<String>,
    pub paths: std::collections::BTreeSet<String>,
}

/// Why an uncaught exception is tied to the fault (the first reason that holds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Tie {
    /// It names a file the shim faulted.
    FaultedPath,
    /// It mentions a blob (`Blob is incomplete`, `Error in blob`, a path under `/blobs/`).
    Blob,
    /// It carries the injected errno's code (`Error: ENOSPC: …, write`: no path, no blob).
    Errno,
}

impl Tie {
    pub fn describe(self) -> &'static str {
        match self {
            Tie::FaultedPath => "name a faulted file",
            Tie::Blob => "mention a blob",
            Tie::Errno => "carry the injected errno only",
        }
    }
}

impl FaultSignature {
    /// Whether an `uncaught` entry is tied to the fault, and how. ENOENT
    /// alone ties nothing: a missing file is too common an error to pin on
    /// the shim without a blob or a faulted path in it.
    pub fn tie(&self, e: &LogEntry, p: &LogPatterns) -> Option<Tie> {
        if !e.first_line().contains(&p.uncaught) {
            return None;
        }
        if self.paths.iter().any(|f| !f.is_empty() && e.text.contains(f.as_str())) {
            return Some(Tie::FaultedPath);
        }
        if e.text.contains("Blob") || e.text.contains("blob") {
            return Some(Tie::Blob);
        }
        match self.errno.as_deref() {
            Some(code) if code != "ENOENT" && (e.text.contains(&format!("{code}:")) || e.text.contains(&format!("'{code}'"))) => {
                Some(Tie::Errno)
            }
            _ => None,
        }
    }
}

/// A contained blob-save failure line, e.g. Harper 5's
/// `[error] [replication]: Blob save failed for <id> from <peer>`.
pub fn is_failure_line(e: &LogEntry, p: &LogPatterns) -> bool {
    e.first_line().contains(&p.failure)
}

/// The record id and peer in a Harper 5 failure line.
pub fn parse_failure_line(line: &str, p: &LogPatterns) -> Option<(String, String)> {
    let rest = &line[line.find(&p.failure)? + p.failure.len()..];
    let (id, peer) = rest.trim().split_once(" from ")?;
    Some((id.trim().to_string(), peer.trim().to_string()))
}


/// `hdb.log:<line>: <first line>`: how the evidence quotes a local log entry.
pub fn numbered(e: &LogEntry) -> String {
    format!("hdb.log:{}: {}", e.line, e.first_line())
}

/// The file an escaped error names (`open '<path>'`), if any.
pub fn quoted_path(entry: &LogEntry) -> Option<&str> {
    let rest = &entry.text[entry.text.find("open '")? + "open '".len()..];
    Some(&rest[..rest.find('\'')?])
}

/// One `read_log` entry as its log line and continuation lines, so the
/// local log predicates apply unchanged. 4.7.29 answers
/// `{timestamp, thread, level, tags, message}`, the message holding an
/// error's continuation lines (verified).
pub fn entry_of(v: &Value) -> Option<(String, LogEntry)> {
    let ts = v.get("timestamp")?.as_str()?.to_string();
    let thread = v.get("thread").and_then(Value::as_str).unwrap_or("?");
    let level = v.get("level").and_then(Value::as_str).unwrap_or("?");
    let tags: String = v
        .get("tags")
        .and_then(Value::as_array)
        .map(|t| t.iter().filter_map(Value::as_str).map(|t| format!(" [{t}]")).collect())
        .unwrap_or_default();
    let message = v.get("message").and_then(Value::as_str).unwrap_or("");
    let text = format!("{ts} [{thread}] [{level}]{tags}: {message}");
    Some((ts, LogEntry { line: 0, text }))
}

/// Milliseconds since the epoch as Harper's log timestamp,
/// `2026-11-26T06:09:21.909Z` (UTC; days to a civil date after H. Hinnant).
pub fn log_timestamp(ms: u64) -> String {
    let (days, rem) = ((ms / 86_400_000) as i64, ms % 86_400_000);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let (h, m, s, milli) = (rem / 3_600_000, rem / 60_000 % 60, rem / 1000 % 60, rem % 1000);
    format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{milli:03}Z")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_log_is_seen_only_when_it_exists_reads_and_holds_the_start_line() {
        let dir = std::env::temp_dir().join(format!("blobfail-log-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let missing = dir.join("missing.log");
        assert_eq!(read_node_log(&missing).unwrap_err(), format!("{} does not exist: the node wrote it elsewhere, or not at all", missing.display()));
        let empty = dir.join("empty.log");
        std::fs::write(&empty, "").unwrap();
        assert_eq!(
            read_node_log(&empty).unwrap_err(),
            format!("{} holds none of the lines Harper writes at every start (\"successfully started\"; 0 bytes): it is not the node's log, or the node logs elsewhere", empty.display())
        );
        assert_eq!(read_output(&empty).unwrap(), "");
        let ok = dir.join("hdb.log");
        std::fs::write(&ok, "2026-11-26T05:04:47.241Z [main/0] [notify]: HarperDB successfully started.\n").unwrap();
        assert!(read_node_log(&ok).is_ok());
        // A folder where the file should be cannot be read.
        assert!(read_node_log(&dir).unwrap_err().contains("could not be read"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
    use serde_json::json;


    // Real lines from node B's hdb.log under harperdb 4.7.29 with every 7th
    // blob write-open failing.
    const LOG_4_7_29: &str = "\
2026-11-26T05:04:47.241Z [main/0] [notify]: HarperDB successfully started.
2026-11-26T05:04:50.283Z [http/1] [warn] [replication]: Requesting full copy of database data from wss://127.0.0.12:9933
2026-11-26T05:15:06.511Z [http/1] [error]: uncaughtException [Error: ENOENT: no such file or directory, open '/tmp/ex2/b/root/blobs/data/0/0/7'] {
  errno: -2,
  code: 'ENOENT',
  syscall: 'open',
  path: '/tmp/ex2/b/root/blobs/data/0/0/7'
}
2026-11-26T05:15:06.614Z [http/1] [error]: uncaughtException [Error: ENOENT: no such file or directory, open '/tmp/ex2/b/root/blobs/data/0/0/e'] {
  errno: -2,
  code: 'ENOENT',
  syscall: 'open',
  path: '/tmp/ex2/b/root/blobs/data/0/0/e'
}
";
    // The line Harper 5 (harper-pro ≥ 5.0.8) logs for a contained failure.
    const LOG_5: &str = "\
2026-11-26T05:15:06.511Z [http/1] [error] [replication]: Blob save failed for 6 from 127.0.0.12
2026-11-26T05:15:06.614Z [http/1] [error] [replication]: Blob save failed for 13 from 127.0.0.12
";

    #[test]
    fn log_entries_keep_an_errors_continuation_lines() {
        let e = parse_log(LOG_4_7_29);
        assert_eq!(e.len(), 4);
        assert_eq!(e[2].line, 3);
        assert!(e[2].text.contains("code: 'ENOENT'"));
        assert!(e[2].first_line().ends_with("blobs/data/0/0/7'] {"));
    }

    #[test]
    fn the_4_7_29_uncaught_enoent_under_blobs_is_an_escaped_blob_failure() {
        let p = LogPatterns::default();
        let e = parse_log(LOG_4_7_29);
        let hits: Vec<_> = e.iter().filter(|x| is_uncaught_blob_failure(x, &p)).collect();
        assert_eq!(hits.len(), 2);
        assert!(!e.iter().any(|x| is_failure_line(x, &p)));
    }

    #[test]
    fn an_uncaught_exception_about_something_else_is_not_counted() {
        let p = LogPatterns::default();
        let e = parse_log(
            "2026-11-26T05:15:06.511Z [http/1] [error]: uncaughtException [Error: ENOENT: no such file or directory, open '/r/config/x.yaml'] {\n}\n\
             2026-11-26T05:15:06.511Z [http/1] [error]: uncaughtException [TypeError: x is undefined]\n",
        );
        assert!(!e.iter().any(|x| is_uncaught_blob_failure(x, &p)));
        let e = parse_log("2026-11-26T05:15:06.511Z [http/1] [error]: uncaughtException [Error: Blob is not ready]\n");
        assert!(is_uncaught_blob_failure(&e[0], &p));
    }

    #[test]
    fn the_harper_5_failure_line_matches_and_yields_id_and_peer() {
        let p = LogPatterns::default();
        let e = parse_log(LOG_5);
        assert!(e.iter().all(|x| is_failure_line(x, &p)));
        assert_eq!(parse_failure_line(e[1].first_line(), &p), Some(("13".into(), "127.0.0.12".into())));
        assert!(!e.iter().any(|x| is_uncaught_blob_failure(x, &p)));
    }


    #[test]
    fn a_read_log_entry_becomes_the_log_line_it_came_from() {
        let (ts, e) = entry_of(&json!({"timestamp":"2026-11-26T05:15:06.511Z","thread":"http/1","level":"error",
            "tags":["replication"],"message":"Blob save failed for 6 from 127.0.0.12"}))
        .unwrap();
        assert_eq!(ts, "2026-11-26T05:15:06.511Z");
        assert_eq!(e.text, "2026-11-26T05:15:06.511Z [http/1] [error] [replication]: Blob save failed for 6 from 127.0.0.12");
        assert_eq!(parse_log(&e.text)[0].text, e.text);
    }

    #[test]
    fn epoch_milliseconds_become_harpers_log_timestamps() {
        assert_eq!(log_timestamp(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(log_timestamp(1_795_673_370_612), "2026-11-26T06:09:30.612Z");
        assert_eq!(log_timestamp(951_782_400_001), "2000-02-29T00:00:00.001Z");
    }

    #[test]
    fn escaped_write_faults_are_tied_by_errno_blob_or_path() {
        let p = LogPatterns::default();
        let sig = FaultSignature { errno: Some("ENOSPC".into()), paths: ["/r/blobs/data/0/0/7".to_string()].into() };
        let e = parse_log(
            "2026-11-26T05:15:06.511Z [http/1] [error]: uncaughtException [Error: ENOSPC: no space left on device, write] {\n  code: 'ENOSPC'\n}\n\
             2026-11-26T05:15:06.512Z [http/1] [error]: uncaughtException Error: Blob is incomplete\n\
             2026-11-26T05:15:06.513Z [http/1] [error]: uncaughtException [Error: EIO: i/o error, fsync '/r/blobs/data/0/0/7']\n\
             2026-11-26T05:15:06.514Z [http/1] [error]: uncaughtException [Error: ENOENT: no such file or directory, open '/r/config.yaml']\n\
             2026-11-26T05:15:06.515Z [http/1] [error]: something else ENOSPC: Blob\n",
        );
        let ties: Vec<Option<Tie>> = e.iter().map(|x| sig.tie(x, &p)).collect();
        assert_eq!(ties, [Some(Tie::Errno), Some(Tie::Blob), Some(Tie::FaultedPath), None, None]);
        let enoent = FaultSignature { errno: Some("ENOENT".into()), ..Default::default() };
        assert_eq!(enoent.tie(&e[3], &p), None, "ENOENT alone ties nothing");
    }

    #[test]
    fn quoted_paths_are_found_in_escaped_errors() {
        let e = parse_log(LOG_4_7_29);
        assert_eq!(quoted_path(&e[2]), Some("/tmp/ex2/b/root/blobs/data/0/0/7"));
        assert_eq!(quoted_path(&e[0]), None);
    }
}
