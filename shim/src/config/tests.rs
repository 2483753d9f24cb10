//! The grammar's tests: examples, and property tests against a model.

use super::*;

fn parse_env<'a>(vars: &'a [(&'static str, &'a [u8])]) -> Parsed<'a> {
    parse(|name| vars.iter().find(|(k, _)| *k == name).map(|&(_, v)| v))
}

fn armed(vars: &[(&'static str, &[u8])]) -> Config {
    match parse_env(vars) {
        Parsed::Armed(c) => c,
        other => panic!("expected armed, got {other:?}"),
    }
}

fn problem_vars(vars: &[(&'static str, &[u8])]) -> Vec<&'static str> {
    match parse_env(vars) {
        Parsed::Invalid { problems } => problems.iter().flatten().map(|p| p.var).collect(),
        other => panic!("expected invalid, got {other:?}"),
    }
}

#[test]
fn unset_or_empty_interval_is_off() {
    assert!(matches!(parse_env(&[]), Parsed::Off));
    assert!(matches!(parse_env(&[(VAR_INTERVAL, b"")]), Parsed::Off));
    // Other variables alone do not arm it, and are not even looked at.
    assert!(matches!(parse_env(&[(VAR_ERRNO, b"bogus")]), Parsed::Off));
}

#[test]
fn defaults() {
    let c = armed(&[(VAR_INTERVAL, b"7")]);
    assert_eq!(c.plan, Plan { interval: 7, skip: 0, max: None });
    assert_eq!(c.errno, libc::ENOENT);
    assert_eq!(c.ops, Ops::Write);
    assert_eq!(c.needle(), b"/blobs/");
    assert_eq!(c.needle_nul(), b"/blobs/\0");
    assert_eq!(c.prefilter_nul(), b"/blobs\0");
    assert_eq!(c.log_path(), None);
}

/// The log's and the journal's paths are there only when set (the hooks
/// write no log line and keep no journal otherwise), with their NUL; a
/// journal alone makes opens track their descriptors, whose writes and
/// syncs it records.
#[test]
fn log_and_journal_paths_only_when_set() {
    let plain = armed(&[(VAR_INTERVAL, b"1")]);
    assert_eq!((plain.log_path(), plain.log_path_nul(), plain.journal_path_nul()), (None, None, None));
    assert!(!plain.tracks_descriptors());
    let journaled = armed(&[(VAR_INTERVAL, b"1"), (VAR_JOURNAL, b"/tmp/j")]);
    assert_eq!(journaled.journal_path_nul(), Some(&b"/tmp/j\0"[..]));
    assert_eq!(journaled.log_path_nul(), None);
    assert!(journaled.tracks_descriptors());
}

/// EFFECT, CRASH, CORRUPT and SEED, and an effect refused (with why)
/// when a chosen family or the space budget cannot take it.
#[test]
fn effects_and_their_options() {
    let c = armed(&[(VAR_INTERVAL, b"1")]);
    assert_eq!((c.effect, c.crash_group, c.corrupt, c.seed), (Effect::Fail, false, CorruptMode::Flip, 0));
    let c = armed(&[
        (VAR_INTERVAL, b"2"),
        (VAR_CALLS, b"write,read"),
        (VAR_EFFECT, b"corrupt"),
        (VAR_CORRUPT, b"zero"),
        (VAR_SEED, b"42"),
        (VAR_CRASH, b"group"),
    ]);
    assert_eq!((c.effect, c.crash_group, c.corrupt, c.seed), (Effect::Corrupt, true, CorruptMode::Zero, 42));
    // Each effect where it fits: the budget alone takes the write effects.
    assert_eq!(armed(&[(VAR_SPACE, b"1KiB"), (VAR_EFFECT, b"drop")]).effect, Effect::Drop);
    assert_eq!(armed(&[(VAR_INTERVAL, b"1"), (VAR_CALLS, b"sync"), (VAR_EFFECT, b"fake-sync")]).effect, Effect::FakeSync);
    assert_eq!(armed(&[(VAR_INTERVAL, b"1"), (VAR_CALLS, b"read"), (VAR_EFFECT, b"short")]).effect, Effect::Short);
    type Vars<'a> = &'a [(&'static str, &'a [u8])];
    let refused: [(Vars, &str); 5] = [
        (
            &[(VAR_INTERVAL, b"1"), (VAR_EFFECT, b"corrupt")],
            "for writes and reads only: set HARPER_TEST_BLOB_FAIL_CALLS=write or read (or use SPACE alone)",
        ),
        (
            &[(VAR_INTERVAL, b"1"), (VAR_CALLS, b"write,sync"), (VAR_EFFECT, b"drop")],
            "for writes only: set HARPER_TEST_BLOB_FAIL_CALLS=write (or use SPACE alone)",
        ),
        (&[(VAR_SPACE, b"1KiB"), (VAR_EFFECT, b"fake-sync")], "for syncs only: set HARPER_TEST_BLOB_FAIL_CALLS=sync, without SPACE"),
        (
            &[(VAR_INTERVAL, b"1"), (VAR_CALLS, b"read"), (VAR_SPACE, b"1KiB"), (VAR_EFFECT, b"short")],
            "for reads only: set HARPER_TEST_BLOB_FAIL_CALLS=read, without SPACE",
        ),
        (&[(VAR_INTERVAL, b"1"), (VAR_EFFECT, b"melt")], "not an effect: fail, crash-before, crash-after, corrupt, drop, fake-sync or short"),
    ];
    for (vars, what) in refused {
        match parse_env(vars) {
            Parsed::Invalid { problems } => {
                let p: Vec<_> = problems.iter().flatten().map(|p| (p.var, p.what)).collect();
                assert_eq!(p, [(VAR_EFFECT, what)], "{vars:?}");
            }
            other => panic!("{vars:?}: expected invalid, got {other:?}"),
        }
    }
}

/// JOURNAL's path leaves 8 bytes of PATH_MAX for the names of its folder
/// of saved files: 4087 bytes are taken, 4088 refused.
#[test]
fn the_journal_path_leaves_room_for_its_folder() {
    let longest = vec![b'j'; MAX_LOG_PATH - 8];
    assert_eq!(armed(&[(VAR_INTERVAL, b"1"), (VAR_JOURNAL, &longest)]).journal_path_nul().map(<[u8]>::len), Some(MAX_LOG_PATH - 7));
    let over = vec![b'j'; MAX_LOG_PATH - 7];
    assert_eq!(problem_vars(&[(VAR_INTERVAL, b"1"), (VAR_JOURNAL, &over)]), [VAR_JOURNAL]);
}

#[test]
fn every_variable() {
    let c = armed(&[
        (VAR_INTERVAL, b"3"),
        (VAR_SKIP, b"10"),
        (VAR_MAX, b"2"),
        (VAR_ERRNO, b"eio"),
        (VAR_OPS, b"ALL"),
        (VAR_PATH, b"/data/\xff/"),
        (VAR_LOG, b"/tmp/f.jsonl"),
    ]);
    assert_eq!(c.plan, Plan { interval: 3, skip: 10, max: Some(2) });
    assert_eq!(c.errno, libc::EIO);
    assert_eq!(c.ops, Ops::All);
    assert_eq!(c.needle(), b"/data/\xff/");
    assert_eq!(c.log_path(), Some(&b"/tmp/f.jsonl"[..]));
    assert_eq!(c.log_path_nul(), Some(&b"/tmp/f.jsonl\0"[..]));
    assert_eq!(armed(&[(VAR_INTERVAL, b"1"), (VAR_ERRNO, b"28")]).errno, 28);
    assert_eq!(armed(&[(VAR_INTERVAL, b"1"), (VAR_MAX, b"none")]).plan.max, None);
}

#[test]
fn invalid_interval_values() {
    for bad in [
        &b"0"[..], b"-7", b"+7", b" 7", b"7 ", b"7x", b"0x7", b"abc", b"1e3", b"7.0",
        b"18446744073709551616", b"99999999999999999999999", b"\xff",
    ] {
        assert_eq!(problem_vars(&[(VAR_INTERVAL, bad)]), [VAR_INTERVAL], "{bad:?}");
    }
    assert_eq!(parse_u64(b"18446744073709551615"), Some(u64::MAX));
}

#[test]
fn one_problem_per_invalid_variable() {
    let vars = problem_vars(&[
        (VAR_INTERVAL, b"7"),
        (VAR_ERRNO, b"EWHAT"),
        (VAR_OPS, b"read"),
        (VAR_SKIP, b"-1"),
        (VAR_MAX, b"lots"),
    ]);
    assert_eq!(vars, [VAR_SKIP, VAR_MAX, VAR_ERRNO, VAR_OPS]);
    assert_eq!(problem_vars(&[(VAR_INTERVAL, b"7"), (VAR_ERRNO, b"0")]), [VAR_ERRNO]);
    assert_eq!(problem_vars(&[(VAR_INTERVAL, b"7"), (VAR_ERRNO, b"4096")]), [VAR_ERRNO]);
    let long = [b'a'; MAX_NEEDLE + 1];
    assert_eq!(problem_vars(&[(VAR_INTERVAL, b"7"), (VAR_PATH, &long)]), [VAR_PATH]);
}

/// Regression: a zero-padded number longer than 20 bytes was refused as
/// if it overflowed.
#[test]
fn leading_zeros_do_not_count_toward_overflow() {
    assert_eq!(parse_u64(b"0000000000000000000000000007"), Some(7));
    assert_eq!(parse_u64(b"0000000000000000000018446744073709551615"), Some(u64::MAX));
    assert_eq!(parse_u64(b"0000000000000000000018446744073709551616"), None);
    assert_eq!(armed(&[(VAR_INTERVAL, b"00000000000000000000013")]).plan.interval, 13);
}

#[test]
fn libuv_reads_uv_use_io_uring_with_atoi() {
    for on in [&b"1"[..], b"2", b"01", b" 1", b"\t+1", b"1x", b"-1", b"10"] {
        assert!(uv_io_uring_on(on), "{on:?}");
    }
    for off in [&b"0"[..], b"00", b"-0", b"no", b"", b" ", b"x1", b"+", b"- 1"] {
        assert!(!uv_io_uring_on(off), "{off:?}");
    }
}

#[test]
fn new_variables() {
    let c = armed(&[(VAR_SPACE, b"10MiB")]);
    assert_eq!((c.plan.interval, c.space, c.calls), (0, Some(10 << 20), Calls::OPEN), "SPACE arms alone");
    assert_eq!(armed(&[(VAR_DELAY, b"50ms")]).delay_ns, 50_000_000, "DELAY arms alone");
    let c = armed(&[(VAR_INTERVAL, b"7"), (VAR_CALLS, b"open,WRITE,sync"), (VAR_SCOPE, b"tree"), (VAR_URING, b"allow")]);
    assert!(c.calls.has(Family::Open) && c.calls.has(Family::Write) && c.calls.has(Family::Sync));
    assert!(!c.calls.has(Family::Close));
    assert_eq!((c.scope, c.deny_io_uring), (Scope::Tree, false));
    let d = armed(&[(VAR_INTERVAL, b"7")]);
    assert_eq!((d.calls, d.space, d.delay_ns, d.scope, d.deny_io_uring), (Calls::OPEN, None, 0, Scope::Process, true));
    assert_eq!(armed(&[(VAR_INTERVAL, b"1"), (VAR_CALLS, b"all")]).calls, Calls::ALL);
    assert_eq!(d.space_errno(), libc::ENOSPC);
    assert_eq!(armed(&[(VAR_SPACE, b"1"), (VAR_ERRNO, b"EIO")]).space_errno(), libc::EIO);
    for (raw, want) in [(&b"0"[..], Some(0)), (b"12", Some(12)), (b"3B", Some(3)), (b"2kib", Some(2048)), (b"1GiB", Some(1 << 30)),
                        (b"1.5KiB", Some(1536)), (b"1 MiB", None), (b"1MB", None), (b"MiB", None), (b"-1", None), (b"99999999999999GiB", None)] {
        assert_eq!(parse_size(raw).ok(), want, "{raw:?}");
    }
    for (raw, want) in [(&b"0"[..], Some(0)), (b"50ms", Some(50_000_000)), (b"2s", Some(2_000_000_000)), (b"7us", Some(7_000)),
                        (b"9ns", Some(9)), (b"3600s", Some(MAX_DELAY_NS)), (b"3601s", None), (b"50", None), (b"1m", None), (b"ms", None)] {
        assert_eq!(parse_delay(raw), want, "{raw:?}");
    }
    for bad in [&b"open,"[..], b",open", b"open,,write", b"opens", b"open write", b"reads"] {
        assert_eq!(problem_vars(&[(VAR_INTERVAL, b"1"), (VAR_CALLS, bad)]), [VAR_CALLS], "{bad:?}");
    }
    assert_eq!(problem_vars(&[(VAR_SPACE, b"lots"), (VAR_SCOPE, b"world"), (VAR_URING, b"maybe"), (VAR_DELAY, b"soon")]),
               [VAR_SPACE, VAR_DELAY, VAR_SCOPE, VAR_URING]);
}

#[test]
fn errno_names_round_trip() {
    for &(name, v) in ERRNO_NAMES {
        assert_eq!(parse_errno(name.as_bytes()), Some(v));
        assert_eq!(errno_name(v), Some(name));
    }
}

/// Property tests: every variable gets hostile values (arbitrary bytes,
/// numbers with signs, spaces, hex prefixes and junk around them,
/// overflowing and zero-padded digits, names in odd cases, very long
/// values, invalid UTF-8), and `parse` must agree with a model of the
/// grammar written independently of it, never panic, never arm with an
/// invalid value, and name each invalid variable exactly once.
mod properties {
    use super::*;
    use crate::format::{self, StackBuf};
    use proptest::prelude::*;

    const ORDER: [&str; 12] = [
        VAR_INTERVAL, VAR_SKIP, VAR_MAX, VAR_ERRNO, VAR_OPS, VAR_PATH, VAR_LOG, VAR_CALLS, VAR_SPACE, VAR_DELAY,
        VAR_SCOPE, VAR_URING,
    ];

    /// A number with one of `units` (lower case) after it, in any case; its value in base units.
    fn model_with_unit(v: &[u8], units: &[(&str, u128)]) -> Option<u128> {
        let text = std::str::from_utf8(v).ok()?;
        let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
        let (digits, unit) = text.split_at(split);
        let n = model_number(digits.as_bytes())? as u128;
        let &(_, factor) = units.iter().find(|(u, _)| *u == unit.to_ascii_lowercase())?;
        Some(n * factor).filter(|&b| b <= u64::MAX as u128)
    }

    /// A size: digits, an optional `.digits` fraction, a binary unit;
    /// the bytes rounded down, when they fit in 64 bits.
    fn model_size(v: &[u8]) -> Option<u128> {
        let text = std::str::from_utf8(v).ok()?;
        let int_end = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
        let (int, rest) = text.split_at(int_end);
        let (frac, unit) = match rest.strip_prefix('.') {
            Some(r) => {
                let e = r.find(|c: char| !c.is_ascii_digit()).unwrap_or(r.len());
                if e == 0 {
                    return None;
                }
                r.split_at(e)
            }
            None => ("", rest),
        };
        let units = [("", 1u128), ("b", 1), ("kib", 1 << 10), ("mib", 1 << 20), ("gib", 1 << 30), ("tib", 1 << 40)];
        let &(_, factor) = units.iter().find(|(u, _)| *u == unit.to_ascii_lowercase())?;
        let whole = model_number(int.as_bytes())? as u128 * factor;
        let frac = &frac[..frac.len().min(30)];
        let part = if frac.is_empty() { 0 } else { frac.parse::<u128>().ok()? * factor / 10u128.pow(frac.len() as u32) };
        Some(whole + part).filter(|&b| whole <= u64::MAX as u128 && b <= u64::MAX as u128)
    }

    /// The value of a string of plain ASCII digits, None when it is not one or exceeds u64.
    fn model_number(v: &[u8]) -> Option<u64> {
        if v.is_empty() || !v.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let digits = std::str::from_utf8(v).unwrap().trim_start_matches('0');
        if digits.is_empty() {
            return Some(0);
        }
        if digits.len() > 20 {
            return None;
        }
        digits.parse::<u128>().ok().and_then(|n| u64::try_from(n).ok())
    }

    /// What the grammar says about one non-empty value: Ok(is valid) per variable.
    fn model_valid(var: &str, v: &[u8]) -> bool {
        let lower = v.to_ascii_lowercase();
        match var {
            VAR_INTERVAL => model_number(v).is_some_and(|n| n >= 1),
            VAR_SKIP => model_number(v).is_some(),
            VAR_MAX => lower == b"none" || model_number(v).is_some(),
            VAR_ERRNO => {
                ERRNO_NAMES.iter().any(|(n, _)| n.to_ascii_lowercase().as_bytes() == lower)
                    || model_number(v).is_some_and(|n| (1..=4095).contains(&n))
            }
            VAR_OPS => lower == b"write" || lower == b"all",
            VAR_PATH => v.len() <= 256,
            VAR_LOG => v.len() <= 4095,
            VAR_CALLS => v.split(|&b| b == b',').all(|item| {
                let item = item.to_ascii_lowercase();
                ["open", "write", "sync", "close", "rename", "truncate", "mkdir", "unlink", "read", "all"]
                    .iter()
                    .any(|n| n.as_bytes() == item)
            }),
            VAR_SPACE => model_size(v).is_some(),
            VAR_DELAY => {
                v == b"0"
                    || model_with_unit(v, &[("ns", 1), ("us", 1000), ("ms", 1_000_000), ("s", 1_000_000_000)])
                        .is_some_and(|ns| ns <= 3_600_000_000_000)
            }
            VAR_SCOPE => lower == b"process" || lower == b"tree",
            VAR_URING => lower == b"deny" || lower == b"allow",
            _ => unreachable!(),
        }
    }

    fn from_strs(options: &'static [&'static str]) -> impl Strategy<Value = Vec<u8>> {
        prop::sample::select(options).prop_map(|s| s.as_bytes().to_vec())
    }

    /// Values meant to hurt a parser.
    fn hostile() -> impl Strategy<Value = Vec<u8>> {
        let junk: &'static [&'static str] =
            &["", "", " ", "\t", "\n", "+", "-", "0x", "0X", "x", "e3", ".0", "_", "k", "\u{a0}", "\u{ff10}"];
        let names: &'static [&'static str] = &[
            "none", "NONE", "NoNe", "write", "WRITE", "all", "All", "ENOENT", "eio", "EnOsPc",
            "EOVERFLOW", "E", "ENOENT2", "read", "writes", "al", "non", "/blobs/", "0", "4095",
            "4096", "18446744073709551615", "18446744073709551616", "open,write", "SYNC", "all", "close,",
            "10MiB", "1kib", "7B", "50ms", "2s", "3601s", "1m", "tree", "Process", "deny", "ALLOW",
        ];
        prop_oneof![
            // Arbitrary bytes, UTF-8 or not.
            4 => prop::collection::vec(any::<u8>(), 0..24),
            // A number with junk before and after it.
            4 => (from_strs(junk), any::<u64>(), from_strs(junk))
                .prop_map(|(a, n, b)| [a, n.to_string().into_bytes(), b].concat()),
            // Overflowing, or zero-padded, digit strings.
            2 => prop::collection::vec(b'0'..=b'9', 18..45),
            2 => (0usize..40, any::<u64>()).prop_map(|(z, n)| [vec![b'0'; z], n.to_string().into_bytes()].concat()),
            // The grammar's own words and near misses, with junk around them.
            3 => (from_strs(junk), from_strs(names), from_strs(junk)).prop_map(|(a, n, b)| [a, n, b].concat()),
            // Invalid UTF-8 next to something that would be valid.
            1 => (from_strs(names), prop::sample::select(&[0x80u8, 0xc3, 0xfe, 0xff][..]))
                .prop_map(|(n, b)| [n, vec![b]].concat()),
            // Very long values, around each length limit.
            1 => (250usize..5000, any::<u8>()).prop_map(|(len, b)| vec![b; len]),
            1 => prop::sample::select(&[256usize, 257, 4095, 4096][..]).prop_map(|len| vec![b'/'; len]),
        ]
    }

    fn env() -> impl Strategy<Value = Vec<Option<Vec<u8>>>> {
        prop::collection::vec(prop::option::weighted(0.6, hostile()), ORDER.len())
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 4000, ..ProptestConfig::default() })]

        #[test]
        fn parse_agrees_with_the_grammar(values in env()) {
            let vars: Vec<(&'static str, &[u8])> = ORDER
                .iter()
                .zip(&values)
                .filter_map(|(&k, v)| v.as_deref().map(|v| (k, v)))
                .collect();
            let parsed = parse_env(&vars);
            // Empty counts as unset.
            let set: Vec<(&str, &[u8])> = vars.iter().copied().filter(|(_, v)| !v.is_empty()).collect();
            let get = |k: &str| set.iter().find(|(n, _)| *n == k).map(|&(_, v)| v);
            if get(VAR_INTERVAL).is_none() && get(VAR_SPACE).is_none() && get(VAR_DELAY).is_none() {
                prop_assert!(matches!(parsed, Parsed::Off), "{:?}", parsed);
                return Ok(());
            }
            let invalid: Vec<&str> = ORDER
                .iter()
                .copied()
                .filter(|&k| get(k).is_some_and(|v| !model_valid(k, v)))
                .collect();
            match parsed {
                Parsed::Off => prop_assert!(false, "interval, space or delay set but off"),
                Parsed::Armed(cfg) => {
                    prop_assert!(invalid.is_empty(), "armed despite invalid {:?}", invalid);
                    let interval = get(VAR_INTERVAL).map_or(0, |v| model_number(v).unwrap());
                    prop_assert_eq!(cfg.plan.interval, interval);
                    prop_assert_eq!(cfg.plan.skip, get(VAR_SKIP).map_or(0, |v| model_number(v).unwrap()));
                    prop_assert_eq!(cfg.needle(), get(VAR_PATH).unwrap_or(b"/blobs/"));
                    prop_assert_eq!(cfg.log_path(), get(VAR_LOG));
                    if let Some(p) = cfg.log_path_nul() {
                        prop_assert_eq!(p.last(), Some(&0));
                    }
                }
                Parsed::Invalid { problems } => {
                    let named: Vec<&str> = problems.iter().flatten().map(|p| p.var).collect();
                    prop_assert_eq!(&named, &invalid, "one problem per invalid variable, in order");
                    for p in problems.iter().flatten() {
                        prop_assert_eq!(Some(p.value), get(p.var));
                        // Its warning is one printable line that names the variable.
                        let mut line = StackBuf::<512>::new();
                        format::problem(&mut line, p);
                        let line = line.finish_line();
                        let prefix = format!("blobfail: ignoring {}=\"", p.var);
                        prop_assert!(line.starts_with(prefix.as_bytes()));
                        prop_assert_eq!(line.iter().filter(|&&b| b == b'\n').count(), 1);
                        prop_assert_eq!(line.last(), Some(&b'\n'));
                        prop_assert!(line[..line.len() - 1].iter().all(|b| (0x20..0x7f).contains(b)));
                    }
                }
            }
        }

        /// An interval that is not a whole number from 1 up never arms the
        /// shim, whatever the other variables say.
        #[test]
        fn an_invalid_interval_never_arms(interval in hostile(), rest in env()) {
            prop_assume!(!interval.is_empty() && !model_valid(VAR_INTERVAL, &interval));
            let mut vars: Vec<(&'static str, &[u8])> = vec![(VAR_INTERVAL, &interval)];
            vars.extend(ORDER[1..].iter().zip(&rest).filter_map(|(&k, v)| v.as_deref().map(|v| (k, v))));
            match parse_env(&vars) {
                Parsed::Invalid { problems } => {
                    let first = problems[0].unwrap();
                    prop_assert_eq!(first.var, VAR_INTERVAL);
                    prop_assert_eq!(first.value, &interval[..]);
                }
                other => prop_assert!(false, "{:?}", other),
            }
        }

        #[test]
        fn parse_u64_is_plain_decimal(raw in hostile()) {
            prop_assert_eq!(parse_u64(&raw), model_number(&raw));
        }
    }
}
