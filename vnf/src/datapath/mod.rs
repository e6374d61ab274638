//! The data path: the lcore loop and everything it owns.
//!
//! A worker lcore owns RX queue i and TX queue i of every port. Per burst of 32 it runs each
//! packet to completion through one pass: in egress mode the pipeline of [`pipeline`] (L2 →
//! for us → TTL → features → forward → TX), in bridge mode [`worker::Worker::process`], which
//! yields one [`Verdict`]. Packets to send go to a per-port TX buffer ([`io::TxQueues`])
//! flushed when full or after `dataplane.tx_drain_us`. Each worker publishes its neighbour
//! table for the slow path through a lock-free [`snapshot`]. Counters are per-lcore plain
//! integers (relaxed atomics written only by their owner) that the slow path sums; nothing is
//! shared or locked on the hot path.
//!
//! This is the only module (with `slowpath`) that touches `rte`: the protocol modules work on
//! the [`crate::frame::Frame`] trait, implemented for `Mbuf` in [`mbuf`].

pub mod counters;
pub mod features;
pub mod handoff;
pub mod io;
pub mod mbuf;
pub mod pipeline;
pub mod prefetch;
pub mod snapshot;
pub mod worker;

pub use crate::drop::DropReason;
pub use crate::frame::{Frame, FrameError, VecFrame};
pub use counters::{WorkerCounters, WorkerSnapshot};
pub use snapshot::{
    DnsCacheView, Export, ExportCopy, ExportKind, NeighCopy, NeighMsg, NeighSnapshot, SessionView,
};
pub use worker::{EgressSetup, FeatureStats, ReloadSlot, Worker, WorkerConfig};

use rte::PortId;

/// What happens to one packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Transmit on this port.
    Forward(PortId),
    /// Transmit back out of the port it came in on (ARP/NDP/ICMP replies, DNS answers).
    Reply,
    /// Free it and count the reason.
    Drop(DropReason),
    /// Hand it to the slow path.
    Punt,
}
