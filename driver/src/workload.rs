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
use crate::events::Events;

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
pub async fn run_gets(api: &NodeApi, table: &str, ids: &[u64], concurrency: usize, events: &Events) -> LoadStats {
    let bar = events.bar(&format!("GET /{table}/{{n}} on node {}", api.name), ids.len() as u64);
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
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
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
pub async fn settle(a: &NodeApi, b: &NodeApi, table: &str, settle: Duration, bound: Duration, events: &Events) -> Settled {
    let bn = b.name.to_uppercase();
    let step = events.step(&format!("waiting for node {bn}'s {table} count to match node A's"));
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
        step.set_message(&format!("A {ca:?}, {bn} {cb:?}"));
        if matched || stalled || given_up || start.elapsed() >= bound {
            let stopped = format!("{bn} stopped changing");
            let how = if matched {
                "matched"
            } else if given_up {
                "a node stopped answering"
            } else if stalled {
                stopped.as_str()
            } else {
                "bound reached"
            };
            let show = |c: Option<u64>| c.map(|n| n.to_string()).unwrap_or_else(|| "?".into());
            step.finish(&format!("A {}, {bn} {}: {how}", show(ca), show(cb)));
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

/// The transactions of one backlog: `transactions` upserts of `records`
/// records each, numbered from `first` (ids `<t>-<r>`, so the backlogs of a
/// sweep never overwrite each other's records), `in_flight` of them at a
/// time.
#[derive(Debug, Clone, Copy)]
pub struct Batches {
    pub first: u64,
    pub transactions: u64,
    pub records: u64,
    pub payload_bytes: usize,
    pub in_flight: usize,
}

impl Batches {
    /// The id of record `r` of transaction `t`.
    pub fn record_id(t: u64, r: u64) -> String {
        format!("{t}-{r}")
    }

    /// The last record of each transaction, in order: the cheap question
    /// (has each transaction reached B?) asked before the exact count.
    pub fn last_ids(&self) -> Vec<String> {
        (self.first..self.first + self.transactions).map(|t| Batches::record_id(t, self.records.saturating_sub(1))).collect()
    }
}

/// Commits the batches on `api`, one operation per transaction so each
/// replicates as one message, `in_flight` at a time (more than one lets the
/// driver send the next while A works on the last); the transactions, their
/// records and their count stay the same whatever `in_flight` is.
pub async fn commit_batches(api: &NodeApi, table: &str, batches: Batches, events: &Events) -> Result<f64> {
    let Batches { first, transactions, records, payload_bytes, in_flight } = batches;
    let bar = events.bar(
        &format!("committing {transactions} × {records} records on node {} ({in_flight} in flight)", api.name),
        transactions,
    );
    let start = Instant::now();
    let payload = "x".repeat(payload_bytes);
    let payload = payload.as_str();
    let each = &bar;
    in_order(first..first + transactions, in_flight, |t| async move {
        let recs: Vec<_> = (0..records).map(|r| json!({"id": Batches::record_id(t, r), "payload": payload})).collect();
        api.op(json!({"operation":"upsert","database":"data","table":table,"records":recs}), Duration::from_secs(120))
            .await?;
        each.inc();
        Ok(())
    })
    .await?;
    let secs = start.elapsed().as_secs_f64();
    bar.finish(&format!("{} records in {secs:.1} s", transactions * records));
    Ok(secs)
}

/// Runs `f` on each item, started in order, at most `in_flight` at a time
/// (a new one starts as soon as any finishes); the first error stops it:
/// nothing more starts, and the ones in flight are dropped.
pub async fn in_order<I, F, Fut>(items: I, in_flight: usize, f: F) -> Result<()>
where
    I: IntoIterator,
    F: FnMut(I::Item) -> Fut,
    Fut: std::future::Future<Output = Result<()>>,
{
    let mut running = futures::stream::iter(items).map(f).buffer_unordered(in_flight.max(1));
    while let Some(done) = running.next().await {
        done?;
    }
    Ok(())
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

    /// Runs `in_order` over 0..n with `in_flight`, each item taking a
    /// different time; returns the start order, the largest number running
    /// at once, and how many finished.
    async fn schedule(n: u64, in_flight: usize, fail_at: Option<u64>) -> (Result<()>, Vec<u64>, usize, usize) {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use std::sync::Mutex;
        let started = Mutex::new(Vec::new());
        let (running, most, finished) = (AtomicUsize::new(0), AtomicUsize::new(0), AtomicUsize::new(0));
        let r = in_order(0..n, in_flight, |t| {
            let (started, running, most, finished) = (&started, &running, &most, &finished);
            async move {
                started.lock().unwrap().push(t);
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                // Uneven durations, so later items overtake earlier ones.
                tokio::time::sleep(Duration::from_millis(1 + (t * 7) % 5)).await;
                running.fetch_sub(1, Ordering::SeqCst);
                if Some(t) == fail_at {
                    anyhow::bail!("upsert {t} failed");
                }
                finished.fetch_add(1, Ordering::SeqCst);
                Ok(())
            }
        })
        .await;
        (r, started.into_inner().unwrap(), most.into_inner(), finished.into_inner())
    }

    #[test]
    fn the_probe_asks_for_the_last_record_of_each_transaction_of_its_backlog() {
        let b = Batches { first: 40, transactions: 3, records: 500, payload_bytes: 1, in_flight: 4 };
        assert_eq!(b.last_ids(), ["40-499", "41-499", "42-499"]);
        assert_eq!(Batches::record_id(42, 499), "42-499");
    }

    #[tokio::test]
    async fn commits_start_in_order_each_once_never_more_than_in_flight() {
        for in_flight in [1, 2, 4, 8] {
            let (r, started, most, finished) = schedule(40, in_flight, None).await;
            assert!(r.is_ok(), "{r:?}");
            assert_eq!(started, (0..40).collect::<Vec<_>>(), "{in_flight} in flight");
            assert_eq!(finished, 40, "{in_flight} in flight");
            assert_eq!(most, in_flight, "{in_flight} in flight: at most that many at once, and that many when there is work");
        }
        // 0 means one at a time, not none.
        let (_, started, most, _) = schedule(3, 0, None).await;
        assert_eq!((started.len(), most), (3, 1));
    }

    #[tokio::test]
    async fn a_failed_commit_stops_the_backlog_with_its_error() {
        let (r, started, _, finished) = schedule(40, 4, Some(5)).await;
        assert_eq!(r.unwrap_err().to_string(), "upsert 5 failed");
        assert!(started.len() < 40 && finished < 40, "started {started:?}, finished {finished}");
    }
}
