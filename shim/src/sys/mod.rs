//! The leaf half of the shim's unsafe code: the table of the real libc
//! functions, found with `dlsym(RTLD_NEXT)`, and safe wrappers over the few
//! OS calls the safe code needs. It imports nothing from the rest of the
//! shim but the entry table (`table.rs`, whose rows it turns into the real
//! functions); the exported entry points, which do, are in `hooks/`, the
//! other half. Every unsafe block in the shim is in one of those two places.
//!
//! Why not `redhook`: it cannot define the variadic `open`/`openat`, and its
//! fallback when a hook panics can poison its `Once`, leaving the host process
//! unable to open files at all. A table of `dlsym(RTLD_NEXT)` pointers, each
//! resolved once into an atomic, is a few lines and has neither problem.
//!
//! Why the real functions (and raw syscalls) for our own I/O: the fault log
//! is opened with the `openat` syscall and written and closed with the real
//! `write` and `close`, never through our own hooks; so the shim never sees
//! (or counts) its own calls and needs no per-thread re-entry flag, which
//! keeps every hook async-signal-safe. (glibc's `fopen`/`freopen` open
//! through internal aliases, so one `fopen` is one matching call, never two.)

#![allow(non_snake_case, clippy::missing_safety_doc)]

use std::ffi::{c_char, c_int, c_long, c_uint, c_void, CStr};
use std::marker::PhantomData;
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, Ordering};

use libc::{iovec, mode_t, off64_t, off_t, size_t, ssize_t, FILE};

pub const PATH_MAX: usize = libc::PATH_MAX as usize;

// ---------------------------------------------------------------------------
// The real functions.

/// One real libc function, found with `dlsym(RTLD_NEXT)` on first use.
pub struct Real<F> {
    name: &'static CStr,
    ptr: AtomicPtr<c_void>,
    _fn: PhantomData<F>,
}

impl<F: Copy> Real<F> {
    const fn new(name: &'static CStr) -> Self {
        assert!(size_of::<F>() == size_of::<*mut c_void>());
        Real { name, ptr: AtomicPtr::new(std::ptr::null_mut()), _fn: PhantomData }
    }

    /// The real function when it is resolved: with the shim disarmed, the
    /// one-load fast path every open export tries first.
    #[inline(always)]
    pub fn resolved(&self) -> Option<F> {
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
    pub fn get(&self) -> Option<F> {
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

pub type OpenFn = unsafe extern "C" fn(*const c_char, c_int, ...) -> c_int;
pub type OpenatFn = unsafe extern "C" fn(c_int, *const c_char, c_int, ...) -> c_int;
pub type Open2Fn = unsafe extern "C" fn(*const c_char, c_int) -> c_int;
pub type Openat2Fn = unsafe extern "C" fn(c_int, *const c_char, c_int) -> c_int;
pub type CreatFn = unsafe extern "C" fn(*const c_char, mode_t) -> c_int;
pub type FopenFn = unsafe extern "C" fn(*const c_char, *const c_char) -> *mut FILE;
pub type FreopenFn = unsafe extern "C" fn(*const c_char, *const c_char, *mut FILE) -> *mut FILE;

/// A real libc function called through a pointer that starts out at a
/// small "first call" function, which resolves the real one with dlsym,
/// stores it and calls it. So the hooks on the hottest calls (`write`,
/// `close`) load one pointer and jump, with no null check; and a hook that
/// runs before the library's constructor (from another library's
/// constructor) still reaches its real function, resolving it lazily there.
pub struct Lazy<F> {
    name: &'static CStr,
    ptr: AtomicPtr<c_void>,
    _fn: PhantomData<F>,
}

impl<F: Copy> Lazy<F> {
    /// `first_call` must have the prototype `F` stands for.
    pub const fn new(name: &'static CStr, first_call: *mut c_void) -> Self {
        assert!(size_of::<F>() == size_of::<*mut c_void>());
        Lazy { name, ptr: AtomicPtr::new(first_call), _fn: PhantomData }
    }

    /// The function to call: the real one, or until resolved the first-call one.
    #[inline(always)]
    pub fn f(&self) -> F {
        let p = self.ptr.load(Ordering::Relaxed);
        // SAFETY: `p` is either `first_call` or what dlsym found for `name`;
        // both have the prototype F (each `lazy_real!` pairs them by hand,
        // with glibc's prototypes), and `new` asserted F is pointer-sized.
        unsafe { std::mem::transmute_copy::<*mut c_void, F>(&p) }
    }

    /// Looks the real function up and keeps it; None when no later object
    /// defines it (the first-call function then fails with ENOSYS).
    pub fn resolve(&self) -> Option<F> {
        // SAFETY: as in `Real::get`.
        let p = unsafe { libc::dlsym(libc::RTLD_NEXT, self.name.as_ptr()) };
        if p.is_null() {
            return None;
        }
        self.ptr.store(p, Ordering::Release);
        // SAFETY: as in `f`.
        Some(unsafe { std::mem::transmute_copy::<*mut c_void, F>(&p) })
    }
}

/// Defines a [`Lazy`] real function with its first-call function.
/// `$fail` is what the call returns (with errno ENOSYS) when libc has no
/// such function.
macro_rules! lazy_real {
    ($name:ident, $sym:expr, fn($($a:ident: $t:ty),*) -> $r:ty, $fail:expr) => {
        pub static $name: Lazy<unsafe extern "C" fn($($t),*) -> $r> = Lazy::new($sym, {
            unsafe extern "C" fn first_call($($a: $t),*) -> $r {
                match $name.resolve() {
                    // SAFETY: the caller's arguments, to the real function of
                    // the same prototype.
                    Some(f) => unsafe { f($($a),*) },
                    None => {
                        set_errno(libc::ENOSYS);
                        $fail
                    }
                }
            }
            first_call as *mut c_void
        });
    };
}

/// A `&'static CStr` of an identifier, checked at compile time.
macro_rules! c_name {
    ($name:ident) => {
        match CStr::from_bytes_with_nul(concat!(stringify!($name), "\0").as_bytes()) {
            Ok(c) => c,
            Err(_) => panic!("a symbol name holds no NUL"),
        }
    };
}

/// The function-pointer type of a row's prototype: variadic when the row
/// has a `; ...` part.
macro_rules! real_fn {
    (($($t:ty),*) ... $vt:ty => $r:ty) => { unsafe extern "C" fn($($t),*, ...) -> $r };
    (($($t:ty),*) => $r:ty) => { unsafe extern "C" fn($($t),*) -> $r };
}

/// The real functions of every row of the entry table (`crate::table`).
macro_rules! real_functions {
    (
        opens { $( $osym:ident: $ov:ident, $ofam:ident, $oreal:ident: fn($($oa:ident: $ot:ty),* $(; ... $ova:ident: $ovt:ty)?) -> $or:ty = $ofail:expr, [$($oshape:tt)*]; )* }
        calls { $( $sym:ident: $v:ident, $fam:ident, $real:ident: fn($($a:ident: $t:ty),*) -> $r:ty = $fail:expr, [$($shape:tt)*]; )* }
        helpers { $( $hsym:ident: $hreal:ident: fn($($ha:ident: $ht:ty),*) -> $hr:ty = $hfail:expr, [$($hshape:tt)*]; )* }
    ) => {
        $( pub static $oreal: Real<real_fn!(($($ot),*) $(... $ovt)? => $or)> = Real::new(c_name!($osym)); )*
        $( lazy_real!($real, c_name!($sym), fn($($a: $t),*) -> $r, $fail); )*
        $( lazy_real!($hreal, c_name!($hsym), fn($($ha: $ht),*) -> $hr, $hfail); )*

        /// Resolves every real function up front, so hooks never call dlsym
        /// (which may allocate) on the hot path or in a signal handler.
        pub fn resolve_all() {
            $( $oreal.get(); )*
            $( $real.resolve(); )*
            $( $hreal.resolve(); )*
        }
    };
}

entry_table!(real_functions);

// ---------------------------------------------------------------------------
// Small helpers over raw pointers and errno.

/// # Safety
/// `p` is NULL or points to a NUL-terminated string that outlives `'a`.
#[inline(always)]
pub unsafe fn c_bytes<'a>(p: *const c_char) -> Option<&'a [u8]> {
    if p.is_null() {
        None
    } else {
        // SAFETY: non-null, and the caller promises NUL termination.
        Some(unsafe { CStr::from_ptr(p) }.to_bytes())
    }
}

#[inline(always)]
pub fn set_errno(errno: c_int) {
    // SAFETY: __errno_location always returns this thread's valid errno slot.
    unsafe { *libc::__errno_location() = errno };
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
/// Returns whether the whole line was written.
pub fn write_stderr(bytes: &[u8]) -> bool {
    if !STDERR_KNOWN.load(Ordering::Acquire) {
        return false;
    }
    // SAFETY: reading this thread's errno slot.
    let saved = unsafe { *libc::__errno_location() };
    let known = (STDERR_DEV.load(Ordering::Relaxed), STDERR_INO.load(Ordering::Relaxed));
    let mut written = false;
    if fd2_identity() == Some(known) {
        // SAFETY: `bytes` is a valid buffer of `bytes.len()` bytes.
        let n = unsafe { REAL_WRITE.f()(2, bytes.as_ptr().cast(), bytes.len()) };
        written = n == bytes.len() as isize;
    }
    set_errno(saved);
    written
}

/// Appends `bytes` to the file `path_nul` (NUL-terminated) in one O_APPEND
/// write, so lines from many threads and processes never interleave. Opens
/// through the raw syscall so that our own hook never sees it.
pub fn append_file(path_nul: &[u8], bytes: &[u8]) -> Result<(), i32> {
    debug_assert_eq!(path_nul.last(), Some(&0));
    let flags = libc::O_WRONLY | libc::O_APPEND | libc::O_CREAT | libc::O_CLOEXEC | libc::O_NOCTTY;
    // SAFETY: `path_nul` is NUL-terminated (Config keeps it so); openat
    // reads it and returns a new fd or -1.
    let fd = unsafe {
        REAL_SYSCALL.f()(libc::SYS_openat, libc::AT_FDCWD as c_long, path_nul.as_ptr() as c_long, flags as c_long, 0o644, 0, 0)
    } as c_int;
    if fd < 0 {
        // SAFETY: reading this thread's errno slot.
        return Err(unsafe { *libc::__errno_location() });
    }
    let mut result = Ok(());
    if !bytes.is_empty() {
        // SAFETY: `fd` is the file we just opened; `bytes` is a valid buffer.
        let n = unsafe { REAL_WRITE.f()(fd, bytes.as_ptr().cast(), bytes.len()) };
        if n < 0 {
            // SAFETY: reading this thread's errno slot.
            result = Err(unsafe { *libc::__errno_location() });
        }
    }
    // SAFETY: closing the fd we opened above, exactly once.
    unsafe { REAL_CLOSE.f()(fd) };
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
    let mut link = *b"/proc/self/fd/\0\0\0\0\0\0\0\0\0\0\0\0";
    let mut digits = [0u8; 10];
    let mut n = 0;
    let mut v = fd as u32;
    loop {
        digits[n] = b'0' + (v % 10) as u8;
        n += 1;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    for (i, d) in digits[..n].iter().rev().enumerate() {
        link[14 + i] = *d;
    }
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
    unsafe { REAL_SYSCALL.f()(libc::SYS_gettid, 0, 0, 0, 0, 0, 0) }
}

/// Wall-clock time in nanoseconds since the Unix epoch.
pub fn now_ns() -> u128 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid timespec to write into.
    unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut ts) };
    ts.tv_sec as u128 * 1_000_000_000 + ts.tv_nsec as u128
}

/// This thread's errno.
pub fn errno() -> c_int {
    // SAFETY: reading this thread's errno slot.
    unsafe { *libc::__errno_location() }
}

/// Sleeps `ns` nanoseconds, going on after a signal handler ran; leaves
/// errno as it found it. nanosleep is async-signal-safe.
pub fn sleep_ns(ns: u64) {
    let saved = errno();
    let mut req = libc::timespec { tv_sec: (ns / 1_000_000_000) as libc::time_t, tv_nsec: (ns % 1_000_000_000) as _ };
    loop {
        let mut rem = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: both are valid timespecs; nanosleep writes only `rem`.
        if unsafe { libc::nanosleep(&req, &mut rem) } == 0 || errno() != libc::EINTR {
            break;
        }
        req = rem;
    }
    set_errno(saved);
}

/// The descriptor under a stream, or -1 for NULL.
pub fn fileno(f: *mut FILE) -> c_int {
    if f.is_null() {
        return -1;
    }
    // SAFETY: `f` is a non-null stream the caller got from libc.
    unsafe { libc::fileno(f) }
}

/// A descriptor's open(2) flags (F_GETFL), or None.
pub fn fd_flags(fd: c_int) -> Option<c_int> {
    // SAFETY: F_GETFL takes no argument and only reads the descriptor's flags.
    let r = unsafe { REAL_FCNTL.f()(fd, libc::F_GETFL, std::ptr::null_mut()) };
    (r >= 0).then_some(r)
}

/// Dies of SIGKILL now (crash-before, crash-after): no exit handler runs,
/// no stdio buffer is flushed, as when the power goes or the OOM killer
/// strikes. What the process wrote with write(2) is in the page cache.
/// `group`: its whole process group dies with it (as every process does
/// in a power cut).
pub fn crash(group: bool) -> ! {
    // SAFETY: kill and pause have no memory preconditions; SIGKILL cannot
    // be caught, blocked or ignored, so the process ends here.
    unsafe {
        libc::kill(if group { 0 } else { libc::getpid() }, libc::SIGKILL);
        libc::kill(libc::getpid(), libc::SIGKILL);
        loop {
            libc::pause();
        }
    }
}

mod files;
pub use files::*;
