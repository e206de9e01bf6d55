//! Real dockerd recordings (`tests/golden/*.jsonl`) replayed through the
//! simulated engine against a plugin that answers like the recording one: the
//! plugin calls must match step for step (random IDs and the order among one
//! container's volumes excepted).

use drydock::run::launch::TransportKind;
use drydock::run::{run_scenario, RunOptions, ScenarioReport};
use drydock_engine::compare::{compare, load_golden, replay_plan, TraceCall, TraceStep};
use drydock_engine::scenario::parse;
use std::collections::BTreeSet;
use std::path::Path;

/// Turns a recording into a scenario without expectations, and the recorded
/// steps it should reproduce. Steps that are neither docker commands nor a
/// daemon restart (`#boot`, `#start`, shell set-up lines, the final `#stop`)
/// are not replayed; they must not have caused volume plugin calls.
pub(crate) fn scenario_for(golden: &[TraceStep]) -> (String, Vec<TraceStep>, BTreeSet<String>) {
    let volume_plugins: BTreeSet<String> = golden
        .iter()
        .flat_map(|s| &s.calls)
        .filter(|c| c.method.starts_with("VolumeDriver."))
        .map(|c| c.plugin.clone())
        .collect();
    let header: Vec<String> = std::iter::once("# generated from a golden recording".to_owned())
        .chain(
            volume_plugins
                .iter()
                .map(|p| format!("#@ plugin {p} golden-volume")),
        )
        .collect();
    let plan = replay_plan(golden, &header, |c| {
        volume_plugins.contains(&c.plugin) && c.method != "Plugin.Activate"
    })
    .unwrap_or_else(|e| panic!("{e}"));
    (plan.text, plan.expected, volume_plugins)
}

/// A drydock run's steps in the shape of a recording (`#@ plugin` lines
/// dropped, `#@ restart-daemon` as `#restart`), for [`compare`].
pub(crate) fn actual_steps(report: &ScenarioReport) -> Vec<TraceStep> {
    report
        .steps
        .iter()
        .filter(|s| !s.text.starts_with("#@ plugin"))
        .map(|s| TraceStep {
            command: if s.text.starts_with("#@ restart-daemon") {
                "#restart".into()
            } else {
                s.text.clone()
            },
            calls: s.calls.iter().map(TraceCall::from).collect(),
            ok: if s.index.is_some() {
                Some(s.outcome.error.is_none())
            } else {
                None
            },
            output: s
                .outcome
                .error
                .clone()
                .unwrap_or_else(|| s.outcome.stdout.clone()),
        })
        .collect()
}

async fn replay(file: &str, transport: TransportKind) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(file);
    let golden = load_golden(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let (text, expected, plugins) = scenario_for(&golden);
    let scenario = parse(file, text.as_bytes()).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let opts = RunOptions {
        transport,
        keep_going: true,
        ..Default::default()
    };
    let report = run_scenario(&scenario, &opts).await;
    let actual = actual_steps(&report);
    if let Err(d) = compare(&expected, &actual, |p| plugins.contains(p)) {
        panic!(
            "{file}: {d}\n\ntranscript:\n{}",
            drydock::run::report::text(&report)
        );
    }
}

#[tokio::test]
async fn shared_volume_recording_is_reproduced_in_process() {
    replay("s-volume.jsonl", TransportKind::InProcess).await;
}

#[tokio::test]
async fn shared_volume_recording_is_reproduced_over_unix_sockets() {
    replay("s-volume.jsonl", TransportKind::Unix).await;
}

/// A deliberately wrong engine behaviour must be caught: the comparison is
/// not vacuous. Here the recording is edited so dockerd "did not" call Get
/// before Create.
#[tokio::test]
async fn a_different_call_sequence_is_reported() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/s-volume.jsonl");
    let mut golden = load_golden(&std::fs::read_to_string(path).unwrap()).unwrap();
    let create = golden
        .iter_mut()
        .find(|s| s.command.starts_with("docker volume create"))
        .unwrap();
    create.calls.retain(|c| c.method != "VolumeDriver.Get");
    let (text, expected, plugins) = scenario_for(&golden);
    let scenario = parse("edited", text.as_bytes()).unwrap();
    let opts = RunOptions {
        keep_going: true,
        ..Default::default()
    };
    let report = run_scenario(&scenario, &opts).await;
    let d = compare(&expected, &actual_steps(&report), |p| plugins.contains(p)).unwrap_err();
    assert!(d.command.starts_with("docker volume create"), "{d}");
}

/// The volume recordings of `tests/golden/` that need nothing but the
/// recording plugin's standard answers.
pub(crate) const VOLUME_CASES: &[&str] = &[
    "v-named.jsonl",
    "v-create-opts.jsonl",
    "v-implicit.jsonl",
    "v-copyup.jsonl",
    "v-anon-rm.jsonl",
    "v-anon-rmv.jsonl",
    "v-volumes-from.jsonl",
    "v-cp.jsonl",
    "v-lifecycle.jsonl",
    "v-unknown.jsonl",
    "v-in-use.jsonl",
    "v-conflict.jsonl",
];
// Not yet replayable: v-drive-letter (`docker inspect`), v-restart-running
// (`docker ps --format`), v-restart-stopped (`docker start -a`) and v-prune-df
// (`docker system df`) use commands the scenario language does not accept yet;
// v-mount-err and v-nocaps need recording-plugin fault variants; v-ls-ipam
// needs the IPAM layer.

#[tokio::test]
async fn recorded_volume_cases_are_reproduced() {
    let mut failures = Vec::new();
    for case in VOLUME_CASES {
        let r = tokio::spawn(replay(case, TransportKind::InProcess)).await;
        if let Err(e) = r {
            let msg = e.into_panic();
            let text = msg
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| msg.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            failures.push(text);
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ:\n\n{}",
        failures.len(),
        VOLUME_CASES.len(),
        failures.join("\n\n")
    );
}
