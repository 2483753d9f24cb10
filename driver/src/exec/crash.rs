//! `--crash-at FAMILY:N [--power-loss[=MODE]]`: the program killed at its
//! Nth matching call (crash-before: the call never reaches the kernel),
//! then its files rolled back as a power cut at that instant would leave
//! them. `--crash-sweep FAMILY:STEP --check CMD`: the same at every STEP-th
//! call up to the program's total, with CMD judging the files after each.
//!
//! The program runs afresh at every point, so it must set up its own files
//! when it starts (a script that removes and recreates its database, say).
//! Calls are counted over the program's whole process tree.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result};
use blobfail_vocab::{vars, Family};
use serde_json::Value;

use super::plan::{family_at, ExecArgs, Plan};
use super::power_loss::{self, How, Mode};
use super::{spawn, table, Ended};

/// The plan that kills the program at its `n`th `family` call (`n` 0:
/// never; the power goes when it has finished).
fn crash_plan(plan: &Plan, family: Family, n: u64) -> Plan {
    if n == 0 {
        let mut p = plan.with(vars::CALLS, family.name()).with(vars::DELAY, "0");
        p.vars.retain(|(k, _)| ![vars::INTERVAL, vars::SPACE, vars::EFFECT, vars::MAX, vars::SKIP].contains(&k.as_str()));
        return p;
    }
    let mut p = plan.with(vars::CALLS, family.name()).with(vars::INTERVAL, n.to_string()).with(vars::MAX, "1");
    p = p.with(vars::EFFECT, "crash-before").with(vars::SKIP, "0").with(vars::CRASH, "group");
    p.vars.retain(|(k, _)| k != vars::SPACE);
    if !p.vars.iter().any(|(k, _)| k == vars::SCOPE) {
        p = p.with(vars::SCOPE, "tree");
    }
    p
}

/// One crash point's run: how it ended, the fault line of its crash, and
/// what the power cut changed.
struct Point {
    ended: Ended,
    crash: Option<Value>,
    rollback: Option<power_loss::Outcome>,
    lines: Vec<Value>,
}

fn run_point(args: &ExecArgs, plan: &Plan, family: Family, n: u64, dir: &Path, how: Option<How>) -> Result<Result<Point, (u8, String)>> {
    let shim = super::plan::shim(args.shim.as_deref())?;
    let log = dir.join(format!("faults-{n}.jsonl"));
    let journal = dir.join(format!("journal-{n}"));
    let env = crash_plan(plan, family, n).env(&shim, &log, how.map(|_| journal.as_path()));
    let ended = match spawn(&args.command, &env, true) {
        Ok(e) => e,
        Err(e) => return Ok(Err(e)),
    };
    let lines = table::read(&log);
    let crash = lines.iter().find(|l| l["effect"] == "crash-before").cloned();
    let rollback = match how {
        Some(h) if journal.exists() => Some(power_loss::apply(&journal, h)?),
        Some(_) => Some(power_loss::Outcome::default()),
        None => None,
    };
    Ok(Ok(Point { ended, crash, rollback, lines }))
}

fn how(args: &ExecArgs, default: Option<Mode>) -> Option<How> {
    args.power_loss.or(default).map(|mode| How { writeback: args.writeback, mode, seed: args.seed.unwrap_or(0), fs: args.fs })
}

/// `--crash-at FAMILY:N`.
pub fn crash_at(args: &ExecArgs, plan: &Plan, at: &str) -> Result<u8> {
    let (family, n) = family_at("--crash-at", at)?;
    let scratch = tempfile::tempdir().context("failed to make a scratch folder")?;
    let p = match run_point(args, plan, family, n, scratch.path(), how(args, None))? {
        Ok(p) => p,
        Err((code, line)) => {
            eprintln!("blobfail: exec: {line}");
            return Ok(code);
        }
    };
    if let Some(keep) = &args.log {
        let _ = std::fs::copy(scratch.path().join(format!("faults-{n}.jsonl")), keep);
    }
    eprint!("{}", table::render(&args.command, p.ended, &p.lines));
    match &p.crash {
        Some(c) => eprintln!(
            "blobfail exec: crashed at {} call {n} ({} {})",
            family.name(),
            c["function"].as_str().unwrap_or("?"),
            c["path"].as_str().unwrap_or("")
        ),
        None => eprintln!("blobfail exec: no crash: the program made fewer than {n} matching {} calls", family.name()),
    }
    if let (Some(out), Some(h)) = (&p.rollback, how(args, None)) {
        eprint!("blobfail exec: {}", power_loss::describe(out, h));
    }
    Ok(p.ended.code())
}

/// The program's total of matching `family` calls, from a run that counts
/// without faults.
fn count_calls(args: &ExecArgs, plan: &Plan, family: Family, dir: &Path) -> Result<Result<u64, (u8, String)>> {
    let shim = super::plan::shim(args.shim.as_deref())?;
    let log = dir.join("count.jsonl");
    let mut p = plan.with(vars::CALLS, family.name()).with(vars::DELAY, "0").with(vars::SCOPE, "tree");
    p.vars.retain(|(k, _)| ![vars::INTERVAL, vars::SPACE, vars::EFFECT, vars::MAX, vars::SKIP].contains(&k.as_str()));
    if let Err(e) = spawn(&args.command, &p.env(&shim, &log, None), true) {
        return Ok(Err(e));
    }
    let total = table::read(&log)
        .iter()
        .filter(|l| l["summary"] == true)
        .filter_map(|l| l["calls"][family.name()]["matching"].as_u64())
        .max()
        .unwrap_or(0);
    Ok(Ok(total))
}

/// `--crash-sweep FAMILY:STEP --check CMD`.
pub fn sweep(args: &ExecArgs, plan: &Plan, spec: &str) -> Result<u8> {
    let (family, step) = family_at("--crash-sweep", spec)?;
    let check = args.check.clone().unwrap_or_default();
    let scratch = tempfile::tempdir().context("failed to make a scratch folder")?;
    let started = Instant::now();
    let total = match count_calls(args, plan, family, scratch.path())? {
        Ok(t) => t,
        Err((code, line)) => {
            eprintln!("blobfail: exec: {line}");
            return Ok(code);
        }
    };
    // Every STEP-th call, then 0: the power cut after the program finished.
    let mut points: Vec<u64> = (1..).map(|i| i * step).take_while(|&k| k <= total).collect();
    points.push(0);
    println!(
        "crash sweep: {} matching {} calls; crashing at {} point{} (every {step}) and cutting the power at the end, each followed by the check",
        total,
        family.name(),
        points.len() - 1,
        if points.len() == 2 { "" } else { "s" }
    );
    println!("{:>6}  {:<44} {:>7}  check", "call", "crashed at", "undone");
    let mut failed = 0;
    for &k in &points {
        let p = match run_point(args, plan, family, k, scratch.path(), how(args, Some(Mode::All)))? {
            Ok(p) => p,
            Err((code, line)) => {
                eprintln!("blobfail: exec: {line}");
                return Ok(code);
            }
        };
        let at = match &p.crash {
            Some(c) => format!("{} {}", c["function"].as_str().unwrap_or("?"), short(c["path"].as_str().unwrap_or(""))),
            None if k == 0 => format!("(the end: {})", p.ended.describe()),
            None => format!("no crash ({})", p.ended.describe()),
        };
        let undone = p.rollback.as_ref().map_or(0, |o| o.undone);
        let out = Command::new("sh").arg("-c").arg(&check).output().with_context(|| format!("failed to run the check {check:?}"))?;
        let said = String::from_utf8_lossy(&out.stdout).lines().chain(String::from_utf8_lossy(&out.stderr).lines()).next().unwrap_or("").to_string();
        let verdict = if out.status.success() {
            "ok".to_string()
        } else {
            failed += 1;
            format!("FAILED ({}): {said}", Ended::of(out.status).describe())
        };
        let call = if k == 0 { "end".to_string() } else { k.to_string() };
        println!("{call:>6}  {at:<44} {undone:>7}  {verdict}");
    }
    println!(
        "{} of {} crash points passed the check ({:.1} s)",
        points.len() - failed,
        points.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(if failed == 0 { 0 } else { 1 })
}

/// A path's last two parts, for the table.
fn short(p: &str) -> String {
    let parts: Vec<&str> = p.rsplitn(3, '/').collect();
    match parts.as_slice() {
        [name, dir, _] => format!("{dir}/{name}"),
        _ => p.to_string(),
    }
}
