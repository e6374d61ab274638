//! Golden pcap tests of IP/ICMP translation through the running VNF (egress mode, `net_pcap`
//! vdevs, one worker): NAT46, NAT64 and stateless SIIT, each with a small UDP exchange, a
//! 3000-byte UDP datagram fragmented in both directions (RFC 7915 4.1/5.1: IPv4 MF/offset/
//! Identification <-> IPv6 Fragment header, IPv4 fragments split again to the 1280-byte
//! lowest-ipv6-mtu), ICMP errors from the world carrying the translated inner packet (Port
//! Unreachable, Packet Too Big / Fragmentation Needed with the RFC's MTU arithmetic), the
//! translator's own Fragmentation Needed / Packet Too Big for a DF packet too big for the
//! 1400-byte external link, and echo. tshark decodes every frame the VNF emits (and
//! reassembles the fragments, checking the reassembled UDP checksum) without a malformed packet
//! or a bad checksum; the test checks the fields at fixed offsets and reassembles the fragments
//! itself.
//!
//! Inputs are built here, deterministically (fixed addresses, ports, identifications and
//! payloads). Ordering: the worker polls port 1.1 then 1.2, 32 frames at a time; the pod input
//! starts with 64 frames of an unknown VLAN and the world input with its ARP/NS (so the VNF
//! knows the world's MAC before the pod's packets go out) followed by filler, so the pod's
//! packets open their sessions before any reply arrives.

use egress_tests::frames::{self, Ips};
use egress_tests::vnf::{release_binary, Vnf, VnfBuilder};
use egress_tests::{pcap, require_root, serial, tshark};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::time::{Duration, Instant};

const VLANS: &str = r#"
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
mtu = 1400
self_v4 = "192.0.2.254"
prefixlen_v4 = 24
self_v6 = "2001:db8::fe"
prefixlen_v6 = 64
"#;

const NAT: &str = r#"
[snat]
pool_v4 = ["192.0.2.10"]
pool_v6 = ["2001:db8::10"]
dual_stack = true
sessions_per_worker = 4096

[nat46]
enabled = true
ipv4_subnet = "10.250.1.0/24"
max_reserved_static_ips = 8
max_tmm_replicas = 1
static_mappings = [{ ipv4 = "10.250.1.5", ipv6 = "2001:db8::1" }]

[nat64]
enabled = true
prefix = "64:ff9b::/96"
"#;

const SIIT: &str = r#"
[siit]
enabled = true
pool6 = "64:ff9b::/96"
eamt = [
  { ipv4_prefix = "10.1.0.0/24", ipv6_prefix = "2001:db8:1::/120" },
  { ipv4_prefix = "198.51.100.0/24", ipv6_prefix = "2001:db8::a00/120" },
]
"#;

const POD_MAC: [u8; 6] = [0x02, 0x00, 0x5e, 0x10, 0x00, 0x01];
const EXT_MAC: [u8; 6] = [0x02, 0x00, 0x5e, 0x20, 0x00, 0x01];
const EXT_TAG: u16 = 100;
const ALL_NODES: [u8; 6] = [0x33, 0x33, 0, 0, 0, 1];
const UDP: u8 = frames::PROTO_UDP;
const ICMP: u8 = frames::PROTO_ICMP;
const ICMP6: u8 = frames::PROTO_ICMPV6;
/// Size of the big datagram's UDP payload.
const BIG: usize = 2992;

fn v4(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}
fn v6(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

fn big_payload() -> Vec<u8> {
    (0..BIG).map(|i| (i % 251) as u8).collect()
}

/// An ICMPv6 message (type, code, 32-bit rest, body) with its checksum.
fn icmp6(src: Ipv6Addr, dst: Ipv6Addr, ty: u8, code: u8, rest: u32, body: &[u8]) -> Vec<u8> {
    let mut m = vec![ty, code, 0, 0];
    m.extend_from_slice(&rest.to_be_bytes());
    m.extend_from_slice(body);
    frames::icmpv6_checksum(src, dst, &mut m);
    frames::ipv6(src, dst, ICMP6, 64, &m)
}

/// An ICMPv4 message with its checksum (IPv4 header DF, TTL 64).
fn icmp4(src: Ipv4Addr, dst: Ipv4Addr, ty: u8, code: u8, rest: u32, body: &[u8]) -> Vec<u8> {
    let mut m = vec![ty, code, 0, 0];
    m.extend_from_slice(&rest.to_be_bytes());
    m.extend_from_slice(body);
    let c = frames::checksum(&m);
    m[2..4].copy_from_slice(&c.to_be_bytes());
    frames::ipv4(src, dst, ICMP, 64, 99, &m)
}

/// IPv4 fragments (DF clear, Identification `ident`) of the transport segment `l4`, at most
/// `chunk` payload bytes each.
fn frag4(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    proto: u8,
    ident: u16,
    l4: &[u8],
    chunk: usize,
) -> Vec<Vec<u8>> {
    let mut v = Vec::new();
    let mut off = 0;
    while off < l4.len() {
        let n = chunk.min(l4.len() - off);
        let mut p = frames::ipv4(src, dst, proto, 64, ident, &l4[off..off + n]);
        let more = off + n < l4.len();
        let fo = (u16::from(more) << 13) | (off / 8) as u16;
        p[6..8].copy_from_slice(&fo.to_be_bytes());
        p[10..12].copy_from_slice(&[0, 0]);
        let c = frames::checksum(&p[..20]);
        p[10..12].copy_from_slice(&c.to_be_bytes());
        v.push(p);
        off += n;
    }
    v
}

/// IPv6 fragments (Fragment header, Identification `ident`) of `l4`, `chunk` bytes each.
fn frag6(
    src: Ipv6Addr,
    dst: Ipv6Addr,
    nh: u8,
    ident: u32,
    l4: &[u8],
    chunk: usize,
) -> Vec<Vec<u8>> {
    let mut v = Vec::new();
    let mut off = 0;
    while off < l4.len() {
        let n = chunk.min(l4.len() - off);
        let more = off + n < l4.len();
        let mut body = vec![nh, 0];
        body.extend_from_slice(&((off as u16) | u16::from(more)).to_be_bytes());
        body.extend_from_slice(&ident.to_be_bytes());
        body.extend_from_slice(&l4[off..off + n]);
        v.push(frames::ipv6(src, dst, 44, 64, &body));
        off += n;
    }
    v
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

/// `n` frames of an unknown VLAN (dropped, counted): they only order the two inputs.
fn filler(n: u16) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| {
            frames::ethernet_vlan(
                frames::BROADCAST,
                EXT_MAC,
                999,
                frames::ETHERTYPE_IPV4,
                &frames::ipv4(v4("192.0.2.1"), v4("192.0.2.10"), UDP, 64, i, &[0; 8]),
            )
        })
        .collect()
}

/// The pod side's learning frames (ARP for the IPv4 self IP, NS for the IPv6 one).
fn pod_hello() -> Vec<Vec<u8>> {
    let (nd, ns) = frames::neighbor_solicitation(v6("fd00:1::1"), v6("fd00:1::fe"), POD_MAC);
    vec![
        frames::ethernet(
            frames::BROADCAST,
            POD_MAC,
            frames::ETHERTYPE_ARP,
            &frames::arp_request(POD_MAC, v4("10.1.0.1"), v4("10.1.0.254")),
        ),
        frames::ethernet(nd, POD_MAC, frames::ETHERTYPE_IPV6, &ns),
    ]
}

/// The world's learning frames: an ARP from `from4` for `for4`, an NS from `from6` for `for6`.
fn ext_hello(from4: Ipv4Addr, for4: Ipv4Addr, from6: Ipv6Addr, for6: Ipv6Addr) -> Vec<Vec<u8>> {
    let (nd, ns) = frames::neighbor_solicitation(from6, for6, EXT_MAC);
    vec![
        frames::ethernet_vlan(
            frames::BROADCAST,
            EXT_MAC,
            EXT_TAG,
            frames::ETHERTYPE_ARP,
            &frames::arp_request(EXT_MAC, from4, for4),
        ),
        frames::ethernet_vlan(nd, EXT_MAC, EXT_TAG, frames::ETHERTYPE_IPV6, &ns),
    ]
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

fn frames_of(path: &Path) -> Vec<Vec<u8>> {
    std::fs::read(path)
        .ok()
        .and_then(|b| pcap::parse_lenient(&b).ok())
        .map(|p| p.packets.into_iter().map(|p| p.data).collect())
        .unwrap_or_default()
}

/// IP packets (L2 header and 802.1Q tag removed) of `frames`, IPv4 trimmed to Total Length.
fn ip_packets(frames: &[Vec<u8>]) -> Vec<Vec<u8>> {
    frames
        .iter()
        .filter_map(|f| {
            let (et, off) = if f[12..14] == [0x81, 0x00] {
                (u16::from_be_bytes([f[16], f[17]]), 18)
            } else {
                (u16::from_be_bytes([f[12], f[13]]), 14)
            };
            let p = &f[off..];
            match et {
                0x0800 => Some(p[..usize::from(u16_at(p, 2)).min(p.len())].to_vec()),
                0x86dd => Some(p.to_vec()),
                _ => None,
            }
        })
        .collect()
}

fn u16_at(p: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([p[at], p[at + 1]])
}

struct Outputs {
    /// IP packets out of port 1.1 (the pods) and 1.2 (the world).
    pods: Vec<Vec<u8>>,
    world: Vec<Vec<u8>>,
    drops: String,
    /// The `/metrics` text at the end of the run.
    metrics: String,
}

/// Runs the VNF on the two inputs until `pods` + `world` IP packets came out (30 s at most),
/// checks both outputs with tshark and returns the IP packets.
fn run(
    label: &str,
    toml: &str,
    in1: &[Vec<u8>],
    in2: &[Vec<u8>],
    pods: usize,
    world: usize,
) -> Outputs {
    let dir = egress_tests::test_dir(label).unwrap();
    let p = |n: &str| dir.path().join(n);
    let listen = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().to_string()
    };
    pcap::write_frames(&p("in1.pcap"), in1).unwrap();
    pcap::write_frames(&p("in2.pcap"), in2).unwrap();
    let vnf = VnfBuilder::new()
        .label(label)
        .mode("egress")
        .workers(1)
        .extra_toml(toml)
        .metrics_listen(&listen)
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
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline
        && (ip_packets(&frames_of(&p("out1.pcap"))).len() < pods
            || ip_packets(&frames_of(&p("out2.pcap"))).len() < world)
    {
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(1000));
    let drops = egressctl(&vnf, &["show", "drops"]);
    // Counters reach /metrics once a second.
    std::thread::sleep(Duration::from_millis(1100));
    let out = std::process::Command::new("curl")
        .args([
            "-sS",
            "--max-time",
            "3",
            &format!("http://{listen}/metrics"),
        ])
        .output()
        .unwrap();
    let metrics = String::from_utf8_lossy(&out.stdout).into_owned();
    vnf.stop().unwrap();
    let out1: Vec<Vec<u8>> = pcap::read(&p("out1.pcap"))
        .unwrap()
        .packets
        .into_iter()
        .map(|p| p.data)
        .collect();
    let out2: Vec<Vec<u8>> = pcap::read(&p("out2.pcap"))
        .unwrap()
        .packets
        .into_iter()
        .map(|p| p.data)
        .collect();
    // The oracle: every frame decodes cleanly (fragments reassembled by tshark too).
    tshark::assert_clean(&p("out1.pcap"), Some(out1.len())).unwrap();
    tshark::assert_clean(&p("out2.pcap"), Some(out2.len())).unwrap();
    assert!(
        out2.iter()
            .all(|f| f[12..16] == [0x81, 0, 0, EXT_TAG as u8]),
        "every frame to the world carries tag 100"
    );
    Outputs {
        pods: ip_packets(&out1),
        world: ip_packets(&out2),
        drops,
        metrics,
    }
}

/// Checksum of a whole UDP datagram over the IPv4 or IPv6 pseudo-header.
fn udp_ok(ips: Ips, dgram: &[u8]) -> bool {
    let mut d = dgram.to_vec();
    d[6..8].copy_from_slice(&[0, 0]);
    let (sp, dp) = (u16_at(&d, 0), u16_at(&d, 2));
    let rebuilt = frames::udp(ips, sp, dp, &d[8..]);
    rebuilt[6..8] == dgram[6..8]
}

/// The IPv4 fragments (MF or offset set) from `src` to `dst`, reassembled: checks each header
/// checksum, DF clear, size; returns (identification, data).
fn reassemble4(pkts: &[Vec<u8>], src: Ipv4Addr, dst: Ipv4Addr, max: usize) -> (u16, Vec<u8>) {
    let mut parts: Vec<(usize, bool, u16, Vec<u8>)> = pkts
        .iter()
        .filter(|p| p[0] >> 4 == 4 && p[12..16] == src.octets() && p[16..20] == dst.octets())
        .filter(|p| u16_at(p, 6) & 0x3fff != 0)
        .map(|p| {
            assert_eq!(frames::checksum(&p[..20]), 0, "IPv4 header checksum");
            assert!(p.len() <= max, "fragment of {} bytes > {max}", p.len());
            let fo = u16_at(p, 6);
            assert_eq!(fo & 0x4000, 0, "DF clear on a fragment");
            (
                usize::from(fo & 0x1fff) * 8,
                fo & 0x2000 != 0,
                u16_at(p, 4),
                p[20..].to_vec(),
            )
        })
        .collect();
    assert!(
        parts.len() >= 2,
        "fragments {src} -> {dst}: {}",
        parts.len()
    );
    parts.sort_by_key(|x| x.0);
    let mut data = Vec::new();
    for (off, _, id, d) in &parts {
        assert_eq!(*off, data.len(), "contiguous");
        assert_eq!(*id, parts[0].2, "one Identification");
        data.extend_from_slice(d);
    }
    assert!(!parts.last().unwrap().1, "MF clear on the last fragment");
    (parts[0].2, data)
}

/// The IPv6 fragments (Fragment header right after the fixed header) from `src` to `dst`,
/// reassembled; returns (identification, upper-layer protocol, data).
fn reassemble6(pkts: &[Vec<u8>], src: Ipv6Addr, dst: Ipv6Addr) -> (u32, u8, Vec<u8>) {
    let mut parts: Vec<(usize, bool, u32, u8, Vec<u8>)> = pkts
        .iter()
        .filter(|p| p[0] >> 4 == 6 && p[6] == 44)
        .filter(|p| p[8..24] == src.octets() && p[24..40] == dst.octets())
        .map(|p| {
            assert!(p.len() <= 1280, "IPv6 fragment of {} bytes > 1280", p.len());
            assert_eq!(usize::from(u16_at(p, 4)) + 40, p.len(), "payload length");
            let om = u16_at(p, 42);
            let id = u32::from_be_bytes([p[44], p[45], p[46], p[47]]);
            (
                usize::from(om & 0xfff8),
                om & 1 == 1,
                id,
                p[40],
                p[48..].to_vec(),
            )
        })
        .collect();
    assert!(
        parts.len() >= 2,
        "fragments {src} -> {dst}: {}",
        parts.len()
    );
    parts.sort_by_key(|x| x.0);
    let mut data = Vec::new();
    for (off, _, id, nh, d) in &parts {
        assert_eq!(*off, data.len(), "contiguous");
        assert_eq!((*id, *nh), (parts[0].2, parts[0].3), "one datagram");
        data.extend_from_slice(d);
    }
    assert!(!parts.last().unwrap().1, "M clear on the last fragment");
    (parts[0].2, parts[0].3, data)
}

/// The unfragmented IPv4 packets with this protocol from `src` to `dst`.
fn find4(pkts: &[Vec<u8>], proto: u8, src: Ipv4Addr, dst: Ipv4Addr) -> Vec<Vec<u8>> {
    pkts.iter()
        .filter(|p| p[0] >> 4 == 4 && p[9] == proto && u16_at(p, 6) & 0x3fff == 0)
        .filter(|p| p[12..16] == src.octets() && p[16..20] == dst.octets())
        .cloned()
        .collect()
}

fn find6(pkts: &[Vec<u8>], nh: u8, src: Ipv6Addr, dst: Ipv6Addr) -> Vec<Vec<u8>> {
    pkts.iter()
        .filter(|p| p[0] >> 4 == 6 && p[6] == nh)
        .filter(|p| p[8..24] == src.octets() && p[24..40] == dst.octets())
        .cloned()
        .collect()
}

/// The one ICMPv4 error of this type/code to `dst`; returns it.
fn icmp4_error(pkts: &[Vec<u8>], ty: u8, code: u8, src: Ipv4Addr, dst: Ipv4Addr) -> Vec<u8> {
    let m: Vec<Vec<u8>> = find4(pkts, ICMP, src, dst)
        .into_iter()
        .filter(|p| p[20] == ty && p[21] == code)
        .collect();
    assert_eq!(m.len(), 1, "ICMPv4 {ty}/{code} {src} -> {dst}: {m:02x?}");
    assert_eq!(frames::checksum(&m[0][20..]), 0, "ICMPv4 checksum");
    m[0].clone()
}

fn icmp6_error(pkts: &[Vec<u8>], ty: u8, code: u8, src: Ipv6Addr, dst: Ipv6Addr) -> Vec<u8> {
    let m: Vec<Vec<u8>> = find6(pkts, ICMP6, src, dst)
        .into_iter()
        .filter(|p| p[40] == ty && p[41] == code)
        .collect();
    assert_eq!(m.len(), 1, "ICMPv6 {ty}/{code} {src} -> {dst}: {m:02x?}");
    m[0].clone()
}

fn no_xlat_drops(drops: &str) {
    for l in drops.lines().skip(1) {
        let mut w = l.split_whitespace();
        let (Some(reason), Some(n)) = (w.next(), w.next()) else {
            continue;
        };
        assert!(
            !(reason.starts_with("nat") || reason.starts_with("xlat")) || n == "0",
            "unexpected drop {reason} {n}:\n{drops}"
        );
    }
}

/// NAT46 (RFC 7915 section 4 out, section 5 back, through the session of the static mapping
/// 10.250.1.5 -> 2001:db8::1; source 2001:db8::10 with the pod's ports).
#[test]
fn nat46_udp_fragments_icmp_errors_and_frag_needed_rfc7915_golden() {
    require_root();
    let _s = serial();
    let (pod, d46, self4) = (v4("10.1.0.1"), v4("10.250.1.5"), v4("10.1.0.254"));
    let (host, ours, router) = (v6("2001:db8::1"), v6("2001:db8::10"), v6("2001:db8::99"));
    let big = big_payload();
    let p4 = Ips::V4(pod, d46);

    let mut in1 = filler(64);
    in1.extend(pod_hello());
    in1.push(pod_v4(frames::ipv4(
        pod,
        d46,
        UDP,
        64,
        2,
        &frames::udp(p4, 40002, 7777, b"golden-udp46"),
    )));
    for f in frag4(
        pod,
        d46,
        UDP,
        0x4242,
        &frames::udp(p4, 40004, 7777, &big),
        1480,
    ) {
        in1.push(pod_v4(f));
    }
    // DF set, 1500 bytes: 1520 as IPv6 > the 1400-byte external link.
    in1.push(pod_v4(frames::ipv4(
        pod,
        d46,
        UDP,
        64,
        5,
        &frames::udp(p4, 40006, 7777, &[7; 1472]),
    )));
    in1.push(pod_v4(frames::ipv4(
        pod,
        d46,
        ICMP,
        64,
        6,
        &frames::icmpv4_echo_request(0x1234, 1, b"golden-echo46"),
    )));

    let w6 = Ips::V6(host, ours);
    let mut in2 = ext_hello(v4("192.0.2.1"), v4("192.0.2.10"), host, ours);
    in2.extend(filler(94));
    in2.push(ext_v6(frames::ipv6(
        host,
        ours,
        UDP,
        64,
        &frames::udp(w6, 7777, 40002, b"golden-udp46-reply"),
    )));
    for f in frag6(
        host,
        ours,
        UDP,
        0xabcd_0001,
        &frames::udp(w6, 7777, 40004, &big),
        1352,
    ) {
        in2.push(ext_v6(f));
    }
    // What the host received for the small datagram, quoted by its Port Unreachable and by a
    // router's Packet Too Big (MTU 1280).
    let sent = frames::ipv6(
        ours,
        host,
        UDP,
        63,
        &frames::udp(Ips::V6(ours, host), 40002, 7777, b"golden-udp46"),
    );
    in2.push(ext_v6(icmp6(host, ours, 1, 4, 0, &sent)));
    in2.push(ext_v6(icmp6(router, ours, 2, 0, 1280, &sent)));
    let mut reply = frames::icmpv6_echo_request(host, ours, 0x1234, 1, b"golden-echo46");
    reply[0] = 129;
    frames::icmpv6_checksum(host, ours, &mut reply);
    in2.push(ext_v6(frames::ipv6(host, ours, ICMP6, 64, &reply)));

    let o = run(
        "xlat-golden-nat46",
        &format!("{VLANS}{NAT}"),
        &in1,
        &in2,
        8,
        7,
    );

    // --- To the IPv6 world.
    let u = find6(&o.world, UDP, ours, host);
    assert_eq!(u.len(), 1, "one unfragmented UDP datagram out");
    let u = &u[0];
    assert_eq!(u[7], 63, "hop limit = TTL - 1");
    assert_eq!(
        (u16_at(u, 40), u16_at(u, 42)),
        (40002, 7777),
        "pod's port kept"
    );
    assert!(u.ends_with(b"golden-udp46"));
    let (id, nh, dgram) = reassemble6(&o.world, ours, host);
    assert_eq!(
        (id, nh),
        (0x4242, UDP),
        "RFC 7915 4.1: Identification zero-extended"
    );
    assert_eq!((u16_at(&dgram, 0), u16_at(&dgram, 2)), (40004, 7777));
    assert!(
        udp_ok(Ips::V6(ours, host), &dgram),
        "reassembled UDP checksum"
    );
    assert_eq!(&dgram[8..], &big[..]);
    let e = find6(&o.world, ICMP6, ours, host);
    assert!(
        e.iter().any(|p| p[40] == 128 && u16_at(p, 44) == 0x1234),
        "echo request"
    );

    // --- To the IPv4 pod.
    let r = find4(&o.pods, UDP, d46, pod);
    assert_eq!(r.len(), 1, "one UDP reply");
    assert_eq!((u16_at(&r[0], 20), u16_at(&r[0], 22)), (7777, 40002));
    assert!(udp_ok(Ips::V4(d46, pod), &r[0][20..]));
    let (id, dgram) = reassemble4(&o.pods, d46, pod, 1400);
    assert_eq!(
        id, 0x0001,
        "RFC 7915 5.1: low 16 bits of the Identification"
    );
    assert!(udp_ok(Ips::V4(d46, pod), &dgram));
    assert_eq!((u16_at(&dgram, 0), u16_at(&dgram, 2)), (7777, 40004));
    assert_eq!(&dgram[8..], &big[..]);
    // RFC 7915 5.2/5.3: Port Unreachable -> 3/3 with the pod's own datagram inside.
    let pu = icmp4_error(&o.pods, 3, 3, d46, pod);
    let inner = &pu[28..];
    assert_eq!(
        (&inner[12..16], &inner[16..20]),
        (&pod.octets()[..], &d46.octets()[..])
    );
    assert_eq!(
        frames::checksum(&inner[..20]),
        0,
        "inner IPv4 header checksum"
    );
    assert_eq!((u16_at(inner, 20), u16_at(inner, 22)), (40002, 7777));
    assert!(
        udp_ok(Ips::V4(pod, d46), &inner[20..]),
        "inner UDP checksum"
    );
    // Packet Too Big 1280 from a router without IPv4 -> Fragmentation Needed 1260 (1280 - 20),
    // from the DNS46 address of the remote (no RFC 6791 pool configured).
    let ptb = icmp4_error(&o.pods, 3, 4, d46, pod);
    assert_eq!(u16_at(&ptb, 26), 1260, "MTU 1280 - 20");
    // The translator's own Fragmentation Needed for the DF packet: 1400 - 20, from the self IP.
    let fneed = icmp4_error(&o.pods, 3, 4, self4, pod);
    assert_eq!(u16_at(&fneed, 26), 1380);
    assert_eq!(
        (u16_at(&fneed, 48), u16_at(&fneed, 50)),
        (40006, 7777),
        "quotes the packet"
    );
    let er: Vec<_> = find4(&o.pods, ICMP, d46, pod)
        .into_iter()
        .filter(|p| p[20] == 0)
        .collect();
    assert_eq!(er.len(), 1, "one echo reply");
    assert_eq!(u16_at(&er[0], 24), 0x1234);
    no_xlat_drops(&o.drops);
}

/// NAT64 (RFC 7915 section 5 out, section 4 back, through 64:ff9b::/96; source 192.0.2.10
/// with the pod's ports).
#[test]
fn nat64_udp_fragments_icmp_errors_and_packet_too_big_rfc7915_golden() {
    require_root();
    let _s = serial();
    let (pod, self6) = (v6("fd00:1::1"), v6("fd00:1::fe"));
    let (server, ours, router) = (v4("192.0.2.1"), v4("192.0.2.10"), v4("192.0.2.99"));
    let (dst, router6) = (v6("64:ff9b::192.0.2.1"), v6("64:ff9b::192.0.2.99"));
    let big = big_payload();
    let p6 = Ips::V6(pod, dst);

    let mut in1 = filler(64);
    in1.extend(pod_hello());
    in1.push(pod_v6(frames::ipv6(
        pod,
        dst,
        UDP,
        64,
        &frames::udp(p6, 40012, 7777, b"golden-udp64"),
    )));
    for f in frag6(
        pod,
        dst,
        UDP,
        0x77,
        &frames::udp(p6, 40014, 7777, &big),
        1448,
    ) {
        in1.push(pod_v6(f));
    }
    // 1500 bytes unfragmented: 1480 as IPv4 with DF (> 1260) > the 1400-byte external link.
    in1.push(pod_v6(frames::ipv6(
        pod,
        dst,
        UDP,
        64,
        &frames::udp(p6, 40016, 7777, &[7; 1452]),
    )));
    in1.push(pod_v6(frames::ipv6(
        pod,
        dst,
        ICMP6,
        64,
        &frames::icmpv6_echo_request(pod, dst, 0x2345, 1, b"golden-echo64"),
    )));

    let w4 = Ips::V4(server, ours);
    let mut in2 = ext_hello(server, ours, v6("2001:db8::1"), v6("2001:db8::fe"));
    in2.extend(filler(94));
    in2.push(ext_v4(frames::ipv4(
        server,
        ours,
        UDP,
        64,
        21,
        &frames::udp(w4, 7777, 40012, b"golden-udp64-reply"),
    )));
    for f in frag4(
        server,
        ours,
        UDP,
        0x5151,
        &frames::udp(w4, 7777, 40014, &big),
        1376,
    ) {
        in2.push(ext_v4(f));
    }
    let mut sent = frames::ipv4(
        ours,
        server,
        UDP,
        63,
        7,
        &frames::udp(Ips::V4(ours, server), 40012, 7777, b"golden-udp64"),
    );
    sent[6] = 0;
    sent[10..12].copy_from_slice(&[0, 0]);
    let c = frames::checksum(&sent[..20]);
    sent[10..12].copy_from_slice(&c.to_be_bytes());
    in2.push(ext_v4(icmp4(server, ours, 3, 3, 0, &sent)));
    in2.push(ext_v4(icmp4(router, ours, 3, 4, 1000, &sent)));
    let mut reply = frames::icmpv4_echo_request(0x2345, 1, b"golden-echo64");
    reply[0] = 0;
    reply[2..4].copy_from_slice(&[0, 0]);
    let c = frames::checksum(&reply);
    reply[2..4].copy_from_slice(&c.to_be_bytes());
    in2.push(ext_v4(frames::ipv4(server, ours, ICMP, 64, 22, &reply)));

    let o = run(
        "xlat-golden-nat64",
        &format!("{VLANS}{NAT}"),
        &in1,
        &in2,
        10,
        6,
    );

    // --- To the IPv4 world.
    let u = find4(&o.world, UDP, ours, server);
    assert_eq!(u.len(), 1, "one unfragmented UDP datagram out");
    assert_eq!(u[0][8], 63, "TTL = hop limit - 1");
    assert_eq!(
        u16_at(&u[0], 6) & 0x4000,
        0,
        "DF clear at or below 1260 bytes"
    );
    assert_eq!((u16_at(&u[0], 20), u16_at(&u[0], 22)), (40012, 7777));
    assert!(udp_ok(Ips::V4(ours, server), &u[0][20..]));
    let (id, dgram) = reassemble4(&o.world, ours, server, 1400);
    assert_eq!(
        id, 0x77,
        "RFC 7915 5.1: Identification from the Fragment header"
    );
    assert!(udp_ok(Ips::V4(ours, server), &dgram));
    assert_eq!((u16_at(&dgram, 0), u16_at(&dgram, 2)), (40014, 7777));
    assert_eq!(&dgram[8..], &big[..]);
    let e = find4(&o.world, ICMP, ours, server);
    assert!(
        e.iter().any(|p| p[20] == 8 && u16_at(p, 24) == 0x2345),
        "echo request"
    );

    // --- To the IPv6 pod.
    let r = find6(&o.pods, UDP, dst, pod);
    assert_eq!(r.len(), 1, "one UDP reply");
    assert_eq!((u16_at(&r[0], 40), u16_at(&r[0], 42)), (7777, 40012));
    let (id, nh, dgram) = reassemble6(&o.pods, dst, pod);
    assert_eq!((id, nh), (0x5151, UDP));
    assert!(udp_ok(Ips::V6(dst, pod), &dgram));
    assert_eq!((u16_at(&dgram, 0), u16_at(&dgram, 2)), (7777, 40014));
    assert_eq!(&dgram[8..], &big[..]);
    // RFC 7915 4.2/4.3: Port Unreachable -> 1/4 with the pod's IPv6 datagram inside.
    let pu = icmp6_error(&o.pods, 1, 4, dst, pod);
    let inner = &pu[48..];
    assert_eq!(
        (&inner[8..24], &inner[24..40]),
        (&pod.octets()[..], &dst.octets()[..])
    );
    assert_eq!((u16_at(inner, 40), u16_at(inner, 42)), (40012, 7777));
    assert!(
        udp_ok(Ips::V6(pod, dst), &inner[40..]),
        "inner UDP checksum"
    );
    // Fragmentation Needed 1000 from a router -> Packet Too Big max(1280, 1000 + 20), from
    // the router's embedded address.
    let ptb = icmp6_error(&o.pods, 2, 0, router6, pod);
    assert_eq!(
        u32::from_be_bytes([ptb[44], ptb[45], ptb[46], ptb[47]]),
        1280
    );
    // The translator's own Packet Too Big: 1400 + 20, from the pods' self IP.
    let own = icmp6_error(&o.pods, 2, 0, self6, pod);
    assert_eq!(
        u32::from_be_bytes([own[44], own[45], own[46], own[47]]),
        1420
    );
    let er: Vec<_> = find6(&o.pods, ICMP6, dst, pod)
        .into_iter()
        .filter(|p| p[40] == 129)
        .collect();
    assert_eq!(er.len(), 1, "one echo reply");
    assert_eq!(u16_at(&er[0], 44), 0x2345);
    no_xlat_drops(&o.drops);
}

/// Stateless SIIT (RFC 7915 with RFC 7757 EAMT): 10.1.0.0/24 <-> 2001:db8:1::/120 and
/// 198.51.100.0/24 <-> 2001:db8::a00/120; an ICMPv6 error from a router with no mapping takes
/// the RFC 6791 address (the external self IPv4).
#[test]
fn siit_eamt_udp_fragments_icmp_errors_and_frag_needed_golden() {
    require_root();
    let _s = serial();
    let (pod, remote, self4, rfc6791) = (
        v4("10.1.0.1"),
        v4("198.51.100.7"),
        v4("10.1.0.254"),
        v4("192.0.2.254"),
    );
    let (pod6, remote6, router) = (v6("2001:db8:1::1"), v6("2001:db8::a07"), v6("2001:db8::99"));
    let big = big_payload();
    let p4 = Ips::V4(pod, remote);

    let mut in1 = filler(64);
    in1.extend(pod_hello());
    in1.push(pod_v4(frames::ipv4(
        pod,
        remote,
        UDP,
        64,
        2,
        &frames::udp(p4, 40022, 7777, b"golden-siit"),
    )));
    for f in frag4(
        pod,
        remote,
        UDP,
        0x4343,
        &frames::udp(p4, 40024, 7777, &big),
        1480,
    ) {
        in1.push(pod_v4(f));
    }
    in1.push(pod_v4(frames::ipv4(
        pod,
        remote,
        UDP,
        64,
        5,
        &frames::udp(p4, 40026, 7777, &[7; 1472]),
    )));

    let w6 = Ips::V6(remote6, pod6);
    let mut in2 = ext_hello(v4("192.0.2.1"), rfc6791, remote6, v6("2001:db8::fe"));
    in2.extend(filler(94));
    in2.push(ext_v6(frames::ipv6(
        remote6,
        pod6,
        UDP,
        64,
        &frames::udp(w6, 7777, 40022, b"golden-siit-reply"),
    )));
    for f in frag6(
        remote6,
        pod6,
        UDP,
        0x0bad_cafe,
        &frames::udp(w6, 7777, 40024, &big),
        1352,
    ) {
        in2.push(ext_v6(f));
    }
    let sent = frames::ipv6(
        pod6,
        remote6,
        UDP,
        63,
        &frames::udp(Ips::V6(pod6, remote6), 40022, 7777, b"golden-siit"),
    );
    in2.push(ext_v6(icmp6(remote6, pod6, 1, 4, 0, &sent)));
    in2.push(ext_v6(icmp6(router, pod6, 2, 0, 1280, &sent)));

    let o = run(
        "xlat-golden-siit",
        &format!("{VLANS}{SIIT}"),
        &in1,
        &in2,
        6,
        4,
    );

    let u = find6(&o.world, UDP, pod6, remote6);
    assert_eq!(u.len(), 1, "one unfragmented UDP datagram out");
    assert_eq!(
        (u16_at(&u[0], 40), u16_at(&u[0], 42)),
        (40022, 7777),
        "ports unchanged"
    );
    assert!(udp_ok(Ips::V6(pod6, remote6), &u[0][40..]));
    let (id, nh, dgram) = reassemble6(&o.world, pod6, remote6);
    assert_eq!((id, nh), (0x4343, UDP));
    assert!(udp_ok(Ips::V6(pod6, remote6), &dgram));
    assert_eq!(&dgram[8..], &big[..]);

    let r = find4(&o.pods, UDP, remote, pod);
    assert_eq!(r.len(), 1, "one UDP reply");
    assert!(udp_ok(Ips::V4(remote, pod), &r[0][20..]));
    let (id, dgram) = reassemble4(&o.pods, remote, pod, 1400);
    assert_eq!(id, 0xcafe);
    assert!(udp_ok(Ips::V4(remote, pod), &dgram));
    assert_eq!(&dgram[8..], &big[..]);
    let pu = icmp4_error(&o.pods, 3, 3, remote, pod);
    let inner = &pu[28..];
    assert_eq!(
        (&inner[12..16], &inner[16..20]),
        (&pod.octets()[..], &remote.octets()[..])
    );
    assert_eq!(frames::checksum(&inner[..20]), 0);
    assert!(udp_ok(Ips::V4(pod, remote), &inner[20..]));
    let ptb = icmp4_error(&o.pods, 3, 4, rfc6791, pod);
    assert_eq!(u16_at(&ptb, 26), 1260);
    let fneed = icmp4_error(&o.pods, 3, 4, self4, pod);
    assert_eq!(u16_at(&fneed, 26), 1380);
    no_xlat_drops(&o.drops);
    // The SIIT counters in /metrics: both directions translated, fragments made by splitting,
    // the translator's own ICMP error, nothing dropped.
    let siit = |r: &str| {
        egress_tests::egress::series_value(
            &o.metrics,
            &format!("egress_siit_packets_total{{result=\"{r}\"}}"),
        )
        .unwrap_or_else(|| panic!("egress_siit_packets_total{{result={r}}} in\n{}", o.metrics))
    };
    assert!(siit("translated_4to6") >= 3.0, "{}", o.metrics);
    assert!(siit("translated_6to4") >= 3.0, "{}", o.metrics);
    assert!(siit("fragments_out") >= 1.0, "{}", o.metrics);
    assert!(siit("icmp_error") >= 1.0, "{}", o.metrics);
    assert_eq!(siit("dropped"), 0.0);
}
