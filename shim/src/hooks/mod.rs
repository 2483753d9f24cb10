//! The exported libc entry points, and the load/exit hooks: the half of the
//! shim's unsafe code that talks to its callers. Each entry point asks the
//! safe decision code in the crate root whether its call fails, then
//! forwards the caller's arguments untouched to the real function from the
//! table in [`sys`] (the other, leaf, half: it imports nothing from here).
//!
//! Every export is generated here from the entry table ([`crate::table`]),
//! by its shape; the shared bodies the shapes call are in this folder's
//! files (`open.rs`, `write.rs`, `read.rs`, `path.rs`, `descriptors.rs`).
//!
//! The hottest calls (`write`, `read`, `close`, and the rest of the writes
//! and reads) decide with one byte load in the descriptor table
//! ([`crate::fds`]) before jumping to the real function, armed or not;
//! only a descriptor opened on a matching path goes further.

#![allow(non_snake_case, clippy::missing_safety_doc)]

use std::ffi::{c_char, c_int, c_long, c_uint, c_void};

use libc::{iovec, mode_t, off64_t, off_t, size_t, ssize_t, FILE};

use crate::fds;
use crate::matcher::Intent;
use crate::sys::{self, absolute_without, c_bytes, set_errno, Real, *};
use crate::{check, Action, Dir, Entry, Verdict};

#[macro_use]
mod shapes;

mod descriptors;
mod open;
mod path;
mod read;
mod write;

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
    if !crate::passes_through() {
        return None;
    }
    real.resolved()
}


// ---------------------------------------------------------------------------
// Load and exit.

extern "C" fn on_load() {
    sys::resolve_all();
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

/// Acts out a decision around the real call: `failed(errno)` is what a
/// failed call returns, `lie` what a faked one does.
#[inline(always)]
fn acted<R>(action: Action, failed: impl FnOnce(c_int) -> R, lie: R, real: impl FnOnce() -> R) -> R {
    match action {
        Action::Pass => real(),
        Action::Fail(errno) => failed(errno),
        Action::Lie => lie,
        Action::CrashAfter => {
            let _ = real();
            crate::crash()
        }
    }
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


/// Most iovec entries a write or read cut short (by the space budget, or
/// a short read) or spliced (by `corrupt`) passes on: a longer one is cut
/// there, a short write or read.
const MAX_IOV: usize = 64;

const NO_IOV: iovec = iovec { iov_base: std::ptr::null_mut(), iov_len: 0 };

/// The entries that cover the first `bytes` bytes of `iov` (at most
/// `MAX_IOV` of them), and how many there are.
fn first_bytes(iov: &[iovec], bytes: usize) -> ([iovec; MAX_IOV], c_int) {
    let mut cut = [NO_IOV; MAX_IOV];
    let (mut left, mut k) = (bytes, 0);
    for e in iov.iter().take(MAX_IOV) {
        if left == 0 {
            break;
        }
        let take = e.iov_len.min(left);
        cut[k] = iovec { iov_base: e.iov_base, iov_len: take };
        left -= take;
        k += 1;
    }
    (cut, k as c_int)
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
// The exports, generated from the entry table (`crate::table`) by the
// shapes in `shapes.rs`; the three `[own]` ones are in `descriptors.rs`.

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

entry_table!(exports);
