//! Tests named by the RFC section they check. Byte vectors are built from the field layouts of
//! RFC 791 / 8200 / 792 / 4443 and the rules of RFC 7915; every checksum of a translated packet
//! is verified by recomputing it from scratch.

use std::net::{Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;

use super::eamt::{Eamt, EamtEntry, EamtError, Ipv4Prefix, Ipv6Prefix, Siit};
use super::icmp;
use super::rfc6052::{Rfc6052Error, Rfc6052Prefix};
use super::*;
use crate::action::TestEnv;
use crate::frame::{Frame, VecFrame};
use crate::wire::checksum;

// ---------------------------------------------------------------------------------------------
// Packet builders and checkers.

const H4: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 2); // IPv4 host
const S4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 33); // IPv4 server
const R4: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 1); // IPv4 router

fn a6(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

fn h6() -> Ipv6Addr {
    a6("2001:db8:1::2")
}
fn s6() -> Ipv6Addr {
    a6("64:ff9b::c000:221")
}
fn r6() -> Ipv6Addr {
    a6("2001:db8:ffff::1")
}

#[allow(clippy::too_many_arguments)]
fn ipv4(
    proto: u8,
    src: Ipv4Addr,
    dst: Ipv4Addr,
    payload: &[u8],
    df: bool,
    mf: bool,
    offset: u16,
    ident: u16,
    ttl: u8,
    tos: u8,
    options: &[u8],
) -> Vec<u8> {
    let ihl = 20 + options.len();
    let mut p = vec![0u8; ihl];
    p[0] = 0x40 | (ihl / 4) as u8;
    p[1] = tos;
    p[2..4].copy_from_slice(&((ihl + payload.len()) as u16).to_be_bytes());
    p[4..6].copy_from_slice(&ident.to_be_bytes());
    let fl = (u16::from(df) << 14) | (u16::from(mf) << 13) | (offset >> 3);
    p[6..8].copy_from_slice(&fl.to_be_bytes());
    p[8] = ttl;
    p[9] = proto;
    p[12..16].copy_from_slice(&src.octets());
    p[16..20].copy_from_slice(&dst.octets());
    p[20..].copy_from_slice(options);
    let c = checksum::checksum(&p);
    p[10..12].copy_from_slice(&c.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

fn v4simple(proto: u8, src: Ipv4Addr, dst: Ipv4Addr, payload: &[u8]) -> Vec<u8> {
    ipv4(
        proto,
        src,
        dst,
        payload,
        true,
        false,
        0,
        0x1234,
        63,
        0x2e,
        &[],
    )
}

fn ipv6(nh: u8, src: Ipv6Addr, dst: Ipv6Addr, payload: &[u8], hop: u8, tc: u8) -> Vec<u8> {
    let mut p = vec![0u8; 40];
    let w = (6u32 << 28) | (u32::from(tc) << 20) | 0x12345;
    p[..4].copy_from_slice(&w.to_be_bytes());
    p[4..6].copy_from_slice(&(payload.len() as u16).to_be_bytes());
    p[6] = nh;
    p[7] = hop;
    p[8..24].copy_from_slice(&src.octets());
    p[24..40].copy_from_slice(&dst.octets());
    p.extend_from_slice(payload);
    p
}

/// Transport checksum over an IPv4 pseudo-header (TCP/UDP) or none (ICMP).
fn fill4(proto: u8, src: Ipv4Addr, dst: Ipv4Addr, l4: &mut [u8]) {
    let at = match proto {
        6 => 16,
        17 => 6,
        _ => 2,
    };
    l4[at] = 0;
    l4[at + 1] = 0;
    let c = if proto == 1 {
        checksum::checksum(l4)
    } else {
        let ph = checksum::pseudo_header_v4(src, dst, proto.into(), l4.len() as u16);
        !checksum::combine(ph, checksum::sum(l4))
    };
    let c = if proto == 17 && c == 0 { 0xffff } else { c };
    l4[at..at + 2].copy_from_slice(&c.to_be_bytes());
}

fn fill6(proto: u8, src: &Ipv6Addr, dst: &Ipv6Addr, l4: &mut [u8]) {
    let at = match proto {
        6 => 16,
        17 => 6,
        _ => 2,
    };
    l4[at] = 0;
    l4[at + 1] = 0;
    let ph = checksum::pseudo_header_v6(src, dst, proto.into(), l4.len() as u32);
    let c = !checksum::combine(ph, checksum::sum(l4));
    let c = if proto == 17 && c == 0 { 0xffff } else { c };
    l4[at..at + 2].copy_from_slice(&c.to_be_bytes());
}

fn udp(sport: u16, dport: u16, data: &[u8]) -> Vec<u8> {
    let mut u = vec![0u8; 8];
    u[0..2].copy_from_slice(&sport.to_be_bytes());
    u[2..4].copy_from_slice(&dport.to_be_bytes());
    u[4..6].copy_from_slice(&((8 + data.len()) as u16).to_be_bytes());
    u.extend_from_slice(data);
    u
}

fn tcp(sport: u16, dport: u16, data: &[u8]) -> Vec<u8> {
    let mut t = vec![0u8; 20];
    t[0..2].copy_from_slice(&sport.to_be_bytes());
    t[2..4].copy_from_slice(&dport.to_be_bytes());
    t[4..8].copy_from_slice(&0x0102_0304u32.to_be_bytes());
    t[12] = 0x50;
    t[13] = 0x18;
    t[14..16].copy_from_slice(&0xffffu16.to_be_bytes());
    t.extend_from_slice(data);
    t
}

fn echo(ty: u8, ident: u16, seq: u16, data: &[u8]) -> Vec<u8> {
    let mut e = vec![ty, 0, 0, 0];
    e.extend_from_slice(&ident.to_be_bytes());
    e.extend_from_slice(&seq.to_be_bytes());
    e.extend_from_slice(data);
    e
}

fn udp4(src: Ipv4Addr, dst: Ipv4Addr, sport: u16, dport: u16, data: &[u8]) -> Vec<u8> {
    let mut u = udp(sport, dport, data);
    fill4(17, src, dst, &mut u);
    u
}

fn udp6(src: &Ipv6Addr, dst: &Ipv6Addr, sport: u16, dport: u16, data: &[u8]) -> Vec<u8> {
    let mut u = udp(sport, dport, data);
    fill6(17, src, dst, &mut u);
    u
}

/// An ICMPv4 error (type, code, rest) quoting `inner`.
fn icmp4_err(ty: u8, code: u8, rest: u32, inner: &[u8]) -> Vec<u8> {
    let mut m = vec![ty, code, 0, 0];
    m.extend_from_slice(&rest.to_be_bytes());
    m.extend_from_slice(inner);
    let c = checksum::checksum(&m);
    m[2..4].copy_from_slice(&c.to_be_bytes());
    m
}

fn icmp6_err(src: &Ipv6Addr, dst: &Ipv6Addr, ty: u8, code: u8, rest: u32, inner: &[u8]) -> Vec<u8> {
    let mut m = vec![ty, code, 0, 0];
    m.extend_from_slice(&rest.to_be_bytes());
    m.extend_from_slice(inner);
    fill6(58, src, dst, &mut m);
    m
}

/// Checks an IPv6 packet's transport checksum from scratch (no extension headers, or one
/// Fragment header of a whole datagram's first-and-only piece is not expected here).
fn v6_l4_ok(p: &[u8]) -> bool {
    let src = Ipv6Addr::from(<[u8; 16]>::try_from(&p[8..24]).unwrap());
    let dst = Ipv6Addr::from(<[u8; 16]>::try_from(&p[24..40]).unwrap());
    let nh = p[6];
    let l4 = &p[40..];
    if nh == 17 && l4[6..8] == [0, 0] {
        return false;
    }
    let ph = checksum::pseudo_header_v6(&src, &dst, nh.into(), l4.len() as u32);
    checksum::combine(ph, checksum::sum(l4)) == 0xffff
}

fn v4_hdr_ok(p: &[u8]) -> bool {
    let ihl = usize::from(p[0] & 0x0f) * 4;
    checksum::verify(&p[..ihl])
}

fn v4_l4_ok(p: &[u8]) -> bool {
    let ihl = usize::from(p[0] & 0x0f) * 4;
    let src = Ipv4Addr::new(p[12], p[13], p[14], p[15]);
    let dst = Ipv4Addr::new(p[16], p[17], p[18], p[19]);
    let l4 = &p[ihl..];
    match p[9] {
        1 => checksum::verify(l4),
        17 if l4[6..8] == [0, 0] => true,
        proto => {
            let ph = checksum::pseudo_header_v4(src, dst, proto.into(), l4.len() as u16);
            checksum::combine(ph, checksum::sum(l4)) == 0xffff
        }
    }
}

fn map46() -> Map46 {
    Map46 {
        outer: Rewrite::addrs(h6(), s6()),
        inner: Some(Rewrite::addrs(s6(), h6())),
    }
}

fn map64() -> Map64 {
    Map64 {
        outer: Rewrite::addrs(H4, S4),
        inner: Some(Rewrite::addrs(S4, H4)),
        ident: 0xabcd,
    }
}

struct Out {
    r: Xlat46,
    f: VecFrame,
    extra: Vec<VecFrame>,
}

fn x46c(pkt: &[u8], cfg: &XlatConfig, map: &Map46) -> Out {
    let mut f = VecFrame::new(pkt);
    let mut alloc = TestEnv::default();
    let mut sink = TestEnv::default();
    let r = ipv4_to_ipv6(&mut f, cfg, map, &mut alloc, &mut sink);
    Out {
        r,
        f,
        extra: sink.routed,
    }
}

fn x46(pkt: &[u8]) -> Out {
    x46c(pkt, &XlatConfig::default(), &map46())
}

struct Out64 {
    r: Xlat64,
    f: VecFrame,
    extra: Vec<VecFrame>,
}

fn x64c(pkt: &[u8], cfg: &XlatConfig, map: &Map64) -> Out64 {
    let mut f = VecFrame::new(pkt);
    let mut alloc = TestEnv::default();
    let mut sink = TestEnv::default();
    let r = ipv6_to_ipv4(&mut f, cfg, map, &mut alloc, &mut sink);
    Out64 {
        r,
        f,
        extra: sink.routed,
    }
}

fn x64(pkt: &[u8]) -> Out64 {
    x64c(pkt, &XlatConfig::default(), &map64())
}

const DONE: Xlat46 = Xlat::Translated { fragments: 0 };
const DONE64: Xlat64 = Xlat::Translated { fragments: 0 };

// ---------------------------------------------------------------------------------------------
// RFC 6052.

#[test]
fn rfc6052_2_4_table() {
    // RFC 6052 section 2.4, Table 1: 192.0.2.33 under each prefix.
    let table = [
        ("2001:db8::", 32, "2001:db8:c000:221::"),
        ("2001:db8:100::", 40, "2001:db8:1c0:2:21::"),
        ("2001:db8:122::", 48, "2001:db8:122:c000:2:2100::"),
        ("2001:db8:122:300::", 56, "2001:db8:122:3c0:0:221::"),
        ("2001:db8:122:344::", 64, "2001:db8:122:344:c0:2:2100:0"),
        ("2001:db8:122:344::", 96, "2001:db8:122:344::192.0.2.33"),
        ("64:ff9b::", 96, "64:ff9b::192.0.2.33"),
    ];
    for (prefix, len, expect) in table {
        let p = Rfc6052Prefix::new(a6(prefix), len).unwrap();
        assert_eq!(p.embed(S4).unwrap(), a6(expect), "{prefix}/{len}");
        assert_eq!(p.extract(&a6(expect)).unwrap(), S4, "{prefix}/{len}");
    }
}

#[test]
fn rfc6052_2_2_validation() {
    assert_eq!(
        Rfc6052Prefix::new(a6("2001:db8::"), 33),
        Err(Rfc6052Error::BadLength)
    );
    assert_eq!(
        Rfc6052Prefix::new(a6("2001:db8::"), 0),
        Err(Rfc6052Error::BadLength)
    );
    assert_eq!(
        Rfc6052Prefix::new(a6("2001:db8::1"), 96),
        Err(Rfc6052Error::HostBits)
    );
    let p = Rfc6052Prefix::new(a6("2001:db8::"), 32).unwrap();
    // u octet (bits 64..71) must be zero.
    assert_eq!(
        p.extract(&a6("2001:db8:c000:221:100::")),
        Err(Rfc6052Error::NonZeroU)
    );
    assert_eq!(
        p.extract(&a6("2001:db9:c000:221::")),
        Err(Rfc6052Error::NotInPrefix)
    );
    // The suffix is ignored on extraction.
    assert_eq!(p.extract(&a6("2001:db8:c000:221:ff:1:2:3")), Ok(S4));
    // The Well-Known Prefix refuses non-global IPv4 (RFC 6052 3.1) unless turned off.
    let wkp = Rfc6052Prefix::well_known();
    assert_eq!(
        wkp.embed(Ipv4Addr::new(10, 1, 2, 3)),
        Err(Rfc6052Error::NonGlobal)
    );
    assert_eq!(
        wkp.extract(&a6("64:ff9b::c0a8:101")),
        Err(Rfc6052Error::NonGlobal)
    );
    let loose = wkp.with_wkp_global_only(false);
    assert_eq!(
        loose.embed(Ipv4Addr::new(10, 1, 2, 3)),
        Ok(a6("64:ff9b::a01:203"))
    );
    // A network-specific prefix carries private IPv4 addresses.
    assert!(p.embed(Ipv4Addr::new(10, 1, 2, 3)).is_ok());
    assert!(
        Rfc6052Prefix::new(a6("64:ff9b::"), 96)
            .unwrap()
            .wkp_global_only
    );
}

proptest! {
    #[test]
    fn rfc6052_embed_extract_round_trip(len_i in 0usize..6, v4 in any::<u32>(), pre in any::<u128>()) {
        let len = [32u8, 40, 48, 56, 64, 96][len_i];
        let mask = u128::MAX << (128 - u32::from(len));
        let p = Rfc6052Prefix::new(Ipv6Addr::from(pre & mask), len).unwrap().with_wkp_global_only(false);
        let v4 = Ipv4Addr::from(v4);
        let v6 = p.embed(v4).unwrap();
        prop_assert_eq!(v6.octets()[8], if len == 96 { v6.octets()[8] } else { 0 });
        prop_assert_eq!(p.extract(&v6).unwrap(), v4);
    }
}

// ---------------------------------------------------------------------------------------------
// RFC 7757 EAMT, pool6, RFC 6791.

fn p4(s: &str, len: u8) -> Ipv4Prefix {
    Ipv4Prefix {
        addr: s.parse().unwrap(),
        len,
    }
}
fn p6(s: &str, len: u8) -> Ipv6Prefix {
    Ipv6Prefix { addr: a6(s), len }
}

#[test]
fn rfc7757_eamt_longest_prefix_both_ways() {
    let t = Eamt::new(&[
        EamtEntry {
            ipv4: p4("192.0.2.0", 24),
            ipv6: p6("2001:db8:aaaa::", 120),
        },
        EamtEntry {
            ipv4: p4("192.0.2.1", 32),
            ipv6: p6("2001:db8:bbbb::1", 128),
        },
        EamtEntry {
            ipv4: p4("198.51.100.0", 24),
            ipv6: p6("2001:db8:cccc::", 120),
        },
    ])
    .unwrap();
    assert_eq!(t.len(), 3);
    // RFC 7757 section 3.2 / 3.3: the longest match wins, host bits kept.
    assert_eq!(
        t.v4_to_v6("192.0.2.1".parse().unwrap()),
        Some(a6("2001:db8:bbbb::1"))
    );
    assert_eq!(
        t.v4_to_v6("192.0.2.7".parse().unwrap()),
        Some(a6("2001:db8:aaaa::7"))
    );
    assert_eq!(
        t.v6_to_v4(&a6("2001:db8:aaaa::7")),
        Some("192.0.2.7".parse().unwrap())
    );
    assert_eq!(
        t.v6_to_v4(&a6("2001:db8:bbbb::1")),
        Some("192.0.2.1".parse().unwrap())
    );
    assert_eq!(
        t.v6_to_v4(&a6("2001:db8:cccc::ff")),
        Some("198.51.100.255".parse().unwrap())
    );
    assert_eq!(t.v4_to_v6("203.0.113.1".parse().unwrap()), None);
    assert_eq!(t.v6_to_v4(&a6("2001:db8:aaaa::1:0")), None);

    // EAMT first, then pool6 (RFC 7757 section 3), then nothing; RFC 6791 for ICMP sources.
    let siit = Siit {
        eamt: t,
        pool6: Some(Rfc6052Prefix::new(a6("64:ff9b::"), 96).unwrap()),
        rfc6791_v4: vec!["192.0.0.8".parse().unwrap()],
        rfc6791_v6: None,
    };
    assert_eq!(
        siit.addr_4to6("192.0.2.9".parse().unwrap()),
        Ok(a6("2001:db8:aaaa::9"))
    );
    assert_eq!(siit.addr_4to6(R4), Ok(a6("64:ff9b::cb00:7101")));
    assert_eq!(siit.addr_6to4(&a6("64:ff9b::cb00:7101")), Ok(R4));
    assert_eq!(siit.addr_6to4(&r6()), Err(DropReason::XlatNoAddressMapping));
    assert_eq!(siit.icmp_src_6to4(&r6()), Ok("192.0.0.8".parse().unwrap()));
    assert_eq!(
        siit.addr_4to6(Ipv4Addr::new(10, 0, 0, 1)),
        Err(DropReason::XlatNoAddressMapping),
        "non-global with the WKP"
    );
    assert_eq!(
        siit.icmp_src_4to6(Ipv4Addr::new(10, 0, 0, 1)),
        Err(DropReason::XlatNoAddressMapping)
    );
}

#[test]
fn rfc7757_eamt_rejects_bad_entries() {
    let bad = EamtEntry {
        ipv4: p4("192.0.2.0", 24),
        ipv6: p6("2001:db8::", 64),
    };
    assert_eq!(
        Eamt::new(&[bad]).unwrap_err(),
        EamtError::BadEntry { index: 0 }
    );
    let host = EamtEntry {
        ipv4: p4("192.0.2.1", 24),
        ipv6: p6("2001:db8::", 120),
    };
    assert_eq!(
        Eamt::new(&[host]).unwrap_err(),
        EamtError::BadEntry { index: 0 }
    );
    let a = EamtEntry {
        ipv4: p4("192.0.2.0", 24),
        ipv6: p6("2001:db8::", 120),
    };
    let b = EamtEntry {
        ipv4: p4("192.0.2.0", 24),
        ipv6: p6("2001:db8:1::", 120),
    };
    assert_eq!(
        Eamt::new(&[a, b]).unwrap_err(),
        EamtError::Duplicate { index: 1 }
    );
    assert!(Eamt::new(&[]).unwrap().is_empty());
}

#[test]
fn rfc6791_pool_is_stable_per_source() {
    let pool: Vec<Ipv4Addr> = (1..=4).map(|i| Ipv4Addr::new(192, 0, 0, i)).collect();
    let a = rfc6791_v4(&pool, &r6()).unwrap();
    assert_eq!(rfc6791_v4(&pool, &r6()), Some(a));
    assert!(pool.contains(&a));
    assert_eq!(rfc6791_v4(&[], &r6()), None);
}

// ---------------------------------------------------------------------------------------------
// RFC 7915 section 4: IPv4 -> IPv6.

#[test]
fn rfc7915_4_1_header_fields_byte_vector() {
    // UDP 198.51.100.2:1024 -> 192.0.2.33:53, TOS 0x2e, TTL 63, DF, ident 0x1234, "abcd".
    let u = udp4(H4, S4, 1024, 53, b"abcd");
    let pkt = v4simple(17, H4, S4, &u);
    let o = x46(&pkt);
    assert_eq!(o.r, DONE);
    let p = o.f.data();
    let mut expect = vec![
        0x62, 0xe0, 0x00, 0x00, // version 6, traffic class 0x2e (= TOS), flow label 0
        0x00, 0x0c, 17, 63, // payload length 12, next header UDP, hop limit = TTL (copied)
    ];
    expect.extend_from_slice(&h6().octets());
    expect.extend_from_slice(&s6().octets());
    assert_eq!(&p[..40], &expect[..]);
    assert_eq!(&p[40..44], &u[..4], "ports unchanged");
    assert_eq!(&p[48..], b"abcd");
    assert_eq!(
        p.len(),
        52,
        "DF=1 unfragmented: no Fragment header (RFC 8021)"
    );
    assert!(v6_l4_ok(p), "UDP checksum after the pseudo-header swap");
}

#[test]
fn rfc7915_4_1_no_atomic_fragments_when_df_clear() {
    let u = udp4(H4, S4, 1, 2, &[7; 100]);
    let pkt = ipv4(17, H4, S4, &u, false, false, 0, 0x55aa, 64, 0, &[]);
    let o = x46(&pkt);
    assert_eq!(o.r, DONE);
    assert_eq!(
        o.f.data()[6],
        17,
        "no Fragment header for an unfragmented DF=0 packet"
    );
    assert_eq!(o.f.len(), 40 + u.len());
    assert!(v6_l4_ok(o.f.data()));
}

#[test]
fn rfc7915_4_1_fragment_header_for_ipv4_fragments() {
    // First fragment: UDP header + 16 bytes, MF=1, ident 0xbeef.
    let whole = udp4(H4, S4, 5000, 6000, &[9u8; 40]);
    let first = ipv4(17, H4, S4, &whole[..24], false, true, 0, 0xbeef, 30, 0, &[]);
    let o = x46(&first);
    assert_eq!(o.r, DONE);
    let p = o.f.data();
    assert_eq!(p[6], 44, "Next Header = Fragment");
    assert_eq!(
        u16::from_be_bytes([p[4], p[5]]),
        8 + 24,
        "payload length includes it"
    );
    assert_eq!(
        &p[40..48],
        &[17, 0, 0x00, 0x01, 0, 0, 0xbe, 0xef],
        "offset 0, M=1, ident"
    );
    // Non-first fragment: offset 24, MF=0, data copied untouched.
    let rest = ipv4(
        17,
        H4,
        S4,
        &whole[24..],
        false,
        false,
        24,
        0xbeef,
        30,
        0,
        &[],
    );
    let o2 = x46(&rest);
    assert_eq!(o2.r, DONE);
    let q = o2.f.data();
    assert_eq!(&q[40..48], &[17, 0, 0x00, 24, 0, 0, 0xbe, 0xef]);
    assert_eq!(&q[48..], &whole[24..]);
    // Reassembled: the UDP checksum verifies over the IPv6 pseudo-header.
    let mut reasm = ipv6(17, h6(), s6(), &p[48..], 30, 0);
    reasm.extend_from_slice(&q[48..]);
    reasm[4..6].copy_from_slice(&(whole.len() as u16).to_be_bytes());
    assert!(v6_l4_ok(&reasm));
}

#[test]
fn rfc7915_4_1_lowest_ipv6_mtu_splits_df_clear_packets() {
    let data: Vec<u8> = (0..1472u32).map(|i| i as u8).collect();
    let u = udp4(H4, S4, 1111, 2222, &data);
    let pkt = ipv4(17, H4, S4, &u, false, false, 0, 0x0707, 64, 0x10, &[]);
    let o = x46(&pkt);
    assert_eq!(o.r, Xlat::Translated { fragments: 1 });
    let mut parts = vec![o.f.data().to_vec()];
    parts.extend(o.extra.iter().map(|f| f.data().to_vec()));
    let mut reasm = Vec::new();
    for (i, p) in parts.iter().enumerate() {
        assert!(p.len() <= 1280, "fragment {i} is {} bytes", p.len());
        assert_eq!(p[6], 44);
        assert_eq!(p[7], 64, "hop limit copied into every fragment");
        assert_eq!(u32::from_be_bytes([p[44], p[45], p[46], p[47]]), 0x0707);
        let om = u16::from_be_bytes([p[42], p[43]]);
        assert_eq!(
            usize::from(om & 0xfff8),
            reasm.len(),
            "offsets are contiguous"
        );
        assert_eq!(
            om & 1 == 1,
            i + 1 < parts.len(),
            "M set on all but the last"
        );
        reasm.extend_from_slice(&p[48..]);
    }
    assert_eq!(
        (&reasm[..6], &reasm[8..]),
        (&u[..6], &u[8..]),
        "all but the checksum"
    );
    let whole = ipv6(17, h6(), s6(), &reasm, 64, 0);
    assert!(v6_l4_ok(&whole));
    // A bigger lowest-ipv6-mtu (and next hop) leaves it whole.
    let cfg = XlatConfig {
        lowest_ipv6_mtu: 1600,
        ipv6_mtu: 1600,
        ..XlatConfig::default()
    };
    let o = x46c(&pkt, &cfg, &map46());
    assert_eq!(o.r, DONE);
    assert_eq!(o.f.len(), 40 + u.len());
}

#[test]
fn rfc7915_4_1_split_fails_cleanly_without_buffers() {
    let u = udp4(H4, S4, 1, 2, &[1; 1400]);
    let pkt = ipv4(17, H4, S4, &u, false, false, 0, 1, 64, 0, &[]);
    let mut f = VecFrame::new(&pkt);
    let mut alloc = TestEnv {
        alloc_budget: Some(0),
        ..Default::default()
    };
    let mut sink = TestEnv::default();
    let r = ipv4_to_ipv6(
        &mut f,
        &XlatConfig::default(),
        &map46(),
        &mut alloc,
        &mut sink,
    );
    assert_eq!(r, Xlat::Drop(DropReason::XlatFragmentFailed));
}

#[test]
fn rfc7915_4_1_df_set_too_big_gets_frag_needed() {
    let u = udp4(H4, S4, 1, 2, &[0; 1472]);
    let pkt = v4simple(17, H4, S4, &u);
    let cfg = XlatConfig {
        ipv6_mtu: 1280,
        ..XlatConfig::default()
    };
    let o = x46c(&pkt, &cfg, &map46());
    assert_eq!(o.r, Xlat::Icmp(Icmp4Error::FragNeeded { mtu: 1260 }));
    assert_eq!(o.f.data(), &pkt[..], "frame unchanged");
    // The error back to the sender: type 3 code 4, MTU 1260, at most 576 bytes.
    let mut f = o.f;
    icmp4_error_in_place(&mut f, Icmp4Error::FragNeeded { mtu: 1260 }, R4).unwrap();
    let e = f.data();
    assert_eq!(e.len(), 576);
    assert!(v4_hdr_ok(e) && v4_l4_ok(e));
    assert_eq!((e[9], e[20], e[21]), (1, 3, 4));
    assert_eq!(u16::from_be_bytes([e[26], e[27]]), 1260);
    assert_eq!(&e[16..20], &H4.octets());
    assert_eq!(&e[28..48], &pkt[..20], "quotes the original header");
    // Fits: translated.
    let cfg = XlatConfig {
        ipv6_mtu: 1520,
        ..XlatConfig::default()
    };
    assert_eq!(x46c(&pkt, &cfg, &map46()).r, DONE);
}

#[test]
fn rfc7915_4_1_options_ignored_source_route_refused() {
    let u = udp4(H4, S4, 1, 2, b"x");
    // NOP, NOP, NOP, EOL: ignored.
    let pkt = ipv4(17, H4, S4, &u, true, false, 0, 1, 9, 0, &[1, 1, 1, 0]);
    let o = x46(&pkt);
    assert_eq!(o.r, DONE);
    assert_eq!(o.f.len(), 40 + u.len());
    assert!(v6_l4_ok(o.f.data()));
    // Unexpired LSRR (pointer 4 <= length 7): Destination Unreachable, Source Route Failed.
    let lsrr = [131, 7, 4, 192, 0, 2, 1, 0];
    let pkt = ipv4(17, H4, S4, &u, true, false, 0, 1, 9, 0, &lsrr);
    assert_eq!(x46(&pkt).r, Xlat::Icmp(Icmp4Error::SourceRouteFailed));
    assert_eq!(Icmp4Error::SourceRouteFailed.wire(), (3, 5, 0));
    // Expired SSRR (pointer 8 > length 7): translated.
    let ssrr = [137, 7, 8, 192, 0, 2, 1, 0];
    let pkt = ipv4(17, H4, S4, &u, true, false, 0, 1, 9, 0, &ssrr);
    assert_eq!(x46(&pkt).r, DONE);
}

#[test]
fn rfc7915_4_1_bad_header_checksum_and_protocol() {
    let u = udp4(H4, S4, 1, 2, b"x");
    let mut pkt = v4simple(17, H4, S4, &u);
    pkt[10] ^= 1;
    assert_eq!(x46(&pkt).r, Xlat::Drop(DropReason::XlatBadChecksum));
    let pkt = v4simple(58, H4, S4, &u);
    assert_eq!(x46(&pkt).r, Xlat::Drop(DropReason::XlatBadProtocol));
    assert_eq!(x46(&pkt[..19]).r, Xlat::Drop(DropReason::XlatMalformed));
}

#[test]
fn rfc7915_4_2_echo_request_and_reply() {
    for (t4, t6) in [(8u8, 128u8), (0, 129)] {
        let mut e = echo(t4, 0x4242, 7, b"ping-data");
        fill4(1, H4, S4, &mut e);
        let pkt = v4simple(1, H4, S4, &e);
        let o = x46(&pkt);
        assert_eq!(o.r, DONE);
        let p = o.f.data();
        assert_eq!((p[6], p[40], p[41]), (58, t6, 0));
        assert_eq!(&p[44..], &e[4..], "identifier, sequence and data unchanged");
        assert!(v6_l4_ok(p), "ICMPv6 checksum includes the pseudo-header");
    }
    // NAT: the identifier is rewritten with the checksum.
    let mut e = echo(8, 0x4242, 7, b"nat");
    fill4(1, H4, S4, &mut e);
    let pkt = v4simple(1, H4, S4, &e);
    let map = Map46 {
        outer: Rewrite::with_ports(h6(), s6(), 0x9999, 0x9999),
        inner: None,
    };
    let o = x46c(&pkt, &XlatConfig::default(), &map);
    assert_eq!(&o.f.data()[44..46], &[0x99, 0x99]);
    assert!(v6_l4_ok(o.f.data()));
}

#[test]
fn rfc7915_4_2_informational_and_obsolete_types_dropped() {
    // Timestamp (13/14), Information (15/16), Address Mask (17/18), Router Adv./Sol. (9/10),
    // Source Quench (4), Redirect (5): silently dropped.
    for ty in [13u8, 14, 15, 16, 17, 18, 9, 10, 4, 5, 42] {
        let mut m = vec![ty, 0, 0, 0, 0, 0, 0, 0];
        m.extend_from_slice(&v4simple(17, S4, H4, &udp4(S4, H4, 1, 2, b"")));
        fill4(1, R4, H4, &mut m);
        let pkt = v4simple(1, R4, H4, &m);
        assert_eq!(
            x46(&pkt).r,
            Xlat::Drop(DropReason::XlatIcmpUntranslatable),
            "type {ty}"
        );
    }
}

/// The packet a server sent to the host (IPv4 side) that an error quotes.
fn quoted4() -> Vec<u8> {
    let u = udp4(H4, S4, 40000, 53, &[0x55; 32]);
    ipv4(17, H4, S4, &u, false, false, 0, 0x1111, 1, 0, &[])
}

/// An ICMPv4 error from R4 to H4 quoting `quoted4()`.
fn err4(ty: u8, code: u8, rest: u32) -> Vec<u8> {
    let m = icmp4_err(ty, code, rest, &quoted4());
    ipv4(1, R4, H4, &m, false, false, 0, 9, 250, 0xc0, &[])
}

fn map46_err() -> Map46 {
    Map46 {
        outer: Rewrite::addrs(r6(), h6()),
        inner: Some(Rewrite::addrs(h6(), s6())),
    }
}

fn xerr46(pkt: &[u8], cfg: &XlatConfig) -> Out {
    x46c(pkt, cfg, &map46_err())
}

#[test]
fn rfc7915_4_2_icmp_dest_unreach_codes() {
    // (ICMPv4 code, ICMPv6 type, code) per RFC 7915 4.2; None = dropped.
    let table: [(u8, Option<(u8, u8)>); 17] = [
        (0, Some((1, 0))),
        (1, Some((1, 0))),
        (2, Some((4, 1))),
        (3, Some((1, 4))),
        (4, Some((2, 0))),
        (5, Some((1, 0))),
        (6, Some((1, 0))),
        (7, Some((1, 0))),
        (8, Some((1, 0))),
        (9, Some((1, 1))),
        (10, Some((1, 1))),
        (11, Some((1, 0))),
        (12, Some((1, 0))),
        (13, Some((1, 1))),
        (14, None),
        (15, Some((1, 1))),
        (16, None),
    ];
    for (code, expect) in table {
        let o = xerr46(&err4(3, code, 1400), &XlatConfig::default());
        match expect {
            Some((t, c)) => {
                assert_eq!(o.r, DONE, "code {code}");
                let p = o.f.data();
                assert_eq!((p[6], p[40], p[41]), (58, t, c), "code {code}");
                assert!(v6_l4_ok(p), "code {code}");
                if code == 2 {
                    assert_eq!(&p[44..48], &6u32.to_be_bytes(), "pointer to Next Header");
                }
            }
            None => assert_eq!(
                o.r,
                Xlat::Drop(DropReason::XlatIcmpUntranslatable),
                "code {code}"
            ),
        }
    }
}

#[test]
fn rfc7915_4_2_time_exceeded() {
    for code in [0u8, 1] {
        let o = xerr46(&err4(11, code, 0), &XlatConfig::default());
        assert_eq!(o.r, DONE);
        let p = o.f.data();
        assert_eq!((p[40], p[41]), (3, code));
        assert_eq!(p[7], 250, "hop limit copied");
        assert_eq!(p[1] >> 4 | (p[0] & 0x0f) << 4, 0xc0, "traffic class = TOS");
        assert!(v6_l4_ok(p));
    }
}

#[test]
fn rfc7915_4_2_param_problem_pointer_figure3() {
    let fig3: [(u8, Option<u32>); 21] = [
        (0, Some(0)),
        (1, Some(1)),
        (2, Some(4)),
        (3, Some(4)),
        (4, None),
        (5, None),
        (6, None),
        (7, None),
        (8, Some(7)),
        (9, Some(6)),
        (10, None),
        (11, None),
        (12, Some(8)),
        (13, Some(8)),
        (14, Some(8)),
        (15, Some(8)),
        (16, Some(24)),
        (17, Some(24)),
        (18, Some(24)),
        (19, Some(24)),
        (20, None),
    ];
    for (ptr, expect) in fig3 {
        assert_eq!(icmp::pointer_4to6(ptr), expect);
        let o = xerr46(&err4(12, 0, u32::from(ptr) << 24), &XlatConfig::default());
        match expect {
            Some(p6) => {
                assert_eq!(o.r, DONE, "pointer {ptr}");
                let p = o.f.data();
                assert_eq!((p[40], p[41]), (4, 0));
                assert_eq!(u32::from_be_bytes([p[44], p[45], p[46], p[47]]), p6);
                assert!(v6_l4_ok(p));
            }
            None => assert_eq!(o.r, Xlat::Drop(DropReason::XlatIcmpUntranslatable)),
        }
    }
    // Code 2 (bad length) as code 0; code 1 (missing option) dropped.
    assert_eq!(
        xerr46(&err4(12, 2, 9 << 24), &XlatConfig::default()).r,
        DONE
    );
    assert_eq!(
        xerr46(&err4(12, 1, 0), &XlatConfig::default()).r,
        Xlat::Drop(DropReason::XlatIcmpUntranslatable)
    );
}

#[test]
fn rfc7915_4_2_frag_needed_mtu_arithmetic() {
    let cfg = XlatConfig {
        ipv6_mtu: 9000,
        ipv4_mtu: 9000,
        ..XlatConfig::default()
    };
    let mtu_of = |rest: u32, cfg: &XlatConfig| {
        let o = xerr46(&err4(3, 4, rest), cfg);
        assert_eq!(o.r, DONE);
        let p = o.f.data();
        assert_eq!((p[40], p[41]), (2, 0));
        assert!(v6_l4_ok(p));
        u32::from_be_bytes([p[44], p[45], p[46], p[47]])
    };
    // advertised + 20.
    assert_eq!(mtu_of(1400, &cfg), 1420);
    // bounded by the IPv6 next hop and by the IPv4 next hop + 20.
    let c2 = XlatConfig {
        ipv6_mtu: 1400,
        ..cfg
    };
    assert_eq!(mtu_of(1480, &c2), 1400);
    let c3 = XlatConfig {
        ipv4_mtu: 1300,
        ..cfg
    };
    assert_eq!(mtu_of(1480, &c3), 1320);
    // Zero (pre-RFC 1191 router): plateau below the quoted Total Length (72 -> 68 -> floor).
    assert_eq!(mtu_of(0, &cfg), 1280);
    assert_eq!(icmp::plateau(1500), 1492);
    assert_eq!(icmp::plateau(1492), 1006);
    assert_eq!(icmp::plateau(9000), 8166);
    assert_eq!(icmp::plateau(60), 68);
    assert_eq!(icmp::mtu_4to6(0, 4000, 9000, 9000), 2022);
    // Never below 1280.
    assert_eq!(mtu_of(576, &cfg), 1280);
}

#[test]
fn rfc7915_4_3_inner_packet_translated() {
    let o = xerr46(&err4(3, 3, 0), &XlatConfig::default());
    assert_eq!(o.r, DONE);
    let p = o.f.data();
    let inner = &p[48..];
    // The quoted packet, translated on its own, is what the error carries.
    let q = quoted4();
    let alone = x46c(
        &q,
        &XlatConfig::default(),
        &Map46 {
            outer: Rewrite::addrs(h6(), s6()),
            inner: None,
        },
    );
    assert_eq!(alone.r, DONE);
    assert_eq!(inner, alone.f.data());
    assert_eq!(inner[7], 1, "inner hop limit copied");
    assert!(
        v6_l4_ok(inner),
        "inner UDP checksum updated for the inner pseudo-header"
    );
    assert_eq!(&p[8..24], &r6().octets());
    assert_eq!(&p[24..40], &h6().octets());
}

#[test]
fn rfc7915_4_3_inner_ports_rewritten_for_nat() {
    let map = Map46 {
        outer: Rewrite::addrs(r6(), h6()),
        inner: Some(Rewrite::with_ports(h6(), s6(), 1234, 53)),
    };
    let o = x46c(&err4(3, 3, 0), &XlatConfig::default(), &map);
    assert_eq!(o.r, DONE);
    let inner = &o.f.data()[48..];
    assert_eq!(&inner[40..44], &[0x04, 0xd2, 0, 53]);
    assert!(v6_l4_ok(inner));
    assert!(v6_l4_ok(o.f.data()));
}

#[test]
fn rfc7915_4_3_inner_fragment_and_echo() {
    // Inner non-first fragment: gets a Fragment header.
    let frag = ipv4(17, H4, S4, &[1u8; 16], false, false, 64, 0x2222, 5, 0, &[]);
    let m = icmp4_err(11, 1, 0, &frag);
    let pkt = ipv4(1, R4, H4, &m, false, false, 0, 9, 64, 0, &[]);
    let o = xerr46(&pkt, &XlatConfig::default());
    assert_eq!(o.r, DONE);
    let p = o.f.data();
    assert_eq!(p[48 + 6], 44);
    assert_eq!(&p[88..96], &[17, 0, 0, 64, 0, 0, 0x22, 0x22]);
    assert!(v6_l4_ok(p));
    // Inner echo request: ICMPv6 type, checksum over the inner pseudo-header.
    let mut e = echo(8, 1, 2, b"abc");
    fill4(1, H4, S4, &mut e);
    let q = v4simple(1, H4, S4, &e);
    let m = icmp4_err(3, 1, 0, &q);
    let pkt = ipv4(1, R4, H4, &m, false, false, 0, 9, 64, 0, &[]);
    let o = xerr46(&pkt, &XlatConfig::default());
    assert_eq!(o.r, DONE);
    let inner = &o.f.data()[48..];
    assert_eq!((inner[6], inner[40]), (58, 128));
    assert!(v6_l4_ok(inner));
}

#[test]
fn rfc7915_4_3_result_truncated_to_1280() {
    // An ICMPv4 error quoting 1400 bytes (more than RFC 1812 asks; possible on the wire).
    let big = ipv4(
        17,
        H4,
        S4,
        &udp4(H4, S4, 1, 2, &[3; 1372]),
        false,
        false,
        0,
        1,
        9,
        0,
        &[],
    );
    let m = icmp4_err(3, 1, 0, &big);
    let pkt = ipv4(1, R4, H4, &m, false, false, 0, 9, 64, 0, &[]);
    let o = xerr46(&pkt, &XlatConfig::default());
    assert_eq!(o.r, DONE);
    let p = o.f.data();
    assert_eq!(p.len(), 1280);
    assert!(v6_l4_ok(p));
    assert_eq!(u16::from_be_bytes([p[4], p[5]]), 1240);
    assert_eq!(
        u16::from_be_bytes([p[48 + 4], p[48 + 5]]),
        1380,
        "the inner header keeps its declared length"
    );
}

#[test]
fn rfc7915_4_2_rfc4884_extensions_not_translated() {
    // Time Exceeded with length attribute 32 words (128 bytes of original datagram) and an
    // extension structure after it.
    let mut orig = quoted4();
    orig.resize(128, 0);
    let mut body = orig.clone();
    body.extend_from_slice(&[0x20, 0, 0, 0, 0, 8, 1, 1, 0, 0, 0, 1]);
    let m = icmp4_err(11, 0, 32 << 16, &body);
    let pkt = ipv4(1, R4, H4, &m, false, false, 0, 9, 64, 0, &[]);
    let o = xerr46(&pkt, &XlatConfig::default());
    assert_eq!(o.r, DONE);
    let p = o.f.data();
    assert_eq!(p.len(), 48 + 20 + 128, "extensions left out");
    assert_eq!(&p[44..48], &[0, 0, 0, 0], "length attribute cleared");
    assert!(v6_l4_ok(p));
}

#[test]
fn rfc7915_4_5_udp_zero_checksum() {
    let mut u = udp(1000, 2000, b"no checksum");
    u[6] = 0;
    u[7] = 0;
    let pkt = v4simple(17, H4, S4, &u);
    let o = x46(&pkt);
    assert_eq!(o.r, DONE);
    assert!(v6_l4_ok(o.f.data()), "computed over the IPv6 pseudo-header");
    // Fragmented: cannot be computed.
    let frag = ipv4(17, H4, S4, &u, false, true, 0, 1, 9, 0, &[]);
    assert_eq!(x46(&frag).r, Xlat::Drop(DropReason::XlatUdpZeroChecksum));
    // Computing turned off: dropped too.
    let cfg = XlatConfig {
        compute_udp_zero_checksum: false,
        ..XlatConfig::default()
    };
    assert_eq!(
        x46c(&pkt, &cfg, &map46()).r,
        Xlat::Drop(DropReason::XlatUdpZeroChecksum)
    );
}

#[test]
fn rfc7915_4_5_tcp_checksum_incremental_with_nat_ports() {
    let mut t = tcp(33000, 80, b"GET / HTTP/1.1\r\n\r\n");
    fill4(6, H4, S4, &mut t);
    let pkt = v4simple(6, H4, S4, &t);
    let map = Map46 {
        outer: Rewrite::with_ports(h6(), s6(), 61000, 8080),
        inner: None,
    };
    let o = x46c(&pkt, &XlatConfig::default(), &map);
    assert_eq!(o.r, DONE);
    let p = o.f.data();
    assert_eq!(&p[40..44], &[0xee, 0x48, 0x1f, 0x90]);
    assert!(v6_l4_ok(p));
}

#[test]
fn rfc7915_4_fragmented_icmp_dropped() {
    let mut e = echo(8, 1, 1, &[0; 64]);
    fill4(1, H4, S4, &mut e);
    let pkt = ipv4(1, H4, S4, &e[..32], false, true, 0, 5, 9, 0, &[]);
    assert_eq!(x46(&pkt).r, Xlat::Drop(DropReason::XlatFragmentedIcmp));
    // Non-first fragments are plain data.
    let pkt = ipv4(1, H4, S4, &e[32..], false, false, 32, 5, 9, 0, &[]);
    let o = x46(&pkt);
    assert_eq!(o.r, DONE);
    assert_eq!(o.f.data()[40], 58, "fragment header next header = ICMPv6");
}

// ---------------------------------------------------------------------------------------------
// RFC 7915 section 5: IPv6 -> IPv4.

#[test]
fn rfc7915_5_1_header_fields_byte_vector() {
    let u = udp6(&h6(), &s6(), 1024, 53, b"abcd");
    let pkt = ipv6(17, h6(), s6(), &u, 63, 0x2e);
    let o = x64(&pkt);
    assert_eq!(o.r, DONE64);
    let p = o.f.data();
    let mut expect = vec![
        0x45, 0x2e, 0x00, 0x20, // version 4, IHL 5, TOS = traffic class, total length 32
        0xab, 0xcd, 0x00, 0x00, // identification from the caller, DF=0 (<= 1260), offset 0
        63, 17, 0, 0, // TTL = hop limit (copied), protocol UDP, checksum (below)
    ];
    expect.extend_from_slice(&H4.octets());
    expect.extend_from_slice(&S4.octets());
    let c = checksum::checksum(&expect);
    expect[10..12].copy_from_slice(&c.to_be_bytes());
    assert_eq!(&p[..20], &expect[..]);
    assert_eq!(&p[28..], b"abcd");
    assert!(v4_l4_ok(p));
}

#[test]
fn rfc7915_5_1_df_set_above_1260() {
    // 1260-byte result: DF=0, caller's identification; 1261: DF=1, identification 0.
    for (len, df) in [(1260usize, false), (1261, true)] {
        let u = udp6(&h6(), &s6(), 1, 2, &vec![0xa5; len - 28]);
        let o = x64(&ipv6(17, h6(), s6(), &u, 64, 0));
        assert_eq!(o.r, DONE64);
        let p = o.f.data();
        assert_eq!(p.len(), len);
        assert_eq!(p[6] & 0x40 != 0, df, "len {len}");
        assert_eq!(
            u16::from_be_bytes([p[4], p[5]]),
            if df { 0 } else { 0xabcd }
        );
        assert!(v4_hdr_ok(p) && v4_l4_ok(p));
    }
}

fn ext(nh: u8, len8: u8, fill: u8) -> Vec<u8> {
    let mut e = vec![nh, len8];
    e.resize(8 * (usize::from(len8) + 1), fill);
    e
}

#[test]
fn rfc7915_5_1_extension_headers_skipped() {
    let u = udp6(&h6(), &s6(), 7, 8, b"ext");
    // Hop-by-Hop (PadN) -> Routing (type 0, segments left 0) -> Destination Options -> UDP.
    let mut payload = ext(43, 0, 0);
    payload[2..8].copy_from_slice(&[1, 4, 0, 0, 0, 0]);
    let mut rh = vec![60, 0, 0, 0, 0, 0, 0, 0];
    rh[2] = 0; // routing type
    rh[3] = 0; // segments left
    payload.extend_from_slice(&rh);
    let mut dst = ext(17, 1, 0);
    dst[2..4].copy_from_slice(&[1, 12]);
    payload.extend_from_slice(&dst);
    payload.extend_from_slice(&u);
    let pkt = ipv6(0, h6(), s6(), &payload, 64, 0);
    let o = x64(&pkt);
    assert_eq!(o.r, DONE64);
    let p = o.f.data();
    assert_eq!(p[9], 17);
    assert_eq!(usize::from(u16::from_be_bytes([p[2], p[3]])), 20 + u.len());
    assert_eq!(&p[20..26], &u[..6], "ports and UDP length unchanged");
    assert_eq!(&p[28..], b"ext");
    assert!(v4_hdr_ok(p) && v4_l4_ok(p));
}

#[test]
fn rfc7915_5_1_routing_segments_left_param_problem() {
    let u = udp6(&h6(), &s6(), 7, 8, b"");
    // Hop-by-Hop (8 bytes) then Routing with segments left 1: pointer = 40 + 8 + 3.
    let mut payload = ext(43, 0, 0);
    payload[2..8].copy_from_slice(&[1, 4, 0, 0, 0, 0]);
    let mut rh = ext(17, 2, 0);
    rh[2] = 4; // segment routing
    rh[3] = 1;
    payload.extend_from_slice(&rh);
    payload.extend_from_slice(&u);
    let pkt = ipv6(0, h6(), s6(), &payload, 64, 0);
    let o = x64(&pkt);
    assert_eq!(
        o.r,
        Xlat::Icmp(Icmp6Error::ParamProblem {
            code: 0,
            pointer: 51
        })
    );
    let mut f = o.f;
    icmp6_error_in_place(
        &mut f,
        Icmp6Error::ParamProblem {
            code: 0,
            pointer: 51,
        },
        r6(),
    )
    .unwrap();
    let e = f.data();
    assert_eq!((e[6], e[40], e[41]), (58, 4, 0));
    assert_eq!(&e[44..48], &51u32.to_be_bytes());
    assert_eq!(&e[24..40], &h6().octets());
    assert!(v6_l4_ok(e));
}

fn frag_hdr(nh: u8, offset: u16, more: bool, ident: u32) -> Vec<u8> {
    let mut f = vec![nh, 0];
    f.extend_from_slice(&(offset | u16::from(more)).to_be_bytes());
    f.extend_from_slice(&ident.to_be_bytes());
    f
}

#[test]
fn rfc7915_5_1_fragment_header_to_ipv4_fields() {
    let whole = udp6(&h6(), &s6(), 9, 10, &[4u8; 40]);
    let mut first = frag_hdr(17, 0, true, 0x1234_5678);
    first.extend_from_slice(&whole[..24]);
    let o = x64(&ipv6(44, h6(), s6(), &first, 33, 0));
    assert_eq!(o.r, DONE64);
    let p = o.f.data();
    assert_eq!(
        &p[4..8],
        &[0x56, 0x78, 0x20, 0x00],
        "low 16 bits of ident, DF=0, MF=1"
    );
    assert_eq!(u16::from_be_bytes([p[2], p[3]]), 44);
    let mut rest = frag_hdr(17, 24, false, 0x1234_5678);
    rest.extend_from_slice(&whole[24..]);
    let o2 = x64(&ipv6(44, h6(), s6(), &rest, 33, 0));
    assert_eq!(o2.r, DONE64);
    let q = o2.f.data();
    assert_eq!(&q[4..8], &[0x56, 0x78, 0x00, 3], "offset 24 = 3 units");
    assert_eq!(&q[20..], &whole[24..]);
    // Reassembled UDP verifies over the IPv4 pseudo-header.
    let mut r = p[20..].to_vec();
    r.extend_from_slice(&q[20..]);
    let re = v4simple(17, H4, S4, &r);
    assert!(v4_l4_ok(&re));
}

#[test]
fn rfc8021_atomic_fragment_translated_as_unfragmented() {
    let u = udp6(&h6(), &s6(), 9, 10, b"atomic");
    let mut payload = frag_hdr(17, 0, false, 0xdead_beef);
    payload.extend_from_slice(&u);
    let o = x64(&ipv6(44, h6(), s6(), &payload, 33, 0));
    assert_eq!(o.r, DONE64);
    let p = o.f.data();
    assert_eq!(&p[4..8], &[0xbe, 0xef, 0, 0], "MF=0, offset 0, DF=0");
    assert!(v4_l4_ok(p));
}

#[test]
fn rfc7915_5_1_too_big_for_ipv4_next_hop() {
    let u = udp6(&h6(), &s6(), 1, 2, &[0; 1452]);
    let pkt = ipv6(17, h6(), s6(), &u, 64, 0);
    let cfg = XlatConfig {
        ipv4_mtu: 1400,
        ..XlatConfig::default()
    };
    let o = x64c(&pkt, &cfg, &map64());
    assert_eq!(o.r, Xlat::Icmp(Icmp6Error::PacketTooBig { mtu: 1420 }));
    assert_eq!(o.f.data(), &pkt[..]);
    let mut f = o.f;
    icmp6_error_in_place(&mut f, Icmp6Error::PacketTooBig { mtu: 1420 }, r6()).unwrap();
    assert_eq!(f.len(), 1280, "the error fits the IPv6 minimum MTU");
    assert!(v6_l4_ok(f.data()));
    // An IPv4 MTU below 1260: PTB says 1280; a 1280-byte packet is then DF=0 and split.
    let cfg = XlatConfig {
        ipv4_mtu: 576,
        ..XlatConfig::default()
    };
    assert_eq!(
        x64c(&pkt, &cfg, &map64()).r,
        Xlat::Icmp(Icmp6Error::PacketTooBig { mtu: 1280 })
    );
    let data: Vec<u8> = (0..1200u32).map(|i| (i * 7) as u8).collect();
    let u = udp6(&h6(), &s6(), 1, 2, &data);
    let o = x64c(&ipv6(17, h6(), s6(), &u, 64, 0), &cfg, &map64());
    assert_eq!(o.r, Xlat::Translated { fragments: 2 });
    let mut parts = vec![o.f.data().to_vec()];
    parts.extend(o.extra.iter().map(|f| f.data().to_vec()));
    let mut reasm = Vec::new();
    for (i, p) in parts.iter().enumerate() {
        assert!(p.len() <= 576);
        assert!(v4_hdr_ok(p));
        let fl = u16::from_be_bytes([p[6], p[7]]);
        assert_eq!(usize::from(fl & 0x1fff) * 8, reasm.len());
        assert_eq!(fl & 0x2000 != 0, i + 1 < parts.len());
        assert_eq!(&p[4..6], &[0xab, 0xcd], "same identification");
        reasm.extend_from_slice(&p[20..]);
    }
    assert_eq!(reasm.len(), u.len());
    assert!(v4_l4_ok(&v4simple(17, H4, S4, &reasm)));
}

#[test]
fn rfc7915_5_1_ext_header_after_fragment_dropped() {
    let u = udp6(&h6(), &s6(), 1, 2, b"x");
    let mut payload = frag_hdr(60, 0, true, 1);
    payload.extend_from_slice(&ext(17, 0, 0));
    payload.extend_from_slice(&u);
    let o = x64(&ipv6(44, h6(), s6(), &payload, 64, 0));
    assert_eq!(o.r, Xlat::Drop(DropReason::XlatExtAfterFragment));
    // Non-first fragment whose Fragment header names an extension header: same.
    let mut payload = frag_hdr(43, 8, false, 1);
    payload.extend_from_slice(&[0; 16]);
    let o = x64(&ipv6(44, h6(), s6(), &payload, 64, 0));
    assert_eq!(o.r, Xlat::Drop(DropReason::XlatExtAfterFragment));
    // AH cannot be translated; a Hop-by-Hop header that is not first is malformed.
    let o = x64(&ipv6(51, h6(), s6(), &ext(17, 1, 0), 64, 0));
    assert_eq!(o.r, Xlat::Drop(DropReason::XlatUnsupportedExt));
    let mut payload = ext(0, 0, 0);
    payload.extend_from_slice(&ext(17, 0, 0));
    let o = x64(&ipv6(60, h6(), s6(), &payload, 64, 0));
    assert_eq!(o.r, Xlat::Drop(DropReason::XlatMalformed));
    // ICMPv4 inside IPv6.
    let o = x64(&ipv6(1, h6(), s6(), &[8, 0, 0, 0, 0, 0, 0, 0], 64, 0));
    assert_eq!(o.r, Xlat::Drop(DropReason::XlatBadProtocol));
}

#[test]
fn rfc7915_5_2_echo_request_and_reply() {
    for (t6, t4) in [(128u8, 8u8), (129, 0)] {
        let mut e = echo(t6, 0x7777, 3, b"pong");
        fill6(58, &h6(), &s6(), &mut e);
        let o = x64(&ipv6(58, h6(), s6(), &e, 64, 0));
        assert_eq!(o.r, DONE64);
        let p = o.f.data();
        assert_eq!((p[9], p[20], p[21]), (1, t4, 0));
        assert_eq!(&p[24..], &e[4..]);
        assert!(v4_l4_ok(p), "ICMPv4 checksum without pseudo-header");
    }
    // Neighbor Discovery, MLD and unknown informational types: dropped.
    for ty in [130u8, 131, 133, 134, 135, 136, 137, 143, 200] {
        let mut m = vec![ty, 0, 0, 0, 0, 0, 0, 0];
        fill6(58, &h6(), &s6(), &mut m);
        let o = x64(&ipv6(58, h6(), s6(), &m, 255, 0));
        assert_eq!(
            o.r,
            Xlat::Drop(DropReason::XlatIcmpUntranslatable),
            "type {ty}"
        );
    }
}

/// The packet the IPv6 host sent that an ICMPv6 error quotes.
fn quoted6() -> Vec<u8> {
    let u = udp6(&h6(), &s6(), 40000, 53, &[0x66; 32]);
    ipv6(17, h6(), s6(), &u, 1, 0)
}

fn err6(ty: u8, code: u8, rest: u32, quoted: &[u8]) -> Vec<u8> {
    let m = icmp6_err(&r6(), &h6(), ty, code, rest, quoted);
    ipv6(58, r6(), h6(), &m, 250, 0xc0)
}

fn map64_err() -> Map64 {
    Map64 {
        outer: Rewrite::addrs(R4, H4),
        inner: Some(Rewrite::addrs(H4, S4)),
        ident: 0,
    }
}

fn xerr64(pkt: &[u8], cfg: &XlatConfig) -> Out64 {
    x64c(pkt, cfg, &map64_err())
}

#[test]
fn rfc7915_5_2_icmp_dest_unreach_codes() {
    let table: [(u8, Option<(u8, u8)>); 8] = [
        (0, Some((3, 1))),
        (1, Some((3, 10))),
        (2, Some((3, 1))),
        (3, Some((3, 1))),
        (4, Some((3, 3))),
        (5, None),
        (6, None),
        (7, None),
    ];
    for (code, expect) in table {
        let o = xerr64(&err6(1, code, 0, &quoted6()), &XlatConfig::default());
        match expect {
            Some((t, c)) => {
                assert_eq!(o.r, DONE64, "code {code}");
                let p = o.f.data();
                assert_eq!((p[9], p[20], p[21]), (1, t, c));
                assert!(v4_hdr_ok(p) && v4_l4_ok(p));
            }
            None => assert_eq!(o.r, Xlat::Drop(DropReason::XlatIcmpUntranslatable)),
        }
    }
}

#[test]
fn rfc7915_5_2_time_exceeded_and_unknown_errors() {
    let o = xerr64(&err6(3, 0, 0, &quoted6()), &XlatConfig::default());
    assert_eq!(o.r, DONE64);
    let p = o.f.data();
    assert_eq!((p[20], p[21], p[8], p[1]), (11, 0, 250, 0xc0));
    assert!(v4_hdr_ok(p) && v4_l4_ok(p));
    for ty in [0u8, 5, 100, 127] {
        let o = xerr64(&err6(ty, 0, 0, &quoted6()), &XlatConfig::default());
        assert_eq!(
            o.r,
            Xlat::Drop(DropReason::XlatIcmpUntranslatable),
            "type {ty}"
        );
    }
}

#[test]
fn rfc7915_5_2_param_problem_pointer_figure6() {
    for ptr in 0u32..=41 {
        let expect: Option<u8> = match ptr {
            0 => Some(0),
            1 => Some(1),
            4 | 5 => Some(2),
            6 => Some(9),
            7 => Some(8),
            8..=23 => Some(12),
            24..=39 => Some(16),
            _ => None,
        };
        assert_eq!(icmp::pointer_6to4(ptr), expect, "pointer {ptr}");
        let o = xerr64(&err6(4, 0, ptr, &quoted6()), &XlatConfig::default());
        match expect {
            Some(p4) => {
                assert_eq!(o.r, DONE64);
                let p = o.f.data();
                assert_eq!((p[20], p[21], p[24]), (12, 0, p4));
                assert!(v4_l4_ok(p));
            }
            None => assert_eq!(o.r, Xlat::Drop(DropReason::XlatIcmpUntranslatable)),
        }
    }
    // Code 1 (unrecognized Next Header) -> Protocol Unreachable; code 2 dropped.
    let o = xerr64(&err6(4, 1, 40, &quoted6()), &XlatConfig::default());
    assert_eq!((o.f.data()[20], o.f.data()[21]), (3, 2));
    let o = xerr64(&err6(4, 2, 40, &quoted6()), &XlatConfig::default());
    assert_eq!(o.r, Xlat::Drop(DropReason::XlatIcmpUntranslatable));
}

#[test]
fn rfc7915_5_2_packet_too_big_mtu_arithmetic() {
    let cfg = XlatConfig {
        ipv4_mtu: 9000,
        ipv6_mtu: 9000,
        ..XlatConfig::default()
    };
    let mtu_of = |mtu6: u32, quoted: &[u8], cfg: &XlatConfig| {
        let o = xerr64(&err6(2, 0, mtu6, quoted), cfg);
        assert_eq!(o.r, DONE64);
        let p = o.f.data();
        assert_eq!((p[20], p[21]), (3, 4));
        assert!(v4_hdr_ok(p) && v4_l4_ok(p));
        u16::from_be_bytes([p[26], p[27]])
    };
    assert_eq!(mtu_of(1280, &quoted6(), &cfg), 1260);
    assert_eq!(mtu_of(1500, &quoted6(), &cfg), 1480);
    // The packet in error had a Fragment header (the IPv4 packet was a fragment): - 28.
    let mut fp = frag_hdr(17, 0, true, 7);
    fp.extend_from_slice(&udp6(&h6(), &s6(), 1, 2, &[0; 16]));
    assert_eq!(mtu_of(1280, &ipv6(44, h6(), s6(), &fp, 9, 0), &cfg), 1252);
    // Bounded by the IPv4 next hop and the IPv6 next hop - 20.
    let c = XlatConfig {
        ipv4_mtu: 1400,
        ..cfg
    };
    assert_eq!(mtu_of(1500, &quoted6(), &c), 1400);
    let c = XlatConfig {
        ipv6_mtu: 1400,
        ..cfg
    };
    assert_eq!(mtu_of(1500, &quoted6(), &c), 1380);
    assert_eq!(icmp::mtu_6to4(10, false, 1500, 1500), 68);
    assert_eq!(icmp::mtu_6to4(u32::MAX, false, 65535, 65535), 65515);
}

#[test]
fn rfc7915_5_3_inner_packet_translated_and_truncated_to_576() {
    let o = xerr64(&err6(1, 4, 0, &quoted6()), &XlatConfig::default());
    assert_eq!(o.r, DONE64);
    let p = o.f.data();
    let inner = &p[28..];
    let alone = x64c(
        &quoted6(),
        &XlatConfig::default(),
        &Map64 {
            outer: Rewrite::addrs(H4, S4),
            inner: None,
            ident: 0,
        },
    );
    assert_eq!(inner, alone.f.data());
    assert!(v4_hdr_ok(inner) && v4_l4_ok(inner));
    assert_eq!(&p[12..16], &R4.octets());
    // A 1232-byte quote is cut to fit 576 bytes; the inner header keeps its declared length.
    let big = ipv6(17, h6(), s6(), &udp6(&h6(), &s6(), 1, 2, &[1; 1184]), 3, 0);
    let o = xerr64(&err6(3, 0, 0, &big), &XlatConfig::default());
    assert_eq!(o.r, DONE64);
    let p = o.f.data();
    assert_eq!(p.len(), 576);
    assert!(v4_hdr_ok(p) && v4_l4_ok(p));
    assert_eq!(u16::from_be_bytes([p[30], p[31]]), 20 + 8 + 1184);
    assert!(v4_hdr_ok(&p[28..]));
}

#[test]
fn rfc7915_5_3_inner_extension_headers_and_echo() {
    // Inner: Destination Options then ICMPv6 echo request.
    let mut e = echo(128, 5, 6, b"q");
    fill6(58, &h6(), &s6(), &mut e);
    let mut payload = ext(58, 0, 0);
    payload[2..8].copy_from_slice(&[1, 4, 0, 0, 0, 0]);
    payload.extend_from_slice(&e);
    let q = ipv6(60, h6(), s6(), &payload, 9, 0);
    let o = xerr64(&err6(1, 0, 0, &q), &XlatConfig::default());
    assert_eq!(o.r, DONE64);
    let inner = &o.f.data()[28..];
    assert_eq!((inner[9], inner[20]), (1, 8));
    assert_eq!(
        u16::from_be_bytes([inner[2], inner[3]]) as usize,
        20 + e.len()
    );
    assert!(v4_hdr_ok(inner) && v4_l4_ok(inner));
}

#[test]
fn rfc7915_5_5_udp_zero_checksum_kept() {
    let mut u = udp(5, 6, b"zero");
    u[6] = 0;
    u[7] = 0;
    let o = x64(&ipv6(17, h6(), s6(), &u, 64, 0));
    assert_eq!(o.r, DONE64);
    assert_eq!(&o.f.data()[26..28], &[0, 0]);
}

#[test]
fn rfc7915_5_5_tcp_checksum_incremental_with_nat_ports() {
    let mut t = tcp(50000, 443, b"hello");
    fill6(6, &h6(), &s6(), &mut t);
    let map = Map64 {
        outer: Rewrite::with_ports(H4, S4, 1025, 443),
        inner: None,
        ident: 1,
    };
    let o = x64c(
        &ipv6(6, h6(), s6(), &t, 64, 0),
        &XlatConfig::default(),
        &map,
    );
    assert_eq!(o.r, DONE64);
    let p = o.f.data();
    assert_eq!(&p[20..22], &1025u16.to_be_bytes());
    assert!(v4_l4_ok(p));
}

// ---------------------------------------------------------------------------------------------
// Hostile input.

#[test]
fn hostile_icmp4_error_truncated_or_lying_inner() {
    let q = quoted4();
    for cut in [0usize, 10, 19, 20, 27] {
        let m = icmp4_err(3, 1, 0, &q[..cut]);
        let pkt = ipv4(1, R4, H4, &m, false, false, 0, 9, 64, 0, &[]);
        assert_eq!(
            xerr46(&pkt, &XlatConfig::default()).r,
            Xlat::Drop(DropReason::XlatIcmpInnerMalformed),
            "cut {cut}"
        );
    }
    // IHL claims 60 bytes that are not there; Total Length below IHL; IHL < 5; version 6.
    for (at, val) in [(0usize, 0x4f_u8), (3, 10), (2, 0), (0, 0x44), (0, 0x65)] {
        let mut bad = q.clone();
        bad[at] = val;
        if at == 2 {
            bad[3] = 4;
        }
        let m = icmp4_err(3, 1, 0, &bad[..28]);
        let pkt = ipv4(1, R4, H4, &m, false, false, 0, 9, 64, 0, &[]);
        assert_eq!(
            xerr46(&pkt, &XlatConfig::default()).r,
            Xlat::Drop(DropReason::XlatIcmpInnerMalformed),
            "byte {at} = {val:#x}"
        );
    }
    // Bad ICMP checksum.
    let mut pkt = err4(3, 1, 0);
    let last = pkt.len() - 1;
    pkt[last] ^= 0xff;
    assert_eq!(
        xerr46(&pkt, &XlatConfig::default()).r,
        Xlat::Drop(DropReason::XlatBadChecksum)
    );
    // No inner mapping from the caller.
    assert_eq!(x46(&err4(3, 1, 0)).r, DONE);
    let map = Map46 {
        inner: None,
        ..map46_err()
    };
    assert_eq!(
        x46c(&err4(3, 1, 0), &XlatConfig::default(), &map).r,
        Xlat::Drop(DropReason::XlatNoAddressMapping)
    );
}

#[test]
fn hostile_icmp6_error_with_8_byte_payload() {
    let pkt = err6(1, 4, 0, &quoted6()[..8]);
    assert_eq!(
        xerr64(&pkt, &XlatConfig::default()).r,
        Xlat::Drop(DropReason::XlatIcmpInnerMalformed)
    );
    // Whole header but a lying payload length shorter than the extension headers it names.
    let mut q = ipv6(60, h6(), s6(), &ext(17, 3, 0), 1, 0);
    q[4] = 0;
    q[5] = 8;
    assert_eq!(
        xerr64(&err6(1, 4, 0, &q), &XlatConfig::default()).r,
        Xlat::Drop(DropReason::XlatIcmpInnerMalformed)
    );
    // UDP header cut to 4 bytes.
    let pkt = err6(1, 4, 0, &quoted6()[..44]);
    assert_eq!(
        xerr64(&pkt, &XlatConfig::default()).r,
        Xlat::Drop(DropReason::XlatIcmpInnerMalformed)
    );
    // Bad checksum.
    let mut pkt = err6(1, 4, 0, &quoted6());
    pkt[60] ^= 1;
    assert_eq!(
        xerr64(&pkt, &XlatConfig::default()).r,
        Xlat::Drop(DropReason::XlatBadChecksum)
    );
}

#[test]
fn hostile_nested_icmp_errors_dropped() {
    let inner_err = err4(3, 1, 0);
    let m = icmp4_err(11, 0, 0, &inner_err);
    let pkt = ipv4(1, R4, H4, &m, false, false, 0, 9, 64, 0, &[]);
    assert_eq!(
        xerr46(&pkt, &XlatConfig::default()).r,
        Xlat::Drop(DropReason::XlatIcmpNestedError)
    );
    assert_eq!(
        inspect_v4(&pkt).unwrap_err(),
        DropReason::XlatIcmpNestedError
    );
    let inner6 = err6(1, 4, 0, &quoted6());
    let pkt = err6(3, 0, 0, &inner6);
    assert_eq!(
        xerr64(&pkt, &XlatConfig::default()).r,
        Xlat::Drop(DropReason::XlatIcmpNestedError)
    );
    assert_eq!(
        inspect_v6(&pkt).unwrap_err(),
        DropReason::XlatIcmpNestedError
    );
}

#[test]
fn inspect_reports_flows_and_inner_flows() {
    let i = inspect_v4(&err4(3, 3, 0)).unwrap();
    assert_eq!(i.outer.transport, Transport::IcmpError { ty: 3, code: 3 });
    let inner = i.inner.unwrap();
    assert_eq!(
        (inner.src, inner.dst, inner.ports()),
        (H4, S4, Some((40000, 53)))
    );
    let mut e = echo(128, 0x55, 1, b"");
    fill6(58, &h6(), &s6(), &mut e);
    let i = inspect_v6(&ipv6(58, h6(), s6(), &e, 1, 0)).unwrap();
    assert_eq!(i.outer.transport, Transport::EchoRequest { ident: 0x55 });
    assert_eq!(i.outer.ports(), Some((0x55, 0x55)));
    let i = inspect_v6(&err6(2, 0, 1280, &quoted6())).unwrap();
    assert_eq!(i.inner.unwrap().ports(), Some((40000, 53)));
    let mut rest = frag_hdr(17, 24, false, 1);
    rest.extend_from_slice(&[0; 8]);
    let i = inspect_v6(&ipv6(44, h6(), s6(), &rest, 1, 0)).unwrap();
    assert_eq!((i.outer.transport, i.fragment), (Transport::Fragment, true));
}

fn v4_strategy() -> impl Strategy<Value = Vec<u8>> {
    (
        prop_oneof![Just(1u8), Just(6), Just(17), Just(58), any::<u8>()],
        any::<u8>(),
        any::<[bool; 3]>(),
        0u16..200,
        proptest::collection::vec(any::<u8>(), 0..1600),
        proptest::collection::vec(any::<u8>(), 0..12),
    )
        .prop_map(|(proto, ty, flags, off, mut body, opts)| {
            let opts: Vec<u8> = opts.into_iter().take(opts_len(&flags)).collect();
            if proto == 1 && !body.is_empty() {
                body[0] = [0, 3, 8, 11, 12, ty][usize::from(ty % 6)];
            }
            if proto == 1 && body.len() > 8 && flags[2] {
                // Plant a plausible inner IPv4 header.
                let q = quoted4();
                let n = (body.len() - 8).min(q.len());
                body[8..8 + n].copy_from_slice(&q[..n]);
            }
            ipv4(
                proto,
                R4,
                H4,
                &body,
                flags[0],
                flags[1],
                (off * 8) & 0xfff8,
                1,
                64,
                0,
                &opts,
            )
        })
}

fn opts_len(flags: &[bool; 3]) -> usize {
    if flags[2] {
        8
    } else {
        0
    }
}

fn v6_strategy() -> impl Strategy<Value = Vec<u8>> {
    (
        prop_oneof![
            Just(0u8),
            Just(43),
            Just(44),
            Just(58),
            Just(60),
            Just(17),
            any::<u8>()
        ],
        any::<u8>(),
        any::<bool>(),
        proptest::collection::vec(any::<u8>(), 0..1600),
    )
        .prop_map(|(nh, ty, plant, mut body)| {
            if nh == 58 && !body.is_empty() {
                body[0] = [1, 2, 3, 4, 128, ty][usize::from(ty % 6)];
            }
            if nh == 58 && plant && body.len() > 8 {
                let q = quoted6();
                let n = (body.len() - 8).min(q.len());
                body[8..8 + n].copy_from_slice(&q[..n]);
            }
            ipv6(nh, r6(), h6(), &body, 64, 0)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200), v in 0u8..3) {
        let mut b = bytes;
        if let Some(x) = b.get_mut(0) {
            *x = match v { 0 => 0x45, 1 => 0x60 | (*x & 0x0f), _ => *x };
        }
        let _ = inspect_v4(&b);
        let _ = inspect_v6(&b);
        let _ = x46(&b);
        let _ = x64(&b);
        let _ = xerr46(&b, &XlatConfig::default());
        let _ = xerr64(&b, &XlatConfig::default());
    }

    #[test]
    fn structured_v4_never_panics(pkt in v4_strategy(), mtu in 1280u16..1600) {
        let cfg = XlatConfig { ipv6_mtu: mtu, lowest_ipv6_mtu: mtu, ..XlatConfig::default() };
        let _ = inspect_v4(&pkt);
        let o = xerr46(&pkt, &cfg);
        if o.r.is_translated() {
            prop_assert!(o.f.data()[0] >> 4 == 6);
            for f in &o.extra {
                prop_assert!(f.len() <= usize::from(mtu));
            }
        }
        let mut f = VecFrame::new(&pkt);
        let _ = icmp4_error_in_place(&mut f, Icmp4Error::FragNeeded { mtu: 1260 }, R4);
        prop_assert!(f.len() <= 576 || f.data() == &pkt[..]);
    }

    #[test]
    fn structured_v6_never_panics(pkt in v6_strategy(), mtu in 576u16..1600) {
        let cfg = XlatConfig { ipv4_mtu: mtu, ..XlatConfig::default() };
        let _ = inspect_v6(&pkt);
        let o = xerr64(&pkt, &cfg);
        if o.r.is_translated() {
            prop_assert!(o.f.data()[0] == 0x45);
            prop_assert!(v4_hdr_ok(o.f.data()));
        }
        let mut f = VecFrame::new(&pkt);
        let _ = icmp6_error_in_place(&mut f, Icmp6Error::PacketTooBig { mtu: 1280 }, r6());
        prop_assert!(f.len() <= 1280 || f.data() == &pkt[..]);
    }

    /// 4 -> 6 -> 4 keeps the payload, ports, TOS, TTL and protocol; every checksum verifies.
    #[test]
    fn round_trip_4_6_4(
        proto in prop_oneof![Just(1u8), Just(6), Just(17)],
        data in proptest::collection::vec(any::<u8>(), 0..1400),
        tos in any::<u8>(), ttl in 1u8..=255, sport in any::<u16>(), dport in any::<u16>(),
        reply in any::<bool>(),
    ) {
        let mut l4 = match proto {
            6 => tcp(sport, dport, &data),
            17 => udp(sport, dport, &data),
            _ => echo(if reply { 0 } else { 8 }, sport, dport, &data),
        };
        fill4(proto, H4, S4, &mut l4);
        let pkt = ipv4(proto, H4, S4, &l4, true, false, 0, 0, ttl, tos, &[]);
        let cfg = XlatConfig { ipv6_mtu: 1500, ..XlatConfig::default() };
        let o = x46c(&pkt, &cfg, &map46());
        prop_assert_eq!(o.r, DONE);
        prop_assert!(v6_l4_ok(o.f.data()));
        let back = x64c(o.f.data(), &cfg, &map64());
        prop_assert!(back.r.is_translated());
        let p = back.f.data();
        prop_assert!(v4_hdr_ok(p) && v4_l4_ok(p));
        prop_assert_eq!(p[1], tos);
        prop_assert_eq!(p[8], ttl);
        prop_assert_eq!(p[9], proto);
        prop_assert_eq!(&p[12..20], &pkt[12..20]);
        prop_assert_eq!(p.len(), pkt.len());
        // Same transport bytes (checksums may differ only in the 0/0xffff representation).
        let (a, b) = (&p[20..], &pkt[20..]);
        let at = match proto { 6 => 16, 17 => 6, _ => 2 };
        prop_assert_eq!(&a[..at], &b[..at]);
        prop_assert_eq!(&a[at + 2..], &b[at + 2..]);
    }

    /// 6 -> 4 -> 6 likewise.
    #[test]
    fn round_trip_6_4_6(
        proto in prop_oneof![Just(58u8), Just(6), Just(17)],
        data in proptest::collection::vec(any::<u8>(), 0..1200),
        tc in any::<u8>(), hop in 1u8..=255, sport in any::<u16>(), dport in any::<u16>(),
    ) {
        let mut l4 = match proto {
            6 => tcp(sport, dport, &data),
            17 => udp(sport, dport, &data),
            _ => echo(128, sport, dport, &data),
        };
        fill6(proto, &h6(), &s6(), &mut l4);
        let pkt = ipv6(proto, h6(), s6(), &l4, hop, tc);
        let o = x64(&pkt);
        prop_assert_eq!(o.r, DONE64);
        let back = x46(o.f.data());
        prop_assert_eq!(back.r, DONE);
        let p = back.f.data();
        prop_assert!(v6_l4_ok(p));
        prop_assert_eq!(&p[8..40], &pkt[8..40]);
        prop_assert_eq!((p[6], p[7]), (proto, hop));
        prop_assert_eq!(p.len(), pkt.len());
        prop_assert_eq!(u32::from_be_bytes([p[0], p[1], p[2], p[3]]), (6 << 28) | (u32::from(tc) << 20));
        let at = match proto { 6 => 16, 17 => 6, _ => 2 };
        prop_assert_eq!(&p[40..40 + at], &pkt[40..40 + at]);
        prop_assert_eq!(&p[42 + at..], &pkt[42 + at..]);
    }
}

// ---------------------------------------------------------------------------------------------
// The stateless SIIT stage.

fn stage() -> SiitStage {
    SiitStage::new(
        XlatConfig::default(),
        Some((a6("64:ff9b::"), 96)),
        &[(Ipv4Addr::new(198, 51, 100, 0), 24, a6("2001:db8:1::"), 120)],
        &[Ipv4Addr::new(192, 0, 0, 8)],
        None,
    )
    .unwrap()
}

#[test]
fn siit_stage_translates_both_ways() {
    use crate::action::Outcome;
    let mut st = stage();
    let mut alloc = TestEnv::default();
    let mut sink = TestEnv::default();
    let self4 = Ipv4Addr::new(198, 51, 100, 254);
    let self6 = a6("2001:db8:1::fe");

    // IPv4 host -> IPv4 server through SIIT: EAMT for the host, pool6 for the server.
    let pkt = v4simple(17, H4, S4, &udp4(H4, S4, 1, 2, b"siit"));
    let out = st.v4_to_v6(VecFrame::new(&pkt), self4, &mut alloc, &mut sink);
    let Outcome::Route(f) = out else {
        panic!("{}", out.kind())
    };
    assert_eq!(&f.data()[8..24], &h6().octets());
    assert_eq!(&f.data()[24..40], &s6().octets());
    assert!(v6_l4_ok(f.data()));

    // The reply the other way.
    let pkt = ipv6(17, s6(), h6(), &udp6(&s6(), &h6(), 2, 1, b"back"), 64, 0);
    let out = st.v6_to_v4(VecFrame::new(&pkt), self6, &mut alloc, &mut sink);
    let Outcome::Route(f) = out else {
        panic!("{}", out.kind())
    };
    assert_eq!(
        (&f.data()[12..16], &f.data()[16..20]),
        (&S4.octets()[..], &H4.octets()[..])
    );
    assert!(v4_hdr_ok(f.data()) && v4_l4_ok(f.data()));

    // Destination not mapped: not SIIT's.
    let other = a6("2001:db8:9::1");
    let pkt = ipv6(17, h6(), other, &udp6(&h6(), &other, 1, 2, b""), 64, 0);
    let out = st.v6_to_v4(VecFrame::new(&pkt), self6, &mut alloc, &mut sink);
    assert_eq!(out.kind(), "pass");
    // Source not mapped: dropped.
    let pkt = ipv6(17, other, s6(), &udp6(&other, &s6(), 1, 2, b""), 64, 0);
    let out = st.v6_to_v4(VecFrame::new(&pkt), self6, &mut alloc, &mut sink);
    assert_eq!(out.drop_reason(), Some(DropReason::XlatNoAddressMapping));

    // An ICMPv6 error from an untranslatable router: RFC 6791 source.
    let q = ipv6(17, h6(), s6(), &udp6(&h6(), &s6(), 1, 2, b"q"), 1, 0);
    let m = icmp6_err(&r6(), &h6(), 3, 0, 0, &q);
    let pkt = ipv6(58, r6(), h6(), &m, 64, 0);
    let out = st.v6_to_v4(VecFrame::new(&pkt), self6, &mut alloc, &mut sink);
    let Outcome::Route(f) = out else {
        panic!("{}", out.kind())
    };
    assert_eq!(&f.data()[12..16], &[192, 0, 0, 8]);
    assert_eq!(&f.data()[16..20], &H4.octets());
    assert!(v4_hdr_ok(f.data()) && v4_l4_ok(f.data()));

    // DF=1 and too big for the IPv6 next hop: Fragmentation Needed back to the sender.
    let mut st2 = SiitStage::new(
        XlatConfig {
            ipv6_mtu: 1280,
            ..XlatConfig::default()
        },
        Some((a6("64:ff9b::"), 96)),
        &[(Ipv4Addr::new(198, 51, 100, 0), 24, a6("2001:db8:1::"), 120)],
        &[],
        None,
    )
    .unwrap();
    let pkt = v4simple(17, H4, S4, &udp4(H4, S4, 1, 2, &[0; 1400]));
    let out = st2.v4_to_v6(VecFrame::new(&pkt), self4, &mut alloc, &mut sink);
    let Outcome::Reply(f) = out else {
        panic!("{}", out.kind())
    };
    assert_eq!((f.data()[20], f.data()[21]), (3, 4));
    assert_eq!(&f.data()[12..16], &self4.octets());
    assert_eq!(st2.counters().icmp_errors, 1);

    // Routing header with Segments Left 1: Parameter Problem back.
    let mut payload = ext(17, 2, 0);
    payload[3] = 1;
    payload.extend_from_slice(&udp6(&h6(), &s6(), 1, 2, b""));
    let pkt = ipv6(43, h6(), s6(), &payload, 64, 0);
    let out = st.v6_to_v4(VecFrame::new(&pkt), self6, &mut alloc, &mut sink);
    let Outcome::Reply(f) = out else {
        panic!("{}", out.kind())
    };
    assert_eq!(
        (f.data()[40], &f.data()[44..48]),
        (4, &43u32.to_be_bytes()[..])
    );
    assert!(v6_l4_ok(f.data()));

    let c = st.counters();
    assert_eq!(
        (c.translated_4to6, c.translated_6to4, c.passed, c.dropped),
        (1, 2, 1, 1)
    );
    assert_eq!(c.icmp_errors, 1);
    assert!(SiitStage::new(
        XlatConfig::default(),
        Some((a6("64:ff9b::"), 95)),
        &[],
        &[],
        None
    )
    .is_err());
}
