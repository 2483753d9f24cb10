//! The command line: its definition (clap), grouped by what each option
//! applies to (every run, a local cluster, an attached one, each scenario:
//! the scenarios' groups live in their folders), and turning `blobfail run`
//! into a `runner::Request`, refusing with one line an option that does not
//! apply to the chosen scenario or backend.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::parser::ValueSource;
use clap::{ArgMatches, CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::backend::{self, AttachNode, AttachOptions, LocalOptions};
use crate::cluster;
use crate::runner::{self, Request};
use crate::scenario::{self, Scenario};
use crate::topology::NodeId;

const MAIN_EXAMPLES: &str = "\
Examples:
  blobfail run blob-save                 a fresh two-node cluster, blob writes failing on B
  blobfail run all --junit junit.xml     every scenario, JUnit for CI
  blobfail doctor                        what a local run needs, and what is missing
  LD_PRELOAD=$(blobfail shim-path) HARPER_TEST_BLOB_FAIL_INTERVAL=7 ./my-program
                                         the carried shim in any program: every 7th blob write-open fails
  blobfail completions bash > ~/.local/share/bash-completion/completions/blobfail";

const RUN_EXAMPLES: &str = "\
Examples:
  blobfail run blob-save --seed 42 --out /tmp/bf       repeat a workload, keep the run folder
  blobfail run backlog-memory --records 1000            a bigger backlog
  blobfail run all --junit junit.xml                    both scenarios, one exit code, JUnit for CI
  blobfail run blob-save --keep                         leave the cluster running afterwards
  blobfail run blob-save --cut-replication              cut B's replication with A before the checks
  blobfail run backlog-memory --b-setting THREADS_MAXHEAPMEMORY=64 --records 8000
                                                        B's worker threads get a 64 MiB heap
  BLOBFAIL_PASSWORD=... blobfail run blob-save --attach \\
      --node-a http://10.0.0.1:9925 --node-b http://10.0.0.2:9925
                                                        against an existing cluster (B preloaded
                                                        with the shim, the component deployed)
An option of another scenario, or of the other backend, is refused (exit 2).
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

const SHIM_PATH_EXAMPLES: &str = "\
Examples:
  LD_PRELOAD=$(blobfail shim-path) HARPER_TEST_BLOB_FAIL_INTERVAL=7 ./my-program
  cp \"$(blobfail shim-path)\" /usr/local/lib/libblobfail.so     to preload it from a fixed place";

const DOCTOR_EXAMPLES: &str = "\
Examples:
  blobfail doctor
  blobfail doctor --shim ./target/release/libblobfail.so --harper-version 4.7.29
Exit codes: 0 when everything a local run needs is there, 1 otherwise.";

const JUDGE_EXAMPLES: &str = "\
Examples:
  blobfail judge /tmp/bf                                   the same verdicts as the run, from its folder
  blobfail judge /tmp/bf --out /tmp/bf-again --failure-pattern 'Blob write failed'
                                                           another log pattern, report.json elsewhere
  blobfail judge /tmp/bm --rss-limit 1GiB                  backlog-memory with another limit
A setting of another scenario is refused (exit 2).
Exit codes: 0 every check passed, 1 a check failed, 2 no check failed but one could not decide, or the folder cannot be judged.";

#[derive(Parser, Debug)]
#[command(
    name = "blobfail",
    version,
    about = "Make file-write failures happen on purpose inside a real Harper cluster, and tell whether it survives them",
    after_help = MAIN_EXAMPLES
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

// Parsed once per process: the size of the run variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run a scenario on a fresh cluster of loopback nodes (two by default) or an attached one, and judge it.
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
    /// Print the path of the shim this binary carries (written to the user's cache if missing), for LD_PRELOAD.
    #[command(after_help = SHIM_PATH_EXAMPLES)]
    ShimPath,
    /// Check that this machine has what a local run needs, one line per item.
    #[command(after_help = DOCTOR_EXAMPLES)]
    Doctor {
        /// The preload shim (default: the one this binary carries, written to the user's cache).
        #[arg(long, value_name = "PATH")]
        shim: Option<PathBuf>,
        /// The harperdb version that should be cached.
        #[arg(long, value_name = "VERSION", default_value = "4.7.29")]
        harper_version: String,
    },
    /// Run any program with the shim preloaded and armed; pass its exit status through.
    Exec(crate::exec::ExecArgs),
    /// Roll a journaled run's files back as a power cut would leave them.
    PowerLoss(crate::exec::PowerLossArgs),
    /// Change the plan of every process that maps a control file: init, arm, heal, show, set VAR=VALUE….
    Ctl(crate::exec::CtlArgs),
    /// Judge a saved run folder again, without a cluster, from its observations.json (optionally with other settings).
    #[command(after_help = JUDGE_EXAMPLES)]
    Judge(crate::judge::JudgeCmd),
}

/// `blobfail run`: the scenario, then the option groups.
#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// Which scenario to run (`all`: every one, one combined report and exit code).
    #[arg(value_parser = scenario_names())]
    pub scenario: String,
    #[command(flatten)]
    pub common: CommonArgs,
    #[command(flatten)]
    pub local: LocalArgs,
    #[command(flatten)]
    pub attach: AttachArgs,
    #[command(flatten)]
    pub scenarios: scenario::Args,
}

fn scenario_names() -> clap::builder::PossibleValuesParser {
    let mut values: Vec<clap::builder::PossibleValue> =
        scenario::ALL.iter().map(|s| clap::builder::PossibleValue::new(s.name).help(s.about)).collect();
    values.push(
        clap::builder::PossibleValue::new("all")
            .help("Every scenario but partition-heal (which needs root), one combined report and exit code."),
    );
    clap::builder::PossibleValuesParser::new(values)
}

/// Options of every run.
#[derive(clap::Args, Debug)]
pub struct CommonArgs {
    /// The run folder (default: a fresh folder in the temp dir, printed at the end).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Seed of the random workload (default: random, printed for reproduction).
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    /// Also write the checks as JUnit XML to FILE (one testcase per check; the run folder keeps junit.xml too).
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
}

/// Options of a local cluster (the default backend).
#[derive(clap::Args, Debug)]
#[command(next_help_heading = "Local cluster")]
pub struct LocalArgs {
    /// A harper CLI script or package folder to use instead of installing harperdb.
    #[arg(long, value_name = "PATH")]
    pub harper: Option<PathBuf>,
    /// The harperdb version to install from npm (when --harper is not given).
    #[arg(long, value_name = "VERSION", default_value = "4.7.29")]
    pub harper_version: String,
    /// The preload shim (default: the one this binary carries, written to the user's cache).
    #[arg(long, value_name = "PATH")]
    pub shim: Option<PathBuf>,
    /// Leave the cluster running afterwards and print how to reach and stop it.
    #[arg(long)]
    pub keep: bool,
    /// The nodes' loopback addresses, one per node (A,B), instead of free ones picked by probing.
    #[arg(long, value_name = "IP,IP", value_delimiter = ',', value_parser = parse_loopback)]
    pub addresses: Option<Vec<Ipv4Addr>>,
    /// Seconds each node gets to answer its operations API after it is launched.
    #[arg(long, default_value_t = 120.0, value_name = "SECS")]
    pub start_timeout: f64,
    /// Let every node install itself instead of copying its installed root from the cache
    /// (`~/.cache/blobfail/roots`, filled on the first run of a node's settings).
    #[arg(long, env = "BLOBFAIL_NO_ROOT_CACHE", value_parser = clap::builder::FalseyValueParser::new())]
    pub no_root_cache: bool,
    /// A Harper setting for node B only, as `harper install --KEY=VALUE` takes it (repeatable),
    /// e.g. THREADS_MAXHEAPMEMORY=64 (each worker thread's heap, MiB).
    #[arg(long, value_name = "KEY=VALUE", value_parser = parse_setting)]
    pub b_setting: Vec<(String, String)>,
}

/// Options of an attached cluster.
#[derive(clap::Args, Debug)]
#[command(next_help_heading = "Attached cluster (blob-save only)")]
pub struct AttachArgs {
    /// Run blob-save against an existing cluster, through its operations API and REST only.
    #[arg(long)]
    pub attach: bool,
    /// attach: node A's operations API URL (A serves the load), e.g. http://10.0.0.1:9925.
    #[arg(long, value_name = "URL")]
    pub node_a: Option<String>,
    /// attach: node B's operations API URL (B runs with the shim preloaded).
    #[arg(long, value_name = "URL")]
    pub node_b: Option<String>,
    /// attach: a node's operations API URL by name, repeatable instead of --node-a/--node-b: a serves the load,
    /// b runs with the shim preloaded, c to e are judged as unfaulted peers; e.g. --node a=http://10.0.0.1:9925.
    #[arg(long = "node", value_name = "NAME=URL", value_parser = parse_named_url)]
    pub node: Vec<(NodeId, String)>,
    /// attach: a node's REST URL by name (repeatable, with --node) [its operations URL on port 9926].
    #[arg(long = "rest", value_name = "NAME=URL", value_parser = parse_named_url)]
    pub rest: Vec<(NodeId, String)>,
    /// attach: node A's REST URL [the operations URL on port 9926].
    #[arg(long, value_name = "URL")]
    pub rest_a: Option<String>,
    /// attach: node B's REST URL [the operations URL on port 9926].
    #[arg(long, value_name = "URL")]
    pub rest_b: Option<String>,
    /// attach: the Harper user.
    #[arg(long, value_name = "NAME", env = "BLOBFAIL_USER", default_value = "admin")]
    pub user: String,
    /// attach: the Harper user's password (better given by the environment).
    #[arg(long, value_name = "PW", env = "BLOBFAIL_PASSWORD", hide_env_values = true)]
    pub password: Option<String>,
}

/// An IPv4 address in 127.0.0.0/8: servers of this tool listen on loopback only.
fn parse_loopback(s: &str) -> Result<Ipv4Addr, String> {
    let ip: Ipv4Addr = s.trim().parse().map_err(|_| format!("{s:?} is not an IPv4 address"))?;
    if !ip.is_loopback() {
        return Err(format!("{ip} is not a loopback address (127.0.0.0/8): the nodes listen on loopback only"));
    }
    Ok(ip)
}

/// `NAME=URL` of `--node` and `--rest`: a node's name (a to e) and a URL.
fn parse_named_url(s: &str) -> Result<(NodeId, String), String> {
    let Some((name, url)) = s.split_once('=') else {
        return Err(format!("{s:?} is not NAME=URL (e.g. a=http://10.0.0.1:9925)"));
    };
    let name = NodeId::parse(name)?;
    if url.trim().is_empty() {
        return Err(format!("node {name} has no URL (e.g. {name}=http://10.0.0.1:9925)"));
    }
    Ok((name, url.trim().to_string()))
}

/// The attached nodes the command line names, a first: by `--node
/// NAME=URL` (and `--rest NAME=URL`), or by `--node-a` and `--node-b`.
fn attach_nodes(a: &AttachArgs) -> anyhow::Result<(Vec<AttachNode>, bool)> {
    if a.node.is_empty() && a.rest.is_empty() {
        let (Some(ops_a), Some(ops_b)) = (a.node_a.clone(), a.node_b.clone()) else {
            anyhow::bail!("--attach needs both nodes' operations API URLs: pass --node-a URL and --node-b URL");
        };
        let nodes = vec![
            AttachNode { name: NodeId::nth(0), ops: ops_a, rest: a.rest_a.clone() },
            AttachNode { name: NodeId::nth(1), ops: ops_b, rest: a.rest_b.clone() },
        ];
        return Ok((nodes, false));
    }
    if a.node_a.is_some() || a.node_b.is_some() || a.rest_a.is_some() || a.rest_b.is_some() {
        anyhow::bail!(
            "--node and --rest cannot be mixed with --node-a, --node-b, --rest-a or --rest-b: name every node one way, \
             e.g. --node a=URL --node b=URL"
        );
    }
    let mut nodes: Vec<AttachNode> = Vec::new();
    for (name, ops) in &a.node {
        if nodes.iter().any(|n| n.name == *name) {
            anyhow::bail!("--node {name} is given twice: name each node once");
        }
        nodes.push(AttachNode { name: name.clone(), ops: ops.clone(), rest: None });
    }
    for (name, role, flag) in [(NodeId::nth(0), "it serves the load", "a"), (NodeId::nth(1), "it runs with the shim preloaded", "b")] {
        if !nodes.iter().any(|n| n.name == name) {
            anyhow::bail!("--attach needs node {name} ({role}): pass --node {flag}=URL");
        }
    }
    for (name, rest) in &a.rest {
        let Some(node) = nodes.iter_mut().find(|n| n.name == *name) else {
            anyhow::bail!("--rest {name}=… names no node given: pass --node {name}=URL too");
        };
        if node.rest.is_some() {
            anyhow::bail!("--rest {name} is given twice: name each node once");
        }
        node.rest = Some(rest.clone());
    }
    nodes.sort_by(|x, y| x.name.cmp(&y.name));
    Ok((nodes, true))
}

/// `KEY=VALUE` of `--b-setting`: a Harper install setting the run does not
/// set itself (the nodes' addresses, root and credentials are the run's).
fn parse_setting(s: &str) -> Result<(String, String), String> {
    let Some((key, value)) = s.split_once('=') else {
        return Err(format!("{s:?} is not KEY=VALUE (e.g. THREADS_MAXHEAPMEMORY=64)"));
    };
    let key = key.trim().trim_start_matches("--").to_ascii_uppercase();
    if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(format!("{key:?} is not a Harper setting name (letters, digits and _, e.g. THREADS_MAXHEAPMEMORY)"));
    }
    if value.is_empty() {
        return Err(format!("{key} has no value (e.g. {key}=64)"));
    }
    if cluster::RESERVED_SETTINGS.contains(&key.as_str()) {
        return Err(format!("{key} is set by blobfail itself (each node's address, root and credentials are the run's)"));
    }
    Ok((key, value.to_string()))
}

/// Option ids of each group, as clap names them.
fn ids_of<T: clap::Args>() -> Vec<String> {
    T::augment_args(clap::Command::new("x")).get_arguments().map(|a| a.get_id().to_string()).collect()
}

/// The options given on the command line itself (not defaults or the environment).
fn given(m: &ArgMatches, ids: &[String]) -> Vec<String> {
    ids.iter().filter(|id| m.value_source(id) == Some(ValueSource::CommandLine)).cloned().collect()
}

fn flag(id: &str) -> String {
    format!("--{}", id.replace('_', "-"))
}

/// Parses the command line; a bad one is an error line (exit 2), `--help`
/// and `--version` print and exit 0.
pub fn parse() -> Result<(Cli, ArgMatches), clap::Error> {
    let matches = Cli::command().try_get_matches()?;
    let cli = Cli::from_arg_matches(&matches)?;
    Ok((cli, matches))
}

/// `blobfail run`'s arguments as a request to the runner, or the one line
/// saying what does not fit.
pub fn request(mut args: RunArgs, matches: &ArgMatches) -> anyhow::Result<Request> {
    let m = matches.subcommand_matches("run").expect("a run command");
    let chosen: Vec<&'static Scenario> = match scenario::by_name(&args.scenario) {
        Some(s) => vec![s],
        // `all` is every scenario that needs no network namespace of its own
        // (root and iptables): those run by name.
        None => scenario::ALL.iter().copied().filter(|s| !crate::net::session::NEEDS_NETWORK.contains(&s.name)).collect(),
    };
    let attach = args.attach.attach;
    let what = if chosen.len() > 1 { "all".to_string() } else { chosen[0].name.to_string() };
    if attach {
        if let Some(s) = chosen.iter().find(|s| s.cannot_attach.is_some()) {
            let attachable: Vec<&str> = scenario::ALL.iter().filter(|s| s.cannot_attach.is_none()).map(|s| s.name).collect();
            anyhow::bail!(
                "--attach runs {} only: {} cannot run attached ({})",
                attachable.join(", "),
                s.name,
                s.cannot_attach.unwrap_or_default()
            );
        }
    }
    // Every option given must belong to the run, the backend, or a chosen scenario.
    let backend_ids = if attach { ids_of::<LocalArgs>() } else { ids_of::<AttachArgs>() };
    if let Some(id) = given(m, &backend_ids).first() {
        if attach {
            anyhow::bail!("{} does not apply with --attach: blobfail does not run the attached cluster's nodes", flag(id));
        }
        anyhow::bail!("{} applies with --attach only (to reach an existing cluster)", flag(id));
    }
    for id in given(m, &ids_of::<scenario::Args>()) {
        let takes = |s: &Scenario| s.options.contains(&id.as_str());
        if !chosen.iter().any(|s| takes(s)) {
            let owners: Vec<&str> = scenario::ALL.iter().filter(|s| takes(s)).map(|s| s.name).collect();
            anyhow::bail!("{} does not apply to {what}: it is an option of {}", flag(&id), crate::text::and_list(&owners));
        }
        if attach && chosen.iter().filter(|s| takes(s)).all(|s| s.local_only.contains(&id.as_str())) {
            let owner = chosen.iter().find(|s| takes(s)).expect("a chosen scenario takes it");
            anyhow::bail!("{} does not apply with --attach: {}", flag(&id), (owner.why_local)(&id));
        }
    }
    // Each scenario checks the options it owns (and resolves what they imply).
    let ids = given(m, &ids_of::<scenario::Args>());
    let given_here = scenario::Given { run: &what, ids: &ids };
    for s in scenario::ALL {
        (s.validate)(&mut args.scenarios, &given_here).map_err(anyhow::Error::msg)?;
    }
    if let Some(parent) = args.common.junit.as_deref().and_then(Path::parent).filter(|p| !p.as_os_str().is_empty()) {
        if !parent.is_dir() {
            let junit = args.common.junit.as_deref().unwrap_or(parent);
            anyhow::bail!("--junit {}: the folder {} does not exist", junit.display(), parent.display());
        }
    }
    let backend = if attach {
        let a = args.attach;
        let (nodes, named) = attach_nodes(&a)?;
        let Some(password) = a.password else {
            anyhow::bail!("--attach needs the Harper user's password: pass --password or set BLOBFAIL_PASSWORD");
        };
        backend::Choice::Attached(AttachOptions { nodes, named, user: a.user, password })
    } else {
        let l = args.local;
        if !(l.start_timeout.is_finite() && l.start_timeout > 0.0 && l.start_timeout <= 3600.0) {
            anyhow::bail!("--start-timeout must be between 0 and 3600 seconds, got {}", l.start_timeout);
        }
        if let Some(ips) = &l.addresses {
            if ips.len() != 2 || ips[0] == ips[1] {
                anyhow::bail!(
                    "--addresses needs two different loopback addresses (node A's, node B's), e.g. 127.0.0.20,127.0.0.21"
                );
            }
        }
        backend::Choice::Local(LocalOptions {
            harper: l.harper,
            harper_version: l.harper_version,
            shim: l.shim,
            keep: l.keep,
            b_settings: l.b_setting,
            cluster: cluster::Options {
                addresses: l.addresses,
                start_timeout: Duration::from_secs_f64(l.start_timeout),
                root_cache: !l.no_root_cache,
            },
        })
    };
    let out = runner::prepare_out(args.common.out.as_deref(), &what)?;
    Ok(Request {
        scenarios: chosen,
        backend,
        seed: args.common.seed.unwrap_or_else(rand::random),
        args: args.scenarios,
        out,
        out_is_default: args.common.out.is_none(),
        junit: args.common.junit,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// clap's own consistency checks (unique ids and groups, valid
    /// defaults). clap compiles them only with debug assertions, so they
    /// bite in `cargo test` without `--release`.
    #[test]
    fn the_command_line_passes_clap_s_own_checks() {
        Cli::command().debug_assert();
    }

    fn refusal(args: &[&str]) -> String {
        let m = Cli::command().try_get_matches_from(args).unwrap();
        let Command::Run(run) = Cli::from_arg_matches(&m).unwrap().command else { panic!("not run") };
        request(run, &m).err().map(|e| e.to_string()).unwrap_or_default()
    }

    #[test]
    fn the_cli_parses_the_readme_commands() {
        Cli::command().debug_assert();
        let cli = Cli::try_parse_from(["blobfail", "run", "blob-save", "--interval", "3", "--requests", "60"]).unwrap();
        let Command::Run(args) = cli.command else { panic!("not run") };
        let b = &args.scenarios.blob_save;
        assert_eq!((args.scenario.as_str(), b.interval, b.requests, b.concurrency), ("blob-save", 3, 60, 20));
        assert_eq!(args.scenarios.backlog_memory.rss_limit, 1536 * 1024 * 1024);
        assert!(Cli::try_parse_from(["blobfail", "run", "all", "--interval", "0"]).is_err());
    }

    #[test]
    fn an_option_that_does_not_apply_is_refused_with_one_line() {
        let attach = ["blobfail", "run", "blob-save", "--attach", "--node-a", "http://a:9925", "--node-b", "http://b:9925"];
        let with = |extra: &[&'static str]| -> Vec<&'static str> { attach.iter().chain(extra).copied().collect() };
        assert_eq!(
            refusal(&with(&["--interval", "3"])),
            "--interval does not apply with --attach: on an attached cluster, node B's own environment arms the shim \
             (HARPER_TEST_BLOB_FAIL_INTERVAL)"
        );
        assert_eq!(
            refusal(&with(&["--keep"])),
            "--keep does not apply with --attach: blobfail does not run the attached cluster's nodes"
        );
        assert_eq!(
            refusal(&["blobfail", "run", "blob-save", "--node-a", "http://a:9925"]),
            "--node-a applies with --attach only (to reach an existing cluster)"
        );
        assert_eq!(
            refusal(&["blobfail", "run", "blob-save", "--transactions", "3"]),
            "--transactions does not apply to blob-save: it is an option of backlog-memory"
        );
        assert_eq!(
            refusal(&["blobfail", "run", "backlog-memory", "--requests", "3"]),
            "--requests does not apply to backlog-memory: it is an option of blob-save, crash-recovery, corrupt-blob and fault-heal"
        );
        assert_eq!(
            refusal(&["blobfail", "run", "backlog-memory", "--attach", "--node-a", "http://a:9925", "--node-b", "http://b:9925"]),
            "--attach runs blob-save only: backlog-memory cannot run attached (it stops and restarts node B, which needs nodes this run started)"
        );
        assert_eq!(
            refusal(&with(&["--cut-replication"])),
            "--cut-replication does not apply with --attach: blobfail cuts the replication of nodes it runs only, \
             never of a cluster it was pointed at"
        );
        assert_eq!(
            refusal(&with(&["--b-setting", "THREADS_MAXHEAPMEMORY=64"])),
            "--b-setting does not apply with --attach: blobfail does not run the attached cluster's nodes"
        );
        assert_eq!(
            refusal(&["blobfail", "run", "backlog-memory", "--cut-replication"]),
            "--cut-replication does not apply to backlog-memory: it is an option of blob-save"
        );
    }

    #[test]
    fn a_setting_for_node_b_is_key_equals_value_and_never_one_the_run_sets() {
        let kv = |k: &str, v: &str| Ok((k.to_string(), v.to_string()));
        assert_eq!(parse_setting("THREADS_MAXHEAPMEMORY=64"), kv("THREADS_MAXHEAPMEMORY", "64"));
        assert_eq!(parse_setting("threads_maxHeapMemory=64"), kv("THREADS_MAXHEAPMEMORY", "64"));
        assert_eq!(parse_setting("LOGGING_LEVEL=debug=x"), kv("LOGGING_LEVEL", "debug=x"));
        assert_eq!(parse_setting("THREADS_MAXHEAPMEMORY"), Err("\"THREADS_MAXHEAPMEMORY\" is not KEY=VALUE (e.g. THREADS_MAXHEAPMEMORY=64)".into()));
        assert_eq!(parse_setting("THREADS_MAXHEAPMEMORY="), Err("THREADS_MAXHEAPMEMORY has no value (e.g. THREADS_MAXHEAPMEMORY=64)".into()));
        assert!(parse_setting("THREADS MAX=1").unwrap_err().contains("is not a Harper setting name"));
        // The run's own: every listener's address, the root, the credentials.
        for port in crate::ports::PORTS {
            assert_eq!(
                parse_setting(&format!("{}=127.0.0.9:1", port.install_flag)),
                Err(format!("{} is set by blobfail itself (each node's address, root and credentials are the run's)", port.install_flag))
            );
        }
        assert!(parse_setting("rootpath=/tmp/x").unwrap_err().starts_with("ROOTPATH is set by blobfail itself"));
        let cli = Cli::try_parse_from(["blobfail", "run", "backlog-memory", "--b-setting", "THREADS_MAXHEAPMEMORY=64", "--b-setting", "LOGGING_LEVEL=debug"]).unwrap();
        let Command::Run(args) = cli.command else { panic!("not run") };
        assert_eq!(args.local.b_setting, [kv("THREADS_MAXHEAPMEMORY", "64").unwrap(), kv("LOGGING_LEVEL", "debug").unwrap()]);
    }
}
