//! The driver under hostile conditions (RELIABILITY.md, "Driver"): a node
//! killed from outside, Ctrl-C in each phase, addresses already taken, an
//! unreachable npm registry, a Harper that never gets ready, and two runs
//! side by side. Each ends with a known exit code, says why, keeps what it
//! can, and leaves no process of the run alive and no address listening.

use std::net::{Ipv4Addr, SocketAddrV4, TcpListener};
use std::path::Path;
use std::time::{Duration, Instant};

use blobfail_suite::driver::*;
use serde_json::Value;

/// Asserts nothing of the run is alive (by pid, by process group, by any
/// process naming the run folder) and none of its addresses listens.
fn assert_run_gone(out: &Path) {
    if out.join("cluster.json").exists() {
        assert_nothing_left(out);
    }
    assert_eq!(processes_mentioning(out), Vec::<(u32, String)>::new(), "processes of the run still alive");
}

/// The report of an interrupted blob-save run: unknown, marked interrupted
/// by `by` in `phase`, every check present.
fn interrupted_report(out: &Path, by: &str, phase: &str) -> Value {
    let report = read_json(&out.join("report.json"));
    assert_eq!(report["verdict"], "unknown", "{report:#}");
    assert_eq!(report["interrupted"]["by"], by, "{}", report["interrupted"]);
    assert_eq!(report["interrupted"]["phase"], phase, "{}", report["interrupted"]);
    let names: Vec<&str> = report["checks"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names, BLOB_SAVE_CHECKS);
    assert!(!out.join("report.json.tmp").exists(), "the report was not written atomically");
    report
}

fn last_line(s: &str) -> &str {
    s.lines().rfind(|l| !l.trim().is_empty()).unwrap_or("")
}

/// A long blob-save workload (about 100 s here; the tests interrupt it
/// within a second of B's first fault), watched.
fn long_workload(out: &Path) -> Watched {
    Watched::spawn(blobfail(&[
        "run",
        "blob-save",
        "--requests",
        "1000000",
        "--concurrency",
        "4",
        "--seed",
        "3",
        "--out",
        out.to_str().unwrap(),
    ]))
}

/// Waits until the workload on A is under way and B has taken a fault.
fn wait_for_the_workload(run: &mut Watched, out: &Path) {
    run.wait_for("blobfail: GET /LargeLocation/{n} on node a", Duration::from_secs(600));
    let faults = out.join("faults.jsonl");
    run.wait_until("a fault on B", Duration::from_secs(120), || {
        std::fs::metadata(&faults).map(|m| m.len() > 0).unwrap_or(false)
    });
}

fn node_pid(out: &Path, name: &str) -> u32 {
    let manifest = read_json(&out.join("cluster.json"));
    let node = manifest["nodes"].as_array().unwrap().iter().find(|n| n["name"] == name).unwrap();
    node["pids"].as_array().unwrap().last().unwrap().as_u64().unwrap() as u32
}

/// Stops B with `sig` mid-workload, as something outside the run would,
/// and checks the run ends as interrupted, every check saying `how` (with
/// `PID` standing for B's pid).
fn node_b_stopped_from_outside(sig: i32, how: &str) {
    let _one_cluster = cluster_lock();
    let dir = run_folder();
    let out = path_of(&dir);
    let mut run = long_workload(&out);
    wait_for_the_workload(&mut run, &out);
    let b = node_pid(&out, "b");
    let how = how.replace("PID", &b.to_string());
    signal_pid(b, sig);
    let stopped = Instant::now();
    let run = run.finish(Duration::from_secs(120));
    let took = stopped.elapsed();

    assert_eq!(run.code(), Some(2), "stdout:\n{}\nstderr:\n{}", run.stdout, run.stderr);
    let report = interrupted_report(&out, "node b stopped from outside", "workload");
    let why = format!("could not be decided: node b (pid {b}) was stopped from outside the run: {how} (during the workload phase)");
    for name in BLOB_SAVE_CHECKS {
        let c = check(&report, name);
        assert_eq!(c["status"], "unknown", "{name}: {c}");
        assert_eq!(c["evidence"], why.as_str(), "{name}");
    }
    assert!(report["figures"]["workload_seconds"].as_f64().is_some(), "{}", report["figures"]);
    assert!(run.stdout.contains("verdict: UNKNOWN (the run was interrupted)"), "{}", run.stdout);
    let last = last_line(&run.stderr);
    assert!(last.starts_with(&format!("blobfail: node b (pid {b}) was stopped from outside the run: {how}; last lines: ")), "{last}");
    assert!(last.ends_with(&format!("the cluster was stopped; partial report in {}", out.join("report.json").display())), "{last}");
    // Noticed within the watch's poll, not after the settle bound.
    assert!(took < Duration::from_secs(30), "took {took:?} to end after the signal");
    assert!(out.join("node-b/root/log/hdb.log").exists(), "B's log was not kept");
    assert_run_gone(&out);
}

#[test]
fn node_b_killed_with_sigkill_mid_workload_leaves_its_checks_unknown_and_exits_2() {
    node_b_stopped_from_outside(
        SIGKILL,
        "killed by signal SIGKILL, which blobfail did not send; another process killed it, or the kernel's \
         out-of-memory killer did (`dmesg` or `journalctl -k` would then show \"Killed process PID\")",
    );
}

#[test]
fn node_b_stopped_with_sigterm_mid_workload_leaves_its_checks_unknown_and_exits_2() {
    // Harper handles SIGTERM and exits 0.
    node_b_stopped_from_outside(
        SIGTERM,
        "exit status 0 although blobfail did not stop it (Harper exits so when it is sent SIGTERM or SIGINT); \
         another process (a person, a supervisor, a script) stopped it, or Harper gave up on its own \
         (it also exits 0 when it cannot open its database: see its last lines)",
    );
}

#[test]
fn node_b_crashing_on_its_own_mid_workload_stays_a_finding_and_exits_1() {
    let _one_cluster = cluster_lock();
    let dir = run_folder();
    let out = path_of(&dir);
    let mut run = Watched::spawn(blobfail(&[
        "run", "blob-save", "--requests", "30000", "--concurrency", "4", "--settle", "1", "--seed", "4", "--out",
        out.to_str().unwrap(),
    ]));
    // 30 000 GETs (a few seconds): B crashes while A still serves them.
    wait_for_the_workload(&mut run, &out);
    let b = node_pid(&out, "b");
    // SIGABRT is what a process does to itself (abort()): a crash, not interference.
    signal_pid(b, SIGABRT);
    let run = run.finish(Duration::from_secs(300));

    assert_eq!(run.code(), Some(1), "stdout:\n{}\nstderr:\n{}", run.stdout, run.stderr);
    let report = read_json(&out.join("report.json"));
    assert_eq!(report["verdict"], "fail");
    assert!(report.get("interrupted").is_none(), "{}", report["interrupted"]);
    for name in ["peer-connected", "liveness"] {
        let c = check(&report, name);
        assert_eq!(c["status"], "fail", "{name}: {c}");
        let evidence = c["evidence"].as_str().unwrap();
        assert!(evidence.contains(&format!("node b (pid {b}) died: killed by signal SIGABRT")), "{name}: {evidence}");
    }
    assert_run_gone(&out);
}

#[test]
fn ctrl_c_while_the_nodes_install_keeps_a_partial_report_and_leaves_nothing_running() {
    let _one_cluster = cluster_lock();
    let dir = run_folder();
    let out = path_of(&dir);
    // Without the root cache, a node's first start installs it: both are
    // installing once both processes are on record in cluster.json (an
    // install takes seconds).
    let mut run = Watched::spawn(blobfail(&["run", "blob-save", "--requests", "60", "--no-root-cache", "--out", out.to_str().unwrap()]));
    run.wait_until("both nodes launched", Duration::from_secs(300), || {
        std::fs::read_to_string(out.join("cluster.json"))
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .is_some_and(|m| m["nodes"].as_array().is_some_and(|ns| ns.len() == 2 && ns.iter().all(|n| n["pids"].as_array().is_some_and(|p| !p.is_empty()))))
    });
    run.signal(SIGINT);
    let run = run.finish(Duration::from_secs(60));

    assert_eq!(run.code(), Some(2), "stderr:\n{}", run.stderr);
    let report = interrupted_report(&out, "Ctrl-C", "start");
    for name in BLOB_SAVE_CHECKS {
        let c = check(&report, name);
        assert_eq!(c["status"], "unknown");
        assert_eq!(c["evidence"], "not run: the run was interrupted by Ctrl-C during the start phase");
    }
    for figure in ["install_seconds", "provision_seconds", "start_seconds"] {
        assert!(report["figures"][figure].as_f64().is_some(), "{figure}: {}", report["figures"]);
    }
    let last = last_line(&run.stderr);
    assert_eq!(
        last,
        format!(
            "blobfail: interrupted by Ctrl-C during the start phase; the cluster was stopped; partial report in {}",
            out.join("report.json").display()
        )
    );
    let logs = [out.join("node-a/stdout.log"), out.join("node-b/stdout.log")];
    assert!(logs.iter().all(|l| l.exists()), "the nodes' install output was not kept");
    assert_run_gone(&out);
}

#[test]
fn ctrl_c_during_the_workload_keeps_a_partial_report_and_stops_every_node() {
    let _one_cluster = cluster_lock();
    let dir = run_folder();
    let out = path_of(&dir);
    let mut run = long_workload(&out);
    wait_for_the_workload(&mut run, &out);
    run.signal(SIGINT);
    let run = run.finish(Duration::from_secs(90));

    assert_eq!(run.code(), Some(2), "stderr:\n{}", run.stderr);
    let report = interrupted_report(&out, "Ctrl-C", "workload");
    for name in BLOB_SAVE_CHECKS {
        assert_eq!(check(&report, name)["evidence"], "not run: the run was interrupted by Ctrl-C during the workload phase");
    }
    let fig = &report["figures"];
    for phase in ["install", "provision", "start", "join", "workload", "teardown"] {
        assert!(fig[format!("{phase}_seconds")].as_f64().is_some(), "no {phase}_seconds in {fig}");
    }
    let stops = report["teardown"].as_array().unwrap();
    assert_eq!(stops.len(), 2, "both nodes stopped by the teardown: {stops:?}");
    assert!(last_line(&run.stderr).starts_with("blobfail: interrupted by Ctrl-C during the workload phase; the cluster was stopped"));
    assert!(out.join("faults.jsonl").exists() && out.join("node-b/stderr.log").exists(), "logs not kept");
    assert_run_gone(&out);
}

#[test]
fn ctrl_c_during_the_checks_keeps_the_decided_checks_and_leaves_nothing_running() {
    let _one_cluster = cluster_lock();
    let dir = run_folder();
    let out = path_of(&dir);
    let mut run = Watched::spawn(blobfail(&["run", "blob-save", "--requests", "60", "--seed", "5", "--out", out.to_str().unwrap()]));
    // The checks start by waiting (at least 1 s) for B's log to go quiet.
    run.wait_for("blobfail: checking the cluster ...", Duration::from_secs(600));
    run.signal(SIGINT);
    let run = run.finish(Duration::from_secs(90));

    assert_eq!(run.code(), Some(2), "stderr:\n{}", run.stderr);
    let report = interrupted_report(&out, "Ctrl-C", "checks");
    // The log checks are judged only after the teardown: never reached.
    let not_run = "not run: the run was interrupted by Ctrl-C during the checks phase";
    for name in ["injector-fired", "blob-save-failure-logged", "no-uncaught-exception"] {
        assert_eq!(check(&report, name)["evidence"], not_run, "{name}");
    }
    // The live checks are either decided before the interrupt or not run.
    for name in ["peer-connected", "liveness", "nothing-lost"] {
        let c = check(&report, name);
        assert!(c["evidence"] == not_run || c["status"] != "unknown" || name == "nothing-lost", "{name}: {c}");
    }
    assert!(report["figures"]["checks_seconds"].as_f64().is_some(), "{}", report["figures"]);
    assert!(last_line(&run.stderr).starts_with("blobfail: interrupted by Ctrl-C during the checks phase; the cluster was stopped"));
    assert_run_gone(&out);
}

/// Binds `port` on as many of 127.0.0.2..=127.0.0.<last> as it can.
fn hold_port_on(port: u16, last: u8) -> Vec<(Ipv4Addr, TcpListener)> {
    (2..=last)
        .filter_map(|n| {
            let ip = Ipv4Addr::new(127, 0, 0, n);
            TcpListener::bind(SocketAddrV4::new(ip, port)).ok().map(|l| (ip, l))
        })
        .collect()
}

#[test]
fn a_taken_port_on_a_pinned_address_is_one_line_and_exit_2() {
    // Alone: the tests that bind or check addresses would see each other's.
    let _one_cluster = cluster_lock();
    let dir = run_folder();
    let out = path_of(&dir);
    let harper = harper_that_never_gets_ready(&out);
    let run_dir = out.join("run");
    // Two addresses far from where runs pick; one of A's node ports taken.
    let (a, b) = (160..250u8)
        .map(|n| (Ipv4Addr::new(127, 0, 0, n), Ipv4Addr::new(127, 0, 0, n + 1)))
        .find(|(a, b)| listening_ports(*a).is_empty() && listening_ports(*b).is_empty())
        .expect("two free addresses");
    let _taken = TcpListener::bind(SocketAddrV4::new(a, 9933)).unwrap();
    let addresses = format!("{a},{b}");
    let run = run_bounded(
        blobfail(&[
            "run", "blob-save", "--harper", harper.to_str().unwrap(), "--addresses", &addresses, "--out", run_dir.to_str().unwrap(),
        ]),
        Duration::from_secs(60),
    );
    assert_one_line_error(
        &run,
        &format!("{a}:9933 is already taken (Address already in use (os error 98)): stop what listens there, pass other --addresses, or leave --addresses out to let blobfail pick free ones"),
    );
    assert!(!run_dir.join("report.json").exists() && !run_dir.join("cluster.json").exists());
    assert_run_gone(&run_dir);
}

#[test]
fn the_address_probe_skips_addresses_whose_ports_are_taken() {
    // Alone: the tests that bind or check addresses would see each other's.
    let _one_cluster = cluster_lock();
    let dir = run_folder();
    let out = path_of(&dir);
    let harper = harper_that_never_gets_ready(&out);
    let run_dir = out.join("run");
    // Every address from 127.0.0.2 to .40 that this test can take: the run
    // must pick none of them (the others are taken by someone else anyway).
    let held = hold_port_on(9926, 40);
    assert!(!held.is_empty());
    let run = run_bounded(
        blobfail(&["run", "blob-save", "--harper", harper.to_str().unwrap(), "--start-timeout", "2", "--out", run_dir.to_str().unwrap()]),
        Duration::from_secs(60),
    );
    assert_eq!(run.code(), Some(2), "{}", run.stderr);
    let picked: Vec<Ipv4Addr> = nodes_of(&run_dir).into_iter().map(|(ip, _)| ip).collect();
    assert_eq!(picked.len(), 2);
    for ip in &picked {
        assert!(!held.iter().any(|(h, _)| h == ip), "the run picked {ip}, whose port 9926 this test holds");
    }
    assert_run_gone(&run_dir);
}

#[test]
fn a_harper_that_never_gets_ready_is_bounded_by_start_timeout() {
    // Alone: the tests that bind or check addresses would see each other's.
    let _one_cluster = cluster_lock();
    let dir = run_folder();
    let out = path_of(&dir);
    let harper = harper_that_never_gets_ready(&out);
    let run_dir = out.join("run");
    let start = Instant::now();
    let run = run_bounded(
        blobfail(&["run", "blob-save", "--harper", harper.to_str().unwrap(), "--start-timeout", "3", "--out", run_dir.to_str().unwrap()]),
        Duration::from_secs(60),
    );
    let took = start.elapsed();
    assert_eq!(run.code(), Some(2), "{}", run.stderr);
    let last = last_line(&run.stderr);
    assert!(
        last.starts_with("blobfail: node a and b did not answer its operations API within 3 s (--start-timeout): see ")
            && last.contains("a slow machine may need a longer --start-timeout"),
        "{last}"
    );
    assert!(last.contains(&run_dir.join("node-a/stdout.log").display().to_string()), "{last}");
    assert!(!run_dir.join("report.json").exists(), "a run that could not start wrote a report");
    assert!(took < Duration::from_secs(30), "took {took:?}");
    // Both fake nodes had started, and are gone.
    assert!(nodes_of(&run_dir).iter().all(|(_, pids)| pids.len() == 1));
    assert_run_gone(&run_dir);
}

#[test]
fn two_runs_side_by_side_both_complete_without_interfering() {
    let _one_cluster = cluster_lock();
    let dirs = [run_folder(), run_folder()];
    let outs: Vec<_> = dirs.iter().map(path_of).collect();
    let runs: Vec<Watched> = outs
        .iter()
        .zip(["11", "12"])
        .map(|(out, seed)| {
            Watched::spawn(blobfail(&["run", "blob-save", "--requests", "60", "--seed", seed, "--out", out.to_str().unwrap()]))
        })
        .collect();
    let results: Vec<Run> = runs.into_iter().map(|r| r.finish(Duration::from_secs(600))).collect();
    let mut addresses = Vec::new();
    for (run, out) in results.iter().zip(&outs) {
        assert_eq!(run.code(), Some(1), "{}: stdout:\n{}\nstderr:\n{}", out.display(), run.stdout, run.stderr);
        let report = read_json(&out.join("report.json"));
        assert_eq!(report["verdict"], "fail");
        for (name, want) in BLOB_SAVE_CHECKS.iter().zip(["pass", "fail", "fail", "pass", "pass", "fail", "fail"]) {
            assert_eq!(check(&report, name)["status"], want, "{}: {name}: {}", out.display(), check(&report, name)["evidence"]);
        }
        assert_eq!(report["figures"]["requests_ok"], 60);
        // Each run's faults are its own B's.
        let faults = std::fs::read_to_string(out.join("faults.jsonl")).unwrap();
        // (The shim ends each process's part of its log with a summary line, which names no file.)
        let records = faults.lines().filter(|l| !l.contains("\"summary\":true"));
        assert!(records.clone().count() > 0 && records.clone().all(|l| l.contains(&out.join("node-b/root/blobs/").display().to_string())), "{faults}");
        addresses.extend(nodes_of(out).into_iter().map(|(ip, _)| ip));
        assert_run_gone(out);
    }
    let mut distinct = addresses.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 4, "the runs shared an address: {addresses:?}");
}
