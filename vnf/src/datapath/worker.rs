//! The worker lcore loop: RX burst → one pass per packet → buffered TX with a drain timer.
//!
//! Reading order of a packet's path: [`Worker::run`] polls each port, [`Worker::process`] gives
//! the packet's [`Verdict`], [`Worker::send`] buffers it for TX. No allocation, lock or syscall
//! happens in the loop; counters are this lcore's own.

use super::counters::{bump, WorkerCounters};
use super::Verdict;
use crate::drop::DropReason;
use egress_config::Mode;
use rte::{Burst, Mbuf, Port, PortId, QueueId};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;

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

/// One worker lcore's state. Created on the main lcore, moved to its lcore by `launch`.
pub struct Worker {
    cfg: WorkerConfig,
    queue: QueueId,
    counters: Arc<WorkerCounters>,
    stop: Arc<AtomicBool>,
    /// One TX buffer per port.
    tx: Vec<Burst>,
    /// Bridge mode: the peer of each port (1.1 <-> 1.2, 1.3 <-> 1.4, ...).
    peer: Vec<Option<PortId>>,
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
            tx: (0..n).map(|_| Burst::new()).collect(),
            peer,
            cfg,
            counters,
            stop,
        }
    }

    /// Runs until the stop flag is set; returns 0 (the lcore's exit value).
    pub fn run(mut self) -> i32 {
        let mut rx = Burst::new();
        let start = rte::tsc();
        let mut last_flush = start;
        let nports = self.cfg.ports.len();
        while !self.stop.load(Relaxed) {
            let t0 = rte::tsc();
            let mut got = 0usize;
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
                for mut m in rx.drain() {
                    let v = self.process(pi, &mut m);
                    self.apply(pi, m, v);
                }
            }
            let t1 = rte::tsc();
            if t1.wrapping_sub(last_flush) >= self.cfg.drain_cycles {
                self.flush_all();
                last_flush = t1;
            }
            let c = &self.counters;
            bump(&c.loops, 1);
            if got > 0 {
                bump(&c.rx_packets, got as u64);
                bump(&c.busy_cycles, t1.wrapping_sub(t0));
            }
            c.total_cycles.store(t1.wrapping_sub(start), Relaxed);
        }
        self.flush_all();
        0
    }

    /// One pass over one packet: the verdict. Later stages hook in here, top to bottom.
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
            Mode::Egress => Verdict::Drop(DropReason::Unclassified),
        }
    }

    #[inline]
    fn apply(&mut self, in_port: usize, m: Mbuf, v: Verdict) {
        match v {
            Verdict::Forward(p) => self.send(p.0 as usize, m),
            Verdict::Reply => self.send(in_port, m),
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

    /// Buffers a packet for TX on `port`, flushing the buffer when full.
    #[inline]
    fn send(&mut self, port: usize, m: Mbuf) {
        let Some(buf) = self.tx.get_mut(port) else {
            self.counters.count_drop(DropReason::NoPeerPort);
            return;
        };
        if let Err(m) = buf.push(m) {
            self.flush(port);
            if let Some(buf) = self.tx.get_mut(port) {
                // Just flushed: there is room.
                let _ = buf.push(m);
            }
        }
    }

    fn flush(&mut self, port: usize) {
        let (Some(buf), Some(p)) = (self.tx.get_mut(port), self.cfg.ports.get(port)) else {
            return;
        };
        if buf.is_empty() {
            return;
        }
        let sent = p.tx_burst(self.queue, buf);
        bump(&self.counters.tx_packets, sent as u64);
        if !buf.is_empty() {
            // One retry, then the rest is counted and freed.
            let again = p.tx_burst(self.queue, buf);
            bump(&self.counters.tx_packets, again as u64);
            let left = buf.len() as u64;
            if left > 0 {
                bump(&self.counters.tx_dropped, left);
                bump(&self.counters.drops[DropReason::TxQueueFull.index()], left);
                buf.clear();
            }
        }
    }

    fn flush_all(&mut self) {
        for p in 0..self.tx.len() {
            self.flush(p);
        }
    }
}
