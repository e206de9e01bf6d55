//! The `IpamDriver` handlers: each change is applied to the allocator and
//! answered only once a save that includes it is durable, so an answer the
//! plugin gave survives a restart. Concurrent changes share a save (group
//! commit, see [`State`]); a failed save rolls memory back to the file.

use crate::alloc::{Allocator, GLOBAL_SPACE, LOCAL_SPACE};
use crate::store::{self, StoreError};
use drydock_sdk::net::Cidr;
use drydock_sdk::wire::ipam::*;
use drydock_sdk::{IpamDriver, Plugin, PluginError};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::oneshot;

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
    shared: Arc<Shared>,
}

/// What the handlers and the saver share.
#[derive(Debug)]
struct Shared {
    state_dir: PathBuf,
    state: Mutex<State>,
}

/// The allocator, and the changes waiting to be made durable.
///
/// Group commit: a change is applied to `alloc` at once (so the next request
/// sees it), queued in `waiting`, and answered only after a save that includes
/// it. One saver runs at a time and saves whatever has queued meanwhile in one
/// write: with 16 callers, one fsync answers many changes instead of each
/// waiting for its own. Saving the whole state each time stays cheap because
/// IPAM state is small.
#[derive(Debug)]
struct State {
    /// Every change so far, saved or queued.
    alloc: Allocator,
    /// What the state file holds: the rollback point if a save fails.
    saved: Allocator,
    /// Callers waiting for the changes they made to be saved.
    waiting: Vec<oneshot::Sender<Result<(), String>>>,
    /// Whether a saver task is running.
    saving: bool,
}

impl IpamPlugin {
    /// Opens (or starts) the state in `config.state_dir`.
    pub fn open(config: Config) -> Result<Self, OpenError> {
        std::fs::create_dir_all(&config.state_dir)
            .map_err(|e| OpenError::StateDir(config.state_dir.clone(), e))?;
        let alloc = store::load(&config.state_dir, config.ranges)?;
        Ok(IpamPlugin {
            shared: Arc::new(Shared {
                state_dir: config.state_dir,
                state: Mutex::new(State {
                    saved: alloc.clone(),
                    alloc,
                    waiting: Vec::new(),
                    saving: false,
                }),
            }),
        })
    }

    /// The plugin, ready to serve or to call in-process.
    pub fn plugin(self) -> Plugin {
        Plugin::new().ipam(self)
    }

    /// A copy of the current allocator state (for tests and tools).
    pub fn snapshot(&self) -> Allocator {
        self.shared.lock().alloc.clone()
    }

    /// Applies `change` and answers once it is saved. A refusal changes
    /// nothing and is answered at once.
    async fn change<T>(
        &self,
        change: impl FnOnce(&mut Allocator) -> Result<T, crate::AllocError>,
    ) -> Result<T, PluginError> {
        let (out, saved) = {
            let mut state = self.shared.lock();
            let mut next = state.alloc.clone();
            // Refusals go in band: dockerd shows them as `remote: <text>`.
            let out = change(&mut next).map_err(|e| PluginError::in_band(e.to_string()))?;
            state.alloc = next;
            let (tx, rx) = oneshot::channel();
            state.waiting.push(tx);
            if !state.saving {
                state.saving = true;
                // A task of its own, so that a caller who hangs up (and whose
                // future is dropped) cannot stop the saves others wait for.
                tokio::spawn(Shared::save_queued(Arc::clone(&self.shared)));
            }
            (out, rx)
        };
        match saved.await {
            Ok(Ok(())) => Ok(out),
            Ok(Err(e)) => Err(PluginError::new(format!("cannot save IPAM state: {e}"))),
            Err(_) => Err(PluginError::new("the IPAM state saver stopped")),
        }
    }
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Saves until nobody waits: each round writes the state with every change
    /// queued so far, then answers those changes.
    async fn save_queued(self: Arc<Self>) {
        loop {
            let (alloc, waiting) = {
                let mut state = self.lock();
                if state.waiting.is_empty() {
                    state.saving = false;
                    return;
                }
                (state.alloc.clone(), std::mem::take(&mut state.waiting))
            };
            // Blocking file I/O (write, fsync, rename): off the async workers.
            let dir = self.state_dir.clone();
            let saved =
                tokio::task::spawn_blocking(move || store::save(&dir, &alloc).map(|()| alloc))
                    .await
                    .unwrap_or_else(|e| {
                        Err(StoreError::Io {
                            path: self.state_dir.clone(),
                            source: std::io::Error::other(format!("saver panicked: {e}")),
                        })
                    });
            let answer = match saved {
                Ok(alloc) => {
                    self.lock().saved = alloc;
                    Ok(())
                }
                Err(e) => {
                    tracing::error!("{e}");
                    // The file holds the previous state: so must memory. Changes
                    // queued during this save were made on top of the failed
                    // ones, so they fail too.
                    let mut state = self.lock();
                    state.alloc = state.saved.clone();
                    for tx in std::mem::take(&mut state.waiting) {
                        let _ = tx.send(Err(e.to_string()));
                    }
                    Err(e.to_string())
                }
            };
            for tx in waiting {
                // A caller that hung up no longer listens; its change stands.
                let _ = tx.send(answer.clone());
            }
        }
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
        let granted = self
            .change(|a| {
                a.request_pool(
                    &req.address_space,
                    &req.pool,
                    &req.sub_pool,
                    req.v6,
                    options,
                )
            })
            .await?;
        Ok(RequestPoolResponse {
            pool_id: granted.id,
            pool: granted.cidr.to_string(),
            data: Some(BTreeMap::new()),
            error: String::new(),
        })
    }

    async fn release_pool(&self, req: ReleasePoolRequest) -> Result<(), PluginError> {
        self.change(|a| a.release_pool(&req.pool_id).map(drop))
            .await
    }

    async fn request_address(
        &self,
        req: RequestAddressRequest,
    ) -> Result<RequestAddressResponse, PluginError> {
        let address = self
            .change(|a| a.request_address(&req.pool_id, &req.address))
            .await?;
        Ok(RequestAddressResponse {
            address,
            data: Some(BTreeMap::new()),
            error: String::new(),
        })
    }

    async fn release_address(&self, req: ReleaseAddressRequest) -> Result<(), PluginError> {
        self.change(|a| a.release_address(&req.pool_id, &req.address))
            .await
    }
}
