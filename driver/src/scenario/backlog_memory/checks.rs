//! backlog-memory's checks: pure functions from what was observed (B's
//! record counts, its log and output, its memory samples) to pass / fail /
//! unknown with the evidence.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::catch_up;
use crate::model::{Check, Status};

/// `caught-up`: B's exact count reached A's after its restart.
pub fn caught_up(records_a: u64, last_b: Option<u64>, catch_up_seconds: Option<f64>, bound: f64, death: Option<&str>) -> Check {
    const NAME: &str = "caught-up";
    match (catch_up_seconds, death) {
        // A B that died is no B that caught up, whenever it died.
        (Some(secs), Some(d)) => Check::new(
            NAME,
            Status::Fail,
            format!("B's record_count reached A's {records_a} {secs:.1} s after B was launched, but B then died: {d}"),
        ),
        (Some(secs), None) => Check::new(
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

const OOM_PATTERN: &str = "ERR_WORKER_OUT_OF_MEMORY";

/// One of B's outputs as `no-worker-oom` sees it: its path, and its lines
/// with the pattern (`<file>:<line>: <text>`) or why it could not be seen.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OutputSeen {
    pub path: PathBuf,
    pub oom_lines: Result<Vec<String>, String>,
}

/// Scans one output (its text, or why it could not be seen) for the lines
/// `no-worker-oom` judges: what the run saves of it.
pub fn scan_output(path: &Path, text: Result<String, String>) -> OutputSeen {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let oom_lines = text.map(|t| {
        t.lines().enumerate().filter(|(_, l)| l.contains(OOM_PATTERN)).map(|(i, l)| format!("{name}:{}: {l}", i + 1)).collect()
    });
    OutputSeen { path: path.to_path_buf(), oom_lines }
}

/// `no-worker-oom`: no `ERR_WORKER_OUT_OF_MEMORY` in B's log or output.
/// Each source is its text, or why it could not be seen (missing,
/// unreadable, a log without Harper's start line): a line found is a FAIL
/// whatever else; otherwise a source not seen makes it UNKNOWN.
#[cfg(test)]
pub fn no_worker_oom(sources: &[(&Path, Result<String, String>)]) -> Check {
    let seen: Vec<OutputSeen> = sources.iter().map(|(p, t)| scan_output(p, t.clone())).collect();
    no_worker_oom_seen(&seen)
}

/// `no-worker-oom` from the outputs as scanned (`scan_output`).
pub fn no_worker_oom_seen(sources: &[OutputSeen]) -> Check {
    const NAME: &str = "no-worker-oom";
    let mut bad = Vec::new();
    let mut unseen = Vec::new();
    for s in sources {
        match &s.oom_lines {
            Ok(lines) => bad.extend(lines.iter().cloned()),
            Err(why) => unseen.push(why.clone()),
        }
    }
    let scanned: Vec<String> = sources.iter().map(|s| s.path.display().to_string()).collect();
    if !bad.is_empty() {
        return Check::new(NAME, Status::Fail, format!("{} lines with {OOM_PATTERN}:", bad.len())).with_lines(bad);
    }
    if sources.is_empty() || !unseen.is_empty() {
        return Check::new(NAME, Status::Unknown, format!("cannot see all of B's output: {}", unseen.join("; ")));
    }
    Check::new(NAME, Status::Pass, format!("no {OOM_PATTERN} in {}", scanned.join(", ")))
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
    /// The largest sampled kernel RSS by kind: (RSS, when, anonymous,
    /// file-backed), to say how much of the peak was reclaimable page cache.
    pub by_kind: Option<KindsAt>,
}

/// The kernel's RSS of B's process group at one sample, by kind.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KindsAt {
    pub rss: u64,
    pub t: f64,
    pub anon: u64,
    pub file: u64,
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
    let kinds = match peaks.by_kind {
        Some(k) => format!(
            "; of B's largest sampled RSS ({:.0} MiB at {:.1} s), {:.0} MiB was file-backed (RssFile: mapped database pages, \
             reclaimable) and {:.0} MiB anonymous (RssAnon)",
            mib(k.rss),
            k.t,
            mib(k.file),
            mib(k.anon)
        ),
        None => String::new(),
    };
    Check::new(NAME, status, format!("peak RSS {:.0} MiB {evidence} {cmp} limit {:.0} MiB; {api_tail}{kinds}", mib(peak), mib(limit)))
}

/// `peak-anon-below-limit`: B's anonymous memory (the kernel's `RssAnon` of
/// its process group, sampled every 500 ms), which is what runs a node out
/// of memory, stayed under the limit. Unknown without the kernel's figures.
pub fn peak_anon_below_limit(peak: Option<(u64, f64)>, first_answer: Option<f64>, samples_with_kinds: usize, samples: usize, limit: u64) -> Check {
    const NAME: &str = "peak-anon-below-limit";
    let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
    let Some((bytes, t)) = peak.filter(|p| p.0 > 0) else {
        return Check::new(
            NAME,
            Status::Unknown,
            format!("no sample had B's RssAnon from /proc ({samples_with_kinds} of {samples} samples), so no peak to judge"),
        );
    };
    let phase = match first_answer {
        Some(a) if t < a => ", during the replay, before B's API answered",
        Some(_) => ", after B's API answered",
        None => ", B's API never answered",
    };
    let (status, cmp) = if bytes < limit { (Status::Pass, "<") } else { (Status::Fail, "≥") };
    Check::new(
        NAME,
        status,
        format!(
            "peak anonymous memory {:.0} MiB (kernel RssAnon of B's process group at {t:.1} s{phase}) {cmp} limit {:.0} MiB; \
             {samples_with_kinds} of {samples} samples had the kernel's figures",
            mib(bytes),
            mib(limit)
        ),
    )
}

/// The least-squares slope of `y` against `x`; `None` with fewer than two
/// distinct `x`.
pub fn slope(points: &[(f64, f64)]) -> Option<f64> {
    let n = points.len() as f64;
    let mx = points.iter().map(|p| p.0).sum::<f64>() / n;
    let my = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    (points.len() >= 2 && sxx > 0.0).then(|| sxy / sxx)
}

/// Records per unit of the growth slope.
pub const PER_RECORDS: f64 = 10_000.0;

/// `memory-bounded`: across the backlog sizes of a sweep, B's peak anonymous
/// memory grows by less than `limit_mib` MiB per 10,000 records (the
/// least-squares slope). Unknown with fewer than 3 sizes, or a size whose
/// peak is unknown.
pub fn memory_bounded(points: &[(u64, Option<u64>)], limit_mib: f64) -> Check {
    const NAME: &str = "memory-bounded";
    const MIB: f64 = 1024.0 * 1024.0;
    let sizes: std::collections::BTreeSet<u64> = points.iter().map(|p| p.0).collect();
    if sizes.len() < 3 {
        return Check::new(
            NAME,
            Status::Unknown,
            format!("a growth slope needs at least 3 backlog sizes, this run had {} (pass e.g. --sweep x1,x4,x16)", sizes.len()),
        );
    }
    if let Some((records, _)) = points.iter().find(|p| p.1.is_none()) {
        return Check::new(NAME, Status::Unknown, format!("no peak anonymous memory for the backlog of {records} records"));
    }
    let xy: Vec<(f64, f64)> = points.iter().map(|(r, a)| (*r as f64 / PER_RECORDS, a.unwrap_or(0) as f64 / MIB)).collect();
    let Some(m) = slope(&xy) else { return Check::new(NAME, Status::Unknown, "no slope to judge") };
    let shown: Vec<String> = points.iter().map(|(r, a)| format!("{r} → {:.0} MiB", a.unwrap_or(0) as f64 / MIB)).collect();
    let (status, cmp) = if m < limit_mib { (Status::Pass, "<") } else { (Status::Fail, "≥") };
    Check::new(
        NAME,
        status,
        format!(
            "B's peak anonymous memory grows by {m:.2} MiB per 10,000 records (least squares over {} sizes: {}) {cmp} limit \
             {limit_mib} MiB per 10,000 records",
            points.len(),
            shown.join(", ")
        ),
    )
}

/// `caught-up` over a sweep: passes when B caught up after every planned
/// backlog and lived; otherwise the first backlog it did not catch up on
/// (or died after), and why. Fewer backlogs than planned, none failing:
/// undecided.
pub fn sweep_caught_up(observed: &[catch_up::Observed], planned: usize, timeout: f64) -> Check {
    const NAME: &str = "caught-up";
    if observed.is_empty() {
        return Check::new(NAME, Status::Unknown, format!("no backlog of the {planned} planned was measured"));
    }
    // Any backlog that did not PASS on its own (never caught up, or caught
    // up and then B died) decides the sweep, as it decides a single run.
    if let Some((o, c)) = observed.iter().map(|o| (o, o.caught_up(timeout))).find(|(_, c)| c.status != Status::Pass) {
        return Check::new(NAME, c.status, format!("after the backlog of {} records: {}", o.backlog, c.evidence));
    }
    let each: Vec<String> = observed
        .iter()
        .map(|o| format!("{} records in {:.1} s (A {})", o.backlog, o.catch_up.unwrap_or_default(), o.records_a))
        .collect();
    if observed.len() < planned {
        return Check::new(
            NAME,
            Status::Unknown,
            format!(
                "B's record_count reached A's after each of the {} backlogs measured, but the sweep planned {planned}: {}",
                observed.len(),
                each.join(", ")
            ),
        );
    }
    Check::new(NAME, Status::Pass, format!("B's record_count reached A's after each backlog: {}", each.join(", ")))
}

/// The check of the backlog that judges worst: a failure first, then an
/// undecided one, else the one with the largest `peak` (the last of equals);
/// named by its size. `observed` holds at least one backlog.
pub fn worst(
    observed: &[catch_up::Observed],
    check: impl Fn(&catch_up::Observed) -> Check,
    peak: impl Fn(&catch_up::Observed) -> Option<u64>,
) -> Check {
    let rank = |s: Status| match s {
        Status::Fail => 2,
        Status::Unknown => 1,
        Status::Pass => 0,
    };
    let (o, c) = observed
        .iter()
        .map(|o| (o, check(o)))
        .max_by_key(|(o, c)| (rank(c.status), peak(o).unwrap_or(0)))
        .expect("a sweep observed at least one backlog (judge refuses observations without one)");
    Check::new(&c.name, c.status, format!("backlog of {} records (the sweep's worst): {}", o.backlog, c.evidence))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caught_up_passes_with_the_time_and_fails_with_the_reason() {
        let c = caught_up(20000, Some(20000), Some(12.34), 180.0, Some("node b (pid 9) died: killed by signal SIGABRT"));
        assert_eq!(
            (c.status, c.evidence.as_str()),
            (Status::Fail, "B's record_count reached A's 20000 12.3 s after B was launched, but B then died: node b (pid 9) died: killed by signal SIGABRT")
        );
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
        let ok = || Ok("2026-11-26T05:04:47.241Z [main/0] [notify]: HarperDB successfully started.\n".to_string());
        let c = no_worker_oom(&[(log, ok())]);
        assert_eq!((c.status, c.evidence.as_str()), (Status::Pass, "no ERR_WORKER_OUT_OF_MEMORY in /r/hdb.log"));
        let oom = "2026-11-26T05:04:47.241Z [main/0] [error]: Worker 1 exited: Error [ERR_WORKER_OUT_OF_MEMORY]: Worker terminated due to reaching memory limit: JS heap out of memory\n";
        let c = no_worker_oom(&[(log, ok()), (Path::new("/r/stderr.log"), Ok(oom.to_string()))]);
        assert_eq!(c.status, Status::Fail);
        assert!(c.lines[0].starts_with("stderr.log:1: "), "{:?}", c.lines);
        // A line found fails even when another source could not be seen.
        let c = no_worker_oom(&[(log, Err("/r/hdb.log does not exist".into())), (Path::new("/r/stderr.log"), Ok(oom.to_string()))]);
        assert_eq!(c.status, Status::Fail);
    }

    #[test]
    fn worker_oom_cannot_pass_on_a_log_it_could_not_see() {
        let log = Path::new("/r/hdb.log");
        let c = no_worker_oom(&[(log, Err("/r/hdb.log does not exist: the node wrote it elsewhere, or not at all".into())), (Path::new("/r/stderr.log"), Ok(String::new()))]);
        assert_eq!(
            (c.status, c.evidence.as_str()),
            (Status::Unknown, "cannot see all of B's output: /r/hdb.log does not exist: the node wrote it elsewhere, or not at all")
        );
        assert_eq!(no_worker_oom(&[]).status, Status::Unknown);
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
            by_kind: None,
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
            by_kind: None,
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

    #[test]
    fn peak_rss_says_how_much_of_the_peak_was_file_backed() {
        let mib = 1024 * 1024;
        let peaks = MemoryPeaks {
            api: Some((1500 * mib, 9.0)),
            os: Err("x".into()),
            first_answer: Some(3.0),
            samples_ok: 10,
            samples: 10,
            by_kind: Some(KindsAt { rss: 1562 * mib, t: 8.5, anon: 234 * mib, file: 1328 * mib }),
        };
        let c = peak_rss_below_limit(&peaks, 1536 * mib);
        assert_eq!(c.status, Status::Pass);
        assert!(
            c.evidence.ends_with(
                "; of B's largest sampled RSS (1562 MiB at 8.5 s), 1328 MiB was file-backed (RssFile: mapped database pages, \
                 reclaimable) and 234 MiB anonymous (RssAnon)"
            ),
            "{}",
            c.evidence
        );
    }

    #[test]
    fn peak_anon_is_judged_against_its_own_limit() {
        let mib = 1024 * 1024;
        let c = peak_anon_below_limit(Some((234 * mib, 8.5)), Some(9.0), 20, 20, 1536 * mib);
        assert_eq!(c.status, Status::Pass);
        assert_eq!(
            c.evidence,
            "peak anonymous memory 234 MiB (kernel RssAnon of B's process group at 8.5 s, during the replay, before B's API \
             answered) < limit 1536 MiB; 20 of 20 samples had the kernel's figures"
        );
        assert_eq!(peak_anon_below_limit(Some((1600 * mib, 8.5)), None, 20, 20, 1536 * mib).status, Status::Fail);
        assert_eq!(peak_anon_below_limit(None, None, 0, 20, 1536 * mib).status, Status::Unknown);
    }

    #[test]
    fn the_slope_is_least_squares() {
        assert_eq!(slope(&[(1.0, 2.0), (2.0, 4.0), (3.0, 6.0)]), Some(2.0));
        // (2, 200), (8, 210), (32, 230): mean x 14, mean y 213.33…
        let m = slope(&[(2.0, 200.0), (8.0, 210.0), (32.0, 230.0)]).unwrap();
        assert!((m - 0.952_381).abs() < 1e-5, "{m}");
        assert_eq!(slope(&[(1.0, 2.0)]), None);
        assert_eq!(slope(&[(1.0, 2.0), (1.0, 3.0)]), None);
    }

    #[test]
    fn memory_bounded_needs_three_sizes_and_a_slope_under_the_limit() {
        let mib = 1024 * 1024;
        let c = memory_bounded(&[(20_000, Some(200 * mib)), (80_000, Some(210 * mib)), (320_000, Some(230 * mib))], 5.0);
        assert_eq!(c.status, Status::Pass, "{}", c.evidence);
        assert_eq!(
            c.evidence,
            "B's peak anonymous memory grows by 0.95 MiB per 10,000 records (least squares over 3 sizes: 20000 → 200 MiB, \
             80000 → 210 MiB, 320000 → 230 MiB) < limit 5 MiB per 10,000 records"
        );
        // A node that kept every 1 KiB record: about 10 MiB per 10,000 records.
        let leak = memory_bounded(&[(20_000, Some(220 * mib)), (80_000, Some(280 * mib)), (320_000, Some(520 * mib))], 5.0);
        assert_eq!(leak.status, Status::Fail, "{}", leak.evidence);
        assert_eq!(memory_bounded(&[(20_000, Some(mib)), (80_000, Some(mib))], 5.0).status, Status::Unknown);
        assert_eq!(memory_bounded(&[(1, Some(mib)), (2, None), (3, Some(mib))], 5.0).status, Status::Unknown);
    }
}

#[cfg(test)]
#[path = "checks_tests.rs"]
mod branch_tests;
