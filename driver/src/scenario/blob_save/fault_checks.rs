//! blob-save's checks that follow the injected fault, judged locally: did
//! B contain each damaged blob (`blob-save-failure-logged`,
//! `no-uncaught-exception`), and do reads of the damaged records get an
//! answer without escaping (`damaged-reads-contained`). Pure functions from
//! what was observed (the shim's records, B's `hdb.log`, the reads) to a
//! verdict; `injector-fired` is in `injector`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::fault::{FaultRecord, PlanSpec};
use crate::harper_log::{is_failure_line, numbered, parse_failure_line, quoted_path, FaultSignature, LogEntry, LogPatterns, Tie};
use super::checks::id_list;
use crate::model::{Check, Status};

/// The files the shim faulted, by path and by descriptor, to tie escaped
/// errors to them.
pub fn signature(spec: &PlanSpec, records: &[FaultRecord]) -> FaultSignature {
    FaultSignature {
        errno: spec.fault.effect().errno().map(str::to_string),
        paths: records.iter().map(|r| r.path.trim_end_matches(" (deleted)").to_string()).filter(|p| !p.is_empty()).collect(),
    }
}

/// `blob-save-failure-logged`: node B logged a contained failure naming
/// each damaged record, matched by id; the ids without a line are named.
/// Without the survey (`damaged` unknown) the lines cannot be matched to
/// records: fewer lines than faults is a failure, as many is undecided.
pub fn blob_save_failure_logged(
    damaged: Option<&BTreeSet<String>>,
    faults: usize,
    entries: &[LogEntry],
    p: &LogPatterns,
    sig: &FaultSignature,
    log: &Path,
) -> Check {
    const NAME: &str = "blob-save-failure-logged";
    let found: Vec<&LogEntry> = entries.iter().filter(|e| is_failure_line(e, p)).collect();
    let logged: BTreeSet<String> = found.iter().filter_map(|e| parse_failure_line(e.first_line(), p)).map(|(id, _)| id).collect();
    let (expected, what) = match damaged {
        Some(d) => (d.len(), format!("{} damaged blobs on B ({faults} faults)", d.len())),
        None => (faults, format!("{faults} faults (the damage on B could not be surveyed)")),
    };
    if expected == 0 {
        let why = if faults == 0 { "no call failed" } else { "no blob ended damaged on B" };
        return Check::new(NAME, Status::Unknown, format!("{why}, so there was no failure to log ({} lines with {:?})", found.len(), p.failure));
    }
    let head = format!("{} lines with {:?} in {} for {what}", found.len(), p.failure, log.display());
    let unlogged: Vec<&String> = match damaged {
        Some(d) => d.iter().filter(|id| !logged.contains(*id)).collect(),
        None if found.len() >= expected => {
            return Check::new(
                NAME,
                Status::Unknown,
                format!("{head}: without the survey of B's records the lines cannot be matched to damaged records"),
            );
        }
        None => Vec::new(),
    };
    if damaged.is_some() && unlogged.is_empty() {
        return Check::new(NAME, Status::Pass, format!("{head}: every damaged record is named by one (record ids: {})", id_list(logged.iter())));
    }
    // Show what node B logged instead, so the reader sees where the failures went.
    let instead: Vec<String> = entries.iter().filter(|e| sig.tie(e, p).is_some()).map(numbered).collect();
    let mut lines: Vec<String> = found.iter().map(|e| numbered(e)).collect();
    let without = if unlogged.is_empty() {
        String::new()
    } else {
        format!("; {} damaged records have no line: {}", unlogged.len(), id_list(unlogged.into_iter()))
    };
    let what_instead =
        if instead.is_empty() { String::new() } else { format!("; instead it logged {} {} lines:", instead.len(), p.uncaught) };
    lines.extend(instead);
    Check::new(NAME, Status::Fail, format!("{head}{without}{what_instead}")).with_lines(lines)
}

/// The entries tied to the fault, and how many of each tie.
fn tied<'e>(entries: &'e [LogEntry], p: &LogPatterns, sig: &FaultSignature) -> (Vec<&'e LogEntry>, String) {
    let mut by: BTreeMap<Tie, usize> = BTreeMap::new();
    let hits: Vec<&LogEntry> = entries
        .iter()
        .filter(|e| match sig.tie(e, p) {
            Some(t) => {
                *by.entry(t).or_default() += 1;
                true
            }
            None => false,
        })
        .collect();
    let how = by.iter().map(|(t, n)| format!("{n} {}", t.describe())).collect::<Vec<_>>().join(", ");
    (hits, how)
}

/// `no-uncaught-exception`: no uncaught exception on node B is tied to the
/// injected fault (its errno, a blob, a faulted file).
pub fn no_uncaught_exception(sig: &FaultSignature, faults: usize, entries: &[LogEntry], p: &LogPatterns, log: &Path) -> Check {
    const NAME: &str = "no-uncaught-exception";
    let (bad, how) = tied(entries, p, sig);
    if !bad.is_empty() {
        let paths: BTreeSet<&str> = bad.iter().filter_map(|e| quoted_path(e)).collect();
        let named = sig.paths.iter().filter(|f| bad.iter().any(|e| e.text.contains(f.as_str()))).count();
        return Check::new(
            NAME,
            Status::Fail,
            format!(
                "{} {} entries tied to the injected fault in {} ({how}), naming {} distinct files; {named} of the {} faulted paths are among them:",
                bad.len(),
                p.uncaught,
                log.display(),
                paths.len(),
                sig.paths.len()
            ),
        )
        .with_lines(bad.into_iter().map(numbered).collect());
    }
    if faults == 0 {
        return Check::new(NAME, Status::Unknown, "no call failed, so a clean log proves nothing");
    }
    Check::new(
        NAME,
        Status::Pass,
        format!(
            "no {} entry mentions a blob, {} or a faulted file among {} entries of {} ({faults} faults injected)",
            p.uncaught,
            sig.errno.as_deref().unwrap_or("the errno"),
            entries.len(),
            log.display()
        ),
    )
}

/// How a read of a damaged record on B ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadEnd {
    /// An answer within the bound (an error status is an answer).
    Answered(String),
    /// No answer within the bound.
    Hung,
    /// No answer: the connection failed or was closed first (why).
    Cut(String),
}

/// `damaged-reads-contained`: every read of a damaged record on B got an
/// answer within `bound_s`, and B's log gained no uncaught exception tied
/// to the fault while they ran (`since`: the entries after the log was judged).
pub fn damaged_reads_contained(
    reads: &BTreeMap<String, ReadEnd>,
    bound_s: f64,
    since: &[LogEntry],
    p: &LogPatterns,
    sig: &FaultSignature,
    log: &Path,
) -> Check {
    const NAME: &str = "damaged-reads-contained";
    if reads.is_empty() {
        return Check::new(NAME, Status::Unknown, "no record was damaged on B, so no read of one to judge");
    }
    let mut ids: Vec<&String> = reads.keys().collect();
    // Numeric ids in numeric order (7 before 11).
    ids.sort_by_key(|id| (id.parse::<u64>().map_or(1, |_| 0), id.parse::<u64>().unwrap_or(0), id.to_string()));
    let hung: Vec<&String> = ids.iter().copied().filter(|id| reads[*id] == ReadEnd::Hung).collect();
    let cut: Vec<&String> = ids.iter().copied().filter(|id| matches!(reads[*id], ReadEnd::Cut(_))).collect();
    let group = |want: fn(&ReadEnd) -> Option<&str>| -> String {
        let mut by: BTreeMap<&str, usize> = BTreeMap::new();
        for e in reads.values() {
            if let Some(a) = want(e) {
                *by.entry(a).or_default() += 1;
            }
        }
        let text = by.iter().map(|(a, n)| format!("{n} {a}")).collect::<Vec<_>>().join(", ");
        if text.is_empty() { text } else { format!(" ({text})") }
    };
    let answered = reads.len() - hung.len() - cut.len();
    let (escaped, how) = tied(since, p, sig);
    let mut evidence = format!(
        "{} reads of damaged records on B: {} hung (no answer within {bound_s:.1} s), {} cut off without an answer{}, {answered} answered{}",
        reads.len(),
        hung.len(),
        cut.len(),
        group(|e| if let ReadEnd::Cut(w) = e { Some(w.as_str()) } else { None }),
        group(|e| if let ReadEnd::Answered(a) = e { Some(a.as_str()) } else { None }),
    );
    for (what, list) in [("hung", &hung), ("cut off", &cut)] {
        if !list.is_empty() {
            let shown: Vec<&str> = list.iter().take(20).map(|s| s.as_str()).collect();
            evidence.push_str(&format!("; {what}: {}{}", shown.join(", "), if list.len() > 20 { ", …" } else { "" }));
        }
    }
    evidence.push_str(&format!(
        "; B's log ({}) gained {} {} entries tied to the fault during the reads{}",
        log.display(),
        escaped.len(),
        p.uncaught,
        if escaped.is_empty() { String::new() } else { format!(" ({how}):") }
    ));
    let status = if hung.is_empty() && cut.is_empty() && escaped.is_empty() { Status::Pass } else { Status::Fail };
    Check::new(NAME, status, evidence).with_lines(escaped.into_iter().map(numbered).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::harper_log::parse_log;

    // Real lines from node B's hdb.log under harperdb 4.7.29 with every 7th
    // blob write-open failing.
    const LOG_4_7_29: &str = "\
2026-11-26T05:04:47.241Z [main/0] [notify]: HarperDB successfully started.
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
    // Escaped write faults name no path and no blob (4.7.29, every 7th write failing).
    const LOG_ENOSPC: &str = "\
2026-11-26T05:15:06.511Z [http/1] [error]: uncaughtException [Error: ENOSPC: no space left on device, write] {
  errno: -28,
  code: 'ENOSPC',
  syscall: 'write'
}
";
    const LOG_5: &str = "\
2026-11-26T05:15:06.511Z [http/1] [error] [replication]: Blob save failed for 6 from 127.0.0.12
2026-11-26T05:15:06.614Z [http/1] [error] [replication]: Blob save failed for 13 from 127.0.0.12
";

    fn log() -> &'static Path {
        Path::new("node-b/root/log/hdb.log")
    }

    fn ids(list: &[&str]) -> BTreeSet<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn sig(errno: &str, paths: &[&str]) -> FaultSignature {
        FaultSignature { errno: Some(errno.into()), paths: paths.iter().map(|p| p.to_string()).collect() }
    }

    #[test]
    fn on_4_7_29_both_log_checks_fail_with_the_uncaught_lines_as_evidence() {
        let p = LogPatterns::default();
        let e = parse_log(LOG_4_7_29);
        let s = sig("ENOENT", &["/tmp/ex2/b/root/blobs/data/0/0/7", "/tmp/ex2/b/root/blobs/data/0/0/e"]);
        let logged = blob_save_failure_logged(Some(&ids(&["7", "14"])), 2, &e, &p, &s, log());
        assert_eq!(logged.status, Status::Fail);
        assert!(
            logged.evidence.starts_with(
                "0 lines with \"Blob save failed for\" in node-b/root/log/hdb.log for 2 damaged blobs on B (2 faults); 2 damaged records have no line: 7, 14; instead it logged 2 uncaughtException lines:"
            ),
            "{}",
            logged.evidence
        );
        assert_eq!(logged.lines.len(), 2);
        let uncaught = no_uncaught_exception(&s, 2, &e, &p, log());
        assert_eq!(uncaught.status, Status::Fail);
        assert_eq!(
            uncaught.lines[0],
            "hdb.log:2: 2026-11-26T05:15:06.511Z [http/1] [error]: uncaughtException [Error: ENOENT: no such file or directory, open '/tmp/ex2/b/root/blobs/data/0/0/7'] {"
        );
        assert!(uncaught.evidence.contains("(2 name a faulted file), naming 2 distinct files; 2 of the 2 faulted paths are among them"), "{}", uncaught.evidence);
    }

    #[test]
    fn an_escaped_write_fault_with_no_path_is_counted_by_its_errno() {
        let p = LogPatterns::default();
        let e = parse_log(LOG_ENOSPC);
        let c = no_uncaught_exception(&sig("ENOSPC", &["/r/blobs/data/0/0/7"]), 1, &e, &p, log());
        assert_eq!(c.status, Status::Fail, "{}", c.evidence);
        assert!(c.evidence.starts_with("1 uncaughtException entries tied to the injected fault in node-b/root/log/hdb.log (1 carry the injected errno only)"), "{}", c.evidence);
        // The same line under an EIO plan is not this fault's.
        assert_eq!(no_uncaught_exception(&sig("EIO", &[]), 1, &e, &p, log()).status, Status::Pass);
    }

    #[test]
    fn on_harper_5_both_log_checks_pass_and_without_damage_they_cannot() {
        let p = LogPatterns::default();
        let e = parse_log(LOG_5);
        let s = sig("ENOENT", &["a", "b"]);
        let logged = blob_save_failure_logged(Some(&ids(&["6", "13"])), 2, &e, &p, &s, log());
        assert_eq!(logged.status, Status::Pass, "{}", logged.evidence);
        assert_eq!(
            logged.evidence,
            "2 lines with \"Blob save failed for\" in node-b/root/log/hdb.log for 2 damaged blobs on B (2 faults): every damaged record is named by one (record ids: 6, 13)"
        );
        assert_eq!(no_uncaught_exception(&s, 2, &e, &p, log()).status, Status::Pass);
        // Exactly one damaged record without its line fails, and is named.
        let c = blob_save_failure_logged(Some(&ids(&["6", "13", "20"])), 3, &e, &p, &s, log());
        assert_eq!(c.status, Status::Fail);
        assert!(c.evidence.lines().next().unwrap().ends_with("(3 faults); 1 damaged records have no line: 20"), "{}", c.evidence);
        // As many lines as damaged records, but for other records: a failure, not a PASS by count.
        let c = blob_save_failure_logged(Some(&ids(&["6", "99"])), 2, &e, &p, &s, log());
        assert_eq!(c.status, Status::Fail);
        assert!(c.evidence.lines().next().unwrap().ends_with("1 damaged records have no line: 99"), "{}", c.evidence);
        assert_eq!(blob_save_failure_logged(Some(&ids(&[])), 0, &e, &p, &s, log()).status, Status::Unknown);
        assert_eq!(blob_save_failure_logged(Some(&ids(&[])), 4, &e, &p, &s, log()).status, Status::Unknown);
        // No survey: the lines cannot be matched; fewer than the faults fails, as many is undecided.
        let c = blob_save_failure_logged(None, 2, &e, &p, &s, log());
        assert_eq!(c.status, Status::Unknown);
        assert!(c.evidence.ends_with("without the survey of B's records the lines cannot be matched to damaged records"), "{}", c.evidence);
        assert_eq!(blob_save_failure_logged(None, 3, &e, &p, &s, log()).status, Status::Fail);
        assert_eq!(no_uncaught_exception(&s, 0, &[], &p, log()).status, Status::Unknown);
        // but an escaped failure fails even with no fault counted
        assert_eq!(no_uncaught_exception(&s, 0, &parse_log(LOG_4_7_29), &p, log()).status, Status::Fail);
    }

    #[test]
    fn damaged_reads_pass_only_when_each_is_answered_and_nothing_escapes() {
        let p = LogPatterns::default();
        let s = sig("ENOENT", &["/tmp/ex2/b/root/blobs/data/0/0/7"]);
        let mut reads = BTreeMap::new();
        assert_eq!(damaged_reads_contained(&reads, 2.0, &[], &p, &s, log()).status, Status::Unknown);
        reads.insert("7".to_string(), ReadEnd::Answered("answered 500".into()));
        reads.insert("9".to_string(), ReadEnd::Answered("answered 500".into()));
        let c = damaged_reads_contained(&reads, 2.0, &[], &p, &s, log());
        assert_eq!(c.status, Status::Pass, "{}", c.evidence);
        assert!(
            c.evidence.starts_with("2 reads of damaged records on B: 0 hung (no answer within 2.0 s), 0 cut off without an answer, 2 answered (2 answered 500)"),
            "{}",
            c.evidence
        );
        reads.insert("11".to_string(), ReadEnd::Hung);
        let since = parse_log(LOG_4_7_29);
        let c = damaged_reads_contained(&reads, 2.0, &since, &p, &s, log());
        assert_eq!(c.status, Status::Fail);
        assert!(c.evidence.contains("1 hung (no answer within 2.0 s), 0 cut off without an answer, 2 answered"), "{}", c.evidence);
        assert!(c.evidence.contains("hung: 11;"), "{}", c.evidence);
        assert!(c.evidence.contains("gained 2 uncaughtException entries tied to the fault during the reads (1 name a faulted file, 1 mention a blob):"), "{}", c.evidence);
        assert_eq!(c.lines.len(), 2);
        // A connection closed without a status is no answer either.
        reads.remove("11");
        reads.insert("12".to_string(), ReadEnd::Cut("connection closed".into()));
        let c = damaged_reads_contained(&reads, 2.0, &[], &p, &s, log());
        assert_eq!(c.status, Status::Fail, "{}", c.evidence);
        assert!(c.evidence.contains("0 hung (no answer within 2.0 s), 1 cut off without an answer (1 connection closed), 2 answered"), "{}", c.evidence);
    }
}

#[cfg(test)]
#[path = "fault_checks_tests.rs"]
mod branch_tests;
