//! End to end from an install: `cargo install --path driver` into an empty
//! folder, then the README's sample command, `blobfail run blob-save --seed
//! 42`, from there, in an empty working folder, with a fresh cache: the
//! shim B runs with can only be the one the binary carries (no
//! `libblobfail.so` beside it, no `--shim`), and the run judges 4.7.29 as
//! the README's sample run shows, check by check. Harper comes from the
//! shared cache (`--harper`), so the fresh cache holds nothing but the
//! written shim.

use std::time::Duration;

use blobfail_suite::containment::cached_harper;
use blobfail_suite::driver::*;
use blobfail_suite::install::{install_driver, workspace_root};
use serde_json::Value;

#[test]
fn an_installed_blobfail_runs_blob_save_with_no_other_file() {
    let install = install_driver();
    let harper = cached_harper();
    let _one_cluster = cluster_lock();
    let dir = run_folder();
    let top = path_of(&dir);
    let (cache, work, out) = (top.join("cache"), top.join("work"), top.join("run"));
    std::fs::create_dir_all(&work).unwrap();

    let mut cmd = std::process::Command::new(install.blobfail());
    cmd.args(["run", "blob-save", "--seed", "42", "--harper"])
        .arg(&harper)
        .arg("--out")
        .arg(&out)
        .env("XDG_CACHE_HOME", &cache)
        .current_dir(&work)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let run = run_bounded(cmd, Duration::from_secs(10 * 60));
    assert_eq!(run.code(), Some(1), "expected exit 1 (a check failed)\nstdout:\n{}\nstderr:\n{}", run.stdout, run.stderr);

    // The carried shim was written to the fresh cache, and nothing else.
    let written: Vec<String> = std::fs::read_dir(cache.join("blobfail"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(written.len(), 1, "{written:?}");
    assert!(written[0].starts_with("shim-") && written[0].len() == "shim-".len() + 16, "{written:?}");
    assert!(cache.join("blobfail").join(&written[0]).join("libblobfail.so").is_file());

    // ... and it armed on B and did what the default plan says.
    let b_stderr = std::fs::read_to_string(out.join("node-b/stderr.log")).unwrap();
    assert!(
        b_stderr.contains(" interval=7 path=/blobs/ ops=write errno=ENOENT"),
        "B's stderr has no banner of the carried shim:\n{b_stderr}"
    );
    let report: Value = read_json(&out.join("report.json"));
    assert_eq!(report["verdict"], "fail");
    let names: Vec<&str> = report["checks"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names, BLOB_SAVE_CHECKS);
    // Each check's verdict and the verdict line, as the README's sample shows them.
    let readme = std::fs::read_to_string(workspace_root().join("README.md")).unwrap();
    let sample = readme
        .split("```text\n$ target/release/blobfail run blob-save --seed 42\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("the README's sample run (a text block starting with its command)");
    assert_eq!(verdicts(&run.stdout), verdicts(sample), "this run (stdout) against the README's sample");
    assert_eq!(verdicts(sample).len(), BLOB_SAVE_CHECKS.len() + 1, "{sample}");
    assert!(std::fs::read_dir(&work).unwrap().next().is_none(), "the run wrote into its working folder");
    assert_nothing_left(&out);
}

/// `(status, check)` per check line and the verdict line of a run's output.
fn verdicts(output: &str) -> Vec<(String, String)> {
    output
        .lines()
        .filter_map(|l| {
            if let Some(v) = l.strip_prefix("verdict: ") {
                return Some(("verdict".to_string(), v.to_string()));
            }
            let mut words = l.strip_prefix("  ")?.split_whitespace();
            let status = words.next().filter(|s| ["PASS", "FAIL", "UNKNOWN"].contains(s))?;
            Some((status.to_string(), words.next()?.to_string()))
        })
        .collect()
}
