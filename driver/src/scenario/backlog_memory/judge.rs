//! backlog-memory judged from its observations alone: each backlog's
//! catch-up (counts, memory samples, the kernel's last look), the lines of
//! B's log and output that `no-worker-oom` reads, and the limits the checks
//! use. The run judges through this very function what it saved, and
//! `blobfail judge` judges a saved folder again (with other limits, if asked).

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::catch_up;
use super::checks::{self, sweep_caught_up, worst, OutputSeen};
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
