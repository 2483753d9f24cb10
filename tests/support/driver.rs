//! Helpers for the driver's end-to-end tests against a real Harper cluster.
