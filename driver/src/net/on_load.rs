//! `--nemesis slow-link|cut-stream` as a scenario under load runs it: the
//! proxy put on the replication port before the nodes start (a redirect
//! cannot move a connection already made), aimed at the link's two nodes
//! once they have addresses, on for the load and its catch-up, then off
//! (the heal), and taken out, checked, after the teardown. Each start and
//! heal goes into the history with its time.

use std::time::Instant;

use anyhow::{anyhow, Result};
use serde_json::{json, Map, Value};

use super::args::{LinkPlan, NemesisArgs};
use super::nemesis::{Link, NodeAddr};
use super::session;
use crate::backend::Backend;
use crate::cluster::address::REPLICATION_PORT;

/// A link nemesis over one scenario run.
pub struct OnLoad {
    plan: LinkPlan,
    link: Option<Link>,
    start: Instant,
    history: Vec<Value>,
}

impl OnLoad {
    /// The proxy on the replication port, if `--nemesis` asks for it;
    /// an error (the run cannot be done) without a private network.
    pub async fn install(args: &NemesisArgs, nodes: &[&str]) -> Result<Option<OnLoad>> {
        let Some(plan) = args.plan(nodes).map_err(anyhow::Error::msg)? else {
            return Ok(None);
        };
        let net = session::private().map_err(|why| anyhow!("--nemesis {} needs a private network namespace: {why}", plan.nemesis.name()))?;
        let link = Link::install_port(net, REPLICATION_PORT).await.map_err(|e| anyhow!("--nemesis {}: {e}", plan.nemesis.name()))?;
        Ok(Some(OnLoad { plan, link: Some(link), start: Instant::now(), history: Vec::new() }))
    }

    /// Names the link's nodes, now that the cluster has addresses.
    pub fn aim(&mut self, backend: &Backend) {
        let addr = |name: &String| NodeAddr { name: name.clone(), ip: backend.files_of(name).map(|s| s.ip).unwrap_or(std::net::Ipv4Addr::UNSPECIFIED) };
        let ends = [addr(&self.plan.link.0), addr(&self.plan.link.1)];
        if let Some(link) = &mut self.link {
            link.aim(ends);
        }
    }

    fn event(&mut self, action: &str) {
        let stats = self.link.as_ref().map(|l| json!(l.stats())).unwrap_or(Value::Null);
        self.history.push(json!({
            "at_s": (self.start.elapsed().as_secs_f64() * 1000.0).round() / 1000.0,
            "nemesis": self.plan.describe(),
            "action": action,
            "proxy": stats,
        }));
    }

    /// The nemesis on.
    pub fn start(&mut self) {
        eprintln!("blobfail: nemesis {}", self.plan.describe());
        if let Some(link) = &self.link {
            link.set_toxic(Some(self.plan.toxic));
        }
        self.event("start");
    }

    /// The nemesis off: bytes pass untouched from now on.
    pub fn heal(&mut self) {
        if let Some(link) = &self.link {
            link.set_toxic(None);
        }
        self.event("heal");
    }

    /// Takes the proxy out (its rules removed exactly, checked) and puts the
    /// history and the proxy's counts in `figures`.
    /// `b_root`: the faulted node's root, whose blob files are listed by size.
    pub async fn remove(mut self, figures: &mut Map<String, Value>, b_root: Option<std::path::PathBuf>) -> Result<()> {
        let net = session::private().map_err(|why| anyhow!("--nemesis: {why}"))?;
        let link = self.link.take().expect("removed once");
        let stats = link.stats();
        let what = link.describe();
        let healed = link.remove(net).await.map_err(|e| anyhow!("taking out the {what} failed: {e}"))?;
        self.history.push(json!({
            "at_s": (self.start.elapsed().as_secs_f64() * 1000.0).round() / 1000.0,
            "nemesis": self.plan.describe(),
            "action": "remove",
            "rules": healed.removed,
        }));
        figures.insert("nemesis".into(), json!(self.plan.describe()));
        figures.insert("nemesis_proxy".into(), json!(stats));
        figures.insert("nemesis_history".into(), Value::Array(std::mem::take(&mut self.history)));
        if let Some(root) = b_root {
            figures.insert("b_blob_files".into(), blob_files(&root.join("blobs")));
        }
        Ok(())
    }
}

/// The blob files under `dir` by size: how many of each size, so a short
/// file (a cut mid-blob with a normal-looking header) stands out.
fn blob_files(dir: &std::path::Path) -> Value {
    let mut sizes: std::collections::BTreeMap<u64, u64> = std::collections::BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for e in entries.flatten() {
            match e.metadata() {
                Ok(m) if m.is_dir() => stack.push(e.path()),
                Ok(m) => *sizes.entry(m.len()).or_default() += 1,
                Err(_) => {}
            }
        }
    }
    json!({
        "files": sizes.values().sum::<u64>(),
        "by_size": sizes.iter().map(|(size, n)| json!({"bytes": size, "files": n})).collect::<Vec<_>>(),
    })
}
