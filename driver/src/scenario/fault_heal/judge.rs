//! fault-heal judged from its observations alone: the survey of the
//! records written after the heal, and what each look at B saw of the
//! records the window could have damaged (saved in observations.json;
//! `blobfail judge` judges them again).

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::checks::{self, HealWatch};
use crate::model::{check_safe, Check, Status};
use crate::observations::Judged;
use crate::scenario::blob_save::checks::LossSurvey;
use crate::scenario::{Judge, JudgeArgs};

/// Everything fault-heal's checks read.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Observed {
    /// `--heal-late`: the records after the heal was due met the faults.
    pub heal_late: bool,
    /// The records first written after the heal, read on both nodes, or
    /// why they could not be.
    pub serving: Result<LossSurvey, String>,
    /// The looks at the records written before the heal.
    pub watch: HealWatch,
    /// Why a look could not compare the nodes, if one could not.
    pub look_error: Option<String>,
}

pub const JUDGE: Judge = Judge { judge: judge_saved, options: &[] };

fn judge_saved(observed: &Value, _args: &JudgeArgs) -> Result<Judged> {
    let o: Observed = serde_json::from_value(observed.clone()).context("the observations are not fault-heal's")?;
    Ok(judge(&o))
}

/// serving-after-heal and healed, and the figures they rest on.
pub fn judge(o: &Observed) -> Judged {
    let unknown = |name: &str, e: &str| Check::new(name, Status::Unknown, format!("could not compare the nodes' records: {e}"));
    let checks = vec![
        match &o.serving {
            Ok(s) => check_safe("serving-after-heal", || checks::serving_after_heal(s, o.heal_late)),
            Err(e) => unknown("serving-after-heal", e),
        },
        match &o.look_error {
            None => check_safe("healed", || checks::healed(&o.watch)),
            Some(e) => unknown("healed", e),
        },
    ];
    let w = &o.watch;
    let mut figures = Map::new();
    if let Ok(s) = &o.serving {
        figures.insert("records_after_heal_damaged_on_b".into(), json!(checks::damaged_ids(s).len()));
    }
    figures.insert("records_damaged_at_first_look".into(), json!(w.damaged_at_first.len()));
    figures.insert("records_still_damaged_at_bound".into(), json!(w.still_damaged().len()));
    figures.insert("time_to_heal_seconds".into(), json!(w.time_to_heal()));
    figures.insert("looks".into(), json!(w.looks));
    Judged { checks, figures }
}
