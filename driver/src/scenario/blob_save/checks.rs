//! blob-save's checks of the cluster's state: pure functions from what was
//! observed (API answers, the record-by-record comparison) to pass / fail /
//! unknown with the evidence a person needs to believe it. The checks that
//! follow the fault are in `fault_checks`.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::api::shorten;
use crate::cluster_status::peer_sockets;
use crate::model::{Check, Status};

/// `peer-connected`: node B still reports node A connected.
pub fn peer_connected(status: Result<&Value, String>, peer: &str) -> Check {
    const NAME: &str = "peer-connected";
    let status = match status {
        Ok(s) => s,
        Err(e) => return Check::new(NAME, Status::Fail, format!("node B did not answer cluster_status: {e}")),
    };
    match peer_sockets(status, peer) {
        Some(p) if p.all_connected() => Check::new(
            NAME,
            Status::Pass,
            format!("node B's cluster_status shows A ({}) with {}", p.url, p.describe()),
        ),
        Some(p) => Check::new(
            NAME,
            Status::Fail,
            format!("node B's cluster_status lists A ({}) but {}", p.url, if p.sockets.is_empty() { "with no database socket".into() } else { p.describe() }),
        ),
        None => Check::new(
            NAME,
            Status::Fail,
            format!("node B's cluster_status does not list A ({peer}): {}", shorten(&status.to_string(), 200)),
        ),
    }
}

/// What the liveness probe saw: B's record count before and after, and
/// whether B came to hold the probe record itself.
pub struct Probe<'a> {
    pub id: &'a str,
    pub before: Option<u64>,
    pub after: Option<u64>,
    pub held: bool,
    pub seconds: f64,
    /// Why B could not be asked (its last error), if it could not.
    pub error: Option<&'a str>,
}

/// `liveness`: a fresh upsert on A reached B: B holds that very record.
/// A count that rose is no proof (another record may have raised it).
pub fn liveness(p: &Probe) -> Check {
    const NAME: &str = "liveness";
    let count = |b: Option<u64>, a: Option<u64>| match (b, a) {
        (Some(b), Some(a)) if a == b => format!("B's record_count stayed {a} (was {b})"),
        (Some(b), Some(a)) => format!("B's record_count {b} → {a}"),
        (Some(b), None) => format!("B's record_count was {b}, then unreadable"),
        _ => "no record count from B".to_string(),
    };
    let id = p.id;
    match (p.before, p.held) {
        (Some(_), true) => Check::new(
            NAME,
            Status::Pass,
            format!("upsert of {id:?} on A reached B: B holds it within {:.2} s ({})", p.seconds, count(p.before, p.after)),
        ),
        (Some(_), false) if p.error.is_none() || p.after.is_some() => Check::new(
            NAME,
            Status::Fail,
            format!(
                "upsert of {id:?} on A did not reach B: {} for {:.1} s, and B does not hold it{}",
                count(p.before, p.after),
                p.seconds,
                p.error.map(|e| format!(" (last error: {e})")).unwrap_or_default()
            ),
        ),
        _ => Check::new(NAME, Status::Fail, format!("could not see the upsert of {id:?} reach B: {}", p.error.unwrap_or("no record count from B"))),
    }
}

/// What comparing every record of A with B's copy found.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LossSurvey {
    pub records_on_a: usize,
    pub records_on_b: usize,
    pub compared: usize,
    pub missing_on_b: Vec<String>,
    /// id → why B could not read the blob back (missing file, hang, error).
    pub blob_unreadable_on_b: BTreeMap<String, String>,
    /// Of those, the ids whose read got no answer within the bound.
    pub hung_on_b: BTreeSet<String>,
    /// The bound on a read of B, in seconds.
    pub read_bound_s: f64,
    /// Where the survey's time went (listing the ids, reading A, reading B).
    pub seconds: Vec<(String, f64)>,
    /// id → (bytes on B, bytes on A).
    pub blob_short_on_b: BTreeMap<String, (u64, u64)>,
    pub blob_differs_on_b: Vec<String>,
    /// Records whose blob A itself could not serve: nothing to compare with.
    pub unreadable_on_a: BTreeMap<String, String>,
}

impl LossSurvey {
    /// The records present on B whose blob is unreadable, short or different.
    pub fn damaged(&self) -> BTreeSet<&String> {
        self.blob_unreadable_on_b.keys().chain(self.blob_short_on_b.keys()).chain(&self.blob_differs_on_b).collect()
    }

    /// The survey's counts, as report.json figures.
    pub fn figures(&self) -> [(&'static str, serde_json::Value); 7] {
        use serde_json::json;
        [
            ("records_compared", json!(self.compared)),
            ("records_missing_on_b", json!(self.missing_on_b.len())),
            ("blobs_unreadable_on_b", json!(self.blob_unreadable_on_b.len())),
            ("reads_hung_on_b", json!(self.hung_on_b.len())),
            ("read_bound_seconds", json!(self.read_bound_s)),
            ("blobs_short_on_b", json!(self.blob_short_on_b.len())),
            ("blobs_differing_on_b", json!(self.blob_differs_on_b.len())),
        ]
    }
}

pub(crate) fn id_list<'a>(ids: impl Iterator<Item = &'a String>) -> String {
    let mut ids: Vec<&String> = ids.collect();
    // Numeric ids in numeric order (7 before 11), others after, as text.
    ids.sort_by_key(|id| (id.parse::<u64>().map_or(1, |_| 0), id.parse::<u64>().unwrap_or(0), id.to_string()));
    let shown: Vec<&str> = ids.iter().take(40).map(|s| s.as_str()).collect();
    let more = if ids.len() > 40 { format!(", … ({} more)", ids.len() - 40) } else { String::new() };
    format!("{}{more}", shown.join(", "))
}

/// `nothing-lost`: every record on A is on B with its whole blob.
pub fn nothing_lost(s: &LossSurvey) -> Check {
    const NAME: &str = "nothing-lost";
    let lost = s.missing_on_b.len() + s.blob_unreadable_on_b.len() + s.blob_short_on_b.len() + s.blob_differs_on_b.len();
    if lost > 0 {
        let mut parts = vec![format!(
            "{lost} of {} records on A are lost or damaged on B ({} records on B)",
            s.records_on_a, s.records_on_b
        )];
        if !s.missing_on_b.is_empty() {
            parts.push(format!("missing on B ({}): {}", s.missing_on_b.len(), id_list(s.missing_on_b.iter())));
        }
        if !s.blob_unreadable_on_b.is_empty() {
            let answered: BTreeMap<&String, &String> =
                s.blob_unreadable_on_b.iter().filter(|(id, _)| !s.hung_on_b.contains(*id)).collect();
            let first = answered.values().next().map(|e| format!("; e.g. {e}")).unwrap_or_default();
            parts.push(format!(
                "blob unreadable on B ({}: {} with no answer within {:.1} s, {} answered with an error{first}): {}",
                s.blob_unreadable_on_b.len(),
                s.hung_on_b.len(),
                s.read_bound_s,
                answered.len(),
                id_list(s.blob_unreadable_on_b.keys())
            ));
        }
        if !s.blob_short_on_b.is_empty() {
            let (id, (b, a)) = s.blob_short_on_b.iter().next().map(|(i, v)| (i.clone(), *v)).unwrap_or_default();
            parts.push(format!(
                "blob truncated on B ({}; e.g. {id}: {b} of {a} bytes): {}",
                s.blob_short_on_b.len(),
                id_list(s.blob_short_on_b.keys())
            ));
        }
        if !s.blob_differs_on_b.is_empty() {
            parts.push(format!("blob content differs on B ({}): {}", s.blob_differs_on_b.len(), id_list(s.blob_differs_on_b.iter())));
        }
        return Check::new(NAME, Status::Fail, parts.join("\n"));
    }
    // Every record on A must be accounted for: compared, missing on B, or
    // unreadable on A. One that is none of these was never judged.
    let accounted = s.compared + s.missing_on_b.len() + s.unreadable_on_a.len();
    if s.compared == 0 || !s.unreadable_on_a.is_empty() || accounted != s.records_on_a {
        let mut why = format!(
            "compared {} of {} records on A ({} missing on B, {} unreadable on A",
            s.compared,
            s.records_on_a,
            s.missing_on_b.len(),
            s.unreadable_on_a.len()
        );
        if accounted != s.records_on_a {
            why.push_str(&format!(
                "; {} not accounted for: the survey does not add up",
                s.records_on_a as i64 - accounted as i64
            ));
        }
        why.push(')');
        if !s.unreadable_on_a.is_empty() {
            why.push_str(&format!("; A could not serve the blob of {}: {}", s.unreadable_on_a.len(), id_list(s.unreadable_on_a.keys())));
        }
        return Check::new(NAME, Status::Unknown, why);
    }
    Check::new(
        NAME,
        Status::Pass,
        format!("all {} records on A are on B with the same blob (size and SHA-256)", s.compared),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster_status::tests::status;

    #[test]
    fn peer_connected_reads_every_database_socket() {
        let c = peer_connected(Ok(&status(true)), "127.0.0.12");
        assert_eq!(c.status, Status::Pass, "{}", c.evidence);
        assert!(c.evidence.contains("system: connected, data: connected"));
        let c = peer_connected(Ok(&status(false)), "127.0.0.12");
        assert_eq!(c.status, Status::Fail);
        assert!(c.evidence.contains("system: not connected"));
        assert_eq!(peer_connected(Ok(&status(true)), "127.0.0.99").status, Status::Fail);
        assert_eq!(peer_connected(Err("connection refused".into()), "127.0.0.12").status, Status::Fail);
    }

    #[test]
    fn liveness_needs_the_probe_record_itself_on_b() {
        let p = |before, after, held, error| Probe { id: "p", before, after, held, seconds: 0.4, error };
        let c = liveness(&p(Some(400), Some(401), true, None));
        assert_eq!((c.status, c.evidence.as_str()), (Status::Pass, "upsert of \"p\" on A reached B: B holds it within 0.40 s (B's record_count 400 → 401)"));
        // The count rose, but for another record: no proof the probe arrived.
        let c = liveness(&p(Some(400), Some(401), false, None));
        assert_eq!((c.status, c.evidence.as_str()), (Status::Fail, "upsert of \"p\" on A did not reach B: B's record_count 400 → 401 for 0.4 s, and B does not hold it"));
        let c = liveness(&p(Some(400), Some(400), false, None));
        assert_eq!(c.evidence, "upsert of \"p\" on A did not reach B: B's record_count stayed 400 (was 400) for 0.4 s, and B does not hold it");
        let c = liveness(&p(Some(400), Some(400), false, Some("timed out")));
        assert_eq!(c.evidence, "upsert of \"p\" on A did not reach B: B's record_count stayed 400 (was 400) for 0.4 s, and B does not hold it (last error: timed out)");
        // Held, though the count could not be read again: it reached B.
        assert_eq!(liveness(&p(Some(400), None, true, None)).status, Status::Pass);
        let c = liveness(&p(Some(400), None, false, Some("refused")));
        assert_eq!((c.status, c.evidence.as_str()), (Status::Fail, "could not see the upsert of \"p\" reach B: refused"));
        let c = liveness(&p(None, None, false, Some("refused")));
        assert_eq!((c.status, c.evidence.as_str()), (Status::Fail, "could not see the upsert of \"p\" reach B: refused"));
    }

    #[test]
    fn nothing_lost_passes_only_when_every_record_on_a_was_compared() {
        let s = LossSurvey { records_on_a: 10, records_on_b: 10, compared: 10, ..Default::default() };
        let c = nothing_lost(&s);
        assert_eq!((c.status, c.evidence.as_str()), (Status::Pass, "all 10 records on A are on B with the same blob (size and SHA-256)"));
        // 10 on A, 9 compared, none missing: one record was never judged.
        let s = LossSurvey { records_on_a: 10, records_on_b: 9, compared: 9, ..Default::default() };
        let c = nothing_lost(&s);
        assert_eq!(
            (c.status, c.evidence.as_str()),
            (Status::Unknown, "compared 9 of 10 records on A (0 missing on B, 0 unreadable on A; 1 not accounted for: the survey does not add up)")
        );
        // Exactly one record lost is a failure.
        let mut s = LossSurvey { records_on_a: 10, records_on_b: 9, compared: 9, ..Default::default() };
        s.missing_on_b.push("3".into());
        let c = nothing_lost(&s);
        assert_eq!((c.status, c.evidence.as_str()), (Status::Fail, "1 of 10 records on A are lost or damaged on B (9 records on B)\nmissing on B (1): 3"));
        // Exactly one blob damaged is a failure too.
        let mut s = LossSurvey { records_on_a: 10, records_on_b: 10, compared: 10, ..Default::default() };
        s.blob_differs_on_b.push("4".into());
        assert_eq!(nothing_lost(&s).status, Status::Fail);
    }

    #[test]
    fn nothing_lost_lists_lost_records_by_id() {
        let mut s = LossSurvey { records_on_a: 10, records_on_b: 9, compared: 7, ..Default::default() };
        s.missing_on_b.extend(["11".into(), "4".into(), "x".into()]);
        s.blob_unreadable_on_b.insert("6".into(), "no answer within 2 s".into());
        s.blob_unreadable_on_b.insert("5".into(), "answered 500 Internal Server Error".into());
        s.hung_on_b.insert("6".into());
        s.read_bound_s = 2.0;
        s.blob_short_on_b.insert("8".into(), (100, 51200));
        let c = nothing_lost(&s);
        assert_eq!(c.status, Status::Fail);
        assert!(c.evidence.contains("missing on B (3): 4, 11, x"), "{}", c.evidence);
        assert!(
            c.evidence.contains("blob unreadable on B (2: 1 with no answer within 2.0 s, 1 answered with an error; e.g. answered 500 Internal Server Error): 5, 6"),
            "{}",
            c.evidence
        );
        assert!(c.evidence.contains("blob truncated on B (1; e.g. 8: 100 of 51200 bytes): 8"), "{}", c.evidence);
        assert_eq!(s.damaged().len(), 3);
    }

    #[test]
    fn nothing_lost_is_unknown_when_a_cannot_serve_what_to_compare() {
        let mut s = LossSurvey { records_on_a: 2, records_on_b: 2, compared: 1, ..Default::default() };
        s.unreadable_on_a.insert("1".into(), "504".into());
        let c = nothing_lost(&s);
        assert_eq!(
            (c.status, c.evidence.as_str()),
            (Status::Unknown, "compared 1 of 2 records on A (0 missing on B, 1 unreadable on A); A could not serve the blob of 1: 1")
        );
        assert_eq!(nothing_lost(&LossSurvey::default()).status, Status::Unknown);
    }

}

#[cfg(test)]
#[path = "checks_tests.rs"]
mod branch_tests;
