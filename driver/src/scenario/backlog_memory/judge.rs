//! backlog-memory judged from its observations alone: each backlog's
//! catch-up (counts, memory samples, the kernel's last look), the lines of
//! B's log and output that `no-worker-oom` reads, and the limits the checks
//! use. The run judges through this very function what it saved, and
//! `blobfail judge` judges a saved folder again (with other limits, if asked).

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::catch_up;
use super::checks::{self, OutputSeen};
use crate::model::{Check, Status};
use crate::observations::Judged;
use crate::scenario::{Judge, JudgeArgs};

/// The settings backlog-memory's checks use.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Settings {
    pub rss_limit: u64,
    pub anon_limit: u64,
    pub growth_limit: f64,
    /// `--catch-up-timeout` (the caught-up evidence names it).
    pub catch_up_timeout: f64,
}

/// Everything backlog-memory's checks read.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Observed {
    pub settings: Settings,
    /// The sweep's planned sizes (None: a single backlog).
    pub sweep: Option<Vec<u64>>,
    /// Each backlog's catch-up, in order (a sweep stops at the first that did not catch up).
    pub backlogs: Vec<catch_up::Observed>,
    /// B's `hdb.log`, stdout and stderr, as `no-worker-oom` reads them.
    pub outputs: Vec<OutputSeen>,
}

pub const JUDGE: Judge = Judge { judge: judge_saved, options: &["rss_limit", "anon_limit", "growth_limit"] };

fn judge_saved(observed: &Value, args: &JudgeArgs) -> Result<Judged> {
    let mut o: Observed = serde_json::from_value(observed.clone()).context("the observations are not backlog-memory's")?;
    if let Some(l) = args.rss_limit {
        o.settings.rss_limit = l;
    }
    if let Some(l) = args.anon_limit {
        o.settings.anon_limit = l;
    }
    if let Some(l) = args.growth_limit {
        o.settings.growth_limit = l;
    }
    judge(&o)
}

/// The checks, and the figures that rest on them and on the limits.
pub fn judge(o: &Observed) -> Result<Judged> {
    let s = &o.settings;
    let observed = &o.backlogs;
    let Some(first) = observed.first() else { anyhow::bail!("no backlog was observed") };
    let oom = checks::no_worker_oom_seen(&o.outputs);
    let mut figures = Map::new();
    let checks = match &o.sweep {
        None => {
            figures.extend(first.figures());
            figures.remove("backlog_records");
            vec![first.caught_up(s.catch_up_timeout), oom, first.peak_rss_below_limit(s.rss_limit), first.peak_anon_below_limit(s.anon_limit)]
        }
        Some(sizes) => {
            let anon: Vec<(u64, Option<u64>)> = observed.iter().map(|o| (o.backlog, o.peak_anon().map(|p| p.0))).collect();
            let xy: Vec<(f64, f64)> =
                anon.iter().filter_map(|(r, a)| Some((*r as f64 / checks::PER_RECORDS, (*a)? as f64 / (1024.0 * 1024.0)))).collect();
            figures.insert("anon_growth_mib_per_10k_records".into(), json!(checks::slope(&xy).map(|m| (m * 1000.0).round() / 1000.0)));
            figures.insert("growth_limit_mib_per_10k_records".into(), json!(s.growth_limit));
            figures.insert("sweep".into(), Value::Array(observed.iter().map(|o| Value::Object(o.figures())).collect()));
            let planned = sizes.len();
            let mut checks = vec![
                sweep_caught_up(observed, planned, s.catch_up_timeout),
                oom,
                worst(observed, |o| o.peak_rss_below_limit(s.rss_limit), |o| o.peaks().os.ok().map(|p| p.bytes)),
                worst(observed, |o| o.peak_anon_below_limit(s.anon_limit), |o| o.peak_anon().map(|p| p.0)),
                checks::memory_bounded(&anon, s.growth_limit),
            ];
            if observed.len() < planned {
                let why = format!(
                    "the sweep stopped at the backlog of {} records, so not every size was measured",
                    observed.last().map(|o| o.backlog).unwrap_or(0)
                );
                checks[4] = Check::new("memory-bounded", Status::Unknown, why);
            }
            checks
        }
    };
    figures.insert("rss_limit_bytes".into(), json!(s.rss_limit));
    figures.insert("anon_limit_bytes".into(), json!(s.anon_limit));
    Ok(Judged { checks, figures })
}

/// `caught-up` over a sweep: passes when B caught up after every backlog;
/// otherwise the first backlog it did not catch up on, and why.
fn sweep_caught_up(observed: &[catch_up::Observed], planned: usize, timeout: f64) -> Check {
    // Any backlog that did not PASS on its own (never caught up, or caught
    // up and then B died) decides the sweep.
    if let Some((o, c)) = observed.iter().map(|o| (o, o.caught_up(timeout))).find(|(_, c)| c.status != Status::Pass) {
        return Check::new(&c.name, c.status, format!("after the backlog of {} records: {}", o.backlog, c.evidence));
    }
    let each: Vec<String> = observed
        .iter()
        .map(|o| format!("{} records in {:.1} s (A {})", o.backlog, o.catch_up.unwrap_or_default(), o.records_a))
        .collect();
    let status = if observed.len() == planned { Status::Pass } else { Status::Unknown };
    Check::new("caught-up", status, format!("B's record_count reached A's after each backlog: {}", each.join(", ")))
}

/// The check of the backlog that judges worst: a failure first, then an
/// undecided one, else the one with the largest `peak`; named by its size.
fn worst(
    observed: &[catch_up::Observed],
    check: impl Fn(&catch_up::Observed) -> Check,
    peak: impl Fn(&catch_up::Observed) -> Option<u64>,
) -> Check {
    let rank = |s: Status| match s {
        Status::Fail => 2,
        Status::Unknown => 1,
        Status::Pass => 0,
    };
    let (o, c) = observed
        .iter()
        .map(|o| (o, check(o)))
        .max_by_key(|(o, c)| (rank(c.status), peak(o).unwrap_or(0)))
        .expect("a sweep observed at least one backlog");
    Check::new(&c.name, c.status, format!("backlog of {} records (the sweep's worst): {}", o.backlog, c.evidence))
}

#[cfg(test)]
mod sweep_tests {
    use super::*;

    fn backlog(backlog: u64, catch_up: Option<f64>, death: Option<&str>) -> catch_up::Observed {
        catch_up::Observed {
            backlog,
            transactions: 1,
            commit_seconds: 1.0,
            records_a: backlog,
            last_b: Some(if catch_up.is_some() { backlog } else { backlog / 2 }),
            catch_up,
            all_transactions: catch_up,
            death: death.map(str::to_string),
            samples: Vec::new(),
            last_os: None,
            b_pid: Some(42),
            answered: Some(1.0),
        }
    }

    #[test]
    fn a_sweep_catches_up_only_when_every_backlog_did_and_b_lived() {
        let all = [backlog(1000, Some(2.0), None), backlog(4000, Some(5.0), None)];
        let c = sweep_caught_up(&all, 2, 60.0);
        assert_eq!(c.status, Status::Pass, "{}", c.evidence);
        // One backlog fewer than planned: undecided.
        assert_eq!(sweep_caught_up(&all[..1], 2, 60.0).status, Status::Unknown);
        // Caught up, then B died: the sweep fails on that backlog.
        let died = [backlog(1000, Some(2.0), None), backlog(4000, Some(5.0), Some("exit status 0"))];
        let c = sweep_caught_up(&died, 2, 60.0);
        assert_eq!(c.status, Status::Fail, "{}", c.evidence);
        assert!(c.evidence.starts_with("after the backlog of 4000 records: "), "{}", c.evidence);
        // Never caught up.
        let never = [backlog(1000, None, None), backlog(4000, Some(5.0), None)];
        let c = sweep_caught_up(&never, 2, 60.0);
        assert_eq!(c.status, Status::Fail, "{}", c.evidence);
        assert!(c.evidence.starts_with("after the backlog of 1000 records: "), "{}", c.evidence);
    }
}
