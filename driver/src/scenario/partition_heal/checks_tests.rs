//! Branch and boundary tests of partition-heal's checks (beside the tests in
//! `checks.rs`): each PASS, FAIL and UNKNOWN path with its evidence, and no
//! PASS on nothing read.

use super::*;

fn snap(node: &str, records: &[(&str, &str)], blobs: &[(&str, BlobRead)]) -> Snapshot {
    Snapshot {
        node: node.into(),
        records: records.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        blobs: blobs.iter().map(|(k, b)| (k.to_string(), b.clone())).collect(),
        error: None,
    }
}

fn sha() -> String {
    "0123456789ab".repeat(5) + "cdef"
}

fn whole() -> BlobRead {
    BlobRead::Read { len: 512, sha256: sha() }
}

fn written() -> Written {
    let mut w = Written::default();
    w.records.insert("a-0".into(), ("a".into(), "pa".into()));
    w.conflicts.insert("c-0".into(), ("first".into(), "later".into()));
    w.blobs.insert("100000".into(), "a".into());
    w
}

#[test]
fn few_shows_six_then_how_many_in_all() {
    assert_eq!(few(["1", "2", "3", "4", "5", "6"]), "1, 2, 3, 4, 5, 6");
    assert_eq!(few(["1", "2", "3", "4", "5", "6", "7"]), "1, 2, 3, 4, 5, 6 … (7 in all)");
    assert_eq!(few(Vec::<String>::new()), "");
}

#[test]
fn converged_needs_two_nodes_and_the_time_it_took() {
    let a = snap("a", &[("a-0", "pa")], &[("1", whole())]);
    let b = Snapshot { node: "b".into(), ..a.clone() };
    let c = converged(&[a.clone(), b.clone()], Some(2.0), 30.0, false, "held");
    assert_eq!(
        (c.status, c.evidence.as_str()),
        (Status::Pass, "every node held the same records and blobs 2.0 s with the partition still in place (--no-heal) (a 1 records and 1 blobs, b 1 records and 1 blobs); held")
    );
    // Agreeing, but only after the bound: not converged in time.
    let c = converged(&[a.clone(), b.clone()], None, 30.0, true, "held");
    assert_eq!(
        (c.status, c.evidence.as_str()),
        (Status::Fail, "the nodes agreed only after the 30 s bound after the heal (a 1 records and 1 blobs, b 1 records and 1 blobs); held")
    );
    // One node (or none) has nothing to agree with.
    let c = converged(&[a.clone()], Some(1.0), 30.0, true, "");
    assert_eq!((c.status, c.evidence.as_str()), (Status::Unknown, "1 nodes were read after the heal: no two to compare"));
    assert_eq!(converged(&[], Some(1.0), 30.0, true, "").status, Status::Unknown);
    let mut broken = b.clone();
    broken.error = Some("refused".into());
    let c = converged(&[a, broken], Some(1.0), 30.0, true, "");
    assert_eq!((c.status, c.evidence.as_str()), (Status::Unknown, "node b could not be read: refused"));
}

#[test]
fn converged_names_each_difference_between_neighbours() {
    let a = snap("a", &[("1", "x")], &[("7", whole()), ("8", BlobRead::NotHeld)]);
    let b = snap("b", &[("1", "x"), ("2", "y")], &[("8", BlobRead::Failed("504".into()))]);
    let c = converged(&[a, b], Some(1.0), 30.0, true, "");
    assert_eq!(c.status, Status::Fail);
    assert!(c.evidence.starts_with("the nodes still differed 30 s after the heal (a 1 records and 2 blobs, b 2 records and 1 blobs); "), "{}", c.evidence);
    assert_eq!(
        c.lines,
        [
            "a vs b: 1 records on b only: 2",
            "a vs b: 2 blobs differ: 7 (512 bytes, sha256 0123456789ab on a, no record on b), 8 (not held on a, unreadable (504) on b)"
        ]
    );
}

#[test]
fn same_winner_fails_on_a_record_no_node_holds_or_neither_side_wrote() {
    let w = written();
    let c = same_winner(&[snap("a", &[], &[]), snap("b", &[], &[])], &w);
    assert_eq!((c.status, c.evidence.as_str()), (Status::Fail, "1 are on no node: c-0"));
    let c = same_winner(&[snap("a", &[("c-0", "other")], &[]), snap("b", &[("c-0", "other")], &[])], &w);
    assert_eq!(c.status, Status::Fail);
    assert_eq!(c.lines, ["c-0: every node holds \"other\", which neither side wrote"]);
    assert!(c.evidence.starts_with("1 of 1 hold different versions on different nodes"), "{}", c.evidence);
    let c = same_winner(&[snap("a", &[("c-0", "later")], &[]), snap("b", &[("c-0", "later")], &[])], &w);
    assert_eq!((c.status, c.evidence.as_str()), (Status::Pass, "each of the 1 ids written on both sides holds the later write on every node (2 nodes)"));
    let mut broken = snap("b", &[], &[]);
    broken.error = Some("refused".into());
    let c = same_winner(&[snap("a", &[("c-0", "later")], &[]), broken], &w);
    assert_eq!((c.status, c.evidence.as_str()), (Status::Unknown, "node b could not be read: refused"));
    let c = same_winner(&[], &Written::default());
    assert_eq!(c.evidence, "no id was written on both sides (--conflicts 0): nothing to judge");
}

#[test]
fn nothing_lost_fails_on_exactly_one_changed_record_or_unreadable_blob() {
    let w = written();
    let s = sha();
    let ok = snap("a", &[("a-0", "pa"), ("c-0", "later")], &[("100000", whole())]);
    let c = nothing_lost(&[ok.clone(), Snapshot { node: "b".into(), ..ok.clone() }], &w, (512, &s));
    assert_eq!(
        (c.status, c.evidence.as_str()),
        (Status::Pass, "every node holds all 2 records and 1 blobs written during the partition (512 bytes, sha256 0123456789ab…, each)")
    );
    let changed = snap("b", &[("a-0", "px"), ("c-0", "later")], &[("100000", BlobRead::Failed("504".into()))]);
    let c = nothing_lost(&[ok.clone(), changed], &w, (512, &s));
    assert_eq!(c.status, Status::Fail);
    assert_eq!(c.lines, ["b: 1 records changed: a-0 holds px, not pa", "b: 1 blobs not whole: 100000 (unreadable (504))"]);
    // Same size, other bytes: not whole.
    let other = snap("b", &[("a-0", "pa"), ("c-0", "later")], &[("100000", BlobRead::Read { len: 512, sha256: "f".repeat(64) })]);
    let c = nothing_lost(&[ok.clone(), other], &w, (512, &s));
    assert_eq!(c.lines, ["b: 1 blobs not whole: 100000 (512 bytes, sha256 ffffffffffff)"]);
    // A blob record the node does not hold.
    let none = snap("b", &[("a-0", "pa"), ("c-0", "later")], &[]);
    assert_eq!(nothing_lost(&[none], &w, (512, &s)).lines, ["b: 1 blobs not whole: 100000 (no record)"]);
}

#[test]
fn nothing_lost_cannot_pass_with_nothing_written_or_nothing_read() {
    let s = sha();
    let a = snap("a", &[], &[]);
    let c = nothing_lost(&[a.clone()], &Written::default(), (512, &s));
    assert_eq!((c.status, c.evidence.as_str()), (Status::Unknown, "no write was acknowledged during the partition: nothing to judge"));
    // One kind of write is enough to judge: a conflict alone, or a blob alone.
    let mut conflict_only = Written::default();
    conflict_only.conflicts.insert("c-0".into(), ("first".into(), "later".into()));
    let c = nothing_lost(&[snap("a", &[("c-0", "later")], &[])], &conflict_only, (512, &s));
    assert_eq!((c.status, c.evidence.as_str()), (Status::Pass, "every node holds all 1 records and 0 blobs written during the partition (512 bytes, sha256 0123456789ab…, each)"));
    let mut blob_only = Written::default();
    blob_only.blobs.insert("100000".into(), "a".into());
    let c = nothing_lost(&[snap("a", &[], &[("100000", whole())])], &blob_only, (512, &s));
    assert_eq!(c.status, Status::Pass, "{}", c.evidence);
    let c = nothing_lost(&[], &written(), (512, &s));
    assert_eq!((c.status, c.evidence.as_str()), (Status::Unknown, "no node was read after the heal: nothing to judge"));
    let mut broken = a;
    broken.error = Some("refused".into());
    assert_eq!(nothing_lost(&[broken], &written(), (512, &s)).evidence, "node a could not be read: refused");
}

#[test]
fn no_uncaught_exception_cannot_pass_without_a_log() {
    let c = no_uncaught_exception(&[], "uncaughtException");
    assert_eq!((c.status, c.evidence.as_str()), (Status::Unknown, "no node's log to read: nothing to judge"));
    let clean = |n: &str| (n.to_string(), Ok(vec![LogEntry { line: 1, text: "HarperDB successfully started.".into() }]));
    let c = no_uncaught_exception(&[clean("a"), clean("b")], "uncaughtException");
    assert_eq!((c.status, c.evidence.as_str()), (Status::Pass, "no uncaughtException entry in the logs of node a, b"));
    let c = no_uncaught_exception(&[clean("a"), ("b".into(), Err("b/hdb.log does not exist".into()))], "uncaughtException");
    assert_eq!((c.status, c.evidence.as_str()), (Status::Unknown, "node b's log could not be read: b/hdb.log does not exist"));
    let bad = ("c".to_string(), Ok(vec![LogEntry { line: 3, text: "x uncaughtException y\n  more".into() }]));
    let c = no_uncaught_exception(&[clean("a"), bad], "uncaughtException");
    assert_eq!(c.status, Status::Fail);
    assert!(c.evidence.starts_with("1 uncaughtException entries in the nodes' logs"), "{}", c.evidence);
    assert_eq!(c.lines, ["c hdb.log:3: x uncaughtException y"]);
}

#[test]
fn peer_connected_fails_on_one_link_late_and_names_the_slowest() {
    let p = |from: &str, to: &str, s: Option<f64>| Crossing { from: from.into(), to: to.into(), seconds: s };
    let c = peer_connected(&[p("a", "b", Some(1.5)), p("b", "a", Some(0.5))], 10.0, "ok");
    assert!(c.evidence.starts_with("a probe record written on each node reached every other (2 links, slowest 1.5 s); judged by data crossing"), "{}", c.evidence);
    let c = peer_connected(&[p("a", "b", None)], 10.0, "ok");
    assert_eq!(c.status, Status::Fail);
    assert!(c.evidence.starts_with("probe records did not cross 1 of 1 links within 10 s: a → b; "), "{}", c.evidence);
    let c = peer_connected(&[], 10.0, "");
    assert_eq!(c.evidence, "no probe was sent: nothing to judge");
}
