//! The driver's answers to bad input and a missing environment: one clear
//! lowercase line, exit 2, no report, nothing started. No cluster needed.

use std::time::Duration;

use blobfail_suite::driver::*;

fn fails_with(args: &[&str], env: &[(&str, &str)], expect: &str) {
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

#[test]
fn a_non_empty_out_folder_is_refused() {
    let dir = run_folder();
    std::fs::write(dir.path().join("something"), "x").unwrap();
    let run = run_bounded(
        blobfail(&["run", "blob-save", "--out", dir.path().to_str().unwrap()]),
        Duration::from_secs(60),
    );
    assert_eq!(run.code(), Some(2));
    assert!(run.stderr.contains("is not an empty folder"), "{}", run.stderr);
}

#[test]
fn bad_option_values_exit_2() {
    for args in [
        vec!["run", "blob-save", "--interval", "0"],
        vec!["run", "blob-save", "--requests", "many"],
        vec!["run", "no-such-scenario"],
    ] {
        let run = run_bounded(blobfail(&args), Duration::from_secs(60));
        assert_eq!(run.code(), Some(2), "{args:?}: {}", run.stderr);
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
fn a_failed_npm_install_is_one_line_and_exit_2() {
    // A version the registry does not have: npm itself fails.
    fails_with(
        &["run", "blob-save", "--harper-version", "0.0.0-blobfail-no-such-version"],
        &[],
        "npm install harperdb@0.0.0-blobfail-no-such-version failed (exit status: 1): \
         notarget No matching version found for harperdb@0.0.0-blobfail-no-such-version.",
    );
}
