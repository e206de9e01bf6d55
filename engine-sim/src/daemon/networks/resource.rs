//! Networks as the API shows them (`types.NetworkResource`, built as
//! dockerd's daemon/network.go builds it), listed and filtered.

use super::*;

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

    /// `GET /networks/{id}`: the network as the API shows it
    /// (`types.NetworkResource`), by name, ID or unique ID prefix.
    pub fn network_inspect(&self, key: &str) -> Result<Value, EngineError> {
        let id = self.find_network(key)?;
        let net = self.with_network(&id, |n| n.clone()).expect("found");
        Ok(self.inspect_network(&net))
    }

    /// `GET /networks`: the networks `filters` select (`(key, value)` pairs;
    /// values of one key are alternatives, keys must all hold), by name.
    pub fn network_list(&self, filters: &[(String, String)]) -> Vec<Value> {
        let mut nets: Vec<Network> = self
            .net_lock()
            .values()
            .filter(|n| network_matches(n, filters))
            .cloned()
            .collect();
        nets.sort_by(|a, b| a.name.cmp(&b.name));
        nets.iter().map(|n| self.inspect_network(n)).collect()
    }
}

fn network_matches(n: &Network, filters: &[(String, String)]) -> bool {
    crate::daemon::filters_match(filters, |key, value| match key {
        "name" => n.name.contains(value),
        "driver" => n.driver == value,
        "id" => n.id.starts_with(value),
        "type" => (value == "builtin") == n.predefined,
        _ => true,
    })
}
