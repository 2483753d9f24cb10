//! Builds the preload shim (the workspace's `blobfail-shim` cdylib) for the
//! driver's own target and profile, so that `blobfail` carries it
//! (`src/embedded.rs` includes the bytes; at first use they are written to
//! the user's cache).
//!
//! Cargo cannot make one package's cdylib an input of another's binary on
//! stable (artifact dependencies are unstable), so this runs a nested
//! `cargo build` of the shim into a target folder of its own under OUT_DIR:
//! no lock is shared with the outer build, and the folder persists between
//! builds, so a rebuild only recompiles what changed. It builds for the
//! driver's target (`TARGET`), so a driver cross-built for another target
//! carries a shim for that same target. It reruns when a file that went into
//! the shim changes (from the shim's dep-info, which lists every local
//! source, path dependencies included) or a manifest or the lock file does.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let workspace = manifest_dir.parent().expect("the driver sits inside the workspace").to_path_buf();
    let shim_manifest = workspace.join("shim/Cargo.toml");
    if !shim_manifest.is_file() {
        fail(&format!(
            "the shim's manifest {} is missing: the driver is built from the blobfail workspace, which holds shim/ beside driver/",
            shim_manifest.display()
        ));
    }
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let target = env::var("TARGET").expect("cargo sets TARGET");
    // "release" for the release and bench profiles (and custom ones that
    // inherit release), "debug" otherwise: the shim gets the same optimisation.
    let release = env::var("PROFILE").as_deref() == Ok("release");
    let target_dir = out_dir.join("shim-target");

    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "--lib", "--locked", "--manifest-path"])
        .arg(&shim_manifest)
        .args(["--target", &target, "--target-dir"])
        .arg(&target_dir)
        .current_dir(&workspace);
    if release {
        cmd.arg("--release");
    }
    // The outer build's settings for the build script's own crate do not
    // belong to the nested one: it reads the user's RUSTFLAGS / config
    // itself, as the outer build did. The jobserver (CARGO_MAKEFLAGS) is
    // inherited on purpose, so the nested build shares the outer -j.
    for var in ["CARGO_TARGET_DIR", "CARGO_BUILD_TARGET_DIR", "CARGO_ENCODED_RUSTFLAGS", "CARGO_PRIMARY_PACKAGE", "RUSTC_WORKSPACE_WRAPPER"] {
        cmd.env_remove(var);
    }
    let status = cmd.status().unwrap_or_else(|e| fail(&format!("failed to start cargo to build the shim: {e}")));
    if !status.success() {
        fail(&format!("building the shim for {target} failed ({status}); its errors are above"));
    }

    let profile_dir = target_dir.join(&target).join(if release { "release" } else { "debug" });
    let built = profile_dir.join("libblobfail.so");
    if !built.is_file() {
        fail(&format!("cargo built the shim but {} is not there", built.display()));
    }
    println!("cargo:rustc-env=BLOBFAIL_EMBEDDED_SHIM={}", built.display());

    // Rerun when anything that went into the shim changes.
    for path in dep_info_sources(&profile_dir.join("libblobfail.d")) {
        println!("cargo:rerun-if-changed={}", path.display());
    }
    // (Only files that exist: cargo reruns a script on every build while a
    // file it names is missing.)
    for manifest in ["Cargo.toml", "Cargo.lock", "shim/Cargo.toml"] {
        println!("cargo:rerun-if-changed={}", workspace.join(manifest).display());
    }
    println!("cargo:rerun-if-changed=build.rs");
}

/// The source files a cargo dep-info file (`out: src src ...`) lists; a
/// space inside a path is escaped with a backslash.
fn dep_info_sources(dep_info: &Path) -> Vec<PathBuf> {
    let text = std::fs::read_to_string(dep_info)
        .unwrap_or_else(|e| fail(&format!("failed to read the shim's dep-info {}: {e}", dep_info.display())));
    let mut sources = Vec::new();
    for line in text.lines() {
        // The artifact's own line is the one whose target is a path ending in
        // ".so:"; the rest (if any) are `path:` lines that list nothing.
        let Some((_, deps)) = line.split_once(": ") else { continue };
        let mut current = String::new();
        let mut chars = deps.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\\' if chars.peek() == Some(&' ') => {
                    current.push(' ');
                    chars.next();
                }
                ' ' => {
                    if !current.is_empty() {
                        sources.push(PathBuf::from(std::mem::take(&mut current)));
                    }
                }
                c => current.push(c),
            }
        }
        if !current.is_empty() {
            sources.push(PathBuf::from(current));
        }
    }
    if sources.is_empty() {
        fail(&format!("the shim's dep-info {} lists no source file", dep_info.display()));
    }
    sources
}

fn fail(message: &str) -> ! {
    eprintln!("error: {message}");
    std::process::exit(1);
}
