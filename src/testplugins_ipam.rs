//! The IPAM test plugin that answers exactly like the recording plugin behind
//! `tests/golden/s-ipam.jsonl` and `i-*.jsonl` (`tests/golden/tools/recplug.py`),
//! so replaying those recordings must cause the same calls.
//!
//! Scenario kinds `golden-ipam` (`#@ plugin gipam golden-ipam`) and
//! `golden-network` (`#@ plugin gnet golden-network`), the recording plugin's
//! remote network driver.

use drydock_ipam::net::{Addr, Cidr, Family};
use drydock_sdk::wire::ipam::*;
use drydock_sdk::wire::network as nw;
use drydock_sdk::{IpamDriver, NetworkDriver, PluginError};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

/// One pool the recording plugin holds.
#[derive(Debug)]
struct GoldenPool {
    net: Cidr,
    sub: Option<Cidr>,
    /// Held addresses as text (the recorder keeps Python `str(ip)`s).
    addrs: BTreeSet<String>,
}

/// The recording IPAM plugin: spaces `rec-local`/`rec-global`; a pool
/// request without `Pool` gets `198.18.N.0/24` (`fd18:N::/64` for V6) with N
/// the number of pools held, skipping one still held; PoolIDs are
/// `rec/<cidr>`; an address request gets the requested address or the first
/// free host of the sub-pool (or pool) as `<ip>/<prefix>`; releases forget.
/// Refusals are in band (`Error`).
#[derive(Debug, Default)]
pub struct GoldenIpam {
    pools: Mutex<BTreeMap<String, GoldenPool>>,
}

impl GoldenIpam {
    /// A plugin with no pools.
    pub fn new() -> Self {
        Self::default()
    }
}

/// Python's `ip_network(...).hosts()`: IPv4 without network and broadcast
/// (unless /31 or /32), IPv6 without the subnet-router anycast address.
fn first_free_host(net: &Cidr, held: &BTreeSet<String>) -> Option<String> {
    let (start, end) = match net.family() {
        Family::V4 if net.prefix >= 31 => (net.first(), net.last()),
        Family::V4 => (net.first() + 1, net.last() - 1),
        Family::V6 if net.prefix == 128 => (net.first(), net.last()),
        Family::V6 => (net.first() + 1, net.last()),
    };
    let mut v = start;
    while v <= end {
        let text = Addr {
            family: net.family(),
            value: v,
        }
        .to_string();
        if !held.contains(&text) {
            return Some(text);
        }
        v += 1;
    }
    None
}

impl IpamDriver for GoldenIpam {
    async fn get_capabilities(&self) -> Result<CapabilitiesResponse, PluginError> {
        Ok(CapabilitiesResponse::default())
    }

    async fn get_default_address_spaces(&self) -> Result<AddressSpacesResponse, PluginError> {
        Ok(AddressSpacesResponse {
            local_default_address_space: "rec-local".into(),
            global_default_address_space: "rec-global".into(),
            error: String::new(),
        })
    }

    async fn request_pool(
        &self,
        req: RequestPoolRequest,
    ) -> Result<RequestPoolResponse, PluginError> {
        let mut pools = self.pools.lock().unwrap();
        let net = if req.pool.is_empty() {
            let mut n = pools.len();
            loop {
                let cidr = if req.v6 {
                    format!("fd18:{n:x}::/64")
                } else {
                    format!("198.18.{n}.0/24")
                };
                if !pools.contains_key(&format!("rec/{cidr}")) {
                    break Cidr::parse(&cidr).expect("valid CIDR");
                }
                n += 1;
            }
        } else {
            Cidr::parse(&req.pool)
                .ok_or_else(|| PluginError::new(format!("bad pool {}", req.pool)))?
        };
        let id = format!("rec/{net}");
        if pools.contains_key(&id) {
            return Err(PluginError::in_band(format!(
                "pool {net} is already allocated"
            )));
        }
        let sub = match req.sub_pool.as_str() {
            "" => None,
            s => Some(Cidr::parse(s).ok_or_else(|| PluginError::new(format!("bad sub-pool {s}")))?),
        };
        pools.insert(
            id.clone(),
            GoldenPool {
                net,
                sub,
                addrs: BTreeSet::new(),
            },
        );
        Ok(RequestPoolResponse {
            pool_id: id,
            pool: net.to_string(),
            data: Some(BTreeMap::new()),
            error: String::new(),
        })
    }

    async fn release_pool(&self, req: ReleasePoolRequest) -> Result<(), PluginError> {
        self.pools.lock().unwrap().remove(&req.pool_id);
        Ok(())
    }

    async fn request_address(
        &self,
        req: RequestAddressRequest,
    ) -> Result<RequestAddressResponse, PluginError> {
        let mut pools = self.pools.lock().unwrap();
        let pool = pools
            .get_mut(&req.pool_id)
            .ok_or_else(|| PluginError::in_band(format!("no such pool: {}", req.pool_id)))?;
        let ip = if req.address.is_empty() {
            first_free_host(&pool.sub.unwrap_or(pool.net), &pool.addrs).ok_or_else(|| {
                PluginError::in_band(format!("no free address in {}", req.pool_id))
            })?
        } else {
            let ip = Addr::parse(&req.address)
                .ok_or_else(|| PluginError::new(format!("bad address {}", req.address)))?
                .to_string();
            if pool.addrs.contains(&ip) {
                return Err(PluginError::in_band(format!(
                    "address {ip} is already allocated"
                )));
            }
            ip
        };
        pool.addrs.insert(ip.clone());
        Ok(RequestAddressResponse {
            address: format!("{ip}/{}", pool.net.prefix),
            data: Some(BTreeMap::new()),
            error: String::new(),
        })
    }

    async fn release_address(&self, req: ReleaseAddressRequest) -> Result<(), PluginError> {
        let mut pools = self.pools.lock().unwrap();
        let pool = pools
            .get_mut(&req.pool_id)
            .ok_or_else(|| PluginError::in_band(format!("no such pool: {}", req.pool_id)))?;
        pool.addrs.remove(&req.address);
        Ok(())
    }
}

/// The recording network driver: scope `local`; Join names the interface
/// `gn` + the endpoint ID's first 10 characters with prefix `eth`;
/// EndpointOperInfo answers an empty `Value`; every other method succeeds
/// with an empty answer (it does implement
/// ProgramExternalConnectivity/RevokeExternalConnectivity).
#[derive(Debug, Default)]
pub struct GoldenNetwork;

impl NetworkDriver for GoldenNetwork {
    async fn get_capabilities(&self) -> Result<nw::CapabilitiesResponse, PluginError> {
        Ok(nw::CapabilitiesResponse {
            scope: "local".into(),
            ..Default::default()
        })
    }

    async fn create_network(&self, _req: nw::CreateNetworkRequest) -> Result<(), PluginError> {
        Ok(())
    }

    async fn delete_network(&self, _req: nw::NetworkRequest) -> Result<(), PluginError> {
        Ok(())
    }

    async fn create_endpoint(
        &self,
        _req: nw::CreateEndpointRequest,
    ) -> Result<Option<nw::EndpointInterface>, PluginError> {
        Ok(None)
    }

    async fn delete_endpoint(&self, _req: nw::EndpointRequest) -> Result<(), PluginError> {
        Ok(())
    }

    async fn endpoint_oper_info(
        &self,
        _req: nw::EndpointRequest,
    ) -> Result<nw::EndpointInfoResponse, PluginError> {
        Ok(nw::EndpointInfoResponse {
            value: Some(serde_json::Map::new()),
            ..Default::default()
        })
    }

    async fn join(&self, req: nw::JoinRequest) -> Result<nw::JoinResponse, PluginError> {
        let short: String = req.endpoint_id.chars().take(10).collect();
        Ok(nw::JoinResponse {
            interface_name: Some(nw::InterfaceName {
                src_name: format!("gn{short}"),
                dst_name: String::new(),
                dst_prefix: "eth".into(),
            }),
            ..Default::default()
        })
    }

    async fn leave(&self, _req: nw::EndpointRequest) -> Result<(), PluginError> {
        Ok(())
    }

    async fn program_external_connectivity(
        &self,
        _req: nw::ProgramExternalConnectivityRequest,
    ) -> Result<(), PluginError> {
        Ok(())
    }

    async fn revoke_external_connectivity(
        &self,
        _req: nw::EndpointRequest,
    ) -> Result<(), PluginError> {
        Ok(())
    }
}
