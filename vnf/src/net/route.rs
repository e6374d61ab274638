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
