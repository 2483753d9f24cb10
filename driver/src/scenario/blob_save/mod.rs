//! `blob-save`: node B's blob writes fail every Nth time while node A serves
//! load whose records (each with a 50 KiB blob) replicate to B. Does B contain
//! the failures, stay connected and live, and lose nothing?
//!
//! Written once over a `Backend`: locally the shim is preloaded into B here
//! and its own fault log and exit summary are judged; attached, B was
//! preloaded by whoever runs it, and the log checks read B's log alone.

pub mod checks;
pub mod log_only;
pub mod observe;

use std::time::{Duration, Instant};

use anyhow::Result;
use futures::future::BoxFuture;
use futures::FutureExt;
use serde_json::{json, Map, Value};

use super::{Ctx, Scenario};
use crate::backend::{self, Backend, NodeLog};
use crate::cluster::NodeSetup;
use crate::fault::{self, FaultPlan};
use crate::harper_log::LogPatterns;
use crate::journal::{Phases, PlannedCheck};
use crate::model::{Check, Report, Status};
use crate::workload;
use observe::Liveness;

pub const TABLE: &str = "LargeLocation";
/// Ids are drawn from 0..ID_SPACE (the issue's `n random in 0..399`).
pub const ID_SPACE: u64 = 400;

const CHECKS: &[PlannedCheck] = &[
    PlannedCheck { name: "injector-fired", needs: &["b"] },
    PlannedCheck { name: "blob-save-failure-logged", needs: &["b"] },
    PlannedCheck { name: "no-uncaught-exception", needs: &["b"] },
    PlannedCheck { name: "peer-connected", needs: &["a", "b"] },
    PlannedCheck { name: "liveness", needs: &["a", "b"] },
    PlannedCheck { name: "nothing-lost", needs: &["a", "b"] },
];

pub const SCENARIO: Scenario = Scenario {
    name: "blob-save",
    about: "Blob writes fail every Nth time on node B while A serves load.",
    checks: |_| CHECKS,
    phases: &[
        ("workload", "workload"),
        ("settle", "settle"),
        ("cut", "cut replication"),
        ("checks", "checks"),
        ("teardown", "teardown"),
    ],
    options: &["interval", "requests", "concurrency", "settle", "failure_pattern", "uncaught_pattern", "cut_replication"],
    local_only: &["interval", "cut_replication"],
    cannot_attach: None,
    run: run_boxed,
};

/// blob-save's options.
#[derive(clap::Args, Debug, Clone)]
#[command(next_help_heading = "blob-save")]
pub struct Args {
    /// blob-save: every Nth blob write-open on node B fails (local runs; backlog-memory with --shim-on-b).
    #[arg(long, default_value_t = 7, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub interval: u64,
    /// blob-save: GETs on node A of /LargeLocation/<n>, n random in 0..=399.
    #[arg(long, default_value_t = 400, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub requests: u64,
    /// blob-save: GETs in flight at once.
    #[arg(long, default_value_t = 20, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=1000))]
    pub concurrency: u64,
    /// blob-save: seconds B's record count may stay unchanged before it counts as settled.
    #[arg(long, default_value_t = 5.0, value_name = "SECS")]
    pub settle: f64,
    /// blob-save: log pattern of a contained blob-save failure (one line per fault expected on node B).
    #[arg(long, value_name = "TEXT", default_value = "Blob save failed for")]
    pub failure_pattern: String,
    /// blob-save: log pattern of an escaped failure; such an entry mentioning Blob, or ENOENT under /blobs/, fails no-uncaught-exception.
    #[arg(long, value_name = "TEXT", default_value = "uncaughtException")]
    pub uncaught_pattern: String,
    /// blob-save: once B has settled, cut B's replication with A (remove_node on B) before the checks,
    /// so that peer-connected and liveness must fail (local runs).
    #[arg(long)]
    pub cut_replication: bool,
}

impl Args {
    /// Values clap cannot bound by itself.
    pub fn validate(&self, _given: &dyn Fn(&str) -> bool) -> Result<(), String> {
        if !(self.settle.is_finite() && self.settle > 0.0 && self.settle <= 600.0) {
            return Err(format!("--settle must be between 0 and 600 seconds, got {}", self.settle));
        }
        Ok(())
    }

    fn patterns(&self) -> LogPatterns {
        LogPatterns { failure: self.failure_pattern.clone(), uncaught: self.uncaught_pattern.clone() }
    }
}

fn run_boxed<'a>(ctx: &'a Ctx<'a>) -> BoxFuture<'a, Result<Report>> {
    run(ctx).boxed()
}

async fn run(ctx: &Ctx<'_>) -> Result<Report> {
    let opts = &ctx.args.blob_save;
    let out = ctx.out;
    let mut phases = Phases::begin(ctx.journal, SCENARIO.name, out, CHECKS);
    let (mut backend, plan, keep) = match ctx.backend {
        backend::Choice::Local(local) => {
            let shim = fault::find_shim(local.shim.as_deref())?;
            let plan = FaultPlan::blob_writes(shim, opts.interval, out.join("faults.jsonl"));
            let setups = [NodeSetup::plain("a"), NodeSetup { env: plan.env(), ..NodeSetup::plain("b") }];
            let backend = Backend::local(local, &setups, out, &mut phases, ctx.progress, ctx.journal).await?;
            (backend, Some(plan), local.keep)
        }
        backend::Choice::Attached(attach) => {
            (Backend::attach(attach, SCENARIO.name, TABLE, &mut phases, ctx.progress, ctx.journal).await?, None, false)
        }
    };
    super::test_panic_hook("join");

    let a = backend.api("a");
    let b = backend.api("b");
    let base = backend.id_base();
    if base == 0 {
        eprintln!("blobfail: workload seed {} (repeat with --seed {})", ctx.seed, ctx.seed);
    } else {
        eprintln!(
            "blobfail: workload seed {} (repeat with --seed {}), record ids {base}..{}",
            ctx.seed,
            ctx.seed,
            base + ID_SPACE - 1
        );
    }
    let ids: Vec<u64> = workload::draw_ids(ctx.seed, opts.requests, ID_SPACE).into_iter().map(|n| base + n).collect();
    // Supervised: a node stopped from outside ends the run at once (as
    // interrupted); a crash of B lets the load on A go on, for the checks.
    let gets = workload::run_gets(&a, TABLE, &ids, opts.concurrency as usize, ctx.progress);
    let load = phases.time("workload", backend.supervise(gets)).await?;
    if load.ok == 0 {
        backend.check_alive()?;
        anyhow::bail!(
            "no GET on node A succeeded ({} failed; e.g. {}): the scenario cannot judge anything",
            load.failed,
            load.errors.first().map(String::as_str).unwrap_or("?")
        );
    }
    let settle = Duration::from_secs_f64(opts.settle);
    let settling = workload::settle(&a, &b, TABLE, settle, settle + Duration::from_secs(60), ctx.progress);
    let settled = phases.time("settle", backend.supervise(settling)).await?;
    // A carries the load and is never faulted: without it nothing can be judged.
    if let Some(end) = backend.end("a") {
        return Err(end.into());
    }
    let cut_seconds = if opts.cut_replication {
        let a_name = backend.name_of_a();
        Some(phases.time("cut", backend.supervise(crate::nemesis::cut_replication(&b, &a_name, ctx.progress))).await??)
    } else {
        None
    };

    // Observe the live cluster. B's log is read first: reading back a record
    // whose blob file is missing makes 4.7.29 log another uncaughtException
    // (for the read), which must not be counted as a save failure.
    let step = ctx.progress.step("checking the cluster");
    phases.enter("checks");
    let checks_start = Instant::now();
    let b_log = backend.log_of_b().await;
    let b_death = backend.death("b");
    let a_name = backend.name_of_a();
    let probe_id = format!("blobfail-liveness-{}", if base == 0 { ctx.seed } else { base });
    let journal = ctx.journal;
    let observe = async {
        let status = match &b_death {
            Some(d) => Err(d.clone()),
            None => b.cluster_status().await.map_err(|e| format!("{e:#}")),
        };
        let peer = checks::peer_connected(status.as_ref().map_err(Clone::clone), &a_name);
        journal.decided(&peer);
        let live = match &b_death {
            Some(d) => Liveness { check: checks::liveness(&probe_id, None, None, 0.0, Some(d)), seconds: 0.0 },
            None => observe::liveness(&a, &b, &probe_id).await,
        };
        journal.decided(&live.check);
        // Only the run's own records count (an attached cluster holds others').
        let range = base..base + ID_SPACE;
        let survey = match &b_death {
            Some(d) => Err(anyhow::anyhow!("{d}")),
            None => observe::survey_loss(&a, &b, |id| id.parse::<u64>().is_ok_and(|n| range.contains(&n))).await,
        };
        let lost = match &survey {
            Ok(s) => checks::nothing_lost(s),
            Err(e) => Check::new("nothing-lost", Status::Unknown, format!("could not compare the nodes' records: {e:#}")),
        };
        journal.decided(&lost);
        (peer, live, survey, lost)
    };
    let (peer, live, survey, lost) = backend.supervise(observe).await?;
    phases.record("checks", checks_start.elapsed());
    step.finish("observed");

    super::test_panic_hook("checks");
    let teardown_start = Instant::now();
    phases.enter("teardown");
    backend.teardown(keep, ctx.progress).await;
    phases.record("teardown", teardown_start.elapsed());
    // A node stopped from outside in the last moments of the checks is
    // seen here, its end kept by the teardown.
    backend.check_outside()?;

    let mut figures = Map::new();
    let mut checks = judge_log(&backend, b_log, plan.as_ref(), opts, &mut figures)?;
    checks.extend([peer, live.check, lost]);

    let mut put = |k: &str, v: Value| {
        figures.insert(k.to_string(), v);
    };
    put("seed", json!(ctx.seed));
    for (k, v) in backend.figures() {
        put(k, v);
    }
    put("requests", json!(load.requests));
    put("requests_ok", json!(load.ok));
    put("requests_failed", json!(load.failed));
    put("retries", json!(load.retries));
    put("distinct_ids", json!(load.distinct_ids));
    put("concurrency", json!(opts.concurrency));
    put("records_a", json!(settled.records_a));
    put("records_b", json!(settled.records_b));
    put("b_matched_a", json!(settled.matched));
    if let Some(d) = &b_death {
        put("node_b_died", json!(d));
    }
    if let Some(e) = &settled.error {
        put("settle_error", json!(e));
    }
    put("liveness_seconds", json!(live.seconds));
    if let Some(s) = cut_seconds {
        put("replication_cut_seconds", json!(s));
    }
    if let Ok(s) = &survey {
        for (name, value) in s.figures() {
            put(name, value);
        }
    }
    if !load.errors.is_empty() {
        put("request_errors", json!(load.errors));
    }
    phases.into_figures(&mut figures);

    let mut files = Map::new();
    files.insert("run_dir".into(), json!(out));
    if let Some(plan) = &plan {
        files.insert("fault_log".into(), json!(plan.log));
    }
    files.insert("report".into(), json!(out.join("report.json")));
    Ok(super::finish(ctx, SCENARIO.name, &mut backend, keep, checks, figures, files))
}

/// `injector-fired`, `blob-save-failure-logged` and `no-uncaught-exception`:
/// from the shim's own records and B's `hdb.log` when B's files are here,
/// from B's log alone when they are not. Adds the figures they rest on.
fn judge_log(
    backend: &Backend,
    log: NodeLog,
    plan: Option<&FaultPlan>,
    opts: &Args,
    figures: &mut Map<String, Value>,
) -> Result<Vec<Check>> {
    let patterns = opts.patterns();
    let mut put = |k: &str, v: Value| {
        figures.insert(k.to_string(), v);
    };
    match (backend.files_of("b"), plan, log) {
        (Some(b), Some(plan), NodeLog::File { path, entries }) => {
            // What the shim says it did (its exit summary exists only once B has exited).
            let b_stderr = std::fs::read_to_string(&b.stderr).unwrap_or_default();
            let summaries = fault::parse_summaries(&b_stderr);
            let armed = fault::armed_lines(&b_stderr);
            let faults = fault::read_fault_log(&plan.log)?;
            let blob_files_b = fault::count_files(&b.root.join("blobs"));
            let faulted: Vec<String> = faults.iter().map(|f| f.path.clone()).collect();
            put("interval", json!(plan.interval));
            put("faults_injected", json!(faults.len()));
            put("matching_write_opens", json!(summaries.last().map(|s| s.matching)));
            put("blob_files_on_b", json!(blob_files_b));
            Ok(vec![
                checks::injector_fired(plan.interval, &faults, &summaries, armed.len(), Some(blob_files_b), &plan.log),
                checks::blob_save_failure_logged(faults.len(), &entries, &patterns, &path),
                checks::no_uncaught_exception(&faulted, &entries, &patterns, &path),
            ])
        }
        (_, _, NodeLog::Remote { source, entries: Ok(entries) }) => {
            let e = log_only::remote_evidence(&entries, &patterns);
            put("log_entries_read", json!(entries.len()));
            put("failed_blob_files_in_log", json!(e.failed_files.len()));
            put("uncaught_blob_entries", json!(e.escaped.len()));
            put("contained_failure_lines", json!(e.contained.len()));
            Ok(log_only::log_checks(&entries, &patterns, &source))
        }
        (_, _, NodeLog::Remote { source, entries: Err(e) }) => {
            put("log_entries_read", json!(0));
            let why = format!("could not read {source}: {e}");
            Ok(["injector-fired", "blob-save-failure-logged", "no-uncaught-exception"]
                .map(|name| Check::new(name, Status::Unknown, why.clone()))
                .into())
        }
        (_, _, NodeLog::File { path, .. }) => {
            anyhow::bail!("internal error: node B's log {} is local but its fault plan is not", path.display())
        }
    }
}
