//! `corrupt`: which bytes of a write (or, for reads, of what the caller
//! receives) change, and to what. Pure and seeded: the same seed and fault
//! number give the same change, so a failing run can be replayed.
//!
//! - `flip`: one bit of one byte;
//! - `zero`: up to [`RUN`] bytes set to zero, starting at the first
//!   non-zero byte at or after the chosen position (all-zero data cannot be
//!   zeroed into something else: it is logged as 0 bytes changed);
//! - `random`: up to [`RUN`] bytes, each XORed with a non-zero random byte.
//!
//! A change never crosses an iovec entry, so the hook can splice it in as
//! one stack-held entry of its own.

use crate::config::CorruptMode;

/// Most bytes one fault changes.
pub const RUN: usize = 16;

/// The bytes to write instead of `len` bytes of the caller's, at offset
/// `at` of the call's data (entry `part`, offset `offset` in it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Corruption {
    pub at: usize,
    pub part: usize,
    pub offset: usize,
    pub len: usize,
    pub bytes: [u8; RUN],
    /// How many of the `len` bytes differ from the caller's.
    pub changed: usize,
}

/// splitmix64: a small, good, seedable generator.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The change for fault number `number` on data `parts`; None for no data.
pub fn choose(mode: CorruptMode, seed: u64, number: u64, parts: &[&[u8]]) -> Option<Corruption> {
    let total: usize = parts.iter().map(|p| p.len()).sum();
    if total == 0 {
        return None;
    }
    let mut state = mix(seed ^ mix(number));
    let mut next = || {
        state = mix(state);
        state
    };
    let mut at = (next() % total as u64) as usize;
    if mode == CorruptMode::Zero {
        // The first non-zero byte at or after `at`, wrapping around.
        let flat = |i: usize| byte_at(parts, i);
        if let Some(k) = (0..total).map(|k| (at + k) % total).find(|&i| flat(i) != 0) {
            at = k;
        }
    }
    let (part, offset) = locate(parts, at);
    let room = parts[part].len() - offset;
    let len = match mode {
        CorruptMode::Flip => 1,
        CorruptMode::Zero | CorruptMode::Random => room.min(RUN),
    };
    let mut bytes = [0u8; RUN];
    bytes[..len].copy_from_slice(&parts[part][offset..offset + len]);
    match mode {
        CorruptMode::Flip => bytes[0] ^= 1 << (next() % 8),
        CorruptMode::Zero => bytes[..len].fill(0),
        CorruptMode::Random => {
            for b in &mut bytes[..len] {
                *b ^= (next() % 255 + 1) as u8;
            }
        }
    }
    let original = &parts[part][offset..offset + len];
    let changed = original.iter().zip(&bytes[..len]).filter(|(a, b)| a != b).count();
    Some(Corruption { at, part, offset, len, bytes, changed })
}

fn locate(parts: &[&[u8]], mut at: usize) -> (usize, usize) {
    for (i, p) in parts.iter().enumerate() {
        if at < p.len() {
            return (i, at);
        }
        at -= p.len();
    }
    unreachable!("`at` is below the total length")
}

fn byte_at(parts: &[&[u8]], at: usize) -> u8 {
    let (i, o) = locate(parts, at);
    parts[i][o]
}

/// Applies a change to a copy of the data, for tests and for reads (where
/// the caller's buffer is the shim's to change).
#[cfg_attr(not(test), allow(dead_code))]
pub fn apply(c: &Corruption, part: &mut [u8]) {
    part[c.offset..c.offset + c.len].copy_from_slice(&c.bytes[..c.len]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_mode_changes_bytes_and_says_how_many() {
        let data = b"hello, world: a write of some bytes".to_vec();
        for mode in [CorruptMode::Flip, CorruptMode::Zero, CorruptMode::Random] {
            for n in 1..50 {
                let c = choose(mode, 7, n, &[&data]).unwrap();
                let mut copy = data.clone();
                apply(&c, &mut copy);
                let differ = data.iter().zip(&copy).filter(|(a, b)| a != b).count();
                assert!(differ >= 1, "{mode:?} {n}");
                assert_eq!(differ, c.changed);
                assert_eq!(c.at, c.offset);
                if mode == CorruptMode::Flip {
                    assert_eq!((c.len, differ), (1, 1));
                }
            }
        }
    }

    /// The generator is splitmix64 (its published first outputs from 0),
    /// and a fault's change is a function of the seed and its number: a
    /// run is replayed with the same changes by any build of the shim.
    #[test]
    fn the_changes_are_splitmix64s_and_pinned() {
        assert_eq!(mix(0), 0xe220_a839_7b1d_cdaf);
        assert_eq!(mix(0x9e37_79b9_7f4a_7c15), 0x6e78_9e6a_a1b9_65f4);
        let data: Vec<u8> = (1..=40).collect();
        let got: Vec<(usize, usize, [u8; 4])> = [(CorruptMode::Flip, 0), (CorruptMode::Random, 9)]
            .into_iter()
            .flat_map(|(mode, seed)| (1..=3).map(move |n| (mode, seed, n)))
            .map(|(mode, seed, n)| {
                let c = choose(mode, seed, n, &[&data]).unwrap();
                (c.at, c.len, c.bytes[..4].try_into().unwrap())
            })
            .collect();
        let want = [
            (35, 1, [100, 0, 0, 0]),
            (5, 1, [134, 0, 0, 0]),
            (27, 1, [30, 0, 0, 0]),
            (27, 13, [109, 254, 108, 136]),
            (9, 16, [154, 248, 148, 172]),
            (21, 16, [214, 70, 76, 15]),
        ];
        assert_eq!(got, want);
    }

    /// `zero` starts at the first non-zero byte at or after the chosen
    /// one, wrapping around: the one non-zero byte here, wherever the
    /// choice falls.
    #[test]
    fn zero_starts_at_the_next_non_zero_byte() {
        let data = [0, 0, 0, 0, 0, 0, 0, 5, 0, 0];
        for n in 0..40 {
            let c = choose(CorruptMode::Zero, 1, n, &[&data]).unwrap();
            assert_eq!((c.at, c.len, c.changed), (7, 3, 1), "fault {n}");
        }
    }

    /// An offset into the whole data is an iovec entry and an offset in it.
    #[test]
    fn offsets_are_located_in_their_part() {
        let (a, b) = ([1u8; 5], [2u8; 40]);
        let parts: [&[u8]; 3] = [&a, &[], &b];
        let at = [0, 4, 5, 7, 44].map(|i| locate(&parts, i));
        assert_eq!(at, [(0, 0), (0, 4), (2, 0), (2, 2), (2, 39)]);
        assert_eq!([4, 5].map(|i| byte_at(&parts, i)), [1, 2]);
    }

    #[test]
    fn seeded_and_within_one_part() {
        let (a, b) = (vec![1u8; 5], vec![2u8; 40]);
        let parts: [&[u8]; 2] = [&a, &b];
        for n in 0..100 {
            let c = choose(CorruptMode::Random, 3, n, &parts).unwrap();
            assert_eq!(choose(CorruptMode::Random, 3, n, &parts), Some(c), "the same seed, the same change");
            assert!(c.offset + c.len <= parts[c.part].len());
        }
        assert_ne!(choose(CorruptMode::Random, 3, 1, &parts), choose(CorruptMode::Random, 4, 1, &parts));
        assert_eq!(choose(CorruptMode::Flip, 0, 1, &[&[][..]]), None);
        let zeros = [0u8; 8];
        assert_eq!(choose(CorruptMode::Zero, 0, 1, &[&zeros]).unwrap().changed, 0, "all zero: nothing can change");
    }
}
