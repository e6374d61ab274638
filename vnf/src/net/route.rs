//! The routing table: connected routes (a VLAN's self IP and prefix length) and static routes
//! (`[[routes]]`, F5SPKStaticRoute), longest prefix first ([`super::lpm`]). A static route for
//! the same prefix as a connected one replaces it.

use super::config::VlanId;
use super::lpm::Lpm;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Where a routed packet goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NextHop {
    /// Output VLAN.
    pub vlan: VlanId,
    /// The gateway to resolve; None for a connected route (the destination itself).
    pub gateway: Option<IpAddr>,
}

/// Where a route comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RouteKind {
    Connected,
    Static,
}

/// One route, for `show route`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteEntry {
    /// Network address (host bits cleared).
    pub network: IpAddr,
    pub len: u8,
    pub next_hop: NextHop,
    pub kind: RouteKind,
}

/// IPv4 and IPv6 routes.
#[derive(Debug, Clone)]
pub struct RouteTable {
    v4: Lpm<(NextHop, RouteKind)>,
    v6: Lpm<(NextHop, RouteKind)>,
}

impl Default for RouteTable {
    fn default() -> Self {
        RouteTable {
            v4: Lpm::v4(),
            v6: Lpm::v6(),
        }
    }
}

impl RouteTable {
    /// Adds (or replaces) a route. Prefix lengths past the family's width are ignored (the
    /// config validation rejects them).
    pub fn insert(&mut self, dst: IpAddr, len: u8, nh: NextHop, kind: RouteKind) {
        let _ = match dst {
            IpAddr::V4(a) => self.v4.insert(u128::from(u32::from(a)), len, (nh, kind)),
            IpAddr::V6(a) => self.v6.insert(u128::from(a), len, (nh, kind)),
        };
    }

    /// The next hop towards an IPv4 destination: (output VLAN, address to resolve).
    #[inline]
    pub fn lookup_v4(&self, dst: Ipv4Addr) -> Option<(VlanId, IpAddr)> {
        let ((nh, _), _) = self.v4.lookup(u128::from(u32::from(dst)))?;
        Some((nh.vlan, nh.gateway.unwrap_or(IpAddr::V4(dst))))
    }

    /// The next hop towards an IPv6 destination: (output VLAN, address to resolve).
    #[inline]
    pub fn lookup_v6(&self, dst: &Ipv6Addr) -> Option<(VlanId, IpAddr)> {
        let ((nh, _), _) = self.v6.lookup(u128::from(*dst))?;
        Some((nh.vlan, nh.gateway.unwrap_or(IpAddr::V6(*dst))))
    }

    /// Every route: IPv4 then IPv6, longest prefix first.
    pub fn entries(&self) -> Vec<RouteEntry> {
        let v4 = self.v4.iter().map(|(n, len, (nh, kind))| RouteEntry {
            network: IpAddr::V4(Ipv4Addr::from(n as u32)),
            len,
            next_hop: nh,
            kind,
        });
        let v6 = self.v6.iter().map(|(n, len, (nh, kind))| RouteEntry {
            network: IpAddr::V6(Ipv6Addr::from(n)),
            len,
            next_hop: nh,
            kind,
        });
        v4.chain(v6).collect()
    }
}

/// Slots of the IPv4 and IPv6 route caches (powers of two).
const CACHE_V4: usize = 256;
const CACHE_V6: usize = 128;

/// One cached lookup: the destination and what [`RouteTable::lookup_v4`] /
/// [`RouteTable::lookup_v6`] returned for it (None: no route).
#[derive(Debug, Clone, Copy)]
struct Slot<K> {
    key: K,
    filled: bool,
    hop: Option<(VlanId, IpAddr)>,
}

/// A worker's direct-mapped cache of route lookups, keyed by destination address: a hit costs
/// a hash, one compare and a copy instead of a longest-prefix match over every prefix length.
///
/// The cache belongs to one [`super::Net`] and the route table of that `Net`'s configuration,
/// which never changes during the `Net`'s life (a new configuration makes a new `Net`, and so
/// an empty cache): an entry can never be stale, and a lookup returns exactly what the table
/// would. A slot holds the last destination that hashed to it (collisions replace it).
#[derive(Debug, Clone)]
pub struct RouteCache {
    v4: Box<[Slot<u32>; CACHE_V4]>,
    v6: Box<[Slot<u128>; CACHE_V6]>,
}

impl Default for RouteCache {
    fn default() -> Self {
        RouteCache {
            v4: Box::new(
                [Slot {
                    key: 0,
                    filled: false,
                    hop: None,
                }; CACHE_V4],
            ),
            v6: Box::new(
                [Slot {
                    key: 0,
                    filled: false,
                    hop: None,
                }; CACHE_V6],
            ),
        }
    }
}

impl RouteCache {
    /// [`RouteTable::lookup_v4`] through the cache (`table` must be the one the cache was
    /// used with since it was made).
    #[inline]
    pub fn lookup_v4(&mut self, table: &RouteTable, dst: Ipv4Addr) -> Option<(VlanId, IpAddr)> {
        let k = u32::from(dst);
        // Fibonacci hashing: the top bits of the product mix every bit of the address.
        let s = &mut self.v4[(k.wrapping_mul(0x9e37_79b9) >> 24) as usize % CACHE_V4];
        if !(s.filled && s.key == k) {
            *s = Slot {
                key: k,
                filled: true,
                hop: table.lookup_v4(dst),
            };
        }
        s.hop
    }

    /// [`RouteTable::lookup_v6`] through the cache.
    #[inline]
    pub fn lookup_v6(&mut self, table: &RouteTable, dst: &Ipv6Addr) -> Option<(VlanId, IpAddr)> {
        let k = u128::from(*dst);
        let folded = (k as u64) ^ ((k >> 64) as u64);
        let s =
            &mut self.v6[(folded.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 57) as usize % CACHE_V6];
        if !(s.filled && s.key == k) {
            *s = Slot {
                key: k,
                filled: true,
                hop: table.lookup_v6(dst),
            };
        }
        s.hop
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> RouteTable {
        let mut t = RouteTable::default();
        let nh = |vlan, gw: Option<IpAddr>| NextHop {
            vlan: VlanId(vlan),
            gateway: gw,
        };
        t.insert(
            "10.1.0.0".parse().unwrap(),
            16,
            nh(0, None),
            RouteKind::Connected,
        );
        t.insert(
            "10.2.0.0".parse().unwrap(),
            24,
            nh(1, None),
            RouteKind::Connected,
        );
        t.insert(
            "0.0.0.0".parse().unwrap(),
            0,
            nh(1, Some("10.2.0.1".parse().unwrap())),
            RouteKind::Static,
        );
        t.insert(
            "2001:db8:1::".parse().unwrap(),
            64,
            nh(0, None),
            RouteKind::Connected,
        );
        t.insert(
            "2001:db8:2::".parse().unwrap(),
            48,
            nh(1, Some("2001:db8:1::1".parse().unwrap())),
            RouteKind::Static,
        );
        t
    }

    /// The cache answers exactly as the table, on first use, on hits and after collisions
    /// (more destinations than slots).
    #[test]
    fn cache_answers_as_the_table() {
        let t = table();
        let mut c = RouteCache::default();
        for round in 0..3 {
            for i in 0..2000u32 {
                let a = Ipv4Addr::from(0x0a01_0000u32.wrapping_add(i.wrapping_mul(0x0001_0101)));
                assert_eq!(c.lookup_v4(&t, a), t.lookup_v4(a), "{a} round {round}");
                let b = Ipv6Addr::from(
                    0x2001_0db8_0002_0000_0000_0000_0000_0000u128 + (u128::from(i) << (i % 100)),
                );
                assert_eq!(c.lookup_v6(&t, &b), t.lookup_v6(&b), "{b} round {round}");
            }
        }
        // A miss of the table is answered (and cached) as a miss.
        let none: Ipv6Addr = "2001:db9::1".parse().unwrap();
        assert_eq!(c.lookup_v6(&t, &none), None);
        assert_eq!(c.lookup_v6(&t, &none), None);
    }
}
