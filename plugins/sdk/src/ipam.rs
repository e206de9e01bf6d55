//! The [`IpamDriver`] trait and its request router.

use crate::plugin::{decode_request, not_found, BoxFuture, Reply, Service};
use crate::wire::ipam::*;
use crate::wire::plugin::Protocol;
use crate::PluginError;
use bytes::Bytes;
use std::future::Future;

/// An IPAM plugin: one method per `/IpamDriver.*` RPC (protocol.md §6).
///
/// Remember: requests carry bare IPs, responses must carry CIDR, and in-band
/// errors use the field `Error` (the SDK handles that for [`PluginError::in_band`]).
pub trait IpamDriver: Send + Sync + 'static {
    /// `/IpamDriver.GetCapabilities`. Defaults to no requirements.
    fn get_capabilities(
        &self,
    ) -> impl Future<Output = Result<CapabilitiesResponse, PluginError>> + Send {
        async { Ok(CapabilitiesResponse::default()) }
    }
    /// `/IpamDriver.GetDefaultAddressSpaces`.
    fn get_default_address_spaces(
        &self,
    ) -> impl Future<Output = Result<AddressSpacesResponse, PluginError>> + Send;
    /// `/IpamDriver.RequestPool`.
    fn request_pool(
        &self,
        req: RequestPoolRequest,
    ) -> impl Future<Output = Result<RequestPoolResponse, PluginError>> + Send;
    /// `/IpamDriver.ReleasePool`.
    fn release_pool(
        &self,
        req: ReleasePoolRequest,
    ) -> impl Future<Output = Result<(), PluginError>> + Send;
    /// `/IpamDriver.RequestAddress`.
    fn request_address(
        &self,
        req: RequestAddressRequest,
    ) -> impl Future<Output = Result<RequestAddressResponse, PluginError>> + Send;
    /// `/IpamDriver.ReleaseAddress`.
    fn release_address(
        &self,
        req: ReleaseAddressRequest,
    ) -> impl Future<Output = Result<(), PluginError>> + Send;
}

pub(crate) struct Adapter<D>(pub D);

fn in_band(msg: &str) -> Reply {
    Reply::ok(&ErrorResponse {
        error: msg.to_owned(),
    })
}

fn answer<T: serde::Serialize>(result: Result<T, PluginError>) -> Reply {
    match result {
        Ok(v) => Reply::ok(&v),
        Err(e) => Reply::from_error(&e, in_band),
    }
}

impl<D: IpamDriver> Adapter<D> {
    async fn dispatch(&self, method: &str, body: Bytes) -> Result<Reply, PluginError> {
        let rpc = crate::plugin::Rpc {
            protocol: "IpamDriver",
            method,
        };
        Ok(match method {
            // dockerd sends these two with an empty body.
            "GetCapabilities" => answer(self.0.get_capabilities().await),
            "GetDefaultAddressSpaces" => answer(self.0.get_default_address_spaces().await),
            "RequestPool" => answer(self.0.request_pool(decode_request(rpc, &body)?).await),
            "ReleasePool" => answer(
                self.0
                    .release_pool(decode_request(rpc, &body)?)
                    .await
                    .map(|()| ErrorResponse::default()),
            ),
            "RequestAddress" => answer(self.0.request_address(decode_request(rpc, &body)?).await),
            "ReleaseAddress" => answer(
                self.0
                    .release_address(decode_request(rpc, &body)?)
                    .await
                    .map(|()| ErrorResponse::default()),
            ),
            _ => not_found(rpc),
        })
    }
}

impl<D: IpamDriver> Service for Adapter<D> {
    fn protocol(&self) -> Protocol {
        Protocol::IpamDriver
    }

    fn call<'a>(&'a self, method: &'a str, body: Bytes) -> BoxFuture<'a, Reply> {
        Box::pin(async move {
            self.dispatch(method, body)
                .await
                .unwrap_or_else(|e| Reply::from_error(&e, in_band))
        })
    }
}
