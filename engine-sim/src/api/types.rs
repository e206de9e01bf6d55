//! Request bodies as dockerd 20.10's API types define them (the fields the
//! simulated daemon acts on; every other field is accepted and ignored, as
//! Go's decoder ignores fields a struct does not have).
//!
//! Field names are the API's (`api/types` of moby 20.10, API 1.41). Missing
//! fields and JSON `null` take Go's zero values.

use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// `POST /containers/create`: the container config with `HostConfig` and
/// `NetworkingConfig` inlined (`ContainerConfigWrapper`).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContainerCreate {
    /// The image reference (`None`: not given).
    pub image: Option<String>,
    /// `Cmd`: a list of words, or one string (Go's `strslice.StrSlice`).
    #[serde(deserialize_with = "str_slice")]
    pub cmd: Vec<String>,
    /// `Volumes`: anonymous volume destinations (a set: the values are `{}`).
    #[serde(deserialize_with = "nullable")]
    pub volumes: Map<String, Value>,
    /// `HostConfig`.
    #[serde(deserialize_with = "nullable")]
    pub host_config: HostConfig,
    /// `NetworkingConfig`.
    #[serde(deserialize_with = "nullable")]
    pub networking_config: NetworkingConfig,
}

/// The parts of `HostConfig` that involve plugins.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct HostConfig {
    /// `-v SRC:DST[:MODE]` specs.
    #[serde(deserialize_with = "nullable")]
    pub binds: Vec<String>,
    /// `--mount` specs.
    #[serde(deserialize_with = "nullable")]
    pub mounts: Vec<Mount>,
    /// `--volume-driver`: the driver of volumes the container creates.
    #[serde(deserialize_with = "nullable")]
    pub volume_driver: String,
    /// `--volumes-from` (`CONTAINER[:MODE]`).
    #[serde(deserialize_with = "nullable")]
    pub volumes_from: Vec<String>,
    /// `--rm`.
    #[serde(deserialize_with = "nullable")]
    pub auto_remove: bool,
    /// `--restart`.
    #[serde(deserialize_with = "nullable")]
    pub restart_policy: RestartPolicy,
    /// `--network` (`default` and empty: the default bridge).
    #[serde(deserialize_with = "nullable")]
    pub network_mode: String,
}

/// `HostConfig.Mounts[]` (`mount.Mount`).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Mount {
    /// `volume`, `bind`, `tmpfs`…
    #[serde(deserialize_with = "nullable")]
    pub r#type: String,
    /// The volume name (empty: anonymous) or host path.
    #[serde(deserialize_with = "nullable")]
    pub source: String,
    /// The path in the container.
    #[serde(deserialize_with = "nullable")]
    pub target: String,
    /// Read-only.
    #[serde(deserialize_with = "nullable")]
    pub read_only: bool,
}

/// `HostConfig.RestartPolicy`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RestartPolicy {
    /// `no`, `always`, `unless-stopped`, `on-failure` (empty: `no`).
    #[serde(deserialize_with = "nullable")]
    pub name: String,
    /// `on-failure`'s retry limit.
    #[serde(deserialize_with = "nullable")]
    pub maximum_retry_count: i64,
}

/// `NetworkingConfig`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NetworkingConfig {
    /// Endpoint settings per network name.
    #[serde(deserialize_with = "nullable")]
    pub endpoints_config: BTreeMap<String, Option<EndpointSettings>>,
}

/// `EndpointSettings` (the part IPAM sees).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct EndpointSettings {
    /// `IPAMConfig`: the addresses asked for.
    #[serde(rename = "IPAMConfig", deserialize_with = "nullable")]
    pub ipam_config: EndpointIpam,
}

/// `EndpointIPAMConfig`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct EndpointIpam {
    /// `--ip`.
    #[serde(rename = "IPv4Address", deserialize_with = "nullable")]
    pub ipv4_address: String,
    /// `--ip6`.
    #[serde(rename = "IPv6Address", deserialize_with = "nullable")]
    pub ipv6_address: String,
}

/// `POST /volumes/create` (`volume.VolumeCreateBody`).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct VolumeCreate {
    /// The name; empty: a random one.
    #[serde(deserialize_with = "nullable")]
    pub name: String,
    /// The driver; empty: `local`.
    #[serde(deserialize_with = "nullable")]
    pub driver: String,
    /// `-o` options, `null` when none were given.
    pub driver_opts: Option<BTreeMap<String, String>>,
    /// `--label`s, `null` when none were given.
    pub labels: Option<BTreeMap<String, String>>,
}

/// `POST /networks/create` (`types.NetworkCreateRequest`).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NetworkCreate {
    /// The network name.
    #[serde(deserialize_with = "nullable")]
    pub name: String,
    /// The driver; empty: `bridge`.
    #[serde(deserialize_with = "nullable")]
    pub driver: String,
    /// `--ipv6`.
    #[serde(rename = "EnableIPv6", deserialize_with = "nullable")]
    pub enable_ipv6: bool,
    /// The IPAM driver and its configs.
    #[serde(rename = "IPAM")]
    pub ipam: Option<Ipam>,
    /// Driver options (`-o`).
    #[serde(deserialize_with = "nullable")]
    pub options: BTreeMap<String, String>,
}

/// `network.IPAM`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Ipam {
    /// The IPAM driver; empty: `default`.
    #[serde(deserialize_with = "nullable")]
    pub driver: String,
    /// `--ipam-opt`s.
    #[serde(deserialize_with = "nullable")]
    pub options: BTreeMap<String, String>,
    /// One entry per subnet.
    #[serde(deserialize_with = "nullable")]
    pub config: Vec<IpamConfig>,
}

/// `network.IPAMConfig`.
#[derive(Debug, Default, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct IpamConfig {
    /// `--subnet`.
    #[serde(
        skip_serializing_if = "String::is_empty",
        deserialize_with = "nullable"
    )]
    pub subnet: String,
    /// `--ip-range`.
    #[serde(
        rename = "IPRange",
        skip_serializing_if = "String::is_empty",
        deserialize_with = "nullable"
    )]
    pub ip_range: String,
    /// `--gateway`.
    #[serde(
        skip_serializing_if = "String::is_empty",
        deserialize_with = "nullable"
    )]
    pub gateway: String,
    /// `--aux-address`es.
    #[serde(
        rename = "AuxiliaryAddresses",
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "nullable"
    )]
    pub aux_addresses: BTreeMap<String, String>,
}

/// `POST /networks/{id}/connect` (`types.NetworkConnect`).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NetworkConnect {
    /// The container's name or ID.
    #[serde(deserialize_with = "nullable")]
    pub container: String,
    /// Its endpoint settings (`--ip`).
    #[serde(deserialize_with = "nullable")]
    pub endpoint_config: EndpointSettings,
}

/// `POST /networks/{id}/disconnect` (`types.NetworkDisconnect`).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NetworkDisconnect {
    /// The container's name or ID.
    #[serde(deserialize_with = "nullable")]
    pub container: String,
    /// `-f`.
    #[serde(deserialize_with = "nullable")]
    pub force: bool,
}

/// A JSON `null` leaves Go's zero value, as a missing field does.
fn nullable<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// `strslice.StrSlice`: a JSON list of strings, or one string as a list of one.
fn str_slice<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match Option::<OneOrMany>::deserialize(d)? {
        None => Vec::new(),
        Some(OneOrMany::One(s)) => vec![s],
        Some(OneOrMany::Many(v)) => v,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_fields_and_nulls_are_tolerated() {
        let c: ContainerCreate = serde_json::from_str(
            r#"{"Image":"bb","Cmd":"true","Unknown":1,"Volumes":null,
                "HostConfig":{"Binds":["v:/d"],"VolumesFrom":null,"AutoRemove":true,"Other":[1]}}"#,
        )
        .unwrap();
        assert_eq!(c.image.as_deref(), Some("bb"));
        assert_eq!(c.cmd, ["true"]);
        assert!(c.volumes.is_empty());
        assert_eq!(c.host_config.binds, ["v:/d"]);
        assert!(c.host_config.auto_remove);
        let n: NetworkCreate =
            serde_json::from_str(r#"{"Name":"n","IPAM":{"Config":[{"Subnet":"10.0.0.0/24"}]}}"#)
                .unwrap();
        assert_eq!(n.ipam.unwrap().config[0].subnet, "10.0.0.0/24");
    }
}
