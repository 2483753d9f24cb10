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
    run_crash_at("1000000", loss, extra)
}

fn run_crash_at(at: &str, loss: &str, extra: &[&str]) -> (Run, Value, std::path::PathBuf, tempfile::TempDir) {
    let dir = run_folder();
    let out = path_of(&dir);
    let mut args = vec!["run", "crash-recovery", "--requests", "100", "--seed", "7", "--crash-at", at, "--power-loss", loss];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["--out", out.to_str().unwrap()]);
    let t = std::time::Instant::now();
    let run = run_bounded(blobfail(&args), BOUND);
    let report = read_json(&out.join("report.json"));
    // Its cost, for BENCHMARKS.md (seen with --nocapture).
    eprintln!("crash-recovery --power-loss {loss} {}: {:.1} s", extra.join(" "), t.elapsed().as_secs_f64());
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

/// The faults the shim logged on B's restart: (path, errno) of each.
fn restart_faults(out: &std::path::Path) -> Vec<(String, i64)> {
    let text = std::fs::read_to_string(out.join("faults-restart.jsonl")).unwrap_or_default();
    text.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["summary"] != true)
        .map(|v| (v["path"].as_str().unwrap_or_default().to_string(), v["errno"].as_i64().unwrap_or(-1)))
        .collect()
}

/// Faults on B's restart, two real causes (`--restart-fault-opens`):
/// B crashed mid-load (its write 100) and restarted with one blob-file
/// write-open in 3 failing, so the blob saves of its catch-up fail and
/// their ENOENTs escape as uncaughtException before any read (on 4.7.29:
/// 27 faults, 50 such entries naming all 27 files); and B crashed at its
/// write 50 and restarted, after a torn power cut (`pages,fs=ext4`), with
/// every write-open of its LMDB files failing: Harper cannot open its
/// database, exits, and `restarted` fails for it.
#[test]
fn faults_on_the_restart_escape_from_the_catch_up_and_keep_b_down() {
    let _one_cluster = cluster_lock();

    let (run, report, out, _dir) = run_crash_at("100", "none", &["--restart-fault-opens", "3"]);
    let f = &report["figures"];
    let records = f["records_on_a"].as_u64().unwrap();
    let (missing, damaged) = (f["records_missing_on_b"].as_u64().unwrap(), f["records_damaged_on_b"].as_u64().unwrap());
    // Write 100 under B's root lands mid-load: an LMDB or a blob file's write, as the load's timing has it.
    let crashed = run.stderr.lines().find_map(|l| l.strip_prefix("blobfail: node B crashed at write 100: ")).unwrap_or_else(|| panic!("{}", run.stderr));
    assert!(["pwrite64 ", "writev ", "write "].iter().any(|c| crashed.starts_with(c)) && crashed.contains("/node-b/root/"), "{crashed}");
    assert!(run.stderr.contains("blobfail: node B restarts with one write-open in 3 under blobs/ failing (ENOENT)"), "{}", run.stderr);
    let faults = restart_faults(&out);
    assert!(!faults.is_empty(), "no fault on B's restart");
    assert!(faults.iter().all(|(p, errno)| p.contains("/node-b/root/blobs/") && *errno == 2), "{faults:?}");
    assert_eq!((f["restart_faults"].as_u64(), f["restart_fault_opens"].as_u64(), f["restart_fault_files"].as_str()), (Some(faults.len() as u64), Some(3), Some("blobs")));
    let lost = check(&report, "nothing-lost");
    let lost_status = lost["status"].as_str().unwrap();
    if damaged + missing > 0 {
        assert_eq!(lost_status, "fail", "{lost:#}");
    } else {
        // Whole where compared; UNKNOWN when A itself did not serve some blobs in time.
        assert!(lost_status == "pass" || lost["evidence"].as_str().unwrap().contains("A could not serve the blob of"), "{lost:#}");
    }
    let want = [
        ("restarted", "pass"),
        ("caught-up", if missing == 0 { "pass" } else { "fail" }),
        ("nothing-lost", lost_status),
        ("no-uncaught-exception", "fail"),
        ("damaged-reads-contained", if damaged == 0 { "unknown" } else { "fail" }),
    ];
    assert_eq!(statuses(&report), want.map(|(n, s)| (n.to_string(), s.to_string())), "{:#}", report["checks"]);
    assert_eq!(run.code(), Some(1), "stdout:\n{}\nstderr:\n{}", run.stdout, run.stderr);
    assert_eq!(f["records_on_b"].as_u64().unwrap() + missing, records, "{f:#}");
    // Every escape before the survey's reads is an ENOENT opening a blob file the shim failed.
    let c = check(&report, "no-uncaught-exception");
    let lines: Vec<&str> = c["lines"].as_array().unwrap().iter().map(|l| l.as_str().unwrap()).collect();
    let evidence = c["evidence"].as_str().unwrap();
    let log = out.join("node-b/root/log/hdb.log");
    assert!(evidence.starts_with(&format!("{} uncaughtException entries tied to the injected fault in {} ({} name a faulted file), naming ", lines.len(), log.display(), lines.len())), "{evidence}");
    let named: std::collections::BTreeSet<&str> = lines.iter().map(|l| l.rsplit_once("open '").and_then(|(_, p)| p.split_once('\'')).unwrap().0).collect();
    assert!(named.iter().all(|p| faults.iter().any(|(f, _)| f == p)), "{named:?} {faults:?}");
    assert!(lines.iter().all(|l| l.contains("[error]: uncaughtException [Error: ENOENT: no such file or directory, open '")), "{lines:#?}");
    assert!(evidence.contains(&format!("naming {} distinct files; ", named.len())), "{evidence}");
    assert_nothing_left(&out);
    crate::judge::assert_judge_reproduces(&out);

    // B's LMDB files cannot be opened on its restart; the power cut before
    // it tore B's unsynced writes (pages), ext4's metadata rules. An early
    // crash point: no wait for a crash after the load.
    let (run, report, out, _dir) = run_crash_at("50", "pages,fs=ext4", &["--restart-fault-opens", "1", "--restart-fault-files", "database"]);
    let why = "could not observe node B after the crash: ";
    let want = [("restarted", "fail"), ("caught-up", "fail"), ("nothing-lost", "unknown"), ("no-uncaught-exception", "unknown"), ("damaged-reads-contained", "unknown")];
    assert_eq!(statuses(&report), want.map(|(n, s)| (n.to_string(), s.to_string())), "{:#}", report["checks"]);
    assert_eq!(run.code(), Some(1), "stdout:\n{}\nstderr:\n{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("blobfail: node B power loss (mode pages, writeback 0 s, fs ext4): "), "{}", run.stderr);
    assert!(run.stderr.contains("blobfail: node B restarts with one write-open in 1 under database/ failing (ENOENT)"), "{}", run.stderr);
    let f = &report["figures"];
    assert_eq!(f["power_loss"], "pages,fs=ext4");
    assert!(f["power_loss_undone"].as_u64().unwrap() > 0, "{f:#}");
    // Harper gave up at its first open: data.mdb, then its lock file.
    let faults = restart_faults(&out);
    let root = out.join("node-b/root/database");
    let expect: Vec<(String, i64)> = ["data.mdb", "data.mdb-lock"].iter().map(|n| (root.join(n).display().to_string(), 2)).collect();
    assert_eq!(faults, expect);
    assert_eq!(f["restart_faults"], 2);
    let back = check(&report, "restarted")["evidence"].as_str().unwrap().to_string();
    assert!(back.starts_with("node B did not come back: node b (pid "), "{back}");
    assert!(back.ends_with("; on its restart the shim failed 2 write-opens under database/ with ENOENT (--restart-fault-opens 1): database/data.mdb, database/data.mdb-lock"), "{back}");
    for name in ["nothing-lost", "no-uncaught-exception", "damaged-reads-contained"] {
        assert!(check(&report, name)["evidence"].as_str().unwrap().starts_with(why), "{name}");
    }
    // Harper's own words for it, on B's stderr.
    let stderr = std::fs::read_to_string(out.join("node-b/stderr.log")).unwrap();
    assert!(stderr.contains(&format!("Error: No such file or directory: Attempting to setup locks opening database {}", root.join("data.mdb").display())), "{stderr}");
    assert_nothing_left(&out);
    crate::judge::assert_judge_reproduces(&out);
}
