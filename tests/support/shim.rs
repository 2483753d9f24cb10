//! Helpers for running real programs with the shim preloaded.
