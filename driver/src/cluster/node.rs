//! One node process: where it lives (`NodeSpec`), launching it in its own
//! process group, telling how it ended (a crash of its own, or a stop from
//! outside the run), and stopping its whole group.

use std::fs::OpenOptions;
use std::net::Ipv4Addr;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use serde::Serialize;
use serde_json::{json, Value};

use super::harper::Harper;
use crate::api::NodeApi;
use crate::text::{shorten, tail};
use crate::model::Halt;

/// Where one node lives and how it is reached.
#[derive(Debug, Clone, Serialize)]
pub struct NodeSpec {
    pub name: String,
    pub ip: Ipv4Addr,
    pub dir: PathBuf,
    pub root: PathBuf,
    pub home: PathBuf,
    pub stdout: PathBuf,
    pub stderr: PathBuf,
    pub hdb_log: PathBuf,
    /// Extra environment for this node only (the fault plan on B).
    #[serde(skip)]
    pub env: Vec<(String, String)>,
    /// Extra `harper install` settings for this node only (`KEY`, `value`
    /// for `--KEY=value`), after the driver's own, so they win.
    #[serde(skip)]
    pub install_args: Vec<(String, String)>,
}

/// A node process: its spec, the child, and how it ended if it did.
pub struct Node {
    spec: NodeSpec,
    api: NodeApi,
    child: Option<tokio::process::Child>,
    pid: Option<u32>,
    exited: Option<ExitStatus>,
    /// Every pid this node ran as (a restart makes a new one).
    pids: Vec<u32>,
    /// The last exit was blobfail's own doing (`stop`), not the node's.
    stopped_by_driver: bool,
    /// The root cache entry this node's root was copied from, if it was.
    cached_root: Option<String>,
}

/// How a node was stopped.
#[derive(Debug, Clone, Serialize)]
pub struct StopRecord {
    pub node: String,
    pub pid: u32,
    pub signal: &'static str,
    pub seconds: f64,
    pub exit: String,
}

/// What a worker running out of memory prints (a crash of the node's own).
pub const WORKER_OOM: &str = "ERR_WORKER_OUT_OF_MEMORY";

impl Node {
    pub fn new(spec: NodeSpec, api: NodeApi) -> Node {
        Node { spec, api, child: None, pid: None, exited: None, pids: Vec::new(), stopped_by_driver: false, cached_root: None }
    }

    pub fn spec(&self) -> &NodeSpec {
        &self.spec
    }

    pub fn api(&self) -> &NodeApi {
        &self.api
    }

    /// Records that the node's root was copied from this cache entry.
    pub(super) fn set_cached_root(&mut self, key: String) {
        self.cached_root = Some(key);
    }

    /// The pid (and process group) of the node's current process.
    pub fn pid(&self) -> Option<u32> {
        self.pid
    }

    /// Whether a process of this node may still be running (not stopped by blobfail).
    pub fn is_started(&self) -> bool {
        self.child.is_some()
    }

    /// Launches the node's process; `install` is extra environment (the
    /// install settings on a first start): its command line holds nothing
    /// but Harper's CLI, so no other user can read a setting there.
    pub(super) fn spawn(&mut self, harper: &Harper, install: &[(String, String)]) -> anyhow::Result<()> {
        use anyhow::Context;
        let stdout = OpenOptions::new().create(true).append(true).open(&self.spec.stdout)?;
        let stderr = OpenOptions::new().create(true).append(true).open(&self.spec.stderr)?;
        let mut cmd = tokio::process::Command::new(&harper.node);
        cmd.arg(&harper.cli)
            .env("HOME", &self.spec.home)
            .env_remove("LD_PRELOAD")
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            // Its own process group: teardown signals the whole group, and a
            // Ctrl-C at the terminal reaches only the driver, which then stops it.
            .process_group(0);
        for (k, _) in std::env::vars() {
            if k.starts_with("HARPER_TEST_BLOB_FAIL_") {
                cmd.env_remove(k);
            }
        }
        for (k, v) in self.spec.env.iter().chain(install) {
            cmd.env(k, v);
        }
        let child = cmd.spawn().with_context(|| format!("failed to start node {}", self.spec.name))?;
        let pid = child.id().expect("a just-spawned child has a pid");
        tracing::debug!(node = %self.spec.name, pid, ip = %self.spec.ip, env = ?self.spec.env, "spawned node");
        self.child = Some(child);
        self.pid = Some(pid);
        self.pids.push(pid);
        self.exited = None;
        self.stopped_by_driver = false;
        Ok(())
    }

    /// If the node process has exited without blobfail stopping it: a
    /// sentence with its status, its last output and its log path.
    pub fn death(&mut self) -> Option<String> {
        self.end().map(|h| h.to_string())
    }

    /// How the node ended, if it has ended without blobfail stopping it.
    pub fn end(&mut self) -> Option<Halt> {
        if self.exited.is_none() {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(st)) = child.try_wait() {
                    self.exited = Some(st);
                }
            }
        }
        if self.stopped_by_driver {
            return None;
        }
        let st = self.exited?;
        let mut last: Vec<String> = Vec::new();
        for p in [&self.spec.stderr, &self.spec.stdout] {
            let t = tail(p, 2048);
            last.extend(t.lines().rev().filter(|l| !l.trim().is_empty()).take(3).map(|l| shorten(l, 160)));
        }
        last.reverse();
        let last = if last.is_empty() { "(none)".to_string() } else { last.join(" | ") };
        let (name, pid, log) = (&self.spec.name, self.pid.unwrap_or(0), self.spec.hdb_log.display());
        let oom = [&self.spec.hdb_log, &self.spec.stderr, &self.spec.stdout]
            .iter()
            .any(|p| tail(p, 256 * 1024).contains(WORKER_OOM));
        Some(match classify_exit(st, oom) {
            EndKind::Crashed => Halt::Crashed {
                node: name.clone(),
                text: format!(
                    "node {name} (pid {pid}) died: {}{}; last lines: {last}; log {log}",
                    describe_exit(st),
                    if oom { format!(" ({WORKER_OOM} in its output)") } else { String::new() },
                ),
            },
            EndKind::StoppedFromOutside => {
                let sigkill = st.signal() == Some(Signal::SIGKILL as i32) || st.code() == Some(128 + Signal::SIGKILL as i32);
                let how = match st.signal() {
                    Some(_) => format!("{}, which blobfail did not send", describe_exit(st)),
                    None => format!(
                        "{} although blobfail did not stop it (Harper exits so when it is sent SIGTERM or SIGINT)",
                        describe_exit(st)
                    ),
                };
                let who = if sigkill {
                    format!(
                        "another process killed it, or the kernel's out-of-memory killer did \
                         (`dmesg` or `journalctl -k` would then show \"Killed process {pid}\")"
                    )
                } else {
                    // Harper 4.7.29 also exits 0 when it gives up at start
                    // (it cannot open its database), which no status tells
                    // from a SIGTERM: the last lines below do.
                    "another process (a person, a supervisor, a script) stopped it, or Harper gave up on its own \
                     (it also exits 0 when it cannot open its database: see its last lines)"
                        .to_string()
                };
                let short = format!("node {name} (pid {pid}) was stopped from outside the run: {how}; {who}");
                let text = format!("{short}; last lines: {last}; log {log}");
                Halt::StoppedFromOutside { node: name.clone(), short, text }
            }
        })
    }

    /// SIGTERM to the node's process group, up to `grace` for it to go, then
    /// SIGKILL. Waits (asynchronously) for the leader to be reaped and the
    /// group to be empty.
    pub async fn stop(&mut self, grace: Duration) -> Option<StopRecord> {
        let mut stopping = self.begin_stop(grace)?;
        loop {
            if let Some(rec) = stopping.poll(self) {
                return Some(rec);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// `stop` for a drop guard, which cannot wait asynchronously: on a
    /// runtime worker the wait is handed to `block_in_place`, so the
    /// worker's other tasks move elsewhere instead of being blocked.
    pub fn stop_blocking(&mut self, grace: Duration) -> Option<StopRecord> {
        let mut stopping = self.begin_stop(grace)?;
        let mut wait = || loop {
            if let Some(rec) = stopping.poll(self) {
                return Some(rec);
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
            Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(wait),
            _ => wait(),
        }
    }

    /// SIGKILL to the node's whole process group at once, as a crash or a
    /// power cut would end it (no grace, no handler runs), waiting until the
    /// group is gone. Blobfail's own doing: not a stop from outside.
    pub async fn kill(&mut self) -> Option<StopRecord> {
        let mut child = self.child.take()?;
        let pid = self.pid?;
        let status = self.exited.or_else(|| child.try_wait().ok().flatten());
        self.stopped_by_driver = status.is_none();
        let _ = killpg(Pid::from_raw(pid as i32), Signal::SIGKILL);
        let mut stopping = Stopping { child, pid, status, signal: "SIGKILL", grace: Duration::ZERO, start: Instant::now() };
        loop {
            if let Some(rec) = stopping.poll(self) {
                return Some(rec);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// SIGSTOP (`pause`) or SIGCONT to the node's whole process group.
    pub fn signal_group(&self, sig: Signal) -> anyhow::Result<u32> {
        let pid = self.pid.filter(|_| self.child.is_some()).ok_or_else(|| anyhow::anyhow!("node {} is not running", self.spec.name))?;
        killpg(Pid::from_raw(pid as i32), sig).map_err(|e| anyhow::anyhow!("{} to node {}'s process group {pid}: {e}", sig.as_str(), self.spec.name))?;
        Ok(pid)
    }

    fn begin_stop(&mut self, grace: Duration) -> Option<Stopping> {
        let mut child = self.child.take()?;
        let pid = self.pid?;
        // A node that already ended on its own keeps that end (a crash, or a
        // kill from outside): only what this call stops counts as blobfail's.
        let status = self.exited.or_else(|| child.try_wait().ok().flatten());
        self.stopped_by_driver = status.is_none();
        let signal = if status.is_none() { "SIGTERM" } else { "none (had already exited)" };
        let _ = killpg(Pid::from_raw(pid as i32), Signal::SIGTERM);
        Some(Stopping { child, pid, status, signal, grace, start: Instant::now() })
    }

    pub fn describe(&self) -> Value {
        json!({
            "name": self.spec.name,
            "ip": self.spec.ip.to_string(),
            "pids": self.pids,
            "root": self.spec.root,
            "stdout": self.spec.stdout,
            "stderr": self.spec.stderr,
            "hdb_log": self.spec.hdb_log,
            "env": self.spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>(),
            "root_from_cache": self.cached_root,
            "install_settings": self.spec.install_args.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>(),
        })
    }
}


/// A stop under way: SIGTERM sent, SIGKILL after the grace period.
struct Stopping {
    child: tokio::process::Child,
    pid: u32,
    status: Option<ExitStatus>,
    signal: &'static str,
    grace: Duration,
    start: Instant,
}

impl Stopping {
    /// One look at the group: the record once it is gone (or the bound is
    /// over), `None` while it is still going.
    fn poll(&mut self, node: &mut Node) -> Option<StopRecord> {
        let pgid = Pid::from_raw(self.pid as i32);
        if self.status.is_none() {
            self.status = self.child.try_wait().ok().flatten();
        }
        // The group is gone once its leader is reaped and no member is left.
        let group_alive = killpg(pgid, None).is_ok();
        let bound = self.grace + Duration::from_secs(10);
        let gone = self.status.is_some() && !group_alive;
        if !gone && self.start.elapsed() <= bound {
            if self.start.elapsed() > self.grace && self.signal != "SIGKILL" {
                self.signal = "SIGKILL";
                let _ = killpg(pgid, Signal::SIGKILL);
            }
            return None;
        }
        let status = self.status.or(node.exited);
        node.exited = status;
        tracing::debug!(node = %node.spec.name, pid = self.pid, signal = self.signal, elapsed = ?self.start.elapsed(), ?status, "stopped node");
        Some(StopRecord {
            node: node.spec.name.clone(),
            pid: self.pid,
            signal: self.signal,
            seconds: self.start.elapsed().as_secs_f64(),
            exit: status.map(describe_exit).unwrap_or_else(|| "still running".into()),
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EndKind {
    Crashed,
    StoppedFromOutside,
}

/// Tells a crash from a stop from outside, for a node blobfail did not stop.
///
/// Trade-off: the exit status cannot tell who sent a signal. SIGKILL and
/// SIGTERM (and SIGINT/SIGHUP, and the 128+n codes a wrapper script turns
/// them into) are what people, supervisors and the kernel's OOM killer send,
/// never what a process does to itself, so they count as outside
/// interference and the run ends as unknown (exit 2) rather than as a
/// finding. The cost: a Harper bug that makes the kernel OOM-kill B is
/// reported as "could not decide", not "fail" (still a non-zero exit, and
/// the evidence names the OOM killer). Exit 0 also counts as a stop from
/// outside: Harper exits 0 only when told to stop (its SIGTERM/SIGINT
/// handler). A worker out of memory in the node's output is always a crash,
/// whatever the signal; so is any other non-zero exit or signal (SIGABRT,
/// SIGSEGV, ...), which stays a finding (exit 1).
fn classify_exit(st: ExitStatus, worker_oom: bool) -> EndKind {
    const OUTSIDE: [Signal; 4] = [Signal::SIGKILL, Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP];
    if worker_oom {
        return EndKind::Crashed;
    }
    let outside_signal = |n: i32| OUTSIDE.iter().any(|s| *s as i32 == n);
    match (st.code(), st.signal()) {
        (_, Some(sig)) if outside_signal(sig) => EndKind::StoppedFromOutside,
        (Some(0), _) => EndKind::StoppedFromOutside,
        (Some(c), _) if c > 128 && outside_signal(c - 128) => EndKind::StoppedFromOutside,
        _ => EndKind::Crashed,
    }
}

pub fn describe_exit(st: ExitStatus) -> String {
    match (st.code(), st.signal()) {
        (Some(c), _) => format!("exit status {c}"),
        (None, Some(s)) => format!(
            "killed by signal {}",
            Signal::try_from(s).map(|s| s.as_str().to_string()).unwrap_or_else(|_| s.to_string())
        ),
        _ => st.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kill_from_outside_is_told_from_a_crash() {
        let signalled = |sig: Signal| ExitStatus::from_raw(sig as i32);
        let exited = |code: i32| ExitStatus::from_raw(code << 8);
        for st in [signalled(Signal::SIGKILL), signalled(Signal::SIGTERM), signalled(Signal::SIGINT), exited(0), exited(137), exited(143)] {
            assert_eq!(classify_exit(st, false), EndKind::StoppedFromOutside, "{st}");
        }
        for st in [signalled(Signal::SIGABRT), signalled(Signal::SIGSEGV), signalled(Signal::SIGBUS), exited(1), exited(134)] {
            assert_eq!(classify_exit(st, false), EndKind::Crashed, "{st}");
        }
        // A worker out of memory is B's own failure, whatever ended the process.
        assert_eq!(classify_exit(signalled(Signal::SIGKILL), true), EndKind::Crashed);
    }
}
