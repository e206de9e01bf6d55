//! The invariants (docs/invariants.md), checked after every step against the
//! calls the step caused and against what the plugin answers to probes.
//!
//! The model is built from the engine's trace only: a successful `Mount`
//! holds its ID, a successful `Unmount` releases one hold, a successful
//! `RequestAddress` holds an address. So a violation is either the plugin
//! disagreeing with what it acknowledged, or the engine sending a call that
//! contradicts its own earlier calls (an engine bug shows the same way).

use bytes::Bytes;
use drydock_engine::daemon::Engine;
use drydock_engine::plugins::client::CallOptions;
use drydock_engine::trace::RpcRecord;
use drydock_ipam::net::{Addr, Cidr};
use drydock_sdk::wire::plugin::Protocol;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// A broken invariant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Its name in docs/invariants.md.
    pub invariant: &'static str,
    /// What was seen.
    pub message: String,
}

impl std::fmt::Display for Violation {
    /// The text `drydock fuzz` and `drydock run` (`#@ check`) both report.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "invariant {} broken: {}", self.invariant, self.message)
    }
}

fn v(invariant: &'static str, message: String) -> Violation {
    Violation { invariant, message }
}

/// An in-band or HTTP error of a response, if any.
pub fn error_of(r: &RpcRecord) -> Option<String> {
    if r.status != Some(200) {
        return Some(
            r.error
                .clone()
                .unwrap_or_else(|| format!("status {:?}", r.status)),
        );
    }
    let body = r.response_json()?;
    for key in ["Err", "Error"] {
        if let Some(Value::String(s)) = body.get(key) {
            if !s.is_empty() {
                return Some(s.clone());
            }
        }
    }
    None
}

fn str_field<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

/// RFC 3339 date-time (`2026-11-22T03:03:39Z`, fractions and offsets allowed).
pub fn is_rfc3339(s: &str) -> bool {
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| {
        b.get(r.clone())
            .is_some_and(|d| d.iter().all(u8::is_ascii_digit))
    };
    if b.len() < 20
        || !(digits(0..4) && b[4] == b'-' && digits(5..7) && b[7] == b'-' && digits(8..10))
    {
        return false;
    }
    let time = matches!(b[10], b'T' | b't' | b' ')
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19);
    if !time {
        return false;
    }
    let mut i = 19;
    if b[i] == b'.' {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return false;
        }
    }
    match &b[i..] {
        [b'Z' | b'z'] => true,
        [b'+' | b'-', h1, h2, b':', m1, m2] => [h1, h2, m1, m2].iter().all(|d| d.is_ascii_digit()),
        _ => false,
    }
}

fn check_volume_obj(method: &str, vol: &Value) -> Option<String> {
    if !vol.is_object() {
        return Some(format!("{method}: Volume is not an object: {vol}"));
    }
    if str_field(vol, "Name").is_none_or(str::is_empty) {
        return Some(format!("{method}: a volume without a Name: {vol}"));
    }
    if let Some(c) = vol.get("CreatedAt") {
        if !c.as_str().is_some_and(is_rfc3339) {
            return Some(format!("{method}: CreatedAt {c} is not an RFC 3339 date"));
        }
    }
    if let Some(m) = vol.get("Mountpoint") {
        if !m.is_string() {
            return Some(format!("{method}: Mountpoint {m} is not a string"));
        }
    }
    None
}

/// `protocol.response-shape`: the response is valid for its method.
pub fn response_shape(r: &RpcRecord) -> Option<String> {
    let method = r.method.as_str();
    let Some(body) = r.response_json() else {
        return Some(format!(
            "{method}: no response ({})",
            r.error.as_deref().unwrap_or("transport failure")
        ));
    };
    if !body.is_object() {
        return Some(format!(
            "{method}: the response is not a JSON object: {body}"
        ));
    }
    if error_of(r).is_some() {
        return None; // an error answer needs no other field
    }
    match method {
        "Plugin.Activate" => match body.get("Implements") {
            Some(Value::Array(a)) if a.iter().all(Value::is_string) => None,
            other => Some(format!(
                "Plugin.Activate: Implements is not a list of names: {other:?}"
            )),
        },
        "VolumeDriver.Mount" | "VolumeDriver.Path" => match str_field(&body, "Mountpoint") {
            Some(m) if !m.is_empty() || method == "VolumeDriver.Path" => None,
            _ => Some(format!("{method}: success without a Mountpoint: {body}")),
        },
        "VolumeDriver.Get" => match body.get("Volume") {
            Some(vol) => check_volume_obj(method, vol).or_else(|| {
                let asked = r.request_json();
                let asked = str_field(&asked, "Name").unwrap_or_default().to_owned();
                (str_field(vol, "Name") != Some(asked.as_str())).then(|| {
                    format!(
                        "VolumeDriver.Get {asked:?} answered volume {:?}",
                        vol.get("Name")
                    )
                })
            }),
            None => Some(format!(
                "VolumeDriver.Get: success without a Volume: {body}"
            )),
        },
        "VolumeDriver.List" => match body.get("Volumes") {
            Some(Value::Array(vols)) => vols.iter().find_map(|v| check_volume_obj(method, v)),
            Some(Value::Null) | None => None,
            Some(other) => Some(format!("VolumeDriver.List: Volumes is not a list: {other}")),
        },
        "VolumeDriver.Capabilities" => match body.pointer("/Capabilities/Scope") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s == "local" || s == "global" || s.is_empty() => None,
            Some(other) => Some(format!(
                "Capabilities: Scope {other} is neither local nor global"
            )),
        },
        "IpamDriver.RequestPool" => {
            let pool = str_field(&body, "Pool").unwrap_or_default();
            if Cidr::parse(pool).is_none() {
                Some(format!("RequestPool: Pool {pool:?} is not a CIDR block"))
            } else if str_field(&body, "PoolID").is_none_or(str::is_empty) {
                Some("RequestPool: empty PoolID".into())
            } else {
                None
            }
        }
        "IpamDriver.RequestAddress" => {
            let a = str_field(&body, "Address").unwrap_or_default();
            Cidr::parse(a).is_none().then(|| {
                format!("RequestAddress: Address {a:?} is not an address with a prefix length")
            })
        }
        "IpamDriver.GetDefaultAddressSpaces" => (str_field(&body, "LocalDefaultAddressSpace")
            .is_none()
            || str_field(&body, "GlobalDefaultAddressSpace").is_none())
        .then(|| format!("GetDefaultAddressSpaces: missing address space names: {body}")),
        _ => None,
    }
}

/// What the plugin acknowledged so far, from the trace.
#[derive(Debug, Default)]
pub struct Model {
    plugin: String,
    /// Volumes whose Create succeeded and Remove has not.
    pub acked: BTreeSet<String>,
    /// Outstanding mount IDs per volume, one entry per successful Mount.
    pub held: BTreeMap<String, Vec<String>>,
    /// The Mountpoint each volume's Mount answered.
    pub mountpoints: BTreeMap<String, String>,
    /// PoolID → pool.
    pub pools: BTreeMap<String, Cidr>,
    /// PoolID → addresses held (without prefix).
    pub addrs: BTreeMap<String, BTreeSet<String>>,
    /// PoolID → addresses released and not held since.
    pub released: BTreeMap<String, BTreeSet<String>>,
    /// Authz: each request seen (user, method, URI, body) → its verdict.
    pub verdicts: BTreeMap<String, bool>,
    /// Pool CIDR → addresses held in it before its pool was released (they
    /// are free again when the same block is asked for).
    pub released_pools: BTreeMap<String, BTreeSet<String>>,
    /// The invariants checked; empty for all.
    pub only: Vec<String>,
    /// Number of checks made (for the report).
    pub checks: u64,
}

impl Model {
    /// A model of plugin `plugin`.
    pub fn new(plugin: &str) -> Self {
        Model {
            plugin: plugin.to_owned(),
            ..Default::default()
        }
    }

    /// Feeds one step's calls (in order); returns the first violation.
    pub fn observe(&mut self, calls: &[RpcRecord]) -> Option<Violation> {
        let plugin = self.plugin.clone();
        let mut first = None;
        for r in calls.iter().filter(|r| r.plugin == plugin) {
            if let Some(bad) = self.observe_one(r) {
                if self.wanted(bad.invariant) {
                    return Some(bad);
                }
                first.get_or_insert(bad);
            }
        }
        first.filter(|b| self.wanted(b.invariant))
    }

    /// Whether `invariant` is checked (all are unless [`Model::only`] names some).
    pub fn wanted(&self, invariant: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|o| o == invariant)
    }

    fn observe_one(&mut self, r: &RpcRecord) -> Option<Violation> {
        self.checks += 1;
        if let Some(msg) = response_shape(r) {
            return Some(v("protocol.response-shape", msg));
        }
        let req = r.request_json();
        let name = str_field(&req, "Name").unwrap_or_default().to_owned();
        let id = str_field(&req, "ID").unwrap_or_default().to_owned();
        let err = error_of(r);
        let body = r.response_json().unwrap_or(Value::Null);
        match r.method.as_str() {
            "VolumeDriver.Create" => match err {
                Some(e) if self.acked.contains(&name) => {
                    return Some(v(
                        "volume.create-idempotent",
                        format!("Create of existing volume {name} failed: {e}"),
                    ))
                }
                Some(_) => {}
                None => {
                    self.acked.insert(name);
                }
            },
            "VolumeDriver.Remove" if self.held.get(&name).is_some_and(|h| !h.is_empty()) => {
                return Some(v(
                    "engine.remove-unheld",
                    format!(
                        "the engine removed volume {name} while mount IDs {:?} hold it",
                        self.held[&name]
                    ),
                ));
            }
            "VolumeDriver.Remove" if err.is_none() => {
                self.acked.remove(&name);
                self.held.remove(&name);
                self.mountpoints.remove(&name);
            }
            "VolumeDriver.Mount" => match err {
                Some(e) if self.acked.contains(&name) => {
                    return Some(v(
                        "volume.mount-succeeds",
                        format!("Mount of volume {name} with ID {id} failed: {e}"),
                    ))
                }
                Some(_) => {}
                None => {
                    let mp = str_field(&body, "Mountpoint")
                        .unwrap_or_default()
                        .to_owned();
                    let held = self.held.entry(name.clone()).or_default();
                    if let Some(old) = self.mountpoints.get(&name) {
                        if !held.is_empty() && *old != mp {
                            return Some(v(
                                "volume.mountpoint-agrees",
                                format!("volume {name}: Mount answered {mp:?} while it is mounted at {old:?}")));
                        }
                    }
                    held.push(id);
                    self.mountpoints.insert(name, mp);
                }
            },
            "VolumeDriver.Unmount" => {
                let held = self.held.entry(name.clone()).or_default();
                let Some(pos) = held.iter().position(|h| *h == id) else {
                    return Some(v(
                        "engine.unmount-was-mounted",
                        format!("the engine unmounted volume {name} with ID {id}, which holds no mount of it")));
                };
                held.remove(pos);
                if let Some(e) = err {
                    return Some(v(
                        "volume.unmount-succeeds",
                        format!("Unmount of volume {name} with held ID {id} failed: {e}"),
                    ));
                }
            }
            "IpamDriver.RequestPool" => {
                let asked = str_field(&req, "Pool").unwrap_or_default();
                if let Some(e) = err {
                    if !asked.is_empty() && self.released_pools.contains_key(asked) {
                        return Some(v(
                            "ipam.pool-reusable",
                            format!(
                                "pool {asked} was released, but asking for it again failed: {e}"
                            ),
                        ));
                    }
                } else if let (Some(id), Some(pool)) = (
                    str_field(&body, "PoolID"),
                    str_field(&body, "Pool").and_then(Cidr::parse),
                ) {
                    let free = self
                        .released_pools
                        .remove(&pool.to_string())
                        .unwrap_or_default();
                    self.pools.insert(id.to_owned(), pool);
                    self.addrs.insert(id.to_owned(), BTreeSet::new());
                    self.released.insert(id.to_owned(), free);
                }
            }
            "IpamDriver.ReleasePool" => {
                let pool = str_field(&req, "PoolID").unwrap_or_default();
                if let Some(held) = self.addrs.get(pool).filter(|h| !h.is_empty()) {
                    return Some(v(
                        "engine.pool-released-empty",
                        format!("pool {pool} released while {held:?} are still held"),
                    ));
                }
                if err.is_none() {
                    let cidr = self.pools.remove(pool);
                    self.addrs.remove(pool);
                    let mut free = self.released.remove(pool).unwrap_or_default();
                    if let Some(cidr) = cidr {
                        let key = cidr.to_string();
                        free.extend(self.released_pools.remove(&key).unwrap_or_default());
                        self.released_pools.insert(key, free);
                    }
                }
            }
            "IpamDriver.RequestAddress" => {
                let pool_id = str_field(&req, "PoolID").unwrap_or_default().to_owned();
                let wanted = str_field(&req, "Address").unwrap_or_default().to_owned();
                match err {
                    None => {
                        let got = str_field(&body, "Address").unwrap_or_default();
                        let bare = got.split('/').next().unwrap_or_default().to_owned();
                        if let Some(pool) = self.pools.get(&pool_id) {
                            if !Addr::parse(&bare).is_some_and(|a| pool.contains(a)) {
                                return Some(v(
                                    "ipam.address-in-pool",
                                    format!("RequestAddress in pool {pool} answered {got}"),
                                ));
                            }
                        }
                        let held = self.addrs.entry(pool_id.clone()).or_default();
                        if !held.insert(bare.clone()) {
                            return Some(v(
                                "ipam.address-unique",
                                format!("address {bare} of pool {pool_id} was handed out while already held")));
                        }
                        if let Some(r) = self.released.get_mut(&pool_id) {
                            r.remove(&bare);
                        }
                    }
                    Some(e) => {
                        let was_released = self
                            .released
                            .get(&pool_id)
                            .is_some_and(|r| r.contains(&wanted));
                        if !wanted.is_empty() && was_released {
                            return Some(v(
                                "ipam.released-reusable",
                                format!(
                                    "released address {wanted} of pool {pool_id} was refused: {e}"
                                ),
                            ));
                        }
                    }
                }
            }
            "IpamDriver.ReleaseAddress" => {
                let pool_id = str_field(&req, "PoolID").unwrap_or_default().to_owned();
                let addr = str_field(&req, "Address").unwrap_or_default().to_owned();
                let held = self.addrs.entry(pool_id.clone()).or_default();
                if !held.remove(&addr) {
                    return Some(v(
                        "engine.release-was-held",
                        format!("the engine released {addr} of pool {pool_id}, which is not held"),
                    ));
                }
                if err.is_none() {
                    self.released.entry(pool_id).or_default().insert(addr);
                }
            }
            "AuthZPlugin.AuthZReq" | "AuthZPlugin.AuthZRes" => {
                let allow = body.get("Allow");
                let Some(allow) = allow.and_then(Value::as_bool) else {
                    if err.is_some() {
                        return None; // an error is a verdict: dockerd denies
                    }
                    return Some(v(
                        "authz.one-verdict",
                        format!("{} answered no Allow verdict: {body}", r.method),
                    ));
                };
                if allow && err.is_some() {
                    return Some(v(
                        "authz.one-verdict",
                        format!("{} answered Allow and an error at once: {body}", r.method),
                    ));
                }
                if r.method == "AuthZPlugin.AuthZReq" {
                    let key = format!(
                        "{} {} {} {}",
                        str_field(&req, "User").unwrap_or_default(),
                        str_field(&req, "RequestMethod").unwrap_or_default(),
                        str_field(&req, "RequestUri").unwrap_or_default(),
                        req.get("RequestBody").cloned().unwrap_or(Value::Null)
                    );
                    let allowed = allow && err.is_none();
                    if let Some(before) = self.verdicts.insert(key.clone(), allowed) {
                        if before != allowed {
                            return Some(v(
                                "authz.same-verdict",
                                format!("request {key} was allowed={before} before, now allowed={allowed}")));
                        }
                    }
                }
            }
            _ => {}
        }
        None
    }

    /// `authz.malformed-denied`: the answer to a malformed probe request.
    pub fn check_malformed(&mut self, req: &Value, answer: Option<&[u8]>) -> Option<Violation> {
        self.checks += 1;
        let body: Value = answer
            .and_then(|b| serde_json::from_slice(b).ok())
            .unwrap_or(Value::Null);
        let allowed = body.get("Allow").and_then(Value::as_bool) == Some(true)
            && str_field(&body, "Err").is_none_or(str::is_empty);
        allowed.then(|| {
            v(
                "authz.malformed-denied",
                format!("the malformed request {req} was allowed: {body}"),
            )
        })
    }

    /// Checks the plugin's answers to the post-step probes: `list` is the
    /// List response, `gets` the Get response of each acknowledged volume.
    pub fn check_volumes(&mut self, list: &Value, gets: &[(String, Value)]) -> Option<Violation> {
        self.checks += 1;
        let listed: BTreeMap<&str, &Value> = list
            .get("Volumes")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|v| Some((str_field(v, "Name")?, v)))
                    .collect()
            })
            .unwrap_or_default();
        let mut found = None;
        for (name, get) in gets {
            if let Some(bad) = self.check_volume(name, get, &listed) {
                if self.wanted(bad.invariant) {
                    return Some(bad);
                }
                found.get_or_insert(bad);
            }
        }
        found.filter(|b| self.wanted(b.invariant))
    }

    fn check_volume(
        &self,
        name: &str,
        get: &Value,
        listed: &BTreeMap<&str, &Value>,
    ) -> Option<Violation> {
        let Some(vol) = get
            .get("Volume")
            .filter(|_| str_field(get, "Err").is_none_or(str::is_empty))
        else {
            return Some(v(
                "volume.keeps-acknowledged",
                format!("volume {name} was acknowledged but Get answers {get}"),
            ));
        };
        let Some(in_list) = listed.get(name) else {
            return Some(v(
                "volume.keeps-acknowledged",
                format!("volume {name} was acknowledged but List omits it"),
            ));
        };
        let held = self.held.get(name).cloned().unwrap_or_default();
        if let Some(Value::Array(mounts)) = vol.pointer("/Status/mounts") {
            let reported: BTreeSet<&str> = mounts.iter().filter_map(Value::as_str).collect();
            let expected: BTreeSet<&str> = held.iter().map(String::as_str).collect();
            if reported != expected {
                return Some(v(
                    "volume.mounted-iff-held",
                    format!(
                        "volume {name}: the plugin reports mounts {reported:?}, but IDs {expected:?} hold it"
                    )));
            }
        }
        let get_mp = str_field(vol, "Mountpoint").unwrap_or_default();
        let list_mp = str_field(in_list, "Mountpoint").unwrap_or_default();
        let mount_mp = if held.is_empty() {
            ""
        } else {
            self.mountpoints
                .get(name)
                .map(String::as_str)
                .unwrap_or_default()
        };
        let seen: BTreeSet<&str> = [get_mp, list_mp, mount_mp]
            .into_iter()
            .filter(|m| !m.is_empty())
            .collect();
        if seen.len() > 1 {
            return Some(v(
                "volume.mountpoint-agrees",
                format!("volume {name}: Get says {get_mp:?}, List {list_mp:?}, Mount {mount_mp:?}"),
            ));
        }
        None
    }
}

/// Every invariant's name, as docs/invariants.md lists them, with what it
/// says in a few words (`#@ check` refuses other names).
pub const INVARIANTS: &[(&str, &str)] = &[
    (
        "volume.mounted-iff-held",
        "Get's Status.mounts are exactly the IDs holding the volume",
    ),
    (
        "volume.mount-succeeds",
        "a Mount of an acknowledged volume succeeds",
    ),
    (
        "volume.unmount-succeeds",
        "an Unmount of a held ID succeeds",
    ),
    (
        "volume.mountpoint-agrees",
        "List, Get and Mount agree on the Mountpoint",
    ),
    (
        "volume.create-idempotent",
        "Create of an acknowledged volume succeeds",
    ),
    (
        "volume.keeps-acknowledged",
        "every acknowledged volume stays in List and Get",
    ),
    ("ipam.address-unique", "no address is handed out while held"),
    ("ipam.address-in-pool", "every address lies inside its pool"),
    (
        "ipam.released-reusable",
        "a released address can be had again",
    ),
    (
        "ipam.pool-reusable",
        "a released pool can be had again (nothing leaks)",
    ),
    ("authz.one-verdict", "every answer is one verdict"),
    (
        "authz.same-verdict",
        "the same request gets the same verdict",
    ),
    (
        "authz.malformed-denied",
        "a malformed request is never allowed",
    ),
    (
        "protocol.response-shape",
        "every response is valid for its method",
    ),
    (
        "engine.unmount-was-mounted",
        "every Unmount carries a held mount ID",
    ),
    (
        "engine.remove-unheld",
        "no Remove of a volume that mount IDs hold",
    ),
    (
        "engine.release-was-held",
        "every ReleaseAddress frees a held address",
    ),
    (
        "engine.pool-released-empty",
        "a pool is released only when empty",
    ),
];

/// Checks one plugin after every step: the step's calls against the
/// [`Model`], then probes the plugin (through the engine's client, so the
/// probes are checked too). `drydock fuzz` and `drydock run`'s `#@ check`
/// both use it, so a counterexample fails under `drydock run` with the same
/// invariant and message.
///
/// Probes: a plugin that implements `VolumeDriver` is sent a second
/// `Create` of each newly acknowledged volume, `List`, and a `Get` of every
/// acknowledged volume; one that implements `AuthZPlugin` is sent two
/// malformed `AuthZReq`s.
#[derive(Debug)]
pub struct Checker {
    /// What the plugin acknowledged so far.
    pub model: Model,
    /// Acknowledged volumes already sent a second Create.
    created_twice: BTreeSet<String>,
}

impl Checker {
    /// Checks plugin `plugin` for `only` (names from [`INVARIANTS`]; empty
    /// for all). Unknown names are an error listing the known ones.
    pub fn new(plugin: &str, only: &[String]) -> Result<Self, String> {
        if let Some(bad) = only
            .iter()
            .find(|o| !INVARIANTS.iter().any(|(n, _)| n == o))
        {
            let known: Vec<&str> = INVARIANTS.iter().map(|(n, _)| *n).collect();
            return Err(format!(
                "unknown invariant {bad:?} (known: {})",
                known.join(", ")
            ));
        }
        let mut model = Model::new(plugin);
        model.only = only.to_vec();
        Ok(Checker {
            model,
            created_twice: BTreeSet::new(),
        })
    }

    /// Checks a step's `calls`, then probes. Returns the number of probe
    /// calls made and the first broken invariant.
    pub async fn after_step(
        &mut self,
        engine: &Engine,
        calls: &[RpcRecord],
    ) -> (u64, Option<Violation>) {
        let mut bad = self.model.observe(calls);
        let mut probes = 0;
        if bad.is_none() {
            bad = self.probe_authz(engine).await;
            probes += engine.trace().drain().len() as u64;
        }
        if bad.is_none() {
            bad = self.probe_volumes(engine).await;
            let calls = engine.trace().drain();
            probes += calls.len() as u64;
            if bad.is_none() {
                bad = self.model.observe(&calls);
            }
        }
        (probes, bad.filter(|b| self.model.wanted(b.invariant)))
    }

    async fn probe_volumes(&mut self, engine: &Engine) -> Option<Violation> {
        let model = &mut self.model;
        let handle = engine
            .registry()
            .get(&model.plugin, Protocol::VolumeDriver)
            .await
            .ok()?;
        let call = |method: &'static str, body: Value| {
            let client = handle.client.clone();
            async move {
                let raw = client
                    .call_raw(
                        method,
                        Bytes::from(body.to_string()),
                        CallOptions::default(),
                    )
                    .await;
                raw.ok()
                    .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
                    .unwrap_or(Value::Null)
            }
        };
        // dockerd sends Create for a name it does not know (after a Get
        // failed, or from another daemon sharing the plugin): once per newly
        // acknowledged volume, Create it again, as `docker volume create`
        // would, for `volume.create-idempotent` (its answer is observed with
        // the other probes').
        self.created_twice.retain(|v| model.acked.contains(v));
        if model.wanted("volume.create-idempotent") {
            for v in &model.acked {
                if self.created_twice.insert(v.clone()) {
                    call(
                        "VolumeDriver.Create",
                        serde_json::json!({ "Name": v, "Opts": null }),
                    )
                    .await;
                }
            }
        }
        let list = call("VolumeDriver.List", serde_json::json!({})).await;
        let mut gets = Vec::new();
        for v in model.acked.clone() {
            let get = call("VolumeDriver.Get", serde_json::json!({ "Name": v })).await;
            gets.push((v, get));
        }
        model.check_volumes(&list, &gets)
    }

    async fn probe_authz(&mut self, engine: &Engine) -> Option<Violation> {
        if !self.model.wanted("authz.malformed-denied") {
            return None;
        }
        let handle = engine
            .registry()
            .get(&self.model.plugin, Protocol::Authz)
            .await
            .ok()?;
        let malformed = [
            serde_json::json!({"RequestMethod": "GET", "RequestUri": "/v1.41/%zz", "RequestHeaders": {}}),
            serde_json::json!({"RequestMethod": "POST", "RequestUri": "/v1.41/volumes/create",
                "RequestHeaders": {"Content-Type": "application/json"}, "RequestBody": "%%% not base64"}),
        ];
        for req in malformed {
            let raw = handle
                .client
                .call_raw(
                    "AuthZPlugin.AuthZReq",
                    Bytes::from(req.to_string()),
                    CallOptions::default(),
                )
                .await;
            if let Some(bad) = self.model.check_malformed(&req, raw.ok().as_deref()) {
                return Some(bad);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::{is_rfc3339, Checker, Model};
    use bytes::Bytes;
    use drydock_engine::trace::RpcRecord;
    use serde_json::{json, Value};

    /// A successful call to plugin `p`.
    fn call(method: &str, req: Value, resp: Value) -> RpcRecord {
        RpcRecord {
            plugin: "p".into(),
            method: method.into(),
            request: Bytes::from(req.to_string()),
            response: Some(Bytes::from(resp.to_string())),
            status: Some(200),
            error: None,
            micros: 0,
            clock_micros: 0,
            attempts: 1,
            empty_body_retry: false,
        }
    }

    fn mount(id: &str) -> RpcRecord {
        call(
            "VolumeDriver.Mount",
            json!({"Name": "v1", "ID": id}),
            json!({"Mountpoint": "/m/v1"}),
        )
    }

    fn unmount(id: &str) -> RpcRecord {
        call(
            "VolumeDriver.Unmount",
            json!({"Name": "v1", "ID": id}),
            json!({}),
        )
    }

    fn broken(model: &mut Model, calls: &[RpcRecord]) -> Option<&'static str> {
        model.observe(calls).map(|v| v.invariant)
    }

    #[test]
    fn a_correct_volume_trace_keeps_the_engine_invariants() {
        let mut m = Model::new("p");
        let create = call("VolumeDriver.Create", json!({"Name": "v1"}), json!({}));
        let remove = call("VolumeDriver.Remove", json!({"Name": "v1"}), json!({}));
        let calls = [
            create,
            mount("a"),
            mount("b"),
            unmount("a"),
            unmount("b"),
            remove,
        ];
        assert_eq!(broken(&mut m, &calls), None);
        assert!(m.acked.is_empty());
    }

    #[test]
    fn an_unmount_without_its_mount_is_an_engine_bug() {
        let mut m = Model::new("p");
        let calls = [mount("a"), unmount("a"), unmount("a")];
        assert_eq!(broken(&mut m, &calls), Some("engine.unmount-was-mounted"));
    }

    #[test]
    fn a_remove_of_a_held_volume_is_an_engine_bug() {
        let mut m = Model::new("p");
        let remove = call("VolumeDriver.Remove", json!({"Name": "v1"}), json!({}));
        assert_eq!(
            broken(&mut m, &[mount("a"), remove]),
            Some("engine.remove-unheld")
        );
    }

    fn pool() -> RpcRecord {
        call(
            "IpamDriver.RequestPool",
            json!({"Pool": "10.9.0.0/24"}),
            json!({"PoolID": "P", "Pool": "10.9.0.0/24"}),
        )
    }

    fn address(a: &str) -> RpcRecord {
        call(
            "IpamDriver.RequestAddress",
            json!({"PoolID": "P", "Address": ""}),
            json!({"Address": format!("{a}/24")}),
        )
    }

    fn release(a: &str) -> RpcRecord {
        call(
            "IpamDriver.ReleaseAddress",
            json!({"PoolID": "P", "Address": a}),
            json!({}),
        )
    }

    #[test]
    fn releasing_an_address_twice_is_an_engine_bug() {
        let mut m = Model::new("p");
        let calls = [
            pool(),
            address("10.9.0.2"),
            release("10.9.0.2"),
            release("10.9.0.2"),
        ];
        assert_eq!(broken(&mut m, &calls), Some("engine.release-was-held"));
    }

    #[test]
    fn releasing_a_pool_with_held_addresses_is_an_engine_bug() {
        let mut m = Model::new("p");
        let release_pool = call("IpamDriver.ReleasePool", json!({"PoolID": "P"}), json!({}));
        let calls = [pool(), address("10.9.0.2"), release_pool];
        assert_eq!(broken(&mut m, &calls), Some("engine.pool-released-empty"));
    }

    #[test]
    fn a_released_pool_refused_again_is_a_leak() {
        let mut m = Model::new("p");
        let release_pool = call("IpamDriver.ReleasePool", json!({"PoolID": "P"}), json!({}));
        let mut again = pool();
        again.response = Some(Bytes::from(r#"{"Error": "pool overlaps"}"#));
        assert_eq!(
            broken(&mut m, &[pool(), release_pool, again]),
            Some("ipam.pool-reusable")
        );
    }

    #[test]
    fn check_names_only_the_invariants_it_checks() {
        let mut c = Checker::new("p", &["ipam.address-unique".into()]).unwrap();
        assert_eq!(c.model.observe(&[unmount("x")]), None);
        let mut all = Checker::new("p", &[]).unwrap();
        assert!(all.model.observe(&[unmount("x")]).is_some());
        let err = Checker::new("p", &["volume.nope".into()]).unwrap_err();
        assert!(err.contains("unknown invariant \"volume.nope\""), "{err}");
        assert!(err.contains("engine.remove-unheld"), "{err}");
    }

    #[test]
    fn rfc3339_dates() {
        assert!(is_rfc3339("2026-11-22T03:03:39Z"));
        assert!(is_rfc3339("2026-11-22T03:03:39.123+01:00"));
        assert!(!is_rfc3339("2026-11-22 03:03"));
        assert!(!is_rfc3339("yesterday"));
    }
}
