//! The durability journal (`HARPER_TEST_BLOB_FAIL_JOURNAL=FILE`): for every
//! matching file, what a power cut could undo, so `blobfail power-loss`
//! can undo it once the processes are dead.
//!
//! One JSON object a line, each appended with one O_APPEND write (a line a
//! SIGKILL cuts short is the last one, and the reader drops it):
//! - `start`: a process (pid and its start time, to tell it alive later);
//! - `write`: before a write reaches the kernel: inode, path, offset,
//!   length, the size before, whether the descriptor is O_SYNC/O_DSYNC
//!   (durable when it returns), and the bytes it overwrites (`pre`, a file
//!   in `FILE.d/`);
//! - `sync`: after fsync/fdatasync returned 0 (sync_file_range is no
//!   durability point and is not recorded); `dirsync`: the same on a
//!   directory whose path matches;
//! - `create`, `mkdir`, `rmdir`, `unlink`, `rename`, `truncate`: before the
//!   call; an unlinked or replaced file is kept as a hard link in `FILE.d/`
//!   (`saved`), a truncated one's content copied (`pre`).
//!
//! Recorded before the call, so a crash can only make the journal say more
//! than happened (undoing what did not happen restores what is there).
//! Not seen: writes through mmap, copy_file_range/sendfile/splice, io_uring.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::config::{Config, Family};
use crate::format::StackBuf;
use crate::matcher::{Intent, ResolvedPath};
use crate::{armed, fds, sys, Entry};

static ON: AtomicBool = AtomicBool::new(false);
static NEXT: AtomicU64 = AtomicU64::new(0);

const PATH_BUF: usize = sys::PATH_MAX + 1;

/// Whether the journal records (the sync hooks' early out for untracked
/// descriptors: a directory's sync).
#[inline(always)]
pub(crate) fn on() -> bool {
    ON.load(Ordering::Relaxed)
}

/// At load, armed with a journal: its side folder, and this process's
/// `start` line.
pub(crate) fn init(cfg: &Config) {
    let Some(journal) = cfg.journal_path_nul() else { return };
    let mut dir = [0u8; PATH_BUF];
    let Some(dir) = side_path(journal, b"", &mut dir) else { return };
    if !sys::raw_mkdir(dir) {
        return;
    }
    ON.store(true, Ordering::Relaxed);
    let start = start_time().unwrap_or(0);
    record(cfg, |l| {
        let _ = write!(l, "\"op\":\"start\",\"start\":{start}");
    });
}

/// `FILE.d/<name>` with its NUL, into `buf`.
fn side_path<'a>(journal_nul: &[u8], name: &[u8], buf: &'a mut [u8; PATH_BUF]) -> Option<&'a [u8]> {
    let j = &journal_nul[..journal_nul.len() - 1];
    let n = j.len() + 3 + name.len();
    if n + 1 > buf.len() {
        return None;
    }
    buf[..j.len()].copy_from_slice(j);
    buf[j.len()..j.len() + 3].copy_from_slice(b".d/");
    buf[j.len() + 3..n].copy_from_slice(name);
    buf[n] = 0;
    Some(&buf[..=n])
}

/// A new side file's name, unique across the processes that share the journal.
fn side_name(kind: &str, buf: &mut StackBuf<64>) {
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let _ = write!(buf, "{kind}-{}-{n}", sys::pid());
}

/// This process's start time in clock ticks since boot (field 22 of
/// /proc/self/stat): with the pid, who it is.
fn start_time() -> Option<u64> {
    let fd = sys::raw_open(b"/proc/self/stat\0", libc::O_RDONLY | libc::O_CLOEXEC, 0)?;
    let mut buf = [0u8; 1024];
    let n = sys::raw_read(fd, &mut buf);
    sys::raw_close(fd);
    let text = buf.get(..usize::try_from(n).ok()?)?;
    let after = text.iter().rposition(|&b| b == b')')?;
    let field = text[after + 2..].split(|&b| b == b' ').nth(19)?;
    crate::config::parse_u64(field)
}

/// Appends one line: `{"pid":…,"time_ns":…,<body>}`.
fn record(cfg: &Config, body: impl FnOnce(&mut StackBuf<8192>)) {
    let Some(journal) = cfg.journal_path_nul() else { return };
    let mut line = StackBuf::<8192>::new();
    let _ = write!(line, "{{\"pid\":{},\"time_ns\":{},", sys::pid(), sys::now_ns());
    body(&mut line);
    line.push(b"}");
    let _ = sys::append_file(journal, line.finish_line());
}

fn push_path(l: &mut StackBuf<8192>, key: &str, pieces: [&[u8]; 3]) {
    let _ = write!(l, ",\"{key}\":\"");
    for p in pieces {
        blobfail_vocab::log::push_json_str(l, p);
    }
    l.push(b"\"");
}

fn push_id(l: &mut StackBuf<8192>, id: &sys::FileId) {
    let _ = write!(l, ",\"dev\":{},\"ino\":{}", id.dev, id.ino);
}

/// A resolved path, contiguous and NUL-terminated, into `buf`.
fn joined<'a>(path: &ResolvedPath, buf: &'a mut [u8; PATH_BUF]) -> Option<&'a [u8]> {
    let mut n = 0;
    for p in path.pieces() {
        buf.get_mut(n..n + p.len())?.copy_from_slice(p);
        n += p.len();
    }
    *buf.get_mut(n)? = 0;
    Some(&buf[..=n])
}

/// Copies `len` bytes at `off` of the file open as `src` into a new side
/// file; its name goes into `name`.
fn save_bytes(cfg: &Config, src: i32, off: i64, len: i64, name: &mut StackBuf<64>) -> bool {
    let Some(journal) = cfg.journal_path_nul() else { return false };
    side_name("pre", name);
    let mut pbuf = [0u8; PATH_BUF];
    let Some(path) = side_path(journal, name.as_bytes(), &mut pbuf) else { return false };
    let Some(out) = sys::raw_open(path, libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_CLOEXEC, 0o600) else {
        return false;
    };
    let mut buf = [0u8; 4096];
    let (mut at, end) = (off, off + len);
    let mut ok = true;
    while at < end {
        let want = ((end - at) as usize).min(buf.len());
        let n = sys::raw_pread(src, &mut buf[..want], at);
        if n <= 0 {
            break;
        }
        if !sys::write_all(out, &buf[..n as usize]) {
            ok = false;
            break;
        }
        at += n as i64;
    }
    sys::raw_close(out);
    ok
}

/// Keeps `path_nul`'s inode alive as a hard link in the side folder.
fn save_link(cfg: &Config, path_nul: &[u8], name: &mut StackBuf<64>) -> bool {
    let Some(journal) = cfg.journal_path_nul() else { return false };
    side_name("keep", name);
    let mut pbuf = [0u8; PATH_BUF];
    let Some(side) = side_path(journal, name.as_bytes(), &mut pbuf) else { return false };
    sys::link(path_nul, side)
}

/// Before an open of a matching path for writing: a `create` when O_CREAT
/// makes a file that was not there, a `truncate` to 0 (with the old
/// content) when O_TRUNC empties one.
pub(crate) fn before_open(cfg: &Config, intent: Intent, path: &ResolvedPath) {
    if !on() {
        return;
    }
    let flags = intent.flags();
    if crate::matcher::flags_tmpfile(flags) || !intent.writes() {
        return;
    }
    let mut pbuf = [0u8; PATH_BUF];
    let Some(p) = joined(path, &mut pbuf) else { return };
    match sys::path_id(p) {
        None if flags & libc::O_CREAT != 0 => record(cfg, |l| {
            l.push(b"\"op\":\"create\"");
            push_path(l, "path", path.pieces());
        }),
        Some(id) if !id.is_dir && flags & libc::O_TRUNC != 0 && id.size > 0 => {
            truncate_record(cfg, p, &id, path.pieces(), 0);
        }
        _ => {}
    }
}

/// A `truncate` to `len` (-1: unknown, restore it all) with the old content.
fn truncate_record(cfg: &Config, path_nul: &[u8], id: &sys::FileId, pieces: [&[u8]; 3], len: i64) {
    let mut name = StackBuf::<64>::new();
    let saved = match sys::raw_open(path_nul, libc::O_RDONLY | libc::O_CLOEXEC, 0) {
        Some(fd) => {
            let ok = save_bytes(cfg, fd, 0, id.size, &mut name);
            sys::raw_close(fd);
            ok
        }
        None => false,
    };
    record(cfg, |l| {
        let _ = write!(l, "\"op\":\"truncate\",\"len\":{len},\"size\":{}", id.size);
        push_id(l, id);
        push_path(l, "path", pieces);
        if saved {
            let _ = write!(l, ",\"pre\":\"{}\"", core::str::from_utf8(name.as_bytes()).unwrap_or(""));
        }
    });
}

/// Before a call on one matching path: unlink (the file kept as a link),
/// rmdir, mkdir, truncate.
pub(crate) fn before_path_call(cfg: &Config, entry: Entry, path: &ResolvedPath) {
    if !on() {
        return;
    }
    let mut pbuf = [0u8; PATH_BUF];
    let Some(p) = joined(path, &mut pbuf) else { return };
    let existing = sys::path_id(p);
    match (entry.family(), existing) {
        (Family::Unlink, Some(id)) if id.is_dir => record(cfg, |l| {
            l.push(b"\"op\":\"rmdir\"");
            push_path(l, "path", path.pieces());
        }),
        (Family::Unlink, Some(id)) => {
            let mut name = StackBuf::<64>::new();
            let saved = save_link(cfg, p, &mut name);
            record(cfg, |l| {
                l.push(b"\"op\":\"unlink\"");
                push_id(l, &id);
                push_path(l, "path", path.pieces());
                if saved {
                    let _ = write!(l, ",\"saved\":\"{}\"", core::str::from_utf8(name.as_bytes()).unwrap_or(""));
                }
            });
        }
        (Family::Mkdir, None) => record(cfg, |l| {
            l.push(b"\"op\":\"mkdir\"");
            push_path(l, "path", path.pieces());
        }),
        (Family::Truncate, Some(id)) if !id.is_dir => truncate_record(cfg, p, &id, path.pieces(), -1),
        _ => {}
    }
}

/// Before a rename touching a matching path: a replaced target is kept as
/// a link.
pub(crate) fn before_rename(cfg: &Config, old: &ResolvedPath, new: &ResolvedPath) {
    if !on() {
        return;
    }
    let mut nbuf = [0u8; PATH_BUF];
    let Some(n) = joined(new, &mut nbuf) else { return };
    let mut name = StackBuf::<64>::new();
    let saved = matches!(sys::path_id(n), Some(id) if !id.is_dir) && save_link(cfg, n, &mut name);
    record(cfg, |l| {
        l.push(b"\"op\":\"rename\"");
        push_path(l, "old", old.pieces());
        push_path(l, "new", new.pieces());
        if saved {
            let _ = write!(l, ",\"saved\":\"{}\"", core::str::from_utf8(name.as_bytes()).unwrap_or(""));
        }
    });
}

/// Before a write on a tracked descriptor: where, how much, and the bytes
/// it overwrites.
pub(crate) fn before_write(_entry: Entry, fd: i32, offset: Option<i64>, len: usize) {
    if !on() || len == 0 {
        return;
    }
    let Some(cfg) = armed() else { return };
    let (Some(id), Some(flags)) = (sys::fd_id(fd), sys::fd_flags(fd)) else { return };
    let off = match offset {
        Some(o) => o,
        None if flags & libc::O_APPEND != 0 => id.size,
        None => match sys::position(fd) {
            Some(p) => p,
            None => return,
        },
    };
    let durable = flags & libc::O_DSYNC != 0;
    let overlap = (off + len as i64).min(id.size) - off;
    let mut name = StackBuf::<64>::new();
    let mut saved = false;
    if overlap > 0 && !durable {
        if let Some(r) = sys::reopen_for_reading(fd) {
            saved = save_bytes(cfg, r, off, overlap, &mut name);
            sys::raw_close(r);
        }
    }
    let mut pbuf = [std::mem::MaybeUninit::<u8>::uninit(); sys::PATH_MAX];
    let path = sys::fd_path(fd, &mut pbuf).unwrap_or_default();
    record(cfg, |l| {
        let _ = write!(l, "\"op\":\"write\",\"off\":{off},\"len\":{len},\"size\":{},\"durable\":{durable}", id.size);
        push_id(l, &id);
        push_path(l, "path", [b"", b"", path]);
        if saved {
            let _ = write!(l, ",\"pre\":\"{}\"", core::str::from_utf8(name.as_bytes()).unwrap_or(""));
        }
    });
}

/// Before ftruncate/fallocate on a tracked descriptor: the old content.
pub(crate) fn before_fd_call(entry: Entry, fd: i32) {
    if !on() || entry.family() != Family::Truncate {
        return;
    }
    let Some(cfg) = armed() else { return };
    let Some(id) = sys::fd_id(fd) else { return };
    let mut pbuf = [std::mem::MaybeUninit::<u8>::uninit(); sys::PATH_MAX];
    let path = sys::fd_path(fd, &mut pbuf).unwrap_or_default();
    let mut name = StackBuf::<64>::new();
    let saved = match sys::reopen_for_reading(fd) {
        Some(r) => {
            let ok = save_bytes(cfg, r, 0, id.size, &mut name);
            sys::raw_close(r);
            ok
        }
        None => false,
    };
    record(cfg, |l| {
        let _ = write!(l, "\"op\":\"truncate\",\"len\":-1,\"size\":{}", id.size);
        push_id(l, &id);
        push_path(l, "path", [b"", b"", path]);
        if saved {
            let _ = write!(l, ",\"pre\":\"{}\"", core::str::from_utf8(name.as_bytes()).unwrap_or(""));
        }
    });
}

/// After fsync/fdatasync returned 0: a tracked file's `sync`, or a
/// matching directory's `dirsync`.
pub(crate) fn after_sync(entry: Entry, fd: i32) {
    if !on() || entry == Entry::SyncFileRange {
        return;
    }
    let Some(cfg) = armed() else { return };
    let Some(id) = sys::fd_id(fd) else { return };
    let mut pbuf = [std::mem::MaybeUninit::<u8>::uninit(); sys::PATH_MAX];
    let Some(path) = sys::fd_path(fd, &mut pbuf) else { return };
    if id.is_dir {
        let as_path = ResolvedPath::absolute(path);
        let finder = memchr::memmem::Finder::new(cfg.needle());
        if !as_path.contains_with(&finder) && !as_path.contains_as_folder(&finder) {
            return;
        }
        record(cfg, |l| {
            l.push(b"\"op\":\"dirsync\"");
            push_path(l, "path", [b"", b"", path]);
        });
    } else if fds::marked(fd) {
        record(cfg, |l| {
            let _ = write!(l, "\"op\":\"sync\",\"size\":{}", id.size);
            push_id(l, &id);
            push_path(l, "path", [b"", b"", path]);
        });
    }
}
