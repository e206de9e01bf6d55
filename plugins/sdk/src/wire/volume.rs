//! VolumeDriver bodies (protocol.md §4.1).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// `/VolumeDriver.Create` request.
///
/// `Opts` is `null` for implicit creation (`docker run -v name:/p`) and `{}` for
/// `docker volume create` without `-o`; the difference is visible on the wire.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateRequest {
    /// The volume name, unvalidated by dockerd.
    #[serde(rename = "Name", default)]
    pub name: String,
    /// Driver options (`-o k=v`), `None` when dockerd sends `null`.
    #[serde(rename = "Opts", default)]
    pub opts: Option<BTreeMap<String, String>>,
}

/// `/VolumeDriver.Remove`, `/VolumeDriver.Path` and `/VolumeDriver.Get` request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NameRequest {
    /// The volume name.
    #[serde(rename = "Name", default)]
    pub name: String,
}

/// `/VolumeDriver.Mount` and `/VolumeDriver.Unmount` request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountRequest {
    /// The volume name.
    #[serde(rename = "Name", default)]
    pub name: String,
    /// The caller's mount ID: 64 hex characters, unique per container, mount
    /// point and start; the same ID is sent again by `docker cp` on a running container.
    #[serde(rename = "ID", default)]
    pub id: String,
}

/// The empty request body of `/VolumeDriver.List` and `/VolumeDriver.Capabilities` (`{}`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmptyRequest {}

/// A response that only carries the in-band error (`Create`, `Remove`, `Unmount`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrResponse {
    /// In-band error; empty on success.
    #[serde(rename = "Err", default, skip_serializing_if = "String::is_empty")]
    pub err: String,
}

/// `/VolumeDriver.Mount` and `/VolumeDriver.Path` response.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountpointResponse {
    /// Host path where the volume is available.
    #[serde(rename = "Mountpoint", default)]
    pub mountpoint: String,
    /// In-band error; empty on success.
    #[serde(rename = "Err", default, skip_serializing_if = "String::is_empty")]
    pub err: String,
}

/// A volume as a plugin describes it in `Get` and `List`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Volume {
    /// The volume name. dockerd trusts this value as given.
    #[serde(rename = "Name", default)]
    pub name: String,
    /// Host path of the volume; may be empty until mounted.
    #[serde(
        rename = "Mountpoint",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub mountpoint: String,
    /// Creation time. dockerd decodes it as Go `time.Time`: it must be RFC 3339,
    /// or the whole response is rejected.
    #[serde(rename = "CreatedAt", default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    /// Free-form status, passed verbatim to `docker volume inspect`.
    #[serde(
        rename = "Status",
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "crate::wire::go::go_map::serialize"
    )]
    pub status: Option<Map<String, Value>>,
}

/// `/VolumeDriver.Get` response.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GetResponse {
    /// The volume; absent means "no such volume" to dockerd.
    #[serde(rename = "Volume", default, skip_serializing_if = "Option::is_none")]
    pub volume: Option<Volume>,
    /// In-band error; empty on success.
    #[serde(rename = "Err", default, skip_serializing_if = "String::is_empty")]
    pub err: String,
}

/// `/VolumeDriver.List` response.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ListResponse {
    /// Every volume the plugin knows.
    #[serde(rename = "Volumes", default)]
    pub volumes: Option<Vec<Volume>>,
    /// In-band error; empty on success.
    #[serde(rename = "Err", default, skip_serializing_if = "String::is_empty")]
    pub err: String,
}

/// The `Capabilities` object.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capability {
    /// `local` or `global`; empty means `local` to dockerd.
    #[serde(rename = "Scope", default)]
    pub scope: String,
}

/// `/VolumeDriver.Capabilities` response.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CapabilitiesResponse {
    /// The driver's capabilities.
    #[serde(rename = "Capabilities", default)]
    pub capabilities: Capability,
    /// In-band error; empty on success.
    #[serde(rename = "Err", default, skip_serializing_if = "String::is_empty")]
    pub err: String,
}
