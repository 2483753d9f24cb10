//! The cluster a scenario runs against, one of two kinds. *Local*: Harper
//! installed and two nodes provisioned, started, joined and supervised by
//! this run, and torn down on every path. *Attached*: an existing cluster
//! reached through its operations API and REST only. Scenarios are written
//! once against `Backend`; what differs is what it offers: where node B's
//! log comes from (a file, or `read_log` from B's own clock at the start of
//! the run), whether B's files (the shim's fault log and exit summary) are
//! reachable, the namespace of the run's record ids, and the lifecycle.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Result;
use serde_json::{json, Value};

use crate::api::NodeApi;
use crate::cluster::{self, Cluster, NodeSetup, NodeSpec};
use crate::harper_log::{parse_log, LogEntry};
use crate::events::Events;
use crate::journal::Phases;
use crate::model::Halt;
use crate::topology::Topology;

mod attached;
pub use attached::{AttachNode, AttachOptions, Attached};
use attached::read_log_since;

/// The kinds of backend, as the command line chooses them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Local,
    Attached,
}

/// What a local run needs to stand up its cluster.
#[derive(Debug, Clone)]
pub struct LocalOptions {
    pub harper: Option<PathBuf>,
    pub harper_version: String,
    pub shim: Option<PathBuf>,
    pub keep: bool,
    /// Harper install settings for node B only (`--b-setting KEY=VALUE`).
    pub b_settings: Vec<(String, String)>,
    pub cluster: cluster::Options,
}

/// Which backend the command line chose, with its options.
#[derive(Debug, Clone)]
pub enum Choice {
    Local(LocalOptions),
    Attached(AttachOptions),
}

impl Choice {
    pub fn kind(&self) -> Kind {
        match self {
            Choice::Local(_) => Kind::Local,
            Choice::Attached(_) => Kind::Attached,
        }
    }
}

/// Phases a backend's setup and teardown go through, with the words a
/// person reads in the time summary.
pub const PHASES: [(&str, &str); 5] =
    [("install", "harper package"), ("provision", "node setup"), ("start", "install and start"), ("join", "join"), ("attach", "attach")];

/// A cluster to run a scenario against.
pub enum Backend {
    Local(Box<Cluster>),
    Attached(Box<Attached>),
}

/// Node B's log as the backend can read it.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub enum NodeLog {
    /// B's `hdb.log`, read whole; `unseen` says why the checks cannot see
    /// through it (missing, unreadable, no start line), with its path.
    File { path: PathBuf, entries: Vec<LogEntry>, unseen: Option<String> },
    /// B's log through `read_log` since the run began (`source` says so).
    Remote { source: String, entries: Result<Vec<LogEntry>, String> },
}

impl NodeLog {
    /// The entries of `later` (a later read of the same log) that are not in this one.
    pub fn since(&self, later: &NodeLog) -> Vec<LogEntry> {
        match (self, later) {
            (NodeLog::File { entries: before, .. }, NodeLog::File { entries: after, .. }) => {
                let last = before.last().map_or(0, |e| e.line);
                after.iter().filter(|e| e.line > last).cloned().collect()
            }
            (NodeLog::Remote { entries: Ok(before), .. }, NodeLog::Remote { entries: Ok(after), .. }) => {
                let seen: std::collections::BTreeSet<&str> = before.iter().map(|e| e.text.as_str()).collect();
                after.iter().filter(|e| !seen.contains(e.text.as_str())).cloned().collect()
            }
            _ => Vec::new(),
        }
    }

    /// Where the log was read: the file, or how it was read remotely.
    pub fn source_path(&self) -> &Path {
        match self {
            NodeLog::File { path, .. } => path,
            NodeLog::Remote { source, .. } => Path::new(source.as_str()),
        }
    }
}

/// Reads node B's log once it has been quiet for a moment (bounded).
pub enum LogReader {
    File(PathBuf),
    Remote { b: NodeApi, since: String },
}

impl LogReader {
    /// The log, once its length held still for `quiet` (at most 10 s).
    pub async fn read(&self, quiet: Duration) -> NodeLog {
        let bound = Duration::from_secs(10);
        match self {
            LogReader::File(path) => {
                wait_quiet(bound, quiet, || {
                    let len = std::fs::metadata(path).map(|m| m.len() as usize).ok();
                    async move { len }
                })
                .await;
                let (entries, unseen) = match crate::harper_log::read_node_log(path) {
                    Ok(text) => (parse_log(&text), None),
                    Err(why) => (Vec::new(), Some(why)),
                };
                NodeLog::File { entries, path: path.clone(), unseen }
            }
            LogReader::Remote { b, since } => {
                wait_quiet(bound, quiet, || async { read_log_since(b, Some(since)).await.ok().map(|e| e.len()) }).await;
                NodeLog::Remote {
                    source: format!("node B's log (read_log on {})", b.ops_url()),
                    entries: read_log_since(b, Some(since)).await.map_err(|e| format!("{e:#}")),
                }
            }
        }
    }
}

/// The report's description of the cluster the scenario ran on.
pub struct Described {
    pub harper: Value,
    pub nodes: Vec<Value>,
    pub teardown: Vec<Value>,
    pub note: Option<String>,
}

impl Backend {
    /// A local cluster of the nodes `setups` describe: Harper found or
    /// installed, the nodes provisioned, started, and joined as `topology`
    /// says (each joiner to its target, in order).
    pub async fn local(
        opts: &LocalOptions,
        topology: &Topology,
        setups: &[NodeSetup],
        out: &std::path::Path,
        phases: &mut Phases,
        events: &Events,
    ) -> Result<Backend> {
        let harper =
            phases.time("install", cluster::resolve_harper(opts.harper.as_deref(), &opts.harper_version, events)).await?;
        // The user's settings for B come after the scenario's, so they win.
        let setups: Vec<NodeSetup> = setups
            .iter()
            .cloned()
            .map(|mut s| {
                if s.name.as_str() == "b" {
                    s.install_args.extend(opts.b_settings.iter().cloned());
                }
                s
            })
            .collect();
        let mut cluster =
            phases.time("provision", Cluster::provision(harper, out, &setups, &opts.cluster, events)).await?;
        let names: Vec<&str> = setups.iter().map(|s| s.name.as_str()).collect();
        phases.time("start", cluster.start(&names, events)).await?;
        let joins = async {
            for (joiner, target) in &topology.joins {
                cluster.join(joiner, target, events).await?;
            }
            anyhow::Ok(())
        };
        phases.time("join", joins).await?;
        Ok(Backend::Local(Box::new(cluster)))
    }

    /// An existing cluster, checked to hold `table` on every node given;
    /// B's clock read to mark where the run's part of its log begins.
    pub async fn attach(
        opts: &AttachOptions,
        scenario: &str,
        table: &str,
        phases: &mut Phases,
        events: &Events,
    ) -> Result<Backend> {
        Ok(Backend::Attached(Box::new(Attached::reach(opts, scenario, table, phases, events).await?)))
    }

    /// The local cluster, for what only a local run can do (stop and
    /// restart a node, read its files).
    pub fn cluster(&mut self) -> Option<&mut Cluster> {
        match self {
            Backend::Local(c) => Some(c),
            Backend::Attached(_) => None,
        }
    }

    /// The named node's operations API and REST client.
    pub fn api(&self, name: &str) -> NodeApi {
        match self {
            Backend::Local(c) => c.api(name),
            Backend::Attached(a) => a.api(name),
        }
    }

    /// Where a node run here keeps its files; `None` for an attached one.
    pub fn files_of(&self, name: &str) -> Option<NodeSpec> {
        match self {
            Backend::Local(c) => Some(c.node(name).spec().clone()),
            Backend::Attached(_) => None,
        }
    }

    /// How node B's `cluster_status` names node A.
    pub fn name_of_a(&self) -> String {
        match self {
            Backend::Local(c) => c.node("a").spec().ip.to_string(),
            Backend::Attached(a) => a.a_name().to_string(),
        }
    }

    /// Where this run's record ids start (0 locally: the cluster is its own).
    pub fn id_base(&self) -> u64 {
        match self {
            Backend::Local(_) => 0,
            Backend::Attached(a) => a.id_base(),
        }
    }

    /// Runs `fut` while watching the nodes (locally: a node stopped from
    /// outside ends it at once with that `Halt`).
    pub async fn supervise<T>(&mut self, fut: impl std::future::Future<Output = T>) -> Result<T> {
        match self {
            Backend::Local(c) => c.supervise(fut).await,
            Backend::Attached(_) => Ok(fut.await),
        }
    }

    /// An error naming the first node that has died (a local run's only).
    pub fn check_alive(&mut self) -> Result<()> {
        match self {
            Backend::Local(c) => c.check_alive(),
            Backend::Attached(_) => Ok(()),
        }
    }

    /// An error if a node was stopped from outside the run (local only).
    pub fn check_outside(&mut self) -> Result<()> {
        match self {
            Backend::Local(c) => c.check_outside(),
            Backend::Attached(_) => Ok(()),
        }
    }

    /// How the named node ended, if it did without blobfail stopping it.
    pub fn end(&mut self, name: &str) -> Option<Halt> {
        self.cluster().and_then(|c| c.end(name))
    }

    /// A sentence saying how the named node died, if it did on its own.
    pub fn death(&mut self, name: &str) -> Option<String> {
        self.cluster().and_then(|c| c.death(name))
    }

    /// Node B's log, once it has stopped growing (at most 10 s): B may still
    /// be logging the last failures when its count already matches A's.
    /// A reader of node B's log that does not hold the backend, to read it
    /// again while the backend supervises (blob-save reads it before and
    /// after its reads of damaged records).
    pub fn log_reader(&self, node: &str) -> LogReader {
        match self {
            Backend::Local(c) => LogReader::File(c.node(node).spec().hdb_log.clone()),
            Backend::Attached(a) => a.log_reader(node),
        }
    }

    /// Stops what this run started (unless `keep`), saying so; an attached
    /// cluster is left as it is.
    pub async fn teardown(&mut self, keep: bool, events: &Events) {
        if let Backend::Local(c) = self {
            if !keep {
                let step = events.step("stopping the cluster");
                c.teardown().await;
                step.finish(
                    &c.stops()
                        .iter()
                        .map(|s| format!("node {} {} ({}, {:.1} s)", s.node, s.exit, s.signal, s.seconds))
                        .collect::<Vec<_>>()
                        .join(", "),
                );
            }
        }
    }

    /// The cluster as the report describes it. Called when the scenario
    /// has succeeded: with `keep`, only now is a local cluster left running.
    pub fn describe(&mut self, keep: bool) -> Described {
        match self {
            Backend::Local(c) => {
                if keep {
                    c.keep();
                }
                Described {
                    harper: json!(c.harper()),
                    nodes: c.describe_nodes(),
                    teardown: c.stops().iter().map(|s| json!(s)).collect(),
                    note: keep.then(|| c.keep_instructions()),
                }
            }
            Backend::Attached(a) => {
                Described { harper: json!({"attached": true}), nodes: a.describe_nodes(), teardown: vec![], note: None }
            }
        }
    }

    /// The human report's heading, when it is more than the scenario's name.
    pub fn title(&self, scenario: &str) -> Option<String> {
        match self {
            Backend::Local(_) => None,
            Backend::Attached(a) => Some(a.title(scenario)),
        }
    }

    /// Figures only this backend has.
    pub fn figures(&self) -> Vec<(&'static str, Value)> {
        match self {
            Backend::Local(_) => vec![],
            Backend::Attached(a) => a.figures(),
        }
    }
}

/// Polls `measure` every 100 ms until it has not changed for `quiet`, at
/// most `bound`.
async fn wait_quiet<F, Fut>(bound: Duration, quiet: Duration, measure: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Option<usize>>,
{
    let start = Instant::now();
    let mut last = None;
    let mut since = Instant::now();
    while start.elapsed() < bound {
        let now = measure().await;
        if now != last {
            last = now;
            since = Instant::now();
        } else if since.elapsed() >= quiet {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
