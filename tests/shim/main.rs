//! The shim preloaded into real C, Python, Node, Rust and coreutils
//! programs; nothing else needed (no network, no cluster).
//!
//! One test binary for the group, one module per subject:
//! `cargo test --release --test shim`.

mod config;
mod control;
mod crash_sweeps;
mod effects;
mod entry_points;
mod exec;
mod read_faults;
mod real_programs;
mod reliability;
mod write_path;
