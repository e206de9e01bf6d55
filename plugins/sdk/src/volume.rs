//! The [`VolumeDriver`] trait and its request router.

use crate::plugin::{decode_request, not_found, BoxFuture, Reply, Service};
use crate::wire::plugin::Protocol;
use crate::wire::volume::*;
use crate::PluginError;
use bytes::Bytes;
use std::future::Future;

/// A volume plugin: one method per `/VolumeDriver.*` RPC (protocol.md §4.1).
///
/// Return `Err(PluginError::new(..))` to fail a call; dockerd shows the message
/// as `VolumeDriver.<Method>: <message>`.
pub trait VolumeDriver: Send + Sync + 'static {
    /// `/VolumeDriver.Create`: make the volume. dockerd calls Get first and only
    /// creates when Get found nothing.
    fn create(&self, req: CreateRequest) -> impl Future<Output = Result<(), PluginError>> + Send;
    /// `/VolumeDriver.Remove`: delete the volume.
    fn remove(&self, req: NameRequest) -> impl Future<Output = Result<(), PluginError>> + Send;
    /// `/VolumeDriver.Mount`: make the volume available for mount ID `req.id`
    /// and return its host path. The same ID may arrive again (`docker cp`).
    fn mount(&self, req: MountRequest) -> impl Future<Output = Result<String, PluginError>> + Send;
    /// `/VolumeDriver.Path`: the host path, if mounted. dockerd 20.10 never calls it.
    fn path(&self, req: NameRequest) -> impl Future<Output = Result<String, PluginError>> + Send;
    /// `/VolumeDriver.Unmount`: release mount ID `req.id`.
    fn unmount(&self, req: MountRequest) -> impl Future<Output = Result<(), PluginError>> + Send;
    /// `/VolumeDriver.Get`: describe one volume. An error means "no such volume"
    /// to dockerd, which then forgets the volume.
    fn get(&self, req: NameRequest) -> impl Future<Output = Result<Volume, PluginError>> + Send;
    /// `/VolumeDriver.List`: every volume.
    fn list(&self) -> impl Future<Output = Result<Vec<Volume>, PluginError>> + Send;
    /// `/VolumeDriver.Capabilities`: the driver's scope. Defaults to `local`.
    ///
    /// Answering it matters: dockerd caches the answer only on success, and
    /// calls it again for every listed volume while it fails.
    fn capabilities(&self) -> impl Future<Output = Result<Capability, PluginError>> + Send {
        async {
            Ok(Capability {
                scope: "local".into(),
            })
        }
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

impl<D: VolumeDriver> Adapter<D> {
    async fn dispatch(&self, method: &str, body: Bytes) -> Result<Reply, PluginError> {
        let rpc = |method| crate::plugin::Rpc {
            protocol: "VolumeDriver",
            method,
        };
        Ok(match method {
            "Create" => {
                let req = decode_request(rpc(method), &body)?;
                answer(self.0.create(req).await.map(|()| ErrResponse::default()))
            }
            "Remove" => {
                let req = decode_request(rpc(method), &body)?;
                answer(self.0.remove(req).await.map(|()| ErrResponse::default()))
            }
            "Mount" => {
                let req = decode_request(rpc(method), &body)?;
                answer(
                    self.0
                        .mount(req)
                        .await
                        .map(|mountpoint| MountpointResponse {
                            mountpoint,
                            err: String::new(),
                        }),
                )
            }
            "Path" => {
                let req = decode_request(rpc(method), &body)?;
                answer(self.0.path(req).await.map(|mountpoint| MountpointResponse {
                    mountpoint,
                    err: String::new(),
                }))
            }
            "Unmount" => {
                let req = decode_request(rpc(method), &body)?;
                answer(self.0.unmount(req).await.map(|()| ErrResponse::default()))
            }
            "Get" => {
                let req = decode_request(rpc(method), &body)?;
                answer(self.0.get(req).await.map(|v| GetResponse {
                    volume: Some(v),
                    err: String::new(),
                }))
            }
            // List and Capabilities ignore their (`{}`) body, as dockerd's peers do.
            "List" => answer(self.0.list().await.map(|v| ListResponse {
                volumes: Some(v),
                err: String::new(),
            })),
            "Capabilities" => answer(self.0.capabilities().await.map(|c| CapabilitiesResponse {
                capabilities: c,
                err: String::new(),
            })),
            _ => not_found(rpc(method)),
        })
    }
}

impl<D: VolumeDriver> Service for Adapter<D> {
    fn protocol(&self) -> Protocol {
        Protocol::VolumeDriver
    }

    fn call<'a>(&'a self, method: &'a str, body: Bytes) -> BoxFuture<'a, Reply> {
        Box::pin(async move {
            self.dispatch(method, body)
                .await
                .unwrap_or_else(|e| Reply::from_error(&e, in_band))
        })
    }
}
