//! drydock-sdk's integration tests: one binary, one module per area.
//!
//! * `util` — the test plugins, a raw HTTP/1.1 client, and server harnesses.
//! * `inprocess` — `Plugin::handle` without a socket: dispatch, manifests, errors.
//! * `robustness` — what dockerd's HTTP client needs from the server, byte by byte.
//! * `unix`, `tcp`, `tls` — the three transports and what each leaves on disk.
//! * `stuck` — SIGTERM ends a plugin process whose handler never yields.
//! * `wire` — the JSON of the wire types, pinned by snapshots and golden traces.

#[path = "sdk/inprocess.rs"]
mod inprocess;
#[path = "sdk/robustness.rs"]
mod robustness;
#[path = "sdk/stuck.rs"]
mod stuck;
#[path = "sdk/tcp.rs"]
mod tcp;
#[path = "sdk/tls.rs"]
mod tls;
#[path = "sdk/unix.rs"]
mod unix;
#[path = "sdk/util.rs"]
mod util;
#[path = "sdk/wire.rs"]
mod wire;
