//! Helpers for the driver's end-to-end tests against a real Harper cluster:
//! running `blobfail` with a bound, reading its report, and proving that
//! nothing of a run is left alive or listening.

use std::io::Read;
use std::net::{Ipv4Addr, SocketAddrV4, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::artifacts::{driver_path, shim_path};

/// Held while a test runs a cluster (or binds node addresses): released
/// when dropped, or when its process ends however it ends.
pub struct ClusterLock {
    _file: std::fs::File,
}

/// One cluster at a time, across threads and processes: the machine has two
/// cores, two clusters starting side by side only make each test slower,
/// and the tests that bind or probe addresses would see each other's. An
/// flock(2) on one file in the temp dir, taken on a descriptor of its own
/// (so two threads of one test binary exclude each other too), holds under
/// `cargo test` (threads) and `cargo nextest` (a process per test) alike.
pub fn cluster_lock() -> ClusterLock {
    use std::os::unix::io::AsRawFd;
    let path = std::env::temp_dir().join("blobfail-tests-cluster.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .unwrap_or_else(|e| panic!("open the cluster lock {}: {e}", path.display()));
    loop {
        // SAFETY: flock(2) on a descriptor `file` owns and keeps open for
        // the lock's lifetime; no memory is passed.
        if unsafe { libc_flock(file.as_raw_fd(), LOCK_EX) } == 0 {
            return ClusterLock { _file: file };
        }
        let err = std::io::Error::last_os_error();
        assert_eq!(err.kind(), std::io::ErrorKind::Interrupted, "flock {}: {err}", path.display());
    }
}

const LOCK_EX: i32 = 2;

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
/// The statuses of a report's checks, by name, in the report's order.
pub fn statuses(report: &Value) -> Vec<(String, String)> {
    report["checks"]
        .as_array()
        .expect("a report's checks")
        .iter()
        .map(|c| (c["name"].as_str().unwrap().to_string(), c["status"].as_str().unwrap().to_string()))
        .collect()
}

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

/// A node's ports, as the driver's table (`cluster/address.rs`) has them.
pub const NODE_PORTS: [u16; 5] = [9925, 9926, 9933, 1883, 8883];

/// The node ports that still accept connections on `ip`.
pub fn listening_ports(ip: Ipv4Addr) -> Vec<u16> {
    NODE_PORTS
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
        // A port still listening is this run's only if its owner is: on a
        // shared machine another run (outside this suite's lock) may have
        // taken the freed address since. An owner that cannot be found is
        // counted as this run's.
        let ours: Vec<(u16, Option<u32>)> = listening_ports(ip)
            .into_iter()
            .map(|port| (port, listener_pid(ip, port)))
            .filter(|(port, owner)| match owner {
                Some(pid) if !belongs_to(*pid, run) => {
                    eprintln!("note: {ip}:{port} listens, but its owner (pid {pid}) is not of run {}", run.display());
                    false
                }
                _ => true,
            })
            .collect();
        assert_eq!(ours, Vec::new(), "ports still listening on {ip} after the run (port, owner pid)");
    }
}

/// The pid of the process holding a listening TCP socket on `ip:port`, from
/// /proc/net/tcp and the processes' descriptors.
fn listener_pid(ip: Ipv4Addr, port: u16) -> Option<u32> {
    let local = format!("{:08X}:{port:04X}", u32::from_le_bytes(ip.octets()));
    let tcp = std::fs::read_to_string("/proc/net/tcp").ok()?;
    let inode = tcp.lines().skip(1).find_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        (f.get(1) == Some(&local.as_str()) && f.get(3) == Some(&"0A")).then(|| f.get(9).map(|i| i.to_string())).flatten()
    })?;
    let target = format!("socket:[{inode}]");
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else { continue };
        if fds.flatten().any(|fd| std::fs::read_link(fd.path()).is_ok_and(|l| l.to_string_lossy() == target)) {
            return Some(pid);
        }
    }
    None
}

/// Whether process `pid` names the run folder `run` in its command line,
/// environment or working directory (every node the driver starts does).
fn belongs_to(pid: u32, run: &Path) -> bool {
    let needle = run.to_string_lossy().into_owned();
    let has = |what: &str| std::fs::read(format!("/proc/{pid}/{what}")).is_ok_and(|b| String::from_utf8_lossy(&b).contains(&needle));
    let cwd = std::fs::read_link(format!("/proc/{pid}/cwd")).is_ok_and(|c| c.starts_with(run));
    // Unreadable (gone, or not ours to read): counted as the run's.
    let readable = std::fs::metadata(format!("/proc/{pid}/environ")).is_ok();
    !readable || cwd || has("cmdline") || has("environ")
}

/// A run folder path as the driver prints it.
pub fn path_of(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().canonicalize().unwrap()
}

/// A driver run in progress whose stderr is read as it comes, so a test can
/// act at a given moment (a phase's progress line) and still get it all.
pub struct Watched {
    pub child: Child,
    stderr: std::sync::Arc<Mutex<String>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Watched {
    pub fn spawn(mut cmd: Command) -> Watched {
        let mut child = cmd.spawn().expect("start blobfail");
        let mut pipe = child.stderr.take().expect("stderr piped");
        let stderr = std::sync::Arc::new(Mutex::new(String::new()));
        let sink = stderr.clone();
        let reader = std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        Watched { child, stderr, reader: Some(reader) }
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Waits until stderr holds `text`, failing past `bound` or if the run ends first.
    pub fn wait_for(&mut self, text: &str, bound: Duration) {
        let start = Instant::now();
        while !self.stderr().contains(text) {
            if let Some(st) = self.child.try_wait().unwrap() {
                panic!("blobfail ended ({st}) before printing {text:?}:\n{}", self.stderr());
            }
            assert!(start.elapsed() < bound, "no {text:?} on stderr within {bound:?}:\n{}", self.stderr());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until `cond` holds, failing past `bound` or if the run ends first.
    pub fn wait_until(&mut self, what: &str, bound: Duration, cond: impl Fn() -> bool) {
        let start = Instant::now();
        while !cond() {
            if let Some(st) = self.child.try_wait().unwrap() {
                panic!("blobfail ended ({st}) before {what}:\n{}", self.stderr());
            }
            assert!(start.elapsed() < bound, "not {what} within {bound:?}:\n{}", self.stderr());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends `sig` to the driver itself.
    pub fn signal(&self, sig: i32) {
        signal_pid(self.child.id(), sig);
    }

    /// Waits for the end (bounded) and gathers everything it printed.
    pub fn finish(mut self, bound: Duration) -> Run {
        let status = wait_bounded(&mut self.child, bound);
        if let Some(r) = self.reader.take() {
            r.join().unwrap();
        }
        let mut stdout = String::new();
        if let Some(mut o) = self.child.stdout.take() {
            o.read_to_string(&mut stdout).unwrap();
        }
        Run { status, stdout, stderr: self.stderr() }
    }
}

/// kill(2) of one process this test started (directly, or through the
/// driver run it started, by the pid the run recorded).
pub fn signal_pid(pid: u32, sig: i32) {
    // SAFETY: kill(2) takes plain integers; the pid is one of this test's own runs.
    let rc = unsafe { libc_kill(pid as i32, sig) };
    assert_eq!(rc, 0, "kill({pid}, {sig}) failed");
}

extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
    #[link_name = "flock"]
    fn libc_flock(fd: i32, operation: i32) -> i32;
}

pub const SIGHUP: i32 = 1;
pub const SIGINT: i32 = 2;
pub const SIGKILL: i32 = 9;
pub const SIGABRT: i32 = 6;
pub const SIGTERM: i32 = 15;

/// Processes whose command line or environment names `path` (a run folder,
/// a node's HOME or root): what a run left behind if it left anything.
pub fn processes_mentioning(path: &Path) -> Vec<(u32, String)> {
    let needle = path.to_string_lossy().into_owned().into_bytes();
    let me = std::process::id();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        if pid == me || !is_alive(pid) {
            continue;
        }
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
        if [&cmdline, &environ].iter().any(|b| b.windows(needle.len()).any(|w| w == needle.as_slice())) {
            found.push((pid, String::from_utf8_lossy(&cmdline).replace('\0', " ")));
        }
    }
    found
}

/// blob-save's checks, in the order its report lists them.
pub const BLOB_SAVE_CHECKS: [&str; 7] = [
    "injector-fired",
    "blob-save-failure-logged",
    "no-uncaught-exception",
    "peer-connected",
    "liveness",
    "nothing-lost",
    "damaged-reads-contained",
];

/// Asserts that a run ended with one clear error line on stderr, exit 2,
/// and nothing on stdout.
pub fn assert_one_line_error(run: &Run, expect: &str) {
    assert_eq!(run.code(), Some(2), "expected exit 2: stderr {}", run.stderr);
    let lines: Vec<&str> = run.stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    let (error, progress) = lines.split_last().unwrap_or_else(|| panic!("nothing on stderr"));
    assert!(
        progress.iter().all(|l| l.ends_with(" ...") || l.starts_with("blobfail: installing") || l.contains(": installed")),
        "expected one error line on stderr, got:\n{}",
        run.stderr
    );
    assert!(error.starts_with("blobfail: "), "{error}");
    assert!(error.contains(expect), "expected {expect:?} in: {error}");
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    assert!(run.stdout.is_empty(), "stdout: {}", run.stdout);
}

/// Runs blobfail with `args` (and `--out` a fresh folder) and `env`, and
/// asserts the answer to bad input or a missing environment: exit 2, one
/// error line containing `expect` after any progress lines, no panic or
/// backtrace, nothing on stdout, no report written and no node started.
pub fn fails_with(args: &[&str], env: &[(&str, &str)], expect: &str) {
    let dir = run_folder();
    let out = path_of(&dir);
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["--out", out.to_str().unwrap()]);
    let mut cmd = blobfail(&all);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let run = run_bounded(cmd, Duration::from_secs(120));
    assert_eq!(run.code(), Some(2), "args {args:?}: stderr {}", run.stderr);
    // Progress lines (" ...") may come first; the error is one line, last.
    let lines: Vec<&str> = run.stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    let (error, progress) = lines.split_last().unwrap_or_else(|| panic!("nothing on stderr"));
    assert!(progress.iter().all(|l| l.ends_with(" ...")), "expected one error line on stderr, got:\n{}", run.stderr);
    assert!(error.starts_with("blobfail: "), "{error}");
    assert!(error.contains(expect), "expected {expect:?} in: {error}");
    assert!(!run.stderr.contains("panicked") && !run.stderr.contains("Backtrace"), "{}", run.stderr);
    assert!(run.stdout.is_empty(), "stdout: {}", run.stdout);
    assert!(!out.join("report.json").exists(), "a failed run wrote a report");
    assert!(!out.join("cluster.json").exists(), "a failed run started nodes");
}

/// A stand-in harper CLI (a node script) that answers `version` with
/// 4.7.29, but once started (the first start installs a node) never
/// listens and never says it is ready.
pub fn harper_that_never_gets_ready(dir: &Path) -> PathBuf {
    let script = dir.join("never-ready-harper.js");
    std::fs::write(
        &script,
        "const [cmd] = process.argv.slice(2);\n\
         if (cmd === 'version') { console.log('4.7.29'); process.exit(0); }\n\
         console.log('a harper that never gets ready');\n\
         setInterval(() => {}, 1000);\n",
    )
    .unwrap();
    script
}
