//! One backlog and its catch-up: node B stopped, a backlog committed on A,
//! B restarted on the same root and sampled (the API and the kernel) from
//! its launch until its count matches A's, and a little longer. A sweep
//! runs this once per backlog size on the same cluster.

use std::time::{Duration, Instant};

use anyhow::Result;
use serde_json::{json, Value};
use tokio::sync::watch;

use super::checks::{self, KindsAt, MemoryPeaks};
use super::TABLE;
use crate::cluster::Cluster;
use crate::journal::Phases;
use crate::model::Check;
use crate::monitor::{self, GroupMemory, Sample};
use crate::events::Events;
use crate::workload::{self, Batches};

/// Like Harper's own test: SIGTERM, then SIGKILL 200 ms later.
const STOP_GRACE: Duration = Duration::from_millis(200);
/// How often B is asked whether the backlog has arrived (a cheap question).
const POLL_EVERY: Duration = Duration::from_millis(250);
/// The least time between two exact counts of B (each a scan of the table).
const EXACT_AGAIN: Duration = Duration::from_secs(5);

/// What one catch-up showed.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Observed {
    /// The backlog's size (records committed while B was down).
    pub backlog: u64,
    pub transactions: u64,
    /// Seconds A took to commit the backlog.
    pub commit_seconds: f64,
    /// A's count, which B had to reach.
    pub records_a: u64,
    pub last_b: Option<u64>,
    /// Seconds from B's launch until its count matched A's.
    pub catch_up: Option<f64>,
    /// Seconds from B's launch until it first held the last record of every
    /// transaction (the rest of `catch_up` is mostly the exact count's scan).
    pub all_transactions: Option<f64>,
    /// How B died, if it did on its own.
    pub death: Option<String>,
    pub samples: Vec<Sample>,
    /// The kernel's last look at B's group, just before it was stopped.
    pub last_os: Option<GroupMemory>,
    pub b_pid: Option<u32>,
    /// Seconds from B's launch until its count poll first answered.
    pub answered: Option<f64>,
}

/// Stops B, commits `batches` on A, restarts B and watches it catch up
/// (at most `timeout`), then samples `after` longer.
pub async fn once(
    cluster: &mut Cluster,
    batches: Batches,
    timeout: Duration,
    after: Duration,
    phases: &mut Phases,
    events: &Events,
) -> Result<Observed> {
    let a = cluster.api("a");
    let b = cluster.api("b");
    let step = events.step("stopping node B");
    phases.enter("stop_b");
    cluster.check_alive()?;
    let stop = cluster.stop_node("b", STOP_GRACE).await.expect("node b was running");
    phases.record("stop_b", Duration::from_secs_f64(stop.seconds));
    step.finish(&format!("{} after {} ({:.1} s)", stop.exit, stop.signal, stop.seconds));

    let commits = workload::commit_batches(&a, TABLE, batches, events);
    let commit_seconds = match phases.time("backlog", cluster.supervise(commits)).await? {
        Ok(secs) => secs,
        // Say so if A died under the commits, rather than only that it stopped answering.
        Err(e) => return Err(cluster.end("a").map_or(e, anyhow::Error::from)),
    };
    // A's exact count, which B's must reach: a scan of every record (seconds
    // at 420k records), so a phase of its own.
    let records_a = phases.time("count_a", a.record_count(TABLE)).await?;

    // From the moment B is launched: sample its memory, and poll its count.
    let step = events.step(&format!("restarting node B and waiting for it to catch up to {records_a} records"));
    let launched = Instant::now();
    phases.enter("restart");
    cluster.restart("b")?;
    // B leads its own process group (pgid = pid): the kernel's figures of
    // that group answer during the replay, when B's API does not.
    let b_pid = cluster.node("b").pid();
    let (stop_tx, stop_rx) = watch::channel(false);
    let sampler = tokio::spawn(monitor::sample_until(b.clone(), b_pid, launched, stop_rx));
    let mut last_b = None;
    let mut catch_up = None;
    let mut death = None;
    // restart: from launch to B's first answer; catching_up: from there to
    // the count matching A's.
    let mut answered: Option<Instant> = None;
    // B is asked for the last record of each transaction of this backlog
    // (point lookups: 20–30 ms at 900k records), and only once it holds them
    // all for its exact count. Counting is what the loop must not do often:
    // describe_table's estimate scans for up to 1 s, the exact count for
    // seconds (10–15 s at 900k records), both on B's one worker thread, the
    // one that replays the backlog.
    let last_ids = batches.last_ids();
    let mut exact_at: Option<Instant> = None;
    let mut all_transactions = None;
    while launched.elapsed() < timeout {
        // A stop from outside (of A or B) ends the run as interrupted; a
        // crash of B is this scenario's finding.
        if let Err(e) = cluster.check_outside() {
            let _ = stop_tx.send(true);
            return Err(e);
        }
        if let Some(d) = cluster.death("b") {
            death = Some(d);
            break;
        }
        let asked = Instant::now();
        let probe = transactions_on(&b, &last_ids).await;
        tracing::debug!(t = launched.elapsed().as_secs_f64(), took = asked.elapsed().as_secs_f64(), ?probe, "transactions on B");
        if let Ok(present) = probe {
            if answered.is_none() {
                answered = Some(Instant::now());
                phases.record("restart", launched.elapsed());
                phases.enter("catching_up");
            }
            step.set_message(&format!(
                "{present} / {} transactions on B after {:.0} s",
                last_ids.len(),
                launched.elapsed().as_secs_f64()
            ));
            if present >= last_ids.len() as u64 && all_transactions.is_none() {
                all_transactions = Some(launched.elapsed().as_secs_f64());
            }
            // Every transaction there: the exact count decides. Should it
            // still fall short, count again no sooner than 5 s later.
            if count_exactly(present, last_ids.len(), exact_at.map(|t| t.elapsed())) {
                exact_at = Some(Instant::now());
                if let Ok(n) = b.count(TABLE, true, Duration::from_secs(60)).await {
                    last_b = Some(n);
                    if n >= records_a {
                        catch_up = Some(launched.elapsed().as_secs_f64());
                        break;
                    }
                }
            }
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
    if catch_up.is_none() && death.is_none() {
        // For the evidence: where B's count stood when the bound ran out.
        if let Ok(n) = b.count(TABLE, true, Duration::from_secs(20)).await {
            last_b = Some(n);
        }
    }
    match answered {
        Some(t) => phases.record("catching_up", t.elapsed()),
        None => phases.record("restart", launched.elapsed()),
    }
    if catch_up.is_some() {
        // A fixed observation window, not a wait for a condition: the plot
        // shows whether B's memory comes back down after the catch-up.
        step.set_message("caught up; sampling a little longer");
        let window = tokio::time::sleep(after);
        if let Err(e) = phases.time("after_catch_up", cluster.supervise(window)).await {
            let _ = stop_tx.send(true);
            return Err(e);
        }
    }
    let _ = stop_tx.send(true);
    // A B that died after catching up (in the window above) did not stay caught up.
    if death.is_none() {
        death = cluster.death("b");
    }
    let samples: Vec<Sample> = sampler.await.unwrap_or_default();
    // VmHWM covers the moments between samples too; it goes with the
    // process, so read it before B is stopped.
    let last_os = b_pid.and_then(monitor::read_group_memory);
    step.finish(&match catch_up {
        Some(s) => format!("caught up in {s:.1} s"),
        None => "did not catch up".to_string(),
    });
    Ok(Observed {
        backlog: batches.transactions * batches.records,
        transactions: batches.transactions,
        commit_seconds,
        records_a,
        last_b,
        catch_up,
        all_transactions,
        death,
        samples,
        last_os,
        b_pid,
        answered: answered.map(|a| a.duration_since(launched).as_secs_f64()),
    })
}

/// Whether to count B exactly now: once B holds the last record of every
/// transaction, and no sooner than `EXACT_AGAIN` after the last exact count.
fn count_exactly(present: u64, transactions: usize, since_last_exact: Option<Duration>) -> bool {
    present >= transactions as u64 && since_last_exact.is_none_or(|d| d >= EXACT_AGAIN)
}

/// How many of `last_ids` (the last record of each transaction of a
/// backlog) node B stores: `search_by_id`, point lookups at any table size.
/// Only for `Load`, which has no source: on a table with one, `search_by_id`
/// would create the records B lacks.
async fn transactions_on(b: &crate::api::NodeApi, last_ids: &[String]) -> Result<u64> {
    let v = b
        .op(
            json!({"operation":"search_by_id","database":"data","table":TABLE,"ids":last_ids,"get_attributes":["id"]}),
            Duration::from_secs(5),
        )
        .await?;
    v.as_array()
        .map(|rows| rows.len() as u64)
        .ok_or_else(|| anyhow::anyhow!("search_by_id on node {} answered no list: {}", b.name, crate::api::shorten(&v.to_string(), 200)))
}

impl Observed {
    fn ok_samples(&self) -> Vec<&Sample> {
        self.samples.iter().filter(|s| s.ok()).collect()
    }

    /// The replay ends at B's first answer to either the sampler or the
    /// count polls, whichever came first.
    pub fn first_answer(&self) -> Option<f64> {
        self.ok_samples().first().map(|s| s.t).into_iter().chain(self.answered).reduce(f64::min)
    }

    pub fn peaks(&self) -> MemoryPeaks {
        let ok = self.ok_samples();
        let by_kind = monitor::peak_of(&self.samples, |s| s.os_rss).and_then(|(rss, t)| {
            let s = self.samples.iter().find(|s| s.t == t)?;
            Some(KindsAt { rss, t, anon: s.os_anon?, file: s.os_file? })
        });
        MemoryPeaks {
            api: ok.iter().filter_map(|s| Some((s.rss?, s.t))).max_by_key(|(r, _)| *r),
            os: monitor::os_peak(&self.samples, self.last_os.as_ref()).ok_or_else(|| match self.b_pid {
                Some(pid) => format!("/proc/{pid} was not readable (B gone, or /proc not ours)"),
                None => "B is not a process of this run".to_string(),
            }),
            first_answer: self.first_answer(),
            samples_ok: ok.len(),
            samples: self.samples.len(),
            by_kind,
        }
    }

    pub fn peak_anon(&self) -> Option<(u64, f64)> {
        monitor::peak_of(&self.samples, |s| s.os_anon)
    }

    pub fn caught_up(&self, timeout: f64) -> Check {
        checks::caught_up(self.records_a, self.last_b, self.catch_up, timeout, self.death.as_deref())
    }

    pub fn peak_rss_below_limit(&self, limit: u64) -> Check {
        checks::peak_rss_below_limit(&self.peaks(), limit)
    }

    pub fn peak_anon_below_limit(&self, limit: u64) -> Check {
        let with_kinds = self.samples.iter().filter(|s| s.os_anon.is_some()).count();
        checks::peak_anon_below_limit(self.peak_anon(), self.first_answer(), with_kinds, self.samples.len(), limit)
    }

    /// This catch-up's figures (one row of a sweep's table).
    pub fn figures(&self) -> serde_json::Map<String, Value> {
        let peaks = self.peaks();
        let ok = self.ok_samples();
        let mut f = serde_json::Map::new();
        let mut put = |k: &str, v: Value| {
            f.insert(k.to_string(), v);
        };
        put("backlog_records", json!(self.backlog));
        put("transactions", json!(self.transactions));
        put("commit_seconds", json!((self.commit_seconds * 1000.0).round() / 1000.0));
        put("commit_records_per_second", json!((self.commit_seconds > 0.0).then(|| (self.backlog as f64 / self.commit_seconds).round())));
        put("records_a", json!(self.records_a));
        put("records_b", json!(self.last_b));
        put("catch_up_seconds", json!(self.catch_up));
        put("all_transactions_on_b_seconds", json!(self.all_transactions));
        put("catch_up_records_per_second", json!(self.catch_up.filter(|s| *s > 0.0).map(|s| (self.backlog as f64 / s).round())));
        put("peak_rss_bytes", json!(peaks.api.map(|p| p.0)));
        put("peak_rss_at_seconds", json!(peaks.api.map(|p| p.1)));
        // The kernel's peak: max of the sampled VmRSS and the final VmHWM.
        put("peak_os_rss_bytes", json!(peaks.os.as_ref().ok().map(|p| p.bytes)));
        put("peak_anon_bytes", json!(self.peak_anon().map(|p| p.0)));
        put("peak_file_bytes", json!(monitor::peak_of(&self.samples, |s| s.os_file).map(|p| p.0)));
        put("peak_shmem_bytes", json!(monitor::peak_of(&self.samples, |s| s.os_shmem).map(|p| p.0)));
        put("peak_heaps_used_bytes", json!(monitor::peak_of(&self.samples, Sample::heaps_used).map(|p| p.0)));
        put("peak_heap_used_bytes", json!(ok.iter().filter_map(|s| s.heap_used).max()));
        put("samples_kernel_only", json!(self.samples.iter().filter(|s| !s.ok() && s.os_rss.is_some_and(|r| r > 0)).count()));
        put("samples", json!(self.samples.len()));
        put("samples_failed", json!(self.samples.len() - ok.len()));
        f
    }

    /// This catch-up as a point of `memory-growth.svg`.
    pub fn growth_point(&self) -> monitor::plot::GrowthPoint {
        monitor::plot::GrowthPoint {
            records: self.backlog,
            peak_anon: self.peak_anon().map(|p| p.0),
            peak_file: monitor::peak_of(&self.samples, |s| s.os_file).map(|p| p.0),
            peak_heap: monitor::peak_of(&self.samples, Sample::heaps_used).map(|p| p.0),
            catch_up_seconds: self.catch_up,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn b_is_counted_exactly_once_every_transaction_is_there_and_then_at_most_every_5_s() {
        assert!(!count_exactly(0, 640, None));
        assert!(!count_exactly(639, 640, None), "one transaction short: no scan of the table yet");
        assert!(count_exactly(640, 640, None));
        assert!(!count_exactly(640, 640, Some(Duration::from_secs(1))), "the last count fell short 1 s ago");
        assert!(count_exactly(640, 640, Some(EXACT_AGAIN)));
    }
}
