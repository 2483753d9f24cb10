//! The write family's shared bodies (the exports are generated from the
//! entry table, shapes `[write buf]` and `[write vec]`): a write on a
//! tracked descriptor, cut short by the space budget, spliced by `corrupt`,
//! failed or delayed as decided.

#![allow(clippy::missing_safety_doc)]

use std::ffi::{c_int, c_void};

use libc::{iovec, ssize_t};

use super::*;
use crate::{AfterWrite, WriteVerdict};


/// A write on a tracked descriptor, its data as iovec entries (`write` and
/// `pwrite` make one of their buffer). `whole()` is the caller's call as
/// made; `realv(v, c)` the same call (offset, flags) on other entries.
///
/// # Safety
/// `iov` are entries the caller's call would read: each `iov_len` bytes
/// readable at `iov_base` for the duration of the call.
#[cold]
#[inline(never)]
pub(super) unsafe fn write_tracked(
    entry: Entry,
    fd: c_int,
    iov: &[iovec],
    offset: Option<i64>,
    whole: impl FnOnce() -> ssize_t,
    realv: impl Fn(*const iovec, c_int) -> ssize_t,
) -> ssize_t {
    let len = iov.iter().fold(0usize, |a, e| a.saturating_add(e.iov_len));
    crate::journal::before_write(entry, fd, offset, len);
    match crate::check_write(entry, fd, len) {
        WriteVerdict::Fail(errno) => fail_fd(errno) as ssize_t,
        WriteVerdict::Write { allowed, budgeted, then } => {
            let n = if allowed == len {
                whole()
            } else if allowed == 0 {
                0
            } else {
                let (cut, k) = first_bytes(iov, allowed);
                realv(cut.as_ptr(), k)
            };
            crate::write_done(budgeted, n);
            match then {
                AfterWrite::Return => n,
                AfterWrite::Crash => crate::crash(),
                AfterWrite::ReportAll if n >= 0 => len as ssize_t,
                AfterWrite::ReportAll => n,
            }
        }
        WriteVerdict::Corrupt { seq, number } => {
            let mut parts: [&[u8]; MAX_IOV] = [&[]; MAX_IOV];
            let k = iov.len().min(MAX_IOV);
            for (p, e) in parts.iter_mut().zip(iov) {
                if !e.iov_base.is_null() {
                    // SAFETY: the caller's call reads these bytes; we only read them.
                    *p = unsafe { std::slice::from_raw_parts(e.iov_base.cast::<u8>(), e.iov_len) };
                }
            }
            let Some(c) = crate::corrupt_data(entry, fd, (seq, number), &parts[..k]) else { return whole() };
            // The caller's entries, with the changed bytes as an entry of
            // their own, from this stack frame: the caller's buffer is
            // never written.
            let mut out = [NO_IOV; MAX_IOV + 2];
            let mut m = 0;
            for (i, e) in iov.iter().take(k).enumerate() {
                if i != c.part {
                    out[m] = *e;
                    m += 1;
                    continue;
                }
                let base = e.iov_base.cast::<u8>();
                if c.offset > 0 {
                    out[m] = iovec { iov_base: e.iov_base, iov_len: c.offset };
                    m += 1;
                }
                out[m] = iovec { iov_base: c.bytes.as_ptr() as *mut c_void, iov_len: c.len };
                m += 1;
                let rest = c.offset + c.len;
                if rest < e.iov_len {
                    // SAFETY: `rest` is within the entry's `iov_len` bytes.
                    out[m] = iovec { iov_base: unsafe { base.add(rest) }.cast(), iov_len: e.iov_len - rest };
                    m += 1;
                }
            }
            let n = realv(out.as_ptr(), m as c_int);
            if n >= 0 && n as usize == len { len as ssize_t } else { n }
        }
    }
}

/// The total length of an iovec array, or None when it is not valid to read
/// (the real call then reports the error itself).
///
/// # Safety
/// `iov` is the caller's array of `cnt` entries, or `cnt` is out of range.
unsafe fn iov_len(iov: *const iovec, cnt: c_int) -> Option<usize> {
    if iov.is_null() || !(0..=libc::UIO_MAXIOV).contains(&cnt) {
        return None;
    }
    // SAFETY: the caller of writev promises `cnt` readable entries.
    let v = unsafe { std::slice::from_raw_parts(iov, cnt as usize) };
    v.iter().try_fold(0usize, |a, e| a.checked_add(e.iov_len))
}

/// A vectored write on a tracked descriptor. `real(iov, cnt)` writes.
///
/// # Safety
/// `iov`/`cnt` are the caller's, as writev takes them.
#[cold]
#[inline(never)]
pub(super) unsafe fn writev_tracked(
    entry: Entry,
    fd: c_int,
    iov: *const iovec,
    cnt: c_int,
    offset: Option<i64>,
    real: impl Fn(*const iovec, c_int) -> ssize_t,
) -> ssize_t {
    // SAFETY: the caller's promise, passed on.
    if unsafe { iov_len(iov, cnt) }.is_none() {
        return real(iov, cnt);
    }
    // SAFETY: `iov_len` checked the array: `cnt` readable entries.
    let entries = unsafe { std::slice::from_raw_parts(iov, cnt as usize) };
    // SAFETY: the caller's entries, read by its own call.
    unsafe { write_tracked(entry, fd, entries, offset, || real(iov, cnt), &real) }
}

