//! `blob-save`: node B's blob writes fail every Nth time while node A serves
//! load whose records (each with a 50 KiB blob) replicate to B. Does B contain
//! the failures, stay connected and live, and lose nothing?

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use futures::StreamExt;
use serde_json::{json, Map, Value};

use super::{Common, Phases};
use crate::journal::PlannedCheck;
use crate::api::{BlobRead, NodeApi};
use crate::checks::{self, LogPatterns, LossSurvey};
use crate::cluster::{self, Cluster};
use crate::fault::{self, FaultPlan};
use crate::report::{Progress, Report};
use crate::workload;

pub const TABLE: &str = "LargeLocation";
/// Ids are drawn from 0..ID_SPACE (the issue's `n random in 0..399`).
pub const ID_SPACE: u64 = 400;

#[derive(Debug, Clone)]
pub struct Options {
    pub interval: u64,
    pub requests: u64,
    pub concurrency: usize,
    pub settle: Duration,
    pub patterns: LogPatterns,
}

/// The checks, and the nodes each cannot be decided without (for the
/// partial report of an interrupted run).
pub const CHECKS: &[PlannedCheck] = &[
    PlannedCheck { name: "injector-fired", needs: &["b"] },
    PlannedCheck { name: "blob-save-failure-logged", needs: &["b"] },
    PlannedCheck { name: "no-uncaught-exception", needs: &["b"] },
    PlannedCheck { name: "peer-connected", needs: &["a", "b"] },
    PlannedCheck { name: "liveness", needs: &["a", "b"] },
    PlannedCheck { name: "nothing-lost", needs: &["a", "b"] },
];

pub async fn run(common: &Common, opts: &Options, out: &Path, progress: &Progress) -> Result<Report> {
    let mut phases = Phases::begin(progress, "blob-save", out, CHECKS);
    let shim = fault::find_shim(common.shim.as_deref())?;
    let harper = phases
        .time("install", cluster::resolve_harper(common.harper.as_deref(), &common.harper_version, progress))
        .await?;
    let mut cluster =
        phases.time("provision", Cluster::provision(harper, out, &["a", "b"], &common.cluster, progress)).await?;
    let plan = FaultPlan::blob_writes(shim, opts.interval, out.join("faults.jsonl"));
    cluster.node_mut("b").spec.env = plan.env();
    phases.time("start", cluster.start(&["a", "b"], progress)).await?;
    phases.time("join", cluster.join("b", "a", progress)).await?;
    super::test_panic_hook("join");

    let a = cluster.node("a").api.clone();
    let b = cluster.node("b").api.clone();
    eprintln!("blobfail: workload seed {} (repeat with --seed {})", common.seed, common.seed);
    let ids = workload::draw_ids(common.seed, opts.requests, ID_SPACE);
    // Supervised: a node stopped from outside ends the run at once (as
    // interrupted); a crash of B lets the load on A go on, for the checks.
    let load =
        phases.time("workload", cluster.supervise(workload::run_gets(&a, TABLE, &ids, opts.concurrency, progress))).await?;
    if load.ok == 0 {
        cluster.check_alive()?;
        anyhow::bail!(
            "no GET on node A succeeded ({} failed; e.g. {}): the scenario cannot judge anything",
            load.failed,
            load.errors.first().map(String::as_str).unwrap_or("?")
        );
    }
    let settle_bound = opts.settle + Duration::from_secs(60);
    let settled =
        phases.time("settle", cluster.supervise(workload::settle(&a, &b, TABLE, opts.settle, settle_bound, progress))).await?;
    // A carries the load and is never faulted: without it nothing can be judged.
    if let Some(end) = cluster.node_mut("a").end() {
        return Err(end.into_error());
    }

    // Observe the live cluster. B's log is read first: reading back a record
    // whose blob file is missing makes 4.7.29 log another uncaughtException
    // (for the read), which must not be counted as a save failure.
    let step = progress.step("checking the cluster");
    phases.enter("checks");
    let checks_start = Instant::now();
    // B may still be logging the last failures when its count already
    // matches A's: wait (bounded) until its log has stopped growing.
    let b_log_path = cluster.node("b").spec.hdb_log.clone();
    wait_quiet(&b_log_path, Duration::from_secs(1), Duration::from_secs(10)).await;
    let b_log = std::fs::read_to_string(&b_log_path).unwrap_or_default();
    let b_death = cluster.node_mut("b").death();
    let journal = progress.journal().clone();
    let observe = async {
        let status = match &b_death {
            Some(d) => Err(d.clone()),
            None => b.cluster_status().await.map_err(|e| format!("{e:#}")),
        };
        let peer = checks::peer_connected(status.as_ref().map_err(Clone::clone), &a.ip.to_string());
        journal.decided(&peer);
        let probe_id = format!("blobfail-liveness-{}", common.seed);
        let live = match &b_death {
            Some(d) => Liveness { check: checks::liveness(&probe_id, None, None, 0.0, Some(d)), seconds: 0.0 },
            None => liveness(&a, &b, &probe_id).await,
        };
        journal.decided(&live.check);
        let survey = match &b_death {
            Some(d) => Err(anyhow::anyhow!("{d}")),
            None => survey_loss(&a, &b, |id| id != probe_id).await,
        };
        let lost = match &survey {
            Ok(s) => checks::nothing_lost(s),
            Err(e) => checks::Check {
                name: "nothing-lost".into(),
                status: checks::Status::Unknown,
                evidence: format!("could not compare the nodes' records: {e:#}"),
                lines: vec![],
            },
        };
        journal.decided(&lost);
        (peer, live, survey, lost)
    };
    let (peer, live, survey, lost) = cluster.supervise(observe).await?;
    phases.record("checks", checks_start.elapsed());
    step.finish("observed");

    let keep = common.keep;
    super::test_panic_hook("checks");
    let teardown_start = Instant::now();
    phases.enter("teardown");
    if !keep {
        let step = progress.step("stopping the cluster");
        cluster.teardown();
        step.finish(
            &cluster.stops.iter().map(|s| format!("node {} {} ({}, {:.1} s)", s.node, s.exit, s.signal, s.seconds)).collect::<Vec<_>>().join(", "),
        );
    }
    phases.record("teardown", teardown_start.elapsed());
    // A node stopped from outside in the last moments of the checks is
    // seen here, its end kept by the teardown.
    cluster.check_outside()?;

    // What the shim says it did (its exit summary exists only once B has exited).
    let b_spec = cluster.node("b").spec.clone();
    let b_stderr = std::fs::read_to_string(&b_spec.stderr).unwrap_or_default();
    let summaries = fault::parse_summaries(&b_stderr);
    let armed = fault::armed_lines(&b_stderr);
    let faults = fault::read_fault_log(&plan.log)?;
    let blob_files_b = fault::count_files(&b_spec.root.join("blobs"));
    let entries = checks::parse_log(&b_log);
    let checks = vec![
        checks::injector_fired(opts.interval, &faults, &summaries, armed.len(), Some(blob_files_b), &plan.log),
        checks::blob_save_failure_logged(faults.len(), &entries, &opts.patterns, &b_spec.hdb_log),
        checks::no_uncaught_exception(
            &faults.iter().map(|f| f.path.clone()).collect::<Vec<_>>(),
            &entries,
            &opts.patterns,
            &b_spec.hdb_log,
        ),
        peer,
        live.check,
        lost,
    ];

    let mut figures = Map::new();
    let mut put = |k: &str, v: Value| {
        figures.insert(k.to_string(), v);
    };
    put("seed", json!(common.seed));
    put("interval", json!(opts.interval));
    put("faults_injected", json!(faults.len()));
    put("matching_write_opens", json!(summaries.last().map(|s| s.matching)));
    put("blob_files_on_b", json!(blob_files_b));
    put("requests", json!(load.requests));
    put("requests_ok", json!(load.ok));
    put("requests_failed", json!(load.failed));
    put("retries", json!(load.retries));
    put("distinct_ids", json!(load.distinct_ids));
    put("concurrency", json!(opts.concurrency));
    put("records_a", json!(settled.records_a));
    put("records_b", json!(settled.records_b));
    put("b_matched_a", json!(settled.matched));
    if let Some(d) = &b_death {
        put("node_b_died", json!(d));
    }
    if let Some(e) = &settled.error {
        put("settle_error", json!(e));
    }
    put("liveness_seconds", json!(live.seconds));
    if let Ok(s) = &survey {
        for (name, value) in s.figures() {
            put(name, value);
        }
    }
    if !load.errors.is_empty() {
        put("request_errors", json!(load.errors));
    }
    phases.into_figures(&mut figures);

    let mut files = Map::new();
    files.insert("run_dir".into(), json!(out));
    files.insert("fault_log".into(), json!(plan.log));
    files.insert("report".into(), json!(out.join("report.json")));
    Ok(super::finish("blob-save", checks, figures, files, &mut cluster, keep, progress))
}

pub(crate) struct Liveness {
    pub check: checks::Check,
    pub seconds: f64,
}

/// Upserts one fresh record on A and polls B's exact count until it rises.
pub(crate) async fn liveness(a: &NodeApi, b: &NodeApi, probe_id: &str) -> Liveness {
    let start = Instant::now();
    let bound = Duration::from_secs(30);
    let before = match b.record_count(TABLE).await {
        Ok(n) => n,
        Err(e) => {
            return Liveness { check: checks::liveness(probe_id, None, None, 0.0, Some(&format!("{e:#}"))), seconds: 0.0 }
        }
    };
    let upsert = json!({"operation":"upsert","database":"data","table":TABLE,
                        "records":[{"id": probe_id, "name": "blobfail liveness probe"}]});
    if let Err(e) = a.op(upsert, Duration::from_secs(30)).await {
        let msg = format!("the upsert on A failed: {e:#}");
        return Liveness { check: checks::liveness(probe_id, Some(before), None, 0.0, Some(&msg)), seconds: 0.0 };
    }
    let mut after = Some(before);
    let mut err = None;
    while start.elapsed() < bound {
        match b.record_count(TABLE).await {
            Ok(n) => {
                after = Some(n);
                if n > before {
                    break;
                }
            }
            Err(e) => err = Some(format!("{e:#}")),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let secs = start.elapsed().as_secs_f64();
    Liveness { check: checks::liveness(probe_id, Some(before), after, secs, err.as_deref()), seconds: secs }
}

/// Compares every record A stores with B's own copy, blob bytes included,
/// without ever making B call the table's source (SQL scans for the ids,
/// `only-if-cached` reads for the blobs). Only the ids `compare` accepts
/// count (attach mode compares only the records its own run created).
pub(crate) async fn survey_loss(a: &NodeApi, b: &NodeApi, compare: impl Fn(&str) -> bool) -> Result<LossSurvey> {
    let on_a: BTreeSet<String> =
        a.stored_ids(TABLE).await.context("listing node A's records")?.into_iter().filter(|id| compare(id)).collect();
    let on_b: BTreeSet<String> =
        b.stored_ids(TABLE).await.context("listing node B's records")?.into_iter().filter(|id| compare(id)).collect();
    let mut s = LossSurvey {
        records_on_a: on_a.len(),
        records_on_b: on_b.len(),
        missing_on_b: on_a.difference(&on_b).cloned().collect(),
        ..Default::default()
    };
    let both: Vec<String> = on_a.intersection(&on_b).cloned().collect();
    // A read of a record whose blob file is missing hangs on 4.7.29: bound it.
    let b_timeout = Duration::from_secs(3);
    let reads: Vec<(String, BlobRead, BlobRead)> = futures::stream::iter(both)
        .map(|id| async move {
            let ra = a.read_blob(TABLE, &id, "image", Duration::from_secs(20)).await;
            let rb = b.read_blob(TABLE, &id, "image", b_timeout).await;
            (id, ra, rb)
        })
        .buffer_unordered(32)
        .collect()
        .await;
    for (id, ra, rb) in reads {
        let (alen, asha) = match ra {
            BlobRead::Read { len, sha256 } => (len, sha256),
            BlobRead::NotHeld => {
                s.unreadable_on_a.insert(id, "A answered 504 (not stored)".into());
                continue;
            }
            BlobRead::Failed(e) => {
                s.unreadable_on_a.insert(id, e);
                continue;
            }
        };
        s.compared += 1;
        match rb {
            BlobRead::Read { len, sha256 } if len == alen && sha256 == asha => {}
            BlobRead::Read { len, .. } if len < alen => {
                s.blob_short_on_b.insert(id, (len, alen));
            }
            BlobRead::Read { .. } => s.blob_differs_on_b.push(id),
            BlobRead::NotHeld => {
                s.blob_unreadable_on_b.insert(id, "B answered 504 (not stored) though SQL lists it".into());
            }
            BlobRead::Failed(e) => {
                s.blob_unreadable_on_b.insert(id, e);
            }
        }
    }
    Ok(s)
}

/// Polls a file's size until it has not changed for `quiet`, at most `bound`.
async fn wait_quiet(path: &Path, quiet: Duration, bound: Duration) {
    let start = Instant::now();
    let mut last = None;
    let mut since = Instant::now();
    while start.elapsed() < bound {
        let len = std::fs::metadata(path).map(|m| m.len()).ok();
        if len != last {
            last = len;
            since = Instant::now();
        } else if since.elapsed() >= quiet {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
