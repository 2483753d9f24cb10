//! Runtime control (issue 19): `blobfail ctl FILE arm|heal|set` changes
//! the plan of a running process that maps FILE
//! (`HARPER_TEST_BLOB_FAIL_CONTROL`), by its next matching call; healed, it
//! passes everything and keeps its counters; every change it applies is a
//! line in its fault log; a bad `ctl` changes nothing.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use blobfail_suite::artifacts::{driver_path, shim_path};
use blobfail_suite::shim::{python3, Sandbox, SHIM_VARS};

/// Writes blobs/<n> for each line it reads, answering `ok` or the errno.
const WRITER: &str = r#"
import os, sys
n = 0
while sys.stdin.readline():
    n += 1
    try:
        with open(f"{sys.argv[1]}/blobs/{n}", "w") as f:
            f.write("x")
        print("ok", flush=True)
    except OSError as e:
        print(e.errno, flush=True)
"#;

fn ctl(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(driver_path()).arg("ctl").args(args).output().unwrap();
    (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn ctl_arms_sets_and_heals_a_running_process() {
    let sb = Sandbox::new();
    let file = sb.path().join("control");
    let f = file.to_str().unwrap();
    assert_eq!(ctl(&[f, "init"]).0, Some(0));
    assert_eq!(ctl(&[f, "heal"]).0, Some(0));
    let mut cmd = Command::new(python3());
    cmd.arg("-c").arg(WRITER).arg(sb.path());
    for v in SHIM_VARS {
        cmd.env_remove(v);
    }
    let log = sb.log();
    cmd.env("LD_PRELOAD", shim_path()).env("HARPER_TEST_BLOB_FAIL_CONTROL", &file).env("HARPER_TEST_BLOB_FAIL_LOG", &log);
    let mut child = cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
    let mut input = child.stdin.take().unwrap();
    let mut output = BufReader::new(child.stdout.take().unwrap());
    let mut step = |n: usize| -> Vec<String> {
        (0..n)
            .map(|_| {
                writeln!(input, "w").unwrap();
                let mut l = String::new();
                output.read_line(&mut l).unwrap();
                l.trim().to_string()
            })
            .collect()
    };
    assert_eq!(step(3), ["ok", "ok", "ok"], "healed from the start");
    let (code, out, err) = ctl(&[f, "set", "INTERVAL=2", "ERRNO=EIO"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("set INTERVAL=2 ERRNO=EIO"), "{out}");
    assert_eq!(step(2), ["ok", "ok"], "still healed: set does not arm");
    assert_eq!(ctl(&[f, "arm"]).0, Some(0));
    assert_eq!(step(4), ["ok", "5", "ok", "5"], "armed: every 2nd matching open fails with EIO");
    assert_eq!(ctl(&[f, "heal"]).0, Some(0));
    assert_eq!(step(2), ["ok", "ok"]);
    drop(step);
    drop(input);
    let status = child.wait().unwrap();
    assert!(status.success());
    let lines = sb.all_log_lines();
    let controls: Vec<&str> = lines.iter().filter(|l| l["control"] == true).map(|l| l["action"].as_str().unwrap()).collect();
    assert_eq!(controls.first(), Some(&"heal"));
    assert!(controls.contains(&"arm INTERVAL=2 ERRNO=EIO") && controls.last() == Some(&"heal INTERVAL=2 ERRNO=EIO"), "{controls:?}");
    let faults = lines.iter().filter(|l| l["fault"].is_u64()).count();
    assert_eq!(faults, 2);
    let summary = lines.iter().find(|l| l["summary"] == true).unwrap();
    assert_eq!(summary["matching"], 4, "only the armed calls counted, and the count was kept: {summary}");
}

#[test]
fn a_bad_ctl_is_one_line_and_changes_nothing() {
    let sb = Sandbox::new();
    let file = sb.path().join("control");
    let f = file.to_str().unwrap();
    let missing = sb.path().join("missing");
    let (code, _, err) = ctl(&[missing.to_str().unwrap(), "heal"]);
    assert_eq!((code, err.lines().count()), (Some(2), 1), "{err}");
    assert!(err.contains("cannot open the control file") && err.contains("init"), "{err}");
    let foreign = sb.path().join("foreign");
    std::fs::write(&foreign, vec![b'x'; 5000]).unwrap();
    let (code, _, err) = ctl(&[foreign.to_str().unwrap(), "arm"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("is not a blobfail control file"), "{err}");
    assert_eq!(std::fs::read(&foreign).unwrap(), vec![b'x'; 5000], "a foreign file is never written");
    assert_eq!(ctl(&[f, "init"]).0, Some(0));
    let before = std::fs::read(&file).unwrap();
    for (pairs, says) in [
        (vec!["set", "INTERVAL=3", "EFFECT=explode"], "EFFECT=\"explode\" is not a valid value"),
        (vec!["set", "PATH=/x/"], "PATH cannot be set at run time"),
        (vec!["set", "INTERVAL"], "\"INTERVAL\" is not VAR=VALUE"),
        (vec!["set", "SPACE=1MB"], "a decimal unit"),
    ] {
        let mut args = vec![f];
        args.extend(pairs);
        let (code, _, err) = ctl(&args);
        assert_eq!((code, err.lines().count()), (Some(2), 1), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
    assert_eq!(std::fs::read(&file).unwrap(), before, "never half-applied");
}
