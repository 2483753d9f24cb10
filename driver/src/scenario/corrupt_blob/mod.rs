//! `corrupt-blob`: every Nth write to a blob file on node B is corrupted
//! by the shim (`EFFECT=corrupt`: bytes flipped, zeroed or randomized, the
//! write reported whole) while A's load replicates. Does any successful
//! read on B return bytes that differ from A's? An error status or a hung
//! read is not silent; a 200 with other bytes is. `--corrupt-interval 0`
//! is the control: B runs without the shim, nothing is corrupted.
//! `--corrupt-calls read` corrupts what B reads back from its blob files
//! instead (the files stay whole; the shim hands Harper other bytes).

pub mod checks;
pub mod judge;

pub use checks::{no_silent_corruption, Differs};

use std::time::{Duration, Instant};

use anyhow::Result;
use blobfail_vocab::{vars, CorruptMode};
use futures::future::BoxFuture;
use futures::FutureExt;
use serde_json::{json, Map};

use super::blob_save::{observe, ID_SPACE, TABLE};
use super::{Ctx, Scenario};
use crate::api::NodeApi;
use crate::backend::{self, Backend};
use crate::cluster::NodeSetup;
use crate::exec::table;
use crate::fault::{self, Effect, Fault, Trigger};
use crate::journal::{Phases, PlannedCheck};
use crate::model::Report;
use crate::topology::Topology;
use crate::workload;

const CHECKS: &[PlannedCheck] = &[PlannedCheck { name: "no-silent-corruption", needs: &["a", "b"] }];

pub const SCENARIO: Scenario = Scenario {
    name: "corrupt-blob",
    about: "Every Nth blob write on node B is corrupted (reported whole) while A's load replicates; no read on B may return other bytes.",
    checks: |_| CHECKS,
    phases: &[("workload", "workload"), ("settle", "settle"), ("checks", "checks"), ("teardown", "teardown")],
    options: &["corrupt_interval", "corrupt_mode", "corrupt_calls", "requests", "concurrency", "settle"],
    local_only: &["corrupt_interval", "corrupt_mode", "corrupt_calls"],
    cannot_attach: Some("it preloads the shim into node B: it needs a cluster it starts itself"),
    variants: None,
    validate: super::nothing_to_validate,
    why_local: super::never_attached,
    run: run_boxed,
    judge: Some(judge::JUDGE),
};

/// corrupt-blob's options.
#[derive(clap::Args, Debug, Clone)]
#[command(next_help_heading = "corrupt-blob")]
// Its own group id: clap names a group after its struct, and every
// scenario's struct is called Args.
#[group(id = "corrupt-blob options")]
pub struct Args {
    /// corrupt-blob: every Nth write to a blob file on node B is corrupted; 0: none (the control, B without the shim) [7].
    #[arg(long, default_value_t = 7, value_name = "N")]
    pub corrupt_interval: u64,
    /// corrupt-blob: how the bytes change: flip (one bit), zero (up to 16 bytes), random (up to 16 bytes).
    #[arg(long, default_value = "flip", value_parser = ["flip", "zero", "random"])]
    pub corrupt_mode: String,
    /// corrupt-blob: what is corrupted: write (the bytes B writes to its blob files) or read (the bytes B reads back from them; the files stay whole).
    #[arg(long, default_value = "write", value_parser = ["write", "read"])]
    pub corrupt_calls: String,
}

fn run_boxed<'a>(ctx: &'a Ctx<'a>) -> BoxFuture<'a, Result<Report>> {
    run(ctx).boxed()
}

/// `1st`, `2nd`, `3rd`, `7th`, `11th`, `21st`.
pub fn ordinal(n: u64) -> String {
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

/// The first offset where two byte strings differ (the shorter one's end when one is a prefix).
pub fn first_difference(a: &[u8], b: &[u8]) -> Option<usize> {
    match a.iter().zip(b).position(|(x, y)| x != y) {
        Some(i) => Some(i),
        None if a.len() != b.len() => Some(a.len().min(b.len())),
        None => None,
    }
}

async fn run(ctx: &Ctx<'_>) -> Result<Report> {
    let opts = &ctx.args.corrupt_blob;
    let blob = &ctx.args.blob_save;
    let label = ctx.label(SCENARIO.name);
    let mut phases = Phases::begin(ctx.events, &label, ctx.out, CHECKS);
    let backend::Choice::Local(local) = ctx.backend else { anyhow::bail!("corrupt-blob needs a local cluster") };
    let log = ctx.out.join("faults.jsonl");
    let b_env: Vec<(String, String)> = if opts.corrupt_interval == 0 {
        Vec::new()
    } else {
        let shim = crate::fault::find_shim(local.shim.as_deref())?;
        let mode = CorruptMode::from_name(opts.corrupt_mode.as_bytes())
            .ok_or_else(|| anyhow::anyhow!("--corrupt-mode {:?} is neither flip, zero nor random", opts.corrupt_mode))?;
        let fault = Fault::new(
            fault::kind::families(std::slice::from_ref(&opts.corrupt_calls)).map_err(anyhow::Error::msg)?,
            vars::DEFAULT_PATH,
            Trigger::every(opts.corrupt_interval),
            Effect::Corrupt { mode, seed: ctx.seed },
        )
        .map_err(anyhow::Error::msg)?;
        fault::arm(&shim, &fault, &log)
    };
    let setups = [NodeSetup::plain("a"), NodeSetup { env: b_env, ..NodeSetup::plain("b") }];
    let mut backend = Backend::local(local, &Topology::pair(), &setups, ctx.out, &mut phases, ctx.events).await?;
    if opts.corrupt_interval == 0 {
        eprintln!("blobfail: corruption: none (the control: node B runs without the shim)");
    } else {
        eprintln!(
            "blobfail: corruption: every {} {} {} a blob file on node B ({}, seed {}), {}",
            ordinal(opts.corrupt_interval),
            opts.corrupt_calls,
            if opts.corrupt_calls == "read" { "of" } else { "to" },
            opts.corrupt_mode,
            ctx.seed,
            if opts.corrupt_calls == "read" { "the file left whole" } else { "reported whole" }
        );
    }
    let (a, b) = (backend.api("a"), backend.api("b"));
    let ids = workload::draw_ids(ctx.seed, blob.requests, ID_SPACE);
    let load = phases.time("workload", backend.supervise(workload::run_gets(&a, TABLE, &ids, blob.concurrency as usize, ctx.events))).await?;
    let settle = Duration::from_secs_f64(blob.settle);
    let settled =
        phases.time("settle", backend.supervise(workload::settle(&a, &b, TABLE, settle, settle + Duration::from_secs(60), ctx.events))).await?;
    let step = ctx.events.step("comparing B's blobs with A's");
    let t = Instant::now();
    let comparing = compare(&a, &b);
    let compared = backend.supervise(comparing).await?;
    phases.record("checks", t.elapsed());
    step.finish("compared");
    let t = Instant::now();
    backend.teardown(false, ctx.events).await;
    phases.record("teardown", t.elapsed());
    backend.check_outside()?;

    let corruptions = table::read(&log).iter().filter(|l| l["effect"] == "corrupt").count();
    let mut figures = Map::new();
    figures.insert("seed".into(), json!(ctx.seed));
    figures.insert("corrupt_interval".into(), json!(opts.corrupt_interval));
    figures.insert("corrupt_mode".into(), json!(opts.corrupt_mode));
    figures.insert("corrupt_calls".into(), json!(opts.corrupt_calls));
    figures.insert(format!("{}s_corrupted_on_b", opts.corrupt_calls), json!(corruptions));
    figures.insert("requests_ok".into(), json!(load.ok));
    figures.insert("records_a".into(), json!(settled.records_a));
    figures.insert("records_b".into(), json!(settled.records_b));
    // Saved in observations.json and judged from there (corrupt_blob/judge.rs).
    let observed = judge::Observed {
        compared: compared
            .map(|(records, differs, not_answered)| judge::Compared { records, differs, not_answered })
            .map_err(|e| format!("{e:#}")),
        corruptions,
        calls: opts.corrupt_calls.clone(),
    };
    phases.into_figures(&mut figures);
    let mut files = Map::new();
    files.insert("run_dir".into(), json!(ctx.out));
    if opts.corrupt_interval > 0 {
        files.insert("fault_log".into(), json!(log));
    }
    files.insert("report".into(), json!(ctx.out.join("report.json")));
    super::finish_observed(ctx, &SCENARIO, &label, &mut backend, false, serde_json::to_value(&observed)?, figures, files)
}

/// Surveys A and B (blob-save's survey: sizes and SHA-256), then reads the
/// bytes of each record whose blob B served differently, to name the first
/// differing offset. (records compared, differing reads, reads of B that
/// failed or hung).
async fn compare(a: &NodeApi, b: &NodeApi) -> Result<(usize, Vec<Differs>, usize)> {
    let s = observe::survey_loss(a, b, |id| id.parse::<u64>().is_ok_and(|x| x < ID_SPACE)).await?;
    let suspects: Vec<String> = s.blob_differs_on_b.iter().cloned().chain(s.blob_short_on_b.keys().cloned()).collect();
    let mut differs = Vec::new();
    for id in suspects {
        let t = Duration::from_secs(20);
        let (ba, bb) = futures::join!(a.blob_bytes(TABLE, &id, "image", t), b.blob_bytes(TABLE, &id, "image", t));
        if let (Ok(ba), Ok(bb)) = (ba, bb) {
            let first_offset = first_difference(&ba, &bb);
            // Whole when read again: the survey's read was the corrupted one.
            let len_b = if first_offset.is_some() { bb.len() } else { s.blob_short_on_b.get(&id).map_or(ba.len(), |(b, _)| *b as usize) };
            differs.push(Differs { id, first_offset, len_b, len_a: ba.len() });
        }
    }
    Ok((s.compared, differs, s.blob_unreadable_on_b.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinals_read_as_english() {
        let got: Vec<String> = [1, 2, 3, 7, 11, 12, 13, 21, 22, 103].into_iter().map(ordinal).collect();
        assert_eq!(got, ["1st", "2nd", "3rd", "7th", "11th", "12th", "13th", "21st", "22nd", "103rd"]);
    }

    #[test]
    fn the_first_difference_is_found_or_the_shorter_end() {
        assert_eq!(first_difference(b"abcd", b"abcd"), None);
        assert_eq!(first_difference(b"abcd", b"abXd"), Some(2));
        assert_eq!(first_difference(b"abcd", b"ab"), Some(2));
        assert_eq!(first_difference(b"", b"x"), Some(0));
    }
}
