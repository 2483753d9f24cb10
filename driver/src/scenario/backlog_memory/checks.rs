//! backlog-memory's checks: pure functions from what was observed (B's
//! record counts, its log and output, its memory samples) to pass / fail /
//! unknown with the evidence.

use std::path::Path;

use crate::model::{Check, Status};

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
