//! Golden pcap test of SNAT44/SNAT66 through the running VNF (egress mode, `net_pcap` vdevs,
//! one worker): a pod sends a TCP SYN, a UDP datagram and an ICMP echo request over IPv4, and a
//! UDP datagram and an ICMPv6 echo request over IPv6; the world answers each of them (SYN-ACK,
//! UDP, echo replies) and sends an ICMP and an ICMPv6 Port Unreachable about the translated UDP
//! datagrams.
//! Every packet is checked at fixed offsets on both sides and tshark decodes every frame the
//! VNF emits without a malformed packet or a bad checksum (inner ones of the ICMP error too).
//!
//! Ordering: both input pcaps are read as fast as the worker polls; the worker polls port 1.1
//! before 1.2 and the external input starts with 96 frames of an unknown VLAN (dropped,
//! counted), so the pod's packets open their sessions before any reply arrives. The outside
//! ports are predictable because the pod's ports are free and in range: the VNF keeps them
//! (port preservation, RFC 4787 section 4.1), which the test checks on the outbound packets.

use egress_tests::frames::{self, tcp_flags, Ips};
use egress_tests::vnf::{release_binary, Vnf, VnfBuilder};
use egress_tests::{pcap, require_root, serial, tshark};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::time::{Duration, Instant};

const TOML: &str = r#"
[[vlans]]
name = "pods"
interfaces = ["1.1"]
internal = true
self_v4 = "10.1.0.254"
prefixlen_v4 = 24
self_v6 = "fd00:1::fe"
prefixlen_v6 = 64

[[vlans]]
name = "outside"
interfaces = ["1.2"]
tag = 100
self_v4 = "192.0.2.254"
prefixlen_v4 = 24
self_v6 = "2001:db8::fe"
prefixlen_v6 = 64

[snat]
pool_v4 = ["192.0.2.10"]
pool_v6 = ["2001:db8::10"]
dual_stack = true
sessions_per_worker = 4096
"#;

const POD_MAC: [u8; 6] = [0x02, 0x00, 0x5e, 0x10, 0x00, 0x01];
const EXT_MAC: [u8; 6] = [0x02, 0x00, 0x5e, 0x20, 0x00, 0x01];
const EXT_TAG: u16 = 100;
const ALL_NODES: [u8; 6] = [0x33, 0x33, 0, 0, 0, 1];

fn pod4() -> Ipv4Addr {
    Ipv4Addr::new(10, 1, 0, 1)
}
fn self4() -> Ipv4Addr {
    Ipv4Addr::new(10, 1, 0, 254)
}
fn ext4() -> Ipv4Addr {
    Ipv4Addr::new(192, 0, 2, 1)
}
fn snat4() -> Ipv4Addr {
    Ipv4Addr::new(192, 0, 2, 10)
}
fn pod6() -> Ipv6Addr {
    "fd00:1::1".parse().unwrap()
}
fn self6() -> Ipv6Addr {
    "fd00:1::fe".parse().unwrap()
}
fn ext6() -> Ipv6Addr {
    "2001:db8::1".parse().unwrap()
}
fn snat6() -> Ipv6Addr {
    "2001:db8::10".parse().unwrap()
}

/// ICMPv4 echo reply (type 0).
fn icmpv4_echo_reply(id: u16, seq: u16, payload: &[u8]) -> Vec<u8> {
    let mut m = frames::icmpv4_echo_request(id, seq, payload);
    m[0] = 0;
    m[2..4].copy_from_slice(&[0, 0]);
    let c = frames::checksum(&m);
    m[2..4].copy_from_slice(&c.to_be_bytes());
    m
}

/// ICMPv6 echo reply (type 129).
fn icmpv6_echo_reply(src: Ipv6Addr, dst: Ipv6Addr, id: u16, seq: u16, payload: &[u8]) -> Vec<u8> {
    let mut m = frames::icmpv6_echo_request(src, dst, id, seq, payload);
    m[0] = 129;
    frames::icmpv6_checksum(src, dst, &mut m);
    m
}

/// ICMPv4 Destination Unreachable, Port Unreachable, quoting `quoted` (an IPv4 packet).
fn icmpv4_port_unreachable(quoted: &[u8]) -> Vec<u8> {
    let mut m = vec![3, 3, 0, 0, 0, 0, 0, 0];
    m.extend_from_slice(quoted);
    let c = frames::checksum(&m);
    m[2..4].copy_from_slice(&c.to_be_bytes());
    m
}

fn pod_v4(ip: Vec<u8>) -> Vec<u8> {
    frames::ethernet(frames::BROADCAST, POD_MAC, frames::ETHERTYPE_IPV4, &ip)
}
fn pod_v6(ip: Vec<u8>) -> Vec<u8> {
    frames::ethernet(ALL_NODES, POD_MAC, frames::ETHERTYPE_IPV6, &ip)
}
fn ext_v4(ip: Vec<u8>) -> Vec<u8> {
    frames::ethernet_vlan(
        frames::BROADCAST,
        EXT_MAC,
        EXT_TAG,
        frames::ETHERTYPE_IPV4,
        &ip,
    )
}
fn ext_v6(ip: Vec<u8>) -> Vec<u8> {
    frames::ethernet_vlan(ALL_NODES, EXT_MAC, EXT_TAG, frames::ETHERTYPE_IPV6, &ip)
}

/// Runs `egressctl --socket <vnf's> ARGS`; returns stdout.
fn egressctl(vnf: &Vnf, args: &[&str]) -> String {
    let out = std::process::Command::new(release_binary("egressctl").unwrap())
        .arg("--socket")
        .arg(vnf.control_socket())
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "egressctl {args:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Frames written so far to a (growing) pcap.
fn frames_of(path: &Path) -> Vec<Vec<u8>> {
    std::fs::read(path)
        .ok()
        .and_then(|b| pcap::parse_lenient(&b).ok())
        .map(|p| p.packets.into_iter().map(|p| p.data).collect())
        .unwrap_or_default()
}

/// IP packets (L2 header and an 802.1Q tag removed) of `frames` with this ethertype.
fn ip_packets(frames: &[Vec<u8>], ethertype: u16) -> Vec<Vec<u8>> {
    frames
        .iter()
        .filter_map(|f| {
            let (et, off) = if f[12..14] == [0x81, 0x00] {
                (u16::from_be_bytes([f[16], f[17]]), 18)
            } else {
                (u16::from_be_bytes([f[12], f[13]]), 14)
            };
            (et == ethertype).then(|| f[off..].to_vec())
        })
        .collect()
}

fn v4_total(p: &[u8]) -> Vec<u8> {
    p[..usize::from(u16::from_be_bytes([p[2], p[3]]))].to_vec()
}

/// The one IPv4 packet of `pkts` with this protocol and source/destination; IP header first,
/// trimmed to its total length.
fn one4(pkts: &[Vec<u8>], proto: u8, src: Ipv4Addr, dst: Ipv4Addr, what: &str) -> Vec<u8> {
    let m: Vec<Vec<u8>> = pkts
        .iter()
        .filter(|p| p[9] == proto && p[12..16] == src.octets() && p[16..20] == dst.octets())
        .map(|p| v4_total(p))
        .collect();
    assert_eq!(m.len(), 1, "{what}: {m:02x?}");
    m.into_iter().next().unwrap()
}

fn one6(pkts: &[Vec<u8>], next: u8, src: Ipv6Addr, dst: Ipv6Addr, what: &str) -> Vec<u8> {
    let m: Vec<&Vec<u8>> = pkts
        .iter()
        .filter(|p| p[6] == next && p[8..24] == src.octets() && p[24..40] == dst.octets())
        .collect();
    assert_eq!(m.len(), 1, "{what}: {m:02x?}");
    m[0].clone()
}

fn u16_at(p: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([p[at], p[at + 1]])
}

/// RFC 4787 (UDP: endpoint-independent mapping, port preservation), RFC 5382 (TCP SYN and
/// SYN-ACK), RFC 5508 section 3 (echo identifier) and section 4 (ICMP error with the inner
/// packet translated back), over IPv4 and IPv6 (SNAT66 with dual stack).
#[test]
fn snat_tcp_udp_icmp_and_replies_rfc4787_rfc5382_rfc5508_sections_3_4_golden() {
    require_root();
    let _s = serial();
    let dir = egress_tests::test_dir("snat-golden").unwrap();
    let p = |n: &str| dir.path().join(n);
    let (v4p, v4e) = (Ips::V4(pod4(), ext4()), Ips::V4(ext4(), snat4()));
    let (v6p, v6e) = (Ips::V6(pod6(), ext6()), Ips::V6(ext6(), snat6()));

    // Pod side: learn the pod (ARP, NS), then the five packets.
    let (ns_dst, ns) = frames::neighbor_solicitation(pod6(), self6(), POD_MAC);
    let syn = frames::tcp(v4p, 40001, 80, 1000, 0, tcp_flags::SYN, &[]);
    let udp = frames::udp(v4p, 40002, 7777, b"golden-udp");
    let echo = frames::icmpv4_echo_request(0x1234, 1, b"golden-echo");
    let udp6 = frames::udp(v6p, 40003, 7777, b"golden-udp6");
    let echo6 = frames::icmpv6_echo_request(pod6(), ext6(), 0x2345, 1, b"golden-echo6");
    let in1 = vec![
        frames::ethernet(
            frames::BROADCAST,
            POD_MAC,
            frames::ETHERTYPE_ARP,
            &frames::arp_request(POD_MAC, pod4(), self4()),
        ),
        frames::ethernet(ns_dst, POD_MAC, frames::ETHERTYPE_IPV6, &ns),
        pod_v4(frames::ipv4(pod4(), ext4(), frames::PROTO_TCP, 64, 1, &syn)),
        pod_v4(frames::ipv4(pod4(), ext4(), frames::PROTO_UDP, 64, 2, &udp)),
        pod_v4(frames::ipv4(
            pod4(),
            ext4(),
            frames::PROTO_ICMP,
            64,
            3,
            &echo,
        )),
        pod_v6(frames::ipv6(pod6(), ext6(), frames::PROTO_UDP, 64, &udp6)),
        pod_v6(frames::ipv6(
            pod6(),
            ext6(),
            frames::PROTO_ICMPV6,
            64,
            &echo6,
        )),
    ];

    // World side: filler, learn the world host (ARP, NS for the SNAT addresses), the replies.
    // The outside ports equal the pod's (port preservation, checked below).
    let synack = frames::tcp(
        v4e,
        80,
        40001,
        5000,
        1001,
        tcp_flags::SYN | tcp_flags::ACK,
        &[],
    );
    let udp_r = frames::udp(v4e, 7777, 40002, b"golden-udp-reply");
    let echo_r = icmpv4_echo_reply(0x1234, 1, b"golden-echo");
    let udp6_r = frames::udp(v6e, 7777, 40003, b"golden-udp6-reply");
    let echo6_r = icmpv6_echo_reply(ext6(), snat6(), 0x2345, 1, b"golden-echo6");
    // What the world received for the UDP datagram: source 192.0.2.10:40002, TTL 63.
    let udp_out = frames::ipv4(
        snat4(),
        ext4(),
        frames::PROTO_UDP,
        63,
        2,
        &frames::udp(Ips::V4(snat4(), ext4()), 40002, 7777, b"golden-udp"),
    );
    let unreach = icmpv4_port_unreachable(&udp_out);
    // The same for IPv6: what the world received, and its ICMPv6 Port Unreachable about it.
    let udp6_out = frames::ipv6(
        snat6(),
        ext6(),
        frames::PROTO_UDP,
        63,
        &frames::udp(Ips::V6(snat6(), ext6()), 40003, 7777, b"golden-udp6"),
    );
    let mut unreach6 = vec![1, 4, 0, 0, 0, 0, 0, 0];
    unreach6.extend_from_slice(&udp6_out);
    frames::icmpv6_checksum(ext6(), snat6(), &mut unreach6);
    let (ns2_dst, ns2) = frames::neighbor_solicitation(ext6(), snat6(), EXT_MAC);
    let mut in2: Vec<Vec<u8>> = (0..96)
        .map(|i| {
            frames::ethernet_vlan(
                frames::BROADCAST,
                EXT_MAC,
                999,
                frames::ETHERTYPE_IPV4,
                &frames::ipv4(ext4(), snat4(), frames::PROTO_UDP, 64, i, &[0; 8]),
            )
        })
        .collect();
    in2.extend([
        frames::ethernet_vlan(
            frames::BROADCAST,
            EXT_MAC,
            EXT_TAG,
            frames::ETHERTYPE_ARP,
            &frames::arp_request(EXT_MAC, ext4(), snat4()),
        ),
        frames::ethernet_vlan(ns2_dst, EXT_MAC, EXT_TAG, frames::ETHERTYPE_IPV6, &ns2),
        ext_v4(frames::ipv4(
            ext4(),
            snat4(),
            frames::PROTO_TCP,
            64,
            11,
            &synack,
        )),
        ext_v4(frames::ipv4(
            ext4(),
            snat4(),
            frames::PROTO_UDP,
            64,
            12,
            &udp_r,
        )),
        ext_v4(frames::ipv4(
            ext4(),
            snat4(),
            frames::PROTO_ICMP,
            64,
            13,
            &echo_r,
        )),
        ext_v4(frames::ipv4(
            ext4(),
            snat4(),
            frames::PROTO_ICMP,
            64,
            14,
            &unreach,
        )),
        ext_v6(frames::ipv6(
            ext6(),
            snat6(),
            frames::PROTO_UDP,
            64,
            &udp6_r,
        )),
        ext_v6(frames::ipv6(
            ext6(),
            snat6(),
            frames::PROTO_ICMPV6,
            64,
            &echo6_r,
        )),
        ext_v6(frames::ipv6(
            ext6(),
            snat6(),
            frames::PROTO_ICMPV6,
            64,
            &unreach6,
        )),
    ]);

    pcap::write_frames(&p("in1.pcap"), &in1).unwrap();
    pcap::write_frames(&p("in2.pcap"), &in2).unwrap();
    let vnf = VnfBuilder::new()
        .label("snat-golden")
        .mode("egress")
        .workers(1)
        .extra_toml(TOML)
        .vdev(&format!(
            "net_pcap0,rx_pcap={},tx_pcap={}",
            p("in1.pcap").display(),
            p("out1.pcap").display()
        ))
        .vdev(&format!(
            "net_pcap1,rx_pcap={},tx_pcap={}",
            p("in2.pcap").display(),
            p("out2.pcap").display()
        ))
        .start()
        .unwrap();
    // Wait for the six packets to the pod and the five to the world.
    let to_pod = |f: &[Vec<u8>]| {
        ip_packets(f, frames::ETHERTYPE_IPV4)
            .iter()
            .filter(|p| p[16..20] == pod4().octets())
            .count()
            + ip_packets(f, frames::ETHERTYPE_IPV6)
                .iter()
                .filter(|p| p[24..40] == pod6().octets() && p[6] != frames::PROTO_ICMPV6)
                .count()
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline
        && (to_pod(&frames_of(&p("out1.pcap"))) < 4
            || ip_packets(&frames_of(&p("out2.pcap")), frames::ETHERTYPE_IPV4).len() < 3)
    {
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(1500));
    let drops = egressctl(&vnf, &["show", "drops"]);
    vnf.stop().unwrap();

    let out1 = pcap::read(&p("out1.pcap")).unwrap();
    let out2 = pcap::read(&p("out2.pcap")).unwrap();
    let out1: Vec<Vec<u8>> = out1.packets.into_iter().map(|p| p.data).collect();
    let out2: Vec<Vec<u8>> = out2.packets.into_iter().map(|p| p.data).collect();
    // The oracle: every frame the VNF emitted decodes cleanly.
    tshark::assert_clean(&p("out1.pcap"), Some(out1.len())).unwrap();
    tshark::assert_clean(&p("out2.pcap"), Some(out2.len())).unwrap();

    // --- Out of port 1.2 (the world), tagged 100: sources translated, ports preserved.
    assert!(
        out2.iter()
            .all(|f| f[12..16] == [0x81, 0, 0, EXT_TAG as u8]),
        "every frame to the world carries tag 100"
    );
    let w4 = ip_packets(&out2, frames::ETHERTYPE_IPV4);
    let w6 = ip_packets(&out2, frames::ETHERTYPE_IPV6);
    // RFC 5382 REQ-1 / RFC 4787 4.1: TCP SYN from 192.0.2.10, port 40001 kept, TTL 63.
    let s = one4(&w4, frames::PROTO_TCP, snat4(), ext4(), "SYN out");
    assert_eq!(s[8], 63, "TTL decremented once");
    assert_eq!(u16_at(&s, 20), 40001, "TCP source port preserved");
    assert_eq!(u16_at(&s, 22), 80);
    assert_eq!(s[33], tcp_flags::SYN);
    assert_eq!(&s[24..28], &1000u32.to_be_bytes(), "sequence number kept");
    // UDP: byte for byte what the test expects the world to see.
    let u = one4(&w4, frames::PROTO_UDP, snat4(), ext4(), "UDP out");
    assert_eq!(u, udp_out, "UDP out, byte for byte");
    // RFC 5508 section 3: echo request from 192.0.2.10, identifier kept (free, in range).
    let e = one4(&w4, frames::PROTO_ICMP, snat4(), ext4(), "echo out");
    assert_eq!(e[20], 8);
    assert_eq!(u16_at(&e, 24), 0x1234);
    assert!(e.ends_with(b"golden-echo"));
    // IPv6 (SNAT66): from 2001:db8::10, hop limit 63, port and identifier kept.
    let u6 = one6(&w6, frames::PROTO_UDP, snat6(), ext6(), "UDPv6 out");
    assert_eq!(u6[7], 63, "hop limit decremented once");
    assert_eq!(u16_at(&u6, 40), 40003);
    assert!(u6.ends_with(b"golden-udp6"));
    // (The NA that answered the world's NS for 2001:db8::10 is ICMPv6 too: echo requests only.)
    let echo_req6: Vec<Vec<u8>> = w6.iter().filter(|p| p[40] == 128).cloned().collect();
    let e6 = one6(
        &echo_req6,
        frames::PROTO_ICMPV6,
        snat6(),
        ext6(),
        "echo6 out",
    );
    assert_eq!(u16_at(&e6, 44), 0x2345);
    // The pod's own addresses never reach the world.
    for p in w4.iter() {
        assert_ne!(
            p[12..16],
            pod4().octets(),
            "untranslated IPv4 packet {p:02x?}"
        );
    }
    for p in w6.iter() {
        assert_ne!(
            p[8..24],
            pod6().octets(),
            "untranslated IPv6 packet {p:02x?}"
        );
    }

    // --- Out of port 1.1 (the pod): replies translated back to the pod's address and ports.
    let p4 = ip_packets(&out1, frames::ETHERTYPE_IPV4);
    let p6 = ip_packets(&out1, frames::ETHERTYPE_IPV6);
    let sa = one4(&p4, frames::PROTO_TCP, ext4(), pod4(), "SYN-ACK in");
    assert_eq!(sa[8], 63);
    assert_eq!((u16_at(&sa, 20), u16_at(&sa, 22)), (80, 40001));
    assert_eq!(sa[33], tcp_flags::SYN | tcp_flags::ACK);
    assert_eq!(&sa[28..32], &1001u32.to_be_bytes(), "acknowledgment kept");
    let icmp_in: Vec<Vec<u8>> = p4
        .iter()
        .filter(|p| p[9] == frames::PROTO_ICMP && p[16..20] == pod4().octets())
        .map(|p| v4_total(p))
        .collect();
    let ur = one4(&p4, frames::PROTO_UDP, ext4(), pod4(), "UDP in");
    assert_eq!((u16_at(&ur, 20), u16_at(&ur, 22)), (7777, 40002));
    assert!(ur.ends_with(b"golden-udp-reply"));
    let er: Vec<&Vec<u8>> = icmp_in.iter().filter(|p| p[20] == 0).collect();
    assert_eq!(er.len(), 1, "one echo reply to the pod");
    assert_eq!(&er[0][12..16], &ext4().octets());
    assert_eq!(u16_at(er[0], 24), 0x1234, "the pod's identifier");
    assert!(er[0].ends_with(b"golden-echo"));
    // RFC 5508 section 4: the Port Unreachable reaches the pod about the pod's own datagram:
    // inner source 10.1.0.1:40002, inner IPv4 checksum valid (tshark checked it too).
    let un: Vec<&Vec<u8>> = icmp_in.iter().filter(|p| p[20] == 3).collect();
    assert_eq!(un.len(), 1, "one ICMP error to the pod: {icmp_in:02x?}");
    let un = un[0];
    assert_eq!(un[21], 3, "Port Unreachable");
    assert_eq!(&un[12..16], &ext4().octets(), "from the world host");
    let inner = &un[28..];
    assert_eq!(&inner[12..16], &pod4().octets(), "inner source: the pod");
    assert_eq!(&inner[16..20], &ext4().octets());
    assert_eq!((u16_at(inner, 20), u16_at(inner, 22)), (40002, 7777));
    assert_eq!(
        frames::checksum(&inner[..20]),
        0,
        "inner IPv4 header checksum"
    );
    assert!(inner.ends_with(b"golden-udp"));
    let ur6 = one6(&p6, frames::PROTO_UDP, ext6(), pod6(), "UDPv6 in");
    assert_eq!((u16_at(&ur6, 40), u16_at(&ur6, 42)), (7777, 40003));
    assert!(ur6.ends_with(b"golden-udp6-reply"));
    let er6: Vec<&Vec<u8>> = p6
        .iter()
        .filter(|p| p[6] == frames::PROTO_ICMPV6 && p[24..40] == pod6().octets() && p[40] == 129)
        .collect();
    assert_eq!(er6.len(), 1, "one ICMPv6 echo reply to the pod");
    assert_eq!(&er6[0][8..24], &ext6().octets());
    assert_eq!(u16_at(er6[0], 44), 0x2345);
    // The ICMPv6 error about the pod's IPv6 datagram (the RFC 5508 section 4 behaviour for
    // SNAT66): inner source fd00:1::1:40003, checksums recomputed (tshark checked them).
    let un6: Vec<&Vec<u8>> = p6
        .iter()
        .filter(|p| p[6] == frames::PROTO_ICMPV6 && p[24..40] == pod6().octets() && p[40] == 1)
        .collect();
    assert_eq!(un6.len(), 1, "one ICMPv6 error to the pod: {p6:02x?}");
    let un6 = un6[0];
    assert_eq!(un6[41], 4, "Port Unreachable");
    assert_eq!(&un6[8..24], &ext6().octets(), "from the world host");
    let inner6 = &un6[48..];
    assert_eq!(&inner6[8..24], &pod6().octets(), "inner source: the pod");
    assert_eq!(&inner6[24..40], &ext6().octets());
    assert_eq!((u16_at(inner6, 40), u16_at(inner6, 42)), (40003, 7777));
    assert!(inner6.ends_with(b"golden-udp6"));

    // Nothing of the flows was dropped; the filler was (unknown VLAN).
    for l in drops.lines().skip(1) {
        let mut w = l.split_whitespace();
        let (Some(reason), Some(n)) = (w.next(), w.next()) else {
            continue;
        };
        assert!(
            !reason.starts_with("nat") || n == "0",
            "unexpected NAT drop {reason} {n}:\n{drops}"
        );
    }
}
