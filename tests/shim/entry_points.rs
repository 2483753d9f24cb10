//! The shim preloaded into real programs, through every way they open files:
//! C through each libc entry point (plain and `_FORTIFY_SOURCE`), Python,
//! Node, Rust's std and coreutils. Each test asserts exactly which calls
//! failed and with which errno.

use std::process::Command;

use blobfail_suite::shim::{c_program, every_nth, programs_dir, python3, run_preloaded, Sandbox};

const ENTRY_POINTS: &[&str] = &[
    "open", "open64", "openat", "openat64", "__open_2", "__open64_2", "__openat_2", "__openat64_2",
    "creat", "creat64", "fopen", "fopen64", "freopen", "freopen64",
];

/// Makes the files the fortified entry points (which cannot create) open.
fn precreate(sb: &Sandbox, sub: &str, count: usize) {
    for i in 0..=count {
        std::fs::write(sb.path().join(sub).join(format!("f{i}")), "").unwrap();
    }
}

#[test]
fn c_every_entry_point_fails_exactly_every_seventh_matching_call() {
    let sb = Sandbox::new();
    // 70 matching writes, cycling through all 14 entry points, with a read
    // under blobs/ and a write elsewhere between each: those never count.
    let mut specs = Vec::new();
    for i in 0..70 {
        let entry = ENTRY_POINTS[i % ENTRY_POINTS.len()];
        specs.push(format!("{entry}:w"));
        specs.push(format!("{entry}:r"));
        specs.push(format!("{entry}:o"));
    }
    precreate(&sb, "blobs", specs.len());
    precreate(&sb, "other", specs.len());
    let mut cmd = Command::new(c_program("opens", &[]));
    cmd.arg(sb.path()).args(&specs);
    let log = sb.log();
    let run = run_preloaded(cmd, &[("HARPER_TEST_BLOB_FAIL_INTERVAL", "7"), ("HARPER_TEST_BLOB_FAIL_LOG", log.to_str().unwrap())]);
    run.assert_success();
    assert_eq!(run.calls(), 210, "{}", run.stdout());

    // Number the matching (write-under-blobs) calls 1..=70 and collect the failed ones.
    let mut matching = 0u64;
    let mut failed_matching = Vec::new();
    let mut failed_entries = Vec::new();
    for line in run.stdout().lines() {
        let w: Vec<&str> = line.split_whitespace().collect();
        let (entry, target, result) = (w[1], w[2], &w[3..]);
        if target == "w" {
            matching += 1;
            if result == ["err", "2"] {
                failed_matching.push(matching);
                failed_entries.push(entry.to_string());
            } else {
                assert_eq!(result, ["ok"], "{line}");
            }
        } else {
            assert_eq!(result, ["ok"], "a {target} call must never fail: {line}");
        }
    }
    assert_eq!(failed_matching, every_nth(7, 70));
    // Calls 7, 14, ... land on entry points (k-1) % 14: both halves of the table.
    let expected_entries: Vec<String> = every_nth(7, 70).iter().map(|k| ENTRY_POINTS[((k - 1) % 14) as usize].to_string()).collect();
    assert_eq!(failed_entries, expected_entries);

    // One JSON line per fault, in order, with the resolved path.
    let lines = sb.log_lines();
    assert_eq!(lines.len(), 10);
    for (i, (line, entry)) in lines.iter().zip(&expected_entries).enumerate() {
        assert_eq!(line["seq"], (i as u64 + 1) * 7);
        assert_eq!(line["fault"], i as u64 + 1);
        assert_eq!(line["function"], entry.as_str());
        assert_eq!(line["errno"], 2);
        assert_eq!(line["pid"], lines[0]["pid"], "one process, one pid");
        let path = line["path"].as_str().unwrap();
        assert!(path.starts_with(sb.blobs().to_str().unwrap()) && path.contains("/blobs/f"), "{path}");
        assert!(line["tid"].as_i64().unwrap() > 0 && line["time_ns"].as_u64().unwrap() > 0);
    }
    assert_eq!(
        run.shim_lines().last().unwrap(),
        &format!("blobfail: summary pid={} matching=70 faults=10", lines[0]["pid"])
    );
}

#[test]
fn c_fortified_build_goes_through_open_2() {
    let exe = c_program("fortified", &["-O2", "-D_FORTIFY_SOURCE=2"]);
    let exe64 = c_program("fortified", &["-O2", "-D_FORTIFY_SOURCE=2", "-D_FILE_OFFSET_BITS=64"]);
    for (exe, symbol) in [(&exe, "__open_2"), (&exe64, "__open64_2")] {
        let nm = Command::new("nm").arg("-D").arg(exe).output().expect("nm");
        let nm = String::from_utf8_lossy(&nm.stdout);
        assert!(nm.contains(symbol), "the fortified build should call {symbol}:\n{nm}");

        let sb = Sandbox::new();
        precreate(&sb, "blobs", 9);
        let files: Vec<_> = (0..9).map(|i| sb.blobs().join(format!("f{i}"))).collect();
        let mut cmd = Command::new(exe);
        cmd.arg(format!("{}", libc::O_WRONLY | libc::O_TRUNC)).args(&files);
        let log = sb.log();
        let run = run_preloaded(cmd, &[("HARPER_TEST_BLOB_FAIL_INTERVAL", "3"), ("HARPER_TEST_BLOB_FAIL_LOG", log.to_str().unwrap())]);
        let stdout = run.stdout();
        let results: Vec<&str> = stdout.lines().collect();
        assert_eq!(results, ["ok", "ok", "err 2", "ok", "ok", "err 2", "ok", "ok", "err 2"], "{symbol}");
        let functions: Vec<_> = sb.log_lines().iter().map(|l| l["function"].as_str().unwrap().to_string()).collect();
        assert_eq!(functions, [symbol; 3]);
    }
}

fn assert_nth_failed(run: &blobfail_suite::shim::Run, n: u64, count: u64, code: &str) {
    run.assert_success();
    assert_eq!(run.calls() as u64, count, "{}", run.stdout());
    let failures = run.failures();
    let at: Vec<u64> = failures.iter().map(|f| f.0).collect();
    assert_eq!(at, every_nth(n, count), "stdout:\n{}\nstderr:\n{}", run.stdout(), run.stderr());
    assert!(failures.iter().all(|f| f.1 == code), "{failures:?}");
}

#[test]
fn python_open_and_dir_fd() {
    for mode in ["open", "dirfd"] {
        let sb = Sandbox::new();
        let mut cmd = Command::new(python3());
        cmd.arg(programs_dir().join("py_writes.py")).arg(mode).arg(sb.path()).arg("35");
        let run = run_preloaded(cmd, &[("HARPER_TEST_BLOB_FAIL_INTERVAL", "5"), ("HARPER_TEST_BLOB_FAIL_LOG", sb.log().to_str().unwrap())]);
        assert_nth_failed(&run, 5, 35, "2");
        // dir_fd paths are relative to the folder, and logged resolved.
        let paths: Vec<String> = sb.log_lines().iter().map(|l| l["path"].as_str().unwrap().to_string()).collect();
        let want: Vec<String> = every_nth(5, 35).iter().map(|k| format!("{}/p{k}", sb.blobs().display())).collect();
        assert_eq!(paths, want, "{mode}");
    }
}

#[test]
fn node_create_write_stream_and_write_file_sync() {
    for mode in ["stream", "sync"] {
        let sb = Sandbox::new();
        let mut cmd = Command::new("node");
        cmd.arg(programs_dir().join("node_writes.js")).arg(mode).arg(sb.path()).arg("28");
        let run = run_preloaded(cmd, &[("HARPER_TEST_BLOB_FAIL_INTERVAL", "7"), ("UV_USE_IO_URING", "0")]);
        assert_nth_failed(&run, 7, 28, "ENOENT");
        // The files that failed were never created.
        for k in 1..=28u64 {
            assert_eq!(sb.blobs().join(format!("n{k}")).exists(), k % 7 != 0, "{mode} n{k}");
        }
    }
}

/// Rust's `File::create` (open64 through std): this test binary runs itself
/// again as the preloaded program.
#[test]
fn rust_file_create() {
    if let Ok(dir) = std::env::var("BLOBFAIL_TEST_RUST_CHILD") {
        for i in 1..=20 {
            match std::fs::File::create(format!("{dir}/blobs/r{i}")) {
                Ok(_) => println!("{i} ok"),
                Err(e) => println!("{i} err {}", e.raw_os_error().unwrap_or(0)),
            }
        }
        return;
    }
    let sb = Sandbox::new();
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    // The filter is this test's full name in its binary (the module path first).
    let name = concat!(module_path!(), "::rust_file_create");
    let name = name.split_once("::").map_or(name, |(_crate, path)| path);
    cmd.args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env("BLOBFAIL_TEST_RUST_CHILD", sb.path());
    let run = run_preloaded(cmd, &[("HARPER_TEST_BLOB_FAIL_INTERVAL", "4"), ("HARPER_TEST_BLOB_FAIL_ERRNO", "ENOSPC")]);
    assert_nth_failed(&run, 4, 20, &libc::ENOSPC.to_string());
}

/// coreutils are one process per call, and each exec starts counting at 0:
/// with N=1 every write under blobs/ fails, reads and other folders never.
/// Each run: its exact status, stdout, error line, and the calls the fault
/// log says failed.
#[test]
fn coreutils_cp_tee_dd() {
    let sb = Sandbox::new();
    let src = sb.path().join("other").join("src");
    std::fs::write(&src, "payload").unwrap();
    std::fs::write(sb.blobs().join("existing"), "old").unwrap();
    let log = sb.log();
    let blobs = sb.blobs();
    // (argv, exit status, stdout, stderr without the shim's lines, (function, file under blobs/) of each fault)
    type Case<'a> = (&'a [&'a str], i32, &'a str, &'a [&'a str], &'a [(&'a str, &'a str)]);
    let cases: [Case; 5] = [
        (
            &["cp", src.to_str().unwrap(), "blobs/copy"],
            1,
            "",
            &["cp: cannot create regular file 'blobs/copy': No such file or directory"],
            &[("openat", "copy")],
        ),
        // tee still copies to stdout; its status is the pipeline's.
        (&["sh", "-c", "echo hi | tee blobs/teed"], 1, "hi\n", &["tee: blobs/teed: No such file or directory"], &[("fopen", "teed")]),
        (
            &["dd", "if=/dev/zero", "of=blobs/dd", "bs=1k", "count=1"],
            1,
            "",
            &["dd: failed to open 'blobs/dd': No such file or directory"],
            &[("open", "dd")],
        ),
        // Reading from blobs/ and writing elsewhere go through untouched.
        (&["cp", "blobs/existing", "other/back"], 0, "", &[], &[]),
        (&["dd", "if=/dev/zero", "of=other/dd", "bs=1k", "count=1", "status=none"], 0, "", &[], &[]),
    ];
    for (argv, status, stdout, stderr, faults) in cases {
        let _ = std::fs::remove_file(&log);
        let mut cmd = Command::new(argv[0]);
        cmd.args(&argv[1..]).current_dir(sb.path());
        let run = run_preloaded(cmd, &[("HARPER_TEST_BLOB_FAIL_INTERVAL", "1"), ("HARPER_TEST_BLOB_FAIL_LOG", log.to_str().unwrap())]);
        assert_eq!(run.output.status.code(), Some(status), "{argv:?}: {}", run.stderr());
        assert_eq!(run.stdout(), stdout, "{argv:?}");
        let said: Vec<String> = run.stderr().lines().filter(|l| !l.starts_with("blobfail:")).map(str::to_owned).collect();
        assert_eq!(said, stderr, "{argv:?}");
        let failed: Vec<(String, String, i64)> = sb
            .log_lines()
            .iter()
            .map(|l| (l["function"].as_str().unwrap().to_owned(), l["path"].as_str().unwrap().to_owned(), l["errno"].as_i64().unwrap()))
            .collect();
        let want: Vec<(String, String, i64)> = faults
            .iter()
            .map(|(f, file)| (f.to_string(), blobs.join(file).to_str().unwrap().to_owned(), i64::from(libc::ENOENT)))
            .collect();
        assert_eq!(failed, want, "{argv:?}");
    }
    for failed in ["copy", "teed", "dd"] {
        assert!(!sb.blobs().join(failed).exists(), "{failed} was created");
    }
    assert_eq!(std::fs::read_to_string(sb.path().join("other/back")).unwrap(), "old");
    assert_eq!(std::fs::read(sb.path().join("other/dd")).unwrap(), [0; 1024]);
}

/// The variadic opens hand the caller's mode on (the exports take it as a
/// fixed parameter): each file gets the mode it was created with, whether
/// the call went straight through (disarmed; armed, not matching), was
/// counted (matching), or counted and its descriptor tracked; and a
/// matching create the shim fails creates nothing.
#[test]
fn c_variadic_opens_create_files_with_the_callers_mode() {
    let program = c_program("modes", &[]);
    let want = "open 640\nopen64 604\nopenat 460\nopenat64 406\ncreat 641\ncreat64 614\nopen_tmpfile 600\n";
    let plans: [&[(&str, &str)]; 3] = [
        &[],
        &[("HARPER_TEST_BLOB_FAIL_INTERVAL", "1000")],
        &[("HARPER_TEST_BLOB_FAIL_INTERVAL", "1000"), ("HARPER_TEST_BLOB_FAIL_CALLS", "open,write")],
    ];
    for vars in plans {
        for sub in ["blobs", "other"] {
            let sb = Sandbox::new();
            let mut cmd = Command::new(&program);
            cmd.arg(sb.path().join(sub));
            let run = run_preloaded(cmd, vars);
            run.assert_success();
            assert_eq!(run.stdout(), want, "{vars:?}, under {sub}/");
            if !vars.is_empty() {
                // Under blobs/ all 7 matched (the O_TMPFILE open as its folder's) and none failed.
                let summary = run.shim_lines().into_iter().find(|l| l.starts_with("blobfail: summary ")).unwrap();
                let matching = if sub == "blobs" { 7 } else { 0 };
                assert!(summary.contains(&format!(" matching={matching} ")), "{summary}");
                assert!(summary.contains(" faults=0"), "{summary}");
            }
        }
    }
    // Every 2nd matching create fails: open64, openat64, creat64 create nothing.
    let sb = Sandbox::new();
    let mut cmd = Command::new(&program);
    cmd.arg(sb.blobs());
    let run = run_preloaded(cmd, &[("HARPER_TEST_BLOB_FAIL_INTERVAL", "2")]);
    run.assert_success();
    assert_eq!(
        run.stdout(),
        "open 640\nopen64 err 2\nopenat 460\nopenat64 err 2\ncreat 641\ncreat64 err 2\nopen_tmpfile 600\n"
    );
    let mut left: Vec<String> =
        std::fs::read_dir(sb.blobs()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    left.sort();
    assert_eq!(left, ["f0", "f2", "f4"]);
}
