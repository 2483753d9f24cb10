//! A run's observations, as saved in its folder (`observations.json`):
//! everything its checks read (the history, the log lines, the survey, the
//! shim's records, the settings the checks use), so that `blobfail judge`
//! can judge the run again without a cluster. The envelope is the same for
//! every scenario; what a scenario observed is its own (`observed`), read
//! back only by that scenario's judge.

use std::path::Path;

use serde::{Deserialize, Serialize};
use anyhow::{anyhow, bail, Result};
use serde_json::{Map, Value};

use crate::model::{Check, Report, Status};

/// The file's name in a run folder.
pub const FILE: &str = "observations.json";

/// The shape of the envelope and of every scenario's `observed`: raised
/// whenever either changes so that an older judge cannot read it the same
/// way. A file of another format is refused, never half-read.
pub const FORMAT: u32 = 1;

/// `observations.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Saved {
    pub format: u32,
    /// The blobfail that wrote it (for the person reading it).
    pub blobfail: String,
    /// The scenario, as the registry names it (`blob-save`).
    pub scenario: String,
    /// The run's name in reports (`blob-save/disk-full`).
    pub label: String,
    /// The human report's heading, when more than the label.
    #[serde(default)]
    pub title: Option<String>,
    /// What the report says besides the checks: the cluster, the files, and
    /// the figures that are not the judge's (the load, the phases' times).
    pub harper: Value,
    pub nodes: Vec<Value>,
    pub files: Map<String, Value>,
    pub teardown: Vec<Value>,
    pub figures: Map<String, Value>,
    /// What the scenario observed, and the settings its checks use.
    pub observed: Value,
}

/// What a judge made of the observations: the checks in order, and the
/// figures that rest on them (added to the saved ones).
#[derive(Debug, Clone, Default)]
pub struct Judged {
    pub checks: Vec<Check>,
    pub figures: Map<String, Value>,
}

impl Saved {
    /// The report of these observations as judged.
    pub fn report(&self, judged: Judged) -> Report {
        let mut figures = self.figures.clone();
        figures.extend(judged.figures);
        Report {
            scenario: self.label.clone(),
            verdict: Status::of(&judged.checks),
            checks: judged.checks,
            figures,
            harper: self.harper.clone(),
            nodes: self.nodes.clone(),
            files: self.files.clone(),
            teardown: self.teardown.clone(),
            title: self.title.clone(),
            note: None,
            interrupted: None,
        }
    }
}

/// Writes `observations.json` into `dir` (a temporary file, then a rename:
/// never half-written).
pub fn save(dir: &Path, saved: &Saved) -> Result<()> {
    crate::report::write_json_atomic(&dir.join(FILE), saved)
}

/// Reads a run folder's `observations.json`, refusing (in one line) what
/// cannot be judged as it was written: no folder, no file, another format.
pub fn load(dir: &Path) -> Result<Saved> {
    if !dir.is_dir() {
        bail!("{} is not a folder: pass the run folder of a `blobfail run` (it holds {FILE})", dir.display());
    }
    let path = dir.join(FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if dir.join("report.json").is_file() {
                bail!(
                    "{} holds no {FILE}: a run of several scenarios or fault plans keeps one in each one's folder (judge that folder), \
                     and a scenario that does not save its observations cannot be judged again",
                    dir.display()
                );
            }
            bail!("{} holds no {FILE}: it is not the folder of a `blobfail run`", dir.display());
        }
        Err(e) => bail!("{} could not be read: {e}", path.display()),
    };
    let v: Value = serde_json::from_str(&text).map_err(|e| anyhow!("{} is not observations (not JSON: {e})", path.display()))?;
    match v.get("format").and_then(Value::as_u64) {
        Some(f) if f == u64::from(FORMAT) => {}
        Some(f) => bail!(
            "{} is in observations format {f} (written by blobfail {}), this blobfail reads format {FORMAT}: judge it with the blobfail that wrote it, or run the scenario again",
            path.display(),
            v.get("blobfail").and_then(Value::as_str).unwrap_or("unknown")
        ),
        None => bail!("{} is not observations: it has no \"format\"", path.display()),
    }
    serde_json::from_value(v).map_err(|e| anyhow!("{} is not observations of format {FORMAT}: {e}", path.display()))
}
