//! `drydock record`: a recording proxy in front of a real plugin.
//!
//! dockerd finds the proxy where it would find the plugin (`NAME.sock` in its
//! plugin directory); the proxy forwards every call, unchanged, to the plugin
//! at its real address and writes each call as one JSON Lines record in the
//! format of `drydock run --trace` (docs/recording.md).
//!
//! # Layout
//! * [`Upstream`] — where the real plugin listens (a unix socket or TCP).
//! * [`Recorder`] — the output file: one line per call, written (one `write`)
//!   as soon as the call ends, so a killed recorder leaves only whole lines.
//! * [`commands`] — the `--commands` file: the docker commands the user runs,
//!   which turn a call log into a replayable scenario.
//! * [`serve`] — the accept loop over a listener the caller bound, until a
//!   shutdown future resolves.
//! * [`replay`] — reading a recording back, running its commands through the
//!   simulated engine and comparing the calls (`drydock replay`).
//!
//! # What the proxy does not do
//! It adds no state a plugin could notice: one upstream connection per
//! connection dockerd opens (so keep-alive is dockerd's), bodies streamed
//! through as they arrive, headers and status passed as they are. When the
//! plugin cannot be reached, dockerd's connection is closed without an answer,
//! which is what dockerd sees of a dead plugin (it retries, then fails the
//! command); the call is recorded with the error.

pub mod commands;
pub mod replay;

use bytes::{Bytes, BytesMut};
use http::{Request, Response};
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime};
use tokio::net::{TcpStream, UnixListener, UnixStream};
use tokio::sync::oneshot;

use commands::{Commands, CurrentStep};

/// Where the real plugin listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Upstream {
    /// A unix socket path.
    Unix(PathBuf),
    /// `host:port`.
    Tcp(String),
}

impl Upstream {
    /// Reads `--upstream`: a socket path, `unix://PATH`, `tcp://HOST:PORT` or
    /// `http://HOST:PORT` (what a `.spec` file holds). TLS (`https://`) is not
    /// supported: the proxy would have to terminate it.
    pub fn parse(addr: &str) -> anyhow::Result<Upstream> {
        if let Some(path) = addr.strip_prefix("unix://") {
            if path.is_empty() {
                anyhow::bail!("--upstream {addr:?}: no socket path after unix://");
            }
            return Ok(Upstream::Unix(absolute(Path::new(path))));
        }
        for scheme in ["tcp://", "http://"] {
            if let Some(rest) = addr.strip_prefix(scheme) {
                let host = rest.trim_end_matches('/');
                if host.is_empty() || host.contains('/') || !host.contains(':') {
                    anyhow::bail!("--upstream {addr:?}: expected {scheme}HOST:PORT");
                }
                return Ok(Upstream::Tcp(host.to_owned()));
            }
        }
        if addr.contains("://") {
            anyhow::bail!(
                "--upstream {addr:?}: unsupported scheme (use a socket path, unix://PATH, tcp://HOST:PORT or http://HOST:PORT; https is not proxied)"
            );
        }
        Ok(Upstream::Unix(absolute(Path::new(addr))))
    }

    /// Opens one HTTP/1.1 connection to the plugin.
    async fn connect(&self) -> std::io::Result<SendRequest<Tee>> {
        match self {
            Upstream::Unix(path) => handshake(UnixStream::connect(path).await?).await,
            Upstream::Tcp(addr) => {
                let stream = TcpStream::connect(addr).await?;
                let _ = stream.set_nodelay(true);
                handshake(stream).await
            }
        }
    }
}

impl fmt::Display for Upstream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Upstream::Unix(p) => write!(f, "unix://{}", p.display()),
            Upstream::Tcp(a) => write!(f, "tcp://{a}"),
        }
    }
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_owned())
}

async fn handshake<S>(stream: S) -> std::io::Result<SendRequest<Tee>>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
{
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(std::io::Error::other)?;
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!("upstream connection ended: {e}");
        }
    });
    Ok(sender)
}

/// The output file and the `--commands` state: what every call line needs.
pub struct Recorder {
    /// Plugin name, written on every call line (dockerd's name for it).
    plugin: String,
    /// Unbuffered on purpose: each line is one `write`, so the file is valid
    /// JSON Lines whenever the process dies.
    out: Mutex<std::fs::File>,
    /// The commands file, when `--commands` was given. Locked while its new
    /// lines are turned into step lines, so step and call lines keep order.
    commands: Option<Mutex<Commands>>,
    /// Print one line per call on stderr.
    echo: bool,
    /// Calls recorded so far (for the summary at exit).
    calls: AtomicUsize,
}

impl Recorder {
    /// A recorder writing to `out` (created or truncated).
    pub fn create(plugin: &str, out: &Path) -> anyhow::Result<Recorder> {
        use anyhow::Context as _;
        let file = std::fs::File::create(out)
            .with_context(|| format!("cannot create recording {}", out.display()))?;
        Ok(Recorder {
            plugin: plugin.to_owned(),
            out: Mutex::new(file),
            commands: None,
            echo: false,
            calls: AtomicUsize::new(0),
        })
    }

    /// Interleaves the commands appended to `commands` from now on.
    pub fn with_commands(mut self, commands: Commands) -> Recorder {
        self.commands = Some(Mutex::new(commands));
        self
    }

    /// Prints each call on stderr as it ends.
    pub fn echo(mut self, on: bool) -> Recorder {
        self.echo = on;
        self
    }

    /// Calls recorded so far.
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::Relaxed)
    }

    fn write_line(&self, line: &Value) {
        let mut text = line.to_string();
        text.push('\n');
        let mut out = self.out.lock().expect("recording lock");
        if let Err(e) = out.write_all(text.as_bytes()) {
            tracing::error!("cannot write the recording: {e}");
        }
    }

    /// Reads commands appended since the last look, writes their step lines,
    /// and returns the step a call arriving now belongs to.
    ///
    /// Called when a call arrives: the shell function appends a command
    /// before running it, so every call the command causes finds its line
    /// already in the file. No polling race.
    pub fn refresh(&self) -> Option<CurrentStep> {
        let commands = self.commands.as_ref()?;
        let mut commands = commands.lock().expect("commands lock");
        for line in commands.read_new() {
            if self.echo {
                if let Some(c) = line.get("command").and_then(Value::as_str) {
                    if line.get("outcome").is_none() {
                        eprintln!("── {c}");
                    }
                }
            }
            self.write_line(&line);
        }
        commands.current()
    }

    fn record_call(&self, call: CallRecord) {
        let line = call.to_json(&self.plugin);
        if self.echo {
            eprintln!("   {}", call.summary(&self.plugin));
        }
        self.write_line(&line);
        self.calls.fetch_add(1, Ordering::Relaxed);
    }
}

/// One finished call, before it becomes a line.
struct CallRecord {
    step: Option<CurrentStep>,
    method: String,
    /// The HTTP method when it is not POST (dockerd always POSTs).
    http_method: Option<String>,
    started: SystemTime,
    elapsed: Duration,
    request: Bytes,
    response: Option<Bytes>,
    status: Option<u16>,
    error: Option<String>,
}

impl CallRecord {
    /// The line: `drydock run --trace`'s call fields plus `start` (when the
    /// call arrived, RFC 3339 UTC).
    fn to_json(&self, plugin: &str) -> Value {
        let body = drydock_engine::trace::body_json;
        let mut line = json!({
            "step": self.step.as_ref().map(|s| s.index),
            "command": self.step.as_ref().map(|s| s.command.as_str()),
            "plugin": plugin,
            "method": self.method,
            "request": body(&self.request),
            "response": self.response.as_deref().map(body),
            "status": self.status,
            "error": self.error,
            "micros": self.elapsed.as_micros() as u64,
            "start": rfc3339(self.started),
        });
        if let Some(m) = &self.http_method {
            line["http_method"] = json!(m);
        }
        line
    }

    fn summary(&self, plugin: &str) -> String {
        let answer = match (&self.status, &self.response) {
            (Some(s), Some(b)) => format!("{s} {}", compact(&drydock_engine::trace::body_json(b))),
            _ => format!("no answer: {}", self.error.as_deref().unwrap_or("")),
        };
        format!(
            "{plugin} {} {} → {answer} ({}µs)",
            self.method,
            compact(&drydock_engine::trace::body_json(&self.request)),
            self.elapsed.as_micros()
        )
    }
}

fn compact(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 100 {
        format!("{}…", s.chars().take(100).collect::<String>())
    } else {
        s
    }
}

/// `2026-11-22T06:00:00.123456Z`.
pub fn rfc3339(t: SystemTime) -> String {
    let t: time::OffsetDateTime = t.into();
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z"
    );
    t.format(&format).unwrap_or_default()
}

/// What a [`Tee`] does with the copy of its body (or the error that ended
/// the stream) once the stream ends.
type OnEnd = Box<dyn FnOnce(Result<Bytes, String>) + Send>;

/// A body passed through as it streams, with a copy kept for the recording.
/// A body dropped before its end reports that instead.
pub struct Tee {
    inner: Incoming,
    seen: BytesMut,
    /// Runs within the poll that reads the last frame, i.e. before the
    /// receiver can have the whole body: the recording line of a call is
    /// written before dockerd can send its next call, so lines keep the
    /// calls' order.
    on_end: Option<OnEnd>,
}

impl Tee {
    fn new(inner: Incoming, on_end: OnEnd) -> Tee {
        let mut tee = Tee {
            inner,
            seen: BytesMut::new(),
            on_end: Some(on_end),
        };
        if tee.inner.is_end_stream() {
            tee.finish(Ok(()));
        }
        tee
    }

    /// A tee whose copy arrives on a channel.
    fn with_channel(inner: Incoming) -> (Tee, oneshot::Receiver<Result<Bytes, String>>) {
        let (tx, rx) = oneshot::channel();
        let tee = Tee::new(
            inner,
            Box::new(move |r| {
                let _ = tx.send(r);
            }),
        );
        (tee, rx)
    }

    fn finish(&mut self, result: Result<(), String>) {
        if let Some(on_end) = self.on_end.take() {
            on_end(result.map(|()| std::mem::take(&mut self.seen).freeze()));
        }
    }
}

impl Body for Tee {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    self.seen.extend_from_slice(data);
                }
                if self.inner.is_end_stream() {
                    self.finish(Ok(()));
                }
            }
            Poll::Ready(Some(Err(e))) => {
                let e = e.to_string();
                self.finish(Err(e));
            }
            Poll::Ready(None) => self.finish(Ok(())),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for Tee {
    fn drop(&mut self) {
        self.finish(Err("the body was not read to its end".into()));
    }
}

/// Why a call got no answer; hyper then closes dockerd's connection.
#[derive(Debug)]
struct NoAnswer(String);

impl fmt::Display for NoAnswer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for NoAnswer {}

/// The proxy side of one connection from dockerd: its own upstream
/// connection, opened at the first call and again after the plugin closed it.
struct Connection {
    upstream: Arc<Upstream>,
    recorder: Arc<Recorder>,
    sender: tokio::sync::Mutex<Option<SendRequest<Tee>>>,
}

impl Connection {
    async fn forward(&self, req: Request<Incoming>) -> Result<Response<Tee>, NoAnswer> {
        let started = SystemTime::now();
        let t0 = Instant::now();
        let step = self.recorder.refresh();
        let method = req.uri().path().trim_start_matches('/').to_owned();
        let http_method = (req.method() != http::Method::POST).then(|| req.method().to_string());
        let mut record = CallRecord {
            step,
            method,
            http_method,
            started,
            elapsed: Duration::ZERO,
            request: Bytes::new(),
            response: None,
            status: None,
            error: None,
        };
        let (parts, body) = req.into_parts();
        let (body, mut request_seen) = Tee::with_channel(body);
        let mut sender = self.sender.lock().await;
        let usable = match sender.as_mut() {
            Some(s) => s.ready().await.is_ok(),
            None => false,
        };
        if !usable {
            match self.upstream.connect().await {
                Ok(s) => *sender = Some(s),
                Err(e) => {
                    *sender = None;
                    // Read the request anyway: the recording shows what was asked.
                    let request = body.collect().await.map(|b| b.to_bytes());
                    record.request = request.unwrap_or_default();
                    let message = format!("upstream {} is down: {e}", self.upstream);
                    eprintln!(
                        "drydock record: {message}; {} gets no answer (dockerd sees a dead plugin)",
                        record.method
                    );
                    return Err(self.fail(record, t0, message));
                }
            }
        }
        let s = sender.as_mut().expect("connected above");
        let upstream_req = Request::from_parts(parts, body);
        let response = s.send_request(upstream_req).await;
        drop(sender);
        let response = match response {
            Ok(r) => r,
            Err(e) => {
                if let Ok(Ok(b)) = request_seen.await {
                    record.request = b;
                }
                let message = format!("upstream {}: {e}", self.upstream);
                eprintln!(
                    "drydock record: {message}; {} gets no answer",
                    record.method
                );
                *self.sender.lock().await = None;
                return Err(self.fail(record, t0, message));
            }
        };
        record.status = Some(response.status().as_u16());
        let (parts, body) = response.into_parts();
        let recorder = self.recorder.clone();
        // The call ends with the last byte of the answer.
        let body = Tee::new(
            body,
            Box::new(move |response| {
                record.elapsed = t0.elapsed();
                // The plugin answered, so it had the whole request: the
                // request's copy is complete by now.
                match request_seen.try_recv() {
                    Ok(Ok(b)) => record.request = b,
                    Ok(Err(e)) => record.error = Some(format!("request body: {e}")),
                    Err(_) => record.error = Some("request body: not read to its end".into()),
                }
                match response {
                    Ok(b) => record.response = Some(b),
                    Err(e) => record.error = Some(format!("response body: {e}")),
                }
                recorder.record_call(record);
            }),
        );
        Ok(Response::from_parts(parts, body))
    }

    fn fail(&self, mut record: CallRecord, t0: Instant, message: String) -> NoAnswer {
        record.elapsed = t0.elapsed();
        record.error = Some(message.clone());
        self.recorder.record_call(record);
        NoAnswer(message)
    }
}

/// How often the commands file is read when no call arrives.
const COMMANDS_LOOK: Duration = Duration::from_millis(200);

/// Accepts dockerd's connections on `listener` and forwards their calls to
/// `upstream` until `shutdown` resolves. Calls in flight then get up to one
/// second to finish; idle keep-alive connections are closed.
pub async fn serve(
    listener: UnixListener,
    upstream: Upstream,
    recorder: Arc<Recorder>,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let upstream = Arc::new(upstream);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    // Commands that cause no call are written soon anyway, so the file reads
    // well while it grows and a killed recorder loses none of them.
    let mut look = tokio::time::interval(COMMANDS_LOOK);
    look.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            _ = look.tick() => {
                recorder.refresh();
            }
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((s, _)) => s,
                    Err(e) => {
                        tracing::warn!("accept: {e}");
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    }
                };
                let conn = Arc::new(Connection {
                    upstream: upstream.clone(),
                    recorder: recorder.clone(),
                    sender: tokio::sync::Mutex::new(None),
                });
                let service = hyper::service::service_fn(move |req| {
                    let conn = conn.clone();
                    async move { conn.forward(req).await }
                });
                let served = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service);
                let served = graceful.watch(served);
                tokio::spawn(async move {
                    if let Err(e) = served.await {
                        tracing::debug!("connection from dockerd ended: {e}");
                    }
                });
            }
        }
    }
    // Commands appended after the last call still get their step lines.
    recorder.refresh();
    let _ = tokio::time::timeout(Duration::from_secs(1), graceful.shutdown()).await;
}

/// Binds the proxy's socket at `path`. A socket file nobody answers on (left
/// by a killed process) is replaced; a live one is an error, since dockerd
/// would then reach one of two plugins by chance.
pub async fn bind(path: &Path) -> anyhow::Result<UnixListener> {
    use std::os::unix::fs::FileTypeExt;
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if !meta.file_type().is_socket() {
            anyhow::bail!(
                "{} exists and is not a socket; not replacing it",
                path.display()
            );
        }
        if UnixStream::connect(path).await.is_ok() {
            anyhow::bail!(
                "something already answers on {} (the plugin itself? run it elsewhere and pass that address as --upstream)",
                path.display()
            );
        }
        std::fs::remove_file(path)?;
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    UnixListener::bind(path)
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_addresses_are_read_as_spec_files_write_them() {
        let unix = |p: &str| Upstream::Unix(PathBuf::from(p));
        let tcp = |a: &str| Upstream::Tcp(a.to_owned());
        assert_eq!(Upstream::parse("/run/p.sock").unwrap(), unix("/run/p.sock"));
        assert_eq!(
            Upstream::parse("unix:///run/p.sock").unwrap(),
            unix("/run/p.sock")
        );
        assert_eq!(
            Upstream::parse("tcp://127.0.0.1:8080").unwrap(),
            tcp("127.0.0.1:8080")
        );
        assert_eq!(
            Upstream::parse("http://localhost:80/").unwrap(),
            tcp("localhost:80")
        );
        let relative = Upstream::parse("p.sock").unwrap();
        assert!(matches!(relative, Upstream::Unix(p) if p.is_absolute()));
        for bad in ["https://h:1", "tcp://h", "unix://", "tcp://h:1/path"] {
            assert!(Upstream::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(unix("/a.sock").to_string(), "unix:///a.sock");
    }
}
