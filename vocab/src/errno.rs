//! Errno names and numbers, as the shim accepts them (`ERRNO=EIO` or
//! `ERRNO=5`) and as the fault log and the driver show them. The numbers are
//! Linux's (the same on x86-64 and AArch64); the shim's tests check them
//! against its libc.

/// The errno names a fault is most often asked to look like.
pub const NAMES: &[(&str, i32)] = &[
    ("ENOENT", 2),
    ("EIO", 5),
    ("ENOSPC", 28),
    ("EACCES", 13),
    ("EPERM", 1),
    ("EMFILE", 24),
    ("ENFILE", 23),
    ("EROFS", 30),
    ("EDQUOT", 122),
    ("EEXIST", 17),
    ("EISDIR", 21),
    ("ENOTDIR", 20),
    ("ENAMETOOLONG", 36),
    ("ELOOP", 40),
    ("EINTR", 4),
    ("EAGAIN", 11),
    ("ENOMEM", 12),
    ("EBUSY", 16),
    ("ETXTBSY", 26),
    ("EFBIG", 27),
    ("EINVAL", 22),
    ("ENXIO", 6),
    ("ENODEV", 19),
    ("ESTALE", 116),
    ("EOVERFLOW", 75),
];

/// Largest errno value the kernel ABI allows (`-4095..-1` are errors).
pub const MAX: u64 = 4095;

/// A name from [`NAMES`] (any case) or a number from 1 to [`MAX`].
pub fn parse(raw: &[u8]) -> Option<i32> {
    if let Some(&(_, v)) = NAMES.iter().find(|(name, _)| name.as_bytes().eq_ignore_ascii_case(raw)) {
        return Some(v);
    }
    match crate::units::parse_u64(raw)? {
        v @ 1..=MAX => Some(v as i32),
        _ => None,
    }
}

/// The name of `errno` when it has one in [`NAMES`].
pub fn name(errno: i32) -> Option<&'static str> {
    NAMES.iter().find(|&&(_, v)| v == errno).map(|&(n, _)| n)
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_round_trip() {
        for &(n, v) in super::NAMES {
            assert_eq!(super::parse(n.to_lowercase().as_bytes()), Some(v));
            assert_eq!(super::name(v), Some(n));
        }
        assert_eq!(super::parse(b"28"), Some(28));
        for bad in [&b"0"[..], b"4096", b"EWHAT", b"", b"-5"] {
            assert_eq!(super::parse(bad), None, "{bad:?}");
        }
    }
}
