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

/// Serves `engine`'s API on every listener until `shutdown` resolves, then
/// stops the daemon as dockerd stops (running containers are unmounted).
pub async fn serve(
    engine: Arc<Engine>,
    listeners: Vec<Listener>,
    trace: Option<TraceSink>,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let accepting: Vec<_> = listeners
        .into_iter()
        .map(|listener| tokio::spawn(accept_loop(listener, engine.clone(), trace.clone())))
        .collect();
    shutdown.await;
    for task in accepting {
        task.abort();
    }
    engine.stop_daemon().await;
    if let Some(trace) = &trace {
        write_records(trace, &engine, None);
    }
}

/// Takes connections on one listener, each served on its own task.
async fn accept_loop(listener: Listener, engine: Arc<Engine>, trace: Option<TraceSink>) {
    loop {
        let accepted = match &listener {
            Listener::Unix(l) => l
                .accept()
                .await
                .map(|(s, _)| connection(s, &engine, &trace)),
            Listener::Tcp(l) => l.accept().await.map(|(s, _)| {
                let _ = s.set_nodelay(true);
                connection(s, &engine, &trace)
            }),
        };
        if let Err(e) = accepted {
            tracing::warn!("accept: {e}");
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }
}

/// Serves one client connection on its own task.
fn connection<S>(stream: S, engine: &Arc<Engine>, trace: &Option<TraceSink>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let engine = engine.clone();
    let trace = trace.clone();
    let service = hyper::service::service_fn(move |req| {
        let engine = engine.clone();
        let trace = trace.clone();
        async move { Ok::<_, Infallible>(answer(engine, req, trace).await) }
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
async fn answer(
    engine: Arc<Engine>,
    req: hyper::Request<Incoming>,
    trace: Option<TraceSink>,
) -> hyper::Response<Body> {
    let started = Instant::now();
    let (parts, body) = req.into_parts();
    let method = parts.method.as_str().to_owned();
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
    let api = move |status: u16| {
        json!({
            "api": {"method": method, "uri": uri, "status": status},
            "micros": started.elapsed().as_micros() as u64,
        })
    };
    if let Some(id) = waits_on(&engine, &request) {
        // dockerd's wait handler sends its headers at once and the exit
        // status when there is one: the CLI starts the container only
        // after the headers came. FIXME(issue 17): the headers should come
        // after AuthZReq; an authz denial of a wait is sent as a 200 whose
        // body is the error.
        tracing::debug!("waiting on container {id}");
        let (tx, rx) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            let mut tx = tx;
            // A client that hangs up (a detached `docker run` once the
            // container started) ends the wait.
            let router = Router::new(&engine);
            let wire = tokio::select! {
                wire = router.serve(request) => wire,
                _ = tx.closed() => return,
            };
            if let Some(trace) = &trace {
                write_records(trace, &engine, Some(api(wire.status)));
            }
            let _ = tx.send(Bytes::from(wire.body));
        });
        let head = WireResponse::flushed_head();
        let body = futures_util::stream::once(async move {
            Ok::<_, Infallible>(Frame::data(rx.await.unwrap_or_default()))
        });
        return to_hyper(head, Some(StreamBody::new(body).boxed()));
    }
    let wire = Router::new(&engine).serve(request).await;
    if let Some(trace) = &trace {
        write_records(trace, &engine, Some(api(wire.status)));
    }
    to_hyper(wire, None)
}

/// The container a `POST /containers/{id}/wait` names, when it exists (a
/// missing one is answered at once, with dockerd's 404).
fn waits_on(engine: &Engine, req: &ApiRequest) -> Option<String> {
    // Routed here only when it can be a wait: the router routes every
    // request again, and most are not waits.
    if req.method != "POST" || !req.path().ends_with("/wait") {
        return None;
    }
    match route(&req.method, &req.uri) {
        Ok(Route::ContainerWait { id }) if engine.container_state(&id).is_ok() => Some(id),
        _ => None,
    }
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
