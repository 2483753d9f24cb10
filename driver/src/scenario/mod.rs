//! The scenarios, and the registry the command line and the runner read
//! them from. Each scenario lives in its own folder: its name, its checks
//! (and the nodes each needs), its phases, the options it takes, and its
//! run function over a `Backend`; its checks (pure functions) beside it.
//! Each entry validates the options it owns and says why one of them does
//! not apply to an attached cluster: the command line names no scenario.
//! Adding one is a folder here and a line in `ALL` and `Args`.

use std::path::Path;

use anyhow::Result;
use futures::future::BoxFuture;
use serde_json::{Map, Value};

use crate::backend::{self, Backend};
use crate::events::{Event, Events};
use crate::journal::PlannedCheck;
use crate::model::Report;
use crate::observations::{self, Judged, Saved};

pub mod backlog_memory;
pub mod blob_save;
pub mod corrupt_blob;
pub mod crash_recovery;
pub mod fault_heal;
pub mod partition_heal;

/// A scenario, as the registry knows it.
pub struct Scenario {
    /// The name on the command line and in the report.
    pub name: &'static str,
    /// One line for `--help`.
    pub about: &'static str,
    /// The checks its options make it plan, and the nodes each cannot be
    /// decided without (for the partial report of an interrupted run).
    pub checks: fn(&Args) -> &'static [PlannedCheck],
    /// Its own phases, in order, with the words of the time summary (the
    /// backend's setup phases come first).
    pub phases: &'static [(&'static str, &'static str)],
    /// The options (clap ids) it takes beyond the common ones.
    pub options: &'static [&'static str],
    /// Of those, the ones that do not apply to an attached cluster.
    pub local_only: &'static [&'static str],
    /// Why it cannot run attached, if it cannot.
    pub cannot_attach: Option<&'static str>,
    /// Why an option of `local_only` (a clap id) does not apply attached:
    /// the end of `--X does not apply with --attach: …`.
    pub why_local: fn(&str) -> &'static str,
    /// Checks the options it owns beyond what clap bounds (and resolves
    /// what they imply), or the one line saying what does not fit. Every
    /// entry's runs whichever scenario is chosen: some options are shared
    /// (crash-recovery runs with blob-save's `--requests`).
    pub validate: fn(&mut Args, &Given) -> Result<(), String>,
    /// The runs its options ask for, each on a fresh cluster (blob-save:
    /// one per fault plan of `--fault a,b`); empty or None: one run.
    pub variants: Option<fn(&Args) -> Vec<&'static str>>,
    pub run: for<'a> fn(&'a Ctx<'a>) -> BoxFuture<'a, Result<Report>>,
    /// How its saved observations are judged (`blobfail judge`); None: it
    /// saves none yet.
    pub judge: Option<Judge>,
}

/// A scenario's checks as a pure function of its saved observations and
/// the settings `blobfail judge` may change.
pub struct Judge {
    pub judge: fn(&Value, &JudgeArgs) -> Result<Judged>,
    /// The settings of `JudgeArgs` (clap ids) it takes; another is refused.
    pub options: &'static [&'static str],
}

/// The settings `blobfail judge` may give anew; each None keeps the run's.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct JudgeArgs {
    /// blob-save, crash-recovery: log pattern of a contained blob-save failure [the run's].
    #[arg(long, value_name = "TEXT")]
    pub failure_pattern: Option<String>,
    /// blob-save, crash-recovery: log pattern of an escaped failure [the run's].
    #[arg(long, value_name = "TEXT")]
    pub uncaught_pattern: Option<String>,
    /// backlog-memory: B's RSS must stay below this (bytes, or with KiB/MiB/GiB) [the run's].
    #[arg(long, value_name = "SIZE", value_parser = backlog_memory::parse_size)]
    pub rss_limit: Option<u64>,
    /// backlog-memory: B's anonymous memory must stay below this [the run's].
    #[arg(long, value_name = "SIZE", value_parser = backlog_memory::parse_size)]
    pub anon_limit: Option<u64>,
    /// backlog-memory --sweep: B's peak anonymous memory may grow by less than this many MiB per 10,000 records [the run's].
    #[arg(long, value_name = "MIB", value_parser = parse_growth_limit)]
    pub growth_limit: Option<f64>,
}

impl JudgeArgs {
    /// Puts the log patterns given to `blobfail judge` over the run's own.
    pub fn override_patterns(&self, failure: &mut String, uncaught: &mut String) {
        if let Some(p) = &self.failure_pattern {
            failure.clone_from(p);
        }
        if let Some(p) = &self.uncaught_pattern {
            uncaught.clone_from(p);
        }
    }
}

fn parse_growth_limit(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(m) if m.is_finite() && m > 0.0 => Ok(m),
        _ => Err(format!("{s:?} is not a positive number of MiB per 10,000 records")),
    }
}

impl JudgeArgs {
    /// The settings given (clap ids).
    pub fn given(&self) -> Vec<&'static str> {
        let all = [
            ("failure_pattern", self.failure_pattern.is_some()),
            ("uncaught_pattern", self.uncaught_pattern.is_some()),
            ("rss_limit", self.rss_limit.is_some()),
            ("anon_limit", self.anon_limit.is_some()),
            ("growth_limit", self.growth_limit.is_some()),
        ];
        all.into_iter().filter(|(_, g)| *g).map(|(k, _)| k).collect()
    }
}

/// Every scenario, in the order `blobfail run all` runs them.
pub const ALL: [&Scenario; 6] = [
    &blob_save::SCENARIO,
    &backlog_memory::SCENARIO,
    &crash_recovery::SCENARIO,
    &corrupt_blob::SCENARIO,
    &fault_heal::SCENARIO,
    &partition_heal::SCENARIO,
];

/// The scenarios' own options, each group in its scenario's folder.
#[derive(clap::Args, Debug, Clone)]
#[group(id = "scenario options")]
pub struct Args {
    #[command(flatten)]
    pub blob_save: blob_save::Args,
    #[command(flatten)]
    pub backlog_memory: backlog_memory::Args,
    #[command(flatten)]
    pub crash_recovery: crash_recovery::Args,
    #[command(flatten)]
    pub corrupt_blob: corrupt_blob::Args,
    #[command(flatten)]
    pub fault_heal: fault_heal::Args,
    #[command(flatten)]
    pub partition_heal: partition_heal::Args,
    #[command(flatten)]
    pub blob_save_net: crate::net::args::LinkArgs,
}

/// What the command line gave, as a scenario's validation reads it.
pub struct Given<'a> {
    /// The run: a scenario's name, or `all`.
    pub run: &'a str,
    /// The scenario options given on the command line itself (clap ids),
    /// not defaults.
    pub ids: &'a [String],
}

impl Given<'_> {
    pub fn has(&self, id: &str) -> bool {
        self.ids.iter().any(|i| i == id)
    }
}

/// `validate` of a scenario whose options clap bounds alone.
pub fn nothing_to_validate(_: &mut Args, _: &Given) -> Result<(), String> {
    Ok(())
}

/// `why_local` of a scenario that cannot run attached (`cannot_attach`
/// says why, before any option is looked at).
pub fn never_attached(_: &str) -> &'static str {
    "it cannot run attached"
}

/// The scenario called `name`.
pub fn by_name(name: &str) -> Option<&'static Scenario> {
    ALL.iter().copied().find(|s| s.name == name)
}

/// What a scenario runs with.
pub struct Ctx<'a> {
    /// Its run folder.
    pub out: &'a Path,
    pub backend: &'a backend::Choice,
    pub seed: u64,
    pub args: &'a Args,
    /// The run's events (progress, phases, checks, nodes, faults).
    pub events: &'a Events,
    /// Which of the scenario's variants this run is, when it has several.
    pub variant: Option<&'a str>,
}

impl Ctx<'_> {
    /// The run's name in reports: the scenario's, with the variant's after
    /// a slash when there are several (`blob-save/write-enospc`).
    pub fn label(&self, scenario: &str) -> String {
        match self.variant {
            Some(v) => format!("{scenario}/{v}"),
            None => scenario.to_string(),
        }
    }
}

/// Panics after the named phase when `BLOBFAIL_TEST_PANIC_AFTER` names it: a
/// test hook, so the end-to-end tests can prove that a panic still stops
/// every node (the cluster's drop guard). Unset, it does nothing.
pub fn test_panic_hook(phase: &str) {
    if std::env::var("BLOBFAIL_TEST_PANIC_AFTER").is_ok_and(|p| p == phase) {
        panic!("BLOBFAIL_TEST_PANIC_AFTER={phase}: panicking on purpose");
    }
}

/// The end of a scenario that saves its observations: `observations.json`
/// written into the run folder (atomically), then judged from what was
/// saved, exactly as `blobfail judge` judges it, into the report (recorded
/// as the run's events). `figures` are those the judge does not make.
#[allow(clippy::too_many_arguments)]
pub fn finish_observed(
    ctx: &Ctx<'_>,
    scenario: &Scenario,
    label: &str,
    backend: &mut Backend,
    keep: bool,
    observed: Value,
    figures: Map<String, Value>,
    mut files: Map<String, Value>,
) -> Result<Report> {
    let judge = scenario.judge.as_ref().ok_or_else(|| anyhow::anyhow!("internal error: {} has no judge", scenario.name))?;
    let described = backend.describe(keep);
    files.insert("observations".into(), Value::String(ctx.out.join(observations::FILE).display().to_string()));
    let saved = Saved {
        format: observations::FORMAT,
        blobfail: env!("CARGO_PKG_VERSION").to_string(),
        scenario: scenario.name.to_string(),
        label: label.to_string(),
        title: backend.title(label),
        harper: described.harper,
        nodes: described.nodes,
        files,
        teardown: described.teardown,
        figures,
        observed,
    };
    observations::save(ctx.out, &saved)?;
    let judged = (judge.judge)(&saved.observed, &JudgeArgs::default())?;
    let mut report = saved.report(judged);
    report.note = described.note;
    ctx.events.emit(Event::Finished(report.clone()));
    Ok(report)
}
