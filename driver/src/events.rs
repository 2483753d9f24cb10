//! One stream of run events, as nextest's reporter consumes its test
//! events: a scenario (and the runner, the backend, the cluster) says what
//! happens into one `Events` handle, and each subscriber turns the stream
//! into what it keeps: the progress display (`progress.rs`) what the user
//! sees, the journal (`journal.rs`) the partial report of an interrupted
//! run, the time summary (`journal::TimeSummary`) the `<phase>_seconds`
//! figures, the history (`nemesis::History`) the faults in time.
//!
//! The fan-out is synchronous: `emit` hands the event to every subscriber
//! in the order they subscribed, each behind its own lock, before it
//! returns. A subscriber must not emit while it handles an event.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use serde_json::Value;

use crate::journal::PlannedCheck;
use crate::model::{Check, Report};

/// A nemesis starting or stopping its fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Started,
    Stopped,
}

impl Change {
    /// The word kept in the history (`started`, `stopped`).
    pub fn word(self) -> &'static str {
        match self {
            Change::Started => "started",
            Change::Stopped => "stopped",
        }
    }
}

/// Something that happened in a run. Times that a subscriber measures by
/// are carried in the event (`at`), so every subscriber sees the same.
#[derive(Debug, Clone)]
pub enum Event {
    /// A scenario run begins in `dir`, planning these checks.
    ScenarioBegan { scenario: String, dir: PathBuf, planned: &'static [PlannedCheck] },
    /// The human report's heading, when it is more than the scenario's name.
    Title(String),
    /// The Harper the run uses, as the report describes it.
    Harper(Value),
    /// The run's nodes, as the report describes them (each time they change).
    Nodes(Vec<Value>),
    /// A node was stopped: its stop record, as the report's teardown keeps it.
    NodeStopped(Value),
    PhaseEntered { phase: String, at: Instant },
    /// A phase ended after `seconds` (rounded to the millisecond).
    PhaseLeft { phase: String, seconds: f64 },
    /// The run is cut short (a signal, an error, a node gone) at `at`: the
    /// phase under way ends there.
    CutShort { at: Instant },
    StepStarted { id: u64, what: String, at: Instant },
    StepMessage { id: u64, message: String },
    StepFinished { id: u64, detail: String, at: Instant },
    /// A step dropped unfinished (an error or a panic left it).
    StepAbandoned { id: u64 },
    BarStarted { id: u64, what: String, len: u64 },
    BarAdvanced { id: u64 },
    BarFinished { id: u64, detail: String },
    /// The run's history of faults begins (its times count from `at`).
    HistoryBegan { at: Instant },
    /// A nemesis started or stopped on `node`; at `at`, or, for one that
    /// began before the history (a plan armed from a node's start), at
    /// `t` seconds.
    Nemesis { nemesis: String, node: String, change: Change, detail: String, at: Instant, t: Option<f64> },
    /// A network nemesis put in (`start`) or took out (`heal`) these
    /// firewall rules at `at` (partition-heal's `nemesis_history`).
    Rules { nemesis: String, action: &'static str, rules: Vec<String>, at: Instant },
    CheckDecided(Check),
    /// The scenario finished with this report.
    Finished(Report),
}

/// What turns the stream into something it keeps.
pub trait Subscriber: Send {
    fn on(&mut self, event: &Event);
}

type Shared = Arc<Mutex<dyn Subscriber>>;

/// The run's event stream; cheap to clone, shared by everything in a run.
#[derive(Clone, Default)]
pub struct Events {
    subscribers: Arc<Mutex<Vec<(u64, Shared)>>>,
    ids: Arc<AtomicU64>,
}

fn lock<T: ?Sized>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Events {
    /// A stream whose only subscriber is the progress display (for work
    /// outside a run, such as finding Harper for `blobfail doctor`).
    pub fn shown() -> Events {
        let events = Events::default();
        events.add(Arc::new(Mutex::new(crate::progress::Progress::new())));
        events
    }

    fn next_id(&self) -> u64 {
        self.ids.fetch_add(1, Ordering::Relaxed)
    }

    fn add(&self, s: Shared) -> u64 {
        let id = self.next_id();
        lock(&self.subscribers).push((id, s));
        id
    }

    /// Hands `event` to every subscriber, in the order they subscribed.
    pub fn emit(&self, event: Event) {
        let subscribers = lock(&self.subscribers);
        for (_, s) in subscribers.iter() {
            lock(s).on(&event);
        }
    }

    /// Subscribes `s` until the returned handle is dropped.
    pub fn subscribe<S: Subscriber + 'static>(&self, s: S) -> Subscription<S> {
        let shared = Arc::new(Mutex::new(s));
        let id = self.add(shared.clone());
        Subscription { events: self.clone(), id, shared }
    }

    /// A spinner's step `what`, finished with `Step::finish`.
    pub fn step(&self, what: &str) -> Step {
        let id = self.next_id();
        self.emit(Event::StepStarted { id, what: what.to_string(), at: Instant::now() });
        Step { events: self.clone(), id, finished: false }
    }

    /// A counted load of `len` items, advanced with `Bar::inc`.
    pub fn bar(&self, what: &str, len: u64) -> Bar {
        let id = self.next_id();
        self.emit(Event::BarStarted { id, what: what.to_string(), len });
        Bar { events: self.clone(), id }
    }

    /// The history of faults begins now; its subscriber, kept until dropped.
    pub fn history(&self) -> Subscription<crate::nemesis::History> {
        let at = Instant::now();
        let history = self.subscribe(crate::nemesis::History::begin(at));
        self.emit(Event::HistoryBegan { at });
        history
    }

    /// `nemesis` started or stopped on `node`, now (or at `t` seconds).
    pub fn nemesis(&self, nemesis: &str, node: &str, change: Change, detail: String, t: Option<f64>) {
        self.emit(Event::Nemesis { nemesis: nemesis.to_string(), node: node.to_string(), change, detail, at: Instant::now(), t });
    }

    pub fn decided(&self, check: &Check) {
        self.emit(Event::CheckDecided(check.clone()));
    }
}

/// A subscriber and what it keeps, subscribed until dropped.
pub struct Subscription<S> {
    events: Events,
    id: u64,
    shared: Arc<Mutex<S>>,
}

impl<S> Subscription<S> {
    /// What the subscriber keeps so far.
    pub fn lock(&self) -> MutexGuard<'_, S> {
        lock(&self.shared)
    }
}

impl<S> Drop for Subscription<S> {
    fn drop(&mut self) {
        lock(&self.events.subscribers).retain(|(id, _)| *id != self.id);
    }
}

/// A step under way (a spinner on a terminal).
pub struct Step {
    events: Events,
    id: u64,
    finished: bool,
}

impl Step {
    pub fn set_message(&self, message: &str) {
        self.events.emit(Event::StepMessage { id: self.id, message: message.to_string() });
    }

    pub fn finish(mut self, detail: &str) {
        self.finished = true;
        self.events.emit(Event::StepFinished { id: self.id, detail: detail.to_string(), at: Instant::now() });
    }
}

impl Drop for Step {
    fn drop(&mut self) {
        if !self.finished {
            self.events.emit(Event::StepAbandoned { id: self.id });
        }
    }
}

/// A counted load under way (a bar on a terminal).
pub struct Bar {
    events: Events,
    id: u64,
}

impl Bar {
    pub fn inc(&self) {
        self.events.emit(Event::BarAdvanced { id: self.id });
    }

    pub fn finish(self, detail: &str) {
        self.events.emit(Event::BarFinished { id: self.id, detail: detail.to_string() });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Keeps the names of the events it saw.
    #[derive(Default)]
    struct Names(Vec<String>);

    impl Subscriber for Names {
        fn on(&mut self, e: &Event) {
            self.0.push(match e {
                Event::StepStarted { what, .. } => format!("step {what}"),
                Event::StepFinished { detail, .. } => format!("finished {detail}"),
                Event::StepAbandoned { .. } => "abandoned".into(),
                Event::BarStarted { what, len, .. } => format!("bar {what} {len}"),
                Event::BarAdvanced { .. } => "inc".into(),
                Event::BarFinished { detail, .. } => format!("bar done {detail}"),
                Event::Nemesis { nemesis, node, change, t, .. } => format!("{nemesis} {node} {} {t:?}", change.word()),
                Event::HistoryBegan { .. } => "history".into(),
                other => format!("{other:?}").split([' ', '(']).next().unwrap_or_default().to_string(),
            });
        }
    }

    #[test]
    fn every_subscriber_sees_every_event_in_order_until_it_unsubscribes() {
        let events = Events::default();
        let first = events.subscribe(Names::default());
        let step = events.step("joining");
        {
            let second = events.subscribe(Names::default());
            step.finish("connected");
            let bar = events.bar("GET", 2);
            bar.inc();
            bar.finish("2 ok");
            assert_eq!(second.lock().0, ["finished connected", "bar GET 2", "inc", "bar done 2 ok"]);
        }
        drop(events.step("stopping"));
        events.nemesis("pause", "b", Change::Started, "SIGSTOP".into(), Some(0.0));
        events.decided(&Check::new("liveness", crate::model::Status::Pass, "ok"));
        assert_eq!(
            first.lock().0,
            [
                "step joining",
                "finished connected",
                "bar GET 2",
                "inc",
                "bar done 2 ok",
                "step stopping",
                "abandoned",
                "pause b started Some(0.0)",
                "CheckDecided"
            ]
        );
        assert_eq!(events.subscribers.lock().unwrap().len(), 1, "the dropped subscription is gone");
    }

    #[test]
    fn a_history_subscription_begins_the_history() {
        let events = Events::default();
        let seen = events.subscribe(Names::default());
        let history = events.history();
        events.nemesis("kill-restart", "b", Change::Started, "SIGKILL".into(), None);
        assert_eq!(seen.lock().0, ["history", "kill-restart b started None"]);
        assert_eq!(history.lock().events().len(), 1);
        assert_eq!(history.lock().events()[0].what, "started");
    }
}
