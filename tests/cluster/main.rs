//! The tests that need a real Harper cluster (harperdb 4.7.29, installed
//! from npm into the user cache once): the driver end to end. They run one
//! cluster at a time, through a lock that holds across threads and
//! processes (`blobfail_suite::driver::cluster_lock`).
//!
//! One test binary for the group, one module per subject, so that
//! `cargo test --release --test cluster` selects them by what they need and
//! the suite links one binary instead of one per file.

mod attach;
mod backlog_memory;
mod blob_save;
mod corrupt_blob;
mod crash_recovery;
mod fault_heal;
mod fault_plans;
mod install;
mod judge;
mod reliability;
mod verdicts;
