//! The driver's tests that need nothing: no network, no cluster (its
//! command line, its refusals, the containment fixture's patch, the
//! suite's refusal of artifacts older than their sources).
//!
//! One test binary for the group, one module per subject:
//! `cargo test --release --test hermetic`.

mod artifacts;
mod ci_examples;
mod cli;
mod docs;
mod containment;
mod crash_recovery;
mod errors;
mod fault_options;
mod install;
mod judge;
mod release;
