//! Hermetic (no network, no cluster): the driver's answers to bad input and a
//! missing environment: one clear lowercase line, exit 2, no report,
//! nothing started.

use std::time::Duration;

use blobfail_suite::driver::*;

#[test]
fn a_harper_path_that_does_not_exist_is_one_line_and_exit_2() {
    fails_with(&["run", "blob-save", "--harper", "/nonexistent/harper"], &[], "--harper /nonexistent/harper does not exist");
}

#[test]
fn a_harper_script_that_is_not_harper_is_one_line_and_exit_2() {
    let dir = run_folder();
    let script = dir.path().join("not-harper.js");
    std::fs::write(&script, "console.log('hello');\n").unwrap();
    fails_with(&["run", "blob-save", "--harper", script.to_str().unwrap()], &[], "is not a working harper CLI");
}

#[test]
fn a_folder_without_a_harper_cli_is_one_line_and_exit_2() {
    let dir = run_folder();
    fails_with(&["run", "blob-save", "--harper", dir.path().to_str().unwrap()], &[], "holds no harper CLI");
}

#[test]
fn a_missing_shim_is_one_line_and_exit_2() {
    fails_with(&["run", "blob-save", "--shim", "/nonexistent/libblobfail.so"], &[], "the preload shim /nonexistent/libblobfail.so does not exist");
}

#[test]
fn node_missing_from_path_is_one_line_and_exit_2() {
    fails_with(&["run", "blob-save"], &[("PATH", "/nonexistent")], "node is not on PATH");
}

/// A folder that already holds something is never written into: one exact
/// line, exit 2, and the folder holds what it held.
#[test]
fn a_non_empty_out_folder_is_refused() {
    let dir = run_folder();
    std::fs::write(dir.path().join("something"), "x").unwrap();
    let run = run_bounded(
        blobfail(&["run", "blob-save", "--out", dir.path().to_str().unwrap()]),
        Duration::from_secs(60),
    );
    assert_eq!(run.code(), Some(2), "{}", run.stderr);
    assert_eq!(
        run.stderr,
        format!("blobfail: --out {} is not an empty folder: pass a new or empty one\n", dir.path().display())
    );
    assert_eq!(run.stdout, "");
    let held: Vec<String> =
        std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert_eq!(held, ["something"]);
    assert_eq!(std::fs::read_to_string(dir.path().join("something")).unwrap(), "x");
}

#[test]
fn bad_option_values_exit_2() {
    for (args, expect) in [
        (
            vec!["run", "blob-save", "--interval", "0"],
            "blobfail: invalid value '0' for '--interval <N>': 0 is not in 1..18446744073709551615; see `blobfail run --help`",
        ),
        (
            vec!["run", "blob-save", "--requests", "many"],
            "blobfail: invalid value 'many' for '--requests <N>': invalid digit found in string; see `blobfail run --help`",
        ),
        (
            vec!["run", "no-such-scenario"],
            "blobfail: invalid value 'no-such-scenario' for '<SCENARIO>' [possible values: blob-save, backlog-memory, crash-recovery, corrupt-blob, fault-heal, partition-heal, all]; see `blobfail run --help`",
        ),
        (
            vec!["run", "backlog-memory", "--rss-limit", "lots"],
            "blobfail: invalid value 'lots' for '--rss-limit <SIZE>': \"lots\" is not a size: a whole number of bytes, or a number with B, KiB, MiB, GiB or TiB (e.g. 10MiB, 1.5GiB); see `blobfail run --help`",
        ),
        (vec!["run", "blob-save", "--settle", "0"], "blobfail: --settle must be between 0 and 600 seconds, got 0"),
        (vec!["run", "blob-save", "--liveness-timeout", "0"], "blobfail: --liveness-timeout must be between 0 and 600 seconds, got 0"),
        (
            vec!["run", "backlog-memory", "--b-setting", "THREADS_MAXHEAPMEMORY"],
            "blobfail: invalid value 'THREADS_MAXHEAPMEMORY' for '--b-setting <KEY=VALUE>': \"THREADS_MAXHEAPMEMORY\" is not KEY=VALUE (e.g. THREADS_MAXHEAPMEMORY=64); see `blobfail run --help`",
        ),
        (
            vec!["run", "blob-save", "--b-setting", "REPLICATION_SECUREPORT=127.0.0.1:9933"],
            "blobfail: invalid value 'REPLICATION_SECUREPORT=127.0.0.1:9933' for '--b-setting <KEY=VALUE>': REPLICATION_SECUREPORT is set by blobfail itself (each node's address, root and credentials are the run's); see `blobfail run --help`",
        ),
    ] {
        let run = run_bounded(blobfail(&args), Duration::from_secs(60));
        assert_eq!(run.code(), Some(2), "{args:?}: {}", run.stderr);
        assert_eq!(run.stderr.trim_end(), expect, "{args:?}");
        assert!(run.stdout.is_empty(), "{args:?}: {}", run.stdout);
    }
}

#[test]
fn an_option_that_does_not_apply_to_the_scenario_or_backend_is_refused() {
    let attach = ["--attach", "--node-a", "http://127.0.0.1:9925", "--node-b", "http://127.0.0.1:9925"];
    for (args, expect) in [
        (
            vec!["run", "blob-save", "--interval", "3"].into_iter().chain(attach).collect::<Vec<_>>(),
            "blobfail: --interval does not apply with --attach: on an attached cluster, node B's own environment arms the \
             shim (HARPER_TEST_BLOB_FAIL_INTERVAL)",
        ),
        (
            vec!["run", "blob-save", "--keep"].into_iter().chain(attach).collect(),
            "blobfail: --keep does not apply with --attach: blobfail does not run the attached cluster's nodes",
        ),
        (
            vec!["run", "backlog-memory"].into_iter().chain(attach).collect(),
            "blobfail: --attach runs blob-save only: backlog-memory cannot run attached (it stops and restarts node B, \
             which needs nodes this run started)",
        ),
        (vec!["run", "blob-save", "--records", "9"], "blobfail: --records does not apply to blob-save: it is an option of backlog-memory"),
        (vec!["run", "backlog-memory", "--requests", "9"], "blobfail: --requests does not apply to backlog-memory: it is an option of blob-save, crash-recovery, corrupt-blob and fault-heal"),
        (vec!["run", "all", "--node-b", "http://127.0.0.1:9925"], "blobfail: --node-b applies with --attach only (to reach an existing cluster)"),
        (
            vec!["run", "backlog-memory", "--sweep", "x1,x4", "--transactions", "9"],
            "blobfail: --transactions does not apply with --sweep: each size sets its own (size ÷ --records)",
        ),
        (
            vec!["run", "backlog-memory", "--growth-limit", "9"],
            "blobfail: --growth-limit applies with --sweep only (the slope needs several backlog sizes)",
        ),
        (
            vec!["run", "backlog-memory", "--sweep", "20k"],
            "blobfail: invalid value '20k' for '--sweep <SIZES>': \"20k\" is not a backlog size (records from 1 to 100000000, or \
             x<multiple> of 20000); see `blobfail run --help`",
        ),
    ] {
        let mut cmd = blobfail(&args);
        cmd.env("BLOBFAIL_PASSWORD", "x");
        let run = run_bounded(cmd, Duration::from_secs(30));
        assert_eq!(run.code(), Some(2), "{args:?}: {}", run.stderr);
        assert_eq!(run.stderr.trim_end(), expect, "{args:?}");
    }
}

/// A PATH holding only `node`, so npm cannot be found.
fn path_with_only_node() -> tempfile::TempDir {
    let dir = run_folder();
    let node = std::env::split_paths(&std::env::var_os("PATH").unwrap())
        .map(|d| d.join("node"))
        .find(|p| p.is_file())
        .expect("node on PATH");
    std::os::unix::fs::symlink(node, dir.path().join("node")).unwrap();
    dir
}

#[test]
fn npm_missing_when_harper_must_be_installed_is_one_line_and_exit_2() {
    let only_node = path_with_only_node();
    fails_with(
        &["run", "blob-save", "--harper-version", "0.0.0-blobfail-never-cached"],
        &[("PATH", only_node.path().to_str().unwrap())],
        "npm is not on PATH",
    );
}

#[test]
fn attach_to_nothing_listening_is_one_line_and_exit_2() {
    // 127.0.0.1's port 1 answers nothing on a test machine.
    let dir = run_folder();
    let out = path_of(&dir).join("run");
    let mut cmd = blobfail(&[
        "run", "blob-save", "--attach", "--node-a", "http://127.0.0.1:1", "--rest-a", "http://127.0.0.1:1",
        "--node-b", "http://127.0.0.1:1", "--rest-b", "http://127.0.0.1:1", "--out", out.to_str().unwrap(),
    ]);
    cmd.env("BLOBFAIL_PASSWORD", "x");
    let run = run_bounded(cmd, Duration::from_secs(60));
    assert_eq!(run.code(), Some(2), "{}", run.stderr);
    let last = run.stderr.lines().last().unwrap_or("");
    assert!(last.starts_with("blobfail: node a (http://127.0.0.1:1/) did not answer describe_table: "), "{}", run.stderr);
    assert!(!out.join("report.json").exists());
}

#[test]
fn attach_needs_a_password_and_runs_blob_save_only() {
    let mut cmd = blobfail(&["run", "blob-save", "--attach", "--node-a", "http://127.0.0.1:9925", "--node-b", "http://127.0.0.1:9925"]);
    cmd.env_remove("BLOBFAIL_PASSWORD");
    let run = run_bounded(cmd, Duration::from_secs(30));
    assert_eq!(run.code(), Some(2), "{}", run.stderr);
    assert_eq!(
        run.stderr.trim(),
        "blobfail: --attach needs the Harper user's password: pass --password or set BLOBFAIL_PASSWORD"
    );
    let mut cmd = blobfail(&["run", "all", "--attach", "--node-a", "http://127.0.0.1:9925", "--node-b", "http://127.0.0.1:9925"]);
    cmd.env("BLOBFAIL_PASSWORD", "x");
    let run = run_bounded(cmd, Duration::from_secs(30));
    assert_eq!(run.code(), Some(2), "{}", run.stderr);
    assert!(run.stderr.starts_with("blobfail: --attach runs blob-save only"), "{}", run.stderr);
}

#[test]
fn an_unreachable_npm_registry_is_one_line_and_exit_2() {
    let dir = run_folder();
    let home = path_of(&dir);
    let run_dir = home.join("run");
    // An empty cache (ours and npm's), and a registry nothing answers on.
    // npm's own retries are turned off to keep the test short; with them a
    // user waits for npm's back-off, then sees the same line.
    let mut cmd = blobfail(&["run", "blob-save", "--out", run_dir.to_str().unwrap()]);
    cmd.env("HOME", &home)
        .env("XDG_CACHE_HOME", home.join("cache"))
        .env("npm_config_registry", "http://127.0.0.1:9/")
        .env("npm_config_fetch_retries", "0");
    let run = run_bounded(cmd, Duration::from_secs(120));
    assert_one_line_error(
        &run,
        "npm install harperdb@4.7.29 failed: could not reach the npm registry (request to http://127.0.0.1:9/harperdb failed, \
         reason: connect ECONNREFUSED 127.0.0.1:9): check the network and npm's registry setting (`npm config get registry`), \
         or pass --harper to use a harper you have; see ",
    );
    // No half install is left to be taken for a cached one (the carried
    // shim, written whole at first use as `shim-<hash>/`, is not Harper's).
    let cache = home.join("cache/blobfail");
    let left: Vec<String> = std::fs::read_dir(&cache)
        .map(|r| {
            r.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| !n.ends_with(".log") && !n.starts_with("shim-"))
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(left, Vec::<String>::new(), "left in the cache");
    assert_eq!(processes_mentioning(&home), Vec::<(u32, String)>::new(), "processes of the run still alive");
}
