//! Golden pcap tests of the network layer (egress mode, `net_pcap` vdevs): ARP request → reply,
//! NS → NA, ICMP/ICMPv6 echo → reply, TTL / hop limit 1 → Time Exceeded, and malformed frames
//! dropped with named reasons (read back with `egressctl show drops`). tshark decodes every frame
//! the VNF emits and must find no malformed packet and no bad checksum.
//!
//! The frames are built with the tests crate's own builders (independent of `vnf/src/wire`); the
//! checks read the output at fixed offsets.

use egress_tests::vnf::{release_binary, Vnf, VnfBuilder};
use egress_tests::{frames, pcap, require_root, serial, tshark};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::time::{Duration, Instant};

pub const NET_TOML: &str = r#"
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

[snat]
pool_v4 = ["192.0.2.10"]
pool_v6 = ["2001:db8::10"]
"#;

const POD_MAC: [u8; 6] = [0x02, 0x00, 0x5e, 0x10, 0x00, 0x01];

fn pod4() -> Ipv4Addr {
    Ipv4Addr::new(10, 1, 0, 1)
}
fn self4() -> Ipv4Addr {
    Ipv4Addr::new(10, 1, 0, 254)
}
fn pod6() -> Ipv6Addr {
    "fd00:1::1".parse().unwrap()
}
fn self6() -> Ipv6Addr {
    "fd00:1::fe".parse().unwrap()
}

/// ICMPv6 checksum (RFC 4443 2.3) over the pseudo-header and `msg`.
fn icmpv6_checksum(src: Ipv6Addr, dst: Ipv6Addr, msg: &mut [u8]) {
    let mut ph = Vec::new();
    ph.extend_from_slice(&src.octets());
    ph.extend_from_slice(&dst.octets());
    ph.extend_from_slice(&(msg.len() as u32).to_be_bytes());
    ph.extend_from_slice(&[0, 0, 0, 58]);
    msg[2..4].copy_from_slice(&[0, 0]);
    let s = frames::ones_complement_sum(msg, frames::ones_complement_sum(&ph, 0) as u32);
    msg[2..4].copy_from_slice(&(!s).to_be_bytes());
}

/// A Neighbor Solicitation from `src` (with its link-layer address) for `target`.
fn neighbor_solicitation(src: Ipv6Addr, target: Ipv6Addr, mac: [u8; 6]) -> Vec<u8> {
    let t = target.octets();
    let dst: Ipv6Addr = Ipv6Addr::new(
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
    frames::ethernet(
        [0x33, 0x33, d[12], d[13], d[14], d[15]],
        mac,
        frames::ETHERTYPE_IPV6,
        &frames::ipv6(src, dst, frames::PROTO_ICMPV6, 255, &msg),
    )
}

/// Runs the VNF in egress mode on two `net_pcap` ports fed with `in1` (port 1.1) and nothing on
/// 1.2, waits until port 1.1 has sent at least `want1` frames, reads the drop counters with
/// `egressctl`, stops it. Returns (out1, out2, `show drops` text).
fn run_egress(
    dir: &Path,
    in1: &[Vec<u8>],
    want1: usize,
) -> (Vec<Vec<u8>>, Vec<Vec<u8>>, String, String) {
    let p = |n: &str| dir.join(n);
    pcap::write_frames(&p("in1.pcap"), in1).unwrap();
    pcap::write_frames(&p("in2.pcap"), &[]).unwrap();
    let vnf = VnfBuilder::new()
        .label("net-golden")
        .mode("egress")
        .extra_toml(NET_TOML)
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
    while pcap::count_packets(&p("out1.pcap")) < want1 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    // Let the neighbour snapshot be published (every 500 ms) before asking.
    std::thread::sleep(Duration::from_millis(700));
    let drops = egressctl(&vnf, &["show", "drops"]);
    let neigh = egressctl(&vnf, &["show", "neigh"]);
    vnf.stop().unwrap();
    let read = |n: &str| -> Vec<Vec<u8>> {
        pcap::read(&p(n))
            .unwrap()
            .packets
            .into_iter()
            .map(|p| p.data)
            .collect()
    };
    (read("out1.pcap"), read("out2.pcap"), drops, neigh)
}

/// Runs `egressctl --socket <vnf's> ARGS` and returns its stdout.
pub fn egressctl(vnf: &Vnf, args: &[&str]) -> String {
    let bin = release_binary("egressctl").unwrap();
    let out = std::process::Command::new(bin)
        .arg("--socket")
        .arg(vnf.control_socket())
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "egressctl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `show drops` text → packets by reason.
pub fn drop_counts(text: &str) -> std::collections::BTreeMap<String, u64> {
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            Some((w.next()?.to_string(), w.next()?.parse().ok()?))
        })
        .collect()
}

fn ethertype(f: &[u8]) -> u16 {
    u16::from_be_bytes([f[12], f[13]])
}

#[test]
fn arp_ndp_echo_and_time_exceeded_golden() {
    require_root();
    let _s = serial();
    let dir = egress_tests::test_dir("net-golden").unwrap();
    let arp = frames::ethernet(
        frames::BROADCAST,
        POD_MAC,
        frames::ETHERTYPE_ARP,
        &frames::arp_request(POD_MAC, pod4(), self4()),
    );
    let ns = neighbor_solicitation(pod6(), self6(), POD_MAC);
    // Echo requests go to the VNF's MAC, which the test learns from nothing: use broadcast for
    // IPv4 (accepted, the VNF answers for its address) and the solicited-node group for IPv6.
    let echo4_ip = frames::ipv4(
        pod4(),
        self4(),
        frames::PROTO_ICMP,
        64,
        7,
        &frames::icmpv4_echo_request(0x42, 1, b"golden-echo"),
    );
    let echo4 = frames::ethernet(
        frames::BROADCAST,
        POD_MAC,
        frames::ETHERTYPE_IPV4,
        &echo4_ip,
    );
    let echo6_ip = frames::ipv6(
        pod6(),
        self6(),
        frames::PROTO_ICMPV6,
        64,
        &frames::icmpv6_echo_request(pod6(), self6(), 0x43, 2, b"golden-echo6"),
    );
    let echo6 = frames::ethernet(
        [0x33, 0x33, 0xff, 0, 0, 0xfe],
        POD_MAC,
        frames::ETHERTYPE_IPV6,
        &echo6_ip,
    );
    let ttl1_ip = frames::ipv4(
        pod4(),
        Ipv4Addr::new(198, 51, 100, 7),
        frames::PROTO_UDP,
        1,
        9,
        &frames::udp(
            frames::Ips::V4(pod4(), Ipv4Addr::new(198, 51, 100, 7)),
            40000,
            33434,
            b"ttl",
        ),
    );
    let ttl1 = frames::ethernet(frames::BROADCAST, POD_MAC, frames::ETHERTYPE_IPV4, &ttl1_ip);
    let far6: Ipv6Addr = "2001:db8:99::1".parse().unwrap();
    let hop1_ip = frames::ipv6(
        pod6(),
        far6,
        frames::PROTO_UDP,
        1,
        &frames::udp(frames::Ips::V6(pod6(), far6), 40000, 33434, b"hop"),
    );
    let hop1 = frames::ethernet(
        [0x33, 0x33, 0, 0, 0, 1],
        POD_MAC,
        frames::ETHERTYPE_IPV6,
        &hop1_ip,
    );

    // Malformed frames, each with a named reason.
    let mut ihl = echo4_ip.clone();
    ihl[0] = 0x44;
    let mut long = echo4_ip.clone();
    long[2..4].copy_from_slice(&((echo4_ip.len() + 40) as u16).to_be_bytes());
    let c = frames::checksum(&{
        let mut h = long[..20].to_vec();
        h[10..12].copy_from_slice(&[0, 0]);
        h
    });
    long[10..12].copy_from_slice(&c.to_be_bytes());
    let mut v6len = echo6_ip.clone();
    v6len[4..6].copy_from_slice(&2000u16.to_be_bytes());
    let short_icmp = frames::ipv4(pod4(), self4(), frames::PROTO_ICMP, 64, 8, &[8, 0, 0xf7]);
    let bc = frames::BROADCAST;
    let malformed = vec![
        frames::ethernet(bc, POD_MAC, frames::ETHERTYPE_IPV4, &[])[..12].to_vec(),
        frames::ethernet(bc, POD_MAC, frames::ETHERTYPE_IPV4, &echo4_ip[..16])[..30].to_vec(),
        frames::ethernet(bc, POD_MAC, frames::ETHERTYPE_IPV4, &ihl),
        frames::ethernet(bc, POD_MAC, frames::ETHERTYPE_IPV4, &long),
        frames::ethernet(bc, POD_MAC, frames::ETHERTYPE_IPV6, &v6len),
        frames::ethernet(bc, POD_MAC, frames::ETHERTYPE_IPV4, &short_icmp),
    ];

    let mut input = vec![arp.clone(), ns, echo4, echo6, ttl1, hop1];
    input.extend(malformed);
    // Out of port 1.1 at least: GARP + NA at start, ARP reply, NA, 2 echo replies, 2 errors.
    let (out1, out2, drops, neigh) = run_egress(dir.path(), &input, 8);

    // tshark: every emitted frame decodes cleanly.
    tshark::assert_clean(&dir.path().join("out1.pcap"), Some(out1.len())).unwrap();
    tshark::assert_clean(&dir.path().join("out2.pcap"), Some(out2.len())).unwrap();

    // The VNF's MAC on 1.1, from its gratuitous ARP (sender = target = 10.1.0.254).
    let garp = out1
        .iter()
        .find(|f| {
            ethertype(f) == 0x0806
                && f[20..22] == [0, 1]
                && f[28..32] == self4().octets()
                && f[38..42] == self4().octets()
        })
        .expect("gratuitous ARP for the internal self IP");
    let mac: [u8; 6] = garp[6..12].try_into().unwrap();

    // ARP request -> reply, byte for byte.
    let mut want = POD_MAC.to_vec();
    want.extend_from_slice(&mac);
    want.extend_from_slice(&[0x08, 0x06, 0, 1, 8, 0, 6, 4, 0, 2]);
    want.extend_from_slice(&mac);
    want.extend_from_slice(&self4().octets());
    want.extend_from_slice(&POD_MAC);
    want.extend_from_slice(&pod4().octets());
    let replies: Vec<&Vec<u8>> = out1
        .iter()
        .filter(|f| ethertype(f) == 0x0806 && f[20..22] == [0, 2])
        .collect();
    assert_eq!(replies, vec![&want], "ARP reply");

    // NS -> NA (solicited, override, router), from the self IP to the pod, TLLA = our MAC.
    let na: Vec<&Vec<u8>> = out1
        .iter()
        .filter(|f| ethertype(f) == 0x86dd && f[54] == 136 && f[38..54] == pod6().octets())
        .collect();
    assert_eq!(na.len(), 1, "one solicited NA");
    let na = na[0];
    assert_eq!(&na[..12], &[&POD_MAC[..], &mac].concat()[..]);
    assert_eq!(na[21], 255, "hop limit");
    assert_eq!(&na[22..38], &self6().octets());
    assert_eq!(na[58], 0xe0, "R, S and O flags");
    assert_eq!(&na[62..78], &self6().octets());
    assert_eq!(&na[78..80], &[2, 1], "target link-layer address option");
    assert_eq!(&na[80..86], &mac);

    // Echo -> reply.
    let r4: Vec<&Vec<u8>> = out1
        .iter()
        .filter(|f| ethertype(f) == 0x0800 && f[23] == 1 && f[34] == 0)
        .collect();
    assert_eq!(r4.len(), 1, "one ICMP echo reply");
    assert_eq!(&r4[0][26..30], &self4().octets());
    assert_eq!(&r4[0][30..34], &pod4().octets());
    assert_eq!(
        &r4[0][38..42],
        &[0, 0x42, 0, 1],
        "identifier and sequence kept"
    );
    assert!(r4[0].ends_with(b"golden-echo"));
    let r6: Vec<&Vec<u8>> = out1
        .iter()
        .filter(|f| ethertype(f) == 0x86dd && f[54] == 129)
        .collect();
    assert_eq!(r6.len(), 1, "one ICMPv6 echo reply");
    assert_eq!(&r6[0][22..38], &self6().octets());
    assert_eq!(&r6[0][38..54], &pod6().octets());
    assert!(r6[0].ends_with(b"golden-echo6"));

    // TTL 1 -> Time Exceeded quoting the whole (short) datagram; hop limit 1 -> ICMPv6 type 3.
    let te4: Vec<&Vec<u8>> = out1
        .iter()
        .filter(|f| ethertype(f) == 0x0800 && f[23] == 1 && f[34] == 11)
        .collect();
    assert_eq!(te4.len(), 1, "one ICMP Time Exceeded");
    assert_eq!(&te4[0][26..30], &self4().octets());
    assert_eq!(&te4[0][30..34], &pod4().octets());
    assert_eq!(&te4[0][42..], &ttl1_ip[..]);
    let te6: Vec<&Vec<u8>> = out1
        .iter()
        .filter(|f| ethertype(f) == 0x86dd && f[54] == 3)
        .collect();
    assert_eq!(te6.len(), 1, "one ICMPv6 Time Exceeded");
    assert_eq!(&te6[0][38..54], &pod6().octets());
    assert_eq!(&te6[0][62..], &hop1_ip[..]);

    // The external VLAN announced its self IP and SNAT address, tagged 100.
    let ext_garps = out2
        .iter()
        .filter(|f| f[12..16] == [0x81, 0, 0, 100] && f[16..18] == [8, 6])
        .count();
    assert_eq!(ext_garps, 2, "GARP for 192.0.2.254 and 192.0.2.10");
    let ext_nas = out2
        .iter()
        .filter(|f| f[12..16] == [0x81, 0, 0, 100] && f[16..18] == [0x86, 0xdd])
        .count();
    assert_eq!(
        ext_nas, 2,
        "unsolicited NA for 2001:db8::fe and 2001:db8::10"
    );

    // Malformed input: each dropped with its reason.
    let d = drop_counts(&drops);
    for reason in [
        "l2_truncated",
        "ipv4_truncated",
        "ipv4_bad_header_len",
        "ipv4_bad_length",
        "ipv6_bad_length",
        "icmp_truncated",
    ] {
        assert_eq!(d.get(reason), Some(&1), "{reason}:\n{drops}");
    }
    // The neighbour table learned the pod on both families.
    assert!(
        neigh.contains("10.1.0.1") && neigh.contains("fd00:1::1"),
        "{neigh}"
    );
    assert!(neigh.contains("02:00:5e:10:00:01"), "{neigh}");
}
