//! What a run has done so far: the scenario under way, the phase it is in,
//! each finished phase's wall time, the checks already decided, its nodes and
//! how they were stopped. A run that is interrupted (Ctrl-C, SIGTERM, SIGHUP,
//! a node stopped from outside) turns this into a partial report instead of
//! none. It keeps these from the run's events (`events.rs`); `Phases`
//! says a scenario's phases into the stream, and `TimeSummary` keeps their
//! times for the report's figures.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};

use crate::events::{Event, Events, Subscriber, Subscription};
use crate::model::{Check, Halt, Interruption, Report, Status};

/// A check a scenario will make, and the nodes it cannot be decided without.
#[derive(Debug, Clone, Copy)]
pub struct PlannedCheck {
    pub name: &'static str,
    pub needs: &'static [&'static str],
}

/// Each scenario run so far, from the run's events (the runner subscribes
/// it for the whole run).
#[derive(Default)]
pub struct Journal(Vec<Entry>);

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

impl Subscriber for Journal {
    fn on(&mut self, event: &Event) {
        if let Event::ScenarioBegan { scenario, dir, planned } = event {
            let planned = *planned;
            self.0.push(Entry {
                scenario: scenario.clone(),
                dir: dir.clone(),
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
            return;
        }
        let Some(e) = self.0.last_mut() else { return };
        match event {
            Event::PhaseEntered { phase, at } => e.phase = Some((phase.clone(), *at)),
            Event::PhaseLeft { phase, seconds } => {
                if e.phase.as_ref().is_some_and(|(p, _)| p == phase) {
                    e.phase = None;
                }
                e.phases.push((phase.clone(), *seconds));
            }
            Event::CutShort { at } => e.cut_short(*at),
            Event::CheckDecided(check) => e.decided.push(check.clone()),
            Event::Title(title) => e.title = Some(title.clone()),
            Event::Harper(harper) => e.harper = harper.clone(),
            Event::Nodes(nodes) => e.nodes = nodes.clone(),
            Event::NodeStopped(stop) => e.teardown.push(stop.clone()),
            Event::Finished(report) => e.done = Some(report.clone()),
            _ => {}
        }
    }
}

impl Entry {
    /// Closes the open phase at `at` and remembers it as the one the run
    /// was cut short in; with none open (an error surfaced as a timed phase
    /// ended), the last phase is that one. Only the first call counts.
    fn cut_short(&mut self, at: Instant) {
        if self.cut.is_some() {
            return;
        }
        if let Some((p, start)) = self.phase.take() {
            self.phases.push((p.clone(), secs(at.saturating_duration_since(start))));
            self.cut = Some(p);
        } else {
            self.cut = self.phases.last().map(|(p, _)| p.clone());
        }
    }
}

impl Journal {
    /// The phase the current scenario was cut short in, if it was.
    pub fn cut_phase(&self) -> Option<String> {
        self.0.last().and_then(|e| e.cut.clone())
    }

    /// One report per scenario of the selection: a finished scenario's own
    /// report, and for the one cut short (and any never started) a report
    /// marked interrupted, whose checks not decided are unknown with the
    /// reason. `selection` is every (scenario, folder, planned checks).
    pub fn interrupted_reports(&mut self, selection: &[(&str, PathBuf, &'static [PlannedCheck])], cause: &Halt) -> Vec<Report> {
        if let Some(e) = self.0.last_mut() {
            e.cut_short(Instant::now());
        }
        let mut reports = Vec::new();
        for (name, dir, planned) in selection {
            let entry = self.0.iter().find(|e| e.scenario == *name);
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

/// The time summary: each phase's wall time, in the order they ran, from
/// the run's events.
#[derive(Default)]
pub struct TimeSummary(Vec<(String, f64)>);

impl Subscriber for TimeSummary {
    fn on(&mut self, event: &Event) {
        if let Event::PhaseLeft { phase, seconds } = event {
            self.0.push((phase.clone(), *seconds));
        }
    }
}

impl TimeSummary {
    /// `<phase>_seconds` figures (a phase that ran more than once, as in a
    /// sweep, sums its runs) and `total_seconds`.
    pub fn into_figures(&self, figures: &mut Map<String, Value>) {
        let total: f64 = self.0.iter().map(|(_, s)| s).sum();
        for (name, secs) in &self.0 {
            let key = format!("{name}_seconds");
            let sum = figures.get(&key).and_then(Value::as_f64).unwrap_or(0.0) + secs;
            figures.insert(key, Value::from((sum * 1000.0).round() / 1000.0));
        }
        figures.insert("total_seconds".into(), Value::from((total * 1000.0).round() / 1000.0));
    }
}

/// A scenario's phases, said into the run's events (where the journal sees
/// which phase a run is in), and its time summary kept until `into_figures`.
pub struct Phases {
    events: Events,
    summary: Subscription<TimeSummary>,
}

impl Phases {
    /// The phases of `scenario`, starting now in `dir`, with the checks it plans.
    pub fn begin(events: &Events, scenario: &str, dir: &Path, planned: &'static [PlannedCheck]) -> Phases {
        events.emit(Event::ScenarioBegan { scenario: scenario.to_string(), dir: dir.to_path_buf(), planned });
        Phases { events: events.clone(), summary: events.subscribe(TimeSummary::default()) }
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
        self.events.emit(Event::PhaseEntered { phase: name.to_string(), at: Instant::now() });
    }

    /// Phase `name` ended after `d`.
    pub fn record(&mut self, name: &str, d: Duration) {
        self.events.emit(Event::PhaseLeft { phase: name.to_string(), seconds: secs(d) });
    }

    /// The time summary's figures (`TimeSummary::into_figures`).
    pub fn into_figures(self, figures: &mut Map<String, Value>) {
        self.summary.lock().into_figures(figures);
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

    fn left(phase: &str, seconds: f64) -> Event {
        Event::PhaseLeft { phase: phase.into(), seconds }
    }

    #[test]
    fn a_ctrl_c_leaves_undecided_checks_unknown_and_names_the_phase() {
        let events = Events::default();
        let j = events.subscribe(Journal::default());
        let mut phases = Phases::begin(&events, "blob-save", Path::new("/tmp/x"), PLAN);
        phases.enter("install");
        phases.record("install", Duration::from_millis(1500));
        let t = Instant::now();
        events.emit(Event::PhaseEntered { phase: "workload".into(), at: t });
        events.decided(&Check { name: "liveness".into(), status: Status::Pass, evidence: "ok".into(), lines: vec![] });
        events.emit(Event::CutShort { at: t + Duration::from_millis(2250) });
        assert_eq!(j.lock().cut_phase().as_deref(), Some("workload"));
        let sel = [("blob-save", PathBuf::from("/tmp/x"), PLAN), ("backlog-memory", PathBuf::from("/tmp/y"), PLAN)];
        let r = j.lock().interrupted_reports(&sel, &Halt::Signal("Ctrl-C"));
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].verdict, Status::Unknown);
        let i = r[0].interrupted.as_ref().unwrap();
        assert_eq!((i.by.as_str(), i.phase.as_str()), ("Ctrl-C", "workload"));
        assert_eq!(r[0].checks[0].status, Status::Unknown);
        assert_eq!(r[0].checks[0].evidence, "not run: the run was interrupted by Ctrl-C during the workload phase");
        assert_eq!(r[0].checks[1].status, Status::Pass, "a check decided before the interruption is kept");
        assert_eq!(serde_json::to_string(&r[0].figures).unwrap(), r#"{"install_seconds":1.5,"total_seconds":3.75,"workload_seconds":2.25}"#);
        assert_eq!(r[1].interrupted.as_ref().unwrap().phase, "not started");
        // The time summary kept the phase that ended, not the one cut short.
        let mut figures = Map::new();
        phases.into_figures(&mut figures);
        assert_eq!(serde_json::to_string(&figures).unwrap(), r#"{"install_seconds":1.5,"total_seconds":1.5}"#);
    }

    #[test]
    fn the_journal_keeps_what_the_report_says_of_the_cluster_and_a_finished_run() {
        let mut j = Journal::default();
        j.on(&Event::Harper(json!({"version": "4.7.29"})));
        assert!(j.0.is_empty(), "nothing is kept before a scenario begins");
        j.on(&Event::ScenarioBegan { scenario: "blob-save".into(), dir: "/tmp/x".into(), planned: PLAN });
        j.on(&Event::Title("blob-save (attached)".into()));
        j.on(&Event::Harper(json!({"version": "4.7.29"})));
        j.on(&Event::Nodes(vec![json!({"name": "a"})]));
        j.on(&Event::Nodes(vec![json!({"name": "a"}), json!({"name": "b"})]));
        j.on(&Event::NodeStopped(json!({"node": "b", "exit": "SIGKILL"})));
        j.on(&left("install", 1.0));
        let r = j.interrupted_reports(&[("blob-save", PathBuf::from("/tmp/x"), PLAN)], &Halt::Signal("SIGTERM"));
        assert_eq!(r[0].title.as_deref(), Some("blob-save (attached)"));
        assert_eq!(r[0].harper, json!({"version": "4.7.29"}));
        assert_eq!(r[0].nodes, [json!({"name": "a"}), json!({"name": "b"})]);
        assert_eq!(r[0].teardown, [json!({"node": "b", "exit": "SIGKILL"})]);
        assert_eq!(r[0].interrupted.as_ref().unwrap().phase, "install", "no phase open: the last one ended is named");
        let done = r[0].clone();
        j.on(&Event::Finished(done.clone()));
        let again = j.interrupted_reports(&[("blob-save", PathBuf::from("/tmp/x"), PLAN)], &Halt::Signal("Ctrl-C"));
        assert_eq!(again[0].interrupted.as_ref().unwrap().by, "SIGTERM", "a finished scenario keeps its own report");
    }

    #[test]
    fn the_time_summary_sums_a_phase_that_ran_twice() {
        let mut t = TimeSummary::default();
        for e in [left("workload", 1.25), left("settle", 0.5), left("workload", 2.0)] {
            t.on(&e);
        }
        t.on(&Event::PhaseEntered { phase: "checks".into(), at: Instant::now() });
        let mut figures = Map::new();
        t.into_figures(&mut figures);
        assert_eq!(serde_json::to_string(&figures).unwrap(), r#"{"settle_seconds":0.5,"total_seconds":3.75,"workload_seconds":3.25}"#);
    }

    #[test]
    fn a_node_stopped_from_outside_makes_the_checks_needing_it_undecidable() {
        let mut j = Journal::default();
        j.on(&Event::ScenarioBegan { scenario: "blob-save".into(), dir: "/tmp/x".into(), planned: PLAN });
        j.on(&Event::PhaseEntered { phase: "settle".into(), at: Instant::now() });
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
