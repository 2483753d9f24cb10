//! Needs the npm registry: the driver's answer when npm itself fails to
//! install Harper (a version the registry does not have).

use blobfail_suite::driver::*;

#[test]
fn a_failed_npm_install_is_one_line_and_exit_2() {
    // A version the registry does not have: npm itself fails.
    fails_with(
        &["run", "blob-save", "--harper-version", "0.0.0-blobfail-no-such-version"],
        &[],
        "npm install harperdb@0.0.0-blobfail-no-such-version failed (exit status: 1): \
         notarget No matching version found for harperdb@0.0.0-blobfail-no-such-version.",
    );
}
