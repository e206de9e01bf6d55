//! `drydock fuzz`: the reference plugins keep every invariant over many
//! random workloads (one step at a time and with groups of commands run at
//! once); a deliberately broken plugin per invariant is caught, shrunk to a
//! few steps, and written as a scenario that `drydock run` fails on with the
//! same invariant and message; plugins found by discovery are fuzzed too.

use drydock::fuzz::gen::{self, FuzzProtocol, GenConfig};
use drydock::fuzz::{
    case_at, confirm, fuzz, fuzz_observed, replay, rerun_lines, Against, Counterexample,
    FuzzOptions, FuzzReport, Launch,
};
use drydock::run::launch::TransportKind;
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::TestRunner;
use std::collections::BTreeSet;
use std::path::Path;

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
        faults: Vec::new(),
        shard: None,
    }
}

fn run(opts: &FuzzOptions) -> FuzzReport {
    let report = fuzz(opts, &|_| {});
    assert_eq!(report.error, None, "the fuzz run itself failed");
    report
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// Writes the counterexample and runs it as `drydock run` would; the
/// message of its first failure.
fn replayed(opts: &FuzzOptions, scenario: &str) -> Option<String> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("counterexample.scenario");
    std::fs::write(&path, scenario).unwrap();
    block_on(replay(&path, opts)).unwrap()
}

/// Steps of a counterexample: docker lines and restarts.
fn actions(scenario: &str) -> usize {
    scenario
        .lines()
        .filter(|l| l.starts_with("docker ") || l.starts_with("#@ restart"))
        .count()
}

fn assert_clean(report: FuzzReport) -> FuzzReport {
    assert!(
        report.failure.is_none(),
        "{}",
        report
            .failure
            .as_ref()
            .map(|f| f.scenario.clone())
            .unwrap_or_default()
    );
    report
}

/// Fuzzes `opts`, expects `invariant` broken in at most `most` steps, and
/// `drydock run` of the written file to fail at its last step with the same
/// `invariant … broken: …` message.
fn caught(opts: &FuzzOptions, invariant: &str, most: usize) -> Counterexample {
    let failure = run(opts).failure.expect("the bug is found");
    let text = &failure.scenario;
    assert_eq!(failure.violation.invariant, invariant, "{text}");
    assert!(actions(text) <= most, "not shrunk to {most} steps:\n{text}");
    assert_eq!(actions(text), failure.lines.len(), "{text}");
    assert!(
        text.contains(&format!("#@ check p {invariant}\n")),
        "{text}"
    );
    assert!(!failure.concurrent_only, "{text}");
    assert_eq!(
        replayed(opts, text),
        Some(failure.violation.to_string()),
        "drydock run does not fail the same way:\n{text}"
    );
    failure
}

// ---- the reference plugins keep every invariant ----

#[test]
fn reference_volume_plugin_keeps_every_invariant() {
    let report = assert_clean(run(&options("volume", FuzzProtocol::Volume, 1000)));
    assert_eq!(report.cases, 1000);
    assert!(report.calls > 10_000, "only {} plugin calls", report.calls);
}

#[test]
fn reference_ipam_plugin_keeps_every_invariant() {
    let report = assert_clean(run(&options("ipam", FuzzProtocol::Ipam, 1000)));
    assert_eq!(report.cases, 1000);
}

#[test]
fn reference_plugins_keep_every_invariant_with_commands_run_at_once() {
    for (kind, protocol) in [
        ("volume", FuzzProtocol::Volume),
        ("ipam", FuzzProtocol::Ipam),
    ] {
        let mut opts = options(kind, protocol, 400);
        opts.concurrent = true;
        assert_clean(run(&opts));
    }
}

#[test]
fn reference_authz_plugin_gives_one_stable_verdict_and_denies_malformed_requests() {
    let mut opts = options("authz", FuzzProtocol::Authz, 150);
    let policy = std::path::absolute("scenarios/authz/policies/team.policy").unwrap();
    opts.settings = vec![format!("policy={}", policy.display())];
    opts.concurrent = true;
    let report = assert_clean(run(&opts));
    assert!(report.calls > 1000, "only {} calls", report.calls);
}

#[test]
fn a_plugin_over_a_unix_socket_is_fuzzed_too() {
    let mut opts = options("volume", FuzzProtocol::Volume, 30);
    opts.transport = TransportKind::Unix;
    opts.concurrent = true;
    let report = assert_clean(run(&opts));
    assert!(report.calls > 100);
}

// ---- one broken plugin per invariant: caught, shrunk, replayed ----

#[test]
fn volume_mounted_iff_held_catches_a_plugin_that_unmounts_at_the_first_unmount() {
    let f = caught(
        &options("broken-volume-unmount", FuzzProtocol::Volume, 500),
        "volume.mounted-iff-held",
        3,
    );
    assert!(f.scenario.contains("#@ plugin p broken-volume-unmount"));
}

#[test]
fn volume_mount_succeeds_catches_a_plugin_that_mounts_a_volume_once() {
    caught(
        &options("broken-volume-mount", FuzzProtocol::Volume, 500),
        "volume.mount-succeeds",
        3,
    );
}

#[test]
fn volume_unmount_succeeds_catches_a_plugin_that_refuses_to_unmount_a_shared_volume() {
    caught(
        &options("broken-volume-unmount-busy", FuzzProtocol::Volume, 500),
        "volume.unmount-succeeds",
        3,
    );
}

#[test]
fn volume_mountpoint_agrees_catches_a_per_mount_directory() {
    caught(
        &options("broken-volume-mountpoint", FuzzProtocol::Volume, 500),
        "volume.mountpoint-agrees",
        2,
    );
}

#[test]
fn volume_create_idempotent_catches_a_create_that_fails_for_an_existing_volume() {
    caught(
        &options("broken-volume-create", FuzzProtocol::Volume, 500),
        "volume.create-idempotent",
        3,
    );
}

#[test]
fn volume_keeps_acknowledged_catches_a_plugin_that_forgets_at_a_restart() {
    let mut opts = options("broken-volume-memory", FuzzProtocol::Volume, 500);
    opts.restart_plugin = true;
    let f = caught(&opts, "volume.keeps-acknowledged", 2);
    assert!(f.scenario.contains("#@ restart-plugin p"), "{}", f.scenario);
}

#[test]
fn protocol_response_shape_catches_dates_that_are_not_rfc3339() {
    let f = caught(
        &options("broken-volume-dates", FuzzProtocol::Volume, 200),
        "protocol.response-shape",
        1,
    );
    assert!(f.violation.message.contains("RFC 3339"), "{}", f.scenario);
}

#[test]
fn ipam_address_unique_catches_a_held_static_address_granted_again() {
    // Seed 43: seed 42's first failing case (case 140) shrinks only to a
    // 5-step local minimum; seeds 1-3 and 6-8 give 3 steps like this one.
    let mut opts = options("broken-ipam-double", FuzzProtocol::Ipam, 500);
    opts.seed = 43;
    caught(&opts, "ipam.address-unique", 3);
}

#[test]
fn ipam_address_unique_catches_a_dynamic_address_handed_out_twice() {
    caught(
        &options("broken-ipam-dynamic-double", FuzzProtocol::Ipam, 500),
        "ipam.address-unique",
        3,
    );
}

#[test]
fn ipam_address_in_pool_catches_an_address_of_the_next_block() {
    caught(
        &options("broken-ipam-outside", FuzzProtocol::Ipam, 500),
        "ipam.address-in-pool",
        2,
    );
}

#[test]
fn ipam_released_reusable_catches_a_release_that_frees_nothing() {
    caught(
        &options("broken-ipam-sticky", FuzzProtocol::Ipam, 500),
        "ipam.released-reusable",
        4,
    );
}

#[test]
fn ipam_pool_reusable_catches_a_leaked_pool() {
    caught(
        &options("broken-ipam-leak", FuzzProtocol::Ipam, 500),
        "ipam.pool-reusable",
        3,
    );
}

#[test]
fn authz_same_verdict_catches_a_rate_limiter() {
    caught(
        &options("broken-authz-ratelimit", FuzzProtocol::Authz, 200),
        "authz.same-verdict",
        2,
    );
}

#[test]
fn authz_one_verdict_catches_allow_with_an_error() {
    caught(
        &options("broken-authz-allow-err", FuzzProtocol::Authz, 200),
        "authz.one-verdict",
        1,
    );
}

#[test]
fn authz_malformed_denied_catches_the_recording_plugin_allowing_an_undecodable_uri() {
    // golden-authz allows everything it is not told to deny, so the malformed
    // probe (`/v1.41/%zz`) is allowed after the first step.
    let f = caught(
        &options("golden-authz", FuzzProtocol::Authz, 50),
        "authz.malformed-denied",
        1,
    );
    assert!(f.scenario.contains("#@ authorization-plugin p"));
}

#[test]
fn the_recording_volume_plugin_loses_a_mount_after_docker_cp() {
    // golden-volume answers like the plugin behind the real recordings: it
    // keeps a *set* of mount IDs, so `docker cp` into a running container
    // (Mount and Unmount with the container's own ID) forgets the container's
    // mount. The fuzzer finds exactly that.
    let f = caught(
        &options("golden-volume", FuzzProtocol::Volume, 500),
        "volume.mounted-iff-held",
        3,
    );
    assert!(f.scenario.contains("docker cp"), "{}", f.scenario);
}

#[test]
fn every_invariant_a_plugin_can_break_has_a_broken_plugin() {
    use drydock::fuzz::check::INVARIANTS;
    let covered: BTreeSet<&str> = drydock::testplugins_broken::KINDS
        .iter()
        .map(|(_, inv)| *inv)
        .chain(["authz.malformed-denied"]) // golden-authz, above
        .collect();
    for (name, _) in INVARIANTS {
        if !name.starts_with("engine.") {
            assert!(covered.contains(name), "no broken plugin breaks {name}");
        }
    }
}

/// The text of case `index` of `opts`'s run, as generated.
fn case_text(opts: &FuzzOptions, index: u64) -> String {
    gen::flatten(&case_at(opts, index)).join("\n")
}

#[test]
fn a_seed_names_the_same_cases_whatever_the_plugin_answers() {
    // Case i depends on (seed, i) only: a plugin that keeps every invariant
    // and one that fails early see the same cases up to the failure, and
    // both are what `case_at` generates (so a shard can pick cases by index).
    let seen = |kind: &str, cases: u32| {
        let mut opts = options(kind, FuzzProtocol::Volume, cases);
        opts.concurrent = true;
        opts.restart_plugin = false;
        let log = std::sync::Mutex::new(Vec::new());
        let report = fuzz_observed(&opts, &|_| {}, &|i, case| {
            log.lock().unwrap().push((i, gen::flatten(case).join("\n")))
        });
        assert_eq!(report.error, None);
        (opts, report, log.into_inner().unwrap())
    };
    let (opts, clean, all) = seen("volume", 40);
    assert!(clean.failure.is_none());
    let (_, broken, prefix) = seen("broken-volume-unmount", 40);
    let failed = broken.failure.expect("the bug is found").case_index;
    assert_eq!(prefix.len() as u64, failed + 1, "stops at the failing case");
    assert_eq!(prefix[..], all[..prefix.len()]);
    for (i, text) in &all {
        assert_eq!(*text, case_text(&opts, *i), "case {i}");
    }
    // Fewer cases are a prefix: no case depends on how many follow.
    let (_, _, fewer) = seen("volume", 7);
    assert_eq!(fewer[..], all[..7]);
}

/// The first case of seed 7, pinned: if a dependency update changes the
/// generators (rand_chacha's ChaCha, proptest's strategies), a seed printed
/// before no longer names the same cases, and this says so.
#[test]
fn seed_7_still_names_the_same_first_cases() {
    let mut opts = options("volume", FuzzProtocol::Volume, 1);
    opts.seed = 7;
    opts.concurrent = true;
    let first = |opts: &FuzzOptions, i: u64| -> Vec<String> {
        case_text(opts, i)
            .lines()
            .take(4)
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(
        first(&opts, 0),
        [
            "docker restart c3",
            "docker run --rm --volume-driver p -v v1:/data busybox",
            "docker rm -f c3",
            "docker rm -f c2",
        ],
        "case 0 of seed 7 changed"
    );
    opts.protocol = FuzzProtocol::Ipam;
    assert_eq!(
        case_text(&opts, 3),
        "docker network create --ipam-driver p --subnet 10.90.1.0/24 n1",
        "ipam case 3 of seed 7 changed"
    );
}

/// The engine's IDs for a seed, pinned: they appear in counterexamples and
/// recorded `#> error` texts, and must not change with a rand update.
#[test]
fn the_engine_makes_the_same_ids_for_a_seed() {
    use drydock_engine::daemon::{Engine, EngineConfig};
    let engine = Engine::new(EngineConfig {
        roots: drydock_engine::plugins::discovery::PluginRoots {
            sockets_dir: "/nonexistent".into(),
            spec_dirs: Vec::new(),
        },
        clock: drydock_engine::clock::VirtualClock::new(),
        seed: 1,
    });
    let ids: Vec<String> = (0..2).map(|_| engine.random_id()).collect();
    // The IDs rand 0.8's StdRng (ChaCha12) made, as in the snapshots.
    assert_eq!(
        ids,
        [
            "61644a25da5ad31754e23bc1eca8c766a61ceaa8c60ddc65f158a30209256e35",
            "c9fba417a2d8d9ed086c0f3f03f94ec89a67bfdc6a1e22b69d667e5ac8055d00"
        ]
    );
}

#[test]
fn the_same_seed_gives_the_same_counterexample() {
    let mut opts = options("broken-ipam-double", FuzzProtocol::Ipam, 500);
    opts.concurrent = true;
    let a = run(&opts).failure.expect("found");
    let b = run(&opts).failure.expect("found");
    assert_eq!(a.scenario, b.scenario);
}

// ---- concurrency ----

#[test]
fn a_race_that_needs_commands_run_at_once_is_found_and_replayed_with_at_once() {
    // broken-volume-racy reads a volume's mount list, yields, and writes it
    // back with its ID added: two containers mounting at once lose a mount.
    let mut opts = options("broken-volume-racy", FuzzProtocol::Volume, 500);
    assert_clean(run(&opts));
    opts.concurrent = true;
    let failure = run(&opts).failure.expect("the race is found");
    assert_eq!(failure.violation.invariant, "volume.mounted-iff-held");
    assert!(failure.concurrent_only, "{}", failure.scenario);
    assert!(failure.scenario.contains("Concurrent-only"));
    assert!(
        failure.scenario.contains("\n#@ at-once 2\n"),
        "{}",
        failure.scenario
    );
    assert!(actions(&failure.scenario) <= 3, "{}", failure.scenario);
    // `#@ at-once` makes `drydock run` interleave the group as the fuzzer did.
    assert_eq!(
        replayed(&opts, &failure.scenario),
        Some(failure.violation.to_string()),
        "{}",
        failure.scenario
    );
    // Without it, one at a time, the race does not happen.
    let serial = failure.scenario.replace("#@ at-once 2\n", "");
    assert_eq!(replayed(&opts, &serial), None, "{serial}");
}

#[test]
fn a_concurrent_run_writes_a_counterexample_that_replays_one_step_at_a_time() {
    let mut opts = options("broken-volume-unmount", FuzzProtocol::Volume, 300);
    opts.concurrent = true;
    let failure = run(&opts).failure.expect("the bug is found");
    assert!(!failure.concurrent_only, "{}", failure.scenario);
    assert!(actions(&failure.scenario) <= 4, "{}", failure.scenario);
    assert_eq!(
        replayed(&opts, &failure.scenario),
        Some(failure.violation.to_string())
    );
}

/// Samples `n` cases of the generator.
fn sample(protocol: FuzzProtocol, n: usize) -> Vec<Vec<gen::Group>> {
    let cfg = GenConfig {
        plugin: "p".into(),
        restartable: true,
        protocol,
    };
    let strategy = gen::case(&cfg, 12, true);
    let mut runner = TestRunner::deterministic();
    (0..n)
        .map(|_| strategy.new_tree(&mut runner).unwrap().current())
        .collect()
}

#[test]
fn groups_run_at_once_act_on_different_containers_and_share_volumes_and_networks() {
    let mut sizes = BTreeSet::new();
    for protocol in [FuzzProtocol::Volume, FuzzProtocol::Ipam, FuzzProtocol::All] {
        for case in sample(protocol, 300) {
            for g in case.iter().filter(|g| g.together) {
                sizes.insert(g.lines.len());
                let containers: Vec<&str> = g
                    .lines
                    .iter()
                    .filter_map(|l| {
                        l.split_whitespace()
                            .find(|w| w.starts_with('c') && w.len() == 2)
                            .or_else(|| l.split(':').next()?.split_whitespace().last())
                            .filter(|w| matches!(*w, "c1" | "c2" | "c3"))
                    })
                    .collect();
                let distinct: BTreeSet<&&str> = containers.iter().collect();
                assert_eq!(distinct.len(), containers.len(), "{:?}", g.lines);
            }
        }
    }
    assert!(
        sizes.contains(&2) && sizes.contains(&4),
        "group sizes {sizes:?}"
    );
}

#[test]
fn the_generator_covers_every_command_the_issue_lists() {
    let mut lines = BTreeSet::new();
    for protocol in [
        FuzzProtocol::Volume,
        FuzzProtocol::Ipam,
        FuzzProtocol::Authz,
        FuzzProtocol::All,
    ] {
        for case in sample(protocol, 400) {
            lines.extend(gen::flatten(&case));
        }
    }
    let wanted = [
        "docker create ",
        "docker run -d ",
        "docker run --rm ",
        "docker start ",
        "docker stop ",
        "docker kill ",
        "docker restart ",
        "docker wait ",
        "docker rm ",
        "docker rm -f ",
        "--volumes-from ",
        "docker cp ./",
        "docker cp c",
        "docker volume create ",
        "docker volume rm ",
        "docker network create ",
        "docker network connect ",
        "docker network disconnect ",
        "docker network rm ",
        "--ip 10.90.",
        "#@ restart-daemon",
        "#@ restart-plugin p",
        "#@ user ",
    ];
    for w in wanted {
        assert!(lines.iter().any(|l| l.contains(w)), "never generated: {w}");
    }
}

// ---- plugins found by discovery ----

/// A reference volume plugin started as its own process, as a user would.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_for_socket(path: &Path) {
    for _ in 0..500 {
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    panic!("{} never accepted connections", path.display());
}

fn discovered(dir: &Path, plugin: &str, protocol: FuzzProtocol, cases: u32) -> FuzzOptions {
    FuzzOptions {
        plugin: plugin.into(),
        launch: Launch::Discovered,
        plugins_dir: Some(dir.to_owned()),
        restart_plugin: false,
        concurrent: true,
        ..options("unused", protocol, cases)
    }
}

#[test]
fn a_plugin_process_found_by_discovery_keeps_every_invariant() {
    let dir = tempfile::tempdir().unwrap();
    let plugins = dir.path().join("plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    let socket = plugins.join("dv.sock");
    let _child = Child(
        std::process::Command::new(env!("CARGO_BIN_EXE_drydock"))
            .args(["plugin", "volume", "--name", "dv", "--socket"])
            .arg(&socket)
            .arg("--state-dir")
            .arg(dir.path().join("state"))
            .spawn()
            .unwrap(),
    );
    wait_for_socket(&socket);
    let report = assert_clean(run(&discovered(&plugins, "dv", FuzzProtocol::Volume, 60)));
    assert_eq!(report.cases, 60);
    assert!(report.calls > 200, "only {} calls", report.calls);
}

#[test]
fn a_broken_plugin_found_by_discovery_is_caught_and_its_counterexample_replays() {
    // Served over a unix socket by a thread of its own, outside drydock fuzz:
    // the fuzzer only finds it in the plugins directory.
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("bv.sock");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let path = socket.clone();
    let server = std::thread::spawn(move || {
        block_on(drydock_sdk::server::serve_unix(
            drydock::testplugins_broken::builtin("broken-volume-unmount").unwrap(),
            path,
            async {
                let _ = stopped.await;
            },
        ))
        .unwrap();
    });
    wait_for_socket(&socket);
    let opts = discovered(dir.path(), "bv", FuzzProtocol::Volume, 300);
    let failure = run(&opts).failure.expect("the bug is found");
    assert_eq!(failure.violation.invariant, "volume.mounted-iff-held");
    assert!(
        !failure.scenario.contains("#@ plugin"),
        "{}",
        failure.scenario
    );
    assert!(actions(&failure.scenario) <= 4, "{}", failure.scenario);
    assert_eq!(
        replayed(&opts, &failure.scenario),
        Some(failure.violation.to_string()),
        "{}",
        failure.scenario
    );
    let _ = stop.send(());
    server.join().unwrap();
}

/// A broken plugin served over `dir/NAME.sock` by a thread of the test,
/// outside drydock: an already-running plugin, found only by discovery.
struct Served {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve_broken(dir: &Path, name: &str, kind: &str) -> Served {
    let socket = dir.join(format!("{name}.sock"));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let plugin = drydock::testplugins_broken::builtin(kind).unwrap();
    let path = socket.clone();
    let thread = std::thread::spawn(move || {
        block_on(drydock_sdk::server::serve_unix(plugin, path, async {
            let _ = stopped.await;
        }))
        .unwrap();
    });
    wait_for_socket(&socket);
    Served {
        stop: Some(stop),
        thread: Some(thread),
    }
}

/// `text` without the volume-name suffix `tag`.
fn untagged(text: &str, tag: &Option<String>) -> String {
    match tag {
        Some(t) => text.replace(&format!("-{t}"), ""),
        None => text.to_owned(),
    }
}

#[test]
fn a_running_plugin_fails_at_the_same_case_in_every_run_of_a_seed() {
    // The plugin keeps its state across cases and across fuzz runs: each case
    // gets volume names of its own, so nothing an earlier case (or run) left
    // behind changes where the bug is found or what the file says.
    let dir = tempfile::tempdir().unwrap();
    let _plugin = serve_broken(dir.path(), "bv", "broken-volume-unmount");
    // One step at a time: over a socket, how commands run at once interleave
    // depends on timing, which no seed fixes.
    let mut opts = discovered(dir.path(), "bv", FuzzProtocol::Volume, 300);
    opts.concurrent = false;
    let runs: Vec<FuzzReport> = (0..3).map(|_| run(&opts)).collect();
    let failures: Vec<&Counterexample> = runs
        .iter()
        .map(|r| r.failure.as_ref().expect("the bug is found"))
        .collect();
    for f in &failures[1..] {
        assert_eq!(f.case_index, failures[0].case_index);
        assert_eq!(
            untagged(&f.scenario, &f.tag),
            untagged(&failures[0].scenario, &failures[0].tag)
        );
        assert_ne!(f.tag, failures[0].tag, "the file reuses a case's names");
    }
    assert!(
        runs[0].warnings[0].contains("already running, so every case shares its state"),
        "{:?}",
        runs[0].warnings
    );
    // With a plugin drydock starts, nothing is shared and nothing is renamed.
    let started = run(&options("broken-volume-unmount", FuzzProtocol::Volume, 300));
    assert!(started.warnings.is_empty());
    assert_eq!(started.failure.expect("found").tag, None);
}

#[test]
fn a_counterexample_keeps_no_command_that_only_failed_and_is_not_needed() {
    for kind in [
        "broken-volume-unmount",
        "broken-volume-mountpoint",
        "broken-ipam-double",
    ] {
        let protocol = if kind.contains("ipam") {
            FuzzProtocol::Ipam
        } else {
            FuzzProtocol::Volume
        };
        for seed in [1, 2, 3] {
            let mut opts = options(kind, protocol, 300);
            opts.seed = seed;
            opts.concurrent = true;
            let f = run(&opts).failure.expect("found");
            // A command on a container the file never makes only fails;
            // the failure does not need it, so the file does not keep it.
            assert!(
                !f.scenario.contains("No such container"),
                "seed {seed}:\n{}",
                f.scenario
            );
        }
    }
}

#[test]
fn drydock_fuzz_on_a_running_plugin_writes_a_file_drydock_run_fails_on_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let plugins = dir.path().join("plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    let _plugin = serve_broken(&plugins, "bv", "broken-volume-unmount");
    let out = dir.path().join("ce.scenario");
    let (pdir, file) = (plugins.to_str().unwrap(), out.to_str().unwrap());
    let args = [
        "fuzz",
        "--plugin",
        "bv",
        "--plugins-dir",
        pdir,
        "--cases",
        "300",
        "--seed",
        "11",
        "--sequential",
        "--out",
        file,
    ];
    let mut shrunk_from = Vec::new();
    for _ in 0..2 {
        let (code, stdout, stderr) = drydock(&args);
        assert_eq!(code, 1, "{stdout}{stderr}");
        assert!(
            stderr.contains("already running, so every case shares its state"),
            "{stderr}"
        );
        assert!(
            stdout.contains(&format!(
                "`drydock run --plugins-dir {pdir} {file}` fails the same way against the running plugin as the fuzzer left it\n"
            )),
            "{stdout}"
        );
        assert!(stdout.contains("was not re-run against one"), "{stdout}");
        assert!(!stdout.contains("did NOT"), "{stdout}");
        let found = stdout
            .lines()
            .find(|l| l.starts_with("invariant "))
            .unwrap();
        let (invariant, rest) = found.split_once(" broken after ").unwrap();
        shrunk_from.extend(
            rest.split(" (shrunk from ")
                .nth(1)
                .map(|l| l.split(')').next().unwrap().to_owned()),
        );
        // What the report promises: the user's own run fails on it too.
        let (code, run_out, _) = drydock(&["run", "--plugins-dir", pdir, file]);
        assert_eq!(code, 1, "{run_out}");
        assert!(
            run_out.contains(&format!("{invariant} broken: ")),
            "{stdout}\n{run_out}"
        );
    }
    assert_eq!(shrunk_from.len(), 2);
    assert_eq!(
        shrunk_from[0], shrunk_from[1],
        "the same seed found another case"
    );
}

#[test]
fn the_report_says_plainly_when_drydock_run_does_not_fail_the_same_way() {
    let opts = options("broken-volume-unmount", FuzzProtocol::Volume, 300);
    let mut f = run(&opts).failure.expect("found");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ce.scenario");
    std::fs::write(&path, &f.scenario).unwrap();
    f.reruns = block_on(confirm(&path, &opts, &f)).unwrap();
    assert_eq!(f.reruns.len(), 1);
    assert_eq!(f.reruns[0].against, Against::Fresh);
    assert!(f.reruns[0].same);
    let cmd = format!("drydock run --transport in-process {}", path.display());
    assert_eq!(
        rerun_lines(&f),
        [format!(
            "`{cmd}` fails the same way against a fresh plugin (the file starts its own)"
        )]
    );
    // Without its last step the file passes: the report must not claim it fails.
    let last = f
        .scenario
        .lines()
        .rfind(|l| l.starts_with("docker "))
        .unwrap();
    let cut = f.scenario.replace(&format!("{last}\n"), "");
    std::fs::write(&path, &cut).unwrap();
    f.reruns = block_on(confirm(&path, &opts, &f)).unwrap();
    assert!(!f.reruns[0].same);
    assert_eq!(f.reproduced(), Some(false));
    assert_eq!(
        rerun_lines(&f),
        [format!(
            "warning: `{cmd}` did NOT fail the same way against a fresh plugin (the file starts its own): it passed"
        )]
    );
    // A concurrent-only file over a socket runs several times; the report
    // says how many failed the same way when not all did.
    f.reruns = vec![drydock::fuzz::Rerun {
        against: Against::LeftByFuzzer,
        command: "drydock run --plugins-dir d ce.scenario".into(),
        runs: 5,
        same_runs: 3,
        failure: None,
        same: false,
    }];
    f.concurrent_only = true;
    assert_eq!(f.reproduced(), Some(false));
    let lines = rerun_lines(&f);
    assert!(
        lines[0].starts_with(
            "warning: `drydock run --plugins-dir d ce.scenario` did NOT always fail the same way \
             against the running plugin as the fuzzer left it: 3 of 5 runs did, another: it passed"
        ),
        "{lines:?}"
    );
    assert!(lines[1].contains("cannot start a fresh copy"), "{lines:?}");
}

// ---- `#@ check` in hand-written scenarios ----

fn run_text(text: &str) -> drydock::run::ScenarioReport {
    let scenario = drydock_engine::scenario::parse("t.scenario", text.as_bytes()).unwrap();
    block_on(drydock::run::run_scenario(
        &scenario,
        &drydock::run::RunOptions::default(),
    ))
}

#[test]
fn check_makes_drydock_run_fail_the_step_that_breaks_an_invariant() {
    let steps = "docker run -d --name c1 --volume-driver p -v v1:/data busybox\n\
                 docker run --rm --volume-driver p -v v1:/data busybox\n\
                 docker rm -f c1\n";
    let good = run_text(&format!("#@ plugin p volume\n#@ check p\n{steps}"));
    assert!(good.passed(), "{:?}", good.failures);
    let bad = run_text(&format!(
        "#@ plugin p broken-volume-unmount\n#@ check p\n{steps}"
    ));
    let f = &bad.failures[0];
    assert_eq!((f.line, f.step), (4, Some(2)), "{f:?}");
    assert!(
        f.message.starts_with(
            "invariant volume.mounted-iff-held broken: volume v1: the plugin reports mounts {}"
        ),
        "{f:?}"
    );
    // Without `#@ check` the same file passes: nothing in it expects otherwise.
    let unchecked = run_text(&format!("#@ plugin p broken-volume-unmount\n{steps}"));
    assert!(unchecked.passed());
    // Checking another invariant only: not this one.
    let other = run_text(&format!(
        "#@ plugin p broken-volume-unmount\n#@ check p ipam.address-unique\n{steps}"
    ));
    assert!(other.passed(), "{:?}", other.failures);
}

#[test]
fn check_refuses_an_unknown_invariant() {
    let report = run_text("#@ plugin p volume\n#@ check p volume.mounted-if-held\n");
    let f = &report.failures[0];
    assert_eq!(f.line, 2);
    assert!(
        f.message.starts_with(
            "unknown invariant \"volume.mounted-if-held\" (known: volume.mounted-iff-held,"
        ),
        "{f:?}"
    );
}

/// `drydock fuzz --fault`: the `#@ fault` line goes before every case, so
/// each generated command meets the fault (and a counterexample keeps it).
#[test]
fn a_fault_applies_to_every_case() {
    let mut opts = options("volume", FuzzProtocol::Volume, 1);
    let fault = r#"#@ fault p VolumeDriver.Create status 500 '{"Err":"injected"}' always"#;
    opts.faults = vec![fault.to_owned()];
    assert_eq!(
        drydock::fuzz::header_lines(&opts)
            .last()
            .map(String::as_str),
        Some(fault)
    );
    let case = [
        gen::Group::one("docker volume create -d p v1"),
        gen::Group::one("docker volume create -d p v2"),
    ];
    let r = block_on(drydock::fuzz::run_case(&opts, &case)).unwrap();
    let errors: Vec<Option<&str>> = r.outcomes.iter().map(|o| o.error.as_deref()).collect();
    assert_eq!(
        errors,
        [
            Some("create v1: VolumeDriver.Create: injected"),
            Some("create v2: VolumeDriver.Create: injected")
        ]
    );
}

#[test]
fn at_once_needs_its_commands_right_after_it() {
    let report =
        run_text("#@ plugin p volume\n#@ at-once 2\ndocker volume ls\n#@ restart-daemon\n");
    let f = &report.failures[0];
    assert_eq!(f.line, 2);
    assert_eq!(
        f.message,
        "`#@ at-once 2` needs 2 docker commands right after it"
    );
    // Two commands at once: both outcomes are checked, calls on the last.
    let ok = run_text(
        "#@ plugin p volume\n#@ at-once 2\n\
         docker volume create -d p v1\n#> output \"v1\"\n\
         docker volume create -d p v1\n#> output \"v1\"\n",
    );
    assert!(ok.passed(), "{:?}", ok.failures);
    let texts: Vec<&str> = ok.steps.iter().map(|s| s.text.as_str()).collect();
    assert_eq!(texts[1], "#@ at-once 2");
    assert!(ok.steps[2].calls.is_empty());
    assert!(ok.steps[3]
        .calls
        .iter()
        .any(|c| c.method == "VolumeDriver.Create"));
}

// ---- the command line ----

fn drydock(args: &[&str]) -> (i32, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_drydock"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_fuzz_command_prints_its_seed_writes_the_counterexample_and_reports_in_each_format() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("ce.scenario");
    let out = out.to_str().unwrap();
    let broken = [
        "fuzz",
        "--plugin",
        "p",
        "--kind",
        "broken-volume-unmount",
        "--cases",
        "300",
        "--seed",
        "5",
        "--no-restart-plugin",
        "--out",
        out,
    ];
    let (code, stdout, stderr) = drydock(&[&broken[..], &["--format", "json"]].concat());
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(stderr.contains("drydock fuzz: seed 5"), "{stderr}");
    let doc: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(doc["seed"], 5);
    assert_eq!(doc["failure"]["invariant"], "volume.mounted-iff-held");
    assert_eq!(doc["failure"]["reproduced"], true);
    assert_eq!(
        std::fs::read_to_string(out).unwrap(),
        doc["failure"]["scenario"].as_str().unwrap()
    );
    // The file fails `drydock run` with the invariant's message.
    let (code, stdout, _) = drydock(&["run", out]);
    assert_eq!(code, 1, "{stdout}");
    assert!(
        stdout.contains("invariant volume.mounted-iff-held broken"),
        "{stdout}"
    );

    let (code, stdout, _) = drydock(&[&broken[..], &["--format", "junit"]].concat());
    assert_eq!(code, 1);
    assert!(
        stdout.contains(r#"<testsuite name="drydock fuzz" tests="1" failures="1""#),
        "{stdout}"
    );
    assert!(
        stdout.contains(r#"<failure message="volume.mounted-iff-held: "#),
        "{stdout}"
    );

    let (code, stdout, _) = drydock(&[&broken[..], &["--format", "text"]].concat());
    assert_eq!(code, 1);
    assert!(stdout.contains("seed 5 (repeat with --seed 5)"), "{stdout}");
    assert!(stdout.contains("fails the same way"), "{stdout}");

    let (code, stdout, stderr) = drydock(&[
        "fuzz",
        "--plugin",
        "p",
        "--kind",
        "volume",
        "--protocol",
        "all",
        "--cases",
        "40",
        "--seed",
        "9",
        "--out",
        out,
    ]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("every invariant held"), "{stdout}");
    assert!(stdout.contains("40 cases in"), "{stdout}");
}
