//! Effects beyond failing (`HARPER_TEST_BLOB_FAIL_EFFECT`, issue 19): a
//! crash before or after the call, corrupt bytes, a dropped write, a faked
//! sync, under either trigger (every Nth, or the space budget), in the C
//! test program (every write entry point) and in Node.

use std::os::unix::process::ExitStatusExt;
use std::process::Command;

use blobfail_suite::shim::{c_program, run_preloaded, Run, Sandbox};

const INTERVAL: &str = "HARPER_TEST_BLOB_FAIL_INTERVAL";
const CALLS: &str = "HARPER_TEST_BLOB_FAIL_CALLS";
const SPACE: &str = "HARPER_TEST_BLOB_FAIL_SPACE";
const EFFECT: &str = "HARPER_TEST_BLOB_FAIL_EFFECT";
const CORRUPT: &str = "HARPER_TEST_BLOB_FAIL_CORRUPT";
const SEED: &str = "HARPER_TEST_BLOB_FAIL_SEED";
const LOG: &str = "HARPER_TEST_BLOB_FAIL_LOG";

/// Runs `writes` on `specs` (see tests/programs/writes.c) with `vars` and a fault log.
fn writes(sb: &Sandbox, specs: &[&str], vars: &[(&str, &str)]) -> Run {
    let mut cmd = Command::new(c_program("writes", &[]));
    cmd.arg(sb.path()).args(specs);
    let log = sb.log();
    let mut v = vars.to_vec();
    v.push((LOG, log.to_str().unwrap()));
    run_preloaded(cmd, &v)
}

fn blob(sb: &Sandbox, n: usize) -> Vec<u8> {
    std::fs::read(sb.blobs().join(format!("f{n}"))).unwrap_or_else(|e| panic!("blobs/f{n}: {e}"))
}

/// crash-before: the second write kills the process (SIGKILL) before it
/// reaches the kernel; crash-after: after. The fault line is in the log,
/// with no summary line after it (a killed process runs no exit handler).
#[test]
fn crashes_kill_the_process_before_or_after_the_call() {
    for (effect, second) in [("crash-before", &b""[..]), ("crash-after", b"hello")] {
        for entry in ["write", "pwrite64", "writev", "pwritev2"] {
            let sb = Sandbox::new();
            let (a, b, c) = (format!("{entry}:w"), format!("{entry}:w"), format!("{entry}:w"));
            let run = writes(&sb, &[&a, &b, &c], &[(INTERVAL, "2"), (CALLS, "write"), (EFFECT, effect)]);
            assert_eq!(run.output.status.signal(), Some(libc::SIGKILL), "{effect} {entry}: {}", run.output.status);
            assert_eq!(blob(&sb, 1), b"hello");
            assert_eq!(blob(&sb, 2), second, "{effect} {entry}");
            assert!(!sb.blobs().join("f3").exists(), "{effect} {entry}: nothing ran after the crash");
            let lines = sb.all_log_lines();
            assert_eq!(lines.len(), 1, "{effect} {entry}: the fault line only, no summary: {lines:?}");
            assert_eq!((lines[0]["effect"].as_str(), lines[0]["function"].as_str(), lines[0]["seq"].as_u64()), (Some(effect), Some(entry), Some(2)));
        }
    }
    // Any family: a crash at the third matching open, and at a rename.
    let sb = Sandbox::new();
    let run = writes(&sb, &["write:w", "write:w", "write:w", "write:w"], &[(INTERVAL, "3"), (EFFECT, "crash-before")]);
    assert_eq!(run.output.status.signal(), Some(libc::SIGKILL));
    assert_eq!((blob(&sb, 1), blob(&sb, 2)), (b"hello".to_vec(), b"hello".to_vec()));
    assert!(!sb.blobs().join("f3").exists(), "the third open never reached the kernel");
    let sb = Sandbox::new();
    let run = writes(&sb, &["rename:w", "rename:w"], &[(INTERVAL, "2"), (CALLS, "rename"), (EFFECT, "crash-after")]);
    assert_eq!(run.output.status.signal(), Some(libc::SIGKILL));
    assert_eq!(sb.log_lines()[0]["call"], "rename");
}

/// corrupt: the call reports full success, the file holds other bytes
/// than the caller's exactly where the log says, as many as it says; the
/// same seed gives the same change.
#[test]
fn corrupt_changes_what_reaches_the_file_where_the_log_says() {
    for mode in ["flip", "zero", "random"] {
        for entry in ["write", "pwrite", "pwrite64", "writev", "pwritev", "pwritev64", "pwritev2", "pwritev64v2"] {
            let sb = Sandbox::new();
            let spec = format!("{entry}:w");
            let run = writes(&sb, &[&spec, &spec], &[(INTERVAL, "2"), (CALLS, "write"), (EFFECT, "corrupt"), (CORRUPT, mode), (SEED, "5")]);
            run.assert_success();
            assert_eq!(run.stdout().lines().filter(|l| l.ends_with(" ok")).count(), 2, "{mode} {entry}: the program saw success: {}", run.stdout());
            assert_eq!(blob(&sb, 1), b"hello", "the first write is not a fault");
            let got = blob(&sb, 2);
            let line = &sb.log_lines()[0];
            assert_eq!((line["effect"].as_str(), line["corrupt"].as_str()), (Some("corrupt"), Some(mode)));
            let f2 = sb.blobs().join("f2");
            let call = (line["function"].as_str(), line["path"].as_str(), line["fd"].is_u64());
            assert_eq!(call, (Some(entry), f2.to_str(), true), "{mode} {entry}: the call, its file and descriptor: {line}");
            let (at, n) = (line["corrupt_at"].as_u64().unwrap() as usize, line["corrupt_bytes"].as_u64().unwrap() as usize);
            assert_eq!(got.len(), 5, "{mode} {entry}: a full-length write");
            let differ: Vec<usize> = (0..5).filter(|&i| got[i] != b"hello"[i]).collect();
            assert!(!differ.is_empty(), "{mode} {entry}: the file must differ");
            assert_eq!(differ.len(), n, "{mode} {entry}: {line}");
            assert_eq!(differ[0], at, "{mode} {entry}: {line}");
            if mode == "flip" {
                assert_eq!((got[at] ^ b"hello"[at]).count_ones(), 1, "one bit");
            }
        }
    }
    // Seeded: the same seed, the same bytes; a bigger write from Node.
    let sb1 = Sandbox::new();
    let sb2 = Sandbox::new();
    for sb in [&sb1, &sb2] {
        writes(sb, &["write:w"], &[(INTERVAL, "1"), (CALLS, "write"), (EFFECT, "corrupt"), (CORRUPT, "random"), (SEED, "9")]).assert_success();
    }
    assert_eq!(blob(&sb1, 1), blob(&sb2, 1));
}

/// Node under `corrupt`: writeFileSync returns, the program reads back its
/// own buffer unchanged, and the file differs from it.
#[test]
fn node_sees_success_while_the_file_differs() {
    let sb = Sandbox::new();
    let script = r#"
        const fs = require('node:fs');
        const buf = Buffer.alloc(65536);
        for (let i = 0; i < buf.length; i++) buf[i] = (i * 7 + 1) % 251;
        const copy = Buffer.from(buf);
        fs.writeFileSync(process.argv[1] + '/blobs/data', buf);
        console.log('written', buf.equals(copy) ? 'buffer-unchanged' : 'buffer-changed');
    "#;
    let mut cmd = Command::new("node");
    cmd.arg("-e").arg(script).arg(sb.path());
    let log = sb.log();
    let run = run_preloaded(
        cmd,
        &[(INTERVAL, "1"), (CALLS, "write"), (EFFECT, "corrupt"), (CORRUPT, "random"), (LOG, log.to_str().unwrap())],
    );
    run.assert_success();
    assert_eq!(run.stdout().trim(), "written buffer-unchanged");
    let want: Vec<u8> = (0..65536usize).map(|i| ((i * 7 + 1) % 251) as u8).collect();
    let got = std::fs::read(sb.blobs().join("data")).unwrap();
    assert_eq!(got.len(), want.len());
    let differ: Vec<usize> = (0..want.len()).filter(|&i| got[i] != want[i]).collect();
    let lines = sb.log_lines();
    let changed: u64 = lines.iter().map(|l| l["corrupt_bytes"].as_u64().unwrap()).sum();
    assert!(!differ.is_empty());
    assert_eq!(differ.len() as u64, changed, "{lines:?}");
}

/// drop: the write reports every byte written and writes none; under the
/// space budget, the write that crosses it writes what fits and reports
/// it all, later ones write nothing.
#[test]
fn drop_reports_success_and_writes_nothing() {
    let sb = Sandbox::new();
    let run = writes(&sb, &["write:w", "writev:w", "pwrite64:w"], &[(INTERVAL, "2"), (CALLS, "write"), (EFFECT, "drop")]);
    run.assert_success();
    assert_eq!(run.calls(), 3);
    assert!(run.failures().is_empty() && !run.stdout().contains("short"), "{}", run.stdout());
    assert_eq!((blob(&sb, 1), blob(&sb, 2), blob(&sb, 3)), (b"hello".to_vec(), Vec::new(), b"hello".to_vec()));
    let sb = Sandbox::new();
    let run = writes(&sb, &["write:w", "write:w", "write:w"], &[(SPACE, "7"), (EFFECT, "drop")]);
    run.assert_success();
    assert!(!run.stdout().contains("short") && run.failures().is_empty(), "{}", run.stdout());
    assert_eq!((blob(&sb, 1), blob(&sb, 2), blob(&sb, 3)), (b"hello".to_vec(), b"he".to_vec(), Vec::new()));
    assert_eq!(sb.log_lines().iter().map(|l| l["written"].as_u64().unwrap()).collect::<Vec<_>>(), [2, 0]);
}

/// Every effect with the space budget as its trigger.
#[test]
fn the_space_budget_triggers_every_write_effect() {
    let sb = Sandbox::new();
    let run = writes(&sb, &["write:w", "write:w", "write:w"], &[(SPACE, "7"), (EFFECT, "crash-before")]);
    assert_eq!(run.output.status.signal(), Some(libc::SIGKILL));
    assert_eq!((blob(&sb, 1), blob(&sb, 2)), (b"hello".to_vec(), Vec::new()));
    let sb = Sandbox::new();
    let run = writes(&sb, &["write:w", "write:w", "write:w"], &[(SPACE, "7"), (EFFECT, "crash-after")]);
    assert_eq!(run.output.status.signal(), Some(libc::SIGKILL));
    assert_eq!((blob(&sb, 1), blob(&sb, 2)), (b"hello".to_vec(), b"he".to_vec()), "the crossing write wrote what fit");
    let sb = Sandbox::new();
    let run = writes(&sb, &["write:w", "write:w"], &[(SPACE, "5"), (EFFECT, "corrupt")]);
    run.assert_success();
    assert_eq!(run.stdout().lines().filter(|l| l.ends_with(" ok")).count(), 2);
    assert_eq!(blob(&sb, 1), b"hello");
    assert_ne!(blob(&sb, 2), b"hello");
    assert_eq!(blob(&sb, 2).len(), 5);
}

/// fake-sync: fsync returns 0 without syncing, so a power cut takes back
/// what the program believed durable. Four files, each written and
/// fsync'd, every second sync faked; after the power cut (ext4's model: a
/// real sync also commits every earlier create): the first and third hold
/// their bytes, the second is empty (created, its data never synced), the
/// fourth is gone (no real sync came after its create).
#[test]
fn fake_sync_returns_zero_and_a_power_cut_shows_it() {
    let script = r#"
import os, sys
for n in range(1, 5):
    with open(f"{sys.argv[1]}/blobs/f{n}", "wb") as f:
        f.write(b"hello")
        f.flush()
        os.fsync(f.fileno())
print("synced")
"#;
    let all = [Some("hello"), Some("hello"), Some("hello"), Some("hello")];
    for (effect, want) in [("fail", all), ("fake-sync", [Some("hello"), Some(""), Some("hello"), None])] {
        let sb = Sandbox::new();
        let journal = sb.path().join("journal");
        let mut cmd = Command::new(blobfail_suite::shim::python3());
        cmd.arg("-c").arg(script).arg(sb.path());
        // `fail` with an interval never reached: the same journal, no fault.
        let interval = if effect == "fail" { "1000" } else { "2" };
        let run = run_preloaded(
            cmd,
            &[(INTERVAL, interval), (CALLS, "sync"), (EFFECT, effect), ("HARPER_TEST_BLOB_FAIL_JOURNAL", journal.to_str().unwrap())],
        );
        run.assert_success();
        assert_eq!(run.stdout().trim(), "synced", "{effect}: every fsync returned 0");
        let out = Command::new(blobfail_suite::artifacts::driver_path())
            .args(["power-loss", "--fs", "ext4"])
            .arg(&journal)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let got: Vec<Option<String>> =
            (1..=4).map(|n| std::fs::read_to_string(sb.blobs().join(format!("f{n}"))).ok()).collect();
        let want: Vec<Option<String>> = want.iter().map(|w| w.map(str::to_string)).collect();
        assert_eq!(got, want, "{effect}: {}", String::from_utf8_lossy(&out.stdout));
    }
}

/// An effect that cannot act on a chosen family is refused with one line,
/// and the shim stays disarmed.
#[test]
fn an_effect_that_does_not_fit_the_families_is_refused() {
    for (vars, says) in [
        (vec![(INTERVAL, "1"), (EFFECT, "drop")], "for writes only: set HARPER_TEST_BLOB_FAIL_CALLS=write"),
        (vec![(INTERVAL, "1"), (CALLS, "write,sync"), (EFFECT, "corrupt")], "for writes and reads only"),
        (vec![(INTERVAL, "1"), (CALLS, "write"), (EFFECT, "short")], "for reads only"),
        (vec![(INTERVAL, "1"), (CALLS, "write"), (EFFECT, "fake-sync")], "for syncs only"),
        (vec![(SPACE, "1"), (EFFECT, "fake-sync")], "for syncs only"),
        (vec![(INTERVAL, "1"), (EFFECT, "explode")], "not an effect: fail, crash-before"),
        (vec![(INTERVAL, "1"), (CALLS, "write"), (EFFECT, "corrupt"), (CORRUPT, "shred")], "neither `flip`, `zero` nor `random`"),
    ] {
        let sb = Sandbox::new();
        let run = writes(&sb, &["write:w"], &vars);
        run.assert_success();
        let lines = run.shim_lines();
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(lines[0].starts_with("blobfail: ignoring HARPER_TEST_BLOB_FAIL_") && lines[0].contains(says), "{lines:?}");
        assert_eq!(blob(&sb, 1), b"hello", "disarmed");
    }
}
