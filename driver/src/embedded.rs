//! The preload shim this binary carries: the workspace's `libblobfail.so`,
//! built by `build.rs` for the driver's own target and profile, and written
//! at first use to the user's cache under a folder named by its SHA-256, so
//! an installed `blobfail` needs no other file.
//!
//! The file is rewritten when it is missing or its bytes differ from the
//! carried ones (a damaged or foreign file), through a temporary file and a
//! rename in the same folder, so a concurrent run, or a program that has it
//! preloaded, never sees it half written.

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};

/// The shim's bytes, as built for this binary's target.
pub const SHIM: &[u8] = include_bytes!(env!("BLOBFAIL_EMBEDDED_SHIM"));

/// The carried shim's file in the user's cache, written there if missing or
/// different: `<cache>/blobfail/shim-<first 16 hex digits of its SHA-256>/libblobfail.so`.
pub fn shim_path() -> Result<PathBuf> {
    let cache = crate::cluster::harper::cache_dir()
        .context("failed to find a folder for the carried shim; pass --shim PATH")?;
    install(&cache, SHIM)
}

/// Writes `bytes` as `libblobfail.so` in a folder of `cache` named by their
/// hash, unless an identical file is already there; returns its path.
fn install(cache: &Path, bytes: &[u8]) -> Result<PathBuf> {
    let dir = cache.join(format!("shim-{}", short_hash(bytes)));
    let path = dir.join("libblobfail.so");
    if fs::read(&path).map(|on_disk| on_disk == bytes).unwrap_or(false) {
        return Ok(path);
    }
    let what_to_do = "set XDG_CACHE_HOME to a writable folder, or pass --shim PATH";
    fs::create_dir_all(&dir).with_context(|| format!("failed to create {} ({what_to_do})", dir.display()))?;
    let tmp = dir.join(format!(".libblobfail.so.{}.tmp", std::process::id()));
    let written = (|| -> std::io::Result<()> {
        let mut file = fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.set_permissions(fs::Permissions::from_mode(0o755))?;
        file.sync_all()?;
        fs::rename(&tmp, &path)
    })();
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(e).with_context(|| format!("failed to write the carried shim to {} ({what_to_do})", path.display()));
    }
    Ok(path)
}

/// The first 16 hex digits of the SHA-256 of `bytes` (what `sha256sum` prints first).
fn short_hash(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().take(8).map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_carried_shim_is_a_shared_library_for_this_target() {
        assert!(SHIM.starts_with(b"\x7fELF"), "not an ELF file");
        assert_eq!(SHIM[16], 3, "e_type is not ET_DYN");
        // e_machine, little-endian: the driver's own architecture.
        let machine = u16::from_le_bytes([SHIM[18], SHIM[19]]);
        let want = if cfg!(target_arch = "x86_64") { 62 } else if cfg!(target_arch = "aarch64") { 183 } else { machine };
        assert_eq!(machine, want, "the carried shim is for another architecture");
    }

    #[test]
    fn written_once_under_its_hash_and_rewritten_when_missing_or_different() {
        let cache = std::env::temp_dir().join(format!("blobfail-embedded-test-{}", std::process::id()));
        let _ = fs::remove_dir_all(&cache);
        let bytes = b"\x7fELF stand-in for the shim".as_slice();

        let path = install(&cache, bytes).unwrap();
        assert_eq!(path, cache.join(format!("shim-{}/libblobfail.so", short_hash(bytes))));
        assert_eq!(fs::read(&path).unwrap(), bytes);
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o755);

        // Identical: left alone (same inode).
        let inode = |p: &Path| std::os::unix::fs::MetadataExt::ino(&fs::metadata(p).unwrap());
        let before = inode(&path);
        assert_eq!(install(&cache, bytes).unwrap(), path);
        assert_eq!(inode(&path), before);

        // Different bytes under that name: replaced by the carried ones.
        fs::write(&path, b"damaged").unwrap();
        install(&cache, bytes).unwrap();
        assert_eq!(fs::read(&path).unwrap(), bytes);

        // Missing: written again; no temporary file is left behind.
        fs::remove_file(&path).unwrap();
        install(&cache, bytes).unwrap();
        assert_eq!(fs::read(&path).unwrap(), bytes);
        let left: Vec<_> = fs::read_dir(path.parent().unwrap()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(left, ["libblobfail.so"]);

        // Another shim (another build) gets a folder of its own.
        let other = install(&cache, b"\x7fELF another build").unwrap();
        assert_ne!(other.parent(), path.parent());
        fs::remove_dir_all(&cache).unwrap();
    }

    #[test]
    fn an_unwritable_cache_says_what_to_do() {
        let e = install(Path::new("/proc/blobfail-cannot-be-here"), b"x").unwrap_err();
        let text = format!("{e:#}");
        assert!(text.contains("failed to create /proc/blobfail-cannot-be-here/shim-"), "{text}");
        assert!(text.contains("set XDG_CACHE_HOME to a writable folder, or pass --shim PATH"), "{text}");
    }

    #[test]
    fn short_hash_is_the_start_of_sha256() {
        // sha256("abc") = ba7816bf8f01cfea414140de5dae2223...
        assert_eq!(short_hash(b"abc"), "ba7816bf8f01cfea");
    }
}
