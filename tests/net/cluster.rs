//! End to end on a real harperdb 4.7.29 cluster, inside the run's own
//! network namespace: `partition-heal` seen both ways (a healed partition
//! passes every check; a partition never healed fails each check that
//! watches the link), and blob-save under `--nemesis cut-stream`, whose
//! proxy must cut exactly where it was told to.

use std::time::Duration;

use blobfail_suite::driver::*;
use serde_json::Value;

const CHECKS: [&str; 5] = ["converged", "same-winner", "nothing-lost", "no-uncaught-exception", "peer-connected"];

fn expect(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(n, s)| (n.to_string(), s.to_string())).collect()
}

/// The history's actions, and the rules each removed or added.
fn actions(figures: &Value) -> Vec<String> {
    figures["nemesis_history"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap().to_string()).collect()
}

#[test]
fn a_healed_partition_converges_and_one_never_healed_fails_every_link_check() {
    let _one_cluster = cluster_lock();
    let host_rules = std::process::Command::new("iptables").args(["-w", "-S"]).output().unwrap().stdout;

    // The control: partitioned, written on both sides, healed.
    let dir = run_folder();
    let out = path_of(&dir);
    let run = run_bounded(
        blobfail(&["run", "partition-heal", "--writes", "10", "--conflicts", "5", "--blob-writes", "3", "--hold", "2", "--seed", "3", "--out", out.to_str().unwrap()]),
        Duration::from_secs(240),
    );
    assert_eq!(run.code(), Some(0), "stdout {}\nstderr {}", run.stdout, run.stderr);
    let report = read_json(&out.join("report.json"));
    assert_eq!(statuses(&report), expect(&CHECKS.map(|c| (c, "pass"))));
    let f = &report["figures"];
    assert_eq!((f["records_written"].as_u64(), f["conflicting_ids"].as_u64(), f["blobs_written"].as_u64()), (Some(20), Some(5), Some(6)));
    assert_eq!(f["partition_held"], true);
    let took = f["time_to_converge_s"].as_f64().unwrap();
    assert!(took > 0.0 && took < 30.0, "{took}");
    assert_eq!(actions(f), ["start", "heal"]);
    let (a, b) = (nodes_of(&out)[0].0, nodes_of(&out)[1].0);
    let rules = [format!("-t filter -A INPUT -s {b} -d {a} -j DROP"), format!("-t filter -A INPUT -s {a} -d {b} -j DROP")];
    assert_eq!(f["nemesis_history"][0]["rules"], serde_json::json!(rules));
    assert_eq!(f["nemesis_history"][1]["rules"], serde_json::json!(rules));
    assert!(check(&report, "same-winner")["evidence"].as_str().unwrap().starts_with("each of the 5 ids written on both sides holds the later write on every node"));
    assert!(check(&report, "peer-connected")["evidence"].as_str().unwrap().contains("not by cluster_status"));
    assert_nothing_left(&out);

    // The partition is never healed: the link checks fail for that real cause.
    let dir = run_folder();
    let out = path_of(&dir);
    let run = run_bounded(
        blobfail(&["run", "partition-heal", "--no-heal", "--writes", "10", "--conflicts", "5", "--blob-writes", "3", "--hold", "1", "--converge-timeout", "3", "--out", out.to_str().unwrap()]),
        Duration::from_secs(240),
    );
    assert_eq!(run.code(), Some(1), "stdout {}\nstderr {}", run.stdout, run.stderr);
    let report = read_json(&out.join("report.json"));
    assert_eq!(
        statuses(&report),
        expect(&[("converged", "fail"), ("same-winner", "fail"), ("nothing-lost", "fail"), ("no-uncaught-exception", "pass"), ("peer-connected", "fail")])
    );
    let lost = check(&report, "nothing-lost");
    assert_eq!(
        lost["lines"],
        serde_json::json!([
            "a: 10 records missing: b-0, b-1, b-2, b-3, b-4, b-5 … (10 in all)",
            "a: 3 blobs not whole: 100000 (no record), 100001 (no record), 100002 (no record)",
            "b: 10 records missing: a-0, a-1, a-2, a-3, a-4, a-5 … (10 in all)",
            "b: 3 blobs not whole: 200000 (no record), 200001 (no record), 200002 (no record)"
        ])
    );
    assert_eq!(check(&report, "same-winner")["lines"].as_array().unwrap().len(), 5);
    assert!(check(&report, "peer-connected")["evidence"].as_str().unwrap().starts_with("probe records did not cross 2 of 2 links within 15 s: a → b, b → a"));
    // Healed after the checks, still exactly.
    assert_eq!(actions(&report["figures"]), ["start", "heal"]);
    assert_nothing_left(&out);
    let after = std::process::Command::new("iptables").args(["-w", "-S"]).output().unwrap().stdout;
    assert_eq!(after, host_rules, "the host's rules changed");
}

#[test]
fn cut_stream_resets_the_replication_link_exactly_every_m_bytes_under_blob_save() {
    let _one_cluster = cluster_lock();
    let dir = run_folder();
    let out = path_of(&dir);
    let run = run_bounded(
        blobfail(&[
            "run", "blob-save", "--fault", "slow-disk", "--delay", "1ms", "--requests", "60", "--seed", "5", "--nemesis", "cut-stream",
            "--cut-after", "64KiB", "--cut-every", "512KiB", "--nemesis-for", "1", "--out", out.to_str().unwrap(),
        ]),
        Duration::from_secs(240),
    );
    assert!(matches!(run.code(), Some(0) | Some(1)), "stdout {}\nstderr {}", run.stdout, run.stderr);
    let report = read_json(&out.join("report.json"));
    let f = &report["figures"];
    assert_eq!(f["nemesis_link"], "cut-stream: reset after 65536 bytes, then every 524288");
    // Started and stopped on node b, in the run's history.
    let history: Vec<(String, String, String)> = f["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["nemesis"] == "cut-stream")
        .map(|e| (e["node"].as_str().unwrap().into(), e["what"].as_str().unwrap().into(), e["detail"].as_str().unwrap().into()))
        .collect();
    assert_eq!(history.len(), 2, "{history:?}");
    assert_eq!((history[0].0.as_str(), history[0].1.as_str()), ("b", "started"));
    assert_eq!(history[0].2, "cut-stream: reset after 65536 bytes, then every 524288 on the link b-a, through the proxy");
    assert_eq!((history[1].0.as_str(), history[1].1.as_str()), ("b", "stopped"));
    let cuts: Vec<u64> = f["nemesis_proxy"]["cuts"].as_array().unwrap().iter().map(|c| c.as_u64().unwrap()).collect();
    assert!(!cuts.is_empty(), "30 blobs of 50 KiB replicated under the nemesis without a cut: {f}");
    let expected: Vec<u64> = (0..cuts.len() as u64).map(|k| 65_536 + k * 524_288).collect();
    assert_eq!(cuts, expected);
    assert!(history[1].2.ends_with(&format!("{} resets", cuts.len())), "{}", history[1].2);
    assert_eq!(f["nemesis_proxy"]["failed"], 0);
    // The redirect came out exactly.
    let removed = f["nemesis_rules_removed"].as_array().unwrap();
    assert_eq!(removed.len(), 1);
    assert!(removed[0].as_str().unwrap().starts_with("-t nat -A OUTPUT -p tcp --dport 9933 -m mark ! --mark 0x6266 -j REDIRECT --to-ports "));
    assert!(f["faulted_blob_files"]["files"].as_u64().unwrap() > 0);
    assert_eq!(check(&report, "healed")["status"], "pass");
    assert_nothing_left(&out);
}
