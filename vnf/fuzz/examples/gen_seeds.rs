//! Writes the seed corpora of the data-plane fuzz targets (`seeds/<target>/seed-*`).
//!
//! `cargo run --release --manifest-path vnf/fuzz/Cargo.toml --example gen-seeds -- vnf/fuzz/seeds`
//! (the seeds are committed; rerun after changing the topology in `src/lib.rs`).

use egress_vnf_fuzz::frames::{
    self, ethernet, ethernet_vlan, icmpv4_echo_request, icmpv6_echo_request, ipv4, ipv6, mac, tcp,
    tcp_flags, udp, Ips, ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_IPV6, PROTO_ICMP, PROTO_ICMPV6,
    PROTO_TCP, PROTO_UDP,
};
use egress_vnf_fuzz::*;
use std::net::{IpAddr, Ipv6Addr};
use std::path::Path;

const POD_MAC: u8 = 5;
const GW_MAC: u8 = 1;

fn pod_frame(ethertype: u16, l3: &[u8]) -> Vec<u8> {
    ethernet_vlan(PORT_MACS[0], mac(POD_MAC), INTERNAL_TAG, ethertype, l3)
}

fn world_frame(ethertype: u16, l3: &[u8]) -> Vec<u8> {
    ethernet_vlan(PORT_MACS[1], mac(GW_MAC), EXTERNAL_TAG, ethertype, l3)
}

fn arp(op: u16, smac: [u8; 6], sip: std::net::Ipv4Addr, tip: std::net::Ipv4Addr) -> Vec<u8> {
    let mut a = frames::arp_request(smac, sip, tip);
    a[6..8].copy_from_slice(&op.to_be_bytes());
    a
}

/// ICMPv6 message `body` (type, code, zero checksum, rest) in IPv6 with its checksum.
fn icmpv6(src: Ipv6Addr, dst: Ipv6Addr, hop: u8, mut body: Vec<u8>) -> Vec<u8> {
    let mut pseudo = Vec::new();
    pseudo.extend_from_slice(&src.octets());
    pseudo.extend_from_slice(&dst.octets());
    pseudo.extend_from_slice(&(body.len() as u32).to_be_bytes());
    pseudo.extend_from_slice(&[0, 0, 0, PROTO_ICMPV6]);
    pseudo.extend_from_slice(&body);
    let c = frames::checksum(&pseudo);
    body[2..4].copy_from_slice(&c.to_be_bytes());
    ipv6(src, dst, PROTO_ICMPV6, hop, &body)
}

fn solicited_node(a: Ipv6Addr) -> Ipv6Addr {
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

fn ns(src: Ipv6Addr, target: Ipv6Addr, lladdr: [u8; 6]) -> Vec<u8> {
    let mut b = vec![135, 0, 0, 0, 0, 0, 0, 0];
    b.extend_from_slice(&target.octets());
    b.extend_from_slice(&[1, 1]);
    b.extend_from_slice(&lladdr);
    icmpv6(src, solicited_node(target), 255, b)
}

fn na(src: Ipv6Addr, dst: Ipv6Addr, lladdr: [u8; 6]) -> Vec<u8> {
    let mut b = vec![136, 0, 0, 0, 0x60, 0, 0, 0];
    b.extend_from_slice(&src.octets());
    b.extend_from_slice(&[2, 1]);
    b.extend_from_slice(&lladdr);
    icmpv6(src, dst, 255, b)
}

fn syn(ips: Ips, sport: u16, dport: u16) -> Vec<u8> {
    ips.wrap(
        PROTO_TCP,
        &tcp(ips, sport, dport, 1000, 0, tcp_flags::SYN, &[]),
    )
}

/// Resolves both gateways (the frames that follow are forwarded, not held).
fn learn_gateways() -> Vec<(u16, u8, Vec<u8>)> {
    vec![
        (
            1,
            0,
            world_frame(ETHERTYPE_ARP, &arp(2, mac(GW_MAC), GW4, SELF_EXT4)),
        ),
        (
            1,
            0,
            world_frame(ETHERTYPE_IPV6, &na(gw6(), self_ext6(), mac(GW_MAC))),
        ),
    ]
}

fn pipeline_seeds() -> Vec<(&'static str, Vec<u8>)> {
    let v4 = Ips::V4(POD4, SERVER4);
    let v6_64 = Ips::V6(pod6(), server4_in_64());
    let v4_46 = Ips::V4(POD4, NAT46_STATIC4);
    let dnsq = dns_query(0x1111, "www.example.com", 1);
    let dnsq6 = dns_query(0x2222, "db.corp.example", 28);
    let mut seeds: Vec<(&'static str, Vec<(u16, u8, Vec<u8>)>)> = vec![
        (
            "arp-request-internal",
            vec![(
                0,
                0,
                pod_frame(ETHERTYPE_ARP, &arp(1, mac(POD_MAC), POD4, SELF_INT4)),
            )],
        ),
        (
            "arp-untagged-broadcast",
            vec![(
                0,
                0,
                ethernet(
                    frames::BROADCAST,
                    mac(POD_MAC),
                    ETHERTYPE_ARP,
                    &arp(1, mac(POD_MAC), POD4, SELF_INT4),
                ),
            )],
        ),
        (
            "ns-internal",
            vec![(
                0,
                0,
                pod_frame(ETHERTYPE_IPV6, &ns(pod6(), self_int6(), mac(POD_MAC))),
            )],
        ),
        (
            "echo-v4-self",
            vec![(
                0,
                0,
                pod_frame(
                    ETHERTYPE_IPV4,
                    &ipv4(
                        POD4,
                        SELF_INT4,
                        PROTO_ICMP,
                        64,
                        1,
                        &icmpv4_echo_request(7, 1, b"ping"),
                    ),
                ),
            )],
        ),
        (
            "echo-v6-self",
            vec![(
                0,
                0,
                pod_frame(
                    ETHERTYPE_IPV6,
                    &ipv6(
                        pod6(),
                        self_int6(),
                        PROTO_ICMPV6,
                        64,
                        &icmpv6_echo_request(pod6(), self_int6(), 7, 1, b"ping"),
                    ),
                ),
            )],
        ),
        (
            "snat44-syn-unresolved",
            vec![(0, 0, pod_frame(ETHERTYPE_IPV4, &syn(v4, 40001, 80)))],
        ),
        (
            "ttl1",
            vec![(
                0,
                0,
                pod_frame(
                    ETHERTYPE_IPV4,
                    &ipv4(POD4, SERVER4, PROTO_UDP, 1, 9, &udp(v4, 4000, 9999, b"x")),
                ),
            )],
        ),
        (
            "nat64-static-bib-in",
            vec![(
                1,
                0,
                world_frame(
                    ETHERTYPE_IPV4,
                    &syn(Ips::V4(SERVER4, SELF_EXT4), 50000, 8080),
                ),
            )],
        ),
        (
            "spoofed-dns-reply",
            vec![(
                1,
                0,
                world_frame(
                    ETHERTYPE_IPV4,
                    &udp_packet(
                        IpAddr::V4(UPSTREAM_DNS4),
                        IpAddr::V4(SELF_EXT4),
                        53,
                        61500,
                        &dnsq,
                    ),
                ),
            )],
        ),
    ];
    let mut resolved = |name: &'static str, more: Vec<(u16, u8, Vec<u8>)>| {
        let mut v = learn_gateways();
        v.extend(more);
        seeds.push((name, v));
    };
    resolved(
        "snat44-tcp",
        vec![
            (0, 0, pod_frame(ETHERTYPE_IPV4, &syn(v4, 40001, 80))),
            (0, 1, pod_frame(ETHERTYPE_IPV4, &syn(v4, 40001, 80))),
        ],
    );
    resolved(
        "snat44-udp",
        vec![(
            0,
            0,
            pod_frame(
                ETHERTYPE_IPV4,
                &v4.wrap(PROTO_UDP, &udp(v4, 4000, 123, b"ntp")),
            ),
        )],
    );
    resolved(
        "snat66-tcp",
        vec![(
            0,
            0,
            pod_frame(ETHERTYPE_IPV6, &syn(Ips::V6(pod6(), server6()), 40002, 443)),
        )],
    );
    resolved(
        "nat64-tcp-udp-icmp",
        vec![
            (0, 0, pod_frame(ETHERTYPE_IPV6, &syn(v6_64, 40003, 80))),
            (
                0,
                0,
                pod_frame(
                    ETHERTYPE_IPV6,
                    &v6_64.wrap(PROTO_UDP, &udp(v6_64, 4001, 53, &dnsq)),
                ),
            ),
            (
                0,
                0,
                pod_frame(
                    ETHERTYPE_IPV6,
                    &ipv6(
                        pod6(),
                        server4_in_64(),
                        PROTO_ICMPV6,
                        64,
                        &icmpv6_echo_request(pod6(), server4_in_64(), 9, 1, b"hello"),
                    ),
                ),
            ),
        ],
    );
    resolved(
        "nat46-static-tcp",
        vec![(0, 0, pod_frame(ETHERTYPE_IPV4, &syn(v4_46, 40004, 80)))],
    );
    resolved(
        "nat46-icmp",
        vec![(
            0,
            0,
            pod_frame(
                ETHERTYPE_IPV4,
                &ipv4(
                    POD4,
                    NAT46_STATIC4,
                    PROTO_ICMP,
                    64,
                    3,
                    &icmpv4_echo_request(3, 1, b"46"),
                ),
            ),
        )],
    );
    resolved(
        "dns-a-query-v4",
        vec![(
            0,
            0,
            pod_frame(
                ETHERTYPE_IPV4,
                &udp_packet(IpAddr::V4(POD4), IpAddr::V4(RESOLVER4), 40005, 53, &dnsq),
            ),
        )],
    );
    resolved(
        "dns-aaaa-query-v6-timeout",
        vec![
            (
                0,
                0,
                pod_frame(
                    ETHERTYPE_IPV6,
                    &udp_packet(
                        IpAddr::V6(pod6()),
                        IpAddr::V6("fd00:96::10".parse().unwrap()),
                        40006,
                        53,
                        &dnsq6,
                    ),
                ),
            ),
            (
                1,
                127,
                world_frame(ETHERTYPE_IPV4, &syn(Ips::V4(SERVER4, SELF_EXT4), 80, 1)),
            ),
        ],
    );
    resolved(
        "world-unsolicited",
        vec![
            (
                1,
                0,
                world_frame(ETHERTYPE_IPV4, &syn(Ips::V4(SERVER4, SELF_EXT4), 80, 1025)),
            ),
            (
                1,
                0,
                world_frame(
                    ETHERTYPE_IPV6,
                    &syn(Ips::V6(server6(), self_ext6()), 80, 1025),
                ),
            ),
        ],
    );
    seeds
        .into_iter()
        .map(|(n, recs)| (n, encode_records(&recs)))
        .collect()
}

fn dns_query_seeds() -> Vec<(&'static str, Vec<u8>)> {
    let mut edns = dns_query(0x3333, "www.example.com", 28);
    edns[11] = 1; // ARCOUNT 1: an OPT record, payload 1232, DO set
    edns.extend_from_slice(&[0, 0, 41, 0x04, 0xd0, 0, 0, 0x80, 0, 0, 0]);
    let ptr = {
        let mut m = dns_query(0x4444, "7.100.51.198.in-addr.arpa", 12);
        m[2] = 0x01;
        m
    };
    let two_questions = {
        let mut m = dns_query(0x5555, "a.example", 1);
        m[5] = 2;
        push_name(&mut m, "b.example");
        m.extend_from_slice(&[0, 28, 0, 1]);
        m
    };
    let raw = udp_packet(
        IpAddr::V4(POD4),
        IpAddr::V4(RESOLVER4),
        1234,
        53,
        &dns_query(0x6666, "x.example", 1),
    );
    let mut out = vec![
        (
            "a-v4",
            [&[0x04u8][..], &dns_query(1, "www.example.com", 1)].concat(),
        ),
        (
            "aaaa-v6",
            [&[0x05u8][..], &dns_query(2, "www.example.com", 28)].concat(),
        ),
        (
            "corp-v4-timeout",
            [&[0x0cu8][..], &dns_query(3, "db.corp.example", 1)].concat(),
        ),
        ("edns-do", [&[0x00u8][..], &edns].concat()),
        ("ptr", [&[0x00u8][..], &ptr].concat()),
        ("two-questions", [&[0x00u8][..], &two_questions].concat()),
        ("raw-packet", [&[0x02u8][..], &raw].concat()),
    ];
    let mut not_query = dns_query(4, "www.example.com", 1);
    not_query[2] = 0x81; // QR set: a response sent to the resolver
    out.push(("response-to-resolver", [&[0x00u8][..], &not_query].concat()));
    out
}

/// A resource record with an uncompressed pointer to the question name (offset 12).
fn rr(rtype: u16, ttl: u32, rdata: &[u8]) -> Vec<u8> {
    let mut r = vec![0xc0, 12];
    r.extend_from_slice(&rtype.to_be_bytes());
    r.extend_from_slice(&[0, 1]);
    r.extend_from_slice(&ttl.to_be_bytes());
    r.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
    r.extend_from_slice(rdata);
    r
}

fn dns_reply_seeds() -> Vec<(&'static str, Vec<u8>)> {
    // Graft mode (bit 2): 12 header bytes, then the records (the question is the query's).
    let hdr = |an: u8, ns: u8, rcode: u8| -> Vec<u8> {
        vec![0, 0, 0x81, 0x80 | rcode, 0, 1, 0, an, 0, ns, 0, 0]
    };
    let aaaa = rr(28, 300, &server6().octets());
    let a = rr(1, 60, &SERVER4.octets());
    let mut cname_rdata = Vec::new();
    push_name(&mut cname_rdata, "cdn.example.net");
    let cname = rr(5, 30, &cname_rdata);
    let mut soa_rdata = Vec::new();
    push_name(&mut soa_rdata, "ns.example.com");
    push_name(&mut soa_rdata, "hostmaster.example.com");
    soa_rdata.extend_from_slice(&[
        0, 0, 0, 1, 0, 0, 0x0e, 0x10, 0, 0, 0x0e, 0x10, 0, 0, 0x0e, 0x10, 0, 0, 0, 60,
    ]);
    let soa = rr(6, 60, &soa_rdata);
    vec![
        ("a-answer", [&[0x04u8][..], &hdr(1, 0, 0), &a].concat()),
        (
            "aaaa-only-dns46",
            [&[0x04u8][..], &hdr(1, 0, 0), &aaaa].concat(),
        ),
        (
            "aaaa-answer-v6-pod",
            [&[0x07u8][..], &hdr(1, 0, 0), &aaaa].concat(),
        ),
        (
            "a-for-aaaa-dns64",
            [&[0x05u8][..], &hdr(1, 0, 0), &a].concat(),
        ),
        (
            "cname-chain",
            [&[0x04u8][..], &hdr(2, 0, 0), &cname, &aaaa].concat(),
        ),
        ("nodata-soa", [&[0x04u8][..], &hdr(0, 1, 0), &soa].concat()),
        ("nxdomain", [&[0x04u8][..], &hdr(0, 1, 3), &soa].concat()),
        ("servfail", [&[0x04u8][..], &hdr(0, 0, 2)].concat()),
        (
            "truncated",
            [
                &[0x04u8][..],
                &[0, 0, 0x83, 0x80, 0, 1, 0, 0, 0, 0, 0, 0][..],
            ]
            .concat(),
        ),
        (
            "corp-v6-upstream",
            [&[0x0cu8][..], &hdr(1, 0, 0), &a].concat(),
        ),
        (
            "raw-garbage",
            vec![
                0x00, 0, 0, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0, 3, b'w', b'w',
            ],
        ),
    ]
}

fn write(dir: &Path, target: &str, seeds: &[(&str, Vec<u8>)]) -> std::io::Result<()> {
    let d = dir.join(target);
    std::fs::create_dir_all(&d)?;
    for (name, bytes) in seeds {
        std::fs::write(d.join(format!("seed-{name}")), bytes)?;
    }
    println!("{}: {} seeds", d.display(), seeds.len());
    Ok(())
}

fn main() -> std::io::Result<()> {
    let dir = std::env::args().nth(1).unwrap_or_else(|| "seeds".into());
    let dir = Path::new(&dir);
    let _ = (ETHERTYPE_IPV4, ETHERTYPE_IPV6);
    write(dir, "pipeline", &pipeline_seeds())?;
    write(dir, "dns_query", &dns_query_seeds())?;
    write(dir, "dns_reply", &dns_reply_seeds())?;
    Ok(())
}
