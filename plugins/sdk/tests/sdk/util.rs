//! Shared test helpers: small plugins with predictable behaviour, a raw
//! HTTP/1.1 client (raw bytes, so tests control every header), and a harness
//! that runs a server on a temporary unix socket.

use bytes::Bytes;
use drydock_sdk::server::{Listener, ServeConfig};
use drydock_sdk::wire::authz::{AuthzRequest, AuthzResponse};
use drydock_sdk::wire::ipam;
use drydock_sdk::wire::volume::{CreateRequest, MountRequest, NameRequest, Volume};
use drydock_sdk::{AuthzPlugin, IpamDriver, Plugin, PluginError, VolumeDriver};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{oneshot, Notify};
use tokio::task::JoinHandle;

/// A volume plugin whose behaviour is chosen by the volume name:
/// * `panic` — Create panics;
/// * `slow` — Create announces itself on [`Gate::entered`] and waits for [`Gate::release`];
/// * `inband` — Create fails in band (200 with `Err`);
/// * anything else — an ordinary in-memory volume. Remove of an unknown
///   volume fails out of band (500); Get of an unknown one fails in band.
#[derive(Clone, Default)]
pub struct TestVolumes {
    volumes: Arc<Mutex<BTreeMap<String, Volume>>>,
    pub gate: Arc<Gate>,
}

/// Lets a test hold a handler mid-call.
#[derive(Default)]
pub struct Gate {
    pub entered: Notify,
    pub release: Notify,
}

impl VolumeDriver for TestVolumes {
    async fn create(&self, req: CreateRequest) -> Result<(), PluginError> {
        match req.name.as_str() {
            "panic" => panic!("volume store exploded"),
            "inband" => return Err(PluginError::in_band("quota exceeded")),
            "slow" => {
                self.gate.entered.notify_one();
                self.gate.release.notified().await;
            }
            _ => {}
        }
        let volume = Volume {
            name: req.name.clone(),
            mountpoint: format!("/mnt/{}", req.name),
            ..Volume::default()
        };
        self.volumes.lock().unwrap().insert(req.name, volume);
        Ok(())
    }

    async fn remove(&self, req: NameRequest) -> Result<(), PluginError> {
        match self.volumes.lock().unwrap().remove(&req.name) {
            Some(_) => Ok(()),
            None => Err(PluginError::new(format!("no such volume: {}", req.name))),
        }
    }

    async fn mount(&self, req: MountRequest) -> Result<String, PluginError> {
        Ok(format!("/mnt/{}", req.name))
    }

    async fn path(&self, req: NameRequest) -> Result<String, PluginError> {
        Ok(format!("/mnt/{}", req.name))
    }

    async fn unmount(&self, _req: MountRequest) -> Result<(), PluginError> {
        Ok(())
    }

    async fn get(&self, req: NameRequest) -> Result<Volume, PluginError> {
        self.volumes
            .lock()
            .unwrap()
            .get(&req.name)
            .cloned()
            .ok_or_else(|| PluginError::in_band(format!("no such volume: {}", req.name)))
    }

    async fn list(&self) -> Result<Vec<Volume>, PluginError> {
        Ok(self.volumes.lock().unwrap().values().cloned().collect())
    }
}

/// An IPAM plugin: pool `10.9.0.0/16` fails in band (field `Error`), releasing
/// a pool fails out of band.
pub struct TestIpam;

impl IpamDriver for TestIpam {
    async fn get_default_address_spaces(&self) -> Result<ipam::AddressSpacesResponse, PluginError> {
        Ok(ipam::AddressSpacesResponse {
            local_default_address_space: "local".into(),
            global_default_address_space: "global".into(),
            error: String::new(),
        })
    }

    async fn request_pool(
        &self,
        req: ipam::RequestPoolRequest,
    ) -> Result<ipam::RequestPoolResponse, PluginError> {
        if req.pool == "10.9.0.0/16" {
            return Err(PluginError::in_band("pool overlaps"));
        }
        Ok(ipam::RequestPoolResponse {
            pool_id: format!("p/{}", req.pool),
            pool: req.pool,
            data: None,
            error: String::new(),
        })
    }

    async fn release_pool(&self, req: ipam::ReleasePoolRequest) -> Result<(), PluginError> {
        Err(PluginError::new(format!("unknown pool {}", req.pool_id)))
    }

    async fn request_address(
        &self,
        _req: ipam::RequestAddressRequest,
    ) -> Result<ipam::RequestAddressResponse, PluginError> {
        Ok(ipam::RequestAddressResponse::default())
    }

    async fn release_address(&self, _req: ipam::ReleaseAddressRequest) -> Result<(), PluginError> {
        Ok(())
    }
}

/// An authz plugin allowing everything except URIs containing `deny`.
pub struct TestAuthz;

impl AuthzPlugin for TestAuthz {
    async fn authz_req(&self, req: AuthzRequest) -> Result<AuthzResponse, PluginError> {
        Ok(if req.request_uri.contains("deny") {
            AuthzResponse::deny(format!("denied: {}", req.request_uri))
        } else {
            AuthzResponse::allow()
        })
    }

    async fn authz_res(&self, _req: AuthzRequest) -> Result<AuthzResponse, PluginError> {
        Ok(AuthzResponse::allow())
    }
}

/// The plugin most tests serve.
pub fn volume_plugin() -> (Plugin, TestVolumes) {
    let volumes = TestVolumes::default();
    (Plugin::new().volume(volumes.clone()), volumes)
}

/// One HTTP response as read off the wire.
#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl RawResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body parsed as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {:?}", self.body))
    }
}

/// A raw HTTP/1.1 client connection: tests write exact bytes and read
/// responses one at a time, so keep-alive is visible.
pub struct RawConn<S> {
    stream: BufReader<S>,
}

impl RawConn<UnixStream> {
    pub async fn unix(path: &Path) -> Self {
        RawConn::new(UnixStream::connect(path).await.expect("connect"))
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> RawConn<S> {
    pub fn new(stream: S) -> Self {
        RawConn {
            stream: BufReader::new(stream),
        }
    }

    /// Sends a POST the way dockerd 20.10 does over a unix socket: empty Host,
    /// Go's User-Agent, Content-Length, the v1.2 Accept, no Content-Type.
    pub async fn post(&mut self, path: &str, body: &str) -> RawResponse {
        let request = dockerd_request(path, "", body);
        self.send(request.as_bytes()).await
    }

    /// Writes `bytes` and reads one response.
    pub async fn send(&mut self, bytes: &[u8]) -> RawResponse {
        self.write(bytes).await;
        self.read_response()
            .await
            .expect("the server answered and kept the connection")
    }

    pub async fn write(&mut self, bytes: &[u8]) {
        let stream = self.stream.get_mut();
        stream.write_all(bytes).await.expect("write request");
        stream.flush().await.expect("flush request");
    }

    /// Reads one response (Content-Length framing, as the server uses);
    /// `None` if the server closed the connection first.
    pub async fn read_response(&mut self) -> Option<RawResponse> {
        let mut status_line = String::new();
        if self.stream.read_line(&mut status_line).await.ok()? == 0 {
            return None;
        }
        let status = status_line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
        let mut headers = Vec::new();
        loop {
            let mut line = String::new();
            self.stream.read_line(&mut line).await.ok()?;
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            let (name, value) = line.split_once(':').expect("header line");
            headers.push((name.to_owned(), value.trim().to_owned()));
        }
        let len: usize = headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
            .map(|(_, v)| v.parse().expect("content-length"))
            .expect("responses carry Content-Length");
        let mut body = vec![0; len];
        self.stream.read_exact(&mut body).await.ok()?;
        Some(RawResponse {
            status,
            headers,
            body: String::from_utf8(body).expect("UTF-8 body"),
        })
    }

    /// Whether the server has closed the connection (reads EOF).
    pub async fn is_closed(&mut self) -> bool {
        let mut byte = [0u8; 1];
        matches!(self.stream.read(&mut byte).await, Ok(0) | Err(_))
    }
}

/// The exact request bytes dockerd's Go client writes (protocol.md §3.1).
pub fn dockerd_request(path: &str, host: &str, body: &str) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: Go-http-client/1.1\r\n\
         Content-Length: {}\r\nAccept: application/vnd.docker.plugins.v1.2+json\r\n\r\n{body}",
        body.len()
    )
}

/// A server running in the background of a test.
pub struct Running {
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl Running {
    /// Runs `serve` with a shutdown future the test triggers with [`Running::stop`].
    pub fn spawn<F, Fut>(serve: F) -> Running
    where
        F: FnOnce(Shutdown) -> Fut,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let shutdown: Shutdown = Box::pin(async move {
            let _ = rx.await;
        });
        let task = tokio::spawn(serve(shutdown));
        Running {
            stop: Some(tx),
            task,
        }
    }

    /// Asks the server to shut down, without waiting.
    pub fn begin_stop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }

    /// Whether the serving future has returned.
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }

    /// Shuts the server down and waits for it to return.
    pub async fn stop(mut self) {
        self.begin_stop();
        self.task.await.expect("server task did not panic");
    }
}

/// The shutdown future handed to servers under test: resolves when the test
/// calls [`Running::stop`] (or drops the [`Running`]).
pub type Shutdown = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

/// Serves `plugin` with `config` on a fresh unix socket bound by the test.
pub fn serve_on_socket(
    plugin: Plugin,
    config: ServeConfig,
) -> (tempfile::TempDir, PathBuf, Running) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("p.sock");
    let listener = UnixListener::bind(&path).expect("bind");
    let running = serve_listener(plugin, config, listener);
    (dir, path, running)
}

/// Serves `plugin` on a listener the test bound.
pub fn serve_listener<L: Listener>(plugin: Plugin, config: ServeConfig, listener: L) -> Running {
    Running::spawn(move |shutdown| async move { config.serve(plugin, listener, shutdown).await })
}

/// Lets other tasks run until `cond` holds. Tests run on tokio's
/// single-threaded runtime, so yielding is what lets the server make progress;
/// no wall-clock waiting is involved.
pub async fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    for _ in 0..10_000 {
        if cond() {
            return;
        }
        tokio::task::yield_now().await;
    }
    panic!("gave up waiting until {what}");
}

/// The body of a Create request for `name`, as dockerd encodes it.
pub fn create_body(name: &str) -> String {
    String::from_utf8(drydock_sdk::wire::encode_go(&CreateRequest {
        name: name.into(),
        opts: None,
    }))
    .unwrap()
}

/// Shorthand for an in-process call.
pub async fn call(plugin: &Plugin, path: &str, body: &str) -> (u16, serde_json::Value) {
    let reply = plugin.handle(path, Bytes::from(body.to_owned())).await;
    let json = serde_json::from_slice(&reply.body)
        .unwrap_or_else(|e| panic!("reply to {path} is not JSON ({e}): {:?}", reply.body));
    (reply.status.as_u16(), json)
}
