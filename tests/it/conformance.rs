//! Scenario files checked against a real dockerd. `tests/conformance/volume.py`
//! replays each replayable `scenarios/volume/*.scenario` on a real dockerd
//! with the recording plugin and commits the trace as
//! `tests/golden/conformance/<name>.jsonl`; this module runs the scenario of
//! the same name in drydock (both transports) and requires its own
//! expectations to hold and its plugin calls to match the recording step for
//! step. The scenario's own `#>` expectations are also checked against the
//! recording, so a file never states something only the simulation does. So
//! CI checks the real ground truth without a real dockerd.

use super::golden::{actual_steps, scenario_for};
use drydock::run::launch::TransportKind;
use drydock::run::{run_scenario, RunOptions};
use drydock_engine::compare::{compare, load_golden, TraceStep};
use drydock_engine::scenario::{
    parse_file, Directive, ObservedCall, Outcome, Scenario, StepKind, Vars,
};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The recordings, sorted by name.
fn recordings() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(root().join("tests/golden/conformance"))
        .expect("tests/golden/conformance exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    v.sort();
    v
}

/// Checks one recording against a drydock run of its scenario; `Err` says
/// how they differ.
async fn check(recording: &Path, transport: TransportKind) -> Result<(), String> {
    let name = recording
        .file_stem()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let text = std::fs::read_to_string(recording).map_err(|e| e.to_string())?;
    check_text(&name, &text, transport).await
}

/// [`check`] on a recording's text, for the scenario called `name`.
async fn check_text(name: &str, text: &str, transport: TransportKind) -> Result<(), String> {
    let file = root()
        .join("scenarios/volume")
        .join(format!("{name}.scenario"));
    let scenario = parse_file(&file).map_err(|e| e.to_string())?;
    let golden = load_golden(text)?;
    if let Some(s) = golden.iter().find(|s| s.command == "#start-failed") {
        return Err(format!(
            "the recording's sandbox did not start: {}",
            s.output
        ));
    }
    let (_, expected, plugins) = scenario_for(&golden);
    expectations_hold_on(&scenario, &expected)?;
    let opts = RunOptions {
        transport,
        keep_going: true,
        ..Default::default()
    };
    let report = run_scenario(&scenario, &opts).await;
    if let Some(f) = report.failures.first() {
        return Err(format!(
            "the scenario's own expectation fails in drydock at line {}: {}",
            f.line, f.message
        ));
    }
    let (expected, actual) = (
        detach_id_periods(expected),
        detach_id_periods(actual_steps(&report)),
    );
    compare(&expected, &actual, |p| plugins.contains(p)).map_err(|d| d.to_string())
}

/// Puts a blank between a 64-hex ID and a `.` right after it in the steps'
/// texts. `compare` pairs IDs inside error texts word by word, and its words
/// keep `.`, so dockerd's "You cannot remove a running container ID. Stop…"
/// would otherwise compare the IDs literally.
fn detach_id_periods(mut steps: Vec<TraceStep>) -> Vec<TraceStep> {
    for step in &mut steps {
        let text = std::mem::take(&mut step.output);
        let mut out = String::with_capacity(text.len());
        let mut hex_run = 0;
        for c in text.chars() {
            if c == '.' && hex_run == 64 {
                out.push(' ');
            }
            hex_run = if c.is_ascii_hexdigit() && !c.is_ascii_uppercase() {
                hex_run + 1
            } else {
                0
            };
            out.push(c);
        }
        step.output = out;
    }
    steps
}

/// dockerd's message in a recorded failure: the CLI adds `docker: `, the
/// `Error response from daemon: ` prefix and help hints around it.
fn daemon_message(out: &str) -> String {
    let lines: Vec<&str> = out.trim().lines().collect();
    let line = lines
        .iter()
        .find(|l| l.contains("Error response from daemon: "))
        .or(lines.first())
        .copied()
        .unwrap_or("");
    let line = line.trim_start_matches("docker: ");
    match line.find("Error response from daemon: ") {
        Some(i) => line[i + "Error response from daemon: ".len()..].to_owned(),
        None => line.to_owned(),
    }
}

/// Checks the scenario's `#>` expectations against what the real dockerd
/// did and printed (the recording's steps, as [`scenario_for`] returns them).
fn expectations_hold_on(scenario: &Scenario, recorded: &[TraceStep]) -> Result<(), String> {
    let mut vars = Vars::default();
    let mut recorded = recorded.iter();
    for step in &scenario.steps {
        let replayed = match &step.kind {
            StepKind::Action(_) => true,
            StepKind::Directive(d) => matches!(d, Directive::RestartDaemon),
        };
        if !replayed {
            continue;
        }
        let real = recorded
            .next()
            .ok_or_else(|| format!("line {}: the recording has no step for it", step.line))?;
        let outcome = match real.ok {
            Some(false) => Outcome {
                error: Some(daemon_message(&real.output)),
                stdout: String::new(),
            },
            _ => Outcome::ok(real.output.clone()),
        };
        let calls: Vec<ObservedCall> = real
            .calls
            .iter()
            .map(|c| ObservedCall {
                plugin: c.plugin.clone(),
                method: c.method.clone(),
                request: c.request.clone(),
                response: c.response.clone(),
                status: c.response.as_ref().map(|_| 200),
                // A recording sees each HTTP request as its own call.
                attempts: 1,
                empty_body_retry: false,
                engine_time: std::time::Duration::ZERO,
            })
            .collect();
        step.check(&outcome, &calls, &mut vars).map_err(|m| {
            format!(
                "line {}: expectation fails on the real dockerd's trace (`{}`): {m}",
                m.line, real.command
            )
        })?;
    }
    Ok(())
}

#[tokio::test]
async fn every_recording_matches_its_scenario() {
    let recordings = recordings();
    assert!(
        !recordings.is_empty(),
        "no recordings in tests/golden/conformance"
    );
    let mut failures = Vec::new();
    for rec in &recordings {
        let name = rec.file_stem().unwrap().to_string_lossy().into_owned();
        for transport in [TransportKind::InProcess, TransportKind::Unix] {
            match check(rec, transport).await {
                Ok(()) => println!("conformance: {name} ({transport:?}): identical"),
                Err(e) => {
                    println!("conformance: {name} ({transport:?}): {e}");
                    failures.push(format!("{name} ({transport:?}): {e}"));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} checks differ from the real dockerd:\n\n{}",
        failures.len(),
        recordings.len() * 2,
        failures.join("\n\n")
    );
}

/// The check is not vacuous: a recording edited so that the real dockerd
/// "answered" differently — another error text, a missing Remove — fails it.
#[tokio::test]
async fn an_edited_recording_is_caught() {
    let path = root().join("tests/golden/conformance/name-conflict.jsonl");
    let text = std::fs::read_to_string(path).unwrap();
    let edited = text.replacen("volume name must be unique", "volume name is taken", 1);
    assert_ne!(edited, text);
    let e = check_text("name-conflict", &edited, TransportKind::InProcess)
        .await
        .unwrap_err();
    assert!(e.contains("volume name is taken"), "{e}");

    let path = root().join("tests/golden/conformance/named-lifecycle.jsonl");
    let text = std::fs::read_to_string(path).unwrap();
    let edited: String = text
        .lines()
        .filter(|l| !l.contains("\"/VolumeDriver.Remove\""))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_ne!(edited, text);
    let e = check_text("named-lifecycle", &edited, TransportKind::InProcess)
        .await
        .unwrap_err();
    assert!(e.contains("docker volume rm vol1"), "{e}");
}

/// Every scenario the replay script would replay has a recording, so a new
/// scenario cannot land unchecked against the real dockerd.
#[test]
fn every_replayable_volume_scenario_is_recorded() {
    let mut missing = Vec::new();
    for entry in std::fs::read_dir(root().join("scenarios/volume")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "scenario") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let plugins: Vec<&str> = text
            .lines()
            .filter(|l| l.trim_start().starts_with("#@ plugin "))
            .collect();
        let replayable = !text.contains("#@ replay skip")
            && !plugins.is_empty()
            && plugins
                .iter()
                .all(|l| l.trim_end().ends_with(" golden-volume"));
        let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
        let recorded = root()
            .join("tests/golden/conformance")
            .join(format!("{stem}.jsonl"))
            .exists();
        if replayable && !recorded {
            missing.push(stem);
        }
    }
    missing.sort();
    assert!(
        missing.is_empty(),
        "record these with `sudo python3 tests/conformance/volume.py`: {missing:?}"
    );
}
