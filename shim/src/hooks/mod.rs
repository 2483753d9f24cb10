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

use std::ffi::{c_char, c_int, c_uint};

use libc::{mode_t, off64_t, off_t, FILE};

use crate::fds;
use crate::matcher::Intent;
use crate::sys::{self, absolute_without, c_bytes, set_errno, Real, *};
use crate::{check, Action, Dir, Entry, Verdict};

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
// The exports of the regular shapes, generated from the entry table
// (`crate::table`); the `[own]` ones are in this folder's other files.

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

macro_rules! exports {
    (
        opens { $( $osym:ident: $ov:ident, $oreal:ident: $oty:ty; )* }
        calls { $( $sym:ident: $v:ident, $fam:ident, $real:ident: fn($($a:ident: $t:ty),*) -> $r:ty = $fail:expr, [$($shape:tt)*]; )* }
        helpers { $( $hsym:ident: $hreal:ident: fn($($ha:ident: $ht:ty),*) -> $hr:ty = $hfail:expr; )* }
    ) => {
        $( export!([$($shape)*] $sym, $v, $real, ($($a: $t),*)); )*
    };
}

/// One export, by its shape (see `crate::table`).
macro_rules! export {
    ([own] $($rest:tt)*) => {};
    // A sync: tracked, decided and acted out; journaled when it returned
    // 0 (a directory's sync too, which is never tracked).
    ([sync] $sym:ident, $v:ident, $real:ident, (fd: $ft:ty $(, $a:ident: $t:ty)*)) => {
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn $sym(fd: $ft $(, $a: $t)*) -> c_int {
            if !fds::marked(fd) && !crate::journal::on() {
                // SAFETY: the caller's arguments to the real function.
                return unsafe { $real.f()(fd $(, $a)*) };
            }
            let action = if fds::marked(fd) { crate::check_fd_call(Entry::$v, fd) } else { Action::Pass };
            // SAFETY: the caller's arguments to the real function.
            acted(action, fail_fd, 0, || {
                let r = unsafe { $real.f()(fd $(, $a)*) };
                if r == 0 {
                    crate::journal::after_sync(Entry::$v, fd);
                }
                r
            })
        }
    };
    // A call on a descriptor: tracked, decided and acted out (failing: -1
    // with errno set).
    ([fd] $sym:ident, $v:ident, $real:ident, (fd: $ft:ty $(, $a:ident: $t:ty)*)) => {
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn $sym(fd: $ft $(, $a: $t)*) -> c_int {
            if fds::marked(fd) {
                crate::journal::before_fd_call(Entry::$v, fd);
                let action = crate::check_fd_call(Entry::$v, fd);
                // SAFETY: the caller's arguments to the real function.
                return acted(action, fail_fd, 0, || unsafe { $real.f()(fd $(, $a)*) });
            }
            // SAFETY: the caller's arguments to the real function.
            unsafe { $real.f()(fd $(, $a)*) }
        }
    };
    // The same for a function that returns the errno (posix_fallocate).
    ([fd errno] $sym:ident, $v:ident, $real:ident, (fd: $ft:ty $(, $a:ident: $t:ty)*)) => {
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn $sym(fd: $ft $(, $a: $t)*) -> c_int {
            if fds::marked(fd) {
                crate::journal::before_fd_call(Entry::$v, fd);
                let action = crate::check_fd_call(Entry::$v, fd);
                // SAFETY: the caller's arguments to the real function.
                return acted(action, |e| e, 0, || unsafe { $real.f()(fd $(, $a)*) });
            }
            // SAFETY: the caller's arguments to the real function.
            unsafe { $real.f()(fd $(, $a)*) }
        }
    };
    ([path] $sym:ident, $v:ident, $real:ident, (path: $pt:ty $(, $a:ident: $t:ty)*)) => {
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn $sym(path: $pt $(, $a: $t)*) -> c_int {
            // SAFETY: the caller passes NULL or a NUL-terminated path.
            let action = unsafe { path::path_action(Entry::$v, Dir::Cwd, path) };
            // SAFETY: the caller's arguments to the real function.
            acted(action, fail_fd, 0, || unsafe { $real.f()(path $(, $a)*) })
        }
    };
    ([path at] $sym:ident, $v:ident, $real:ident, (dirfd: $dt:ty, path: $pt:ty $(, $a:ident: $t:ty)*)) => {
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn $sym(dirfd: $dt, path: $pt $(, $a: $t)*) -> c_int {
            // SAFETY: the caller passes NULL or a NUL-terminated path.
            let action = unsafe { path::path_action(Entry::$v, dir_of(dirfd), path) };
            // SAFETY: the caller's arguments to the real function.
            acted(action, fail_fd, 0, || unsafe { $real.f()(dirfd, path $(, $a)*) })
        }
    };
    // An open of the template's path for writing, with the caller's extra flags.
    ([mkstemp $flags:tt] $sym:ident, $v:ident, $real:ident, (t: $tt:ty $(, $a:ident: $t:ty)*)) => {
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn $sym(t: $tt $(, $a: $t)*) -> c_int {
            if crate::is_off() {
                // SAFETY: the caller's arguments to the real function.
                return unsafe { $real.f()(t $(, $a)*) };
            }
            // SAFETY: the caller's arguments, passed on as received.
            unsafe { mkstemp_like(Entry::$v, t, $flags, || $real.f()(t $(, $a)*)) }
        }
    };
}

entry_table!(exports);
