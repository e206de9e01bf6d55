//! `serve_tls`: TLS and mutual TLS with a throw-away CA, and the `.json` spec
//! file that tells dockerd how to reach the plugin.

use crate::util::{dockerd_request, volume_plugin, wait_until, RawConn, Running};
use drydock_sdk::server::{serve_tls, TlsSettings};
use drydock_sdk::wire::decode_go;
use drydock_sdk::wire::plugin::{JsonSpec, SpecTls};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::rustls::{self, pki_types};
use tokio_rustls::TlsConnector;

/// A CA, and its certificate and key as PEM.
struct Ca {
    cert: rcgen::Certificate,
    key: KeyPair,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        Ca { cert, key }
    }

    /// Issues a leaf certificate; returns (cert PEM, key PEM).
    fn issue(&self, common_name: &str, sans: &[&str]) -> (String, String) {
        let sans: Vec<String> = sans.iter().map(|s| s.to_string()).collect();
        let mut params = CertificateParams::new(sans).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.cert, &self.key).unwrap();
        (cert.pem(), key.serialize_pem())
    }
}

/// Files of a test PKI: a CA, a server certificate for localhost/127.0.0.1,
/// a client certificate from the same CA and one from an unrelated CA.
struct Pki {
    dir: tempfile::TempDir,
    ca: Ca,
    client: (String, String),
    stranger: (String, String),
}

impl Pki {
    fn new() -> Pki {
        let dir = tempfile::tempdir().unwrap();
        let ca = Ca::new("drydock test CA");
        let (cert, key) = ca.issue("plugin", &["localhost", "127.0.0.1"]);
        std::fs::write(dir.path().join("ca.pem"), ca.cert.pem()).unwrap();
        std::fs::write(dir.path().join("server.pem"), cert).unwrap();
        std::fs::write(dir.path().join("server-key.pem"), key).unwrap();
        let client = ca.issue("client", &[]);
        let stranger = Ca::new("someone else").issue("client", &[]);
        Pki {
            dir,
            ca,
            client,
            stranger,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn settings(&self) -> TlsSettings {
        TlsSettings::new(self.path("server.pem"), self.path("server-key.pem"))
    }

    /// A connector trusting our CA, optionally presenting a client certificate.
    fn connector(&self, client: Option<&(String, String)>) -> TlsConnector {
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(pki_types::CertificateDer::from(self.ca.cert.der().to_vec()))
            .unwrap();
        let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
        let config = match client {
            None => builder.with_no_client_auth(),
            Some((cert, key)) => {
                let certs = rustls_pemfile::certs(&mut cert.as_bytes())
                    .collect::<Result<Vec<_>, _>>()
                    .unwrap();
                let key = rustls_pemfile::private_key(&mut key.as_bytes())
                    .unwrap()
                    .unwrap();
                builder.with_client_auth_cert(certs, key).unwrap()
            }
        };
        TlsConnector::from(Arc::new(config))
    }
}

/// Starts `serve_tls` with a `.json` spec file and returns the spec.
async fn start(settings: TlsSettings, spec_dir: &Path) -> (Running, JsonSpec) {
    let (plugin, _) = volume_plugin();
    let dir = spec_dir.to_owned();
    let running = Running::spawn(move |shutdown| async move {
        let addr = "127.0.0.1:0".parse().unwrap();
        serve_tls(plugin, addr, &settings, Some((&dir, "tlsvol")), shutdown)
            .await
            .expect("serve_tls");
    });
    let spec_path = spec_dir.join("tlsvol.json");
    wait_until("the spec file exists", || spec_path.exists()).await;
    let spec = decode_go(&std::fs::read(&spec_path).unwrap()).expect("valid JSON spec");
    (running, spec)
}

fn port_of(spec: &JsonSpec) -> u16 {
    spec.addr
        .strip_prefix("https://127.0.0.1:")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("unexpected Addr {:?}", spec.addr))
}

/// Sends Activate over TLS; `None` when the server refuses the client.
async fn activate(connector: &TlsConnector, port: u16) -> Option<u16> {
    let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let name = pki_types::ServerName::try_from("localhost").unwrap();
    let mut tls = connector.connect(name, tcp).await.ok()?;
    let request = dockerd_request("/Plugin.Activate", &format!("127.0.0.1:{port}"), "");
    // With TLS 1.3 a refused client certificate only shows on the first read.
    tls.write_all(request.as_bytes()).await.ok()?;
    let mut conn = RawConn::new(tls);
    conn.read_response().await.map(|r| r.status)
}

#[tokio::test]
async fn serves_over_tls_and_advertises_a_json_spec() {
    let pki = Pki::new();
    let spec_dir = pki.path("etc-plugins");
    let dockerd = SpecTls {
        ca_file: pki.path("ca.pem").display().to_string(),
        ..SpecTls::default()
    };
    let (server, spec) = start(pki.settings().dockerd(dockerd.clone()), &spec_dir).await;
    assert_eq!(spec.tls_config, Some(dockerd));
    let port = port_of(&spec);
    // Exact bytes: field names and order as dockerd reads them.
    let text = std::fs::read_to_string(spec_dir.join("tlsvol.json")).unwrap();
    assert_eq!(
        text,
        format!(
            "{{\"Addr\":\"https://127.0.0.1:{port}\",\"TLSConfig\":{{\"CAFile\":\"{}\",\
             \"InsecureSkipVerify\":false}}}}\n",
            pki.path("ca.pem").display()
        )
    );

    assert_eq!(activate(&pki.connector(None), port).await, Some(200));
    server.stop().await;
    assert!(
        !spec_dir.join("tlsvol.json").exists(),
        "spec file left behind"
    );
}

#[tokio::test]
async fn without_a_ca_for_dockerd_the_spec_says_verification_is_skipped() {
    let pki = Pki::new();
    let spec_dir = pki.path("etc-plugins");
    let (server, spec) = start(pki.settings(), &spec_dir).await;
    // dockerd skips verification when CAFile is empty; the file says so.
    assert_eq!(
        spec.tls_config,
        Some(SpecTls {
            insecure_skip_verify: true,
            ..SpecTls::default()
        })
    );
    server.stop().await;
}

#[tokio::test]
async fn mutual_tls_admits_only_clients_certified_by_the_client_ca() {
    let pki = Pki::new();
    let settings = pki.settings().client_ca(pki.path("ca.pem"));
    let (server, spec) = start(settings, &pki.path("etc-plugins")).await;
    let port = port_of(&spec);
    assert_eq!(
        activate(&pki.connector(Some(&pki.client)), port).await,
        Some(200)
    );
    assert_eq!(activate(&pki.connector(None), port).await, None);
    assert_eq!(
        activate(&pki.connector(Some(&pki.stranger)), port).await,
        None
    );
    // A refused handshake does not disturb the server.
    assert_eq!(
        activate(&pki.connector(Some(&pki.client)), port).await,
        Some(200)
    );
    server.stop().await;
}

#[tokio::test]
async fn unusable_tls_files_are_a_clear_error() {
    let pki = Pki::new();
    std::fs::write(pki.path("empty.pem"), "").unwrap();
    let settings = TlsSettings::new(pki.path("empty.pem"), pki.path("server-key.pem"));
    let err = settings.server_config().unwrap_err().to_string();
    assert!(err.contains("no PEM certificate"), "{err}");
    let settings = TlsSettings::new(pki.path("missing.pem"), pki.path("server-key.pem"));
    let err = settings.server_config().unwrap_err().to_string();
    assert!(err.contains("missing.pem"), "{err}");
}

#[tokio::test]
async fn a_plain_http_client_on_the_tls_port_does_not_disturb_the_server() {
    let pki = Pki::new();
    let (server, spec) = start(pki.settings(), &pki.path("etc-plugins")).await;
    let port = port_of(&spec);
    let mut plain = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    plain
        .write_all(dockerd_request("/Plugin.Activate", "", "").as_bytes())
        .await
        .unwrap();
    let mut answer = Vec::new();
    let _ = plain.read_to_end(&mut answer).await;
    assert!(!answer.starts_with(b"HTTP/1.1 200"));
    assert_eq!(activate(&pki.connector(None), port).await, Some(200));
    server.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_client_that_never_handshakes_does_not_hold_up_shutdown() {
    let pki = Pki::new();
    let (server, spec) = start(pki.settings(), &pki.path("etc-plugins")).await;
    let _silent = TcpStream::connect(("127.0.0.1", port_of(&spec)))
        .await
        .unwrap();
    // Let the server accept it; the handshake then waits for a ClientHello.
    for _ in 0..100 {
        tokio::task::yield_now().await;
    }
    let started = tokio::time::Instant::now();
    server.stop().await;
    // Paused time: no call is running, so shutdown waits only the short grace
    // for answers in transit — not the handshake timeout (10 s), let alone
    // the 30 s shutdown timeout.
    let waited = started.elapsed();
    assert!(waited < Duration::from_secs(1), "{waited:?}");
}
