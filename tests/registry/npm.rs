//! Needs the npm registry: the driver's answer when npm itself fails to
//! install Harper (a version the registry does not have).

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
fn a_failed_npm_install_is_one_line_and_exit_2() {
    // A version the registry does not have: npm itself fails.
    fails_with(
        &["run", "blob-save", "--harper-version", "0.0.0-blobfail-no-such-version"],
        &[],
        "npm install harperdb@0.0.0-blobfail-no-such-version failed (exit status: 1): \
         notarget No matching version found for harperdb@0.0.0-blobfail-no-such-version.",
    );
}
