//! `blobfail exec` (issue 19): the shim for any program, from the command
//! line. A bad plan is one line and exit 2; a command that does not exist
//! gives the shell's 127; a crashed command is reported as crashed; the
//! exit status passes through; a crash with a power cut says what changed.

use std::process::Command;

use blobfail_suite::artifacts::driver_path;
use blobfail_suite::shim::{c_program, Sandbox};

fn exec(sb: &Sandbox, args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(driver_path()).arg("exec").args(args).current_dir(sb.path()).output().unwrap();
    (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

fn lines(s: &str) -> Vec<&str> {
    s.lines().filter(|l| !l.starts_with("blobfail: armed") && !l.starts_with("blobfail: summary")).collect()
}

#[test]
fn a_bad_plan_is_one_line_and_exit_2() {
    let sb = Sandbox::new();
    for (args, says) in [
        (vec!["--fault", "disk-melt", "--", "true"], "blobfail: exec: --fault \"disk-melt\" is not a plan: use one of open-enoent"),
        (vec!["--interval", "2", "--effect", "explode", "--", "true"], "--effect \"explode\" is not an effect"),
        (vec!["--interval", "2", "--calls", "open", "--effect", "drop", "--", "true"], "--effect drop cannot act on open calls"),
        (vec!["--space", "10MB", "--", "true"], "--space \"10MB\" is a decimal unit: write KiB, MiB or GiB"),
        (vec!["--interval", "0", "--", "true"], "--interval 0 is no interval"),
        (vec!["--calls", "open", "--", "true"], "nothing to inject"),
        (vec!["--crash-at", "write", "--", "true"], "--crash-at \"write\" is not FAMILY:N"),
        (vec!["--interval", "1"], "no command: give it after --"),
    ] {
        let (code, out, err) = exec(&sb, &args);
        assert_eq!(code, Some(2), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: one line: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
        assert_eq!(out, "");
    }
}

#[test]
fn a_missing_command_gives_127_and_the_status_passes_through() {
    let sb = Sandbox::new();
    let (code, _, err) = exec(&sb, &["--interval", "1", "--", "no-such-program-here"]);
    assert_eq!(code, Some(127), "{err}");
    assert_eq!(lines(&err), ["blobfail: exec: no-such-program-here: command not found"]);
    let (code, _, err) = exec(&sb, &["--interval", "1", "--", "sh", "-c", "exit 3"]);
    assert_eq!(code, Some(3), "{err}");
    assert!(err.contains("blobfail exec: sh exited with 3"), "{err}");
}

/// The second write fails with EIO (ENOSPC named by the plan); the table
/// names the process, the family, the counts and the file.
#[test]
fn exec_arms_the_shim_and_prints_the_table() {
    let sb = Sandbox::new();
    let prog = c_program("writes", &[]);
    let dir = sb.path().display().to_string();
    let (code, out, err) =
        exec(&sb, &["--fault", "write-enospc", "--interval", "2", "--errno", "EIO", "--", prog.to_str().unwrap(), &dir, "write:w", "write:w", "write:o"]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out.lines().map(|l| l.splitn(4, ' ').nth(3).unwrap()).collect::<Vec<_>>(), ["ok", "err 5", "ok"]);
    let table = lines(&err);
    assert_eq!(table[0], format!("blobfail exec: {} exited with 0", prog.display()));
    assert!(table[2].split_whitespace().collect::<Vec<_>>()[1..] == ["write", "2", "1"], "{err}");
    assert_eq!(table[3], format!("  files hit: {dir}/blobs/f2"));
}

/// A command the shim crashes is reported as crashed (killed by SIGKILL),
/// exit 137; with --power-loss, what the power cut changed.
#[test]
fn a_crashed_command_is_reported_as_crashed() {
    let sb = Sandbox::new();
    let prog = c_program("writes", &[]);
    let dir = sb.path().display().to_string();
    let (code, _, err) = exec(&sb, &["--interval", "2", "--calls", "write", "--effect", "crash-after", "--", prog.to_str().unwrap(), &dir, "write:w", "write:w"]);
    assert_eq!(code, Some(137), "{err}");
    assert!(err.contains(" crashed: killed by SIGKILL"), "{err}");
    let sb = Sandbox::new();
    let dir = sb.path().display().to_string();
    let (code, _, err) = exec(&sb, &["--crash-at", "write:2", "--power-loss", "--", prog.to_str().unwrap(), &dir, "write:w", "write:w"]);
    assert_eq!(code, Some(137), "{err}");
    assert!(err.contains("crashed at write call 2 (write "), "{err}");
    // Nothing was synced: both files go (their folder was never synced).
    assert!(err.contains("power loss (mode all, writeback 0 s): "), "{err}");
    assert!(err.contains(&format!("{dir}/blobs/f1: removed: created, and its directory never synced after")), "{err}");
    assert!(!sb.blobs().join("f1").exists() && !sb.blobs().join("f2").exists());
}
