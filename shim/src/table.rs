//! The one table of the shim's entry points, as libfiu's `posix.io.mod`
//! declares its wrappers: each row names the exported symbol, the `Entry`
//! variant it reports as, its family, its real function's static and
//! prototype, what it returns (errno ENOSYS) when libc lacks it, and the
//! shape of its export: which shared body handles it. Each entry point is
//! written here once; three generators read the table
//! (`entry_table!(gen)` hands the whole table to the macro `gen`):
//! - `entry_enum` (lib.rs): the `Entry` enum, its names and families;
//! - `real_functions` (sys/mod.rs): the real functions, found with
//!   `dlsym(RTLD_NEXT)`, and `resolve_all`;
//! - `exports` (hooks/shapes.rs, expanded in hooks/mod.rs): every exported
//!   function, by its shape:
//!   - `[open BODY]`: an open; disarmed, one load and a jump to the real
//!     function, else the open-like body `BODY` (`hooks/open.rs`);
//!   - `[mkstemp FLAGS]`: an open of the template's path, for writing;
//!   - `[write buf VREAL]`, `[read buf VREAL]`: a write or read of one
//!     buffer (its vectored twin `VREAL` writes a cut or spliced copy);
//!     `[write vec]`, `[read vec]`: of an iovec array; `off` after either
//!     names the call's file offset;
//!   - `[sync]`: a sync of a descriptor (journaled, a directory's too);
//!   - `[fd]`: a call on a descriptor that fails whole (`-1`, errno);
//!     `[fd errno]`: the same for a function that returns the errno;
//!   - `[close]`: a close (closed, then the error);
//!   - `[path]` / `[path at]`: a call on one path (after a dirfd);
//!   - `[rename]` / `[rename at]`: a call on two paths, matching if either does;
//!   - `[dup]`, `[fcntl]`: copies of a descriptor, which copy its mark;
//!   - `[own MODULE]`: written by hand in `hooks/MODULE.rs` (the three
//!     helpers of a kind of their own); the generator checks that its
//!     prototype is the row's.
//!
//! A variadic function's variadic part follows `; ...` in its prototype:
//! the real function is declared variadic, and the export takes that part
//! as a fixed last parameter (see `hooks/mod.rs`).
//!
//! The opens' real functions are `Real` (a null check, so the disarmed
//! fast path can tell "resolved" with one load; their bodies return the
//! failure value with ENOSYS when it is missing); the rest are `Lazy` (one
//! load and a jump; a first-call function resolves them, or returns the
//! failure value). `helpers` are
//! hooked or used, never counted. Adding an entry point of a known shape
//! is one row here.

macro_rules! entry_table {
    ($gen:ident) => {
        $gen! {
            opens {
                open: Open, Open, REAL_OPEN: fn(path: *const c_char, flags: c_int; ... mode: mode_t) -> c_int = -1, [open open_like];
                open64: Open64, Open, REAL_OPEN64: fn(path: *const c_char, flags: c_int; ... mode: mode_t) -> c_int = -1, [open open_like];
                openat: Openat, Open, REAL_OPENAT: fn(dirfd: c_int, path: *const c_char, flags: c_int; ... mode: mode_t) -> c_int = -1, [open openat_like];
                openat64: Openat64, Open, REAL_OPENAT64: fn(dirfd: c_int, path: *const c_char, flags: c_int; ... mode: mode_t) -> c_int = -1, [open openat_like];
                __open_2: Open2, Open, REAL_OPEN_2: fn(path: *const c_char, flags: c_int) -> c_int = -1, [open open2_like];
                __open64_2: Open64_2, Open, REAL_OPEN64_2: fn(path: *const c_char, flags: c_int) -> c_int = -1, [open open2_like];
                __openat_2: Openat2, Open, REAL_OPENAT_2: fn(dirfd: c_int, path: *const c_char, flags: c_int) -> c_int = -1, [open openat2_like];
                __openat64_2: Openat64_2, Open, REAL_OPENAT64_2: fn(dirfd: c_int, path: *const c_char, flags: c_int) -> c_int = -1, [open openat2_like];
                creat: Creat, Open, REAL_CREAT: fn(path: *const c_char, mode: mode_t) -> c_int = -1, [open creat_like];
                creat64: Creat64, Open, REAL_CREAT64: fn(path: *const c_char, mode: mode_t) -> c_int = -1, [open creat_like];
                fopen: Fopen, Open, REAL_FOPEN: fn(path: *const c_char, mode: *const c_char) -> *mut FILE = std::ptr::null_mut(), [open fopen_like];
                fopen64: Fopen64, Open, REAL_FOPEN64: fn(path: *const c_char, mode: *const c_char) -> *mut FILE = std::ptr::null_mut(), [open fopen_like];
                freopen: Freopen, Open, REAL_FREOPEN: fn(path: *const c_char, mode: *const c_char, stream: *mut FILE) -> *mut FILE = std::ptr::null_mut(), [open freopen_like];
                freopen64: Freopen64, Open, REAL_FREOPEN64: fn(path: *const c_char, mode: *const c_char, stream: *mut FILE) -> *mut FILE = std::ptr::null_mut(), [open freopen_like];
            }
            calls {
                mkstemp: Mkstemp, Open, REAL_MKSTEMP: fn(t: *mut c_char) -> c_int = -1, [mkstemp 0];
                mkstemp64: Mkstemp64, Open, REAL_MKSTEMP64: fn(t: *mut c_char) -> c_int = -1, [mkstemp 0];
                mkostemp: Mkostemp, Open, REAL_MKOSTEMP: fn(t: *mut c_char, flags: c_int) -> c_int = -1, [mkstemp flags];
                mkostemp64: Mkostemp64, Open, REAL_MKOSTEMP64: fn(t: *mut c_char, flags: c_int) -> c_int = -1, [mkstemp flags];
                mkstemps: Mkstemps, Open, REAL_MKSTEMPS: fn(t: *mut c_char, suffix: c_int) -> c_int = -1, [mkstemp 0];
                mkstemps64: Mkstemps64, Open, REAL_MKSTEMPS64: fn(t: *mut c_char, suffix: c_int) -> c_int = -1, [mkstemp 0];
                mkostemps: Mkostemps, Open, REAL_MKOSTEMPS: fn(t: *mut c_char, suffix: c_int, flags: c_int) -> c_int = -1, [mkstemp flags];
                mkostemps64: Mkostemps64, Open, REAL_MKOSTEMPS64: fn(t: *mut c_char, suffix: c_int, flags: c_int) -> c_int = -1, [mkstemp flags];
                write: Write, Write, REAL_WRITE: fn(fd: c_int, buf: *const c_void, n: size_t) -> ssize_t = -1, [write buf REAL_WRITEV];
                pwrite: Pwrite, Write, REAL_PWRITE: fn(fd: c_int, buf: *const c_void, n: size_t, off: off_t) -> ssize_t = -1, [write buf REAL_PWRITEV64 off];
                pwrite64: Pwrite64, Write, REAL_PWRITE64: fn(fd: c_int, buf: *const c_void, n: size_t, off: off64_t) -> ssize_t = -1, [write buf REAL_PWRITEV64 off];
                writev: Writev, Write, REAL_WRITEV: fn(fd: c_int, iov: *const iovec, cnt: c_int) -> ssize_t = -1, [write vec];
                pwritev: Pwritev, Write, REAL_PWRITEV: fn(fd: c_int, iov: *const iovec, cnt: c_int, off: off_t) -> ssize_t = -1, [write vec off];
                pwritev64: Pwritev64, Write, REAL_PWRITEV64: fn(fd: c_int, iov: *const iovec, cnt: c_int, off: off64_t) -> ssize_t = -1, [write vec off];
                pwritev2: Pwritev2, Write, REAL_PWRITEV2: fn(fd: c_int, iov: *const iovec, cnt: c_int, off: off_t, flags: c_int) -> ssize_t = -1, [write vec off];
                pwritev64v2: Pwritev64v2, Write, REAL_PWRITEV64V2: fn(fd: c_int, iov: *const iovec, cnt: c_int, off: off64_t, flags: c_int) -> ssize_t = -1, [write vec off];
                fsync: Fsync, Sync, REAL_FSYNC: fn(fd: c_int) -> c_int = -1, [sync];
                fdatasync: Fdatasync, Sync, REAL_FDATASYNC: fn(fd: c_int) -> c_int = -1, [sync];
                sync_file_range: SyncFileRange, Sync, REAL_SYNC_FILE_RANGE: fn(fd: c_int, off: off64_t, n: off64_t, flags: c_uint) -> c_int = -1, [sync];
                close: Close, Close, REAL_CLOSE: fn(fd: c_int) -> c_int = -1, [close];
                rename: Rename, Rename, REAL_RENAME: fn(old: *const c_char, new: *const c_char) -> c_int = -1, [rename];
                renameat: Renameat, Rename, REAL_RENAMEAT: fn(od: c_int, old: *const c_char, nd: c_int, new: *const c_char) -> c_int = -1, [rename at];
                renameat2: Renameat2, Rename, REAL_RENAMEAT2: fn(od: c_int, old: *const c_char, nd: c_int, new: *const c_char, flags: c_uint) -> c_int = -1, [rename at];
                truncate: Truncate, Truncate, REAL_TRUNCATE: fn(path: *const c_char, len: off_t) -> c_int = -1, [path];
                truncate64: Truncate64, Truncate, REAL_TRUNCATE64: fn(path: *const c_char, len: off64_t) -> c_int = -1, [path];
                ftruncate: Ftruncate, Truncate, REAL_FTRUNCATE: fn(fd: c_int, len: off_t) -> c_int = -1, [fd];
                ftruncate64: Ftruncate64, Truncate, REAL_FTRUNCATE64: fn(fd: c_int, len: off64_t) -> c_int = -1, [fd];
                fallocate: Fallocate, Truncate, REAL_FALLOCATE: fn(fd: c_int, mode: c_int, off: off_t, len: off_t) -> c_int = -1, [fd];
                fallocate64: Fallocate64, Truncate, REAL_FALLOCATE64: fn(fd: c_int, mode: c_int, off: off64_t, len: off64_t) -> c_int = -1, [fd];
                posix_fallocate: PosixFallocate, Truncate, REAL_POSIX_FALLOCATE: fn(fd: c_int, off: off_t, len: off_t) -> c_int = libc::ENOSYS, [fd errno];
                posix_fallocate64: PosixFallocate64, Truncate, REAL_POSIX_FALLOCATE64: fn(fd: c_int, off: off64_t, len: off64_t) -> c_int = libc::ENOSYS, [fd errno];
                mkdir: Mkdir, Mkdir, REAL_MKDIR: fn(path: *const c_char, mode: mode_t) -> c_int = -1, [path];
                mkdirat: Mkdirat, Mkdir, REAL_MKDIRAT: fn(dirfd: c_int, path: *const c_char, mode: mode_t) -> c_int = -1, [path at];
                unlink: Unlink, Unlink, REAL_UNLINK: fn(path: *const c_char) -> c_int = -1, [path];
                unlinkat: Unlinkat, Unlink, REAL_UNLINKAT: fn(dirfd: c_int, path: *const c_char, flags: c_int) -> c_int = -1, [path at];
                rmdir: Rmdir, Unlink, REAL_RMDIR: fn(path: *const c_char) -> c_int = -1, [path];
                read: Read, Read, REAL_READ: fn(fd: c_int, buf: *mut c_void, n: size_t) -> ssize_t = -1, [read buf REAL_READV];
                pread: Pread, Read, REAL_PREAD: fn(fd: c_int, buf: *mut c_void, n: size_t, off: off_t) -> ssize_t = -1, [read buf REAL_PREADV64 off];
                pread64: Pread64, Read, REAL_PREAD64: fn(fd: c_int, buf: *mut c_void, n: size_t, off: off64_t) -> ssize_t = -1, [read buf REAL_PREADV64 off];
                readv: Readv, Read, REAL_READV: fn(fd: c_int, iov: *const iovec, cnt: c_int) -> ssize_t = -1, [read vec];
                preadv: Preadv, Read, REAL_PREADV: fn(fd: c_int, iov: *const iovec, cnt: c_int, off: off_t) -> ssize_t = -1, [read vec];
                preadv64: Preadv64, Read, REAL_PREADV64: fn(fd: c_int, iov: *const iovec, cnt: c_int, off: off64_t) -> ssize_t = -1, [read vec];
                preadv2: Preadv2, Read, REAL_PREADV2: fn(fd: c_int, iov: *const iovec, cnt: c_int, off: off_t, flags: c_int) -> ssize_t = -1, [read vec];
                preadv64v2: Preadv64v2, Read, REAL_PREADV64V2: fn(fd: c_int, iov: *const iovec, cnt: c_int, off: off64_t, flags: c_int) -> ssize_t = -1, [read vec];
            }
            helpers {
                fclose: REAL_FCLOSE: fn(stream: *mut FILE) -> c_int = libc::EOF, [own descriptors];
                close_range: REAL_CLOSE_RANGE: fn(lo: c_uint, hi: c_uint, flags: c_int) -> c_int = -1, [own descriptors];
                dup: REAL_DUP: fn(fd: c_int) -> c_int = -1, [dup];
                dup2: REAL_DUP2: fn(fd: c_int, to: c_int) -> c_int = -1, [dup];
                dup3: REAL_DUP3: fn(fd: c_int, to: c_int, flags: c_int) -> c_int = -1, [dup];
                // fcntl and syscall are variadic; their hooks take the variadic part
                // as fixed pointer-sized arguments (see `hooks/mod.rs`) and pass them
                // on as such, which the x86-64 and AArch64 Linux conventions make
                // equivalent.
                fcntl: REAL_FCNTL: fn(fd: c_int, cmd: c_int, arg: *mut c_void) -> c_int = -1, [fcntl];
                fcntl64: REAL_FCNTL64: fn(fd: c_int, cmd: c_int, arg: *mut c_void) -> c_int = -1, [fcntl];
                syscall: REAL_SYSCALL: fn(n: c_long, a: c_long, b: c_long, c: c_long, d: c_long, e: c_long, f: c_long) -> c_long = -1, [own descriptors];
            }
        }
    };
}
