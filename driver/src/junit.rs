//! The checks as JUnit XML for CI systems: one testsuite per scenario, one
//! testcase per check. A failed check is a `<failure>`, an undecided one is
//! `<skipped>`, and both carry the check's evidence as their message; a
//! passed check keeps its evidence in `<system-out>`. Rendered with
//! `quick-junit`, so escaping and the schema are that crate's job.

use std::time::Duration;

use anyhow::{Context, Result};
use quick_junit::{NonSuccessKind, TestCase, TestCaseStatus, TestSuite};
use serde_json::Value;

use crate::model::Status;
use crate::model::Report;

/// The reports' checks as one JUnit document.
pub fn render(reports: &[&Report]) -> Result<String> {
    let mut doc = quick_junit::Report::new("blobfail");
    for r in reports {
        let mut suite = TestSuite::new(r.scenario.as_str());
        if let Some(secs) = r.figures.get("total_seconds").and_then(Value::as_f64) {
            suite.set_time(Duration::from_secs_f64(secs.max(0.0)));
        }
        for c in &r.checks {
            // The full offending lines when there are any (the evidence
            // shows at most five of them, shortened).
            let detail = if c.lines.is_empty() {
                c.evidence.clone()
            } else {
                format!("{}\n\nall lines:\n{}", c.evidence, c.lines.join("\n"))
            };
            let message = one_line(&c.evidence);
            let status = match c.status {
                Status::Pass => TestCaseStatus::success(),
                Status::Fail => {
                    let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                    s.set_message(message).set_type("fail").set_description(detail.as_str());
                    s
                }
                Status::Unknown => {
                    let mut s = TestCaseStatus::skipped();
                    s.set_message(message).set_type("unknown").set_description(detail.as_str());
                    s
                }
            };
            let mut case = TestCase::new(c.name.as_str(), status);
            case.set_classname(r.scenario.as_str());
            if c.status == Status::Pass {
                case.set_system_out(c.evidence.as_str());
            }
            suite.add_test_case(case);
        }
        doc.add_test_suite(suite);
    }
    doc.to_string().context("failed to render the JUnit report")
}

/// The evidence as a one-line message: its lines trimmed, joined by ` | `.
pub fn one_line(evidence: &str) -> String {
    evidence.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" | ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Check;
    use serde_json::Map;

    fn check(name: &str, status: Status, evidence: &str) -> Check {
        Check { name: name.into(), status, evidence: evidence.into(), lines: vec![] }
    }

    fn report(scenario: &str, checks: Vec<Check>) -> Report {
        let mut figures = Map::new();
        figures.insert("total_seconds".into(), Value::from(21.5));
        Report { figures, ..Report::bare(scenario, checks) }
    }

    #[test]
    fn one_testcase_per_check_with_failures_and_skips_carrying_the_evidence() {
        let mut failing = check("no-uncaught-exception", Status::Fail, "1 entry:\n  hdb.log:3: uncaughtException");
        failing.lines = vec!["hdb.log:3: uncaughtException [Error: ENOENT: open '<root>/blobs/x'] {".into()];
        let r = report(
            "blob-save",
            vec![check("liveness", Status::Pass, "B's count 1 → 2"), failing, check("nothing-lost", Status::Unknown, "nothing compared")],
        );
        let xml = render(&[&r]).unwrap();
        assert!(xml.contains("<testsuite name=\"blob-save\" tests=\"3\" skipped=\"1\" errors=\"0\" failures=\"1\""), "{xml}");
        assert_eq!(xml.matches("<testcase ").count(), 3, "{xml}");
        assert!(xml.contains("<failure message=\"1 entry: | hdb.log:3: uncaughtException\" type=\"fail\">1 entry:\n"), "{xml}");
        assert!(xml.contains("open &apos;&lt;root&gt;/blobs/x&apos;] {"), "{xml}");
        assert!(xml.contains("<skipped message=\"nothing compared\" type=\"unknown\">nothing compared</skipped>"), "{xml}");
        assert!(xml.contains("<system-out>B&apos;s count 1 → 2</system-out>"), "{xml}");
    }

    #[test]
    fn control_characters_in_evidence_do_not_break_the_xml() {
        let r = report("blob-save", vec![check("x", Status::Fail, "bad \u{1b}[31mcolour\u{0} & <tags>")]);
        let xml = render(&[&r]).unwrap();
        assert!(!xml.contains('\u{0}') && !xml.contains('\u{1b}'), "{xml}");
        assert!(xml.contains("&amp; &lt;tags&gt;"), "{xml}");
    }
}
