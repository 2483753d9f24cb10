//! Branch and boundary tests of fault-heal's checks (beside the tests in
//! `checks.rs`): each PASS, FAIL and UNKNOWN path with its evidence.

use super::*;

#[test]
fn damaged_ids_say_why_each_record_is_damaged() {
    let mut s = LossSurvey { records_on_a: 6, read_bound_s: 2.0, ..Default::default() };
    s.missing_on_b.push("1".into());
    s.blob_unreadable_on_b.insert("2".into(), "request failed: reset".into());
    s.blob_unreadable_on_b.insert("3".into(), "timed out".into());
    s.hung_on_b.insert("3".into());
    s.blob_short_on_b.insert("4".into(), (10, 20));
    s.blob_differs_on_b.push("5".into());
    let d = damaged_ids(&s);
    let got: Vec<(&str, &str)> = d.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(
        got,
        [
            ("1", "missing on B"),
            ("2", "request failed: reset"),
            ("3", "no answer within 2.0 s"),
            ("4", "10 of 20 bytes"),
            ("5", "bytes differ from A's"),
        ]
    );
    assert!(damaged_ids(&LossSurvey::default()).is_empty());
}

fn watch(damaged: &[&str], healed: &[(&str, f64)]) -> HealWatch {
    HealWatch {
        bound_s: 20.0,
        window_records: 30,
        faults_in_window: 4,
        damaged_at_first: damaged.iter().map(|d| (d.to_string(), "missing on B".into())).collect(),
        healed_at: healed.iter().map(|(d, t)| (d.to_string(), *t)).collect(),
        looks: vec![(2.5, damaged.len()), (7.5, damaged.len() - healed.len())],
    }
}

#[test]
fn healed_fails_with_exactly_one_record_still_damaged() {
    let c = healed(&watch(&["7", "11"], &[("7", 2.5)]));
    assert_eq!(
        (c.status, c.evidence.as_str()),
        (
            Status::Fail,
            "1 of 2 records damaged on B by the window (4 faults) are still damaged 20 s after the heal (read again at every look): 11; e.g. 11: missing on B\n\
             damaged at each look after the heal: 2.5 s: 2, 7.5 s: 1"
        )
    );
}

#[test]
fn healed_passes_at_the_last_records_time_and_is_unknown_with_nothing_to_heal() {
    // One damaged record, whole at the first look: healed at that look's time.
    let c = healed(&watch(&["7"], &[("7", 2.5)]));
    assert_eq!(
        (c.status, c.evidence.as_str()),
        (
            Status::Pass,
            "all 1 records damaged on B after the window (4 faults) read back with A's size and SHA-256 2.5 s after the heal (bound 20 s); \
             damaged at each look after the heal: 2.5 s: 1, 7.5 s: 0"
        )
    );
    let c = healed(&watch(&[], &[]));
    assert_eq!(
        c.evidence,
        "30 records written before the heal (4 faults injected while armed), none damaged on B at the first look 2.5 s after the heal: nothing to heal"
    );
    let c = healed(&HealWatch { window_records: 0, ..watch(&["7"], &[]) });
    assert_eq!((c.status, c.evidence.as_str()), (Status::Unknown, "no record was written before the heal: nothing could be damaged"));
    // Without looks the first look is at 0 s.
    let c = healed(&HealWatch { looks: vec![], ..watch(&[], &[]) });
    assert!(c.evidence.contains("at the first look 0.0 s after the heal"), "{}", c.evidence);
}

#[test]
fn time_to_heal_is_the_last_record_healed_and_none_without_damage() {
    assert_eq!(watch(&[], &[]).time_to_heal(), None);
    assert_eq!(watch(&["1", "2", "3"], &[("2", 9.0), ("1", 4.0), ("3", 6.0)]).time_to_heal(), Some(9.0));
    let w = watch(&["1", "2"], &[("1", 4.0)]);
    assert_eq!(w.still_damaged().into_iter().collect::<Vec<_>>(), ["2"]);
}

#[test]
fn serving_after_heal_passes_only_when_every_later_record_is_whole() {
    let s = LossSurvey { records_on_a: 3, records_on_b: 3, compared: 3, ..Default::default() };
    let c = serving_after_heal(&s);
    assert_eq!(
        (c.name.as_str(), c.status, c.evidence.as_str()),
        ("serving-after-heal", Status::Pass, "of the records first written after the heal: all 3 records on A are on B with the same blob (size and SHA-256)")
    );
    // Not every record compared: undecided, as nothing-lost says.
    let s = LossSurvey { records_on_a: 3, records_on_b: 2, compared: 2, ..Default::default() };
    assert_eq!(serving_after_heal(&s).status, Status::Unknown);
    let c = serving_after_heal(&LossSurvey::default());
    assert_eq!(c.evidence, "no record was first written after the heal: nothing to judge");
}
