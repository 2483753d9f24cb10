//! `partition-heal`: partition node B from the rest (or any two sets of
//! nodes) inside the run's private network namespace, write on both sides
//! (ids of each side's own, and ids written on both), then heal, and judge
//! whether the cluster converges to one state that lost nothing and picked
//! each conflict's winner by Harper's rule (the latest write).

pub mod checks;
pub mod judge;
pub mod observe;

use std::time::{Duration, Instant};

use anyhow::{anyhow, Result};
use futures::future::BoxFuture;
use futures::FutureExt;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use super::{Ctx, Scenario};
use crate::backend::{self, Backend};
use crate::cluster::NodeSetup;
use crate::fault::{self, FaultPlan};
use crate::harper_log::parse_log;
use crate::events::Event;
use crate::journal::{Phases, PlannedCheck};
use crate::model::{Check, Report, Status};
use crate::net::nemesis::{NodeAddr, Partition};
use crate::net::session;
use crate::topology::{NodeId, Topology};
use crate::net::spec::{parse_partition, PartitionSpec};

use checks::{Crossing, Written};

const CHECKS: &[PlannedCheck] = &[
    PlannedCheck { name: "converged", needs: &["a", "b"] },
    PlannedCheck { name: "same-winner", needs: &["a", "b"] },
    PlannedCheck { name: "nothing-lost", needs: &["a", "b"] },
    PlannedCheck { name: "no-uncaught-exception", needs: &["a", "b"] },
    PlannedCheck { name: "peer-connected", needs: &["a", "b"] },
];

/// The run's nodes: a and b, and c when the partition names it.
pub const NODES: &[&str] = &["a", "b"];
const NODES_WITH_C: &[&str] = &["a", "b", "c"];

/// The run's nodes and its partition, from `--partition`: a three-node
/// run when it names node c (`b|a,c`), else two.
pub fn plan(partition: &str) -> Result<(&'static [&'static str], PartitionSpec), String> {
    let names_c = partition.split(['|', ',']).any(|n| n.trim().eq_ignore_ascii_case("c"));
    let nodes = if names_c { NODES_WITH_C } else { NODES };
    let spec = parse_partition(partition, nodes).map_err(|e| format!("--partition: {e}"))?;
    Ok((nodes, spec))
}
/// The blob the component makes for each record: 50 KiB of 0x01.
const BLOB_BYTES: usize = 50 * 1024;
/// How long a probe gets to cross a link after the heal.
const PROBE_BOUND: Duration = Duration::from_secs(15);

pub const SCENARIO: Scenario = Scenario {
    name: "partition-heal",
    about: "Partition node B from A (in a private network namespace), write on both sides, heal, and judge the convergence.",
    checks: |_| CHECKS,
    phases: &[
        ("partition", "partition"),
        ("writes", "writes on both sides"),
        ("hold", "hold"),
        ("heal", "heal"),
        ("converge", "converge"),
        ("checks", "checks"),
        ("teardown", "teardown"),
    ],
    options: &["partition", "writes", "conflicts", "blob_writes", "hold", "converge_timeout", "no_heal", "fail_blob_opens"],
    local_only: &[],
    cannot_attach: Some("it partitions the nodes' network, which needs nodes this run started in its own network namespace"),
    variants: None,
    validate: validate_options,
    why_local: super::never_attached,
    run: run_boxed,
    judge: Some(judge::JUDGE),
};

/// partition-heal's options.
#[derive(clap::Args, Debug, Clone)]
#[command(next_help_heading = "partition-heal")]
// Its own group id: clap names a group after its struct, and every
// scenario's struct is called Args.
#[group(id = "partition-heal options")]
pub struct Args {
    /// partition-heal: the two sets of nodes cut apart, e.g. `b|a`; one node alone is cut from every other.
    #[arg(long, default_value = "b", value_name = "SET|SET")]
    pub partition: String,
    /// partition-heal: records written on each side during the partition (ids of that side only).
    #[arg(long, default_value_t = 20, value_name = "N", value_parser = clap::value_parser!(u64).range(0..=10_000))]
    pub writes: u64,
    /// partition-heal: ids written on both sides during the partition (the second side's write is later).
    #[arg(long, default_value_t = 10, value_name = "N", value_parser = clap::value_parser!(u64).range(0..=10_000))]
    pub conflicts: u64,
    /// partition-heal: records with a 50 KiB blob made on each side during the partition.
    #[arg(long, default_value_t = 5, value_name = "N", value_parser = clap::value_parser!(u64).range(0..=1_000))]
    pub blob_writes: u64,
    /// partition-heal: seconds the partition is held after the writes (a probe must not cross meanwhile).
    #[arg(long, default_value_t = 3.0, value_name = "SECS")]
    pub hold: f64,
    /// partition-heal: seconds after the heal for every node to hold the same records and blobs.
    #[arg(long, default_value_t = 30.0, value_name = "SECS")]
    pub converge_timeout: f64,
    /// partition-heal: keep the partition through the checks (a control that must fail converged,
    /// same-winner, nothing-lost and peer-connected).
    #[arg(long)]
    pub no_heal: bool,
    /// partition-heal: also preload the blob-write shim on B, failing every Nth open of a blob file
    /// (ENOENT, blob-save's open-enoent): B's blob saves fail beside the partition.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub fail_blob_opens: Option<u64>,
}

impl Args {
    pub fn validate(&self, _given: &dyn Fn(&str) -> bool) -> Result<(), String> {
        plan(&self.partition)?;
        if !(self.hold.is_finite() && self.hold > 0.0 && self.hold <= 600.0) {
            return Err(format!("--hold must be between 0 and 600 seconds, got {}", self.hold));
        }
        if !(self.converge_timeout.is_finite() && self.converge_timeout > 0.0 && self.converge_timeout <= 3600.0) {
            return Err(format!("--converge-timeout must be between 0 and 3600 seconds, got {}", self.converge_timeout));
        }
        Ok(())
    }
}

/// The registry's validation: partition-heal's own options.
fn validate_options(args: &mut super::Args, given: &super::Given) -> Result<(), String> {
    args.partition_heal.validate(&|id| given.has(id))
}

fn run_boxed<'a>(ctx: &'a Ctx<'a>) -> BoxFuture<'a, Result<Report>> {
    run(ctx).boxed()
}

/// The report of a run that could not have its own network: every check
/// unknown, saying what is missing and how to run it. No node is started.
fn without_network(ctx: &Ctx<'_>, why: &str) -> Report {
    let checks: Vec<Check> = CHECKS
        .iter()
        .map(|c| Check::new(c.name, Status::Unknown, format!("no private network for the partition: {why}")))
        .collect();
    let report = Report {
        scenario: SCENARIO.name.into(),
        verdict: Status::of(&checks),
        checks,
        figures: Map::new(),
        harper: Value::Null,
        nodes: Vec::new(),
        files: Map::new(),
        teardown: Vec::new(),
        title: None,
        note: None,
        interrupted: None,
    };
    ctx.events.emit(Event::Finished(report.clone()));
    report
}

/// A nemesis event for the run's history (`nemesis::RuleHistory`): what,
/// now, and its rules.
fn event(nemesis: &str, action: &'static str, rules: &[String]) -> Event {
    Event::Rules { nemesis: nemesis.to_string(), action, rules: rules.to_vec(), at: Instant::now() }
}

async fn run(ctx: &Ctx<'_>) -> Result<Report> {
    let opts = &ctx.args.partition_heal;
    let out = ctx.out;
    let backend::Choice::Local(local) = ctx.backend else {
        return Err(anyhow!("partition-heal cannot run attached: {}", SCENARIO.cannot_attach.unwrap_or_default()));
    };
    let keep = local.keep;
    let mut phases = Phases::begin(ctx.events, SCENARIO.name, out, CHECKS);
    let net = match session::private() {
        Ok(net) => net,
        Err(why) => return Ok(without_network(ctx, &why)),
    };
    let (nodes, spec) = plan(&opts.partition).map_err(anyhow::Error::msg)?;
    let mut setups: Vec<NodeSetup> = nodes.iter().map(|n| NodeSetup::plain(*n)).collect();
    // --fail-blob-opens: the shim on B, armed from its start, beside the partition.
    let fault_log = out.join("faults.jsonl");
    let shim_plan = match opts.fail_blob_opens {
        Some(every) => Some((FaultPlan::blob_writes(fault::find_shim(local.shim.as_deref())?, every, fault_log.clone()), every)),
        None => None,
    };
    if let (Some((plan, _)), Some(b)) = (&shim_plan, setups.iter_mut().find(|s| s.name == NodeId::from("b"))) {
        b.env = plan.env();
    }
    // Every node joins a; "faulted" names B, which alone may carry the shim: the partition is the fault.
    let topology = Topology::star(nodes.len(), &[NodeId::from("b")]).map_err(anyhow::Error::msg)?;
    let mut backend = Backend::local(local, &topology, &setups, out, &mut phases, ctx.events).await?;
    super::test_panic_hook("join");
    let start = Instant::now();
    let apis: Vec<_> = nodes.iter().map(|n| backend.api(n)).collect();
    // Every link carries data before the partition (or nothing after it means anything).
    let step = ctx.events.step("probing every link before the partition");
    for a in &apis {
        let others: Vec<_> = apis.iter().filter(|o| o.name != a.name).cloned().collect();
        let crossed = observe::probe(a, &others, &format!("probe-before-{}", a.name), Duration::from_secs(60)).await;
        if let Some(c) = crossed.iter().find(|c| c.seconds.is_none()) {
            anyhow::bail!("before any partition, a probe record written on node {} did not reach node {} within 60 s", c.from, c.to);
        }
    }
    step.finish("every node reached every other");
    let api = |name: &str| apis.iter().find(|a| a.name == name).expect("a node of the run").clone();
    let cluster = backend.cluster().expect("a local backend has a cluster");
    let addr = |name: &String| NodeAddr { name: name.clone(), ip: cluster.node(name).spec().ip };
    let sides = [spec.sides[0].iter().map(addr).collect(), spec.sides[1].iter().map(addr).collect()];
    let mut partition = Partition::new(sides);
    let what = partition.describe();
    let history = ctx.events.subscribe(crate::nemesis::RuleHistory::begin(start));
    let mut figures = Map::new();

    // The partition.
    let step = ctx.events.step(&what);
    phases.enter("partition");
    let t = Instant::now();
    let rules = partition.start(net).map_err(|e| anyhow!("{what} could not start: {e}"))?;
    ctx.events.emit(event(&what, "start", &rules));
    phases.record("partition", t.elapsed());
    step.finish(&format!("{} DROP rules in the run's namespace", rules.len()));

    // Writes on both sides: each side's writer is the first node of its set.
    let writers = [api(&spec.sides[0][0]), api(&spec.sides[1][0])];
    let step = ctx.events.step(&format!("writing on both sides ({} and {})", writers[0].name, writers[1].name));
    phases.enter("writes");
    let t = Instant::now();
    let mut written = Written::default();
    let side_writes = |i: usize| -> Vec<(String, String)> {
        (0..opts.writes).map(|n| (format!("{}-{n}", writers[i].name), format!("{}-{n}@{}", writers[i].name, ctx.seed))).collect()
    };
    let conflicts = |i: usize| -> Vec<(String, String)> {
        (0..opts.conflicts).map(|n| (format!("both-{n}"), format!("{}-wrote-both-{n}@{}", writers[i].name, ctx.seed))).collect()
    };
    let blob_ids = |i: usize| -> Vec<u64> { (0..opts.blob_writes).map(|n| (i as u64 + 1) * 100_000 + n).collect() };
    let (w0, w1) = (side_writes(0), side_writes(1));
    let (b0, b1) = (blob_ids(0), blob_ids(1));
    let (own0, own1, blobs0, blobs1) = tokio::join!(
        observe::upsert(&writers[0], &w0),
        observe::upsert(&writers[1], &w1),
        observe::make_blobs(&writers[0], &b0),
        observe::make_blobs(&writers[1], &b1),
    );
    for (res, rows, w) in [(own0, &w0, &writers[0]), (own1, &w1, &writers[1])] {
        res.map_err(|e| anyhow!("the writes on node {} during the partition failed: {e:#}", w.name))?;
        for (id, p) in rows {
            written.records.insert(id.clone(), (w.name.clone(), p.clone()));
        }
    }
    for (ids, w) in [(blobs0, &writers[0]), (blobs1, &writers[1])] {
        written.blobs.extend(ids.into_iter().map(|id| (id.to_string(), w.name.clone())));
    }
    // Both sides' versions of the shared ids: the second side's 100 ms
    // after the first's, so its timestamp is the later one.
    let (c0, c1) = (conflicts(0), conflicts(1));
    if !c0.is_empty() {
        observe::upsert(&writers[0], &c0).await.map_err(|e| anyhow!("the shared ids on node {}: {e:#}", writers[0].name))?;
        tokio::time::sleep(Duration::from_millis(100)).await;
        observe::upsert(&writers[1], &c1).await.map_err(|e| anyhow!("the shared ids on node {}: {e:#}", writers[1].name))?;
        for ((id, first), (_, later)) in c0.iter().zip(&c1) {
            written.conflicts.insert(id.clone(), (first.clone(), later.clone()));
        }
    }
    phases.record("writes", t.elapsed());
    step.finish(&format!(
        "{} records, {} shared ids and {} blobs acknowledged",
        written.records.len(),
        written.conflicts.len(),
        written.blobs.len()
    ));

    // The hold: a probe from each side must not reach the other meanwhile.
    let step = ctx.events.step(&format!("holding the partition {:.0} s", opts.hold));
    phases.enter("hold");
    let t = Instant::now();
    let hold = Duration::from_secs_f64(opts.hold);
    let (p0, p1) = tokio::join!(
        observe::probe(&writers[0], std::slice::from_ref(&writers[1]), "probe-during-0", hold),
        observe::probe(&writers[1], std::slice::from_ref(&writers[0]), "probe-during-1", hold),
    );
    let crossed: Vec<&Crossing> = p0.iter().chain(&p1).filter(|c| c.seconds.is_some()).collect();
    let held = if crossed.is_empty() {
        format!("during the partition no probe crossed it in {:.0} s", opts.hold)
    } else {
        format!(
            "the partition did not hold: a probe crossed it ({})",
            crossed.iter().map(|c| format!("{} → {} in {:.1} s", c.from, c.to, c.seconds.unwrap_or(0.0))).collect::<Vec<_>>().join(", ")
        )
    };
    figures.insert("partition_held".into(), json!(crossed.is_empty()));
    phases.record("hold", t.elapsed());
    step.finish(&held);

    // The heal.
    if !opts.no_heal {
        let step = ctx.events.step(&format!("healing the {what}"));
        phases.enter("heal");
        let t = Instant::now();
        let healed = partition.heal(net).map_err(|e| anyhow!("the heal of the {what} failed: {e}"))?;
        ctx.events.emit(event(&what, "heal", &healed.removed));
        phases.record("heal", t.elapsed());
        step.finish(&format!("{} rules removed, each checked gone", healed.removed.len()));
    }

    // Convergence: every node the same, and holding every write.
    let step = ctx.events.step("waiting for every node to hold the same records and blobs");
    phases.enter("converge");
    let t = Instant::now();
    let bound = Duration::from_secs_f64(opts.converge_timeout);
    let mut converged_s = None;
    let mut snaps;
    loop {
        snaps = observe::snapshots(&apis).await;
        let complete = snaps.iter().all(|s| written.records.keys().chain(written.conflicts.keys()).all(|id| s.records.contains_key(id)) && written.blobs.keys().all(|id| s.blobs.contains_key(id)));
        if observe::agree(&snaps) && complete {
            converged_s = Some(t.elapsed().as_secs_f64());
            break;
        }
        if t.elapsed() > bound {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    phases.record("converge", t.elapsed());
    step.finish(&match converged_s {
        Some(s) => format!("converged in {s:.1} s"),
        None => format!("not converged within {:.0} s", opts.converge_timeout),
    });
    if let Some(s) = converged_s {
        figures.insert("time_to_converge_s".into(), json!((s * 1000.0).round() / 1000.0));
    }

    // Probes across every link, and what cluster_status says beside them.
    let mut crossings = Vec::new();
    for a in &apis {
        let others: Vec<_> = apis.iter().filter(|o| o.name != a.name).cloned().collect();
        crossings.extend(observe::probe(a, &others, &format!("probe-after-{}", a.name), PROBE_BOUND).await);
    }
    let mut said = Vec::new();
    for a in &apis {
        let status = a.cluster_status().await.map_err(|e| format!("{e:#}"));
        for o in apis.iter().filter(|o| o.name != a.name) {
            let ip = backend.files_of(&o.name).map(|s| s.ip.to_string()).unwrap_or_default();
            let words = match &status {
                Ok(st) => crate::cluster_status::peer_sockets(st, &ip).map_or("not listed".into(), |p| p.describe()),
                Err(e) => format!("no answer ({e})"),
            };
            said.push(format!("{} sees {}: {words}", a.name, o.name));
        }
    }

    let teardown_start = Instant::now();
    phases.enter("teardown");
    let cluster = backend.cluster().expect("a local backend has a cluster");
    if !keep {
        cluster.teardown().await;
    }
    phases.record("teardown", teardown_start.elapsed());
    cluster.check_outside()?;
    if partition.is_active() {
        // --no-heal: taken out now, after the checks' observations, still exactly.
        let healed = partition.heal(net).map_err(|e| anyhow!("the heal of the {what} failed: {e}"))?;
        ctx.events.emit(event(&what, "heal", &healed.removed));
    }

    let checks_start = Instant::now();
    phases.enter("checks");
    let logs: Vec<(String, Result<Vec<crate::harper_log::LogEntry>, String>)> = nodes
        .iter()
        .map(|n| {
            let path = backend.files_of(n).map(|s| s.hdb_log).unwrap_or_default();
            // A log without Harper's start line is not one the check can see through.
            (n.to_string(), crate::harper_log::read_node_log(&path).map(|t| parse_log(&t)))
        })
        .collect();
    phases.record("checks", checks_start.elapsed());
    figures.insert("records_written".into(), json!(written.records.len()));
    figures.insert("conflicting_ids".into(), json!(written.conflicts.len()));
    figures.insert("blobs_written".into(), json!(written.blobs.len()));
    figures.insert(
        "probes_after_heal_s".into(),
        json!(crossings.iter().map(|c| json!({"from": c.from, "to": c.to, "seconds": c.seconds})).collect::<Vec<_>>()),
    );
    figures.insert("nemesis_history".into(), Value::Array(history.lock().events().to_vec()));
    if let Some((plan, every)) = &shim_plan {
        let injected = fault::read_fault_log(&fault_log)?.len();
        figures.insert(
            "shim_on_b".into(),
            json!({"plan": plan.spec.plan, "every": every, "faults_injected": injected, "log": fault_log}),
        );
    }
    figures.insert("network".into(), json!(net.describe()));
    phases.into_figures(&mut figures);
    let mut files = Map::new();
    for n in nodes {
        if let Some(s) = backend.files_of(n) {
            files.insert(format!("hdb_log_{n}"), json!(s.hdb_log));
        }
    }
    // Saved in observations.json and judged from there (partition_heal/judge.rs).
    let observed = judge::Observed {
        settings: judge::Settings {
            converge_timeout: opts.converge_timeout,
            healed: !opts.no_heal,
            probe_bound: PROBE_BOUND.as_secs_f64(),
            blob_bytes: BLOB_BYTES as u64,
            blob_sha256: Sha256::digest(vec![1u8; BLOB_BYTES]).iter().map(|b| format!("{b:02x}")).collect(),
            uncaught_pattern: "uncaughtException".into(),
        },
        held,
        snapshots: snaps,
        converged_seconds: converged_s,
        written,
        crossings,
        cluster_status: said,
        logs,
    };
    let mut report =
        super::finish_observed(ctx, &SCENARIO, SCENARIO.name, &mut backend, keep, serde_json::to_value(&observed)?, figures, files)?;
    if let (Some(note), Some(pid)) = (&report.note, backend.cluster().and_then(|c| c.node("a").pid())) {
        // Kept nodes live on in the run's network namespace, not the host's.
        report.note = Some(format!(
            "{note}\n  the nodes listen inside the run's network namespace: reach them with `nsenter --net=/proc/{pid}/ns/net curl ...`"
        ));
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_partition_names_the_runs_nodes() {
        let (nodes, spec) = plan("b").unwrap();
        assert_eq!((nodes, spec.sides), (NODES, [vec!["b".to_string()], vec!["a".to_string()]]));
        let (nodes, spec) = plan("b|a,c").unwrap();
        assert_eq!((nodes, spec.sides), (NODES_WITH_C, [vec!["b".to_string()], vec!["a".to_string(), "c".to_string()]]));
        assert_eq!(plan("c").unwrap().1.sides[1], ["a", "b"]);
        assert_eq!(plan("b|a,d").unwrap_err(), "--partition: partition \"b|a,d\" names node d, which this run does not have (nodes are a, b)");
    }
}
