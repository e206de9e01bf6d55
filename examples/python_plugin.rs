//! Step 5 as a test: `examples/python/pyvol.scenario` runs as
//! `cargo run -- run examples/python/pyvol.scenario` would run it, with the
//! Python plugin started by its `#@ plugin pyvol exec -- python3 …` line.
//!
//! `cargo test --example python_plugin` (skips, saying so, without python3).
fn main() {
    println!("this example is a test: cargo test --example python_plugin");
}

#[tokio::test]
async fn the_python_plugin_passes_its_scenario() {
    use drydock::run::{run_scenario, RunOptions};
    use drydock_engine::scenario::parse_file;

    if std::process::Command::new("python3")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("SKIPPED: python3 is not installed, so examples/python/pyvol.py cannot run");
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
