//! Tests of how crash-recovery joins one check over its crash points.

use super::*;
use crate::model::{Check, Status};

#[test]
fn a_check_over_crash_points_fails_if_one_point_fails_and_passes_only_if_all_pass() {
    let c = |s, e: &str| Check::new("nothing-lost", s, e);
    let j = join(vec![(12, c(Status::Pass, "all 10")), (40, c(Status::Fail, "1 of 10").with_lines(vec!["x".into()])), (77, c(Status::Unknown, "?"))]);
    assert_eq!((j.name.as_str(), j.status), ("nothing-lost", Status::Fail));
    assert_eq!(j.evidence, "crash at write 12: PASS all 10\ncrash at write 40: FAIL 1 of 10\n  x\ncrash at write 77: UNKNOWN ?");
    assert_eq!(j.lines, ["x"]);
    assert_eq!(join(vec![(12, c(Status::Pass, "a")), (40, c(Status::Unknown, "b"))]).status, Status::Unknown);
    assert_eq!(join(vec![(12, c(Status::Pass, "a")), (40, c(Status::Pass, "b"))]).status, Status::Pass);
}
