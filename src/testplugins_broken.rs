//! Deliberately broken plugins, so the tests of `drydock fuzz` can show that
//! its invariants catch real plugin bugs and shrink them to a few steps —
//! one kind per invariant a plugin can break ([`KINDS`] says which):
//!
//! * volume ([`BrokenVolume`], one [`VolumeBug`] each): forgetting every
//!   mount ID at the first `Unmount` (a "mounted" flag instead of a count),
//!   refusing a second mount, refusing to unmount while others hold the
//!   volume, a per-mount Mountpoint that Get and List do not report, a
//!   Create that fails for an existing volume, state kept in memory only
//!   (lost at a plugin restart), dates in Go's `time.String` format, and a
//!   Mount that loses a concurrent Mount's ID (a read-yield-write race).
//! * IPAM ([`BrokenIpam`], one [`IpamBug`] each): granting a held static
//!   address, handing the same dynamic address out twice, answering
//!   addresses of the next /24, a ReleaseAddress or ReleasePool that answers
//!   success but frees nothing.
//! * authz ([`BrokenAuthz`]): a rate limiter (the same request allowed once,
//!   then denied), and `Allow: true` together with an `Err`.
//!
//! Never use them for anything else.

use crate::testplugins_ipam::GoldenIpam;
use drydock_sdk::wire::authz::{AuthzRequest, AuthzResponse};
use drydock_sdk::wire::ipam::*;
use drydock_sdk::wire::volume::{CreateRequest, MountRequest, NameRequest, Volume};
use drydock_sdk::{AuthzPlugin, IpamDriver, Plugin, PluginError, VolumeDriver};
use serde_json::{json, Map};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

/// The creation time every [`BrokenVolume`] volume reports.
const CREATED_AT: &str = "2026-11-22T00:00:00Z";

/// Every broken kind (`#@ plugin NAME KIND`) and the invariant it breaks.
pub const KINDS: &[(&str, &str)] = &[
    ("broken-volume-unmount", "volume.mounted-iff-held"),
    ("broken-volume-mount", "volume.mount-succeeds"),
    ("broken-volume-unmount-busy", "volume.unmount-succeeds"),
    ("broken-volume-mountpoint", "volume.mountpoint-agrees"),
    ("broken-volume-create", "volume.create-idempotent"),
    ("broken-volume-memory", "volume.keeps-acknowledged"),
    ("broken-volume-dates", "protocol.response-shape"),
    ("broken-volume-racy", "volume.mounted-iff-held"),
    ("broken-ipam-double", "ipam.address-unique"),
    ("broken-ipam-dynamic-double", "ipam.address-unique"),
    ("broken-ipam-outside", "ipam.address-in-pool"),
    ("broken-ipam-sticky", "ipam.released-reusable"),
    ("broken-ipam-leak", "ipam.pool-reusable"),
    ("broken-authz-ratelimit", "authz.same-verdict"),
    ("broken-authz-allow-err", "authz.one-verdict"),
];

/// A fresh plugin of broken kind `kind`, `None` for other kinds.
pub fn builtin(kind: &str) -> Option<Plugin> {
    let volume = |bug| Plugin::new().volume(BrokenVolume::with_bug(bug));
    let ipam = |bug| Plugin::new().ipam(BrokenIpam::with_bug(bug));
    let authz = |bug| Plugin::new().authz(BrokenAuthz::with_bug(bug));
    Some(match kind {
        "broken-volume-unmount" => volume(VolumeBug::UnmountForgetsAll),
        "broken-volume-mount" => volume(VolumeBug::MountOnce),
        "broken-volume-unmount-busy" => volume(VolumeBug::UnmountLastOnly),
        "broken-volume-mountpoint" => volume(VolumeBug::MountpointPerMount),
        "broken-volume-create" => volume(VolumeBug::CreateOnce),
        "broken-volume-memory" => volume(VolumeBug::InMemory),
        "broken-volume-dates" => volume(VolumeBug::GoDates),
        "broken-volume-racy" => volume(VolumeBug::RacyMount),
        "broken-ipam-double" => ipam(IpamBug::StaticTwice),
        "broken-ipam-dynamic-double" => ipam(IpamBug::DynamicTwice),
        "broken-ipam-outside" => ipam(IpamBug::NextBlock),
        "broken-ipam-sticky" => ipam(IpamBug::ReleaseKeeps),
        "broken-ipam-leak" => ipam(IpamBug::PoolLeaks),
        "broken-authz-ratelimit" => authz(AuthzBug::RateLimit),
        "broken-authz-allow-err" => authz(AuthzBug::AllowWithErr),
        _ => return None,
    })
}

/// What a [`BrokenVolume`] gets wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum VolumeBug {
    /// `Unmount` drops every mount ID of the volume.
    #[default]
    UnmountForgetsAll,
    /// `Mount` refuses a volume that is already mounted.
    MountOnce,
    /// `Unmount` refuses while other IDs still hold the volume.
    UnmountLastOnly,
    /// `Mount` answers a directory per mount ID; Get and List the volume's.
    MountpointPerMount,
    /// `Create` of an existing volume fails.
    CreateOnce,
    /// Nothing is kept on disk: a plugin restart forgets every volume (all
    /// broken kinds are in memory; only this one is fuzzed with restarts).
    InMemory,
    /// `CreatedAt` as Go's `time.Time.String()`, not RFC 3339.
    GoDates,
    /// `Mount` reads the mount list, yields, and writes it back with its ID:
    /// two mounts at once lose one (only concurrent commands show it).
    RacyMount,
}

/// An in-memory volume plugin with one [`VolumeBug`]; it refuses an
/// `Unmount` of an ID it does not know.
#[derive(Debug, Default)]
pub struct BrokenVolume {
    bug: VolumeBug,
    /// Volume name → outstanding mount IDs (one entry per Mount).
    volumes: Mutex<BTreeMap<String, Vec<String>>>,
}

impl BrokenVolume {
    /// A plugin with no volumes whose Unmount forgets every mount.
    pub fn new() -> Self {
        Self::default()
    }

    /// A plugin with no volumes and this bug.
    pub fn with_bug(bug: VolumeBug) -> Self {
        BrokenVolume {
            bug,
            ..Self::default()
        }
    }

    fn path(name: &str) -> String {
        format!("/srv/broken/{name}")
    }

    fn no_such(name: &str) -> PluginError {
        PluginError::in_band(format!("no such volume: {name}"))
    }

    fn describe(&self, name: &str, ids: &[String]) -> Volume {
        let mut status = Map::new();
        status.insert("mounts".into(), json!(ids));
        let created_at = if self.bug == VolumeBug::GoDates {
            "2026-11-22 00:00:00 +0000 UTC"
        } else {
            CREATED_AT
        };
        Volume {
            name: name.to_owned(),
            mountpoint: Self::path(name),
            created_at: Some(created_at.into()),
            status: Some(status),
        }
    }
}

impl VolumeDriver for BrokenVolume {
    async fn create(&self, req: CreateRequest) -> Result<(), PluginError> {
        let mut vols = self.volumes.lock().unwrap();
        if self.bug == VolumeBug::CreateOnce && vols.contains_key(&req.name) {
            return Err(PluginError::in_band(format!(
                "volume {} already exists",
                req.name
            )));
        }
        vols.entry(req.name).or_default();
        Ok(())
    }

    async fn remove(&self, req: NameRequest) -> Result<(), PluginError> {
        let mut vols = self.volumes.lock().unwrap();
        match vols.get(&req.name) {
            None => Err(Self::no_such(&req.name)),
            Some(ids) if !ids.is_empty() => Err(PluginError::in_band(format!(
                "volume {} is in use",
                req.name
            ))),
            Some(_) => {
                vols.remove(&req.name);
                Ok(())
            }
        }
    }

    async fn mount(&self, req: MountRequest) -> Result<String, PluginError> {
        if self.bug == VolumeBug::RacyMount {
            let read = self.volumes.lock().unwrap().get(&req.name).cloned();
            let mut ids = read.ok_or_else(|| Self::no_such(&req.name))?;
            tokio::task::yield_now().await;
            ids.push(req.id);
            self.volumes.lock().unwrap().insert(req.name.clone(), ids);
            return Ok(Self::path(&req.name));
        }
        let mut vols = self.volumes.lock().unwrap();
        let ids = vols
            .get_mut(&req.name)
            .ok_or_else(|| Self::no_such(&req.name))?;
        if self.bug == VolumeBug::MountOnce && !ids.is_empty() {
            return Err(PluginError::in_band(format!(
                "volume {} is already mounted",
                req.name
            )));
        }
        let path = if self.bug == VolumeBug::MountpointPerMount {
            format!(
                "{}/{}",
                Self::path(&req.name),
                &req.id[..req.id.len().min(12)]
            )
        } else {
            Self::path(&req.name)
        };
        ids.push(req.id);
        Ok(path)
    }

    async fn path(&self, req: NameRequest) -> Result<String, PluginError> {
        let vols = self.volumes.lock().unwrap();
        vols.get(&req.name)
            .map(|_| Self::path(&req.name))
            .ok_or_else(|| Self::no_such(&req.name))
    }

    async fn unmount(&self, req: MountRequest) -> Result<(), PluginError> {
        let mut vols = self.volumes.lock().unwrap();
        let ids = vols
            .get_mut(&req.name)
            .ok_or_else(|| Self::no_such(&req.name))?;
        if !ids.contains(&req.id) {
            return Err(PluginError::in_band(format!(
                "volume {} is not mounted by {}",
                req.name, req.id
            )));
        }
        match self.bug {
            // The volume is "unmounted", whoever else still uses it.
            VolumeBug::UnmountForgetsAll => ids.clear(),
            VolumeBug::UnmountLastOnly if ids.iter().any(|i| *i != req.id) => {
                return Err(PluginError::in_band(format!(
                    "volume {} is still in use",
                    req.name
                )))
            }
            _ => {
                let at = ids.iter().position(|i| *i == req.id).expect("held");
                ids.remove(at);
            }
        }
        Ok(())
    }

    async fn get(&self, req: NameRequest) -> Result<Volume, PluginError> {
        let vols = self.volumes.lock().unwrap();
        vols.get(&req.name)
            .map(|ids| self.describe(&req.name, ids))
            .ok_or_else(|| Self::no_such(&req.name))
    }

    async fn list(&self) -> Result<Vec<Volume>, PluginError> {
        let vols = self.volumes.lock().unwrap();
        Ok(vols.iter().map(|(n, ids)| self.describe(n, ids)).collect())
    }
}

/// What a [`BrokenIpam`] gets wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IpamBug {
    /// A static (`--ip`) address is granted even when it is held.
    #[default]
    StaticTwice,
    /// A dynamic address is forgotten as soon as it is handed out, so the
    /// next dynamic request gets it again.
    DynamicTwice,
    /// Dynamic addresses are answered in the next /24 (an offset bug).
    NextBlock,
    /// `ReleaseAddress` answers success and frees nothing.
    ReleaseKeeps,
    /// `ReleasePool` answers success and frees nothing.
    PoolLeaks,
}

/// An IPAM plugin (the recording plugin's allocator underneath) with one
/// [`IpamBug`].
#[derive(Debug, Default)]
pub struct BrokenIpam {
    bug: IpamBug,
    inner: GoldenIpam,
    /// PoolID → prefix length, to answer `<ip>/<prefix>` on the buggy path.
    prefixes: Mutex<BTreeMap<String, String>>,
}

impl BrokenIpam {
    /// A plugin with no pools that grants held static addresses.
    pub fn new() -> Self {
        Self::default()
    }

    /// A plugin with no pools and this bug.
    pub fn with_bug(bug: IpamBug) -> Self {
        BrokenIpam {
            bug,
            ..Self::default()
        }
    }
}

/// `a.b.c.d/p` → `a.b.(c+1).d/p`.
fn next_block(addr: &str) -> String {
    let (ip, prefix) = addr.split_once('/').unwrap_or((addr, "32"));
    let mut parts: Vec<u32> = ip.split('.').filter_map(|p| p.parse().ok()).collect();
    if parts.len() != 4 {
        return addr.to_owned();
    }
    parts[2] = (parts[2] + 1) % 256;
    let ip: Vec<String> = parts.iter().map(u32::to_string).collect();
    format!("{}/{prefix}", ip.join("."))
}

impl IpamDriver for BrokenIpam {
    async fn get_capabilities(&self) -> Result<CapabilitiesResponse, PluginError> {
        self.inner.get_capabilities().await
    }

    async fn get_default_address_spaces(&self) -> Result<AddressSpacesResponse, PluginError> {
        self.inner.get_default_address_spaces().await
    }

    async fn request_pool(
        &self,
        req: RequestPoolRequest,
    ) -> Result<RequestPoolResponse, PluginError> {
        let resp = self.inner.request_pool(req).await?;
        if let Some((_, prefix)) = resp.pool.split_once('/') {
            self.prefixes
                .lock()
                .unwrap()
                .insert(resp.pool_id.clone(), prefix.to_owned());
        }
        Ok(resp)
    }

    async fn release_pool(&self, req: ReleasePoolRequest) -> Result<(), PluginError> {
        if self.bug == IpamBug::PoolLeaks {
            return Ok(());
        }
        self.prefixes.lock().unwrap().remove(&req.pool_id);
        self.inner.release_pool(req).await
    }

    async fn request_address(
        &self,
        req: RequestAddressRequest,
    ) -> Result<RequestAddressResponse, PluginError> {
        let pool_id = req.pool_id.clone();
        let wanted = req.address.clone();
        match self.inner.request_address(req).await {
            Err(e)
                if self.bug == IpamBug::StaticTwice
                    && !wanted.is_empty()
                    && e.to_string().contains("already allocated") =>
            {
                let prefix = self
                    .prefixes
                    .lock()
                    .unwrap()
                    .get(&pool_id)
                    .cloned()
                    .unwrap_or_else(|| "32".into());
                Ok(RequestAddressResponse {
                    address: format!("{wanted}/{prefix}"),
                    data: Some(BTreeMap::new()),
                    error: String::new(),
                })
            }
            Ok(mut resp) if wanted.is_empty() && self.bug == IpamBug::DynamicTwice => {
                let bare = resp.address.split('/').next().unwrap_or_default();
                self.inner
                    .release_address(ReleaseAddressRequest {
                        pool_id,
                        address: bare.to_owned(),
                    })
                    .await?;
                resp.error = String::new();
                Ok(resp)
            }
            Ok(mut resp) if wanted.is_empty() && self.bug == IpamBug::NextBlock => {
                resp.address = next_block(&resp.address);
                Ok(resp)
            }
            other => other,
        }
    }

    async fn release_address(&self, req: ReleaseAddressRequest) -> Result<(), PluginError> {
        if self.bug == IpamBug::ReleaseKeeps {
            return Ok(());
        }
        self.inner.release_address(req).await
    }
}

/// What a [`BrokenAuthz`] gets wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthzBug {
    /// Each request (user, method, URI) is allowed once, then denied.
    RateLimit,
    /// `POST`s are answered `Allow: true` with an `Err`.
    AllowWithErr,
}

/// An authorization plugin that allows everything, except for its
/// [`AuthzBug`].
#[derive(Debug)]
pub struct BrokenAuthz {
    bug: AuthzBug,
    seen: Mutex<BTreeSet<String>>,
}

impl BrokenAuthz {
    /// A plugin with this bug.
    pub fn with_bug(bug: AuthzBug) -> Self {
        BrokenAuthz {
            bug,
            seen: Mutex::new(BTreeSet::new()),
        }
    }
}

impl AuthzPlugin for BrokenAuthz {
    async fn authz_req(&self, req: AuthzRequest) -> Result<AuthzResponse, PluginError> {
        let allow = AuthzResponse {
            allow: true,
            msg: String::new(),
            err: String::new(),
        };
        if req.request_uri.contains('%') {
            // Both fail closed on a URI they cannot decode.
            return Ok(AuthzResponse {
                allow: false,
                msg: "undecodable URI".into(),
                err: String::new(),
            });
        }
        match self.bug {
            AuthzBug::RateLimit => {
                let key = format!("{} {} {}", req.user, req.request_method, req.request_uri);
                if self.seen.lock().unwrap().insert(key) {
                    Ok(allow)
                } else {
                    Ok(AuthzResponse {
                        allow: false,
                        msg: "rate limit exceeded".into(),
                        err: String::new(),
                    })
                }
            }
            AuthzBug::AllowWithErr if req.request_method == "POST" => Ok(AuthzResponse {
                err: "audit log unavailable".into(),
                ..allow
            }),
            AuthzBug::AllowWithErr => Ok(allow),
        }
    }

    async fn authz_res(&self, _req: AuthzRequest) -> Result<AuthzResponse, PluginError> {
        Ok(AuthzResponse {
            allow: true,
            msg: String::new(),
            err: String::new(),
        })
    }
}
