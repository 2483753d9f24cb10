//! libblobfail (placeholder while the shim is written).
