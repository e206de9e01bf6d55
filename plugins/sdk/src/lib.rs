//! drydock-sdk: write Docker legacy (v1) plugins in Rust.
//!
//! # Layout
//! * [`wire`] — the JSON bodies of all four protocols, exactly as dockerd 20.10
//!   sends and reads them. The engine and the plugins share these types; no other
//!   module names a protocol field.
//! * [`VolumeDriver`], [`AuthzPlugin`], [`IpamDriver`], [`NetworkDriver`] — one
//!   trait per protocol, one method per RPC. Implement the ones your plugin speaks.
//! * [`Plugin`] — bundles the implemented traits, answers `Plugin.Activate` from
//!   them, and dispatches every other request. [`Plugin::handle`] is the
//!   in-process transport: the full request/response path without a socket.
//! * [`server`] — serves a [`Plugin`] over a unix socket, TCP (with a `.spec`
//!   file), TLS, or any listener the caller binds, with graceful shutdown.
//!   With [`server::shutdown_signal`], SIGTERM ends the process within the
//!   shutdown timeout even if a handler never yields; handlers should still
//!   do blocking work with `tokio::task::spawn_blocking` (see [`server`]).
//! * [`PluginError`] — how a handler fails: a message and a deliberate status.
//!
//! # Example
//! ```no_run
//! use drydock_sdk::{Plugin, PluginError, VolumeDriver, wire::volume::*};
//!
//! struct Noop;
//! impl VolumeDriver for Noop {
//!     async fn create(&self, _: CreateRequest) -> Result<(), PluginError> { Ok(()) }
//!     async fn remove(&self, _: NameRequest) -> Result<(), PluginError> { Ok(()) }
//!     async fn mount(&self, _: MountRequest) -> Result<String, PluginError> { Ok("/tmp".into()) }
//!     async fn path(&self, _: NameRequest) -> Result<String, PluginError> { Ok("/tmp".into()) }
//!     async fn unmount(&self, _: MountRequest) -> Result<(), PluginError> { Ok(()) }
//!     async fn get(&self, r: NameRequest) -> Result<Volume, PluginError> {
//!         Err(PluginError::new(format!("no such volume: {}", r.name)))
//!     }
//!     async fn list(&self) -> Result<Vec<Volume>, PluginError> { Ok(vec![]) }
//! }
//! ```
#![warn(missing_docs)]

mod authz;
mod error;
mod ipam;
pub mod net;
mod network;
mod plugin;
pub mod server;
mod volume;
pub mod wire;

pub use authz::AuthzPlugin;
pub use error::PluginError;
pub use ipam::IpamDriver;
pub use network::NetworkDriver;
pub use plugin::{Plugin, Reply};
pub use volume::VolumeDriver;
pub use wire::plugin::Protocol;
