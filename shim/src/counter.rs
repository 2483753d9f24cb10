//! Which calls fail: one process-wide count of matching calls, shared by every
//! entry point and thread, and the pure rule that turns a count into a fault.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::config::Plan;

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

/// The process's counters. Plain atomics: no lock, so any thread, a signal
/// handler and a forked child (which inherits the values) can all count.
pub struct Counters {
    matching: AtomicU64,
    faults: AtomicU64,
}

impl Counters {
    pub const fn new() -> Self {
        Counters {
            matching: AtomicU64::new(0),
            faults: AtomicU64::new(0),
        }
    }

    /// Counts one matching call; `Some` when this call must fail.
    pub fn on_match(&self, plan: &Plan) -> Option<Fault> {
        // Relaxed is enough: each call only needs a unique k, and nothing
        // else is published through these counters.
        let seq = self.matching.fetch_add(1, Ordering::Relaxed) + 1;
        if !is_fault_position(plan, seq) {
            return None;
        }
        let previous = match plan.max {
            None => self.faults.fetch_add(1, Ordering::Relaxed),
            Some(max) => self
                .faults
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |f| (f < max).then_some(f + 1))
                .ok()?,
        };
        Some(Fault { seq, number: previous + 1 })
    }

    /// (matching calls seen, faults injected).
    pub fn totals(&self) -> (u64, u64) {
        (self.matching.load(Ordering::Relaxed), self.faults.load(Ordering::Relaxed))
    }
}

impl Default for Counters {
    fn default() -> Self {
        Self::new()
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
