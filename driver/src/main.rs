//! `blobfail`: runs fault-injection scenarios against a real Harper cluster.
//!
//! `main` only parses the arguments, runs the scenario, and maps the outcome
//! to an exit code: 0 when every check passed, 1 when a check failed, 2 when
//! the cluster could not be run or no check failed but one could not be
//! decided (the run was interrupted: Ctrl-C, SIGTERM, a node stopped from
//! outside).

mod api;
mod attach;
mod checks;
mod cluster;
mod doctor;
mod fault;
mod journal;
mod junit;
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

const MAIN_EXAMPLES: &str = "\
Examples:
  blobfail run blob-save                 a fresh two-node cluster, blob writes failing on B
  blobfail run all --junit junit.xml     every scenario, JUnit for CI
  blobfail doctor                        what a local run needs, and what is missing
  blobfail completions bash > ~/.local/share/bash-completion/completions/blobfail";

const RUN_EXAMPLES: &str = "\
Examples:
  blobfail run blob-save --seed 42 --out /tmp/bf       repeat a workload, keep the run folder
  blobfail run backlog-memory --records 1000            a bigger backlog
  blobfail run all --junit junit.xml                    both scenarios, one exit code, JUnit for CI
  blobfail run blob-save --keep                         leave the cluster running afterwards
  BLOBFAIL_PASSWORD=... blobfail run blob-save --attach \\
      --node-a http://10.0.0.1:9925 --node-b http://10.0.0.2:9925
                                                        against an existing cluster (B preloaded
                                                        with the shim, the component deployed)
Exit codes: 0 every check passed, 1 a check failed, 2 no check failed but one could not decide, or the run could not be done.";

const COMPONENT_EXAMPLES: &str = "\
Examples:
  blobfail component --out ./blobfail-component
  # then, on every node of the cluster to attach to:
  cp -r ./blobfail-component <harper root>/components/blobfail && restart Harper";

const COMPLETIONS_EXAMPLES: &str = "\
Examples:
  blobfail completions bash > ~/.local/share/bash-completion/completions/blobfail
  blobfail completions zsh > ~/.zfunc/_blobfail      # with fpath+=(~/.zfunc) in ~/.zshrc
  blobfail completions fish > ~/.config/fish/completions/blobfail.fish";

const DOCTOR_EXAMPLES: &str = "\
Examples:
  blobfail doctor
  blobfail doctor --shim ./target/release/libblobfail.so --harper-version 4.7.29
Exit codes: 0 when everything a local run needs is there, 1 otherwise.";

#[derive(Parser, Debug)]
#[command(
    name = "blobfail",
    version,
    about = "Make file-write failures happen on purpose inside a real Harper cluster, and tell whether it survives them",
    after_help = MAIN_EXAMPLES
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

// Parsed once per process: the size of the run variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand, Debug)]
enum Command {
    /// Run a scenario on a fresh two-node cluster (or an attached one) and judge it.
    #[command(after_help = RUN_EXAMPLES)]
    Run(RunArgs),
    /// Write the Harper component the scenarios need (the LargeLocation table), to deploy on nodes for --attach.
    #[command(after_help = COMPONENT_EXAMPLES)]
    Component {
        /// The folder to write the component's files into (created if missing).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
    /// Print a shell completion script, generated from this command line's definition.
    #[command(after_help = COMPLETIONS_EXAMPLES)]
    Completions {
        /// The shell to complete for.
        shell: clap_complete::Shell,
    },
    /// Check that this machine has what a local run needs, one line per item.
    #[command(after_help = DOCTOR_EXAMPLES)]
    Doctor {
        /// The preload shim (default: libblobfail.so next to this executable).
        #[arg(long, value_name = "PATH")]
        shim: Option<PathBuf>,
        /// The harperdb version that should be cached.
        #[arg(long, value_name = "VERSION", default_value = "4.7.29")]
        harper_version: String,
    },
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
    /// The nodes' loopback addresses, one per node (A,B), instead of free ones picked by probing.
    #[arg(long, value_name = "IP,IP", value_delimiter = ',', value_parser = parse_loopback, conflicts_with = "attach")]
    addresses: Option<Vec<std::net::Ipv4Addr>>,
    /// Seconds each node gets to answer its operations API after it is launched.
    #[arg(long, default_value_t = 120.0, value_name = "SECS", conflicts_with = "attach")]
    start_timeout: f64,
    /// Also write the checks as JUnit XML to FILE (one testcase per check; the run folder keeps junit.xml too).
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,

    /// Run blob-save against an existing cluster, through its operations API and REST only.
    #[arg(long, requires_all = ["node_a", "node_b"], conflicts_with_all = ["harper", "keep", "shim"])]
    attach: bool,
    /// attach: node A's operations API URL (A serves the load), e.g. http://10.0.0.1:9925.
    #[arg(long, value_name = "URL", requires = "attach")]
    node_a: Option<String>,
    /// attach: node B's operations API URL (B runs with the shim preloaded).
    #[arg(long, value_name = "URL", requires = "attach")]
    node_b: Option<String>,
    /// attach: node A's REST URL [the operations URL on port 9926].
    #[arg(long, value_name = "URL", requires = "attach")]
    rest_a: Option<String>,
    /// attach: node B's REST URL [the operations URL on port 9926].
    #[arg(long, value_name = "URL", requires = "attach")]
    rest_b: Option<String>,
    /// attach: the Harper user.
    #[arg(long, env = "BLOBFAIL_USER", default_value = "admin")]
    user: String,
    /// attach: the Harper user's password (better given by the environment).
    #[arg(long, env = "BLOBFAIL_PASSWORD", hide_env_values = true)]
    password: Option<String>,

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

/// An IPv4 address in 127.0.0.0/8: servers of this tool listen on loopback only.
fn parse_loopback(s: &str) -> Result<std::net::Ipv4Addr, String> {
    let ip: std::net::Ipv4Addr = s.trim().parse().map_err(|_| format!("{s:?} is not an IPv4 address"))?;
    if !ip.is_loopback() {
        return Err(format!("{ip} is not a loopback address (127.0.0.0/8): the nodes listen on loopback only"));
    }
    Ok(ip)
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
    let outcome = match cli.command {
        Command::Run(args) => run(args),
        Command::Component { out } => write_component(&out).map(|()| Verdict::Pass),
        Command::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut cmd, "blobfail", &mut std::io::stdout());
            Ok(Verdict::Pass)
        }
        Command::Doctor { shim, harper_version } => {
            let findings = doctor::examine(shim.as_deref(), &harper_version);
            for f in &findings {
                println!("{}", f.line());
            }
            Ok(if findings.iter().all(|f| f.ok) { Verdict::Pass } else { Verdict::Fail })
        }
    };
    match outcome {
        Ok(Verdict::Pass) => ExitCode::from(0),
        // Trade-off: an undecided check (with none failed) exits 2, like a run
        // that could not be done, not 1: 1 stays "blobfail found something"
        // (a regression to look at), 2 "no answer, rerun or fix the setup".
        // A failure outranks undecided checks beside it, except in an
        // interrupted run, whose verdict is unknown whatever it had found.
        Ok(Verdict::Fail) => ExitCode::from(1),
        Ok(Verdict::Unknown) => ExitCode::from(2),
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
    if !(args.start_timeout.is_finite() && args.start_timeout > 0.0 && args.start_timeout <= 3600.0) {
        bail!("--start-timeout must be between 0 and 3600 seconds, got {}", args.start_timeout);
    }
    if let Some(ips) = &args.addresses {
        if ips.len() != 2 || ips[0] == ips[1] {
            bail!("--addresses needs two different loopback addresses (node A's, node B's), e.g. 127.0.0.20,127.0.0.21");
        }
    }
    if let Some(parent) = args.junit.as_deref().and_then(Path::parent).filter(|p| !p.as_os_str().is_empty()) {
        if !parent.is_dir() {
            bail!("--junit {}: the folder {} does not exist", args.junit.as_deref().unwrap_or(parent).display(), parent.display());
        }
    }
    if args.attach && args.scenario != ScenarioName::BlobSave {
        bail!("--attach runs blob-save only: backlog-memory stops and restarts node B, which needs nodes this run started");
    }
    if args.attach && args.password.is_none() {
        bail!("--attach needs the Harper user's password: pass --password or set BLOBFAIL_PASSWORD");
    }
    let out = prepare_out(args.out.as_deref(), args.scenario)?;
    let verdict = run_in(&args, &out)?;
    if let Some(junit) = &args.junit {
        std::fs::copy(out.join("junit.xml"), junit).with_context(|| format!("failed to write --junit {}", junit.display()))?;
    }
    Ok(verdict)
}

fn run_in(args: &RunArgs, out: &Path) -> Result<Verdict> {
    let blob = scenario::blob_save::Options {
        interval: args.interval,
        requests: args.requests,
        concurrency: args.concurrency as usize,
        settle: Duration::from_secs_f64(args.settle),
        patterns: checks::LogPatterns { failure: args.failure_pattern.clone(), uncaught: args.uncaught_pattern.clone() },
    };
    if args.attach {
        let opts = attach::Options {
            ops_a: args.node_a.clone().unwrap_or_default(),
            ops_b: args.node_b.clone().unwrap_or_default(),
            rest_a: args.rest_a.clone(),
            rest_b: args.rest_b.clone(),
            user: args.user.clone(),
            password: args.password.clone().unwrap_or_default(),
            seed: args.seed.unwrap_or_else(rand::random),
            blob,
        };
        return attach::execute(&opts, out);
    }
    let common = scenario::Common {
        harper: args.harper.clone(),
        harper_version: args.harper_version.clone(),
        shim: args.shim.clone(),
        keep: args.keep,
        seed: args.seed.unwrap_or_else(rand::random),
        cluster: cluster::Options {
            addresses: args.addresses.clone(),
            start_timeout: Duration::from_secs_f64(args.start_timeout),
        },
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
    scenario::execute(args.scenario.into(), &common, &blob, &backlog, out, args.out.is_none())
}

/// Writes the scenarios' Harper component into `dir`, for an operator to
/// deploy on the nodes of a cluster to attach to.
fn write_component(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("failed to create {}", dir.display()))?;
    for (file, text) in cluster::COMPONENT_FILES {
        let path = dir.join(file);
        std::fs::write(&path, text).with_context(|| format!("failed to write {}", path.display()))?;
    }
    println!(
        "wrote the blobfail component ({}) to {}\n\
         deploy it on every node: copy the folder to <harper root>/components/{}/ and restart Harper",
        cluster::COMPONENT_FILES.map(|(f, _)| f).join(", "),
        dir.display(),
        cluster::COMPONENT_NAME
    );
    Ok(())
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
        let Command::Run(args) = cli.command else { panic!("not run") };
        assert_eq!((args.scenario, args.interval, args.requests, args.concurrency), (ScenarioName::BlobSave, 3, 60, 20));
        assert_eq!(args.rss_limit, 1536 * 1024 * 1024);
        assert!(Cli::try_parse_from(["blobfail", "run", "all", "--interval", "0"]).is_err());
    }
}
