//! NAT behaviour tests, named after the RFC section they check. Translated packets are checked
//! byte by byte and every checksum is recomputed from scratch with `wire::checksum`.

use std::net::{Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;

use super::*;
use crate::drop::DropReason;
use crate::frame::VecFrame;
use crate::wire::checksum::{self, combine, pseudo_header_v4, pseudo_header_v6, sum};
use crate::wire::IpProtocol;

// ---- packet builders (checksums computed from scratch) ----

const POD: Ipv4Addr = Ipv4Addr::new(10, 244, 1, 10);
const POD2: Ipv4Addr = Ipv4Addr::new(10, 244, 1, 11);
const SERVER: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 7);
const SERVER2: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 9);
const SNAT: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 100);
const ROUTER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);

fn pod6() -> Ipv6Addr {
    "fd00:10:244::10".parse().unwrap()
}
fn server6() -> Ipv6Addr {
    "2001:db8:100::7".parse().unwrap()
}
fn snat6() -> Ipv6Addr {
    "2001:db8:50::1".parse().unwrap()
}

fn l4_checksum_v4(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, l4: &mut [u8]) {
    let co = match proto {
        6 => 16,
        17 => 6,
        _ => 2,
    };
    l4[co] = 0;
    l4[co + 1] = 0;
    let s = if proto == 1 {
        sum(l4)
    } else {
        combine(
            pseudo_header_v4(src, dst, IpProtocol::from(proto), l4.len() as u16),
            sum(l4),
        )
    };
    let mut c = !s;
    if proto == 17 && c == 0 {
        c = 0xffff;
    }
    l4[co..co + 2].copy_from_slice(&c.to_be_bytes());
}

fn l4_checksum_v6(src: &Ipv6Addr, dst: &Ipv6Addr, proto: u8, l4: &mut [u8]) {
    let co = match proto {
        6 => 16,
        17 => 6,
        _ => 2,
    };
    l4[co] = 0;
    l4[co + 1] = 0;
    let s = combine(
        pseudo_header_v6(src, dst, IpProtocol::from(proto), l4.len() as u32),
        sum(l4),
    );
    let mut c = !s;
    if proto == 17 && c == 0 {
        c = 0xffff;
    }
    l4[co..co + 2].copy_from_slice(&c.to_be_bytes());
}

fn ipv4(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, l4: &[u8]) -> Vec<u8> {
    let total = 20 + l4.len();
    let mut p = vec![
        0x45,
        0,
        (total >> 8) as u8,
        total as u8,
        0x12,
        0x34,
        0x40,
        0,
        64,
        proto,
        0,
        0,
    ];
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());
    let c = checksum::checksum(&p);
    p[10..12].copy_from_slice(&c.to_be_bytes());
    p.extend_from_slice(l4);
    p
}

fn ipv6(src: &Ipv6Addr, dst: &Ipv6Addr, proto: u8, l4: &[u8]) -> Vec<u8> {
    let mut p = vec![
        0x60,
        0,
        0,
        0,
        (l4.len() >> 8) as u8,
        l4.len() as u8,
        proto,
        64,
    ];
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());
    p.extend_from_slice(l4);
    p
}

fn udp_l4(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let len = 8 + payload.len();
    let mut u = vec![0u8; 8];
    u[0..2].copy_from_slice(&sport.to_be_bytes());
    u[2..4].copy_from_slice(&dport.to_be_bytes());
    u[4..6].copy_from_slice(&(len as u16).to_be_bytes());
    u.extend_from_slice(payload);
    u
}

fn udp4(src: Ipv4Addr, sport: u16, dst: Ipv4Addr, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut u = udp_l4(sport, dport, payload);
    l4_checksum_v4(src, dst, 17, &mut u);
    ipv4(src, dst, 17, &u)
}

fn udp6(src: &Ipv6Addr, sport: u16, dst: &Ipv6Addr, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut u = udp_l4(sport, dport, payload);
    l4_checksum_v6(src, dst, 17, &mut u);
    ipv6(src, dst, 17, &u)
}

const SYN: u8 = 0x02;
const ACK: u8 = 0x10;
const FIN: u8 = 0x01;
const RST: u8 = 0x04;

fn tcp_l4(sport: u16, dport: u16, flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut t = vec![0u8; 20];
    t[0..2].copy_from_slice(&sport.to_be_bytes());
    t[2..4].copy_from_slice(&dport.to_be_bytes());
    t[4..8].copy_from_slice(&0x0102_0304u32.to_be_bytes());
    t[12] = 5 << 4;
    t[13] = flags;
    t[14] = 0xff;
    t.extend_from_slice(payload);
    t
}

fn tcp4(src: Ipv4Addr, sport: u16, dst: Ipv4Addr, dport: u16, flags: u8) -> Vec<u8> {
    let mut t = tcp_l4(sport, dport, flags, b"hello");
    l4_checksum_v4(src, dst, 6, &mut t);
    ipv4(src, dst, 6, &t)
}

fn tcp6(src: &Ipv6Addr, sport: u16, dst: &Ipv6Addr, dport: u16, flags: u8) -> Vec<u8> {
    let mut t = tcp_l4(sport, dport, flags, b"hello");
    l4_checksum_v6(src, dst, 6, &mut t);
    ipv6(src, dst, 6, &t)
}

fn echo4(src: Ipv4Addr, dst: Ipv4Addr, request: bool, id: u16, seq: u16) -> Vec<u8> {
    let mut m = vec![if request { 8 } else { 0 }, 0, 0, 0];
    m.extend_from_slice(&id.to_be_bytes());
    m.extend_from_slice(&seq.to_be_bytes());
    m.extend_from_slice(b"abcdefgh");
    l4_checksum_v4(src, dst, 1, &mut m);
    ipv4(src, dst, 1, &m)
}

fn echo6(src: &Ipv6Addr, dst: &Ipv6Addr, request: bool, id: u16, seq: u16) -> Vec<u8> {
    let mut m = vec![if request { 128 } else { 129 }, 0, 0, 0];
    m.extend_from_slice(&id.to_be_bytes());
    m.extend_from_slice(&seq.to_be_bytes());
    m.extend_from_slice(b"abcdefgh");
    l4_checksum_v6(src, dst, 58, &mut m);
    ipv6(src, dst, 58, &m)
}

/// An ICMPv4 error (type, code) from `src` to `dst` embedding `inner` (truncated to `keep`).
fn icmp4_error(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    t: u8,
    code: u8,
    inner: &[u8],
    keep: usize,
) -> Vec<u8> {
    let mut m = vec![t, code, 0, 0, 0, 0, 0, 0];
    m.extend_from_slice(&inner[..keep.min(inner.len())]);
    l4_checksum_v4(src, dst, 1, &mut m);
    ipv4(src, dst, 1, &m)
}

fn icmp6_error(src: &Ipv6Addr, dst: &Ipv6Addr, t: u8, inner: &[u8], keep: usize) -> Vec<u8> {
    let mut m = vec![t, 0, 0, 0, 0, 0, 0, 0];
    m.extend_from_slice(&inner[..keep.min(inner.len())]);
    l4_checksum_v6(src, dst, 58, &mut m);
    ipv6(src, dst, 58, &m)
}

// ---- checks from scratch ----

fn v4_at(p: &[u8], at: usize) -> Ipv4Addr {
    Ipv4Addr::new(p[at], p[at + 1], p[at + 2], p[at + 3])
}

fn v6_at(p: &[u8], at: usize) -> Ipv6Addr {
    Ipv6Addr::from(<[u8; 16]>::try_from(&p[at..at + 16]).unwrap())
}

/// Verifies every checksum of an IP packet (and of the packet embedded in an ICMP error when
/// the error carries it whole) by recomputing it from scratch.
fn assert_checksums(p: &[u8]) {
    if p[0] >> 4 == 4 {
        let hl = usize::from(p[0] & 0xf) * 4;
        assert!(checksum::verify(&p[..hl]), "IPv4 header checksum");
        let total = usize::from(u16::from_be_bytes([p[2], p[3]]));
        let (src, dst, proto) = (v4_at(p, 12), v4_at(p, 16), p[9]);
        let l4 = &p[hl..total];
        match proto {
            1 => {
                assert!(checksum::verify(l4), "ICMP checksum");
                if matches!(l4[0], 3 | 11 | 12) && l4.len() >= 28 {
                    let inner = &l4[8..];
                    let ihl = usize::from(inner[0] & 0xf) * 4;
                    assert!(
                        checksum::verify(&inner[..ihl]),
                        "embedded IPv4 header checksum"
                    );
                    let itotal = usize::from(u16::from_be_bytes([inner[2], inner[3]]));
                    if itotal == inner.len() {
                        assert_checksums(inner);
                    }
                }
            }
            6 | 17 => {
                if proto == 17 && l4[6..8] == [0, 0] {
                    return;
                }
                let s = combine(
                    pseudo_header_v4(src, dst, IpProtocol::from(proto), l4.len() as u16),
                    sum(l4),
                );
                assert_eq!(s, 0xffff, "TCP/UDP checksum over IPv4");
            }
            _ => {}
        }
    } else {
        let plen = usize::from(u16::from_be_bytes([p[4], p[5]]));
        let (src, dst, proto) = (v6_at(p, 8), v6_at(p, 24), p[6]);
        let l4 = &p[40..40 + plen];
        let s = combine(
            pseudo_header_v6(&src, &dst, IpProtocol::from(proto), l4.len() as u32),
            sum(l4),
        );
        assert_eq!(s, 0xffff, "checksum over IPv6 (proto {proto})");
        if proto == 58 && l4[0] < 128 && l4.len() >= 48 {
            let inner = &l4[8..];
            let iplen = usize::from(u16::from_be_bytes([inner[4], inner[5]]));
            if 40 + iplen == inner.len() {
                assert_checksums(inner);
            }
        }
    }
}

// ---- NAT set-up ----

fn config(pool: &[Ipv4Addr], min: u16, max: u16, workers: u16) -> NatConfig {
    let snat = egress_config::Snat {
        pool_v4: pool.to_vec(),
        pool_v6: vec![snat6()],
        dual_stack: true,
        port_min: min,
        port_max: max,
        sessions_per_worker: 4096,
        ..Default::default()
    };
    NatConfig::from_config(&snat, workers, None, None)
}

fn nat() -> Nat {
    Nat::new(&config(&[SNAT], 1024, 65535, 1), 0)
}

const EGRESS: NatMeta = NatMeta { egress: true };

fn in2out(n: &mut Nat, p: &[u8], now: u64) -> (&'static str, Vec<u8>, Option<DropReason>) {
    let o = n.in2out(VecFrame::new(p), &EGRESS, now);
    let (k, r) = (o.kind(), o.drop_reason());
    (k, o.into_frame().unwrap().data().to_vec(), r)
}

fn out2in(n: &mut Nat, p: &[u8], now: u64) -> (&'static str, Vec<u8>, Option<DropReason>) {
    let o = n.out2in(VecFrame::new(p), now);
    let (k, r) = (o.kind(), o.drop_reason());
    (k, o.into_frame().unwrap().data().to_vec(), r)
}

/// Sends from the pod and returns the translated packet (asserting `Route`).
fn go_out(n: &mut Nat, p: &[u8], now: u64) -> Vec<u8> {
    let (k, q, r) = in2out(n, p, now);
    assert_eq!(k, "route", "in2out: {r:?}");
    assert_checksums(&q);
    q
}

fn go_in(n: &mut Nat, p: &[u8], now: u64) -> Vec<u8> {
    let (k, q, r) = out2in(n, p, now);
    assert_eq!(k, "route", "out2in: {r:?}");
    assert_checksums(&q);
    q
}

fn sport(p: &[u8]) -> u16 {
    let hl = if p[0] >> 4 == 4 {
        usize::from(p[0] & 0xf) * 4
    } else {
        40
    };
    u16::from_be_bytes([p[hl], p[hl + 1]])
}

fn src4(p: &[u8]) -> Ipv4Addr {
    v4_at(p, 12)
}

// ---- tests ----

#[test]
fn snat44_udp_bytes_and_checksums() {
    let mut n = nat();
    let p = udp4(POD, 40000, SERVER, 53, b"query");
    let q = go_out(&mut n, &p, 0);
    assert_eq!(q.len(), p.len());
    // Only the source address, source port and the two checksums differ.
    for (i, (a, b)) in p.iter().zip(q.iter()).enumerate() {
        if !(matches!(i, 10 | 11 | 12..=15 | 20 | 21 | 26 | 27)) {
            assert_eq!(a, b, "byte {i}");
        }
    }
    assert_eq!(src4(&q), SNAT);
    assert_eq!(sport(&q), 40000, "port preserved");
    // The reply comes back to the pod.
    let reply = udp4(SERVER, 53, SNAT, 40000, b"answer");
    let r = go_in(&mut n, &reply, 1);
    assert_eq!(v4_at(&r, 16), POD);
    assert_eq!(u16::from_be_bytes([r[22], r[23]]), 40000);
    assert_eq!(
        r,
        udp4(SERVER, 53, POD, 40000, b"answer"),
        "exactly the packet the server would send the pod"
    );
    let c = n.counters();
    let vs = c.vs(SessionKind::Snat44);
    assert_eq!(vs.clientside_tot_conns, 1);
    assert_eq!(vs.clientside_cur_conns, 1);
    assert_eq!(vs.clientside_pkts_in, 1);
    assert_eq!(vs.clientside_pkts_out, 1);
    assert_eq!(vs.serverside_pkts_out, 1);
    assert_eq!(vs.clientside_bytes_in, p.len() as u64);
    assert_eq!(vs.serverside_bytes_in, reply.len() as u64);
}

#[test]
fn udp_zero_checksum_stays_zero() {
    let mut n = nat();
    let mut u = udp_l4(40000, 9999, b"x");
    u[6] = 0;
    u[7] = 0;
    let p = ipv4(POD, SERVER, 17, &u);
    let q = go_out(&mut n, &p, 0);
    assert_eq!(&q[26..28], &[0, 0]);
}

#[test]
fn rfc4787_4_1_endpoint_independent_mapping() {
    let mut n = nat();
    let a = go_out(&mut n, &udp4(POD, 5000, SERVER, 53, b"a"), 0);
    let b = go_out(&mut n, &udp4(POD, 5000, SERVER2, 123, b"b"), 0);
    let c = go_out(&mut n, &tcp4(POD, 5000, SERVER, 80, SYN), 0);
    assert_eq!((src4(&a), sport(&a)), (src4(&b), sport(&b)));
    assert_eq!(
        n.counters().mappings_active,
        2,
        "one UDP and one TCP mapping"
    );
    assert_eq!(src4(&c), SNAT);
    // Another pod with the same port gets a different port (no port overloading).
    let d = go_out(&mut n, &udp4(POD2, 5000, SERVER, 53, b"d"), 0);
    assert_ne!(sport(&d), sport(&a));
}

#[test]
fn rfc4787_4_1_paired_address_pooling() {
    let pool: Vec<Ipv4Addr> = (1..=8).map(|i| Ipv4Addr::new(192, 0, 2, i)).collect();
    let mut n = Nat::new(&config(&pool, 1024, 65535, 1), 0);
    let mut used = std::collections::HashSet::new();
    for pod in 1..=64u8 {
        let pod = Ipv4Addr::new(10, 244, 2, pod);
        let mut addrs = std::collections::HashSet::new();
        for port in 0..6u16 {
            let q = go_out(&mut n, &udp4(pod, 30000 + port, SERVER, 53, b"x"), 0);
            addrs.insert(src4(&q));
            let q = go_out(&mut n, &tcp4(pod, 30000 + port, SERVER2, 443, SYN), 0);
            addrs.insert(src4(&q));
        }
        assert_eq!(addrs.len(), 1, "pod {pod} uses one SNAT address");
        used.extend(addrs);
    }
    assert!(used.len() >= 6, "pods spread over the pool: {used:?}");
    // Another worker picks the same address for the same pod.
    let cfg = config(&pool, 1024, 65535, 2);
    let mut w0 = Nat::new(&cfg, 0);
    let mut w1 = Nat::new(&cfg, 1);
    for pod in 1..=32u8 {
        let pod = Ipv4Addr::new(10, 244, 3, pod);
        let a = go_out(&mut w0, &udp4(pod, 1, SERVER, 53, b"x"), 0);
        let b = go_out(&mut w1, &udp4(pod, 1, SERVER, 53, b"x"), 0);
        assert_eq!(src4(&a), src4(&b));
    }
}

#[test]
fn rfc4787_4_2_port_preservation_then_rfc6056_random() {
    let mut n = nat();
    let a = go_out(&mut n, &udp4(POD, 33333, SERVER, 53, b"x"), 0);
    assert_eq!(sport(&a), 33333);
    // Port taken: the others with the same port get unpredictable ports, not a sequence.
    let mut ports = Vec::new();
    for i in 0..50u8 {
        let pod = Ipv4Addr::new(10, 244, 9, i);
        let q = go_out(&mut n, &udp4(pod, 33333, SERVER, 53, b"x"), 0);
        ports.push(sport(&q));
    }
    assert!(ports.iter().all(|&p| p != 33333 && p >= 1024));
    let sequential = ports
        .windows(2)
        .filter(|w| w[1] == w[0].wrapping_add(1))
        .count();
    assert!(sequential < 5, "ports look sequential: {ports:?}");
    let distinct: std::collections::HashSet<_> = ports.iter().collect();
    assert_eq!(distinct.len(), ports.len());
    // A pod port outside the range is not preserved.
    let q = go_out(&mut n, &udp4(POD, 500, SERVER, 53, b"x"), 0);
    assert!(sport(&q) >= 1024);
}

#[test]
fn rfc4787_5_address_and_port_dependent_filtering() {
    let mut n = nat();
    let q = go_out(&mut n, &udp4(POD, 6000, SERVER, 53, b"x"), 0);
    let port = sport(&q);
    // From another port of the server, from another host, or to another SNAT port: not ours.
    for p in [
        udp4(SERVER, 54, SNAT, port, b"y"),
        udp4(SERVER2, 53, SNAT, port, b"y"),
        udp4(SERVER, 53, SNAT, port.wrapping_add(1), b"y"),
        tcp4(SERVER, 53, SNAT, port, SYN),
    ] {
        let (k, out, _) = out2in(&mut n, &p, 1);
        assert_eq!(k, "pass");
        assert_eq!(out, p, "passed untouched");
    }
    // Not to a SNAT address at all.
    let p = udp4(SERVER, 53, Ipv4Addr::new(192, 0, 2, 200), port, b"y");
    assert_eq!(out2in(&mut n, &p, 1).0, "pass");
}

#[test]
fn rfc4787_4_3_udp_timeout_and_refresh() {
    let mut n = nat();
    let q = go_out(&mut n, &udp4(POD, 7000, SERVER, 53, b"x"), 0);
    let port = sport(&q);
    let reply = udp4(SERVER, 53, SNAT, port, b"y");
    // Inbound refreshes too; 299 s after the last packet it still works.
    go_in(&mut n, &reply, 200_000);
    go_in(&mut n, &reply, 499_000);
    go_out(&mut n, &udp4(POD, 7000, SERVER, 53, b"x"), 700_000);
    assert_eq!(out2in(&mut n, &reply, 999_999).0, "route");
    // 300 s of silence: gone.
    assert_eq!(out2in(&mut n, &reply, 999_999 + 300_000).0, "pass");
    assert_eq!(n.counters().sessions_active[0], 0);
    assert_eq!(n.counters().sessions_expired, 1);
}

fn tcp_session(n: &mut Nat, now: u64) -> u16 {
    let q = go_out(n, &tcp4(POD, 8000, SERVER, 80, SYN), now);
    sport(&q)
}

fn session_expiry(n: &Nat) -> u64 {
    n.table().iter().next().unwrap().expires
}

#[test]
fn rfc5382_5_established_and_transitory_timeouts() {
    let mut n = nat();
    let port = tcp_session(&mut n, 0);
    assert_eq!(session_expiry(&n), 240_000, "SYN sent only: transitory");
    go_in(&mut n, &tcp4(SERVER, 80, SNAT, port, SYN | ACK), 1000);
    assert_eq!(session_expiry(&n), 1000 + 7_440_000, "established");
    go_out(&mut n, &tcp4(POD, 8000, SERVER, 80, ACK), 2000);
    assert_eq!(session_expiry(&n), 2000 + 7_440_000);
    // One FIN: still established (half close); both: transitory.
    go_out(&mut n, &tcp4(POD, 8000, SERVER, 80, FIN | ACK), 3000);
    assert_eq!(session_expiry(&n), 3000 + 7_440_000);
    go_in(&mut n, &tcp4(SERVER, 80, SNAT, port, FIN | ACK), 4000);
    assert_eq!(session_expiry(&n), 4000 + 240_000);
    go_out(&mut n, &tcp4(POD, 8000, SERVER, 80, ACK), 5000);
    assert_eq!(
        out2in(&mut n, &tcp4(SERVER, 80, SNAT, port, ACK), 5000 + 240_000).0,
        "pass"
    );
}

#[test]
fn rfc5382_2_2_simultaneous_open() {
    let mut n = nat();
    let port = tcp_session(&mut n, 0);
    // The remote's SYN (no ACK) crosses ours: accepted, and the session is established.
    go_in(&mut n, &tcp4(SERVER, 80, SNAT, port, SYN), 10);
    assert_eq!(session_expiry(&n), 10 + 7_440_000);
    go_out(&mut n, &tcp4(POD, 8000, SERVER, 80, SYN | ACK), 20);
    go_in(&mut n, &tcp4(SERVER, 80, SNAT, port, SYN | ACK), 30);
    assert_eq!(session_expiry(&n), 30 + 7_440_000);
}

#[test]
fn rfc7857_2_rst_moves_to_transitory_and_syn_reopens() {
    let mut n = nat();
    let port = tcp_session(&mut n, 0);
    go_in(&mut n, &tcp4(SERVER, 80, SNAT, port, SYN | ACK), 0);
    go_in(&mut n, &tcp4(SERVER, 80, SNAT, port, RST), 100);
    assert_eq!(session_expiry(&n), 100 + 240_000);
    // Data after the RST does not bring it back to established.
    go_out(&mut n, &tcp4(POD, 8000, SERVER, 80, ACK), 200);
    assert_eq!(session_expiry(&n), 200 + 240_000);
    // A new SYN from the pod starts a new connection on the same mapping.
    let q = go_out(&mut n, &tcp4(POD, 8000, SERVER, 80, SYN), 300);
    assert_eq!(sport(&q), port);
    go_in(&mut n, &tcp4(SERVER, 80, SNAT, port, SYN | ACK), 400);
    assert_eq!(session_expiry(&n), 400 + 7_440_000);
}

#[test]
fn tcp_without_syn_opens_nothing() {
    let mut n = nat();
    for flags in [ACK, FIN | ACK, RST, SYN | ACK, SYN | RST] {
        let (k, _, r) = in2out(&mut n, &tcp4(POD, 9000, SERVER, 80, flags), 0);
        assert_eq!(
            (k, r),
            ("drop", Some(DropReason::NatNoSession)),
            "flags {flags:#x}"
        );
    }
    assert!(n.table().is_empty());
}

#[test]
fn rfc5508_3_1_icmp_query_identifier_translation() {
    let mut n = nat();
    let q = go_out(&mut n, &echo4(POD, SERVER, true, 0x4242, 1), 0);
    assert_eq!(src4(&q), SNAT);
    let id = u16::from_be_bytes([q[24], q[25]]);
    assert_eq!(id, 0x4242, "identifier preserved when free");
    // A second pod with the same identifier gets another one.
    let q2 = go_out(&mut n, &echo4(POD2, SERVER, true, 0x4242, 1), 0);
    let id2 = u16::from_be_bytes([q2[24], q2[25]]);
    assert_ne!(id2, id);
    let r = go_in(&mut n, &echo4(SERVER, SNAT, false, id2, 1), 5);
    assert_eq!(r, echo4(SERVER, POD2, false, 0x4242, 1));
    // An echo reply from a pod opens nothing; other ICMP types are not translated.
    let (_, _, why) = in2out(&mut n, &echo4(POD, SERVER, false, 7, 1), 0);
    assert_eq!(why, Some(DropReason::NatNoSession));
    let mut ts = vec![13u8, 0, 0, 0, 0, 1, 0, 1];
    ts.extend_from_slice(&[0; 12]);
    l4_checksum_v4(POD, SERVER, 1, &mut ts);
    let (_, _, why) = in2out(&mut n, &ipv4(POD, SERVER, 1, &ts), 0);
    assert_eq!(why, Some(DropReason::NatIcmpUnsupported));
    // An echo request from outside to the SNAT address is not NAT's (the self-IP stage's).
    assert_eq!(
        out2in(&mut n, &echo4(SERVER, SNAT, true, id, 1), 0).0,
        "pass"
    );
}

#[test]
fn rfc5508_3_2_icmp_query_timeout() {
    let mut n = nat();
    go_out(&mut n, &echo4(POD, SERVER, true, 7777, 1), 0);
    let reply = echo4(SERVER, SNAT, false, 7777, 1);
    assert_eq!(out2in(&mut n, &reply, 59_999).0, "route");
    assert_eq!(out2in(&mut n, &reply, 59_999 + 60_000).0, "pass");
}

#[test]
fn rfc5508_4_2_icmp_error_out2in_udp_embedded_whole() {
    let mut n = nat();
    let sent = go_out(&mut n, &udp4(POD, 41000, SERVER, 9, b"payload"), 0);
    let port = sport(&sent);
    let expires = session_expiry(&n);
    // A router reports "port unreachable" with the whole datagram embedded.
    let err = icmp4_error(ROUTER, SNAT, 3, 3, &sent, sent.len());
    let r = go_in(&mut n, &err, 1000);
    assert_eq!(v4_at(&r, 16), POD, "outer destination");
    assert_eq!(v4_at(&r, 12), ROUTER, "outer source untouched");
    let inner = &r[28..];
    assert_eq!(
        inner,
        &udp4(POD, 41000, SERVER, 9, b"payload")[..],
        "embedded packet as the pod sent it"
    );
    assert_eq!(port, 41000);
    assert_eq!(
        session_expiry(&n),
        expires,
        "an ICMP error does not refresh the session"
    );
    assert_eq!(n.counters().icmp_errors_translated, 1);
}

#[test]
fn rfc5508_4_2_icmp_error_out2in_tcp_truncated_to_8_bytes() {
    let mut n = nat();
    let sent = go_out(&mut n, &tcp4(POD, 41001, SERVER, 80, SYN), 0);
    // RFC 792: IP header + 8 bytes; the TCP checksum is not in it.
    let err = icmp4_error(ROUTER, SNAT, 11, 0, &sent, 28);
    let r = go_in(&mut n, &err, 1);
    assert_eq!(v4_at(&r, 16), POD);
    assert_eq!(v4_at(&r, 28 + 12), POD, "embedded source");
    assert_eq!(
        u16::from_be_bytes([r[48], r[49]]),
        41001,
        "embedded source port"
    );
    assert_eq!(
        &r[48 + 2..48 + 8],
        &sent[22..28],
        "rest of the embedded bytes untouched"
    );
}

#[test]
fn rfc5508_4_2_icmp_error_about_echo_request() {
    let mut n = nat();
    // ping with TTL 1 -> time exceeded from a router, embedding our echo request.
    let sent = go_out(&mut n, &echo4(POD, SERVER, true, 0x9999, 3), 0);
    let err = icmp4_error(ROUTER, SNAT, 11, 0, &sent, sent.len());
    let r = go_in(&mut n, &err, 1);
    assert_eq!(&r[28..], &echo4(POD, SERVER, true, 0x9999, 3)[..]);
}

#[test]
fn rfc5508_4_2_icmp_error_in2out_from_pod() {
    let mut n = nat();
    let sent = go_out(&mut n, &udp4(POD, 42000, SERVER, 5353, b"q"), 0);
    let port = sport(&sent);
    // The reply reaches the pod; the pod answers "port unreachable" about it.
    let reply_to_pod = go_in(&mut n, &udp4(SERVER, 5353, SNAT, port, b"late answer"), 1);
    let err = icmp4_error(POD, SERVER, 3, 3, &reply_to_pod, reply_to_pod.len());
    let q = go_out(&mut n, &err, 2);
    assert_eq!(src4(&q), SNAT, "outer source");
    assert_eq!(
        &q[28..],
        &udp4(SERVER, 5353, SNAT, port, b"late answer")[..]
    );
    // About a flow without a session: counted drop.
    let stray = udp4(SERVER2, 1, POD, 2, b"?");
    let err = icmp4_error(POD, SERVER2, 3, 3, &stray, stray.len());
    assert_eq!(
        in2out(&mut n, &err, 3).2,
        Some(DropReason::NatIcmpErrorNoSession)
    );
}

#[test]
fn icmp_errors_with_truncated_or_lying_inner_headers_are_counted_drops() {
    let mut n = nat();
    let sent = go_out(&mut n, &udp4(POD, 43000, SERVER, 53, b"x"), 0);
    let mut cases: Vec<Vec<u8>> = Vec::new();
    // Embedded header cut short.
    for keep in [0, 8, 19, 20, 27] {
        cases.push(icmp4_error(ROUTER, SNAT, 3, 1, &sent, keep));
    }
    // IHL larger than what is there, or below 5.
    for ihl in [0x4f, 0x44, 0x46] {
        let mut s = sent.clone();
        s[0] = ihl;
        cases.push(icmp4_error(ROUTER, SNAT, 3, 1, &s, 28));
    }
    // Embedded source is not the address the error was sent to.
    cases.push(icmp4_error(
        ROUTER,
        SNAT,
        3,
        1,
        &udp4(Ipv4Addr::new(192, 0, 2, 99), 43000, SERVER, 53, b"x"),
        36,
    ));
    // Non-first fragment embedded.
    let mut s = sent.clone();
    s[6] = 0x00;
    s[7] = 0x10;
    cases.push(icmp4_error(ROUTER, SNAT, 3, 1, &s, 36));
    // Wrong embedded version; embedded ICMP error (nested).
    let mut s = sent.clone();
    s[0] = 0x65;
    cases.push(icmp4_error(ROUTER, SNAT, 3, 1, &s, 36));
    let nested = icmp4_error(SNAT, SERVER, 3, 3, &sent, 36);
    cases.push(icmp4_error(ROUTER, SNAT, 3, 1, &nested, nested.len()));
    for (i, c) in cases.iter().enumerate() {
        let (k, _, r) = out2in(&mut n, c, 1);
        assert_eq!(
            (k, r),
            ("drop", Some(DropReason::NatIcmpErrorMalformed)),
            "case {i}"
        );
        let (k, _, r) = in2out(
            &mut n,
            &{
                // The same embedded mess sent by a pod.
                let mut c = c.clone();
                c[12..16].copy_from_slice(&POD.octets());
                c[16..20].copy_from_slice(&SERVER.octets());
                c[10] = 0;
                c[11] = 0;
                let hc = checksum::checksum(&c[..20]);
                c[10..12].copy_from_slice(&hc.to_be_bytes());
                c
            },
            1,
        );
        assert_eq!(k, "drop", "in2out case {i}");
        assert!(
            matches!(
                r,
                Some(DropReason::NatIcmpErrorMalformed | DropReason::NatIcmpErrorNoSession)
            ),
            "{r:?}"
        );
    }
    // The session is intact.
    go_in(&mut n, &udp4(SERVER, 53, SNAT, sport(&sent), b"y"), 2);
}

#[test]
fn snat66_udp_tcp_echo_and_icmpv6_error() {
    let mut n = nat();
    let (pod, server, snat) = (pod6(), server6(), snat6());
    let q = go_out(&mut n, &udp6(&pod, 5555, &server, 53, b"q6"), 0);
    assert_eq!(v6_at(&q, 8), snat);
    let port = sport(&q);
    let r = go_in(&mut n, &udp6(&server, 53, &snat, port, b"a6"), 1);
    assert_eq!(r, udp6(&server, 53, &pod, 5555, b"a6"));
    let q = go_out(&mut n, &tcp6(&pod, 5556, &server, 443, SYN), 0);
    let r = go_in(&mut n, &tcp6(&server, 443, &snat, sport(&q), SYN | ACK), 1);
    assert_eq!(r, tcp6(&server, 443, &pod, 5556, SYN | ACK));
    let q = go_out(&mut n, &echo6(&pod, &server, true, 0x66, 1), 0);
    let id = u16::from_be_bytes([q[44], q[45]]);
    let r = go_in(&mut n, &echo6(&server, &snat, false, id, 1), 1);
    assert_eq!(r, echo6(&server, &pod, false, 0x66, 1));
    // Packet too big about our UDP datagram, embedded whole.
    let sent = go_out(&mut n, &udp6(&pod, 5555, &server, 53, b"big"), 2);
    let router: Ipv6Addr = "2001:db8:ffff::1".parse().unwrap();
    let err = icmp6_error(&router, &snat, 2, &sent, sent.len());
    let r = go_in(&mut n, &err, 3);
    assert_eq!(v6_at(&r, 24), pod);
    assert_eq!(&r[48..], &udp6(&pod, 5555, &server, 53, b"big")[..]);
    assert_eq!(n.counters().vs(SessionKind::Snat66).clientside_tot_conns, 3);
    // Without dual stack, IPv6 is not SNAT's.
    let mut cfg = config(&[SNAT], 1024, 65535, 1);
    cfg.dual_stack = false;
    let mut n4 = Nat::new(&cfg, 0);
    assert_eq!(
        in2out(&mut n4, &udp6(&pod, 1, &server, 2, b""), 0).0,
        "pass"
    );
}

#[test]
fn rfc6888_port_reuse_delay_and_expiry_with_fake_clock() {
    // One SNAT address, one port.
    let snat = egress_config::Snat {
        pool_v4: vec![SNAT],
        port_min: 2000,
        port_max: 2000,
        sessions_per_worker: 16,
        timeouts: egress_config::Timeouts {
            udp: 2,
            port_reuse_delay: 5,
            ..Default::default()
        },
        ..Default::default()
    };
    let mut n = Nat::new(&NatConfig::from_config(&snat, 1, None, None), 0);
    let q = go_out(&mut n, &udp4(POD, 1, SERVER, 53, b"x"), 0);
    assert_eq!(sport(&q), 2000);
    // Port taken: the other pod fails while the session lives.
    let other = udp4(POD2, 1, SERVER, 53, b"x");
    assert_eq!(
        in2out(&mut n, &other, 1000).2,
        Some(DropReason::NatPortsExhausted)
    );
    // The session expires at 2 s; poll frees it; the port cools down until 2 + 5 s.
    n.poll(2000);
    assert_eq!(n.counters().sessions_active[0], 0);
    assert_eq!(n.counters().mappings_active, 0);
    assert_eq!(
        in2out(&mut n, &other, 6999).2,
        Some(DropReason::NatPortsExhausted)
    );
    assert_eq!(n.table().pool(false).addrs()[0].blocks[1].cooling(), 1);
    n.poll(7000);
    let q = go_out(&mut n, &other, 7000);
    assert_eq!(sport(&q), 2000);
    assert_eq!(
        n.counters().alloc_failures[OpenError::PortsExhausted.index()],
        2
    );
}

#[test]
fn exhaustion_drops_new_flows_and_keeps_old_ones() {
    let mut n = Nat::new(&config(&[SNAT], 3000, 3003, 1), 0);
    let mut ports = Vec::new();
    for i in 0..4u8 {
        let q = go_out(
            &mut n,
            &udp4(Ipv4Addr::new(10, 244, 5, i), 50000, SERVER, 53, b"x"),
            0,
        );
        ports.push(sport(&q));
    }
    ports.sort();
    assert_eq!(ports, vec![3000, 3001, 3002, 3003]);
    for i in 4..10u8 {
        let (k, _, r) = in2out(
            &mut n,
            &udp4(Ipv4Addr::new(10, 244, 5, i), 50000, SERVER, 53, b"x"),
            1,
        );
        assert_eq!((k, r), ("drop", Some(DropReason::NatPortsExhausted)));
    }
    // Existing mappings still open new sessions (EIM) and pass traffic both ways.
    let q = go_out(
        &mut n,
        &udp4(Ipv4Addr::new(10, 244, 5, 0), 50000, SERVER2, 53, b"x"),
        2,
    );
    go_in(&mut n, &udp4(SERVER2, 53, SNAT, sport(&q), b"y"), 3);
    // Other protocols have their own port space.
    go_out(
        &mut n,
        &tcp4(Ipv4Addr::new(10, 244, 5, 9), 50000, SERVER, 80, SYN),
        4,
    );
    assert_eq!(
        n.counters().alloc_failures[OpenError::PortsExhausted.index()],
        6
    );
}

#[test]
fn per_pod_quota() {
    let snat = egress_config::Snat {
        pool_v4: vec![SNAT],
        ports_per_pod: 2,
        sessions_per_worker: 64,
        ..Default::default()
    };
    let mut n = Nat::new(&NatConfig::from_config(&snat, 1, None, None), 0);
    go_out(&mut n, &udp4(POD, 1, SERVER, 53, b"x"), 0);
    go_out(&mut n, &udp4(POD, 2, SERVER, 53, b"x"), 0);
    // A new session on an existing mapping costs no port.
    go_out(&mut n, &udp4(POD, 2, SERVER2, 53, b"x"), 0);
    assert_eq!(
        in2out(&mut n, &udp4(POD, 3, SERVER, 53, b"x"), 0).2,
        Some(DropReason::NatPodQuota)
    );
    go_out(&mut n, &udp4(POD2, 3, SERVER, 53, b"x"), 0);
    assert_eq!(n.counters().alloc_failures[OpenError::PodQuota.index()], 1);
}

#[test]
fn full_table_drops_new_flows() {
    let snat = egress_config::Snat {
        pool_v4: vec![SNAT],
        sessions_per_worker: 3,
        ..Default::default()
    };
    let mut n = Nat::new(&NatConfig::from_config(&snat, 1, None, None), 0);
    for p in 1..=3 {
        go_out(&mut n, &udp4(POD, p, SERVER, 53, b"x"), 0);
    }
    assert_eq!(
        in2out(&mut n, &udp4(POD, 9, SERVER, 53, b"x"), 0).2,
        Some(DropReason::NatTableFull)
    );
    assert_eq!(n.counters().mappings_active, 3, "no mapping leaked");
}

#[test]
fn automap_and_no_address() {
    let self_ip = Ipv4Addr::new(192, 0, 2, 2);
    let snat = egress_config::Snat::default();
    let mut n = Nat::new(&NatConfig::from_config(&snat, 1, Some(self_ip), None), 0);
    let q = go_out(&mut n, &udp4(POD, 1234, SERVER, 53, b"x"), 0);
    assert_eq!(src4(&q), self_ip);
    go_in(&mut n, &udp4(SERVER, 53, self_ip, sport(&q), b"y"), 1);
    let mut n = Nat::new(&NatConfig::from_config(&snat, 1, None, None), 0);
    assert_eq!(
        in2out(&mut n, &udp4(POD, 1234, SERVER, 53, b"x"), 0).2,
        Some(DropReason::NatNoAddress)
    );
    assert_eq!(n.counters().alloc_failures[OpenError::NoAddress.index()], 1);
}

#[test]
fn workers_own_disjoint_port_blocks_and_find_the_owner() {
    let cfg = config(&[SNAT], 1024, 65535, 4);
    let mut ws: Vec<Nat> = (0..4).map(|w| Nat::new(&cfg, w)).collect();
    for (w, n) in ws.iter_mut().enumerate() {
        let mut taken = std::collections::HashSet::new();
        for i in 0..50u16 {
            let pod = Ipv4Addr::new(10, 244, 7, (i % 200) as u8);
            let q = go_out(n, &udp4(pod, 20000 + i, SERVER, 53, b"x"), 0);
            let port = sport(&q);
            assert_eq!(owner_worker(port, 4), w as u16);
            let reply = udp4(SERVER, 53, SNAT, port, b"y");
            assert_eq!(n.owner_of(&reply), Some(w as u16));
            let err = icmp4_error(ROUTER, SNAT, 3, 3, &q, 28);
            assert_eq!(n.owner_of(&err), Some(w as u16));
            // Preserved when the pod's port is in this worker's block and still free.
            let mine = owner_worker(20000 + i, 4) == w as u16;
            assert_eq!(port == 20000 + i, mine && !taken.contains(&(20000 + i)));
            taken.insert(port);
        }
    }
    // Not a NAT return packet.
    assert_eq!(ws[0].owner_of(&udp4(SERVER, 53, SERVER2, 1, b"")), None);
    assert_eq!(ws[0].owner_of(&echo4(SERVER, SNAT, true, 1, 1)), None);
    assert_eq!(ws[0].owner_of(&[0x45, 0, 0]), None);
}

#[test]
fn egress_not_applied_or_disabled_passes() {
    let mut n = nat();
    let p = udp4(POD, 1, SERVER, 53, b"x");
    let o = n.in2out(VecFrame::new(&p), &NatMeta { egress: false }, 0);
    assert_eq!(o.kind(), "pass");
    let mut cfg = config(&[SNAT], 1024, 65535, 1);
    cfg.enabled = false;
    let mut off = Nat::new(&cfg, 0);
    assert_eq!(in2out(&mut off, &p, 0).0, "pass");
    assert_eq!(
        out2in(&mut off, &udp4(SERVER, 53, SNAT, 1, b""), 0).0,
        "pass"
    );
    // Not IP at all.
    assert_eq!(in2out(&mut n, &[0x00, 1, 2], 0).0, "pass");
}

#[test]
fn hairpin_fragments_and_other_protocols_are_counted_drops() {
    let mut n = nat();
    let (_, _, r) = in2out(&mut n, &udp4(POD, 1, SNAT, 5, b"x"), 0);
    assert_eq!(r, Some(DropReason::NatHairpin));
    let mut frag = udp4(POD, 1, SERVER, 5, b"x");
    frag[6] = 0x00;
    frag[7] = 0x08;
    frag[10] = 0;
    frag[11] = 0;
    let c = checksum::checksum(&frag[..20]);
    frag[10..12].copy_from_slice(&c.to_be_bytes());
    assert_eq!(in2out(&mut n, &frag, 0).2, Some(DropReason::NatFragment));
    // A first fragment (MF, offset 0) has its ports: translated.
    let mut first = udp4(POD, 1, SERVER, 5, b"x");
    first[6] = 0x20;
    first[10] = 0;
    first[11] = 0;
    let c = checksum::checksum(&first[..20]);
    first[10..12].copy_from_slice(&c.to_be_bytes());
    go_out(&mut n, &first, 0);
    let gre = ipv4(POD, SERVER, 47, &[0; 8]);
    assert_eq!(
        in2out(&mut n, &gre, 0).2,
        Some(DropReason::NatUnsupportedProtocol)
    );
    let short = ipv4(POD, SERVER, 6, &[0; 10]);
    assert_eq!(in2out(&mut n, &short, 0).2, Some(DropReason::NatMalformed));
    let mut bad = udp4(POD, 1, SERVER, 5, b"x");
    bad[3] = 200; // total length past the buffer
    assert_eq!(in2out(&mut n, &bad, 0).2, Some(DropReason::NatMalformed));
}

#[test]
fn poll_expires_in_bounded_steps() {
    let mut n = nat();
    for i in 0..1000u16 {
        go_out(&mut n, &udp4(POD, 10000 + i, SERVER, 53, b"x"), 0);
    }
    assert_eq!(n.counters().sessions_active[0], 1000);
    let mut polls = 0;
    let mut freed = 0;
    while freed < 1000 {
        let f = n.poll(300_000);
        assert!(f <= POLL_BUDGET);
        freed += f;
        polls += 1;
        assert!(polls < 100);
    }
    let c = n.counters();
    assert_eq!(c.sessions_active[0], 0);
    assert_eq!(c.vs(SessionKind::Snat44).clientside_cur_conns, 0);
    assert_eq!(c.vs(SessionKind::Snat44).clientside_tot_conns, 1000);
    assert_eq!(c.mappings_active, 0);
    assert!(n.table().is_empty());
}

#[test]
fn bytes_per_session_within_budget() {
    // Two cache lines, the first one all an in2out hit of SNAT reads.
    assert_eq!(std::mem::size_of::<Session>(), 128);
    assert_eq!(std::mem::align_of::<Session>(), 64);
    let cfg = config(&[SNAT], 1024, 65535, 1);
    let mut c = cfg.clone();
    c.table.capacity = 1 << 20;
    let n = Nat::new(&c, 0);
    let b = n.table().bytes_per_session();
    assert!(b <= 256, "{b} bytes per session");
}

#[test]
fn counters_add_up_over_workers() {
    let mut a = nat();
    let mut b = nat();
    go_out(&mut a, &udp4(POD, 1, SERVER, 53, b"x"), 0);
    go_out(&mut b, &udp4(POD, 2, SERVER, 53, b"x"), 0);
    let mut sum = a.counters();
    sum.add(&b.counters());
    assert_eq!(sum.vs(SessionKind::Snat44).clientside_tot_conns, 2);
    assert_eq!(sum.sessions_active[SessionKind::Snat44.index()], 2);
    assert_eq!(SessionKind::Snat44.vs_name(), "egress-ipv4");
    assert_eq!(SessionKind::Snat66.vs_name(), "egress-ipv6");
}

#[test]
fn addr_helpers_round_trip() {
    assert_eq!(addr_ip(&addr_v4(SNAT)), std::net::IpAddr::V4(SNAT));
    assert_eq!(addr_ip(&addr_v6(&snat6())), std::net::IpAddr::V6(snat6()));
}

/// Builds (reply to the SNAT port, the reply as the pod must see it).
type ReplyFn = Box<dyn Fn(u16) -> (Vec<u8>, Vec<u8>)>;

proptest! {
    /// Any UDP/TCP/echo flow: the translated packet and the translated reply carry valid
    /// checksums, and the reply reaches the pod exactly as the server sent it (but addressed
    /// to the pod).
    #[test]
    fn round_trip_keeps_checksums_valid(
        pod in any::<[u8; 4]>(), server in any::<[u8; 4]>(), sp in 1u16.., dp in 1u16..,
        payload in proptest::collection::vec(any::<u8>(), 0..64), proto in 0u8..3, v6 in any::<bool>(),
    ) {
        let mut n = nat();
        let pod4 = Ipv4Addr::from([10, pod[1], pod[2], pod[3]]);
        let srv4 = Ipv4Addr::from([198, server[1], server[2], server[3]]);
        let pod6a = Ipv6Addr::from([0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, pod[0], pod[1], pod[2], pod[3]]);
        let srv6a = Ipv6Addr::from([0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, server[0], server[1], server[2], server[3]]);
        let (out, back): (Vec<u8>, ReplyFn) = match (proto, v6) {
            (0, false) => (udp4(pod4, sp, srv4, dp, &payload), Box::new(move |p| (udp4(srv4, dp, SNAT, p, &payload), udp4(srv4, dp, pod4, sp, &payload)))),
            (1, false) => (tcp4(pod4, sp, srv4, dp, SYN), Box::new(move |p| (tcp4(srv4, dp, SNAT, p, SYN | ACK), tcp4(srv4, dp, pod4, sp, SYN | ACK)))),
            (_, false) => (echo4(pod4, srv4, true, sp, dp), Box::new(move |p| (echo4(srv4, SNAT, false, p, dp), echo4(srv4, pod4, false, sp, dp)))),
            (0, true) => (udp6(&pod6a, sp, &srv6a, dp, &payload), Box::new(move |p| (udp6(&srv6a, dp, &snat6(), p, &payload), udp6(&srv6a, dp, &pod6a, sp, &payload)))),
            (1, true) => (tcp6(&pod6a, sp, &srv6a, dp, SYN), Box::new(move |p| (tcp6(&srv6a, dp, &snat6(), p, SYN | ACK), tcp6(&srv6a, dp, &pod6a, sp, SYN | ACK)))),
            (_, true) => (echo6(&pod6a, &srv6a, true, sp, dp), Box::new(move |p| (echo6(&srv6a, &snat6(), false, p, dp), echo6(&srv6a, &pod6a, false, sp, dp)))),
        };
        let q = go_out(&mut n, &out, 0);
        let hl = if v6 { 40 } else { 20 };
        let port = if proto == 2 { u16::from_be_bytes([q[hl + 4], q[hl + 5]]) } else { sport(&q) };
        let (reply, expect) = back(port);
        let r = go_in(&mut n, &reply, 1);
        prop_assert_eq!(r, expect);
    }

    /// Random bytes (mostly IPv4/IPv6-looking) never panic either stage and never grow or
    /// shrink the packet.
    #[test]
    fn random_packets_never_panic(
        first in prop_oneof![Just(0x45u8), Just(0x46), Just(0x60), any::<u8>()],
        proto in prop_oneof![Just(1u8), Just(6), Just(17), Just(58), Just(44), Just(0), any::<u8>()],
        body in proptest::collection::vec(any::<u8>(), 0..160),
        fix_len in any::<bool>(),
        to_snat in any::<bool>(),
    ) {
        let mut n = nat();
        // Some state for the random packets to hit.
        go_out(&mut n, &udp4(POD, 1000, SERVER, 53, b"x"), 0);
        go_out(&mut n, &echo4(POD, SERVER, true, 5, 1), 0);
        let mut p = vec![first];
        p.extend_from_slice(&body);
        if p.len() >= 40 {
            if first >> 4 == 4 {
                p[9] = proto;
                if to_snat { p[16..20].copy_from_slice(&SNAT.octets()); }
                if fix_len {
                    let l = p.len() as u16;
                    p[2..4].copy_from_slice(&l.to_be_bytes());
                }
            } else if first >> 4 == 6 {
                p[6] = proto;
                if to_snat { p[24..40].copy_from_slice(&snat6().octets()); }
                if fix_len {
                    let l = (p.len() - 40) as u16;
                    p[4..6].copy_from_slice(&l.to_be_bytes());
                }
            }
        }
        let (_, a, _) = in2out(&mut n, &p, 1);
        prop_assert_eq!(a.len(), p.len());
        let (_, b, _) = out2in(&mut n, &p, 2);
        prop_assert_eq!(b.len(), p.len());
        let _ = n.owner_of(&p);
        n.poll(3);
    }

    /// ICMP errors with random embedded bytes after a valid-looking prefix never panic.
    #[test]
    fn random_icmp_errors_never_panic(
        inner in proptest::collection::vec(any::<u8>(), 0..80),
        t in prop_oneof![Just(3u8), Just(11), Just(12)],
        keep_prefix in any::<bool>(),
    ) {
        let mut n = nat();
        let sent = go_out(&mut n, &udp4(POD, 1000, SERVER, 53, b"x"), 0);
        let mut emb = if keep_prefix { sent[..20].to_vec() } else { Vec::new() };
        emb.extend_from_slice(&inner);
        let e = icmp4_error(ROUTER, SNAT, t, 0, &emb, emb.len());
        let _ = out2in(&mut n, &e, 1);
        let e = icmp4_error(POD, SERVER, t, 0, &emb, emb.len());
        let _ = in2out(&mut n, &e, 1);
        let e6 = icmp6_error(&server6(), &snat6(), 1, &emb, emb.len());
        let _ = out2in(&mut n, &e6, 1);
    }
}

/// Several workers (issue 4, build 4): RSS puts a flow's packets from the pod on one worker,
/// which opens the session from its own port block; the reply may arrive on any worker. The
/// hand-off owner computed from the received frame (Ethernet, optional 802.1Q tag) on the
/// *other* worker is the worker holding the session, for UDP, TCP, ICMP echo identifiers,
/// ICMP errors and SNAT66. The other worker has no session for it (it would not translate).
#[test]
fn handoff_owner_from_the_frame_is_the_worker_holding_the_session() {
    use crate::datapath::handoff::{frame_ip, Owners};
    let cfg = config(&[SNAT], 1024, 65535, 2);
    let mut ws = [Nat::new(&cfg, 0), Nat::new(&cfg, 1)];
    let owners = Owners::new(2, Some((61440, 65535)));
    let frame = |ip: &[u8], tagged: bool| {
        let mut f = vec![0u8; 12];
        if tagged {
            f.extend_from_slice(&[0x81, 0x00, 0x00, 0x64]);
        }
        let et: u16 = if ip[0] >> 4 == 4 { 0x0800 } else { 0x86dd };
        f.extend_from_slice(&et.to_be_bytes());
        f.extend_from_slice(ip);
        f
    };
    let echo_id = |p: &[u8]| {
        let hl = if p[0] >> 4 == 4 {
            usize::from(p[0] & 0xf) * 4
        } else {
            40
        };
        u16::from_be_bytes([p[hl + 4], p[hl + 5]])
    };
    let mut per_worker = [0usize; 2];
    for i in 0..64u16 {
        let w = usize::from(i % 2);
        let pod = Ipv4Addr::new(10, 244, 9, i as u8);
        let (out, reply) = match i % 5 {
            0 => {
                let q = go_out(&mut ws[w], &udp4(pod, 40000 + i, SERVER, 53, b"x"), 0);
                let r = udp4(SERVER, 53, SNAT, sport(&q), b"y");
                (q, r)
            }
            1 => {
                let q = go_out(&mut ws[w], &tcp4(pod, 40000 + i, SERVER, 443, SYN), 0);
                let r = tcp4(SERVER, 443, SNAT, sport(&q), SYN | ACK);
                (q, r)
            }
            2 => {
                let q = go_out(&mut ws[w], &echo4(pod, SERVER, true, 7 + i, 1), 0);
                let r = echo4(SERVER, SNAT, false, echo_id(&q), 1);
                (q, r)
            }
            3 => {
                let q = go_out(&mut ws[w], &udp4(pod, 40000 + i, SERVER, 53, b"x"), 0);
                let r = icmp4_error(ROUTER, SNAT, 3, 3, &q, 28);
                (q, r)
            }
            _ => {
                let p6: Ipv6Addr = format!("fd00:10:244::{i:x}").parse().unwrap();
                let q = go_out(&mut ws[w], &udp6(&p6, 40000 + i, &server6(), 53, b"x"), 0);
                let r = udp6(&server6(), 53, &snat6(), sport(&q), b"y");
                (q, r)
            }
        };
        let f = frame(&reply, i % 3 == 0);
        let other = 1 - w;
        let ip = frame_ip(&f).unwrap();
        assert_eq!(
            owners.owner(ip, Some(&ws[other])),
            Some(w as u16),
            "case {i}"
        );
        assert_eq!(owners.owner(ip, Some(&ws[w])), Some(w as u16), "case {i}");
        if i % 5 != 3 {
            // Not found on the other worker: it passes (nothing translates it there).
            assert_eq!(out2in(&mut ws[other], &reply, 1).0, "pass", "case {i}");
        }
        let back = go_in(&mut ws[w], &reply, 1);
        assert!(!back.is_empty() && !out.is_empty());
        per_worker[w] += 1;
    }
    assert_eq!(per_worker, [32, 32]);
    // Pod-side packets and packets to other addresses have no owner: processed where they land.
    let to_world = frame(&udp4(POD, 1, SERVER, 53, b"x"), false);
    assert_eq!(
        owners.owner(frame_ip(&to_world).unwrap(), Some(&ws[0])),
        None
    );
    let echo_req = frame(&echo4(SERVER, SNAT, true, 1, 1), false);
    assert_eq!(
        owners.owner(frame_ip(&echo_req).unwrap(), Some(&ws[0])),
        None
    );
}

/// Exhaustion (issue 11, item 4): a flood of new flows into a full session table, then into an
/// exhausted port block. Every refused flow is a counted drop (`nat_table_full`,
/// `nat_ports_exhausted`); the table never holds more than its capacity and its memory does
/// not change; the flows opened before keep translating both ways with their ports; once
/// sessions expire, new flows open again.
#[test]
fn exhaustion_flood_is_counted_bounded_and_existing_flows_keep_working() {
    let snat = egress_config::Snat {
        pool_v4: vec![SNAT],
        sessions_per_worker: 32,
        ..Default::default()
    };
    let mut n = Nat::new(&NatConfig::from_config(&snat, 1, None, None), 0);
    let (bps, pool_bytes) = (n.table().bytes_per_session(), n.table().pool_bytes());
    let pod = |i: u32| Ipv4Addr::from(0x0af4_0000 + i);
    let mut flows = Vec::new();
    for i in 0..32u32 {
        let q = go_out(&mut n, &udp4(pod(i), 5000, SERVER, 53, b"x"), 0);
        flows.push((pod(i), sport(&q)));
    }
    // Full table: 20 000 new flows from other pods and ports, all refused and counted.
    for i in 0..20_000u32 {
        let p = udp4(
            pod(1000 + i % 5000),
            1024 + (i / 5000) as u16,
            SERVER,
            53,
            b"x",
        );
        assert_eq!(in2out(&mut n, &p, 1).2, Some(DropReason::NatTableFull));
    }
    let c = n.counters();
    assert_eq!(c.alloc_failures[OpenError::TableFull.index()], 20_000);
    assert_eq!(n.table().len(), 32);
    assert_eq!(c.mappings_active, 32, "no mapping leaked");
    assert_eq!(n.table().bytes_per_session(), bps);
    assert_eq!(n.table().pool_bytes(), pool_bytes);
    // Existing flows: same outside port, both ways.
    for &(a, port) in &flows {
        let q = go_out(&mut n, &udp4(a, 5000, SERVER, 53, b"again"), 2);
        assert_eq!(sport(&q), port);
        let r = go_in(&mut n, &udp4(SERVER, 53, SNAT, port, b"reply"), 2);
        assert_eq!(v4_at(&r, 16), a);
    }
    // Everything expires (UDP 300 s); the sweep frees it in bounded steps; new flows open.
    let later = 2 + 301_000;
    while n.poll(later) > 0 {}
    assert_eq!(n.table().len(), 0);
    go_out(&mut n, &udp4(pod(40_000), 5000, SERVER, 53, b"x"), later);

    // Exhausted ports: one address, 8 ports; a flood of 10 000 new flows is refused and
    // counted, the 8 flows keep working.
    let mut n = Nat::new(&config(&[SNAT], 7000, 7007, 1), 0);
    let mut flows = Vec::new();
    for i in 0..8u32 {
        let q = go_out(&mut n, &udp4(pod(i), 6000, SERVER, 53, b"x"), 0);
        flows.push((pod(i), sport(&q)));
    }
    for i in 0..10_000u32 {
        let p = udp4(pod(100 + i), 6000, SERVER, 53, b"x");
        assert_eq!(in2out(&mut n, &p, 1).2, Some(DropReason::NatPortsExhausted));
    }
    assert_eq!(
        n.counters().alloc_failures[OpenError::PortsExhausted.index()],
        10_000
    );
    assert_eq!(n.table().len(), 8);
    assert_eq!(n.counters().mappings_active, 8);
    for &(a, port) in &flows {
        assert_eq!(
            sport(&go_out(&mut n, &udp4(a, 6000, SERVER, 53, b"y"), 2)),
            port
        );
        let r = go_in(&mut n, &udp4(SERVER, 53, SNAT, port, b"z"), 2);
        assert_eq!(v4_at(&r, 16), a);
    }
}

// ---- the plain TCP/UDP path against the general path ----

/// One step of a differential run: a packet from a pod (`out`), or the world's answer to the
/// packet the NAT last sent out for flow `flow` (`back`), possibly damaged.
#[derive(Debug, Clone)]
struct DiffStep {
    back: bool,
    v6: bool,
    tcp: bool,
    flow: usize,
    flags: u8,
    payload: usize,
    /// Bytes cut off the end (0: intact) and a byte to overwrite (index, value).
    cut: usize,
    poke: Option<(usize, u8)>,
    /// Milliseconds since the previous step.
    wait: u64,
}

fn diff_step() -> impl Strategy<Value = DiffStep> {
    (
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        0usize..6,
        prop::sample::select(vec![SYN, ACK, SYN | ACK, RST, FIN | ACK, 0]),
        0usize..24,
        prop_oneof![4 => Just(0usize), 1 => 1usize..30],
        prop_oneof![4 => Just(None), 1 => (0usize..60, any::<u8>()).prop_map(Some)],
        prop_oneof![3 => 0u64..50, 1 => 0u64..400_000],
    )
        .prop_map(
            |(back, v6, tcp, flow, flags, payload, cut, poke, wait)| DiffStep {
                back,
                v6,
                tcp,
                flow,
                flags,
                payload,
                cut,
                poke,
                wait,
            },
        )
}

/// The packet a pod sends for `s`.
fn diff_out_packet(s: &DiffStep) -> Vec<u8> {
    let sport = 40_000 + s.flow as u16;
    let payload = vec![0x5a; s.payload];
    match (s.v6, s.tcp) {
        (false, false) => udp4(POD, sport, SERVER, 53, &payload),
        (false, true) => tcp4(POD, sport, SERVER, 443, s.flags),
        (true, false) => udp6(&pod6(), sport, &server6(), 53, &payload),
        (true, true) => tcp6(&pod6(), sport, &server6(), 443, s.flags),
    }
}

/// The world's answer to `sent` (what the NAT sent out): addresses and ports swapped.
fn diff_reply(sent: &[u8], s: &DiffStep) -> Option<Vec<u8>> {
    let v6 = sent.first()? >> 4 == 6;
    let (hdr, proto) = if v6 {
        (40, *sent.get(6)?)
    } else {
        (20, *sent.get(9)?)
    };
    let l4 = sent.get(hdr..hdr + 4)?;
    let (sport, dport) = (
        u16::from_be_bytes([l4[0], l4[1]]),
        u16::from_be_bytes([l4[2], l4[3]]),
    );
    let payload = vec![0xa5; s.payload];
    Some(match (v6, proto) {
        (false, 17) => udp4(v4_at(sent, 16), dport, v4_at(sent, 12), sport, &payload),
        (false, 6) => tcp4(v4_at(sent, 16), dport, v4_at(sent, 12), sport, s.flags),
        (true, 17) => udp6(&v6_at(sent, 24), dport, &v6_at(sent, 8), sport, &payload),
        (true, 6) => tcp6(&v6_at(sent, 24), dport, &v6_at(sent, 8), sport, s.flags),
        _ => return None,
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// `in2out_bytes`/`out2in_bytes` (which try the plain TCP/UDP path first) give exactly what
    /// the general path gives, step after step on two NATs fed the same packets: the same
    /// verdict, the same bytes, the same counters. Damaged packets (cut short, a byte
    /// overwritten) included: the plain path must decline what it cannot take.
    #[test]
    fn plain_path_agrees_with_the_general_path(steps in prop::collection::vec(diff_step(), 1..40)) {
        let mut fast = nat();
        // A clone: the same hash secret and random sequence, so the same ports are chosen.
        let mut general = fast.clone();
        let mut sent: Vec<Option<Vec<u8>>> = vec![None; 6];
        let mut now = 1_000u64;
        for s in &steps {
            now += s.wait;
            let mut p = if s.back {
                match sent[s.flow].as_ref().and_then(|out| diff_reply(out, s)) {
                    Some(p) => p,
                    None => continue,
                }
            } else {
                diff_out_packet(s)
            };
            if let Some((i, v)) = s.poke {
                if let Some(b) = p.get_mut(i) {
                    *b = v;
                }
            }
            p.truncate(p.len().saturating_sub(s.cut));
            let mut a = p.clone();
            let mut b = p;
            let (x, y) = if s.back {
                (fast.out2in_bytes(&mut a, now), general.out2in_general(&mut b, now))
            } else {
                (fast.in2out_bytes(&mut a, now), general.in2out_general(&mut b, now))
            };
            prop_assert_eq!(x, y, "verdict of {:?}", s);
            prop_assert_eq!(&a, &b, "bytes of {:?}", s);
            prop_assert_eq!(
                format!("{:?}", fast.counters()),
                format!("{:?}", general.counters()),
                "counters after {:?}", s
            );
            if !s.back && x == Step::Route {
                sent[s.flow] = Some(a);
            }
        }
    }
}
