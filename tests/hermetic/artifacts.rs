//! The suite refuses a built artifact older than its sources
//! (tests/support/artifacts.rs): a test group must test the library and
//! driver built from the code under test, never one left from before.

use std::fs::{File, FileTimes};
use std::path::Path;
use std::time::{Duration, SystemTime};

use blobfail_suite::artifacts::{dep_info_sources, freshness, profile_dir, shim_path, workspace_dir};

/// Writes `path` (and its folders) with the given modification time.
fn file_at(path: &Path, at: SystemTime) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let file = File::create(path).unwrap();
    file.set_times(FileTimes::new().set_modified(at)).unwrap();
}

#[test]
fn an_artifact_older_than_any_source_file_is_refused_with_the_command_to_run() {
    let dir = tempfile::tempdir().unwrap();
    let built = SystemTime::now() - Duration::from_secs(3600);
    let lib = dir.path().join("target/release/libblobfail.so");
    let src = dir.path().join("shim/src");
    file_at(&src.join("lib.rs"), built - Duration::from_secs(60));
    file_at(&src.join("hooks/open.rs"), built - Duration::from_secs(1));
    file_at(&lib, built);
    // A source folder that does not exist (a crate not yet added) is no source.
    let sources = [src.clone(), dir.path().join("vocab")];
    assert_eq!(freshness(&lib, &sources), Ok(()));

    // One file, two folders down, changed one second after the build.
    let changed = src.join("hooks/open.rs");
    file_at(&changed, built + Duration::from_secs(1));
    assert_eq!(
        freshness(&lib, &sources),
        Err(format!(
            "{} is older than {}: it was not built from the sources under test; run `cargo build --release` first \
             (the README's test command does both)",
            lib.display(),
            changed.display()
        ))
    );

    // A new crate's file counts as much as the shim's own.
    file_at(&changed, built);
    let vocab = dir.path().join("vocab/src/lib.rs");
    file_at(&vocab, built + Duration::from_secs(5));
    assert!(freshness(&lib, &sources).unwrap_err().contains(&format!("older than {}:", vocab.display())));
}

#[test]
fn a_missing_artifact_is_refused_with_the_command_to_run() {
    let dir = tempfile::tempdir().unwrap();
    let lib = dir.path().join("libblobfail.so");
    assert_eq!(
        freshness(&lib, &[dir.path().to_path_buf()]),
        Err(format!(
            "{} is missing: build the workspace first with `cargo build --release` (the README's test command does both)",
            lib.display()
        ))
    );
}

/// The library this run's shim group uses passed the same check, against
/// the files cargo built it from: the shim's and vocab's, not a test-only
/// module (editing `shim/src/config/tests.rs` rebuilds nothing, and must
/// not make every test refuse the library).
#[test]
fn the_library_under_test_is_the_one_built_from_shim_src() {
    let lib = shim_path();
    assert_eq!(lib, profile_dir().join("libblobfail.so"));
    let ws = workspace_dir();
    let sources = dep_info_sources(&lib, &ws).expect("cargo wrote libblobfail.d beside the library");
    for file in ["shim/src/lib.rs", "shim/src/matcher.rs", "shim/src/config/mod.rs", "vocab/src/lib.rs"] {
        assert!(sources.contains(&ws.join(file)), "{file} not among {sources:?}");
    }
    assert!(!sources.contains(&ws.join("shim/src/config/tests.rs")), "{sources:?}");
    assert_eq!(freshness(&lib, &sources), Ok(()));
}

/// Cargo's dep-info file: `target: dep dep …`, a space in a path escaped
/// as `\ `; only the workspace's files count, and a file naming none of
/// them (a copied tree's, still naming the original) leaves the folders.
#[test]
fn the_sources_are_those_cargo_s_dep_info_file_lists_in_the_workspace() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("my ws");
    let lib = ws.join("target/release/libblobfail.so");
    std::fs::create_dir_all(lib.parent().unwrap()).unwrap();
    assert_eq!(dep_info_sources(&lib, &ws), None, "no dep-info file");
    let esc = |p: &Path| p.display().to_string().replace(' ', "\\ ");
    let (a, b) = (ws.join("shim/src/lib.rs"), ws.join("vocab/src/a b.rs"));
    std::fs::write(
        lib.with_extension("d"),
        format!("{}: {} {} /elsewhere/registry/x.rs\n\n", esc(&lib), esc(&a), esc(&b)),
    )
    .unwrap();
    assert_eq!(dep_info_sources(&lib, &ws), Some(vec![a, b]));
    std::fs::write(lib.with_extension("d"), format!("{}: /original/shim/src/lib.rs\n", esc(&lib))).unwrap();
    assert_eq!(dep_info_sources(&lib, &ws), None, "names nothing of this workspace");
}
