//! [`Plugin`]: the set of protocols a plugin implements, and request dispatch.

use crate::wire::plugin::{ActivateResponse, ErrorBody, Protocol};
use crate::wire::{decode_go, encode_go};
use crate::{AuthzPlugin, IpamDriver, NetworkDriver, PluginError, VolumeDriver};
use bytes::Bytes;
use http::StatusCode;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// A boxed, sendable future, as returned by the object-safe dispatch layer.
pub(crate) type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What a plugin answers to one request: a status and a JSON body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// HTTP status; dockerd treats only 200 as success.
    pub status: StatusCode,
    /// The JSON body (never empty: dockerd fails on an empty 200 body).
    pub body: Bytes,
}

impl Reply {
    /// A 200 reply with `value` encoded as JSON.
    pub fn ok<T: Serialize>(value: &T) -> Reply {
        Reply {
            status: StatusCode::OK,
            body: Bytes::from(encode_go(value)),
        }
    }

    /// The reply for `err`. `in_band` builds the protocol's 200 body for in-band errors.
    pub(crate) fn from_error(err: &PluginError, in_band: impl FnOnce(&str) -> Reply) -> Reply {
        if err.is_in_band() {
            return in_band(err.message());
        }
        Reply {
            status: err.status(),
            body: Bytes::from(encode_go(&ErrorBody {
                err: err.message().to_owned(),
            })),
        }
    }
}

/// One protocol's request router, object-safe so a [`Plugin`] can hold several.
pub(crate) trait Service: Send + Sync + 'static {
    fn protocol(&self) -> Protocol;
    /// Handles `method` (the part after the dot, e.g. `Get`).
    fn call<'a>(&'a self, method: &'a str, body: Bytes) -> BoxFuture<'a, Reply>;
}

/// A protocol method's full name (`VolumeDriver.Mount`), written out only
/// when an error message needs it: requests that decode never pay for it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rpc<'a> {
    pub protocol: &'static str,
    pub method: &'a str,
}

impl std::fmt::Display for Rpc<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.protocol, self.method)
    }
}

/// Decodes a request body the way go-plugins-helpers would (leniently), turning
/// an empty or malformed body into a clear 400.
pub(crate) fn decode_request<T: DeserializeOwned + Default>(
    method: impl std::fmt::Display,
    body: &[u8],
) -> Result<T, PluginError> {
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    if first.is_none() {
        return Err(PluginError::bad_request(format!(
            "{method}: empty request body (dockerd sends an empty body when it retries \
             after a connection dropped mid-request)"
        )));
    }
    // serde lets a struct be read from a JSON array (fields by position), so
    // `[]` would pass as a request with every field empty. Go refuses an array
    // where it expects an object, and so does this.
    if first == Some(&b'[') {
        return Err(PluginError::bad_request(format!(
            "{method}: bad request body: a JSON array, not an object"
        )));
    }
    decode_go(body)
        .map_err(|e| PluginError::bad_request(format!("{method}: bad request body: {e}")))
}

/// A plugin: the protocols it implements, ready to be served or called in-process.
///
/// Cloning is cheap (the handlers are shared).
#[derive(Clone, Default)]
pub struct Plugin {
    services: Vec<Arc<dyn Service>>,
    /// The pre-encoded `Plugin.Activate` answer.
    manifest: Bytes,
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin")
            .field("implements", &self.implements())
            .finish()
    }
}

impl Plugin {
    /// A plugin implementing nothing yet (it answers `{"Implements": []}`).
    pub fn new() -> Self {
        let mut p = Plugin {
            services: Vec::new(),
            manifest: Bytes::new(),
        };
        p.rebuild_manifest();
        p
    }

    /// Adds a VolumeDriver implementation.
    pub fn volume<D: VolumeDriver>(self, driver: D) -> Self {
        self.with_service(Arc::new(crate::volume::Adapter(driver)))
    }

    /// Adds an authorization implementation.
    pub fn authz<A: AuthzPlugin>(self, plugin: A) -> Self {
        self.with_service(Arc::new(crate::authz::Adapter(plugin)))
    }

    /// Adds an IpamDriver implementation.
    pub fn ipam<D: IpamDriver>(self, driver: D) -> Self {
        self.with_service(Arc::new(crate::ipam::Adapter(driver)))
    }

    /// Adds a NetworkDriver implementation.
    pub fn network<D: NetworkDriver>(self, driver: D) -> Self {
        self.with_service(Arc::new(crate::network::Adapter(driver)))
    }

    fn with_service(mut self, service: Arc<dyn Service>) -> Self {
        let protocol = service.protocol();
        self.services.retain(|s| s.protocol() != protocol);
        self.services.push(service);
        self.services.sort_by_key(|s| s.protocol());
        self.rebuild_manifest();
        self
    }

    fn rebuild_manifest(&mut self) {
        let manifest = ActivateResponse {
            implements: Some(
                self.implements()
                    .into_iter()
                    .map(|p| p.as_str().to_owned())
                    .collect(),
            ),
        };
        self.manifest = Bytes::from(encode_go(&manifest));
    }

    /// The protocols this plugin answers in `Plugin.Activate`.
    pub fn implements(&self) -> Vec<Protocol> {
        self.services.iter().map(|s| s.protocol()).collect()
    }

    /// Handles one request: `path` is the HTTP path (`/VolumeDriver.Get`), `body`
    /// the raw request body. This is exactly what the HTTP server does after
    /// reading a request, so calling it directly is the in-process transport.
    pub async fn handle(&self, path: &str, body: Bytes) -> Reply {
        let rpc = path.strip_prefix('/').unwrap_or(path);
        if rpc == "Plugin.Activate" {
            return Reply {
                status: StatusCode::OK,
                body: self.manifest.clone(),
            };
        }
        let Some((prefix, method)) = rpc.split_once('.') else {
            return not_found(rpc);
        };
        match self
            .services
            .iter()
            .find(|s| s.protocol().rpc_prefix() == prefix)
        {
            Some(service) => service.call(method, body).await,
            None => not_found(rpc),
        }
    }
}

/// The reply to a method no trait of this plugin covers.
pub(crate) fn not_found(rpc: impl std::fmt::Display) -> Reply {
    Reply::from_error(
        &PluginError::not_implemented(&rpc.to_string()),
        |_| unreachable!(),
    )
}
