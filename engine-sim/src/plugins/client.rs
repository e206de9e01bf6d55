//! The plugin RPC client, with dockerd 20.10's retry, timeout and error rules
//! (`pkg/plugins/client.go`, protocol.md §3).
//!
//! * Only status 200 is success. Any other status is final (no retry) and its
//!   error text is `<Method>: <Err>` when the body is a JSON object with a
//!   non-empty `Err`, else `<Method>: <raw body>`.
//! * Retries happen only when no HTTP response arrived, with backoff 1, 2, 4, 8 s,
//!   giving up when the next sleep would reach 30 s since the first attempt.
//!   A retry after the body was already sent goes out with an **empty body**.
//! * Transport errors print as Go's `url.Error`: `Post "<url>": <cause>`.
//! * A 200 body is decoded leniently ([`drydock_sdk::wire::decode_go`]); an empty
//!   one is the error `EOF`.

use crate::clock::{backoff, should_abort, Clock};
use crate::plugins::transport::{RawReply, Transport};
use crate::trace::{RpcRecord, Trace};
use bytes::Bytes;
use drydock_sdk::wire::{decode_go, encode_go, DecodeError};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How one call is made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CallOptions {
    /// Per-attempt timeout (dockerd's volume proxy: 2 min Create/Mount, 1 min
    /// others; none for authz, IPAM and network).
    pub timeout: Option<Duration>,
    /// Skip retries (dockerd never disables them for plugin calls; tests may).
    pub no_retry: bool,
}

impl CallOptions {
    /// Options with a per-attempt timeout.
    pub fn timeout(d: Duration) -> Self {
        CallOptions {
            timeout: Some(d),
            no_retry: false,
        }
    }
}

/// A failed call, worded as dockerd words it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// No HTTP response (after retries): Go's `url.Error`.
    #[error("Post \"{url}\": {message}")]
    Transport {
        /// The request URL as Go prints it.
        url: String,
        /// The cause (`dial unix …: connect: connection refused`, `EOF`, …).
        message: String,
    },
    /// The per-attempt timeout expired.
    #[error("Post \"{url}\": context deadline exceeded")]
    Timeout {
        /// The request URL as Go prints it.
        url: String,
    },
    /// A response with a status other than 200.
    #[error("{method}: {text}")]
    Status {
        /// The RPC method.
        method: String,
        /// The HTTP status.
        status: u16,
        /// The `Err` of a JSON error body, or the raw body.
        text: String,
    },
    /// A 200 response that could not be decoded (`EOF` for an empty body).
    #[error("{0}")]
    Decode(DecodeError),
}

impl CallError {
    /// Whether this is a communication failure (Go `net.Error`): such errors
    /// are treated differently from plugin answers (e.g. a volume Get that fails
    /// this way does not make dockerd forget the volume).
    pub fn is_network(&self) -> bool {
        matches!(
            self,
            CallError::Transport { .. } | CallError::Timeout { .. }
        )
    }

    /// The HTTP status of a non-200 answer.
    pub fn status(&self) -> Option<u16> {
        match self {
            CallError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// dockerd's `plugins.IsNotFound`: true only for a 404 answer.
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }
}

/// A client for one plugin.
#[derive(Debug, Clone)]
pub struct PluginClient {
    name: String,
    transport: Arc<dyn Transport>,
    clock: Arc<dyn Clock>,
    trace: Option<Trace>,
}

impl PluginClient {
    /// A client for plugin `name` over `transport`; calls are recorded in `trace`.
    pub fn new(
        name: impl Into<String>,
        transport: Arc<dyn Transport>,
        clock: Arc<dyn Clock>,
        trace: Option<Trace>,
    ) -> Self {
        PluginClient {
            name: name.into(),
            transport,
            clock,
            trace,
        }
    }

    /// The plugin's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The transport underneath.
    pub fn transport(&self) -> &Arc<dyn Transport> {
        &self.transport
    }

    /// Calls `method` with `args` encoded as Go would (`None` = empty body) and
    /// decodes a 200 answer into `R`.
    pub async fn call<A: Serialize, R: DeserializeOwned + Default>(
        &self,
        method: &str,
        args: Option<&A>,
        opts: CallOptions,
    ) -> Result<R, CallError> {
        let body = match args {
            Some(a) => Bytes::from(encode_go(a)),
            None => Bytes::new(),
        };
        self.call_bytes(method, body, opts, |b| decode_go::<R>(b))
            .await
    }

    /// Calls `method` with a raw body and returns the raw 200 body.
    pub async fn call_raw(
        &self,
        method: &str,
        body: Bytes,
        opts: CallOptions,
    ) -> Result<Bytes, CallError> {
        self.call_bytes(method, body, opts, |b| Ok(Bytes::copy_from_slice(b)))
            .await
    }

    async fn call_bytes<R>(
        &self,
        method: &str,
        body: Bytes,
        opts: CallOptions,
        decode: impl FnOnce(&[u8]) -> Result<R, DecodeError>,
    ) -> Result<R, CallError> {
        let started = Instant::now();
        let clock_start = self.clock.elapsed();
        let (outcome, attempts, empty_retry) = self.exchange(method, body.clone(), opts).await;
        let (reply, result) = match outcome {
            Ok(reply) => {
                let result = if reply.status == 200 {
                    decode(&reply.body).map_err(CallError::Decode)
                } else {
                    Err(status_error(method, &reply))
                };
                (Some(reply), result)
            }
            Err(e) => (None, Err(e)),
        };
        if let Some(trace) = &self.trace {
            trace.record(RpcRecord {
                plugin: self.name.clone(),
                method: method.to_owned(),
                request: body,
                status: reply.as_ref().map(|r| r.status),
                response: reply.map(|r| r.body),
                error: result.as_ref().err().map(|e| e.to_string()),
                micros: started.elapsed().as_micros() as u64,
                clock_micros: self.clock.elapsed().saturating_sub(clock_start).as_micros() as u64,
                attempts,
                empty_body_retry: empty_retry,
            });
        }
        result
    }

    /// Runs attempts until an HTTP response arrives or retrying is abandoned.
    async fn exchange(
        &self,
        method: &str,
        body: Bytes,
        opts: CallOptions,
    ) -> (Result<RawReply, CallError>, u32, bool) {
        let start = self.clock.elapsed();
        let mut retries = 0u32;
        let mut next_body = body;
        let mut empty_retry = false;
        let span = tracing::debug_span!("rpc", plugin = %self.name, method);
        let _enter = span.enter();
        loop {
            let attempt = self.transport.round_trip(method, next_body.clone());
            let result = match opts.timeout {
                // On a virtual clock the limit bounds the waits injected
                // through the clock (fault delays); see `clock::timeout`.
                Some(limit) => match crate::clock::timeout(&*self.clock, limit, attempt).await {
                    Ok(r) => r.map_err(|e| {
                        (
                            e.body_sent,
                            transport_error(&*self.transport, method, &e.message),
                        )
                    }),
                    Err(_) => Err((
                        false,
                        CallError::Timeout {
                            url: self.transport.url(method),
                        },
                    )),
                },
                None => attempt.await.map_err(|e| {
                    (
                        e.body_sent,
                        transport_error(&*self.transport, method, &e.message),
                    )
                }),
            };
            match result {
                Ok(reply) => return (Ok(reply), retries + 1, empty_retry),
                Err((body_sent, err)) => {
                    let wait = backoff(retries);
                    let elapsed = self.clock.elapsed().saturating_sub(start);
                    if opts.no_retry || should_abort(elapsed, wait) {
                        return (Err(err), retries + 1, empty_retry);
                    }
                    tracing::warn!(
                        "Unable to connect to plugin: {}: {err}, retrying in {}s",
                        self.name,
                        wait.as_secs()
                    );
                    if body_sent && !next_body.is_empty() {
                        // Go rebuilds the request from the already-drained buffer.
                        next_body = Bytes::new();
                        empty_retry = true;
                    }
                    retries += 1;
                    self.clock.sleep(wait).await;
                }
            }
        }
    }
}

fn transport_error(t: &dyn Transport, method: &str, message: &str) -> CallError {
    CallError::Transport {
        url: t.url(method),
        message: message.to_owned(),
    }
}

/// dockerd's handling of a non-200 answer: strict whole-body JSON with a
/// non-empty `Err`, otherwise the raw body verbatim.
fn status_error(method: &str, reply: &RawReply) -> CallError {
    // Go's json.Unmarshal: the whole body must be one JSON value; keys match
    // case-insensitively; a non-string Err is a decode failure.
    let in_json = match serde_json::from_slice::<serde_json::Value>(&reply.body) {
        Ok(serde_json::Value::Object(map)) => map
            .iter()
            .rfind(|(k, _)| k.eq_ignore_ascii_case("Err"))
            .and_then(|(_, v)| v.as_str().map(str::to_owned)),
        _ => None,
    };
    let text = match in_json {
        Some(err) if !err.is_empty() => err,
        _ => String::from_utf8_lossy(&reply.body).into_owned(),
    };
    CallError::Status {
        method: method.to_owned(),
        status: reply.status,
        text,
    }
}
