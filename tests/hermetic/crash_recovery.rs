//! crash-recovery's own options refused with one line and exit 2, before
//! anything starts: the power cut's grammar (torn modes, writeback, fs)
//! and the faults armed on B's restart.

use blobfail_suite::driver::*;

#[test]
fn a_bad_power_loss_or_restart_fault_is_one_line_and_exit_2() {
    let grammar = "is not a power loss: none, or all|prefix|pages|writeback=SECS followed by ,writeback=SECS and ,fs=strict|ext4 if wanted (e.g. pages,writeback=2); see `blobfail run --help`";
    let flag = "for '--power-loss <none|all|prefix|pages|writeback=SECS[,...]>': ";
    let cases: Vec<(Vec<&str>, String)> = vec![
        (vec!["--power-loss", "torn"], format!("blobfail: invalid value 'torn' {flag}\"torn\" {grammar}")),
        (vec!["--power-loss", "writeback=2,pages"], format!("blobfail: invalid value 'writeback=2,pages' {flag}\"writeback=2,pages\" {grammar}")),
        (
            vec!["--power-loss", "pages,fs=xfs"],
            format!("blobfail: invalid value 'pages,fs=xfs' {flag}\"pages,fs=xfs\": fs= takes strict or ext4, not \"xfs\"; see `blobfail run --help`"),
        ),
        (
            vec!["--power-loss", "prefix,writeback=0"],
            format!("blobfail: invalid value 'prefix,writeback=0' {flag}\"prefix,writeback=0\": writeback=SECS needs seconds between 0 and 3600, e.g. writeback=5; see `blobfail run --help`"),
        ),
        (
            vec!["--restart-fault-opens", "0"],
            "blobfail: invalid value '0' for '--restart-fault-opens <N>': 0 is not in 1..18446744073709551615; see `blobfail run --help`".into(),
        ),
        (
            vec!["--restart-fault-files", "database"],
            "blobfail: the following required arguments were not provided: --restart-fault-opens <N>; see `blobfail run --help`".into(),
        ),
        (
            vec!["--restart-fault-opens", "2", "--restart-fault-files", "nowhere"],
            "blobfail: invalid value 'nowhere' for '--restart-fault-files <blobs|database>' [possible values: blobs, database]; see `blobfail run --help`".into(),
        ),
    ];
    for (extra, expect) in cases {
        let mut args = vec!["run", "crash-recovery"];
        args.extend(extra);
        fails_with(&args, &[], &expect);
    }
    fails_with(&["run", "blob-save", "--restart-fault-opens", "3"], &[], "blobfail: --restart-fault-opens does not apply to blob-save: it is an option of crash-recovery");
    fails_with(&["run", "corrupt-blob", "--power-loss", "pages"], &[], "blobfail: --power-loss does not apply to corrupt-blob: it is an option of crash-recovery");
}
