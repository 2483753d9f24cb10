//! partition-heal judged from its observations alone: what each node held
//! at the last look, what was written on each side, whether the partition
//! held, the probes after the heal, what cluster_status said, and the
//! nodes' logs (saved in observations.json; `blobfail judge` judges them
//! again).

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::checks::{self, Crossing, Snapshot, Written};
use crate::harper_log::LogEntry;
use crate::model::check_safe;
use crate::observations::Judged;
use crate::scenario::{Judge, JudgeArgs};

/// The settings partition-heal's checks use.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Settings {
    /// `--converge-timeout`, in seconds.
    pub converge_timeout: f64,
    /// Whether the partition was healed before the checks (not `--no-heal`).
    pub healed: bool,
    /// How long a probe after the heal had to cross a link, in seconds.
    pub probe_bound: f64,
    /// Each blob the run made: its length and SHA-256 (hex).
    pub blob_bytes: u64,
    pub blob_sha256: String,
    /// The log entries no-uncaught-exception looks for.
    pub uncaught_pattern: String,
}

/// Everything partition-heal's checks read.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Observed {
    pub settings: Settings,
    /// Whether a probe crossed the partition while it was held, in words.
    pub held: String,
    /// What each node held at the last look.
    pub snapshots: Vec<Snapshot>,
    /// Seconds after the heal until every node held the same, complete state.
    pub converged_seconds: Option<f64>,
    pub written: Written,
    /// Probes across every link after the heal.
    pub crossings: Vec<Crossing>,
    /// What each node's cluster_status said of each other node.
    pub cluster_status: Vec<String>,
    /// Each node's log, or why it could not be read.
    pub logs: Vec<(String, Result<Vec<LogEntry>, String>)>,
}

pub const JUDGE: Judge = Judge { judge: judge_saved, options: &[] };

fn judge_saved(observed: &Value, _args: &JudgeArgs) -> Result<Judged> {
    let o: Observed = serde_json::from_value(observed.clone()).context("the observations are not partition-heal's")?;
    Ok(judge(&o))
}

/// The five checks, in order (their figures are the run's).
pub fn judge(o: &Observed) -> Judged {
    let s = &o.settings;
    let checks = vec![
        check_safe("converged", || checks::converged(&o.snapshots, o.converged_seconds, s.converge_timeout, s.healed, &o.held)),
        check_safe("same-winner", || checks::same_winner(&o.snapshots, &o.written)),
        check_safe("nothing-lost", || checks::nothing_lost(&o.snapshots, &o.written, (s.blob_bytes, &s.blob_sha256))),
        check_safe("no-uncaught-exception", || checks::no_uncaught_exception(&o.logs, &s.uncaught_pattern)),
        check_safe("peer-connected", || checks::peer_connected(&o.crossings, s.probe_bound, &o.cluster_status.join("; "))),
    ];
    Judged { checks, figures: Default::default() }
}
