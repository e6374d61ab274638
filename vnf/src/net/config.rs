//! The network configuration of one VNF (one TMM): VLANs, our addresses, routes, and the knobs
//! of the neighbour table and of ICMP errors. Built once from the [`VnfConfig`] (already narrowed
//! to this TMM) and the MAC addresses of the ports; read-only afterwards and shared by every
//! worker.
//!
//! Addresses that are "ours" on a VLAN: its self IPv4/IPv6, and on an external VLAN also the
//! SNAT pool addresses of this TMM (`snat.pool_v4`/`pool_v6`), which ARP and NDP answer for. ICMP
//! echo is answered only for self IPs: traffic to a SNAT address belongs to NAT.

use super::lpm::Lpm;
use super::route::{NextHop, RouteKind, RouteTable};
use crate::wire::EthernetAddress;
use egress_config::{parse_port_name, VnfConfig};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Index of a VLAN in [`NetConfig::vlans`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct VlanId(pub u16);

/// One VLAN as the data path sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vlan {
    pub name: String,
    /// DPDK port ids of the VLAN's interfaces; packets leave by the first one.
    pub ports: Vec<u16>,
    /// 802.1Q id; None = untagged.
    pub tag: Option<u16>,
    pub mtu: u16,
    /// The pods' side.
    pub internal: bool,
    /// MAC address of the (first) port: source of everything we send on this VLAN.
    pub mac: EthernetAddress,
    /// Self IPv4 and its prefix length.
    pub self_v4: Option<(Ipv4Addr, u8)>,
    /// Self IPv6 and its prefix length.
    pub self_v6: Option<(Ipv6Addr, u8)>,
    /// Further IPv4 addresses ARP answers for (the SNAT pool on an external VLAN).
    pub extra_v4: Vec<Ipv4Addr>,
    /// Further IPv6 addresses NDP answers for.
    pub extra_v6: Vec<Ipv6Addr>,
}

impl Vlan {
    /// The port packets leave by.
    #[inline]
    pub fn out_port(&self) -> u16 {
        self.ports.first().copied().unwrap_or(0)
    }

    /// Whether `a` is an IPv4 address ARP answers for on this VLAN.
    #[inline]
    pub fn owns_v4(&self, a: Ipv4Addr) -> bool {
        self.self_v4.is_some_and(|(s, _)| s == a) || self.extra_v4.contains(&a)
    }

    /// Whether `a` is an IPv6 address NDP answers for on this VLAN.
    #[inline]
    pub fn owns_v6(&self, a: &Ipv6Addr) -> bool {
        self.self_v6.is_some_and(|(s, _)| s == *a) || self.extra_v6.contains(a)
    }

    /// Every IPv4 address of ours on this VLAN (self IP first).
    pub fn addrs_v4(&self) -> impl Iterator<Item = Ipv4Addr> + '_ {
        self.self_v4
            .map(|(a, _)| a)
            .into_iter()
            .chain(self.extra_v4.iter().copied())
    }

    /// Every IPv6 address of ours on this VLAN (self IP first).
    pub fn addrs_v6(&self) -> impl Iterator<Item = Ipv6Addr> + '_ {
        self.self_v6
            .map(|(a, _)| a)
            .into_iter()
            .chain(self.extra_v6.iter().copied())
    }
}

/// Neighbour table knobs (per worker). Defaults follow RFC 4861 section 10 where it has one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NeighConfig {
    /// Entries per worker (preallocated).
    pub capacity: usize,
    /// Packets that may wait for one unresolved neighbour.
    pub queue_len: usize,
    /// An entry is REACHABLE this long after a confirmation (RFC 4861 REACHABLE_TIME 30 s).
    pub reachable_ms: u64,
    /// Interval between ARP requests / Neighbor Solicitations (RFC 4861 RETRANS_TIMER 1 s).
    pub retrans_ms: u64,
    /// Requests before giving up (RFC 4861 MAX_MULTICAST_SOLICIT / MAX_UNICAST_SOLICIT 3).
    pub max_probes: u8,
    /// A STALE entry unused for this long is removed.
    pub gc_stale_ms: u64,
    /// Entries examined per call of the timer walk (bounded work per loop).
    pub timer_budget: usize,
}

impl Default for NeighConfig {
    fn default() -> Self {
        NeighConfig {
            capacity: 4096,
            queue_len: 8,
            reachable_ms: 30_000,
            retrans_ms: 1_000,
            max_probes: 3,
            gc_stale_ms: 120_000,
            timer_budget: 64,
        }
    }
}

/// ICMP error knobs (per worker).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IcmpConfig {
    /// Token-bucket rate of ICMP/ICMPv6 errors, per second (RFC 4443 section 2.4 (f)).
    pub errors_per_sec: u32,
    /// Bucket depth (burst).
    pub burst: u32,
    /// TTL / hop limit of the packets the VNF originates.
    pub hop_limit: u8,
}

impl Default for IcmpConfig {
    fn default() -> Self {
        IcmpConfig {
            errors_per_sec: 100,
            burst: 20,
            hop_limit: 64,
        }
    }
}

/// The network configuration, shared read-only by every worker.
#[derive(Debug, Clone)]
pub struct NetConfig {
    pub vlans: Vec<Vlan>,
    pub routes: RouteTable,
    pub neigh: NeighConfig,
    pub icmp: IcmpConfig,
    /// (port, tag or 0) -> VLAN, for L2 input.
    by_port_tag: Vec<(u16, u16, VlanId)>,
    /// Self IPs of every VLAN (ICMP echo is answered for these).
    self_v4: Vec<Ipv4Addr>,
    self_v6: Vec<Ipv6Addr>,
    /// Every address of ours (self IPs and SNAT pool addresses).
    local_v4: Vec<Ipv4Addr>,
    local_v6: Vec<Ipv6Addr>,
    /// Directed broadcast addresses of the VLANs' IPv4 subnets (prefixes shorter than /31).
    bcast_v4: Vec<u32>,
}

/// A configuration problem: the field and what is wrong.
pub type NetConfigError = (String, String);

impl NetConfig {
    /// Builds the network configuration. `port_macs[i]` is the MAC address of DPDK port `i`.
    /// Errors name the config field (a VLAN on a port that does not exist, a static route whose
    /// gateway is on no VLAN subnet).
    pub fn from_config(
        cfg: &VnfConfig,
        port_macs: &[[u8; 6]],
    ) -> Result<NetConfig, NetConfigError> {
        let mut vlans = Vec::new();
        let mut by_port_tag = Vec::new();
        for (i, v) in cfg.vlans.iter().enumerate() {
            let mut ports = Vec::new();
            for name in &v.interfaces {
                let id = parse_port_name(name)
                    .filter(|id| usize::from(*id) < port_macs.len())
                    .ok_or_else(|| {
                        (
                            format!("vlans[{i}].interfaces"),
                            format!("port {name} does not exist ({} port(s))", port_macs.len()),
                        )
                    })?;
                ports.push(id);
                by_port_tag.push((id, v.tag, VlanId(i as u16)));
            }
            let mac = ports
                .first()
                .and_then(|p| port_macs.get(usize::from(*p)))
                .copied()
                .unwrap_or_default();
            let external = !v.internal;
            vlans.push(Vlan {
                name: v.name.clone(),
                ports,
                tag: (v.tag != 0).then_some(v.tag),
                mtu: v.mtu,
                internal: v.internal,
                mac: EthernetAddress(mac),
                self_v4: v.self_v4.zip(v.prefixlen_v4),
                self_v6: v.self_v6.zip(v.prefixlen_v6),
                extra_v4: if external {
                    cfg.snat
                        .pool_v4
                        .iter()
                        .copied()
                        .filter(|a| Some(*a) != v.self_v4)
                        .collect()
                } else {
                    Vec::new()
                },
                extra_v6: if external {
                    cfg.snat
                        .pool_v6
                        .iter()
                        .copied()
                        .filter(|a| Some(*a) != v.self_v6)
                        .collect()
                } else {
                    Vec::new()
                },
            });
        }
        let routes = build_routes(cfg, &vlans)?;
        let mut self_v4: Vec<Ipv4Addr> = vlans
            .iter()
            .filter_map(|v| v.self_v4.map(|s| s.0))
            .collect();
        let mut self_v6: Vec<Ipv6Addr> = vlans
            .iter()
            .filter_map(|v| v.self_v6.map(|s| s.0))
            .collect();
        let mut local_v4: Vec<Ipv4Addr> = vlans.iter().flat_map(|v| v.addrs_v4()).collect();
        let mut local_v6: Vec<Ipv6Addr> = vlans.iter().flat_map(|v| v.addrs_v6()).collect();
        for v in [&mut self_v4, &mut local_v4] {
            v.sort_unstable();
            v.dedup();
        }
        for v in [&mut self_v6, &mut local_v6] {
            v.sort_unstable();
            v.dedup();
        }
        let mut bcast_v4: Vec<u32> = vlans
            .iter()
            .filter_map(|v| match v.self_v4 {
                Some((a, len)) if len < 31 => Some(u32::from(a) | (u32::MAX >> len)),
                _ => None,
            })
            .collect();
        bcast_v4.sort_unstable();
        bcast_v4.dedup();
        Ok(NetConfig {
            bcast_v4,
            vlans,
            routes,
            neigh: NeighConfig::default(),
            icmp: IcmpConfig::default(),
            by_port_tag,
            self_v4,
            self_v6,
            local_v4,
            local_v6,
        })
    }

    /// The VLAN of a frame received on `port` with 802.1Q id `tag` (None = untagged).
    #[inline]
    pub fn vlan_of(&self, port: u16, tag: Option<u16>) -> Option<VlanId> {
        let tag = tag.unwrap_or(0);
        self.by_port_tag
            .iter()
            .find(|(p, t, _)| *p == port && *t == tag)
            .map(|(_, _, v)| *v)
    }

    /// A VLAN by id.
    #[inline]
    pub fn vlan(&self, id: VlanId) -> Option<&Vlan> {
        self.vlans.get(usize::from(id.0))
    }

    /// Whether `a` is a self IPv4 address (of any VLAN).
    #[inline]
    pub fn is_self_v4(&self, a: Ipv4Addr) -> bool {
        // One self IP per VLAN: a short scan of integers beats a binary search.
        let k = u32::from(a);
        self.self_v4.iter().any(|x| u32::from(*x) == k)
    }

    /// Whether `a` is a self IPv6 address (of any VLAN).
    #[inline]
    pub fn is_self_v6(&self, a: &Ipv6Addr) -> bool {
        // Compared as integers (the same order as the addresses' bytes), not byte by byte.
        let k = u128::from(*a);
        self.self_v6.iter().any(|x| u128::from(*x) == k)
    }

    /// Whether `a` is the directed broadcast address of a VLAN's IPv4 subnet (a prefix
    /// shorter than /31: all host bits set).
    #[inline]
    pub fn is_subnet_broadcast_v4(&self, a: Ipv4Addr) -> bool {
        let k = u32::from(a);
        self.bcast_v4.contains(&k)
    }

    /// Whether `a` is any IPv4 address of ours (self IP or SNAT address).
    #[inline]
    pub fn is_local_v4(&self, a: Ipv4Addr) -> bool {
        let k = u32::from(a);
        self.local_v4
            .binary_search_by_key(&k, |x| u32::from(*x))
            .is_ok()
    }

    /// Whether `a` is any IPv6 address of ours (self IP or SNAT address).
    #[inline]
    pub fn is_local_v6(&self, a: &Ipv6Addr) -> bool {
        let k = u128::from(*a);
        self.local_v6
            .binary_search_by_key(&k, |x| u128::from(*x))
            .is_ok()
    }

    /// The source address for a packet we originate on `vlan`: its self IPv4, else the first
    /// self IPv4 of any VLAN.
    pub fn source_v4(&self, vlan: VlanId) -> Option<Ipv4Addr> {
        self.vlan(vlan)
            .and_then(|v| v.self_v4.map(|s| s.0))
            .or_else(|| self.self_v4.first().copied())
    }

    /// As [`source_v4`](Self::source_v4) for IPv6.
    pub fn source_v6(&self, vlan: VlanId) -> Option<Ipv6Addr> {
        self.vlan(vlan)
            .and_then(|v| v.self_v6.map(|s| s.0))
            .or_else(|| self.self_v6.first().copied())
    }
}

/// Connected routes from the VLANs' prefixes, then the static routes, whose gateways must be on
/// a connected subnet (they are resolved by ARP/NDP on that VLAN).
fn build_routes(cfg: &VnfConfig, vlans: &[Vlan]) -> Result<RouteTable, NetConfigError> {
    let mut t = RouteTable::default();
    let mut connected_v4: Lpm<VlanId> = Lpm::v4();
    let mut connected_v6: Lpm<VlanId> = Lpm::v6();
    for (i, v) in vlans.iter().enumerate() {
        let id = VlanId(i as u16);
        if let Some((a, len)) = v.self_v4 {
            let nh = NextHop {
                vlan: id,
                gateway: None,
            };
            t.insert(IpAddr::V4(a), len, nh, RouteKind::Connected);
            let _ = connected_v4.insert(u128::from(u32::from(a)), len, id);
        }
        if let Some((a, len)) = v.self_v6 {
            let nh = NextHop {
                vlan: id,
                gateway: None,
            };
            t.insert(IpAddr::V6(a), len, nh, RouteKind::Connected);
            let _ = connected_v6.insert(u128::from(a), len, id);
        }
    }
    for (i, r) in cfg.routes.iter().enumerate() {
        let vlan = match r.gateway {
            IpAddr::V4(g) => connected_v4.lookup(u128::from(u32::from(g))),
            IpAddr::V6(g) => connected_v6.lookup(u128::from(g)),
        };
        let Some((vlan, _)) = vlan else {
            return Err((
                format!("routes[{i}].gateway"),
                format!(
                    "{} is on no VLAN subnet (a gateway must be on a connected subnet: self IP and prefix length of a VLAN)",
                    r.gateway
                ),
            ));
        };
        let nh = NextHop {
            vlan,
            gateway: Some(r.gateway),
        };
        t.insert(r.destination, r.prefix_len, nh, RouteKind::Static);
    }
    Ok(t)
}
