//! What the user sees: progress on long steps (a bar or spinner on a
//! terminal, plain lines otherwise), the human report with one line per check,
//! and `report.json`, written atomically.

use std::io::IsTerminal;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::checks::{Check, Status};
use crate::journal::{Interruption, Journal};

/// Progress for the run's steps; plain lines when stderr is not a terminal.
/// It carries the run's journal, so whatever reports progress also records
/// what an interrupted run's partial report needs.
#[derive(Clone)]
pub struct Progress {
    tty: bool,
    journal: Journal,
}

impl Progress {
    pub fn new() -> Self {
        Self { tty: std::io::stderr().is_terminal(), journal: Journal::default() }
    }

    pub fn journal(&self) -> &Journal {
        &self.journal
    }

    /// A spinner with a message, or one line when not on a terminal.
    pub fn step(&self, what: &str) -> Step {
        let bar = if self.tty {
            let b = ProgressBar::new_spinner();
            b.set_style(ProgressStyle::with_template("{spinner} {prefix} {msg}").unwrap());
            b.set_prefix(what.to_string());
            b.enable_steady_tick(Duration::from_millis(120));
            b
        } else {
            eprintln!("blobfail: {what} ...");
            ProgressBar::hidden()
        };
        Step { bar, what: what.to_string(), tty: self.tty, start: Instant::now() }
    }

    /// A bar of `len` items; when not on a terminal, a line every 25%.
    pub fn bar(&self, what: &str, len: u64) -> Bar {
        let bar = if self.tty {
            let b = ProgressBar::new(len);
            b.set_style(
                ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {msg} ({elapsed})")
                    .unwrap()
                    .progress_chars("=> "),
            );
            b.set_prefix(what.to_string());
            b
        } else {
            eprintln!("blobfail: {what} ({len}) ...");
            ProgressBar::hidden()
        };
        Bar { bar, what: what.to_string(), tty: self.tty, len, last_quarter: std::sync::atomic::AtomicU64::new(0) }
    }
}

pub struct Step {
    bar: ProgressBar,
    what: String,
    tty: bool,
    start: Instant,
}

impl Step {
    pub fn set_message(&self, msg: &str) {
        self.bar.set_message(msg.to_string());
    }

    pub fn finish(self, detail: &str) {
        if self.tty {
            self.bar.finish_and_clear();
            eprintln!("✓ {}: {detail}", self.what);
        } else {
            eprintln!("blobfail: {}: {detail} ({:.1} s)", self.what, self.start.elapsed().as_secs_f64());
        }
    }
}

impl Drop for Step {
    fn drop(&mut self) {
        if !self.bar.is_finished() {
            self.bar.finish_and_clear();
        }
    }
}

pub struct Bar {
    bar: ProgressBar,
    what: String,
    tty: bool,
    len: u64,
    last_quarter: std::sync::atomic::AtomicU64,
}

impl Bar {
    pub fn inc(&self) {
        self.bar.inc(1);
        if !self.tty && self.len > 0 {
            let q = self.bar.position() * 4 / self.len;
            let prev = self.last_quarter.fetch_max(q, std::sync::atomic::Ordering::Relaxed);
            if q > prev && q < 4 {
                eprintln!("blobfail: {}: {}/{}", self.what, self.bar.position(), self.len);
            }
        }
    }

    pub fn finish(self, detail: &str) {
        self.bar.finish_and_clear();
        if self.tty {
            eprintln!("✓ {}: {detail}", self.what);
        } else {
            eprintln!("blobfail: {}: {detail}", self.what);
        }
    }
}

/// The overall verdict of a run: pass only when every check passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Pass,
    Fail,
    Unknown,
}

impl Verdict {
    pub fn of(checks: &[Check]) -> Verdict {
        if checks.iter().any(|c| c.status == Status::Fail) {
            Verdict::Fail
        } else if checks.is_empty() || checks.iter().any(|c| c.status == Status::Unknown) {
            Verdict::Unknown
        } else {
            Verdict::Pass
        }
    }

    pub fn combine(verdicts: &[Verdict]) -> Verdict {
        if verdicts.contains(&Verdict::Fail) {
            Verdict::Fail
        } else if verdicts.is_empty() || verdicts.contains(&Verdict::Unknown) {
            Verdict::Unknown
        } else {
            Verdict::Pass
        }
    }
}

/// One scenario's result, as written to `report.json`.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub scenario: String,
    pub verdict: Verdict,
    pub checks: Vec<Check>,
    pub figures: Map<String, Value>,
    pub harper: Value,
    pub nodes: Vec<Value>,
    pub files: Map<String, Value>,
    pub teardown: Vec<Value>,
    /// Said to the user after the report (e.g. how to reach a kept cluster).
    #[serde(skip)]
    pub note: Option<String>,
    /// Set when the run was cut short (Ctrl-C, SIGTERM, a node stopped from
    /// outside): the verdict is then unknown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interrupted: Option<Interruption>,
}

#[cfg(test)]
impl Report {
    /// A report with just a scenario and its checks, for unit tests.
    pub fn bare(scenario: &str, checks: Vec<Check>) -> Report {
        Report {
            scenario: scenario.into(),
            verdict: Verdict::of(&checks),
            checks,
            figures: Map::new(),
            harper: Value::Null,
            nodes: vec![],
            files: Map::new(),
            teardown: vec![],
            note: None,
            interrupted: None,
        }
    }
}

/// Several scenarios' results (`blobfail run all`).
#[derive(Debug, Clone, Serialize)]
pub struct CombinedReport {
    pub scenario: String,
    pub verdict: Verdict,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interrupted: Option<Interruption>,
    pub checks: Vec<Check>,
    pub scenarios: Vec<Report>,
}

impl CombinedReport {
    /// One report over several scenarios: every check, named
    /// `<scenario>/<check>`, and the verdict over all of them.
    pub fn of(scenarios: Vec<Report>) -> CombinedReport {
        let checks: Vec<Check> = scenarios
            .iter()
            .flat_map(|r| r.checks.iter().map(move |c| Check { name: format!("{}/{}", r.scenario, c.name), ..c.clone() }))
            .collect();
        let interrupted = scenarios.iter().find_map(|r| r.interrupted.clone());
        // An interrupted run has no verdict, whatever its finished part found.
        let verdict = match interrupted {
            Some(_) => Verdict::Unknown,
            None => Verdict::combine(&scenarios.iter().map(|r| r.verdict).collect::<Vec<_>>()),
        };
        CombinedReport { scenario: "all".into(), verdict, interrupted, checks, scenarios }
    }
}

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
    let mut s = render_human(&r.scenario, &r.checks, r.verdict);
    if let Some(i) = &r.interrupted {
        // The header stays short: stderr's last line and the report's
        // `interrupted.reason` carry the whole story.
        let header = format!("\n{} (interrupted: {}, in the {} phase):\n", r.scenario, i.by, i.phase);
        s = s.replacen(&format!("\n{}:\n", r.scenario), &header, 1);
        s = s.replace(&format!("verdict: {}", r.verdict.describe()), "verdict: UNKNOWN (the run was interrupted)");
    }
    s
}

/// Phases in the order a run goes through them, with the words a person
/// reads in the time summary (`install` is getting Harper, from the cache or
/// npm; `provision` is `harper install` of each node).
const PHASES: [(&str, &str); 14] = [
    ("install", "harper install"),
    ("provision", "node install"),
    ("start", "start"),
    ("join", "join"),
    ("workload", "workload"),
    ("settle", "settle"),
    ("stop_b", "stop B"),
    ("backlog", "backlog commit"),
    ("restart", "restart"),
    ("catching_up", "catch-up"),
    ("after_catch_up", "after catch-up"),
    ("checks", "checks"),
    ("teardown", "teardown"),
    ("total", "total"),
];

/// One line: where a scenario's wall time went, phase by phase, from its
/// `<phase>_seconds` figures.
pub fn render_time_summary(scenario: &str, figures: &Map<String, Value>) -> String {
    let parts: Vec<String> = PHASES
        .iter()
        .filter(|(k, _)| *k != "total")
        .filter_map(|(k, label)| figures.get(&format!("{k}_seconds")).and_then(Value::as_f64).map(|s| format!("{label} {s:.1} s")))
        .collect();
    let total = figures.get("total_seconds").and_then(Value::as_f64).unwrap_or(0.0);
    format!("where the time went ({scenario}, {total:.1} s): {}", parts.join(", "))
}

/// The human report: one line per check, its evidence indented below.
pub fn render_human(scenario: &str, checks: &[Check], verdict: Verdict) -> String {
    let mut s = format!("\n{scenario}:\n");
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

impl Verdict {
    pub fn describe(self) -> &'static str {
        match self {
            Verdict::Pass => "PASS (all checks passed)",
            Verdict::Fail => "FAIL (a check failed)",
            Verdict::Unknown => "UNKNOWN (a check could not decide)",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(name: &str, status: Status) -> Check {
        Check { name: name.into(), status, evidence: "e".into(), lines: vec![] }
    }

    #[test]
    fn verdict_is_fail_when_any_check_fails_even_beside_unknown() {
        let v = Verdict::of(&[check("a", Status::Pass), check("b", Status::Unknown), check("c", Status::Fail)]);
        assert_eq!(v, Verdict::Fail);
    }

    #[test]
    fn verdict_is_unknown_when_nothing_failed_but_something_is_undecided() {
        assert_eq!(Verdict::of(&[check("a", Status::Pass), check("b", Status::Unknown)]), Verdict::Unknown);
        assert_eq!(Verdict::of(&[]), Verdict::Unknown);
    }

    #[test]
    fn verdict_is_pass_only_when_every_check_passed() {
        assert_eq!(Verdict::of(&[check("a", Status::Pass), check("b", Status::Pass)]), Verdict::Pass);
    }

    fn report(scenario: &str, checks: Vec<Check>) -> Report {
        Report::bare(scenario, checks)
    }

    #[test]
    fn a_combined_report_prefixes_checks_and_fails_if_one_scenario_fails() {
        let c = CombinedReport::of(vec![
            report("blob-save", vec![check("liveness", Status::Pass), check("no-uncaught-exception", Status::Fail)]),
            report("backlog-memory", vec![check("caught-up", Status::Pass)]),
        ]);
        assert_eq!(c.verdict, Verdict::Fail);
        let names: Vec<&str> = c.checks.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["blob-save/liveness", "blob-save/no-uncaught-exception", "backlog-memory/caught-up"]);
        let both_pass = CombinedReport::of(vec![report("x", vec![check("a", Status::Pass)]), report("y", vec![check("b", Status::Pass)])]);
        assert_eq!(both_pass.verdict, Verdict::Pass);
    }

    #[test]
    fn the_human_report_has_one_line_per_check_and_indents_evidence() {
        let mut failing = check("no-uncaught-exception", Status::Fail);
        failing.evidence = "2 entries:\n  hdb.log:3: uncaughtException".into();
        let text = render_human("blob-save", &[check("liveness", Status::Pass), failing], Verdict::Fail);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[1], "blob-save:");
        assert!(lines[2].starts_with("  PASS    liveness "), "{text}");
        assert!(lines[3].starts_with("  FAIL    no-uncaught-exception      2 entries:"), "{text}");
        assert!(lines[4].ends_with("  hdb.log:3: uncaughtException"), "{text}");
        assert_eq!(lines[5], "verdict: FAIL (a check failed)");
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
