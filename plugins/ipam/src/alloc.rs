//! The allocator: pools per address space and the addresses held in each.
//! Pure data, no I/O — the plugin persists it after every change, and the
//! property tests drive it directly.
//!
//! Invariants (checked by `tests/ipam/model.rs`):
//! * pools of one address space never overlap;
//! * every held address lies inside its pool, and is held once;
//! * a dynamic address is never the network address (nor, for IPv4, the
//!   broadcast address) of its pool or sub-pool.

use drydock_sdk::net::{Addr, Cidr, Family};
use std::collections::{BTreeMap, BTreeSet};

/// The address space for local-scope networks.
pub const LOCAL_SPACE: &str = "drydock-local";
/// The address space for global-scope networks.
pub const GLOBAL_SPACE: &str = "drydock-global";

/// Why a request was refused. The texts are what dockerd shows the user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AllocError {
    /// `Pool`/`SubPool` is not a CIDR block.
    #[error("invalid pool {0:?}: expected a CIDR block such as 10.1.0.0/24")]
    BadCidr(String),
    /// A sub-pool without a pool (the IPAM contract forbids it).
    #[error("a sub-pool ({0}) needs an explicit pool")]
    SubPoolWithoutPool(String),
    /// The sub-pool is not inside the pool.
    #[error("sub-pool {sub} is not inside pool {pool}")]
    SubPoolOutside {
        /// The sub-pool.
        sub: String,
        /// The pool.
        pool: String,
    },
    /// `V6` does not match the family of the requested pool.
    #[error("pool {pool} is not an {want} block")]
    WrongFamily {
        /// The pool.
        pool: String,
        /// `IPv4` or `IPv6`.
        want: &'static str,
    },
    /// The address space is neither of ours.
    #[error("unknown address space {0:?} (this plugin has drydock-local and drydock-global)")]
    UnknownSpace(String),
    /// An explicit pool overlaps one already held.
    #[error(
        "pool {requested} overlaps pool {existing} already allocated in address space {space}"
    )]
    Overlap {
        /// The requested pool.
        requested: String,
        /// The pool it collides with.
        existing: String,
        /// The address space.
        space: String,
    },
    /// Every default range is used up.
    #[error("no free {family} pool left in the default ranges ({ranges})")]
    NoFreePool {
        /// `IPv4` or `IPv6`.
        family: &'static str,
        /// The configured ranges.
        ranges: String,
    },
    /// No pool has this ID.
    #[error("unknown pool ID {0:?}")]
    UnknownPool(String),
    /// `Address` is not an IP.
    #[error("invalid address {0:?}: expected a bare IP such as 10.1.0.5")]
    BadAddress(String),
    /// A static address outside the pool.
    #[error("address {addr} is outside pool {pool}")]
    Outside {
        /// The address.
        addr: String,
        /// The pool.
        pool: String,
    },
    /// A static address that is already held.
    #[error("address {addr} is already allocated in pool {pool}")]
    Taken {
        /// The address.
        addr: String,
        /// The pool.
        pool: String,
    },
    /// No dynamic address left.
    #[error("no available addresses in pool {0}")]
    Exhausted(String),
    /// Releasing an address nobody holds.
    #[error("address {addr} is not allocated in pool {pool}")]
    NotHeld {
        /// The address.
        addr: String,
        /// The pool.
        pool: String,
    },
}

/// One allocated pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pool {
    /// The address space it belongs to (overlap is checked per space).
    pub space: String,
    /// The block.
    pub cidr: Cidr,
    /// Where dynamic addresses come from (`--ip-range`), if narrower than the pool.
    pub sub: Option<Cidr>,
    /// `--ipam-opt` values, kept for the operator's inspection.
    pub options: BTreeMap<String, String>,
    /// Addresses handed out and not yet released.
    pub held: BTreeSet<u128>,
}

impl Pool {
    fn is_reserved(&self, v: u128) -> bool {
        self.cidr.is_reserved(v) || self.sub.is_some_and(|s| s.is_reserved(v))
    }
}

/// A granted pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Granted {
    /// Its ID (`SPACE/CIDR`).
    pub id: String,
    /// The block.
    pub cidr: Cidr,
}

/// Pools and addresses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Allocator {
    /// Ranges default pools are carved from, per family, in preference order.
    ranges: Vec<Cidr>,
    /// Pool ID → pool.
    pools: BTreeMap<String, Pool>,
    /// Where the search for the lowest free address may start in each pool.
    hints: FreeHints,
}

/// Per pool, a value below which every dynamic address is held or reserved,
/// so allocation in a nearly full pool does not rescan from the start. Only a
/// hint: it is rebuilt lazily, never persisted, and ignored by equality.
#[derive(Debug, Clone, Default)]
struct FreeHints(std::collections::HashMap<String, u128>);

impl PartialEq for FreeHints {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for FreeHints {}

/// The ranges used when none are configured: private blocks unlikely to
/// collide with a host's own (docker's built-in IPAM uses 172.17–31/16).
pub fn default_ranges() -> Vec<Cidr> {
    ["10.200.0.0/16", "fd00:d0c::/48"]
        .iter()
        .map(|s| Cidr::parse(s).expect("valid default range"))
        .collect()
}

fn family_name(f: Family) -> &'static str {
    match f {
        Family::V4 => "IPv4",
        Family::V6 => "IPv6",
    }
}

/// The size of pools carved from a default range: /24 for IPv4, /64 for IPv6,
/// or the whole range when it is smaller.
fn chunk_prefix(range: &Cidr) -> u8 {
    let want = match range.family() {
        Family::V4 => 24,
        Family::V6 => 64,
    };
    want.max(range.prefix)
}

impl Allocator {
    /// An empty allocator carving default pools from `ranges`.
    pub fn new(ranges: Vec<Cidr>) -> Self {
        Allocator {
            ranges,
            pools: BTreeMap::new(),
            hints: FreeHints::default(),
        }
    }

    /// Rebuilds an allocator from saved pools.
    pub fn with_pools(ranges: Vec<Cidr>, pools: BTreeMap<String, Pool>) -> Self {
        Allocator {
            ranges,
            pools,
            hints: FreeHints::default(),
        }
    }

    /// The pools, by ID.
    pub fn pools(&self) -> &BTreeMap<String, Pool> {
        &self.pools
    }

    /// `RequestPool`: the explicit `pool` if it is free in `space`, otherwise
    /// (when `pool` is empty) the first free default pool of the family.
    pub fn request_pool(
        &mut self,
        space: &str,
        pool: &str,
        sub_pool: &str,
        v6: bool,
        options: BTreeMap<String, String>,
    ) -> Result<Granted, AllocError> {
        let space = match space {
            "" => LOCAL_SPACE,
            s if s == LOCAL_SPACE || s == GLOBAL_SPACE => s,
            other => return Err(AllocError::UnknownSpace(other.to_owned())),
        };
        let family = if v6 { Family::V6 } else { Family::V4 };
        let cidr = if pool.is_empty() {
            if !sub_pool.is_empty() {
                return Err(AllocError::SubPoolWithoutPool(sub_pool.to_owned()));
            }
            self.next_free(space, family)?
        } else {
            let c = Cidr::parse(pool).ok_or_else(|| AllocError::BadCidr(pool.to_owned()))?;
            if c.family() != family {
                return Err(AllocError::WrongFamily {
                    pool: c.to_string(),
                    want: family_name(family),
                });
            }
            if let Some(p) = self.overlapping(space, &c) {
                return Err(AllocError::Overlap {
                    requested: c.to_string(),
                    existing: p.cidr.to_string(),
                    space: space.to_owned(),
                });
            }
            c
        };
        let sub = match sub_pool {
            "" => None,
            s => {
                let sc = Cidr::parse(s).ok_or_else(|| AllocError::BadCidr(s.to_owned()))?;
                if !cidr.covers(&sc) {
                    return Err(AllocError::SubPoolOutside {
                        sub: sc.to_string(),
                        pool: cidr.to_string(),
                    });
                }
                Some(sc)
            }
        };
        let id = format!("{space}/{cidr}");
        self.pools.insert(
            id.clone(),
            Pool {
                space: space.to_owned(),
                cidr,
                sub,
                options,
                held: BTreeSet::new(),
            },
        );
        Ok(Granted { id, cidr })
    }

    fn overlapping(&self, space: &str, c: &Cidr) -> Option<&Pool> {
        self.pools
            .values()
            .find(|p| p.space == space && p.cidr.overlaps(c))
    }

    fn next_free(&self, space: &str, family: Family) -> Result<Cidr, AllocError> {
        for range in self.ranges.iter().filter(|r| r.family() == family) {
            let prefix = chunk_prefix(range);
            let step: u128 = 1u128 << (family.bits() - prefix);
            let mut at = range.first();
            loop {
                let candidate = Cidr::new(Addr { family, value: at }, prefix);
                match self.overlapping(space, &candidate) {
                    None => return Ok(candidate),
                    Some(p) => {
                        // Jump past the pool in the way, to the next chunk boundary.
                        let past = p.cidr.last().saturating_add(1);
                        let aligned = past.div_ceil(step).saturating_mul(step);
                        if p.cidr.last() >= range.last() || aligned > range.last() {
                            break;
                        }
                        at = aligned.max(at + step);
                    }
                }
            }
        }
        let ranges: Vec<String> = self
            .ranges
            .iter()
            .filter(|r| r.family() == family)
            .map(ToString::to_string)
            .collect();
        Err(AllocError::NoFreePool {
            family: family_name(family),
            ranges: if ranges.is_empty() {
                "none configured".into()
            } else {
                ranges.join(", ")
            },
        })
    }

    /// `ReleasePool`: forgets the pool and everything held in it.
    pub fn release_pool(&mut self, id: &str) -> Result<Pool, AllocError> {
        self.hints.0.remove(id);
        self.pools
            .remove(id)
            .ok_or_else(|| AllocError::UnknownPool(id.to_owned()))
    }

    /// `RequestAddress`: `address` (a bare IP) if it is inside the pool and
    /// free, or with an empty `address` the lowest free one of the sub-pool
    /// (or pool). Returns the address as `ip/prefix`.
    pub fn request_address(&mut self, id: &str, address: &str) -> Result<String, AllocError> {
        let pool = self
            .pools
            .get_mut(id)
            .ok_or_else(|| AllocError::UnknownPool(id.to_owned()))?;
        let v = if address.is_empty() {
            let range = pool.sub.unwrap_or(pool.cidr);
            let start = self
                .hints
                .0
                .get(id)
                .copied()
                .unwrap_or(0)
                .max(range.first());
            // Walk the held set alongside the candidates: a run of held
            // addresses costs one iterator step each, not a lookup each.
            let mut held = pool.held.range(start..).peekable();
            let mut v = start;
            let found = loop {
                if v > range.last() {
                    return Err(AllocError::Exhausted(range.to_string()));
                }
                while held.next_if(|h| **h < v).is_some() {}
                if held.next_if(|h| **h == v).is_some() || pool.is_reserved(v) {
                    v += 1;
                    continue;
                }
                break v;
            };
            self.hints.0.insert(id.to_owned(), found + 1);
            found
        } else {
            // Be lenient with a CIDR suffix; dockerd sends bare IPs.
            let bare = address.split('/').next().unwrap_or(address);
            let a = Addr::parse(bare).ok_or_else(|| AllocError::BadAddress(address.to_owned()))?;
            if !pool.cidr.contains(a) {
                return Err(AllocError::Outside {
                    addr: a.to_string(),
                    pool: pool.cidr.to_string(),
                });
            }
            if pool.held.contains(&a.value) {
                return Err(AllocError::Taken {
                    addr: a.to_string(),
                    pool: pool.cidr.to_string(),
                });
            }
            a.value
        };
        pool.held.insert(v);
        Ok(pool.cidr.with_prefix(v))
    }

    /// `ReleaseAddress`: makes a held address available again.
    pub fn release_address(&mut self, id: &str, address: &str) -> Result<(), AllocError> {
        let pool = self
            .pools
            .get_mut(id)
            .ok_or_else(|| AllocError::UnknownPool(id.to_owned()))?;
        let bare = address.split('/').next().unwrap_or(address);
        let a = Addr::parse(bare).ok_or_else(|| AllocError::BadAddress(address.to_owned()))?;
        if a.family != pool.cidr.family() || !pool.held.remove(&a.value) {
            return Err(AllocError::NotHeld {
                addr: a.to_string(),
                pool: pool.cidr.to_string(),
            });
        }
        if let Some(hint) = self.hints.0.get_mut(id) {
            *hint = (*hint).min(a.value);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alloc() -> Allocator {
        Allocator::new(vec![
            Cidr::parse("10.0.0.0/23").unwrap(),
            Cidr::parse("fd00::/63").unwrap(),
        ])
    }

    #[test]
    fn dynamic_addresses_stay_lowest_free_across_releases() {
        let mut a = alloc();
        let p = a
            .request_pool(LOCAL_SPACE, "10.9.0.0/29", "", false, BTreeMap::new())
            .unwrap();
        let got: Vec<String> = (0..6)
            .map(|_| a.request_address(&p.id, "").unwrap())
            .collect();
        assert_eq!(got[0], "10.9.0.1/29");
        assert_eq!(got[5], "10.9.0.6/29");
        assert!(matches!(
            a.request_address(&p.id, ""),
            Err(AllocError::Exhausted(_))
        ));
        a.release_address(&p.id, "10.9.0.4").unwrap();
        a.release_address(&p.id, "10.9.0.2").unwrap();
        assert_eq!(a.request_address(&p.id, "").unwrap(), "10.9.0.2/29");
        assert_eq!(a.request_address(&p.id, "").unwrap(), "10.9.0.4/29");
        // An explicit request below the hint changes nothing it relies on.
        a.release_address(&p.id, "10.9.0.1").unwrap();
        assert_eq!(a.request_address(&p.id, "10.9.0.1").unwrap(), "10.9.0.1/29");
        assert!(matches!(
            a.request_address(&p.id, ""),
            Err(AllocError::Exhausted(_))
        ));
    }

    #[test]
    fn default_pools_are_carved_in_order_and_skip_explicit_ones() {
        let mut a = alloc();
        let none = BTreeMap::new;
        let explicit = a
            .request_pool(LOCAL_SPACE, "10.0.0.0/24", "", false, none())
            .unwrap();
        assert_eq!(explicit.id, "drydock-local/10.0.0.0/24");
        let next = a.request_pool(LOCAL_SPACE, "", "", false, none()).unwrap();
        assert_eq!(next.cidr.to_string(), "10.0.1.0/24");
        let err = a
            .request_pool(LOCAL_SPACE, "", "", false, none())
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "no free IPv4 pool left in the default ranges (10.0.0.0/23)"
        );
        // Another address space is independent.
        let global = a.request_pool(GLOBAL_SPACE, "", "", false, none()).unwrap();
        assert_eq!(global.cidr.to_string(), "10.0.0.0/24");
        let v6 = a.request_pool(LOCAL_SPACE, "", "", true, none()).unwrap();
        assert_eq!(v6.cidr.to_string(), "fd00::/64");
        let overlap = a
            .request_pool(LOCAL_SPACE, "10.0.0.128/25", "", false, none())
            .unwrap_err();
        assert_eq!(
            overlap.to_string(),
            "pool 10.0.0.128/25 overlaps pool 10.0.0.0/24 already allocated in address space drydock-local"
        );
    }

    #[test]
    fn addresses_skip_network_and_broadcast_and_honour_static_requests() {
        let mut a = alloc();
        let p = a
            .request_pool(LOCAL_SPACE, "10.9.0.0/30", "", false, BTreeMap::new())
            .unwrap();
        assert_eq!(a.request_address(&p.id, "").unwrap(), "10.9.0.1/30");
        assert_eq!(a.request_address(&p.id, "").unwrap(), "10.9.0.2/30");
        assert_eq!(
            a.request_address(&p.id, "").unwrap_err().to_string(),
            "no available addresses in pool 10.9.0.0/30"
        );
        assert_eq!(
            a.request_address(&p.id, "10.9.0.2")
                .unwrap_err()
                .to_string(),
            "address 10.9.0.2 is already allocated in pool 10.9.0.0/30"
        );
        assert_eq!(
            a.request_address(&p.id, "10.9.1.2")
                .unwrap_err()
                .to_string(),
            "address 10.9.1.2 is outside pool 10.9.0.0/30"
        );
        a.release_address(&p.id, "10.9.0.1").unwrap();
        assert_eq!(
            a.release_address(&p.id, "10.9.0.1")
                .unwrap_err()
                .to_string(),
            "address 10.9.0.1 is not allocated in pool 10.9.0.0/30"
        );
        assert_eq!(a.request_address(&p.id, "").unwrap(), "10.9.0.1/30");
    }

    #[test]
    fn sub_pools_supply_dynamic_addresses() {
        let mut a = alloc();
        let p = a
            .request_pool(
                LOCAL_SPACE,
                "10.99.0.0/16",
                "10.99.5.0/24",
                false,
                BTreeMap::new(),
            )
            .unwrap();
        assert_eq!(a.request_address(&p.id, "").unwrap(), "10.99.5.1/16");
        assert_eq!(
            a.request_address(&p.id, "10.99.0.5").unwrap(),
            "10.99.0.5/16"
        );
        assert!(matches!(
            a.request_pool(LOCAL_SPACE, "", "10.1.0.0/24", false, BTreeMap::new()),
            Err(AllocError::SubPoolWithoutPool(_))
        ));
    }
}
