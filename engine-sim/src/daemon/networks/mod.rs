//! Networks, IPAM and remote network drivers, as libnetwork in dockerd 20.10
//! drives them (`libnetwork/network.go`, `endpoint.go`, `ipams/remote`,
//! `drivers/remote`; protocol.md §6–7).
//!
//! * **Registration.** A plugin implementing `IpamDriver` is registered when it
//!   is activated (by anyone, for any reason): `GetCapabilities` (a failure
//!   just means "no capabilities"), then `GetDefaultAddressSpaces`; if that
//!   fails the driver is never registered and networks naming it get
//!   `invalid ipam driver: "NAME"` until the daemon restarts. A
//!   `NetworkDriver` is registered after a `GetCapabilities` naming scope
//!   `local` or `global`.
//! * **`network create`.** Per family (IPv4 always, IPv6 with `--ipv6`), per
//!   subnet config: `RequestPool` (the plugin's local address space, `Pool` =
//!   `--subnet`, `SubPool` = `--ip-range`, `Options` = `--ipam-opt`, `{}` when
//!   none), a gateway `RequestAddress` (unless the pool's `Data` names one),
//!   then one `RequestAddress` per `--aux-address`. On failure the pools of
//!   that family are released (and IPv4 entirely if IPv6 failed). Then a
//!   remote network driver gets `CreateNetwork`.
//! * **Endpoints.** A container gets an endpoint per network when it starts
//!   (or on `network connect` while running): `RequestAddress` per family
//!   (`Address` = `--ip` or empty, `Options` null), then for a remote driver
//!   `CreateEndpoint` and `Join` (and `ProgramExternalConnectivity` when the
//!   driver made itself the gateway). Stopping or disconnecting reverses it:
//!   `RevokeExternalConnectivity`, `Leave`, `DeleteEndpoint`, then
//!   `ReleaseAddress` with the bare IP, IPv4 before IPv6.
//! * **`network rm`.** Refused while a container runs on it. Otherwise per
//!   family (IPv4 first): `ReleaseAddress` of the gateway and of each aux
//!   address, `ReleasePool`; then `DeleteNetwork` at a remote driver.
//! * Networks without `--ipam-driver` use the built-in allocator (pools
//!   172.18.0.0/16, 172.19.0.0/16, … as dockerd's defaults; no plugin calls).
//!
//! Requests carry bare IPs; responses must be CIDR, and a bad one fails the
//! operation with libnetwork's words (`No address returned`,
//! `invalid CIDR address: X`). In-band errors read `remote: <text>`.

use super::{Engine, EngineError};
use crate::plugins::client::{CallError, CallOptions};
use crate::plugins::registry::{GetError, Handler, PluginHandle, Registry};
use drydock_sdk::net::{Addr, Family, Prefixed};
use drydock_sdk::wire::ipam as iw;
use drydock_sdk::wire::network as nw;
use drydock_sdk::wire::plugin::Protocol;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

mod drivers;
mod endpoints;
mod ipam;
mod resource;

use drivers::*;
use ipam::*;

/// A registered remote IPAM driver.
#[derive(Debug)]
struct IpamReg {
    handle: Arc<PluginHandle>,
    local_space: String,
    caps: iw::CapabilitiesResponse,
}

/// A registered remote network driver.
#[derive(Debug)]
struct NetReg {
    handle: Arc<PluginHandle>,
}

/// libnetwork's driver registry: filled by the activation handlers, emptied
/// by a daemon restart.
#[derive(Debug, Default)]
struct Drivers {
    ipam: Mutex<HashMap<String, Arc<IpamReg>>>,
    net: Mutex<HashMap<String, Arc<NetReg>>>,
}

/// One pool of a network and what was allocated from it at create time.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct PoolData {
    pool_id: String,
    address_space: String,
    /// The pool, CIDR.
    pool: String,
    /// The gateway, CIDR.
    gateway: Option<String>,
    /// `--aux-address` name → CIDR.
    aux: BTreeMap<String, String>,
    /// The user's configuration of this pool (`--subnet` and what goes
    /// with it), if there was one: `network inspect` shows it as given.
    user: Option<SubnetConfig>,
}

/// A container's endpoint on a network, while the container runs.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Endpoint {
    id: String,
    /// (PoolID, CIDR) per family.
    v4: Option<(String, String)>,
    v6: Option<(String, String)>,
    /// Whether `ProgramExternalConnectivity` was called (so Revoke is due).
    programmed: bool,
}

/// A container configured on a network (`--network`, `network connect`).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Attachment {
    container_name: String,
    /// `--ip`.
    ip: Option<String>,
    /// Present while the container runs.
    endpoint: Option<Endpoint>,
    seq: u64,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Network {
    id: String,
    name: String,
    driver: String,
    /// `default` for the built-in allocator.
    ipam_driver: String,
    /// `IPAM.Options`; `None` when the request had none (sent on as null).
    ipam_opts: Option<BTreeMap<String, String>>,
    opts: BTreeMap<String, String>,
    ipv6: bool,
    /// Whether the user gave `--subnet` (so `--ip` is allowed).
    user_subnet: bool,
    v4: Vec<PoolData>,
    v6: Vec<PoolData>,
    /// Container ID → attachment.
    attached: BTreeMap<String, Attachment>,
    /// bridge/host/none: created by the daemon, never removed.
    predefined: bool,
    created: String,
}

/// The built-in allocator's pools (`LocalDefault/CIDR` → held addresses).
#[derive(Debug, Default, Clone, serde::Serialize, serde::Deserialize)]
struct Builtin {
    pools: BTreeMap<String, (Cidr, Option<Cidr>, BTreeSet<u128>)>,
}

/// The networks as `--data-root` keeps them.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
pub(crate) struct SavedNetworks {
    networks: Vec<Network>,
    builtin: Builtin,
    seq: u64,
}

/// The daemon's networks.
#[derive(Debug)]
pub struct Networks {
    drivers: Arc<Drivers>,
    table: Mutex<BTreeMap<String, Network>>,
    builtin: Mutex<Builtin>,
    seq: Mutex<u64>,
}

const BUILTIN_SPACE: &str = "LocalDefault";
const GATEWAY_DATA: &str = "com.docker.network.gateway";

/// IDs of the predefined networks (fixed, so they take nothing from the
/// seeded ID generator the volume traces depend on).
const PREDEFINED: &[(&str, &str, &str)] = &[
    (
        "bridge",
        "bridge",
        "39412cb41d48c6a0e2fd6e0cbb0cdd0a3e6d28f4a6d84a0f7f1f3c56f1e4b0aa",
    ),
    (
        "host",
        "host",
        "846a4e4d7921f2b0d1b8c7ec9f0c6a86d9f3e6f3b33e45c2cfa2a27f2a1d6e11",
    ),
    (
        "none",
        "null",
        "0928b013a79b4f73c1a1e54a5bd0c3d5e6f5e4a1b2c3d4e5f60718293a4b5c6d",
    ),
];

impl Networks {
    /// The network table with the predefined networks, registering
    /// libnetwork's activation handlers on `registry`.
    pub(crate) fn new(registry: &Registry) -> Self {
        let drivers = Arc::new(Drivers::default());
        let d = drivers.clone();
        let ipam: Handler = Arc::new(move |h| {
            let d = d.clone();
            Box::pin(async move { register_ipam(&d, h).await })
        });
        registry.on_activate(Protocol::IpamDriver, ipam);
        let d = drivers.clone();
        let net: Handler = Arc::new(move |h| {
            let d = d.clone();
            Box::pin(async move { register_net(&d, h).await })
        });
        registry.on_activate(Protocol::NetworkDriver, net);
        let mut table = BTreeMap::new();
        let mut builtin = Builtin::default();
        for (name, driver, id) in PREDEFINED {
            let mut v4 = Vec::new();
            if *name == "bridge" {
                let c = Cidr::parse("172.17.0.1/16").expect("valid");
                builtin.pools.insert(
                    format!("{BUILTIN_SPACE}/172.17.0.0/16"),
                    (c, None, BTreeSet::from([c.addr.value])),
                );
                v4.push(PoolData {
                    pool_id: format!("{BUILTIN_SPACE}/172.17.0.0/16"),
                    address_space: BUILTIN_SPACE.into(),
                    pool: "172.17.0.0/16".into(),
                    gateway: Some("172.17.0.1/16".into()),
                    aux: BTreeMap::new(),
                    // dockerd configures its default bridge as a user would.
                    user: Some(SubnetConfig {
                        subnet: "172.17.0.0/16".into(),
                        gateway: "172.17.0.1".into(),
                        ..Default::default()
                    }),
                });
            }
            table.insert(
                id.to_string(),
                Network {
                    id: id.to_string(),
                    name: name.to_string(),
                    driver: driver.to_string(),
                    ipam_driver: "default".into(),
                    ipam_opts: Some(BTreeMap::new()),
                    opts: BTreeMap::new(),
                    ipv6: false,
                    user_subnet: false,
                    v4,
                    v6: Vec::new(),
                    attached: BTreeMap::new(),
                    predefined: true,
                    created: created_now(),
                },
            );
        }
        Networks {
            drivers,
            table: Mutex::new(table),
            builtin: Mutex::new(builtin),
            seq: Mutex::new(0),
        }
    }
}

pub(crate) fn created_now() -> String {
    let now = time::OffsetDateTime::now_utc();
    now.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| "0001-01-01T00:00:00Z".into())
}

/// A network as `POST /networks/create` asks for it (the daemon's side of
/// `docker network create`; the CLI builds it from its flags).
#[derive(Debug, Clone, Default)]
pub struct NetworkConfig {
    /// The network name.
    pub name: String,
    /// The driver; `bridge` when `None`.
    pub driver: Option<String>,
    /// The IPAM driver; the built-in allocator when `None`.
    pub ipam_driver: Option<String>,
    /// `IPAM.Options`, sent as RequestPool `Options`.
    pub ipam_opts: Option<BTreeMap<String, String>>,
    /// The IPv4 `IPAM.Config` entries (one empty entry: "any pool").
    ipam_v4: Vec<SubnetConfig>,
    /// The IPv6 ones, used with `enable_ipv6`.
    ipam_v6: Vec<SubnetConfig>,
    /// Whether the user named a subnet (`network inspect` shows the IPAM
    /// config only then).
    user_subnet: bool,
    /// `EnableIPv6`.
    pub ipv6: bool,
    /// The driver options.
    pub opts: BTreeMap<String, String>,
}

/// A container's place on one network, as `docker inspect` shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerEndpoint {
    /// The network's name.
    pub network: String,
    /// Its ID (empty while the container does not run).
    pub network_id: String,
    /// The endpoint's ID (empty while the container does not run).
    pub endpoint_id: String,
    /// The IPv4 address with its prefix (`10.1.0.2/24`), empty when none.
    pub address: String,
    /// The network's IPv4 gateway, empty when none.
    pub gateway: String,
    /// `--ip`, if one was asked for.
    pub requested_ip: Option<String>,
}

/// One IPAM config of a network (an `IPAMConfig` of the API: one
/// `--subnet` with its gateway, range and aux addresses; all empty: a pool
/// of the IPAM driver's choosing).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SubnetConfig {
    /// `Subnet`.
    pub subnet: String,
    /// `IPRange`.
    pub ip_range: String,
    /// `Gateway`.
    pub gateway: String,
    /// `AuxiliaryAddresses`.
    pub aux: BTreeMap<String, String>,
}

impl NetworkConfig {
    /// A network named `name` with the request's IPAM configs, split by the
    /// family of their subnets; a family without one still gets a pool of
    /// the driver's choosing. A subnet that is not CIDR is refused.
    pub fn new(name: impl Into<String>, configs: Vec<SubnetConfig>) -> Result<Self, EngineError> {
        let user_subnet = configs.iter().any(|c| !c.subnet.is_empty());
        let (mut v4, mut v6) = (Vec::new(), Vec::new());
        for c in configs {
            if c.subnet.is_empty() {
                v4.push(c);
                continue;
            }
            let cidr = Cidr::parse(&c.subnet).ok_or_else(|| {
                EngineError::system(format!(
                    "Invalid subnet {s} : invalid CIDR address: {s}",
                    s = c.subnet
                ))
            })?;
            match cidr.addr.family {
                Fam::V4 => v4.push(c),
                Fam::V6 => v6.push(c),
            }
        }
        if v4.is_empty() {
            v4.push(SubnetConfig::default());
        }
        if v6.is_empty() {
            v6.push(SubnetConfig::default());
        }
        Ok(NetworkConfig {
            name: name.into(),
            ipam_v4: v4,
            ipam_v6: v6,
            user_subnet,
            ..Default::default()
        })
    }
}

fn getter_error(e: GetError) -> EngineError {
    match e {
        GetError::NotFound(_) => EngineError::not_found(e.to_string()),
        GetError::Legacy(_) => EngineError::system(e.to_string()),
    }
}

fn internal(msg: impl Into<String>) -> EngineError {
    EngineError::system(msg)
}

impl Engine {
    /// The networks as the daemon keeps them on disk.
    pub(crate) fn saved_networks(&self) -> SavedNetworks {
        SavedNetworks {
            networks: self.net_lock().values().cloned().collect(),
            builtin: self.networks.builtin.lock().expect("builtin lock").clone(),
            seq: *self.networks.seq.lock().expect("seq lock"),
        }
    }

    /// A new daemon's networks, from what the last one kept; endpoints of
    /// containers that ran are gone with that daemon (their addresses are
    /// not held: the loaded allocator state is as the daemon's stop left it
    /// whenever it stopped cleanly).
    pub(crate) fn load_networks(&self, saved: SavedNetworks) {
        let mut table = self.net_lock();
        table.clear();
        for mut n in saved.networks {
            for a in n.attached.values_mut() {
                a.endpoint = None;
            }
            table.insert(n.id.clone(), n);
        }
        *self.networks.builtin.lock().expect("builtin lock") = saved.builtin;
        *self.networks.seq.lock().expect("seq lock") = saved.seq;
    }

    fn net_lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Network>> {
        self.networks.table.lock().expect("networks lock")
    }

    /// Network by name, full ID or unique ID prefix.
    fn find_network(&self, key: &str) -> Result<String, EngineError> {
        let table = self.net_lock();
        if let Some(n) = table.values().find(|n| n.name == key || n.id == key) {
            return Ok(n.id.clone());
        }
        let matches: Vec<&Network> = table
            .values()
            .filter(|n| !key.is_empty() && n.id.starts_with(key))
            .collect();
        match matches.as_slice() {
            [one] => Ok(one.id.clone()),
            [] => Err(EngineError::not_found(format!("network {key} not found"))),
            _ => Err(EngineError::invalid(format!(
                "network {key} is ambiguous ({} matches found based on ID prefix)",
                matches.len()
            ))),
        }
    }

    fn with_network<R>(&self, id: &str, f: impl FnOnce(&mut Network) -> R) -> Option<R> {
        self.net_lock().get_mut(id).map(f)
    }

    /// `ipamAllocateVersion` for one family. On failure the pools obtained
    /// for this family are released (libnetwork's deferred ReleasePool).
    async fn allocate_family(
        &self,
        ipam: &Ipam,
        configs: &[SubnetConfig],
        opts: Option<&BTreeMap<String, String>>,
        v6: bool,
    ) -> Result<Vec<PoolData>, EngineError> {
        let mut done: Vec<PoolData> = Vec::new();
        let mut result = Ok(());
        for cfg in configs {
            let mut p = match self
                .ipam_request_pool(ipam, &cfg.subnet, &cfg.ip_range, opts, v6)
                .await
            {
                Ok(p) => p,
                Err(e) => {
                    result = Err(e);
                    break;
                }
            };
            let pool_id = p.pool_id.clone();
            p.user = (!cfg.subnet.is_empty()).then(|| cfg.clone());
            done.push(p.clone());
            // The gateway: from the pool's Data, unless the user named one.
            if p.gateway.is_none() || !cfg.gateway.is_empty() {
                let gw_opts = BTreeMap::from([(
                    iw::REQUEST_ADDRESS_TYPE.to_owned(),
                    iw::GATEWAY_ADDRESS_TYPE.to_owned(),
                )]);
                match self
                    .ipam_request_address(ipam, &pool_id, &cfg.gateway, Some(gw_opts))
                    .await
                {
                    Ok(a) => p.gateway = Some(a),
                    Err(e) => {
                        result = Err(internal(format!(
                            "failed to allocate gateway ({}): {e}",
                            cfg.gateway
                        )));
                        break;
                    }
                }
            }
            let mut aux_failed = None;
            for (k, v) in &cfg.aux {
                match self.ipam_request_address(ipam, &pool_id, v, None).await {
                    Ok(a) => {
                        p.aux.insert(k.clone(), a);
                    }
                    Err(e) => {
                        aux_failed = Some(internal(format!(
                            "failed to allocate secondary ip address ({k}:{v}): {e}"
                        )));
                        break;
                    }
                }
            }
            *done.last_mut().expect("pushed") = p;
            if let Some(e) = aux_failed {
                result = Err(e);
                break;
            }
        }
        match result {
            Ok(()) => Ok(done),
            Err(e) => {
                for p in done.iter().rev() {
                    let _ = self.ipam_release_pool(ipam, &p.pool_id).await;
                }
                Err(e)
            }
        }
    }

    /// `POST /networks/create`: returns the network ID.
    pub async fn network_create(&self, spec: &NetworkConfig) -> Result<String, EngineError> {
        if spec.name.is_empty() {
            return Err(EngineError::system("invalid name: "));
        }
        if self.net_lock().values().any(|n| n.name == spec.name) {
            return Err(EngineError::conflict(format!(
                "network with name {} already exists",
                spec.name
            )));
        }
        let (v4cfg, v6cfg) = (&spec.ipam_v4, &spec.ipam_v6);
        let driver = spec.driver.clone().unwrap_or_else(|| "bridge".into());
        let remote_driver = match driver.as_str() {
            "bridge" => None,
            "host" | "null" | "none" => {
                return Err(EngineError::forbidden(format!(
                    "only one instance of \"{driver}\" network is allowed"
                )))
            }
            other => Some(self.resolve_net_driver(other).await?),
        };
        let ipam_name = spec.ipam_driver.clone().unwrap_or_else(|| "default".into());
        let ipam = self.resolve_ipam(&ipam_name).await?;
        let v4 = self
            .allocate_family(&ipam, v4cfg, spec.ipam_opts.as_ref(), false)
            .await?;
        let v6 = if spec.ipv6 {
            match self
                .allocate_family(&ipam, v6cfg, spec.ipam_opts.as_ref(), true)
                .await
            {
                Ok(p) => p,
                Err(e) => {
                    self.release_pools(&ipam, &v4).await;
                    return Err(e);
                }
            }
        } else {
            Vec::new()
        };
        let id = self.random_id();
        if let Some(d) = &remote_driver {
            let data = |pools: &[PoolData]| -> Vec<nw::IpamData> {
                pools
                    .iter()
                    .map(|p| nw::IpamData {
                        address_space: p.address_space.clone(),
                        pool: p.pool.clone(),
                        gateway: p.gateway.clone().unwrap_or_default(),
                        aux_addresses: (!p.aux.is_empty()).then(|| p.aux.clone()),
                    })
                    .collect()
            };
            let mut options = Map::new();
            options.insert("com.docker.network.enable_ipv6".into(), json!(spec.ipv6));
            options.insert("com.docker.network.generic".into(), json!(spec.opts));
            let req = nw::CreateNetworkRequest {
                network_id: id.clone(),
                options: Some(options),
                ipv4_data: Some(data(&v4)),
                ipv6_data: Some(data(&v6)),
            };
            if let Err(e) =
                remote::<_, nw::ErrResponse>(&d.handle, "NetworkDriver.CreateNetwork", &req).await
            {
                self.release_pools(&ipam, &v4).await;
                self.release_pools(&ipam, &v6).await;
                return Err(internal(e.text));
            }
        }
        self.net_lock().insert(
            id.clone(),
            Network {
                id: id.clone(),
                name: spec.name.clone(),
                driver,
                ipam_driver: ipam_name,
                ipam_opts: spec.ipam_opts.clone(),
                opts: spec.opts.clone(),
                ipv6: spec.ipv6,
                user_subnet: spec.user_subnet,
                v4,
                v6,
                attached: BTreeMap::new(),
                predefined: false,
                created: created_now(),
            },
        );
        Ok(id)
    }

    /// `POST /networks/prune`: every network the user made that has no
    /// endpoint (no running container on it) is removed, as `network rm`
    /// removes it. Returns the removed names.
    pub async fn network_prune(&self) -> Vec<String> {
        let unused: Vec<(String, String)> = self
            .net_lock()
            .values()
            .filter(|n| !n.predefined && n.attached.values().all(|a| a.endpoint.is_none()))
            .map(|n| (n.id.clone(), n.name.clone()))
            .collect();
        let mut removed = Vec::new();
        for (id, name) in unused {
            if self.network_rm(&id).await.is_ok() {
                removed.push(name);
            }
        }
        removed
    }

    /// `docker network rm`.
    pub async fn network_rm(&self, key: &str) -> Result<(), EngineError> {
        let id = self.find_network(key)?;
        let net = self.with_network(&id, |n| n.clone()).expect("found");
        if net.predefined {
            return Err(EngineError::forbidden(format!(
                "{} is a pre-defined network and cannot be removed",
                net.name
            )));
        }
        if net.attached.values().any(|a| a.endpoint.is_some()) {
            return Err(EngineError::forbidden(format!(
                "error while removing network: network {} id {} has active endpoints",
                net.name, net.id
            )));
        }
        let driver = match net.driver.as_str() {
            "bridge" => None,
            d => Some(self.resolve_net_driver(d).await?),
        };
        let ipam = self.resolve_ipam(&net.ipam_driver).await?;
        self.release_pools(&ipam, &net.v4).await;
        self.release_pools(&ipam, &net.v6).await;
        if let Some(d) = driver {
            let req = nw::NetworkRequest {
                network_id: net.id.clone(),
            };
            if let Err(e) =
                remote::<_, nw::ErrResponse>(&d.handle, "NetworkDriver.DeleteNetwork", &req).await
            {
                tracing::warn!("driver failed to delete network {}: {}", net.id, e.text);
            }
        }
        self.net_lock().remove(&id);
        Ok(())
    }

    /// Records a container's configured network at `docker create`, checking
    /// that the network exists (dockerd looks it up then).
    pub(crate) fn network_attach_config(
        &self,
        container_id: &str,
        container_name: &str,
        network: &str,
        ip: Option<&str>,
    ) -> Result<(), EngineError> {
        let nid = self.find_network(network)?;
        let seq = self.next_seq();
        self.with_network(&nid, |n| {
            n.attached.insert(
                container_id.to_owned(),
                Attachment {
                    container_name: container_name.to_owned(),
                    ip: ip.map(str::to_owned),
                    endpoint: None,
                    seq,
                },
            );
        });
        Ok(())
    }

    fn next_seq(&self) -> u64 {
        let mut s = self.networks.seq.lock().expect("seq lock");
        *s += 1;
        *s
    }

    /// Networks a container is configured on, in the order it joined them.
    fn container_networks(&self, container_id: &str) -> Vec<String> {
        let table = self.net_lock();
        let mut v: Vec<(u64, String)> = table
            .values()
            .filter_map(|n| n.attached.get(container_id).map(|a| (a.seq, n.id.clone())))
            .collect();
        v.sort();
        v.into_iter().map(|(_, id)| id).collect()
    }

    /// Container start: an endpoint on every configured network. On failure
    /// the endpoints made so far are removed again.
    pub(crate) async fn networks_connect_all(&self, container_id: &str) -> Result<(), EngineError> {
        // The network named at create may have been removed since (dockerd
        // allows that while the container is stopped): the start fails.
        let wanted = self
            .containers_spec_network(container_id)
            .filter(|n| !matches!(n.as_str(), "default" | "bridge" | "host" | "none"));
        if let Some(name) = wanted {
            let attached = self.net_lock().values().any(|n| {
                (n.name == name || n.id.starts_with(&name)) && n.attached.contains_key(container_id)
            });
            if !attached {
                return Err(EngineError::not_found(format!("network {name} not found")));
            }
        }
        for nid in self.container_networks(container_id) {
            if let Err(e) = self.endpoint_create(&nid, container_id, false).await {
                self.networks_disconnect_all(container_id).await;
                return Err(e);
            }
        }
        Ok(())
    }

    /// Container stop: every endpoint removed, addresses released.
    pub(crate) async fn networks_disconnect_all(&self, container_id: &str) {
        for nid in self.container_networks(container_id) {
            self.endpoint_delete(&nid, container_id).await;
        }
    }

    /// The networks a container is attached to, by name: its endpoint ID and
    /// IPv4 address (`10.1.0.2/24`) while it runs, and the gateway.
    pub fn container_endpoints(&self, container_id: &str) -> Vec<ContainerEndpoint> {
        self.net_lock()
            .values()
            .filter_map(|n| {
                let a = n.attached.get(container_id)?;
                let ep = a.endpoint.as_ref();
                let address = ep
                    .and_then(|e| e.v4.as_ref())
                    .map(|(_, cidr)| cidr.clone())
                    .unwrap_or_default();
                let gateway = ep
                    .and(n.v4.first())
                    .and_then(|p| p.gateway.as_deref())
                    .and_then(Cidr::parse)
                    .map(|g| g.ip())
                    .unwrap_or_default();
                Some(ContainerEndpoint {
                    network: n.name.clone(),
                    network_id: if ep.is_some() {
                        n.id.clone()
                    } else {
                        String::new()
                    },
                    endpoint_id: ep.map(|e| e.id.clone()).unwrap_or_default(),
                    address,
                    gateway,
                    requested_ip: a.ip.clone(),
                })
            })
            .collect()
    }

    /// Container removal: forget its network configuration.
    pub(crate) fn networks_forget(&self, container_id: &str) {
        for n in self.net_lock().values_mut() {
            n.attached.remove(container_id);
        }
    }

    /// `docker network connect`.
    pub async fn network_connect(
        &self,
        network: &str,
        container: &str,
        ip: Option<&str>,
    ) -> Result<(), EngineError> {
        let cid = self.container_id(container)?;
        let nid = self.find_network(network)?;
        let name = self.container_name(&cid);
        let already = self
            .with_network(&nid, |n| n.attached.contains_key(&cid))
            .unwrap_or(false);
        if already {
            let nname = self
                .with_network(&nid, |n| n.name.clone())
                .unwrap_or_default();
            return Err(EngineError::forbidden(format!(
                "endpoint with name {name} already exists in network {nname}"
            )));
        }
        self.network_attach_config(&cid, &name, &nid, ip)?;
        if self.container_state(&cid)? == super::ContainerState::Running {
            if let Err(e) = self.endpoint_create(&nid, &cid, true).await {
                self.with_network(&nid, |n| n.attached.remove(&cid));
                return Err(e);
            }
        }
        Ok(())
    }

    /// `docker network disconnect`.
    pub async fn network_disconnect(
        &self,
        network: &str,
        container: &str,
    ) -> Result<(), EngineError> {
        let cid = self.container_id(container)?;
        let nid = self.find_network(network)?;
        let attached = self
            .with_network(&nid, |n| n.attached.contains_key(&cid))
            .unwrap_or(false);
        if !attached {
            let nname = self
                .with_network(&nid, |n| n.name.clone())
                .unwrap_or_default();
            return Err(EngineError::forbidden(format!(
                "container {cid} is not connected to network {nname}"
            )));
        }
        self.endpoint_delete(&nid, &cid).await;
        self.with_network(&nid, |n| n.attached.remove(&cid));
        Ok(())
    }

    /// Daemon restart: libnetwork starts with an empty driver registry and,
    /// restoring the stored networks, looks up their remote IPAM drivers
    /// again (activating them); remote network drivers stay lazy.
    pub(crate) async fn networks_restart(&self) {
        self.networks
            .drivers
            .ipam
            .lock()
            .expect("drivers lock")
            .clear();
        self.networks
            .drivers
            .net
            .lock()
            .expect("drivers lock")
            .clear();
        let mut names: Vec<String> = Vec::new();
        for n in self.net_lock().values() {
            if n.ipam_driver != "default" && !names.contains(&n.ipam_driver) {
                names.push(n.ipam_driver.clone());
            }
        }
        for name in names {
            if let Err(e) = self.resolve_ipam(&name).await {
                tracing::warn!("restoring networks: ipam driver {name}: {e}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daemon::EngineConfig;
    use drydock_sdk::{IpamDriver, Plugin, PluginError};

    /// What a misbehaving IPAM plugin gets wrong.
    #[derive(Clone, Copy)]
    enum Fault {
        /// GetDefaultAddressSpaces fails: registration fails for good.
        Spaces,
        /// RequestPool answers a pool that is not CIDR.
        PoolNotCidr,
        /// RequestAddress answers no address.
        NoAddress,
        /// RequestAddress answers a bare IP.
        BareAddress,
        /// RequestPool fails with HTTP 500.
        PoolStatus,
        /// Not a fault: MAC addresses required, the gateway comes in the
        /// pool's `Data`.
        MacAndDataGateway,
    }

    struct Faulty(Fault);

    impl IpamDriver for Faulty {
        async fn get_capabilities(&self) -> Result<iw::CapabilitiesResponse, PluginError> {
            Ok(iw::CapabilitiesResponse {
                requires_mac_address: matches!(self.0, Fault::MacAndDataGateway),
                ..Default::default()
            })
        }
        async fn get_default_address_spaces(
            &self,
        ) -> Result<iw::AddressSpacesResponse, PluginError> {
            match self.0 {
                Fault::Spaces => Err(PluginError::in_band("no spaces today")),
                _ => Ok(iw::AddressSpacesResponse {
                    local_default_address_space: "L".into(),
                    global_default_address_space: "G".into(),
                    error: String::new(),
                }),
            }
        }
        async fn request_pool(
            &self,
            _req: iw::RequestPoolRequest,
        ) -> Result<iw::RequestPoolResponse, PluginError> {
            let pool = match self.0 {
                Fault::PoolNotCidr => "nope",
                Fault::PoolStatus => return Err(PluginError::new("pool store offline")),
                _ => "10.1.0.0/24",
            };
            let data = matches!(self.0, Fault::MacAndDataGateway)
                .then(|| BTreeMap::from([(GATEWAY_DATA.to_owned(), "10.1.0.254/24".to_owned())]));
            Ok(iw::RequestPoolResponse {
                pool_id: "p".into(),
                pool: pool.into(),
                data,
                ..Default::default()
            })
        }
        async fn release_pool(&self, _req: iw::ReleasePoolRequest) -> Result<(), PluginError> {
            Ok(())
        }
        async fn request_address(
            &self,
            _req: iw::RequestAddressRequest,
        ) -> Result<iw::RequestAddressResponse, PluginError> {
            let address = match self.0 {
                Fault::NoAddress => "",
                Fault::BareAddress => "10.1.0.1",
                _ => "10.1.0.1/24",
            };
            Ok(iw::RequestAddressResponse {
                address: address.into(),
                ..Default::default()
            })
        }
        async fn release_address(
            &self,
            _req: iw::ReleaseAddressRequest,
        ) -> Result<(), PluginError> {
            Ok(())
        }
    }

    async fn create_with(fault: Fault) -> (Engine, Result<String, EngineError>) {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::new(EngineConfig::in_dir(dir.path(), 1));
        engine
            .registry()
            .register_in_process("bad", Plugin::new().ipam(Faulty(fault)));
        let mut spec = NetworkConfig::new("n", vec![]).unwrap();
        spec.ipam_driver = Some("bad".into());
        let r = engine.network_create(&spec).await;
        (engine, r)
    }

    fn methods(engine: &Engine) -> Vec<String> {
        engine
            .trace()
            .snapshot()
            .iter()
            .map(|r| r.method.clone())
            .collect()
    }

    #[tokio::test]
    async fn a_failed_registration_is_permanent() {
        let (engine, r) = create_with(Fault::Spaces).await;
        assert_eq!(r.unwrap_err().message, "invalid ipam driver: \"bad\"");
        let mut spec = NetworkConfig::new("m", vec![]).unwrap();
        spec.ipam_driver = Some("bad".into());
        let again = engine.network_create(&spec).await.unwrap_err();
        assert_eq!(again.message, "invalid ipam driver: \"bad\"");
        // The handler ran once: no second registration attempt.
        assert_eq!(
            methods(&engine),
            [
                "Plugin.Activate",
                "IpamDriver.GetCapabilities",
                "IpamDriver.GetDefaultAddressSpaces"
            ]
        );
    }

    #[tokio::test]
    async fn bad_answers_fail_with_libnetworks_words_and_release_the_pool() {
        let (engine, r) = create_with(Fault::NoAddress).await;
        assert_eq!(
            r.unwrap_err().message,
            "failed to allocate gateway (): No address returned"
        );
        assert_eq!(methods(&engine).last().unwrap(), "IpamDriver.ReleasePool");
        let (_, r) = create_with(Fault::BareAddress).await;
        assert_eq!(
            r.unwrap_err().message,
            "failed to allocate gateway (): invalid CIDR address: 10.1.0.1"
        );
        let (_, r) = create_with(Fault::PoolNotCidr).await;
        assert_eq!(r.unwrap_err().message, "invalid CIDR address: nope");
        let (_, r) = create_with(Fault::PoolStatus).await;
        assert_eq!(
            r.unwrap_err().message,
            "IpamDriver.RequestPool: pool store offline"
        );
    }

    #[test]
    fn cidr_math_matches_go() {
        let c = Cidr::parse("198.18.0.2/24").unwrap();
        assert_eq!(c.ip(), "198.18.0.2");
        assert_eq!(c.network(), "198.18.0.0/24");
        assert!(Cidr::parse("198.18.0.2").is_none());
        let v6 = Cidr::parse("fd00:2::2/64").unwrap();
        assert_eq!(v6.ip(), "fd00:2::2");
        assert_eq!(v6.network(), "fd00:2::/64");
    }

    #[tokio::test]
    async fn a_gateway_in_pool_data_is_used_and_mac_addresses_are_sent_when_required() {
        let (engine, r) = create_with(Fault::MacAndDataGateway).await;
        r.unwrap();
        // No gateway RequestAddress: the pool's Data named it.
        assert!(!methods(&engine).contains(&"IpamDriver.RequestAddress".to_owned()));
        let spec = crate::daemon::ContainerSpec {
            image: "bb".into(),
            cmd: vec!["true".into()],
            network: Some("n".into()),
            ..Default::default()
        };
        engine.container_run(spec, false).await.unwrap();
        let request = engine
            .trace()
            .snapshot()
            .into_iter()
            .find(|r| r.method == "IpamDriver.RequestAddress")
            .unwrap()
            .request_json();
        let mac = request["Options"][iw::MAC_ADDRESS_OPTION].as_str().unwrap();
        assert!(mac.starts_with("02:42:") && mac.len() == 17, "{mac}");
        let net = engine.find_network("n").unwrap();
        let gw = engine
            .with_network(&net, |n| n.v4[0].gateway.clone())
            .unwrap();
        assert_eq!(gw.as_deref(), Some("10.1.0.254/24"));
    }
}
