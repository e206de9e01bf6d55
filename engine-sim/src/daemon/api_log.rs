//! The client requests of a run, kept on demand for drawing it
//! (`drydock run --diagram`): each request's arrival and answer, placed among
//! the plugin RPCs of the trace so a picture can nest the RPCs a request caused.

use super::Engine;

/// One end of a client request, as [`Engine::api_log`] keeps them for
/// drawing a run: the request's arrival and the daemon's answer, each placed
/// among the plugin RPCs of the trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiEvent {
    /// The request reached the daemon.
    Request {
        /// Pairs the request with its [`ApiEvent::Response`].
        id: u64,
        /// HTTP method.
        method: String,
        /// The request target, e.g. `/v1.41/volumes/create`.
        uri: String,
        /// Number of trace records made before it arrived.
        rpcs_before: usize,
        /// The body the client sent, if any (as text).
        body: Option<String>,
    },
    /// The daemon answered (or the client hung up on a streaming request).
    Response {
        /// The [`ApiEvent::Request`] answered.
        id: u64,
        /// The status the handler wrote or the error's status; `None` when
        /// the handler never wrote one (streams, hijacked connections).
        status: Option<u16>,
        /// dockerd's error message, if the request failed.
        error: Option<String>,
        /// Number of trace records made before the answer.
        rpcs_before: usize,
    },
}

/// The request log behind [`Engine::record_api`]; off (`None`) by default so
/// long-running engines (benchmarks, fuzzing) do not accumulate it.
#[derive(Debug, Default)]
pub(crate) struct ApiLog {
    events: Option<Vec<ApiEvent>>,
    next_id: u64,
}

impl Engine {
    /// From now on, keep an [`ApiEvent`] for every client request (taken with
    /// [`Engine::api_log`]), to show which requests caused which plugin calls.
    pub fn record_api(&self) {
        let mut log = self.api_log.lock().expect("api log lock");
        log.events.get_or_insert_with(Vec::new);
    }

    /// Takes the request events kept so far (empty unless [`Engine::record_api`]
    /// was called). Their `rpcs_before` count the trace records made since the
    /// trace was last drained, so take both together.
    pub fn api_log(&self) -> Vec<ApiEvent> {
        let mut log = self.api_log.lock().expect("api log lock");
        log.events.as_mut().map(std::mem::take).unwrap_or_default()
    }

    pub(crate) fn log_request(&self, method: &str, uri: &str, body: Option<&[u8]>) -> Option<u64> {
        let mut log = self.api_log.lock().expect("api log lock");
        let id = log.next_id;
        let events = log.events.as_mut()?;
        events.push(ApiEvent::Request {
            id,
            method: method.to_owned(),
            uri: uri.to_owned(),
            rpcs_before: self.trace().len(),
            body: body.map(|b| String::from_utf8_lossy(b).into_owned()),
        });
        log.next_id += 1;
        Some(id)
    }

    pub(crate) fn log_response(&self, id: u64, status: Option<u16>, error: Option<String>) {
        let mut log = self.api_log.lock().expect("api log lock");
        if let Some(events) = log.events.as_mut() {
            events.push(ApiEvent::Response {
                id,
                status,
                error,
                rpcs_before: self.trace().len(),
            });
        }
    }
}
