//! The read family's exports (`CALLS=read`). An untracked descriptor: the
//! same one-byte table load and jump as `write`; a tracked one asks
//! [`crate::check_read`], whose effects are fail, short (half the bytes
//! asked, at least 1) and corrupt (the caller's buffer, which a read
//! fills, gets changed bytes after the real read), besides the crashes.

#![allow(clippy::missing_safety_doc)]

use std::ffi::{c_int, c_void};

use libc::{iovec, off64_t, off_t, size_t, ssize_t};

use super::*;
use crate::ReadVerdict;

const MAX_IOV: usize = 64;
const NO_IOV: iovec = iovec { iov_base: std::ptr::null_mut(), iov_len: 0 };

/// A read on a tracked descriptor into `iov` (`read` makes one entry of its
/// buffer). `whole()` is the caller's call as made; `realv(v, c)` the same
/// call on other entries.
///
/// # Safety
/// `iov` are the caller's entries: each `iov_len` bytes writable at
/// `iov_base`, as its call needs.
#[cold]
#[inline(never)]
unsafe fn read_tracked(
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
            let mut cut = [NO_IOV; MAX_IOV];
            let (mut left, mut k) = (len / 2, 0);
            for e in iov.iter().take(MAX_IOV) {
                if left == 0 {
                    break;
                }
                let take = e.iov_len.min(left);
                cut[k] = iovec { iov_base: e.iov_base, iov_len: take };
                left -= take;
                k += 1;
            }
            realv(cut.as_ptr(), k as c_int)
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

#[cold]
#[inline(never)]
unsafe extern "C" fn read_slow(fd: c_int, buf: *mut c_void, n: size_t) -> ssize_t {
    if !fds::marked(fd) {
        // Only shared a slot with a tracked descriptor (see `fds::maybe_marked`).
        // SAFETY: the caller's arguments to the real function.
        return unsafe { REAL_READ.f()(fd, buf, n) };
    }
    let one = [iovec { iov_base: buf, iov_len: n }];
    // SAFETY: the caller's buffer, which its read fills.
    unsafe { read_tracked(Entry::Read, fd, &one, || REAL_READ.f()(fd, buf, n), |v, c| REAL_READV.f()(fd, v, c)) }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn read(fd: c_int, buf: *mut c_void, n: size_t) -> ssize_t {
    if fds::maybe_marked(fd) {
        // SAFETY: our caller's arguments, passed on.
        return unsafe { read_slow(fd, buf, n) };
    }
    // SAFETY: the caller's arguments to the real function.
    unsafe { REAL_READ.f()(fd, buf, n) }
}

macro_rules! pread_hook {
    ($name:ident, $real:ident, $entry:ident, $off:ty) => {
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn $name(fd: c_int, buf: *mut c_void, n: size_t, off: $off) -> ssize_t {
            if fds::marked(fd) {
                let one = [iovec { iov_base: buf, iov_len: n }];
                // SAFETY: as in `read`.
                return unsafe {
                    read_tracked(Entry::$entry, fd, &one, || $real.f()(fd, buf, n, off), |v, c| {
                        REAL_PREADV64.f()(fd, v, c, off as off64_t)
                    })
                };
            }
            // SAFETY: the caller's arguments to the real function.
            unsafe { $real.f()(fd, buf, n, off) }
        }
    };
}

pread_hook!(pread, REAL_PREAD, Pread, off_t);
pread_hook!(pread64, REAL_PREAD64, Pread64, off64_t);

/// The caller's iovec array, when it is one a read could take.
///
/// # Safety
/// `iov` is the caller's array of `cnt` entries, or `cnt` is out of range.
unsafe fn entries<'a>(iov: *const iovec, cnt: c_int) -> Option<&'a [iovec]> {
    if iov.is_null() || !(0..=libc::UIO_MAXIOV).contains(&cnt) {
        return None;
    }
    // SAFETY: the caller of readv promises `cnt` entries.
    Some(unsafe { std::slice::from_raw_parts(iov, cnt as usize) })
}

macro_rules! readv_hook {
    ($name:ident, $real:ident, $entry:ident, ($($a:ident: $t:ty),*)) => {
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn $name(fd: c_int, iov: *const iovec, cnt: c_int $(, $a: $t)*) -> ssize_t {
            if fds::marked(fd) {
                // SAFETY: the caller's array, as readv takes it.
                if let Some(v) = unsafe { entries(iov, cnt) } {
                    // SAFETY: the caller's entries, which its read fills.
                    return unsafe { read_tracked(Entry::$entry, fd, v, || $real.f()(fd, iov, cnt $(, $a)*), |w, c| $real.f()(fd, w, c $(, $a)*)) };
                }
            }
            // SAFETY: the caller's arguments to the real function.
            unsafe { $real.f()(fd, iov, cnt $(, $a)*) }
        }
    };
}

readv_hook!(readv, REAL_READV, Readv, ());
readv_hook!(preadv, REAL_PREADV, Preadv, (off: off_t));
readv_hook!(preadv64, REAL_PREADV64, Preadv64, (off: off64_t));
readv_hook!(preadv2, REAL_PREADV2, Preadv2, (off: off_t, flags: c_int));
readv_hook!(preadv64v2, REAL_PREADV64V2, Preadv64v2, (off: off64_t, flags: c_int));
