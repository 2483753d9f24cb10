//! `cut-replication`: `remove_node` of the source on a node, Harper's own
//! way to take a peer out of a node's cluster, which closes the replication
//! sockets both ways. A start with no stop: Harper has no undo short of
//! joining again (`add_node`), which would be another fault.

use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use futures::future::BoxFuture;
use futures::FutureExt;
use serde_json::json;

use super::Nemesis;
use crate::api::NodeApi;
use crate::cluster::Cluster;
use crate::cluster_status::peer_sockets;
use crate::topology::NodeId;

/// How long the node gets to drop the source from its `cluster_status`
/// after `remove_node` (on 4.7.29 it is gone at the next answer).
const CUT_BOUND: Duration = Duration::from_secs(30);

/// Cuts a node's replication with `from` (the source, node a).
pub struct CutReplication {
    pub from: NodeId,
}

impl CutReplication {
    /// How the node's `cluster_status` names the source: its address.
    pub fn source_name(&self, cluster: &Cluster) -> String {
        cluster.node(&self.from).spec().ip.to_string()
    }
}

impl Nemesis for CutReplication {
    fn name(&self) -> &'static str {
        "cut-replication"
    }

    /// Returns once the node's `cluster_status` no longer lists the source.
    fn start<'a>(&'a self, cluster: &'a mut Cluster, node: &'a str) -> BoxFuture<'a, Result<String>> {
        async move {
            let api = cluster.api(node);
            let source = self.source_name(cluster);
            let secs = cluster.supervise(remove(&api, &source, node, &self.from)).await??;
            Ok(format!("remove_node of {source} ({}) on {node}: {node} lists no connection to it after {secs:.1} s", self.from))
        }
        .boxed()
    }

    fn stop<'a>(&'a self, _cluster: &'a mut Cluster, node: &'a str) -> BoxFuture<'a, Result<String>> {
        async move { bail!("cut-replication has no stop: {node} would have to join again (add_node), another fault") }.boxed()
    }
}

/// `remove_node` of `source` on `node`, then its `cluster_status` polled
/// until the source is gone: the seconds that took.
async fn remove(api: &NodeApi, source: &str, node: &str, from: &str) -> Result<f64> {
    let (node_up, from_up) = (node.to_uppercase(), from.to_uppercase());
    let start = Instant::now();
    let answer = api.op(json!({"operation": "remove_node", "hostname": source}), Duration::from_secs(30)).await?;
    let mut last = String::from("no answer yet");
    while start.elapsed() < CUT_BOUND {
        match api.cluster_status().await {
            Ok(status) => match peer_sockets(&status, source) {
                None => return Ok(start.elapsed().as_secs_f64()),
                Some(p) => last = format!("{node_up} still lists {from_up} ({}: {})", p.url, p.describe()),
            },
            Err(e) => last = format!("{e:#}"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!(
        "remove_node of {source} on node {node_up} answered {answer} but {node_up} still listed {from_up} after {} s: {last}",
        CUT_BOUND.as_secs()
    )
}
