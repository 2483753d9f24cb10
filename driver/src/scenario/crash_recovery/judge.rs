//! crash-recovery judged from its observations alone: for each crash
//! point, how B came back (its restart, its settle, its death if it died),
//! its log before and after the reads of damaged records, the survey of
//! its records against A's, and the files the power cut touched (saved in
//! observations.json; `blobfail judge` judges them again, with other log
//! patterns if asked). A sweep's checks are each point's, joined.

use std::collections::BTreeSet;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::point::PointResult;
use crate::backend::NodeLog;
use crate::harper_log::{FaultSignature, LogPatterns};
use crate::model::{check_safe, Check, Status};
use crate::observations::Judged;
use crate::scenario::blob_save::checks::{self, LossSurvey};
use crate::scenario::blob_save::{fault_checks, in_time, per_node};
use crate::scenario::{Judge, JudgeArgs};
use crate::workload::Settled;

/// The settings crash-recovery's checks use.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Settings {
    pub failure_pattern: String,
    pub uncaught_pattern: String,
    /// `--restart-bound`: B must answer within this many seconds of its restart.
    pub restart_bound: f64,
}

/// Everything crash-recovery's checks read.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Observed {
    pub settings: Settings,
    /// Each crash point, in order (one without `--crash-sweep`).
    pub points: Vec<Point>,
}

/// What was seen of B at one crash point.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Point {
    pub crash_at: u64,
    /// Where the crash came: `pwrite64 …/data.mdb`, or why there was none.
    pub crashed_at: String,
    /// The figures the run recorded (the crash, the load, the power cut,
    /// the unfaulted peers); the judge adds those its checks rest on.
    pub figures: Map<String, Value>,
    /// The blob files the power cut changed (what ties an escape to it).
    pub cut_blob_paths: BTreeSet<String>,
    /// How B's restart went: answering, or why not.
    pub back: Result<String, String>,
    /// From B's restart to its API answering (or giving up).
    pub restart_seconds: f64,
    /// How the settle after the restart ended (None: B did not come back).
    pub settled: Option<Settled>,
    /// How B died after its restart, if it did.
    pub death: Option<String>,
    /// B's log before the survey's reads, and after them when it read
    /// damaged records (None: B was not observed).
    pub log: Option<NodeLog>,
    pub log_after: Option<NodeLog>,
    /// B's records against A's (None: B was not observed).
    pub survey: Option<Result<LossSurvey, String>>,
    /// `--restart-fault-opens`: what the shim failed on B's restart (None:
    /// B restarted without it).
    #[serde(default)]
    pub restart_faults: Option<RestartFaults>,
}

/// The faults the shim injected into B after its restart.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RestartFaults {
    /// Whose opens failed: B's blob files or its LMDB files.
    pub files: super::RestartFaultFiles,
    /// One write-open in `every` failed.
    pub every: u64,
    /// How many failed, and the files they named.
    pub faults: usize,
    pub paths: BTreeSet<String>,
}

pub const JUDGE: Judge = Judge { judge: judge_saved, options: &["failure_pattern", "uncaught_pattern"] };

fn judge_saved(observed: &Value, args: &JudgeArgs) -> Result<Judged> {
    let mut o: Observed = serde_json::from_value(observed.clone()).context("the observations are not crash-recovery's")?;
    args.override_patterns(&mut o.settings.failure_pattern, &mut o.settings.uncaught_pattern);
    judge(&o)
}

/// The checks (each point's, joined across a sweep) and their figures: a
/// single point's at the top, a sweep's under `sweep`, with its table.
pub fn judge(o: &Observed) -> Result<Judged> {
    anyhow::ensure!(!o.points.is_empty(), "the observations hold no crash point");
    let done: Vec<PointResult> = o.points.iter().map(|p| judge_point(p, &o.settings)).collect();
    let mut figures = Map::new();
    let checks = if done.len() > 1 {
        figures.insert("sweep".into(), Value::Array(done.iter().map(|p| Value::Object(p.figures.clone())).collect()));
        figures.insert("sweep_table".into(), json!(super::render_table(&done)));
        (0..done[0].checks.len()).map(|k| super::checks::join(done.iter().map(|p| (p.crash_at, p.checks[k].clone())).collect())).collect()
    } else {
        figures.extend(done[0].figures.clone());
        done[0].checks.clone()
    };
    Ok(Judged { checks, figures })
}

/// One crash point's five checks, and its figures.
pub fn judge_point(p: &Point, settings: &Settings) -> PointResult {
    let patterns = LogPatterns { failure: settings.failure_pattern.clone(), uncaught: settings.uncaught_pattern.clone() };
    // What ties an escape to the crash: a blob file the cut changed, or a
    // file whose open the restart's faults failed.
    let mut sig = FaultSignature { errno: None, paths: p.cut_blob_paths.clone() };
    let mut faults = 1;
    if let Some(r) = &p.restart_faults {
        sig.paths.extend(r.paths.iter().cloned());
        sig.errno = Some("ENOENT".into());
        faults += r.faults;
    }
    let restart_bound = settings.restart_bound;
    let gone = |name: &str| {
        let why = p.death.clone().or_else(|| p.back.clone().err()).unwrap_or_else(|| "node B was not observed".into());
        Check::new(name, Status::Unknown, format!("could not observe node B after the crash: {why}"))
    };
    let lost = match &p.survey {
        Some(Ok(s)) => check_safe("nothing-lost", || checks::nothing_lost(s)),
        Some(Err(e)) => Check::new("nothing-lost", Status::Unknown, format!("could not compare the nodes' records: {e}")),
        None => gone("nothing-lost"),
    };
    let uncaught = match &p.log {
        Some(NodeLog::File { path, entries, unseen: None }) => {
            check_safe("no-uncaught-exception", || fault_checks::no_uncaught_exception(&sig, faults, entries, &patterns, path))
        }
        Some(NodeLog::File { unseen: Some(why), .. }) => Check::new("no-uncaught-exception", Status::Unknown, format!("cannot see node B's log: {why}")),
        _ => gone("no-uncaught-exception"),
    };
    let contained = match (&p.survey, &p.log) {
        (Some(Ok(s)), Some(l)) => check_safe("damaged-reads-contained", || {
            let since = p.log_after.as_ref().map(|x| l.since(x)).unwrap_or_default();
            fault_checks::damaged_reads_contained(&per_node::damaged_reads(s), s.read_bound_s, &since, &patterns, &sig, l.source_path())
        }),
        (Some(Err(e)), _) => Check::new("damaged-reads-contained", Status::Unknown, format!("could not read B's records: {e}")),
        _ => gone("damaged-reads-contained"),
    };
    // Late is not back: B answering after --restart-bound fails `restarted`;
    // the other checks still judge the B that came back.
    let restart_s = p.restart_seconds;
    let restarted = match &p.back {
        Ok(_) if restart_s > restart_bound => Check::new(
            "restarted",
            Status::Fail,
            format!(
                "node B did not come back within {restart_bound:.1} s of its restart (--restart-bound): its operations API answered {restart_s:.1} s after it was started again on the same root and address"
            ),
        ),
        _ => in_time::came_back("restarted", &p.back),
    };
    // What the restart's faults did, when B did not come back with them.
    let restarted = match &p.restart_faults {
        Some(r) if restarted.status == Status::Fail && r.faults > 0 => {
            let files: BTreeSet<&str> = r.paths.iter().map(|f| f.rsplit_once("/root/").map_or(f.as_str(), |(_, x)| x)).collect();
            let files: Vec<&str> = files.into_iter().collect();
            let evidence = format!(
                "{}; on its restart the shim failed {} write-open{} under {}/ with ENOENT (--restart-fault-opens {}): {}",
                restarted.evidence,
                r.faults,
                if r.faults == 1 { "" } else { "s" },
                r.files.dir(),
                r.every,
                files.join(", ")
            );
            Check { evidence, ..restarted }
        }
        _ => restarted,
    };
    let caught_up = check_safe("caught-up", || in_time::caught_up(&p.back, p.settled.as_ref(), p.death.as_deref()));
    let checks = vec![restarted, caught_up, lost, uncaught, contained];
    let mut figures = p.figures.clone();
    if let Some(s) = &p.settled {
        figures.insert("records_a".into(), json!(s.records_a));
        figures.insert("records_b".into(), json!(s.records_b));
        figures.insert("catch_up_seconds".into(), json!(s.seconds));
    }
    if let Some(Ok(s)) = &p.survey {
        figures.insert("records_on_a".into(), json!(s.records_on_a));
        figures.insert("records_on_b".into(), json!(s.records_on_b));
        figures.insert("records_missing_on_b".into(), json!(s.missing_on_b.len()));
        figures.insert("records_damaged_on_b".into(), json!(s.damaged().len()));
        figures.insert("reads_hung_on_b".into(), json!(s.hung_on_b.len()));
    }
    if let Some(NodeLog::File { entries, .. }) = &p.log {
        figures.insert("uncaught_tied_to_crash".into(), json!(entries.iter().filter(|e| sig.tie(e, &patterns).is_some()).count()));
    }
    PointResult { crash_at: p.crash_at, crashed_at: p.crashed_at.clone(), checks, figures }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::harper_log::parse_log;

    fn point(back: Result<String, String>, log: &str, restart_faults: Option<RestartFaults>) -> Point {
        Point {
            crash_at: 100,
            crashed_at: "pwrite64 /r/root/database/data.mdb".into(),
            figures: Map::new(),
            cut_blob_paths: BTreeSet::new(),
            back,
            restart_seconds: 3.0,
            settled: None,
            death: None,
            log: Some(NodeLog::File { path: "/r/root/log/hdb.log".into(), entries: parse_log(log), unseen: None }),
            log_after: None,
            survey: None,
            restart_faults,
        }
    }

    fn settings() -> Settings {
        Settings { failure_pattern: "Blob save failed".into(), uncaught_pattern: "uncaughtException".into(), restart_bound: 120.0 }
    }

    fn faults(files: super::super::RestartFaultFiles, paths: &[&str]) -> Option<RestartFaults> {
        Some(RestartFaults { files, every: 3, faults: paths.len(), paths: paths.iter().map(|p| p.to_string()).collect() })
    }

    #[test]
    fn an_escape_naming_a_file_whose_open_the_restart_failed_fails_no_uncaught_exception() {
        use super::super::RestartFaultFiles::Blobs;
        let log = "2026-12-05T13:53:59.368Z [http/1] [error]: uncaughtException [Error: ENOENT: no such file or directory, open '/r/root/blobs/data/0/0/10'] {\n";
        let p = point(Ok("answering in 3.0 s".into()), log, faults(Blobs, &["/r/root/blobs/data/0/0/10"]));
        let c = judge_point(&p, &settings()).checks.remove(3);
        assert_eq!((c.name.as_str(), c.status), ("no-uncaught-exception", Status::Fail));
        assert!(c.evidence.starts_with("1 uncaughtException entries tied to the injected fault in /r/root/log/hdb.log"), "{}", c.evidence);
        assert!(c.evidence.contains("(1 name a faulted file), naming 1 distinct files; 1 of the 1 faulted paths are among them:"), "{}", c.evidence);
        // The same log with no fault on the restart: the crash alone ties it (it names a blob).
        let clean = point(Ok("answering in 3.0 s".into()), "2026-12-05T13:53:59.368Z [main/0] [info]: started\n", faults(Blobs, &[]));
        let c = judge_point(&clean, &settings()).checks.remove(3);
        assert_eq!(c.status, Status::Pass, "{}", c.evidence);
        assert!(c.evidence.ends_with("(1 faults injected)"), "{}", c.evidence);
    }

    #[test]
    fn a_restart_its_faults_kept_down_names_them_and_older_observations_still_read() {
        use super::super::RestartFaultFiles::Database;
        let p = point(
            Err("node b exited".into()),
            "",
            faults(Database, &["/r/root/database/data.mdb", "/r/root/database/data.mdb-lock"]),
        );
        let c = judge_point(&p, &settings()).checks.remove(0);
        assert_eq!((c.name.as_str(), c.status), ("restarted", Status::Fail));
        assert_eq!(
            c.evidence,
            "node B did not come back: node b exited; on its restart the shim failed 2 write-opens under database/ with ENOENT (--restart-fault-opens 3): database/data.mdb, database/data.mdb-lock"
        );
        // Saved before --restart-fault-opens: no restart_faults key.
        let mut v = serde_json::to_value(point(Ok("back".into()), "", None)).unwrap();
        v.as_object_mut().unwrap().remove("restart_faults");
        let back: Point = serde_json::from_value(v).unwrap();
        assert!(back.restart_faults.is_none());
        assert_eq!(judge_point(&back, &settings()).checks[0].status, Status::Pass);
    }
}
