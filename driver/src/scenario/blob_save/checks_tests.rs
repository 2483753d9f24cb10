//! Branch and boundary tests of blob-save's state checks (beside the tests
//! in `checks.rs`): each PASS, FAIL and UNKNOWN path with its evidence.

use serde_json::json;

use super::*;

#[test]
fn peer_connected_says_when_a_listed_peer_has_no_socket() {
    let s = json!({"connections":[{"url":"wss://127.0.0.12:9933","name":"127.0.0.12","database_sockets":[]}]});
    let c = peer_connected(Ok(&s), "127.0.0.12");
    assert_eq!((c.status, c.evidence.as_str()), (Status::Fail, "node B's cluster_status lists A (wss://127.0.0.12:9933) but with no database socket"));
    let c = peer_connected(Err("connection refused".into()), "127.0.0.12");
    assert_eq!(c.evidence, "node B did not answer cluster_status: connection refused");
    let c = peer_connected(Ok(&json!({"connections":[]})), "127.0.0.12");
    assert_eq!((c.status, c.evidence.as_str()), (Status::Fail, "node B's cluster_status does not list A (127.0.0.12): {\"connections\":[]}"));
}

#[test]
fn liveness_without_a_first_count_cannot_pass() {
    let p = Probe { id: "p", before: None, after: Some(5), held: false, seconds: 1.0, error: None };
    let c = liveness(&p);
    assert_eq!((c.status, c.evidence.as_str()), (Status::Fail, "could not see the upsert of \"p\" reach B: no record count from B"));
    // A count read again after an error is an answer: B was reachable and does not hold it.
    let p = Probe { id: "p", before: Some(4), after: Some(5), held: false, seconds: 1.0, error: Some("reset") };
    let c = liveness(&p);
    assert_eq!(c.evidence, "upsert of \"p\" on A did not reach B: B's record_count 4 → 5 for 1.0 s, and B does not hold it (last error: reset)");
    let p = Probe { id: "p", before: Some(4), after: None, held: false, seconds: 1.0, error: None };
    assert_eq!(liveness(&p).evidence, "upsert of \"p\" on A did not reach B: B's record_count was 4, then unreadable for 1.0 s, and B does not hold it");
}

#[test]
fn id_lists_show_forty_ids_in_numeric_order_then_how_many_more() {
    let ids: Vec<String> = (1..=41).rev().map(|n| n.to_string()).collect();
    let shown = id_list(ids.iter());
    assert!(shown.starts_with("1, 2, 3, "), "{shown}");
    assert!(shown.ends_with(", 39, 40, … (1 more)"), "{shown}");
    let forty: Vec<String> = (1..=40).map(|n| n.to_string()).collect();
    assert!(id_list(forty.iter()).ends_with(", 39, 40"));
    let mixed: Vec<String> = ["b", "10", "a", "9"].iter().map(|s| s.to_string()).collect();
    assert_eq!(id_list(mixed.iter()), "9, 10, a, b");
}

#[test]
fn the_surveys_figures_are_its_counts() {
    let mut s = LossSurvey { records_on_a: 9, records_on_b: 8, compared: 6, read_bound_s: 2.5, ..Default::default() };
    s.missing_on_b.push("1".into());
    s.blob_unreadable_on_b.insert("2".into(), "hung".into());
    s.blob_unreadable_on_b.insert("3".into(), "500".into());
    s.hung_on_b.insert("2".into());
    s.blob_short_on_b.insert("4".into(), (1, 2));
    s.blob_differs_on_b.extend(["5".into(), "6".into(), "7".into()]);
    let f: Vec<(&str, serde_json::Value)> = s.figures().into_iter().collect();
    assert_eq!(
        f,
        [
            ("records_compared", json!(6)),
            ("records_missing_on_b", json!(1)),
            ("blobs_unreadable_on_b", json!(2)),
            ("reads_hung_on_b", json!(1)),
            ("read_bound_seconds", json!(2.5)),
            ("blobs_short_on_b", json!(1)),
            ("blobs_differing_on_b", json!(3)),
        ]
    );
    let damaged: Vec<&String> = s.damaged().into_iter().collect();
    assert_eq!(damaged, ["2", "3", "4", "5", "6", "7"]);
}

#[test]
fn nothing_lost_fails_on_exactly_one_record_of_each_kind_of_damage() {
    let base = || LossSurvey { records_on_a: 10, records_on_b: 10, compared: 10, read_bound_s: 2.0, ..Default::default() };
    let mut s = base();
    s.blob_differs_on_b.push("4".into());
    let c = nothing_lost(&s);
    assert_eq!((c.status, c.evidence.as_str()), (Status::Fail, "1 of 10 records on A are lost or damaged on B (10 records on B)\nblob content differs on B (1): 4"));
    let mut s = base();
    s.blob_short_on_b.insert("8".into(), (100, 200));
    let c = nothing_lost(&s);
    assert_eq!((c.status, c.evidence.as_str()), (Status::Fail, "1 of 10 records on A are lost or damaged on B (10 records on B)\nblob truncated on B (1; e.g. 8: 100 of 200 bytes): 8"));
    // A read that hung has no error to show.
    let mut s = base();
    s.blob_unreadable_on_b.insert("6".into(), "no answer within 2 s".into());
    s.hung_on_b.insert("6".into());
    let c = nothing_lost(&s);
    assert_eq!(
        (c.status, c.evidence.as_str()),
        (Status::Fail, "1 of 10 records on A are lost or damaged on B (10 records on B)\nblob unreadable on B (1: 1 with no answer within 2.0 s, 0 answered with an error): 6")
    );
}

#[test]
fn nothing_lost_reconciles_the_survey_in_both_directions() {
    // More records accounted for than A holds: the survey does not add up either.
    let mut s = LossSurvey { records_on_a: 10, records_on_b: 10, compared: 10, ..Default::default() };
    s.unreadable_on_a.insert("3".into(), "504".into());
    let c = nothing_lost(&s);
    assert_eq!(
        (c.status, c.evidence.as_str()),
        (
            Status::Unknown,
            "compared 10 of 10 records on A (0 missing on B, 1 unreadable on A; -1 not accounted for: the survey does not add up); A could not serve the blob of 1: 3"
        )
    );
    // Every record on A compared but more than A holds: no PASS.
    let s = LossSurvey { records_on_a: 10, records_on_b: 11, compared: 11, ..Default::default() };
    assert_eq!(nothing_lost(&s).status, Status::Unknown);
    // Nothing on A at all: nothing was judged.
    let c = nothing_lost(&LossSurvey::default());
    assert_eq!(c.evidence, "compared 0 of 0 records on A (0 missing on B, 0 unreadable on A)");
    // Exactly one record compared, and it is whole: a PASS.
    let s = LossSurvey { records_on_a: 1, records_on_b: 1, compared: 1, ..Default::default() };
    assert_eq!(nothing_lost(&s).status, Status::Pass);
}
