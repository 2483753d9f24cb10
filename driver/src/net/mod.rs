//! The network between the nodes: a private network namespace for the
//! cluster (`ns`), iptables rules made and healed by their spec (`rules`),
//! a transparent TCP proxy for latency, bandwidth caps and cut streams
//! (`proxy`), and the nemeses built on them (`nemesis`). `sys` holds the
//! module's only unsafe code. See docs/network.md.

pub mod nemesis;
pub mod ns;
pub mod proxy;
pub mod rules;
pub mod spec;
mod sys;
