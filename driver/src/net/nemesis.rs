//! The network nemeses, each with an exact heal: `Partition` (iptables DROP
//! between two sets of node addresses) and `Link` (the proxy put on the
//! replication connections between two nodes, for `slow-link` and
//! `cut-stream`). Each start and heal says what it did, for the run's
//! history.

use std::net::Ipv4Addr;

use serde::Serialize;

use super::ns::PrivateNet;
use super::proxy::{Proxy, Stats, Toxic, MARK};
use super::rules::{Healed, Rule, RuleSet};

/// A node as the network sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeAddr {
    pub name: String,
    pub ip: Ipv4Addr,
}

/// Every packet between two sets of nodes dropped, both ways.
pub struct Partition {
    sides: [Vec<NodeAddr>; 2],
    rules: RuleSet,
}

impl Partition {
    pub fn new(sides: [Vec<NodeAddr>; 2]) -> Partition {
        Partition { sides, rules: RuleSet::default() }
    }

    /// The rules: for each pair across the sides, a DROP of what each sends
    /// the other (in INPUT: on loopback every packet passes there once).
    pub fn rules(&self) -> Vec<Rule> {
        let mut rules = Vec::new();
        for x in &self.sides[0] {
            for y in &self.sides[1] {
                for (from, to) in [(x.ip, y.ip), (y.ip, x.ip)] {
                    rules.push(Rule::new("filter", "INPUT", &["-s", &from.to_string(), "-d", &to.to_string(), "-j", "DROP"]));
                }
            }
        }
        rules
    }

    pub fn describe(&self) -> String {
        let names = |s: &[NodeAddr]| s.iter().map(|n| n.name.clone()).collect::<Vec<_>>().join(",");
        format!("partition {} | {}", names(&self.sides[0]), names(&self.sides[1]))
    }

    /// Puts the rules in; on an error, takes out those already in.
    pub fn start(&mut self, net: &PrivateNet) -> Result<Vec<String>, String> {
        for rule in self.rules() {
            if let Err(e) = self.rules.add(net, rule) {
                let _ = self.rules.heal(net);
                return Err(e);
            }
        }
        Ok(self.rules.rules().iter().map(Rule::text).collect())
    }

    /// Takes out exactly the rules `start` put in, checked.
    pub fn heal(&mut self, net: &PrivateNet) -> Result<Healed, String> {
        self.rules.heal(net)
    }

    pub fn is_active(&self) -> bool {
        !self.rules.is_empty()
    }
}

/// The proxy on the replication connections between two nodes, both ways.
pub struct Link {
    /// The two nodes; `None` when the redirect takes every connection to
    /// the port and the link's ends are named later (`aim`).
    pub ends: Option<[NodeAddr; 2]>,
    port: u16,
    proxy: Proxy,
    rules: RuleSet,
}

impl Link {
    /// Starts the proxy (bytes pass untouched) and redirects every new
    /// connection from either node to the other's `port` through it. Do
    /// this before the nodes connect: a redirect does not move a
    /// connection already made.
    #[allow(dead_code)] // the driver aims a port-wide proxy (`install_port`); tests/net uses this one
    pub async fn install(net: &PrivateNet, ends: [NodeAddr; 2], port: u16) -> Result<Link, String> {
        Self::install_with(net, Some(ends), port).await
    }

    /// The proxy on every connection to `port` in the namespace (the
    /// nodes' addresses are not known yet); `aim` names the link's ends,
    /// the only connections the toxic then acts on.
    pub async fn install_port(net: &PrivateNet, port: u16) -> Result<Link, String> {
        Self::install_with(net, None, port).await
    }

    async fn install_with(net: &PrivateNet, ends: Option<[NodeAddr; 2]>, port: u16) -> Result<Link, String> {
        let proxy = Proxy::start().await.map_err(|e| format!("the link proxy could not listen on 127.0.0.1: {e}"))?;
        proxy.set_ends(ends.as_ref().map(|[x, y]| [x.ip, y.ip]));
        let mut link = Link { ends, port, proxy, rules: RuleSet::default() };
        for rule in link.redirects() {
            if let Err(e) = link.rules.add(net, rule) {
                let _ = link.rules.heal(net);
                return Err(e);
            }
        }
        Ok(link)
    }

    /// Names the link's ends once the nodes have addresses.
    pub fn aim(&mut self, ends: [NodeAddr; 2]) {
        self.proxy.set_ends(Some([ends[0].ip, ends[1].ip]));
        self.ends = Some(ends);
    }

    /// `nat OUTPUT` REDIRECTs to the proxy, skipping its own (marked) connections.
    pub fn redirects(&self) -> Vec<Rule> {
        let (port, to, mark) = (self.port.to_string(), self.proxy.port().to_string(), format!("0x{MARK:x}"));
        let rule = |pair: Option<(Ipv4Addr, Ipv4Addr)>| {
            let mut spec: Vec<String> = vec!["-p".into(), "tcp".into()];
            if let Some((from, dst)) = pair {
                spec.extend(["-s".into(), from.to_string(), "-d".into(), dst.to_string()]);
            }
            spec.extend(
                ["--dport", &port, "-m", "mark", "!", "--mark", &mark, "-j", "REDIRECT", "--to-ports", &to].map(str::to_string),
            );
            Rule { table: "nat", chain: "OUTPUT", spec }
        };
        match &self.ends {
            Some([x, y]) => vec![rule(Some((x.ip, y.ip))), rule(Some((y.ip, x.ip)))],
            None => vec![rule(None)],
        }
    }

    pub fn describe(&self) -> String {
        let which = match &self.ends {
            Some([x, y]) => format!("link {}-{}", x.name, y.name),
            None => "every link".into(),
        };
        format!("{which} (port {}) through the proxy on 127.0.0.1:{}", self.port, self.proxy.port())
    }

    /// Turns the nemesis on (`Some`) or off.
    pub fn set_toxic(&self, toxic: Option<Toxic>) {
        self.proxy.set_toxic(toxic);
    }

    pub fn stats(&self) -> Stats {
        self.proxy.stats()
    }

    /// Takes the redirects out (exactly, checked) and stops the proxy,
    /// closing the connections through it.
    pub async fn remove(mut self, net: &PrivateNet) -> Result<Healed, String> {
        let healed = self.rules.heal(net);
        self.proxy.stop().await;
        healed
    }
}
