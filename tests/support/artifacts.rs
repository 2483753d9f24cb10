//! Locating what `cargo build --release` produced, and refusing it when it
//! was not built from the sources under test.
//!
//! `cargo test` does not rebuild the preload library (a cdylib nothing
//! links against) or the driver binary the tests run: a test group could
//! pass against an old `libblobfail.so` while the shim's code says
//! otherwise. So an artifact older than any file of its sources (those
//! cargo's dep-info file lists, see `dep_info_sources`) is refused with one
//! line saying to run `cargo build --release`. Set
//! `BLOBFAIL_TEST_BUILD=1` to have the tests build it themselves instead
//! (`scripts/mutants.sh` does: cargo-mutants runs `cargo test` only).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::SystemTime;

/// The cargo target profile folder the running test binary lives in
/// (`target/release` when run by the README's test command).
pub fn profile_dir() -> PathBuf {
    // Test binaries live in <target>/<profile>/deps/<name>-<hash>.
    let exe = std::env::current_exe().expect("current_exe");
    exe.parent()
        .and_then(|deps| deps.parent())
        .expect("test binary is inside <target>/<profile>/deps")
        .to_path_buf()
}

/// The workspace root (this suite's package is the root package).
pub fn workspace_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The preload library, `libblobfail.so`, built from the shim's sources.
pub fn shim_path() -> PathBuf {
    static SHIM: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    current(&SHIM, "libblobfail.so", "blobfail-shim", &["shim/src", "shim/Cargo.toml", "vocab"])
}

/// The driver binary, `blobfail`, built from the driver's sources.
pub fn driver_path() -> PathBuf {
    static DRIVER: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    current(&DRIVER, "blobfail", "blobfail-driver", &["driver/src", "driver/Cargo.toml", "driver/build.rs", "vocab"])
}

/// The artifact `name`, checked once per test binary (a stale artifact
/// fails every test that asks for it, with the same line).
fn current(
    cell: &'static OnceLock<Result<PathBuf, String>>,
    name: &str,
    package: &str,
    sources: &[&str],
) -> PathBuf {
    let checked = cell.get_or_init(|| {
        let artifact = profile_dir().join(name);
        let sources: Vec<PathBuf> = dep_info_sources(&artifact, &workspace_dir())
            .unwrap_or_else(|| sources.iter().map(|s| workspace_dir().join(s)).collect());
        let verdict = freshness(&artifact, &sources);
        if verdict.is_err() && std::env::var_os("BLOBFAIL_TEST_BUILD").is_some_and(|v| v == "1") {
            build(package);
            return freshness(&artifact, &sources).map(|()| artifact);
        }
        verdict.map(|()| artifact)
    });
    match checked {
        Ok(path) => path.clone(),
        Err(refusal) => panic!("{refusal}"),
    }
}

/// The files of `workspace` cargo built `artifact` from, as the dep-info
/// file it writes beside it lists them (`libblobfail.d` for
/// `libblobfail.so`): exactly the files whose change makes `cargo build`
/// build it again. A test-only module in a file of its own (`#[cfg(test)]
/// mod tests;`) is not among them, so editing one leaves the artifact
/// current, as cargo sees it too. None when there is no dep-info file, or
/// it names no file of `workspace` (a copied tree, as cargo-mutants makes,
/// whose dep-info still names the original's files): then the caller's
/// source folders count.
pub fn dep_info_sources(artifact: &Path, workspace: &Path) -> Option<Vec<PathBuf>> {
    let text = std::fs::read_to_string(artifact.with_extension("d")).ok()?;
    let mut files = Vec::new();
    for line in text.lines() {
        let Some((_, deps)) = line.split_once(": ") else { continue };
        // Cargo escapes a space inside a path as `\ `.
        let mut path = String::new();
        let mut chars = deps.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\\' if chars.peek() == Some(&' ') => path.push(chars.next().unwrap_or(' ')),
                ' ' => files.push(std::mem::take(&mut path)),
                c => path.push(c),
            }
        }
        files.push(path);
    }
    let files: Vec<PathBuf> = files.into_iter().filter(|f| !f.is_empty()).map(PathBuf::from).filter(|f| f.starts_with(workspace)).collect();
    (!files.is_empty()).then_some(files)
}

/// Whether `artifact` exists and is at least as new as every file under
/// `sources` (files, or folders walked; a source that does not exist is
/// skipped, so a crate not yet in the workspace costs nothing). The error
/// is the one line a person reads: what is wrong and what to run.
pub fn freshness(artifact: &Path, sources: &[PathBuf]) -> Result<(), String> {
    let built = match std::fs::metadata(artifact).and_then(|m| m.modified()) {
        Ok(t) => t,
        Err(_) => {
            return Err(format!(
                "{} is missing: build the workspace first with `cargo build --release` \
                 (the README's test command does both)",
                artifact.display()
            ))
        }
    };
    match newest(sources) {
        Some((changed, path)) if changed > built => Err(format!(
            "{} is older than {}: it was not built from the sources under test; run \
             `cargo build --release` first (the README's test command does both)",
            artifact.display(),
            path.display()
        )),
        _ => Ok(()),
    }
}

/// The most recently modified file under `sources`, with its time.
fn newest(sources: &[PathBuf]) -> Option<(SystemTime, PathBuf)> {
    let mut best: Option<(SystemTime, PathBuf)> = None;
    let mut pending: Vec<PathBuf> = sources.to_vec();
    while let Some(path) = pending.pop() {
        let Ok(meta) = std::fs::metadata(&path) else { continue };
        if meta.is_dir() {
            // `target/` of a crate folder (a nested build) is output, not source.
            if path.file_name().is_some_and(|n| n == "target") {
                continue;
            }
            if let Ok(entries) = std::fs::read_dir(&path) {
                pending.extend(entries.flatten().map(|e| e.path()));
            }
        } else if let Ok(t) = meta.modified() {
            if best.as_ref().is_none_or(|(b, _)| t > *b) {
                best = Some((t, path));
            }
        }
    }
    best
}

/// `cargo build` of `package` in the test binary's own profile, for
/// `BLOBFAIL_TEST_BUILD=1` runs (cargo's own lock orders two at once).
fn build(package: &str) {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = std::process::Command::new(cargo);
    cmd.current_dir(workspace_dir()).args(["build", "--quiet", "-p", package]);
    match profile_dir().file_name().and_then(|n| n.to_str()) {
        Some("debug") => {}
        Some("release") => {
            cmd.arg("--release");
        }
        Some(other) => {
            cmd.args(["--profile", other]);
        }
        None => panic!("no profile folder above {}", profile_dir().display()),
    }
    let status = cmd.status().unwrap_or_else(|e| panic!("failed to run {cmd:?}: {e}"));
    assert!(status.success(), "{cmd:?} failed ({status})");
}
