//! `serve_unix`: what it does to the file system before, during and after serving.

use crate::util::{volume_plugin, wait_until, RawConn, Running};
use drydock_sdk::server::{serve_unix, ServeConfig, ServeError};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};

fn is_socket(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_socket())
}

/// Starts `serve_unix` on `path` and waits until it accepts connections.
async fn start(path: PathBuf) -> Running {
    let (plugin, _) = volume_plugin();
    let target = path.clone();
    let running = Running::spawn(move |shutdown| async move {
        serve_unix(plugin, target, shutdown)
            .await
            .expect("serve_unix");
    });
    // Connecting, not just the file existing: a stale socket exists too.
    wait_until("the server accepts", || {
        std::os::unix::net::UnixStream::connect(&path).is_ok()
    })
    .await;
    running
}

#[tokio::test]
async fn creates_the_directory_serves_with_mode_0660_and_removes_the_socket() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run/docker/plugins/tv.sock");
    let server = start(path.clone()).await;
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o660);
    let mut conn = RawConn::unix(&path).await;
    assert_eq!(conn.post("/Plugin.Activate", "").await.status, 200);
    server.stop().await;
    assert!(!path.exists(), "socket file left behind");
}

#[tokio::test]
async fn the_socket_mode_is_configurable() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.sock");
    let (plugin, _) = volume_plugin();
    let target = path.clone();
    let server = Running::spawn(move |shutdown| async move {
        ServeConfig::default()
            .socket_mode(0o600)
            .serve_unix(plugin, target, shutdown)
            .await
            .expect("serve_unix");
    });
    wait_until("the socket exists", || is_socket(&path)).await;
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    server.stop().await;
}

#[tokio::test]
async fn a_stale_socket_from_a_crashed_run_is_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("stale.sock");
    // A bound socket whose listener is gone: what a killed plugin leaves.
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    assert!(is_socket(&path));
    let server = start(path.clone()).await;
    let mut conn = RawConn::unix(&path).await;
    assert_eq!(conn.post("/Plugin.Activate", "").await.status, 200);
    server.stop().await;
    assert!(!path.exists());
}

#[tokio::test]
async fn a_regular_file_at_the_socket_path_is_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("precious.sock");
    std::fs::write(&path, "not a socket").unwrap();
    let (plugin, _) = volume_plugin();
    let err = serve_unix(plugin, &path, std::future::pending())
        .await
        .unwrap_err();
    assert!(matches!(err, ServeError::NotASocket(_)), "{err:?}");
    assert!(err.to_string().contains("is not a socket"), "{err}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "not a socket");
}

#[tokio::test]
async fn a_socket_another_plugin_serves_is_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("busy.sock");
    let first = start(path.clone()).await;
    let (plugin, _) = volume_plugin();
    let err = serve_unix(plugin, &path, std::future::pending())
        .await
        .unwrap_err();
    assert!(matches!(err, ServeError::SocketInUse(_)), "{err:?}");
    assert!(err.to_string().contains("in use"), "{err}");
    // The first server is untouched and still answers.
    let mut conn = RawConn::unix(&path).await;
    assert_eq!(conn.post("/Plugin.Activate", "").await.status, 200);
    first.stop().await;
}
