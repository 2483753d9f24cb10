//! End-to-end: `blobfail run all` runs both scenarios on real clusters and
//! gives one combined report and exit code.

use std::time::Duration;

use blobfail_suite::driver::*;
use serde_json::Value;

#[test]
fn run_all_combines_both_scenarios_into_one_report_and_exit_code() {
    let _one_cluster = cluster_lock();
    let dir = run_folder();
    let out = path_of(&dir);
    let run = run_bounded(
        blobfail(&[
            "run", "all", "--requests", "60", "--transactions", "5", "--records", "100", "--after-catch-up", "1",
            "--seed", "3", "--out", out.to_str().unwrap(),
        ]),
        Duration::from_secs(15 * 60),
    );
    // blob-save fails on 4.7.29, so the whole run does.
    assert_eq!(run.code(), Some(1), "stdout:\n{}\nstderr:\n{}", run.stdout, run.stderr);
    let combined: Value = read_json(&out.join("report.json"));
    assert_eq!(combined["scenario"], "all");
    assert_eq!(combined["verdict"], "fail");
    let scenarios: Vec<&str> = combined["scenarios"].as_array().unwrap().iter().map(|s| s["scenario"].as_str().unwrap()).collect();
    assert_eq!(scenarios, ["blob-save", "backlog-memory"]);
    assert_eq!(check(&combined, "blob-save/no-uncaught-exception")["status"], "fail");
    assert_eq!(check(&combined, "blob-save/liveness")["status"], "pass");
    assert_eq!(check(&combined, "backlog-memory/caught-up")["status"], "pass");
    // blob-save's seven checks and backlog-memory's four.
    assert_eq!(combined["checks"].as_array().unwrap().len(), 11);
    // Each scenario keeps its own folder and report.
    for (sub, verdict) in [("blob-save", "fail"), ("backlog-memory", "pass")] {
        let r = read_json(&out.join(sub).join("report.json"));
        assert_eq!(r["verdict"], verdict, "{sub}");
        assert_nothing_left(&out.join(sub));
    }
    assert!(out.join("backlog-memory/memory.svg").is_file());
    let junit = std::fs::read_to_string(out.join("junit.xml")).unwrap();
    assert_eq!(junit.matches("<testsuite ").count(), 2, "{junit}");
    assert_eq!(junit.matches("<testcase ").count(), 11, "{junit}");
    assert!(run.stdout.contains("all scenarios: FAIL (a check failed)"), "{}", run.stdout);
}
