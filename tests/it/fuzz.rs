//! `drydock fuzz`: the reference plugins keep every invariant over many
//! random workloads, and deliberately broken plugins are caught, shrunk to a
//! few steps, and written as scenarios that `drydock run` fails on.

use drydock::fuzz::gen::FuzzProtocol;
use drydock::fuzz::{fuzz, replay_fails, FuzzOptions, FuzzReport, Launch};
use drydock::run::launch::TransportKind;

fn options(kind: &str, protocol: FuzzProtocol, cases: u32) -> FuzzOptions {
    FuzzOptions {
        plugin: "p".into(),
        launch: Launch::Kind(kind.into()),
        protocol,
        cases,
        steps: 10,
        seed: 42,
        transport: TransportKind::InProcess,
        plugins_dir: None,
        spec_dirs: Vec::new(),
        // The broken and recording plugins keep their state in memory only.
        restart_plugin: !kind.starts_with("broken") && !kind.starts_with("golden"),
        concurrent: false,
        settings: Vec::new(),
    }
}

fn run(opts: &FuzzOptions) -> FuzzReport {
    let report = fuzz(opts, &|_| {});
    assert_eq!(report.error, None, "the fuzz run itself failed");
    report
}

/// Writes the counterexample and runs it as `drydock run` would.
fn replay(opts: &FuzzOptions, scenario: &str) -> bool {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("counterexample.scenario");
    std::fs::write(&path, scenario).unwrap();
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(replay_fails(&path, opts))
        .unwrap()
}

fn actions(scenario: &str) -> usize {
    scenario
        .lines()
        .filter(|l| l.starts_with("docker ") || l.starts_with("#@ restart"))
        .count()
}

#[test]
fn reference_volume_plugin_keeps_every_invariant() {
    let report = run(&options("volume", FuzzProtocol::Volume, 1000));
    assert!(
        report.failure.is_none(),
        "{}",
        report.failure.map(|f| f.scenario).unwrap_or_default()
    );
    assert_eq!(report.cases, 1000);
    assert!(report.calls > 10_000, "only {} plugin calls", report.calls);
}

#[test]
fn reference_ipam_plugin_keeps_every_invariant() {
    let report = run(&options("ipam", FuzzProtocol::Ipam, 1000));
    assert!(
        report.failure.is_none(),
        "{}",
        report.failure.map(|f| f.scenario).unwrap_or_default()
    );
    assert_eq!(report.cases, 1000);
}

#[test]
fn a_volume_plugin_that_unmounts_at_the_first_unmount_is_caught_and_shrunk() {
    let opts = options("broken-volume-unmount", FuzzProtocol::Volume, 500);
    let report = run(&opts);
    let failure = report.failure.expect("the bug is found");
    assert_eq!(failure.violation.invariant, "volume.mounted-iff-held");
    assert!(
        actions(&failure.scenario) <= 4,
        "not shrunk:\n{}",
        failure.scenario
    );
    assert!(failure
        .scenario
        .contains("#@ plugin p broken-volume-unmount"));
    assert!(
        replay(&opts, &failure.scenario),
        "drydock run passes:\n{}",
        failure.scenario
    );
}

#[test]
fn an_ipam_plugin_that_hands_out_an_address_twice_is_caught_and_shrunk() {
    let opts = options("broken-ipam-double", FuzzProtocol::Ipam, 500);
    let report = run(&opts);
    let failure = report.failure.expect("the bug is found");
    assert_eq!(failure.violation.invariant, "ipam.address-unique");
    assert!(
        actions(&failure.scenario) <= 4,
        "not shrunk:\n{}",
        failure.scenario
    );
    assert!(
        replay(&opts, &failure.scenario),
        "drydock run passes:\n{}",
        failure.scenario
    );
}

#[test]
fn the_recording_volume_plugin_loses_a_mount_after_docker_cp() {
    // golden-volume answers like the plugin behind the real recordings: it
    // keeps a *set* of mount IDs, so `docker cp` into a running container
    // (Mount and Unmount with the container's own ID) forgets the container's
    // mount. The fuzzer finds exactly that.
    let opts = options("golden-volume", FuzzProtocol::Volume, 500);
    let failure = run(&opts).failure.expect("the set semantics are found");
    assert_eq!(failure.violation.invariant, "volume.mounted-iff-held");
    assert!(
        failure.scenario.contains("docker cp"),
        "{}",
        failure.scenario
    );
    assert!(actions(&failure.scenario) <= 3, "{}", failure.scenario);
    assert!(replay(&opts, &failure.scenario));
}

#[test]
fn the_same_seed_gives_the_same_counterexample() {
    let opts = options("broken-ipam-double", FuzzProtocol::Ipam, 200);
    let a = run(&opts).failure.expect("found");
    let b = run(&opts).failure.expect("found");
    assert_eq!(a.scenario, b.scenario);
}

#[test]
fn a_plugin_over_a_unix_socket_is_fuzzed_too() {
    let mut opts = options("volume", FuzzProtocol::Volume, 30);
    opts.transport = TransportKind::Unix;
    let report = run(&opts);
    assert!(report.failure.is_none());
    assert!(report.calls > 100);
}

#[test]
fn reference_volume_plugin_keeps_every_invariant_with_concurrent_containers() {
    let mut opts = options("volume", FuzzProtocol::Volume, 300);
    opts.concurrent = true;
    let report = run(&opts);
    assert!(
        report.failure.is_none(),
        "{}",
        report.failure.map(|f| f.scenario).unwrap_or_default()
    );
}

#[test]
fn a_concurrent_run_writes_a_counterexample_that_replays_one_step_at_a_time() {
    let mut opts = options("broken-volume-unmount", FuzzProtocol::Volume, 300);
    opts.concurrent = true;
    let failure = run(&opts).failure.expect("the bug is found");
    assert!(
        !failure.scenario.contains("Concurrent-only"),
        "{}",
        failure.scenario
    );
    assert!(actions(&failure.scenario) <= 6, "{}", failure.scenario);
    assert!(replay(&opts, &failure.scenario), "{}", failure.scenario);
}

#[test]
fn only_commands_on_two_different_containers_run_at_once() {
    use drydock::fuzz::pairable;
    assert!(pairable("docker start c1", "docker stop c2"));
    assert!(pairable(
        "docker run -d --name c1 -v v1:/d busybox",
        "docker kill c2"
    ));
    assert!(!pairable("docker start c1", "docker stop c1"));
    assert!(!pairable("docker volume rm v1", "docker stop c2"));
}

#[test]
fn reference_authz_plugin_gives_one_stable_verdict_and_denies_malformed_requests() {
    let mut opts = options("authz", FuzzProtocol::Authz, 150);
    let policy = std::path::absolute("scenarios/authz/policies/team.policy").unwrap();
    opts.settings = vec![format!("policy={}", policy.display())];
    let report = run(&opts);
    assert!(
        report.failure.is_none(),
        "{}",
        report.failure.map(|f| f.scenario).unwrap_or_default()
    );
    assert!(report.calls > 1000, "only {} calls", report.calls);
}

#[test]
fn the_recording_authz_plugin_allows_an_undecodable_uri() {
    // golden-authz allows everything it is not told to deny, so the malformed
    // probe (`/v1.41/%zz`) is allowed at the first step.
    let failure = run(&options("golden-authz", FuzzProtocol::Authz, 50))
        .failure
        .expect("found");
    assert_eq!(failure.violation.invariant, "authz.malformed-denied");
    assert_eq!(actions(&failure.scenario), 1, "{}", failure.scenario);
    assert!(failure.scenario.contains("#@ authorization-plugin p"));
}
