//! NAT46 / NAT64 stage tests (RFC 6146, RFC 7915 through the stateful stages). Packets are
//! built here with checksums computed from scratch, and every translated packet's IP, TCP,
//! UDP and ICMP checksums (inner ones too) are recomputed from scratch.

use std::net::{Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;

use super::*;
use crate::action::{Outcome, TestEnv};
use crate::drop::DropReason;
use crate::frame::{Frame, VecFrame};
use crate::mapping::{MapStatus, MappingConfig, MappingRequest, MappingResult, MappingTable};
use crate::wire::checksum::{checksum, combine, pseudo_header_v4, pseudo_header_v6, sum};
use crate::wire::IpProtocol;

const POD: Ipv4Addr = Ipv4Addr::new(10, 244, 1, 10);
const POOL4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 100);
const DNS46_STATIC: Ipv4Addr = Ipv4Addr::new(10, 1, 1, 5);
const DNS46_DYN: Ipv4Addr = Ipv4Addr::new(10, 1, 1, 9);
const SERVER4: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 7);
const OTHER4: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 9);
const ROUTER4: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
const SELF4: Ipv4Addr = Ipv4Addr::new(10, 244, 0, 1);

fn a6(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}
fn pool6() -> Ipv6Addr {
    a6("2001:db8:50::1")
}
fn host6() -> Ipv6Addr {
    a6("2001:db8:100::7")
}
fn host6b() -> Ipv6Addr {
    a6("2001:db8:100::9")
}
fn router6() -> Ipv6Addr {
    a6("2001:db8:ffff::1")
}
fn pod6() -> Ipv6Addr {
    a6("fd00:10:244::10")
}
fn pod6b() -> Ipv6Addr {
    a6("fd00:10:244::11")
}
fn self6() -> Ipv6Addr {
    a6("fd00:10:244::1")
}
fn wkp(v4: Ipv4Addr) -> Ipv6Addr {
    let o = v4.octets();
    Ipv6Addr::new(
        0x64,
        0xff9b,
        0,
        0,
        0,
        0,
        u16::from_be_bytes([o[0], o[1]]),
        u16::from_be_bytes([o[2], o[3]]),
    )
}

// ---- packet builders ----

const SYN: u8 = 0x02;
const ACK: u8 = 0x10;
const FIN: u8 = 0x01;

fn csum_at(proto: u8) -> usize {
    match proto {
        6 => 16,
        17 => 6,
        _ => 2,
    }
}

fn tcp(sp: u16, dp: u16, flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut t = vec![0u8; 20];
    t[0..2].copy_from_slice(&sp.to_be_bytes());
    t[2..4].copy_from_slice(&dp.to_be_bytes());
    t[4..8].copy_from_slice(&0x0102_0304u32.to_be_bytes());
    t[12] = 5 << 4;
    t[13] = flags;
    t[14..16].copy_from_slice(&64240u16.to_be_bytes());
    t.extend_from_slice(payload);
    t
}

fn udp(sp: u16, dp: u16, payload: &[u8]) -> Vec<u8> {
    let mut u = vec![0u8; 8];
    u[0..2].copy_from_slice(&sp.to_be_bytes());
    u[2..4].copy_from_slice(&dp.to_be_bytes());
    u[4..6].copy_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    u.extend_from_slice(payload);
    u
}

fn echo(ty: u8, id: u16, seq: u16) -> Vec<u8> {
    let mut e = vec![ty, 0, 0, 0];
    e.extend_from_slice(&id.to_be_bytes());
    e.extend_from_slice(&seq.to_be_bytes());
    e.extend_from_slice(b"ping-data");
    e
}

fn icmp_err(ty: u8, code: u8, rest: u32, inner: &[u8]) -> Vec<u8> {
    let mut e = vec![ty, code, 0, 0];
    e.extend_from_slice(&rest.to_be_bytes());
    e.extend_from_slice(inner);
    e
}

/// An IPv4 packet (DF set, TTL 64) with its transport and header checksums.
fn ip4(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, l4: &[u8]) -> Vec<u8> {
    let mut l4 = l4.to_vec();
    let co = csum_at(proto);
    if matches!(proto, 1 | 6 | 17) && l4.len() >= co + 2 {
        l4[co] = 0;
        l4[co + 1] = 0;
        let s = if proto == 1 {
            sum(&l4)
        } else {
            combine(
                pseudo_header_v4(src, dst, IpProtocol::from(proto), l4.len() as u16),
                sum(&l4),
            )
        };
        let mut c = !s;
        if proto == 17 && c == 0 {
            c = 0xffff;
        }
        l4[co..co + 2].copy_from_slice(&c.to_be_bytes());
    }
    let mut p = vec![0u8; 20];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&((20 + l4.len()) as u16).to_be_bytes());
    p[4..6].copy_from_slice(&0x1234u16.to_be_bytes());
    p[6] = 0x40;
    p[8] = 64;
    p[9] = proto;
    p[12..16].copy_from_slice(&src.octets());
    p[16..20].copy_from_slice(&dst.octets());
    let c = checksum(&p);
    p[10..12].copy_from_slice(&c.to_be_bytes());
    p.extend_from_slice(&l4);
    p
}

/// An IPv6 packet (hop limit 64) with its transport checksum.
fn ip6(src: Ipv6Addr, dst: Ipv6Addr, nh: u8, l4: &[u8]) -> Vec<u8> {
    let mut l4 = l4.to_vec();
    let co = csum_at(nh);
    if matches!(nh, 6 | 17 | 58) && l4.len() >= co + 2 {
        l4[co] = 0;
        l4[co + 1] = 0;
        let s = combine(
            pseudo_header_v6(&src, &dst, IpProtocol::from(nh), l4.len() as u32),
            sum(&l4),
        );
        let mut c = !s;
        if nh == 17 && c == 0 {
            c = 0xffff;
        }
        l4[co..co + 2].copy_from_slice(&c.to_be_bytes());
    }
    let mut p = vec![0u8; 40];
    p[0] = 0x60;
    p[4..6].copy_from_slice(&(l4.len() as u16).to_be_bytes());
    p[6] = nh;
    p[7] = 64;
    p[8..24].copy_from_slice(&src.octets());
    p[24..40].copy_from_slice(&dst.octets());
    p.extend_from_slice(&l4);
    p
}

// ---- from-scratch checks ----

fn rd16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

/// A decoded IPv4 packet whose checksums verified.
#[derive(Debug)]
struct P4 {
    src: Ipv4Addr,
    dst: Ipv4Addr,
    proto: u8,
    ttl: u8,
    l4: Vec<u8>,
}

fn check4(p: &[u8]) -> P4 {
    assert_eq!(p[0] >> 4, 4, "not IPv4: {p:02x?}");
    let ihl = usize::from(p[0] & 15) * 4;
    let total = usize::from(rd16(p, 2));
    assert_eq!(total, p.len(), "total length");
    assert_eq!(checksum(&p[..ihl]), 0, "IPv4 header checksum");
    let src = Ipv4Addr::new(p[12], p[13], p[14], p[15]);
    let dst = Ipv4Addr::new(p[16], p[17], p[18], p[19]);
    let proto = p[9];
    let l4 = &p[ihl..];
    match proto {
        1 => assert_eq!(checksum(l4), 0, "ICMP checksum"),
        6 | 17 if !(proto == 17 && rd16(l4, 6) == 0) => {
            let s = combine(
                pseudo_header_v4(src, dst, IpProtocol::from(proto), l4.len() as u16),
                sum(l4),
            );
            assert_eq!(s, 0xffff, "TCP/UDP checksum over IPv4");
        }
        _ => {}
    }
    P4 {
        src,
        dst,
        proto,
        ttl: p[8],
        l4: l4.to_vec(),
    }
}

#[derive(Debug)]
struct P6 {
    src: Ipv6Addr,
    dst: Ipv6Addr,
    nh: u8,
    hop: u8,
    l4: Vec<u8>,
}

fn check6(p: &[u8]) -> P6 {
    assert_eq!(p[0] >> 4, 6, "not IPv6: {p:02x?}");
    assert_eq!(usize::from(rd16(p, 4)) + 40, p.len(), "payload length");
    let mut s = [0u8; 16];
    let mut d = [0u8; 16];
    s.copy_from_slice(&p[8..24]);
    d.copy_from_slice(&p[24..40]);
    let (src, dst) = (Ipv6Addr::from(s), Ipv6Addr::from(d));
    let nh = p[6];
    let l4 = &p[40..];
    if matches!(nh, 6 | 17 | 58) {
        let c = combine(
            pseudo_header_v6(&src, &dst, IpProtocol::from(nh), l4.len() as u32),
            sum(l4),
        );
        assert_eq!(c, 0xffff, "transport checksum over IPv6 (nh {nh})");
    }
    P6 {
        src,
        dst,
        nh,
        hop: p[7],
        l4: l4.to_vec(),
    }
}

fn ports(l4: &[u8]) -> (u16, u16) {
    (rd16(l4, 0), rd16(l4, 2))
}

// ---- the fixture ----

struct Fx {
    nat: Nat,
    x: XlatNat<VecFrame>,
    maps: MappingTable,
    env: TestEnv,
    meta: XlatMeta,
}

fn nat_config() -> NatConfig {
    NatConfig {
        enabled: true,
        dual_stack: true,
        workers: 1,
        table: TableConfig {
            capacity: 1024,
            timeouts: Timeouts::default(),
            pool_v4: vec![addr_v4(POOL4)],
            pool_v6: vec![addr_v6(&pool6())],
            port_min: 1024,
            port_max: 65535,
            workers: 1,
            worker: 0,
            pod_quota: 0,
            secret: [0x1234, 0x5678],
        },
    }
}

fn xcfg() -> XlatNatConfig {
    XlatNatConfig {
        nat46: true,
        dns46_subnet: Some((Ipv4Addr::new(10, 1, 1, 0), 24)),
        static46: vec![(DNS46_STATIC, host6())],
        nat64: true,
        static_bib: vec![
            StaticBib {
                proto: 17,
                ipv6: pod6b(),
                port6: 5353,
                ipv4: POOL4,
                port4: 6000,
            },
            StaticBib {
                proto: 6,
                ipv6: pod6b(),
                port6: 8080,
                ipv4: POOL4,
                port4: 8080,
            },
        ],
        ..XlatNatConfig::default()
    }
}

fn fx_with(cfg: XlatNatConfig) -> Fx {
    let mut nat = Nat::new(&nat_config(), 0);
    let x = XlatNat::new(&cfg, &mut nat);
    Fx {
        nat,
        x,
        maps: MappingTable::new(MappingConfig {
            capacity: 64,
            negative_ttl_ms: 1000,
            refresh_ms: 0,
            ..MappingConfig::default()
        }),
        env: TestEnv::default(),
        meta: XlatMeta {
            egress: true,
            self_v4: Some(SELF4),
            self_v6: Some(self6()),
        },
    }
}

fn fx() -> Fx {
    fx_with(xcfg())
}

impl Fx {
    fn in2out(&mut self, p: Vec<u8>, now: u64) -> Outcome<VecFrame> {
        let meta = self.meta;
        self.x.in2out(
            &mut self.nat,
            &mut self.maps,
            VecFrame::new(&p),
            &meta,
            now,
            &mut TestEnv::default(),
            &mut self.env,
        )
    }
    fn out2in(&mut self, p: Vec<u8>, now: u64) -> Outcome<VecFrame> {
        self.x.out2in(
            &mut self.nat,
            VecFrame::new(&p),
            now,
            &mut TestEnv::default(),
            &mut self.env,
        )
    }
    fn poll(&mut self, now: u64) -> Vec<Outcome<VecFrame>> {
        let mut v = Vec::new();
        self.x.poll(
            &mut self.nat,
            &mut self.maps,
            now,
            &mut TestEnv::default(),
            &mut self.env,
            |o| v.push(o),
        );
        v
    }
}

fn routed(o: Outcome<VecFrame>) -> Vec<u8> {
    match o {
        Outcome::Route(f) => f.data().to_vec(),
        other => panic!(
            "expected route, got {} {:?}",
            other.kind(),
            other.drop_reason()
        ),
    }
}

fn dropped(o: Outcome<VecFrame>) -> DropReason {
    match o.drop_reason() {
        Some(r) => r,
        None => panic!("expected a drop, got {}", o.kind()),
    }
}

// ---- NAT46 ----

#[test]
fn nat46_tcp_handshake_both_ways() {
    let mut f = fx();
    let syn = ip4(POD, DNS46_STATIC, 6, &tcp(40000, 80, SYN, b""));
    let out = check6(&routed(f.in2out(syn, 0)));
    assert_eq!(
        (out.src, out.dst, out.nh, out.hop),
        (pool6(), host6(), 6, 64)
    );
    let (sp, dp) = ports(&out.l4);
    assert_eq!(dp, 80);
    assert_eq!(sp, 40000, "port preserved when free");
    assert_eq!(out.l4[13], SYN);

    let synack = ip6(host6(), pool6(), 6, &tcp(80, sp, SYN | ACK, b""));
    let back = check4(&routed(f.out2in(synack, 10)));
    assert_eq!(
        (back.src, back.dst, back.proto, back.ttl),
        (DNS46_STATIC, POD, 6, 64)
    );
    assert_eq!(ports(&back.l4), (80, 40000));
    assert_eq!(back.l4[13], SYN | ACK);

    let ack = ip4(
        POD,
        DNS46_STATIC,
        6,
        &tcp(40000, 80, ACK, b"GET / HTTP/1.1\r\n\r\n"),
    );
    let out = check6(&routed(f.in2out(ack, 20)));
    assert_eq!(&out.l4[20..], b"GET / HTTP/1.1\r\n\r\n");

    let c = f.nat.counters();
    let vs = c.vs(SessionKind::Nat46);
    assert_eq!(vs.clientside_tot_conns, 1);
    assert_eq!(vs.clientside_cur_conns, 1);
    assert_eq!(vs.serverside_tot_conns, 1);
    assert_eq!(vs.clientside_pkts_in, 2);
    assert_eq!(vs.clientside_pkts_out, 1);
    assert_eq!(vs.serverside_pkts_in, 1);
    assert!(vs.clientside_bytes_in > 0 && vs.serverside_bytes_in > 0);
    assert_eq!(c.sessions_active[SessionKind::Nat46.index()], 1);
    let s = f.nat.table().iter().next().unwrap();
    assert!(table::tcp_state::established(s.tcp));
}

#[test]
fn nat46_udp_and_echo_both_ways() {
    let mut f = fx();
    let q = ip4(POD, DNS46_STATIC, 17, &udp(5000, 53, b"query"));
    let out = check6(&routed(f.in2out(q, 0)));
    let (sp, _) = ports(&out.l4);
    assert_eq!((out.dst, &out.l4[8..]), (host6(), &b"query"[..]));
    let r = ip6(host6(), pool6(), 17, &udp(53, sp, b"answer"));
    let back = check4(&routed(f.out2in(r, 1)));
    assert_eq!((back.src, back.dst), (DNS46_STATIC, POD));
    assert_eq!(ports(&back.l4), (53, 5000));
    assert_eq!(&back.l4[8..], b"answer");

    // Echo: the identifier is mapped like a port.
    let req = ip4(POD, DNS46_STATIC, 1, &echo(8, 0x77, 1));
    let out = check6(&routed(f.in2out(req, 2)));
    assert_eq!((out.nh, out.l4[0]), (58, 128));
    let id = rd16(&out.l4, 4);
    let rep = ip6(host6(), pool6(), 58, &echo(129, id, 1));
    let back = check4(&routed(f.out2in(rep, 3)));
    assert_eq!((back.proto, back.l4[0], rd16(&back.l4, 4)), (1, 0, 0x77));
    assert_eq!((back.src, back.dst), (DNS46_STATIC, POD));
    assert_eq!(
        f.nat.counters().vs(SessionKind::Nat46).clientside_tot_conns,
        2
    );
}

#[test]
fn nat46_icmpv6_errors_become_icmpv4_with_inner_packet() {
    let mut f = fx();
    let q = ip4(POD, DNS46_STATIC, 17, &udp(5000, 53, b"query"));
    let sent = routed(f.in2out(q, 0));
    let (sp, _) = ports(&check6(&sent).l4);
    // From a router on the way: Time Exceeded, inner = what we sent.
    let err = ip6(router6(), pool6(), 58, &icmp_err(3, 0, 0, &sent));
    let back = check4(&routed(f.out2in(err, 1)));
    assert_eq!((back.src, back.dst, back.proto), (DNS46_STATIC, POD, 1));
    assert_eq!((back.l4[0], back.l4[1]), (11, 0));
    let inner = check4(&back.l4[8..]);
    assert_eq!((inner.src, inner.dst, inner.proto), (POD, DNS46_STATIC, 17));
    assert_eq!(ports(&inner.l4), (5000, 53));
    // From the host itself: Port Unreachable (1/4 -> 3/3).
    let err = ip6(host6(), pool6(), 58, &icmp_err(1, 4, 0, &sent));
    let back = check4(&routed(f.out2in(err, 2)));
    assert_eq!((back.l4[0], back.l4[1], back.src), (3, 3, DNS46_STATIC));
    assert_eq!(f.nat.counters().icmp_errors_translated, 2);
    // With an RFC 6791 address, routers other than the host use it.
    let mut cfg = xcfg();
    cfg.rfc6791_v4 = Some(Ipv4Addr::new(192, 0, 0, 8));
    let mut f = fx_with(cfg);
    let sent = routed(f.in2out(ip4(POD, DNS46_STATIC, 17, &udp(5000, 53, b"q")), 0));
    let err = ip6(router6(), pool6(), 58, &icmp_err(3, 0, 0, &sent));
    let back = check4(&routed(f.out2in(err, 1)));
    assert_eq!(back.src, Ipv4Addr::new(192, 0, 0, 8));
    // An error about a flow we do not know is not ours.
    let stranger = ip6(pool6(), host6(), 17, &udp(sp.wrapping_add(7), 53, b"x"));
    let err = ip6(router6(), pool6(), 58, &icmp_err(3, 0, 0, &stranger));
    assert_eq!(f.out2in(err, 3).kind(), "pass");
}

#[test]
fn nat46_icmpv4_error_from_pod_goes_out_as_icmpv6() {
    let mut f = fx();
    let q = ip4(POD, DNS46_STATIC, 17, &udp(5000, 53, b"query"));
    let (sp, _) = ports(&check6(&routed(f.in2out(q, 0))).l4);
    let r = ip6(host6(), pool6(), 17, &udp(53, sp, b"answer"));
    let delivered = routed(f.out2in(r, 1));
    // The pod has closed its socket: Port Unreachable quoting what it received.
    let err = ip4(POD, DNS46_STATIC, 1, &icmp_err(3, 3, 0, &delivered));
    let out = check6(&routed(f.in2out(err, 2)));
    assert_eq!((out.src, out.dst, out.nh), (pool6(), host6(), 58));
    assert_eq!((out.l4[0], out.l4[1]), (1, 4));
    let inner = check6(&out.l4[8..]);
    assert_eq!((inner.src, inner.dst), (host6(), pool6()));
    assert_eq!(ports(&inner.l4), (53, sp));
    // An error about nothing we know.
    let other = ip4(DNS46_STATIC, POD, 17, &udp(53, 5999, b"?"));
    let err = ip4(POD, DNS46_STATIC, 1, &icmp_err(3, 3, 0, &other));
    assert_eq!(dropped(f.in2out(err, 3)), DropReason::NatIcmpErrorNoSession);
}

#[test]
fn nat46_pending_mapping_holds_then_releases() {
    let mut f = fx();
    let syn = ip4(POD, DNS46_DYN, 6, &tcp(41000, 443, SYN, b""));
    assert_eq!(f.in2out(syn, 0).kind(), "held");
    assert_eq!(f.x.held(), 1);
    assert!(f.poll(1).is_empty(), "still waiting");
    let mut reqs = Vec::new();
    f.maps.take_requests(|b| {
        reqs.extend_from_slice(b);
        b.len()
    });
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].ipv4(), DNS46_DYN);
    f.maps.apply(
        &MappingResult::answer(&reqs[0], MapStatus::Found, Some((DNS46_DYN, host6b()))),
        5,
    );
    let mut out = f.poll(6);
    assert_eq!(out.len(), 1);
    let p = check6(&routed(out.remove(0)));
    assert_eq!((p.src, p.dst), (pool6(), host6b()));
    assert_eq!(ports(&p.l4).1, 443);
    assert_eq!(f.x.held(), 0);
    let c = f.x.counters();
    assert_eq!((c.held, c.released, c.hold_dropped), (1, 1, 0));
    // Next packets hit the cache and the session.
    let again = ip4(POD, DNS46_DYN, 6, &tcp(41000, 443, ACK, b""));
    assert_eq!(check6(&routed(f.in2out(again, 7))).dst, host6b());
}

#[test]
fn nat46_missing_and_unavailable_mappings_drop() {
    let mut f = fx();
    let q = ip4(POD, DNS46_DYN, 17, &udp(5000, 53, b"q"));
    assert_eq!(f.in2out(q.clone(), 0).kind(), "held");
    let req = MappingRequest::lookup4(0, DNS46_DYN);
    f.maps
        .apply(&MappingResult::answer(&req, MapStatus::Missing, None), 1);
    let out = f.poll(2);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].drop_reason(), Some(DropReason::MappingMissing));
    // Cached negative answer: dropped at once.
    assert_eq!(dropped(f.in2out(q, 3)), DropReason::MappingMissing);
    assert_eq!(f.x.counters().hold_dropped, 1);

    let other = Ipv4Addr::new(10, 1, 1, 77);
    let q = ip4(POD, other, 17, &udp(5000, 53, b"q"));
    assert_eq!(f.in2out(q.clone(), 10).kind(), "held");
    let req = MappingRequest::lookup4(0, other);
    f.maps.apply(
        &MappingResult::answer(&req, MapStatus::Unavailable, None),
        11,
    );
    assert_eq!(
        f.poll(12)[0].drop_reason(),
        Some(DropReason::DssmUnavailable)
    );
    assert_eq!(dropped(f.in2out(q, 13)), DropReason::DssmUnavailable);

    // No answer at all: the request times out (dSSM unavailable) ...
    let late = Ipv4Addr::new(10, 1, 1, 78);
    assert_eq!(
        f.in2out(ip4(POD, late, 17, &udp(1, 2, b"")), 100).kind(),
        "held"
    );
    assert!(f.poll(100 + 1_999).is_empty());
    let out = f.poll(100 + 2_000);
    assert_eq!(out[0].drop_reason(), Some(DropReason::DssmUnavailable));
    // ... or, with a shorter hold, the hold does.
    let mut cfg = xcfg();
    cfg.hold_timeout_ms = 500;
    let mut f = fx_with(cfg);
    assert_eq!(
        f.in2out(ip4(POD, late, 17, &udp(1, 2, b"")), 100).kind(),
        "held"
    );
    let out = f.poll(600);
    assert_eq!(out[0].drop_reason(), Some(DropReason::MappingTimeout));
}

#[test]
fn nat46_hold_queue_full_drops() {
    let mut cfg = xcfg();
    cfg.hold_capacity = 2;
    let mut f = fx_with(cfg);
    for i in 0..2u16 {
        let q = ip4(POD, DNS46_DYN, 17, &udp(5000 + i, 53, b"q"));
        assert_eq!(f.in2out(q, 0).kind(), "held");
    }
    let q = ip4(POD, DNS46_DYN, 17, &udp(5002, 53, b"q"));
    assert_eq!(dropped(f.in2out(q, 0)), DropReason::MappingHoldFull);
}

#[test]
fn nat46_pass_and_refusals() {
    let mut f = fx();
    // Not for the DNS46 subnet, not under the NAT64 prefix: the next stage's.
    let p = ip4(POD, SERVER4, 17, &udp(1, 2, b""));
    assert_eq!(f.in2out(p, 0).kind(), "pass");
    let p = ip6(pod6(), host6(), 17, &udp(1, 2, b""));
    assert_eq!(f.in2out(p, 0).kind(), "pass");
    // Egress does not apply to the VLAN.
    f.meta.egress = false;
    let p = ip4(POD, DNS46_STATIC, 17, &udp(1, 2, b""));
    assert_eq!(f.in2out(p, 0).kind(), "pass");
    f.meta.egress = true;
    // TCP without a SYN and no session; echo reply from a pod; source in the pool.
    let p = ip4(POD, DNS46_STATIC, 6, &tcp(1, 2, ACK, b""));
    assert_eq!(dropped(f.in2out(p, 0)), DropReason::NatNoSession);
    let p = ip4(POD, DNS46_STATIC, 1, &echo(0, 1, 1));
    assert_eq!(dropped(f.in2out(p, 0)), DropReason::NatNoSession);
    let p = ip4(DNS46_DYN, DNS46_STATIC, 17, &udp(1, 2, b""));
    assert_eq!(dropped(f.in2out(p, 0)), DropReason::Nat46SrcInPool);
    let p = ip4(POD, DNS46_STATIC, 47, &[0u8; 8]);
    assert_eq!(dropped(f.in2out(p, 0)), DropReason::NatUnsupportedProtocol);
    // Feature off: pass.
    let mut cfg = xcfg();
    cfg.nat46 = false;
    let mut f = fx_with(cfg);
    let p = ip4(POD, DNS46_STATIC, 17, &udp(1, 2, b""));
    assert_eq!(f.in2out(p, 0).kind(), "pass");
    // Replies without a session are not ours.
    let r = ip6(host6(), pool6(), 17, &udp(53, 1999, b""));
    assert_eq!(f.out2in(r, 0).kind(), "pass");
}

#[test]
fn nat46_df_packet_too_big_for_ipv6_gets_frag_needed() {
    let mut f = fx();
    let big = ip4(POD, DNS46_STATIC, 17, &udp(5000, 53, &[7u8; 1472]));
    assert_eq!(big.len(), 1500);
    let o = f.in2out(big, 0);
    assert_eq!(o.kind(), "reply");
    let r = check4(o.into_frame().unwrap().data());
    assert_eq!((r.src, r.dst, r.l4[0], r.l4[1]), (SELF4, POD, 3, 4));
    assert_eq!(rd16(&r.l4, 6), 1480, "IPv6 MTU 1500 - 20");
    assert_eq!(f.nat.table().len(), 0, "no session left behind");
}

// ---- NAT64 ----

#[test]
fn nat64_tcp_handshake_both_ways() {
    let mut f = fx();
    let syn = ip6(pod6(), wkp(SERVER4), 6, &tcp(40000, 443, SYN, b""));
    let out = check4(&routed(f.in2out(syn, 0)));
    assert_eq!(
        (out.src, out.dst, out.proto, out.ttl),
        (POOL4, SERVER4, 6, 64)
    );
    let (sp, dp) = ports(&out.l4);
    assert_eq!((sp, dp), (40000, 443));
    let synack = ip4(SERVER4, POOL4, 6, &tcp(443, sp, SYN | ACK, b""));
    let back = check6(&routed(f.out2in(synack, 5)));
    assert_eq!((back.src, back.dst, back.nh), (wkp(SERVER4), pod6(), 6));
    assert_eq!(ports(&back.l4), (443, 40000));
    let vs = *f.nat.counters().vs(SessionKind::Nat64);
    assert_eq!((vs.clientside_tot_conns, vs.clientside_cur_conns), (1, 1));
    assert_eq!((vs.clientside_pkts_in, vs.clientside_pkts_out), (1, 1));
    let s = *f.nat.table().iter().next().unwrap();
    assert_eq!(s.kind(), SessionKind::Nat64);
    assert_eq!(s.expires, 5 + 7_440_000, "established: 2 h 4 min");
}

#[test]
fn nat64_udp_and_echo_both_ways() {
    let mut f = fx();
    let q = ip6(pod6(), wkp(SERVER4), 17, &udp(5000, 53, b"query"));
    let out = check4(&routed(f.in2out(q, 0)));
    let (sp, _) = ports(&out.l4);
    assert_eq!(&out.l4[8..], b"query");
    let r = ip4(SERVER4, POOL4, 17, &udp(53, sp, b"answer"));
    let back = check6(&routed(f.out2in(r, 1)));
    assert_eq!(
        (back.src, back.dst, &back.l4[8..]),
        (wkp(SERVER4), pod6(), &b"answer"[..])
    );
    assert_eq!(ports(&back.l4), (53, 5000));

    let req = ip6(pod6(), wkp(SERVER4), 58, &echo(128, 0x99, 7));
    let out = check4(&routed(f.in2out(req, 2)));
    assert_eq!((out.proto, out.l4[0]), (1, 8));
    let id = rd16(&out.l4, 4);
    let rep = ip4(SERVER4, POOL4, 1, &echo(0, id, 7));
    let back = check6(&routed(f.out2in(rep, 3)));
    assert_eq!((back.nh, back.l4[0], rd16(&back.l4, 4)), (58, 129, 0x99));
    assert_eq!(back.dst, pod6());
}

#[test]
fn nat64_icmp_errors_both_ways_with_inner_packet() {
    let mut f = fx();
    let q = ip6(pod6(), wkp(SERVER4), 17, &udp(5000, 53, b"query"));
    let sent = routed(f.in2out(q, 0));
    let (sp, _) = ports(&check4(&sent).l4);
    // ICMPv4 Time Exceeded from a router -> ICMPv6 3/0 from the router's embedded address.
    let err = ip4(ROUTER4, POOL4, 1, &icmp_err(11, 0, 0, &sent));
    let back = check6(&routed(f.out2in(err, 1)));
    assert_eq!((back.src, back.dst, back.nh), (wkp(ROUTER4), pod6(), 58));
    assert_eq!((back.l4[0], back.l4[1]), (3, 0));
    let inner = check6(&back.l4[8..]);
    assert_eq!((inner.src, inner.dst), (pod6(), wkp(SERVER4)));
    assert_eq!(ports(&inner.l4), (5000, 53));
    // Fragmentation Needed -> Packet Too Big with the RFC 7915 MTU arithmetic.
    let err = ip4(ROUTER4, POOL4, 1, &icmp_err(3, 4, 1400, &sent));
    let back = check6(&routed(f.out2in(err, 2)));
    assert_eq!((back.l4[0], back.l4[1]), (2, 0));
    let mtu = u32::from_be_bytes([back.l4[4], back.l4[5], back.l4[6], back.l4[7]]);
    assert_eq!(mtu, 1420);

    // The pod reports an error about a reply it got.
    let r = ip4(SERVER4, POOL4, 17, &udp(53, sp, b"answer"));
    let delivered = routed(f.out2in(r, 3));
    let err = ip6(pod6(), wkp(SERVER4), 58, &icmp_err(1, 4, 0, &delivered));
    let out = check4(&routed(f.in2out(err, 4)));
    assert_eq!(
        (out.src, out.dst, out.l4[0], out.l4[1]),
        (POOL4, SERVER4, 3, 3)
    );
    let inner = check4(&out.l4[8..]);
    assert_eq!((inner.src, inner.dst), (SERVER4, POOL4));
    assert_eq!(ports(&inner.l4), (53, sp));
    assert_eq!(f.nat.counters().icmp_errors_translated, 3);
}

#[test]
fn nat64_static_bib_and_endpoint_independent_filtering() {
    let mut f = fx();
    // Outbound from the static inside address leaves with the static outside port.
    let q = ip6(pod6b(), wkp(SERVER4), 17, &udp(5353, 53, b"q"));
    let out = check4(&routed(f.in2out(q, 0)));
    assert_eq!((out.src, ports(&out.l4).0), (POOL4, 6000));
    // Inbound from anyone to the static entry, no session before: accepted (EIF).
    let q = ip4(OTHER4, POOL4, 17, &udp(7777, 6000, b"hello"));
    let back = check6(&routed(f.out2in(q, 1)));
    assert_eq!((back.src, back.dst), (wkp(OTHER4), pod6b()));
    assert_eq!(ports(&back.l4), (7777, 5353));
    assert_eq!(f.x.counters().eif_sessions, 1);
    // The static mapping outlives every session.
    f.nat.poll(10_000_000);
    for _ in 0..20 {
        f.nat.poll(10_000_000);
    }
    assert_eq!(f.nat.table().len(), 0);
    let q = ip4(OTHER4, POOL4, 17, &udp(7777, 6000, b"again"));
    assert_eq!(check6(&routed(f.out2in(q, 10_000_001))).dst, pod6b());
    // Dynamic mappings filter endpoint-independently too.
    let q = ip6(pod6(), wkp(SERVER4), 17, &udp(5000, 53, b"q"));
    let (sp, _) = ports(&check4(&routed(f.in2out(q, 20_000_000))).l4);
    let q = ip4(OTHER4, POOL4, 17, &udp(9, sp, b"from elsewhere"));
    assert_eq!(check6(&routed(f.out2in(q, 20_000_001))).dst, pod6());
    // A TCP packet other than a SYN to a mapping without a session.
    let p = ip4(OTHER4, POOL4, 6, &tcp(9, 8080, ACK, b""));
    assert_eq!(
        dropped(f.out2in(p, 20_000_002)),
        DropReason::NatXlatUnsolicited
    );
    // A port nobody maps: not ours.
    let p = ip4(OTHER4, POOL4, 17, &udp(9, 60001, b""));
    assert_eq!(f.out2in(p, 20_000_003).kind(), "pass");
}

#[test]
fn nat64_inbound_syn_lives_6_s_until_the_pod_answers() {
    let mut f = fx();
    let syn = ip4(OTHER4, POOL4, 6, &tcp(33000, 8080, SYN, b""));
    let p = check6(&routed(f.out2in(syn, 0)));
    assert_eq!((p.dst, ports(&p.l4)), (pod6b(), (33000, 8080)));
    let s = *f.nat.table().iter().next().unwrap();
    assert_eq!(s.expires, 6_000, "V4 INIT: TCP_INCOMING_SYN");
    // No answer within 6 s: gone.
    let again = ip4(OTHER4, POOL4, 6, &tcp(33000, 8080, ACK, b""));
    assert_eq!(
        dropped(f.out2in(again, 6_001)),
        DropReason::NatXlatUnsolicited
    );
    // The pod answers in time: established.
    let syn = ip4(OTHER4, POOL4, 6, &tcp(33001, 8080, SYN, b""));
    routed(f.out2in(syn, 10_000));
    let synack = ip6(pod6b(), wkp(OTHER4), 6, &tcp(8080, 33001, SYN | ACK, b""));
    let out = check4(&routed(f.in2out(synack, 11_000)));
    assert_eq!(
        (out.src, out.dst, ports(&out.l4)),
        (POOL4, OTHER4, (8080, 33001))
    );
    let s = *f
        .nat
        .table()
        .iter()
        .find(|s| s.remote_out_port == 33001)
        .unwrap();
    assert!(table::tcp_state::established(s.tcp));
    assert_eq!(s.expires, 11_000 + 7_440_000);
}

#[test]
fn nat64_tcp_simultaneous_open() {
    let mut f = fx();
    let syn6 = ip6(pod6(), wkp(SERVER4), 6, &tcp(40001, 5000, SYN, b""));
    let out = check4(&routed(f.in2out(syn6, 0)));
    let sp = ports(&out.l4).0;
    let s = *f.nat.table().iter().next().unwrap();
    assert_eq!(s.expires, 240_000, "V6 INIT: transitory");
    // The remote's own SYN (no ACK) crosses ours.
    let syn4 = ip4(SERVER4, POOL4, 6, &tcp(5000, sp, SYN, b""));
    let back = check6(&routed(f.out2in(syn4, 100)));
    assert_eq!(back.l4[13], SYN);
    let s = *f.nat.table().iter().next().unwrap();
    assert!(table::tcp_state::established(s.tcp));
    assert_eq!(s.expires, 100 + 7_440_000);
}

#[test]
fn nat64_rfc6146_timeouts_with_a_fake_clock() {
    let mut f = fx();
    let minute = 60_000u64;
    // UDP: 5 min (RFC 6146 3.5.1 UDP_DEFAULT), refreshed by traffic.
    let q = ip6(pod6(), wkp(SERVER4), 17, &udp(5000, 53, b"q"));
    let sp = ports(&check4(&routed(f.in2out(q, 0))).l4).0;
    let r = |t: u64, f: &mut Fx| f.out2in(ip4(SERVER4, POOL4, 17, &udp(53, sp, b"a")), t);
    assert_eq!(r(5 * minute - 1, &mut f).kind(), "route");
    assert_eq!(r(10 * minute - 2, &mut f).kind(), "route", "refreshed");
    assert_eq!(r(15 * minute - 1, &mut f).kind(), "pass", "expired");
    // ICMP query: 60 s.
    let e = ip6(pod6(), wkp(SERVER4), 58, &echo(128, 5, 1));
    let id = rd16(&check4(&routed(f.in2out(e, 0))).l4, 4);
    let rep = |t: u64, f: &mut Fx| f.out2in(ip4(SERVER4, POOL4, 1, &echo(0, id, 1)), t);
    assert_eq!(rep(minute - 1, &mut f).kind(), "route");
    assert_eq!(rep(2 * minute, &mut f).kind(), "pass");
    // TCP: transitory 4 min until established, then 2 h 4 min, 4 min after both FINs.
    let syn = ip6(pod6(), wkp(SERVER4), 6, &tcp(40002, 80, SYN, b""));
    let sp = ports(&check4(&routed(f.in2out(syn, 0))).l4).0;
    let t4 =
        |fl: u8, t: u64, f: &mut Fx| f.out2in(ip4(SERVER4, POOL4, 6, &tcp(80, sp, fl, b"")), t);
    assert_eq!(t4(SYN | ACK, 4 * minute - 1, &mut f).kind(), "route");
    let t0 = 4 * minute - 1;
    assert_eq!(
        t4(ACK, t0 + 7_440_000 - 1, &mut f).kind(),
        "route",
        "established"
    );
    let t1 = t0 + 7_440_000 - 1;
    let fin6 = ip6(pod6(), wkp(SERVER4), 6, &tcp(40002, 80, FIN | ACK, b""));
    routed(f.in2out(fin6, t1));
    assert_eq!(t4(FIN | ACK, t1, &mut f).kind(), "route");
    assert_eq!(t4(ACK, t1 + 4 * minute - 1, &mut f).kind(), "route");
    assert_eq!(
        t4(ACK, t1 + 8 * minute, &mut f).kind(),
        "pass",
        "closed: 4 min"
    );
    // The sweep frees everything that timed out and counts it.
    for _ in 0..40 {
        f.nat.poll(u64::MAX / 2);
    }
    assert_eq!(f.nat.table().len(), 0);
    assert!(f.nat.counters().sessions_expired >= 3);
}

#[test]
fn nat64_hairpinning_between_two_pods() {
    let mut f = fx();
    // pod6 -> our own pool address, port of pod6b's static UDP entry.
    let q = ip6(pod6(), wkp(POOL4), 17, &udp(5001, 6000, b"hairpin"));
    let p = check6(&routed(f.in2out(q, 0)));
    assert_eq!((p.dst, ports(&p.l4).1), (pod6b(), 5353));
    assert_eq!(p.src, wkp(POOL4), "source: the pod's own mapping, embedded");
    let sp = ports(&p.l4).0;
    assert_eq!(&p.l4[8..], b"hairpin");
    assert_eq!(f.x.counters().nat64_hairpin, 1);
    // The answer goes back the same way.
    let r = ip6(pod6b(), wkp(POOL4), 17, &udp(5353, sp, b"back"));
    let p = check6(&routed(f.in2out(r, 1)));
    assert_eq!(
        (p.src, p.dst, ports(&p.l4)),
        (wkp(POOL4), pod6(), (6000, 5001))
    );
    // To a pool port nobody maps: dropped as a hairpin.
    let q = ip6(pod6(), wkp(POOL4), 17, &udp(5001, 61000, b"x"));
    assert_eq!(dropped(f.in2out(q, 2)), DropReason::NatHairpin);
}

#[test]
fn nat64_refusals() {
    let mut f = fx();
    // A non-global IPv4 under the Well-Known Prefix (RFC 6052 3.1).
    let p = ip6(pod6(), wkp(Ipv4Addr::new(10, 0, 0, 1)), 17, &udp(1, 2, b""));
    assert_eq!(dropped(f.in2out(p, 0)), DropReason::Nat64BadAddress);
    let p = ip6(wkp(SERVER4), wkp(OTHER4), 17, &udp(1, 2, b""));
    assert_eq!(dropped(f.in2out(p, 0)), DropReason::Nat64SrcInPrefix);
    let p = ip6(pod6(), wkp(SERVER4), 6, &tcp(1, 2, ACK, b""));
    assert_eq!(dropped(f.in2out(p, 0)), DropReason::NatNoSession);
    // Another prefix length (RFC 6052 /64) works the same.
    let mut cfg = xcfg();
    cfg.prefix = crate::xlat::Rfc6052Prefix::new(a6("2001:db8:64::"), 64).unwrap();
    let mut f = fx_with(cfg);
    let dst = cfg_embed64(SERVER4);
    let p = ip6(pod6(), dst, 17, &udp(5000, 53, b"q"));
    let out = check4(&routed(f.in2out(p, 0)));
    assert_eq!(out.dst, SERVER4);
    let sp = ports(&out.l4).0;
    let r = ip4(SERVER4, POOL4, 17, &udp(53, sp, b"a"));
    assert_eq!(check6(&routed(f.out2in(r, 1))).src, dst);
}

fn cfg_embed64(v4: Ipv4Addr) -> Ipv6Addr {
    crate::xlat::Rfc6052Prefix::new(a6("2001:db8:64::"), 64)
        .unwrap()
        .embed(v4)
        .unwrap()
}

#[test]
fn snat_and_xlat_sessions_share_the_table() {
    let mut f = fx();
    // A SNAT44 flow and a NAT64 flow on the same IPv4 pool address.
    let p = ip4(POD, SERVER4, 17, &udp(7000, 53, b"s"));
    let out = f
        .nat
        .in2out(VecFrame::new(&p), &NatMeta { egress: true }, 0);
    let snat_port = ports(&check4(&routed(out)).l4).0;
    let q = ip6(pod6(), wkp(SERVER4), 17, &udp(7001, 53, b"x"));
    let x_port = ports(&check4(&routed(f.in2out(q, 0))).l4).0;
    assert_ne!(snat_port, x_port);
    // The SNAT out2in translates its reply and passes the NAT64 one on, which the NAT64
    // stage translates.
    let r = ip4(SERVER4, POOL4, 17, &udp(53, snat_port, b"r"));
    assert_eq!(check4(&routed(f.nat.out2in(VecFrame::new(&r), 1))).dst, POD);
    let r = ip4(SERVER4, POOL4, 17, &udp(53, x_port, b"r"));
    let o = f.nat.out2in(VecFrame::new(&r), 1);
    assert_eq!(o.kind(), "pass");
    let r = o.into_frame().unwrap().data().to_vec();
    assert_eq!(check6(&routed(f.out2in(r, 1))).dst, pod6());
    // And the NAT64 stage passes SNAT replies on.
    let r = ip4(SERVER4, POOL4, 17, &udp(53, snat_port, b"r"));
    assert_eq!(f.out2in(r, 2).kind(), "pass");
    let c = f.nat.counters();
    assert_eq!(c.sessions_active[SessionKind::Snat44.index()], 1);
    assert_eq!(c.sessions_active[SessionKind::Nat64.index()], 1);
}

// ---- hostile input ----

fn seeds() -> Vec<(bool, Vec<u8>)> {
    let mut v = vec![
        (true, ip4(POD, DNS46_STATIC, 6, &tcp(40000, 80, SYN, b"x"))),
        (true, ip4(POD, DNS46_STATIC, 17, &udp(5000, 53, b"q"))),
        (true, ip4(POD, DNS46_STATIC, 1, &echo(8, 1, 1))),
        (
            true,
            ip6(pod6(), wkp(SERVER4), 6, &tcp(40000, 443, SYN, b"")),
        ),
        (true, ip6(pod6(), wkp(SERVER4), 58, &echo(128, 1, 1))),
        (true, ip6(pod6(), wkp(POOL4), 17, &udp(1, 6000, b"h"))),
        (false, ip6(host6(), pool6(), 17, &udp(53, 5000, b"a"))),
        (false, ip4(SERVER4, POOL4, 17, &udp(53, 5000, b"a"))),
        (false, ip4(OTHER4, POOL4, 6, &tcp(9, 8080, SYN, b""))),
    ];
    let inner4 = ip4(POOL4, SERVER4, 17, &udp(5000, 53, b"q"));
    v.push((false, ip4(ROUTER4, POOL4, 1, &icmp_err(11, 0, 0, &inner4))));
    let inner6 = ip6(pool6(), host6(), 17, &udp(5000, 53, b"q"));
    v.push((
        false,
        ip6(router6(), pool6(), 58, &icmp_err(1, 0, 0, &inner6)),
    ));
    let nested = ip6(pool6(), host6(), 58, &icmp_err(1, 0, 0, &inner6));
    v.push((
        false,
        ip6(router6(), pool6(), 58, &icmp_err(3, 0, 0, &nested)),
    ));
    let rep = ip4(DNS46_STATIC, POD, 17, &udp(53, 5000, b"a"));
    v.push((true, ip4(POD, DNS46_STATIC, 1, &icmp_err(3, 3, 0, &rep))));
    v
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    /// Mutated valid packets and random bytes never panic, in any stage and any order.
    #[test]
    fn random_packets_never_panic(
        pick in 0usize..13,
        flips in proptest::collection::vec((0usize..200, any::<u8>()), 0..6),
        cut in 0usize..200,
        junk in proptest::collection::vec(any::<u8>(), 0..120),
        junk_v in 0u8..3,
    ) {
        let mut f = fx();
        // Open a few sessions first so that lookups find something.
        for (inside, p) in seeds().into_iter().take(6) {
            if inside { let _ = f.in2out(p, 0); }
        }
        let (inside, mut p) = seeds().swap_remove(pick % 13);
        for (at, b) in flips {
            if let Some(x) = p.get_mut(at) { *x ^= b; }
        }
        if cut < p.len() && cut % 3 == 0 { p.truncate(cut); }
        let _ = if inside { f.in2out(p.clone(), 1) } else { f.out2in(p.clone(), 1) };
        let _ = f.out2in(p.clone(), 2);
        let _ = f.in2out(p, 3);
        let mut j = junk;
        if let Some(b) = j.first_mut() {
            *b = match junk_v { 0 => 0x45, 1 => 0x60, _ => *b };
        }
        if j.len() >= 40 && junk_v == 1 {
            j[24..40].copy_from_slice(&wkp(SERVER4).octets());
        }
        if j.len() >= 20 && junk_v == 0 {
            j[16..20].copy_from_slice(&DNS46_STATIC.octets());
        }
        let _ = f.in2out(j.clone(), 4);
        let _ = f.out2in(j, 5);
        let _ = f.poll(10_000);
        f.nat.poll(10_000);
    }
}

// ---- fragments ----

/// Splits a whole IPv4 packet (20-byte header) into fragments carrying at most `chunk`
/// payload bytes (a multiple of 8), DF cleared, Identification `ident`.
fn frag4(whole: &[u8], ident: u16, chunk: usize) -> Vec<Vec<u8>> {
    let payload = &whole[20..];
    let mut v = Vec::new();
    let mut off = 0;
    while off < payload.len() {
        let n = chunk.min(payload.len() - off);
        let more = off + n < payload.len();
        let mut h = whole[..20].to_vec();
        h[2..4].copy_from_slice(&((20 + n) as u16).to_be_bytes());
        h[4..6].copy_from_slice(&ident.to_be_bytes());
        let fo = (u16::from(more) << 13) | (off / 8) as u16;
        h[6..8].copy_from_slice(&fo.to_be_bytes());
        h[10..12].copy_from_slice(&[0, 0]);
        let c = checksum(&h);
        h[10..12].copy_from_slice(&c.to_be_bytes());
        h.extend_from_slice(&payload[off..off + n]);
        v.push(h);
        off += n;
    }
    v
}

/// Splits a whole IPv6 packet (no extension header) into fragments with a Fragment header
/// (Identification `ident`) carrying at most `chunk` bytes each.
fn frag6(whole: &[u8], ident: u32, chunk: usize) -> Vec<Vec<u8>> {
    let nh = whole[6];
    let payload = &whole[40..];
    let mut v = Vec::new();
    let mut off = 0;
    while off < payload.len() {
        let n = chunk.min(payload.len() - off);
        let more = off + n < payload.len();
        let mut p = whole[..40].to_vec();
        p[4..6].copy_from_slice(&((8 + n) as u16).to_be_bytes());
        p[6] = 44;
        p.extend_from_slice(&[nh, 0]);
        p.extend_from_slice(&((off as u16) | u16::from(more)).to_be_bytes());
        p.extend_from_slice(&ident.to_be_bytes());
        p.extend_from_slice(&payload[off..off + n]);
        v.push(p);
        off += n;
    }
    v
}

/// Reassembles IPv6 fragments (any order): (src, dst, upper protocol, identification, data).
fn reassemble6(frags: &[Vec<u8>]) -> (Ipv6Addr, Ipv6Addr, u8, u32, Vec<u8>) {
    let mut parts: Vec<(usize, bool, Vec<u8>)> = Vec::new();
    let mut meta = None;
    for p in frags {
        assert_eq!(p[6], 44, "a Fragment header: {p:02x?}");
        assert_eq!(usize::from(rd16(p, 4)) + 40, p.len(), "payload length");
        assert!(p.len() <= 1280, "no translated fragment above 1280 bytes");
        let mut s = [0u8; 16];
        let mut d = [0u8; 16];
        s.copy_from_slice(&p[8..24]);
        d.copy_from_slice(&p[24..40]);
        let id = u32::from_be_bytes([p[44], p[45], p[46], p[47]]);
        let m = (Ipv6Addr::from(s), Ipv6Addr::from(d), p[40], id);
        assert!(meta.is_none_or(|x| x == m), "same datagram");
        meta = Some(m);
        let om = rd16(p, 42);
        parts.push((usize::from(om & 0xfff8), om & 1 == 1, p[48..].to_vec()));
    }
    parts.sort_by_key(|x| x.0);
    let mut data = Vec::new();
    for (off, _, d) in &parts {
        assert_eq!(*off, data.len(), "contiguous fragments");
        data.extend_from_slice(d);
    }
    assert!(!parts.last().unwrap().1, "last fragment has M = 0");
    let (s, d, nh, id) = meta.unwrap();
    (s, d, nh, id, data)
}

/// Reassembles IPv4 fragments (any order), checking each header checksum: (src, dst, proto,
/// identification, data).
fn reassemble4(frags: &[Vec<u8>]) -> (Ipv4Addr, Ipv4Addr, u8, u16, Vec<u8>) {
    let mut parts: Vec<(usize, bool, Vec<u8>)> = Vec::new();
    let mut meta = None;
    for p in frags {
        assert_eq!(checksum(&p[..20]), 0, "IPv4 header checksum");
        assert_eq!(usize::from(rd16(p, 2)), p.len());
        let fo = rd16(p, 6);
        assert_eq!(fo & 0x4000, 0, "DF = 0 on fragments");
        let m = (
            Ipv4Addr::new(p[12], p[13], p[14], p[15]),
            Ipv4Addr::new(p[16], p[17], p[18], p[19]),
            p[9],
            rd16(p, 4),
        );
        assert!(meta.is_none_or(|x| x == m), "same datagram");
        meta = Some(m);
        parts.push((
            usize::from(fo & 0x1fff) * 8,
            fo & 0x2000 != 0,
            p[20..].to_vec(),
        ));
    }
    parts.sort_by_key(|x| x.0);
    let mut data = Vec::new();
    for (off, _, d) in &parts {
        assert_eq!(*off, data.len(), "contiguous fragments");
        data.extend_from_slice(d);
    }
    assert!(!parts.last().unwrap().1, "last fragment has MF = 0");
    let (s, d, p, id) = meta.unwrap();
    (s, d, p, id, data)
}

fn udp6_ok(src: Ipv6Addr, dst: Ipv6Addr, dgram: &[u8]) -> bool {
    combine(
        pseudo_header_v6(&src, &dst, IpProtocol::Udp, dgram.len() as u32),
        sum(dgram),
    ) == 0xffff
}

fn udp4_ok(src: Ipv4Addr, dst: Ipv4Addr, dgram: &[u8]) -> bool {
    combine(
        pseudo_header_v4(src, dst, IpProtocol::Udp, dgram.len() as u16),
        sum(dgram),
    ) == 0xffff
}

/// Every packet a stage produced for one input: the frame plus what went to the sink.
fn all_out(f: &mut Fx, o: Outcome<VecFrame>) -> Vec<Vec<u8>> {
    let mut v = vec![routed(o)];
    v.extend(f.env.routed.drain(..).map(|p| p.data().to_vec()));
    v
}

fn big(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8).collect()
}

/// RFC 7915 4.1 + 5.1 through NAT46: a 3000-byte UDP datagram from the pod in three IPv4
/// fragments leaves as IPv6 fragments (each at most 1280 bytes, Identification carried),
/// and the IPv6 host's fragmented answer comes back as IPv4 fragments; both reassemble to a
/// datagram with a valid checksum and the NAT's ports.
#[test]
fn nat46_fragmented_udp_both_ways() {
    let mut f = fx();
    let payload = big(3000);
    let whole = ip4(POD, DNS46_STATIC, 17, &udp(41000, 9000, &payload));
    let mut out = Vec::new();
    for p in frag4(&whole, 0x4242, 1480) {
        let o = f.in2out(p, 1);
        out.extend(all_out(&mut f, o));
    }
    let (s, d, nh, id, dgram) = reassemble6(&out);
    assert_eq!((s, d, nh, id), (pool6(), host6(), 17, 0x4242));
    assert!(
        udp6_ok(s, d, &dgram),
        "UDP checksum of the reassembled datagram"
    );
    assert_eq!(&dgram[8..], &payload[..]);
    let (sp, dp) = ports(&dgram);
    assert_eq!(dp, 9000);
    let c = f.x.counters();
    assert_eq!(
        (c.frag_tracked, c.frag_translated, c.frag_no_state),
        (1, 2, 0)
    );

    // The answer: IPv6 fragments of 1448 bytes (as a 1500-byte link makes them).
    let answer = ip6(host6(), pool6(), 17, &udp(9000, sp, &payload));
    let mut back = Vec::new();
    for p in frag6(&answer, 0x0102_0304, 1448) {
        let o = f.out2in(p, 2);
        back.extend(all_out(&mut f, o));
    }
    let (s, d, proto, id, dgram) = reassemble4(&back);
    assert_eq!((s, d, proto, id), (DNS46_STATIC, POD, 17, 0x0304));
    assert!(udp4_ok(s, d, &dgram));
    assert_eq!(ports(&dgram), (9000, 41000));
    assert_eq!(&dgram[8..], &payload[..]);
    let vs = f.nat.counters();
    let vs = vs.vs(SessionKind::Nat46);
    assert_eq!(vs.clientside_pkts_in, 3, "every fragment counted");
}

/// RFC 7915 5.1 + 4.1 through NAT64, and the fragments the pod sends arriving out of order.
#[test]
fn nat64_fragmented_udp_both_ways_and_out_of_order() {
    let mut f = fx();
    let payload = big(3000);
    let whole = ip6(pod6(), wkp(SERVER4), 17, &udp(42000, 9000, &payload));
    let frags = frag6(&whole, 77, 1448);
    // A later fragment first: no state yet, dropped and counted.
    assert_eq!(
        dropped(f.in2out(frags[1].clone(), 1)),
        DropReason::NatFragment
    );
    assert_eq!(f.x.counters().frag_no_state, 1);
    let mut out = Vec::new();
    for p in frags.iter().cloned() {
        let o = f.in2out(p, 2);
        out.extend(all_out(&mut f, o));
    }
    let (s, d, proto, id, dgram) = reassemble4(&out);
    assert_eq!((s, d, proto, id), (POOL4, SERVER4, 17, 77));
    assert!(udp4_ok(s, d, &dgram));
    assert_eq!(&dgram[8..], &payload[..]);
    let (sp, _) = ports(&dgram);

    // The IPv4 answer in 1480-byte fragments: IPv6 fragments of at most 1280 bytes.
    let answer = ip4(SERVER4, POOL4, 17, &udp(9000, sp, &payload));
    let frags = frag4(&answer, 0x5555, 1480);
    // Seen by the data path as a tracked fragment only after the first one went through.
    assert!(!f.x.tracks_fragment(&frags[1], 3));
    let mut back = Vec::new();
    for (i, p) in frags.into_iter().enumerate() {
        if i > 0 {
            assert!(f.x.tracks_fragment(&p, 3));
        }
        let o = f.out2in(p, 3);
        back.extend(all_out(&mut f, o));
    }
    let (s, d, nh, id, dgram) = reassemble6(&back);
    assert_eq!((s, d, nh, id), (wkp(SERVER4), pod6(), 17, 0x5555));
    assert!(udp6_ok(s, d, &dgram));
    assert_eq!(ports(&dgram), (9000, 42000));
    assert_eq!(&dgram[8..], &payload[..]);
}

/// Fragment state expires; fragments of an unknown datagram, of an ICMP message and of a
/// hairpinned flow are dropped and counted, never translated with someone else's addresses.
#[test]
fn fragments_without_state_are_dropped() {
    let mut f = fx();
    let whole = ip4(POD, DNS46_STATIC, 17, &udp(41001, 9000, &big(2000)));
    let frags = frag4(&whole, 9, 1480);
    let _ = routed(f.in2out(frags[0].clone(), 0));
    f.env.routed.clear();
    // Same datagram after the fragment timeout: gone.
    let late = crate::nat::frag::DEFAULT_TIMEOUT_MS + 1;
    assert_eq!(
        dropped(f.in2out(frags[1].clone(), late)),
        DropReason::NatFragment
    );
    // Another Identification, or another source: no state.
    let other = frag4(&whole, 10, 1480);
    assert_eq!(
        dropped(f.in2out(other[1].clone(), 1)),
        DropReason::NatFragment
    );
    // A fragmented echo request: the first fragment is refused by the translator, so the
    // rest has no state either.
    let ping = ip4(POD, DNS46_STATIC, 1, &echo(8, 5, 1));
    let mut ping = ping;
    ping.extend_from_slice(&big(1600));
    let n = ping.len() as u16;
    ping[2..4].copy_from_slice(&n.to_be_bytes());
    ping[10..12].copy_from_slice(&[0, 0]);
    let c = checksum(&ping[..20]);
    ping[10..12].copy_from_slice(&c.to_be_bytes());
    let pf = frag4(&ping, 11, 1480);
    assert_eq!(
        dropped(f.in2out(pf[0].clone(), 1)),
        DropReason::XlatFragmentedIcmp
    );
    assert_eq!(dropped(f.in2out(pf[1].clone(), 1)), DropReason::NatFragment);
    // Hairpin (a pod to our own pool address under the prefix): later fragments dropped.
    let hp = ip6(pod6(), wkp(POOL4), 17, &udp(1, 6000, &big(2000)));
    let hf = frag6(&hp, 5, 1448);
    assert_eq!(dropped(f.in2out(hf[1].clone(), 1)), DropReason::NatFragment);
    assert_eq!(f.x.counters().frag_no_state, 3);
}

/// RFC 7915 5.1: a Fragment header followed by another extension header is not translated,
/// first fragment or not (hostile input), and nothing is tracked for it.
#[test]
fn fragments_with_extension_headers_after_the_fragment_header_are_dropped() {
    let mut f = fx();
    let whole = ip6(pod6(), wkp(SERVER4), 17, &udp(42001, 9000, &big(100)));
    for (off, more) in [(0u16, true), (8, false)] {
        let mut p = whole[..40].to_vec();
        p[6] = 44;
        // Fragment header -> Destination Options (8 bytes) -> UDP.
        p.extend_from_slice(&[60, 0]);
        p.extend_from_slice(&(off | u16::from(more)).to_be_bytes());
        p.extend_from_slice(&3u32.to_be_bytes());
        p.extend_from_slice(&[17, 0, 1, 4, 0, 0, 0, 0]);
        p.extend_from_slice(&whole[40..]);
        let pl = (p.len() - 40) as u16;
        p[4..6].copy_from_slice(&pl.to_be_bytes());
        assert_eq!(
            dropped(f.in2out(p.clone(), 1)),
            DropReason::XlatExtAfterFragment
        );
        assert!(!f.x.tracks_fragment(&p, 1));
    }
    assert_eq!(f.x.counters().frag_tracked, 0);
}

/// Hostile ICMP errors through the stateful stages (the translator's own cases are in
/// `xlat/tests.rs`): a truncated inner header, an inner packet that lies about who sent it,
/// an ICMPv6 error with nothing but its 8-byte header, and an error inside an error are
/// dropped with their reason, never translated, never a panic.
#[test]
fn hostile_icmp_errors_through_nat46_and_nat64() {
    let mut f = fx();
    // Open a NAT64 UDP session and a NAT46 one.
    let q = ip6(pod6(), wkp(SERVER4), 17, &udp(5000, 53, b"q"));
    let sp64 = ports(&check4(&routed(f.in2out(q, 0))).l4).0;
    let q = ip4(POD, DNS46_STATIC, 17, &udp(5001, 53, b"q"));
    let sp46 = ports(&check6(&routed(f.in2out(q, 0))).l4).0;

    // ICMPv4 Time Exceeded about our NAT64 packet, inner header cut to 12 bytes.
    let inner4 = ip4(POOL4, SERVER4, 17, &udp(sp64, 53, b"q"));
    let cut = ip4(ROUTER4, POOL4, 1, &icmp_err(11, 0, 0, &inner4[..12]));
    assert_eq!(
        dropped(f.out2in(cut, 1)),
        DropReason::XlatIcmpInnerMalformed
    );
    // The inner packet claims another sender than the one the error went to.
    let liar = ip4(OTHER4, SERVER4, 17, &udp(sp64, 53, b"q"));
    let lie = ip4(ROUTER4, POOL4, 1, &icmp_err(11, 0, 0, &liar));
    assert_eq!(dropped(f.out2in(lie, 1)), DropReason::NatIcmpErrorMalformed);
    // The inner header's Total Length says less than its own header.
    let mut short = inner4.clone();
    short[2..4].copy_from_slice(&10u16.to_be_bytes());
    let bad = ip4(ROUTER4, POOL4, 1, &icmp_err(3, 3, 0, &short));
    assert_eq!(
        dropped(f.out2in(bad, 1)),
        DropReason::XlatIcmpInnerMalformed
    );

    // ICMPv6 Destination Unreachable with an 8-byte payload (its header only).
    let empty = ip6(router6(), pool6(), 58, &icmp_err(1, 0, 0, &[]));
    assert_eq!(
        dropped(f.out2in(empty, 1)),
        DropReason::XlatIcmpInnerMalformed
    );
    // An ICMPv6 error about an ICMPv6 error about our NAT46 packet.
    let inner6 = ip6(pool6(), host6(), 17, &udp(sp46, 53, b"q"));
    let err1 = ip6(host6(), pool6(), 58, &icmp_err(1, 4, 0, &inner6));
    let nested = ip6(router6(), pool6(), 58, &icmp_err(3, 0, 0, &err1));
    assert_eq!(
        dropped(f.out2in(nested, 1)),
        DropReason::XlatIcmpNestedError
    );
    // From the pods: an ICMPv4 error about an ICMPv4 error, and one with a cut inner header.
    let rep = ip4(DNS46_STATIC, POD, 17, &udp(53, 5001, b"a"));
    let e1 = ip4(POD, DNS46_STATIC, 1, &icmp_err(3, 3, 0, &rep));
    let nested4 = ip4(POD, DNS46_STATIC, 1, &icmp_err(3, 3, 0, &e1));
    assert_eq!(
        dropped(f.in2out(nested4, 1)),
        DropReason::XlatIcmpNestedError
    );
    let cut4 = ip4(POD, DNS46_STATIC, 1, &icmp_err(3, 3, 0, &rep[..19]));
    assert_eq!(
        dropped(f.in2out(cut4, 1)),
        DropReason::XlatIcmpInnerMalformed
    );
    // None of it reached the sink.
    assert!(f.env.routed.is_empty());
}

/// Issue 11 item 5 through the stage: a flood of first fragments (every one a new datagram of
/// an open flow) and of stray later fragments keeps the fragment state at its fixed cap;
/// the flood's later fragments find no state once evicted; legitimate sessions still work.
#[test]
fn fragment_flood_through_nat46_stays_under_the_cap() {
    let mut f = fx_with(XlatNatConfig {
        frag_capacity: 64,
        ..xcfg()
    });
    let cap = f.x.frag_table().capacity();
    assert_eq!(cap, 64);
    let whole = ip4(POD, DNS46_STATIC, 17, &udp(41100, 9000, &big(1600)));
    for i in 0..5_000u16 {
        let frags = frag4(&whole, i, 1480);
        let _ = routed(f.in2out(frags[0].clone(), 10));
        // Stray later fragments of datagrams never seen.
        let stray = frag4(&whole, i.wrapping_add(30_000), 1480);
        assert_eq!(
            dropped(f.in2out(stray[1].clone(), 10)),
            DropReason::NatFragment
        );
        f.env.routed.clear();
        assert!(f.x.frag_table().live(10) <= cap);
    }
    let c = f.x.counters();
    assert_eq!(c.frag_tracked, 5_000);
    assert_eq!(c.frag_no_state, 5_000);
    assert!(c.frag_evicted >= 5_000 - cap as u64);
    // The last datagram is still tracked, its later fragment translated.
    let last = frag4(&whole, 4_999, 1480);
    let out = routed(f.in2out(last[1].clone(), 11));
    assert_eq!(out[0] >> 4, 6);
    // Nothing outlives the timeout.
    assert_eq!(
        f.x.frag_table()
            .live(11 + crate::nat::frag::DEFAULT_TIMEOUT_MS),
        0
    );
}
