//! A container's endpoint on a network: addresses, the remote driver's
//! CreateEndpoint/Join and their reversal.

use super::*;

impl Engine {
    /// Creates the container's endpoint on `nid`. `live` is a `network
    /// connect` to a running container, which dockerd joins with link
    /// options and then queries the driver's operational info.
    pub(super) async fn endpoint_create(
        &self,
        nid: &str,
        container_id: &str,
        live: bool,
    ) -> Result<(), EngineError> {
        let Some((net, att)) =
            self.with_network(nid, |n| (n.clone(), n.attached.get(container_id).cloned()))
        else {
            return Ok(());
        };
        let Some(att) = att else { return Ok(()) };
        if att.endpoint.is_some() {
            return Ok(());
        }
        if net.predefined {
            if att.ip.is_some() {
                return Err(EngineError::invalid(
                    "user specified IP address is supported on user defined networks only",
                ));
            }
            return Ok(());
        }
        if att.ip.is_some() && !net.user_subnet {
            return Err(EngineError::invalid("user specified IP address is supported only when connecting to networks with user configured subnets",
            ));
        }
        let ipam = self.resolve_ipam(&net.ipam_driver).await?;
        let mac_opts = match &ipam {
            Ipam::Remote(r) if r.caps.requires_mac_address => Some(BTreeMap::from([(
                iw::MAC_ADDRESS_OPTION.to_owned(),
                self.random_mac(),
            )])),
            _ => None,
        };
        let v4 = self
            .assign_address(&ipam, &net, &net.v4, att.ip.as_deref(), mac_opts.clone(), 4)
            .await?;
        let v6 = if net.v6.is_empty() {
            None
        } else {
            match self
                .assign_address(&ipam, &net, &net.v6, None, mac_opts, 6)
                .await
            {
                Ok(a) => a,
                Err(e) => {
                    self.release_endpoint_addresses(&ipam, &v4, &None).await;
                    return Err(e);
                }
            }
        };
        let mut ep = Endpoint {
            id: self.random_id(),
            v4,
            v6,
            programmed: false,
        };
        if net.driver != "bridge" {
            let d = match self.resolve_net_driver(&net.driver).await {
                Ok(d) => d,
                Err(e) => {
                    self.release_endpoint_addresses(&ipam, &ep.v4, &ep.v6).await;
                    return Err(e);
                }
            };
            if let Err(e) = self.driver_join(&d, &net, &mut ep, live).await {
                self.release_endpoint_addresses(&ipam, &ep.v4, &ep.v6).await;
                return Err(e);
            }
        }
        self.with_network(nid, |n| {
            if let Some(a) = n.attached.get_mut(container_id) {
                a.endpoint = Some(ep);
            }
        });
        Ok(())
    }

    pub(super) fn random_mac(&self) -> String {
        let id = self.random_id();
        format!(
            "02:42:{}:{}:{}:{}",
            &id[0..2],
            &id[2..4],
            &id[4..6],
            &id[6..8]
        )
    }

    /// `assignAddressVersion`: the first pool (containing `--ip`, if given)
    /// that grants an address.
    pub(super) async fn assign_address(
        &self,
        ipam: &Ipam,
        net: &Network,
        pools: &[PoolData],
        ip: Option<&str>,
        opts: Option<BTreeMap<String, String>>,
        version: u8,
    ) -> Result<Option<(String, String)>, EngineError> {
        let wanted = match ip {
            Some(s) => Some(parse_ip(s).ok_or_else(|| {
                EngineError::invalid(format!("invalid IPv{version} address: {s}"))
            })?),
            None => None,
        };
        for p in pools {
            if let (Some((fam, v)), Some(c)) = (wanted, Cidr::parse(&p.pool)) {
                if !c.contains(fam, v) {
                    continue;
                }
            }
            match self
                .ipam_request_address(ipam, &p.pool_id, ip.unwrap_or(""), opts.clone())
                .await
            {
                Ok(a) => return Ok(Some((p.pool_id.clone(), a))),
                Err(e) => return Err(e),
            }
        }
        if let Some(ip) = ip {
            return Err(EngineError::invalid(format!(
                "Invalid address {ip}: It does not belong to any of this network's subnets"
            )));
        }
        if pools.is_empty() {
            return Ok(None);
        }
        Err(internal(format!(
            "no available IPv{version} addresses on this network's address pools: {} ({})",
            net.name, net.id
        )))
    }

    pub(super) async fn release_endpoint_addresses(
        &self,
        ipam: &Ipam,
        v4: &Option<(String, String)>,
        v6: &Option<(String, String)>,
    ) {
        for (pool_id, addr) in [v4, v6].into_iter().flatten() {
            let ip = Cidr::parse(addr).map(|c| c.ip()).unwrap_or_default();
            if let Err(e) = self.ipam_release_address(ipam, pool_id, &ip).await {
                tracing::warn!("failed to release ip address {ip} on delete of endpoint: {e}");
            }
        }
    }

    /// CreateEndpoint, Join and (when the driver is the gateway)
    /// ProgramExternalConnectivity.
    pub(super) async fn driver_join(
        &self,
        d: &NetReg,
        net: &Network,
        ep: &mut Endpoint,
        live: bool,
    ) -> Result<(), EngineError> {
        let ep_opts = || {
            let mut m = Map::new();
            m.insert("com.docker.network.endpoint.exposedports".into(), json!([]));
            m.insert("com.docker.network.portmap".into(), json!([]));
            m
        };
        let addr =
            |a: &Option<(String, String)>| a.as_ref().map(|(_, c)| c.clone()).unwrap_or_default();
        let req = nw::CreateEndpointRequest {
            network_id: net.id.clone(),
            endpoint_id: ep.id.clone(),
            interface: Some(nw::EndpointInterface {
                address: addr(&ep.v4),
                address_ipv6: addr(&ep.v6),
                mac_address: String::new(),
            }),
            options: Some(ep_opts()),
        };
        remote::<_, nw::CreateEndpointResponse>(&d.handle, "NetworkDriver.CreateEndpoint", &req)
            .await
            .map_err(|e| internal(e.text))?;
        let ep_req = nw::EndpointRequest {
            network_id: net.id.clone(),
            endpoint_id: ep.id.clone(),
        };
        let mut join_opts = ep_opts();
        if live {
            // Recorded (n-veth): a live connect adds the (empty) link options.
            join_opts.insert(
                "com.docker.network.generic".into(),
                json!({"ChildEndpoints": null, "ParentEndpoints": null}),
            );
        }
        let join = nw::JoinRequest {
            network_id: net.id.clone(),
            endpoint_id: ep.id.clone(),
            sandbox_key: format!("/var/run/docker/netns/{}", &self.random_id()[..12]),
            options: Some(join_opts),
        };
        let joined: nw::JoinResponse = match remote(&d.handle, "NetworkDriver.Join", &join).await {
            Ok(j) => j,
            Err(e) => {
                let _ = remote::<_, nw::ErrResponse>(
                    &d.handle,
                    "NetworkDriver.DeleteEndpoint",
                    &ep_req,
                )
                .await;
                return Err(internal(e.text));
            }
        };
        if !joined.gateway.is_empty() || !joined.gateway_ipv6.is_empty() {
            let req = nw::ProgramExternalConnectivityRequest {
                network_id: net.id.clone(),
                endpoint_id: ep.id.clone(),
                options: Some(ep_opts()),
            };
            match remote::<_, nw::ErrResponse>(
                &d.handle,
                "NetworkDriver.ProgramExternalConnectivity",
                &req,
            )
            .await
            {
                Ok(_) => ep.programmed = true,
                // 404: the driver does not implement it, which is fine.
                Err(e) if e.not_found => {}
                Err(e) => {
                    let _ = remote::<_, nw::ErrResponse>(&d.handle, "NetworkDriver.Leave", &ep_req)
                        .await;
                    let _ = remote::<_, nw::ErrResponse>(
                        &d.handle,
                        "NetworkDriver.DeleteEndpoint",
                        &ep_req,
                    )
                    .await;
                    return Err(internal(e.text));
                }
            }
        }
        if live {
            // dockerd then reads the endpoint's operational data twice
            // (network settings and the connect event); errors are ignored.
            for _ in 0..2 {
                if let Err(e) = remote::<_, nw::EndpointInfoResponse>(
                    &d.handle,
                    "NetworkDriver.EndpointOperInfo",
                    &ep_req,
                )
                .await
                {
                    tracing::debug!("EndpointOperInfo: {}", e.text);
                }
            }
        }
        Ok(())
    }

    pub(super) async fn endpoint_delete(&self, nid: &str, container_id: &str) {
        let Some((net, ep)) = self.with_network(nid, |n| {
            let ep = n
                .attached
                .get_mut(container_id)
                .and_then(|a| a.endpoint.take());
            (n.clone(), ep)
        }) else {
            return;
        };
        let Some(ep) = ep else { return };
        if net.driver != "bridge" {
            match self.resolve_net_driver(&net.driver).await {
                Ok(d) => {
                    let req = nw::EndpointRequest {
                        network_id: net.id.clone(),
                        endpoint_id: ep.id.clone(),
                    };
                    if ep.programmed {
                        if let Err(e) = remote::<_, nw::ErrResponse>(
                            &d.handle,
                            "NetworkDriver.RevokeExternalConnectivity",
                            &req,
                        )
                        .await
                        {
                            if !e.not_found {
                                tracing::warn!(
                                    "driver failed revoking external connectivity: {}",
                                    e.text
                                );
                            }
                        }
                    }
                    for m in ["NetworkDriver.Leave", "NetworkDriver.DeleteEndpoint"] {
                        if let Err(e) = remote::<_, nw::ErrResponse>(&d.handle, m, &req).await {
                            tracing::warn!("{m} of endpoint {} failed: {}", ep.id, e.text);
                        }
                    }
                }
                Err(e) => tracing::warn!("{e}"),
            }
        }
        match self.resolve_ipam(&net.ipam_driver).await {
            Ok(ipam) => self.release_endpoint_addresses(&ipam, &ep.v4, &ep.v6).await,
            Err(e) => tracing::warn!("{e}"),
        }
    }
}
