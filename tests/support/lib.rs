//! Helpers shared by the integration tests in `tests/`: where the built
//! artifacts are, and how to run real programs with the shim preloaded.
//!
//! The tests run against the release build that the README's test command
//! makes first (`cargo build --release && cargo test --release`).

pub mod artifacts;
pub mod containment;
pub mod driver;
pub mod install;
pub mod shim;
