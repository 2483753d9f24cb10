//! What a fault is, as the shim injects it: which calls it counts (call
//! families and a path substring), when a counted call triggers
//! ([`Trigger`]) and what a triggered call then does ([`Effect`]). The
//! trigger and the effect vary independently, as fail-rs's trigger and
//! task do; [`Fault::env`] is the one place that turns them into the
//! shim's variables, and every kind-dependent question is a `match` on the
//! pair here or in `plan`, never a guess from which fields are set.

use std::fmt;

use blobfail_vocab::{errno, vars, CorruptMode, Family};

use crate::text::ordinal;

/// When a counted call triggers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// `INTERVAL`, `SKIP`, `MAX`: after `skip` matching calls of a family
    /// are let through, every `every`-th of the rest triggers, until `max`
    /// calls have (None: no limit).
    EveryNth { every: u64, skip: u64, max: Option<u64> },
    /// `SPACE`, a full disk: matching writes may use `bytes`, then each
    /// write past them triggers.
    Budget { bytes: u64 },
}

impl Trigger {
    /// Every `n`-th matching call, from the first, without limit.
    pub const fn every(n: u64) -> Trigger {
        Trigger::EveryNth { every: n, skip: 0, max: None }
    }
}

/// What a triggered call does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// It fails with this errno (a name of `blobfail_vocab::errno::NAMES`)
    /// without reaching the kernel.
    Fail { errno: &'static str },
    /// It waits this long, then runs; nothing fails. The shim delays every
    /// matching call, so its trigger is every call.
    Delay { ms: u64 },
    /// The process dies of SIGKILL, before the call reaches the kernel or
    /// right after it returns (`after`); `group`: its whole process group.
    Crash { after: bool, group: bool },
    /// The bytes that reach the file (on a read: the caller) differ, as
    /// `mode` says, its choices drawn from `seed`; the call reports success.
    Corrupt { mode: CorruptMode, seed: u64 },
}

impl Effect {
    /// The shim's `EFFECT` this is, when it is one (a delay is the shim's
    /// `DELAY`, not an effect).
    pub const fn shim_effect(self) -> Option<blobfail_vocab::Effect> {
        match self {
            Effect::Fail { .. } => Some(blobfail_vocab::Effect::Fail),
            Effect::Delay { .. } => None,
            Effect::Crash { after: false, .. } => Some(blobfail_vocab::Effect::CrashBefore),
            Effect::Crash { after: true, .. } => Some(blobfail_vocab::Effect::CrashAfter),
            Effect::Corrupt { .. } => Some(blobfail_vocab::Effect::Corrupt),
        }
    }

    /// The errno of a failed call (None: this effect fails nothing).
    pub const fn errno(self) -> Option<&'static str> {
        match self {
            Effect::Fail { errno } => Some(errno),
            _ => None,
        }
    }

    /// The errno name as the vocabulary spells it (any case in), or None.
    pub fn errno_named(name: &str) -> Option<&'static str> {
        errno::NAMES.iter().map(|&(n, _)| n).find(|n| n.eq_ignore_ascii_case(name.trim()))
    }
}

/// What a triggered call does, after "call on a blob file of node B".
impl fmt::Display for Effect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Effect::Fail { errno } => write!(f, "fails with {errno}"),
            Effect::Delay { ms } => write!(f, "waits {ms} ms first; none fails"),
            Effect::Crash { after, group } => write!(
                f,
                "kills {} (SIGKILL) {} the call",
                if group { "its process group" } else { "its process" },
                if after { "right after" } else { "before" }
            ),
            Effect::Corrupt { mode, seed } => write!(f, "is corrupted ({}, seed {seed}) and reported whole", mode.name()),
        }
    }
}

/// One fault: the calls that count, when one triggers, what it then does.
/// Made by [`Fault::new`], which refuses what the shim would refuse, so a
/// `Fault` always arms the shim as it says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    calls: Vec<Family>,
    path: String,
    trigger: Trigger,
    effect: Effect,
}

impl Fault {
    /// The fault, or what is wrong with it (one line).
    pub fn new(calls: Vec<Family>, path: impl Into<String>, trigger: Trigger, effect: Effect) -> Result<Fault, String> {
        let f = Fault { calls, path: path.into(), trigger, effect };
        f.check()?;
        Ok(f)
    }

    fn check(&self) -> Result<(), String> {
        if self.calls.is_empty() {
            return Err("a fault counts at least one call family".into());
        }
        if self.path.is_empty() {
            return Err("a fault needs a path substring to match".into());
        }
        match self.trigger {
            Trigger::EveryNth { every: 0, .. } => return Err("every 0th call is no trigger: give a whole number from 1".into()),
            Trigger::Budget { bytes: 0 } => return Err("a budget of 0 bytes is no space at all: give at least 1 byte".into()),
            _ => {}
        }
        if let (Effect::Delay { .. }, t) = (self.effect, self.trigger) {
            if t != Trigger::every(1) {
                return Err("a delay acts on every matching call: its trigger is every call, without skip or max".into());
            }
        }
        if let Effect::Delay { ms: 0 } = self.effect {
            return Err("a delay of 0 ms is no delay".into());
        }
        if let Some(e) = self.effect.errno() {
            if Effect::errno_named(e) != Some(e) {
                return Err(format!("{e:?} is not an errno name of the shim's vocabulary"));
            }
        }
        if let Some(e) = self.effect.shim_effect() {
            let acted_on: &[Family] = match self.trigger {
                Trigger::EveryNth { .. } => &self.calls,
                Trigger::Budget { .. } => &[Family::Write],
            };
            if let Some(f) = acted_on.iter().find(|&&f| !e.applies_to(f)) {
                return Err(format!("the effect {} cannot act on {} calls", e.name(), f.name()));
            }
        }
        Ok(())
    }

    /// The chosen families' names, in the order given.
    pub fn call_names(&self) -> Vec<&'static str> {
        self.calls.iter().map(|f| f.name()).collect()
    }

    pub fn path(&self) -> &str {
        &self.path
    }

    pub fn trigger(&self) -> Trigger {
        self.trigger
    }

    pub fn effect(&self) -> Effect {
        self.effect
    }

    /// This fault with another part, checked as [`Fault::new`] checks.
    pub fn with(&self, calls: Option<Vec<Family>>, trigger: Option<Trigger>, effect: Option<Effect>) -> Result<Fault, String> {
        Fault::new(
            calls.unwrap_or_else(|| self.calls.clone()),
            self.path.clone(),
            trigger.unwrap_or(self.trigger),
            effect.unwrap_or(self.effect),
        )
    }

    /// The shim's variables for this fault (without LD_PRELOAD, the log and
    /// the journal), in a fixed order: what counts, the trigger's interval,
    /// the errno, the trigger's budget, the delay, the other effects.
    pub fn env(&self) -> Vec<(String, String)> {
        let mut env = vec![
            (vars::CALLS.to_string(), self.call_names().join(",")),
            (vars::PATH.to_string(), self.path.clone()),
            (vars::OPS.to_string(), "write".to_string()),
        ];
        let mut put = |k: &str, v: String| env.push((k.to_string(), v));
        // A delay is the shim's DELAY, on every matching call: an INTERVAL
        // beside it would fail calls too.
        if let (Trigger::EveryNth { every, skip, max }, false) = (self.trigger, matches!(self.effect, Effect::Delay { .. })) {
            put(vars::INTERVAL, every.to_string());
            if skip > 0 {
                put(vars::SKIP, skip.to_string());
            }
            if let Some(m) = max {
                put(vars::MAX, m.to_string());
            }
        }
        if let Effect::Fail { errno } = self.effect {
            put(vars::ERRNO, errno.to_string());
        }
        if let Trigger::Budget { bytes } = self.trigger {
            put(vars::SPACE, bytes.to_string());
        }
        match self.effect {
            Effect::Fail { .. } => {}
            Effect::Delay { ms } => put(vars::DELAY, format!("{ms}ms")),
            Effect::Crash { group, .. } => {
                put(vars::EFFECT, self.effect.shim_effect().map_or("", |e| e.name()).to_string());
                if group {
                    put(vars::CRASH, "group".to_string());
                }
            }
            Effect::Corrupt { mode, seed } => {
                put(vars::EFFECT, blobfail_vocab::Effect::Corrupt.name().to_string());
                put(vars::CORRUPT, mode.name().to_string());
                put(vars::SEED, seed.to_string());
            }
        }
        env
    }
}

/// `every 7th open call on a blob file of node B fails with ENOENT`, and
/// the like for each trigger and effect.
impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let calls = self.call_names().join("/");
        match (self.trigger, self.effect) {
            (Trigger::Budget { bytes }, Effect::Fail { errno }) => {
                write!(f, "node B's writes to blob files may use {}, then fail with {errno}", crate::text::size(bytes))
            }
            (Trigger::Budget { bytes }, e) => {
                write!(f, "node B's writes to blob files may use {}; each write past them {e}", crate::text::size(bytes))
            }
            (_, e @ Effect::Delay { .. }) => write!(f, "every {calls} call on a blob file of node B {e}"),
            (Trigger::EveryNth { every, skip, max }, e) => {
                write!(f, "every {every}{} {calls} call on a blob file of node B {e}", ordinal(every))?;
                if skip > 0 {
                    write!(f, ", after the first {skip} let through")?;
                }
                match max {
                    Some(1) => write!(f, ", once"),
                    Some(m) => write!(f, ", at most {m} times"),
                    None => Ok(()),
                }
            }
        }
    }
}

/// The families of `names` (each a name the vocabulary knows).
pub fn families(names: &[String]) -> Result<Vec<Family>, String> {
    names
        .iter()
        .map(|n| Family::from_name(n.as_bytes()).ok_or_else(|| format!("{n:?} is not a call family")))
        .collect()
}
