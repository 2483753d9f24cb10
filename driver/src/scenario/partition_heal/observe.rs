//! What partition-heal does to and reads from the nodes: the writes on each
//! side, probe records sent across a link, and each node's holdings.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::{json, Value};

use super::checks::{Crossing, Snapshot};
use crate::api::NodeApi;

/// The records table (no source: what is written is what is held).
pub const RECORDS: &str = "Load";
/// The blob table: a GET of an id a node lacks makes the record and its
/// 50 KiB blob on that node.
pub const BLOBS: &str = "LargeLocation";

/// Upserts `records` (id, payload) on `node` in one transaction.
pub async fn upsert(node: &NodeApi, records: &[(String, String)]) -> anyhow::Result<()> {
    let rows: Vec<Value> = records.iter().map(|(id, p)| json!({"id": id, "payload": p})).collect();
    node.op(json!({"operation":"upsert","database":"data","table":RECORDS,"records":rows}), Duration::from_secs(30)).await?;
    Ok(())
}

/// Makes the blob records `ids` on `node` (a GET each, 4 at a time); the ids it acknowledged.
pub async fn make_blobs(node: &NodeApi, ids: &[u64]) -> Vec<u64> {
    futures::stream::iter(ids.iter().copied())
        .map(|id| async move { node.get(&format!("{BLOBS}/{id}"), Duration::from_secs(30)).await.ok().filter(|s| s.is_success()).map(|_| id) })
        .buffer_unordered(4)
        .filter_map(|x| async move { x })
        .collect()
        .await
}

/// Whether `node` holds record `id` (an id lookup: `Load` has no source).
async fn holds(node: &NodeApi, id: &str) -> bool {
    let v = node
        .op(
            json!({"operation":"search_by_id","database":"data","table":RECORDS,"ids":[id],"get_attributes":["id"]}),
            Duration::from_secs(5),
        )
        .await;
    v.ok().and_then(|v| v.as_array().map(|a| !a.is_empty())).unwrap_or(false)
}

/// Writes probe `id` on `from` and polls each of `to` for it, up to `bound`.
pub async fn probe(from: &NodeApi, to: &[NodeApi], id: &str, bound: Duration) -> Vec<Crossing> {
    let start = Instant::now();
    let written = upsert(from, &[(id.to_string(), "probe".to_string())]).await;
    let mut out: Vec<Crossing> = to.iter().map(|t| Crossing { from: from.name.clone(), to: t.name.clone(), seconds: None }).collect();
    if written.is_err() {
        return out;
    }
    while start.elapsed() < bound && out.iter().any(|c| c.seconds.is_none()) {
        for (c, t) in out.iter_mut().zip(to) {
            if c.seconds.is_none() && holds(t, id).await {
                c.seconds = Some(start.elapsed().as_secs_f64());
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    out
}

/// Every `Load` record and every `LargeLocation` blob `node` holds (blob
/// reads `only-if-cached`, so a node never fetches what it lacks).
pub async fn snapshot(node: &NodeApi) -> Snapshot {
    let mut s = Snapshot { node: node.name.clone(), ..Default::default() };
    let rows = node
        .op(json!({"operation":"search_by_value","database":"data","table":RECORDS,"search_attribute":"id","search_value":"*","get_attributes":["id","payload"]}), Duration::from_secs(20))
        .await;
    match rows {
        Ok(Value::Array(rows)) => {
            for r in rows {
                let id = match r.get("id") {
                    Some(Value::String(s)) => s.clone(),
                    Some(v) => v.to_string(),
                    None => continue,
                };
                // The probes are the run's own traffic, not the writes judged.
                if !id.starts_with("probe-") {
                    s.records.insert(id, r.get("payload").and_then(Value::as_str).unwrap_or_default().to_string());
                }
            }
        }
        Ok(other) => s.error = Some(format!("search_by_value answered {}", crate::api::shorten(&other.to_string(), 120))),
        Err(e) => s.error = Some(format!("{e:#}")),
    }
    match node.stored_ids(BLOBS).await {
        Ok(ids) => {
            let reads: BTreeMap<String, crate::api::BlobRead> = futures::stream::iter(ids)
                .map(|id| async move {
                    let r = node.read_blob(BLOBS, &id, "image", Duration::from_secs(5)).await;
                    (id, r)
                })
                .buffer_unordered(8)
                .collect()
                .await;
            s.blobs = reads;
        }
        Err(e) => s.error = s.error.take().or(Some(format!("{e:#}"))),
    }
    s
}

/// Every node's snapshot, taken at once.
pub async fn snapshots(nodes: &[NodeApi]) -> Vec<Snapshot> {
    futures::future::join_all(nodes.iter().map(snapshot)).await
}

/// Whether the snapshots agree on every record and blob, each readable.
pub fn agree(snaps: &[Snapshot]) -> bool {
    snaps.iter().all(|s| s.error.is_none()) && snaps.windows(2).all(|w| w[0].records == w[1].records && w[0].blobs == w[1].blobs)
}
