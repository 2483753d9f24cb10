//! The words of the network nemeses on the command line, checked against
//! the run's nodes: a partition (`b|a,c`, or `b` for one node cut off from
//! the rest), durations (`200ms`, `1.5s`), sizes (`64KiB`)
//! and rates (`256KiB/s`). Each refusal is one line naming what was wrong.

use std::time::Duration;

/// Two sets of nodes with every packet between them dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionSpec {
    pub sides: [Vec<String>; 2],
}

/// `b|a,c`: b on one side, a and c on the other; `b`: b against every other
/// node. Every node named must be one of `nodes`, and named once.
pub fn parse_partition(s: &str, nodes: &[&str]) -> Result<PartitionSpec, String> {
    let known = || nodes.join(", ");
    let side = |part: &str| -> Result<Vec<String>, String> {
        let names: Vec<String> = part.split(',').map(|n| n.trim().to_ascii_lowercase()).collect();
        if names.iter().any(String::is_empty) {
            return Err(format!("partition {s:?} has an empty node name: write sets like b|a,c (nodes are {})", known()));
        }
        Ok(names)
    };
    let mut parts = s.split('|');
    let first = side(parts.next().unwrap_or(""))?;
    let second = match parts.next() {
        Some(p) => side(p)?,
        None => nodes.iter().map(|n| n.to_string()).filter(|n| !first.contains(n)).collect(),
    };
    if parts.next().is_some() {
        return Err(format!("partition {s:?} has more than two sets: write two, like b|a,c"));
    }
    let mut seen: Vec<&str> = Vec::new();
    for n in first.iter().chain(&second) {
        if !nodes.contains(&n.as_str()) {
            return Err(format!("partition {s:?} names node {n}, which this run does not have (nodes are {})", known()));
        }
        if seen.contains(&n.as_str()) {
            return Err(format!("partition {s:?} names node {n} twice: each node goes in one set, once"));
        }
        seen.push(n);
    }
    if first.is_empty() || second.is_empty() {
        return Err(format!("partition {s:?} leaves one side empty: each set needs a node (nodes are {})", known()));
    }
    Ok(PartitionSpec { sides: [first, second] })
}

/// `200ms`, `1.5s`, `0`, `2m`: a duration of zero or more. `what` names the
/// option in the refusal.
pub fn parse_duration(s: &str, what: &str) -> Result<Duration, String> {
    let t = s.trim();
    let split = t.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let value: f64 = num.trim().parse().map_err(|_| format!("{what} {s:?} is not a duration (e.g. 200ms, 1.5s)"))?;
    if value < 0.0 || value.is_sign_negative() {
        return Err(format!("{what} {s:?} is negative: give zero or more (e.g. 200ms)"));
    }
    let secs = match unit {
        "" | "s" => value,
        "ms" => value / 1e3,
        "us" => value / 1e6,
        "m" => value * 60.0,
        _ => return Err(format!("{what} {s:?} has an unknown unit {unit:?}: use ms, s or m (e.g. 200ms)")),
    };
    if !secs.is_finite() || secs > 3600.0 {
        return Err(format!("{what} {s:?} is longer than an hour"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// `64KiB`, `1MiB`, `1000`, `1.5MB`: a number of bytes, at least one.
pub fn parse_bytes(s: &str, what: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let value: f64 = num.trim().parse().map_err(|_| format!("{what} {s:?} is not a size (e.g. 64KiB, 1MiB, 1000)"))?;
    let scale = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "kib" => 1024.0,
        "m" | "mb" => 1e6,
        "mib" => 1024.0 * 1024.0,
        "g" | "gb" => 1e9,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        _ => return Err(format!("{what} {s:?} has an unknown unit {unit:?}: use B, KiB, MiB, KB or MB")),
    };
    let bytes = value * scale;
    if !(bytes.is_finite() && bytes >= 1.0) {
        return Err(format!("{what} {s:?} must be at least one byte"));
    }
    Ok(bytes.round() as u64)
}

/// `256KiB/s`, `1MB/s`: bytes per second.
pub fn parse_rate(s: &str, what: &str) -> Result<u64, String> {
    let t = s.trim();
    let Some(size) = t.strip_suffix("/s") else {
        return Err(format!("{what} {s:?} is not a rate: write bytes per second like 256KiB/s"));
    };
    parse_bytes(size, what)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NODES: &[&str] = &["a", "b", "c"];

    #[test]
    fn partitions_name_two_sets_of_known_nodes_each_once() {
        let p = parse_partition("b|a,c", NODES).unwrap();
        assert_eq!(p.sides, [vec!["b".to_string()], vec!["a".to_string(), "c".to_string()]]);
        // One node alone: cut off from every other node.
        assert_eq!(parse_partition("B", NODES).unwrap().sides[1], ["a", "c"]);
        assert_eq!(parse_partition("a", &["a", "b"]).unwrap().sides, [vec!["a".to_string()], vec!["b".to_string()]]);
        assert_eq!(
            parse_partition("b|a,d", NODES).unwrap_err(),
            "partition \"b|a,d\" names node d, which this run does not have (nodes are a, b, c)"
        );
        assert_eq!(parse_partition("b|a,b", NODES).unwrap_err(), "partition \"b|a,b\" names node b twice: each node goes in one set, once");
        assert_eq!(parse_partition("a,a|b", NODES).unwrap_err(), "partition \"a,a|b\" names node a twice: each node goes in one set, once");
        assert!(parse_partition("a,b,c", NODES).unwrap_err().contains("leaves one side empty"));
        assert!(parse_partition("a||b", NODES).unwrap_err().contains("empty node name"));
        assert!(parse_partition("a|b|c", NODES).unwrap_err().contains("more than two sets"));
    }

    #[test]
    fn durations_sizes_and_rates_parse_exactly_and_refuse_negatives() {
        assert_eq!(parse_duration("200ms", "--latency").unwrap(), Duration::from_millis(200));
        assert_eq!(parse_duration("1.5s", "--latency").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("0", "--jitter").unwrap(), Duration::ZERO);
        assert_eq!(parse_duration("-5ms", "--latency").unwrap_err(), "--latency \"-5ms\" is negative: give zero or more (e.g. 200ms)");
        assert_eq!(parse_duration("-0", "--latency").unwrap_err(), "--latency \"-0\" is negative: give zero or more (e.g. 200ms)");
        assert!(parse_duration("5h", "--latency").unwrap_err().contains("unknown unit \"h\""));
        assert!(parse_duration("fast", "--latency").unwrap_err().contains("is not a duration"));
        assert_eq!(parse_bytes("64KiB", "--cut-after").unwrap(), 65536);
        assert_eq!(parse_bytes("1MiB", "--cut-after").unwrap(), 1 << 20);
        assert_eq!(parse_bytes("1000", "--cut-after").unwrap(), 1000);
        assert!(parse_bytes("0", "--cut-after").unwrap_err().contains("at least one byte"));
        assert!(parse_bytes("-3", "--cut-after").unwrap_err().contains("at least one byte"));
        assert_eq!(parse_rate("256KiB/s", "--bandwidth").unwrap(), 262144);
        assert!(parse_rate("256KiB", "--bandwidth").unwrap_err().contains("is not a rate"));
    }
}
