//! drydock-volume's integration tests: the plugin driven through
//! `Plugin::handle` (the full JSON request/response path, no socket) with the
//! bodies dockerd sends.
//!
//! One test binary, one module per concern; `util` holds the harness and the
//! model the property test compares against.

#[path = "volume/util.rs"]
mod util;

#[path = "volume/concurrency.rs"]
mod concurrency;
#[path = "volume/crash.rs"]
mod crash;
#[path = "volume/faults.rs"]
mod faults;
#[path = "volume/model.rs"]
mod model;
#[path = "volume/names.rs"]
mod names;
#[path = "volume/options.rs"]
mod options;
#[path = "volume/persistence.rs"]
mod persistence;
#[path = "volume/refcount.rs"]
mod refcount;
#[path = "volume/session.rs"]
mod session;
