//! blob-save judged from its observations alone: what the run saw of each
//! faulted node (`per_node::Observed`), how each came back from a nemesis,
//! and the settings the checks use. The run judges through this very
//! function what it saved, and `blobfail judge` judges a saved folder again
//! (with other log patterns, if asked).

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::in_time::{self, Comeback};
use super::per_node;
use crate::harper_log::LogPatterns;
use crate::model::Check;
use crate::observations::Judged;
use crate::scenario::{Judge, JudgeArgs};
use crate::topology::NodeId;
use crate::workload::Settled;

/// The settings blob-save's checks use (`--failure-pattern`, `--uncaught-pattern`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Settings {
    pub failure_pattern: String,
    pub uncaught_pattern: String,
}

/// Everything blob-save's checks read.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Observed {
    pub settings: Settings,
    /// How the faulted nodes' `cluster_status` names the source.
    pub a_name: String,
    /// The nemesis of the run (`kill-restart`, `pause`, …), if any.
    pub nemesis: Option<String>,
    /// Each faulted node, in the topology's order.
    pub nodes: Vec<per_node::Observed>,
    /// How each faulted node came back once the nemesis stopped.
    pub comebacks: Vec<Comeback>,
    /// How waiting for each node to match the source ended.
    pub settled: Vec<(NodeId, Settled)>,
}

pub const JUDGE: Judge = Judge { judge: judge_saved, options: &["failure_pattern", "uncaught_pattern"] };

fn judge_saved(observed: &Value, args: &JudgeArgs) -> Result<Judged> {
    let mut o: Observed = serde_json::from_value(observed.clone()).context("the observations are not blob-save's")?;
    args.override_patterns(&mut o.settings.failure_pattern, &mut o.settings.uncaught_pattern);
    judge(&o)
}

/// The checks (each joined across the faulted nodes) and the figures they
/// rest on: the first faulted node's at the top, as with two nodes, and
/// every node's under `faulted_nodes` when several are faulted.
pub fn judge(o: &Observed) -> Result<Judged> {
    let patterns = LogPatterns { failure: o.settings.failure_pattern.clone(), uncaught: o.settings.uncaught_pattern.clone() };
    let single = o.nodes.len() == 1;
    let mut per_check: Vec<Vec<(String, Check)>> = Vec::new();
    let mut figures = Map::new();
    let mut node_figures = Map::new();
    for (i, n) in o.nodes.iter().enumerate() {
        let (mut checks, figs) = per_node::judge(n, &o.a_name, &patterns)?;
        if let (Some(nem), Some((_, back))) = (&o.nemesis, o.comebacks.iter().find(|(m, _)| *m == n.node)) {
            let name = match nem.as_str() {
                "kill-restart" => "restarted",
                "slow-link" | "cut-stream" => "healed",
                _ => "resumed",
            };
            checks.push(in_time::came_back(name, back));
            let s = o.settled.iter().find(|(m, _)| *m == n.node).map(|(_, s)| s);
            checks.push(in_time::caught_up(back, s, n.death.as_deref()));
        }
        for (k, c) in checks.into_iter().enumerate() {
            if per_check.len() <= k {
                per_check.push(Vec::new());
            }
            per_check[k].push((n.node.to_string(), c));
        }
        if i == 0 {
            figures.extend(figs.clone());
        }
        if !single {
            node_figures.insert(n.node.to_string(), Value::Object(figs));
        }
    }
    if !single {
        figures.insert("faulted_nodes".into(), Value::Object(node_figures));
    }
    let checks = per_check.into_iter().map(Check::across_nodes).collect();
    Ok(Judged { checks, figures })
}
