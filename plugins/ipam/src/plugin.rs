//! The `IpamDriver` handlers: each change is applied to a copy of the
//! allocator, saved, and only then made current and answered, so an answer
//! the plugin gave survives a restart.

use crate::alloc::{Allocator, GLOBAL_SPACE, LOCAL_SPACE};
use crate::net::Cidr;
use crate::store::{self, StoreError};
use drydock_sdk::wire::ipam::*;
use drydock_sdk::{IpamDriver, Plugin, PluginError};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;

/// How to open the plugin.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where the state file lives (created if missing).
    pub state_dir: PathBuf,
    /// Ranges default pools are carved from (/24 or /64 each), in order.
    pub ranges: Vec<Cidr>,
}

impl Config {
    /// State in `state_dir`, the default ranges 10.200.0.0/16 and fd00:d0c::/48.
    pub fn new(state_dir: impl Into<PathBuf>) -> Self {
        Config {
            state_dir: state_dir.into(),
            ranges: crate::alloc::default_ranges(),
        }
    }
}

/// Opening the plugin failed.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The state directory cannot be created.
    #[error("cannot create state directory {0}: {1}")]
    StateDir(PathBuf, std::io::Error),
    /// The state file cannot be read.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The reference IPAM plugin.
#[derive(Debug)]
pub struct IpamPlugin {
    state_dir: PathBuf,
    /// One lock for every change: IPAM calls are rare and tiny, and holding
    /// it across the save keeps saved states in the order they were answered.
    alloc: Mutex<Allocator>,
}

impl IpamPlugin {
    /// Opens (or starts) the state in `config.state_dir`.
    pub fn open(config: Config) -> Result<Self, OpenError> {
        std::fs::create_dir_all(&config.state_dir)
            .map_err(|e| OpenError::StateDir(config.state_dir.clone(), e))?;
        let alloc = store::load(&config.state_dir, config.ranges)?;
        Ok(IpamPlugin {
            state_dir: config.state_dir,
            alloc: Mutex::new(alloc),
        })
    }

    /// The plugin, ready to serve or to call in-process.
    pub fn plugin(self) -> Plugin {
        Plugin::new().ipam(self)
    }

    /// A copy of the current allocator state (for tests and tools).
    pub fn snapshot(&self) -> Allocator {
        self.alloc.lock().expect("ipam lock").clone()
    }

    /// Applies `change` to a copy, saves it, then makes it current.
    fn change<T>(
        &self,
        change: impl FnOnce(&mut Allocator) -> Result<T, crate::AllocError>,
    ) -> Result<T, PluginError> {
        let mut current = self.alloc.lock().expect("ipam lock");
        let mut next = current.clone();
        // Refusals go in band: dockerd shows them as `remote: <text>`.
        let out = change(&mut next).map_err(|e| PluginError::in_band(e.to_string()))?;
        store::save(&self.state_dir, &next).map_err(|e| {
            tracing::error!("{e}");
            PluginError::new(format!("cannot save IPAM state: {e}"))
        })?;
        *current = next;
        Ok(out)
    }
}

impl IpamDriver for IpamPlugin {
    async fn get_default_address_spaces(&self) -> Result<AddressSpacesResponse, PluginError> {
        Ok(AddressSpacesResponse {
            local_default_address_space: LOCAL_SPACE.into(),
            global_default_address_space: GLOBAL_SPACE.into(),
            error: String::new(),
        })
    }

    async fn request_pool(
        &self,
        req: RequestPoolRequest,
    ) -> Result<RequestPoolResponse, PluginError> {
        let options = req.options.unwrap_or_default();
        let granted = self.change(|a| {
            a.request_pool(
                &req.address_space,
                &req.pool,
                &req.sub_pool,
                req.v6,
                options,
            )
        })?;
        Ok(RequestPoolResponse {
            pool_id: granted.id,
            pool: granted.cidr.to_string(),
            data: Some(BTreeMap::new()),
            error: String::new(),
        })
    }

    async fn release_pool(&self, req: ReleasePoolRequest) -> Result<(), PluginError> {
        self.change(|a| a.release_pool(&req.pool_id).map(drop))
    }

    async fn request_address(
        &self,
        req: RequestAddressRequest,
    ) -> Result<RequestAddressResponse, PluginError> {
        let address = self.change(|a| a.request_address(&req.pool_id, &req.address))?;
        Ok(RequestAddressResponse {
            address,
            data: Some(BTreeMap::new()),
            error: String::new(),
        })
    }

    async fn release_address(&self, req: ReleaseAddressRequest) -> Result<(), PluginError> {
        self.change(|a| a.release_address(&req.pool_id, &req.address))
    }
}
