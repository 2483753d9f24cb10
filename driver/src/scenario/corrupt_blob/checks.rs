//! corrupt-blob's check: a pure function from what comparing B's blobs
//! with A's found (and the shim's count) to pass / fail / unknown with the
//! evidence.

use crate::model::{Check, Status};

/// One successful read on B whose bytes are not A's.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Differs {
    pub id: String,
    /// None: the survey's read differed, a second read returned A's bytes
    /// (a corrupted read, not a corrupted file).
    pub first_offset: Option<usize>,
    pub len_b: usize,
    pub len_a: usize,
}

/// `no-silent-corruption`: no successful read on B returned bytes other
/// than A's. `compared`: the records read on both; `not_answered`: reads of
/// B that failed or hung (not silent); `corruptions`: the shim's count.
pub fn no_silent_corruption(compared: usize, differs: &[Differs], not_answered: usize, corruptions: usize, calls: &str) -> Check {
    const NAME: &str = "no-silent-corruption";
    if !differs.is_empty() {
        let lines = differs
            .iter()
            .map(|d| match d.first_offset {
                Some(at) => format!("record {}: first differing byte at offset {at} (B served {} bytes, A {})", d.id, d.len_b, d.len_a),
                None => format!(
                    "record {}: B served other bytes than A's (size or SHA-256) with a success status once, A's {} bytes when read again",
                    d.id, d.len_a
                ),
            })
            .collect();
        return Check::new(
            NAME,
            Status::Fail,
            format!(
                "{} of {compared} reads on B answered with success and bytes that differ from A's ({corruptions} {calls}s corrupted on B; {not_answered} reads failed or hung):",
                differs.len()
            ),
        )
        .with_lines(lines);
    }
    if compared == 0 {
        return Check::new(NAME, Status::Unknown, "no record was read on both nodes, so nothing to compare");
    }
    // Reads of B that failed or hung returned no bytes: with none left,
    // nothing was compared byte for byte.
    let read = compared.saturating_sub(not_answered);
    if read == 0 {
        return Check::new(
            NAME,
            Status::Unknown,
            format!("none of the {compared} reads on B returned bytes ({not_answered} failed or hung), so nothing was compared byte for byte"),
        );
    }
    Check::new(
        NAME,
        Status::Pass,
        format!(
            "every successful read on B returned A's bytes: {read} of {compared} records compared byte for byte ({not_answered} reads failed or hung; {corruptions} {calls}s corrupted on B)"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(id: &str, first_offset: Option<usize>) -> Differs {
        Differs { id: id.into(), first_offset, len_b: 51200, len_a: 51200 }
    }

    #[test]
    fn exactly_one_corrupted_read_fails_naming_its_record_and_offset() {
        let c = no_silent_corruption(254, &[at("17", Some(4096))], 3, 36, "write");
        assert_eq!(c.status, Status::Fail);
        assert_eq!(
            c.evidence,
            "1 of 254 reads on B answered with success and bytes that differ from A's (36 writes corrupted on B; 3 reads failed or hung):\n  record 17: first differing byte at offset 4096 (B served 51200 bytes, A 51200)"
        );
        assert_eq!(c.lines, ["record 17: first differing byte at offset 4096 (B served 51200 bytes, A 51200)"]);
    }

    #[test]
    fn a_corrupted_read_whole_when_read_again_fails_too() {
        let c = no_silent_corruption(93, &[at("9", None), at("40", Some(0))], 1, 12, "read");
        assert_eq!(c.status, Status::Fail);
        assert_eq!(
            c.lines,
            [
                "record 9: B served other bytes than A's (size or SHA-256) with a success status once, A's 51200 bytes when read again",
                "record 40: first differing byte at offset 0 (B served 51200 bytes, A 51200)",
            ]
        );
        assert!(
            c.evidence.starts_with("2 of 93 reads on B answered with success and bytes that differ from A's (12 reads corrupted on B; 1 reads failed or hung):\n  record 9: "),
            "{}",
            c.evidence
        );
    }

    #[test]
    fn nothing_read_on_both_nodes_is_unknown() {
        let c = no_silent_corruption(0, &[], 0, 0, "write");
        assert_eq!((c.status, c.evidence.as_str()), (Status::Unknown, "no record was read on both nodes, so nothing to compare"));
    }

    #[test]
    fn every_read_of_b_failed_or_hung_is_unknown_not_a_pass() {
        let c = no_silent_corruption(5, &[], 5, 2, "write");
        assert_eq!(
            (c.status, c.evidence.as_str()),
            (Status::Unknown, "none of the 5 reads on B returned bytes (5 failed or hung), so nothing was compared byte for byte")
        );
        // More unanswered reads than records (retries): no underflow, still UNKNOWN.
        let c = no_silent_corruption(5, &[], 7, 2, "write");
        assert_eq!(
            (c.status, c.evidence.as_str()),
            (Status::Unknown, "none of the 5 reads on B returned bytes (7 failed or hung), so nothing was compared byte for byte")
        );
    }

    #[test]
    fn a_pass_says_how_many_records_were_compared_down_to_exactly_one() {
        let c = no_silent_corruption(254, &[], 0, 0, "write");
        assert_eq!(
            (c.status, c.evidence.as_str()),
            (Status::Pass, "every successful read on B returned A's bytes: 254 of 254 records compared byte for byte (0 reads failed or hung; 0 writes corrupted on B)")
        );
        // Exactly one read of B returned bytes: that one is evidence.
        let c = no_silent_corruption(5, &[], 4, 2, "read");
        assert_eq!(
            (c.status, c.evidence.as_str()),
            (Status::Pass, "every successful read on B returned A's bytes: 1 of 5 records compared byte for byte (4 reads failed or hung; 2 reads corrupted on B)")
        );
        let c = no_silent_corruption(1, &[], 0, 1, "write");
        assert_eq!(
            (c.status, c.evidence.as_str()),
            (Status::Pass, "every successful read on B returned A's bytes: 1 of 1 records compared byte for byte (0 reads failed or hung; 1 writes corrupted on B)")
        );
    }
}
