//! `crash-recovery`: while A's load replicates, node B is killed at its
//! Nth write to its storage (the shim's `crash-after`, N drawn from the
//! seed and printed), B's files are rolled back as a power cut would leave
//! them (`--power-loss`, from the shim's durability journal, which covers
//! B's blob files and its LMDB files alike), and B is restarted on the same
//! root and address. Does B come back, catch up, and hold every record of
//! A whole? `--crash-sweep K` runs K crash points, each on a fresh cluster,
//! and prints a table of crash point -> records lost or damaged.

pub mod checks;
pub mod judge;
pub mod point;

use anyhow::Result;
use futures::future::BoxFuture;
use futures::FutureExt;
use serde_json::{json, Map, Value};

use super::{Ctx, Scenario};
use crate::backend;
use crate::exec::power_loss::{Fs, How, Mode};
use crate::journal::{Phases, PlannedCheck};
use crate::model::Report;

const CHECKS: &[PlannedCheck] = &[
    PlannedCheck { name: "restarted", needs: &["b"] },
    PlannedCheck { name: "caught-up", needs: &["a", "b"] },
    PlannedCheck { name: "nothing-lost", needs: &["a", "b"] },
    PlannedCheck { name: "no-uncaught-exception", needs: &["b"] },
    PlannedCheck { name: "damaged-reads-contained", needs: &["a", "b"] },
];

pub const SCENARIO: Scenario = Scenario {
    name: "crash-recovery",
    about: "Node B is killed at its Nth storage write while A's load replicates, its files rolled back as a power cut leaves them, and restarted.",
    checks: |_| CHECKS,
    phases: &[
        ("arm", "arm B"),
        ("workload", "workload"),
        ("power-loss", "power loss"),
        ("restart", "restart"),
        ("settle", "settle"),
        ("checks", "checks"),
        ("teardown", "teardown"),
    ],
    options: &[
        "power_loss",
        "crash_sweep",
        "crash_at",
        "restart_bound",
        "restart_fault_opens",
        "restart_fault_files",
        "nodes",
        "requests",
        "concurrency",
        "settle",
        "failure_pattern",
        "uncaught_pattern",
    ],
    local_only: &["power_loss", "crash_sweep", "crash_at", "restart_bound", "restart_fault_opens", "restart_fault_files", "nodes"],
    cannot_attach: Some("it kills node B, rolls back its files and restarts it: it needs a cluster it starts itself"),
    variants: None,
    validate: super::nothing_to_validate,
    why_local: super::never_attached,
    run: run_boxed,
    judge: Some(judge::JUDGE),
};

/// The crash point is drawn from 1..=WRITES_PER_REQUEST x `--requests`:
/// B made 1,800 writes under its root in a load of 400 GETs on 4.7.29
/// (696 to blob files, 1,097 to LMDB's, the rest its log and lock files).
pub const WRITES_PER_REQUEST: u64 = 4;

/// What a power cut keeps of B's files (`--power-loss`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PowerLoss {
    /// A process crash: the page cache survives, nothing is rolled back.
    None,
    /// A power cut, as `blobfail power-loss` makes it: what of the unsynced
    /// writes is lost (`all`, or torn: `prefix`, `pages`), what the kernel
    /// had written back (`writeback=SECS`), when a create is durable (`fs`).
    Cut { mode: Mode, writeback: f64, fs: Fs },
}

impl PowerLoss {
    /// `all`: every unsynced write lost, POSIX metadata, nothing written back.
    #[cfg(test)]
    pub const ALL: PowerLoss = PowerLoss::Cut { mode: Mode::All, writeback: 0.0, fs: Fs::Strict };

    /// The power cut's settings; `seed` draws the torn modes' prefixes and pages.
    pub fn how(self, seed: u64) -> Option<How> {
        match self {
            PowerLoss::None => None,
            PowerLoss::Cut { mode, writeback, fs } => Some(How { writeback, mode, seed, fs }),
        }
    }
}

fn mode_name(m: Mode) -> &'static str {
    match m {
        Mode::All => "all",
        Mode::Prefix => "prefix",
        Mode::Pages => "pages",
    }
}

impl std::fmt::Display for PowerLoss {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            PowerLoss::None => f.write_str("none"),
            PowerLoss::Cut { mode, writeback, fs } => {
                let mut parts = Vec::new();
                // `writeback=SECS` alone is `all` with a writeback, as it always was.
                if mode != Mode::All || writeback == 0.0 {
                    parts.push(mode_name(mode).to_string());
                }
                if writeback > 0.0 {
                    parts.push(format!("writeback={writeback}"));
                }
                if fs == Fs::Ext4 {
                    parts.push("fs=ext4".into());
                }
                f.write_str(&parts.join(","))
            }
        }
    }
}

const POWER_LOSS_GRAMMAR: &str = "none, or all|prefix|pages|writeback=SECS followed by ,writeback=SECS and ,fs=strict|ext4 if wanted (e.g. pages,writeback=2)";

/// `--power-loss`: `none`; or a mode (`all`, or the torn `prefix` and
/// `pages`) with `,writeback=SECS` and `,fs=strict|ext4` after it if
/// wanted; `writeback=SECS` alone is `all,writeback=SECS`.
pub fn parse_power_loss(s: &str) -> Result<PowerLoss, String> {
    let s = s.trim();
    if s == "none" {
        return Ok(PowerLoss::None);
    }
    let (mut mode, mut writeback, mut fs) = (None, None, None);
    for (i, part) in s.split(',').map(str::trim).enumerate() {
        let (key, value) = match part.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (part, None),
        };
        match (key, value) {
            ("all" | "prefix" | "pages", None) if i == 0 => {
                mode = Some(match key {
                    "all" => Mode::All,
                    "prefix" => Mode::Prefix,
                    _ => Mode::Pages,
                })
            }
            ("writeback", Some(v)) if writeback.is_none() => match v.parse::<f64>() {
                Ok(secs) if secs.is_finite() && secs > 0.0 && secs <= 3600.0 => writeback = Some(secs),
                _ => return Err(format!("{s:?}: writeback=SECS needs seconds between 0 and 3600, e.g. writeback=5")),
            },
            ("fs", Some(v)) if fs.is_none() => {
                fs = Some(match v {
                    "strict" => Fs::Strict,
                    "ext4" => Fs::Ext4,
                    _ => return Err(format!("{s:?}: fs= takes strict or ext4, not {v:?}")),
                })
            }
            ("none", None) => return Err(format!("{s:?}: none takes nothing after it (a process crash rolls nothing back)")),
            _ => return Err(format!("{s:?} is not a power loss: {POWER_LOSS_GRAMMAR}")),
        }
    }
    if mode.is_none() && writeback.is_none() {
        return Err(format!("{s:?} is not a power loss: {POWER_LOSS_GRAMMAR}"));
    }
    Ok(PowerLoss::Cut { mode: mode.unwrap_or(Mode::All), writeback: writeback.unwrap_or(0.0), fs: fs.unwrap_or(Fs::Strict) })
}

/// Which of restarted B's files `--restart-fault-opens` fails the opens of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RestartFaultFiles {
    /// Its blob files (`<root>/blobs/`): the blob saves of its catch-up fail.
    Blobs,
    /// Its LMDB files (`<root>/database/`): Harper cannot open its database.
    Database,
}

impl RestartFaultFiles {
    pub fn dir(self) -> &'static str {
        match self {
            RestartFaultFiles::Blobs => "blobs",
            RestartFaultFiles::Database => "database",
        }
    }
}

/// crash-recovery's options.
#[derive(clap::Args, Debug, Clone)]
#[command(next_help_heading = "crash-recovery")]
// Its own group id: clap names a group after its struct, and every
// scenario's struct is called Args.
#[group(id = "crash-recovery options")]
pub struct Args {
    /// crash-recovery: what a power cut keeps of B's files: none (a process crash: the page cache survives),
    /// all (every unsynced write lost), writeback=SECS (writes older than SECS before the crash kept).
    /// Torn writes: prefix (a random prefix of each file's unsynced writes kept), pages (a random subset
    /// of their 4 KiB pages kept), drawn from --seed; then ,writeback=SECS and ,fs=strict|ext4 if wanted.
    #[arg(long, default_value = "none", value_name = "none|all|prefix|pages|writeback=SECS[,...]", value_parser = parse_power_loss)]
    pub power_loss: PowerLoss,
    /// crash-recovery: run K crash points, each on a fresh cluster, and print crash point -> records lost or damaged.
    #[arg(long, value_name = "K", value_parser = clap::value_parser!(u64).range(1..=50))]
    pub crash_sweep: Option<u64>,
    /// crash-recovery: crash B at this write instead of one drawn from the seed.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub crash_at: Option<u64>,
    /// crash-recovery: B passes `restarted` when its operations API answers within SECS of its restart
    /// (the checks still wait up to 120 s for it).
    #[arg(long, default_value_t = 120.0, value_name = "SECS", value_parser = parse_bound)]
    pub restart_bound: f64,
    /// crash-recovery: on B's restart after the crash, preload the shim and fail every Nth write-open
    /// (ENOENT, blob-save's open-enoent) of the files --restart-fault-files names.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub restart_fault_opens: Option<u64>,
    /// crash-recovery: which files of restarted B --restart-fault-opens fails the opens of: blobs
    /// (its catch-up's blob saves) or database (its LMDB files: Harper cannot open its database).
    #[arg(long, value_enum, value_name = "blobs|database", default_value_t = RestartFaultFiles::Blobs, requires = "restart_fault_opens")]
    pub restart_fault_files: RestartFaultFiles,
}

/// `--restart-bound`: seconds between 0 and 600.
fn parse_bound(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(x) if x.is_finite() && x > 0.0 && x <= 600.0 => Ok(x),
        _ => Err(format!("{s:?} is not a number of seconds between 0 and 600, e.g. 30")),
    }
}

/// The crash points of a run: `--crash-at`, or drawn from the seed.
pub fn crash_points(seed: u64, at: Option<u64>, sweep: Option<u64>, requests: u64) -> Vec<u64> {
    if let Some(n) = at {
        return vec![n];
    }
    let range = (requests * WRITES_PER_REQUEST).max(10);
    let k = sweep.unwrap_or(1).min(range);
    let mut z = seed ^ 0x6372_6173_68;
    let mut points: Vec<u64> = Vec::new();
    while (points.len() as u64) < k {
        // splitmix64
        z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut x = z;
        x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        x ^= x >> 31;
        let n = 1 + x % range;
        if !points.contains(&n) {
            points.push(n);
        }
    }
    points.sort_unstable();
    points
}

fn run_boxed<'a>(ctx: &'a Ctx<'a>) -> BoxFuture<'a, Result<Report>> {
    run(ctx).boxed()
}

async fn run(ctx: &Ctx<'_>) -> Result<Report> {
    let opts = &ctx.args.crash_recovery;
    let label = ctx.label(SCENARIO.name);
    let mut phases = Phases::begin(ctx.events, &label, ctx.out, CHECKS);
    let local = match ctx.backend {
        backend::Choice::Local(l) => l,
        backend::Choice::Attached(_) => anyhow::bail!("crash-recovery needs a local cluster"),
    };
    let points = crash_points(ctx.seed, opts.crash_at, opts.crash_sweep, ctx.args.blob_save.requests);
    let list: Vec<String> = points.iter().map(u64::to_string).collect();
    eprintln!(
        "blobfail: crash points (B's Nth write under its root): {} (seed {}; repeat with --seed {}), power loss {}",
        list.join(", "),
        ctx.seed,
        ctx.seed,
        opts.power_loss
    );
    let sweep = points.len() > 1;
    let mut done = Vec::new();
    let mut last = None;
    for &n in &points {
        let out = if sweep { ctx.out.join(format!("crash-{n}")) } else { ctx.out.to_path_buf() };
        std::fs::create_dir_all(&out)?;
        // The last point's cluster (stopped) lets go of its addresses first.
        drop(last.take());
        let (result, backend) = point::run(ctx, local, &out, n, opts.power_loss, &mut phases).await?;
        done.push(result);
        last = Some(backend);
    }
    let mut backend = last.expect("at least one crash point");
    let mut figures = Map::new();
    figures.insert("seed".into(), json!(ctx.seed));
    figures.insert("power_loss".into(), json!(opts.power_loss.to_string()));
    figures.insert("crash_points".into(), json!(points));
    phases.into_figures(&mut figures);
    let mut files = Map::new();
    files.insert("run_dir".into(), json!(ctx.out));
    files.insert("report".into(), json!(ctx.out.join("report.json")));
    // Saved in observations.json and judged from there (crash_recovery/judge.rs).
    let blob = &ctx.args.blob_save;
    let settings = judge::Settings {
        failure_pattern: blob.failure_pattern.clone(),
        uncaught_pattern: blob.uncaught_pattern.clone(),
        restart_bound: opts.restart_bound,
    };
    let observed = judge::Observed { settings, points: done };
    let report = super::finish_observed(ctx, &SCENARIO, &label, &mut backend, false, serde_json::to_value(&observed)?, figures, files)?;
    if sweep {
        eprint!("{}", report.figures.get("sweep_table").and_then(Value::as_str).unwrap_or_default());
    }
    Ok(report)
}

/// `pwrite64 <run>/node-b/root/database/data.mdb` as `pwrite64 database/data.mdb`.
fn short_path(crashed_at: &str) -> String {
    match crashed_at.split_once(' ') {
        Some((call, path)) if path.contains("/root/") => format!("{call} {}", path.rsplit_once("/root/").map_or(path, |(_, p)| p)),
        _ => crashed_at.to_string(),
    }
}

/// crash point -> records lost or damaged, one line each.
pub fn render_table(points: &[point::PointResult]) -> String {
    let mut s = String::from("crash point (write)  crashed at                         records A  on B  missing  damaged  changes undone\n");
    for p in points {
        let f = &p.figures;
        let num = |k: &str| f.get(k).and_then(Value::as_u64).map_or("?".to_string(), |n| n.to_string());
        s.push_str(&format!(
            "{:<20} {:<34} {:>9} {:>5} {:>8} {:>8} {:>15}\n",
            p.crash_at,
            crate::text::shorten(&short_path(&p.crashed_at), 34),
            num("records_on_a"),
            num("records_on_b"),
            num("records_missing_on_b"),
            num("records_damaged_on_b"),
            num("power_loss_undone"),
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_names_the_file_under_the_root() {
        assert_eq!(short_path("pwrite64 /tmp/x/crash-3/node-b/root/database/data.mdb"), "pwrite64 database/data.mdb");
        assert_eq!(short_path("no write 9 (B made fewer): SIGKILL after the load"), "no write 9 (B made fewer): SIGKILL after the load");
    }

    #[test]
    fn power_loss_is_none_or_a_mode_with_writeback_and_fs() {
        let cut = |mode, writeback, fs| PowerLoss::Cut { mode, writeback, fs };
        assert_eq!(parse_power_loss("none"), Ok(PowerLoss::None));
        assert_eq!(parse_power_loss("all"), Ok(PowerLoss::ALL));
        assert_eq!(parse_power_loss("writeback=5"), Ok(cut(Mode::All, 5.0, Fs::Strict)));
        assert_eq!(parse_power_loss("pages"), Ok(cut(Mode::Pages, 0.0, Fs::Strict)));
        assert_eq!(parse_power_loss("prefix,writeback=2,fs=ext4"), Ok(cut(Mode::Prefix, 2.0, Fs::Ext4)));
        assert_eq!(parse_power_loss("all,fs=strict"), Ok(PowerLoss::ALL));
        let grammar = "is not a power loss: none, or all|prefix|pages|writeback=SECS followed by ,writeback=SECS and ,fs=strict|ext4 if wanted (e.g. pages,writeback=2)";
        assert_eq!(parse_power_loss("some").unwrap_err(), format!("\"some\" {grammar}"));
        // A mode comes first and once; each setting once.
        for bad in ["writeback=1,pages", "pages,all", "pages,writeback=1,writeback=2", "fs=ext4", "", "torn"] {
            assert_eq!(parse_power_loss(bad).unwrap_err(), format!("{bad:?} {grammar}"), "{bad}");
        }
        assert!(parse_power_loss("writeback=-1").unwrap_err().contains("between 0 and 3600"));
        assert!(parse_power_loss("pages,writeback=x").unwrap_err().contains("between 0 and 3600"));
        assert_eq!(parse_power_loss("pages,fs=xfs").unwrap_err(), "\"pages,fs=xfs\": fs= takes strict or ext4, not \"xfs\"");
        assert!(parse_power_loss("none,writeback=1").unwrap_err().contains("none takes nothing after it"));
        // Shown as given, and read back the same.
        for s in ["none", "all", "writeback=2.5", "pages", "prefix,writeback=1", "all,fs=ext4", "pages,writeback=3,fs=ext4"] {
            let p = parse_power_loss(s).unwrap();
            assert_eq!(p.to_string(), s);
            assert_eq!(parse_power_loss(&p.to_string()), Ok(p));
        }
        assert!(PowerLoss::None.how(1).is_none());
        let how = parse_power_loss("pages,writeback=3,fs=ext4").unwrap().how(9).unwrap();
        assert_eq!((how.mode, how.writeback, how.seed, how.fs), (Mode::Pages, 3.0, 9, Fs::Ext4));
        assert_eq!(parse_bound("2.5"), Ok(2.5));
        assert!(parse_bound("0").unwrap_err().contains("between 0 and 600"));
    }

    #[test]
    fn crash_points_are_drawn_from_the_seed_distinct_and_in_range() {
        assert_eq!(crash_points(1, Some(77), Some(5), 400), [77]);
        let p = crash_points(42, None, Some(6), 400);
        assert_eq!(p.len(), 6);
        assert!(p.windows(2).all(|w| w[0] < w[1]));
        assert!(p.iter().all(|n| (1..=1600).contains(n)));
        assert_eq!(p, crash_points(42, None, Some(6), 400));
        assert_ne!(crash_points(42, None, None, 400), crash_points(43, None, None, 400));
        // Never more points than writes to crash at.
        assert_eq!(crash_points(5, None, Some(50), 1), (1..=10).collect::<Vec<u64>>());
    }
}

