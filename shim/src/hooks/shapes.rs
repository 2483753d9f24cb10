//! The shapes of the exports: `exports!` turns every row of the entry
//! table (`crate::table`) into its exported function, by the row's shape,
//! with `export!`. Expanded in `hooks/mod.rs`, whose helpers and shared
//! bodies (`open.rs`, `write.rs`, `read.rs`, `path.rs`, `descriptors.rs`)
//! the shapes call.

macro_rules! exports {
    (
        opens { $( $osym:ident: $ov:ident, $ofam:ident, $oreal:ident: fn($($oa:ident: $ot:ty),* $(; ... $ova:ident: $ovt:ty)?) -> $or:ty = $ofail:expr, [$($oshape:tt)*]; )* }
        calls { $( $sym:ident: $v:ident, $fam:ident, $real:ident: fn($($a:ident: $t:ty),*) -> $r:ty = $fail:expr, [$($shape:tt)*]; )* }
        helpers { $( $hsym:ident: $hreal:ident: fn($($ha:ident: $ht:ty),*) -> $hr:ty = $hfail:expr, [$($hshape:tt)*]; )* }
    ) => {
        $( export!([$($oshape)*] $osym, $ov, $oreal, ($($oa: $ot),* $(, $ova: $ovt)?) -> $or); )*
        $( export!([$($shape)*] $sym, $v, $real, ($($a: $t),*) -> $r); )*
        $( export!([$($hshape)*] $hsym, -, $hreal, ($($ha: $ht),*) -> $hr); )*
    };
}

/// `Some(offset)` when the row names its offset argument, else `None`.
macro_rules! offset {
    () => {
        None
    };
    ($off:ident) => {
        Some($off as i64)
    };
}

/// One export, by its shape (see `crate::table`): `$v` is its `Entry`
/// variant (`-` for a helper), `$real` its real function.
macro_rules! export {
    // An open: disarmed, one load and a jump to the real function; else
    // the open-like body, which takes the same arguments.
    ([open $body:ident] $sym:ident, $v:ident, $real:ident, ($($a:ident: $t:ty),*) -> $r:ty) => {
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn $sym($($a: $t),*) -> $r {
            if let Some(f) = fast(&$real) {
                // SAFETY: the caller's arguments to the real function (an
                // absent variadic `mode` is a register the callee ignores).
                return unsafe { f($($a),*) };
            }
            // SAFETY: our caller's arguments, passed on as received.
            unsafe { open::$body(&$real, Entry::$v, $($a),*) }
        }
    };
    // An open of the template's path for writing, with the caller's extra flags.
    ([mkstemp $flags:tt] $sym:ident, $v:ident, $real:ident, (t: $tt:ty $(, $a:ident: $t:ty)*) -> $r:ty) => {
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn $sym(t: $tt $(, $a: $t)*) -> $r {
            if crate::is_off() {
                // SAFETY: the caller's arguments to the real function.
                return unsafe { $real.f()(t $(, $a)*) };
            }
            // SAFETY: the caller's arguments, passed on as received.
            unsafe { mkstemp_like(Entry::$v, t, $flags, || $real.f()(t $(, $a)*)) }
        }
    };
    // The calls on a descriptor the shim may track (writes, reads): the
    // export checks the descriptor's mark and jumps to the real function;
    // a marked one goes to a slow path of its own, an `extern "C"`
    // function, which Rust takes as never unwinding: so the export needs
    // no frame (no landing pad) and reaches it, like the real function,
    // with a jump. An untracked `write` is 7 instructions: zero-extend,
    // address, load, test, branch, load, jump.
    (@tracked $fd:ident, $sym:ident, $real:ident, ($($a:ident: $t:ty),*) -> $r:ty, $slow:expr) => {
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn $sym($($a: $t),*) -> $r {
            #[cold]
            #[inline(never)]
            unsafe extern "C" fn slow($($a: $t),*) -> $r {
                if !fds::marked($fd) {
                    // Only shared a slot with a tracked descriptor (see `fds::maybe_marked`).
                    // SAFETY: the caller's arguments to the real function.
                    return unsafe { $real.f()($($a),*) };
                }
                $slow
            }
            if fds::maybe_marked($fd) {
                // SAFETY: our caller's arguments, passed on.
                return unsafe { slow($($a),*) };
            }
            // SAFETY: the caller's arguments to the real function.
            unsafe { $real.f()($($a),*) }
        }
    };
    // A write of one buffer: one iovec entry; `$vreal`, its vectored twin,
    // writes a cut or spliced copy (at the same offset).
    ([write buf $vreal:ident $($off:ident)?] $sym:ident, $v:ident, $real:ident,
     (fd: $ft:ty, buf: $bt:ty, n: $nt:ty $(, $a:ident: $t:ty)*) -> $r:ty) => {
        export!(@tracked fd, $sym, $real, (fd: $ft, buf: $bt, n: $nt $(, $a: $t)*) -> $r, {
            let one = [iovec { iov_base: buf.cast_mut(), iov_len: n }];
            // SAFETY: the caller's buffer, of which the real write reads `n` bytes.
            unsafe {
                write::write_tracked(Entry::$v, fd, &one, offset!($($off)?), || $real.f()(fd, buf, n $(, $a)*), |v, c| {
                    $vreal.f()(fd, v, c $(, $off as off64_t)?)
                })
            }
        });
    };
    // A write of the caller's iovec array.
    ([write vec $($off:ident)?] $sym:ident, $v:ident, $real:ident,
     (fd: $ft:ty, iov: $it:ty, cnt: $ct:ty $(, $a:ident: $t:ty)*) -> $r:ty) => {
        export!(@tracked fd, $sym, $real, (fd: $ft, iov: $it, cnt: $ct $(, $a: $t)*) -> $r, {
            // SAFETY: the caller's arguments, passed on.
            unsafe { write::writev_tracked(Entry::$v, fd, iov, cnt, offset!($($off)?), |v, c| $real.f()(fd, v, c $(, $a)*)) }
        });
    };
    // A read into one buffer; `$vreal` as for a write.
    ([read buf $vreal:ident $($off:ident)?] $sym:ident, $v:ident, $real:ident,
     (fd: $ft:ty, buf: $bt:ty, n: $nt:ty $(, $a:ident: $t:ty)*) -> $r:ty) => {
        export!(@tracked fd, $sym, $real, (fd: $ft, buf: $bt, n: $nt $(, $a: $t)*) -> $r, {
            let one = [iovec { iov_base: buf, iov_len: n }];
            // SAFETY: the caller's buffer, which its read fills.
            unsafe {
                read::read_tracked(Entry::$v, fd, &one, || $real.f()(fd, buf, n $(, $a)*), |v, c| {
                    $vreal.f()(fd, v, c $(, $off as off64_t)?)
                })
            }
        });
    };
    // A read into the caller's iovec array.
    ([read vec] $sym:ident, $v:ident, $real:ident, (fd: $ft:ty, iov: $it:ty, cnt: $ct:ty $(, $a:ident: $t:ty)*) -> $r:ty) => {
        export!(@tracked fd, $sym, $real, (fd: $ft, iov: $it, cnt: $ct $(, $a: $t)*) -> $r, {
            // SAFETY: the caller's array, as readv takes it.
            match unsafe { read::entries(iov, cnt) } {
                // SAFETY: the caller's entries, which its read fills.
                Some(e) => unsafe {
                    read::read_tracked(Entry::$v, fd, e, || $real.f()(fd, iov, cnt $(, $a)*), |w, c| $real.f()(fd, w, c $(, $a)*))
                },
                // SAFETY: the caller's arguments to the real function.
                None => unsafe { $real.f()(fd, iov, cnt $(, $a)*) },
            }
        });
    };
    // A close: decided, then closed, then the error (`descriptors.rs`).
    ([close] $sym:ident, $v:ident, $real:ident, (fd: $ft:ty) -> $r:ty) => {
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn $sym(fd: $ft) -> $r {
            if fds::maybe_marked(fd) {
                return descriptors::close_tracked(fd);
            }
            // SAFETY: the caller's argument to the real function.
            unsafe { $real.f()(fd) }
        }
    };
    // A sync: tracked, decided and acted out; journaled when it returned
    // 0 (a directory's sync too, which is never tracked).
    ([sync] $sym:ident, $v:ident, $real:ident, (fd: $ft:ty $(, $a:ident: $t:ty)*) -> $r:ty) => {
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn $sym(fd: $ft $(, $a: $t)*) -> $r {
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
    ([fd] $sym:ident, $v:ident, $real:ident, (fd: $ft:ty $(, $a:ident: $t:ty)*) -> $r:ty) => {
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn $sym(fd: $ft $(, $a: $t)*) -> $r {
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
    ([fd errno] $sym:ident, $v:ident, $real:ident, (fd: $ft:ty $(, $a:ident: $t:ty)*) -> $r:ty) => {
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn $sym(fd: $ft $(, $a: $t)*) -> $r {
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
    ([path] $sym:ident, $v:ident, $real:ident, (path: $pt:ty $(, $a:ident: $t:ty)*) -> $r:ty) => {
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn $sym(path: $pt $(, $a: $t)*) -> $r {
            // SAFETY: the caller passes NULL or a NUL-terminated path.
            let action = unsafe { path::path_action(Entry::$v, Dir::Cwd, path) };
            // SAFETY: the caller's arguments to the real function.
            acted(action, fail_fd, 0, || unsafe { $real.f()(path $(, $a)*) })
        }
    };
    ([path at] $sym:ident, $v:ident, $real:ident, (dirfd: $dt:ty, path: $pt:ty $(, $a:ident: $t:ty)*) -> $r:ty) => {
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn $sym(dirfd: $dt, path: $pt $(, $a: $t)*) -> $r {
            // SAFETY: the caller passes NULL or a NUL-terminated path.
            let action = unsafe { path::path_action(Entry::$v, dir_of(dirfd), path) };
            // SAFETY: the caller's arguments to the real function.
            acted(action, fail_fd, 0, || unsafe { $real.f()(dirfd, path $(, $a)*) })
        }
    };
    // A rename matches when either path does.
    ([rename] $sym:ident, $v:ident, $real:ident, (old: $ot:ty, new: $nt:ty) -> $r:ty) => {
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn $sym(old: $ot, new: $nt) -> $r {
            // SAFETY: the caller passes NULL or NUL-terminated paths.
            let action = unsafe { path::rename_action(Entry::$v, Dir::Cwd, old, Dir::Cwd, new) };
            // SAFETY: the caller's arguments to the real function.
            acted(action, fail_fd, 0, || unsafe { $real.f()(old, new) })
        }
    };
    ([rename at] $sym:ident, $v:ident, $real:ident, (od: $odt:ty, old: $ot:ty, nd: $ndt:ty, new: $nt:ty $(, $a:ident: $t:ty)*) -> $r:ty) => {
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn $sym(od: $odt, old: $ot, nd: $ndt, new: $nt $(, $a: $t)*) -> $r {
            // SAFETY: the caller passes NULL or NUL-terminated paths.
            let action = unsafe { path::rename_action(Entry::$v, dir_of(od), old, dir_of(nd), new) };
            // SAFETY: the caller's arguments to the real function.
            acted(action, fail_fd, 0, || unsafe { $real.f()(od, old, nd, new $(, $a)*) })
        }
    };
    // A copy of a descriptor (dup, dup2, dup3): the copy gets its mark.
    ([dup] $sym:ident, -, $real:ident, (fd: $ft:ty $(, $a:ident: $t:ty)*) -> $r:ty) => {
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn $sym(fd: $ft $(, $a: $t)*) -> $r {
            // SAFETY: the caller's arguments to the real function.
            let new = unsafe { $real.f()(fd $(, $a)*) };
            crate::after_dup(fd, new);
            new
        }
    };
    // fcntl: F_DUPFD copies a descriptor (see the note on variadic
    // functions at the top).
    ([fcntl] $sym:ident, -, $real:ident, (fd: $ft:ty, cmd: $ct:ty, arg: $at:ty) -> $r:ty) => {
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn $sym(fd: $ft, cmd: $ct, arg: $at) -> $r {
            // SAFETY: the caller's arguments to the real function.
            let r = unsafe { $real.f()(fd, cmd, arg) };
            if cmd == libc::F_DUPFD || cmd == libc::F_DUPFD_CLOEXEC {
                crate::after_dup(fd, r);
            }
            r
        }
    };
    // Written by hand in `$module`: only its prototype is checked here.
    ([own $module:ident] $sym:ident, $v:tt, $real:ident, ($($a:ident: $t:ty),*) -> $r:ty) => {
        const _: unsafe extern "C" fn($($t),*) -> $r = $module::$sym;
    };
}
