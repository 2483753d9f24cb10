//! `blobfail judge` on a real run's folder: the same statuses, evidence and
//! figures as the run's own report.json, from observations.json alone. Called from
//! a cluster test that keeps its run folder (no cluster run of its own).

use std::path::Path;
use std::time::Duration;

use blobfail_suite::driver::*;
use serde_json::Value;

/// Judges the run folder `out` again (into a fresh folder) and asserts
/// that every check's name, status, evidence and lines are the run's, in
/// the run's order, with the same figures, verdict and exit code.
pub fn assert_judge_reproduces(out: &Path) {
    let run_report: Value = read_json(&out.join("report.json"));
    assert!(out.join("observations.json").is_file(), "the run saved no observations.json in {}", out.display());
    let again = run_folder();
    let again_path = path_of(&again);
    let judged = run_bounded(
        blobfail(&["judge", out.to_str().unwrap(), "--out", again_path.to_str().unwrap()]),
        Duration::from_secs(60),
    );
    let expected_code = match run_report["verdict"].as_str() {
        Some("pass") => 0,
        Some("fail") => 1,
        _ => 2,
    };
    assert_eq!(judged.code(), Some(expected_code), "stdout:\n{}\nstderr:\n{}", judged.stdout, judged.stderr);
    let report: Value = read_json(&again_path.join("report.json"));
    assert_eq!(report["scenario"], run_report["scenario"]);
    assert_eq!(report["verdict"], run_report["verdict"]);
    let fields = |r: &Value| -> Vec<(Value, Value, Value, Value)> {
        r["checks"]
            .as_array()
            .expect("checks")
            .iter()
            .map(|c| (c["name"].clone(), c["status"].clone(), c["evidence"].clone(), c["lines"].clone()))
            .collect()
    };
    assert_eq!(fields(&report), fields(&run_report), "blobfail judge gave other checks than the run");
    assert_eq!(report["figures"], run_report["figures"], "blobfail judge gave other figures than the run");
    // The human report names every check with the run's status.
    for (name, status) in statuses(&run_report) {
        let tag = status.to_uppercase();
        assert!(
            judged.stdout.lines().any(|l| l.trim_start().starts_with(&tag) && l.contains(&format!(" {name} "))),
            "{name} {tag} not in:\n{}",
            judged.stdout
        );
    }
    // Nothing but report.json is written, and the run's own is left as it was.
    assert_eq!(read_json(&out.join("report.json")), run_report);
}
