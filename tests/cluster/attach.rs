//! End-to-end: `blobfail run blob-save --attach` against a cluster the test
//! provisioned itself with `--keep` (so it can read the shim's fault log on
//! B, which attach mode cannot, and hold the remote verdicts against it),
//! and the `--junit` file read back as XML against `report.json`; what
//! `--keep` leaves and says; attach runs interrupted; attach refusing a
//! cluster without the scenario's table. The kept cluster is stopped by its
//! process groups at the end, on every path.

use std::path::Path;
use std::time::{Duration, Instant};

use blobfail_suite::driver::*;
use serde_json::Value;

/// Stops the kept cluster's process groups when dropped (also on a failed
/// assertion): SIGTERM, up to 15 s, then SIGKILL.
struct KeptCluster {
    pgids: Vec<u32>,
}

impl Drop for KeptCluster {
    fn drop(&mut self) {
        for &g in &self.pgids {
            // SAFETY: kill(2) on a process group this test's run started; no memory is touched.
            unsafe { libc::kill(-(g as i32), libc::SIGTERM) };
        }
        let start = Instant::now();
        while self.pgids.iter().any(|&g| !group_members(g).is_empty()) && start.elapsed() < Duration::from_secs(15) {
            std::thread::sleep(Duration::from_millis(100));
        }
        for &g in &self.pgids {
            if !group_members(g).is_empty() {
                // SAFETY: as above.
                unsafe { libc::kill(-(g as i32), libc::SIGKILL) };
            }
        }
    }
}

/// The kept cluster's password and process groups, from the `--keep` note.
fn kept(stdout: &str) -> (String, Vec<u32>) {
    let password = stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("user admin, password "))
        .unwrap_or_else(|| panic!("no password in the --keep note:\n{stdout}"))
        .to_string();
    let pgids = stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("stop it with: kill -TERM -- "))
        .unwrap_or_else(|| panic!("no stop command in the --keep note:\n{stdout}"))
        .split_whitespace()
        .map(|g| g.trim_start_matches('-').parse().unwrap())
        .collect();
    (password, pgids)
}

/// The JUnit file holds one testcase per check of the report, in order, a
/// `<failure>` exactly for the failed ones and `<skipped>` for the unknown
/// ones, each with the evidence as its message.
fn assert_junit_matches(junit: &Path, report: &Value) {
    let text = std::fs::read_to_string(junit).unwrap_or_else(|e| panic!("read {}: {e}", junit.display()));
    let doc = roxmltree::Document::parse(&text).unwrap_or_else(|e| panic!("{} is not XML: {e}\n{text}", junit.display()));
    let cases: Vec<roxmltree::Node> = doc.descendants().filter(|n| n.has_tag_name("testcase")).collect();
    let checks = report["checks"].as_array().unwrap();
    assert_eq!(cases.len(), checks.len(), "{text}");
    for (case, check) in cases.iter().zip(checks) {
        assert_eq!(case.attribute("name"), check["name"].as_str(), "{text}");
        assert_eq!(case.attribute("classname"), report["scenario"].as_str());
        let child = |tag: &str| case.children().find(|n| n.has_tag_name(tag));
        let evidence = check["evidence"].as_str().unwrap();
        // The message is the evidence on one line; the text holds it whole.
        let message = evidence.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" | ");
        let outcome = |tag: &str| {
            let n = child(tag).unwrap_or_else(|| panic!("no <{tag}> for {}: {text}", check["name"]));
            assert_eq!(n.attribute("message"), Some(message.as_str()), "{}", check["name"]);
            assert!(n.text().unwrap_or("").starts_with(evidence), "{}: {:?}", check["name"], n.text());
        };
        match check["status"].as_str().unwrap() {
            "fail" => {
                outcome("failure");
                assert!(child("skipped").is_none());
            }
            "unknown" => {
                outcome("skipped");
                assert!(child("failure").is_none());
            }
            "pass" => {
                assert!(child("failure").is_none() && child("skipped").is_none(), "{}", check["name"]);
                assert_eq!(child("system-out").and_then(|n| n.text()), Some(evidence));
            }
            other => panic!("status {other}"),
        }
    }
    let failures = checks.iter().filter(|c| c["status"] == "fail").count();
    let suite = doc.descendants().find(|n| n.has_tag_name("testsuite")).unwrap();
    assert_eq!(suite.attribute("failures"), Some(failures.to_string().as_str()), "{text}");
    assert_eq!(suite.attribute("tests"), Some(checks.len().to_string().as_str()), "{text}");
}

/// One cluster, kept by a local run with `--keep`, serves every attach run
/// here in turn (each would otherwise cost a cluster of its own): first the
/// `--keep` note itself is checked, then an attach run is judged against
/// the shim's own fault log, then attach runs are interrupted, and last the
/// scenario's table is dropped to see attach refuse a cluster without it.
#[test]
fn attach_runs_against_a_cluster_kept_with_keep() {
    let _one_cluster = cluster_lock();
    let kept_dir = run_folder();
    let kept_out = path_of(&kept_dir);
    let run = run_bounded(
        blobfail(&["run", "blob-save", "--keep", "--requests", "60", "--seed", "5", "--out", kept_out.to_str().unwrap()]),
        Duration::from_secs(10 * 60),
    );
    let (password, pgids) = kept(&run.stdout);
    let cluster = KeptCluster { pgids: pgids.clone() };
    assert_eq!(run.code(), Some(1), "stdout:\n{}\nstderr:\n{}", run.stdout, run.stderr);
    keep_leaves_the_cluster_running_and_says_how_to_stop_it(&run, &kept_out, &pgids);
    no_secret_is_in_reach_of_another_user(&kept_out, &password, &pgids);
    let nodes = nodes_of(&kept_out);
    let (ops_a, ops_b) = (format!("http://{}:9925", nodes[0].0), format!("http://{}:9925", nodes[1].0));

    attach_judges_a_running_cluster_through_its_api_alone(&kept_out, &password, &ops_a, &ops_b);
    an_interrupted_attach_run_keeps_a_partial_report_and_leaves_the_cluster_as_it_was(&password, &pgids, &nodes);
    attach_to_a_cluster_without_the_table_stops_at_once(&password, &ops_a, &ops_b);

    drop(cluster);
    assert_nothing_left(&kept_out);
}

/// What `--keep` leaves: both nodes running and listening, and the note
/// saying how to reach them and how to stop them (their process groups,
/// as cluster.json has them).
fn keep_leaves_the_cluster_running_and_says_how_to_stop_it(run: &Run, kept_out: &Path, stop_pgids: &[u32]) {
    let nodes = nodes_of(kept_out);
    let pgids: Vec<u32> = nodes.iter().map(|(_, pids)| *pids.last().unwrap()).collect();
    let alive: Vec<bool> = pgids.iter().map(|&p| is_alive(p)).collect();
    assert_eq!(alive, vec![true, true], "--keep should leave both nodes running");
    for (ip, _) in &nodes {
        let ports = listening_ports(*ip);
        assert!(ports.contains(&9925) && ports.contains(&9926), "{ip} listened on {ports:?} only");
    }
    let stop_line = run.stdout.lines().find(|l| l.trim_start().starts_with("stop it with: kill -TERM -- ")).map(str::trim);
    let expected = format!("stop it with: kill -TERM -- -{} -{}", pgids[0], pgids[1]);
    assert_eq!(stop_line, Some(expected.as_str()), "stdout:\n{}", run.stdout);
    assert_eq!(stop_pgids, pgids);
    assert!(run.stdout.contains("operations http://"), "{}", run.stdout);
}

/// No process of any node holds the admin password on its command line
/// (every local user can read `/proc/PID/cmdline`), and the run folder,
/// which holds every node's logs and database, is its user's alone (0700).
fn no_secret_is_in_reach_of_another_user(kept_out: &Path, password: &str, pgids: &[u32]) {
    use std::os::unix::fs::PermissionsExt;
    let mut seen = 0;
    for &g in pgids {
        for pid in group_members(g) {
            let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else { continue };
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            assert!(!cmdline.contains(password), "pid {pid} (group {g}) has the password on its command line: {cmdline}");
            assert!(!cmdline.contains("HDB_ADMIN_PASSWORD"), "pid {pid}: {cmdline}");
            seen += 1;
        }
    }
    assert!(seen >= pgids.len(), "read the command line of {seen} processes for {} nodes", pgids.len());
    let mode = std::fs::metadata(kept_out).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700, "run folder {} has mode {mode:o}", kept_out.display());
}

/// An attach run judged through the API alone, held against the shim's
/// fault log on B (on this machine only because the test owns the cluster),
/// and the `--junit` file read back as XML against `report.json`.
fn attach_judges_a_running_cluster_through_its_api_alone(kept_out: &Path, password: &str, ops_a: &str, ops_b: &str) {
    let local = read_json(&kept_out.join("report.json"));
    // The run folder's junit.xml is the same rendering as --junit.
    assert_junit_matches(&kept_out.join("junit.xml"), &local);
    let faults_before = local["figures"]["faults_injected"].as_u64().unwrap();

    let dir = run_folder();
    let out = path_of(&dir);
    let junit = out.join("ci-junit.xml");
    let out_run = out.join("run");
    // The nodes by name (`--node NAME=URL`); the other attach runs here use --node-a and --node-b.
    let (node_a, node_b) = (format!("a={ops_a}"), format!("b={ops_b}"));
    let mut cmd = blobfail(&[
        "run", "blob-save", "--attach", "--node", &node_a, "--node", &node_b, "--requests", "60", "--seed", "5",
        "--out", out_run.to_str().unwrap(), "--junit", junit.to_str().unwrap(),
    ]);
    cmd.env("BLOBFAIL_PASSWORD", password);
    let start = Instant::now();
    let attach = run_bounded(cmd, Duration::from_secs(5 * 60));
    let took = start.elapsed();
    assert_eq!(attach.code(), Some(1), "stdout:\n{}\nstderr:\n{}", attach.stdout, attach.stderr);
    let report = read_json(&out_run.join("report.json"));
    let want = [
        ("injector-fired", "pass"),
        ("blob-save-failure-logged", "fail"),
        ("no-uncaught-exception", "fail"),
        ("peer-connected", "pass"),
        ("liveness", "pass"),
        ("nothing-lost", "fail"),
        ("damaged-reads-contained", "fail"),
    ];
    assert_eq!(statuses(&report), want.map(|(n, s)| (n.to_string(), s.to_string())), "{:#}", report["checks"]);
    assert_eq!(report["verdict"], "fail");
    assert_eq!(report["harper"]["attached"], true);
    let named: Vec<(&str, &str)> =
        report["nodes"].as_array().unwrap().iter().map(|n| (n["name"].as_str().unwrap(), n["ops_url"].as_str().unwrap())).collect();
    assert_eq!(named, [("a", format!("{ops_a}/").as_str()), ("b", format!("{ops_b}/").as_str())]);
    assert_junit_matches(&junit, &report);

    // The shim's fault log is on this machine only because the test owns the
    // cluster: the faults of the attach run are the ones after the kept run's.
    let faults: Vec<Value> = std::fs::read_to_string(kept_out.join("faults.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|f: &Value| f.get("summary").is_none())
        .collect();
    let new_faults: Vec<&str> = faults[faults_before as usize..].iter().map(|f| f["path"].as_str().unwrap()).collect();
    assert!(!new_faults.is_empty(), "the attach run injected no fault");
    let figures = &report["figures"];
    // Judged remotely, yet exactly what the shim did: every faulted file
    // escaped, and no entry of the earlier run counts.
    assert_eq!(figures["failed_blob_files_in_log"].as_u64(), Some(new_faults.len() as u64), "{figures:#}");
    assert_eq!(figures["blobs_unreadable_on_b"].as_u64(), Some(new_faults.len() as u64), "{figures:#}");
    let injector = check(&report, "injector-fired")["evidence"].as_str().unwrap();
    let expected = format!(
        "judged from node B's log (read_log on {ops_b}/): {} distinct blob files under /blobs/ failed with ENOENT, 0 lines with \"Blob save failed for\"",
        new_faults.len()
    );
    assert!(injector.starts_with(&expected), "expected {expected:?}\nin {injector}");
    assert!(injector.contains("the shim's fault log and exit summary stay on B's host"), "{injector}");
    let uncaught = check(&report, "no-uncaught-exception");
    let lines: Vec<&str> = uncaught["lines"].as_array().unwrap().iter().map(|l| l.as_str().unwrap()).collect();
    for l in &lines {
        assert!(l.contains("[error]: uncaughtException [Error: ENOENT: no such file or directory, open '"), "{l}");
        assert!(new_faults.iter().any(|f| l.contains(&format!("open '{f}'"))), "an escaped entry not of this run's faults: {l}");
    }
    for f in &new_faults {
        assert!(lines.iter().any(|l| l.contains(&format!("open '{f}'"))), "faulted {f} is not among {lines:#?}");
    }
    let lost = check(&report, "nothing-lost")["evidence"].as_str().unwrap();
    assert!(lost.starts_with(&format!("{} of ", new_faults.len())), "{lost}");
    assert!(took < Duration::from_secs(60), "attach took {took:?}");
}

/// Without the scenario's table, attach stops at once with what to deploy
/// (last: it drops the kept cluster's table).
fn attach_to_a_cluster_without_the_table_stops_at_once(password: &str, ops_a: &str, ops_b: &str) {
    let dir = run_folder();
    let out = path_of(&dir);
    let script = r#"
import base64, json, sys, urllib.request
url, password = sys.argv[1], sys.argv[2]
body = json.dumps({"operation": "drop_table", "database": "data", "table": "LargeLocation"}).encode()
auth = base64.b64encode(("admin:" + password).encode()).decode()
req = urllib.request.Request(url, body, {"content-type": "application/json", "authorization": "Basic " + auth})
print(urllib.request.urlopen(req, timeout=30).read().decode())
"#;
    let dropped = std::process::Command::new("python3").args(["-c", script, &format!("{ops_a}/"), password]).output().expect("python3");
    assert!(String::from_utf8_lossy(&dropped.stdout).contains("successfully deleted"), "{dropped:?}");
    let mut cmd = blobfail(&["run", "blob-save", "--attach", "--node-a", ops_a, "--node-b", ops_b, "--password", password]);
    cmd.arg("--out").arg(out.join("missing"));
    let missing = run_bounded(cmd, Duration::from_secs(60));
    assert_eq!(missing.code(), Some(2), "{}", missing.stderr);
    let last = missing.stderr.lines().last().unwrap_or("");
    assert!(
        last.starts_with(&format!("blobfail: node a ({ops_a}/) has no table data.LargeLocation: deploy the blobfail component on both nodes")),
        "{}",
        missing.stderr
    );
    assert!(last.contains("blobfail component --out DIR"), "{last}");
}


/// An attach run cut short by SIGTERM, then another by SIGHUP (a closed
/// terminal), each in the workload: a partial report marked interrupted,
/// every check unknown with the reason, exit 2, nothing of the run left
/// running, and the attached cluster left as it was (still serving).
fn an_interrupted_attach_run_keeps_a_partial_report_and_leaves_the_cluster_as_it_was(
    password: &str,
    pgids: &[u32],
    nodes: &[(std::net::Ipv4Addr, Vec<u32>)],
) {
    let (ops_a, ops_b) = (format!("http://{}:9925", nodes[0].0), format!("http://{}:9925", nodes[1].0));

    let dir = run_folder();
    for (sig, by) in [(SIGTERM, "SIGTERM"), (SIGHUP, "SIGHUP")] {
        let out = path_of(&dir).join(by);
        let mut cmd = blobfail(&[
            "run", "blob-save", "--attach", "--node-a", &ops_a, "--node-b", &ops_b, "--requests", "1000000", "--concurrency", "4",
            "--out", out.to_str().unwrap(),
        ]);
        cmd.env("BLOBFAIL_PASSWORD", password);
        let mut run = Watched::spawn(cmd);
        run.wait_for("blobfail: GET /LargeLocation/{n} on node a", Duration::from_secs(120));
        run.signal(sig);
        let run = run.finish(Duration::from_secs(60));

        assert_eq!(run.code(), Some(2), "{by}: stdout:\n{}\nstderr:\n{}", run.stdout, run.stderr);
        let report = read_json(&out.join("report.json"));
        assert_eq!(report["verdict"], "unknown", "{report:#}");
        assert_eq!(report["interrupted"]["by"], by, "{}", report["interrupted"]);
        assert_eq!(report["interrupted"]["phase"], "workload", "{}", report["interrupted"]);
        assert_eq!(report["harper"]["attached"], true);
        assert_eq!(report["nodes"].as_array().map(Vec::len), Some(2), "{}", report["nodes"]);
        let not_run = format!("not run: the run was interrupted by {by} during the workload phase");
        let checks = report["checks"].as_array().unwrap();
        assert_eq!(checks.len(), 7, "{report:#}");
        for c in checks {
            assert_eq!((c["status"].as_str(), c["evidence"].as_str()), (Some("unknown"), Some(not_run.as_str())), "{c}");
        }
        for phase in ["attach", "workload"] {
            assert!(report["figures"][format!("{phase}_seconds")].as_f64().is_some(), "{by}: no {phase}_seconds in {}", report["figures"]);
        }
        assert!(out.join("junit.xml").is_file() && !out.join("report.json.tmp").exists());
        assert!(run.stdout.contains("verdict: UNKNOWN (the run was interrupted)"), "{}", run.stdout);
        let last = run.stderr.lines().last().unwrap_or("");
        assert_eq!(
            last,
            format!(
                "blobfail: interrupted by {by} during the workload phase; the attached cluster was left as it is; partial report in {}",
                out.join("report.json").display()
            )
        );
        // Nothing of the attach run is left; the cluster it attached to is untouched.
        assert_eq!(processes_mentioning(&out), Vec::<(u32, String)>::new(), "{by}: processes of the run still alive");
        assert!(pgids.iter().all(|&p| is_alive(p)), "{by}: the attached cluster's nodes were stopped");
        assert!(nodes.iter().all(|(ip, _)| listening_ports(*ip).contains(&9925)), "{by}: the attached cluster stopped answering");
    }
}
