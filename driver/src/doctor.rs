//! `blobfail doctor`: whether this machine has what a local run needs (Node
//! ≥ 20, npm, the shim, free loopback addresses, a cached Harper), one line
//! per item, saying what to do about whatever is missing; and whether the
//! network nemeses can run (a private network namespace with iptables),
//! which only the runs that use them need.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::cluster;
use crate::fault;

/// The oldest Node major version the driver runs Harper with.
pub const MIN_NODE_MAJOR: u32 = 20;

/// One item's finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub item: &'static str,
    pub ok: bool,
    pub detail: String,
    /// Only some runs need it: missing, it does not fail the doctor.
    pub optional: bool,
}

impl Finding {
    fn ok(item: &'static str, detail: impl Into<String>) -> Self {
        Self { item, ok: true, detail: detail.into(), optional: false }
    }

    fn missing(item: &'static str, detail: impl Into<String>) -> Self {
        Self { item, ok: false, detail: detail.into(), optional: false }
    }

    pub fn line(&self) -> String {
        format!("{:<8} {:<9} {}", if self.ok { "ok" } else { "MISSING" }, self.item, self.detail)
    }
}

/// Every check, in the order a run needs them.
pub fn examine(shim: Option<&Path>, harper_version: &str) -> Vec<Finding> {
    vec![node(), npm(), shim_finding(shim), loopback(), harper(harper_version), network()]
}

/// Whether a run can have a network namespace of its own, tried for real
/// (entered on a thread of its own, iptables listed there, left again).
fn network() -> Finding {
    let mut f = match crate::net::ns::probe() {
        Ok(net) => Finding::ok("network", format!("{}: partition, slow-link and cut-stream can run", net.describe())),
        Err(e) => Finding::missing("network", format!("{e} (only partition-heal and --nemesis need it)")),
    };
    f.optional = true;
    f
}

/// `<tool> --version`'s first line, if the tool is on PATH and answers.
fn version_of(tool: &str) -> Result<(std::path::PathBuf, String), String> {
    let path = cluster::harper::find_tool(tool).ok_or_else(|| format!("{tool} is not on PATH"))?;
    let out = Command::new(&path)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{} --version failed: {e}", path.display()))?;
    let text = String::from_utf8_lossy(&out.stdout).lines().next().unwrap_or("").trim().to_string();
    if !out.status.success() || text.is_empty() {
        return Err(format!("{} --version did not answer (exit {})", path.display(), out.status));
    }
    Ok((path, text))
}

/// `v20.20.2` → 20.
pub fn node_major(version: &str) -> Option<u32> {
    version.trim().trim_start_matches('v').split('.').next()?.parse().ok()
}

fn node() -> Finding {
    const FIX: &str = "install Node.js 20 or newer (e.g. `apt-get install nodejs npm`)";
    match version_of("node") {
        Ok((path, v)) => match node_major(&v) {
            Some(m) if m >= MIN_NODE_MAJOR => Finding::ok("node", format!("{v} ({})", path.display())),
            _ => Finding::missing("node", format!("{v} at {} is older than {MIN_NODE_MAJOR}: {FIX}", path.display())),
        },
        Err(e) => Finding::missing("node", format!("{e}: {FIX}")),
    }
}

fn npm() -> Finding {
    match version_of("npm") {
        Ok((path, v)) => Finding::ok("npm", format!("{v} ({})", path.display())),
        Err(e) => Finding::missing("npm", format!("{e}: install npm (e.g. `apt-get install npm`); it installs Harper on the first run")),
    }
}

fn shim_finding(explicit: Option<&Path>) -> Finding {
    match fault::find_shim(explicit) {
        Ok(p) => {
            let elf = std::fs::read(&p).map(|b| b.starts_with(b"\x7fELF")).unwrap_or(false);
            if elf {
                Finding::ok("shim", p.display().to_string())
            } else {
                Finding::missing("shim", format!("{} is not a shared library: rebuild it with `cargo build --release`", p.display()))
            }
        }
        Err(e) => Finding::missing("shim", format!("{e:#}")),
    }
}

fn loopback() -> Finding {
    match cluster::address::reserve_addresses(2) {
        Ok(addrs) => Finding::ok(
            "loopback",
            format!(
                "{} free (ports {})",
                addrs.iter().map(|a| a.ip.to_string()).collect::<Vec<_>>().join(", "),
                crate::ports::port_numbers().map(|p| p.to_string()).join(", ")
            ),
        ),
        Err(e) => Finding::missing("loopback", format!("{e:#}: stop what listens there, or free some of 127.0.0.0/16")),
    }
}

fn harper(version: &str) -> Finding {
    let dir = match cluster::harper::cache_dir() {
        Ok(d) => d.join(format!("harperdb-{version}")),
        Err(e) => return Finding::missing("harper", format!("{e:#}")),
    };
    let cli = dir.join("node_modules/harperdb/bin/harperdb.js");
    if !cli.is_file() {
        return Finding::missing(
            "harper",
            format!(
                "harperdb {version} is not cached in {}: the first `blobfail run` installs it with npm (30–50 s), or pass --harper PATH",
                dir.display()
            ),
        );
    }
    let pkg = dir.join("node_modules/harperdb/package.json");
    let found = std::fs::read_to_string(&pkg)
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|v| v.get("version").and_then(|v| v.as_str()).map(str::to_string));
    match found {
        Some(v) if v == version => Finding::ok("harper", format!("harperdb {v} cached in {}", dir.display())),
        other => Finding::missing(
            "harper",
            format!(
                "{} holds harperdb {} instead of {version}: delete {} and run again to reinstall it",
                dir.display(),
                other.as_deref().unwrap_or("of no readable version"),
                dir.display()
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_versions_parse_to_their_major() {
        assert_eq!(node_major("v20.20.2"), Some(20));
        assert_eq!(node_major("v18.19.0\n"), Some(18));
        assert_eq!(node_major("22.1.0"), Some(22));
        assert_eq!(node_major("nonsense"), None);
    }

    #[test]
    fn a_finding_is_one_line_saying_ok_or_missing() {
        assert_eq!(Finding::ok("node", "v20.20.2 (/usr/bin/node)").line(), "ok       node      v20.20.2 (/usr/bin/node)");
        assert!(Finding::missing("npm", "npm is not on PATH").line().starts_with("MISSING  npm       npm is not on PATH"));
    }
}
