//! drydock-engine: a simulated dockerd 20.10, as its plugins see it.
//!
//! # Layout
//! Layered as Docker is: client → Engine API → daemon → plugin client.
//! * [`docker_cli`] — the docker CLI as a client: a command line in, the
//!   Engine API requests the real CLI sends, its output from the answers.
//! * [`api`] — the Engine API: router, authz middleware, handlers, request
//!   types. Every client's requests come in here.
//! * [`engine`] — the daemon: volumes, containers, networks, the authz chain;
//!   typed errors classed as dockerd's.
//!
//! The plugin client, below the daemon:
//! * [`discovery`] — finding plugins on disk: sockets, `.spec` and `.json` files,
//!   in dockerd's order; `Scan`.
//! * [`transport`] — one request/response exchange with a plugin: HTTP over unix
//!   sockets, TCP or TLS with dockerd's exact headers, or in-process.
//! * [`client`] — dockerd's RPC semantics on top: only 200 is success, error
//!   texts, retries with backoff on transport failure, per-call timeouts.
//! * [`registry`] — lazy activation cached for the engine's lifetime, handlers
//!   per protocol, `GetAll`.
//! * [`fault`] — injected misbehaviour on the engine↔plugin path (delays,
//!   hangs, error answers, dropped connections, refused or late sockets).
//! * [`clock`] — every wait goes through an injectable clock (real, pausable, or
//!   virtual), so retry and timeout behaviour is testable in milliseconds.
//! * [`trace`] — the record of every RPC the engine made.
//! * [`scenario`] — the scenario language (parser, AST, expectation matching).
#![warn(missing_docs)]

pub mod api;
pub mod client;
pub mod clock;
pub mod compare;
pub mod discovery;
pub mod docker_cli;
pub mod engine;
pub mod fault;
pub mod registry;
pub mod scenario;
pub mod trace;
pub mod transport;
