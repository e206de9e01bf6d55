//! Request bodies as dockerd 20.10's API types define them (the fields the
//! simulated daemon acts on), decoded as Go's `encoding/json` decodes them:
//!
//! * a key names a field exactly or, failing that, case-insensitively
//!   (`{"image": …}` sets `Image`);
//! * keys no field has are skipped, whatever their value;
//! * `null` leaves a field at its zero value, as a missing key does;
//! * a later duplicate key wins.
//!
//! Field names are the API's (`api/types` of moby 20.10, API 1.41).

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

/// Declares an API struct and its Go-style decoder. Each field names its
/// JSON key and the type it is read through (`Nullable<T>` for Go's
/// non-pointer fields, `Option<T>` to know whether the key was there).
macro_rules! go_struct {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $(
                $(#[$fmeta:meta])*
                $json:literal as $via:ty => pub $field:ident : $ty:ty,
            )*
        }
    ) => {
        $(#[$meta])*
        pub struct $name {
            $( $(#[$fmeta])* pub $field: $ty, )*
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl<'de> Visitor<'de> for V {
                    type Value = $name;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str(concat!("a JSON object (", stringify!($name), ")"))
                    }
                    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<$name, A::Error> {
                        let mut out = $name::default();
                        while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
                            $(
                                if key == $json {
                                    out.$field = map.next_value::<$via>()?.into();
                                    continue;
                                }
                            )*
                            $(
                                if key.eq_ignore_ascii_case($json) {
                                    out.$field = map.next_value::<$via>()?.into();
                                    continue;
                                }
                            )*
                            map.next_value::<IgnoredAny>()?;
                        }
                        Ok(out)
                    }
                }
                d.deserialize_map(V)
            }
        }
    };
}

/// An object key, borrowed from the body when it has no escapes.
struct Key<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct K;
        impl<'de> Visitor<'de> for K {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object key")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
        }
        d.deserialize_str(K)
    }
}

/// A Go non-pointer field: `null` leaves its zero value.
pub struct Nullable<T>(T);

impl<'de, T: Deserialize<'de> + Default> Deserialize<'de> for Nullable<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Nullable(Option::<T>::deserialize(d)?.unwrap_or_default()))
    }
}

/// Go's `strslice.StrSlice` (`Cmd`): a list of strings, or one string as a
/// list of one.
pub struct StrSlice(Vec<String>);

impl<'de> Deserialize<'de> for StrSlice {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct S(PhantomData<()>);
        impl<'de> Visitor<'de> for S {
            type Value = StrSlice;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or a list of strings")
            }
            fn visit_unit<E: de::Error>(self) -> Result<StrSlice, E> {
                Ok(StrSlice(Vec::new()))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<StrSlice, E> {
                Ok(StrSlice(vec![v.to_owned()]))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<StrSlice, A::Error> {
                let mut out = Vec::new();
                while let Some(s) = seq.next_element::<String>()? {
                    out.push(s);
                }
                Ok(StrSlice(out))
            }
        }
        d.deserialize_any(S(PhantomData))
    }
}

/// Conversions from the types fields are read through.
macro_rules! unwrap_into {
    ($($t:ty),*) => {$(
        impl From<Nullable<$t>> for $t {
            fn from(n: Nullable<$t>) -> Self {
                n.0
            }
        }
    )*};
}

unwrap_into!(
    String,
    bool,
    i64,
    Vec<String>,
    Vec<Mount>,
    Vec<IpamConfig>,
    BTreeMap<String, String>,
    BTreeMap<String, Option<EndpointSettings>>,
    Map<String, Value>,
    HostConfig,
    RestartPolicy,
    NetworkingConfig,
    EndpointSettings,
    EndpointIpam,
    VolumeOptions,
    DriverConfig
);

impl From<StrSlice> for Vec<String> {
    fn from(s: StrSlice) -> Self {
        s.0
    }
}

go_struct! {
    /// `POST /containers/create`: the container config with `HostConfig` and
    /// `NetworkingConfig` inlined (`ContainerConfigWrapper`).
    #[derive(Debug, Default)]
    pub struct ContainerCreate {
        /// The image reference (`None`: not given).
        "Image" as Option<String> => pub image: Option<String>,
        /// `Cmd`: a list of words, or one string.
        "Cmd" as StrSlice => pub cmd: Vec<String>,
        /// `Volumes`: anonymous volume destinations (a set: the values are `{}`).
        "Volumes" as Nullable<Map<String, Value>> => pub volumes: Map<String, Value>,
        /// `HostConfig`.
        "HostConfig" as Nullable<HostConfig> => pub host_config: HostConfig,
        /// `NetworkingConfig`.
        "NetworkingConfig" as Nullable<NetworkingConfig> => pub networking_config: NetworkingConfig,
        /// `Labels`.
        "Labels" as Nullable<BTreeMap<String, String>> => pub labels: BTreeMap<String, String>,
    }
}

go_struct! {
    /// `POST /containers/{id}/update` (`container.UpdateConfig`): the
    /// restart policy; resource limits are read and have no effect.
    #[derive(Debug, Default)]
    pub struct ContainerUpdate {
        /// `RestartPolicy`.
        "RestartPolicy" as Nullable<RestartPolicy> => pub restart_policy: RestartPolicy,
    }
}

go_struct! {
    /// The parts of `HostConfig` that involve plugins.
    #[derive(Debug, Default)]
    pub struct HostConfig {
        /// `-v SRC:DST[:MODE]` specs.
        "Binds" as Nullable<Vec<String>> => pub binds: Vec<String>,
        /// `--mount` specs.
        "Mounts" as Nullable<Vec<Mount>> => pub mounts: Vec<Mount>,
        /// `--volume-driver`: the driver of volumes the container creates.
        "VolumeDriver" as Nullable<String> => pub volume_driver: String,
        /// `--volumes-from` (`CONTAINER[:MODE]`).
        "VolumesFrom" as Nullable<Vec<String>> => pub volumes_from: Vec<String>,
        /// `--rm`.
        "AutoRemove" as Nullable<bool> => pub auto_remove: bool,
        /// `--restart`.
        "RestartPolicy" as Nullable<RestartPolicy> => pub restart_policy: RestartPolicy,
        /// `--network` (`default` and empty: the default bridge).
        "NetworkMode" as Nullable<String> => pub network_mode: String,
    }
}

go_struct! {
    /// `HostConfig.Mounts[]` (`mount.Mount`).
    #[derive(Debug, Default)]
    pub struct Mount {
        /// `volume`, `bind`, `tmpfs`…
        "Type" as Nullable<String> => pub r#type: String,
        /// The volume name (empty: anonymous) or host path.
        "Source" as Nullable<String> => pub source: String,
        /// The path in the container.
        "Target" as Nullable<String> => pub target: String,
        /// Read-only.
        "ReadOnly" as Nullable<bool> => pub read_only: bool,
        /// `VolumeOptions` (a volume the container creates).
        "VolumeOptions" as Nullable<VolumeOptions> => pub volume_options: VolumeOptions,
    }
}

go_struct! {
    /// `mount.VolumeOptions`.
    #[derive(Debug, Default)]
    pub struct VolumeOptions {
        /// `Labels` of a volume created for the mount.
        "Labels" as Option<BTreeMap<String, String>> => pub labels: Option<BTreeMap<String, String>>,
        /// `DriverConfig`: the driver and its options.
        "DriverConfig" as Nullable<DriverConfig> => pub driver_config: DriverConfig,
    }
}

go_struct! {
    /// `mount.Driver`.
    #[derive(Debug, Default)]
    pub struct DriverConfig {
        /// The volume driver.
        "Name" as Nullable<String> => pub name: String,
        /// Its options (`volume-opt`).
        "Options" as Option<BTreeMap<String, String>> => pub options: Option<BTreeMap<String, String>>,
    }
}

go_struct! {
    /// `HostConfig.RestartPolicy`.
    #[derive(Debug, Default)]
    pub struct RestartPolicy {
        /// `no`, `always`, `unless-stopped`, `on-failure` (empty: `no`).
        "Name" as Nullable<String> => pub name: String,
        /// `on-failure`'s retry limit.
        "MaximumRetryCount" as Nullable<i64> => pub maximum_retry_count: i64,
    }
}

go_struct! {
    /// `NetworkingConfig`.
    #[derive(Debug, Default)]
    pub struct NetworkingConfig {
        /// Endpoint settings per network name (the names are data: matched
        /// exactly).
        "EndpointsConfig" as Nullable<BTreeMap<String, Option<EndpointSettings>>>
            => pub endpoints_config: BTreeMap<String, Option<EndpointSettings>>,
    }
}

go_struct! {
    /// `EndpointSettings` (the part IPAM sees).
    #[derive(Debug, Default)]
    pub struct EndpointSettings {
        /// `IPAMConfig`: the addresses asked for.
        "IPAMConfig" as Nullable<EndpointIpam> => pub ipam_config: EndpointIpam,
    }
}

go_struct! {
    /// `EndpointIPAMConfig`.
    #[derive(Debug, Default)]
    pub struct EndpointIpam {
        /// `--ip`.
        "IPv4Address" as Nullable<String> => pub ipv4_address: String,
        /// `--ip6`.
        "IPv6Address" as Nullable<String> => pub ipv6_address: String,
    }
}

go_struct! {
    /// `POST /volumes/create` (`volume.VolumeCreateBody`).
    #[derive(Debug, Default)]
    pub struct VolumeCreate {
        /// The name; empty: a random one.
        "Name" as Nullable<String> => pub name: String,
        /// The driver; empty: `local`.
        "Driver" as Nullable<String> => pub driver: String,
        /// `-o` options, `None` when none were given (or `null`).
        "DriverOpts" as Option<BTreeMap<String, String>>
            => pub driver_opts: Option<BTreeMap<String, String>>,
        /// `--label`s, `None` when none were given (or `null`).
        "Labels" as Option<BTreeMap<String, String>> => pub labels: Option<BTreeMap<String, String>>,
    }
}

go_struct! {
    /// `POST /networks/create` (`types.NetworkCreateRequest`).
    #[derive(Debug, Default)]
    pub struct NetworkCreate {
        /// The network name.
        "Name" as Nullable<String> => pub name: String,
        /// The driver; empty: `bridge`.
        "Driver" as Nullable<String> => pub driver: String,
        /// `--ipv6`.
        "EnableIPv6" as Nullable<bool> => pub enable_ipv6: bool,
        /// The IPAM driver and its configs.
        "IPAM" as Option<Ipam> => pub ipam: Option<Ipam>,
        /// Driver options (`-o`).
        "Options" as Nullable<BTreeMap<String, String>> => pub options: BTreeMap<String, String>,
    }
}

go_struct! {
    /// `network.IPAM`.
    #[derive(Debug, Default)]
    pub struct Ipam {
        /// The IPAM driver; empty: `default`.
        "Driver" as Nullable<String> => pub driver: String,
        /// `--ipam-opt`s.
        "Options" as Option<BTreeMap<String, String>> => pub options: Option<BTreeMap<String, String>>,
        /// One entry per subnet.
        "Config" as Nullable<Vec<IpamConfig>> => pub config: Vec<IpamConfig>,
    }
}

go_struct! {
    /// `network.IPAMConfig` (also what the CLI model sends).
    #[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
    #[serde(rename_all = "PascalCase")]
    pub struct IpamConfig {
        /// `--subnet`.
        #[serde(skip_serializing_if = "String::is_empty")]
        "Subnet" as Nullable<String> => pub subnet: String,
        /// `--ip-range`.
        #[serde(rename = "IPRange", skip_serializing_if = "String::is_empty")]
        "IPRange" as Nullable<String> => pub ip_range: String,
        /// `--gateway`.
        #[serde(skip_serializing_if = "String::is_empty")]
        "Gateway" as Nullable<String> => pub gateway: String,
        /// `--aux-address`es.
        #[serde(rename = "AuxiliaryAddresses", skip_serializing_if = "BTreeMap::is_empty")]
        "AuxiliaryAddresses" as Nullable<BTreeMap<String, String>>
            => pub aux_addresses: BTreeMap<String, String>,
    }
}

go_struct! {
    /// `POST /networks/{id}/connect` (`types.NetworkConnect`).
    #[derive(Debug, Default)]
    pub struct NetworkConnect {
        /// The container's name or ID.
        "Container" as Nullable<String> => pub container: String,
        /// Its endpoint settings (`--ip`).
        "EndpointConfig" as Nullable<EndpointSettings> => pub endpoint_config: EndpointSettings,
    }
}

go_struct! {
    /// `POST /networks/{id}/disconnect` (`types.NetworkDisconnect`).
    #[derive(Debug, Default)]
    pub struct NetworkDisconnect {
        /// The container's name or ID.
        "Container" as Nullable<String> => pub container: String,
        /// `-f`.
        "Force" as Nullable<bool> => pub force: bool,
    }
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

    #[test]
    fn keys_match_fields_as_go_matches_them() {
        // Case-insensitively when no field has the exact name; an exact
        // match wins over a folded one, and a later key over an earlier one.
        let c: ContainerCreate = serde_json::from_str(
            r#"{"image":"a","hostconfig":{"AUTOREMOVE":true,"binds":["v:/d"]},"cmd":["x"]}"#,
        )
        .unwrap();
        assert_eq!(c.image.as_deref(), Some("a"));
        assert!(c.host_config.auto_remove);
        assert_eq!(c.host_config.binds, ["v:/d"]);
        assert_eq!(c.cmd, ["x"]);
        let v: VolumeCreate = serde_json::from_str(r#"{"name":"a","Name":"b"}"#).unwrap();
        assert_eq!(v.name, "b");
        let v: VolumeCreate = serde_json::from_str(r#"{"Name":"b","name":"a"}"#).unwrap();
        assert_eq!(v.name, "a");
        // Map keys are data, never folded.
        let v: VolumeCreate =
            serde_json::from_str(r#"{"DriverOpts":{"Type":"x","type":"y"}}"#).unwrap();
        assert_eq!(v.driver_opts.unwrap().len(), 2);
    }

    #[test]
    fn a_value_of_the_wrong_type_is_an_error() {
        assert!(serde_json::from_str::<VolumeCreate>(r#""x""#).is_err());
        assert!(serde_json::from_str::<VolumeCreate>(r#"{"Name":1}"#).is_err());
    }
}
