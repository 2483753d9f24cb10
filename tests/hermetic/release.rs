//! The release archive: `scripts/release.sh` makes
//! `blobfail-<version>-<target>.tar.gz` and its `.sha256`; unpacked
//! anywhere, the driver in it runs (`doctor` finds the shim it carries) and
//! the shim beside it is that same shim.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use blobfail_suite::artifacts::driver_path;
use blobfail_suite::driver::*;
use blobfail_suite::install::{as_a_user, has_command, workspace_root};

fn host() -> String {
    let out = Command::new("rustc").arg("-vV").output().expect("run rustc -vV");
    String::from_utf8(out.stdout).unwrap().lines().find_map(|l| l.strip_prefix("host: ")).expect("host line").to_string()
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}

#[test]
fn the_release_archive_unpacks_to_a_driver_that_runs_with_its_shim_beside_it() {
    let dir = run_folder();
    let top = path_of(&dir);
    let dist = top.join("dist");
    let mut cmd = Command::new(workspace_root().join("scripts/release.sh"));
    as_a_user(&mut cmd);
    cmd.arg("--out").arg(&dist).current_dir(&top).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    // After `cargo build --release` the script's build is a no-op: packing takes seconds.
    let run = run_bounded(cmd, Duration::from_secs(20 * 60));
    assert_eq!(run.code(), Some(0), "release.sh: {}", run.stderr);

    let manifest = std::fs::read_to_string(workspace_root().join("driver/Cargo.toml")).unwrap();
    let version = manifest.lines().find_map(|l| l.strip_prefix("version = \"")).and_then(|v| v.strip_suffix('"')).unwrap();
    let name = format!("blobfail-{version}-{}", host());
    let archive = dist.join(format!("{name}.tar.gz"));
    let sums = dist.join(format!("{name}.tar.gz.sha256"));
    assert_eq!(run.stdout, format!("{}\n{}\n", archive.display(), sums.display()));
    assert_eq!(names_in(&dist), [format!("{name}.tar.gz"), format!("{name}.tar.gz.sha256")]);

    let check = Command::new("sha256sum").arg("-c").arg(&sums).current_dir(&dist).output().expect("sha256sum");
    assert!(check.status.success(), "sha256sum -c: {}", String::from_utf8_lossy(&check.stdout));
    assert_eq!(String::from_utf8_lossy(&check.stdout), format!("{name}.tar.gz: OK\n"));

    let unpacked = top.join("unpacked");
    std::fs::create_dir_all(&unpacked).unwrap();
    let tar = Command::new("tar").arg("xzf").arg(&archive).arg("-C").arg(&unpacked).status().expect("tar");
    assert!(tar.success());
    assert_eq!(names_in(&unpacked), std::slice::from_ref(&name), "one top folder, named like the archive");
    let root = unpacked.join(&name);
    let mut want = vec!["LICENSE-APACHE", "LICENSE-MIT", "README.md", "blobfail", "libblobfail.so"];
    if workspace_root().join("docs").is_dir() {
        want.push("docs");
        want.sort();
    }
    assert_eq!(names_in(&root), want);
    assert!(std::fs::read(root.join("blobfail")).unwrap() == std::fs::read(driver_path()).unwrap(), "not the built driver");

    // The driver, run from the unpacked folder with a cache of its own,
    // finds everything a run needs (Harper: a stand-in in that cache).
    let cache = top.join("cache");
    let pkg = cache.join("blobfail/harperdb-4.7.29/node_modules/harperdb");
    std::fs::create_dir_all(pkg.join("bin")).unwrap();
    std::fs::write(pkg.join("bin/harperdb.js"), "// stand-in\n").unwrap();
    std::fs::write(pkg.join("package.json"), "{\"name\":\"harperdb\",\"version\":\"4.7.29\"}\n").unwrap();
    let mut doctor = Command::new(root.join("blobfail"));
    doctor
        .arg("doctor")
        .env("XDG_CACHE_HOME", &cache)
        .current_dir(&top)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let doctor = run_bounded(doctor, Duration::from_secs(60));
    assert_eq!(doctor.code(), Some(0), "doctor from the archive:\n{}{}", doctor.stdout, doctor.stderr);
    let shim_line = doctor.stdout.lines().find(|l| l.contains(" shim ")).unwrap_or_else(|| panic!("{}", doctor.stdout));
    let carried = PathBuf::from(shim_line.strip_prefix("ok       shim      ").unwrap_or_else(|| panic!("{shim_line}")));
    assert!(carried.starts_with(cache.join("blobfail")), "{shim_line}");
    // `blobfail exec` from the unpacked folder runs a program with the carried shim.
    if has_command(&root.join("blobfail"), "exec") {
        let mut exec = Command::new(root.join("blobfail"));
        exec.args(["exec", "--interval", "7", "--", "true"])
            .env("XDG_CACHE_HOME", &cache)
            .current_dir(&top)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let exec = run_bounded(exec, Duration::from_secs(60));
        assert_eq!(exec.code(), Some(0), "blobfail exec --interval 7 -- true from the archive: {}", exec.stderr);
    } else {
        eprintln!("skipped: this blobfail has no exec command yet (it comes with the shim work)");
    }
    // The shim shipped as a file is the one the driver carries.
    assert!(std::fs::read(root.join("libblobfail.so")).unwrap() == std::fs::read(&carried).unwrap(), "the archive's libblobfail.so is not the carried shim");
}
