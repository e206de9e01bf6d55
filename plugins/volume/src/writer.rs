//! The state writer: the one place that changes state and writes the journal.
//!
//! With [`crate::Durability::Fsync`] the writer is a thread of its own. Why a
//! thread, and not an async mutex around the state:
//! * **Group commit.** An `fdatasync` costs ~0.1–0.5 ms on ordinary disks. Calls
//!   queue on a channel while the writer syncs; it then takes *all* queued
//!   calls as one batch, writes their records with one `write` and one
//!   `fdatasync`, and answers them together. Under load the fsync is shared.
//! * **Blocking I/O stays off the async runtime.** mkdir, rename, fsync are
//!   blocking system calls; the RPC handlers only send a job and await a reply.
//! * **Readers never see unacknowledged state.** The writer plans a batch on
//!   its own copy of the state, makes it durable, and only then applies the
//!   same changes to the copy that `Get`/`List` read (a `std` `RwLock` held for
//!   microseconds, never across an `.await`). A `Get` therefore never reports a
//!   Mount that a crash could still take back.
//!
//! With [`crate::Durability::Buffered`] there is no fsync to share, and handing
//! each call to a thread and back would cost more than the write itself, so
//! callers run the same [`Writer::execute`] inline, one at a time under a
//! `std` mutex (never held across an `.await`).
//!
//! After a failed write or fsync the writer *poisons* itself: the kernel may
//! have dropped the unsynced pages, so neither memory nor disk is known to be
//! right, and only a restart (a replay of what the files really hold) is.

use crate::config::Clock;
use crate::crash::{Faults, Injected, Killed, WritePoint};
use crate::dirs;
use crate::error::Error;
use crate::name::{MountId, VolumeName};
use crate::options::VolumeOptions;
use crate::state::{Change, State};
use crate::store::{Stop, Store};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, TryRecvError};
use std::sync::{Arc, PoisonError, RwLock};
use std::thread::JoinHandle;
use time::format_description::well_known::Rfc3339;
use tokio::sync::oneshot;

/// The most calls answered by one fsync. Bounds a batch's latency.
const MAX_BATCH: usize = 256;

impl Drop for Writer {
    /// Waits for removed volumes to be deleted, so the trash is empty when
    /// the plugin is gone (tests and tidy shutdowns rely on it).
    fn drop(&mut self) {
        for deleter in self.deleters.drain(..) {
            let _ = deleter.join();
        }
    }
}

/// A state-changing request from an RPC handler.
#[derive(Debug)]
pub(crate) enum Command {
    Create {
        name: VolumeName,
        options: VolumeOptions,
    },
    Remove {
        name: VolumeName,
    },
    Mount {
        name: VolumeName,
        id: MountId,
    },
    Unmount {
        name: VolumeName,
        id: MountId,
    },
}

/// What planning a command decided: a change to journal, nothing to do
/// (an idempotent Create), or a refusal.
type Planned = Result<Option<Change>, Error>;

/// A command and where to send its answer.
#[derive(Debug)]
pub(crate) struct Job {
    pub command: Command,
    pub reply: oneshot::Sender<Result<(), Error>>,
}

/// The state writer: run by its own thread, or inline by callers (module docs).
pub(crate) struct Writer {
    /// The journal and snapshot.
    pub store: Store,
    /// The writer's working copy: durable state plus the batch being planned.
    pub state: State,
    /// The copy readers see: durable state only.
    pub view: Arc<RwLock<State>>,
    /// Parent of the volume directories.
    pub root: PathBuf,
    /// Source of `CreatedAt`.
    pub clock: Clock,
    /// Fault injection for tests.
    pub faults: Faults,
    /// Set after a failed write; every later command is refused with it.
    pub poisoned: Option<String>,
    /// Threads deleting removed volumes, so a big `rm` does not hold up the
    /// batches behind it. Joined when the writer is dropped.
    pub deleters: Vec<JoinHandle<()>>,
}

impl Writer {
    /// The thread's main loop, for [`crate::Durability::Fsync`]: serves jobs
    /// until every sender is gone (the plugin was dropped) or a crash is injected.
    pub fn run(mut self, jobs: Receiver<Job>) {
        // A long journal left by the previous run is folded in before serving.
        if self.maybe_compact().is_err() {
            return;
        }
        while let Ok(first) = jobs.recv() {
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match jobs.try_recv() {
                    Ok(job) => batch.push(job),
                    Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
                }
            }
            let (commands, replies): (Vec<_>, Vec<_>) =
                batch.into_iter().map(|j| (j.command, j.reply)).unzip();
            let Ok(answers) = self.execute(commands) else {
                return; // killed: like `kill -9`, no further I/O, no answers
            };
            for (reply, answer) in replies.into_iter().zip(answers) {
                // A caller that gave up (connection closed) no longer listens;
                // its change is durable all the same.
                let _ = reply.send(answer);
            }
            if self.maybe_compact().is_err() {
                return;
            }
        }
    }

    /// Runs one batch of commands: plans each on the working state, journals
    /// the resulting changes with one write (and one sync), publishes them to
    /// readers, and returns every command's answer — or `Killed` if a crash was
    /// injected on the way, in which case nothing may be answered.
    pub fn execute(&mut self, commands: Vec<Command>) -> Result<Vec<Result<(), Error>>, Killed> {
        if let Some(reason) = &self.poisoned {
            return Ok(commands
                .iter()
                .map(|_| Err(Error::Poisoned(reason.clone())))
                .collect());
        }
        let mut changes = Vec::with_capacity(commands.len());
        let mut answers = Vec::with_capacity(commands.len());
        let mut trashed = Vec::new();
        for command in commands {
            let answer = match self.plan(command, &mut trashed)? {
                Ok(Some(change)) => {
                    self.state
                        .apply(&change)
                        .expect("a planned change fits the state it was planned on");
                    changes.push(change);
                    Ok(())
                }
                Ok(None) => Ok(()),
                Err(refused) => Err(refused),
            };
            answers.push(answer);
        }

        if !changes.is_empty() {
            match self.store.append(&changes, &mut self.faults) {
                Ok(()) => {}
                Err(Stop::Killed) => return Err(Killed),
                Err(Stop::Failed(e)) => {
                    let reason = e.to_string();
                    tracing::error!(error = %reason, "state write failed; refusing further changes until restart");
                    self.poisoned = Some(reason.clone());
                    return Ok(answers
                        .iter()
                        .map(|_| Err(Error::Poisoned(reason.clone())))
                        .collect());
                }
            }
            let mut view = self.view.write().unwrap_or_else(PoisonError::into_inner);
            for change in &changes {
                view.apply(change)
                    .expect("the view trails the writer's state");
            }
        }

        self.deleters.retain(|d| !d.is_finished());
        for path in trashed {
            self.deleters
                .push(std::thread::spawn(move || dirs::delete(&path)));
        }
        Ok(answers)
    }

    /// Folds the journal into a snapshot once it is long enough. The thread
    /// runs it after a batch is answered, so no caller waits for it (except
    /// the next batch).
    pub fn maybe_compact(&mut self) -> Result<(), Killed> {
        if self.poisoned.is_some() || !self.store.wants_compaction() {
            return Ok(());
        }
        match self.store.compact(&self.state, &mut self.faults) {
            Ok(()) => Ok(()),
            Err(Stop::Killed) => Err(Killed),
            Err(Stop::Failed(e)) => {
                tracing::error!(error = %e, "journal truncation failed; refusing further changes until restart");
                self.poisoned = Some(e.to_string());
                Ok(())
            }
        }
    }

    /// Passes a directory write point: a kill stops the writer; an injected
    /// I/O error becomes the command's answer.
    fn directory_step(
        &mut self,
        point: WritePoint,
        name: &VolumeName,
    ) -> Result<Result<(), Error>, Killed> {
        match self.faults.reached(point) {
            Ok(()) => Ok(Ok(())),
            Err(Injected::Killed) => Err(Killed),
            Err(Injected::Failed(source)) => Ok(Err(Error::Io {
                action: "prepare volume directory",
                path: self.root.join(name.as_str()),
                source,
            })),
        }
    }

    /// Decides what `command` does to the working state, performing its
    /// filesystem side effect (which always comes *before* the journal record:
    /// see [`WritePoint`] for what a crash in between leaves).
    ///
    /// The outer `Result` is a crash injection; the inner one is the answer.
    fn plan(&mut self, command: Command, trashed: &mut Vec<PathBuf>) -> Result<Planned, Killed> {
        let state = &self.state;
        let root: &Path = &self.root;
        Ok(match command {
            Command::Create { name, options } => match state.volumes.get(&name) {
                // Idempotent: concurrent creates of one name both succeed. An
                // implicit create (`Opts: null`) of an existing volume is fine too.
                Some(v) if options.is_empty() || v.options == options => Ok(None),
                Some(v) => Err(Error::OptionsConflict {
                    volume: name.to_string(),
                    existing: v.options.to_string(),
                    requested: options.to_string(),
                }),
                // An existing directory (left by a crash, or made by hand) is
                // adopted; its permissions change only if `mode` was given.
                None => match dirs::ensure(
                    root,
                    &name,
                    options.effective_mode(),
                    options.mode.is_some(),
                ) {
                    Err(e) => Err(e),
                    Ok(created) => {
                        if created {
                            if let Err(e) =
                                self.directory_step(WritePoint::DirectoryCreated, &name)?
                            {
                                return Ok(Err(e));
                            }
                        }
                        Ok(Some(Change::Create {
                            name,
                            created_at: rfc3339_seconds(self.clock.now()),
                            options,
                        }))
                    }
                },
            },
            Command::Remove { name } => match state.volumes.get(&name) {
                None => Err(Error::NoSuchVolume(name.to_string())),
                Some(v) if !v.mounts.is_empty() => Err(Error::InUse {
                    volume: name.to_string(),
                    ids: v.outstanding(),
                }),
                Some(_) => match dirs::trash(root, &name) {
                    Err(e) => Err(e),
                    Ok(moved) => {
                        if let Some(path) = moved {
                            if let Err(e) =
                                self.directory_step(WritePoint::DirectoryTrashed, &name)?
                            {
                                // The Remove fails: put the data back first.
                                let _ = std::fs::rename(&path, self.root.join(name.as_str()));
                                return Ok(Err(e));
                            }
                            trashed.push(path);
                        }
                        Ok(Some(Change::Remove { name }))
                    }
                },
            },
            Command::Mount { name, id } => match state.volumes.get(&name) {
                None => Err(Error::NoSuchVolume(name.to_string())),
                Some(v) => {
                    // Provision on the first outstanding mount: the directory may
                    // be missing (deleted by hand, or lost with an unsynced mkdir)
                    // or replaced by a planted link, which is refused.
                    let provisioned = if v.mounts.is_empty() {
                        dirs::ensure(root, &name, v.options.effective_mode(), false)
                    } else {
                        Ok(false)
                    };
                    match provisioned {
                        Err(e) => Err(e),
                        Ok(created) => {
                            if created {
                                if let Err(e) =
                                    self.directory_step(WritePoint::DirectoryCreated, &name)?
                                {
                                    return Ok(Err(e));
                                }
                            }
                            Ok(Some(Change::Mount { name, id }))
                        }
                    }
                }
            },
            Command::Unmount { name, id } => match state.volumes.get(&name) {
                None => Err(Error::NoSuchVolume(name.to_string())),
                Some(v) if v.mount_count(&id) == 0 => Err(Error::UnknownMountId {
                    volume: name.to_string(),
                    id: id.to_string(),
                    outstanding: v.outstanding(),
                }),
                // Releasing a directory volume needs no I/O beyond the record;
                // a plugin backed by real mounts would `umount` on the last one.
                Some(_) => Ok(Some(Change::Unmount { name, id })),
            },
        })
    }
}

/// `t` in UTC, whole seconds, RFC 3339: `2026-11-22T03:03:39Z`, the form the
/// golden recordings show and Go's `time.Time` decoder accepts.
pub(crate) fn rfc3339_seconds(t: time::OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    t.replace_nanosecond(0)
        .unwrap_or(t)
        .format(&Rfc3339)
        .expect("dates in years 0-9999 format as RFC 3339")
}
