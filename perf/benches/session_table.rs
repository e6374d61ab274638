//! Micro-benchmarks of the NAT session table (`egress_vnf::nat::SessionTable`), without DPDK:
//! - `session_table/lookup/{1k,1M,16M}`: one in2out lookup of a live session chosen at random,
//!   per iteration (the latency of an isolated lookup: every cache and TLB miss is paid in full);
//! - `session_table/lookup_burst32/{1k,1M,16M}`: 32 lookups per iteration through
//!   `lookup_burst` (hashes first, then the index slots and session bodies prefetched for the
//!   whole burst, then the compares): how a worker looks up a burst of 32 packets;
//! - `session_table/new_flow/{1k,1M}`: a new flow as the data path opens it (the in2out lookup
//!   misses, then `open`: mapping, port, session, both keys), into a table with room;
//! - `session_table/open_burst32/1M`: the same, 32 at a time through `lookup_burst`.
//!
//! Tables are built with capacity = session count (a power of two), sessions of 4 remotes per
//! mapping (pod address and port), 64 ports per pod, 128 SNAT addresses. The memory per session
//! (slabs and indexes, divided by the capacity) is printed for each size.
//!
//! `cargo bench -p egress-perf --bench session_table` (the 16 M table takes about 3.5 GB and a
//! minute to fill; `SESSION_BENCH_MAX=1M` skips it).

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use egress_vnf::nat::hash::random_secret;
use egress_vnf::nat::{addr_v4, Dir, FlowKey, NewSession, SessionKind, SessionTable, TableConfig};
use std::hint::black_box;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

const BURST: usize = 32;

fn sizes() -> Vec<(&'static str, u32)> {
    let all = [("1k", 1u32 << 10), ("1M", 1 << 20), ("16M", 1 << 24)];
    let max = std::env::var("SESSION_BENCH_MAX").unwrap_or_default();
    all.into_iter()
        .filter(|(n, _)| max.is_empty() || *n != "16M" || max == "16M")
        .collect()
}

fn config(capacity: u32) -> TableConfig {
    TableConfig {
        capacity,
        timeouts: Default::default(),
        pool_v4: (0..128u32)
            .map(|i| addr_v4(Ipv4Addr::from(0x6440_0000 + i)))
            .collect(),
        pool_v6: Vec::new(),
        port_min: 1024,
        port_max: 65535,
        workers: 1,
        worker: 0,
        pod_quota: 0,
        secret: random_secret(),
    }
}

/// Session `i`: mapping `i / 4` (pod `m / 64`, port `10000 + m % 64`), remote `i % 4`.
fn new_session(i: u32) -> NewSession {
    let m = i / 4;
    let remote = addr_v4(Ipv4Addr::from(0xc633_6400 + (i % 4)));
    NewSession {
        kind: SessionKind::Snat44,
        proto: 17,
        inside: addr_v4(Ipv4Addr::from(0x0a00_0000 + (m >> 6))),
        inside_port: 10000 + (m & 63) as u16,
        remote_in: remote,
        remote_in_port: 443,
        remote_out: remote,
        remote_out_port: 443,
    }
}

fn key(n: &NewSession) -> FlowKey {
    FlowKey {
        proto: n.proto,
        local: n.inside,
        local_port: n.inside_port,
        remote: n.remote_in,
        remote_port: n.remote_in_port,
    }
}

fn filled(n: u32) -> SessionTable {
    let t0 = Instant::now();
    let mut t = SessionTable::new(&config(n));
    let built = t0.elapsed();
    for i in 0..n {
        t.open(&new_session(i), 0)
            .expect("table sized for the sessions");
    }
    eprintln!(
        "session_table: {n} sessions: {} bytes per session (capacity {n}), built in {:.2} s, filled in {:.2} s",
        t.bytes_per_session(),
        built.as_secs_f64(),
        (t0.elapsed() - built).as_secs_f64()
    );
    t
}

/// The `j`-th session of a pseudo-random walk over `0..n` (`n` a power of two).
#[inline]
fn pick(j: u32, n: u32) -> u32 {
    j.wrapping_mul(0x9e37_79b1) & (n - 1)
}

fn lookups(c: &mut Criterion) {
    let mut g = c.benchmark_group("session_table");
    g.sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    for (name, n) in sizes() {
        let mut t = filled(n);
        // Every key must hit.
        for i in [0, n / 2, n - 1] {
            assert!(t.lookup_in2out(&key(&new_session(i)), 1).is_some());
        }
        g.throughput(Throughput::Elements(1));
        let mut j = 0u32;
        g.bench_function(format!("lookup/{name}"), |b| {
            b.iter(|| {
                j = j.wrapping_add(1);
                let k = key(&new_session(pick(j, n)));
                black_box(t.lookup_in2out(black_box(&k), 1))
            })
        });
        g.throughput(Throughput::Elements(BURST as u64));
        let mut keys = [key(&new_session(0)); BURST];
        for (k, i) in keys.iter_mut().zip(0..) {
            *k = key(&new_session(pick(i, n)));
        }
        let mut out = [None; BURST];
        t.lookup_burst(Dir::In2Out, &keys, &mut out, 1);
        assert!(out.iter().all(Option::is_some));
        g.bench_function(format!("lookup_burst32/{name}"), |b| {
            b.iter(|| {
                for k in keys.iter_mut() {
                    j = j.wrapping_add(1);
                    *k = key(&new_session(pick(j, n)));
                }
                t.lookup_burst(Dir::In2Out, black_box(&keys), &mut out, 1);
                black_box(&out);
            })
        });
        drop(t);
    }
    g.finish();
}

/// Nanoseconds per lookup in the fastest of 300 samples of 256 x 32 lookups: on a shared,
/// loaded machine (the usual case here) the mean mostly measures preemption and the other
/// processes' cache traffic; the best sample is the closest to the table's own cost.
fn best_lookup_ns(t: &mut SessionTable, n: u32, burst: bool) -> f64 {
    let mut j = 0u32;
    let mut best = f64::MAX;
    let mut keys = [key(&new_session(0)); BURST];
    let mut out = [None; BURST];
    for _ in 0..300 {
        let t0 = Instant::now();
        for _ in 0..256 {
            for k in keys.iter_mut() {
                j = j.wrapping_add(1);
                *k = key(&new_session(pick(j, n)));
            }
            if burst {
                t.lookup_burst(Dir::In2Out, black_box(&keys), &mut out, 1);
            } else {
                for (o, k) in out.iter_mut().zip(keys.iter()) {
                    *o = t.lookup_in2out(black_box(k), 1);
                }
            }
            black_box(&out);
        }
        best = best.min(t0.elapsed().as_nanos() as f64 / f64::from(256 * BURST as u32));
    }
    best
}

/// New flows per second in the fastest 4096-flow stretch of filling a table of `n` (lookup
/// miss + open, as the data path does it), and overall.
fn best_new_flows(n: u32) -> (f64, f64) {
    let mut t = SessionTable::new(&config(n));
    let mut best = f64::MAX;
    let all = Instant::now();
    for base in (0..n).step_by(4096) {
        let t0 = Instant::now();
        for i in base..(base + 4096).min(n) {
            let s = new_session(i);
            if t.lookup_in2out(&key(&s), 0).is_none() {
                let _ = black_box(t.open(&s, 0));
            }
        }
        best = best.min(t0.elapsed().as_secs_f64() / 4096.0);
    }
    (1.0 / best, f64::from(n) / all.elapsed().as_secs_f64())
}

/// A summary of best-case figures, printed before the criterion runs.
fn best_case(_c: &mut Criterion) {
    let mut base = None;
    for (name, n) in sizes() {
        let mut t = filled(n);
        let single = best_lookup_ns(&mut t, n, false);
        let burst = best_lookup_ns(&mut t, n, true);
        let (s0, b0) = *base.get_or_insert((single, burst));
        eprintln!(
            "session_table best case {name}: lookup {single:.1} ns ({:+.0} % vs 1k), in bursts of 32 {burst:.1} ns ({:+.0} % vs 1k), {} bytes per session",
            (single / s0 - 1.0) * 100.0,
            (burst / b0 - 1.0) * 100.0,
            t.bytes_per_session()
        );
    }
    for (name, n) in [("1k", 1u32 << 12), ("1M", 1 << 20)] {
        let (best, overall) = best_new_flows(n);
        eprintln!(
            "session_table best case new flows {name}: {:.2} M/s (fastest 4096), {:.2} M/s overall",
            best / 1e6,
            overall / 1e6
        );
    }
}

fn new_flows(c: &mut Criterion) {
    let mut g = c.benchmark_group("session_table");
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    for (name, n) in [("1k", 1u32 << 10), ("1M", 1 << 20)] {
        g.throughput(Throughput::Elements(u64::from(n)));
        // One iteration opens `n` new flows into an empty table of capacity `n`.
        g.bench_function(format!("new_flow/{name}"), |b| {
            b.iter_batched_ref(
                || SessionTable::new(&config(n)),
                |t| {
                    for i in 0..n {
                        let s = new_session(i);
                        if t.lookup_in2out(&key(&s), 0).is_none() {
                            let _ = black_box(t.open(&s, 0));
                        }
                    }
                },
                BatchSize::PerIteration,
            )
        });
    }
    let n = 1u32 << 20;
    g.throughput(Throughput::Elements(u64::from(n)));
    g.bench_function("open_burst32/1M", |b| {
        b.iter_batched_ref(
            || SessionTable::new(&config(n)),
            |t| {
                let mut keys = [key(&new_session(0)); BURST];
                let mut out = [None; BURST];
                for base in (0..n).step_by(BURST) {
                    for (k, i) in keys.iter_mut().zip(base..) {
                        *k = key(&new_session(i));
                    }
                    t.lookup_burst(Dir::In2Out, &keys, &mut out, 0);
                    for (o, i) in out.iter().zip(base..) {
                        if o.is_none() {
                            let _ = black_box(t.open(&new_session(i), 0));
                        }
                    }
                }
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

criterion_group!(benches, best_case, lookups, new_flows);
criterion_main!(benches);
