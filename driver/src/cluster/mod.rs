//! The Harper cluster, as a local backend runs it: nodes provisioned here
//! (addresses, roots, HOMEs, the component), installed and started each in its own
//! process group, joined, watched, and torn down on every path.
//!
//! Its parts: `harper` (getting Harper), `install` (a node's install
//! settings and folders), `address`
//! (reserving loopback addresses; the table of node ports), `node` (one
//! node process and how it ended), `root_cache` (each node's installed
//! root, cached and copied for the next run).

pub mod address;
pub mod harper;
pub mod install;
pub mod node;
pub mod root_cache;

use std::net::Ipv4Addr;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

use crate::api::NodeApi;
use crate::events::{Event, Events};
use crate::model::Halt;
use crate::topology::NodeId;
use crate::ports::{OPS_PORT, REPLICATION_PORT, REST_PORT};
use address::{is_listening, reserve_addresses, reserve_pinned, ReservedAddress};
pub use harper::{resolve_harper, Harper};
pub use install::RESERVED_SETTINGS;
pub use node::{Node, NodeSpec, StopRecord};

const ADMIN_USER: &str = "admin";
/// How long a node gets to exit after SIGTERM before its group gets SIGKILL.
pub const STOP_GRACE: Duration = Duration::from_secs(10);

/// Where the nodes listen and how long they get to start.
#[derive(Debug, Clone)]
pub struct Options {
    /// Exactly these loopback addresses (`--addresses`), one per node, in
    /// order; none: free ones are picked.
    pub addresses: Option<Vec<Ipv4Addr>>,
    /// How long every node gets to answer its operations API after launch.
    pub start_timeout: Duration,
    /// Copy each node's installed root from the cache (`root_cache`)
    /// instead of letting Harper install it (`--no-root-cache` turns it off).
    pub root_cache: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options { addresses: None, start_timeout: Duration::from_secs(120), root_cache: true }
    }
}

/// What a scenario asks of one node before it is installed and started.
#[derive(Debug, Clone)]
pub struct NodeSetup {
    pub name: NodeId,
    /// Extra environment of the node's process (e.g. the fault plan on B).
    pub env: Vec<(String, String)>,
    /// Extra `harper install` settings (`KEY`, `value` for `--KEY=value`).
    pub install_args: Vec<(String, String)>,
}

impl NodeSetup {
    pub fn plain(name: impl Into<NodeId>) -> NodeSetup {
        NodeSetup { name: name.into(), env: Vec::new(), install_args: Vec::new() }
    }
}

/// Two (or more) nodes, each in its own process group. Dropping the cluster
/// stops every node it started unless `keep` was set: that is the guard that
/// makes teardown happen on errors, panics and Ctrl-C too.
pub struct Cluster {
    harper: Harper,
    nodes: Vec<Node>,
    password: String,
    keep: bool,
    stops: Vec<StopRecord>,
    start_timeout: Duration,
    /// Where installed roots are cached, unless the run turned it off.
    root_cache: Option<root_cache::RootCache>,
    /// The run's events: the Harper, the nodes and their stops (the journal keeps them for an interrupted run's report).
    events: Events,
    _addresses: Vec<ReservedAddress>,
}

impl Cluster {
    /// Reserves addresses and readies one node per name under
    /// `out/node-<name>` (folders and component); `start` installs it.
    pub async fn provision(
        harper: Harper,
        out: &Path,
        setups: &[NodeSetup],
        opts: &Options,
        events: &Events,
    ) -> Result<Cluster> {
        let names: Vec<&str> = setups.iter().map(|s| s.name.as_str()).collect();
        let addresses = match &opts.addresses {
            Some(ips) if ips.len() != names.len() => {
                bail!("--addresses needs {} addresses (one per node), got {}", names.len(), ips.len())
            }
            Some(ips) => reserve_pinned(ips)?,
            None => reserve_addresses(names.len())?,
        };
        // A cached root's admin has the cache's own password, so a run that
        // copies roots uses it; without the cache, a fresh one per run.
        let root_cache = if opts.root_cache { open_root_cache() } else { None };
        let password: String = match &root_cache {
            Some(c) => c.password().to_string(),
            None => {
                use rand::Rng;
                rand::thread_rng().sample_iter(&rand::distributions::Alphanumeric).take(20).map(char::from).collect()
            }
        };
        let mut nodes = Vec::new();
        for (setup, addr) in setups.iter().zip(&addresses) {
            let name = setup.name.as_str();
            let dir = out.join(format!("node-{name}"));
            let root = dir.join("root");
            // Harper listens on a unix socket inside its root; sun_path holds 107 bytes.
            let socket = root.join("operations-server");
            if socket.as_os_str().len() > 100 {
                bail!(
                    "the run folder path is too long for harper's unix socket ({}): pass a shorter --out",
                    socket.display()
                );
            }
            let spec = NodeSpec {
                name: name.to_string(),
                ip: addr.ip,
                home: dir.join("home"),
                stdout: dir.join("stdout.log"),
                stderr: dir.join("stderr.log"),
                hdb_log: root.join("log/hdb.log"),
                root,
                dir,
                env: setup.env.clone(),
                install_args: setup.install_args.clone(),
            };
            let api = NodeApi::new(name, addr.ip, ADMIN_USER, &password)?;
            nodes.push(Node::new(spec, api));
        }
        let events = events.clone();
        events.emit(Event::Harper(json!(harper)));
        let cluster = Cluster {
            harper,
            nodes,
            password,
            keep: false,
            stops: Vec::new(),
            start_timeout: opts.start_timeout,
            root_cache,
            events,
            _addresses: addresses,
        };
        // Written now, so the nodes' addresses are on record even if the
        // run is interrupted before they start.
        cluster.write_manifest()?;
        for n in &cluster.nodes {
            install::prepare_node(n.spec())?;
        }
        Ok(cluster)
    }

    pub fn node(&self, name: &str) -> &Node {
        self.nodes.iter().find(|n| n.spec().name == name).expect("node exists")
    }

    fn node_mut(&mut self, name: &str) -> &mut Node {
        self.nodes.iter_mut().find(|n| n.spec().name == name).expect("node exists")
    }

    /// The named node's operations API and REST client.
    pub fn api(&self, name: &str) -> NodeApi {
        self.node(name).api().clone()
    }

    pub fn harper(&self) -> &Harper {
        &self.harper
    }

    /// How each stopped node was stopped, in order.
    pub fn stops(&self) -> &[StopRecord] {
        &self.stops
    }

    /// Every node as `report.json` lists it.
    pub fn describe_nodes(&self) -> Vec<Value> {
        self.nodes.iter().map(Node::describe).collect()
    }

    /// How the named node ended, if it ended without blobfail stopping it.
    pub fn end(&mut self, name: &str) -> Option<Halt> {
        self.node_mut(name).end()
    }

    /// A sentence saying how the named node died, if it did on its own.
    pub fn death(&mut self, name: &str) -> Option<String> {
        self.node_mut(name).death()
    }

    /// Stops one node (SIGTERM, `grace`, SIGKILL), on record in the
    /// run's events and the report's teardown like every other stop.
    pub async fn stop_node(&mut self, name: &str, grace: Duration) -> Option<StopRecord> {
        let rec = self.node_mut(name).stop(grace).await?;
        self.events.emit(Event::NodeStopped(json!(rec)));
        self.stops.push(rec.clone());
        Some(rec)
    }

    /// Leaves the nodes running when the cluster is dropped (`--keep`), once
    /// the run has succeeded: an error before this point stops the cluster.
    pub fn keep(&mut self) {
        self.keep = true;
    }

    /// Starts the named nodes and waits until each answers its operations
    /// API. A node's first start installs it (Harper installs itself when
    /// started on a root it does not know, with the install settings).
    pub async fn start(&mut self, names: &[&str], events: &Events) -> Result<()> {
        let copied = self.copy_cached_roots(names, events).await?;
        let installing: Vec<bool> = names.iter().map(|n| !install::is_installed(self.node(n).spec())).collect();
        let verb = match (installing.iter().any(|i| *i), copied) {
            (true, _) => "installing and starting",
            (false, true) => "starting (roots copied from the cache)",
            (false, false) => "starting",
        };
        let step = events.step(&format!(
            "{verb} harper {} node {} on {}",
            self.harper.version,
            names.join(" and "),
            names.iter().map(|n| self.node(n).spec().ip.to_string()).collect::<Vec<_>>().join(", ")
        ));
        for (name, install) in names.iter().zip(&installing) {
            let harper = self.harper.clone();
            let env = if *install {
                install::install_env(self.node(name).spec(), ADMIN_USER, &self.password)
            } else {
                Vec::new()
            };
            self.node_mut(name).spawn(&harper, &env)?;
        }
        self.write_manifest()?;
        let bound = self.start_timeout;
        let start = Instant::now();
        let mut ready = vec![false; names.len()];
        while ready.iter().any(|r| !r) {
            for (i, name) in names.iter().enumerate() {
                if ready[i] {
                    continue;
                }
                let node = self.node_mut(name);
                if let Some(end) = node.end() {
                    return Err(end.into());
                }
                let probe = node.api().op(json!({"operation":"user_info"}), Duration::from_secs(2)).await;
                if let Err(e) = &probe {
                    tracing::debug!(node = %name, "not ready yet: {e:#}");
                }
                ready[i] = probe.is_ok();
            }
            if start.elapsed() > bound {
                let waiting: Vec<&str> = names.iter().zip(&ready).filter(|(_, r)| !**r).map(|(n, _)| *n).collect();
                bail!(
                    "node {} did not answer its operations API within {:.0} s (--start-timeout): see {}; \
                     a slow machine may need a longer --start-timeout",
                    waiting.join(" and "),
                    bound.as_secs_f64(),
                    waiting
                        .iter()
                        .map(|n| {
                            let s = self.node(n).spec();
                            format!("{} and {}", s.stdout.display(), s.hdb_log.display())
                        })
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
            step.set_message(&format!("{} s", start.elapsed().as_secs()));
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        step.finish(&format!("ready in {:.1} s", start.elapsed().as_secs_f64()));
        Ok(())
    }

    /// Gives each named node that is not installed yet a copy of its cached
    /// root, filling the missing entries first; whether any was copied. A
    /// fill that fails leaves those nodes to install themselves as without
    /// the cache (with a warning): the run goes on.
    async fn copy_cached_roots(&mut self, names: &[&str], events: &Events) -> Result<bool> {
        let Some(cache) = &self.root_cache else { return Ok(false) };
        let mut wanted: Vec<(&Node, String)> = Vec::new();
        for name in names {
            let node = self.node(name);
            let spec = node.spec();
            if install::is_installed(spec) || !root_cache::plain_path(&spec.root) || !root_cache::plain_path(&spec.home) {
                continue;
            }
            let key = cache.key(&self.harper, &install::install_env(spec, ADMIN_USER, cache.password()));
            wanted.push((node, key));
        }
        let misses: Vec<root_cache::Miss> =
            wanted.iter().filter(|(_, k)| !cache.has(k)).map(|(n, k)| root_cache::Miss { spec: n.spec(), key: k.clone() }).collect();
        if !misses.is_empty() {
            let who: Vec<&str> = misses.iter().map(|m| m.spec.name.as_str()).collect();
            let step = events.step(&format!(
                "caching node {}'s installed root{} (first run of these settings)",
                who.join(" and "),
                if who.len() > 1 { "s" } else { "" }
            ));
            let start = Instant::now();
            match cache.fill(&self.harper, &misses, self.start_timeout).await {
                Ok(()) => step.finish(&format!("cached in {:.1} s", start.elapsed().as_secs_f64())),
                Err(e) => {
                    tracing::warn!("the root cache was not filled, so the nodes install themselves: {e:#}");
                    step.finish(&format!("not cached ({e:#}): the nodes install themselves"));
                }
            }
        }
        let mut copied = Vec::new();
        for (node, key) in wanted.iter().filter(|(_, k)| cache.has(k)) {
            let spec = node.spec();
            cache.copy_into(key, &spec.root, &spec.home).with_context(|| format!("failed to copy node {}'s cached root", spec.name))?;
            copied.push((spec.name.clone(), key.clone()));
        }
        let any = !copied.is_empty();
        for (name, key) in copied {
            self.node_mut(&name).set_cached_root(key);
        }
        Ok(any)
    }

    /// Starts a stopped node again on the same root and address, without
    /// waiting for it (the caller watches it come up).
    pub fn restart(&mut self, name: &str) -> Result<()> {
        let harper = self.harper.clone();
        self.node_mut(name).spawn(&harper, &[])?;
        self.write_manifest()
    }

    /// Starts a stopped node again with `env` added to its environment for
    /// this start only (crash-recovery arms the shim on one start of B).
    pub fn restart_with(&mut self, name: &str, env: &[(String, String)]) -> Result<()> {
        let harper = self.harper.clone();
        self.node_mut(name).spawn(&harper, env)?;
        self.write_manifest()
    }

    /// SIGKILL to the named node's process group (a nemesis: not a stop
    /// from outside, and not the teardown's).
    pub async fn kill(&mut self, name: &str) -> Option<StopRecord> {
        self.node_mut(name).kill().await
    }

    /// SIGSTOP or SIGCONT to the named node's process group; its pid.
    pub fn signal_group(&self, name: &str, sig: nix::sys::signal::Signal) -> Result<u32> {
        self.node(name).signal_group(sig)
    }

    /// Waits until the named node answers its operations API again, for at
    /// most `bound`; the seconds that took.
    pub async fn wait_answering(&mut self, name: &str, bound: Duration) -> Result<f64> {
        let start = Instant::now();
        loop {
            if let Some(end) = self.node_mut(name).end() {
                return Err(end.into());
            }
            if self.node(name).api().op(json!({"operation":"user_info"}), Duration::from_secs(2)).await.is_ok() {
                return Ok(start.elapsed().as_secs_f64());
            }
            if start.elapsed() > bound {
                bail!("node {name} did not answer its operations API within {:.0} s", bound.as_secs_f64());
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// `cluster.json` beside the nodes: their addresses, pids and logs, so a
    /// person (or a test) can find every process of the run even when the
    /// run ends without a report.
    fn write_manifest(&self) -> Result<()> {
        let Some(first) = self.nodes.first() else { return Ok(()) };
        let out = first.spec().dir.parent().expect("node dir is inside the run folder");
        let nodes: Vec<Value> = self.nodes.iter().map(Node::describe).collect();
        self.events.emit(Event::Nodes(nodes.clone()));
        crate::report::write_json_atomic(&out.join("cluster.json"), &json!({ "nodes": nodes }))
    }

    /// Joins `joiner` to `target` with `add_node` and waits until each shows
    /// the other connected on every database socket.
    pub async fn join(&mut self, joiner: &str, target: &str, events: &Events) -> Result<()> {
        let step = events.step(&format!("joining node {joiner} to node {target}"));
        let start = Instant::now();
        let bound = Duration::from_secs(90);
        let target_ip = self.node(target).spec().ip;
        // add_node connects to the target's replication port: wait for it.
        while !is_listening(target_ip, REPLICATION_PORT) {
            self.check_alive()?;
            if start.elapsed() > bound {
                bail!("node {target} never listened on {target_ip}:{REPLICATION_PORT} (replication)");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let body = json!({
            "operation": "add_node",
            "hostname": target_ip.to_string(),
            "rejectUnauthorized": false,
            "authorization": {"username": ADMIN_USER, "password": self.password},
        });
        loop {
            self.check_alive()?;
            let err = match self.node(joiner).api().op(body.clone(), Duration::from_secs(30)).await {
                Ok(_) => break,
                Err(e) => e,
            };
            tracing::debug!("add_node not accepted yet: {err:#}");
            if start.elapsed() > bound {
                return Err(err).context(format!("add_node of {target} on node {joiner} kept failing"));
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        loop {
            self.check_alive()?;
            let a = peer_connected(self.node(joiner).api(), &target_ip.to_string()).await;
            let b = peer_connected(self.node(target).api(), &self.node(joiner).spec().ip.to_string()).await;
            if matches!((&a, &b), (Ok(true), Ok(true))) {
                break;
            }
            if start.elapsed() > bound {
                bail!(
                    "nodes {joiner} and {target} did not both show each other connected within {} s \
                     (cluster_status: {joiner} sees {target}: {}; {target} sees {joiner}: {})",
                    bound.as_secs(),
                    seen(&a),
                    seen(&b)
                );
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        step.finish(&format!("connected in {:.1} s", start.elapsed().as_secs_f64()));
        Ok(())
    }

    /// An error naming the first node that has died, with its last words.
    pub fn check_alive(&mut self) -> Result<()> {
        for node in &mut self.nodes {
            if let Some(end) = node.end() {
                return Err(end.into());
            }
        }
        Ok(())
    }

    /// A `Halt::StoppedFromOutside` error if a node was stopped from outside the run (a
    /// crash is left for the checks to report).
    pub fn check_outside(&mut self) -> Result<()> {
        for node in &mut self.nodes {
            if let Some(end @ Halt::StoppedFromOutside { .. }) = node.end() {
                return Err(end.into());
            }
        }
        Ok(())
    }

    /// Runs `fut` while watching the nodes every 200 ms: a node stopped
    /// from outside ends the wait at once with that `Halt`; a crash does
    /// not (it is evidence for the checks, gathered afterwards).
    pub async fn supervise<T>(&mut self, fut: impl std::future::Future<Output = T>) -> Result<T> {
        let mut fut = std::pin::pin!(fut);
        loop {
            tokio::select! {
                out = &mut fut => {
                    self.check_outside()?;
                    return Ok(out);
                }
                _ = tokio::time::sleep(Duration::from_millis(200)) => self.check_outside()?,
            }
        }
    }

    /// Stops every node still running (SIGTERM to its group, a grace period,
    /// then SIGKILL). Safe to call more than once.
    pub async fn teardown(&mut self) {
        for node in &mut self.nodes {
            if let Some(rec) = node.stop(STOP_GRACE).await {
                self.events.emit(Event::NodeStopped(json!(rec)));
                self.stops.push(rec);
            }
        }
    }

    /// What to tell the user when `--keep` leaves the cluster running.
    pub fn keep_instructions(&self) -> String {
        let mut s = String::from("the cluster is left running (--keep):\n");
        for n in &self.nodes {
            if let Some(pid) = n.pid() {
                let spec = n.spec();
                s.push_str(&format!(
                    "  node {}: pid {pid} (process group {pid}), operations http://{ip}:{OPS_PORT}/ , REST http://{ip}:{REST_PORT}/ , log {}\n",
                    spec.name,
                    spec.hdb_log.display(),
                    ip = spec.ip,
                ));
            }
        }
        s.push_str(&format!("  user admin, password {}\n", self.password));
        let pgids: Vec<String> = self.nodes.iter().filter_map(Node::pid).map(|p| format!("-{p}")).collect();
        s.push_str(&format!("  stop it with: kill -TERM -- {}", pgids.join(" ")));
        s
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // Nodes still running here mean the scenario did not finish (an
        // error, a panic, Ctrl-C): the phase under way ended when it stopped,
        // and this teardown is timed as a phase of its own.
        if !self.keep && self.nodes.iter().any(Node::is_started) {
            self.events.emit(Event::CutShort { at: Instant::now() });
            let start = Instant::now();
            for node in &mut self.nodes {
                if let Some(rec) = node.stop_blocking(STOP_GRACE) {
                    self.events.emit(Event::NodeStopped(json!(rec)));
                    self.stops.push(rec);
                }
            }
            self.events.emit(Event::PhaseLeft { phase: "teardown".into(), seconds: (start.elapsed().as_secs_f64() * 1000.0).round() / 1000.0 });
        }
    }
}

/// The root cache in the user's cache folder; none (with a warning) if it
/// cannot be opened.
fn open_root_cache() -> Option<root_cache::RootCache> {
    let opened = harper::cache_dir().and_then(|d| root_cache::RootCache::open(d.join("roots")));
    match opened {
        Ok(c) => Some(c),
        Err(e) => {
            tracing::warn!("no root cache, so the nodes install themselves: {e:#}");
            None
        }
    }
}

/// What one node's `cluster_status` said of its peer, in words (an error as
/// its chain of causes: never a backtrace).
fn seen(r: &Result<bool>) -> String {
    match r {
        Ok(true) => "connected".to_string(),
        Ok(false) => "not connected".to_string(),
        Err(e) => format!("{e:#}"),
    }
}

async fn peer_connected(api: &NodeApi, peer_ip: &str) -> Result<bool> {
    let status = api.cluster_status().await?;
    Ok(crate::cluster_status::peer_sockets(&status, peer_ip).is_some_and(|s| s.all_connected()))
}

