//! The JSON of the wire types, pinned two ways:
//! * snapshots of the exact bytes `encode_go` writes for representative values
//!   (reviewed by hand: field names, order, omitted empties, `null`s, escaping);
//! * the golden traces recorded from a real dockerd 20.10 (`tests/golden/`):
//!   every request dockerd sent and every answer the recording plugin gave
//!   survives decode → encode unchanged, so our types neither lose nor
//!   reorder nor invent fields.

use drydock_sdk::wire::{authz, decode_go, encode_go, ipam, network, plugin, volume};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// Renders `label: <bytes>` lines for a snapshot, checking on the way that
/// each encoding is one line ending in the newline Go's encoder writes.
fn render(cases: &[(&str, Vec<u8>)]) -> String {
    let mut out = String::new();
    for (label, bytes) in cases {
        let text = std::str::from_utf8(bytes).expect("UTF-8");
        assert!(text.ends_with('\n'), "{label}: no trailing newline");
        assert_eq!(text.matches('\n').count(), 1, "{label}: not one line");
        out.push_str(label);
        out.push_str(": ");
        out.push_str(text);
    }
    out
}

fn opts(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        other => panic!("not an object: {other}"),
    }
}

#[test]
fn plugin_bodies() {
    let manifest = plugin::ActivateResponse {
        implements: Some(vec!["VolumeDriver".into(), "authz".into()]),
    };
    let spec = plugin::JsonSpec {
        addr: "https://127.0.0.1:9443".into(),
        tls_config: Some(plugin::SpecTls {
            ca_file: "/etc/ca.pem".into(),
            cert_file: "/etc/c.pem".into(),
            key_file: "/etc/k.pem".into(),
            insecure_skip_verify: false,
        }),
    };
    let bytes = render(&[
        ("ActivateResponse", encode_go(&manifest)),
        (
            "ActivateResponse empty",
            encode_go(&plugin::ActivateResponse::default()),
        ),
        (
            "ErrorBody",
            encode_go(&plugin::ErrorBody { err: "boom".into() }),
        ),
        ("JsonSpec", encode_go(&spec)),
        (
            "JsonSpec no TLS",
            encode_go(&plugin::JsonSpec {
                addr: "https://h:1".into(),
                tls_config: None,
            }),
        ),
    ]);
    insta::assert_snapshot!(bytes);
}

#[test]
fn volume_bodies() {
    let status = object(json!({"mounts": ["id1"], "Size": 3}));
    let full = volume::Volume {
        name: "v1".into(),
        mountpoint: "/data/v1".into(),
        created_at: Some("2026-11-22T03:03:39Z".into()),
        status: Some(status),
    };
    let bare = volume::Volume {
        name: "v2".into(),
        ..Default::default()
    };
    let bytes = render(&[
        (
            "CreateRequest implicit",
            encode_go(&volume::CreateRequest {
                name: "v1".into(),
                opts: None,
            }),
        ),
        (
            "CreateRequest cli",
            encode_go(&volume::CreateRequest {
                name: "v1".into(),
                opts: Some(BTreeMap::new()),
            }),
        ),
        (
            "CreateRequest opts",
            encode_go(&volume::CreateRequest {
                name: "v1".into(),
                opts: Some(opts(&[("size", "1G"), ("a", "<&>")])),
            }),
        ),
        (
            "NameRequest",
            encode_go(&volume::NameRequest { name: "v1".into() }),
        ),
        (
            "MountRequest",
            encode_go(&volume::MountRequest {
                name: "v1".into(),
                id: "da8de254".into(),
            }),
        ),
        ("EmptyRequest", encode_go(&volume::EmptyRequest {})),
        ("ErrResponse ok", encode_go(&volume::ErrResponse::default())),
        (
            "ErrResponse err",
            encode_go(&volume::ErrResponse {
                err: "no such volume: v1".into(),
            }),
        ),
        (
            "MountpointResponse",
            encode_go(&volume::MountpointResponse {
                mountpoint: "/data/v1".into(),
                err: String::new(),
            }),
        ),
        (
            "GetResponse full",
            encode_go(&volume::GetResponse {
                volume: Some(full.clone()),
                err: String::new(),
            }),
        ),
        (
            "GetResponse none",
            encode_go(&volume::GetResponse::default()),
        ),
        (
            "ListResponse",
            encode_go(&volume::ListResponse {
                volumes: Some(vec![full, bare]),
                err: String::new(),
            }),
        ),
        (
            "ListResponse empty",
            encode_go(&volume::ListResponse {
                volumes: Some(vec![]),
                err: String::new(),
            }),
        ),
        (
            "ListResponse nil",
            encode_go(&volume::ListResponse::default()),
        ),
        (
            "CapabilitiesResponse",
            encode_go(&volume::CapabilitiesResponse {
                capabilities: volume::Capability {
                    scope: "global".into(),
                },
                err: String::new(),
            }),
        ),
    ]);
    insta::assert_snapshot!(bytes);
}

#[test]
fn authz_bodies() {
    let request = authz::AuthzRequest {
        user: "client".into(),
        user_authn_method: "TLS".into(),
        request_method: "POST".into(),
        request_uri: "/v1.41/containers/create?name=a&b".into(),
        request_body: Some(b"{\"Image\":\"bb\"}".to_vec()),
        request_headers: Some(opts(&[
            ("User-Agent", "Docker-Client/28.2.2 (linux)"),
            ("Content-Type", "application/json"),
        ])),
        request_peer_certificates: Some(vec!["LS0tLS1CRUdJTg==".into()]),
        ..Default::default()
    };
    let response = authz::AuthzRequest {
        request_method: "GET".into(),
        request_uri: "/_ping".into(),
        response_status_code: 200,
        response_body: Some(b"OK".to_vec()),
        response_headers: Some(opts(&[("Api-Version", "1.41")])),
        ..Default::default()
    };
    let bytes = render(&[
        ("AuthzRequest AuthZReq", encode_go(&request)),
        ("AuthzRequest AuthZRes", encode_go(&response)),
        (
            "AuthzRequest empty",
            encode_go(&authz::AuthzRequest::default()),
        ),
        (
            "AuthzResponse allow",
            encode_go(&authz::AuthzResponse::allow()),
        ),
        (
            "AuthzResponse deny",
            encode_go(&authz::AuthzResponse::deny("no volumes for you")),
        ),
    ]);
    insta::assert_snapshot!(bytes);
}

#[test]
fn ipam_bodies() {
    let bytes = render(&[
        (
            "CapabilitiesResponse",
            encode_go(&ipam::CapabilitiesResponse::default()),
        ),
        (
            "AddressSpacesResponse",
            encode_go(&ipam::AddressSpacesResponse {
                local_default_address_space: "l".into(),
                global_default_address_space: "g".into(),
                error: String::new(),
            }),
        ),
        (
            "RequestPoolRequest",
            encode_go(&ipam::RequestPoolRequest {
                address_space: "l".into(),
                pool: "10.1.0.0/16".into(),
                sub_pool: String::new(),
                options: Some(BTreeMap::new()),
                v6: false,
            }),
        ),
        (
            "RequestPoolResponse",
            encode_go(&ipam::RequestPoolResponse {
                pool_id: "p1".into(),
                pool: "10.1.0.0/16".into(),
                data: Some(opts(&[("com.docker.network.gateway", "10.1.0.1/16")])),
                error: String::new(),
            }),
        ),
        (
            "RequestPoolResponse nil data",
            encode_go(&ipam::RequestPoolResponse {
                pool_id: "p1".into(),
                pool: "10.1.0.0/16".into(),
                data: None,
                error: String::new(),
            }),
        ),
        (
            "ReleasePoolRequest",
            encode_go(&ipam::ReleasePoolRequest {
                pool_id: "p1".into(),
            }),
        ),
        (
            "RequestAddressRequest",
            encode_go(&ipam::RequestAddressRequest {
                pool_id: "p1".into(),
                address: "10.1.0.1".into(),
                options: Some(opts(&[(
                    ipam::REQUEST_ADDRESS_TYPE,
                    ipam::GATEWAY_ADDRESS_TYPE,
                )])),
            }),
        ),
        (
            "RequestAddressResponse",
            encode_go(&ipam::RequestAddressResponse {
                address: "10.1.0.1/16".into(),
                data: None,
                error: String::new(),
            }),
        ),
        (
            "ReleaseAddressRequest",
            encode_go(&ipam::ReleaseAddressRequest {
                pool_id: "p1".into(),
                address: "10.1.0.7".into(),
            }),
        ),
        (
            "ErrorResponse ok",
            encode_go(&ipam::ErrorResponse::default()),
        ),
        (
            "ErrorResponse err",
            encode_go(&ipam::ErrorResponse {
                error: "pool overlaps".into(),
            }),
        ),
    ]);
    insta::assert_snapshot!(bytes);
}

#[test]
fn network_bodies() {
    let pool = network::IpamData {
        address_space: "LocalDefault".into(),
        pool: "172.20.0.0/16".into(),
        gateway: "172.20.0.1/16".into(),
        aux_addresses: None,
    };
    let create = network::CreateNetworkRequest {
        network_id: "n1".into(),
        options: Some(object(
            json!({"com.docker.network.generic": {"opt1": "drv1"}, "com.docker.network.enable_ipv6": false}),
        )),
        ipv4_data: Some(vec![pool]),
        ipv6_data: Some(vec![]),
    };
    let endpoint = network::CreateEndpointRequest {
        network_id: "n1".into(),
        endpoint_id: "e1".into(),
        interface: Some(network::EndpointInterface {
            address: "172.20.0.2/16".into(),
            address_ipv6: String::new(),
            mac_address: String::new(),
        }),
        options: None,
    };
    let join = network::JoinResponse {
        interface_name: Some(network::InterfaceName {
            src_name: "veth0".into(),
            dst_name: String::new(),
            dst_prefix: "eth".into(),
        }),
        gateway: "172.20.0.1".into(),
        static_routes: Some(vec![network::StaticRoute {
            destination: "10.0.0.0/8".into(),
            route_type: 0,
            next_hop: "172.20.0.254".into(),
        }]),
        ..Default::default()
    };
    let bytes = render(&[
        (
            "CapabilitiesResponse",
            encode_go(&network::CapabilitiesResponse {
                scope: "local".into(),
                connectivity_scope: String::new(),
                err: String::new(),
            }),
        ),
        ("CreateNetworkRequest", encode_go(&create)),
        (
            "NetworkRequest",
            encode_go(&network::NetworkRequest {
                network_id: "n1".into(),
            }),
        ),
        ("CreateEndpointRequest", encode_go(&endpoint)),
        (
            "CreateEndpointResponse none",
            encode_go(&network::CreateEndpointResponse::default()),
        ),
        (
            "EndpointRequest",
            encode_go(&network::EndpointRequest {
                network_id: "n1".into(),
                endpoint_id: "e1".into(),
            }),
        ),
        (
            "JoinRequest",
            encode_go(&network::JoinRequest {
                network_id: "n1".into(),
                endpoint_id: "e1".into(),
                sandbox_key: "/var/run/docker/netns/abc".into(),
                options: None,
            }),
        ),
        ("JoinResponse", encode_go(&join)),
        (
            "EndpointInfoResponse",
            encode_go(&network::EndpointInfoResponse::default()),
        ),
        (
            "DiscoveryNotification",
            encode_go(&network::DiscoveryNotification {
                discovery_type: 1,
                discovery_data: json!({"self": true, "Address": "10.0.0.1"}),
            }),
        ),
        (
            "ErrResponse err",
            encode_go(&network::ErrResponse {
                err: "no such network".into(),
            }),
        ),
    ]);
    insta::assert_snapshot!(bytes);
}

// ---------------------------------------------------------------------------
// Golden traces.

/// Decodes `golden` into `T` as the receiving side would, re-encodes it, and
/// returns the result as JSON text (key order kept), for exact comparison.
fn reencode<T: DeserializeOwned + Serialize + Default>(golden: &Value) -> String {
    let bytes = serde_json::to_vec(golden).unwrap();
    let typed: T = decode_go(&bytes).unwrap_or_else(|e| panic!("decode {golden}: {e}"));
    let value: Value = serde_json::from_slice(&encode_go(&typed)).unwrap();
    value.to_string()
}

/// The request and response types of one RPC path; `None` for a request whose
/// real body is empty (the trace shows it as `{}`) and has no wire type.
type Check = (Option<fn(&Value) -> String>, fn(&Value) -> String);

fn types_of(path: &str) -> Check {
    use volume as v;
    match path {
        "/Plugin.Activate" => (None, reencode::<plugin::ActivateResponse>),
        "/VolumeDriver.Create" => (
            Some(reencode::<v::CreateRequest>),
            reencode::<v::ErrResponse>,
        ),
        "/VolumeDriver.Remove" => (Some(reencode::<v::NameRequest>), reencode::<v::ErrResponse>),
        "/VolumeDriver.Mount" => (
            Some(reencode::<v::MountRequest>),
            reencode::<v::MountpointResponse>,
        ),
        "/VolumeDriver.Path" => (
            Some(reencode::<v::NameRequest>),
            reencode::<v::MountpointResponse>,
        ),
        "/VolumeDriver.Unmount" => (
            Some(reencode::<v::MountRequest>),
            reencode::<v::ErrResponse>,
        ),
        "/VolumeDriver.Get" => (Some(reencode::<v::NameRequest>), reencode::<v::GetResponse>),
        "/VolumeDriver.List" => (
            Some(reencode::<v::EmptyRequest>),
            reencode::<v::ListResponse>,
        ),
        "/VolumeDriver.Capabilities" => (
            Some(reencode::<v::EmptyRequest>),
            reencode::<v::CapabilitiesResponse>,
        ),
        "/AuthZPlugin.AuthZReq" | "/AuthZPlugin.AuthZRes" => (
            Some(reencode::<authz::AuthzRequest>),
            reencode::<authz::AuthzResponse>,
        ),
        "/IpamDriver.GetCapabilities" => (None, reencode::<ipam::CapabilitiesResponse>),
        "/IpamDriver.GetDefaultAddressSpaces" => (None, reencode::<ipam::AddressSpacesResponse>),
        "/IpamDriver.RequestPool" => (
            Some(reencode::<ipam::RequestPoolRequest>),
            reencode::<ipam::RequestPoolResponse>,
        ),
        "/IpamDriver.ReleasePool" => (
            Some(reencode::<ipam::ReleasePoolRequest>),
            reencode::<ipam::ErrorResponse>,
        ),
        "/IpamDriver.RequestAddress" => (
            Some(reencode::<ipam::RequestAddressRequest>),
            reencode::<ipam::RequestAddressResponse>,
        ),
        "/IpamDriver.ReleaseAddress" => (
            Some(reencode::<ipam::ReleaseAddressRequest>),
            reencode::<ipam::ErrorResponse>,
        ),
        other => panic!("golden trace has a path this test does not map: {other}"),
    }
}

/// The recording plugin wrote `"Err": ""` on success; the SDK omits an empty
/// in-band error (dockerd reads absent and empty alike, protocol.md §3.3).
fn without_empty_err(resp: &Value) -> Value {
    let mut resp = resp.clone();
    if let Value::Object(map) = &mut resp {
        if map.get("Err") == Some(&json!("")) {
            map.remove("Err");
        }
    }
    resp
}

/// Checks every request and response of one trace; returns how many RPCs it saw.
fn check_trace(file: &str) -> usize {
    let path = format!("{}/tests/golden/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut rpcs = 0;
    for (n, line) in text.lines().enumerate() {
        let entry: Value = serde_json::from_str(line).unwrap();
        let Some(rpc) = entry.get("path").and_then(Value::as_str) else {
            continue; // a command mark or a result
        };
        rpcs += 1;
        let at = format!("{file}:{} {rpc}", n + 1);
        let (req_type, resp_type) = types_of(rpc);
        match req_type {
            Some(reencode) => assert_eq!(
                reencode(&entry["req"]),
                entry["req"].to_string(),
                "{at} req"
            ),
            None => assert_eq!(
                entry["req"],
                json!({}),
                "{at}: the recorder shows an empty body as {{}}"
            ),
        }
        let resp = without_empty_err(&entry["resp"]);
        assert_eq!(resp_type(&resp), resp.to_string(), "{at} resp");
    }
    rpcs
}

#[test]
fn golden_volume_trace_round_trips() {
    assert_eq!(check_trace("s-volume.jsonl"), 37);
}

#[test]
fn golden_ipam_trace_round_trips() {
    assert_eq!(check_trace("s-ipam.jsonl"), 15);
}

#[test]
fn golden_authz_trace_round_trips() {
    assert_eq!(check_trace("s-authz.jsonl"), 38);
}

#[test]
fn golden_request_bytes_match_go_encoding() {
    // The one request body protocol.md §3.1 gives byte for byte.
    let create = volume::CreateRequest {
        name: "v1".into(),
        opts: None,
    };
    assert_eq!(encode_go(&create), b"{\"Name\":\"v1\",\"Opts\":null}\n");
    assert_eq!(encode_go(&volume::EmptyRequest {}), b"{}\n");
}
