//! The attached backend: an existing cluster reached through its
//! operations API and REST only, one API per named node (`--node a=URL
//! --node b=URL …`, or `--node-a` and `--node-b`). Node a serves the load,
//! node b runs with the shim preloaded (by whoever runs the cluster), and
//! any further node (c to e) is judged as an unfaulted peer, as in a local
//! `--nodes 3 --faulted b` run.

use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use serde_json::{json, Value};

use super::LogReader;
use crate::api::{shorten, NodeApi, OPS_PORT, REST_PORT};
use crate::harper_log::{entry_of, log_timestamp, LogEntry};
use crate::events::{Event, Events};
use crate::journal::Phases;
use crate::topology::{NodeId, Topology};

/// One node of an attached cluster, as the command line names it.
#[derive(Debug, Clone)]
pub struct AttachNode {
    pub name: NodeId,
    /// Its operations API URL.
    pub ops: String,
    /// Its REST URL (derived from the operations URL when not given).
    pub rest: Option<String>,
}

/// How to reach an attached cluster.
#[derive(Debug, Clone)]
pub struct AttachOptions {
    /// The nodes, a first, then b (the faulted one), then any others, by name.
    pub nodes: Vec<AttachNode>,
    /// Whether they were named with `--node NAME=URL` (else `--node-a`,
    /// `--node-b`): the flag an error about one of them names.
    pub named: bool,
    pub user: String,
    pub password: String,
}

impl AttachOptions {
    /// The nodes as a topology: every node joined to a, b faulted (the
    /// shim is preloaded into B by whoever runs the cluster), any other an
    /// unfaulted peer.
    pub fn topology(&self) -> Topology {
        let nodes: Vec<NodeId> = self.nodes.iter().map(|n| n.name.clone()).collect();
        let joins = nodes[1..].iter().map(|n| (n.clone(), nodes[0].clone())).collect();
        Topology { nodes, joins, faulted: vec![NodeId::nth(1)] }
    }

    /// The flags that give node `n`'s operations and REST URLs, as given.
    fn flags(&self, n: &str) -> (String, String) {
        if self.named {
            (format!("--node {n}="), format!("--rest {n}=URL"))
        } else {
            (format!("--node-{n} "), format!("--rest-{n} URL"))
        }
    }
}

/// An attached node: its API and what it said of itself at attach.
struct Node {
    api: NodeApi,
    system: Value,
}

/// An existing cluster, as attach mode sees it.
pub struct Attached {
    /// a first, then b, then any others.
    nodes: Vec<Node>,
    /// A's own name, as B's cluster_status lists it.
    a_name: String,
    /// B's clock when the run began: the start of the window of B's log
    /// this run owns.
    since: String,
    /// The run's record ids start here, so they are its own.
    id_base: u64,
    /// Each node's name and operations URL as given, for the report's heading.
    given: Vec<(String, String)>,
}

impl Attached {
    /// An existing cluster, checked to hold `table` on every node given;
    /// B's clock read to mark where the run's part of its log begins.
    pub async fn reach(
        opts: &AttachOptions,
        scenario: &str,
        table: &str,
        phases: &mut Phases,
        events: &Events,
    ) -> Result<Attached> {
        let mut apis = Vec::new();
        for n in &opts.nodes {
            let (ops_flag, rest_flag) = opts.flags(&n.name);
            let rest = match &n.rest {
                Some(u) => u.clone(),
                None => derive_rest_url_for(&n.ops, &n.name, &ops_flag, &rest_flag)?,
            };
            apis.push(NodeApi::at(&n.name, &n.ops, &rest, &opts.user, &opts.password)?);
        }
        let (a, b) = (&apis[0], &apis[1]);
        events.emit(Event::Title(title(scenario, &opts.nodes.iter().map(|n| (n.name.as_str(), n.ops.as_str())).collect::<Vec<_>>())));
        events.emit(Event::Harper(json!({"attached": true})));
        let each: Vec<String> = apis.iter().map(|api| format!("node {} ({})", api.name, api.ops_url())).collect();
        let step = events.step(&format!("attaching to {}", crate::text::and_list(&each.iter().map(String::as_str).collect::<Vec<_>>())));
        phases.enter("attach");
        let start = Instant::now();
        let counts = futures::future::join_all(apis.iter().map(|api| table_present(api, table))).await;
        let counts = counts.into_iter().collect::<Result<Vec<u64>>>()?;
        let systems = futures::future::join_all(apis.iter().map(system)).await;
        let a_name = a
            .cluster_status()
            .await
            .ok()
            .and_then(|s| s.get("node_name").and_then(Value::as_str).map(str::to_string))
            .or_else(|| reqwest::Url::parse(&opts.nodes[0].ops).ok().and_then(|u| u.host_str().map(str::to_string)))
            .unwrap_or_default();
        // The window of B's log this run owns: entries stamped after B's clock
        // now (B's own clock, so skew between hosts does not matter).
        let since = b_clock(b).await?;
        read_log_since(b, Some(&since)).await.context("reading node B's log with read_log")?;
        phases.record("attach", start.elapsed());
        let on = if apis.len() == 2 { "both".to_string() } else { format!("all {}", apis.len()) };
        let each: Vec<String> =
            apis.iter().zip(&counts).enumerate().map(|(i, (api, c))| format!("{} {c}{}", api.name.to_uppercase(), if i == 0 { " records" } else { "" })).collect();
        step.finish(&format!("{table} on {on} ({}); A is {a_name:?}", each.join(", ")));
        // Ids of this run only: an existing cluster already holds earlier
        // runs' records, and a GET of one of those would write no blob at all.
        let id_base =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0) * 1000;
        let nodes = apis.into_iter().zip(systems).map(|(api, system)| Node { api, system }).collect();
        let given = opts.nodes.iter().map(|n| (n.name.to_string(), n.ops.clone())).collect();
        let attached = Attached { nodes, a_name, since, id_base, given };
        events.emit(Event::Nodes(attached.describe_nodes()));
        Ok(attached)
    }

    fn node(&self, name: &str) -> &Node {
        self.nodes.iter().find(|n| n.api.name == name).unwrap_or_else(|| panic!("internal error: node {name} was not attached"))
    }

    /// The named node's operations API and REST client.
    pub fn api(&self, name: &str) -> NodeApi {
        self.node(name).api.clone()
    }

    /// How node B's `cluster_status` names node A.
    pub fn a_name(&self) -> &str {
        &self.a_name
    }

    pub fn id_base(&self) -> u64 {
        self.id_base
    }

    /// A reader of the named node's log through `read_log`, from B's clock
    /// at attach (the faulted node's: the only one whose log is judged).
    pub fn log_reader(&self, node: &str) -> LogReader {
        LogReader::Remote { b: self.api(node), since: self.since.clone() }
    }

    /// `blob-save (attached: A url, B url)`.
    pub fn title(&self, scenario: &str) -> String {
        title(scenario, &self.given.iter().map(|(n, u)| (n.as_str(), u.as_str())).collect::<Vec<_>>())
    }

    /// Figures only an attached run has.
    pub fn figures(&self) -> Vec<(&'static str, Value)> {
        let mut f = vec![("id_base", json!(self.id_base))];
        if let Some(rss) = self.nodes[1].system.pointer("/memory/rss") {
            f.push(("b_rss_bytes_at_attach", rss.clone()));
        }
        f
    }

    pub fn describe_nodes(&self) -> Vec<Value> {
        self.nodes
            .iter()
            .map(|n| {
                let api = &n.api;
                json!({"name": api.name, "ops_url": api.ops_url(), "rest_url": api.rest_url(""), "system": n.system.get("system")})
            })
            .collect()
    }
}

/// The report's heading: `blob-save (attached: A url, B url)`.
fn title(scenario: &str, nodes: &[(&str, &str)]) -> String {
    let each: Vec<String> = nodes.iter().map(|(n, u)| format!("{} {u}", n.to_uppercase())).collect();
    format!("{scenario} (attached: {})", each.join(", "))
}

/// The REST URL of a node whose operations API is `ops`: the same scheme
/// and host on port 9926, when the operations API is on Harper's default
/// 9925; its errors name the flags the node was given with.
fn derive_rest_url_for(ops: &str, node: &str, ops_flag: &str, rest_flag: &str) -> Result<String> {
    let mut url = reqwest::Url::parse(ops).with_context(|| format!("{ops_flag}{ops:?} is not a URL like http://host:9925"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        bail!("{ops_flag}{ops:?} is not an http(s) URL like http://host:9925");
    }
    if url.port_or_known_default() != Some(OPS_PORT) {
        bail!("cannot derive node {node}'s REST URL from {ops} (its operations API is not on port {OPS_PORT}): pass {rest_flag}");
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
pub(super) async fn read_log_since(b: &NodeApi, since: Option<&str>) -> Result<Vec<LogEntry>> {
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

    fn derive_rest_url(ops: &str, node: &str) -> Result<String> {
        derive_rest_url_for(ops, node, &format!("--node-{node} "), &format!("--rest-{node} URL"))
    }

    #[test]
    fn the_rest_url_is_derived_from_the_default_operations_port_only() {
        assert_eq!(derive_rest_url("http://127.0.0.3:9925", "b").unwrap(), "http://127.0.0.3:9926/");
        assert_eq!(derive_rest_url("https://db.example:9925/", "a").unwrap(), "https://db.example:9926/");
        let e = derive_rest_url("http://db.example:8080", "a").unwrap_err().to_string();
        assert!(e.contains("pass --rest-a URL"), "{e}");
        let e = derive_rest_url_for("http://db.example:8080", "c", "--node c=", "--rest c=URL").unwrap_err().to_string();
        assert_eq!(e, "cannot derive node c's REST URL from http://db.example:8080 (its operations API is not on port 9925): pass --rest c=URL");
        let e = derive_rest_url_for("db", "c", "--node c=", "--rest c=URL").unwrap_err().to_string();
        assert_eq!(e, "--node c=\"db\" is not a URL like http://host:9925");
        assert!(derive_rest_url("db.example:9925", "a").is_err());
    }
}

