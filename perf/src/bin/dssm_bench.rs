//! `dssm_bench`: DNS46 mapping creations per second through the slow-path dSSM client, and
//! lookup latency, against a local Redis master + replica + Sentinel with mutual TLS (started
//! and stopped by the bench, loopback only).
//!
//! Measured:
//! - creations/s: N `Create6` requests pushed into worker links as fast as they are taken; the
//!   time until every answer is back (allocation, the Lua script, one `WAIT 1` per pipelined
//!   batch). Reported with `WAIT 1` (durable, the default) and with `wait_replicas = 0`.
//! - slow-path lookup latency: one `Lookup4` at a time (worker link -> dSSM -> answer), p50/p99.
//! - worker cache hit latency: `MappingTable::lookup_v4` on cached pairs, ns per lookup.
//!
//! Worker links here are in-memory queues (`MemLink`), not DPDK rings: the figures are the
//! client's and Redis's, not the rings'.
//!
//! usage: dssm_bench [--creations N] [--lookups N] [--workers N] [--out FILE]

use egress_vnf::mapping::{
    Lookup, MapOp, MapStatus, MappingConfig, MappingRequest, MappingResult, MappingTable,
};
use egress_vnf::slowpath::dssm::testbed::{Testbed, TestbedOptions};
use egress_vnf::slowpath::dssm::{start, DssmHandle, MemLink, SliceAllocator, WorkerLink};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::process::ExitCode;
use std::time::{Duration, Instant};

struct Opts {
    creations: u32,
    lookups: u32,
    workers: usize,
    out: Option<String>,
}

fn parse() -> Result<Opts, String> {
    let mut o = Opts {
        creations: 200_000,
        lookups: 5_000,
        workers: 2,
        out: Some("perf/results/dssm.json".into()),
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut val = || it.next().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--creations" => o.creations = val()?.parse().map_err(|e| format!("{e}"))?,
            "--lookups" => o.lookups = val()?.parse().map_err(|e| format!("{e}"))?,
            "--workers" => o.workers = val()?.parse().map_err(|e| format!("{e}"))?,
            "--out" => o.out = Some(val()?),
            "--no-out" => o.out = None,
            "-h" | "--help" => {
                return Err(
                    "usage: dssm_bench [--creations N] [--lookups N] [--workers N] [--out FILE|--no-out]"
                        .into(),
                )
            }
            _ => return Err(format!("unknown argument {a}")),
        }
    }
    Ok(o)
}

fn v6(base: u128, i: u32) -> Ipv6Addr {
    Ipv6Addr::from(base + i as u128)
}

fn wait_up(h: &DssmHandle) -> Result<(), String> {
    let t0 = Instant::now();
    while !h.is_up() {
        if t0.elapsed() > Duration::from_secs(15) {
            return Err("the dSSM client did not connect".into());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok(())
}

/// Pushes `n` creations split over the links; returns (seconds, found).
fn creations(links: &[MemLink], n: u32, base: u128) -> (f64, u64) {
    let t0 = Instant::now();
    let per = n / links.len() as u32;
    let found: u64 = std::thread::scope(|sc| {
        let hs: Vec<_> = links
            .iter()
            .enumerate()
            .map(|(w, l)| {
                sc.spawn(move || {
                    let first = w as u32 * per;
                    let reqs: Vec<MappingRequest> = (first..first + per)
                        .map(|i| MappingRequest::create6(w as u16, v6(base, i)))
                        .collect();
                    let (mut sent, mut got, mut ok) = (0usize, 0usize, 0u64);
                    let mut buf: Vec<MappingResult> = Vec::new();
                    while got < reqs.len() {
                        if sent < reqs.len() {
                            sent += l.request(&reqs[sent..(sent + 1024).min(reqs.len())]);
                        }
                        buf.clear();
                        l.results(&mut buf);
                        for r in &buf {
                            if r.op != MapOp::Status {
                                got += 1;
                                ok += (r.status == MapStatus::Found) as u64;
                            }
                        }
                        if buf.is_empty() {
                            std::thread::sleep(Duration::from_micros(50));
                        }
                    }
                    ok
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap_or(0)).sum()
    });
    (t0.elapsed().as_secs_f64(), found)
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() as f64 - 1.0) * q).round() as usize]
}

/// The 1-minute load average (`/proc/loadavg`): the figures mean little on a busy machine.
fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

fn run(o: &Opts) -> Result<serde_json::Value, String> {
    let tb = Testbed::start(TestbedOptions::default()).map_err(|e| e.to_string())?;
    let mut out = serde_json::Map::new();
    if let Some(l) = load_average() {
        println!("load average (1 min) at start: {l}");
        out.insert("load_average_1m_at_start".into(), serde_json::json!(l));
    }
    for wait in [1u32, 0] {
        let links: Vec<MemLink> = (0..o.workers).map(|_| MemLink::new(1 << 16)).collect();
        let mut s = tb.settings();
        s.wait_replicas = wait;
        let h = start(
            s,
            SliceAllocator::new(
                Ipv4Addr::new(10, 64 + wait as u8 * 16, 0, 0),
                Ipv4Addr::new(10, 64 + wait as u8 * 16 + 15, 255, 255),
            ),
            links
                .iter()
                .map(|l| Box::new(l.clone()) as Box<dyn WorkerLink>)
                .collect(),
        )
        .map_err(|e| e.to_string())?;
        wait_up(&h)?;
        // Warm-up.
        creations(
            &links,
            2_000 * o.workers as u32,
            0xfd00_0000_0000_0000_0000_0001_0000_0000u128 + ((wait as u128) << 40),
        );
        let (secs, ok) = creations(
            &links,
            o.creations,
            0xfd00_0000_0000_0000_0000_0000_0000_0000u128 + ((wait as u128) << 40),
        );
        let rate = ok as f64 / secs;
        println!(
            "creations (WAIT {wait}, {} workers): {ok} in {secs:.3} s = {rate:.0}/s",
            o.workers
        );
        out.insert(
            format!("creations_per_s_wait{wait}"),
            serde_json::json!(rate.round()),
        );
        if ok < o.creations as u64 / o.workers as u64 * o.workers as u64 {
            return Err(format!(
                "only {ok} of {} creations succeeded; client counters:\n{}",
                o.creations,
                h.snapshot().prometheus()
            ));
        }
        if wait == 1 {
            // Slow-path lookup latency: one at a time, for addresses just created.
            let l = &links[0];
            let mut lat = Vec::with_capacity(o.lookups as usize);
            let mut buf = Vec::new();
            let first = Ipv4Addr::new(10, 80, 0, 0);
            for i in 0..o.lookups {
                let a = Ipv4Addr::from(u32::from(first) + i % 50_000);
                let t0 = Instant::now();
                l.request(&[MappingRequest::lookup4(0, a)]);
                'wait: loop {
                    buf.clear();
                    l.results(&mut buf);
                    for r in &buf {
                        if r.op == MapOp::Lookup4 {
                            break 'wait;
                        }
                    }
                    std::hint::spin_loop();
                }
                lat.push(t0.elapsed().as_secs_f64() * 1e6);
            }
            lat.sort_by(|a, b| a.total_cmp(b));
            let (p50, p99) = (percentile(&lat, 0.5), percentile(&lat, 0.99));
            println!("slow-path lookup latency: p50 {p50:.0} us, p99 {p99:.0} us");
            out.insert("lookup_p50_us".into(), serde_json::json!(p50.round()));
            out.insert("lookup_p99_us".into(), serde_json::json!(p99.round()));
            let snap = h.snapshot();
            out.insert(
                "client_histogram_p99_s".into(),
                serde_json::json!(snap.latency_quantile(0.99)),
            );
        }
        drop(h);
    }

    // Worker cache hits.
    let mut t = MappingTable::new(MappingConfig {
        capacity: 65536,
        refresh_ms: 0,
        ..MappingConfig::default()
    });
    let n = 50_000u32;
    for i in 0..n {
        let a = Ipv4Addr::from(0x0a50_0000 + i);
        let r = MappingRequest::lookup4(0, a);
        t.apply(
            &MappingResult::answer(&r, MapStatus::Found, Some((a, v6(1 << 100, i)))),
            0,
        );
    }
    let rounds = 4_000_000u32;
    let t0 = Instant::now();
    let mut hits = 0u64;
    for i in 0..rounds {
        let a = Ipv4Addr::from(0x0a50_0000 + (i.wrapping_mul(2_654_435_761) % n));
        if let Lookup::Found(_) = std::hint::black_box(t.lookup_v4(a, 1)) {
            hits += 1;
        }
    }
    let ns = t0.elapsed().as_nanos() as f64 / rounds as f64;
    println!("worker cache lookup_v4 hit: {ns:.1} ns ({hits} hits of {rounds})");
    out.insert(
        "cache_hit_ns".into(),
        serde_json::json!((ns * 10.0).round() / 10.0),
    );
    if let Some(l) = load_average() {
        out.insert("load_average_1m_at_end".into(), serde_json::json!(l));
    }
    out.insert(
        "cpus".into(),
        serde_json::json!(std::thread::available_parallelism().map_or(0, |n| n.get())),
    );
    out.insert("workers".into(), serde_json::json!(o.workers));
    out.insert("creations".into(), serde_json::json!(o.creations));
    out.insert(
        "setup".into(),
        serde_json::json!("redis-server 7 master + 1 replica + 1 sentinel on loopback, mutual TLS (ECDSA P-256), in-memory worker links"),
    );
    Ok(serde_json::Value::Object(out))
}

fn main() -> ExitCode {
    let o = match parse() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    match run(&o) {
        Ok(v) => {
            if let Some(path) = &o.out {
                let text = serde_json::to_string_pretty(&v).unwrap_or_default();
                if let Err(e) = std::fs::write(path, text + "\n") {
                    eprintln!("dssm_bench: cannot write {path}: {e}");
                    return ExitCode::from(1);
                }
                println!("results: {path}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("dssm_bench: {e}");
            ExitCode::from(1)
        }
    }
}
