//! The decisions' tests, without preloading.
use super::*;
use crate::config::{self, Family, Parsed};
use crate::parse_tree_var;

/// An open that counts, as the hooks ask for one under OPS=write.
fn check_path(cfg: &Config, entry: Entry, dir: Dir, intent: Intent, path: &[u8]) -> Verdict {
    super::check_path(cfg, entry, dir, Open { intent, counts: intent.counts_under(cfg.ops) }, path)
}

fn armed_with(vars: &[(&'static str, &'static [u8])]) -> Config {
    let vars = vars.to_vec();
    match config::parse(|v| vars.iter().find(|(k, _)| *k == v).map(|(_, x)| *x)) {
        Parsed::Armed(cfg) => cfg,
        other => panic!("not armed: {other:?}"),
    }
}

/// Regression: a path of PATH_MAX bytes or more under `/blobs/` was
/// counted and failed with the injected errno, where the real call gives
/// ENAMETOOLONG without opening anything.
#[test]
fn paths_of_path_max_bytes_or_more_are_not_counted() {
    let cfg = armed_with(&[(config::VAR_INTERVAL, b"1")]);
    let write = Intent::Flags(libc::O_WRONLY | libc::O_CREAT);
    let mut long = b"/tmp/blobs/".to_vec();
    long.resize(sys::PATH_MAX, b'a');
    let open = || counters().family(Family::Open).totals();
    let before = open();
    assert_eq!(check_path(&cfg, Entry::Open, Dir::Cwd, write, &long), Verdict::Pass);
    assert_eq!(check_path(&cfg, Entry::Openat, Dir::Fd(-1), write, &long[1..]), Verdict::Pass);
    assert_eq!(open(), before);
    // One byte shorter, the kernel would take it: it counts.
    long.truncate(sys::PATH_MAX - 1);
    assert_eq!(check_path(&cfg, Entry::Open, Dir::Cwd, write, &long), Verdict::Fail(libc::ENOENT));
    assert!(open().0 > before.0 && open().1 > before.1);
}

/// Regression (issue 11): a read-only directory open was taken for a
/// write (O_TMPFILE holds O_DIRECTORY's bit), so `du`, `rm -rf`, `find`
/// and `tar -C` under blobs/ failed or miscounted.
#[test]
fn directory_opens_never_count_under_ops_write_and_tmpfile_folders_match() {
    let cfg = armed_with(&[(config::VAR_INTERVAL, b"1")]);
    let dir = Intent::Flags(libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC);
    assert!(!dir.counts_under(cfg.ops));
    // An O_TMPFILE open of the folder itself makes a file in it: it matches.
    let tmp = Intent::Flags(libc::O_TMPFILE | libc::O_WRONLY);
    assert!(tmp.counts_under(cfg.ops));
    assert_eq!(check_path(&cfg, Entry::Open64, Dir::Cwd, tmp, b"/tmp/x/blobs"), Verdict::Fail(libc::ENOENT));
    assert_eq!(check_path(&cfg, Entry::Open64, Dir::Cwd, tmp, b"/tmp/x/other"), Verdict::Pass);
    // Not for an ordinary open: /tmp/x/blobs is not under /blobs/.
    let w = Intent::Flags(libc::O_WRONLY | libc::O_CREAT);
    assert_eq!(check_path(&cfg, Entry::Open64, Dir::Cwd, w, b"/tmp/x/blobs"), Verdict::Pass);
}

#[test]
fn families_decide_on_their_own_and_unchosen_ones_never_count() {
    let cfg = armed_with(&[(config::VAR_INTERVAL, b"1"), (config::VAR_CALLS, b"write,close")]);
    let sync = || counters().family(Family::Sync).totals();
    let before = sync();
    assert!(decide(&cfg, Entry::Pwrite64).is_some());
    assert!(decide(&cfg, Entry::Close).is_some());
    assert!(decide(&cfg, Entry::Fsync).is_none());
    assert_eq!(sync(), before, "an unchosen family is not even counted");
    // A matching open under CALLS without open: passes, and is tracked.
    let w = Intent::Flags(libc::O_WRONLY | libc::O_CREAT);
    assert_eq!(check_path(&cfg, Entry::Open, Dir::Cwd, w, b"/t/blobs/a"), Verdict::Mark);
    assert_eq!(check_path(&cfg, Entry::Open, Dir::Cwd, w, b"/t/other/a"), Verdict::Pass);
    assert!(cfg.tracks_descriptors());
    assert!(!armed_with(&[(config::VAR_INTERVAL, b"1")]).tracks_descriptors(), "the default tracks nothing");
    assert!(armed_with(&[(config::VAR_SPACE, b"1KiB")]).tracks_descriptors());
}

#[test]
fn tree_variable() {
    assert_eq!(parse_tree_var(b"5:27:1234"), Some((5, 27, 1234)));
    for bad in [&b""[..], b"5", b"5:1", b"5:1:2:3", b"-1:1:2", b"x:1:2", b"2147483648:1:2"] {
        assert_eq!(parse_tree_var(bad), None, "{bad:?}");
    }
}

#[test]
fn every_entry_names_its_family() {
    assert_eq!(Entry::Pwritev64v2.family(), Family::Write);
    assert_eq!(Entry::SyncFileRange.family(), Family::Sync);
    assert_eq!(Entry::PosixFallocate64.family(), Family::Truncate);
    assert_eq!(Entry::Rmdir.family(), Family::Unlink);
    assert_eq!(Entry::Mkostemps64.family(), Family::Open);
    assert_eq!(Entry::Renameat2.name(), "renameat2");
}
