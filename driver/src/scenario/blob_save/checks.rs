//! blob-save's checks, judged locally: pure functions from what was observed
//! (B's `hdb.log`, the shim's fault log and exit summary, API answers) to
//! pass / fail / unknown with the evidence a person needs to believe it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::Serialize;
use serde_json::Value;

use crate::api::shorten;
use crate::cluster_status::peer_sockets;
use crate::fault::{by_pid, FaultRecord, ShimSummary};
use crate::harper_log::{is_failure_line, is_uncaught_blob_failure, numbered, parse_failure_line, quoted_path, LogEntry, LogPatterns};
use crate::model::{Check, Status};

/// `injector-fired`: the shim injected faults, and exactly one per N matching
/// write-opens.
pub fn injector_fired(
    interval: u64,
    records: &[FaultRecord],
    summaries: &[ShimSummary],
    armed_lines: usize,
    blob_files_on_b: Option<u64>,
    log: &Path,
) -> Check {
    const NAME: &str = "injector-fired";
    if records.is_empty() {
        let why = if armed_lines == 0 {
            "the shim never armed on node B (no `blobfail: armed` line on its stderr)".to_string()
        } else {
            format!("the shim armed on node B but logged no fault in {}", log.display())
        };
        return Check::new(NAME, Status::Fail, format!("0 faults injected: {why}"));
    }
    let groups = by_pid(records);
    let mut parts = Vec::new();
    for (pid, recs) in &groups {
        let mut recs = recs.clone();
        recs.sort_by_key(|r| r.fault);
        // The k-th fault must be the (k·N)-th matching call: every Nth fails, no other.
        if let Some((i, r)) = recs.iter().enumerate().find(|(i, r)| r.fault != *i as u64 + 1 || r.seq != r.fault * interval) {
            return Check::new(
                NAME,
                Status::Fail,
                format!(
                    "pid {pid}: fault #{} is matching call {} but every {interval}th call should fail, \
                     so expected fault #{} at call {}",
                    r.fault,
                    r.seq,
                    i + 1,
                    (i as u64 + 1) * interval
                ),
            );
        }
        let k = recs.len() as u64;
        let matching = match (summaries.iter().rev().find(|s| s.pid == *pid), blob_files_on_b) {
            (Some(s), _) => {
                if s.faults != k {
                    return Check::new(
                        NAME,
                        Status::Fail,
                        format!("pid {pid}: the fault log has {k} faults but the shim's exit summary says faults={}", s.faults),
                    );
                }
                let cross = match blob_files_on_b {
                    Some(files) if groups.len() == 1 && files + k == s.matching => {
                        format!(" (= {files} blob files on B + {k} failed opens)")
                    }
                    Some(files) if groups.len() == 1 => {
                        format!(" (B holds {files} blob files, so {files} + {k} ≠ {}: some opens were not one-file-per-blob)", s.matching)
                    }
                    _ => String::new(),
                };
                (s.matching, format!("exit summary matching={}{cross}", s.matching))
            }
            (None, Some(files)) if groups.len() == 1 => {
                (files + k, format!("{files} blob files on B + {k} failed opens = {} write-opens", files + k))
            }
            _ => {
                return Check::new(
                    NAME,
                    Status::Unknown,
                    format!("pid {pid}: {k} faults logged, but no exit summary or blob-file count to compare with"),
                )
            }
        };
        let (matching, source) = matching;
        if k != matching / interval {
            return Check::new(
                NAME,
                Status::Fail,
                format!(
                    "pid {pid}: {k} faults but {source}, and {} / {interval} = {}",
                    matching,
                    matching / interval
                ),
            );
        }
        parts.push(format!(
            "pid {pid}: {k} faults at matching calls {interval}, {}, … {} (every {interval}th); {source}, {matching} / {interval} = {k}",
            2 * interval,
            k * interval
        ));
    }
    Check::new(NAME, Status::Pass, format!("{} faults in {}; {}", records.len(), log.display(), parts.join("; ")))
}

/// `blob-save-failure-logged`: node B logged one contained failure per fault.
pub fn blob_save_failure_logged(faults: usize, entries: &[LogEntry], p: &LogPatterns, log: &Path) -> Check {
    const NAME: &str = "blob-save-failure-logged";
    let found: Vec<&LogEntry> = entries.iter().filter(|e| is_failure_line(e, p)).collect();
    if faults == 0 {
        return Check::new(NAME, Status::Unknown, "no fault was injected, so there was no failure to log");
    }
    if found.len() >= faults {
        let ids: Vec<String> = found.iter().filter_map(|e| parse_failure_line(e.first_line(), p)).map(|(id, _)| id).collect();
        return Check::new(
            NAME,
            Status::Pass,
            format!(
                "{} lines with {:?} in {} for {faults} faults (record ids: {})",
                found.len(),
                p.failure,
                log.display(),
                if ids.is_empty() { "n/a".to_string() } else { ids.join(", ") }
            ),
        );
    }
    // Show what node B logged instead, so the reader sees where the failures went.
    let instead: Vec<String> = entries.iter().filter(|e| is_uncaught_blob_failure(e, p)).map(numbered).collect();
    let mut lines: Vec<String> = found.iter().map(|e| numbered(e)).collect();
    let what_instead = if instead.is_empty() {
        String::new()
    } else {
        format!("; instead it logged {} {} lines:", instead.len(), p.uncaught)
    };
    lines.extend(instead);
    Check::new(
        NAME,
        Status::Fail,
        format!(
            "{} lines with {:?} in {} for {faults} faults{what_instead}",
            found.len(),
            p.failure,
            log.display()
        ),
    )
    .with_lines(lines)
}

/// `no-uncaught-exception`: no uncaught exception on node B is about a blob.
/// `faulted` are the paths whose opens the shim failed, to tie each escaped
/// error to an injected fault.
pub fn no_uncaught_exception(faulted: &[String], entries: &[LogEntry], p: &LogPatterns, log: &Path) -> Check {
    const NAME: &str = "no-uncaught-exception";
    let faults = faulted.len();
    let bad: Vec<&LogEntry> = entries.iter().filter(|e| is_uncaught_blob_failure(e, p)).collect();
    if !bad.is_empty() {
        let paths: BTreeSet<&str> = bad.iter().filter_map(|e| quoted_path(e)).collect();
        let tied = faulted.iter().filter(|f| paths.contains(f.as_str())).count();
        return Check::new(
            NAME,
            Status::Fail,
            format!(
                "{} {} entries about blobs in {}, naming {} distinct files; {tied} of the {faults} faulted paths are among them:",
                bad.len(),
                p.uncaught,
                log.display(),
                paths.len()
            ),
        )
        .with_lines(bad.into_iter().map(numbered).collect());
    }
    if faults == 0 {
        return Check::new(NAME, Status::Unknown, "no fault was injected, so a clean log proves nothing");
    }
    Check::new(
        NAME,
        Status::Pass,
        format!(
            "no {} entry mentions Blob or ENOENT under /blobs/ among {} entries of {} ({faults} faults injected)",
            p.uncaught,
            entries.len(),
            log.display()
        ),
    )
}

/// `peer-connected`: node B still reports node A connected.
pub fn peer_connected(status: Result<&Value, String>, peer: &str) -> Check {
    const NAME: &str = "peer-connected";
    let status = match status {
        Ok(s) => s,
        Err(e) => return Check::new(NAME, Status::Fail, format!("node B did not answer cluster_status: {e}")),
    };
    match peer_sockets(status, peer) {
        Some(p) if p.all_connected() => Check::new(
            NAME,
            Status::Pass,
            format!("node B's cluster_status shows A ({}) with {}", p.url, p.describe()),
        ),
        Some(p) => Check::new(
            NAME,
            Status::Fail,
            format!("node B's cluster_status lists A ({}) but {}", p.url, if p.sockets.is_empty() { "with no database socket".into() } else { p.describe() }),
        ),
        None => Check::new(
            NAME,
            Status::Fail,
            format!("node B's cluster_status does not list A ({peer}): {}", shorten(&status.to_string(), 200)),
        ),
    }
}

/// `liveness`: a fresh upsert on A made B's record count rise.
pub fn liveness(probe_id: &str, before: Option<u64>, after: Option<u64>, seconds: f64, error: Option<&str>) -> Check {
    const NAME: &str = "liveness";
    match (before, after) {
        (Some(b), Some(a)) if a > b => Check::new(
            NAME,
            Status::Pass,
            format!("upsert of {probe_id:?} on A reached B: B's record_count {b} → {a} within {seconds:.2} s"),
        ),
        (Some(b), Some(a)) => Check::new(
            NAME,
            Status::Fail,
            format!("upsert of {probe_id:?} on A did not reach B: B's record_count stayed {a} (was {b}) for {seconds:.1} s"),
        ),
        _ => Check::new(
            NAME,
            Status::Fail,
            format!("could not see the upsert of {probe_id:?} reach B: {}", error.unwrap_or("no record count from B")),
        ),
    }
}

/// What comparing every record of A with B's copy found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LossSurvey {
    pub records_on_a: usize,
    pub records_on_b: usize,
    pub compared: usize,
    pub missing_on_b: Vec<String>,
    /// id → why B could not read the blob back (missing file, hang, error).
    pub blob_unreadable_on_b: BTreeMap<String, String>,
    /// id → (bytes on B, bytes on A).
    pub blob_short_on_b: BTreeMap<String, (u64, u64)>,
    pub blob_differs_on_b: Vec<String>,
    /// Records whose blob A itself could not serve: nothing to compare with.
    pub unreadable_on_a: BTreeMap<String, String>,
}

impl LossSurvey {
    /// The survey's counts, as report.json figures.
    pub fn figures(&self) -> [(&'static str, serde_json::Value); 5] {
        use serde_json::json;
        [
            ("records_compared", json!(self.compared)),
            ("records_missing_on_b", json!(self.missing_on_b.len())),
            ("blobs_unreadable_on_b", json!(self.blob_unreadable_on_b.len())),
            ("blobs_short_on_b", json!(self.blob_short_on_b.len())),
            ("blobs_differing_on_b", json!(self.blob_differs_on_b.len())),
        ]
    }
}

fn id_list<'a>(ids: impl Iterator<Item = &'a String>) -> String {
    let mut ids: Vec<&String> = ids.collect();
    // Numeric ids in numeric order (7 before 11), others after, as text.
    ids.sort_by_key(|id| (id.parse::<u64>().map_or(1, |_| 0), id.parse::<u64>().unwrap_or(0), id.to_string()));
    let shown: Vec<&str> = ids.iter().take(40).map(|s| s.as_str()).collect();
    let more = if ids.len() > 40 { format!(", … ({} more)", ids.len() - 40) } else { String::new() };
    format!("{}{more}", shown.join(", "))
}

/// `nothing-lost`: every record on A is on B with its whole blob.
pub fn nothing_lost(s: &LossSurvey) -> Check {
    const NAME: &str = "nothing-lost";
    let lost = s.missing_on_b.len() + s.blob_unreadable_on_b.len() + s.blob_short_on_b.len() + s.blob_differs_on_b.len();
    if lost > 0 {
        let mut parts = vec![format!(
            "{lost} of {} records on A are lost or damaged on B ({} records on B)",
            s.records_on_a, s.records_on_b
        )];
        if !s.missing_on_b.is_empty() {
            parts.push(format!("missing on B ({}): {}", s.missing_on_b.len(), id_list(s.missing_on_b.iter())));
        }
        if !s.blob_unreadable_on_b.is_empty() {
            let first = s.blob_unreadable_on_b.values().next().cloned().unwrap_or_default();
            parts.push(format!(
                "blob unreadable on B ({}; e.g. {first}): {}",
                s.blob_unreadable_on_b.len(),
                id_list(s.blob_unreadable_on_b.keys())
            ));
        }
        if !s.blob_short_on_b.is_empty() {
            parts.push(format!("blob short on B ({}): {}", s.blob_short_on_b.len(), id_list(s.blob_short_on_b.keys())));
        }
        if !s.blob_differs_on_b.is_empty() {
            parts.push(format!("blob content differs on B ({}): {}", s.blob_differs_on_b.len(), id_list(s.blob_differs_on_b.iter())));
        }
        return Check::new(NAME, Status::Fail, parts.join("\n"));
    }
    if s.compared == 0 || !s.unreadable_on_a.is_empty() {
        return Check::new(
            NAME,
            Status::Unknown,
            format!(
                "compared {} of {} records; A could not serve the blob of {}: {}",
                s.compared,
                s.records_on_a,
                s.unreadable_on_a.len(),
                id_list(s.unreadable_on_a.keys())
            ),
        );
    }
    Check::new(
        NAME,
        Status::Pass,
        format!("all {} records on A are on B with the same blob (size and SHA-256)", s.compared),
    )
}


#[cfg(test)]
mod tests {
    use super::*;
    use crate::harper_log::parse_log;
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

    fn log() -> &'static Path {
        Path::new("node-b/root/log/hdb.log")
    }

    fn rec(seq: u64, fault: u64, pid: u32) -> FaultRecord {
        FaultRecord { seq, fault, pid, tid: pid + 1, function: "open64".into(), path: "/r/blobs/data/0/0/7".into(), flags: 524865, errno: 2 }
    }

    #[test]
    fn on_4_7_29_both_log_checks_fail_with_the_uncaught_lines_as_evidence() {
        let p = LogPatterns::default();
        let e = parse_log(LOG_4_7_29);
        let logged = blob_save_failure_logged(2, &e, &p, log());
        assert_eq!(logged.status, Status::Fail);
        assert!(logged.evidence.starts_with("0 lines with \"Blob save failed for\""), "{}", logged.evidence);
        assert_eq!(logged.lines.len(), 2);
        let faulted = vec!["/tmp/ex2/b/root/blobs/data/0/0/7".to_string(), "/tmp/ex2/b/root/blobs/data/0/0/e".to_string()];
        let uncaught = no_uncaught_exception(&faulted, &e, &p, log());
        assert_eq!(uncaught.status, Status::Fail);
        assert_eq!(uncaught.lines.len(), 2);
        assert_eq!(
            uncaught.lines[0],
            "hdb.log:3: 2026-11-26T05:15:06.511Z [http/1] [error]: uncaughtException [Error: ENOENT: no such file or directory, open '/tmp/ex2/b/root/blobs/data/0/0/7'] {"
        );
        assert!(uncaught.evidence.contains("open '/tmp/ex2/b/root/blobs/data/0/0/e'"));
        assert!(uncaught.evidence.contains("naming 2 distinct files; 2 of the 2 faulted paths are among them"), "{}", uncaught.evidence);
        assert_eq!(quoted_path(&e[2]), Some("/tmp/ex2/b/root/blobs/data/0/0/7"));
    }

    #[test]
    fn on_harper_5_both_log_checks_pass() {
        let p = LogPatterns::default();
        let e = parse_log(LOG_5);
        let logged = blob_save_failure_logged(2, &e, &p, log());
        assert_eq!(logged.status, Status::Pass, "{}", logged.evidence);
        assert!(logged.evidence.contains("record ids: 6, 13"));
        assert_eq!(no_uncaught_exception(&["a".into(), "b".into()], &e, &p, log()).status, Status::Pass);
    }

    #[test]
    fn fewer_failure_lines_than_faults_fails() {
        let p = LogPatterns::default();
        let e = parse_log(LOG_5);
        assert_eq!(blob_save_failure_logged(3, &e, &p, log()).status, Status::Fail);
    }

    #[test]
    fn without_faults_the_log_checks_cannot_pass() {
        let p = LogPatterns::default();
        assert_eq!(blob_save_failure_logged(0, &parse_log(LOG_5), &p, log()).status, Status::Unknown);
        assert_eq!(no_uncaught_exception(&[], &[], &p, log()).status, Status::Unknown);
        // but an escaped failure fails even when the count of faults is unknown
        assert_eq!(no_uncaught_exception(&[], &parse_log(LOG_4_7_29), &p, log()).status, Status::Fail);
    }

    #[test]
    fn custom_patterns_adapt_to_another_harper() {
        let p = LogPatterns { failure: "could not store blob".into(), uncaught: "unhandledRejection".into() };
        let e = parse_log(
            "2026-11-26T05:15:06.511Z [http/1] [error]: could not store blob 9 from a\n\
             2026-11-26T05:15:06.611Z [http/1] [error]: unhandledRejection Blob write failed\n",
        );
        assert_eq!(blob_save_failure_logged(1, &e, &p, log()).status, Status::Pass);
        assert_eq!(no_uncaught_exception(&["x".into()], &e, &p, log()).status, Status::Fail);
    }

    #[test]
    fn injector_passes_when_every_nth_call_failed_and_counts_agree() {
        let recs: Vec<_> = (1..=8).map(|k| rec(7 * k, k, 20916)).collect();
        let s = [ShimSummary { pid: 20916, matching: 60, faults: 8 }];
        let c = injector_fired(7, &recs, &s, 1, Some(52), log());
        assert_eq!(c.status, Status::Pass, "{}", c.evidence);
        assert!(
            c.evidence.contains("exit summary matching=60 (= 52 blob files on B + 8 failed opens), 60 / 7 = 8"),
            "{}",
            c.evidence
        );
        // Without the exit summary (B killed), the blob files on B stand in.
        let c = injector_fired(7, &recs, &[], 1, Some(52), log());
        assert_eq!(c.status, Status::Pass, "{}", c.evidence);
        assert!(c.evidence.contains("52 blob files on B + 8 failed opens = 60 write-opens"), "{}", c.evidence);
    }

    #[test]
    fn injector_fails_when_counts_disagree_with_the_interval() {
        let recs: Vec<_> = (1..=8).map(|k| rec(7 * k, k, 1)).collect();
        let c = injector_fired(7, &recs, &[ShimSummary { pid: 1, matching: 80, faults: 8 }], 1, None, log());
        assert_eq!(c.status, Status::Fail);
        assert!(c.evidence.contains("80 / 7 = 11"), "{}", c.evidence);
        let c = injector_fired(7, &recs, &[ShimSummary { pid: 1, matching: 60, faults: 9 }], 1, None, log());
        assert_eq!(c.status, Status::Fail);
    }

    #[test]
    fn injector_fails_when_a_fault_is_off_the_interval() {
        let recs = vec![rec(7, 1, 1), rec(15, 2, 1)];
        let c = injector_fired(7, &recs, &[ShimSummary { pid: 1, matching: 15, faults: 2 }], 1, None, log());
        assert_eq!(c.status, Status::Fail);
        assert!(c.evidence.contains("fault #2 is matching call 15"), "{}", c.evidence);
    }

    #[test]
    fn injector_fails_without_faults_and_says_whether_the_shim_armed() {
        let c = injector_fired(7, &[], &[], 0, Some(60), log());
        assert_eq!(c.status, Status::Fail);
        assert!(c.evidence.contains("never armed"));
        let c = injector_fired(7, &[], &[], 1, Some(60), log());
        assert!(c.evidence.contains("logged no fault"));
    }

    #[test]
    fn injector_groups_faults_by_process() {
        // A restarted node: a second pid whose counters restart at 0.
        let mut recs: Vec<_> = (1..=2).map(|k| rec(7 * k, k, 10)).collect();
        recs.extend((1..=3).map(|k| rec(7 * k, k, 11)));
        let s = [ShimSummary { pid: 10, matching: 20, faults: 2 }, ShimSummary { pid: 11, matching: 21, faults: 3 }];
        let c = injector_fired(7, &recs, &s, 2, None, log());
        assert_eq!(c.status, Status::Pass, "{}", c.evidence);
    }

    // cluster_status as node B answered it on 4.7.29 (trimmed).
    fn status(connected: bool) -> Value {
        json!({"type":"cluster-status","connections":[{"url":"wss://127.0.0.12:9933","name":"127.0.0.12",
          "database_sockets":[{"database":"system","connected":connected,"threadId":1},{"database":"data","connected":true,"threadId":1}]}],
          "node_name":"127.0.0.13","url":"wss://127.0.0.13:9933","is_enabled":true})
    }

    #[test]
    fn peer_connected_reads_every_database_socket() {
        let c = peer_connected(Ok(&status(true)), "127.0.0.12");
        assert_eq!(c.status, Status::Pass, "{}", c.evidence);
        assert!(c.evidence.contains("system: connected, data: connected"));
        let c = peer_connected(Ok(&status(false)), "127.0.0.12");
        assert_eq!(c.status, Status::Fail);
        assert!(c.evidence.contains("system: not connected"));
        assert_eq!(peer_connected(Ok(&status(true)), "127.0.0.99").status, Status::Fail);
        assert_eq!(peer_connected(Err("connection refused".into()), "127.0.0.12").status, Status::Fail);
    }

    #[test]
    fn liveness_needs_the_count_to_rise() {
        assert_eq!(liveness("p", Some(400), Some(401), 0.4, None).status, Status::Pass);
        assert_eq!(liveness("p", Some(400), Some(400), 30.0, None).status, Status::Fail);
        assert_eq!(liveness("p", None, None, 0.0, Some("refused")).status, Status::Fail);
    }

    #[test]
    fn nothing_lost_lists_lost_records_by_id() {
        let mut s = LossSurvey { records_on_a: 10, records_on_b: 9, compared: 9, ..Default::default() };
        assert_eq!(nothing_lost(&s).status, Status::Pass);
        s.missing_on_b.extend(["11".into(), "4".into(), "x".into()]);
        s.blob_unreadable_on_b.insert("6".into(), "no answer within 4 s".into());
        s.blob_short_on_b.insert("8".into(), (100, 51200));
        let c = nothing_lost(&s);
        assert_eq!(c.status, Status::Fail);
        assert!(c.evidence.contains("missing on B (3): 4, 11, x"), "{}", c.evidence);
        assert!(c.evidence.contains("blob unreadable on B (1; e.g. no answer within 4 s): 6"), "{}", c.evidence);
        assert!(c.evidence.contains("blob short on B (1): 8"), "{}", c.evidence);
    }

    #[test]
    fn nothing_lost_is_unknown_when_a_cannot_serve_what_to_compare() {
        let mut s = LossSurvey { records_on_a: 2, records_on_b: 2, compared: 1, ..Default::default() };
        s.unreadable_on_a.insert("1".into(), "504".into());
        assert_eq!(nothing_lost(&s).status, Status::Unknown);
        assert_eq!(nothing_lost(&LossSurvey::default()).status, Status::Unknown);
    }

}
