//! Engine API messages: requests as clients send them (the docker 28.2 CLI's
//! to a 20.10 daemon speaking API 1.41, or any other client's), and responses
//! as dockerd's handlers leave them.
//!
//! A response is seen twice: by the client (its status, headers and body) and
//! by the authz middleware's AuthZRes call, which sees only what the handler
//! left in dockerd's buffering writer — no status when the handler failed
//! (dockerd writes errors after the middleware) or streamed. Recorded with a
//! real daemon: tests/golden/a-*.jsonl and the `rec-authz` lines of every
//! tests/golden/v-*.jsonl.

use super::router::{API_VERSION, SERVER_VERSION};
use serde_json::Value;
use std::borrow::Cow;
use std::collections::BTreeMap;

/// The `User-Agent` of the docker CLI the recordings were made with.
pub const USER_AGENT: &str = "Docker-Client/28.2.2 (linux)";

/// dockerd forwards request and response bodies to authz plugins only below this size.
pub const MAX_AUTHZ_BODY: usize = 1 << 20;

/// A header name or value: mostly static text, sometimes computed.
type Text = Cow<'static, str>;

/// One client request.
///
/// Headers are kept as a short list (mostly static strings, as the CLI
/// model sends them) and made into a map only for authz plugins
/// ([`ApiRequest::headers`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiRequest {
    /// HTTP method.
    pub method: Text,
    /// The request target: path and query, e.g. `/v1.41/containers/json?all=1`.
    pub uri: String,
    /// The client's headers in canonical Go case (Host excluded, as dockerd's
    /// server strips it), each name at most once.
    headers: Vec<(Text, Text)>,
    /// The body, if any.
    pub body: Option<Vec<u8>>,
}

impl ApiRequest {
    /// A request with only the CLI's `User-Agent` header.
    pub fn new(method: &'static str, uri: impl Into<String>) -> Self {
        ApiRequest {
            method: Cow::Borrowed(method),
            uri: uri.into(),
            headers: vec![(Cow::Borrowed("User-Agent"), Cow::Borrowed(USER_AGENT))],
            body: None,
        }
    }

    /// A request as another client sent it: its method, target, headers
    /// (names in canonical form) and body, taken as they are.
    pub fn from_parts(
        method: impl Into<String>,
        uri: impl Into<String>,
        headers: impl IntoIterator<Item = (String, String)>,
        body: Option<Vec<u8>>,
    ) -> Self {
        let mut req = ApiRequest {
            method: Cow::Owned(method.into()),
            uri: uri.into(),
            headers: Vec::new(),
            body,
        };
        for (name, value) in headers {
            req.set_header(name, value);
        }
        req
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
        Self::post_json_bytes(path, bytes)
    }

    /// `POST /v1.41{path}` with a JSON body already encoded.
    pub fn post_json_bytes(path: &str, bytes: Vec<u8>) -> Self {
        let mut req = Self::new("POST", versioned(path))
            .header("Content-Length", bytes.len().to_string())
            .header("Content-Type", "application/json");
        req.body = Some(bytes);
        req
    }

    /// Adds or replaces a header.
    pub fn header(mut self, name: impl Into<Text>, value: impl Into<Text>) -> Self {
        self.set_header(name, value);
        self
    }

    /// Adds or replaces a header in place.
    pub fn set_header(&mut self, name: impl Into<Text>, value: impl Into<Text>) {
        let (name, value) = (name.into(), value.into());
        match self.headers.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = value,
            None => self.headers.push((name, value)),
        }
    }

    /// Removes a header, if present.
    pub fn remove_header(&mut self, name: &str) {
        self.headers.retain(|(n, _)| n != name);
    }

    /// One header's value.
    pub fn header_value(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_ref())
    }

    /// The client's headers as an authz plugin sees them (`RequestHeaders`).
    pub fn headers(&self) -> BTreeMap<String, String> {
        self.headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    /// The path, without the query.
    pub fn path(&self) -> &str {
        self.uri.split_once('?').map_or(&self.uri, |(p, _)| p)
    }

    /// The query string, without its `?` (empty when there is none).
    pub fn query(&self) -> &str {
        self.uri.split_once('?').map_or("", |(_, q)| q)
    }

    /// A query parameter read as dockerd's `httputils.BoolValue` reads it
    /// ([`bool_value`]; absent: false).
    pub fn query_bool(&self, key: &str) -> bool {
        form_urlencoded::parse(self.query().as_bytes())
            .find(|(k, _)| k == key)
            .is_some_and(|(_, v)| bool_value(&v))
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
pub(crate) fn is_json(content_type: &str) -> bool {
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
    /// `/_ping`'s cache, length and type headers.
    Ping,
    /// A streamed answer's type and path stat, when set.
    Streamed {
        content_type: Option<String>,
        path_stat: Option<String>,
    },
}

/// A handler's answer.
///
/// `status` and the headers are what dockerd's buffering response writer
/// holds when the handler returns, as the AuthZRes call sees them; the
/// client gets [`ApiResponse::client_status`] and the body. Like
/// [`ApiRequest`], a response is only turned into headers and bytes when
/// someone asks ([`ApiResponse::headers`], [`ApiResponse::body`]); a JSON
/// body is kept as a value until then, and in-process clients read it as
/// one ([`ApiResponse::json`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiResponse {
    /// The status the handler wrote into the buffer; `None` when it never
    /// wrote one (hijacked and streamed answers, or flushed ones).
    pub status: Option<u16>,
    /// The status line the client receives.
    client_status: u16,
    headers: ResponseHeaders,
    body: Option<Value>,
}

impl ApiResponse {
    /// A JSON answer with `status`.
    pub fn json(status: u16, body: Value) -> Self {
        ApiResponse {
            status: Some(status),
            client_status: status,
            headers: ResponseHeaders::Json,
            body: Some(body),
        }
    }

    /// A body-less answer (204 No Content, 304 Not Modified).
    pub fn empty(status: u16) -> Self {
        ApiResponse {
            status: Some(status),
            client_status: status,
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
            client_status: 200,
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
            client_status: 500,
            headers: ResponseHeaders::Base,
            body: None,
        }
    }

    /// A hijacked connection (`attach`): headers set, no status recorded;
    /// the client sees the upgrade.
    pub fn hijacked() -> Self {
        ApiResponse {
            client_status: 101,
            ..Self::failed()
        }
    }

    /// A handler that succeeded without writing anything (network connect
    /// and disconnect): headers set, no status recorded; Go's server then
    /// answers 200 with an empty body.
    pub fn unwritten() -> Self {
        ApiResponse {
            client_status: 200,
            ..Self::failed()
        }
    }

    /// A JSON answer flushed while streaming (`wait`): the client gets 200
    /// and `body`; the buffer, and so AuthZRes, holds nothing.
    pub fn flushed(body: Value) -> Self {
        ApiResponse {
            status: None,
            client_status: 200,
            headers: ResponseHeaders::Flushed,
            body: Some(body),
        }
    }

    /// `/_ping`'s answer (the handler never calls WriteHeader).
    pub fn ping() -> Self {
        ApiResponse {
            status: None,
            client_status: 200,
            headers: ResponseHeaders::Ping,
            body: None,
        }
    }

    /// The status the client receives.
    pub fn client_status(&self) -> u16 {
        self.client_status
    }

    /// The JSON body, for in-process clients.
    pub fn json_body(&self) -> Option<&Value> {
        self.body.as_ref()
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

/// A response as it goes over the wire: status line, headers (without
/// `Date`), body bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireResponse {
    /// The status code.
    pub status: u16,
    /// Header names in Go's canonical form, and values.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

/// Go's `net/http` sends a body that fits its 2 kB write buffer with a
/// `Content-Length`; a longer one goes out chunked.
const GO_BUFFER: usize = 2048;

impl WireResponse {
    fn new(status: u16, headers: &[(&str, &str)], body: Vec<u8>) -> Self {
        WireResponse {
            status,
            headers: headers
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            body,
        }
    }

    /// The daemon's headers on every routed answer.
    fn daemon_headers(mut self) -> Self {
        let server = format!("Docker/{SERVER_VERSION} (linux)");
        for (k, v) in [
            ("Api-Version", API_VERSION),
            ("Docker-Experimental", "false"),
            ("Ostype", "linux"),
            ("Server", server.as_str()),
        ] {
            self.headers.push((k.to_owned(), v.to_owned()));
        }
        self
    }

    /// A body's length header as Go's server chooses it.
    fn sized(mut self) -> Self {
        if self.body.len() > GO_BUFFER {
            self.headers
                .push(("Transfer-Encoding".into(), "chunked".into()));
        } else {
            self.headers
                .push(("Content-Length".into(), self.body.len().to_string()));
        }
        self
    }

    /// A JSON body of `{"message": …}`, as dockerd writes every error.
    fn json_error(status: u16, message: &str) -> Self {
        let mut body = serde_json::to_vec(&serde_json::json!({ "message": message }))
            .expect("JSON values encode");
        body.push(b'\n');
        WireResponse::new(status, &[("Content-Type", "application/json")], body)
    }

    /// A handler's or the middleware's error.
    pub fn error(e: &crate::daemon::EngineError) -> Self {
        Self::json_error(e.status(), &e.message)
            .daemon_headers()
            .sized()
    }

    /// The router's own answer: not found (no daemon headers), or a version
    /// the daemon does not speak (its version middleware's headers; too old
    /// is plain text).
    pub fn routing(e: super::router::RouteError) -> Self {
        use super::router::RouteError;
        let message = crate::daemon::EngineError::from(e.clone()).message;
        let server = format!("Docker/{SERVER_VERSION} (linux)");
        let version = [
            ("Api-Version", API_VERSION),
            ("Ostype", "linux"),
            ("Server", server.as_str()),
        ];
        match e {
            RouteError::NotFound => Self::json_error(404, &message).sized(),
            RouteError::Redirect(location) => WireResponse::new(
                301,
                &[("Location", &location), ("Content-Length", "0")],
                Vec::new(),
            ),
            RouteError::TooNew(_) => {
                let mut r = Self::json_error(400, &message);
                r.headers
                    .extend(version.iter().map(|(k, v)| ((*k).into(), (*v).into())));
                r.sized()
            }
            RouteError::TooOld(_) => {
                let mut headers = version.to_vec();
                headers.push(("Content-Type", "text/plain; charset=utf-8"));
                headers.push(("X-Content-Type-Options", "nosniff"));
                WireResponse::new(400, &headers, format!("{message}\n").into_bytes()).sized()
            }
        }
    }

    /// The status line and headers of an answer flushed before its body
    /// (`wait`): 200, JSON, chunked.
    pub fn flushed_head() -> Self {
        ApiResponse::flushed(serde_json::Value::Null).to_wire(false)
    }

    /// One header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

impl ApiResponse {
    /// The response on the wire. `head`: the request was `HEAD` (no body).
    pub fn to_wire(&self, head: bool) -> WireResponse {
        let status = self.client_status;
        let body = self.body().unwrap_or_default();
        let reply = match &self.headers {
            ResponseHeaders::Ping => {
                let body = if head { Vec::new() } else { b"OK".to_vec() };
                let length = body.len().to_string();
                WireResponse::new(
                    status,
                    &[
                        ("Cache-Control", "no-cache, no-store, must-revalidate"),
                        ("Pragma", "no-cache"),
                        ("Content-Length", &length),
                        ("Content-Type", "text/plain; charset=utf-8"),
                    ],
                    body,
                )
                .daemon_headers()
            }
            ResponseHeaders::Json => {
                WireResponse::new(status, &[("Content-Type", "application/json")], body)
                    .daemon_headers()
                    .sized()
            }
            // Flushed before the body was written: always chunked.
            ResponseHeaders::Flushed => WireResponse::new(
                status,
                &[
                    ("Content-Type", "application/json"),
                    ("Transfer-Encoding", "chunked"),
                ],
                body,
            )
            .daemon_headers(),
            ResponseHeaders::Base if status == 101 => WireResponse::new(
                status,
                &[
                    ("Content-Type", "application/vnd.docker.raw-stream"),
                    ("Connection", "Upgrade"),
                    ("Upgrade", "tcp"),
                ],
                Vec::new(),
            )
            .daemon_headers(),
            // 204 and 304 carry no length; other empty answers say 0.
            ResponseHeaders::Base if matches!(status, 204 | 304) => {
                WireResponse::new(status, &[], Vec::new()).daemon_headers()
            }
            ResponseHeaders::Base => {
                WireResponse::new(status, &[("Content-Length", "0")], Vec::new()).daemon_headers()
            }
            ResponseHeaders::Streamed {
                content_type,
                path_stat,
            } => {
                let mut r = WireResponse::new(status, &[], Vec::new()).daemon_headers();
                if let Some(ct) = content_type {
                    r.headers.push(("Content-Type".into(), ct.clone()));
                }
                if let Some(st) = path_stat {
                    r.headers
                        .push(("X-Docker-Container-Path-Stat".into(), st.clone()));
                }
                r
            }
        };
        if head {
            WireResponse {
                body: Vec::new(),
                ..reply
            }
        } else {
            reply
        }
    }
}

/// dockerd's `httputils.BoolValue`: empty, `0`, `no`, `false` and `none`
/// (any case, spaces around) are false; anything else is true.
pub fn bool_value(v: &str) -> bool {
    !matches!(
        v.trim().to_ascii_lowercase().as_str(),
        "" | "0" | "no" | "false" | "none"
    )
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
