//! [`Config`]: where the plugin keeps its state and volumes, and how hard it
//! tries to keep them.

use crate::crash::Fault;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use time::OffsetDateTime;

/// Everything [`crate::VolumePlugin::open`] needs. Start from [`Config::new`].
#[derive(Debug, Clone)]
pub struct Config {
    /// Holds the state files (`state.json`, `journal.log`). Created if missing.
    /// One plugin process per state directory: two writers would interleave
    /// their journals.
    pub state_dir: PathBuf,
    /// Parent of the volume directories (`root/NAME`). Defaults to
    /// `state_dir/volumes`; created if missing. dockerd bind-mounts from here, so
    /// it is made absolute (symlinks resolved) at open.
    pub root: PathBuf,
    /// Whether acknowledged changes survive a power loss or only a crash.
    pub durability: Durability,
    /// After this many journal records, the state is written as a snapshot and
    /// the journal starts over. Bounds both the journal's size and the replay
    /// time at start; each snapshot costs one full-state write.
    pub compact_after: usize,
    /// The source of `CreatedAt`. Injectable so tests can pin it.
    pub clock: Clock,
    /// Test support: kill the plugin, or fail a write, at a write point
    /// (see [`crate::crash`]). `None` in production.
    pub fault: Option<Fault>,
}

impl Config {
    /// The defaults: volumes in `state_dir/volumes`, fsync durability, the
    /// system clock, compaction every 10 000 records.
    pub fn new(state_dir: impl Into<PathBuf>) -> Config {
        let state_dir = state_dir.into();
        Config {
            root: state_dir.join("volumes"),
            state_dir,
            durability: Durability::default(),
            compact_after: 10_000,
            clock: Clock::system(),
            fault: None,
        }
    }
}

/// How far the plugin goes before it acknowledges a state change.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Durability {
    /// The journal is `fdatasync`ed, and snapshots are fsynced and renamed with
    /// the directory fsynced, before any call is answered: an acknowledged change
    /// survives a crash of the plugin *and* of the machine. Concurrent calls share
    /// one fsync (group commit), so the cost per call falls as load rises.
    #[default]
    Fsync,
    /// The same writes, without any fsync: acknowledged changes survive a crash
    /// or `kill -9` of the plugin (the kernel still has them), but not a power
    /// loss or kernel crash. For benchmarks and throwaway sandboxes.
    Buffered,
}

impl Durability {
    pub(crate) fn syncs(self) -> bool {
        self == Durability::Fsync
    }
}

/// A clock returning the current time; cheap to clone.
#[derive(Clone)]
pub struct Clock(Arc<dyn Fn() -> OffsetDateTime + Send + Sync>);

impl Clock {
    /// The system's UTC clock.
    pub fn system() -> Clock {
        Clock(Arc::new(OffsetDateTime::now_utc))
    }

    /// A clock stuck at `at`.
    pub fn fixed(at: OffsetDateTime) -> Clock {
        Clock(Arc::new(move || at))
    }

    /// A clock calling `now`.
    pub fn from_fn(now: impl Fn() -> OffsetDateTime + Send + Sync + 'static) -> Clock {
        Clock(Arc::new(now))
    }

    /// The current time.
    pub fn now(&self) -> OffsetDateTime {
        (self.0)()
    }
}

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Clock")
    }
}
