//! What blob-save observes on the live cluster after the load: whether a
//! fresh write on A still reaches B, and every record of the run on A
//! compared with B's copy, blob bytes included.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use futures::StreamExt;
use serde_json::json;

use super::checks::{self, LossSurvey};
use super::TABLE;
use crate::api::{BlobRead, NodeApi};

pub struct Liveness {
    pub check: crate::model::Check,
    pub seconds: f64,
}

/// Upserts one fresh record on A and polls B's exact count until it rises.
pub async fn liveness(a: &NodeApi, b: &NodeApi, probe_id: &str) -> Liveness {
    let start = Instant::now();
    let bound = Duration::from_secs(30);
    let before = match b.record_count(TABLE).await {
        Ok(n) => n,
        Err(e) => {
            return Liveness { check: checks::liveness(probe_id, None, None, 0.0, Some(&format!("{e:#}"))), seconds: 0.0 }
        }
    };
    let upsert = json!({"operation":"upsert","database":"data","table":TABLE,
                        "records":[{"id": probe_id, "name": "blobfail liveness probe"}]});
    if let Err(e) = a.op(upsert, Duration::from_secs(30)).await {
        let msg = format!("the upsert on A failed: {e:#}");
        return Liveness { check: checks::liveness(probe_id, Some(before), None, 0.0, Some(&msg)), seconds: 0.0 };
    }
    let mut after = Some(before);
    let mut err = None;
    while start.elapsed() < bound {
        match b.record_count(TABLE).await {
            Ok(n) => {
                after = Some(n);
                if n > before {
                    break;
                }
            }
            Err(e) => err = Some(format!("{e:#}")),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let secs = start.elapsed().as_secs_f64();
    Liveness { check: checks::liveness(probe_id, Some(before), after, secs, err.as_deref()), seconds: secs }
}

/// Compares every record A stores with B's own copy, blob bytes included,
/// without ever making B call the table's source (SQL scans for the ids,
/// `only-if-cached` reads for the blobs). Only the ids `compare` accepts
/// count (attach mode compares only the records its own run created).
pub async fn survey_loss(a: &NodeApi, b: &NodeApi, compare: impl Fn(&str) -> bool) -> Result<LossSurvey> {
    let on_a: BTreeSet<String> =
        a.stored_ids(TABLE).await.context("listing node A's records")?.into_iter().filter(|id| compare(id)).collect();
    let on_b: BTreeSet<String> =
        b.stored_ids(TABLE).await.context("listing node B's records")?.into_iter().filter(|id| compare(id)).collect();
    let mut s = LossSurvey {
        records_on_a: on_a.len(),
        records_on_b: on_b.len(),
        missing_on_b: on_a.difference(&on_b).cloned().collect(),
        ..Default::default()
    };
    let both: Vec<String> = on_a.intersection(&on_b).cloned().collect();
    // A read of a record whose blob file is missing hangs on 4.7.29: bound it.
    let b_timeout = Duration::from_secs(3);
    let reads: Vec<(String, BlobRead, BlobRead)> = futures::stream::iter(both)
        .map(|id| async move {
            let ra = a.read_blob(TABLE, &id, "image", Duration::from_secs(20)).await;
            let rb = b.read_blob(TABLE, &id, "image", b_timeout).await;
            (id, ra, rb)
        })
        .buffer_unordered(32)
        .collect()
        .await;
    for (id, ra, rb) in reads {
        let (alen, asha) = match ra {
            BlobRead::Read { len, sha256 } => (len, sha256),
            BlobRead::NotHeld => {
                s.unreadable_on_a.insert(id, "A answered 504 (not stored)".into());
                continue;
            }
            BlobRead::Failed(e) => {
                s.unreadable_on_a.insert(id, e);
                continue;
            }
        };
        s.compared += 1;
        match rb {
            BlobRead::Read { len, sha256 } if len == alen && sha256 == asha => {}
            BlobRead::Read { len, .. } if len < alen => {
                s.blob_short_on_b.insert(id, (len, alen));
            }
            BlobRead::Read { .. } => s.blob_differs_on_b.push(id),
            BlobRead::NotHeld => {
                s.blob_unreadable_on_b.insert(id, "B answered 504 (not stored) though SQL lists it".into());
            }
            BlobRead::Failed(e) => {
                s.blob_unreadable_on_b.insert(id, e);
            }
        }
    }
    Ok(s)
}

