//! The whole per-packet pipeline on real mbufs: EAL without hugepages, two `net_null` ports
//! (their TX frees what the VNF sends), the worker's `Egress` pipeline with every function on,
//! and the in-process DNS46 mapping store answering the worker's requests between packets.
//!
//! A fresh pipeline per input (crashes reproduce from the input alone). After each input
//! everything the pipeline holds is dropped and the pool must be full again: an mbuf that is
//! neither sent nor freed is a leak, and the target aborts.

use crate::{config, records, PORT_MACS};
use egress_vnf::datapath::features::{FeatureSetup, Features, MapRings};
use egress_vnf::datapath::io::{TxQueues, WorkerIo};
use egress_vnf::datapath::pipeline::Egress;
use egress_vnf::datapath::WorkerCounters;
use egress_vnf::mapping::{MappingRequest, MappingResult};
use egress_vnf::net::{Net, NetConfig};
use egress_vnf::slowpath::dssm::SliceAllocator;
use egress_vnf::slowpath::localmap::{LocalMapStats, LocalStore};
use rte::{Eal, Mempool, Port, PortConfig, QueueId, Ring};
use std::cell::RefCell;
use std::sync::Arc;

/// What lives for the whole process.
pub struct World {
    _eal: Eal,
    pub pool: Mempool,
    ports: Vec<Port>,
    net: Arc<NetConfig>,
    features: FeatureSetup,
    rings: MapRings,
    slice: Option<SliceAllocator>,
    pub mbufs: u32,
}

thread_local! {
    static WORLD: RefCell<Option<World>> = const { RefCell::new(None) };
}

impl World {
    fn new() -> World {
        let prefix = format!("egress-fuzz-{}", std::process::id());
        let args = [
            "--no-huge",
            "--no-pci",
            "--no-shconf",
            "-m",
            "128",
            "-l",
            "0",
            "--log-level=*:error",
            "--vdev=net_null0",
            "--vdev=net_null1",
            &format!("--file-prefix={prefix}"),
        ];
        let eal = Eal::init(&args).unwrap_or_else(|e| panic!("EAL init: {e}"));
        // No shared config (--no-shconf): nothing is kept in the runtime directory; remove it.
        let _ = std::fs::remove_dir_all(format!("/var/run/dpdk/{prefix}"));
        let cfg = config();
        let pool = Mempool::new(
            "fuzz_pkts",
            cfg.dataplane.mbufs,
            cfg.dataplane.mbuf_cache,
            -1,
        )
        .unwrap_or_else(|e| panic!("mempool: {e}"));
        let ports = Port::all();
        assert_eq!(ports.len(), 2, "two net_null ports");
        let pconf = PortConfig {
            rx_queues: 1,
            tx_queues: 1,
            rx_desc: 64,
            tx_desc: 64,
            mtu: None,
        };
        for p in &ports {
            p.configure(&pconf, &pool)
                .unwrap_or_else(|e| panic!("port configure: {e}"));
            p.start().unwrap_or_else(|e| panic!("port start: {e}"));
        }
        let mut net = NetConfig::from_config(&cfg, &PORT_MACS)
            .unwrap_or_else(|(f, m)| panic!("net config {f}: {m}"));
        // Small tables: a fresh pipeline per input stays cheap (sizes are not what is tested).
        net.neigh.capacity = 64;
        let mut features = FeatureSetup::from_config(&cfg, &net, 1)
            .unwrap_or_else(|(f, m)| panic!("features {f}: {m}"))
            .expect("features configured")
            .for_worker(0, 1);
        features.mapping.capacity = 64;
        let rings = MapRings {
            requests: Arc::new(Ring::new("fuzz_mapreq", 4096, true).expect("ring")),
            results: Arc::new(Ring::new("fuzz_mapres", 4096, true).expect("ring")),
        };
        let slice = SliceAllocator::from_config(&cfg.nat46, cfg.tmm_index);
        World {
            _eal: eal,
            mbufs: pool.size(),
            pool,
            ports,
            net: Arc::new(net),
            features,
            rings,
            slice,
        }
    }
}

/// Runs `f` with the process's world (created on first use).
pub fn with_world<R>(f: impl FnOnce(&World) -> R) -> R {
    WORLD.with(|w| {
        let mut w = w.borrow_mut();
        let world = w.get_or_insert_with(World::new);
        f(world)
    })
}

/// Answers every queued mapping request from `store`.
fn serve_mappings(rings: &MapRings, store: &mut LocalStore, stats: &LocalMapStats) {
    while let Some(req) = rings.requests.dequeue() {
        let req: MappingRequest = req;
        let res: MappingResult = store.serve(&req, stats);
        let _ = rings.results.enqueue(res);
    }
}

/// What one input did (for the soak-style checks of the caller).
#[derive(Debug, Default, Clone, Copy)]
pub struct RunStats {
    pub frames: usize,
    pub in_use_after: u32,
}

/// Runs one input through a fresh pipeline; panics if an mbuf is lost.
pub fn run(data: &[u8]) -> RunStats {
    with_world(|w| {
        // Leftovers of a previous input that panicked half-way.
        while w.rings.requests.dequeue().is_some() {}
        while w.rings.results.dequeue().is_some() {}
        let counters = WorkerCounters::default();
        let mut tx = TxQueues::new(w.ports.clone(), QueueId(0));
        let mut store = LocalStore::new(w.slice.clone());
        let stats = LocalMapStats::default();
        let mut frames = 0;
        {
            let mut eg = Egress {
                net: Net::new(w.net.clone()),
                features: Some(Features::new(
                    &w.features,
                    0,
                    w.pool,
                    Some(w.rings.clone()),
                    [0x5a; 32],
                )),
            };
            let mut io = WorkerIo {
                tx: &mut tx,
                counters: &counters,
                pool: Some(w.pool),
                peers: &[],
            };
            let mut now = 1_000u64;
            eg.net.announce(&mut io);
            for rec in records(data) {
                now += rec.advance_ms;
                let Ok(mut m) = w.pool.alloc() else {
                    break;
                };
                match m.append(rec.frame.len()) {
                    Ok(buf) => buf.copy_from_slice(rec.frame),
                    // Longer than an mbuf's data room: what a port would not deliver.
                    Err(_) => continue,
                }
                frames += 1;
                eg.process(m, rec.port, now, &mut io);
                // Housekeeping as the worker does it between bursts, with the mapping service
                // answering at once.
                eg.net.poll(now, &mut io);
                eg.poll_features(now, true, &mut io);
                serve_mappings(&w.rings, &mut store, &stats);
                eg.poll_features(now, true, &mut io);
            }
            // Let every timer fire: held packets are released or dropped.
            for _ in 0..8 {
                now += 1_000;
                eg.net.poll(now, &mut io);
                eg.poll_features(now, true, &mut io);
                serve_mappings(&w.rings, &mut store, &stats);
            }
            io.tx.flush_all(&counters);
        }
        while w.rings.requests.dequeue().is_some() {}
        while w.rings.results.dequeue().is_some() {}
        let in_use = w.pool.in_use_count();
        assert_eq!(
            in_use, 0,
            "mbuf leak: {in_use} of {} mbufs still in use after the input",
            w.mbufs
        );
        RunStats {
            frames,
            in_use_after: in_use,
        }
    })
}
