//! drydock-engine: a simulated dockerd 20.10, as its plugins see it.
//!
//! # Layout
//! Layered as Docker is: client → Engine API → daemon → plugin client.
//! * [`docker_cli`] — the docker CLI as a client: a command line in, the
//!   Engine API requests the real CLI sends, its output from the answers.
//! * [`api`] — the Engine API: router, authz middleware, handlers, request
//!   types. Every client's requests come in here.
//! * [`daemon`] — the daemon: volumes, containers, networks, the authz chain;
//!   typed errors classed as dockerd's.
//!
//! * [`plugins`] — the plugin client below the daemon (moby's `pkg/plugins`):
//!   discovery, transports, dockerd's RPC semantics, the registry of
//!   activated plugins, and the fault layer around them.
//!
//! Beside them:
//! * [`clock`] — every wait goes through an injectable clock (real, pausable, or
//!   virtual), so retry and timeout behaviour is testable in milliseconds.
//! * [`trace`] — the record of every RPC the engine made.
//! * [`scenario`] — the scenario language (parser, AST, expectation
//!   matching), on top of the CLI model.
//! * [`compare`] — runs compared with real dockerd recordings.
#![warn(missing_docs)]

pub mod api;
pub mod clock;
pub mod compare;
pub mod daemon;
pub mod docker_cli;
pub mod plugins;
pub mod scenario;
pub mod trace;
