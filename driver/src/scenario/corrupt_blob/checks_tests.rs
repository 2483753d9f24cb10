//! Branch and boundary tests of corrupt-blob's check (beside the tests in
//! `mod.rs`): no PASS on reads that returned no bytes.

use super::*;

#[test]
fn no_silent_corruption_needs_one_read_that_returned_bytes() {
    let c = no_silent_corruption(5, &[], 5, 2);
    assert_eq!(
        (c.status, c.evidence.as_str()),
        (Status::Unknown, "none of the 5 reads on B returned bytes (5 failed or hung), so nothing was compared byte for byte")
    );
    // Exactly one read returned bytes, and they were A's.
    let c = no_silent_corruption(5, &[], 4, 2);
    assert_eq!(
        (c.status, c.evidence.as_str()),
        (Status::Pass, "every successful read on B returned A's bytes: 1 of 5 records compared byte for byte (4 reads failed or hung; 2 writes corrupted on B)")
    );
    let c = no_silent_corruption(0, &[], 0, 2);
    assert_eq!((c.status, c.evidence.as_str()), (Status::Unknown, "no record was read on both nodes, so nothing to compare"));
}

#[test]
fn exactly_one_differing_read_fails_whatever_else_failed() {
    let d = [Differs { id: "3".into(), first_offset: 0, len_b: 10, len_a: 20 }];
    let c = no_silent_corruption(1, &d, 0, 0);
    assert_eq!(c.status, Status::Fail);
    assert_eq!(
        c.evidence,
        "1 of 1 reads on B answered with success and bytes that differ from A's (0 writes corrupted on B; 0 reads failed or hung):\n  record 3: first differing byte at offset 0 (B served 10 bytes, A 20)"
    );
}

#[test]
fn the_first_difference_of_a_longer_b_is_where_a_ends() {
    assert_eq!(first_difference(b"ab", b"abcd"), Some(2));
    assert_eq!(first_difference(b"", b""), None);
}

#[test]
fn ordinals_of_the_teens_of_each_hundred_end_in_th() {
    let got: Vec<String> = [0, 111, 112, 113, 101, 1001, 4].into_iter().map(ordinal).collect();
    assert_eq!(got, ["0th", "111th", "112th", "113th", "101st", "1001st", "4th"]);
}
