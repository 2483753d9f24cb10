//! The shim's runtime control as a `Nemesis`: `start` arms node B's fault
//! plan (after setting the window's overrides, e.g. `MAX=0` for a control
//! window that injects nothing), `stop` heals it. The node keeps running
//! throughout; the change reaches each of its processes by their next
//! matching call (`HARPER_TEST_BLOB_FAIL_CONTROL`, docs/shim-in-time.md).

use std::path::PathBuf;

use anyhow::Result;
use futures::future::BoxFuture;
use futures::FutureExt;

use crate::cluster::Cluster;
use crate::exec::ctl::{self, CtlArgs};
use crate::nemesis::Nemesis;

/// Arms and heals the plan of every process that maps `file`.
pub struct ShimControl {
    pub file: PathBuf,
    /// `VAR=VALUE` pairs set before each arm (empty: the plan as started).
    pub set: Vec<String>,
}

impl ShimControl {
    fn ctl(&self, action: &str, pairs: Vec<String>) -> Result<String> {
        ctl::run(&CtlArgs { file: self.file.clone(), action: action.into(), pairs })
    }

    /// Makes the control file, healed: the node starts with every call passing.
    pub fn init_healed(&self) -> Result<()> {
        self.ctl("init", Vec::new())?;
        self.ctl("heal", Vec::new())?;
        Ok(())
    }
}

/// `shim: armed (generation 4)` from ctl's `FILE: armed (generation 4)`.
fn said(line: &str, file: &std::path::Path) -> String {
    line.strip_prefix(&format!("{}: ", file.display())).unwrap_or(line).to_string()
}

impl Nemesis for ShimControl {
    fn name(&self) -> &'static str {
        "shim-control"
    }

    fn start<'a>(&'a self, _cluster: &'a mut Cluster, _node: &'a str) -> BoxFuture<'a, Result<String>> {
        async move {
            let mut done = Vec::new();
            if !self.set.is_empty() {
                done.push(said(&self.ctl("set", self.set.clone())?, &self.file));
            }
            done.push(said(&self.ctl("arm", Vec::new())?, &self.file));
            Ok(done.join("; "))
        }
        .boxed()
    }

    fn stop<'a>(&'a self, _cluster: &'a mut Cluster, _node: &'a str) -> BoxFuture<'a, Result<String>> {
        async move { Ok(said(&self.ctl("heal", Vec::new())?, &self.file)) }.boxed()
    }
}
