//! blob-save's options as the registry checks them: the ranges clap cannot
//! bound, the link nemesis's settings, the fault plans they resolve to, and
//! why an option does not apply to an attached cluster.

use crate::net::args::{fits, LinkArgs};
use crate::scenario::{Args, Given};

/// blob-save's options (and the link nemesis's, which blob-save's
/// `--nemesis` chooses), checked; its fault plans resolved from `--fault`
/// and the overrides (the interval overrides a plan only when given).
pub fn validate(args: &mut Args, given: &Given) -> Result<(), String> {
    args.blob_save.validate(&|id| given.has(id))?;
    args.blob_save_net.plan(args.blob_save.nemesis.as_deref())?;
    fits(given.run, args.blob_save.nemesis.as_deref(), args.blob_save.faulted.0.len())?;
    args.blob_save.resolve_plans(given.has("interval"))
}

/// Why an option of blob-save's `local_only` does not apply attached.
pub fn why_local(id: &str) -> &'static str {
    if LinkArgs::owns(id) {
        "the network nemeses act on a cluster this run started in its own network namespace"
    } else if id == "cut_replication" {
        "blobfail cuts the replication of nodes it runs only, never of a cluster it was pointed at"
    } else {
        "on an attached cluster, node B's own environment arms the shim (HARPER_TEST_BLOB_FAIL_INTERVAL)"
    }
}
