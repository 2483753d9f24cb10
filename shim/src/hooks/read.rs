//! The read family's shared body (`CALLS=read`; the exports are generated
//! from the entry table, shapes `[read buf]` and `[read vec]`). An
//! untracked descriptor: the same one-byte table load and jump as `write`;
//! a tracked one asks
//! [`crate::check_read`], whose effects are fail, short (half the bytes
//! asked, at least 1) and corrupt (the caller's buffer, which a read
//! fills, gets changed bytes after the real read), besides the crashes.

#![allow(clippy::missing_safety_doc)]

use std::ffi::c_int;

use libc::{iovec, ssize_t};

use super::*;
use crate::ReadVerdict;

/// A read on a tracked descriptor into `iov` (`read` makes one entry of its
/// buffer). `whole()` is the caller's call as made; `realv(v, c)` the same
/// call on other entries.
///
/// # Safety
/// `iov` are the caller's entries: each `iov_len` bytes writable at
/// `iov_base`, as its call needs.
#[cold]
#[inline(never)]
pub(super) unsafe fn read_tracked(
    entry: Entry,
    fd: c_int,
    iov: &[iovec],
    whole: impl FnOnce() -> ssize_t,
    realv: impl Fn(*const iovec, c_int) -> ssize_t,
) -> ssize_t {
    match crate::check_read(entry, fd) {
        ReadVerdict::Pass => whole(),
        ReadVerdict::Fail(errno) => fail_fd(errno) as ssize_t,
        ReadVerdict::CrashAfter => {
            let _ = whole();
            crate::crash()
        }
        ReadVerdict::Short => {
            let len = iov.iter().fold(0usize, |a, e| a.saturating_add(e.iov_len));
            if len < 2 {
                return whole();
            }
            let (cut, k) = first_bytes(iov, len / 2);
            realv(cut.as_ptr(), k)
        }
        ReadVerdict::Corrupt { seq, number } => {
            let n = whole();
            if n <= 0 {
                return n;
            }
            // What the caller received: the first `n` bytes of its entries.
            let mut parts: [&[u8]; MAX_IOV] = [&[]; MAX_IOV];
            let (mut left, mut k) = (n as usize, 0);
            for (p, e) in parts.iter_mut().zip(iov) {
                if left == 0 || e.iov_base.is_null() {
                    break;
                }
                let take = e.iov_len.min(left);
                // SAFETY: the real read filled these `take` bytes.
                *p = unsafe { std::slice::from_raw_parts(e.iov_base.cast::<u8>(), take) };
                left -= take;
                k += 1;
            }
            if let Some(c) = crate::corrupt_data(entry, fd, (seq, number), &parts[..k]) {
                // SAFETY: entry `c.part` holds at least `c.offset + c.len`
                // received bytes (corrupt::choose stays inside its part),
                // which the caller's buffer is there to receive.
                let dst = unsafe { iov[c.part].iov_base.cast::<u8>().add(c.offset) };
                // SAFETY: as above; `c.bytes` is our own stack copy.
                unsafe { std::ptr::copy_nonoverlapping(c.bytes.as_ptr(), dst, c.len) };
            }
            n
        }
    }
}



/// The caller's iovec array, when it is one a read could take.
///
/// # Safety
/// `iov` is the caller's array of `cnt` entries, or `cnt` is out of range.
pub(super) unsafe fn entries<'a>(iov: *const iovec, cnt: c_int) -> Option<&'a [iovec]> {
    if iov.is_null() || !(0..=libc::UIO_MAXIOV).contains(&cnt) {
        return None;
    }
    // SAFETY: the caller of readv promises `cnt` entries.
    Some(unsafe { std::slice::from_raw_parts(iov, cnt as usize) })
}
