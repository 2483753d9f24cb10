//! blob-save on one faulted node: what is observed of it on the live
//! cluster (its log, its cluster_status, liveness, the record-by-record
//! survey against the source) and once it has exited (what the shim
//! recorded: its exit summary exists only then), all saved in the run's
//! observations; and its seven checks, judged from those alone. The
//! scenario runs this for every faulted node and joins each check's
//! verdicts across them (`Check::across_nodes`).

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Result;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::checks::{self, LossSurvey};
use super::fault_checks::{self, ReadEnd};
use super::observe::{self, Liveness};
use super::{injector, log_only};
use crate::api::NodeApi;
use crate::backend::{Backend, LogReader, NodeLog};
use crate::fault::{self, FaultLog, FaultPlan, PlanSpec, ShimSummary};
use crate::harper_log::{FaultSignature, LogEntry, LogPatterns};
use crate::events::Events;
use crate::model::{check_safe, Check, Status};
use crate::topology::NodeId;

/// What was seen of one faulted node: everything its checks read.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Observed {
    pub node: NodeId,
    /// How it died on its own, if it did.
    pub death: Option<String>,
    /// Its log as it stood before any read of a damaged record, and again
    /// after those reads (when there were any).
    pub log: NodeLog,
    pub log_after: Option<NodeLog>,
    /// Its `cluster_status` answer, or why there was none.
    pub cluster_status: Result<Value, String>,
    pub live: Liveness,
    pub survey: Result<LossSurvey, String>,
    /// Where the observation's time went (figure key, seconds).
    pub took: Vec<(String, f64)>,
    /// What the shim recorded on the node (a local run; None attached).
    pub shim: Option<ShimSeen>,
}

/// What the shim says it did on a node, read once the node has exited.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ShimSeen {
    pub spec: PlanSpec,
    pub fault_log_path: PathBuf,
    pub fault_log: FaultLog,
    /// The `blobfail: summary` lines of the node's stderr.
    pub stderr_summaries: Vec<ShimSummary>,
    /// How many `blobfail: armed` lines its stderr holds.
    pub armed_lines: usize,
    pub blob_files_on_b: u64,
    /// Blob files on the node shorter than the source's largest.
    pub blob_files_truncated_on_b: usize,
}

/// How to observe one node.
pub struct Watch<'a> {
    pub a: &'a NodeApi,
    pub node: &'a NodeApi,
    /// How the node's `cluster_status` names the source.
    pub a_name: &'a str,
    pub probe_id: String,
    pub liveness_timeout: Duration,
    /// The run's record ids (an attached cluster holds others').
    pub ids: Range<u64>,
    /// Said to the run's events as each check is decided (one faulted node: the
    /// checks are final as they are).
    pub events: Option<&'a Events>,
}

/// Observes one faulted node. Its log is taken as it stands before any
/// read of a damaged record: on 4.7.29 each such read logs another
/// uncaughtException, which is the read's (damaged-reads-contained), not
/// the save's. cluster_status and liveness make no such read, so they run
/// while the log is let settle.
pub async fn observe(w: &Watch<'_>, id: NodeId, death: Option<String>, reader: LogReader) -> Observed {
    let decided = |c: &Check| {
        if let Some(e) = w.events {
            e.decided(c);
        }
    };
    let peer_and_live = async {
        let status = match &death {
            Some(d) => Err(d.clone()),
            None => w.node.cluster_status().await.map_err(|e| format!("{e:#}")),
        };
        decided(&peer_connected(&status, w.a_name));
        let live = match &death {
            Some(d) => Liveness { id: w.probe_id.clone(), before: None, after: None, held: false, seconds: 0.0, error: Some(d.clone()) },
            None => observe::liveness(w.a, w.node, &w.probe_id, w.liveness_timeout).await,
        };
        decided(&live.check());
        (status, live)
    };
    let mut took = Vec::new();
    let t = Instant::now();
    let (log, (cluster_status, live)) = futures::join!(reader.read(Duration::from_secs(1)), peer_and_live);
    took.push(("checks_log_seconds".to_string(), t.elapsed().as_secs_f64()));
    let t = Instant::now();
    let survey = match &death {
        Some(d) => Err(d.clone()),
        None => observe::survey_loss(w.a, w.node, |id| id.parse::<u64>().is_ok_and(|n| w.ids.contains(&n)))
            .await
            .map_err(|e| format!("{e:#}")),
    };
    decided(&nothing_lost(&survey));
    took.push(("checks_survey_seconds".to_string(), t.elapsed().as_secs_f64()));
    // What the reads of damaged records added to the node's log.
    let t = Instant::now();
    let log_after = match &survey {
        Ok(s) if !s.damaged().is_empty() => Some(reader.read(Duration::from_millis(300)).await),
        _ => None,
    };
    took.push(("checks_log_again_seconds".to_string(), t.elapsed().as_secs_f64()));
    Observed { node: id, death, log, log_after, cluster_status, live, survey, took, shim: None }
}

/// What the shim recorded on `node` under `plan` (its fault log, and its
/// stderr's summary lines: they exist only once the node has exited), and
/// the node's blob files; None when the node's files are not here (attached).
pub fn read_shim(backend: &Backend, node: &str, plan: Option<&FaultPlan>) -> Result<Option<ShimSeen>> {
    let (Some(b), Some(plan)) = (backend.files_of(node), plan) else { return Ok(None) };
    let b_stderr = std::fs::read_to_string(&b.stderr).unwrap_or_default();
    // A blob file on B shorter than A's is a truncated one.
    let full = backend.files_of("a").map(|a| fault::file_sizes(&a.root.join("blobs"))).unwrap_or_default();
    let full = full.iter().copied().max().unwrap_or(0);
    Ok(Some(ShimSeen {
        spec: plan.spec.clone(),
        fault_log_path: plan.log.clone(),
        fault_log: fault::read_fault_log_whole(&plan.log)?,
        stderr_summaries: fault::parse_summaries(&b_stderr),
        armed_lines: fault::armed_lines(&b_stderr).len(),
        blob_files_on_b: fault::count_files(&b.root.join("blobs")),
        blob_files_truncated_on_b: fault::file_sizes(&b.root.join("blobs")).into_iter().filter(|&n| n < full).count(),
    }))
}

fn peer_connected(status: &Result<Value, String>, a_name: &str) -> Check {
    check_safe("peer-connected", || checks::peer_connected(status.as_ref().map_err(Clone::clone), a_name))
}

fn nothing_lost(survey: &Result<LossSurvey, String>) -> Check {
    match survey {
        Ok(s) => check_safe("nothing-lost", || checks::nothing_lost(s)),
        Err(e) => Check::new("nothing-lost", Status::Unknown, format!("could not compare the nodes' records: {e}")),
    }
}

/// The seven checks of one faulted node, in the scenario's order, and the
/// figures they rest on: a pure function of what was observed, the name
/// the node's `cluster_status` gives the source, and the log patterns.
pub fn judge(o: &Observed, a_name: &str, patterns: &LogPatterns) -> Result<(Vec<Check>, Map<String, Value>)> {
    let mut figures = Map::new();
    let since = o.log_after.as_ref().map(|after| o.log.since(after)).unwrap_or_default();
    let survey = o.survey.as_ref().ok();
    let judged = judge_log(&o.node, &o.log, o.shim.as_ref(), patterns, survey, &mut figures)?;
    let reads = survey.map(damaged_reads);
    let contained = match (&reads, &o.death) {
        (_, Some(d)) => Check::new("damaged-reads-contained", Status::Unknown, format!("could not read B's records: {d}")),
        (None, _) => Check::new("damaged-reads-contained", Status::Unknown, "could not read B's records (see nothing-lost)"),
        (Some(reads), None) => check_safe("damaged-reads-contained", || {
            fault_checks::damaged_reads_contained(
                reads,
                survey.map(|s| s.read_bound_s).unwrap_or(0.0),
                &since,
                patterns,
                &judged.signature,
                o.log.source_path(),
            )
        }),
    };
    // Reads that all answered prove containment only with a log to show
    // nothing escaped while they ran.
    let contained = match (&o.log, contained.status) {
        (NodeLog::File { unseen: Some(why), .. }, Status::Pass) => {
            Check::new(&contained.name, Status::Unknown, format!("{}; but cannot see node B's log: {why}", contained.evidence))
        }
        _ => contained,
    };
    let escaped_during_reads = judged.signature_hits(&since, patterns);
    let mut put = |k: &str, v: Value| {
        figures.insert(k.to_string(), v);
    };
    if let Some(d) = &o.death {
        put("node_b_died", json!(d));
    }
    put("liveness_seconds", json!(o.live.seconds));
    // Where the checks' time went: the log let settle (with peer-connected
    // and liveness beside it), the survey's reads, the log read again.
    for (k, secs) in &o.took {
        put(k, json!((secs * 1000.0).round() / 1000.0));
    }
    if let Some(s) = survey {
        for (name, value) in s.figures() {
            put(name, value);
        }
        put("records_damaged_on_b", json!(s.damaged().len()));
        for (k, secs) in &s.seconds {
            put(k, json!((secs * 1000.0).round() / 1000.0));
        }
    }
    put("uncaught_during_damaged_reads", json!(escaped_during_reads));
    let mut checks = judged.checks;
    checks.extend([peer_connected(&o.cluster_status, a_name), o.live.check(), nothing_lost(&o.survey), contained]);
    Ok((checks, figures))
}

/// How each read of a damaged record on B ended, from the survey's reads.
pub fn damaged_reads(s: &checks::LossSurvey) -> BTreeMap<String, ReadEnd> {
    let mut reads = BTreeMap::new();
    for id in s.damaged() {
        let end = if s.hung_on_b.contains(id) {
            ReadEnd::Hung
        } else if let Some(e) = s.blob_unreadable_on_b.get(id) {
            answer_kind(e)
        } else if let Some((b, a)) = s.blob_short_on_b.get(id) {
            ReadEnd::Answered(format!("answered {b} of {a} bytes"))
        } else {
            ReadEnd::Answered("answered other bytes".into())
        };
        reads.insert(id.clone(), end);
    }
    reads
}

/// A read's error, grouped for counting: an error status is an answer
/// (`answered 500 Internal Server Error`); a failed or closed connection is not.
fn answer_kind(e: &str) -> ReadEnd {
    if e.starts_with("answered") || e.starts_with("B answered") {
        return ReadEnd::Answered(e.split_once(':').map_or(e, |(head, _)| head).to_string());
    }
    if e.contains("connection closed") {
        ReadEnd::Cut("connection closed".into())
    } else if e.contains("connection reset") {
        ReadEnd::Cut("connection reset".into())
    } else {
        ReadEnd::Cut(crate::api::shorten(e, 60))
    }
}

/// What the log checks decided, and what ties an escaped error to the fault.
struct Judged {
    checks: Vec<Check>,
    signature: FaultSignature,
}

impl Judged {
    fn signature_hits(&self, entries: &[LogEntry], p: &LogPatterns) -> usize {
        entries.iter().filter(|e| self.signature.tie(e, p).is_some()).count()
    }
}

/// `injector-fired`, `blob-save-failure-logged` and `no-uncaught-exception`:
/// from the shim's own records and B's `hdb.log` when B's files were here,
/// from B's log alone when they were not. Adds the figures they rest on.
fn judge_log(
    node: &str,
    log: &NodeLog,
    shim: Option<&ShimSeen>,
    patterns: &LogPatterns,
    survey: Option<&checks::LossSurvey>,
    figures: &mut Map<String, Value>,
) -> Result<Judged> {
    let mut put = |k: &str, v: Value| {
        figures.insert(k.to_string(), v);
    };
    match (shim, log) {
        (Some(shim), NodeLog::File { path, entries, unseen }) => {
            let fault_log = &shim.fault_log;
            let signature = fault_checks::signature(&shim.spec, &fault_log.records);
            let faults = fault_log.records.iter().filter(|r| r.errno != 0).count();
            put("faults_injected", json!(fault_log.records.len()));
            put("matching_calls", json!(fault_log.summaries.iter().map(|s| s.matching).sum::<u64>()));
            put("matching_write_opens", json!(shim.stderr_summaries.last().map(|s| s.matching)));
            put("blob_files_on_b", json!(shim.blob_files_on_b));
            put("blob_files_truncated_on_b", json!(shim.blob_files_truncated_on_b));
            put("uncaught_tied_to_fault", json!(entries.iter().filter(|e| signature.tie(e, patterns).is_some()).count()));
            let injection = injector::Injection {
                spec: &shim.spec,
                log: fault_log,
                stderr_summaries: &shim.stderr_summaries,
                armed_lines: shim.armed_lines,
                blob_files_on_b: Some(shim.blob_files_on_b),
                log_path: &shim.fault_log_path,
            };
            let damaged: Option<std::collections::BTreeSet<String>> = survey.map(|s| s.damaged().into_iter().cloned().collect());
            let mut checks = vec![
                check_safe("injector-fired", || injector::injector_fired(&injection)),
                check_safe("blob-save-failure-logged", || {
                    fault_checks::blob_save_failure_logged(damaged.as_ref(), faults, entries, patterns, &signature, path)
                }),
                check_safe("no-uncaught-exception", || fault_checks::no_uncaught_exception(&signature, faults, entries, patterns, path)),
            ];
            // A log the checks cannot see proves nothing either way.
            if let Some(why) = unseen {
                for c in &mut checks[1..] {
                    *c = Check::new(&c.name, Status::Unknown, format!("cannot see node B's log: {why}"));
                }
            }
            Ok(Judged { checks, signature })
        }
        (_, NodeLog::Remote { source, entries: Ok(entries) }) => {
            let e = log_only::remote_evidence(entries, patterns);
            put("log_entries_read", json!(entries.len()));
            put("failed_blob_files_in_log", json!(e.failed_files.len()));
            put("uncaught_blob_entries", json!(e.escaped.len()));
            put("contained_failure_lines", json!(e.contained.len()));
            Ok(Judged { checks: log_only::log_checks(entries, patterns, source), signature: FaultSignature::default() })
        }
        (_, NodeLog::Remote { source, entries: Err(e) }) => {
            put("log_entries_read", json!(0));
            let why = format!("could not read {source}: {e}");
            let checks = ["injector-fired", "blob-save-failure-logged", "no-uncaught-exception"]
                .map(|name| Check::new(name, Status::Unknown, why.clone()))
                .into();
            Ok(Judged { checks, signature: FaultSignature::default() })
        }
        (None, NodeLog::File { path, .. }) => {
            anyhow::bail!("node {node}'s log {} is local but nothing says what the shim did there (no \"shim\" in its observations)", path.display())
        }
    }
}
