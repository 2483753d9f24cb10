//! What blob-save observes on the live cluster after the load: whether a
//! fresh write on A still reaches B, and every record of the run on A
//! compared with B's copy, blob bytes included.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::checks::{self, LossSurvey};
use super::TABLE;
use crate::api::{BlobRead, NodeApi};

/// What the liveness probe saw (the check is `liveness()` of it).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Liveness {
    pub id: String,
    pub before: Option<u64>,
    pub after: Option<u64>,
    pub held: bool,
    pub seconds: f64,
    /// Why B could not be asked (its last error), if it could not.
    pub error: Option<String>,
}

impl Liveness {
    pub fn check(&self) -> crate::model::Check {
        let p = checks::Probe {
            id: &self.id,
            before: self.before,
            after: self.after,
            held: self.held,
            seconds: self.seconds,
            error: self.error.as_deref(),
        };
        checks::liveness(&p)
    }
}

/// Upserts one fresh record on A and polls B until B holds that very
/// record (an index search on its id), for at most `bound`
/// (`--liveness-timeout`) from the start. B's record count is read before
/// and after for the evidence only: a count that rose for another record
/// proves nothing.
pub async fn liveness(a: &NodeApi, b: &NodeApi, probe_id: &str, bound: Duration) -> Liveness {
    let start = Instant::now();
    // B's count before the probe. One failed request is not a dead node:
    // a kept-alive connection B closes just as it is reused fails with
    // "connection closed before message completed" (seen once under a full
    // disk); B must answer within 5 s, polled.
    let mut before = b.record_count(TABLE).await;
    while before.is_err() && start.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(200)).await;
        before = b.record_count(TABLE).await;
    }
    let before = match before {
        Ok(n) => n,
        Err(e) => {
            let secs = start.elapsed().as_secs_f64();
            return Liveness { id: probe_id.into(), before: None, after: None, held: false, seconds: secs, error: Some(format!("{e:#}")) };
        }
    };
    let upsert = json!({"operation":"upsert","database":"data","table":TABLE,
                        "records":[{"id": probe_id, "name": "blobfail liveness probe"}]});
    if let Err(e) = a.op(upsert, Duration::from_secs(30)).await {
        let error = Some(format!("the upsert on A failed: {e:#}"));
        return Liveness { id: probe_id.into(), before: Some(before), after: None, held: false, seconds: 0.0, error };
    }
    let mut held = false;
    let mut err = None;
    while start.elapsed() < bound {
        match b.holds_id(TABLE, probe_id).await {
            Ok(true) => {
                held = true;
                break;
            }
            Ok(false) => err = None,
            Err(e) => err = Some(format!("{e:#}")),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let secs = start.elapsed().as_secs_f64();
    let after = b.record_count(TABLE).await.ok();
    Liveness { id: probe_id.into(), before: Some(before), after, held, seconds: secs, error: err }
}

/// How long a read of B may go on after the last read that answered: on
/// 4.7.29 a read of a record whose blob save failed never answers, so
/// these reads wait out the bound. All reads start at once and B answers
/// them one after another, so on a loaded machine the last healthy answer
/// comes late (1.4 s measured) but the answers keep coming: a read still
/// unanswered a whole second after the last answer has hung.
pub const READ_GAP: Duration = Duration::from_secs(1);
/// No read waits longer than this, whatever the answers took.
const READ_CAP: Duration = Duration::from_secs(20);

/// What each unfaulted peer kept (`--nodes 3`): its records against A's,
/// by figure name (`unfaulted_c`), for the report. The surveys run under
/// the backend's watch, so a node that dies ends the run as everywhere.
pub async fn unfaulted_peers(
    backend: &mut crate::backend::Backend,
    a: &NodeApi,
    topology: &crate::topology::Topology,
) -> Result<Vec<(String, serde_json::Value)>> {
    let mut kept = Vec::new();
    for n in topology.unfaulted_peers() {
        let peer = backend.api(&n);
        let v = match backend.supervise(survey_loss(a, &peer, |id| id.parse::<u64>().is_ok_and(|x| x < super::ID_SPACE))).await? {
            Ok(s) => json!({"records_on_a": s.records_on_a, "records": s.records_on_b, "missing": s.missing_on_b.len(), "damaged": s.damaged().len()}),
            Err(e) => json!({"error": format!("{e:#}")}),
        };
        kept.push((format!("unfaulted_{n}"), v));
    }
    Ok(kept)
}

/// Compares every record A stores with B's own copy, blob bytes included,
/// without ever making B call the table's source (key scans for the ids,
/// `only-if-cached` reads for the blobs). Only the ids `compare` accepts
/// count (attach mode compares only the records its own run created).
///
/// Every read of B starts at once and shares one bound: `READ_GAP` after
/// the last read that answered (an error status is an answer); a read
/// still unanswered then has hung. These same reads are the
/// reads of the damaged records that `damaged-reads-contained` judges.
pub async fn survey_loss(a: &NodeApi, b: &NodeApi, compare: impl Fn(&str) -> bool) -> Result<LossSurvey> {
    let t = Instant::now();
    let (on_a, on_b) = futures::try_join!(
        async { a.stored_ids(TABLE).await.context("listing node A's records") },
        async { b.stored_ids(TABLE).await.context("listing node B's records") },
    )?;
    let on_a: BTreeSet<String> = on_a.into_iter().filter(|id| compare(id)).collect();
    let on_b: BTreeSet<String> = on_b.into_iter().filter(|id| compare(id)).collect();
    let mut s = LossSurvey {
        records_on_a: on_a.len(),
        records_on_b: on_b.len(),
        missing_on_b: on_a.difference(&on_b).cloned().collect(),
        ..Default::default()
    };
    s.seconds.push(("survey_ids_seconds".into(), t.elapsed().as_secs_f64()));
    let both: Vec<String> = on_a.intersection(&on_b).cloned().collect();
    let t = Instant::now();
    let reads_a = async {
        let r = futures::stream::iter(both.clone())
            .map(|id| async move {
                let r = a.read_blob(TABLE, &id, "image", Duration::from_secs(20)).await;
                (id, r)
            })
            .buffer_unordered(32)
            .collect::<Vec<(String, BlobRead)>>()
            .await;
        (r, t.elapsed())
    };
    let reads_b = async {
        let r = read_all_bounded(b, &both).await;
        (r, t.elapsed())
    };
    let ((reads_a, took_a), ((reads_b, bound), took_b)) = futures::join!(reads_a, reads_b);
    s.seconds.push(("survey_reads_a_seconds".into(), took_a.as_secs_f64()));
    s.seconds.push(("survey_reads_b_seconds".into(), took_b.as_secs_f64()));
    s.read_bound_s = (bound.as_secs_f64() * 10.0).round() / 10.0;
    let reads_a: BTreeMap<String, BlobRead> = reads_a.into_iter().collect();
    for id in both {
        let rb = reads_b.get(&id).cloned();
        let (alen, asha) = match reads_a.get(&id).cloned() {
            Some(BlobRead::Read { len, sha256 }) => (len, sha256),
            Some(BlobRead::NotHeld) => {
                s.unreadable_on_a.insert(id, "A answered 504 (not stored)".into());
                continue;
            }
            Some(BlobRead::Failed(e)) => {
                s.unreadable_on_a.insert(id, e);
                continue;
            }
            None => {
                s.unreadable_on_a.insert(id, "no read of A".into());
                continue;
            }
        };
        s.compared += 1;
        match rb {
            Some(BlobRead::Read { len, sha256 }) if len == alen && sha256 == asha => {}
            Some(BlobRead::Read { len, .. }) if len < alen => {
                s.blob_short_on_b.insert(id, (len, alen));
            }
            Some(BlobRead::Read { .. }) => s.blob_differs_on_b.push(id),
            Some(BlobRead::NotHeld) => {
                s.blob_unreadable_on_b.insert(id, "B answered 504 (not stored) though SQL lists it".into());
            }
            Some(BlobRead::Failed(e)) => {
                s.blob_unreadable_on_b.insert(id, e);
            }
            None => {
                s.blob_unreadable_on_b.insert(id.clone(), format!("no answer within {:.1} s", bound.as_secs_f64()));
                s.hung_on_b.insert(id);
            }
        }
    }
    Ok(s)
}

/// Reads every id's blob on `b` at once; returns the reads that answered
/// (an error status is an answer) and the bound the others waited out.
async fn read_all_bounded(b: &NodeApi, ids: &[String]) -> (BTreeMap<String, BlobRead>, Duration) {
    let start = Instant::now();
    let mut pending: futures::stream::FuturesUnordered<_> = ids
        .iter()
        .map(|id| async move {
            let r = b.read_blob(TABLE, id, "image", READ_CAP).await;
            (id.clone(), r)
        })
        .collect();
    let mut done = BTreeMap::new();
    let mut slowest = Duration::ZERO;
    loop {
        let bound = (slowest + READ_GAP).min(READ_CAP);
        let deadline = tokio::time::Instant::from_std(start + bound);
        tokio::select! {
            next = pending.next() => match next {
                Some((id, read)) => {
                    if !matches!(&read, BlobRead::Failed(e) if e.starts_with("no answer within")) {
                        slowest = slowest.max(start.elapsed());
                        done.insert(id, read);
                    }
                }
                None => return (done, bound),
            },
            _ = tokio::time::sleep_until(deadline) => return (done, bound),
        }
    }
}
