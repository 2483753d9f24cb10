//! What a triggered call does: the effect half of a fault (the trigger half
//! is every Nth with skip and max, or the space budget).

/// `HARPER_TEST_BLOB_FAIL_EFFECT`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Effect {
    /// The call fails with the chosen errno without reaching the kernel.
    Fail,
    /// The process dies of SIGKILL before the call reaches the kernel.
    CrashBefore,
    /// The process dies of SIGKILL right after the real call returns.
    CrashAfter,
    /// The bytes that reach the file differ from the caller's
    /// ([`CorruptMode`]); the call reports full success. On a read: the
    /// bytes the caller receives differ from the file's.
    Corrupt,
    /// A write reports success and writes nothing.
    Drop,
    /// A sync returns 0 without syncing.
    FakeSync,
    /// A read returns fewer bytes than asked and than there are.
    Short,
}

/// Every effect, in the order the docs list them.
pub const EFFECTS: [Effect; 7] =
    [Effect::Fail, Effect::CrashBefore, Effect::CrashAfter, Effect::Corrupt, Effect::Drop, Effect::FakeSync, Effect::Short];

impl Effect {
    pub const fn name(self) -> &'static str {
        match self {
            Effect::Fail => "fail",
            Effect::CrashBefore => "crash-before",
            Effect::CrashAfter => "crash-after",
            Effect::Corrupt => "corrupt",
            Effect::Drop => "drop",
            Effect::FakeSync => "fake-sync",
            Effect::Short => "short",
        }
    }

    /// The effect of this name (any case).
    pub fn from_name(raw: &[u8]) -> Option<Effect> {
        EFFECTS.iter().copied().find(|e| e.name().as_bytes().eq_ignore_ascii_case(raw))
    }

    /// Whether it can act on a call of `family`: `corrupt` and `drop` on
    /// writes, `fake-sync` on syncs, the others on every family.
    pub const fn applies_to(self, family: crate::Family) -> bool {
        match self {
            Effect::Corrupt => matches!(family, crate::Family::Write | crate::Family::Read),
            Effect::Drop => matches!(family, crate::Family::Write),
            Effect::FakeSync => matches!(family, crate::Family::Sync),
            Effect::Short => matches!(family, crate::Family::Read),
            Effect::Fail | Effect::CrashBefore | Effect::CrashAfter => true,
        }
    }

    /// Whether the process dies of it.
    pub const fn crashes(self) -> bool {
        matches!(self, Effect::CrashBefore | Effect::CrashAfter)
    }
}

/// `HARPER_TEST_BLOB_FAIL_CORRUPT`: how `corrupt` changes the bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CorruptMode {
    /// One bit of one byte flipped.
    Flip,
    /// A run of bytes set to zero.
    Zero,
    /// A run of bytes replaced by seeded random bytes (each differs).
    Random,
}

pub const CORRUPT_MODES: [CorruptMode; 3] = [CorruptMode::Flip, CorruptMode::Zero, CorruptMode::Random];

impl CorruptMode {
    pub const fn name(self) -> &'static str {
        match self {
            CorruptMode::Flip => "flip",
            CorruptMode::Zero => "zero",
            CorruptMode::Random => "random",
        }
    }

    pub fn from_name(raw: &[u8]) -> Option<CorruptMode> {
        CORRUPT_MODES.iter().copied().find(|m| m.name().as_bytes().eq_ignore_ascii_case(raw))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for e in EFFECTS {
            assert_eq!(Effect::from_name(e.name().as_bytes()), Some(e));
        }
        for m in CORRUPT_MODES {
            assert_eq!(CorruptMode::from_name(m.name().to_uppercase().as_bytes()), Some(m));
        }
        assert_eq!(Effect::from_name(b"crash"), None);
    }
}
