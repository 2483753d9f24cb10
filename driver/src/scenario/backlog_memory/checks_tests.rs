//! Branch and boundary tests of backlog-memory's checks (beside the tests in
//! `checks.rs`): every PASS, FAIL and UNKNOWN path, and each limit met
//! exactly (a peak at the limit is over it).

use std::path::Path;

use super::*;
use crate::monitor::{OsPeak, OsPeakSource};

const MIB: u64 = 1024 * 1024;

#[test]
fn caught_up_fails_when_b_died_before_reaching_the_count() {
    let c = caught_up(20000, Some(3), None, 180.0, Some("node b (pid 9) died: killed by signal SIGABRT"));
    assert_eq!((c.status, c.evidence.as_str()), (Status::Fail, "B did not catch up: node b (pid 9) died: killed by signal SIGABRT"));
    let c = caught_up(20000, None, None, 180.0, None);
    assert_eq!((c.status, c.evidence.as_str()), (Status::Fail, "B's record_count was never read of A's 20000 when the 180 s bound ran out"));
    // One record short at the bound is not caught up.
    let c = caught_up(20000, Some(19999), None, 180.0, None);
    assert_eq!((c.status, c.evidence.as_str()), (Status::Fail, "B's record_count was 19999 of A's 20000 when the 180 s bound ran out"));
}

#[test]
fn worker_oom_passes_naming_every_source_it_read() {
    let text = || Ok("HarperDB successfully started.\n".to_string());
    let c = no_worker_oom(&[(Path::new("/r/hdb.log"), text()), (Path::new("/r/stdout.log"), text())]);
    assert_eq!((c.status, c.evidence.as_str()), (Status::Pass, "no ERR_WORKER_OUT_OF_MEMORY in /r/hdb.log, /r/stdout.log"));
    // Each line found is numbered within its own file.
    let two = "a\nWorker exited: ERR_WORKER_OUT_OF_MEMORY\nb\nERR_WORKER_OUT_OF_MEMORY again\n".to_string();
    let c = no_worker_oom(&[(Path::new("/r/hdb.log"), Ok(two))]);
    assert_eq!(c.status, Status::Fail);
    assert_eq!(c.lines, ["hdb.log:2: Worker exited: ERR_WORKER_OUT_OF_MEMORY", "hdb.log:4: ERR_WORKER_OUT_OF_MEMORY again"]);
    assert!(c.evidence.starts_with("2 lines with ERR_WORKER_OUT_OF_MEMORY:"), "{}", c.evidence);
}

fn peaks(api: Option<(u64, f64)>, os: Result<OsPeak, String>) -> MemoryPeaks {
    MemoryPeaks { api, os, first_answer: Some(3.0), samples_ok: 9, samples: 10, by_kind: None }
}

fn sampled(bytes: u64, t: f64) -> Result<OsPeak, String> {
    Ok(OsPeak { bytes, source: OsPeakSource::Sampled { t } })
}

fn hwm(bytes: u64, after: Option<f64>, by: Option<f64>) -> Result<OsPeak, String> {
    Ok(OsPeak { bytes, source: OsPeakSource::HighWaterMark { pid: 7, after, by } })
}

#[test]
fn peak_rss_exactly_at_the_limit_fails_and_one_byte_under_passes() {
    let c = peak_rss_below_limit(&peaks(Some((1536 * MIB, 4.0)), Err("gone".into())), 1536 * MIB);
    assert_eq!(c.status, Status::Fail, "{}", c.evidence);
    assert!(c.evidence.starts_with("peak RSS 1536 MiB (API sample at 4.0 s; no kernel figures: gone, so the replay window is unmeasured) ≥ limit 1536 MiB; 9 of 10 samples answered"), "{}", c.evidence);
    assert_eq!(peak_rss_below_limit(&peaks(Some((1536 * MIB - 1, 4.0)), Err("gone".into())), 1536 * MIB).status, Status::Pass);
    // The same for the kernel's figure.
    assert_eq!(peak_rss_below_limit(&peaks(None, sampled(1536 * MIB, 2.0)), 1536 * MIB).status, Status::Fail);
    assert_eq!(peak_rss_below_limit(&peaks(None, sampled(1536 * MIB - 1, 2.0)), 1536 * MIB).status, Status::Pass);
}

#[test]
fn peak_rss_from_the_kernel_alone_says_when_it_was_reached() {
    let c = peak_rss_below_limit(&peaks(None, sampled(600 * MIB, 5.0)), 1536 * MIB);
    assert_eq!(
        (c.status, c.evidence.as_str()),
        (Status::Pass, "peak RSS 600 MiB (kernel VmRSS of B's process group at 5.0 s, after B's API answered) < limit 1536 MiB; no API sample answered (9 of 10)")
    );
    // Sampled exactly when the API first answered: after the replay.
    let c = peak_rss_below_limit(&peaks(None, sampled(600 * MIB, 3.0)), 1536 * MIB);
    assert!(c.evidence.contains("at 3.0 s, after B's API answered)"), "{}", c.evidence);
    let c = peak_rss_below_limit(&MemoryPeaks { first_answer: None, ..peaks(None, sampled(600 * MIB, 5.0)) }, 1536 * MIB);
    assert!(c.evidence.contains("at 5.0 s, B's API never answered)"), "{}", c.evidence);
    let ev = |after, by, first| {
        let p = MemoryPeaks { first_answer: first, ..peaks(None, hwm(600 * MIB, after, by)) };
        peak_rss_below_limit(&p, 1536 * MIB).evidence
    };
    assert!(ev(Some(3.5), Some(4.0), Some(3.0)).contains("VmHWM of pid 7, reached between 3.5 and 4.0 s, after B's API answered)"));
    // A bracket ending exactly when the API first answered is still the replay.
    assert!(ev(None, Some(3.0), Some(3.0)).contains("VmHWM of pid 7, reached by 3.0 s, during the replay, before B's API answered)"));
    assert!(ev(Some(3.0), None, Some(3.0)).contains("VmHWM of pid 7, reached after 3.0 s, after B's API answered)"));
    assert!(ev(Some(2.0), Some(4.0), Some(3.0)).contains("reached between 2.0 and 4.0 s, around when B's API first answered)"));
    assert!(ev(None, None, Some(3.0)).contains("VmHWM of pid 7, around when B's API first answered)"));
    assert!(ev(None, None, None).contains("VmHWM of pid 7, B's API never answered)"));
}

#[test]
fn peak_rss_prefers_the_kernel_on_a_tie_and_needs_a_nonzero_peak() {
    // Equal figures: the kernel's is judged (it also saw the replay).
    let c = peak_rss_below_limit(&peaks(Some((500 * MIB, 4.0)), sampled(500 * MIB, 2.0)), 1536 * MIB);
    assert!(c.evidence.starts_with("peak RSS 500 MiB (kernel VmRSS of B's process group at 2.0 s, during the replay"), "{}", c.evidence);
    assert!(c.evidence.ends_with("; API samples peaked at 500 MiB at 4.0 s (9 of 10 samples answered)"), "{}", c.evidence);
    // A kernel figure of 0 is no figure: the API's is judged.
    let c = peak_rss_below_limit(&peaks(Some((500 * MIB, 4.0)), sampled(0, 2.0)), 1536 * MIB);
    assert!(c.evidence.starts_with("peak RSS 500 MiB (API sample at 4.0 s; the kernel's peak was 0 MiB)"), "{}", c.evidence);
    // Nothing but zeros: no peak to judge.
    let c = peak_rss_below_limit(&peaks(None, sampled(0, 2.0)), 1536 * MIB);
    assert_eq!((c.status, c.evidence.as_str()), (Status::Unknown, "no usable memory sample (9 of 10 samples answered), so no peak to judge"));
    let c = peak_rss_below_limit(&peaks(None, Err("no pid".into())), 1536 * MIB);
    assert_eq!(
        (c.status, c.evidence.as_str()),
        (Status::Unknown, "no usable memory sample (9 of 10 samples answered; no kernel figures: no pid), so no peak to judge")
    );
    let c = peak_rss_below_limit(&peaks(Some((0, 1.0)), sampled(0, 2.0)), 1536 * MIB);
    assert_eq!((c.status, c.evidence.as_str()), (Status::Unknown, "no usable memory sample (9 of 10 samples answered), so no peak to judge"));
}

#[test]
fn peak_anon_exactly_at_the_limit_fails_and_a_zero_peak_is_no_peak() {
    let c = peak_anon_below_limit(Some((1536 * MIB, 8.5)), Some(3.0), 20, 20, 1536 * MIB);
    assert_eq!(
        (c.status, c.evidence.as_str()),
        (
            Status::Fail,
            "peak anonymous memory 1536 MiB (kernel RssAnon of B's process group at 8.5 s, after B's API answered) ≥ limit 1536 MiB; \
             20 of 20 samples had the kernel's figures"
        )
    );
    assert_eq!(peak_anon_below_limit(Some((1536 * MIB - 1, 8.5)), Some(3.0), 20, 20, 1536 * MIB).status, Status::Pass);
    let c = peak_anon_below_limit(Some((0, 8.5)), Some(3.0), 3, 20, 1536 * MIB);
    assert_eq!((c.status, c.evidence.as_str()), (Status::Unknown, "no sample had B's RssAnon from /proc (3 of 20 samples), so no peak to judge"));
    // Exactly when the API first answered is after the replay.
    let c = peak_anon_below_limit(Some((MIB, 3.0)), Some(3.0), 1, 1, 1536 * MIB);
    assert!(c.evidence.contains("at 3.0 s, after B's API answered)"), "{}", c.evidence);
    let c = peak_anon_below_limit(Some((MIB, 3.0)), None, 1, 1, 1536 * MIB);
    assert!(c.evidence.contains("at 3.0 s, B's API never answered)"), "{}", c.evidence);
}

#[test]
fn memory_bounded_fails_exactly_at_the_limit_and_counts_distinct_sizes() {
    // 10 MiB more per 10,000 records: a slope of exactly 10 (exact in floating point too).
    let line = [(10_000, Some(100 * MIB)), (20_000, Some(110 * MIB)), (30_000, Some(120 * MIB))];
    let c = memory_bounded(&line, 10.0);
    assert_eq!(c.status, Status::Fail, "{}", c.evidence);
    assert!(c.evidence.starts_with("B's peak anonymous memory grows by 10.00 MiB per 10,000 records (least squares over 3 sizes"), "{}", c.evidence);
    assert!(c.evidence.ends_with("≥ limit 10 MiB per 10,000 records"), "{}", c.evidence);
    assert_eq!(memory_bounded(&line, 10.01).status, Status::Pass);
    // Three runs of two sizes are two sizes.
    let c = memory_bounded(&[(1, Some(MIB)), (1, Some(MIB)), (2, Some(MIB))], 5.0);
    assert_eq!(
        (c.status, c.evidence.as_str()),
        (Status::Unknown, "a growth slope needs at least 3 backlog sizes, this run had 2 (pass e.g. --sweep x1,x4,x16)")
    );
    let c = memory_bounded(&[(1, Some(MIB)), (2, None), (3, Some(MIB))], 5.0);
    assert_eq!(c.evidence, "no peak anonymous memory for the backlog of 2 records");
}

#[test]
fn the_slope_of_nothing_is_none() {
    assert_eq!(slope(&[]), None);
    // A falling line has a negative slope (not its absolute value).
    assert_eq!(slope(&[(0.0, 4.0), (1.0, 2.0), (2.0, 0.0)]), Some(-2.0));
    // The means matter: a line not through the origin.
    assert_eq!(slope(&[(10.0, 7.0), (12.0, 8.0)]), Some(0.5));
}

/// One backlog of a sweep: caught up in `catch_up` seconds (None: half of
/// it reached when the bound ran out), and how B died, if it did.
fn backlog(backlog: u64, catch_up: Option<f64>, death: Option<&str>) -> catch_up::Observed {
    catch_up::Observed {
        backlog,
        transactions: 1,
        commit_seconds: 1.0,
        // A also holds what earlier backlogs left: its count is not the backlog's.
        records_a: backlog + 100,
        last_b: Some(if catch_up.is_some() { backlog + 100 } else { backlog / 2 }),
        catch_up,
        all_transactions: catch_up,
        death: death.map(str::to_string),
        samples: Vec::new(),
        last_os: None,
        b_pid: Some(42),
        answered: Some(1.0),
    }
}

#[test]
fn a_sweep_catches_up_when_every_planned_backlog_did() {
    let all = [backlog(1000, Some(2.0), None), backlog(4000, Some(5.04), None)];
    let c = sweep_caught_up(&all, 2, 60.0);
    assert_eq!(
        (c.name.as_str(), c.status, c.evidence.as_str()),
        ("caught-up", Status::Pass, "B's record_count reached A's after each backlog: 1000 records in 2.0 s (A 1100), 4000 records in 5.0 s (A 4100)")
    );
}

#[test]
fn a_sweep_short_of_its_plan_by_one_backlog_is_undecided() {
    let all = [backlog(1000, Some(2.0), None), backlog(4000, Some(5.0), None)];
    let c = sweep_caught_up(&all, 3, 60.0);
    assert_eq!(
        (c.status, c.evidence.as_str()),
        (
            Status::Unknown,
            "B's record_count reached A's after each of the 2 backlogs measured, but the sweep planned 3: 1000 records in 2.0 s (A 1100), 4000 records in 5.0 s (A 4100)"
        )
    );
    let c = sweep_caught_up(&[], 3, 60.0);
    assert_eq!((c.name.as_str(), c.status, c.evidence.as_str()), ("caught-up", Status::Unknown, "no backlog of the 3 planned was measured"));
}

#[test]
fn a_sweep_fails_when_b_caught_up_and_then_died_as_a_single_run_does() {
    let died = [backlog(1000, Some(2.0), None), backlog(4000, Some(5.0), Some("node b (pid 9) died: exit status 0"))];
    let c = sweep_caught_up(&died, 2, 60.0);
    assert_eq!(
        (c.name.as_str(), c.status, c.evidence.as_str()),
        (
            "caught-up",
            Status::Fail,
            "after the backlog of 4000 records: B's record_count reached A's 4100 5.0 s after B was launched, but B then died: node b (pid 9) died: exit status 0"
        )
    );
    // The single run's check says the same of that backlog.
    assert_eq!(died[1].caught_up(60.0).status, Status::Fail);
}

#[test]
fn a_sweep_fails_on_the_first_backlog_b_did_not_catch_up_on() {
    // The first backlog failed, a later one too, and the sweep stopped short: the first decides.
    let never = [backlog(1000, None, None), backlog(4000, None, Some("killed by signal SIGKILL"))];
    let c = sweep_caught_up(&never, 3, 60.0);
    assert_eq!(
        (c.status, c.evidence.as_str()),
        (Status::Fail, "after the backlog of 1000 records: B's record_count was 500 of A's 1100 when the 60 s bound ran out")
    );
    let died = [backlog(1000, Some(2.0), None), backlog(4000, None, Some("killed by signal SIGKILL"))];
    let c = sweep_caught_up(&died, 2, 60.0);
    assert_eq!((c.status, c.evidence.as_str()), (Status::Fail, "after the backlog of 4000 records: B did not catch up: killed by signal SIGKILL"));
}

/// `worst` over backlogs whose check (by size) says `status` and whose peak is `peak`.
fn worst_of(sizes: &[(u64, Status, Option<u64>)]) -> Check {
    let observed: Vec<catch_up::Observed> = sizes.iter().map(|(b, _, _)| backlog(*b, Some(1.0), None)).collect();
    let find = |o: &catch_up::Observed| *sizes.iter().find(|(b, _, _)| *b == o.backlog).expect("a size of the table");
    worst(&observed, |o| Check::new("peak-rss-below-limit", find(o).1, format!("peak {:?}", find(o).2)), |o| find(o).2)
}

#[test]
fn the_worst_backlog_is_a_failure_before_an_undecided_one_before_the_largest_peak() {
    // A failure wins over larger peaks that passed or were undecided.
    let c = worst_of(&[(1000, Status::Pass, Some(900)), (4000, Status::Fail, Some(100)), (16000, Status::Unknown, Some(5000))]);
    assert_eq!(
        (c.name.as_str(), c.status, c.evidence.as_str()),
        ("peak-rss-below-limit", Status::Fail, "backlog of 4000 records (the sweep's worst): peak Some(100)")
    );
    // Of two failures, the larger peak.
    let c = worst_of(&[(1000, Status::Fail, Some(10)), (4000, Status::Fail, Some(5))]);
    assert_eq!((c.status, c.evidence.as_str()), (Status::Fail, "backlog of 1000 records (the sweep's worst): peak Some(10)"));
    // An undecided one wins over a larger peak that passed.
    let c = worst_of(&[(1000, Status::Pass, Some(9000)), (4000, Status::Unknown, Some(1))]);
    assert_eq!((c.status, c.evidence.as_str()), (Status::Unknown, "backlog of 4000 records (the sweep's worst): peak Some(1)"));
}

#[test]
fn of_passing_backlogs_the_worst_has_the_largest_peak_the_last_of_equals() {
    let c = worst_of(&[(1000, Status::Pass, Some(300)), (4000, Status::Pass, Some(700)), (16000, Status::Pass, Some(500))]);
    assert_eq!((c.status, c.evidence.as_str()), (Status::Pass, "backlog of 4000 records (the sweep's worst): peak Some(700)"));
    // No peak counts as none at all.
    let c = worst_of(&[(1000, Status::Pass, Some(1)), (4000, Status::Pass, None)]);
    assert_eq!(c.evidence, "backlog of 1000 records (the sweep's worst): peak Some(1)");
    let c = worst_of(&[(1000, Status::Pass, Some(5)), (4000, Status::Pass, Some(5))]);
    assert_eq!(c.evidence, "backlog of 4000 records (the sweep's worst): peak Some(5)");
    // A sweep of one backlog: that one.
    let c = worst_of(&[(1000, Status::Pass, None)]);
    assert_eq!((c.status, c.evidence.as_str()), (Status::Pass, "backlog of 1000 records (the sweep's worst): peak None"));
}
