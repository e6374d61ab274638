//! Stage-level tests: packets in, packets out, messages built and read with hickory-proto.
//! One test per DNS46 seed sentence (`seed_*`) and per RFC 6147 rule (`rfc6147_*`).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::opt::{EdnsCode, EdnsOption};
use hickory_proto::rr::{RData, Record, RecordType};
use proptest::prelude::*;

use super::message::encode;
use super::message::tests::{a, aaaa, cname, name, soa};
use super::packet::{parse_udp, udp_checksum_ok, write_udp, UdpMeta};
use super::*;
use crate::action::TestEnv;
use crate::frame::VecFrame;

const POD4: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 5);
const RESOLVER4: Ipv4Addr = Ipv4Addr::new(10, 96, 0, 10);
const SELF4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 254);
const SERVER_A: &str = "198.51.100.53:53";
const SERVER_B: &str = "198.51.100.54:53";
const SERVER_CORP: &str = "203.0.113.53:5353";

fn pod6() -> Ipv6Addr {
    "fd00:1::5".parse().unwrap()
}
fn resolver6() -> Ipv6Addr {
    "fd00:96::10".parse().unwrap()
}
fn self6() -> Ipv6Addr {
    "2001:db8:ffff::254".parse().unwrap()
}

/// A mapping table stand-in: `pending` makes every new IPv6 wait for `complete()`.
#[derive(Default)]
struct FakeMap {
    map: HashMap<Ipv6Addr, Ipv4Addr>,
    next: u8,
    slice: u8,
    pending: bool,
    waiting: Vec<Ipv6Addr>,
    unavailable: bool,
}

impl FakeMap {
    fn new() -> FakeMap {
        FakeMap {
            slice: 8,
            ..Default::default()
        }
    }
    fn complete(&mut self) {
        self.pending = false;
    }
}

impl Mapper46 for FakeMap {
    fn map_v6(&mut self, v6: Ipv6Addr, _now: u64) -> Map46 {
        if self.unavailable {
            return Map46::Unavailable;
        }
        if let Some(v4) = self.map.get(&v6) {
            return Map46::Mapped {
                v4: *v4,
                created: false,
            };
        }
        if self.pending {
            self.waiting.push(v6);
            return Map46::Pending;
        }
        if self.next >= self.slice {
            return Map46::Exhausted;
        }
        let v4 = Ipv4Addr::new(100, 64, 0, 10 + self.next);
        self.next += 1;
        self.map.insert(v6, v4);
        Map46::Mapped { v4, created: true }
    }
}

fn settings() -> DnsSettings {
    DnsSettings {
        self_v4: Some(SELF4),
        self_v6: Some(self6()),
        query_ports: (61440, 61500),
        zones: vec![
            Zone {
                name: name("."),
                servers: vec![SERVER_A.parse().unwrap(), SERVER_B.parse().unwrap()],
            },
            Zone {
                name: name("corp.example."),
                servers: vec![SERVER_CORP.parse().unwrap()],
            },
        ],
        cache_entries: 128,
        cache_bytes: 1 << 20,
        pending_capacity: 16,
        upstream_timeout_ms: 1000,
        rate_limit: 0,
        rate_slots: 64,
        dns46: Some(Dns46Settings {
            max_ttl: 120,
            sorry_ip: Some(Ipv4Addr::new(100, 64, 255, 254)),
            mapping_timeout_ms: 1000,
        }),
        dns64: Some(Dns64Settings {
            prefix: Prefix6 {
                addr: "64:ff9b::".parse().unwrap(),
                len: 96,
            },
            exclusions: vec![],
        }),
        debug_log: true,
    }
}

struct H {
    p: DnsProxy,
    env: TestEnv,
    map: FakeMap,
    now: u64,
}

impl H {
    fn new() -> H {
        Self::with(settings())
    }
    fn with(s: DnsSettings) -> H {
        H {
            p: DnsProxy::new(s, [7; 32]),
            env: TestEnv::default(),
            map: FakeMap::new(),
            now: 1_000_000,
        }
    }

    fn pod_query(&mut self, q: &Message) -> Outcome<VecFrame> {
        self.pod_query_from(IpAddr::V4(POD4), IpAddr::V4(RESOLVER4), q)
    }

    fn pod_query_from(&mut self, src: IpAddr, dst: IpAddr, q: &Message) -> Outcome<VecFrame> {
        let mut buf = Vec::new();
        assert!(encode(q, &mut buf));
        let f = udp_frame(src, dst, 40000, 53, &buf);
        self.p.from_pod(f, self.now, &mut self.env)
    }

    /// Takes the routed packets.
    fn take(&mut self) -> Vec<(UdpMeta, Message)> {
        self.env
            .routed
            .drain(..)
            .map(|f| {
                let m = parse_udp(f.data()).unwrap().unwrap();
                assert!(udp_checksum_ok(f.data(), &m), "checksum of emitted packet");
                let msg = Message::from_vec(&f.data()[m.payload()]).unwrap();
                (m, msg)
            })
            .collect()
    }

    /// The one upstream query emitted since the last call.
    fn upstream(&mut self) -> (UdpMeta, Message) {
        let mut v = self.take();
        assert_eq!(v.len(), 1, "one upstream query");
        let (m, q) = v.remove(0);
        assert_eq!(q.metadata.message_type, MessageType::Query);
        (m, q)
    }

    /// Answers the upstream query `(m, q)` with `answers` / `authorities` / `rcode`.
    fn answer(
        &mut self,
        m: &UdpMeta,
        q: &Message,
        rcode: ResponseCode,
        answers: Vec<Record>,
        authorities: Vec<Record>,
    ) -> Outcome<VecFrame> {
        let mut r = Message::response(q.metadata.id, OpCode::Query);
        r.metadata.response_code = rcode;
        r.metadata.recursion_available = true;
        r.add_query(q.queries[0].clone());
        r.answers = answers;
        r.authorities = authorities;
        self.deliver(m.dst, m.src, m.dport, m.sport, &r)
    }

    fn deliver(
        &mut self,
        server: IpAddr,
        to: IpAddr,
        sport: u16,
        dport: u16,
        r: &Message,
    ) -> Outcome<VecFrame> {
        let mut buf = Vec::new();
        assert!(encode(r, &mut buf));
        self.deliver_raw(server, to, sport, dport, &buf)
    }

    fn deliver_raw(
        &mut self,
        server: IpAddr,
        to: IpAddr,
        sport: u16,
        dport: u16,
        payload: &[u8],
    ) -> Outcome<VecFrame> {
        let f = udp_frame(server, to, sport, dport, payload);
        self.p
            .from_upstream(f, self.now, &mut self.env, &mut self.map)
    }

    /// The answer to the pod (one packet, checked to go back from the resolver address).
    fn pod_answer(&mut self) -> Message {
        let mut v = self.take();
        assert_eq!(v.len(), 1, "one answer to the pod");
        let (m, msg) = v.remove(0);
        assert_eq!(m.dst, IpAddr::V4(POD4));
        assert_eq!(m.src, IpAddr::V4(RESOLVER4));
        assert_eq!((m.sport, m.dport), (53, 40000));
        assert_eq!(msg.metadata.message_type, MessageType::Response);
        msg
    }

    fn poll(&mut self) {
        self.p.poll(self.now, &mut self.env, &mut self.map);
    }
}

fn udp_frame(src: IpAddr, dst: IpAddr, sport: u16, dport: u16, payload: &[u8]) -> VecFrame {
    let mut f = VecFrame::new(&[]);
    write_udp(&mut f, src, dst, sport, dport, payload).unwrap();
    f
}

fn query(id: u16, n: &str, t: RecordType) -> Message {
    let mut m = Message::new(id, MessageType::Query, OpCode::Query);
    m.metadata.recursion_desired = true;
    m.add_query(Query::query(name(n), t));
    m
}

fn query_edns(id: u16, n: &str, t: RecordType, dnssec_ok: bool, cd: bool) -> Message {
    let mut m = query(id, n, t);
    let mut e = Edns::new();
    e.set_max_payload(1232);
    e.set_dnssec_ok(dnssec_ok);
    m.set_edns(e);
    m.metadata.checking_disabled = cd;
    m
}

fn a_addrs(m: &Message) -> Vec<Ipv4Addr> {
    m.answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(x) => Some(x.0),
            _ => None,
        })
        .collect()
}

fn aaaa_addrs(m: &Message) -> Vec<Ipv6Addr> {
    m.answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::AAAA(x) => Some(x.0),
            _ => None,
        })
        .collect()
}

fn ttl_of(m: &Message, t: RecordType) -> u32 {
    m.answers
        .iter()
        .find(|r| r.record_type() == t)
        .map(|r| r.ttl)
        .unwrap()
}

// ---------------------------------------------------------------------------------------
// Interception
// ---------------------------------------------------------------------------------------

#[test]
fn intercepts_udp53_to_any_destination_and_answers_from_that_address() {
    let mut h = H::new();
    // Any destination: the pod's resolver address leads nowhere.
    let dst = IpAddr::V4(Ipv4Addr::new(8, 8, 4, 4));
    assert_eq!(
        h.pod_query_from(
            IpAddr::V4(POD4),
            dst,
            &query(1, "x.example.", RecordType::A)
        )
        .kind(),
        "held"
    );
    let (m, q) = h.upstream();
    h.answer(
        &m,
        &q,
        ResponseCode::NoError,
        vec![a("x.example.", 60, "192.0.2.7")],
        vec![],
    );
    let v = h.take();
    assert_eq!(
        v[0].0.src, dst,
        "the answer comes from the address the pod asked"
    );
    assert_eq!(v[0].0.dst, IpAddr::V4(POD4));
    // Cached now: the reply is built in place.
    let out = h.pod_query_from(
        IpAddr::V4(POD4),
        dst,
        &query(2, "x.example.", RecordType::A),
    );
    let Outcome::Reply(f) = out else {
        panic!("cache hit replies in place")
    };
    let m = parse_udp(f.data()).unwrap().unwrap();
    assert!(udp_checksum_ok(f.data(), &m));
    assert_eq!(
        (m.src, m.dst, m.sport, m.dport),
        (dst, IpAddr::V4(POD4), 53, 40000)
    );
    let c = h.p.counters();
    assert_eq!(
        (c.queries_v4, c.answers_v4, c.cache_hit, c.forwarded),
        (2, 2, 1, 1)
    );
}

#[test]
fn intercepts_ipv6_pods_from_the_v6_self_ip() {
    let mut h = H::new();
    let q = query(3, "v6.example.", RecordType::AAAA);
    assert_eq!(
        h.pod_query_from(IpAddr::V6(pod6()), IpAddr::V6(resolver6()), &q)
            .kind(),
        "held"
    );
    let (m, uq) = h.upstream();
    assert_eq!(
        m.src,
        IpAddr::V4(SELF4),
        "IPv4 server: from the IPv4 self IP"
    );
    h.answer(
        &m,
        &uq,
        ResponseCode::NoError,
        vec![aaaa("v6.example.", 60, "2001:db8::7")],
        vec![],
    );
    let (m, ans) = h.take().remove(0);
    assert_eq!(
        (m.src, m.dst),
        (IpAddr::V6(resolver6()), IpAddr::V6(pod6()))
    );
    assert_eq!(ans.metadata.id, 3);
    assert_eq!(h.p.counters().queries_v6, 1);
    assert_eq!(h.p.counters().answers_v6, 1);
}

#[test]
fn tcp53_is_redirected_to_the_zone_server_and_other_udp_ports_pass() {
    let mut h = H::new();
    let f = udp_frame(IpAddr::V4(POD4), IpAddr::V4(RESOLVER4), 40000, 5353, b"x");
    assert_eq!(h.p.from_pod(f, 0, &mut h.env).kind(), "pass");
    // TCP/53: passed on to the NAT with the `.` zone's first server as destination.
    let mut seg = vec![0u8; 40];
    seg[0] = 0x45;
    seg[2..4].copy_from_slice(&40u16.to_be_bytes());
    seg[8] = 64;
    seg[9] = 6;
    seg[12..16].copy_from_slice(&POD4.octets());
    seg[16..20].copy_from_slice(&RESOLVER4.octets());
    seg[20..22].copy_from_slice(&40000u16.to_be_bytes());
    seg[22..24].copy_from_slice(&53u16.to_be_bytes());
    seg[32] = 5 << 4;
    seg[33] = 0x02;
    crate::wire::TcpPacket::new_unchecked(&mut seg[20..]).fill_checksum_v4(POD4, RESOLVER4);
    crate::wire::Ipv4Packet::new_unchecked(&mut seg[..]).fill_checksum();
    let Outcome::Pass(f) = h.p.from_pod(VecFrame::new(&seg), 0, &mut h.env) else {
        panic!("TCP/53 passes to the NAT");
    };
    let server: SocketAddr = SERVER_A.parse().unwrap();
    assert_eq!(&f.data()[16..20], &[198, 51, 100, 53], "to {server}");
    assert_eq!(h.p.counters().tcp_redirected, 1);
    assert_eq!(h.p.counters().queries_v4, 0, "not a UDP query");
    let (v4, _) = h.p.tcp_targets();
    assert_eq!(v4, Some(server));
    // Upstream side: not our address/port: pass to the NAT.
    let f = udp_frame(
        SERVER_A.parse::<SocketAddr>().unwrap().ip(),
        IpAddr::V4(SELF4),
        53,
        1024,
        b"x",
    );
    assert_eq!(
        h.p.from_upstream(f, 0, &mut h.env, &mut h.map).kind(),
        "pass"
    );
}

#[test]
fn truncated_upstream_answer_is_passed_through() {
    let mut h = H::new();
    h.pod_query(&query(9, "big.example.", RecordType::TXT));
    let (m, q) = h.upstream();
    let mut r = Message::response(q.metadata.id, OpCode::Query);
    r.metadata.truncation = true;
    r.add_query(q.queries[0].clone());
    assert_eq!(h.deliver(m.dst, m.src, m.dport, m.sport, &r).kind(), "held");
    let ans = h.pod_answer();
    assert!(
        ans.metadata.truncation,
        "TC kept: the client retries over TCP"
    );
    assert_eq!(ans.metadata.id, 9);
    assert_eq!(h.p.counters().truncated, 1);
    assert_eq!(
        h.p.counters().cache_entries,
        0,
        "a truncated answer is not cached"
    );
}

// ---------------------------------------------------------------------------------------
// Forwarding (RFC 5452)
// ---------------------------------------------------------------------------------------

#[test]
fn upstream_query_from_external_self_ip_with_random_id_and_port() {
    let mut h = H::new();
    let mut ids = std::collections::HashSet::new();
    let mut ports = std::collections::HashSet::new();
    for i in 0..16u16 {
        h.pod_query(&query(100, &format!("n{i}.example."), RecordType::A));
        let (m, q) = h.upstream();
        assert_eq!(m.src, IpAddr::V4(SELF4));
        assert_eq!(SocketAddr::new(m.dst, m.dport), SERVER_A.parse().unwrap());
        assert!((61440..=61500).contains(&m.sport));
        assert!(q.metadata.recursion_desired);
        assert_eq!(q.edns.as_ref().map(|e| e.max_payload()), Some(1232));
        ids.insert(q.metadata.id);
        ports.insert(m.sport);
    }
    assert!(ids.len() >= 15, "IDs are random, not the pod's");
    assert!(ports.len() >= 8, "source ports are random");
}

#[test]
fn longest_suffix_forward_zone_wins() {
    let mut h = H::new();
    h.pod_query(&query(1, "host.CORP.example.", RecordType::A));
    let (m, _) = h.upstream();
    assert_eq!(
        SocketAddr::new(m.dst, m.dport),
        SERVER_CORP.parse().unwrap()
    );
    h.pod_query(&query(2, "example.", RecordType::A));
    let (m, _) = h.upstream();
    assert_eq!(SocketAddr::new(m.dst, m.dport), SERVER_A.parse().unwrap());
    let s = settings();
    assert_eq!(s.zone_for(&name("a.b.corp.example.")), Some(1));
    assert_eq!(s.zone_for(&name("notcorp.example.")), Some(0));
}

#[test]
fn no_forward_zone_gives_refused() {
    let mut s = settings();
    s.zones.remove(0);
    let mut h = H::with(s);
    let Outcome::Reply(f) = h.pod_query(&query(4, "www.example.", RecordType::A)) else {
        panic!("refused in place")
    };
    let m = parse_udp(f.data()).unwrap().unwrap();
    let msg = Message::from_vec(&f.data()[m.payload()]).unwrap();
    assert_eq!(msg.metadata.response_code, ResponseCode::Refused);
    assert_eq!(msg.metadata.id, 4);
    assert_eq!(h.p.counters().refused, 1);
}

#[test]
fn identical_outstanding_queries_are_merged() {
    let mut h = H::new();
    h.pod_query(&query(1, "same.example.", RecordType::A));
    let (m, q) = h.upstream();
    h.pod_query_from(
        IpAddr::V4(Ipv4Addr::new(10, 1, 0, 6)),
        IpAddr::V4(RESOLVER4),
        &query(2, "SAME.example.", RecordType::A),
    );
    assert!(h.env.routed.is_empty(), "merged: no second upstream query");
    h.answer(
        &m,
        &q,
        ResponseCode::NoError,
        vec![a("same.example.", 60, "192.0.2.1")],
        vec![],
    );
    let v = h.take();
    assert_eq!(v.len(), 2);
    assert_eq!(v[0].1.metadata.id, 1);
    assert_eq!(v[1].1.metadata.id, 2);
    assert_eq!(
        v[1].1.queries[0].name.to_ascii(),
        "SAME.example.",
        "each pod's case"
    );
    assert_eq!(v[1].0.dst, IpAddr::V4(Ipv4Addr::new(10, 1, 0, 6)));
    assert_eq!(h.p.counters().merged, 1);
}

#[test]
fn timeout_tries_next_name_server_then_servfail() {
    let mut h = H::new();
    h.pod_query(&query(5, "slow.example.", RecordType::A));
    let (m1, q1) = h.upstream();
    h.now += 999;
    h.poll();
    assert!(h.env.routed.is_empty());
    h.now += 1;
    h.poll();
    let (m2, q2) = h.upstream();
    assert_eq!(SocketAddr::new(m2.dst, m2.dport), SERVER_B.parse().unwrap());
    assert!(q1.metadata.id != q2.metadata.id || m1.sport != m2.sport);
    // The first server's late answer is no longer accepted.
    let late = h.answer(
        &m1,
        &q1,
        ResponseCode::NoError,
        vec![a("slow.example.", 5, "192.0.2.1")],
        vec![],
    );
    assert_eq!(late.drop_reason(), Some(DropReason::DnsSpoofedReply));
    h.now += 1000;
    h.poll();
    let ans = h.pod_answer();
    assert_eq!(ans.metadata.response_code, ResponseCode::ServFail);
    assert_eq!(ans.metadata.id, 5);
    let c = h.p.counters();
    assert_eq!((c.upstream_timeouts, c.servfail, c.pending), (2, 1, 0));
}

#[test]
fn servfail_from_upstream_tries_next_server() {
    let mut h = H::new();
    h.pod_query(&query(5, "flaky.example.", RecordType::A));
    let (m, q) = h.upstream();
    h.answer(&m, &q, ResponseCode::ServFail, vec![], vec![]);
    let (m2, q2) = h.upstream();
    assert_eq!(SocketAddr::new(m2.dst, m2.dport), SERVER_B.parse().unwrap());
    h.answer(&m2, &q2, ResponseCode::ServFail, vec![], vec![]);
    let ans = h.pod_answer();
    assert_eq!(ans.metadata.response_code, ResponseCode::ServFail);
    assert_eq!(h.p.counters().cache_entries, 0, "SERVFAIL is not cached");
}

#[test]
fn pending_table_full_gives_servfail() {
    let mut h = H::new();
    for i in 0..16 {
        assert_eq!(
            h.pod_query(&query(i, &format!("p{i}.example."), RecordType::A))
                .kind(),
            "held"
        );
    }
    let Outcome::Reply(f) = h.pod_query(&query(99, "one-more.example.", RecordType::A)) else {
        panic!("SERVFAIL in place")
    };
    let m = parse_udp(f.data()).unwrap().unwrap();
    let msg = Message::from_vec(&f.data()[m.payload()]).unwrap();
    assert_eq!(msg.metadata.response_code, ResponseCode::ServFail);
    assert_eq!(h.p.counters().pending_full, 1);
    assert_eq!(h.p.counters().pending, 16);
}

#[test]
fn full_pending_table_is_counted_bounded_and_other_queries_are_still_served() {
    let mut h = H::new();
    // An answer in the cache.
    h.pod_query(&query(1, "cached.example.", RecordType::A));
    let (m, q) = h.upstream();
    h.answer(
        &m,
        &q,
        ResponseCode::NoError,
        vec![a("cached.example.", 300, "192.0.2.77")],
        vec![],
    );
    h.take();
    // Fill the table (16), then a flood of new names.
    let out: Vec<(UdpMeta, Message)> = (0..16u16)
        .map(|i| {
            h.pod_query(&query(i, &format!("slow{i}.example."), RecordType::A));
            h.upstream()
        })
        .collect();
    for i in 0..5_000u32 {
        let o = h.pod_query(&query(
            i as u16,
            &format!("flood{i}.example."),
            RecordType::A,
        ));
        let Outcome::Reply(f) = o else {
            panic!("flood query {i}: {}", o.kind())
        };
        if i % 1000 == 0 {
            let m = parse_udp(f.data()).unwrap().unwrap();
            let msg = Message::from_vec(&f.data()[m.payload()]).unwrap();
            assert_eq!(msg.metadata.response_code, ResponseCode::ServFail);
            assert_eq!(msg.metadata.id, i as u16);
        }
    }
    let c = h.p.counters();
    assert_eq!((c.pending_full, c.pending, c.servfail), (5_000, 16, 5_000));
    assert!(
        h.env.routed.is_empty(),
        "no upstream query beyond the table"
    );
    // Bounded: the tables never grow past the capacity.
    assert_eq!(h.p.slots.len(), 16);
    assert!(h.p.by_key.len() <= 16 && h.p.by_upstream.len() <= 16);
    // Cache hits are still served, and a pod asking an outstanding name joins it.
    assert_eq!(
        a_addrs(&hit(&mut h, &query(77, "cached.example.", RecordType::A))),
        vec![Ipv4Addr::new(192, 0, 2, 77)]
    );
    assert_eq!(
        h.pod_query(&query(500, "slow0.example.", RecordType::A))
            .kind(),
        "held"
    );
    assert_eq!(h.p.counters().merged, 1);
    // An answer frees its slot: both pods get it, and new names are forwarded again.
    let (m, q) = &out[0];
    h.answer(
        m,
        q,
        ResponseCode::NoError,
        vec![a("slow0.example.", 60, "192.0.2.1")],
        vec![],
    );
    assert_eq!(h.take().len(), 2);
    assert_eq!(
        h.pod_query(&query(9, "after.example.", RecordType::A))
            .kind(),
        "held"
    );
    h.upstream();
    // Timeouts free the rest: nothing stays pending.
    for _ in 0..4 {
        h.now += 1000;
        h.poll();
    }
    h.take();
    assert_eq!(h.p.counters().pending, 0);
}

#[test]
fn exhausted_dns46_slice_is_counted_bounded_and_other_queries_are_still_served() {
    let mut h = H::new();
    h.map.slice = 2;
    let aaaa_only = |h: &mut H, n: &str, v6: &str| {
        dns46(
            h,
            n,
            (ResponseCode::NoError, vec![], vec![]),
            Some((ResponseCode::NoError, vec![aaaa(n, 300, v6)], vec![])),
        )
        .unwrap()
    };
    let first = aaaa_only(&mut h, "m1.example.", "2001:db8::1:1");
    let second = aaaa_only(&mut h, "m2.example.", "2001:db8::1:2");
    assert_eq!(a_addrs(&first), vec![Ipv4Addr::new(100, 64, 0, 10)]);
    assert_eq!(a_addrs(&second), vec![Ipv4Addr::new(100, 64, 0, 11)]);
    // The slice is exhausted: every further name gets the sorry IP, nothing is kept for it.
    let sorry = Ipv4Addr::new(100, 64, 255, 254);
    for i in 0..300 {
        let n = format!("x{i}.example.");
        let ans = aaaa_only(&mut h, &n, &format!("2001:db8::2:{i:x}"));
        assert_eq!(a_addrs(&ans), vec![sorry], "{n}");
    }
    let c = h.p.counters();
    assert_eq!((c.dns46_sorry, c.synthesized46), (300, 2));
    assert_eq!(c.cache_entries, 2, "sorry answers are not cached");
    assert_eq!(c.pending, 0);
    assert_eq!(h.map.map.len(), 2, "no mapping for a sorry answer");
    // Names already mapped keep their address; an IPv6 host already mapped under another name
    // too; an A-only name is answered as usual.
    assert_eq!(
        a_addrs(&hit(&mut h, &query(3, "m1.example.", RecordType::A))),
        a_addrs(&first)
    );
    let other = aaaa_only(&mut h, "m2-alias.example.", "2001:db8::1:2");
    assert_eq!(a_addrs(&other), a_addrs(&second));
    h.pod_query(&query(4, "v4.example.", RecordType::A));
    let (m, q) = h.upstream();
    h.answer(
        &m,
        &q,
        ResponseCode::NoError,
        vec![a("v4.example.", 60, "192.0.2.4")],
        vec![],
    );
    assert_eq!(a_addrs(&h.pod_answer()), vec![Ipv4Addr::new(192, 0, 2, 4)]);
    // Without a sorry IP: SERVFAIL, counted.
    let mut s = settings();
    if let Some(d) = &mut s.dns46 {
        d.sorry_ip = None;
    }
    let mut h = H::with(s);
    h.map.slice = 0;
    let ans = aaaa_only(&mut h, "y.example.", "2001:db8::3:1");
    assert_eq!(ans.metadata.response_code, ResponseCode::ServFail);
    assert_eq!(h.p.counters().dns46_unavailable, 1);
}

// ---------------------------------------------------------------------------------------
// Spoofing
// ---------------------------------------------------------------------------------------

#[test]
fn replies_with_wrong_id_port_server_or_question_are_never_accepted() {
    let mut h = H::new();
    h.pod_query(&query(1, "target.example.", RecordType::A));
    let (m, q) = h.upstream();
    let id = q.metadata.id;
    let poison = |id: u16, n: &str| {
        let mut r = Message::response(id, OpCode::Query);
        r.add_query(Query::query(name(n), RecordType::A));
        r.add_answer(a(n, 86400, "6.6.6.6"));
        r
    };
    let mut rng = StdRng::from_seed([3; 32]);
    let mut tries = 0;
    for _ in 0..2000 {
        let r = rng.next_u32();
        let (server, sport, dport, rid, qn) = match r % 4 {
            // wrong ID
            0 => (
                m.dst,
                m.dport,
                m.sport,
                id.wrapping_add(1 + (r >> 16) as u16 % 65535),
                "target.example.",
            ),
            // wrong destination port (another of our ports)
            1 => (
                m.dst,
                m.dport,
                61440 + ((m.sport - 61440 + 1 + (r >> 8) as u16 % 60) % 61),
                id,
                "target.example.",
            ),
            // wrong server address or port
            2 if r & 0x100 == 0 => (
                IpAddr::V4(Ipv4Addr::new(198, 51, 100, 99)),
                m.dport,
                m.sport,
                id,
                "target.example.",
            ),
            2 => (m.dst, 5353, m.sport, id, "target.example."),
            // wrong question
            _ => (m.dst, m.dport, m.sport, id, "other.example."),
        };
        if dport == m.sport
            && rid == id
            && server == m.dst
            && sport == m.dport
            && qn == "target.example."
        {
            continue;
        }
        tries += 1;
        let out = h.deliver(server, IpAddr::V4(SELF4), sport, dport, &poison(rid, qn));
        assert_eq!(out.drop_reason(), Some(DropReason::DnsSpoofedReply));
    }
    assert!(h.env.routed.is_empty(), "nothing reached the pod");
    assert_eq!(h.p.counters().spoofed_reply, tries);
    // The genuine answer is still accepted afterwards.
    h.answer(
        &m,
        &q,
        ResponseCode::NoError,
        vec![a("target.example.", 60, "192.0.2.10")],
        vec![],
    );
    assert_eq!(a_addrs(&h.pod_answer()), vec![Ipv4Addr::new(192, 0, 2, 10)]);
}

/// One forged reply for the outstanding query `(m, q)`: `kind` says which field is wrong
/// (0 ID, 1 destination port, 2 server address, 3 server port, 4 question).
fn forgery(m: &UdpMeta, q: &Message, kind: u32, r: u32) -> (IpAddr, u16, u16, Message) {
    let (lo, hi) = (61440u16, 61500u16);
    let span = u32::from(hi - lo) + 1;
    let mut id = q.metadata.id;
    let (mut server, mut sport, mut dport) = (m.dst, m.dport, m.sport);
    let mut qname = q.queries[0].name.clone();
    let mut qtype = q.queries[0].query_type;
    match kind {
        0 => id = id.wrapping_add(1 + (r % 65535) as u16),
        1 => dport = lo + ((u32::from(dport - lo) + 1 + r % (span - 1)) % span) as u16,
        2 => server = IpAddr::V4(Ipv4Addr::from(0xc633_6400 | (r & 0xff) | 0x100)),
        3 => sport = sport.wrapping_add(1 + (r % 65535) as u16),
        _ if r & 1 == 0 => qname = name("elsewhere.example."),
        _ => qtype = RecordType::AAAA,
    }
    let mut resp = Message::response(id, OpCode::Query);
    resp.add_query(Query::query(qname.clone(), qtype));
    resp.add_answer(Record::from_rdata(
        qname,
        86400,
        RData::A(hickory_proto::rr::rdata::A(Ipv4Addr::new(6, 6, 6, 6))),
    ));
    (server, sport, dport, resp)
}

#[test]
fn forged_reply_flood_wrong_id_port_question_or_server_zero_accepted_and_counted() {
    let mut s = settings();
    s.pending_capacity = 64;
    let mut h = H::with(s);
    let out: Vec<(UdpMeta, Message)> = (0..32u16)
        .map(|i| {
            h.pod_query(&query(i, &format!("victim{i}.example."), RecordType::A));
            h.upstream()
        })
        .collect();
    let mut rng = StdRng::from_seed([5; 32]);
    let n = 50_000u32;
    for i in 0..n {
        let (m, q) = &out[(i % 32) as usize];
        let (server, sport, dport, r) = forgery(m, q, i % 5, rng.next_u32());
        let o = h.deliver(server, IpAddr::V4(SELF4), sport, dport, &r);
        assert_eq!(
            o.drop_reason(),
            Some(DropReason::DnsSpoofedReply),
            "forgery {i} (kind {})",
            i % 5
        );
    }
    let c = h.p.counters();
    assert!(h.env.routed.is_empty(), "nothing reached a pod");
    assert_eq!(c.spoofed_reply, u64::from(n), "every forgery counted");
    assert_eq!((c.upstream_replies, c.cache_entries), (0, 0), "0 accepted");
    assert_eq!(c.pending, 32, "the forgeries ended no query");
    // The genuine answers are still accepted.
    for (i, (m, q)) in out.iter().enumerate() {
        let n = format!("victim{i}.example.");
        h.answer(
            m,
            q,
            ResponseCode::NoError,
            vec![a(&n, 60, "192.0.2.10")],
            vec![],
        );
        assert_eq!(a_addrs(&h.pod_answer()), vec![Ipv4Addr::new(192, 0, 2, 10)]);
    }
    assert_eq!(h.p.counters().upstream_replies, 32);
}

/// Pearson correlation of consecutive values.
fn serial_correlation(v: &[f64]) -> f64 {
    let n = (v.len() - 1) as f64;
    let (x, y) = (&v[..v.len() - 1], &v[1..]);
    let mx = x.iter().sum::<f64>() / n;
    let my = y.iter().sum::<f64>() / n;
    let cov: f64 = x.iter().zip(y).map(|(a, b)| (a - mx) * (b - my)).sum();
    let vx: f64 = x.iter().map(|a| (a - mx).powi(2)).sum();
    let vy: f64 = y.iter().map(|b| (b - my).powi(2)).sum();
    cov / (vx * vy).sqrt()
}

/// Chi-square statistic of `v` over `buckets` equal buckets of `[0, range)`.
fn chi_square(v: &[u32], range: u32, buckets: u32) -> f64 {
    let mut count = vec![0f64; buckets as usize];
    for &x in v {
        count[(u64::from(x) * u64::from(buckets) / u64::from(range)) as usize] += 1.0;
    }
    let e = v.len() as f64 / f64::from(buckets);
    count.iter().map(|c| (c - e).powi(2) / e).sum()
}

#[test]
fn query_ids_and_source_ports_are_spread_over_10000_queries() {
    let mut s = settings();
    s.query_ports = DEFAULT_QUERY_PORTS;
    s.pending_capacity = 10_000;
    let mut h = H::with(s);
    let n = 10_000usize;
    let (mut ids, mut ports) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for i in 0..n {
        h.pod_query(&query(1, &format!("s{i}.example."), RecordType::A));
        let (m, q) = h.upstream();
        ids.push(u32::from(q.metadata.id));
        ports.push(u32::from(m.sport - DEFAULT_QUERY_PORTS.0));
    }
    let span = u32::from(DEFAULT_QUERY_PORTS.1 - DEFAULT_QUERY_PORTS.0) + 1;
    assert!(ports.iter().all(|&p| p < span), "ports inside the range");
    let distinct = |v: &[u32]| v.iter().collect::<std::collections::HashSet<_>>().len();
    let pairs: std::collections::HashSet<_> = ids.iter().zip(&ports).collect();
    assert_eq!(
        pairs.len(),
        n,
        "no two outstanding queries share a port and an ID"
    );
    // Uniform draws: about 9 268 distinct IDs of 65 536 and 3 739 ports of 4 096.
    let (di, dp) = (distinct(&ids), distinct(&ports));
    assert!(di >= 9_100, "{di} distinct IDs");
    assert!(dp >= 3_600, "{dp} distinct ports");
    // Chi-square over 64 buckets (63 degrees of freedom; 120 is far in the tail).
    let (ci, cp) = (chi_square(&ids, 65_536, 64), chi_square(&ports, span, 64));
    assert!(ci < 120.0, "IDs chi-square {ci}");
    assert!(cp < 120.0, "ports chi-square {cp}");
    // Each bit set about half the time (6 standard deviations: 300).
    for b in 0..16 {
        let ones = ids.iter().filter(|&&x| x >> b & 1 == 1).count();
        assert!((4_700..=5_300).contains(&ones), "ID bit {b}: {ones}");
    }
    for b in 0..12 {
        let ones = ports.iter().filter(|&&x| x >> b & 1 == 1).count();
        assert!((4_700..=5_300).contains(&ones), "port bit {b}: {ones}");
    }
    // No sequence: consecutive values differing by -1, 0 or +1 are as rare as chance makes them
    // (0.5 expected for IDs, 7 for ports), and consecutive values are uncorrelated.
    let steps = |v: &[u32], m: u32| {
        v.windows(2)
            .filter(|w| {
                let d = (w[1] + m - w[0]) % m;
                d <= 1 || d == m - 1
            })
            .count()
    };
    assert!(steps(&ids, 65_536) <= 5, "ID steps {}", steps(&ids, 65_536));
    assert!(
        steps(&ports, span) <= 25,
        "port steps {}",
        steps(&ports, span)
    );
    let f = |v: &[u32]| v.iter().map(|&x| f64::from(x)).collect::<Vec<_>>();
    let (ri, rp) = (serial_correlation(&f(&ids)), serial_correlation(&f(&ports)));
    assert!(ri.abs() < 0.05, "ID serial correlation {ri}");
    assert!(rp.abs() < 0.05, "port serial correlation {rp}");
    // The upstream queries are independent of the pods' IDs (all 1 here).
    assert!(ids.iter().filter(|&&x| x == 1).count() < 5);
}

#[test]
fn reply_that_is_a_query_is_not_accepted() {
    let mut h = H::new();
    h.pod_query(&query(1, "q.example.", RecordType::A));
    let (m, q) = h.upstream();
    let mut r = q.clone();
    r.metadata.message_type = MessageType::Query;
    let out = h.deliver(m.dst, m.src, m.dport, m.sport, &r);
    assert_eq!(out.drop_reason(), Some(DropReason::DnsSpoofedReply));
}

// ---------------------------------------------------------------------------------------
// Cache
// ---------------------------------------------------------------------------------------

fn hit(h: &mut H, q: &Message) -> Message {
    match h.pod_query(q) {
        Outcome::Reply(f) => {
            let m = parse_udp(f.data()).unwrap().unwrap();
            Message::from_vec(&f.data()[m.payload()]).unwrap()
        }
        o => panic!("expected a cache hit, got {}", o.kind()),
    }
}

#[test]
fn cache_hit_patches_id_and_case_and_decrements_ttl() {
    let mut h = H::new();
    h.pod_query(&query(1, "c.example.", RecordType::A));
    let (m, q) = h.upstream();
    h.answer(
        &m,
        &q,
        ResponseCode::NoError,
        vec![a("c.example.", 300, "192.0.2.3")],
        vec![],
    );
    h.take();
    h.now += 100_500;
    let ans = hit(&mut h, &query(0x4242, "C.Example.", RecordType::A));
    assert_eq!(ans.metadata.id, 0x4242);
    assert_eq!(ans.queries[0].name.to_ascii(), "C.Example.");
    assert_eq!(ans.answers[0].ttl, 200);
    assert!(ans.edns.is_none(), "no OPT for a client without EDNS");
    let ans = hit(
        &mut h,
        &query_edns(7, "c.example.", RecordType::A, false, false),
    );
    assert!(ans.edns.is_some(), "OPT for an EDNS client");
    h.now += 200_000;
    assert_eq!(
        h.pod_query(&query(8, "c.example.", RecordType::A)).kind(),
        "held",
        "expired"
    );
}

#[test]
fn cache_key_includes_do_and_cd_bits() {
    let mut h = H::new();
    h.pod_query(&query_edns(1, "k.example.", RecordType::A, true, false));
    let (m, q) = h.upstream();
    assert!(q.edns.as_ref().unwrap().flags().dnssec_ok, "DO forwarded");
    h.answer(
        &m,
        &q,
        ResponseCode::NoError,
        vec![a("k.example.", 300, "192.0.2.3")],
        vec![],
    );
    h.take();
    assert_eq!(
        h.pod_query(&query(2, "k.example.", RecordType::A)).kind(),
        "held"
    );
    let (_, q2) = h.upstream();
    assert!(!q2.metadata.checking_disabled);
    h.pod_query(&query_edns(3, "k.example.", RecordType::A, true, true));
    let (_, q3) = h.upstream();
    assert!(q3.metadata.checking_disabled, "CD forwarded");
    hit(
        &mut h,
        &query_edns(4, "k.example.", RecordType::A, true, false),
    );
}

#[test]
fn negative_answer_cached_for_soa_minimum_rfc2308() {
    let mut h = H::new();
    h.pod_query(&query(1, "nx.example.", RecordType::MX));
    let (m, q) = h.upstream();
    h.answer(
        &m,
        &q,
        ResponseCode::NXDomain,
        vec![],
        vec![soa("example.", 3600, 30)],
    );
    let ans = h.pod_answer();
    assert_eq!(ans.metadata.response_code, ResponseCode::NXDomain);
    assert_eq!(
        ans.authorities[0].ttl, 30,
        "SOA TTL lowered to the negative TTL"
    );
    h.now += 29_000;
    let ans = hit(&mut h, &query(2, "nx.example.", RecordType::MX));
    assert_eq!(ans.metadata.response_code, ResponseCode::NXDomain);
    assert_eq!(ans.authorities[0].ttl, 1);
    h.now += 1_000;
    assert_eq!(
        h.pod_query(&query(3, "nx.example.", RecordType::MX)).kind(),
        "held"
    );
    assert_eq!(h.p.counters().nxdomain, 2);
}

#[test]
fn negative_answer_without_soa_is_not_cached() {
    let mut h = H::new();
    h.pod_query(&query(1, "nodata.example.", RecordType::MX));
    let (m, q) = h.upstream();
    h.answer(&m, &q, ResponseCode::NoError, vec![], vec![]);
    h.take();
    assert_eq!(
        h.pod_query(&query(2, "nodata.example.", RecordType::MX))
            .kind(),
        "held"
    );
}

#[test]
fn only_the_answer_chain_is_cached_and_forwarded() {
    let mut h = H::new();
    h.pod_query(&query(1, "www.example.", RecordType::A));
    let (m, q) = h.upstream();
    let mut r = Message::response(q.metadata.id, OpCode::Query);
    r.add_query(q.queries[0].clone());
    r.add_answer(cname("www.example.", 300, "web.example."));
    r.add_answer(a("web.example.", 300, "192.0.2.5"));
    r.add_answer(a("bank.other.", 86400, "6.6.6.6"));
    r.add_authority(Record::from_rdata(
        name("other."),
        86400,
        RData::NS(hickory_proto::rr::rdata::NS(name("ns.evil."))),
    ));
    r.add_additional(a("ns.evil.", 86400, "6.6.6.7"));
    h.deliver(m.dst, m.src, m.dport, m.sport, &r);
    let ans = h.pod_answer();
    assert_eq!(ans.answers.len(), 2);
    assert!(ans.authorities.is_empty() && ans.additionals.is_empty());
    assert_eq!(h.p.counters().cache_entries, 1);
    assert_eq!(
        h.pod_query(&query(2, "bank.other.", RecordType::A)).kind(),
        "held"
    );
}

#[test]
fn zero_ttl_answers_are_not_cached() {
    let mut h = H::new();
    h.pod_query(&query(1, "z.example.", RecordType::A));
    let (m, q) = h.upstream();
    h.answer(
        &m,
        &q,
        ResponseCode::NoError,
        vec![a("z.example.", 0, "192.0.2.3")],
        vec![],
    );
    h.take();
    assert_eq!(h.p.counters().cache_entries, 0);
}

// ---------------------------------------------------------------------------------------
// DNS46: the seed's rule, sentence by sentence
// ---------------------------------------------------------------------------------------

/// Pod asks A; upstream answers `a_answer`; if the proxy asks AAAA, upstream answers
/// `aaaa_answer`. Returns the answer to the pod (None if held).
fn dns46(
    h: &mut H,
    n: &str,
    a_answer: (ResponseCode, Vec<Record>, Vec<Record>),
    aaaa_answer: Option<(ResponseCode, Vec<Record>, Vec<Record>)>,
) -> Option<Message> {
    h.pod_query(&query(0x46, n, RecordType::A));
    let (m, q) = h.upstream();
    assert_eq!(q.queries[0].query_type, RecordType::A);
    h.answer(&m, &q, a_answer.0, a_answer.1, a_answer.2);
    if let Some((rc, an, au)) = aaaa_answer {
        let (m, q) = h.upstream();
        assert_eq!(
            q.queries[0].query_type,
            RecordType::AAAA,
            "A empty: AAAA asked"
        );
        assert_eq!(q.queries[0].name, name(n));
        h.answer(&m, &q, rc, an, au);
    }
    if h.env.routed.is_empty() {
        None
    } else {
        Some(h.pod_answer())
    }
}

#[test]
fn seed_reply_with_only_a_record_returns_unchanged() {
    let mut h = H::new();
    let ans = dns46(
        &mut h,
        "v4only.example.",
        (
            ResponseCode::NoError,
            vec![a("v4only.example.", 300, "192.0.2.44")],
            vec![],
        ),
        None,
    )
    .unwrap();
    assert_eq!(a_addrs(&ans), vec![Ipv4Addr::new(192, 0, 2, 44)]);
    assert_eq!(ans.answers[0].ttl, 300);
    assert_eq!(h.p.counters().synthesized46, 0);
}

#[test]
fn seed_reply_with_a_and_aaaa_records_returns_unchanged() {
    let mut h = H::new();
    // An ANY-style answer holding both: only the A chain answers an A question, unchanged.
    let ans = dns46(
        &mut h,
        "dual.example.",
        (
            ResponseCode::NoError,
            vec![
                a("dual.example.", 300, "192.0.2.45"),
                aaaa("dual.example.", 300, "2001:db8::45"),
            ],
            vec![],
        ),
        None,
    )
    .unwrap();
    assert_eq!(a_addrs(&ans), vec![Ipv4Addr::new(192, 0, 2, 45)]);
    assert!(h.map.map.is_empty(), "no mapping for a name with A records");
}

#[test]
fn seed_reply_with_only_aaaa_creates_a_db_entry_and_returns_a_plus_original_aaaa() {
    let mut h = H::new();
    let ans = dns46(
        &mut h,
        "v6only.example.",
        (
            ResponseCode::NoError,
            vec![],
            vec![soa("example.", 300, 60)],
        ),
        Some((
            ResponseCode::NoError,
            vec![aaaa("v6only.example.", 90, "2001:db8::46")],
            vec![],
        )),
    )
    .unwrap();
    let v6: Ipv6Addr = "2001:db8::46".parse().unwrap();
    // "Create a new type A DB entry pointing to an internal IPv4 NAT address" and "a NAT
    // mapping in the DB between the internal IPv4 NAT address and the external IPv6 address".
    let v4 = h.map.map[&v6];
    // "Return the new type A record, and the original type AAAA record."
    assert_eq!(a_addrs(&ans), vec![v4]);
    assert_eq!(aaaa_addrs(&ans), vec![v6]);
    assert_eq!(ans.queries[0].query_type, RecordType::A);
    let c = h.p.counters();
    assert_eq!((c.synthesized46, c.dns46_mappings_created), (1, 1));
    // The same name again: from the cache, same address.
    let again = hit(&mut h, &query(2, "v6only.example.", RecordType::A));
    assert_eq!(a_addrs(&again), vec![v4]);
}

#[test]
fn seed_answer_only_after_the_mapping_is_persisted() {
    let mut h = H::new();
    h.map.pending = true;
    let ans = dns46(
        &mut h,
        "slowmap.example.",
        (ResponseCode::NoError, vec![], vec![]),
        Some((
            ResponseCode::NoError,
            vec![aaaa("slowmap.example.", 90, "2001:db8::47")],
            vec![],
        )),
    );
    assert!(ans.is_none(), "held while the mapping is pending");
    h.poll();
    assert!(h.env.routed.is_empty(), "still pending");
    h.map.complete();
    h.now += 10;
    h.poll();
    let ans = h.pod_answer();
    assert_eq!(a_addrs(&ans).len(), 1);
    assert_eq!(h.p.counters().pending, 0);
}

#[test]
fn seed_get_the_existing_ipv4_to_ipv6_mapping_from_the_data_store() {
    let mut h = H::new();
    let v6: Ipv6Addr = "2001:db8::48".parse().unwrap();
    h.map.map.insert(v6, Ipv4Addr::new(100, 64, 0, 200));
    let ans = dns46(
        &mut h,
        "known.example.",
        (ResponseCode::NoError, vec![], vec![]),
        Some((
            ResponseCode::NoError,
            vec![aaaa("known.example.", 90, "2001:db8::48")],
            vec![],
        )),
    )
    .unwrap();
    assert_eq!(a_addrs(&ans), vec![Ipv4Addr::new(100, 64, 0, 200)]);
    assert_eq!(h.p.counters().dns46_mappings_created, 0);
}

#[test]
fn dns46_a_ttl_is_min_of_aaaa_ttl_and_max_dns46_ttl() {
    for (aaaa_ttl, want) in [(90, 90), (3600, 120)] {
        let mut h = H::new();
        let ans = dns46(
            &mut h,
            "ttl.example.",
            (ResponseCode::NoError, vec![], vec![]),
            Some((
                ResponseCode::NoError,
                vec![aaaa("ttl.example.", aaaa_ttl, "2001:db8::49")],
                vec![],
            )),
        )
        .unwrap();
        assert_eq!(ttl_of(&ans, RecordType::A), want);
        assert_eq!(
            ttl_of(&ans, RecordType::AAAA),
            aaaa_ttl,
            "original AAAA unchanged"
        );
    }
}

#[test]
fn dns46_keeps_cname_chains() {
    let mut h = H::new();
    let ans = dns46(
        &mut h,
        "alias.example.",
        (
            ResponseCode::NoError,
            vec![cname("alias.example.", 300, "real.example.")],
            vec![soa("example.", 300, 60)],
        ),
        Some((
            ResponseCode::NoError,
            vec![
                cname("alias.example.", 300, "real.example."),
                aaaa("real.example.", 60, "2001:db8::50"),
            ],
            vec![],
        )),
    )
    .unwrap();
    assert_eq!(ans.answers[0].record_type(), RecordType::CNAME);
    let a_rec = ans
        .answers
        .iter()
        .find(|r| r.record_type() == RecordType::A)
        .unwrap();
    assert_eq!(
        a_rec.name,
        name("real.example."),
        "A owned by the chain's target"
    );
}

#[test]
fn dns46_passes_nxdomain_through() {
    let mut h = H::new();
    let ans = dns46(
        &mut h,
        "nope.example.",
        (
            ResponseCode::NXDomain,
            vec![],
            vec![soa("example.", 300, 60)],
        ),
        None,
    )
    .unwrap();
    assert_eq!(ans.metadata.response_code, ResponseCode::NXDomain);
    assert!(h.map.map.is_empty());
}

#[test]
fn dns46_passes_servfail_through() {
    let mut s = settings();
    s.zones[0].servers.truncate(1);
    let mut h = H::with(s);
    let ans = dns46(
        &mut h,
        "broken.example.",
        (ResponseCode::ServFail, vec![], vec![]),
        None,
    )
    .unwrap();
    assert_eq!(ans.metadata.response_code, ResponseCode::ServFail);
}

#[test]
fn dns46_ignores_aaaa_inside_v4_mapped_prefix() {
    let mut h = H::new();
    let ans = dns46(
        &mut h,
        "mapped.example.",
        (
            ResponseCode::NoError,
            vec![],
            vec![soa("example.", 300, 60)],
        ),
        Some((
            ResponseCode::NoError,
            vec![aaaa("mapped.example.", 60, "::ffff:192.0.2.1")],
            vec![],
        )),
    )
    .unwrap();
    assert!(a_addrs(&ans).is_empty(), "the original NODATA");
    assert!(h.map.map.is_empty());
}

#[test]
fn dns46_name_without_a_or_aaaa_returns_the_original_nodata() {
    let mut h = H::new();
    let ans = dns46(
        &mut h,
        "empty.example.",
        (
            ResponseCode::NoError,
            vec![],
            vec![soa("example.", 300, 60)],
        ),
        Some((
            ResponseCode::NoError,
            vec![],
            vec![soa("example.", 300, 60)],
        )),
    )
    .unwrap();
    assert_eq!(ans.metadata.response_code, ResponseCode::NoError);
    assert!(ans.answers.is_empty());
    assert_eq!(ans.queries[0].query_type, RecordType::A);
    assert_eq!(ans.authorities.len(), 1, "with its SOA");
}

#[test]
fn dns46_sorry_ip_when_the_slice_is_exhausted() {
    let mut h = H::new();
    h.map.slice = 0;
    let ans = dns46(
        &mut h,
        "full.example.",
        (ResponseCode::NoError, vec![], vec![]),
        Some((
            ResponseCode::NoError,
            vec![aaaa("full.example.", 60, "2001:db8::51")],
            vec![],
        )),
    )
    .unwrap();
    assert_eq!(a_addrs(&ans), vec![Ipv4Addr::new(100, 64, 255, 254)]);
    let c = h.p.counters();
    assert_eq!((c.dns46_sorry, c.synthesized46, c.cache_entries), (1, 0, 0));
}

#[test]
fn dns46_unavailable_store_gives_servfail() {
    let mut h = H::new();
    h.map.unavailable = true;
    let ans = dns46(
        &mut h,
        "down.example.",
        (ResponseCode::NoError, vec![], vec![]),
        Some((
            ResponseCode::NoError,
            vec![aaaa("down.example.", 60, "2001:db8::52")],
            vec![],
        )),
    )
    .unwrap();
    assert_eq!(ans.metadata.response_code, ResponseCode::ServFail);
    assert_eq!(h.p.counters().dns46_unavailable, 1);
}

#[test]
fn dns46_mapping_that_never_completes_gives_servfail() {
    let mut h = H::new();
    h.map.pending = true;
    dns46(
        &mut h,
        "stuck.example.",
        (ResponseCode::NoError, vec![], vec![]),
        Some((
            ResponseCode::NoError,
            vec![aaaa("stuck.example.", 60, "2001:db8::53")],
            vec![],
        )),
    );
    h.now += 1000;
    h.poll();
    assert_eq!(
        h.pod_answer().metadata.response_code,
        ResponseCode::ServFail
    );
}

#[test]
fn dns46_debug_log_records_each_translation() {
    let mut h = H::new();
    dns46(
        &mut h,
        "Logged.example.",
        (ResponseCode::NoError, vec![], vec![]),
        Some((
            ResponseCode::NoError,
            vec![aaaa("logged.example.", 60, "2001:db8::54")],
            vec![],
        )),
    );
    let mut events = Vec::new();
    h.p.drain_log(|e| events.push((e.name().to_string(), e.v6, e.v4, e.ttl, e.created)));
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].0.to_ascii_lowercase(), "logged.example.");
    assert_eq!(events[0].1, "2001:db8::54".parse::<Ipv6Addr>().unwrap());
    assert!(events[0].4);
    let mut s = settings();
    s.debug_log = false;
    let mut h = H::with(s);
    dns46(
        &mut h,
        "quiet.example.",
        (ResponseCode::NoError, vec![], vec![]),
        Some((
            ResponseCode::NoError,
            vec![aaaa("quiet.example.", 60, "2001:db8::55")],
            vec![],
        )),
    );
    let mut n = 0;
    h.p.drain_log(|_| n += 1);
    assert_eq!(n, 0);
}

#[test]
fn dns46_off_returns_the_empty_a_answer() {
    let mut s = settings();
    s.dns46 = None;
    let mut h = H::with(s);
    let ans = dns46(
        &mut h,
        "v6only.example.",
        (ResponseCode::NoError, vec![], vec![]),
        None,
    )
    .unwrap();
    assert!(ans.answers.is_empty());
}

// ---------------------------------------------------------------------------------------
// DNS64 (RFC 6147)
// ---------------------------------------------------------------------------------------

/// Pod asks AAAA (from IPv6); upstream answers `first`; if the proxy asks A, upstream answers
/// `second`.
fn dns64(
    h: &mut H,
    q: Message,
    first: (ResponseCode, Vec<Record>, Vec<Record>),
    second: Option<(ResponseCode, Vec<Record>, Vec<Record>)>,
) -> Message {
    h.pod_query_from(IpAddr::V6(pod6()), IpAddr::V6(resolver6()), &q);
    let (m, uq) = h.upstream();
    assert_eq!(uq.queries[0].query_type, RecordType::AAAA);
    h.answer(&m, &uq, first.0, first.1, first.2);
    match second {
        Some((rc, an, au)) => {
            let (m, uq) = h.upstream();
            assert_eq!(
                uq.queries[0].query_type,
                RecordType::A,
                "AAAA empty: A asked"
            );
            h.answer(&m, &uq, rc, an, au);
        }
        None => {
            assert!(
                h.env.routed.iter().all(|f| {
                    let m = parse_udp(f.data()).unwrap().unwrap();
                    m.dst == IpAddr::V6(pod6())
                }),
                "no A query"
            );
        }
    }
    let (m, ans) = h.take().remove(0);
    assert_eq!(m.dst, IpAddr::V6(pod6()));
    ans
}

fn q64(n: &str) -> Message {
    query(0x64, n, RecordType::AAAA)
}

#[test]
fn rfc6147_5_1_1_aaaa_answer_present_is_returned_unchanged() {
    let mut h = H::new();
    let ans = dns64(
        &mut h,
        q64("has6.example."),
        (
            ResponseCode::NoError,
            vec![aaaa("has6.example.", 60, "2001:db8::1")],
            vec![],
        ),
        None,
    );
    assert_eq!(
        aaaa_addrs(&ans),
        vec!["2001:db8::1".parse::<Ipv6Addr>().unwrap()]
    );
    assert_eq!(h.p.counters().synthesized64, 0);
}

#[test]
fn rfc6147_5_1_1_empty_aaaa_answer_is_synthesized_from_a() {
    let mut h = H::new();
    let ans = dns64(
        &mut h,
        q64("v4only.example."),
        (
            ResponseCode::NoError,
            vec![],
            vec![soa("example.", 300, 300)],
        ),
        Some((
            ResponseCode::NoError,
            vec![a("v4only.example.", 60, "192.0.2.33")],
            vec![],
        )),
    );
    assert_eq!(
        aaaa_addrs(&ans),
        vec!["64:ff9b::192.0.2.33".parse::<Ipv6Addr>().unwrap()]
    );
    assert!(a_addrs(&ans).is_empty(), "the A records are not returned");
    assert_eq!(h.p.counters().synthesized64, 1);
}

#[test]
fn rfc6147_5_1_2_nxdomain_is_never_synthesized() {
    let mut h = H::new();
    let ans = dns64(
        &mut h,
        q64("gone.example."),
        (
            ResponseCode::NXDomain,
            vec![],
            vec![soa("example.", 300, 60)],
        ),
        None,
    );
    assert_eq!(ans.metadata.response_code, ResponseCode::NXDomain);
}

#[test]
fn rfc6147_5_1_2_other_rcode_is_treated_as_empty_answer() {
    let mut s = settings();
    s.zones[0].servers.truncate(1);
    let mut h = H::with(s);
    let ans = dns64(
        &mut h,
        q64("sf.example."),
        (ResponseCode::ServFail, vec![], vec![]),
        Some((
            ResponseCode::NoError,
            vec![a("sf.example.", 60, "192.0.2.34")],
            vec![],
        )),
    );
    assert_eq!(ans.metadata.response_code, ResponseCode::NoError);
    assert_eq!(aaaa_addrs(&ans).len(), 1);
}

#[test]
fn rfc6147_5_1_3_aaaa_query_timeout_counts_as_servfail_and_is_synthesized() {
    let mut h = H::new();
    h.pod_query_from(
        IpAddr::V6(pod6()),
        IpAddr::V6(resolver6()),
        &q64("mute6.example."),
    );
    let (_, uq) = h.upstream();
    assert_eq!(uq.queries[0].query_type, RecordType::AAAA);
    // Both servers leave the AAAA query unanswered.
    h.now += 1000;
    h.poll();
    let (_, uq) = h.upstream();
    assert_eq!(uq.queries[0].query_type, RecordType::AAAA, "next server");
    h.now += 1000;
    h.poll();
    let (m, uq) = h.upstream();
    assert_eq!(
        uq.queries[0].query_type,
        RecordType::A,
        "then A, as for SERVFAIL"
    );
    assert_eq!(SocketAddr::new(m.dst, m.dport), SERVER_A.parse().unwrap());
    h.answer(
        &m,
        &uq,
        ResponseCode::NoError,
        vec![a("mute6.example.", 3600, "192.0.2.50")],
        vec![],
    );
    let (to, ans) = h.take().remove(0);
    assert_eq!(to.dst, IpAddr::V6(pod6()));
    assert_eq!(ans.metadata.response_code, ResponseCode::NoError);
    assert_eq!(
        aaaa_addrs(&ans),
        vec!["64:ff9b::c000:232".parse::<Ipv6Addr>().unwrap()]
    );
    assert_eq!(ttl_of(&ans, RecordType::AAAA), 600, "no SOA: at most 600 s");
    // The A query timing out as well: SERVFAIL.
    h.pod_query_from(
        IpAddr::V6(pod6()),
        IpAddr::V6(resolver6()),
        &q64("mute.example."),
    );
    h.take();
    for _ in 0..4 {
        h.now += 1000;
        h.poll();
    }
    let ans = h
        .take()
        .into_iter()
        .find(|(m, _)| m.dst == IpAddr::V6(pod6()))
        .map(|(_, a)| a)
        .expect("an answer to the pod");
    assert_eq!(ans.metadata.response_code, ResponseCode::ServFail);
    assert_eq!(h.p.counters().pending, 0);
}

#[test]
fn rfc6147_5_1_4_aaaa_in_v4_mapped_prefix_counts_as_absent() {
    let mut h = H::new();
    let ans = dns64(
        &mut h,
        q64("mapped.example."),
        (
            ResponseCode::NoError,
            vec![aaaa("mapped.example.", 60, "::ffff:192.0.2.35")],
            vec![],
        ),
        Some((
            ResponseCode::NoError,
            vec![a("mapped.example.", 60, "192.0.2.35")],
            vec![],
        )),
    );
    assert_eq!(
        aaaa_addrs(&ans),
        vec!["64:ff9b::192.0.2.35".parse::<Ipv6Addr>().unwrap()]
    );
}

#[test]
fn rfc6147_5_1_4_configured_exclusions_count_as_absent() {
    let mut s = settings();
    if let Some(d) = &mut s.dns64 {
        d.exclusions.push(Prefix6 {
            addr: "2001:db8:bad::".parse().unwrap(),
            len: 48,
        });
    }
    let mut h = H::with(s);
    let ans = dns64(
        &mut h,
        q64("excl.example."),
        (
            ResponseCode::NoError,
            vec![aaaa("excl.example.", 60, "2001:db8:bad::1")],
            vec![],
        ),
        Some((
            ResponseCode::NoError,
            vec![a("excl.example.", 60, "192.0.2.36")],
            vec![],
        )),
    );
    assert_eq!(
        aaaa_addrs(&ans),
        vec!["64:ff9b::192.0.2.36".parse::<Ipv6Addr>().unwrap()]
    );
}

#[test]
fn rfc6147_5_1_5_cname_chain_is_kept() {
    let mut h = H::new();
    let ans = dns64(
        &mut h,
        q64("www.v4.example."),
        (
            ResponseCode::NoError,
            vec![cname("www.v4.example.", 300, "host.v4.example.")],
            vec![soa("v4.example.", 300, 300)],
        ),
        Some((
            ResponseCode::NoError,
            vec![
                cname("www.v4.example.", 300, "host.v4.example."),
                a("host.v4.example.", 60, "192.0.2.37"),
            ],
            vec![],
        )),
    );
    assert_eq!(ans.answers[0].record_type(), RecordType::CNAME);
    assert_eq!(ans.answers[1].name, name("host.v4.example."));
    assert_eq!(aaaa_addrs(&ans).len(), 1);
}

#[test]
fn rfc6147_5_1_7_ttl_is_min_of_a_ttl_and_soa_negative_ttl() {
    let mut h = H::new();
    let ans = dns64(
        &mut h,
        q64("ttl.example."),
        (
            ResponseCode::NoError,
            vec![],
            vec![soa("example.", 3600, 40)],
        ),
        Some((
            ResponseCode::NoError,
            vec![a("ttl.example.", 300, "192.0.2.38")],
            vec![],
        )),
    );
    assert_eq!(ttl_of(&ans, RecordType::AAAA), 40);
    let mut h = H::new();
    let ans = dns64(
        &mut h,
        q64("ttl2.example."),
        (
            ResponseCode::NoError,
            vec![],
            vec![soa("example.", 3600, 400)],
        ),
        Some((
            ResponseCode::NoError,
            vec![a("ttl2.example.", 30, "192.0.2.39")],
            vec![],
        )),
    );
    assert_eq!(ttl_of(&ans, RecordType::AAAA), 30);
}

#[test]
fn rfc6147_5_1_7_ttl_at_most_600_without_soa() {
    let mut h = H::new();
    let ans = dns64(
        &mut h,
        q64("nosoa.example."),
        (ResponseCode::NoError, vec![], vec![]),
        Some((
            ResponseCode::NoError,
            vec![a("nosoa.example.", 86400, "192.0.2.40")],
            vec![],
        )),
    );
    assert_eq!(ttl_of(&ans, RecordType::AAAA), 600);
}

#[test]
fn rfc6147_5_1_6_empty_a_answer_returns_the_original_aaaa_answer() {
    let mut h = H::new();
    let ans = dns64(
        &mut h,
        q64("nothing.example."),
        (
            ResponseCode::NoError,
            vec![],
            vec![soa("example.", 300, 50)],
        ),
        Some((
            ResponseCode::NoError,
            vec![],
            vec![soa("example.", 300, 50)],
        )),
    );
    assert_eq!(ans.queries[0].query_type, RecordType::AAAA);
    assert!(ans.answers.is_empty());
    assert_eq!(ans.authorities.len(), 1);
}

#[test]
fn rfc6147_5_5_no_synthesis_when_cd_and_do_are_set() {
    let mut h = H::new();
    let ans = dns64(
        &mut h,
        query_edns(0x64, "signed.example.", RecordType::AAAA, true, true),
        (
            ResponseCode::NoError,
            vec![],
            vec![soa("example.", 300, 50)],
        ),
        None,
    );
    assert!(ans.answers.is_empty());
    // DO alone (a validating stub without CD) still gets synthesis.
    let mut h = H::new();
    let ans = dns64(
        &mut h,
        query_edns(0x64, "signed.example.", RecordType::AAAA, true, false),
        (
            ResponseCode::NoError,
            vec![],
            vec![soa("example.", 300, 50)],
        ),
        Some((
            ResponseCode::NoError,
            vec![a("signed.example.", 60, "192.0.2.41")],
            vec![],
        )),
    );
    assert_eq!(aaaa_addrs(&ans).len(), 1);
    assert!(!ans.metadata.authentic_data, "synthesized data is never AD");
}

#[test]
fn rfc6147_5_2_embedding_uses_the_configured_prefix() {
    let mut s = settings();
    if let Some(d) = &mut s.dns64 {
        d.prefix = Prefix6 {
            addr: "2001:db8:122:344::".parse().unwrap(),
            len: 64,
        };
    }
    let mut h = H::with(s);
    let ans = dns64(
        &mut h,
        q64("p64.example."),
        (ResponseCode::NoError, vec![], vec![]),
        Some((
            ResponseCode::NoError,
            vec![a("p64.example.", 60, "192.0.2.33")],
            vec![],
        )),
    );
    assert_eq!(
        aaaa_addrs(&ans),
        vec!["2001:db8:122:344:c0:2:2100:0".parse::<Ipv6Addr>().unwrap()]
    );
}

#[test]
fn dns64_off_returns_the_empty_aaaa_answer() {
    let mut s = settings();
    s.dns64 = None;
    let mut h = H::with(s);
    let ans = dns64(
        &mut h,
        q64("v4only.example."),
        (ResponseCode::NoError, vec![], vec![]),
        None,
    );
    assert!(ans.answers.is_empty());
}

// ---------------------------------------------------------------------------------------
// Rate limit
// ---------------------------------------------------------------------------------------

#[test]
fn rate_limit_drops_queries_over_the_limit_per_pod() {
    let mut s = settings();
    s.rate_limit = 3;
    let mut h = H::with(s);
    let kinds: Vec<_> = (0..5)
        .map(|i| {
            h.pod_query(&query(i, "r.example.", RecordType::A))
                .drop_reason()
        })
        .collect();
    assert_eq!(
        kinds
            .iter()
            .filter(|k| **k == Some(DropReason::DnsRateLimited))
            .count(),
        2
    );
    assert_eq!(h.p.counters().rate_limited, 2);
    // Another pod is not limited.
    let out = h.pod_query_from(
        IpAddr::V4(Ipv4Addr::new(10, 1, 0, 77)),
        IpAddr::V4(RESOLVER4),
        &query(9, "r.example.", RecordType::A),
    );
    assert_ne!(out.drop_reason(), Some(DropReason::DnsRateLimited));
    h.now += 1000;
    assert_ne!(
        h.pod_query(&query(10, "r.example.", RecordType::A))
            .drop_reason(),
        Some(DropReason::DnsRateLimited),
        "refilled after a second"
    );
}

// ---------------------------------------------------------------------------------------
// Malformed input
// ---------------------------------------------------------------------------------------

/// A query header with QDCOUNT=1 (and other counts as given) followed by `body`.
fn raw_query(counts: [u16; 4], body: &[u8]) -> Vec<u8> {
    let mut v = vec![0x12, 0x34, 0x01, 0x00];
    for c in counts {
        v.extend_from_slice(&c.to_be_bytes());
    }
    v.extend_from_slice(body);
    v
}

fn malformed_bodies() -> Vec<(&'static str, Vec<u8>)> {
    let mut long_name = Vec::new();
    for _ in 0..5 {
        long_name.push(63);
        long_name.extend_from_slice(&[b'a'; 63]);
    }
    long_name.extend_from_slice(&[0, 0, 1, 0, 1]);
    let mut label64 = vec![64];
    label64.extend_from_slice(&[b'a'; 64]);
    label64.extend_from_slice(&[0, 0, 1, 0, 1]);
    vec![
        // A name that points at itself.
        (
            "compression loop",
            raw_query([1, 0, 0, 0], &[0xc0, 12, 0, 1, 0, 1]),
        ),
        (
            "pointer forward",
            raw_query([1, 0, 0, 0], &[0xc0, 20, 0, 1, 0, 1, 0, 0, 1, 97, 0]),
        ),
        (
            "pointer past end",
            raw_query([1, 0, 0, 0], &[0xc0, 0xff, 0, 1, 0, 1]),
        ),
        ("label > 63", raw_query([1, 0, 0, 0], &label64)),
        ("name > 255", raw_query([1, 0, 0, 0], &long_name)),
        (
            "rdlength past end",
            raw_query(
                [1, 0, 0, 1],
                &[
                    1, b'x', 0, 0, 1, 0, 1, 0, 0, 1, 0, 1, 0, 0, 0, 60, 0, 200, 1, 2,
                ],
            ),
        ),
        (
            "inflated counts",
            raw_query([1, 0xffff, 0xffff, 0xffff], &[1, b'x', 0, 0, 1, 0, 1]),
        ),
        (
            "inflated qdcount",
            raw_query([0xffff, 0, 0, 0], &[1, b'x', 0, 0, 1, 0, 1]),
        ),
        ("no question", raw_query([0, 0, 0, 0], &[])),
        (
            "truncated question",
            raw_query([1, 0, 0, 0], &[3, b'a', b'b']),
        ),
    ]
}

#[test]
fn malformed_queries_get_formerr_never_a_panic() {
    let mut h = H::new();
    for (what, body) in malformed_bodies() {
        let f = udp_frame(IpAddr::V4(POD4), IpAddr::V4(RESOLVER4), 40000, 53, &body);
        let out = h.p.from_pod(f, h.now, &mut h.env);
        let Outcome::Reply(f) = out else {
            panic!("{what}: expected FORMERR, got {}", out.kind())
        };
        let m = parse_udp(f.data()).unwrap().unwrap();
        let msg = Message::from_vec(&f.data()[m.payload()]).unwrap();
        assert_eq!(msg.metadata.response_code, ResponseCode::FormErr, "{what}");
        assert_eq!(msg.metadata.id, 0x1234, "{what}");
    }
    assert_eq!(h.p.counters().formerr, malformed_bodies().len() as u64);
    assert!(h.env.routed.is_empty(), "nothing forwarded");
    // Shorter than a header, and a response sent by a pod: dropped, counted.
    for body in [
        &b"\x12\x34\x01"[..],
        &[0x12, 0x34, 0x81, 0, 0, 0, 0, 0, 0, 0, 0, 0],
    ] {
        let f = udp_frame(IpAddr::V4(POD4), IpAddr::V4(RESOLVER4), 40000, 53, body);
        let out = h.p.from_pod(f, h.now, &mut h.env);
        assert_eq!(out.drop_reason(), Some(DropReason::DnsMalformed));
    }
}

#[test]
fn other_opcodes_get_notimp() {
    let mut h = H::new();
    let mut body = raw_query([0, 0, 0, 0], &[]);
    body[2] = 0x28; // UPDATE
    let f = udp_frame(IpAddr::V4(POD4), IpAddr::V4(RESOLVER4), 40000, 53, &body);
    let Outcome::Reply(f) = h.p.from_pod(f, 0, &mut h.env) else {
        panic!("NOTIMP in place")
    };
    let m = parse_udp(f.data()).unwrap().unwrap();
    let p = &f.data()[m.payload()];
    assert_eq!(p[3] & 0x0f, 4);
    assert_eq!(h.p.counters().notimp, 1);
}

#[test]
fn bad_udp_checksum_is_dropped() {
    let mut h = H::new();
    let mut buf = Vec::new();
    encode(&query(1, "x.example.", RecordType::A), &mut buf);
    let mut f = udp_frame(IpAddr::V4(POD4), IpAddr::V4(RESOLVER4), 40000, 53, &buf);
    let n = f.data().len();
    f.data_mut()[n - 1] ^= 0xff;
    assert_eq!(
        h.p.from_pod(f, 0, &mut h.env).drop_reason(),
        Some(DropReason::DnsBadChecksum)
    );
}

#[test]
fn malformed_upstream_replies_are_dropped_and_the_query_stays_pending() {
    let mut h = H::new();
    h.pod_query(&query(1, "m.example.", RecordType::A));
    let (m, q) = h.upstream();
    let id = q.metadata.id.to_be_bytes();
    for (what, mut body) in malformed_bodies() {
        body[0] = id[0];
        body[1] = id[1];
        body[2] |= 0x80;
        let out = h.deliver_raw(m.dst, m.src, m.dport, m.sport, &body);
        let r = out.drop_reason();
        assert!(
            r == Some(DropReason::DnsMalformed) || r == Some(DropReason::DnsSpoofedReply),
            "{what}: {r:?}"
        );
    }
    assert!(h.env.routed.is_empty());
    h.answer(
        &m,
        &q,
        ResponseCode::NoError,
        vec![a("m.example.", 60, "192.0.2.9")],
        vec![],
    );
    assert_eq!(a_addrs(&h.pod_answer()).len(), 1);
}

#[test]
fn malformed_records_in_an_upstream_answer_are_counted_drops_never_a_panic() {
    let mut h = H::new();
    h.pod_query(&query(1, "mal.example.", RecordType::A));
    let (m, q) = h.upstream();
    let mut r = Message::response(q.metadata.id, OpCode::Query);
    r.add_query(q.queries[0].clone());
    let mut head = Vec::new();
    assert!(encode(&r, &mut head));
    let at = head.len() as u8; // where the answer record starts
    let rec = |name: &[u8], rtype: u16, rdlen: u16, rdata: &[u8]| {
        let mut v = name.to_vec();
        v.extend_from_slice(&rtype.to_be_bytes());
        v.extend_from_slice(&[0, 1, 0, 0, 0, 60]);
        v.extend_from_slice(&rdlen.to_be_bytes());
        v.extend_from_slice(rdata);
        v
    };
    let mut long = Vec::new();
    for _ in 0..5 {
        long.push(63);
        long.extend_from_slice(&[b'a'; 63]);
    }
    long.push(0);
    let mut label64 = vec![64];
    label64.extend_from_slice(&[b'a'; 64]);
    label64.push(0);
    // A name over 255 bytes made of pointers only: five 63-byte labels, each followed by a
    // pointer to the previous one, in the RDATA of a first (NULL) record; the second record's
    // owner points at the last label.
    let rdata_at = usize::from(at) + 12;
    let mut chain = Vec::new();
    let mut prev: Option<usize> = None;
    for _ in 0..5 {
        let off = rdata_at + chain.len();
        chain.push(63);
        chain.extend_from_slice(&[b'b'; 63]);
        match prev {
            Some(p) => chain.extend_from_slice(&[0xc0 | (p >> 8) as u8, p as u8]),
            None => chain.push(0),
        }
        prev = Some(off);
    }
    let last = prev.unwrap_or(12);
    let mut chained = rec(&[0xc0, 12], 10, chain.len() as u16, &chain);
    chained.extend_from_slice(&rec(
        &[0xc0 | (last >> 8) as u8, last as u8],
        1,
        4,
        &[1, 2, 3, 4],
    ));
    let cases: Vec<(&str, u16, Vec<u8>)> = vec![
        (
            "owner compression loop",
            1,
            rec(&[0xc0, at], 1, 4, &[1, 2, 3, 4]),
        ),
        (
            "owner pointer forward",
            1,
            rec(&[0xc0, at + 20], 1, 4, &[1, 2, 3, 4]),
        ),
        (
            "owner pointer past end",
            1,
            rec(&[0xc0, 0xff], 1, 4, &[1, 2, 3, 4]),
        ),
        ("owner label > 63", 1, rec(&label64, 1, 4, &[1, 2, 3, 4])),
        ("owner name > 255", 1, rec(&long, 1, 4, &[1, 2, 3, 4])),
        ("name > 255 through pointers", 2, chained),
        (
            "rdlength past end",
            1,
            rec(&[0xc0, 12], 1, 200, &[1, 2, 3, 4]),
        ),
        ("A rdata of 3 bytes", 1, rec(&[0xc0, 12], 1, 3, &[1, 2, 3])),
        ("CNAME target loop", 1, {
            let rd = usize::from(at) + 12;
            rec(&[0xc0, 12], 5, 2, &[0xc0, rd as u8])
        }),
        (
            "inflated ANCOUNT",
            0xffff,
            rec(&[0xc0, 12], 1, 4, &[1, 2, 3, 4]),
        ),
        ("inflated ARCOUNT", 1, {
            let mut v = rec(&[0xc0, 12], 1, 4, &[1, 2, 3, 4]);
            v.extend_from_slice(&[0; 3]);
            v
        }),
    ];
    let n = cases.len() as u64;
    for (what, ancount, body) in cases {
        let mut p = head.clone();
        p[6..8].copy_from_slice(&ancount.to_be_bytes());
        if what == "inflated ARCOUNT" {
            p[10..12].copy_from_slice(&0x00ffu16.to_be_bytes());
        }
        p.extend_from_slice(&body);
        let o = h.deliver_raw(m.dst, m.src, m.dport, m.sport, &p);
        assert_eq!(o.drop_reason(), Some(DropReason::DnsMalformed), "{what}");
    }
    let c = h.p.counters();
    assert_eq!(c.upstream_malformed, n, "each one counted");
    assert_eq!(c.pending, 1, "the query is still outstanding");
    assert!(h.env.routed.is_empty());
    h.answer(
        &m,
        &q,
        ResponseCode::NoError,
        vec![a("mal.example.", 60, "192.0.2.8")],
        vec![],
    );
    assert_eq!(a_addrs(&h.pod_answer()), vec![Ipv4Addr::new(192, 0, 2, 8)]);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    /// Random bytes as a pod's DNS payload: a reply, a drop or a held query, never a panic.
    #[test]
    fn random_pod_payloads_never_panic(body in proptest::collection::vec(any::<u8>(), 0..300)) {
        let mut h = H::new();
        let f = udp_frame(IpAddr::V4(POD4), IpAddr::V4(RESOLVER4), 40000, 53, &body);
        let _ = h.p.from_pod(f, 0, &mut h.env);
        h.now += 5000;
        h.poll();
    }

    /// Random bytes as an upstream reply with the right address, ports and ID.
    #[test]
    fn random_upstream_payloads_never_panic(mut body in proptest::collection::vec(any::<u8>(), 0..300), keep_q in any::<bool>()) {
        let mut h = H::new();
        h.pod_query(&query(1, "r.example.", RecordType::A));
        let (m, q) = h.upstream();
        if body.len() >= 2 {
            body[..2].copy_from_slice(&q.metadata.id.to_be_bytes());
        }
        if keep_q && body.len() >= 12 {
            // A valid header and question, random records after it.
            let mut r = Message::response(q.metadata.id, OpCode::Query);
            r.add_query(q.queries[0].clone());
            let mut head = Vec::new();
            encode(&r, &mut head);
            head[7] = body[7];
            head[9] = body[9];
            head[11] = body[11];
            head.extend_from_slice(&body[12..]);
            body = head;
        }
        let _ = h.deliver_raw(m.dst, m.src, m.dport, m.sport, &body);
        h.now += 5000;
        h.poll();
        h.poll();
    }

    /// Random IP packets on both sides.
    #[test]
    fn random_packets_never_panic(data in proptest::collection::vec(any::<u8>(), 0..200), v6 in any::<bool>()) {
        let mut h = H::new();
        let mut d = data;
        if let Some(b) = d.first_mut() {
            *b = if v6 { 0x60 | (*b & 0x0f) } else { 0x45 };
        }
        let _ = h.p.from_pod(VecFrame::new(&d), 0, &mut h.env);
        let _ = h.p.from_upstream(VecFrame::new(&d), 0, &mut h.env, &mut h.map);
    }
}

// ---------------------------------------------------------------------------------------
// Counters, settings
// ---------------------------------------------------------------------------------------

#[test]
fn counters_expose_query_results_and_gauges() {
    let mut h = H::new();
    h.pod_query(&query(1, "g.example.", RecordType::A));
    let c = h.p.counters();
    assert_eq!(c.pending, 1);
    let labels: Vec<_> = c.query_results().iter().map(|(l, _)| *l).collect();
    for want in [
        "cache_hit",
        "forwarded",
        "rate_limited",
        "servfail",
        "synthesized46",
        "synthesized64",
        "spoofed_reply",
    ] {
        assert!(labels.contains(&want), "{want}");
    }
}

#[test]
fn worker_query_port_blocks_are_disjoint() {
    let a = worker_query_ports(DEFAULT_QUERY_PORTS, 0, 2);
    let b = worker_query_ports(DEFAULT_QUERY_PORTS, 1, 2);
    assert_eq!(a, (61440, 63487));
    assert_eq!(b, (63488, 65535));
    assert_eq!(worker_query_ports((100, 100), 3, 4), (100, 100));
}

#[test]
fn settings_from_config() {
    let mut cfg =
        egress_config::VnfConfig::from_toml_str("", std::path::Path::new("t.toml")).unwrap();
    cfg.dns.pool_ips = vec!["198.51.100.53".parse().unwrap()];
    cfg.nat46.enabled = true;
    cfg.nat64.enabled = true;
    let s = DnsSettings::from_config(&cfg, Some(SELF4), None, (61440, 65535));
    assert_eq!(s.zones.len(), 1);
    assert!(s.zones[0].name.is_root());
    assert_eq!(s.dns46.as_ref().unwrap().max_ttl, 120);
    assert_eq!(s.dns64.as_ref().unwrap().prefix.len, 96);
}

#[test]
fn mapping_table_adapter_maps_lookup_results() {
    use crate::mapping::{MappingConfig, MappingTable};
    let mut t = MappingTable::new(MappingConfig::default());
    let v6: Ipv6Addr = "2001:db8::99".parse().unwrap();
    assert_eq!(t.map_v6(v6, 0), Map46::Pending, "a miss asks the slow path");
}

// ---------------------------------------------------------------------------------------
// Cache-hit fast path
// ---------------------------------------------------------------------------------------

/// `q` encoded, with extra OPT options (`cookie`) and the DNS header's RD cleared
/// (`!rd`) as asked.
fn wire_of(q: &Message, cookie: bool, rd: bool) -> Vec<u8> {
    let mut m = q.clone();
    m.metadata.recursion_desired = rd;
    if cookie {
        if let Some(e) = m.edns.as_mut() {
            e.options_mut().insert(EdnsOption::Unknown(
                u16::from(EdnsCode::Cookie),
                vec![0x5a; 8],
            ));
        }
    }
    let mut buf = Vec::new();
    assert!(encode(&m, &mut buf));
    buf
}

/// An IPv4 frame like [`udp_frame`]'s with 4 bytes of IP options (three NOPs and an end of
/// list) before the UDP header.
fn udp_frame_with_ip_options(src: Ipv4Addr, dst: Ipv4Addr, payload: &[u8]) -> VecFrame {
    let f = udp_frame(IpAddr::V4(src), IpAddr::V4(dst), 40000, 53, payload);
    let mut d = f.data().to_vec();
    d.splice(20..20, [1, 1, 1, 0]);
    d[0] = 0x46;
    let total = u16::from_be_bytes([d[2], d[3]]) + 4;
    d[2..4].copy_from_slice(&total.to_be_bytes());
    d[10..12].fill(0);
    let c = crate::wire::checksum::checksum(&d[..24]);
    d[10..12].copy_from_slice(&c.to_be_bytes());
    VecFrame::new(&d)
}

/// Fills the cache with a mix of answers: a CNAME chain, NXDOMAIN and NODATA with their SOA,
/// a DNS46 and a DNS64 synthesized answer, a DO-keyed answer and an answer too big for a
/// client without EDNS.
fn fill_mixed_cache(h: &mut H) {
    let ask = |h: &mut H, q: Message, answers: Vec<Record>, auth: Vec<Record>, rc| {
        h.pod_query(&q);
        let (m, uq) = h.upstream();
        h.answer(&m, &uq, rc, answers, auth);
        h.take();
    };
    ask(
        h,
        query(1, "www.example.", RecordType::A),
        vec![
            cname("www.example.", 300, "web.example."),
            a("web.example.", 120, "192.0.2.10"),
            a("web.example.", 120, "192.0.2.11"),
        ],
        vec![],
        ResponseCode::NoError,
    );
    ask(
        h,
        query(2, "gone.example.", RecordType::A),
        vec![],
        vec![soa("example.", 3600, 300)],
        ResponseCode::NXDomain,
    );
    ask(
        h,
        query(3, "www.example.", RecordType::TXT),
        vec![],
        vec![soa("example.", 3600, 60)],
        ResponseCode::NoError,
    );
    ask(
        h,
        query_edns(4, "signed.example.", RecordType::A, true, false),
        vec![a("signed.example.", 90, "192.0.2.4")],
        vec![],
        ResponseCode::NoError,
    );
    ask(
        h,
        query(5, "big.example.", RecordType::A),
        (0..40)
            .map(|i| a("big.example.", 600, &format!("192.0.2.{i}")))
            .collect(),
        vec![],
        ResponseCode::NoError,
    );
    let a46 = dns46(
        h,
        "v6only.example.",
        (ResponseCode::NoError, vec![], vec![soa("example.", 60, 60)]),
        Some((
            ResponseCode::NoError,
            vec![aaaa("v6only.example.", 300, "2001:db8::46")],
            vec![],
        )),
    )
    .expect("the DNS46 answer");
    assert_eq!(a_addrs(&a46).len(), 1);
    let a64 = dns64(
        h,
        q64("v4only.example."),
        (ResponseCode::NoError, vec![], vec![soa("example.", 60, 60)]),
        Some((
            ResponseCode::NoError,
            vec![a("v4only.example.", 300, "198.51.100.64")],
            vec![],
        )),
    );
    assert_eq!(aaaa_addrs(&a64).len(), 1);
    assert_eq!(h.p.counters().cache_entries, 7);
}

/// The hits of [`fill_mixed_cache`]'s entries: (what, pod, resolver, payload).
fn mixed_hits() -> Vec<(&'static str, IpAddr, IpAddr, Vec<u8>)> {
    let (p4, r4) = (IpAddr::V4(POD4), IpAddr::V4(RESOLVER4));
    let (p6, r6) = (IpAddr::V6(pod6()), IpAddr::V6(resolver6()));
    let www = |n| query(0x1111, n, RecordType::A);
    let mut small = query_edns(0x2222, "big.example.", RecordType::A, false, false);
    small.edns.as_mut().unwrap().set_max_payload(600);
    let mut large = small.clone();
    large.edns.as_mut().unwrap().set_max_payload(4096);
    vec![
        (
            "CNAME chain",
            p4,
            r4,
            wire_of(&www("www.example."), false, true),
        ),
        (
            "0x20 case",
            p4,
            r4,
            wire_of(&www("wWw.ExAmPlE."), false, true),
        ),
        (
            "RD clear",
            p4,
            r4,
            wire_of(&www("WWW.EXAMPLE."), false, false),
        ),
        (
            "EDNS",
            p4,
            r4,
            wire_of(
                &query_edns(9, "www.Example.", RecordType::A, false, false),
                false,
                true,
            ),
        ),
        (
            "EDNS cookie",
            p4,
            r4,
            wire_of(
                &query_edns(9, "www.example.", RecordType::A, false, false),
                true,
                true,
            ),
        ),
        (
            "from IPv6",
            p6,
            r6,
            wire_of(&www("www.example."), false, true),
        ),
        (
            "NXDOMAIN",
            p4,
            r4,
            wire_of(&www("Gone.Example."), false, true),
        ),
        (
            "NODATA",
            p4,
            r4,
            wire_of(&query(3, "www.example.", RecordType::TXT), false, true),
        ),
        (
            "DO",
            p4,
            r4,
            wire_of(
                &query_edns(4, "SIGNED.example.", RecordType::A, true, false),
                false,
                true,
            ),
        ),
        (
            "TC without EDNS",
            p4,
            r4,
            wire_of(&www("big.example."), false, true),
        ),
        ("TC with EDNS 600", p4, r4, wire_of(&small, false, true)),
        ("EDNS 4096", p4, r4, wire_of(&large, true, true)),
        (
            "DNS46",
            p4,
            r4,
            wire_of(&www("V6only.example."), false, true),
        ),
        (
            "DNS64",
            p6,
            r6,
            wire_of(&q64("v4ONLY.example."), false, true),
        ),
    ]
}

#[test]
fn fast_path_answers_are_byte_identical_to_the_hickory_path() {
    let mut fast = H::new();
    let mut slow = H::new();
    slow.p.set_fast_path(false);
    for h in [&mut fast, &mut slow] {
        fill_mixed_cache(h);
        // TTLs are decremented by whole seconds spent in the cache.
        h.now += 7_300;
    }
    let hits = mixed_hits();
    for (what, src, dst, payload) in &hits {
        let mut out = Vec::new();
        for h in [&mut fast, &mut slow] {
            let f = udp_frame(*src, *dst, 40000, 53, payload);
            match h.p.from_pod(f, h.now, &mut h.env) {
                Outcome::Reply(f) => out.push(f.data().to_vec()),
                o => panic!("{what}: expected a cache hit, got {}", o.kind()),
            }
        }
        assert_eq!(out[0], out[1], "{what}: the same bytes");
        // And a valid answer: checksums, the client's ID and question bytes.
        let m = parse_udp(&out[0]).unwrap().unwrap();
        assert!(udp_checksum_ok(&out[0], &m), "{what}");
        let ans = &out[0][m.payload()];
        assert_eq!(ans[..2], payload[..2], "{what}: ID");
        let qlen = Message::from_vec(payload).unwrap().queries[0].name.len() + 5;
        assert_eq!(
            ans[12..12 + qlen],
            payload[12..12 + qlen],
            "{what}: question"
        );
    }
    assert_eq!(
        fast.p.fast_answers,
        hits.len() as u64,
        "all on the fast path"
    );
    assert_eq!(slow.p.fast_answers, 0);
    assert_eq!(fast.p.counters(), slow.p.counters(), "the same counters");
    let c = fast.p.counters();
    assert_eq!(c.cache_hit, hits.len() as u64);
    assert_eq!(c.nxdomain, 2, "the first answer and the hit");
    assert_eq!(
        c.truncated, 3,
        "the first answer (cut to 512 bytes) and two hits"
    );
    assert_eq!(fast.p.cache_items(fast.now), slow.p.cache_items(slow.now));
}

#[test]
fn fast_path_keeps_the_client_case_and_decrements_ttls() {
    let mut h = H::new();
    fill_mixed_cache(&mut h);
    h.now += 100_999;
    let before = h.p.fast_answers;
    let ans = hit(&mut h, &query(0x4242, "WwW.eXaMpLe.", RecordType::A));
    assert_eq!(h.p.fast_answers, before + 1);
    assert_eq!(ans.metadata.id, 0x4242);
    assert_eq!(ans.queries[0].name.to_ascii(), "WwW.eXaMpLe.");
    assert!(ans.queries[0].name.eq_case(&name("WwW.eXaMpLe.")));
    // 100.999 s in the cache: 100 whole seconds off every TTL.
    assert_eq!(ans.answers[0].ttl, 200, "CNAME 300 - 100");
    assert_eq!(ans.answers[1].ttl, 20, "A 120 - 100");
    assert_eq!(a_addrs(&ans).len(), 2);
    let nx = hit(&mut h, &query(1, "gone.example.", RecordType::A));
    assert_eq!(nx.metadata.response_code, ResponseCode::NXDomain);
    assert_eq!(nx.authorities[0].ttl, 200, "negative TTL 300 - 100");
    // Expiry is unchanged: the A records' 120 s bound the entry.
    h.now += 20_000;
    assert_eq!(
        h.pod_query(&query(2, "www.example.", RecordType::A)).kind(),
        "held"
    );
}

#[test]
fn fast_path_answers_a_query_behind_ip_options_like_the_hickory_path() {
    let mut out = Vec::new();
    for fast in [true, false] {
        let mut h = H::new();
        h.p.set_fast_path(fast);
        fill_mixed_cache(&mut h);
        let payload = wire_of(&query(0x77, "wWw.example.", RecordType::A), false, true);
        let f = udp_frame_with_ip_options(POD4, RESOLVER4, &payload);
        let Outcome::Reply(f) = h.p.from_pod(f, h.now, &mut h.env) else {
            panic!("a cache hit")
        };
        assert_eq!(h.p.fast_answers, u64::from(fast));
        out.push(f.data().to_vec());
    }
    assert_eq!(out[0], out[1]);
    let m = parse_udp(&out[0]).unwrap().unwrap();
    assert_eq!(m.udp_at, 20, "the answer has no IP options");
    let ans = Message::from_vec(&out[0][m.payload()]).unwrap();
    assert_eq!(ans.queries[0].name.to_ascii(), "wWw.example.");
    assert_eq!(a_addrs(&ans).len(), 2);
}

#[test]
fn unusual_queries_for_a_cached_name_take_the_hickory_path() {
    let mut h = H::new();
    fill_mixed_cache(&mut h);
    let plain = wire_of(&query(0x55, "www.example.", RecordType::A), false, true);
    // A trailing byte and a non-OPT additional record: the hickory path ignores both and
    // answers from the cache.
    let mut trailing = plain.clone();
    trailing.push(0);
    let mut extra = plain.clone();
    extra[11] = 1;
    extra.extend_from_slice(&[0, 0, 250, 0, 255, 0, 0, 0, 0, 0, 0]);
    // Two OPT records: FORMERR.
    let mut two_opt = wire_of(
        &query_edns(0x55, "www.example.", RecordType::A, false, false),
        false,
        true,
    );
    let opt = two_opt[two_opt.len() - 11..].to_vec();
    two_opt[11] = 2;
    two_opt.extend_from_slice(&opt);
    let hits = h.p.counters().cache_hit;
    for (what, payload, rcode) in [
        ("trailing byte", &trailing, ResponseCode::NoError),
        ("TSIG-like additional", &extra, ResponseCode::NoError),
        ("two OPT records", &two_opt, ResponseCode::FormErr),
    ] {
        let f = udp_frame(IpAddr::V4(POD4), IpAddr::V4(RESOLVER4), 40000, 53, payload);
        let Outcome::Reply(f) = h.p.from_pod(f, h.now, &mut h.env) else {
            panic!("{what}: answered in place")
        };
        let m = parse_udp(f.data()).unwrap().unwrap();
        let ans = Message::from_vec(&f.data()[m.payload()]).unwrap();
        assert_eq!(ans.metadata.response_code, rcode, "{what}");
    }
    assert_eq!(h.p.fast_answers, 0, "none on the fast path");
    assert_eq!(h.p.counters().cache_hit, hits + 2);
    assert_eq!(h.p.counters().formerr, 1);
}

#[test]
fn hostile_queries_fall_back_to_a_counted_formerr_never_a_panic() {
    let mut h = H::new();
    fill_mixed_cache(&mut h);
    let mut k = fast::WireKey::default();
    for (what, body) in malformed_bodies() {
        assert!(
            fast::parse(&body, &mut k).is_none(),
            "{what}: not the fast path"
        );
        let f = udp_frame(IpAddr::V4(POD4), IpAddr::V4(RESOLVER4), 40000, 53, &body);
        let Outcome::Reply(f) = h.p.from_pod(f, h.now, &mut h.env) else {
            panic!("{what}: FORMERR in place")
        };
        let m = parse_udp(f.data()).unwrap().unwrap();
        assert_eq!(f.data()[m.payload()][3] & 0x0f, 1, "{what}: FORMERR");
    }
    // A pointer in the question that hickory follows (to offset 4, the QDCOUNT's zero high
    // byte: the root name): the hickory path forwards the question, the fast path stays out.
    let p = raw_query([1, 0, 0, 0], &[0xc0, 4, 0, 1, 0, 1]);
    assert!(
        fast::parse(&p, &mut k).is_none(),
        "pointer: not the fast path"
    );
    let f = udp_frame(IpAddr::V4(POD4), IpAddr::V4(RESOLVER4), 40000, 53, &p);
    assert_eq!(h.p.from_pod(f, h.now, &mut h.env).kind(), "held");
    assert_eq!(h.p.fast_answers, 0);
    assert_eq!(
        h.p.counters().formerr,
        malformed_bodies().len() as u64,
        "each counted"
    );
}

#[test]
fn timeouts_fire_on_time_with_a_table_larger_than_one_poll_sweep() {
    let mut s = settings();
    s.pending_capacity = 1000;
    s.upstream_timeout_ms = 1000;
    let mut h = H::with(s);
    let t0 = h.now;
    let mut deadlines = Vec::new();
    // 600 queries, one per ms, each timing out 1 s after it was sent.
    for i in 0..600u64 {
        h.now = t0 + i;
        h.pod_query(&query(i as u16, &format!("t{i}.example."), RecordType::A));
        deadlines.push(h.now + 1000);
        h.poll();
    }
    h.take();
    assert_eq!(h.p.counters().upstream_timeouts, 0, "none early");
    let sweep = 1000usize.div_ceil(POLL_SCAN) as u64;
    let mut t = h.now;
    while t < t0 + 4000 {
        t += 5;
        h.now = t;
        h.poll();
        let timeouts = h.p.counters().upstream_timeouts;
        // Each query times out once to the second server, and once more (then SERVFAIL)
        // 1 s later.
        let due = |slack: u64| {
            deadlines
                .iter()
                .map(|&d| u64::from(d + slack <= t) + u64::from(d + 1000 + slack <= t))
                .sum::<u64>()
        };
        assert!(
            timeouts <= due(0),
            "at {t}: {timeouts} timeouts, only {} due",
            due(0)
        );
        assert!(
            timeouts >= due(5 * sweep),
            "at {t}: {timeouts} timeouts, {} overdue",
            due(5 * sweep)
        );
    }
    assert_eq!(h.p.counters().upstream_timeouts, 1200);
    assert_eq!(h.p.counters().pending, 0);
    h.env.routed.clear();
    // Nothing pending: poll has nothing to do, and new queries still time out.
    h.poll();
    h.pod_query(&query(1, "late.example.", RecordType::A));
    h.now += 999;
    for _ in 0..sweep {
        h.poll();
    }
    assert_eq!(h.p.counters().upstream_timeouts, 1200);
    h.now += 1;
    for _ in 0..sweep {
        h.poll();
    }
    assert_eq!(h.p.counters().upstream_timeouts, 1201);
}
