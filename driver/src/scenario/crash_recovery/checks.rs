//! crash-recovery's one check over a sweep: each check of every crash
//! point joined into one, its worst status with each point's evidence.

use crate::model::{Check, Status};

/// One check over every crash point: its worst status, each point's evidence.
pub fn join(per_point: Vec<(u64, Check)>) -> Check {
    let name = per_point[0].1.name.clone();
    let status = Status::combine(&per_point.iter().map(|(_, c)| c.status).collect::<Vec<_>>());
    let evidence =
        per_point.iter().map(|(n, c)| format!("crash at write {n}: {} {}", c.status.label(), c.evidence)).collect::<Vec<_>>().join("\n");
    let lines = per_point.into_iter().flat_map(|(_, c)| c.lines).collect();
    Check { name, status, evidence, lines }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: Status, e: &str) -> Check {
        Check::new("nothing-lost", s, e)
    }

    #[test]
    fn one_failing_point_fails_the_sweep_whatever_the_others_say() {
        let j = join(vec![(12, c(Status::Pass, "all 10")), (40, c(Status::Fail, "1 of 10").with_lines(vec!["x".into()])), (77, c(Status::Unknown, "?"))]);
        assert_eq!((j.name.as_str(), j.status), ("nothing-lost", Status::Fail));
        assert_eq!(j.evidence, "crash at write 12: PASS all 10\ncrash at write 40: FAIL 1 of 10\n  x\ncrash at write 77: UNKNOWN ?");
        assert_eq!(j.lines, ["x"]);
        // Exactly one point of two fails, the other passes.
        let j = join(vec![(12, c(Status::Fail, "a")), (40, c(Status::Pass, "b"))]);
        assert_eq!((j.status, j.evidence.as_str()), (Status::Fail, "crash at write 12: FAIL a\ncrash at write 40: PASS b"));
    }

    #[test]
    fn an_undecided_point_leaves_a_sweep_without_failures_undecided() {
        let j = join(vec![(12, c(Status::Pass, "a")), (40, c(Status::Unknown, "b"))]);
        assert_eq!((j.status, j.evidence.as_str()), (Status::Unknown, "crash at write 12: PASS a\ncrash at write 40: UNKNOWN b"));
    }

    #[test]
    fn a_sweep_passes_only_when_every_point_passes_and_keeps_every_points_lines() {
        let j = join(vec![
            (12, c(Status::Pass, "a").with_lines(vec!["l1".into()])),
            (40, c(Status::Pass, "b")),
            (77, c(Status::Pass, "c").with_lines(vec!["l2".into(), "l3".into()])),
        ]);
        assert_eq!((j.name.as_str(), j.status), ("nothing-lost", Status::Pass));
        assert_eq!(j.evidence, "crash at write 12: PASS a\n  l1\ncrash at write 40: PASS b\ncrash at write 77: PASS c\n  l2\n  l3");
        assert_eq!(j.lines, ["l1", "l2", "l3"]);
    }
}
