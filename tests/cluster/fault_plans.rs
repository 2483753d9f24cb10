//! End-to-end: `blobfail run blob-save --fault <plans>` on real two-node
//! harperdb 4.7.29 clusters: each named plan on a fresh cluster, one matrix,
//! one combined exit code, and per plan the exact verdicts 4.7.29 earns.
//! One run covers the plans and the matrix, to keep the suite cheap. The
//! default plan, open-enoent, is left out here: its run with these options
//! (100 GETs, seed 7) is the stock run of tests/cluster/blob_save.rs, which
//! asserts what this matrix asserted of it.

use std::time::Duration;

use blobfail_suite::driver::*;
use serde_json::Value;

/// Each plan's statuses on 4.7.29, in the order of `BLOB_SAVE_CHECKS`, and its verdict
/// (open-enoent's: tests/cluster/blob_save.rs).
const EXPECTED: [(&str, [&str; 7], &str); 4] = [
    // A failed write: escapes with no path and no blob in it; truncated files.
    ("write-enospc", ["pass", "fail", "fail", "pass", "pass", "fail", "fail"], "fail"),
    // 4.7.29 never syncs a blob file: the plan injects nothing, and says so.
    ("fsync-eio", ["fail", "unknown", "unknown", "pass", "pass", "pass", "unknown"], "fail"),
    // A full disk: a short write, then ENOSPC for every later blob write.
    ("disk-full", ["pass", "fail", "fail", "pass", "pass", "fail", "fail"], "fail"),
    // A slow disk fails nothing and loses nothing: there is no failure to contain.
    ("slow-disk", ["pass", "unknown", "unknown", "pass", "pass", "pass", "unknown"], "unknown"),
];

fn faults_of(path: &std::path::Path) -> (Vec<Value>, Vec<Value>) {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    all.into_iter().partition(|f| f.get("summary").is_none())
}

fn evidence<'a>(r: &'a Value, name: &str) -> &'a str {
    check(r, name)["evidence"].as_str().unwrap()
}

fn figure(r: &Value, name: &str) -> u64 {
    r["figures"][name].as_u64().unwrap_or_else(|| panic!("no figure {name} in {:#}", r["figures"]))
}

#[test]
fn every_other_fault_plan_on_harperdb_4_7_29_in_one_matrix() {
    let _one_cluster = cluster_lock();
    let dir = run_folder();
    let out = path_of(&dir);
    let run = run_bounded(
        blobfail(&[
            "run", "blob-save", "--fault", "write-enospc,fsync-eio,disk-full,slow-disk", "--requests", "100", "--space", "2MiB",
            "--seed", "7", "--out", out.to_str().unwrap(),
        ]),
        Duration::from_secs(25 * 60),
    );
    assert_eq!(run.code(), Some(1), "expected exit 1 (a check failed)\nstdout:\n{}\nstderr:\n{}", run.stdout, run.stderr);
    let combined = read_json(&out.join("report.json"));
    assert_eq!(combined["verdict"], "fail");
    let reports = combined["scenarios"].as_array().unwrap();
    let labels: Vec<&str> = reports.iter().map(|r| r["scenario"].as_str().unwrap()).collect();
    assert_eq!(labels, EXPECTED.map(|(p, _, _)| format!("blob-save/{p}")).iter().map(String::as_str).collect::<Vec<_>>());

    // The plan as run is printed at its start and kept in its report.
    for (plan, want, verdict) in EXPECTED {
        let r = reports.iter().find(|r| r["scenario"] == format!("blob-save/{plan}")).unwrap();
        assert_eq!(r["figures"]["fault_plan"]["plan"], plan, "{:#}", r["figures"]);
        let line = format!("blobfail: fault plan {}", r["figures"]["fault"].as_str().unwrap());
        assert!(run.stderr.contains(&line), "no {line:?} in stderr");
        let got: Vec<&str> = BLOB_SAVE_CHECKS.iter().map(|c| check(r, c)["status"].as_str().unwrap()).collect();
        assert_eq!(got, want, "{plan}: {:#}", r["checks"]);
        assert_eq!(r["verdict"], verdict, "{plan}");
        // Its own folder, report and fault log, written as soon as it was done.
        let folder = out.join("blob-save").join(plan);
        assert_eq!(read_json(&folder.join("report.json"))["scenario"], format!("blob-save/{plan}"));
        // The matrix: one row per plan, a cell per check.
        let row = run.stdout.lines().find(|l| l.starts_with(&format!("blob-save/{plan} "))).unwrap_or_else(|| panic!("no row for {plan}"));
        let cells: Vec<&str> = row.split_whitespace().skip(1).collect();
        let mut expect_cells: Vec<String> = want.iter().map(|s| s.to_uppercase()).collect();
        expect_cells.push(verdict.to_uppercase());
        assert_eq!(cells, expect_cells, "row {row}");
    }
    let header = run.stdout.lines().find(|l| l.starts_with("run ")).expect("the matrix header");
    assert_eq!(header.split_whitespace().skip(1).collect::<Vec<_>>(), [&BLOB_SAVE_CHECKS[..], &["verdict"]].concat());

    let report = |plan: &str| reports.iter().find(|r| r["scenario"] == format!("blob-save/{plan}")).unwrap();

    // write-enospc: the escaped entries name no path and no blob, only the errno.
    let r = report("write-enospc");
    let (faults, summaries) = faults_of(&out.join("blob-save/write-enospc/faults.jsonl"));
    assert!(faults.iter().all(|f| f["call"] == "write" && f["errno"] == 28), "{faults:?}");
    assert_eq!(summaries.last().unwrap()["calls"]["write"]["faults"].as_u64(), Some(faults.len() as u64));
    let uncaught = check(r, "no-uncaught-exception");
    assert!(uncaught["evidence"].as_str().unwrap().contains("carry the injected errno only"), "{uncaught}");
    assert!(uncaught["lines"].as_array().unwrap().iter().any(|l| l.as_str().unwrap().contains("uncaughtException [Error: ENOSPC: no space left on device, write]")));
    let damaged = figure(r, "records_damaged_on_b");
    assert!(damaged >= 1 && damaged <= faults.len() as u64, "{damaged} damaged for {} faults", faults.len());
    assert!(figure(r, "blob_files_truncated_on_b") >= 1, "{:#}", r["figures"]);
    assert!(evidence(r, "blob-save-failure-logged").contains(&format!("for {damaged} damaged blobs on B ({} faults)", faults.len())));
    assert!(evidence(r, "nothing-lost").starts_with(&format!("{damaged} of ")), "{}", evidence(r, "nothing-lost"));

    // fsync-eio: Harper 4.7.29 never syncs a blob file; the run says so.
    let r = report("fsync-eio");
    assert_eq!(figure(r, "faults_injected"), 0);
    assert!(evidence(r, "injector-fired").starts_with("0 faults injected: node B made fewer than 7 sync calls on blob files (pid "));
    assert!(evidence(r, "injector-fired").ends_with("sync=0): the plan injects nothing on this Harper"), "{}", evidence(r, "injector-fired"));

    // disk-full: one short write at the budget, then ENOSPC for every blob write.
    let r = report("disk-full");
    let (faults, summaries) = faults_of(&out.join("blob-save/disk-full/faults.jsonl"));
    assert!(faults.iter().all(|f| f["space"] == true), "{faults:?}");
    assert_eq!(summaries.last().unwrap()["space_used"].as_u64(), Some(2 << 20));
    assert!(
        evidence(r, "injector-fired").starts_with(&format!("{} writes to blob files refused once the budget of 2097152 bytes was used", faults.len())),
        "{}",
        evidence(r, "injector-fired")
    );
    assert!(figure(r, "records_damaged_on_b") >= 1);

    // slow-disk: calls delayed, none failed, nothing lost.
    let r = report("slow-disk");
    assert_eq!(figure(r, "faults_injected"), 0);
    assert!(evidence(r, "injector-fired").contains("calls on blob files delayed by 10 ms each, none failed"), "{}", evidence(r, "injector-fired"));
    assert_eq!(figure(r, "records_damaged_on_b"), 0);

    assert!(run.stdout.contains("all scenarios: FAIL (a check failed)"), "{}", run.stdout);
    for plan in EXPECTED.map(|(p, _, _)| p) {
        assert_nothing_left(&out.join("blob-save").join(plan));
    }
}
