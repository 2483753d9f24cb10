//! The exported libc entry points, and the load/exit hooks: the half of the
//! shim's unsafe code that talks to its callers. Each entry point asks the
//! safe decision code in the crate root whether its call fails, then
//! forwards the caller's arguments untouched to the real function from the
//! table in [`sys`] (the other, leaf, half: it imports nothing from here).
//!
//! The hottest calls (`write`, `close`, and the rest of the calls on a
//! descriptor) decide with one bounds check and one byte load in the
//! descriptor table ([`crate::fds`]) before jumping to the real function,
//! armed or not; only a descriptor opened on a matching path goes further.

#![allow(non_snake_case, clippy::missing_safety_doc)]

use std::ffi::{c_char, c_int, c_long, c_uint, c_void};

use libc::{iovec, mode_t, off64_t, off_t, size_t, ssize_t, FILE};

use crate::fds;
use crate::matcher::Intent;
use crate::sys::{self, c_bytes, set_errno, Real, *};
use crate::{check, Dir, Entry, Verdict, WriteVerdict};

// The exported variadic functions (`open`, `open64`, `openat`, `openat64`,
// `fcntl`, `fcntl64`, `syscall`) are defined with their variadic part as
// fixed last parameters, because stable Rust cannot define C-variadic
// functions. On the x86-64 and AArch64 Linux ABIs a variadic integer or
// pointer argument travels in the same register as a fixed one would, so
// the parameter holds the caller's value when it passed one; when it did
// not (open without O_CREAT/O_TMPFILE), the register holds garbage that we
// neither read nor forward (fcntl's and syscall's are forwarded as they
// are, which their real functions ignore when the command takes none).
#[cfg(not(all(target_os = "linux", any(target_arch = "x86_64", target_arch = "aarch64"))))]
compile_error!("libblobfail's variadic entry points assume the x86-64 or AArch64 Linux calling convention");

/// The real function when the shim is disarmed and it is resolved: the
/// one-load fast path every open export tries first.
#[inline(always)]
fn fast<F: Copy>(real: &Real<F>) -> Option<F> {
    if !crate::is_off() {
        return None;
    }
    real.resolved()
}

fn resolve_all() {
    sys::resolve_all();
}

// ---------------------------------------------------------------------------
// Load and exit.

extern "C" fn on_load() {
    resolve_all();
    crate::init();
}

extern "C" fn on_unload() {
    crate::on_exit();
}

// SAFETY (both statics): the loader calls each pointer in .init_array once
// when the library is loaded and each in .fini_array at exit() or dlclose;
// both functions take no arguments, as those sections require.
#[used]
#[link_section = ".init_array"]
static ON_LOAD: extern "C" fn() = on_load;

#[used]
#[link_section = ".fini_array"]
static ON_UNLOAD: extern "C" fn() = on_unload;


#[cold]
fn fail_fd(errno: c_int) -> c_int {
    set_errno(errno);
    -1
}

#[cold]
fn fail_file(errno: c_int) -> *mut FILE {
    set_errno(errno);
    std::ptr::null_mut()
}

fn needs_mode(flags: c_int) -> bool {
    flags & libc::O_CREAT != 0 || flags & libc::O_TMPFILE == libc::O_TMPFILE
}

fn dir_of(dirfd: c_int) -> Dir {
    if dirfd == libc::AT_FDCWD {
        Dir::Cwd
    } else {
        Dir::Fd(dirfd)
    }
}


// ---------------------------------------------------------------------------
// The entry points. Each asks `check`, then forwards the caller's arguments
// untouched; a missing real function gives ENOSYS, never a crash.

/// The armed hook's common case first: an absolute path without the
/// needle, nothing to track: a jump to the real function, with no frame.
#[inline(never)]
unsafe fn open_like(real: &Real<OpenFn>, entry: Entry, path: *const c_char, flags: c_int, mode: mode_t) -> c_int {
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
unsafe fn openat_like(
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

#[unsafe(no_mangle)]
pub unsafe extern "C" fn open(path: *const c_char, flags: c_int, mode: mode_t) -> c_int {
    if let Some(f) = fast(&REAL_OPEN) {
        // SAFETY: the caller's arguments to the real function.
        return unsafe { f(path, flags, mode as std::ffi::c_uint) };
    }
    // SAFETY: our caller's arguments, passed on as received.
    unsafe { open_like(&REAL_OPEN, Entry::Open, path, flags, mode) }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn open64(path: *const c_char, flags: c_int, mode: mode_t) -> c_int {
    if let Some(f) = fast(&REAL_OPEN64) {
        // SAFETY: the caller's arguments to the real function.
        return unsafe { f(path, flags, mode as std::ffi::c_uint) };
    }
    // SAFETY: our caller's arguments, passed on as received.
    unsafe { open_like(&REAL_OPEN64, Entry::Open64, path, flags, mode) }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn openat(dirfd: c_int, path: *const c_char, flags: c_int, mode: mode_t) -> c_int {
    if let Some(f) = fast(&REAL_OPENAT) {
        // SAFETY: the caller's arguments to the real function.
        return unsafe { f(dirfd, path, flags, mode as std::ffi::c_uint) };
    }
    // SAFETY: our caller's arguments, passed on as received.
    unsafe { openat_like(&REAL_OPENAT, Entry::Openat, dirfd, path, flags, mode) }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn openat64(dirfd: c_int, path: *const c_char, flags: c_int, mode: mode_t) -> c_int {
    if let Some(f) = fast(&REAL_OPENAT64) {
        // SAFETY: the caller's arguments to the real function.
        return unsafe { f(dirfd, path, flags, mode as std::ffi::c_uint) };
    }
    // SAFETY: our caller's arguments, passed on as received.
    unsafe { openat_like(&REAL_OPENAT64, Entry::Openat64, dirfd, path, flags, mode) }
}

#[inline(never)]
unsafe fn open2_like(real: &Real<Open2Fn>, entry: Entry, path: *const c_char, flags: c_int) -> c_int {
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
unsafe fn openat2_like(real: &Real<Openat2Fn>, entry: Entry, dirfd: c_int, path: *const c_char, flags: c_int) -> c_int {
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

/// `_FORTIFY_SOURCE`'s `open` when the compiler could not see a mode.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn __open_2(path: *const c_char, flags: c_int) -> c_int {
    if let Some(f) = fast(&REAL_OPEN_2) {
        // SAFETY: the caller's arguments to the real function.
        return unsafe { f(path, flags) };
    }
    // SAFETY: our caller's arguments, passed on as received.
    unsafe { open2_like(&REAL_OPEN_2, Entry::Open2, path, flags) }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn __open64_2(path: *const c_char, flags: c_int) -> c_int {
    if let Some(f) = fast(&REAL_OPEN64_2) {
        // SAFETY: the caller's arguments to the real function.
        return unsafe { f(path, flags) };
    }
    // SAFETY: our caller's arguments, passed on as received.
    unsafe { open2_like(&REAL_OPEN64_2, Entry::Open64_2, path, flags) }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn __openat_2(dirfd: c_int, path: *const c_char, flags: c_int) -> c_int {
    if let Some(f) = fast(&REAL_OPENAT_2) {
        // SAFETY: the caller's arguments to the real function.
        return unsafe { f(dirfd, path, flags) };
    }
    // SAFETY: our caller's arguments, passed on as received.
    unsafe { openat2_like(&REAL_OPENAT_2, Entry::Openat2, dirfd, path, flags) }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn __openat64_2(dirfd: c_int, path: *const c_char, flags: c_int) -> c_int {
    if let Some(f) = fast(&REAL_OPENAT64_2) {
        // SAFETY: the caller's arguments to the real function.
        return unsafe { f(dirfd, path, flags) };
    }
    // SAFETY: our caller's arguments, passed on as received.
    unsafe { openat2_like(&REAL_OPENAT64_2, Entry::Openat64_2, dirfd, path, flags) }
}

#[inline(never)]
unsafe fn creat_like(real: &Real<CreatFn>, entry: Entry, path: *const c_char, mode: mode_t) -> c_int {
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

#[unsafe(no_mangle)]
pub unsafe extern "C" fn creat(path: *const c_char, mode: mode_t) -> c_int {
    if let Some(f) = fast(&REAL_CREAT) {
        // SAFETY: the caller's arguments to the real function.
        return unsafe { f(path, mode) };
    }
    // SAFETY: our caller's arguments, passed on as received.
    unsafe { creat_like(&REAL_CREAT, Entry::Creat, path, mode) }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn creat64(path: *const c_char, mode: mode_t) -> c_int {
    if let Some(f) = fast(&REAL_CREAT64) {
        // SAFETY: the caller's arguments to the real function.
        return unsafe { f(path, mode) };
    }
    // SAFETY: our caller's arguments, passed on as received.
    unsafe { creat_like(&REAL_CREAT64, Entry::Creat64, path, mode) }
}

#[inline(never)]
unsafe fn fopen_like(real: &Real<FopenFn>, entry: Entry, path: *const c_char, mode: *const c_char) -> *mut FILE {
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

#[unsafe(no_mangle)]
pub unsafe extern "C" fn fopen(path: *const c_char, mode: *const c_char) -> *mut FILE {
    if let Some(f) = fast(&REAL_FOPEN) {
        // SAFETY: the caller's arguments to the real function.
        return unsafe { f(path, mode) };
    }
    // SAFETY: our caller's arguments, passed on as received.
    unsafe { fopen_like(&REAL_FOPEN, Entry::Fopen, path, mode) }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn fopen64(path: *const c_char, mode: *const c_char) -> *mut FILE {
    if let Some(f) = fast(&REAL_FOPEN64) {
        // SAFETY: the caller's arguments to the real function.
        return unsafe { f(path, mode) };
    }
    // SAFETY: our caller's arguments, passed on as received.
    unsafe { fopen_like(&REAL_FOPEN64, Entry::Fopen64, path, mode) }
}

#[inline(never)]
unsafe fn freopen_like(
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

#[unsafe(no_mangle)]
pub unsafe extern "C" fn freopen(path: *const c_char, mode: *const c_char, stream: *mut FILE) -> *mut FILE {
    if let Some(f) = fast(&REAL_FREOPEN) {
        // SAFETY: the caller's arguments to the real function.
        return unsafe { f(path, mode, stream) };
    }
    // SAFETY: our caller's arguments, passed on as received.
    unsafe { freopen_like(&REAL_FREOPEN, Entry::Freopen, path, mode, stream) }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn freopen64(path: *const c_char, mode: *const c_char, stream: *mut FILE) -> *mut FILE {
    if let Some(f) = fast(&REAL_FREOPEN64) {
        // SAFETY: the caller's arguments to the real function.
        return unsafe { f(path, mode, stream) };
    }
    // SAFETY: our caller's arguments, passed on as received.
    unsafe { freopen_like(&REAL_FREOPEN64, Entry::Freopen64, path, mode, stream) }
}


/// Whether the armed shim can tell from `path` alone that the call cannot
/// match: see [`crate::armed_needle_nul`].
///
/// # Safety
/// `path` is NULL or a NUL-terminated string valid for the call.
#[inline(always)]
unsafe fn cannot_match(path: *const c_char) -> bool {
    match crate::armed_needle_nul() {
        // SAFETY: the caller's promise about `path`, passed on.
        Some(needle_nul) => unsafe { absolute_without(path, needle_nul) },
        None => false,
    }
}

// ---------------------------------------------------------------------------
// The mkstemp family: an open of the template's path, for writing.

#[inline(never)]
unsafe fn mkstemp_like(entry: Entry, template: *mut c_char, flags: c_int, call: impl FnOnce() -> c_int) -> c_int {
    let path = template as *const c_char;
    let intent = Intent::Flags(libc::O_RDWR | libc::O_CREAT | libc::O_EXCL | flags);
    // SAFETY: the caller passes a NUL-terminated template, valid for the call.
    let verdict = if unsafe { cannot_match(path) } { Verdict::Pass } else { check(entry, Dir::Cwd, intent, || unsafe { c_bytes(path) }) };
    if let Verdict::Fail(errno) = verdict {
        return fail_fd(errno);
    }
    let fd = call();
    crate::after_open(fd, verdict);
    fd
}

macro_rules! mkstemp_hook {
    ($name:ident, $real:ident, $entry:expr, ($($a:ident: $t:ty),*), $flags:expr) => {
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn $name(template: *mut c_char $(, $a: $t)*) -> c_int {
            if crate::is_off() {
                // SAFETY: the caller's arguments to the real function.
                return unsafe { $real.f()(template $(, $a)*) };
            }
            // SAFETY: the caller's arguments, passed on as received.
            unsafe { mkstemp_like($entry, template, $flags, || $real.f()(template $(, $a)*)) }
        }
    };
}

mkstemp_hook!(mkstemp, REAL_MKSTEMP, Entry::Mkstemp, (), 0);
mkstemp_hook!(mkstemp64, REAL_MKSTEMP64, Entry::Mkstemp64, (), 0);
mkstemp_hook!(mkostemp, REAL_MKOSTEMP, Entry::Mkostemp, (flags: c_int), flags);
mkstemp_hook!(mkostemp64, REAL_MKOSTEMP64, Entry::Mkostemp64, (flags: c_int), flags);
mkstemp_hook!(mkstemps, REAL_MKSTEMPS, Entry::Mkstemps, (suffix: c_int), 0);
mkstemp_hook!(mkstemps64, REAL_MKSTEMPS64, Entry::Mkstemps64, (suffix: c_int), 0);
mkstemp_hook!(mkostemps, REAL_MKOSTEMPS, Entry::Mkostemps, (suffix: c_int, flags: c_int), flags);
mkstemp_hook!(mkostemps64, REAL_MKOSTEMPS64, Entry::Mkostemps64, (suffix: c_int, flags: c_int), flags);

// ---------------------------------------------------------------------------
// The write family. An untracked descriptor: one bounds check, one byte
// load, one pointer load, a jump.

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

// ---------------------------------------------------------------------------
// sync, ftruncate, fallocate: calls on a descriptor that fail whole.

/// Defines a hook on a descriptor call: tracked and failing, it returns
/// `$fail` with errno set (or `$ret_errno` for functions that return it).
macro_rules! fd_hook {
    ($name:ident, $real:ident, $entry:expr, ($($a:ident: $t:ty),*), errno_return) => {
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn $name(fd: c_int $(, $a: $t)*) -> c_int {
            if fds::marked(fd) {
                if let Some(errno) = crate::check_fd_call($entry, fd) {
                    return errno;
                }
            }
            // SAFETY: the caller's arguments to the real function.
            unsafe { $real.f()(fd $(, $a)*) }
        }
    };
    ($name:ident, $real:ident, $entry:expr, ($($a:ident: $t:ty),*)) => {
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn $name(fd: c_int $(, $a: $t)*) -> c_int {
            if fds::marked(fd) {
                if let Some(errno) = crate::check_fd_call($entry, fd) {
                    return fail_fd(errno);
                }
            }
            // SAFETY: the caller's arguments to the real function.
            unsafe { $real.f()(fd $(, $a)*) }
        }
    };
}

fd_hook!(fsync, REAL_FSYNC, Entry::Fsync, ());
fd_hook!(fdatasync, REAL_FDATASYNC, Entry::Fdatasync, ());
fd_hook!(sync_file_range, REAL_SYNC_FILE_RANGE, Entry::SyncFileRange, (off: off64_t, n: off64_t, flags: c_uint));
fd_hook!(ftruncate, REAL_FTRUNCATE, Entry::Ftruncate, (len: off_t));
fd_hook!(ftruncate64, REAL_FTRUNCATE64, Entry::Ftruncate64, (len: off64_t));
fd_hook!(fallocate, REAL_FALLOCATE, Entry::Fallocate, (mode: c_int, off: off_t, len: off_t));
fd_hook!(fallocate64, REAL_FALLOCATE64, Entry::Fallocate64, (mode: c_int, off: off64_t, len: off64_t));
fd_hook!(posix_fallocate, REAL_POSIX_FALLOCATE, Entry::PosixFallocate, (off: off_t, len: off_t), errno_return);
fd_hook!(posix_fallocate64, REAL_POSIX_FALLOCATE64, Entry::PosixFallocate64, (off: off64_t, len: off64_t), errno_return);

// ---------------------------------------------------------------------------
// close and what else ends a descriptor's life or copies it.

#[cold]
#[inline(never)]
extern "C" fn close_tracked(fd: c_int) -> c_int {
    if !fds::marked(fd) {
        // Only shared a slot with a tracked descriptor (see `fds::maybe_marked`).
        // SAFETY: the caller's argument to the real function.
        return unsafe { REAL_CLOSE.f()(fd) };
    }
    // Decided (and logged, with the path) while the descriptor still names
    // its file; cleared before the real close, so that a descriptor number
    // another thread gets from a later open is never left marked.
    let failure = crate::check_fd_call(Entry::Close, fd);
    crate::after_close(fd);
    // SAFETY: the caller's descriptor, closed exactly once, as asked.
    let r = unsafe { REAL_CLOSE.f()(fd) };
    match failure {
        // Closed as usual, then the error (what NFS does).
        Some(errno) => fail_fd(errno),
        None => r,
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn close(fd: c_int) -> c_int {
    if fds::maybe_marked(fd) {
        return close_tracked(fd);
    }
    // SAFETY: the caller's argument to the real function.
    unsafe { REAL_CLOSE.f()(fd) }
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

#[unsafe(no_mangle)]
pub unsafe extern "C" fn dup(fd: c_int) -> c_int {
    // SAFETY: the caller's argument to the real function.
    let new = unsafe { REAL_DUP.f()(fd) };
    crate::after_dup(fd, new);
    new
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn dup2(fd: c_int, to: c_int) -> c_int {
    // SAFETY: the caller's arguments to the real function.
    let new = unsafe { REAL_DUP2.f()(fd, to) };
    crate::after_dup(fd, new);
    new
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn dup3(fd: c_int, to: c_int, flags: c_int) -> c_int {
    // SAFETY: the caller's arguments to the real function.
    let new = unsafe { REAL_DUP3.f()(fd, to, flags) };
    crate::after_dup(fd, new);
    new
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn fcntl(fd: c_int, cmd: c_int, arg: *mut c_void) -> c_int {
    // SAFETY: the caller's arguments to the real function (see the note on
    // variadic functions at the top).
    let r = unsafe { REAL_FCNTL.f()(fd, cmd, arg) };
    if cmd == libc::F_DUPFD || cmd == libc::F_DUPFD_CLOEXEC {
        crate::after_dup(fd, r);
    }
    r
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn fcntl64(fd: c_int, cmd: c_int, arg: *mut c_void) -> c_int {
    // SAFETY: as in `fcntl`.
    let r = unsafe { REAL_FCNTL64.f()(fd, cmd, arg) };
    if cmd == libc::F_DUPFD || cmd == libc::F_DUPFD_CLOEXEC {
        crate::after_dup(fd, r);
    }
    r
}

// ---------------------------------------------------------------------------
// Calls on paths: rename, truncate, mkdir, unlink.

/// `check` for a call on one path, with the fast early-out.
///
/// # Safety
/// `path` is NULL or a NUL-terminated string valid for the call.
#[inline(always)]
unsafe fn path_fails(entry: Entry, dir: Dir, path: *const c_char) -> Option<c_int> {
    if !crate::family_armed(entry) {
        return None;
    }
    // SAFETY: the caller's promise about `path`.
    if unsafe { cannot_match(path) } {
        return None;
    }
    // SAFETY: as above.
    crate::check_path_call(entry, dir, || unsafe { c_bytes(path) })
}

macro_rules! path_hook {
    ($name:ident, $real:ident, $entry:expr, $dir:expr, (path: *const c_char $(, $a:ident: $t:ty)*) $(, dirfd $dfd:ident)?) => {
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn $name($($dfd: c_int,)? path: *const c_char $(, $a: $t)*) -> c_int {
            // SAFETY: the caller passes NULL or a NUL-terminated path.
            if let Some(errno) = unsafe { path_fails($entry, $dir, path) } {
                return fail_fd(errno);
            }
            // SAFETY: the caller's arguments to the real function.
            unsafe { $real.f()($($dfd,)? path $(, $a)*) }
        }
    };
}

path_hook!(truncate, REAL_TRUNCATE, Entry::Truncate, Dir::Cwd, (path: *const c_char, len: off_t));
path_hook!(truncate64, REAL_TRUNCATE64, Entry::Truncate64, Dir::Cwd, (path: *const c_char, len: off64_t));
path_hook!(mkdir, REAL_MKDIR, Entry::Mkdir, Dir::Cwd, (path: *const c_char, mode: mode_t));
path_hook!(mkdirat, REAL_MKDIRAT, Entry::Mkdirat, dir_of(dirfd), (path: *const c_char, mode: mode_t), dirfd dirfd);
path_hook!(unlink, REAL_UNLINK, Entry::Unlink, Dir::Cwd, (path: *const c_char));
path_hook!(unlinkat, REAL_UNLINKAT, Entry::Unlinkat, dir_of(dirfd), (path: *const c_char, flags: c_int), dirfd dirfd);
path_hook!(rmdir, REAL_RMDIR, Entry::Rmdir, Dir::Cwd, (path: *const c_char));

/// A rename matches when either path does.
///
/// # Safety
/// Both paths are NULL or NUL-terminated strings valid for the call.
#[inline(always)]
unsafe fn rename_fails(entry: Entry, od: Dir, old: *const c_char, nd: Dir, new: *const c_char) -> Option<c_int> {
    if !crate::family_armed(entry) {
        return None;
    }
    // SAFETY: the caller's promise about both paths.
    if unsafe { cannot_match(old) && cannot_match(new) } {
        return None;
    }
    // SAFETY: as above.
    crate::check_rename(entry, (od, || unsafe { c_bytes(old) }), (nd, || unsafe { c_bytes(new) }))
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn rename(old: *const c_char, new: *const c_char) -> c_int {
    // SAFETY: the caller passes NULL or NUL-terminated paths.
    if let Some(errno) = unsafe { rename_fails(Entry::Rename, Dir::Cwd, old, Dir::Cwd, new) } {
        return fail_fd(errno);
    }
    // SAFETY: the caller's arguments to the real function.
    unsafe { REAL_RENAME.f()(old, new) }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn renameat(od: c_int, old: *const c_char, nd: c_int, new: *const c_char) -> c_int {
    // SAFETY: as in `rename`.
    if let Some(errno) = unsafe { rename_fails(Entry::Renameat, dir_of(od), old, dir_of(nd), new) } {
        return fail_fd(errno);
    }
    // SAFETY: the caller's arguments to the real function.
    unsafe { REAL_RENAMEAT.f()(od, old, nd, new) }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn renameat2(od: c_int, old: *const c_char, nd: c_int, new: *const c_char, flags: c_uint) -> c_int {
    // SAFETY: as in `rename`.
    if let Some(errno) = unsafe { rename_fails(Entry::Renameat2, dir_of(od), old, dir_of(nd), new) } {
        return fail_fd(errno);
    }
    // SAFETY: the caller's arguments to the real function.
    unsafe { REAL_RENAMEAT2.f()(od, old, nd, new, flags) }
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
