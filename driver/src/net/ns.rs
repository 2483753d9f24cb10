//! A network namespace of the run's own: what it needs (root, or
//! CAP_NET_ADMIN and CAP_SYS_ADMIN; iptables), entering it (`unshare` of the
//! network, then `lo` up), and the proof that the thread is in it. Every
//! iptables rule of a nemesis is made through a `PrivateNet`, so nothing a
//! nemesis does can reach the host's own network.

use std::path::PathBuf;
use std::process::{Command, Stdio};

use nix::sched::{unshare, CloneFlags};

use super::sys;

/// What a run that needs its own network should do when it cannot have one.
pub const HOW_TO_RUN: &str = "run blobfail as root (or with CAP_NET_ADMIN and CAP_SYS_ADMIN) with iptables installed \
                              (e.g. `apt-get install iptables`)";

/// The capabilities `unshare(CLONE_NEWNET)` and iptables need.
const CAP_NET_ADMIN: u32 = 12;
const CAP_SYS_ADMIN: u32 = 21;

/// The network namespace this thread (and every thread and process it
/// starts afterwards) lives in, made by `enter`.
#[derive(Debug, Clone)]
pub struct PrivateNet {
    /// The namespace's inode (`/proc/thread-self/ns/net`), and the one the
    /// thread was in before: they differ, or `enter` failed.
    pub inode: u64,
    pub host_inode: u64,
    /// The iptables program the rules are made with, and its version line.
    pub iptables: PathBuf,
    pub iptables_version: String,
}

impl PrivateNet {
    /// One line for reports: which namespace, which iptables.
    pub fn describe(&self) -> String {
        format!("a private network namespace (net:[{}], the host's is net:[{}]) with {}", self.inode, self.host_inode, self.iptables_version)
    }

    /// Whether the calling thread is still inside this namespace.
    pub fn is_current(&self) -> bool {
        current_inode().is_ok_and(|i| i == self.inode)
    }
}

/// The calling thread's network namespace inode.
pub fn current_inode() -> std::io::Result<u64> {
    use std::os::unix::fs::MetadataExt;
    Ok(std::fs::metadata("/proc/thread-self/ns/net")?.ino())
}

/// Why this process cannot have a network of its own, in one line with
/// what to do; `Ok` with the iptables to use when it can (as far as can be
/// told without entering one: `probe` enters one to be sure).
pub fn permission() -> Result<(PathBuf, String), String> {
    // Root has both unless its capabilities were dropped (a container, setpriv).
    let euid = nix::unistd::geteuid();
    let caps = effective_caps().unwrap_or(if euid.is_root() { u64::MAX } else { 0 });
    let missing: Vec<&str> = [(CAP_NET_ADMIN, "CAP_NET_ADMIN"), (CAP_SYS_ADMIN, "CAP_SYS_ADMIN")]
        .iter()
        .filter(|(bit, _)| caps & (1u64 << bit) == 0)
        .map(|(_, name)| *name)
        .collect();
    if !missing.is_empty() {
        let who = if euid.is_root() { "root without".to_string() } else { format!("not root (uid {euid}) and without") };
        return Err(format!("{who} {}: a private network namespace needs them; {HOW_TO_RUN}", missing.join(" and ")));
    }
    let iptables = find_iptables().ok_or_else(|| format!("iptables is not on PATH (nor in /usr/sbin or /sbin); {HOW_TO_RUN}"))?;
    let out = Command::new(&iptables)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{} --version failed ({e}); {HOW_TO_RUN}", iptables.display()))?;
    let version = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if !out.status.success() || version.is_empty() {
        return Err(format!("{} --version did not answer ({}); {HOW_TO_RUN}", iptables.display(), out.status));
    }
    Ok((iptables, version))
}

/// iptables on PATH, or where Debian puts it for root (`/usr/sbin`), which
/// a non-login PATH may lack.
fn find_iptables() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin"].map(PathBuf::from))
        .map(|dir| dir.join("iptables"))
        .find(|p| p.is_file())
}

/// The effective capability set of this process (`CapEff` in its status).
fn effective_caps() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("CapEff:"))?;
    u64::from_str_radix(line.trim_start_matches("CapEff:").trim(), 16).ok()
}

/// Moves the calling thread into a new network namespace with `lo` up, and
/// checks iptables answers there. Threads and processes started by this
/// thread afterwards are inside it too; threads started before are not.
/// Call it before the async runtime starts.
pub fn enter() -> Result<PrivateNet, String> {
    let (iptables, iptables_version) = permission()?;
    let host_inode = current_inode().map_err(|e| format!("cannot read this thread's network namespace ({e}); {HOW_TO_RUN}"))?;
    unshare(CloneFlags::CLONE_NEWNET).map_err(|e| format!("unshare of the network namespace failed ({e}); {HOW_TO_RUN}"))?;
    let inode = current_inode().map_err(|e| format!("cannot read the new network namespace ({e})"))?;
    if inode == host_inode {
        return Err(format!("unshare left this thread in the host's network namespace; {HOW_TO_RUN}"));
    }
    sys::bring_loopback_up().map_err(|e| format!("cannot bring lo up in the private network namespace ({e}); {HOW_TO_RUN}"))?;
    let net = PrivateNet { inode, host_inode, iptables, iptables_version };
    // The kernel may lack what iptables needs (nf_tables, the nat table):
    // found out now, not half way through a run.
    for table in ["filter", "nat"] {
        super::rules::list(&net, table).map_err(|e| format!("iptables does not work in the private network namespace: {e}; {HOW_TO_RUN}"))?;
    }
    Ok(net)
}

/// Enters a namespace on a thread of its own and leaves it again: whether
/// a run could have its own network here, for `blobfail doctor`.
pub fn probe() -> Result<PrivateNet, String> {
    std::thread::spawn(enter).join().unwrap_or_else(|_| Err("the namespace probe panicked".into()))
}
