//! Locating what `cargo build --release` produced.

use std::path::PathBuf;

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

fn built(name: &str) -> PathBuf {
    let path = profile_dir().join(name);
    assert!(
        path.exists(),
        "{} is missing: build the workspace first with `cargo build --release` \
         (the README's test command does both)",
        path.display()
    );
    path
}

/// The preload library, `libblobfail.so`.
pub fn shim_path() -> PathBuf {
    built("libblobfail.so")
}

/// The driver binary, `blobfail`.
pub fn driver_path() -> PathBuf {
    built("blobfail")
}
