//! IPAM through the engine: `docker network connect` + `docker network
//! disconnect` of a running container — one RequestAddress and one
//! ReleaseAddress at the reference IPAM plugin, served on a unix socket, plus
//! the engine's network bookkeeping. The reference plugin makes every change
//! durable (state file rewritten and fsynced) before answering, so this
//! measures that cost too. Run: `cargo bench --bench ipam`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use drydock_engine::clock::VirtualClock;
use drydock_engine::daemon::{Engine, EngineConfig};
use drydock_engine::plugins::discovery::PluginRoots;
use drydock_engine::scenario::{parse, DockerCommand, StepKind};

/// The drydock binary's allocator, so the numbers are what its users get.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn command(line: &str) -> DockerCommand {
    let s = parse("bench", format!("{line}\n").as_bytes()).unwrap();
    match &s.steps[0].kind {
        StepKind::Action(a) => a.command.clone(),
        _ => unreachable!(),
    }
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let server = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let sockets = dir.path().join("run");
    let sock = sockets.join("dryipam.sock");
    let plugin =
        drydock_ipam::IpamPlugin::open(drydock_ipam::Config::new(dir.path().join("state")))
            .unwrap()
            .plugin();
    let s = sock.clone();
    server.spawn(async move {
        drydock_sdk::server::serve_unix(plugin, &s, std::future::pending())
            .await
            .unwrap();
    });
    while std::os::unix::net::UnixStream::connect(&sock).is_err() {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let e = Engine::new(EngineConfig {
        roots: PluginRoots {
            sockets_dir: sockets,
            spec_dirs: vec![],
        },
        clock: VirtualClock::new(),
        seed: 1,
    });
    rt.block_on(async {
        for line in [
            "docker network create --ipam-driver dryipam n1",
            "docker run -d --name c1 bb:latest sleep 600",
        ] {
            let out = drydock_engine::docker_cli::docker(&e, &command(line)).await;
            assert!(out.error.is_none(), "{line}: {out:?}");
        }
    });
    let connect = command("docker network connect n1 c1");
    let disconnect = command("docker network disconnect n1 c1");
    let mut g = c.benchmark_group("ipam_engine_unix");
    g.throughput(Throughput::Elements(1));
    g.sample_size(20);
    g.bench_function("connect_disconnect_pair", |b| {
        b.to_async(&rt).iter(|| async {
            let out = drydock_engine::docker_cli::docker(&e, &connect).await;
            assert!(out.error.is_none(), "{out:?}");
            let out = drydock_engine::docker_cli::docker(&e, &disconnect).await;
            assert!(out.error.is_none(), "{out:?}");
            e.trace().drain();
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
