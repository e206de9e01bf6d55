//! The plugin: a volume is a directory under `root`, and the plugin remembers
//! which ones it made. Every method below answers one RPC dockerd sends
//! (`/VolumeDriver.Create`, `/VolumeDriver.Mount`, …); the SDK does the HTTP
//! and the JSON, and answers `/Plugin.Activate` for us.
//!
//! The map lives in memory, so a restart of the plugin forgets every volume
//! while dockerd, which does not notice the restart, still knows them. Fine
//! for learning; `plugins/volume` shows a plugin that keeps a journal.
use drydock_sdk::wire::volume::{CreateRequest, MountRequest, NameRequest, Volume};
use drydock_sdk::{PluginError, VolumeDriver};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;

pub struct MemVol {
    /// Where the volumes' directories go.
    pub root: PathBuf,
    /// Volume name → its directory. A std Mutex is enough: no handler holds
    /// it across an `.await`.
    pub volumes: Mutex<BTreeMap<String, String>>,
}

impl MemVol {
    /// dockerd shows this error text to the user as it is.
    fn dir(&self, name: &str) -> Result<String, PluginError> {
        let volumes = self.volumes.lock().unwrap();
        let dir = volumes.get(name).cloned();
        dir.ok_or_else(|| PluginError::new(format!("no such volume: {name}")))
    }
}

impl VolumeDriver for MemVol {
    async fn create(&self, req: CreateRequest) -> Result<(), PluginError> {
        let dir = self.root.join(&req.name);
        std::fs::create_dir_all(&dir).map_err(|e| PluginError::new(e.to_string()))?;
        let dir = dir.display().to_string();
        self.volumes.lock().unwrap().insert(req.name, dir);
        Ok(())
    }
    async fn remove(&self, req: NameRequest) -> Result<(), PluginError> {
        let _ = std::fs::remove_dir_all(self.dir(&req.name)?);
        self.volumes.lock().unwrap().remove(&req.name);
        Ok(())
    }
    // dockerd checks "in use" itself; a plugin shared by several daemons
    // would count mounts per `req.id` here.
    async fn mount(&self, req: MountRequest) -> Result<String, PluginError> {
        self.dir(&req.name)
    }
    async fn unmount(&self, req: MountRequest) -> Result<(), PluginError> {
        self.dir(&req.name).map(drop)
    }
    async fn path(&self, req: NameRequest) -> Result<String, PluginError> {
        self.dir(&req.name)
    }
    // dockerd asks Get before nearly everything: an error means "no such volume".
    async fn get(&self, req: NameRequest) -> Result<Volume, PluginError> {
        let mountpoint = self.dir(&req.name)?;
        Ok(Volume {
            name: req.name,
            mountpoint,
            ..Volume::default()
        })
    }
    async fn list(&self) -> Result<Vec<Volume>, PluginError> {
        let volumes = self.volumes.lock().unwrap();
        let volume = |(name, dir): (&String, &String)| Volume {
            name: name.clone(),
            mountpoint: dir.clone(),
            ..Volume::default()
        };
        Ok(volumes.iter().map(volume).collect())
    }
}
