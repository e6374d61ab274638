//! Micro-benchmarks of the DNS gateway without DPDK (issue 8, "queries per second per worker
//! core for cache hits"; target >= 1 M qps/core):
//!
//! - `dns/cache_lookup`: `Cache::get` of a present key (a hickory `QKey`, turned into its wire
//!   form) in a cache of 10 000 answers;
//! - `dns/cache_lookup_wire`: `Cache::hash` + `Cache::get_wire` of a key already in wire form,
//!   as the fast path looks answers up;
//! - `dns/cache_hit_query/*`: a pod's UDP query answered from the cache by
//!   `DnsProxy::from_pod` on a `VecFrame` through the fast path (UDP checksum, rate limit,
//!   header and question read from the wire, keyed-hash lookup, the stored answer copied
//!   around the query's question in the same frame with fresh IP/UDP headers and checksums),
//!   for a query without EDNS (`plain`), with EDNS (`edns`) and with EDNS and a cookie option
//!   like `dig`'s (`edns_cookie`); the frame is reset to the next query before each call
//!   (`dns/reset_only` is that reset alone);
//! - `dns/cache_hit_query_hickory/*`: the same queries with the fast path turned off
//!   (`DnsProxy::set_fast_path(false)`): hickory-proto decodes each query, as every hit did
//!   before the fast path.
//!
//! One call is one query: criterion's `elem/s` is queries per second on one core, from
//! wall-clock time. Before measuring, the cache-hit path is run 10 000 times under a counting
//! allocator and the allocations per query are printed (the path must not allocate), then
//! 1 000 000 times under this thread's CPU-time clock (`/proc/thread-self/schedstat`): that
//! `M qps per CPU-second` figure is what a dedicated worker core would do, and unlike the
//! wall-clock one it is not inflated when other processes share the cores.
//!
//! `cargo bench -p egress-perf --bench dns`; `DNS_BENCH_QUERIES=N` sets the length of the
//! per-CPU-second loops and `DNS_BENCH_CASES=a,b` keeps only the query cases whose name
//! contains `a` or `b` (both for instruction counts under callgrind, see `perf/README.md`).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use egress_perf::gen;
use egress_vnf::action::{Outcome, TestEnv};
use egress_vnf::dns::cache::Cache;
use egress_vnf::dns::fast::WireKey;
use egress_vnf::dns::message::{encode, QKey, Template};
use egress_vnf::dns::packet::parse_udp;
use egress_vnf::dns::{DnsProxy, DnsSettings, NoMapper, Zone};
use egress_vnf::frame::{Frame, VecFrame};
use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query};
use hickory_proto::rr::rdata::opt::{EdnsCode, EdnsOption};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};
use std::alloc::System;
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const POD: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 5);
const RESOLVER: Ipv4Addr = Ipv4Addr::new(10, 96, 0, 10);
const SELF4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 254);
const SERVER: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 53);
/// Answers in the cache.
const NAMES: usize = 10_000;
/// Distinct queries cycled through by the benchmark.
const QUERIES: usize = 1024;
const NOW: u64 = 1_000_000;

fn name(i: usize) -> Name {
    Name::from_ascii(format!("host{i}.svc.example.com.")).expect("a valid name")
}

#[derive(Clone, Copy)]
enum Kind {
    Plain,
    Edns,
    EdnsCookie,
}

/// The pod's query for name `i`, as an IPv4/UDP packet.
fn query_packet(i: usize, kind: Kind) -> Vec<u8> {
    let mut m = Message::new(i as u16, MessageType::Query, OpCode::Query);
    m.metadata.recursion_desired = true;
    m.add_query(Query::query(name(i), RecordType::A));
    if !matches!(kind, Kind::Plain) {
        let mut e = Edns::new();
        e.set_max_payload(1232);
        if matches!(kind, Kind::EdnsCookie) {
            e.options_mut().insert(EdnsOption::Unknown(
                u16::from(EdnsCode::Cookie),
                vec![0x5a; 8],
            ));
        }
        m.edns = Some(e);
    }
    let mut payload = Vec::new();
    assert!(encode(&m, &mut payload));
    gen::ipv4_udp(POD, RESOLVER, 40000 + (i % 1000) as u16, 53, &payload, 1)
}

fn settings() -> DnsSettings {
    DnsSettings {
        self_v4: Some(SELF4),
        zones: vec![Zone {
            name: Name::root(),
            servers: vec![SocketAddr::new(IpAddr::V4(SERVER), 53)],
        }],
        cache_entries: 65536,
        cache_bytes: 64 << 20,
        ..DnsSettings::default()
    }
}

/// A proxy whose cache holds the A answers of names `0..NAMES` (filled through the proxy:
/// query, upstream query, upstream answer).
fn warm_proxy() -> (DnsProxy, TestEnv) {
    let mut p = DnsProxy::new(settings(), [9; 32]);
    let mut env = TestEnv::default();
    let mut map = NoMapper;
    for i in 0..NAMES {
        let q = VecFrame::new(&query_packet(i, Kind::Plain));
        assert!(matches!(p.from_pod(q, NOW, &mut env), Outcome::Held));
        let up = env.routed.pop().expect("the upstream query");
        let meta = parse_udp(up.data()).ok().flatten().expect("UDP");
        let uq = Message::from_vec(&up.data()[meta.payload()]).expect("a query");
        let mut r = Message::response(uq.metadata.id, OpCode::Query);
        r.metadata.recursion_available = true;
        r.add_query(uq.queries[0].clone());
        r.add_answer(Record::from_rdata(
            name(i),
            3600,
            RData::A(A(Ipv4Addr::new(198, 18, (i >> 8) as u8, i as u8))),
        ));
        let mut payload = Vec::new();
        assert!(encode(&r, &mut payload));
        let ans = gen::ipv4_udp(SERVER, SELF4, 53, meta.sport, &payload, 2);
        let o = p.from_upstream(VecFrame::new(&ans), NOW, &mut env, &mut map);
        assert!(matches!(o, Outcome::Held));
        env.routed.clear();
    }
    assert_eq!(p.counters().cache_entries, NAMES as u64);
    (p, env)
}

/// This thread's CPU time in ns (Linux `/proc/thread-self/schedstat`), if available.
fn thread_cpu_ns() -> Option<u64> {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Queries of the per-CPU-second loops: 1 000 000, or `DNS_BENCH_QUERIES` (a small count
/// makes the binary quick to run under `valgrind --tool=callgrind`; two runs with different
/// counts give the instructions per query by difference).
fn loop_count() -> usize {
    std::env::var("DNS_BENCH_QUERIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000)
}

/// Runs `f(0..n)` and prints the rate per CPU-second and per wall-clock second.
fn per_cpu_second(label: &str, n: usize, mut f: impl FnMut(usize)) {
    let (w0, c0) = (std::time::Instant::now(), thread_cpu_ns());
    for i in 0..n {
        f(i);
    }
    let wall = w0.elapsed().as_secs_f64();
    match (c0, thread_cpu_ns()) {
        (Some(a), Some(b)) if b > a => {
            let cpu = (b - a) as f64 / 1e9;
            println!(
                "{label}: {n} in {cpu:.3} s of CPU ({wall:.3} s wall): {:.2} M per CPU-second \
                 ({:.0} ns each), {:.2} M per wall-clock second",
                n as f64 / cpu / 1e6,
                cpu * 1e9 / n as f64,
                n as f64 / wall / 1e6
            );
        }
        _ => println!(
            "{label}: {n} in {wall:.3} s wall: {:.2} M per second (no CPU clock)",
            n as f64 / wall / 1e6
        ),
    }
}

/// Resets `f` to `pkt` (the proxy rewrote it into the answer).
#[inline]
fn reset(f: &mut VecFrame, pkt: &[u8]) {
    let _ = f.set_len(pkt.len());
    f.data_mut().copy_from_slice(pkt);
}

/// One cache-hit query: reset, answer. Panics unless it is answered from the cache.
#[inline]
fn hit(p: &mut DnsProxy, env: &mut TestEnv, frame: &mut Option<VecFrame>, pkt: &[u8]) {
    let mut f = frame.take().expect("the frame");
    reset(&mut f, pkt);
    match p.from_pod(f, NOW, env) {
        Outcome::Reply(f) => *frame = Some(black_box(f)),
        o => panic!("not a cache hit: {}", o.kind()),
    }
}

fn cache_hit(c: &mut Criterion) {
    let (mut p, mut env) = warm_proxy();
    let mut g = c.benchmark_group("dns");
    g.throughput(Throughput::Elements(1));
    let mut cases = Vec::new();
    for fast in [true, false] {
        for (label, kind) in [
            ("plain", Kind::Plain),
            ("edns", Kind::Edns),
            ("edns_cookie", Kind::EdnsCookie),
        ] {
            let group = if fast {
                "cache_hit_query"
            } else {
                "cache_hit_query_hickory"
            };
            cases.push((format!("{group}/{label}"), kind, fast));
        }
    }
    // `DNS_BENCH_CASES=plain,...`: only the cases whose name contains one of these.
    let only = std::env::var("DNS_BENCH_CASES").ok();
    for (label, kind, fast) in cases {
        if let Some(o) = &only {
            if !o.split(',').any(|w| label.contains(w)) {
                continue;
            }
        }
        p.set_fast_path(fast);
        let pkts: Vec<Vec<u8>> = (0..QUERIES)
            .map(|i| query_packet(i * 7 % NAMES, kind))
            .collect();
        let mut frame = Some(VecFrame::new(&pkts[0]));
        // Allocations of the cache-hit path.
        let before = p.counters().cache_hit;
        let region = Region::new(GLOBAL);
        for i in 0..10_000 {
            hit(&mut p, &mut env, &mut frame, &pkts[i % QUERIES]);
        }
        let stats = region.change();
        assert_eq!(p.counters().cache_hit - before, 10_000);
        println!(
            "dns/{label}: {:.3} allocations, {:.1} bytes allocated per query",
            stats.allocations as f64 / 10_000.0,
            stats.bytes_allocated as f64 / 10_000.0
        );
        per_cpu_second(&format!("dns/{label}"), loop_count(), |i| {
            hit(&mut p, &mut env, &mut frame, &pkts[i % QUERIES])
        });
        let mut i = 0usize;
        g.bench_function(label, |b| {
            b.iter(|| {
                i = (i + 1) % QUERIES;
                hit(&mut p, &mut env, &mut frame, &pkts[i]);
            })
        });
    }
    let pkts: Vec<Vec<u8>> = (0..QUERIES).map(|i| query_packet(i, Kind::Plain)).collect();
    let mut f = VecFrame::new(&pkts[0]);
    let mut i = 0usize;
    g.bench_function("reset_only", |b| {
        b.iter(|| {
            i = (i + 1) % QUERIES;
            reset(&mut f, &pkts[i]);
            black_box(&mut f);
        })
    });
    g.finish();
}

fn cache_lookup(c: &mut Criterion) {
    let mut cache = Cache::new(65536, 64 << 20);
    let keys: Vec<QKey> = (0..NAMES)
        .map(|i| QKey {
            name: name(i),
            qtype: RecordType::A,
            qclass: DNSClass::IN,
            dnssec_ok: false,
            checking_disabled: false,
        })
        .collect();
    let mut tpl = Template::default();
    for (i, k) in keys.iter().enumerate() {
        let mut m = Message::response(0, OpCode::Query);
        m.add_query(k.query());
        m.add_answer(Record::from_rdata(
            k.name.clone(),
            3600,
            RData::A(A(Ipv4Addr::new(198, 18, (i >> 8) as u8, i as u8))),
        ));
        assert!(tpl.fill(&m));
        cache.insert(k, &tpl, 3600, NOW);
    }
    assert_eq!(cache.len(), NAMES);
    per_cpu_second("dns/cache_lookup", loop_count(), |i| {
        let k = &keys[i * 7 % NAMES];
        black_box(cache.get(k, NOW).map(|(t, e)| (t.wire.len(), e)));
    });
    let wkeys: Vec<WireKey> = keys
        .iter()
        .map(|k| WireKey::of(k).expect("a short name"))
        .collect();
    per_cpu_second("dns/cache_lookup_wire", loop_count(), |i| {
        let k = wkeys[i * 7 % NAMES].as_bytes();
        let h = cache.hash(k);
        black_box(cache.get_wire(k, h, NOW).map(|(t, e)| (t.wire.len(), e)));
    });
    let mut g = c.benchmark_group("dns");
    g.throughput(Throughput::Elements(1));
    let mut i = 0usize;
    g.bench_function("cache_lookup", |b| {
        b.iter(|| {
            i = (i + 7) % NAMES;
            let hit = cache.get(&keys[i], NOW).map(|(t, e)| (t.wire.len(), e));
            black_box(hit.expect("present"));
        })
    });
    g.bench_function("cache_lookup_wire", |b| {
        b.iter(|| {
            i = (i + 7) % NAMES;
            let k = wkeys[i].as_bytes();
            let h = cache.hash(k);
            let hit = cache.get_wire(k, h, NOW).map(|(t, e)| (t.wire.len(), e));
            black_box(hit.expect("present"));
        })
    });
    g.finish();
}

criterion_group!(benches, cache_lookup, cache_hit);
criterion_main!(benches);
