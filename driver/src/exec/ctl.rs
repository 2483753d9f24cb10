//! `blobfail ctl FILE init|arm|heal|show|set VAR=VALUE…`: changes the plan
//! of every process that maps the control file (`HARPER_TEST_BLOB_FAIL_CONTROL`).
//! Each change bumps the file's generation as a seqlock writer (odd while
//! writing); every `set` is checked whole with the shared vocabulary first,
//! so a bad value changes nothing.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use blobfail_vocab::{errno, units, vars, CorruptMode, Effect};

const MAGIC: u64 = u64::from_le_bytes(*b"blobfctl");
const SIZE: usize = 4096;
const TEXT_START: usize = 64;

/// `blobfail ctl`.
#[derive(clap::Args, Debug, Clone)]
pub struct CtlArgs {
    /// The control file (HARPER_TEST_BLOB_FAIL_CONTROL of the processes to steer).
    pub file: PathBuf,
    /// init (make or reset it), arm, heal, show, or set VAR=VALUE… (INTERVAL, SKIP, MAX, ERRNO, CALLS, SPACE, DELAY, EFFECT, CORRUPT, SEED, CRASH, OPS).
    pub action: String,
    /// For set: VAR=VALUE pairs (VAR with or without the HARPER_TEST_BLOB_FAIL_ prefix).
    pub pairs: Vec<String>,
}

/// The variables `set` may change; the rest are fixed at load.
const SETTABLE: [&str; 12] = [
    vars::INTERVAL, vars::SKIP, vars::MAX, vars::ERRNO, vars::CALLS, vars::SPACE, vars::DELAY, vars::EFFECT,
    vars::CORRUPT, vars::SEED, vars::CRASH, vars::OPS,
];

/// Checks one value as the shim would parse it; what is wrong, after `"…" is`.
fn check(var: &str, v: &str) -> Result<(), &'static str> {
    let b = v.as_bytes();
    let ok = match var {
        vars::INTERVAL => units::parse_u64(b).is_some_and(|n| n >= 1),
        vars::SKIP | vars::SEED => units::parse_u64(b).is_some(),
        vars::MAX => v.eq_ignore_ascii_case("none") || units::parse_u64(b).is_some(),
        vars::ERRNO => errno::parse(b).is_some(),
        vars::CALLS => blobfail_vocab::parse_calls(b).is_some(),
        vars::SPACE => return units::parse_size(b).map(|_| ()).map_err(|e| e.what()),
        vars::DELAY => units::parse_duration_ns(b).is_some_and(|ns| ns <= 3_600_000_000_000),
        vars::EFFECT => Effect::from_name(b).is_some(),
        vars::CORRUPT => CorruptMode::from_name(b).is_some(),
        vars::CRASH => ["process", "group"].iter().any(|x| v.eq_ignore_ascii_case(x)),
        vars::OPS => ["write", "all"].iter().any(|x| v.eq_ignore_ascii_case(x)),
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err("not a valid value for it (see docs/shim-in-time.md)")
    }
}

/// The control file, opened and checked.
fn open(path: &Path) -> Result<File> {
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(|e| anyhow!("cannot open the control file {}: {e}; make one with `blobfail ctl {} init`", path.display(), path.display()))?;
    let mut head = [0u8; 8];
    if f.metadata()?.len() < SIZE as u64 || f.read_exact_at(&mut head, 0).is_err() || u64::from_le_bytes(head) != MAGIC {
        bail!("{} is not a blobfail control file (make one with `blobfail ctl FILE init`); it was not changed", path.display());
    }
    Ok(f)
}

fn word(f: &File, i: usize) -> Result<u64> {
    let mut b = [0u8; 8];
    f.read_exact_at(&mut b, (i * 8) as u64)?;
    Ok(u64::from_le_bytes(b))
}

/// The current plan text.
fn plan(f: &File) -> Result<String> {
    let len = (word(f, 4)? as usize).min(SIZE - TEXT_START);
    let mut text = vec![0u8; len];
    f.read_exact_at(&mut text, TEXT_START as u64)?;
    Ok(String::from_utf8_lossy(&text).into_owned())
}

/// Writes (healed, plan) as one change: generation odd, the words, even.
fn write(f: &File, healed: bool, text: &str) -> Result<u64> {
    if text.len() > SIZE - TEXT_START {
        bail!("the plan would be longer than {} bytes", SIZE - TEXT_START);
    }
    // Released when `f` closes (the command ends); nix's Flock would take the File.
    #[allow(deprecated)]
    nix::fcntl::flock(std::os::fd::AsRawFd::as_raw_fd(f), nix::fcntl::FlockArg::LockExclusive).context("failed to lock the control file")?;
    let g = word(f, 2)?;
    let g = g + (g % 2);
    f.write_all_at(&(g + 1).to_le_bytes(), 16)?;
    f.write_all_at(&u64::from(healed).to_le_bytes(), 24)?;
    f.write_all_at(&(text.len() as u64).to_le_bytes(), 32)?;
    let mut padded = text.as_bytes().to_vec();
    padded.resize(SIZE - TEXT_START, 0);
    f.write_all_at(&padded, TEXT_START as u64)?;
    f.write_all_at(&(g + 2).to_le_bytes(), 16)?;
    Ok(g + 2)
}

pub fn run(a: &CtlArgs) -> Result<String> {
    let path = &a.file;
    if a.action != "set" && !a.pairs.is_empty() {
        bail!("`{}` takes no VAR=VALUE pairs", a.action);
    }
    match a.action.as_str() {
        "init" => {
            if let Ok(f) = File::open(path) {
                let mut head = [0u8; 8];
                if f.read_exact_at(&mut head, 0).is_ok() && u64::from_le_bytes(head) != MAGIC {
                    bail!("{} exists and is not a blobfail control file; it was not changed", path.display());
                }
            }
            let f = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(path).with_context(|| format!("failed to make {}", path.display()))?;
            f.set_len(SIZE as u64)?;
            f.write_all_at(&MAGIC.to_le_bytes(), 0)?;
            f.write_all_at(&1u64.to_le_bytes(), 8)?;
            let g = write(&f, false, "")?;
            Ok(format!("{}: control file ready (generation {g}, armed, no changes to the plan)", path.display()))
        }
        "arm" | "heal" => {
            let f = open(path)?;
            let healed = a.action == "heal";
            let g = write(&f, healed, &plan(&f)?)?;
            Ok(format!("{}: {} (generation {g})", path.display(), if healed { "healed: every call passes through" } else { "armed" }))
        }
        "show" => {
            let f = open(path)?;
            let state = if word(&f, 3)? != 0 { "healed" } else { "armed" };
            Ok(format!("{}: generation {}, {state}\n{}", path.display(), word(&f, 2)?, plan(&f)?.trim_end()))
        }
        "set" => {
            if a.pairs.is_empty() {
                bail!("set needs VAR=VALUE pairs, e.g. `blobfail ctl {} set INTERVAL=3 EFFECT=crash-before`", path.display());
            }
            let mut changes = Vec::new();
            for pair in &a.pairs {
                let (k, v) = pair.split_once('=').ok_or_else(|| anyhow!("{pair:?} is not VAR=VALUE; nothing was changed"))?;
                let full = if k.starts_with("HARPER_TEST_BLOB_FAIL_") { k.to_string() } else { format!("HARPER_TEST_BLOB_FAIL_{k}") };
                let Some(var) = SETTABLE.iter().find(|s| **s == full) else {
                    bail!("{k} cannot be set at run time (only {}); nothing was changed", SETTABLE.map(|s| &s[22..]).join(", "));
                };
                check(var, v).map_err(|what| anyhow!("{k}={v:?} is {what}; nothing was changed"))?;
                changes.push((var.to_string(), v.to_string()));
            }
            let f = open(path)?;
            let mut lines: Vec<String> = plan(&f)?.lines().map(str::to_string).collect();
            for (k, v) in &changes {
                lines.retain(|l| !l.starts_with(&format!("{k}=")));
                lines.push(format!("{k}={v}"));
            }
            let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
            let healed = word(&f, 3)? != 0;
            let g = write(&f, healed, &text)?;
            Ok(format!("{}: set {} (generation {g})", path.display(), a.pairs.join(" ")))
        }
        other => bail!("{other:?} is not a ctl action: init, arm, heal, show or set VAR=VALUE…"),
    }
}
