//! A Harper with the blob-save containment, for tests that must see the
//! containment checks pass on a real cluster.
//!
//! Harper's fix (harper-pro #149, 5.0.17, not on npm) stores the
//! catch-handled promise of a failed blob save in the connection's list of
//! blobs to finish, instead of the raw rejecting one, and logs
//! `[error] [replication]: Blob save failed for <id> from <peer>`. On
//! harperdb 4.7.29 the raw promise is pushed, so a failed save escapes as
//! `uncaughtException`. [`contained_harper`] copies the harperdb package the
//! driver caches (installing it with npm the way the driver does when it is
//! missing) to a fresh folder and applies that fix to its bundled
//! replication code, a search and replace at test time: nothing of Harper
//! is kept in this repository.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The only Harper the npm registry serves, and the one the patch fits.
pub const HARPER_VERSION: &str = "4.7.29";

/// The bundled file that holds the replication connection (minified).
pub const PATCHED_FILE: &str = "server/threads/threadServer.js";

/// The place in 4.7.29's `receiveBlobs` where a received blob's save
/// promise (`ne`) is pushed onto the connection's outstanding list (`De`),
/// raw: a rejection there reaches the `Promise.all` of the commit and the
/// `finally` beside it, and escapes.
const SITE: &str = "let ne=ra(()=>ap(me).saving,h.auditStore?.rootStore);return ne&&(ne.blobId=V,De.push(ne),";

/// The same, keeping the catch-handled promise and logging the failure with
/// the replication logger (`ce`), naming the record (`G`) and the peer node
/// (`_`), as the fix does.
const CONTAINED: &str = "let ne=ra(()=>ap(me).saving,h.auditStore?.rootStore);return ne&&(\
ne=ne.catch(blobfailError=>{ce.error?.(`Blob save failed for ${G} from ${_}`,blobfailError)}),\
ne.blobId=V,De.push(ne),";

/// Applies the containment to the text of [`PATCHED_FILE`]: an error naming
/// what was found unless the site occurs exactly once.
pub fn apply_containment(bundle: &str) -> Result<String, String> {
    match bundle.matches(SITE).count() {
        1 => Ok(bundle.replacen(SITE, CONTAINED, 1)),
        n => Err(format!(
            "the blob-save patch site occurs {n} times in {PATCHED_FILE} (expected exactly once): \
             this fixture fits harperdb {HARPER_VERSION}'s bundle only"
        )),
    }
}

/// The driver's cache folder (`directories`' rule on Linux:
/// `$XDG_CACHE_HOME/blobfail`, else `~/.cache/blobfail`).
pub fn cache_dir() -> PathBuf {
    match std::env::var_os("XDG_CACHE_HOME").map(PathBuf::from) {
        Some(d) if d.is_absolute() => d.join("blobfail"),
        _ => PathBuf::from(std::env::var_os("HOME").expect("HOME is set")).join(".cache/blobfail"),
    }
}

/// The cached `harperdb@4.7.29` install folder (its `node_modules` holds
/// harperdb and its dependencies), installed with npm the way the driver
/// installs it when missing: into a staging folder renamed into place, so a
/// driver run beside this one never takes a half install for a whole one.
pub fn cached_harper() -> PathBuf {
    let dir = cache_dir().join(format!("harperdb-{HARPER_VERSION}"));
    let cli = |d: &Path| d.join("node_modules/harperdb/bin/harperdb.js");
    if cli(&dir).is_file() {
        return dir;
    }
    let parent = dir.parent().unwrap();
    std::fs::create_dir_all(parent).unwrap();
    // The driver's staging name, so its clean-up of dead installs knows it.
    let staging = parent.join(format!(".harperdb-{HARPER_VERSION}.partial-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging).unwrap();
    let out = Command::new("npm")
        .args(["install", "--no-audit", "--no-fund", "--prefix"])
        .arg(&staging)
        .arg(format!("harperdb@{HARPER_VERSION}"))
        .stdin(Stdio::null())
        .output()
        .expect("run npm (the tests need Node.js and npm on PATH)");
    assert!(
        out.status.success() && cli(&staging).is_file(),
        "npm install harperdb@{HARPER_VERSION} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    if std::fs::rename(&staging, &dir).is_err() {
        // Another run finished the same install first: use theirs.
        assert!(cli(&dir).is_file(), "could not move the install into {}", dir.display());
        let _ = std::fs::remove_dir_all(&staging);
    }
    dir
}

/// A harperdb 4.7.29 package with the blob-save containment, in a folder of
/// its own that is removed when this is dropped.
pub struct ContainedHarper {
    dir: tempfile::TempDir,
}

impl ContainedHarper {
    /// The folder to pass as `--harper` (it holds
    /// `node_modules/harperdb/bin/harperdb.js`).
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The patched bundle.
    pub fn patched_file(&self) -> PathBuf {
        self.path().join("node_modules/harperdb").join(PATCHED_FILE)
    }
}

/// Copies the cached harperdb package into a fresh folder and patches it.
/// Only the harperdb package itself is copied (39 MB); its dependencies are
/// linked from the cache, where Node resolves them from the copy as it does
/// from the original (none of them imports harperdb back).
pub fn contained_harper() -> ContainedHarper {
    let cached = cached_harper().join("node_modules");
    let dir = tempfile::Builder::new().prefix("bf-contained-harper-").tempdir().expect("tempdir");
    let modules = dir.path().join("node_modules");
    std::fs::create_dir(&modules).unwrap();
    for entry in std::fs::read_dir(&cached).unwrap().flatten() {
        let name = entry.file_name();
        if name != "harperdb" {
            std::os::unix::fs::symlink(entry.path(), modules.join(&name)).unwrap();
        }
    }
    copy_tree(&cached.join("harperdb"), &modules.join("harperdb"));
    let harper = ContainedHarper { dir };
    let file = harper.patched_file();
    let bundle = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("read {}: {e}", file.display()));
    let patched = apply_containment(&bundle).unwrap_or_else(|e| panic!("{e} ({})", file.display()));
    std::fs::write(&file, patched).unwrap();
    harper
}

/// `cp -r` of a package folder: files, folders and symlinks.
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap_or_else(|e| panic!("read {}: {e}", from.display())).flatten() {
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        let kind = entry.file_type().unwrap();
        if kind.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&src).unwrap(), &dst).unwrap();
        } else if kind.is_dir() {
            copy_tree(&src, &dst);
        } else {
            std::fs::copy(&src, &dst).unwrap_or_else(|e| panic!("copy {}: {e}", src.display()));
        }
    }
}
