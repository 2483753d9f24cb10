//! fault-heal's checks, judged from what the looks at B saw (pure).

use std::collections::{BTreeMap, BTreeSet};

use crate::model::{Check, Status};
use crate::scenario::blob_save::checks::{self, id_list, LossSurvey};

/// The ids a survey found missing on B or with a damaged blob, each with why.
pub fn damaged_ids(s: &LossSurvey) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> = s.missing_on_b.iter().map(|id| (id.clone(), "missing on B".to_string())).collect();
    for (id, why) in &s.blob_unreadable_on_b {
        let why = if s.hung_on_b.contains(id) { format!("no answer within {:.1} s", s.read_bound_s) } else { why.clone() };
        out.insert(id.clone(), why);
    }
    for (id, (b, a)) in &s.blob_short_on_b {
        out.insert(id.clone(), format!("{b} of {a} bytes"));
    }
    for id in &s.blob_differs_on_b {
        out.insert(id.clone(), "bytes differ from A's".into());
    }
    out
}

/// What B showed of the records first written while its faults were armed,
/// look after look, from the heal until they were all whole or the bound.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct HealWatch {
    /// The bound after the heal, in seconds.
    pub bound_s: f64,
    /// Records first written on A before the heal (B may have written them
    /// while its faults were armed: B was healed before the arm).
    pub window_records: usize,
    /// Faults the shim logged while armed.
    pub faults_in_window: u64,
    /// Of `window_records`, those compared on both nodes at the first look.
    pub judged_at_first: usize,
    /// Those A could not serve at the first look: not judged.
    pub unjudged_at_first: usize,
    /// id -> why it was damaged at the first look after the heal.
    pub damaged_at_first: BTreeMap<String, String>,
    /// id -> seconds after the heal of the first look that read it whole.
    pub healed_at: BTreeMap<String, f64>,
    /// Each look: seconds after the heal, records still damaged.
    pub looks: Vec<(f64, usize)>,
}

impl HealWatch {
    pub fn still_damaged(&self) -> BTreeSet<&String> {
        self.damaged_at_first.keys().filter(|id| !self.healed_at.contains_key(*id)).collect()
    }

    /// Seconds from the heal until the last damaged record read whole;
    /// None when one never did (or nothing was damaged).
    pub fn time_to_heal(&self) -> Option<f64> {
        if self.damaged_at_first.is_empty() || !self.still_damaged().is_empty() {
            return None;
        }
        self.healed_at.values().copied().reduce(f64::max)
    }

    fn looks_line(&self) -> String {
        let l: Vec<String> = self.looks.iter().map(|(t, n)| format!("{t:.1} s: {n}")).collect();
        format!("damaged at each look after the heal: {}", l.join(", "))
    }
}

/// `healed`: every record damaged during the window reads back on B with
/// A's bytes within the bound after the heal.
pub fn healed(w: &HealWatch) -> Check {
    const NAME: &str = "healed";
    if w.window_records == 0 {
        return Check::new(NAME, Status::Unknown, "no record was written before the heal: nothing could be damaged".to_string());
    }
    let first = w.looks.first().map_or(0.0, |l| l.0);
    if w.damaged_at_first.is_empty() {
        if w.judged_at_first == 0 || w.unjudged_at_first > 0 {
            return Check::new(
                NAME,
                Status::Unknown,
                format!(
                    "{} records written before the heal, {} of them compared on both nodes at the first look ({} A could not serve): not all judged",
                    w.window_records, w.judged_at_first, w.unjudged_at_first
                ),
            );
        }
        // Nothing damaged, and every record the window could have damaged
        // was read on B and found whole: that is a heal with nothing to do.
        return Check::new(
            NAME,
            Status::Pass,
            format!(
                "all {} records written before the heal read back on B with A's size and SHA-256 at the first look {first:.1} s after the heal ({} faults injected while armed: none damaged)",
                w.judged_at_first, w.faults_in_window
            ),
        );
    }
    let still = w.still_damaged();
    let n = w.damaged_at_first.len();
    if still.is_empty() {
        let t = w.time_to_heal().unwrap_or(first);
        return Check::new(
            NAME,
            Status::Pass,
            format!(
                "all {n} records damaged on B after the window ({} faults) read back with A's size and SHA-256 {t:.1} s after the heal (bound {:.0} s); {}",
                w.faults_in_window,
                w.bound_s,
                w.looks_line()
            ),
        );
    }
    let example = still.iter().next().and_then(|id| w.damaged_at_first.get(*id).map(|why| format!("; e.g. {id}: {why}"))).unwrap_or_default();
    Check::new(
        NAME,
        Status::Fail,
        format!(
            "{} of {n} records damaged on B by the window ({} faults) are still damaged {:.0} s after the heal (read again at every look): {}{example}\n{}",
            still.len(),
            w.faults_in_window,
            w.bound_s,
            id_list(still.into_iter()),
            w.looks_line()
        ),
    )
}

/// `serving-after-heal`: every record first written after the heal is on B
/// whole (same blob size and SHA-256 as A): `nothing-lost`'s judgement,
/// over those records only. `late`: the heal came only after they had
/// replicated (`--heal-late`), so they met the faults.
pub fn serving_after_heal(s: &LossSurvey, late: bool) -> Check {
    const NAME: &str = "serving-after-heal";
    if s.records_on_a == 0 {
        return Check::new(NAME, Status::Unknown, "no record was first written after the heal: nothing to judge".to_string());
    }
    let c = checks::nothing_lost(s);
    let when = if late { "after the heal was due (it came late, once they had replicated)" } else { "after the heal" };
    Check { name: NAME.into(), evidence: format!("of the records first written {when}: {}", c.evidence), ..c }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn watch(damaged: &[&str], healed: &[(&str, f64)]) -> HealWatch {
        HealWatch {
            bound_s: 20.0,
            window_records: 30,
            faults_in_window: 4,
            judged_at_first: 30,
            unjudged_at_first: 0,
            damaged_at_first: damaged.iter().map(|d| (d.to_string(), "no answer within 2.0 s".into())).collect(),
            healed_at: healed.iter().map(|(d, t)| (d.to_string(), *t)).collect(),
            looks: vec![(3.0, damaged.len()), (6.0, damaged.len() - healed.len())],
        }
    }

    #[test]
    fn healed_is_unknown_with_nothing_judged_pass_when_all_read_whole_fail_otherwise() {
        let c = healed(&watch(&[], &[]));
        assert_eq!(c.status, Status::Pass);
        assert_eq!(
            c.evidence,
            "all 30 records written before the heal read back on B with A's size and SHA-256 at the first look 3.0 s after the heal (4 faults injected while armed: none damaged)"
        );
        assert_eq!(healed(&HealWatch { window_records: 0, ..watch(&[], &[]) }).status, Status::Unknown);
        let c = healed(&HealWatch { judged_at_first: 0, ..watch(&[], &[]) });
        assert_eq!(
            (c.status, c.evidence.as_str()),
            (Status::Unknown, "30 records written before the heal, 0 of them compared on both nodes at the first look (0 A could not serve): not all judged")
        );
        assert_eq!(healed(&HealWatch { judged_at_first: 28, unjudged_at_first: 2, ..watch(&[], &[]) }).status, Status::Unknown);
        let w = watch(&["7", "11"], &[("7", 3.0), ("11", 6.0)]);
        assert_eq!(w.time_to_heal(), Some(6.0));
        let c = healed(&w);
        assert_eq!(c.status, Status::Pass);
        assert!(c.evidence.starts_with("all 2 records damaged on B after the window (4 faults) read back with A's size and SHA-256 6.0 s"), "{}", c.evidence);
        let w = watch(&["7", "11", "12"], &[("7", 3.0)]);
        assert_eq!(w.time_to_heal(), None);
        let c = healed(&w);
        assert_eq!(c.status, Status::Fail);
        assert!(c.evidence.starts_with("2 of 3 records damaged on B by the window (4 faults) are still damaged 20 s after the heal"), "{}", c.evidence);
        assert!(c.evidence.contains(": 11, 12; e.g. 11: no answer within 2.0 s\ndamaged at each look after the heal: 3.0 s: 3, 6.0 s: 2"), "{}", c.evidence);
    }

    #[test]
    fn serving_after_heal_is_nothing_lost_over_the_records_after_the_heal() {
        assert_eq!(serving_after_heal(&LossSurvey::default(), false).status, Status::Unknown);
        let mut s = LossSurvey { records_on_a: 3, records_on_b: 3, compared: 3, ..Default::default() };
        s.blob_differs_on_b.push("5".into());
        let c = serving_after_heal(&s, false);
        assert_eq!((c.name.as_str(), c.status), ("serving-after-heal", Status::Fail));
        assert!(c.evidence.starts_with("of the records first written after the heal: 1 of 3 records on A"), "{}", c.evidence);
        let c = serving_after_heal(&s, true);
        assert!(c.evidence.starts_with("of the records first written after the heal was due (it came late, once they had replicated): 1 of 3"), "{}", c.evidence);
        assert_eq!(damaged_ids(&s).get("5").map(String::as_str), Some("bytes differ from A's"));
    }
}
