//! The verdicts: each check is a pure function from what was observed (log
//! entries, the shim's records, API answers) to pass / fail / unknown with
//! the evidence a person needs to believe it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::Serialize;
use serde_json::Value;

use crate::api::shorten;
use crate::fault::{by_pid, FaultRecord, ShimSummary};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Fail,
    Unknown,
}

/// One named check, its status and why.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub name: String,
    pub status: Status,
    /// A sentence, then for a failure the offending lines (shortened).
    pub evidence: String,
    /// The offending log lines in full (first line of each entry).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub lines: Vec<String>,
}

impl Check {
    pub fn new(name: &str, status: Status, evidence: impl Into<String>) -> Check {
        Check { name: name.into(), status, evidence: evidence.into(), lines: Vec::new() }
    }

    pub fn with_lines(mut self, lines: Vec<String>) -> Check {
        const SHOWN: usize = 5;
        for l in lines.iter().take(SHOWN) {
            self.evidence.push_str("\n  ");
            self.evidence.push_str(&shorten_middle(l, 200));
        }
        if lines.len() > SHOWN {
            self.evidence.push_str(&format!("\n  … and {} more (all in report.json \"lines\")", lines.len() - SHOWN));
        }
        self.lines = lines;
        self
    }
}

/// At most `max` characters of a log line, cut in the middle: its start says
/// what happened, its end names the file.
pub fn shorten_middle(line: &str, max: usize) -> String {
    let chars: Vec<char> = line.chars().collect();
    if chars.len() <= max {
        return line.to_string();
    }
    let head = max * 3 / 5;
    let tail = max - head - 1;
    format!("{}…{}", chars[..head].iter().collect::<String>(), chars[chars.len() - tail..].iter().collect::<String>())
}

/// The log patterns, options so a user can adapt them to another Harper.
#[derive(Debug, Clone)]
pub struct LogPatterns {
    /// A line per contained blob-save failure (Harper ≥ 5.0.8).
    pub failure: String,
    /// A failure that escaped to the process's last-resort handler.
    pub uncaught: String,
}

impl Default for LogPatterns {
    fn default() -> Self {
        Self { failure: "Blob save failed for".into(), uncaught: "uncaughtException".into() }
    }
}

/// One log entry: a timestamped line and its continuation lines (Harper
/// prints an error's fields on the lines after it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    /// 1-based line number of the entry's first line.
    pub line: usize,
    pub text: String,
}

impl LogEntry {
    pub fn first_line(&self) -> &str {
        self.text.lines().next().unwrap_or("")
    }
}

fn starts_with_timestamp(l: &str) -> bool {
    let b = l.as_bytes();
    b.len() > 11 && b[..4].iter().all(u8::is_ascii_digit) && b[4] == b'-' && b[7] == b'-' && b[10] == b'T'
}

/// Splits an `hdb.log` into entries.
pub fn parse_log(text: &str) -> Vec<LogEntry> {
    let mut entries: Vec<LogEntry> = Vec::new();
    for (i, l) in text.lines().enumerate() {
        match entries.last_mut() {
            Some(e) if !starts_with_timestamp(l) => {
                e.text.push('\n');
                e.text.push_str(l);
            }
            _ => entries.push(LogEntry { line: i + 1, text: l.to_string() }),
        }
    }
    entries
}

/// An uncaught exception that is about a blob: it mentions `Blob`, or
/// `ENOENT` together with a path under `/blobs/`.
pub fn is_uncaught_blob_failure(e: &LogEntry, p: &LogPatterns) -> bool {
    e.first_line().contains(&p.uncaught)
        && (e.text.contains("Blob") || (e.text.contains("ENOENT") && e.text.contains("/blobs/")))
}

/// A contained blob-save failure line, e.g. Harper 5's
/// `[error] [replication]: Blob save failed for <id> from <peer>`.
pub fn is_failure_line(e: &LogEntry, p: &LogPatterns) -> bool {
    e.first_line().contains(&p.failure)
}

/// The record id and peer in a Harper 5 failure line.
pub fn parse_failure_line(line: &str, p: &LogPatterns) -> Option<(String, String)> {
    let rest = &line[line.find(&p.failure)? + p.failure.len()..];
    let (id, peer) = rest.trim().split_once(" from ")?;
    Some((id.trim().to_string(), peer.trim().to_string()))
}

fn numbered(e: &LogEntry) -> String {
    format!("hdb.log:{}: {}", e.line, e.first_line())
}

/// `injector-fired`: the shim injected faults, and exactly one per N matching
/// write-opens.
pub fn injector_fired(
    interval: u64,
    records: &[FaultRecord],
    summaries: &[ShimSummary],
    armed_lines: usize,
    blob_files_on_b: Option<u64>,
    log: &Path,
) -> Check {
    const NAME: &str = "injector-fired";
    if records.is_empty() {
        let why = if armed_lines == 0 {
            "the shim never armed on node B (no `blobfail: armed` line on its stderr)".to_string()
        } else {
            format!("the shim armed on node B but logged no fault in {}", log.display())
        };
        return Check::new(NAME, Status::Fail, format!("0 faults injected: {why}"));
    }
    let groups = by_pid(records);
    let mut parts = Vec::new();
    for (pid, recs) in &groups {
        let mut recs = recs.clone();
        recs.sort_by_key(|r| r.fault);
        // The k-th fault must be the (k·N)-th matching call: every Nth fails, no other.
        if let Some((i, r)) = recs.iter().enumerate().find(|(i, r)| r.fault != *i as u64 + 1 || r.seq != r.fault * interval) {
            return Check::new(
                NAME,
                Status::Fail,
                format!(
                    "pid {pid}: fault #{} is matching call {} but every {interval}th call should fail, \
                     so expected fault #{} at call {}",
                    r.fault,
                    r.seq,
                    i + 1,
                    (i as u64 + 1) * interval
                ),
            );
        }
        let k = recs.len() as u64;
        let matching = match (summaries.iter().rev().find(|s| s.pid == *pid), blob_files_on_b) {
            (Some(s), _) => {
                if s.faults != k {
                    return Check::new(
                        NAME,
                        Status::Fail,
                        format!("pid {pid}: the fault log has {k} faults but the shim's exit summary says faults={}", s.faults),
                    );
                }
                let cross = match blob_files_on_b {
                    Some(files) if groups.len() == 1 && files + k == s.matching => {
                        format!(" (= {files} blob files on B + {k} failed opens)")
                    }
                    Some(files) if groups.len() == 1 => {
                        format!(" (B holds {files} blob files, so {files} + {k} ≠ {}: some opens were not one-file-per-blob)", s.matching)
                    }
                    _ => String::new(),
                };
                (s.matching, format!("exit summary matching={}{cross}", s.matching))
            }
            (None, Some(files)) if groups.len() == 1 => {
                (files + k, format!("{files} blob files on B + {k} failed opens = {} write-opens", files + k))
            }
            _ => {
                return Check::new(
                    NAME,
                    Status::Unknown,
                    format!("pid {pid}: {k} faults logged, but no exit summary or blob-file count to compare with"),
                )
            }
        };
        let (matching, source) = matching;
        if k != matching / interval {
            return Check::new(
                NAME,
                Status::Fail,
                format!(
                    "pid {pid}: {k} faults but {source}, and {} / {interval} = {}",
                    matching,
                    matching / interval
                ),
            );
        }
        parts.push(format!(
            "pid {pid}: {k} faults at matching calls {interval}, {}, … {} (every {interval}th); {source}, {matching} / {interval} = {k}",
            2 * interval,
            k * interval
        ));
    }
    Check::new(NAME, Status::Pass, format!("{} faults in {}; {}", records.len(), log.display(), parts.join("; ")))
}

/// `blob-save-failure-logged`: node B logged one contained failure per fault.
pub fn blob_save_failure_logged(faults: usize, entries: &[LogEntry], p: &LogPatterns, log: &Path) -> Check {
    const NAME: &str = "blob-save-failure-logged";
    let found: Vec<&LogEntry> = entries.iter().filter(|e| is_failure_line(e, p)).collect();
    if faults == 0 {
        return Check::new(NAME, Status::Unknown, "no fault was injected, so there was no failure to log");
    }
    if found.len() >= faults {
        let ids: Vec<String> = found.iter().filter_map(|e| parse_failure_line(e.first_line(), p)).map(|(id, _)| id).collect();
        return Check::new(
            NAME,
            Status::Pass,
            format!(
                "{} lines with {:?} in {} for {faults} faults (record ids: {})",
                found.len(),
                p.failure,
                log.display(),
                if ids.is_empty() { "n/a".to_string() } else { ids.join(", ") }
            ),
        );
    }
    // Show what node B logged instead, so the reader sees where the failures went.
    let instead: Vec<String> = entries.iter().filter(|e| is_uncaught_blob_failure(e, p)).map(numbered).collect();
    let mut lines: Vec<String> = found.iter().map(|e| numbered(e)).collect();
    let what_instead = if instead.is_empty() {
        String::new()
    } else {
        format!("; instead it logged {} {} lines:", instead.len(), p.uncaught)
    };
    lines.extend(instead);
    Check::new(
        NAME,
        Status::Fail,
        format!(
            "{} lines with {:?} in {} for {faults} faults{what_instead}",
            found.len(),
            p.failure,
            log.display()
        ),
    )
    .with_lines(lines)
}

/// The file an escaped error names (`open '<path>'`), if any.
pub fn quoted_path(entry: &LogEntry) -> Option<&str> {
    let rest = &entry.text[entry.text.find("open '")? + "open '".len()..];
    Some(&rest[..rest.find('\'')?])
}

/// `no-uncaught-exception`: no uncaught exception on node B is about a blob.
/// `faulted` are the paths whose opens the shim failed, to tie each escaped
/// error to an injected fault.
pub fn no_uncaught_exception(faulted: &[String], entries: &[LogEntry], p: &LogPatterns, log: &Path) -> Check {
    const NAME: &str = "no-uncaught-exception";
    let faults = faulted.len();
    let bad: Vec<&LogEntry> = entries.iter().filter(|e| is_uncaught_blob_failure(e, p)).collect();
    if !bad.is_empty() {
        let paths: BTreeSet<&str> = bad.iter().filter_map(|e| quoted_path(e)).collect();
        let tied = faulted.iter().filter(|f| paths.contains(f.as_str())).count();
        return Check::new(
            NAME,
            Status::Fail,
            format!(
                "{} {} entries about blobs in {}, naming {} distinct files; {tied} of the {faults} faulted paths are among them:",
                bad.len(),
                p.uncaught,
                log.display(),
                paths.len()
            ),
        )
        .with_lines(bad.into_iter().map(numbered).collect());
    }
    if faults == 0 {
        return Check::new(NAME, Status::Unknown, "no fault was injected, so a clean log proves nothing");
    }
    Check::new(
        NAME,
        Status::Pass,
        format!(
            "no {} entry mentions Blob or ENOENT under /blobs/ among {} entries of {} ({faults} faults injected)",
            p.uncaught,
            entries.len(),
            log.display()
        ),
    )
}

/// The database sockets one node has to a peer, from `cluster_status`.
#[derive(Debug, Clone, PartialEq)]
pub struct PeerSockets {
    pub url: String,
    pub sockets: Vec<(String, bool)>,
}

impl PeerSockets {
    pub fn all_connected(&self) -> bool {
        !self.sockets.is_empty() && self.sockets.iter().all(|(_, c)| *c)
    }

    fn describe(&self) -> String {
        self.sockets
            .iter()
            .map(|(db, c)| format!("{db}: {}", if *c { "connected" } else { "not connected" }))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Finds the connection to `peer` (its node name or address) in a
/// `cluster_status` answer.
pub fn peer_sockets(status: &Value, peer: &str) -> Option<PeerSockets> {
    let conns = status.get("connections")?.as_array()?;
    let conn = conns.iter().find(|c| {
        c.get("name").and_then(Value::as_str) == Some(peer)
            || c.get("url").and_then(Value::as_str).is_some_and(|u| u.contains(&format!("//{peer}:")))
    })?;
    let sockets = conn
        .get("database_sockets")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|s| {
                    (
                        s.get("database").and_then(Value::as_str).unwrap_or("?").to_string(),
                        s.get("connected").and_then(Value::as_bool).unwrap_or(false),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    Some(PeerSockets { url: conn.get("url").and_then(Value::as_str).unwrap_or("").to_string(), sockets })
}

/// `peer-connected`: node B still reports node A connected.
pub fn peer_connected(status: Result<&Value, String>, peer: &str) -> Check {
    const NAME: &str = "peer-connected";
    let status = match status {
        Ok(s) => s,
        Err(e) => return Check::new(NAME, Status::Fail, format!("node B did not answer cluster_status: {e}")),
    };
    match peer_sockets(status, peer) {
        Some(p) if p.all_connected() => Check::new(
            NAME,
            Status::Pass,
            format!("node B's cluster_status shows A ({}) with {}", p.url, p.describe()),
        ),
        Some(p) => Check::new(
            NAME,
            Status::Fail,
            format!("node B's cluster_status lists A ({}) but {}", p.url, if p.sockets.is_empty() { "with no database socket".into() } else { p.describe() }),
        ),
        None => Check::new(
            NAME,
            Status::Fail,
            format!("node B's cluster_status does not list A ({peer}): {}", shorten(&status.to_string(), 200)),
        ),
    }
}

/// `liveness`: a fresh upsert on A made B's record count rise.
pub fn liveness(probe_id: &str, before: Option<u64>, after: Option<u64>, seconds: f64, error: Option<&str>) -> Check {
    const NAME: &str = "liveness";
    match (before, after) {
        (Some(b), Some(a)) if a > b => Check::new(
            NAME,
            Status::Pass,
            format!("upsert of {probe_id:?} on A reached B: B's record_count {b} → {a} within {seconds:.2} s"),
        ),
        (Some(b), Some(a)) => Check::new(
            NAME,
            Status::Fail,
            format!("upsert of {probe_id:?} on A did not reach B: B's record_count stayed {a} (was {b}) for {seconds:.1} s"),
        ),
        _ => Check::new(
            NAME,
            Status::Fail,
            format!("could not see the upsert of {probe_id:?} reach B: {}", error.unwrap_or("no record count from B")),
        ),
    }
}

/// What comparing every record of A with B's copy found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LossSurvey {
    pub records_on_a: usize,
    pub records_on_b: usize,
    pub compared: usize,
    pub missing_on_b: Vec<String>,
    /// id → why B could not read the blob back (missing file, hang, error).
    pub blob_unreadable_on_b: BTreeMap<String, String>,
    /// id → (bytes on B, bytes on A).
    pub blob_short_on_b: BTreeMap<String, (u64, u64)>,
    pub blob_differs_on_b: Vec<String>,
    /// Records whose blob A itself could not serve: nothing to compare with.
    pub unreadable_on_a: BTreeMap<String, String>,
}

impl LossSurvey {
    /// The survey's counts, as report.json figures.
    pub fn figures(&self) -> [(&'static str, serde_json::Value); 5] {
        use serde_json::json;
        [
            ("records_compared", json!(self.compared)),
            ("records_missing_on_b", json!(self.missing_on_b.len())),
            ("blobs_unreadable_on_b", json!(self.blob_unreadable_on_b.len())),
            ("blobs_short_on_b", json!(self.blob_short_on_b.len())),
            ("blobs_differing_on_b", json!(self.blob_differs_on_b.len())),
        ]
    }
}

fn id_list<'a>(ids: impl Iterator<Item = &'a String>) -> String {
    let mut ids: Vec<&String> = ids.collect();
    // Numeric ids in numeric order (7 before 11), others after, as text.
    ids.sort_by_key(|id| (id.parse::<u64>().map_or(1, |_| 0), id.parse::<u64>().unwrap_or(0), id.to_string()));
    let shown: Vec<&str> = ids.iter().take(40).map(|s| s.as_str()).collect();
    let more = if ids.len() > 40 { format!(", … ({} more)", ids.len() - 40) } else { String::new() };
    format!("{}{more}", shown.join(", "))
}

/// `nothing-lost`: every record on A is on B with its whole blob.
pub fn nothing_lost(s: &LossSurvey) -> Check {
    const NAME: &str = "nothing-lost";
    let lost = s.missing_on_b.len() + s.blob_unreadable_on_b.len() + s.blob_short_on_b.len() + s.blob_differs_on_b.len();
    if lost > 0 {
        let mut parts = vec![format!(
            "{lost} of {} records on A are lost or damaged on B ({} records on B)",
            s.records_on_a, s.records_on_b
        )];
        if !s.missing_on_b.is_empty() {
            parts.push(format!("missing on B ({}): {}", s.missing_on_b.len(), id_list(s.missing_on_b.iter())));
        }
        if !s.blob_unreadable_on_b.is_empty() {
            let first = s.blob_unreadable_on_b.values().next().cloned().unwrap_or_default();
            parts.push(format!(
                "blob unreadable on B ({}; e.g. {first}): {}",
                s.blob_unreadable_on_b.len(),
                id_list(s.blob_unreadable_on_b.keys())
            ));
        }
        if !s.blob_short_on_b.is_empty() {
            parts.push(format!("blob short on B ({}): {}", s.blob_short_on_b.len(), id_list(s.blob_short_on_b.keys())));
        }
        if !s.blob_differs_on_b.is_empty() {
            parts.push(format!("blob content differs on B ({}): {}", s.blob_differs_on_b.len(), id_list(s.blob_differs_on_b.iter())));
        }
        return Check::new(NAME, Status::Fail, parts.join("\n"));
    }
    if s.compared == 0 || !s.unreadable_on_a.is_empty() {
        return Check::new(
            NAME,
            Status::Unknown,
            format!(
                "compared {} of {} records; A could not serve the blob of {}: {}",
                s.compared,
                s.records_on_a,
                s.unreadable_on_a.len(),
                id_list(s.unreadable_on_a.keys())
            ),
        );
    }
    Check::new(
        NAME,
        Status::Pass,
        format!("all {} records on A are on B with the same blob (size and SHA-256)", s.compared),
    )
}


/// `caught-up`: B's exact count reached A's after its restart.
pub fn caught_up(records_a: u64, last_b: Option<u64>, catch_up_seconds: Option<f64>, bound: f64, death: Option<&str>) -> Check {
    const NAME: &str = "caught-up";
    match (catch_up_seconds, death) {
        (Some(secs), _) => Check::new(
            NAME,
            Status::Pass,
            format!("B's record_count reached A's {records_a} {secs:.1} s after B was launched"),
        ),
        (None, Some(d)) => Check::new(NAME, Status::Fail, format!("B did not catch up: {d}")),
        (None, None) => Check::new(
            NAME,
            Status::Fail,
            format!(
                "B's record_count was {} of A's {records_a} when the {bound:.0} s bound ran out",
                last_b.map(|n| n.to_string()).unwrap_or_else(|| "never read".into())
            ),
        ),
    }
}

/// `no-worker-oom`: no `ERR_WORKER_OUT_OF_MEMORY` in B's log or output.
pub fn no_worker_oom(sources: &[(&Path, &str)]) -> Check {
    const NAME: &str = "no-worker-oom";
    const PATTERN: &str = "ERR_WORKER_OUT_OF_MEMORY";
    let mut bad = Vec::new();
    for (path, text) in sources {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        for (i, l) in text.lines().enumerate() {
            if l.contains(PATTERN) {
                bad.push(format!("{name}:{}: {l}", i + 1));
            }
        }
    }
    let scanned: Vec<String> = sources.iter().map(|(p, _)| p.display().to_string()).collect();
    if bad.is_empty() {
        Check::new(NAME, Status::Pass, format!("no {PATTERN} in {}", scanned.join(", ")))
    } else {
        Check::new(NAME, Status::Fail, format!("{} lines with {PATTERN}:", bad.len())).with_lines(bad)
    }
}

/// The memory figures `peak-rss-below-limit` judges: the API's samples,
/// the kernel's (`None` with the reason when `/proc` gave nothing), and when
/// B's API first answered (before that, B was replaying the backlog).
pub struct MemoryPeaks {
    /// The largest API-sampled RSS and its time.
    pub api: Option<(u64, f64)>,
    pub os: Result<crate::monitor::OsPeak, String>,
    pub first_answer: Option<f64>,
    pub samples_ok: usize,
    pub samples: usize,
}

/// `peak-rss-below-limit`: B's highest RSS stayed under the limit, and
/// sampling worked (a peak of 0 proves nothing). Judges the larger of the
/// API's and the kernel's peak and says which source gave it: on 4.7.29 the API is silent during
/// the replay, so only the kernel sees that window.
pub fn peak_rss_below_limit(peaks: &MemoryPeaks, limit: u64) -> Check {
    use crate::monitor::OsPeakSource;
    const NAME: &str = "peak-rss-below-limit";
    let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
    let (ok, all) = (peaks.samples_ok, peaks.samples);
    let phase = |t: f64| match peaks.first_answer {
        Some(a) if t < a => ", during the replay, before B's API answered",
        Some(_) => ", after B's API answered",
        None => ", B's API never answered",
    };
    let api_text = match peaks.api {
        Some((p, t)) => format!("API samples peaked at {:.0} MiB at {t:.1} s ({ok} of {all} samples answered)", mib(p)),
        None => format!("no API sample answered ({ok} of {all})"),
    };
    // (peak, where it came from, whether the API gave it)
    let (peak, evidence, from_api) = match (&peaks.os, peaks.api) {
        (Ok(os), api) if os.bytes > 0 && os.bytes >= api.map_or(0, |a| a.0) => {
            let source = match os.source {
                OsPeakSource::Sampled { t } => format!("kernel VmRSS of B's process group at {t:.1} s{}", phase(t)),
                OsPeakSource::HighWaterMark { pid, after, by } => {
                    let when = match (after, by) {
                        (Some(a), Some(b)) => format!(", reached between {a:.1} and {b:.1} s"),
                        (None, Some(b)) => format!(", reached by {b:.1} s"),
                        (Some(a), None) => format!(", reached after {a:.1} s"),
                        (None, None) => String::new(),
                    };
                    // In the replay only if the whole bracket is before the API's first answer.
                    let phase = match (peaks.first_answer, after, by) {
                        (Some(f), _, Some(b)) if b <= f => ", during the replay, before B's API answered",
                        (Some(f), Some(a), _) if a >= f => ", after B's API answered",
                        (Some(_), _, _) => ", around when B's API first answered",
                        (None, _, _) => ", B's API never answered",
                    };
                    format!("kernel high-water mark VmHWM of pid {pid}{when}{phase}")
                }
            };
            (os.bytes, format!("({source})"), false)
        }
        (Ok(os), Some((p, t))) => (p, format!("(API sample at {t:.1} s; the kernel's peak was {:.0} MiB)", mib(os.bytes)), true),
        (Err(why), Some((p, t))) => {
            (p, format!("(API sample at {t:.1} s; no kernel figures: {why}, so the replay window is unmeasured)"), true)
        }
        (_, None) => {
            let why = peaks.os.as_ref().err().map(|w| format!("; no kernel figures: {w}")).unwrap_or_default();
            return Check::new(NAME, Status::Unknown, format!("no usable memory sample ({ok} of {all} samples answered{why}), so no peak to judge"));
        }
    };
    let api_tail = if from_api { format!("{ok} of {all} samples answered") } else { api_text };
    if peak == 0 {
        return Check::new(NAME, Status::Unknown, format!("no usable memory sample ({api_tail}), so no peak to judge"));
    }
    let (status, cmp) = if peak < limit { (Status::Pass, "<") } else { (Status::Fail, "≥") };
    Check::new(NAME, status, format!("peak RSS {:.0} MiB {evidence} {cmp} limit {:.0} MiB; {api_tail}", mib(peak), mib(limit)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    // Real lines from node B's hdb.log under harperdb 4.7.29 with every 7th
    // blob write-open failing.
    const LOG_4_7_29: &str = "\
2026-11-26T05:04:47.241Z [main/0] [notify]: HarperDB successfully started.
2026-11-26T05:04:50.283Z [http/1] [warn] [replication]: Requesting full copy of database data from wss://127.0.0.12:9933
2026-11-26T05:15:06.511Z [http/1] [error]: uncaughtException [Error: ENOENT: no such file or directory, open '/tmp/ex2/b/root/blobs/data/0/0/7'] {
  errno: -2,
  code: 'ENOENT',
  syscall: 'open',
  path: '/tmp/ex2/b/root/blobs/data/0/0/7'
}
2026-11-26T05:15:06.614Z [http/1] [error]: uncaughtException [Error: ENOENT: no such file or directory, open '/tmp/ex2/b/root/blobs/data/0/0/e'] {
  errno: -2,
  code: 'ENOENT',
  syscall: 'open',
  path: '/tmp/ex2/b/root/blobs/data/0/0/e'
}
";
    // The line Harper 5 (harper-pro ≥ 5.0.8) logs for a contained failure.
    const LOG_5: &str = "\
2026-11-26T05:15:06.511Z [http/1] [error] [replication]: Blob save failed for 6 from 127.0.0.12
2026-11-26T05:15:06.614Z [http/1] [error] [replication]: Blob save failed for 13 from 127.0.0.12
";

    fn log() -> &'static Path {
        Path::new("node-b/root/log/hdb.log")
    }

    fn rec(seq: u64, fault: u64, pid: u32) -> FaultRecord {
        FaultRecord { seq, fault, pid, tid: pid + 1, function: "open64".into(), path: "/r/blobs/data/0/0/7".into(), flags: 524865, errno: 2 }
    }

    #[test]
    fn long_lines_are_cut_in_the_middle_keeping_the_path() {
        let line = format!("hdb.log:7: 2026-11-26T05:52:37.570Z [http/1] [error]: uncaughtException [Error: ENOENT: no such file or directory, open '{}/blobs/data/0/0/7'] {{", "/x".repeat(60));
        let short = shorten_middle(&line, 200);
        assert_eq!(short.chars().count(), 200);
        assert!(short.starts_with("hdb.log:7: 2026-11-26T05:52:37.570Z [http/1] [error]: uncaughtException"), "{short}");
        assert!(short.ends_with("/blobs/data/0/0/7'] {"), "{short}");
        assert_eq!(shorten_middle("short", 200), "short");
    }

    #[test]
    fn log_entries_keep_an_errors_continuation_lines() {
        let e = parse_log(LOG_4_7_29);
        assert_eq!(e.len(), 4);
        assert_eq!(e[2].line, 3);
        assert!(e[2].text.contains("code: 'ENOENT'"));
        assert!(e[2].first_line().ends_with("blobs/data/0/0/7'] {"));
    }

    #[test]
    fn the_4_7_29_uncaught_enoent_under_blobs_is_an_escaped_blob_failure() {
        let p = LogPatterns::default();
        let e = parse_log(LOG_4_7_29);
        let hits: Vec<_> = e.iter().filter(|x| is_uncaught_blob_failure(x, &p)).collect();
        assert_eq!(hits.len(), 2);
        assert!(!e.iter().any(|x| is_failure_line(x, &p)));
    }

    #[test]
    fn an_uncaught_exception_about_something_else_is_not_counted() {
        let p = LogPatterns::default();
        let e = parse_log(
            "2026-11-26T05:15:06.511Z [http/1] [error]: uncaughtException [Error: ENOENT: no such file or directory, open '/r/config/x.yaml'] {\n}\n\
             2026-11-26T05:15:06.511Z [http/1] [error]: uncaughtException [TypeError: x is undefined]\n",
        );
        assert!(!e.iter().any(|x| is_uncaught_blob_failure(x, &p)));
        let e = parse_log("2026-11-26T05:15:06.511Z [http/1] [error]: uncaughtException [Error: Blob is not ready]\n");
        assert!(is_uncaught_blob_failure(&e[0], &p));
    }

    #[test]
    fn the_harper_5_failure_line_matches_and_yields_id_and_peer() {
        let p = LogPatterns::default();
        let e = parse_log(LOG_5);
        assert!(e.iter().all(|x| is_failure_line(x, &p)));
        assert_eq!(parse_failure_line(e[1].first_line(), &p), Some(("13".into(), "127.0.0.12".into())));
        assert!(!e.iter().any(|x| is_uncaught_blob_failure(x, &p)));
    }

    #[test]
    fn on_4_7_29_both_log_checks_fail_with_the_uncaught_lines_as_evidence() {
        let p = LogPatterns::default();
        let e = parse_log(LOG_4_7_29);
        let logged = blob_save_failure_logged(2, &e, &p, log());
        assert_eq!(logged.status, Status::Fail);
        assert!(logged.evidence.starts_with("0 lines with \"Blob save failed for\""), "{}", logged.evidence);
        assert_eq!(logged.lines.len(), 2);
        let faulted = vec!["/tmp/ex2/b/root/blobs/data/0/0/7".to_string(), "/tmp/ex2/b/root/blobs/data/0/0/e".to_string()];
        let uncaught = no_uncaught_exception(&faulted, &e, &p, log());
        assert_eq!(uncaught.status, Status::Fail);
        assert_eq!(uncaught.lines.len(), 2);
        assert_eq!(
            uncaught.lines[0],
            "hdb.log:3: 2026-11-26T05:15:06.511Z [http/1] [error]: uncaughtException [Error: ENOENT: no such file or directory, open '/tmp/ex2/b/root/blobs/data/0/0/7'] {"
        );
        assert!(uncaught.evidence.contains("open '/tmp/ex2/b/root/blobs/data/0/0/e'"));
        assert!(uncaught.evidence.contains("naming 2 distinct files; 2 of the 2 faulted paths are among them"), "{}", uncaught.evidence);
        assert_eq!(quoted_path(&e[2]), Some("/tmp/ex2/b/root/blobs/data/0/0/7"));
    }

    #[test]
    fn on_harper_5_both_log_checks_pass() {
        let p = LogPatterns::default();
        let e = parse_log(LOG_5);
        let logged = blob_save_failure_logged(2, &e, &p, log());
        assert_eq!(logged.status, Status::Pass, "{}", logged.evidence);
        assert!(logged.evidence.contains("record ids: 6, 13"));
        assert_eq!(no_uncaught_exception(&["a".into(), "b".into()], &e, &p, log()).status, Status::Pass);
    }

    #[test]
    fn fewer_failure_lines_than_faults_fails() {
        let p = LogPatterns::default();
        let e = parse_log(LOG_5);
        assert_eq!(blob_save_failure_logged(3, &e, &p, log()).status, Status::Fail);
    }

    #[test]
    fn without_faults_the_log_checks_cannot_pass() {
        let p = LogPatterns::default();
        assert_eq!(blob_save_failure_logged(0, &parse_log(LOG_5), &p, log()).status, Status::Unknown);
        assert_eq!(no_uncaught_exception(&[], &[], &p, log()).status, Status::Unknown);
        // but an escaped failure fails even when the count of faults is unknown
        assert_eq!(no_uncaught_exception(&[], &parse_log(LOG_4_7_29), &p, log()).status, Status::Fail);
    }

    #[test]
    fn custom_patterns_adapt_to_another_harper() {
        let p = LogPatterns { failure: "could not store blob".into(), uncaught: "unhandledRejection".into() };
        let e = parse_log(
            "2026-11-26T05:15:06.511Z [http/1] [error]: could not store blob 9 from a\n\
             2026-11-26T05:15:06.611Z [http/1] [error]: unhandledRejection Blob write failed\n",
        );
        assert_eq!(blob_save_failure_logged(1, &e, &p, log()).status, Status::Pass);
        assert_eq!(no_uncaught_exception(&["x".into()], &e, &p, log()).status, Status::Fail);
    }

    #[test]
    fn injector_passes_when_every_nth_call_failed_and_counts_agree() {
        let recs: Vec<_> = (1..=8).map(|k| rec(7 * k, k, 20916)).collect();
        let s = [ShimSummary { pid: 20916, matching: 60, faults: 8 }];
        let c = injector_fired(7, &recs, &s, 1, Some(52), log());
        assert_eq!(c.status, Status::Pass, "{}", c.evidence);
        assert!(
            c.evidence.contains("exit summary matching=60 (= 52 blob files on B + 8 failed opens), 60 / 7 = 8"),
            "{}",
            c.evidence
        );
        // Without the exit summary (B killed), the blob files on B stand in.
        let c = injector_fired(7, &recs, &[], 1, Some(52), log());
        assert_eq!(c.status, Status::Pass, "{}", c.evidence);
        assert!(c.evidence.contains("52 blob files on B + 8 failed opens = 60 write-opens"), "{}", c.evidence);
    }

    #[test]
    fn injector_fails_when_counts_disagree_with_the_interval() {
        let recs: Vec<_> = (1..=8).map(|k| rec(7 * k, k, 1)).collect();
        let c = injector_fired(7, &recs, &[ShimSummary { pid: 1, matching: 80, faults: 8 }], 1, None, log());
        assert_eq!(c.status, Status::Fail);
        assert!(c.evidence.contains("80 / 7 = 11"), "{}", c.evidence);
        let c = injector_fired(7, &recs, &[ShimSummary { pid: 1, matching: 60, faults: 9 }], 1, None, log());
        assert_eq!(c.status, Status::Fail);
    }

    #[test]
    fn injector_fails_when_a_fault_is_off_the_interval() {
        let recs = vec![rec(7, 1, 1), rec(15, 2, 1)];
        let c = injector_fired(7, &recs, &[ShimSummary { pid: 1, matching: 15, faults: 2 }], 1, None, log());
        assert_eq!(c.status, Status::Fail);
        assert!(c.evidence.contains("fault #2 is matching call 15"), "{}", c.evidence);
    }

    #[test]
    fn injector_fails_without_faults_and_says_whether_the_shim_armed() {
        let c = injector_fired(7, &[], &[], 0, Some(60), log());
        assert_eq!(c.status, Status::Fail);
        assert!(c.evidence.contains("never armed"));
        let c = injector_fired(7, &[], &[], 1, Some(60), log());
        assert!(c.evidence.contains("logged no fault"));
    }

    #[test]
    fn injector_groups_faults_by_process() {
        // A restarted node: a second pid whose counters restart at 0.
        let mut recs: Vec<_> = (1..=2).map(|k| rec(7 * k, k, 10)).collect();
        recs.extend((1..=3).map(|k| rec(7 * k, k, 11)));
        let s = [ShimSummary { pid: 10, matching: 20, faults: 2 }, ShimSummary { pid: 11, matching: 21, faults: 3 }];
        let c = injector_fired(7, &recs, &s, 2, None, log());
        assert_eq!(c.status, Status::Pass, "{}", c.evidence);
    }

    // cluster_status as node B answered it on 4.7.29 (trimmed).
    fn status(connected: bool) -> Value {
        json!({"type":"cluster-status","connections":[{"url":"wss://127.0.0.12:9933","name":"127.0.0.12",
          "database_sockets":[{"database":"system","connected":connected,"threadId":1},{"database":"data","connected":true,"threadId":1}]}],
          "node_name":"127.0.0.13","url":"wss://127.0.0.13:9933","is_enabled":true})
    }

    #[test]
    fn peer_connected_reads_every_database_socket() {
        let c = peer_connected(Ok(&status(true)), "127.0.0.12");
        assert_eq!(c.status, Status::Pass, "{}", c.evidence);
        assert!(c.evidence.contains("system: connected, data: connected"));
        let c = peer_connected(Ok(&status(false)), "127.0.0.12");
        assert_eq!(c.status, Status::Fail);
        assert!(c.evidence.contains("system: not connected"));
        assert_eq!(peer_connected(Ok(&status(true)), "127.0.0.99").status, Status::Fail);
        assert_eq!(peer_connected(Err("connection refused".into()), "127.0.0.12").status, Status::Fail);
    }

    #[test]
    fn liveness_needs_the_count_to_rise() {
        assert_eq!(liveness("p", Some(400), Some(401), 0.4, None).status, Status::Pass);
        assert_eq!(liveness("p", Some(400), Some(400), 30.0, None).status, Status::Fail);
        assert_eq!(liveness("p", None, None, 0.0, Some("refused")).status, Status::Fail);
    }

    #[test]
    fn nothing_lost_lists_lost_records_by_id() {
        let mut s = LossSurvey { records_on_a: 10, records_on_b: 9, compared: 9, ..Default::default() };
        assert_eq!(nothing_lost(&s).status, Status::Pass);
        s.missing_on_b.extend(["11".into(), "4".into(), "x".into()]);
        s.blob_unreadable_on_b.insert("6".into(), "no answer within 4 s".into());
        s.blob_short_on_b.insert("8".into(), (100, 51200));
        let c = nothing_lost(&s);
        assert_eq!(c.status, Status::Fail);
        assert!(c.evidence.contains("missing on B (3): 4, 11, x"), "{}", c.evidence);
        assert!(c.evidence.contains("blob unreadable on B (1; e.g. no answer within 4 s): 6"), "{}", c.evidence);
        assert!(c.evidence.contains("blob short on B (1): 8"), "{}", c.evidence);
    }

    #[test]
    fn nothing_lost_is_unknown_when_a_cannot_serve_what_to_compare() {
        let mut s = LossSurvey { records_on_a: 2, records_on_b: 2, compared: 1, ..Default::default() };
        s.unreadable_on_a.insert("1".into(), "504".into());
        assert_eq!(nothing_lost(&s).status, Status::Unknown);
        assert_eq!(nothing_lost(&LossSurvey::default()).status, Status::Unknown);
    }

    #[test]
    fn caught_up_passes_with_the_time_and_fails_with_the_reason() {
        let c = caught_up(20000, Some(20000), Some(12.34), 180.0, None);
        assert_eq!(c.status, Status::Pass);
        assert!(c.evidence.contains("20000 12.3 s"), "{}", c.evidence);
        let c = caught_up(20000, Some(15000), None, 180.0, None);
        assert_eq!(c.status, Status::Fail);
        assert!(c.evidence.contains("was 15000 of A's 20000"), "{}", c.evidence);
        let c = caught_up(20000, None, None, 180.0, Some("node b (pid 9) died: killed by signal SIGABRT"));
        assert!(c.evidence.contains("SIGABRT"));
    }

    #[test]
    fn worker_oom_is_found_in_any_source_with_its_line() {
        let log = Path::new("/r/hdb.log");
        let ok = "2026-11-26T05:04:47.241Z [main/0] [notify]: HarperDB successfully started.\n";
        assert_eq!(no_worker_oom(&[(log, ok)]).status, Status::Pass);
        let oom = "2026-11-26T05:04:47.241Z [main/0] [error]: Worker 1 exited: Error [ERR_WORKER_OUT_OF_MEMORY]: Worker terminated due to reaching memory limit: JS heap out of memory\n";
        let c = no_worker_oom(&[(log, ok), (Path::new("/r/stderr.log"), oom)]);
        assert_eq!(c.status, Status::Fail);
        assert!(c.lines[0].starts_with("stderr.log:1: "), "{:?}", c.lines);
    }

    #[test]
    fn peak_rss_needs_a_real_peak_under_the_limit() {
        let gib = 1024 * 1024 * 1024;
        let peaks = |api: Option<(u64, f64)>| MemoryPeaks {
            api,
            os: Err("no local process".into()),
            first_answer: Some(3.0),
            samples_ok: 10,
            samples: 12,
        };
        assert_eq!(peak_rss_below_limit(&peaks(Some((gib, 3.0))), 3 * gib / 2).status, Status::Pass);
        assert_eq!(peak_rss_below_limit(&peaks(Some((2 * gib, 3.0))), 3 * gib / 2).status, Status::Fail);
        assert_eq!(peak_rss_below_limit(&peaks(None), gib).status, Status::Unknown);
        assert_eq!(peak_rss_below_limit(&peaks(Some((0, 0.0))), gib).status, Status::Unknown);
        let c = peak_rss_below_limit(&peaks(Some((gib, 3.0))), 3 * gib / 2);
        assert!(c.evidence.contains("no kernel figures: no local process"), "{}", c.evidence);
    }

    #[test]
    fn peak_rss_judges_the_kernels_peak_from_the_replay_when_it_is_higher() {
        use crate::monitor::{OsPeak, OsPeakSource};
        let mib = 1024 * 1024;
        let peaks = |os_bytes: u64, source: OsPeakSource| MemoryPeaks {
            api: Some((387 * mib, 9.9)),
            os: Ok(OsPeak { bytes: os_bytes, source }),
            first_answer: Some(3.5),
            samples_ok: 14,
            samples: 20,
        };
        let c = peak_rss_below_limit(&peaks(612 * mib, OsPeakSource::HighWaterMark { pid: 42, after: Some(2.5), by: Some(3.0) }), 1536 * mib);
        assert_eq!(c.status, Status::Pass);
        assert_eq!(
            c.evidence,
            "peak RSS 612 MiB (kernel high-water mark VmHWM of pid 42, reached between 2.5 and 3.0 s, during the replay, before B's API answered) \
             < limit 1536 MiB; API samples peaked at 387 MiB at 9.9 s (14 of 20 samples answered)"
        );
        // Over the limit only in the replay window: a failure the API alone would miss.
        let c = peak_rss_below_limit(&peaks(1600 * mib, OsPeakSource::Sampled { t: 2.0 }), 1536 * mib);
        assert_eq!(c.status, Status::Fail, "{}", c.evidence);
        assert!(c.evidence.contains("kernel VmRSS of B's process group at 2.0 s, during the replay"), "{}", c.evidence);
        // The API's own figure wins when it is the larger one.
        let c = peak_rss_below_limit(&peaks(300 * mib, OsPeakSource::Sampled { t: 9.5 }), 1536 * mib);
        assert!(c.evidence.starts_with("peak RSS 387 MiB (API sample at 9.9 s; the kernel's peak was 300 MiB)"), "{}", c.evidence);
    }
}
