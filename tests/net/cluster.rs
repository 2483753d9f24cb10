//! End to end on a real harperdb 4.7.29 cluster, inside the run's own
//! network namespace: `partition-heal` seen both ways (a healed partition
//! passes every check; a partition never healed, with B's blob saves
//! failing, fails every check, each for its real cause), and blob-save
//! under `--nemesis cut-stream`, whose proxy must cut exactly where it was
//! told to.

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
fn a_healed_partition_converges_and_one_never_healed_with_b_failing_blob_saves_fails_every_check() {
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
    // blobfail judge gives the same checks and figures from observations.json alone.
    crate::judge::assert_judge_reproduces(&out);

    // The partition is never healed: the link checks fail for that real
    // cause. And B's blob saves fail (the shim on B fails every open of a
    // blob file): 4.7.29 lets each failure escape as an uncaughtException,
    // which no-uncaught-exception must catch.
    let dir = run_folder();
    let out = path_of(&dir);
    let run = run_bounded(
        blobfail(&[
            "run", "partition-heal", "--no-heal", "--fail-blob-opens", "1", "--writes", "10", "--conflicts", "5", "--blob-writes", "3", "--hold", "1",
            "--converge-timeout", "3", "--out", out.to_str().unwrap(),
        ]),
        Duration::from_secs(240),
    );
    assert_eq!(run.code(), Some(1), "stdout {}\nstderr {}", run.stdout, run.stderr);
    let report = read_json(&out.join("report.json"));
    assert_eq!(
        statuses(&report),
        expect(&[("converged", "fail"), ("same-winner", "fail"), ("nothing-lost", "fail"), ("no-uncaught-exception", "fail"), ("peer-connected", "fail")])
    );
    let lost = check(&report, "nothing-lost");
    assert_eq!(
        lost["lines"],
        serde_json::json!([
            "a: 10 records missing: b-0, b-1, b-2, b-3, b-4, b-5 … (10 in all)",
            "a: 3 blobs not whole: 100000 (no record), 100001 (no record), 100002 (no record)",
            "b: 10 records missing: a-0, a-1, a-2, a-3, a-4, a-5 … (10 in all)",
            // B acknowledged its own three blobs, and cannot serve them.
            "b: 6 blobs not whole: 100000 (unreadable (no answer within 5 s)), 100001 (unreadable (no answer within 5 s)), \
             100002 (unreadable (no answer within 5 s)), 200000 (no record), 200001 (no record), 200002 (no record)"
        ])
    );
    // Each of B's three blob saves failed at its open, and escaped; a read of
    // such a blob (the convergence's) logs the same again.
    let shim = &report["figures"]["shim_on_b"];
    assert_eq!((shim["plan"].as_str(), shim["every"].as_u64(), shim["faults_injected"].as_u64()), (Some("open-enoent"), Some(1), Some(3)));
    let uncaught = check(&report, "no-uncaught-exception");
    let lines: Vec<&str> = uncaught["lines"].as_array().unwrap().iter().map(|l| l.as_str().unwrap()).collect();
    let evidence = uncaught["evidence"].as_str().unwrap();
    assert!(evidence.starts_with(&format!("{} uncaughtException entries in the nodes' logs\n", lines.len())), "{evidence}");
    let blobs = format!("{}/", out.join("node-b").join("root").join("blobs").join("data").join("0").join("0").display());
    let file_of = |line: &str| -> String {
        assert!(line.starts_with("b hdb.log:"), "{line}");
        let (_, rest) = line.split_once(" [http/1] [error]: uncaughtException [Error: ENOENT: no such file or directory, open '").unwrap_or_else(|| panic!("{line}"));
        rest.strip_prefix(blobs.as_str()).and_then(|f| f.strip_suffix("'] {")).unwrap_or_else(|| panic!("{line}")).to_string()
    };
    let mut saves: Vec<String> = lines.iter().take(3).map(|l| file_of(l)).collect();
    saves.sort();
    assert_eq!(saves, ["1", "2", "3"], "{lines:?}");
    assert!(lines.iter().all(|l| ["1", "2", "3"].contains(&file_of(l).as_str())), "{lines:?}");
    assert_eq!(check(&report, "same-winner")["lines"].as_array().unwrap().len(), 5);
    assert!(check(&report, "peer-connected")["evidence"].as_str().unwrap().starts_with("probe records did not cross 2 of 2 links within 15 s: a → b, b → a"));
    // Healed after the checks, still exactly.
    assert_eq!(actions(&report["figures"]), ["start", "heal"]);
    assert_nothing_left(&out);
    crate::judge::assert_judge_reproduces(&out);
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

#[test]
fn slow_link_caps_the_link_through_backlog_memorys_catch_up_and_comes_out_exactly() {
    let _one_cluster = cluster_lock();
    let dir = run_folder();
    let out = path_of(&dir);
    let run = run_bounded(
        blobfail(&[
            "run", "backlog-memory", "--transactions", "2", "--records", "100", "--after-catch-up", "0", "--nemesis", "slow-link", "--bandwidth",
            "32KiB/s", "--out", out.to_str().unwrap(),
        ]),
        Duration::from_secs(240),
    );
    assert_eq!(run.code(), Some(0), "stdout {}\nstderr {}", run.stdout, run.stderr);
    let report = read_json(&out.join("report.json"));
    assert_eq!(
        statuses(&report),
        expect(&[("caught-up", "pass"), ("no-worker-oom", "pass"), ("peak-rss-below-limit", "pass"), ("peak-anon-below-limit", "pass")])
    );
    let f = &report["figures"];
    assert_eq!(f["nemesis_link"], "slow-link: 32768 B/s");
    // On B's link with a through the catch-up, off once B caught up.
    let history: Vec<(&str, &str, &str)> = f["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["nemesis"].as_str().unwrap(), e["node"].as_str().unwrap(), e["what"].as_str().unwrap()))
        .collect();
    assert_eq!(history, [("slow-link", "b", "started"), ("slow-link", "b", "stopped")]);
    assert_eq!(f["history"][0]["detail"], "slow-link: 32768 B/s on the link b-a, through the proxy");
    let toxic = f["nemesis_proxy"]["bytes_toxic"].as_u64().unwrap();
    assert!(f["history"][1]["detail"].as_str().unwrap().starts_with(&format!("the link b-a passes bytes untouched again; under the nemesis {toxic} bytes, 0 resets")));
    // The backlog's payloads (200 records of 1 KiB) all crossed under the cap,
    // so the catch-up took at least their bytes at 32 KiB/s, even were they
    // spread over both of the link's database sockets.
    assert!(toxic >= 200 * 1024, "{toxic}");
    let catch_up = f["catch_up_seconds"].as_f64().unwrap();
    assert!(catch_up >= 200.0 * 1024.0 / (2.0 * 32768.0), "{catch_up}");
    assert_eq!(f["records_b"], 200);
    let removed = f["nemesis_rules_removed"].as_array().unwrap();
    assert_eq!(removed.len(), 1);
    assert!(removed[0].as_str().unwrap().starts_with("-t nat -A OUTPUT -p tcp --dport 9933 -m mark ! --mark 0x6266 -j REDIRECT --to-ports "));
    assert_nothing_left(&out);
}
