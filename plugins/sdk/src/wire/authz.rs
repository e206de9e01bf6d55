//! Authorization plugin bodies (protocol.md §5.1).
//!
//! Both `/AuthZPlugin.AuthZReq` and `/AuthZPlugin.AuthZRes` carry the same
//! [`AuthzRequest`]; AuthZRes adds the `Response*` fields. Every field is
//! omitted when empty, as Go's `omitempty` does.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The request dockerd sends to `AuthZReq` and `AuthZRes`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthzRequest {
    /// Common name of the client's TLS certificate; absent without TLS client auth.
    #[serde(rename = "User", default, skip_serializing_if = "String::is_empty")]
    pub user: String,
    /// `TLS` when `User` is set.
    #[serde(
        rename = "UserAuthNMethod",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub user_authn_method: String,
    /// The client's HTTP method (`GET`, `HEAD`, `POST`, …).
    #[serde(
        rename = "RequestMethod",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub request_method: String,
    /// The raw request target, e.g. `/v1.41/containers/json?all=1`.
    /// Note the spelling `RequestUri`, not `RequestURI` as the docs say.
    #[serde(
        rename = "RequestUri",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub request_uri: String,
    /// The client's body, base64 on the wire; only JSON bodies under 1 MiB are sent.
    #[serde(
        rename = "RequestBody",
        default,
        skip_serializing_if = "Option::is_none",
        with = "base64_opt"
    )]
    pub request_body: Option<Vec<u8>>,
    /// Client headers, flattened (last value wins), minus credentials.
    #[serde(
        rename = "RequestHeaders",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub request_headers: Option<BTreeMap<String, String>>,
    /// Client certificates: each is the base64 of the certificate's PEM text.
    #[serde(
        rename = "RequestPeerCertificates",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub request_peer_certificates: Option<Vec<String>>,
    /// AuthZRes only: the status the handler set; 0 (absent) if it never set one.
    #[serde(
        rename = "ResponseStatusCode",
        default,
        skip_serializing_if = "is_zero"
    )]
    pub response_status_code: i64,
    /// AuthZRes only: the buffered response body, when it is JSON.
    #[serde(
        rename = "ResponseBody",
        default,
        skip_serializing_if = "Option::is_none",
        with = "base64_opt"
    )]
    pub response_body: Option<Vec<u8>>,
    /// AuthZRes only: the response headers set by the handler.
    #[serde(
        rename = "ResponseHeaders",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub response_headers: Option<BTreeMap<String, String>>,
}

fn is_zero(v: &i64) -> bool {
    *v == 0
}

/// A plugin's verdict.
///
/// `Allow` is always present (Go does not omit it). An `Err` in a 200 reply is
/// *not* an error to dockerd: it is a plain denial with `Msg`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthzResponse {
    /// Whether the request may proceed.
    #[serde(rename = "Allow", default)]
    pub allow: bool,
    /// Message shown to the client on denial.
    #[serde(rename = "Msg", default, skip_serializing_if = "String::is_empty")]
    pub msg: String,
    /// Error text; only meaningful on a non-200 reply.
    #[serde(rename = "Err", default, skip_serializing_if = "String::is_empty")]
    pub err: String,
}

impl AuthzResponse {
    /// An allowing verdict.
    pub fn allow() -> Self {
        AuthzResponse {
            allow: true,
            ..Default::default()
        }
    }

    /// A denying verdict with a message for the client.
    pub fn deny(msg: impl Into<String>) -> Self {
        AuthzResponse {
            allow: false,
            msg: msg.into(),
            err: String::new(),
        }
    }
}

/// Go encodes `[]byte` as standard base64 with padding.
mod base64_opt {
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(bytes) => s.serialize_str(&STANDARD.encode(bytes)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
        let s: Option<String> = Option::deserialize(d)?;
        match s {
            None => Ok(None),
            Some(s) => STANDARD
                .decode(s.as_bytes())
                .map(Some)
                .map_err(|e| serde::de::Error::custom(format!("invalid base64: {e}"))),
        }
    }
}
