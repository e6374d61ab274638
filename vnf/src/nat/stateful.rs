//! Stateful NAT46 (DNS46) and NAT64 (RFC 6146) on the shared session table.
//!
//! Both translate between families with the RFC 7915 translator of [`crate::xlat`] and keep
//! their state in the worker's [`SessionTable`](super::SessionTable) (session kinds
//! [`SessionKind::Nat46`] and [`SessionKind::Nat64`]); there is no second table. The stage
//! decides addresses and ports, the translator rewrites the headers, the ICMP messages and the
//! packet inside an ICMP error.
//!
//! - NAT46 (`nat46.enabled`, module `nat46`): an IPv4 packet from a pod to an address of the
//!   DNS46 subnet. The destination IPv6 comes from a static mapping of the config or from the
//!   DNS46 [`MappingTable`] (a miss holds the packet until the slow path answers); the source
//!   is this TMM's IPv6 SNAT address (`snat.pool_v6`, or the external IPv6 self IP with
//!   automap) and a port of the worker's block. Replies come back to that address and port.
//! - NAT64 (`nat64.enabled`, module `nat64`): an IPv6 packet from a pod to the NAT64 prefix
//!   (RFC 6052, any length). The destination IPv4 is the embedded one; the source is this
//!   TMM's IPv4 SNAT address (`snat.pool_v4` or automap) and a port. RFC 6146:
//!   endpoint-independent mapping (3.5.1, the table's mappings are the BIB) and
//!   endpoint-independent filtering (an inbound TCP SYN or UDP packet to a live NAT64 mapping
//!   opens a session from any remote), static BIB entries from the config, TCP tracking with
//!   simultaneous open (the table) and the 6-second lifetime of a session opened by an inbound
//!   SYN (V4 INIT), hairpinning (3.8: a packet to the prefix whose embedded IPv4 is one of our
//!   pool addresses is translated out and straight back in).
//!
//! Filtering of NAT46 is address-and-port-dependent, like SNAT: only replies of a session
//! are translated back (a new IPv6 remote would need a 6-to-4 mapping the stage cannot wait
//! for on the inbound path).
//!
//! Stages (docs/datapath.md; frame at the IP header):
//! - [`XlatNat::in2out`]: internal VLAN. `Pass` when the destination is neither in the DNS46
//!   subnet nor under the NAT64 prefix (or the feature is off, or egress does not apply to the
//!   VLAN); `Route` when translated (extra fragments of a split packet went to the sink);
//!   `Reply` with the translator's own ICMP error (Fragmentation Needed, Packet Too Big ...);
//!   `Held` while a DNS46 mapping is looked up; `Drop(reason)` otherwise.
//! - [`XlatNat::out2in`]: external VLAN, after the SNAT out2in (which passes the packets of
//!   NAT46/NAT64 sessions on). `Pass` unless the packet is for a NAT46/NAT64 session (or opens
//!   one by endpoint-independent filtering).
//! - [`XlatNat::poll`]: once per burst, after the mapping results were applied: re-runs the
//!   held packets whose mapping arrived, drops the others counted. Session expiry is the
//!   table's ([`Nat::poll`]).
//!
//! Counters: packets and bytes of the two virtual servers `egress-ipv4-nat46` and
//! `egress-ipv6-nat64` go into the [`Nat`]'s per-kind traffic counters, connections come from
//! the table, so [`Nat::counters`] reports them like the SNAT ones; [`XlatNat::counters`] adds
//! what is specific to translation.
//!
//! Keys: the table keys ICMP sessions by protocol 1 for both families (the echo identifier is
//! the local port, the remote port is 0), so one session matches the ICMPv6 and the ICMPv4
//! side of a translated echo.
//!
//! Fragments (module `frag`): the first fragment of a datagram is translated with its session
//! and its translated addresses are recorded in the worker's bounded [`FragTable`] under
//! (source, destination, protocol, Identification); the later fragments of the datagram are
//! translated with them (RFC 7915 4.1 / 5.1 fragment fields, split again when too big). A
//! non-first fragment whose first fragment was not seen (out of order, expired, evicted) is
//! dropped (`nat_fragment`, counted in `frag_no_state`).
//!
//! Not translated (counted drops): non-first fragments without state (`nat_fragment`), an IPv6
//! packet with a Routing header with Segments Left != 0 (`xlat_malformed`), ICMP errors whose
//! inner packet matches no session.
//!
//! Invariants: nothing allocates per packet (the hold queue and the release buffer are sized
//! at construction); no panic on any input; the TTL / hop limit is copied, never decremented.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::frag::{self, FragKey, FragTable, FragXlat};
use super::table::{Dir, OpenError, SessionKind, TcpSeen};
use super::{Addr, Nat};
use crate::action::{FrameAlloc, Outcome, Sink};
use crate::drop::DropReason;
use crate::frame::Frame;
use crate::mapping::{HoldQueue, MapKey, MappingTable, Release};
use crate::xlat::{
    icmp4_error_in_place, icmp6_error_in_place, ipv4_to_ipv6, ipv6_to_ipv4, Map46, Map64, Rewrite,
    Rfc6052Error, Rfc6052Prefix, Transport, Xlat, XlatConfig,
};

/// Lifetime of a NAT64 session opened by an inbound SYN until the pod answers (RFC 6146
/// section 3.5.2.2, TCP_INCOMING_SYN: 6 s).
pub const TCP_INCOMING_SYN_MS: u64 = 6_000;

/// A static NAT64 BIB entry: `(protocol, ipv6, port6) <-> (ipv4, port4)`; protocol 6, 17 or
/// 1 (ICMP: the ports are echo identifiers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StaticBib {
    pub proto: u8,
    pub ipv6: Ipv6Addr,
    pub port6: u16,
    pub ipv4: Ipv4Addr,
    pub port4: u16,
}

/// What the NAT46/NAT64 stages of every worker are built from.
#[derive(Debug, Clone)]
pub struct XlatNatConfig {
    /// NAT46 on (`dnsNat46Enabled`).
    pub nat46: bool,
    /// The DNS46 subnet (`dnsNat46Ipv4Subnet`): network address and length.
    pub dns46_subnet: Option<(Ipv4Addr, u8)>,
    /// Manual DNS46 mappings of the config (`nat46.static_mappings`), consulted before the
    /// mapping table.
    pub static46: Vec<(Ipv4Addr, Ipv6Addr)>,
    /// NAT64 on (`nat64Enabled`).
    pub nat64: bool,
    /// The NAT64 prefix (`nat64Ipv6Subnet`, default 64:ff9b::/96).
    pub prefix: Rfc6052Prefix,
    /// Static BIB entries (`nat64.static_bib`).
    pub static_bib: Vec<StaticBib>,
    /// Translator settings (MTUs of the next hops).
    pub xlat: XlatConfig,
    /// Packets that may wait for DNS46 mappings on one worker.
    pub hold_capacity: usize,
    /// Longest wait for a mapping, ms.
    pub hold_timeout_ms: u64,
    /// IPv4 source of a translated ICMPv6 error from an IPv6 router that has no IPv4
    /// address (RFC 6791); `None`: the DNS46 address of the session's remote.
    pub rfc6791_v4: Option<Ipv4Addr>,
    /// Lifetime of a NAT64 session opened by an inbound SYN, ms.
    pub tcp_incoming_syn_ms: u64,
    /// Datagrams whose fragments one worker tracks at once (fixed cap, module `frag`).
    pub frag_capacity: usize,
    /// Lifetime of a fragment entry after its last fragment, ms.
    pub frag_timeout_ms: u64,
}

impl Default for XlatNatConfig {
    fn default() -> Self {
        XlatNatConfig {
            nat46: false,
            dns46_subnet: None,
            static46: Vec::new(),
            nat64: false,
            prefix: Rfc6052Prefix::well_known(),
            static_bib: Vec::new(),
            xlat: XlatConfig::default(),
            hold_capacity: 256,
            hold_timeout_ms: 2_000,
            rfc6791_v4: None,
            tcp_incoming_syn_ms: TCP_INCOMING_SYN_MS,
            frag_capacity: frag::DEFAULT_CAPACITY,
            frag_timeout_ms: frag::DEFAULT_TIMEOUT_MS,
        }
    }
}

impl XlatNatConfig {
    /// From the `[nat46]` and `[nat64]` sections; `xlat` carries the next-hop MTUs.
    pub fn from_config(
        nat46: &egress_config::Nat46,
        nat64: &egress_config::Nat64,
        xlat: XlatConfig,
    ) -> Result<XlatNatConfig, Rfc6052Error> {
        let prefix = Rfc6052Prefix::new(nat64.prefix.network(), nat64.prefix.len)?;
        let static_bib = nat64
            .static_bib
            .iter()
            .map(|b| StaticBib {
                proto: match b.protocol {
                    egress_config::BibProtocol::Tcp => 6,
                    egress_config::BibProtocol::Udp => 17,
                    egress_config::BibProtocol::Icmp => 1,
                },
                ipv6: b.ipv6,
                port6: b.port6,
                ipv4: b.ipv4,
                port4: b.port4,
            })
            .collect();
        Ok(XlatNatConfig {
            nat46: nat46.enabled,
            dns46_subnet: nat46.ipv4_subnet.map(|p| (p.network(), p.len)),
            static46: nat46
                .static_mappings
                .iter()
                .map(|m| (m.ipv4, m.ipv6))
                .collect(),
            nat64: nat64.enabled,
            prefix,
            static_bib,
            xlat,
            ..XlatNatConfig::default()
        })
    }

    /// Pins the static DNS46 mappings in a worker's mapping table too (so that DNS46 answers
    /// with them).
    pub fn load_static_mappings(&self, maps: &mut MappingTable) {
        for (a, b) in &self.static46 {
            maps.insert_static(*a, *b);
        }
    }
}

/// What the data path tells the stage about a packet from an internal VLAN.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct XlatMeta {
    /// Egress applies to the packet's VLAN (as for SNAT, `Snat::applies_to_vlan`).
    pub egress: bool,
    /// IPv4 self IP of the input VLAN: source of the ICMPv4 errors the translator answers
    /// with (`None`: the packet's destination).
    pub self_v4: Option<Ipv4Addr>,
    /// IPv6 self IP of the input VLAN, the same for ICMPv6 errors.
    pub self_v6: Option<Ipv6Addr>,
}

/// Counters of the translation stages of one worker (the virtual-server counters are in
/// [`Nat::counters`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct XlatNatCounters {
    /// NAT46 packets translated IPv4 -> IPv6 (pods to the world).
    pub nat46_out: u64,
    /// NAT46 packets translated IPv6 -> IPv4 (replies).
    pub nat46_in: u64,
    /// NAT64 packets translated IPv6 -> IPv4 (pods to the world).
    pub nat64_out: u64,
    /// NAT64 packets translated IPv4 -> IPv6 (replies, inbound by filtering).
    pub nat64_in: u64,
    /// NAT64 packets hairpinned (pod -> our own pool address -> pod).
    pub nat64_hairpin: u64,
    /// Sessions opened by an inbound packet (endpoint-independent filtering).
    pub eif_sessions: u64,
    /// Extra fragments produced by splitting.
    pub fragments_out: u64,
    /// ICMP errors the translator answered with (Fragmentation Needed, Packet Too Big ...).
    pub icmp_errors_sent: u64,
    /// Packets held for a DNS46 mapping.
    pub held: u64,
    /// Held packets re-run after their mapping arrived.
    pub released: u64,
    /// Held packets dropped (missing, dSSM unavailable, timeout).
    pub hold_dropped: u64,
    /// Static BIB entries that could not be installed.
    pub static_bib_failures: u64,
    /// First fragments whose translation was recorded for the later fragments.
    pub frag_tracked: u64,
    /// Non-first fragments translated with their first fragment's addresses.
    pub frag_translated: u64,
    /// Non-first fragments without state (dropped, `nat_fragment`).
    pub frag_no_state: u64,
    /// Fragment entries pushed out of a full bucket by a newer datagram.
    pub frag_evicted: u64,
}

impl XlatNatCounters {
    /// Adds another worker's counters.
    pub fn add(&mut self, o: &XlatNatCounters) {
        self.nat46_out += o.nat46_out;
        self.nat46_in += o.nat46_in;
        self.nat64_out += o.nat64_out;
        self.nat64_in += o.nat64_in;
        self.nat64_hairpin += o.nat64_hairpin;
        self.eif_sessions += o.eif_sessions;
        self.fragments_out += o.fragments_out;
        self.icmp_errors_sent += o.icmp_errors_sent;
        self.held += o.held;
        self.released += o.released;
        self.hold_dropped += o.hold_dropped;
        self.static_bib_failures += o.static_bib_failures;
        self.frag_tracked += o.frag_tracked;
        self.frag_translated += o.frag_translated;
        self.frag_no_state += o.frag_no_state;
        self.frag_evicted += o.frag_evicted;
    }
}

/// The NAT46/NAT64 state of one worker. `F` is the frame type (held packets).
pub struct XlatNat<F> {
    pub(super) cfg: XlatNatConfig,
    /// DNS46 subnet as (network, mask).
    pub(super) subnet: Option<(u32, u32)>,
    /// Static DNS46 mappings sorted by IPv4.
    pub(super) static46: Vec<(u32, Ipv6Addr)>,
    /// The prefix without the non-global check (hairpinning to private pool addresses).
    pub(super) prefix_any: Rfc6052Prefix,
    /// Translator settings for the first half of a hairpin (no IPv4 fragmentation).
    pub(super) xlat_hairpin: XlatConfig,
    pub(super) hold: HoldQueue<(F, XlatMeta)>,
    /// Released held packets of the current poll (capacity = the hold queue's).
    released: Vec<(F, XlatMeta, Release)>,
    /// IPv4 Identification of DF=0 packets made from unfragmented IPv6 ones.
    pub(super) ident: u16,
    pub(super) counters: XlatNatCounters,
    /// Translations of the fragmented datagrams in flight.
    pub(super) frags: FragTable,
}

impl<F> std::fmt::Debug for XlatNat<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("XlatNat")
            .field("cfg", &self.cfg)
            .field("held", &self.hold.len())
            .field("counters", &self.counters)
            .finish()
    }
}

/// The protocol number a session of a translating kind is keyed by (ICMP and ICMPv6 are 1).
#[inline(always)]
pub(super) fn key_proto(p: u8) -> u8 {
    if p == 58 {
        1
    } else {
        p
    }
}

/// The IPv4 address of a table address (IPv4-mapped), or `None`.
#[inline(always)]
pub(super) fn v4_of(a: &Addr) -> Option<Ipv4Addr> {
    super::is_v4_mapped(a).then(|| Ipv4Addr::new(a[12], a[13], a[14], a[15]))
}

/// Ports of a flow for the table: (local, remote) from (source, destination); for ICMP the
/// echo identifier and 0. `None` for anything without ports.
#[inline]
pub(super) fn flow_ports(t: &Transport) -> Option<(u16, u16, bool)> {
    match *t {
        Transport::Tcp { src_port, dst_port } | Transport::Udp { src_port, dst_port } => {
            Some((src_port, dst_port, false))
        }
        Transport::EchoRequest { ident } | Transport::EchoReply { ident } => Some((ident, 0, true)),
        _ => None,
    }
}

/// A rewrite whose source port becomes `sport` and destination port `dport`; for ICMP echo
/// the identifier becomes `ident`.
#[inline]
pub(super) fn rewrite<A>(
    src: A,
    dst: A,
    icmp: bool,
    sport: u16,
    dport: u16,
    ident: u16,
) -> Rewrite<A> {
    if icmp {
        Rewrite {
            src,
            dst,
            src_port: Some(ident),
            dst_port: None,
        }
    } else {
        Rewrite::with_ports(src, dst, sport, dport)
    }
}

/// TCP flags of the transport header at `l4`.
#[inline]
pub(super) fn tcp_seen(d: &[u8], l4: usize) -> TcpSeen {
    let f = d.get(l4 + 13).copied().unwrap_or(0);
    TcpSeen {
        fin: f & 0x01 != 0,
        syn: f & 0x02 != 0,
        rst: f & 0x04 != 0,
        ack: f & 0x10 != 0,
    }
}

/// The drop reason of a failed session open, counted.
pub(super) fn open_failed(nat: &mut Nat, e: OpenError) -> DropReason {
    nat.alloc_failures[e.index()] += 1;
    match e {
        OpenError::NoAddress => DropReason::NatNoAddress,
        OpenError::PortsExhausted => DropReason::NatPortsExhausted,
        OpenError::PodQuota => DropReason::NatPodQuota,
        OpenError::TableFull => DropReason::NatTableFull,
        OpenError::Unsupported => DropReason::NatUnsupportedProtocol,
    }
}

/// Counts a translated packet of `kind` (`len` bytes as received) in the virtual-server
/// traffic counters.
#[inline]
pub(super) fn count(nat: &mut Nat, kind: SessionKind, dir: Dir, len: usize) {
    let t = &mut nat.traffic[kind.index()];
    match dir {
        Dir::In2Out => {
            t.in2out_pkts += 1;
            t.in2out_bytes += len as u64;
        }
        Dir::Out2In => {
            t.out2in_pkts += 1;
            t.out2in_bytes += len as u64;
        }
    }
}

impl<F: Frame> XlatNat<F> {
    /// The stage of one worker; installs the static BIB entries in `nat`'s table.
    pub fn new(cfg: &XlatNatConfig, nat: &mut Nat) -> XlatNat<F> {
        let subnet = cfg.dns46_subnet.map(|(a, len)| {
            let mask = if len == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(len.min(32)))
            };
            (u32::from(a) & mask, mask)
        });
        let mut static46: Vec<(u32, Ipv6Addr)> = cfg
            .static46
            .iter()
            .map(|(a, b)| (u32::from(*a), *b))
            .collect();
        static46.sort_by_key(|e| e.0);
        static46.dedup_by_key(|e| e.0);
        let cap = cfg.hold_capacity.max(1);
        let mut x = XlatNat {
            cfg: cfg.clone(),
            subnet,
            static46,
            prefix_any: cfg.prefix.with_wkp_global_only(false),
            xlat_hairpin: XlatConfig {
                ipv4_mtu: u16::MAX,
                ..cfg.xlat
            },
            hold: HoldQueue::new(cap, cfg.hold_timeout_ms),
            released: Vec::with_capacity(cap),
            ident: 1,
            counters: XlatNatCounters::default(),
            frags: FragTable::new(cfg.frag_capacity, cfg.frag_timeout_ms),
        };
        x.install_static_bib(nat);
        x
    }

    /// (Re)installs the static BIB entries in `nat`'s table (after [`Nat::new`] or a reload
    /// that rebuilt it); entries already present are kept.
    pub fn install_static_bib(&mut self, nat: &mut Nat) {
        for b in &self.cfg.static_bib {
            let inside = super::addr_v6(&b.ipv6);
            let outside = super::addr_v4(b.ipv4);
            let t = nat.table_mut();
            if t.mapping_out(b.proto, &outside, b.port4)
                .is_some_and(|m| m.is_static && m.inside == inside && m.inside_port == b.port6)
            {
                continue;
            }
            if t.add_static_mapping(
                SessionKind::Nat64,
                b.proto,
                inside,
                b.port6,
                outside,
                b.port4,
            )
            .is_err()
            {
                self.counters.static_bib_failures += 1;
            }
        }
    }

    /// The configuration.
    pub fn config(&self) -> &XlatNatConfig {
        &self.cfg
    }

    /// The counters.
    pub fn counters(&self) -> XlatNatCounters {
        let f = self.frags.counters();
        XlatNatCounters {
            frag_tracked: f.tracked,
            frag_translated: f.hits,
            frag_no_state: f.misses,
            frag_evicted: f.evictions,
            ..self.counters
        }
    }

    /// The fragment table (tests, `show`).
    pub fn frag_table(&self) -> &FragTable {
        &self.frags
    }

    /// True if the packet from the external VLAN is a non-first fragment of a datagram whose
    /// first fragment a NAT46/NAT64 session translated: the data path gives it to
    /// [`XlatNat::out2in`] before the SNAT (which cannot tell a later fragment's session).
    #[inline]
    pub fn tracks_fragment(&self, d: &[u8], now: u64) -> bool {
        if !frag::maybe_later_fragment(d) {
            return false;
        }
        let k = match d.first().map(|b| b >> 4) {
            Some(4) => frag::key_v4(d),
            _ => frag::key_v6(d),
        };
        k.is_some_and(|(k, later)| later && self.frags.contains(&k, now))
    }

    /// Packets waiting for a DNS46 mapping.
    pub fn held(&self) -> usize {
        self.hold.len()
    }

    /// True if `a` is in the DNS46 subnet.
    #[inline]
    pub fn in_dns46_subnet(&self, a: Ipv4Addr) -> bool {
        self.subnet
            .is_some_and(|(net, mask)| u32::from(a) & mask == net)
    }

    /// The static DNS46 mapping of `a`.
    #[inline]
    pub(super) fn static46(&self, a: Ipv4Addr) -> Option<Ipv6Addr> {
        let k = u32::from(a);
        self.static46
            .binary_search_by_key(&k, |e| e.0)
            .ok()
            .and_then(|i| self.static46.get(i))
            .map(|e| e.1)
    }

    /// Stage: a packet from an internal VLAN (IP header first).
    #[allow(clippy::too_many_arguments)]
    #[inline]
    pub fn in2out<A, S>(
        &mut self,
        nat: &mut Nat,
        maps: &mut MappingTable,
        pkt: F,
        meta: &XlatMeta,
        now: u64,
        alloc: &mut A,
        sink: &mut S,
    ) -> Outcome<F>
    where
        A: FrameAlloc<Frame = F>,
        S: Sink<F>,
    {
        if !meta.egress {
            return Outcome::Pass(pkt);
        }
        let d = pkt.data();
        match d.first().map(|b| b >> 4) {
            Some(4) if self.cfg.nat46 => {
                let Some(dst) = d.get(16..20) else {
                    return Outcome::Pass(pkt);
                };
                let dst = Ipv4Addr::new(dst[0], dst[1], dst[2], dst[3]);
                if !self.in_dns46_subnet(dst) {
                    return Outcome::Pass(pkt);
                }
                self.nat46_in2out(nat, maps, pkt, meta, now, alloc, sink)
            }
            Some(6) if self.cfg.nat64 => {
                let Some(dst) = d.get(24..40) else {
                    return Outcome::Pass(pkt);
                };
                let mut a = [0u8; 16];
                a.copy_from_slice(dst);
                if !self.cfg.prefix.contains(&Ipv6Addr::from(a)) {
                    return Outcome::Pass(pkt);
                }
                self.nat64_in2out(nat, pkt, meta, now, alloc, sink)
            }
            _ => Outcome::Pass(pkt),
        }
    }

    /// Stage: a packet from the external VLAN (IP header first). Call it after the SNAT
    /// out2in, which passes the packets of NAT46/NAT64 sessions on.
    #[inline]
    pub fn out2in<A, S>(
        &mut self,
        nat: &mut Nat,
        pkt: F,
        now: u64,
        alloc: &mut A,
        sink: &mut S,
    ) -> Outcome<F>
    where
        A: FrameAlloc<Frame = F>,
        S: Sink<F>,
    {
        let d = pkt.data();
        match d.first().map(|b| b >> 4) {
            Some(6) if self.cfg.nat46 => {
                let mut a = [0u8; 16];
                match d.get(24..40) {
                    Some(b) => a.copy_from_slice(b),
                    None => return Outcome::Pass(pkt),
                }
                if !nat.table().is_snat_addr(&a) {
                    return Outcome::Pass(pkt);
                }
                self.nat46_out2in(nat, pkt, now, alloc, sink)
            }
            Some(4) if self.cfg.nat64 => {
                let Some(b) = d.get(16..20) else {
                    return Outcome::Pass(pkt);
                };
                let a = super::addr_v4(Ipv4Addr::new(b[0], b[1], b[2], b[3]));
                if !nat.table().is_snat_addr(&a) {
                    return Outcome::Pass(pkt);
                }
                self.nat64_out2in(nat, pkt, now, false, alloc, sink)
            }
            _ => Outcome::Pass(pkt),
        }
    }

    /// Once per burst, after the mapping results of the burst were applied to `maps`: the
    /// held packets whose mapping arrived run the stage again, the others that are done
    /// waiting (missing, dSSM unavailable, timeout) are dropped. Every outcome goes to `out`
    /// (the data path settles it like a stage outcome). Returns the packets handed out.
    #[allow(clippy::too_many_arguments)]
    pub fn poll<A, S>(
        &mut self,
        nat: &mut Nat,
        maps: &mut MappingTable,
        now: u64,
        alloc: &mut A,
        sink: &mut S,
        mut out: impl FnMut(Outcome<F>),
    ) -> usize
    where
        A: FrameAlloc<Frame = F>,
        S: Sink<F>,
    {
        if self.hold.is_empty() {
            return 0;
        }
        let mut released = std::mem::take(&mut self.released);
        released.clear();
        self.hold.poll(maps, now, |(pkt, meta), r| {
            // Never beyond the capacity: at most every held packet comes out.
            released.push((pkt, meta, r));
        });
        let n = released.len();
        for (pkt, meta, r) in released.drain(..) {
            match r {
                Release::Ready => {
                    self.counters.released += 1;
                    let o = self.in2out(nat, maps, pkt, &meta, now, alloc, sink);
                    out(o);
                }
                Release::Drop(reason) => {
                    self.counters.hold_dropped += 1;
                    out(Outcome::Drop(pkt, reason));
                }
            }
        }
        self.released = released;
        n
    }

    /// Hands back every held packet as a drop with `reason` (shutdown, reload).
    pub fn drain(&mut self, reason: DropReason, mut out: impl FnMut(Outcome<F>)) {
        self.hold.drain(reason, |(pkt, _), r| {
            let reason = match r {
                Release::Drop(x) => x,
                Release::Ready => reason,
            };
            out(Outcome::Drop(pkt, reason));
        });
    }

    /// Holds `pkt` until the mapping of `key` is known.
    pub(super) fn hold(&mut self, key: MapKey, pkt: F, meta: &XlatMeta, now: u64) -> Outcome<F> {
        match self.hold.hold(key, (pkt, *meta), now) {
            Ok(()) => {
                self.counters.held += 1;
                Outcome::Held
            }
            Err(((pkt, _), r)) => Outcome::Drop(pkt, r),
        }
    }

    /// The next IPv4 Identification for a DF=0 packet made from an unfragmented IPv6 one.
    #[inline]
    pub(super) fn next_ident(&mut self) -> u16 {
        self.ident = self.ident.wrapping_add(1);
        self.ident
    }

    /// The datagram key of a (first) fragment about to be translated, `None` if the packet
    /// is not a fragment.
    #[inline(always)]
    pub(super) fn frag_key(d: &[u8], fragment: bool) -> Option<FragKey> {
        if !fragment {
            return None;
        }
        Self::fragment_key(d)
    }

    #[inline(never)]
    fn fragment_key(d: &[u8]) -> Option<FragKey> {
        match d.first().map(|b| b >> 4) {
            Some(4) => frag::key_v4(d).map(|k| k.0),
            _ => frag::key_v6(d).map(|k| k.0),
        }
    }

    /// Records the translation of a first fragment (no-op when `key` is `None`).
    #[inline]
    pub(super) fn track(&mut self, key: Option<FragKey>, x: FragXlat, now: u64) {
        if let Some(k) = key {
            self.frags.insert(k, x, now);
        }
    }

    #[inline]
    fn count_later(&mut self, nat: &mut Nat, x: &FragXlat, len: usize, fragments: u8) {
        count(nat, x.kind, x.dir, len);
        let c = &mut self.counters;
        match (x.kind, x.dir) {
            (SessionKind::Nat46, Dir::In2Out) => c.nat46_out += 1,
            (SessionKind::Nat46, Dir::Out2In) => c.nat46_in += 1,
            (SessionKind::Nat64, Dir::In2Out) => c.nat64_out += 1,
            _ => c.nat64_in += 1,
        }
        c.fragments_out += u64::from(fragments);
    }

    /// A non-first IPv4 fragment (NAT46 in2out, NAT64 out2in): translated to IPv6 with the
    /// addresses its first fragment got, or dropped (`nat_fragment`) without state.
    pub(super) fn later_fragment_4to6<A, S>(
        &mut self,
        nat: &mut Nat,
        mut pkt: F,
        now: u64,
        alloc: &mut A,
        sink: &mut S,
    ) -> Outcome<F>
    where
        A: FrameAlloc<Frame = F>,
        S: Sink<F>,
    {
        let Some((key, true)) = frag::key_v4(pkt.data()) else {
            return Outcome::Drop(pkt, DropReason::NatFragment);
        };
        let Some(x) = self.frags.lookup(&key, now) else {
            return Outcome::Drop(pkt, DropReason::NatFragment);
        };
        let map = Map46 {
            outer: Rewrite::addrs(Ipv6Addr::from(x.src), Ipv6Addr::from(x.dst)),
            inner: None,
        };
        let len = pkt.len();
        match ipv4_to_ipv6(&mut pkt, &self.cfg.xlat, &map, alloc, sink) {
            Xlat::Translated { fragments } => {
                self.count_later(nat, &x, len, fragments);
                Outcome::Route(pkt)
            }
            Xlat::Icmp(e) => {
                let Some(src) = v4_of(&key.dst) else {
                    return Outcome::Drop(pkt, DropReason::NatFragment);
                };
                match icmp4_error_in_place(&mut pkt, e, src) {
                    Ok(()) => {
                        self.counters.icmp_errors_sent += 1;
                        Outcome::Reply(pkt)
                    }
                    Err(r) => Outcome::Drop(pkt, r),
                }
            }
            Xlat::Drop(r) => Outcome::Drop(pkt, r),
        }
    }

    /// A non-first IPv6 fragment (NAT64 in2out, NAT46 out2in): translated to IPv4 with the
    /// addresses its first fragment got, or dropped (`nat_fragment`) without state.
    pub(super) fn later_fragment_6to4<A, S>(
        &mut self,
        nat: &mut Nat,
        mut pkt: F,
        now: u64,
        alloc: &mut A,
        sink: &mut S,
    ) -> Outcome<F>
    where
        A: FrameAlloc<Frame = F>,
        S: Sink<F>,
    {
        let Some((key, true)) = frag::key_v6(pkt.data()) else {
            return Outcome::Drop(pkt, DropReason::NatFragment);
        };
        let Some(x) = self.frags.lookup(&key, now) else {
            return Outcome::Drop(pkt, DropReason::NatFragment);
        };
        let (Some(src), Some(dst)) = (v4_of(&x.src), v4_of(&x.dst)) else {
            return Outcome::Drop(pkt, DropReason::NatFragment);
        };
        let map = Map64 {
            outer: Rewrite::addrs(src, dst),
            inner: None,
            ident: self.next_ident(),
        };
        let len = pkt.len();
        match ipv6_to_ipv4(&mut pkt, &self.cfg.xlat, &map, alloc, sink) {
            Xlat::Translated { fragments } => {
                self.count_later(nat, &x, len, fragments);
                Outcome::Route(pkt)
            }
            Xlat::Icmp(e) => match icmp6_error_in_place(&mut pkt, e, Ipv6Addr::from(key.dst)) {
                Ok(()) => {
                    self.counters.icmp_errors_sent += 1;
                    Outcome::Reply(pkt)
                }
                Err(r) => Outcome::Drop(pkt, r),
            },
            Xlat::Drop(r) => Outcome::Drop(pkt, r),
        }
    }
}
