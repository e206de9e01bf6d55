//! Scenario files checked against a real dockerd. `tests/conformance/run.py`
//! replays each replayable `scenarios/{volume,authz,ipam}/*.scenario` on a
//! real dockerd with its plugins behind `drydock record`, and writes the
//! merged trace as `<dir>/<name>.jsonl` (volume recordings at the top of the
//! directory). This module runs the scenario of the same name in drydock
//! (both transports) and requires its own expectations to hold and its plugin
//! calls to match the recording step for step. The scenario's own `#>`
//! expectations are also checked against the recording, so a file never
//! states something only the simulation does.
//!
//! The recordings come from `tests/golden/conformance` (committed, so CI
//! checks the real ground truth even without a dockerd), or from the
//! directory in `DRYDOCK_CONFORMANCE_DIR` (the live suite's fresh ones).

use super::golden::actual_steps;
use drydock::run::launch::TransportKind;
use drydock::run::{run_scenario, RunOptions};
use drydock_engine::compare::{compare, load_golden, TraceCall, TraceStep};
use drydock_engine::scenario::{
    parse_file, Directive, ObservedCall, Outcome, Scenario, StepKind, Vars,
};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Where the recordings are: `DRYDOCK_CONFORMANCE_DIR`, or the committed ones.
fn recordings_dir() -> PathBuf {
    std::env::var_os("DRYDOCK_CONFORMANCE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("tests/golden/conformance"))
}

/// The scenario directories with recordings; `volume`'s sit at the top.
const DIRS: &[&str] = &["volume", "authz", "ipam"];

/// The recordings as (key, path), sorted: the key is the scenario's name,
/// prefixed with `authz/` or `ipam/` outside `scenarios/volume`.
fn recordings() -> Vec<(String, PathBuf)> {
    let base = recordings_dir();
    let mut v = Vec::new();
    for dir in DIRS {
        let (from, prefix) = if *dir == "volume" {
            (base.clone(), String::new())
        } else {
            (base.join(dir), format!("{dir}/"))
        };
        let Ok(entries) = std::fs::read_dir(&from) else {
            continue;
        };
        for e in entries {
            let path = e.unwrap().path();
            if path.extension().is_some_and(|e| e == "jsonl") {
                let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
                v.push((format!("{prefix}{stem}"), path));
            }
        }
    }
    v.sort();
    v
}

/// The scenario file a recording's key names.
fn scenario_file(key: &str) -> PathBuf {
    match key.split_once('/') {
        Some((dir, name)) => root()
            .join("scenarios")
            .join(dir)
            .join(format!("{name}.scenario")),
        None => root()
            .join("scenarios/volume")
            .join(format!("{key}.scenario")),
    }
}

/// Checks one recording against a drydock run of its scenario; `Err` says
/// how they differ.
async fn check(key: &str, recording: &Path, transport: TransportKind) -> Result<(), String> {
    let text = std::fs::read_to_string(recording).map_err(|e| e.to_string())?;
    check_text(key, &text, transport).await
}

/// [`check`] on a recording's text, for the scenario `key` names.
async fn check_text(key: &str, text: &str, transport: TransportKind) -> Result<(), String> {
    let scenario = parse_file(scenario_file(key)).map_err(|e| e.to_string())?;
    let golden = load_golden(text)?;
    if let Some(s) = golden.iter().find(|s| s.command == "#start-failed") {
        return Err(format!(
            "the recording's sandbox did not start: {}",
            s.output
        ));
    }
    let plugins: BTreeSet<String> = golden
        .iter()
        .flat_map(|s| &s.calls)
        .map(|c| c.plugin.clone())
        .collect();
    let expected = recorded_steps(&golden)?;
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
    let actual: Vec<TraceStep> = actual_steps(&report)
        .into_iter()
        .filter(|s| replayed(&s.command))
        .collect();
    let (expected, actual) = (comparable(expected), comparable(actual));
    compare(&expected, &actual, |p| plugins.contains(p)).map_err(|d| d.to_string())
}

/// Whether a step of a drydock run has a step in the recording: the docker
/// commands and daemon restarts.
fn replayed(command: &str) -> bool {
    command.starts_with("docker ") || command == "#restart"
}

/// The recording's steps as a drydock run has them. What the daemon asks of
/// plugins while it starts belongs to the first command (drydock's daemon
/// starts with it) or, after a restart, to the restart; authz calls there
/// are the sandbox's own readiness requests, not the scenario's. After the
/// last command the daemon stops: only volume calls there would be a step
/// drydock cannot replay.
fn recorded_steps(golden: &[TraceStep]) -> Result<Vec<TraceStep>, String> {
    let daemon_calls = |s: &TraceStep| -> Vec<TraceCall> {
        s.calls
            .iter()
            .filter(|c| !c.method.starts_with("AuthZPlugin."))
            .cloned()
            .collect()
    };
    let mut steps: Vec<TraceStep> = Vec::new();
    let mut at_start: Vec<TraceCall> = Vec::new();
    for step in golden {
        match step.command.as_str() {
            "#boot" | "#start" => at_start.extend(daemon_calls(step)),
            "#restarted" => match steps.last_mut() {
                Some(last) => last.calls.extend(daemon_calls(step)),
                None => at_start.extend(daemon_calls(step)),
            },
            c if replayed(c) => {
                let mut step = step.clone();
                if steps.is_empty() {
                    step.calls.splice(0..0, std::mem::take(&mut at_start));
                }
                steps.push(step);
            }
            c if c.starts_with("#restart-plugin") => {
                if let Some(last) = steps.last_mut() {
                    last.calls.extend(step.calls.iter().cloned());
                }
            }
            _ => {
                let stray: Vec<String> = step
                    .calls
                    .iter()
                    .filter(|c| c.method.starts_with("VolumeDriver."))
                    .map(|c| format!("{} {} {}", c.plugin, c.method, c.request))
                    .collect();
                if !stray.is_empty() {
                    return Err(format!(
                        "recorded step `{}` made volume calls no scenario step replays: {stray:?}",
                        step.command
                    ));
                }
            }
        }
    }
    Ok(steps)
}

/// Both traces made comparable: authz bodies decoded and host details
/// dropped (`golden_authz::normalise`; and image IDs: the sandbox imports its
/// image from the host's busybox, so its ID differs between machines), the
/// network allowances of `golden_ipam::normalise` (sandbox keys under the
/// exec root, concurrent releases of `docker rm A B`), IDs detached from a
/// following period.
fn comparable(mut steps: Vec<TraceStep>) -> Vec<TraceStep> {
    for s in &mut steps {
        for c in &mut s.calls {
            super::golden_authz::normalise(c);
            let list = c
                .request
                .get("RequestUri")
                .and_then(serde_json::Value::as_str)
                .is_some_and(|u| u.contains("/containers/json"));
            if let Some(body) = c.request.get_mut("ResponseBody") {
                drop_image_ids(body);
                if list {
                    container_summaries(body);
                }
            }
        }
    }
    super::golden_ipam::normalise(&mut steps);
    for c in steps.iter_mut().flat_map(|s| s.calls.iter_mut()) {
        if let Some(r) = c.response.as_mut() {
            private_state_dirs(r);
            // A plain-text answer: Go's http.Error adds a newline, a
            // `#@ fault … status CODE TEXT` does not; dockerd trims it.
            if let serde_json::Value::String(text) = r {
                let trimmed = text.trim_end_matches('\n').len();
                text.truncate(trimmed);
            }
        }
    }
    detach_id_periods(steps)
}

/// A reference plugin keeps its state in a directory private to the run:
/// `/tmp/drydock-run-XXXX/state/NAME/…` in drydock, `<state-dir>/NAME/…` in
/// the recordings (tests/conformance/run.py).
fn private_state_dirs(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::String(s) => {
            if let Some(i) = s.find("/drydock-run-") {
                if let Some(j) = s[i..].find("/state/") {
                    *s = format!("<state-dir>/{}", &s[i + j + "/state/".len()..]);
                }
            }
        }
        serde_json::Value::Object(m) => m.values_mut().for_each(private_state_dirs),
        serde_json::Value::Array(a) => a.iter_mut().for_each(private_state_dirs),
        _ => {}
    }
}

/// The fields of a `docker ps` listing drydock simulates; the others
/// (creation time, ports, labels, host config, network settings, mounts) are
/// not (yet) part of its answer.
fn container_summaries(v: &mut serde_json::Value) {
    const KEPT: &[&str] = &["Id", "Names", "Image", "Command", "State", "Status"];
    if let serde_json::Value::Array(items) = v {
        for item in items {
            if let serde_json::Value::Object(m) = item {
                m.retain(|k, _| KEPT.contains(&k.as_str()));
            }
        }
    }
}

fn drop_image_ids(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(m) => {
            m.remove("ImageID");
            m.values_mut().for_each(drop_image_ids);
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(drop_image_ids),
        _ => {}
    }
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
/// did and printed (the recording's steps, as [`recorded_steps`] returns them).
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
        "no recordings in {}",
        recordings_dir().display()
    );
    let mut failures = Vec::new();
    for (key, rec) in &recordings {
        for transport in [TransportKind::InProcess, TransportKind::Unix] {
            match check(key, rec, transport).await {
                Ok(()) => println!("conformance: {key} ({transport:?}): identical"),
                Err(e) => {
                    // One line per verdict: tests/conformance/run.py reads them.
                    let first = e.replace('\n', " | ");
                    println!("conformance: {key} ({transport:?}): {first}");
                    failures.push(format!("{key} ({transport:?}): {e}"));
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

/// The same for authz and IPAM recordings: a real dockerd that "did not"
/// release an address, or "did not" ask the second plugin of a chain, is
/// reported at that command.
#[tokio::test]
async fn edited_authz_and_ipam_recordings_are_caught() {
    let cases = [
        (
            "ipam/run-network",
            "\"Address\": \"10.70.0.50\"}",
            "--ip 10.70.0.50",
        ),
        (
            "authz/chain",
            "\"plugin\": \"a2\", \"path\": \"/AuthZPlugin.AuthZReq\", \"req\": {\"RequestMethod\": \"POST\"",
            "docker volume create x2",
        ),
    ];
    for (key, dropped, command) in cases {
        let path = root().join(format!("tests/golden/conformance/{key}.jsonl"));
        let text = std::fs::read_to_string(path).unwrap();
        let edited: String = text
            .lines()
            .enumerate()
            // The first line holding `dropped` goes.
            .filter(|(i, l)| {
                !(l.contains(dropped) && text.lines().position(|x| x.contains(dropped)) == Some(*i))
            })
            .map(|(_, l)| format!("{l}\n"))
            .collect();
        assert_ne!(edited, text, "{key}: nothing dropped");
        let e = check_text(key, &edited, TransportKind::InProcess)
            .await
            .unwrap_err();
        assert!(e.contains(command), "{key}: {e}");
    }
}

/// Every scenario of the replayed directories is recorded, or says why it
/// cannot be (`#@ replay skip: <reason>`), so a new scenario cannot land
/// unchecked against the real dockerd.
#[test]
fn every_replayable_scenario_is_recorded() {
    let mut missing = Vec::new();
    for dir in DIRS {
        for entry in std::fs::read_dir(root().join("scenarios").join(dir)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "scenario") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            if text
                .lines()
                .any(|l| l.trim_start().starts_with("#@ replay skip"))
            {
                continue;
            }
            let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
            let key = if *dir == "volume" {
                stem
            } else {
                format!("{dir}/{stem}")
            };
            let recorded = root()
                .join("tests/golden/conformance")
                .join(format!("{key}.jsonl"))
                .exists();
            if !recorded {
                missing.push(key);
            }
        }
    }
    missing.sort();
    assert!(
        missing.is_empty(),
        "record these with `sudo python3 tests/conformance/run.py --update PATH…`, or add \
         `#@ replay skip: <reason>` to them: {missing:?}"
    );
}
