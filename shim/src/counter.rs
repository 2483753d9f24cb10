//! Which calls fail: one count of matching calls per family, shared by every
//! entry point and thread (and, under `SCOPE=tree`, by a process tree), the
//! space budget, and the pure rule that turns a count into a fault.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::config::{Family, Plan, FAMILIES};

/// The rule: the k-th matching call (k from 1) is a fault position iff
/// `k > skip` and `(k - skip)` is a multiple of `interval`.
pub fn is_fault_position(plan: &Plan, k: u64) -> bool {
    k > plan.skip && (k - plan.skip).is_multiple_of(plan.interval)
}

/// An injected fault: the matching call's number and the fault's own number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fault {
    pub seq: u64,
    pub number: u64,
}

/// Counts one matching call; `Some` when this call must fail.
fn on_match(matching: &AtomicU64, faults: &AtomicU64, plan: &Plan) -> Option<Fault> {
    // Relaxed is enough: each call only needs a unique k, and nothing
    // else is published through these counters.
    let seq = matching.fetch_add(1, Ordering::Relaxed) + 1;
    if !is_fault_position(plan, seq) {
        return None;
    }
    let previous = match plan.max {
        None => faults.fetch_add(1, Ordering::Relaxed),
        Some(max) => faults
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |f| (f < max).then_some(f + 1))
            .ok()?,
    };
    Some(Fault { seq, number: previous + 1 })
}

#[cfg(test)]
/// One family's counters on their own. Plain atomics: no lock, so any thread, a signal
/// handler and a forked child (which inherits the values) can all count.
pub struct Counters {
    matching: AtomicU64,
    faults: AtomicU64,
}

#[cfg(test)]
impl Counters {
    pub const fn new() -> Self {
        Counters {
            matching: AtomicU64::new(0),
            faults: AtomicU64::new(0),
        }
    }

    /// Counts one matching call; `Some` when this call must fail.
    pub fn on_match(&self, plan: &Plan) -> Option<Fault> {
        on_match(&self.matching, &self.faults, plan)
    }

    /// (matching calls seen, faults injected).
    pub fn totals(&self) -> (u64, u64) {
        (self.matching.load(Ordering::Relaxed), self.faults.load(Ordering::Relaxed))
    }
}

#[cfg(test)]
impl Default for Counters {
    fn default() -> Self {
        Self::new()
    }
}

/// Marks a [`Shared`] block as ours (a descendant checks it before trusting
/// an inherited descriptor).
pub const SHARED_MAGIC: u64 = 0x626c_6f62_6661_696c; // "blobfail"

/// Words in a [`Shared`] block: the magic, (matching, faults) per family,
/// the space used, and the space faults.
pub const WORDS: usize = 1 + 2 * FAMILIES.len() + 2;
const SPACE_USED: usize = 1 + 2 * FAMILIES.len();
const SPACE_FAULTS: usize = SPACE_USED + 1;

/// Everything that counts: a counter per family, the space used and the
/// space faults. A view over plain atomic words, valid when all zero, so the
/// same code counts in a static of one process or in memory shared by a
/// process tree (`sys::tree_words`).
#[derive(Clone, Copy)]
pub struct Shared(pub &'static [AtomicU64; WORDS]);

/// One family's two counters, inside a [`Shared`] block.
pub struct FamilyCounters<'a> {
    matching: &'a AtomicU64,
    faults: &'a AtomicU64,
}

impl FamilyCounters<'_> {
    pub fn on_match(&self, plan: &Plan) -> Option<Fault> {
        on_match(self.matching, self.faults, plan)
    }

    pub fn totals(&self) -> (u64, u64) {
        (self.matching.load(Ordering::Relaxed), self.faults.load(Ordering::Relaxed))
    }
}

impl Shared {
    /// A fresh block for tests.
    #[cfg(test)]
    pub fn leak_new() -> Self {
        Shared(Box::leak(Box::new([const { AtomicU64::new(0) }; WORDS])))
    }

    pub fn is_ours(&self) -> bool {
        self.0[0].load(Ordering::Acquire) == SHARED_MAGIC
    }

    pub fn stamp(&self) {
        self.0[0].store(SHARED_MAGIC, Ordering::Release);
    }

    pub fn family(&self, f: Family) -> FamilyCounters<'static> {
        let i = 1 + 2 * f as usize;
        FamilyCounters { matching: &self.0[i], faults: &self.0[i + 1] }
    }

    /// (matching, faults) summed over every family.
    pub fn totals(&self) -> (u64, u64) {
        FAMILIES.iter().map(|&f| self.family(f).totals()).fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1))
    }

    /// Draws up to `want` bytes from a budget of `budget`: returns how many
    /// may be written (`want` while it fits, what still fits for the write
    /// that crosses it, 0 once the budget is spent).
    pub fn take_space(&self, budget: u64, want: u64) -> u64 {
        let mut granted = 0;
        let _ = self.0[SPACE_USED].fetch_update(Ordering::Relaxed, Ordering::Relaxed, |used| {
            let after = used.saturating_add(want).min(budget.max(used));
            granted = after - used;
            Some(after)
        });
        granted
    }

    /// Gives back bytes granted but not written (the real write wrote less,
    /// or failed).
    pub fn return_space(&self, bytes: u64) {
        if bytes > 0 {
            self.0[SPACE_USED].fetch_sub(bytes, Ordering::Relaxed);
        }
    }

    pub fn space_used(&self) -> u64 {
        self.0[SPACE_USED].load(Ordering::Relaxed)
    }

    /// Counts one write cut short or refused by the budget; its number.
    pub fn space_fault(&self) -> u64 {
        self.0[SPACE_FAULTS].fetch_add(1, Ordering::Relaxed) + 1
    }

    pub fn space_faults(&self) -> u64 {
        self.0[SPACE_FAULTS].load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn faults(plan: Plan, calls: u64) -> Vec<u64> {
        let c = Counters::new();
        (0..calls).filter_map(|_| c.on_match(&plan)).map(|f| f.seq).collect()
    }

    #[test]
    fn every_nth() {
        let plan = Plan { interval: 7, skip: 0, max: None };
        assert_eq!(faults(plan, 70), (1..=10).map(|i| i * 7).collect::<Vec<_>>());
        assert_eq!(faults(Plan { interval: 1, ..plan }, 3), [1, 2, 3]);
    }

    #[test]
    fn skip_and_max() {
        let plan = Plan { interval: 3, skip: 5, max: Some(2) };
        assert_eq!(faults(plan, 30), [8, 11]);
        assert_eq!(faults(Plan { max: None, ..plan }, 20), [8, 11, 14, 17, 20]);
        assert_eq!(faults(Plan { max: Some(0), ..plan }, 20), Vec::<u64>::new());
    }

    #[test]
    fn fault_numbers_and_totals() {
        let c = Counters::new();
        let plan = Plan { interval: 2, skip: 0, max: None };
        let got: Vec<_> = (0..6).filter_map(|_| c.on_match(&plan)).collect();
        assert_eq!(got, [Fault { seq: 2, number: 1 }, Fault { seq: 4, number: 2 }, Fault { seq: 6, number: 3 }]);
        assert_eq!(c.totals(), (6, 3));
    }

    #[test]
    fn interval_zero_never_fails() {
        assert_eq!(faults(Plan { interval: 0, skip: 0, max: None }, 50), Vec::<u64>::new());
    }

    #[test]
    fn families_count_on_their_own() {
        let s = Shared::leak_new();
        let plan = Plan { interval: 3, skip: 0, max: None };
        let mut got = Vec::new();
        for i in 0..6 {
            got.push(s.family(Family::Open).on_match(&plan).map(|f| (0, f.seq)));
            if i % 2 == 0 {
                got.push(s.family(Family::Write).on_match(&plan).map(|f| (1, f.seq)));
            }
        }
        assert_eq!(got.into_iter().flatten().collect::<Vec<_>>(), [(0, 3), (1, 3), (0, 6)]);
        assert_eq!(s.family(Family::Open).totals(), (6, 2));
        assert_eq!(s.family(Family::Write).totals(), (3, 1));
        assert_eq!(s.totals(), (9, 3));
    }

    /// The block's layout: the magic in word 0 (a fresh block is not ours
    /// until stamped), each family's two words, the space used and the
    /// space faults: each counter in a word of its own, and every word used.
    #[test]
    fn every_counter_has_a_word_of_its_own() {
        let s = Shared::leak_new();
        assert!(!s.is_ours());
        s.stamp();
        assert!(s.is_ours());
        let plan = Plan { interval: 1, skip: 0, max: None };
        for (k, &f) in FAMILIES.iter().enumerate() {
            for _ in 0..=k {
                s.family(f).on_match(&plan);
            }
        }
        assert_eq!(s.take_space(1000, 100), 100);
        for n in 1..=3 {
            assert_eq!(s.space_fault(), n, "a space fault's number");
        }
        let totals: Vec<(u64, u64)> = FAMILIES.iter().map(|&f| s.family(f).totals()).collect();
        let want: Vec<(u64, u64)> = (1..=FAMILIES.len() as u64).map(|k| (k, k)).collect();
        assert_eq!(totals, want);
        assert_eq!((s.space_used(), s.space_faults()), (100, 3));
        assert!(s.is_ours(), "nothing wrote over the magic");
        assert!(s.0.iter().all(|w| w.load(Ordering::Relaxed) != 0), "a word no counter uses");
    }

    #[test]
    fn space_budget_short_write_then_nothing() {
        let s = Shared::leak_new();
        assert_eq!(s.take_space(10, 4), 4);
        assert_eq!(s.take_space(10, 4), 4);
        assert_eq!(s.take_space(10, 4), 2, "the write that crosses it gets what still fits");
        assert_eq!(s.take_space(10, 4), 0);
        assert_eq!(s.take_space(10, 0), 0);
        s.return_space(3);
        assert_eq!(s.space_used(), 7);
        assert_eq!(s.take_space(10, 5), 3);
        assert_eq!(Shared::leak_new().take_space(0, 1), 0, "SPACE=0: full from the start");
        assert_eq!(Shared::leak_new().take_space(u64::MAX, u64::MAX), u64::MAX);
    }

    #[test]
    fn space_exact_across_threads() {
        let s = Shared::leak_new();
        let total = std::sync::atomic::AtomicU64::new(0);
        std::thread::scope(|sc| {
            for _ in 0..8 {
                sc.spawn(|| {
                    for _ in 0..1000 {
                        total.fetch_add(s.take_space(10_000, 3), Ordering::Relaxed);
                    }
                });
            }
        });
        assert_eq!(total.load(Ordering::Relaxed), 10_000);
    }

    #[test]
    fn exact_across_threads() {
        let c = Counters::new();
        let plan = Plan { interval: 8, skip: 0, max: None };
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| {
                    for _ in 0..1000 {
                        c.on_match(&plan);
                    }
                });
            }
        });
        assert_eq!(c.totals(), (8000, 1000));
    }
}
