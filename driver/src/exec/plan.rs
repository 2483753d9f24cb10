//! `blobfail exec`'s options and the shim environment they make, checked
//! with the vocabulary the shim itself parses with (`blobfail-vocab`), so a
//! plan the shim would refuse is refused here first, with one line.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Result};
use blobfail_vocab::{errno, units, vars, Calls, CorruptMode, Effect, Family};

use super::power_loss::Mode;

/// `blobfail exec`.
#[derive(clap::Args, Debug, Clone)]
pub struct ExecArgs {
    /// A named plan of the driver's: open-enoent, write-enospc, fsync-eio, disk-full, slow-disk.
    #[arg(long, value_name = "PLAN")]
    pub fault: Option<String>,
    /// Comma list of call families that count: open, write, sync, close, rename, truncate, mkdir, unlink, read (or all).
    #[arg(long, value_name = "FAMILIES")]
    pub calls: Option<String>,
    /// Errno of a failed call (a name such as EIO, or a number).
    #[arg(long, value_name = "ERRNO")]
    pub errno: Option<String>,
    /// Every Nth matching call is a fault.
    #[arg(long, value_name = "N")]
    pub interval: Option<u64>,
    /// Matching calls let through before counting starts.
    #[arg(long, value_name = "N")]
    pub skip: Option<u64>,
    /// Most faults.
    #[arg(long, value_name = "N")]
    pub max: Option<u64>,
    /// A full disk after this many bytes written (B, KiB, MiB, GiB; e.g. 4MiB).
    #[arg(long, value_name = "SIZE")]
    pub space: Option<String>,
    /// Each matching call waits this long first (e.g. 20ms).
    #[arg(long, value_name = "DURATION")]
    pub delay: Option<String>,
    /// What a triggered call does: fail, crash-before, crash-after, corrupt, drop, fake-sync, short (reads).
    #[arg(long, value_name = "EFFECT")]
    pub effect: Option<String>,
    /// How corrupt changes bytes: flip, zero, random.
    #[arg(long, value_name = "MODE")]
    pub corrupt: Option<String>,
    /// The seed of corrupt, and of --power-loss=prefix|pages.
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    /// Substring of the resolved path that makes a call match.
    #[arg(long, value_name = "NEEDLE", default_value = "/blobs/")]
    pub path: String,
    /// `tree`: the program and its descendants share one count.
    #[arg(long, value_name = "SCOPE", value_parser = ["process", "tree"])]
    pub scope: Option<String>,
    /// Keep the fault log here (one JSON line per fault, a summary per process).
    #[arg(long, value_name = "FILE")]
    pub log: Option<PathBuf>,
    /// The preload shim (default: libblobfail.so next to this executable).
    #[arg(long, value_name = "PATH")]
    pub shim: Option<PathBuf>,
    /// Kill the program (SIGKILL) at its Nth matching call of FAMILY, e.g. sync:3.
    #[arg(long, value_name = "FAMILY:N", conflicts_with = "crash_sweep")]
    pub crash_at: Option<String>,
    /// After the crash, roll its files back as a power cut would (all, prefix or pages).
    #[arg(long, value_name = "MODE", num_args = 0..=1, default_missing_value = "all", value_enum)]
    pub power_loss: Option<Mode>,
    /// With --power-loss: keep changes older than SECS before the crash (written back).
    #[arg(long, value_name = "SECS", default_value_t = 0.0)]
    pub writeback: f64,
    /// With --power-loss: strict (POSIX: a rename survives once its directory is synced) or ext4 (also at any later fsync).
    #[arg(long, value_enum, default_value_t = super::power_loss::Fs::Strict)]
    pub fs: super::power_loss::Fs,
    /// Crash the program at every STEP-th matching call of FAMILY in turn, e.g. sync:1, each with a power cut and --check.
    #[arg(long, value_name = "FAMILY:STEP", requires = "check")]
    pub crash_sweep: Option<String>,
    /// A shell command that judges the files after each rolled-back crash (exit 0: fine).
    #[arg(long, value_name = "CMD")]
    pub check: Option<String>,
    /// The program and its arguments.
    #[arg(last = true, value_name = "CMD")]
    pub command: Vec<OsString>,
}

/// A checked plan.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    pub vars: Vec<(String, String)>,
}

fn put(v: &mut Vec<(String, String)>, k: &str, val: String) {
    v.retain(|(x, _)| x != k);
    v.push((k.to_string(), val));
}

fn refuse(flag: &str, value: &str, what: &str) -> anyhow::Error {
    anyhow!("{flag} {value:?} is {what}")
}

/// `FAMILY:N`, N >= 1.
pub fn family_at(flag: &str, raw: &str) -> Result<(Family, u64)> {
    let bad = || refuse(flag, raw, "not FAMILY:N (a call family and a whole number from 1, e.g. sync:3)");
    let (f, n) = raw.split_once(':').ok_or_else(bad)?;
    let family = Family::from_name(f.as_bytes()).ok_or_else(bad)?;
    let n = units::parse_u64(n.as_bytes()).filter(|&n| n >= 1).ok_or_else(bad)?;
    Ok((family, n))
}

impl Plan {
    pub fn from_args(a: &ExecArgs) -> Result<Plan> {
        super::bail_if_empty(&a.command)?;
        let mut v: Vec<(String, String)> = Vec::new();
        if let Some(name) = &a.fault {
            let spec = crate::fault::plan::PlanSpec::named(name).ok_or_else(|| {
                refuse("--fault", name, &format!("not a plan: use one of {}", crate::fault::plan::NAMES.join(", ")))
            })?;
            for (k, val) in spec.env() {
                put(&mut v, &k, val);
            }
        }
        let calls = match &a.calls {
            Some(c) => {
                let parsed = blobfail_vocab::parse_calls(c.as_bytes())
                    .ok_or_else(|| refuse("--calls", c, "not a comma list of open, write, sync, close, rename, truncate, mkdir, unlink, read (or all)"))?;
                put(&mut v, vars::CALLS, c.clone());
                parsed
            }
            None => v.iter().find(|(k, _)| k == vars::CALLS).and_then(|(_, c)| blobfail_vocab::parse_calls(c.as_bytes())).unwrap_or(Calls::OPEN),
        };
        if let Some(e) = &a.errno {
            errno::parse(e.as_bytes()).ok_or_else(|| refuse("--errno", e, "not an errno name or number (e.g. EIO, ENOSPC, 28)"))?;
            put(&mut v, vars::ERRNO, e.clone());
        }
        if let Some(n) = a.interval {
            if n == 0 {
                bail!("--interval 0 is no interval: give a whole number from 1");
            }
            put(&mut v, vars::INTERVAL, n.to_string());
        }
        if let Some(n) = a.skip {
            put(&mut v, vars::SKIP, n.to_string());
        }
        if let Some(n) = a.max {
            put(&mut v, vars::MAX, n.to_string());
        }
        if let Some(s) = &a.space {
            units::parse_size(s.as_bytes()).map_err(|e| refuse("--space", s, e.what()))?;
            put(&mut v, vars::SPACE, s.clone());
        }
        if let Some(d) = &a.delay {
            units::parse_duration_ns(d.as_bytes()).ok_or_else(|| refuse("--delay", d, units::DURATION_WHAT))?;
            put(&mut v, vars::DELAY, d.clone());
        }
        let interval_set = v.iter().any(|(k, _)| k == vars::INTERVAL);
        let space_set = v.iter().any(|(k, _)| k == vars::SPACE);
        if let Some(e) = &a.effect {
            let effect = Effect::from_name(e.as_bytes())
                .ok_or_else(|| refuse("--effect", e, "not an effect: fail, crash-before, crash-after, corrupt, drop, fake-sync or short"))?;
            if interval_set {
                if let Some(f) = calls.iter().find(|&f| !effect.applies_to(f)) {
                    bail!("--effect {e} cannot act on {} calls: choose families it acts on with --calls ({})", f.name(), acts_on(effect));
                }
            }
            if space_set && !effect.applies_to(Family::Write) {
                bail!("--effect {e} cannot act on writes, which --space triggers");
            }
            put(&mut v, vars::EFFECT, effect.name().to_string());
        }
        if let Some(m) = &a.corrupt {
            CorruptMode::from_name(m.as_bytes()).ok_or_else(|| refuse("--corrupt", m, "neither flip, zero nor random"))?;
            put(&mut v, vars::CORRUPT, m.clone());
        }
        if let Some(s) = a.seed {
            put(&mut v, vars::SEED, s.to_string());
        }
        put(&mut v, vars::PATH, a.path.clone());
        if let Some(s) = &a.scope {
            put(&mut v, vars::SCOPE, s.clone());
        }
        let armed = [vars::INTERVAL, vars::SPACE, vars::DELAY].iter().any(|k| v.iter().any(|(x, _)| x == k));
        if !armed && a.crash_at.is_none() && a.crash_sweep.is_none() {
            bail!("nothing to inject: give --fault PLAN, or --interval, --space or --delay (or --crash-at / --crash-sweep)");
        }
        if a.power_loss.is_some() && a.crash_at.is_none() {
            bail!("--power-loss needs --crash-at FAMILY:N (the crash it follows)");
        }
        Ok(Plan { vars: v })
    }

    /// The environment for one run: LD_PRELOAD, the plan, the fault log,
    /// and the journal when given.
    pub fn env(&self, shim: &Path, log: &Path, journal: Option<&Path>) -> Vec<(String, String)> {
        let mut env = vec![("LD_PRELOAD".to_string(), shim.display().to_string())];
        env.extend(self.vars.iter().cloned());
        env.push((vars::LOG.to_string(), log.display().to_string()));
        if let Some(j) = journal {
            env.push((vars::JOURNAL.to_string(), j.display().to_string()));
        }
        env
    }

    /// This plan with `var` set to `value`.
    pub fn with(&self, var: &str, value: impl Into<String>) -> Plan {
        let mut p = self.clone();
        p.vars.retain(|(k, _)| k != var);
        p.vars.push((var.to_string(), value.into()));
        p
    }
}

fn acts_on(e: Effect) -> &'static str {
    match e {
        Effect::Corrupt => "write and read only",
        Effect::Drop => "write only",
        Effect::FakeSync => "sync only",
        Effect::Short => "read only",
        _ => "any",
    }
}

/// The shim to preload.
pub fn shim(explicit: Option<&Path>) -> Result<PathBuf> {
    crate::fault::find_shim(explicit)
}
