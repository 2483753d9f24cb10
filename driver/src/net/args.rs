//! The settings of `--nemesis slow-link|cut-stream` (blob-save's
//! `--nemesis`, beside kill-restart and pause): the proxy on the
//! replication link between each faulted node and node a.

use std::time::Duration;

use super::proxy::{Cut, Toxic};
use super::spec;

/// The network nemeses `--nemesis` may name, beside shape's kill-restart and pause.
pub const LINK_NEMESES: [&str; 2] = ["slow-link", "cut-stream"];

/// The settings of the link nemeses (`--nemesis slow-link|cut-stream`, on
/// the link between each faulted node and node a).
#[derive(clap::Args, Debug, Clone)]
#[command(next_help_heading = "Network nemesis (blob-save and backlog-memory --nemesis slow-link|cut-stream; root and iptables)")]
pub struct LinkArgs {
    /// slow-link: how long each chunk is held, each way [200ms unless --bandwidth].
    #[arg(long, value_name = "DURATION", allow_hyphen_values = true)]
    pub latency: Option<String>,
    /// slow-link: latency varies by up to this much either way [0].
    #[arg(long, value_name = "DURATION", allow_hyphen_values = true)]
    pub jitter: Option<String>,
    /// slow-link: at most this many bytes per second each way, e.g. 256KiB/s.
    #[arg(long, value_name = "RATE", allow_hyphen_values = true)]
    pub bandwidth: Option<String>,
    /// cut-stream: reset the connection carrying the link's Nth byte [256KiB].
    #[arg(long, value_name = "SIZE", allow_hyphen_values = true)]
    pub cut_after: Option<String>,
    /// cut-stream: and again every SIZE more bytes [1MiB].
    #[arg(long, value_name = "SIZE", allow_hyphen_values = true)]
    pub cut_every: Option<String>,
}

/// What the link nemeses refuse, whatever their settings: another nemesis
/// on backlog-memory run alone (`what` is the run's scenario, or `all`;
/// backlog-memory takes only a link's, on B's link with a, during its
/// catch-up), and more than one faulted node (`faulted`): the proxy acts on
/// one link, a faulted node's with a (a proxy per link is not built).
pub fn fits(what: &str, nemesis: Option<&str>, faulted: usize) -> Result<(), String> {
    match nemesis {
        Some(n) if what == "backlog-memory" && !LINK_NEMESES.contains(&n) => Err(format!(
            "--nemesis {n} does not apply to backlog-memory: it takes slow-link or cut-stream (on B's link with a, during B's catch-up)"
        )),
        Some(n) if LINK_NEMESES.contains(&n) && faulted > 1 => Err(format!(
            "--nemesis {n} acts on one link, a faulted node's with node a: pass one --faulted node, not {faulted}"
        )),
        _ => Ok(()),
    }
}

/// A link nemesis as the run applies it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinkPlan {
    pub nemesis: &'static str,
    pub toxic: Toxic,
}

impl LinkPlan {
    /// `slow-link: 200 ms latency ± 50 ms`.
    pub fn describe(&self) -> String {
        let t = &self.toxic;
        let mut parts = Vec::new();
        if !t.latency.is_zero() {
            parts.push(format!("{} ms latency ± {} ms", t.latency.as_millis(), t.jitter.as_millis()));
        }
        if let Some(b) = t.bandwidth {
            parts.push(format!("{b} B/s"));
        }
        match t.cut {
            Some(Cut { after, every: Some(m) }) => parts.push(format!("reset after {after} bytes, then every {m}")),
            Some(Cut { after, every: None }) => parts.push(format!("reset after {after} bytes")),
            None => {}
        }
        format!("{}: {}", self.nemesis, parts.join(", "))
    }
}

impl LinkArgs {
    /// Whether the clap id `id` is one of these options.
    pub fn owns(id: &str) -> bool {
        ["latency", "jitter", "bandwidth", "cut_after", "cut_every"].contains(&id)
    }

    /// The plan for `--nemesis` (`None` for no nemesis or one that is not
    /// a link's), or the one line saying what does not fit.
    pub fn plan(&self, nemesis: Option<&str>) -> Result<Option<LinkPlan>, String> {
        let slow = [("--latency", &self.latency), ("--jitter", &self.jitter), ("--bandwidth", &self.bandwidth)];
        let cut = [("--cut-after", &self.cut_after), ("--cut-every", &self.cut_every)];
        let given = |opts: &[(&'static str, &Option<String>)]| opts.iter().find(|(_, v)| v.is_some()).map(|(n, _)| *n);
        let mut toxic = Toxic::default();
        let nemesis = match nemesis {
            Some("slow-link") => {
                if let Some(flag) = given(&cut) {
                    return Err(format!("{flag} applies to --nemesis cut-stream, not slow-link"));
                }
                let duration = |v: &Option<String>, what| v.as_deref().map(|s| spec::parse_duration(s, what)).transpose();
                toxic.latency = duration(&self.latency, "--latency")?.unwrap_or(Duration::ZERO);
                toxic.jitter = duration(&self.jitter, "--jitter")?.unwrap_or(Duration::ZERO);
                toxic.bandwidth = self.bandwidth.as_deref().map(|s| spec::parse_rate(s, "--bandwidth")).transpose()?;
                if self.latency.is_none() && toxic.bandwidth.is_none() {
                    toxic.latency = Duration::from_millis(200);
                }
                if toxic.jitter > toxic.latency {
                    return Err(format!(
                        "--jitter {} ms is more than --latency {} ms: a chunk cannot be held less than no time",
                        toxic.jitter.as_millis(),
                        toxic.latency.as_millis()
                    ));
                }
                "slow-link"
            }
            Some("cut-stream") => {
                if let Some(flag) = given(&slow) {
                    return Err(format!("{flag} applies to --nemesis slow-link, not cut-stream"));
                }
                let size = |v: &Option<String>, what, default| v.as_deref().map_or(Ok(default), |s| spec::parse_bytes(s, what));
                let after = size(&self.cut_after, "--cut-after", 256 * 1024)?;
                let every = size(&self.cut_every, "--cut-every", 1024 * 1024)?;
                toxic.cut = Some(Cut { after, every: Some(every) });
                "cut-stream"
            }
            _ => {
                if let Some(flag) = given(&slow).or(given(&cut)) {
                    return Err(format!("{flag} applies with --nemesis slow-link or cut-stream only"));
                }
                return Ok(None);
            }
        };
        Ok(Some(LinkPlan { nemesis, toxic }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct T {
        #[arg(long)]
        nemesis: Option<String>,
        #[command(flatten)]
        n: LinkArgs,
    }

    fn plan(args: &[&str]) -> Result<Option<LinkPlan>, String> {
        let t = T::try_parse_from(std::iter::once("t").chain(args.iter().copied())).map_err(|e| e.to_string())?;
        t.n.plan(t.nemesis.as_deref())
    }

    #[test]
    fn a_link_nemesis_takes_one_faulted_node_and_backlog_memory_only_a_link_nemesis() {
        assert_eq!(fits("blob-save", Some("slow-link"), 1), Ok(()));
        assert_eq!(fits("backlog-memory", Some("cut-stream"), 1), Ok(()));
        assert_eq!(fits("blob-save", Some("pause"), 2), Ok(()));
        assert_eq!(fits("all", Some("pause"), 1), Ok(()));
        assert_eq!(fits("backlog-memory", None, 1), Ok(()));
        assert_eq!(
            fits("blob-save", Some("cut-stream"), 2),
            Err("--nemesis cut-stream acts on one link, a faulted node's with node a: pass one --faulted node, not 2".into())
        );
        assert_eq!(
            fits("backlog-memory", Some("kill-restart"), 1),
            Err("--nemesis kill-restart does not apply to backlog-memory: it takes slow-link or cut-stream (on B's link with a, during B's catch-up)".into())
        );
    }

    #[test]
    fn a_link_plan_takes_only_its_own_settings() {
        assert_eq!(plan(&[]), Ok(None));
        assert_eq!(plan(&["--nemesis", "pause"]), Ok(None));
        let p = plan(&["--nemesis", "slow-link"]).unwrap().unwrap();
        assert_eq!((p.toxic.latency, p.toxic.bandwidth), (Duration::from_millis(200), None));
        assert_eq!(p.describe(), "slow-link: 200 ms latency ± 0 ms");
        let p = plan(&["--nemesis", "slow-link", "--bandwidth", "256KiB/s"]).unwrap().unwrap();
        assert_eq!((p.toxic.latency, p.toxic.bandwidth), (Duration::ZERO, Some(262_144)));
        let p = plan(&["--nemesis", "cut-stream", "--cut-after", "64KiB"]).unwrap().unwrap();
        assert_eq!(p.toxic.cut, Some(Cut { after: 65_536, every: Some(1 << 20) }));
        assert_eq!(p.describe(), "cut-stream: reset after 65536 bytes, then every 1048576");
        assert_eq!(
            plan(&["--nemesis", "slow-link", "--latency", "-5ms"]),
            Err("--latency \"-5ms\" is negative: give zero or more (e.g. 200ms)".into())
        );
        assert_eq!(plan(&["--latency", "5ms"]), Err("--latency applies with --nemesis slow-link or cut-stream only".into()));
        assert_eq!(plan(&["--nemesis", "pause", "--cut-after", "5"]), Err("--cut-after applies with --nemesis slow-link or cut-stream only".into()));
        assert_eq!(plan(&["--nemesis", "cut-stream", "--jitter", "5ms"]), Err("--jitter applies to --nemesis slow-link, not cut-stream".into()));
        assert!(plan(&["--nemesis", "slow-link", "--latency", "10ms", "--jitter", "20ms"]).unwrap_err().contains("more than --latency"));
    }
}
