//! The Engine API layer: requests as the docker 28.2 CLI sends them to a
//! 20.10 daemon (API 1.41), responses as dockerd's handlers leave them, and
//! the authz middleware around each handler.
//!
//! Only what authorization plugins can observe is modelled: method, raw URI
//! with its query, the client's headers, the JSON body; the handler's status,
//! headers and JSON body. Recorded with a real daemon: tests/golden/a-*.jsonl
//! and the `rec-authz` lines of every tests/golden/v-*.jsonl.

use super::{Engine, EngineError};
use crate::engine::docker::{API_VERSION, SERVER_VERSION};
use serde_json::Value;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::future::Future;

/// The `User-Agent` of the docker CLI the recordings were made with.
pub const USER_AGENT: &str = "Docker-Client/28.2.2 (linux)";

/// dockerd forwards request and response bodies to authz plugins only below this size.
pub const MAX_AUTHZ_BODY: usize = 1 << 20;

/// A header value: mostly static text, sometimes computed.
type HeaderValue = Cow<'static, str>;

/// One client request.
///
/// Headers and body are what an authz plugin would be shown; runs without an
/// authz chain never read them, so the header map is only materialised by
/// [`ApiRequest::headers`] (the common case keeps a few static strings).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiRequest {
    /// HTTP method.
    pub method: &'static str,
    /// The request target: path and query, e.g. `/v1.41/containers/json?all=1`.
    pub uri: String,
    /// Client headers besides `User-Agent`, canonical Go case (Host excluded,
    /// as dockerd's server strips it), each name at most once.
    extra_headers: Vec<(&'static str, HeaderValue)>,
    /// The body, if any.
    pub body: Option<Vec<u8>>,
}

impl ApiRequest {
    /// A request with only the CLI's `User-Agent` header.
    pub fn new(method: &'static str, uri: impl Into<String>) -> Self {
        ApiRequest {
            method,
            uri: uri.into(),
            extra_headers: Vec::new(),
            body: None,
        }
    }

    /// `HEAD /_ping`, which the CLI sends before every command.
    pub fn ping() -> Self {
        Self::new("HEAD", "/_ping")
    }

    /// `GET /v1.41{path}`.
    pub fn get(path: &str) -> Self {
        Self::new("GET", versioned(path))
    }

    /// `DELETE /v1.41{path}`.
    pub fn delete(path: &str) -> Self {
        Self::new("DELETE", versioned(path))
    }

    /// `HEAD /v1.41{path}`.
    pub fn head(path: &str) -> Self {
        Self::new("HEAD", versioned(path))
    }

    /// A body-less `POST /v1.41{path}` (the CLI sends `Content-Length: 0`).
    pub fn post(path: &str) -> Self {
        Self::new("POST", versioned(path)).header("Content-Length", "0")
    }

    /// `POST /v1.41{path}` with a JSON body, encoded as Go's encoder does
    /// (a trailing newline).
    pub fn post_json(path: &str, body: &Value) -> Self {
        let mut bytes = serde_json::to_vec(body).expect("JSON values encode");
        bytes.push(b'\n');
        let mut req = Self::new("POST", versioned(path))
            .header("Content-Length", bytes.len().to_string())
            .header("Content-Type", "application/json");
        req.body = Some(bytes);
        req
    }

    /// [`ApiRequest::post_json`] whose body is built only when `needed`: the
    /// body is read by nothing but the authz chain, and building the CLI's
    /// full container configuration for every request would dominate runs
    /// without one. Without the body the request keeps its method, URI and
    /// `Content-Type`.
    pub fn post_json_if(path: &str, needed: bool, body: impl FnOnce() -> Value) -> Self {
        if needed {
            Self::post_json(path, &body())
        } else {
            Self::new("POST", versioned(path)).header("Content-Type", "application/json")
        }
    }

    /// Adds or replaces a header.
    pub fn header(mut self, name: &'static str, value: impl Into<HeaderValue>) -> Self {
        self.set_header(name, value);
        self
    }

    /// Adds or replaces a header in place.
    pub fn set_header(&mut self, name: &'static str, value: impl Into<HeaderValue>) {
        let value = value.into();
        match self.extra_headers.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = value,
            None => self.extra_headers.push((name, value)),
        }
    }

    /// Removes a header, if present.
    pub fn remove_header(&mut self, name: &str) {
        self.extra_headers.retain(|(n, _)| *n != name);
    }

    /// One header's value (`User-Agent` included).
    pub fn header_value(&self, name: &str) -> Option<&str> {
        if name == "User-Agent" {
            return Some(USER_AGENT);
        }
        self.extra_headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_ref())
    }

    /// The client's headers as an authz plugin sees them (`RequestHeaders`).
    pub fn headers(&self) -> BTreeMap<String, String> {
        let mut map = BTreeMap::new();
        map.insert("User-Agent".to_owned(), USER_AGENT.to_owned());
        for (name, value) in &self.extra_headers {
            map.insert((*name).to_owned(), value.to_string());
        }
        map
    }

    /// The body as dockerd 20.10.24 (with the CVE-2024-41110 fix) forwards it
    /// to authz plugins: only a JSON body (by Content-Type), sent with a
    /// Content-Length between 1 byte and 1 MiB or chunked, and under 1 MiB
    /// once read. Anything else reaches the plugins as *no body*.
    pub fn authz_body(&self) -> Option<Vec<u8>> {
        let body = self.body.as_ref()?;
        let json = self.header_value("Content-Type").is_some_and(is_json);
        let length: Option<usize> = self
            .header_value("Content-Length")
            .and_then(|l| l.parse().ok());
        let chunked = self
            .header_value("Transfer-Encoding")
            .is_some_and(|te| te.eq_ignore_ascii_case("chunked"));
        let sized = match length {
            Some(n) => n > 0 && n < MAX_AUTHZ_BODY,
            None => chunked,
        };
        (json && sized && !body.is_empty() && body.len() < MAX_AUTHZ_BODY).then(|| body.clone())
    }
}

fn versioned(path: &str) -> String {
    // Built by hand: this runs for every request, and `format!` costs several
    // times more than two appends.
    let mut uri = String::with_capacity(2 + API_VERSION.len() + path.len());
    uri.push_str("/v");
    uri.push_str(API_VERSION);
    uri.push_str(path);
    uri
}

/// Whether a Content-Type's media type is `application/json`.
fn is_json(content_type: &str) -> bool {
    content_type
        .split(';')
        .next()
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
}

/// Which headers a handler left set, beyond the base ones every response
/// carries (API version, experimental flag, OS type, server).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
enum ResponseHeaders {
    /// Already flushed to the client: the buffer holds none.
    #[default]
    Flushed,
    /// The base headers only.
    Base,
    /// The base headers and `Content-Type: application/json`.
    Json,
    /// `HEAD /_ping`'s cache, length and type headers.
    Ping,
    /// A streamed answer's type and path stat, when set.
    Streamed {
        content_type: Option<String>,
        path_stat: Option<String>,
    },
}

/// What the handler left in dockerd's buffering response writer, as the
/// AuthZRes call sees it.
///
/// Like [`ApiRequest`], a response is only turned into headers and bytes when
/// an authz plugin asks ([`ApiResponse::headers`], [`ApiResponse::body`]); a
/// JSON body is kept as a value until then.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ApiResponse {
    /// The status the handler wrote; `None` when it never wrote one (errors
    /// are written after the middleware, hijacked streams bypass it).
    pub status: Option<u16>,
    headers: ResponseHeaders,
    body: Option<Value>,
}

impl ApiResponse {
    /// A JSON answer with `status`.
    pub fn json(status: u16, body: Value) -> Self {
        ApiResponse {
            status: Some(status),
            headers: ResponseHeaders::Json,
            body: Some(body),
        }
    }

    /// A body-less answer (204 No Content, 304 Not Modified).
    pub fn empty(status: u16) -> Self {
        ApiResponse {
            status: Some(status),
            headers: ResponseHeaders::Base,
            body: None,
        }
    }

    /// A streamed answer (archives): the handler writes without calling
    /// WriteHeader, so no status is recorded; `content_type` and the path
    /// stat header, if any, were set before.
    pub fn streamed(content_type: Option<&str>, path_stat: Option<&str>) -> Self {
        ApiResponse {
            status: None,
            headers: ResponseHeaders::Streamed {
                content_type: content_type.map(str::to_owned),
                path_stat: path_stat.map(str::to_owned),
            },
            body: None,
        }
    }

    /// What AuthZRes sees when the handler failed: dockerd writes the error
    /// only after the middleware returns, so there is no status yet.
    pub fn failed() -> Self {
        ApiResponse {
            status: None,
            headers: ResponseHeaders::Base,
            body: None,
        }
    }

    /// A hijacked connection (`attach`): headers set, no status recorded.
    pub fn hijacked() -> Self {
        Self::failed()
    }

    /// A handler that succeeded without writing anything (network connect
    /// and disconnect): headers set, no status recorded.
    pub fn unwritten() -> Self {
        Self::failed()
    }

    /// A response flushed while streaming (`wait`): nothing left in the buffer.
    pub fn flushed() -> Self {
        ApiResponse::default()
    }

    /// `HEAD /_ping`'s answer (the handler never calls WriteHeader).
    pub fn ping() -> Self {
        ApiResponse {
            status: None,
            headers: ResponseHeaders::Ping,
            body: None,
        }
    }

    /// The headers set so far (`ResponseHeaders` of AuthZRes); `None` when
    /// they were already flushed to the client.
    pub fn headers(&self) -> Option<BTreeMap<String, String>> {
        let extra: Vec<(&str, &str)> = match &self.headers {
            ResponseHeaders::Flushed => return None,
            ResponseHeaders::Base => vec![],
            ResponseHeaders::Json => vec![("Content-Type", "application/json")],
            ResponseHeaders::Ping => vec![
                ("Cache-Control", "no-cache, no-store, must-revalidate"),
                ("Content-Length", "0"),
                ("Content-Type", "text/plain; charset=utf-8"),
                ("Pragma", "no-cache"),
            ],
            ResponseHeaders::Streamed {
                content_type,
                path_stat,
            } => content_type
                .as_deref()
                .map(|ct| ("Content-Type", ct))
                .into_iter()
                .chain(
                    path_stat
                        .as_deref()
                        .map(|st| ("X-Docker-Container-Path-Stat", st)),
                )
                .collect(),
        };
        let server = format!("Docker/{SERVER_VERSION} (linux)");
        let base = [
            ("Api-Version", API_VERSION),
            ("Docker-Experimental", "false"),
            ("Ostype", "linux"),
            ("Server", server.as_str()),
        ];
        Some(
            base.into_iter()
                .chain(extra)
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
        )
    }

    /// The buffered body as the client would read it (Go's encoder: a
    /// trailing newline).
    pub fn body(&self) -> Option<Vec<u8>> {
        self.body.as_ref().map(|value| {
            let mut bytes = serde_json::to_vec(value).expect("JSON values encode");
            bytes.push(b'\n');
            bytes
        })
    }

    /// The body as forwarded in AuthZRes: only when the Content-Type is JSON.
    pub fn authz_body(&self) -> Option<Vec<u8>> {
        let json = match &self.headers {
            ResponseHeaders::Json => true,
            ResponseHeaders::Streamed { content_type, .. } => {
                content_type.as_deref().is_some_and(is_json)
            }
            _ => false,
        };
        if json {
            self.body()
        } else {
            None
        }
    }
}

/// Go's `url.QueryEscape`: everything but letters, digits and `-_.~` is
/// percent-encoded, spaces become `+`.
pub fn query_escape(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            b => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// A query string from pairs, sorted by key as Go's `url.Values.Encode` does;
/// empty when there are none.
pub fn query(pairs: &[(&str, String)]) -> String {
    let mut pairs: Vec<&(&str, String)> = pairs.iter().collect();
    pairs.sort_by_key(|(k, _)| *k);
    let parts: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{}={}", query_escape(k), query_escape(v)))
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!("?{}", parts.join("&"))
    }
}

impl Engine {
    /// One API request through the authz middleware: AuthZReq, the handler,
    /// AuthZRes. Without an authz chain the handler just runs.
    ///
    /// A handler error wins over whatever AuthZRes says (dockerd returns it
    /// before looking at the AuthZRes verdict).
    pub async fn api<T, F, Fut>(&self, req: ApiRequest, handler: F) -> Result<T, EngineError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<(T, ApiResponse), EngineError>>,
    {
        let logged = self.log_request(&req);
        let result = self.api_through_authz(&req, handler).await;
        if let Some(id) = logged {
            match &result {
                Ok((_, status)) => self.log_response(id, *status, None),
                Err(e) => self.log_response(id, Some(e.status()), Some(e.message.clone())),
            }
        }
        result.map(|(t, _)| t)
    }

    /// [`Engine::api`] without the request log; also returns the status the
    /// handler wrote.
    async fn api_through_authz<T, F, Fut>(
        &self,
        req: &ApiRequest,
        handler: F,
    ) -> Result<(T, Option<u16>), EngineError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<(T, ApiResponse), EngineError>>,
    {
        if !self.authz_active() {
            return handler().await.map(|(t, resp)| (t, resp.status));
        }
        self.authz_request(req).await?;
        match handler().await {
            Ok((t, resp)) => {
                self.authz_response(req, &resp).await?;
                Ok((t, resp.status))
            }
            Err(e) => {
                let _ = self.authz_response(req, &ApiResponse::failed()).await;
                Err(e)
            }
        }
    }

    /// The first half of [`Engine::api`], for requests whose handler keeps
    /// running while the client goes on (`attach`, `wait`).
    pub async fn api_open(&self, req: &ApiRequest) -> Result<(), EngineError> {
        let logged = self.log_request(req);
        if self.authz_active() {
            if let Err(e) = self.authz_request(req).await {
                if let Some(id) = logged {
                    self.log_response(id, Some(e.status()), Some(e.message.clone()));
                }
                return Err(e);
            }
        }
        Ok(())
    }

    /// The second half: the handler of an [`Engine::api_open`] request returned.
    pub async fn api_close(&self, req: &ApiRequest, resp: &ApiResponse) -> Result<(), EngineError> {
        let result = if self.authz_active() {
            self.authz_response(req, resp).await
        } else {
            Ok(())
        };
        if let Some(id) = self.open_request(req) {
            match &result {
                Ok(()) => self.log_response(id, resp.status, None),
                Err(e) => self.log_response(id, Some(e.status()), Some(e.message.clone())),
            }
        }
        result
    }

    /// `HEAD /_ping`.
    pub async fn ping(&self) -> Result<(), EngineError> {
        self.api(ApiRequest::ping(), || async {
            Ok(((), ApiResponse::ping()))
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn requests_look_like_the_cli_s() {
        let r = ApiRequest::post_json("/volumes/create", &json!({"Driver": "local", "Name": "x"}));
        assert_eq!(r.uri, "/v1.41/volumes/create");
        assert_eq!(
            r.body.as_deref(),
            Some(&b"{\"Driver\":\"local\",\"Name\":\"x\"}\n"[..])
        );
        // Recorded: a-allow-basic.jsonl.
        assert_eq!(r.headers()["Content-Length"], "30");
        assert_eq!(r.authz_body(), r.body);
        let bare = ApiRequest::post("/containers/c/start");
        assert_eq!(bare.headers()["Content-Length"], "0");
        assert_eq!(bare.authz_body(), None);
    }

    #[test]
    fn only_json_bodies_under_a_mebibyte_reach_authz() {
        let mut r = ApiRequest::post_json("/x", &json!({}));
        r.set_header("Content-Type", "Application/JSON; charset=utf-8");
        assert!(r.authz_body().is_some());
        r.set_header("Content-Type", "text/plain");
        assert!(r.authz_body().is_none());
        // Chunked bodies are read (the 20.10.24 fix); a zero length hides one.
        let mut chunked = ApiRequest::post_json("/x", &json!({}));
        chunked.remove_header("Content-Length");
        chunked.set_header("Transfer-Encoding", "chunked");
        assert!(chunked.authz_body().is_some());
        let mut zero = ApiRequest::post_json("/x", &json!({}));
        zero.set_header("Content-Length", "0");
        assert!(zero.authz_body().is_none());
        let big = ApiRequest::post_json("/x", &json!({"a": "x".repeat(MAX_AUTHZ_BODY)}));
        assert!(big.authz_body().is_none());
    }

    #[test]
    fn queries_are_encoded_like_go() {
        assert_eq!(
            query(&[("filters", r#"{"driver":{"gvol":true}}"#.into())]),
            "?filters=%7B%22driver%22%3A%7B%22gvol%22%3Atrue%7D%7D"
        );
        assert_eq!(
            query(&[("v", "1".into()), ("force", "1".into())]),
            "?force=1&v=1"
        );
        assert_eq!(query(&[]), "");
        assert_eq!(query_escape("/d/"), "%2Fd%2F");
    }
}
