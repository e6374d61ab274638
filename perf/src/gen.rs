//! Packet generators: each benchmark path has a function that builds the frames of its input
//! capture from [`GenParams`].
//!
//! The bridge path needs nothing more than well-formed Ethernet/IPv4/UDP frames, built here byte
//! by byte with RFC 1071 checksums. Paths that exercise translation will build their frames with
//! the data plane's own `egress_vnf::wire` representations.
//!
//! Addresses come from the RFC 2544 benchmarking range (198.18.0.0/15) and locally administered
//! MACs, so a capture that escapes into a real network cannot be mistaken for real traffic.

use egress_vnf::wire::{
    ArpOperation, ArpPacket, ArpRepr, EtherType, EthernetAddress, EthernetFrame, EthernetRepr,
    Icmpv6Packet, IpProtocol, Ipv4Packet, Ipv4Repr, Ipv6Packet, Ipv6Repr, NdiscNeighborFlags,
    NdiscRepr, UdpPacket, UdpRepr,
};
use std::net::{Ipv4Addr, Ipv6Addr};

/// Parameters shared by every generator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GenParams {
    /// Distinct flows (5-tuples) in the capture; each appears once per replay of the file.
    pub flows: usize,
    /// Length of every frame as captured, without the 4-byte FCS: 60 is a 64-byte frame on the wire.
    pub frame_len: usize,
}

impl Default for GenParams {
    fn default() -> Self {
        GenParams {
            flows: 1024,
            frame_len: MIN_FRAME_LEN,
        }
    }
}

/// Shortest Ethernet frame without FCS (64 bytes on the wire).
pub const MIN_FRAME_LEN: usize = 60;
/// Longest untagged frame without FCS for a 1500-byte MTU.
pub const MAX_FRAME_LEN: usize = 1514;

const ETH_LEN: usize = 14;
const VLAN_LEN: usize = 4;
const IPV4_LEN: usize = 20;
const IPV6_LEN: usize = 40;
const UDP_LEN: usize = 8;
const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_VLAN: u16 = 0x8100;
const IPPROTO_UDP: u8 = 17;

/// Source MAC of generated frames (pod side).
pub const POD_MAC: [u8; 6] = [0x02, 0x00, 0x00, 0x00, 0x00, 0x01];
/// Destination MAC of generated frames (the VNF's internal port).
pub const VNF_MAC: [u8; 6] = [0x02, 0x00, 0x00, 0x00, 0x00, 0x02];

/// Headers of one Ethernet (optionally 802.1Q) / IPv4 / UDP frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Udp4 {
    pub dst_mac: [u8; 6],
    pub src_mac: [u8; 6],
    /// 802.1Q VLAN id, or `None` for an untagged frame.
    pub vlan: Option<u16>,
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub src_port: u16,
    pub dst_port: u16,
    pub ttl: u8,
    pub ident: u16,
}

impl Udp4 {
    /// Bytes before the UDP payload.
    pub fn header_len(&self) -> usize {
        ETH_LEN + if self.vlan.is_some() { VLAN_LEN } else { 0 } + IPV4_LEN + UDP_LEN
    }

    /// Builds a frame of `frame_len` bytes (at least [`MIN_FRAME_LEN`] and the header length);
    /// the payload is a counting pattern, the IPv4 header and UDP checksums are valid.
    pub fn frame(&self, frame_len: usize) -> Vec<u8> {
        let frame_len = frame_len.max(MIN_FRAME_LEN).max(self.header_len());
        let mut f = vec![0u8; frame_len];
        f[0..6].copy_from_slice(&self.dst_mac);
        f[6..12].copy_from_slice(&self.src_mac);
        let mut l3 = 12;
        if let Some(vid) = self.vlan {
            f[12..14].copy_from_slice(&ETHERTYPE_VLAN.to_be_bytes());
            f[14..16].copy_from_slice(&(vid & 0x0fff).to_be_bytes());
            l3 += VLAN_LEN;
        }
        f[l3..l3 + 2].copy_from_slice(&ETHERTYPE_IPV4.to_be_bytes());
        l3 += 2;

        let ip_len = frame_len - l3;
        let udp_len = ip_len - IPV4_LEN;
        let ip = &mut f[l3..];
        ip[0] = 0x45;
        ip[1] = 0;
        ip[2..4].copy_from_slice(&(ip_len as u16).to_be_bytes());
        ip[4..6].copy_from_slice(&self.ident.to_be_bytes());
        ip[6..8].copy_from_slice(&0x4000u16.to_be_bytes()); // DF, offset 0
        ip[8] = self.ttl;
        ip[9] = IPPROTO_UDP;
        ip[12..16].copy_from_slice(&self.src.octets());
        ip[16..20].copy_from_slice(&self.dst.octets());
        let csum = checksum(&ip[..IPV4_LEN]);
        ip[10..12].copy_from_slice(&csum.to_be_bytes());

        let udp = &mut ip[IPV4_LEN..];
        udp[0..2].copy_from_slice(&self.src_port.to_be_bytes());
        udp[2..4].copy_from_slice(&self.dst_port.to_be_bytes());
        udp[4..6].copy_from_slice(&(udp_len as u16).to_be_bytes());
        for (i, b) in udp[UDP_LEN..].iter_mut().enumerate() {
            *b = i as u8;
        }
        let csum = udp4_checksum(self.src, self.dst, udp);
        udp[6..8].copy_from_slice(&csum.to_be_bytes());
        f
    }
}

/// Adds big-endian 16-bit words of `data` (an odd last byte is padded with zero) to `sum`.
fn add_words(mut sum: u32, data: &[u8]) -> u32 {
    let mut chunks = data.chunks_exact(2);
    for w in &mut chunks {
        sum += u32::from(u16::from_be_bytes([w[0], w[1]]));
    }
    if let [last] = chunks.remainder() {
        sum += u32::from(*last) << 8;
    }
    sum
}

fn fold(mut sum: u32) -> u16 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

/// RFC 1071 Internet checksum of `data`: the ones' complement of the ones' complement sum.
/// Over data that contains a correct checksum it is 0.
pub fn checksum(data: &[u8]) -> u16 {
    !fold(add_words(0, data))
}

/// UDP checksum over the IPv4 pseudo-header and `udp` (header with a zero checksum field, and
/// payload); 0 is sent as 0xffff (RFC 768).
pub fn udp4_checksum(src: Ipv4Addr, dst: Ipv4Addr, udp: &[u8]) -> u16 {
    let mut sum = add_words(0, &src.octets());
    sum = add_words(sum, &dst.octets());
    sum += u32::from(IPPROTO_UDP);
    sum += udp.len() as u32;
    let c = !fold(add_words(sum, udp));
    if c == 0 {
        0xffff
    } else {
        c
    }
}

/// Builds an IPv4/UDP packet (IP header first) with the data plane's `wire` representations:
/// `payload_len` bytes of counting pattern, DF set, valid header and UDP checksums.
pub fn ipv4_udp(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    src_port: u16,
    dst_port: u16,
    payload: &[u8],
    ident: u16,
) -> Vec<u8> {
    let mut p = vec![0u8; IPV4_LEN + UDP_LEN + payload.len()];
    let udp = UdpRepr {
        src_port,
        dst_port,
        payload_len: payload.len(),
    };
    {
        let mut u = UdpPacket::new_unchecked(&mut p[IPV4_LEN..]);
        udp.emit(&mut u).expect("buffer sized for the UDP header");
        u.payload_mut().copy_from_slice(payload);
        u.fill_checksum_v4(src, dst);
    }
    let ip = Ipv4Repr {
        src_addr: src,
        dst_addr: dst,
        next_header: IpProtocol::Udp,
        payload_len: UDP_LEN + payload.len(),
        ttl: 64,
        dscp: 0,
        ecn: 0,
        ident,
        dont_frag: true,
        more_frags: false,
        frag_offset: 0,
    };
    ip.emit(&mut Ipv4Packet::new_unchecked(&mut p[..]))
        .expect("buffer sized for the IPv4 header");
    p
}

/// Builds an IPv6/UDP packet (IP header first) with the `wire` representations; the UDP
/// checksum is valid (never zero, as IPv6 requires).
pub fn ipv6_udp(
    src: Ipv6Addr,
    dst: Ipv6Addr,
    src_port: u16,
    dst_port: u16,
    payload: &[u8],
) -> Vec<u8> {
    let mut p = vec![0u8; IPV6_LEN + UDP_LEN + payload.len()];
    let udp = UdpRepr {
        src_port,
        dst_port,
        payload_len: payload.len(),
    };
    {
        let mut u = UdpPacket::new_unchecked(&mut p[IPV6_LEN..]);
        udp.emit(&mut u).expect("buffer sized for the UDP header");
        u.payload_mut().copy_from_slice(payload);
        u.fill_checksum_v6(&src, &dst);
    }
    let ip = Ipv6Repr {
        src_addr: src,
        dst_addr: dst,
        next_header: IpProtocol::Udp,
        payload_len: UDP_LEN + payload.len(),
        hop_limit: 64,
        traffic_class: 0,
        flow_label: 0,
    };
    ip.emit(&mut Ipv6Packet::new_unchecked(&mut p[..]))
        .expect("buffer sized for the IPv6 header");
    p
}

/// Wraps an IP packet in an Ethernet header (with an 802.1Q tag when `vlan` is set), padded
/// with zeros to [`MIN_FRAME_LEN`].
pub fn ethernet(
    dst_mac: [u8; 6],
    src_mac: [u8; 6],
    vlan: Option<u16>,
    ethertype: EtherType,
    l3: &[u8],
) -> Vec<u8> {
    let l2 = ETH_LEN + if vlan.is_some() { VLAN_LEN } else { 0 };
    let mut f = vec![0u8; (l2 + l3.len()).max(MIN_FRAME_LEN)];
    let outer = if vlan.is_some() {
        EtherType::Vlan
    } else {
        ethertype
    };
    let eth = EthernetRepr {
        src_addr: EthernetAddress(src_mac),
        dst_addr: EthernetAddress(dst_mac),
        ethertype: outer,
    };
    eth.emit(&mut EthernetFrame::new_unchecked(&mut f[..]))
        .expect("frame holds an Ethernet header");
    if let Some(vid) = vlan {
        f[14..16].copy_from_slice(&(vid & 0x0fff).to_be_bytes());
        f[16..18].copy_from_slice(&u16::from(ethertype).to_be_bytes());
    }
    f[l2..l2 + l3.len()].copy_from_slice(l3);
    f
}

/// UDP payload of `len` bytes: a counting pattern.
pub fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| i as u8).collect()
}

/// Source address of flow `i` of a generated set: 198.18.0.1 upwards, 4096 addresses, then the
/// source port moves on, so up to 4096 x 64512 flows are distinct.
pub fn flow_source(i: usize) -> (Ipv4Addr, u16) {
    let base = u32::from(Ipv4Addr::new(198, 18, 0, 1));
    let addr = Ipv4Addr::from(base + (i % 4096) as u32);
    let port = 1024 + (i / 4096) as u16;
    (addr, port)
}

/// The bridge path: `flows` untagged UDP/IPv4 flows from 198.18.0.0/16 to 198.19.0.1:5001.
pub fn bridge(p: &GenParams) -> Vec<Vec<u8>> {
    (0..p.flows.max(1))
        .map(|i| {
            let (src, src_port) = flow_source(i);
            Udp4 {
                dst_mac: VNF_MAC,
                src_mac: POD_MAC,
                vlan: None,
                src,
                dst: Ipv4Addr::new(198, 19, 0, 1),
                src_port,
                dst_port: 5001,
                ttl: 64,
                ident: i as u16,
            }
            .frame(p.frame_len)
        })
        .collect()
}

/// Addresses of the benchmark topology (RFC 2544 / RFC 5180 benchmarking ranges).
///
/// ```text
/// pods 198.18.0.0/16, 2001:2:a::/64 -- port 1.1 (VLAN internal) [VNF] port 1.2 (VLAN external)
///   -- gateway 198.19.0.1 / 2001:2:b::1 -- servers 198.19.128.1, 2001:2:c::1
/// ```
pub mod topo {
    use std::net::{Ipv4Addr, Ipv6Addr};

    pub const INTERNAL_SELF4: Ipv4Addr = Ipv4Addr::new(198, 18, 255, 254);
    pub const INTERNAL_PREFIX4: u8 = 16;
    pub const INTERNAL_SELF6: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0xa, 0, 0, 0, 0, 0xfffe);
    pub const EXTERNAL_SELF4: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 2);
    pub const EXTERNAL_PREFIX4: u8 = 24;
    pub const EXTERNAL_SELF6: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0xb, 0, 0, 0, 0, 2);
    pub const GATEWAY4: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 1);
    pub const GATEWAY6: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0xb, 0, 0, 0, 0, 1);
    /// The gateway's MAC, announced by the frames of [`super::neighbours`].
    pub const GATEWAY_MAC: [u8; 6] = [0x02, 0x00, 0x00, 0x00, 0x00, 0xfe];
    /// The DNS paths' upstream (knotd in a namespace behind port 1.2, on-link).
    pub const UPSTREAM_DNS: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 53);
    pub const SERVER4: Ipv4Addr = Ipv4Addr::new(198, 19, 128, 1);
    pub const SERVER6: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0xc, 0, 0, 0, 0, 1);
    pub const SERVER_PORT: u16 = 5001;
    /// `nat46.ipv4_subnet`; its first 16 usable addresses are reserved for static mappings.
    pub const NAT46_SUBNET: &str = "198.19.200.0/24";
    /// The static NAT46 mapping the pods send to: it stands for [`SERVER6`].
    pub const NAT46_MAPPED: Ipv4Addr = Ipv4Addr::new(198, 19, 200, 5);
    /// `nat46.ipv4_subnet` of the DNS46 path: 1 Mi addresses (the benchmarking range is too
    /// small), from the shared address space (RFC 6598); nothing routes to them here.
    pub const DNS46_SUBNET: &str = "100.64.0.0/12";
    /// The IPv6-only hosts of the DNS46 path, `2001:2:d::/64`: the AAAA records the upstream
    /// synthesizes (`h-2001-2-d--<n>.w46.bench.test`).
    pub const DNS46_HOSTS: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0xd, 0, 0, 0, 0, 0);
    pub const DNS46_HOSTS_PREFIX: u8 = 64;
    /// `nat64.prefix` (not the well-known prefix, which refuses the benchmarking range as
    /// non-global).
    pub const NAT64_PREFIX: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0x64, 0, 0, 0, 0, 0);
    /// [`SERVER4`] embedded in [`NAT64_PREFIX`] (/96).
    pub const NAT64_SERVER: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0x64, 0, 0, 0, 0xc613, 0x8001);

    /// SNAT address `i` (0-based) of the IPv4 pool.
    pub fn snat4(i: usize) -> Ipv4Addr {
        Ipv4Addr::new(198, 19, 1, 1 + (i % 250) as u8)
    }

    /// SNAT address `i` (0-based) of the IPv6 pool.
    pub fn snat6(i: usize) -> Ipv6Addr {
        Ipv6Addr::new(0x2001, 2, 0x50, 0, 0, 0, 0, 1 + i as u16)
    }
}

/// IPv6 source of flow `i`: 2001:2:a::1 upwards, 4096 addresses, then the port moves on
/// (as [`flow_source`]).
pub fn flow_source6(i: usize) -> (Ipv6Addr, u16) {
    let mut o = Ipv6Addr::new(0x2001, 2, 0xa, 0, 0, 0, 0, 0).octets();
    let host = 1 + (i % 4096) as u16;
    o[14..16].copy_from_slice(&host.to_be_bytes());
    (Ipv6Addr::from(o), 1024 + (i / 4096) as u16)
}

/// UDP payload length that makes an IPv4 frame `frame_len` long (at least 0).
fn payload4(frame_len: usize) -> usize {
    frame_len.saturating_sub(ETH_LEN + IPV4_LEN + UDP_LEN)
}

/// UDP payload length for an IPv6 frame: the shortest IPv6/UDP frame is 62 bytes.
fn payload6(frame_len: usize) -> usize {
    frame_len.saturating_sub(ETH_LEN + IPV6_LEN + UDP_LEN)
}

/// Frames on port 1.1 go to the broadcast MAC: the VNF's MAC on a `net_pcap` port is not known
/// before it starts, and a broadcast frame carrying a unicast IP packet is handled like a
/// unicast one (the L2 stage accepts broadcast; NAT and routing look at IP).
pub const TO_VNF_MAC: [u8; 6] = [0xff; 6];

fn udp4_flows(p: &GenParams, dst: Ipv4Addr) -> Vec<Vec<u8>> {
    let payload = pattern(payload4(p.frame_len));
    (0..p.flows.max(1))
        .map(|i| {
            let (src, sport) = flow_source(i);
            let ip = ipv4_udp(src, dst, sport, topo::SERVER_PORT, &payload, i as u16);
            ethernet(TO_VNF_MAC, POD_MAC, None, EtherType::Ipv4, &ip)
        })
        .collect()
}

fn udp6_flows(p: &GenParams, dst: Ipv6Addr) -> Vec<Vec<u8>> {
    let payload = pattern(payload6(p.frame_len));
    (0..p.flows.max(1))
        .map(|i| {
            let (src, sport) = flow_source6(i);
            let ip = ipv6_udp(src, dst, sport, topo::SERVER_PORT, &payload);
            ethernet(TO_VNF_MAC, POD_MAC, None, EtherType::Ipv6, &ip)
        })
        .collect()
}

/// SNAT44: `flows` UDP/IPv4 flows from the pods to 198.19.128.1:5001.
pub fn snat44(p: &GenParams) -> Vec<Vec<u8>> {
    udp4_flows(p, topo::SERVER4)
}

/// SNAT66: `flows` UDP/IPv6 flows from the pods to 2001:2:c::1 port 5001.
pub fn snat66(p: &GenParams) -> Vec<Vec<u8>> {
    udp6_flows(p, topo::SERVER6)
}

/// NAT46: UDP/IPv4 flows to the static mapping 198.19.200.5 (the IPv6 server).
pub fn nat46(p: &GenParams) -> Vec<Vec<u8>> {
    udp4_flows(p, topo::NAT46_MAPPED)
}

/// NAT64: UDP/IPv6 flows to 2001:2:64::198.19.128.1.
pub fn nat64(p: &GenParams) -> Vec<Vec<u8>> {
    udp6_flows(p, topo::NAT64_SERVER)
}

/// Zone the DNS paths' upstream serves.
pub const DNS_ZONE: &str = "bench.test.";
/// Resolver address the pods send their queries to: off-link, nothing has it (the VNF
/// intercepts UDP/53 from the internal VLAN, like a cluster DNS service address).
pub const POD_RESOLVER: Ipv4Addr = Ipv4Addr::new(198, 18, 255, 53);
/// Pods of the DNS paths: few sources (no per-pod rate limit is configured).
pub const DNS_PODS: usize = 16;

/// Name `i` of the DNS paths' zone: `n<i>.bench.test`.
pub fn dns_name(i: usize) -> String {
    format!("n{i}.{}", DNS_ZONE.trim_end_matches('.'))
}

/// A DNS query message (RFC 1035 4.1): ID, RD set, one question `name` of type `qtype`, class IN.
pub fn dns_query(id: u16, name: &str, qtype: u16) -> Vec<u8> {
    let mut m = Vec::with_capacity(18 + name.len());
    m.extend_from_slice(&id.to_be_bytes());
    m.extend_from_slice(&0x0100u16.to_be_bytes()); // RD
    m.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]); // QD 1, AN/NS/AR 0
    for label in name.split('.').filter(|l| !l.is_empty()) {
        m.push(label.len() as u8);
        m.extend_from_slice(label.as_bytes());
    }
    m.push(0);
    m.extend_from_slice(&qtype.to_be_bytes());
    m.extend_from_slice(&1u16.to_be_bytes());
    m
}

/// A queries for `flows` distinct names (`name(i)`), each from one of [`DNS_PODS`] pods with its
/// own source port and ID, to [`POD_RESOLVER`]. `frame_len` is a minimum (a query is usually
/// longer than 60 bytes).
fn a_queries(p: &GenParams, name: fn(usize) -> String) -> impl Iterator<Item = Vec<u8>> + '_ {
    (0..p.flows.max(1)).map(move |i| {
        let (src, _) = flow_source(i % DNS_PODS);
        let sport = 1024 + (i % 60000) as u16;
        let q = dns_query(i as u16, &name(i), 1);
        let ip = ipv4_udp(src, POD_RESOLVER, sport, 53, &q, i as u16);
        let mut f = ethernet(TO_VNF_MAC, POD_MAC, None, EtherType::Ipv4, &ip);
        if f.len() < p.frame_len {
            f.resize(p.frame_len, 0);
        }
        f
    })
}

/// DNS cache hits: A queries for `flows` distinct names (`n0` .. `n<flows-1>`) of
/// [`DNS_ZONE`], each from one of [`DNS_PODS`] pods, to [`POD_RESOLVER`].
pub fn dns_queries(p: &GenParams) -> Vec<Vec<u8>> {
    a_queries(p, dns_name).collect()
}

/// Where the DNS46 path's names live: `h-<address>.w46.bench.test`, the upstream synthesizes
/// their AAAA records (Knot `mod-synthrecord`, prefix [`DNS46_LABEL_PREFIX`], network
/// [`topo::DNS46_HOSTS`]/64) and answers NODATA to A.
pub const DNS46_SUFFIX: &str = "w46.bench.test";
/// First characters of a DNS46 name's first label.
pub const DNS46_LABEL_PREFIX: &str = "h-";

/// IPv6 host `i` of the DNS46 path: `2001:2:d::<i + 1>`.
pub fn dns46_host(i: usize) -> Ipv6Addr {
    Ipv6Addr::from(u128::from(topo::DNS46_HOSTS) + 1 + i as u128)
}

/// Name `i` of the DNS46 path: its AAAA is [`dns46_host`]`(i)`, written into the first label
/// with `-` for `:` (`h-2001-2-d--1a.w46.bench.test`).
pub fn dns46_name(i: usize) -> String {
    format!(
        "{DNS46_LABEL_PREFIX}{}.{DNS46_SUFFIX}",
        dns46_host(i).to_string().replace(':', "-")
    )
}

/// ARP replies from the [`DNS_PODS`] pods to the internal self IP (RFC 826 merge: the VNF
/// learns each pod, REACHABLE), so the answers the VNF sends after an upstream round trip,
/// which are routed, find the pods' MAC. Sent with the queries on every pass of the capture.
pub fn pod_arp_replies() -> Vec<Vec<u8>> {
    (0..DNS_PODS)
        .map(|i| {
            let mut arp = vec![0u8; egress_vnf::wire::arp::ETHERNET_IPV4_LEN];
            ArpRepr {
                operation: ArpOperation::Reply,
                source_hardware_addr: EthernetAddress(POD_MAC),
                source_protocol_addr: flow_source(i).0,
                target_hardware_addr: EthernetAddress([0xff; 6]),
                target_protocol_addr: topo::INTERNAL_SELF4,
            }
            .emit(&mut ArpPacket::new_unchecked(&mut arp[..]))
            .expect("buffer sized for ARP");
            ethernet(TO_VNF_MAC, POD_MAC, None, EtherType::Arp, &arp)
        })
        .collect()
}

/// DNS46 new mappings: the pods' ARP replies, then A queries for `flows` distinct AAAA-only
/// names (`dns46_name(0)` ..), each asked once per pass of the capture. Every query the VNF
/// does not find in its cache goes upstream (A: NODATA, then AAAA) and, for a name not mapped
/// yet, creates a DNS46 mapping. `flows` + [`DNS_PODS`] frames.
pub fn dns46_queries(p: &GenParams) -> Vec<Vec<u8>> {
    let mut frames = pod_arp_replies();
    frames.extend(a_queries(p, dns46_name));
    frames
}

/// What the gateway says on port 1.2 when the VNF starts, so that its IPv4 and IPv6 neighbour
/// entries are REACHABLE without a live peer: an ARP reply to the external self IP (learned as
/// REACHABLE), a Neighbor Solicitation for the external self IPv6 with the gateway's link-layer
/// address (creates the entry, STALE), and a solicited Neighbor Advertisement (REACHABLE).
pub fn neighbours() -> Vec<Vec<u8>> {
    let gw = EthernetAddress(topo::GATEWAY_MAC);
    let mut arp = vec![0u8; egress_vnf::wire::arp::ETHERNET_IPV4_LEN];
    ArpRepr {
        operation: ArpOperation::Reply,
        source_hardware_addr: gw,
        source_protocol_addr: topo::GATEWAY4,
        target_hardware_addr: EthernetAddress([0xff; 6]),
        target_protocol_addr: topo::EXTERNAL_SELF4,
    }
    .emit(&mut ArpPacket::new_unchecked(&mut arp[..]))
    .expect("buffer sized for ARP");
    let mut out = vec![ethernet(
        [0xff; 6],
        topo::GATEWAY_MAC,
        None,
        EtherType::Arp,
        &arp,
    )];

    let solicited_node = {
        let t = topo::EXTERNAL_SELF6.octets();
        Ipv6Addr::new(
            0xff02,
            0,
            0,
            0,
            0,
            1,
            0xff00 | u16::from(t[13]),
            u16::from_be_bytes([t[14], t[15]]),
        )
    };
    let ns = NdiscRepr::NeighborSolicit {
        target_addr: topo::EXTERNAL_SELF6,
        lladdr: Some(gw),
    };
    let na = NdiscRepr::NeighborAdvert {
        flags: NdiscNeighborFlags(
            NdiscNeighborFlags::ROUTER
                | NdiscNeighborFlags::SOLICITED
                | NdiscNeighborFlags::OVERRIDE,
        ),
        target_addr: topo::GATEWAY6,
        lladdr: Some(gw),
    };
    for (msg, dst, dst_mac) in [
        (
            ns,
            solicited_node,
            EthernetAddress::from_ipv6_multicast(&solicited_node).0,
        ),
        (na, topo::EXTERNAL_SELF6, [0xff; 6]),
    ] {
        let len = msg.buffer_len();
        let mut p = vec![0u8; IPV6_LEN + len];
        {
            let mut icmp = Icmpv6Packet::new_unchecked(&mut p[IPV6_LEN..]);
            msg.emit(&mut icmp).expect("buffer sized for the message");
            icmp.fill_checksum(&topo::GATEWAY6, &dst);
        }
        Ipv6Repr {
            src_addr: topo::GATEWAY6,
            dst_addr: dst,
            next_header: IpProtocol::Icmpv6,
            payload_len: len,
            hop_limit: 255,
            traffic_class: 0,
            flow_label: 0,
        }
        .emit(&mut Ipv6Packet::new_unchecked(&mut p[..]))
        .expect("buffer sized for the IPv6 header");
        out.push(ethernet(
            dst_mac,
            topo::GATEWAY_MAC,
            None,
            EtherType::Ipv6,
            &p,
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc1071_example() {
        // RFC 1071 section 3: the sum of these words is 0xddf2.
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(checksum(&data), !0xddf2);
    }

    #[test]
    fn odd_length_is_padded() {
        assert_eq!(checksum(&[0x12, 0x34, 0x56]), !(0x1234u16 + 0x5600));
    }

    #[test]
    fn known_ipv4_header() {
        let mut h = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        assert_eq!(checksum(&h), 0xb861);
        h[10..12].copy_from_slice(&0xb861u16.to_be_bytes());
        assert_eq!(checksum(&h), 0);
    }

    fn sample() -> Udp4 {
        Udp4 {
            dst_mac: VNF_MAC,
            src_mac: POD_MAC,
            vlan: None,
            src: Ipv4Addr::new(198, 18, 0, 1),
            dst: Ipv4Addr::new(198, 19, 0, 1),
            src_port: 1024,
            dst_port: 5001,
            ttl: 64,
            ident: 7,
        }
    }

    fn verify(frame: &[u8], l3: usize) {
        let ip = &frame[l3..];
        assert_eq!(ip[0], 0x45);
        assert_eq!(usize::from(u16::from_be_bytes([ip[2], ip[3]])), ip.len());
        assert_eq!(checksum(&ip[..20]), 0, "IPv4 header checksum");
        let src = Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]);
        let dst = Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]);
        let udp = &ip[20..];
        assert_eq!(usize::from(u16::from_be_bytes([udp[4], udp[5]])), udp.len());
        let mut sum = add_words(0, &src.octets());
        sum = add_words(sum, &dst.octets());
        sum += 17 + udp.len() as u32;
        assert_eq!(!fold(add_words(sum, udp)), 0, "UDP checksum");
    }

    #[test]
    fn minimum_frame() {
        let f = sample().frame(MIN_FRAME_LEN);
        assert_eq!(f.len(), 60);
        assert_eq!(&f[0..6], &VNF_MAC);
        assert_eq!(&f[6..12], &POD_MAC);
        assert_eq!(&f[12..14], &[0x08, 0x00]);
        assert_eq!(
            &f[14..26],
            &[0x45, 0, 0, 46, 0, 7, 0x40, 0, 64, 17, f[24], f[25]]
        );
        verify(&f, 14);
    }

    #[test]
    fn short_requests_are_padded_to_minimum() {
        assert_eq!(sample().frame(10).len(), MIN_FRAME_LEN);
    }

    #[test]
    fn tagged_and_large_frames() {
        let mut h = sample();
        h.vlan = Some(100);
        let f = h.frame(MAX_FRAME_LEN);
        assert_eq!(f.len(), MAX_FRAME_LEN);
        assert_eq!(&f[12..18], &[0x81, 0x00, 0x00, 100, 0x08, 0x00]);
        verify(&f, 18);
    }

    #[test]
    fn bridge_flows_are_distinct_and_valid() {
        let frames = bridge(&GenParams {
            flows: 5000,
            frame_len: 60,
        });
        assert_eq!(frames.len(), 5000);
        let mut keys: Vec<_> = frames
            .iter()
            .map(|f| (f[26..30].to_vec(), f[34..36].to_vec()))
            .collect();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), 5000);
        for f in &frames {
            verify(f, 14);
        }
    }

    #[test]
    fn wire_built_packets_verify() {
        let a = Ipv4Addr::new(198, 18, 0, 1);
        let b = Ipv4Addr::new(198, 19, 0, 1);
        let p4 = ipv4_udp(a, b, 1024, 5001, &pattern(18), 9);
        let ip = Ipv4Packet::new_checked(&p4[..]).unwrap();
        let r = Ipv4Repr::parse(&ip).unwrap();
        assert_eq!((r.src_addr, r.dst_addr, r.ident), (a, b, 9));
        let u = UdpPacket::new_checked(ip.payload()).unwrap();
        assert!(u.verify_checksum_v4(a, b));
        assert_eq!((u.src_port(), u.dst_port()), (1024, 5001));

        let a6: Ipv6Addr = "2001:db8::1".parse().unwrap();
        let b6: Ipv6Addr = "64:ff9b::c613:1".parse().unwrap();
        let p6 = ipv6_udp(a6, b6, 1024, 5001, &pattern(18));
        let ip = Ipv6Packet::new_checked(&p6[..]).unwrap();
        let u = UdpPacket::new_checked(ip.payload()).unwrap();
        assert!(u.verify_checksum_v6(&a6, &b6));

        let f = ethernet(VNF_MAC, POD_MAC, Some(100), EtherType::Ipv6, &p6);
        let l2 = egress_vnf::wire::parse_l2(&f).unwrap();
        assert_eq!(
            (l2.outer_vid, l2.ethertype, l2.l3_offset),
            (Some(100), EtherType::Ipv6, 18)
        );
        assert_eq!(&f[18..], &p6[..]);
        // Short packets are padded to the minimum frame.
        assert_eq!(
            ethernet(VNF_MAC, POD_MAC, None, EtherType::Ipv4, &p4).len(),
            MIN_FRAME_LEN
        );
    }

    /// Checks an Ethernet frame with the data plane's parsers: IPv4 header checksum, UDP
    /// checksum over the right pseudo-header, lengths; returns the UDP source (address, port).
    fn check_with_wire(f: &[u8]) -> (std::net::IpAddr, u16) {
        let l2 = egress_vnf::wire::parse_l2(f).unwrap();
        let l3 = &f[l2.l3_offset..];
        match l2.ethertype {
            EtherType::Ipv4 => {
                let ip = Ipv4Packet::new_checked(l3).unwrap();
                let r = Ipv4Repr::parse(&ip).unwrap(); // verifies the header checksum
                assert_eq!(r.next_header, IpProtocol::Udp);
                let u = UdpPacket::new_checked(ip.payload()).unwrap();
                assert!(u.verify_checksum_v4(r.src_addr, r.dst_addr));
                (r.src_addr.into(), u.src_port())
            }
            EtherType::Ipv6 => {
                let ip = Ipv6Packet::new_checked(l3).unwrap();
                let r = Ipv6Repr::parse(&ip).unwrap();
                assert_eq!(r.next_header, IpProtocol::Udp);
                let u = UdpPacket::new_checked(ip.payload()).unwrap();
                assert!(u.verify_checksum_v6(&r.src_addr, &r.dst_addr));
                (r.src_addr.into(), u.src_port())
            }
            other => panic!("unexpected ethertype {other:?}"),
        }
    }

    #[test]
    fn path_generators_build_valid_distinct_flows() {
        for p in crate::paths::PATHS {
            for frame_len in [MIN_FRAME_LEN, 333, MAX_FRAME_LEN] {
                let mut frames = (p.generate)(&GenParams {
                    flows: 5000,
                    frame_len,
                });
                // The pods' ARP replies of the DNS46 path are checked below.
                frames.retain(|f| f[12..14] != [0x08, 0x06]);
                assert_eq!(frames.len(), 5000, "{}", p.name);
                let mut sources: Vec<_> = frames.iter().map(|f| check_with_wire(f)).collect();
                for f in &frames {
                    // 62 bytes is the shortest IPv6/UDP frame; DNS queries may be longer.
                    let len = frame_len.max(if f[12] == 0x86 { 62 } else { 60 });
                    if p.port2 == crate::paths::Port2::Upstream {
                        assert!(f.len() >= len);
                    } else {
                        assert_eq!(f.len(), len);
                    }
                }
                sources.sort();
                sources.dedup();
                assert_eq!(sources.len(), 5000, "{}: flows are distinct", p.name);
            }
        }
    }

    #[test]
    fn neighbour_frames_parse() {
        let f = neighbours();
        assert_eq!(f.len(), 3);
        let arp = ArpRepr::parse(&ArpPacket::new_checked(&f[0][14..]).unwrap()).unwrap();
        assert_eq!(arp.operation, ArpOperation::Reply);
        assert_eq!(arp.source_protocol_addr, topo::GATEWAY4);
        assert_eq!(arp.target_protocol_addr, topo::EXTERNAL_SELF4);
        for (frame, solicit) in [(&f[1], true), (&f[2], false)] {
            let ip = Ipv6Packet::new_checked(&frame[14..]).unwrap();
            let r = Ipv6Repr::parse(&ip).unwrap();
            assert_eq!((r.src_addr, r.hop_limit), (topo::GATEWAY6, 255));
            let icmp = Icmpv6Packet::new_checked(ip.payload()).unwrap();
            assert!(icmp.verify_checksum(&r.src_addr, &r.dst_addr));
            match NdiscRepr::parse(&icmp).unwrap() {
                NdiscRepr::NeighborSolicit {
                    target_addr,
                    lladdr,
                } => {
                    assert!(solicit);
                    assert_eq!(target_addr, topo::EXTERNAL_SELF6);
                    assert_eq!(lladdr, Some(EthernetAddress(topo::GATEWAY_MAC)));
                }
                NdiscRepr::NeighborAdvert {
                    flags,
                    target_addr,
                    lladdr,
                } => {
                    assert!(!solicit);
                    assert!(flags.contains(NdiscNeighborFlags::SOLICITED));
                    assert_eq!(target_addr, topo::GATEWAY6);
                    assert_eq!(r.dst_addr, topo::EXTERNAL_SELF6);
                    assert_eq!(lladdr, Some(EthernetAddress(topo::GATEWAY_MAC)));
                }
                other => panic!("unexpected {other:?}"),
            }
        }
    }

    /// The question of a query frame built by [`a_queries`]: (pod, name, qtype).
    fn question(f: &[u8]) -> (Ipv4Addr, String, u16) {
        let ip = Ipv4Packet::new_checked(&f[14..]).unwrap();
        let r = Ipv4Repr::parse(&ip).unwrap();
        assert_eq!(r.dst_addr, POD_RESOLVER);
        let u = UdpPacket::new_checked(ip.payload()).unwrap();
        assert_eq!(u.dst_port(), 53);
        let m = u.payload();
        assert_eq!(&m[4..6], &[0, 1], "one question");
        let mut labels = Vec::new();
        let mut i = 12;
        while m[i] != 0 {
            let n = usize::from(m[i]);
            labels.push(String::from_utf8(m[i + 1..i + 1 + n].to_vec()).unwrap());
            i += 1 + n;
        }
        let qtype = u16::from_be_bytes([m[i + 1], m[i + 2]]);
        (r.src_addr, labels.join("."), qtype)
    }

    #[test]
    fn dns46_names_are_distinct_aaaa_only_hosts() {
        assert_eq!(dns46_host(0), "2001:2:d::1".parse::<Ipv6Addr>().unwrap());
        assert_eq!(dns46_name(0), "h-2001-2-d--1.w46.bench.test");
        assert_eq!(dns46_name(0x1_0000), "h-2001-2-d--1-1.w46.bench.test");
        // The name the upstream's synthrecord module answers for each host.
        let synth = egress_tests::dns_server::SynthForward {
            prefix: DNS46_LABEL_PREFIX.into(),
            network: format!("{}/{}", topo::DNS46_HOSTS, topo::DNS46_HOSTS_PREFIX),
            ttl: 1,
        };
        for i in [0, 9, 0xffff, 1 << 20] {
            assert_eq!(
                dns46_name(i),
                synth.name(dns46_host(i).into(), DNS46_SUFFIX)
            );
            assert_eq!(
                dns46_host(i).segments()[..4],
                topo::DNS46_HOSTS.segments()[..4],
                "inside the /64"
            );
        }
        let mut names: Vec<String> = (0..1 << 17).map(dns46_name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), 1 << 17);
    }

    #[test]
    fn dns46_capture_is_pod_arp_then_one_a_query_per_name() {
        let frames = dns46_queries(&GenParams {
            flows: 3000,
            frame_len: MIN_FRAME_LEN,
        });
        assert_eq!(frames.len(), DNS_PODS + 3000);
        let mut pods = Vec::new();
        for f in &frames[..DNS_PODS] {
            assert_eq!(&f[12..14], &[0x08, 0x06]);
            let arp = ArpRepr::parse(&ArpPacket::new_checked(&f[14..]).unwrap()).unwrap();
            assert_eq!(arp.operation, ArpOperation::Reply);
            assert_eq!(arp.target_protocol_addr, topo::INTERNAL_SELF4);
            assert_eq!(arp.source_hardware_addr, EthernetAddress(POD_MAC));
            pods.push(arp.source_protocol_addr);
        }
        for (i, f) in frames[DNS_PODS..].iter().enumerate() {
            check_with_wire(f);
            let (pod, name, qtype) = question(f);
            assert_eq!((name, qtype), (dns46_name(i), 1), "A for name {i}");
            assert!(pods.contains(&pod), "{pod} announced itself");
        }
    }

    #[test]
    fn dns_query_layout() {
        let q = dns_query(0x1234, "n7.bench.test", 1);
        assert_eq!(&q[..12], &[0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
        assert_eq!(&q[12..], b"\x02n7\x05bench\x04test\x00\x00\x01\x00\x01");
    }
}
