//! NetworkDriver bodies (protocol.md §7).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// `/NetworkDriver.GetCapabilities` response (the request body is empty).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CapabilitiesResponse {
    /// `local` or `global`; anything else fails registration.
    #[serde(rename = "Scope", default)]
    pub scope: String,
    /// `local`, `global` or empty (= `Scope`).
    #[serde(
        rename = "ConnectivityScope",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub connectivity_scope: String,
    /// In-band error.
    #[serde(rename = "Err", default, skip_serializing_if = "String::is_empty")]
    pub err: String,
}

/// Address pool data of a network, as libnetwork encodes it (keys omitted when unset).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpamData {
    /// The IPAM address space.
    #[serde(
        rename = "AddressSpace",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub address_space: String,
    /// The pool, CIDR.
    #[serde(rename = "Pool", default, skip_serializing_if = "String::is_empty")]
    pub pool: String,
    /// The gateway, CIDR.
    #[serde(rename = "Gateway", default, skip_serializing_if = "String::is_empty")]
    pub gateway: String,
    /// Auxiliary addresses by name, CIDR.
    #[serde(
        rename = "AuxAddresses",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub aux_addresses: Option<BTreeMap<String, String>>,
}

/// `/NetworkDriver.CreateNetwork` request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CreateNetworkRequest {
    /// Network ID to remember.
    #[serde(rename = "NetworkID", default)]
    pub network_id: String,
    /// Options; user `-o` values live under `com.docker.network.generic`.
    #[serde(
        rename = "Options",
        default,
        serialize_with = "crate::wire::go::go_map::serialize"
    )]
    pub options: Option<Map<String, Value>>,
    /// IPv4 pools.
    #[serde(rename = "IPv4Data", default)]
    pub ipv4_data: Option<Vec<IpamData>>,
    /// IPv6 pools.
    #[serde(rename = "IPv6Data", default)]
    pub ipv6_data: Option<Vec<IpamData>>,
}

/// `/NetworkDriver.AllocateNetwork` request (swarm managers only).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AllocateNetworkRequest {
    /// Network ID.
    #[serde(rename = "NetworkID", default)]
    pub network_id: String,
    /// Options.
    #[serde(rename = "Options", default)]
    pub options: Option<BTreeMap<String, String>>,
    /// IPv4 pools.
    #[serde(rename = "IPv4Data", default)]
    pub ipv4_data: Option<Vec<IpamData>>,
    /// IPv6 pools.
    #[serde(rename = "IPv6Data", default)]
    pub ipv6_data: Option<Vec<IpamData>>,
}

/// `/NetworkDriver.AllocateNetwork` response.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AllocateNetworkResponse {
    /// Options passed on to CreateNetwork on the agents.
    #[serde(rename = "Options", default)]
    pub options: Option<BTreeMap<String, String>>,
    /// In-band error.
    #[serde(rename = "Err", default, skip_serializing_if = "String::is_empty")]
    pub err: String,
}

/// A request naming only a network (`DeleteNetwork`, `FreeNetwork`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkRequest {
    /// Network ID.
    #[serde(rename = "NetworkID", default)]
    pub network_id: String,
}

/// A request naming an endpoint (`DeleteEndpoint`, `EndpointOperInfo`, `Leave`,
/// `RevokeExternalConnectivity`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointRequest {
    /// Network ID.
    #[serde(rename = "NetworkID", default)]
    pub network_id: String,
    /// Endpoint ID.
    #[serde(rename = "EndpointID", default)]
    pub endpoint_id: String,
}

/// An endpoint's interface addresses.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointInterface {
    /// IPv4 address, CIDR.
    #[serde(rename = "Address", default)]
    pub address: String,
    /// IPv6 address, CIDR.
    #[serde(rename = "AddressIPv6", default)]
    pub address_ipv6: String,
    /// MAC address.
    #[serde(rename = "MacAddress", default)]
    pub mac_address: String,
}

/// `/NetworkDriver.CreateEndpoint` request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CreateEndpointRequest {
    /// Network ID.
    #[serde(rename = "NetworkID", default)]
    pub network_id: String,
    /// Endpoint ID.
    #[serde(rename = "EndpointID", default)]
    pub endpoint_id: String,
    /// Addresses the daemon already chose.
    #[serde(rename = "Interface", default)]
    pub interface: Option<EndpointInterface>,
    /// Endpoint options.
    #[serde(
        rename = "Options",
        default,
        serialize_with = "crate::wire::go::go_map::serialize"
    )]
    pub options: Option<Map<String, Value>>,
}

/// `/NetworkDriver.CreateEndpoint` response.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateEndpointResponse {
    /// Addresses the driver chose; must be absent when the daemon supplied them.
    #[serde(rename = "Interface", default, skip_serializing_if = "Option::is_none")]
    pub interface: Option<EndpointInterface>,
    /// In-band error.
    #[serde(rename = "Err", default, skip_serializing_if = "String::is_empty")]
    pub err: String,
}

/// `/NetworkDriver.EndpointOperInfo` response.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EndpointInfoResponse {
    /// Free-form operational data.
    #[serde(
        rename = "Value",
        default,
        serialize_with = "crate::wire::go::go_map::serialize"
    )]
    pub value: Option<Map<String, Value>>,
    /// In-band error.
    #[serde(rename = "Err", default, skip_serializing_if = "String::is_empty")]
    pub err: String,
}

/// `/NetworkDriver.Join` request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct JoinRequest {
    /// Network ID.
    #[serde(rename = "NetworkID", default)]
    pub network_id: String,
    /// Endpoint ID.
    #[serde(rename = "EndpointID", default)]
    pub endpoint_id: String,
    /// Path of the container's network namespace.
    #[serde(rename = "SandboxKey", default)]
    pub sandbox_key: String,
    /// Join options.
    #[serde(
        rename = "Options",
        default,
        serialize_with = "crate::wire::go::go_map::serialize"
    )]
    pub options: Option<Map<String, Value>>,
}

/// Names of the interface pair the driver created.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InterfaceName {
    /// Name of the interface to move into the container.
    #[serde(rename = "SrcName", default)]
    pub src_name: String,
    /// Unused by dockerd; kept for fidelity.
    #[serde(rename = "DstName", default, skip_serializing_if = "String::is_empty")]
    pub dst_name: String,
    /// Prefix of the name inside the container (`eth` → `eth0`).
    #[serde(rename = "DstPrefix", default)]
    pub dst_prefix: String,
}

/// A static route returned by Join.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaticRoute {
    /// Destination, CIDR.
    #[serde(rename = "Destination", default)]
    pub destination: String,
    /// 0 = next hop, 1 = connected.
    #[serde(rename = "RouteType", default)]
    pub route_type: i64,
    /// Next hop IP.
    #[serde(rename = "NextHop", default)]
    pub next_hop: String,
}

/// `/NetworkDriver.Join` response.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinResponse {
    /// Interface names.
    #[serde(
        rename = "InterfaceName",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub interface_name: Option<InterfaceName>,
    /// IPv4 gateway, bare IP.
    #[serde(rename = "Gateway", default, skip_serializing_if = "String::is_empty")]
    pub gateway: String,
    /// IPv6 gateway, bare IP.
    #[serde(
        rename = "GatewayIPv6",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub gateway_ipv6: String,
    /// Static routes.
    #[serde(
        rename = "StaticRoutes",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub static_routes: Option<Vec<StaticRoute>>,
    /// Don't connect the container to the gateway bridge.
    #[serde(rename = "DisableGatewayService", default)]
    pub disable_gateway_service: bool,
    /// In-band error.
    #[serde(rename = "Err", default, skip_serializing_if = "String::is_empty")]
    pub err: String,
}

/// `/NetworkDriver.ProgramExternalConnectivity` request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProgramExternalConnectivityRequest {
    /// Network ID.
    #[serde(rename = "NetworkID", default)]
    pub network_id: String,
    /// Endpoint ID.
    #[serde(rename = "EndpointID", default)]
    pub endpoint_id: String,
    /// Options (exposed ports, port mappings).
    #[serde(
        rename = "Options",
        default,
        serialize_with = "crate::wire::go::go_map::serialize"
    )]
    pub options: Option<Map<String, Value>>,
}

/// `/NetworkDriver.DiscoverNew` and `/NetworkDriver.DiscoverDelete` request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DiscoveryNotification {
    /// 1 = node discovery.
    #[serde(rename = "DiscoveryType", default)]
    pub discovery_type: i64,
    /// Free-form data.
    #[serde(
        rename = "DiscoveryData",
        default,
        serialize_with = "crate::wire::go::go_value::serialize"
    )]
    pub discovery_data: Value,
}

/// A response carrying only the in-band error.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrResponse {
    /// In-band error.
    #[serde(rename = "Err", default, skip_serializing_if = "String::is_empty")]
    pub err: String,
}
