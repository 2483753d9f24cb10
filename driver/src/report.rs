//! Writing a run's results: `report.json` (atomically), the human report
//! with one line per check, and the one-line summary of where the time went.

use std::path::Path;

use anyhow::{Context, Result};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::model::{Check, Report, Status};

/// Writes JSON to `path` through a temporary file and a rename, so a reader
/// never sees half a report.
pub fn write_json_atomic<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let tmp = path.with_extension("json.tmp");
    let text = serde_json::to_string_pretty(value)?;
    std::fs::write(&tmp, text + "\n").with_context(|| format!("failed to write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("failed to move {} into place", path.display()))?;
    Ok(())
}

/// Writes text to `path` through a temporary file and a rename.
pub fn write_text_atomic(path: &Path, text: &str) -> Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).with_context(|| format!("failed to write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("failed to move {} into place", path.display()))
}

/// The human report of one scenario, saying first if it was interrupted.
pub fn render_report(r: &Report) -> String {
    let title = r.title.as_deref().unwrap_or(&r.scenario);
    let mut s = render_human(title, &r.checks, r.verdict);
    // The faults in time, when a nemesis started and stopped during the run.
    let events = r.figures.get("history").and_then(Value::as_array).filter(|h| h.iter().any(|e| e["what"] == "stopped"));
    if let Some(events) = events {
        let mut lines = String::from("faults in time:\n");
        for e in events {
            lines.push_str(&format!(
                "  {:.1} s: {} {} {} ({})\n",
                e["t"].as_f64().unwrap_or(0.0),
                e["nemesis"].as_str().unwrap_or("?"),
                e["node"].as_str().unwrap_or("?"),
                e["what"].as_str().unwrap_or("?"),
                e["detail"].as_str().unwrap_or("")
            ));
        }
        s = s.replacen("verdict: ", &format!("{lines}verdict: "), 1);
    }
    if let Some(i) = &r.interrupted {
        // The header stays short: stderr's last line and the report's
        // `interrupted.reason` carry the whole story.
        let header = format!("\n{title} (interrupted: {}, in the {} phase):\n", i.by, i.phase);
        s = s.replacen(&format!("\n{title}:\n"), &header, 1);
        s = s.replace(&format!("verdict: {}", r.verdict.describe()), "verdict: UNKNOWN (the run was interrupted)");
    }
    s
}

/// One line: where a scenario's wall time went, phase by phase in the order
/// of `phases` (each phase's figure key and the words a person reads), from
/// its `<phase>_seconds` figures.
pub fn render_time_summary(scenario: &str, phases: &[(&str, &str)], figures: &Map<String, Value>) -> String {
    let parts: Vec<String> = phases
        .iter()
        .filter_map(|(k, label)| figures.get(&format!("{k}_seconds")).and_then(Value::as_f64).map(|s| format!("{label} {s:.1} s")))
        .collect();
    let total = figures.get("total_seconds").and_then(Value::as_f64).unwrap_or(0.0);
    format!("where the time went ({scenario}, {total:.1} s): {}", parts.join(", "))
}

/// The human report: one line per check, its evidence indented below.
pub fn render_human(title: &str, checks: &[Check], verdict: Status) -> String {
    let mut s = format!("\n{title}:\n");
    for c in checks {
        let tag = match c.status {
            Status::Pass => "PASS   ",
            Status::Fail => "FAIL   ",
            Status::Unknown => "UNKNOWN",
        };
        let mut lines = c.evidence.lines();
        s.push_str(&format!("  {tag} {:<26} {}\n", c.name, lines.next().unwrap_or("")));
        for l in lines {
            s.push_str(&format!("          {:<26} {l}\n", ""));
        }
    }
    s.push_str(&format!("verdict: {}\n", verdict.describe()));
    s
}

/// The matrix of several runs (`--fault a,b`): one row per run, one column
/// per check (in the order the checks first appear), each cell its status.
pub fn render_matrix(reports: &[Report]) -> String {
    let mut columns: Vec<&str> = Vec::new();
    for c in reports.iter().flat_map(|r| &r.checks) {
        if !columns.contains(&c.name.as_str()) {
            columns.push(&c.name);
        }
    }
    let width = reports.iter().map(|r| r.scenario.len()).max().unwrap_or(0).max(3);
    let mut s = format!("\n{:<width$}", "run");
    for c in &columns {
        s.push_str(&format!("  {c}"));
    }
    s.push_str("  verdict\n");
    for r in reports {
        s.push_str(&format!("{:<width$}", r.scenario));
        for c in &columns {
            let cell = match r.checks.iter().find(|x| x.name == *c).map(|x| x.status) {
                Some(Status::Pass) => "PASS",
                Some(Status::Fail) => "FAIL",
                Some(Status::Unknown) => "UNKNOWN",
                None => "-",
            };
            s.push_str(&format!("  {cell:<w$}", w = c.len()));
        }
        let verdict = match r.verdict {
            Status::Pass => "PASS",
            Status::Fail => "FAIL",
            Status::Unknown => "UNKNOWN",
        };
        s.push_str(&format!("  {verdict}\n"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(name: &str, status: Status) -> Check {
        Check { name: name.into(), status, evidence: "e".into(), lines: vec![] }
    }

    #[test]
    fn the_human_report_has_one_line_per_check_and_indents_evidence() {
        let mut failing = check("no-uncaught-exception", Status::Fail);
        failing.evidence = "2 entries:\n  hdb.log:3: uncaughtException".into();
        let text = render_human("blob-save", &[check("liveness", Status::Pass), failing], Status::Fail);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[1], "blob-save:");
        assert!(lines[2].starts_with("  PASS    liveness "), "{text}");
        assert!(lines[3].starts_with("  FAIL    no-uncaught-exception      2 entries:"), "{text}");
        assert!(lines[4].ends_with("  hdb.log:3: uncaughtException"), "{text}");
        assert_eq!(lines[5], "verdict: FAIL (a check failed)");
    }

    #[test]
    fn the_matrix_has_a_row_per_run_and_a_column_per_check() {
        let a = Report::bare("blob-save/open-enoent", vec![check("liveness", Status::Pass), check("nothing-lost", Status::Fail)]);
        let b = Report::bare("blob-save/slow-disk", vec![check("liveness", Status::Pass), check("nothing-lost", Status::Unknown)]);
        let m = render_matrix(&[a, b]);
        let lines: Vec<&str> = m.lines().collect();
        assert_eq!(lines[1], "run                    liveness  nothing-lost  verdict");
        assert_eq!(lines[2], "blob-save/open-enoent  PASS      FAIL          FAIL");
        assert_eq!(lines[3], "blob-save/slow-disk    PASS      UNKNOWN       UNKNOWN");
    }

    #[test]
    fn the_time_summary_follows_the_phase_order_given() {
        let mut f = Map::new();
        f.insert("checks_seconds".into(), 2.0.into());
        f.insert("install_seconds".into(), 1.3.into());
        f.insert("total_seconds".into(), 3.3.into());
        let line = render_time_summary("x", &[("install", "harper install"), ("workload", "workload"), ("checks", "checks")], &f);
        assert_eq!(line, "where the time went (x, 3.3 s): harper install 1.3 s, checks 2.0 s");
    }

    #[test]
    fn report_json_is_written_whole_and_leaves_no_temp_file() {
        let dir = std::env::temp_dir().join(format!("blobfail-report-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("report.json");
        write_json_atomic(&path, &serde_json::json!({"verdict": "fail"})).unwrap();
        let back: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(back["verdict"], "fail");
        assert!(!dir.join("report.json.tmp").exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
