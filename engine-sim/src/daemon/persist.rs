//! `--data-root`: what a daemon keeps on disk so that the next one, started
//! on the same directory, finds it again — dockerd's `metadata.db` (volume
//! names, drivers, labels and options), its containers' `config.v2.json`
//! and libnetwork's store. drydock keeps all of it in one JSON file,
//! [`STATE_FILE`], rewritten whole (a new file renamed over the old one)
//! after each change, so a crash leaves the last complete state.
//!
//! A daemon started on a saved state boots as `#@ restart-daemon` restarts:
//! a Get per stored volume, the containers' volumes looked up again,
//! containers with a restart policy started, the authz chain activated.

use super::containers::SavedContainers;
use super::networks::SavedNetworks;
use super::volumes::{LocalVolumes, Meta};
use super::{Engine, EngineError};
use rand::{RngCore, SeedableRng};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The file in the data root.
pub const STATE_FILE: &str = "drydock-state.json";

/// The version of [`STATE_FILE`]'s layout; another one is refused.
const FORMAT: u32 = 1;

/// Everything a daemon leaves to the next.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct Saved {
    format: u32,
    /// How many daemons have run on this state (new IDs are drawn from it,
    /// so they never repeat an ID a previous daemon gave).
    boots: u64,
    volumes: BTreeMap<String, Meta>,
    local_volumes: LocalVolumes,
    containers: SavedContainers,
    networks: SavedNetworks,
    /// Pulled images.
    #[serde(default)]
    images: std::collections::BTreeSet<String>,
}

/// Why a data root cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum DataRootError {
    /// Reading or writing failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
    /// The state file is not one this drydock wrote.
    #[error("{path}:{line}:{column}: not a drydock state file: {message}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Where reading stopped.
        line: usize,
        /// Where reading stopped.
        column: usize,
        /// What was wrong.
        message: String,
    },
    /// Written by another version of drydock.
    #[error("{path}: state format {found}, this drydock reads format {FORMAT}")]
    Format {
        /// The file.
        path: PathBuf,
        /// The format found.
        found: u32,
    },
}

/// A data root directory and the daemon state kept in it.
#[derive(Debug)]
pub struct DataRoot {
    file: PathBuf,
    boots: u64,
    /// One save at a time: concurrent requests each save after their change.
    writing: Mutex<()>,
}

impl DataRoot {
    /// Opens (creating) `dir` and reads the state a previous daemon left
    /// there, if any.
    pub fn open(dir: &Path) -> Result<(DataRoot, Option<Saved>), DataRootError> {
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| DataRootError::Io { path, source }
        };
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let file = dir.join(STATE_FILE);
        let saved = match std::fs::read(&file) {
            Ok(bytes) => Some(parse(&file, &bytes)?),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(io(&file)(e)),
        };
        let boots = saved.as_ref().map_or(0, |s| s.boots) + 1;
        Ok((
            DataRoot {
                file,
                boots,
                writing: Mutex::new(()),
            },
            saved,
        ))
    }

    /// The state file.
    pub fn file(&self) -> &Path {
        &self.file
    }

    /// Writes `engine`'s state: a new file, synced, renamed over the old.
    pub fn save(&self, engine: &Engine) -> Result<(), DataRootError> {
        let saved = engine.saved(self.boots);
        let _one = self.writing.lock().expect("data root lock");
        let tmp = self.file.with_extension("json.new");
        let io = |source| DataRootError::Io {
            path: tmp.clone(),
            source,
        };
        let mut out = std::fs::File::create(&tmp).map_err(io)?;
        serde_json::to_writer(&mut out, &saved).map_err(|e| io(e.into()))?;
        out.write_all(b"\n").map_err(io)?;
        out.sync_all().map_err(io)?;
        std::fs::rename(&tmp, &self.file).map_err(|source| DataRootError::Io {
            path: self.file.clone(),
            source,
        })
    }

    /// How many daemons have run on this data root, this one included.
    pub fn boots(&self) -> u64 {
        self.boots
    }
}

fn parse(file: &Path, bytes: &[u8]) -> Result<Saved, DataRootError> {
    let corrupt = |e: serde_json::Error| DataRootError::Corrupt {
        path: file.to_owned(),
        line: e.line(),
        column: e.column(),
        // serde_json ends its message with the place, given apart here.
        message: e
            .to_string()
            .split(" at line ")
            .next()
            .unwrap_or_default()
            .to_owned(),
    };
    // The format first, so a newer layout is named as such rather than as
    // a missing field.
    #[derive(serde::Deserialize)]
    struct Head {
        format: u32,
    }
    let head: Head = serde_json::from_slice(bytes).map_err(corrupt)?;
    if head.format != FORMAT {
        return Err(DataRootError::Format {
            path: file.to_owned(),
            found: head.format,
        });
    }
    serde_json::from_slice(bytes).map_err(corrupt)
}

impl Engine {
    /// What this daemon leaves to the next (`boots`: see [`Saved`]).
    pub fn saved(&self, boots: u64) -> Saved {
        let (volumes, local_volumes) = self.volumes.saved();
        Saved {
            format: FORMAT,
            boots,
            volumes,
            local_volumes,
            containers: self.saved_containers(),
            networks: self.saved_networks(),
            images: self.saved_images(),
        }
    }

    /// Starts this (fresh) daemon on what a previous one left, as dockerd
    /// starts on its data root: volumes restored (a Get each), containers'
    /// volumes looked up, restart policies applied, authz plugins activated.
    /// Without a saved state nothing happens: a fresh daemon activates its
    /// authz plugins at its first request.
    pub async fn boot(&self, saved: Option<Saved>, boots: u64) -> Result<(), EngineError> {
        let Some(saved) = saved else {
            return Ok(());
        };
        {
            // IDs drawn from the seed alone would repeat the first daemon's.
            let seed = self.rng.lock().expect("rng lock").next_u64() ^ boots;
            *self.rng.lock().expect("rng lock") = rand_chacha::ChaCha12Rng::seed_from_u64(seed);
            self.volumes.load(saved.volumes, saved.local_volumes);
            self.load_networks(saved.networks);
            self.load_images(saved.images);
            self.load_containers(saved.containers);
            self.volumes.restore().await;
            self.networks_restart().await;
            self.restore_containers().await;
            self.restart_policy_containers().await;
        }
        self.start_authz().await
    }
}
