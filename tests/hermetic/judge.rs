//! Hermetic (no cluster): `blobfail judge DIR` on committed run folders
//! (`judge/blob-save/`: the observations.json and report.json of a real
//! `blobfail run blob-save --seed 7 --requests 40` on harperdb 4.7.29;
//! `judge/backlog-memory/`: of `blobfail run backlog-memory --transactions 4
//! --records 100 --payload-bytes 256 --after-catch-up 1`) gives the run's
//! statuses and evidence exactly; a setting given anew
//! changes what it should; a folder that cannot be judged is one line and
//! exit 2, with no report written.

use std::path::{Path, PathBuf};
use std::time::Duration;

use blobfail_suite::driver::*;
use blobfail_suite::install::workspace_root;
use serde_json::Value;

fn fixture() -> PathBuf {
    fixture_of("blob-save")
}

fn fixture_of(scenario: &str) -> PathBuf {
    workspace_root().join("tests/hermetic/judge").join(scenario)
}

/// A fresh folder holding the fixture's observations.json (report.json is
/// written beside it, never into the repository).
fn saved_run() -> tempfile::TempDir {
    saved_run_of("blob-save")
}

fn saved_run_of(scenario: &str) -> tempfile::TempDir {
    let dir = run_folder();
    std::fs::copy(fixture_of(scenario).join("observations.json"), dir.path().join("observations.json")).unwrap();
    dir
}

fn judge(args: &[&str]) -> Run {
    run_bounded(blobfail(&[&["judge"], args].concat()), Duration::from_secs(60))
}

fn checks_of(report: &Value) -> Vec<(String, String, String, Value)> {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let s = |k: &str| c[k].as_str().unwrap().to_string();
            (s("name"), s("status"), s("evidence"), c["lines"].clone())
        })
        .collect()
}

#[test]
fn a_saved_blob_save_folder_is_judged_again_to_the_runs_very_checks() {
    let dir = saved_run();
    let run = judge(&[dir.path().to_str().unwrap()]);
    assert_eq!(run.code(), Some(1), "a check failed: exit 1\nstdout:\n{}\nstderr:\n{}", run.stdout, run.stderr);
    assert_eq!(run.stderr, "");
    let report = read_json(&dir.path().join("report.json"));
    let ran = read_json(&fixture().join("report.json"));
    assert_eq!(checks_of(&report), checks_of(&ran), "not the run's checks");
    assert_eq!(report["verdict"], "fail");
    assert_eq!(report["figures"], ran["figures"], "not the run's figures");
    assert_eq!(
        statuses(&report),
        [
            ("injector-fired", "pass"),
            ("blob-save-failure-logged", "fail"),
            ("no-uncaught-exception", "fail"),
            ("peer-connected", "pass"),
            ("liveness", "pass"),
            ("nothing-lost", "fail"),
            ("damaged-reads-contained", "fail"),
        ]
        .map(|(n, s)| (n.to_string(), s.to_string()))
    );
    assert_eq!(
        check(&report, "injector-fired")["evidence"],
        "5 faults in /tmp/bf-judge-fix/faults.jsonl; pid 10766: 5 open faults at matching calls 7, 14, … 35 (every 7th); \
         exit summary open matching=41 (= 36 blob files on B + 5 failed opens), 41 / 7 = 5"
    );
    assert_eq!(
        check(&report, "nothing-lost")["evidence"],
        "5 of 40 records on A are lost or damaged on B (40 records on B)\n\
         blob unreadable on B (5: 5 with no answer within 1.1 s, 0 answered with an error): 5, 50, 352, 363, 387"
    );
    let uncaught = check(&report, "no-uncaught-exception");
    assert!(uncaught["evidence"].as_str().unwrap().starts_with(
        "26 uncaughtException entries tied to the injected fault in /tmp/bf-judge-fix/node-b/root/log/hdb.log (26 name a faulted file), naming 5 distinct files; 5 of the 5 faulted paths are among them:"
    ));
    assert_eq!(uncaught["lines"].as_array().unwrap().len(), 26);
    // The human report, as the run printed it.
    assert!(run.stdout.contains("\nblob-save:\n  PASS    injector-fired "), "{}", run.stdout);
    assert!(run.stdout.contains("\n  FAIL    nothing-lost               5 of 40 records on A are lost or damaged on B"), "{}", run.stdout);
    assert!(run.stdout.contains("verdict: FAIL (a check failed)\n"), "{}", run.stdout);
    assert!(run.stdout.contains("where the time went (blob-save, 20.6 s): "), "{}", run.stdout);
    assert!(run.stdout.ends_with(&format!("report: {}\n", dir.path().join("report.json").display())), "{}", run.stdout);
}

#[test]
fn a_log_pattern_given_anew_is_judged_with_and_out_takes_the_report_elsewhere() {
    let dir = saved_run();
    let out = run_folder();
    let elsewhere = out.path().join("again");
    let run = judge(&[dir.path().to_str().unwrap(), "--uncaught-pattern", "no such pattern", "--out", elsewhere.to_str().unwrap()]);
    assert_eq!(run.code(), Some(1), "{}", run.stderr);
    assert!(!dir.path().join("report.json").exists(), "--out: nothing is written into DIR");
    let report = read_json(&elsewhere.join("report.json"));
    let uncaught = check(&report, "no-uncaught-exception");
    assert_eq!(uncaught["status"], "pass");
    assert_eq!(
        uncaught["evidence"],
        "no no such pattern entry mentions a blob, ENOENT or a faulted file among 32 entries of /tmp/bf-judge-fix/node-b/root/log/hdb.log (5 faults injected)"
    );
    // The rest rests on the survey and the shim's records, as the run saw them.
    assert_eq!(check(&report, "nothing-lost")["status"], "fail");
    assert_eq!(check(&report, "injector-fired")["status"], "pass");
}

#[test]
fn a_saved_backlog_memory_folder_is_judged_again_and_a_lower_limit_fails_it() {
    let dir = saved_run_of("backlog-memory");
    let run = judge(&[dir.path().to_str().unwrap()]);
    assert_eq!(run.code(), Some(0), "every check passed: exit 0\nstdout:\n{}\nstderr:\n{}", run.stdout, run.stderr);
    let report = read_json(&dir.path().join("report.json"));
    let ran = read_json(&fixture_of("backlog-memory").join("report.json"));
    assert_eq!(checks_of(&report), checks_of(&ran), "not the run's checks");
    assert_eq!(report["figures"], ran["figures"], "not the run's figures");
    assert_eq!(
        statuses(&report),
        ["caught-up", "no-worker-oom", "peak-rss-below-limit", "peak-anon-below-limit"].map(|n| (n.to_string(), "pass".to_string()))
    );
    assert_eq!(check(&report, "caught-up")["evidence"], "B's record_count reached A's 400 4.9 s after B was launched");
    let out = run_folder();
    let run = judge(&[dir.path().to_str().unwrap(), "--rss-limit", "10MiB", "--out", out.path().to_str().unwrap()]);
    assert_eq!(run.code(), Some(1), "{}", run.stderr);
    let lower = read_json(&out.path().join("report.json"));
    let rss = check(&lower, "peak-rss-below-limit");
    assert_eq!(rss["status"], "fail");
    assert!(rss["evidence"].as_str().unwrap().starts_with("peak RSS 246 MiB (kernel high-water mark VmHWM of pid 7260, reached between 4.5 and 5.0 s, after B's API answered) ≥ limit 10 MiB;"), "{}", rss["evidence"]);
    assert_eq!(lower["figures"]["rss_limit_bytes"], 10 * 1024 * 1024);
    assert_eq!(check(&lower, "peak-anon-below-limit")["status"], "pass");
    let refused_here = judge(&[dir.path().to_str().unwrap(), "--failure-pattern", "x"]);
    assert_one_line_error(&refused_here, "--failure-pattern does not apply to backlog-memory: it is a setting of blob-save, crash-recovery");
}

/// `blobfail judge` with `args` refuses in one line containing `expect`,
/// exit 2, and writes no report into `dir`.
fn refused(dir: &Path, args: &[&str], expect: &str) {
    let before = std::fs::read_to_string(dir.join("report.json")).ok();
    let run = judge(&[&[dir.to_str().unwrap()], args].concat());
    assert_one_line_error(&run, expect);
    assert_eq!(std::fs::read_to_string(dir.join("report.json")).ok(), before, "a refused judge wrote a report");
}

#[test]
fn a_folder_that_cannot_be_judged_is_one_line_and_exit_2() {
    refused(Path::new("/nonexistent/run"), &[], "/nonexistent/run is not a folder: pass the run folder of a `blobfail run`");
    let empty = run_folder();
    refused(empty.path(), &[], "holds no observations.json: it is not the folder of a `blobfail run`");
    // A run's folder whose scenario saved none (a combined run's top folder).
    let combined = run_folder();
    std::fs::write(combined.path().join("report.json"), "{}").unwrap();
    refused(combined.path(), &[], "holds no observations.json: a run of several scenarios or fault plans keeps one in each one's folder");
    let text = std::fs::read_to_string(fixture().join("observations.json")).unwrap();
    let saved: Value = serde_json::from_str(&text).unwrap();
    let with = |edit: &dyn Fn(&mut Value)| {
        let dir = run_folder();
        let mut v = saved.clone();
        edit(&mut v);
        std::fs::write(dir.path().join("observations.json"), serde_json::to_string(&v).unwrap()).unwrap();
        dir
    };
    let other = with(&|v| v["format"] = 99.into());
    refused(other.path(), &[], "is in observations format 99 (written by blobfail 0.1.0), this blobfail reads format 1");
    let unknown = with(&|v| v["scenario"] = "no-such-scenario".into());
    refused(unknown.path(), &[], "holds observations of an unknown scenario \"no-such-scenario\" (this blobfail knows blob-save, backlog-memory");
    // (Every scenario saves its observations now: the refusal of one that
    // does not, `judge: None`, has no scenario left to be shown with.)
    let mangled = with(&|v| v["observed"] = serde_json::json!({"nodes": 3}));
    refused(mangled.path(), &[], "the observations are not blob-save's");
    let garbled = run_folder();
    std::fs::write(garbled.path().join("observations.json"), "{\"format\": 1, \"scen").unwrap();
    refused(garbled.path(), &[], "is not observations (not JSON:");
    // A setting of another scenario.
    let dir = saved_run();
    refused(dir.path(), &["--rss-limit", "1GiB"], "--rss-limit does not apply to blob-save: it is a setting of backlog-memory");
    refused(dir.path(), &["--growth-limit=0"], "invalid value '0' for '--growth-limit <MIB>'");
}
