//! How the engine reaches a plugin: over HTTP (unix, TCP, TLS) or in-process.
//!
//! A [`Transport`] performs one request/response exchange and nothing else: no
//! retries, no status interpretation (that is [`crate::plugins::client`]'s job). The HTTP
//! transport sends exactly the bytes dockerd 20.10 (Go 1.19's `net/http`) sends:
//! `POST /<Method>`, headers `Host` (empty on unix sockets), `User-Agent:
//! Go-http-client/1.1`, `Content-Length`, `Accept`, and on non-unix transports
//! `Accept-Encoding: gzip`; it keeps up to two idle keep-alive connections per
//! plugin, as Go's default transport does.

use crate::plugins::discovery::{go_io_error, url_scheme, Discovered, TlsOptions};
use bytes::Bytes;
use drydock_sdk::wire::plugin::ACCEPT;
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, SizeHint};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use std::future::Future;
use std::io::Read;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::rustls;

/// A boxed, sendable future.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A plugin's raw answer: status and body, uninterpreted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawReply {
    /// HTTP status code.
    pub status: u16,
    /// The (decompressed) body.
    pub body: Bytes,
}

/// A failed exchange: no HTTP response was received.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct TransportError {
    /// What went wrong, in the words Go's `net/http` would use (`dial unix …:
    /// connect: connection refused`, `EOF`, …).
    pub message: String,
    /// Whether the request body had been handed to the connection before it
    /// failed. dockerd retries such requests with an **empty** body (§3.4).
    pub body_sent: bool,
}

/// One plugin's request path.
pub trait Transport: Send + Sync + std::fmt::Debug {
    /// Sends `POST /<method>` with `body` and returns the reply.
    fn round_trip<'a>(
        &'a self,
        method: &'a str,
        body: Bytes,
    ) -> BoxFuture<'a, Result<RawReply, TransportError>>;

    /// The URL Go would print for `method` in errors (`http://%2Frun%2F…sock/M`).
    fn url(&self, method: &str) -> String;

    /// A short description for listings (`unix`, `tcp`, `https`, `in-process`).
    fn kind(&self) -> &'static str;
}

/// Calls a [`drydock_sdk::Plugin`] directly: the full JSON request/response path
/// of the SDK without HTTP or sockets.
#[derive(Debug, Clone)]
pub struct InProcess {
    plugin: drydock_sdk::Plugin,
    name: String,
}

impl InProcess {
    /// Wraps `plugin`, known to the engine as `name`.
    pub fn new(name: impl Into<String>, plugin: drydock_sdk::Plugin) -> Self {
        InProcess {
            plugin,
            name: name.into(),
        }
    }
}

impl Transport for InProcess {
    fn round_trip<'a>(
        &'a self,
        method: &'a str,
        body: Bytes,
    ) -> BoxFuture<'a, Result<RawReply, TransportError>> {
        Box::pin(async move {
            let mut path = String::with_capacity(method.len() + 1);
            path.push('/');
            path.push_str(method);
            let reply = self.plugin.handle(&path, body).await;
            Ok(RawReply {
                status: reply.status.as_u16(),
                body: reply.body,
            })
        })
    }

    fn url(&self, method: &str) -> String {
        format!("inprocess://{}/{method}", self.name)
    }

    fn kind(&self) -> &'static str {
        "in-process"
    }
}

/// Where an HTTP transport connects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A unix socket path.
    Unix(PathBuf),
    /// `host:port`.
    Tcp(String),
}

/// Errors turning a discovered address into a transport.
#[derive(Debug, thiserror::Error)]
pub enum AddressError {
    /// The address has no usable scheme.
    #[error("Unknown protocol")]
    UnknownProtocol,
    /// A unix socket path longer than `sun_path`.
    #[error("Unix socket path {0:?} is too long")]
    PathTooLong(String),
    /// TLS files could not be loaded.
    #[error("{0}")]
    Tls(String),
}

/// HTTP/1.1 to a plugin over a unix socket or TCP, optionally TLS.
pub struct Http {
    target: Target,
    /// `Some` only for `https://` addresses: dockerd speaks TLS for no other scheme.
    tls: Option<(
        tokio_rustls::TlsConnector,
        rustls::pki_types::ServerName<'static>,
    )>,
    scheme: &'static str,
    host_header: String,
    accept_gzip: bool,
    /// Idle keep-alive connections, at most [`MAX_IDLE`].
    idle: Mutex<Vec<SendRequest<TrackedBody>>>,
}

/// Go's `DefaultMaxIdleConnsPerHost`.
const MAX_IDLE: usize = 2;

impl std::fmt::Debug for Http {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Http")
            .field("target", &self.target)
            .field("scheme", &self.scheme)
            .finish()
    }
}

impl Http {
    /// Builds the transport dockerd would use for a discovered plugin
    /// (`pkg/plugins` `newTransport`): the URL host is the dial target, or the
    /// path when the host is empty (`unix:///run/x.sock`); only `https` speaks TLS.
    pub fn for_plugin(found: &Discovered) -> Result<Http, AddressError> {
        Http::new(&found.addr, found.tls.as_ref())
    }

    /// Builds a transport for `addr` with dockerd's rules.
    pub fn new(addr: &str, tls: Option<&TlsOptions>) -> Result<Http, AddressError> {
        let scheme = url_scheme(addr).ok_or(AddressError::UnknownProtocol)?;
        let rest = &addr[scheme.len() + 1..];
        let (host, path) = match rest.strip_prefix("//") {
            Some(authority_and_path) => match authority_and_path.find('/') {
                Some(i) => (&authority_and_path[..i], &authority_and_path[i..]),
                None => (authority_and_path, ""),
            },
            None => ("", rest),
        };
        let socket = if host.is_empty() { path } else { host };
        let is_unix = scheme == "unix";
        let target = if is_unix {
            if socket.len() >= 108 {
                return Err(AddressError::PathTooLong(socket.to_owned()));
            }
            Target::Unix(PathBuf::from(socket))
        } else {
            Target::Tcp(socket.to_owned())
        };
        let https = scheme == "https";
        let tls = if https {
            let config = client_tls_config(tls)?;
            let server = socket.rsplit_once(':').map(|(h, _)| h).unwrap_or(socket);
            let server = server.trim_start_matches('[').trim_end_matches(']');
            let name = rustls::pki_types::ServerName::try_from(server.to_owned())
                .map_err(|e| AddressError::Tls(format!("bad server name {server:?}: {e}")))?;
            Some((tokio_rustls::TlsConnector::from(Arc::new(config)), name))
        } else {
            None
        };
        Ok(Http {
            // Go 1.19 strips the socket path from the Host of unix requests: `Host: `.
            host_header: if is_unix {
                String::new()
            } else {
                socket.to_owned()
            },
            accept_gzip: !is_unix,
            scheme: if https { "https" } else { "http" },
            target,
            tls,
            idle: Mutex::new(Vec::new()),
        })
    }

    /// Where this transport connects.
    pub fn target(&self) -> &Target {
        &self.target
    }

    fn dial_error(&self, e: &std::io::Error) -> TransportError {
        let message = match &self.target {
            Target::Unix(p) => format!("dial unix {}: connect: {}", p.display(), go_io_error(e)),
            Target::Tcp(a) => format!("dial tcp {a}: connect: {}", go_io_error(e)),
        };
        TransportError {
            message,
            body_sent: false,
        }
    }

    async fn connect(&self) -> Result<SendRequest<TrackedBody>, TransportError> {
        match &self.target {
            Target::Unix(path) => {
                let stream = tokio::net::UnixStream::connect(path)
                    .await
                    .map_err(|e| self.dial_error(&e))?;
                self.handshake(stream).await
            }
            Target::Tcp(addr) => {
                let stream = tokio::net::TcpStream::connect(addr.as_str())
                    .await
                    .map_err(|e| self.dial_error(&e))?;
                let _ = stream.set_nodelay(true);
                match &self.tls {
                    Some((connector, name)) => {
                        let tls = connector.connect(name.clone(), stream).await.map_err(|e| {
                            TransportError {
                                message: format!("tls: {e}"),
                                body_sent: false,
                            }
                        })?;
                        self.handshake(tls).await
                    }
                    None => self.handshake(stream).await,
                }
            }
        }
    }

    async fn handshake<S>(&self, stream: S) -> Result<SendRequest<TrackedBody>, TransportError>
    where
        S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        let (sender, conn) = http1::Builder::new()
            .title_case_headers(true)
            .handshake(TokioIo::new(stream))
            .await
            .map_err(|e| TransportError {
                message: e.to_string(),
                body_sent: false,
            })?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(sender)
    }

    fn request(&self, method: &str, body: TrackedBody, len: usize) -> http::Request<TrackedBody> {
        let mut builder = http::Request::post(format!("/{method}"))
            .header(http::header::HOST, self.host_header.as_str())
            .header(http::header::USER_AGENT, "Go-http-client/1.1")
            .header(http::header::CONTENT_LENGTH, len)
            .header(http::header::ACCEPT, ACCEPT);
        if self.accept_gzip {
            builder = builder.header(http::header::ACCEPT_ENCODING, "gzip");
        }
        builder.body(body).expect("static request parts are valid")
    }

    fn take_idle(&self) -> Option<SendRequest<TrackedBody>> {
        let mut idle = self.idle.lock().expect("idle pool lock");
        while let Some(sender) = idle.pop() {
            if sender.is_ready() {
                return Some(sender);
            }
        }
        None
    }

    fn put_idle(&self, sender: SendRequest<TrackedBody>) {
        let mut idle = self.idle.lock().expect("idle pool lock");
        if idle.len() < MAX_IDLE && !sender.is_closed() {
            idle.push(sender);
        }
    }

    async fn exchange(&self, method: &str, body: Bytes) -> Result<RawReply, TransportError> {
        let sent = Arc::new(AtomicBool::new(false));
        let len = body.len();
        let mut reused = self.take_idle();
        loop {
            let was_reused = reused.is_some();
            let mut sender = match reused.take() {
                Some(s) => s,
                None => self.connect().await?,
            };
            let req = self.request(method, TrackedBody::new(body.clone(), sent.clone()), len);
            let response = match sender.try_send_request(req).await {
                Ok(r) => r,
                Err(mut e) => {
                    let unsent = e.take_message().is_some();
                    // Go's transport silently retries a request on a fresh
                    // connection when a reused idle one turned out dead before
                    // anything was written.
                    if was_reused && unsent && !sent.load(Ordering::SeqCst) {
                        continue;
                    }
                    return Err(TransportError {
                        message: hyper_error_text(e.error()),
                        body_sent: sent.load(Ordering::SeqCst) && len > 0,
                    });
                }
            };
            let status = response.status().as_u16();
            let gzip = response
                .headers()
                .get(http::header::CONTENT_ENCODING)
                .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"gzip"));
            let collected = response
                .into_body()
                .collect()
                .await
                .map_err(|e| TransportError {
                    message: hyper_error_text(&e),
                    body_sent: len > 0,
                })?;
            // A copy: the body is a slice of the connection's read buffer,
            // which a kept reply (a run's report, a trace) would otherwise
            // keep alive whole, kilobytes per call.
            let mut bytes = Bytes::copy_from_slice(&collected.to_bytes());
            if gzip && self.accept_gzip {
                let mut out = Vec::new();
                flate2::read::GzDecoder::new(&bytes[..])
                    .read_to_end(&mut out)
                    .map_err(|e| TransportError {
                        message: format!("gzip: {e}"),
                        body_sent: len > 0,
                    })?;
                bytes = Bytes::from(out);
            }
            self.put_idle(sender);
            return Ok(RawReply {
                status,
                body: bytes,
            });
        }
    }
}

/// Go prints a connection closed before the response as `EOF`.
fn hyper_error_text(e: &hyper::Error) -> String {
    if e.is_incomplete_message() || e.is_closed() || e.is_canceled() {
        "EOF".to_owned()
    } else {
        let mut text = e.to_string();
        let mut source = std::error::Error::source(e);
        while let Some(s) = source {
            if let Some(io) = s.downcast_ref::<std::io::Error>() {
                text = go_io_error(io);
                break;
            }
            source = s.source();
        }
        text
    }
}

impl Transport for Http {
    fn round_trip<'a>(
        &'a self,
        method: &'a str,
        body: Bytes,
    ) -> BoxFuture<'a, Result<RawReply, TransportError>> {
        Box::pin(self.exchange(method, body))
    }

    fn url(&self, method: &str) -> String {
        let host = match &self.target {
            Target::Unix(p) => escape_host(&p.to_string_lossy()),
            Target::Tcp(a) => a.clone(),
        };
        format!("{}://{host}/{method}", self.scheme)
    }

    fn kind(&self) -> &'static str {
        match (&self.target, self.tls.is_some()) {
            (Target::Unix(_), _) => "unix",
            (Target::Tcp(_), true) => "https",
            (Target::Tcp(_), false) => "tcp",
        }
    }
}

/// Go's `url.URL.String` escaping of a host: `/` becomes `%2F`, etc.
fn escape_host(host: &str) -> String {
    let mut out = String::with_capacity(host.len() + 16);
    for b in host.bytes() {
        let keep = b.is_ascii_alphanumeric() || b"-_.~!$&'()*+,;=:[]<>\"".contains(&b);
        if keep {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A request body that notes when its bytes were handed to the connection.
pub struct TrackedBody {
    data: Option<Bytes>,
    sent: Arc<AtomicBool>,
}

impl TrackedBody {
    fn new(data: Bytes, sent: Arc<AtomicBool>) -> Self {
        TrackedBody {
            data: (!data.is_empty()).then_some(data),
            sent,
        }
    }
}

impl Body for TrackedBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        match self.data.take() {
            Some(data) => {
                self.sent.store(true, Ordering::SeqCst);
                Poll::Ready(Some(Ok(Frame::data(data))))
            }
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.data.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.data.as_ref().map_or(0, |d| d.len() as u64))
    }
}

fn client_tls_config(opts: Option<&TlsOptions>) -> Result<rustls::ClientConfig, AddressError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| AddressError::Tls(e.to_string()))?;
    let tls_err = |what: &str, p: &PathBuf, e: &dyn std::fmt::Display| {
        AddressError::Tls(format!("{what} {}: {e}", p.display()))
    };
    let builder = match opts {
        Some(o) if o.insecure_skip_verify => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(SkipVerify(provider))),
        Some(TlsOptions {
            ca_file: Some(ca), ..
        }) => {
            let mut roots = rustls::RootCertStore::empty();
            let pem =
                std::fs::read(ca).map_err(|e| tls_err("could not read CA certificate", ca, &e))?;
            for cert in rustls_pemfile::certs(&mut &pem[..]) {
                let cert = cert.map_err(|e| tls_err("bad CA certificate", ca, &e))?;
                roots
                    .add(cert)
                    .map_err(|e| tls_err("bad CA certificate", ca, &e))?;
            }
            builder.with_root_certificates(roots)
        }
        _ => {
            let mut roots = rustls::RootCertStore::empty();
            for cert in rustls_native_certs::load_native_certs().certs {
                let _ = roots.add(cert);
            }
            builder.with_root_certificates(roots)
        }
    };
    match opts {
        Some(TlsOptions {
            cert_file: Some(cert),
            key_file: Some(key),
            ..
        }) => {
            let cert_pem = std::fs::read(cert)
                .map_err(|e| tls_err("could not load X509 key pair", cert, &e))?;
            let certs = rustls_pemfile::certs(&mut &cert_pem[..])
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| tls_err("bad certificate", cert, &e))?;
            let key_pem =
                std::fs::read(key).map_err(|e| tls_err("could not load X509 key pair", key, &e))?;
            let key_der = rustls_pemfile::private_key(&mut &key_pem[..])
                .map_err(|e| tls_err("bad key", key, &e))?
                .ok_or_else(|| AddressError::Tls(format!("no private key in {}", key.display())))?;
            builder
                .with_client_auth_cert(certs, key_der)
                .map_err(|e| AddressError::Tls(e.to_string()))
        }
        _ => Ok(builder.with_no_client_auth()),
    }
}

/// `InsecureSkipVerify: true`: accept any server certificate, still checking
/// handshake signatures so the session is at least encrypted to someone.
#[derive(Debug)]
struct SkipVerify(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for SkipVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_mapping_follows_dockerd() {
        let t = Http::new("unix:///run/docker/plugins/v.sock", None).unwrap();
        assert_eq!(
            t.target(),
            &Target::Unix("/run/docker/plugins/v.sock".into())
        );
        assert_eq!(
            t.url("VolumeDriver.Get"),
            "http://%2Frun%2Fdocker%2Fplugins%2Fv.sock/VolumeDriver.Get"
        );
        // Two slashes: the "host" is the socket, a relative path named `run`.
        let t = Http::new("unix://run/x.sock", None).unwrap();
        assert_eq!(t.target(), &Target::Unix("run".into()));
        // URL paths are ignored; tcp and http both speak plain HTTP.
        let t = Http::new("http://127.0.0.1:8080/some/prefix", None).unwrap();
        assert_eq!(t.target(), &Target::Tcp("127.0.0.1:8080".into()));
        assert_eq!(
            t.url("VolumeDriver.List"),
            "http://127.0.0.1:8080/VolumeDriver.List"
        );
        let t = Http::new("tcp://127.0.0.1:9", None).unwrap();
        assert_eq!(t.kind(), "tcp");
        let skip = TlsOptions {
            insecure_skip_verify: true,
            ..Default::default()
        };
        // TLS settings on tcp:// are ignored; only https speaks TLS.
        assert_eq!(
            Http::new("tcp://127.0.0.1:9", Some(&skip)).unwrap().kind(),
            "tcp"
        );
        assert_eq!(
            Http::new("https://127.0.0.1:9", Some(&skip))
                .unwrap()
                .kind(),
            "https"
        );
        assert!(matches!(
            Http::new("localhost", None),
            Err(AddressError::UnknownProtocol)
        ));
        let long = format!("unix:///{}", "a".repeat(120));
        assert!(matches!(
            Http::new(&long, None),
            Err(AddressError::PathTooLong(_))
        ));
    }
}
