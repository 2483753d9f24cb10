//! The one runner of every scenario on every backend: the async runtime,
//! Ctrl-C, SIGTERM and SIGHUP (a closed terminal must not orphan the nodes),
//! panics, the partial report of an interrupted run, and the outputs
//! (`report.json`, `junit.xml`, the human report and the time summary).

use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context, Result};
use futures::FutureExt;

use crate::backend::{self, Kind};
use crate::events::{Event, Events};
use crate::journal::{Journal, PlannedCheck};
use crate::model::{CombinedReport, Halt, Report, Status};
use crate::progress::Progress;
use crate::report;
use crate::scenario::{self, Ctx, Scenario};

/// A run as the command line asked for it.
pub struct Request {
    /// The scenarios to run, in order; more than one is `blobfail run all`.
    pub scenarios: Vec<&'static Scenario>,
    pub backend: backend::Choice,
    pub seed: u64,
    pub args: scenario::Args,
    /// The run folder (new or empty, created).
    pub out: PathBuf,
    /// The run folder was made up here (it is removed again if left empty).
    pub out_is_default: bool,
    /// Also copy `junit.xml` here.
    pub junit: Option<PathBuf>,
}

/// One run of a scenario: a scenario, or one of its variants (blob-save's
/// fault plans), each on a fresh cluster.
struct ScenarioRun {
    scenario: &'static Scenario,
    variant: Option<&'static str>,
    /// Its name in reports (`blob-save`, `blob-save/disk-full`).
    label: String,
    dir: PathBuf,
}

impl Request {
    fn combined(&self) -> bool {
        self.runs().len() > 1
    }

    /// Every run, in order, with its folder (its label under the run
    /// folder when there are several).
    fn runs(&self) -> Vec<ScenarioRun> {
        let expanded: Vec<(&'static Scenario, Option<&'static str>)> = self
            .scenarios
            .iter()
            .flat_map(|s| {
                let variants = s.variants.map(|f| f(&self.args)).unwrap_or_default();
                if variants.is_empty() {
                    vec![(*s, None)]
                } else {
                    variants.into_iter().map(|v| (*s, Some(v))).collect()
                }
            })
            .collect();
        let several = expanded.len() > 1;
        expanded
            .into_iter()
            .map(|(scenario, variant)| {
                let label = match variant {
                    Some(v) => format!("{}/{v}", scenario.name),
                    None => scenario.name.to_string(),
                };
                let dir = if several { self.out.join(&label) } else { self.out.clone() };
                ScenarioRun { scenario, variant, label, dir }
            })
            .collect()
    }
}

/// Runs the request, prints the human report, writes `report.json` and
/// `junit.xml`, and gives the verdict. An error means the cluster could not
/// be run (no report is written then). A run cut short by Ctrl-C, SIGTERM,
/// SIGHUP or a node stopped from outside still writes a report, marked
/// interrupted, whose undecided checks are unknown; its verdict is unknown.
/// A local cluster is stopped on every path: its drop guard runs when the
/// scenario returns, fails, panics, or is dropped because a signal arrived.
pub fn run(req: Request) -> Result<Status> {
    // One stream of the run's events: the progress display shows it, the
    // journal keeps what an interrupted run's report needs.
    let events = Events::default();
    let _progress = events.subscribe(Progress::new());
    let journal = events.subscribe(Journal::default());
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("failed to start the async runtime")?;
    let runs = req.runs();
    let plan: Vec<(&str, PathBuf, &'static [PlannedCheck])> =
        runs.iter().map(|r| (r.label.as_str(), r.dir.clone(), (r.scenario.checks)(&req.args))).collect();
    let result: Result<Vec<Report>> = rt.block_on(async {
        let scenarios = async {
            let mut reports = Vec::new();
            for run in &runs {
                let dir = &run.dir;
                std::fs::create_dir_all(dir).with_context(|| format!("failed to create {}", dir.display()))?;
                let ctx = Ctx {
                    out: dir,
                    backend: &req.backend,
                    seed: req.seed,
                    args: &req.args,
                    events: &events,
                    variant: run.variant,
                };
                let r = (run.scenario.run)(&ctx).await?;
                if req.combined() {
                    // Each scenario of `all` keeps its own report, written as soon as it is done.
                    report::write_json_atomic(&dir.join("report.json"), &r)?;
                }
                reports.push(r);
            }
            Ok(reports)
        };
        // Pinned here, so the scenario (and its cluster's drop guard, which
        // stops the nodes) is dropped before this block returns.
        let mut scenarios = std::pin::pin!(std::panic::AssertUnwindSafe(scenarios).catch_unwind());
        tokio::select! {
            r = &mut scenarios => match r {
                Ok(r) => r,
                Err(_) => Err(anyhow!("internal error (a panic, see above); {}", stopped(req.backend.kind()))),
            },
            sig = shutdown_signal() => {
                // The phase under way ends now, before the teardown.
                events.emit(Event::CutShort { at: std::time::Instant::now() });
                Err(anyhow::Error::new(Halt::Signal(sig)))
            }
        }
    });
    drop(rt);
    let halt = match &result {
        Err(e) => e.downcast_ref::<Halt>().filter(|h| h.interrupts()).cloned(),
        Ok(_) => None,
    };
    let reports = match (result, &halt) {
        (Ok(r), _) => r,
        (Err(_), Some(halt)) => {
            let reports = journal.lock().interrupted_reports(&plan, halt);
            if req.combined() {
                for r in &reports {
                    let dir = req.out.join(&r.scenario);
                    if dir.is_dir() {
                        report::write_json_atomic(&dir.join("report.json"), r)?;
                    }
                }
            }
            reports
        }
        (Err(e), None) => {
            // Point at the run folder only when it holds something to look at.
            let empty = std::fs::read_dir(&req.out).map(|mut r| r.next().is_none()).unwrap_or(false);
            if empty {
                if req.out_is_default {
                    let _ = std::fs::remove_dir(&req.out);
                }
                return Err(e);
            }
            return Err(anyhow!("{e:#} (logs in {})", req.out.display()));
        }
    };
    let verdict = write_outputs(&req, &runs, &reports)?;
    if let Some(halt) = &halt {
        let reason = match halt {
            Halt::Signal(s) => {
                format!("interrupted by {s} during the {} phase", journal.lock().cut_phase().unwrap_or_else(|| "first".into()))
            }
            other => other.to_string(),
        };
        eprintln!(
            "blobfail: {reason}; {}; partial report in {}",
            stopped(req.backend.kind()),
            req.out.join("report.json").display()
        );
        return Ok(Status::Unknown);
    }
    Ok(verdict)
}

/// What became of the cluster when a run ended early.
fn stopped(kind: Kind) -> &'static str {
    match kind {
        Kind::Local => "the cluster was stopped",
        Kind::Attached => "the attached cluster was left as it is",
    }
}

/// `junit.xml`, `report.json` (and `--junit`), then the human report on
/// stdout; the verdict over every report.
fn write_outputs(req: &Request, runs: &[ScenarioRun], reports: &[Report]) -> Result<Status> {
    let path = req.out.join("report.json");
    let junit = req.out.join("junit.xml");
    let all: Vec<&Report> = reports.iter().collect();
    report::write_text_atomic(&junit, &crate::junit::render(&all)?)?;
    let verdict = if req.combined() {
        let combined = CombinedReport::of(reports.to_vec());
        report::write_json_atomic(&path, &combined)?;
        combined.verdict
    } else {
        report::write_json_atomic(&path, &reports[0])?;
        reports[0].verdict
    };
    if let Some(to) = &req.junit {
        std::fs::copy(&junit, to).with_context(|| format!("failed to write --junit {}", to.display()))?;
    }
    for r in reports {
        println!("{}", report::render_report(r));
    }
    if runs.iter().any(|r| r.variant.is_some()) {
        println!("{}", report::render_matrix(reports));
    }
    if req.combined() {
        println!("all scenarios: {}", verdict.describe());
    }
    for (r, s) in reports.iter().zip(runs) {
        let phases: Vec<(&str, &str)> = backend::PHASES.iter().chain(s.scenario.phases).copied().collect();
        println!("{}", report::render_time_summary(&r.scenario, &phases, &r.figures));
    }
    println!("report: {}", path.display());
    println!("run folder: {}", req.out.display());
    for n in reports.iter().filter_map(|r| r.note.as_ref()) {
        println!("{n}");
    }
    Ok(verdict)
}

/// The first of Ctrl-C, SIGTERM and SIGHUP (a closed terminal) to arrive.
async fn shutdown_signal() -> &'static str {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("install SIGTERM handler");
    let mut hup = signal(SignalKind::hangup()).expect("install SIGHUP handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => "Ctrl-C",
        _ = term.recv() => "SIGTERM",
        _ = hup.recv() => "SIGHUP",
    }
}

/// The run folder: `--out` (must be new or empty) or a fresh one in the temp dir.
pub fn prepare_out(out: Option<&Path>, name: &str) -> Result<PathBuf> {
    let dir = match out {
        Some(d) => {
            if d.exists() && std::fs::read_dir(d).map(|mut r| r.next().is_some()).unwrap_or(true) {
                anyhow::bail!("--out {} is not an empty folder: pass a new or empty one", d.display());
            }
            d.to_path_buf()
        }
        None => {
            let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
            std::env::temp_dir().join(format!("blobfail-{name}-{secs}-{}", std::process::id()))
        }
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("failed to create the run folder {}", dir.display()))?;
    // Only its user may enter it: it holds every node's logs and database.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
        .with_context(|| format!("failed to make the run folder {} private (mode 0700)", dir.display()))?;
    Ok(dir.canonicalize()?)
}
