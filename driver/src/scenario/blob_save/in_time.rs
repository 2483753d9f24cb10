//! blob-save with a nemesis in time (`--nemesis kill-restart|pause`): the
//! load's first half runs on a whole cluster, the nemesis starts on each
//! faulted node, the second half runs while they are down (killed) or
//! frozen (paused), and the nemesis stops (restart, or SIGCONT) once it is
//! done and `--nemesis-for` has passed. Then the scenario's settle shows whether each node caught up, and
//! its checks judge what it kept; the checks here judge that it came back.

use anyhow::Result;

use super::TABLE;
use crate::api::NodeApi;
use crate::backend::Backend;
use crate::model::{Check, Status};
use crate::events::{Change, Events};
use crate::nemesis::Nemesis;
use crate::topology::NodeId;
use crate::workload::{self, LoadStats, Settled};

/// How a node came back when its nemesis stopped: what was done, or why not.
pub type Comeback = (NodeId, Result<String, String>);

/// The load in two halves around the nemesis; the load's stats over both,
/// and how each faulted node came back.
#[allow(clippy::too_many_arguments)]
pub async fn load_around(
    backend: &mut Backend,
    nemesis: &dyn Nemesis,
    nodes: &[NodeId],
    a: &NodeApi,
    ids: &[u64],
    concurrency: usize,
    hold: std::time::Duration,
    events: &Events,
) -> Result<(LoadStats, Vec<Comeback>)> {
    let (first, second) = ids.split_at(ids.len() / 2);
    let before = backend.supervise(workload::run_gets(a, TABLE, first, concurrency, events)).await?;
    for n in nodes {
        let cluster = backend.cluster().ok_or_else(|| anyhow::anyhow!("--nemesis needs a local cluster"))?;
        let done = nemesis.start(cluster, n).await?;
        events.nemesis(nemesis.name(), n, Change::Started, done, None);
    }
    let started = std::time::Instant::now();
    let during = backend.supervise(workload::run_gets(a, TABLE, second, concurrency, events)).await?;
    // The fault lasts at least `hold` (`--nemesis-for`), however fast the load went.
    if let Some(rest) = hold.checked_sub(started.elapsed()) {
        backend.supervise(tokio::time::sleep(rest)).await?;
    }
    let mut back = Vec::new();
    for n in nodes {
        let cluster = backend.cluster().ok_or_else(|| anyhow::anyhow!("--nemesis needs a local cluster"))?;
        match nemesis.stop(cluster, n).await {
            Ok(done) => {
                events.nemesis(nemesis.name(), n, Change::Stopped, done.clone(), None);
                back.push((n.clone(), Ok(done)));
            }
            Err(e) => {
                let why = format!("{e:#}");
                events.nemesis(nemesis.name(), n, Change::Stopped, format!("the node did not come back: {why}"), None);
                back.push((n.clone(), Err(why)));
            }
        }
    }
    Ok((both(before, during), back))
}

/// The stats of the load's two halves as one load.
fn both(a: LoadStats, b: LoadStats) -> LoadStats {
    let mut errors = a.errors;
    for e in b.errors {
        if errors.len() < 5 && !errors.contains(&e) {
            errors.push(e);
        }
    }
    LoadStats {
        requests: a.requests + b.requests,
        ok: a.ok + b.ok,
        failed: a.failed + b.failed,
        retries: a.retries + b.retries,
        // Ids drawn in both halves count once in each: an upper bound.
        distinct_ids: a.distinct_ids + b.distinct_ids,
        seconds: a.seconds + b.seconds,
        errors,
    }
}

/// `restarted` (kill-restart) or `resumed` (pause): the node answered its
/// operations API again once the nemesis stopped.
pub fn came_back(name: &str, back: &Result<String, String>) -> Check {
    match back {
        Ok(done) => Check::new(name, Status::Pass, format!("node B came back: {done}")),
        Err(why) => Check::new(name, Status::Fail, format!("node B did not come back: {why}")),
    }
}

/// `caught-up`: once back, the node's record count reached A's before the
/// settle ended. A node that did not come back, or died, did not.
pub fn caught_up(back: &Result<String, String>, settled: Option<&Settled>, death: Option<&str>) -> Check {
    const NAME: &str = "caught-up";
    let show = |c: Option<u64>| c.map_or("?".to_string(), |n| n.to_string());
    match (back, settled, death) {
        (Err(why), _, _) => Check::new(NAME, Status::Fail, format!("node B never came back, so it could not catch up: {why}")),
        (_, _, Some(d)) => Check::new(NAME, Status::Fail, format!("node B died after it came back: {d}")),
        (Ok(_), None, None) => Check::new(NAME, Status::Unknown, "node B's count was never compared with A's after it came back"),
        (Ok(_), Some(s), None) if s.matched => Check::new(
            NAME,
            Status::Pass,
            format!("node B's record count reached A's {} within {:.1} s of the settle after it came back", show(s.records_a), s.seconds),
        ),
        (Ok(_), Some(s), None) => Check::new(
            NAME,
            Status::Fail,
            format!(
                "node B's record count was {} of A's {} when the settle ended after {:.1} s{}",
                show(s.records_b),
                show(s.records_a),
                s.seconds,
                s.error.as_ref().map(|e| format!(" ({e})")).unwrap_or_default()
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settled(a: u64, b: u64) -> Settled {
        Settled { records_a: Some(a), records_b: Some(b), matched: a == b, stalled: a != b, error: None, seconds: 3.25 }
    }

    #[test]
    fn a_node_came_back_or_did_not() {
        let c = came_back("restarted", &Ok("restarted as pid 7 on the same root and address, answering in 4.2 s".into()));
        assert_eq!(
            (c.name.as_str(), c.status, c.evidence.as_str()),
            ("restarted", Status::Pass, "node B came back: restarted as pid 7 on the same root and address, answering in 4.2 s")
        );
        let c = came_back("resumed", &Err("node b did not answer its operations API within 120 s".into()));
        assert_eq!(
            (c.name.as_str(), c.status, c.evidence.as_str()),
            ("resumed", Status::Fail, "node B did not come back: node b did not answer its operations API within 120 s")
        );
    }

    #[test]
    fn caught_up_passes_when_the_node_came_back_alive_with_as_many_records_as_a() {
        let c = caught_up(&Ok("back".into()), Some(&settled(254, 254)), None);
        assert_eq!(
            (c.name.as_str(), c.status, c.evidence.as_str()),
            ("caught-up", Status::Pass, "node B's record count reached A's 254 within 3.2 s of the settle after it came back")
        );
    }

    #[test]
    fn exactly_one_record_short_when_the_settle_ends_is_not_caught_up() {
        let ok: Result<String, String> = Ok("back".into());
        let c = caught_up(&ok, Some(&settled(254, 253)), None);
        assert_eq!((c.status, c.evidence.as_str()), (Status::Fail, "node B's record count was 253 of A's 254 when the settle ended after 3.2 s"));
        // A count that could not be read is shown as such, with why.
        let s = Settled { records_a: Some(254), records_b: None, matched: false, stalled: false, error: Some("node b: connection refused".into()), seconds: 30.0 };
        let c = caught_up(&ok, Some(&s), None);
        assert_eq!(
            (c.status, c.evidence.as_str()),
            (Status::Fail, "node B's record count was ? of A's 254 when the settle ended after 30.0 s (node b: connection refused)")
        );
    }

    #[test]
    fn a_node_that_never_came_back_or_died_did_not_catch_up() {
        let ok: Result<String, String> = Ok("back".into());
        let c = caught_up(&ok, Some(&settled(254, 254)), Some("node b (pid 9) died: killed by signal SIGKILL"));
        assert_eq!((c.status, c.evidence.as_str()), (Status::Fail, "node B died after it came back: node b (pid 9) died: killed by signal SIGKILL"));
        let c = caught_up(&ok, None, Some("node b (pid 9) died"));
        assert_eq!((c.status, c.evidence.as_str()), (Status::Fail, "node B died after it came back: node b (pid 9) died"));
        // Never back decides first, whatever the counts or a death say.
        let c = caught_up(&Err("no answer".into()), Some(&settled(254, 254)), Some("died"));
        assert_eq!((c.status, c.evidence.as_str()), (Status::Fail, "node B never came back, so it could not catch up: no answer"));
    }

    #[test]
    fn a_node_back_and_alive_whose_count_was_never_compared_is_undecided() {
        let c = caught_up(&Ok("back".into()), None, None);
        assert_eq!((c.status, c.evidence.as_str()), (Status::Unknown, "node B's count was never compared with A's after it came back"));
    }

    fn load(n: u64, errors: &[&str]) -> LoadStats {
        LoadStats {
            requests: n,
            ok: n - 1,
            failed: 1,
            retries: 2 * n,
            distinct_ids: n as usize / 2,
            seconds: n as f64 / 10.0,
            errors: errors.iter().map(|e| e.to_string()).collect(),
        }
    }

    #[test]
    fn the_two_halves_of_the_load_add_up_and_keep_five_distinct_errors() {
        let s = both(load(10, &["e1", "e2", "e3"]), load(30, &["e2", "e4", "e5", "e6"]));
        assert_eq!((s.requests, s.ok, s.failed, s.retries, s.distinct_ids), (40, 38, 2, 80, 20));
        assert_eq!(s.seconds, 4.0);
        // e2 once; e6 would be the sixth.
        assert_eq!(s.errors, ["e1", "e2", "e3", "e4", "e5"]);
        let s = both(load(10, &[]), load(30, &["e1"]));
        assert_eq!(s.errors, ["e1"]);
    }
}
