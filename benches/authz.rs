//! What an authz chain costs: one simulated `docker volume ls` (HEAD /_ping
//! then GET /volumes, each wrapped in AuthZReq and AuthZRes) with zero, one
//! and three allow-all plugins in the chain, reached in-process and over unix
//! sockets. The difference between the cases divided by the number of
//! plugins is the per-plugin cost.
//!
//! `authz_policy_paths` times the reference plugin's policy on one request:
//! an ordinary one, and a 20,000-character URI against the rule
//! `path=/**a**a**a**a**b` (the many-wildcard case a backtracking matcher
//! never finishes; issue 22). Run: `cargo bench --bench authz`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use drydock_engine::clock::VirtualClock;
use drydock_engine::daemon::{Engine, EngineConfig};
use drydock_engine::plugins::discovery::PluginRoots;
use drydock_engine::scenario::{parse, DockerCommand, StepKind};
use drydock_sdk::wire::authz::{AuthzRequest, AuthzResponse};
use drydock_sdk::{AuthzPlugin, Plugin, PluginError};
use std::path::Path;

/// The drydock binary's allocator, so the numbers are what its users get.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

struct AllowAll;

impl AuthzPlugin for AllowAll {
    async fn authz_req(&self, _: AuthzRequest) -> Result<AuthzResponse, PluginError> {
        Ok(AuthzResponse::allow())
    }
    async fn authz_res(&self, _: AuthzRequest) -> Result<AuthzResponse, PluginError> {
        Ok(AuthzResponse::allow())
    }
}

fn volume_ls() -> DockerCommand {
    let s = parse("bench", b"docker volume ls -q\n").unwrap();
    match &s.steps[0].kind {
        StepKind::Action(a) => a.command.clone(),
        _ => unreachable!(),
    }
}

fn engine(sockets: &Path) -> Engine {
    Engine::new(EngineConfig {
        roots: PluginRoots {
            sockets_dir: sockets.to_path_buf(),
            spec_dirs: vec![],
        },
        clock: VirtualClock::new(),
        seed: 1,
    })
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let servers = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let cmd = volume_ls();
    let mut g = c.benchmark_group("authz_chain_volume_ls");
    g.throughput(Throughput::Elements(1));
    for transport in ["in_process", "unix"] {
        for plugins in [0usize, 1, 3] {
            let dir = tempfile::tempdir().unwrap();
            let sockets = dir.path().join("run");
            let e = engine(&sockets);
            let names: Vec<String> = (0..plugins).map(|i| format!("allow{i}")).collect();
            for name in &names {
                if transport == "in_process" {
                    e.registry()
                        .register_in_process(name, Plugin::new().authz(AllowAll));
                } else {
                    let sock = sockets.join(format!("{name}.sock"));
                    let s = sock.clone();
                    servers.spawn(async move {
                        drydock_sdk::server::serve_unix(
                            Plugin::new().authz(AllowAll),
                            &s,
                            std::future::pending(),
                        )
                        .await
                        .unwrap();
                    });
                    while std::os::unix::net::UnixStream::connect(&sock).is_err() {
                        std::thread::sleep(std::time::Duration::from_millis(5));
                    }
                }
            }
            e.set_authorization_plugins(names);
            rt.block_on(async {
                assert!(drydock_engine::docker_cli::docker(&e, &cmd)
                    .await
                    .error
                    .is_none())
            });
            g.bench_with_input(
                BenchmarkId::new(transport, format!("{plugins}_plugins")),
                &plugins,
                |b, _| {
                    b.to_async(&rt).iter(|| async {
                        let out = drydock_engine::docker_cli::docker(&e, &cmd).await;
                        assert!(out.error.is_none(), "{out:?}");
                        e.trace().drain();
                    })
                },
            );
        }
    }
    g.finish();
}

/// The policy's path matching on ordinary and hostile request URIs.
fn policy_paths(c: &mut Criterion) {
    use drydock_authz::{Phase, Policy};
    let request = |uri: String| AuthzRequest {
        request_method: "GET".into(),
        request_uri: uri,
        ..Default::default()
    };
    let hostile_uri = format!("/v1.41/{}", "a".repeat(20_000));
    let ordinary = Policy::parse(
        "allow method=HEAD,GET path=/_ping\n\
         allow path=/containers/*,/containers/*/*,/volumes,/volumes/**\n",
    )
    .unwrap();
    let hostile = Policy::parse("allow path=/**a**a**a**a**b\n").unwrap();
    let mut g = c.benchmark_group("authz_policy_paths");
    g.throughput(Throughput::Elements(1));
    for (name, policy, req) in [
        (
            "ordinary_rules_short_uri",
            &ordinary,
            request("/v1.41/volumes/v1".into()),
        ),
        (
            "ordinary_rules_20000_char_uri",
            &ordinary,
            request(hostile_uri.clone()),
        ),
        (
            "five_double_stars_20000_char_uri",
            &hostile,
            request(hostile_uri.clone()),
        ),
    ] {
        g.bench_function(name, |b| {
            b.iter(|| {
                let d = policy.decide(std::hint::black_box(&req), Phase::Request);
                assert!(!d.allowed() || name.starts_with("ordinary_rules_short"));
                d
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench, policy_paths);
criterion_main!(benches);
