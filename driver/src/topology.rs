//! Nodes by name, and the topology a scenario runs on: its nodes, who joins
//! whom, and which nodes are faulted. A leaf: it knows no cluster.
//!
//! Nodes are named `a`, `b`, `c`, … in order. The first node is the source:
//! it carries the load and is never faulted; checks that compare nodes
//! compare each faulted node against it.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The most nodes a run stands up (each one is a Harper process of about
/// 300 MiB and 3 s of CPU to start).
pub const MAX_NODES: usize = 5;

/// A node's name: one lowercase letter, `a` to the `MAX_NODES`th.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct NodeId(String);

impl NodeId {
    /// The `i`th node's name (0 → `a`).
    pub fn nth(i: usize) -> NodeId {
        assert!(i < 26, "node index {i}");
        NodeId(((b'a' + i as u8) as char).to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Its position: `a` → 0.
    pub fn index(&self) -> usize {
        (self.0.as_bytes()[0] - b'a') as usize
    }

    /// A name as the command line gives it (`b`, `B`).
    pub fn parse(s: &str) -> Result<NodeId, String> {
        let t = s.trim().to_ascii_lowercase();
        match t.as_bytes() {
            [c @ b'a'..=b'z'] if ((c - b'a') as usize) < MAX_NODES => Ok(NodeId(t)),
            _ => Err(format!("{s:?} is not a node name: nodes are a, b, c, d, e (one letter each)")),
        }
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::ops::Deref for NodeId {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl From<&str> for NodeId {
    /// A name the code itself writes (`"a"`); the command line's go through `parse`.
    fn from(s: &str) -> NodeId {
        NodeId::parse(s).unwrap_or_else(|e| panic!("{e}"))
    }
}

/// The nodes of a run, who joins whom, and which are faulted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Topology {
    pub nodes: Vec<NodeId>,
    /// `(joiner, target)`: the joiner's `add_node` names the target.
    pub joins: Vec<(NodeId, NodeId)>,
    pub faulted: Vec<NodeId>,
}

impl Topology {
    /// `n` nodes, each joined to the first (`a`), `faulted` faulted. Refuses
    /// a count out of 2..=MAX_NODES, a faulted node that is not one of
    /// them, and a faulted source.
    pub fn star(n: usize, faulted: &[NodeId]) -> Result<Topology, String> {
        if !(2..=MAX_NODES).contains(&n) {
            return Err(format!("--nodes {n} is out of range: a run has 2 to {MAX_NODES} nodes"));
        }
        let nodes: Vec<NodeId> = (0..n).map(NodeId::nth).collect();
        let mut chosen: Vec<NodeId> = Vec::new();
        for f in faulted {
            if f.index() == 0 {
                return Err("--faulted a: node a carries the load and is what the others are judged against; fault b to e".into());
            }
            if f.index() >= n {
                let names: Vec<&str> = nodes.iter().map(NodeId::as_str).collect();
                return Err(format!("--faulted {f}: there is no node {f} with --nodes {n} (nodes {})", names.join(", ")));
            }
            if !chosen.contains(f) {
                chosen.push(f.clone());
            }
        }
        if chosen.is_empty() {
            return Err("--faulted names no node: give one or more of b to e, e.g. --faulted b".into());
        }
        chosen.sort();
        let joins = nodes[1..].iter().map(|n| (n.clone(), nodes[0].clone())).collect();
        Ok(Topology { nodes, joins, faulted: chosen })
    }

    /// Two nodes, B faulted: the shape every scenario had before topologies.
    pub fn pair() -> Topology {
        Topology::star(2, &[NodeId::nth(1)]).expect("a valid pair")
    }

    /// The node that carries the load and that the others are judged against.
    pub fn source(&self) -> &NodeId {
        &self.nodes[0]
    }

    pub fn is_faulted(&self, node: &str) -> bool {
        self.faulted.iter().any(|f| f.as_str() == node)
    }

    /// The nodes neither the source nor faulted (a third node left healthy).
    pub fn unfaulted_peers(&self) -> Vec<NodeId> {
        self.nodes[1..].iter().filter(|n| !self.is_faulted(n)).cloned().collect()
    }

    /// In words: `3 nodes (a, b, c), b faulted`.
    pub fn describe(&self) -> String {
        let names: Vec<&str> = self.nodes.iter().map(NodeId::as_str).collect();
        let faulted: Vec<&str> = self.faulted.iter().map(NodeId::as_str).collect();
        format!("{} nodes ({}), {} faulted", names.len(), names.join(", "), faulted.join(" and "))
    }
}

/// `--faulted b` or `b,c`.
pub fn parse_faulted(s: &str) -> Result<Vec<NodeId>, String> {
    s.split(',').map(NodeId::parse).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_and_count_from_a() {
        assert_eq!(NodeId::nth(2).as_str(), "c");
        assert_eq!(NodeId::parse("B").unwrap().index(), 1);
        assert_eq!(NodeId::parse("f").unwrap_err(), "\"f\" is not a node name: nodes are a, b, c, d, e (one letter each)");
        assert!(NodeId::parse("bb").is_err() && NodeId::parse("").is_err() && NodeId::parse("1").is_err());
        assert_eq!(parse_faulted("b,c").unwrap(), vec![NodeId::nth(1), NodeId::nth(2)]);
    }

    #[test]
    fn a_star_joins_every_node_to_a_and_refuses_what_cannot_be() {
        let t = Topology::star(3, &[NodeId::nth(2), NodeId::nth(1), NodeId::nth(2)]).unwrap();
        assert_eq!(t.nodes.iter().map(NodeId::as_str).collect::<Vec<_>>(), ["a", "b", "c"]);
        assert_eq!(t.joins, vec![("b".into(), "a".into()), ("c".into(), "a".into())]);
        assert_eq!(t.faulted, vec![NodeId::nth(1), NodeId::nth(2)]);
        assert_eq!(t.describe(), "3 nodes (a, b, c), b and c faulted");
        assert!(t.unfaulted_peers().is_empty());
        let one = Topology::star(3, &["b".into()]).unwrap();
        assert_eq!(one.unfaulted_peers(), vec![NodeId::nth(2)]);
        assert_eq!(Topology::pair().describe(), "2 nodes (a, b), b faulted");
        assert_eq!(Topology::star(1, &["b".into()]).unwrap_err(), "--nodes 1 is out of range: a run has 2 to 5 nodes");
        assert_eq!(Topology::star(6, &["b".into()]).unwrap_err(), "--nodes 6 is out of range: a run has 2 to 5 nodes");
        assert_eq!(
            Topology::star(2, &["c".into()]).unwrap_err(),
            "--faulted c: there is no node c with --nodes 2 (nodes a, b)"
        );
        assert!(Topology::star(3, &["a".into()]).unwrap_err().starts_with("--faulted a: node a carries the load"));
        assert!(Topology::star(3, &[]).is_err());
    }
}
