//! # blobfail-vocab: the words the shim and the driver share
//!
//! One place for the fault vocabulary, so the driver never retypes what the
//! shim reads: the `HARPER_TEST_BLOB_FAIL_*` variable names ([`vars`]), the
//! call families ([`Family`], [`Calls`]), what a triggered call does
//! ([`Effect`], [`CorruptMode`]), errno names and numbers ([`errno`]), the
//! size and duration grammar ([`units`]), and the fault log's and exit
//! summary's formats and keys ([`log`]).
//!
//! `#![no_std]` and allocation-free: the shim parses and formats with it
//! inside hooked libc calls, before `main`, in signal handlers.

#![cfg_attr(not(test), no_std)]

pub mod errno;
pub mod log;
pub mod units;
pub mod vars;

mod effect;
mod family;

pub use effect::{CorruptMode, Effect, EFFECTS};
pub use family::{parse_calls, Calls, Family, FAMILIES};
