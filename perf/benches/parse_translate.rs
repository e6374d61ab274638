//! Micro-benchmarks of the pure packet logic, without DPDK: header parsing (`wire`) and the
//! RFC 7915 translation of a UDP packet (`xlat`) in both directions.
//!
//! `cargo bench -p egress-perf --bench parse_translate`

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use egress_perf::gen;
use egress_vnf::action::TestEnv;
use egress_vnf::frame::{Frame, VecFrame};
use egress_vnf::wire::{
    parse_l2, EtherType, Ipv4Packet, Ipv4Repr, Ipv6Packet, Ipv6Repr, UdpPacket, UdpRepr,
};
use egress_vnf::xlat::{
    inspect_v4, inspect_v4_parsed, inspect_v6, inspect_v6_parsed, ipv4_to_ipv6,
    ipv4_to_ipv6_parsed, ipv6_to_ipv4, ipv6_to_ipv4_parsed, HeaderChecksum, Map46, Map64, Rewrite,
    XlatConfig,
};
use std::hint::black_box;
use std::net::{Ipv4Addr, Ipv6Addr};

const POD4: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const SERVER4: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 1);
const POD6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xa, 0, 0, 0, 0, 1);
const SERVER6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xb, 0, 0, 0, 0, 1);
const NAT64_SERVER: Ipv6Addr = Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, 0xc613, 0x0001);

/// A 64-byte-on-the-wire IPv4/UDP frame (18 bytes of payload).
fn frame4() -> Vec<u8> {
    let ip = gen::ipv4_udp(POD4, SERVER4, 40000, 5001, &gen::pattern(18), 1);
    gen::ethernet(gen::VNF_MAC, gen::POD_MAC, None, EtherType::Ipv4, &ip)
}

/// The IPv6 counterpart of [`frame4`] (same UDP payload).
fn frame6() -> Vec<u8> {
    let ip = gen::ipv6_udp(POD6, SERVER6, 40000, 5001, &gen::pattern(18));
    gen::ethernet(gen::VNF_MAC, gen::POD_MAC, None, EtherType::Ipv6, &ip)
}

/// Ethernet, IPv4 (with header checksum), UDP and its checksum: what a worker validates.
fn parse4(f: &[u8]) -> Option<(Ipv4Repr, UdpRepr)> {
    let l2 = parse_l2(f).ok()?;
    let ip = Ipv4Packet::new_checked(f.get(l2.l3_offset..)?).ok()?;
    let ipr = Ipv4Repr::parse(&ip).ok()?;
    let udp = UdpPacket::new_checked(ip.payload()).ok()?;
    if !udp.verify_checksum_v4(ipr.src_addr, ipr.dst_addr) {
        return None;
    }
    Some((ipr, UdpRepr::parse(&udp).ok()?))
}

fn parse6(f: &[u8]) -> Option<(Ipv6Repr, UdpRepr)> {
    let l2 = parse_l2(f).ok()?;
    let ip = Ipv6Packet::new_checked(f.get(l2.l3_offset..)?).ok()?;
    let ipr = Ipv6Repr::parse(&ip).ok()?;
    let udp = UdpPacket::new_checked(ip.payload()).ok()?;
    if !udp.verify_checksum_v6(&ipr.src_addr, &ipr.dst_addr) {
        return None;
    }
    Some((ipr, UdpRepr::parse(&udp).ok()?))
}

fn parse(c: &mut Criterion) {
    let f4 = frame4();
    let f6 = frame6();
    assert!(parse4(&f4).is_some() && parse6(&f6).is_some());
    let mut g = c.benchmark_group("parse");
    g.throughput(Throughput::Elements(1));
    g.bench_function("eth_ipv4_udp_checksums", |b| {
        b.iter(|| parse4(black_box(&f4)))
    });
    g.bench_function("eth_ipv6_udp_checksum", |b| {
        b.iter(|| parse6(black_box(&f6)))
    });
    // The translator's own view of a packet (5-tuple, fragment and ICMP facts), used by the
    // NAT stages to look up sessions.
    g.bench_function("inspect_v4", |b| {
        b.iter(|| inspect_v4(black_box(&f4[14..])))
    });
    g.bench_function("inspect_v6", |b| {
        b.iter(|| inspect_v6(black_box(&f6[14..])))
    });
    g.finish();
}

/// Puts `pkt` back into `f` at the default headroom, whatever a translation did to the frame.
fn reset(f: &mut VecFrame, pkt: &[u8]) {
    let h = f.headroom();
    let ok = if h < VecFrame::HEADROOM {
        f.adj(VecFrame::HEADROOM - h).is_ok()
    } else {
        f.prepend(h - VecFrame::HEADROOM).is_ok()
    };
    if ok && f.set_len(pkt.len()).is_ok() {
        f.data_mut().copy_from_slice(pkt);
    }
}

fn translate(c: &mut Criterion) {
    let cfg = XlatConfig::default();
    let ip4 = frame4()[14..].to_vec();
    // NAT46: the IPv4 pod talks to a static mapping; source embedded, ports kept.
    let map46 = Map46 {
        outer: Rewrite::addrs(
            Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, 0xc612, 0x0001),
            SERVER6,
        ),
        inner: None,
    };
    // NAT64: the IPv6 pod's packet to 64:ff9b::198.19.0.1 leaves from a pool address and port.
    let map64 = Map64 {
        outer: Rewrite {
            src: Ipv4Addr::new(203, 0, 113, 1),
            dst: SERVER4,
            src_port: Some(1024),
            dst_port: None,
        },
        inner: None,
        ident: 0,
    };
    let ip6_to_64 = gen::ipv6_udp(POD6, NAT64_SERVER, 40000, 5001, &gen::pattern(18));
    let mut env = TestEnv::default();
    let check = |r: bool| assert!(r, "translation failed");
    check(
        ipv4_to_ipv6(
            &mut VecFrame::new(&ip4),
            &cfg,
            &map46,
            &mut TestEnv::default(),
            &mut env,
        )
        .is_translated(),
    );
    check(
        ipv6_to_ipv4(
            &mut VecFrame::new(&ip6_to_64),
            &cfg,
            &map64,
            &mut TestEnv::default(),
            &mut env,
        )
        .is_translated(),
    );

    let mut g = c.benchmark_group("translate");
    g.throughput(Throughput::Elements(1));
    // One frame, reset in place before each translation (the packet bytes copied back to the
    // mbuf-like headroom offset): no allocation in the loop. `reset_only` is that reset alone.
    g.bench_function("reset_only", |b| {
        let mut f = VecFrame::new(&ip4);
        b.iter(|| {
            reset(&mut f, &ip4);
            black_box(&f);
        })
    });
    g.bench_function("udp_4to6", |b| {
        let mut f = VecFrame::new(&ip4);
        let mut alloc = TestEnv::default();
        let mut sink = TestEnv::default();
        b.iter(|| {
            reset(&mut f, &ip4);
            ipv4_to_ipv6(&mut f, &cfg, &map46, &mut alloc, &mut sink)
        })
    });
    g.bench_function("udp_6to4_nat_port", |b| {
        let mut f = VecFrame::new(&ip6_to_64);
        let mut alloc = TestEnv::default();
        let mut sink = TestEnv::default();
        b.iter(|| {
            reset(&mut f, &ip6_to_64);
            ipv6_to_ipv4(&mut f, &cfg, &map64, &mut alloc, &mut sink)
        })
    });
    // What a NAT46/NAT64 stage does per packet: one parse (the IPv4 header checksum was
    // verified by the L2 stage), the session key from it, then the translation continuing from
    // that parse.
    g.bench_function("udp_4to6_inspect_and_translate_parsed", |b| {
        let mut f = VecFrame::new(&ip4);
        let mut alloc = TestEnv::default();
        let mut sink = TestEnv::default();
        b.iter(|| {
            reset(&mut f, &ip4);
            let ins = inspect_v4_parsed(f.data(), HeaderChecksum::Verified)
                .expect("the benchmark packet inspects");
            black_box(&ins.info);
            ipv4_to_ipv6_parsed(&mut f, &ins, &cfg, &map46, &mut alloc, &mut sink)
        })
    });
    g.bench_function("udp_6to4_nat_port_inspect_and_translate_parsed", |b| {
        let mut f = VecFrame::new(&ip6_to_64);
        let mut alloc = TestEnv::default();
        let mut sink = TestEnv::default();
        b.iter(|| {
            reset(&mut f, &ip6_to_64);
            let ins = inspect_v6_parsed(f.data()).expect("the benchmark packet inspects");
            black_box(&ins.info);
            ipv6_to_ipv4_parsed(&mut f, &ins, &cfg, &map64, &mut alloc, &mut sink)
        })
    });
    g.finish();
}

criterion_group!(benches, parse, translate);
criterion_main!(benches);
