//! Faults done to the cluster in time, beside the shim's faults inside a
//! node: a `Nemesis` starts and stops on a named node, and each start and
//! stop is an event of the run's `History` with its time ("12.4 s:
//! kill-restart b started"), kept in report.json (`figures.history`) and
//! shown in the human report.
//!
//! The nemeses: `kill-restart` (SIGKILL of the node's process group, then a
//! restart on the same root and address), `pause` (SIGSTOP, then SIGCONT,
//! of the group). The shim's fault plan is one more, armed from the node's
//! start (its event is recorded at 0.0 s). `cut-replication` (`remove_node`
//! of the source, blob-save's `--cut-replication`) is a start with no stop.
//!
//! Plug point: the shim's runtime control (`HARPER_TEST_BLOB_FAIL_CONTROL`,
//! `blobfail ctl`) arms and heals a running node's plan; it becomes one more
//! `Nemesis` whose `start` arms and whose `stop` heals, added to `by_name`.

use std::time::{Duration, Instant};

use anyhow::Result;
use futures::future::BoxFuture;
use futures::FutureExt;
use nix::sys::signal::Signal;
use serde::Serialize;

use crate::cluster::Cluster;
use serde_json::json;

use crate::events::{self, Change, Subscriber};

mod cut_replication;
pub use cut_replication::CutReplication;

/// One start or stop of a fault, `t` seconds after the history began.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    pub t: f64,
    pub nemesis: String,
    pub node: String,
    /// `started` or `stopped`.
    pub what: &'static str,
    /// What was done, in words (`SIGKILL to process group 4242`).
    pub detail: String,
}

impl Event {
    /// `12.4 s: kill-restart b started (SIGKILL to process group 4242)`.
    pub fn line(&self) -> String {
        format!("{:.1} s: {} {} {} ({})", self.t, self.nemesis, self.node, self.what, self.detail)
    }
}

impl Event {
    /// The event a history that began at `origin` keeps of a nemesis that
    /// changed at `at` (or at `t` seconds, for one that began before it).
    pub fn of(origin: Instant, nemesis: &str, node: &str, change: Change, detail: &str, at: Instant, t: Option<f64>) -> Event {
        let t = t.unwrap_or_else(|| (at.saturating_duration_since(origin).as_secs_f64() * 10.0).round() / 10.0);
        Event { t, nemesis: nemesis.to_string(), node: node.to_string(), what: change.word(), detail: detail.to_string() }
    }
}

/// The run's faults in time, from when the cluster was up: the subscriber
/// that keeps the nemesis events of the run's stream (`Events::history`).
pub struct History {
    start: Instant,
    events: Vec<Event>,
}

impl History {
    pub fn begin(start: Instant) -> History {
        History { start, events: Vec::new() }
    }

    pub fn events(&self) -> &[Event] {
        &self.events
    }
}

impl Subscriber for History {
    fn on(&mut self, event: &events::Event) {
        match event {
            events::Event::HistoryBegan { at } => self.start = *at,
            events::Event::Nemesis { nemesis, node, change, detail, at, t } => {
                self.events.push(Event::of(self.start, nemesis, node, *change, detail, *at, *t));
            }
            _ => {}
        }
    }
}

/// The firewall rules a network nemesis put in and took out, from the
/// run's events, as partition-heal's `nemesis_history` keeps them: when
/// (seconds since `start`, to the millisecond), what, and its rules.
pub struct RuleHistory {
    start: Instant,
    events: Vec<serde_json::Value>,
}

impl RuleHistory {
    pub fn begin(start: Instant) -> RuleHistory {
        RuleHistory { start, events: Vec::new() }
    }

    pub fn events(&self) -> &[serde_json::Value] {
        &self.events
    }
}

impl Subscriber for RuleHistory {
    fn on(&mut self, event: &events::Event) {
        if let events::Event::Rules { nemesis, action, rules, at } = event {
            let at_s = (at.saturating_duration_since(self.start).as_secs_f64() * 1000.0).round() / 1000.0;
            self.events.push(json!({"at_s": at_s, "nemesis": nemesis, "action": action, "rules": rules}));
        }
    }
}

/// A fault that starts and stops on a named node of a local cluster.
pub trait Nemesis: Send + Sync {
    fn name(&self) -> &'static str;
    /// Starts the fault on `node`: a sentence of what was done.
    fn start<'a>(&'a self, cluster: &'a mut Cluster, node: &'a str) -> BoxFuture<'a, Result<String>>;
    /// Heals it: a sentence of what was done, once the node answers again.
    fn stop<'a>(&'a self, cluster: &'a mut Cluster, node: &'a str) -> BoxFuture<'a, Result<String>>;
}

/// The nemeses `--nemesis` may name.
pub const NAMES: [&str; 4] = ["kill-restart", "pause", "slow-link", "cut-stream"];

/// How long a node gets to answer again once a nemesis stops.
pub const ANSWER_BOUND: Duration = Duration::from_secs(120);

/// The nemesis called `name`, if there is one.
pub fn by_name(name: &str) -> Option<Box<dyn Nemesis>> {
    match name {
        "kill-restart" => Some(Box::new(KillRestart)),
        "pause" => Some(Box::new(Pause)),
        // The link's proxy, in the run's network namespace (net::on_load).
        "slow-link" => Some(Box::new(crate::net::on_load::LinkNemesis("slow-link"))),
        "cut-stream" => Some(Box::new(crate::net::on_load::LinkNemesis("cut-stream"))),
        _ => None,
    }
}

/// `--nemesis`: a name from `NAMES`.
pub fn parse_nemesis(s: &str) -> Result<String, String> {
    let t = s.trim().to_ascii_lowercase();
    if NAMES.contains(&t.as_str()) {
        Ok(t)
    } else {
        Err(format!("{s:?} is not a nemesis: choose from {}", NAMES.join(", ")))
    }
}

/// SIGKILL of the node's process group (as a crash or power cut ends it),
/// then a restart on the same root and address.
pub struct KillRestart;

impl Nemesis for KillRestart {
    fn name(&self) -> &'static str {
        "kill-restart"
    }

    fn start<'a>(&'a self, cluster: &'a mut Cluster, node: &'a str) -> BoxFuture<'a, Result<String>> {
        async move {
            let rec = cluster.kill(node).await.ok_or_else(|| anyhow::anyhow!("node {node} was not running to kill"))?;
            Ok(format!("SIGKILL to process group {}: {} in {:.2} s", rec.pid, rec.exit, rec.seconds))
        }
        .boxed()
    }

    fn stop<'a>(&'a self, cluster: &'a mut Cluster, node: &'a str) -> BoxFuture<'a, Result<String>> {
        async move {
            cluster.restart(node)?;
            let pid = cluster.node(node).pid().unwrap_or(0);
            let secs = cluster.wait_answering(node, ANSWER_BOUND).await?;
            Ok(format!("restarted as pid {pid} on the same root and address, answering in {secs:.1} s"))
        }
        .boxed()
    }
}

/// SIGSTOP of the node's process group, then SIGCONT.
pub struct Pause;

impl Nemesis for Pause {
    fn name(&self) -> &'static str {
        "pause"
    }

    fn start<'a>(&'a self, cluster: &'a mut Cluster, node: &'a str) -> BoxFuture<'a, Result<String>> {
        async move {
            let pid = cluster.signal_group(node, Signal::SIGSTOP)?;
            Ok(format!("SIGSTOP to process group {pid}"))
        }
        .boxed()
    }

    fn stop<'a>(&'a self, cluster: &'a mut Cluster, node: &'a str) -> BoxFuture<'a, Result<String>> {
        async move {
            let pid = cluster.signal_group(node, Signal::SIGCONT)?;
            let secs = cluster.wait_answering(node, ANSWER_BOUND).await?;
            Ok(format!("SIGCONT to process group {pid}, answering in {secs:.1} s"))
        }
        .boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nemeses_are_named_and_events_read_as_a_line() {
        assert_eq!(parse_nemesis("Kill-Restart"), Ok("kill-restart".into()));
        assert_eq!(parse_nemesis("crash").unwrap_err(), "\"crash\" is not a nemesis: choose from kill-restart, pause, slow-link, cut-stream");
        assert_eq!(by_name("pause").unwrap().name(), "pause");
        assert!(by_name("crash").is_none());
        let e = Event { t: 12.4, nemesis: "kill-restart".into(), node: "b".into(), what: "started", detail: "SIGKILL to process group 42".into() };
        assert_eq!(e.line(), "12.4 s: kill-restart b started (SIGKILL to process group 42)");
        let t0 = Instant::now();
        let mut h = History::begin(t0);
        let at = t0 + Duration::from_millis(12_440);
        h.on(&events::Event::Nemesis { nemesis: "shim plan open-enoent".into(), node: "b".into(), change: Change::Started, detail: "armed from the node's start".into(), at, t: Some(0.0) });
        h.on(&events::Event::StepAbandoned { id: 7 });
        h.on(&events::Event::Nemesis { nemesis: "pause".into(), node: "b".into(), change: Change::Started, detail: "SIGSTOP to process group 42".into(), at, t: None });
        h.on(&events::Event::HistoryBegan { at });
        h.on(&events::Event::Nemesis { nemesis: "pause".into(), node: "b".into(), change: Change::Stopped, detail: "SIGCONT".into(), at: at + Duration::from_millis(960), t: None });
        let lines: Vec<String> = h.events().iter().map(Event::line).collect();
        assert_eq!(
            lines,
            [
                "0.0 s: shim plan open-enoent b started (armed from the node's start)",
                "12.4 s: pause b started (SIGSTOP to process group 42)",
                "1.0 s: pause b stopped (SIGCONT)"
            ]
        );
        let mut rules = RuleHistory::begin(t0);
        let rule = vec!["-A INPUT -s 127.0.0.2 -j DROP".to_string()];
        rules.on(&events::Event::Rules { nemesis: "partition a | b".into(), action: "start", rules: rule.clone(), at: t0 + Duration::from_micros(1_234_567) });
        rules.on(&events::Event::HistoryBegan { at });
        rules.on(&events::Event::Rules { nemesis: "partition a | b".into(), action: "heal", rules: rule, at: t0 + Duration::from_secs(5) });
        assert_eq!(
            serde_json::to_string(rules.events()).unwrap(),
            r#"[{"action":"start","at_s":1.235,"nemesis":"partition a | b","rules":["-A INPUT -s 127.0.0.2 -j DROP"]},{"action":"heal","at_s":5.0,"nemesis":"partition a | b","rules":["-A INPUT -s 127.0.0.2 -j DROP"]}]"#
        );
        assert_eq!(
            serde_json::to_string(&h.events()[1]).unwrap(),
            r#"{"t":12.4,"nemesis":"pause","node":"b","what":"started","detail":"SIGSTOP to process group 42"}"#
        );
    }
}
