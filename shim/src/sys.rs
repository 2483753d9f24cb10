//! Every line of unsafe code in the shim: the exported libc entry points, the
//! table of the real functions they forward to, the load/exit hooks, and the
//! few raw system calls the safe code needs.
//!
//! Why not `redhook`: it cannot define the variadic `open`/`openat`, and its
//! fallback when a hook panics can poison its `Once`, leaving the host process
//! unable to open files at all. A table of `dlsym(RTLD_NEXT)` pointers, each
//! resolved once into an atomic, is a few lines and has neither problem.
//!
//! Why raw syscalls for our own I/O: the fault log is opened with the
//! `openat` syscall, not libc's `open`, which would come back into our own
//! hook; so the shim never sees (or counts) its own opens and needs no
//! per-thread re-entry flag, which keeps every hook async-signal-safe.
//! (glibc's `fopen`/`freopen` open through internal aliases, so one `fopen`
//! is one matching call, never two.)

#![allow(non_snake_case, clippy::missing_safety_doc)]

use std::ffi::{c_char, c_int, c_void, CStr};
use std::marker::PhantomData;
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, Ordering};

use libc::{mode_t, FILE};

use crate::matcher::Intent;
use crate::{check, Dir, Entry};

// The exported variadic functions (`open`, `open64`, `openat`, `openat64`)
// are defined with `mode` as a fixed last parameter, because stable Rust
// cannot define C-variadic functions. On the x86-64 and AArch64 Linux ABIs a
// variadic integer argument travels in the same register as a fixed one
// would, so `mode` holds the caller's value when it passed one; when it did
// not (no O_CREAT/O_TMPFILE), the register holds garbage that we neither read
// nor forward.
#[cfg(not(all(target_os = "linux", any(target_arch = "x86_64", target_arch = "aarch64"))))]
compile_error!("libblobfail's variadic entry points assume the x86-64 or AArch64 Linux calling convention");

pub const PATH_MAX: usize = libc::PATH_MAX as usize;

// ---------------------------------------------------------------------------
// The real functions.

/// One real libc function, found with `dlsym(RTLD_NEXT)` on first use.
struct Real<F> {
    name: &'static CStr,
    ptr: AtomicPtr<c_void>,
    _fn: PhantomData<F>,
}

impl<F: Copy> Real<F> {
    const fn new(name: &'static CStr) -> Self {
        assert!(size_of::<F>() == size_of::<*mut c_void>());
        Real { name, ptr: AtomicPtr::new(std::ptr::null_mut()), _fn: PhantomData }
    }

    /// The real function when the shim is disarmed and it is resolved: the
    /// one-load fast path every export tries first.
    #[inline(always)]
    fn fast(&self) -> Option<F> {
        if !crate::is_off() {
            return None;
        }
        let p = self.ptr.load(Ordering::Relaxed);
        if p.is_null() {
            return None;
        }
        // SAFETY: as in `get`.
        Some(unsafe { std::mem::transmute_copy::<*mut c_void, F>(&p) })
    }

    /// The real function, or None when no later object defines it (a libc
    /// without `__open64_2`, say): the caller then fails with ENOSYS rather
    /// than crash.
    fn get(&self) -> Option<F> {
        let mut p = self.ptr.load(Ordering::Acquire);
        if p.is_null() {
            // SAFETY: `name` is a NUL-terminated C string; dlsym with
            // RTLD_NEXT only looks symbols up and is safe to call any time
            // after the dynamic loader has mapped us.
            p = unsafe { libc::dlsym(libc::RTLD_NEXT, self.name.as_ptr()) };
            if p.is_null() {
                return None;
            }
            self.ptr.store(p, Ordering::Release);
        }
        // SAFETY: `F` is the function-pointer type of the libc function
        // called `name` (each `Real` below pairs them by hand, with glibc's
        // prototypes), `new` asserted it is pointer-sized, and `p` is non-null.
        Some(unsafe { std::mem::transmute_copy::<*mut c_void, F>(&p) })
    }
}

type OpenFn = unsafe extern "C" fn(*const c_char, c_int, ...) -> c_int;
type OpenatFn = unsafe extern "C" fn(c_int, *const c_char, c_int, ...) -> c_int;
type Open2Fn = unsafe extern "C" fn(*const c_char, c_int) -> c_int;
type Openat2Fn = unsafe extern "C" fn(c_int, *const c_char, c_int) -> c_int;
type CreatFn = unsafe extern "C" fn(*const c_char, mode_t) -> c_int;
type FopenFn = unsafe extern "C" fn(*const c_char, *const c_char) -> *mut FILE;
type FreopenFn = unsafe extern "C" fn(*const c_char, *const c_char, *mut FILE) -> *mut FILE;

static REAL_OPEN: Real<OpenFn> = Real::new(c"open");
static REAL_OPEN64: Real<OpenFn> = Real::new(c"open64");
static REAL_OPENAT: Real<OpenatFn> = Real::new(c"openat");
static REAL_OPENAT64: Real<OpenatFn> = Real::new(c"openat64");
static REAL_OPEN_2: Real<Open2Fn> = Real::new(c"__open_2");
static REAL_OPEN64_2: Real<Open2Fn> = Real::new(c"__open64_2");
static REAL_OPENAT_2: Real<Openat2Fn> = Real::new(c"__openat_2");
static REAL_OPENAT64_2: Real<Openat2Fn> = Real::new(c"__openat64_2");
static REAL_CREAT: Real<CreatFn> = Real::new(c"creat");
static REAL_CREAT64: Real<CreatFn> = Real::new(c"creat64");
static REAL_FOPEN: Real<FopenFn> = Real::new(c"fopen");
static REAL_FOPEN64: Real<FopenFn> = Real::new(c"fopen64");
static REAL_FREOPEN: Real<FreopenFn> = Real::new(c"freopen");
static REAL_FREOPEN64: Real<FreopenFn> = Real::new(c"freopen64");

/// Resolves every real function up front, so hooks never call dlsym
/// (which may allocate) on the hot path or in a signal handler.
fn resolve_all() {
    REAL_OPEN.get();
    REAL_OPEN64.get();
    REAL_OPENAT.get();
    REAL_OPENAT64.get();
    REAL_OPEN_2.get();
    REAL_OPEN64_2.get();
    REAL_OPENAT_2.get();
    REAL_OPENAT64_2.get();
    REAL_CREAT.get();
    REAL_CREAT64.get();
    REAL_FOPEN.get();
    REAL_FOPEN64.get();
    REAL_FREOPEN.get();
    REAL_FREOPEN64.get();
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

// ---------------------------------------------------------------------------
// Small helpers over raw pointers and errno.

/// # Safety
/// `p` is NULL or points to a NUL-terminated string that outlives `'a`.
#[inline(always)]
unsafe fn c_bytes<'a>(p: *const c_char) -> Option<&'a [u8]> {
    if p.is_null() {
        None
    } else {
        // SAFETY: non-null, and the caller promises NUL termination.
        Some(unsafe { CStr::from_ptr(p) }.to_bytes())
    }
}

#[inline(always)]
fn set_errno(errno: c_int) {
    // SAFETY: __errno_location always returns this thread's valid errno slot.
    unsafe { *libc::__errno_location() = errno };
}

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

#[inline(never)]
unsafe fn open_like(real: &Real<OpenFn>, entry: Entry, path: *const c_char, flags: c_int, mode: mode_t) -> c_int {
    // SAFETY: `path` comes from the C caller of open(), which requires NULL
    // or a NUL-terminated string valid for the duration of the call.
    if !unsafe { cannot_match(path) } {
        if let Some(errno) = check(entry, Dir::Cwd, Intent::Flags(flags), || unsafe { c_bytes(path) }) {
            return fail_fd(errno);
        }
    }
    let Some(f) = real.get() else { return fail_fd(libc::ENOSYS) };
    // SAFETY: forwarding the caller's own arguments to the real function of
    // the same prototype; `mode` is only passed when the flags say the caller
    // passed it.
    unsafe {
        if needs_mode(flags) {
            f(path, flags, mode as std::ffi::c_uint)
        } else {
            f(path, flags)
        }
    }
}

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
    if !unsafe { cannot_match(path) } {
        if let Some(errno) = check(entry, dir_of(dirfd), Intent::Flags(flags), || unsafe { c_bytes(path) }) {
            return fail_fd(errno);
        }
    }
    let Some(f) = real.get() else { return fail_fd(libc::ENOSYS) };
    // SAFETY: as in `open_like`.
    unsafe {
        if needs_mode(flags) {
            f(dirfd, path, flags, mode as std::ffi::c_uint)
        } else {
            f(dirfd, path, flags)
        }
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn open(path: *const c_char, flags: c_int, mode: mode_t) -> c_int {
    if let Some(f) = REAL_OPEN.fast() {
        // SAFETY: the caller's arguments to the real function.
        return unsafe { f(path, flags, mode as std::ffi::c_uint) };
    }
    // SAFETY: our caller's arguments, passed on as received.
    unsafe { open_like(&REAL_OPEN, Entry::Open, path, flags, mode) }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn open64(path: *const c_char, flags: c_int, mode: mode_t) -> c_int {
    if let Some(f) = REAL_OPEN64.fast() {
        // SAFETY: the caller's arguments to the real function.
        return unsafe { f(path, flags, mode as std::ffi::c_uint) };
    }
    // SAFETY: our caller's arguments, passed on as received.
    unsafe { open_like(&REAL_OPEN64, Entry::Open64, path, flags, mode) }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn openat(dirfd: c_int, path: *const c_char, flags: c_int, mode: mode_t) -> c_int {
    if let Some(f) = REAL_OPENAT.fast() {
        // SAFETY: the caller's arguments to the real function.
        return unsafe { f(dirfd, path, flags, mode as std::ffi::c_uint) };
    }
    // SAFETY: our caller's arguments, passed on as received.
    unsafe { openat_like(&REAL_OPENAT, Entry::Openat, dirfd, path, flags, mode) }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn openat64(dirfd: c_int, path: *const c_char, flags: c_int, mode: mode_t) -> c_int {
    if let Some(f) = REAL_OPENAT64.fast() {
        // SAFETY: the caller's arguments to the real function.
        return unsafe { f(dirfd, path, flags, mode as std::ffi::c_uint) };
    }
    // SAFETY: our caller's arguments, passed on as received.
    unsafe { openat_like(&REAL_OPENAT64, Entry::Openat64, dirfd, path, flags, mode) }
}

#[inline(never)]
unsafe fn open2_like(real: &Real<Open2Fn>, entry: Entry, path: *const c_char, flags: c_int) -> c_int {
    // SAFETY: as in `open_like`.
    if !unsafe { cannot_match(path) } {
        if let Some(errno) = check(entry, Dir::Cwd, Intent::Flags(flags), || unsafe { c_bytes(path) }) {
            return fail_fd(errno);
        }
    }
    let Some(f) = real.get() else { return fail_fd(libc::ENOSYS) };
    // SAFETY: the caller's arguments to the real function of the same prototype.
    unsafe { f(path, flags) }
}

#[inline(never)]
unsafe fn openat2_like(real: &Real<Openat2Fn>, entry: Entry, dirfd: c_int, path: *const c_char, flags: c_int) -> c_int {
    // SAFETY: as in `open_like`.
    if !unsafe { cannot_match(path) } {
        if let Some(errno) = check(entry, dir_of(dirfd), Intent::Flags(flags), || unsafe { c_bytes(path) }) {
            return fail_fd(errno);
        }
    }
    let Some(f) = real.get() else { return fail_fd(libc::ENOSYS) };
    // SAFETY: the caller's arguments to the real function of the same prototype.
    unsafe { f(dirfd, path, flags) }
}

/// `_FORTIFY_SOURCE`'s `open` when the compiler could not see a mode.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn __open_2(path: *const c_char, flags: c_int) -> c_int {
    if let Some(f) = REAL_OPEN_2.fast() {
        // SAFETY: the caller's arguments to the real function.
        return unsafe { f(path, flags) };
    }
    // SAFETY: our caller's arguments, passed on as received.
    unsafe { open2_like(&REAL_OPEN_2, Entry::Open2, path, flags) }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn __open64_2(path: *const c_char, flags: c_int) -> c_int {
    if let Some(f) = REAL_OPEN64_2.fast() {
        // SAFETY: the caller's arguments to the real function.
        return unsafe { f(path, flags) };
    }
    // SAFETY: our caller's arguments, passed on as received.
    unsafe { open2_like(&REAL_OPEN64_2, Entry::Open64_2, path, flags) }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn __openat_2(dirfd: c_int, path: *const c_char, flags: c_int) -> c_int {
    if let Some(f) = REAL_OPENAT_2.fast() {
        // SAFETY: the caller's arguments to the real function.
        return unsafe { f(dirfd, path, flags) };
    }
    // SAFETY: our caller's arguments, passed on as received.
    unsafe { openat2_like(&REAL_OPENAT_2, Entry::Openat2, dirfd, path, flags) }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn __openat64_2(dirfd: c_int, path: *const c_char, flags: c_int) -> c_int {
    if let Some(f) = REAL_OPENAT64_2.fast() {
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
    if !unsafe { cannot_match(path) } {
        if let Some(errno) = check(entry, Dir::Cwd, Intent::Flags(flags), || unsafe { c_bytes(path) }) {
            return fail_fd(errno);
        }
    }
    let Some(f) = real.get() else { return fail_fd(libc::ENOSYS) };
    // SAFETY: the caller's arguments to the real function of the same prototype.
    unsafe { f(path, mode) }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn creat(path: *const c_char, mode: mode_t) -> c_int {
    if let Some(f) = REAL_CREAT.fast() {
        // SAFETY: the caller's arguments to the real function.
        return unsafe { f(path, mode) };
    }
    // SAFETY: our caller's arguments, passed on as received.
    unsafe { creat_like(&REAL_CREAT, Entry::Creat, path, mode) }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn creat64(path: *const c_char, mode: mode_t) -> c_int {
    if let Some(f) = REAL_CREAT64.fast() {
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
    if let Some(mode_bytes) = unsafe { c_bytes(mode) }.filter(|_| !unsafe { cannot_match(path) }) {
        if let Some(errno) = check(entry, Dir::Cwd, Intent::Mode(mode_bytes), || unsafe { c_bytes(path) }) {
            return fail_file(errno);
        }
    }
    let Some(f) = real.get() else { return fail_file(libc::ENOSYS) };
    // SAFETY: the caller's arguments to the real function of the same prototype.
    unsafe { f(path, mode) }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn fopen(path: *const c_char, mode: *const c_char) -> *mut FILE {
    if let Some(f) = REAL_FOPEN.fast() {
        // SAFETY: the caller's arguments to the real function.
        return unsafe { f(path, mode) };
    }
    // SAFETY: our caller's arguments, passed on as received.
    unsafe { fopen_like(&REAL_FOPEN, Entry::Fopen, path, mode) }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn fopen64(path: *const c_char, mode: *const c_char) -> *mut FILE {
    if let Some(f) = REAL_FOPEN64.fast() {
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
    if let Some(mode_bytes) = unsafe { c_bytes(mode) }.filter(|_| !unsafe { cannot_match(path) }) {
        if let Some(errno) = check(entry, Dir::Cwd, Intent::Mode(mode_bytes), || unsafe { c_bytes(path) }) {
            // freopen closes the old stream even when the new open fails;
            // a failed call must look the same, or callers would leak it.
            // SAFETY: `stream` is the caller's open stream, which freopen
            // owns from here on.
            if !stream.is_null() {
                unsafe { libc::fclose(stream) };
            }
            return fail_file(errno);
        }
    }
    let Some(f) = real.get() else { return fail_file(libc::ENOSYS) };
    // SAFETY: the caller's arguments to the real function of the same prototype.
    unsafe { f(path, mode, stream) }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn freopen(path: *const c_char, mode: *const c_char, stream: *mut FILE) -> *mut FILE {
    if let Some(f) = REAL_FREOPEN.fast() {
        // SAFETY: the caller's arguments to the real function.
        return unsafe { f(path, mode, stream) };
    }
    // SAFETY: our caller's arguments, passed on as received.
    unsafe { freopen_like(&REAL_FREOPEN, Entry::Freopen, path, mode, stream) }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn freopen64(path: *const c_char, mode: *const c_char, stream: *mut FILE) -> *mut FILE {
    if let Some(f) = REAL_FREOPEN64.fast() {
        // SAFETY: the caller's arguments to the real function.
        return unsafe { f(path, mode, stream) };
    }
    // SAFETY: our caller's arguments, passed on as received.
    unsafe { freopen_like(&REAL_FREOPEN64, Entry::Freopen64, path, mode, stream) }
}

// ---------------------------------------------------------------------------
// Safe wrappers over the syscalls the safe code needs. All async-signal-safe.

/// A variable's raw bytes, or None when unset.
pub fn getenv(name: &'static str) -> Option<&'static [u8]> {
    let mut cname = [0u8; 64];
    let n = name.len().min(cname.len() - 1);
    cname[..n].copy_from_slice(&name.as_bytes()[..n]);
    // SAFETY: `cname` is NUL-terminated. getenv returns NULL or a pointer
    // into the environment, which stays valid until the program changes that
    // variable; callers copy what they keep right away.
    unsafe { c_bytes(libc::getenv(cname.as_ptr().cast())) }
}

/// The file fd 2 was when the shim loaded, as (st_dev, st_ino); `STDERR_KNOWN`
/// is false when fd 2 was closed then.
static STDERR_DEV: AtomicU64 = AtomicU64::new(0);
static STDERR_INO: AtomicU64 = AtomicU64::new(0);
static STDERR_KNOWN: AtomicBool = AtomicBool::new(false);

/// The (device, inode) of the file open as fd 2, or None when fd 2 is closed.
fn fd2_identity() -> Option<(u64, u64)> {
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: fstat writes a whole `struct stat` into `st` when it returns 0,
    // and nothing otherwise; `st` is only read after a 0.
    if unsafe { libc::fstat(2, st.as_mut_ptr()) } != 0 {
        return None;
    }
    // SAFETY: fstat returned 0, so it filled `st` in.
    let st = unsafe { st.assume_init() };
    Some((st.st_dev, st.st_ino))
}

/// Notes which file stderr is, before the shim first writes to it.
pub fn remember_stderr() {
    if let Some((dev, ino)) = fd2_identity() {
        STDERR_DEV.store(dev, Ordering::Relaxed);
        STDERR_INO.store(ino, Ordering::Relaxed);
        STDERR_KNOWN.store(true, Ordering::Release);
    }
}

/// One write(2) to fd 2, only while fd 2 is still the file it was when the
/// shim loaded. A program started with stderr closed (`2>&-`), or that closes
/// it, gets fd 2 for the next file it opens: a warning or the exit summary
/// written there would land in the program's own data. A closed or broken
/// stderr is ignored. Leaves errno as it found it.
pub fn write_stderr(bytes: &[u8]) {
    if !STDERR_KNOWN.load(Ordering::Acquire) {
        return;
    }
    // SAFETY: reading this thread's errno slot.
    let saved = unsafe { *libc::__errno_location() };
    let known = (STDERR_DEV.load(Ordering::Relaxed), STDERR_INO.load(Ordering::Relaxed));
    if fd2_identity() == Some(known) {
        // SAFETY: `bytes` is a valid buffer of `bytes.len()` bytes.
        unsafe { libc::write(2, bytes.as_ptr().cast(), bytes.len()) };
    }
    set_errno(saved);
}

/// Appends `bytes` to the file `path_nul` (NUL-terminated) in one O_APPEND
/// write, so lines from many threads and processes never interleave. Opens
/// through the raw syscall so that our own hook never sees it.
pub fn append_file(path_nul: &[u8], bytes: &[u8]) -> Result<(), i32> {
    debug_assert_eq!(path_nul.last(), Some(&0));
    let flags = libc::O_WRONLY | libc::O_APPEND | libc::O_CREAT | libc::O_CLOEXEC | libc::O_NOCTTY;
    // SAFETY: `path_nul` is NUL-terminated (Config keeps it so); openat
    // reads it and returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_openat, libc::AT_FDCWD, path_nul.as_ptr(), flags, 0o644) } as c_int;
    if fd < 0 {
        // SAFETY: reading this thread's errno slot.
        return Err(unsafe { *libc::__errno_location() });
    }
    let mut result = Ok(());
    if !bytes.is_empty() {
        // SAFETY: `fd` is the file we just opened; `bytes` is a valid buffer.
        let n = unsafe { libc::write(fd, bytes.as_ptr().cast(), bytes.len()) };
        if n < 0 {
            // SAFETY: reading this thread's errno slot.
            result = Err(unsafe { *libc::__errno_location() });
        }
    }
    // SAFETY: closing the fd we opened above, exactly once.
    unsafe { libc::close(fd) };
    result
}

/// The current directory, or None when it cannot be had (deleted, too long).
pub fn cwd(buf: &mut [MaybeUninit<u8>; PATH_MAX]) -> Option<&[u8]> {
    // SAFETY: getcwd writes at most `buf.len()` bytes, NUL included, and
    // returns NULL on failure, or `buf` holding a NUL-terminated string.
    let p = unsafe { libc::getcwd(buf.as_mut_ptr().cast(), buf.len()) };
    if p.is_null() {
        return None;
    }
    // SAFETY: getcwd succeeded, so `p` (= `buf`) is NUL-terminated within it;
    // the bytes borrowed are the ones it wrote, and live as long as `buf`.
    let path = unsafe { CStr::from_ptr(p) }.to_bytes();
    // Linux prefixes an unreachable cwd with "(unreachable)": not a path.
    (path.first() == Some(&b'/')).then_some(path)
}

/// The directory an `openat` dirfd stands for, read from /proc/self/fd.
pub fn fd_path(fd: c_int, buf: &mut [MaybeUninit<u8>; PATH_MAX]) -> Option<&[u8]> {
    if fd < 0 {
        return None;
    }
    let mut link = crate::format::StackBuf::<32>::new();
    let _ = std::fmt::Write::write_fmt(&mut link, format_args!("/proc/self/fd/{fd}\0"));
    let link = link.as_bytes();
    // SAFETY: `link` is NUL-terminated; readlink writes at most `buf.len()`
    // bytes (no NUL) and returns how many, or -1.
    let n = unsafe { libc::readlink(link.as_ptr().cast(), buf.as_mut_ptr().cast(), buf.len()) };
    if n <= 0 || n as usize >= buf.len() {
        return None;
    }
    // SAFETY: readlink initialised the first `n` bytes of `buf`.
    let path = unsafe { std::slice::from_raw_parts(buf.as_ptr().cast::<u8>(), n as usize) };
    (path.first() == Some(&b'/')).then_some(path)
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

/// Whether `path` is an absolute C path that does not contain `needle_nul`
/// (NUL-terminated). False for NULL or a relative path: those go the long way.
///
/// # Safety
/// `path` is NULL or a NUL-terminated string valid for the call.
#[inline(always)]
pub unsafe fn absolute_without(path: *const c_char, needle_nul: &[u8]) -> bool {
    debug_assert_eq!(needle_nul.last(), Some(&0));
    // SAFETY: `path` is NULL or the C caller's NUL-terminated string, valid
    // for the call; strstr only reads both strings up to their NULs.
    !path.is_null()
        && unsafe { *path } == b'/' as c_char
        && unsafe { libc::strstr(path, needle_nul.as_ptr().cast()) }.is_null()
}

pub fn pid() -> i32 {
    // SAFETY: getpid has no preconditions.
    unsafe { libc::getpid() }
}

pub fn tid() -> i64 {
    // SAFETY: gettid has no preconditions.
    unsafe { libc::syscall(libc::SYS_gettid) }
}

/// Wall-clock time in nanoseconds since the Unix epoch.
pub fn now_ns() -> u128 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid timespec to write into.
    unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut ts) };
    ts.tv_sec as u128 * 1_000_000_000 + ts.tv_nsec as u128
}
