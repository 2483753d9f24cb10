//! `blobfail`: runs fault-injection scenarios against a real Harper cluster.
//!
//! `main` only parses the arguments, runs the scenario, and maps the outcome
//! to an exit code: 0 when every check passed, 1 when a check failed (or
//! could not decide), 2 when the cluster could not be run.

mod api;
mod checks;
mod cluster;
mod fault;
mod monitor;
mod report;
mod scenario;
mod workload;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand, ValueEnum};

use report::Verdict;

#[derive(Parser, Debug)]
#[command(name = "blobfail", version, about = "Make file-write failures happen on purpose inside a real Harper cluster, and tell whether it survives them")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a scenario on a fresh two-node cluster and judge it.
    Run(RunArgs),
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum ScenarioName {
    /// Blob writes fail every Nth time on node B while A serves load.
    BlobSave,
    /// Node B catches up on a large replication backlog; its memory is sampled.
    BacklogMemory,
    /// Both scenarios, one combined report and exit code.
    All,
}

#[derive(clap::Args, Debug)]
struct RunArgs {
    /// Which scenario to run.
    scenario: ScenarioName,

    /// A harper CLI script or package folder to use instead of installing harperdb.
    #[arg(long, value_name = "PATH")]
    harper: Option<PathBuf>,
    /// The harperdb version to install from npm (when --harper is not given).
    #[arg(long, value_name = "VERSION", default_value = "4.7.29")]
    harper_version: String,
    /// The preload shim (default: libblobfail.so next to this executable).
    #[arg(long, value_name = "PATH")]
    shim: Option<PathBuf>,
    /// The run folder (default: a fresh folder in the temp dir, printed at the end).
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Leave the cluster running afterwards and print how to reach and stop it.
    #[arg(long)]
    keep: bool,
    /// Seed of the random workload (default: random, printed for reproduction).
    #[arg(long)]
    seed: Option<u64>,

    /// blob-save: every Nth blob write-open on node B fails.
    #[arg(long, default_value_t = 7, value_parser = clap::value_parser!(u64).range(1..))]
    interval: u64,
    /// blob-save: GETs on node A of /LargeLocation/<n>, n random in 0..=399.
    #[arg(long, default_value_t = 400, value_parser = clap::value_parser!(u64).range(1..))]
    requests: u64,
    /// blob-save: GETs in flight at once.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=1000))]
    concurrency: u64,
    /// blob-save: seconds B's record count may stay unchanged before it counts as settled.
    #[arg(long, default_value_t = 5.0, value_name = "SECS")]
    settle: f64,
    /// Log pattern of a contained blob-save failure (one line per fault expected on node B).
    #[arg(long, value_name = "TEXT", default_value = "Blob save failed for")]
    failure_pattern: String,
    /// Log pattern of an escaped failure; such an entry mentioning Blob, or ENOENT under /blobs/, fails no-uncaught-exception.
    #[arg(long, value_name = "TEXT", default_value = "uncaughtException")]
    uncaught_pattern: String,

    /// backlog-memory: transactions committed on A while B is down.
    #[arg(long, default_value_t = 40, value_parser = clap::value_parser!(u64).range(1..))]
    transactions: u64,
    /// backlog-memory: records per transaction (one upsert operation each).
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u64).range(1..))]
    records: u64,
    /// backlog-memory: bytes of each record's payload string.
    #[arg(long, default_value_t = 1024)]
    payload_bytes: usize,
    /// backlog-memory: seconds B gets to catch up after its restart.
    #[arg(long, default_value_t = 180.0, value_name = "SECS")]
    catch_up_timeout: f64,
    /// backlog-memory: B's RSS must stay below this (bytes, or with KiB/MiB/GiB).
    #[arg(long, default_value = "1.5GiB", value_parser = parse_size)]
    rss_limit: u64,
    /// backlog-memory: seconds to keep sampling B's memory after it caught up.
    #[arg(long, default_value_t = 5.0, value_name = "SECS")]
    after_catch_up: f64,
    /// backlog-memory: also preload the blob-write shim on B (with --interval).
    #[arg(long)]
    shim_on_b: bool,
}

/// `1536MiB`, `1.5GiB`, `2000000` → bytes.
fn parse_size(s: &str) -> Result<u64, String> {
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

impl From<ScenarioName> for scenario::Selection {
    fn from(n: ScenarioName) -> Self {
        match n {
            ScenarioName::BlobSave => scenario::Selection::BlobSave,
            ScenarioName::BacklogMemory => scenario::Selection::BacklogMemory,
            ScenarioName::All => scenario::Selection::All,
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("BLOBFAIL_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let Command::Run(args) = cli.command;
    match run(args) {
        Ok(Verdict::Pass) => ExitCode::from(0),
        Ok(_) => ExitCode::from(1),
        Err(e) => {
            eprintln!("blobfail: {}", one_line(&format!("{e:#}")));
            ExitCode::from(2)
        }
    }
}

fn one_line(s: &str) -> String {
    s.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" ")
}

fn run(args: RunArgs) -> Result<Verdict> {
    if !(args.settle.is_finite() && args.settle > 0.0 && args.settle <= 600.0) {
        bail!("--settle must be between 0 and 600 seconds, got {}", args.settle);
    }
    if !(args.after_catch_up.is_finite() && args.after_catch_up >= 0.0 && args.after_catch_up <= 600.0) {
        bail!("--after-catch-up must be between 0 and 600 seconds, got {}", args.after_catch_up);
    }
    if !(args.catch_up_timeout.is_finite() && args.catch_up_timeout > 0.0 && args.catch_up_timeout <= 3600.0) {
        bail!("--catch-up-timeout must be between 0 and 3600 seconds, got {}", args.catch_up_timeout);
    }
    let out = prepare_out(args.out.as_deref(), args.scenario)?;
    let common = scenario::Common {
        harper: args.harper.clone(),
        harper_version: args.harper_version.clone(),
        shim: args.shim.clone(),
        keep: args.keep,
        seed: args.seed.unwrap_or_else(rand::random),
    };
    let blob = scenario::blob_save::Options {
        interval: args.interval,
        requests: args.requests,
        concurrency: args.concurrency as usize,
        settle: Duration::from_secs_f64(args.settle),
        patterns: checks::LogPatterns { failure: args.failure_pattern.clone(), uncaught: args.uncaught_pattern.clone() },
    };
    let backlog = scenario::backlog_memory::Options {
        transactions: args.transactions,
        records: args.records,
        payload_bytes: args.payload_bytes,
        catch_up_timeout: Duration::from_secs_f64(args.catch_up_timeout),
        rss_limit: args.rss_limit,
        after_catch_up: Duration::from_secs_f64(args.after_catch_up),
        shim_interval: args.shim_on_b.then_some(args.interval),
    };
    scenario::execute(args.scenario.into(), &common, &blob, &backlog, &out, args.out.is_none())
}

/// The run folder: `--out` (must be new or empty) or a fresh one in the temp dir.
fn prepare_out(out: Option<&Path>, scenario: ScenarioName) -> Result<PathBuf> {
    let dir = match out {
        Some(d) => {
            if d.exists() && std::fs::read_dir(d).map(|mut r| r.next().is_some()).unwrap_or(true) {
                bail!("--out {} is not an empty folder: pass a new or empty one", d.display());
            }
            d.to_path_buf()
        }
        None => {
            let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
            let name = scenario.to_possible_value().map(|v| v.get_name().to_string()).unwrap_or_default();
            std::env::temp_dir().join(format!("blobfail-{name}-{secs}-{}", std::process::id()))
        }
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("failed to create the run folder {}", dir.display()))?;
    let dir = dir.canonicalize()?;
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

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

    #[test]
    fn the_cli_parses_the_readme_commands() {
        Cli::command().debug_assert();
        let cli = Cli::try_parse_from(["blobfail", "run", "blob-save", "--interval", "3", "--requests", "60"]).unwrap();
        let Command::Run(args) = cli.command;
        assert_eq!((args.scenario, args.interval, args.requests, args.concurrency), (ScenarioName::BlobSave, 3, 60, 20));
        assert_eq!(args.rss_limit, 1536 * 1024 * 1024);
        assert!(Cli::try_parse_from(["blobfail", "run", "all", "--interval", "0"]).is_err());
    }
}
