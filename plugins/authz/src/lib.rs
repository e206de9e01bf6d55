//! drydock-authz: the reference authorization plugin.
//!
//! dockerd asks every plugin of its `--authorization-plugin` chain about each
//! API request (AuthZReq) and its response (AuthZRes). This plugin answers from
//! a reviewable policy file: ordered rules on user, method, path and JSON body
//! fields, first match wins, default deny. Anything it cannot read is denied.
//!
//! * [`policy`] — the file format and its line-numbered errors.
//! * [`eval`] — judging one call: exactly one [`Decision`].
//! * [`glob`] — path patterns, compiled at load into linear-time matchers.
//! * [`PolicyPlugin`] — the [`drydock_sdk::AuthzPlugin`], with reload and an
//!   optional JSON Lines audit log.
//!
//! The policy language is documented with examples in `docs/authz.md`.
#![warn(missing_docs)]

pub mod eval;
pub mod glob;
mod plugin;
pub mod policy;

pub use eval::Decision;
pub use plugin::{LoadError, PolicyPlugin};
pub use policy::{Phase, Policy, PolicyError, Verdict};
