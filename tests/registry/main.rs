//! The tests that need the npm registry.
//!
//! One test binary for the group, one module per subject:
//! `cargo test --release --test registry`.

mod npm;
