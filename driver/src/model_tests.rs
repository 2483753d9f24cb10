//! Branch tests of the verdict model (beside the tests in `model.rs`): each
//! way a verdict is combined, and the words a report shows.

use super::*;

fn check(name: &str, status: Status) -> Check {
    Check::new(name, status, "e")
}

#[test]
fn combine_passes_only_on_all_pass_and_fails_on_any_fail() {
    use Status::*;
    assert_eq!(Status::combine(&[Pass]), Pass);
    assert_eq!(Status::combine(&[Unknown]), Unknown);
    assert_eq!(Status::combine(&[Fail]), Fail);
    assert_eq!(Status::combine(&[Unknown, Fail]), Fail);
    assert_eq!(Status::combine(&[Pass, Unknown, Pass]), Unknown);
    assert_eq!(Status::combine(&[]), Unknown);
}

#[test]
fn statuses_have_their_report_words() {
    let words: Vec<(&str, &str)> = [Status::Pass, Status::Fail, Status::Unknown].into_iter().map(|s| (s.label(), s.describe())).collect();
    assert_eq!(
        words,
        [
            ("PASS", "PASS (all checks passed)"),
            ("FAIL", "FAIL (a check failed)"),
            ("UNKNOWN", "UNKNOWN (a check could not decide)")
        ]
    );
}

#[test]
fn a_panic_with_no_text_is_still_unknown() {
    let c = check_safe("liveness", || std::panic::panic_any(42_u32));
    assert_eq!(
        (c.name.as_str(), c.status, c.evidence.as_str()),
        ("liveness", Status::Unknown, "the check itself failed (a panic: a panic without a message): nothing was judged")
    );
    let c = check_safe("liveness", || Check::new("liveness", Status::Fail, "no"));
    assert_eq!((c.status, c.evidence.as_str()), (Status::Fail, "no"));
}

#[test]
fn five_lines_are_shown_and_the_rest_counted() {
    let five: Vec<String> = (1..=5).map(|n| format!("line {n}")).collect();
    let c = check("x", Status::Fail).with_lines(five.clone());
    assert_eq!(c.evidence, "e\n  line 1\n  line 2\n  line 3\n  line 4\n  line 5");
    assert_eq!(c.lines, five);
    let six: Vec<String> = (1..=6).map(|n| format!("line {n}")).collect();
    let c = check("x", Status::Fail).with_lines(six.clone());
    assert_eq!(c.evidence, "e\n  line 1\n  line 2\n  line 3\n  line 4\n  line 5\n  … and 1 more (all in report.json \"lines\")");
    assert_eq!(c.lines, six);
    let c = check("x", Status::Pass).with_lines(vec![]);
    assert_eq!((c.evidence.as_str(), c.lines.len()), ("e", 0));
}

#[test]
fn across_nodes_keeps_every_nodes_lines_and_fails_on_one() {
    let with = |s, l: &str| check("nothing-lost", s).with_lines(vec![l.to_string()]);
    let c = Check::across_nodes(vec![("b".into(), with(Status::Fail, "b1")), ("c".into(), with(Status::Unknown, "c1"))]);
    assert_eq!(c.status, Status::Fail);
    assert_eq!(c.lines, ["b1", "c1"]);
    assert_eq!(c.evidence, "node B: FAIL e\n  b1\nnode C: UNKNOWN e\n  c1");
    let none = Check::across_nodes(vec![]);
    assert_eq!((none.name.as_str(), none.status), ("", Status::Unknown));
}

#[test]
fn a_halt_says_who_stopped_the_run_and_whether_it_interrupts() {
    let signal = Halt::Signal("SIGTERM");
    let outside = Halt::StoppedFromOutside { node: "b".into(), short: "stopped".into(), text: "node b was stopped by SIGKILL".into() };
    let crashed = Halt::Crashed { node: "b".into(), text: "node b crashed: SIGABRT".into() };
    assert_eq!((signal.interrupts(), signal.by(), signal.to_string()), (true, "SIGTERM".to_string(), "interrupted by SIGTERM".to_string()));
    assert_eq!(
        (outside.interrupts(), outside.by(), outside.to_string()),
        (true, "node b stopped from outside".to_string(), "node b was stopped by SIGKILL".to_string())
    );
    assert_eq!((crashed.interrupts(), crashed.by(), crashed.to_string()), (false, "node b crashed".to_string(), "node b crashed: SIGABRT".to_string()));
}

#[test]
fn an_interrupted_scenario_leaves_the_combined_run_unknown() {
    let mut cut = Report::bare("backlog-memory", vec![check("caught-up", Status::Pass)]);
    cut.interrupted = Some(Interruption { by: "Ctrl-C".into(), phase: "workload".into(), reason: "interrupted by Ctrl-C".into() });
    let c = CombinedReport::of(vec![Report::bare("blob-save", vec![check("liveness", Status::Pass)]), cut]);
    assert_eq!(c.verdict, Status::Unknown);
    assert_eq!(c.interrupted.map(|i| i.by), Some("Ctrl-C".to_string()));
    assert_eq!(c.scenario, "all");
    // Even beside a failure: an interrupted run has no verdict.
    let mut cut = Report::bare("y", vec![check("a", Status::Pass)]);
    cut.interrupted = Some(Interruption { by: "SIGHUP".into(), phase: "checks".into(), reason: "r".into() });
    let c = CombinedReport::of(vec![Report::bare("x", vec![check("a", Status::Fail)]), cut]);
    assert_eq!(c.verdict, Status::Unknown);
    let c = CombinedReport::of(vec![Report::bare("x", vec![check("a", Status::Pass)]), Report::bare("y", vec![check("b", Status::Unknown)])]);
    assert_eq!((c.verdict, c.interrupted.is_none()), (Status::Unknown, true));
    // The checks keep their status and evidence under the prefixed name.
    assert_eq!((c.checks[1].name.as_str(), c.checks[1].status, c.checks[1].evidence.as_str()), ("y/b", Status::Unknown, "e"));
}
