//! `examples/pytest/`, the docker-py tests a plugin author copies, pass
//! against this build's `drydock serve`: `python3 -m pytest -q
//! examples/pytest` with `DRYDOCK` set to the binary. Needs python3, pytest
//! and the docker SDK (skipped without them, unless DRYDOCK_REQUIRE_ALL=1).

use super::external;
use std::process::Command;

const TEST: &str = "pytest_example::the_pytest_example_passes_against_drydock_serve";

/// Whether `python` can import `module`; skips the test when it cannot.
fn has_module(python: &std::path::Path, module: &str, what: &str, install: &str) -> bool {
    let found = Command::new(python)
        .args(["-c", &format!("import {module}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        external::skip(TEST, what, install);
    }
    found
}

#[test]
fn the_pytest_example_passes_against_drydock_serve() {
    let Some(python) = external::require(TEST, &["python3"], "apt-get install python3") else {
        return;
    };
    if !has_module(
        &python,
        "pytest",
        "pytest",
        "apt-get install python3-pytest, or pip install pytest",
    ) || !has_module(
        &python,
        "docker",
        "the python docker SDK",
        "apt-get install python3-docker, or pip install docker",
    ) {
        return;
    }
    let root = env!("CARGO_MANIFEST_DIR");
    let out = Command::new(&python)
        // Nothing written into the source tree, no installed pytest plugins.
        .args(["-m", "pytest", "-q", "--tb=short", "-p", "no:cacheprovider"])
        .arg(format!("{root}/examples/pytest"))
        .env("DRYDOCK", env!("CARGO_BIN_EXE_drydock"))
        .env("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env_remove("DOCKER_HOST")
        .current_dir(root)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "python3 -m pytest -q examples/pytest exited {}:\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    // Every test ran: none skipped, none left uncollected.
    assert!(stdout.contains("4 passed"), "{stdout}");
}
