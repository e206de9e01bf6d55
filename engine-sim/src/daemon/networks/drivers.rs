//! Remote IPAM and network drivers: registration when a plugin is
//! activated, lookup by name, and the remote call as libnetwork words its
//! errors.

use super::*;

pub(super) async fn register_ipam(d: &Drivers, h: Arc<PluginHandle>) {
    let name = h.name().to_owned();
    // A failing GetCapabilities (404 from plugins that predate it) only
    // means "no special needs".
    let caps: iw::CapabilitiesResponse = match h
        .client
        .call::<(), _>("IpamDriver.GetCapabilities", None, CallOptions::default())
        .await
    {
        Ok(c) => c,
        Err(e) => {
            tracing::info!("remote ipam driver {name} does not support capabilities: {e}");
            iw::CapabilitiesResponse::default()
        }
    };
    let spaces: Result<iw::AddressSpacesResponse, String> = h
        .client
        .call::<(), _>(
            "IpamDriver.GetDefaultAddressSpaces",
            None,
            CallOptions::default(),
        )
        .await
        .map_err(|e| e.to_string())
        .and_then(|r: iw::AddressSpacesResponse| {
            if r.error.is_empty() {
                Ok(r)
            } else {
                Err(format!("remote: {}", r.error))
            }
        });
    match spaces {
        Ok(s) => {
            d.ipam.lock().expect("drivers lock").insert(
                name,
                Arc::new(IpamReg {
                    handle: h,
                    local_space: s.local_default_address_space,
                    caps,
                }),
            );
        }
        // libnetwork logs and forgets: the handler never runs again.
        Err(e) => tracing::warn!("error registering ipam driver {name}: {e}"),
    }
}

pub(super) async fn register_net(d: &Drivers, h: Arc<PluginHandle>) {
    let name = h.name().to_owned();
    let caps: Result<nw::CapabilitiesResponse, CallError> = h
        .client
        .call::<(), _>(
            "NetworkDriver.GetCapabilities",
            None,
            CallOptions::default(),
        )
        .await;
    match caps {
        Ok(c) if c.err.is_empty() && (c.scope == "local" || c.scope == "global") => {
            d.net
                .lock()
                .expect("drivers lock")
                .insert(name, Arc::new(NetReg { handle: h }));
        }
        Ok(c) if !c.err.is_empty() => {
            tracing::warn!("error registering network driver {name}: remote: {}", c.err)
        }
        Ok(c) => tracing::warn!(
            "error registering network driver {name}: invalid capability: expecting 'local' or 'global', got {}",
            c.scope
        ),
        Err(e) => tracing::warn!("error registering network driver {name}: {e}"),
    }
}

/// The in-band error of a response body.
pub(super) trait InBand {
    fn in_band(&self) -> &str;
}
impl InBand for iw::RequestPoolResponse {
    fn in_band(&self) -> &str {
        &self.error
    }
}
impl InBand for iw::RequestAddressResponse {
    fn in_band(&self) -> &str {
        &self.error
    }
}
impl InBand for iw::ErrorResponse {
    fn in_band(&self) -> &str {
        &self.error
    }
}
impl InBand for nw::ErrResponse {
    fn in_band(&self) -> &str {
        &self.err
    }
}
impl InBand for nw::CreateEndpointResponse {
    fn in_band(&self) -> &str {
        &self.err
    }
}
impl InBand for nw::EndpointInfoResponse {
    fn in_band(&self) -> &str {
        &self.err
    }
}
impl InBand for nw::JoinResponse {
    fn in_band(&self) -> &str {
        &self.err
    }
}

/// A remote call as libnetwork's remote drivers make it: transport and status
/// errors as the plugin client words them, in-band ones as `remote: <text>`.
pub(super) async fn remote<A: Serialize, R: DeserializeOwned + Default + InBand>(
    h: &PluginHandle,
    method: &str,
    args: &A,
) -> Result<R, RemoteError> {
    let r: R = h
        .client
        .call(method, Some(args), CallOptions::default())
        .await
        .map_err(|e| RemoteError {
            not_found: e.is_not_found(),
            text: e.to_string(),
        })?;
    if r.in_band().is_empty() {
        Ok(r)
    } else {
        Err(RemoteError {
            not_found: false,
            text: format!("remote: {}", r.in_band()),
        })
    }
}

#[derive(Debug)]
pub(super) struct RemoteError {
    /// A 404 answer (optional methods treat it as "not implemented").
    pub(super) not_found: bool,
    pub(super) text: String,
}

/// Which allocator a network uses.
#[derive(Debug, Clone)]
pub(super) enum Ipam {
    Builtin,
    Remote(Arc<IpamReg>),
}

impl Engine {
    /// libnetwork's `getIPAMDriver`: registered, or activated now (which
    /// registers it), or `invalid ipam driver`.
    pub(super) async fn resolve_ipam(&self, name: &str) -> Result<Ipam, EngineError> {
        if name == "default" || name.is_empty() {
            return Ok(Ipam::Builtin);
        }
        let known = |e: &Engine| {
            e.networks
                .drivers
                .ipam
                .lock()
                .expect("drivers lock")
                .get(name)
                .cloned()
        };
        if let Some(r) = known(self) {
            return Ok(Ipam::Remote(r));
        }
        self.registry
            .get(name, Protocol::IpamDriver)
            .await
            .map_err(getter_error)?;
        known(self)
            .map(Ipam::Remote)
            .ok_or_else(|| EngineError::invalid(format!("invalid ipam driver: {name:?}")))
    }

    /// libnetwork's `resolveDriver` for a remote network driver.
    pub(super) async fn resolve_net_driver(&self, name: &str) -> Result<Arc<NetReg>, EngineError> {
        let known = |e: &Engine| {
            e.networks
                .drivers
                .net
                .lock()
                .expect("drivers lock")
                .get(name)
                .cloned()
        };
        if let Some(r) = known(self) {
            return Ok(r);
        }
        self.registry
            .get(name, Protocol::NetworkDriver)
            .await
            .map_err(getter_error)?;
        known(self).ok_or_else(|| internal(format!("could not resolve driver {name} in registry")))
    }
}
