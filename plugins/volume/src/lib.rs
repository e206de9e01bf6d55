//! drydock-volume: the reference volume plugin.
//!
//! Each volume is a directory `ROOT/NAME`. The plugin speaks the whole
//! `VolumeDriver` protocol through [`drydock_sdk::VolumeDriver`], counts mounts
//! per mount ID, and keeps its state in a crash-safe journal, so a real dockerd
//! can use it and a plugin author can read it as a worked example.
//!
//! ```no_run
//! # async fn demo() -> Result<(), drydock_volume::Error> {
//! use drydock_volume::{Config, VolumePlugin};
//! let plugin = VolumePlugin::open(Config::new("/var/lib/drydock/vol"))?.plugin();
//! // serve `plugin` with drydock_sdk::server, or call `plugin.handle(..)` in-process
//! # Ok(()) }
//! ```
//!
//! # Layout
//! * [`VolumePlugin`] (`plugin.rs`) — the RPC handlers: validate the
//!   request, answer reads from the durable state, send changes to the writer.
//! * `writer.rs` — the single state writer: plans each change, performs its
//!   directory side effect, journals a batch with one fsync, publishes it.
//!   A thread of its own with fsync (group commit), inline without.
//! * `store.rs` — the files: snapshot + checksummed journal, replay at open,
//!   compaction. Its module docs argue why a crash leaves the old or the new state.
//! * `state.rs` — the in-memory state and the `Change`s that move it.
//! * `dirs.rs` — volume directories: create with a mode, refuse planted
//!   symlinks, remove through a trash directory.
//! * [`name`] — [`VolumeName`] and [`MountId`], validated once at the boundary.
//! * [`options`] — the supported `-o` options (`mode`, `size`).
//! * [`crash`] — fault injection (kill, I/O error) at each write point, for tests.
//! * [`Error`] — every failure, and which ones dockerd sees in band.
//!
//! # Behaviour (what dockerd relies on; protocol.md §4)
//! * `Create` is idempotent: an existing name succeeds (concurrent creates
//!   happen), unless it asks for *different* options, which is refused.
//! * `Get`/`List` report `Name`, `Mountpoint` (`ROOT/NAME`, mounted or not),
//!   `CreatedAt` (RFC 3339, seconds, UTC) and `Status`:
//!   `{"mounts": [IDs], "options": {...}}`; an ID appears once per outstanding
//!   Mount, `options` only if some were given.
//! * `Mount` counts per ID: the first outstanding mount of a volume provisions
//!   its directory; the same ID again (`docker cp` into a running container)
//!   needs a second `Unmount`. `Unmount` of an ID with no outstanding mount,
//!   and `Remove` while any mount is outstanding, are refused.
//! * `Remove` deletes the directory and its contents.
//! * Unknown names: `no such volume: NAME`. Refusals travel in band (200 +
//!   `Err`), failures as HTTP 500 (see [`Error`]).
//!
//! A known sharp edge (protocol.md §4.5): after a dockerd *crash*, dockerd
//! reuses a container's stale mount ID without ever unmounting it, so that ID
//! is counted twice and the volume stays "in use" after the container stops.
//! The counts are what the protocol says; the plugin cannot tell the cases apart.
//!
//! # Durability
//! Create, Remove, Mount and Unmount are durable before they are answered
//! ([`Durability::Fsync`], the default) — or written to the kernel without
//! fsync ([`Durability::Buffered`]). Concurrent calls share one fsync. The
//! crate's README has the design and measured costs; `store.rs` has the
//! argument for crash safety, and the `crash` tests check it.
#![warn(missing_docs)]

mod config;
pub mod crash;
mod dirs;
mod error;
pub mod name;
pub mod options;
mod plugin;
mod state;
mod store;
mod writer;

pub use config::{Clock, Config, Durability};
pub use crash::{Effect, Fault, WritePoint};
pub use error::Error;
pub use name::{MountId, VolumeName};
pub use options::VolumeOptions;
pub use plugin::VolumePlugin;

/// The files the plugin keeps in [`Config::state_dir`], for tools and tests
/// that inspect them.
pub mod files {
    pub use crate::dirs::TRASH;
    pub use crate::store::{JOURNAL, SNAPSHOT, SNAPSHOT_TMP};
}
