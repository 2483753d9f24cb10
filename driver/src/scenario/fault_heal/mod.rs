//! `fault-heal`: node B runs with the shim mapped to a control file, healed.
//! A's load starts; after `--arm-after` of its requests B's blob faults are
//! armed at run time (every `--interval`th blob write-open fails with
//! ENOENT; `--window-max 0` arms a control window that injects nothing),
//! held for `--armed-for` while the load goes on, then healed while B keeps
//! running, and the rest of the load follows. The arm and the heal are
//! events of the run's history (the `shim-control` nemesis). Does B serve
//! the records written after the heal whole, and do the records the window
//! damaged come back whole within `--heal-bound`?

pub mod checks;
pub mod control;
pub mod judge;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use blobfail_vocab::vars;
use futures::future::BoxFuture;
use futures::FutureExt;
use serde_json::{json, Map};

use super::{Ctx, Scenario};
use crate::backend::{self, Backend};
use crate::cluster::NodeSetup;
use crate::fault::FaultPlan;
use crate::journal::{Phases, PlannedCheck};
use crate::model::Report;
use crate::events::Change;
use crate::nemesis::Nemesis;
use crate::scenario::blob_save::{observe, ID_SPACE, TABLE};
use crate::topology::{NodeId, Topology};
use crate::workload;
use checks::HealWatch;
use control::ShimControl;

const CHECKS: &[PlannedCheck] = &[
    PlannedCheck { name: "serving-after-heal", needs: &["a", "b"] },
    PlannedCheck { name: "healed", needs: &["a", "b"] },
];

pub const SCENARIO: Scenario = Scenario {
    name: "fault-heal",
    about: "Node B's blob faults are armed at run time for a window of A's load, then healed while B keeps running.",
    checks: |_| CHECKS,
    phases: &[("workload", "workload"), ("settle", "settle"), ("checks", "checks"), ("teardown", "teardown")],
    options: &["arm_after", "armed_for", "heal_bound", "window_max", "heal_late", "nodes", "interval", "requests", "concurrency", "settle"],
    local_only: &["arm_after", "armed_for", "heal_bound", "window_max", "heal_late", "nodes", "interval"],
    cannot_attach: Some("it arms and heals the shim in node B at run time: it needs a cluster it starts itself"),
    variants: None,
    validate: super::nothing_to_validate,
    why_local: super::never_attached,
    run: run_boxed,
    judge: Some(judge::JUDGE),
};

/// Seconds between 0 and 600.
fn parse_secs(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(x) if x.is_finite() && x > 0.0 && x <= 600.0 => Ok(x),
        _ => Err(format!("{s:?} is not a number of seconds between 0 and 600, e.g. 1.5")),
    }
}

/// fault-heal's options.
#[derive(clap::Args, Debug, Clone)]
#[command(next_help_heading = "fault-heal")]
// Its own group id: clap names a group after its struct, and every
// scenario's struct is called Args.
#[group(id = "fault-heal options")]
pub struct Args {
    /// fault-heal: arm B's blob faults after this many of A's requests.
    #[arg(long, default_value_t = 100, value_name = "N")]
    pub arm_after: u64,
    /// fault-heal: how long B's faults stay armed while the load goes on, before they are healed.
    #[arg(long, default_value_t = 1.0, value_name = "SECS", value_parser = parse_secs)]
    pub armed_for: f64,
    /// fault-heal: how long after the heal each record damaged in the window gets to read back whole.
    #[arg(long, default_value_t = 20.0, value_name = "SECS", value_parser = parse_secs)]
    pub heal_bound: f64,
    /// fault-heal: at most N faults in the window (0: a control window that injects nothing).
    #[arg(long, value_name = "N")]
    pub window_max: Option<u64>,
    /// fault-heal: the heal comes late: only once the rest of the load has replicated to B, so the
    /// records written after the heal was due meet the faults (serving-after-heal judges them).
    #[arg(long)]
    pub heal_late: bool,
}

/// Requests kept for after the heal: a quarter of the load, at least one.
fn kept_for_after(requests: usize) -> usize {
    (requests / 4).max(1)
}

/// The records first written by each part of the load (an id drawn again
/// later was written at its first draw).
fn first_written(parts: &[&[u64]]) -> Vec<BTreeSet<String>> {
    let mut seen = BTreeSet::new();
    parts.iter().map(|p| p.iter().filter(|id| seen.insert(**id)).map(u64::to_string).collect()).collect()
}

fn run_boxed<'a>(ctx: &'a Ctx<'a>) -> BoxFuture<'a, Result<Report>> {
    run(ctx).boxed()
}

async fn run(ctx: &Ctx<'_>) -> Result<Report> {
    let opts = &ctx.args.fault_heal;
    let blob = &ctx.args.blob_save;
    let label = ctx.label(SCENARIO.name);
    let mut phases = Phases::begin(ctx.events, &label, ctx.out, CHECKS);
    let local = match ctx.backend {
        backend::Choice::Local(l) => l,
        backend::Choice::Attached(_) => anyhow::bail!("fault-heal needs a local cluster"),
    };
    let shim = crate::fault::find_shim(local.shim.as_deref())?;
    let log = ctx.out.join("faults.jsonl");
    let nemesis = ShimControl {
        file: ctx.out.join("control-b"),
        set: opts.window_max.map(|m| vec![format!("MAX={m}")]).unwrap_or_default(),
    };
    nemesis.init_healed()?;
    let mut env = FaultPlan::blob_writes(shim, blob.interval, log.clone()).env();
    env.push((vars::CONTROL.into(), nemesis.file.display().to_string()));
    // B faulted; with --nodes 3 a third node, C, joins A and stays healthy.
    let topology = Topology::star(blob.nodes as usize, &[NodeId::nth(1)]).map_err(anyhow::Error::msg)?;
    let setups: Vec<NodeSetup> = topology
        .nodes
        .iter()
        .map(|n| if n.as_str() == "b" { NodeSetup { env: env.clone(), ..NodeSetup::plain("b") } } else { NodeSetup::plain(n.clone()) })
        .collect();
    let mut backend = Backend::local(local, &topology, &setups, ctx.out, &mut phases, ctx.events).await?;
    if topology != Topology::pair() {
        eprintln!("blobfail: topology: {}; the faults are armed and healed on node B only", topology.describe());
    }
    let (a, b) = (backend.api("a"), backend.api("b"));
    let conc = blob.concurrency as usize;
    let mut figures = Map::new();
    let history = ctx.events.history();

    // The load: before the arm, while armed (chunk by chunk until
    // --armed-for, keeping a quarter for after), after the heal.
    let ids = workload::draw_ids(ctx.seed, blob.requests, ID_SPACE);
    let t = Instant::now();
    let arm_at = (opts.arm_after as usize).min(ids.len().saturating_sub(kept_for_after(ids.len()) + 1));
    let last_window = ids.len() - kept_for_after(ids.len());
    let before = backend.supervise(workload::run_gets(&a, TABLE, &ids[..arm_at], conc, ctx.events)).await?;
    let cluster = backend.cluster().context("a local cluster")?;
    let done = nemesis.start(cluster, "b").await?;
    ctx.events.nemesis(nemesis.name(), "b", Change::Started, done, None);
    let armed = Instant::now();
    let armed_for = Duration::from_secs_f64(opts.armed_for);
    let mut end = arm_at;
    let mut window_ok = 0;
    while end < last_window && armed.elapsed() < armed_for {
        let next = (end + conc).min(last_window);
        window_ok += backend.supervise(workload::run_gets(&a, TABLE, &ids[end..next], conc, ctx.events)).await?.ok;
        end = next;
    }
    if let Some(rest) = armed_for.checked_sub(armed.elapsed()) {
        backend.supervise(tokio::time::sleep(rest)).await?;
    }
    let count_faults = || crate::exec::table::read(&log).iter().filter(|l| l["call"].is_string() && l["control"] != true).count() as u64;
    if !opts.heal_late {
        let cluster = backend.cluster().context("a local cluster")?;
        let done = nemesis.stop(cluster, "b").await?;
        ctx.events.nemesis(nemesis.name(), "b", Change::Stopped, done, None);
    }
    let mut healed_at = Instant::now();
    let armed_s = armed.elapsed().as_secs_f64();
    let faults_in_window = count_faults();
    let after = backend.supervise(workload::run_gets(&a, TABLE, &ids[end..], conc, ctx.events)).await?;
    phases.record("workload", t.elapsed());
    let sets = first_written(&[&ids[..arm_at], &ids[arm_at..end], &ids[end..]]);
    // Anything written before the heal may have reached B in the window
    // (B was healed before the arm): all of it is looked at for damage.
    let (window, post): (BTreeSet<String>, BTreeSet<String>) = (sets[0].union(&sets[1]).cloned().collect(), sets[2].clone());
    eprintln!(
        "blobfail: load: {arm_at} requests before the arm, {} while armed ({armed_s:.1} s, {faults_in_window} faults), {} after the heal; records first written: {} before, {} in the window, {} after",
        end - arm_at,
        ids.len() - end,
        sets[0].len(),
        sets[1].len(),
        post.len()
    );

    let settle = Duration::from_secs_f64(blob.settle);
    let settled = phases.time("settle", backend.supervise(workload::settle(&a, &b, TABLE, settle, settle + Duration::from_secs(60), ctx.events))).await?;
    // --heal-late: the heal comes now, the rest of the load replicated under the faults.
    let mut late_faults = 0;
    if opts.heal_late {
        let cluster = backend.cluster().context("a local cluster")?;
        let done = nemesis.stop(cluster, "b").await?;
        ctx.events.nemesis(nemesis.name(), "b", Change::Stopped, done, None);
        eprintln!(
            "blobfail: healed late, {:.1} s after the heal was due, once the rest of the load had replicated: {} more faults",
            healed_at.elapsed().as_secs_f64(),
            count_faults() - faults_in_window
        );
        healed_at = Instant::now();
        late_faults = count_faults() - faults_in_window;
    }

    // The looks: the window's records and those after the heal, read on
    // both nodes (blob-save's survey), again until the window's damaged
    // records are whole or the bound after the heal has passed.
    let step = ctx.events.step("looking at node B's records after the heal");
    let t = Instant::now();
    let bound = Duration::from_secs_f64(opts.heal_bound);
    let mut watch = HealWatch { bound_s: opts.heal_bound, window_records: window.len(), faults_in_window: faults_in_window + late_faults, ..Default::default() };
    let serving = backend.supervise(observe::survey_loss(&a, &b, |id| post.contains(id))).await?;
    let mut look_error = serving.as_ref().err().map(|e| format!("{e:#}"));
    let mut first = true;
    while look_error.is_none() {
        let survey = backend.supervise(observe::survey_loss(&a, &b, |id| window.contains(id))).await?;
        let at = healed_at.elapsed().as_secs_f64();
        let s = match survey {
            Ok(s) => s,
            Err(e) => {
                look_error = Some(format!("{e:#}"));
                break;
            }
        };
        let damaged = checks::damaged_ids(&s);
        if first {
            first = false;
            watch.damaged_at_first = damaged.clone();
            watch.judged_at_first = s.compared;
            watch.unjudged_at_first = s.unreadable_on_a.len();
        }
        for id in watch.damaged_at_first.keys() {
            if !damaged.contains_key(id) && !watch.healed_at.contains_key(id) {
                watch.healed_at.insert(id.clone(), (at * 10.0).round() / 10.0);
            }
        }
        let still = watch.still_damaged().len();
        watch.looks.push(((at * 10.0).round() / 10.0, still));
        if still == 0 || healed_at.elapsed() >= bound {
            break;
        }
        backend.supervise(tokio::time::sleep(Duration::from_millis(500))).await?;
    }
    // What the healthy peers kept (--nodes 3): every record of A, whole.
    figures.extend(observe::unfaulted_peers(&mut backend, &a, &topology).await?);
    phases.record("checks", t.elapsed());
    step.finish(&format!("{} looks", watch.looks.len()));
    let t = Instant::now();
    backend.teardown(false, ctx.events).await;
    phases.record("teardown", t.elapsed());

    figures.insert("seed".into(), json!(ctx.seed));
    figures.insert("interval".into(), json!(blob.interval));
    figures.insert("window_max".into(), json!(opts.window_max));
    figures.insert("requests_before_arm".into(), json!(arm_at));
    figures.insert("requests_in_window".into(), json!(end - arm_at));
    figures.insert("requests_after_heal".into(), json!(ids.len() - end));
    figures.insert("requests_ok".into(), json!(before.ok + window_ok + after.ok));
    figures.insert("armed_seconds".into(), json!(armed_s));
    figures.insert("faults_in_window".into(), json!(faults_in_window));
    figures.insert("heal_late".into(), json!(opts.heal_late));
    figures.insert("faults_after_heal_was_due".into(), json!(late_faults));
    figures.insert("nodes".into(), json!(topology.nodes.len()));
    figures.insert("records_written_before_arm".into(), json!(sets[0].len()));
    figures.insert("records_written_in_window".into(), json!(sets[1].len()));
    figures.insert("records_written_after_heal".into(), json!(post.len()));
    figures.insert("records_a".into(), json!(settled.records_a));
    figures.insert("records_b".into(), json!(settled.records_b));
    figures.insert("heal_bound_seconds".into(), json!(opts.heal_bound));
    figures.insert("history".into(), json!(history.lock().events()));
    phases.into_figures(&mut figures);
    let mut files = Map::new();
    files.insert("run_dir".into(), json!(ctx.out));
    files.insert("report".into(), json!(ctx.out.join("report.json")));
    files.insert("fault_log".into(), json!(log));
    // Saved in observations.json and judged from there (fault_heal/judge.rs).
    let observed =
        judge::Observed { heal_late: opts.heal_late, serving: serving.map_err(|e| format!("{e:#}")), watch, look_error };
    super::finish_observed(ctx, &SCENARIO, &label, &mut backend, false, serde_json::to_value(&observed)?, figures, files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_belong_to_the_part_that_first_wrote_them() {
        let ids = [1u64, 2, 3, 2, 4, 1, 5];
        let sets = first_written(&[&ids[..2], &ids[2..5], &ids[5..]]);
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<BTreeSet<String>>();
        assert_eq!(sets, vec![s(&["1", "2"]), s(&["3", "4"]), s(&["5"])]);
        assert_eq!(kept_for_after(400), 100);
        assert_eq!(kept_for_after(2), 1);
        assert!(parse_secs("0").is_err() && parse_secs("nan").is_err());
        assert_eq!(parse_secs("1.5"), Ok(1.5));
    }
}
