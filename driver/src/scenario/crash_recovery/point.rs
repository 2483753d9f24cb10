//! One crash point of crash-recovery, on a cluster of its own: A and B
//! started and joined; B stopped and restarted with the shim armed (its
//! crash at the Nth write under B's root, and the durability journal of
//! every file there, blob files and LMDB's `data.mdb`/`system.mdb` alike);
//! A's load; B dead of the crash (or killed once the load is done, when it
//! made fewer writes); B's files rolled back by the power cut; B restarted
//! plain; its catch-up, its records and its log observed (and judged
//! from those observations alone, in `judge.rs`).

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use blobfail_vocab::{vars, Family};
use serde_json::{json, Map, Value};

use super::judge::{Point, RestartFaults};
use super::PowerLoss;
use crate::backend::{Backend, LocalOptions};
use crate::cluster::NodeSetup;
use crate::exec::{power_loss, table};
use crate::fault::{self, Effect, Fault, FaultPlan, Trigger};
use crate::journal::Phases;
use crate::model::Check;
use crate::nemesis::ANSWER_BOUND;
use crate::scenario::blob_save::{observe, ID_SPACE, TABLE};
use crate::scenario::Ctx;
use crate::topology::{NodeId, Topology};
use crate::workload;

/// What one crash point decided, and the figures it rests on.
pub struct PointResult {
    pub crash_at: u64,
    /// Where the crash came: `pwrite64 …/data.mdb`, or why there was none.
    pub crashed_at: String,
    /// restarted, caught-up, nothing-lost, no-uncaught-exception, damaged-reads-contained.
    pub checks: Vec<Check>,
    pub figures: Map<String, Value>,
}

/// How long B gets, once A's load is done and B's count matched A's (or
/// stopped changing), to reach its crash point.
const CRASH_WAIT: Duration = Duration::from_secs(5);

/// How long B's count must stay unchanged, after the load, before B is
/// taken to have received all it will, and the bound on that wait.
const CAUGHT_UP_QUIET: Duration = Duration::from_secs(2);
const CAUGHT_UP_BOUND: Duration = Duration::from_secs(60);

/// The shim on B: SIGKILL of B's group after its `n`th write under `root`,
/// every change there journaled.
fn armed_env(shim: &Path, root: &Path, n: u64, log: &Path, journal: &Path) -> Result<Vec<(String, String)>> {
    let mut needle = root.display().to_string();
    needle.push('/');
    let crash = Trigger::EveryNth { every: n, skip: 0, max: Some(1) };
    let fault = Fault::new(vec![Family::Write], needle, crash, Effect::Crash { after: true, group: true })
        .map_err(|e| anyhow::anyhow!("crash point {n}: {e}"))?;
    let mut env = fault::arm(shim, &fault, log);
    env.push((vars::JOURNAL.to_string(), journal.display().to_string()));
    Ok(env)
}

pub async fn run(
    ctx: &Ctx<'_>,
    local: &LocalOptions,
    out: &Path,
    n: u64,
    loss: PowerLoss,
    phases: &mut Phases,
) -> Result<(Point, Backend)> {
    let blob = &ctx.args.blob_save;
    // B faulted; with --nodes 3 a third node, C, joins A and stays healthy.
    let topology = Topology::star(blob.nodes as usize, &[NodeId::nth(1)]).map_err(anyhow::Error::msg)?;
    let shim = crate::fault::find_shim(local.shim.as_deref())?;
    let setups: Vec<NodeSetup> = topology.nodes.iter().map(|n| NodeSetup::plain(n.clone())).collect();
    let mut backend = Backend::local(local, &topology, &setups, out, phases, ctx.events).await?;
    if topology != Topology::pair() {
        eprintln!("blobfail: topology: {}; node B crashes, the others stay up", topology.describe());
    }
    let (a, b) = (backend.api("a"), backend.api("b"));
    let root = backend.files_of("b").context("node b's files")?.root;
    let root = root.canonicalize().unwrap_or(root);
    let (log, journal) = (out.join("faults.jsonl"), out.join("journal-b.jsonl"));
    let mut figures = Map::new();

    // B stopped cleanly and started again armed: its install is not counted.
    let step = ctx.events.step(&format!("arming node B: crash after its write {n} under its root, every change journaled"));
    let t = Instant::now();
    let cluster = backend.cluster().context("a local cluster")?;
    cluster.stop_node("b", crate::cluster::STOP_GRACE).await;
    cluster.restart_with("b", &armed_env(&shim, &root, n, &log, &journal)?)?;
    cluster.wait_answering("b", ANSWER_BOUND).await?;
    phases.record("arm", t.elapsed());
    step.finish(&format!("answering in {:.1} s", t.elapsed().as_secs_f64()));

    // A's load, not supervised: B's crash is the shim's SIGKILL, which the
    // supervisor would take for a stop from outside.
    let ids: Vec<u64> = workload::draw_ids(ctx.seed, blob.requests, ID_SPACE);
    let t = Instant::now();
    let load = workload::run_gets(&a, TABLE, &ids, blob.concurrency as usize, ctx.events).await;
    let mut crashed = backend.end("b");
    // B takes in what A committed before a crash that comes late (a loaded
    // machine lags B by seconds: a fixed wait once let a record reach B
    // only after its restart, whole, in a run that meant to crash after
    // the load). A crash meanwhile ends the wait: B's count stops.
    if crashed.is_none() {
        workload::settle(&a, &b, TABLE, CAUGHT_UP_QUIET, CAUGHT_UP_BOUND, ctx.events).await;
        crashed = backend.end("b");
    }
    let waited = Instant::now();
    while crashed.is_none() && waited.elapsed() < CRASH_WAIT {
        tokio::time::sleep(Duration::from_millis(100)).await;
        crashed = backend.end("b");
    }
    phases.record("workload", t.elapsed());
    if let Some(end) = backend.end("a") {
        return Err(end.into());
    }
    let crash_line = table::read(&log).into_iter().find(|l| l["effect"] == "crash-after");
    let crashed_at = match (&crash_line, &crashed) {
        (Some(l), Some(_)) => format!("{} {}", l["function"].as_str().unwrap_or("?"), l["path"].as_str().unwrap_or("?")),
        _ => {
            // Fewer writes than n: the crash comes now, from the driver.
            let cluster = backend.cluster().context("a local cluster")?;
            let rec = cluster.kill("b").await;
            format!("no write {n} (B made fewer): SIGKILL after the load{}", rec.map(|r| format!(" ({})", r.exit)).unwrap_or_default())
        }
    };
    eprintln!("blobfail: node B crashed at write {n}: {crashed_at}");
    figures.insert("crash_at".into(), json!(n));
    figures.insert("crashed_at".into(), json!(crashed_at));
    figures.insert("requests_ok".into(), json!(load.ok));

    // The power cut.
    let t = Instant::now();
    let outcome = match loss.how(ctx.seed) {
        Some(how) if journal.exists() => {
            let o = power_loss::apply(&journal, how)?;
            eprint!("blobfail: node B {}", power_loss::describe(&o, how).lines().next().unwrap_or_default());
            eprintln!();
            Some(o)
        }
        Some(_) => anyhow::bail!("node B's journal {} was never written: the shim did not load in B", journal.display()),
        None => None,
    };
    phases.record("power-loss", t.elapsed());
    let undone = outcome.as_ref().map_or(0, |o| o.undone);
    let touched: Vec<&String> = outcome.as_ref().map(|o| o.changes.keys().collect()).unwrap_or_default();
    figures.insert("power_loss_undone".into(), json!(undone));
    figures.insert("power_loss_files".into(), json!(touched.len()));
    // Blob files, not the folders made for them (their note names the parent).
    let blob_files = outcome.as_ref().map_or(0, |o| {
        o.changes.iter().filter(|(p, w)| p.contains("/blobs/") && !w.iter().all(|w| w.contains("its parent"))).count()
    });
    figures.insert("power_loss_blob_files".into(), json!(blob_files));
    figures.insert("power_loss_lmdb_files".into(), json!(touched.iter().filter(|p| p.ends_with(".mdb")).count()));

    // B restarted plain, on the same root and address.
    let t = Instant::now();
    let cluster = backend.cluster().context("a local cluster")?;
    let restart_bound = ctx.args.crash_recovery.restart_bound;
    // --restart-fault-opens: the shim on the restarted B, failing every Nth
    // write-open of its blob files (or of its LMDB files).
    let restart_log = out.join("faults-restart.jsonl");
    let restart_plan = ctx.args.crash_recovery.restart_fault_opens.map(|every| {
        let files = ctx.args.crash_recovery.restart_fault_files;
        // blob-save's open-enoent, its path needle moved to the files chosen.
        let needle = format!("{}/{}/", root.display(), files.dir());
        let env: Vec<(String, String)> = FaultPlan::blob_writes(shim.clone(), every, restart_log.clone())
            .env()
            .into_iter()
            .map(|(k, v)| if k == vars::PATH { (k, needle.clone()) } else { (k, v) })
            .collect();
        eprintln!("blobfail: node B restarts with one write-open in {every} under {}/ failing (ENOENT)", files.dir());
        (env, files, every)
    });
    let started = match &restart_plan {
        Some((env, _, _)) => cluster.restart_with("b", env),
        None => cluster.restart("b"),
    };
    let back: Result<String, String> = match started {
        Err(e) => Err(format!("{e:#}")),
        Ok(()) => match cluster.wait_answering("b", ANSWER_BOUND.max(Duration::from_secs_f64(restart_bound))).await {
            Ok(secs) => Ok(format!("restarted on the same root and address, answering in {secs:.1} s")),
            Err(e) => Err(format!("{e:#}")),
        },
    };
    let restart_s = t.elapsed().as_secs_f64();
    phases.record("restart", t.elapsed());
    figures.insert("restart_bound_seconds".into(), json!(restart_bound));

    let settle = Duration::from_secs_f64(blob.settle);
    let settled = match &back {
        Ok(_) => Some(phases.time("settle", backend.supervise(workload::settle(&a, &b, TABLE, settle, settle + Duration::from_secs(60), ctx.events))).await?),
        Err(_) => None,
    };
    let death = backend.death("b");

    let step = ctx.events.step("checking node B");
    let t = Instant::now();
    let reader = backend.log_reader("b");
    let observing = async {
        let log = reader.read(Duration::from_secs(1)).await;
        let survey = observe::survey_loss(&a, &b, |id| id.parse::<u64>().is_ok_and(|x| x < ID_SPACE)).await;
        let after = match &survey {
            Ok(s) if !s.damaged().is_empty() => Some(reader.read(Duration::from_millis(300)).await),
            _ => None,
        };
        (log, survey, after)
    };
    let (log, survey, after) = match (&back, &death) {
        (Ok(_), None) => {
            let (l, s, a) = backend.supervise(observing).await?;
            (Some(l), Some(s), a)
        }
        _ => (None, None, None),
    };
    // What the restart's faults hit, once B was observed.
    let restart_faults = restart_plan.map(|(_, files, every)| {
        let records = crate::fault::read_fault_log(&restart_log).unwrap_or_default();
        RestartFaults { files, every, faults: records.len(), paths: records.iter().map(|r| r.path.clone()).collect() }
    });
    if let Some(r) = &restart_faults {
        figures.insert("restart_faults".into(), json!(r.faults));
        figures.insert("restart_fault_opens".into(), json!(r.every));
        figures.insert("restart_fault_files".into(), json!(r.files.dir()));
    }
    // What the healthy peers kept (--nodes 3): every record of A, whole.
    figures.extend(observe::unfaulted_peers(&mut backend, &a, &topology).await?);
    figures.insert("nodes".into(), json!(topology.nodes.len()));
    phases.record("checks", t.elapsed());
    step.finish("observed");
    let t = Instant::now();
    backend.teardown(false, ctx.events).await;
    phases.record("teardown", t.elapsed());

    let observed = Point {
        crash_at: n,
        crashed_at,
        figures,
        cut_blob_paths: touched.iter().filter(|p| p.contains("/blobs/")).map(|p| p.to_string()).collect(),
        back,
        restart_seconds: restart_s,
        settled,
        death,
        log,
        log_after: after,
        survey: survey.map(|s| s.map_err(|e| format!("{e:#}"))),
        restart_faults,
    };
    Ok((observed, backend))
}
