//! IP addresses and CIDR blocks as plain integers, so pools of both families
//! share one allocator: an IPv4 address is its 32-bit value, an IPv6 one its
//! 128-bit value, and a [`Cidr`] remembers which family it is.
//!
//! The IPAM protocol carries addresses as text with a prefix (`10.0.0.2/24`);
//! the simulated dockerd (libnetwork's side) and the reference IPAM plugin
//! (the allocator's side) both read and write them with this module.
//! Parsing follows Go's `net.ParseCIDR`, which is what both ends of the real
//! protocol use.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// An address family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Family {
    /// IPv4 (32 bits).
    V4,
    /// IPv6 (128 bits).
    V6,
}

impl Family {
    /// Address width in bits.
    pub fn bits(self) -> u8 {
        match self {
            Family::V4 => 32,
            Family::V6 => 128,
        }
    }
}

/// A single address, as family + integer value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Addr {
    /// Its family.
    pub family: Family,
    /// Its value (IPv4 in the low 32 bits).
    pub value: u128,
}

impl Addr {
    /// Parses a bare IP (`10.0.0.5`, `fd00::5`).
    pub fn parse(s: &str) -> Option<Addr> {
        match IpAddr::from_str(s).ok()? {
            IpAddr::V4(a) => Some(Addr {
                family: Family::V4,
                value: u32::from(a) as u128,
            }),
            IpAddr::V6(a) => Some(Addr {
                family: Family::V6,
                value: u128::from(a),
            }),
        }
    }
}

impl fmt::Display for Addr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.family {
            Family::V4 => write!(f, "{}", Ipv4Addr::from(self.value as u32)),
            Family::V6 => write!(f, "{}", Ipv6Addr::from(self.value)),
        }
    }
}

/// A CIDR block in canonical form (host bits cleared).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cidr {
    /// The network address.
    pub base: Addr,
    /// Prefix length.
    pub prefix: u8,
}

impl Cidr {
    /// Parses `A/N`; host bits are cleared (`10.0.0.7/24` → `10.0.0.0/24`),
    /// as dockerd itself canonicalises subnets.
    pub fn parse(s: &str) -> Option<Cidr> {
        let (ip, len) = s.split_once('/')?;
        let base = Addr::parse(ip)?;
        let prefix: u8 = len.parse().ok()?;
        if prefix > base.family.bits() || len.starts_with('+') {
            return None;
        }
        Some(Cidr::new(base, prefix))
    }

    /// The block of `prefix` bits containing `addr`.
    pub fn new(addr: Addr, prefix: u8) -> Cidr {
        let mask = Self::mask(addr.family, prefix);
        Cidr {
            base: Addr {
                family: addr.family,
                value: addr.value & mask,
            },
            prefix,
        }
    }

    fn mask(family: Family, prefix: u8) -> u128 {
        let bits = family.bits();
        let all: u128 = if bits == 128 {
            u128::MAX
        } else {
            (1u128 << bits) - 1
        };
        let host_bits = (bits - prefix) as u32;
        if host_bits >= 128 {
            0
        } else {
            all & !((1u128 << host_bits) - 1)
        }
    }

    /// Its family.
    pub fn family(&self) -> Family {
        self.base.family
    }

    /// The first address.
    pub fn first(&self) -> u128 {
        self.base.value
    }

    /// The last address.
    pub fn last(&self) -> u128 {
        self.base.value | !Self::mask(self.family(), self.prefix) & self.family_mask()
    }

    fn family_mask(&self) -> u128 {
        match self.family() {
            Family::V4 => u32::MAX as u128,
            Family::V6 => u128::MAX,
        }
    }

    /// Whether `a` lies inside.
    pub fn contains(&self, a: Addr) -> bool {
        a.family == self.family() && a.value >= self.first() && a.value <= self.last()
    }

    /// Whether the two blocks share an address.
    pub fn overlaps(&self, other: &Cidr) -> bool {
        self.family() == other.family()
            && self.first() <= other.last()
            && other.first() <= self.last()
    }

    /// Whether `other` lies entirely inside.
    pub fn covers(&self, other: &Cidr) -> bool {
        self.family() == other.family()
            && self.first() <= other.first()
            && other.last() <= self.last()
    }

    /// Addresses no endpoint may get dynamically: the network address, and for
    /// IPv4 blocks with more than two addresses the broadcast address.
    pub fn is_reserved(&self, v: u128) -> bool {
        let tiny = self.family() == Family::V4 && self.prefix >= 31 || self.prefix == 128;
        !tiny && (v == self.first() || (self.family() == Family::V4 && v == self.last()))
    }

    /// `ip/prefix` text for an address of this block (what responses carry).
    pub fn with_prefix(&self, v: u128) -> String {
        format!(
            "{}/{}",
            Addr {
                family: self.family(),
                value: v
            },
            self.prefix
        )
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.base, self.prefix)
    }
}

/// An address written with its prefix length, host bits kept
/// (`10.0.0.1/24`: the address and the block it lies in, as Go's
/// `net.ParseCIDR` returns them). Gateways and endpoint addresses travel so.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Prefixed {
    /// The address as written.
    pub addr: Addr,
    /// Prefix length.
    pub prefix: u8,
}

impl Prefixed {
    /// Parses `A/N` keeping `A` as written; `None` where [`Cidr::parse`]
    /// refuses it.
    pub fn parse(s: &str) -> Option<Prefixed> {
        let block = Cidr::parse(s)?;
        let (ip, _) = s.split_once('/')?;
        Some(Prefixed {
            addr: Addr::parse(ip)?,
            prefix: block.prefix,
        })
    }

    /// Its family.
    pub fn family(&self) -> Family {
        self.addr.family
    }

    /// The block the address lies in.
    pub fn block(&self) -> Cidr {
        Cidr::new(self.addr, self.prefix)
    }
}

/// Written as text (`10.0.0.1/24`), as it travels in the protocols.
impl serde::Serialize for Prefixed {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Prefixed {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Prefixed::parse(&text).ok_or_else(|| {
            serde::de::Error::custom(format!("not an address with a prefix: {text}"))
        })
    }
}

impl fmt::Display for Prefixed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsing_canonicalises_and_bounds_blocks() {
        let c = Cidr::parse("10.1.2.3/24").unwrap();
        assert_eq!(c.to_string(), "10.1.2.0/24");
        assert_eq!(c.with_prefix(c.last()), "10.1.2.255/24");
        let v6 = Cidr::parse("fd00:1::7/64").unwrap();
        assert_eq!(v6.to_string(), "fd00:1::/64");
        assert!(v6.contains(Addr::parse("fd00:1::ffff").unwrap()));
        assert!(!v6.contains(Addr::parse("fd00:2::1").unwrap()));
        assert!(Cidr::parse("10.0.0.0/33").is_none());
        assert!(Cidr::parse("10.0.0.0").is_none());
        let all = Cidr::parse("0.0.0.0/0").unwrap();
        assert_eq!(all.last(), u32::MAX as u128);
        assert!(all.covers(&c) && c.overlaps(&all) && !c.covers(&all));
        assert!(c.is_reserved(c.first()) && c.is_reserved(c.last()));
        assert!(!v6.is_reserved(v6.last()));
    }

    #[test]
    fn a_prefixed_address_keeps_its_host_bits_and_knows_its_block() {
        let gw = Prefixed::parse("198.18.0.2/24").unwrap();
        assert_eq!(gw.addr.to_string(), "198.18.0.2");
        assert_eq!(gw.block().to_string(), "198.18.0.0/24");
        assert_eq!(gw.to_string(), "198.18.0.2/24");
        assert_eq!(gw.family(), Family::V4);
        let v6 = Prefixed::parse("fd00:2::2/64").unwrap();
        assert_eq!(
            (v6.addr.to_string(), v6.block().to_string()),
            ("fd00:2::2".into(), "fd00:2::/64".into())
        );
        assert!(Prefixed::parse("198.18.0.2").is_none());
        assert!(Prefixed::parse("198.18.0.2/+8").is_none());
    }
}
