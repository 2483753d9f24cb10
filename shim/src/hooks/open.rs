//! The open family's bodies, which the exports generated from the entry
//! table (`crate::table`, shape `[open BODY]`) call once the fast path
//! (disarmed: one load and a jump) did not answer: `open`, `openat`, their
//! `64`, `_2` and `creat` variants, `fopen` and `freopen`. Armed, a path
//! without the needle is a `strstr` and a jump.
//!
//! Each body takes its real function and the caller's arguments, and says
//! how to call the one with the other; [`open_path`] and [`file_path`]
//! decide and act for all of them.

#![allow(clippy::missing_safety_doc)]

use std::ffi::{c_char, c_int};

use libc::{mode_t, FILE};

use super::*;

/// An open that returns a descriptor: the armed hook's common case first
/// (an absolute path without the needle, nothing to track: a jump to the
/// real function, with no frame), then the decision. `call(f)` is the
/// caller's call to the real function `f`.
///
/// # Safety
/// `path` is the C caller's NULL or NUL-terminated string, valid for the
/// call; `call` passes on the caller's own arguments.
#[inline(always)]
unsafe fn open_path<F: Copy>(
    real: &Real<F>,
    entry: Entry,
    dir: Dir,
    path: *const c_char,
    flags: c_int,
    call: impl FnOnce(F) -> c_int,
) -> c_int {
    // SAFETY: the caller's promise about `path`.
    let skip = unsafe { cannot_match(path) };
    if skip && !crate::tracking() {
        if let Some(f) = real.resolved() {
            return call(f);
        }
    }
    let verdict = if skip {
        Verdict::Pass
    } else {
        // SAFETY: the caller's promise about `path`.
        check(entry, dir, Intent::Flags(flags), || unsafe { c_bytes(path) })
    };
    if let Verdict::Fail(errno) = verdict {
        return fail_fd(errno);
    }
    let Some(f) = real.get() else { return fail_fd(libc::ENOSYS) };
    if verdict == Verdict::Pass && !crate::tracking() {
        // Nothing to mark: a tail call, as before tracking existed.
        return call(f);
    }
    let fd = call(f);
    crate::after_open(fd, verdict);
    fd
}

#[inline(never)]
pub(super) unsafe fn open_like(real: &Real<OpenFn>, entry: Entry, path: *const c_char, flags: c_int, mode: mode_t) -> c_int {
    // SAFETY: the caller's arguments, to the real function of the same
    // prototype; `mode` is only passed when the flags say the caller passed
    // it (and `path` is as open(2) requires: NULL or NUL-terminated).
    unsafe {
        open_path(real, entry, Dir::Cwd, path, flags, |f| {
            if needs_mode(flags) {
                f(path, flags, mode)
            } else {
                f(path, flags)
            }
        })
    }
}

#[inline(never)]
pub(super) unsafe fn openat_like(
    real: &Real<OpenatFn>,
    entry: Entry,
    dirfd: c_int,
    path: *const c_char,
    flags: c_int,
    mode: mode_t,
) -> c_int {
    // SAFETY: as in `open_like`.
    unsafe {
        open_path(real, entry, dir_of(dirfd), path, flags, |f| {
            if needs_mode(flags) {
                f(dirfd, path, flags, mode)
            } else {
                f(dirfd, path, flags)
            }
        })
    }
}

/// `_FORTIFY_SOURCE`'s `open` when the compiler could not see a mode.
#[inline(never)]
pub(super) unsafe fn open2_like(real: &Real<Open2Fn>, entry: Entry, path: *const c_char, flags: c_int) -> c_int {
    // SAFETY: the caller's arguments, to the real function of the same prototype.
    unsafe { open_path(real, entry, Dir::Cwd, path, flags, |f| f(path, flags)) }
}

#[inline(never)]
pub(super) unsafe fn openat2_like(real: &Real<Openat2Fn>, entry: Entry, dirfd: c_int, path: *const c_char, flags: c_int) -> c_int {
    // SAFETY: the caller's arguments, to the real function of the same prototype.
    unsafe { open_path(real, entry, dir_of(dirfd), path, flags, |f| f(dirfd, path, flags)) }
}

#[inline(never)]
pub(super) unsafe fn creat_like(real: &Real<CreatFn>, entry: Entry, path: *const c_char, mode: mode_t) -> c_int {
    let flags = libc::O_CREAT | libc::O_WRONLY | libc::O_TRUNC;
    // SAFETY: the caller's arguments, to the real function of the same prototype.
    unsafe { open_path(real, entry, Dir::Cwd, path, flags, |f| f(path, mode)) }
}

/// An open that returns a stream (`fopen`, `freopen`): decided on `mode`'s
/// letters. `failing()` runs before a decided failure returns.
///
/// # Safety
/// `path` and `mode` are the C caller's NULL or NUL-terminated strings
/// (a NULL `mode` is left for the real function to reject; a NULL path,
/// freopen's "same file, new mode", has no path to match and passes
/// through); `call` passes on the caller's own arguments.
#[inline(always)]
unsafe fn file_path<F: Copy>(
    real: &Real<F>,
    entry: Entry,
    path: *const c_char,
    mode: *const c_char,
    failing: impl FnOnce(),
    call: impl FnOnce(F) -> *mut FILE,
) -> *mut FILE {
    let mut verdict = Verdict::Pass;
    // SAFETY: the caller's promise about `path` and `mode`.
    if let Some(mode_bytes) = unsafe { c_bytes(mode) }.filter(|_| !unsafe { cannot_match(path) }) {
        // SAFETY: as above.
        verdict = check(entry, Dir::Cwd, Intent::Mode(mode_bytes), || unsafe { c_bytes(path) });
        if let Verdict::Fail(errno) = verdict {
            failing();
            return fail_file(errno);
        }
    }
    let Some(f) = real.get() else { return fail_file(libc::ENOSYS) };
    let file = call(f);
    crate::after_open(sys::fileno(file), verdict);
    file
}

#[inline(never)]
pub(super) unsafe fn fopen_like(real: &Real<FopenFn>, entry: Entry, path: *const c_char, mode: *const c_char) -> *mut FILE {
    // SAFETY: the caller's arguments, to the real function of the same prototype.
    unsafe { file_path(real, entry, path, mode, || {}, |f| f(path, mode)) }
}

#[inline(never)]
pub(super) unsafe fn freopen_like(
    real: &Real<FreopenFn>,
    entry: Entry,
    path: *const c_char,
    mode: *const c_char,
    stream: *mut FILE,
) -> *mut FILE {
    // freopen closes the old stream even when the new open fails; a failed
    // call must look the same, or callers would leak it.
    let close_old = || {
        if !stream.is_null() {
            crate::after_close(sys::fileno(stream));
            // SAFETY: `stream` is the caller's open stream, which freopen
            // owns from here on.
            unsafe { REAL_FCLOSE.f()(stream) };
        }
    };
    // SAFETY: the caller's arguments, to the real function of the same prototype.
    unsafe { file_path(real, entry, path, mode, close_old, |f| f(path, mode, stream)) }
}
