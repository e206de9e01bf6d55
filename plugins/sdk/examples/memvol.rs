//! memvol: the smallest useful volume plugin. Volumes live in a map in memory,
//! each backed by a directory under `$TMPDIR/memvol`.
//!
//! ```text
//! cargo run -p drydock-sdk --example memvol -- /run/docker/plugins/memvol.sock
//! docker volume create -d memvol v && docker volume ls && docker volume rm v
//! ```
use drydock_sdk::server::{serve_unix, shutdown_signal};
use drydock_sdk::wire::volume::{CreateRequest, MountRequest, NameRequest, Volume};
use drydock_sdk::{Plugin, PluginError, VolumeDriver};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;

/// A std Mutex is enough: no handler holds it across an `.await`.
struct MemVol {
    root: PathBuf,
    volumes: Mutex<BTreeMap<String, String>>,
}

impl MemVol {
    /// The volume's directory, or the error dockerd shows for an unknown name.
    fn mountpoint(&self, name: &str) -> Result<String, PluginError> {
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
        let _ = std::fs::remove_dir_all(self.mountpoint(&req.name)?);
        self.volumes.lock().unwrap().remove(&req.name);
        Ok(())
    }
    async fn mount(&self, req: MountRequest) -> Result<String, PluginError> {
        self.mountpoint(&req.name)
    }
    async fn path(&self, req: NameRequest) -> Result<String, PluginError> {
        self.mountpoint(&req.name)
    }
    async fn unmount(&self, req: MountRequest) -> Result<(), PluginError> {
        self.mountpoint(&req.name).map(drop)
    }
    async fn get(&self, req: NameRequest) -> Result<Volume, PluginError> {
        let mountpoint = self.mountpoint(&req.name)?;
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

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter("drydock_sdk=debug")
        .init();
    let socket = std::env::args()
        .nth(1)
        .unwrap_or("/run/docker/plugins/memvol.sock".into());
    let root = std::env::temp_dir().join("memvol");
    let plugin = Plugin::new().volume(MemVol {
        root,
        volumes: Mutex::default(),
    });
    serve_unix(plugin, socket, shutdown_signal()?).await?;
    Ok(())
}
