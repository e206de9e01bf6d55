//! `drydock serve`: the simulated daemon's Engine API on a socket, so the
//! real docker CLI, docker-py and other clients can drive it unchanged.
//!
//! Each HTTP request is read whole and handed to the same router the
//! scenario runner's CLI model uses (`Router::serve`); its answer goes back
//! as dockerd would write it. With `--trace`, every plugin call and every
//! API request is written as a JSON line the moment it ends.

use bytes::Bytes;
use drydock_engine::api::router::{route, Route};
use drydock_engine::api::{ApiRequest, Router, WireResponse};
use drydock_engine::daemon::persist::DataRoot;
use drydock_engine::daemon::{Engine, EngineError};
use drydock_engine::trace::RpcRecord;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, Limited, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper_util::rt::TokioIo;
use serde_json::json;
use std::convert::Infallible;
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::net::UnixListener;

/// The largest request body read; dockerd sets no limit, but a simulation
/// that holds every body in memory needs one.
pub const MAX_BODY: usize = 64 << 20;

/// The largest request body `--trace` shows (larger ones: their size).
const TRACED_BODY: usize = 64 << 10;

/// Where `serve` writes its `--trace` records.
pub type TraceSink = Arc<Mutex<Box<dyn Write + Send>>>;

/// A socket `serve` listens on (`-H`).
#[derive(Debug)]
pub enum Listener {
    /// `unix://PATH`.
    Unix(UnixListener),
    /// `tcp://HOST:PORT`.
    Tcp(tokio::net::TcpListener),
}

/// The served daemon, shared by every connection.
#[derive(Clone)]
pub struct Daemon {
    /// The simulated dockerd.
    pub engine: Arc<Engine>,
    /// `--trace`.
    pub trace: Option<TraceSink>,
    /// `--data-root`: saved after every request that can change something.
    pub data_root: Option<Arc<DataRoot>>,
    /// The attach streams open, per container.
    pub attached: Arc<AttachStreams>,
}

/// The attach streams open per container: a wait answers after the
/// streams that followed the same run have ended, as on dockerd (the run's
/// end closes them first).
#[derive(Debug, Default)]
pub struct AttachStreams {
    open: Mutex<std::collections::HashMap<String, usize>>,
    closed: tokio::sync::Notify,
}

impl AttachStreams {
    fn opened(&self, id: &str) {
        *self
            .open
            .lock()
            .expect("attach lock")
            .entry(id.to_owned())
            .or_default() += 1;
    }

    fn closed(&self, id: &str) {
        let mut open = self.open.lock().expect("attach lock");
        if let Some(n) = open.get_mut(id) {
            *n -= 1;
            if *n == 0 {
                open.remove(id);
            }
        }
        self.closed.notify_waiters();
    }

    async fn none_open(&self, id: &str) {
        loop {
            let closed = self.closed.notified();
            tokio::pin!(closed);
            closed.as_mut().enable();
            if !self.open.lock().expect("attach lock").contains_key(id) {
                return;
            }
            closed.await;
        }
    }
}

impl Daemon {
    /// Writes the plugin calls made so far and, when given, the API request
    /// that ended to the trace; saves the state when `changed`.
    fn after(&self, api: Option<serde_json::Value>, changed: bool) {
        match &self.trace {
            Some(trace) => write_records(trace, &self.engine, api),
            // Nobody reads the calls: dropped, so a long-lived daemon's
            // memory stays flat.
            None => drop(self.engine.trace().drain()),
        }
        if let (true, Some(root)) = (changed, &self.data_root) {
            if let Err(e) = root.save(&self.engine) {
                tracing::error!("cannot save the daemon's state: {e}");
            }
        }
    }
}

/// Serves the daemon's API on every listener until `shutdown` resolves,
/// then stops it as dockerd stops (running containers are unmounted).
pub async fn serve(
    daemon: Daemon,
    listeners: Vec<Listener>,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let accepting: Vec<_> = listeners
        .into_iter()
        .map(|listener| tokio::spawn(accept_loop(listener, daemon.clone())))
        .collect();
    shutdown.await;
    for task in accepting {
        task.abort();
    }
    daemon.engine.stop_daemon().await;
    daemon.after(None, true);
}

/// Takes connections on one listener, each served on its own task.
async fn accept_loop(listener: Listener, daemon: Daemon) {
    loop {
        let accepted = match &listener {
            Listener::Unix(l) => l.accept().await.map(|(s, _)| connection(s, &daemon)),
            Listener::Tcp(l) => l.accept().await.map(|(s, _)| {
                let _ = s.set_nodelay(true);
                connection(s, &daemon)
            }),
        };
        if let Err(e) = accepted {
            tracing::warn!("accept: {e}");
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }
}

/// Serves one client connection on its own task.
fn connection<S>(stream: S, daemon: &Daemon)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let daemon = daemon.clone();
    let service = hyper::service::service_fn(move |req| {
        let daemon = daemon.clone();
        async move { Ok::<_, Infallible>(answer(daemon, req).await) }
    });
    // With upgrades: `attach` answers 101 and the stream then ends
    // (containers run no processes).
    let served = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades();
    tokio::spawn(async move {
        if let Err(e) = served.await {
            tracing::debug!("client connection ended: {e}");
        }
    });
}

/// A response body: whole, or (a `wait`) written when the container exits.
type Body = BoxBody<Bytes, Infallible>;

/// One request: read, routed, answered; its plugin calls and itself traced.
async fn answer(daemon: Daemon, mut req: hyper::Request<Incoming>) -> hyper::Response<Body> {
    let started = Instant::now();
    // The client's side of an `attach` once it is hijacked.
    let upgrade = hyper::upgrade::on(&mut req);
    let (parts, body) = req.into_parts();
    let method = parts.method.as_str().to_owned();
    // What can change the daemon's state (and so is saved after).
    let changes = !matches!(parts.method.as_str(), "GET" | "HEAD" | "OPTIONS");
    let engine = daemon.engine.clone();
    let uri = parts
        .uri
        .path_and_query()
        .map_or_else(|| parts.uri.path().to_owned(), |pq| pq.as_str().to_owned());
    let headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .filter(|(name, _)| *name != hyper::header::HOST)
        .map(|(name, value)| {
            (
                canonical_header(name.as_str()),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect();
    // A body announced over the limit is refused before any of it is read.
    let announced = parts
        .headers
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if announced.is_some_and(|n| n > MAX_BODY as u64) {
        let wire = WireResponse::error(&EngineError::invalid(format!(
            "drydock: the request body is {} bytes; bodies are read whole, up to {} MiB",
            announced.unwrap_or_default(),
            MAX_BODY >> 20
        )));
        return to_hyper(wire, None);
    }
    let request = match Limited::new(body, MAX_BODY).collect().await {
        Ok(collected) => {
            let bytes = collected.to_bytes();
            let body = (!bytes.is_empty()).then(|| bytes.to_vec());
            ApiRequest::from_parts(method.clone(), uri.clone(), headers, body)
        }
        Err(e) => {
            let wire = WireResponse::error(&EngineError::invalid(format!(
                "drydock: the request body could not be read ({e}); bodies are read whole, up to {} MiB",
                MAX_BODY >> 20
            )));
            return to_hyper(wire, None);
        }
    };
    // The body in the trace: its JSON, or its text, up to a size.
    let body = daemon
        .trace
        .is_some()
        .then_some(request.body.as_deref())
        .flatten()
        .map(|b| {
            if b.len() > TRACED_BODY {
                return json!({"bytes": b.len()});
            }
            serde_json::from_slice::<serde_json::Value>(b)
                .unwrap_or_else(|_| json!(String::from_utf8_lossy(b)))
        });
    let api: ApiRecord = Box::new(move |status: u16| {
        let mut api = json!({"method": method, "uri": uri, "status": status});
        if let Some(body) = body {
            api["body"] = body;
        }
        json!({"api": api, "micros": started.elapsed().as_micros() as u64})
    });
    match streaming(&engine, &request) {
        Some(Streaming::Wait(id)) => return wait(daemon, request, id, api).await,
        Some(Streaming::Attach(id)) => return attach(daemon, request, id, upgrade, api).await,
        None => {}
    }
    let wire = Router::new(&engine).serve(request).await;
    daemon.after(Some(api(wire.status)), changes);
    to_hyper(wire, None)
}

/// A request whose answer outlives its handler's first bytes.
enum Streaming {
    /// `POST /containers/{id}/wait`, of this container (full ID).
    Wait(String),
    /// `POST /containers/{id}/attach`, of this container (full ID).
    Attach(String),
}

/// Whether `req` streams: a wait or an attach of an existing container (a
/// missing one is answered at once, with dockerd's 404).
fn streaming(engine: &Engine, req: &ApiRequest) -> Option<Streaming> {
    // The router routes every request again, and most do not stream.
    if req.method != "POST" || !(req.path().ends_with("/wait") || req.path().ends_with("/attach")) {
        return None;
    }
    match route(&req.method, &req.uri) {
        Ok(Route::ContainerWait { id }) => engine.container_id(&id).ok().map(Streaming::Wait),
        Ok(Route::ContainerAttach { id }) => engine.container_id(&id).ok().map(Streaming::Attach),
        _ => None,
    }
}

/// What the trace records of an API request, given its status.
type ApiRecord = Box<dyn FnOnce(u16) -> serde_json::Value + Send>;

/// `wait`: dockerd's handler sends its headers (after `AuthZReq`) and the
/// exit status when there is one — the CLI starts the container only after
/// the headers came. `AuthZRes` follows the exit and sees nothing of the
/// answer. A client that hangs up (a detached `docker run` once the
/// container started) ends the wait.
async fn wait(
    daemon: Daemon,
    request: ApiRequest,
    id: String,
    api: ApiRecord,
) -> hyper::Response<Body> {
    // Ok: the head, the body follows; Err: the whole answer.
    let (head_tx, head_rx) = tokio::sync::oneshot::channel::<Result<WireResponse, WireResponse>>();
    let (body_tx, body_rx) = tokio::sync::oneshot::channel::<Bytes>();
    tokio::spawn(async move {
        let mut body_tx = body_tx;
        let engine = daemon.engine.clone();
        let exchange = match Router::new(&engine).open(request).await {
            Ok(exchange) => exchange,
            Err(e) => return refused(&daemon, api, WireResponse::error(&e), head_tx),
        };
        let _ = head_tx.send(Ok(WireResponse::flushed_head()));
        let result = tokio::select! {
            result = exchange.run() => result,
            _ = body_tx.closed() => {
                exchange.hang_up().await;
                daemon.after(Some(api(200)), true);
                return;
            }
        };
        daemon.attached.none_open(&id).await;
        let wire = match exchange.close(result).await {
            Ok(resp) => resp.to_wire(false),
            Err(e) => WireResponse::error(&e),
        };
        daemon.after(Some(api(wire.status)), true);
        let _ = body_tx.send(Bytes::from(wire.body));
    });
    let head = match head_of(head_rx, "wait").await {
        Ok(head) => head,
        Err(whole) => return whole,
    };
    let body = futures_util::stream::once(async move {
        Ok::<_, Infallible>(Frame::data(body_rx.await.unwrap_or_default()))
    });
    to_hyper(head, Some(StreamBody::new(body).boxed()))
}

/// Where a streaming request's task sends its head (`Ok`, a body follows)
/// or its whole answer (`Err`).
type HeadSender = tokio::sync::oneshot::Sender<Result<WireResponse, WireResponse>>;

/// What a streaming request's task sent: its head (a body follows), or
/// (`Err`) the whole answer, ready to send.
async fn head_of(
    head: tokio::sync::oneshot::Receiver<Result<WireResponse, WireResponse>>,
    what: &str,
) -> Result<WireResponse, hyper::Response<Body>> {
    match head.await {
        Ok(Ok(head)) => Ok(head),
        Ok(Err(whole)) => Err(to_hyper(whole, None)),
        Err(_) => Err(to_hyper(
            WireResponse::error(&EngineError::system(format!("{what} ended"))),
            None,
        )),
    }
}

/// A streaming request refused before its handler ran (routing, authz):
/// traced, and `wire` is the whole answer.
fn refused(daemon: &Daemon, api: ApiRecord, wire: WireResponse, head: HeadSender) {
    daemon.after(Some(api(wire.status)), false);
    let _ = head.send(Err(wire));
}

/// `attach`: the connection is hijacked (101 for a client that asked for
/// the upgrade) and the stream — empty: containers run no processes — ends
/// when the run the client follows ends (or the container goes). `AuthZRes`
/// comes then, as dockerd's middleware sees the handler return only then.
async fn attach(
    daemon: Daemon,
    request: ApiRequest,
    id: String,
    upgrade: hyper::upgrade::OnUpgrade,
    api: ApiRecord,
) -> hyper::Response<Body> {
    let upgrading = request.header_value("Upgrade").is_some();
    // `stream=1` follows the container's output; without it the answer is
    // the logs asked for (there are none) and ends at once.
    let follows = request.query_bool("stream");
    let (head_tx, head_rx) = tokio::sync::oneshot::channel::<Result<WireResponse, WireResponse>>();
    let (end_tx, end_rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let engine = daemon.engine.clone();
        let exchange = match Router::new(&engine).open(request).await {
            Ok(exchange) => exchange,
            Err(e) => return refused(&daemon, api, WireResponse::error(&e), head_tx),
        };
        let resp = match exchange.run().await {
            Ok(resp) if resp.client_status() == 101 => resp,
            other => {
                let wire = match exchange.close(other).await {
                    Ok(resp) => resp.to_wire(false),
                    Err(e) => WireResponse::error(&e),
                };
                daemon.after(Some(api(wire.status)), false);
                let _ = head_tx.send(Err(wire));
                return;
            }
        };
        let mut head = resp.to_wire(false);
        if !upgrading {
            // Without the upgrade dockerd still takes the connection over,
            // after a plain 200.
            head.status = 200;
            head.headers
                .retain(|(n, _)| n != "Connection" && n != "Upgrade");
        }
        daemon.attached.opened(&id);
        let _ = head_tx.send(Ok(head));
        // The client's connection, held until the stream ends. The docker
        // CLI closes its writing side at once even without stdin: that is
        // no hang-up, and dockerd too streams on until the run ends.
        let held = if upgrading { upgrade.await.ok() } else { None };
        if follows {
            engine.container_attach_end(&id).await;
        }
        let _ = exchange.close(Ok(resp)).await;
        daemon.attached.closed(&id);
        daemon.after(Some(api(if upgrading { 101 } else { 200 })), true);
        drop(held);
        drop(end_tx);
    });
    let head = match head_of(head_rx, "attach").await {
        Ok(head) => head,
        Err(whole) => return whole,
    };
    if upgrading {
        // The stream ends when the task drops the connection.
        return to_hyper(head, None);
    }
    let body = futures_util::stream::once(async move {
        let _ = end_rx.await;
        Ok::<_, Infallible>(Frame::data(Bytes::new()))
    });
    to_hyper(head, Some(StreamBody::new(body).boxed()))
}

/// The wire response as hyper sends it; hyper writes the length headers
/// itself from the body.
fn to_hyper(wire: WireResponse, body: Option<Body>) -> hyper::Response<Body> {
    let body = body.unwrap_or_else(|| Full::new(Bytes::from(wire.body)).boxed());
    let mut resp = hyper::Response::new(body);
    *resp.status_mut() = hyper::StatusCode::from_u16(wire.status)
        .unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    for (name, value) in wire.headers {
        if matches!(name.as_str(), "Content-Length" | "Transfer-Encoding") {
            continue;
        }
        if let (Ok(n), Ok(v)) = (
            hyper::header::HeaderName::from_bytes(name.as_bytes()),
            hyper::header::HeaderValue::from_str(&value),
        ) {
            resp.headers_mut().append(n, v);
        }
    }
    resp
}

/// Go's canonical MIME header key (`content-type` → `Content-Type`), the
/// form dockerd's authz plugins see names in.
pub fn canonical_header(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper = true;
    for c in name.chars() {
        out.push(if upper {
            c.to_ascii_uppercase()
        } else {
            c.to_ascii_lowercase()
        });
        upper = c == '-';
    }
    out
}

/// The plugin calls made since the last record (then the API request that
/// ended), as JSON Lines, flushed at once so a reader sees them as they
/// happen. Calls are taken under the file's lock: concurrent requests
/// cannot write them out of order.
fn write_records(trace: &TraceSink, engine: &Engine, api: Option<serde_json::Value>) {
    let mut out = trace.lock().expect("trace lock");
    let calls: Vec<RpcRecord> = engine.trace().drain();
    for c in &calls {
        let rec = crate::run::report::call_json(c);
        let _ = writeln!(out, "{rec}");
    }
    if let Some(api) = api {
        let _ = writeln!(out, "{api}");
    }
    let _ = out.flush();
}

/// The default socket: a private runtime directory, never the machine's
/// `/var/run/docker.sock`.
pub fn default_socket() -> PathBuf {
    use std::os::unix::fs::MetadataExt;
    let uid = std::fs::metadata("/proc/self").map_or(0, |m| m.uid());
    let base = std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join(format!("drydock-{uid}")));
    base.join("drydock").join("docker.sock")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_names_are_canonical_as_go_writes_them() {
        assert_eq!(canonical_header("content-type"), "Content-Type");
        assert_eq!(canonical_header("x-registry-auth"), "X-Registry-Auth");
        assert_eq!(canonical_header("USER-AGENT"), "User-Agent");
    }
}
