//! `docker network …`: requests and output, and how the CLI turns
//! `--subnet`/`--gateway`/`--ip-range`/`--aux-address` into IPAM configs.

use super::format::{inspect_outcome, tabwrite};
use super::{body, field, filters_query, DockerCli, NetworkCommand, NetworkCreate, Outcome};
use crate::api::types::IpamConfig;
use crate::api::ApiRequest;
use crate::daemon::{EngineError, ErrorKind};
use drydock_sdk::net::{Addr, Cidr};
use serde_json::{json, Map, Value};

impl DockerCli<'_> {
    pub(super) async fn network(&self, cmd: &NetworkCommand) -> Outcome {
        match cmd {
            NetworkCommand::Create(spec) => {
                // The CLI checks its flags before it sends anything.
                let configs = match ipam_configs(spec) {
                    Ok(c) => c,
                    Err(message) => return Outcome::failed(message),
                };
                let req = ApiRequest::post_json("/networks/create", &create_body(spec, &configs));
                match self.send(req).await {
                    Ok(resp) => Outcome::ok(field(body(&resp), "Id")),
                    Err(e) => Outcome::failed(e.message),
                }
            }
            NetworkCommand::Ls { quiet, filters } => {
                let req = ApiRequest::get(&format!("/networks{}", filters_query(filters)));
                let resp = match self.send(req).await {
                    Ok(resp) => resp,
                    Err(e) => return Outcome::failed(e.message),
                };
                let empty = Vec::new();
                let mut nets: Vec<&Value> =
                    body(&resp).as_array().unwrap_or(&empty).iter().collect();
                nets.sort_by_key(|n| field(n, "Name"));
                let short = |n: &Value| field(n, "Id").chars().take(12).collect::<String>();
                if *quiet {
                    return Outcome::ok(
                        nets.iter().map(|n| short(n)).collect::<Vec<_>>().join("\n"),
                    );
                }
                let mut rows = vec![["NETWORK ID", "NAME", "DRIVER", "SCOPE"]
                    .map(str::to_owned)
                    .to_vec()];
                rows.extend(nets.iter().map(|n| {
                    vec![
                        short(n),
                        field(n, "Name").to_owned(),
                        field(n, "Driver").to_owned(),
                        field(n, "Scope").to_owned(),
                    ]
                }));
                Outcome::ok(tabwrite(&rows))
            }
            NetworkCommand::Inspect { format, names } => {
                let mut items = Vec::new();
                let mut errors = Vec::new();
                for n in names {
                    match self.send(ApiRequest::get(&format!("/networks/{n}"))).await {
                        Ok(resp) => items.push(body(&resp).clone()),
                        Err(e) if e.kind == ErrorKind::NotFound => {
                            errors.push(format!("No such network: {n}"))
                        }
                        Err(e) => errors.push(e.message),
                    }
                }
                inspect_outcome(items, errors, format.as_deref())
            }
            NetworkCommand::Rm { names } => {
                // The CLI looks each network up (to warn about ingress
                // networks; a failed lookup is ignored), then deletes it.
                self.each(names, |n| async move {
                    let _ = self.send(ApiRequest::get(&format!("/networks/{n}"))).await;
                    self.send(ApiRequest::delete(&format!("/networks/{n}")))
                        .await
                        .map(|_| n)
                })
                .await
            }
            NetworkCommand::Connect {
                ip,
                network,
                container,
            } => {
                let body = json!({
                    "Container": container,
                    "EndpointConfig": {
                        "IPAMConfig": match ip { Some(ip) => json!({"IPv4Address": ip}), None => json!({}) },
                        "Links": null, "Aliases": [], "MacAddress": "", "DriverOpts": {},
                        "GwPriority": 0, "NetworkID": "", "EndpointID": "", "Gateway": "",
                        "IPAddress": "", "IPPrefixLen": 0, "IPv6Gateway": "",
                        "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0, "DNSNames": null,
                    },
                });
                let req = ApiRequest::post_json(&format!("/networks/{network}/connect"), &body);
                outcome(self.send(req).await)
            }
            NetworkCommand::Disconnect {
                force,
                network,
                container,
            } => {
                let body = json!({"Container": container, "Force": force});
                let req = ApiRequest::post_json(&format!("/networks/{network}/disconnect"), &body);
                outcome(self.send(req).await)
            }
        }
    }
}

/// A command that prints nothing on success.
fn outcome<T>(result: Result<T, EngineError>) -> Outcome {
    match result {
        Ok(_) => Outcome::ok(""),
        Err(e) => Outcome::failed(e.message),
    }
}

/// The body of `POST /networks/create` as docker 28.2 sends it (recorded:
/// tests/golden/n-*.jsonl, i-*.jsonl).
fn create_body(spec: &NetworkCreate, configs: &[IpamConfig]) -> Value {
    let mut body = Map::new();
    body.insert(
        "Driver".into(),
        json!(spec.driver.as_deref().unwrap_or("bridge")),
    );
    body.insert("Scope".into(), json!(""));
    if spec.ipv6 {
        body.insert("EnableIPv6".into(), json!(true));
    }
    body.insert(
        "IPAM".into(),
        json!({
            "Driver": spec.ipam_driver.as_deref().unwrap_or("default"),
            "Options": spec.ipam_opts,
            "Config": configs,
        }),
    );
    for (k, v) in [
        ("Internal", json!(false)),
        ("Attachable", json!(false)),
        ("Ingress", json!(false)),
        ("ConfigOnly", json!(false)),
        ("ConfigFrom", Value::Null),
        ("Options", json!(spec.opts)),
        ("Labels", json!({})),
        ("Name", json!(spec.name)),
        ("CheckDuplicate", json!(true)),
    ] {
        body.insert(k.into(), v);
    }
    Value::Object(body)
}

/// The CLI's `consolidateIpam`: one config per `--subnet`, in order; each
/// gateway, ip-range and aux address goes with the subnet containing it.
/// Its errors are the CLI's own: nothing is sent.
fn ipam_configs(spec: &NetworkCreate) -> Result<Vec<IpamConfig>, String> {
    if spec.subnets.is_empty() {
        if !spec.gateways.is_empty() || !spec.ip_ranges.is_empty() || !spec.aux_addresses.is_empty()
        {
            return Err("every ip-range or gateway must have a corresponding subnet".into());
        }
        return Ok(Vec::new());
    }
    let mut cfgs: Vec<(Cidr, IpamConfig)> = Vec::new();
    for s in &spec.subnets {
        let c = parse_cidr(s)?;
        if cfgs.iter().any(|(o, _)| o.overlaps(&c)) {
            return Err("multiple overlapping subnet configuration is not allowed".into());
        }
        cfgs.push((
            c,
            IpamConfig {
                subnet: s.clone(),
                ..Default::default()
            },
        ));
    }
    for r in &spec.ip_ranges {
        let range = parse_cidr(r)?;
        let first = Addr {
            family: range.family(),
            value: range.first(),
        };
        let cfg = cfgs
            .iter_mut()
            .find(|(c, _)| c.contains(first))
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
        let addr = Addr::parse(g).ok_or_else(|| format!("invalid gateway address {g}"))?;
        let cfg = cfgs
            .iter_mut()
            .find(|(c, _)| c.contains(addr))
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
        let addr = Addr::parse(a).ok_or_else(|| format!("invalid aux-address {a}"))?;
        let cfg = cfgs
            .iter_mut()
            .find(|(c, _)| c.contains(addr))
            .ok_or_else(|| format!("no matching subnet for aux-address {a}"))?;
        cfg.1.aux_addresses.insert(k.clone(), a.clone());
    }
    Ok(cfgs.into_iter().map(|(_, c)| c).collect())
}

/// A `--subnet`/`--ip-range` value, read as Go's `net.ParseCIDR` reads it.
fn parse_cidr(s: &str) -> Result<Cidr, String> {
    drydock_sdk::net::Prefixed::parse(s)
        .map(|p| p.block())
        .ok_or_else(|| format!("invalid CIDR address: {s}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn gateways_ranges_and_aux_addresses_follow_their_subnet() {
        let spec = NetworkCreate {
            name: "n".into(),
            subnets: vec!["10.98.0.0/24".into(), "fd00:2::/64".into()],
            gateways: vec!["fd00:2::9".into()],
            aux_addresses: BTreeMap::from([("a".into(), "10.98.0.5".into())]),
            ..Default::default()
        };
        let configs = ipam_configs(&spec).unwrap();
        assert_eq!(configs[0].aux_addresses["a"], "10.98.0.5");
        assert_eq!(configs[1].gateway, "fd00:2::9");
        let bad = NetworkCreate {
            gateways: vec!["10.1.1.1".into()],
            ..spec
        };
        assert_eq!(
            ipam_configs(&bad).unwrap_err(),
            "no matching subnet for gateway 10.1.1.1"
        );
    }
}
