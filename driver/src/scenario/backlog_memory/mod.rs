//! `backlog-memory`: node B is stopped while A commits a large backlog (many
//! transactions of many records, each replicating as one message), then
//! restarted. Does B catch up without a worker running out of memory, and
//! how much memory does it take? It stops and restarts B, so it runs on a
//! local cluster only.

pub mod catch_up;
pub mod checks;
pub mod judge;

use std::time::{Duration, Instant};

use anyhow::{anyhow, Result};
use futures::future::BoxFuture;
use futures::FutureExt;
use serde_json::{json, Map};

use super::{Ctx, Scenario};
use crate::backend::{self, Backend};
use crate::cluster::NodeSetup;
use crate::topology::{NodeId, Topology};
use crate::fault::{self, FaultPlan};
use crate::journal::{Phases, PlannedCheck};
use crate::model::Report;
use crate::monitor;
use crate::workload::Batches;
use catch_up::Observed;

pub const TABLE: &str = "Load";
/// The seed's backlog: 40 transactions of 500 records (`x1` of a sweep).
const DEFAULT_TRANSACTIONS: u64 = 40;
const DEFAULT_RECORDS: u64 = 500;
/// Upserts in flight while A commits a backlog: one, as the seed did. More
/// gained nothing measurable on 2 shared cores (A's main and worker threads
/// already fill them), and one sweep with 4 in flight saw A die of a SIGSEGV
/// in LMDB's native code (see the README's sweep section).
const DEFAULT_COMMITS_IN_FLIGHT: usize = 1;
/// Seconds of sampling after a catch-up: a single run's plot shows whether
/// B's memory comes back down; a sweep, judged on its peaks, keeps 1 s per
/// size unless told otherwise.
const DEFAULT_AFTER_CATCH_UP: f64 = 5.0;
const DEFAULT_AFTER_CATCH_UP_SWEEP: f64 = 1.0;

const CHECKS: &[PlannedCheck] = &[
    PlannedCheck { name: "caught-up", needs: &["a", "b"] },
    PlannedCheck { name: "no-worker-oom", needs: &["b"] },
    PlannedCheck { name: "peak-rss-below-limit", needs: &["b"] },
    PlannedCheck { name: "peak-anon-below-limit", needs: &["b"] },
];
const SWEEP_CHECKS: &[PlannedCheck] = &[
    PlannedCheck { name: "caught-up", needs: &["a", "b"] },
    PlannedCheck { name: "no-worker-oom", needs: &["b"] },
    PlannedCheck { name: "peak-rss-below-limit", needs: &["b"] },
    PlannedCheck { name: "peak-anon-below-limit", needs: &["b"] },
    PlannedCheck { name: "memory-bounded", needs: &["b"] },
];

fn checks_for(args: &super::Args) -> &'static [PlannedCheck] {
    if args.backlog_memory.sweep.is_some() {
        SWEEP_CHECKS
    } else {
        CHECKS
    }
}

pub const SCENARIO: Scenario = Scenario {
    name: "backlog-memory",
    about: "Node B catches up on a large replication backlog; its memory is sampled.",
    checks: checks_for,
    phases: &[
        ("stop_b", "stop B"),
        ("backlog", "backlog commit"),
        ("count_a", "A's count"),
        ("restart", "restart"),
        ("catching_up", "catch-up"),
        ("after_catch_up", "after catch-up"),
        ("checks", "checks"),
        ("teardown", "teardown"),
    ],
    options: &[
        "transactions",
        "records",
        "commits_in_flight",
        "payload_bytes",
        "catch_up_timeout",
        "rss_limit",
        "anon_limit",
        "after_catch_up",
        "sweep",
        "growth_limit",
        "shim_on_b",
        "interval",
        "nodes",
        "nemesis",
        "latency",
        "jitter",
        "bandwidth",
        "cut_after",
        "cut_every",
    ],
    local_only: &[],
    cannot_attach: Some("it stops and restarts node B, which needs nodes this run started"),
    variants: None,
    validate: validate_options,
    why_local: super::never_attached,
    run: run_boxed,
    judge: Some(judge::JUDGE),
};

/// backlog-memory's options.
#[derive(clap::Args, Debug, Clone)]
#[command(next_help_heading = "backlog-memory")]
// Its own group id: clap names a group after its struct, and every
// scenario's struct is called Args.
#[group(id = "backlog-memory options")]
pub struct Args {
    /// backlog-memory: transactions committed on A while B is down (a --sweep sets its own: size ÷ --records).
    #[arg(long, default_value_t = DEFAULT_TRANSACTIONS, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub transactions: u64,
    /// backlog-memory: records per transaction (one upsert operation each).
    #[arg(long, default_value_t = DEFAULT_RECORDS, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub records: u64,
    /// backlog-memory: upserts in flight on A while it commits a backlog (the transactions stay as they are).
    #[arg(long, default_value_t = DEFAULT_COMMITS_IN_FLIGHT, value_name = "N", value_parser = clap::builder::TypedValueParser::map(clap::value_parser!(u64).range(1..=64), |n| n as usize))]
    pub commits_in_flight: usize,
    /// backlog-memory: bytes of each record's payload string.
    #[arg(long, default_value_t = 1024, value_name = "N")]
    pub payload_bytes: usize,
    /// backlog-memory: seconds B gets to catch up after its restart.
    #[arg(long, default_value_t = 180.0, value_name = "SECS")]
    pub catch_up_timeout: f64,
    /// backlog-memory: B's RSS must stay below this (bytes, or with KiB/MiB/GiB).
    #[arg(long, default_value = "1.5GiB", value_name = "SIZE", value_parser = parse_size)]
    pub rss_limit: u64,
    /// backlog-memory: B's anonymous memory (RssAnon, what runs it out of memory) must stay below this.
    #[arg(long, default_value = "1.5GiB", value_name = "SIZE", value_parser = parse_size)]
    pub anon_limit: u64,
    /// backlog-memory: run each backlog size in turn on one cluster: record counts (20000,80000,320000) or multiples of the default 20000 (x1,x4,x16).
    #[arg(long, value_name = "SIZES", value_parser = parse_sweep)]
    pub sweep: Option<Sweep>,
    /// backlog-memory --sweep: B's peak anonymous memory may grow by less than this many MiB per 10,000 records.
    #[arg(long, default_value_t = 5.0, value_name = "MIB")]
    pub growth_limit: f64,
    /// backlog-memory: seconds to keep sampling B's memory after it caught up [default: 5; with --sweep 1, after each size].
    #[arg(long, value_name = "SECS")]
    pub after_catch_up: Option<f64>,
    /// backlog-memory: also preload the blob-write shim on B (with --interval).
    #[arg(long)]
    pub shim_on_b: bool,
}

/// The backlog sizes of a sweep, in records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sweep(pub Vec<u64>);

/// `20000,80000,320000` (records) or `x1,x4,x16` (multiples of the default
/// backlog of 20,000 records).
pub fn parse_sweep(s: &str) -> Result<Sweep, String> {
    let sizes: Vec<u64> = s
        .split(',')
        .map(|part| {
            let p = part.trim();
            let n = match p.strip_prefix('x') {
                Some(m) => m.parse::<u64>().ok().and_then(|m| m.checked_mul(DEFAULT_TRANSACTIONS * DEFAULT_RECORDS)),
                None => p.parse::<u64>().ok(),
            };
            n.filter(|n| (1..=100_000_000).contains(n))
                .ok_or_else(|| format!("{p:?} is not a backlog size (records from 1 to 100000000, or x<multiple> of 20000)"))
        })
        .collect::<Result<_, _>>()?;
    Ok(Sweep(sizes))
}

impl Args {
    /// Values clap cannot bound by itself; `given` says whether an option
    /// was given on the command line.
    pub fn validate(&self, given: &dyn Fn(&str) -> bool) -> Result<(), String> {
        if self.sweep.is_some() && given("transactions") {
            return Err("--transactions does not apply with --sweep: each size sets its own (size ÷ --records)".into());
        }
        if self.sweep.is_none() && given("growth_limit") {
            return Err("--growth-limit applies with --sweep only (the slope needs several backlog sizes)".into());
        }
        if !(self.growth_limit.is_finite() && self.growth_limit > 0.0) {
            return Err(format!("--growth-limit must be a positive number of MiB per 10,000 records, got {}", self.growth_limit));
        }
        let after = self.after_catch_up();
        if !(after.is_finite() && (0.0..=600.0).contains(&after)) {
            return Err(format!("--after-catch-up must be between 0 and 600 seconds, got {after}"));
        }
        if !(self.catch_up_timeout.is_finite() && self.catch_up_timeout > 0.0 && self.catch_up_timeout <= 3600.0) {
            return Err(format!("--catch-up-timeout must be between 0 and 3600 seconds, got {}", self.catch_up_timeout));
        }
        Ok(())
    }

    /// Seconds of sampling after each catch-up: as given, else 5 for a
    /// single run and 1 for each size of a sweep.
    pub fn after_catch_up(&self) -> f64 {
        self.after_catch_up.unwrap_or(if self.sweep.is_some() { DEFAULT_AFTER_CATCH_UP_SWEEP } else { DEFAULT_AFTER_CATCH_UP })
    }
}

/// `--rss-limit`, `--anon-limit`: a size (`1.5GiB`; the one grammar of
/// `text::parse_size`) that a process could hold.
pub fn parse_size(s: &str) -> Result<u64, String> {
    match crate::text::parse_size(s)? {
        b if (1..1_000_000_000_000_000).contains(&b) => Ok(b),
        _ => Err(format!("{s:?} is not a plausible memory limit")),
    }
}

/// The registry's validation: backlog-memory's own options.
fn validate_options(args: &mut super::Args, given: &super::Given) -> Result<(), String> {
    args.backlog_memory.validate(&|id| given.has(id))
}

fn run_boxed<'a>(ctx: &'a Ctx<'a>) -> BoxFuture<'a, Result<Report>> {
    run(ctx).boxed()
}

async fn run(ctx: &Ctx<'_>) -> Result<Report> {
    let opts = &ctx.args.backlog_memory;
    let out = ctx.out;
    let backend::Choice::Local(local) = ctx.backend else {
        return Err(anyhow!("backlog-memory cannot run attached: {}", SCENARIO.cannot_attach.unwrap_or_default()));
    };
    let keep = local.keep;
    let shim_interval = opts.shim_on_b.then_some(ctx.args.blob_save.interval);
    let mut phases = Phases::begin(ctx.events, SCENARIO.name, out, checks_for(ctx.args));
    let fault_log = out.join("faults.jsonl");
    let mut b_setup = NodeSetup::plain("b");
    if let Some(interval) = shim_interval {
        let shim = fault::find_shim(local.shim.as_deref())?;
        b_setup.env = FaultPlan::blob_writes(shim, interval, fault_log.clone()).env();
    }
    // --nemesis slow-link|cut-stream: the proxy goes on before the nodes connect.
    crate::net::on_load::install(ctx.args).await?;
    // --nodes N: b is the one stopped and measured; c, … join a and stay up, unfaulted.
    let topology = Topology::star(ctx.args.blob_save.nodes as usize, &[NodeId::nth(1)]).map_err(anyhow::Error::msg)?;
    let mut setups: Vec<NodeSetup> = topology.nodes.iter().map(|n| NodeSetup::plain(n.clone())).collect();
    setups[1] = b_setup;
    let mut backend = Backend::local(local, &topology, &setups, out, &mut phases, ctx.events).await?;
    super::test_panic_hook("join");
    let harper_version = backend.cluster().map(|c| c.harper().version.clone()).unwrap_or_default();
    let cluster = backend.cluster().expect("a local backend has a cluster");
    let history = ctx.events.history();

    // Each backlog in transactions of --records records: a sweep keeps the
    // transactions' shape and raises their count.
    let transactions: Vec<u64> = match &opts.sweep {
        Some(sweep) => sweep.0.iter().map(|size| size.div_ceil(opts.records)).collect(),
        None => vec![opts.transactions],
    };
    let timeout = Duration::from_secs_f64(opts.catch_up_timeout);
    let after = Duration::from_secs_f64(opts.after_catch_up());
    let mut observed: Vec<Observed> = Vec::new();
    let mut first = 0;
    for (i, &count) in transactions.iter().enumerate() {
        if opts.sweep.is_some() {
            eprintln!("blobfail: backlog {} of {}: {count} × {} records", i + 1, transactions.len(), opts.records);
        }
        let batches = Batches {
            first,
            transactions: count,
            records: opts.records,
            payload_bytes: opts.payload_bytes,
            in_flight: opts.commits_in_flight,
        };
        first += count;
        // The link nemesis, if any, on B's link with a through each catch-up.
        crate::net::on_load::switch(ctx.args, cluster, ctx.events, true).await?;
        let o = catch_up::once(cluster, batches, timeout, after, &mut phases, ctx.events).await?;
        crate::net::on_load::switch(ctx.args, cluster, ctx.events, false).await?;
        let caught_up = o.catch_up.is_some();
        observed.push(o);
        // A B that did not catch up (or died) has answered the question.
        if !caught_up {
            break;
        }
    }

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
    use crate::harper_log::{read_node_log, read_output};
    let outputs = vec![
        checks::scan_output(&b_spec.hdb_log, read_node_log(&b_spec.hdb_log)),
        checks::scan_output(&b_spec.stdout, read_output(&b_spec.stdout)),
        checks::scan_output(&b_spec.stderr, read_output(&b_spec.stderr)),
    ];
    let mut figures = Map::new();
    crate::net::on_load::remove(&mut figures, None).await?;
    if !history.lock().events().is_empty() {
        figures.insert("history".into(), json!(history.lock().events()));
    }
    let mut files = Map::new();
    files.insert("run_dir".into(), json!(out));
    match &opts.sweep {
        None => {
            let o = &observed[0];
            let (csv, svg) = (out.join("memory.csv"), out.join("memory.svg"));
            monitor::write_csv(&csv, &o.samples)?;
            let title = format!("node B catching up on {} × {} records (harper {harper_version})", o.transactions, opts.records);
            monitor::plot::write_svg(&svg, &title, &o.samples, opts.rss_limit, o.catch_up)?;
            files.insert("memory_csv".into(), json!(csv));
            files.insert("memory_svg".into(), json!(svg));
        }
        Some(_) => {
            let mut csvs = Vec::new();
            let mut svgs = Vec::new();
            for o in &observed {
                let (csv, svg) = (out.join(format!("memory-{}.csv", o.backlog)), out.join(format!("memory-{}.svg", o.backlog)));
                monitor::write_csv(&csv, &o.samples)?;
                let title = format!("node B catching up on {} × {} records (harper {harper_version})", o.transactions, opts.records);
                monitor::plot::write_svg(&svg, &title, &o.samples, opts.rss_limit, o.catch_up)?;
                csvs.push(csv);
                svgs.push(svg);
            }
            let growth = out.join("memory-growth.svg");
            let points: Vec<_> = observed.iter().map(Observed::growth_point).collect();
            let title = format!("node B's peak memory and catch-up time against its backlog (harper {harper_version})");
            monitor::plot::write_growth_svg(&growth, &title, &points)?;
            files.insert("memory_csvs".into(), json!(csvs));
            files.insert("memory_svgs".into(), json!(svgs));
            files.insert("memory_growth_svg".into(), json!(growth));
        }
    }

    figures.insert("records_per_transaction".into(), json!(opts.records));
    figures.insert("commits_in_flight".into(), json!(opts.commits_in_flight));
    figures.insert("after_catch_up_window_seconds".into(), json!(opts.after_catch_up()));
    figures.insert("payload_bytes".into(), json!(opts.payload_bytes));
    if shim_interval.is_some() {
        figures.insert("faults_injected".into(), json!(fault::read_fault_log(&fault_log)?.len()));
    }
    phases.record("checks", checks_start.elapsed());
    phases.into_figures(&mut figures);
    files.insert("report".into(), json!(out.join("report.json")));
    let observed = judge::Observed {
        settings: judge::Settings {
            rss_limit: opts.rss_limit,
            anon_limit: opts.anon_limit,
            growth_limit: opts.growth_limit,
            catch_up_timeout: opts.catch_up_timeout,
        },
        sweep: opts.sweep.as_ref().map(|s| s.0.clone()),
        backlogs: observed,
        outputs,
    };
    super::finish_observed(ctx, &SCENARIO, SCENARIO.name, &mut backend, keep, serde_json::to_value(&observed)?, figures, files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_binary_and_decimal_units() {
        assert_eq!(parse_size("1.5GiB"), Ok(1536 * 1024 * 1024));
        assert_eq!(parse_size("512MiB"), Ok(512 * 1024 * 1024));
        assert!(parse_size("2GB").is_err(), "MB, GB: not guessed, as the shim does not");
        assert_eq!(parse_size("1610612736"), Ok(1_610_612_736));
        assert!(parse_size("lots").is_err());
        assert!(parse_size("1.5 parsecs").is_err());
        assert!(parse_size("0").is_err());
    }

    #[test]
    fn a_sweep_is_record_counts_or_multiples_of_the_default_backlog() {
        assert_eq!(parse_sweep("20000,80000,320000"), Ok(Sweep(vec![20_000, 80_000, 320_000])));
        assert_eq!(parse_sweep("x1,x4,x16"), Ok(Sweep(vec![20_000, 80_000, 320_000])));
        assert_eq!(parse_sweep("5000, x1"), Ok(Sweep(vec![5_000, 20_000])));
        for bad in ["", "0", "x0", "20k", "x", "1,,2", "-5"] {
            assert!(parse_sweep(bad).is_err(), "{bad:?}");
        }
        assert_eq!(parse_sweep("x").unwrap_err(), "\"x\" is not a backlog size (records from 1 to 100000000, or x<multiple> of 20000)");
    }

    fn parse(argv: &[&str]) -> Args {
        #[derive(clap::Parser)]
        struct Cmd {
            #[command(flatten)]
            args: Args,
        }
        <Cmd as clap::Parser>::try_parse_from([&["blobfail"], argv].concat()).unwrap().args
    }

    #[test]
    fn a_sweep_samples_1_s_after_each_catch_up_unless_told_and_a_single_run_5_s() {
        assert_eq!(parse(&[]).after_catch_up(), 5.0);
        assert_eq!(parse(&["--sweep", "x1,x4"]).after_catch_up(), 1.0);
        assert_eq!(parse(&["--sweep", "x1,x4", "--after-catch-up", "5"]).after_catch_up(), 5.0);
        assert_eq!(parse(&["--after-catch-up", "0"]).after_catch_up(), 0.0);
        let bad = Args { after_catch_up: Some(-1.0), ..parse(&["--sweep", "x1"]) };
        assert_eq!(bad.validate(&|_| false), Err("--after-catch-up must be between 0 and 600 seconds, got -1".to_string()));
    }

    #[test]
    fn commits_in_flight_default_to_1_and_take_1_to_64() {
        assert_eq!(parse(&[]).commits_in_flight, 1);
        assert_eq!(parse(&["--commits-in-flight", "8"]).commits_in_flight, 8);
        for bad in ["0", "65", "two"] {
            let cmd = <Args as clap::Args>::augment_args(clap::Command::new("blobfail"));
            assert!(cmd.try_get_matches_from(["blobfail", "--commits-in-flight", bad]).is_err(), "{bad}");
        }
    }
}
