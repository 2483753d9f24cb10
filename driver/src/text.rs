//! Text, time and size helpers every other module may use: a leaf, it
//! imports nothing of the driver.
//!
//! Sizes have one grammar, the shim's (`HARPER_TEST_BLOB_FAIL_SPACE`), from
//! the shared vocabulary crate: binary units; `MB`, `KB` and `GB` are
//! refused rather than guessed (10^6 or 2^20?).

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

/// One line of at most `max` characters: whitespace runs become one space,
/// and the end is cut with `…`.
pub fn shorten(s: &str, max: usize) -> String {
    let one_line: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() <= max {
        one_line
    } else {
        let cut: String = one_line.chars().take(max.saturating_sub(1)).collect();
        format!("{cut}…")
    }
}

/// At most `max` characters of a log line, cut in the middle: its start says
/// what happened, its end names the file.
pub fn shorten_middle(line: &str, max: usize) -> String {
    let chars: Vec<char> = line.chars().collect();
    if chars.len() <= max {
        return line.to_string();
    }
    let head = max * 3 / 5;
    let tail = max - head - 1;
    format!("{}…{}", chars[..head].iter().collect::<String>(), chars[chars.len() - tail..].iter().collect::<String>())
}

/// The last `max` bytes of a file, as text ("" when unreadable).
pub fn tail(path: &Path, max: u64) -> String {
    let Ok(mut f) = File::open(path) else { return String::new() };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = f.seek(SeekFrom::Start(len.saturating_sub(max)));
    let mut buf = Vec::new();
    let _ = f.read_to_end(&mut buf);
    String::from_utf8_lossy(&buf).into_owned()
}

/// The last non-blank line of a file, shortened.
pub fn last_line(path: &Path) -> Option<String> {
    let text = tail(path, 4096);
    text.lines().rev().find(|l| !l.trim().is_empty()).map(|l| shorten(l, 100))
}

/// `st`, `nd`, `rd` or `th` for `n`.
/// A list as a sentence says it: "a", "a and b", "a, b and c".
pub fn and_list(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [one] => (*one).to_string(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

pub fn ordinal(n: u64) -> &'static str {
    match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    }
}

/// Bytes as the largest whole unit (`4 MiB`, `1536 KiB`, `1000 bytes`).
pub fn size(b: u64) -> String {
    for (unit, f) in [("GiB", 1u64 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)] {
        if b >= f && b.is_multiple_of(f) {
            return format!("{} {unit}", b / f);
        }
    }
    format!("{b} bytes")
}

/// A size, in the grammar the shim reads (`blobfail_vocab::units`): bytes,
/// or a number with B, KiB, MiB, GiB or TiB (`4MiB`, `1.5GiB`, a fraction
/// rounded down to whole bytes), case-insensitive; `MB` and friends are
/// refused with a hint. `0` is a size; callers that need more say so.
pub fn parse_size(s: &str) -> Result<u64, String> {
    blobfail_vocab::units::parse_size(s.trim().as_bytes()).map_err(|e| format!("{s:?} is {}", e.what()))
}

/// A delay: milliseconds, or with ms or s (`20ms`, `1s`; the grammar of
/// `blobfail_vocab::units::parse_millis`), 1 ms to 10 s.
pub fn parse_delay_ms(s: &str) -> Result<u64, String> {
    let ms = blobfail_vocab::units::parse_millis(s)
        .ok_or_else(|| format!("{s:?} is not a delay: give milliseconds, e.g. 20ms or 1s"))?;
    if ms == 0 || ms > 10_000 {
        return Err(format!("{s:?} is out of range: a delay is 1 ms to 10 s"));
    }
    Ok(ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn and_list_reads_as_a_sentence() {
        assert_eq!(and_list(&[]), "");
        assert_eq!(and_list(&["a"]), "a");
        assert_eq!(and_list(&["a", "b"]), "a and b");
        assert_eq!(and_list(&["a", "b", "c"]), "a, b and c");
    }

    #[test]
    fn one_size_grammar_binary_units_only() {
        assert_eq!(parse_size("4MiB"), Ok(4 << 20));
        assert_eq!(parse_size("4mib"), Ok(4 << 20));
        assert_eq!(parse_size("1.5GiB"), Ok(1536 << 20));
        assert_eq!(parse_size("1610612736"), Ok(1_610_612_736));
        assert_eq!(parse_size("3B"), Ok(3));
        assert_eq!(parse_size("0"), Ok(0));
        // MB is refused, as the shim refuses it: 10^6 or 2^20 is not guessed.
        assert_eq!(parse_size("10MB").unwrap_err(), "\"10MB\" is a decimal unit: write KiB, MiB or GiB (1 MiB = 1048576 bytes)");
        assert_eq!(
            parse_size("lots").unwrap_err(),
            "\"lots\" is not a size: a whole number of bytes, or a number with B, KiB, MiB, GiB or TiB (e.g. 10MiB, 1.5GiB)"
        );
        for s in ["2GB", "1KB", "1.5 parsecs", "MiB", "1.", ".5MiB", "1.2.3MiB", "-1", "99999999999GiB", "1 MiB"] {
            assert!(parse_size(s).is_err(), "{s}");
        }
    }

    #[test]
    fn sizes_delays_and_ordinals_read_as_words() {
        assert_eq!(size(4 << 20), "4 MiB");
        assert_eq!(size(1536 << 10), "1536 KiB");
        assert_eq!(size(1000), "1000 bytes");
        assert_eq!(parse_delay_ms("20ms"), Ok(20));
        assert_eq!(parse_delay_ms("1s"), Ok(1000));
        assert!(parse_delay_ms("0").is_err() && parse_delay_ms("11s").is_err() && parse_delay_ms("1m").is_err());
        assert_eq!([1, 2, 3, 4, 11, 12, 13, 21, 22, 111].map(ordinal), ["st", "nd", "rd", "th", "th", "th", "th", "st", "nd", "th"]);
        assert_eq!(shorten("a  b\nc", 10), "a b c");
        assert_eq!(shorten("abcdefghijkl", 5), "abcd…");
        assert_eq!(shorten_middle("abcdefghij", 6), "abc…ij");
    }
}
