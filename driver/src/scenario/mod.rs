//! The scenarios: each one is the order of steps (provision, fault, load,
//! observe, judge, tear down) for one question about the cluster, and turns
//! what it saw into a `Report`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{Map, Value};

pub mod backlog_memory;
pub mod blob_save;

/// Panics after the named phase when `BLOBFAIL_TEST_PANIC_AFTER` names it: a
/// test hook, so the end-to-end tests can prove that a panic still stops
/// every node (the cluster's drop guard). Unset, it does nothing.
pub fn test_panic_hook(phase: &str) {
    if std::env::var("BLOBFAIL_TEST_PANIC_AFTER").is_ok_and(|p| p == phase) {
        panic!("BLOBFAIL_TEST_PANIC_AFTER={phase}: panicking on purpose");
    }
}

/// Options every scenario shares.
#[derive(Debug, Clone)]
pub struct Common {
    pub harper: Option<PathBuf>,
    pub harper_version: String,
    pub shim: Option<PathBuf>,
    pub keep: bool,
    pub seed: u64,
}

/// Wall time of each phase, in the order they ran.
#[derive(Debug, Default)]
pub struct Phases {
    order: Vec<(String, f64)>,
}

impl Phases {
    /// Times `f` as phase `name`.
    pub async fn time<T>(&mut self, name: &str, f: impl std::future::Future<Output = T>) -> T {
        let start = Instant::now();
        let out = f.await;
        self.record(name, start.elapsed());
        out
    }

    pub fn record(&mut self, name: &str, d: Duration) {
        self.order.push((name.to_string(), (d.as_secs_f64() * 1000.0).round() / 1000.0));
    }

    /// `<phase>_seconds` figures.
    pub fn into_figures(self, figures: &mut Map<String, Value>) {
        let total: f64 = self.order.iter().map(|(_, s)| s).sum();
        for (name, secs) in self.order {
            figures.insert(format!("{name}_seconds"), Value::from(secs));
        }
        figures.insert("total_seconds".into(), Value::from((total * 1000.0).round() / 1000.0));
    }
}
