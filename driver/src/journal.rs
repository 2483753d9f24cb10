//! What a run has done so far: the scenario under way, the phase it is in,
//! each finished phase's wall time, the checks already decided, its nodes and
//! how they were stopped. A run that is interrupted (Ctrl-C, SIGTERM, SIGHUP,
//! a node stopped from outside) turns this into a partial report instead of
//! none. `Phases` times a scenario's phases into it.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};

use crate::model::{Check, Halt, Interruption, Report, Status};

/// A check a scenario will make, and the nodes it cannot be decided without.
#[derive(Debug, Clone, Copy)]
pub struct PlannedCheck {
    pub name: &'static str,
    pub needs: &'static [&'static str],
}

/// Shared by everything that takes part in a run; cheap to clone.
#[derive(Clone, Default)]
pub struct Journal(Arc<Mutex<Vec<Entry>>>);

struct Entry {
    scenario: String,
    dir: PathBuf,
    planned: &'static [PlannedCheck],
    phase: Option<(String, Instant)>,
    /// The phase that was open when the run was cut short.
    cut: Option<String>,
    phases: Vec<(String, f64)>,
    decided: Vec<Check>,
    harper: Value,
    nodes: Vec<Value>,
    teardown: Vec<Value>,
    title: Option<String>,
    done: Option<Report>,
}

fn secs(d: Duration) -> f64 {
    (d.as_secs_f64() * 1000.0).round() / 1000.0
}

impl Journal {
    fn lock(&self) -> MutexGuard<'_, Vec<Entry>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn with_current(&self, f: impl FnOnce(&mut Entry)) {
        if let Some(e) = self.lock().last_mut() {
            f(e);
        }
    }

    /// A scenario starts in `dir`.
    pub fn begin(&self, scenario: &str, dir: &Path, planned: &'static [PlannedCheck]) {
        self.lock().push(Entry {
            scenario: scenario.to_string(),
            dir: dir.to_path_buf(),
            planned,
            phase: None,
            cut: None,
            phases: Vec::new(),
            decided: Vec::new(),
            harper: Value::Null,
            nodes: Vec::new(),
            teardown: Vec::new(),
            title: None,
            done: None,
        });
    }

    pub fn enter(&self, phase: &str) {
        self.with_current(|e| e.phase = Some((phase.to_string(), Instant::now())));
    }

    pub fn leave(&self, phase: &str, seconds: f64) {
        self.with_current(|e| {
            if e.phase.as_ref().is_some_and(|(p, _)| p == phase) {
                e.phase = None;
            }
            e.phases.push((phase.to_string(), seconds));
        });
    }

    /// Closes the open phase at this moment and remembers it as the one the
    /// run was cut short in; with none open (an error surfaced as a timed
    /// phase ended), the last phase is that one. Only the first call counts.
    pub fn cut_short(&self) {
        self.with_current(|e| {
            if e.cut.is_some() {
                return;
            }
            if let Some((p, start)) = e.phase.take() {
                e.phases.push((p.clone(), secs(start.elapsed())));
                e.cut = Some(p);
            } else {
                e.cut = e.phases.last().map(|(p, _)| p.clone());
            }
        });
    }

    /// The phase the current scenario was cut short in, if it was.
    pub fn cut_phase(&self) -> Option<String> {
        self.lock().last().and_then(|e| e.cut.clone())
    }

    pub fn decided(&self, check: &Check) {
        self.with_current(|e| e.decided.push(check.clone()));
    }

    /// The human report's heading, when it is more than the scenario's name.
    pub fn title(&self, title: String) {
        self.with_current(|e| e.title = Some(title));
    }

    pub fn harper(&self, harper: Value) {
        self.with_current(|e| e.harper = harper);
    }

    pub fn nodes(&self, nodes: Vec<Value>) {
        self.with_current(|e| e.nodes = nodes);
    }

    pub fn stopped(&self, stop: Value) {
        self.with_current(|e| e.teardown.push(stop));
    }

    /// The scenario finished with this report.
    pub fn finished(&self, report: &Report) {
        self.with_current(|e| e.done = Some(report.clone()));
    }

    /// One report per scenario of the selection: a finished scenario's own
    /// report, and for the one cut short (and any never started) a report
    /// marked interrupted, whose checks not decided are unknown with the
    /// reason. `selection` is every (scenario, folder, planned checks).
    pub fn interrupted_reports(&self, selection: &[(&str, PathBuf, &'static [PlannedCheck])], cause: &Halt) -> Vec<Report> {
        self.cut_short();
        let entries = self.lock();
        let mut reports = Vec::new();
        for (name, dir, planned) in selection {
            let entry = entries.iter().find(|e| e.scenario == *name);
            if let Some(done) = entry.and_then(|e| e.done.as_ref()) {
                reports.push(done.clone());
                continue;
            }
            reports.push(match entry {
                Some(e) => partial(e, cause),
                None => not_started(name, dir, planned, cause),
            });
        }
        reports
    }
}

fn unknown(name: &str, evidence: String) -> Check {
    Check::new(name, Status::Unknown, evidence)
}

fn files(dir: &Path) -> Map<String, Value> {
    let mut files = Map::new();
    files.insert("run_dir".into(), json!(dir));
    files.insert("report".into(), json!(dir.join("report.json")));
    files
}

fn partial(e: &Entry, cause: &Halt) -> Report {
    let phase = e.cut.clone().unwrap_or_else(|| "between phases".to_string());
    let reason = match cause {
        Halt::Signal(s) => format!("interrupted by {s} during the {phase} phase"),
        Halt::StoppedFromOutside { text, .. } | Halt::Crashed { text, .. } => format!("{text} (during the {phase} phase)"),
    };
    let checks: Vec<Check> = e
        .planned
        .iter()
        .map(|p| {
            if let Some(c) = e.decided.iter().find(|c| c.name == p.name) {
                return c.clone();
            }
            match cause {
                Halt::StoppedFromOutside { node, short, .. } if p.needs.contains(&node.as_str()) => {
                    unknown(p.name, format!("could not be decided: {short} (during the {phase} phase)"))
                }
                Halt::StoppedFromOutside { node, .. } | Halt::Crashed { node, .. } => unknown(
                    p.name,
                    format!("not run: the run ended in the {phase} phase because node {node} was stopped from outside"),
                ),
                Halt::Signal(s) => unknown(p.name, format!("not run: the run was interrupted by {s} during the {phase} phase")),
            }
        })
        .collect();
    let mut figures = Map::new();
    let mut total = 0.0;
    for (p, s) in &e.phases {
        // A phase cut short and its teardown may both appear: keep the sum.
        let v = figures.get(&format!("{p}_seconds")).and_then(Value::as_f64).unwrap_or(0.0) + s;
        figures.insert(format!("{p}_seconds"), json!((v * 1000.0).round() / 1000.0));
        total += s;
    }
    figures.insert("total_seconds".into(), json!((total * 1000.0).round() / 1000.0));
    Report {
        scenario: e.scenario.clone(),
        verdict: Status::Unknown,
        checks,
        figures,
        harper: e.harper.clone(),
        nodes: e.nodes.clone(),
        files: files(&e.dir),
        teardown: e.teardown.clone(),
        title: e.title.clone(),
        note: None,
        interrupted: Some(Interruption { by: cause.by(), phase, reason }),
    }
}

fn not_started(name: &str, dir: &Path, planned: &[PlannedCheck], cause: &Halt) -> Report {
    let reason = format!("not run: the run was {} before this scenario started", match cause {
        Halt::Signal(s) => format!("interrupted by {s}"),
        Halt::StoppedFromOutside { node, .. } | Halt::Crashed { node, .. } => {
            format!("ended because node {node} was stopped from outside")
        }
    });
    Report {
        scenario: name.to_string(),
        verdict: Status::Unknown,
        checks: planned.iter().map(|p| unknown(p.name, reason.clone())).collect(),
        figures: Map::new(),
        harper: Value::Null,
        nodes: Vec::new(),
        files: files(dir),
        teardown: Vec::new(),
        title: None,
        note: None,
        interrupted: Some(Interruption { by: cause.by(), phase: "not started".into(), reason }),
    }
}

/// Wall time of each phase, in the order they ran; also kept in the run's
/// journal, so an interrupted run can say which phase it was in.
pub struct Phases {
    order: Vec<(String, f64)>,
    journal: Journal,
}

impl Phases {
    /// The phases of `scenario`, starting now in `dir`, with the checks it plans.
    pub fn begin(journal: &Journal, scenario: &str, dir: &Path, planned: &'static [PlannedCheck]) -> Phases {
        journal.begin(scenario, dir, planned);
        Phases { order: Vec::new(), journal: journal.clone() }
    }

    /// Times `f` as phase `name`.
    pub async fn time<T>(&mut self, name: &str, f: impl std::future::Future<Output = T>) -> T {
        self.enter(name);
        let start = Instant::now();
        let out = f.await;
        self.record(name, start.elapsed());
        out
    }

    /// Phase `name` is under way (until `record` gives its time).
    pub fn enter(&self, name: &str) {
        self.journal.enter(name);
    }

    pub fn record(&mut self, name: &str, d: Duration) {
        let secs = secs(d);
        self.order.push((name.to_string(), secs));
        self.journal.leave(name, secs);
    }

    /// `<phase>_seconds` figures (a phase that ran more than once, as in a
    /// sweep, sums its runs) and `total_seconds`.
    pub fn into_figures(self, figures: &mut Map<String, Value>) {
        let total: f64 = self.order.iter().map(|(_, s)| s).sum();
        for (name, secs) in self.order {
            let key = format!("{name}_seconds");
            let sum = figures.get(&key).and_then(Value::as_f64).unwrap_or(0.0) + secs;
            figures.insert(key, Value::from((sum * 1000.0).round() / 1000.0));
        }
        figures.insert("total_seconds".into(), Value::from((total * 1000.0).round() / 1000.0));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLAN: &[PlannedCheck] = &[
        PlannedCheck { name: "injector-fired", needs: &["b"] },
        PlannedCheck { name: "liveness", needs: &["a", "b"] },
        PlannedCheck { name: "only-a", needs: &["a"] },
    ];

    #[test]
    fn a_ctrl_c_leaves_undecided_checks_unknown_and_names_the_phase() {
        let j = Journal::default();
        j.begin("blob-save", Path::new("/tmp/x"), PLAN);
        j.enter("install");
        j.leave("install", 1.5);
        j.enter("workload");
        j.decided(&Check { name: "liveness".into(), status: Status::Pass, evidence: "ok".into(), lines: vec![] });
        let sel = [("blob-save", PathBuf::from("/tmp/x"), PLAN), ("backlog-memory", PathBuf::from("/tmp/y"), PLAN)];
        let r = j.interrupted_reports(&sel, &Halt::Signal("Ctrl-C"));
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].verdict, Status::Unknown);
        let i = r[0].interrupted.as_ref().unwrap();
        assert_eq!((i.by.as_str(), i.phase.as_str()), ("Ctrl-C", "workload"));
        assert_eq!(r[0].checks[0].status, Status::Unknown);
        assert_eq!(r[0].checks[0].evidence, "not run: the run was interrupted by Ctrl-C during the workload phase");
        assert_eq!(r[0].checks[1].status, Status::Pass, "a check decided before the interruption is kept");
        assert!(r[0].figures.contains_key("workload_seconds") && r[0].figures["install_seconds"] == 1.5);
        assert_eq!(r[1].interrupted.as_ref().unwrap().phase, "not started");
    }

    #[test]
    fn a_node_stopped_from_outside_makes_the_checks_needing_it_undecidable() {
        let j = Journal::default();
        j.begin("blob-save", Path::new("/tmp/x"), PLAN);
        j.enter("settle");
        let cause = Halt::StoppedFromOutside {
            node: "b".into(),
            short: "node b (pid 9) was stopped".into(),
            text: "node b (pid 9) was stopped; last lines: x".into(),
        };
        let r = j.interrupted_reports(&[("blob-save", PathBuf::from("/tmp/x"), PLAN)], &cause);
        let ev: Vec<&str> = r[0].checks.iter().map(|c| c.evidence.as_str()).collect();
        assert_eq!(ev[0], "could not be decided: node b (pid 9) was stopped (during the settle phase)");
        assert_eq!(ev[1], "could not be decided: node b (pid 9) was stopped (during the settle phase)");
        assert_eq!(ev[2], "not run: the run ended in the settle phase because node b was stopped from outside");
        assert_eq!(r[0].interrupted.as_ref().unwrap().by, "node b stopped from outside");
    }
}
