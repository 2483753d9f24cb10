//! fault-heal both ways on real clusters, in one test: a control window
//! that injects nothing (`--window-max 0`: armed and healed, no fault) and
//! a window that fails B's blob write-opens. serving-after-heal passes in
//! both; healed has nothing to judge in the control (UNKNOWN) and, on
//! harperdb 4.7.29, fails for the real effect: nothing the window damaged
//! is fetched again from A (measured, docs/fault-heal.md).

use std::path::Path;
use std::time::Duration;

use blobfail_suite::driver::*;
use serde_json::Value;

const BOUND: Duration = Duration::from_secs(10 * 60);

fn fault_heal(out: &Path, extra: &[&str]) -> (Run, Value) {
    let mut args = vec!["run", "fault-heal", "--requests", "200", "--arm-after", "50", "--armed-for", "0.5", "--heal-bound", "6", "--seed", "42"];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["--out", out.to_str().unwrap()]);
    let run = run_bounded(blobfail(&args), BOUND);
    let report = read_json(&out.join("report.json"));
    assert_nothing_left(out);
    (run, report)
}

/// The run's history: (nemesis, node, what) of each event.
fn history(report: &Value) -> Vec<(String, String, String)> {
    let events = report["figures"]["history"].as_array().expect("figures.history");
    events.iter().map(|e| (e["nemesis"].as_str().unwrap().into(), e["node"].as_str().unwrap().into(), e["what"].as_str().unwrap().into())).collect()
}

fn fault_lines(out: &Path) -> u64 {
    let text = std::fs::read_to_string(out.join("faults.jsonl")).unwrap_or_default();
    text.lines().filter(|l| l.contains(r#""call":"#) && !l.contains(r#""control":true"#) && !l.contains(r#""summary":true"#)).count() as u64
}

#[test]
fn a_heal_with_nothing_damaged_is_unknown_and_the_real_window_leaves_its_records_damaged_on_4_7_29() {
    let _one_cluster = cluster_lock();
    let armed_healed = vec![
        ("shim-control".to_string(), "b".to_string(), "started".to_string()),
        ("shim-control".to_string(), "b".to_string(), "stopped".to_string()),
    ];

    // The control: armed and healed, with at most 0 faults.
    let dir = run_folder();
    let out = path_of(&dir);
    let (run, report) = fault_heal(&out, &["--window-max", "0"]);
    assert_eq!(run.code(), Some(2), "stderr:\n{}", run.stderr);
    assert_eq!(check(&report, "serving-after-heal")["status"], "pass", "{:#}", report["checks"]);
    let healed = check(&report, "healed");
    assert_eq!(healed["status"], "unknown", "{healed:#}");
    assert!(healed["evidence"].as_str().unwrap().contains("(0 faults injected while armed), none damaged on B at the first look"), "{healed:#}");
    assert_eq!(history(&report), armed_healed);
    assert_eq!(fault_lines(&out), 0);
    let f = &report["figures"];
    assert_eq!((f["faults_in_window"].as_u64(), f["records_damaged_at_first_look"].as_u64()), (Some(0), Some(0)));
    assert!(f["records_written_after_heal"].as_u64().unwrap() > 0, "{f:#}");

    // The real effect: every 7th blob write-open fails with ENOENT while armed.
    let dir = run_folder();
    let out = path_of(&dir);
    let (run, report) = fault_heal(&out, &[]);
    assert_eq!(run.code(), Some(1), "stderr:\n{}", run.stderr);
    assert_eq!(check(&report, "serving-after-heal")["status"], "pass", "{:#}", report["checks"]);
    let f = &report["figures"];
    let faults = f["faults_in_window"].as_u64().unwrap();
    assert!(faults > 0, "{f:#}");
    assert_eq!(faults, fault_lines(&out), "{f:#}");
    let damaged = f["records_damaged_at_first_look"].as_u64().unwrap();
    assert_eq!(damaged, faults, "one damaged record per faulted blob write-open: {f:#}");
    assert_eq!(f["records_still_damaged_at_bound"].as_u64(), Some(damaged), "{f:#}");
    assert_eq!(f["time_to_heal_seconds"], Value::Null);
    let healed = check(&report, "healed");
    assert_eq!(healed["status"], "fail", "{healed:#}");
    let want = format!("{damaged} of {damaged} records damaged on B by the window ({faults} faults) are still damaged 6 s after the heal");
    assert!(healed["evidence"].as_str().unwrap().starts_with(&want), "{healed:#}");
    assert_eq!(history(&report), armed_healed);
}
