//! Branch tests of `injector-fired` (beside the tests in `injector.rs`):
//! the blob-file cross-check of the open count, a process that faulted
//! nothing, and the full disk's short and refused writes told apart.

use super::*;
use crate::fault::FamilyCount;

fn rec(call: &str, seq: u64, fault: u64, pid: u32) -> FaultRecord {
    FaultRecord {
        seq,
        fault,
        pid,
        tid: pid,
        call: call.into(),
        function: "f".into(),
        path: "/r/blobs/data/0/0/7".into(),
        fd: None,
        space: false,
        flags: 0,
        errno: 2,
    }
}

fn summary(pid: u32, family: &str, matching: u64, faults: u64) -> LogSummary {
    LogSummary {
        pid,
        matching,
        faults,
        calls: [(family.to_string(), FamilyCount { matching, faults })].into_iter().collect(),
        space_used: None,
        space_faults: None,
    }
}

fn judge(plan: &str, records: Vec<FaultRecord>, summaries: Vec<LogSummary>, files: Option<u64>) -> Check {
    let spec = PlanSpec::named(plan).unwrap();
    let log = FaultLog { records, summaries };
    injector_fired(&Injection { spec: &spec, log: &log, stderr_summaries: &[], armed_lines: 1, blob_files_on_b: files, log_path: Path::new("faults.jsonl") })
}

#[test]
fn the_open_count_is_cross_checked_with_the_blob_files_and_a_mismatch_is_said() {
    let recs: Vec<_> = (1..=2).map(|k| rec("open", 7 * k, k, 5)).collect();
    // 16 opens, 2 failed, 13 blob files: 13 + 2 ≠ 16, said but not judged.
    let c = judge("open-enoent", recs, vec![summary(5, "open", 16, 2)], Some(13));
    assert_eq!(
        (c.status, c.evidence.as_str()),
        (
            Status::Pass,
            "2 faults in faults.jsonl; pid 5: 2 open faults at matching calls 7, 14, … 14 (every 7th); exit summary open matching=16 \
             (B holds 13 blob files, so 13 + 2 ≠ 16: some opens were not one-file-per-blob), 16 / 7 = 2"
        )
    );
}

#[test]
fn blob_files_say_nothing_of_write_calls() {
    // 22 blob files + 3 faults = 25 writes, by coincidence: no cross-check for writes.
    let recs: Vec<_> = (1..=3).map(|k| rec("write", 7 * k, k, 5)).collect();
    let c = judge("write-enospc", recs, vec![summary(5, "write", 25, 3)], Some(22));
    assert_eq!(
        (c.status, c.evidence.as_str()),
        (Status::Pass, "3 faults in faults.jsonl; pid 5: 3 write faults at matching calls 7, 14, … 21 (every 7th); exit summary write matching=25, 25 / 7 = 3")
    );
}

#[test]
fn with_two_processes_the_blob_files_are_no_one_processs_count() {
    // One process faulted, a second (a restart) summed up without faults:
    // the files on B belong to both, so they cross-check neither.
    let recs: Vec<_> = (1..=2).map(|k| rec("open", 7 * k, k, 5)).collect();
    let c = judge("open-enoent", recs, vec![summary(5, "open", 16, 2), summary(6, "open", 3, 0)], Some(14));
    assert_eq!(
        (c.status, c.evidence.as_str()),
        (
            Status::Pass,
            "2 faults in faults.jsonl; pid 5: 2 open faults at matching calls 7, 14, … 14 (every 7th); exit summary open matching=16, 16 / 7 = 2; \
             pid 6: 0 open faults; exit summary open matching=3"
        )
    );
    // Nor can they stand in for a missing summary.
    let recs: Vec<_> = (1..=2).map(|k| rec("open", 7 * k, k, 5)).collect();
    let c = judge("open-enoent", recs, vec![summary(6, "open", 3, 0)], Some(14));
    assert_eq!(
        (c.status, c.evidence.as_str()),
        (Status::Unknown, "pid 5: 2 open faults logged, but no exit summary counts the open calls")
    );
}

#[test]
fn a_full_disk_tells_short_writes_from_refused_ones() {
    let space = |seq: u64, errno: i32| FaultRecord { space: true, errno, ..rec("write", seq, seq, 5) };
    let mut s = summary(5, "write", 120, 0);
    s.space_used = Some(4 << 20);
    s.space_faults = Some(3);
    let c = judge("disk-full", vec![space(1, 0), space(2, 0), space(3, 28)], vec![s], None);
    assert_eq!(
        (c.status, c.evidence.as_str()),
        (
            Status::Pass,
            "3 writes to blob files refused once the budget of 4194304 bytes was used (2 short, 1 with ENOSPC) in faults.jsonl; pid 5: used 4194304 of 4194304 bytes, space_faults=3"
        )
    );
}

#[test]
fn an_every_nth_plan_with_skip_or_max_is_not_judged_as_a_plain_one() {
    use crate::fault::{Effect, Fault, Trigger};
    let fault = Fault::new(vec![blobfail_vocab::Family::Open], "/blobs/", Trigger::EveryNth { every: 7, skip: 0, max: Some(1) }, Effect::Fail { errno: "ENOENT" })
        .unwrap();
    let spec = PlanSpec { plan: "open-enoent", fault };
    let log = FaultLog { records: vec![rec("open", 7, 1, 5)], summaries: vec![summary(5, "open", 60, 1)] };
    let c = injector_fired(&Injection { spec: &spec, log: &log, stderr_summaries: &[], armed_lines: 1, blob_files_on_b: None, log_path: Path::new("faults.jsonl") });
    assert_eq!(
        (c.status, c.evidence.as_str()),
        (
            Status::Unknown,
            "injector-fired judges every-Nth plans without skip or max, not open-enoent: every 7th open call on a blob file of node B fails with ENOENT, once"
        )
    );
}
