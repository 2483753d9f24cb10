//! The command line around the runs: `--help` with examples for every
//! command, shell completions generated from the CLI definition, `doctor`
//! on this machine, and `component`. No cluster needed.

use std::path::Path;
use std::time::Duration;

use blobfail_suite::driver::*;

fn ok(args: &[&str]) -> String {
    let run = run_bounded(blobfail(args), Duration::from_secs(30));
    assert_eq!(run.code(), Some(0), "blobfail {args:?}: {}", run.stderr);
    run.stdout
}

#[test]
fn every_command_has_help_with_examples() {
    let main = ok(&["--help"]);
    for want in ["Examples:", "blobfail run blob-save", "blobfail doctor", "blobfail completions bash"] {
        assert!(main.contains(want), "blobfail --help lacks {want:?}:\n{main}");
    }
    let run = ok(&["run", "--help"]);
    for want in ["Examples:", "blobfail run all --junit junit.xml", "--attach", "--node-b <URL>", "BLOBFAIL_PASSWORD", "Exit codes:"] {
        assert!(run.contains(want), "blobfail run --help lacks {want:?}:\n{run}");
    }
    assert!(ok(&["doctor", "--help"]).contains("Examples:\n  blobfail doctor\n"));
    assert!(ok(&["completions", "--help"]).contains("blobfail completions zsh >"));
    assert!(ok(&["component", "--help"]).contains("blobfail component --out ./blobfail-component"));
}

#[test]
fn completions_are_generated_for_bash_zsh_and_fish() {
    for shell in ["bash", "zsh", "fish"] {
        let script = ok(&["completions", shell]);
        assert!(script.len() > 1000, "{shell}: {script}");
        for word in ["run", "doctor", "completions", "component", "blob-save", "backlog-memory", "attach", "junit"] {
            assert!(script.contains(word), "{shell} completions lack {word:?}");
        }
    }
    let run = run_bounded(blobfail(&["completions", "powerpc"]), Duration::from_secs(30));
    assert_eq!(run.code(), Some(2));
}

/// A cache folder holding what `doctor` takes for an installed harperdb.
fn fake_cache(version: &str) -> tempfile::TempDir {
    let dir = run_folder();
    let pkg = dir.path().join(format!("blobfail/harperdb-{version}/node_modules/harperdb"));
    std::fs::create_dir_all(pkg.join("bin")).unwrap();
    std::fs::write(pkg.join("bin/harperdb.js"), "// stand-in\n").unwrap();
    std::fs::write(pkg.join("package.json"), format!("{{\"name\":\"harperdb\",\"version\":\"{version}\"}}\n")).unwrap();
    dir
}

fn doctor(cache: &Path, path_var: Option<&str>, args: &[&str]) -> (Option<i32>, Vec<String>) {
    let mut all = vec!["doctor"];
    all.extend(args);
    let mut cmd = blobfail(&all);
    cmd.env("XDG_CACHE_HOME", cache);
    if let Some(p) = path_var {
        cmd.env("PATH", p);
    }
    let run = run_bounded(cmd, Duration::from_secs(60));
    (run.code(), run.stdout.lines().map(str::to_string).collect())
}

/// The items a local run needs (the last line, `network`, is for the
/// network nemeses only: ok as root with iptables, and never the exit code).
fn items(lines: &[String]) -> Vec<(String, String)> {
    let (network, needed) = lines.split_last().expect("doctor printed nothing");
    assert!(network.starts_with("ok       network   ") || network.starts_with("MISSING  network   "), "{network}");
    needed
        .iter()
        .map(|l| {
            let mut w = l.split_whitespace();
            (w.next().unwrap().to_string(), w.next().unwrap().to_string())
        })
        .collect()
}

fn expect(states: [&str; 5]) -> Vec<(String, String)> {
    ["node", "npm", "shim", "loopback", "harper"].iter().zip(states).map(|(i, s)| (s.to_string(), i.to_string())).collect()
}

#[test]
fn doctor_on_this_machine_finds_everything_and_exits_0() {
    let cache = fake_cache("4.7.29");
    let (code, lines) = doctor(cache.path(), None, &[]);
    assert_eq!(items(&lines), expect(["ok"; 5]), "{lines:#?}");
    assert_eq!(code, Some(0), "{lines:#?}");
    assert!(lines[0].contains(" v2") || lines[0].contains(" v3"), "{}", lines[0]);
    assert!(lines[2].ends_with("libblobfail.so"), "{}", lines[2]);
    assert!(lines[3].contains("free (ports 9925, 9926, 9933, 1883, 8883)"), "{}", lines[3]);
}

#[test]
fn doctor_says_what_is_missing_and_exits_1() {
    let empty = run_folder();
    let (code, lines) = doctor(empty.path(), None, &["--harper-version", "4.7.28"]);
    assert_eq!(code, Some(1));
    assert_eq!(items(&lines), expect(["ok", "ok", "ok", "ok", "MISSING"]), "{lines:#?}");
    assert!(lines[4].contains("harperdb 4.7.28 is not cached in "), "{}", lines[4]);
    assert!(lines[4].contains("the first `blobfail run` installs it with npm"), "{}", lines[4]);

    let cache = fake_cache("4.7.29");
    let (code, lines) = doctor(cache.path(), Some("/nonexistent"), &["--shim", "/nonexistent/libblobfail.so"]);
    assert_eq!(code, Some(1));
    assert_eq!(items(&lines), expect(["MISSING", "MISSING", "MISSING", "ok", "ok"]), "{lines:#?}");
    assert!(lines[0].contains("node is not on PATH: install Node.js 20 or newer"), "{}", lines[0]);
    assert!(lines[2].contains("the preload shim /nonexistent/libblobfail.so does not exist"), "{}", lines[2]);
}

#[test]
fn component_writes_the_files_to_deploy() {
    let dir = run_folder();
    let out = dir.path().join("component");
    let said = ok(&["component", "--out", out.to_str().unwrap()]);
    assert!(said.contains("copy the folder to <harper root>/components/blobfail/"), "{said}");
    let mut files: Vec<String> =
        std::fs::read_dir(&out).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    files.sort();
    assert_eq!(files, ["config.yaml", "package.json", "resources.js", "schema.graphql"]);
    let schema = std::fs::read_to_string(out.join("schema.graphql")).unwrap();
    assert!(schema.contains("type LargeLocation @table @export"), "{schema}");
}
