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
    // The kernel's peak includes the final VmHWM, which B's RSS exceeds only
    // by what the kernel has not folded into the high-water mark yet: RSS
    // counters are cached per CPU, and memory V8 returns with madvise leaves
    // the mark as it was. So the two agree to within a few per-CPU batches;
    // 4 MiB is far below any difference worth reporting.
    let os_peak = fig["peak_os_rss_bytes"].as_u64().expect("peak_os_rss_bytes");
    assert!(os_peak + 4 * 1024 * 1024 >= peak, "kernel peak {os_peak} < API peak {peak}");
    let evidence = check(&report, "peak-rss-below-limit")["evidence"].as_str().unwrap().to_string();
    assert!(evidence.contains("API samples peaked at") || evidence.contains("the kernel's peak was"), "{evidence}");

    // memory.csv: a header and one row per sample; the peak is one of its rows.
    let csv = std::fs::read_to_string(out.join("memory.csv")).unwrap();
    let rows: Vec<&str> = csv.lines().collect();
    assert!(rows[0].starts_with("t_seconds,ok,rss_bytes,heap_used_bytes,heap_total_bytes"), "{}", rows[0]);
    assert_eq!(rows.len() as u64 - 1, samples, "CSV rows vs samples");
    let rss: Vec<u64> = rows[1..].iter().filter_map(|r| r.split(',').nth(2)?.parse().ok()).collect();
    assert_eq!(rss.iter().max().copied(), Some(peak), "peak RSS is not the CSV's maximum");
    let ts: Vec<f64> = rows[1..].iter().map(|r| r.split(',').next().unwrap().parse().unwrap()).collect();
    assert!(ts.windows(2).all(|w| w[0] < w[1]), "sample times are not increasing");

    // The replay window: rows where the API gave no answer (ok=0) still have
    // the kernel's RSS of B. Columns by name, so new ones do not shift these.
    let header: Vec<&str> = rows[0].split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap_or_else(|| panic!("no {name} column in {}", rows[0]));
    let (ok, os_rss, os_hwm) = (col("ok"), col("os_rss_bytes"), col("os_hwm_bytes"));
    assert_eq!(header.last(), Some(&"error"), "error (free text) must stay the last column");
    let field = |r: &str, i: usize| r.split(',').nth(i).unwrap_or("").to_string();
    let kernel_only: Vec<&&str> = rows[1..]
        .iter()
        .filter(|r| field(r, ok) == "0" && field(r, os_rss).parse::<u64>().is_ok_and(|v| v > 0))
        .collect();
    assert!(!kernel_only.is_empty(), "no row with an API gap and the kernel's RSS (the replay window):\n{csv}");
    assert_eq!(fig["samples_kernel_only"], kernel_only.len() as u64);
    assert!(
        rows[1..].iter().all(|r| field(r, os_hwm).parse::<u64>().is_ok_and(|h| h >= field(r, os_rss).parse().unwrap_or(0))),
        "every row has a high-water mark at least its RSS:\n{csv}"
    );
    let os_max = rows[1..].iter().filter_map(|r| field(r, os_rss).parse::<u64>().ok()).max().unwrap();
    assert!(os_peak >= os_max, "kernel peak {os_peak} below a sampled VmRSS {os_max}");

    // memory.svg: well-formed, with the limit and the catch-up moment drawn.
    let svg = std::fs::read_to_string(out.join("memory.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"), "not an SVG document");
    assert!(svg.contains("RSS limit 1536 MiB"), "no limit line in the SVG");
    assert!(svg.contains(&format!("caught up at {catch_up:.1} s")), "no catch-up mark in the SVG");
    assert!(svg.matches("<polyline").count() >= 4, "expected kernel RSS, API RSS and heap lines in the SVG");
    assert!(svg.contains("RSS (kernel, /proc)"), "no kernel RSS series in the SVG");

    // B was stopped and restarted: two pids, both gone now.
    let nodes = nodes_of(&out);
    assert_eq!(nodes[1].1.len(), 2, "node B should have run twice: {:?}", nodes[1]);
    assert_nothing_left(&out);
}
