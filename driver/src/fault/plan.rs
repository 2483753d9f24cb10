//! The named fault plans (`--fault open-enoent`, `write-enospc`,
//! `fsync-eio`, `disk-full`, `slow-disk`), the parts each is made of, and
//! the overrides (`--calls`, `--errno`, `--space`, `--delay`, `--interval`)
//! that set or replace a part. A plan here says what to inject; `FaultPlan`
//! adds where (the shim, its log) and turns it into the shim's environment.

use std::fmt;

use serde::{Deserialize, Serialize};

use blobfail_vocab::vars;

use crate::text::{ordinal, parse_size, size};
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

/// One named plan: what fails on node B, how often, and how.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlanSpec {
    /// The plan's name (`open-enoent`, …).
    pub plan: &'static str,
    /// The call families it counts (and fails or delays).
    pub calls: Vec<String>,
    /// Every Nth matching call of each family fails.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interval: Option<u64>,
    /// The errno of a failed call.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errno: Option<String>,
    /// A full disk: the bytes blob writes may use before they fail.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub space_bytes: Option<u64>,
    /// A slow disk: each matching call waits this many milliseconds first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delay_ms: Option<u64>,
    /// Substring of the paths that match.
    pub path: String,
}

/// A plan as saved (`observations.json`): its name is read back as the
/// named plan's, and an unknown name is refused.
#[derive(Deserialize)]
struct SavedPlan {
    plan: String,
    calls: Vec<String>,
    interval: Option<u64>,
    errno: Option<String>,
    space_bytes: Option<u64>,
    delay_ms: Option<u64>,
    path: String,
}

impl<'de> serde::Deserialize<'de> for PlanSpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<PlanSpec, D::Error> {
        let p = SavedPlan::deserialize(d)?;
        let plan = NAMES
            .iter()
            .copied()
            .find(|n| *n == p.plan)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown fault plan {:?}", p.plan)))?;
        let SavedPlan { calls, interval, errno, space_bytes, delay_ms, path, .. } = p;
        Ok(PlanSpec { plan, calls, interval, errno, space_bytes, delay_ms, path })
    }
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
        let base = |plan: &'static str, calls: &[&str]| PlanSpec {
            plan,
            calls: calls.iter().map(|c| c.to_string()).collect(),
            interval: None,
            errno: None,
            space_bytes: None,
            delay_ms: None,
            path: "/blobs/".into(),
        };
        let every = |plan, call, errno: &str| PlanSpec {
            interval: Some(DEFAULT_INTERVAL),
            errno: Some(errno.into()),
            ..base(plan, &[call])
        };
        Some(match name {
            "open-enoent" => every("open-enoent", "open", "ENOENT"),
            "write-enospc" => every("write-enospc", "write", "ENOSPC"),
            "fsync-eio" => every("fsync-eio", "sync", "EIO"),
            "disk-full" => PlanSpec { space_bytes: Some(DEFAULT_SPACE), errno: Some("ENOSPC".into()), ..base("disk-full", &["write"]) },
            "slow-disk" => PlanSpec { delay_ms: Some(DEFAULT_DELAY_MS), ..base("slow-disk", &["open", "write", "sync", "close"]) },
            _ => return None,
        })
    }

    /// The parts an override may set on this plan.
    pub fn parts(&self) -> &'static [Part] {
        if self.delay_ms.is_some() {
            &[Part::Calls, Part::Delay]
        } else if self.space_bytes.is_some() {
            &[Part::Calls, Part::Space, Part::Errno]
        } else {
            &[Part::Calls, Part::Interval, Part::Errno]
        }
    }

    /// Whether the plan fails calls (a delay-only plan fails none).
    pub fn fails_calls(&self) -> bool {
        self.interval.is_some() || self.space_bytes.is_some()
    }

    /// The errno's name, when the plan fails calls.
    pub fn errno_code(&self) -> Option<&str> {
        self.fails_calls().then(|| self.errno.as_deref().unwrap_or("ENOENT"))
    }

    /// The plan as the shim's environment (without LD_PRELOAD and the log).
    pub fn env(&self) -> Vec<(String, String)> {
        let mut env = vec![
            (vars::CALLS.to_string(), self.calls.join(",")),
            (vars::PATH.to_string(), self.path.clone()),
            (vars::OPS.to_string(), "write".to_string()),
        ];
        if let Some(n) = self.interval {
            env.push((vars::INTERVAL.into(), n.to_string()));
        }
        if let Some(e) = &self.errno {
            env.push((vars::ERRNO.into(), e.clone()));
        }
        if let Some(b) = self.space_bytes {
            env.push((vars::SPACE.into(), b.to_string()));
        }
        if let Some(ms) = self.delay_ms {
            env.push((vars::DELAY.into(), format!("{ms}ms")));
        }
        env
    }
}

impl fmt::Display for PlanSpec {
    /// `write-enospc: every 7th write call on a blob file of node B fails with ENOSPC`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let calls = self.calls.join("/");
        let errno = self.errno.as_deref().unwrap_or("ENOENT");
        write!(f, "{}: ", self.plan)?;
        if let Some(ms) = self.delay_ms {
            write!(f, "every {calls} call on a blob file of node B waits {ms} ms first; none fails")
        } else if let Some(b) = self.space_bytes {
            write!(f, "node B's writes to blob files may use {}, then fail with {errno}", size(b))
        } else {
            let n = self.interval.unwrap_or(DEFAULT_INTERVAL);
            write!(f, "every {}{} {calls} call on a blob file of node B fails with {errno}", n, ordinal(n))
        }
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
    let mut names: Vec<&str> = Vec::new();
    for n in list.split(',').map(str::trim) {
        if n == "all" {
            names.extend(NAMES);
        } else if NAMES.contains(&n) {
            names.push(NAMES[NAMES.iter().position(|x| *x == n).unwrap_or(0)]);
        } else {
            return Err(format!("--fault {n:?} is not a fault plan: choose from {}, or all (comma-separated for several)", NAMES.join(", ")));
        }
    }
    names.dedup();
    let mut seen = Vec::new();
    names.retain(|n| {
        let first = !seen.contains(n);
        seen.push(*n);
        first
    });
    let mut plans: Vec<PlanSpec> = names.iter().filter_map(|n| PlanSpec::named(n)).collect();
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
        let parts = p.parts();
        if let (Some(c), true) = (&o.calls, parts.contains(&Part::Calls)) {
            p.calls = c.clone();
        }
        if let (Some(n), true) = (o.interval, parts.contains(&Part::Interval)) {
            p.interval = Some(n);
        }
        if let (Some(e), true) = (&o.errno, parts.contains(&Part::Errno)) {
            p.errno = Some(e.clone());
        }
        if let (Some(b), true) = (o.space, parts.contains(&Part::Space)) {
            p.space_bytes = Some(b);
        }
        if let (Some(ms), true) = (o.delay_ms, parts.contains(&Part::Delay)) {
            p.delay_ms = Some(ms);
        }
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
        assert!(!PlanSpec::named("slow-disk").unwrap().fails_calls());
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
        assert_eq!(all[4].delay_ms, Some(5));
        assert_eq!(all[0].delay_ms, None);
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
