//! Which descriptors were opened on a matching path: one byte per descriptor
//! number, in a fixed table, so that the `write`/`close` hooks decide with
//! one bounds check and one load, with no lock and no allocation.
//!
//! Marked by the open hooks (an open that matches marks its new descriptor,
//! any other open clears the number's mark), copied by `dup`, `dup2`, `dup3`
//! and `fcntl(F_DUPFD…)`, cleared by `close`, `fclose` and `close_range`. A
//! forked child inherits the table with the rest of its memory; an exec'd
//! program starts with it empty. Descriptors at or above [`MAX_FDS`] are
//! never tracked.

use std::sync::atomic::{AtomicU8, Ordering};

/// Descriptor numbers tracked: 0..MAX_FDS (64 KiB of table, zero pages until
/// a mark is set).
pub const MAX_FDS: usize = 1 << 16;

static MARKS: [AtomicU8; MAX_FDS] = [const { AtomicU8::new(0) }; MAX_FDS];

#[inline(always)]
fn slot(fd: i32) -> Option<&'static AtomicU8> {
    MARKS.get(fd as u32 as usize)
}

/// The hottest hooks' first test (`write`, `close`): false only when `fd`
/// is surely not tracked. It reads the slot of `fd`'s low 16 bits (one
/// zero-extending move, no bounds check), so a descriptor at 65536 or above,
/// or a negative one, may share a marked slot: true then means "maybe", and
/// the slow path asks [`marked`].
#[inline(always)]
pub fn maybe_marked(fd: i32) -> bool {
    MARKS[fd as u16 as usize].load(Ordering::Relaxed) != 0
}

/// Whether `fd` was opened on a matching path. Relaxed: a mark is only ever
/// read by calls on that descriptor, which the program orders after the
/// open that returned it.
#[inline(always)]
pub fn marked(fd: i32) -> bool {
    match slot(fd) {
        Some(m) => m.load(Ordering::Relaxed) != 0,
        None => false,
    }
}

pub fn set(fd: i32, on: bool) {
    if let Some(m) = slot(fd) {
        m.store(on as u8, Ordering::Relaxed);
    }
}

/// `to` becomes a copy of `from` (dup and friends).
pub fn copy(from: i32, to: i32) {
    if from != to {
        set(to, marked(from));
    }
}

/// Clears `lo..=hi` (close_range), stopping at the table's end.
pub fn clear_range(lo: u32, hi: u32) {
    let end = (hi as usize).min(MAX_FDS - 1);
    for m in MARKS.iter().take(end + 1).skip(lo as usize) {
        m.store(0, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maybe_marked_never_misses_and_marked_is_exact() {
        set(41000, true);
        assert!(maybe_marked(41000) && marked(41000));
        // Sharing the low 16 bits: maybe, but not marked.
        assert!(maybe_marked(41000 + 65536) && !marked(41000 + 65536));
        assert!(!marked(41000 - 65536));
        set(41000, false);
        assert!(!maybe_marked(41000));
    }

    #[test]
    fn mark_copy_clear() {
        assert!(!marked(40000));
        set(40000, true);
        assert!(marked(40000));
        copy(40000, 40001);
        assert!(marked(40001));
        copy(40002, 40001);
        assert!(!marked(40001), "dup2 of an unmarked descriptor onto a marked one clears it");
        set(40003, true);
        clear_range(40000, 40003);
        assert!(!marked(40000) && !marked(40003));
        // Out of the table: never marked, setting does nothing.
        for fd in [-1, MAX_FDS as i32, i32::MAX, i32::MIN] {
            set(fd, true);
            assert!(!marked(fd));
        }
        clear_range(40000, 40010);
    }
}
