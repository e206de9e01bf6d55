//! The text on each arrow: a method name and the few fields a reader needs
//! to follow a lifecycle (volume name, shortened mount ID, pool and address,
//! authz verdict, errors, latency).
//!
//! Bodies are decoded with the SDK's wire types, the one place that knows
//! the protocols' field names; the labels use plain words instead.

use drydock_engine::trace::RpcRecord;
use drydock_sdk::wire::{authz, decode_go, ipam, network, plugin, volume};
use serde::de::DeserializeOwned;

/// What a plugin is, from the methods it was called with.
pub fn plugin_role<'a>(methods: impl IntoIterator<Item = &'a str>) -> &'static str {
    for m in methods {
        let prefix = m.split('.').next().unwrap_or("");
        let role = match prefix {
            "VolumeDriver" => "volume plugin",
            "IpamDriver" => "IPAM plugin",
            "NetworkDriver" => "network plugin",
            "AuthZPlugin" => "authz plugin",
            _ => continue,
        };
        return role;
    }
    "plugin"
}

/// Replaces each run of 24 or more hex digits (container, mount, network and
/// endpoint IDs) by its first 12 and an ellipsis, as `docker ps` shows IDs.
pub fn shorten_ids(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String| {
        if run.len() >= 24 {
            out.push_str(&run[..12]);
            out.push('…');
        } else {
            out.push_str(run);
        }
        run.clear();
    };
    for c in text.chars() {
        if c.is_ascii_hexdigit() {
            run.push(c);
        } else {
            flush(&mut run, &mut out);
            out.push(c);
        }
    }
    flush(&mut run, &mut out);
    out
}

/// A latency for people: `85 µs`, `1.2 ms`, `15.0 s`.
pub fn latency(micros: u64) -> String {
    if micros < 1000 {
        format!("{micros} µs")
    } else if micros < 1_000_000 {
        format!("{:.1} ms", micros as f64 / 1000.0)
    } else {
        format!("{:.1} s", micros as f64 / 1e6)
    }
}

/// What a request is for, in one word: the last segment of its path
/// (`start`, `wait`, `attach`), to say which open request an answer closes.
pub fn endpoint(uri: &str) -> &str {
    let path = uri.split('?').next().unwrap_or(uri);
    path.rsplit('/').find(|s| !s.is_empty()).unwrap_or(path)
}

/// The engine's answer to the CLI for a request to `uri`: the status, or the
/// error dockerd returned.
pub fn api_answer(uri: &str, status: Option<u16>, error: Option<&str>) -> String {
    let text = match (status, error) {
        (Some(s), Some(e)) => format!("{s} {e}"),
        (None, Some(e)) => e.to_owned(),
        (Some(s), None) => s.to_string(),
        // The handler wrote no status of its own: the client saw Go's
        // implicit 200, or for attach the 101 of the upgraded stream.
        (None, None) if uri.contains("/attach?") => "101 stream ended".to_owned(),
        (None, None) => "200".to_owned(),
    };
    shorten_ids(&text)
}

fn decode<T: DeserializeOwned + Default>(body: &[u8]) -> T {
    decode_go(body).unwrap_or_default()
}

/// `-o k=v` pairs, or nothing.
fn opts(map: &Option<std::collections::BTreeMap<String, String>>) -> String {
    map.iter()
        .flatten()
        .map(|(k, v)| format!(" -o {k}={v}"))
        .collect()
}

/// An address request's wanted address: a given one or "any", and what for.
fn wanted_address(r: &ipam::RequestAddressRequest) -> String {
    let what = if r.address.is_empty() {
        "any address".to_owned()
    } else {
        format!("address {}", r.address)
    };
    let gateway = r
        .options
        .as_ref()
        .and_then(|o| o.get(ipam::REQUEST_ADDRESS_TYPE))
        .is_some_and(|t| t == ipam::GATEWAY_ADDRESS_TYPE);
    if gateway {
        format!("{what} for the gateway")
    } else {
        what
    }
}

/// The request arrow's text.
fn request(c: &RpcRecord) -> String {
    let body = &c.request[..];
    let fields = match c.method.as_str() {
        "VolumeDriver.Create" => {
            let r: volume::CreateRequest = decode(body);
            format!("{}{}", r.name, opts(&r.opts))
        }
        "VolumeDriver.Get" | "VolumeDriver.Path" | "VolumeDriver.Remove" => {
            decode::<volume::NameRequest>(body).name
        }
        "VolumeDriver.Mount" | "VolumeDriver.Unmount" => {
            let r: volume::MountRequest = decode(body);
            format!("{} id {}", r.name, r.id)
        }
        "IpamDriver.RequestPool" => {
            let r: ipam::RequestPoolRequest = decode(body);
            let mut s = if r.pool.is_empty() {
                "any pool".to_owned()
            } else {
                format!("pool {}", r.pool)
            };
            if !r.sub_pool.is_empty() {
                s.push_str(&format!(" range {}", r.sub_pool));
            }
            if r.v6 {
                s.push_str(" IPv6");
            }
            s
        }
        "IpamDriver.ReleasePool" => {
            format!("pool {}", decode::<ipam::ReleasePoolRequest>(body).pool_id)
        }
        "IpamDriver.RequestAddress" => {
            let r: ipam::RequestAddressRequest = decode(body);
            format!("{} in {}", wanted_address(&r), r.pool_id)
        }
        "IpamDriver.ReleaseAddress" => {
            let r: ipam::ReleaseAddressRequest = decode(body);
            format!("address {} in {}", r.address, r.pool_id)
        }
        "AuthZPlugin.AuthZReq" => {
            let r: authz::AuthzRequest = decode(body);
            format!("{} {}", r.request_method, r.request_uri)
        }
        "AuthZPlugin.AuthZRes" => {
            let r: authz::AuthzRequest = decode(body);
            let status = match r.response_status_code {
                0 => String::new(),
                s => format!(" → {s}"),
            };
            format!("{} {}{status}", r.request_method, r.request_uri)
        }
        m if m.starts_with("NetworkDriver.") => {
            let r: network::EndpointRequest = decode(body);
            let mut s = String::new();
            if !r.network_id.is_empty() {
                s.push_str(&format!("network {}", r.network_id));
            }
            if !r.endpoint_id.is_empty() {
                s.push_str(&format!(" endpoint {}", r.endpoint_id));
            }
            s
        }
        _ => String::new(),
    };
    let text = if fields.trim().is_empty() {
        c.method.clone()
    } else {
        format!("{} {}", c.method, fields.trim())
    };
    shorten_ids(&text)
}

/// What a successful (HTTP 200) reply says; `Err` when it carries an in-band
/// error or a denial.
fn reply_fields(c: &RpcRecord, body: &[u8]) -> Result<String, String> {
    let in_band = |e: String, ok: String| {
        if e.is_empty() {
            Ok(ok)
        } else {
            Err(format!("Err: {e}"))
        }
    };
    match c.method.as_str() {
        "Plugin.Activate" => {
            let r: plugin::ActivateResponse = decode(body);
            Ok(format!(
                "implements {}",
                r.implements.unwrap_or_default().join(", ")
            ))
        }
        "VolumeDriver.Create" | "VolumeDriver.Remove" | "VolumeDriver.Unmount" => {
            let r: volume::ErrResponse = decode(body);
            in_band(r.err, "ok".into())
        }
        "VolumeDriver.Mount" | "VolumeDriver.Path" => {
            let r: volume::MountpointResponse = decode(body);
            in_band(r.err, format!("mountpoint {}", r.mountpoint))
        }
        "VolumeDriver.Get" => {
            let r: volume::GetResponse = decode(body);
            // The mountpoint matters in Mount's reply; here it would only
            // widen the picture.
            let ok = match r.volume {
                Some(v) => format!("found {}", v.name),
                None => "no such volume".to_owned(),
            };
            in_band(r.err, ok)
        }
        "VolumeDriver.List" => {
            let r: volume::ListResponse = decode(body);
            let n = r.volumes.map_or(0, |v| v.len());
            in_band(
                r.err,
                format!("{n} volume{}", if n == 1 { "" } else { "s" }),
            )
        }
        "VolumeDriver.Capabilities" => {
            let r: volume::CapabilitiesResponse = decode(body);
            let scope = if r.capabilities.scope.is_empty() {
                "local (default)".to_owned()
            } else {
                r.capabilities.scope
            };
            in_band(r.err, format!("scope {scope}"))
        }
        "IpamDriver.GetCapabilities" => {
            let r: ipam::CapabilitiesResponse = decode(body);
            in_band(
                r.error,
                format!(
                    "MAC address needed: {}, replay: {}",
                    r.requires_mac_address, r.requires_request_replay
                ),
            )
        }
        "IpamDriver.GetDefaultAddressSpaces" => {
            let r: ipam::AddressSpacesResponse = decode(body);
            in_band(
                r.error,
                format!(
                    "spaces {} / {}",
                    r.local_default_address_space, r.global_default_address_space
                ),
            )
        }
        "IpamDriver.RequestPool" => {
            let r: ipam::RequestPoolResponse = decode(body);
            let gateway = r
                .data
                .as_ref()
                .and_then(|d| d.get(ipam::GATEWAY_ADDRESS_TYPE))
                .map(|g| format!(" gateway {g}"))
                .unwrap_or_default();
            in_band(
                r.error,
                format!("pool {} id {}{gateway}", r.pool, r.pool_id),
            )
        }
        "IpamDriver.RequestAddress" => {
            let r: ipam::RequestAddressResponse = decode(body);
            in_band(r.error, format!("address {}", r.address))
        }
        "IpamDriver.ReleasePool" | "IpamDriver.ReleaseAddress" => {
            let r: ipam::ErrorResponse = decode(body);
            in_band(r.error, "ok".into())
        }
        "AuthZPlugin.AuthZReq" | "AuthZPlugin.AuthZRes" => {
            let r: authz::AuthzResponse = decode(body);
            if r.allow {
                Ok("allow".into())
            } else if r.msg.is_empty() {
                Err("deny".into())
            } else {
                Err(format!("deny: {}", r.msg))
            }
        }
        m if m.starts_with("NetworkDriver.") => {
            let r: network::ErrResponse = decode(body);
            in_band(r.err, "ok".into())
        }
        _ => Ok("ok".into()),
    }
}

/// The request text, the reply text, and whether the reply is a failure
/// (transport error, non-200 status, in-band error, authz denial).
pub fn rpc(c: &RpcRecord) -> (String, String, bool) {
    let mut failed = true;
    let mut reply = match (c.status, &c.response, &c.error) {
        (Some(200), Some(body), None) => match reply_fields(c, body) {
            Ok(text) => {
                failed = false;
                text
            }
            Err(e) => e,
        },
        (Some(status), _, Some(e)) => format!("{status} {e}"),
        (Some(status), _, None) => format!("{status}"),
        (None, _, e) => format!("no answer: {}", e.as_deref().unwrap_or("")),
    };
    reply = shorten_ids(&reply);
    reply.push_str(&format!(" · {}", latency(c.micros)));
    // dockerd's own waiting (retry backoffs, timeouts) on the engine's
    // clock: virtual in scenario runs, where the wall time misses it.
    let waited = (c.clock_micros > 0).then(|| latency(c.clock_micros));
    if c.attempts > 1 {
        reply.push_str(&format!(" · {} attempts", c.attempts));
        if let Some(w) = &waited {
            reply.push_str(&format!(" over {w}"));
        }
        if c.empty_body_retry {
            reply.push_str(", resent with an empty body");
        }
    } else if let Some(w) = waited {
        reply.push_str(&format!(" · after {w}"));
    }
    (request(c), reply, failed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn record(method: &str, request: &str, status: Option<u16>, response: &str) -> RpcRecord {
        RpcRecord {
            plugin: "p".into(),
            method: method.into(),
            request: Bytes::from(request.to_owned()),
            response: status.map(|_| Bytes::from(response.to_owned())),
            status,
            error: None,
            micros: 1500,
            clock_micros: 0,
            attempts: 1,
            empty_body_retry: false,
        }
    }

    #[test]
    fn mount_shows_the_volume_and_a_short_id() {
        let id = "0123456789abcdef".repeat(4);
        let c = record(
            "VolumeDriver.Mount",
            &format!(r#"{{"Name":"data","ID":"{id}"}}"#),
            Some(200),
            r#"{"Mountpoint":"/m/data"}"#,
        );
        let (req, reply, failed) = rpc(&c);
        assert_eq!(req, "VolumeDriver.Mount data id 0123456789ab…");
        assert_eq!(reply, "mountpoint /m/data · 1.5 ms");
        assert!(!failed);
    }

    #[test]
    fn in_band_errors_and_denials_are_failures() {
        let c = record(
            "VolumeDriver.Create",
            r#"{"Name":"x","Opts":{"size":"1G"}}"#,
            Some(200),
            r#"{"Err":"disk full"}"#,
        );
        let (req, reply, failed) = rpc(&c);
        assert_eq!(req, "VolumeDriver.Create x -o size=1G");
        assert_eq!(reply, "Err: disk full · 1.5 ms");
        assert!(failed);
        let c = record(
            "AuthZPlugin.AuthZReq",
            r#"{"RequestMethod":"POST","RequestUri":"/v1.41/volumes/create"}"#,
            Some(200),
            r#"{"Allow":false,"Msg":"no volumes"}"#,
        );
        let (req, reply, failed) = rpc(&c);
        assert_eq!(req, "AuthZPlugin.AuthZReq POST /v1.41/volumes/create");
        assert!(reply.starts_with("deny: no volumes"), "{reply}");
        assert!(failed);
    }

    #[test]
    fn transport_errors_and_statuses_are_failures() {
        let mut c = record("VolumeDriver.Get", r#"{"Name":"v"}"#, Some(500), "{}");
        c.error = Some("boom".into());
        c.attempts = 3;
        c.clock_micros = 3_000_000;
        let (_, reply, failed) = rpc(&c);
        assert_eq!(reply, "500 boom · 1.5 ms · 3 attempts over 3.0 s");
        assert!(failed);
        let mut c = record("VolumeDriver.Get", r#"{"Name":"v"}"#, None, "");
        c.error = Some("connection refused".into());
        c.clock_micros = 120_000_000;
        let (_, reply, failed) = rpc(&c);
        assert!(
            reply.starts_with("no answer: connection refused")
                && reply.ends_with(" · after 120.0 s"),
            "{reply}"
        );
        assert!(failed);
    }

    #[test]
    fn ipam_labels_name_pools_and_gateways() {
        let c = record(
            "IpamDriver.RequestAddress",
            r#"{"PoolID":"p1","Address":"","Options":{"RequestAddressType":"com.docker.network.gateway"}}"#,
            Some(200),
            r#"{"Address":"10.0.0.1/24"}"#,
        );
        let (req, reply, _) = rpc(&c);
        assert_eq!(
            req,
            "IpamDriver.RequestAddress any address for the gateway in p1"
        );
        assert_eq!(reply, "address 10.0.0.1/24 · 1.5 ms");
    }

    #[test]
    fn only_long_hex_runs_are_shortened() {
        let id = "a".repeat(64);
        assert_eq!(
            shorten_ids(&format!("POST /v1.41/containers/{id}/start")),
            "POST /v1.41/containers/aaaaaaaaaaaa…/start"
        );
        // Names and short numbers stay.
        assert_eq!(
            shorten_ids("deadbeef cafe 10.0.0.1"),
            "deadbeef cafe 10.0.0.1"
        );
    }

    #[test]
    fn answers_can_name_their_request() {
        assert_eq!(
            endpoint("/v1.41/containers/abc/wait?condition=next-exit"),
            "wait"
        );
        assert_eq!(endpoint("/v1.41/containers/abc/start"), "start");
        assert_eq!(endpoint("/_ping"), "_ping");
    }

    #[test]
    fn latencies_read_in_the_right_unit() {
        assert_eq!(latency(85), "85 µs");
        assert_eq!(latency(1234), "1.2 ms");
        assert_eq!(latency(15_000_000), "15.0 s");
    }
}
