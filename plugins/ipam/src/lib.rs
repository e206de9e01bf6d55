//! drydock-ipam: the reference IPAM plugin.
//!
//! Hands out pools and addresses for `docker network create --ipam-driver`
//! and the containers connected to such networks, keeping its state in one
//! atomically replaced file so a restart forgets nothing it answered.
//!
//! ```no_run
//! # fn demo() -> Result<(), drydock_ipam::OpenError> {
//! use drydock_ipam::{Config, IpamPlugin};
//! let plugin = IpamPlugin::open(Config::new("/var/lib/drydock/ipam"))?.plugin();
//! // serve `plugin` with drydock_sdk::server, or call `plugin.handle(..)` in-process
//! # Ok(()) }
//! ```
//!
//! # Layout
//! * `drydock_sdk::net` — addresses and CIDR blocks of both families as
//!   integers (shared with the simulated dockerd).
//! * [`alloc`] — the allocator: pools per address space, held addresses.
//! * `store.rs` — the state file: temp file, fsync, rename, directory fsync.
//! * [`IpamPlugin`] (`plugin.rs`) — the RPC handlers on top.
//!
//! # Behaviour (protocol.md §6)
//! * Address spaces `drydock-local` and `drydock-global`; pools of one space
//!   never overlap. An explicit `Pool` is granted when free and refused with
//!   a message naming the pool in the way; without one, the next free /24
//!   (IPv4) or /64 (IPv6) of the configured ranges is carved.
//! * PoolIDs are `SPACE/CIDR`. `SubPool` (`--ip-range`) narrows where dynamic
//!   addresses come from; it must lie inside the pool.
//! * `RequestAddress` with an address reserves exactly it (inside the pool,
//!   not held); without one it gives the lowest free address of the sub-pool
//!   or pool, never a network or IPv4 broadcast address. Gateways are no
//!   different. Answers are `ip/prefix`, as dockerd requires.
//! * `ReleaseAddress` of an address not held, and anything naming an unknown
//!   pool, is refused. Refusals travel in band (`Error`); dockerd shows them
//!   as `remote: <text>`. A failure to save answers HTTP 500.
#![warn(missing_docs)]

pub mod alloc;
pub use drydock_sdk::net;
mod plugin;
mod store;

pub use alloc::{AllocError, Allocator};
pub use plugin::{Config, IpamPlugin, OpenError};
pub use store::STATE_FILE;
