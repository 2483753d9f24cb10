//! Branch and boundary tests of blob-save's fault checks (beside the tests
//! in `fault_checks.rs`): each PASS, FAIL and UNKNOWN path with its evidence.

use super::*;
use crate::harper_log::parse_log;

fn log() -> &'static Path {
    Path::new("b/hdb.log")
}

fn sig(errno: Option<&str>, paths: &[&str]) -> FaultSignature {
    FaultSignature { errno: errno.map(str::to_string), paths: paths.iter().map(|p| p.to_string()).collect() }
}

const ONE_ESCAPED: &str = "\
2026-11-26T05:15:06.511Z [http/1] [error]: uncaughtException [Error: EIO: i/o error, open '/r/blobs/data/0/0/7'] {
  code: 'EIO'
}
";

const ONE_LOGGED: &str = "\
2026-11-26T05:15:06.511Z [http/1] [error] [replication]: Blob save failed for 6 from 127.0.0.12
";

#[test]
fn failure_logged_says_why_there_was_nothing_to_log() {
    let p = LogPatterns::default();
    let e = parse_log(ONE_LOGGED);
    let c = blob_save_failure_logged(Some(&BTreeSet::new()), 0, &e, &p, &sig(None, &[]), log());
    assert_eq!((c.status, c.evidence.as_str()), (Status::Unknown, "no call failed, so there was no failure to log (1 lines with \"Blob save failed for\")"));
    let c = blob_save_failure_logged(Some(&BTreeSet::new()), 3, &[], &p, &sig(None, &[]), log());
    assert_eq!(
        (c.status, c.evidence.as_str()),
        (Status::Unknown, "no blob ended damaged on B, so there was no failure to log (0 lines with \"Blob save failed for\")")
    );
    let c = blob_save_failure_logged(None, 0, &e, &p, &sig(None, &[]), log());
    assert_eq!(c.status, Status::Unknown);
}

#[test]
fn failure_logged_without_the_survey_fails_one_line_short_and_cannot_pass() {
    let p = LogPatterns::default();
    let e = parse_log(ONE_LOGGED);
    let s = sig(Some("EIO"), &["/r/blobs/data/0/0/7"]);
    // One line for one fault: undecided, never a PASS.
    let c = blob_save_failure_logged(None, 1, &e, &p, &s, log());
    assert_eq!(
        (c.status, c.evidence.as_str()),
        (
            Status::Unknown,
            "1 lines with \"Blob save failed for\" in b/hdb.log for 1 faults (the damage on B could not be surveyed): without the survey of B's records the lines cannot be matched to damaged records"
        )
    );
    // One line for two faults: a failure, with what B logged instead.
    let mut all = e.clone();
    all.extend(parse_log(ONE_ESCAPED).into_iter().map(|mut x| {
        x.line += 1;
        x
    }));
    let c = blob_save_failure_logged(None, 2, &all, &p, &s, log());
    assert_eq!(c.status, Status::Fail);
    assert!(
        c.evidence.starts_with(
            "1 lines with \"Blob save failed for\" in b/hdb.log for 2 faults (the damage on B could not be surveyed); instead it logged 1 uncaughtException lines:"
        ),
        "{}",
        c.evidence
    );
    assert_eq!(c.lines.len(), 2, "{:?}", c.lines);
    assert!(c.lines[0].contains("Blob save failed for 6"), "{:?}", c.lines);
    assert!(c.lines[1].contains("uncaughtException"), "{:?}", c.lines);
}

#[test]
fn failure_logged_passes_with_exactly_one_damaged_record_and_its_line() {
    let p = LogPatterns::default();
    let e = parse_log(ONE_LOGGED);
    let one: BTreeSet<String> = ["6".to_string()].into();
    let c = blob_save_failure_logged(Some(&one), 1, &e, &p, &sig(None, &[]), log());
    assert_eq!(c.status, Status::Pass, "{}", c.evidence);
    let other: BTreeSet<String> = ["7".to_string()].into();
    let c = blob_save_failure_logged(Some(&other), 1, &e, &p, &sig(None, &[]), log());
    assert_eq!(
        (c.status, c.evidence.as_str()),
        (Status::Fail, "1 lines with \"Blob save failed for\" in b/hdb.log for 1 damaged blobs on B (1 faults); 1 damaged records have no line: 7\n  hdb.log:1: 2026-11-26T05:15:06.511Z [http/1] [error] [replication]: Blob save failed for 6 from 127.0.0.12")
    );
}

#[test]
fn no_uncaught_exception_passes_only_with_a_fault_and_names_its_evidence() {
    let p = LogPatterns::default();
    let e = parse_log(ONE_LOGGED);
    let c = no_uncaught_exception(&sig(None, &[]), 1, &e, &p, log());
    assert_eq!(
        (c.status, c.evidence.as_str()),
        (Status::Pass, "no uncaughtException entry mentions a blob, the errno or a faulted file among 1 entries of b/hdb.log (1 faults injected)")
    );
    let c = no_uncaught_exception(&sig(Some("EIO"), &[]), 1, &e, &p, log());
    assert!(c.evidence.contains("mentions a blob, EIO or a faulted file"), "{}", c.evidence);
    let c = no_uncaught_exception(&sig(Some("EIO"), &[]), 0, &e, &p, log());
    assert_eq!((c.status, c.evidence.as_str()), (Status::Unknown, "no call failed, so a clean log proves nothing"));
    // Exactly one escaped entry fails, counting the faulted paths it names.
    let c = no_uncaught_exception(&sig(Some("EIO"), &["/r/blobs/data/0/0/7", "/r/blobs/data/0/0/e"]), 2, &parse_log(ONE_ESCAPED), &p, log());
    assert_eq!(c.status, Status::Fail);
    assert!(
        c.evidence.starts_with(
            "1 uncaughtException entries tied to the injected fault in b/hdb.log (1 name a faulted file), naming 1 distinct files; 1 of the 2 faulted paths are among them:"
        ),
        "{}",
        c.evidence
    );
}

#[test]
fn damaged_reads_fail_on_an_escape_alone_and_on_a_cut_alone() {
    let p = LogPatterns::default();
    let s = sig(Some("EIO"), &["/r/blobs/data/0/0/7"]);
    let answered: BTreeMap<String, ReadEnd> = [("7".to_string(), ReadEnd::Answered("answered 500".into()))].into();
    // Every read answered, but an exception escaped while they ran.
    let c = damaged_reads_contained(&answered, 2.0, &parse_log(ONE_ESCAPED), &p, &s, log());
    assert_eq!(c.status, Status::Fail, "{}", c.evidence);
    assert!(
        c.evidence.starts_with(
            "1 reads of damaged records on B: 0 hung (no answer within 2.0 s), 0 cut off without an answer, 1 answered (1 answered 500); B's log (b/hdb.log) gained 1 uncaughtException entries tied to the fault during the reads (1 name a faulted file):"
        ),
        "{}",
        c.evidence
    );
    assert_eq!(c.lines.len(), 1);
    let c = damaged_reads_contained(&answered, 2.0, &[], &p, &s, log());
    assert_eq!(
        (c.status, c.evidence.as_str()),
        (
            Status::Pass,
            "1 reads of damaged records on B: 0 hung (no answer within 2.0 s), 0 cut off without an answer, 1 answered (1 answered 500); B's log (b/hdb.log) gained 0 uncaughtException entries tied to the fault during the reads"
        )
    );
    let cut: BTreeMap<String, ReadEnd> = [("9".to_string(), ReadEnd::Cut("reset".into()))].into();
    let c = damaged_reads_contained(&cut, 2.0, &[], &p, &s, log());
    assert_eq!(c.status, Status::Fail);
    assert!(c.evidence.contains("0 hung (no answer within 2.0 s), 1 cut off without an answer (1 reset), 0 answered; cut off: 9;"), "{}", c.evidence);
}

#[test]
fn damaged_reads_list_twenty_ids_then_an_ellipsis() {
    let p = LogPatterns::default();
    let s = sig(Some("EIO"), &[]);
    let hung: BTreeMap<String, ReadEnd> = (1..=21).map(|n| (n.to_string(), ReadEnd::Hung)).collect();
    let c = damaged_reads_contained(&hung, 2.0, &[], &p, &s, log());
    assert_eq!(c.status, Status::Fail);
    assert!(c.evidence.contains("21 hung (no answer within 2.0 s), 0 cut off without an answer, 0 answered; hung: 1, 2, 3,"), "{}", c.evidence);
    assert!(c.evidence.contains(", 19, 20, …; B's log"), "{}", c.evidence);
    let twenty: BTreeMap<String, ReadEnd> = (1..=20).map(|n| (n.to_string(), ReadEnd::Hung)).collect();
    let c = damaged_reads_contained(&twenty, 2.0, &[], &p, &s, log());
    assert!(c.evidence.contains(", 19, 20; B's log"), "{}", c.evidence);
}

#[test]
fn the_signature_takes_the_plans_errno_and_the_faulted_paths() {
    let spec = PlanSpec::named("open-enoent").unwrap();
    let rec = |path: &str| FaultRecord {
        seq: 7,
        fault: 1,
        pid: 1,
        tid: 1,
        call: "open".into(),
        function: "open".into(),
        path: path.into(),
        fd: None,
        space: false,
        flags: 0,
        errno: 2,
    };
    let s = signature(&spec, &[rec("/r/blobs/data/0/0/7 (deleted)"), rec("")]);
    assert_eq!(s.errno.as_deref(), Some("ENOENT"));
    assert_eq!(s.paths.iter().collect::<Vec<_>>(), ["/r/blobs/data/0/0/7"]);
}
