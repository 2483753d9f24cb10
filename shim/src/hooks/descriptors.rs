//! `close`'s body (its export, like `dup`'s and `fcntl`'s, is generated from
//! the entry table), and the hand-written exports of what else ends a
//! descriptor's life (`fclose`, `close_range`) and of `syscall()`.

#![allow(clippy::missing_safety_doc)]

use std::ffi::{c_int, c_long, c_uint};

use libc::FILE;

use super::*;


#[cold]
#[inline(never)]
pub(super) extern "C" fn close_tracked(fd: c_int) -> c_int {
    if !fds::marked(fd) {
        // Only shared a slot with a tracked descriptor (see `fds::maybe_marked`).
        // SAFETY: the caller's argument to the real function.
        return unsafe { REAL_CLOSE.f()(fd) };
    }
    // Decided (and logged, with the path) while the descriptor still names
    // its file; cleared before the real close, so that a descriptor number
    // another thread gets from a later open is never left marked.
    let action = crate::check_fd_call(Entry::Close, fd);
    crate::after_close(fd);
    // SAFETY: the caller's descriptor, closed exactly once, as asked.
    let r = unsafe { REAL_CLOSE.f()(fd) };
    match action {
        // Closed as usual, then the error (what NFS does).
        Action::Fail(errno) => fail_fd(errno),
        Action::CrashAfter => crate::crash(),
        Action::Pass | Action::Lie => r,
    }
}

/// Not a call that fails (libc closes the stream's descriptor internally,
/// out of our sight): only clears the descriptor's mark.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fclose(stream: *mut FILE) -> c_int {
    if crate::tracking() {
        crate::after_close(sys::fileno(stream));
    }
    // SAFETY: the caller's argument to the real function.
    unsafe { REAL_FCLOSE.f()(stream) }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn close_range(lo: c_uint, hi: c_uint, flags: c_int) -> c_int {
    if crate::tracking() && flags & libc::CLOSE_RANGE_CLOEXEC as c_int == 0 && lo <= hi {
        fds::clear_range(lo, hi);
    }
    // SAFETY: the caller's arguments to the real function.
    unsafe { REAL_CLOSE_RANGE.f()(lo, hi, flags) }
}

// ---------------------------------------------------------------------------
// syscall(): io_uring_setup is answered and a close of a tracked descriptor
// is seen as close(); everything else goes through.

#[unsafe(no_mangle)]
pub unsafe extern "C" fn syscall(n: c_long, a: c_long, b: c_long, c: c_long, d: c_long, e: c_long, f: c_long) -> c_long {
    if n == libc::SYS_io_uring_setup && crate::deny_io_uring() {
        // libuv then falls back to its thread pool, where every call is seen.
        return fail_fd(libc::ENOSYS) as c_long;
    }
    if n == libc::SYS_close && fds::maybe_marked(a as c_int) {
        // libuv (so Node's file I/O) closes files with syscall(SYS_close)
        // rather than close(): seen here, such a close counts in the close
        // family and ends the descriptor's mark, which would otherwise
        // outlive it (a socket or pipe given the number next would look
        // like a blob file to the write hooks). It is closed through libc's
        // close(), which differs only in being a cancellation point.
        return close_tracked(a as c_int) as c_long;
    }
    // SAFETY: the caller's six argument registers, to the real syscall(),
    // which reads as many as the system call takes.
    unsafe { REAL_SYSCALL.f()(n, a, b, c, d, e, f) }
}
