//! Getting Harper: a `--harper` CLI, or `harperdb@<version>` from npm into
//! the user cache (installed once, atomically).

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use serde::Serialize;

use crate::text::{last_line, shorten, tail};
use crate::events::Events;

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
pub async fn resolve_harper(explicit: Option<&Path>, version: &str, events: &Events) -> Result<Harper> {
    let node = find_tool("node").ok_or_else(|| {
        anyhow!("node is not on PATH: install Node.js 20 or newer (e.g. `apt-get install nodejs npm`)")
    })?;
    let cli = match explicit {
        Some(p) => harper_cli_in(p)?,
        None => {
            let dir = cache_dir()?.join(format!("harperdb-{version}"));
            let cli = dir.join("node_modules/harperdb/bin/harperdb.js");
            if !cli.is_file() {
                npm_install(&dir, version, events).await?;
            }
            // The cache is npm's install of exactly this version: its
            // package.json says so, without starting Harper's CLI (1–2 s).
            if let Some(found) = package_version(&dir.join("node_modules/harperdb/package.json")).filter(|v| v == version) {
                return Ok(Harper { node, cli, version: found });
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

/// The `version` of a package.json, if it has one.
fn package_version(path: &Path) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()?;
    Some(v.get("version")?.as_str()?.to_string())
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
async fn npm_install(dir: &Path, version: &str, events: &Events) -> Result<()> {
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
    let step = events.step(&format!("installing harperdb@{version} with npm into {}", dir.display()));
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
pub(crate) struct GroupKill(pub(crate) Option<u32>);

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


#[cfg(test)]
mod tests {
    use super::*;

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
