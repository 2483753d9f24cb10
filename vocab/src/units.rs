//! The size and duration grammar, one parser each, for the shim's
//! variables and the driver's options alike.
//!
//! **Sizes** are bytes: a whole number, or a number with a binary unit
//! `B`, `KiB`, `MiB`, `GiB`, `TiB` (any case; 1 KiB = 1024 bytes), with no
//! space between: `4096`, `10MiB`, `1.5GiB`. A fraction is rounded down to
//! whole bytes. The decimal units `KB`, `MB`, `GB` (and `K`, `M`, `G`) are
//! refused, with a hint: half the tools that print them mean 1000 and half
//! 1024, and a fault budget that is off by 5 % is a different test.
//!
//! **Durations** are a whole number with `ns`, `us`, `ms` or `s` (`50ms`,
//! `2s`); a bare `0` is no time at all. A bare number is refused: `50`
//! could be any unit.
//!
//! **Milliseconds** ([`parse_millis`]) are the driver's delay options'
//! grammar, kept apart from the shim's: a bare number is milliseconds.

/// Plain decimal digits only: no sign, no spaces, no hex, no overflow.
/// Leading zeros are fine, however many (`000…0007` is 7).
pub fn parse_u64(raw: &[u8]) -> Option<u64> {
    if raw.is_empty() {
        return None;
    }
    let mut v: u64 = 0;
    for &b in raw {
        if !b.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    Some(v)
}

/// The binary size units and their factors.
pub const SIZE_UNITS: [(&str, u64); 6] =
    [("", 1), ("B", 1), ("KiB", 1 << 10), ("MiB", 1 << 20), ("GiB", 1 << 30), ("TiB", 1 << 40)];

/// Units refused on purpose (see the module doc).
const DECIMAL_UNITS: [&str; 6] = ["K", "KB", "M", "MB", "G", "GB"];

/// What is wrong with a size; [`SizeError::what`] reads after `"…" is`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SizeError {
    /// Not a number with a unit at all.
    Malformed,
    /// `MB` and friends.
    DecimalUnit,
    /// More than 2^64 - 1 bytes.
    TooLarge,
}

impl SizeError {
    pub const fn what(self) -> &'static str {
        match self {
            SizeError::Malformed => {
                "not a size: a whole number of bytes, or a number with B, KiB, MiB, GiB or TiB (e.g. 10MiB, 1.5GiB)"
            }
            SizeError::DecimalUnit => "a decimal unit: write KiB, MiB or GiB (1 MiB = 1048576 bytes)",
            SizeError::TooLarge => "more bytes than 2^64 - 1",
        }
    }
}

/// A size in bytes (see the module doc).
pub fn parse_size(raw: &[u8]) -> Result<u64, SizeError> {
    let int_len = raw.iter().take_while(|b| b.is_ascii_digit()).count();
    let (int, rest) = raw.split_at(int_len);
    let (frac, unit) = match rest {
        [b'.', tail @ ..] => {
            let n = tail.iter().take_while(|b| b.is_ascii_digit()).count();
            if n == 0 {
                return Err(SizeError::Malformed);
            }
            tail.split_at(n)
        }
        _ => (&b""[..], rest),
    };
    if int.is_empty() {
        return Err(SizeError::Malformed);
    }
    let Some(&(_, factor)) = SIZE_UNITS.iter().find(|(u, _)| u.as_bytes().eq_ignore_ascii_case(unit)) else {
        if DECIMAL_UNITS.iter().any(|u| u.as_bytes().eq_ignore_ascii_case(unit)) {
            return Err(SizeError::DecimalUnit);
        }
        return Err(SizeError::Malformed);
    };
    let whole = parse_u64(int).ok_or(SizeError::TooLarge)?.checked_mul(factor).ok_or(SizeError::TooLarge)?;
    // The fraction, digit by digit, in 128 bits: exact, then rounded down.
    let (mut num, mut den) = (0u128, 1u128);
    for &d in frac.iter().take(30) {
        num = num * 10 + u128::from(d - b'0');
        den *= 10;
    }
    let part = (num * u128::from(factor) / den) as u64;
    whole.checked_add(part).ok_or(SizeError::TooLarge)
}

/// Bytes as the largest binary unit that divides them (`4MiB`, `1536KiB`,
/// `1000B`), in the grammar [`parse_size`] reads back.
pub fn write_size(out: &mut impl core::fmt::Write, bytes: u64) -> core::fmt::Result {
    for &(unit, f) in SIZE_UNITS.iter().rev() {
        if f > 1 && bytes >= f && bytes.is_multiple_of(f) {
            return write!(out, "{}{unit}", bytes / f);
        }
    }
    write!(out, "{bytes}B")
}

/// Duration units and their length in nanoseconds.
pub const DURATION_UNITS: [(&str, u64); 4] = [("ns", 1), ("us", 1_000), ("ms", 1_000_000), ("s", 1_000_000_000)];

/// What [`parse_duration_ns`] refuses, after `"…" is`.
pub const DURATION_WHAT: &str = "not a duration: a whole number with ns, us, ms or s (e.g. 50ms)";

/// A duration in nanoseconds (see the module doc).
pub fn parse_duration_ns(raw: &[u8]) -> Option<u64> {
    if raw == b"0" {
        return Some(0);
    }
    let digits = raw.iter().take_while(|b| b.is_ascii_digit()).count();
    let value = parse_u64(&raw[..digits])?;
    let unit = &raw[digits..];
    let &(_, factor) = DURATION_UNITS.iter().find(|(u, _)| u.as_bytes().eq_ignore_ascii_case(unit))?;
    value.checked_mul(factor)
}

/// A duration as the largest of s, ms, us, ns that divides it, in the
/// grammar [`parse_duration_ns`] reads back.
pub fn write_duration(out: &mut impl core::fmt::Write, ns: u64) -> core::fmt::Result {
    match ns {
        0 => out.write_str("0"),
        n if n % 1_000_000_000 == 0 => write!(out, "{}s", n / 1_000_000_000),
        n if n % 1_000_000 == 0 => write!(out, "{}ms", n / 1_000_000),
        n if n % 1_000 == 0 => write!(out, "{}us", n / 1_000),
        n => write!(out, "{n}ns"),
    }
}

/// The driver's delay options (`blobfail run --delay`): a whole number of
/// milliseconds, bare or with `ms`, or of seconds with `s` (`20`, `20ms`,
/// `1s`), spaces around the number and before the unit allowed. Not the
/// shim's `DELAY` grammar ([`parse_duration_ns`] wants a unit, and knows
/// `ns` and `us`): an option given in milliseconds for years keeps its
/// bare number. The range (a delay worth injecting) is the caller's.
pub fn parse_millis(raw: &str) -> Option<u64> {
    let t = raw.trim();
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(digits);
    let n: u64 = num.parse().ok()?;
    match unit.trim() {
        "" | "ms" => Some(n),
        "s" => n.checked_mul(1000),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        for (raw, want) in [
            (&b"0"[..], Ok(0)),
            (b"12", Ok(12)),
            (b"3B", Ok(3)),
            (b"2kib", Ok(2048)),
            (b"1GiB", Ok(1 << 30)),
            (b"1.5GiB", Ok(3 << 29)),
            (b"0.3KiB", Ok(307)),
            (b"1TiB", Ok(1 << 40)),
            (b"1MB", Err(SizeError::DecimalUnit)),
            (b"10m", Err(SizeError::DecimalUnit)),
            (b"1 MiB", Err(SizeError::Malformed)),
            (b"MiB", Err(SizeError::Malformed)),
            (b".5MiB", Err(SizeError::Malformed)),
            (b"1.MiB", Err(SizeError::Malformed)),
            (b"-1", Err(SizeError::Malformed)),
            (b"", Err(SizeError::Malformed)),
            (b"99999999999999GiB", Err(SizeError::TooLarge)),
            (b"18446744073709551616", Err(SizeError::TooLarge)),
        ] {
            assert_eq!(parse_size(raw), want, "{:?}", core::str::from_utf8(raw));
        }
    }

    #[test]
    fn sizes_and_durations_round_trip() {
        for b in [0u64, 1, 1000, 1024, 1536, 4 << 20, 3 << 30, u64::MAX] {
            let mut s = String::new();
            write_size(&mut s, b).unwrap();
            assert_eq!(parse_size(s.as_bytes()), Ok(b), "{s}");
        }
        for ns in [0u64, 9, 7_000, 50_000_000, 2_000_000_000, 1_500] {
            let mut s = String::new();
            write_duration(&mut s, ns).unwrap();
            assert_eq!(parse_duration_ns(s.as_bytes()), Some(ns), "{s}");
        }
    }

    #[test]
    fn millis() {
        for (raw, want) in [
            ("20", Some(20)),
            ("20ms", Some(20)),
            (" 20 ms ", Some(20)),
            ("1s", Some(1000)),
            ("0", Some(0)),
            ("20MS", None),
            ("20us", None),
            ("1.5s", None),
            ("ms", None),
            ("", None),
            ("+20", None),
            ("18446744073709551615s", None),
            ("18446744073709551616", None),
        ] {
            assert_eq!(parse_millis(raw), want, "{raw:?}");
        }
    }

    #[test]
    fn durations() {
        for (raw, want) in [
            (&b"0"[..], Some(0)),
            (b"50ms", Some(50_000_000)),
            (b"2S", Some(2_000_000_000)),
            (b"7us", Some(7_000)),
            (b"9ns", Some(9)),
            (b"50", None),
            (b"1m", None),
            (b"ms", None),
            (b"1.5s", None),
        ] {
            assert_eq!(parse_duration_ns(raw), want, "{raw:?}");
        }
    }
}
