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

use anyhow::{anyhow, bail, Context, Result};
use serde_json::{json, Value};

use crate::api::{shorten, NodeApi, OPS_PORT, REST_PORT};
use crate::cluster::{self, Cluster, NodeSetup, NodeSpec};
use crate::harper_log::{entry_of, log_timestamp, parse_log, LogEntry};
use crate::events::{Event, Events};
use crate::journal::Phases;
use crate::model::Halt;
use crate::topology::Topology;

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

/// How to reach an attached cluster.
#[derive(Debug, Clone)]
pub struct AttachOptions {
    /// Operations API URLs of A (serves the load) and B (the faulted node).
    pub ops_a: String,
    pub ops_b: String,
    /// REST URLs (derived from the operations URLs when not given).
    pub rest_a: Option<String>,
    pub rest_b: Option<String>,
    pub user: String,
    pub password: String,
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

/// An existing cluster, as attach mode sees it.
pub struct Attached {
    a: NodeApi,
    b: NodeApi,
    system_a: Value,
    system_b: Value,
    /// A's own name, as B's cluster_status lists it.
    a_name: String,
    /// B's clock when the run began: the start of the window of B's log
    /// this run owns.
    since: String,
    /// The run's record ids start here, so they are its own.
    id_base: u64,
    /// The operations URLs as given, for the report's heading.
    given: (String, String),
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

    /// An existing cluster, checked to hold `table` on both nodes; B's clock
    /// read to mark where the run's part of its log begins.
    pub async fn attach(
        opts: &AttachOptions,
        scenario: &str,
        table: &str,
        phases: &mut Phases,
        events: &Events,
    ) -> Result<Backend> {
        let rest_a = match &opts.rest_a {
            Some(u) => u.clone(),
            None => derive_rest_url(&opts.ops_a, "a")?,
        };
        let rest_b = match &opts.rest_b {
            Some(u) => u.clone(),
            None => derive_rest_url(&opts.ops_b, "b")?,
        };
        let a = NodeApi::at("a", &opts.ops_a, &rest_a, &opts.user, &opts.password)?;
        let b = NodeApi::at("b", &opts.ops_b, &rest_b, &opts.user, &opts.password)?;
        events.emit(Event::Title(format!("{scenario} (attached: A {}, B {})", opts.ops_a, opts.ops_b)));
        events.emit(Event::Harper(json!({"attached": true})));
        let step = events.step(&format!("attaching to node a ({}) and node b ({})", a.ops_url(), b.ops_url()));
        phases.enter("attach");
        let start = Instant::now();
        let (count_a, count_b) = tokio::join!(table_present(&a, table), table_present(&b, table));
        let (count_a, count_b) = (count_a?, count_b?);
        let (system_a, system_b) = tokio::join!(system(&a), system(&b));
        let a_name = a
            .cluster_status()
            .await
            .ok()
            .and_then(|s| s.get("node_name").and_then(Value::as_str).map(str::to_string))
            .or_else(|| reqwest::Url::parse(&opts.ops_a).ok().and_then(|u| u.host_str().map(str::to_string)))
            .unwrap_or_default();
        // The window of B's log this run owns: entries stamped after B's clock
        // now (B's own clock, so skew between hosts does not matter).
        let since = b_clock(&b).await?;
        read_log_since(&b, Some(&since)).await.context("reading node B's log with read_log")?;
        phases.record("attach", start.elapsed());
        step.finish(&format!("{table} on both (A {count_a} records, B {count_b}); A is {a_name:?}"));
        // Ids of this run only: an existing cluster already holds earlier
        // runs' records, and a GET of one of those would write no blob at all.
        let id_base =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0) * 1000;
        let given = (opts.ops_a.clone(), opts.ops_b.clone());
        let attached = Attached { a, b, system_a, system_b, a_name, since, id_base, given };
        events.emit(Event::Nodes(attached.describe_nodes()));
        Ok(Backend::Attached(Box::new(attached)))
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
            Backend::Attached(a) => if name == "a" { &a.a } else { &a.b }.clone(),
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
            Backend::Attached(a) => a.a_name.clone(),
        }
    }

    /// Where this run's record ids start (0 locally: the cluster is its own).
    pub fn id_base(&self) -> u64 {
        match self {
            Backend::Local(_) => 0,
            Backend::Attached(a) => a.id_base,
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
            Backend::Attached(a) => LogReader::Remote { b: a.b.clone(), since: a.since.clone() },
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
            Backend::Attached(a) => Some(format!("{scenario} (attached: A {}, B {})", a.given.0, a.given.1)),
        }
    }

    /// Figures only this backend has.
    pub fn figures(&self) -> Vec<(&'static str, Value)> {
        match self {
            Backend::Local(_) => vec![],
            Backend::Attached(a) => {
                let mut f = vec![("id_base", json!(a.id_base))];
                if let Some(rss) = a.system_b.pointer("/memory/rss") {
                    f.push(("b_rss_bytes_at_attach", rss.clone()));
                }
                f
            }
        }
    }
}

impl Attached {
    fn describe_nodes(&self) -> Vec<Value> {
        let node = |api: &NodeApi, sys: &Value| {
            json!({"name": api.name, "ops_url": api.ops_url(), "rest_url": api.rest_url(""), "system": sys.get("system")})
        };
        vec![node(&self.a, &self.system_a), node(&self.b, &self.system_b)]
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

/// The REST URL of a node whose operations API is `ops`: the same scheme
/// and host on port 9926, when the operations API is on Harper's default 9925.
pub fn derive_rest_url(ops: &str, node: &str) -> Result<String> {
    let mut url = reqwest::Url::parse(ops).with_context(|| format!("--node-{node} {ops:?} is not a URL like http://host:9925"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        bail!("--node-{node} {ops:?} is not an http(s) URL like http://host:9925");
    }
    if url.port_or_known_default() != Some(OPS_PORT) {
        bail!("cannot derive node {node}'s REST URL from {ops} (its operations API is not on port {OPS_PORT}): pass --rest-{node} URL");
    }
    url.set_port(Some(REST_PORT)).map_err(|_| anyhow!("cannot set a port on {ops}"))?;
    url.set_path("/");
    Ok(url.to_string())
}

/// `describe_table` of the scenario's table: its record count, or a one-line
/// error saying what to deploy when the table is not there.
async fn table_present(api: &NodeApi, table: &str) -> Result<u64> {
    match api.record_count(table).await {
        Ok(n) => Ok(n),
        Err(e) => {
            let msg = format!("{e:#}");
            if msg.contains("does not exist") || msg.contains("not found") {
                bail!(
                    "node {} ({}) has no table data.{table}: deploy the blobfail component on both nodes \
                     (`blobfail component --out DIR` writes it; copy DIR to <harper root>/components/blobfail/ and restart Harper)",
                    api.name,
                    api.ops_url()
                )
            }
            let hint = if msg.contains("401") { " (check --user and --password, or BLOBFAIL_USER and BLOBFAIL_PASSWORD)" } else { "" };
            bail!("node {} ({}) did not answer describe_table: {}{hint}", api.name, api.ops_url(), shorten(&msg, 300))
        }
    }
}

/// `system_information` (platform and memory); an error object when it
/// fails, since it only adds context.
async fn system(api: &NodeApi) -> Value {
    api.op(json!({"operation":"system_information","attributes":["system","memory"]}), Duration::from_secs(10))
        .await
        .unwrap_or_else(|e| json!({"error": format!("{e:#}")}))
}

/// B's clock now, as a log timestamp (`system_information`'s `time.current`,
/// milliseconds since the epoch). Not `read_log` with `order: desc, limit: 1`:
/// on 4.7.29 that answers the first entry of a tail chunk of the file, not
/// the newest one (verified).
async fn b_clock(b: &NodeApi) -> Result<String> {
    let v = b
        .op(json!({"operation":"system_information","attributes":["time"]}), Duration::from_secs(10))
        .await
        .context("asking node B for its clock")?;
    let ms = v
        .pointer("/time/current")
        .and_then(Value::as_u64)
        .ok_or_else(|| anyhow!("node B's system_information has no time.current: {}", shorten(&v.to_string(), 200)))?;
    Ok(log_timestamp(ms))
}

/// Every entry of B's log after `since` (all of it without), a page of 1000
/// at a time. `read_log`'s `from` is inclusive, so entries stamped exactly
/// `since` (from before the run) are dropped.
async fn read_log_since(b: &NodeApi, since: Option<&str>) -> Result<Vec<LogEntry>> {
    const PAGE: usize = 1000;
    const MAX_PAGES: usize = 100;
    let mut entries = Vec::new();
    for page in 0..MAX_PAGES {
        let mut body = json!({"operation":"read_log","limit":PAGE,"start":page * PAGE});
        if let Some(s) = since {
            body["from"] = json!(s);
        }
        let v = b.op(body, Duration::from_secs(30)).await?;
        let rows = v.as_array().ok_or_else(|| anyhow!("read_log did not answer a list: {}", shorten(&v.to_string(), 200)))?;
        entries.extend(rows.iter().filter_map(entry_of).filter(|(ts, _)| since.is_none_or(|s| ts.as_str() > s)).map(|(_, e)| e));
        if rows.len() < PAGE {
            return Ok(entries);
        }
    }
    bail!("node B's log holds more than {} entries since the run began", PAGE * MAX_PAGES)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rest_url_is_derived_from_the_default_operations_port_only() {
        assert_eq!(derive_rest_url("http://127.0.0.3:9925", "b").unwrap(), "http://127.0.0.3:9926/");
        assert_eq!(derive_rest_url("https://db.example:9925/", "a").unwrap(), "https://db.example:9926/");
        let e = derive_rest_url("http://db.example:8080", "a").unwrap_err().to_string();
        assert!(e.contains("pass --rest-a URL"), "{e}");
        assert!(derive_rest_url("db.example:9925", "a").is_err());
    }
}
