//! A node's install: the settings Harper installs itself with on the
//! node's first start (non-interactive, every listener on the node's own
//! address), and its folders with the scenarios' component deployed.

use std::fs;
use std::path::Path;

use anyhow::{Context, Result};

use super::node::NodeSpec;
use crate::ports::PORTS;

/// The component both nodes run: the blob-save table (a `LargeLocation`
/// whose source makes a 50 KiB blob per record, far above Harper's 8 KiB
/// in-record limit, so every record's blob goes to a file) and the
/// backlog-memory table. Its files are in `component/`.
pub const COMPONENT_NAME: &str = "blobfail";
pub const COMPONENT_FILES: [(&str, &str); 4] = [
    ("package.json", include_str!("component/package.json")),
    ("config.yaml", include_str!("component/config.yaml")),
    ("schema.graphql", include_str!("component/schema.graphql")),
    ("resources.js", include_str!("component/resources.js")),
];

/// Writes the component's files into `dir` (created if missing).
pub fn write_component(dir: &Path) -> Result<()> {
    fs::create_dir_all(dir).with_context(|| format!("failed to create {}", dir.display()))?;
    for (file, text) in COMPONENT_FILES {
        let path = dir.join(file);
        fs::write(&path, text).with_context(|| format!("failed to write the component file {}", path.display()))?;
    }
    Ok(())
}

/// The install settings each node gets from the run itself, which a user's
/// `--b-setting` may not change: the node's address and listeners, its root
/// and the credentials the run reaches it with.
pub const RESERVED_SETTINGS: [&str; 10] = [
    "ROOTPATH",
    "HDB_ADMIN_USERNAME",
    "HDB_ADMIN_PASSWORD",
    "NODE_HOSTNAME",
    "REPLICATION_HOSTNAME",
    "OPERATIONSAPI_NETWORK_PORT",
    "HTTP_PORT",
    "REPLICATION_SECUREPORT",
    "MQTT_NETWORK_PORT",
    "MQTT_NETWORK_SECUREPORT",
];

/// The settings a node is installed with: non-interactive, every listener on
/// the node's own address, then a scenario's own settings. Harper installs
/// itself with them on the node's first start (`harper` on a root it does
/// not know yet runs the install, then starts), which costs one Node process
/// and one load of Harper's bundle less than `harper install` followed by
/// `harper` (1.5–2 s of CPU per node).
///
/// They go in the node's environment, never on its command line: every
/// local user can read `/proc/PID/cmdline` for the node's whole life, while
/// `/proc/PID/environ` is its user's alone. Harper 4.7.29 reads each install
/// setting from the variable of the same name when no `--NAME=` argument
/// gives it (`assignCMDENVVariables`: argv first, then the environment;
/// config settings by name whatever their case).
pub fn install_env(spec: &NodeSpec, user: &str, password: &str) -> Vec<(String, String)> {
    let ip = spec.ip;
    let mut env: Vec<(String, String)> = [
        ("TC_AGREEMENT", "yes".to_string()),
        ("ROOTPATH", spec.root.display().to_string()),
        ("HDB_ADMIN_USERNAME", user.to_string()),
        ("HDB_ADMIN_PASSWORD", password.to_string()),
        ("THREADS_COUNT", "1".to_string()),
        ("THREADS_DEBUG", "false".to_string()),
        ("LOGGING_STDSTREAMS", "false".to_string()),
        ("NODE_HOSTNAME", ip.to_string()),
        ("REPLICATION_HOSTNAME", ip.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    // Every listener on the node's own address: without the prefix the
    // defaults bind all interfaces and two nodes collide.
    env.extend(PORTS.iter().map(|p| (p.install_flag.to_string(), format!("{ip}:{}", p.number))));
    // A scenario's own settings for this node (after the defaults, so they win).
    for (k, v) in &spec.install_args {
        env.retain(|(have, _)| !have.eq_ignore_ascii_case(k));
        env.push((k.clone(), v.clone()));
    }
    env
}

/// Whether Harper has installed this node (its first start wrote the config).
pub fn is_installed(spec: &NodeSpec) -> bool {
    spec.root.join("harperdb-config.yaml").is_file()
}

/// Readies a node's folders for its first start: its HOME, and its root
/// with the scenarios' component deployed.
pub fn prepare_node(spec: &NodeSpec) -> Result<()> {
    fs::create_dir_all(&spec.home).with_context(|| format!("failed to create {}", spec.home.display()))?;
    write_component(&spec.root.join("components").join(COMPONENT_NAME))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_install_settings_are_environment_with_a_scenarios_own_last() {
        let spec = NodeSpec {
            name: "b".into(),
            ip: "127.0.0.3".parse().unwrap(),
            dir: "/r/node-b".into(),
            root: "/r/node-b/root".into(),
            home: "/r/node-b/home".into(),
            stdout: "/r/node-b/stdout.log".into(),
            stderr: "/r/node-b/stderr.log".into(),
            hdb_log: "/r/node-b/root/log/hdb.log".into(),
            env: Vec::new(),
            install_args: vec![("THREADS_COUNT".into(), "2".into()), ("LOGGING_LEVEL".into(), "debug".into())],
        };
        let env = install_env(&spec, "admin", "s3cret");
        let get = |k: &str| env.iter().filter(|(n, _)| n == k).map(|(_, v)| v.as_str()).collect::<Vec<_>>();
        assert_eq!(get("HDB_ADMIN_PASSWORD"), ["s3cret"]);
        assert_eq!(get("ROOTPATH"), ["/r/node-b/root"]);
        assert_eq!(get("HTTP_PORT"), ["127.0.0.3:9926"]);
        assert_eq!(get("REPLICATION_SECUREPORT"), ["127.0.0.3:9933"]);
        // A scenario's setting replaces the driver's, once.
        assert_eq!(get("THREADS_COUNT"), ["2"]);
        assert_eq!(env.last().unwrap(), &("LOGGING_LEVEL".to_string(), "debug".to_string()));
    }

    #[test]
    fn the_component_files_are_the_ones_in_the_source_tree() {
        let dir = std::env::temp_dir().join(format!("blobfail-component-test-{}", std::process::id()));
        write_component(&dir).unwrap();
        let schema = fs::read_to_string(dir.join("schema.graphql")).unwrap();
        assert!(schema.contains("type LargeLocation @table @export"), "{schema}");
        assert!(schema.contains("type Load @table @export"), "{schema}");
        let js = fs::read_to_string(dir.join("resources.js")).unwrap();
        assert!(js.contains("tables.LargeLocation.sourcedFrom(LargeSource);"), "{js}");
        fs::remove_dir_all(&dir).unwrap();
    }
}
