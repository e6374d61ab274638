//! The tshark oracle itself: clean frames pass, and each kind of damage it must catch is caught.

use egress_tests::frames::*;
use egress_tests::{pcap, tshark};
use std::net::Ipv4Addr;

fn write(frames: &[Vec<u8>]) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = egress_tests::test_dir("oracle").unwrap();
    let path = dir.path().join("f.pcap");
    pcap::write_frames(&path, frames).unwrap();
    (dir, path)
}

fn problems_of(frame: Vec<u8>) -> Vec<String> {
    let (_dir, path) = write(&[frame]);
    let frames = tshark::decode(&path).unwrap();
    assert_eq!(frames.len(), 1);
    frames[0].problems()
}

fn v4() -> Ips {
    Ips::V4(Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2))
}

#[test]
fn clean_mixed_frames_pass() {
    let frames = mixed_frames();
    let (_dir, path) = write(&frames);
    let decoded = tshark::assert_clean(&path, Some(frames.len())).unwrap();
    let protos: Vec<&str> = decoded.iter().map(|f| f.protocols.as_str()).collect();
    for want in [
        ":arp",
        ":udp",
        ":tcp",
        ":icmp",
        ":ipv6:udp",
        ":icmpv6",
        "vlan",
    ] {
        assert!(
            protos.iter().any(|p| p.contains(want)),
            "{want} not in {protos:?}"
        );
    }
}

#[test]
fn bad_ipv4_header_checksum_is_caught() {
    let mut f = ethernet(
        mac(2),
        mac(1),
        ETHERTYPE_IPV4,
        &v4().wrap(PROTO_UDP, &udp(v4(), 1, 2, b"x")),
    );
    f[14 + 10] ^= 0x55;
    let p = problems_of(f);
    assert!(p.iter().any(|m| m.contains("checksum")), "{p:?}");
}

#[test]
fn bad_udp_checksum_is_caught() {
    let mut f = ethernet(
        mac(2),
        mac(1),
        ETHERTYPE_IPV4,
        &v4().wrap(PROTO_UDP, &udp(v4(), 1, 2, b"x")),
    );
    f[14 + 20 + 6] ^= 0x55;
    assert!(!problems_of(f).is_empty());
}

#[test]
fn bad_tcp_checksum_is_caught() {
    let seg = tcp(v4(), 1, 2, 3, 4, tcp_flags::ACK, b"data");
    let mut f = ethernet(mac(2), mac(1), ETHERTYPE_IPV4, &v4().wrap(PROTO_TCP, &seg));
    f[14 + 20 + 16] ^= 0x55;
    assert!(!problems_of(f).is_empty());
}

#[test]
fn bad_icmpv4_and_icmpv6_checksums_are_caught() {
    let mut f = ethernet(
        mac(2),
        mac(1),
        ETHERTYPE_IPV4,
        &v4().wrap(PROTO_ICMP, &icmpv4_echo_request(1, 1, b"x")),
    );
    f[14 + 20 + 2] ^= 0x55;
    assert!(!problems_of(f).is_empty());
    let (s, d) = ("fd00::1".parse().unwrap(), "fd00::2".parse().unwrap());
    let v6 = Ips::V6(s, d);
    let mut f = ethernet(
        mac(2),
        mac(1),
        ETHERTYPE_IPV6,
        &v6.wrap(PROTO_ICMPV6, &icmpv6_echo_request(s, d, 1, 1, b"x")),
    );
    f[14 + 40 + 2] ^= 0x55;
    assert!(!problems_of(f).is_empty());
}

#[test]
fn malformed_and_truncated_packets_are_caught() {
    // A TCP header cut after 8 bytes, inside an IPv4 packet whose length says so.
    let seg = tcp(v4(), 1, 2, 3, 4, tcp_flags::ACK, &[]);
    let f = ethernet(
        mac(2),
        mac(1),
        ETHERTYPE_IPV4,
        &v4().wrap(PROTO_TCP, &seg[..8]),
    );
    assert!(!problems_of(f).is_empty());
    // An IPv4 total length larger than the frame.
    let mut f = ethernet(
        mac(2),
        mac(1),
        ETHERTYPE_IPV4,
        &v4().wrap(PROTO_UDP, &udp(v4(), 1, 2, b"x")),
    );
    f[14 + 2] = 0x05;
    let c = {
        f[14 + 10] = 0;
        f[14 + 11] = 0;
        checksum(&f[14..34])
    };
    f[14 + 10..14 + 12].copy_from_slice(&c.to_be_bytes());
    assert!(!problems_of(f).is_empty());
}

#[test]
fn assert_clean_reports_the_frame_and_counts_frames() {
    let good = mixed_frames();
    let mut bad = good.clone();
    bad[1][14 + 10] ^= 0xff;
    let (_dir, path) = write(&bad);
    let err = tshark::assert_clean(&path, None).unwrap_err().to_string();
    assert!(err.contains("frame 2"), "{err}");
    let (_dir2, path2) = write(&good);
    assert!(tshark::assert_clean(&path2, Some(good.len() + 1)).is_err());
}
