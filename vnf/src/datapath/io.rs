//! What the stages of a worker use besides the packet: per-port TX buffers, the packet pool
//! (new frames) and the neighbour-update rings to the other workers ([`WorkerIo`]).

use super::counters::{bump, WorkerCounters};
use super::snapshot::NeighMsg;
use crate::action::FrameAlloc;
use crate::drop::DropReason;
use crate::net::{NeighUpdate, NetIo};
use rte::{Burst, Mbuf, Mempool, Port, QueueId, Ring};
use std::sync::Arc;

/// One TX buffer per port, flushed when full or by the drain timer.
pub struct TxQueues {
    bufs: Vec<Burst>,
    ports: Vec<Port>,
    queue: QueueId,
}

impl TxQueues {
    pub fn new(ports: Vec<Port>, queue: QueueId) -> TxQueues {
        TxQueues {
            bufs: (0..ports.len()).map(|_| Burst::new()).collect(),
            ports,
            queue,
        }
    }

    /// Buffers a packet for TX on `port`, flushing the buffer when full.
    #[inline]
    pub fn send(&mut self, port: usize, m: Mbuf, counters: &WorkerCounters) {
        let Some(buf) = self.bufs.get_mut(port) else {
            counters.count_drop(DropReason::NoPeerPort);
            return;
        };
        if let Err(m) = buf.push(m) {
            self.flush(port, counters);
            if let Some(buf) = self.bufs.get_mut(port) {
                // Just flushed: there is room.
                let _ = buf.push(m);
            }
        }
    }

    /// Hands the buffer of `port` to the driver; what it refuses twice is counted and freed.
    pub fn flush(&mut self, port: usize, counters: &WorkerCounters) {
        let (Some(buf), Some(p)) = (self.bufs.get_mut(port), self.ports.get(port)) else {
            return;
        };
        if buf.is_empty() {
            return;
        }
        let sent = p.tx_burst(self.queue, buf);
        bump(&counters.tx_packets, sent as u64);
        if !buf.is_empty() {
            let again = p.tx_burst(self.queue, buf);
            bump(&counters.tx_packets, again as u64);
            let left = buf.len() as u64;
            if left > 0 {
                bump(&counters.tx_dropped, left);
                bump(&counters.drops[DropReason::TxQueueFull.index()], left);
                buf.clear();
            }
        }
    }

    pub fn flush_all(&mut self, counters: &WorkerCounters) {
        for p in 0..self.bufs.len() {
            self.flush(p, counters);
        }
    }
}

/// The [`NetIo`] (and [`FrameAlloc`]) of a worker: borrowed from the worker for one call.
pub struct WorkerIo<'a> {
    pub tx: &'a mut TxQueues,
    pub counters: &'a WorkerCounters,
    pub pool: Option<Mempool>,
    /// Inboxes of the other workers.
    pub peers: &'a [Arc<Ring<NeighMsg>>],
}

impl FrameAlloc for WorkerIo<'_> {
    type Frame = Mbuf;
    #[inline]
    fn alloc(&mut self) -> Option<Mbuf> {
        self.pool.and_then(|p| p.alloc().ok())
    }
}

impl NetIo<Mbuf> for WorkerIo<'_> {
    #[inline]
    fn send(&mut self, port: u16, frame: Mbuf) {
        self.tx.send(usize::from(port), frame, self.counters);
    }

    #[inline]
    fn discard(&mut self, frame: Mbuf, reason: DropReason) {
        self.counters.count_drop(reason);
        drop(frame);
    }

    fn neigh_learned(&mut self, update: NeighUpdate) {
        let msg = NeighMsg::from(update);
        for p in self.peers {
            // A full inbox loses the update: that worker resolves by itself.
            let _ = p.enqueue(msg);
        }
    }
}
