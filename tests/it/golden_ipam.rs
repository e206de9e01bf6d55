//! Real dockerd IPAM and network-driver recordings (`tests/golden/s-ipam.jsonl`,
//! `i-*.jsonl`, `n-*.jsonl`) replayed through the simulated engine against
//! `golden-ipam` / `golden-network`, plugins that answer like the recording
//! one: the plugin calls must match step for step.
//! Other plugins in the recordings (the authz plugin some were made with)
//! are not replayed and not compared.

use super::golden::actual_steps;
use drydock::run::launch::TransportKind;
use drydock::run::{run_scenario, RunOptions};
use drydock_engine::compare::{compare, load_golden, replay_plan, TraceStep};
use drydock_engine::scenario::{parse, DockerCommand, NetworkCommand};
use std::collections::BTreeSet;
use std::path::Path;

/// The recording as a scenario without expectations (IPAM plugins started as
/// `golden-ipam`), the recorded steps it must reproduce, and the IPAM plugins.
fn scenario_for(golden: &[TraceStep]) -> (String, Vec<TraceStep>, BTreeSet<String>) {
    let using = |prefix: &str| -> BTreeSet<String> {
        golden
            .iter()
            .flat_map(|s| &s.calls)
            .filter(|c| c.method.starts_with(prefix))
            .map(|c| c.plugin.clone())
            .collect()
    };
    let ipam = using("IpamDriver.");
    let net = using("NetworkDriver.");
    let mut header = vec!["# generated from a golden IPAM/network recording".to_owned()];
    header.extend(ipam.iter().map(|p| format!("#@ plugin {p} golden-ipam")));
    for p in &net {
        assert!(
            !ipam.contains(p),
            "{p}: combined IPAM+network plugins are not replayable yet"
        );
        header.push(format!("#@ plugin {p} golden-network"));
    }
    let ipam_plugins: BTreeSet<String> = ipam.union(&net).cloned().collect();
    let plan = replay_plan(golden, &header, |c| ipam_plugins.contains(&c.plugin))
        .unwrap_or_else(|e| panic!("{e}"));
    (plan.text, plan.expected, ipam_plugins)
}

/// `docker rm -f A B` removes its containers concurrently, so the order of
/// their ReleaseAddress calls is not dockerd's to fix: sort them by address.
/// A Join's `SandboxKey` lies under the daemon's exec root, which the
/// recording sandbox moved: compare only its shape (`…/netns/<12 hex>`).
/// The golden driver's interface name is made from the random endpoint ID:
/// check that it is, then compare it as such. The SDK always writes
/// `DisableGatewayService`; an absent one means the same `false` to dockerd.
pub(crate) fn normalise(steps: &mut [TraceStep]) {
    for c in steps.iter_mut().flat_map(|s| s.calls.iter_mut()) {
        if let Some(serde_json::Value::Object(r)) = c.response.as_mut() {
            if r.get("DisableGatewayService") == Some(&serde_json::json!(false)) {
                r.remove("DisableGatewayService");
            }
        }
        let endpoint: String = c
            .request
            .get("EndpointID")
            .and_then(|v| v.as_str())
            .map(|e| e.chars().take(10).collect())
            .unwrap_or_default();
        if let Some(src) = c
            .response
            .as_mut()
            .and_then(|r| r.get_mut("InterfaceName"))
            .and_then(|i| i.get_mut("SrcName"))
        {
            if src.as_str() == Some(&format!("gn{endpoint}")) {
                *src = serde_json::json!("gn<endpoint ID>");
            }
        }
        if let Some(key) = c.request.get_mut("SandboxKey") {
            let tail = key
                .as_str()
                .and_then(|k| k.rsplit_once("/netns/"))
                .map(|(_, id)| id.len() == 12 && id.bytes().all(|b| b.is_ascii_hexdigit()));
            *key = serde_json::json!(if tail == Some(true) {
                "<exec-root>/netns/<12 hex>"
            } else {
                "<unexpected sandbox key>"
            });
        }
    }
    for s in steps
        .iter_mut()
        .filter(|s| s.command.starts_with("docker rm ") && s.command.split(' ').count() > 4)
    {
        s.calls.sort_by(|a, b| {
            let key = |c: &drydock_engine::compare::TraceCall| {
                (
                    c.method.clone(),
                    c.request.get("Address").map(|v| v.to_string()),
                )
            };
            key(a).cmp(&key(b))
        });
    }
}

async fn replay(file: &str, transport: TransportKind) -> Result<(), String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(file);
    let golden = load_golden(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let (text, mut expected, plugins) = scenario_for(&golden);
    let scenario = parse(file, text.as_bytes()).map_err(|e| format!("{e}\n{text}"))?;
    let opts = RunOptions {
        transport,
        keep_going: true,
        ..Default::default()
    };
    let report = run_scenario(&scenario, &opts).await;
    let mut actual = actual_steps(&report);
    normalise(&mut expected);
    normalise(&mut actual);
    compare(&expected, &actual, |p| plugins.contains(p)).map_err(|d| {
        format!(
            "{file}: {d}\n\ntranscript:\n{}",
            drydock::run::report::text(&report)
        )
    })
}

/// Every IPAM recording: network create with and without subnet, gateway,
/// ip-range, aux addresses and ipam options, IPv6, `run --network` with and
/// without `--ip`, two containers and `network rm` with active endpoints,
/// `--ip` without a subnet, connect/disconnect errors, a daemon restart that
/// releases a running container's address and starts it again (`--restart always`).
const IPAM_CASES: &[&str] = &[
    "s-ipam.jsonl",
    "i-basic.jsonl",
    "i-connect.jsonl",
    "i-ip-nosubnet.jsonl",
    "i-ipv6.jsonl",
    "i-options.jsonl",
    "i-restart.jsonl",
    "i-two.jsonl",
];
/// Remote network driver recordings: create with `-o`, a container's
/// CreateEndpoint/Join/Leave/DeleteEndpoint, lazy activation after a restart.
const NETWORK_CASES: &[&str] = &["n-veth.jsonl", "n-restart.jsonl"];
// Not replayable: n-basic (its `docker run` failed in the sandbox's runtime
// after Join, an accident of the recording), n-ipam-combo (the plugin lists
// NetworkDriver before IpamDriver in Plugin.Activate; the SDK's order is fixed).

#[tokio::test]
async fn recorded_ipam_cases_are_reproduced_in_process() {
    let mut failures = Vec::new();
    for case in IPAM_CASES.iter().chain(NETWORK_CASES) {
        if let Err(e) = replay(case, TransportKind::InProcess).await {
            failures.push(e);
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ:\n\n{}",
        failures.len(),
        IPAM_CASES.len() + NETWORK_CASES.len(),
        failures.join("\n\n")
    );
}

#[tokio::test]
async fn the_shared_ipam_recording_is_reproduced_over_unix_sockets() {
    replay("s-ipam.jsonl", TransportKind::Unix).await.unwrap();
}

/// The comparison is not vacuous: a recording edited so dockerd "did not"
/// request a gateway is reported at that step.
#[tokio::test]
async fn a_missing_gateway_request_is_reported() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/s-ipam.jsonl");
    let mut golden = load_golden(&std::fs::read_to_string(path).unwrap()).unwrap();
    let create = golden
        .iter_mut()
        .find(|s| s.command.contains("--gateway"))
        .unwrap();
    create
        .calls
        .retain(|c| c.method != "IpamDriver.RequestAddress");
    let (text, expected, plugins) = scenario_for(&golden);
    let scenario = parse("edited", text.as_bytes()).unwrap();
    let report = run_scenario(
        &scenario,
        &RunOptions {
            keep_going: true,
            ..Default::default()
        },
    )
    .await;
    let d = compare(&expected, &actual_steps(&report), |p| plugins.contains(p)).unwrap_err();
    assert!(d.command.contains("--gateway"), "{d}");
}

/// The IPAM scenarios of `scenarios/ipam/` hold over both transports.
#[tokio::test]
async fn the_ipam_scenarios_pass_in_process_and_over_unix_sockets() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/ipam");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "scenario"))
        .collect();
    files.sort();
    assert!(files.len() >= 6, "{files:?}");
    let mut failures = Vec::new();
    for file in &files {
        let scenario = drydock_engine::scenario::parse_file(file).unwrap();
        for transport in [TransportKind::InProcess, TransportKind::Unix] {
            let opts = RunOptions {
                transport,
                ..Default::default()
            };
            let report = run_scenario(&scenario, &opts).await;
            if !report.passed() {
                failures.push(drydock::run::report::text(&report));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// `drydock plugin ipam` as a real process on a unix socket, driven by the
/// engine: registration, a pool with its gateway, and the state file written.
#[tokio::test]
async fn the_ipam_plugin_process_serves_the_engine() {
    use drydock_engine::clock::VirtualClock;
    use drydock_engine::daemon::{Engine, EngineConfig};
    use drydock_engine::plugins::discovery::PluginRoots;
    use drydock_engine::scenario::NetworkCreate;

    let dir = tempfile::tempdir().unwrap();
    let sockets = dir.path().join("run");
    std::fs::create_dir_all(&sockets).unwrap();
    let socket = sockets.join("pipam.sock");
    let state = dir.path().join("state");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_drydock"))
        .args([
            "plugin",
            "ipam",
            "--name",
            "pipam",
            "--pool",
            "10.33.0.0/16",
        ])
        .arg("--state-dir")
        .arg(&state)
        .arg("--socket")
        .arg(&socket)
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !socket.exists() {
        assert!(std::time::Instant::now() < deadline, "no socket");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let engine = Engine::new(EngineConfig {
        roots: PluginRoots {
            sockets_dir: sockets,
            spec_dirs: vec![dir.path().join("etc")],
        },
        clock: VirtualClock::new(),
        seed: 3,
    });
    let create = DockerCommand::Network(NetworkCommand::Create(NetworkCreate {
        name: "n".into(),
        ipam_driver: Some("pipam".into()),
        ..Default::default()
    }));
    let out = drydock_engine::docker_cli::docker(&engine, &create).await;
    assert_eq!(out.error, None);
    let calls: Vec<String> = engine
        .trace()
        .snapshot()
        .iter()
        .map(|r| {
            format!(
                "{} {}",
                r.method,
                String::from_utf8_lossy(&r.response.clone().unwrap_or_default()).trim_end()
            )
        })
        .collect();
    assert_eq!(calls[3], "IpamDriver.RequestPool {\"PoolID\":\"drydock-local/10.33.0.0/24\",\"Pool\":\"10.33.0.0/24\",\"Data\":{}}");
    assert_eq!(
        calls[4],
        "IpamDriver.RequestAddress {\"Address\":\"10.33.0.1/24\",\"Data\":{}}"
    );
    assert!(state.join(drydock_ipam::STATE_FILE).exists());
    child.kill().await.unwrap();
}
