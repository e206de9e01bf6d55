//! One Engine API round trip against `drydock serve`, as the docker CLI or
//! docker-py makes it: an HTTP/1.1 request on a kept-alive connection to the
//! served router's unix socket, and its whole answer read back
//! (docs/performance.md, "`drydock serve`").
//!
//! The daemon is the `drydock` binary cargo builds for the bench
//! (`drydock serve`, a process of its own, as its users run it), and the
//! plugin `drydock plugin volume`, a third process; the client is a hyper
//! HTTP/1.1 connection on a current-thread runtime, like the `rpc` bench's
//! clients.
//!
//! * `serve_api/ping` — `HEAD /_ping`: the socket, HTTP and the router's
//!   middleware, no daemon state.
//! * `serve_api/volume_inspect/local` — `GET /v1.41/volumes/v1`, `v1` a
//!   `local` volume: no plugin call.
//! * `serve_api/volume_inspect/plugin_unix` — the same on a volume of the
//!   reference volume plugin (`--durability buffered`; a Get writes
//!   nothing anyway): dockerd's inspect asks the driver
//!   (`VolumeDriver.Get`), so this adds one plugin RPC.
//!
//! After criterion's groups, 5,000 single requests of each kind are timed
//! one by one and their p50/p90/p99 printed (criterion's figures are
//! statistics of per-sample means). Run: `cargo bench --bench serve_api`.

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use http_body_util::{BodyExt, Empty, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The client side allocates with mimalloc too, as the other benches do.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A running `drydock serve` (and plugin); both are killed, and their
/// directory removed, on drop.
struct Served {
    children: Vec<Child>,
    _dir: tempfile::TempDir,
    socket: PathBuf,
}

impl Drop for Served {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn wait_for(path: &Path) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !path.exists() {
        assert!(
            Instant::now() < deadline,
            "{} never appeared",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// `drydock serve -H unix://DIR/docker.sock --plugins-dir DIR/run`, with
/// the reference volume plugin `dryvol` (`drydock plugin volume
/// --durability buffered`) in DIR/run when `with_plugin`.
fn start(with_plugin: bool) -> Served {
    let drydock = env!("CARGO_BIN_EXE_drydock");
    let dir = tempfile::tempdir().unwrap();
    let sockets = dir.path().join("run");
    std::fs::create_dir_all(&sockets).unwrap();
    let mut children = Vec::new();
    if with_plugin {
        let sock = sockets.join("dryvol.sock");
        let plugin = Command::new(drydock)
            .args([
                "plugin",
                "volume",
                "--name",
                "dryvol",
                "--durability",
                "buffered",
            ])
            .arg("--state-dir")
            .arg(dir.path().join("vol-state"))
            .arg("--socket")
            .arg(&sock)
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        children.push(plugin);
        wait_for(&sock);
    }
    let socket = dir.path().join("docker.sock");
    let serve = Command::new(drydock)
        .arg("serve")
        .arg("-H")
        .arg(format!("unix://{}", socket.display()))
        .arg("--plugins-dir")
        .arg(&sockets)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    children.push(serve);
    wait_for(&socket);
    Served {
        children,
        _dir: dir,
        socket,
    }
}

type Body = http_body_util::combinators::BoxBody<Bytes, hyper::Error>;

/// A kept-alive HTTP/1.1 connection to `socket`; its driver runs on the
/// calling runtime.
async fn connect(socket: &Path) -> SendRequest<Body> {
    let stream = tokio::net::UnixStream::connect(socket).await.unwrap();
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(async move {
        let _ = conn.await;
    });
    sender
}

/// One request; the status and the whole body.
async fn call(
    sender: &mut SendRequest<Body>,
    method: &str,
    uri: &str,
    body: Option<&'static str>,
) -> (u16, Bytes) {
    sender.ready().await.unwrap();
    let builder = hyper::Request::builder()
        .method(method)
        .uri(uri)
        .header(hyper::header::HOST, "api.moby.localhost");
    let req = match body {
        None => builder.body(Empty::new().map_err(|e| match e {}).boxed()),
        Some(b) => builder
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .body(
                Full::new(Bytes::from_static(b.as_bytes()))
                    .map_err(|e| match e {})
                    .boxed(),
            ),
    }
    .unwrap();
    let resp = sender.send_request(req).await.unwrap();
    let status = resp.status().as_u16();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, body)
}

/// Times `iters` calls of `method uri` on one kept-alive connection.
fn measure(
    rt: &tokio::runtime::Runtime,
    socket: &Path,
    method: &'static str,
    uri: &'static str,
    iters: u64,
) -> Duration {
    rt.block_on(async {
        let mut sender = connect(socket).await;
        let started = Instant::now();
        for _ in 0..iters {
            let (status, body) = call(&mut sender, method, uri, None).await;
            debug_assert!(status < 300, "{status} {body:?}");
            criterion::black_box(body);
        }
        started.elapsed()
    })
}

/// Times `n` single round trips and prints their p50, p90 and p99: criterion
/// reports statistics of per-sample means, this is the distribution of the
/// requests themselves.
fn percentiles(
    rt: &tokio::runtime::Runtime,
    name: &str,
    socket: &Path,
    method: &'static str,
    uri: &'static str,
) {
    const N: usize = 5_000;
    let mut times: Vec<Duration> = rt.block_on(async {
        let mut sender = connect(socket).await;
        for _ in 0..N / 10 {
            call(&mut sender, method, uri, None).await;
        }
        let mut times = Vec::with_capacity(N);
        for _ in 0..N {
            let started = Instant::now();
            criterion::black_box(call(&mut sender, method, uri, None).await);
            times.push(started.elapsed());
        }
        times
    });
    times.sort_unstable();
    let at = |q: f64| times[((N as f64 * q) as usize).min(N - 1)].as_secs_f64() * 1e6;
    println!(
        "serve_api/{name}: {N} round trips one at a time: p50 {:.1} µs, p90 {:.1} µs, p99 {:.1} µs",
        at(0.5),
        at(0.9),
        at(0.99)
    );
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let local = start(false);
    let plugin = start(true);
    rt.block_on(async {
        let mut s = connect(&local.socket).await;
        let (status, body) = call(
            &mut s,
            "POST",
            "/v1.41/volumes/create",
            Some(r#"{"Name":"v1"}"#),
        )
        .await;
        assert_eq!(status, 201, "{body:?}");
        let mut s = connect(&plugin.socket).await;
        let (status, body) = call(
            &mut s,
            "POST",
            "/v1.41/volumes/create",
            Some(r#"{"Name":"v1","Driver":"dryvol"}"#),
        )
        .await;
        assert_eq!(status, 201, "{body:?}");
        // The answers are what the benchmark claims to measure.
        let (status, body) = call(&mut s, "GET", "/v1.41/volumes/v1", None).await;
        assert_eq!(status, 200, "{body:?}");
        assert!(
            std::str::from_utf8(&body)
                .unwrap()
                .contains(r#""Driver":"dryvol""#),
            "{body:?}"
        );
        let mut s = connect(&local.socket).await;
        let (status, _) = call(&mut s, "HEAD", "/_ping", None).await;
        assert_eq!(status, 200);
    });

    let mut g = c.benchmark_group("serve_api");
    g.sample_size(50)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5))
        .throughput(Throughput::Elements(1));
    g.bench_function("ping", |b| {
        b.iter_custom(|iters| measure(&rt, &local.socket, "HEAD", "/_ping", iters))
    });
    g.bench_function("volume_inspect/local", |b| {
        b.iter_custom(|iters| measure(&rt, &local.socket, "GET", "/v1.41/volumes/v1", iters))
    });
    g.bench_function("volume_inspect/plugin_unix", |b| {
        b.iter_custom(|iters| measure(&rt, &plugin.socket, "GET", "/v1.41/volumes/v1", iters))
    });
    g.finish();
    percentiles(&rt, "ping", &local.socket, "HEAD", "/_ping");
    let inspect = "/v1.41/volumes/v1";
    percentiles(&rt, "volume_inspect/local", &local.socket, "GET", inspect);
    percentiles(
        &rt,
        "volume_inspect/plugin_unix",
        &plugin.socket,
        "GET",
        inspect,
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
