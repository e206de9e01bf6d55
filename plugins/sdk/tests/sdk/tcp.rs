//! `serve_tcp`: the `.spec` file dockerd discovers the plugin by.

use crate::util::{dockerd_request, volume_plugin, wait_until, RawConn, Running};
use drydock_sdk::server::{serve_tcp, ServeError};
use tokio::net::TcpStream;

#[tokio::test]
async fn writes_the_bound_address_to_a_spec_file_and_removes_it() {
    let dir = tempfile::tempdir().unwrap();
    let spec_dir = dir.path().join("etc/docker/plugins");
    let spec = spec_dir.join("tcpvol.spec");
    let (plugin, _) = volume_plugin();
    let sd = spec_dir.clone();
    let server = Running::spawn(move |shutdown| async move {
        let addr = "127.0.0.1:0".parse().unwrap();
        serve_tcp(plugin, addr, Some((&sd, "tcpvol")), shutdown)
            .await
            .expect("serve_tcp");
    });
    wait_until("the spec file exists", || spec.exists()).await;

    let text = std::fs::read_to_string(&spec).unwrap();
    let addr = text
        .strip_prefix("tcp://127.0.0.1:")
        .unwrap_or_else(|| panic!("unexpected spec {text:?}"));
    let port: u16 = addr.parse().expect("only the port follows");
    assert_ne!(port, 0, "the spec names the port actually bound");
    // The temporary file used for the atomic write is gone.
    assert_eq!(std::fs::read_dir(&spec_dir).unwrap().count(), 1);

    let mut conn = RawConn::new(TcpStream::connect(("127.0.0.1", port)).await.unwrap());
    let host = format!("127.0.0.1:{port}");
    let reply = conn
        .send(dockerd_request("/Plugin.Activate", &host, "").as_bytes())
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body, "{\"Implements\":[\"VolumeDriver\"]}\n");

    server.stop().await;
    assert!(!spec.exists(), "spec file left behind");
}

#[tokio::test]
async fn serve_accepts_a_tcp_listener_the_caller_bound() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (plugin, _) = volume_plugin();
    let server = crate::util::serve_listener(plugin, Default::default(), listener);
    let mut conn = RawConn::new(TcpStream::connect(("127.0.0.1", port)).await.unwrap());
    assert_eq!(conn.post("/Plugin.Activate", "").await.status, 200);
    server.stop().await;
}

#[tokio::test]
async fn a_plugin_name_that_is_not_a_file_name_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["", "a/b", ".."] {
        let (plugin, _) = volume_plugin();
        let addr = "127.0.0.1:0".parse().unwrap();
        let err = serve_tcp(
            plugin,
            addr,
            Some((dir.path(), name)),
            std::future::pending(),
        )
        .await
        .unwrap_err();
        assert!(
            matches!(err, ServeError::InvalidName(_)),
            "{name:?}: {err:?}"
        );
    }
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}
