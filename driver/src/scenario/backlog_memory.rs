//! `backlog-memory`: node B is stopped while A commits a large backlog (many
//! transactions of many records, each replicating as one message), then
//! restarted. Does B catch up without a worker running out of memory, and
//! how much memory does it take?

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Result;
use serde_json::{json, Map, Value};
use tokio::sync::watch;

use super::{Common, Phases};
use crate::journal::PlannedCheck;
use crate::checks;
use crate::cluster::{self, Cluster};
use crate::fault::{self, FaultPlan};
use crate::monitor::{self, Sample};
use crate::report::{Progress, Report};
use crate::workload;

pub const TABLE: &str = "Load";
/// Like Harper's own test: SIGTERM, then SIGKILL 200 ms later.
const STOP_GRACE: Duration = Duration::from_millis(200);

#[derive(Debug, Clone)]
pub struct Options {
    pub transactions: u64,
    pub records: u64,
    pub payload_bytes: usize,
    pub catch_up_timeout: Duration,
    pub rss_limit: u64,
    /// How long to keep sampling B after it caught up (to see memory settle).
    pub after_catch_up: Duration,
    /// Put the blob-write shim on B too (with this interval).
    pub shim_interval: Option<u64>,
}

/// The checks, and the nodes each cannot be decided without.
pub const CHECKS: &[PlannedCheck] = &[
    PlannedCheck { name: "caught-up", needs: &["a", "b"] },
    PlannedCheck { name: "no-worker-oom", needs: &["b"] },
    PlannedCheck { name: "peak-rss-below-limit", needs: &["b"] },
];

pub async fn run(common: &Common, opts: &Options, out: &Path, progress: &Progress) -> Result<Report> {
    let mut phases = Phases::begin(progress, "backlog-memory", out, CHECKS);
    let shim = match opts.shim_interval {
        Some(_) => Some(fault::find_shim(common.shim.as_deref())?),
        None => None,
    };
    let harper = phases
        .time("install", cluster::resolve_harper(common.harper.as_deref(), &common.harper_version, progress))
        .await?;
    let mut cluster =
        phases.time("provision", Cluster::provision(harper, out, &["a", "b"], &common.cluster, progress)).await?;
    let fault_log = out.join("faults.jsonl");
    if let (Some(shim), Some(interval)) = (shim, opts.shim_interval) {
        let plan = FaultPlan::blob_writes(shim, interval, fault_log.clone());
        cluster.node_mut("b").spec.env = plan.env();
    }
    phases.time("start", cluster.start(&["a", "b"], progress)).await?;
    phases.time("join", cluster.join("b", "a", progress)).await?;
    super::test_panic_hook("join");
    let a = cluster.node("a").api.clone();
    let b = cluster.node("b").api.clone();

    let step = progress.step("stopping node B");
    phases.enter("stop_b");
    cluster.check_alive()?;
    let stop = cluster.node_mut("b").stop(STOP_GRACE).expect("node b was running");
    phases.record("stop_b", Duration::from_secs_f64(stop.seconds));
    step.finish(&format!("{} after {} ({:.1} s)", stop.exit, stop.signal, stop.seconds));
    cluster.stops.push(stop);

    let commits = workload::commit_batches(&a, TABLE, opts.transactions, opts.records, opts.payload_bytes, progress);
    match phases.time("backlog", cluster.supervise(commits)).await? {
        Ok(_) => {}
        // Say so if A died under the commits, rather than only that it stopped answering.
        Err(e) => return Err(cluster.node_mut("a").end().map_or(e, |end| end.into_error())),
    }
    let records_a = a.record_count(TABLE).await?;

    // From the moment B is launched: sample its memory, and poll its count.
    let step = progress.step(&format!("restarting node B and waiting for it to catch up to {records_a} records"));
    let launched = Instant::now();
    phases.enter("restart");
    cluster.restart("b")?;
    // B leads its own process group (pgid = pid): the kernel's figures of
    // that group answer during the replay, when B's API does not.
    let b_pid = cluster.node("b").pid;
    let (stop_tx, stop_rx) = watch::channel(false);
    let sampler = tokio::spawn(monitor::sample_until(b.clone(), b_pid, launched, stop_rx));
    let mut last_b = None;
    let mut catch_up = None;
    let mut death = None;
    // restart: from launch to B's first answer; catching_up: from there to
    // the count matching A's.
    let mut answered: Option<Instant> = None;
    while launched.elapsed() < opts.catch_up_timeout {
        // A stop from outside (of A or B) ends the run as interrupted; a
        // crash of B is this scenario's finding.
        if let Err(e) = cluster.check_outside() {
            let _ = stop_tx.send(true);
            return Err(e);
        }
        if let Some(d) = cluster.node_mut("b").death() {
            death = Some(d);
            break;
        }
        if let Ok(n) = b.record_count(TABLE).await {
            if answered.is_none() {
                answered = Some(Instant::now());
                phases.record("restart", launched.elapsed());
                phases.enter("catching_up");
            }
            last_b = Some(n);
            step.set_message(&format!("{n} / {records_a} after {:.0} s", launched.elapsed().as_secs_f64()));
            if n >= records_a {
                catch_up = Some(launched.elapsed().as_secs_f64());
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    match answered {
        Some(t) => phases.record("catching_up", t.elapsed()),
        None => phases.record("restart", launched.elapsed()),
    }
    if catch_up.is_some() {
        // A fixed observation window, not a wait for a condition: the plot
        // shows whether B's memory comes back down after the catch-up.
        step.set_message("caught up; sampling a little longer");
        let window = tokio::time::sleep(opts.after_catch_up);
        if let Err(e) = phases.time("after_catch_up", cluster.supervise(window)).await {
            let _ = stop_tx.send(true);
            return Err(e);
        }
    }
    let _ = stop_tx.send(true);
    let samples: Vec<Sample> = sampler.await.unwrap_or_default();
    // VmHWM covers the moments between samples too; it goes with the
    // process, so read it before B is stopped.
    let last_os = b_pid.and_then(monitor::read_group_memory);
    step.finish(&match catch_up {
        Some(s) => format!("caught up in {s:.1} s"),
        None => "did not catch up".to_string(),
    });

    let teardown_start = Instant::now();
    phases.enter("teardown");
    if !common.keep {
        cluster.teardown();
    }
    phases.record("teardown", teardown_start.elapsed());
    cluster.check_outside()?;
    let checks_start = Instant::now();
    phases.enter("checks");

    let b_spec = cluster.node("b").spec.clone();
    let log_text = std::fs::read_to_string(&b_spec.hdb_log).unwrap_or_default();
    let stdout_text = std::fs::read_to_string(&b_spec.stdout).unwrap_or_default();
    let stderr_text = std::fs::read_to_string(&b_spec.stderr).unwrap_or_default();
    let ok_samples: Vec<&Sample> = samples.iter().filter(|s| s.ok()).collect();
    let peak = ok_samples.iter().filter_map(|s| Some((s.rss?, s.t))).max_by_key(|(r, _)| *r);
    let os_peak = monitor::os_peak(&samples, last_os.as_ref()).ok_or_else(|| match b_pid {
        Some(pid) => format!("/proc/{pid} was not readable (B gone, or /proc not ours)"),
        None => "B is not a process of this run".to_string(),
    });
    let peaks = checks::MemoryPeaks {
        api: peak,
        os: os_peak.clone(),
        // The replay ends at B's first answer to either the sampler or the
        // count polls, whichever came first.
        first_answer: ok_samples
            .first()
            .map(|s| s.t)
            .into_iter()
            .chain(answered.map(|a| a.duration_since(launched).as_secs_f64()))
            .reduce(f64::min),
        samples_ok: ok_samples.len(),
        samples: samples.len(),
    };
    let checks = vec![
        checks::caught_up(records_a, last_b, catch_up, opts.catch_up_timeout.as_secs_f64(), death.as_deref()),
        checks::no_worker_oom(&[
            (b_spec.hdb_log.as_path(), log_text.as_str()),
            (b_spec.stdout.as_path(), stdout_text.as_str()),
            (b_spec.stderr.as_path(), stderr_text.as_str()),
        ]),
        checks::peak_rss_below_limit(&peaks, opts.rss_limit),
    ];

    let csv = out.join("memory.csv");
    let svg = out.join("memory.svg");
    monitor::write_csv(&csv, &samples)?;
    monitor::write_svg(
        &svg,
        &format!(
            "node B catching up on {} × {} records (harper {})",
            opts.transactions, opts.records, cluster.harper.version
        ),
        &samples,
        opts.rss_limit,
        catch_up,
    )?;

    let mut figures = Map::new();
    let mut put = |k: &str, v: Value| {
        figures.insert(k.to_string(), v);
    };
    put("transactions", json!(opts.transactions));
    put("records_per_transaction", json!(opts.records));
    put("payload_bytes", json!(opts.payload_bytes));
    put("records_a", json!(records_a));
    put("records_b", json!(last_b));
    put("catch_up_seconds", json!(catch_up));
    put("peak_rss_bytes", json!(peak.map(|p| p.0)));
    put("peak_rss_at_seconds", json!(peak.map(|p| p.1)));
    // The kernel's peak: max of the sampled VmRSS and the final VmHWM.
    put("peak_os_rss_bytes", json!(os_peak.as_ref().ok().map(|p| p.bytes)));
    put("samples_kernel_only", json!(samples.iter().filter(|s| !s.ok() && s.os_rss.is_some_and(|r| r > 0)).count()));
    put("peak_heap_used_bytes", json!(ok_samples.iter().filter_map(|s| s.heap_used).max()));
    put("rss_limit_bytes", json!(opts.rss_limit));
    put("samples", json!(samples.len()));
    put("samples_failed", json!(samples.len() - ok_samples.len()));
    if opts.shim_interval.is_some() {
        put("faults_injected", json!(fault::read_fault_log(&fault_log)?.len()));
    }
    phases.record("checks", checks_start.elapsed());
    phases.into_figures(&mut figures);

    let mut files = Map::new();
    files.insert("run_dir".into(), json!(out));
    files.insert("memory_csv".into(), json!(csv));
    files.insert("memory_svg".into(), json!(svg));
    files.insert("report".into(), json!(out.join("report.json")));
    Ok(super::finish("backlog-memory", checks, figures, files, &mut cluster, common.keep, progress))
}
