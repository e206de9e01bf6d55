//! Step 4: an IPAM plugin. libnetwork asks it for an address pool when a
//! network is created (`docker network create --ipam-driver NAME`), for the
//! gateway's address, and for an address per container as each one starts.
//!
//! This one hands out /24 pools from 10.123.0.0/16 and addresses within them
//! in order, reusing what is released. State is in memory only: a real
//! plugin must keep it across its own restarts, because dockerd never replays
//! its requests (docs/protocol.md).
//!
//! ```text
//! cargo test --example ipam_pool                               # the tests below
//! cargo run --example ipam_pool -- /run/docker/plugins/pool.sock
//! ```
#[cfg(test)]
mod common;

use drydock_sdk::server::{serve_unix, shutdown_signal};
use drydock_sdk::wire::ipam::*;
use drydock_sdk::{IpamDriver, Plugin, PluginError};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

#[derive(Default)]
struct Pools {
    /// Third octet of each pool in use → host numbers given out in it.
    /// The pool's ID (which dockerd hands back in later calls) is its CIDR.
    in_use: Mutex<BTreeMap<u8, BTreeSet<u8>>>,
}

/// `10.123.7.0/24` → 7, for the pools this plugin made (and for their IDs).
fn pool_number(cidr: &str) -> Option<u8> {
    let prefix = cidr.strip_prefix("10.123.")?.strip_suffix(".0/24")?;
    prefix.parse().ok()
}

impl IpamDriver for Pools {
    async fn get_default_address_spaces(&self) -> Result<AddressSpacesResponse, PluginError> {
        // Names only this plugin interprets; dockerd passes them back in RequestPool.
        let local = "pool-local".to_string();
        let global = "pool-global".to_string();
        Ok(AddressSpacesResponse {
            local_default_address_space: local,
            global_default_address_space: global,
            ..Default::default()
        })
    }

    async fn request_pool(
        &self,
        req: RequestPoolRequest,
    ) -> Result<RequestPoolResponse, PluginError> {
        // `Pool` is the user's `--subnet`; empty means "you choose".
        if req.v6 || !req.pool.is_empty() {
            return Err(PluginError::new(
                "this plugin chooses IPv4 pools itself: omit --subnet and --ipv6",
            ));
        }
        let mut in_use = self.in_use.lock().unwrap();
        let n = (0..=255).find(|n| !in_use.contains_key(n));
        let n = n.ok_or_else(|| PluginError::new("all 256 pools are in use"))?;
        in_use.insert(n, BTreeSet::new());
        let pool = format!("10.123.{n}.0/24");
        Ok(RequestPoolResponse {
            pool_id: pool.clone(),
            pool,
            ..Default::default()
        })
    }

    async fn release_pool(&self, req: ReleasePoolRequest) -> Result<(), PluginError> {
        let n = pool_number(&req.pool_id).ok_or_else(|| PluginError::new("unknown pool"))?;
        self.in_use.lock().unwrap().remove(&n);
        Ok(())
    }

    /// The gateway comes first (its Options say `RequestAddressType`), so it
    /// gets .1. Requests carry bare IPs, but answers must be CIDR.
    async fn request_address(
        &self,
        req: RequestAddressRequest,
    ) -> Result<RequestAddressResponse, PluginError> {
        let n = pool_number(&req.pool_id).ok_or_else(|| PluginError::new("unknown pool"))?;
        let mut in_use = self.in_use.lock().unwrap();
        let hosts = in_use
            .get_mut(&n)
            .ok_or_else(|| PluginError::new("unknown pool"))?;
        let host = if req.address.is_empty() {
            (1..=254).find(|h| !hosts.contains(h))
        } else {
            // `docker run --ip`, or an `--aux-address`: exactly that one.
            let wanted = req
                .address
                .strip_prefix(&format!("10.123.{n}."))
                .and_then(|h| h.parse().ok());
            wanted.filter(|h| !hosts.contains(h))
        };
        let host =
            host.ok_or_else(|| PluginError::new(format!("no free address {}", req.address)))?;
        hosts.insert(host);
        let address = format!("10.123.{n}.{host}/24");
        Ok(RequestAddressResponse {
            address,
            ..Default::default()
        })
    }

    async fn release_address(&self, req: ReleaseAddressRequest) -> Result<(), PluginError> {
        let n = pool_number(&req.pool_id).ok_or_else(|| PluginError::new("unknown pool"))?;
        let host = req.address.rsplit('.').next().and_then(|h| h.parse().ok());
        if let (Some(hosts), Some(host)) = (self.in_use.lock().unwrap().get_mut(&n), host) {
            hosts.remove(&host);
        }
        Ok(())
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let socket = std::env::args()
        .nth(1)
        .unwrap_or("/run/docker/plugins/pool.sock".into());
    let plugin = Plugin::new().ipam(Pools::default());
    serve_unix(plugin, socket, shutdown_signal()?).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCENARIO: &str = r#"
# The first use activates the plugin and registers it with libnetwork.
docker network create --ipam-driver pool n1
#> calls:
#>   pool Plugin.Activate
#>   pool IpamDriver.GetCapabilities
#>   pool IpamDriver.GetDefaultAddressSpaces
#>   pool IpamDriver.RequestPool {"AddressSpace": "pool-local", "Pool": "", "V6": false} -> {"PoolID": "10.123.0.0/24", "Pool": "10.123.0.0/24"}
#>   pool IpamDriver.RequestAddress {"PoolID": "10.123.0.0/24", "Address": "", "Options": {"RequestAddressType": "com.docker.network.gateway"}} -> {"Address": "10.123.0.1/24"}

docker network create --ipam-driver pool n2
#> calls:
#>   pool IpamDriver.RequestPool -> {"Pool": "10.123.1.0/24"}
#>   pool IpamDriver.RequestAddress -> {"Address": "10.123.1.1/24"}

# A container gets its address when it starts, and gives it back (a bare IP) when it stops.
docker run -d --name web --network n1 busybox sleep 60
#> calls:
#>   pool IpamDriver.RequestAddress {"PoolID": "10.123.0.0/24", "Address": "", "Options": null} -> {"Address": "10.123.0.2/24"}
docker stop web
#> calls:
#>   pool IpamDriver.ReleaseAddress {"PoolID": "10.123.0.0/24", "Address": "10.123.0.2"}

docker network rm n1
#> calls:
#>   pool IpamDriver.ReleaseAddress {"Address": "10.123.0.1"}
#>   pool IpamDriver.ReleasePool {"PoolID": "10.123.0.0/24"}

# The released pool is handed out again.
docker network create --ipam-driver pool n3
#> calls include:
#>   pool IpamDriver.RequestPool -> {"Pool": "10.123.0.0/24"}

# The plugin's error reaches the user, after the method's name (as a real
# dockerd 20.10 printed it for this plugin).
docker network create --ipam-driver pool --subnet 192.168.5.0/24 n4
#> error "IpamDriver.RequestPool: this plugin chooses IPv4 pools itself: omit --subnet and --ipv6"
"#;

    #[tokio::test]
    async fn pools_and_addresses_are_handed_out_in_order_and_reused() {
        let engine = common::engine();
        engine
            .registry()
            .register_in_process("pool", Plugin::new().ipam(Pools::default()));
        common::run(&engine, SCENARIO).await;
    }
}
