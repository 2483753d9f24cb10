//! blob-save's three log checks judged from node B's log alone (an attached
//! cluster, read through `read_log`): the shim's fault log and exit summary
//! stay on B's host, so `injector-fired` is judged from the failed blob opens
//! B's log names.

use std::collections::BTreeSet;

use crate::harper_log::{is_failure_line, is_uncaught_blob_failure, quoted_path, LogEntry, LogPatterns};
use crate::model::{Check, Status};

/// What B's log says about failed blob writes.
#[derive(Debug, Default)]
pub struct RemoteEvidence<'a> {
    /// Escaped failures: uncaught entries about a blob.
    pub escaped: Vec<&'a LogEntry>,
    /// Contained failures: lines with the failure pattern.
    pub contained: Vec<&'a LogEntry>,
    /// Distinct files under `/blobs/` that the escaped entries say failed with ENOENT.
    pub failed_files: BTreeSet<&'a str>,
}

pub fn remote_evidence<'a>(entries: &'a [LogEntry], p: &LogPatterns) -> RemoteEvidence<'a> {
    let escaped: Vec<&LogEntry> = entries.iter().filter(|e| is_uncaught_blob_failure(e, p)).collect();
    let contained = entries.iter().filter(|e| is_failure_line(e, p)).collect();
    let failed_files = escaped
        .iter()
        .filter(|e| e.text.contains("ENOENT"))
        .filter_map(|e| quoted_path(e))
        .filter(|path| path.contains("/blobs/"))
        .collect();
    RemoteEvidence { escaped, contained, failed_files }
}

fn first_lines(entries: &[&LogEntry]) -> Vec<String> {
    entries.iter().map(|e| e.first_line().to_string()).collect()
}

/// `injector-fired`, `blob-save-failure-logged` and `no-uncaught-exception`,
/// judged from B's log alone. A failed blob write shows as an escaped ENOENT
/// under `/blobs/` (4.7.29) or a contained failure line (Harper ≥ 5.0.8);
/// with neither, nothing shows the shim fired, and the log checks cannot
/// decide.
pub fn log_checks(entries: &[LogEntry], p: &LogPatterns, source: &str) -> Vec<Check> {
    let e = remote_evidence(entries, p);
    let (files, contained, escaped) = (e.failed_files.len(), e.contained.len(), e.escaped.len());
    let unreachable = "the shim's fault log and exit summary stay on B's host, out of reach of the operations API, \
                       so every-Nth cannot be checked";
    let seen = files > 0 || contained > 0;
    let injector = if seen {
        Check::new(
            "injector-fired",
            Status::Pass,
            format!(
                "judged from {source}: {files} distinct blob files under /blobs/ failed with ENOENT, \
                 {contained} lines with {:?}, among {} entries since the run began ({unreachable})",
                p.failure,
                entries.len()
            ),
        )
    } else {
        Check::new(
            "injector-fired",
            Status::Unknown,
            format!(
                "{source} shows no failed blob write among {} entries since the run began, and {unreachable}: \
                 is libblobfail.so preloaded and armed on B (its stderr says `blobfail: armed`)?",
                entries.len()
            ),
        )
    };
    let logged = if !seen {
        Check::new("blob-save-failure-logged", Status::Unknown, format!("{source} shows no failed blob write, so there was no failure to log"))
    } else if contained > 0 && contained >= files {
        Check::new(
            "blob-save-failure-logged",
            Status::Pass,
            format!("{contained} lines with {:?} in {source} for {files} blob files that escaped", p.failure),
        )
    } else {
        Check::new(
            "blob-save-failure-logged",
            Status::Fail,
            format!(
                "{contained} lines with {:?} in {source} for {files} blob files that failed with ENOENT; \
                 instead it logged {escaped} {} entries:",
                p.failure, p.uncaught
            ),
        )
        .with_lines(first_lines(&e.contained).into_iter().chain(first_lines(&e.escaped)).collect())
    };
    let uncaught = if escaped > 0 {
        Check::new(
            "no-uncaught-exception",
            Status::Fail,
            format!("{escaped} {} entries about blobs in {source}, naming {files} distinct files:", p.uncaught),
        )
        .with_lines(first_lines(&e.escaped))
    } else if contained > 0 {
        Check::new(
            "no-uncaught-exception",
            Status::Pass,
            format!("no {} entry mentions Blob or ENOENT under /blobs/ among {} entries of {source} ({contained} contained failures)", p.uncaught, entries.len()),
        )
    } else {
        Check::new("no-uncaught-exception", Status::Unknown, format!("{source} shows no failed blob write, so a clean log proves nothing"))
    };
    vec![injector, logged, uncaught]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::harper_log::entry_of;
    use serde_json::json;

    // read_log entries as harperdb 4.7.29 answered them for node B.
    fn entries_4_7_29() -> Vec<LogEntry> {
        let v = json!([
            {"timestamp":"2026-11-26T06:09:18.479Z","thread":"main/0","level":"notify","tags":[],"message":"HarperDB successfully started."},
            {"timestamp":"2026-11-26T06:09:21.909Z","thread":"http/1","level":"error","tags":[],"message":"uncaughtException [Error: ENOENT: no such file or directory, open '/r/b/root/blobs/data/0/0/e'] {\n  errno: -2,\n  code: 'ENOENT',\n  syscall: 'open',\n  path: '/r/b/root/blobs/data/0/0/e'\n}"},
            {"timestamp":"2026-11-26T06:09:21.931Z","thread":"http/1","level":"error","tags":[],"message":"uncaughtException [Error: ENOENT: no such file or directory, open '/r/b/root/blobs/data/0/0/15'] {\n  errno: -2\n}"},
            {"timestamp":"2026-11-26T06:09:21.932Z","thread":"http/1","level":"error","tags":[],"message":"uncaughtException [Error: ENOENT: no such file or directory, open '/r/b/root/blobs/data/0/0/15'] {\n  errno: -2\n}"}
        ]);
        v.as_array().unwrap().iter().filter_map(entry_of).map(|(_, e)| e).collect()
    }

    #[test]
    fn on_4_7_29_the_log_shows_the_injector_fired_and_both_log_checks_fail() {
        let entries = entries_4_7_29();
        let c = log_checks(&entries, &LogPatterns::default(), "node B's log");
        let status: Vec<Status> = c.iter().map(|c| c.status).collect();
        assert_eq!(status, [Status::Pass, Status::Fail, Status::Fail]);
        assert!(c[0].evidence.starts_with("judged from node B's log: 2 distinct blob files under /blobs/ failed with ENOENT, 0 lines"), "{}", c[0].evidence);
        assert!(c[0].evidence.contains("fault log and exit summary stay on B's host"), "{}", c[0].evidence);
        assert!(c[2].evidence.starts_with("3 uncaughtException entries about blobs in node B's log, naming 2 distinct files:"), "{}", c[2].evidence);
        assert_eq!(c[2].lines[0], "2026-11-26T06:09:21.909Z [http/1] [error]: uncaughtException [Error: ENOENT: no such file or directory, open '/r/b/root/blobs/data/0/0/e'] {");
    }

    #[test]
    fn contained_failures_pass_and_a_quiet_log_decides_nothing() {
        let p = LogPatterns::default();
        let contained: Vec<LogEntry> = [6, 13]
            .iter()
            .map(|id| LogEntry { line: 0, text: format!("2026-11-26T05:15:06.511Z [http/1] [error] [replication]: Blob save failed for {id} from a") })
            .collect();
        let c = log_checks(&contained, &p, "B");
        assert_eq!(c.iter().map(|c| c.status).collect::<Vec<_>>(), [Status::Pass, Status::Pass, Status::Pass]);
        let quiet = &entries_4_7_29()[..1];
        let c = log_checks(quiet, &p, "B");
        assert_eq!(c.iter().map(|c| c.status).collect::<Vec<_>>(), [Status::Unknown, Status::Unknown, Status::Unknown]);
        assert!(c[0].evidence.contains("is libblobfail.so preloaded and armed on B"), "{}", c[0].evidence);
    }

}
