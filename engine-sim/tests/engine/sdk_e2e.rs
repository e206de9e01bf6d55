//! The engine talking to SDK-served plugins over every transport dockerd uses:
//! a unix socket, TCP through a `.spec` file, and TLS through a `.json` spec
//! whose `TLSConfig` names a test CA (and a client certificate for mutual TLS).

use super::util::Echo;
use drydock_engine::clock::VirtualClock;
use drydock_engine::plugins::discovery::PluginRoots;
use drydock_engine::plugins::registry::Registry;
use drydock_engine::trace::Trace;
use drydock_sdk::server::{serve_tcp, serve_tls, serve_unix, TlsSettings};
use drydock_sdk::wire::volume::*;
use drydock_sdk::{Plugin, Protocol};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
use std::path::Path;
use std::time::Duration;

fn registry(dir: &Path) -> Registry {
    Registry::new(
        PluginRoots {
            sockets_dir: dir.join("run"),
            spec_dirs: vec![dir.join("etc")],
        },
        VirtualClock::new(),
        Trace::new(),
    )
}

async fn get_through(reg: &Registry, name: &str) -> Result<String, String> {
    let h = reg
        .get(name, Protocol::VolumeDriver)
        .await
        .map_err(|e| e.to_string())?;
    let r: GetResponse = h
        .client
        .call(
            "VolumeDriver.Get",
            Some(&NameRequest { name: "v".into() }),
            Default::default(),
        )
        .await
        .map_err(|e| e.to_string())?;
    Ok(r.volume.unwrap().mountpoint)
}

async fn wait_for(path: &Path) {
    for _ in 0..500 {
        if path.exists() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("{} never appeared", path.display());
}

#[tokio::test]
async fn unix_socket_and_tcp_spec() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("run/u.sock");
    let s = sock.clone();
    tokio::spawn(async move {
        serve_unix(Plugin::new().volume(Echo), &s, std::future::pending()).await
    });
    let etc = dir.path().join("etc");
    std::fs::create_dir_all(&etc).unwrap();
    let e = etc.clone();
    tokio::spawn(async move {
        serve_tcp(
            Plugin::new().volume(Echo),
            "127.0.0.1:0".parse().unwrap(),
            Some((e.as_path(), "t")),
            std::future::pending(),
        )
        .await
    });
    wait_for(&sock).await;
    wait_for(&etc.join("t.spec")).await;
    let reg = registry(dir.path());
    assert_eq!(get_through(&reg, "u").await.unwrap(), "/m/v");
    assert_eq!(get_through(&reg, "t").await.unwrap(), "/m/v");
    let kinds: Vec<&str> = reg
        .list()
        .unwrap()
        .into_iter()
        .map(|l| l.unwrap().transport.unwrap())
        .collect();
    assert_eq!(kinds, ["unix", "tcp"]);
}

struct Pki {
    ca_pem: String,
    ca_cert: rcgen::Certificate,
    ca_key: KeyPair,
}

impl Pki {
    fn new(name: &str) -> Pki {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let ca_key = KeyPair::generate().unwrap();
        let ca_cert = params.self_signed(&ca_key).unwrap();
        Pki {
            ca_pem: ca_cert.pem(),
            ca_cert,
            ca_key,
        }
    }
    fn issue(&self, cn: &str, sans: &[&str]) -> (String, String) {
        let mut params =
            CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
        params.distinguished_name.push(DnType::CommonName, cn);
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.ca_cert, &self.ca_key).unwrap();
        (cert.pem(), key.serialize_pem())
    }
}

/// Serves over TLS on a free port and returns the `https://` address.
async fn tls_plugin(dir: &Path, pki: &Pki, client_ca: bool) -> String {
    let (cert, key) = pki.issue("plugin", &["127.0.0.1", "localhost"]);
    std::fs::write(dir.join("server.pem"), cert).unwrap();
    std::fs::write(dir.join("server-key.pem"), key).unwrap();
    std::fs::write(dir.join("ca.pem"), &pki.ca_pem).unwrap();
    let mut settings = TlsSettings::new(dir.join("server.pem"), dir.join("server-key.pem"));
    if client_ca {
        settings = settings.client_ca(dir.join("ca.pem"));
    }
    let spec_dir = dir.join("server-spec");
    std::fs::create_dir_all(&spec_dir).unwrap();
    let sd = spec_dir.clone();
    tokio::spawn(async move {
        serve_tls(
            Plugin::new().volume(Echo),
            "127.0.0.1:0".parse().unwrap(),
            &settings,
            Some((sd.as_path(), "s")),
            std::future::pending(),
        )
        .await
    });
    wait_for(&spec_dir.join("s.json")).await;
    let spec: serde_json::Value =
        serde_json::from_slice(&std::fs::read(spec_dir.join("s.json")).unwrap()).unwrap();
    spec["Addr"].as_str().unwrap().to_owned()
}

fn write_json_spec(dir: &Path, name: &str, addr: &str, tls: serde_json::Value) {
    let etc = dir.join("etc");
    std::fs::create_dir_all(&etc).unwrap();
    let spec = serde_json::json!({"Addr": addr, "TLSConfig": tls});
    std::fs::write(etc.join(format!("{name}.json")), spec.to_string()).unwrap();
}

#[tokio::test]
async fn tls_verifies_against_the_spec_ca() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new("drydock test CA");
    let addr = tls_plugin(dir.path(), &pki, false).await;
    assert!(addr.starts_with("https://127.0.0.1:"), "{addr}");
    let ca = dir.path().join("ca.pem").display().to_string();
    write_json_spec(dir.path(), "good", &addr, serde_json::json!({"CAFile": ca}));
    // A CA that did not sign the plugin's certificate: the handshake fails.
    let other = Pki::new("another CA");
    std::fs::write(dir.path().join("other-ca.pem"), &other.ca_pem).unwrap();
    let other_ca = dir.path().join("other-ca.pem").display().to_string();
    write_json_spec(
        dir.path(),
        "wrongca",
        &addr,
        serde_json::json!({"CAFile": other_ca}),
    );
    // No CA file: dockerd (go-connections) skips verification.
    write_json_spec(
        dir.path(),
        "nocafile",
        &addr,
        serde_json::json!({"InsecureSkipVerify": false}),
    );
    let reg = registry(dir.path());
    assert_eq!(get_through(&reg, "good").await.unwrap(), "/m/v");
    let err = get_through(&reg, "wrongca").await.unwrap_err();
    assert!(
        err.contains("Plugin.Activate") && err.contains("tls"),
        "{err}"
    );
    assert_eq!(get_through(&reg, "nocafile").await.unwrap(), "/m/v");
}

#[tokio::test]
async fn mutual_tls_uses_the_spec_client_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new("drydock test CA");
    let addr = tls_plugin(dir.path(), &pki, true).await;
    let (cert, key) = pki.issue("dockerd", &[]);
    std::fs::write(dir.path().join("client.pem"), cert).unwrap();
    std::fs::write(dir.path().join("client-key.pem"), key).unwrap();
    let p = |n: &str| dir.path().join(n).display().to_string();
    write_json_spec(
        dir.path(),
        "withcert",
        &addr,
        serde_json::json!({"CAFile": p("ca.pem"), "CertFile": p("client.pem"), "KeyFile": p("client-key.pem")}),
    );
    write_json_spec(
        dir.path(),
        "nocert",
        &addr,
        serde_json::json!({"CAFile": p("ca.pem")}),
    );
    let reg = registry(dir.path());
    assert_eq!(get_through(&reg, "withcert").await.unwrap(), "/m/v");
    assert!(
        get_through(&reg, "nocert").await.is_err(),
        "the server requires a client certificate"
    );
}
