//! partition-heal's checks, pure functions of what the run saw: each node's
//! records and blobs after the heal, what was written on each side, the
//! probes that crossed (or not), and the nodes' logs.

use std::collections::{BTreeMap, BTreeSet};

use crate::api::BlobRead;
use crate::harper_log::LogEntry;
use crate::model::{Check, Status};

/// What one node held when last looked at.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Snapshot {
    pub node: String,
    /// `Load` records: id → payload.
    pub records: BTreeMap<String, String>,
    /// `LargeLocation` records: id → the blob as read back.
    pub blobs: BTreeMap<String, BlobRead>,
    /// Why the node could not be read, if it could not.
    pub error: Option<String>,
}

/// What the run wrote during the partition, acknowledged by the node written to.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Written {
    /// Ids written on one side only: id → (node, payload).
    pub records: BTreeMap<String, (String, String)>,
    /// Ids written on both sides: id → (the earlier write's payload, the later one's).
    pub conflicts: BTreeMap<String, (String, String)>,
    /// Records with a blob: id → node that made it.
    pub blobs: BTreeMap<String, String>,
}

/// The first few of a list, then how many more.
pub fn few(items: impl IntoIterator<Item = impl AsRef<str>>) -> String {
    let all: Vec<String> = items.into_iter().map(|s| s.as_ref().to_string()).collect();
    let shown = all.iter().take(6).cloned().collect::<Vec<_>>().join(", ");
    if all.len() > 6 {
        format!("{shown} … ({} in all)", all.len())
    } else {
        shown
    }
}

fn blob_key(b: &BlobRead) -> String {
    match b {
        BlobRead::Read { len, sha256 } => format!("{len} bytes, sha256 {}", &sha256[..12.min(sha256.len())]),
        BlobRead::NotHeld => "not held".into(),
        BlobRead::Failed(e) => format!("unreadable ({e})"),
    }
}

/// How two nodes' holdings differ, a line per kind of difference (none when they agree).
fn differences(x: &Snapshot, y: &Snapshot) -> Vec<String> {
    let mut parts = Vec::new();
    let only = |a: &Snapshot, b: &Snapshot| -> Vec<String> { a.records.keys().filter(|k| !b.records.contains_key(*k)).cloned().collect() };
    for (a, b) in [(x, y), (y, x)] {
        let o = only(a, b);
        if !o.is_empty() {
            parts.push(format!("{} records on {} only: {}", o.len(), a.node, few(&o)));
        }
    }
    let differ: Vec<String> =
        x.records.iter().filter(|(k, v)| y.records.get(*k).is_some_and(|w| w != *v)).map(|(k, v)| format!("{k} ({v} on {}, {} on {})", x.node, y.records[k], y.node)).collect();
    if !differ.is_empty() {
        parts.push(format!("{} records differ: {}", differ.len(), few(&differ)));
    }
    let ids: BTreeSet<&String> = x.blobs.keys().chain(y.blobs.keys()).collect();
    let blob_differ: Vec<String> = ids
        .into_iter()
        .filter_map(|id| {
            let (bx, by) = (x.blobs.get(id).map(blob_key), y.blobs.get(id).map(blob_key));
            (bx != by).then(|| {
                let none = || "no record".to_string();
                format!("{id} ({} on {}, {} on {})", bx.unwrap_or_else(none), x.node, by.unwrap_or_else(none), y.node)
            })
        })
        .collect();
    if !blob_differ.is_empty() {
        parts.push(format!("{} blobs differ: {}", blob_differ.len(), few(&blob_differ)));
    }
    parts.into_iter().map(|p| format!("{} vs {}: {p}", x.node, y.node)).collect()
}

/// `converged`: within the bound after the heal every node held the same
/// records and the same blobs. `seconds`: how long that took, if it did.
pub fn converged(snaps: &[Snapshot], seconds: Option<f64>, bound: f64, healed: bool, held: &str) -> Check {
    const NAME: &str = "converged";
    if let Some(s) = snaps.iter().find(|s| s.error.is_some()) {
        return Check::new(NAME, Status::Unknown, format!("node {} could not be read: {}", s.node, s.error.as_deref().unwrap_or("")));
    }
    // One node agrees with itself: agreement needs two to compare.
    if snaps.len() < 2 {
        return Check::new(NAME, Status::Unknown, format!("{} nodes were read after the heal: no two to compare", snaps.len()));
    }
    let heal = if healed { "after the heal" } else { "with the partition still in place (--no-heal)" };
    let diffs: Vec<String> = snaps.windows(2).flat_map(|w| differences(&w[0], &w[1])).collect();
    let holding = snaps.iter().map(|s| format!("{} {} records and {} blobs", s.node, s.records.len(), s.blobs.len())).collect::<Vec<_>>().join(", ");
    match (diffs.is_empty(), seconds) {
        (true, Some(secs)) => Check::new(NAME, Status::Pass, format!("every node held the same records and blobs {secs:.1} s {heal} ({holding}); {held}")),
        (true, None) => Check::new(NAME, Status::Fail, format!("the nodes agreed only after the {bound:.0} s bound {heal} ({holding}); {held}")),
        (false, _) => Check::new(NAME, Status::Fail, format!("the nodes still differed {bound:.0} s {heal} ({holding}); {held}")).with_lines(diffs),
    }
}

/// `same-winner`: every id written on both sides holds one version on every
/// node, the later write's (Harper resolves a conflict by the latest
/// timestamp; the run writes the second side's version after the first's).
pub fn same_winner(snaps: &[Snapshot], written: &Written) -> Check {
    const NAME: &str = "same-winner";
    if written.conflicts.is_empty() {
        return Check::new(NAME, Status::Unknown, "no id was written on both sides (--conflicts 0): nothing to judge");
    }
    if let Some(s) = snaps.iter().find(|s| s.error.is_some()) {
        return Check::new(NAME, Status::Unknown, format!("node {} could not be read: {}", s.node, s.error.as_deref().unwrap_or("")));
    }
    let mut diverged = Vec::new();
    let mut earlier_won = Vec::new();
    let mut missing = Vec::new();
    for (id, (first, later)) in &written.conflicts {
        let held: Vec<(&str, Option<&String>)> = snaps.iter().map(|s| (s.node.as_str(), s.records.get(id))).collect();
        let versions: BTreeSet<Option<&String>> = held.iter().map(|(_, v)| *v).collect();
        if versions.len() > 1 {
            diverged.push(format!("{id}: {}", held.iter().map(|(n, v)| format!("{n} {}", v.map_or("(none)", |v| v.as_str()))).collect::<Vec<_>>().join(", ")));
        } else if versions.contains(&None) {
            missing.push(id.clone());
        } else if versions.contains(&Some(first)) {
            earlier_won.push(id.clone());
        } else if !versions.contains(&Some(later)) {
            diverged.push(format!("{id}: every node holds {:?}, which neither side wrote", versions.iter().next().copied().flatten().map_or("", |v| v.as_str())));
        }
    }
    let n = written.conflicts.len();
    if diverged.is_empty() && earlier_won.is_empty() && missing.is_empty() {
        return Check::new(NAME, Status::Pass, format!("each of the {n} ids written on both sides holds the later write on every node ({} nodes)", snaps.len()));
    }
    let mut parts = Vec::new();
    if !diverged.is_empty() {
        parts.push(format!("{} of {n} hold different versions on different nodes", diverged.len()));
    }
    if !earlier_won.is_empty() {
        parts.push(format!("{} hold the earlier write everywhere: {}", earlier_won.len(), few(&earlier_won)));
    }
    if !missing.is_empty() {
        parts.push(format!("{} are on no node: {}", missing.len(), few(&missing)));
    }
    Check::new(NAME, Status::Fail, parts.join("; ")).with_lines(diverged)
}

/// `nothing-lost`: every write a node acknowledged is on every node, with
/// its payload, and every blob whole (its size and SHA-256).
pub fn nothing_lost(snaps: &[Snapshot], written: &Written, blob: (u64, &str)) -> Check {
    const NAME: &str = "nothing-lost";
    if let Some(s) = snaps.iter().find(|s| s.error.is_some()) {
        return Check::new(NAME, Status::Unknown, format!("node {} could not be read: {}", s.node, s.error.as_deref().unwrap_or("")));
    }
    if snaps.is_empty() {
        return Check::new(NAME, Status::Unknown, "no node was read after the heal: nothing to judge");
    }
    if written.records.is_empty() && written.conflicts.is_empty() && written.blobs.is_empty() {
        return Check::new(NAME, Status::Unknown, "no write was acknowledged during the partition: nothing to judge");
    }
    let mut lost = Vec::new();
    let mut nodes = BTreeSet::new();
    for s in snaps {
        let before = lost.len();
        let missing: Vec<&String> = written.records.keys().chain(written.conflicts.keys()).filter(|id| !s.records.contains_key(*id)).collect();
        let wrong: Vec<String> =
            written.records.iter().filter_map(|(id, (_, p))| s.records.get(id).filter(|h| *h != p).map(|h| format!("{id} holds {h}, not {p}"))).collect();
        let mut bad_blobs = Vec::new();
        for id in written.blobs.keys() {
            match s.blobs.get(id) {
                Some(BlobRead::Read { len, sha256 }) if *len == blob.0 && sha256 == blob.1 => {}
                Some(b) => bad_blobs.push(format!("{id} ({})", blob_key(b))),
                None => bad_blobs.push(format!("{id} (no record)")),
            }
        }
        if !missing.is_empty() {
            lost.push(format!("{}: {} records missing: {}", s.node, missing.len(), few(missing)));
        }
        if !wrong.is_empty() {
            lost.push(format!("{}: {} records changed: {}", s.node, wrong.len(), few(&wrong)));
        }
        if !bad_blobs.is_empty() {
            lost.push(format!("{}: {} blobs not whole: {}", s.node, bad_blobs.len(), few(&bad_blobs)));
        }
        if lost.len() > before {
            nodes.insert(s.node.as_str());
        }
    }
    let total = written.records.len() + written.conflicts.len();
    if lost.is_empty() {
        return Check::new(
            NAME,
            Status::Pass,
            format!(
                "every node holds all {total} records and {} blobs written during the partition ({} bytes, sha256 {}…, each)",
                written.blobs.len(),
                blob.0,
                &blob.1[..12]
            ),
        );
    }
    Check::new(NAME, Status::Fail, format!("writes acknowledged during the partition are missing or damaged on node {}", nodes.into_iter().collect::<Vec<_>>().join(", "))).with_lines(lost)
}

/// `no-uncaught-exception`: no node's log has an `uncaughtException` entry.
pub fn no_uncaught_exception(logs: &[(String, Result<Vec<LogEntry>, String>)], pattern: &str) -> Check {
    const NAME: &str = "no-uncaught-exception";
    if logs.is_empty() {
        return Check::new(NAME, Status::Unknown, "no node's log to read: nothing to judge");
    }
    let mut lines = Vec::new();
    for (node, log) in logs {
        match log {
            Err(e) => return Check::new(NAME, Status::Unknown, format!("node {node}'s log could not be read: {e}")),
            Ok(entries) => lines.extend(entries.iter().filter(|e| e.first_line().contains(pattern)).map(|e| format!("{node} hdb.log:{}: {}", e.line, e.first_line()))),
        }
    }
    if lines.is_empty() {
        let nodes: Vec<&str> = logs.iter().map(|(n, _)| n.as_str()).collect();
        return Check::new(NAME, Status::Pass, format!("no {pattern} entry in the logs of node {}", nodes.join(", ")));
    }
    Check::new(NAME, Status::Fail, format!("{} {pattern} entries in the nodes' logs", lines.len())).with_lines(lines)
}

/// A probe record written on `from`, and when (if) it appeared on `to`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Crossing {
    pub from: String,
    pub to: String,
    pub seconds: Option<f64>,
}

/// `peer-connected`: after the heal, a probe written on each node reached
/// every other. `status` is what `cluster_status` said beside it, which
/// cannot tell: a socket stays "connected" through a partition.
pub fn peer_connected(probes: &[Crossing], bound: f64, status: &str) -> Check {
    const NAME: &str = "peer-connected";
    if probes.is_empty() {
        return Check::new(NAME, Status::Unknown, "no probe was sent: nothing to judge");
    }
    let said = format!(
        "judged by data crossing each link, not by cluster_status (which said {status}: a socket stays listed as connected through a partition)"
    );
    let late: Vec<String> = probes.iter().filter(|p| p.seconds.is_none()).map(|p| format!("{} → {}", p.from, p.to)).collect();
    if late.is_empty() {
        let worst = probes.iter().filter_map(|p| p.seconds).fold(0.0, f64::max);
        return Check::new(NAME, Status::Pass, format!("a probe record written on each node reached every other ({} links, slowest {worst:.1} s); {said}", probes.len()));
    }
    Check::new(NAME, Status::Fail, format!("probe records did not cross {} of {} links within {bound:.0} s: {}; {said}", late.len(), probes.len(), late.join(", ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(node: &str, records: &[(&str, &str)], blobs: &[(&str, u64)]) -> Snapshot {
        Snapshot {
            node: node.into(),
            records: records.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            blobs: blobs.iter().map(|(k, len)| (k.to_string(), BlobRead::Read { len: *len, sha256: "ab".repeat(32) })).collect(),
            error: None,
        }
    }

    fn written() -> Written {
        let mut w = Written::default();
        w.records.insert("a-0".into(), ("a".into(), "pa".into()));
        w.records.insert("b-0".into(), ("b".into(), "pb".into()));
        w.conflicts.insert("c-0".into(), ("first".into(), "later".into()));
        w.blobs.insert("100000".into(), "a".into());
        w
    }

    #[test]
    fn converged_compares_every_record_and_blob_across_nodes() {
        let a = snap("a", &[("a-0", "pa"), ("b-0", "pb")], &[("1", 10)]);
        let c = converged(&[a.clone(), a.clone()], Some(1.25), 30.0, true, "the partition held");
        assert_eq!(c.status, Status::Pass, "{}", c.evidence);
        assert!(c.evidence.starts_with("every node held the same records and blobs 1.2 s after the heal"), "{}", c.evidence);
        let b = snap("b", &[("b-0", "px")], &[("1", 9)]);
        let c = converged(&[a.clone(), b], None, 30.0, false, "");
        assert_eq!(c.status, Status::Fail);
        assert_eq!(c.lines[0], "a vs b: 1 records on a only: a-0");
        assert_eq!(c.lines[1], "a vs b: 1 records differ: b-0 (pb on a, px on b)");
        assert!(c.lines[2].starts_with("a vs b: 1 blobs differ: 1 (10 bytes, sha256 abababababab on a, 9 bytes"), "{:?}", c.lines);
        let mut broken = a.clone();
        broken.error = Some("refused".into());
        assert_eq!(converged(&[a, broken], None, 30.0, true, "").status, Status::Unknown);
    }

    #[test]
    fn same_winner_wants_the_later_write_on_every_node() {
        let w = written();
        let later = snap("a", &[("c-0", "later")], &[]);
        assert_eq!(same_winner(&[later.clone(), Snapshot { node: "b".into(), ..later.clone() }], &w).status, Status::Pass);
        let first = snap("b", &[("c-0", "first")], &[]);
        let c = same_winner(&[later.clone(), first.clone()], &w);
        assert_eq!((c.status, c.lines.clone()), (Status::Fail, vec!["c-0: a later, b first".to_string()]));
        let c = same_winner(&[first.clone(), Snapshot { node: "a".into(), ..first }], &w);
        assert!(c.evidence.contains("1 hold the earlier write everywhere: c-0"), "{}", c.evidence);
        assert_eq!(same_winner(&[later], &Written::default()).status, Status::Unknown);
    }

    #[test]
    fn nothing_lost_wants_every_acknowledged_write_whole_everywhere() {
        let w = written();
        let sha = "ab".repeat(32);
        let whole = snap("a", &[("a-0", "pa"), ("b-0", "pb"), ("c-0", "later")], &[("100000", 51200)]);
        assert_eq!(nothing_lost(&[whole.clone()], &w, (51200, &sha)).status, Status::Pass);
        let short = snap("b", &[("a-0", "pa"), ("c-0", "first")], &[("100000", 8)]);
        let c = nothing_lost(&[whole, short], &w, (51200, &sha));
        assert_eq!(c.status, Status::Fail);
        assert_eq!(c.evidence.lines().next(), Some("writes acknowledged during the partition are missing or damaged on node b"));
        assert_eq!(c.lines, ["b: 1 records missing: b-0", "b: 1 blobs not whole: 100000 (8 bytes, sha256 abababababab)"]);
    }

    #[test]
    fn uncaught_exceptions_in_any_log_fail() {
        let entry = |line: usize, text: &str| LogEntry { line, text: text.into() };
        let clean = ("a".to_string(), Ok(vec![entry(1, "2026-12-05T08:00:00.000Z [main/0] [notify]: started")]));
        assert_eq!(no_uncaught_exception(&[clean.clone()], "uncaughtException").status, Status::Pass);
        let bad = ("b".to_string(), Ok(vec![entry(7, "2026-12-05T08:00:01.000Z [http/1] [error]: uncaughtException [Error: Blob is incomplete]")]));
        let c = no_uncaught_exception(&[clean.clone(), bad], "uncaughtException");
        assert_eq!((c.status, c.lines.len()), (Status::Fail, 1));
        assert!(c.lines[0].starts_with("b hdb.log:7: "));
        assert_eq!(no_uncaught_exception(&[clean, ("c".into(), Err("gone".into()))], "uncaughtException").status, Status::Unknown);
    }

    #[test]
    fn peer_connected_is_judged_by_probes_crossing() {
        let p = |from: &str, to: &str, s: Option<f64>| Crossing { from: from.into(), to: to.into(), seconds: s };
        let c = peer_connected(&[p("a", "b", Some(0.3)), p("b", "a", Some(0.5))], 10.0, "a: b connected");
        assert_eq!(c.status, Status::Pass);
        assert!(c.evidence.contains("slowest 0.5 s") && c.evidence.contains("not by cluster_status"), "{}", c.evidence);
        let c = peer_connected(&[p("a", "b", Some(0.3)), p("b", "a", None)], 10.0, "a: b connected");
        assert_eq!(c.status, Status::Fail);
        assert!(c.evidence.starts_with("probe records did not cross 1 of 2 links within 10 s: b → a"), "{}", c.evidence);
        assert_eq!(peer_connected(&[], 10.0, "").status, Status::Unknown);
    }
}

#[cfg(test)]
#[path = "checks_tests.rs"]
mod branch_tests;
