//! End-to-end: `blobfail run blob-save` on a real two-node harperdb 4.7.29
//! cluster (installed from npm into the user cache when missing), and
//! `blobfail run all`, whose blob-save run is the stock one.
//!
//! 4.7.29 predates Harper's fix, so the correct result is: the injector
//! fired, B stays connected and live, but the blob-save failures escape as
//! uncaughtException and are never logged as contained: exit 1.

use std::path::Path;
use std::time::Duration;

use blobfail_suite::driver::*;
use serde_json::Value;

const INTERVAL: u64 = 7;

/// The stock run, made through `blobfail run all` so that one run on
/// blob-save's side also answers for the combined report: blob-save with
/// the default plan (open-enoent, 100 GETs, seed 7: the run `--fault all`
/// makes for open-enoent, which tests/cluster/fault_plans.rs therefore
/// leaves out) and a small backlog-memory, one report and exit code.
#[test]
fn blob_save_on_harperdb_4_7_29_catches_the_escaped_failures_and_run_all_exits_1() {
    let _one_cluster = cluster_lock();
    let dir = run_folder();
    let top = path_of(&dir);
    let run = run_bounded(
        blobfail(&[
            "run", "all", "--requests", "100", "--seed", "7", "--transactions", "5", "--records", "100", "--after-catch-up", "1",
            "--out", top.to_str().unwrap(),
        ]),
        Duration::from_secs(15 * 60),
    );
    // blob-save fails on 4.7.29, so the whole run does.
    assert_eq!(run.code(), Some(1), "expected exit 1 (a check failed)\nstdout:\n{}\nstderr:\n{}", run.stdout, run.stderr);
    assert_run_all_combines_both_scenarios(&run, &top);
    let out = top.join("blob-save");
    let report: Value = read_json(&out.join("report.json"));
    assert_eq!(report["scenario"], "blob-save");
    assert_eq!(report["verdict"], "fail");
    // The default plan is today's run: every 7th blob write-open fails with ENOENT.
    assert_eq!(report["figures"]["fault_plan"]["plan"], "open-enoent");
    assert!(
        run.stderr.contains("blobfail: fault plan open-enoent: every 7th open call on a blob file of node B fails with ENOENT"),
        "{}",
        run.stderr
    );

    let status = |name: &str| check(&report, name)["status"].as_str().unwrap().to_string();
    for (name, want) in [
        ("injector-fired", "pass"),
        ("blob-save-failure-logged", "fail"),
        ("no-uncaught-exception", "fail"),
        ("peer-connected", "pass"),
        ("liveness", "pass"),
        ("nothing-lost", "fail"),
        // 4.7.29: a read of a record whose blob save failed hangs, and logs one more uncaughtException.
        ("damaged-reads-contained", "fail"),
    ] {
        assert_eq!(status(name), want, "check {name}: {}", check(&report, name)["evidence"]);
    }

    // The faults: more than none, the k-th at matching call k·N, and as many
    // as the shim's exit summary on B says (matching / N).
    let faults: Vec<Value> = std::fs::read_to_string(out.join("faults.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        // The shim ends each process's part of its log with a summary line.
        .filter(|f: &Value| f.get("summary").is_none())
        .collect();
    assert!(!faults.is_empty(), "no fault injected");
    for (i, f) in faults.iter().enumerate() {
        assert_eq!(f["fault"].as_u64(), Some(i as u64 + 1), "fault {f}");
        assert_eq!(f["seq"].as_u64(), Some((i as u64 + 1) * INTERVAL), "fault {f} is not every {INTERVAL}th call");
        assert!(f["path"].as_str().unwrap().starts_with(out.join("node-b/root/blobs/").to_str().unwrap()), "fault {f}");
    }
    let b_stderr = std::fs::read_to_string(out.join("node-b/stderr.log")).unwrap();
    let summary = b_stderr.lines().find(|l| l.starts_with("blobfail: summary ")).expect("B's exit summary");
    let field = |k: &str| -> u64 {
        summary.split_whitespace().find_map(|kv| kv.strip_prefix(k)?.strip_prefix('=')?.parse().ok()).unwrap()
    };
    assert_eq!(field("faults"), faults.len() as u64, "{summary}");
    assert_eq!(field("matching") / INTERVAL, faults.len() as u64, "{summary}");
    assert_eq!(report["figures"]["faults_injected"], faults.len());
    // The shim was on B only.
    let a_stderr = std::fs::read_to_string(out.join("node-a/stderr.log")).unwrap();
    assert!(!a_stderr.contains("blobfail: armed"), "the shim armed on node A: {a_stderr}");

    // The evidence is the offending lines of B's log.
    let uncaught = check(&report, "no-uncaught-exception");
    let lines: Vec<&str> = uncaught["lines"].as_array().unwrap().iter().map(|l| l.as_str().unwrap()).collect();
    assert!(lines.len() >= faults.len(), "{} escaped lines for {} faults", lines.len(), faults.len());
    let first_fault_path = faults[0]["path"].as_str().unwrap();
    assert!(
        lines.iter().any(|l| l.contains("uncaughtException [Error: ENOENT") && l.contains(first_fault_path)),
        "no uncaughtException line for the first faulted path {first_fault_path}: {lines:#?}"
    );
    let evidence = uncaught["evidence"].as_str().unwrap();
    assert!(evidence.contains("uncaughtException [Error: ENOENT"), "{evidence}");
    // Every faulted path escaped as an uncaughtException of its own.
    let n = faults.len();
    assert!(evidence.contains(&format!("{n} of the {n} faulted paths are among them")), "{evidence}");
    let logged = check(&report, "blob-save-failure-logged")["evidence"].as_str().unwrap().to_string();
    assert!(logged.starts_with("0 lines with \"Blob save failed for\""), "{logged}");
    let lost = &report["figures"]["blobs_unreadable_on_b"];
    assert!(lost.as_u64().unwrap() >= 1, "no damaged record found on B: {}", check(&report, "nothing-lost")["evidence"]);
    // Every failed open leaves one record without its blob, and every read
    // of one hangs and logs one more uncaughtException (what the fault-plan
    // matrix asserts of open-enoent).
    let figure = |name: &str| report["figures"][name].as_u64().unwrap_or_else(|| panic!("no figure {name} in {:#}", report["figures"]));
    let damaged_reads = check(&report, "damaged-reads-contained")["evidence"].as_str().unwrap();
    assert_eq!(figure("records_damaged_on_b"), n as u64, "{}", check(&report, "nothing-lost")["evidence"]);
    assert_eq!(figure("reads_hung_on_b"), n as u64, "{damaged_reads}");
    assert_eq!(figure("uncaught_during_damaged_reads"), n as u64, "{damaged_reads}");
    assert!(damaged_reads.starts_with(&format!("{n} reads of damaged records on B: {n} hung (no answer within ")), "{damaged_reads}");

    // Figures a later issue relies on.
    let fig = &report["figures"];
    assert_eq!(fig["requests"], 100);
    assert_eq!(fig["requests_ok"], 100);
    assert!(fig["records_a"].as_u64().unwrap() > 0);
    for phase in ["install", "provision", "start", "join", "workload", "settle", "checks", "teardown"] {
        assert!(fig[format!("{phase}_seconds")].as_f64().is_some(), "no {phase}_seconds in {fig}");
    }

    // The same verdicts as JUnit for CI systems (the run's junit.xml holds
    // one suite per scenario).
    let junit = std::fs::read_to_string(top.join("junit.xml")).unwrap();
    assert!(junit.contains("<testsuite name=\"blob-save\" tests=\"7\" skipped=\"0\" errors=\"0\" failures=\"4\""), "{junit}");

    // The human report: one line per check.
    assert!(run.stdout.contains("PASS    injector-fired"), "{}", run.stdout);
    assert!(run.stdout.contains("FAIL    no-uncaught-exception"), "{}", run.stdout);
    assert!(run.stdout.contains(&format!("report: {}", top.join("report.json").display())), "{}", run.stdout);

    assert_nothing_left(&out);
}

/// `blobfail run all` gives one combined report and exit code, and each
/// scenario keeps its own folder and report.
fn assert_run_all_combines_both_scenarios(run: &Run, out: &Path) {
    let combined: Value = read_json(&out.join("report.json"));
    assert_eq!(combined["scenario"], "all");
    assert_eq!(combined["verdict"], "fail");
    let scenarios: Vec<&str> = combined["scenarios"].as_array().unwrap().iter().map(|s| s["scenario"].as_str().unwrap()).collect();
    assert_eq!(scenarios, ["blob-save", "backlog-memory", "crash-recovery", "corrupt-blob", "fault-heal"]);
    assert_eq!(check(&combined, "blob-save/no-uncaught-exception")["status"], "fail");
    assert_eq!(check(&combined, "blob-save/liveness")["status"], "pass");
    assert_eq!(check(&combined, "backlog-memory/caught-up")["status"], "pass");
    // blob-save's seven checks, backlog-memory's four, crash-recovery's five, corrupt-blob's one, fault-heal's two.
    assert_eq!(combined["checks"].as_array().unwrap().len(), 19);
    assert_eq!(check(&combined, "fault-heal/serving-after-heal")["status"], "pass");
    assert_eq!(check(&combined, "crash-recovery/restarted")["status"], "pass");
    // Each scenario keeps its own folder and report.
    for (sub, verdict) in [("blob-save", "fail"), ("backlog-memory", "pass")] {
        let r = read_json(&out.join(sub).join("report.json"));
        assert_eq!(r["verdict"], verdict, "{sub}");
        assert_nothing_left(&out.join(sub));
    }
    assert!(out.join("backlog-memory/memory.svg").is_file());
    let junit = std::fs::read_to_string(out.join("junit.xml")).unwrap();
    assert_eq!(junit.matches("<testsuite ").count(), 5, "{junit}");
    assert_eq!(junit.matches("<testcase ").count(), 19, "{junit}");
    assert!(run.stdout.contains("all scenarios: FAIL (a check failed)"), "{}", run.stdout);
}

#[test]
fn a_panic_after_the_join_still_stops_every_node() {
    let _one_cluster = cluster_lock();
    let dir = run_folder();
    let out = path_of(&dir);
    let mut cmd = blobfail(&["run", "blob-save", "--requests", "10", "--out", out.to_str().unwrap()]);
    cmd.env("BLOBFAIL_TEST_PANIC_AFTER", "join");
    let run = run_bounded(cmd, Duration::from_secs(10 * 60));
    assert_eq!(run.code(), Some(2), "stderr:\n{}", run.stderr);
    let last = run.stderr.lines().last().unwrap_or("");
    assert!(last.starts_with("blobfail: internal error (a panic, see above); the cluster was stopped"), "last line: {last}");
    assert!(!out.join("report.json").exists(), "a panicked run wrote a report");
    assert_eq!(nodes_of(&out).len(), 2, "both nodes had been started");
    assert_nothing_left(&out);
}

/// Three nodes, B faulted: each peer joins A, the checks judge B against
/// A exactly as with two nodes (the same statuses), and C, unfaulted,
/// keeps every record and every blob whole.
#[test]
fn three_nodes_with_b_faulted_judge_b_and_leave_c_whole() {
    let _one_cluster = cluster_lock();
    let dir = run_folder();
    let out = path_of(&dir);
    let run = run_bounded(
        blobfail(&["run", "blob-save", "--nodes", "3", "--faulted", "b", "--requests", "100", "--seed", "7", "--out", out.to_str().unwrap()]),
        Duration::from_secs(10 * 60),
    );
    assert_eq!(run.code(), Some(1), "stdout:\n{}\nstderr:\n{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("blobfail: joining node c to node a: connected in "), "{}", run.stderr);
    assert!(run.stderr.contains("blobfail: topology: 3 nodes (a, b, c), b faulted;"), "{}", run.stderr);
    let report: Value = read_json(&out.join("report.json"));
    let statuses: Vec<(String, String)> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["name"].as_str().unwrap().to_string(), c["status"].as_str().unwrap().to_string()))
        .collect();
    let want: Vec<(String, String)> = BLOB_SAVE_CHECKS
        .iter()
        .zip(["pass", "fail", "fail", "pass", "pass", "fail", "fail"])
        .map(|(n, s)| (n.to_string(), s.to_string()))
        .collect();
    assert_eq!(statuses, want, "{}", report["checks"]);
    assert_eq!(nodes_of(&out).len(), 3);
    assert_eq!(report["figures"]["topology"]["faulted"], serde_json::json!(["b"]));
    // The shim was on B only: one fault log, B's.
    assert!(out.join("faults.jsonl").is_file());
    // C kept everything A holds.
    let c = &report["figures"]["unfaulted_c"];
    assert_eq!(c["kept_everything"], true, "{c}");
    assert_eq!(c["compared"], report["figures"]["records_a"], "{c}");
    assert_eq!((c["missing"].as_u64(), c["damaged"].as_u64()), (Some(0), Some(0)), "{c}");
    assert_eq!(report["figures"]["c_matched_a"], true);
    assert_nothing_left(&out);
}

/// `--nemesis kill-restart`: B's process group is SIGKILLed halfway through
/// the load and restarted on the same root once it is done; the history
/// says when, B comes back and catches up, and what it lost is judged as
/// ever. The killed process leaves no exit summary, so its faults cannot
/// be cross-checked: injector-fired cannot pass on them.
#[test]
fn kill_restart_of_b_mid_load_is_in_the_history_and_b_comes_back_caught_up() {
    let _one_cluster = cluster_lock();
    let dir = run_folder();
    let out = path_of(&dir);
    let run = run_bounded(
        blobfail(&[
            "run", "blob-save", "--nemesis", "kill-restart", "--nemesis-for", "1", "--requests", "100", "--seed", "7", "--out",
            out.to_str().unwrap(),
        ]),
        Duration::from_secs(10 * 60),
    );
    assert_eq!(run.code(), Some(1), "stdout:\n{}\nstderr:\n{}", run.stdout, run.stderr);
    let report: Value = read_json(&out.join("report.json"));
    let b_pids = nodes_of(&out)[1].1.clone();
    assert_eq!(b_pids.len(), 2, "B ran as two processes: {b_pids:?}");
    // The history: the plan from B's start, the kill, the restart.
    let history = report["figures"]["history"].as_array().unwrap();
    let whats: Vec<(&str, &str)> = history.iter().map(|e| (e["nemesis"].as_str().unwrap(), e["what"].as_str().unwrap())).collect();
    assert_eq!(whats, [("shim plan open-enoent", "started"), ("kill-restart", "started"), ("kill-restart", "stopped")]);
    assert!(history[1]["detail"].as_str().unwrap().starts_with(&format!("SIGKILL to process group {}: killed by signal SIGKILL", b_pids[0])), "{history:?}");
    assert!(history[2]["detail"].as_str().unwrap().starts_with(&format!("restarted as pid {} on the same root and address", b_pids[1])), "{history:?}");
    let (t_kill, t_back) = (history[1]["t"].as_f64().unwrap(), history[2]["t"].as_f64().unwrap());
    assert!(t_back - t_kill >= 1.0, "the nemesis lasted {} s with --nemesis-for 1", t_back - t_kill);
    assert!(run.stdout.contains("faults in time:\n  0.0 s: shim plan open-enoent b started (armed from the node's start)\n"), "{}", run.stdout);
    // The same events reach the progress lines, from the one event stream
    // the report's history is made of.
    assert!(run.stderr.contains("blobfail: 0.0 s: shim plan open-enoent b started (armed from the node's start)\n"), "{}", run.stderr);
    let kill_line = format!(" s: kill-restart b started (SIGKILL to process group {}", b_pids[0]);
    assert!(run.stderr.lines().any(|l| l.starts_with("blobfail: ") && l.contains(&kill_line)), "no {kill_line:?} in:\n{}", run.stderr);
    assert!(report["figures"]["workload_seconds"].as_f64().is_some_and(|s| s > 0.0), "{}", report["figures"]);
    // The killed process's faults have no exit summary to be checked against.
    let killed_faults = std::fs::read_to_string(out.join("faults.jsonl"))
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["pid"].as_u64() == Some(b_pids[0] as u64) && v.get("errno").is_some())
        .count();
    let injector = check(&report, "injector-fired");
    if killed_faults > 0 {
        assert_eq!(injector["status"], "unknown", "{injector}");
        let want = format!("pid {}: {killed_faults} open faults logged, but no exit summary counts the open calls", b_pids[0]);
        assert!(injector["evidence"].as_str().unwrap().contains(&want), "{injector}");
    } else {
        assert_eq!(injector["status"], "pass", "{injector}");
    }
    let status = |name: &str| check(&report, name)["status"].as_str().unwrap().to_string();
    for (name, want) in [("peer-connected", "pass"), ("liveness", "pass"), ("restarted", "pass")] {
        assert_eq!(status(name), want, "{name}: {}", check(&report, name)["evidence"]);
    }
    // B catches up after its restart, as a rule. Once in a CI run on
    // 4.7.29 it stayed one record short for the whole settle ("node B's
    // record count was 92 of A's 93 when the settle ended after 5.3 s"):
    // then caught-up says so with the counts, and nothing-lost cannot pass.
    let caught_up = check(&report, "caught-up");
    let caught_up_evidence = caught_up["evidence"].as_str().unwrap();
    match caught_up["status"].as_str().unwrap() {
        "pass" => {}
        "fail" => {
            assert!(
                caught_up_evidence.starts_with("node B's record count was ") && caught_up_evidence.contains(" when the settle ended after "),
                "{caught_up_evidence}"
            );
            assert_ne!(status("nothing-lost"), "pass", "B is short of A's records: {}", check(&report, "nothing-lost")["evidence"]);
        }
        other => panic!("caught-up {other}: {caught_up_evidence}"),
    }
    // What B lost, as ever; or, seen on 4.7.29 with this seed, B's restart
    // sends its records back to A with the blobs it failed to save, and A
    // itself cannot serve them: each such id is in A's log as an escaped
    // "Blob error … for record <id> from <B>", and nothing-lost cannot compare.
    // A CI run saw one such id with no line in A's log: A's read of it is
    // then in the observations as answered 504 (not stored) or not answered
    // within the bound (A logs the escape when its read gives up, which may
    // come after the run stopped it); never a record the driver did not read.
    let lost = check(&report, "nothing-lost");
    let evidence = lost["evidence"].as_str().unwrap();
    match lost["status"].as_str().unwrap() {
        "fail" => assert!(evidence.contains(" records on A are lost or damaged on B"), "{evidence}"),
        "unknown" => {
            let ids = evidence.split_once("A could not serve the blob of ").expect(evidence).1.split_once(": ").unwrap().1;
            let b_ip = nodes_of(&out)[1].0;
            let log_a = std::fs::read_to_string(out.join("node-a/root/log/hdb.log")).unwrap();
            let observed = read_json(&out.join("observations.json"));
            let reasons = unreadable_on_a(&observed);
            for id in ids.split(", ") {
                let line = format!(" for record {id} from {b_ip}");
                let escaped = log_a.lines().any(|l| l.contains("uncaughtException Error: Blob error: ") && l.contains(&line));
                let reason = reasons.iter().find(|(i, _)| i == id).map_or("none observed", |(_, r)| r.as_str());
                assert!(
                    escaped || reason == "A answered 504 (not stored)" || reason.starts_with("no answer within "),
                    "A's log has no escaped blob error{line}, and A's read of it: {reason}"
                );
            }
        }
        other => panic!("nothing-lost {other}: {evidence}"),
    }
    assert_nothing_left(&out);
}

/// Every record the observations say A could not serve, with why (the
/// survey's `unreadable_on_a`, wherever the scenario keeps it).
fn unreadable_on_a(v: &Value) -> Vec<(String, String)> {
    let mut found = Vec::new();
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                match (k.as_str(), x) {
                    ("unreadable_on_a", Value::Object(ids)) => {
                        found.extend(ids.iter().map(|(id, why)| (id.clone(), why.as_str().unwrap_or_default().to_string())))
                    }
                    _ => found.extend(unreadable_on_a(x)),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| found.extend(unreadable_on_a(x))),
        _ => {}
    }
    found
}
