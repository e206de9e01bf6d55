//! Serving a [`Plugin`] over HTTP/1.1: unix sockets, TCP, TLS, or any listener.
//!
//! # Layout
//! * [`serve`] — the core: an accept loop over any [`Listener`] the caller bound,
//!   one task per connection, graceful shutdown when the `shutdown` future resolves.
//! * [`serve_unix`], [`serve_tcp`], [`serve_tls`] — the three ways dockerd finds a
//!   v1 plugin (protocol.md §1): a socket in `/run/docker/plugins`, a `.spec` file
//!   with `tcp://HOST:PORT`, or a `.json` file with an `https://` address. Each
//!   binds, advertises, serves, and cleans up what it created on shutdown.
//! * [`ServeConfig`] — the knobs (body limit, shutdown grace period, socket mode);
//!   the free functions use [`ServeConfig::default`].
//! * [`shutdown_signal`] — the shutdown future for plugin binaries: SIGTERM
//!   or SIGINT, with a guaranteed exit (see below).
//!
//! # Shutdown, and handlers that block
//! When the shutdown future resolves, the server closes its listener (new
//! clients are refused), drops connections with no call running, and waits
//! for the calls that are running, up to [`ServeConfig::shutdown_timeout`]
//! (30 s by default). What happens to a call still running then depends on
//! the shutdown future:
//!
//! * **[`shutdown_signal`]** (what a plugin binary should use): SIGTERM and
//!   SIGINT are watched by a dedicated OS thread, not by the tokio runtime.
//!   If, once the timeout (plus half a second for the server to finish by
//!   itself) has passed, a server of the process is still serving or one of
//!   its calls is still running, that thread logs every abandoned call (its
//!   method and how long it had run), removes the socket and spec files the
//!   servers created, and ends the process with status [`EXIT_ABANDONED`]
//!   (124, as `timeout(1)` uses). This holds even when the handlers occupy
//!   every worker thread of the runtime — spinning on the CPU or blocked in a
//!   system call — when no tokio timer or task can run any more. A clean
//!   shutdown returns from the serving function as usual. (While every
//!   worker is blocked the server cannot close its listener either: new
//!   connections wait in the socket's backlog until the process exits.)
//! * **any other future** (tests, a plugin embedded in a larger program): the
//!   library never ends the process. After the timeout the serving function
//!   logs the abandoned calls, removes its socket or spec file and returns;
//!   the calls' tasks are left running. This path *is* a tokio timer: if
//!   handlers block every worker thread, it cannot fire and the serving
//!   function does not return. Note too that dropping a runtime waits for its
//!   worker threads, so a runtime with a blocked worker cannot be dropped —
//!   use [`tokio::runtime::Runtime::shutdown_timeout`], or the signal path.
//!
//! **Handlers must not block.** A handler is a future polled on a runtime
//! worker thread; while it runs synchronous code, that worker serves no other
//! call. Put blocking work (a `mount(2)`, file system calls on a network
//! file system, a lock held across slow I/O, heavy computation) on tokio's
//! blocking pool, and give it a bound of its own if it can hang:
//!
//! ```no_run
//! # fn mount_it(name: &str) -> std::io::Result<String> { Ok(name.into()) }
//! # async fn demo(name: String) -> Result<String, drydock_sdk::PluginError> {
//! use drydock_sdk::PluginError;
//! use std::time::Duration;
//! let mount = tokio::task::spawn_blocking(move || mount_it(&name));
//! match tokio::time::timeout(Duration::from_secs(20), mount).await {
//!     Ok(Ok(Ok(path))) => Ok(path),
//!     Ok(Ok(Err(e))) => Err(PluginError::new(format!("mount failed: {e}"))),
//!     Ok(Err(panicked)) => Err(PluginError::new(format!("mount panicked: {panicked}"))),
//!     // The blocking thread keeps running; the call is answered anyway.
//!     Err(_) => Err(PluginError::new("mount timed out after 20 s")),
//! }
//! # }
//! ```
//!
//! A handler that blocks anyway still cannot keep a SIGTERM'd plugin alive
//! past the bound above, but every other call waits behind it until then.
//!
//! # What dockerd needs from the HTTP layer (protocol.md §3, §11)
//! * persistent HTTP/1.1 connections: dockerd's Go client reuses one connection
//!   for many calls and never times it out, so neither do we;
//! * an empty `Host:` header (dockerd 20.10 over unix sockets) is fine;
//! * every answer has a JSON body, even errors; a body that is too large or
//!   unreadable gets a 400 `{"Err": …}` and the connection stays usable;
//! * a panicking handler becomes a 500 `{"Err": "… panicked …"}` instead of a
//!   dropped connection, because a dropped connection makes dockerd *retry the call
//!   with an empty body* (protocol.md §3.4).

use crate::wire::encode_go;
use crate::wire::plugin::{ErrorBody, JsonSpec, SpecTls, CONTENT_TYPE};
use crate::{Plugin, Reply};
use bytes::{Bytes, BytesMut};
use futures_util::FutureExt;
use http::header::{HeaderValue, CONTENT_TYPE as CONTENT_TYPE_HEADER};
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::{Body, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use std::convert::Infallible;
use std::future::{Future, Ready};
use std::io;
use std::net::SocketAddr;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};
use tokio_rustls::rustls;
use tokio_rustls::TlsAcceptor;
use watchdog::{Identity, RemoveOnDrop, Tracked};

mod watchdog;

/// The exit status of a plugin process that [`shutdown_signal`]'s thread
/// ended because calls were still running after the shutdown timeout: 124,
/// the status `timeout(1)` reports for a command that ran out of time.
/// (A clean shutdown returns from the serving function instead; a plugin
/// binary then usually exits 0.)
pub const EXIT_ABANDONED: i32 = 124;

/// How long a client may take over the TLS handshake. dockerd's own dial
/// timeout is 32 s, but a real handshake on a local network takes milliseconds.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// At shutdown, how long connections get to send the answers of calls that
/// just finished before those still open are dropped.
const ANSWER_GRACE: Duration = Duration::from_millis(200);

/// How a server behaves. The free functions ([`serve`], [`serve_unix`], …) use
/// the defaults; call the same-named methods on a customised config otherwise:
///
/// ```no_run
/// # async fn run(plugin: drydock_sdk::Plugin) -> Result<(), Box<dyn std::error::Error>> {
/// use drydock_sdk::server::{shutdown_signal, ServeConfig};
/// ServeConfig::default()
///     .max_body_bytes(1 << 20)
///     .serve_unix(plugin, "/run/docker/plugins/mine.sock", shutdown_signal()?)
///     .await?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// Largest request body accepted. dockerd's bodies are tiny (an authz
    /// request carries at most 1 MiB of client body, base64-encoded), so a
    /// bound protects the plugin without ever refusing a real call.
    max_body_bytes: u64,
    /// How long graceful shutdown waits for in-flight calls; `None` waits for
    /// ever. A bound matters because one hung handler would otherwise keep
    /// the process (and its socket file) alive after SIGTERM (see the module
    /// documentation for what happens at the bound).
    shutdown_timeout: Option<Duration>,
    /// Permission bits of a unix socket. 0660: dockerd runs as root, and the
    /// group lets an operator grant a non-root test client access.
    socket_mode: u32,
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            max_body_bytes: 8 * 1024 * 1024,
            shutdown_timeout: Some(Duration::from_secs(30)),
            socket_mode: 0o660,
        }
    }
}

impl ServeConfig {
    /// Sets the largest accepted request body (default 8 MiB). Larger bodies
    /// are answered with 400 and discarded without being buffered.
    pub fn max_body_bytes(mut self, bytes: u64) -> Self {
        self.max_body_bytes = bytes;
        self
    }

    /// Sets how long shutdown waits for in-flight calls (default 30 s; `None`
    /// waits as long as it takes).
    ///
    /// After that, calls still running are abandoned and logged: with
    /// [`shutdown_signal`] the process exits with [`EXIT_ABANDONED`] even if
    /// the handlers block every worker thread; with any other shutdown future
    /// the serving function returns (see the [module documentation](self)).
    pub fn shutdown_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.shutdown_timeout = timeout;
        self
    }

    /// Sets the permission bits of sockets made by [`ServeConfig::serve_unix`] (default `0o660`).
    pub fn socket_mode(mut self, mode: u32) -> Self {
        self.socket_mode = mode;
        self
    }

    /// Serves `plugin` on connections from `listener` until `shutdown` resolves,
    /// then stops accepting and waits for in-flight calls. See [`serve`].
    pub async fn serve<L: Listener>(
        &self,
        plugin: Plugin,
        listener: L,
        shutdown: impl Future<Output = ()> + Send,
    ) {
        self.serve_as("listener", plugin, listener, shutdown).await
    }

    /// [`ServeConfig::serve`], naming the server `label` in the shutdown log.
    async fn serve_as<L: Listener>(
        &self,
        label: impl Into<String>,
        plugin: Plugin,
        mut listener: L,
        shutdown: impl Future<Output = ()> + Send,
    ) {
        let tracked = Tracked::register(label.into(), self.shutdown_timeout);
        // Marks the server stopped however this function ends (also when its
        // future is dropped), so that the signal thread stops waiting for it.
        struct Stopped<'a>(&'a Tracked);
        impl Drop for Stopped<'_> {
            fn drop(&mut self) {
                self.0.stopped();
            }
        }
        let _stopped = Stopped(&tracked);
        let shared = Arc::new(Shared {
            plugin,
            max_body_bytes: self.max_body_bytes,
            running: AtomicUsize::new(0),
            calls_done: tokio::sync::Notify::new(),
            tracked: Arc::clone(&tracked),
        });
        let graceful = GracefulShutdown::new();
        let http = http1::Builder::new();
        tokio::pin!(shutdown);
        loop {
            let handshake = tokio::select! {
                // Shutdown first: once asked to stop, take no new connection.
                biased;
                () = &mut shutdown => break,
                accepted = listener.accept() => match accepted {
                    Ok(handshake) => handshake,
                    Err(e) => {
                        accept_failed(e).await;
                        continue;
                    }
                },
            };
            let watcher = graceful.watcher();
            let shared = Arc::clone(&shared);
            let http = http.clone();
            tokio::spawn(async move {
                // The handshake (TLS) runs here, not in the accept loop, so one
                // slow client cannot hold up everybody else's connections.
                // Bounded, because a connection still handshaking counts as
                // open and would hold up graceful shutdown.
                let io = match tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake).await {
                    Ok(Ok(io)) => io,
                    Ok(Err(e)) => {
                        tracing::debug!(error = %e, "connection handshake failed");
                        return;
                    }
                    Err(_) => {
                        tracing::debug!("connection handshake timed out");
                        return;
                    }
                };
                let service = service_fn(move |req| respond(Arc::clone(&shared), req));
                let conn = http.serve_connection(TokioIo::new(io), service);
                if let Err(e) = watcher.watch(conn).await {
                    tracing::debug!(error = %e, "connection closed with an error");
                }
            });
        }
        // Close the listening socket now, so that new clients are refused
        // while the calls already running finish.
        drop(listener);
        let open = graceful.count();
        tracing::debug!(
            connections = open,
            "shutting down, finishing in-flight calls"
        );
        // Wait for every connection to close, or — sooner — for the calls
        // being handled to finish plus a moment to send their answers. A
        // client that never finishes its request (a half-sent header or body)
        // has no call running and must not keep the plugin alive.
        let drained = async {
            tokio::select! {
                () = graceful.shutdown() => {}
                () = async {
                    shared.no_call_running().await;
                    tokio::time::sleep(ANSWER_GRACE).await;
                } => {
                    tracing::debug!("closing connections with no call running");
                }
            }
        };
        match self.shutdown_timeout {
            None => drained.await,
            Some(limit) => {
                if tokio::time::timeout(limit, drained).await.is_err() {
                    for call in tracked.running() {
                        tracing::warn!(
                            server = tracked.label(),
                            method = call.method,
                            running_for = ?call.elapsed,
                            "shutdown timeout passed: abandoning a call whose handler is still running"
                        );
                    }
                    tracing::warn!(
                        timeout = ?limit,
                        "calls still running after the shutdown timeout; abandoning them"
                    );
                }
            }
        }
    }

    /// Serves `plugin` on a unix socket at `path`. See [`serve_unix`].
    pub async fn serve_unix(
        &self,
        plugin: Plugin,
        path: impl AsRef<Path>,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), ServeError> {
        let path = path.as_ref();
        let (listener, socket) = self.bind_unix(path).await?;
        tracing::info!(path = %path.display(), "serving plugin on unix socket");
        self.serve_as(path.display().to_string(), plugin, listener, shutdown)
            .await;
        drop(socket);
        Ok(())
    }

    /// Serves `plugin` over plain TCP on `addr`. See [`serve_tcp`].
    pub async fn serve_tcp(
        &self,
        plugin: Plugin,
        addr: SocketAddr,
        spec: Option<(&Path, &str)>,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), ServeError> {
        let listener = bind_tcp(addr).await?;
        let bound = local_addr(&listener)?;
        let spec_file = match spec {
            Some((dir, name)) => Some(write_spec(dir, name, "spec", format!("tcp://{bound}"))?),
            None => None,
        };
        tracing::info!(addr = %bound, "serving plugin on tcp");
        self.serve_as(format!("tcp://{bound}"), plugin, listener, shutdown)
            .await;
        drop(spec_file);
        Ok(())
    }

    /// Serves `plugin` over TLS on `addr`. See [`serve_tls`].
    pub async fn serve_tls(
        &self,
        plugin: Plugin,
        addr: SocketAddr,
        tls: &TlsSettings,
        spec: Option<(&Path, &str)>,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), ServeError> {
        let config = tls.server_config()?;
        let listener = bind_tcp(addr).await?;
        let bound = local_addr(&listener)?;
        let spec_file = match spec {
            Some((dir, name)) => {
                let mut dockerd = tls.dockerd.clone();
                // dockerd skips verification when CAFile is empty (protocol.md
                // §1.2); say so in the file instead of leaving it implicit.
                if dockerd.ca_file.is_empty() {
                    dockerd.insecure_skip_verify = true;
                }
                let json = JsonSpec {
                    addr: format!("https://{bound}"),
                    tls_config: Some(dockerd),
                };
                let text = String::from_utf8(encode_go(&json)).expect("encode_go writes UTF-8");
                Some(write_spec(dir, name, "json", text)?)
            }
            None => None,
        };
        tracing::info!(addr = %bound, "serving plugin on tls");
        let listener = TlsListener::new(listener, config);
        self.serve_as(format!("https://{bound}"), plugin, listener, shutdown)
            .await;
        drop(spec_file);
        Ok(())
    }

    /// Prepares `path` and binds a socket there; the returned guard removes it.
    async fn bind_unix(&self, path: &Path) -> Result<(UnixListener, RemoveOnDrop), ServeError> {
        let io_err = |action: &'static str| {
            move |source| ServeError::Io {
                action,
                path: path.to_owned(),
                source,
            }
        };
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(io_err("create the directory of"))?;
        }
        remove_stale_socket(path).await?;
        let listener = UnixListener::bind(path).map_err(io_err("bind"))?;
        // Mark the file as ours before anything else can fail, so that it is
        // removed on every path out of here.
        let meta = std::fs::symlink_metadata(path).map_err(io_err("inspect"))?;
        let guard = RemoveOnDrop::new(path.to_owned(), Identity::Inode(meta.dev(), meta.ino()));
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(self.socket_mode))
            .map_err(io_err("set the mode of"))?;
        Ok((listener, guard))
    }
}

/// Serves `plugin` on connections from `listener` until `shutdown` resolves.
///
/// The caller binds the listener, so tests can use port 0 or a temporary
/// socket, and production code can use systemd socket activation. On shutdown
/// the listener is closed at once; calls already running finish (up to the
/// [`ServeConfig`] timeout) and their connections are closed after the answer.
/// Connections with no call running — idle, or a request still arriving (a
/// half-sent header or body) — are dropped: they never hold up the exit.
pub async fn serve<L: Listener>(
    plugin: Plugin,
    listener: L,
    shutdown: impl Future<Output = ()> + Send,
) {
    ServeConfig::default()
        .serve(plugin, listener, shutdown)
        .await
}

/// Serves `plugin` on a unix socket at `path`, the usual place being
/// `/run/docker/plugins/NAME.sock` (dockerd names the plugin after the file).
///
/// Creates the parent directory; replaces a *stale* socket left by a crashed
/// run, but refuses to touch a path that is not a socket
/// ([`ServeError::NotASocket`]) or a socket another process is serving
/// ([`ServeError::SocketInUse`]). The socket gets mode 0660 and is removed on
/// shutdown.
pub async fn serve_unix(
    plugin: Plugin,
    path: impl AsRef<Path>,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServeError> {
    ServeConfig::default()
        .serve_unix(plugin, path, shutdown)
        .await
}

/// Serves `plugin` over plain TCP on `addr` (port 0 picks a free port).
///
/// With `spec = Some((dir, name))` it writes `dir/name.spec` containing
/// `tcp://HOST:PORT` — the address actually bound — so dockerd can find the
/// plugin (`/etc/docker/plugins` is dockerd's first spec directory). The file
/// is removed on shutdown.
pub async fn serve_tcp(
    plugin: Plugin,
    addr: SocketAddr,
    spec: Option<(&Path, &str)>,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServeError> {
    ServeConfig::default()
        .serve_tcp(plugin, addr, spec, shutdown)
        .await
}

/// Serves `plugin` over TLS on `addr`, with the certificate, key and optional
/// client CA (mutual TLS) of `tls`.
///
/// With `spec = Some((dir, name))` it writes `dir/name.json`:
/// `{"Addr":"https://HOST:PORT","TLSConfig":{…}}`, where `TLSConfig` is
/// [`TlsSettings::dockerd`]. It is removed on shutdown. (A `.spec` file would
/// not do: dockerd speaks TLS to `https://` addresses only, and never
/// verifies the certificate of a plugin found through a `.spec` file.)
pub async fn serve_tls(
    plugin: Plugin,
    addr: SocketAddr,
    tls: &TlsSettings,
    spec: Option<(&Path, &str)>,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServeError> {
    ServeConfig::default()
        .serve_tls(plugin, addr, tls, spec, shutdown)
        .await
}

/// Resolves when the process receives SIGTERM or SIGINT: the shutdown
/// future for a plugin binary, and the one that guarantees the process ends.
///
/// The signals are watched by an OS thread of their own (started by the
/// first call; later calls share it), so they are seen even when handlers
/// block every worker thread of the runtime. If a server of this process is
/// still serving, or one of its calls still running, once the longest
/// [`ServeConfig::shutdown_timeout`] plus half a second has passed since the
/// signal, that thread logs each abandoned call (method, how long it ran),
/// removes the servers' socket and spec files, and exits the process with
/// [`EXIT_ABANDONED`]. No server with a timeout of `None`: then it waits.
///
/// The handlers are installed when this is called (not when the future is
/// first polled), so a signal arriving in between is not lost. It needs no
/// runtime. With the handlers installed, SIGTERM and SIGINT no longer
/// terminate the process by themselves.
pub fn shutdown_signal() -> io::Result<impl Future<Output = ()> + Send> {
    let signalled = watchdog::install()?;
    Ok(signalled.wait())
}

/// A source of connections for [`serve`].
///
/// Implemented for tokio's [`UnixListener`] and [`TcpListener`], and for
/// [`TlsListener`]. Accepting happens in two steps so that the accept loop never
/// waits on one client: [`Listener::accept`] only takes the connection, and the
/// returned [`Listener::Handshake`] — run in the connection's own task — makes
/// it ready for HTTP (a TLS handshake, or nothing at all).
pub trait Listener: Send + 'static {
    /// The byte stream HTTP is spoken over.
    type Io: AsyncRead + AsyncWrite + Unpin + Send + 'static;
    /// Turns an accepted connection into [`Listener::Io`].
    type Handshake: Future<Output = io::Result<Self::Io>> + Send + 'static;

    /// Waits for the next connection. Must be cancel-safe: the server drops
    /// this future when shutdown begins.
    fn accept(&mut self) -> impl Future<Output = io::Result<Self::Handshake>> + Send;
}

impl Listener for UnixListener {
    type Io = UnixStream;
    type Handshake = Ready<io::Result<UnixStream>>;

    async fn accept(&mut self) -> io::Result<Self::Handshake> {
        // Fully qualified: the inherent method, not this trait method.
        let (stream, _peer) = UnixListener::accept(self).await?;
        Ok(std::future::ready(Ok(stream)))
    }
}

impl Listener for TcpListener {
    type Io = TcpStream;
    type Handshake = Ready<io::Result<TcpStream>>;

    async fn accept(&mut self) -> io::Result<Self::Handshake> {
        let (stream, _peer) = TcpListener::accept(self).await?;
        // Replies are written in one go; Nagle would only add latency.
        stream.set_nodelay(true)?;
        Ok(std::future::ready(Ok(stream)))
    }
}

/// A TCP listener whose connections speak TLS: the listener [`serve_tls`] uses,
/// public so that callers who bind their own socket can serve TLS with [`serve`].
pub struct TlsListener {
    tcp: TcpListener,
    acceptor: TlsAcceptor,
}

impl TlsListener {
    /// Wraps `tcp`; every connection is handshaken with `config`
    /// (see [`TlsSettings::server_config`]).
    pub fn new(tcp: TcpListener, config: Arc<rustls::ServerConfig>) -> Self {
        TlsListener {
            tcp,
            acceptor: TlsAcceptor::from(config),
        }
    }

    /// The address the underlying TCP listener is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.tcp.local_addr()
    }
}

impl std::fmt::Debug for TlsListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsListener")
            .field("tcp", &self.tcp)
            .finish_non_exhaustive()
    }
}

impl Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<TcpStream>;
    type Handshake = tokio_rustls::Accept<TcpStream>;

    async fn accept(&mut self) -> io::Result<Self::Handshake> {
        let (stream, _peer) = TcpListener::accept(&self.tcp).await?;
        stream.set_nodelay(true)?;
        Ok(self.acceptor.accept(stream))
    }
}

/// The files of a TLS server, and what dockerd should be told about them.
#[derive(Debug, Clone, Default)]
pub struct TlsSettings {
    /// PEM certificate chain of the server, leaf first.
    pub cert_file: PathBuf,
    /// PEM private key of the server (PKCS#8, PKCS#1 or SEC1).
    pub key_file: PathBuf,
    /// PEM CA certificates; when set, clients must present a certificate
    /// signed by one of them (mutual TLS).
    pub client_ca_file: Option<PathBuf>,
    /// dockerd's side, written as `TLSConfig` into the `.json` spec file: the
    /// CA to verify this server with, and the client certificate for mutual TLS.
    pub dockerd: SpecTls,
}

impl TlsSettings {
    /// Settings for a server with this certificate chain and key.
    pub fn new(cert_file: impl Into<PathBuf>, key_file: impl Into<PathBuf>) -> Self {
        TlsSettings {
            cert_file: cert_file.into(),
            key_file: key_file.into(),
            ..Default::default()
        }
    }

    /// Requires client certificates signed by a CA in `ca_file`.
    pub fn client_ca(mut self, ca_file: impl Into<PathBuf>) -> Self {
        self.client_ca_file = Some(ca_file.into());
        self
    }

    /// Sets what the `.json` spec file tells dockerd.
    pub fn dockerd(mut self, dockerd: SpecTls) -> Self {
        self.dockerd = dockerd;
        self
    }

    /// Loads the files into a rustls server configuration (ring provider,
    /// TLS 1.2 and 1.3, ALPN `http/1.1`).
    pub fn server_config(&self) -> Result<Arc<rustls::ServerConfig>, ServeError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let certs = read_certs(&self.cert_file)?;
        let key = read_key(&self.key_file)?;
        let builder = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(|e| tls_err("choose protocol versions", e))?;
        let builder = match &self.client_ca_file {
            None => builder.with_no_client_auth(),
            Some(ca_file) => {
                let mut roots = rustls::RootCertStore::empty();
                for cert in read_certs(ca_file)? {
                    roots
                        .add(cert)
                        .map_err(|e| tls_err("use the client CA", e))?;
                }
                let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                    Arc::new(roots),
                    provider,
                )
                .build()
                .map_err(|e| tls_err("build the client verifier", e))?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let mut config = builder
            .with_single_cert(certs, key)
            .map_err(|e| tls_err("use the certificate and key", e))?;
        // dockerd never speaks HTTP/2 to plugins; say so to ALPN clients.
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}

/// Why a server could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// A file system or socket operation failed.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// What was being done, e.g. `bind`.
        action: &'static str,
        /// The path (or address) concerned.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// The socket path exists and is not a socket; it is left alone.
    #[error("{} exists and is not a socket; refusing to replace it", .0.display())]
    NotASocket(PathBuf),
    /// Another process is serving on the socket path.
    #[error("{} is in use by another running plugin; stop it first", .0.display())]
    SocketInUse(PathBuf),
    /// The plugin name cannot be used as a spec file name.
    #[error("invalid plugin name {0:?}: it must be non-empty and contain no '/'")]
    InvalidName(String),
    /// The TLS files could not be used.
    #[error("TLS: cannot {action}: {message}")]
    Tls {
        /// What was being done.
        action: &'static str,
        /// The underlying problem.
        message: String,
    },
}

// ---------------------------------------------------------------------------
// Per-request path. Keep it lean: a criterion bench holds it to within 1.5× of
// a bare hyper server answering a fixed body.

/// What every connection task shares.
struct Shared {
    plugin: Plugin,
    max_body_bytes: u64,
    /// Calls whose request was read and whose handler has not finished.
    running: AtomicUsize,
    /// Signalled when `running` drops to zero.
    calls_done: tokio::sync::Notify,
    /// Which calls are running, and since when (for the shutdown log).
    tracked: Arc<Tracked>,
}

impl Shared {
    /// Resolves once no handler is running.
    async fn no_call_running(&self) {
        loop {
            let notified = self.calls_done.notified();
            if self.running.load(Ordering::Acquire) == 0 {
                return;
            }
            notified.await;
        }
    }
}

/// Counts and registers one running call for as long as it lives.
struct Running<'a>(&'a Shared, usize);

impl<'a> Running<'a> {
    fn start(shared: &'a Shared, uri: &http::Uri) -> Self {
        let key = shared.tracked.call_started(uri);
        shared.running.fetch_add(1, Ordering::AcqRel);
        Running(shared, key)
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.tracked.call_ended(self.1);
        if self.0.running.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.calls_done.notify_waiters();
        }
    }
}

/// Answers one HTTP request. Never fails: every problem becomes a JSON reply.
async fn respond(
    shared: Arc<Shared>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    // Timing costs two clock reads; skip them unless someone listens.
    let started = tracing::enabled!(tracing::Level::DEBUG).then(Instant::now);
    let (parts, body) = req.into_parts();
    let path = parts.uri.path();
    let reply = match read_body(body, shared.max_body_bytes).await {
        Ok(body) => {
            let _running = Running::start(&shared, &parts.uri);
            call(&shared.plugin, path, body).await
        }
        Err(e) => error_reply(StatusCode::BAD_REQUEST, e.to_string()),
    };
    if let Some(started) = started {
        tracing::debug!(
            method = path.trim_start_matches('/'),
            status = reply.status.as_u16(),
            micros = started.elapsed().as_micros() as u64,
            "plugin call"
        );
    }
    let mut response = Response::new(Full::new(reply.body));
    *response.status_mut() = reply.status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE_HEADER, HeaderValue::from_static(CONTENT_TYPE));
    Ok(response)
}

/// Runs the plugin's handler, turning a panic into a 500.
///
/// `catch_unwind` on the future itself (rather than a spawned task) keeps the
/// hot path free of a task spawn per request.
async fn call(plugin: &Plugin, path: &str, body: Bytes) -> Reply {
    let span = tracing::trace_span!("plugin_call", method = path.trim_start_matches('/'));
    let handled = tracing::Instrument::instrument(
        AssertUnwindSafe(plugin.handle(path, body)).catch_unwind(),
        span,
    );
    match handled.await {
        Ok(reply) => reply,
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .copied()
                .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
                .unwrap_or("a non-string payload");
            tracing::error!(method = path, panic = what, "plugin handler panicked");
            error_reply(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("plugin handler panicked: {what}"),
            )
        }
    }
}

fn error_reply(status: StatusCode, err: String) -> Reply {
    Reply {
        status,
        body: Bytes::from(encode_go(&ErrorBody { err })),
    }
}

/// Why a request body was not handed to the plugin.
#[derive(Debug, thiserror::Error)]
enum BodyError {
    #[error("request body larger than the limit of {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("cannot read request body: {0}")]
    Read(#[from] hyper::Error),
}

/// Reads the whole body, refusing more than `limit` bytes.
///
/// The usual body arrives as one chunk and is passed on without copying. An
/// oversized body is still read to its end, but discarded chunk by chunk: the
/// client has committed to sending it, and leaving it unread would force hyper
/// to close the connection — which dockerd answers by retrying the call with
/// an empty body.
async fn read_body(mut body: Incoming, limit: u64) -> Result<Bytes, BodyError> {
    let hint = body.size_hint();
    // Content-Length tells us up front (dockerd always sends it).
    if hint.lower() > limit {
        discard(body).await;
        return Err(BodyError::TooLarge { limit });
    }
    let mut first = Bytes::new();
    let mut joined: Option<BytesMut> = None;
    let mut total = 0u64;
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame?.into_data() else {
            continue; // trailers carry nothing for us
        };
        total += data.len() as u64;
        if total > limit {
            discard(body).await;
            return Err(BodyError::TooLarge { limit });
        }
        match &mut joined {
            Some(buf) => buf.extend_from_slice(&data),
            None if first.is_empty() => first = data,
            None => {
                let expected = hint.upper().unwrap_or(total).clamp(total, limit);
                let mut buf = BytesMut::with_capacity(expected as usize);
                buf.extend_from_slice(&first);
                buf.extend_from_slice(&data);
                joined = Some(buf);
            }
        }
    }
    Ok(joined.map_or(first, BytesMut::freeze))
}

/// Reads and drops the rest of a body, holding at most one chunk in memory.
async fn discard(mut body: Incoming) {
    while let Some(Ok(_)) = body.frame().await {}
}

/// Decides what to do after `accept` failed. Per-connection failures (the
/// client gave up early) are ignored; resource exhaustion (too many open
/// files) gets a short pause so the loop does not spin while it lasts.
async fn accept_failed(e: io::Error) {
    use io::ErrorKind::*;
    if matches!(
        e.kind(),
        ConnectionAborted | ConnectionReset | ConnectionRefused | Interrupted
    ) {
        tracing::debug!(error = %e, "accept: connection lost before it was taken");
    } else {
        tracing::warn!(error = %e, "accept failed; pausing before the next attempt");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

// ---------------------------------------------------------------------------
// Binding and advertising.

async fn bind_tcp(addr: SocketAddr) -> Result<TcpListener, ServeError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError::Io {
            action: "bind",
            path: PathBuf::from(addr.to_string()),
            source,
        })
}

fn local_addr(listener: &TcpListener) -> Result<SocketAddr, ServeError> {
    listener.local_addr().map_err(|source| ServeError::Io {
        action: "read the bound address of",
        path: PathBuf::from("tcp listener"),
        source,
    })
}

/// Removes a socket file nobody listens on; refuses anything else.
async fn remove_stale_socket(path: &Path) -> Result<(), ServeError> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(ServeError::Io {
                action: "inspect",
                path: path.to_owned(),
                source,
            })
        }
    };
    if !meta.file_type().is_socket() {
        return Err(ServeError::NotASocket(path.to_owned()));
    }
    // Connecting is the only reliable liveness test. A listener whose backlog
    // is full keeps us waiting: that is a live one too.
    match tokio::time::timeout(Duration::from_secs(1), UnixStream::connect(path)).await {
        Ok(Ok(_)) | Err(_) => Err(ServeError::SocketInUse(path.to_owned())),
        Ok(Err(e)) if e.kind() == io::ErrorKind::ConnectionRefused => {
            tracing::info!(path = %path.display(), "removing stale socket");
            match std::fs::remove_file(path) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
                Err(source) => Err(ServeError::Io {
                    action: "remove stale socket",
                    path: path.to_owned(),
                    source,
                }),
            }
        }
        Ok(Err(source)) => Err(ServeError::Io {
            action: "probe existing socket",
            path: path.to_owned(),
            source,
        }),
    }
}

/// Writes `dir/name.ext` atomically (dockerd must never read half a file) and
/// returns a guard that removes it again.
fn write_spec(dir: &Path, name: &str, ext: &str, text: String) -> Result<RemoveOnDrop, ServeError> {
    if name.is_empty() || name.contains('/') || name == "." || name == ".." {
        return Err(ServeError::InvalidName(name.to_owned()));
    }
    let path = dir.join(format!("{name}.{ext}"));
    // The temporary name ends in `.tmp`, an extension dockerd's scan ignores.
    let tmp = dir.join(format!(".{name}.{ext}.tmp"));
    let io_err = |action: &'static str, path: &Path| {
        let path = path.to_owned();
        move |source| ServeError::Io {
            action,
            path,
            source,
        }
    };
    std::fs::create_dir_all(dir).map_err(io_err("create the spec directory", dir))?;
    std::fs::write(&tmp, &text).map_err(io_err("write", &tmp))?;
    std::fs::rename(&tmp, &path).map_err(io_err("write", &path))?;
    tracing::info!(path = %path.display(), "wrote plugin spec");
    Ok(RemoveOnDrop::new(path, Identity::Content(text)))
}

fn read_certs(path: &Path) -> Result<Vec<rustls::pki_types::CertificateDer<'static>>, ServeError> {
    let pem = std::fs::read(path).map_err(|source| ServeError::Io {
        action: "read",
        path: path.to_owned(),
        source,
    })?;
    let certs = rustls_pemfile::certs(&mut pem.as_slice())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| tls_err("parse certificates", format!("{}: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(tls_err(
            "parse certificates",
            format!("{}: no PEM certificate found", path.display()),
        ));
    }
    Ok(certs)
}

fn read_key(path: &Path) -> Result<rustls::pki_types::PrivateKeyDer<'static>, ServeError> {
    let pem = std::fs::read(path).map_err(|source| ServeError::Io {
        action: "read",
        path: path.to_owned(),
        source,
    })?;
    rustls_pemfile::private_key(&mut pem.as_slice())
        .map_err(|e| tls_err("parse the private key", format!("{}: {e}", path.display())))?
        .ok_or_else(|| {
            tls_err(
                "parse the private key",
                format!("{}: no PEM private key found", path.display()),
            )
        })
}

fn tls_err(action: &'static str, e: impl std::fmt::Display) -> ServeError {
    ServeError::Tls {
        action,
        message: e.to_string(),
    }
}
