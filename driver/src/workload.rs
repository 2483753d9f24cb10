//! The client load: seeded random GETs on node A, with bounded retries of
//! transient errors, then waiting for node B to settle; and the bulk commits
//! of the backlog scenario.

use std::time::{Duration, Instant};

use anyhow::Result;
use futures::StreamExt;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use serde_json::json;

use crate::api::{error_chain, NodeApi};
use crate::progress::Progress;

const ATTEMPTS: u32 = 5;

/// What the GET load did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LoadStats {
    pub requests: u64,
    pub ok: u64,
    pub failed: u64,
    pub retries: u64,
    pub distinct_ids: usize,
    pub seconds: f64,
    /// Up to five distinct errors of requests that failed for good.
    pub errors: Vec<String>,
}

/// The ids the load will request: `requests` draws from `0..id_space`, seeded.
pub fn draw_ids(seed: u64, requests: u64, id_space: u64) -> Vec<u64> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    (0..requests).map(|_| rng.gen_range(0..id_space.max(1))).collect()
}

fn transient(status: Option<reqwest::StatusCode>, err: Option<&reqwest::Error>) -> bool {
    match (status, err) {
        (Some(s), _) => s.is_server_error() || s.as_u16() == 429,
        (None, Some(e)) => e.is_timeout() || e.is_connect() || e.is_request() || e.is_body(),
        _ => false,
    }
}

/// GETs `/<table>/<n>` on `api` for each drawn id, `concurrency` at a time.
pub async fn run_gets(api: &NodeApi, table: &str, ids: &[u64], concurrency: usize, progress: &Progress) -> LoadStats {
    let bar = progress.bar(&format!("GET /{table}/{{n}} on node {}", api.name), ids.len() as u64);
    let start = Instant::now();
    let results: Vec<(bool, u32, Option<String>)> = futures::stream::iter(ids.iter().copied())
        .map(|n| {
            let bar = &bar;
            async move {
                let path = format!("{table}/{n}");
                let mut retries = 0;
                let outcome = loop {
                    let r = api.get(&path, Duration::from_secs(30)).await;
                    let (ok, retry, err) = match &r {
                        Ok(s) if s.is_success() => (true, false, None),
                        Ok(s) => (false, transient(Some(*s), None), Some(format!("GET /{path} answered {s}"))),
                        Err(e) => (false, transient(None, Some(e)), Some(format!("GET /{path}: {}", error_chain(e)))),
                    };
                    if ok || !retry || retries + 1 >= ATTEMPTS {
                        break (ok, err);
                    }
                    retries += 1;
                    tracing::debug!(attempt = retries, "retrying: {}", err.as_deref().unwrap_or("?"));
                    // A short, growing pause before retrying a transient error.
                    tokio::time::sleep(Duration::from_millis(100 * u64::from(retries))).await;
                };
                bar.inc();
                (outcome.0, retries, outcome.1)
            }
        })
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    let mut stats = LoadStats {
        requests: ids.len() as u64,
        distinct_ids: ids.iter().collect::<std::collections::BTreeSet<_>>().len(),
        seconds: start.elapsed().as_secs_f64(),
        ..Default::default()
    };
    for (ok, retries, err) in results {
        stats.retries += u64::from(retries);
        if ok {
            stats.ok += 1;
        } else {
            stats.failed += 1;
            if let Some(e) = err {
                if stats.errors.len() < 5 && !stats.errors.contains(&e) {
                    stats.errors.push(e);
                }
            }
        }
    }
    bar.finish(&format!(
        "{} ok, {} failed, {} retries in {:.1} s",
        stats.ok, stats.failed, stats.retries, stats.seconds
    ));
    stats
}

/// How waiting for B to catch up with A ended.
#[derive(Debug, Clone, Serialize)]
pub struct Settled {
    pub records_a: Option<u64>,
    pub records_b: Option<u64>,
    /// B's count equals A's.
    pub matched: bool,
    /// B's count stopped changing for the settle period without matching.
    pub stalled: bool,
    /// A count could not be read for the whole settle period (a node down).
    pub error: Option<String>,
    pub seconds: f64,
}

/// Polls both exact record counts until B equals A, or B has not changed for
/// `settle`, or `bound` is over. Under faults B may never match A, and may
/// even stop answering: that is evidence for the checks, not an error.
pub async fn settle(a: &NodeApi, b: &NodeApi, table: &str, settle: Duration, bound: Duration, progress: &Progress) -> Settled {
    let step = progress.step(&format!("waiting for node B's {table} count to match node A's"));
    let start = Instant::now();
    let (mut ca, mut cb) = (None, None);
    let mut last_change = Instant::now();
    let mut failing_since: Option<Instant> = None;
    loop {
        let (ra, rb) = tokio::join!(a.record_count(table), b.record_count(table));
        let mut error = None;
        match (ra, rb) {
            (Ok(x), Ok(y)) => {
                failing_since = None;
                ca = Some(x);
                if cb != Some(y) {
                    cb = Some(y);
                    last_change = Instant::now();
                }
            }
            (Err(e), _) | (_, Err(e)) => {
                error = Some(format!("{e:#}"));
                failing_since.get_or_insert_with(Instant::now);
            }
        }
        let matched = ca.is_some() && ca == cb && error.is_none();
        let stalled = !matched && cb.is_some() && last_change.elapsed() >= settle;
        let given_up = failing_since.is_some_and(|t| t.elapsed() >= settle);
        step.set_message(&format!("A {ca:?}, B {cb:?}"));
        if matched || stalled || given_up || start.elapsed() >= bound {
            let how = if matched {
                "matched"
            } else if given_up {
                "a node stopped answering"
            } else if stalled {
                "B stopped changing"
            } else {
                "bound reached"
            };
            let show = |c: Option<u64>| c.map(|n| n.to_string()).unwrap_or_else(|| "?".into());
            step.finish(&format!("A {}, B {}: {how}", show(ca), show(cb)));
            return Settled {
                records_a: ca,
                records_b: cb,
                matched,
                stalled,
                error: if given_up { error } else { None },
                seconds: start.elapsed().as_secs_f64(),
            };
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Commits `transactions` upserts of `records` records each on `api`, one
/// operation per transaction so each replicates as one message.
pub async fn commit_batches(
    api: &NodeApi,
    table: &str,
    transactions: u64,
    records: u64,
    payload_bytes: usize,
    progress: &Progress,
) -> Result<f64> {
    let bar = progress.bar(&format!("committing {transactions} × {records} records on node {}", api.name), transactions);
    let start = Instant::now();
    let payload = "x".repeat(payload_bytes);
    for t in 0..transactions {
        let recs: Vec<_> = (0..records).map(|r| json!({"id": format!("{t}-{r}"), "payload": payload})).collect();
        api.op(json!({"operation":"upsert","database":"data","table":table,"records":recs}), Duration::from_secs(120))
            .await?;
        bar.inc();
    }
    let secs = start.elapsed().as_secs_f64();
    bar.finish(&format!("{} records in {secs:.1} s", transactions * records));
    Ok(secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_draws_the_same_ids_within_the_space() {
        let a = draw_ids(42, 400, 400);
        assert_eq!(a, draw_ids(42, 400, 400));
        assert_ne!(a, draw_ids(43, 400, 400));
        assert!(a.iter().all(|&n| n < 400));
        assert_eq!(a.len(), 400);
    }
}
