//! End to end from an install: `cargo install --path driver` into an empty
//! folder, then the README's sample command, `blobfail run blob-save --seed
//! 42`, from there, in an empty working folder, with a fresh cache: the
//! shim B runs with can only be the one the binary carries (no
//! `libblobfail.so` beside it, no `--shim`), and the run judges 4.7.29 as
//! the README's sample run shows, check by check. Harper comes from the
//! shared cache (`--harper`), so the fresh cache holds nothing but the
//! written shim and the nodes' installed roots (the root cache, filled by
//! that first run). A second run copies those roots: it judges the same,
//! and the cached roots come out of it byte for byte as they went in.

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

    let run_in = |out: &std::path::Path| {
        let mut cmd = std::process::Command::new(install.blobfail());
        cmd.args(["run", "blob-save", "--seed", "42", "--harper"])
            .arg(&harper)
            .arg("--out")
            .arg(out)
            .env("XDG_CACHE_HOME", &cache)
            .env_remove("BLOBFAIL_NO_ROOT_CACHE")
            .current_dir(&work)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        run_bounded(cmd, Duration::from_secs(10 * 60))
    };
    let run = run_in(&out);
    assert_eq!(run.code(), Some(1), "expected exit 1 (a check failed)\nstdout:\n{}\nstderr:\n{}", run.stdout, run.stderr);

    // The carried shim was written to the fresh cache, and beside it only
    // the root cache this first run filled.
    let mut written: Vec<String> = std::fs::read_dir(cache.join("blobfail"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    written.sort();
    assert_eq!(written.len(), 2, "{written:?}");
    assert_eq!(written[0], "roots", "{written:?}");
    assert!(written[1].starts_with("shim-") && written[1].len() == "shim-".len() + 16, "{written:?}");
    assert!(cache.join("blobfail").join(&written[1]).join("libblobfail.so").is_file());
    assert!(
        run.stderr.contains("caching node a and b's installed roots (first run of these settings): cached in"),
        "the first run did not fill the root cache:\n{}",
        run.stderr
    );
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

    // The root cache: private, one entry per node, and a copy of it
    // touches nothing outside itself.
    let roots = cache.join("blobfail/roots");
    assert_eq!(mode(&roots), 0o700);
    assert_eq!(mode(&roots.join("password")), 0o600);
    let before = snapshot(&roots);
    let entries: Vec<&String> = before.keys().filter(|p| p.ends_with("/entry.json")).collect();
    assert_eq!(entries.len(), 2, "{entries:?}");
    let out2 = top.join("run2");
    let again = run_in(&out2);
    assert_eq!(again.code(), Some(1), "second run: exit 1 expected\nstdout:\n{}\nstderr:\n{}", again.stdout, again.stderr);
    assert!(!again.stderr.contains("caching node"), "the second run filled the cache again:\n{}", again.stderr);
    assert!(again.stderr.contains("starting (roots copied from the cache)"), "{}", again.stderr);
    assert_eq!(verdicts(&again.stdout), verdicts(&run.stdout), "the run on copied roots judged otherwise than the first");
    let report2: Value = read_json(&out2.join("report.json"));
    for node in report2["nodes"].as_array().unwrap() {
        assert!(node["root_from_cache"].as_str().is_some_and(|k| k.starts_with("4.7.29-")), "{node}");
    }
    let after = snapshot(&roots);
    assert_eq!(after.keys().collect::<Vec<_>>(), before.keys().collect::<Vec<_>>(), "files came or went in the root cache");
    for (path, bytes) in &before {
        assert!(after[path] == *bytes, "the run on a copy changed the cached {path}");
    }
    // Nothing the second run's nodes hold names the cache or the folder the
    // cached roots were installed in.
    let cached_at = roots.to_string_lossy().into_owned();
    for (path, bytes) in snapshot(&out2) {
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains(&cached_at) && !text.contains("blobfail-fill-"), "{path} names the root cache");
    }
    assert_nothing_left(&out2);
}

fn mode(p: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

/// Every regular file under `dir`, by its path inside it, with its bytes.
fn snapshot(dir: &std::path::Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut files = std::collections::BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let ft = e.file_type().unwrap();
            if ft.is_dir() {
                stack.push(e.path());
            } else if ft.is_file() {
                let rel = e.path().strip_prefix(dir).unwrap().to_string_lossy().into_owned();
                files.insert(rel, std::fs::read(e.path()).unwrap());
            }
        }
    }
    files
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
