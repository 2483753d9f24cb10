//! A cache of each node's freshly installed root, so that a run copies a
//! root instead of letting Harper install one (about 5.6 s of CPU per node:
//! an RSA-4096 JWT pair, the node's certificate, one more bundle load).
//!
//! **What an entry is.** Everything that makes one install differ from
//! another is in its key: Harper's version and CLI (path, size, mtime), the
//! install settings (the node's address, which its certificate names, its
//! ports, the admin user and a scenario's own settings; not `ROOTPATH`),
//! the component's files, and the cache's password. The password is the
//! cache's own (`password`, mode 0600, in a folder of mode 0700): an admin
//! user's password is stored hashed inside the root, so a run on a cached
//! root must use it; a key naming a run's fresh password would never be
//! found again. Each node has its own entry, so its own JWT pair and
//! certificate: one pair shared between nodes made B refuse the run's own
//! login (`401 Login failed`, 2 runs in 10; BENCHMARKS.md).
//!
//! **When it is filled.** A missing entry is filled by a throwaway node of
//! its own, before the run's node starts: installed by a first start in a
//! folder of its own (in the temporary folder: see `fill` for why), started
//! until its operations API answers, stopped with SIGTERM, and kept only if
//! it exited 0. That is a
//! well-defined state: a root that has installed, loaded the component and
//! shut down cleanly, holding no run's records. (Taking the run's own root
//! after its first start would be too late: by then it holds the run's data
//! and its logs.) Its pid file, socket, LMDB lock files, log and config
//! backups are dropped; the rest is copied into a staging folder in the
//! cache, then renamed into place, so a half-filled entry is never taken
//! for one.
//!
//! **What a copy changes.** An installed root is not relocatable:
//! `harperdb-config.yaml` names its root (`rootPath`, `componentsRoot`,
//! `logging.root`, `logging.rotation.path`, `storage.path`, the operations
//! `domainSocket`, `tls.privateKey`) and the HOME's boot properties name
//! the config. Nothing else does (a search of a whole installed root,
//! LMDB files included, for its path found only those two files and the
//! config's backup, which is not cached). A copy rewrites those two files to
//! name the copy; the cached original names the install's folder, removed
//! once cached, so a path left unrewritten fails loudly instead of writing
//! into the cache.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::harper::Harper;
use super::install::{self, COMPONENT_FILES, COMPONENT_NAME};
use super::node::{Node, NodeSpec};
use crate::api::NodeApi;

const PASSWORD_FILE: &str = "password";
/// Written last into a staging entry: the paths the root was installed at.
const ENTRY_FILE: &str = "entry.json";
const CONFIG: &str = "harperdb-config.yaml";
const BOOT_PROPS: &str = ".harperdb/hdb_boot_properties.file";
/// Settings that do not make an install differ: where it is, and the
/// password (the cache's own, keyed as a whole below).
const NOT_KEYED: [&str; 2] = ["ROOTPATH", "HDB_ADMIN_PASSWORD"];

/// The cache folder (`<cache>/roots`) and its password.
#[derive(Debug)]
pub struct RootCache {
    dir: PathBuf,
    password: String,
}

/// One node whose entry is missing, to fill.
pub struct Miss<'a> {
    pub spec: &'a NodeSpec,
    pub key: String,
}

impl RootCache {
    /// Opens (creating) the cache folder, mode 0700, and its password file,
    /// mode 0600 (made once, by whichever run comes first).
    pub fn open(dir: PathBuf) -> Result<RootCache> {
        fs::DirBuilder::new().recursive(true).mode(0o700).create(&dir).with_context(|| format!("failed to create {}", dir.display()))?;
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o700))?;
        // Fills of runs that were killed (their process is gone) are removed.
        for (folder, prefix) in [(dir.clone(), ".fill-"), (std::env::temp_dir(), "blobfail-fill-")] {
            for e in fs::read_dir(&folder).into_iter().flatten().flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                let pid = name.strip_prefix(prefix).and_then(|r| r.split('-').next()).and_then(|p| p.parse::<i32>().ok());
                if pid.is_some_and(|p| nix::sys::signal::kill(nix::unistd::Pid::from_raw(p), None).is_err()) {
                    let _ = fs::remove_dir_all(e.path());
                }
            }
        }
        let path = dir.join(PASSWORD_FILE);
        if !path.exists() {
            let password: String = {
                use rand::Rng;
                rand::thread_rng().sample_iter(&rand::distributions::Alphanumeric).take(24).map(char::from).collect()
            };
            let tmp = dir.join(format!(".password-{}", std::process::id()));
            let mut f = OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp)?;
            f.write_all(password.as_bytes())?;
            f.sync_all()?;
            // A hard link fails if another run made the file first: theirs stays.
            let _ = fs::hard_link(&tmp, &path);
            let _ = fs::remove_file(&tmp);
        }
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600))?;
        let password = fs::read_to_string(&path).with_context(|| format!("failed to read {}", path.display()))?.trim().to_string();
        if password.len() < 16 {
            bail!("{} holds no usable password: remove the folder {} to start the cache afresh", path.display(), dir.display());
        }
        Ok(RootCache { dir, password })
    }

    /// The admin password of every root in this cache.
    pub fn password(&self) -> &str {
        &self.password
    }

    /// The entry key of a node installed with `settings` (its install
    /// environment) by `harper`.
    pub fn key(&self, harper: &Harper, settings: &[(String, String)]) -> String {
        key(harper, settings, &self.password)
    }

    fn entry(&self, key: &str) -> PathBuf {
        self.dir.join(key)
    }

    /// Whether the entry is complete (the rename of a staging entry is the
    /// last step of a fill).
    pub fn has(&self, key: &str) -> bool {
        self.entry(key).join(ENTRY_FILE).is_file()
    }

    /// Copies the entry into `root` and `home` (the run's node folders,
    /// already made), then rewrites its paths to name them.
    pub fn copy_into(&self, key: &str, root: &Path, home: &Path) -> Result<()> {
        let entry = self.entry(key);
        let at: serde_json::Value = serde_json::from_str(&fs::read_to_string(entry.join(ENTRY_FILE))?)?;
        let (old_root, old_home) = match (at["root"].as_str(), at["home"].as_str()) {
            (Some(r), Some(h)) => (r.to_string(), h.to_string()),
            _ => bail!("{} names no root and home", entry.join(ENTRY_FILE).display()),
        };
        copy_tree(&entry.join("root"), root)?;
        copy_tree(&entry.join("home"), home)?;
        let (new_root, new_home) = (root.display().to_string(), home.display().to_string());
        for file in [root.join(CONFIG), home.join(BOOT_PROPS)] {
            let text = fs::read_to_string(&file).with_context(|| format!("failed to read {}", file.display()))?;
            let text = rewrite(&text, &[(&old_root, &new_root), (&old_home, &new_home)]);
            if text.contains(&old_root) || text.contains(self.dir.to_string_lossy().as_ref()) {
                bail!("{} still names the cached root after the rewrite", file.display());
            }
            fs::write(&file, text).with_context(|| format!("failed to write {}", file.display()))?;
        }
        Ok(())
    }

    /// Fills the missing entries, each by a throwaway node of its own (see
    /// the module's comment), all at once. Nothing is kept of a node that
    /// did not start or stop cleanly.
    pub async fn fill(&self, harper: &Harper, misses: &[Miss<'_>], bound: Duration) -> Result<()> {
        let mut staged = Staged { nodes: Vec::new(), dirs: Vec::new() };
        for (i, m) in misses.iter().enumerate() {
            // Installed in the temporary folder, not in the cache: Harper
            // 4.7.29's install spins at 100% CPU for ever, its config never
            // written, for some lengths of its root path (roots of 41, 45
            // and 85 bytes did, 26, 30, 51 and 73 did not; the spin follows
            // its read of the default config, so likely in the YAML writer
            // folding a line over 80 characters). The longest config line
            // is the operations socket's (`    domainSocket: <root>/operations-server`):
            // a root of at most 43 bytes keeps every line under 80.
            let dir = std::env::temp_dir().join(format!("blobfail-fill-{}-{i}", std::process::id()));
            if dir.join("root").as_os_str().len() > 43 {
                bail!("the temporary folder {} is too long to install a root for the cache in", std::env::temp_dir().display());
            }
            let _ = fs::remove_dir_all(&dir);
            fs::DirBuilder::new().mode(0o700).create(&dir).with_context(|| format!("failed to create {}", dir.display()))?;
            staged.dirs.push(dir.clone());
            staged.dirs.push(self.dir.join(format!(".fill-{}-{i}", std::process::id())));
            let spec = NodeSpec {
                name: m.spec.name.clone(),
                ip: m.spec.ip,
                root: dir.join("root"),
                home: dir.join("home"),
                stdout: dir.join("stdout.log"),
                stderr: dir.join("stderr.log"),
                hdb_log: dir.join("root/log/hdb.log"),
                dir: dir.clone(),
                // The run's extra environment (a fault plan) is never armed here.
                env: Vec::new(),
                install_args: m.spec.install_args.clone(),
            };
            fs::create_dir_all(&spec.root)?;
            install::prepare_node(&spec)?;
            let env = install::install_env(&spec, super::ADMIN_USER, &self.password);
            let mut node = Node::new(spec.clone(), NodeApi::new(&spec.name, spec.ip, super::ADMIN_USER, &self.password)?);
            node.spawn(harper, &env)?;
            staged.nodes.push(node);
        }
        let start = Instant::now();
        let mut ready = vec![false; staged.nodes.len()];
        while ready.iter().any(|r| !r) {
            for (node, ready) in staged.nodes.iter_mut().zip(ready.iter_mut()).filter(|(_, r)| !**r) {
                if let Some(end) = node.end() {
                    return Err(anyhow::Error::from(end).context("the node installing a root for the cache died"));
                }
                *ready = node.api().op(json!({"operation":"user_info"}), Duration::from_secs(2)).await.is_ok();
            }
            if start.elapsed() > bound {
                bail!("a node installing a root for the cache did not answer within {:.0} s", bound.as_secs_f64());
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let nodes = std::mem::take(&mut staged.nodes);
        let dirs = staged.dirs.clone();
        for ((mut node, m), dirs) in nodes.into_iter().zip(misses).zip(dirs.chunks(2)) {
            let rec = node.stop(super::STOP_GRACE).await.ok_or_else(|| anyhow!("the caching node was not running"))?;
            if rec.signal != "SIGTERM" || rec.exit != "exit status 0" {
                bail!("the node installing a root for the cache did not stop cleanly ({}, {})", rec.signal, rec.exit);
            }
            commit(&dirs[0], &dirs[1], &self.entry(&m.key)).with_context(|| format!("failed to cache {}", dirs[0].display()))?;
        }
        // The folders left (the installs, in the temporary folder) go with `staged`.
        Ok(())
    }
}

/// The nodes and staging folders of a fill under way: stopped and removed
/// if the fill ends early (an error, Ctrl-C).
struct Staged {
    nodes: Vec<Node>,
    dirs: Vec<PathBuf>,
}

impl Drop for Staged {
    fn drop(&mut self) {
        for n in &mut self.nodes {
            n.stop_blocking(super::STOP_GRACE);
        }
        for d in &self.dirs {
            let _ = fs::remove_dir_all(d);
        }
    }
}

/// Drops what belongs to one start, not to the install (pid file, socket,
/// LMDB lock files, the log, the config's backups), copies the rest of
/// `installed` (its root and home) into `staging` in the cache with where
/// it was installed, and renames that into place (or leaves a concurrent
/// run's entry in place).
fn commit(installed: &Path, staging: &Path, entry: &Path) -> Result<()> {
    let root = installed.join("root");
    for f in ["hdb.pid", "operations-server"] {
        let _ = fs::remove_file(root.join(f));
    }
    for d in ["log", "backup"] {
        let _ = fs::remove_dir_all(root.join(d));
    }
    fs::create_dir_all(root.join("log"))?;
    for e in fs::read_dir(root.join("database"))?.flatten() {
        if e.file_name().to_string_lossy().ends_with("-lock") {
            fs::remove_file(e.path())?;
        }
    }
    let _ = fs::remove_dir_all(staging);
    fs::DirBuilder::new().mode(0o700).create(staging)?;
    copy_tree(&root, &staging.join("root"))?;
    copy_tree(&installed.join("home"), &staging.join("home"))?;
    let at = json!({"root": root, "home": installed.join("home")});
    fs::write(staging.join(ENTRY_FILE), serde_json::to_vec_pretty(&at)?)?;
    match fs::rename(staging, entry) {
        Ok(()) => Ok(()),
        Err(_) if entry.join(ENTRY_FILE).is_file() => {
            fs::remove_dir_all(staging)?;
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

/// The key: readable (`<version>-<address>-`) then 16 hex digits of a
/// SHA-256 of everything that makes an install differ.
pub fn key(harper: &Harper, settings: &[(String, String)], password: &str) -> String {
    let mut h = Sha256::new();
    let mut field = |name: &str, value: &[u8]| {
        h.update(name.as_bytes());
        h.update((value.len() as u64).to_le_bytes());
        h.update(value);
    };
    field("blobfail root cache", b"1");
    field("version", harper.version.as_bytes());
    field("cli", harper.cli.to_string_lossy().as_bytes());
    field("node", harper.node.to_string_lossy().as_bytes());
    if let Ok(m) = fs::metadata(&harper.cli) {
        let mtime = m.modified().ok().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok()).map(|d| d.as_nanos()).unwrap_or(0);
        field("cli file", format!("{} {mtime}", m.len()).as_bytes());
    }
    let mut sorted: Vec<(String, &str)> = settings
        .iter()
        .filter(|(k, _)| !NOT_KEYED.iter().any(|n| n.eq_ignore_ascii_case(k)))
        .map(|(k, v)| (k.to_ascii_uppercase(), v.as_str()))
        .collect();
    sorted.sort();
    for (k, v) in &sorted {
        field(k, v.as_bytes());
    }
    field("component", COMPONENT_NAME.as_bytes());
    for (file, text) in COMPONENT_FILES {
        field(file, text.as_bytes());
    }
    field("password", Sha256::digest(password.as_bytes()).as_slice());
    let digest = h.finalize();
    let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    let ip = settings.iter().find(|(k, _)| k == "NODE_HOSTNAME").map(|(_, v)| v.as_str()).unwrap_or("any");
    format!("{}-{ip}-{hex}", harper.version)
}

/// Whether a path can be written into Harper's YAML config as it stands
/// (Harper writes it unquoted): a copy into another path installs instead.
pub fn plain_path(p: &Path) -> bool {
    let s = p.to_string_lossy();
    p.is_absolute() && s.chars().all(|c| c.is_ascii_alphanumeric() || "/._-+@".contains(c))
}

/// `text` with each old path replaced by its new one, where it stands as a
/// whole path or a path's leading folders (never inside a longer name).
pub fn rewrite(text: &str, pairs: &[(&str, &str)]) -> String {
    let mut out = text.to_string();
    for (old, new) in pairs {
        let mut next = String::with_capacity(out.len());
        let mut rest = out.as_str();
        while let Some(i) = rest.find(old) {
            let after = &rest[i + old.len()..];
            let whole = after.chars().next().is_none_or(|c| !(c.is_ascii_alphanumeric() || "._-+@".contains(c)));
            next.push_str(&rest[..i]);
            next.push_str(if whole { new } else { old });
            rest = after;
        }
        next.push_str(rest);
        out = next;
    }
    out
}

/// Copies a folder tree: files sparsely (runs of 64 KiB of zeros become
/// holes), modes kept, symlinks as links; sockets and other special files
/// are left out (Harper makes its socket at start).
pub fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    let meta = fs::symlink_metadata(from).with_context(|| format!("failed to read {}", from.display()))?;
    fs::DirBuilder::new().recursive(true).create(to).with_context(|| format!("failed to create {}", to.display()))?;
    fs::set_permissions(to, fs::Permissions::from_mode(meta.permissions().mode() & 0o7777))?;
    for e in fs::read_dir(from)? {
        let e = e?;
        let (src, dst) = (e.path(), to.join(e.file_name()));
        let ft = e.file_type()?;
        if ft.is_dir() {
            copy_tree(&src, &dst)?;
        } else if ft.is_file() {
            copy_file_sparse(&src, &dst).with_context(|| format!("failed to copy {} to {}", src.display(), dst.display()))?;
        } else if ft.is_symlink() {
            let _ = fs::remove_file(&dst);
            std::os::unix::fs::symlink(fs::read_link(&src)?, &dst)?;
        }
    }
    Ok(())
}

fn copy_file_sparse(from: &Path, to: &Path) -> std::io::Result<()> {
    let mut src = File::open(from)?;
    let meta = src.metadata()?;
    let mut dst = OpenOptions::new().write(true).create(true).truncate(true).open(to)?;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = src.read(&mut buf)?;
        if n == 0 {
            break;
        }
        if buf[..n].iter().all(|b| *b == 0) {
            dst.seek(SeekFrom::Current(n as i64))?;
        } else {
            dst.write_all(&buf[..n])?;
        }
    }
    dst.set_len(meta.len())?;
    fs::set_permissions(to, fs::Permissions::from_mode(meta.permissions().mode() & 0o7777))
}

#[cfg(test)]
#[path = "root_cache_tests.rs"]
mod tests;
