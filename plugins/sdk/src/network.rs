//! The [`NetworkDriver`] trait and its request router.

use crate::plugin::{decode_request, not_found, BoxFuture, Reply, Service};
use crate::wire::network::*;
use crate::wire::plugin::Protocol;
use crate::PluginError;
use bytes::Bytes;
use std::future::Future;

/// A remote network driver: one method per `/NetworkDriver.*` RPC (protocol.md §7).
///
/// Optional methods have defaults: the swarm-only `AllocateNetwork`/`FreeNetwork`
/// and discovery notifications succeed doing nothing; `EndpointOperInfo` returns
/// no data; `ProgramExternalConnectivity`/`RevokeExternalConnectivity` answer 404,
/// which dockerd reads as "not implemented, fine".
pub trait NetworkDriver: Send + Sync + 'static {
    /// `/NetworkDriver.GetCapabilities`: `Scope` must be `local` or `global`.
    fn get_capabilities(
        &self,
    ) -> impl Future<Output = Result<CapabilitiesResponse, PluginError>> + Send;
    /// `/NetworkDriver.CreateNetwork`.
    fn create_network(
        &self,
        req: CreateNetworkRequest,
    ) -> impl Future<Output = Result<(), PluginError>> + Send;
    /// `/NetworkDriver.AllocateNetwork` (swarm managers only).
    fn allocate_network(
        &self,
        _req: AllocateNetworkRequest,
    ) -> impl Future<Output = Result<AllocateNetworkResponse, PluginError>> + Send {
        async { Ok(AllocateNetworkResponse::default()) }
    }
    /// `/NetworkDriver.FreeNetwork` (swarm managers only).
    fn free_network(
        &self,
        _req: NetworkRequest,
    ) -> impl Future<Output = Result<(), PluginError>> + Send {
        async { Ok(()) }
    }
    /// `/NetworkDriver.DeleteNetwork`.
    fn delete_network(
        &self,
        req: NetworkRequest,
    ) -> impl Future<Output = Result<(), PluginError>> + Send;
    /// `/NetworkDriver.CreateEndpoint`: return `Some` interface only for values
    /// the daemon did not supply.
    fn create_endpoint(
        &self,
        req: CreateEndpointRequest,
    ) -> impl Future<Output = Result<Option<EndpointInterface>, PluginError>> + Send;
    /// `/NetworkDriver.EndpointOperInfo`.
    fn endpoint_oper_info(
        &self,
        _req: EndpointRequest,
    ) -> impl Future<Output = Result<EndpointInfoResponse, PluginError>> + Send {
        async { Ok(EndpointInfoResponse::default()) }
    }
    /// `/NetworkDriver.DeleteEndpoint`.
    fn delete_endpoint(
        &self,
        req: EndpointRequest,
    ) -> impl Future<Output = Result<(), PluginError>> + Send;
    /// `/NetworkDriver.Join`.
    fn join(
        &self,
        req: JoinRequest,
    ) -> impl Future<Output = Result<JoinResponse, PluginError>> + Send;
    /// `/NetworkDriver.Leave`.
    fn leave(&self, req: EndpointRequest) -> impl Future<Output = Result<(), PluginError>> + Send;
    /// `/NetworkDriver.ProgramExternalConnectivity` (404 by default = not implemented).
    fn program_external_connectivity(
        &self,
        _req: ProgramExternalConnectivityRequest,
    ) -> impl Future<Output = Result<(), PluginError>> + Send {
        async {
            Err(PluginError::not_implemented(
                "NetworkDriver.ProgramExternalConnectivity",
            ))
        }
    }
    /// `/NetworkDriver.RevokeExternalConnectivity` (404 by default = not implemented).
    fn revoke_external_connectivity(
        &self,
        _req: EndpointRequest,
    ) -> impl Future<Output = Result<(), PluginError>> + Send {
        async {
            Err(PluginError::not_implemented(
                "NetworkDriver.RevokeExternalConnectivity",
            ))
        }
    }
    /// `/NetworkDriver.DiscoverNew`.
    fn discover_new(
        &self,
        _req: DiscoveryNotification,
    ) -> impl Future<Output = Result<(), PluginError>> + Send {
        async { Ok(()) }
    }
    /// `/NetworkDriver.DiscoverDelete`.
    fn discover_delete(
        &self,
        _req: DiscoveryNotification,
    ) -> impl Future<Output = Result<(), PluginError>> + Send {
        async { Ok(()) }
    }
}

pub(crate) struct Adapter<D>(pub D);

fn in_band(msg: &str) -> Reply {
    Reply::ok(&ErrResponse {
        err: msg.to_owned(),
    })
}

fn answer<T: serde::Serialize>(result: Result<T, PluginError>) -> Reply {
    match result {
        Ok(v) => Reply::ok(&v),
        Err(e) => Reply::from_error(&e, in_band),
    }
}

fn unit(r: Result<(), PluginError>) -> Reply {
    answer(r.map(|()| ErrResponse::default()))
}

impl<D: NetworkDriver> Adapter<D> {
    async fn dispatch(&self, method: &str, body: Bytes) -> Result<Reply, PluginError> {
        let rpc = crate::plugin::Rpc {
            protocol: "NetworkDriver",
            method,
        };
        let d = &self.0;
        Ok(match method {
            "GetCapabilities" => answer(d.get_capabilities().await),
            "CreateNetwork" => unit(d.create_network(decode_request(rpc, &body)?).await),
            "AllocateNetwork" => answer(d.allocate_network(decode_request(rpc, &body)?).await),
            "FreeNetwork" => unit(d.free_network(decode_request(rpc, &body)?).await),
            "DeleteNetwork" => unit(d.delete_network(decode_request(rpc, &body)?).await),
            "CreateEndpoint" => answer(d.create_endpoint(decode_request(rpc, &body)?).await.map(
                |interface| CreateEndpointResponse {
                    interface,
                    err: String::new(),
                },
            )),
            "EndpointOperInfo" => answer(d.endpoint_oper_info(decode_request(rpc, &body)?).await),
            "DeleteEndpoint" => unit(d.delete_endpoint(decode_request(rpc, &body)?).await),
            "Join" => answer(d.join(decode_request(rpc, &body)?).await),
            "Leave" => unit(d.leave(decode_request(rpc, &body)?).await),
            "ProgramExternalConnectivity" => unit(
                d.program_external_connectivity(decode_request(rpc, &body)?)
                    .await,
            ),
            "RevokeExternalConnectivity" => unit(
                d.revoke_external_connectivity(decode_request(rpc, &body)?)
                    .await,
            ),
            "DiscoverNew" => unit(d.discover_new(decode_request(rpc, &body)?).await),
            "DiscoverDelete" => unit(d.discover_delete(decode_request(rpc, &body)?).await),
            _ => not_found(rpc),
        })
    }
}

impl<D: NetworkDriver> Service for Adapter<D> {
    fn protocol(&self) -> Protocol {
        Protocol::NetworkDriver
    }

    fn call<'a>(&'a self, method: &'a str, body: Bytes) -> BoxFuture<'a, Reply> {
        Box::pin(async move {
            self.dispatch(method, body)
                .await
                .unwrap_or_else(|e| Reply::from_error(&e, in_band))
        })
    }
}
