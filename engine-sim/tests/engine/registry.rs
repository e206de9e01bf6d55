//! Lazy activation, caching, handlers and GetAll (protocol.md §2).

use super::util::{http, serve_unix, Echo};
use drydock_engine::clock::{Clock, VirtualClock};
use drydock_engine::plugins::discovery::PluginRoots;
use drydock_engine::plugins::registry::{GetError, Registry};
use drydock_engine::trace::Trace;
use drydock_sdk::wire::ipam::*;
use drydock_sdk::{IpamDriver, Plugin, PluginError, Protocol};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

struct Ipam;
impl IpamDriver for Ipam {
    async fn get_default_address_spaces(&self) -> Result<AddressSpacesResponse, PluginError> {
        Ok(AddressSpacesResponse::default())
    }
    async fn request_pool(
        &self,
        _: RequestPoolRequest,
    ) -> Result<RequestPoolResponse, PluginError> {
        Err(PluginError::new("unused"))
    }
    async fn release_pool(&self, _: ReleasePoolRequest) -> Result<(), PluginError> {
        Ok(())
    }
    async fn request_address(
        &self,
        _: RequestAddressRequest,
    ) -> Result<RequestAddressResponse, PluginError> {
        Err(PluginError::new("unused"))
    }
    async fn release_address(&self, _: ReleaseAddressRequest) -> Result<(), PluginError> {
        Ok(())
    }
}

struct Setup {
    dir: tempfile::TempDir,
    registry: Registry,
    clock: Arc<VirtualClock>,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let roots = PluginRoots {
        sockets_dir: dir.path().join("run"),
        spec_dirs: vec![dir.path().join("etc")],
    };
    std::fs::create_dir_all(&roots.sockets_dir).unwrap();
    let clock = VirtualClock::new();
    let registry = Registry::new(roots, clock.clone(), Trace::new());
    Setup {
        dir,
        registry,
        clock,
    }
}

fn methods(trace: &Trace) -> Vec<String> {
    trace
        .snapshot()
        .into_iter()
        .map(|r| format!("{} {}", r.plugin, r.method))
        .collect()
}

#[tokio::test]
async fn activation_happens_once_and_is_cached() {
    let s = setup();
    s.registry
        .register_in_process("v", Plugin::new().volume(Echo));
    let h1 = s.registry.get("v", Protocol::VolumeDriver).await.unwrap();
    let h2 = s.registry.get("v", Protocol::VolumeDriver).await.unwrap();
    assert!(Arc::ptr_eq(&h1, &h2));
    assert_eq!(methods(s.registry.trace()), ["v Plugin.Activate"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_getters_share_one_activation() {
    let s = setup();
    s.registry
        .register_in_process("v", Plugin::new().volume(Echo));
    let registry = Arc::new(s.registry);
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let r = registry.clone();
            tokio::spawn(async move { r.get("v", Protocol::VolumeDriver).await.map(|_| ()) })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert_eq!(methods(registry.trace()), ["v Plugin.Activate"]);
}

#[tokio::test]
async fn wrong_protocol_gives_dockerds_not_implements_error() {
    let s = setup();
    s.registry
        .register_in_process("v", Plugin::new().volume(Echo));
    let err = s.registry.get("v", Protocol::IpamDriver).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "legacy plugin: Plugin does not implement the requested driver"
    );
}

#[tokio::test]
async fn unknown_plugin_is_retried_15s_then_not_found() {
    let s = setup();
    let err = s
        .registry
        .get("ghost", Protocol::VolumeDriver)
        .await
        .unwrap_err();
    assert_eq!(err, GetError::NotFound("ghost".into()));
    assert_eq!(err.to_string(), "plugin \"ghost\" not found");
    assert_eq!(s.clock.elapsed(), Duration::from_secs(15));
}

#[tokio::test]
async fn a_plugin_appearing_during_the_retries_is_found() {
    let s = setup();
    // The spec appears "2 s" after the lookup started (TestExternalVolumeDriverRetryNotImmediatelyExists).
    let sock = s.dir.path().join("late.sock");
    serve_unix(&sock, |_, _| {
        http("200 OK", r#"{"Implements":["VolumeDriver"]}"#)
    });
    let spec = s.dir.path().join("etc/late.spec");
    std::fs::create_dir_all(spec.parent().unwrap()).unwrap();
    let clock = s.clock.clone();
    let lookup = s.registry.get("late", Protocol::VolumeDriver);
    let appear = async {
        while clock.elapsed() < Duration::from_secs(2) {
            tokio::task::yield_now().await;
        }
        std::fs::write(&spec, format!("unix://{}", sock.display())).unwrap();
    };
    let (got, ()) = tokio::join!(lookup, appear);
    got.unwrap();
}

#[tokio::test]
async fn failed_activation_is_retried_on_next_use_but_success_is_sticky() {
    let s = setup();
    let sock = s.dir.path().join("run/flaky.sock");
    let seen = serve_unix(&sock, |i, _| match i {
        0 => http("500 Internal Server Error", r#"{"Err":"not ready"}"#),
        1 => http("200 OK", r#"{"Implements":["VolumeDriver"]}"#),
        _ => http("200 OK", r#"{"Implements":[]}"#),
    });
    let err = s
        .registry
        .get("flaky", Protocol::VolumeDriver)
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "legacy plugin: Plugin.Activate: not ready");
    s.registry
        .get("flaky", Protocol::VolumeDriver)
        .await
        .unwrap();
    s.registry
        .get("flaky", Protocol::VolumeDriver)
        .await
        .unwrap();
    assert_eq!(
        seen.lock().unwrap().len(),
        2,
        "no re-activation after success"
    );
}

#[tokio::test]
async fn an_empty_activate_body_fails_and_null_implements_nothing() {
    let s = setup();
    let sock = s.dir.path().join("run/e.sock");
    serve_unix(&sock, |_, _| http("200 OK", ""));
    assert_eq!(
        s.registry
            .get("e", Protocol::VolumeDriver)
            .await
            .unwrap_err()
            .to_string(),
        "legacy plugin: EOF"
    );
    let sock = s.dir.path().join("run/n.sock");
    serve_unix(&sock, |_, _| http("200 OK", "null"));
    assert_eq!(
        s.registry
            .get("n", Protocol::VolumeDriver)
            .await
            .unwrap_err()
            .to_string(),
        "legacy plugin: Plugin does not implement the requested driver"
    );
}

#[tokio::test]
async fn handlers_run_once_for_every_implemented_protocol() {
    let s = setup();
    s.registry
        .register_in_process("both", Plugin::new().volume(Echo).ipam(Ipam));
    let ipam_runs = Arc::new(AtomicUsize::new(0));
    let n = ipam_runs.clone();
    s.registry.on_activate(
        Protocol::IpamDriver,
        Arc::new(move |h| {
            let n = n.clone();
            Box::pin(async move {
                assert_eq!(h.name(), "both");
                n.fetch_add(1, Ordering::SeqCst);
            })
        }),
    );
    // Activated for volumes, the IPAM handler still runs (a side effect dockerd has too).
    s.registry
        .get("both", Protocol::VolumeDriver)
        .await
        .unwrap();
    s.registry.get("both", Protocol::IpamDriver).await.unwrap();
    assert_eq!(ipam_runs.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn get_all_activates_everything_and_filters_by_protocol() {
    let s = setup();
    s.registry
        .register_in_process("v1", Plugin::new().volume(Echo));
    s.registry
        .register_in_process("i1", Plugin::new().ipam(Ipam));
    // A stale socket file with no listener: activation fails after retries and is skipped.
    let stale = s.dir.path().join("run/stale.sock");
    drop(std::os::unix::net::UnixListener::bind(&stale).unwrap());
    let vols = s.registry.get_all(Protocol::VolumeDriver).await.unwrap();
    let names: Vec<&str> = vols.iter().map(|h| h.name()).collect();
    assert_eq!(names, ["v1"]);
    let mut activated: Vec<String> = methods(s.registry.trace());
    activated.sort();
    assert_eq!(
        activated,
        [
            "i1 Plugin.Activate",
            "stale Plugin.Activate",
            "v1 Plugin.Activate"
        ]
    );
    assert_eq!(
        s.registry.cached_names(),
        ["i1", "v1"],
        "failed activations are not cached"
    );
}
