//! `blob-save`: node B's blob writes fail (every Nth open, write or sync, a
//! full disk; or only slow down: the fault plan) while node A serves load
//! whose records (each with a 50 KiB blob) replicate to B. Does B contain
//! the failures, stay connected and live, lose nothing, and answer reads of
//! what it lost?
//!
//! Written once over a `Backend`: locally the shim is preloaded into B here
//! and its own fault log and exit summary are judged; attached, B was
//! preloaded by whoever runs it, and the log checks read B's log alone.

pub mod checks;
pub mod fault_checks;
pub mod injector;
pub mod log_only;
pub mod observe;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::Result;
use futures::future::BoxFuture;
use futures::FutureExt;
use serde_json::{json, Map, Value};

use super::{Ctx, Scenario};
use crate::backend::{self, Backend, NodeLog};
use crate::cluster::NodeSetup;
use crate::fault::plan::{self as fault_plan, Overrides};
use crate::fault::{self, FaultPlan, PlanSpec};
use crate::harper_log::{FaultSignature, LogEntry, LogPatterns};
use crate::journal::{Phases, PlannedCheck};
use crate::model::{Check, Report, Status};
use crate::workload;
use fault_checks::ReadEnd;
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
    PlannedCheck { name: "damaged-reads-contained", needs: &["a", "b"] },
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
    options: &[
        "interval",
        "requests",
        "concurrency",
        "settle",
        "liveness_timeout",
        "failure_pattern",
        "uncaught_pattern",
        "cut_replication",
        "fault",
        "calls",
        "errno",
        "space",
        "delay",
        "nemesis",
        "link",
        "latency",
        "jitter",
        "bandwidth",
        "cut_after",
        "cut_every",
    ],
    local_only: &[
        "interval",
        "cut_replication",
        "fault",
        "calls",
        "errno",
        "space",
        "delay",
        "nemesis",
        "link",
        "latency",
        "jitter",
        "bandwidth",
        "cut_after",
        "cut_every",
    ],
    cannot_attach: None,
    variants: Some(variants),
    run: run_boxed,
};

/// With several fault plans (`--fault a,b` or `all`), one run per plan.
fn variants(args: &super::Args) -> Vec<&'static str> {
    let plans = &args.blob_save.plans;
    if plans.len() > 1 {
        plans.iter().map(|p| p.plan).collect()
    } else {
        Vec::new()
    }
}

/// blob-save's options.
#[derive(clap::Args, Debug, Clone)]
#[command(next_help_heading = "blob-save")]
pub struct Args {
    /// blob-save: the fault plan on node B: open-enoent, write-enospc, fsync-eio, disk-full, slow-disk; several (a,b) or all run each on a fresh cluster.
    #[arg(long, default_value = "open-enoent", value_name = "PLAN[,PLAN…]|all")]
    pub fault: String,
    /// blob-save: every Nth matching call on node B fails (the plan's; also backlog-memory's --shim-on-b) [7].
    #[arg(long, default_value_t = 7, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub interval: u64,
    /// blob-save: the call families the plan counts (open,write,sync,close,rename,truncate,mkdir,unlink).
    #[arg(long, value_name = "LIST", value_parser = fault_plan::parse_calls)]
    pub calls: Option<Vec<String>>,
    /// blob-save: the errno of a failed call (ENOENT, EIO, ENOSPC, …).
    #[arg(long, value_name = "NAME", value_parser = fault_plan::parse_errno)]
    pub errno: Option<String>,
    /// blob-save (disk-full): the bytes B's blob writes may use before they fail, e.g. 4MiB.
    #[arg(long, value_name = "SIZE", value_parser = fault_plan::parse_space)]
    pub space: Option<u64>,
    /// blob-save (slow-disk): how long each blob call on B waits first, e.g. 10ms.
    #[arg(long, value_name = "DURATION", value_parser = fault_plan::parse_delay)]
    pub delay: Option<u64>,
    /// blob-save: GETs on node A of /LargeLocation/<n>, n random in 0..=399.
    #[arg(long, default_value_t = 400, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub requests: u64,
    /// blob-save: GETs in flight at once.
    #[arg(long, default_value_t = 20, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=1000))]
    pub concurrency: u64,
    /// blob-save: seconds B's record count may stay unchanged before it counts as settled.
    #[arg(long, default_value_t = 5.0, value_name = "SECS")]
    pub settle: f64,
    /// blob-save: seconds a fresh upsert on A may take to reach B before liveness fails.
    #[arg(long, default_value_t = 30.0, value_name = "SECS")]
    pub liveness_timeout: f64,
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
    /// The plans to run, resolved from `--fault` and the overrides.
    #[arg(skip)]
    pub plans: Vec<PlanSpec>,
}

impl Args {
    /// Values clap cannot bound by itself.
    pub fn validate(&self, _given: &dyn Fn(&str) -> bool) -> Result<(), String> {
        if !(self.settle.is_finite() && self.settle > 0.0 && self.settle <= 600.0) {
            return Err(format!("--settle must be between 0 and 600 seconds, got {}", self.settle));
        }
        if !(self.liveness_timeout.is_finite() && self.liveness_timeout > 0.0 && self.liveness_timeout <= 600.0) {
            return Err(format!("--liveness-timeout must be between 0 and 600 seconds, got {}", self.liveness_timeout));
        }
        Ok(())
    }

    /// Resolves `--fault` and the overrides into the plans to run; the
    /// interval overrides a plan only when given on the command line.
    pub fn resolve_plans(&mut self, interval_given: bool) -> Result<(), String> {
        let o = Overrides {
            calls: self.calls.clone(),
            interval: interval_given.then_some(self.interval),
            errno: self.errno.clone(),
            space: self.space,
            delay_ms: self.delay,
        };
        self.plans = fault_plan::resolve(&self.fault, &o)?;
        Ok(())
    }

    /// The plan of this run (`variant` names it when several run).
    fn plan(&self, variant: Option<&str>) -> PlanSpec {
        let chosen = variant.and_then(|v| self.plans.iter().find(|p| p.plan == v)).or(self.plans.first());
        chosen.cloned().unwrap_or_else(|| {
            let mut p = PlanSpec::named("open-enoent").expect("a named plan");
            p.interval = Some(self.interval);
            p
        })
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
    let label = ctx.label(SCENARIO.name);
    let mut phases = Phases::begin(ctx.journal, &label, out, CHECKS);
    // --nemesis: the proxy goes on the replication port before the nodes connect.
    let mut nemesis = match ctx.backend {
        backend::Choice::Local(_) => crate::net::on_load::OnLoad::install(&ctx.args.blob_save_net, &["a", "b"]).await?,
        backend::Choice::Attached(_) => None,
    };
    let (mut backend, plan, keep) = match ctx.backend {
        backend::Choice::Local(local) => {
            let shim = fault::find_shim(local.shim.as_deref())?;
            let plan = FaultPlan { shim, spec: opts.plan(ctx.variant), log: out.join("faults.jsonl") };
            let setups = [NodeSetup::plain("a"), NodeSetup { env: plan.env(), ..NodeSetup::plain("b") }];
            let backend = Backend::local(local, &setups, out, &mut phases, ctx.progress, ctx.journal).await?;
            (backend, Some(plan), local.keep)
        }
        backend::Choice::Attached(attach) => {
            (Backend::attach(attach, SCENARIO.name, TABLE, &mut phases, ctx.progress, ctx.journal).await?, None, false)
        }
    };
    super::test_panic_hook("join");

    // The plan as run, said once the cluster runs it (before, a setup error
    // stays the only line on stderr).
    if let Some(plan) = &plan {
        eprintln!("blobfail: fault plan {}", plan.spec);
    }
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
    if let Some(n) = &mut nemesis {
        n.aim(&backend);
        n.start();
    }
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
    if let Some(n) = &mut nemesis {
        n.heal();
    }
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

    // Observe the live cluster. B's log is judged as it stands before any
    // read of a damaged record: on 4.7.29 each such read logs another
    // uncaughtException, which is the read's (damaged-reads-contained), not
    // the save's. peer-connected and liveness make no such read, so they
    // run while the log is let settle.
    let step = ctx.progress.step("checking the cluster");
    phases.enter("checks");
    let checks_start = Instant::now();
    let b_death = backend.death("b");
    let a_name = backend.name_of_a();
    let probe_id = format!("blobfail-liveness-{}", if base == 0 { ctx.seed } else { base });
    let journal = ctx.journal;
    let b_log_of = |backend: &Backend| backend.b_log_reader();
    let reader = b_log_of(&backend);
    let observe = async {
        let peer_and_live = async {
            let status = match &b_death {
                Some(d) => Err(d.clone()),
                None => b.cluster_status().await.map_err(|e| format!("{e:#}")),
            };
            let peer = checks::peer_connected(status.as_ref().map_err(Clone::clone), &a_name);
            journal.decided(&peer);
            let live = match &b_death {
                Some(d) => Liveness { check: checks::liveness(&probe_id, None, None, 0.0, Some(d)), seconds: 0.0 },
                None => observe::liveness(&a, &b, &probe_id, Duration::from_secs_f64(opts.liveness_timeout)).await,
            };
            journal.decided(&live.check);
            (peer, live)
        };
        let mut took = Vec::new();
        let t = Instant::now();
        let (b_log, (peer, live)) = futures::join!(reader.read(Duration::from_secs(1)), peer_and_live);
        took.push(("checks_log_seconds", t.elapsed()));
        let t = Instant::now();
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
        took.push(("checks_survey_seconds", t.elapsed()));
        // What the reads of damaged records added to B's log.
        let t = Instant::now();
        let after = match &survey {
            Ok(s) if !s.damaged().is_empty() => Some(reader.read(Duration::from_millis(300)).await),
            _ => None,
        };
        took.push(("checks_log_again_seconds", t.elapsed()));
        (b_log, after, peer, live, survey, lost, took)
    };
    let (b_log, b_log_after, peer, live, survey, lost, took) = backend.supervise(observe).await?;
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
    if let Some(n) = nemesis.take() {
        n.remove(&mut figures, backend.files_of("b").map(|s| s.root)).await?;
    }
    let since = b_log_after.as_ref().map(|after| b_log.since(after)).unwrap_or_default();
    let judged = judge_log(&backend, &b_log, plan.as_ref(), opts, survey.as_ref().ok(), &mut figures)?;
    let reads = match &survey {
        Ok(s) => Some(damaged_reads(s)),
        Err(_) => None,
    };
    let contained = match (&reads, &b_death) {
        (_, Some(d)) => Check::new("damaged-reads-contained", Status::Unknown, format!("could not read B's records: {d}")),
        (None, _) => Check::new("damaged-reads-contained", Status::Unknown, "could not read B's records (see nothing-lost)"),
        (Some(reads), None) => fault_checks::damaged_reads_contained(
            reads,
            survey.as_ref().map(|s| s.read_bound_s).unwrap_or(0.0),
            &since,
            &opts.patterns(),
            &judged.signature,
            b_log.source_path(),
        ),
    };
    let escaped_during_reads = judged.signature_hits(&since, &opts.patterns());
    let mut checks = judged.checks;
    checks.extend([peer, live.check, lost, contained]);

    let mut put = |k: &str, v: Value| {
        figures.insert(k.to_string(), v);
    };
    put("seed", json!(ctx.seed));
    if let Some(plan) = &plan {
        put("fault", json!(plan.spec.to_string()));
        put("fault_plan", json!(plan.spec));
    }
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
    // Where the checks' time went: B's log let settle (with peer-connected
    // and liveness beside it), the survey's reads, B's log read again.
    for (k, d) in took {
        put(k, json!((d.as_secs_f64() * 1000.0).round() / 1000.0));
    }
    if let Ok(s) = &survey {
        for (name, value) in s.figures() {
            put(name, value);
        }
        put("records_damaged_on_b", json!(s.damaged().len()));
        for (k, secs) in &s.seconds {
            put(k, json!((secs * 1000.0).round() / 1000.0));
        }
    }
    put("uncaught_during_damaged_reads", json!(escaped_during_reads));
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
    Ok(super::finish(ctx, &label, &mut backend, keep, checks, figures, files))
}

/// How each read of a damaged record on B ended, from the survey's reads.
fn damaged_reads(s: &checks::LossSurvey) -> BTreeMap<String, ReadEnd> {
    let mut reads = BTreeMap::new();
    for id in s.damaged() {
        let end = if s.hung_on_b.contains(id) {
            ReadEnd::Hung
        } else if let Some(e) = s.blob_unreadable_on_b.get(id) {
            answer_kind(e)
        } else if let Some((b, a)) = s.blob_short_on_b.get(id) {
            ReadEnd::Answered(format!("answered {b} of {a} bytes"))
        } else {
            ReadEnd::Answered("answered other bytes".into())
        };
        reads.insert(id.clone(), end);
    }
    reads
}

/// A read's error, grouped for counting: an error status is an answer
/// (`answered 500 Internal Server Error`); a failed or closed connection is not.
fn answer_kind(e: &str) -> ReadEnd {
    if e.starts_with("answered") || e.starts_with("B answered") {
        return ReadEnd::Answered(e.split_once(':').map_or(e, |(head, _)| head).to_string());
    }
    if e.contains("connection closed") {
        ReadEnd::Cut("connection closed".into())
    } else if e.contains("connection reset") {
        ReadEnd::Cut("connection reset".into())
    } else {
        ReadEnd::Cut(crate::api::shorten(e, 60))
    }
}

/// What the log checks decided, and what ties an escaped error to the fault.
struct Judged {
    checks: Vec<Check>,
    signature: FaultSignature,
}

impl Judged {
    fn signature_hits(&self, entries: &[LogEntry], p: &LogPatterns) -> usize {
        entries.iter().filter(|e| self.signature.tie(e, p).is_some()).count()
    }
}

/// `injector-fired`, `blob-save-failure-logged` and `no-uncaught-exception`:
/// from the shim's own records and B's `hdb.log` when B's files are here,
/// from B's log alone when they are not. Adds the figures they rest on.
fn judge_log(
    backend: &Backend,
    log: &NodeLog,
    plan: Option<&FaultPlan>,
    opts: &Args,
    survey: Option<&checks::LossSurvey>,
    figures: &mut Map<String, Value>,
) -> Result<Judged> {
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
            let fault_log = fault::read_fault_log_whole(&plan.log)?;
            let blob_files_b = fault::count_files(&b.root.join("blobs"));
            // A blob file on B shorter than A's is a truncated one.
            let full = backend.files_of("a").map(|a| fault::file_sizes(&a.root.join("blobs"))).unwrap_or_default();
            let full = full.iter().copied().max().unwrap_or(0);
            let short_b = fault::file_sizes(&b.root.join("blobs")).into_iter().filter(|&n| n < full).count();
            let signature = fault_checks::signature(&plan.spec, &fault_log.records);
            let faults = fault_log.records.iter().filter(|r| r.errno != 0).count();
            put("faults_injected", json!(fault_log.records.len()));
            put("matching_calls", json!(fault_log.summaries.iter().map(|s| s.matching).sum::<u64>()));
            put("matching_write_opens", json!(summaries.last().map(|s| s.matching)));
            put("blob_files_on_b", json!(blob_files_b));
            put("blob_files_truncated_on_b", json!(short_b));
            put("uncaught_tied_to_fault", json!(entries.iter().filter(|e| signature.tie(e, &patterns).is_some()).count()));
            let injection = injector::Injection {
                spec: &plan.spec,
                log: &fault_log,
                stderr_summaries: &summaries,
                armed_lines: armed.len(),
                blob_files_on_b: Some(blob_files_b),
                log_path: &plan.log,
            };
            let damaged = survey.map(|s| s.damaged().len());
            let checks = vec![
                injector::injector_fired(&injection),
                fault_checks::blob_save_failure_logged(damaged, faults, entries, &patterns, &signature, path),
                fault_checks::no_uncaught_exception(&signature, faults, entries, &patterns, path),
            ];
            Ok(Judged { checks, signature })
        }
        (_, _, NodeLog::Remote { source, entries: Ok(entries) }) => {
            let e = log_only::remote_evidence(entries, &patterns);
            put("log_entries_read", json!(entries.len()));
            put("failed_blob_files_in_log", json!(e.failed_files.len()));
            put("uncaught_blob_entries", json!(e.escaped.len()));
            put("contained_failure_lines", json!(e.contained.len()));
            Ok(Judged { checks: log_only::log_checks(entries, &patterns, source), signature: FaultSignature::default() })
        }
        (_, _, NodeLog::Remote { source, entries: Err(e) }) => {
            put("log_entries_read", json!(0));
            let why = format!("could not read {source}: {e}");
            let checks = ["injector-fired", "blob-save-failure-logged", "no-uncaught-exception"]
                .map(|name| Check::new(name, Status::Unknown, why.clone()))
                .into();
            Ok(Judged { checks, signature: FaultSignature::default() })
        }
        (_, _, NodeLog::File { path, .. }) => {
            anyhow::bail!("internal error: node B's log {} is local but its fault plan is not", path.display())
        }
    }
}
