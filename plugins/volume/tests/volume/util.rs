//! Test support: a plugin in its own temp dir, driven through `Plugin::handle`
//! with dockerd-shaped bodies, and a model of what its state should be.

use bytes::Bytes;
use drydock_sdk::Plugin;
use drydock_volume::{Clock, Config, Durability, VolumePlugin};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tempfile::TempDir;
use time::macros::datetime;

/// The fixed creation time every harness plugin reports.
pub const CREATED_AT: &str = "2026-11-22T03:03:39Z";

/// A plugin with its own state dir and root, called in-process.
pub struct Harness {
    /// Keeps the directories alive (shared, so a closed harness can be
    /// reopened several times); the state dir is `dir/state`.
    pub dir: Arc<TempDir>,
    pub config: Config,
    pub plugin: Plugin,
    pub driver: VolumePlugin,
}

/// A harness whose plugin is closed: its directories and config.
#[derive(Clone)]
pub struct Closed {
    pub dir: Arc<TempDir>,
    pub config: Config,
}

impl Closed {
    pub fn state_dir(&self) -> PathBuf {
        self.config.state_dir.clone()
    }

    /// Opens the plugin again, without crash injection.
    pub fn reopen(self) -> Harness {
        let Closed { dir, mut config } = self;
        config.fault = None;
        let driver = VolumePlugin::open(config.clone()).unwrap();
        Harness {
            dir,
            config,
            plugin: driver.clone().plugin(),
            driver,
        }
    }
}

/// One answer: HTTP status and decoded body.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
}

impl Answer {
    /// The error text, in band or out of band; empty on success.
    pub fn err(&self) -> &str {
        self.body.get("Err").and_then(Value::as_str).unwrap_or("")
    }

    /// Whether the plugin died (a kill injected by `Config::fault`).
    pub fn stopped(&self) -> bool {
        self.status == 500 && self.err().contains("state writer has stopped")
    }
}

impl Harness {
    /// A plugin with fsync durability and the fixed clock.
    pub fn new() -> Harness {
        Harness::with(|_| {})
    }

    /// A plugin whose config `tweak` adjusts.
    pub fn with(tweak: impl FnOnce(&mut Config)) -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::new(dir.path().join("state"));
        config.clock = Clock::fixed(datetime!(2026-11-22 03:03:39.75 UTC));
        tweak(&mut config);
        let driver = VolumePlugin::open(config.clone()).unwrap();
        Harness {
            dir: Arc::new(dir),
            config,
            plugin: driver.clone().plugin(),
            driver,
        }
    }

    /// Drops the plugin, joining its writer thread; the directories stay.
    pub fn close(self) -> Closed {
        Closed {
            dir: self.dir,
            config: self.config,
        }
    }

    /// Closes and opens the same directories again, without crash injection.
    pub fn reopen(self) -> Harness {
        self.close().reopen()
    }

    pub fn state_dir(&self) -> PathBuf {
        self.config.state_dir.clone()
    }

    pub fn root(&self) -> PathBuf {
        self.driver.root().to_owned()
    }

    /// `root/name`, as the plugin reports it.
    pub fn mountpoint(&self, name: &str) -> String {
        format!("{}/{name}", self.root().display())
    }

    /// Sends `body` to `/VolumeDriver.<method>` the way dockerd does
    /// (compact JSON, trailing newline).
    pub async fn call(&self, method: &str, body: Value) -> Answer {
        let mut bytes = serde_json::to_vec(&body).unwrap();
        bytes.push(b'\n');
        let reply = self
            .plugin
            .handle(&format!("/VolumeDriver.{method}"), Bytes::from(bytes))
            .await;
        Answer {
            status: reply.status.as_u16(),
            body: serde_json::from_slice(&reply.body).unwrap(),
        }
    }

    /// Calls and insists on success.
    pub async fn ok(&self, method: &str, body: Value) -> Value {
        let a = self.call(method, body.clone()).await;
        assert!(
            a.status == 200 && a.err().is_empty(),
            "{method} {body} failed: {a:?}"
        );
        a.body
    }

    /// Calls and insists on an in-band refusal; returns its text.
    pub async fn refused(&self, method: &str, body: Value) -> String {
        let a = self.call(method, body.clone()).await;
        assert!(
            a.status == 200 && !a.err().is_empty(),
            "{method} {body} should be refused in band: {a:?}"
        );
        a.err().to_owned()
    }

    /// Runs one model operation against the plugin.
    pub async fn run(&self, op: &Op) -> Answer {
        match op {
            Op::Create(name, opts) => {
                let opts = opts.map(|o| json!(option_set(o).0));
                self.call("Create", json!({"Name": name, "Opts": opts}))
                    .await
            }
            Op::Remove(name) => self.call("Remove", json!({"Name": name})).await,
            Op::Mount(name, id) => self.call("Mount", json!({"Name": name, "ID": id})).await,
            Op::Unmount(name, id) => self.call("Unmount", json!({"Name": name, "ID": id})).await,
        }
    }

    /// `List`, as JSON.
    pub async fn list(&self) -> Value {
        self.ok("List", json!({})).await["Volumes"].clone()
    }

    /// The `List` answer the model predicts for this harness.
    pub fn expected_list(&self, model: &Model) -> Value {
        model.list(&self.root())
    }
}

/// A config tweak: no fsync.
pub fn buffered(c: &mut Config) {
    c.durability = Durability::Buffered;
}

/// 64 hex characters derived from `n`, like dockerd's mount IDs.
pub fn hex_id(n: u64) -> String {
    format!("{:064x}", n.wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

/// Every file and directory under `dir`, with file contents, for before/after
/// comparisons.
pub fn tree(dir: &Path) -> BTreeMap<PathBuf, Option<Vec<u8>>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap().flatten() {
            let path = entry.path();
            let ty = entry.file_type().unwrap();
            if ty.is_dir() {
                stack.push(path.clone());
                out.insert(path, None);
            } else {
                out.insert(path.clone(), std::fs::read(&path).ok());
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------
// The model: what the plugin's state should be after a sequence of operations.

/// The option sets operations use: 0 = `null`-equivalent `{}`, 1 = mode, 2 = size.
pub fn option_set(
    n: u8,
) -> (
    BTreeMap<&'static str, &'static str>,
    BTreeMap<&'static str, &'static str>,
) {
    // (what Create sends, what Status.options shows)
    match n {
        0 => (BTreeMap::new(), BTreeMap::new()),
        1 => ([("mode", "750")].into(), [("mode", "0750")].into()),
        _ => ([("size", "10m")].into(), [("size", "10MiB")].into()),
    }
}

/// One state-changing RPC.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// Name, and an option set (`None` sends `"Opts": null`).
    Create(String, Option<u8>),
    Remove(String),
    Mount(String, String),
    Unmount(String, String),
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ModelVolume {
    /// What `Status.options` shows.
    pub options: BTreeMap<&'static str, &'static str>,
    /// Outstanding mounts per ID, in first-mount order.
    pub mounts: Vec<(String, u32)>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Model {
    pub volumes: BTreeMap<String, ModelVolume>,
}

impl Model {
    /// Applies `op`; returns whether the plugin should accept it.
    pub fn apply(&mut self, op: &Op) -> bool {
        match op {
            Op::Create(name, opts) => {
                let shown = option_set(opts.unwrap_or(0)).1;
                match self.volumes.get(name) {
                    Some(v) => shown.is_empty() || v.options == shown,
                    None => {
                        self.volumes.insert(
                            name.clone(),
                            ModelVolume {
                                options: shown,
                                mounts: vec![],
                            },
                        );
                        true
                    }
                }
            }
            Op::Remove(name) => match self.volumes.get(name) {
                Some(v) if v.mounts.is_empty() => {
                    self.volumes.remove(name);
                    true
                }
                _ => false,
            },
            Op::Mount(name, id) => match self.volumes.get_mut(name) {
                Some(v) => {
                    match v.mounts.iter_mut().find(|(m, _)| m == id) {
                        Some((_, n)) => *n += 1,
                        None => v.mounts.push((id.clone(), 1)),
                    }
                    true
                }
                None => false,
            },
            Op::Unmount(name, id) => {
                let Some(v) = self.volumes.get_mut(name) else {
                    return false;
                };
                let Some(pos) = v.mounts.iter().position(|(m, _)| m == id) else {
                    return false;
                };
                v.mounts[pos].1 -= 1;
                if v.mounts[pos].1 == 0 {
                    v.mounts.remove(pos);
                }
                true
            }
        }
    }

    /// The `List` answer for this state, volumes under `root`.
    pub fn list(&self, root: &Path) -> Value {
        let volumes: Vec<Value> = self
            .volumes
            .iter()
            .map(|(name, v)| {
                let mounts: Vec<&str> = v
                    .mounts
                    .iter()
                    .flat_map(|(id, n)| std::iter::repeat(id.as_str()).take(*n as usize))
                    .collect();
                let mut status = json!({ "mounts": mounts });
                if !v.options.is_empty() {
                    status["options"] = json!(v.options);
                }
                json!({
                    "Name": name,
                    "Mountpoint": format!("{}/{name}", root.display()),
                    "CreatedAt": CREATED_AT,
                    "Status": status,
                })
            })
            .collect();
        Value::Array(volumes)
    }
}
