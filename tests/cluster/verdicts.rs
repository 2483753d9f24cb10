//! Every verdict seen both ways on a real two-node cluster: the checks that
//! fail on stock harperdb 4.7.29 (tests/cluster/blob_save.rs) pass on a
//! Harper with the blob-save containment, and the checks that pass there
//! fail for a real cause (no fault injected, no shim preloaded, a limit
//! below the measured peak). Each test drives the CLI as a user does.

use std::path::Path;
use std::time::Duration;

use blobfail_suite::containment::contained_harper;
use blobfail_suite::driver::*;
use serde_json::Value;

const BOUND: Duration = Duration::from_secs(10 * 60);

fn expect_statuses(report: &Value, want: &[(&str, &str)]) {
    let want: Vec<(String, String)> = want.iter().map(|(n, s)| (n.to_string(), s.to_string())).collect();
    assert_eq!(statuses(report), want, "checks (status, evidence): {:#}", report["checks"]);
}

fn evidence(report: &Value, name: &str) -> String {
    check(report, name)["evidence"].as_str().unwrap().to_string()
}

fn fault_count(out: &Path) -> usize {
    // Fault lines only: each process that saw a matching call ends its part
    // of the log with a summary line.
    std::fs::read_to_string(out.join("faults.jsonl"))
        .map(|t| t.lines().filter(|l| !l.trim().is_empty() && !l.contains(r#""summary":true"#)).count())
        .unwrap_or(0)
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
            // A finding: the containment covers the save, not the reads of
            // a record whose save failed; each still logs an escape.
            ("damaged-reads-contained", "fail"),
        ],
    );
    let faults = fault_count(&out);
    assert!(faults > 0, "no fault injected");
    assert_eq!(report["figures"]["faults_injected"], faults);

    // One contained line per fault, from Harper's own replication logger,
    // naming the record and node A.
    let logged = evidence(&report, "blob-save-failure-logged");
    assert!(logged.starts_with(&format!("{faults} lines with \"Blob save failed for\"")), "{logged}");
    assert!(logged.contains(&format!(" for {faults} damaged blobs on B ({faults} faults): every damaged record is named by one (record ids: ")), "{logged}");
    let a_ip = nodes_of(&out)[0].0;
    let log = std::fs::read_to_string(out.join("node-b/root/log/hdb.log")).unwrap();
    let contained: Vec<&str> = log.lines().filter(|l| l.contains("[error] [replication]: Blob save failed for ")).collect();
    assert_eq!(contained.len(), faults, "contained lines in B's log: {contained:#?}");
    assert!(contained.iter().all(|l| l.contains(&format!(" from {a_ip} [Error: ENOENT"))), "{contained:#?}");
    let clean = evidence(&report, "no-uncaught-exception");
    assert!(clean.starts_with("no uncaughtException entry mentions a blob, ENOENT or a faulted file among "), "{clean}");
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
            ("damaged-reads-contained", "unknown"),
        ],
    );
    // The shim's summary in the fault log says how many opens matched.
    let fired = evidence(&report, "injector-fired");
    assert!(fired.starts_with("0 faults injected: node B made fewer than 1000000 open calls on blob files (pid "), "{fired}");
    assert!(fired.ends_with("): the plan injects nothing on this Harper"), "{fired}");
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
            ("damaged-reads-contained", "unknown"),
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
            "--anon-limit",
            "64MiB",
            "--out",
            out.to_str().unwrap(),
        ]),
        BOUND,
    );
    let report = read_json(&out.join("report.json"));
    assert_eq!(run.code(), Some(1), "stdout:\n{}\nstderr:\n{}", run.stdout, run.stderr);
    expect_statuses(
        &report,
        &[("caught-up", "pass"), ("no-worker-oom", "pass"), ("peak-rss-below-limit", "fail"), ("peak-anon-below-limit", "fail")],
    );
    let fig = &report["figures"];
    let peak = fig["peak_os_rss_bytes"].as_u64().unwrap().max(fig["peak_rss_bytes"].as_u64().unwrap_or(0));
    assert!(peak >= 64 << 20, "peak {peak} is below the limit, yet the check failed");
    let why = evidence(&report, "peak-rss-below-limit");
    assert!(why.starts_with(&format!("peak RSS {:.0} MiB", peak as f64 / 1048576.0)), "{why}");
    assert!(why.contains("≥ limit 64 MiB"), "{why}");
    assert_nothing_left(&out);
}

#[test]
fn a_worker_heap_too_small_for_the_backlog_fails_no_worker_oom_and_caught_up() {
    let _one_cluster = cluster_lock();
    let dir = run_folder();
    let out = path_of(&dir);
    // One transaction of 8,000 records of 1 KiB replicates as one message;
    // decoding it takes B's worker past a 64 MiB heap (its default heap,
    // 2 GiB here, peaked at 107 MiB on it and caught up in 11 s). The
    // worker runs out of memory, Harper restarts it, it runs out again:
    // B starts (64 MiB suffices for that) but never catches up.
    let run = run_bounded(
        blobfail(&[
            "run",
            "backlog-memory",
            "--b-setting",
            "THREADS_MAXHEAPMEMORY=64",
            "--transactions",
            "1",
            "--records",
            "8000",
            "--after-catch-up",
            "1",
            "--catch-up-timeout",
            // Room for a slow restart: on a loaded 2-core machine B took
            // 18 s to come back and its worker ran out 7 s later.
            "40",
            "--out",
            out.to_str().unwrap(),
        ]),
        BOUND,
    );
    let report = read_json(&out.join("report.json"));
    assert_eq!(run.code(), Some(1), "stdout:\n{}\nstderr:\n{}", run.stdout, run.stderr);
    expect_statuses(
        &report,
        &[("caught-up", "fail"), ("no-worker-oom", "fail"), ("peak-rss-below-limit", "pass"), ("peak-anon-below-limit", "pass")],
    );
    // The setting reached B, and only B.
    let config = |n: &str| std::fs::read_to_string(out.join(format!("node-{n}/root/harperdb-config.yaml"))).unwrap();
    assert!(config("b").contains("maxHeapMemory: 64"), "B's config:\n{}", config("b"));
    assert!(!config("a").contains("maxHeapMemory: 64"), "A's config:\n{}", config("a"));
    assert_eq!(report["nodes"][1]["install_settings"], serde_json::json!(["THREADS_MAXHEAPMEMORY=64"]));

    // The evidence is B's own log: Harper's main thread reporting its
    // worker's end, after B's restart on the backlog.
    let oom = check(&report, "no-worker-oom");
    let lines: Vec<&str> = oom["lines"].as_array().unwrap().iter().map(|l| l.as_str().unwrap()).collect();
    let reported: Vec<&&str> = lines
        .iter()
        .filter(|l| l.contains("[error]: Worker index 0 error: Error [ERR_WORKER_OUT_OF_MEMORY]: Worker terminated due to reaching memory limit: JS heap out of memory"))
        .collect();
    assert!(!reported.is_empty(), "no worker end in the evidence: {lines:#?}");
    // B was stopped before A committed the backlog, so a worker end after
    // B's first start is one on the backlog. (B's second "successfully
    // started" line is no marker: on a loaded machine the worker can run
    // out before Harper's main thread writes it, as a CI run saw.)
    let log = std::fs::read_to_string(out.join("node-b/root/log/hdb.log")).unwrap();
    let first_start = log.find("HarperDB successfully started").expect("B's first start in its log");
    let first_oom = log.find("ERR_WORKER_OUT_OF_MEMORY").unwrap();
    assert!(first_oom > first_start, "the worker ran out of memory at B's first start, before any backlog:\n{log}");
    let why = evidence(&report, "no-worker-oom");
    assert!(why.starts_with(&format!("{} lines with ERR_WORKER_OUT_OF_MEMORY", lines.len())), "{why}");

    let caught = evidence(&report, "caught-up");
    // Harper restarts the worker each time it runs out, and so B never
    // catches up; on a loaded machine (a CI run) Harper's main process once
    // gave up instead and exited, which caught-up reports as B's death
    // with the cause from B's output.
    let bound_ran_out = caught.starts_with("B's record_count was ") && caught.ends_with(" of A's 8000 when the 40 s bound ran out");
    let b_died = caught.starts_with("B did not catch up: node b (pid ") && caught.contains(" died: ") && caught.contains("(ERR_WORKER_OUT_OF_MEMORY in its output)");
    assert!(bound_ran_out || b_died, "{caught}");
    assert_eq!(report["figures"]["records_a"], 8000);
    assert!(report["figures"]["catch_up_seconds"].is_null());
    assert_nothing_left(&out);
}

#[test]
fn cutting_replication_after_the_load_fails_peer_connected_and_liveness() {
    let _one_cluster = cluster_lock();
    let dir = run_folder();
    let out = path_of(&dir);
    let run = run_bounded(
        // A cut B never sees the probe: liveness waits out its whole bound,
        // so the bound is short (a healthy B sees it within 0.3 s).
        blobfail(&[
            "run", "blob-save", "--cut-replication", "--liveness-timeout", "5", "--requests", "60", "--seed", "7", "--out",
            out.to_str().unwrap(),
        ]),
        BOUND,
    );
    let report = read_json(&out.join("report.json"));
    assert_eq!(run.code(), Some(1), "stdout:\n{}\nstderr:\n{}", run.stdout, run.stderr);
    // The blob checks judge what happened before the cut, as on stock 4.7.29.
    expect_statuses(
        &report,
        &[
            ("injector-fired", "pass"),
            ("blob-save-failure-logged", "fail"),
            ("no-uncaught-exception", "fail"),
            ("peer-connected", "fail"),
            ("liveness", "fail"),
            ("nothing-lost", "fail"),
            ("damaged-reads-contained", "fail"),
        ],
    );
    let a_ip = nodes_of(&out)[0].0;
    let peer = evidence(&report, "peer-connected");
    assert!(peer.starts_with(&format!("node B's cluster_status does not list A ({a_ip}): ")), "{peer}");
    assert!(peer.contains("\"connections\":[]"), "{peer}");
    let live = evidence(&report, "liveness");
    let records_b = report["figures"]["records_b"].as_u64().unwrap();
    assert!(
        live.starts_with(&format!("upsert of \"blobfail-liveness-7\" on A did not reach B: B's record_count stayed {records_b} (was {records_b}) for ")),
        "{live}"
    );
    // It waited out the bound it was given, and no longer.
    let waited = report["figures"]["liveness_seconds"].as_f64().unwrap();
    assert!((5.0..15.0).contains(&waited), "liveness waited {waited} s with a 5 s bound: {live}");
    assert!(report["figures"]["replication_cut_seconds"].as_f64().is_some_and(|s| s < 30.0), "{}", report["figures"]);
    assert!(run.stderr.contains(&format!("cutting replication: remove_node of {a_ip} on node B: B lists no connection to A (")), "{}", run.stderr);
    // The cut is a nemesis in the run's history, after the plan armed from B's start.
    let history = report["figures"]["history"].as_array().unwrap();
    let whats: Vec<(&str, &str, &str)> = history
        .iter()
        .map(|e| (e["nemesis"].as_str().unwrap(), e["node"].as_str().unwrap(), e["what"].as_str().unwrap()))
        .collect();
    assert_eq!(whats, [("shim plan open-enoent", "b", "started"), ("cut-replication", "b", "started")], "{history:?}");
    assert!(history[1]["detail"].as_str().unwrap().starts_with(&format!("remove_node of {a_ip} (a) on b: b lists no connection to it after ")), "{history:?}");
    // B's own account of the cut: it dropped its subscriptions to A.
    let log_b = std::fs::read_to_string(out.join("node-b/root/log/hdb.log")).unwrap();
    assert!(log_b.contains(&format!("Node was deleted, unsubscribing from node {a_ip} data")), "B's log:\n{log_b}");
    assert_nothing_left(&out);
}
