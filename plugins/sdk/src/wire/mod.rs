//! Wire types: the JSON bodies exchanged between dockerd and a plugin.
//!
//! This module is the **only** place in drydock that knows protocol field names
//! (`RequestUri`, `Err` vs `Error`, …). The engine serialises requests and decodes
//! responses with these types; the SDK decodes requests and serialises responses
//! with them. Field order follows the Go structs dockerd 20.10 encodes, because
//! Go's `encoding/json` writes fields in declaration order and traces compare bytes.
//!
//! Two decoding modes exist, because the two sides of the wire are not symmetric:
//! * [`decode_go`] mimics Go's `json.Decoder` as dockerd uses it on plugin
//!   responses: the first JSON value only, case-insensitive keys, unknown keys
//!   ignored, `null` meaning "all zero values".
//! * [`encode_go`] mimics Go's `json.Encoder` as dockerd uses it on requests:
//!   compact JSON, HTML-sensitive characters escaped, and a trailing newline.

pub mod authz;
pub mod ipam;
pub mod network;
pub mod plugin;
pub mod volume;

mod go;

pub use go::{decode_go, encode_go, DecodeError};
