//! The scenarios: each one is the order of steps (provision, fault, load,
//! observe, judge, tear down) for one question about the cluster, and turns
//! what it saw into a `Report`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use futures::FutureExt;
use serde_json::{Map, Value};

use crate::cluster::Interrupted;
use crate::journal::{Cause, Journal, PlannedCheck};
use crate::report::{self, Progress, Report, Verdict};

pub mod backlog_memory;
pub mod blob_save;

/// Panics after the named phase when `BLOBFAIL_TEST_PANIC_AFTER` names it: a
/// test hook, so the end-to-end tests can prove that a panic still stops
/// every node (the cluster's drop guard). Unset, it does nothing.
pub fn test_panic_hook(phase: &str) {
    if std::env::var("BLOBFAIL_TEST_PANIC_AFTER").is_ok_and(|p| p == phase) {
        panic!("BLOBFAIL_TEST_PANIC_AFTER={phase}: panicking on purpose");
    }
}

/// Options every scenario shares.
#[derive(Debug, Clone)]
pub struct Common {
    pub harper: Option<PathBuf>,
    pub harper_version: String,
    pub shim: Option<PathBuf>,
    pub keep: bool,
    pub seed: u64,
    /// Where the nodes listen and how long they get to start.
    pub cluster: crate::cluster::Options,
}

/// Wall time of each phase, in the order they ran; also kept in the run's
/// journal, so an interrupted run can say which phase it was in.
#[derive(Default)]
pub struct Phases {
    order: Vec<(String, f64)>,
    journal: Journal,
}

impl Phases {
    /// The phases of `scenario`, starting now in `dir`, with the checks it plans.
    pub fn begin(progress: &Progress, scenario: &str, dir: &Path, planned: &'static [PlannedCheck]) -> Phases {
        progress.journal().begin(scenario, dir, planned);
        Phases { order: Vec::new(), journal: progress.journal().clone() }
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
        let secs = (d.as_secs_f64() * 1000.0).round() / 1000.0;
        self.order.push((name.to_string(), secs));
        self.journal.leave(name, secs);
    }

    /// `<phase>_seconds` figures.
    pub fn into_figures(self, figures: &mut Map<String, Value>) {
        let total: f64 = self.order.iter().map(|(_, s)| s).sum();
        for (name, secs) in self.order {
            figures.insert(format!("{name}_seconds"), Value::from(secs));
        }
        figures.insert("total_seconds".into(), Value::from((total * 1000.0).round() / 1000.0));
    }
}

/// The report of a scenario that ran to its end on a local cluster (already
/// torn down unless `keep`), recorded in the run's journal.
fn finish(
    scenario: &str,
    checks: Vec<crate::checks::Check>,
    figures: Map<String, Value>,
    files: Map<String, Value>,
    cluster: &mut crate::cluster::Cluster,
    keep: bool,
    progress: &Progress,
) -> Report {
    let report = Report {
        scenario: scenario.into(),
        verdict: Verdict::of(&checks),
        checks,
        figures,
        harper: serde_json::json!(cluster.harper),
        nodes: cluster.nodes.iter().map(|n| n.describe()).collect(),
        files,
        teardown: cluster.stops.iter().map(|s| serde_json::json!(s)).collect(),
        note: keep.then(|| cluster.keep_instructions()),
        interrupted: None,
    };
    progress.journal().finished(&report);
    // Disarm the teardown guard only now that the run has succeeded: an
    // error before this point stops the cluster even with --keep.
    cluster.keep = keep;
    report
}

/// Which scenario(s) to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Selection {
    BlobSave,
    BacklogMemory,
    All,
}

enum Outcome {
    One(Box<Report>),
    All(Vec<Report>),
}

/// Ctrl-C or SIGTERM reached the driver (the error that ends the scenario).
#[derive(Debug)]
struct Signalled(&'static str);

impl std::fmt::Display for Signalled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "interrupted by {}", self.0)
    }
}

impl std::error::Error for Signalled {}

/// Each scenario of the selection, its folder and the checks it plans.
fn plan(selection: Selection, out: &Path) -> Vec<(&'static str, PathBuf, &'static [PlannedCheck])> {
    match selection {
        Selection::BlobSave => vec![("blob-save", out.to_path_buf(), blob_save::CHECKS)],
        Selection::BacklogMemory => vec![("backlog-memory", out.to_path_buf(), backlog_memory::CHECKS)],
        Selection::All => vec![
            ("blob-save", out.join("blob-save"), blob_save::CHECKS),
            ("backlog-memory", out.join("backlog-memory"), backlog_memory::CHECKS),
        ],
    }
}

/// Runs the selection in `out`, prints the human report, writes
/// `report.json`, and gives the verdict. An error means the cluster could not
/// be run (no report is written then). A run cut short by Ctrl-C, SIGTERM or
/// a node stopped from outside still writes a report, marked interrupted,
/// whose undecided checks are unknown; its verdict is unknown. The cluster is
/// stopped on every path: its drop guard runs when the scenario returns,
/// fails, panics, or is dropped because Ctrl-C or SIGTERM arrived.
pub fn execute(
    selection: Selection,
    common: &Common,
    blob: &blob_save::Options,
    backlog: &backlog_memory::Options,
    out: &Path,
    out_is_default: bool,
) -> Result<Verdict> {
    let progress = Progress::new();
    let journal = progress.journal().clone();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("failed to start the async runtime")?;
    let result = rt.block_on(async {
        let scenario = async {
            match selection {
                Selection::BlobSave => blob_save::run(common, blob, out, &progress).await.map(|r| Outcome::One(Box::new(r))),
                Selection::BacklogMemory => backlog_memory::run(common, backlog, out, &progress).await.map(|r| Outcome::One(Box::new(r))),
                Selection::All => {
                    // Each scenario in its own subfolder with its own report,
                    // written as soon as it is done.
                    let mut reports = Vec::new();
                    let dir = out.join("blob-save");
                    std::fs::create_dir_all(&dir)?;
                    let r = blob_save::run(common, blob, &dir, &progress).await?;
                    report::write_json_atomic(&dir.join("report.json"), &r)?;
                    reports.push(r);
                    let dir = out.join("backlog-memory");
                    std::fs::create_dir_all(&dir)?;
                    let r = backlog_memory::run(common, backlog, &dir, &progress).await?;
                    report::write_json_atomic(&dir.join("report.json"), &r)?;
                    reports.push(r);
                    Ok(Outcome::All(reports))
                }
            }
        };
        // Pinned here, so the scenario (and its cluster's drop guard, which
        // stops the nodes) is dropped before this block returns.
        let mut scenario = std::pin::pin!(std::panic::AssertUnwindSafe(scenario).catch_unwind());
        tokio::select! {
            r = &mut scenario => match r {
                Ok(r) => r,
                Err(_) => Err(anyhow!("internal error (a panic, see above); the cluster was stopped")),
            },
            sig = shutdown_signal() => {
                // The phase under way ends now, before the teardown.
                journal.cut_short();
                Err(anyhow::Error::new(Signalled(sig)))
            }
        }
    });
    let cause = match &result {
        Err(e) => match (e.downcast_ref::<Signalled>(), e.downcast_ref::<Interrupted>()) {
            (Some(s), _) => Some(Cause::Signal(s.0)),
            (None, Some(i)) => {
                Some(Cause::NodeStoppedFromOutside { node: i.node.clone(), short: i.short.clone(), text: i.text.clone() })
            }
            _ => None,
        },
        Ok(_) => None,
    };
    let outcome = match (result, &cause) {
        (Ok(o), _) => o,
        (Err(_), Some(cause)) => {
            let mut reports = journal.interrupted_reports(&plan(selection, out), cause);
            if selection == Selection::All {
                for r in &reports {
                    let dir = out.join(&r.scenario);
                    if dir.is_dir() {
                        report::write_json_atomic(&dir.join("report.json"), r)?;
                    }
                }
                Outcome::All(reports)
            } else {
                Outcome::One(Box::new(reports.remove(0)))
            }
        }
        (Err(e), None) => {
            // Point at the run folder only when it holds something to look at.
            let empty = std::fs::read_dir(out).map(|mut r| r.next().is_none()).unwrap_or(false);
            if empty {
                if out_is_default {
                    let _ = std::fs::remove_dir(out);
                }
                return Err(e);
            }
            return Err(anyhow!("{e:#} (logs in {})", out.display()));
        }
    };
    let path = out.join("report.json");
    let mut notes = Vec::new();
    let verdict = match outcome {
        Outcome::One(report) => {
            report::write_text_atomic(&out.join("junit.xml"), &crate::junit::render(&[&report])?)?;
            report::write_json_atomic(&path, &report)?;
            println!("{}", report::render_report(&report));
            println!("{}", report::render_time_summary(&report.scenario, &report.figures));
            notes.extend(report.note.clone());
            report.verdict
        }
        Outcome::All(reports) => {
            let combined = report::CombinedReport::of(reports);
            let all: Vec<&Report> = combined.scenarios.iter().collect();
            report::write_text_atomic(&out.join("junit.xml"), &crate::junit::render(&all)?)?;
            report::write_json_atomic(&path, &combined)?;
            for r in &combined.scenarios {
                println!("{}", report::render_report(r));
                notes.extend(r.note.clone());
            }
            println!("all scenarios: {}", combined.verdict.describe());
            for r in &combined.scenarios {
                println!("{}", report::render_time_summary(&r.scenario, &r.figures));
            }
            combined.verdict
        }
    };
    println!("report: {}", path.display());
    println!("run folder: {}", out.display());
    for n in notes {
        println!("{n}");
    }
    if let Some(cause) = &cause {
        let reason = match cause {
            Cause::Signal(s) => format!(
                "interrupted by {s} during the {} phase",
                journal.cut_phase().unwrap_or_else(|| "first".into())
            ),
            Cause::NodeStoppedFromOutside { text, .. } => text.clone(),
        };
        eprintln!("blobfail: {reason}; the cluster was stopped; partial report in {}", path.display());
        return Ok(Verdict::Unknown);
    }
    Ok(verdict)
}

async fn shutdown_signal() -> &'static str {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("install SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => "Ctrl-C",
        _ = term.recv() => "SIGTERM",
    }
}

