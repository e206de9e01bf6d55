//! Fault scenarios checked against a real dockerd. `tests/conformance/faults.py`
//! replays each replayable `scenarios/faults/*.scenario` on a real dockerd 20.10,
//! with `tests/golden/tools/faultplug.py` applying the same `#@ fault`s, and
//! commits the trace as `tests/golden/faults/conformance/<name>.jsonl`. This
//! module checks the scenario's own `#>` expectations against that recording —
//! outputs, dockerd's error texts, the calls with their status, the attempts a
//! call took, whether a retry carried an empty body, and how long it took — so
//! a fault scenario never states something only the simulation does. CI needs
//! no dockerd: the recordings are committed.
//!
//! A recording has one line per HTTP request; a call dockerd retried after a
//! transport failure is several lines (every one but the last unanswered).
//! They are grouped back into one [`ObservedCall`] with its attempts, as the
//! simulated engine reports it. Engine time is measured from the first
//! attempt to the answer (or dockerd giving up, or dockerd closing the
//! connection at its timeout) and rounded to 100 ms: dockerd's own waits are
//! whole seconds, the rest is scheduling noise.

use drydock::run::faults::{fmt_duration, HANG_LIMIT, HANG_PREFIX};
use drydock_engine::scenario::{parse_file, Directive, ObservedCall, Outcome, StepKind, Vars};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The recordings, sorted by name (none yet is not an error: the scenarios
/// may not be recorded).
fn recordings() -> Vec<PathBuf> {
    let Ok(dir) = std::fs::read_dir(root().join("tests/golden/faults/conformance")) else {
        return Vec::new();
    };
    let mut v: Vec<PathBuf> = dir
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    v.sort();
    v
}

/// One replayed line of the scenario, as the real dockerd did it.
#[derive(Debug, Default)]
struct RealStep {
    command: String,
    rc: Option<i64>,
    stdout: String,
    stderr: String,
    secs: f64,
    requests: Vec<Value>,
}

/// Splits a recording into its replayed steps: `docker` lines and daemon
/// restarts (whose start-up requests, up to `#restarted`, belong to them).
/// Requests while the recorder armed faults or moved plugins belong to no
/// step.
fn real_steps(text: &str) -> Result<Vec<RealStep>, String> {
    let mut steps: Vec<RealStep> = Vec::new();
    let mut current: Option<usize> = None;
    for (n, line) in text.lines().enumerate() {
        let v: Value = serde_json::from_str(line).map_err(|e| format!("line {}: {e}", n + 1))?;
        if let Some(mark) = v.get("mark").and_then(Value::as_str) {
            if mark == "#start-failed" {
                return Err("the recording's sandbox did not start".into());
            }
            if mark.starts_with("docker ") || mark == "#restart" {
                steps.push(RealStep {
                    command: mark.to_owned(),
                    ..Default::default()
                });
                current = Some(steps.len() - 1);
            } else if mark != "#restarted" {
                current = None;
            }
        } else if let Some(r) = v.get("result") {
            if let Some(i) = current {
                let s = &mut steps[i];
                s.rc = r.get("rc").and_then(Value::as_i64);
                s.stdout = r["stdout"].as_str().unwrap_or_default().to_owned();
                s.stderr = r["stderr"].as_str().unwrap_or_default().to_owned();
                s.secs = r["secs"].as_f64().unwrap_or_default();
            }
        } else if v.get("path").is_some() || v.get("event").is_some() {
            if let Some(i) = current {
                steps[i].requests.push(v);
            }
        }
    }
    Ok(steps)
}

/// The request body as the engine reports it: `null` when empty, JSON, or the
/// raw text when it is not JSON. `None` when the plugin never read it.
fn request_body(line: &Value) -> Option<Value> {
    // A body the plugin did not read (drop-before) is kept as `unread`.
    let raw = line["raw"].as_str().or_else(|| line["unread"].as_str())?;
    if raw.is_empty() {
        return Some(Value::Null);
    }
    Some(serde_json::from_str(raw).unwrap_or_else(|_| Value::String(raw.to_owned())))
}

fn rounded(secs: f64) -> Duration {
    Duration::from_millis(((secs.max(0.0) * 10.0).round() as u64) * 100)
}

/// Groups one step's request lines into calls: a request to the same plugin
/// and method as a call still without an answer (and not ended by dockerd
/// closing it) is that call's retry. dockerd's `retrying in Ns` log lines
/// (`dockerd-retry` events) complete the count: an attempt whose dial was
/// refused never reached the plugin, so only the log shows it.
fn calls_of(step: &RealStep) -> Vec<ObservedCall> {
    struct Open {
        call: ObservedCall,
        first_t: f64,
        end_t: f64,
        /// dockerd closed the connection (its timeout): the call is over.
        closed: bool,
        /// Whether the first attempt's body was empty (`None`: not read).
        first_empty: Option<bool>,
        /// The last attempt reached the plugin, failed, and no retry line
        /// has accounted for it yet.
        visible_failure: bool,
        /// A retry line announced the next attempt for this time.
        next_due: Option<f64>,
    }
    let same = |o: &Open, plugin: &str, method: &str| {
        o.call.plugin == plugin && o.call.method == method && o.call.status.is_none() && !o.closed
    };
    let mut calls: Vec<Open> = Vec::new();
    for line in &step.requests {
        let t = line["t"].as_f64().unwrap_or_default();
        let plugin = line["plugin"].as_str().unwrap_or_default();
        let path = line["path"].as_str().unwrap_or_default();
        let method = path.trim_start_matches('/');
        match line.get("event").and_then(Value::as_str) {
            Some("client-gone") => {
                if let Some(open) = calls
                    .iter_mut()
                    .rev()
                    .find(|o| o.call.plugin == plugin && o.call.method == method)
                {
                    open.end_t = t;
                    open.closed = true;
                    // The answer, if the plugin had one ready, was never read.
                    open.call.response = None;
                    open.call.status = None;
                }
                continue;
            }
            Some("dockerd-retry") => {
                let due = t + line["retry_in"].as_f64().unwrap_or_default();
                match calls.iter_mut().rev().find(|o| same(o, plugin, method)) {
                    Some(open) if open.visible_failure => {
                        open.visible_failure = false;
                        open.next_due = Some(due);
                    }
                    Some(open) => {
                        // The announced attempt was made but never reached the plugin.
                        open.call.attempts += 1;
                        open.end_t = t;
                        open.next_due = Some(due);
                    }
                    None => calls.push(Open {
                        call: ObservedCall {
                            plugin: plugin.to_owned(),
                            method: method.to_owned(),
                            request: Value::Null,
                            response: None,
                            status: None,
                            attempts: 1,
                            empty_body_retry: false,
                            engine_time: Duration::ZERO,
                        },
                        first_t: t,
                        end_t: t,
                        closed: false,
                        first_empty: None,
                        visible_failure: false,
                        next_due: Some(due),
                    }),
                }
                continue;
            }
            Some(_) => continue,
            None => {}
        }
        let status = line["status"].as_u64().map(|s| s as u16);
        let response = status.map(|_| line["resp"].clone());
        let fault = line["fault"].as_str().unwrap_or_default();
        // A delayed answer left the plugin that much after the request came.
        let answered_at = match fault.split_once(":delay") {
            Some((_, rest)) if status.is_some() => {
                t + rest
                    .rsplit('=')
                    .next()
                    .and_then(|s| s.parse::<f64>().ok())
                    .unwrap_or_default()
            }
            _ => t,
        };
        let empty = line["empty"].as_bool();
        let hangs = fault.contains(":hang");
        match calls.iter_mut().rev().find(|o| {
            same(o, plugin, method) && (o.visible_failure || o.next_due.is_some()) && !hangs
        }) {
            Some(open) => {
                open.call.attempts += 1;
                open.call.status = status;
                open.call.response = response;
                open.end_t = answered_at;
                open.next_due = None;
                open.visible_failure = status.is_none();
                if open.call.request.is_null() && open.first_empty.is_none() {
                    // The first attempt's body was never seen: a later one shows it.
                    if let Some(body) = request_body(line) {
                        open.call.request = body;
                    }
                }
                if empty == Some(true) && open.first_empty != Some(true) {
                    open.call.empty_body_retry = true;
                }
            }
            None => calls.push(Open {
                call: ObservedCall {
                    plugin: plugin.to_owned(),
                    method: method.to_owned(),
                    request: request_body(line).unwrap_or(Value::Null),
                    response,
                    status,
                    attempts: 1,
                    empty_body_retry: false,
                    engine_time: Duration::ZERO,
                },
                first_t: t,
                end_t: answered_at,
                closed: false,
                first_empty: empty,
                visible_failure: status.is_none() && !hangs,
                next_due: None,
            }),
        }
    }
    calls
        .into_iter()
        .map(|mut o| {
            if let Some(due) = o.next_due {
                // dockerd made the announced last attempt (refused) and gave up.
                o.call.attempts += 1;
                o.end_t = due;
            }
            o.call.engine_time = rounded(o.end_t - o.first_t);
            o.call
        })
        .collect()
}

/// dockerd's message in a failed command's output: after the CLI's `Error
/// response from daemon: `, without its `docker: ` and help hints.
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

/// How the step ended, in drydock's terms. A command the replay had to cut
/// off (rc 124, after 30 s) is a hang: dockerd was still waiting on the calls
/// the plugin never answered. It reads as drydock's runner words a step it
/// gives up on (src/run/faults.rs), whose limit is its own, not dockerd's:
/// what the real run shows is that those calls were still unanswered, with
/// dockerd waiting, when the command was cut off.
fn outcome_of(step: &RealStep, calls: &[ObservedCall]) -> Outcome {
    match step.rc {
        Some(0) => Outcome::ok(step.stdout.clone()),
        Some(124) => {
            let waiting: Vec<String> = calls
                .iter()
                .filter(|c| c.status.is_none())
                .map(|c| format!("{} {}", c.plugin, c.method))
                .collect();
            Outcome::failed(format!(
                "{HANG_PREFIX}: no answer from {} within {} of engine time, and dockerd 20.10 sets no timeout on this call",
                waiting.join(", "),
                fmt_duration(HANG_LIMIT)
            ))
        }
        _ => Outcome::failed(daemon_message(&format!("{}\n{}", step.stderr, step.stdout))),
    }
}

/// Checks the expectations of `scenarios/faults/<name>.scenario` on the
/// recording's text.
fn check_text(name: &str, text: &str) -> Result<(), String> {
    let file = root()
        .join("scenarios/faults")
        .join(format!("{name}.scenario"));
    let scenario = parse_file(&file).map_err(|e| e.to_string())?;
    let real = real_steps(text)?;
    let mut real = real.iter();
    let mut vars = Vars::default();
    for step in &scenario.steps {
        let replayed = match &step.kind {
            StepKind::Action(_) => true,
            StepKind::Directive(d) => matches!(d, Directive::RestartDaemon),
        };
        if !replayed {
            continue;
        }
        let r = real
            .next()
            .ok_or_else(|| format!("line {}: the recording has no step for it", step.line))?;
        if r.rc.is_none() {
            return Err(format!(
                "line {}: the recording has no result for `{}` (an interrupted replay?)",
                step.line, r.command
            ));
        }
        let calls = calls_of(r);
        let outcome = outcome_of(r, &calls);
        step.check(&outcome, &calls, &mut vars).map_err(|m| {
            format!(
                "line {}: expectation fails on the real dockerd (`{}`): {}",
                m.line, r.command, m.message
            )
        })?;
    }
    Ok(())
}

fn check(recording: &Path) -> Result<(), String> {
    let name = recording
        .file_stem()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let text = std::fs::read_to_string(recording).map_err(|e| e.to_string())?;
    check_text(&name, &text)
}

#[test]
fn every_fault_recording_meets_its_scenario() {
    let mut failures = Vec::new();
    let recordings = recordings();
    for rec in &recordings {
        let name = rec.file_stem().unwrap().to_string_lossy().into_owned();
        match check(rec) {
            Ok(()) => {
                println!("conformance-faults: {name}: the real dockerd meets every expectation")
            }
            Err(e) => {
                println!("conformance-faults: {name}: {e}");
                failures.push(format!("{name}: {e}"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} fault scenarios state something the real dockerd did not do:\n\n{}",
        failures.len(),
        recordings.len(),
        failures.join("\n\n")
    );
}

/// A dockerd retry recorded as three lines (refused twice, then answered with
/// an empty body) is one call of three attempts, flagged, timed from the first
/// attempt; a Get delayed past its timeout ends when dockerd hung up.
#[test]
fn retries_are_grouped_into_one_call() {
    let text = r#"{"mark": "docker run --rm -v vol:/d bb:latest true", "t": 100.0}
{"t": 100.1, "plugin": "p", "path": "/VolumeDriver.Mount", "req": {"Name": "vol"}, "raw": "{\"Name\":\"vol\"}\n", "resp": null, "status": null, "empty": false, "fault": "VolumeDriver.Mount:drop-after*1"}
{"t": 101.1, "plugin": "p", "path": "/VolumeDriver.Mount", "req": {}, "raw": "", "resp": null, "status": null, "empty": true, "fault": "VolumeDriver.Mount:drop-after*1"}
{"t": 103.12, "plugin": "p", "path": "/VolumeDriver.Mount", "req": {}, "raw": "", "resp": {"Err": "no such volume: "}, "status": 200, "empty": true, "fault": null}
{"t": 103.2, "plugin": "p", "path": "/VolumeDriver.Get", "req": {"Name": "vol"}, "raw": "{\"Name\":\"vol\"}\n", "resp": {"Err": ""}, "status": 200, "empty": false, "fault": "VolumeDriver.Get:delay*1=75"}
{"event": "client-gone", "t": 163.2, "plugin": "p", "path": "/VolumeDriver.Get"}
{"result": {"rc": 125, "out": "x", "stdout": "", "stderr": "docker: Error response from daemon: boom\n\nRun 'docker run --help' for more information\n", "secs": 63.3}}
"#;
    let steps = real_steps(text).unwrap();
    assert_eq!(steps.len(), 1);
    let calls = calls_of(&steps[0]);
    assert_eq!(calls.len(), 2, "{calls:?}");
    let mount = &calls[0];
    assert_eq!(mount.attempts, 3);
    assert!(mount.empty_body_retry);
    assert_eq!(mount.request, serde_json::json!({"Name": "vol"}));
    assert_eq!(mount.status, Some(200));
    assert_eq!(mount.engine_time, Duration::from_millis(3000));
    let get = &calls[1];
    assert_eq!((get.attempts, get.status), (1, None));
    assert_eq!(get.engine_time, Duration::from_secs(60));
    assert_eq!(outcome_of(&steps[0], &calls).error.as_deref(), Some("boom"));
}

/// The check is not vacuous: the mount-drop recording edited so that dockerd
/// "did not retry" (the empty-body resend removed) or "said something else"
/// fails it.
#[test]
fn an_edited_fault_recording_is_caught() {
    let path = root().join("tests/golden/faults/conformance/mount-drop.jsonl");
    let text = std::fs::read_to_string(&path).expect("the mount-drop recording is committed");
    check_text("mount-drop", &text).expect("the unedited recording meets its scenario");

    let lines: Vec<&str> = text.lines().collect();
    let resend = lines
        .iter()
        .position(|l| {
            l.contains("\"path\": \"/VolumeDriver.Mount\"") && l.contains("\"empty\": true")
        })
        .expect("the recording has an empty-body resend of Mount");
    let without_retry: String = lines
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != resend)
        .map(|(_, l)| format!("{l}\n"))
        .collect();
    let err = check_text("mount-drop", &without_retry).unwrap_err();
    assert!(err.contains("VolumeDriver.Mount"), "{err}");

    // dockerd's text for the first failed start, as the CLI printed it (in
    // the result's `out` and `stderr`)
    let other_text = text.replacen(
        "error while mounting volume ''",
        "error while mounting volume 'vol'",
        2,
    );
    assert_ne!(other_text, text);
    assert!(check_text("mount-drop", &other_text).is_err());
}
