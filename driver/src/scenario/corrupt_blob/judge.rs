//! corrupt-blob judged from its observations alone: what comparing B's
//! blobs with A's found, and how many writes the shim corrupted (saved in
//! observations.json; `blobfail judge` judges them again).

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::{no_silent_corruption, Differs};
use crate::model::{check_safe, Check, Status};
use crate::observations::Judged;
use crate::scenario::{Judge, JudgeArgs};

/// What comparing B's blobs with A's found.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Compared {
    /// Records read on both nodes.
    pub records: usize,
    /// Successful reads on B whose bytes are not A's.
    pub differs: Vec<Differs>,
    /// Reads of B that failed or hung.
    pub not_answered: usize,
}

/// Everything corrupt-blob's check reads.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Observed {
    /// The comparison, or why the nodes could not be compared.
    pub compared: Result<Compared, String>,
    /// Calls the shim corrupted on B (its fault log).
    pub corruptions: usize,
    /// Which calls it corrupted: "write" (the files) or "read" (the bytes
    /// Harper read back).
    #[serde(default = "writes")]
    pub calls: String,
}

fn writes() -> String {
    "write".into()
}

pub const JUDGE: Judge = Judge { judge: judge_saved, options: &[] };

fn judge_saved(observed: &Value, _args: &JudgeArgs) -> Result<Judged> {
    let o: Observed = serde_json::from_value(observed.clone()).context("the observations are not corrupt-blob's")?;
    Ok(judge(&o))
}

pub fn judge(o: &Observed) -> Judged {
    let mut figures = Map::new();
    let check = match &o.compared {
        Ok(c) => {
            figures.insert("records_compared".into(), json!(c.records));
            figures.insert("reads_differing_on_b".into(), json!(c.differs.len()));
            figures.insert("reads_not_answered_on_b".into(), json!(c.not_answered));
            check_safe("no-silent-corruption", || no_silent_corruption(c.records, &c.differs, c.not_answered, o.corruptions, &o.calls))
        }
        Err(e) => Check::new("no-silent-corruption", Status::Unknown, format!("could not compare the nodes' blobs: {e}")),
    };
    Judged { checks: vec![check], figures }
}
