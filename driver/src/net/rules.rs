//! iptables rules inside the private namespace, made and removed by their
//! spec: a `RuleSet` remembers exactly the rules it added, and its heal
//! deletes exactly those, checks with `iptables -C` that each is gone, and
//! compares every chain it touched with the listing taken before the first
//! rule went in.

use std::collections::BTreeMap;
use std::process::{Command, Stdio};

use serde::Serialize;

use super::ns::PrivateNet;

/// One rule: its table, its chain, and its match and target, as `iptables
/// -A <chain>` takes them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rule {
    pub table: &'static str,
    pub chain: &'static str,
    pub spec: Vec<String>,
}

impl Rule {
    pub fn new(table: &'static str, chain: &'static str, spec: &[&str]) -> Rule {
        Rule { table, chain, spec: spec.iter().map(|s| s.to_string()).collect() }
    }

    /// The rule as a person would type it (`-t nat -A OUTPUT …`).
    pub fn text(&self) -> String {
        format!("-t {} -A {} {}", self.table, self.chain, self.spec.join(" "))
    }

    fn args(&self, op: &str) -> Vec<String> {
        let mut a = vec!["-w".to_string(), "-t".into(), self.table.into(), op.into(), self.chain.into()];
        a.extend(self.spec.iter().cloned());
        a
    }
}

/// Runs iptables with `args` in the namespace: its stdout, or an error with
/// its stderr.
fn iptables(net: &PrivateNet, args: &[String]) -> Result<String, String> {
    if !net.is_current() {
        // Never the host's rules: the caller must be inside the namespace.
        return Err(format!("refusing `iptables {}`: this thread is not inside the run's private network namespace", args.join(" ")));
    }
    let out = Command::new(&net.iptables)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{} failed to start: {e}", net.iptables.display()))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "`iptables {}` failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// `iptables -t <table> -S`: every rule of the table, as iptables prints them.
pub fn list(net: &PrivateNet, table: &str) -> Result<String, String> {
    iptables(net, &["-w".into(), "-t".into(), table.into(), "-S".into()])
}

fn list_chain(net: &PrivateNet, table: &str, chain: &str) -> Result<String, String> {
    iptables(net, &["-w".into(), "-t".into(), table.into(), "-S".into(), chain.into()])
}

/// Whether `rule` is in its chain now (`iptables -C`).
pub fn present(net: &PrivateNet, rule: &Rule) -> Result<bool, String> {
    if !net.is_current() {
        return Err("not inside the run's private network namespace".into());
    }
    let st = Command::new(&net.iptables)
        .args(rule.args("-C"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map_err(|e| format!("{} failed to start: {e}", net.iptables.display()))?;
    // -C exits 0 when the rule is there, 1 when it is not, 2+ on a bad command.
    match st.code() {
        Some(0) => Ok(true),
        Some(1) => Ok(false),
        _ => Err(format!("`iptables {}` failed ({st})", rule.args("-C").join(" "))),
    }
}

/// The rules one nemesis added, and each touched chain as it was before.
#[derive(Debug, Default)]
pub struct RuleSet {
    added: Vec<Rule>,
    before: BTreeMap<(&'static str, &'static str), String>,
}

/// What a heal did: the rules it removed, each checked gone.
#[derive(Debug, Clone, Serialize)]
pub struct Healed {
    pub removed: Vec<String>,
}

impl RuleSet {
    /// Adds `rule` (`-A`) and checks it is there (`-C`).
    pub fn add(&mut self, net: &PrivateNet, rule: Rule) -> Result<(), String> {
        let key = (rule.table, rule.chain);
        if !self.before.contains_key(&key) {
            let chain = list_chain(net, rule.table, rule.chain)?;
            self.before.insert(key, chain);
        }
        iptables(net, &rule.args("-A"))?;
        self.added.push(rule.clone());
        if !present(net, &rule)? {
            return Err(format!("iptables accepted `{}` but does not list it", rule.text()));
        }
        Ok(())
    }

    pub fn rules(&self) -> &[Rule] {
        &self.added
    }

    /// Deletes exactly the rules added, newest first, each by its spec;
    /// checks each is gone and every touched chain reads as it did before.
    pub fn heal(&mut self, net: &PrivateNet) -> Result<Healed, String> {
        let mut removed = Vec::new();
        while let Some(rule) = self.added.pop() {
            if let Err(e) = iptables(net, &rule.args("-D")) {
                self.added.push(rule);
                return Err(e);
            }
            if present(net, &rule)? {
                // The same rule added twice by someone else: ours is gone, theirs stays.
                tracing::warn!("after deleting `{}` an identical rule is still listed", rule.text());
            }
            removed.push(rule.text());
        }
        for ((table, chain), before) in std::mem::take(&mut self.before) {
            let after = list_chain(net, table, chain)?;
            if after != before {
                return Err(format!("after the heal, {table} {chain} reads {after:?}, not {before:?} as before the nemesis"));
            }
        }
        removed.reverse();
        Ok(Healed { removed })
    }

    pub fn is_empty(&self) -> bool {
        self.added.is_empty()
    }
}
