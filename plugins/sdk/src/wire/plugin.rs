//! Bodies shared by every protocol: the activation manifest and the error body.

use serde::{Deserialize, Serialize};

/// The value a plugin lists in `Implements` for each protocol it speaks.
///
/// These strings are case-sensitive on dockerd's side: `authz` is lowercase,
/// the others are PascalCase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Protocol {
    /// `VolumeDriver`: volume plugins.
    VolumeDriver,
    /// `authz`: authorization plugins.
    Authz,
    /// `IpamDriver`: IP address management plugins.
    IpamDriver,
    /// `NetworkDriver`: remote network drivers.
    NetworkDriver,
}

impl Protocol {
    /// Every protocol drydock knows, in a stable order.
    pub const ALL: [Protocol; 4] = [
        Protocol::VolumeDriver,
        Protocol::Authz,
        Protocol::IpamDriver,
        Protocol::NetworkDriver,
    ];

    /// The exact string used in `Implements`.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::VolumeDriver => "VolumeDriver",
            Protocol::Authz => "authz",
            Protocol::IpamDriver => "IpamDriver",
            Protocol::NetworkDriver => "NetworkDriver",
        }
    }

    /// The prefix of this protocol's RPC paths (`/VolumeDriver.Get` → `VolumeDriver`).
    ///
    /// Note that authz's Implements value (`authz`) differs from its RPC prefix
    /// (`AuthZPlugin`).
    pub fn rpc_prefix(self) -> &'static str {
        match self {
            Protocol::VolumeDriver => "VolumeDriver",
            Protocol::Authz => "AuthZPlugin",
            Protocol::IpamDriver => "IpamDriver",
            Protocol::NetworkDriver => "NetworkDriver",
        }
    }

    /// Parses an `Implements` value; unknown values (e.g. `LogDriver`) give `None`.
    pub fn from_implements(s: &str) -> Option<Protocol> {
        Protocol::ALL.into_iter().find(|p| p.as_str() == s)
    }

    /// Parses a protocol from a user-facing name (`volume`, `authz`, `ipam`, `network`)
    /// or an `Implements` value.
    pub fn from_user(s: &str) -> Option<Protocol> {
        match s {
            "volume" => Some(Protocol::VolumeDriver),
            "authz" => Some(Protocol::Authz),
            "ipam" => Some(Protocol::IpamDriver),
            "network" => Some(Protocol::NetworkDriver),
            other => Protocol::from_implements(other),
        }
    }
}

impl std::fmt::Display for Protocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `POST /Plugin.Activate` response: `{"Implements": [...]}`.
///
/// `Implements` is kept as raw strings so that a plugin announcing types drydock
/// does not model (`LogDriver`, `GraphDriver`, …) is still reported faithfully.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivateResponse {
    /// The protocols the plugin implements.
    #[serde(rename = "Implements", default)]
    pub implements: Option<Vec<String>>,
}

impl ActivateResponse {
    /// Whether the manifest lists `protocol`.
    pub fn implements(&self, protocol: Protocol) -> bool {
        self.implements
            .iter()
            .flatten()
            .any(|s| s == protocol.as_str())
    }
}

/// The out-of-band error body every protocol uses on a non-200 reply: `{"Err": "..."}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The error message.
    #[serde(rename = "Err", default)]
    pub err: String,
}

/// The `Accept` header dockerd 20.10 sends on every plugin request.
pub const ACCEPT: &str = "application/vnd.docker.plugins.v1.2+json";

/// The `Content-Type` drydock plugins answer with. dockerd ignores it; this is
/// the value go-plugins-helpers uses, so proxies and tcpdump users see the familiar one.
pub const CONTENT_TYPE: &str = "application/vnd.docker.plugins.v1.1+json";

/// A `.json` plugin spec file (protocol.md §1.2): where dockerd finds a plugin
/// that listens on TCP, and how it should speak TLS to it.
///
/// dockerd ignores any `Name` key (the name comes from the file name) and any
/// path in `Addr`; only an `https://` address makes it use TLS.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JsonSpec {
    /// The plugin's address, e.g. `https://127.0.0.1:9443`.
    #[serde(rename = "Addr", default)]
    pub addr: String,
    /// TLS options for dockerd's side. Absent means Go's default verification
    /// against the system roots.
    #[serde(rename = "TLSConfig", default, skip_serializing_if = "Option::is_none")]
    pub tls_config: Option<SpecTls>,
}

/// dockerd's client-side TLS options in a [`JsonSpec`] (go-connections `tlsconfig.Options`).
///
/// The paths are read by dockerd, so they must make sense on its side.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpecTls {
    /// CA that signed the plugin's certificate. dockerd skips verification
    /// entirely when this is empty, whatever `InsecureSkipVerify` says.
    #[serde(rename = "CAFile", default, skip_serializing_if = "String::is_empty")]
    pub ca_file: String,
    /// Client certificate dockerd presents (mutual TLS); used only with `KeyFile`.
    #[serde(rename = "CertFile", default, skip_serializing_if = "String::is_empty")]
    pub cert_file: String,
    /// Key of `CertFile`.
    #[serde(rename = "KeyFile", default, skip_serializing_if = "String::is_empty")]
    pub key_file: String,
    /// Accept any server certificate.
    #[serde(rename = "InsecureSkipVerify", default)]
    pub insecure_skip_verify: bool,
}
