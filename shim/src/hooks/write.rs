//! The write family's exports. An untracked descriptor: one bounds check,
//! one byte load, one pointer load, a jump.

#![allow(clippy::missing_safety_doc)]

use std::ffi::{c_int, c_void};

use libc::{iovec, off64_t, off_t, size_t, ssize_t};

use super::*;
use crate::WriteVerdict;


/// A write on a tracked descriptor: `len` bytes asked, `real(n)` writes the
/// first `n` of them.
#[cold]
#[inline(never)]
fn write_tracked(entry: Entry, fd: c_int, len: usize, real: impl FnOnce(usize) -> ssize_t) -> ssize_t {
    match crate::check_write(entry, fd, len) {
        WriteVerdict::Fail(errno) => fail_fd(errno) as ssize_t,
        WriteVerdict::Write { allowed, budgeted } => {
            let n = real(allowed);
            crate::write_done(budgeted, n);
            n
        }
    }
}

// The slow paths of the hottest hooks are `extern "C"` functions of their
// own: Rust takes those as never unwinding, so the hook needs no frame of
// its own (no landing pad) and reaches them, like the real function, with
// a jump. With `fds::maybe_marked`, an untracked `write` or `close` is 7
// instructions: zero-extend, address, load, test, branch, load, jump.

#[cold]
#[inline(never)]
unsafe extern "C" fn write_slow(fd: c_int, buf: *const c_void, n: size_t) -> ssize_t {
    if !fds::marked(fd) {
        // Only shared a slot with a tracked descriptor (see `fds::maybe_marked`).
        // SAFETY: the caller's arguments to the real function.
        return unsafe { REAL_WRITE.f()(fd, buf, n) };
    }
    // SAFETY: the caller's buffer, of which the real write reads at most `n` bytes.
    write_tracked(Entry::Write, fd, n, |k| unsafe { REAL_WRITE.f()(fd, buf, k) })
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn write(fd: c_int, buf: *const c_void, n: size_t) -> ssize_t {
    if fds::maybe_marked(fd) {
        // SAFETY: our caller's arguments, passed on.
        return unsafe { write_slow(fd, buf, n) };
    }
    // SAFETY: the caller's arguments to the real function.
    unsafe { REAL_WRITE.f()(fd, buf, n) }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn pwrite(fd: c_int, buf: *const c_void, n: size_t, off: off_t) -> ssize_t {
    if fds::marked(fd) {
        // SAFETY: as in `write`.
        return write_tracked(Entry::Pwrite, fd, n, |k| unsafe { REAL_PWRITE.f()(fd, buf, k, off) });
    }
    // SAFETY: the caller's arguments to the real function.
    unsafe { REAL_PWRITE.f()(fd, buf, n, off) }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn pwrite64(fd: c_int, buf: *const c_void, n: size_t, off: off64_t) -> ssize_t {
    if fds::marked(fd) {
        // SAFETY: as in `write`.
        return write_tracked(Entry::Pwrite64, fd, n, |k| unsafe { REAL_PWRITE64.f()(fd, buf, k, off) });
    }
    // SAFETY: the caller's arguments to the real function.
    unsafe { REAL_PWRITE64.f()(fd, buf, n, off) }
}

/// Most iovec entries a vectored write cut short by the space budget
/// passes on (a longer cut write is shorter still: still a short write).
const MAX_CUT_IOV: usize = 64;

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
unsafe fn writev_tracked(
    entry: Entry,
    fd: c_int,
    iov: *const iovec,
    cnt: c_int,
    real: impl Fn(*const iovec, c_int) -> ssize_t,
) -> ssize_t {
    // SAFETY: the caller's promise, passed on.
    let Some(len) = (unsafe { iov_len(iov, cnt) }) else { return real(iov, cnt) };
    write_tracked(entry, fd, len, |allowed| {
        if allowed == len {
            return real(iov, cnt);
        }
        // Cut short by the budget: the first `allowed` bytes, as a copy of
        // the head of the caller's array with its last entry shortened.
        let mut cut = [libc::iovec { iov_base: std::ptr::null_mut(), iov_len: 0 }; MAX_CUT_IOV];
        // SAFETY: `iov_len` read these same `cnt` entries.
        let src = unsafe { std::slice::from_raw_parts(iov, cnt as usize) };
        let (mut left, mut n) = (allowed, 0);
        for e in src.iter().take(MAX_CUT_IOV) {
            if left == 0 {
                break;
            }
            let take = e.iov_len.min(left);
            cut[n] = libc::iovec { iov_base: e.iov_base, iov_len: take };
            left -= take;
            n += 1;
        }
        real(cut.as_ptr(), n as c_int)
    })
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn writev(fd: c_int, iov: *const iovec, cnt: c_int) -> ssize_t {
    if fds::marked(fd) {
        // SAFETY: the caller's arguments, passed on.
        return unsafe { writev_tracked(Entry::Writev, fd, iov, cnt, |v, c| REAL_WRITEV.f()(fd, v, c)) };
    }
    // SAFETY: the caller's arguments to the real function.
    unsafe { REAL_WRITEV.f()(fd, iov, cnt) }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn pwritev(fd: c_int, iov: *const iovec, cnt: c_int, off: off_t) -> ssize_t {
    if fds::marked(fd) {
        // SAFETY: the caller's arguments, passed on.
        return unsafe { writev_tracked(Entry::Pwritev, fd, iov, cnt, |v, c| REAL_PWRITEV.f()(fd, v, c, off)) };
    }
    // SAFETY: the caller's arguments to the real function.
    unsafe { REAL_PWRITEV.f()(fd, iov, cnt, off) }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn pwritev64(fd: c_int, iov: *const iovec, cnt: c_int, off: off64_t) -> ssize_t {
    if fds::marked(fd) {
        // SAFETY: the caller's arguments, passed on.
        return unsafe { writev_tracked(Entry::Pwritev64, fd, iov, cnt, |v, c| REAL_PWRITEV64.f()(fd, v, c, off)) };
    }
    // SAFETY: the caller's arguments to the real function.
    unsafe { REAL_PWRITEV64.f()(fd, iov, cnt, off) }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn pwritev2(fd: c_int, iov: *const iovec, cnt: c_int, off: off_t, flags: c_int) -> ssize_t {
    if fds::marked(fd) {
        // SAFETY: the caller's arguments, passed on.
        return unsafe {
            writev_tracked(Entry::Pwritev2, fd, iov, cnt, |v, c| REAL_PWRITEV2.f()(fd, v, c, off, flags))
        };
    }
    // SAFETY: the caller's arguments to the real function.
    unsafe { REAL_PWRITEV2.f()(fd, iov, cnt, off, flags) }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn pwritev64v2(fd: c_int, iov: *const iovec, cnt: c_int, off: off64_t, flags: c_int) -> ssize_t {
    if fds::marked(fd) {
        // SAFETY: the caller's arguments, passed on.
        return unsafe {
            writev_tracked(Entry::Pwritev64v2, fd, iov, cnt, |v, c| REAL_PWRITEV64V2.f()(fd, v, c, off, flags))
        };
    }
    // SAFETY: the caller's arguments to the real function.
    unsafe { REAL_PWRITEV64V2.f()(fd, iov, cnt, off, flags) }
}

