//! The invariants (docs/invariants.md), checked after every step against the
//! calls the step caused and against what the plugin answers to probes.
//!
//! The model is built from the engine's trace only: a successful `Mount`
//! holds its ID, a successful `Unmount` releases one hold, a successful
//! `RequestAddress` holds an address. So a violation is either the plugin
//! disagreeing with what it acknowledged, or the engine sending a call that
//! contradicts its own earlier calls (an engine bug shows the same way).

use drydock_engine::trace::RpcRecord;
use drydock_ipam::net::{Addr, Cidr};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// How a counterexample file makes `drydock run` fail the same way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Repro {
    /// A `#> calls:` block on the violating step listing its calls to the
    /// plugin, with `-> {"Err": ""}` on call number `index` (0-based among
    /// the step's calls to the plugin).
    CallSucceeds {
        /// Which call.
        index: usize,
    },
    /// `#> error ~ "TEXT"` on the violating step: it should have failed.
    StepFails(String),
    /// An extra action after the violating step, with expectations.
    Probe {
        /// The docker line.
        line: String,
        /// Its `#>` lines.
        expect: Vec<String>,
    },
    /// Not expressible as a scenario expectation.
    None,
}

/// A broken invariant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Its name in docs/invariants.md.
    pub invariant: &'static str,
    /// What was seen.
    pub message: String,
    /// How the written scenario reproduces it.
    pub repro: Repro,
}

fn v(invariant: &'static str, message: String, repro: Repro) -> Violation {
    Violation {
        invariant,
        message,
        repro,
    }
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
        for (index, r) in calls.iter().filter(|r| r.plugin == plugin).enumerate() {
            if let Some(bad) = self.observe_one(r, index) {
                return Some(bad);
            }
        }
        None
    }

    fn observe_one(&mut self, r: &RpcRecord, index: usize) -> Option<Violation> {
        self.checks += 1;
        if let Some(msg) = response_shape(r) {
            return Some(v("protocol.response-shape", msg, Repro::None));
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
                        Repro::CallSucceeds { index },
                    ))
                }
                Some(_) => {}
                None => {
                    self.acked.insert(name);
                }
            },
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
                        Repro::CallSucceeds { index },
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
                                format!("volume {name}: Mount answered {mp:?} while it is mounted at {old:?}"),
                                Repro::None,
                            ));
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
                        format!("the engine unmounted volume {name} with ID {id}, which holds no mount of it"),
                        Repro::None,
                    ));
                };
                held.remove(pos);
                if let Some(e) = err {
                    return Some(v(
                        "volume.unmount-succeeds",
                        format!("Unmount of volume {name} with held ID {id} failed: {e}"),
                        Repro::CallSucceeds { index },
                    ));
                }
            }
            "IpamDriver.RequestPool" if err.is_none() => {
                if let (Some(id), Some(pool)) = (
                    str_field(&body, "PoolID"),
                    str_field(&body, "Pool").and_then(Cidr::parse),
                ) {
                    self.pools.insert(id.to_owned(), pool);
                    self.addrs.insert(id.to_owned(), BTreeSet::new());
                    self.released.insert(id.to_owned(), BTreeSet::new());
                }
            }
            "IpamDriver.ReleasePool" => {
                let pool = str_field(&req, "PoolID").unwrap_or_default();
                if let Some(held) = self.addrs.get(pool).filter(|h| !h.is_empty()) {
                    return Some(v(
                        "engine.pool-released-empty",
                        format!("pool {pool} released while {held:?} are still held"),
                        Repro::None,
                    ));
                }
                if err.is_none() {
                    self.pools.remove(pool);
                    self.addrs.remove(pool);
                    self.released.remove(pool);
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
                                    Repro::None,
                                ));
                            }
                        }
                        let held = self.addrs.entry(pool_id.clone()).or_default();
                        if !held.insert(bare.clone()) {
                            let repro = if wanted.is_empty() {
                                Repro::None
                            } else {
                                Repro::StepFails(bare.clone())
                            };
                            return Some(v(
                                "ipam.address-unique",
                                format!("address {bare} of pool {pool_id} was handed out while already held"),
                                repro,
                            ));
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
                                Repro::CallSucceeds { index },
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
                        Repro::None,
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
                        Repro::None,
                    ));
                };
                if allow && err.is_some() {
                    return Some(v(
                        "authz.one-verdict",
                        format!("{} answered Allow and an error at once: {body}", r.method),
                        Repro::None,
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
                                format!("request {key} was allowed={before} before, now allowed={allowed}"),
                                Repro::None,
                            ));
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
                Repro::None,
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
        for (name, get) in gets {
            let inspect = format!("docker volume inspect {name}");
            let Some(vol) = get
                .get("Volume")
                .filter(|_| str_field(get, "Err").is_none_or(str::is_empty))
            else {
                return Some(v(
                    "volume.keeps-acknowledged",
                    format!("volume {name} was acknowledged but Get answers {get}"),
                    Repro::Probe {
                        line: inspect,
                        expect: vec!["#> ok".into()],
                    },
                ));
            };
            let Some(in_list) = listed.get(name.as_str()) else {
                return Some(v(
                    "volume.keeps-acknowledged",
                    format!("volume {name} was acknowledged but List omits it"),
                    Repro::Probe {
                        line: "docker volume ls -q".into(),
                        expect: vec![format!("#> output ~ \"{name}\"")],
                    },
                ));
            };
            let held = self.held.get(name).cloned().unwrap_or_default();
            if let Some(Value::Array(mounts)) = vol.pointer("/Status/mounts") {
                let reported: BTreeSet<&str> = mounts.iter().filter_map(Value::as_str).collect();
                let expected: BTreeSet<&str> = held.iter().map(String::as_str).collect();
                if reported != expected {
                    let items = vec!["_"; held.len()].join(", ");
                    return Some(v(
                        "volume.mounted-iff-held",
                        format!(
                            "volume {name}: the plugin reports mounts {reported:?}, but IDs {expected:?} hold it"
                        ),
                        Repro::Probe {
                            line: inspect,
                            expect: vec![
                                "#> calls include:".into(),
                                format!(
                                    "#>   {} VolumeDriver.Get {{\"Name\": \"{name}\"}} -> {{\"Volume\": {{\"Status\": {{\"mounts\": [{items}]}}}}}}",
                                    self.plugin
                                ),
                            ],
                        },
                    ));
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
                    format!(
                        "volume {name}: Get says {get_mp:?}, List {list_mp:?}, Mount {mount_mp:?}"
                    ),
                    Repro::None,
                ));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::is_rfc3339;

    #[test]
    fn rfc3339_dates() {
        assert!(is_rfc3339("2026-11-22T03:03:39Z"));
        assert!(is_rfc3339("2026-11-22T03:03:39.123+01:00"));
        assert!(!is_rfc3339("2026-11-22 03:03"));
        assert!(!is_rfc3339("yesterday"));
    }
}
