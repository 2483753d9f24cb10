//! The run's own network: when a run asks for a network nemesis, `prepare`
//! (called by `main` before the async runtime starts) installs or finds
//! Harper while the host's network is still there, then moves the process
//! into a private network namespace, where every thread and node started
//! afterwards lives. Without the permission it records why, in one line,
//! and the network checks say so (unknown), never pass.

use std::sync::OnceLock;

use super::ns::{self, PrivateNet};
use crate::backend;
use crate::runner::Request;

static NET: OnceLock<Result<PrivateNet, String>> = OnceLock::new();

/// The scenarios that cannot run without their own network.
pub const NEEDS_NETWORK: &[&str] = &["partition-heal"];

/// Whether the request has anything to do to the network.
pub fn needed(req: &Request) -> bool {
    req.scenarios.iter().any(|s| NEEDS_NETWORK.contains(&s.name))
        || req.args.blob_save.nemesis.as_deref().is_some_and(|n| super::args::LINK_NEMESES.contains(&n))
}

/// Enters the private namespace if the request needs it; an error only if
/// Harper could not be had (the run cannot be done then either way).
pub fn prepare(req: &Request) -> anyhow::Result<()> {
    if !needed(req) {
        return Ok(());
    }
    let backend::Choice::Local(local) = &req.backend else {
        return Ok(());
    };
    if let Err(why) = ns::permission() {
        let _ = NET.set(Err(why));
        return Ok(());
    }
    // The namespace has no route out: Harper (an npm install on a first
    // run) comes now.
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(crate::cluster::resolve_harper(local.harper.as_deref(), &local.harper_version, &crate::events::Events::shown()))?;
    drop(rt);
    let _ = NET.set(ns::enter());
    Ok(())
}

/// The namespace the run is in, or the one line saying why it is not.
pub fn private() -> Result<&'static PrivateNet, String> {
    match NET.get() {
        Some(Ok(net)) if net.is_current() => Ok(net),
        Some(Ok(_)) => Err("this thread is not inside the run's private network namespace (an internal error)".into()),
        Some(Err(why)) => Err(why.clone()),
        None => Err("the run did not set up a private network namespace (an internal error)".into()),
    }
}
