//! Every verdict seen both ways on a real two-node cluster: the checks that
//! fail on stock harperdb 4.7.29 (tests/cluster_blob_save.rs) pass on a
//! Harper with the blob-save containment, and the checks that pass there
//! fail for a real cause (no fault injected, no shim preloaded, a limit
//! below the measured peak). Each test drives the CLI as a user does.

use std::path::Path;
use std::time::Duration;

use blobfail_suite::containment::contained_harper;
use blobfail_suite::driver::*;
use serde_json::Value;

const BOUND: Duration = Duration::from_secs(10 * 60);

/// The statuses of a report's checks, by name, in the report's order.
fn statuses(report: &Value) -> Vec<(String, String)> {
    report["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .map(|c| (c["name"].as_str().unwrap().to_string(), c["status"].as_str().unwrap().to_string()))
        .collect()
}

fn expect_statuses(report: &Value, want: &[(&str, &str)]) {
    let want: Vec<(String, String)> = want.iter().map(|(n, s)| (n.to_string(), s.to_string())).collect();
    assert_eq!(statuses(report), want, "checks (status, evidence): {:#}", report["checks"]);
}

fn evidence(report: &Value, name: &str) -> String {
    check(report, name)["evidence"].as_str().unwrap().to_string()
}

fn fault_count(out: &Path) -> usize {
    std::fs::read_to_string(out.join("faults.jsonl")).map(|t| t.lines().filter(|l| !l.trim().is_empty()).count()).unwrap_or(0)
}

#[test]
fn a_harper_with_the_blob_save_containment_passes_the_containment_checks() {
    let harper = contained_harper();
    let _one_cluster = cluster_lock();
    let dir = run_folder();
    let out = path_of(&dir);
    let run = run_bounded(
        blobfail(&[
            "run",
            "blob-save",
            "--harper",
            harper.path().to_str().unwrap(),
            "--requests",
            "100",
            "--seed",
            "7",
            "--out",
            out.to_str().unwrap(),
        ]),
        BOUND,
    );
    let report = read_json(&out.join("report.json"));
    // The containment keeps the failure out of uncaughtException, but the
    // record still lacks its blob on B: nothing-lost fails, so exit 1.
    assert_eq!(run.code(), Some(1), "stdout:\n{}\nstderr:\n{}", run.stdout, run.stderr);
    assert_eq!(report["harper"]["cli"], harper.path().join("node_modules/harperdb/bin/harperdb.js").to_str().unwrap());
    expect_statuses(
        &report,
        &[
            ("injector-fired", "pass"),
            ("blob-save-failure-logged", "pass"),
            ("no-uncaught-exception", "pass"),
            ("peer-connected", "pass"),
            ("liveness", "pass"),
            ("nothing-lost", "fail"),
        ],
    );
    let faults = fault_count(&out);
    assert!(faults > 0, "no fault injected");
    assert_eq!(report["figures"]["faults_injected"], faults);

    // One contained line per fault, from Harper's own replication logger,
    // naming the record and node A.
    let logged = evidence(&report, "blob-save-failure-logged");
    assert!(logged.starts_with(&format!("{faults} lines with \"Blob save failed for\"")), "{logged}");
    let a_ip = nodes_of(&out)[0].0;
    let log = std::fs::read_to_string(out.join("node-b/root/log/hdb.log")).unwrap();
    let contained: Vec<&str> = log.lines().filter(|l| l.contains("[error] [replication]: Blob save failed for ")).collect();
    assert_eq!(contained.len(), faults, "contained lines in B's log: {contained:#?}");
    assert!(contained.iter().all(|l| l.contains(&format!(" from {a_ip} [Error: ENOENT"))), "{contained:#?}");
    let clean = evidence(&report, "no-uncaught-exception");
    assert!(clean.starts_with("no uncaughtException entry mentions Blob or ENOENT under /blobs/"), "{clean}");
    assert!(clean.ends_with(&format!("({faults} faults injected)")), "{clean}");

    // What the containment does not fix: each faulted record is on B
    // without its blob.
    let fig = &report["figures"];
    assert_eq!(fig["records_missing_on_b"], 0, "{}", evidence(&report, "nothing-lost"));
    assert_eq!(fig["blobs_unreadable_on_b"], faults, "{}", evidence(&report, "nothing-lost"));
    assert_nothing_left(&out);
}

#[test]
fn with_no_fault_injected_nothing_is_lost_and_injector_fired_fails() {
    let _one_cluster = cluster_lock();
    let dir = run_folder();
    let out = path_of(&dir);
    // The shim is armed, but its every-Nth never comes: 100 GETs make fewer
    // than 100 blob files.
    let run = run_bounded(
        blobfail(&["run", "blob-save", "--interval", "1000000", "--requests", "100", "--seed", "7", "--out", out.to_str().unwrap()]),
        BOUND,
    );
    let report = read_json(&out.join("report.json"));
    assert_eq!(run.code(), Some(1), "stdout:\n{}\nstderr:\n{}", run.stdout, run.stderr);
    expect_statuses(
        &report,
        &[
            ("injector-fired", "fail"),
            ("blob-save-failure-logged", "unknown"),
            ("no-uncaught-exception", "unknown"),
            ("peer-connected", "pass"),
            ("liveness", "pass"),
            ("nothing-lost", "pass"),
        ],
    );
    let fired = evidence(&report, "injector-fired");
    assert_eq!(
        fired,
        format!("0 faults injected: the shim armed on node B but logged no fault in {}", out.join("faults.jsonl").display())
    );
    assert_eq!(fault_count(&out), 0);
    let fig = &report["figures"];
    let records = fig["records_a"].as_u64().unwrap();
    assert!(records > 0);
    assert_eq!(fig["records_b"], records);
    assert_eq!(
        evidence(&report, "nothing-lost"),
        format!("all {records} records on A are on B with the same blob (size and SHA-256)")
    );
    assert_nothing_left(&out);
}

#[test]
fn a_preload_library_that_is_not_the_shim_fails_injector_fired() {
    // A real shared library that preloads cleanly and injects nothing.
    let lib_dir = tempfile::tempdir().unwrap();
    let src = lib_dir.path().join("not_the_shim.c");
    let lib = lib_dir.path().join("libnottheshim.so");
    std::fs::write(&src, "int blobfail_not_the_shim(void) { return 0; }\n").unwrap();
    let cc = std::process::Command::new("cc").arg("-shared").arg("-fPIC").arg("-o").arg(&lib).arg(&src).status().expect("run cc");
    assert!(cc.success(), "cc failed");

    let _one_cluster = cluster_lock();
    let dir = run_folder();
    let out = path_of(&dir);
    let run = run_bounded(
        blobfail(&[
            "run",
            "blob-save",
            "--shim",
            lib.to_str().unwrap(),
            "--requests",
            "60",
            "--seed",
            "7",
            "--out",
            out.to_str().unwrap(),
        ]),
        BOUND,
    );
    let report = read_json(&out.join("report.json"));
    assert_eq!(run.code(), Some(1), "stdout:\n{}\nstderr:\n{}", run.stdout, run.stderr);
    expect_statuses(
        &report,
        &[
            ("injector-fired", "fail"),
            ("blob-save-failure-logged", "unknown"),
            ("no-uncaught-exception", "unknown"),
            ("peer-connected", "pass"),
            ("liveness", "pass"),
            ("nothing-lost", "pass"),
        ],
    );
    assert_eq!(
        evidence(&report, "injector-fired"),
        "0 faults injected: the shim never armed on node B (no `blobfail: armed` line on its stderr)"
    );
    assert!(!out.join("faults.jsonl").exists(), "a fault log without the shim");
    assert_nothing_left(&out);
}

#[test]
fn backlog_memory_fails_peak_rss_below_a_limit_under_the_measured_peak() {
    let _one_cluster = cluster_lock();
    let dir = run_folder();
    let out = path_of(&dir);
    // Any Harper node holds more than 64 MiB (measured: 84 MiB one second
    // after launch, 265 MiB after this backlog).
    let run = run_bounded(
        blobfail(&[
            "run",
            "backlog-memory",
            "--transactions",
            "10",
            "--records",
            "200",
            "--payload-bytes",
            "512",
            "--after-catch-up",
            "1",
            "--rss-limit",
            "64MiB",
            "--out",
            out.to_str().unwrap(),
        ]),
        BOUND,
    );
    let report = read_json(&out.join("report.json"));
    assert_eq!(run.code(), Some(1), "stdout:\n{}\nstderr:\n{}", run.stdout, run.stderr);
    expect_statuses(&report, &[("caught-up", "pass"), ("no-worker-oom", "pass"), ("peak-rss-below-limit", "fail")]);
    let fig = &report["figures"];
    let peak = fig["peak_os_rss_bytes"].as_u64().unwrap().max(fig["peak_rss_bytes"].as_u64().unwrap_or(0));
    assert!(peak >= 64 << 20, "peak {peak} is below the limit, yet the check failed");
    let why = evidence(&report, "peak-rss-below-limit");
    assert!(why.starts_with(&format!("peak RSS {:.0} MiB", peak as f64 / 1048576.0)), "{why}");
    assert!(why.contains("≥ limit 64 MiB"), "{why}");
    assert_nothing_left(&out);
}
