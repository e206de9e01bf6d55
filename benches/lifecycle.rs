//! Whole `docker` commands through the simulated engine against the reference
//! plugins: the top layer of docs/performance.md, where plugin RPCs are mixed
//! with the engine's own bookkeeping. Each group has `in_process` (the
//! plugin's handlers called directly: the SDK's full JSON path, no socket) and
//! `unix` (served on a unix socket by the SDK server on its own runtime
//! thread, as a plugin process would be) variants.
//!
//! * `lifecycle_run_rm_volume` — `docker run --rm -v vol1:/d bb:latest true`:
//!   container create (Get), start (Get, Mount), exit (Get, Unmount) and
//!   removal — five volume RPCs. Also `in_process_parallel_x10` (ten runs on
//!   ten volumes at once, two runtime workers) and `unix_parallel_x10`: ten such runs at
//!   once (ten containers, one volume).
//! * `lifecycle_run_stop_volume` — `docker run -d -v vol1:/d …`, `docker stop`,
//!   `docker rm`: a detached container's whole life.
//! * `lifecycle_network_connect_disconnect` — `docker network connect` and
//!   `disconnect` of a running container on a network of the reference IPAM
//!   plugin (RequestAddress, ReleaseAddress).
//! * `lifecycle_authz_request` — `docker version` with the reference authz
//!   plugin guarding the daemon: `HEAD /_ping` and `GET /version`, each judged
//!   by AuthZReq and AuthZRes.
//!
//! * `api_router` — what the Engine API layer costs per request, with no
//!   plugin involved: `route_only` (matching method and path),
//!   `ping_request` (`HEAD /_ping` through router and middleware),
//!   `decode_create_body` / `encode_create_body` (the CLI's 2.3 kB container
//!   config read into the API's type / written as the CLI writes it).
//!
//! Plugins run with no fsync (`Durability::Buffered`): the benchmark measures
//! the protocol path, not the disk. Run: `cargo bench --bench lifecycle`.

use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};
use drydock_engine::api::router::route;
use drydock_engine::api::types::ContainerCreate;
use drydock_engine::api::{ApiRequest, Router};
use drydock_engine::clock::VirtualClock;
use drydock_engine::daemon::{Engine, EngineConfig};
use drydock_engine::docker_cli::create_body;
use drydock_engine::plugins::discovery::PluginRoots;
use drydock_engine::scenario::{parse, DockerCommand, StepKind};
use drydock_volume::{Config, Durability, VolumePlugin};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

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

fn volume_plugin(dir: &Path) -> drydock_sdk::Plugin {
    let mut config = Config::new(dir.join("volume-state"));
    config.durability = Durability::Buffered;
    VolumePlugin::open(config).unwrap().plugin()
}

fn ipam_plugin(dir: &Path) -> drydock_sdk::Plugin {
    let config = drydock_ipam::Config::new(dir.join("ipam-state"));
    drydock_ipam::IpamPlugin::open(config).unwrap().plugin()
}

fn authz_plugin(dir: &Path) -> drydock_sdk::Plugin {
    let policy = dir.join("bench.policy");
    std::fs::write(
        &policy,
        "default deny \"not allowed\"\nallow method=HEAD,GET path=/_ping,/version\n",
    )
    .unwrap();
    drydock_sdk::Plugin::new().authz(drydock_authz::PolicyPlugin::load(&policy).unwrap())
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

fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Where a variant's plugin lives; keeps servers and directories alive.
struct Setup {
    _dir: tempfile::TempDir,
    _server: Option<tokio::runtime::Runtime>,
    engine: Arc<Engine>,
}

/// An engine reaching `plugin(dir)` as `name`, in-process or over a socket.
fn setup(name: &str, unix: bool, plugin: fn(&Path) -> drydock_sdk::Plugin) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let sockets: PathBuf = dir.path().join("run");
    std::fs::create_dir_all(&sockets).unwrap();
    let e = Arc::new(engine(&sockets));
    let p = plugin(dir.path());
    if !unix {
        e.registry().register_in_process(name, p);
        return Setup {
            _dir: dir,
            _server: None,
            engine: e,
        };
    }
    let server = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let sock = sockets.join(format!("{name}.sock"));
    let s2 = sock.clone();
    server.spawn(async move {
        drydock_sdk::server::serve_unix(p, &s2, std::future::pending())
            .await
            .unwrap();
    });
    while !sock.exists() {
        std::thread::sleep(Duration::from_millis(5));
    }
    Setup {
        _dir: dir,
        _server: Some(server),
        engine: e,
    }
}

async fn ok(e: &Engine, cmd: &DockerCommand) {
    let out = drydock_engine::docker_cli::docker(e, cmd).await;
    assert!(out.error.is_none(), "{out:?}");
}

fn quick(g: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>) {
    g.sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
}

const VARIANTS: [(&str, bool); 2] = [("in_process", false), ("unix", true)];

fn run_rm_volume(c: &mut Criterion, rt: &tokio::runtime::Runtime) {
    let create = command("docker volume create -d dryvol vol1");
    let run = command("docker run --rm -v vol1:/d bb:latest true");
    let mut g = c.benchmark_group("lifecycle_run_rm_volume");
    quick(&mut g);
    g.throughput(Throughput::Elements(1));
    let mut keep = Vec::new();
    for (label, unix) in VARIANTS {
        let s = setup("dryvol", unix, volume_plugin);
        rt.block_on(ok(&s.engine, &create));
        let e = s.engine.clone();
        g.bench_function(label, |b| {
            b.to_async(rt).iter(|| async {
                ok(&e, &run).await;
                e.trace().drain();
            })
        });
        keep.push(s);
    }
    // Ten runs at once in-process on a two-worker runtime (this machine has
    // two cores): each on its own volume, as concurrent workloads would be;
    // runs on one volume are serialised by the engine's per-name lock.
    {
        let multi = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let s = setup("dryvol", false, volume_plugin);
        let runs: Vec<DockerCommand> = (0..10)
            .map(|i| {
                multi.block_on(ok(
                    &s.engine,
                    &command(&format!("docker volume create -d dryvol vol{i}")),
                ));
                command(&format!("docker run --rm -v vol{i}:/d bb:latest true"))
            })
            .collect();
        let e = s.engine.clone();
        g.throughput(Throughput::Elements(10));
        g.bench_function("in_process_parallel_x10", |b| {
            b.to_async(&multi).iter(|| async {
                let mut set = tokio::task::JoinSet::new();
                for run in &runs {
                    let (e, run) = (e.clone(), run.clone());
                    set.spawn(async move { ok(&e, &run).await });
                }
                while let Some(r) = set.join_next().await {
                    r.unwrap();
                }
                e.trace().drain();
            })
        });
        keep.push(s);
    }
    // Ten runs at once over the socket: the engine's shared client keeps two
    // idle connections, as dockerd's does, so most runs dial a fresh one.
    let e = keep[1].engine.clone();
    g.throughput(Throughput::Elements(10));
    g.bench_function("unix_parallel_x10", |b| {
        b.to_async(rt).iter(|| async {
            let mut set = tokio::task::JoinSet::new();
            for _ in 0..10 {
                let (e, run) = (e.clone(), run.clone());
                set.spawn(async move { ok(&e, &run).await });
            }
            while let Some(r) = set.join_next().await {
                r.unwrap();
            }
            e.trace().drain();
        })
    });
    g.finish();
}

fn run_stop_volume(c: &mut Criterion, rt: &tokio::runtime::Runtime) {
    let create = command("docker volume create -d dryvol vol1");
    let run = command("docker run -d --name app -v vol1:/d bb:latest sleep 60");
    let stop = command("docker stop app");
    let rm = command("docker rm app");
    let mut g = c.benchmark_group("lifecycle_run_stop_volume");
    quick(&mut g);
    g.throughput(Throughput::Elements(1));
    for (label, unix) in VARIANTS {
        let s = setup("dryvol", unix, volume_plugin);
        rt.block_on(ok(&s.engine, &create));
        let e = s.engine.clone();
        g.bench_function(label, |b| {
            b.to_async(rt).iter(|| async {
                ok(&e, &run).await;
                ok(&e, &stop).await;
                ok(&e, &rm).await;
                e.trace().drain();
            })
        });
    }
    g.finish();
}

fn network_connect_disconnect(c: &mut Criterion, rt: &tokio::runtime::Runtime) {
    let net = command("docker network create --ipam-driver dryipam --subnet 10.80.0.0/16 n");
    let app = command("docker run -d --name app bb:latest sleep 60");
    let connect = command("docker network connect n app");
    let disconnect = command("docker network disconnect n app");
    let mut g = c.benchmark_group("lifecycle_network_connect_disconnect");
    quick(&mut g);
    g.throughput(Throughput::Elements(1));
    for (label, unix) in VARIANTS {
        let s = setup("dryipam", unix, ipam_plugin);
        rt.block_on(async {
            ok(&s.engine, &net).await;
            ok(&s.engine, &app).await;
        });
        let e = s.engine.clone();
        g.bench_function(label, |b| {
            b.to_async(rt).iter(|| async {
                ok(&e, &connect).await;
                ok(&e, &disconnect).await;
                e.trace().drain();
            })
        });
    }
    g.finish();
}

fn authz_request(c: &mut Criterion, rt: &tokio::runtime::Runtime) {
    let version = command("docker version --format '{{.Server.Version}}'");
    let mut g = c.benchmark_group("lifecycle_authz_request");
    quick(&mut g);
    g.throughput(Throughput::Elements(1));
    for (label, unix) in VARIANTS {
        let s = setup("dryauthz", unix, authz_plugin);
        s.engine
            .set_authorization_plugins(vec!["dryauthz".to_owned()]);
        let e = s.engine.clone();
        g.bench_function(label, |b| {
            b.to_async(rt).iter(|| async {
                ok(&e, &version).await;
                e.trace().drain();
            })
        });
    }
    g.finish();
}

/// What the Engine API layer adds to each request: routing (method, path,
/// version prefix), the middleware without an authz chain, and reading the
/// largest body any command sends (`docker run`'s container config, as the
/// CLI encodes it) into the API's type.
fn api_router(c: &mut Criterion, rt: &tokio::runtime::Runtime) {
    let mut g = c.benchmark_group("api_router");
    quick(&mut g);
    g.throughput(Throughput::Elements(1));
    let dir = tempfile::tempdir().unwrap();
    let e = engine(dir.path());
    let router = Router::new(&e);
    g.bench_function("route_only", |b| {
        b.iter(|| {
            route(
                "POST",
                "/v1.41/containers/0123456789ab/wait?condition=removed",
            )
            .unwrap()
        })
    });
    g.bench_function("ping_request", |b| {
        b.to_async(rt)
            .iter(|| async { router.handle(ApiRequest::ping()).await.unwrap() })
    });
    let DockerCommand::Run { spec, .. } =
        command("docker run --rm -v vol:/data --name c1 bb:latest true")
    else {
        unreachable!()
    };
    let body = create_body(&spec, true);
    g.bench_function("decode_create_body", |b| {
        b.iter(|| serde_json::from_slice::<ContainerCreate>(&body).unwrap())
    });
    g.bench_function("encode_create_body", |b| {
        b.iter(|| create_body(&spec, true))
    });
    g.finish();
}

fn bench(c: &mut Criterion) {
    let rt = current_thread();
    api_router(c, &rt);
    run_rm_volume(c, &rt);
    run_stop_volume(c, &rt);
    network_connect_disconnect(c, &rt);
    authz_request(c, &rt);
}

criterion_group!(benches, bench);
criterion_main!(benches);
