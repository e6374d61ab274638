//! Per-lcore counters. Each worker owns one [`WorkerCounters`] and updates it with relaxed
//! loads and stores (plain moves on x86: no locked instruction, no sharing on the hot path);
//! the slow path reads them with [`WorkerCounters::snapshot`] and sums across workers.

use crate::drop::DropReason;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// One worker's counters, on their own cache lines.
#[repr(align(64))]
#[derive(Debug)]
pub struct WorkerCounters {
    pub rx_packets: AtomicU64,
    pub tx_packets: AtomicU64,
    /// Packets the TX queue refused.
    pub tx_dropped: AtomicU64,
    /// TSC cycles spent in loop iterations that received packets.
    pub busy_cycles: AtomicU64,
    /// TSC cycles since the worker started.
    pub total_cycles: AtomicU64,
    /// Loop iterations.
    pub loops: AtomicU64,
    /// Packets handed to the worker that owns them (their NAT port is in its block).
    pub handoff_out: AtomicU64,
    /// Packets received from other workers' hand-off and processed here.
    pub handoff_in: AtomicU64,
    pub drops: [AtomicU64; DropReason::COUNT],
}

impl Default for WorkerCounters {
    fn default() -> Self {
        WorkerCounters {
            rx_packets: AtomicU64::new(0),
            tx_packets: AtomicU64::new(0),
            tx_dropped: AtomicU64::new(0),
            busy_cycles: AtomicU64::new(0),
            total_cycles: AtomicU64::new(0),
            loops: AtomicU64::new(0),
            handoff_out: AtomicU64::new(0),
            handoff_in: AtomicU64::new(0),
            drops: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

/// A plain copy of a worker's counters.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct WorkerSnapshot {
    pub rx_packets: u64,
    pub tx_packets: u64,
    pub tx_dropped: u64,
    pub busy_cycles: u64,
    pub total_cycles: u64,
    pub loops: u64,
    pub handoff_out: u64,
    pub handoff_in: u64,
    pub drops: Vec<u64>,
}

/// Adds `n` to a counter owned by the calling lcore (no read-modify-write across cores).
#[inline(always)]
pub fn bump(c: &AtomicU64, n: u64) {
    c.store(c.load(Relaxed).wrapping_add(n), Relaxed);
}

impl WorkerCounters {
    /// Counts a dropped packet.
    #[inline(always)]
    pub fn count_drop(&self, reason: DropReason) {
        bump(&self.drops[reason.index()], 1);
    }

    /// Reads every counter.
    pub fn snapshot(&self) -> WorkerSnapshot {
        WorkerSnapshot {
            rx_packets: self.rx_packets.load(Relaxed),
            tx_packets: self.tx_packets.load(Relaxed),
            tx_dropped: self.tx_dropped.load(Relaxed),
            busy_cycles: self.busy_cycles.load(Relaxed),
            total_cycles: self.total_cycles.load(Relaxed),
            loops: self.loops.load(Relaxed),
            handoff_out: self.handoff_out.load(Relaxed),
            handoff_in: self.handoff_in.load(Relaxed),
            drops: self.drops.iter().map(|d| d.load(Relaxed)).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_cache_line_aligned_and_snapshot() {
        assert_eq!(std::mem::align_of::<WorkerCounters>(), 64);
        let c = WorkerCounters::default();
        bump(&c.rx_packets, 5);
        c.count_drop(DropReason::Unclassified);
        c.count_drop(DropReason::Unclassified);
        let s = c.snapshot();
        assert_eq!(s.rx_packets, 5);
        assert_eq!(s.drops[DropReason::Unclassified.index()], 2);
        assert_eq!(s.drops.len(), DropReason::COUNT);
    }
}
