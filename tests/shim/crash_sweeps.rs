//! Crash and power loss in real programs (issue 19), through `blobfail
//! exec --crash-sweep`: each run is killed at every Nth matching call (and
//! the power cut once after it finished), its files rolled back from the
//! shim's journal as a power cut leaves them, and a check judges them.
//! Shown both ways, on programs whose durability others have documented:
//! sqlite3 (its synchronous levels and journal modes) and the
//! atomic-replace pattern.

use std::path::Path;
use std::process::{Command, Output};

use blobfail_suite::artifacts::driver_path;
use blobfail_suite::shim::{programs_dir, python3, Sandbox};

/// One sweep's rows: (crash point, the check's verdict).
struct Sweep {
    rows: Vec<(String, String)>,
    output: Output,
}

fn sweep(sb: &Sandbox, family_step: &str, check: &str, program: &[&str], extra: &[&str]) -> Sweep {
    let mut cmd = Command::new(driver_path());
    cmd.arg("exec").arg("--crash-sweep").arg(family_step).arg("--check").arg(check).args(extra).arg("--");
    cmd.args(program).env("PYTHON3", python3()).current_dir(sb.path());
    let output = cmd.output().expect("blobfail exec");
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let rows = text
        .lines()
        .skip(2)
        .take_while(|l| !l.contains("crash points passed"))
        .map(|l| {
            let point = l.split_whitespace().next().unwrap_or_default().to_string();
            let verdict = match l.split_once("): ") {
                Some((_, said)) => said.to_string(),
                None if l.ends_with("  ok") => "ok".to_string(),
                None => l.to_string(),
            };
            (point, verdict)
        })
        .collect();
    Sweep { rows, output }
}

impl Sweep {
    fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }
    fn failures(&self) -> Vec<&(String, String)> {
        self.rows.iter().filter(|(_, v)| v != "ok").collect()
    }
}

fn program(name: &str) -> String {
    programs_dir().join(name).display().to_string()
}

fn sqlite(sb: &Sandbox, family_step: &str, mode: &str, sync: &str, n: &str) -> Sweep {
    let dir = sb.path().display().to_string();
    let check = format!("sh {} {dir}", program("sqlite_check.sh"));
    sweep(sb, family_step, &check, &["sh", &program("sqlite_commits.sh"), &dir, mode, sync, n], &[])
}

/// synchronous=FULL in WAL mode, and in DELETE mode at EXTRA: at every
/// crash point of the sweep over syncs, integrity_check is ok and every
/// transaction whose COMMIT returned is there.
#[test]
fn sqlite_survives_every_crash_point_when_it_syncs() {
    for (mode, sync) in [("WAL", "FULL"), ("DELETE", "EXTRA")] {
        let sb = Sandbox::new();
        let s = sqlite(&sb, "sync:1", mode, sync, "4");
        assert!(s.rows.len() >= 10, "{mode} {sync}: a sweep of every sync: {}", s.stdout());
        assert_eq!(s.failures(), Vec::<&(String, String)>::new(), "{mode} {sync}:\n{}", s.stdout());
        assert_eq!(s.output.status.code(), Some(0), "{}", s.stdout());
    }
}

/// synchronous=FULL in DELETE mode: never damaged, but a power cut right
/// after a COMMIT can take back that last transaction: its rollback
/// journal's unlink (the commit point) is not made durable by a directory
/// sync until the next transaction's, as SQLite documents (EXTRA closes
/// that window). The sweep finds exactly those points.
#[test]
fn sqlite_delete_mode_at_full_can_lose_only_the_last_commit() {
    let sb = Sandbox::new();
    let s = sqlite(&sb, "sync:1", "DELETE", "FULL", "4");
    assert_eq!(s.output.status.code(), Some(1), "{}", s.stdout());
    assert!(s.rows.iter().all(|(_, v)| !v.starts_with("damaged")), "{}", s.stdout());
    let lost: Vec<&str> = s.failures().iter().map(|(_, v)| v.as_str()).collect();
    assert_eq!(lost, ["lost: 1", "lost: 2", "lost: 3", "lost: 4"], "{}", s.stdout());
}

/// synchronous=OFF: the sweep finds crash points where committed
/// transactions are gone.
#[test]
fn sqlite_without_syncs_loses_committed_transactions() {
    for mode in ["WAL", "DELETE"] {
        let sb = Sandbox::new();
        let s = sqlite(&sb, "write:4", mode, "OFF", "3");
        assert_eq!(s.output.status.code(), Some(1), "{mode}: {}", s.stdout());
        assert!(s.failures().iter().any(|(_, v)| v.starts_with("lost: ")), "{mode}: {}", s.stdout());
        let (point, verdict) = s.rows.last().unwrap();
        assert_eq!((point.as_str(), verdict.as_str()), ("end", "lost: 1"), "{mode}: nothing it committed survives: {}", s.stdout());
    }
}

fn atomic_replace(sb: &Sandbox, variant: &str, fs: &str) -> Sweep {
    let dir = sb.path().display().to_string();
    let check = format!(
        "c=$(cat {dir}/blobs/data 2>/dev/null) || {{ echo missing; exit 1; }}; \
         case \"$c\" in 'old old old'|'new new new new') exit 0;; *) echo \"holds '$c'\"; exit 1;; esac"
    );
    sweep(sb, "write:1", &check, &["sh", &program("atomic_replace.sh"), &dir, variant], &["--fs", fs])
}

/// write tmp, fsync, rename, fsync the folder: every crash point, under
/// either model of the file system, leaves the old or the new content
/// whole. Without the two fsyncs, on ext4's model (a later fsync commits
/// the rename, not the data), the power cut after the program finished
/// leaves the file empty; on POSIX's strict model the rename is undone.
#[test]
fn atomic_replace_holds_only_with_its_fsyncs() {
    for fs in ["strict", "ext4"] {
        let sb = Sandbox::new();
        let s = atomic_replace(&sb, "sync", fs);
        assert_eq!(s.rows.len(), 3, "{fs}: {}", s.stdout());
        assert_eq!(s.failures(), Vec::<&(String, String)>::new(), "{fs}:\n{}", s.stdout());
    }
    let sb = Sandbox::new();
    let s = atomic_replace(&sb, "nosync", "ext4");
    assert_eq!(s.failures(), [&("end".to_string(), "holds ''".to_string())], "{}", s.stdout());
    assert_eq!(std::fs::read(sb.path().join("blobs/data")).unwrap(), b"", "the file is empty after the last point");
    let sb = Sandbox::new();
    let s = atomic_replace(&sb, "nosync", "strict");
    assert_eq!(s.failures(), Vec::<&(String, String)>::new(), "{}", s.stdout());
    assert!(Path::new(&sb.path().join("blobs/data")).exists());
}
