//! IPAM operations on a network's pools and addresses, built-in or remote
//! (libnetwork's `ipams/remote` and the default allocator), and the
//! prefixed-address helpers they share with the rest of the network code.

use super::*;

/// An address family (IPv4 networks' pools come before IPv6 ones').
pub(super) type Fam = Family;

/// An address written with its prefix (`10.0.0.1/24`), as IPAM answers and
/// `--subnet`/`--gateway` carry them; the math is the SDK's `net` module,
/// shared with the reference IPAM plugin.
pub(super) type Cidr = Prefixed;

pub(super) fn parse_ip(s: &str) -> Option<(Fam, u128)> {
    Addr::parse(s).map(|a| (a.family, a.value))
}

pub(super) fn ip_text(family: Fam, value: u128) -> String {
    Addr { family, value }.to_string()
}

/// What the engine needs of a prefixed address besides the SDK's methods.
pub(super) trait PrefixedExt {
    fn first(&self) -> u128;
    fn last(&self) -> u128;
    fn contains(&self, family: Fam, value: u128) -> bool;
    fn overlaps(&self, other: &Cidr) -> bool;
    /// The canonical network text (`10.0.0.0/24`).
    fn network(&self) -> String;
    /// The address text without the prefix.
    fn ip(&self) -> String;
}

impl PrefixedExt for Prefixed {
    fn first(&self) -> u128 {
        self.block().first()
    }
    fn last(&self) -> u128 {
        self.block().last()
    }
    fn contains(&self, family: Fam, value: u128) -> bool {
        self.block().contains(Addr { family, value })
    }
    fn overlaps(&self, other: &Cidr) -> bool {
        self.block().overlaps(&other.block())
    }
    fn network(&self) -> String {
        self.block().to_string()
    }
    fn ip(&self) -> String {
        self.addr.to_string()
    }
}

impl Engine {
    // ---- IPAM operations, built-in or remote --------------------------------

    pub(super) async fn ipam_request_pool(
        &self,
        ipam: &Ipam,
        pool: &str,
        sub_pool: &str,
        options: Option<&BTreeMap<String, String>>,
        v6: bool,
    ) -> Result<PoolData, EngineError> {
        match ipam {
            Ipam::Remote(r) => {
                let req = iw::RequestPoolRequest {
                    address_space: r.local_space.clone(),
                    pool: pool.to_owned(),
                    sub_pool: sub_pool.to_owned(),
                    options: options.cloned(),
                    v6,
                };
                let res: iw::RequestPoolResponse =
                    remote(&r.handle, "IpamDriver.RequestPool", &req)
                        .await
                        .map_err(|e| internal(e.text))?;
                let parsed = Cidr::parse(&res.pool)
                    .ok_or_else(|| internal(format!("invalid CIDR address: {}", res.pool)))?;
                let gateway = res.data.as_ref().and_then(|d| d.get(GATEWAY_DATA)).cloned();
                Ok(PoolData {
                    pool_id: res.pool_id,
                    address_space: r.local_space.clone(),
                    pool: parsed.network(),
                    gateway,
                    aux: BTreeMap::new(),
                    user: None,
                })
            }
            Ipam::Builtin => {
                let mut b = self.networks.builtin.lock().expect("builtin lock");
                let cidr = if pool.is_empty() {
                    if v6 {
                        return Err(internal("could not find an available, non-overlapping IPv6 address pool among the defaults to assign to the network"));
                    }
                    let candidates = (18..=31)
                        .map(|n| format!("172.{n}.0.0/16"))
                        .chain((0..16).map(|n| format!("192.168.{}.0/20", n * 16)));
                    let mut found = None;
                    for c in candidates {
                        let c = Cidr::parse(&c).expect("valid default");
                        if !b.pools.values().any(|(p, _, _)| p.overlaps(&c)) {
                            found = Some(c);
                            break;
                        }
                    }
                    found.ok_or_else(|| internal("could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network"))?
                } else {
                    let c = Cidr::parse(pool)
                        .ok_or_else(|| internal(format!("invalid CIDR address: {pool}")))?;
                    if b.pools.values().any(|(p, _, _)| p.overlaps(&c)) {
                        return Err(internal(
                            "Pool overlaps with other one on this address space",
                        ));
                    }
                    c
                };
                let sub = match sub_pool {
                    "" => None,
                    s => Some(
                        Cidr::parse(s)
                            .ok_or_else(|| internal(format!("invalid CIDR address: {s}")))?,
                    ),
                };
                let mut id = format!("{BUILTIN_SPACE}/{}", cidr.network());
                if let Some(s) = &sub {
                    id.push('/');
                    id.push_str(&s.network());
                }
                b.pools.insert(id.clone(), (cidr, sub, BTreeSet::new()));
                Ok(PoolData {
                    pool_id: id,
                    address_space: BUILTIN_SPACE.into(),
                    pool: cidr.network(),
                    gateway: None,
                    aux: BTreeMap::new(),
                    user: None,
                })
            }
        }
    }

    pub(super) async fn ipam_release_pool(
        &self,
        ipam: &Ipam,
        pool_id: &str,
    ) -> Result<(), EngineError> {
        match ipam {
            Ipam::Remote(r) => {
                let req = iw::ReleasePoolRequest {
                    pool_id: pool_id.to_owned(),
                };
                remote::<_, iw::ErrorResponse>(&r.handle, "IpamDriver.ReleasePool", &req)
                    .await
                    .map(drop)
                    .map_err(|e| internal(e.text))
            }
            Ipam::Builtin => {
                self.networks
                    .builtin
                    .lock()
                    .expect("builtin lock")
                    .pools
                    .remove(pool_id);
                Ok(())
            }
        }
    }

    /// Returns the address as CIDR.
    pub(super) async fn ipam_request_address(
        &self,
        ipam: &Ipam,
        pool_id: &str,
        address: &str,
        options: Option<BTreeMap<String, String>>,
    ) -> Result<String, EngineError> {
        match ipam {
            Ipam::Remote(r) => {
                let req = iw::RequestAddressRequest {
                    pool_id: pool_id.to_owned(),
                    address: address.to_owned(),
                    options,
                };
                let res: iw::RequestAddressResponse =
                    remote(&r.handle, "IpamDriver.RequestAddress", &req)
                        .await
                        .map_err(|e| internal(e.text))?;
                if res.address.is_empty() {
                    return Err(internal("No address returned"));
                }
                Cidr::parse(&res.address)
                    .map(|_| res.address.clone())
                    .ok_or_else(|| internal(format!("invalid CIDR address: {}", res.address)))
            }
            Ipam::Builtin => {
                let mut b = self.networks.builtin.lock().expect("builtin lock");
                let (cidr, sub, held) = b.pools.get_mut(pool_id).ok_or_else(|| {
                    internal(format!("cannot find address pool for poolID:{pool_id}"))
                })?;
                let v = if address.is_empty() {
                    let range = sub.unwrap_or(*cidr);
                    let reserved = |v: u128| {
                        v == cidr.first()
                            || (cidr.addr.family == Fam::V4 && v == cidr.last())
                            || v == range.first()
                    };
                    let mut v = range.first();
                    loop {
                        if v > range.last() {
                            return Err(internal("No available addresses on this pool"));
                        }
                        if !held.contains(&v) && !reserved(v) {
                            break v;
                        }
                        v += 1;
                    }
                } else {
                    let (fam, v) = parse_ip(address)
                        .ok_or_else(|| internal(format!("invalid address {address}")))?;
                    if !cidr.contains(fam, v) {
                        return Err(internal(format!(
                            "Invalid address {address}: It does not belong to any of this network's subnets"
                        )));
                    }
                    if held.contains(&v) {
                        return Err(internal("Address already in use"));
                    }
                    v
                };
                held.insert(v);
                Ok(format!("{}/{}", ip_text(cidr.addr.family, v), cidr.prefix))
            }
        }
    }

    pub(super) async fn ipam_release_address(
        &self,
        ipam: &Ipam,
        pool_id: &str,
        ip: &str,
    ) -> Result<(), EngineError> {
        match ipam {
            Ipam::Remote(r) => {
                let req = iw::ReleaseAddressRequest {
                    pool_id: pool_id.to_owned(),
                    address: ip.to_owned(),
                };
                remote::<_, iw::ErrorResponse>(&r.handle, "IpamDriver.ReleaseAddress", &req)
                    .await
                    .map(drop)
                    .map_err(|e| internal(e.text))
            }
            Ipam::Builtin => {
                let mut b = self.networks.builtin.lock().expect("builtin lock");
                if let (Some((_, _, held)), Some((_, v))) = (b.pools.get_mut(pool_id), parse_ip(ip))
                {
                    held.remove(&v);
                }
                Ok(())
            }
        }
    }

    /// `ipamReleaseVersion`: gateway, aux addresses inside the pool, the pool.
    /// Errors are only logged, as libnetwork does.
    pub(super) async fn release_pools(&self, ipam: &Ipam, pools: &[PoolData]) {
        for p in pools {
            let pool = Cidr::parse(&p.pool);
            if let Some(gw) = p.gateway.as_deref().and_then(Cidr::parse) {
                if let Err(e) = self.ipam_release_address(ipam, &p.pool_id, &gw.ip()).await {
                    tracing::warn!("failed to release gateway ip address {}: {e}", gw.ip());
                }
            }
            for a in p.aux.values().filter_map(|a| Cidr::parse(a)) {
                if pool.is_some_and(|pc| pc.contains(a.addr.family, a.addr.value)) {
                    if let Err(e) = self.ipam_release_address(ipam, &p.pool_id, &a.ip()).await {
                        tracing::warn!("failed to release secondary ip address {}: {e}", a.ip());
                    }
                }
            }
            if let Err(e) = self.ipam_release_pool(ipam, &p.pool_id).await {
                tracing::warn!("failed to release address pool {}: {e}", p.pool_id);
            }
        }
    }
}
