//! `--nemesis slow-link|cut-stream` as blob-save runs it (halfway through
//! its load) and backlog-memory (around each catch-up: `switch`), through
//! the driver's `Nemesis` model: the proxy goes on the replication port
//! before the nodes start (a redirect cannot move a connection already
//! made); `start` on a faulted node aims it at the link between that node
//! and node a and turns the toxic on; `stop` turns it off (the heal); after
//! the teardown the redirect rule comes out exactly, checked, and the
//! proxy's counts and the faulted node's blob files by size go in the
//! figures.

use std::sync::Mutex;

use anyhow::{anyhow, bail, Result};
use futures::future::BoxFuture;
use futures::FutureExt;
use serde_json::{json, Map, Value};

use super::args::{LinkPlan, LINK_NEMESES};
use super::nemesis::{Link, NodeAddr};
use super::session;
use crate::cluster::Cluster;
use crate::events::{Change, Events};
use crate::nemesis::Nemesis;
use crate::ports::REPLICATION_PORT;
use crate::scenario::Args;

struct Installed {
    link: Link,
    plan: LinkPlan,
}

/// The run's link proxy, once installed (one run at a time per process).
static LINK: Mutex<Option<Installed>> = Mutex::new(None);

fn slot() -> std::sync::MutexGuard<'static, Option<Installed>> {
    LINK.lock().unwrap_or_else(|e| e.into_inner())
}

/// Puts the proxy on the replication port if `--nemesis` names a link
/// nemesis; an error (the run cannot be done) without a private network.
pub async fn install(args: &Args) -> Result<()> {
    let Some(plan) = args.blob_save_net.plan(args.blob_save.nemesis.as_deref()).map_err(anyhow::Error::msg)? else {
        return Ok(());
    };
    if args.blob_save.faulted.0.len() > 1 {
        bail!("--nemesis {} acts on one link: pass one --faulted node (its link with node a)", plan.nemesis);
    }
    let net = session::private().map_err(|why| anyhow!("--nemesis {} needs a private network namespace: {why}", plan.nemesis))?;
    // A scenario before this one in the same run (`run all`) that ended in
    // an error left its proxy: out first, or its rule would catch the
    // new nodes' connections.
    let left = slot().take();
    if let Some(Installed { link, .. }) = left {
        link.remove(net).await.map_err(|e| anyhow!("--nemesis {}: taking out the last scenario's proxy failed: {e}", plan.nemesis))?;
    }
    let link = Link::install_port(net, REPLICATION_PORT).await.map_err(|e| anyhow!("--nemesis {}: {e}", plan.nemesis))?;
    *slot() = Some(Installed { link, plan });
    Ok(())
}

/// A link nemesis: `slow-link` or `cut-stream`, with the settings the
/// command line gave (`install` keeps them with the proxy).
pub struct LinkNemesis(pub &'static str);

impl Nemesis for LinkNemesis {
    fn name(&self) -> &'static str {
        self.0
    }

    fn start<'a>(&'a self, cluster: &'a mut Cluster, node: &'a str) -> BoxFuture<'a, Result<String>> {
        async move {
            let ends = [node, "a"].map(|n| NodeAddr { name: n.to_string(), ip: cluster.node(n).spec().ip });
            let mut guard = slot();
            let Some(installed) = guard.as_mut() else {
                bail!("the link proxy of --nemesis {} was not installed before the nodes started", self.0);
            };
            installed.link.aim(ends);
            installed.link.set_toxic(Some(installed.plan.toxic));
            Ok(format!("{} on the link {node}-a, through the proxy", installed.plan.describe()))
        }
        .boxed()
    }

    fn stop<'a>(&'a self, _cluster: &'a mut Cluster, node: &'a str) -> BoxFuture<'a, Result<String>> {
        async move {
            let guard = slot();
            let Some(installed) = guard.as_ref() else {
                bail!("the link proxy of --nemesis {} is gone", self.0);
            };
            installed.link.set_toxic(None);
            let s = installed.link.stats();
            Ok(format!(
                "the link {node}-a passes bytes untouched again; under the nemesis {} bytes, {} resets",
                s.bytes_toxic,
                s.cuts.len()
            ))
        }
        .boxed()
    }
}

/// backlog-memory's hook around each catch-up: the link nemesis that
/// `--nemesis` names (if any) on, or off, on B's link with a, each start
/// and stop an event of the run's stream.
pub async fn switch(args: &Args, cluster: &mut Cluster, events: &Events, on: bool) -> Result<()> {
    let Some(&name) = args.blob_save.nemesis.as_deref().and_then(|n| LINK_NEMESES.iter().find(|l| **l == n)) else {
        return Ok(());
    };
    let nemesis = LinkNemesis(name);
    let (what, detail) = if on { (Change::Started, nemesis.start(cluster, "b").await?) } else { (Change::Stopped, nemesis.stop(cluster, "b").await?) };
    events.nemesis(name, "b", what, detail, None);
    Ok(())
}

/// Takes the proxy out (its rule removed exactly, checked) and puts its
/// counts, the rule, and the faulted node's blob files by size in `figures`.
pub async fn remove(figures: &mut Map<String, Value>, faulted_root: Option<std::path::PathBuf>) -> Result<()> {
    let Some(Installed { link, plan }) = slot().take() else {
        return Ok(());
    };
    let net = session::private().map_err(|why| anyhow!("--nemesis: {why}"))?;
    let stats = link.stats();
    let what = link.describe();
    let healed = link.remove(net).await.map_err(|e| anyhow!("taking out the {what} failed: {e}"))?;
    figures.insert("nemesis_link".into(), json!(plan.describe()));
    figures.insert("nemesis_proxy".into(), json!(stats));
    figures.insert("nemesis_rules_removed".into(), json!(healed.removed));
    if let Some(root) = faulted_root {
        figures.insert("faulted_blob_files".into(), blob_files(&root.join("blobs")));
    }
    Ok(())
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
