//! Faults done to the cluster through its operations API, beside the
//! shim's faults inside node B: cutting B's replication with A, so that the
//! checks that watch the link (`peer-connected`, `liveness`) are seen to
//! fail for a real cause.

use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use serde_json::json;

use crate::api::NodeApi;
use crate::cluster_status::peer_sockets;
use crate::progress::Progress;

/// How long B gets to drop A from its `cluster_status` after `remove_node`
/// (on 4.7.29 it is gone at the next answer).
const CUT_BOUND: Duration = Duration::from_secs(30);

/// `remove_node` of A (`a_name`, its node name) on B: Harper's own way to
/// take a peer out of a node's cluster, which closes the replication
/// sockets both ways. Returns once B's `cluster_status` no longer lists A,
/// with the seconds that took.
pub async fn cut_replication(b: &NodeApi, a_name: &str, progress: &Progress) -> Result<f64> {
    let step = progress.step(&format!("cutting replication: remove_node of {a_name} on node B"));
    let start = Instant::now();
    let answer = b.op(json!({"operation": "remove_node", "hostname": a_name}), Duration::from_secs(30)).await?;
    let mut last = String::from("no answer yet");
    while start.elapsed() < CUT_BOUND {
        match b.cluster_status().await {
            Ok(status) => match peer_sockets(&status, a_name) {
                None => {
                    let secs = start.elapsed().as_secs_f64();
                    step.finish(&format!("B lists no connection to A ({secs:.1} s)"));
                    return Ok(secs);
                }
                Some(p) => last = format!("B still lists A ({}: {})", p.url, p.describe()),
            },
            Err(e) => last = format!("{e:#}"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!(
        "remove_node of {a_name} on node B answered {answer} but B still listed A after {} s: {last}",
        CUT_BOUND.as_secs()
    )
}
