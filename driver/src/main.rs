//! `blobfail`: runs fault-injection scenarios against a real Harper cluster.
fn main() {}
