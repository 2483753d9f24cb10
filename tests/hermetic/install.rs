//! The installed driver carries the shim: `cargo install --path driver`
//! into an empty folder, then, with nothing else beside it, `blobfail
//! shim-path` writes the carried shim to the user's cache under its hash,
//! and that file preloaded into a real program (the shell) fails exactly
//! the calls it is armed for. No cluster; the cluster group runs
//! `blob-save` from such an install (tests/cluster/install.rs).

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use blobfail_suite::artifacts::driver_path;
use blobfail_suite::driver::*;
use blobfail_suite::install::{has_command, install_driver};

/// Runs the installed `blobfail` from an empty folder, with a cache of the test's own.
fn installed(bin: &Path, cache: &Path, cwd: &Path, args: &[&str]) -> Run {
    let mut cmd = Command::new(bin);
    cmd.args(args)
        .env("XDG_CACHE_HOME", cache)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    run_bounded(cmd, Duration::from_secs(60))
}

fn sha256(path: &Path) -> String {
    let out = Command::new("sha256sum").arg(path).output().expect("run sha256sum");
    assert!(out.status.success(), "sha256sum {}", path.display());
    String::from_utf8(out.stdout).unwrap().split_whitespace().next().unwrap().to_string()
}

#[test]
fn the_installed_blobfail_writes_its_shim_to_the_cache_and_it_preloads_into_a_real_program() {
    let built = std::fs::read(driver_path()).unwrap();
    let install = install_driver();
    let bin = install.blobfail();
    let files: Vec<String> = std::fs::read_dir(bin.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(files, ["blobfail"], "the install's bin folder holds only the driver");
    // The very binary `cargo build --release` made, compiling nothing (a
    // rebuild would also replace target/release/blobfail, so compare with
    // the bytes read before the install). Anything compiled means the driver
    // alone resolves some crate with other features than the workspace does.
    assert_eq!(
        install.compiled(),
        Vec::<&str>::new(),
        "cargo install --path driver compiled crates again instead of reusing `cargo build --release`: compare \
         `cargo tree -e features -p blobfail-driver` with the workspace's and name the missing feature in driver/Cargo.toml"
    );
    assert!(std::fs::read(&bin).unwrap() == built, "cargo install --path driver installed another blobfail than `cargo build --release` made");

    let home = run_folder();
    let cache = home.path().join("cache");
    let work = home.path().join("work");
    std::fs::create_dir_all(work.join("blobs")).unwrap();

    // First use: written under a folder named by its SHA-256.
    let run = installed(&bin, &cache, &work, &["shim-path"]);
    assert_eq!(run.code(), Some(0), "shim-path: {}", run.stderr);
    assert_eq!(run.stderr, "");
    let shim = PathBuf::from(run.stdout.trim_end());
    assert_eq!(run.stdout, format!("{}\n", shim.display()), "one line, the path");
    let folder = shim.parent().unwrap().file_name().unwrap().to_string_lossy().into_owned();
    assert_eq!(shim.parent().unwrap().parent().unwrap(), cache.join("blobfail"));
    assert_eq!(shim.file_name().unwrap(), "libblobfail.so");
    let hash = sha256(&shim);
    assert_eq!(folder, format!("shim-{}", &hash[..16]), "the folder is named by the file's hash");

    // Again: the same file, left alone.
    let inode = std::fs::metadata(&shim).unwrap().ino();
    assert_eq!(installed(&bin, &cache, &work, &["shim-path"]).stdout.trim_end(), shim.to_str().unwrap());
    assert_eq!(std::fs::metadata(&shim).unwrap().ino(), inode, "an intact shim is not rewritten");

    // Damaged, then deleted: rewritten with the carried bytes each time.
    std::fs::write(&shim, b"not a shared library").unwrap();
    assert_eq!(installed(&bin, &cache, &work, &["shim-path"]).code(), Some(0));
    assert_eq!(sha256(&shim), hash, "a damaged shim is rewritten");
    std::fs::remove_file(&shim).unwrap();
    assert_eq!(installed(&bin, &cache, &work, &["shim-path"]).code(), Some(0));
    assert_eq!(sha256(&shim), hash, "a deleted shim is written again");

    // `LD_PRELOAD=$(blobfail shim-path)` into a real program: the shell
    // opens each file for its redirection; every 3rd fails with ENOENT.
    let out = Command::new("sh")
        .arg("-c")
        .arg("for i in 1 2 3 4 5 6 7 8 9; do echo $i > blobs/$i || echo failed $i; done")
        .current_dir(&work)
        .env("LD_PRELOAD", &shim)
        .env("HARPER_TEST_BLOB_FAIL_INTERVAL", "3")
        .output()
        .expect("run sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stdout, "failed 3\nfailed 6\nfailed 9\n", "stderr: {stderr}");
    assert!(stderr.starts_with("blobfail: armed pid="), "{stderr}");
    assert!(stderr.contains(" interval=3 path=/blobs/ ops=write errno=ENOENT"), "{stderr}");
    assert_eq!(blobs_written(&work), ["1", "2", "4", "5", "7", "8"]);

    // `blobfail exec` preloads the carried shim itself: every 2nd file fails.
    if has_command(&bin, "exec") {
        let run = installed(
            &bin,
            &cache,
            &work,
            &["exec", "--interval", "2", "--", "sh", "-c", "for i in 1 2 3 4; do echo $i > blobs/e$i || echo failed e$i; done"],
        );
        assert_eq!(run.code(), Some(0), "blobfail exec: {}", run.stderr);
        assert_eq!(run.stdout, "failed e2\nfailed e4\n", "stderr: {}", run.stderr);
        assert!(run.stderr.contains("blobfail: armed pid="), "{}", run.stderr);
        assert!(blobs_written(&work).contains(&"e3".to_string()));
    } else {
        eprintln!("skipped: this blobfail has no exec command yet (it comes with the shim work)");
    }

    // doctor from the install finds that same shim.
    let doctor = installed(&bin, &cache, &work, &["doctor"]);
    let shim_line = doctor.stdout.lines().find(|l| l.contains(" shim ")).unwrap_or_else(|| panic!("{}", doctor.stdout));
    assert_eq!(shim_line, format!("ok       shim      {}", shim.display()));
}

fn blobs_written(work: &Path) -> Vec<String> {
    let mut written: Vec<String> = std::fs::read_dir(work.join("blobs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    written.sort();
    written
}
