//! `--nemesis slow-link|cut-stream` and its settings, for the scenarios that
//! replicate under load (blob-save): the proxy on the replication link
//! between two nodes, on for the whole load.

use std::time::Duration;

use super::proxy::{Cut, Toxic};
use super::spec;

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetNemesis {
    /// Latency and jitter, or a bandwidth cap, on the replication link.
    SlowLink,
    /// Reset a replication connection after N bytes, and again every M.
    CutStream,
}

impl NetNemesis {
    pub fn name(self) -> &'static str {
        match self {
            NetNemesis::SlowLink => "slow-link",
            NetNemesis::CutStream => "cut-stream",
        }
    }
}

/// The network nemesis options (their clap ids start with the nemesis's
/// words, so the runner can refuse them where they do not apply).
#[derive(clap::Args, Debug, Clone)]
#[command(next_help_heading = "Network nemesis (blob-save; root and iptables)")]
pub struct NemesisArgs {
    /// A network nemesis on the replication link during the load, in a private network namespace.
    #[arg(long, value_enum, value_name = "NEMESIS")]
    pub nemesis: Option<NetNemesis>,
    /// The link the nemesis acts on, as two nodes: both directions of their replication connections.
    #[arg(long, default_value = "a-b", value_name = "X-Y")]
    pub link: String,
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

/// The nemesis as the run will apply it.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkPlan {
    pub nemesis: NetNemesis,
    pub link: (String, String),
    pub toxic: Toxic,
}

impl LinkPlan {
    pub fn describe(&self) -> String {
        let t = &self.toxic;
        let what = match self.nemesis {
            NetNemesis::SlowLink => {
                let mut parts = Vec::new();
                if !t.latency.is_zero() {
                    parts.push(format!("{} ms latency ± {} ms", t.latency.as_millis(), t.jitter.as_millis()));
                }
                if let Some(b) = t.bandwidth {
                    parts.push(format!("{b} B/s"));
                }
                parts.join(", ")
            }
            NetNemesis::CutStream => match t.cut {
                Some(Cut { after, every: Some(m) }) => format!("reset after {after} bytes, then every {m}"),
                Some(Cut { after, every: None }) => format!("reset after {after} bytes"),
                None => String::new(),
            },
        };
        format!("{} on {}-{}: {what}", self.nemesis.name(), self.link.0, self.link.1)
    }
}

impl NemesisArgs {
    /// Whether the clap id `id` is one of these options.
    pub fn owns(id: &str) -> bool {
        ["nemesis", "link", "latency", "jitter", "bandwidth", "cut_after", "cut_every"].contains(&id)
    }

    /// The plan, or the one line saying what does not fit; `None` without `--nemesis`.
    pub fn plan(&self, nodes: &[&str]) -> Result<Option<LinkPlan>, String> {
        let slow = [("--latency", &self.latency), ("--jitter", &self.jitter), ("--bandwidth", &self.bandwidth)];
        let cut = [("--cut-after", &self.cut_after), ("--cut-every", &self.cut_every)];
        let given = |opts: &[(&'static str, &Option<String>)]| opts.iter().find(|(_, v)| v.is_some()).map(|(n, _)| *n);
        let Some(nemesis) = self.nemesis else {
            if let Some(flag) = given(&slow).or(given(&cut)) {
                return Err(format!("{flag} applies with --nemesis only (slow-link or cut-stream)"));
            }
            return Ok(None);
        };
        let link = spec::parse_link(&self.link, nodes).map_err(|e| format!("--link: {e}"))?;
        let mut toxic = Toxic::default();
        match nemesis {
            NetNemesis::SlowLink => {
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
            }
            NetNemesis::CutStream => {
                if let Some(flag) = given(&slow) {
                    return Err(format!("{flag} applies to --nemesis slow-link, not cut-stream"));
                }
                let size = |v: &Option<String>, what, default| v.as_deref().map_or(Ok(default), |s| spec::parse_bytes(s, what));
                let after = size(&self.cut_after, "--cut-after", 256 * 1024)?;
                let every = size(&self.cut_every, "--cut-every", 1024 * 1024)?;
                toxic.cut = Some(Cut { after, every: Some(every) });
            }
        }
        Ok(Some(LinkPlan { nemesis, link, toxic }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct T {
        #[command(flatten)]
        n: NemesisArgs,
    }

    fn plan(args: &[&str]) -> Result<Option<LinkPlan>, String> {
        let t = T::try_parse_from(std::iter::once("t").chain(args.iter().copied())).map_err(|e| e.to_string())?;
        t.n.plan(&["a", "b"])
    }

    #[test]
    fn a_nemesis_plan_takes_only_its_own_settings() {
        assert_eq!(plan(&[]), Ok(None));
        let p = plan(&["--nemesis", "slow-link"]).unwrap().unwrap();
        assert_eq!((p.toxic.latency, p.toxic.bandwidth, p.link.clone()), (Duration::from_millis(200), None, ("a".into(), "b".into())));
        assert_eq!(p.describe(), "slow-link on a-b: 200 ms latency ± 0 ms");
        let p = plan(&["--nemesis", "slow-link", "--bandwidth", "256KiB/s"]).unwrap().unwrap();
        assert_eq!((p.toxic.latency, p.toxic.bandwidth), (Duration::ZERO, Some(262_144)));
        let p = plan(&["--nemesis", "cut-stream", "--cut-after", "64KiB", "--link", "b-a"]).unwrap().unwrap();
        assert_eq!(p.toxic.cut, Some(Cut { after: 65_536, every: Some(1 << 20) }));
        assert_eq!(p.describe(), "cut-stream on b-a: reset after 65536 bytes, then every 1048576");
        assert_eq!(
            plan(&["--nemesis", "slow-link", "--latency", "-5ms"]),
            Err("--latency \"-5ms\" is negative: give zero or more (e.g. 200ms)".into())
        );
        assert_eq!(plan(&["--latency", "5ms"]), Err("--latency applies with --nemesis only (slow-link or cut-stream)".into()));
        assert_eq!(
            plan(&["--nemesis", "cut-stream", "--jitter", "5ms"]),
            Err("--jitter applies to --nemesis slow-link, not cut-stream".into())
        );
        assert_eq!(plan(&["--nemesis", "slow-link", "--link", "a-c"]), Err("--link: link \"a-c\" names node \"c\", which this run does not have (nodes are a, b)".into()));
        assert!(plan(&["--nemesis", "slow-link", "--latency", "10ms", "--jitter", "20ms"]).unwrap_err().contains("more than --latency"));
    }
}
