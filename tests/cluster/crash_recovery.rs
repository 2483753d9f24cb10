//! crash-recovery on stock harperdb 4.7.29, both ways: node B killed once
//! A's load has replicated (`--crash-at` past its last write: the driver's
//! SIGKILL after the load), then restarted on the same root. As a process
//! crash (`--power-loss none`) B keeps every record whole; after a power
//! cut (`--power-loss all`, rolled back from the shim's journal) B keeps
//! every record (LMDB fdatasyncs each commit) but none of their blob files
//! (created, never synced, their directory never synced), and every read of
//! one hangs with an escaped ENOENT. The power cut runs on three nodes (a
//! third, C, unfaulted: B has two peers to recover from, and recovers
//! nothing from either) with a restart bound shorter than B's restart, so
//! `restarted` fails for it while the other checks still judge the B that
//! came back. One test: the two runs share the assertions' setup, each on
//! a fresh cluster.

use std::time::Duration;

use blobfail_suite::driver::*;
use serde_json::Value;

const BOUND: Duration = Duration::from_secs(10 * 60);

fn run_crash(loss: &str, extra: &[&str]) -> (Run, Value, std::path::PathBuf, tempfile::TempDir) {
    let dir = run_folder();
    let out = path_of(&dir);
    let mut args = vec!["run", "crash-recovery", "--requests", "100", "--seed", "7", "--crash-at", "1000000", "--power-loss", loss];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["--out", out.to_str().unwrap()]);
    let run = run_bounded(blobfail(&args), BOUND);
    let report = read_json(&out.join("report.json"));
    (run, report, out, dir)
}

#[test]
fn a_process_crash_keeps_every_record_and_a_power_cut_keeps_the_records_without_their_blobs() {
    let _one_cluster = cluster_lock();

    // The control: a process crash, the page cache survives.
    let (run, report, out, _dir) = run_crash("none", &[]);
    let want = [
        ("restarted", "pass"),
        ("caught-up", "pass"),
        ("nothing-lost", "pass"),
        ("no-uncaught-exception", "pass"),
        // Nothing damaged: nothing to judge, never a pass.
        ("damaged-reads-contained", "unknown"),
    ];
    assert_eq!(statuses(&report), want.map(|(n, s)| (n.to_string(), s.to_string())), "{:#}", report["checks"]);
    assert_eq!(run.code(), Some(2), "stdout:\n{}\nstderr:\n{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("blobfail: crash points (B's Nth write under its root): 1000000 (seed 7"), "{}", run.stderr);
    assert!(run.stderr.contains("blobfail: node B crashed at write 1000000: no write 1000000 (B made fewer): SIGKILL after the load"), "{}", run.stderr);
    let f = &report["figures"];
    assert_eq!(f["power_loss"], "none");
    assert_eq!(f["power_loss_undone"], 0);
    let records = f["records_on_a"].as_u64().unwrap();
    assert!(records > 0);
    assert_eq!(f["records_on_b"], records);
    assert_eq!(f["records_damaged_on_b"], 0);
    // The shim journaled B's blob and LMDB writes alike.
    let journal = std::fs::read_to_string(out.join("journal-b.jsonl")).unwrap();
    assert!(journal.lines().any(|l| l.contains(r#""op":"write""#) && l.contains("/blobs/")), "no blob write journaled");
    assert!(journal.lines().any(|l| l.contains(r#""op":"write""#) && l.contains("/database/data.mdb")), "no LMDB write journaled");
    assert_nothing_left(&out);
    // blobfail judge gives the same checks from observations.json alone.
    crate::judge::assert_judge_reproduces(&out);

    // The power cut: every unsynced change of B's files undone; three nodes;
    // B given 1 s to answer again (it takes seconds on an installed root).
    let (run, report, out, _dir) = run_crash("all", &["--nodes", "3", "--restart-bound", "1"]);
    // B may also lose records it had committed (seen once in a test run:
    // 6 of 93, B's count back at 87 of A's 93 for good): caught-up then fails.
    let missing = report["figures"]["records_missing_on_b"].as_u64().unwrap();
    let caught_up = if missing == 0 { "pass" } else { "fail" };
    // Most runs leave every record on B without its blob. One CI run (a
    // loaded machine) left all 93 whole after the cut: B got them all
    // from its peers again. Either way the counts below must agree.
    let damaged = report["figures"]["records_damaged_on_b"].as_u64().unwrap();
    let all_whole = damaged == 0 && missing == 0;
    let want = [
        ("restarted", "fail"),
        ("caught-up", caught_up),
        ("nothing-lost", if all_whole { "pass" } else { "fail" }),
        // The escapes come with the reads, which damaged-reads-contained judges.
        ("no-uncaught-exception", "pass"),
        ("damaged-reads-contained", if damaged == 0 { "unknown" } else { "fail" }),
    ];
    assert_eq!(statuses(&report), want.map(|(n, s)| (n.to_string(), s.to_string())), "{:#}", report["checks"]);
    assert_eq!(run.code(), Some(1), "stdout:\n{}\nstderr:\n{}", run.stdout, run.stderr);
    let f = &report["figures"];
    assert_eq!(f["power_loss"], "all");
    // The cut undid something, whatever B made of it.
    assert!(f["power_loss_undone"].as_u64().unwrap() > 0, "{f:#}");
    assert!(run.stderr.contains("blobfail: topology: 3 nodes (a, b, c), b faulted; node B crashes, the others stay up"), "{}", run.stderr);
    let restart = f["restart_seconds"].as_f64().unwrap();
    assert!(restart > 1.0, "{f:#}");
    let back = check(&report, "restarted")["evidence"].as_str().unwrap().to_string();
    let said: f64 = back
        .strip_prefix("node B did not come back within 1.0 s of its restart (--restart-bound): its operations API answered ")
        .and_then(|r| r.strip_suffix(" s after it was started again on the same root and address"))
        .unwrap_or_else(|| panic!("{back}"))
        .parse()
        .unwrap();
    assert!((said - restart).abs() <= 0.051, "{back} (restart phase {restart} s)");
    let records = f["records_on_a"].as_u64().unwrap();
    // The records on B lost their blobs. A few may be whole: a record whose
    // commit the cut undid too (its sync had not returned) and that B
    // fetched from A again after its restart, or one still on its way at
    // the kill (CI runs saw 92 of 93 damaged, and 6 of 93 missing for good).
    assert_eq!(f["records_on_b"].as_u64().unwrap() + missing, records, "{f:#}");
    assert!(damaged + missing <= records, "{damaged} damaged, {missing} missing of {records} records on B: {f:#}");
    assert_eq!(f["reads_hung_on_b"].as_u64().unwrap(), damaged);
    assert!(f["power_loss_blob_files"].as_u64().unwrap() >= damaged, "{}", f["power_loss_blob_files"]);
    let lost = check(&report, "nothing-lost")["evidence"].as_str().unwrap().to_string();
    let on_b = records - missing;
    if all_whole {
        assert_eq!(lost, format!("all {records} records on A are on B with the same blob (size and SHA-256)"));
    } else {
        assert!(lost.starts_with(&format!("{} of {records} records on A are lost or damaged on B ({on_b} records on B)", damaged + missing)), "{lost}");
    }
    let reads = check(&report, "damaged-reads-contained")["evidence"].as_str().unwrap().to_string();
    if damaged == 0 {
        assert_eq!(reads, "no record was damaged on B, so no read of one to judge");
    } else {
        assert!(reads.starts_with(&format!("{damaged} reads of damaged records on B: {damaged} hung")), "{reads}");
        assert!(reads.contains(&format!("gained {damaged} uncaughtException entries tied to the fault during the reads ({damaged} name a faulted file)")), "{reads}");
    }
    assert!(run.stderr.contains("blobfail: node B power loss (mode all, writeback 0 s): "), "{}", run.stderr);
    assert!(out.join("journal-b.applied").is_file());
    // The third node, never crashed, kept every record of A whole.
    let c = &f["unfaulted_c"];
    assert_eq!((c["records_on_a"].as_u64(), c["records"].as_u64()), (Some(records), Some(records)), "{c:#}");
    assert_eq!((c["missing"].as_u64(), c["damaged"].as_u64()), (Some(0), Some(0)), "{c:#}");
    assert_nothing_left(&out);
    crate::judge::assert_judge_reproduces(&out);
}
