//! Builders of test frames: Ethernet (optionally 802.1Q tagged), ARP, IPv4, IPv6, UDP, TCP,
//! ICMPv4 and ICMPv6 echo, with correct lengths and checksums (RFC 1071 one's complement sum).
//!
//! Independent of `vnf/src/wire` on purpose: test inputs must not share bugs with the code under
//! test.

use std::net::{Ipv4Addr, Ipv6Addr};

pub const ETHERTYPE_IPV4: u16 = 0x0800;
pub const ETHERTYPE_ARP: u16 = 0x0806;
pub const ETHERTYPE_VLAN: u16 = 0x8100;
pub const ETHERTYPE_IPV6: u16 = 0x86dd;
pub const PROTO_ICMP: u8 = 1;
pub const PROTO_TCP: u8 = 6;
pub const PROTO_UDP: u8 = 17;
pub const PROTO_ICMPV6: u8 = 58;

pub const BROADCAST: [u8; 6] = [0xff; 6];

/// Minimum Ethernet frame without FCS.
pub const MIN_FRAME: usize = 60;

/// A locally administered unicast MAC address ending in `n`.
pub fn mac(n: u8) -> [u8; 6] {
    [0x02, 0x00, 0x5e, 0x10, 0x00, n]
}

/// The one's complement sum of `data` folded to 16 bits, starting from `initial` (not inverted).
pub fn ones_complement_sum(data: &[u8], initial: u32) -> u16 {
    let mut sum = initial as u64;
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        sum += u16::from_be_bytes([c[0], c[1]]) as u64;
    }
    if let [last] = chunks.remainder() {
        sum += (*last as u64) << 8;
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

/// The Internet checksum of `data` (RFC 1071).
pub fn checksum(data: &[u8]) -> u16 {
    !ones_complement_sum(data, 0)
}

fn pseudo_sum_v4(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, len: usize) -> u32 {
    let mut p = Vec::with_capacity(12);
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());
    p.extend_from_slice(&[0, proto]);
    p.extend_from_slice(&(len as u16).to_be_bytes());
    ones_complement_sum(&p, 0) as u32
}

fn pseudo_sum_v6(src: Ipv6Addr, dst: Ipv6Addr, proto: u8, len: usize) -> u32 {
    let mut p = Vec::with_capacity(40);
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());
    p.extend_from_slice(&(len as u32).to_be_bytes());
    p.extend_from_slice(&[0, 0, 0, proto]);
    ones_complement_sum(&p, 0) as u32
}

/// An Ethernet frame, zero-padded to the 60-byte minimum.
pub fn ethernet(dst: [u8; 6], src: [u8; 6], ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(14 + payload.len());
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(payload);
    if f.len() < MIN_FRAME {
        f.resize(MIN_FRAME, 0);
    }
    f
}

/// An 802.1Q-tagged Ethernet frame (priority 0), zero-padded to 60 bytes.
pub fn ethernet_vlan(
    dst: [u8; 6],
    src: [u8; 6],
    vlan_id: u16,
    ethertype: u16,
    payload: &[u8],
) -> Vec<u8> {
    let mut inner = Vec::with_capacity(4 + payload.len());
    inner.extend_from_slice(&(vlan_id & 0x0fff).to_be_bytes());
    inner.extend_from_slice(&ethertype.to_be_bytes());
    inner.extend_from_slice(payload);
    ethernet(dst, src, ETHERTYPE_VLAN, &inner)
}

/// An ARP request (Ethernet/IPv4) payload.
pub fn arp_request(sender_mac: [u8; 6], sender_ip: Ipv4Addr, target_ip: Ipv4Addr) -> Vec<u8> {
    let mut a = vec![0, 1, 8, 0, 6, 4, 0, 1];
    a.extend_from_slice(&sender_mac);
    a.extend_from_slice(&sender_ip.octets());
    a.extend_from_slice(&[0; 6]);
    a.extend_from_slice(&target_ip.octets());
    a
}

/// An IPv4 packet (20-byte header, DF set, given TTL) around `payload`.
pub fn ipv4(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    proto: u8,
    ttl: u8,
    ident: u16,
    payload: &[u8],
) -> Vec<u8> {
    let total = 20 + payload.len();
    let mut p = Vec::with_capacity(total);
    p.extend_from_slice(&[0x45, 0]);
    p.extend_from_slice(&(total as u16).to_be_bytes());
    p.extend_from_slice(&ident.to_be_bytes());
    p.extend_from_slice(&[0x40, 0, ttl, proto, 0, 0]);
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());
    let c = checksum(&p[..20]);
    p[10..12].copy_from_slice(&c.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

/// An IPv6 packet (no extension headers) around `payload`.
pub fn ipv6(src: Ipv6Addr, dst: Ipv6Addr, next: u8, hop_limit: u8, payload: &[u8]) -> Vec<u8> {
    let mut p = Vec::with_capacity(40 + payload.len());
    p.extend_from_slice(&[0x60, 0, 0, 0]);
    p.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    p.extend_from_slice(&[next, hop_limit]);
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());
    p.extend_from_slice(payload);
    p
}

/// The L4 addresses for a pseudo-header checksum.
#[derive(Debug, Clone, Copy)]
pub enum Ips {
    V4(Ipv4Addr, Ipv4Addr),
    V6(Ipv6Addr, Ipv6Addr),
}

impl Ips {
    fn pseudo_sum(self, proto: u8, len: usize) -> u32 {
        match self {
            Ips::V4(s, d) => pseudo_sum_v4(s, d, proto, len),
            Ips::V6(s, d) => pseudo_sum_v6(s, d, proto, len),
        }
    }

    /// Wraps an L4 segment in the matching IP header (TTL/hop limit 64).
    pub fn wrap(self, proto: u8, segment: &[u8]) -> Vec<u8> {
        match self {
            Ips::V4(s, d) => ipv4(s, d, proto, 64, 0x1234, segment),
            Ips::V6(s, d) => ipv6(s, d, proto, 64, segment),
        }
    }

    pub fn ethertype(self) -> u16 {
        match self {
            Ips::V4(..) => ETHERTYPE_IPV4,
            Ips::V6(..) => ETHERTYPE_IPV6,
        }
    }
}

/// A UDP datagram with its checksum.
pub fn udp(ips: Ips, sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let len = 8 + payload.len();
    let mut u = Vec::with_capacity(len);
    u.extend_from_slice(&sport.to_be_bytes());
    u.extend_from_slice(&dport.to_be_bytes());
    u.extend_from_slice(&(len as u16).to_be_bytes());
    u.extend_from_slice(&[0, 0]);
    u.extend_from_slice(payload);
    let mut c = !ones_complement_sum(&u, ips.pseudo_sum(PROTO_UDP, len));
    if c == 0 {
        c = 0xffff;
    }
    u[6..8].copy_from_slice(&c.to_be_bytes());
    u
}

/// TCP flag bits.
pub mod tcp_flags {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const PSH: u8 = 0x08;
    pub const ACK: u8 = 0x10;
}

/// A TCP segment (20-byte header, window 65535) with its checksum.
pub fn tcp(
    ips: Ips,
    sport: u16,
    dport: u16,
    seq: u32,
    ack: u32,
    flags: u8,
    payload: &[u8],
) -> Vec<u8> {
    let len = 20 + payload.len();
    let mut t = Vec::with_capacity(len);
    t.extend_from_slice(&sport.to_be_bytes());
    t.extend_from_slice(&dport.to_be_bytes());
    t.extend_from_slice(&seq.to_be_bytes());
    t.extend_from_slice(&ack.to_be_bytes());
    t.extend_from_slice(&[0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
    t.extend_from_slice(payload);
    let c = !ones_complement_sum(&t, ips.pseudo_sum(PROTO_TCP, len));
    t[16..18].copy_from_slice(&c.to_be_bytes());
    t
}

/// An ICMPv4 echo request (type 8) with its checksum.
pub fn icmpv4_echo_request(id: u16, seq: u16, payload: &[u8]) -> Vec<u8> {
    let mut m = vec![8, 0, 0, 0];
    m.extend_from_slice(&id.to_be_bytes());
    m.extend_from_slice(&seq.to_be_bytes());
    m.extend_from_slice(payload);
    let c = checksum(&m);
    m[2..4].copy_from_slice(&c.to_be_bytes());
    m
}

/// An ICMPv6 echo request (type 128) with its checksum.
pub fn icmpv6_echo_request(
    src: Ipv6Addr,
    dst: Ipv6Addr,
    id: u16,
    seq: u16,
    payload: &[u8],
) -> Vec<u8> {
    let mut m = vec![128, 0, 0, 0];
    m.extend_from_slice(&id.to_be_bytes());
    m.extend_from_slice(&seq.to_be_bytes());
    m.extend_from_slice(payload);
    let c = !ones_complement_sum(&m, pseudo_sum_v6(src, dst, PROTO_ICMPV6, m.len()));
    m[2..4].copy_from_slice(&c.to_be_bytes());
    m
}

/// A mix of frames for I/O path tests: ARP, IPv4 UDP/TCP/ICMP, IPv6 UDP/ICMPv6, an 802.1Q
/// tagged IPv4 UDP frame, a full-size 1514-byte frame and a minimum 60-byte frame, all with
/// correct checksums.
pub fn mixed_frames() -> Vec<Vec<u8>> {
    let (a, b) = (mac(1), mac(2));
    let (a4, b4) = (Ipv4Addr::new(10, 1, 0, 1), Ipv4Addr::new(10, 1, 0, 2));
    let (a6, b6): (Ipv6Addr, Ipv6Addr) =
        ("fd00:1::1".parse().unwrap(), "fd00:1::2".parse().unwrap());
    let v4 = Ips::V4(a4, b4);
    let v6 = Ips::V6(a6, b6);
    let big: Vec<u8> = (0..1514 - 14 - 20 - 8).map(|i| i as u8).collect();
    vec![
        ethernet(BROADCAST, a, ETHERTYPE_ARP, &arp_request(a, a4, b4)),
        ethernet(
            b,
            a,
            ETHERTYPE_IPV4,
            &v4.wrap(PROTO_UDP, &udp(v4, 40000, 5001, b"mixed udp payload")),
        ),
        ethernet(
            b,
            a,
            ETHERTYPE_IPV4,
            &v4.wrap(PROTO_TCP, &tcp(v4, 40001, 80, 1, 0, tcp_flags::SYN, &[])),
        ),
        ethernet(
            a,
            b,
            ETHERTYPE_IPV4,
            &v4.wrap(
                PROTO_TCP,
                &tcp(
                    Ips::V4(b4, a4),
                    80,
                    40001,
                    7,
                    2,
                    tcp_flags::ACK | tcp_flags::PSH,
                    b"HTTP/1.1 200 OK\r\n\r\n",
                ),
            ),
        ),
        ethernet(
            b,
            a,
            ETHERTYPE_IPV4,
            &v4.wrap(PROTO_ICMP, &icmpv4_echo_request(7, 1, b"ping")),
        ),
        ethernet(
            b,
            a,
            ETHERTYPE_IPV6,
            &v6.wrap(PROTO_UDP, &udp(v6, 40002, 5001, b"udp over ipv6")),
        ),
        ethernet(
            b,
            a,
            ETHERTYPE_IPV6,
            &v6.wrap(PROTO_ICMPV6, &icmpv6_echo_request(a6, b6, 9, 1, b"ping6")),
        ),
        ethernet_vlan(
            b,
            a,
            100,
            ETHERTYPE_IPV4,
            &v4.wrap(PROTO_UDP, &udp(v4, 40003, 5002, b"tagged")),
        ),
        ethernet(
            b,
            a,
            ETHERTYPE_IPV4,
            &v4.wrap(PROTO_UDP, &udp(v4, 40004, 9, &big)),
        ),
        ethernet(
            b,
            a,
            ETHERTYPE_IPV4,
            &v4.wrap(PROTO_UDP, &udp(v4, 40005, 9, &[])),
        ),
    ]
}

/// ICMPv6 checksum (RFC 4443 2.3) over the pseudo-header and `msg`.
pub fn icmpv6_checksum(src: Ipv6Addr, dst: Ipv6Addr, msg: &mut [u8]) {
    let mut ph = Vec::new();
    ph.extend_from_slice(&src.octets());
    ph.extend_from_slice(&dst.octets());
    ph.extend_from_slice(&(msg.len() as u32).to_be_bytes());
    ph.extend_from_slice(&[0, 0, 0, 58]);
    msg[2..4].copy_from_slice(&[0, 0]);
    let s = ones_complement_sum(msg, ones_complement_sum(&ph, 0) as u32);
    msg[2..4].copy_from_slice(&(!s).to_be_bytes());
}

/// A Neighbor Solicitation from `src` (with its link-layer address) for `target`, IPv6 first.
pub fn neighbor_solicitation(src: Ipv6Addr, target: Ipv6Addr, mac: [u8; 6]) -> ([u8; 6], Vec<u8>) {
    let t = target.octets();
    let dst = Ipv6Addr::new(
        0xff02,
        0,
        0,
        0,
        0,
        1,
        0xff00 | t[13] as u16,
        u16::from_be_bytes([t[14], t[15]]),
    );
    let mut msg = vec![135, 0, 0, 0, 0, 0, 0, 0];
    msg.extend_from_slice(&t);
    msg.extend_from_slice(&[1, 1]);
    msg.extend_from_slice(&mac);
    icmpv6_checksum(src, dst, &mut msg);
    let d = dst.octets();
    (
        [0x33, 0x33, d[12], d[13], d[14], d[15]],
        ipv6(src, dst, PROTO_ICMPV6, 255, &msg),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_matches_rfc1071_example() {
        // RFC 1071 section 3: the sum of 00 01 f2 03 f4 f5 f6 f7 is ddf2.
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(ones_complement_sum(&data, 0), 0xddf2);
        assert_eq!(checksum(&data), !0xddf2);
    }

    #[test]
    fn ipv4_header_checksum_verifies_to_zero() {
        let p = ipv4(
            Ipv4Addr::new(192, 0, 2, 1),
            Ipv4Addr::new(198, 51, 100, 7),
            PROTO_UDP,
            64,
            1,
            &[1, 2, 3],
        );
        assert_eq!(checksum(&p[..20]), 0);
        assert_eq!(u16::from_be_bytes([p[2], p[3]]), 23);
    }

    #[test]
    fn l4_checksums_verify_with_the_pseudo_header() {
        let s: Ipv6Addr = "2001:db8::1".parse().unwrap();
        let d: Ipv6Addr = "2001:db8::2".parse().unwrap();
        let u = udp(Ips::V6(s, d), 1, 2, b"abc");
        assert_eq!(
            !ones_complement_sum(&u, pseudo_sum_v6(s, d, PROTO_UDP, u.len())),
            0
        );
        let t = tcp(Ips::V6(s, d), 1, 2, 3, 4, tcp_flags::SYN, b"abcd");
        assert_eq!(
            !ones_complement_sum(&t, pseudo_sum_v6(s, d, PROTO_TCP, t.len())),
            0
        );
        let m = icmpv6_echo_request(s, d, 1, 1, b"x");
        assert_eq!(
            !ones_complement_sum(&m, pseudo_sum_v6(s, d, PROTO_ICMPV6, m.len())),
            0
        );
    }

    #[test]
    fn mixed_frames_have_the_promised_sizes() {
        let f = mixed_frames();
        assert!(f.iter().all(|f| f.len() >= MIN_FRAME && f.len() <= 1514));
        assert!(f.iter().any(|f| f.len() == 1514));
        assert!(f.iter().any(|f| f.len() == MIN_FRAME));
        assert!(f.iter().any(|f| f[12..14] == ETHERTYPE_VLAN.to_be_bytes()));
        assert!(f.iter().any(|f| f[12..14] == ETHERTYPE_ARP.to_be_bytes()));
        assert!(f.iter().any(|f| f[12..14] == ETHERTYPE_IPV6.to_be_bytes()));
    }
}
