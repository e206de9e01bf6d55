//! Step 5 as a test: `examples/python/pyvol.scenario` runs as
//! `cargo run -- run examples/python/pyvol.scenario` would run it, with the
//! Python plugin started by its `#@ plugin pyvol exec -- python3 …` line.
//!
//! `cargo test --example python_plugin` (skips, saying so, without python3,
//! unless `DRYDOCK_REQUIRE_ALL=1`).
fn main() {
    println!("this example is a test: cargo test --example python_plugin");
}

#[cfg(test)]
fn python3_missing() -> bool {
    let missing = std::process::Command::new("python3")
        .arg("--version")
        .output()
        .is_err();
    if missing {
        let why = "python3 is not installed, so examples/python/pyvol.py cannot run";
        // `DRYDOCK_REQUIRE_ALL=1` (set by .ci/run) makes a missing program a
        // failure instead of a skip.
        if std::env::var_os("DRYDOCK_REQUIRE_ALL").is_some_and(|v| v == "1") {
            panic!("{why}, and DRYDOCK_REQUIRE_ALL=1 makes it mandatory");
        }
        // On the real stderr, past the test harness's capture.
        use std::io::Write;
        let _ = writeln!(std::io::stderr(), "SKIPPED: {why}");
    }
    missing
}

#[tokio::test]
async fn the_python_plugin_passes_its_scenario() {
    use drydock::run::{run_scenario, RunOptions};
    use drydock_engine::scenario::parse_file;

    if python3_missing() {
        return;
    }
    // Relative paths in the scenario are relative to the repository root,
    // which is where cargo runs tests of this package.
    let scenario = parse_file("examples/python/pyvol.scenario").expect("scenario");
    let report = run_scenario(&scenario, &RunOptions::default()).await;
    assert!(report.passed(), "{:#?}", report.failures);
    // The plugin answered every call itself, over its socket.
    assert!(report.calls() >= 12, "only {} calls", report.calls());
}

/// dockerd resends a call with an empty body after a dropped connection; the
/// plugin must refuse it rather than create a volume named "".
#[test]
fn an_empty_body_is_refused_except_for_activate() {
    use std::io::{Read, Write};
    use std::os::unix::net::UnixStream;

    if python3_missing() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("pyvol.sock");
    let mut plugin = std::process::Command::new("python3")
        .arg("examples/python/pyvol.py")
        .arg(&socket)
        .arg(dir.path().join("state"))
        .spawn()
        .unwrap();
    let post = |method: &str| {
        let mut conn = loop {
            match UnixStream::connect(&socket) {
                Ok(c) => break c,
                Err(_) => std::thread::sleep(std::time::Duration::from_millis(20)),
            }
        };
        // What dockerd sends on a retry: the same request, Content-Length 0.
        let request = format!(
            "POST /{method} HTTP/1.1\r\nHost: \r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
        conn.write_all(request.as_bytes()).unwrap();
        let mut answer = String::new();
        conn.read_to_string(&mut answer).unwrap();
        answer
    };
    let activate = post("Plugin.Activate");
    let create = post("VolumeDriver.Create");
    plugin.kill().unwrap();
    plugin.wait().unwrap();
    let status = |answer: &str| answer.split_whitespace().nth(1).map(str::to_owned);
    assert_eq!(status(&activate).as_deref(), Some("200"), "{activate}");
    assert!(
        activate.contains(r#"{"Implements": ["VolumeDriver"]}"#),
        "{activate}"
    );
    assert_eq!(status(&create).as_deref(), Some("400"), "{create}");
    assert!(
        create.contains("VolumeDriver.Create: empty request body"),
        "{create}"
    );
    assert!(!dir.path().join("state").exists(), "a volume was created");
}
