//! Does an open match? Pure functions over the call's flags (or fopen mode)
//! and its path, resolved to an absolute path without allocating.

use crate::config::{Ops, MAX_NEEDLE};

/// Whether open(2) flags ask for an unnamed temporary file. `O_TMPFILE`
/// includes the `O_DIRECTORY` bit, so only all of its bits say so: testing
/// any of them would take every directory open for one.
pub fn flags_tmpfile(flags: i32) -> bool {
    flags & libc::O_TMPFILE == libc::O_TMPFILE
}

/// Whether open(2) flags may write to the file.
pub fn flags_write(flags: i32) -> bool {
    flags & libc::O_ACCMODE != libc::O_RDONLY
        || flags & (libc::O_CREAT | libc::O_TRUNC | libc::O_APPEND) != 0
        || flags_tmpfile(flags)
}

/// Whether an fopen(3) mode string opens for writing: `w`, `a`, or any `+`
/// (`r+`, `rb+`, `w+x`, ...). Glibc reads the mode up to its NUL.
pub fn fopen_mode_writes(mode: &[u8]) -> bool {
    mode.first().is_some_and(|&m| m == b'w' || m == b'a') || mode.contains(&b'+')
}

/// The open(2) flags an fopen mode stands for, as reported in the fault log.
pub fn fopen_mode_flags(mode: &[u8]) -> i32 {
    let plus = mode.contains(&b'+');
    let access = if plus { libc::O_RDWR } else { libc::O_WRONLY };
    let cloexec = if mode.contains(&b'e') { libc::O_CLOEXEC } else { 0 };
    let excl = if mode.contains(&b'x') { libc::O_EXCL } else { 0 };
    cloexec
        | excl
        | match mode.first() {
            Some(b'w') => access | libc::O_CREAT | libc::O_TRUNC,
            Some(b'a') => access | libc::O_CREAT | libc::O_APPEND,
            _ if plus => libc::O_RDWR,
            _ => libc::O_RDONLY,
        }
}

/// What the call says about writing: open flags, or an fopen mode.
#[derive(Clone, Copy, Debug)]
pub enum Intent<'a> {
    Flags(i32),
    Mode(&'a [u8]),
}

impl Intent<'_> {
    pub fn writes(self) -> bool {
        match self {
            Intent::Flags(f) => flags_write(f),
            Intent::Mode(m) => fopen_mode_writes(m),
        }
    }

    pub fn flags(self) -> i32 {
        match self {
            Intent::Flags(f) => f,
            Intent::Mode(m) => fopen_mode_flags(m),
        }
    }

    /// Whether the call can match under `ops` at all, before its path is looked at.
    pub fn counts_under(self, ops: Ops) -> bool {
        ops == Ops::All || self.writes()
    }
}

/// A path as the kernel would resolve it: `base` + `/` + `rel`, where `base`
/// is the cwd or the directory of an `openat` dirfd (empty when `rel` is
/// already absolute). No `..` folding: a lexical join is what a path filter
/// over "where does this file live" wants, and needs no syscalls.
#[derive(Clone, Copy, Debug)]
pub struct ResolvedPath<'a> {
    pub base: &'a [u8],
    pub rel: &'a [u8],
}

impl<'a> ResolvedPath<'a> {
    pub fn absolute(path: &'a [u8]) -> Self {
        ResolvedPath { base: b"", rel: path }
    }

    /// The separator that goes between `base` and `rel`.
    pub fn separator(&self) -> &'static [u8] {
        if self.base.is_empty() || self.base.ends_with(b"/") {
            b""
        } else {
            b"/"
        }
    }

    /// Whether the joined path contains `needle`, checked piece by piece so
    /// that nothing is copied but the few bytes around the joint.
    #[cfg(test)]
    pub fn contains(&self, needle: &[u8]) -> bool {
        self.contains_with(&memchr::memmem::Finder::new(needle))
    }

    /// `contains`, with the needle's searcher built once by the caller.
    pub fn contains_with(&self, finder: &memchr::memmem::Finder<'_>) -> bool {
        let needle = finder.needle();
        if needle.is_empty() {
            return true;
        }
        if finder.find(self.rel).is_some() {
            return true;
        }
        if self.base.is_empty() {
            return false;
        }
        if finder.find(self.base).is_some() {
            return true;
        }
        // Any other match takes in the separator or crosses into rel: it
        // starts in the last needle.len() bytes of base+separator and ends
        // within the first needle.len()-1 bytes of rel.
        let keep = needle.len().min(MAX_NEEDLE) - 1;
        let mut joint = [0u8; 2 * MAX_NEEDLE];
        let left_parts = [self.base, self.separator()];
        let left_len = self.base.len() + self.separator().len();
        let mut skip = left_len.saturating_sub(keep + 1);
        let mut n = 0;
        for part in left_parts {
            let from = skip.min(part.len());
            skip -= from;
            let piece = &part[from..];
            joint[n..n + piece.len()].copy_from_slice(piece);
            n += piece.len();
        }
        let head = &self.rel[..self.rel.len().min(keep)];
        joint[n..n + head.len()].copy_from_slice(head);
        n += head.len();
        finder.find(&joint[..n]).is_some()
    }

    /// Whether a file created inside this folder would match: the joined path
    /// followed by `/` contains the needle (an `O_TMPFILE` open names the
    /// folder its file lives in, `…/blobs` for a needle `/blobs/`).
    pub fn contains_as_folder(&self, finder: &memchr::memmem::Finder<'_>) -> bool {
        if self.contains_with(finder) {
            return true;
        }
        // Any other match ends at the added `/`.
        match finder.needle().split_last() {
            Some((b'/', head)) => self.ends_with(head),
            _ => false,
        }
    }

    /// Whether the joined path ends with `suffix`.
    pub fn ends_with(&self, suffix: &[u8]) -> bool {
        let bytes = self.pieces().into_iter().rev().flat_map(|p| p.iter().rev());
        let mut n = 0;
        for (a, b) in bytes.zip(suffix.iter().rev()) {
            if a != b {
                return false;
            }
            n += 1;
        }
        n == suffix.len()
    }

    /// The joined path's bytes, in order, as up to three pieces.
    pub fn pieces(&self) -> [&'a [u8]; 3] {
        [self.base, self.separator(), self.rel]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_flags() {
        use libc::*;
        assert!(!flags_write(O_RDONLY));
        assert!(!flags_write(O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
        for f in [O_WRONLY, O_RDWR, O_RDONLY | O_CREAT, O_RDONLY | O_TRUNC, O_RDONLY | O_APPEND,
                  O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, O_TMPFILE | O_WRONLY, O_TMPFILE | O_RDWR] {
            assert!(flags_write(f), "{f:#o}");
        }
    }

    /// Regression: O_TMPFILE holds the O_DIRECTORY bit, and a test for any of
    /// its bits took every read-only directory open (du, rm -rf, find, tar
    /// -C, ...) for a write.
    #[test]
    fn directory_opens_are_not_writes() {
        use libc::*;
        for f in [O_RDONLY | O_DIRECTORY, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK,
                  O_PATH | O_DIRECTORY, O_RDONLY | O_DIRECTORY | O_NOCTTY | O_LARGEFILE] {
            assert!(!flags_write(f), "{f:#o}");
            assert!(!flags_tmpfile(f), "{f:#o}");
        }
        assert!(flags_tmpfile(O_TMPFILE | O_WRONLY));
    }

    #[test]
    fn tmpfile_folder_matches_as_a_folder() {
        let f = memchr::memmem::Finder::new(b"/blobs/");
        let cases: [(&[u8], &[u8], bool); 7] = [
            (b"", b"/tmp/x/blobs", true),
            (b"", b"/tmp/x/blobs/", true),
            (b"", b"/tmp/x/blobs/sub", true),
            (b"/tmp/x", b"blobs", true),
            (b"/tmp/x/blo", b"bs", false),
            (b"", b"/tmp/x/blobsy", false),
            (b"", b"/tmp/x/other", false),
        ];
        for (base, rel, want) in cases {
            let p = ResolvedPath { base, rel };
            assert_eq!(p.contains_as_folder(&f), want, "{:?}", String::from_utf8_lossy(&joined(&p)));
        }
        // A needle without a trailing slash: only a plain contains.
        let g = memchr::memmem::Finder::new(b"blobs");
        assert!(ResolvedPath::absolute(b"/a/blobs").contains_as_folder(&g));
        assert!(!ResolvedPath::absolute(b"/a/blo").contains_as_folder(&g));
    }

    #[test]
    fn fopen_modes() {
        for m in ["w", "wb", "a", "ab+", "r+", "rb+", "w+x", "we", "a+"] {
            assert!(fopen_mode_writes(m.as_bytes()), "{m}");
        }
        for m in ["r", "rb", "re", ""] {
            assert!(!fopen_mode_writes(m.as_bytes()), "{m}");
        }
        use libc::*;
        assert_eq!(fopen_mode_flags(b"w"), O_WRONLY | O_CREAT | O_TRUNC);
        assert_eq!(fopen_mode_flags(b"a+"), O_RDWR | O_CREAT | O_APPEND);
        assert_eq!(fopen_mode_flags(b"r+"), O_RDWR);
        assert_eq!(fopen_mode_flags(b"re"), O_RDONLY | O_CLOEXEC);
    }

    fn joined(p: &ResolvedPath) -> Vec<u8> {
        p.pieces().concat()
    }

    #[test]
    fn absolute_paths() {
        let p = ResolvedPath::absolute(b"/var/lib/db/blobs/data/0/1c");
        assert!(p.contains(b"/blobs/"));
        assert!(!p.contains(b"/blob/"));
        assert!(!ResolvedPath::absolute(b"/var/blobs").contains(b"/blobs/"));
        assert!(ResolvedPath::absolute(b"/x/\xff\xfe/blobs/\x80").contains(b"/blobs/"));
    }

    #[test]
    fn relative_paths_match_across_every_joint() {
        let needle = b"/blobs/";
        let full = b"/srv/h/blobs/data/f";
        // Every way of cutting the absolute path into cwd and relative part,
        // with and without a trailing slash on the cwd.
        for cut in 1..full.len() {
            let (base, rest) = full.split_at(cut);
            if rest.first() == Some(&b'/') {
                let p = ResolvedPath { base, rel: &rest[1..] };
                assert_eq!(joined(&p), full, "cut {cut}");
                assert!(p.contains(needle), "cut {cut}");
            }
            if base.ends_with(b"/") {
                let p = ResolvedPath { base, rel: rest };
                assert_eq!(joined(&p), full);
                assert!(p.contains(needle), "cut {cut} (trailing slash)");
            }
        }
        assert!(ResolvedPath { base: b"/", rel: b"blobs/x" }.contains(needle));
        assert!(ResolvedPath { base: b"/tmp/t", rel: b"blobs/x" }.contains(needle));
        assert!(ResolvedPath { base: b"/tmp/blobs", rel: b"x" }.contains(needle));
        assert!(!ResolvedPath { base: b"/tmp/t", rel: b"blobsx/y" }.contains(needle));
        assert!(!ResolvedPath { base: b"/tmp/blob", rel: b"s/y" }.contains(needle));
    }

    /// The longest needle across the joint of a long base and a long rel,
    /// with and without a separator: the window searched at the joint
    /// fills its buffer exactly, so one byte more of either side would not
    /// fit (a panic there, caught, would pass every such call through).
    #[test]
    fn longest_needle_across_the_joint_of_long_paths() {
        let mut needle = [b'c'; MAX_NEEDLE];
        needle[..127].fill(b'b');
        needle[127] = b'/';
        let mut full = vec![b'/'];
        full.extend([b'x'; 600]);
        full.extend(needle);
        full.extend([b'y'; 600]);
        let slash = 1 + 600 + 127;
        for (base, rel) in [(&full[..=slash], &full[slash + 1..]), (&full[..slash], &full[slash + 1..])] {
            let p = ResolvedPath { base, rel };
            assert_eq!(joined(&p), full);
            assert!(p.contains(&needle));
            let mut other = needle;
            other[MAX_NEEDLE - 1] = b'y';
            assert!(!p.contains(&other));
        }
    }

    #[test]
    fn longest_needle_across_joint() {
        let needle = [b'n'; MAX_NEEDLE];
        let base = [b'n'; 200];
        let rel = [b'n'; 55];
        // 200 + '/' + 55 never holds 256 'n's in a row.
        assert!(!ResolvedPath { base: &base, rel: &rel }.contains(&needle));
        let rel = [b'n'; MAX_NEEDLE];
        assert!(ResolvedPath { base: &base, rel: &rel }.contains(&needle));
        let mut n2 = [b'n'; MAX_NEEDLE];
        n2[200] = b'/';
        assert!(ResolvedPath { base: &base, rel: &rel }.contains(&n2));
    }
}
