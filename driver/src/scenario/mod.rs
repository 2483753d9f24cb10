//! The scenarios: each one is the order of steps (provision, fault, load,
//! observe, judge, tear down) for one question about the cluster, and turns
//! what it saw into a `Report`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use futures::FutureExt;
use serde_json::{Map, Value};

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
}

/// Wall time of each phase, in the order they ran.
#[derive(Debug, Default)]
pub struct Phases {
    order: Vec<(String, f64)>,
}

impl Phases {
    /// Times `f` as phase `name`.
    pub async fn time<T>(&mut self, name: &str, f: impl std::future::Future<Output = T>) -> T {
        let start = Instant::now();
        let out = f.await;
        self.record(name, start.elapsed());
        out
    }

    pub fn record(&mut self, name: &str, d: Duration) {
        self.order.push((name.to_string(), (d.as_secs_f64() * 1000.0).round() / 1000.0));
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

/// Which scenario(s) to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Selection {
    BlobSave,
    BacklogMemory,
    All,
}

enum Outcome {
    One(Report),
    All(Vec<Report>),
}

/// Runs the selection in `out`, prints the human report, writes
/// `report.json`, and gives the verdict. An error means the cluster could not
/// be run (no report is written then). The cluster is stopped on every path:
/// its drop guard runs when the scenario returns, fails, panics, or is
/// dropped because Ctrl-C or SIGTERM arrived.
pub fn execute(
    selection: Selection,
    common: &Common,
    blob: &blob_save::Options,
    backlog: &backlog_memory::Options,
    out: &Path,
    out_is_default: bool,
) -> Result<Verdict> {
    let progress = Progress::new();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("failed to start the async runtime")?;
    let result = rt.block_on(async {
        let scenario = async {
            match selection {
                Selection::BlobSave => blob_save::run(common, blob, out, &progress).await.map(Outcome::One),
                Selection::BacklogMemory => backlog_memory::run(common, backlog, out, &progress).await.map(Outcome::One),
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
        tokio::select! {
            r = std::panic::AssertUnwindSafe(scenario).catch_unwind() => match r {
                Ok(r) => r,
                Err(_) => Err(anyhow!("internal error (a panic, see above); the cluster was stopped")),
            },
            sig = shutdown_signal() => Err(anyhow!("interrupted by {sig}; the cluster was stopped")),
        }
    });
    let outcome = match result {
        Ok(o) => o,
        Err(e) => {
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
            println!("{}", report::render_human(&report.scenario, &report.checks, report.verdict));
            notes.extend(report.note.clone());
            report.verdict
        }
        Outcome::All(reports) => {
            let combined = report::CombinedReport::of(reports);
            let all: Vec<&Report> = combined.scenarios.iter().collect();
            report::write_text_atomic(&out.join("junit.xml"), &crate::junit::render(&all)?)?;
            report::write_json_atomic(&path, &combined)?;
            for r in &combined.scenarios {
                println!("{}", report::render_human(&r.scenario, &r.checks, r.verdict));
                notes.extend(r.note.clone());
            }
            println!("all scenarios: {}", combined.verdict.describe());
            combined.verdict
        }
    };
    println!("report: {}", path.display());
    println!("run folder: {}", out.display());
    for n in notes {
        println!("{n}");
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

