//! Programs some tests need that a fresh machine with only a Rust toolchain
//! may lack (a browser, OCR, python3). Without one, such a test prints one
//! line saying what it skipped and why, and passes; with
//! `DRYDOCK_REQUIRE_ALL=1` (set by `.ci/run`, which installs them) a missing
//! program fails the test instead, so CI cannot skip silently.

use std::io::Write;
use std::path::PathBuf;

/// Whether every external program is mandatory (`DRYDOCK_REQUIRE_ALL=1`).
pub fn required() -> bool {
    std::env::var_os("DRYDOCK_REQUIRE_ALL").is_some_and(|v| v == "1")
}

/// The first of `names` found on `PATH`.
pub fn find_program(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| names.iter().map(move |n| dir.join(n)))
        .find(|p| p.is_file())
}

/// Says that `test` is skipped because `missing` is absent — on the real
/// stderr, past the test harness's capture, so the line shows in a plain
/// `cargo test` run — or panics with `install` when every program is
/// required.
pub fn skip(test: &str, missing: &str, install: &str) {
    if required() {
        panic!("{test} needs {missing}, and DRYDOCK_REQUIRE_ALL=1 makes it mandatory: {install}");
    }
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED: {test}: {missing} not found ({install}; DRYDOCK_REQUIRE_ALL=1 makes this a failure)"
    );
}

/// `names` found on `PATH`, or `None` after [`skip`].
pub fn require(test: &str, names: &[&str], install: &str) -> Option<PathBuf> {
    let found = find_program(names);
    if found.is_none() {
        skip(test, &names.join(" or "), install);
    }
    found
}
