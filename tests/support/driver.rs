//! Helpers for the driver's end-to-end tests against a real Harper cluster:
//! running `blobfail` with a bound, reading its report, and proving that
//! nothing of a run is left alive or listening.

use std::io::Read;
use std::net::{Ipv4Addr, SocketAddrV4, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::artifacts::{driver_path, shim_path};

/// One cluster at a time: the machine has two cores, and two clusters
/// starting side by side only make each test slower.
pub fn cluster_lock() -> MutexGuard<'static, ()> {
    static LOCK: OnceLock<Mutex<()>> = OnceLock::new();
    LOCK.get_or_init(|| Mutex::new(())).lock().unwrap_or_else(|e| e.into_inner())
}

/// A fresh, short run folder (Harper's unix socket path must stay short).
pub fn run_folder() -> tempfile::TempDir {
    tempfile::Builder::new().prefix("bf-e2e-").tempdir_in("/tmp").expect("tempdir")
}

/// The driver as a command, with the shim built beside it.
pub fn blobfail(args: &[&str]) -> Command {
    let _ = shim_path(); // fail early, with the artifacts' message, if not built
    let mut cmd = Command::new(driver_path());
    cmd.args(args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd
}

/// What one driver run gave.
#[derive(Debug)]
pub struct Run {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }
}

/// Runs the command to its end, killing it after `bound`.
pub fn run_bounded(mut cmd: Command, bound: Duration) -> Run {
    let mut child = cmd.spawn().expect("start blobfail");
    let status = wait_bounded(&mut child, bound);
    collect(child, status)
}

/// Waits for `child` to exit within `bound`, killing it (and failing) past it.
pub fn wait_bounded(child: &mut Child, bound: Duration) -> ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(st) = child.try_wait().expect("try_wait") {
            return st;
        }
        if start.elapsed() > bound {
            let _ = child.kill();
            let _ = child.wait();
            panic!("blobfail did not finish within {bound:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub fn collect(mut child: Child, status: ExitStatus) -> Run {
    let mut stdout = String::new();
    let mut stderr = String::new();
    if let Some(mut o) = child.stdout.take() {
        o.read_to_string(&mut stdout).unwrap();
    }
    if let Some(mut e) = child.stderr.take() {
        e.read_to_string(&mut stderr).unwrap();
    }
    Run { status, stdout, stderr }
}

pub fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// The named check of a report, failing the test with the report's checks if absent.
pub fn check<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["name"] == name))
        .unwrap_or_else(|| panic!("no check {name:?} in {}", report["checks"]))
}

/// The (ip, pids) of every node a run folder's `cluster.json` lists.
pub fn nodes_of(run: &Path) -> Vec<(Ipv4Addr, Vec<u32>)> {
    let manifest = read_json(&run.join("cluster.json"));
    manifest["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|n| {
            let ip = n["ip"].as_str().expect("ip").parse().expect("ipv4");
            let pids = n["pids"].as_array().expect("pids").iter().map(|p| p.as_u64().unwrap() as u32).collect();
            (ip, pids)
        })
        .collect()
}

/// Whether `pid` is a live (not zombie) process.
pub fn is_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state is the first field after the parenthesised command name.
        Ok(stat) => stat.rsplit_once(") ").map(|(_, rest)| !rest.starts_with('Z')).unwrap_or(true),
        Err(_) => false,
    }
}

/// The processes still in process group `pgid`.
pub fn group_members(pgid: u32) -> Vec<u32> {
    let mut members = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { continue };
        // Fields after "(comm) ": state ppid pgrp ...
        if let Some((_, rest)) = stat.rsplit_once(") ") {
            let f: Vec<&str> = rest.split_whitespace().collect();
            if f.get(2).and_then(|g| g.parse::<u32>().ok()) == Some(pgid) && !f[0].starts_with('Z') {
                members.push(pid);
            }
        }
    }
    members
}

/// The node ports that still accept connections on `ip`.
pub fn listening_ports(ip: Ipv4Addr) -> Vec<u16> {
    [9925u16, 9926, 9933, 1883, 8883]
        .into_iter()
        .filter(|&p| TcpStream::connect_timeout(&SocketAddrV4::new(ip, p).into(), Duration::from_millis(300)).is_ok())
        .collect()
}

/// Asserts that no process of the run's nodes is alive and none of their
/// addresses listens.
pub fn assert_nothing_left(run: &Path) {
    for (ip, pids) in nodes_of(run) {
        for pid in pids {
            assert!(!is_alive(pid), "node pid {pid} ({ip}) is still alive after the run");
            assert!(group_members(pid).is_empty(), "process group {pid} still has members: {:?}", group_members(pid));
        }
        assert_eq!(listening_ports(ip), Vec::<u16>::new(), "ports still listening on {ip} after the run");
    }
}

/// A run folder path as the driver prints it.
pub fn path_of(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().canonicalize().unwrap()
}
