//! Bad input to the network nemeses, refused before anything starts: one
//! line, exit 2, no report; and a run without the permission, whose checks
//! are unknown (never pass) with the line saying what is missing.

use std::time::Duration;

use blobfail_suite::driver::*;

#[test]
fn bad_network_input_is_refused_with_one_line() {
    fails_with(&["run", "partition-heal", "--partition", "b|z"], &[], "--partition: partition \"b|z\" names node z, which this run does not have (nodes are a, b)");
    fails_with(&["run", "partition-heal", "--partition", "a,a|b"], &[], "names node a twice: each node goes in one set, once");
    fails_with(&["run", "blob-save", "--nemesis", "slow-link", "--latency", "-5ms"], &[], "--latency \"-5ms\" is negative: give zero or more (e.g. 200ms)");
    fails_with(&["run", "blob-save", "--latency", "5ms"], &[], "--latency applies with --nemesis slow-link or cut-stream only");
    fails_with(&["run", "blob-save", "--nemesis", "pause", "--cut-after", "1MiB"], &[], "--cut-after applies with --nemesis slow-link or cut-stream only");
    fails_with(&["run", "blob-save", "--nemesis", "cut-stream", "--jitter", "5ms"], &[], "--jitter applies to --nemesis slow-link, not cut-stream");
    fails_with(&["run", "backlog-memory", "--cut-after", "1MiB"], &[], "--cut-after applies with --nemesis slow-link or cut-stream only");
    fails_with(
        &["run", "backlog-memory", "--nemesis", "pause"],
        &[],
        "--nemesis pause does not apply to backlog-memory: it takes slow-link or cut-stream (on B's link with a, during B's catch-up)",
    );
    fails_with(&["run", "backlog-memory", "--nemesis", "slow-link", "--nemesis-for", "3"], &[], "--nemesis-for does not apply to backlog-memory: it is an option of blob-save");
    // One link per run: a proxy per faulted link is not built (docs/network.md).
    fails_with(
        &["run", "blob-save", "--nodes", "3", "--faulted", "b,c", "--nemesis", "slow-link"],
        &[],
        "--nemesis slow-link acts on one link, a faulted node's with node a: pass one --faulted node, not 2",
    );
    fails_with(&["run", "crash-recovery", "--latency", "5ms"], &[], "--latency does not apply to crash-recovery: it is an option of blob-save and backlog-memory");
    fails_with(
        &["run", "blob-save", "--attach", "--node-a", "http://127.0.0.1:1", "--node-b", "http://127.0.0.1:2", "--password", "x", "--latency", "5ms"],
        &[],
        "--latency does not apply with --attach: the network nemeses act on a cluster this run started in its own network namespace",
    );
    fails_with(&["run", "partition-heal", "--attach", "--node-a", "http://127.0.0.1:1", "--node-b", "http://127.0.0.1:2", "--password", "x"], &[], "partition-heal cannot run attached");
}

/// Root without its capabilities (as in a container): every check unknown,
/// exit 2, no node started.
#[test]
fn without_the_permission_every_check_is_unknown_with_what_is_missing() {
    let dir = run_folder();
    let out = path_of(&dir);
    let driver = blobfail_suite::artifacts::driver_path();
    let mut cmd = std::process::Command::new("setpriv");
    cmd.args(["--bounding-set=-all", "--inh-caps=-all", "--"]).arg(driver).args(["run", "partition-heal", "--out", out.to_str().unwrap()]);
    cmd.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    let run = run_bounded(cmd, Duration::from_secs(60));
    assert_eq!(run.code(), Some(2), "stdout {}\nstderr {}", run.stdout, run.stderr);
    let report = read_json(&out.join("report.json"));
    for c in report["checks"].as_array().unwrap() {
        assert_eq!(c["status"], "unknown", "{c}");
        assert_eq!(
            c["evidence"],
            "no private network for the partition: root without CAP_NET_ADMIN and CAP_SYS_ADMIN: a private network namespace needs them; \
             run blobfail as root (or with CAP_NET_ADMIN and CAP_SYS_ADMIN) with iptables installed (e.g. `apt-get install iptables`)"
        );
    }
    assert_eq!(report["checks"].as_array().unwrap().len(), 5);
    assert!(!out.join("cluster.json").exists(), "a run without its network started nodes");
}
