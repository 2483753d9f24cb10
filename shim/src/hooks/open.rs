//! The open family's exports: `open`, `openat`, their `64`, `_2` and
//! `creat` variants, `fopen` and `freopen`. Disarmed, each is one load and
//! a jump to the real function; armed, a path without the needle is a
//! `strstr` and a jump.

#![allow(clippy::missing_safety_doc)]

use std::ffi::{c_char, c_int};

use libc::{mode_t, FILE};

use super::*;


/// The armed hook's common case first: an absolute path without the
/// needle, nothing to track: a jump to the real function, with no frame.
#[inline(never)]
pub(super) unsafe fn open_like(real: &Real<OpenFn>, entry: Entry, path: *const c_char, flags: c_int, mode: mode_t) -> c_int {
    // SAFETY: `path` comes from the C caller of open(), which requires NULL
    // or a NUL-terminated string valid for the duration of the call.
    let skip = unsafe { cannot_match(path) };
    if skip && !crate::tracking() {
        if let Some(f) = real.resolved() {
            // SAFETY: the caller's own arguments, as in `open_checked`.
            return unsafe {
                if needs_mode(flags) {
                    f(path, flags, mode as std::ffi::c_uint)
                } else {
                    f(path, flags)
                }
            };
        }
    }
    // SAFETY: our caller's arguments, passed on as received.
    unsafe { open_checked(real, entry, path, flags, mode, skip) }
}

/// `skip`: the early out already found that the path cannot match.
#[inline(never)]
unsafe fn open_checked(
    real: &Real<OpenFn>,
    entry: Entry,
    path: *const c_char,
    flags: c_int,
    mode: mode_t,
    skip: bool,
) -> c_int {
    // SAFETY: `path` is the C caller's NULL or NUL-terminated string, valid
    // for the call (see `open_like`).
    let verdict = if skip {
        Verdict::Pass
    } else {
        check(entry, Dir::Cwd, Intent::Flags(flags), || unsafe { c_bytes(path) })
    };
    if let Verdict::Fail(errno) = verdict {
        return fail_fd(errno);
    }
    let Some(f) = real.get() else { return fail_fd(libc::ENOSYS) };
    // SAFETY: forwarding the caller's own arguments to the real function of
    // the same prototype; `mode` is only passed when the flags say the caller
    // passed it.
    // SAFETY (both calls): forwarding the caller's own arguments to the
    // real function of the same prototype; `mode` is only passed when the
    // flags say the caller passed it.
    let forward = || unsafe {
        if needs_mode(flags) {
            f(path, flags, mode as std::ffi::c_uint)
        } else {
            f(path, flags)
        }
    };
    if verdict == Verdict::Pass && !crate::tracking() {
        // Nothing to mark: a tail call, as before tracking existed.
        return forward();
    }
    let fd = forward();
    crate::after_open(fd, verdict);
    fd
}

/// As `open_like`: the common case first, with no frame.
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
    let skip = unsafe { cannot_match(path) };
    if skip && !crate::tracking() {
        if let Some(f) = real.resolved() {
            // SAFETY: the caller's own arguments, as in `open_checked`.
            return unsafe {
                if needs_mode(flags) {
                    f(dirfd, path, flags, mode as std::ffi::c_uint)
                } else {
                    f(dirfd, path, flags)
                }
            };
        }
    }
    // SAFETY: our caller's arguments, passed on as received.
    unsafe { openat_checked(real, entry, dirfd, path, flags, mode, skip) }
}

#[inline(never)]
#[allow(clippy::too_many_arguments)]
unsafe fn openat_checked(
    real: &Real<OpenatFn>,
    entry: Entry,
    dirfd: c_int,
    path: *const c_char,
    flags: c_int,
    mode: mode_t,
    skip: bool,
) -> c_int {
    // SAFETY: `path` is the C caller's NULL or NUL-terminated string, valid
    // for the call (see `open_like`).
    let verdict = if skip {
        Verdict::Pass
    } else {
        check(entry, dir_of(dirfd), Intent::Flags(flags), || unsafe { c_bytes(path) })
    };
    if let Verdict::Fail(errno) = verdict {
        return fail_fd(errno);
    }
    let Some(f) = real.get() else { return fail_fd(libc::ENOSYS) };
    // SAFETY: as in `open_like`.
    // SAFETY (both calls): as in `open_like`.
    let forward = || unsafe {
        if needs_mode(flags) {
            f(dirfd, path, flags, mode as std::ffi::c_uint)
        } else {
            f(dirfd, path, flags)
        }
    };
    if verdict == Verdict::Pass && !crate::tracking() {
        return forward();
    }
    let fd = forward();
    crate::after_open(fd, verdict);
    fd
}

#[inline(never)]
pub(super) unsafe fn open2_like(real: &Real<Open2Fn>, entry: Entry, path: *const c_char, flags: c_int) -> c_int {
    // SAFETY: as in `open_like`.
    let verdict = if unsafe { cannot_match(path) } {
        Verdict::Pass
    } else {
        check(entry, Dir::Cwd, Intent::Flags(flags), || unsafe { c_bytes(path) })
    };
    if let Verdict::Fail(errno) = verdict {
        return fail_fd(errno);
    }
    let Some(f) = real.get() else { return fail_fd(libc::ENOSYS) };
    // SAFETY: the caller's arguments to the real function of the same prototype.
    let fd = unsafe { f(path, flags) };
    crate::after_open(fd, verdict);
    fd
}

#[inline(never)]
pub(super) unsafe fn openat2_like(real: &Real<Openat2Fn>, entry: Entry, dirfd: c_int, path: *const c_char, flags: c_int) -> c_int {
    // SAFETY: as in `open_like`.
    let verdict = if unsafe { cannot_match(path) } {
        Verdict::Pass
    } else {
        check(entry, dir_of(dirfd), Intent::Flags(flags), || unsafe { c_bytes(path) })
    };
    if let Verdict::Fail(errno) = verdict {
        return fail_fd(errno);
    }
    let Some(f) = real.get() else { return fail_fd(libc::ENOSYS) };
    // SAFETY: the caller's arguments to the real function of the same prototype.
    let fd = unsafe { f(dirfd, path, flags) };
    crate::after_open(fd, verdict);
    fd
}

#[inline(never)]
pub(super) unsafe fn creat_like(real: &Real<CreatFn>, entry: Entry, path: *const c_char, mode: mode_t) -> c_int {
    let flags = libc::O_CREAT | libc::O_WRONLY | libc::O_TRUNC;
    // SAFETY: as in `open_like`.
    let verdict = if unsafe { cannot_match(path) } {
        Verdict::Pass
    } else {
        check(entry, Dir::Cwd, Intent::Flags(flags), || unsafe { c_bytes(path) })
    };
    if let Verdict::Fail(errno) = verdict {
        return fail_fd(errno);
    }
    let Some(f) = real.get() else { return fail_fd(libc::ENOSYS) };
    // SAFETY: the caller's arguments to the real function of the same prototype.
    let fd = unsafe { f(path, mode) };
    crate::after_open(fd, verdict);
    fd
}

#[inline(never)]
pub(super) unsafe fn fopen_like(real: &Real<FopenFn>, entry: Entry, path: *const c_char, mode: *const c_char) -> *mut FILE {
    // SAFETY: fopen's caller passes NUL-terminated `path` and `mode` (or NULL,
    // which we leave for the real function to reject).
    let mut verdict = Verdict::Pass;
    if let Some(mode_bytes) = unsafe { c_bytes(mode) }.filter(|_| !unsafe { cannot_match(path) }) {
        verdict = check(entry, Dir::Cwd, Intent::Mode(mode_bytes), || unsafe { c_bytes(path) });
        if let Verdict::Fail(errno) = verdict {
            return fail_file(errno);
        }
    }
    let Some(f) = real.get() else { return fail_file(libc::ENOSYS) };
    // SAFETY: the caller's arguments to the real function of the same prototype.
    let file = unsafe { f(path, mode) };
    crate::after_open(sys::fileno(file), verdict);
    file
}

#[inline(never)]
pub(super) unsafe fn freopen_like(
    real: &Real<FreopenFn>,
    entry: Entry,
    path: *const c_char,
    mode: *const c_char,
    stream: *mut FILE,
) -> *mut FILE {
    // SAFETY: as in `fopen_like`. A NULL path (re-open the same file with a
    // new mode) has no path to match and passes through.
    let mut verdict = Verdict::Pass;
    if let Some(mode_bytes) = unsafe { c_bytes(mode) }.filter(|_| !unsafe { cannot_match(path) }) {
        verdict = check(entry, Dir::Cwd, Intent::Mode(mode_bytes), || unsafe { c_bytes(path) });
        if let Verdict::Fail(errno) = verdict {
            // freopen closes the old stream even when the new open fails;
            // a failed call must look the same, or callers would leak it.
            // SAFETY: `stream` is the caller's open stream, which freopen
            // owns from here on.
            if !stream.is_null() {
                crate::after_close(sys::fileno(stream));
                unsafe { REAL_FCLOSE.f()(stream) };
            }
            return fail_file(errno);
        }
    }
    let Some(f) = real.get() else { return fail_file(libc::ENOSYS) };
    // SAFETY: the caller's arguments to the real function of the same prototype.
    let file = unsafe { f(path, mode, stream) };
    crate::after_open(sys::fileno(file), verdict);
    file
}

