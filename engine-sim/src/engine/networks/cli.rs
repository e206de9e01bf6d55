//! What the docker CLI shows of networks (`network inspect`, `ls`, the
//! commands' output) and how it turns `--subnet`/`--gateway`/`--ip-range`/
//! `--aux-address` flags into IPAM configs. This is the client's side; it
//! moves to the docker CLI model when the Engine API router lands.

use super::*;
use crate::scenario::{KeyValue, NetworkCommand, NetworkCreate, Outcome};

impl Engine {
    pub(super) fn inspect_network(&self, n: &Network) -> Value {
        // daemon/network.go's buildIpamResources: per family, the user's
        // configuration as given (its Gateway only if the user named one);
        // without one, the allocated pool and gateway.
        let user_config = |c: &SubnetConfig| {
            let mut m = Map::new();
            m.insert("Subnet".into(), json!(c.subnet));
            if !c.ip_range.is_empty() {
                m.insert("IPRange".into(), json!(c.ip_range));
            }
            if !c.gateway.is_empty() {
                m.insert("Gateway".into(), json!(c.gateway));
            }
            if !c.aux.is_empty() {
                m.insert("AuxiliaryAddresses".into(), json!(c.aux));
            }
            Value::Object(m)
        };
        let allocated = |p: &PoolData| {
            let mut m = Map::new();
            m.insert("Subnet".into(), json!(p.pool));
            if let Some(gw) = p.gateway.as_deref().and_then(Cidr::parse) {
                m.insert("Gateway".into(), json!(gw.ip()));
            }
            Value::Object(m)
        };
        let family = |pools: &[PoolData]| -> Vec<Value> {
            let user: Vec<Value> = pools
                .iter()
                .filter_map(|p| p.user.as_ref())
                .map(user_config)
                .collect();
            if user.is_empty() {
                pools.iter().map(allocated).collect()
            } else {
                user
            }
        };
        let config = [family(&n.v4), family(&n.v6)].concat();
        let containers: Map<String, Value> = n
            .attached
            .iter()
            .filter_map(|(cid, a)| {
                a.endpoint.as_ref().map(|ep| {
                    let addr = |x: &Option<(String, String)>| {
                        x.as_ref().map(|(_, c)| c.clone()).unwrap_or_default()
                    };
                    (
                        cid.clone(),
                        json!({
                            "Name": a.container_name,
                            "EndpointID": ep.id,
                            "MacAddress": "",
                            "IPv4Address": addr(&ep.v4),
                            "IPv6Address": addr(&ep.v6),
                        }),
                    )
                })
            })
            .collect();
        json!({
            "Name": n.name,
            "Id": n.id,
            "Created": n.created,
            "Scope": "local",
            "Driver": n.driver,
            "EnableIPv6": n.ipv6,
            "IPAM": {
                "Driver": n.ipam_driver,
                "Options": n.ipam_opts,
                "Config": config,
            },
            "Internal": false,
            "Attachable": false,
            "Ingress": false,
            "ConfigFrom": {"Network": ""},
            "ConfigOnly": false,
            "Containers": containers,
            "Options": n.opts,
            "Labels": {},
        })
    }

    /// `docker network create`: the CLI's flags made into the request's
    /// network config, then the daemon's create. Returns the network ID.
    pub async fn docker_network_create(&self, spec: &NetworkCreate) -> Result<String, EngineError> {
        if self.net_lock().values().any(|n| n.name == spec.name) {
            // The daemon's name conflict is reported before a bad subnet
            // flag, as the engine did when the daemon read the flags
            // itself. FIXME(issue 16): the real CLI checks its flags before
            // it sends anything; not recorded yet.
            return self
                .network_create(&network_config(spec, Vec::new(), Vec::new()))
                .await;
        }
        let (v4, v6) = subnet_configs(spec).map_err(EngineError::invalid)?;
        self.network_create(&network_config(spec, v4, v6)).await
    }

    /// Runs one `docker network …` command as the CLI would.
    pub(crate) async fn docker_network(&self, cmd: &NetworkCommand) -> Outcome {
        match cmd {
            NetworkCommand::Create(spec) => match self.docker_network_create(spec).await {
                Ok(id) => Outcome::ok(id),
                Err(e) => Outcome::failed(e.message),
            },
            NetworkCommand::Rm { names } => {
                let mut out = Vec::new();
                let mut errors = Vec::new();
                for n in names {
                    match self.network_rm(n).await {
                        Ok(()) => out.push(n.clone()),
                        Err(e) => errors.push(e.message),
                    }
                }
                Outcome {
                    error: (!errors.is_empty()).then(|| errors.join("\n")),
                    stdout: out.join("\n"),
                }
            }
            NetworkCommand::Ls { quiet, filters } => {
                let mut nets: Vec<Network> = self
                    .net_lock()
                    .values()
                    .filter(|n| network_matches(n, filters))
                    .cloned()
                    .collect();
                nets.sort_by(|a, b| a.name.cmp(&b.name));
                if *quiet {
                    return Outcome::ok(
                        nets.iter()
                            .map(|n| n.id[..12].to_owned())
                            .collect::<Vec<_>>()
                            .join("\n"),
                    );
                }
                let mut rows = vec![["NETWORK ID", "NAME", "DRIVER", "SCOPE"]
                    .map(str::to_owned)
                    .to_vec()];
                rows.extend(
                    nets.into_iter()
                        .map(|n| vec![n.id[..12].to_owned(), n.name, n.driver, "local".to_owned()]),
                );
                Outcome::ok(tabwrite(&rows))
            }
            NetworkCommand::Inspect { format, names } => {
                let mut items = Vec::new();
                let mut errors = Vec::new();
                for n in names {
                    match self.find_network(n) {
                        Ok(id) => {
                            let net = self.with_network(&id, |x| x.clone()).expect("found");
                            items.push(self.inspect_network(&net));
                        }
                        Err(_) => errors.push(format!("No such network: {n}")),
                    }
                }
                inspect_outcome(items, errors, format.as_deref())
            }
            NetworkCommand::Connect {
                ip,
                network,
                container,
            } => match self
                .network_connect(network, container, ip.as_deref())
                .await
            {
                Ok(()) => Outcome::ok(""),
                Err(e) => Outcome::failed(e.message),
            },
            NetworkCommand::Disconnect {
                network, container, ..
            } => match self.network_disconnect(network, container).await {
                Ok(()) => Outcome::ok(""),
                Err(e) => Outcome::failed(e.message),
            },
        }
    }
}

pub(super) fn network_matches(n: &Network, filters: &[KeyValue]) -> bool {
    filters.iter().all(|f| match f.key.as_str() {
        "name" => n.name.contains(&f.value),
        "driver" => n.driver == f.value,
        "id" => n.id.starts_with(&f.value),
        "type" => (f.value == "builtin") == n.predefined,
        _ => true,
    })
}

/// The CLI's `consolidateIpam`: each gateway, ip-range and aux address goes
/// with the subnet containing it; split by family. Without any subnet there
/// is one empty IPv4 config (and one IPv6 config for `--ipv6`).
fn network_config(
    spec: &NetworkCreate,
    v4: Vec<SubnetConfig>,
    v6: Vec<SubnetConfig>,
) -> NetworkConfig {
    NetworkConfig {
        name: spec.name.clone(),
        driver: spec.driver.clone(),
        ipam_driver: spec.ipam_driver.clone(),
        ipam_opts: spec.ipam_opts.clone(),
        ipam_v4: v4,
        ipam_v6: v6,
        user_subnet: !spec.subnets.is_empty(),
        ipv6: spec.ipv6,
        opts: spec.opts.clone(),
    }
}

pub(super) fn subnet_configs(
    spec: &NetworkCreate,
) -> Result<(Vec<SubnetConfig>, Vec<SubnetConfig>), String> {
    if spec.subnets.is_empty() {
        if !spec.gateways.is_empty() || !spec.ip_ranges.is_empty() || !spec.aux_addresses.is_empty()
        {
            return Err("every ip-range or gateway must have a corresponding subnet".into());
        }
        return Ok((vec![SubnetConfig::default()], vec![SubnetConfig::default()]));
    }
    let mut cfgs: Vec<(Cidr, SubnetConfig)> = Vec::new();
    for s in &spec.subnets {
        let c = Cidr::parse(s).ok_or_else(|| format!("invalid CIDR address: {s}"))?;
        if cfgs.iter().any(|(o, _)| o.overlaps(&c)) {
            return Err("multiple overlapping subnet configuration is not allowed".into());
        }
        cfgs.push((
            c,
            SubnetConfig {
                subnet: s.clone(),
                ..Default::default()
            },
        ));
    }
    for r in &spec.ip_ranges {
        let rc = Cidr::parse(r).ok_or_else(|| format!("invalid CIDR address: {r}"))?;
        let cfg = cfgs
            .iter_mut()
            .find(|(c, _)| c.contains(rc.addr.family, rc.first()))
            .ok_or_else(|| format!("no matching subnet for range {r}"))?;
        if !cfg.1.ip_range.is_empty() {
            return Err(format!(
                "cannot configure multiple ranges ({r}, {}) on the same subnet ({})",
                cfg.1.ip_range, cfg.1.subnet
            ));
        }
        cfg.1.ip_range = r.clone();
    }
    for g in &spec.gateways {
        let (fam, v) = parse_ip(g).ok_or_else(|| format!("invalid gateway address {g}"))?;
        let cfg = cfgs
            .iter_mut()
            .find(|(c, _)| c.contains(fam, v))
            .ok_or_else(|| format!("no matching subnet for gateway {g}"))?;
        if !cfg.1.gateway.is_empty() {
            return Err(format!(
                "cannot configure multiple gateways ({g}, {}) for the same subnet ({})",
                cfg.1.gateway, cfg.1.subnet
            ));
        }
        cfg.1.gateway = g.clone();
    }
    for (k, a) in &spec.aux_addresses {
        let (fam, v) = parse_ip(a).ok_or_else(|| format!("invalid aux-address {a}"))?;
        let cfg = cfgs
            .iter_mut()
            .find(|(c, _)| c.contains(fam, v))
            .ok_or_else(|| format!("no matching subnet for aux-address {a}"))?;
        cfg.1.aux.insert(k.clone(), a.clone());
    }
    let (v4, v6): (Vec<_>, Vec<_>) = cfgs
        .into_iter()
        .partition(|(c, _)| c.addr.family == Fam::V4);
    let mut v4: Vec<SubnetConfig> = v4.into_iter().map(|(_, s)| s).collect();
    let mut v6: Vec<SubnetConfig> = v6.into_iter().map(|(_, s)| s).collect();
    // A family without subnets still gets one pool of the driver's choosing.
    if v4.is_empty() {
        v4.push(SubnetConfig::default());
    }
    if v6.is_empty() {
        v6.push(SubnetConfig::default());
    }
    Ok((v4, v6))
}
