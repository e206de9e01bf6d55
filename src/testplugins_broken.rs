//! Deliberately broken plugins, so the tests of `drydock fuzz` can show that
//! its invariants catch real plugin bugs and shrink them to a few steps.
//!
//! * `broken-volume-unmount` ([`BrokenVolume`]): a volume plugin that forgets
//!   every mount ID of a volume at the first `Unmount`, as a plugin that keeps a
//!   "mounted" flag instead of a count would. Two containers sharing a volume
//!   break it: the first stop unmounts the volume under the second.
//! * `broken-ipam-double` ([`BrokenIpam`]): an IPAM plugin that grants a
//!   static (`--ip`) address even when it is already held, so two endpoints
//!   end up with the same address.
//!
//! Never use them for anything else.

use crate::testplugins_ipam::GoldenIpam;
use drydock_sdk::wire::ipam::*;
use drydock_sdk::wire::volume::{CreateRequest, MountRequest, NameRequest, Volume};
use drydock_sdk::{IpamDriver, PluginError, VolumeDriver};
use serde_json::{json, Map};
use std::collections::BTreeMap;
use std::sync::Mutex;

/// The creation time every [`BrokenVolume`] volume reports.
const CREATED_AT: &str = "2026-11-22T00:00:00Z";

/// A volume plugin whose `Unmount` drops *all* mount IDs of the volume
/// (the bug), and refuses an `Unmount` of an ID it no longer knows.
#[derive(Debug, Default)]
pub struct BrokenVolume {
    /// Volume name → outstanding mount IDs (one entry per Mount).
    volumes: Mutex<BTreeMap<String, Vec<String>>>,
}

impl BrokenVolume {
    /// A plugin with no volumes.
    pub fn new() -> Self {
        Self::default()
    }

    fn path(name: &str) -> String {
        format!("/srv/broken/{name}")
    }

    fn no_such(name: &str) -> PluginError {
        PluginError::in_band(format!("no such volume: {name}"))
    }

    fn describe(name: &str, ids: &[String]) -> Volume {
        let mut status = Map::new();
        status.insert("mounts".into(), json!(ids));
        Volume {
            name: name.to_owned(),
            mountpoint: Self::path(name),
            created_at: Some(CREATED_AT.into()),
            status: Some(status),
        }
    }
}

impl VolumeDriver for BrokenVolume {
    async fn create(&self, req: CreateRequest) -> Result<(), PluginError> {
        self.volumes.lock().unwrap().entry(req.name).or_default();
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
        let mut vols = self.volumes.lock().unwrap();
        let ids = vols
            .get_mut(&req.name)
            .ok_or_else(|| Self::no_such(&req.name))?;
        ids.push(req.id);
        Ok(Self::path(&req.name))
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
        // The bug: the volume is "unmounted", whoever else still uses it.
        ids.clear();
        Ok(())
    }

    async fn get(&self, req: NameRequest) -> Result<Volume, PluginError> {
        let vols = self.volumes.lock().unwrap();
        vols.get(&req.name)
            .map(|ids| Self::describe(&req.name, ids))
            .ok_or_else(|| Self::no_such(&req.name))
    }

    async fn list(&self) -> Result<Vec<Volume>, PluginError> {
        let vols = self.volumes.lock().unwrap();
        Ok(vols.iter().map(|(n, ids)| Self::describe(n, ids)).collect())
    }
}

/// An IPAM plugin (the recording plugin's allocator underneath) that grants a
/// requested static address even when it is already held (the bug).
#[derive(Debug, Default)]
pub struct BrokenIpam {
    inner: GoldenIpam,
    /// PoolID → prefix length, to answer `<ip>/<prefix>` on the buggy path.
    prefixes: Mutex<BTreeMap<String, String>>,
}

impl BrokenIpam {
    /// A plugin with no pools.
    pub fn new() -> Self {
        Self::default()
    }
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
            Err(e) if !wanted.is_empty() && e.to_string().contains("already allocated") => {
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
            other => other,
        }
    }

    async fn release_address(&self, req: ReleaseAddressRequest) -> Result<(), PluginError> {
        self.inner.release_address(req).await
    }
}
