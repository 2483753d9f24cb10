//! `blobfail power-loss JOURNAL`: makes the files a journaled run touched
//! look as they would after a power cut at its end, from the shim's
//! durability journal (`HARPER_TEST_BLOB_FAIL_JOURNAL`).
//!
//! What survives a power cut, here: a write made durable by a later
//! fsync/fdatasync of its file, or written through an O_SYNC/O_DSYNC
//! descriptor; a create, rename, unlink, mkdir or rmdir made durable by a
//! later fsync of its directory (of both directories, for a rename); and,
//! with `--writeback SECS`, whatever is older than SECS before the crash
//! (what the kernel would have written back by then). Everything else is
//! undone, newest first: overwritten bytes get their old content back, an
//! extended file its old length, a created file goes, a renamed or
//! unlinked one comes back. `--mode prefix|pages` keeps a random prefix of
//! each file's unsynced writes, or a random subset of their 4 KiB pages
//! (a torn write: a page not kept reads as its old bytes, or zeros past
//! the old end, and the file keeps its new length). `--fs ext4` makes a
//! create, rename or unlink durable at any later fsync too, as ext4's
//! journal commit does (POSIX, the default, asks for its directory's).

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, OpenOptions};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde_json::Value;

/// How unsynced writes are lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// Every unsynced write is lost.
    All,
    /// A random prefix of each file's unsynced writes survives.
    Prefix,
    /// A random subset of the unsynced writes' 4 KiB pages survives.
    Pages,
}

/// `blobfail power-loss`.
#[derive(clap::Args, Debug, Clone)]
pub struct PowerLossArgs {
    /// The journal a run wrote (HARPER_TEST_BLOB_FAIL_JOURNAL).
    pub journal: PathBuf,
    #[command(flatten)]
    pub how: How,
}

/// When a create, rename or unlink is durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Fs {
    /// POSIX: only once its directory is fsync'd.
    Strict,
    /// ext4 (data=ordered): also at any later fsync, whose journal commit carries every earlier metadata change.
    Ext4,
}

/// What a power cut keeps.
#[derive(clap::Args, Debug, Clone, Copy)]
pub struct How {
    /// Keep what the kernel would already have written back: changes older than SECS before the crash.
    #[arg(long, value_name = "SECS", default_value_t = 0.0)]
    pub writeback: f64,
    /// all: lose every unsynced write; prefix: keep a random prefix of each file's; pages: keep a random subset of their pages.
    #[arg(long, value_enum, default_value_t = Mode::All)]
    pub mode: Mode,
    /// The seed of prefix and pages.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// strict: a create, rename or unlink survives once its directory is synced; ext4: also at any later fsync.
    #[arg(long, value_enum, default_value_t = Fs::Strict)]
    pub fs: Fs,
}

impl Default for How {
    fn default() -> Self {
        How { writeback: 0.0, mode: Mode::All, seed: 0, fs: Fs::Strict }
    }
}

/// One journal line, with what the replay needs.
#[derive(Debug, Clone)]
struct Event {
    op: String,
    pid: u64,
    time_ns: u128,
    v: Value,
}

impl Event {
    fn str(&self, k: &str) -> Option<&str> {
        self.v[k].as_str()
    }
    fn i64(&self, k: &str) -> i64 {
        self.v[k].as_i64().unwrap_or(0)
    }
    fn inode(&self) -> Option<(u64, u64)> {
        Some((self.v["dev"].as_u64()?, self.v["ino"].as_u64()?))
    }
}

/// What happened to one file.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Per path, in order, what was done to it.
    pub changes: BTreeMap<String, Vec<String>>,
    /// Writes and namespace changes undone, and kept though unsynced.
    pub undone: usize,
    pub kept_unsynced: usize,
}

/// Reads the journal: every whole line; a last line a crash cut short is
/// dropped, any other bad line is an error.
fn read(journal: &Path) -> Result<Vec<Event>> {
    let text = fs::read_to_string(journal).with_context(|| format!("failed to read the journal {}", journal.display()))?;
    let lines: Vec<&str> = text.split('\n').collect();
    let mut events = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if line.is_empty() {
            continue;
        }
        let last = i + 1 >= lines.len() || lines[i + 1..].iter().all(|l| l.is_empty());
        match serde_json::from_str::<Value>(line) {
            Ok(v) if v["op"].is_string() => events.push(Event {
                op: v["op"].as_str().unwrap_or_default().to_string(),
                pid: v["pid"].as_u64().unwrap_or(0),
                time_ns: v["time_ns"].as_u64().map(u128::from).unwrap_or(0),
                v,
            }),
            _ if last && !text.ends_with('\n') => {}
            _ => bail!("{} is not a blobfail journal (line {} is not a journal record)", journal.display(), i + 1),
        }
    }
    if !events.iter().any(|e| e.op == "start") {
        bail!("{} is not a blobfail journal (no process started in it)", journal.display());
    }
    Ok(events)
}

/// The journaled processes still running (same pid, same start time).
fn alive(events: &[Event]) -> Vec<u64> {
    let mut pids: Vec<u64> = events
        .iter()
        .filter(|e| e.op == "start")
        .filter(|e| {
            let stat = fs::read_to_string(format!("/proc/{}/stat", e.pid)).unwrap_or_default();
            let after = stat.rfind(')').map(|i| &stat[i + 2..]).unwrap_or("");
            let fields: Vec<&str> = after.split(' ').collect();
            fields.get(19).and_then(|s| s.parse::<u64>().ok()) == e.v["start"].as_u64() && fields.first() != Some(&"Z")
        })
        .map(|e| e.pid)
        .collect();
    pids.sort_unstable();
    pids.dedup();
    pids
}

fn parent(p: &str) -> String {
    Path::new(p).parent().map(|d| d.to_string_lossy().into_owned()).unwrap_or_default()
}

/// splitmix64, for the seeded modes.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

const PAGE: i64 = 4096;

/// Applies a power cut to the journal's files; refuses while a journaled
/// process lives, and marks the journal applied (renamed `.applied`).
pub fn apply(journal: &Path, how: How) -> Result<Outcome> {
    if !journal.exists() && journal.with_extension("applied").exists() {
        bail!("{} was already applied (see {}); rerun the program for a new journal", journal.display(), journal.with_extension("applied").display());
    }
    let events = read(journal)?;
    // A process SIGKILLed with its group a moment ago may still be on its
    // way out: wait for it, boundedly, before refusing.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    let mut live = alive(&events);
    while !live.is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(10));
        live = alive(&events);
    }
    if !live.is_empty() {
        let list: Vec<String> = live.iter().map(u64::to_string).collect();
        bail!("journaled process {} still running: a power cut is simulated once every process in the journal has died (stop them first)", list.join(", "));
    }
    let side = {
        let mut s = journal.as_os_str().to_owned();
        s.push(".d");
        PathBuf::from(s)
    };
    let crash = events.iter().map(|e| e.time_ns).max().unwrap_or(0);
    let written_back = |e: &Event| how.writeback > 0.0 && (crash - e.time_ns.min(crash)) as f64 >= how.writeback * 1e9;

    // Which events survive on their own.
    let n = events.len();
    let mut durable = vec![false; n];
    for (i, e) in events.iter().enumerate() {
        let later = &events[i + 1..];
        let committed = how.fs == Fs::Ext4 && later.iter().any(|l| l.op == "sync" || l.op == "dirsync");
        let dir_synced = |dir: &str| committed || later.iter().any(|l| l.op == "dirsync" && l.str("path") == Some(dir));
        durable[i] = written_back(e)
            || match e.op.as_str() {
                "write" => e.v["durable"] == true || later.iter().any(|l| l.op == "sync" && l.inode() == e.inode()),
                "truncate" => later.iter().any(|l| l.op == "sync" && l.inode() == e.inode()),
                "create" | "mkdir" | "rmdir" | "unlink" => dir_synced(&parent(e.str("path").unwrap_or_default())),
                "rename" => {
                    dir_synced(&parent(e.str("new").unwrap_or_default())) && dir_synced(&parent(e.str("old").unwrap_or_default()))
                }
                _ => true,
            };
    }
    // prefix: per file, a random number of its unsynced writes survive.
    let mut rng = Rng(how.seed ^ 0x626c_6f62);
    if how.mode == Mode::Prefix {
        let mut by_inode: BTreeMap<(u64, u64), Vec<usize>> = BTreeMap::new();
        for (i, e) in events.iter().enumerate() {
            if e.op == "write" && !durable[i] {
                by_inode.entry(e.inode().unwrap_or_default()).or_default().push(i);
            }
        }
        for writes in by_inode.values() {
            let keep = (rng.next() % (writes.len() as u64 + 1)) as usize;
            for &i in &writes[..keep] {
                durable[i] = true;
            }
        }
    }
    let mut out = Outcome {
        kept_unsynced: events.iter().enumerate().filter(|(i, e)| durable[*i] && written_back(e)).count(),
        ..Outcome::default()
    };
    // Bytes a later surviving write holds, per inode: never overwritten by an undo.
    let mut kept: HashMap<(u64, u64), Vec<(i64, i64)>> = HashMap::new();
    let mut kept_end: HashMap<(u64, u64), i64> = HashMap::new();
    let note = |out: &mut Outcome, path: &str, what: String| out.changes.entry(path.to_string()).or_default().push(what);
    for i in (0..n).rev() {
        let e = &events[i];
        let id = e.inode().unwrap_or_default();
        if durable[i] {
            if e.op == "write" {
                let (off, len) = (e.i64("off"), e.i64("len"));
                kept.entry(id).or_default().push((off, off + len));
                let end = kept_end.entry(id).or_insert(0);
                *end = (*end).max(off + len);
            }
            continue;
        }
        match e.op.as_str() {
            "write" => {
                let Some(path) = locate(&events, e) else { continue };
                let (off, len, size) = (e.i64("off"), e.i64("len"), e.i64("size"));
                let pre = match e.str("pre") {
                    Some(name) => fs::read(side.join(name)).with_context(|| format!("failed to read the journal's copy {name}"))?,
                    None => Vec::new(),
                };
                let pages: Vec<(i64, i64)> = if how.mode == Mode::Pages {
                    let mut v = Vec::new();
                    let mut p = off - off.rem_euclid(PAGE);
                    while p < off + len {
                        if rng.next().is_multiple_of(2) {
                            v.push((p.max(off), (p + PAGE).min(off + len)));
                        } else {
                            kept.entry(id).or_default().push((p.max(off), (p + PAGE).min(off + len)));
                        }
                        p += PAGE;
                    }
                    v
                } else {
                    vec![(off, off + len)]
                };
                let f = OpenOptions::new().write(true).open(&path).with_context(|| format!("failed to open {}", path.display()))?;
                let guard = kept.get(&id).cloned().unwrap_or_default();
                let mut restored = 0;
                for (a, b) in &pages {
                    for (x, y) in free_ranges(*a, *b, &guard) {
                        // Old bytes where the file had them; zeros past its old end.
                        let mut bytes = vec![0u8; (y - x) as usize];
                        for (k, byte) in bytes.iter_mut().enumerate() {
                            let at = (x - off) as usize + k;
                            if let Some(&old) = pre.get(at) {
                                *byte = old;
                            }
                        }
                        if how.mode == Mode::All || how.mode == Mode::Prefix {
                            let keep_to = (size - x).clamp(0, y - x) as usize;
                            bytes.truncate(keep_to);
                        }
                        f.write_all_at(&bytes, x as u64)?;
                        restored += y - x;
                    }
                }
                let mut what = format!("undid an unsynced write of {len} bytes at {off}");
                if how.mode == Mode::Pages {
                    what = format!("tore an unsynced write of {len} bytes at {off}: {} of its pages lost", pages.len());
                } else if off + len > size {
                    let to = size.max(kept_end.get(&id).copied().unwrap_or(0));
                    if (f.metadata()?.len() as i64) > to {
                        f.set_len(to as u64)?;
                        what.push_str(&format!(", cut back to {to} bytes"));
                    }
                }
                let _ = restored;
                out.undone += 1;
                note(&mut out, &path.to_string_lossy(), what);
            }
            "truncate" => {
                let Some(path) = locate(&events, e) else { continue };
                if let Some(name) = e.str("pre") {
                    let pre = fs::read(side.join(name))?;
                    let f = OpenOptions::new().write(true).open(&path)?;
                    f.write_all_at(&pre, 0)?;
                    f.set_len((e.i64("size")).max(kept_end.get(&id).copied().unwrap_or(0)) as u64)?;
                    out.undone += 1;
                    note(&mut out, &path.to_string_lossy(), format!("undid an unsynced truncate: its {} bytes are back", e.i64("size")));
                }
            }
            "create" => {
                let p = e.str("path").unwrap_or_default();
                if fs::symlink_metadata(p).is_ok_and(|m| m.is_file()) {
                    fs::remove_file(p).with_context(|| format!("failed to remove {p}"))?;
                    out.undone += 1;
                    note(&mut out, p, "removed: created, and its directory never synced after".into());
                }
            }
            "mkdir" => {
                let p = e.str("path").unwrap_or_default();
                if fs::remove_dir(p).is_ok() {
                    out.undone += 1;
                    note(&mut out, p, "removed: made, and its parent never synced after".into());
                }
            }
            "rmdir" => {
                let p = e.str("path").unwrap_or_default();
                if fs::create_dir(p).is_ok() {
                    out.undone += 1;
                    note(&mut out, p, "back: removed, and its parent never synced after".into());
                }
            }
            "unlink" => {
                let p = e.str("path").unwrap_or_default();
                match e.str("saved") {
                    Some(saved) => {
                        fs::rename(side.join(saved), p).with_context(|| format!("failed to bring back {p}"))?;
                        out.undone += 1;
                        note(&mut out, p, "back: unlinked, and its directory never synced after".into());
                    }
                    None => note(&mut out, p, "NOT restored: unlinked unsynced, but the journal kept no copy".into()),
                }
            }
            "rename" => {
                let (old, new) = (e.str("old").unwrap_or_default(), e.str("new").unwrap_or_default());
                if Path::new(new).exists() {
                    fs::rename(new, old).with_context(|| format!("failed to rename {new} back to {old}"))?;
                }
                let mut what = format!("renamed back to {old}: the rename was never made durable by a directory sync");
                if let Some(saved) = e.str("saved") {
                    fs::rename(side.join(saved), new).with_context(|| format!("failed to bring back the old {new}"))?;
                    what = "the file it replaced is back: the rename over it was never made durable by a directory sync".into();
                }
                out.undone += 1;
                note(&mut out, new, what);
            }
            _ => {}
        }
    }
    let applied = journal.with_extension("applied");
    fs::rename(journal, &applied).with_context(|| format!("failed to mark {} applied", journal.display()))?;
    Ok(out)
}

/// The parts of `a..b` no range in `guard` covers.
fn free_ranges(a: i64, b: i64, guard: &[(i64, i64)]) -> Vec<(i64, i64)> {
    let mut parts = vec![(a, b)];
    for &(x, y) in guard {
        parts = parts
            .into_iter()
            .flat_map(|(s, e)| {
                if y <= s || x >= e {
                    vec![(s, e)]
                } else {
                    [(s, x.max(s)), (y.min(e), e)].into_iter().filter(|(p, q)| q > p).collect()
                }
            })
            .collect();
    }
    parts
}

/// The file an event's inode is now: its recorded path when that is still
/// the same inode, else any path the journal names that is.
fn locate(events: &[Event], e: &Event) -> Option<PathBuf> {
    let id = e.inode()?;
    let same = |p: &str| fs::metadata(p).is_ok_and(|m| (m.dev(), m.ino()) == id);
    let recorded = e.str("path")?;
    if same(recorded) {
        return Some(PathBuf::from(recorded));
    }
    events
        .iter()
        .flat_map(|x| ["path", "old", "new"].into_iter().filter_map(move |k| x.v[k].as_str()))
        .find(|p| same(p))
        .map(PathBuf::from)
}

/// `blobfail power-loss`: applies it and prints what changed.
pub fn run(args: &PowerLossArgs) -> Result<()> {
    let out = apply(&args.journal, args.how)?;
    print!("{}", describe(&out, args.how));
    Ok(())
}

/// What a power cut changed, one line per file.
pub fn describe(out: &Outcome, how: How) -> String {
    let mode = match how.mode {
        Mode::All => "all",
        Mode::Prefix => "prefix",
        Mode::Pages => "pages",
    };
    let fs = if how.fs == Fs::Ext4 { ", fs ext4" } else { "" };
    let mut s = format!(
        "power loss (mode {mode}, writeback {} s{fs}): {} change{} undone, {} file{} touched\n",
        how.writeback,
        out.undone,
        if out.undone == 1 { "" } else { "s" },
        out.changes.len(),
        if out.changes.len() == 1 { "" } else { "s" }
    );
    for (path, whats) in &out.changes {
        for w in whats {
            s.push_str(&format!("  {path}: {w}\n"));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_ranges_leave_out_guarded_bytes() {
        assert_eq!(free_ranges(0, 10, &[]), [(0, 10)]);
        assert_eq!(free_ranges(0, 10, &[(2, 4)]), [(0, 2), (4, 10)]);
        assert_eq!(free_ranges(0, 10, &[(0, 10)]), Vec::<(i64, i64)>::new());
        assert_eq!(free_ranges(0, 10, &[(8, 20), (0, 1)]), [(1, 8)]);
    }
}
