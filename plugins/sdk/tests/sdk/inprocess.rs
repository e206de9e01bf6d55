//! `Plugin::handle`, the in-process transport: the same dispatch and error
//! mapping the HTTP server uses, without a socket.

use crate::util::{call, create_body, volume_plugin, TestAuthz, TestIpam, TestVolumes};
use drydock_sdk::{Plugin, Protocol};
use serde_json::json;

#[tokio::test]
async fn activate_lists_the_one_implemented_protocol() {
    let (plugin, _) = volume_plugin();
    // dockerd sends Activate with an empty body.
    let (status, body) = call(&plugin, "/Plugin.Activate", "").await;
    assert_eq!(
        (status, body),
        (200, json!({"Implements": ["VolumeDriver"]}))
    );
}

#[tokio::test]
async fn activate_lists_every_protocol_with_authz_in_lowercase() {
    let plugin = Plugin::new()
        .ipam(TestIpam)
        .authz(TestAuthz)
        .volume(TestVolumes::default());
    assert_eq!(
        plugin.implements(),
        [
            Protocol::VolumeDriver,
            Protocol::Authz,
            Protocol::IpamDriver
        ]
    );
    let (status, body) = call(&plugin, "/Plugin.Activate", "").await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({"Implements": ["VolumeDriver", "authz", "IpamDriver"]})
    );
}

#[tokio::test]
async fn a_plugin_implementing_nothing_says_so() {
    let (status, body) = call(&Plugin::new(), "/Plugin.Activate", "").await;
    assert_eq!((status, body), (200, json!({"Implements": []})));
}

#[tokio::test]
async fn unknown_methods_and_protocols_are_404_with_err() {
    let (plugin, _) = volume_plugin();
    for path in [
        "/VolumeDriver.Frobnicate",
        "/NetworkDriver.CreateNetwork",
        "/nonsense",
    ] {
        let (status, body) = call(&plugin, path, "{}\n").await;
        assert_eq!(status, 404, "{path}");
        let err = body["Err"].as_str().expect("404 carries Err");
        assert!(err.contains("does not implement"), "{path}: {err}");
    }
}

#[tokio::test]
async fn a_successful_call_answers_200_with_a_json_body() {
    let (plugin, _) = volume_plugin();
    let (status, body) = call(&plugin, "/VolumeDriver.Create", &create_body("v1")).await;
    // `{}`, never an empty body: dockerd fails on an empty 200 (protocol.md §11.1).
    assert_eq!((status, body), (200, json!({})));
    let (status, body) = call(&plugin, "/VolumeDriver.Get", "{\"Name\":\"v1\"}\n").await;
    assert_eq!(
        (status, body),
        (
            200,
            json!({"Volume": {"Name": "v1", "Mountpoint": "/mnt/v1"}})
        )
    );
    let (status, body) = call(&plugin, "/VolumeDriver.Capabilities", "{}\n").await;
    assert_eq!(
        (status, body),
        (200, json!({"Capabilities": {"Scope": "local"}}))
    );
}

#[tokio::test]
async fn in_band_volume_errors_are_200_with_err() {
    let (plugin, _) = volume_plugin();
    let (status, body) = call(&plugin, "/VolumeDriver.Create", &create_body("inband")).await;
    assert_eq!((status, body), (200, json!({"Err": "quota exceeded"})));
    let (status, body) = call(&plugin, "/VolumeDriver.Get", "{\"Name\":\"nope\"}\n").await;
    assert_eq!(
        (status, body),
        (200, json!({"Err": "no such volume: nope"}))
    );
}

#[tokio::test]
async fn in_band_ipam_errors_use_the_error_field() {
    let plugin = Plugin::new().ipam(TestIpam);
    let request =
        r#"{"AddressSpace":"local","Pool":"10.9.0.0/16","SubPool":"","Options":{},"V6":false}"#;
    let (status, body) = call(&plugin, "/IpamDriver.RequestPool", request).await;
    assert_eq!((status, body), (200, json!({"Error": "pool overlaps"})));
}

#[tokio::test]
async fn out_of_band_errors_are_500_with_err_whatever_the_protocol() {
    let (plugin, _) = volume_plugin();
    let (status, body) = call(&plugin, "/VolumeDriver.Remove", "{\"Name\":\"ghost\"}\n").await;
    assert_eq!(
        (status, body),
        (500, json!({"Err": "no such volume: ghost"}))
    );
    // IPAM too uses `Err` out of band; only its in-band field is `Error`.
    let plugin = Plugin::new().ipam(TestIpam);
    let (status, body) = call(&plugin, "/IpamDriver.ReleasePool", "{\"PoolID\":\"x\"}\n").await;
    assert_eq!((status, body), (500, json!({"Err": "unknown pool x"})));
}

#[tokio::test]
async fn authz_verdicts_pass_through() {
    let plugin = Plugin::new().authz(TestAuthz);
    let (status, body) = call(
        &plugin,
        "/AuthZPlugin.AuthZReq",
        r#"{"RequestMethod":"POST","RequestUri":"/v1.41/deny-me"}"#,
    )
    .await;
    assert_eq!(
        (status, body),
        (
            200,
            json!({"Allow": false, "Msg": "denied: /v1.41/deny-me"})
        )
    );
    let (status, body) = call(
        &plugin,
        "/AuthZPlugin.AuthZRes",
        r#"{"RequestUri":"/_ping"}"#,
    )
    .await;
    assert_eq!((status, body), (200, json!({"Allow": true})));
}

#[tokio::test]
async fn malformed_and_empty_bodies_are_400_with_err() {
    let (plugin, _) = volume_plugin();
    for (body, expect) in [
        ("{\"Name\":", "bad request body"),
        ("{\"Name\": 5}", "bad request body"),
        // An empty body is what dockerd sends when it retries after a
        // dropped connection (protocol.md §3.4): say so.
        ("", "empty request body"),
    ] {
        let (status, json) = call(&plugin, "/VolumeDriver.Create", body).await;
        assert_eq!(status, 400, "{body:?}");
        let err = json["Err"].as_str().expect("400 carries Err");
        assert!(err.starts_with("VolumeDriver.Create: "), "{err}");
        assert!(err.contains(expect), "{body:?}: {err}");
    }
}

#[tokio::test]
async fn lenient_decoding_accepts_what_go_would() {
    let (plugin, _) = volume_plugin();
    // Case-insensitive keys, unknown keys and trailing data are all fine for Go.
    let (status, _) = call(
        &plugin,
        "/VolumeDriver.Create",
        "{\"name\":\"v2\",\"extra\":1}\n garbage",
    )
    .await;
    assert_eq!(status, 200);
    let (_, body) = call(&plugin, "/VolumeDriver.List", "{}\n").await;
    assert_eq!(
        body,
        json!({"Volumes": [{"Name": "v2", "Mountpoint": "/mnt/v2"}]})
    );
}

#[tokio::test]
async fn a_json_array_is_not_a_request() {
    // serde would read a struct from an array by position; Go refuses an
    // array where it expects an object, and so must the SDK.
    let plugin = Plugin::new()
        .ipam(TestIpam)
        .authz(TestAuthz)
        .volume(TestVolumes::default());
    for (path, body) in [
        ("/VolumeDriver.Create", "[]"),
        ("/VolumeDriver.Remove", " [\"v\"]"),
        ("/IpamDriver.RequestPool", "[\"\", \"10.0.0.0/8\"]"),
        ("/AuthZPlugin.AuthZReq", "[]\n"),
    ] {
        let (status, body) = call(&plugin, path, body).await;
        assert_eq!(status, 400, "{path}");
        let err = body["Err"].as_str().unwrap();
        assert!(err.contains("a JSON array, not an object"), "{path}: {err}");
    }
    // `null` is Go's zero value: decoded as an empty request, which the
    // plugin judges (here: a Create without a name succeeds in the test driver).
    let (status, _) = call(&plugin, "/VolumeDriver.Create", "null").await;
    assert_eq!(status, 200);
}
