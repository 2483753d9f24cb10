//! The Harper cluster: finding or installing Harper, provisioning nodes (root,
//! HOME, loopback address, component), starting and supervising them each in
//! its own process group, joining them, and tearing everything down.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom};
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, TcpStream};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use serde::Serialize;
use serde_json::{json, Value};

use crate::api::{shorten, NodeApi};
use crate::journal::Journal;
use crate::report::Progress;

/// Ports every node binds, each on its own loopback address.
pub const NODE_PORTS: [u16; 5] = [9925, 9926, 9933, 1883, 8883];
const REPLICATION_PORT: u16 = 9933;
const ADMIN_USER: &str = "admin";
/// How long a node gets to exit after SIGTERM before its group gets SIGKILL.
pub const STOP_GRACE: Duration = Duration::from_secs(10);

/// A Harper CLI to run with `node`.
#[derive(Debug, Clone, Serialize)]
pub struct Harper {
    pub node: PathBuf,
    pub cli: PathBuf,
    pub version: String,
}

/// Finds an executable on PATH.
pub fn find_tool(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file() && is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(p).map(|m| m.permissions().mode() & 0o111 != 0).unwrap_or(false)
}

/// The platform cache folder for blobfail (e.g. `~/.cache/blobfail`).
pub fn cache_dir() -> Result<PathBuf> {
    directories::ProjectDirs::from("", "", "blobfail")
        .map(|d| d.cache_dir().to_path_buf())
        .ok_or_else(|| anyhow!("no home folder to put the harper cache in: set HOME, or pass --harper"))
}

/// `--harper PATH` if given, else a cached `harperdb@version`, else installs it.
pub async fn resolve_harper(explicit: Option<&Path>, version: &str, progress: &Progress) -> Result<Harper> {
    let node = find_tool("node").ok_or_else(|| {
        anyhow!("node is not on PATH: install Node.js 20 or newer (e.g. `apt-get install nodejs npm`)")
    })?;
    let cli = match explicit {
        Some(p) => harper_cli_in(p)?,
        None => {
            let dir = cache_dir()?.join(format!("harperdb-{version}"));
            let cli = dir.join("node_modules/harperdb/bin/harperdb.js");
            if !cli.is_file() {
                npm_install(&dir, version, progress).await?;
            }
            cli
        }
    };
    let found = harper_version(&node, &cli).await?;
    Ok(Harper { node, cli, version: found })
}

/// The CLI script inside what `--harper` names: a script, or a package or
/// checkout folder.
fn harper_cli_in(p: &Path) -> Result<PathBuf> {
    if !p.exists() {
        bail!("--harper {} does not exist: pass a harper CLI script or package folder", p.display());
    }
    if p.is_file() {
        return Ok(p.to_path_buf());
    }
    const CANDIDATES: [&str; 5] = [
        "dist/bin/harper.js",
        "bin/harperdb.js",
        "bin/harper.js",
        "node_modules/harperdb/bin/harperdb.js",
        "node_modules/harper/dist/bin/harper.js",
    ];
    CANDIDATES
        .iter()
        .map(|c| p.join(c))
        .find(|c| c.is_file())
        .ok_or_else(|| {
            anyhow!(
                "--harper {} holds no harper CLI (looked for {}): pass the CLI script itself",
                p.display(),
                CANDIDATES.join(", ")
            )
        })
}

/// Asks the CLI for its version: the check that it is a working Harper.
async fn harper_version(node: &Path, cli: &Path) -> Result<String> {
    let home = tempdir("blobfail-version-home")?;
    let out = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::process::Command::new(node)
            .arg(cli)
            .arg("version")
            .env("HOME", &home)
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output(),
    )
    .await;
    let _ = fs::remove_dir_all(&home);
    let out = out
        .map_err(|_| anyhow!("{} version did not answer within 60 s: is it a harper CLI?", cli.display()))?
        .with_context(|| format!("failed to run {} {}", node.display(), cli.display()))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let version = text.lines().map(str::trim).find(|l| looks_like_version(l)).map(str::to_string);
    match version {
        Some(v) if out.status.success() => Ok(v),
        _ => bail!(
            "{} is not a working harper CLI: `version` printed {:?} (exit {}); pass a harper CLI script or package folder",
            cli.display(),
            shorten(&format!("{text}{}", String::from_utf8_lossy(&out.stderr)), 160),
            out.status
        ),
    }
}

fn looks_like_version(s: &str) -> bool {
    let mut parts = s.split('.');
    let ok = |p: Option<&str>| p.is_some_and(|p| !p.is_empty() && p.chars().next().unwrap().is_ascii_digit());
    ok(parts.next()) && ok(parts.next())
}

fn tempdir(prefix: &str) -> Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("{prefix}-{}-{}", std::process::id(), rand::random::<u32>()));
    fs::create_dir_all(&dir).with_context(|| format!("failed to create {}", dir.display()))?;
    Ok(dir)
}

/// `npm install harperdb@version` into a temporary sibling of `dir`, renamed
/// into place only when complete, so a broken install is never taken for a
/// cached one.
async fn npm_install(dir: &Path, version: &str, progress: &Progress) -> Result<()> {
    let npm = find_tool("npm").ok_or_else(|| {
        anyhow!("npm is not on PATH: install it (e.g. `apt-get install npm`), or pass --harper to use a harper you have")
    })?;
    let parent = dir.parent().expect("cache dir has a parent");
    fs::create_dir_all(parent).with_context(|| format!("failed to create the cache folder {}", parent.display()))?;
    // Leftovers of installs that were interrupted (their process is gone),
    // and a cache folder without a CLI in it, are removed first.
    let prefix = format!(".harperdb-{version}.partial-");
    for e in fs::read_dir(parent).into_iter().flatten().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if let Some(pid) = name.strip_prefix(&prefix).and_then(|p| p.parse::<i32>().ok()) {
            if nix::sys::signal::kill(Pid::from_raw(pid), None).is_err() {
                let _ = fs::remove_dir_all(e.path());
            }
        }
    }
    if dir.exists() {
        fs::remove_dir_all(dir).with_context(|| format!("failed to remove the incomplete install {}", dir.display()))?;
    }
    let staging = parent.join(format!("{prefix}{}", std::process::id()));
    let _ = fs::remove_dir_all(&staging);
    fs::create_dir_all(&staging)?;
    let log_path = parent.join(format!("npm-install-harperdb-{version}.log"));
    let log = File::create(&log_path).with_context(|| format!("failed to create {}", log_path.display()))?;
    let step = progress.step(&format!("installing harperdb@{version} with npm into {}", dir.display()));
    let mut child = tokio::process::Command::new(&npm)
        .args(["install", "--no-audit", "--no-fund", "--loglevel=http", "--prefix"])
        .arg(&staging)
        .arg(format!("harperdb@{version}"))
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("failed to run {}", npm.display()))?;
    let mut group = GroupKill(child.id());
    let bound = Duration::from_secs(15 * 60);
    let start = Instant::now();
    let status = loop {
        tokio::select! {
            st = child.wait() => break st?,
            _ = tokio::time::sleep(Duration::from_millis(500)) => {
                step.set_message(&format!("{} ({} s)", last_line(&log_path).unwrap_or_default(), start.elapsed().as_secs()));
                if start.elapsed() > bound {
                    let _ = child.kill().await;
                    let _ = fs::remove_dir_all(&staging);
                    bail!("npm install harperdb@{version} took over 15 min; see {}", log_path.display());
                }
            }
        }
    };
    group.0 = None;
    let cli = staging.join("node_modules/harperdb/bin/harperdb.js");
    if !status.success() || !cli.is_file() {
        let _ = fs::remove_dir_all(&staging);
        if let Some(why) = npm_network_error(&log_path) {
            bail!(
                "npm install harperdb@{version} failed: could not reach the npm registry ({why}): check the network \
                 and npm's registry setting (`npm config get registry`), or pass --harper to use a harper you have; see {}",
                log_path.display()
            );
        }
        bail!(
            "npm install harperdb@{version} failed ({status}): {}; see {} (needs the npm registry; or pass --harper)",
            npm_error(&log_path).or_else(|| last_line(&log_path)).unwrap_or_default(),
            log_path.display()
        );
    }
    match fs::rename(&staging, dir) {
        Ok(()) => {}
        // Another run finished the same install first: use theirs.
        Err(_) if dir.join("node_modules/harperdb/bin/harperdb.js").is_file() => {
            let _ = fs::remove_dir_all(&staging);
        }
        Err(e) => return Err(e).with_context(|| format!("failed to move the install into {}", dir.display())),
    }
    step.finish(&format!("installed in {:.0} s", start.elapsed().as_secs_f64()));
    Ok(())
}

/// Kills a child's whole process group if dropped while the child may still
/// run (an install cut short by Ctrl-C, or by an error elsewhere): the
/// child's own `kill_on_drop` reaches only the group leader, not helpers it
/// started.
struct GroupKill(Option<u32>);

impl Drop for GroupKill {
    fn drop(&mut self) {
        if let Some(pid) = self.0 {
            let _ = killpg(Pid::from_raw(pid as i32), Signal::SIGKILL);
        }
    }
}

/// The line of npm's output that says what went wrong (not its error code
/// or the pointer to its debug log).
fn npm_error(path: &Path) -> Option<String> {
    let text = tail(path, 64 * 1024);
    let found = npm_error_lines(&text)
        .find(|l| !["code ", "syscall ", "errno ", "A complete log"].iter().any(|p| l.starts_with(p)))
        .map(|l| shorten(l, 160));
    found
}

fn npm_error_lines(text: &str) -> impl Iterator<Item = &str> {
    text.lines().filter_map(|l| l.strip_prefix("npm error ").or_else(|| l.strip_prefix("npm ERR! ")))
}

/// When npm failed because the registry could not be reached: its own
/// words for it (e.g. `request to http://127.0.0.1:9/harperdb failed,
/// reason: connect ECONNREFUSED 127.0.0.1:9`).
fn npm_network_error(path: &Path) -> Option<String> {
    const NETWORK: [&str; 8] =
        ["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "ETIMEDOUT", "ECONNRESET", "ENETUNREACH", "EHOSTUNREACH", "ERR_SOCKET_TIMEOUT"];
    let text = tail(path, 64 * 1024);
    let code = npm_error_lines(&text).find_map(|l| l.strip_prefix("code "))?.trim();
    if !NETWORK.contains(&code) {
        return None;
    }
    let detail = npm_error_lines(&text)
        .find_map(|l| l.split_once("FetchError: ").map(|(_, d)| d.to_string()))
        .unwrap_or_else(|| code.to_string());
    Some(shorten(&detail, 160))
}

fn last_line(path: &Path) -> Option<String> {
    let text = tail(path, 4096);
    text.lines().rev().find(|l| !l.trim().is_empty()).map(|l| shorten(l, 100))
}

/// The last `max` bytes of a file, as text ("" when unreadable).
pub fn tail(path: &Path, max: u64) -> String {
    let Ok(mut f) = File::open(path) else { return String::new() };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = f.seek(SeekFrom::Start(len.saturating_sub(max)));
    let mut buf = Vec::new();
    let _ = f.read_to_end(&mut buf);
    String::from_utf8_lossy(&buf).into_owned()
}

/// A loopback address whose node ports were free when probed, held by a lock
/// file so a concurrent blobfail run does not pick it too.
#[derive(Debug)]
pub struct ReservedAddress {
    pub ip: Ipv4Addr,
    _lock: nix::fcntl::Flock<File>,
}

/// Where the nodes listen and how long they get to start.
#[derive(Debug, Clone)]
pub struct Options {
    /// Exactly these loopback addresses (`--addresses`), one per node, in
    /// order; none: free ones are picked.
    pub addresses: Option<Vec<Ipv4Addr>>,
    /// How long every node gets to answer its operations API after launch.
    pub start_timeout: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options { addresses: None, start_timeout: Duration::from_secs(120) }
    }
}

fn lock_dir() -> Result<PathBuf> {
    // Per user: another user's lock folder would not be writable. Runs of
    // different users still never share an address, thanks to the port probe.
    let lock_dir = std::env::temp_dir().join(format!("blobfail-address-locks-{}", nix::unistd::getuid()));
    fs::create_dir_all(&lock_dir).with_context(|| format!("failed to create {}", lock_dir.display()))?;
    Ok(lock_dir)
}

/// Reserves exactly `ips` (from `--addresses`): each must be free of other
/// blobfail runs, and every node port on it must bind.
pub fn reserve_pinned(ips: &[Ipv4Addr]) -> Result<Vec<ReservedAddress>> {
    let lock_dir = lock_dir()?;
    let mut picked = Vec::new();
    for &ip in ips {
        let path = lock_dir.join(format!("{ip}.lock"));
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .with_context(|| format!("failed to open the address lock {}", path.display()))?;
        let lock = nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock).map_err(|_| {
            anyhow!("address {ip} is in use by another blobfail run (it holds {}): pass other --addresses, or leave --addresses out to let blobfail pick free ones", path.display())
        })?;
        for port in NODE_PORTS {
            if let Err(e) = TcpListener::bind(SocketAddrV4::new(ip, port)) {
                bail!(
                    "{ip}:{port} is already taken ({e}): stop what listens there, pass other --addresses, \
                     or leave --addresses out to let blobfail pick free ones"
                );
            }
        }
        picked.push(ReservedAddress { ip, _lock: lock });
    }
    Ok(picked)
}

/// Picks `count` loopback addresses (127.0.0.2 and up) whose node ports all
/// bind right now and that no other blobfail run holds.
pub fn reserve_addresses(count: usize) -> Result<Vec<ReservedAddress>> {
    let lock_dir = lock_dir()?;
    let mut picked = Vec::new();
    'candidates: for n in 2u32..(1 << 16) {
        let ip = Ipv4Addr::from(0x7f00_0000u32 + n);
        if ip.octets()[3] == 0 || ip.octets()[3] == 255 {
            continue;
        }
        let Ok(file) = OpenOptions::new().create(true).truncate(false).write(true).open(lock_dir.join(format!("{ip}.lock")))
        else {
            continue;
        };
        let Ok(lock) = nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock) else {
            continue;
        };
        for port in NODE_PORTS {
            if TcpListener::bind(SocketAddrV4::new(ip, port)).is_err() {
                continue 'candidates;
            }
        }
        picked.push(ReservedAddress { ip, _lock: lock });
        if picked.len() == count {
            return Ok(picked);
        }
    }
    bail!("found no free loopback address with ports {NODE_PORTS:?} free in 127.0.0.0/16")
}

/// Whether anything accepts TCP connections on `ip:port`.
pub fn is_listening(ip: Ipv4Addr, port: u16) -> bool {
    TcpStream::connect_timeout(&SocketAddrV4::new(ip, port).into(), Duration::from_millis(300)).is_ok()
}

/// The component both nodes run: the blob-save table (a `LargeLocation`
/// whose source makes a 50 KiB blob per record, far above Harper's 8 KiB
/// in-record limit, so every record's blob goes to a file) and the
/// backlog-memory table.
pub const COMPONENT_NAME: &str = "blobfail";
pub const COMPONENT_FILES: [(&str, &str); 4] = [
    ("package.json", "{\"name\":\"blobfail-component\",\"type\":\"module\",\"version\":\"1.0.0\",\"private\":true}\n"),
    ("config.yaml", "rest: true\ngraphqlSchema:\n  files: 'schema.graphql'\njsResource:\n  files: 'resources.js'\n"),
    (
        "schema.graphql",
        "type LargeLocation @table @export { id: ID @primaryKey  name: String  image: Blob }\n\
         type Load @table @export { id: ID @primaryKey  payload: String }\n",
    ),
    (
        "resources.js",
        "import { Readable } from 'node:stream';\n\
         // Every record gets a blob of BLOB_BYTES bytes, well over the 8 KiB that\n\
         // Harper keeps inside the record, so the blob is written to a file.\n\
         export const BLOB_BYTES = 50 * 1024;\n\
         class LargeSource extends Resource {\n\
         \x20 async get() {\n\
         \x20   const id = this.getId();\n\
         \x20   return { id, name: 'loc' + id, image: createBlob(Readable.from([Buffer.alloc(BLOB_BYTES, 1)])) };\n\
         \x20 }\n\
         }\n\
         tables.LargeLocation.sourcedFrom(LargeSource);\n",
    ),
];

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
}

/// A node process: its spec, the child, and how it ended if it did.
pub struct Node {
    pub spec: NodeSpec,
    pub api: NodeApi,
    child: Option<tokio::process::Child>,
    pub pid: Option<u32>,
    pub exited: Option<ExitStatus>,
    /// Every pid this node ran as (a restart makes a new one).
    pub pids: Vec<u32>,
    /// The last exit was blobfail's own doing (`stop`), not the node's.
    stopped_by_driver: bool,
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

/// Two (or more) nodes, each in its own process group. Dropping the cluster
/// stops every node it started unless `keep` was set: that is the guard that
/// makes teardown happen on errors, panics and Ctrl-C too.
pub struct Cluster {
    pub harper: Harper,
    pub nodes: Vec<Node>,
    pub password: String,
    pub keep: bool,
    pub stops: Vec<StopRecord>,
    start_timeout: Duration,
    /// Where the nodes and their stops are recorded for an interrupted run's report.
    journal: Journal,
    _addresses: Vec<ReservedAddress>,
}

impl Cluster {
    /// Reserves addresses and installs one node per name under `out/node-<name>`.
    pub async fn provision(harper: Harper, out: &Path, names: &[&str], opts: &Options, progress: &Progress) -> Result<Cluster> {
        let addresses = match &opts.addresses {
            Some(ips) if ips.len() != names.len() => {
                bail!("--addresses needs {} addresses (one per node), got {}", names.len(), ips.len())
            }
            Some(ips) => reserve_pinned(ips)?,
            None => reserve_addresses(names.len())?,
        };
        let password: String = {
            use rand::Rng;
            rand::thread_rng().sample_iter(&rand::distributions::Alphanumeric).take(20).map(char::from).collect()
        };
        let mut nodes = Vec::new();
        for (name, addr) in names.iter().zip(&addresses) {
            let dir = out.join(format!("node-{name}"));
            let root = dir.join("root");
            // Harper listens on a unix socket inside its root; sun_path holds 107 bytes.
            let socket = root.join("operations-server");
            if socket.as_os_str().len() > 100 {
                bail!(
                    "the run folder path is too long for harper's unix socket ({}): pass a shorter --out",
                    socket.display()
                );
            }
            let spec = NodeSpec {
                name: name.to_string(),
                ip: addr.ip,
                home: dir.join("home"),
                stdout: dir.join("stdout.log"),
                stderr: dir.join("stderr.log"),
                hdb_log: root.join("log/hdb.log"),
                root,
                dir,
                env: Vec::new(),
            };
            let api = NodeApi::new(name, addr.ip, ADMIN_USER, &password)?;
            nodes.push(Node { spec, api, child: None, pid: None, exited: None, pids: Vec::new(), stopped_by_driver: false });
        }
        let journal = progress.journal().clone();
        journal.harper(json!(harper));
        let cluster = Cluster {
            harper,
            nodes,
            password,
            keep: false,
            stops: Vec::new(),
            start_timeout: opts.start_timeout,
            journal,
            _addresses: addresses,
        };
        // Written now, so the nodes' addresses and install processes are
        // on record even if the install is interrupted.
        cluster.write_manifest()?;
        let step = progress.step(&format!(
            "installing {} harper {} nodes on {}",
            names.len(),
            cluster.harper.version,
            cluster.nodes.iter().map(|n| n.spec.ip.to_string()).collect::<Vec<_>>().join(", ")
        ));
        let installs: Vec<_> = cluster
            .nodes
            .iter()
            .map(|n| install_node(&cluster.harper, &n.spec, &cluster.password))
            .collect();
        for r in futures::future::join_all(installs).await {
            r?;
        }
        step.finish("installed");
        Ok(cluster)
    }

    pub fn node(&self, name: &str) -> &Node {
        self.nodes.iter().find(|n| n.spec.name == name).expect("node exists")
    }

    pub fn node_mut(&mut self, name: &str) -> &mut Node {
        self.nodes.iter_mut().find(|n| n.spec.name == name).expect("node exists")
    }

    /// Starts the named nodes and waits until each answers its operations API.
    pub async fn start(&mut self, names: &[&str], progress: &Progress) -> Result<()> {
        let step = progress.step(&format!("starting node {}", names.join(" and ")));
        for name in names {
            let harper = self.harper.clone();
            self.node_mut(name).spawn(&harper)?;
        }
        self.write_manifest()?;
        let bound = self.start_timeout;
        let start = Instant::now();
        let mut ready = vec![false; names.len()];
        while ready.iter().any(|r| !r) {
            for (i, name) in names.iter().enumerate() {
                if ready[i] {
                    continue;
                }
                let node = self.node_mut(name);
                if let Some(end) = node.end() {
                    return Err(end.into_error());
                }
                let probe = node.api.op(json!({"operation":"user_info"}), Duration::from_secs(2)).await;
                if let Err(e) = &probe {
                    tracing::debug!(node = %name, "not ready yet: {e:#}");
                }
                ready[i] = probe.is_ok();
            }
            if start.elapsed() > bound {
                let waiting: Vec<&str> = names.iter().zip(&ready).filter(|(_, r)| !**r).map(|(n, _)| *n).collect();
                bail!(
                    "node {} did not answer its operations API within {:.0} s (--start-timeout): see {}; \
                     a slow machine may need a longer --start-timeout",
                    waiting.join(" and "),
                    bound.as_secs_f64(),
                    waiting
                        .iter()
                        .map(|n| {
                            let s = &self.node(n).spec;
                            format!("{} and {}", s.stdout.display(), s.hdb_log.display())
                        })
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
            step.set_message(&format!("{} s", start.elapsed().as_secs()));
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        step.finish(&format!("ready in {:.1} s", start.elapsed().as_secs_f64()));
        Ok(())
    }

    /// Starts a stopped node again on the same root and address, without
    /// waiting for it (the caller watches it come up).
    pub fn restart(&mut self, name: &str) -> Result<()> {
        let harper = self.harper.clone();
        self.node_mut(name).spawn(&harper)?;
        self.write_manifest()
    }

    /// `cluster.json` beside the nodes: their addresses, pids and logs, so a
    /// person (or a test) can find every process of the run even when the
    /// run ends without a report.
    fn write_manifest(&self) -> Result<()> {
        let Some(first) = self.nodes.first() else { return Ok(()) };
        let out = first.spec.dir.parent().expect("node dir is inside the run folder");
        let nodes: Vec<Value> = self.nodes.iter().map(Node::describe).collect();
        self.journal.nodes(nodes.clone());
        crate::report::write_json_atomic(&out.join("cluster.json"), &json!({ "nodes": nodes }))
    }

    /// Joins `joiner` to `target` with `add_node` and waits until each shows
    /// the other connected on every database socket.
    pub async fn join(&mut self, joiner: &str, target: &str, progress: &Progress) -> Result<()> {
        let step = progress.step(&format!("joining node {joiner} to node {target}"));
        let start = Instant::now();
        let bound = Duration::from_secs(90);
        let target_ip = self.node(target).spec.ip;
        // add_node connects to the target's replication port: wait for it.
        while !is_listening(target_ip, REPLICATION_PORT) {
            self.check_alive()?;
            if start.elapsed() > bound {
                bail!("node {target} never listened on {target_ip}:{REPLICATION_PORT} (replication)");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let body = json!({
            "operation": "add_node",
            "hostname": target_ip.to_string(),
            "rejectUnauthorized": false,
            "authorization": {"username": ADMIN_USER, "password": self.password},
        });
        loop {
            self.check_alive()?;
            let err = match self.node(joiner).api.op(body.clone(), Duration::from_secs(30)).await {
                Ok(_) => break,
                Err(e) => e,
            };
            tracing::debug!("add_node not accepted yet: {err:#}");
            if start.elapsed() > bound {
                return Err(err).context(format!("add_node of {target} on node {joiner} kept failing"));
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        loop {
            self.check_alive()?;
            let a = peer_connected(&self.node(joiner).api, &target_ip.to_string()).await;
            let b = peer_connected(&self.node(target).api, &self.node(joiner).spec.ip.to_string()).await;
            if matches!((&a, &b), (Ok(true), Ok(true))) {
                break;
            }
            if start.elapsed() > bound {
                bail!(
                    "nodes {joiner} and {target} did not both show each other connected within {} s \
                     (cluster_status: {joiner} sees {target}: {a:?}, {target} sees {joiner}: {b:?})",
                    bound.as_secs()
                );
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        step.finish(&format!("connected in {:.1} s", start.elapsed().as_secs_f64()));
        Ok(())
    }

    /// An error naming the first node that has died, with its last words.
    pub fn check_alive(&mut self) -> Result<()> {
        for node in &mut self.nodes {
            if let Some(end) = node.end() {
                return Err(end.into_error());
            }
        }
        Ok(())
    }

    /// An `Interrupted` error if a node was stopped from outside the run (a
    /// crash is left for the checks to report).
    pub fn check_outside(&mut self) -> Result<()> {
        for node in &mut self.nodes {
            if let Some(end @ NodeEnd::StoppedFromOutside { .. }) = node.end() {
                return Err(end.into_error());
            }
        }
        Ok(())
    }

    /// Runs `fut` while watching the nodes every 200 ms: a node stopped
    /// from outside ends the wait at once with `Interrupted`; a crash does
    /// not (it is evidence for the checks, gathered afterwards).
    pub async fn supervise<T>(&mut self, fut: impl std::future::Future<Output = T>) -> Result<T> {
        let mut fut = std::pin::pin!(fut);
        loop {
            tokio::select! {
                out = &mut fut => {
                    self.check_outside()?;
                    return Ok(out);
                }
                _ = tokio::time::sleep(Duration::from_millis(200)) => self.check_outside()?,
            }
        }
    }

    /// Stops every node still running (SIGTERM to its group, a grace period,
    /// then SIGKILL). Safe to call more than once.
    pub fn teardown(&mut self) {
        for node in &mut self.nodes {
            if let Some(rec) = node.stop(STOP_GRACE) {
                self.journal.stopped(json!(rec));
                self.stops.push(rec);
            }
        }
    }

    /// What to tell the user when `--keep` leaves the cluster running.
    pub fn keep_instructions(&self) -> String {
        let mut s = String::from("the cluster is left running (--keep):\n");
        for n in &self.nodes {
            if let Some(pid) = n.pid {
                s.push_str(&format!(
                    "  node {}: pid {pid} (process group {pid}), operations http://{}:9925/ , REST http://{}:9926/ , log {}\n",
                    n.spec.name,
                    n.spec.ip,
                    n.spec.ip,
                    n.spec.hdb_log.display()
                ));
            }
        }
        s.push_str(&format!("  user admin, password {}\n", self.password));
        let pgids: Vec<String> = self.nodes.iter().filter_map(|n| n.pid).map(|p| format!("-{p}")).collect();
        s.push_str(&format!("  stop it with: kill -TERM -- {}", pgids.join(" ")));
        s
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // Nodes still running here mean the scenario did not finish (an
        // error, a panic, Ctrl-C): the phase under way ended when it stopped,
        // and this teardown is timed as a phase of its own.
        if !self.keep && self.nodes.iter().any(|n| n.child.is_some()) {
            self.journal.cut_short();
            let start = Instant::now();
            self.teardown();
            self.journal.leave("teardown", (start.elapsed().as_secs_f64() * 1000.0).round() / 1000.0);
        }
    }
}

async fn peer_connected(api: &NodeApi, peer_ip: &str) -> Result<bool> {
    let status = api.cluster_status().await?;
    Ok(crate::checks::peer_sockets(&status, peer_ip).is_some_and(|s| s.all_connected()))
}

/// `harperdb install`, non-interactive, every listener on the node's own address.
async fn install_node(harper: &Harper, spec: &NodeSpec, password: &str) -> Result<()> {
    fs::create_dir_all(&spec.home).with_context(|| format!("failed to create {}", spec.home.display()))?;
    let log_path = spec.dir.join("install.log");
    let log = File::create(&log_path)?;
    let ip = spec.ip;
    let mut cmd = tokio::process::Command::new(&harper.node);
    cmd.arg(&harper.cli)
        .arg("install")
        .arg("--TC_AGREEMENT=yes")
        .arg(format!("--ROOTPATH={}", spec.root.display()))
        .arg(format!("--HDB_ADMIN_USERNAME={ADMIN_USER}"))
        .arg(format!("--HDB_ADMIN_PASSWORD={password}"))
        .args(["--THREADS_COUNT=1", "--THREADS_DEBUG=false", "--LOGGING_STDSTREAMS=false"])
        .arg(format!("--NODE_HOSTNAME={ip}"))
        .arg(format!("--REPLICATION_HOSTNAME={ip}"))
        .arg(format!("--HTTP_PORT={ip}:9926"))
        .arg(format!("--OPERATIONSAPI_NETWORK_PORT={ip}:9925"))
        .arg(format!("--MQTT_NETWORK_PORT={ip}:1883"))
        .arg(format!("--MQTT_NETWORK_SECUREPORT={ip}:8883"))
        .arg(format!("--REPLICATION_SECUREPORT={ip}:9933"))
        .env("HOME", &spec.home)
        .env_remove("LD_PRELOAD")
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .process_group(0)
        .kill_on_drop(true);
    let mut child = cmd.spawn().with_context(|| format!("failed to run harper install for node {}", spec.name))?;
    let mut group = GroupKill(child.id());
    let status = tokio::time::timeout(Duration::from_secs(180), child.wait())
        .await
        .map_err(|_| anyhow!("harper install of node {} took over 180 s; see {}", spec.name, log_path.display()))?
        .with_context(|| format!("failed to run harper install for node {}", spec.name))?;
    group.0 = None;
    if !status.success() || !spec.root.join("harperdb-config.yaml").is_file() {
        bail!(
            "harper install of node {} failed ({status}): {}; see {}",
            spec.name,
            last_line(&log_path).unwrap_or_default(),
            log_path.display()
        );
    }
    let comp = spec.root.join("components").join(COMPONENT_NAME);
    fs::create_dir_all(&comp)?;
    for (file, text) in COMPONENT_FILES {
        fs::write(comp.join(file), text).with_context(|| format!("failed to write the component into {}", comp.display()))?;
    }
    Ok(())
}

impl Node {
    fn spawn(&mut self, harper: &Harper) -> Result<()> {
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
        for (k, v) in &self.spec.env {
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
        self.end().map(NodeEnd::into_text)
    }

    /// How the node ended, if it has ended without blobfail stopping it.
    pub fn end(&mut self) -> Option<NodeEnd> {
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
            EndKind::Crashed => NodeEnd::Crashed(format!(
                "node {name} (pid {pid}) died: {}{}; last lines: {last}; log {log}",
                describe_exit(st),
                if oom { format!(" ({WORKER_OOM} in its output)") } else { String::new() },
            )),
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
                    "another process (a person, a supervisor, a script) stopped it".to_string()
                };
                let short = format!("node {name} (pid {pid}) was stopped from outside the run: {how}; {who}");
                let text = format!("{short}; last lines: {last}; log {log}");
                NodeEnd::StoppedFromOutside { node: name.clone(), short, text }
            }
        })
    }

    /// SIGTERM to the node's process group, up to `grace` for it to go, then
    /// SIGKILL. Waits for the leader to be reaped and the group to be empty.
    pub fn stop(&mut self, grace: Duration) -> Option<StopRecord> {
        let mut child = self.child.take()?;
        let pid = self.pid?;
        let pgid = Pid::from_raw(pid as i32);
        let start = Instant::now();
        // A node that already ended on its own keeps that end (a crash, or a
        // kill from outside): only what this call stops counts as blobfail's.
        let mut status = self.exited.or_else(|| child.try_wait().ok().flatten());
        self.stopped_by_driver = status.is_none();
        let mut signal = if status.is_none() { "SIGTERM" } else { "none (had already exited)" };
        let _ = killpg(pgid, Signal::SIGTERM);
        let bound = grace + Duration::from_secs(10);
        loop {
            if status.is_none() {
                status = child.try_wait().ok().flatten();
            }
            // The group is gone once its leader is reaped and no member is left.
            let group_alive = killpg(pgid, None).is_ok();
            if status.is_some() && !group_alive {
                break;
            }
            if start.elapsed() > grace && signal != "SIGKILL" {
                signal = "SIGKILL";
                let _ = killpg(pgid, Signal::SIGKILL);
            }
            if start.elapsed() > bound {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let status = status.or(self.exited);
        self.exited = status;
        tracing::debug!(node = %self.spec.name, pid, signal, elapsed = ?start.elapsed(), ?status, "stopped node");
        Some(StopRecord {
            node: self.spec.name.clone(),
            pid,
            signal,
            seconds: start.elapsed().as_secs_f64(),
            exit: status.map(describe_exit).unwrap_or_else(|| "still running".into()),
        })
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
        })
    }
}

/// What a worker running out of memory prints (a crash of the node's own).
pub const WORKER_OOM: &str = "ERR_WORKER_OUT_OF_MEMORY";

/// How a node ended without blobfail stopping it.
#[derive(Debug, Clone)]
pub enum NodeEnd {
    /// It crashed on its own (a non-zero exit, SIGABRT, SIGSEGV, a worker out
    /// of memory): under faults, that is a finding the checks report.
    Crashed(String),
    /// It was stopped by a signal blobfail did not send: the run could not
    /// be completed as planned, so what needed the node cannot be decided.
    /// `short` says what happened; `text` adds the node's last output and log.
    StoppedFromOutside { node: String, short: String, text: String },
}

impl NodeEnd {
    pub fn into_text(self) -> String {
        match self {
            NodeEnd::Crashed(t) | NodeEnd::StoppedFromOutside { text: t, .. } => t,
        }
    }

    /// The error that ends the run: `Interrupted` for a stop from outside
    /// (the run writes a partial report), a plain error for a crash.
    pub fn into_error(self) -> anyhow::Error {
        match self {
            NodeEnd::Crashed(t) => anyhow!("{t}"),
            NodeEnd::StoppedFromOutside { node, short, text } => anyhow::Error::new(Interrupted { node, short, text }),
        }
    }
}

/// A node of the run was stopped from outside: the scenario ends early and
/// the driver writes a partial report in which the checks that needed the
/// node are unknown, with `text` as the reason.
#[derive(Debug, Clone)]
pub struct Interrupted {
    pub node: String,
    pub short: String,
    pub text: String,
}

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::error::Error for Interrupted {}

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
    fn an_address_held_by_another_run_or_with_a_busy_port_is_skipped() {
        let first = reserve_addresses(1).unwrap().pop().unwrap();
        // The lock: while `first` is held, nobody else gets its address.
        let second = reserve_addresses(1).unwrap().pop().unwrap();
        assert_ne!(first.ip, second.ip);
        // The probe: released but with a node port taken, it is skipped too.
        let ip = first.ip;
        drop(first);
        let _busy = TcpListener::bind(SocketAddrV4::new(ip, 9933)).unwrap();
        let third = reserve_addresses(1).unwrap().pop().unwrap();
        assert_ne!(third.ip, ip);
        assert_ne!(third.ip, second.ip);
        assert!(is_listening(ip, 9933));
        assert!(!is_listening(third.ip, 9925));
    }

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

    #[test]
    fn versions_and_cli_locations_are_recognised() {
        assert!(looks_like_version("4.7.29"));
        assert!(looks_like_version("5.0.17-beta.1"));
        assert!(!looks_like_version("hello"));
        assert!(!looks_like_version("4"));
        let dir = std::env::temp_dir().join(format!("blobfail-cli-test-{}", std::process::id()));
        fs::create_dir_all(dir.join("dist/bin")).unwrap();
        fs::write(dir.join("dist/bin/harper.js"), "").unwrap();
        assert_eq!(harper_cli_in(&dir).unwrap(), dir.join("dist/bin/harper.js"));
        assert!(harper_cli_in(&dir.join("nope")).is_err());
        fs::remove_dir_all(&dir).unwrap();
    }
}
