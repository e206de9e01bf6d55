//! One warm plugin RPC round trip over a unix socket, next to its floor.
//!
//! * `floor/hyper_fixed_json` — the engine's client against a minimal hyper
//!   HTTP/1.1 server that answers every request with a fixed JSON body: the
//!   cost of the socket, HTTP and the client, with no plugin logic.
//! * `sdk/volume_get` — the same client against an SDK-served volume plugin
//!   answering `VolumeDriver.Get`: adds request decoding, dispatch and encoding.
//!
//! The ratio of the two medians is what the SDK server costs (target ≤ 1.5×).
//! Run: `cargo bench --bench rpc`.

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use drydock_engine::client::{CallOptions, PluginClient};
use drydock_engine::clock::VirtualClock;
use drydock_engine::transport::Http;
use drydock_sdk::wire::volume::{CreateRequest, GetResponse, MountRequest, NameRequest, Volume};
use drydock_sdk::{Plugin, PluginError, VolumeDriver};
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::path::Path;
use std::sync::Arc;

const GET_BODY: &[u8] = br#"{"Volume":{"Name":"v1","Mountpoint":"/srv/v1","CreatedAt":"2026-11-22T03:03:39Z","Status":{"mounts":[]}}}"#;

/// A volume driver that knows one volume and answers Get with the same bytes
/// the floor server sends.
struct OneVolume;

impl VolumeDriver for OneVolume {
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
        let mut status = serde_json::Map::new();
        status.insert("mounts".into(), serde_json::json!([]));
        Ok(Volume {
            name: req.name,
            mountpoint: "/srv/v1".into(),
            created_at: Some("2026-11-22T03:03:39Z".into()),
            status: Some(status),
        })
    }
    async fn list(&self) -> Result<Vec<Volume>, PluginError> {
        Ok(vec![])
    }
}

fn floor_server(rt: &tokio::runtime::Runtime, path: &Path) {
    let listener = rt.block_on(async { tokio::net::UnixListener::bind(path).unwrap() });
    rt.spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            tokio::spawn(async move {
                let svc = service_fn(|_req| async {
                    Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from_static(GET_BODY))))
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
}

fn client(path: &Path) -> PluginClient {
    let t = Http::new(&format!("unix://{}", path.display()), None).unwrap();
    PluginClient::new("bench", Arc::new(t), VirtualClock::new(), None)
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    // Servers get their own runtime thread, as a plugin is its own process.
    let servers = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let floor_sock = dir.path().join("floor.sock");
    floor_server(&servers, &floor_sock);
    let sdk_sock = dir.path().join("sdk.sock");
    let p = sdk_sock.clone();
    servers.spawn(async move {
        drydock_sdk::server::serve_unix(Plugin::new().volume(OneVolume), &p, std::future::pending())
            .await
            .unwrap();
    });
    while !sdk_sock.exists() {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let req = NameRequest { name: "v1".into() };
    let mut g = c.benchmark_group("rpc_unix");
    g.throughput(Throughput::Elements(1));
    for (name, sock) in [("floor/hyper_fixed_json", &floor_sock), ("sdk/volume_get", &sdk_sock)] {
        let cl = client(sock);
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

criterion_group!(benches, bench);
criterion_main!(benches);
