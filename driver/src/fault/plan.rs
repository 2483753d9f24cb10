//! The named fault plans (`--fault open-enoent`, `write-enospc`,
//! `fsync-eio`, `disk-full`, `slow-disk`), each a [`Fault`] (a trigger × an
//! effect) with a name, and the overrides (`--calls`, `--errno`, `--space`,
//! `--delay`, `--interval`) that replace a part of the trigger or the
//! effect. A plan here says what to inject; `FaultPlan` adds where (the
//! shim, its log).

use std::fmt;

use blobfail_vocab::{vars, Family};

use super::kind::{self, Effect, Fault, Trigger};
use crate::text::parse_size;
pub use crate::text::parse_delay_ms as parse_delay;

/// The call families the shim can fail (`HARPER_TEST_BLOB_FAIL_CALLS`).
pub const FAMILIES: [&str; blobfail_vocab::FAMILIES.len()] = {
    let mut names = [""; blobfail_vocab::FAMILIES.len()];
    let mut i = 0;
    while i < names.len() {
        names[i] = blobfail_vocab::FAMILIES[i].name();
        i += 1;
    }
    names
};

/// The errno names the driver passes on (the shim knows these, and Node
/// reports them by the same name as an error's `code`).
pub const ERRNOS: [&str; blobfail_vocab::errno::NAMES.len()] = {
    let mut names = [""; blobfail_vocab::errno::NAMES.len()];
    let mut i = 0;
    while i < names.len() {
        names[i] = blobfail_vocab::errno::NAMES[i].0;
        i += 1;
    }
    names
};

/// A part of a plan, as an override names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Calls,
    Interval,
    Errno,
    Space,
    Delay,
}

impl Part {
    pub fn flag(self) -> &'static str {
        match self {
            Part::Calls => "--calls",
            Part::Interval => "--interval",
            Part::Errno => "--errno",
            Part::Space => "--space",
            Part::Delay => "--delay",
        }
    }
}

/// One named plan: its name and its fault (what counts on node B, when
/// it triggers, what it does then).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanSpec {
    /// The plan's name (`open-enoent`, …).
    pub plan: &'static str,
    pub fault: Fault,
}

/// Every named plan, in the order `--fault all` runs them.
pub const NAMES: [&str; 5] = ["open-enoent", "write-enospc", "fsync-eio", "disk-full", "slow-disk"];

/// Default interval of the every-Nth plans (what Harper's own injector used).
pub const DEFAULT_INTERVAL: u64 = 7;
/// disk-full's default budget: about 80 of the scenario's 50 KiB blobs.
pub const DEFAULT_SPACE: u64 = 4 << 20;
/// slow-disk's default delay per call.
pub const DEFAULT_DELAY_MS: u64 = 10;

impl PlanSpec {
    /// The named plan with its default parts.
    pub fn named(name: &str) -> Option<PlanSpec> {
        use Family::*;
        let plan = NAMES.iter().copied().find(|n| *n == name)?;
        let fail = |errno| Effect::Fail { errno };
        let (calls, trigger, effect) = match plan {
            "open-enoent" => (vec![Open], Trigger::every(DEFAULT_INTERVAL), fail("ENOENT")),
            "write-enospc" => (vec![Write], Trigger::every(DEFAULT_INTERVAL), fail("ENOSPC")),
            "fsync-eio" => (vec![Sync], Trigger::every(DEFAULT_INTERVAL), fail("EIO")),
            "disk-full" => (vec![Write], Trigger::Budget { bytes: DEFAULT_SPACE }, fail("ENOSPC")),
            "slow-disk" => (vec![Open, Write, Sync, Close], Trigger::every(1), Effect::Delay { ms: DEFAULT_DELAY_MS }),
            // NAMES and this match are one list: a name without its plan
            // is no plan, never another one.
            _ => return None,
        };
        let fault = Fault::new(calls, vars::DEFAULT_PATH, trigger, effect).ok()?;
        Some(PlanSpec { plan, fault })
    }

    /// open-enoent with another interval (backlog-memory's `--shim-on-b`,
    /// fault-heal's and partition-heal's blob faults).
    pub fn open_enoent_every(interval: u64) -> Result<PlanSpec, String> {
        let p = PlanSpec::named("open-enoent").ok_or("open-enoent is a named plan")?;
        Ok(PlanSpec { fault: p.fault.with(None, Some(Trigger::every(interval)), None)?, ..p })
    }

    /// The parts an override may set on this plan: the families, and the
    /// trigger's and the effect's own parameter. A delay's trigger is fixed
    /// (every call), so it has no interval to set.
    pub fn parts(&self) -> &'static [Part] {
        match (self.fault.trigger(), self.fault.effect()) {
            (_, Effect::Delay { .. }) => &[Part::Calls, Part::Delay],
            (Trigger::Budget { .. }, Effect::Fail { .. }) => &[Part::Calls, Part::Space, Part::Errno],
            (Trigger::EveryNth { .. }, Effect::Fail { .. }) => &[Part::Calls, Part::Interval, Part::Errno],
            (Trigger::Budget { .. }, _) => &[Part::Calls, Part::Space],
            (Trigger::EveryNth { .. }, _) => &[Part::Calls, Part::Interval],
        }
    }

    /// The plan as the shim's environment (without LD_PRELOAD and the log).
    pub fn env(&self) -> Vec<(String, String)> {
        self.fault.env()
    }
}

impl fmt::Display for PlanSpec {
    /// `write-enospc: every 7th write call on a blob file of node B fails with ENOSPC`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.plan, self.fault)
    }
}

/// `--space`: a size (`4MiB`; the one grammar of `text::parse_size`), at
/// least 1 byte.
pub fn parse_space(s: &str) -> Result<u64, String> {
    match parse_size(s)? {
        0 => Err(format!("{s:?} is no space at all: give a budget of at least 1 byte")),
        b => Ok(b),
    }
}

/// `--errno`: an errno name the shim and Node both know.
pub fn parse_errno(s: &str) -> Result<String, String> {
    let up = s.trim().to_ascii_uppercase();
    if ERRNOS.contains(&up.as_str()) {
        Ok(up)
    } else {
        Err(format!("{s:?} is not an errno this driver knows: use one of {}", ERRNOS.join(", ")))
    }
}

/// `--calls`: a comma list of call families.
pub fn parse_calls(s: &str) -> Result<Vec<String>, String> {
    let mut calls = Vec::new();
    for c in s.split(',').map(|c| c.trim().to_ascii_lowercase()) {
        if !FAMILIES.contains(&c.as_str()) {
            return Err(format!("{c:?} is not a call family: use a comma list of {}", FAMILIES.join(", ")));
        }
        if !calls.contains(&c) {
            calls.push(c);
        }
    }
    Ok(calls)
}

/// The overrides given on the command line.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub calls: Option<Vec<String>>,
    pub interval: Option<u64>,
    pub errno: Option<String>,
    pub space: Option<u64>,
    pub delay_ms: Option<u64>,
}

impl Overrides {
    fn given(&self) -> Vec<Part> {
        let mut v = Vec::new();
        if self.calls.is_some() {
            v.push(Part::Calls);
        }
        if self.interval.is_some() {
            v.push(Part::Interval);
        }
        if self.errno.is_some() {
            v.push(Part::Errno);
        }
        if self.space.is_some() {
            v.push(Part::Space);
        }
        if self.delay_ms.is_some() {
            v.push(Part::Delay);
        }
        v
    }
}

/// `--fault LIST` with its overrides: the plans to run, in order, or the
/// one line saying what does not fit (an unknown plan, an override that
/// contradicts every chosen plan).
pub fn resolve(list: &str, o: &Overrides) -> Result<Vec<PlanSpec>, String> {
    let unknown = |n: &str| {
        format!("--fault {n:?} is not a fault plan: choose from {}, or all (comma-separated for several)", NAMES.join(", "))
    };
    // Each plan once, where first named; a name that makes no plan is
    // refused, never replaced by another plan.
    let mut plans: Vec<PlanSpec> = Vec::new();
    for n in list.split(',').map(str::trim) {
        let named: Vec<&str> = if n == "all" { NAMES.to_vec() } else { vec![n] };
        for name in named {
            let p = PlanSpec::named(name).ok_or_else(|| unknown(name))?;
            if !plans.iter().any(|q| q.plan == p.plan) {
                plans.push(p);
            }
        }
    }
    for part in o.given() {
        let takers: Vec<&PlanSpec> = plans.iter().filter(|p| p.parts().contains(&part)).collect();
        if takers.is_empty() {
            let chosen: Vec<&str> = plans.iter().map(|p| p.plan).collect();
            let owners: Vec<&str> =
                NAMES.iter().copied().filter(|n| PlanSpec::named(n).is_some_and(|p| p.parts().contains(&part))).collect();
            return Err(format!(
                "{} contradicts --fault {}: {} (it is a part of {})",
                part.flag(),
                chosen.join(","),
                if chosen.len() == 1 { "that plan has no such part" } else { "none of those plans has such a part" },
                owners.join(", ")
            ));
        }
    }
    for p in &mut plans {
        let has = |part: Part| p.parts().contains(&part);
        let calls = match &o.calls {
            Some(c) if has(Part::Calls) => Some(kind::families(c)?),
            _ => None,
        };
        let trigger = match p.fault.trigger() {
            Trigger::EveryNth { skip, max, .. } if has(Part::Interval) => o.interval.map(|every| Trigger::EveryNth { every, skip, max }),
            Trigger::Budget { .. } if has(Part::Space) => o.space.map(|bytes| Trigger::Budget { bytes }),
            _ => None,
        };
        let effect = match p.fault.effect() {
            Effect::Fail { .. } if has(Part::Errno) => match o.errno.as_deref() {
                Some(e) => Some(Effect::Fail { errno: Effect::errno_named(e).ok_or_else(|| parse_errno(e).unwrap_err())? }),
                None => None,
            },
            Effect::Delay { .. } if has(Part::Delay) => o.delay_ms.map(|ms| Effect::Delay { ms }),
            _ => None,
        };
        p.fault = p.fault.with(calls, trigger, effect)?;
    }
    Ok(plans)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_plan_is_todays_run() {
        let p = resolve("open-enoent", &Overrides::default()).unwrap();
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].to_string(), "open-enoent: every 7th open call on a blob file of node B fails with ENOENT");
        let env: std::collections::BTreeMap<_, _> = p[0].env().into_iter().collect();
        assert_eq!(env["HARPER_TEST_BLOB_FAIL_CALLS"], "open");
        assert_eq!(env["HARPER_TEST_BLOB_FAIL_INTERVAL"], "7");
        assert_eq!(env["HARPER_TEST_BLOB_FAIL_ERRNO"], "ENOENT");
        assert!(!env.contains_key("HARPER_TEST_BLOB_FAIL_SPACE"));
    }

    #[test]
    fn each_named_plan_arms_the_shim_its_way() {
        let env = |n: &str| -> std::collections::BTreeMap<String, String> {
            PlanSpec::named(n).unwrap().env().into_iter().collect()
        };
        assert_eq!((env("write-enospc")["HARPER_TEST_BLOB_FAIL_CALLS"].as_str(), env("write-enospc")["HARPER_TEST_BLOB_FAIL_ERRNO"].as_str()), ("write", "ENOSPC"));
        assert_eq!(env("fsync-eio")["HARPER_TEST_BLOB_FAIL_CALLS"], "sync");
        assert_eq!(env("disk-full")["HARPER_TEST_BLOB_FAIL_SPACE"], "4194304");
        assert!(!env("disk-full").contains_key("HARPER_TEST_BLOB_FAIL_INTERVAL"));
        assert_eq!(env("slow-disk")["HARPER_TEST_BLOB_FAIL_DELAY"], "10ms");
        assert_eq!(env("slow-disk")["HARPER_TEST_BLOB_FAIL_CALLS"], "open,write,sync,close");
        assert!(!env("slow-disk").contains_key("HARPER_TEST_BLOB_FAIL_INTERVAL"));
        assert_eq!(PlanSpec::named("slow-disk").unwrap().fault.effect().errno(), None);
    }

    #[test]
    fn overrides_replace_the_parts_a_plan_has() {
        let o = Overrides { interval: Some(3), errno: Some("EIO".into()), ..Default::default() };
        let p = resolve("write-enospc", &o).unwrap();
        assert_eq!(p[0].to_string(), "write-enospc: every 3rd write call on a blob file of node B fails with EIO");
        let o = Overrides { space: Some(1 << 20), ..Default::default() };
        assert_eq!(resolve("disk-full", &o).unwrap()[0].to_string(), "disk-full: node B's writes to blob files may use 1 MiB, then fail with ENOSPC");
        // With several plans an override goes to those that have the part.
        let all = resolve("all", &Overrides { delay_ms: Some(5), ..Default::default() }).unwrap();
        assert_eq!(all.iter().map(|p| p.plan).collect::<Vec<_>>(), NAMES);
        assert_eq!(all[4].fault.effect(), Effect::Delay { ms: 5 });
        assert_eq!(all[0].fault.effect(), Effect::Fail { errno: "ENOENT" });
    }

    #[test]
    fn bad_plans_and_contradicting_overrides_are_one_line() {
        assert_eq!(
            resolve("open-enoent,fsync-eoi", &Overrides::default()).unwrap_err(),
            "--fault \"fsync-eoi\" is not a fault plan: choose from open-enoent, write-enospc, fsync-eio, disk-full, slow-disk, or all (comma-separated for several)"
        );
        assert_eq!(
            resolve("slow-disk", &Overrides { errno: Some("EIO".into()), ..Default::default() }).unwrap_err(),
            "--errno contradicts --fault slow-disk: that plan has no such part (it is a part of open-enoent, write-enospc, fsync-eio, disk-full)"
        );
        assert_eq!(
            resolve("open-enoent", &Overrides { space: Some(10), ..Default::default() }).unwrap_err(),
            "--space contradicts --fault open-enoent: that plan has no such part (it is a part of disk-full)"
        );
        assert!(resolve("open-enoent,open-enoent", &Overrides::default()).unwrap().len() == 1);
    }

    #[test]
    fn sizes_delays_errnos_and_calls_parse_or_say_why_not() {
        assert_eq!(parse_space("4MiB"), Ok(4 << 20));
        assert_eq!(parse_space("1000"), Ok(1000));
        assert!(parse_space("").unwrap_err().contains("is not a size"));
        assert_eq!(parse_space("10MB").unwrap_err(), "\"10MB\" is a decimal unit: write KiB, MiB or GiB (1 MiB = 1048576 bytes)");
        assert!(parse_space("0").unwrap_err().contains("no space at all"));
        assert_eq!(parse_delay("20ms"), Ok(20));
        assert_eq!(parse_delay("1s"), Ok(1000));
        assert!(parse_delay("0").is_err());
        assert_eq!(parse_errno("enospc"), Ok("ENOSPC".into()));
        assert!(parse_errno("ENOPE").is_err());
        assert_eq!(parse_calls("write,Sync,write"), Ok(vec!["write".into(), "sync".into()]));
        // The shim's families, from the shared vocabulary (read included).
        assert_eq!(parse_calls("write,read"), Ok(vec!["write".into(), "read".into()]));
        assert!(parse_calls("write,reed").is_err());
        assert_eq!(FAMILIES.len(), blobfail_vocab::FAMILIES.len());
        assert!(ERRNOS.contains(&"ENOSPC") && ERRNOS.contains(&"EIO"));
    }
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod trigger_effect_tests;
