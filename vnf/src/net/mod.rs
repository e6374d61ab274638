//! The network layer of the VNF: VLANs, our addresses, ARP/NDP (responder and resolver), the
//! neighbour table, routes (longest-prefix match), ICMP echo and Time Exceeded.
//!
//! A pure module (docs/datapath.md): it imports `wire`, `frame`, `action` and `drop`, never
//! `rte`, `datapath` or `slowpath`, and is tested on [`crate::frame::VecFrame`]. The data path
//! calls one [`Net`] method per pipeline stage:
//!
//! 1. [`Net::l2_input`]: Ethernet + 802.1Q → VLAN; ARP handled here; IPv4/IPv6 headers
//!    validated (RFC 791/8200 lengths, IPv4 header checksum), the L2 header removed and the
//!    Ethernet padding trimmed.
//! 2. [`Net::local_input`]: ICMP/ICMPv6 echo to a self IP and Neighbor Discovery (RFC 4861).
//! 3. [`Net::ttl_check`]: a packet that would be forwarded with TTL/hop limit <= 1 is dropped
//!    and gets an ICMP Time Exceeded (rate-limited, RFC 4443 2.4 (f); never about an ICMP error).
//! 4. (features: `dns`, `nat`)
//! 5. [`Net::forward`]: TTL/hop limit decremented once, route lookup, neighbour lookup (the
//!    packet waits in the neighbour's queue while an ARP request / NS is out), L2 header of the
//!    output VLAN.
//!
//! Besides the packet, stages act through a [`NetIo`]: new frames come from its allocator and
//! complete Ethernet frames leave through [`NetIo::send`] (ARP requests, NS, released packets,
//! ICMP errors). [`Net::poll`] runs the neighbour timers; [`Net::announce`] sends gratuitous
//! ARP and unsolicited NA for our addresses.
//!
//! `now` is milliseconds of a monotonic clock. Nothing here allocates after [`Net::new`].

pub mod arp;
pub mod config;
pub mod icmp;
pub mod l2;
pub mod lpm;
pub mod ndp;
pub mod neigh;
pub mod route;

#[cfg(test)]
mod tests;

pub use config::{IcmpConfig, NeighConfig, NetConfig, Vlan, VlanId};
pub use neigh::{NeighCounters, NeighKey, NeighState, NeighTable, NeighView};
pub use route::{NextHop, RouteCache, RouteEntry, RouteKind, RouteTable};

use crate::action::{FrameAlloc, Outcome};
use crate::drop::DropReason;
use crate::frame::Frame;
use crate::wire::{
    parse_l2, ArpOperation, ArpPacket, ArpRepr, EtherType, EthernetAddress, EthernetFrame,
    Icmpv6Message, Icmpv6Packet, Icmpv6Repr, IpProtocol, Ipv4Packet, Ipv6Packet,
    NdiscNeighborFlags, NdiscRepr, WireError,
};
use icmp::RateLimiter;
use neigh::{NeighEvent, Resolve};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

/// What the network layer needs from the data path besides the packet.
pub trait NetIo<F: Frame>: FrameAlloc<Frame = F> {
    /// Transmits a complete Ethernet frame on `port` (buffered; a full queue is the data
    /// path's counted drop).
    fn send(&mut self, port: u16, frame: F);
    /// A packet the layer kept (waiting for a neighbour) is dropped: count and free it.
    fn discard(&mut self, frame: F, reason: DropReason);
    /// A neighbour answered us: other workers may apply the same update
    /// ([`Net::apply_update`]). Default: nothing (one worker).
    fn neigh_learned(&mut self, _update: NeighUpdate) {}
}

/// A confirmed neighbour, to share with other workers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NeighUpdate {
    pub key: NeighKey,
    pub mac: EthernetAddress,
}

/// Where a packet came from (kept by the data path between stages).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RxMeta {
    /// Input port (DPDK port id).
    pub port: u16,
    pub vlan: VlanId,
    /// Ethernet source: where replies go.
    pub src_mac: EthernetAddress,
    /// The destination is a self IP of any VLAN (learnt once by [`Net::l2_input`] for
    /// [`Net::local_input`] and [`Net::ttl_check`], which must get this packet's meta).
    pub to_self: bool,
}

/// The result of [`Net::l2_input`].
#[derive(Debug)]
pub enum L2Input<F> {
    /// An IPv4/IPv6 packet, L2 header removed, headers validated, padding trimmed.
    Ip(F, RxMeta),
    /// A complete Ethernet frame to send back out of the input port (an ARP reply).
    Reply(F),
    /// Handled, nothing to send (an ARP reply that resolved a neighbour).
    Done,
    /// Dropped: count the reason, free the frame.
    Drop(F, DropReason),
}

/// The result of [`Net::forward`].
#[derive(Debug)]
pub enum Forward<F> {
    /// A complete Ethernet frame for this port.
    Tx(u16, F),
    /// Waiting for the next hop's MAC address.
    Held,
    Drop(F, DropReason),
}

/// Counters of one worker's network layer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct NetCounters {
    pub arp_requests_in: u64,
    pub arp_replies_in: u64,
    pub arp_replies_sent: u64,
    pub arp_requests_sent: u64,
    pub ns_in: u64,
    pub na_in: u64,
    pub na_sent: u64,
    pub ns_sent: u64,
    pub echo_replies: u64,
    pub icmp_errors_sent: u64,
    /// Errors not sent: rate limit.
    pub icmp_errors_rate_limited: u64,
    /// Errors not sent: about an ICMP error, a non-unicast source or a non-first fragment.
    pub icmp_errors_suppressed: u64,
    pub announcements: u64,
    /// New frames that could not be allocated (or built).
    pub alloc_failures: u64,
    pub neigh: NeighCounters,
}

impl NetCounters {
    /// Names of [`to_array`](Self::to_array)'s values, in order.
    pub const NAMES: [&'static str; 22] = [
        "arp_requests_in",
        "arp_replies_in",
        "arp_replies_sent",
        "arp_requests_sent",
        "ns_in",
        "na_in",
        "na_sent",
        "ns_sent",
        "echo_replies",
        "icmp_errors_sent",
        "icmp_errors_rate_limited",
        "icmp_errors_suppressed",
        "announcements",
        "alloc_failures",
        "neigh_created",
        "neigh_resolved",
        "neigh_timeouts",
        "neigh_removed",
        "neigh_table_full",
        "neigh_queue_full",
        "neigh_released",
        "neigh_entries",
    ];

    /// Every counter as a plain array (for lock-free publication); the last value is filled
    /// by the caller with the number of entries, or left 0.
    pub fn to_array(&self) -> [u64; 22] {
        let n = &self.neigh;
        [
            self.arp_requests_in,
            self.arp_replies_in,
            self.arp_replies_sent,
            self.arp_requests_sent,
            self.ns_in,
            self.na_in,
            self.na_sent,
            self.ns_sent,
            self.echo_replies,
            self.icmp_errors_sent,
            self.icmp_errors_rate_limited,
            self.icmp_errors_suppressed,
            self.announcements,
            self.alloc_failures,
            n.created,
            n.resolved,
            n.timeouts,
            n.removed,
            n.table_full,
            n.queue_full,
            n.released,
            0,
        ]
    }
}

/// One worker's network layer.
pub struct Net<F> {
    cfg: Arc<NetConfig>,
    neigh: NeighTable<F>,
    /// Route lookups of this worker, cached per destination (of `cfg.routes`, which never
    /// changes during the life of a `Net`).
    routes: RouteCache,
    limiter: RateLimiter,
    counters: NetCounters,
}

fn v4_drop(e: WireError) -> DropReason {
    match e {
        WireError::Truncated => DropReason::Ipv4Truncated,
        WireError::BadVersion => DropReason::Ipv4BadVersion,
        WireError::BadHeaderLen => DropReason::Ipv4BadHeaderLen,
        WireError::BadChecksum => DropReason::Ipv4BadChecksum,
        _ => DropReason::Ipv4BadLength,
    }
}

fn v6_drop(e: WireError) -> DropReason {
    match e {
        WireError::Truncated => DropReason::Ipv6Truncated,
        WireError::BadVersion => DropReason::Ipv6BadVersion,
        _ => DropReason::Ipv6BadLength,
    }
}

/// Whether an IPv4 destination is a broadcast or multicast address (limited broadcast,
/// 224.0.0.0/4, or the directed broadcast of a VLAN subnet).
#[inline]
fn v4_multi(cfg: &NetConfig, dst: Ipv4Addr) -> bool {
    dst.is_broadcast() || dst.is_multicast() || cfg.is_subnet_broadcast_v4(dst)
}

impl<F: Frame> Net<F> {
    /// A worker's network layer; the neighbour table is preallocated here.
    pub fn new(cfg: Arc<NetConfig>) -> Net<F> {
        Net {
            neigh: NeighTable::new(cfg.neigh),
            routes: RouteCache::default(),
            limiter: RateLimiter::new(cfg.icmp.errors_per_sec, cfg.icmp.burst),
            counters: NetCounters::default(),
            cfg,
        }
    }

    pub fn config(&self) -> &NetConfig {
        &self.cfg
    }

    /// Counters (with the neighbour table's).
    pub fn counters(&self) -> NetCounters {
        NetCounters {
            neigh: self.neigh.counters(),
            ..self.counters
        }
    }

    /// The neighbour table's entries.
    pub fn neighbours(&self, now: u64) -> impl Iterator<Item = NeighView> + '_ {
        self.neigh.iter(now)
    }

    // ---- stage 1: L2 ----

    /// Parses the Ethernet header and 802.1Q tag of a frame received on `port`, finds its VLAN,
    /// handles ARP, and returns IPv4/IPv6 packets at L3 with their headers validated.
    pub fn l2_input<E: NetIo<F>>(
        &mut self,
        mut frame: F,
        port: u16,
        now: u64,
        io: &mut E,
    ) -> L2Input<F> {
        let Ok(info) = parse_l2(frame.data()) else {
            return L2Input::Drop(frame, DropReason::L2Truncated);
        };
        let vlan_id = match (info.inner_vid, self.cfg.vlan_of(port, info.outer_vid)) {
            (None, Some(v)) => v,
            _ => return L2Input::Drop(frame, DropReason::UnknownVlan),
        };
        let eth = EthernetFrame::new_unchecked(frame.data());
        let (dst, src) = (eth.dst_addr(), eth.src_addr());
        let Some(vlan) = self.cfg.vlan(vlan_id) else {
            return L2Input::Drop(frame, DropReason::UnknownVlan);
        };
        if dst != vlan.mac && !dst.is_multicast() {
            return L2Input::Drop(frame, DropReason::L2OtherHost);
        }
        match info.ethertype {
            EtherType::Arp => self.arp_input(frame, info.l3_offset, vlan_id, now, io),
            EtherType::Ipv4 | EtherType::Ipv6 => {
                if frame.adj(info.l3_offset).is_err() {
                    return L2Input::Drop(frame, DropReason::L2Truncated);
                }
                let (len, to_self) = if info.ethertype == EtherType::Ipv4 {
                    // Lengths (RFC 791), then the header checksum.
                    let ip = match Ipv4Packet::new_verified(frame.data()) {
                        Ok(ip) => ip,
                        Err(e) => return L2Input::Drop(frame, v4_drop(e)),
                    };
                    let to_self = self.cfg.is_self_v4(ip.dst_addr());
                    (usize::from(ip.total_len()), to_self)
                } else {
                    match Ipv6Packet::new_checked(frame.data()) {
                        Ok(ip) => (
                            crate::wire::ipv6::HEADER_LEN + usize::from(ip.payload_len()),
                            self.cfg.is_self_v6(&ip.dst_addr()),
                        ),
                        Err(e) => return L2Input::Drop(frame, v6_drop(e)),
                    }
                };
                let meta = RxMeta {
                    port,
                    vlan: vlan_id,
                    src_mac: src,
                    to_self,
                };
                // Ethernet padding after the datagram goes (the checks above made len <= frame).
                if len != frame.len() && frame.set_len(len).is_err() {
                    return L2Input::Drop(frame, DropReason::L2Truncated);
                }
                L2Input::Ip(frame, meta)
            }
            _ => L2Input::Drop(frame, DropReason::UnsupportedEthertype),
        }
    }

    // Out of line: keeps the IP path of `l2_input` small.
    #[cold]
    #[inline(never)]
    fn arp_input<E: NetIo<F>>(
        &mut self,
        mut frame: F,
        l3: usize,
        vlan_id: VlanId,
        now: u64,
        io: &mut E,
    ) -> L2Input<F> {
        let parsed = frame
            .data()
            .get(l3..)
            .ok_or(WireError::Truncated)
            .and_then(|b| ArpRepr::parse(&ArpPacket::new_checked(b)?));
        let Ok(req) = parsed else {
            return L2Input::Drop(frame, DropReason::ArpMalformed);
        };
        let Some(vlan) = self.cfg.vlan(vlan_id) else {
            return L2Input::Drop(frame, DropReason::UnknownVlan);
        };
        let for_us = vlan.owns_v4(req.target_protocol_addr);
        let is_reply = req.operation == ArpOperation::Reply;
        match req.operation {
            ArpOperation::Request if for_us => self.counters.arp_requests_in += 1,
            ArpOperation::Reply if for_us => self.counters.arp_replies_in += 1,
            _ => {}
        }
        // RFC 826 merge: update a known sender; add it when the packet is for us.
        let sender = req.source_protocol_addr;
        if icmp::unicast_v4(sender) && !vlan.owns_v4(sender) {
            let key = NeighKey {
                vlan: vlan_id,
                addr: IpAddr::V4(sender),
            };
            let mac = req.source_hardware_addr;
            self.learn(key, mac, now, is_reply && for_us, true, for_us, io);
            if is_reply && for_us {
                io.neigh_learned(NeighUpdate { key, mac });
            }
        }
        if !for_us {
            return L2Input::Drop(frame, DropReason::ArpNotForUs);
        }
        match req.operation {
            ArpOperation::Request => {
                let Some(vlan) = self.cfg.vlan(vlan_id) else {
                    return L2Input::Drop(frame, DropReason::UnknownVlan);
                };
                let ans = arp::reply(vlan, &req);
                if arp::write_frame(&mut frame, vlan, req.source_hardware_addr, &ans) {
                    self.counters.arp_replies_sent += 1;
                    L2Input::Reply(frame)
                } else {
                    L2Input::Drop(frame, DropReason::ArpMalformed)
                }
            }
            ArpOperation::Reply => L2Input::Done,
            _ => L2Input::Drop(frame, DropReason::ArpMalformed),
        }
    }

    /// Learns a neighbour and sends the packets that waited for it.
    #[allow(clippy::too_many_arguments)]
    fn learn<E: NetIo<F>>(
        &mut self,
        key: NeighKey,
        mac: EthernetAddress,
        now: u64,
        confirmed: bool,
        override_mac: bool,
        create: bool,
        io: &mut E,
    ) {
        let Some(vlan) = self.cfg.vlan(key.vlan) else {
            return;
        };
        if let Some(released) = self
            .neigh
            .learn(key, mac, now, confirmed, override_mac, create)
        {
            for mut pkt in released {
                let et = l2::ethertype_of(pkt.data());
                match l2::encap(&mut pkt, vlan, mac, et) {
                    Ok(()) => io.send(vlan.out_port(), pkt),
                    Err(r) => io.discard(pkt, r),
                }
            }
        }
    }

    /// Applies a neighbour update from another worker (only to entries this worker has).
    pub fn apply_update<E: NetIo<F>>(&mut self, u: NeighUpdate, now: u64, io: &mut E) {
        self.learn(u.key, u.mac, now, true, true, false, io);
    }

    // ---- stage 2: for us ----

    /// ICMP/ICMPv6 echo to a self IP (answered in place: `Reply`), Neighbor Discovery
    /// (NS answered in place; NA consumed: `Held`), malformed ICMP to us (`Drop`); anything
    /// else is `Pass`.
    #[inline]
    pub fn local_input<E: NetIo<F>>(
        &mut self,
        pkt: F,
        meta: &RxMeta,
        now: u64,
        io: &mut E,
    ) -> Outcome<F> {
        // Traffic to forward (the common case) passes here: IPv4 not to a self IP; IPv6 not to
        // a self IP and not ICMPv6 (Neighbor Discovery is also sent to multicast addresses).
        if !meta.to_self {
            let pass = match l2::ethertype_of(pkt.data()) {
                EtherType::Ipv4 => true,
                _ => Ipv6Packet::new_unchecked(pkt.data()).next_header() != IpProtocol::Icmpv6,
            };
            if pass {
                return Outcome::Pass(pkt);
            }
        }
        self.local_icmp(pkt, meta, now, io)
    }

    /// [`local_input`](Self::local_input) for a packet to a self IP or an ICMPv6 packet.
    #[inline(never)]
    fn local_icmp<E: NetIo<F>>(
        &mut self,
        mut pkt: F,
        meta: &RxMeta,
        now: u64,
        io: &mut E,
    ) -> Outcome<F> {
        let hop = self.cfg.icmp.hop_limit;
        match l2::ethertype_of(pkt.data()) {
            EtherType::Ipv4 => {
                if !meta.to_self {
                    return Outcome::Pass(pkt);
                }
                let ip = Ipv4Packet::new_unchecked(pkt.data());
                if ip.next_header() != IpProtocol::Icmp || ip.is_fragment() {
                    return Outcome::Pass(pkt);
                }
                let r = icmp::echo_reply_v4(&mut pkt, hop);
                self.echo_outcome(r, pkt)
            }
            _ => {
                let ip = Ipv6Packet::new_unchecked(pkt.data());
                if ip.next_header() != IpProtocol::Icmpv6 {
                    return Outcome::Pass(pkt);
                }
                let kind = ip.payload().first().copied().map(Icmpv6Message::from);
                match kind {
                    Some(Icmpv6Message::NeighborSolicit | Icmpv6Message::NeighborAdvert) => {
                        self.ndp_input(pkt, meta, now, io)
                    }
                    Some(
                        Icmpv6Message::RouterSolicit
                        | Icmpv6Message::RouterAdvert
                        | Icmpv6Message::Redirect,
                    ) => Outcome::Drop(pkt, DropReason::IcmpNotHandled),
                    _ if meta.to_self => {
                        let r = icmp::echo_reply_v6(&mut pkt, hop);
                        self.echo_outcome(r, pkt)
                    }
                    _ => Outcome::Pass(pkt),
                }
            }
        }
    }

    /// The outcome of answering an echo request to a self IP (IPv4 or IPv6): the reply, a
    /// counted drop, or `Pass` when the message was not an echo request.
    fn echo_outcome(&mut self, r: Result<(), icmp::EchoError>, pkt: F) -> Outcome<F> {
        match r {
            Ok(()) => {
                self.counters.echo_replies += 1;
                Outcome::Reply(pkt)
            }
            Err(icmp::EchoError::Truncated) => Outcome::Drop(pkt, DropReason::IcmpTruncated),
            Err(icmp::EchoError::BadChecksum) => Outcome::Drop(pkt, DropReason::IcmpBadChecksum),
            Err(icmp::EchoError::NotEcho) => Outcome::Pass(pkt),
        }
    }

    #[cold]
    #[inline(never)]
    fn ndp_input<E: NetIo<F>>(
        &mut self,
        mut pkt: F,
        meta: &RxMeta,
        now: u64,
        io: &mut E,
    ) -> Outcome<F> {
        let ip = Ipv6Packet::new_unchecked(pkt.data());
        let (src, dst) = (ip.src_addr(), ip.dst_addr());
        if ip.hop_limit() != 255 {
            return Outcome::Drop(pkt, DropReason::NdpInvalid);
        }
        let Ok(msg) = Icmpv6Packet::new_checked(ip.payload()) else {
            return Outcome::Drop(pkt, DropReason::IcmpTruncated);
        };
        let nd = match Icmpv6Repr::parse(&src, &dst, &msg) {
            Ok(Icmpv6Repr::Ndisc(nd)) => nd,
            Ok(_) | Err(WireError::Unsupported) => {
                return Outcome::Drop(pkt, DropReason::NdpInvalid)
            }
            Err(WireError::BadChecksum) => return Outcome::Drop(pkt, DropReason::IcmpBadChecksum),
            Err(WireError::Truncated) => return Outcome::Drop(pkt, DropReason::IcmpTruncated),
            Err(_) => return Outcome::Drop(pkt, DropReason::NdpInvalid),
        };
        let Some(vlan) = self.cfg.vlan(meta.vlan) else {
            return Outcome::Drop(pkt, DropReason::UnknownVlan);
        };
        match nd {
            NdiscRepr::NeighborSolicit {
                target_addr,
                lladdr,
            } => {
                self.counters.ns_in += 1;
                if !vlan.owns_v6(&target_addr) {
                    return Outcome::Drop(pkt, DropReason::NdpNotForUs);
                }
                // RFC 4861 7.1.1: from the unspecified address, to a solicited-node address,
                // without a source link-layer address option.
                if src.is_unspecified()
                    && (lladdr.is_some() || dst != ndp::solicited_node(&target_addr))
                {
                    return Outcome::Drop(pkt, DropReason::NdpInvalid);
                }
                if !icmp::unicast_v6(&src) && !src.is_unspecified() {
                    return Outcome::Drop(pkt, DropReason::NdpInvalid);
                }
                if let (Some(mac), false) = (lladdr, src.is_unspecified()) {
                    let key = NeighKey {
                        vlan: meta.vlan,
                        addr: IpAddr::V6(src),
                    };
                    self.learn(key, mac, now, false, true, true, io);
                }
                let Some(vlan) = self.cfg.vlan(meta.vlan) else {
                    return Outcome::Drop(pkt, DropReason::UnknownVlan);
                };
                if ndp::advert_in_place(&mut pkt, vlan, target_addr, src) {
                    self.counters.na_sent += 1;
                    Outcome::Reply(pkt)
                } else {
                    Outcome::Drop(pkt, DropReason::NdpInvalid)
                }
            }
            NdiscRepr::NeighborAdvert {
                flags,
                target_addr,
                lladdr,
            } => {
                self.counters.na_in += 1;
                // RFC 4861 7.1.2: a solicited advertisement is never sent to a multicast address.
                if flags.contains(NdiscNeighborFlags::SOLICITED) && dst.is_multicast() {
                    return Outcome::Drop(pkt, DropReason::NdpInvalid);
                }
                if vlan.owns_v6(&target_addr) {
                    return Outcome::Drop(pkt, DropReason::NdpNotForUs);
                }
                if let Some(mac) = lladdr {
                    let key = NeighKey {
                        vlan: meta.vlan,
                        addr: IpAddr::V6(target_addr),
                    };
                    let solicited = flags.contains(NdiscNeighborFlags::SOLICITED);
                    let override_mac = flags.contains(NdiscNeighborFlags::OVERRIDE);
                    self.learn(key, mac, now, solicited, override_mac, false, io);
                    if solicited {
                        io.neigh_learned(NeighUpdate { key, mac });
                    }
                }
                // Consumed.
                drop(pkt);
                Outcome::Held
            }
            _ => Outcome::Drop(pkt, DropReason::NdpInvalid),
        }
    }

    /// The L2 header for a `Reply` of [`local_input`](Self::local_input): back to the sender's
    /// MAC (or the multicast MAC of an IPv6 multicast destination), out of the input port.
    pub fn encap_reply(&self, mut pkt: F, meta: &RxMeta) -> Result<(u16, F), (F, DropReason)> {
        let Some(vlan) = self.cfg.vlan(meta.vlan) else {
            return Err((pkt, DropReason::UnknownVlan));
        };
        let et = l2::ethertype_of(pkt.data());
        let dst = match et {
            EtherType::Ipv6 => {
                let d = Ipv6Packet::new_unchecked(pkt.data()).dst_addr();
                if d.is_multicast() {
                    EthernetAddress::from_ipv6_multicast(&d)
                } else {
                    meta.src_mac
                }
            }
            _ => meta.src_mac,
        };
        match l2::encap(&mut pkt, vlan, dst, et) {
            Ok(()) => Ok((meta.port, pkt)),
            Err(r) => Err((pkt, r)),
        }
    }

    // ---- stage 3: TTL ----

    /// Drops what can never be forwarded (martian source, multicast/broadcast destination) and
    /// packets whose TTL/hop limit would expire, sending ICMP Time Exceeded for the latter.
    /// Packets to a self IP pass untouched (they are delivered, not forwarded).
    #[inline]
    pub fn ttl_check<E: NetIo<F>>(
        &mut self,
        pkt: F,
        meta: &RxMeta,
        now: u64,
        io: &mut E,
    ) -> Outcome<F> {
        if meta.to_self {
            return Outcome::Pass(pkt);
        }
        let expired = match l2::ethertype_of(pkt.data()) {
            EtherType::Ipv4 => {
                let ip = Ipv4Packet::new_unchecked(pkt.data());
                let (src, dst) = (ip.src_addr(), ip.dst_addr());
                if !icmp::unicast_v4(src) {
                    return Outcome::Drop(pkt, DropReason::MartianSrc);
                }
                if v4_multi(&self.cfg, dst) {
                    return Outcome::Drop(pkt, DropReason::MulticastDst);
                }
                ip.ttl() <= 1
            }
            _ => {
                let ip = Ipv6Packet::new_unchecked(pkt.data());
                let (src, dst) = (ip.src_addr(), ip.dst_addr());
                if src.is_multicast() || src.is_unspecified() || src.is_loopback() {
                    return Outcome::Drop(pkt, DropReason::MartianSrc);
                }
                if dst.is_multicast() {
                    return Outcome::Drop(pkt, DropReason::MulticastDst);
                }
                ip.hop_limit() <= 1
            }
        };
        if !expired {
            return Outcome::Pass(pkt);
        }
        self.time_exceeded(pkt.data(), meta.vlan, now, io);
        Outcome::Drop(pkt, DropReason::TtlExceeded)
    }

    /// Sends an ICMP/ICMPv6 Time Exceeded about `orig` (an L3 packet received on `vlan`) if
    /// the rules and the rate limit allow it.
    #[cold]
    #[inline(never)]
    fn time_exceeded<E: NetIo<F>>(&mut self, orig: &[u8], vlan: VlanId, now: u64, io: &mut E) {
        let v6 = l2::ethertype_of(orig) == EtherType::Ipv6;
        let allowed = if v6 {
            icmp::may_send_error_v6(orig)
        } else {
            icmp::may_send_error_v4(orig)
        };
        if !allowed {
            self.counters.icmp_errors_suppressed += 1;
            return;
        }
        if !self.limiter.allow(now) {
            self.counters.icmp_errors_rate_limited += 1;
            return;
        }
        let Some(mut out) = io.alloc() else {
            self.counters.alloc_failures += 1;
            return;
        };
        let hop = self.cfg.icmp.hop_limit;
        let built = if v6 {
            self.cfg
                .source_v6(vlan)
                .is_some_and(|src| icmp::time_exceeded_v6(&mut out, src, orig, hop))
        } else {
            self.cfg
                .source_v4(vlan)
                .is_some_and(|src| icmp::time_exceeded_v4(&mut out, src, orig, hop))
        };
        if !built {
            self.counters.alloc_failures += 1;
            return;
        }
        self.counters.icmp_errors_sent += 1;
        match self.route_out(out, false, now, io) {
            Forward::Tx(port, f) => io.send(port, f),
            Forward::Held => {}
            Forward::Drop(f, r) => io.discard(f, r),
        }
    }

    // ---- stage 5: forward ----

    /// Forwards an L3 packet: TTL/hop limit decremented, route, neighbour, L2 header.
    #[inline]
    pub fn forward<E: NetIo<F>>(&mut self, pkt: F, now: u64, io: &mut E) -> Forward<F> {
        self.route_out(pkt, true, now, io)
    }

    /// Sends an L3 packet the VNF originates (no TTL decrement): route, neighbour, L2 header.
    #[inline]
    pub fn forward_local<E: NetIo<F>>(&mut self, pkt: F, now: u64, io: &mut E) -> Forward<F> {
        self.route_out(pkt, false, now, io)
    }

    fn route_out<E: NetIo<F>>(
        &mut self,
        mut pkt: F,
        decrement: bool,
        now: u64,
        io: &mut E,
    ) -> Forward<F> {
        let cfg = &*self.cfg;
        let et = l2::ethertype_of(pkt.data());
        let hop = match et {
            EtherType::Ipv6 => self.routes.lookup_v6(
                &cfg.routes,
                &Ipv6Packet::new_unchecked(pkt.data()).dst_addr(),
            ),
            _ => self.routes.lookup_v4(
                &cfg.routes,
                Ipv4Packet::new_unchecked(pkt.data()).dst_addr(),
            ),
        };
        let Some((vlan_id, next)) = hop else {
            return Forward::Drop(pkt, DropReason::NoRoute);
        };
        if decrement {
            let left = match et {
                EtherType::Ipv6 => icmp::decrement_hop_limit(pkt.data_mut()),
                _ => icmp::decrement_ttl_v4(pkt.data_mut()),
            };
            if left.is_none() {
                return Forward::Drop(pkt, DropReason::TtlExceeded);
            }
        }
        let Some(vlan) = cfg.vlan(vlan_id) else {
            return Forward::Drop(pkt, DropReason::NoRoute);
        };
        if pkt.len() > usize::from(vlan.mtu) {
            return Forward::Drop(pkt, DropReason::MtuExceeded);
        }
        let key = NeighKey {
            vlan: vlan_id,
            addr: next,
        };
        match self.neigh.resolve(key, pkt, now) {
            Resolve::Ready {
                mut pkt,
                mac,
                probe,
            } => {
                if probe {
                    solicit(cfg, &mut self.counters, key, Some(mac), io);
                }
                match l2::encap(&mut pkt, vlan, mac, et) {
                    Ok(()) => Forward::Tx(vlan.out_port(), pkt),
                    Err(r) => Forward::Drop(pkt, r),
                }
            }
            Resolve::Queued { solicit: first } => {
                if first {
                    solicit(cfg, &mut self.counters, key, None, io);
                }
                Forward::Held
            }
            Resolve::Drop(pkt, r) => Forward::Drop(pkt, r),
        }
    }

    // ---- timers and announcements ----

    /// Runs the neighbour timers (bounded work): retransmits requests, drops the packets of
    /// neighbours that never answered, ages entries.
    pub fn poll<E: NetIo<F>>(&mut self, now: u64, io: &mut E) {
        let cfg = &self.cfg;
        let counters = &mut self.counters;
        self.neigh.poll(now, |ev| match ev {
            NeighEvent::Solicit { key, mac } => solicit(cfg, counters, key, mac, io),
            NeighEvent::Dropped(pkt, r) => io.discard(pkt, r),
        });
    }

    /// Sends a gratuitous ARP for every IPv4 address of ours and an unsolicited NA for every
    /// IPv6 address of ours, on their VLANs. Returns the number of frames sent.
    pub fn announce<E: NetIo<F>>(&mut self, io: &mut E) -> usize {
        let mut sent = 0;
        for vlan in &self.cfg.vlans {
            for a in vlan.addrs_v4() {
                let Some(mut f) = io.alloc() else {
                    self.counters.alloc_failures += 1;
                    continue;
                };
                if arp::write_frame(
                    &mut f,
                    vlan,
                    EthernetAddress::BROADCAST,
                    &arp::gratuitous(vlan, a),
                ) {
                    io.send(vlan.out_port(), f);
                    sent += 1;
                }
            }
            for a in vlan.addrs_v6() {
                let Some(mut f) = io.alloc() else {
                    self.counters.alloc_failures += 1;
                    continue;
                };
                if ndp::unsolicited_advert(&mut f, vlan, a) {
                    io.send(vlan.out_port(), f);
                    sent += 1;
                }
            }
        }
        self.counters.announcements += sent as u64;
        sent
    }
}

/// Sends an ARP request or a Neighbor Solicitation for `key`: broadcast/multicast, or unicast
/// to `unicast` (a probe).
#[cold]
#[inline(never)]
fn solicit<F: Frame, E: NetIo<F>>(
    cfg: &NetConfig,
    counters: &mut NetCounters,
    key: NeighKey,
    unicast: Option<EthernetAddress>,
    io: &mut E,
) {
    let Some(vlan) = cfg.vlan(key.vlan) else {
        return;
    };
    let Some(mut f) = io.alloc() else {
        counters.alloc_failures += 1;
        return;
    };
    let ok = match key.addr {
        IpAddr::V4(target) => cfg.source_v4(key.vlan).is_some_and(|src| {
            let dst = unicast.unwrap_or(EthernetAddress::BROADCAST);
            arp::write_frame(&mut f, vlan, dst, &arp::request(vlan, src, target))
        }),
        IpAddr::V6(target) => cfg
            .source_v6(key.vlan)
            .is_some_and(|src: Ipv6Addr| ndp::solicit(&mut f, vlan, src, target, unicast)),
    };
    if !ok {
        counters.alloc_failures += 1;
        return;
    }
    match key.addr {
        IpAddr::V4(_) => counters.arp_requests_sent += 1,
        IpAddr::V6(_) => counters.ns_sent += 1,
    }
    io.send(vlan.out_port(), f);
}
