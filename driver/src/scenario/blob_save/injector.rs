//! `injector-fired`: did the shim do what the fault plan says on node B,
//! family by family, judged from its fault log and the summary line each
//! process ends it with (a pure function of what the shim recorded).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::fault::{by_pid, Effect, FaultLog, FaultRecord, LogSummary, PlanSpec, ShimSummary, Trigger};
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
    /// (the same counts; a process that saw no matching call writes none
    /// into the log).
    fn summaries(&self) -> BTreeMap<u32, LogSummary> {
        let mut m: BTreeMap<u32, LogSummary> = self
            .stderr_summaries
            .iter()
            .map(|s| {
                let summary = LogSummary {
                    pid: s.pid,
                    matching: s.matching,
                    faults: s.faults,
                    calls: s.calls.clone(),
                    space_used: s.space_used,
                    space_faults: s.space_faults,
                };
                (s.pid, summary)
            })
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
    match (i.spec.fault.trigger(), i.spec.fault.effect()) {
        (_, Effect::Delay { ms }) => delays(i, ms, &summaries),
        (Trigger::Budget { bytes }, _) => full_disk(i, bytes, &summaries),
        (Trigger::EveryNth { every, skip: 0, max: None }, _) => every_nth(i, every, &summaries),
        (Trigger::EveryNth { .. }, _) => Check::new(
            INJECTOR,
            Status::Unknown,
            format!("injector-fired judges every-Nth plans without skip or max, not {}", i.spec),
        ),
    }
}

fn family_counts(s: &LogSummary, calls: &[&str]) -> String {
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
    let calls = i.spec.fault.call_names();
    let delayed: u64 = summaries.values().map(|s| calls.iter().filter_map(|f| s.family(f)).map(|c| c.matching).sum::<u64>()).sum();
    let per: Vec<String> = summaries.values().map(|s| format!("pid {}: {}", s.pid, family_counts(s, &calls))).collect();
    if delayed == 0 {
        return Check::new(
            INJECTOR,
            Status::Fail,
            format!("0 calls delayed: node B made no {} call on a blob file ({})", calls.join("/"), per.join("; ")),
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
    let mut unchecked = Vec::new();
    for (pid, recs) in by_pid(&i.log.records) {
        let Some(s) = summaries.get(&pid) else {
            unchecked.push(format!("pid {pid} refused {} writes but left no exit summary", recs.len()));
            continue;
        };
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
    // Half the evidence is no PASS: the summary's count of refused writes
    // is the cross-check of the fault log's.
    let (status, source) = if unchecked.is_empty() {
        (Status::Pass, used.join("; "))
    } else {
        let mut why = unchecked.join("; ");
        why.push_str(" (it did not exit through exit()), so its space_faults cannot be cross-checked");
        if !used.is_empty() {
            why.push_str(&format!("; {}", used.join("; ")));
        }
        (Status::Unknown, why)
    };
    Check::new(
        INJECTOR,
        status,
        format!(
            "{} writes to blob files refused once the budget of {budget} bytes was used ({short} short, {} with {}) in {}; {source}",
            space.len(),
            space.len() - short,
            i.spec.fault.effect().errno().unwrap_or("ENOSPC"),
            i.log_path.display()
        ),
    )
}

fn opt(v: Option<u64>) -> String {
    v.map_or("?".into(), |v| v.to_string())
}

fn every_nth(i: &Injection, n: u64, summaries: &BTreeMap<u32, LogSummary>) -> Check {
    let calls = i.spec.fault.call_names();
    let records = &i.log.records;
    if let Some(r) = records.iter().find(|r| !calls.contains(&r.call.as_str()) || r.space) {
        return Check::new(INJECTOR, Status::Fail, format!("fault #{} is a {} call, which the plan ({}) does not fail", r.fault, r.call, calls.join(",")));
    }
    let groups = by_pid(records);
    let pids: BTreeSet<u32> = groups.keys().chain(summaries.keys()).copied().collect();
    // The blob files on B are one process's count only if B ran one process
    // (one that faulted and another that summed up are two).
    let single = pids.len() <= 1;
    let mut parts = Vec::new();
    let mut unknown = Vec::new();
    for pid in pids {
        let recs = groups.get(&pid).cloned().unwrap_or_default();
        for &family in &calls {
            let mut fam: Vec<&FaultRecord> = recs.iter().copied().filter(|r| r.call == family).collect();
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
        let counts: Vec<String> = summaries.values().map(|s| format!("pid {}: {}", s.pid, family_counts(s, &calls))).collect();
        let why = if counts.is_empty() {
            format!("the shim armed on node B but logged no fault in {}, and no exit summary says how many calls matched", i.log_path.display())
        } else {
            format!(
                "node B made fewer than {n} {} calls on blob files ({}): the plan injects nothing on this Harper",
                calls.join("/"),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fault::FamilyCount;

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
        let c = judge("open-enoent", recs.clone(), vec![], &[ShimSummary { pid: 20916, matching: 60, faults: 8, ..Default::default() }], Some(52));
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
    fn a_full_disk_without_the_exit_summary_cannot_pass_on_half_the_evidence() {
        let space = |seq: u64, errno: i32| FaultRecord { space: true, errno, ..rec("write", seq, seq, 5) };
        let c = judge("disk-full", vec![space(1, 0), space(2, 28)], vec![], &[], None);
        assert_eq!(c.status, Status::Unknown, "{}", c.evidence);
        assert!(
            c.evidence.ends_with(
                "in faults.jsonl; pid 5 refused 2 writes but left no exit summary (it did not exit through exit()), so its space_faults cannot be cross-checked"
            ),
            "{}",
            c.evidence
        );
        // The summary off by exactly one refused write fails.
        let c = judge("disk-full", vec![space(1, 0), space(2, 28)], vec![summary(5, &[("write", 120, 0)], Some((4 << 20, 3)))], &[], None);
        assert_eq!((c.status, c.evidence.as_str()), (Status::Fail, "pid 5: the fault log has 2 refused writes but the exit summary says space_faults=3"));
        // Used exactly the budget: still within it; one byte over fails.
        let disk = PlanSpec::named("disk-full").unwrap();
        let Trigger::Budget { bytes: budget } = disk.fault.trigger() else { panic!("disk-full is a budget: {disk}") };
        let at = judge("disk-full", vec![space(1, 0)], vec![summary(5, &[("write", 120, 0)], Some((budget, 1)))], &[], None);
        assert_eq!(at.status, Status::Pass, "{}", at.evidence);
        let over = judge("disk-full", vec![space(1, 0)], vec![summary(5, &[("write", 120, 0)], Some((budget + 1, 1)))], &[], None);
        assert_eq!(over.status, Status::Fail, "{}", over.evidence);
    }

    #[test]
    fn every_nth_faults_fail_when_the_summary_counts_one_fault_more_or_less() {
        let recs: Vec<_> = (1..=3).map(|k| rec("write", 7 * k, k, 5)).collect();
        for faults in [2, 4] {
            let c = judge("write-enospc", recs.clone(), vec![summary(5, &[("write", 21, faults)], None)], &[], None);
            assert_eq!(
                (c.status, c.evidence),
                (Status::Fail, format!("pid 5: the fault log has 3 write faults but the shim's exit summary says {faults}"))
            );
        }
        assert_eq!(judge("write-enospc", recs, vec![summary(5, &[("write", 21, 3)], None)], &[], None).status, Status::Pass);
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
        let c = judge("open-enoent", vec![rec("open", 7, 1, 1), rec("open", 15, 2, 1)], vec![], &[ShimSummary { pid: 1, matching: 15, faults: 2, ..Default::default() }], None);
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
        let s = [ShimSummary { pid: 10, matching: 20, faults: 2, ..Default::default() }, ShimSummary { pid: 11, matching: 21, faults: 3, ..Default::default() }];
        let c = judge("open-enoent", recs, vec![], &s, None);
        assert_eq!(c.status, Status::Pass, "{}", c.evidence);
    }
}

#[cfg(test)]
#[path = "injector_tests.rs"]
mod branch_tests;
