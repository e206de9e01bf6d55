//! IpamDriver bodies (protocol.md §6.1).
//!
//! IPAM's in-band error field is `Error`, not `Err` as in every other protocol.
//! Requests carry bare IPs (`10.0.0.5`); responses must carry CIDR (`10.0.0.5/24`).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `/IpamDriver.GetCapabilities` response (the request body is empty).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CapabilitiesResponse {
    /// Endpoint address requests then carry a MAC address option.
    #[serde(rename = "RequiresMACAddress", default)]
    pub requires_mac_address: bool,
    /// dockerd replays pool and address requests after a restart.
    #[serde(rename = "RequiresRequestReplay", default)]
    pub requires_request_replay: bool,
    /// In-band error.
    #[serde(rename = "Error", default, skip_serializing_if = "String::is_empty")]
    pub error: String,
}

/// `/IpamDriver.GetDefaultAddressSpaces` response (the request body is empty).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddressSpacesResponse {
    /// Address space for local-scope networks.
    #[serde(rename = "LocalDefaultAddressSpace", default)]
    pub local_default_address_space: String,
    /// Address space for global-scope networks.
    #[serde(rename = "GlobalDefaultAddressSpace", default)]
    pub global_default_address_space: String,
    /// In-band error.
    #[serde(rename = "Error", default, skip_serializing_if = "String::is_empty")]
    pub error: String,
}

/// `/IpamDriver.RequestPool` request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestPoolRequest {
    /// The address space (the plugin's local or global default).
    #[serde(rename = "AddressSpace", default)]
    pub address_space: String,
    /// Preferred pool (`--subnet`), CIDR or empty.
    #[serde(rename = "Pool", default)]
    pub pool: String,
    /// Sub-pool for dynamic addresses (`--ip-range`), CIDR or empty.
    #[serde(rename = "SubPool", default)]
    pub sub_pool: String,
    /// `--ipam-opt` values.
    #[serde(rename = "Options", default)]
    pub options: Option<BTreeMap<String, String>>,
    /// Whether an IPv6 pool is wanted.
    #[serde(rename = "V6", default)]
    pub v6: bool,
}

/// `/IpamDriver.RequestPool` response.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestPoolResponse {
    /// Opaque pool identifier used in later calls.
    #[serde(rename = "PoolID", default)]
    pub pool_id: String,
    /// The pool, CIDR.
    #[serde(rename = "Pool", default)]
    pub pool: String,
    /// Extra data; `com.docker.network.gateway` here supplies the gateway.
    #[serde(rename = "Data", default)]
    pub data: Option<BTreeMap<String, String>>,
    /// In-band error.
    #[serde(rename = "Error", default, skip_serializing_if = "String::is_empty")]
    pub error: String,
}

/// `/IpamDriver.ReleasePool` request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleasePoolRequest {
    /// The pool to release.
    #[serde(rename = "PoolID", default)]
    pub pool_id: String,
}

/// `/IpamDriver.RequestAddress` request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestAddressRequest {
    /// The pool to allocate from.
    #[serde(rename = "PoolID", default)]
    pub pool_id: String,
    /// A bare IP to reserve, or empty for "any".
    #[serde(rename = "Address", default)]
    pub address: String,
    /// `RequestAddressType` for gateways; MAC address when required.
    #[serde(rename = "Options", default)]
    pub options: Option<BTreeMap<String, String>>,
}

/// `/IpamDriver.RequestAddress` response.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestAddressResponse {
    /// The address, CIDR (`10.0.0.5/24`).
    #[serde(rename = "Address", default)]
    pub address: String,
    /// Extra data.
    #[serde(rename = "Data", default)]
    pub data: Option<BTreeMap<String, String>>,
    /// In-band error.
    #[serde(rename = "Error", default, skip_serializing_if = "String::is_empty")]
    pub error: String,
}

/// `/IpamDriver.ReleaseAddress` request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseAddressRequest {
    /// The pool the address came from.
    #[serde(rename = "PoolID", default)]
    pub pool_id: String,
    /// The bare IP to release.
    #[serde(rename = "Address", default)]
    pub address: String,
}

/// The response of `ReleasePool` and `ReleaseAddress`: only the in-band error.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorResponse {
    /// In-band error.
    #[serde(rename = "Error", default, skip_serializing_if = "String::is_empty")]
    pub error: String,
}

/// Option key/value dockerd puts in a gateway's `RequestAddress`.
pub const REQUEST_ADDRESS_TYPE: &str = "RequestAddressType";
/// The value of [`REQUEST_ADDRESS_TYPE`] for gateways.
pub const GATEWAY_ADDRESS_TYPE: &str = "com.docker.network.gateway";
/// The MAC address option key used when the plugin requires MAC addresses.
pub const MAC_ADDRESS_OPTION: &str = "com.docker.network.endpoint.macaddress";
