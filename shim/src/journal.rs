//! The durability journal (`HARPER_TEST_BLOB_FAIL_JOURNAL`): the hooks'
//! entry points into it. Recording lands in the next commit; until then it
//! records nothing and `on()` is false.

use crate::config::Config;
use crate::matcher::{Intent, ResolvedPath};
use crate::Entry;

pub(crate) fn on() -> bool {
    false
}
pub(crate) fn before_open(_cfg: &Config, _intent: Intent, _path: &ResolvedPath) {}
pub(crate) fn before_path_call(_cfg: &Config, _entry: Entry, _path: &ResolvedPath) {}
pub(crate) fn before_rename(_cfg: &Config, _old: &ResolvedPath, _new: &ResolvedPath) {}
pub(crate) fn after_sync(_entry: Entry, _fd: i32) {}
pub(crate) fn before_fd_call(_entry: Entry, _fd: i32) {}
pub(crate) fn before_write(_entry: Entry, _fd: i32, _offset: Option<i64>, _len: usize) {}
