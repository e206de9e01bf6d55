//! Real dockerd authz recordings (`tests/golden/s-authz.jsonl`, `a-*.jsonl`)
//! replayed through the simulated engine's API layer and authz chain, against
//! `golden-authz` plugins configured like the recording ones: every
//! AuthZReq/AuthZRes must match step for step — method, URI, headers, decoded
//! JSON bodies, response status and headers — and so must the command's
//! outcome (denials, plugin failures).

use drydock::run::launch::TransportKind;
use drydock::run::{run_scenario, RunOptions, ScenarioReport};
use drydock_engine::compare::{compare, load_golden, replay_plan, TraceCall, TraceStep};
use drydock_engine::scenario::parse;
use drydock_sdk::wire::authz::AuthzRequest;
use serde_json::Value;
use std::path::Path;

/// A recording, its authz plugins with their recplug options (in
/// `--authorization-plugin` order), and the chain as configured.
struct Case {
    file: &'static str,
    plugins: &'static [(&'static str, &'static str)],
    chain: &'static [&'static str],
}

const CASES: &[Case] = &[
    Case {
        file: "s-authz.jsonl",
        plugins: &[("gauthz", "deny_req=/volumes/create")],
        chain: &["gauthz"],
    },
    Case {
        file: "a-allow-basic.jsonl",
        plugins: &[("gauthz", "")],
        chain: &["gauthz"],
    },
    Case {
        file: "a-allow-containers.jsonl",
        plugins: &[("gauthz", "")],
        chain: &["gauthz"],
    },
    Case {
        file: "a-allow-network.jsonl",
        plugins: &[("gauthz", "")],
        chain: &["gauthz"],
    },
    Case {
        file: "a-deny.jsonl",
        plugins: &[(
            "gauthz",
            "deny_req=/volumes/create deny_res=/containers/json deny_res=/volumes/dx",
        )],
        chain: &["gauthz"],
    },
    Case {
        file: "a-err.jsonl",
        plugins: &[("gauthz", "err_req=/volumes/create err_res=/containers/json")],
        chain: &["gauthz"],
    },
    Case {
        file: "a-errok.jsonl",
        plugins: &[(
            "gauthz",
            "errok_req=/volumes/create errok_res=/containers/json",
        )],
        chain: &["gauthz"],
    },
    Case {
        file: "a-chain.jsonl",
        plugins: &[
            ("a1", "err_req=/containers/json"),
            ("a2", "deny_req=/volumes/create deny_res=/networks"),
        ],
        chain: &["a1", "a2"],
    },
    Case {
        file: "a-dup.jsonl",
        plugins: &[("a1", "")],
        chain: &["a1", "a1"],
    },
];

fn scenario_for(case: &Case, golden: &[TraceStep]) -> (String, Vec<TraceStep>) {
    let mut header = vec!["# generated from a golden authz recording".to_owned()];
    header.extend(
        case.plugins
            .iter()
            .map(|(name, opts)| format!("#@ plugin {name} golden-authz {opts}")),
    );
    header.push(format!("#@ authorization-plugin {}", case.chain.join(" ")));
    // Every request is authorised, set-up lines' too: only docker commands
    // are replayed, whatever other steps caused.
    let plan = replay_plan(golden, &header, |_| false).unwrap_or_else(|e| panic!("{e}"));
    (plan.text, plan.expected)
}

/// Makes an authz call comparable: base64 bodies decoded into JSON, and
/// parts that differ between a real host and the simulation by design
/// dropped (build details of `/version`, local volume paths on disk).
pub(crate) fn normalise(call: &mut TraceCall) {
    if !call.method.starts_with("AuthZPlugin.") {
        return;
    }
    let req: AuthzRequest = serde_json::from_value(call.request.clone())
        .unwrap_or_else(|e| panic!("not an authz request: {e}: {}", call.request));
    let Value::Object(map) = &mut call.request else {
        return;
    };
    let decode = |bytes: &Option<Vec<u8>>| {
        bytes.as_ref().map(|b| {
            serde_json::from_slice::<Value>(b)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(b).into_owned()))
        })
    };
    if let Some(body) = decode(&req.request_body) {
        map.insert("RequestBody".into(), body);
    }
    // `docker cp`'s path description: only the name is the same on a real
    // file system and in the simulation.
    if let Some(Value::Object(headers)) = map.get_mut("ResponseHeaders") {
        if let Some(stat) = headers.get_mut("X-Docker-Container-Path-Stat") {
            let decoded = stat
                .as_str()
                .and_then(base64_decode)
                .and_then(|b| serde_json::from_slice::<Value>(&b).ok());
            *stat = decoded
                .and_then(|v| v.get("name").cloned())
                .unwrap_or(Value::Null);
        }
    }
    if let Some(mut body) = decode(&req.response_body) {
        if req.request_uri.ends_with("/version") {
            body = Value::String("<version details>".into());
        }
        strip_local_paths(&mut body);
        if req.request_uri.contains("/networks") {
            body = network_names(&body);
        }
        map.insert("ResponseBody".into(), body);
    }
}

/// Network listings come in Go map order and carry the host's details
/// (creation times, bridge subnets): compare which networks, by name.
fn network_names(body: &Value) -> Value {
    match body {
        Value::Array(items) => {
            let mut names: Vec<Value> = items.iter().map(network_names).collect();
            names.sort_by_key(|n| n.to_string());
            Value::Array(names)
        }
        Value::Object(m) => m.get("Name").cloned().unwrap_or(Value::Null),
        other => other.clone(),
    }
}

/// Standard base64 with padding, as Go encodes it (enough for a header).
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut bits = 0u32;
    let mut count = 0;
    let mut out = Vec::new();
    for c in text.bytes().filter(|&c| c != b'=') {
        let v = ALPHABET.iter().position(|&a| a == c)? as u32;
        bits = bits << 6 | v;
        count += 6;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
            bits &= (1 << count) - 1;
        }
    }
    Some(out)
}

/// `Mountpoint`s of `local` volumes live under the daemon's data root.
fn strip_local_paths(v: &mut Value) {
    match v {
        Value::Object(m) => {
            if m.get("Driver").and_then(Value::as_str) == Some("local") {
                m.remove("Mountpoint");
            }
            m.values_mut().for_each(strip_local_paths);
        }
        Value::Array(a) => a.iter_mut().for_each(strip_local_paths),
        _ => {}
    }
}

fn actual_steps(report: &ScenarioReport) -> Vec<TraceStep> {
    report
        .steps
        .iter()
        .filter(|s| s.index.is_some())
        .map(|s| TraceStep {
            command: s.text.clone(),
            calls: s.calls.iter().map(TraceCall::from).collect(),
            ok: Some(s.outcome.error.is_none()),
            output: s
                .outcome
                .error
                .clone()
                .unwrap_or_else(|| s.outcome.stdout.clone()),
        })
        .collect()
}

/// The comparable part of a trace: authz calls of the case's plugins (their
/// activation happens at daemon start, which is not a replayed step).
fn authz_only(case: &Case, steps: &mut [TraceStep]) {
    for s in steps {
        s.calls.retain(|c| {
            case.plugins.iter().any(|(p, _)| *p == c.plugin) && c.method.starts_with("AuthZPlugin.")
        });
        s.calls.iter_mut().for_each(normalise);
    }
}

async fn replay(case: &Case, transport: TransportKind) -> Result<(), String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(case.file);
    let golden = load_golden(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let (text, mut expected) = scenario_for(case, &golden);
    let scenario = parse(case.file, text.as_bytes()).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let opts = RunOptions {
        transport,
        keep_going: true,
        ..Default::default()
    };
    let report = run_scenario(&scenario, &opts).await;
    // The generated scenario has no expectations (outcomes are compared
    // below); only a directive that could not run is a failure here.
    if let Some(f) = report.failures.iter().find(|f| f.command.starts_with("#@")) {
        return Err(format!("{}: {f:?}", case.file));
    }
    let mut actual = actual_steps(&report);
    authz_only(case, &mut expected);
    authz_only(case, &mut actual);
    compare(&expected, &actual, |p| {
        case.plugins.iter().any(|(n, _)| *n == p)
    })
    .map_err(|d| {
        format!(
            "{}: {d}\n\ntranscript:\n{}",
            case.file,
            drydock::run::report::text(&report)
        )
    })
}

#[tokio::test]
async fn recorded_authz_cases_are_reproduced() {
    let mut failures = Vec::new();
    for case in CASES {
        if let Err(e) = replay(case, TransportKind::InProcess).await {
            failures.push(e);
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ:\n\n{}",
        failures.len(),
        CASES.len(),
        failures.join("\n\n")
    );
}

#[tokio::test]
async fn the_shared_authz_recording_is_reproduced_over_unix_sockets() {
    replay(&CASES[0], TransportKind::Unix).await.unwrap();
}

/// The comparison is not vacuous: a recording edited so the plugin "did
/// not" deny the volume creation no longer matches.
#[tokio::test]
async fn a_different_verdict_is_reported() {
    let case = Case {
        file: "s-authz.jsonl",
        plugins: &[("gauthz", "")],
        chain: &["gauthz"],
    };
    let e = replay(&case, TransportKind::InProcess).await.unwrap_err();
    assert!(e.contains("docker volume create denied1"), "{e}");
}

// The volume recordings also carry the allow-all recorder `rec-authz` in
// dockerd's chain: it saw every API request the CLI made. Replayed with a
// `golden-authz` plugin in its place, the simulated CLI must make the same
// requests (URIs, headers, bodies) with the same responses, and the volume
// plugin calls must still match. The cases are the volume replay's own.
use super::golden::VOLUME_CASES;

const RECORDER: &str = "rec-authz";

async fn replay_api(file: &str) -> Result<(), String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(file);
    let golden = load_golden(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let (text, mut expected, plugins) = super::golden::scenario_for(&golden);
    let text = text.replacen(
        '\n',
        &format!("\n#@ plugin {RECORDER} golden-authz\n#@ authorization-plugin {RECORDER}\n"),
        1,
    );
    let scenario = parse(file, text.as_bytes()).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let opts = RunOptions {
        keep_going: true,
        ..Default::default()
    };
    let report = run_scenario(&scenario, &opts).await;
    let mut actual: Vec<TraceStep> = super::golden::actual_steps(&report)
        .into_iter()
        .filter(|s| !s.command.starts_with("#@ authorization-plugin"))
        .collect();
    for s in expected.iter_mut().chain(actual.iter_mut()) {
        // The recorder is activated when the daemon starts, outside any step.
        s.calls
            .retain(|c| !(c.plugin == RECORDER && c.method == "Plugin.Activate"));
        s.calls.iter_mut().for_each(normalise);
    }
    compare(&expected, &actual, |p| p == RECORDER || plugins.contains(p)).map_err(|d| {
        format!(
            "{file}: {d}\n\ntranscript:\n{}",
            drydock::run::report::text(&report)
        )
    })
}

#[tokio::test]
async fn recorded_volume_cases_make_the_recorded_api_requests() {
    let mut failures = Vec::new();
    for case in VOLUME_CASES {
        if let Err(e) = replay_api(case).await {
            failures.push(e);
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ:\n\n{}",
        failures.len(),
        VOLUME_CASES.len(),
        failures
            .iter()
            .map(|f| f.split("\n\ntranscript").next().unwrap_or(f))
            .collect::<Vec<_>>()
            .join("\n\n")
    );
}

/// Network recordings with the recorder in the chain: only the API requests
/// are compared here (tests/it/golden_ipam.rs checks the plugin calls).
const NETWORK_CASES: &[&str] = &[
    "s-ipam.jsonl",
    "i-basic.jsonl",
    "i-connect.jsonl",
    "i-ip-nosubnet.jsonl",
    "i-ipv6.jsonl",
    "i-options.jsonl",
    "i-restart.jsonl",
    "n-veth.jsonl",
    "n-restart.jsonl",
];
// Not comparable: i-two (`docker rm -f c1 c2` sends its requests in
// parallel; their order on the recorder is not fixed).

async fn replay_network_api(file: &str) -> Result<(), String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(file);
    let golden = load_golden(&std::fs::read_to_string(&path).unwrap()).unwrap();
    if !golden
        .iter()
        .flat_map(|s| &s.calls)
        .any(|c| c.plugin == RECORDER)
    {
        return Ok(());
    }
    let kinds = [
        ("VolumeDriver.", "golden-volume"),
        ("IpamDriver.", "golden-ipam"),
        ("NetworkDriver.", "golden-network"),
    ];
    let mut text = format!(
        "# generated from {file}\n#@ plugin {RECORDER} golden-authz\n#@ authorization-plugin {RECORDER}\n"
    );
    let mut started = std::collections::BTreeSet::new();
    for (prefix, kind) in kinds {
        for c in golden.iter().flat_map(|s| &s.calls) {
            if c.method.starts_with(prefix) && started.insert(c.plugin.clone()) {
                text.push_str(&format!("#@ plugin {} {kind}\n", c.plugin));
            }
        }
    }
    let mut expected = Vec::new();
    for step in &golden {
        if step.command == "#restart" {
            text.push_str("#@ restart-daemon\n");
        } else if step.command.starts_with("docker ") {
            text.push_str(&step.command);
            text.push('\n');
        } else {
            continue;
        }
        expected.push(step.clone());
    }
    let scenario = parse(file, text.as_bytes()).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let opts = RunOptions {
        keep_going: true,
        ..Default::default()
    };
    let report = run_scenario(&scenario, &opts).await;
    let mut actual: Vec<TraceStep> = super::golden::actual_steps(&report)
        .into_iter()
        .filter(|s| !s.command.starts_with("#@ authorization-plugin"))
        .collect();
    for s in expected.iter_mut().chain(actual.iter_mut()) {
        // Around a restart the recording harness itself queried the daemon.
        if s.command == "#restart" {
            s.calls.clear();
        }
        s.calls
            .retain(|c| c.plugin == RECORDER && c.method != "Plugin.Activate");
        s.calls.iter_mut().for_each(normalise);
    }
    compare(&expected, &actual, |p| p == RECORDER).map_err(|d| {
        format!(
            "{file}: {d}\n\ntranscript:\n{}",
            drydock::run::report::text(&report)
        )
    })
}

#[tokio::test]
async fn recorded_network_cases_make_the_recorded_api_requests() {
    let mut failures = Vec::new();
    for case in NETWORK_CASES {
        if let Err(e) = replay_network_api(case).await {
            failures.push(e);
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ:\n\n{}",
        failures.len(),
        NETWORK_CASES.len(),
        failures
            .iter()
            .map(|f| f.split("\n\ntranscript").next().unwrap_or(f))
            .collect::<Vec<_>>()
            .join("\n\n")
    );
}
