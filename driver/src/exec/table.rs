//! What a run's fault log says, as `blobfail exec` prints it after the
//! program: per process and family, the matching calls and faults, and
//! the files hit.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::Path;

use serde_json::Value;

use super::Ended;

/// The fault log, parsed (a line a crash cut short is skipped).
pub fn read(log: &Path) -> Vec<Value> {
    std::fs::read_to_string(log).unwrap_or_default().lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
}

/// One process's counts per family: (matching, faults); matching is
/// unknown (None) for a process that died before its summary.
pub fn per_process(lines: &[Value]) -> BTreeMap<u64, BTreeMap<String, (Option<u64>, u64)>> {
    let mut out: BTreeMap<u64, BTreeMap<String, (Option<u64>, u64)>> = BTreeMap::new();
    for l in lines {
        let pid = l["pid"].as_u64().unwrap_or(0);
        if l["summary"] == true {
            let fams = out.entry(pid).or_default();
            fams.clear();
            for (f, c) in l["calls"].as_object().into_iter().flatten() {
                fams.insert(f.clone(), (c["matching"].as_u64(), c["faults"].as_u64().unwrap_or(0)));
            }
        } else if let Some(call) = l["call"].as_str() {
            let e = out.entry(pid).or_default().entry(call.to_string()).or_insert((None, 0));
            if e.0.is_none() {
                e.1 += 1;
            }
        }
    }
    out
}

/// The paths faults hit, in order of first hit.
pub fn files_hit(lines: &[Value]) -> Vec<String> {
    let mut seen = Vec::new();
    for l in lines.iter().filter(|l| l["summary"] != true) {
        if let Some(p) = l["path"].as_str().filter(|p| !p.is_empty()) {
            if !seen.iter().any(|s| s == p) {
                seen.push(p.to_string());
            }
        }
    }
    seen
}

pub fn render(command: &[OsString], ended: Ended, lines: &[Value]) -> String {
    let name = command.first().map(|c| c.to_string_lossy().into_owned()).unwrap_or_default();
    let mut s = format!("blobfail exec: {name} {}\n", ended.describe());
    let procs = per_process(lines);
    if procs.is_empty() {
        s.push_str("  no matching call was seen (is the path right? --path NEEDLE)\n");
        return s;
    }
    s.push_str(&format!("  {:>8}  {:<9} {:>9} {:>7}\n", "pid", "family", "matching", "faults"));
    for (pid, fams) in &procs {
        for (f, (m, n)) in fams {
            let m = m.map_or("-".to_string(), |m| m.to_string());
            s.push_str(&format!("  {pid:>8}  {f:<9} {m:>9} {n:>7}\n"));
        }
    }
    let crashed: Vec<String> = lines
        .iter()
        .filter(|l| l["effect"].as_str().is_some_and(|e| e.starts_with("crash")))
        .map(|l| format!("pid {} at {} #{} ({})", l["pid"], l["function"].as_str().unwrap_or("?"), l["seq"], l["path"].as_str().unwrap_or("")))
        .collect();
    for c in crashed {
        s.push_str(&format!("  crashed on purpose: {c}; a killed process writes no summary (matching: -)\n"));
    }
    let files = files_hit(lines);
    if !files.is_empty() {
        s.push_str(&format!("  files hit: {}\n", files.join(", ")));
    }
    s
}
