//! The shim under hostile conditions (issue 6, items 1–6): many threads,
//! fork and exec, opens from a signal handler, hostile variable values, an
//! unwritable log, a closed stderr, hostile paths, and valgrind. Each test
//! asserts exact outcomes, and each program runs under a time limit, so a
//! hang fails the test instead of blocking the suite. RELIABILITY.md maps
//! each hazard to its test here.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::process::Command;
use std::time::Duration;

use blobfail_suite::shim::{c_program, every_nth, output_within, run_preloaded_within, Run, Sandbox};

const INTERVAL: &str = "HARPER_TEST_BLOB_FAIL_INTERVAL";
const LOG: &str = "HARPER_TEST_BLOB_FAIL_LOG";

/// A generous bound for any one program here; they take well under a second.
const LIMIT: Duration = Duration::from_secs(60);

const ENTRY_POINTS: &[&str] = &[
    "open", "open64", "openat", "openat64", "__open_2", "__open64_2", "__openat_2", "__openat64_2",
    "creat", "creat64", "fopen", "fopen64", "freopen", "freopen64",
];

fn os(s: &str) -> &OsStr {
    OsStr::new(s)
}

/// The `blobfail: summary pid=<pid> ...` lines, by pid, as "matching=<m> faults=<f>".
fn summaries(run: &Run) -> BTreeMap<String, String> {
    run.shim_lines()
        .iter()
        .filter_map(|l| l.strip_prefix("blobfail: summary pid="))
        .map(|rest| {
            let (pid, counts) = rest.split_once(' ').unwrap();
            (pid.to_string(), counts.to_string())
        })
        .collect()
}

/// `key=value` words of one line, by key.
fn fields(line: &str) -> BTreeMap<&str, &str> {
    line.split_whitespace().filter_map(|w| w.split_once('=')).collect()
}

fn num(f: &BTreeMap<&str, &str>, key: &str) -> u64 {
    f.get(key).unwrap_or_else(|| panic!("no {key} in {f:?}")).parse().unwrap()
}

// --- 1. many threads ------------------------------------------------------

/// 16 threads × 20 000 matching opens at once with N = 13: exactly
/// ⌊320 000 / 13⌋ = 24 615 faults, seen by the program, said by the exit
/// summary, and logged one line each at exactly the multiples of 13.
#[test]
fn sixteen_threads_by_twenty_thousand_opens_fault_exactly_every_thirteenth() {
    let sb = Sandbox::new();
    let mut cmd = Command::new(c_program("threads", &[]));
    cmd.arg(sb.path()).args(["16", "20000"]);
    let log = sb.log();
    let run = run_preloaded_within(cmd, &[(INTERVAL, os("13")), (LOG, log.as_os_str())], LIMIT);
    run.assert_success();
    let faults = 320_000 / 13;
    assert_eq!(faults, 24_615);
    assert_eq!(run.stdout().trim(), format!("failed={faults} other=0"));
    let summary = summaries(&run);
    assert_eq!(summary.values().collect::<Vec<_>>(), [&format!("matching=320000 faults={faults}")]);

    let lines = sb.log_lines();
    assert_eq!(lines.len(), faults as usize);
    let mut seqs: Vec<u64> = lines.iter().map(|l| l["seq"].as_u64().unwrap()).collect();
    let mut numbers: Vec<u64> = lines.iter().map(|l| l["fault"].as_u64().unwrap()).collect();
    seqs.sort_unstable();
    numbers.sort_unstable();
    assert_eq!(seqs, every_nth(13, 320_000));
    assert_eq!(numbers, (1..=faults).collect::<Vec<_>>());
}

// --- 2. fork and exec -----------------------------------------------------

/// A program with 4 parked threads and one busy in the shim forks after 100
/// matching opens (N = 7): parent and child each go on from 100, so each
/// fails its own opens 5, 12, ... (100 + i ≡ 0 mod 7), and each reports 150
/// matching calls and 21 faults on exit; a program exec'd afterwards starts
/// from 0 (fails 7, 14, ...). Ten times over, each bounded in time: a fork
/// while another thread is inside the shim must not deadlock the child.
#[test]
fn fork_from_threads_keeps_exact_positions_and_exec_starts_from_zero() {
    let exe = c_program("fork_counts", &[]);
    let after_fork: String = (1..=50u64).filter(|i| (100 + i) % 7 == 0).map(|i| i.to_string()).collect::<Vec<_>>().join(",");
    assert_eq!(after_fork, "5,12,19,26,33,40,47");
    let fresh: String = every_nth(7, 50).iter().map(|i| i.to_string()).collect::<Vec<_>>().join(",");
    for round in 0..10 {
        let sb = Sandbox::new();
        let mut cmd = Command::new(&exe);
        cmd.arg(sb.path()).args(["4", "25", "50"]);
        let run = run_preloaded_within(cmd, &[(INTERVAL, os("7"))], LIMIT);
        run.assert_success();
        let stdout = run.stdout();
        let mut pids = BTreeMap::new();
        let mut seen = Vec::new();
        for line in stdout.lines() {
            let (role, rest) = line.split_once(' ').unwrap();
            let f = fields(rest);
            match role {
                "pre" => assert_eq!(f["failed"], "14", "round {round}: {stdout}"),
                "parent" | "child" => assert_eq!(f["fails"], after_fork, "round {round} {role}: {stdout}"),
                "fresh" => assert_eq!(f["fails"], fresh, "round {round}: {stdout}"),
                _ => panic!("unexpected line {line:?}"),
            }
            if let Some(pid) = f.get("pid") {
                pids.insert(role.to_string(), pid.to_string());
            }
            seen.push(role.to_string());
        }
        seen.sort();
        assert_eq!(seen, ["child", "fresh", "parent", "pre"], "round {round}: {stdout}");

        let summary = summaries(&run);
        assert_eq!(summary.len(), 3, "one summary per process: {:?}", run.shim_lines());
        assert_eq!(summary[&pids["parent"]], "matching=150 faults=21");
        assert_eq!(summary[&pids["child"]], "matching=150 faults=21");
        assert_eq!(summary[&pids["fresh"]], "matching=50 faults=7");
        // A banner from each program the loader started, none from the fork.
        let banners: Vec<String> = run.shim_lines().into_iter().filter(|l| l.starts_with("blobfail: armed")).collect();
        assert_eq!(banners.len(), 2, "{banners:?}");
        assert!(banners.iter().any(|b| b.starts_with(&format!("blobfail: armed pid={} ", pids["parent"]))));
        assert!(banners.iter().any(|b| b.starts_with(&format!("blobfail: armed pid={} ", pids["fresh"]))));
    }
}

// --- 3. signal handlers ---------------------------------------------------

/// An interval timer fires SIGALRM every 50 µs and its handler opens a
/// matching file, interrupting the main loop's own 50 000 matching opens
/// (often inside the shim). No deadlock (the run is bounded), and the total
/// is exact: handler and main faults add up to ⌊total / 13⌋, the summary
/// says the same, and the log holds one line per fault at the multiples of 13.
#[test]
fn opens_from_a_signal_handler_every_50us_neither_deadlock_nor_miscount() {
    let sb = Sandbox::new();
    let mut cmd = Command::new(c_program("signal_opens", &[]));
    cmd.arg(sb.path()).args(["50000", "50"]);
    let log = sb.log();
    let run = run_preloaded_within(cmd, &[(INTERVAL, os("13")), (LOG, log.as_os_str())], LIMIT);
    run.assert_success();
    let stdout = run.stdout();
    let f = fields(stdout.trim());
    let (main, handler) = (num(&f, "main"), num(&f, "handler"));
    assert_eq!(main, 50_000);
    assert_eq!(num(&f, "other"), 0, "{stdout}");
    // The timer really interrupted the loop, many times.
    assert!(handler >= 200, "the handler ran only {handler} times: {stdout}");
    let total = main + handler;
    let faults = total / 13;
    assert_eq!(num(&f, "main_failed") + num(&f, "handler_failed"), faults, "{stdout}");
    assert_eq!(summaries(&run).values().collect::<Vec<_>>(), [&format!("matching={total} faults={faults}")]);
    let mut seqs: Vec<u64> = sb.log_lines().iter().map(|l| l["seq"].as_u64().unwrap()).collect();
    seqs.sort_unstable();
    assert_eq!(seqs, every_nth(13, total));
}

// --- 4. hostile variable values ------------------------------------------

/// Ten write-opens under blobs/ through open64, bounded in time.
fn ten_writes(sb: &Sandbox, vars: &[(&str, &OsStr)]) -> Run {
    let mut cmd = Command::new(c_program("opens", &[]));
    cmd.arg(sb.path()).args((0..10).map(|_| "open64:w"));
    let run = run_preloaded_within(cmd, vars, Duration::from_secs(20));
    run.assert_success();
    assert_eq!(run.calls(), 10, "{}", run.stdout());
    run
}

fn invalid_numbers() -> Vec<Vec<u8>> {
    let mut v: Vec<Vec<u8>> = [
        " ", "  1", "1 ", "\t1", "+1", "-1", "0x1", "0X1A", "1e3", "1.0", "1_000", "1junk", "1\n",
        "18446744073709551616", "99999999999999999999999999999999", "\u{661}", "\u{ff11}",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    v.push(b"1\xff".to_vec());
    v.push(b"\xff\xfe".to_vec());
    v.push(b"\xc3".to_vec());
    v.push(vec![b'9'; 100_000]); // very long, overflowing
    v
}

/// Each hostile value, alone: exactly one warning, naming its variable and
/// showing the value safely, no banner, no summary, and no call fails
/// (with INTERVAL=1 any injection at all would show). Non-UTF-8 values go
/// into the environment as raw bytes.
#[test]
fn hostile_values_warn_once_naming_the_variable_and_never_inject() {
    let sb = Sandbox::new();
    let mut cases: Vec<(&str, Vec<u8>)> = Vec::new();
    for v in invalid_numbers() {
        cases.push((INTERVAL, v.clone()));
        cases.push(("HARPER_TEST_BLOB_FAIL_SKIP", v.clone()));
        cases.push(("HARPER_TEST_BLOB_FAIL_MAX", v.clone()));
        cases.push(("HARPER_TEST_BLOB_FAIL_ERRNO", v));
    }
    cases.push((INTERVAL, b"0".to_vec()));
    cases.push(("HARPER_TEST_BLOB_FAIL_ERRNO", b"0".to_vec()));
    cases.push(("HARPER_TEST_BLOB_FAIL_ERRNO", b"4096".to_vec()));
    cases.push(("HARPER_TEST_BLOB_FAIL_ERRNO", b"ENOENT ".to_vec()));
    cases.push(("HARPER_TEST_BLOB_FAIL_ERRNO", b"E\xffIO".to_vec()));
    for ops in [&b" write"[..], b"writes", b"WRITE\xff", b"1", b"read", b"\xff"] {
        cases.push(("HARPER_TEST_BLOB_FAIL_OPS", ops.to_vec()));
    }
    cases.push(("HARPER_TEST_BLOB_FAIL_PATH", vec![b'/'; 257]));
    cases.push(("HARPER_TEST_BLOB_FAIL_PATH", vec![b'x'; 100_000]));
    cases.push((LOG, vec![b'/'; 4096]));
    cases.push((LOG, vec![b'a'; 100_000]));

    for (var, value) in &cases {
        let value = OsStr::from_bytes(value);
        let mut vars = vec![(*var, value)];
        if *var != INTERVAL {
            vars.push((INTERVAL, os("1")));
        }
        let run = ten_writes(&sb, &vars);
        let shown = format!("{var}={value:?}");
        assert_eq!(run.failures(), [], "{shown} injected:\n{}", run.stdout());
        let lines: Vec<String> = run.stderr().lines().map(str::to_owned).collect();
        assert_eq!(lines.len(), 1, "{shown}: {lines:?}");
        assert!(lines[0].starts_with(&format!("blobfail: ignoring {var}=\"")), "{shown}: {}", lines[0]);
        assert!(lines[0].ends_with("; fault injection is off until it is fixed or unset"), "{}", lines[0]);
        assert!(lines[0].len() < 512, "the warning is one bounded line: {}", lines[0].len());
    }
}

/// Every variable invalid at once: one warning per variable, in a fixed
/// order, and nothing injected.
#[test]
fn every_variable_invalid_at_once_warns_once_for_each() {
    let sb = Sandbox::new();
    let path = OsString::from_vec(vec![b'p'; 300]);
    let log = OsString::from_vec(vec![b'l'; 5000]);
    let vars: Vec<(&str, &OsStr)> = vec![
        (INTERVAL, OsStr::from_bytes(b"7\xff")),
        ("HARPER_TEST_BLOB_FAIL_SKIP", os("-3")),
        ("HARPER_TEST_BLOB_FAIL_MAX", os("0x10")),
        ("HARPER_TEST_BLOB_FAIL_ERRNO", os("EWHAT")),
        ("HARPER_TEST_BLOB_FAIL_OPS", os("both")),
        ("HARPER_TEST_BLOB_FAIL_PATH", &path),
        (LOG, &log),
        ("HARPER_TEST_BLOB_FAIL_CALLS", os("open,reads")),
        ("HARPER_TEST_BLOB_FAIL_SPACE", os("10MB")),
        ("HARPER_TEST_BLOB_FAIL_DELAY", os("50")),
        ("HARPER_TEST_BLOB_FAIL_SCOPE", os("world")),
        ("HARPER_TEST_BLOB_FAIL_IO_URING", os("off")),
    ];
    let run = ten_writes(&sb, &vars);
    assert_eq!(run.failures(), []);
    let named: Vec<String> = run
        .stderr()
        .lines()
        .map(|l| l.strip_prefix("blobfail: ignoring ").unwrap().split('=').next().unwrap().to_string())
        .collect();
    let want: Vec<String> =
        ["INTERVAL", "SKIP", "MAX", "ERRNO", "OPS", "PATH", "LOG", "CALLS", "SPACE", "DELAY", "SCOPE", "IO_URING"]
            .iter().map(|v| format!("HARPER_TEST_BLOB_FAIL_{v}")).collect();
    assert_eq!(named, want);
}

/// Empty counts as unset: an empty INTERVAL is silent and off; an empty
/// anything else takes its default. Valid values that are not UTF-8 (a
/// needle, a log path) are taken byte for byte.
#[test]
fn empty_values_are_unset_and_non_utf8_paths_are_taken_as_bytes() {
    let sb = Sandbox::new();
    let run = ten_writes(&sb, &[(INTERVAL, os(""))]);
    assert_eq!(run.stderr(), "");
    assert_eq!(run.failures(), []);

    let empty = os("");
    let run = ten_writes(
        &sb,
        &[
            (INTERVAL, os("5")),
            ("HARPER_TEST_BLOB_FAIL_ERRNO", empty),
            ("HARPER_TEST_BLOB_FAIL_SKIP", empty),
            ("HARPER_TEST_BLOB_FAIL_MAX", empty),
            ("HARPER_TEST_BLOB_FAIL_OPS", empty),
            ("HARPER_TEST_BLOB_FAIL_PATH", empty),
            (LOG, empty),
        ],
    );
    assert_eq!(run.failures(), [(5, "2".to_string()), (10, "2".to_string())]);

    // A needle that is not UTF-8 matches nothing here, and says so in its banner.
    let run = ten_writes(&sb, &[(INTERVAL, os("1")), ("HARPER_TEST_BLOB_FAIL_PATH", OsStr::from_bytes(b"/bl\xffobs/"))]);
    assert_eq!(run.failures(), []);
    assert!(run.shim_lines()[0].contains(" path=/bl\\xffobs/ "), "{:?}", run.shim_lines());
    // A log path that is not UTF-8 is written to, as is.
    let log = sb.path().join(OsStr::from_bytes(b"faults-\xff.jsonl"));
    let run = ten_writes(&sb, &[(INTERVAL, os("4")), (LOG, log.as_os_str())]);
    assert_eq!(run.failures(), [(4, "2".to_string()), (8, "2".to_string())]);
    let logged = std::fs::read_to_string(&log).unwrap();
    let summaries = logged.lines().filter(|l| l.contains(r#""summary":true"#)).count();
    assert_eq!((logged.lines().count() - summaries, summaries), (2, 1), "two faults, then the summary:\n{logged}");
}

// --- 5. the log, stderr, and hostile paths --------------------------------

/// A log that cannot be written: under a regular file (ENOTDIR: the open
/// fails at load), or /proc/version (the open works, every write fails with
/// EIO: the warning comes at the first fault). Either way exactly one
/// warning, and injection goes on exactly.
#[test]
fn log_in_an_unwritable_place_warns_once_and_injection_goes_on() {
    let sb = Sandbox::new();
    let file = sb.path().join("a-file");
    std::fs::write(&file, "").unwrap();
    for (log, errno) in [(file.join("faults.jsonl"), "ENOTDIR"), ("/proc/version".into(), "EIO")] {
        let run = ten_writes(&sb, &[(INTERVAL, os("3")), (LOG, log.as_os_str())]);
        assert_eq!(run.failures(), [3, 6, 9].map(|k| (k, "2".to_string())), "{}", log.display());
        let warnings: Vec<String> =
            run.shim_lines().into_iter().filter(|l| l.contains("cannot write the fault log")).collect();
        assert_eq!(warnings.len(), 1, "{}", run.stderr());
        assert!(warnings[0].contains(&format!("({errno}); faults are still injected, but not logged")), "{}", warnings[0]);
        assert!(run.shim_lines().last().unwrap().ends_with("matching=10 faults=3"));
    }
    assert_eq!(std::fs::read(&file).unwrap(), b"", "nothing written through the file");
}

/// Regression: with stderr closed, the next file the program opens is fd 2,
/// and the shim wrote its warnings and exit summary into it. Now, whether
/// the caller closed stderr (`2>&-`) or the program closed it itself, the
/// program's file holds exactly what it wrote, and the faults are the same.
/// The log is /proc/version, so a warning falls due mid-run, after the close.
#[test]
fn closed_stderr_changes_no_result_and_no_file() {
    for how in ["caller", "program"] {
        let sb = Sandbox::new();
        let mut cmd = Command::new(c_program("closed_stderr", &[]));
        cmd.arg(sb.path()).arg("10");
        if how == "program" {
            cmd.arg("close");
        } else {
            use std::os::unix::process::CommandExt;
            // SAFETY: close(2) is async-signal-safe, which is all that may
            // run between fork and exec; it only closes the child's fd 2.
            unsafe {
                cmd.pre_exec(|| {
                    libc::close(2);
                    Ok(())
                });
            }
        }
        let run = run_preloaded_within(cmd, &[(INTERVAL, os("3")), (LOG, os("/proc/version"))], LIMIT);
        run.assert_success();
        assert_eq!(run.stdout(), "keep_fd=2 failed=3 other=0\n", "{how}");
        assert_eq!(std::fs::read_to_string(sb.path().join("other/keep")).unwrap(), "payload\n", "{how}");
        let lines = run.shim_lines();
        if how == "program" {
            // The banner went out before the program closed its stderr; nothing after.
            assert_eq!(lines.len(), 1, "{lines:?}");
            assert!(lines[0].starts_with("blobfail: armed"), "{lines:?}");
        } else {
            assert_eq!(run.stderr(), "");
        }
    }
}

/// Runs hostile_paths in a fresh sandbox, preloaded and armed (N = 1, with
/// a log) or not preloaded at all; its lines by "<case> <entry>".
fn hostile_paths(preload: bool) -> (Sandbox, Run, BTreeMap<String, String>) {
    let sb = Sandbox::new();
    for e in ENTRY_POINTS {
        // The fortified entry points cannot create: the files must exist.
        let mut name = b"\xff\xfe-".to_vec();
        name.extend_from_slice(e.as_bytes());
        std::fs::write(sb.blobs().join(OsStr::from_bytes(&name)), "").unwrap();
        let mut name = b"\xff-".to_vec();
        name.extend_from_slice(e.as_bytes());
        std::fs::write(sb.path().join("other").join(OsStr::from_bytes(&name)), "").unwrap();
    }
    let mut cmd = Command::new(c_program("hostile_paths", &[]));
    cmd.arg(sb.path());
    let run = if preload {
        let log = sb.log();
        run_preloaded_within(cmd, &[(INTERVAL, os("1")), (LOG, log.as_os_str())], LIMIT)
    } else {
        cmd.env_remove("LD_PRELOAD");
        Run { output: output_within(cmd, LIMIT) }
    };
    run.assert_success();
    let results = run
        .stdout()
        .lines()
        .map(|l| {
            let mut w = l.splitn(3, ' ');
            (format!("{} {}", w.next().unwrap(), w.next().unwrap()), w.next().unwrap().to_string())
        })
        .collect();
    (sb, run, results)
}

/// NULL paths, paths longer than PATH_MAX, non-UTF-8 paths, and a cwd
/// deeper than PATH_MAX, through every entry point with N = 1 (every
/// matching call fails): never a crash. Where the shim cannot decide, the
/// caller gets exactly what the real function gives without the shim (EFAULT
/// for NULL, ENAMETOOLONG for a path too long, success in the deep cwd) and
/// nothing is counted; a non-UTF-8 path under blobs/ still matches, and is
/// logged with `path_lossy`. (Regression: a path of PATH_MAX bytes or more
/// under blobs/ used to get the injected ENOENT instead of ENAMETOOLONG.)
#[test]
fn null_overlong_and_non_utf8_paths_get_the_real_result_or_match() {
    let (_, plain_run, plain) = hostile_paths(false);
    let (sb, run, shimmed) = hostile_paths(true);
    assert_eq!(plain.len(), 4 * 14 + 4, "{}", plain_run.stdout());
    assert_eq!(shimmed.keys().collect::<Vec<_>>(), plain.keys().collect::<Vec<_>>());
    for e in ENTRY_POINTS {
        let null = if e.starts_with("freopen") { "ok" } else { "err 14" }; // EFAULT
        assert_eq!(shimmed[&format!("null {e}")], null, "null {e}");
        assert_eq!(shimmed[&format!("long {e}")], "err 36", "long {e}"); // ENAMETOOLONG
        assert_eq!(shimmed[&format!("other {e}")], "ok", "other {e}");
        assert_eq!(shimmed[&format!("lossy {e}")], "err 2", "lossy {e}: matched and failed");
        assert_eq!(plain[&format!("lossy {e}")], "ok", "lossy {e} without the shim");
    }
    for (key, result) in &shimmed {
        if !key.starts_with("lossy ") {
            assert_eq!(result, &plain[key], "{key}: the real function's own result");
        }
    }
    for e in ["open", "openat", "creat", "fopen"] {
        assert_eq!(shimmed[&format!("deep {e}")], "ok");
    }
    // Only the 14 lossy calls counted.
    assert_eq!(summaries(&run).values().collect::<Vec<_>>(), ["matching=14 faults=14"]);
    let lines = sb.log_lines();
    assert_eq!(lines.len(), 14);
    for (line, e) in lines.iter().zip(ENTRY_POINTS) {
        assert_eq!(line["function"], *e);
        assert_eq!(line["path_lossy"], true, "{line}");
        let mut want = sb.blobs().into_os_string().into_vec();
        want.extend_from_slice(b"/\xff\xfe-");
        want.extend_from_slice(e.as_bytes());
        assert_eq!(line["path"], String::from_utf8_lossy(&want).as_ref(), "{line}");
    }
}

// --- 6. valgrind ------------------------------------------------------------

/// memcheck over a C program that goes through all 14 entry points (writes
/// under blobs/, reads under blobs/, writes elsewhere; twice round) with the
/// shim armed (N = 3) and logging: no memory error, and the same exact
/// faults as without valgrind. valgrind must be installed: its absence
/// fails this test, it never passes silently.
#[test]
fn valgrind_memcheck_finds_no_errors_through_every_entry_point() {
    match Command::new("valgrind").arg("--version").output() {
        Ok(out) if out.status.success() => {}
        Ok(out) => panic!("`valgrind --version` failed: {}", String::from_utf8_lossy(&out.stderr)),
        Err(e) => panic!(
            "valgrind is needed for this test and could not be run ({e}): install it \
             (Debian/Ubuntu: apt-get install valgrind); this test never passes without it"
        ),
    }
    let sb = Sandbox::new();
    let mut specs = Vec::new();
    for _ in 0..2 {
        for e in ENTRY_POINTS {
            for target in ["w", "r", "o"] {
                specs.push(format!("{e}:{target}"));
            }
        }
    }
    for i in 0..=specs.len() {
        std::fs::write(sb.blobs().join(format!("f{i}")), "").unwrap();
        std::fs::write(sb.path().join("other").join(format!("f{i}")), "").unwrap();
    }
    let mut cmd = Command::new("valgrind");
    cmd.args(["--error-exitcode=99", "--leak-check=no", "--trace-children=no"])
        .arg(c_program("opens", &[]))
        .arg(sb.path())
        .args(&specs);
    let log = sb.log();
    let run = run_preloaded_within(cmd, &[(INTERVAL, os("3")), (LOG, log.as_os_str())], Duration::from_secs(120));
    let stderr = run.stderr();
    assert_ne!(run.output.status.code(), Some(99), "memcheck found errors:\n{stderr}");
    run.assert_success();
    assert!(stderr.contains("ERROR SUMMARY: 0 errors from 0 contexts"), "{stderr}");

    // 28 matching writes: the 3rd, 6th, ... fail; reads and other/ never.
    let mut matching = 0;
    let mut failed = Vec::new();
    for line in run.stdout().lines() {
        let w: Vec<&str> = line.split_whitespace().collect();
        if w[2] == "w" {
            matching += 1;
            if w[3] == "err" {
                assert_eq!(w[4], "2", "{line}");
                failed.push(matching);
            }
        } else {
            assert_eq!(w[3], "ok", "{line}");
        }
    }
    assert_eq!(matching, 28);
    assert_eq!(failed, every_nth(3, 28));
    assert_eq!(sb.log_lines().len(), 9);
    assert!(run.shim_lines().iter().any(|l| l.ends_with("matching=28 faults=9")), "{:?}", run.shim_lines());
}

/// The time bound every test above relies on: a program that hangs is
/// killed at its limit and fails the test, instead of blocking the suite.
#[test]
#[should_panic(expected = "was still running after")]
fn a_hanging_program_fails_at_its_time_limit() {
    let mut cmd = Command::new("sh");
    // A child of the child too: the whole process group goes.
    cmd.args(["-c", "sleep 30 & sleep 30"]);
    output_within(cmd, Duration::from_millis(500));
}

// --- the write-path hooks (issue 11) ----------------------------------------

const CALLS: &str = "HARPER_TEST_BLOB_FAIL_CALLS";
const ERRNO: &str = "HARPER_TEST_BLOB_FAIL_ERRNO";

/// 16 threads × 20 000 one-byte writes, each thread on its own tracked
/// descriptor, N = 13: exactly ⌊320 000 / 13⌋ = 24 615 EIOs and no other
/// error; the summary and the log agree, at exactly the multiples of 13.
#[test]
fn sixteen_threads_by_twenty_thousand_writes_fault_exactly_every_thirteenth() {
    let sb = Sandbox::new();
    let mut cmd = Command::new(c_program("write_stress", &[]));
    cmd.arg("threads").arg(sb.path()).args(["16", "20000"]);
    let log = sb.log();
    let vars = [(INTERVAL, os("13")), (CALLS, os("write")), (ERRNO, os("EIO")), (LOG, log.as_os_str())];
    let run = run_preloaded_within(cmd, &vars, LIMIT);
    run.assert_success();
    assert_eq!(run.stdout().trim(), "writes=320000 failed=24615 other=0");
    assert!(run.shim_lines().last().unwrap().ends_with(" matching=320000 faults=24615 write=320000/24615"));
    let mut seqs: Vec<u64> = sb.log_lines().iter().map(|l| l["seq"].as_u64().unwrap()).collect();
    seqs.sort_unstable();
    assert_eq!(seqs, every_nth(13, 320_000));
}

/// write() from a SIGALRM handler every 50 µs, on a tracked descriptor it
/// also dup2s over a spare number and closes (so the descriptor table
/// changes inside the handler), while main writes to another: no deadlock,
/// and the count is exact across both.
#[test]
fn writes_dup2_and_close_from_a_signal_handler_neither_deadlock_nor_miscount() {
    let sb = Sandbox::new();
    let mut cmd = Command::new(c_program("write_stress", &[]));
    cmd.arg("signal").arg(sb.path()).args(["100000", "50"]);
    let vars = [(INTERVAL, os("13")), (CALLS, os("write,close")), (ERRNO, os("EIO"))];
    let run = run_preloaded_within(cmd, &vars, LIMIT);
    run.assert_success();
    let stdout = run.stdout();
    let f = fields(stdout.trim());
    let (main, handler) = (num(&f, "main"), num(&f, "handler"));
    assert_eq!(num(&f, "other"), 0, "{stdout}");
    assert!(handler >= 200, "the handler ran only {handler} times: {stdout}");
    let writes = main + handler;
    assert_eq!(num(&f, "main_failed") + num(&f, "handler_failed"), writes / 13, "{stdout}");
    // Every close of the handler's dup counted as a matching close (the
    // program exits with its own two descriptors open).
    let summary = run.shim_lines().last().unwrap().clone();
    assert!(summary.contains(&format!(" write={writes}/{} close=", writes / 13)), "{summary}");
    let close = summary.rsplit(" close=").next().unwrap();
    let (matching, _) = close.split_once('/').unwrap();
    assert_eq!(matching.parse::<u64>().unwrap(), handler, "one close per handler run: {summary}");
}

/// fork keeps the descriptor table and the count: after 5 writes, parent
/// and child each fail their own 2nd, 9th, ... writes (7, 14, ... overall).
#[test]
fn a_forked_child_keeps_tracked_descriptors_and_the_count() {
    let sb = Sandbox::new();
    let mut cmd = Command::new(c_program("write_stress", &[]));
    cmd.arg("fork").arg(sb.path()).args(["5", "30"]);
    let run = run_preloaded_within(cmd, &[(INTERVAL, os("7")), (CALLS, os("write")), (ERRNO, os("EIO"))], LIMIT);
    run.assert_success();
    assert_eq!(run.stdout(), "child fails=2,9,16,23,30\nparent fails=2,9,16,23,30\n");
}

/// valgrind memcheck over every new entry point, armed with every family
/// and a space budget, logging.
#[test]
fn valgrind_memcheck_finds_no_errors_through_every_write_path_entry_point() {
    let entries = [
        "write", "pwrite", "pwrite64", "writev", "pwritev", "pwritev64", "pwritev2", "pwritev64v2", "fsync", "fdatasync",
        "sync_file_range", "close", "ftruncate", "ftruncate64", "fallocate", "fallocate64", "posix_fallocate",
        "posix_fallocate64", "truncate", "truncate64", "rename", "renameat", "renameat2", "mkdir", "mkdirat", "unlink",
        "unlinkat", "rmdir", "mkstemp", "mkstemp64", "mkostemp", "mkostemp64", "mkstemps", "mkstemps64", "mkostemps",
        "mkostemps64", "tmpfile", "dup", "dup2", "dup3", "fcntl_dupfd", "fcntl_dupfd_cloexec", "dup2_over",
    ];
    let sb = Sandbox::new();
    let specs: Vec<String> = entries.iter().flat_map(|e| [format!("{e}:w"), format!("{e}:o")]).collect();
    let mut cmd = Command::new("valgrind");
    cmd.args(["--error-exitcode=99", "--leak-check=no", "--trace-children=no"])
        .arg(c_program("writes", &[]))
        .arg(sb.path())
        .args(&specs);
    let log = sb.log();
    let vars = [(INTERVAL, os("3")), (CALLS, os("all")), ("HARPER_TEST_BLOB_FAIL_SPACE", os("100")), (LOG, log.as_os_str())];
    let run = run_preloaded_within(cmd, &vars, Duration::from_secs(180));
    let stderr = run.stderr();
    assert_ne!(run.output.status.code(), Some(99), "memcheck found errors:\n{stderr}");
    run.assert_success();
    assert!(stderr.contains("ERROR SUMMARY: 0 errors from 0 contexts"), "{stderr}");
    assert_eq!(run.stdout().lines().count(), specs.len());
    // Nothing under other/ ever fails; faults were injected and logged.
    for line in run.stdout().lines() {
        if line.split_whitespace().nth(2) == Some("o") {
            assert!(line.ends_with(" ok"), "{line}");
        }
    }
    let faults = sb.log_lines().len();
    assert!(faults >= 20, "{faults} faults:\n{}", run.stdout());
    let summary = run.shim_lines().into_iter().find(|l| l.starts_with("blobfail: summary ")).unwrap();
    assert!(summary.contains(&format!(" faults={faults} ")), "{summary}");
}
