//! Read faults (issue 19): `CALLS=read` counts read, pread64, readv,
//! preadv and preadv2 on descriptors opened on matching paths (read-only
//! opens included); a triggered read fails, comes back short, or hands the
//! caller bytes other than the file's. Reads elsewhere are never counted.

use std::process::Command;

use blobfail_suite::shim::{python3, run_preloaded, Run, Sandbox};

const INTERVAL: &str = "HARPER_TEST_BLOB_FAIL_INTERVAL";
const CALLS: &str = "HARPER_TEST_BLOB_FAIL_CALLS";
const EFFECT: &str = "HARPER_TEST_BLOB_FAIL_EFFECT";
const ERRNO: &str = "HARPER_TEST_BLOB_FAIL_ERRNO";
const LOG: &str = "HARPER_TEST_BLOB_FAIL_LOG";

/// Reads 16 bytes at offset 0 of blobs/data and of other/data through each
/// of os.read, os.pread, os.readv, os.preadv, printing per call
/// `<how> <target> <hex of what came back>` or `<how> <target> err <errno>`.
const READER: &str = r#"
import os, sys
d = sys.argv[1]
for how in ["read", "pread", "readv", "preadv"]:
    for target in ["blobs", "other"]:
        fd = os.open(f"{d}/{target}/data", os.O_RDONLY)
        try:
            if how == "read": got = os.read(fd, 16)
            elif how == "pread": got = os.pread(fd, 16, 0)
            elif how == "readv":
                b = bytearray(16); n = os.readv(fd, [b]); got = bytes(b[:n])
            else:
                b = bytearray(16); n = os.preadv(fd, [b], 0); got = bytes(b[:n])
            print(how, target, got.hex(), flush=True)
        except OSError as e:
            print(how, target, "err", e.errno, flush=True)
        os.close(fd)
"#;

const DATA: &[u8] = b"0123456789abcdef0123456789abcdef";

fn reader(sb: &Sandbox, vars: &[(&str, &str)]) -> (Run, Vec<(String, String, String)>) {
    std::fs::write(sb.blobs().join("data"), DATA).unwrap();
    std::fs::write(sb.path().join("other/data"), DATA).unwrap();
    let mut cmd = Command::new(python3());
    cmd.arg("-c").arg(READER).arg(sb.path());
    let log = sb.log();
    let mut v = vars.to_vec();
    v.push((LOG, log.to_str().unwrap()));
    let run = run_preloaded(cmd, &v);
    run.assert_success();
    let rows = run
        .stdout()
        .lines()
        .map(|l| {
            let w: Vec<&str> = l.splitn(3, ' ').collect();
            (w[0].to_string(), w[1].to_string(), w[2].to_string())
        })
        .collect();
    (run, rows)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn every_read_of_a_matching_file_can_fail_and_others_are_never_counted() {
    let sb = Sandbox::new();
    let (run, rows) = reader(&sb, &[(INTERVAL, "1"), (CALLS, "read"), (ERRNO, "EIO")]);
    for (how, target, got) in &rows {
        match target.as_str() {
            "blobs" => assert_eq!(got, "err 5", "{how}"),
            _ => assert_eq!(got, &hex(&DATA[..16]), "{how}: not a matching file"),
        }
    }
    let fns: Vec<String> = sb.log_lines().iter().map(|l| l["function"].as_str().unwrap().to_string()).collect();
    assert_eq!(fns, ["read", "pread64", "readv", "preadv64v2"], "Python calls preadv2 as preadv64v2: {}", run.stderr());
    assert!(sb.log_lines().iter().all(|l| l["call"] == "read" && l["path"].as_str().unwrap().ends_with("/blobs/data")));
}

#[test]
fn short_reads_return_half_and_corrupt_reads_differ_from_the_file() {
    let sb = Sandbox::new();
    let (_, rows) = reader(&sb, &[(INTERVAL, "1"), (CALLS, "read"), (EFFECT, "short")]);
    for (how, target, got) in &rows {
        let want = if target == "blobs" { hex(&DATA[..8]) } else { hex(&DATA[..16]) };
        assert_eq!(got, &want, "{how} {target}: 8 of the 16 asked, though 32 are there");
    }
    let sb = Sandbox::new();
    let (_, rows) = reader(&sb, &[(INTERVAL, "1"), (CALLS, "read"), (EFFECT, "corrupt")]);
    let lines = sb.log_lines();
    let mut faults = lines.iter();
    for (how, target, got) in &rows {
        if target == "other" {
            assert_eq!(got, &hex(&DATA[..16]));
            continue;
        }
        let line = faults.next().unwrap();
        assert_eq!(line["effect"], "corrupt");
        let (at, n) = (line["corrupt_at"].as_u64().unwrap() as usize, line["corrupt_bytes"].as_u64().unwrap() as usize);
        let got: Vec<u8> = (0..got.len() / 2).map(|i| u8::from_str_radix(&got[2 * i..2 * i + 2], 16).unwrap()).collect();
        assert_eq!(got.len(), 16, "{how}");
        let differ: Vec<usize> = (0..16).filter(|&i| got[i] != DATA[i]).collect();
        assert_eq!((differ.len(), differ[0]), (n, at), "{how}: {line}");
    }
    assert_eq!(std::fs::read(sb.blobs().join("data")).unwrap(), DATA, "the file itself is untouched");
}

/// A forked child reads 4 bytes twice through a descriptor it shares with
/// its parent; the parent then prints how the child ended and where the
/// shared offset stands, which tells a read that never reached the kernel
/// (offset 4) from one that did (8) though the child died either way.
const FORKED_READER: &str = r#"
import os, sys
fd = os.open(sys.argv[1] + "/blobs/data", os.O_RDONLY)
pid = os.fork()
if pid == 0:
    os.read(fd, 4)
    os.read(fd, 4)
    os._exit(0)
_, status = os.waitpid(pid, 0)
end = f"signal {os.WTERMSIG(status)}" if os.WIFSIGNALED(status) else f"exit {os.WEXITSTATUS(status)}"
print(end, os.lseek(fd, 0, os.SEEK_CUR))
"#;

/// crash-before: the second read kills the process before it reaches the
/// kernel, so the shared offset stays after the first read; crash-after:
/// the read is done, then the process dies. Each logs its fault line as a
/// read's, with no summary after it.
#[test]
fn a_crash_at_a_read_kills_the_reader_before_or_after_the_read() {
    for (effect, offset) in [("crash-before", 4), ("crash-after", 8), ("fail", 4)] {
        let sb = Sandbox::new();
        std::fs::write(sb.blobs().join("data"), DATA).unwrap();
        let mut cmd = Command::new(python3());
        cmd.arg("-c").arg(FORKED_READER).arg(sb.path());
        let log = sb.log();
        let run = run_preloaded(cmd, &[(INTERVAL, "2"), (CALLS, "read"), (EFFECT, effect), (LOG, log.to_str().unwrap())]);
        run.assert_success();
        // A failed read raises in the child, which Python reports as exit 1.
        let end = if effect == "fail" { "exit 1" } else { "signal 9" };
        assert_eq!(run.stdout().trim(), format!("{end} {offset}"), "{effect}: {}", run.stderr());
        let faults = sb.log_lines();
        assert_eq!(faults.len(), 1, "{effect}: one fault line: {faults:?}");
        // A plain failure's line names its errno instead of an effect.
        let logged = faults[0].get("effect").and_then(|e| e.as_str()).unwrap_or("fail");
        assert_eq!(
            (logged, faults[0]["function"].as_str(), faults[0]["call"].as_str(), faults[0]["seq"].as_u64()),
            (effect, Some("read"), Some("read"), Some(2)),
            "{effect}: {}",
            faults[0]
        );
        // A killed child runs no exit handler; after a failed read it exits
        // and leaves its summary (the parent read nothing: it has none).
        assert_eq!(sb.log_summaries().len(), usize::from(effect == "fail"), "{effect}");
    }
}
