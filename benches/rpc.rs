//! Plugin RPC latency in two layers, so a reader sees where the time goes
//! (docs/performance.md has the numbers and the commands).
//!
//! * `floor_unix` — no drydock code at all: a raw unix-socket ping-pong, and a
//!   minimal hyper HTTP/1.1 client against a minimal hyper echo server on the
//!   same kind of socket, one exchange at a time (`consecutive_x1`) or ten on
//!   ten connections at once (`parallel_x10`). Nothing built on HTTP over this
//!   socket can be faster.
//! * `rpc_unix` — the engine's client (dockerd's exact requests) against a
//!   minimal hyper server answering a fixed JSON body (`floor/hyper_fixed_json`)
//!   and against an SDK-served plugin answering `VolumeDriver.Get` with the same
//!   bytes (`sdk/volume_get`). Their ratio is what the SDK server costs.
//! * `rpc` — one drydock RPC per protocol (engine client → SDK server), over
//!   each transport (`in_process`, `unix`, `tcp`): named
//!   `TRANSPORT/METHOD/PATTERN_PAYLOAD` as hyper's end-to-end benches are, with
//!   `consecutive_x1` (one request at a time on one client) and `parallel_x10`
//!   (ten clients, one request each, in flight together), `small` bodies and
//!   `100kb` ones (a 100 KiB `VolumeDriver.List` answer, a 100 KiB body in
//!   `AuthZReq`).
//!
//! Servers run on their own runtime thread, as a plugin is its own process;
//! clients on a current-thread runtime. Run: `cargo bench --bench rpc`.

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};
use drydock_engine::clock::VirtualClock;
use drydock_engine::plugins::client::{CallOptions, PluginClient};
use drydock_engine::plugins::transport::{Http, InProcess, Transport};
use drydock_sdk::wire::authz::{AuthzRequest, AuthzResponse};
use drydock_sdk::wire::ipam as iw;
use drydock_sdk::wire::volume::{
    CreateRequest, EmptyRequest, GetResponse, MountRequest, NameRequest, Volume,
};
use drydock_sdk::{AuthzPlugin, IpamDriver, Plugin, PluginError, VolumeDriver};
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The drydock binary's allocator, so the numbers are what its users get.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const GET_BODY: &[u8] = br#"{"Volume":{"Name":"v1","Mountpoint":"/srv/v1","CreatedAt":"2026-11-22T03:03:39Z","Status":{"mounts":[]}}}"#;
const SMALL: usize = 64;
const KB100: usize = 100 * 1024;

/// A plugin of every protocol whose answers cost nothing to compute, so the
/// `rpc` group measures the SDK and the transport, not plugin logic.
#[derive(Clone)]
struct Fixed {
    /// ~100 KiB of volumes for `List`.
    many: Arc<Vec<Volume>>,
}

fn volume(name: String) -> Volume {
    let mut status = serde_json::Map::new();
    status.insert("mounts".into(), serde_json::json!([]));
    Volume {
        mountpoint: format!("/srv/{name}"),
        name,
        created_at: Some("2026-11-22T03:03:39Z".into()),
        status: Some(status),
    }
}

impl Fixed {
    fn new() -> Self {
        let mut many = Vec::new();
        let mut size = 0;
        while size < KB100 {
            let v = volume(format!("volume-{:05}", many.len()));
            size += serde_json::to_vec(&v).unwrap().len() + 1;
            many.push(v);
        }
        Fixed {
            many: Arc::new(many),
        }
    }
}

impl VolumeDriver for Fixed {
    async fn create(&self, _: CreateRequest) -> Result<(), PluginError> {
        Ok(())
    }
    async fn remove(&self, _: NameRequest) -> Result<(), PluginError> {
        Ok(())
    }
    async fn mount(&self, _: MountRequest) -> Result<String, PluginError> {
        Ok("/srv/v1".into())
    }
    async fn path(&self, _: NameRequest) -> Result<String, PluginError> {
        Ok("/srv/v1".into())
    }
    async fn unmount(&self, _: MountRequest) -> Result<(), PluginError> {
        Ok(())
    }
    async fn get(&self, req: NameRequest) -> Result<Volume, PluginError> {
        let mut v = volume(req.name);
        v.mountpoint = "/srv/v1".into();
        Ok(v)
    }
    async fn list(&self) -> Result<Vec<Volume>, PluginError> {
        Ok(self.many.as_ref().clone())
    }
}

impl IpamDriver for Fixed {
    async fn get_default_address_spaces(&self) -> Result<iw::AddressSpacesResponse, PluginError> {
        Ok(iw::AddressSpacesResponse {
            local_default_address_space: "l".into(),
            global_default_address_space: "g".into(),
            error: String::new(),
        })
    }
    async fn request_pool(
        &self,
        _: iw::RequestPoolRequest,
    ) -> Result<iw::RequestPoolResponse, PluginError> {
        Ok(iw::RequestPoolResponse {
            pool_id: "l/10.0.0.0/24".into(),
            pool: "10.0.0.0/24".into(),
            ..Default::default()
        })
    }
    async fn release_pool(&self, _: iw::ReleasePoolRequest) -> Result<(), PluginError> {
        Ok(())
    }
    async fn request_address(
        &self,
        _: iw::RequestAddressRequest,
    ) -> Result<iw::RequestAddressResponse, PluginError> {
        Ok(iw::RequestAddressResponse {
            address: "10.0.0.2/24".into(),
            ..Default::default()
        })
    }
    async fn release_address(&self, _: iw::ReleaseAddressRequest) -> Result<(), PluginError> {
        Ok(())
    }
}

impl AuthzPlugin for Fixed {
    async fn authz_req(&self, _: AuthzRequest) -> Result<AuthzResponse, PluginError> {
        Ok(AuthzResponse::allow())
    }
    async fn authz_res(&self, _: AuthzRequest) -> Result<AuthzResponse, PluginError> {
        Ok(AuthzResponse::allow())
    }
}

fn fixed_plugin(f: &Fixed) -> Plugin {
    Plugin::new()
        .volume(f.clone())
        .ipam(f.clone())
        .authz(f.clone())
}

/// Echoes every byte it reads: the raw-socket floor.
fn raw_echo_server(rt: &tokio::runtime::Runtime, path: &Path) {
    let listener = rt.block_on(async { tokio::net::UnixListener::bind(path).unwrap() });
    rt.spawn(async move {
        loop {
            let (mut stream, _) = listener.accept().await.unwrap();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 * 1024];
                loop {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => {
                            if stream.write_all(&buf[..n]).await.is_err() {
                                return;
                            }
                        }
                    }
                }
            });
        }
    });
}

/// A hyper HTTP/1.1 server: `echo` answers with the request body, otherwise
/// with [`GET_BODY`].
fn hyper_server(rt: &tokio::runtime::Runtime, path: &Path, echo: bool) {
    let listener = rt.block_on(async { tokio::net::UnixListener::bind(path).unwrap() });
    rt.spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            tokio::spawn(async move {
                let svc = service_fn(
                    move |req: hyper::Request<hyper::body::Incoming>| async move {
                        let body = if echo {
                            req.into_body().collect().await.unwrap().to_bytes()
                        } else {
                            Bytes::from_static(GET_BODY)
                        };
                        Ok::<_, Infallible>(hyper::Response::new(Full::new(body)))
                    },
                );
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
}

fn wait_for(path: &Path) {
    while !path.exists() {
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn client(transport: Arc<dyn Transport>) -> PluginClient {
    PluginClient::new("bench", transport, VirtualClock::new(), None)
}

fn unix_client(path: &Path) -> PluginClient {
    client(Arc::new(
        Http::new(&format!("unix://{}", path.display()), None).unwrap(),
    ))
}

fn quick(g: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>) {
    g.sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
}

fn floor(c: &mut Criterion, dir: &Path, servers: &tokio::runtime::Runtime) {
    let rt = current_thread();
    let raw = dir.join("raw.sock");
    raw_echo_server(servers, &raw);
    let echo = dir.join("echo.sock");
    hyper_server(servers, &echo, true);
    let mut g = c.benchmark_group("floor_unix");
    quick(&mut g);
    for (label, size) in [("small", SMALL), ("100kb", KB100)] {
        g.throughput(throughput(size));
        let payload = vec![b'x'; size];
        let mut stream = rt.block_on(tokio::net::UnixStream::connect(&raw)).unwrap();
        let mut back = vec![0u8; size];
        g.bench_function(format!("raw_pingpong/consecutive_x1_{label}"), |b| {
            b.iter(|| {
                rt.block_on(async {
                    stream.write_all(&payload).await.unwrap();
                    stream.read_exact(&mut back).await.unwrap();
                })
            })
        });
        let stream = rt.block_on(tokio::net::UnixStream::connect(&echo)).unwrap();
        let (mut sender, conn) = rt
            .block_on(hyper::client::conn::http1::handshake(TokioIo::new(stream)))
            .unwrap();
        rt.spawn(conn);
        let body = Bytes::from(payload.clone());
        g.bench_function(format!("hyper_echo/consecutive_x1_{label}"), |b| {
            b.iter(|| {
                rt.block_on(async {
                    let req = hyper::Request::post("/echo")
                        .body(Full::new(body.clone()))
                        .unwrap();
                    let resp = sender.send_request(req).await.unwrap();
                    let got = resp.into_body().collect().await.unwrap().to_bytes();
                    assert_eq!(got.len(), size);
                })
            })
        });
    }
    // Ten connections, one small exchange each in flight at once.
    g.throughput(Throughput::Elements(10));
    let streams: Vec<_> = (0..10)
        .map(|_| {
            let s = rt.block_on(tokio::net::UnixStream::connect(&raw)).unwrap();
            Arc::new(tokio::sync::Mutex::new(s))
        })
        .collect();
    g.bench_function("raw_pingpong/parallel_x10_small", |b| {
        b.iter(|| {
            rt.block_on(async {
                let mut set = tokio::task::JoinSet::new();
                for s in &streams {
                    let s = s.clone();
                    set.spawn(async move {
                        let mut s = s.lock().await;
                        let mut back = [0u8; SMALL];
                        s.write_all(&[b'x'; SMALL]).await.unwrap();
                        s.read_exact(&mut back).await.unwrap();
                    });
                }
                while let Some(r) = set.join_next().await {
                    r.unwrap();
                }
            })
        })
    });
    let senders: Vec<_> = (0..10)
        .map(|_| {
            let stream = rt.block_on(tokio::net::UnixStream::connect(&echo)).unwrap();
            let (sender, conn) = rt
                .block_on(hyper::client::conn::http1::handshake(TokioIo::new(stream)))
                .unwrap();
            rt.spawn(conn);
            Arc::new(tokio::sync::Mutex::new(sender))
        })
        .collect();
    g.bench_function("hyper_echo/parallel_x10_small", |b| {
        b.iter(|| {
            rt.block_on(async {
                let mut set = tokio::task::JoinSet::new();
                for s in &senders {
                    let s = s.clone();
                    set.spawn(async move {
                        let mut s = s.lock().await;
                        let req = hyper::Request::post("/echo")
                            .body(Full::new(Bytes::from_static(&[b'x'; SMALL])))
                            .unwrap();
                        let resp = s.send_request(req).await.unwrap();
                        let got = resp.into_body().collect().await.unwrap().to_bytes();
                        assert_eq!(got.len(), SMALL);
                    });
                }
                while let Some(r) = set.join_next().await {
                    r.unwrap();
                }
            })
        })
    });
    g.finish();
}

fn throughput(size: usize) -> Throughput {
    if size > SMALL {
        Throughput::Bytes(size as u64)
    } else {
        Throughput::Elements(1)
    }
}

fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn rpc_unix(c: &mut Criterion, dir: &Path, servers: &tokio::runtime::Runtime, sdk: &Path) {
    let floor_sock = dir.join("floor.sock");
    hyper_server(servers, &floor_sock, false);
    let rt = current_thread();
    let req = NameRequest { name: "v1".into() };
    let mut g = c.benchmark_group("rpc_unix");
    g.throughput(Throughput::Elements(1));
    for (name, sock) in [
        ("floor/hyper_fixed_json", floor_sock.as_path()),
        ("sdk/volume_get", sdk),
    ] {
        let cl = unix_client(sock);
        g.bench_function(name, |b| {
            b.to_async(&rt).iter(|| async {
                let r: GetResponse = cl
                    .call("VolumeDriver.Get", Some(&req), CallOptions::default())
                    .await
                    .unwrap();
                assert!(r.volume.is_some());
            })
        });
    }
    g.finish();
}

/// One benchmarked call: method and encoded body.
struct Call {
    method: &'static str,
    label: &'static str,
    body: Bytes,
    /// Bytes moved per call, for the throughput annotation.
    size: usize,
}

fn calls() -> Vec<Call> {
    let enc = |v: &dyn erased::Encode| Bytes::from(v.encode());
    let big_authz = AuthzRequest {
        request_method: "POST".into(),
        request_uri: "/v1.41/containers/create".into(),
        request_body: Some(vec![b' '; KB100]),
        ..Default::default()
    };
    let small_authz = AuthzRequest {
        request_method: "GET".into(),
        request_uri: "/v1.41/containers/json".into(),
        ..Default::default()
    };
    vec![
        Call {
            method: "VolumeDriver.Get",
            label: "small",
            body: enc(&NameRequest { name: "v1".into() }),
            size: SMALL,
        },
        Call {
            method: "VolumeDriver.List",
            label: "100kb",
            body: enc(&EmptyRequest {}),
            size: KB100,
        },
        Call {
            method: "IpamDriver.RequestAddress",
            label: "small",
            body: enc(&iw::RequestAddressRequest {
                pool_id: "l/10.0.0.0/24".into(),
                ..Default::default()
            }),
            size: SMALL,
        },
        Call {
            method: "AuthZPlugin.AuthZReq",
            label: "small",
            body: enc(&small_authz),
            size: SMALL,
        },
        Call {
            method: "AuthZPlugin.AuthZReq",
            label: "100kb",
            body: enc(&big_authz),
            size: KB100,
        },
    ]
}

/// Encoding through `dyn`, so [`calls`] can list bodies of different types.
mod erased {
    pub trait Encode {
        fn encode(&self) -> Vec<u8>;
    }
    impl<T: serde::Serialize> Encode for T {
        fn encode(&self) -> Vec<u8> {
            drydock_sdk::wire::encode_go(self)
        }
    }
}

async fn call_ok(cl: &PluginClient, method: &str, body: Bytes) {
    let reply = cl
        .call_raw(method, body, CallOptions::default())
        .await
        .unwrap();
    assert!(!reply.is_empty());
}

fn rpc(c: &mut Criterion, dir: &Path, servers: &tokio::runtime::Runtime, fixed: &Fixed) {
    let unix = dir.join("fixed.sock");
    let p = fixed_plugin(fixed);
    let u2 = unix.clone();
    servers.spawn(async move {
        drydock_sdk::server::serve_unix(p, &u2, std::future::pending())
            .await
            .unwrap();
    });
    let specs = dir.join("spec");
    std::fs::create_dir_all(&specs).unwrap();
    let p = fixed_plugin(fixed);
    let s2 = specs.clone();
    servers.spawn(async move {
        let addr = "127.0.0.1:0".parse().unwrap();
        drydock_sdk::server::serve_tcp(p, addr, Some((&s2, "fixed")), std::future::pending())
            .await
            .unwrap();
    });
    wait_for(&unix);
    let spec = specs.join("fixed.spec");
    wait_for(&spec);
    let tcp_addr = std::fs::read_to_string(&spec).unwrap().trim().to_owned();
    let in_process = fixed_plugin(fixed);
    let transport = |kind: &str| -> Arc<dyn Transport> {
        match kind {
            "in_process" => Arc::new(InProcess::new("fixed", in_process.clone())),
            "unix" => Arc::new(Http::new(&format!("unix://{}", unix.display()), None).unwrap()),
            _ => Arc::new(Http::new(&tcp_addr, None).unwrap()),
        }
    };
    let rt = current_thread();
    let mut g = c.benchmark_group("rpc");
    quick(&mut g);
    for kind in ["in_process", "unix", "tcp"] {
        for call in calls() {
            let cl = client(transport(kind));
            g.throughput(throughput(call.size));
            g.bench_function(
                format!("{kind}/{}/consecutive_x1_{}", call.method, call.label),
                |b| {
                    b.to_async(&rt)
                        .iter(|| call_ok(&cl, call.method, call.body.clone()))
                },
            );
            if call.label != "small" {
                continue;
            }
            // Ten engine clients (each with its own connection), one request
            // each in flight at once: what ten dockerd goroutines would do
            // with ten plugins' clients.
            let clients: Vec<PluginClient> = (0..10).map(|_| client(transport(kind))).collect();
            g.throughput(Throughput::Elements(10));
            g.bench_function(
                format!("{kind}/{}/parallel_x10_{}", call.method, call.label),
                |b| {
                    b.to_async(&rt).iter(|| async {
                        let mut set = tokio::task::JoinSet::new();
                        for cl in &clients {
                            let (cl, body, m) = (cl.clone(), call.body.clone(), call.method);
                            set.spawn(async move { call_ok(&cl, m, body).await });
                        }
                        while let Some(r) = set.join_next().await {
                            r.unwrap();
                        }
                    })
                },
            );
        }
    }
    g.finish();
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    // Servers get their own runtime thread, as a plugin is its own process.
    let servers = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let fixed = Fixed::new();
    let sdk_sock = dir.path().join("sdk.sock");
    let p = fixed_plugin(&fixed);
    let s2 = sdk_sock.clone();
    servers.spawn(async move {
        drydock_sdk::server::serve_unix(p, &s2, std::future::pending())
            .await
            .unwrap();
    });
    wait_for(&sdk_sock);
    floor(c, dir.path(), &servers);
    rpc_unix(c, dir.path(), &servers, &sdk_sock);
    rpc(c, dir.path(), &servers, &fixed);
}

criterion_group!(benches, bench);
criterion_main!(benches);
