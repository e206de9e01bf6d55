//! The state file: every pool and held address, rewritten whole after each
//! change — written to a temporary file, fsynced, renamed over the old one,
//! and the directory fsynced — so a crash at any point leaves either the old
//! or the new state, never a torn one. IPAM state is small (pools and the
//! addresses in use), so rewriting it whole is cheaper to reason about than
//! a journal.

use crate::alloc::{Allocator, Pool};
use drydock_sdk::net::{Addr, Cidr};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// The file name inside the state directory.
pub const STATE_FILE: &str = "ipam-state.json";
const TEMP_FILE: &str = "ipam-state.json.tmp";

/// What is stored: a version and the pools (the default ranges are
/// configuration, not state).
#[derive(Serialize, Deserialize)]
struct Saved {
    version: u32,
    pools: Vec<SavedPool>,
}

#[derive(Serialize, Deserialize)]
struct SavedPool {
    id: String,
    space: String,
    pool: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sub_pool: Option<String>,
    #[serde(default)]
    options: BTreeMap<String, String>,
    held: Vec<String>,
}

/// A state file failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Reading or writing failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// The file does not hold a state this version understands.
    #[error("{path}: not an IPAM state file: {message}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Loads the pools saved in `dir` (none if there is no state file yet).
pub fn load(dir: &Path, ranges: Vec<Cidr>) -> Result<Allocator, StoreError> {
    let path = dir.join(STATE_FILE);
    let text = match fs::read(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Allocator::new(ranges)),
        Err(e) => return Err(io_err(&path)(e)),
    };
    let corrupt = |message: String| StoreError::Corrupt {
        path: path.clone(),
        message,
    };
    let saved: Saved = serde_json::from_slice(&text).map_err(|e| corrupt(e.to_string()))?;
    if saved.version != 1 {
        return Err(corrupt(format!("unsupported version {}", saved.version)));
    }
    let mut pools = BTreeMap::new();
    for p in saved.pools {
        let cidr = Cidr::parse(&p.pool).ok_or_else(|| corrupt(format!("bad pool {}", p.pool)))?;
        let sub = match &p.sub_pool {
            Some(s) => Some(Cidr::parse(s).ok_or_else(|| corrupt(format!("bad sub-pool {s}")))?),
            None => None,
        };
        let mut held = BTreeSet::new();
        for a in &p.held {
            let addr = Addr::parse(a)
                .filter(|a| cidr.contains(*a))
                .ok_or_else(|| corrupt(format!("address {a} is not in pool {cidr}")))?;
            held.insert(addr.value);
        }
        pools.insert(
            p.id,
            Pool {
                space: p.space,
                cidr,
                sub,
                options: p.options,
                held,
            },
        );
    }
    Ok(Allocator::with_pools(ranges, pools))
}

/// Saves `alloc` in `dir` atomically and durably.
pub fn save(dir: &Path, alloc: &Allocator) -> Result<(), StoreError> {
    let saved = Saved {
        version: 1,
        pools: alloc
            .pools()
            .iter()
            .map(|(id, p)| SavedPool {
                id: id.clone(),
                space: p.space.clone(),
                pool: p.cidr.to_string(),
                sub_pool: p.sub.map(|s| s.to_string()),
                options: p.options.clone(),
                held: p
                    .held
                    .iter()
                    .map(|v| {
                        Addr {
                            family: p.cidr.family(),
                            value: *v,
                        }
                        .to_string()
                    })
                    .collect(),
            })
            .collect(),
    };
    let bytes = serde_json::to_vec_pretty(&saved).expect("state serialises");
    let tmp = dir.join(TEMP_FILE);
    let path = dir.join(STATE_FILE);
    {
        let mut f = File::create(&tmp).map_err(io_err(&tmp))?;
        f.write_all(&bytes).map_err(io_err(&tmp))?;
        f.sync_all().map_err(io_err(&tmp))?;
    }
    fs::rename(&tmp, &path).map_err(io_err(&path))?;
    // The rename itself is durable only once the directory is synced.
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir))?;
    Ok(())
}
