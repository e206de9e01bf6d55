//! A full `docker run --rm -v vol1:/d bb:latest true` through the simulated
//! engine against the reference volume plugin: container create (Get), start
//! (Get, Mount), exit (Get, Unmount) and removal — five plugin RPCs plus the
//! engine's own bookkeeping.
//!
//! * `in_process` — the plugin's handlers are called directly (the SDK's full
//!   JSON path, no socket); target ≥ 50,000 lifecycles/s.
//! * `unix` — the plugin is served on a unix socket by the SDK server, as a
//!   real plugin process would be; target ≥ 3,000 lifecycles/s.
//!
//! The plugin runs with `Durability::Buffered` (no fsync: the benchmark
//! measures the protocol path, not the disk). Run: `cargo bench --bench lifecycle`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use drydock_engine::clock::VirtualClock;
use drydock_engine::discovery::PluginRoots;
use drydock_engine::engine::{Engine, EngineConfig};
use drydock_engine::scenario::{parse, DockerCommand, StepKind};
use drydock_volume::{Config, Durability, VolumePlugin};
use std::path::Path;

fn command(line: &str) -> DockerCommand {
    let s = parse("bench", format!("{line}\n").as_bytes()).unwrap();
    match &s.steps[0].kind {
        StepKind::Action(a) => a.command.clone(),
        _ => unreachable!(),
    }
}

fn plugin(dir: &Path) -> drydock_sdk::Plugin {
    let mut config = Config::new(dir.join("state"));
    config.durability = Durability::Buffered;
    VolumePlugin::open(config).unwrap().plugin()
}

fn engine(sockets: &Path) -> Engine {
    Engine::new(EngineConfig {
        roots: PluginRoots {
            sockets_dir: sockets.to_path_buf(),
            spec_dirs: vec![],
        },
        clock: VirtualClock::new(),
        seed: 7,
    })
}

fn bench(c: &mut Criterion) {
    let create = command("docker volume create -d dryvol vol1");
    let run = command("docker run --rm -v vol1:/d bb:latest true");
    let mut g = c.benchmark_group("lifecycle_run_rm_volume");
    g.throughput(Throughput::Elements(1));

    // In-process.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let e = engine(&dir.path().join("run"));
    e.registry()
        .register_in_process("dryvol", plugin(dir.path()));
    rt.block_on(async { assert!(e.docker(&create).await.error.is_none()) });
    g.bench_function("in_process", |b| {
        b.to_async(&rt).iter(|| async {
            let out = e.docker(&run).await;
            assert!(out.error.is_none(), "{out:?}");
            e.trace().drain();
        })
    });

    // Over a unix socket, the plugin served on its own runtime thread.
    let udir = tempfile::tempdir().unwrap();
    let sockets = udir.path().join("run");
    let server = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let p = plugin(udir.path());
    let sock = sockets.join("dryvol.sock");
    let s2 = sock.clone();
    server.spawn(async move {
        drydock_sdk::server::serve_unix(p, &s2, std::future::pending())
            .await
            .unwrap();
    });
    while !sock.exists() {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let ue = engine(&sockets);
    rt.block_on(async { assert!(ue.docker(&create).await.error.is_none()) });
    g.bench_function("unix", |b| {
        b.to_async(&rt).iter(|| async {
            let out = ue.docker(&run).await;
            assert!(out.error.is_none(), "{out:?}");
            ue.trace().drain();
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
