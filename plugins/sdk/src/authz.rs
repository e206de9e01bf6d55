//! The [`AuthzPlugin`] trait and its request router.

use crate::plugin::{decode_request, not_found, BoxFuture, Reply, Service};
use crate::wire::authz::{AuthzRequest, AuthzResponse};
use crate::wire::plugin::Protocol;
use crate::PluginError;
use bytes::Bytes;
use std::future::Future;

/// An authorization plugin (Implements `authz`, protocol.md §5).
///
/// Return a verdict with [`AuthzResponse::allow`] or [`AuthzResponse::deny`].
/// Returning `Err` makes dockerd fail the client's request with
/// `plugin NAME failed with error: AuthZPlugin.AuthZReq: <message>` (HTTP 500).
pub trait AuthzPlugin: Send + Sync + 'static {
    /// `/AuthZPlugin.AuthZReq`: before dockerd handles a client request.
    fn authz_req(
        &self,
        req: AuthzRequest,
    ) -> impl Future<Output = Result<AuthzResponse, PluginError>> + Send;
    /// `/AuthZPlugin.AuthZRes`: after the handler ran, with its response.
    fn authz_res(
        &self,
        req: AuthzRequest,
    ) -> impl Future<Output = Result<AuthzResponse, PluginError>> + Send;
}

pub(crate) struct Adapter<A>(pub A);

/// An in-band authz error is a denial: dockerd ignores `Err` in a 200 reply.
fn in_band(msg: &str) -> Reply {
    Reply::ok(&AuthzResponse {
        allow: false,
        msg: msg.to_owned(),
        err: msg.to_owned(),
    })
}

impl<A: AuthzPlugin> Service for Adapter<A> {
    fn protocol(&self) -> Protocol {
        Protocol::Authz
    }

    fn call<'a>(&'a self, method: &'a str, body: Bytes) -> BoxFuture<'a, Reply> {
        Box::pin(async move {
            let rpc = crate::plugin::Rpc {
                protocol: "AuthZPlugin",
                method,
            };
            let result = match method {
                "AuthZReq" | "AuthZRes" => match decode_request::<AuthzRequest>(&rpc, &body) {
                    Ok(req) if method == "AuthZReq" => self.0.authz_req(req).await,
                    Ok(req) => self.0.authz_res(req).await,
                    Err(e) => Err(e),
                },
                _ => return not_found(rpc),
            };
            match result {
                Ok(verdict) => Reply::ok(&verdict),
                Err(e) => Reply::from_error(&e, in_band),
            }
        })
    }
}
