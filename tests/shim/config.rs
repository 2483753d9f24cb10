//! The shim's variables, its words on stderr and its fault log, checked by
//! preloading it into real programs.

use std::process::Command;

use blobfail_suite::shim::{c_program, every_nth, programs_dir, python3, run_preloaded, Run, Sandbox};

/// `n` write-opens under blobs/ through open64, one process.
fn c_writes(sb: &Sandbox, n: usize, vars: &[(&str, &str)]) -> Run {
    let mut cmd = Command::new(c_program("opens", &[]));
    cmd.arg(sb.path()).args((0..n).map(|_| "open64:w"));
    let run = run_preloaded(cmd, vars);
    run.assert_success();
    run
}

/// 1-based positions of the failed calls, and their errno.
fn failed(run: &Run) -> Vec<(u64, String)> {
    run.stdout()
        .lines()
        .filter_map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            (w.get(3) == Some(&"err")).then(|| (w[0].parse::<u64>().unwrap(), w[4].to_string()))
        })
        .collect()
}

#[test]
fn the_readme_python_example() {
    // The command from the README, verbatim but for the interpreter's path.
    let sb = Sandbox::new();
    let script = r#"import os; os.makedirs("blobs", exist_ok=True)
for i in range(70):
    try: open(f"blobs/{i}", "w").close()
    except OSError as e: print(i + 1, e.strerror)"#;
    let mut cmd = Command::new(python3());
    cmd.args(["-c", script]).current_dir(sb.path());
    let run = run_preloaded(cmd, &[("HARPER_TEST_BLOB_FAIL_INTERVAL", "7")]);
    run.assert_success();
    let want: String = every_nth(7, 70).iter().map(|k| format!("{k} No such file or directory\n")).collect();
    assert_eq!(run.stdout(), want);
    let pid = run.shim_lines()[0].split_whitespace().nth(2).unwrap().to_string();
    assert_eq!(
        run.shim_lines(),
        [
            format!("blobfail: armed {pid} interval=7 path=/blobs/ ops=write errno=ENOENT skip=0 max=none log=none"),
            format!("blobfail: summary {pid} matching=70 faults=10"),
        ]
    );
}

#[test]
fn disarmed_is_silent_and_lets_everything_through() {
    let sb = Sandbox::new();
    for vars in [&[][..], &[("HARPER_TEST_BLOB_FAIL_INTERVAL", "")][..], &[("HARPER_TEST_BLOB_FAIL_ERRNO", "junk")][..]] {
        let run = c_writes(&sb, 30, vars);
        assert_eq!(run.stderr(), "", "{vars:?}");
        assert!(failed(&run).is_empty());
    }
}

#[test]
fn skip_max_and_errno() {
    let sb = Sandbox::new();
    let run = c_writes(
        &sb,
        40,
        &[
            ("HARPER_TEST_BLOB_FAIL_INTERVAL", "3"),
            ("HARPER_TEST_BLOB_FAIL_SKIP", "5"),
            ("HARPER_TEST_BLOB_FAIL_MAX", "4"),
            ("HARPER_TEST_BLOB_FAIL_ERRNO", "EIO"),
        ],
    );
    let eio = libc::EIO.to_string();
    assert_eq!(failed(&run), [8, 11, 14, 17].map(|k| (k, eio.clone())));
    assert!(run.shim_lines()[0].ends_with("errno=EIO skip=5 max=4 log=none"), "{:?}", run.shim_lines());
    assert!(run.shim_lines()[1].ends_with("matching=40 faults=4"));

    let run = c_writes(&sb, 6, &[("HARPER_TEST_BLOB_FAIL_INTERVAL", "2"), ("HARPER_TEST_BLOB_FAIL_ERRNO", "28")]);
    assert_eq!(failed(&run), [2, 4, 6].map(|k| (k, "28".to_string())));
}

#[test]
fn path_and_ops() {
    let sb = Sandbox::new();
    std::fs::write(sb.path().join("other/f0"), "").unwrap();
    let mut cmd = Command::new(c_program("opens", &[]));
    // Reads and writes under other/: with PATH=/other/ and OPS=all, all four count.
    cmd.arg(sb.path()).args(["open:o", "open:o", "open:o", "open:o"]);
    let run = run_preloaded(
        cmd,
        &[("HARPER_TEST_BLOB_FAIL_INTERVAL", "2"), ("HARPER_TEST_BLOB_FAIL_PATH", "/other/"), ("HARPER_TEST_BLOB_FAIL_OPS", "all")],
    );
    assert_eq!(failed(&run), [(2, "2".to_string()), (4, "2".to_string())]);
    assert!(run.shim_lines()[0].contains("path=/other/ ops=all"));
}

#[test]
fn invalid_values_warn_once_each_and_inject_nothing() {
    let sb = Sandbox::new();
    // (the variables set, the variables the warnings must name, in order)
    type Case<'a> = (&'a [(&'a str, &'a str)], &'a [&'a str]);
    let cases: &[Case] = &[
        (&[("HARPER_TEST_BLOB_FAIL_INTERVAL", "0")], &["HARPER_TEST_BLOB_FAIL_INTERVAL=\"0\""]),
        (&[("HARPER_TEST_BLOB_FAIL_INTERVAL", "-7")], &["HARPER_TEST_BLOB_FAIL_INTERVAL=\"-7\""]),
        (&[("HARPER_TEST_BLOB_FAIL_INTERVAL", "7x")], &["HARPER_TEST_BLOB_FAIL_INTERVAL=\"7x\""]),
        (&[("HARPER_TEST_BLOB_FAIL_INTERVAL", "abc")], &["HARPER_TEST_BLOB_FAIL_INTERVAL=\"abc\""]),
        (&[("HARPER_TEST_BLOB_FAIL_INTERVAL", "99999999999999999999")], &["HARPER_TEST_BLOB_FAIL_INTERVAL=\"99999999999999999999\""]),
        (
            &[("HARPER_TEST_BLOB_FAIL_INTERVAL", "1"), ("HARPER_TEST_BLOB_FAIL_ERRNO", "ENOPE"), ("HARPER_TEST_BLOB_FAIL_OPS", "reads")],
            &["HARPER_TEST_BLOB_FAIL_ERRNO=\"ENOPE\"", "HARPER_TEST_BLOB_FAIL_OPS=\"reads\""],
        ),
        (&[("HARPER_TEST_BLOB_FAIL_INTERVAL", "1"), ("HARPER_TEST_BLOB_FAIL_SKIP", "1.5")], &["HARPER_TEST_BLOB_FAIL_SKIP=\"1.5\""]),
        (&[("HARPER_TEST_BLOB_FAIL_INTERVAL", "1"), ("HARPER_TEST_BLOB_FAIL_MAX", "lots")], &["HARPER_TEST_BLOB_FAIL_MAX=\"lots\""]),
    ];
    let log = sb.log();
    for (vars, named) in cases {
        // With a fault log asked for: off means it is never even created.
        let vars = [*vars, &[("HARPER_TEST_BLOB_FAIL_LOG", log.to_str().unwrap())]].concat();
        let run = c_writes(&sb, 10, &vars);
        assert!(failed(&run).is_empty(), "{vars:?} injected: {}", run.stdout());
        sb.assert_no_log();
        let lines: Vec<String> = run.stderr().lines().map(str::to_owned).collect();
        assert_eq!(lines.len(), named.len(), "{vars:?}: {lines:?}");
        for (line, var) in lines.iter().zip(*named) {
            assert!(line.starts_with(&format!("blobfail: ignoring {var}: ")), "{line}");
            assert!(line.ends_with("fault injection is off until it is fixed or unset"), "{line}");
        }
    }
}

#[test]
fn unwritable_log_warns_and_injection_goes_on() {
    let sb = Sandbox::new();
    let log = sb.path().join("missing-dir/faults.jsonl");
    let run = c_writes(&sb, 6, &[("HARPER_TEST_BLOB_FAIL_INTERVAL", "3"), ("HARPER_TEST_BLOB_FAIL_LOG", log.to_str().unwrap())]);
    assert_eq!(failed(&run), [(3, "2".to_string()), (6, "2".to_string())]);
    let warnings: Vec<_> = run.shim_lines().into_iter().filter(|l| l.contains("cannot write the fault log")).collect();
    assert_eq!(warnings.len(), 1, "{}", run.stderr());
    assert!(warnings[0].contains("(ENOENT); faults are still injected, but not logged"));
}

/// libuv turns io_uring on for any value atoi reads as positive. Armed,
/// the shim denies io_uring_setup by default, so no warning is due; with
/// `IO_URING=allow` every such value gets one, and "0"-like values none.
#[test]
fn io_uring_warning() {
    let sb = Sandbox::new();
    for value in ["1", "2", "01", " 1", "+1", "1x", "-1"] {
        let allow = [("HARPER_TEST_BLOB_FAIL_INTERVAL", "3"), ("HARPER_TEST_BLOB_FAIL_IO_URING", "allow"), ("UV_USE_IO_URING", value)];
        let run = c_writes(&sb, 1, &allow);
        assert_eq!(run.shim_lines().len(), 3, "{value:?}: {:?}", run.shim_lines());
        assert!(run.shim_lines()[0].ends_with(" io_uring=allow"), "{:?}", run.shim_lines());
        assert_eq!(
            run.shim_lines()[1],
            format!(
                "blobfail: warning: UV_USE_IO_URING=\"{value}\" lets libuv open and write files through io_uring, \
                 which no preload library sees, and HARPER_TEST_BLOB_FAIL_IO_URING=allow leaves it on; unset that \
                 (deny) or set UV_USE_IO_URING=0 for faults to be injected"
            )
        );
        let deny = [("HARPER_TEST_BLOB_FAIL_INTERVAL", "3"), ("UV_USE_IO_URING", value)];
        assert_eq!(c_writes(&sb, 1, &deny).shim_lines().len(), 2, "{value:?}: denied, nothing to warn about");
    }
    for value in ["0", "00", "no", ""] {
        let allow = [("HARPER_TEST_BLOB_FAIL_INTERVAL", "3"), ("HARPER_TEST_BLOB_FAIL_IO_URING", "allow"), ("UV_USE_IO_URING", value)];
        assert_eq!(c_writes(&sb, 1, &allow).shim_lines().len(), 2, "{value:?}");
    }
}

#[test]
fn eight_threads_thousand_opens_each_exactly_a_thousand_faults() {
    let sb = Sandbox::new();
    let mut cmd = Command::new(c_program("threads", &[]));
    cmd.arg(sb.path()).args(["8", "1000"]);
    let log = sb.log();
    let run = run_preloaded(cmd, &[("HARPER_TEST_BLOB_FAIL_INTERVAL", "8"), ("HARPER_TEST_BLOB_FAIL_LOG", log.to_str().unwrap())]);
    run.assert_success();
    assert_eq!(run.stdout().trim(), "failed=1000 other=0");
    assert!(run.shim_lines().last().unwrap().ends_with("matching=8000 faults=1000"));
    let lines = sb.log_lines();
    assert_eq!(lines.len(), 1000);
    let mut seqs: Vec<u64> = lines.iter().map(|l| l["seq"].as_u64().unwrap()).collect();
    seqs.sort();
    assert_eq!(seqs, every_nth(8, 8000));
    let tids: std::collections::BTreeSet<_> = lines.iter().map(|l| l["tid"].as_i64().unwrap()).collect();
    assert!(tids.len() > 1, "faults should come from several threads");
}

#[test]
fn node_banner_and_summary_on_stderr() {
    let sb = Sandbox::new();
    let mut cmd = Command::new("node");
    cmd.arg(programs_dir().join("node_writes.js")).arg("sync").arg(sb.path()).arg("4");
    let run = run_preloaded(cmd, &[("HARPER_TEST_BLOB_FAIL_INTERVAL", "2"), ("UV_USE_IO_URING", "0")]);
    let lines = run.shim_lines();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines[0].starts_with("blobfail: armed pid="));
    assert!(lines[1].ends_with("matching=4 faults=2"));
}
