//! `blobfail judge DIR`: a saved run folder judged again without a
//! cluster, from its `observations.json` alone, by the scenario's own
//! judge (the very function the run judged with), optionally with other
//! settings (`--failure-pattern`, `--rss-limit`, …). It prints the human
//! report and writes `report.json` (into DIR, or `--out`).

use std::path::PathBuf;

use anyhow::{anyhow, bail, Context, Result};

use crate::model::Status;
use crate::observations;
use crate::report;
use crate::scenario::{self, JudgeArgs};

/// `blobfail judge`'s arguments.
#[derive(clap::Args, Debug)]
pub struct JudgeCmd {
    /// The run folder to judge again (a `blobfail run`'s `--out`; it holds observations.json).
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
    /// Write report.json here instead of into DIR (created if missing).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub settings: JudgeArgs,
}

/// Judges the folder, prints the report, writes `report.json`; the verdict.
pub fn judge(cmd: JudgeCmd) -> Result<Status> {
    let saved = observations::load(&cmd.dir)?;
    let path = cmd.dir.join(observations::FILE);
    let known: Vec<&str> = scenario::ALL.iter().map(|s| s.name).collect();
    let s = scenario::by_name(&saved.scenario).ok_or_else(|| {
        anyhow!("{} holds observations of an unknown scenario {:?} (this blobfail knows {})", path.display(), saved.scenario, known.join(", "))
    })?;
    let Some(judge) = &s.judge else {
        let judged: Vec<&str> = scenario::ALL.iter().filter(|o| o.judge.is_some()).map(|o| o.name).collect();
        bail!("{} holds observations of {}, which this blobfail cannot judge again (it judges {})", path.display(), s.name, judged.join(", "));
    };
    for given in cmd.settings.given() {
        if !judge.options.contains(&given) {
            let owners: Vec<&str> =
                scenario::ALL.iter().filter(|o| o.judge.as_ref().is_some_and(|j| j.options.contains(&given))).map(|o| o.name).collect();
            bail!("--{} does not apply to {}: it is a setting of {}", given.replace('_', "-"), s.name, owners.join(", "));
        }
    }
    let judged = (judge.judge)(&saved.observed, &cmd.settings).map_err(|e| anyhow!("{}: {e:#}", path.display()))?;
    let report = saved.report(judged);
    let out = match &cmd.out {
        Some(d) => {
            std::fs::create_dir_all(d).with_context(|| format!("failed to create --out {}", d.display()))?;
            d.clone()
        }
        None => cmd.dir.clone(),
    };
    let report_path = out.join("report.json");
    report::write_json_atomic(&report_path, &report)?;
    println!("{}", report::render_report(&report));
    let phases: Vec<(&str, &str)> = crate::backend::PHASES.iter().chain(s.phases).copied().collect();
    println!("{}", report::render_time_summary(&report.scenario, &phases, &report.figures));
    println!("judged again from: {}", path.display());
    println!("report: {}", report_path.display());
    Ok(report.verdict)
}
