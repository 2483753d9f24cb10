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
pub mod in_time;
pub mod injector;
pub mod judge;
pub mod log_only;
pub mod observe;
pub mod per_node;
pub mod validate;

use std::time::{Duration, Instant};

use anyhow::Result;
use futures::future::BoxFuture;
use futures::FutureExt;
use serde_json::{json, Map, Value};

use super::{Ctx, Scenario};
use crate::backend::{self, Backend};
use crate::cluster::NodeSetup;
use crate::fault::plan::{self as fault_plan, Overrides};
use crate::fault::{self, FaultPlan, PlanSpec};
use crate::journal::{Phases, PlannedCheck};
use crate::model::Report;
use crate::workload;
use crate::events::Change;
use crate::nemesis::{CutReplication, Nemesis};
use crate::topology::{parse_faulted, NodeId, Topology, MAX_NODES};

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

/// The base checks, then the two a nemesis adds: how the node came back,
/// and whether it caught up.
const fn with_nemesis(back: PlannedCheck) -> [PlannedCheck; 9] {
    let mut all = [back; 9];
    let mut i = 0;
    while i < CHECKS.len() {
        all[i] = CHECKS[i];
        i += 1;
    }
    all[7] = back;
    all[8] = PlannedCheck { name: "caught-up", needs: &["a", "b"] };
    all
}

/// With `--nemesis`, the checks that judge a node coming back follow.
const CHECKS_KILL_RESTART: &[PlannedCheck] = &with_nemesis(PlannedCheck { name: "restarted", needs: &["b"] });
const CHECKS_LINK: &[PlannedCheck] = &with_nemesis(PlannedCheck { name: "healed", needs: &["b"] });
const CHECKS_PAUSE: &[PlannedCheck] = &with_nemesis(PlannedCheck { name: "resumed", needs: &["b"] });

pub const SCENARIO: Scenario = Scenario {
    name: "blob-save",
    about: "Blob writes fail every Nth time on node B while A serves load.",
    checks: |args| match args.blob_save.nemesis.as_deref() {
        Some("kill-restart") => CHECKS_KILL_RESTART,
        Some("slow-link" | "cut-stream") => CHECKS_LINK,
        Some(_) => CHECKS_PAUSE,
        None => CHECKS,
    },
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
        "nodes",
        "faulted",
        "nemesis",
        "nemesis_for",
        "fault",
        "calls",
        "errno",
        "space",
        "delay",
        "latency",
        "jitter",
        "bandwidth",
        "cut_after",
        "cut_every",
    ],
    local_only: &[
        "interval",
        "nodes",
        "faulted",
        "nemesis",
        "nemesis_for",
        "cut_replication",
        "fault",
        "calls",
        "errno",
        "space",
        "delay",
        "latency",
        "jitter",
        "bandwidth",
        "cut_after",
        "cut_every",
    ],
    cannot_attach: None,
    variants: Some(variants),
    validate: validate::validate,
    why_local: validate::why_local,
    run: run_boxed,
    judge: Some(judge::JUDGE),
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
// Its own group id: clap names a group after its struct, and every
// scenario's struct is called Args.
#[group(id = "blob-save options")]
pub struct Args {
    /// blob-save: the fault plan on node B: open-enoent, write-enospc, fsync-eio, disk-full, slow-disk; several (a,b) or all run each on a fresh cluster.
    #[arg(long, default_value = "open-enoent", value_name = "PLAN[,PLAN…]|all")]
    pub fault: String,
    /// blob-save: every Nth matching call on node B fails (the plan's; also backlog-memory's --shim-on-b) [7].
    #[arg(long, default_value_t = 7, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub interval: u64,
    /// blob-save: the call families the plan counts (open,write,sync,close,rename,truncate,mkdir,unlink,read).
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
    /// blob-save, crash-recovery, fault-heal, backlog-memory: how many nodes (2 to 5): a, b, c, …; each joins a, which carries the load
    /// (crash-recovery and fault-heal fault b only; backlog-memory stops and measures b only).
    #[arg(long, default_value_t = 2, value_name = "N", value_parser = clap::value_parser!(u64).range(2..=MAX_NODES as u64))]
    pub nodes: u64,
    /// blob-save: the faulted nodes (the fault plan is on each; each is judged against a), e.g. b or b,c.
    #[arg(long, default_value = "b", value_name = "NODE[,NODE…]", value_parser = parse_faulted_list)]
    pub faulted: NodeList,
    /// blob-save: a fault in time on each faulted node, started halfway through the load and stopped once it is done:
    /// kill-restart (SIGKILL of its process group, then a restart on the same root), pause (SIGSTOP, then SIGCONT),
    /// or on its link with a: slow-link or cut-stream (through the driver's proxy, in a private network namespace; root).
    #[arg(long, value_name = "NEMESIS", value_parser = crate::nemesis::parse_nemesis)]
    pub nemesis: Option<String>,
    /// blob-save: seconds the nemesis lasts at least (from its start to its stop) [5].
    #[arg(long, default_value_t = 5.0, value_name = "SECS")]
    pub nemesis_for: f64,
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
        self.topology()?;
        if !(self.nemesis_for.is_finite() && self.nemesis_for >= 0.0 && self.nemesis_for <= 600.0) {
            return Err(format!("--nemesis-for must be between 0 and 600 seconds, got {}", self.nemesis_for));
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

    /// The plan of this run (`variant` names it when several run). A
    /// variant that names no resolved plan is an error, never another plan.
    fn plan(&self, variant: Option<&str>) -> Result<PlanSpec> {
        let chosen = match variant {
            Some(v) => self.plans.iter().find(|p| p.plan == v),
            None => self.plans.first(),
        };
        chosen.cloned().ok_or_else(|| {
            anyhow::anyhow!("internal error: no resolved fault plan {:?} (resolved: {:?})", variant, self.plans.iter().map(|p| p.plan).collect::<Vec<_>>())
        })
    }

    /// The nodes and which are faulted (`--nodes`, `--faulted`).
    pub fn topology(&self) -> Result<Topology, String> {
        Topology::star(self.nodes as usize, &self.faulted.0)
    }

}

/// `--faulted`'s value: the named nodes.
#[derive(Debug, Clone)]
pub struct NodeList(pub Vec<NodeId>);

fn parse_faulted_list(s: &str) -> Result<NodeList, String> {
    parse_faulted(s).map(NodeList)
}

fn run_boxed<'a>(ctx: &'a Ctx<'a>) -> BoxFuture<'a, Result<Report>> {
    run(ctx).boxed()
}

/// The fault log of a faulted node: `faults.jsonl` when one node is
/// faulted, `faults-<node>.jsonl` each when several are.
fn fault_log_name(topology: &Topology, node: &NodeId) -> String {
    if topology.faulted.len() == 1 {
        "faults.jsonl".to_string()
    } else {
        format!("faults-{node}.jsonl")
    }
}

async fn run(ctx: &Ctx<'_>) -> Result<Report> {
    let opts = &ctx.args.blob_save;
    let out = ctx.out;
    let label = ctx.label(SCENARIO.name);
    let mut phases = Phases::begin(ctx.events, &label, out, CHECKS);
    let (mut backend, topology, plans, keep) = match ctx.backend {
        backend::Choice::Local(local) => {
            // --nemesis slow-link|cut-stream: the proxy goes on before the nodes connect.
            crate::net::on_load::install(ctx.args).await?;
            let topology = opts.topology().map_err(anyhow::Error::msg)?;
            let shim = fault::find_shim(local.shim.as_deref())?;
            let spec = opts.plan(ctx.variant)?;
            let plans: Vec<(NodeId, FaultPlan)> = topology
                .faulted
                .iter()
                .map(|n| {
                    let log = out.join(fault_log_name(&topology, n));
                    (n.clone(), FaultPlan { shim: shim.clone(), spec: spec.clone(), log })
                })
                .collect();
            let setups: Vec<NodeSetup> = topology
                .nodes
                .iter()
                .map(|n| match plans.iter().find(|(f, _)| f == n) {
                    Some((_, plan)) => NodeSetup { env: plan.env(), ..NodeSetup::plain(n.clone()) },
                    None => NodeSetup::plain(n.clone()),
                })
                .collect();
            let backend = Backend::local(local, &topology, &setups, out, &mut phases, ctx.events).await?;
            (backend, topology, plans, local.keep)
        }
        backend::Choice::Attached(attach) => {
            let backend = Backend::attach(attach, SCENARIO.name, TABLE, &mut phases, ctx.events).await?;
            (backend, attach.topology(), Vec::new(), false)
        }
    };
    super::test_panic_hook("join");

    // The plan as run, said once the cluster runs it (before, a setup error
    // stays the only line on stderr).
    if let Some((_, plan)) = plans.first() {
        eprintln!("blobfail: fault plan {}", plan.spec);
    }
    if topology != Topology::pair() {
        eprintln!("blobfail: topology: {}; the fault plan is on each faulted node", topology.describe());
    }
    let source = topology.source().clone();
    let a = backend.api(&source);
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
    // The faults in time: the shim's plan is armed from each faulted node's start.
    let history = ctx.events.history();
    for (n, plan) in &plans {
        ctx.events.nemesis(&format!("shim plan {}", plan.spec.plan), n, Change::Started, "armed from the node's start".into(), Some(0.0));
    }
    // Supervised: a node stopped from outside ends the run at once (as
    // interrupted); a crash of a faulted node lets the load on A go on, for the checks.
    let nemesis = opts.nemesis.as_deref().and_then(crate::nemesis::by_name);
    let (load, comebacks) = match &nemesis {
        None => {
            let gets = workload::run_gets(&a, TABLE, &ids, opts.concurrency as usize, ctx.events);
            (phases.time("workload", backend.supervise(gets)).await?, Vec::new())
        }
        Some(nem) => {
            let around =
                in_time::load_around(
                &mut backend,
                nem.as_ref(),
                &topology.faulted,
                &a,
                &ids,
                opts.concurrency as usize,
                Duration::from_secs_f64(opts.nemesis_for),
                ctx.events,
            );
            phases.time("workload", around).await?
        }
    };
    if load.ok == 0 {
        backend.check_alive()?;
        anyhow::bail!(
            "no GET on node A succeeded ({} failed; e.g. {}): the scenario cannot judge anything",
            load.failed,
            load.errors.first().map(String::as_str).unwrap_or("?")
        );
    }
    let settle = Duration::from_secs_f64(opts.settle);
    let peers: Vec<(NodeId, crate::api::NodeApi)> = topology.nodes[1..].iter().map(|n| (n.clone(), backend.api(n))).collect();
    let settling = async {
        let mut all = Vec::new();
        for (n, api) in &peers {
            all.push((n.clone(), workload::settle(&a, &api, TABLE, settle, settle + Duration::from_secs(60), ctx.events).await));
        }
        all
    };
    let settled = phases.time("settle", backend.supervise(settling)).await?;
    // A carries the load and is never faulted: without it nothing can be judged.
    if let Some(end) = backend.end(&source) {
        return Err(end.into());
    }
    let a_name = backend.name_of_a();
    // --cut-replication: a nemesis with a start and no stop, on each faulted node.
    let cut_seconds = if opts.cut_replication {
        let cut = CutReplication { from: source.clone() };
        let cluster = backend.cluster().ok_or_else(|| anyhow::anyhow!("--cut-replication needs a local cluster"))?;
        let cutting = async {
            let start = Instant::now();
            for n in &topology.faulted {
                let up = n.to_uppercase();
                let step = ctx.events.step(&format!("cutting replication: remove_node of {a_name} on node {up}"));
                let t = Instant::now();
                let done = cut.start(cluster, n).await?;
                step.finish(&format!("{up} lists no connection to A ({:.1} s)", t.elapsed().as_secs_f64()));
                ctx.events.nemesis(cut.name(), n, Change::Started, done, None);
            }
            anyhow::Ok(start.elapsed().as_secs_f64())
        };
        Some(phases.time("cut", cutting).await?)
    } else {
        None
    };

    let step = ctx.events.step("checking the cluster");
    phases.enter("checks");
    let checks_start = Instant::now();
    let single = topology.faulted.len() == 1;
    let mut watched = Vec::new();
    for n in &topology.faulted {
        let death = backend.death(n);
        let probe = if base == 0 { ctx.seed } else { base };
        let probe_id = if n.as_str() == "b" { format!("blobfail-liveness-{probe}") } else { format!("blobfail-liveness-{probe}-{n}") };
        watched.push((n.clone(), death, backend.log_reader(n), backend.api(n), probe_id));
    }
    let healthy_apis: Vec<(NodeId, crate::api::NodeApi)> =
        topology.unfaulted_peers().into_iter().map(|n| (n.clone(), backend.api(&n))).collect();
    let observing = async {
        let mut seen = Vec::new();
        for (n, death, reader, api, probe_id) in watched {
            let w = per_node::Watch {
                a: &a,
                node: &api,
                a_name: &a_name,
                probe_id,
                liveness_timeout: Duration::from_secs_f64(opts.liveness_timeout),
                ids: base..base + ID_SPACE,
                events: single.then_some(ctx.events),
            };
            seen.push(per_node::observe(&w, n, death, reader).await);
        }
        // A healthy third node, surveyed the same way: it must keep every blob.
        let mut healthy = Vec::new();
        for (n, api) in healthy_apis {
            let survey = observe::survey_loss(&a, &api, |id| id.parse::<u64>().is_ok_and(|x| (base..base + ID_SPACE).contains(&x))).await;
            healthy.push((n, survey));
        }
        (seen, healthy)
    };
    let (observed, healthy) = backend.supervise(observing).await?;
    phases.record("checks", checks_start.elapsed());
    step.finish("observed");

    super::test_panic_hook("checks");
    let teardown_start = Instant::now();
    phases.enter("teardown");
    backend.teardown(keep, ctx.events).await;
    phases.record("teardown", teardown_start.elapsed());
    // A node stopped from outside in the last moments of the checks is
    // seen here, its end kept by the teardown.
    backend.check_outside()?;

    // What the shim recorded on each faulted node (it exists only once the
    // node has exited), then everything the checks read, saved and judged.
    let mut figures = Map::new();
    crate::net::on_load::remove(&mut figures, topology.faulted.first().and_then(|n| backend.files_of(n)).map(|s| s.root)).await?;
    let mut nodes = Vec::new();
    for mut o in observed {
        let plan = plans.iter().find(|(f, _)| *f == o.node).map(|(_, p)| p);
        o.shim = per_node::read_shim(&backend, &o.node, plan)?;
        nodes.push(o);
    }
    let observed = judge::Observed {
        settings: judge::Settings { failure_pattern: opts.failure_pattern.clone(), uncaught_pattern: opts.uncaught_pattern.clone() },
        a_name: a_name.clone(),
        nemesis: nemesis.as_ref().map(|n| n.name().to_string()),
        nodes,
        comebacks,
        settled: settled.clone(),
    };

    let mut put = |k: &str, v: Value| {
        figures.insert(k.to_string(), v);
    };
    put("seed", json!(ctx.seed));
    put("history", json!(history.lock().events()));
    if let Some((_, plan)) = plans.first() {
        put("fault", json!(plan.spec.to_string()));
        put("fault_plan", json!(plan.spec));
    }
    if topology != Topology::pair() {
        put("topology", json!(topology));
        // Each faulted node's figures, from the judge (when several are faulted).
        put("faulted_nodes", json!({}));
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
    for (n, s) in &settled {
        if n.as_str() == "b" {
            put("records_a", json!(s.records_a));
            put("records_b", json!(s.records_b));
            put("b_matched_a", json!(s.matched));
            if let Some(e) = &s.error {
                put("settle_error", json!(e));
            }
        } else {
            put(&format!("records_{n}"), json!(s.records_b));
            put(&format!("{n}_matched_a"), json!(s.matched));
            if let Some(e) = &s.error {
                put(&format!("settle_error_{n}"), json!(e));
            }
        }
    }
    if let Some(s) = cut_seconds {
        put("replication_cut_seconds", json!(s));
    }
    // What the unfaulted peers kept: every record of A, every blob whole.
    for (n, survey) in &healthy {
        let v = match survey {
            Ok(s) => json!({
                "records_on_a": s.records_on_a,
                "compared": s.compared,
                "missing": s.missing_on_b.len(),
                "damaged": s.damaged().len(),
                "kept_everything": s.records_on_a > 0 && s.compared == s.records_on_a && s.missing_on_b.is_empty() && s.damaged().is_empty(),
            }),
            Err(e) => json!({"error": format!("{e:#}")}),
        };
        put(&format!("unfaulted_{n}"), v);
    }
    if !load.errors.is_empty() {
        put("request_errors", json!(load.errors));
    }
    phases.into_figures(&mut figures);

    let mut files = Map::new();
    files.insert("run_dir".into(), json!(out));
    for (n, plan) in &plans {
        let key = if single { "fault_log".to_string() } else { format!("fault_log_{n}") };
        files.insert(key, json!(plan.log));
    }
    files.insert("report".into(), json!(out.join("report.json")));
    super::finish_observed(ctx, &SCENARIO, &label, &mut backend, keep, serde_json::to_value(&observed)?, figures, files)
}

#[cfg(test)]
mod planned_tests {
    use super::*;

    #[test]
    fn a_nemesis_plans_the_base_checks_then_its_own_two() {
        let names = |c: &[PlannedCheck]| c.iter().map(|p| (p.name, p.needs.to_vec())).collect::<Vec<_>>();
        for (list, back) in [(CHECKS_KILL_RESTART, "restarted"), (CHECKS_LINK, "healed"), (CHECKS_PAUSE, "resumed")] {
            let mut want = names(CHECKS);
            want.push((back, vec!["b"]));
            want.push(("caught-up", vec!["a", "b"]));
            assert_eq!(names(list), want);
        }
    }
}
