//! The OS calls of the shim's shared and side files: the process tree's
//! shared counters (a memfd), the durability journal's raw reads, writes
//! and links, and the runtime control file's mapping. Raw system calls or
//! the real functions, never our own hooks.

use std::ffi::{c_int, c_long};
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering};

use libc::off_t;

use super::*;

/// Sets an environment variable for this process and what it execs. Only
/// from init (never a hook's hot path): setenv allocates.
pub fn setenv(name: &'static str, value: &[u8]) -> bool {
    let (mut n, mut v) = ([0u8; 64], [0u8; 64]);
    if name.len() >= n.len() || value.len() >= v.len() {
        return false;
    }
    n[..name.len()].copy_from_slice(name.as_bytes());
    v[..value.len()].copy_from_slice(value);
    // SAFETY: both NUL-terminated; setenv copies them.
    unsafe { libc::setenv(n.as_ptr().cast(), v.as_ptr().cast(), 1) == 0 }
}

/// `N` atomic words in memory a process tree shares: a new memfd (left
/// open across exec, so descendants inherit it), sized and mapped shared.
/// Returns the words (all zero) and the (fd, device, inode) that name it.
pub fn tree_create<const N: usize>() -> Option<(&'static [AtomicU64; N], c_int, u64, u64)> {
    // SAFETY: the name is NUL-terminated; no MFD_CLOEXEC on purpose.
    let fd = unsafe { libc::memfd_create(c"blobfail-tree".as_ptr(), 0) };
    if fd < 0 {
        return None;
    }
    let size = size_of::<[AtomicU64; N]>();
    // SAFETY: `fd` is the memfd we just created.
    if unsafe { REAL_FTRUNCATE.f()(fd, size as off_t) } != 0 {
        // SAFETY: closing our own fd once.
        unsafe { REAL_CLOSE.f()(fd) };
        return None;
    }
    let Some((dev, ino)) = identity(fd) else {
        // SAFETY: as above.
        unsafe { REAL_CLOSE.f()(fd) };
        return None;
    };
    let words = map_words::<N>(fd)?;
    Some((words, fd, dev, ino))
}

/// The words of a tree's memfd inherited as `fd`, when it is still that
/// file (same device and inode) and big enough.
pub fn tree_attach<const N: usize>(fd: c_int, dev: u64, ino: u64) -> Option<&'static [AtomicU64; N]> {
    if fd < 0 || identity(fd)? != (dev, ino) {
        return None;
    }
    let mut st = MaybeUninit::<libc::stat>::uninit();
    // SAFETY: fstat fills `st` when it returns 0.
    if unsafe { libc::fstat(fd, st.as_mut_ptr()) } != 0 {
        return None;
    }
    // SAFETY: fstat returned 0.
    let st = unsafe { st.assume_init() };
    if (st.st_size as usize) < size_of::<[AtomicU64; N]>() {
        return None;
    }
    map_words::<N>(fd)
}

fn identity(fd: c_int) -> Option<(u64, u64)> {
    let mut st = MaybeUninit::<libc::stat>::uninit();
    // SAFETY: fstat fills `st` when it returns 0.
    if unsafe { libc::fstat(fd, st.as_mut_ptr()) } != 0 {
        return None;
    }
    // SAFETY: fstat returned 0.
    let st = unsafe { st.assume_init() };
    Some((st.st_dev, st.st_ino))
}

fn map_words<const N: usize>(fd: c_int) -> Option<&'static [AtomicU64; N]> {
    let size = size_of::<[AtomicU64; N]>();
    // SAFETY: a new shared mapping of `size` bytes of `fd`, which is at
    // least that long; the kernel picks the address.
    let p = unsafe {
        libc::mmap(std::ptr::null_mut(), size, libc::PROT_READ | libc::PROT_WRITE, libc::MAP_SHARED, fd, 0)
    };
    if p == libc::MAP_FAILED {
        return None;
    }
    // SAFETY: the mapping is page-aligned (enough for AtomicU64), `size`
    // bytes long, never unmapped (so 'static), and any bit pattern is a
    // valid AtomicU64; every access to it is atomic, which is what makes
    // sharing it between processes sound.
    Some(unsafe { &*(p as *const [AtomicU64; N]) })
}

/// Calls `f` with each descriptor this process has open, read from
/// /proc/self/fd with raw system calls and a stack buffer (no allocation).
pub fn for_each_open_fd(mut f: impl FnMut(c_int)) {
    let flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC;
    // SAFETY: a NUL-terminated path; openat returns a new fd or -1.
    let dir = unsafe {
        REAL_SYSCALL.f()(libc::SYS_openat, libc::AT_FDCWD as c_long, c"/proc/self/fd".as_ptr() as c_long, flags as c_long, 0, 0, 0)
    } as c_int;
    if dir < 0 {
        return;
    }
    let mut buf = [0u64; 512];
    loop {
        // SAFETY: getdents64 writes at most the buffer's size into it and
        // returns how many bytes, 0 at the end, or -1.
        let n = unsafe {
            REAL_SYSCALL.f()(libc::SYS_getdents64, dir as c_long, buf.as_mut_ptr() as c_long, size_of_val(&buf) as c_long, 0, 0, 0)
        };
        if n <= 0 {
            break;
        }
        // SAFETY: the first `n` bytes were written by the kernel.
        let bytes = unsafe { std::slice::from_raw_parts(buf.as_ptr().cast::<u8>(), n as usize) };
        let mut at = 0;
        // struct linux_dirent64: u64 ino, i64 off, u16 reclen, u8 type, name.
        while at + 19 < bytes.len() {
            let reclen = u16::from_ne_bytes([bytes[at + 16], bytes[at + 17]]) as usize;
            if reclen == 0 || at + reclen > bytes.len() {
                break;
            }
            let name = &bytes[at + 19..at + reclen];
            let name = &name[..name.iter().position(|&b| b == 0).unwrap_or(name.len())];
            let mut fd: i64 = 0;
            let numeric = !name.is_empty() && name.iter().all(u8::is_ascii_digit) && name.len() < 10;
            if numeric {
                for d in name {
                    fd = fd * 10 + i64::from(d - b'0');
                }
                if fd as c_int != dir {
                    f(fd as c_int);
                }
            }
            at += reclen;
        }
    }
    // SAFETY: closing the directory we opened, once.
    unsafe { REAL_CLOSE.f()(dir) };
}

// ---------------------------------------------------------------------------
// What the durability journal needs: raw system calls, never our hooks.

/// A file's identity and size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileId {
    pub dev: u64,
    pub ino: u64,
    pub size: i64,
    pub is_dir: bool,
}

fn file_id(st: &libc::stat) -> FileId {
    FileId { dev: st.st_dev, ino: st.st_ino, size: st.st_size, is_dir: st.st_mode & libc::S_IFMT == libc::S_IFDIR }
}

/// fstat of a descriptor.
pub fn fd_id(fd: c_int) -> Option<FileId> {
    let mut st = MaybeUninit::<libc::stat>::uninit();
    // SAFETY: fstat fills `st` when it returns 0.
    if unsafe { libc::fstat(fd, st.as_mut_ptr()) } != 0 {
        return None;
    }
    // SAFETY: fstat returned 0.
    Some(file_id(&unsafe { st.assume_init() }))
}

/// lstat of a NUL-terminated path.
pub fn path_id(path_nul: &[u8]) -> Option<FileId> {
    debug_assert_eq!(path_nul.last(), Some(&0));
    let mut st = MaybeUninit::<libc::stat>::uninit();
    // SAFETY: a NUL-terminated path; lstat fills `st` when it returns 0.
    if unsafe { libc::lstat(path_nul.as_ptr().cast(), st.as_mut_ptr()) } != 0 {
        return None;
    }
    // SAFETY: lstat returned 0.
    Some(file_id(&unsafe { st.assume_init() }))
}

/// A descriptor's file position (lseek SEEK_CUR), or None (a pipe).
pub fn position(fd: c_int) -> Option<i64> {
    // SAFETY: lseek with SEEK_CUR and 0 only reads the position.
    let p = unsafe { libc::lseek64(fd, 0, libc::SEEK_CUR) };
    (p >= 0).then_some(p)
}

/// Opens `path_nul` with `flags` through the raw system call.
pub fn raw_open(path_nul: &[u8], flags: c_int, mode: c_int) -> Option<c_int> {
    debug_assert_eq!(path_nul.last(), Some(&0));
    // SAFETY: a NUL-terminated path; openat returns a new fd or -1.
    let fd = unsafe {
        REAL_SYSCALL.f()(libc::SYS_openat, libc::AT_FDCWD as c_long, path_nul.as_ptr() as c_long, flags as c_long, mode as c_long, 0, 0)
    } as c_int;
    (fd >= 0).then_some(fd)
}

/// A second, read-only descriptor on the file `fd` names (through
/// /proc/self/fd, so a write-only descriptor's file can be read too).
pub fn reopen_for_reading(fd: c_int) -> Option<c_int> {
    let mut link = [0u8; 32];
    let mut w = crate::sys::Cursor { buf: &mut link, len: 0 };
    let _ = core::fmt::Write::write_fmt(&mut w, format_args!("/proc/self/fd/{fd}\0"));
    let n = w.len;
    raw_open(&link[..n], libc::O_RDONLY | libc::O_CLOEXEC, 0)
}

/// A small formatting cursor over a byte array (no allocation).
pub struct Cursor<'a> {
    pub buf: &'a mut [u8],
    pub len: usize,
}

impl core::fmt::Write for Cursor<'_> {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let b = s.as_bytes();
        if self.len + b.len() > self.buf.len() {
            return Err(core::fmt::Error);
        }
        self.buf[self.len..self.len + b.len()].copy_from_slice(b);
        self.len += b.len();
        Ok(())
    }
}

/// pread through the raw system call (never a hook).
pub fn raw_pread(fd: c_int, buf: &mut [u8], off: i64) -> isize {
    // SAFETY: the kernel writes at most `buf.len()` bytes into `buf`.
    unsafe { REAL_SYSCALL.f()(libc::SYS_pread64, fd as c_long, buf.as_mut_ptr() as c_long, buf.len() as c_long, off as c_long, 0, 0) as isize }
}

/// read through the raw system call (never a hook).
pub fn raw_read(fd: c_int, buf: &mut [u8]) -> isize {
    // SAFETY: the kernel writes at most `buf.len()` bytes into `buf`.
    unsafe { REAL_SYSCALL.f()(libc::SYS_read, fd as c_long, buf.as_mut_ptr() as c_long, buf.len() as c_long, 0, 0, 0) as isize }
}

/// write(2) of all of `bytes` to our own descriptor, through the real write.
pub fn write_all(fd: c_int, mut bytes: &[u8]) -> bool {
    while !bytes.is_empty() {
        // SAFETY: `bytes` is a valid buffer; `fd` is ours.
        let n = unsafe { REAL_WRITE.f()(fd, bytes.as_ptr().cast(), bytes.len()) };
        if n <= 0 {
            return false;
        }
        bytes = &bytes[n as usize..];
    }
    true
}

/// Closes one of our own descriptors.
pub fn raw_close(fd: c_int) {
    // SAFETY: closing a descriptor we opened, once.
    unsafe { REAL_CLOSE.f()(fd) };
}

/// link(2): a second name for `old`'s inode.
pub fn link(old_nul: &[u8], new_nul: &[u8]) -> bool {
    // SAFETY: both NUL-terminated.
    unsafe { libc::link(old_nul.as_ptr().cast(), new_nul.as_ptr().cast()) == 0 }
}

/// mkdir(2) through the raw system call (never our hook); true if it exists after.
pub fn raw_mkdir(path_nul: &[u8]) -> bool {
    // SAFETY: a NUL-terminated path.
    let r = unsafe { REAL_SYSCALL.f()(libc::SYS_mkdirat, libc::AT_FDCWD as c_long, path_nul.as_ptr() as c_long, 0o700, 0, 0, 0) };
    r == 0 || errno() == libc::EEXIST
}

// ---------------------------------------------------------------------------
// The runtime control file (`HARPER_TEST_BLOB_FAIL_CONTROL`), mapped shared.

/// Its size: 512 words.
pub const CONTROL_WORDS: usize = 512;

static CONTROL_MAP: AtomicPtr<AtomicU64> = AtomicPtr::new(std::ptr::null_mut());
/// The control file's generation word once mapped; until then a static 0.
/// Never null, so the healed hot path loads it with no check.
static NO_GENERATION: AtomicU64 = AtomicU64::new(0);
static GENERATION: AtomicPtr<AtomicU64> = AtomicPtr::new(&NO_GENERATION as *const AtomicU64 as *mut AtomicU64);

/// Maps the control file read-only and shared; false when it cannot be
/// opened, is too small, or is not mapped.
pub fn map_control(path_nul: &[u8]) -> bool {
    let Some(fd) = raw_open(path_nul, libc::O_RDONLY | libc::O_CLOEXEC, 0) else { return false };
    let size = CONTROL_WORDS * 8;
    let big_enough = fd_id(fd).is_some_and(|id| id.size as usize >= size);
    if !big_enough {
        raw_close(fd);
        return false;
    }
    // SAFETY: a new read-only shared mapping of `size` bytes of `fd`, which
    // is at least that long; the kernel picks the address.
    let p = unsafe { libc::mmap(std::ptr::null_mut(), size, libc::PROT_READ, libc::MAP_SHARED, fd, 0) };
    raw_close(fd);
    if p == libc::MAP_FAILED {
        return false;
    }
    CONTROL_MAP.store(p.cast(), Ordering::Release);
    // SAFETY: word 2 of the CONTROL_WORDS words just mapped.
    GENERATION.store(unsafe { p.cast::<AtomicU64>().add(2) }, Ordering::Release);
    true
}

/// The control file's generation (word 2), or 0 before one is mapped.
#[inline(always)]
pub fn control_generation() -> u64 {
    // SAFETY: GENERATION always points at a live AtomicU64: the static
    // NO_GENERATION, or a word of the mapping, which is never unmapped.
    unsafe { (*GENERATION.load(Ordering::Relaxed)).load(Ordering::Acquire) }
}

/// Word `i` of the control file (0 when none is mapped).
#[inline(always)]
pub fn control_word(i: usize) -> u64 {
    let p = CONTROL_MAP.load(Ordering::Relaxed);
    if p.is_null() || i >= CONTROL_WORDS {
        return 0;
    }
    // SAFETY: `p` maps CONTROL_WORDS page-aligned words, never unmapped;
    // any bit pattern is a valid AtomicU64, and every access is atomic.
    unsafe { (*p.add(i)).load(Ordering::Acquire) }
}
