//! Bad input: generated hostile requests to every endpoint of the SDK and
//! the three reference plugins, through `Plugin::handle` (exactly what the
//! server does after reading a request) — arbitrary bytes, truncated bodies,
//! wrong types, deep nesting, hostile names, huge values, unknown methods.
//!
//! For every input: no panic, no hang, a JSON object back, a non-200 only
//! with a non-empty `Err`; an input the protocol cannot accept is refused
//! (out of band or in band; authz never allows it); and a refused input
//! leaves the state as it was (compared every [`BATCH`] inputs: the `List`
//! answer and the state files).
//!
//! Size: `DRYDOCK_BADINPUT_INPUTS` in total (default 1,000,000), split over
//! the targets; `DRYDOCK_HARDEN_SEED`. The raw-socket part is in `sockets.rs`.

use super::{figures, knob, seed, Rng};
use bytes::Bytes;
use drydock_sdk::wire::network::*;
use drydock_sdk::{NetworkDriver, Plugin, PluginError};
use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Inputs between two state comparisons.
const BATCH: u64 = 64;
/// How long one call may take before it counts as a hang.
const HANG: Duration = Duration::from_secs(20);

/// One endpoint: its RPC, a valid body to mutate, and which fields hold
/// names or IDs (where hostile strings go).
struct Endpoint {
    rpc: &'static str,
    /// Whether the method reads its body at all (`List` does not).
    reads_body: bool,
    template: Value,
    names: &'static [&'static str],
}

fn ep(rpc: &'static str, template: Value, names: &'static [&'static str]) -> Endpoint {
    Endpoint {
        rpc,
        reads_body: true,
        template,
        names,
    }
}

fn bodiless(rpc: &'static str) -> Endpoint {
    Endpoint {
        rpc,
        reads_body: false,
        template: json!({}),
        names: &[],
    }
}

/// A plugin under test and how to see its state.
struct Target {
    label: &'static str,
    plugin: Plugin,
    endpoints: Vec<Endpoint>,
    /// Hostile strings in `names` fields must be refused (the volume plugin
    /// validates names; IPAM refuses unknown pools and bad addresses).
    names_refused: bool,
    /// Authz: a malformed request is never allowed.
    authz: bool,
    /// Files whose bytes are the durable state.
    state_files: Vec<PathBuf>,
}

/// Strings no plugin should take for a name, ID, pool or address.
fn hostile_string(rng: &mut Rng) -> Value {
    let long = |n: usize| "a".repeat(n);
    let s: String = match rng.below(16) {
        0 => "..".into(),
        1 => ".".into(),
        2 => "/".into(),
        3 => "../../etc".into(),
        4 => "a/../../etc/passwd".into(),
        5 => "\0".into(),
        6 => "v\0x".into(),
        7 => long(256 + rng.below(4000) as usize),
        8 => "".into(),
        9 => " ".into(),
        10 => "-rf".into(),
        11 => "v\n2".into(),
        12 => "\u{202e}v".into(),
        13 => "/etc/passwd".into(),
        14 => "\\..\\x".into(),
        _ => format!("{}/{}", long(rng.below(10) as usize + 1), ".."),
    };
    Value::String(s)
}

/// A JSON value of any type but a string (a wrong type for every string field).
fn wrong_type(rng: &mut Rng, depth: u32) -> Value {
    match rng.below(if depth > 3 { 3 } else { 6 }) {
        0 => json!(rng.below(1 << 40) as i64 - (1 << 39)),
        1 => json!(true),
        2 => json!(1.5e300),
        3 => Value::Array(
            (0..rng.below(4))
                .map(|_| wrong_type(rng, depth + 1))
                .collect(),
        ),
        4 => {
            let mut m = Map::new();
            for i in 0..rng.below(4) {
                m.insert(format!("k{i}"), wrong_type(rng, depth + 1));
            }
            Value::Object(m)
        }
        _ => Value::Array(vec![]),
    }
}

/// Nesting `depth` deep, of arrays or objects.
fn deep(rng: &mut Rng, depth: usize) -> String {
    if rng.chance(1, 2) {
        format!("{}{}", "[".repeat(depth), "]".repeat(depth))
    } else {
        format!("{}1{}", "{\"a\":".repeat(depth), "}".repeat(depth))
    }
}

/// Whether Go's `json.Decoder` would fill a request struct from `body`: its
/// first value is an object or `null` (what follows it is never read — the
/// SDK does the same, so `{}garbage` is a valid empty request).
fn decodable(body: &[u8]) -> bool {
    matches!(
        serde_json::Deserializer::from_slice(body)
            .into_iter::<Value>()
            .next(),
        Some(Ok(Value::Object(_) | Value::Null))
    )
}

/// What a generator made, and what the answer must be.
struct Input {
    rpc: String,
    body: Vec<u8>,
    /// The plugin must refuse it.
    must_refuse: bool,
    kind: &'static str,
}

fn generate(rng: &mut Rng, t: &Target) -> Input {
    let e = &t.endpoints[rng.below(t.endpoints.len() as u64) as usize];
    let rpc = e.rpc.to_owned();
    let templ = serde_json::to_vec(&e.template).unwrap();
    let with_field = |field: &str, v: Value| {
        let mut body = e.template.clone();
        body[field] = v;
        serde_json::to_vec(&body).unwrap()
    };
    let refuse = e.reads_body;
    match rng.below(100) {
        // Arbitrary bytes: JSON only by accident (then not necessarily refused).
        0..=14 => {
            let max = if rng.chance(1, 10) { 4096 } else { 64 };
            let n = rng.below(max) as usize;
            let body: Vec<u8> = (0..n).map(|_| rng.below(256) as u8).collect();
            let is_json = decodable(&body);
            Input {
                rpc,
                must_refuse: refuse && !is_json,
                body,
                kind: "bytes",
            }
        }
        // Bytes drawn from JSON's own alphabet: closer misses.
        15..=24 => {
            let alphabet = b"{}[]\":,0123456789.eE+-truefalsnl \\u\n";
            let n = rng.below(48) as usize;
            let body: Vec<u8> = (0..n)
                .map(|_| alphabet[rng.below(alphabet.len() as u64) as usize])
                .collect();
            let is_json = decodable(&body);
            Input {
                rpc,
                must_refuse: refuse && !is_json,
                body,
                kind: "json-ish bytes",
            }
        }
        // A valid body cut short.
        25..=39 => {
            let cut = rng.below(templ.len() as u64) as usize;
            Input {
                rpc,
                body: templ[..cut].to_vec(),
                must_refuse: refuse,
                kind: "truncated",
            }
        }
        // A known field with a wrong type.
        40..=54 if e.template.as_object().is_some_and(|m| !m.is_empty()) => {
            let fields: Vec<&String> = e.template.as_object().unwrap().keys().collect();
            let field = (*rng.pick(&fields)).clone();
            let original = &e.template[&field];
            let mut v = wrong_type(rng, 0);
            // Numbers and booleans: a string is the wrong type.
            if original.is_number() || original.is_boolean() {
                v = json!("not a number");
            }
            // Maps and lists: a string is wrong; null is fine in Go.
            if original.is_object() {
                v = json!("not a map");
            }
            if original.is_array() {
                v = json!("not a list");
            }
            let must = refuse && v != *original && !v.is_null();
            Input {
                rpc,
                body: with_field(&field, v),
                must_refuse: must,
                kind: "wrong type",
            }
        }
        // Deep nesting, at the top or in a field.
        55..=61 => {
            let max = if rng.chance(1, 200) { 100_000 } else { 300 };
            let depth = 1 + rng.below(max) as usize;
            let nested = deep(rng, depth);
            let field = e.template.as_object().and_then(|m| m.keys().next());
            let (body, must) = match field {
                // Every first field is a string or a number: nesting is a wrong type.
                Some(field) if rng.chance(1, 2) => (format!("{{\"{field}\":{nested}}}"), refuse),
                // At the top, an array is not a request; `{"a":{…}}` is one with
                // an unknown key (accepted, or refused when too deep).
                _ => (nested.clone(), refuse && nested.starts_with('[')),
            };
            Input {
                rpc,
                body: body.into_bytes(),
                must_refuse: must,
                kind: "deep",
            }
        }
        // A hostile name in a name field.
        62..=79 if !e.names.is_empty() => {
            let field = *rng.pick(e.names);
            let v = hostile_string(rng);
            // An empty IPAM `Address` or `Pool` means "any": not hostile.
            let must = t.names_refused && v != json!("");
            let body = with_field(field, v);
            Input {
                rpc,
                body,
                must_refuse: must,
                kind: "hostile name",
            }
        }
        // Non-UTF-8 bytes and lone surrogates inside a name.
        80..=84 if !e.names.is_empty() => {
            let field = *rng.pick(e.names);
            let mut body = format!("{{\"{field}\":\"v").into_bytes();
            match rng.below(3) {
                0 => body.extend_from_slice(&[0xff, 0xfe]),
                1 => body.extend_from_slice(b"\\ud800"),
                _ => body.extend_from_slice(&[0xc3]),
            }
            body.extend_from_slice(b"\"}");
            Input {
                rpc,
                body,
                must_refuse: refuse,
                kind: "non-UTF-8 name",
            }
        }
        // A huge name (megabytes).
        85 if !e.names.is_empty() && rng.chance(1, 500) => {
            let field = *rng.pick(e.names);
            let body = with_field(field, json!("n".repeat(1 << 20)));
            Input {
                rpc,
                body,
                must_refuse: t.names_refused,
                kind: "huge",
            }
        }
        // Unknown or malformed method paths.
        86..=89 => {
            let rpc = match rng.below(6) {
                0 => format!("{}x", e.rpc),
                1 => e.rpc.split('.').next().unwrap().to_owned(),
                2 => format!("{}/../{}", e.rpc, e.rpc),
                3 => "..".into(),
                4 => format!("{}.", e.rpc),
                _ => "Plugin.Deactivate".into(),
            };
            Input {
                rpc,
                body: templ,
                must_refuse: true,
                kind: "unknown method",
            }
        }
        // Random JSON objects: the known keys in any case, random values.
        _ => {
            let mut m = Map::new();
            if let Some(fields) = e.template.as_object() {
                for k in fields.keys() {
                    if rng.chance(2, 3) {
                        let key = if rng.chance(1, 4) {
                            k.to_lowercase()
                        } else {
                            k.clone()
                        };
                        let v = if rng.chance(1, 2) {
                            hostile_string(rng)
                        } else {
                            wrong_type(rng, 1)
                        };
                        m.insert(key, v);
                    }
                }
            }
            Input {
                rpc,
                body: serde_json::to_vec(&Value::Object(m)).unwrap(),
                must_refuse: false,
                kind: "random object",
            }
        }
    }
}

/// What a target's state looks like: `List` (where there is one) and files.
async fn fingerprint(t: &Target) -> Vec<u8> {
    let mut out = Vec::new();
    for e in &t.endpoints {
        if e.rpc == "VolumeDriver.List" {
            out.extend_from_slice(
                &t.plugin
                    .handle("/VolumeDriver.List", Bytes::from_static(b"{}"))
                    .await
                    .body,
            );
        }
    }
    for f in &t.state_files {
        out.extend_from_slice(&std::fs::read(f).unwrap_or_default());
    }
    out
}

/// Checks one reply; `Err` says what is wrong with it.
fn judge(t: &Target, input: &Input, status: u16, body: &[u8]) -> Result<bool, String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("reply is not JSON: {e}"))?;
    let obj = v.as_object().ok_or("reply is not a JSON object")?;
    if !matches!(status, 200 | 400 | 404 | 500) {
        return Err(format!("status {status}"));
    }
    let text = |k: &str| obj.get(k).and_then(Value::as_str).filter(|s| !s.is_empty());
    if status != 200 && text("Err").is_none() {
        return Err(format!("status {status} without Err"));
    }
    let refused = status != 200 || text("Err").is_some() || text("Error").is_some();
    if t.authz && input.must_refuse && obj.get("Allow") == Some(&Value::Bool(true)) {
        return Err("a malformed request was allowed".into());
    }
    if input.must_refuse && !refused && !t.authz {
        return Err("accepted".into());
    }
    Ok(refused || (t.authz && obj.get("Allow") != Some(&Value::Bool(true))))
}

fn show(input: &Input) -> String {
    let body = String::from_utf8_lossy(&input.body);
    let body: String = body.chars().take(200).collect();
    format!("{} {} {body:?}", input.kind, input.rpc)
}

/// Feeds `n` generated inputs to `t`; returns the figures line.
fn hammer(t: Target, n: u64, seed: u64) -> String {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let started = Instant::now();
    let mut rng = Rng::new(seed);
    let mut failures: Vec<String> = Vec::new();
    let mut refused_total = 0u64;
    // A watchdog instead of a timeout per call: a call that does not return
    // within HANG fails the run (a timer per call would double its cost).
    let progress = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let finished = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watchdog = {
        let (progress, finished) = (progress.clone(), finished.clone());
        let label = t.label;
        std::thread::spawn(move || {
            let mut last = (0, Instant::now());
            while !finished.load(std::sync::atomic::Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(200));
                let now = progress.load(std::sync::atomic::Ordering::Relaxed);
                if now != last.0 {
                    last = (now, Instant::now());
                } else if last.1.elapsed() > HANG {
                    // The hung call cannot be interrupted; say which and stop.
                    eprintln!("badinput {label}: input {now} hangs (seed {seed:#x})");
                    std::process::abort();
                }
            }
        })
    };
    let mut before = rt.block_on(fingerprint(&t));
    let mut done = 0u64;
    while done < n && failures.len() < 20 {
        let mut all_refused = true;
        let mut batch = Vec::new();
        for _ in 0..BATCH.min(n - done) {
            let input = generate(&mut rng, &t);
            let path = format!("/{}", input.rpc);
            let body = Bytes::from(input.body.clone());
            let handled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                rt.block_on(t.plugin.handle(&path, body))
            }));
            progress.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            match handled {
                Err(_) => failures.push(format!("panic: {}", show(&input))),
                Ok(reply) => match judge(&t, &input, reply.status.as_u16(), &reply.body) {
                    Ok(true) => refused_total += 1,
                    Ok(false) => all_refused = false,
                    Err(why) => failures.push(format!(
                        "{why}: {} -> {} {}",
                        show(&input),
                        reply.status,
                        String::from_utf8_lossy(&reply.body)
                    )),
                },
            }
            batch.push(input);
            done += 1;
        }
        let after = rt.block_on(fingerprint(&t));
        if all_refused && after != before {
            failures.push(format!(
                "state changed by refused inputs: {}",
                batch.iter().map(show).collect::<Vec<_>>().join("\n  ")
            ));
        }
        before = after;
    }
    finished.store(true, std::sync::atomic::Ordering::Relaxed);
    let _ = watchdog.join();
    let secs = started.elapsed().as_secs_f64();
    assert!(
        failures.is_empty(),
        "bad input {} (seed {seed:#x}):\n{}",
        t.label,
        failures.join("\n")
    );
    format!(
        "badinput {}: {n} inputs, {refused_total} refused, 0 panics, 0 hangs, 0 state changes ({:.0} inputs/s, seed {seed:#x})",
        t.label,
        n as f64 / secs
    )
}

/// The share of `DRYDOCK_BADINPUT_INPUTS` each target gets (sums to 100).
fn inputs(percent: u64) -> u64 {
    knob("DRYDOCK_BADINPUT_INPUTS", 1_000_000) * percent / 100
}

fn volume_endpoints() -> Vec<Endpoint> {
    vec![
        ep(
            "VolumeDriver.Create",
            json!({"Name": "keep", "Opts": {"mode": "0700"}}),
            &["Name"],
        ),
        ep("VolumeDriver.Remove", json!({"Name": "keep"}), &["Name"]),
        ep(
            "VolumeDriver.Mount",
            json!({"Name": "keep", "ID": "m1"}),
            &["Name", "ID"],
        ),
        ep(
            "VolumeDriver.Unmount",
            json!({"Name": "keep", "ID": "m1"}),
            &["Name", "ID"],
        ),
        ep("VolumeDriver.Path", json!({"Name": "keep"}), &["Name"]),
        ep("VolumeDriver.Get", json!({"Name": "keep"}), &["Name"]),
        bodiless("VolumeDriver.List"),
        bodiless("VolumeDriver.Capabilities"),
        bodiless("Plugin.Activate"),
    ]
}

fn prepare_volume(dir: &Path) -> Target {
    let mut config = drydock_volume::Config::new(dir.join("state"));
    // Nothing here must reach the disk; no fsync needed to notice if it does.
    config.durability = drydock_volume::Durability::Buffered;
    let plugin = drydock_volume::VolumePlugin::open(config).unwrap().plugin();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        for (rpc, body) in [
            (
                "/VolumeDriver.Create",
                r#"{"Name":"keep","Opts":{"mode":"0700"}}"#,
            ),
            ("/VolumeDriver.Mount", r#"{"Name":"keep","ID":"m1"}"#),
            ("/VolumeDriver.Create", r#"{"Name":"other","Opts":null}"#),
        ] {
            let r = plugin.handle(rpc, Bytes::from(body)).await;
            assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        }
    });
    Target {
        label: "volume",
        plugin,
        endpoints: volume_endpoints(),
        names_refused: false,
        authz: false,
        state_files: vec![
            dir.join("state").join(drydock_volume::files::JOURNAL),
            dir.join("state").join(drydock_volume::files::SNAPSHOT),
        ],
    }
}

#[test]
fn volume_plugin_refuses_hostile_input_and_keeps_its_state() {
    let dir = tempfile::tempdir().unwrap();
    let mut t = prepare_volume(dir.path());
    // The name fields: hostile names must be refused. (Mount IDs are only
    // compared, so most strings are fine as IDs; they get the same fields.)
    t.endpoints
        .iter_mut()
        .for_each(|e| e.names = if e.names.is_empty() { &[] } else { &["Name"] });
    t.names_refused = true;
    figures(&hammer(t, inputs(40), seed(0xbad_0001)));
}

#[test]
fn ipam_plugin_refuses_hostile_input_and_keeps_its_state() {
    let dir = tempfile::tempdir().unwrap();
    let plugin = drydock_ipam::IpamPlugin::open(drydock_ipam::Config::new(dir.path()))
        .unwrap()
        .plugin();
    let pool = "drydock-local/10.230.0.0/24";
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        for (rpc, body) in [
            ("/IpamDriver.RequestPool", r#"{"AddressSpace":"drydock-local","Pool":"10.230.0.0/24","SubPool":"","Options":{},"V6":false}"#.to_owned()),
            ("/IpamDriver.RequestAddress", format!(r#"{{"PoolID":"{pool}","Address":"10.230.0.7","Options":null}}"#)),
        ] {
            let r = plugin.handle(rpc, Bytes::from(body)).await;
            assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        }
    });
    let t = Target {
        label: "ipam",
        plugin,
        endpoints: vec![
            ep(
                "IpamDriver.RequestPool",
                json!({"AddressSpace": "drydock-local", "Pool": "10.230.0.0/24", "SubPool": "10.230.0.0/25", "Options": {}, "V6": false}),
                &["AddressSpace", "Pool", "SubPool"],
            ),
            ep(
                "IpamDriver.ReleasePool",
                json!({"PoolID": pool}),
                &["PoolID"],
            ),
            ep(
                "IpamDriver.RequestAddress",
                json!({"PoolID": pool, "Address": "10.230.0.7", "Options": null}),
                &["PoolID", "Address"],
            ),
            ep(
                "IpamDriver.ReleaseAddress",
                json!({"PoolID": pool, "Address": "10.230.0.7"}),
                &["PoolID", "Address"],
            ),
            bodiless("IpamDriver.GetCapabilities"),
            bodiless("IpamDriver.GetDefaultAddressSpaces"),
        ],
        names_refused: true,
        authz: false,
        state_files: vec![dir.path().join(drydock_ipam::STATE_FILE)],
    };
    figures(&hammer(t, inputs(25), seed(0xbad_0002)));
}

#[test]
fn authz_plugin_never_allows_malformed_requests() {
    let policy = drydock_authz::Policy::parse("allow path=/_ping\ndefault allow").unwrap();
    let t = Target {
        label: "authz",
        plugin: Plugin::new().authz(drydock_authz::PolicyPlugin::new(policy)),
        endpoints: vec![
            ep(
                "AuthZPlugin.AuthZReq",
                json!({"User": "alice", "RequestMethod": "POST", "RequestUri": "/v1.41/containers/create", "RequestHeaders": {"Content-Type": "application/json"}, "RequestBody": "eyJJbWFnZSI6ImJiIn0="}),
                &["RequestMethod", "RequestUri", "RequestBody"],
            ),
            ep(
                "AuthZPlugin.AuthZRes",
                json!({"RequestMethod": "GET", "RequestUri": "/v1.41/info", "ResponseStatusCode": 200, "ResponseHeaders": {"Api-Version": "1.41"}, "ResponseBody": "e30="}),
                &["RequestUri", "ResponseBody"],
            ),
            bodiless("Plugin.Activate"),
        ],
        // A hostile URI is a request like any other for the policy to judge.
        names_refused: false,
        authz: true,
        state_files: Vec::new(),
    };
    figures(&hammer(t, inputs(20), seed(0xbad_0003)));
}

/// A network driver that accepts everything: what is tested is the SDK's
/// routing and decoding of every NetworkDriver method.
struct AcceptAll;

impl NetworkDriver for AcceptAll {
    async fn get_capabilities(&self) -> Result<CapabilitiesResponse, PluginError> {
        Ok(CapabilitiesResponse {
            scope: "local".into(),
            ..Default::default()
        })
    }
    async fn create_network(&self, _: CreateNetworkRequest) -> Result<(), PluginError> {
        Ok(())
    }
    async fn delete_network(&self, _: NetworkRequest) -> Result<(), PluginError> {
        Ok(())
    }
    async fn create_endpoint(
        &self,
        _: CreateEndpointRequest,
    ) -> Result<Option<EndpointInterface>, PluginError> {
        Ok(None)
    }
    async fn delete_endpoint(&self, _: EndpointRequest) -> Result<(), PluginError> {
        Ok(())
    }
    async fn join(&self, _: JoinRequest) -> Result<JoinResponse, PluginError> {
        Ok(JoinResponse::default())
    }
    async fn leave(&self, _: EndpointRequest) -> Result<(), PluginError> {
        Ok(())
    }
}

#[test]
fn sdk_network_endpoints_refuse_malformed_bodies() {
    let nid = "n".repeat(64);
    let eid = "e".repeat(64);
    let t = Target {
        label: "sdk network",
        plugin: Plugin::new().network(AcceptAll),
        endpoints: vec![
            bodiless("NetworkDriver.GetCapabilities"),
            ep(
                "NetworkDriver.CreateNetwork",
                json!({"NetworkID": nid, "Options": {}, "IPv4Data": [{"AddressSpace": "s", "Pool": "10.0.0.0/24", "Gateway": "10.0.0.1/24"}], "IPv6Data": []}),
                &["NetworkID"],
            ),
            ep(
                "NetworkDriver.AllocateNetwork",
                json!({"NetworkID": nid, "Options": {}}),
                &["NetworkID"],
            ),
            ep(
                "NetworkDriver.FreeNetwork",
                json!({"NetworkID": nid}),
                &["NetworkID"],
            ),
            ep(
                "NetworkDriver.DeleteNetwork",
                json!({"NetworkID": nid}),
                &["NetworkID"],
            ),
            ep(
                "NetworkDriver.CreateEndpoint",
                json!({"NetworkID": nid, "EndpointID": eid, "Interface": {"Address": "10.0.0.2/24", "AddressIPv6": "", "MacAddress": ""}, "Options": {}}),
                &["NetworkID", "EndpointID"],
            ),
            ep(
                "NetworkDriver.EndpointOperInfo",
                json!({"NetworkID": nid, "EndpointID": eid}),
                &["EndpointID"],
            ),
            ep(
                "NetworkDriver.DeleteEndpoint",
                json!({"NetworkID": nid, "EndpointID": eid}),
                &["EndpointID"],
            ),
            ep(
                "NetworkDriver.Join",
                json!({"NetworkID": nid, "EndpointID": eid, "SandboxKey": "/var/run/docker/netns/x", "Options": {}}),
                &["SandboxKey"],
            ),
            ep(
                "NetworkDriver.Leave",
                json!({"NetworkID": nid, "EndpointID": eid}),
                &["EndpointID"],
            ),
            ep(
                "NetworkDriver.ProgramExternalConnectivity",
                json!({"NetworkID": nid, "EndpointID": eid, "Options": {}}),
                &["EndpointID"],
            ),
            ep(
                "NetworkDriver.RevokeExternalConnectivity",
                json!({"NetworkID": nid, "EndpointID": eid}),
                &["EndpointID"],
            ),
            ep(
                "NetworkDriver.DiscoverNew",
                json!({"DiscoveryType": 1}),
                &[],
            ),
            ep(
                "NetworkDriver.DiscoverDelete",
                json!({"DiscoveryType": 1}),
                &[],
            ),
            bodiless("Plugin.Activate"),
        ],
        names_refused: false,
        authz: false,
        state_files: Vec::new(),
    };
    figures(&hammer(t, inputs(15), seed(0xbad_0004)));
}
