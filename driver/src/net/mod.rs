//! The network between the nodes: a private network namespace for the
//! cluster (`ns`), iptables rules made and healed by their spec (`rules`),
//! a transparent TCP proxy for latency, bandwidth caps and cut streams
//! (`proxy`), and the nemeses built on them (`nemesis`); the run's own
//! namespace (`session`) and the command line's nemesis options (`args`).
//! `sys` holds the module's only unsafe code. See docs/network.md.
//!
//! tests/net compiles every file here but `session`, `args` and `on_load`
//! on its own: those alone may use the rest of the driver.

pub mod args;
pub mod nemesis;
pub mod ns;
pub mod on_load;
pub mod proxy;
pub mod rules;
pub mod session;
pub mod spec;
mod sys;
