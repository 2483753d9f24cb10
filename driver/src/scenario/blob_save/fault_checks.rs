//! blob-save's checks that follow the injected fault, judged locally: did
//! the shim do what the plan says (`injector-fired`), did B contain each
//! damaged blob (`blob-save-failure-logged`, `no-uncaught-exception`), and
//! do reads of the damaged records get an answer without escaping
//! (`damaged-reads-contained`). Pure functions from what was observed (the
//! shim's fault log and exit summaries, B's `hdb.log`, the reads) to a verdict.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::fault::{by_pid, FaultLog, FaultRecord, LogSummary, PlanSpec, ShimSummary};
use crate::harper_log::{is_failure_line, numbered, parse_failure_line, quoted_path, FaultSignature, LogEntry, LogPatterns, Tie};
use crate::model::{Check, Status};

/// What the shim says it did on node B.
pub struct Injection<'a> {
    pub spec: &'a PlanSpec,
    pub log: &'a FaultLog,
    /// `blobfail: summary` lines of B's stderr (for a log without summaries).
    pub stderr_summaries: &'a [ShimSummary],
    pub armed_lines: usize,
    pub blob_files_on_b: Option<u64>,
    pub log_path: &'a Path,
}

impl Injection<'_> {
    /// Each process's summary: the fault log's own, else its stderr line
    /// (which has no per-family counts: an open-only shim's totals).
    fn summaries(&self) -> BTreeMap<u32, LogSummary> {
        let mut m: BTreeMap<u32, LogSummary> = self
            .stderr_summaries
            .iter()
            .map(|s| (s.pid, LogSummary { pid: s.pid, matching: s.matching, faults: s.faults, calls: BTreeMap::new(), space_used: None, space_faults: None }))
            .collect();
        for s in &self.log.summaries {
            m.insert(s.pid, s.clone());
        }
        m
    }
}

const INJECTOR: &str = "injector-fired";

/// `injector-fired`: the shim did what the plan says, family by family: the
/// k-th fault of a family at its (k·N)-th matching call and faults =
/// matching ÷ N; for a full disk, writes refused once the budget was used;
/// for a slow disk, calls delayed and none failed. A plan that finds
/// nothing to act on (a Harper that never syncs a blob file) fails, saying so.
pub fn injector_fired(i: &Injection) -> Check {
    let records = &i.log.records;
    let summaries = i.summaries();
    if records.is_empty() && summaries.is_empty() && i.armed_lines == 0 {
        return Check::new(INJECTOR, Status::Fail, "0 faults injected: the shim never armed on node B (no `blobfail: armed` line on its stderr)");
    }
    if let Some(ms) = i.spec.delay_ms {
        return delays(i, ms, &summaries);
    }
    if let Some(budget) = i.spec.space_bytes {
        return full_disk(i, budget, &summaries);
    }
    every_nth(i, &summaries)
}

fn family_counts(s: &LogSummary, calls: &[String]) -> String {
    calls
        .iter()
        .map(|f| match s.family(f) {
            Some(c) => format!("{f}={}", c.matching),
            None => format!("{f}=?"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn delays(i: &Injection, ms: u64, summaries: &BTreeMap<u32, LogSummary>) -> Check {
    if !i.log.records.is_empty() {
        return Check::new(
            INJECTOR,
            Status::Fail,
            format!("a slow-disk plan fails nothing, but {} faults are in {}", i.log.records.len(), i.log_path.display()),
        );
    }
    if summaries.is_empty() {
        return Check::new(
            INJECTOR,
            Status::Unknown,
            "no exit summary from the shim on node B (it did not exit through exit()): how many calls it delayed is unknown",
        );
    }
    let delayed: u64 = summaries.values().map(|s| i.spec.calls.iter().filter_map(|f| s.family(f)).map(|c| c.matching).sum::<u64>()).sum();
    let per: Vec<String> = summaries.values().map(|s| format!("pid {}: {}", s.pid, family_counts(s, &i.spec.calls))).collect();
    if delayed == 0 {
        return Check::new(
            INJECTOR,
            Status::Fail,
            format!("0 calls delayed: node B made no {} call on a blob file ({})", i.spec.calls.join("/"), per.join("; ")),
        );
    }
    Check::new(
        INJECTOR,
        Status::Pass,
        format!("{delayed} calls on blob files delayed by {ms} ms each, none failed ({}; from the exit summary)", per.join("; ")),
    )
}

fn full_disk(i: &Injection, budget: u64, summaries: &BTreeMap<u32, LogSummary>) -> Check {
    let (space, other): (Vec<&FaultRecord>, Vec<&FaultRecord>) = i.log.records.iter().partition(|r| r.space);
    if !other.is_empty() {
        return Check::new(
            INJECTOR,
            Status::Fail,
            format!("a disk-full plan only refuses writes past its budget, but {} every-Nth faults are in {}", other.len(), i.log_path.display()),
        );
    }
    let used: Vec<String> = summaries
        .values()
        .map(|s| format!("pid {}: used {} of {budget} bytes, space_faults={}", s.pid, opt(s.space_used), opt(s.space_faults)))
        .collect();
    if space.is_empty() {
        let why = if used.is_empty() { "and no exit summary says how much was written".to_string() } else { used.join("; ") };
        return Check::new(INJECTOR, Status::Fail, format!("0 writes refused: node B's blob writes never reached the budget of {budget} bytes ({why})"));
    }
    for (pid, recs) in by_pid(&i.log.records) {
        let Some(s) = summaries.get(&pid) else { continue };
        if s.space_faults != Some(recs.len() as u64) {
            return Check::new(
                INJECTOR,
                Status::Fail,
                format!("pid {pid}: the fault log has {} refused writes but the exit summary says space_faults={}", recs.len(), opt(s.space_faults)),
            );
        }
        if s.space_used.is_some_and(|u| u > budget) {
            return Check::new(INJECTOR, Status::Fail, format!("pid {pid}: blob writes used {} bytes, over the budget of {budget}", opt(s.space_used)));
        }
    }
    let short = space.iter().filter(|r| r.errno == 0).count();
    let source = if used.is_empty() { "no exit summary (B did not exit through exit())".to_string() } else { used.join("; ") };
    Check::new(
        INJECTOR,
        Status::Pass,
        format!(
            "{} writes to blob files refused once the budget of {budget} bytes was used ({short} short, {} with {}) in {}; {source}",
            space.len(),
            space.len() - short,
            i.spec.errno.as_deref().unwrap_or("ENOSPC"),
            i.log_path.display()
        ),
    )
}

fn opt(v: Option<u64>) -> String {
    v.map_or("?".into(), |v| v.to_string())
}

fn every_nth(i: &Injection, summaries: &BTreeMap<u32, LogSummary>) -> Check {
    let n = i.spec.interval.unwrap_or(1);
    let records = &i.log.records;
    if let Some(r) = records.iter().find(|r| !i.spec.calls.contains(&r.call) || r.space) {
        return Check::new(INJECTOR, Status::Fail, format!("fault #{} is a {} call, which the plan ({}) does not fail", r.fault, r.call, i.spec.calls.join(",")));
    }
    let groups = by_pid(records);
    let single = groups.len() <= 1 && summaries.len() <= 1;
    let mut parts = Vec::new();
    let mut unknown = Vec::new();
    let pids: BTreeSet<u32> = groups.keys().chain(summaries.keys()).copied().collect();
    for pid in pids {
        let recs = groups.get(&pid).cloned().unwrap_or_default();
        for family in &i.spec.calls {
            let mut fam: Vec<&FaultRecord> = recs.iter().copied().filter(|r| &r.call == family).collect();
            fam.sort_by_key(|r| r.fault);
            // The k-th fault must be the (k·N)-th matching call: every Nth fails, no other.
            if let Some((k, r)) = fam.iter().enumerate().find(|(k, r)| r.fault != *k as u64 + 1 || r.seq != r.fault * n) {
                return Check::new(
                    INJECTOR,
                    Status::Fail,
                    format!(
                        "pid {pid}: {family} fault #{} is matching call {} but every {n}th call should fail, so expected fault #{} at call {}",
                        r.fault,
                        r.seq,
                        k + 1,
                        (k as u64 + 1) * n
                    ),
                );
            }
            let k = fam.len() as u64;
            let counted = summaries.get(&pid).and_then(|s| s.family(family));
            let (matching, source) = match (counted, i.blob_files_on_b) {
                (Some(c), files) => {
                    if c.faults != k {
                        return Check::new(
                            INJECTOR,
                            Status::Fail,
                            format!("pid {pid}: the fault log has {k} {family} faults but the shim's exit summary says {}", c.faults),
                        );
                    }
                    let cross = match files {
                        Some(files) if family == "open" && single && files + k == c.matching => {
                            format!(" (= {files} blob files on B + {k} failed opens)")
                        }
                        Some(files) if family == "open" && single => {
                            format!(" (B holds {files} blob files, so {files} + {k} ≠ {}: some opens were not one-file-per-blob)", c.matching)
                        }
                        _ => String::new(),
                    };
                    (c.matching, format!("exit summary {family} matching={}{cross}", c.matching))
                }
                (None, Some(files)) if family == "open" && single => {
                    (files + k, format!("{files} blob files on B + {k} failed opens = {} write-opens", files + k))
                }
                (None, _) => {
                    unknown.push(format!("pid {pid}: {k} {family} faults logged, but no exit summary counts the {family} calls"));
                    continue;
                }
            };
            if k != matching / n {
                return Check::new(
                    INJECTOR,
                    Status::Fail,
                    format!("pid {pid}: {k} {family} faults but {source}, and {matching} / {n} = {}", matching / n),
                );
            }
            if k > 0 {
                parts.push(format!(
                    "pid {pid}: {k} {family} faults at matching calls {n}, {}, … {} (every {n}th); {source}, {matching} / {n} = {k}",
                    2 * n,
                    k * n
                ));
            } else {
                parts.push(format!("pid {pid}: 0 {family} faults; {source}"));
            }
        }
    }
    if records.is_empty() {
        let counts: Vec<String> = summaries.values().map(|s| format!("pid {}: {}", s.pid, family_counts(s, &i.spec.calls))).collect();
        let why = if counts.is_empty() {
            format!("the shim armed on node B but logged no fault in {}, and no exit summary says how many calls matched", i.log_path.display())
        } else {
            format!(
                "node B made fewer than {n} {} calls on blob files ({}): the plan injects nothing on this Harper",
                i.spec.calls.join("/"),
                counts.join("; ")
            )
        };
        return Check::new(INJECTOR, Status::Fail, format!("0 faults injected: {why}"));
    }
    if !unknown.is_empty() {
        return Check::new(INJECTOR, Status::Unknown, unknown.join("; "));
    }
    Check::new(INJECTOR, Status::Pass, format!("{} faults in {}; {}", records.len(), i.log_path.display(), parts.join("; ")))
}

/// The files the shim faulted, by path and by descriptor, to tie escaped
/// errors to them.
pub fn signature(spec: &PlanSpec, records: &[FaultRecord]) -> FaultSignature {
    FaultSignature {
        errno: spec.errno_code().map(str::to_string),
        paths: records.iter().map(|r| r.path.trim_end_matches(" (deleted)").to_string()).filter(|p| !p.is_empty()).collect(),
    }
}

/// `blob-save-failure-logged`: node B logged one contained failure per
/// damaged blob (per fault when the damage could not be surveyed).
pub fn blob_save_failure_logged(
    damaged: Option<usize>,
    faults: usize,
    entries: &[LogEntry],
    p: &LogPatterns,
    sig: &FaultSignature,
    log: &Path,
) -> Check {
    const NAME: &str = "blob-save-failure-logged";
    let found: Vec<&LogEntry> = entries.iter().filter(|e| is_failure_line(e, p)).collect();
    let (expected, what) = match damaged {
        Some(d) => (d, format!("{d} damaged blobs on B ({faults} faults)")),
        None => (faults, format!("{faults} faults (the damage on B could not be surveyed)")),
    };
    if expected == 0 {
        let why = if faults == 0 { "no call failed" } else { "no blob ended damaged on B" };
        return Check::new(NAME, Status::Unknown, format!("{why}, so there was no failure to log ({} lines with {:?})", found.len(), p.failure));
    }
    if found.len() >= expected {
        let ids: Vec<String> = found.iter().filter_map(|e| parse_failure_line(e.first_line(), p)).map(|(id, _)| id).collect();
        return Check::new(
            NAME,
            Status::Pass,
            format!(
                "{} lines with {:?} in {} for {what} (record ids: {})",
                found.len(),
                p.failure,
                log.display(),
                if ids.is_empty() { "n/a".to_string() } else { ids.join(", ") }
            ),
        );
    }
    // Show what node B logged instead, so the reader sees where the failures went.
    let instead: Vec<String> = entries.iter().filter(|e| sig.tie(e, p).is_some()).map(numbered).collect();
    let mut lines: Vec<String> = found.iter().map(|e| numbered(e)).collect();
    let what_instead =
        if instead.is_empty() { String::new() } else { format!("; instead it logged {} {} lines:", instead.len(), p.uncaught) };
    lines.extend(instead);
    Check::new(NAME, Status::Fail, format!("{} lines with {:?} in {} for {what}{what_instead}", found.len(), p.failure, log.display()))
        .with_lines(lines)
}

/// The entries tied to the fault, and how many of each tie.
fn tied<'e>(entries: &'e [LogEntry], p: &LogPatterns, sig: &FaultSignature) -> (Vec<&'e LogEntry>, String) {
    let mut by: BTreeMap<Tie, usize> = BTreeMap::new();
    let hits: Vec<&LogEntry> = entries
        .iter()
        .filter(|e| match sig.tie(e, p) {
            Some(t) => {
                *by.entry(t).or_default() += 1;
                true
            }
            None => false,
        })
        .collect();
    let how = by.iter().map(|(t, n)| format!("{n} {}", t.describe())).collect::<Vec<_>>().join(", ");
    (hits, how)
}

/// `no-uncaught-exception`: no uncaught exception on node B is tied to the
/// injected fault (its errno, a blob, a faulted file).
pub fn no_uncaught_exception(sig: &FaultSignature, faults: usize, entries: &[LogEntry], p: &LogPatterns, log: &Path) -> Check {
    const NAME: &str = "no-uncaught-exception";
    let (bad, how) = tied(entries, p, sig);
    if !bad.is_empty() {
        let paths: BTreeSet<&str> = bad.iter().filter_map(|e| quoted_path(e)).collect();
        let named = sig.paths.iter().filter(|f| bad.iter().any(|e| e.text.contains(f.as_str()))).count();
        return Check::new(
            NAME,
            Status::Fail,
            format!(
                "{} {} entries tied to the injected fault in {} ({how}), naming {} distinct files; {named} of the {} faulted paths are among them:",
                bad.len(),
                p.uncaught,
                log.display(),
                paths.len(),
                sig.paths.len()
            ),
        )
        .with_lines(bad.into_iter().map(numbered).collect());
    }
    if faults == 0 {
        return Check::new(NAME, Status::Unknown, "no call failed, so a clean log proves nothing");
    }
    Check::new(
        NAME,
        Status::Pass,
        format!(
            "no {} entry mentions a blob, {} or a faulted file among {} entries of {} ({faults} faults injected)",
            p.uncaught,
            sig.errno.as_deref().unwrap_or("the errno"),
            entries.len(),
            log.display()
        ),
    )
}

/// How a read of a damaged record on B ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadEnd {
    /// An answer within the bound (an error status is an answer).
    Answered(String),
    /// No answer within the bound.
    Hung,
    /// No answer: the connection failed or was closed first (why).
    Cut(String),
}

/// `damaged-reads-contained`: every read of a damaged record on B got an
/// answer within `bound_s`, and B's log gained no uncaught exception tied
/// to the fault while they ran (`since`: the entries after the log was judged).
pub fn damaged_reads_contained(
    reads: &BTreeMap<String, ReadEnd>,
    bound_s: f64,
    since: &[LogEntry],
    p: &LogPatterns,
    sig: &FaultSignature,
    log: &Path,
) -> Check {
    const NAME: &str = "damaged-reads-contained";
    if reads.is_empty() {
        return Check::new(NAME, Status::Unknown, "no record was damaged on B, so no read of one to judge");
    }
    let mut ids: Vec<&String> = reads.keys().collect();
    // Numeric ids in numeric order (7 before 11).
    ids.sort_by_key(|id| (id.parse::<u64>().map_or(1, |_| 0), id.parse::<u64>().unwrap_or(0), id.to_string()));
    let hung: Vec<&String> = ids.iter().copied().filter(|id| reads[*id] == ReadEnd::Hung).collect();
    let cut: Vec<&String> = ids.iter().copied().filter(|id| matches!(reads[*id], ReadEnd::Cut(_))).collect();
    let group = |want: fn(&ReadEnd) -> Option<&str>| -> String {
        let mut by: BTreeMap<&str, usize> = BTreeMap::new();
        for e in reads.values() {
            if let Some(a) = want(e) {
                *by.entry(a).or_default() += 1;
            }
        }
        let text = by.iter().map(|(a, n)| format!("{n} {a}")).collect::<Vec<_>>().join(", ");
        if text.is_empty() { text } else { format!(" ({text})") }
    };
    let answered = reads.len() - hung.len() - cut.len();
    let (escaped, how) = tied(since, p, sig);
    let mut evidence = format!(
        "{} reads of damaged records on B: {} hung (no answer within {bound_s:.1} s), {} cut off without an answer{}, {answered} answered{}",
        reads.len(),
        hung.len(),
        cut.len(),
        group(|e| if let ReadEnd::Cut(w) = e { Some(w.as_str()) } else { None }),
        group(|e| if let ReadEnd::Answered(a) = e { Some(a.as_str()) } else { None }),
    );
    for (what, list) in [("hung", &hung), ("cut off", &cut)] {
        if !list.is_empty() {
            let shown: Vec<&str> = list.iter().take(20).map(|s| s.as_str()).collect();
            evidence.push_str(&format!("; {what}: {}{}", shown.join(", "), if list.len() > 20 { ", …" } else { "" }));
        }
    }
    evidence.push_str(&format!(
        "; B's log ({}) gained {} {} entries tied to the fault during the reads{}",
        log.display(),
        escaped.len(),
        p.uncaught,
        if escaped.is_empty() { String::new() } else { format!(" ({how}):") }
    ));
    let status = if hung.is_empty() && cut.is_empty() && escaped.is_empty() { Status::Pass } else { Status::Fail };
    Check::new(NAME, status, evidence).with_lines(escaped.into_iter().map(numbered).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fault::FamilyCount;
    use crate::harper_log::parse_log;

    // Real lines from node B's hdb.log under harperdb 4.7.29 with every 7th
    // blob write-open failing.
    const LOG_4_7_29: &str = "\
2026-11-26T05:04:47.241Z [main/0] [notify]: HarperDB successfully started.
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
    // Escaped write faults name no path and no blob (4.7.29, every 7th write failing).
    const LOG_ENOSPC: &str = "\
2026-11-26T05:15:06.511Z [http/1] [error]: uncaughtException [Error: ENOSPC: no space left on device, write] {
  errno: -28,
  code: 'ENOSPC',
  syscall: 'write'
}
";
    const LOG_5: &str = "\
2026-11-26T05:15:06.511Z [http/1] [error] [replication]: Blob save failed for 6 from 127.0.0.12
2026-11-26T05:15:06.614Z [http/1] [error] [replication]: Blob save failed for 13 from 127.0.0.12
";

    fn log() -> &'static Path {
        Path::new("node-b/root/log/hdb.log")
    }

    fn rec(call: &str, seq: u64, fault: u64, pid: u32) -> FaultRecord {
        FaultRecord {
            seq,
            fault,
            pid,
            tid: pid + 1,
            call: call.into(),
            function: "f".into(),
            path: "/r/blobs/data/0/0/7".into(),
            fd: None,
            space: false,
            flags: 0,
            errno: 28,
        }
    }

    fn summary(pid: u32, fams: &[(&str, u64, u64)], space: Option<(u64, u64)>) -> LogSummary {
        LogSummary {
            pid,
            matching: fams.iter().map(|f| f.1).sum(),
            faults: fams.iter().map(|f| f.2).sum(),
            calls: fams.iter().map(|&(f, m, n)| (f.to_string(), FamilyCount { matching: m, faults: n })).collect(),
            space_used: space.map(|s| s.0),
            space_faults: space.map(|s| s.1),
        }
    }

    fn judge(plan: &str, records: Vec<FaultRecord>, summaries: Vec<LogSummary>, stderr: &[ShimSummary], files: Option<u64>) -> Check {
        let spec = PlanSpec::named(plan).unwrap();
        let log = FaultLog { records, summaries };
        injector_fired(&Injection { spec: &spec, log: &log, stderr_summaries: stderr, armed_lines: 1, blob_files_on_b: files, log_path: log_path() })
    }

    fn log_path() -> &'static Path {
        Path::new("faults.jsonl")
    }

    #[test]
    fn open_faults_pass_when_every_nth_and_counts_agree_with_the_summary_or_the_files() {
        let recs: Vec<_> = (1..=8).map(|k| rec("open", 7 * k, k, 20916)).collect();
        let c = judge("open-enoent", recs.clone(), vec![], &[ShimSummary { pid: 20916, matching: 60, faults: 8 }], Some(52));
        assert_eq!(c.status, Status::Pass, "{}", c.evidence);
        assert!(c.evidence.contains("exit summary open matching=60 (= 52 blob files on B + 8 failed opens), 60 / 7 = 8"), "{}", c.evidence);
        // Without the exit summary (B killed), the blob files on B stand in.
        let c = judge("open-enoent", recs, vec![], &[], Some(52));
        assert_eq!(c.status, Status::Pass, "{}", c.evidence);
        assert!(c.evidence.contains("52 blob files on B + 8 failed opens = 60 write-opens"), "{}", c.evidence);
    }

    #[test]
    fn write_faults_are_judged_per_family_from_the_logs_summary() {
        let recs: Vec<_> = (1..=3).map(|k| rec("write", 7 * k, k, 5)).collect();
        let c = judge("write-enospc", recs.clone(), vec![summary(5, &[("write", 25, 3)], None)], &[], None);
        assert_eq!(c.status, Status::Pass, "{}", c.evidence);
        assert!(c.evidence.contains("3 write faults at matching calls 7, 14, … 21"), "{}", c.evidence);
        let c = judge("write-enospc", recs.clone(), vec![summary(5, &[("write", 40, 3)], None)], &[], None);
        assert_eq!(c.status, Status::Fail, "{}", c.evidence);
        assert!(c.evidence.contains("40 / 7 = 5"), "{}", c.evidence);
        // No summary (B killed): not decidable for writes.
        assert_eq!(judge("write-enospc", recs, vec![], &[], Some(9)).status, Status::Unknown);
        // An open fault under a write plan is not the plan.
        let c = judge("write-enospc", vec![rec("open", 7, 1, 5)], vec![], &[], None);
        assert_eq!(c.status, Status::Fail);
    }

    #[test]
    fn a_plan_harper_gives_nothing_to_act_on_fails_saying_why() {
        let c = judge("fsync-eio", vec![], vec![summary(5, &[("sync", 0, 0)], None)], &[], Some(200));
        assert_eq!(c.status, Status::Fail);
        assert_eq!(
            c.evidence,
            "0 faults injected: node B made fewer than 7 sync calls on blob files (pid 5: sync=0): the plan injects nothing on this Harper"
        );
        let c = judge("fsync-eio", vec![], vec![], &[], Some(200));
        assert_eq!(c.status, Status::Fail);
        assert!(c.evidence.contains("no exit summary"), "{}", c.evidence);
    }

    #[test]
    fn a_full_disk_passes_with_refused_writes_the_summary_agrees_with() {
        let space = |seq: u64, errno: i32| FaultRecord { space: true, errno, ..rec("write", seq, seq, 5) };
        let c = judge("disk-full", vec![space(1, 0), space(2, 28)], vec![summary(5, &[("write", 120, 0)], Some((4 << 20, 2)))], &[], None);
        assert_eq!(c.status, Status::Pass, "{}", c.evidence);
        assert!(c.evidence.starts_with("2 writes to blob files refused once the budget of 4194304 bytes was used (1 short, 1 with ENOSPC)"), "{}", c.evidence);
        let c = judge("disk-full", vec![space(1, 0)], vec![summary(5, &[("write", 120, 0)], Some((4 << 20, 2)))], &[], None);
        assert_eq!(c.status, Status::Fail);
        let c = judge("disk-full", vec![], vec![summary(5, &[("write", 20, 0)], Some((1000, 0)))], &[], None);
        assert_eq!(c.status, Status::Fail);
        assert!(c.evidence.starts_with("0 writes refused"), "{}", c.evidence);
    }

    #[test]
    fn a_slow_disk_passes_with_delayed_calls_and_no_fault() {
        let s = summary(5, &[("open", 10, 0), ("write", 20, 0), ("sync", 0, 0), ("close", 10, 0)], None);
        let c = judge("slow-disk", vec![], vec![s.clone()], &[], None);
        assert_eq!(c.status, Status::Pass, "{}", c.evidence);
        assert!(c.evidence.starts_with("40 calls on blob files delayed by 10 ms each"), "{}", c.evidence);
        assert_eq!(judge("slow-disk", vec![rec("write", 7, 1, 5)], vec![s], &[], None).status, Status::Fail);
        assert_eq!(judge("slow-disk", vec![], vec![], &[], None).status, Status::Unknown);
    }

    #[test]
    fn injector_fails_when_a_fault_is_off_the_interval_or_the_shim_never_armed() {
        let c = judge("open-enoent", vec![rec("open", 7, 1, 1), rec("open", 15, 2, 1)], vec![], &[ShimSummary { pid: 1, matching: 15, faults: 2 }], None);
        assert_eq!(c.status, Status::Fail);
        assert!(c.evidence.contains("open fault #2 is matching call 15"), "{}", c.evidence);
        let spec = PlanSpec::named("open-enoent").unwrap();
        let log = FaultLog::default();
        let c = injector_fired(&Injection { spec: &spec, log: &log, stderr_summaries: &[], armed_lines: 0, blob_files_on_b: Some(3), log_path: log_path() });
        assert!(c.evidence.contains("never armed"), "{}", c.evidence);
    }

    #[test]
    fn injector_groups_faults_by_process() {
        // A restarted node: a second pid whose counters restart at 0.
        let mut recs: Vec<_> = (1..=2).map(|k| rec("open", 7 * k, k, 10)).collect();
        recs.extend((1..=3).map(|k| rec("open", 7 * k, k, 11)));
        let s = [ShimSummary { pid: 10, matching: 20, faults: 2 }, ShimSummary { pid: 11, matching: 21, faults: 3 }];
        let c = judge("open-enoent", recs, vec![], &s, None);
        assert_eq!(c.status, Status::Pass, "{}", c.evidence);
    }

    fn sig(errno: &str, paths: &[&str]) -> FaultSignature {
        FaultSignature { errno: Some(errno.into()), paths: paths.iter().map(|p| p.to_string()).collect() }
    }

    #[test]
    fn on_4_7_29_both_log_checks_fail_with_the_uncaught_lines_as_evidence() {
        let p = LogPatterns::default();
        let e = parse_log(LOG_4_7_29);
        let s = sig("ENOENT", &["/tmp/ex2/b/root/blobs/data/0/0/7", "/tmp/ex2/b/root/blobs/data/0/0/e"]);
        let logged = blob_save_failure_logged(Some(2), 2, &e, &p, &s, log());
        assert_eq!(logged.status, Status::Fail);
        assert!(logged.evidence.starts_with("0 lines with \"Blob save failed for\""), "{}", logged.evidence);
        assert_eq!(logged.lines.len(), 2);
        let uncaught = no_uncaught_exception(&s, 2, &e, &p, log());
        assert_eq!(uncaught.status, Status::Fail);
        assert_eq!(
            uncaught.lines[0],
            "hdb.log:2: 2026-11-26T05:15:06.511Z [http/1] [error]: uncaughtException [Error: ENOENT: no such file or directory, open '/tmp/ex2/b/root/blobs/data/0/0/7'] {"
        );
        assert!(uncaught.evidence.contains("(2 name a faulted file), naming 2 distinct files; 2 of the 2 faulted paths are among them"), "{}", uncaught.evidence);
    }

    #[test]
    fn an_escaped_write_fault_with_no_path_is_counted_by_its_errno() {
        let p = LogPatterns::default();
        let e = parse_log(LOG_ENOSPC);
        let c = no_uncaught_exception(&sig("ENOSPC", &["/r/blobs/data/0/0/7"]), 1, &e, &p, log());
        assert_eq!(c.status, Status::Fail, "{}", c.evidence);
        assert!(c.evidence.starts_with("1 uncaughtException entries tied to the injected fault in node-b/root/log/hdb.log (1 carry the injected errno only)"), "{}", c.evidence);
        // The same line under an EIO plan is not this fault's.
        assert_eq!(no_uncaught_exception(&sig("EIO", &[]), 1, &e, &p, log()).status, Status::Pass);
    }

    #[test]
    fn on_harper_5_both_log_checks_pass_and_without_damage_they_cannot() {
        let p = LogPatterns::default();
        let e = parse_log(LOG_5);
        let s = sig("ENOENT", &["a", "b"]);
        let logged = blob_save_failure_logged(Some(2), 2, &e, &p, &s, log());
        assert_eq!(logged.status, Status::Pass, "{}", logged.evidence);
        assert!(logged.evidence.contains("record ids: 6, 13"));
        assert_eq!(no_uncaught_exception(&s, 2, &e, &p, log()).status, Status::Pass);
        assert_eq!(blob_save_failure_logged(Some(3), 3, &e, &p, &s, log()).status, Status::Fail);
        assert_eq!(blob_save_failure_logged(Some(0), 0, &e, &p, &s, log()).status, Status::Unknown);
        assert_eq!(blob_save_failure_logged(Some(0), 4, &e, &p, &s, log()).status, Status::Unknown);
        assert_eq!(no_uncaught_exception(&s, 0, &[], &p, log()).status, Status::Unknown);
        // but an escaped failure fails even with no fault counted
        assert_eq!(no_uncaught_exception(&s, 0, &parse_log(LOG_4_7_29), &p, log()).status, Status::Fail);
    }

    #[test]
    fn damaged_reads_pass_only_when_each_is_answered_and_nothing_escapes() {
        let p = LogPatterns::default();
        let s = sig("ENOENT", &["/tmp/ex2/b/root/blobs/data/0/0/7"]);
        let mut reads = BTreeMap::new();
        assert_eq!(damaged_reads_contained(&reads, 2.0, &[], &p, &s, log()).status, Status::Unknown);
        reads.insert("7".to_string(), ReadEnd::Answered("answered 500".into()));
        reads.insert("9".to_string(), ReadEnd::Answered("answered 500".into()));
        let c = damaged_reads_contained(&reads, 2.0, &[], &p, &s, log());
        assert_eq!(c.status, Status::Pass, "{}", c.evidence);
        assert!(
            c.evidence.starts_with("2 reads of damaged records on B: 0 hung (no answer within 2.0 s), 0 cut off without an answer, 2 answered (2 answered 500)"),
            "{}",
            c.evidence
        );
        reads.insert("11".to_string(), ReadEnd::Hung);
        let since = parse_log(LOG_4_7_29);
        let c = damaged_reads_contained(&reads, 2.0, &since, &p, &s, log());
        assert_eq!(c.status, Status::Fail);
        assert!(c.evidence.contains("1 hung (no answer within 2.0 s), 0 cut off without an answer, 2 answered"), "{}", c.evidence);
        assert!(c.evidence.contains("hung: 11;"), "{}", c.evidence);
        assert!(c.evidence.contains("gained 2 uncaughtException entries tied to the fault during the reads (1 name a faulted file, 1 mention a blob):"), "{}", c.evidence);
        assert_eq!(c.lines.len(), 2);
        // A connection closed without a status is no answer either.
        reads.remove("11");
        reads.insert("12".to_string(), ReadEnd::Cut("connection closed".into()));
        let c = damaged_reads_contained(&reads, 2.0, &[], &p, &s, log());
        assert_eq!(c.status, Status::Fail, "{}", c.evidence);
        assert!(c.evidence.contains("0 hung (no answer within 2.0 s), 1 cut off without an answer (1 connection closed), 2 answered"), "{}", c.evidence);
    }
}
