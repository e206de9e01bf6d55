//! What dockerd's HTTP client needs from a plugin server (protocol.md §3, §11),
//! checked with raw bytes over a unix socket: empty Host, keep-alive, JSON
//! errors for bad bodies, panics contained, graceful shutdown.

use crate::util::{create_body, dockerd_request, serve_on_socket, volume_plugin, RawConn};
use drydock_sdk::server::ServeConfig;
use drydock_sdk::wire::plugin::CONTENT_TYPE;
use serde_json::json;
use std::time::Duration;
use tokio::net::UnixStream;

#[tokio::test]
async fn dockerd_requests_with_empty_host_share_one_connection() {
    let (plugin, _) = volume_plugin();
    let (_dir, path, server) = serve_on_socket(plugin, ServeConfig::default());
    let mut conn = RawConn::unix(&path).await;
    let activate = conn.post("/Plugin.Activate", "").await;
    assert_eq!(activate.status, 200);
    assert_eq!(activate.json(), json!({"Implements": ["VolumeDriver"]}));
    assert_eq!(activate.header("content-type"), Some(CONTENT_TYPE));
    // Many calls on the same connection, as Go's keep-alive transport does.
    for i in 0..20 {
        let name = format!("v{i}");
        let created = conn.post("/VolumeDriver.Create", &create_body(&name)).await;
        assert_eq!((created.status, created.body.as_str()), (200, "{}\n"));
        let got = conn
            .post("/VolumeDriver.Get", &format!("{{\"Name\":\"{name}\"}}\n"))
            .await;
        assert_eq!(got.json()["Volume"]["Name"], json!(name));
    }
    server.stop().await;
}

#[tokio::test]
async fn a_request_without_host_header_is_served() {
    let (plugin, _) = volume_plugin();
    let (_dir, path, server) = serve_on_socket(plugin, ServeConfig::default());
    let mut conn = RawConn::unix(&path).await;
    let reply = conn
        .send(b"POST /Plugin.Activate HTTP/1.1\r\nContent-Length: 0\r\n\r\n")
        .await;
    assert_eq!(reply.status, 200);
    // A newer dockerd sends a dummy host name; any Host value is fine.
    let reply = conn
        .send(dockerd_request("/Plugin.Activate", "plugin.moby.localhost", "").as_bytes())
        .await;
    assert_eq!(reply.status, 200);
    server.stop().await;
}

#[tokio::test]
async fn every_reply_has_a_json_body_and_the_plugin_content_type() {
    let (plugin, _) = volume_plugin();
    let (_dir, path, server) = serve_on_socket(plugin, ServeConfig::default());
    let mut conn = RawConn::unix(&path).await;
    for (path, body, status) in [
        ("/VolumeDriver.Remove", "{\"Name\":\"x\"}\n", 500),
        ("/VolumeDriver.Nope", "{}\n", 404),
        ("/VolumeDriver.Create", "{not json", 400),
        ("/VolumeDriver.List", "{}\n", 200),
    ] {
        let reply = conn.post(path, body).await;
        assert_eq!(reply.status, status, "{path}");
        assert_eq!(reply.header("content-type"), Some(CONTENT_TYPE), "{path}");
        assert!(reply.json().is_object(), "{path}: {:?}", reply.body);
    }
    server.stop().await;
}

#[tokio::test]
async fn malformed_and_empty_bodies_get_400_and_the_connection_survives() {
    let (plugin, _) = volume_plugin();
    let (_dir, path, server) = serve_on_socket(plugin, ServeConfig::default());
    let mut conn = RawConn::unix(&path).await;
    let bad = conn.post("/VolumeDriver.Create", "{\"Name\": [").await;
    assert_eq!(bad.status, 400);
    assert!(bad.json()["Err"]
        .as_str()
        .unwrap()
        .contains("bad request body"));
    let empty = conn.post("/VolumeDriver.Create", "").await;
    assert_eq!(empty.status, 400);
    assert!(empty.json()["Err"]
        .as_str()
        .unwrap()
        .contains("empty request body"));
    let ok = conn
        .post("/VolumeDriver.Create", &create_body("after"))
        .await;
    assert_eq!(ok.status, 200);
    server.stop().await;
}

#[tokio::test]
async fn a_body_over_the_declared_limit_gets_400_and_the_connection_survives() {
    let (plugin, _) = volume_plugin();
    let config = ServeConfig::default().max_body_bytes(64);
    let (_dir, path, server) = serve_on_socket(plugin, config);
    let mut conn = RawConn::unix(&path).await;
    let big = format!("{{\"Name\":\"{}\"}}", "x".repeat(10_000));
    let reply = conn.post("/VolumeDriver.Create", &big).await;
    assert_eq!(reply.status, 400);
    assert_eq!(
        reply.json(),
        json!({"Err": "request body larger than the limit of 64 bytes"})
    );
    // Exactly at the limit is fine.
    let at_limit = format!("{{\"Name\":\"{}\"}}", "y".repeat(64 - 11));
    assert_eq!(at_limit.len(), 64);
    assert_eq!(
        conn.post("/VolumeDriver.Create", &at_limit).await.status,
        200
    );
    server.stop().await;
}

#[tokio::test]
async fn a_chunked_body_over_the_limit_gets_400_and_the_connection_survives() {
    let (plugin, _) = volume_plugin();
    let config = ServeConfig::default().max_body_bytes(64);
    let (_dir, path, server) = serve_on_socket(plugin, config);
    let mut conn = RawConn::unix(&path).await;
    // No Content-Length, so the limit can only be noticed while reading.
    let chunk = "a".repeat(40);
    let request = format!(
        "POST /VolumeDriver.Create HTTP/1.1\r\nHost: \r\nTransfer-Encoding: chunked\r\n\r\n\
         28\r\n{chunk}\r\n28\r\n{chunk}\r\n28\r\n{chunk}\r\n0\r\n\r\n"
    );
    let reply = conn.send(request.as_bytes()).await;
    assert_eq!(reply.status, 400);
    assert!(reply.json()["Err"]
        .as_str()
        .unwrap()
        .contains("limit of 64"));
    assert_eq!(conn.post("/Plugin.Activate", "").await.status, 200);
    server.stop().await;
}

#[tokio::test]
async fn a_body_in_several_chunks_is_joined() {
    let (plugin, _) = volume_plugin();
    let (_dir, path, server) = serve_on_socket(plugin, ServeConfig::default());
    let mut conn = RawConn::unix(&path).await;
    let request =
        "POST /VolumeDriver.Create HTTP/1.1\r\nHost: \r\nTransfer-Encoding: chunked\r\n\r\n\
         5\r\n{\"Nam\r\n5\r\ne\":\"j\r\n7\r\noined\"}\r\n0\r\n\r\n";
    assert_eq!(conn.send(request.as_bytes()).await.status, 200);
    let got = conn
        .post("/VolumeDriver.Get", "{\"Name\":\"joined\"}\n")
        .await;
    assert_eq!(got.json()["Volume"]["Name"], json!("joined"));
    server.stop().await;
}

#[tokio::test]
async fn a_panicking_handler_gets_500_and_the_connection_survives() {
    let (plugin, _) = volume_plugin();
    let (_dir, path, server) = serve_on_socket(plugin, ServeConfig::default());
    let mut conn = RawConn::unix(&path).await;
    let reply = conn
        .post("/VolumeDriver.Create", &create_body("panic"))
        .await;
    assert_eq!(reply.status, 500);
    assert_eq!(
        reply.json(),
        json!({"Err": "plugin handler panicked: volume store exploded"})
    );
    let next = conn
        .post("/VolumeDriver.Create", &create_body("fine"))
        .await;
    assert_eq!(next.status, 200);
    server.stop().await;
}

#[tokio::test]
async fn shutdown_refuses_new_connections_but_finishes_the_call_in_flight() {
    let (plugin, volumes) = volume_plugin();
    let (_dir, path, mut server) = serve_on_socket(plugin, ServeConfig::default());
    let mut slow = RawConn::unix(&path).await;
    slow.write(dockerd_request("/VolumeDriver.Create", "", &create_body("slow")).as_bytes())
        .await;
    volumes.gate.entered.notified().await;

    server.begin_stop();
    let mut refused = false;
    for _ in 0..10_000 {
        if UnixStream::connect(&path).await.is_err() {
            refused = true;
            break;
        }
        tokio::task::yield_now().await;
    }
    assert!(refused, "the listener still accepts after shutdown began");
    assert!(
        !server.is_finished(),
        "shutdown must wait for the slow call"
    );

    volumes.gate.release.notify_one();
    let reply = slow
        .read_response()
        .await
        .expect("the in-flight call is answered");
    assert_eq!((reply.status, reply.body.as_str()), (200, "{}\n"));
    assert!(
        slow.is_closed().await,
        "the connection closes after its last answer"
    );
    server.stop().await;
}

#[tokio::test]
async fn idle_keep_alive_connections_do_not_hold_up_shutdown() {
    let (plugin, _) = volume_plugin();
    let (_dir, path, server) = serve_on_socket(plugin, ServeConfig::default());
    let mut idle = RawConn::unix(&path).await;
    assert_eq!(idle.post("/Plugin.Activate", "").await.status, 200);
    server.stop().await;
    assert!(idle.is_closed().await);
}

#[tokio::test(start_paused = true)]
async fn shutdown_gives_up_on_a_hung_call_after_the_timeout() {
    let (plugin, volumes) = volume_plugin();
    let config = ServeConfig::default().shutdown_timeout(Some(Duration::from_secs(5)));
    let (_dir, path, server) = serve_on_socket(plugin, config);
    let mut hung = RawConn::unix(&path).await;
    hung.write(dockerd_request("/VolumeDriver.Create", "", &create_body("slow")).as_bytes())
        .await;
    volumes.gate.entered.notified().await;
    let log = LogCapture::default();
    let _log = tracing::subscriber::set_default(
        tracing_subscriber::fmt()
            .with_writer(log.clone())
            .with_ansi(false)
            .finish(),
    );
    let started = tokio::time::Instant::now();
    server.stop().await;
    // Paused time: the 5 s pass instantly, but they do pass.
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(5) && waited < Duration::from_secs(6),
        "{waited:?}"
    );
    // The operator learns which call was abandoned, and after how long.
    let log = log.text();
    let line = log
        .lines()
        .find(|l| l.contains("abandoning a call"))
        .unwrap_or_else(|| panic!("no abandoned call logged:\n{log}"));
    assert!(
        line.contains("VolumeDriver.Create") && line.contains("running_for="),
        "{line}"
    );
}

/// Collects what a tracing subscriber writes.
#[derive(Clone, Default)]
struct LogCapture(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl LogCapture {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl std::io::Write for LogCapture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogCapture {
    type Writer = LogCapture;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[tokio::test]
async fn a_half_sent_request_does_not_hold_up_shutdown() {
    let (plugin, _) = volume_plugin();
    let (_dir, path, server) = serve_on_socket(plugin, ServeConfig::default());
    // A slowloris client: part of a header, then silence. No call is running,
    // so shutdown must not wait the 30 s shutdown timeout for it.
    let mut header = RawConn::unix(&path).await;
    header
        .write(b"POST /VolumeDriver.List HTTP/1.1\r\nHo")
        .await;
    let mut body = RawConn::unix(&path).await;
    body.write(b"POST /VolumeDriver.Remove HTTP/1.1\r\nContent-Length: 100\r\n\r\n{\"Na")
        .await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let started = std::time::Instant::now();
    server.stop().await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "shutdown waited {:?} for clients with no call running",
        started.elapsed()
    );
}
