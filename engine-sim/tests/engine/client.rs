//! The RPC client: request bytes, status/body handling, retries, timeouts
//! (protocol.md §3).

use super::util::{http, serve_unix, Action};
use bytes::Bytes;
use drydock_engine::clock::{Clock, TokioClock, VirtualClock};
use drydock_engine::plugins::client::{CallError, CallOptions, PluginClient};
use drydock_engine::plugins::transport::{Http, Transport};
use drydock_engine::trace::Trace;
use drydock_sdk::wire::volume::{CreateRequest, GetResponse, NameRequest};
use std::sync::Arc;
use std::time::Duration;

fn client(path: &std::path::Path, clock: Arc<dyn Clock>, trace: &Trace) -> PluginClient {
    let transport = Http::new(&format!("unix://{}", path.display()), None).unwrap();
    PluginClient::new("p", Arc::new(transport), clock, Some(trace.clone()))
}

fn get(name: &str) -> NameRequest {
    NameRequest { name: name.into() }
}

#[tokio::test]
async fn sends_dockerds_exact_request_bytes_and_reuses_the_connection() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("p.sock");
    let seen = serve_unix(&sock, |_, _| http("200 OK", r#"{"Volume":{"Name":"v"}}"#));
    let trace = Trace::new();
    let c = client(&sock, TokioClock::new(), &trace);
    for _ in 0..3 {
        let r: GetResponse = c
            .call("VolumeDriver.Get", Some(&get("v")), CallOptions::default())
            .await
            .unwrap();
        assert_eq!(r.volume.unwrap().name, "v");
    }
    let create = CreateRequest {
        name: "v1".into(),
        opts: None,
    };
    let _: GetResponse = c
        .call("VolumeDriver.Create", Some(&create), CallOptions::default())
        .await
        .unwrap();
    let _: GetResponse = c
        .call::<(), _>("Plugin.Activate", None, CallOptions::default())
        .await
        .unwrap();
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 5);
    let first = &seen[0];
    assert_eq!(first.request_line(), "POST /VolumeDriver.Get HTTP/1.1");
    assert_eq!(
        first.header("Host").as_deref(),
        Some(""),
        "Go 1.19 sends an empty Host on unix sockets"
    );
    assert_eq!(
        first.header("User-Agent").as_deref(),
        Some("Go-http-client/1.1")
    );
    assert_eq!(
        first.header("Accept").as_deref(),
        Some("application/vnd.docker.plugins.v1.2+json")
    );
    assert_eq!(
        first.header("Content-Type"),
        None,
        "dockerd sends no Content-Type"
    );
    assert_eq!(
        first.header("Accept-Encoding"),
        None,
        "unix transport disables compression"
    );
    assert_eq!(first.body, b"{\"Name\":\"v\"}\n");
    assert_eq!(seen[3].body, b"{\"Name\":\"v1\",\"Opts\":null}\n");
    assert_eq!(seen[3].header("Content-Length").as_deref(), Some("26"));
    assert_eq!(
        seen[4].header("Content-Length").as_deref(),
        Some("0"),
        "Activate has an empty body"
    );
    assert!(seen[4].body.is_empty());
    // One record per call, in order.
    let methods: Vec<String> = trace.snapshot().into_iter().map(|r| r.method).collect();
    assert_eq!(
        methods,
        [
            "VolumeDriver.Get",
            "VolumeDriver.Get",
            "VolumeDriver.Get",
            "VolumeDriver.Create",
            "Plugin.Activate"
        ]
    );
}

/// Each answer shape of protocol.md §3.3 and the error text dockerd derives.
#[tokio::test]
async fn status_and_body_shapes_become_dockerds_errors() {
    let cases: &[(&str, &str, Result<&str, &str>)] = &[
        ("200 OK", r#"{"Volume":{"Name":"ok"}}"#, Ok("ok")),
        ("200 OK", "null", Ok("")),
        (
            "200 OK",
            r#"{"volume":{"name":"ci"}} trailing junk"#,
            Ok("ci"),
        ),
        ("200 OK", "", Err("EOF")),
        ("200 OK", "not json", Err("invalid JSON")),
        (
            "500 Internal Server Error",
            r#"{"Err":"boom json"}"#,
            Err("X.Get: boom json"),
        ),
        (
            "500 Internal Server Error",
            "boom text\n",
            Err("X.Get: boom text\n"),
        ),
        (
            "404 Not Found",
            "404 page not found\n",
            Err("X.Get: 404 page not found\n"),
        ),
        (
            "500 Internal Server Error",
            r#"{"Err":""}"#,
            Err("X.Get: {\"Err\":\"\"}"),
        ),
        (
            "201 Created",
            r#"{"Volume":{"Name":"x"}}"#,
            Err("X.Get: {\"Volume\":{\"Name\":\"x\"}}"),
        ),
        ("204 No Content", "", Err("X.Get: ")),
    ];
    for (i, (status, body, want)) in cases.iter().enumerate() {
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("p.sock");
        let (status, body) = (status.to_string(), body.to_string());
        serve_unix(&sock, move |_, _| http(&status, &body));
        let c = client(&sock, TokioClock::new(), &Trace::new());
        let got: Result<GetResponse, CallError> = c
            .call("X.Get", Some(&get("v")), CallOptions::default())
            .await;
        match (want, got) {
            (Ok(name), Ok(r)) => assert_eq!(
                r.volume.map(|v| v.name).unwrap_or_default(),
                *name,
                "case {i}"
            ),
            (Err(text), Err(e)) => assert!(e.to_string().starts_with(text), "case {i}: {e}"),
            (want, got) => panic!("case {i}: want {want:?}, got {got:?}"),
        }
    }
}

#[tokio::test]
async fn only_404_counts_as_not_found_and_status_errors_are_not_network_errors() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("p.sock");
    serve_unix(&sock, |i, _| {
        if i == 0 {
            http("404 Not Found", "")
        } else {
            http("503 Busy", "")
        }
    });
    let c = client(&sock, TokioClock::new(), &Trace::new());
    let e = c
        .call::<_, GetResponse>("X.Get", Some(&get("v")), CallOptions::default())
        .await
        .unwrap_err();
    assert!(e.is_not_found() && !e.is_network());
    let e = c
        .call::<_, GetResponse>("X.Get", Some(&get("v")), CallOptions::default())
        .await
        .unwrap_err();
    assert!(!e.is_not_found());
    assert_eq!(e.status(), Some(503));
}

/// No plugin: attempts at t = 0, 1, 3, 7, 15 s, then the dial error (§3.4).
#[tokio::test(start_paused = true)]
async fn retries_with_backoff_then_gives_up_near_15s() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("absent.sock");
    let trace = Trace::new();
    let clock = TokioClock::new();
    let c = client(&sock, clock.clone(), &trace);
    let start = tokio::time::Instant::now();
    let err = c
        .call::<_, GetResponse>("VolumeDriver.Get", Some(&get("v")), CallOptions::default())
        .await
        .unwrap_err();
    assert_eq!(start.elapsed(), Duration::from_secs(15));
    assert!(err.is_network());
    let url = format!(
        "http://{}/VolumeDriver.Get",
        sock.display().to_string().replace('/', "%2F")
    );
    assert_eq!(
        err.to_string(),
        format!(
            "Post \"{url}\": dial unix {}: connect: no such file or directory",
            sock.display()
        )
    );
    let rec = &trace.snapshot()[0];
    assert_eq!(rec.attempts, 5);
    assert_eq!(rec.status, None);
}

#[tokio::test]
async fn virtual_clock_makes_the_15s_of_retries_instant() {
    let dir = tempfile::tempdir().unwrap();
    let clock = VirtualClock::new();
    let c = client(
        &dir.path().join("absent.sock"),
        clock.clone(),
        &Trace::new(),
    );
    let real = std::time::Instant::now();
    assert!(c
        .call::<_, GetResponse>("X.Get", Some(&get("v")), CallOptions::default())
        .await
        .is_err());
    assert_eq!(clock.elapsed(), Duration::from_secs(15));
    assert!(real.elapsed() < Duration::from_secs(5));
}

/// The plugin reads the body and drops the connection: dockerd retries after
/// 1 s and the retry carries an empty body (§3.4, PROBE).
#[tokio::test]
async fn retry_after_mid_request_drop_resends_an_empty_body() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("p.sock");
    let seen = serve_unix(&sock, |i, _| {
        if i == 0 {
            Action::Drop
        } else {
            http("200 OK", "{}")
        }
    });
    let trace = Trace::new();
    let clock = VirtualClock::new();
    let c = client(&sock, clock.clone(), &trace);
    let create = CreateRequest {
        name: "v1".into(),
        opts: None,
    };
    let _: GetResponse = c
        .call("VolumeDriver.Create", Some(&create), CallOptions::default())
        .await
        .unwrap();
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].body, b"{\"Name\":\"v1\",\"Opts\":null}\n");
    assert_eq!(seen[1].header("Content-Length").as_deref(), Some("0"));
    assert!(seen[1].body.is_empty());
    assert_eq!(clock.elapsed(), Duration::from_secs(1));
    let rec = &trace.snapshot()[0];
    assert!(rec.empty_body_retry);
    assert_eq!(rec.attempts, 2);
    assert_eq!(
        rec.request,
        Bytes::from_static(b"{\"Name\":\"v1\",\"Opts\":null}\n"),
        "the trace keeps the original body"
    );
}

/// A hung plugin and a 1-minute volume timeout: the call fails after exactly
/// 60 s with Go's text, and is not retried (60 s already exceed the budget).
#[tokio::test(start_paused = true)]
async fn per_call_timeout_fires_and_is_not_retried() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("p.sock");
    let seen = serve_unix(&sock, |_, _| Action::Hang);
    let c = client(&sock, TokioClock::new(), &Trace::new());
    let start = tokio::time::Instant::now();
    let err = c
        .call::<_, GetResponse>(
            "VolumeDriver.Get",
            Some(&get("v")),
            CallOptions::timeout(Duration::from_secs(60)),
        )
        .await
        .unwrap_err();
    assert_eq!(start.elapsed(), Duration::from_secs(60));
    assert!(
        err.to_string()
            .ends_with("/VolumeDriver.Get\": context deadline exceeded"),
        "{err}"
    );
    assert!(err.is_network());
    assert_eq!(seen.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_dead_idle_connection_is_replaced_silently() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("p.sock");
    // The server answers one request per connection, then closes it.
    let listener = tokio::net::UnixListener::bind(&sock).unwrap();
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        loop {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = vec![0u8; 4096];
            let _ = s.read(&mut buf).await;
            let _ = s
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
                .await;
            let _ = s.shutdown().await;
        }
    });
    let trace = Trace::new();
    let c = client(&sock, VirtualClock::new(), &trace);
    for _ in 0..3 {
        let _: GetResponse = c
            .call("X.Get", Some(&get("v")), CallOptions::default())
            .await
            .unwrap();
        tokio::task::yield_now().await;
    }
    assert!(trace
        .snapshot()
        .iter()
        .all(|r| r.attempts == 1 && !r.empty_body_retry));
}

#[test]
fn transport_urls_match_go() {
    let t = Http::new("tcp://127.0.0.1:8080", None).unwrap();
    assert_eq!(
        t.url("IpamDriver.RequestPool"),
        "http://127.0.0.1:8080/IpamDriver.RequestPool"
    );
}
