//! The families of calls the shim counts, each with its own counter.

/// One family of calls (`HARPER_TEST_BLOB_FAIL_CALLS`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    Open = 0,
    Write = 1,
    Sync = 2,
    Close = 3,
    Rename = 4,
    Truncate = 5,
    Mkdir = 6,
    Unlink = 7,
    /// Reads on a tracked descriptor (read, pread64, readv, preadv, preadv2).
    Read = 8,
}

/// Every family, in counter order.
pub const FAMILIES: [Family; 9] = [
    Family::Open,
    Family::Write,
    Family::Sync,
    Family::Close,
    Family::Rename,
    Family::Truncate,
    Family::Mkdir,
    Family::Unlink,
    Family::Read,
];

impl Family {
    pub const fn name(self) -> &'static str {
        match self {
            Family::Open => "open",
            Family::Write => "write",
            Family::Sync => "sync",
            Family::Close => "close",
            Family::Rename => "rename",
            Family::Truncate => "truncate",
            Family::Mkdir => "mkdir",
            Family::Unlink => "unlink",
            Family::Read => "read",
        }
    }

    /// The family of this name (any case).
    pub fn from_name(name: &[u8]) -> Option<Family> {
        FAMILIES.iter().copied().find(|f| f.name().as_bytes().eq_ignore_ascii_case(name))
    }

    pub const fn bit(self) -> u16 {
        1 << self as u8
    }

    /// Families whose calls name a descriptor, which the shim must track.
    pub const fn on_descriptors(self) -> bool {
        matches!(self, Family::Write | Family::Sync | Family::Close | Family::Truncate | Family::Read)
    }
}

/// A set of families, as a bit per [`Family`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Calls(pub u16);

impl Calls {
    pub const OPEN: Calls = Calls(Family::Open.bit());
    pub const ALL: Calls = Calls((1 << FAMILIES.len()) - 1);

    pub const fn has(self, f: Family) -> bool {
        self.0 & f.bit() != 0
    }

    pub fn any_on_descriptors(self) -> bool {
        FAMILIES.iter().any(|&f| f.on_descriptors() && self.has(f))
    }

    /// The chosen families, in counter order.
    pub fn iter(self) -> impl Iterator<Item = Family> {
        FAMILIES.into_iter().filter(move |&f| self.has(f))
    }
}

/// A comma list of family names (any case), or `all`. No empty items.
pub fn parse_calls(raw: &[u8]) -> Option<Calls> {
    let mut bits = 0u16;
    for item in raw.split(|&b| b == b',') {
        if item.eq_ignore_ascii_case(b"all") {
            bits |= Calls::ALL.0;
            continue;
        }
        bits |= Family::from_name(item)?.bit();
    }
    Some(Calls(bits))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_grammar() {
        assert_eq!(parse_calls(b"open,WRITE"), Some(Calls(Family::Open.bit() | Family::Write.bit())));
        assert_eq!(parse_calls(b"all"), Some(Calls::ALL));
        for bad in [&b""[..], b"open,", b",open", b"opens", b"open write", b"reads"] {
            assert_eq!(parse_calls(bad), None, "{bad:?}");
        }
        assert_eq!(Calls(Family::Sync.bit() | Family::Open.bit()).iter().collect::<Vec<_>>(), [Family::Open, Family::Sync]);
        for f in FAMILIES {
            assert_eq!(Family::from_name(f.name().as_bytes()), Some(f));
        }
    }
}
