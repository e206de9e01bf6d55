//! [`VolumePlugin`]: the [`VolumeDriver`] implementation, and how the RPC
//! handlers talk to the state writer.

use crate::config::{Config, Durability};
use crate::crash::Faults;
use crate::dirs;
use crate::error::Error;
use crate::name::{MountId, VolumeName};
use crate::options::VolumeOptions;
use crate::state::{State, VolumeState};
use crate::store::Store;
use crate::writer::{Command, Job, Writer};
use drydock_sdk::wire::volume::{Capability, CreateRequest, MountRequest, NameRequest, Volume};
use drydock_sdk::{Plugin, PluginError, VolumeDriver};
use serde_json::{Map, Value};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex, PoisonError, RwLock};
use std::thread::JoinHandle;
use tokio::sync::oneshot;

/// The reference volume plugin: each volume is a directory `root/NAME`.
///
/// Cloning is cheap and clones share everything; the plugin stops (and its
/// writer thread is joined) when the last clone is dropped.
#[derive(Clone)]
pub struct VolumePlugin {
    inner: Arc<Inner>,
}

struct Inner {
    /// The absolute root; mountpoints are `root/NAME`.
    root: PathBuf,
    /// `root` as text, for building mountpoints without re-checking UTF-8.
    root_text: String,
    /// Durable state, for the read-only RPCs. Written only by the writer.
    view: Arc<RwLock<State>>,
    /// How state changes reach the writer.
    writer: Dispatch,
}

/// The two ways to reach the [`Writer`] (see `writer.rs` for why).
enum Dispatch {
    /// `Durability::Fsync`: a thread batches concurrent calls under one fsync.
    Thread {
        /// The writer's queue. An `Option` only so `Drop` can close it first.
        jobs: Option<mpsc::Sender<Job>>,
        /// Joined on drop, so a reopen of the same state directory never
        /// overlaps with a still-running writer.
        thread: Option<JoinHandle<()>>,
    },
    /// `Durability::Buffered`: callers run the writer themselves, one at a
    /// time. `None` once a crash was injected.
    Inline(Mutex<Option<Writer>>),
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Dispatch::Thread { jobs, thread } = &mut self.writer {
            jobs.take();
            if let Some(thread) = thread.take() {
                let _ = thread.join();
            }
        }
    }
}

impl std::fmt::Debug for VolumePlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VolumePlugin")
            .field("root", &self.inner.root)
            .finish_non_exhaustive()
    }
}

impl VolumePlugin {
    /// Opens the plugin: creates the directories if needed, loads the
    /// persisted state (replaying the journal), empties the trash of removed
    /// volumes, and starts the state writer.
    pub fn open(config: Config) -> Result<VolumePlugin, Error> {
        let (store, state) = Store::open(
            &config.state_dir,
            config.durability,
            config.compact_after.max(1),
        )?;
        fs::create_dir_all(&config.root).map_err(Error::io("create root", &config.root))?;
        let root =
            fs::canonicalize(&config.root).map_err(Error::io("resolve root", &config.root))?;
        let root_text = root
            .to_str()
            .ok_or_else(|| Error::Io {
                action: "use root",
                path: root.clone(),
                source: std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    "the path is not UTF-8, so it cannot be sent to dockerd as a Mountpoint",
                ),
            })?
            .to_owned();
        dirs::empty_trash(&root);

        let view = Arc::new(RwLock::new(state.clone()));
        let writer = Writer {
            store,
            state,
            view: Arc::clone(&view),
            root: root.clone(),
            clock: config.clock,
            faults: Faults::new(config.fault),
            poisoned: None,
            deleters: Vec::new(),
        };
        let writer = match config.durability {
            Durability::Fsync => {
                let (jobs, queue) = mpsc::channel();
                let thread = std::thread::Builder::new()
                    .name("drydock-volume-writer".into())
                    .spawn(move || writer.run(queue))
                    .map_err(Error::io("start writer thread for", &config.state_dir))?;
                Dispatch::Thread {
                    jobs: Some(jobs),
                    thread: Some(thread),
                }
            }
            Durability::Buffered => {
                // The thread folds a long journal in at start; inline, open does.
                let mut writer = writer;
                let alive = writer.maybe_compact().is_ok();
                Dispatch::Inline(Mutex::new(alive.then_some(writer)))
            }
        };
        Ok(VolumePlugin {
            inner: Arc::new(Inner {
                root,
                root_text,
                view,
                writer,
            }),
        })
    }

    /// This driver wrapped as a [`Plugin`], ready to serve or to call in-process.
    pub fn plugin(self) -> Plugin {
        Plugin::new().volume(self)
    }

    /// The absolute root under which volume directories live.
    pub fn root(&self) -> &Path {
        &self.inner.root
    }

    /// The host path of volume `name`.
    fn mountpoint(&self, name: &VolumeName) -> String {
        // Every Get, List and Mount answer carries one: two appends, not format!.
        let root = &self.inner.root_text;
        let mut path = String::with_capacity(root.len() + 1 + name.as_str().len());
        path.push_str(root);
        path.push('/');
        path.push_str(name.as_str());
        path
    }

    /// Hands `command` to the writer and waits until it is durable (or refused).
    async fn submit(&self, command: Command) -> Result<(), Error> {
        match &self.inner.writer {
            Dispatch::Thread { jobs, .. } => {
                let (reply, answer) = oneshot::channel();
                let jobs = jobs.as_ref().ok_or(Error::Stopped)?;
                jobs.send(Job { command, reply })
                    .map_err(|_| Error::Stopped)?;
                answer.await.map_err(|_| Error::Stopped)?
            }
            Dispatch::Inline(writer) => {
                let mut guard = writer.lock().unwrap_or_else(PoisonError::into_inner);
                let writer = guard.as_mut().ok_or(Error::Stopped)?;
                let Ok(mut answers) = writer.execute(vec![command]) else {
                    // Killed before answering, like `kill -9`: no answer.
                    *guard = None;
                    return Err(Error::Stopped);
                };
                if writer.maybe_compact().is_err() {
                    // Killed after this call was done: later calls find it dead.
                    *guard = None;
                }
                answers.pop().expect("one answer per command")
            }
        }
    }

    /// Runs `f` on the durable state. The lock is held only for `f`.
    fn read<T>(&self, f: impl FnOnce(&State) -> T) -> T {
        f(&self
            .inner
            .view
            .read()
            .unwrap_or_else(PoisonError::into_inner))
    }

    /// The wire form of one volume, as `Get` and `List` send it.
    fn describe(&self, name: &VolumeName, v: &VolumeState) -> Volume {
        let mut status = Map::new();
        let mounts = v.outstanding().into_iter().map(Value::String).collect();
        status.insert("mounts".into(), Value::Array(mounts));
        if !v.options.is_empty() {
            let mut options = Map::new();
            if let Some(mode) = v.options.mode {
                options.insert("mode".into(), Value::String(mode.to_string()));
            }
            if let Some(size) = v.options.size {
                options.insert("size".into(), Value::String(size.to_string()));
            }
            status.insert("options".into(), Value::Object(options));
        }
        Volume {
            name: name.to_string(),
            mountpoint: self.mountpoint(name),
            created_at: Some(v.created_at.clone()),
            status: Some(status),
        }
    }
}

fn parse_name(name: &str) -> Result<VolumeName, Error> {
    VolumeName::parse(name).map_err(|reason| Error::InvalidName {
        name: name.to_owned(),
        reason,
    })
}

fn parse_mount(req: MountRequest) -> Result<(VolumeName, MountId), Error> {
    let name = parse_name(&req.name)?;
    let id = MountId::parse(&req.id).map_err(|reason| Error::InvalidMountId {
        volume: req.name,
        id: req.id.clone(),
        reason,
    })?;
    Ok((name, id))
}

/// Converts the outcome for the SDK, logging failures (refusals are the
/// caller's business and only logged at debug level).
fn answer<T>(result: Result<T, Error>) -> Result<T, PluginError> {
    result.map_err(|e| {
        if e.is_refusal() {
            tracing::debug!(error = %e, "refused");
        } else {
            tracing::warn!(error = %e, "failed");
        }
        PluginError::from(e)
    })
}

impl VolumeDriver for VolumePlugin {
    #[tracing::instrument(name = "Create", level = "debug", skip_all, fields(volume = %req.name))]
    async fn create(&self, req: CreateRequest) -> Result<(), PluginError> {
        answer(
            async {
                let name = parse_name(&req.name)?;
                let options = VolumeOptions::parse(req.opts.as_ref()).map_err(|reason| {
                    Error::InvalidOption {
                        volume: req.name.clone(),
                        reason,
                    }
                })?;
                self.submit(Command::Create { name, options }).await
            }
            .await,
        )
    }

    #[tracing::instrument(name = "Remove", level = "debug", skip_all, fields(volume = %req.name))]
    async fn remove(&self, req: NameRequest) -> Result<(), PluginError> {
        answer(
            async {
                let name = parse_name(&req.name)?;
                self.submit(Command::Remove { name }).await
            }
            .await,
        )
    }

    #[tracing::instrument(name = "Mount", level = "debug", skip_all, fields(volume = %req.name, id = %req.id))]
    async fn mount(&self, req: MountRequest) -> Result<String, PluginError> {
        answer(
            async {
                let (name, id) = parse_mount(req)?;
                let mountpoint = self.mountpoint(&name);
                self.submit(Command::Mount { name, id }).await?;
                Ok(mountpoint)
            }
            .await,
        )
    }

    #[tracing::instrument(name = "Path", level = "debug", skip_all, fields(volume = %req.name))]
    async fn path(&self, req: NameRequest) -> Result<String, PluginError> {
        answer(parse_name(&req.name).and_then(|name| {
            // The path is the same mounted or not; docker's local driver answers
            // the same way.
            match self.read(|s| s.volumes.contains_key(&name)) {
                true => Ok(self.mountpoint(&name)),
                false => Err(Error::NoSuchVolume(req.name.clone())),
            }
        }))
    }

    #[tracing::instrument(name = "Unmount", level = "debug", skip_all, fields(volume = %req.name, id = %req.id))]
    async fn unmount(&self, req: MountRequest) -> Result<(), PluginError> {
        answer(
            async {
                let (name, id) = parse_mount(req)?;
                self.submit(Command::Unmount { name, id }).await
            }
            .await,
        )
    }

    #[tracing::instrument(name = "Get", level = "debug", skip_all, fields(volume = %req.name))]
    async fn get(&self, req: NameRequest) -> Result<Volume, PluginError> {
        answer(parse_name(&req.name).and_then(|name| {
            self.read(|s| s.volumes.get(&name).map(|v| self.describe(&name, v)))
                .ok_or_else(|| Error::NoSuchVolume(req.name.clone()))
        }))
    }

    #[tracing::instrument(name = "List", level = "debug", skip_all)]
    async fn list(&self) -> Result<Vec<Volume>, PluginError> {
        Ok(self.read(|s| {
            s.volumes
                .iter()
                .map(|(name, v)| self.describe(name, v))
                .collect()
        }))
    }

    async fn capabilities(&self) -> Result<Capability, PluginError> {
        // Directories on one host: `local`. (`global` would tell a cluster
        // manager the volume exists everywhere at once.)
        Ok(Capability {
            scope: "local".into(),
        })
    }
}
