//! Attach mode: the blob-save workload and checks against a cluster someone
//! else runs (nodes on other hosts, B started with the shim preloaded by its
//! service manager), through Harper's operations API and REST only.
//!
//! Nothing on the nodes' file systems is reachable from here: B's log comes
//! from `read_log`, and the shim's own fault log and exit summary stay on B's
//! host, so `injector-fired` is judged from the failed blob opens B's log
//! names. Only what this run did counts: the records it creates have ids of
//! their own, and only log entries after the run began are read.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use futures::FutureExt;
use serde_json::{json, Map, Value};

use crate::api::{shorten, NodeApi};
use crate::checks::{self, Check, LogEntry, LogPatterns, Status};
use crate::report::{self, Progress, Report, Verdict};
use crate::scenario::blob_save::{self, ID_SPACE, TABLE};
use crate::workload;

/// How to reach the cluster and what to run against it.
#[derive(Debug, Clone)]
pub struct Options {
    /// Operations API URLs of A (serves the load) and B (the faulted node).
    pub ops_a: String,
    pub ops_b: String,
    /// REST URLs (derived from the operations URLs when not given).
    pub rest_a: Option<String>,
    pub rest_b: Option<String>,
    pub user: String,
    pub password: String,
    pub seed: u64,
    pub blob: blob_save::Options,
}

/// The REST URL of a node whose operations API is `ops`: the same scheme
/// and host on port 9926, when the operations API is on Harper's default 9925.
pub fn derive_rest_url(ops: &str, node: &str) -> Result<String> {
    let mut url = reqwest::Url::parse(ops).with_context(|| format!("--node-{node} {ops:?} is not a URL like http://host:9925"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        bail!("--node-{node} {ops:?} is not an http(s) URL like http://host:9925");
    }
    if url.port_or_known_default() != Some(crate::api::OPS_PORT) {
        bail!(
            "cannot derive node {node}'s REST URL from {ops} (its operations API is not on port {}): pass --rest-{node} URL",
            crate::api::OPS_PORT
        );
    }
    url.set_port(Some(crate::api::REST_PORT)).map_err(|_| anyhow!("cannot set a port on {ops}"))?;
    url.set_path("/");
    Ok(url.to_string())
}

/// Runs blob-save against the attached cluster, prints the human report,
/// writes `report.json` and `junit.xml` into `out`, and gives the verdict.
/// An error means the run could not judge anything (exit 2).
pub fn execute(opts: &Options, out: &Path) -> Result<Verdict> {
    let progress = Progress::new();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("failed to start the async runtime")?;
    let result = rt.block_on(async {
        tokio::select! {
            r = std::panic::AssertUnwindSafe(run(opts, out, &progress)).catch_unwind() => match r {
                Ok(r) => r,
                Err(_) => Err(anyhow!("internal error (a panic, see above)")),
            },
            _ = tokio::signal::ctrl_c() => Err(anyhow!("interrupted by Ctrl-C; the attached cluster was left as it is")),
        }
    })?;
    report::write_text_atomic(&out.join("junit.xml"), &crate::junit::render(&[&result])?)?;
    let path = out.join("report.json");
    report::write_json_atomic(&path, &result)?;
    let title = format!("blob-save (attached: A {}, B {})", opts.ops_a, opts.ops_b);
    println!("{}", report::render_human(&title, &result.checks, result.verdict));
    println!("report: {}", path.display());
    println!("run folder: {}", out.display());
    Ok(result.verdict)
}

async fn run(opts: &Options, out: &Path, progress: &Progress) -> Result<Report> {
    let mut phases = Timings::default();
    let rest_a = match &opts.rest_a {
        Some(u) => u.clone(),
        None => derive_rest_url(&opts.ops_a, "a")?,
    };
    let rest_b = match &opts.rest_b {
        Some(u) => u.clone(),
        None => derive_rest_url(&opts.ops_b, "b")?,
    };
    let a = NodeApi::at("a", &opts.ops_a, &rest_a, &opts.user, &opts.password)?;
    let b = NodeApi::at("b", &opts.ops_b, &rest_b, &opts.user, &opts.password)?;

    let step = progress.step(&format!("attaching to node a ({}) and node b ({})", a.ops_url(), b.ops_url()));
    let start = Instant::now();
    let (count_a, count_b) = tokio::join!(table_present(&a), table_present(&b));
    let (count_a, count_b) = (count_a?, count_b?);
    let (sys_a, sys_b) = tokio::join!(system(&a), system(&b));
    // A's own name, as B's cluster_status lists it.
    let a_name = a
        .cluster_status()
        .await
        .ok()
        .and_then(|s| s.get("node_name").and_then(Value::as_str).map(str::to_string))
        .or_else(|| reqwest::Url::parse(&opts.ops_a).ok().and_then(|u| u.host_str().map(str::to_string)))
        .unwrap_or_default();
    // The window of B's log this run owns: entries stamped after B's clock
    // now (B's own clock, so skew between hosts does not matter).
    let since = b_clock(&b).await?;
    read_log_since(&b, Some(&since)).await.context("reading node B's log with read_log")?;
    phases.record("attach", start);
    step.finish(&format!("{TABLE} on both (A {count_a} records, B {count_b}); A is {a_name:?}"));

    // Ids of this run only: an existing cluster already holds earlier runs'
    // records, and a GET of one of those would write no blob at all.
    let base = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0) * 1000;
    eprintln!("blobfail: workload seed {} (repeat with --seed {}), record ids {base}..{}", opts.seed, opts.seed, base + ID_SPACE - 1);
    let ids: Vec<u64> = workload::draw_ids(opts.seed, opts.blob.requests, ID_SPACE).into_iter().map(|n| base + n).collect();
    let t = Instant::now();
    let load = workload::run_gets(&a, TABLE, &ids, opts.blob.concurrency, progress).await;
    phases.record("workload", t);
    if load.ok == 0 {
        bail!(
            "no GET on node A succeeded ({} failed; e.g. {}): the scenario cannot judge anything",
            load.failed,
            load.errors.first().map(String::as_str).unwrap_or("?")
        );
    }
    let settle_bound = opts.blob.settle + Duration::from_secs(60);
    let t = Instant::now();
    let settled = workload::settle(&a, &b, TABLE, opts.blob.settle, settle_bound, progress).await;
    phases.record("settle", t);

    let step = progress.step("checking the cluster");
    let checks_start = Instant::now();
    // B's log first, before anything reads a blob back (on 4.7.29 a read of
    // a missing blob file logs one more uncaughtException).
    wait_log_quiet(&b, &since, Duration::from_secs(1), Duration::from_secs(10)).await;
    let log = read_log_since(&b, Some(&since)).await;
    let status = b.cluster_status().await.map_err(|e| format!("{e:#}"));
    let peer = checks::peer_connected(status.as_ref().map_err(Clone::clone), &a_name);
    let probe_id = format!("blobfail-liveness-{base}");
    let live = blob_save::liveness(&a, &b, &probe_id).await;
    let range = base..base + ID_SPACE;
    let survey = blob_save::survey_loss(&a, &b, |id| id.parse::<u64>().is_ok_and(|n| range.contains(&n))).await;
    let lost = match &survey {
        Ok(s) => checks::nothing_lost(s),
        Err(e) => Check::new("nothing-lost", Status::Unknown, format!("could not compare the nodes' records: {e:#}")),
    };
    phases.record("checks", checks_start);
    step.finish("observed");

    let source = format!("node B's log (read_log on {})", b.ops_url());
    let (log_checks, entries) = match &log {
        Ok(entries) => (log_checks(entries, &opts.blob.patterns, &source), entries.len()),
        Err(e) => {
            let why = format!("could not read {source}: {e:#}");
            let unknown = |name: &str| Check::new(name, Status::Unknown, why.clone());
            (vec![unknown("injector-fired"), unknown("blob-save-failure-logged"), unknown("no-uncaught-exception")], 0)
        }
    };
    let mut checks = log_checks;
    checks.extend([peer, live.check, lost]);

    let mut figures = Map::new();
    let mut put = |k: &str, v: Value| {
        figures.insert(k.to_string(), v);
    };
    put("seed", json!(opts.seed));
    put("id_base", json!(base));
    put("log_entries_read", json!(entries));
    if let Ok(entries) = &log {
        let e = remote_evidence(entries, &opts.blob.patterns);
        put("failed_blob_files_in_log", json!(e.failed_files.len()));
        put("uncaught_blob_entries", json!(e.escaped.len()));
        put("contained_failure_lines", json!(e.contained.len()));
    }
    put("requests", json!(load.requests));
    put("requests_ok", json!(load.ok));
    put("requests_failed", json!(load.failed));
    put("retries", json!(load.retries));
    put("distinct_ids", json!(load.distinct_ids));
    put("concurrency", json!(opts.blob.concurrency));
    put("records_a", json!(settled.records_a));
    put("records_b", json!(settled.records_b));
    put("b_matched_a", json!(settled.matched));
    put("liveness_seconds", json!(live.seconds));
    if let Ok(s) = &survey {
        for (name, value) in s.figures() {
            put(name, value);
        }
    }
    if let Some(rss) = sys_b.pointer("/memory/rss") {
        put("b_rss_bytes_at_attach", rss.clone());
    }
    phases.into_figures(&mut figures);

    let node = |name: &str, api: &NodeApi, rest: &str, sys: &Value| {
        json!({"name": name, "ops_url": api.ops_url(), "rest_url": rest, "system": sys.get("system")})
    };
    let mut files = Map::new();
    files.insert("run_dir".into(), json!(out));
    files.insert("report".into(), json!(out.join("report.json")));
    Ok(Report {
        scenario: "blob-save".into(),
        verdict: Verdict::of(&checks),
        checks,
        figures,
        harper: json!({"attached": true}),
        nodes: vec![node("a", &a, &rest_a, &sys_a), node("b", &b, &rest_b, &sys_b)],
        files,
        teardown: vec![],
        note: None,
        interrupted: None,
    })
}

/// Each phase's wall time, as `<phase>_seconds` figures like a local run's.
#[derive(Default)]
struct Timings(Vec<(&'static str, f64)>);

impl Timings {
    fn record(&mut self, phase: &'static str, since: Instant) {
        self.0.push((phase, (since.elapsed().as_secs_f64() * 1000.0).round() / 1000.0));
    }

    fn into_figures(self, figures: &mut Map<String, Value>) {
        let total: f64 = self.0.iter().map(|(_, s)| s).sum();
        for (phase, secs) in self.0 {
            figures.insert(format!("{phase}_seconds"), json!(secs));
        }
        figures.insert("total_seconds".into(), json!((total * 1000.0).round() / 1000.0));
    }
}

/// `describe_table` of the scenario's table: its record count, or a one-line
/// error saying what to deploy when the table is not there.
async fn table_present(api: &NodeApi) -> Result<u64> {
    match api.record_count(TABLE).await {
        Ok(n) => Ok(n),
        Err(e) => {
            let msg = format!("{e:#}");
            if msg.contains("does not exist") || msg.contains("not found") {
                bail!(
                    "node {} ({}) has no table data.{TABLE}: deploy the blobfail component on both nodes \
                     (`blobfail component --out DIR` writes it; copy DIR to <harper root>/components/blobfail/ and restart Harper)",
                    api.name,
                    api.ops_url()
                )
            }
            let hint = if msg.contains("401") { " (check --user and --password, or BLOBFAIL_USER and BLOBFAIL_PASSWORD)" } else { "" };
            bail!("node {} ({}) did not answer describe_table: {}{hint}", api.name, api.ops_url(), shorten(&msg, 300))
        }
    }
}

/// `system_information` (platform and memory); `{}` when it fails, since it
/// only adds context.
async fn system(api: &NodeApi) -> Value {
    api.op(json!({"operation":"system_information","attributes":["system","memory"]}), Duration::from_secs(10))
        .await
        .unwrap_or_else(|e| json!({"error": format!("{e:#}")}))
}

/// One `read_log` entry as its log line and continuation lines, so the
/// local log predicates apply unchanged. 4.7.29 answers
/// `{timestamp, thread, level, tags, message}`, the message holding an
/// error's continuation lines (verified).
pub fn entry_of(v: &Value) -> Option<(String, LogEntry)> {
    let ts = v.get("timestamp")?.as_str()?.to_string();
    let thread = v.get("thread").and_then(Value::as_str).unwrap_or("?");
    let level = v.get("level").and_then(Value::as_str).unwrap_or("?");
    let tags: String = v
        .get("tags")
        .and_then(Value::as_array)
        .map(|t| t.iter().filter_map(Value::as_str).map(|t| format!(" [{t}]")).collect())
        .unwrap_or_default();
    let message = v.get("message").and_then(Value::as_str).unwrap_or("");
    let text = format!("{ts} [{thread}] [{level}]{tags}: {message}");
    Some((ts, LogEntry { line: 0, text }))
}

/// B's clock now, as a log timestamp (`system_information`'s `time.current`,
/// milliseconds since the epoch). Not `read_log` with `order: desc, limit: 1`:
/// on 4.7.29 that answers the first entry of a tail chunk of the file, not
/// the newest one (verified).
async fn b_clock(b: &NodeApi) -> Result<String> {
    let v = b
        .op(json!({"operation":"system_information","attributes":["time"]}), Duration::from_secs(10))
        .await
        .context("asking node B for its clock")?;
    let ms = v
        .pointer("/time/current")
        .and_then(Value::as_u64)
        .ok_or_else(|| anyhow!("node B's system_information has no time.current: {}", shorten(&v.to_string(), 200)))?;
    Ok(log_timestamp(ms))
}

/// Milliseconds since the epoch as Harper's log timestamp,
/// `2026-11-26T06:09:21.909Z` (UTC; days to a civil date after H. Hinnant).
pub fn log_timestamp(ms: u64) -> String {
    let (days, rem) = ((ms / 86_400_000) as i64, ms % 86_400_000);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let (h, m, s, milli) = (rem / 3_600_000, rem / 60_000 % 60, rem / 1000 % 60, rem % 1000);
    format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{milli:03}Z")
}

/// Polls the number of B's log entries since `since` until it has not
/// changed for `quiet`, at most `bound`: B may still be logging the last
/// failures when its record count already matches A's.
async fn wait_log_quiet(b: &NodeApi, since: &str, quiet: Duration, bound: Duration) {
    let start = Instant::now();
    let mut last = None;
    let mut changed = Instant::now();
    while start.elapsed() < bound {
        let now = read_log_since(b, Some(since)).await.ok().map(|e| e.len());
        if now != last {
            last = now;
            changed = Instant::now();
        } else if changed.elapsed() >= quiet {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Every entry of B's log after `since` (all of it without), a page of 1000
/// at a time. `read_log`'s `from` is inclusive, so entries stamped exactly
/// `since` (from before the run) are dropped.
async fn read_log_since(b: &NodeApi, since: Option<&str>) -> Result<Vec<LogEntry>> {
    const PAGE: usize = 1000;
    const MAX_PAGES: usize = 100;
    let mut entries = Vec::new();
    for page in 0..MAX_PAGES {
        let mut body = json!({"operation":"read_log","limit":PAGE,"start":page * PAGE});
        if let Some(s) = since {
            body["from"] = json!(s);
        }
        let v = b.op(body, Duration::from_secs(30)).await?;
        let rows = v.as_array().ok_or_else(|| anyhow!("read_log did not answer a list: {}", shorten(&v.to_string(), 200)))?;
        entries.extend(rows.iter().filter_map(entry_of).filter(|(ts, _)| since.is_none_or(|s| ts.as_str() > s)).map(|(_, e)| e));
        if rows.len() < PAGE {
            return Ok(entries);
        }
    }
    bail!("node B's log holds more than {} entries since the run began", PAGE * MAX_PAGES)
}

/// What B's log says about failed blob writes.
#[derive(Debug, Default)]
pub struct RemoteEvidence<'a> {
    /// Escaped failures: uncaught entries about a blob.
    pub escaped: Vec<&'a LogEntry>,
    /// Contained failures: lines with the failure pattern.
    pub contained: Vec<&'a LogEntry>,
    /// Distinct files under `/blobs/` that the escaped entries say failed with ENOENT.
    pub failed_files: BTreeSet<&'a str>,
}

pub fn remote_evidence<'a>(entries: &'a [LogEntry], p: &LogPatterns) -> RemoteEvidence<'a> {
    let escaped: Vec<&LogEntry> = entries.iter().filter(|e| checks::is_uncaught_blob_failure(e, p)).collect();
    let contained = entries.iter().filter(|e| checks::is_failure_line(e, p)).collect();
    let failed_files = escaped
        .iter()
        .filter(|e| e.text.contains("ENOENT"))
        .filter_map(|e| checks::quoted_path(e))
        .filter(|path| path.contains("/blobs/"))
        .collect();
    RemoteEvidence { escaped, contained, failed_files }
}

fn first_lines(entries: &[&LogEntry]) -> Vec<String> {
    entries.iter().map(|e| e.first_line().to_string()).collect()
}

/// `injector-fired`, `blob-save-failure-logged` and `no-uncaught-exception`,
/// judged from B's log alone. A failed blob write shows as an escaped ENOENT
/// under `/blobs/` (4.7.29) or a contained failure line (Harper ≥ 5.0.8);
/// with neither, nothing shows the shim fired, and the log checks cannot
/// decide.
pub fn log_checks(entries: &[LogEntry], p: &LogPatterns, source: &str) -> Vec<Check> {
    let e = remote_evidence(entries, p);
    let (files, contained, escaped) = (e.failed_files.len(), e.contained.len(), e.escaped.len());
    let unreachable = "the shim's fault log and exit summary stay on B's host, out of reach of the operations API, \
                       so every-Nth cannot be checked";
    let seen = files > 0 || contained > 0;
    let injector = if seen {
        Check::new(
            "injector-fired",
            Status::Pass,
            format!(
                "judged from {source}: {files} distinct blob files under /blobs/ failed with ENOENT, \
                 {contained} lines with {:?}, among {} entries since the run began ({unreachable})",
                p.failure,
                entries.len()
            ),
        )
    } else {
        Check::new(
            "injector-fired",
            Status::Unknown,
            format!(
                "{source} shows no failed blob write among {} entries since the run began, and {unreachable}: \
                 is libblobfail.so preloaded and armed on B (its stderr says `blobfail: armed`)?",
                entries.len()
            ),
        )
    };
    let logged = if !seen {
        Check::new("blob-save-failure-logged", Status::Unknown, format!("{source} shows no failed blob write, so there was no failure to log"))
    } else if contained > 0 && contained >= files {
        Check::new(
            "blob-save-failure-logged",
            Status::Pass,
            format!("{contained} lines with {:?} in {source} for {files} blob files that escaped", p.failure),
        )
    } else {
        Check::new(
            "blob-save-failure-logged",
            Status::Fail,
            format!(
                "{contained} lines with {:?} in {source} for {files} blob files that failed with ENOENT; \
                 instead it logged {escaped} {} entries:",
                p.failure, p.uncaught
            ),
        )
        .with_lines(first_lines(&e.contained).into_iter().chain(first_lines(&e.escaped)).collect())
    };
    let uncaught = if escaped > 0 {
        Check::new(
            "no-uncaught-exception",
            Status::Fail,
            format!("{escaped} {} entries about blobs in {source}, naming {files} distinct files:", p.uncaught),
        )
        .with_lines(first_lines(&e.escaped))
    } else if contained > 0 {
        Check::new(
            "no-uncaught-exception",
            Status::Pass,
            format!("no {} entry mentions Blob or ENOENT under /blobs/ among {} entries of {source} ({contained} contained failures)", p.uncaught, entries.len()),
        )
    } else {
        Check::new("no-uncaught-exception", Status::Unknown, format!("{source} shows no failed blob write, so a clean log proves nothing"))
    };
    vec![injector, logged, uncaught]
}

#[cfg(test)]
mod tests {
    use super::*;

    // read_log entries as harperdb 4.7.29 answered them for node B.
    fn entries_4_7_29() -> Vec<LogEntry> {
        let v = json!([
            {"timestamp":"2026-11-26T06:09:18.479Z","thread":"main/0","level":"notify","tags":[],"message":"HarperDB successfully started."},
            {"timestamp":"2026-11-26T06:09:21.909Z","thread":"http/1","level":"error","tags":[],"message":"uncaughtException [Error: ENOENT: no such file or directory, open '/r/b/root/blobs/data/0/0/e'] {\n  errno: -2,\n  code: 'ENOENT',\n  syscall: 'open',\n  path: '/r/b/root/blobs/data/0/0/e'\n}"},
            {"timestamp":"2026-11-26T06:09:21.931Z","thread":"http/1","level":"error","tags":[],"message":"uncaughtException [Error: ENOENT: no such file or directory, open '/r/b/root/blobs/data/0/0/15'] {\n  errno: -2\n}"},
            {"timestamp":"2026-11-26T06:09:21.932Z","thread":"http/1","level":"error","tags":[],"message":"uncaughtException [Error: ENOENT: no such file or directory, open '/r/b/root/blobs/data/0/0/15'] {\n  errno: -2\n}"}
        ]);
        v.as_array().unwrap().iter().filter_map(entry_of).map(|(_, e)| e).collect()
    }

    #[test]
    fn a_read_log_entry_becomes_the_log_line_it_came_from() {
        let (ts, e) = entry_of(&json!({"timestamp":"2026-11-26T05:15:06.511Z","thread":"http/1","level":"error",
            "tags":["replication"],"message":"Blob save failed for 6 from 127.0.0.12"}))
        .unwrap();
        assert_eq!(ts, "2026-11-26T05:15:06.511Z");
        assert_eq!(e.text, "2026-11-26T05:15:06.511Z [http/1] [error] [replication]: Blob save failed for 6 from 127.0.0.12");
        assert_eq!(checks::parse_log(&e.text)[0].text, e.text);
    }

    #[test]
    fn on_4_7_29_the_log_shows_the_injector_fired_and_both_log_checks_fail() {
        let entries = entries_4_7_29();
        let c = log_checks(&entries, &LogPatterns::default(), "node B's log");
        let status: Vec<Status> = c.iter().map(|c| c.status).collect();
        assert_eq!(status, [Status::Pass, Status::Fail, Status::Fail]);
        assert!(c[0].evidence.starts_with("judged from node B's log: 2 distinct blob files under /blobs/ failed with ENOENT, 0 lines"), "{}", c[0].evidence);
        assert!(c[0].evidence.contains("fault log and exit summary stay on B's host"), "{}", c[0].evidence);
        assert!(c[2].evidence.starts_with("3 uncaughtException entries about blobs in node B's log, naming 2 distinct files:"), "{}", c[2].evidence);
        assert_eq!(c[2].lines[0], "2026-11-26T06:09:21.909Z [http/1] [error]: uncaughtException [Error: ENOENT: no such file or directory, open '/r/b/root/blobs/data/0/0/e'] {");
    }

    #[test]
    fn contained_failures_pass_and_a_quiet_log_decides_nothing() {
        let p = LogPatterns::default();
        let contained: Vec<LogEntry> = [6, 13]
            .iter()
            .map(|id| LogEntry { line: 0, text: format!("2026-11-26T05:15:06.511Z [http/1] [error] [replication]: Blob save failed for {id} from a") })
            .collect();
        let c = log_checks(&contained, &p, "B");
        assert_eq!(c.iter().map(|c| c.status).collect::<Vec<_>>(), [Status::Pass, Status::Pass, Status::Pass]);
        let quiet = &entries_4_7_29()[..1];
        let c = log_checks(quiet, &p, "B");
        assert_eq!(c.iter().map(|c| c.status).collect::<Vec<_>>(), [Status::Unknown, Status::Unknown, Status::Unknown]);
        assert!(c[0].evidence.contains("is libblobfail.so preloaded and armed on B"), "{}", c[0].evidence);
    }

    #[test]
    fn epoch_milliseconds_become_harpers_log_timestamps() {
        assert_eq!(log_timestamp(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(log_timestamp(1_795_673_370_612), "2026-11-26T06:09:30.612Z");
        assert_eq!(log_timestamp(951_782_400_001), "2000-02-29T00:00:00.001Z");
    }

    #[test]
    fn the_rest_url_is_derived_from_the_default_operations_port_only() {
        assert_eq!(derive_rest_url("http://127.0.0.3:9925", "b").unwrap(), "http://127.0.0.3:9926/");
        assert_eq!(derive_rest_url("https://db.example:9925/", "a").unwrap(), "https://db.example:9926/");
        let e = derive_rest_url("http://db.example:8080", "a").unwrap_err().to_string();
        assert!(e.contains("pass --rest-a URL"), "{e}");
        assert!(derive_rest_url("db.example:9925", "a").is_err());
    }
}
