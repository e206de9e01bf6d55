//! The plugin client: how the daemon finds, activates and calls plugins,
//! as moby's `pkg/plugins` does it.
//!
//! * [`discovery`] — finding plugins on disk: sockets, `.spec` and `.json`
//!   files, in dockerd's order; `Scan`.
//! * [`transport`] — one request/response exchange with a plugin: HTTP over
//!   unix sockets, TCP or TLS with dockerd's exact headers, or in-process.
//! * [`client`] — dockerd's RPC semantics on top: only 200 is success, error
//!   texts, retries with backoff on transport failure, per-call timeouts.
//! * [`registry`] — lazy activation cached for the daemon's lifetime,
//!   handlers per protocol, `GetAll`.
//! * [`fault`] — injected misbehaviour on the daemon↔plugin path (delays,
//!   hangs, error answers, dropped connections, refused or late sockets).
//!
//! Nothing here knows the daemon, the Engine API or any client.

pub mod client;
pub mod discovery;
pub mod fault;
pub mod registry;
pub mod transport;
