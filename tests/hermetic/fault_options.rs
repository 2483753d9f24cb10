//! Hermetic (no network, no cluster): the fault plan options refused with
//! one line naming what was wrong, exit 2, before anything starts.

use std::time::Duration;

use blobfail_suite::driver::*;

/// Runs `blobfail run blob-save <args>` and asserts its one error line is exactly `expect`.
fn refused(args: &[&str], expect: &str) {
    let dir = run_folder();
    let out = path_of(&dir).join("run");
    let mut all = vec!["run", "blob-save"];
    all.extend(args);
    all.extend(["--out", out.to_str().unwrap()]);
    let run = run_bounded(blobfail(&all), Duration::from_secs(60));
    assert_one_line_error(&run, expect);
    assert_eq!(run.stderr.trim_end(), expect, "args {args:?}");
    assert!(!out.join("report.json").exists(), "a refused run wrote a report");
    assert!(!out.join("cluster.json").exists(), "a refused run started nodes");
}

#[test]
fn a_fault_plan_that_does_not_exist_is_refused_naming_the_plans() {
    refused(
        &["--fault", "write-enospc,fsync-eoi"],
        "blobfail: --fault \"fsync-eoi\" is not a fault plan: choose from open-enoent, write-enospc, fsync-eio, disk-full, slow-disk, or all (comma-separated for several)",
    );
}

#[test]
fn space_without_a_valid_size_is_refused() {
    refused(
        &["--fault", "disk-full", "--space"],
        "blobfail: a value is required for '--space <SIZE>' but none was supplied; see `blobfail run --help`",
    );
    refused(
        &["--fault", "disk-full", "--space", "10MB"],
        "blobfail: invalid value '10MB' for '--space <SIZE>': \"10MB\" is a decimal unit: write KiB, MiB or GiB (1 MiB = 1048576 bytes); see `blobfail run --help`",
    );
}

#[test]
fn an_override_that_contradicts_the_plan_is_refused() {
    refused(
        &["--fault", "slow-disk", "--errno", "EIO"],
        "blobfail: --errno contradicts --fault slow-disk: that plan has no such part (it is a part of open-enoent, write-enospc, fsync-eio, disk-full)",
    );
    refused(
        &["--fault", "open-enoent,fsync-eio", "--space", "1MiB"],
        "blobfail: --space contradicts --fault open-enoent,fsync-eio: none of those plans has such a part (it is a part of disk-full)",
    );
    refused(
        &["--fault", "disk-full", "--interval", "3"],
        "blobfail: --interval contradicts --fault disk-full: that plan has no such part (it is a part of open-enoent, write-enospc, fsync-eio)",
    );
}

#[test]
fn fault_options_do_not_apply_to_an_attached_cluster_or_another_scenario() {
    refused(
        &["--attach", "--node-a", "http://127.0.0.1:1", "--node-b", "http://127.0.0.1:2", "--fault", "write-enospc"],
        "blobfail: --fault does not apply with --attach: on an attached cluster, node B's own environment arms the shim (HARPER_TEST_BLOB_FAIL_INTERVAL)",
    );
    let dir = run_folder();
    let out = path_of(&dir).join("run");
    let run = run_bounded(
        blobfail(&["run", "backlog-memory", "--fault", "disk-full", "--out", out.to_str().unwrap()]),
        Duration::from_secs(60),
    );
    assert_one_line_error(&run, "--fault does not apply to backlog-memory: it is an option of blob-save");
}
