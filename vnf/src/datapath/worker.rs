//! The worker lcore loop: RX burst → one pass per packet → buffered TX with a drain timer.
//!
//! Reading order of a packet's path: [`Worker::run`] polls each port; in egress mode each
//! packet goes through [`Egress::process`](super::pipeline::Egress::process) (the pipeline of
//! docs/datapath.md), in bridge mode through [`Worker::process`] (a [`Verdict`]). Between
//! bursts the worker runs its housekeeping: neighbour updates from the other workers, the
//! neighbour timers, and the publication of its neighbour table for the slow path. No
//! allocation, lock or syscall happens in the loop; counters are this lcore's own.

use super::counters::{bump, WorkerCounters};
use super::features::{FeatureCounters, FeatureSetup, Features, MapRings};
use super::handoff::Handoff;
use super::io::{TxQueues, WorkerIo};
use super::pipeline::Egress;
use super::snapshot::{Export, ExportJob, NeighMsg, NeighSnapshot, PUBLISH_MS};
use super::Verdict;
use crate::dns::DnsSettings;
use crate::drop::DropReason;
use crate::net::{NeighUpdate, Net, NetConfig};
use egress_config::Mode;
use rte::{Burst, Mbuf, Mempool, Port, PortId, QueueId, Ring};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// What a worker needs to know at start.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Worker number: the RX/TX queue it owns on every port.
    pub index: u16,
    /// Every port, indexed by port id.
    pub ports: Vec<Port>,
    pub mode: Mode,
    /// Flush partly filled TX buffers after this many TSC cycles.
    pub drain_cycles: u64,
}

/// What egress mode adds to a worker.
pub struct EgressSetup {
    pub net: Arc<NetConfig>,
    /// The pool new frames (ARP/NS, ICMP errors) come from.
    pub pool: Mempool,
    /// Neighbour updates from the other workers.
    pub inbox: Arc<Ring<NeighMsg>>,
    /// The other workers' inboxes.
    pub peers: Vec<Arc<Ring<NeighMsg>>>,
    /// Where this worker publishes its neighbour table.
    pub snapshot: Arc<NeighSnapshot>,
    /// Send gratuitous ARP / unsolicited NA at start (one worker does).
    pub announce: bool,
    /// TSC frequency, for the millisecond clock.
    pub tsc_hz: u64,
    /// DNS, NAT46/NAT64, SNAT (None: network layer only).
    pub features: Option<Arc<FeatureSetup>>,
    /// Rings to the mapping service of the slow path (DNS46/NAT46).
    pub map_rings: Option<MapRings>,
    /// Random seed of this worker's stages (query IDs and ports, hashes).
    pub seed: [u8; 32],
    /// Where the worker publishes its feature counters for the slow path.
    pub feature_stats: Arc<FeatureStats>,
    /// Where a live reload hands this worker its new settings.
    pub reload: Arc<ReloadSlot>,
    /// Packets owned by other workers go there, and theirs come here (None: one worker).
    pub handoff: Option<Handoff>,
    /// Where the slow path asks for a copy of this worker's tables (`show sessions`, ...).
    pub export: Arc<Export>,
}

/// A worker's feature counters as last published (every `PUBLISH_MS`). The worker only
/// `try_lock`s it in housekeeping, never per packet, and skips a round if the slow path is
/// reading.
#[derive(Default)]
pub struct FeatureStats(pub std::sync::Mutex<FeatureCounters>);

impl FeatureStats {
    /// The last published counters.
    pub fn get(&self) -> FeatureCounters {
        self.0.lock().map(|g| *g).unwrap_or_default()
    }
}

/// What one worker is handed at a reload.
#[derive(Default)]
pub struct ReloadSlot {
    generation: AtomicU64,
    dns: Mutex<Option<DnsSettings>>,
}

impl ReloadSlot {
    /// Slow path: hands new DNS settings to the worker.
    pub fn offer(&self, dns: DnsSettings) {
        if let Ok(mut g) = self.dns.lock() {
            *g = Some(dns);
        }
        self.generation.fetch_add(1, Ordering::Release);
    }

    /// Worker: the generation now (compare with the last one applied).
    #[inline]
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Worker: takes the offered settings without waiting (`None` if the slow path holds the
    /// lock right now: try again at the next step).
    pub fn try_take(&self) -> Option<Option<DnsSettings>> {
        self.dns.try_lock().ok().map(|mut g| g.take())
    }
}

struct EgressState {
    pipeline: Egress,
    inbox: Arc<Ring<NeighMsg>>,
    snapshot: Arc<NeighSnapshot>,
    announce: bool,
    next_publish: u64,
    /// The millisecond of the last timer walk: the walks run once per tick of the clock.
    timers_ms: u64,
    cycles_per_ms: u64,
    feature_stats: Arc<FeatureStats>,
    reload: Arc<ReloadSlot>,
    reload_generation: u64,
    handoff: Option<Handoff>,
    export: Arc<Export>,
    export_job: ExportJob,
}

/// One worker lcore's state. Created on the main lcore, moved to its lcore by `launch`.
pub struct Worker {
    cfg: WorkerConfig,
    queue: QueueId,
    counters: Arc<WorkerCounters>,
    stop: Arc<AtomicBool>,
    tx: TxQueues,
    /// Bridge mode: the peer of each port (1.1 <-> 1.2, 1.3 <-> 1.4, ...).
    peer: Vec<Option<PortId>>,
    egress: Option<EgressState>,
    pool: Option<Mempool>,
    peers: Vec<Arc<Ring<NeighMsg>>>,
}

impl Worker {
    pub fn new(cfg: WorkerConfig, counters: Arc<WorkerCounters>, stop: Arc<AtomicBool>) -> Worker {
        let n = cfg.ports.len();
        let peer = (0..n)
            .map(|i| {
                let p = i ^ 1;
                (p < n).then_some(PortId(p as u16))
            })
            .collect();
        Worker {
            queue: QueueId(cfg.index),
            tx: TxQueues::new(cfg.ports.clone(), QueueId(cfg.index)),
            peer,
            cfg,
            counters,
            stop,
            egress: None,
            pool: None,
            peers: Vec::new(),
        }
    }

    /// Egress mode: the pipeline and its per-worker state (the neighbour table is allocated
    /// here, on the main lcore, before the worker starts).
    pub fn with_egress(mut self, s: EgressSetup) -> Worker {
        self.pool = Some(s.pool);
        self.peers = s.peers;
        let features = s
            .features
            .as_ref()
            .map(|f| Features::new(f, self.cfg.index, s.pool, s.map_rings.clone(), s.seed));
        self.egress = Some(EgressState {
            pipeline: Egress {
                net: Net::new(s.net),
                features,
            },
            feature_stats: s.feature_stats,
            reload: s.reload,
            reload_generation: 0,
            handoff: s.handoff,
            export: s.export,
            export_job: ExportJob::default(),
            inbox: s.inbox,
            snapshot: s.snapshot,
            announce: s.announce,
            next_publish: 0,
            timers_ms: u64::MAX,
            cycles_per_ms: (s.tsc_hz / 1000).max(1),
        });
        self
    }

    /// Runs until the stop flag is set; returns 0 (the lcore's exit value).
    pub fn run(mut self) -> i32 {
        let mut rx = Burst::new();
        let start = rte::tsc();
        let mut last_flush = start;
        let nports = self.cfg.ports.len();
        while !self.stop.load(Relaxed) {
            let t0 = rte::tsc();
            let now = self
                .egress
                .as_ref()
                .map_or(0, |e| t0.wrapping_sub(start) / e.cycles_per_ms);
            if let Some(e) = self.egress.as_mut() {
                // Microseconds on the same origin (at least `now` * 1000).
                let per_us = (e.cycles_per_ms / 1000).max(1);
                if let Some(f) = e.pipeline.features.as_mut() {
                    f.set_clock_us(t0.wrapping_sub(start) / per_us);
                }
            }
            let mut got = 0usize;
            let mut busy = false;
            // Packets the other workers handed over (this worker owns their state): at most a
            // burst per iteration, through the whole pipeline as if received here.
            if let Some(eg) = self.egress.as_mut() {
                if let Some(h) = eg.handoff.as_ref() {
                    let n = h.receive(&mut rx);
                    if n > 0 {
                        busy = true;
                        bump(&self.counters.handoff_in, n as u64);
                        let mut io = WorkerIo {
                            tx: &mut self.tx,
                            counters: &self.counters,
                            pool: self.pool,
                            peers: &self.peers,
                        };
                        for m in rx.drain() {
                            let port = m.port();
                            eg.pipeline.process(m, port, now, &mut io);
                        }
                    }
                }
            }
            for pi in 0..nports {
                let port = self.cfg.ports[pi];
                let n = port.rx_burst(self.queue, &mut rx);
                if n == 0 {
                    continue;
                }
                got += n;
                for i in 0..n.min(4) {
                    if let Some(m) = rx.get(i) {
                        m.prefetch_data();
                    }
                }
                if let Some(eg) = self.egress.as_mut() {
                    let mut io = WorkerIo {
                        tx: &mut self.tx,
                        counters: &self.counters,
                        pool: self.pool,
                        peers: &self.peers,
                    };
                    if let Some(nat) = eg.pipeline.features.as_ref().and_then(|f| f.nat()) {
                        super::prefetch::prefetch_burst(nat, &rx);
                    }
                    match eg.handoff.as_mut() {
                        Some(h) => {
                            for m in rx.drain() {
                                let nat = eg.pipeline.features.as_ref().and_then(|f| f.nat());
                                if let Some(w) = h.foreign_owner(m.data(), nat) {
                                    h.stage(w, m, pi as u16, io.counters);
                                    continue;
                                }
                                eg.pipeline.process(m, pi as u16, now, &mut io);
                            }
                            h.flush(io.counters);
                        }
                        None => {
                            for m in rx.drain() {
                                eg.pipeline.process(m, pi as u16, now, &mut io);
                            }
                        }
                    }
                } else {
                    for mut m in rx.drain() {
                        let v = self.process(pi, &mut m);
                        self.apply(pi, m, v);
                    }
                }
            }
            self.housekeeping(now);
            let t1 = rte::tsc();
            if t1.wrapping_sub(last_flush) >= self.cfg.drain_cycles {
                self.tx.flush_all(&self.counters);
                last_flush = t1;
            }
            let c = &self.counters;
            bump(&c.loops, 1);
            if got > 0 {
                bump(&c.rx_packets, got as u64);
            }
            if got > 0 || busy {
                bump(&c.busy_cycles, t1.wrapping_sub(t0));
            }
            c.total_cycles.store(t1.wrapping_sub(start), Relaxed);
        }
        self.tx.flush_all(&self.counters);
        0
    }

    /// Egress mode, between bursts: announcements at start, neighbour updates from the other
    /// workers (at most 32), the mapping rings and held packets, the timers (bounded, once per
    /// millisecond), and the snapshot for the slow path.
    fn housekeeping(&mut self, now: u64) {
        let Some(eg) = self.egress.as_mut() else {
            return;
        };
        let mut io = WorkerIo {
            tx: &mut self.tx,
            counters: &self.counters,
            pool: self.pool,
            peers: &self.peers,
        };
        let net = &mut eg.pipeline.net;
        if eg.announce {
            eg.announce = false;
            net.announce(&mut io);
        }
        for _ in 0..32 {
            let Some(msg) = eg.inbox.dequeue() else {
                break;
            };
            net.apply_update(NeighUpdate::from(msg), now, &mut io);
        }
        // Timer walks (neighbours, session expiry and port reclaiming, DNS upstream timeouts)
        // only when the millisecond clock they run on has moved: every timer is in
        // milliseconds, so a second walk within the same millisecond finds nothing new.
        let tick = now != eg.timers_ms;
        if tick {
            eg.timers_ms = now;
            net.poll(now, &mut io);
        }
        let generation = eg.reload.generation();
        if generation != eg.reload_generation {
            if let Some(offer) = eg.reload.try_take() {
                eg.reload_generation = generation;
                if let (Some(dns), Some(f)) = (offer, eg.pipeline.features.as_mut()) {
                    f.reconfigure_dns(dns);
                }
            }
        }
        eg.pipeline.poll_features(now, tick, &mut io);
        eg.export_job
            .step(&eg.export, eg.pipeline.features.as_ref(), now);
        let net = &mut eg.pipeline.net;
        if now >= eg.next_publish {
            eg.next_publish = now + PUBLISH_MS;
            if let Some(f) = &eg.pipeline.features {
                if let Ok(mut g) = eg.feature_stats.0.try_lock() {
                    *g = f.counters();
                }
            }
            let mut c = net.counters().to_array();
            if let Some(last) = c.last_mut() {
                *last = net.neighbours(now).count() as u64;
            }
            eg.snapshot.publish(net.neighbours(now), &c, rte::tsc());
        }
    }

    /// Bridge mode: one pass over one packet, the verdict.
    #[inline]
    pub fn process(&mut self, in_port: usize, m: &mut Mbuf) -> Verdict {
        if !m.is_contiguous() && m.linearize().is_err() {
            return Verdict::Drop(DropReason::Segmented);
        }
        match self.cfg.mode {
            Mode::Bridge => match self.peer.get(in_port).copied().flatten() {
                Some(p) => Verdict::Forward(p),
                None => Verdict::Drop(DropReason::NoPeerPort),
            },
            // Egress mode runs the pipeline (`Egress::process`); without it nothing is routed.
            Mode::Egress => Verdict::Drop(DropReason::Unclassified),
        }
    }

    #[inline]
    fn apply(&mut self, in_port: usize, m: Mbuf, v: Verdict) {
        match v {
            Verdict::Forward(p) => self.tx.send(p.0 as usize, m, &self.counters),
            Verdict::Reply => self.tx.send(in_port, m, &self.counters),
            Verdict::Drop(r) => {
                self.counters.count_drop(r);
                drop(m);
            }
            // Nothing is punted yet: count it rather than lose it silently.
            Verdict::Punt => {
                self.counters.count_drop(DropReason::Unclassified);
                drop(m);
            }
        }
    }
}
