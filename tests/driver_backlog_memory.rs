//! End-to-end: `blobfail run backlog-memory` on a real two-node harperdb
//! 4.7.29 cluster with a small backlog (10 transactions × 200 records).

use std::time::Duration;

use blobfail_suite::driver::*;
use serde_json::Value;

#[test]
fn backlog_memory_catches_up_and_plots_the_memory_it_sampled() {
    let _one_cluster = cluster_lock();
    let dir = run_folder();
    let out = path_of(&dir);
    let run = run_bounded(
        blobfail(&[
            "run",
            "backlog-memory",
            "--transactions",
            "10",
            "--records",
            "200",
            "--payload-bytes",
            "512",
            "--after-catch-up",
            "6",
            "--out",
            out.to_str().unwrap(),
        ]),
        Duration::from_secs(15 * 60),
    );
    assert_eq!(run.code(), Some(0), "expected exit 0 (all pass)\nstdout:\n{}\nstderr:\n{}", run.stdout, run.stderr);
    let report: Value = read_json(&out.join("report.json"));
    assert_eq!(report["scenario"], "backlog-memory");
    assert_eq!(report["verdict"], "pass");
    for name in ["caught-up", "no-worker-oom", "peak-rss-below-limit"] {
        assert_eq!(check(&report, name)["status"], "pass", "{name}: {}", check(&report, name)["evidence"]);
    }
    let fig = &report["figures"];
    assert_eq!(fig["records_a"], 2000);
    assert_eq!(fig["records_b"], 2000);
    let catch_up = fig["catch_up_seconds"].as_f64().expect("catch_up_seconds");
    assert!(catch_up > 0.0 && catch_up < 180.0, "{catch_up}");
    let peak = fig["peak_rss_bytes"].as_u64().expect("peak_rss_bytes");
    assert!(peak > 10 * 1024 * 1024, "a node process of {peak} bytes is not plausible");
    let samples = fig["samples"].as_u64().unwrap();
    assert!(samples > 10, "only {samples} samples");

    // memory.csv: a header and one row per sample; the peak is one of its rows.
    let csv = std::fs::read_to_string(out.join("memory.csv")).unwrap();
    let rows: Vec<&str> = csv.lines().collect();
    assert!(rows[0].starts_with("t_seconds,ok,rss_bytes,heap_used_bytes,heap_total_bytes"), "{}", rows[0]);
    assert_eq!(rows.len() as u64 - 1, samples, "CSV rows vs samples");
    let rss: Vec<u64> = rows[1..].iter().filter_map(|r| r.split(',').nth(2)?.parse().ok()).collect();
    assert_eq!(rss.iter().max().copied(), Some(peak), "peak RSS is not the CSV's maximum");
    let ts: Vec<f64> = rows[1..].iter().map(|r| r.split(',').next().unwrap().parse().unwrap()).collect();
    assert!(ts.windows(2).all(|w| w[0] < w[1]), "sample times are not increasing");

    // memory.svg: well-formed, with the limit and the catch-up moment drawn.
    let svg = std::fs::read_to_string(out.join("memory.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"), "not an SVG document");
    assert!(svg.contains("RSS limit 1536 MiB"), "no limit line in the SVG");
    assert!(svg.contains(&format!("caught up at {catch_up:.1} s")), "no catch-up mark in the SVG");
    assert!(svg.matches("<polyline").count() >= 3, "expected RSS and heap lines in the SVG");

    // B was stopped and restarted: two pids, both gone now.
    let nodes = nodes_of(&out);
    assert_eq!(nodes[1].1.len(), 2, "node B should have run twice: {:?}", nodes[1]);
    assert_nothing_left(&out);
}
