//! corrupt-blob on stock harperdb 4.7.29, both ways: with every 7th write
//! to a blob file on B corrupted by the shim (one bit flipped, the write
//! reported whole), B serves some records with a 200 and other bytes, or
//! fewer (its blob header holds a type and a size, no checksum), and
//! `no-silent-corruption` names each with its first differing offset; with
//! nothing corrupted (`--corrupt-interval 0`: B without the shim), every
//! read on B returns A's bytes and it passes. With the bytes B *reads*
//! corrupted instead (`--corrupt-calls read`: the files stay whole), B
//! serves them too, with a 200. One test, three runs.

use std::time::Duration;

use blobfail_suite::driver::*;
use serde_json::Value;

fn run_corrupt(interval: &str, extra: &[&str]) -> (Run, Value, tempfile::TempDir) {
    let dir = run_folder();
    let out = path_of(&dir);
    let mut args = vec!["run", "corrupt-blob", "--requests", "100", "--seed", "7", "--corrupt-interval", interval];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["--out", out.to_str().unwrap()]);
    let run = run_bounded(blobfail(&args), Duration::from_secs(10 * 60));
    let report = read_json(&out.join("report.json"));
    assert_nothing_left(&out);
    (run, report, dir)
}

#[test]
fn corrupted_blob_writes_are_served_silently_and_the_control_passes() {
    let _one_cluster = cluster_lock();

    let (run, report, _dir) = run_corrupt("7", &[]);
    assert_eq!(run.code(), Some(1), "stdout:\n{}\nstderr:\n{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("blobfail: corruption: every 7th write to a blob file on node B (flip, seed 7), reported whole"), "{}", run.stderr);
    let c = check(&report, "no-silent-corruption");
    assert_eq!(c["status"], "fail", "{c:#}");
    let f = &report["figures"];
    let corrupted = f["writes_corrupted_on_b"].as_u64().unwrap();
    let differing = f["reads_differing_on_b"].as_u64().unwrap();
    let compared = f["records_compared"].as_u64().unwrap();
    assert!(corrupted > 0 && differing > 0 && differing <= compared, "{f:#}");
    let evidence = c["evidence"].as_str().unwrap();
    assert!(
        evidence.starts_with(&format!(
            "{differing} of {compared} reads on B answered with success and bytes that differ from A's ({corrupted} writes corrupted on B; "
        )),
        "{evidence}"
    );
    // Each record named, with its first differing offset inside the blob.
    let lines: Vec<&str> = c["lines"].as_array().unwrap().iter().map(|l| l.as_str().unwrap()).collect();
    assert_eq!(lines.len() as u64, differing);
    for l in &lines {
        let rest = l.strip_prefix("record ").unwrap_or_else(|| panic!("{l}"));
        let (id, rest) = rest.split_once(": first differing byte at offset ").unwrap_or_else(|| panic!("{l}"));
        assert!(id.parse::<u64>().unwrap() < 400, "{l}");
        let offset: u64 = rest.split(' ').next().unwrap().parse().unwrap();
        // Other bytes, or fewer (a 200 with a cut-short blob: seen once,
        // 18432 of 51200 bytes): the offset is inside what B served, or its end.
        let served: u64 = rest.split("(B served ").nth(1).and_then(|r| r.split(' ').next()).unwrap().parse().unwrap();
        assert!(offset <= served && served <= 51200, "{l}");
        assert!(rest.ends_with(" bytes, A 51200)"), "{l}");
    }

    // The control: nothing corrupted, every read compared byte for byte.
    let (run, report, _dir) = run_corrupt("0", &[]);
    assert_eq!(run.code(), Some(0), "stdout:\n{}\nstderr:\n{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("blobfail: corruption: none (the control: node B runs without the shim)"), "{}", run.stderr);
    let f = &report["figures"];
    let compared = f["records_compared"].as_u64().unwrap();
    assert!(compared > 0);
    assert_eq!(f["records_a"], compared);
    assert_eq!(f["writes_corrupted_on_b"], 0);
    let c = check(&report, "no-silent-corruption");
    assert_eq!(
        (c["status"].as_str().unwrap(), c["evidence"].as_str().unwrap()),
        (
            "pass",
            format!("every successful read on B returned A's bytes: {compared} of {compared} records compared byte for byte (0 reads failed or hung; 0 writes corrupted on B)").as_str()
        )
    );

    // The bytes B reads back corrupted, its files whole: B serves them with
    // a 200 (4.7.29 checks nothing on a read). A record read again may come
    // back whole (the corruption was in the read) or differ again.
    let (run, report, _dir) = run_corrupt("7", &["--corrupt-calls", "read"]);
    assert_eq!(run.code(), Some(1), "stdout:\n{}\nstderr:\n{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("blobfail: corruption: every 7th read of a blob file on node B (flip, seed 7), the file left whole"), "{}", run.stderr);
    let f = &report["figures"];
    let corrupted = f["reads_corrupted_on_b"].as_u64().unwrap();
    let differing = f["reads_differing_on_b"].as_u64().unwrap();
    let compared = f["records_compared"].as_u64().unwrap();
    assert!(corrupted > 0 && differing > 0 && differing <= compared && differing <= corrupted, "{f:#}");
    let c = check(&report, "no-silent-corruption");
    assert_eq!(c["status"], "fail", "{c:#}");
    let evidence = c["evidence"].as_str().unwrap();
    let want = format!("{differing} of {compared} reads on B answered with success and bytes that differ from A's ({corrupted} reads corrupted on B; ");
    assert!(evidence.starts_with(&want), "{evidence}");
    let lines: Vec<&str> = c["lines"].as_array().unwrap().iter().map(|l| l.as_str().unwrap()).collect();
    assert_eq!(lines.len() as u64, differing);
    for l in &lines {
        let once = l.ends_with(": B served other bytes than A's (size or SHA-256) with a success status once, A's 51200 bytes when read again");
        let again = l.contains(": first differing byte at offset ") && l.ends_with(" bytes, A 51200)");
        assert!(l.starts_with("record ") && (once || again), "{l}");
    }
}
