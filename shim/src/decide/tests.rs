//! The decisions' tests, without preloading.
use super::*;
use crate::config::{self, Family, Parsed};
use crate::parse_tree_var;

/// An open that counts, as the hooks ask for one under OPS=write.
fn check_path(cfg: &Config, entry: Entry, dir: Dir, intent: Intent, path: &[u8]) -> Verdict {
    super::check_path(cfg, entry, dir, Open { intent, counts: intent.counts_under(cfg.ops) }, path)
}

/// The open family's counters are this process's: the tests that count
/// opens, or read their count, take turns.
static OPENS: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn opens_alone() -> std::sync::MutexGuard<'static, ()> {
    OPENS.lock().unwrap_or_else(|e| e.into_inner())
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
    let _opens = opens_alone();
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
    let _opens = opens_alone();
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
    let _opens = opens_alone();
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

/// A fault log of this test process's own, and its lines once read.
fn log_file(name: &str) -> (std::path::PathBuf, &'static [u8]) {
    let path = std::env::temp_dir().join(format!("blobfail-decide-{}-{name}.jsonl", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let var: &'static [u8] = Box::leak(path.to_str().unwrap().as_bytes().to_vec().into_boxed_slice());
    (path, var)
}

fn logged(path: &std::path::Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let _ = std::fs::remove_file(path);
    text.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// An open's fault line names its function, path, flags (an fopen's mode
/// too) and errno; an effect other than `fail` logs errno 0. An open that
/// cannot count (a read under OPS=write) is marked, neither counted nor
/// failed nor logged.
#[test]
fn an_open_fault_is_logged_with_its_call_and_a_read_only_marked() {
    let _opens = opens_alone();
    use serde_json::{json, Value};
    let (log, var) = log_file("open");
    let mut cfg = armed_with(&[(config::VAR_INTERVAL, b"1"), (config::VAR_ERRNO, b"EIO"), (config::VAR_LOG, var)]);
    let w = Intent::Flags(libc::O_WRONLY | libc::O_CREAT);
    assert_eq!(check_path(&cfg, Entry::Openat, Dir::Cwd, w, b"/t/blobs/a"), Verdict::Fail(libc::EIO));
    assert_eq!(check_path(&cfg, Entry::Fopen, Dir::Cwd, Intent::Mode(b"w"), b"/t/blobs/b"), Verdict::Fail(libc::EIO));
    let read = Open { intent: Intent::Flags(libc::O_RDONLY), counts: false };
    assert_eq!(super::check_path(&cfg, Entry::Open, Dir::Cwd, read, b"/t/blobs/r"), Verdict::Mark);
    cfg.effect = Effect::CrashAfter;
    assert_eq!(check_path(&cfg, Entry::Creat, Dir::Cwd, w, b"/t/blobs/c"), Verdict::CrashAfter);
    let got: Vec<[Value; 5]> = logged(&log)
        .iter()
        .map(|l| [l["function"].clone(), l["path"].clone(), l["flags"].clone(), l["mode"].clone(), l["errno"].clone()])
        .collect();
    let wf = libc::O_WRONLY | libc::O_CREAT;
    assert_eq!(
        got,
        [
            [json!("openat"), json!("/t/blobs/a"), json!(wf), Value::Null, json!(libc::EIO)],
            [json!("fopen"), json!("/t/blobs/b"), json!(Intent::Mode(b"w").flags()), json!("w"), json!(libc::EIO)],
            [json!("creat"), json!("/t/blobs/c"), json!(wf), Value::Null, json!(0)],
        ]
    );
}

/// A relative path is resolved against its directory descriptor (or the
/// cwd) before it is matched.
#[test]
fn relative_paths_match_after_their_directory() {
    let _opens = opens_alone();
    let cfg = armed_with(&[(config::VAR_INTERVAL, b"1")]);
    let root = std::env::temp_dir().join(format!("blobfail-decide-{}-rel", std::process::id()));
    std::fs::create_dir_all(root.join("blobs")).unwrap();
    let dir = std::fs::File::open(root.join("blobs")).unwrap();
    let fd = std::os::fd::AsRawFd::as_raw_fd(&dir);
    let w = Intent::Flags(libc::O_WRONLY | libc::O_CREAT);
    assert_eq!(check_path(&cfg, Entry::Openat, Dir::Fd(fd), w, b"a"), Verdict::Fail(libc::ENOENT));
    // The tests run in the shim's folder, which is not under a blobs/.
    assert_eq!(check_path(&cfg, Entry::Openat, Dir::Cwd, w, b"blobs-not/a"), Verdict::Pass);
    drop(dir);
    std::fs::remove_dir_all(root).unwrap();
}

/// A triggered write, by effect and trigger (every Nth: `None`; the space
/// budget: what it grants), and its fault line: the descriptor's path, the
/// space asked and granted, the errno.
#[test]
fn a_triggered_write_does_what_its_effect_says_and_logs_it() {
    use AfterWrite::{Crash, ReportAll, Return};
    let (log, var) = log_file("write");
    let file_path = log.with_extension("data");
    let file = std::fs::File::create(&file_path).unwrap();
    let fd = std::os::fd::AsRawFd::as_raw_fd(&file);
    let mut cfg = armed_with(&[(config::VAR_INTERVAL, b"1"), (config::VAR_CALLS, b"write"), (config::VAR_LOG, var)]);
    let write = |cfg: &Config, len, granted| write_effect(cfg, Entry::Pwrite64, fd, (7, 3), len, granted);
    let w = |allowed, budgeted, then| WriteVerdict::Write { allowed, budgeted, then };
    assert_eq!(write(&cfg, 10, None), WriteVerdict::Fail(libc::ENOENT));
    assert_eq!(write(&cfg, 10, Some(4)), w(4, 4, Return), "what fits is written");
    assert_eq!(write(&cfg, 10, Some(0)), WriteVerdict::Fail(libc::ENOSPC), "nothing fits: the space errno");
    cfg.effect = Effect::CrashAfter;
    assert_eq!(write(&cfg, 10, None), w(10, 0, Crash));
    assert_eq!(write(&cfg, 10, Some(4)), w(4, 4, Crash));
    cfg.effect = Effect::Drop;
    assert_eq!(write(&cfg, 10, None), w(0, 0, ReportAll));
    assert_eq!(write(&cfg, 10, Some(4)), w(4, 4, ReportAll));
    cfg.effect = Effect::Corrupt;
    assert_eq!(write(&cfg, 10, None), WriteVerdict::Corrupt { seq: 7, number: 3 }, "corrupt_data logs it");
    assert_eq!(write(&cfg, 1, None), WriteVerdict::Corrupt { seq: 7, number: 3 });
    assert_eq!(write(&cfg, 0, None), w(0, 0, Return), "nothing to corrupt");

    let lines = logged(&log);
    let path = std::fs::canonicalize(&file_path).unwrap();
    for l in &lines {
        let head = (&l["seq"], &l["fault"], &l["function"], &l["fd"], l["path"].as_str());
        assert_eq!(head, (&7.into(), &3.into(), &"pwrite64".into(), &fd.into(), path.to_str()), "{l}");
    }
    let tail: Vec<_> = lines.iter().map(|l| (l["errno"].as_i64(), l["space"].as_bool(), l["bytes"].as_i64(), l["written"].as_i64())).collect();
    let e = |n: i32| Some(i64::from(n));
    assert_eq!(
        tail,
        [
            (e(libc::ENOENT), None, None, None),
            (e(0), Some(true), Some(10), Some(4)),
            (e(libc::ENOSPC), Some(true), Some(10), Some(0)),
            (e(0), None, None, None),
            (e(0), Some(true), Some(10), Some(4)),
            (e(0), None, None, None),
            (e(0), Some(true), Some(10), Some(4)),
            (e(0), None, None, None),
        ]
    );
    drop(file);
    std::fs::remove_file(file_path).unwrap();
}

/// A triggered call that is not a write: `fail` fails it with the errno
/// (and logs it); the others log errno 0.
#[test]
fn a_triggered_call_acts_its_effect() {
    let mut cfg = armed_with(&[(config::VAR_INTERVAL, b"1"), (config::VAR_ERRNO, b"EIO")]);
    assert_eq!((act(&cfg), logged_errno(&cfg)), (Action::Fail(libc::EIO), libc::EIO));
    for (effect, action) in [
        (Effect::CrashAfter, Action::CrashAfter),
        (Effect::FakeSync, Action::Lie),
        (Effect::Corrupt, Action::Pass),
        (Effect::Drop, Action::Pass),
        (Effect::Short, Action::Pass),
    ] {
        cfg.effect = effect;
        assert_eq!((act(&cfg), logged_errno(&cfg)), (action, 0), "{effect:?}");
    }
}

/// DELAY sleeps every matching call of a chosen family before it counts.
#[test]
fn a_delay_sleeps_each_matching_call() {
    let cfg = armed_with(&[(config::VAR_DELAY, b"40ms"), (config::VAR_CALLS, b"mkdir")]);
    let t = std::time::Instant::now();
    assert_eq!(decide(&cfg, Entry::Mkdir), None, "DELAY alone fails nothing");
    assert!(t.elapsed() >= std::time::Duration::from_millis(40), "{:?}", t.elapsed());
}

/// After a budgeted write, the budget gets back what it did not write: the
/// rest of a short write, all of a failed one, nothing of a whole one.
/// (The only unit test that draws on this process's space budget.)
#[test]
fn the_budget_gets_back_what_a_write_did_not_write() {
    let c = counters();
    let before = c.space_used();
    assert_eq!(c.take_space(u64::MAX, 10), 10);
    write_done(10, 4);
    assert_eq!(c.space_used(), before + 4);
    assert_eq!(c.take_space(u64::MAX, 3), 3);
    write_done(3, -1);
    assert_eq!(c.space_used(), before + 4);
    assert_eq!(c.take_space(u64::MAX, 5), 5);
    write_done(5, 5);
    write_done(0, -1);
    assert_eq!(c.space_used(), before + 9);
}
