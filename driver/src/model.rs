//! The shared vocabulary of a run: a check's `Status` (also a run's
//! verdict), a `Check` with its evidence, a scenario's `Report`, and `Halt`,
//! why a run or one of its nodes stopped before its end. A leaf: it imports
//! nothing of the driver.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Pass, fail or unknown: of one check, and (by `Status::of`) of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Fail,
    Unknown,
}

impl Status {
    /// A run's verdict over its checks: fail if any failed (whatever else
    /// could not decide), pass only when every check passed, else unknown.
    pub fn of(checks: &[Check]) -> Status {
        Status::combine(&checks.iter().map(|c| c.status).collect::<Vec<_>>())
    }

    /// The same rule over several verdicts (`blobfail run all`).
    pub fn combine(all: &[Status]) -> Status {
        if all.contains(&Status::Fail) {
            Status::Fail
        } else if all.is_empty() || all.contains(&Status::Unknown) {
            Status::Unknown
        } else {
            Status::Pass
        }
    }

    /// The word the human report gives it.
    pub fn label(self) -> &'static str {
        match self {
            Status::Pass => "PASS",
            Status::Fail => "FAIL",
            Status::Unknown => "UNKNOWN",
        }
    }

    /// The verdict line of the human report.
    pub fn describe(self) -> &'static str {
        match self {
            Status::Pass => "PASS (all checks passed)",
            Status::Fail => "FAIL (a check failed)",
            Status::Unknown => "UNKNOWN (a check could not decide)",
        }
    }
}

/// One named check, its status and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Check {
    pub name: String,
    pub status: Status,
    /// A sentence, then for a failure the offending lines (shortened).
    pub evidence: String,
    /// The offending log lines in full (first line of each entry).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lines: Vec<String>,
}

/// Runs one check: a panic inside it becomes UNKNOWN with the reason (as
/// Jepsen's `check-safe` does), so one broken check leaves the others' verdicts.
pub fn check_safe(name: &str, f: impl FnOnce() -> Check) -> Check {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(c) => c,
        Err(p) => {
            let why = p
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| p.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic without a message".to_string());
            Check::new(name, Status::Unknown, format!("the check itself failed (a panic: {why}): nothing was judged"))
        }
    }
}

impl Check {
    /// One check judged on several nodes (each faulted node against the
    /// source), as one: it fails if any node's failed, passes only if every
    /// node's passed, else is unknown; the evidence is each node's, named.
    /// With one node, that node's check as it is.
    pub fn across_nodes(mut per_node: Vec<(String, Check)>) -> Check {
        if per_node.len() == 1 {
            return per_node.pop().expect("one").1;
        }
        let name = per_node.first().map(|(_, c)| c.name.clone()).unwrap_or_default();
        let status = Status::combine(&per_node.iter().map(|(_, c)| c.status).collect::<Vec<_>>());
        let evidence = per_node
            .iter()
            .map(|(node, c)| format!("node {}: {} {}", node.to_uppercase(), c.status.label(), c.evidence))
            .collect::<Vec<_>>()
            .join("\n");
        let lines = per_node.into_iter().flat_map(|(_, c)| c.lines).collect();
        Check { name, status, evidence, lines }
    }

    pub fn new(name: &str, status: Status, evidence: impl Into<String>) -> Check {
        Check { name: name.into(), status, evidence: evidence.into(), lines: Vec::new() }
    }

    /// Adds the offending lines: all of them in `lines`, the first five
    /// (cut in the middle when long) in the evidence.
    pub fn with_lines(mut self, lines: Vec<String>) -> Check {
        const SHOWN: usize = 5;
        for l in lines.iter().take(SHOWN) {
            self.evidence.push_str("\n  ");
            self.evidence.push_str(&shorten_middle(l, 200));
        }
        if lines.len() > SHOWN {
            self.evidence.push_str(&format!("\n  … and {} more (all in report.json \"lines\")", lines.len() - SHOWN));
        }
        self.lines = lines;
        self
    }
}

pub use crate::text::shorten_middle;

/// Why a run, or a node of it, stopped before its end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Halt {
    /// Ctrl-C, SIGTERM or SIGHUP reached the driver: the run is interrupted.
    Signal(&'static str),
    /// A node was stopped by something outside the run (a signal blobfail
    /// did not send): the run is interrupted, and what needed the node cannot
    /// be decided. `short` says how (for each check), `text` adds the node's
    /// last output and log (for the report and stderr).
    StoppedFromOutside { node: String, short: String, text: String },
    /// A node crashed on its own (a non-zero exit, SIGABRT, SIGSEGV, a
    /// worker out of memory): not an interruption but a finding.
    Crashed { node: String, text: String },
}

impl Halt {
    /// Whether the run cannot go on as planned (as opposed to a finding).
    pub fn interrupts(&self) -> bool {
        !matches!(self, Halt::Crashed { .. })
    }

    /// Who or what cut the run short, as `report.json` `interrupted.by` says it.
    pub fn by(&self) -> String {
        match self {
            Halt::Signal(s) => (*s).to_string(),
            Halt::StoppedFromOutside { node, .. } => format!("node {node} stopped from outside"),
            Halt::Crashed { node, .. } => format!("node {node} crashed"),
        }
    }
}

impl std::fmt::Display for Halt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Halt::Signal(s) => write!(f, "interrupted by {s}"),
            Halt::StoppedFromOutside { text, .. } | Halt::Crashed { text, .. } => f.write_str(text),
        }
    }
}

impl std::error::Error for Halt {}

/// How a report says its run was cut short (`report.json` `"interrupted"`).
#[derive(Debug, Clone, Serialize)]
pub struct Interruption {
    /// `Ctrl-C`, `SIGTERM`, `SIGHUP`, or `node b stopped from outside`.
    pub by: String,
    /// The phase that was under way (`provision`, `workload`, `checks`, ...),
    /// or `not started` for a scenario of `all` that never began.
    pub phase: String,
    pub reason: String,
}

/// One scenario's result, as written to `report.json`.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub scenario: String,
    pub verdict: Status,
    pub checks: Vec<Check>,
    pub figures: Map<String, Value>,
    pub harper: Value,
    pub nodes: Vec<Value>,
    pub files: Map<String, Value>,
    pub teardown: Vec<Value>,
    /// The human report's heading (e.g. which attached cluster), when it is
    /// more than the scenario's name.
    #[serde(skip)]
    pub title: Option<String>,
    /// Said to the user after the report (e.g. how to reach a kept cluster).
    #[serde(skip)]
    pub note: Option<String>,
    /// Set when the run was cut short (Ctrl-C, SIGTERM, SIGHUP, a node
    /// stopped from outside): the verdict is then unknown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interrupted: Option<Interruption>,
}

#[cfg(test)]
impl Report {
    /// A report with a scenario and its checks, the rest empty.
    pub fn bare(scenario: &str, checks: Vec<Check>) -> Report {
        Report {
            scenario: scenario.into(),
            verdict: Status::of(&checks),
            checks,
            figures: Map::new(),
            harper: Value::Null,
            nodes: vec![],
            files: Map::new(),
            teardown: vec![],
            title: None,
            note: None,
            interrupted: None,
        }
    }
}

/// Several scenarios' results (`blobfail run all`).
#[derive(Debug, Clone, Serialize)]
pub struct CombinedReport {
    pub scenario: String,
    pub verdict: Status,
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
            Some(_) => Status::Unknown,
            None => Status::combine(&scenarios.iter().map(|r| r.verdict).collect::<Vec<_>>()),
        };
        CombinedReport { scenario: "all".into(), verdict, interrupted, checks, scenarios }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(name: &str, status: Status) -> Check {
        Check { name: name.into(), status, evidence: "e".into(), lines: vec![] }
    }

    #[test]
    fn a_panicking_check_is_unknown_with_the_reason() {
        let c = check_safe("nothing-lost", || panic!("index out of bounds"));
        assert_eq!((c.name.as_str(), c.status), ("nothing-lost", Status::Unknown));
        assert_eq!(c.evidence, "the check itself failed (a panic: index out of bounds): nothing was judged");
        let c = check_safe("nothing-lost", || panic!("{} of {}", 1, 2));
        assert_eq!(c.evidence, "the check itself failed (a panic: 1 of 2): nothing was judged");
        assert_eq!(check_safe("liveness", || Check::new("liveness", Status::Pass, "ok")).status, Status::Pass);
    }

    #[test]
    fn a_check_across_nodes_fails_if_one_node_fails_and_passes_only_if_all_pass() {
        let c = |s| Check::new("nothing-lost", s, "why");
        let one = Check::across_nodes(vec![("b".into(), c(Status::Pass))]);
        assert_eq!((one.status, one.evidence.as_str()), (Status::Pass, "why"));
        let two = Check::across_nodes(vec![("b".into(), c(Status::Pass)), ("c".into(), c(Status::Fail))]);
        assert_eq!((two.name.as_str(), two.status), ("nothing-lost", Status::Fail));
        assert_eq!(two.evidence, "node B: PASS why\nnode C: FAIL why");
        assert_eq!(Check::across_nodes(vec![("b".into(), c(Status::Pass)), ("c".into(), c(Status::Unknown))]).status, Status::Unknown);
        assert_eq!(Check::across_nodes(vec![("b".into(), c(Status::Pass)), ("c".into(), c(Status::Pass))]).status, Status::Pass);
    }

    #[test]
    fn verdict_is_fail_when_any_check_fails_even_beside_unknown() {
        let v = Status::of(&[check("a", Status::Pass), check("b", Status::Unknown), check("c", Status::Fail)]);
        assert_eq!(v, Status::Fail);
    }

    #[test]
    fn verdict_is_unknown_when_nothing_failed_but_something_is_undecided() {
        assert_eq!(Status::of(&[check("a", Status::Pass), check("b", Status::Unknown)]), Status::Unknown);
        assert_eq!(Status::of(&[]), Status::Unknown);
    }

    #[test]
    fn verdict_is_pass_only_when_every_check_passed() {
        assert_eq!(Status::of(&[check("a", Status::Pass), check("b", Status::Pass)]), Status::Pass);
    }

    #[test]
    fn a_combined_report_prefixes_checks_and_fails_if_one_scenario_fails() {
        let c = CombinedReport::of(vec![
            Report::bare("blob-save", vec![check("liveness", Status::Pass), check("no-uncaught-exception", Status::Fail)]),
            Report::bare("backlog-memory", vec![check("caught-up", Status::Pass)]),
        ]);
        assert_eq!(c.verdict, Status::Fail);
        let names: Vec<&str> = c.checks.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["blob-save/liveness", "blob-save/no-uncaught-exception", "backlog-memory/caught-up"]);
        let both_pass = CombinedReport::of(vec![
            Report::bare("x", vec![check("a", Status::Pass)]),
            Report::bare("y", vec![check("b", Status::Pass)]),
        ]);
        assert_eq!(both_pass.verdict, Status::Pass);
    }

    #[test]
    fn long_lines_are_cut_in_the_middle_keeping_the_path() {
        let line = format!("hdb.log:7: 2026-11-26T05:52:37.570Z [http/1] [error]: uncaughtException [Error: ENOENT: no such file or directory, open '{}/blobs/data/0/0/7'] {{", "/x".repeat(60));
        let short = shorten_middle(&line, 200);
        assert_eq!(short.chars().count(), 200);
        assert!(short.starts_with("hdb.log:7: 2026-11-26T05:52:37.570Z [http/1] [error]: uncaughtException"), "{short}");
        assert!(short.ends_with("/blobs/data/0/0/7'] {"), "{short}");
        assert_eq!(shorten_middle("short", 200), "short");
    }
}

#[cfg(test)]
#[path = "model_tests.rs"]
mod branch_tests;
