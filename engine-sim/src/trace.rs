//! The record of every RPC the engine makes.
//!
//! Later layers print it (`drydock run` text output), snapshot it (insta), write
//! it as JSON Lines (`--trace`) and compare it with real dockerd recordings.

use bytes::Bytes;
use serde_json::Value;
use std::sync::{Arc, Mutex};

/// One plugin RPC as the engine saw it (after retries).
#[derive(Debug, Clone, PartialEq)]
pub struct RpcRecord {
    /// Plugin name.
    pub plugin: String,
    /// RPC method, e.g. `VolumeDriver.Mount`.
    pub method: String,
    /// Request body of the first attempt, as sent.
    pub request: Bytes,
    /// Response body, when an HTTP response arrived.
    pub response: Option<Bytes>,
    /// HTTP status, when an HTTP response arrived.
    pub status: Option<u16>,
    /// The error the engine derived from the call, as dockerd words it.
    pub error: Option<String>,
    /// Wall time of the whole call, retries included.
    pub micros: u64,
    /// Time of the whole call on the engine's clock: virtual in scenario runs,
    /// where it shows dockerd's retry backoffs, timeouts and injected delays.
    pub clock_micros: u64,
    /// Number of attempts (1 without retries).
    pub attempts: u32,
    /// A retry went out with an empty body because the first attempt's body was
    /// already sent when the connection dropped (dockerd does this; non-idempotent
    /// plugins may then see the call twice).
    pub empty_body_retry: bool,
}

impl RpcRecord {
    /// The request as JSON (`null` for an empty body, a string if not JSON).
    pub fn request_json(&self) -> Value {
        body_json(&self.request)
    }

    /// The response as JSON, `None` without a response.
    pub fn response_json(&self) -> Option<Value> {
        self.response.as_ref().map(|b| body_json(b))
    }
}

/// Parses a body for display: JSON if it is JSON, otherwise the text.
pub fn body_json(body: &[u8]) -> Value {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Value::Null;
    }
    let mut stream = serde_json::Deserializer::from_slice(body).into_iter::<Value>();
    match stream.next() {
        Some(Ok(v)) => v,
        _ => Value::String(String::from_utf8_lossy(body).into_owned()),
    }
}

/// A shared, append-only list of [`RpcRecord`]s. Cloning shares the list.
#[derive(Debug, Clone, Default)]
pub struct Trace {
    records: Arc<Mutex<Vec<RpcRecord>>>,
}

impl Trace {
    /// An empty trace.
    pub fn new() -> Self {
        Trace::default()
    }

    /// Appends a record.
    pub fn record(&self, record: RpcRecord) {
        self.records.lock().expect("trace lock").push(record);
    }

    /// Takes every record so far, leaving the trace empty.
    pub fn drain(&self) -> Vec<RpcRecord> {
        std::mem::take(&mut *self.records.lock().expect("trace lock"))
    }

    /// A copy of every record so far.
    pub fn snapshot(&self) -> Vec<RpcRecord> {
        self.records.lock().expect("trace lock").clone()
    }

    /// Number of records so far.
    pub fn len(&self) -> usize {
        self.records.lock().expect("trace lock").len()
    }

    /// Whether no record was made yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
