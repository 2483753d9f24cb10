//! `blobfail` installed the way a user installs it, `cargo install --path
//! driver`, into a folder of its own, to prove the installed binary needs no
//! other file (it carries the shim).
//!
//! The install reuses the workspace's release build (`CARGO_TARGET_DIR` is
//! the workspace's target folder; the driver's manifest resolves its
//! dependencies with the features the workspace build gives them), so after
//! `cargo build --release` it compiles nothing and takes well under a
//! second; `--offline --locked` keeps it off the network and off the lock
//! file.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::artifacts::profile_dir;
use crate::driver::wait_bounded;

/// A `cargo install --root` folder holding `bin/blobfail`, removed on drop.
pub struct Installed {
    root: tempfile::TempDir,
    /// What cargo said (with `Compiling …` for each crate it had to build).
    pub cargo_said: String,
}

impl Installed {
    /// The installed `blobfail`.
    pub fn blobfail(&self) -> PathBuf {
        self.root.path().join("bin/blobfail")
    }

    /// The crates cargo compiled for the install (none when it reused the build).
    pub fn compiled(&self) -> Vec<&str> {
        self.cargo_said.lines().map(str::trim).filter(|l| l.starts_with("Compiling ")).collect()
    }

    pub fn root(&self) -> &Path {
        self.root.path()
    }
}

/// The workspace root (this suite's package).
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs `cargo install --path driver --root <fresh folder> --offline --locked`.
pub fn install_driver() -> Installed {
    let root = tempfile::Builder::new().prefix("bf-install-").tempdir_in("/tmp").expect("tempdir");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let target_dir = profile_dir().parent().expect("the profile folder is inside the target folder").to_path_buf();
    // cargo's output goes to a file: a cold build can say more than a pipe holds.
    let log = tempfile::NamedTempFile::new().expect("tempfile");
    let mut cmd = Command::new(cargo);
    as_a_user(&mut cmd);
    let mut child = cmd
        .args(["install", "--offline", "--locked", "--path"])
        .arg(workspace_root().join("driver"))
        .arg("--root")
        .arg(root.path())
        .env("CARGO_TARGET_DIR", &target_dir)
        .current_dir(workspace_root())
        .stdin(Stdio::null())
        .stdout(log.reopen().expect("reopen"))
        .stderr(log.reopen().expect("reopen"))
        .spawn()
        .expect("start cargo install");
    // Reused, it takes under a second; a cold build of the driver takes minutes.
    let status = wait_bounded(&mut child, Duration::from_secs(20 * 60));
    let said = std::fs::read_to_string(log.path()).unwrap_or_default();
    assert!(status.success(), "cargo install --path driver failed ({status}):\n{said}");
    let installed = Installed { root, cargo_said: said };
    assert!(installed.blobfail().is_file(), "cargo install left no {}", installed.blobfail().display());
    installed
}

/// Takes off a command the variables `cargo test` gives the test process
/// (CARGO_MANIFEST_DIR, CARGO_PKG_*, ...), so a cargo it runs sees the
/// environment a user's `cargo build` saw. A build script that watches one
/// (ring's watches CARGO_MANIFEST_DIR) would take it for a change and
/// rebuild TLS and everything above it, the driver included: minutes.
pub fn as_a_user(cmd: &mut Command) {
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        if ["CARGO_MANIFEST_", "CARGO_PKG_", "CARGO_CRATE_", "CARGO_BIN_", "CARGO_PRIMARY_", "CARGO_TARGET_TMPDIR"]
            .iter()
            .any(|p| key.starts_with(p))
            || key == "OUT_DIR"
        {
            cmd.env_remove(key.as_ref());
        }
    }
}

/// Whether `blobfail --help` lists `command` (`exec` comes with the shim
/// work, merged beside this one; until then the steps that use it say they
/// skip).
pub fn has_command(blobfail: &Path, command: &str) -> bool {
    let out = Command::new(blobfail).arg("--help").output().expect("run blobfail --help");
    String::from_utf8_lossy(&out.stdout).lines().any(|l| l.trim_start().starts_with(&format!("{command} ")))
}
