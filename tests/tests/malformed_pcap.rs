//! Malformed-packet suite (docs/testing.md): hostile and broken frames replayed through the
//! running VNF (egress mode, every function on, `net_pcap` ports). Each case is dropped under
//! its named reason (`show drops`) or answered as its RFC says, nothing crashes, and good
//! traffic sent after them is still answered and forwarded. tshark decodes every frame the VNF
//! emits.
//!
//! Frames are built with the tests crate's own builders (independent of `vnf/src/wire`).

use egress_tests::vnf::{release_binary, Vnf, VnfBuilder};
use egress_tests::{frames, pcap, require_root, serial, tshark};
use frames::{tcp_flags, Ips};
use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::time::{Duration, Instant};

const TOML: &str = r#"
[[vlans]]
name = "internal"
interfaces = ["1.1"]
internal = true
self_v4 = "10.1.0.254"
prefixlen_v4 = 24
self_v6 = "fd00:1::fe"
prefixlen_v6 = 64

[[vlans]]
name = "external"
interfaces = ["1.2"]
tag = 100
self_v4 = "192.0.2.254"
prefixlen_v4 = 24
self_v6 = "2001:db8::fe"
prefixlen_v6 = 64

[[routes]]
destination = "0.0.0.0"
prefix_len = 0
gateway = "192.0.2.1"

[[routes]]
destination = "::"
prefix_len = 0
gateway = "2001:db8::1"

[snat]
pool_v4 = ["192.0.2.10"]
pool_v6 = ["2001:db8::10"]
dual_stack = true

[nat64]
enabled = true

[dns]
enabled = true

[[dns.forward_zones]]
zone = "."
servers = ["192.0.2.53:53"]
"#;

const POD_MAC: [u8; 6] = [0x02, 0x00, 0x5e, 0x10, 0x00, 0x01];
const GW_MAC: [u8; 6] = [0x02, 0x00, 0x5e, 0x20, 0x00, 0x01];
const BC: [u8; 6] = frames::BROADCAST;
const ALL_NODES: [u8; 6] = [0x33, 0x33, 0, 0, 0, 1];

fn pod4() -> Ipv4Addr {
    Ipv4Addr::new(10, 1, 0, 1)
}
fn self4() -> Ipv4Addr {
    Ipv4Addr::new(10, 1, 0, 254)
}
fn server4() -> Ipv4Addr {
    Ipv4Addr::new(198, 51, 100, 7)
}
fn pod6() -> Ipv6Addr {
    "fd00:1::1".parse().unwrap()
}
fn self6() -> Ipv6Addr {
    "fd00:1::fe".parse().unwrap()
}
fn far6() -> Ipv6Addr {
    "2001:db8:99::1".parse().unwrap()
}
fn nat64_server() -> Ipv6Addr {
    "64:ff9b::c633:6407".parse().unwrap()
}

fn e4(ip: &[u8]) -> Vec<u8> {
    frames::ethernet(BC, POD_MAC, frames::ETHERTYPE_IPV4, ip)
}
fn e6(ip: &[u8]) -> Vec<u8> {
    frames::ethernet(ALL_NODES, POD_MAC, frames::ETHERTYPE_IPV6, ip)
}

/// Recomputes the IPv4 header checksum of `p` (header length from IHL).
fn fix_ipv4_checksum(p: &mut [u8]) {
    let hl = usize::from(p[0] & 0x0f) * 4;
    p[10..12].copy_from_slice(&[0, 0]);
    let c = frames::checksum(&p[..hl.min(p.len())]);
    p[10..12].copy_from_slice(&c.to_be_bytes());
}

/// ICMPv6 `msg` (checksum field zeroed and filled) in IPv6 with `hop` limit.
fn icmpv6(src: Ipv6Addr, dst: Ipv6Addr, hop: u8, mut msg: Vec<u8>) -> Vec<u8> {
    let mut ph = Vec::new();
    ph.extend_from_slice(&src.octets());
    ph.extend_from_slice(&dst.octets());
    ph.extend_from_slice(&(msg.len() as u32).to_be_bytes());
    ph.extend_from_slice(&[0, 0, 0, 58]);
    msg[2..4].copy_from_slice(&[0, 0]);
    let s = frames::ones_complement_sum(&msg, frames::ones_complement_sum(&ph, 0) as u32);
    msg[2..4].copy_from_slice(&(!s).to_be_bytes());
    frames::ipv6(src, dst, frames::PROTO_ICMPV6, hop, &msg)
}

fn ns_msg(target: Ipv6Addr, mac: [u8; 6]) -> Vec<u8> {
    let mut m = vec![135, 0, 0, 0, 0, 0, 0, 0];
    m.extend_from_slice(&target.octets());
    m.extend_from_slice(&[1, 1]);
    m.extend_from_slice(&mac);
    m
}

fn solicited(a: Ipv6Addr) -> Ipv6Addr {
    let o = a.octets();
    Ipv6Addr::new(
        0xff02,
        0,
        0,
        0,
        0,
        1,
        0xff00 | u16::from(o[13]),
        u16::from_be_bytes([o[14], o[15]]),
    )
}

fn syn(ips: Ips, sport: u16, dport: u16) -> Vec<u8> {
    ips.wrap(
        frames::PROTO_TCP,
        &frames::tcp(ips, sport, dport, 1, 0, tcp_flags::SYN, &[]),
    )
}

fn dns_query(id: u16) -> Vec<u8> {
    let mut m = id.to_be_bytes().to_vec();
    m.extend_from_slice(&[1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 3]);
    m.extend_from_slice(b"www\x07example\x03com\x00\x00\x01\x00\x01");
    m
}

/// One malformed case: a name, the frame, and what it must be counted as.
struct Case {
    name: &'static str,
    frame: Vec<u8>,
    reason: &'static str,
}

fn cases() -> Vec<Case> {
    let mut v = Vec::new();
    let mut add = |name, frame, reason| {
        v.push(Case {
            name,
            frame,
            reason,
        })
    };
    let good4 = syn(Ips::V4(pod4(), server4()), 40000, 80);

    // ---- Ethernet / 802.1Q ----
    add("runt ethernet (10 bytes)", vec![0xff; 10], "l2_truncated");
    add(
        "802.1Q header cut after the TPID",
        [&BC[..], &POD_MAC[..], &[0x81, 0x00]].concat(),
        "l2_truncated",
    );
    add(
        "unknown VLAN 999",
        frames::ethernet_vlan(BC, POD_MAC, 999, frames::ETHERTYPE_IPV4, &good4),
        "unknown_vlan",
    );
    add(
        "unsupported ethertype 0x88b5",
        frames::ethernet(BC, POD_MAC, 0x88b5, b"local experimental ethertype"),
        "unsupported_ethertype",
    );

    // ---- IPv4 (RFC 791, RFC 1812 5.2.2: a router validates and silently discards) ----
    add(
        "IPv4 header truncated (12 bytes)",
        [&BC[..], &POD_MAC[..], &[0x08, 0x00], &good4[..12]].concat(),
        "ipv4_truncated",
    );
    let mut p = good4.clone();
    p[0] = 0x55;
    fix_ipv4_checksum(&mut p);
    add("IPv4 version 5", e4(&p), "ipv4_bad_version");
    let mut p = good4.clone();
    p[0] = 0x44;
    add("IPv4 IHL 4 (< 5)", e4(&p), "ipv4_bad_header_len");
    let mut p = good4.clone();
    p[0] = 0x4f;
    fix_ipv4_checksum(&mut p);
    add("IPv4 IHL 15 beyond the packet", e4(&p), "ipv4_truncated");
    let mut p = good4.clone();
    let n = p.len() as u16;
    p[2..4].copy_from_slice(&(n + 100).to_be_bytes());
    fix_ipv4_checksum(&mut p);
    add(
        "IPv4 total length beyond the frame",
        e4(&p),
        "ipv4_bad_length",
    );
    let mut p = good4.clone();
    p[2..4].copy_from_slice(&12u16.to_be_bytes());
    fix_ipv4_checksum(&mut p);
    add(
        "IPv4 total length below the header",
        e4(&p),
        "ipv4_bad_length",
    );
    let mut p = good4.clone();
    p[10] ^= 0x5a;
    add("IPv4 bad header checksum", e4(&p), "ipv4_bad_checksum");
    let p = frames::ipv4(Ipv4Addr::new(127, 0, 0, 1), server4(), 17, 64, 1, &[0; 8]);
    add("IPv4 loopback source (martian)", e4(&p), "martian_src");

    // ---- TCP / UDP truncated behind a valid IPv4 header ----
    let p = frames::ipv4(pod4(), server4(), frames::PROTO_TCP, 64, 2, &good4[20..30]);
    add("TCP header truncated (10 bytes)", e4(&p), "nat_malformed");
    let p = frames::ipv4(
        pod4(),
        server4(),
        frames::PROTO_UDP,
        64,
        3,
        &[0x9c, 0x40, 0x23],
    );
    add("UDP header truncated (3 bytes)", e4(&p), "nat_malformed");

    // ---- ICMP to the self IP (RFC 1122 3.2.2: bad checksum silently discarded) ----
    let mut echo = frames::icmpv4_echo_request(7, 1, b"bad-sum");
    echo[2] ^= 0xff;
    let p = frames::ipv4(pod4(), self4(), frames::PROTO_ICMP, 64, 4, &echo);
    add("ICMP echo with bad checksum", e4(&p), "icmp_bad_checksum");
    let p = frames::ipv4(pod4(), self4(), frames::PROTO_ICMP, 64, 5, &[8, 0, 0xf7]);
    add("ICMP truncated (3 bytes)", e4(&p), "icmp_truncated");

    // ---- IPv6 (RFC 8200) ----
    add(
        "IPv6 header truncated (20 bytes)",
        [
            &ALL_NODES[..],
            &POD_MAC[..],
            &[0x86, 0xdd],
            &frames::ipv6(pod6(), far6(), 17, 64, &[0; 8])[..20],
        ]
        .concat(),
        "ipv6_truncated",
    );
    let mut p = syn(Ips::V6(pod6(), far6()), 40000, 80);
    p[0] = 0x40;
    add(
        "IPv6 version 4 in an IPv6 ethertype",
        e6(&p),
        "ipv6_bad_version",
    );
    let mut p = syn(Ips::V6(pod6(), far6()), 40000, 80);
    p[4..6].copy_from_slice(&3000u16.to_be_bytes());
    add(
        "IPv6 payload length beyond the frame",
        e6(&p),
        "ipv6_bad_length",
    );

    // ---- ARP / NDP garbage (RFC 826, RFC 4861 7.1.1) ----
    let mut a = frames::arp_request(POD_MAC, pod4(), self4());
    a[4] = 7;
    add(
        "ARP hardware length 7",
        frames::ethernet(BC, POD_MAC, frames::ETHERTYPE_ARP, &a),
        "arp_malformed",
    );
    add(
        "ARP cut to 12 bytes",
        frames::ethernet(BC, POD_MAC, frames::ETHERTYPE_ARP, &a[..12])[..26].to_vec(),
        "arp_malformed",
    );
    add(
        "ARP for another host",
        frames::ethernet(
            BC,
            POD_MAC,
            frames::ETHERTYPE_ARP,
            &frames::arp_request(POD_MAC, pod4(), Ipv4Addr::new(10, 1, 0, 77)),
        ),
        "arp_not_for_us",
    );
    let ns = ns_msg(self6(), POD_MAC);
    add(
        "NS with hop limit 64 (must be 255)",
        e6(&icmpv6(pod6(), solicited(self6()), 64, ns.clone())),
        "ndp_invalid",
    );
    let mut ns_code = ns.clone();
    ns_code[1] = 1;
    add(
        "NS with code 1",
        e6(&icmpv6(pod6(), solicited(self6()), 255, ns_code)),
        "ndp_invalid",
    );
    add(
        "NS truncated (target cut)",
        e6(&icmpv6(pod6(), solicited(self6()), 255, ns[..16].to_vec())),
        "ndp_invalid",
    );
    let mut ns_opt = ns.clone();
    ns_opt[25] = 0; // option length 0 (RFC 4861 4.6: discard)
    add(
        "NS with a zero-length option",
        e6(&icmpv6(pod6(), solicited(self6()), 255, ns_opt)),
        "ndp_invalid",
    );

    // ---- DNS garbage from a pod (UDP/53) ----
    let d = Ips::V4(pod4(), Ipv4Addr::new(10, 96, 0, 10));
    let mut bad_sum = d.wrap(frames::PROTO_UDP, &frames::udp(d, 40001, 53, &dns_query(1)));
    let n = bad_sum.len();
    bad_sum[n - 1] ^= 0x33;
    add(
        "DNS query with a bad UDP checksum",
        e4(&bad_sum),
        "dns_bad_checksum",
    );
    add(
        "DNS message shorter than its header",
        e4(&d.wrap(
            frames::PROTO_UDP,
            &frames::udp(d, 40002, 53, &[0x12, 0x34, 1]),
        )),
        "dns_malformed",
    );
    let mut frag = d.wrap(frames::PROTO_UDP, &frames::udp(d, 40003, 53, &dns_query(2)));
    frag[6] = 0x20; // MF set: a DNS query in fragments
    fix_ipv4_checksum(&mut frag);
    add("DNS query fragment", e4(&frag), "dns_malformed");
    v
}

/// `show drops` text → packets by reason.
fn drop_counts(text: &str) -> BTreeMap<String, u64> {
    text.lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            Some((w.next()?.to_string(), w.next()?.parse().ok()?))
        })
        .collect()
}

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

fn run(
    dir: &Path,
    in1: &[Vec<u8>],
    in2: &[Vec<u8>],
    done: impl Fn(&[Vec<u8>], &[Vec<u8>]) -> bool,
) -> (Vec<Vec<u8>>, Vec<Vec<u8>>, String) {
    let p = |n: &str| dir.join(n);
    pcap::write_frames(&p("in1.pcap"), in1).unwrap();
    pcap::write_frames(&p("in2.pcap"), in2).unwrap();
    let vnf = VnfBuilder::new()
        .label("malformed")
        .mode("egress")
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
    let read = |n: &str| -> Vec<Vec<u8>> {
        pcap::parse_lenient(&std::fs::read(p(n)).unwrap_or_default())
            .map(|f| f.packets.into_iter().map(|p| p.data).collect())
            .unwrap_or_default()
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done(&read("out1.pcap"), &read("out2.pcap")) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    let drops = egressctl(&vnf, &["show", "drops"]);
    let (exit, _) = vnf.stop().unwrap();
    assert_eq!(exit.status.code(), Some(0), "{}", exit.stderr);
    (read("out1.pcap"), read("out2.pcap"), drops)
}

fn ethertype(f: &[u8]) -> u16 {
    u16::from_be_bytes([f[12], f[13]])
}

/// IPv4 packets in `frames` (untagged or one 802.1Q tag), header first.
fn ipv4_packets(frames: &[Vec<u8>]) -> Vec<&[u8]> {
    frames
        .iter()
        .filter_map(|f| match ethertype(f) {
            0x0800 => f.get(14..),
            0x8100 if f.get(16..18) == Some(&[0x08, 0x00]) => f.get(18..),
            _ => None,
        })
        .collect()
}

fn ipv6_packets(frames: &[Vec<u8>]) -> Vec<&[u8]> {
    frames
        .iter()
        .filter_map(|f| match ethertype(f) {
            0x86dd => f.get(14..),
            0x8100 if f.get(16..18) == Some(&[0x86, 0xdd]) => f.get(18..),
            _ => None,
        })
        .collect()
}

#[test]
fn malformed_frames_are_dropped_counted_or_answered_and_good_traffic_still_flows() {
    require_root();
    let _s = serial();
    let dir = egress_tests::test_dir("malformed").unwrap();
    let cases = cases();

    // Answered as the RFCs say: TTL 1 / hop limit 1 -> Time Exceeded (RFC 1812 5.3.1,
    // RFC 4443 3.3), then good traffic: echo to the self IP, a SNAT flow and a NAT64 flow.
    let ttl1 = frames::ipv4(
        pod4(),
        server4(),
        frames::PROTO_UDP,
        1,
        9,
        &frames::udp(Ips::V4(pod4(), server4()), 40000, 33434, b"ttl"),
    );
    let hop1 = frames::ipv6(
        pod6(),
        far6(),
        frames::PROTO_UDP,
        1,
        &frames::udp(Ips::V6(pod6(), far6()), 40000, 33434, b"hop"),
    );
    let echo = frames::ipv4(
        pod4(),
        self4(),
        frames::PROTO_ICMP,
        64,
        6,
        &frames::icmpv4_echo_request(0x77, 1, b"still-alive"),
    );
    let snat = syn(Ips::V4(pod4(), server4()), 40100, 80);
    let nat64 = syn(Ips::V6(pod6(), nat64_server()), 40101, 80);

    // The pod makes itself known first (ARP request, NS for the self IPs): answers go to it.
    let mut in1: Vec<Vec<u8>> = vec![
        frames::ethernet(
            BC,
            POD_MAC,
            frames::ETHERTYPE_ARP,
            &frames::arp_request(POD_MAC, pod4(), self4()),
        ),
        e6(&icmpv6(
            pod6(),
            solicited(self6()),
            255,
            ns_msg(self6(), POD_MAC),
        )),
    ];
    in1.extend(cases.iter().map(|c| c.frame.clone()));
    in1.extend([e4(&ttl1), e6(&hop1), e4(&echo), e4(&snat), e6(&nat64)]);
    // The gateway makes itself known on the external VLAN.
    let in2 = vec![frames::ethernet_vlan(
        BC,
        GW_MAC,
        100,
        frames::ETHERTYPE_ARP,
        &frames::arp_request(
            GW_MAC,
            Ipv4Addr::new(192, 0, 2, 1),
            Ipv4Addr::new(192, 0, 2, 254),
        ),
    )];

    let snat_out = |f: &[u8]| {
        f.len() >= 20
            && f[9] == 6
            && f[12..16] == [192, 0, 2, 10]
            && f[16..20] == server4().octets()
    };
    let (out1, out2, drops) = run(dir.path(), &in1, &in2, |o1, o2| {
        let v4 = ipv4_packets(o2);
        ipv4_packets(o1)
            .iter()
            .any(|p| p[9] == 1 && p.get(20) == Some(&0))
            && v4.iter().filter(|p| snat_out(p)).count() >= 2
    });

    tshark::assert_clean(&dir.path().join("out1.pcap"), Some(out1.len())).unwrap();
    tshark::assert_clean(&dir.path().join("out2.pcap"), Some(out2.len())).unwrap();

    // Every malformed case counted under its reason (exactly as many as were sent).
    let got = drop_counts(&drops);
    let mut want: BTreeMap<&str, u64> = BTreeMap::new();
    for c in &cases {
        *want.entry(c.reason).or_default() += 1;
    }
    let mut wrong = Vec::new();
    for (reason, n) in &want {
        let names: Vec<&str> = cases
            .iter()
            .filter(|c| c.reason == *reason)
            .map(|c| c.name)
            .collect();
        let g = got.get(*reason).copied().unwrap_or(0);
        if g != *n {
            wrong.push(format!("`{reason}`: {g}, want {n} ({names:?})"));
        }
    }
    assert!(wrong.is_empty(), "{}\n{drops}", wrong.join("\n"));
    assert_eq!(got.get("ttl_exceeded").copied().unwrap_or(0), 2, "{drops}");

    // Time Exceeded for TTL 1 (ICMP type 11) and hop limit 1 (ICMPv6 type 3), to the pod.
    let v4_1 = ipv4_packets(&out1);
    assert!(
        v4_1.iter()
            .any(|p| p[9] == 1 && p[20] == 11 && p[16..20] == pod4().octets()),
        "ICMP Time Exceeded to the pod"
    );
    assert!(
        ipv6_packets(&out1)
            .iter()
            .any(|p| p[6] == 58 && p[40] == 3 && p[24..40] == pod6().octets()),
        "ICMPv6 Time Exceeded to the pod"
    );
    // Good traffic after the garbage: echo reply, SNAT44 SYN and NAT64 SYN (translated to
    // IPv4, source the SNAT address) out of the external port.
    assert!(
        v4_1.iter()
            .any(|p| p[9] == 1 && p[20] == 0 && p[16..20] == pod4().octets()),
        "echo reply after the malformed frames"
    );
    let v4_2 = ipv4_packets(&out2);
    assert!(
        v4_2.iter().filter(|p| snat_out(p)).count() >= 2,
        "SNAT44 and NAT64 flows forwarded: {} IPv4 packets out of 1.2",
        v4_2.len()
    );
}
