//! `backlog-memory`: node B is stopped while A commits a large backlog (many
//! transactions of many records, each replicating as one message), then
//! restarted. Does B catch up without a worker running out of memory, and
//! how much memory does it take? It stops and restarts B, so it runs on a
//! local cluster only.

pub mod checks;

use std::time::{Duration, Instant};

use anyhow::{anyhow, Result};
use futures::future::BoxFuture;
use futures::FutureExt;
use serde_json::{json, Map, Value};
use tokio::sync::watch;

use super::{Ctx, Scenario};
use crate::backend::{self, Backend};
use crate::cluster::NodeSetup;
use crate::fault::{self, FaultPlan};
use crate::journal::{Phases, PlannedCheck};
use crate::model::Report;
use crate::monitor::{self, Sample};
use crate::workload;

pub const TABLE: &str = "Load";
/// Like Harper's own test: SIGTERM, then SIGKILL 200 ms later.
const STOP_GRACE: Duration = Duration::from_millis(200);

pub const SCENARIO: Scenario = Scenario {
    name: "backlog-memory",
    about: "Node B catches up on a large replication backlog; its memory is sampled.",
    checks: &[
        PlannedCheck { name: "caught-up", needs: &["a", "b"] },
        PlannedCheck { name: "no-worker-oom", needs: &["b"] },
        PlannedCheck { name: "peak-rss-below-limit", needs: &["b"] },
    ],
    phases: &[
        ("stop_b", "stop B"),
        ("backlog", "backlog commit"),
        ("restart", "restart"),
        ("catching_up", "catch-up"),
        ("after_catch_up", "after catch-up"),
        ("checks", "checks"),
        ("teardown", "teardown"),
    ],
    options: &["transactions", "records", "payload_bytes", "catch_up_timeout", "rss_limit", "after_catch_up", "shim_on_b", "interval"],
    local_only: &[],
    cannot_attach: Some("it stops and restarts node B, which needs nodes this run started"),
    variants: None,
    run: run_boxed,
};

/// backlog-memory's options.
#[derive(clap::Args, Debug, Clone)]
#[command(next_help_heading = "backlog-memory")]
pub struct Args {
    /// backlog-memory: transactions committed on A while B is down.
    #[arg(long, default_value_t = 40, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub transactions: u64,
    /// backlog-memory: records per transaction (one upsert operation each).
    #[arg(long, default_value_t = 500, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub records: u64,
    /// backlog-memory: bytes of each record's payload string.
    #[arg(long, default_value_t = 1024, value_name = "N")]
    pub payload_bytes: usize,
    /// backlog-memory: seconds B gets to catch up after its restart.
    #[arg(long, default_value_t = 180.0, value_name = "SECS")]
    pub catch_up_timeout: f64,
    /// backlog-memory: B's RSS must stay below this (bytes, or with KiB/MiB/GiB).
    #[arg(long, default_value = "1.5GiB", value_name = "SIZE", value_parser = parse_size)]
    pub rss_limit: u64,
    /// backlog-memory: seconds to keep sampling B's memory after it caught up.
    #[arg(long, default_value_t = 5.0, value_name = "SECS")]
    pub after_catch_up: f64,
    /// backlog-memory: also preload the blob-write shim on B (with --interval).
    #[arg(long)]
    pub shim_on_b: bool,
}

impl Args {
    /// Values clap cannot bound by itself.
    pub fn validate(&self) -> Result<(), String> {
        if !(self.after_catch_up.is_finite() && self.after_catch_up >= 0.0 && self.after_catch_up <= 600.0) {
            return Err(format!("--after-catch-up must be between 0 and 600 seconds, got {}", self.after_catch_up));
        }
        if !(self.catch_up_timeout.is_finite() && self.catch_up_timeout > 0.0 && self.catch_up_timeout <= 3600.0) {
            return Err(format!("--catch-up-timeout must be between 0 and 3600 seconds, got {}", self.catch_up_timeout));
        }
        Ok(())
    }
}

/// `1536MiB`, `1.5GiB`, `2000000` → bytes.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num.parse().map_err(|_| format!("{s:?} is not a size like 1.5GiB or 1610612736"))?;
    let mult: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "kib" => 1024.0,
        "m" | "mb" => 1e6,
        "mib" => 1024.0 * 1024.0,
        "g" | "gb" => 1e9,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        u => return Err(format!("unknown size unit {u:?} (use B, KiB, MiB, GiB, KB, MB, GB)")),
    };
    let bytes = n * mult;
    if !(1.0..1e15).contains(&bytes) {
        return Err(format!("{s:?} is not a plausible memory limit"));
    }
    Ok(bytes as u64)
}

fn run_boxed<'a>(ctx: &'a Ctx<'a>) -> BoxFuture<'a, Result<Report>> {
    run(ctx).boxed()
}

async fn run(ctx: &Ctx<'_>) -> Result<Report> {
    let opts = &ctx.args.backlog_memory;
    let out = ctx.out;
    let progress = ctx.progress;
    let backend::Choice::Local(local) = ctx.backend else {
        return Err(anyhow!("backlog-memory cannot run attached: {}", SCENARIO.cannot_attach.unwrap_or_default()));
    };
    let keep = local.keep;
    let shim_interval = opts.shim_on_b.then_some(ctx.args.blob_save.interval);
    let mut phases = Phases::begin(ctx.journal, SCENARIO.name, out, SCENARIO.checks);
    let fault_log = out.join("faults.jsonl");
    let mut b_setup = NodeSetup::plain("b");
    if let Some(interval) = shim_interval {
        let shim = fault::find_shim(local.shim.as_deref())?;
        b_setup.env = FaultPlan::blob_writes(shim, interval, fault_log.clone()).env();
    }
    let mut backend = Backend::local(local, &[NodeSetup::plain("a"), b_setup], out, &mut phases, progress, ctx.journal).await?;
    super::test_panic_hook("join");
    let harper_version = backend.cluster().map(|c| c.harper().version.clone()).unwrap_or_default();
    let cluster = backend.cluster().expect("a local backend has a cluster");
    let a = cluster.api("a");
    let b = cluster.api("b");

    let step = progress.step("stopping node B");
    phases.enter("stop_b");
    cluster.check_alive()?;
    let stop = cluster.stop_node("b", STOP_GRACE).await.expect("node b was running");
    phases.record("stop_b", Duration::from_secs_f64(stop.seconds));
    step.finish(&format!("{} after {} ({:.1} s)", stop.exit, stop.signal, stop.seconds));

    let commits = workload::commit_batches(&a, TABLE, opts.transactions, opts.records, opts.payload_bytes, progress);
    match phases.time("backlog", cluster.supervise(commits)).await? {
        Ok(_) => {}
        // Say so if A died under the commits, rather than only that it stopped answering.
        Err(e) => return Err(cluster.end("a").map_or(e, anyhow::Error::from)),
    }
    let records_a = a.record_count(TABLE).await?;

    // From the moment B is launched: sample its memory, and poll its count.
    let step = progress.step(&format!("restarting node B and waiting for it to catch up to {records_a} records"));
    let launched = Instant::now();
    phases.enter("restart");
    cluster.restart("b")?;
    // B leads its own process group (pgid = pid): the kernel's figures of
    // that group answer during the replay, when B's API does not.
    let b_pid = cluster.node("b").pid();
    let (stop_tx, stop_rx) = watch::channel(false);
    let sampler = tokio::spawn(monitor::sample_until(b.clone(), b_pid, launched, stop_rx));
    let mut last_b = None;
    let mut catch_up = None;
    let mut death = None;
    // restart: from launch to B's first answer; catching_up: from there to
    // the count matching A's.
    let mut answered: Option<Instant> = None;
    while launched.elapsed() < Duration::from_secs_f64(opts.catch_up_timeout) {
        // A stop from outside (of A or B) ends the run as interrupted; a
        // crash of B is this scenario's finding.
        if let Err(e) = cluster.check_outside() {
            let _ = stop_tx.send(true);
            return Err(e);
        }
        if let Some(d) = cluster.death("b") {
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
        let window = tokio::time::sleep(Duration::from_secs_f64(opts.after_catch_up));
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
    if !keep {
        cluster.teardown().await;
    }
    phases.record("teardown", teardown_start.elapsed());
    cluster.check_outside()?;
    let checks_start = Instant::now();
    phases.enter("checks");

    let b_spec = cluster.node("b").spec().clone();
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
        checks::caught_up(records_a, last_b, catch_up, opts.catch_up_timeout, death.as_deref()),
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
            opts.transactions, opts.records, harper_version
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
    if shim_interval.is_some() {
        put("faults_injected", json!(fault::read_fault_log(&fault_log)?.len()));
    }
    phases.record("checks", checks_start.elapsed());
    phases.into_figures(&mut figures);

    let mut files = Map::new();
    files.insert("run_dir".into(), json!(out));
    files.insert("memory_csv".into(), json!(csv));
    files.insert("memory_svg".into(), json!(svg));
    files.insert("report".into(), json!(out.join("report.json")));
    Ok(super::finish(ctx, SCENARIO.name, &mut backend, keep, checks, figures, files))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_binary_and_decimal_units() {
        assert_eq!(parse_size("1.5GiB"), Ok(1536 * 1024 * 1024));
        assert_eq!(parse_size("512MiB"), Ok(512 * 1024 * 1024));
        assert_eq!(parse_size("2GB"), Ok(2_000_000_000));
        assert_eq!(parse_size("1610612736"), Ok(1_610_612_736));
        assert!(parse_size("lots").is_err());
        assert!(parse_size("1.5 parsecs").is_err());
        assert!(parse_size("0").is_err());
    }
}
