//! Calls on paths: the check the generated `[path]` exports share, and
//! the rename family's exports (a rename matches when either path does).

#![allow(clippy::missing_safety_doc)]

use std::ffi::c_char;

use super::*;

/// `check` for a call on one path, with the fast early-out.
///
/// # Safety
/// `path` is NULL or a NUL-terminated string valid for the call.
#[inline(always)]
pub(super) unsafe fn path_action(entry: Entry, dir: Dir, path: *const c_char) -> Action {
    if !crate::family_armed(entry) {
        return Action::Pass;
    }
    // SAFETY: the caller's promise about `path`.
    if unsafe { cannot_match(path) } {
        return Action::Pass;
    }
    // SAFETY: as above.
    crate::check_path_call(entry, dir, || unsafe { c_bytes(path) })
}


/// A rename matches when either path does.
///
/// # Safety
/// Both paths are NULL or NUL-terminated strings valid for the call.
#[inline(always)]
pub(super) unsafe fn rename_action(entry: Entry, od: Dir, old: *const c_char, nd: Dir, new: *const c_char) -> Action {
    if !crate::family_armed(entry) {
        return Action::Pass;
    }
    // SAFETY: the caller's promise about both paths.
    if unsafe { cannot_match(old) && cannot_match(new) } {
        return Action::Pass;
    }
    // SAFETY: as above.
    crate::check_rename(entry, (od, || unsafe { c_bytes(old) }), (nd, || unsafe { c_bytes(new) }))
}

