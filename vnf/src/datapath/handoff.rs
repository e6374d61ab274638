//! Hand-off of packets to the worker that owns their state (docs/nat.md, "Workers, port blocks
//! and RSS"; docs/datapath.md).
//!
//! RSS spreads the packets of the external VLAN by a hash of their addresses and ports; it knows
//! nothing of NAT. The state a return packet needs lives on one worker:
//! - a NAT session (SNAT44/66, NAT46, NAT64) lives on the worker that opened it, and that worker
//!   allocated its outside port (or ICMP identifier) from its own port block: the owner is
//!   [`owner_worker`](crate::nat::owner_worker)`(port, W)` ([`Nat::owner_of`] reads the port);
//! - a pending upstream DNS query lives on the worker whose slice of the DNS query ports
//!   ([`crate::dns::worker_query_ports`]) holds the reply's destination port.
//!
//! Right after RX, before any other stage, a worker with siblings asks [`Owners::owner`] for each
//! packet; a packet owned by another worker is staged for it ([`Handoff::stage`]) and, after the
//! burst, moved onto that worker's bounded lock-free ring of mbufs (one multi-producer ring per
//! worker). A full ring drops the rest of the burst, counted as `handoff_ring_full`. Each worker
//! drains at most one burst from its own ring per loop iteration and runs those packets through
//! the whole pipeline as if it had received them (the mbuf keeps its input port).
//!
//! Packets from the pods (internal VLAN) are never handed over: RSS keeps a flow (or, with an
//! `L3_SRC_ONLY` hash, a pod) on one worker, which is the worker that opened its session. Their
//! destination is not a SNAT address, so [`Owners::owner`] returns `None` for them.

use super::counters::{bump, WorkerCounters};
use crate::drop::DropReason;
use crate::nat::{owner_worker, Nat};
use rte::{Burst, Mbuf, MbufRing};
use std::sync::Arc;

/// Slots of each worker's hand-off ring (a power of two).
pub const HANDOFF_RING_SIZE: u32 = 2048;

/// The IP packet inside an Ethernet frame (up to two 802.1Q/802.1ad tags), if it is IPv4/IPv6.
#[inline]
pub fn frame_ip(frame: &[u8]) -> Option<&[u8]> {
    let mut off = 12;
    for _ in 0..3 {
        let et = u16::from_be_bytes([*frame.get(off)?, *frame.get(off + 1)?]);
        match et {
            0x8100 | 0x88a8 => off += 4,
            0x0800 | 0x86dd => return frame.get(off + 2..),
            _ => return None,
        }
    }
    None
}

/// The UDP destination port of an IP packet (first fragment, no IPv6 extension header).
#[inline]
fn udp_dst_port(ip: &[u8]) -> Option<u16> {
    let b0 = *ip.first()?;
    let at = match b0 >> 4 {
        4 => {
            let frag = u16::from_be_bytes([*ip.get(6)?, *ip.get(7)?]) & 0x1fff;
            if *ip.get(9)? != 17 || frag != 0 {
                return None;
            }
            usize::from(b0 & 0x0f) * 4
        }
        6 => {
            if *ip.get(6)? != 17 {
                return None;
            }
            40
        }
        _ => return None,
    };
    Some(u16::from_be_bytes([*ip.get(at + 2)?, *ip.get(at + 3)?]))
}

/// Who owns which packet: the same answer on every worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Owners {
    workers: u16,
    /// The DNS query ports (the whole range, before the per-worker split) and the block size.
    dns: Option<(u16, u16, u32)>,
}

impl Owners {
    /// `workers` workers; `dns_ports` the whole DNS query port range when the DNS proxy is on.
    pub fn new(workers: u16, dns_ports: Option<(u16, u16)>) -> Owners {
        let workers = workers.max(1);
        let dns = dns_ports.map(|(lo, hi)| {
            // The same split as `dns::worker_query_ports`.
            let hi = hi.max(lo);
            let per = ((u32::from(hi) - u32::from(lo) + 1) / u32::from(workers)).max(1);
            (lo, hi, per)
        });
        Owners { workers, dns }
    }

    /// Number of workers.
    pub fn workers(&self) -> u16 {
        self.workers
    }

    /// The worker that owns an IP packet (IP header first) received on the external side, or
    /// `None` when any worker may process it (not a NAT return packet, not a DNS reply).
    #[inline]
    pub fn owner(&self, ip: &[u8], nat: Option<&Nat>) -> Option<u16> {
        if self.workers <= 1 {
            return None;
        }
        if let Some((lo, hi, per)) = self.dns {
            if let Some(p) = udp_dst_port(ip).filter(|p| (lo..=hi).contains(p)) {
                let w = (u32::from(p - lo) / per).min(u32::from(self.workers) - 1);
                return Some(w as u16);
            }
        }
        let port = nat?.return_port(ip)?;
        Some(owner_worker(port, self.workers))
    }
}

/// One worker's end of the hand-off: its inbox and every worker's ring, with a staging burst per
/// destination. Built on the main lcore; nothing allocates afterwards.
pub struct Handoff {
    me: u16,
    owners: Owners,
    inbox: Arc<MbufRing>,
    /// Every worker's inbox, by worker index.
    rings: Vec<Arc<MbufRing>>,
    staged: Vec<Burst>,
    /// Destinations with staged packets (a bit per worker, up to 64 workers; beyond, every
    /// destination is checked).
    pending: u64,
}

impl Handoff {
    /// Worker `me`'s end; `rings` holds every worker's inbox (`rings[me]` is its own).
    pub fn new(me: u16, owners: Owners, rings: Vec<Arc<MbufRing>>) -> Option<Handoff> {
        let inbox = rings.get(usize::from(me))?.clone();
        Some(Handoff {
            me,
            owners,
            inbox,
            staged: (0..rings.len()).map(|_| Burst::new()).collect(),
            rings,
            pending: 0,
        })
    }

    /// The owner of a frame received on port `port` when it is another worker.
    #[inline]
    pub fn foreign_owner(&self, frame: &[u8], nat: Option<&Nat>) -> Option<u16> {
        let ip = frame_ip(frame)?;
        self.owners.owner(ip, nat).filter(|&w| w != self.me)
    }

    /// Stages packet `m` (received on `port`) for worker `to`; flushes the staging burst when
    /// it is full.
    #[inline]
    pub fn stage(&mut self, to: u16, mut m: Mbuf, port: u16, counters: &WorkerCounters) {
        m.set_port(port);
        let i = usize::from(to);
        let Some(b) = self.staged.get_mut(i) else {
            counters.count_drop(DropReason::HandoffRingFull);
            return;
        };
        if let Err(m) = b.push(m) {
            self.flush_one(i, counters);
            if let Some(b) = self.staged.get_mut(i) {
                // Just flushed: there is room.
                let _ = b.push(m);
            }
        }
        self.pending |= 1u64.checked_shl(u32::from(to)).unwrap_or(u64::MAX);
    }

    fn flush_one(&mut self, i: usize, counters: &WorkerCounters) {
        let (Some(b), Some(r)) = (self.staged.get_mut(i), self.rings.get(i)) else {
            return;
        };
        if b.is_empty() {
            return;
        }
        let n = r.enqueue(b);
        bump(&counters.handoff_out, n as u64);
        let left = b.len() as u64;
        if left > 0 {
            bump(&counters.drops[DropReason::HandoffRingFull.index()], left);
            b.clear();
        }
    }

    /// Moves every staged packet onto its owner's ring (what does not fit is dropped, counted).
    #[inline]
    pub fn flush(&mut self, counters: &WorkerCounters) {
        if self.pending == 0 {
            return;
        }
        for i in 0..self.staged.len() {
            if i >= 64 || self.pending & (1 << i) != 0 {
                self.flush_one(i, counters);
            }
        }
        self.pending = 0;
    }

    /// Takes up to a burst of packets other workers handed to this one.
    #[inline]
    pub fn receive(&self, out: &mut Burst) -> usize {
        self.inbox.dequeue(out)
    }

    /// Who owns what.
    pub fn owners(&self) -> Owners {
        self.owners
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_ip_skips_vlan_tags() {
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&[0x08, 0x00, 0x45, 1, 2]);
        assert_eq!(frame_ip(&f), Some(&[0x45, 1, 2][..]));
        let mut t = vec![0u8; 12];
        t.extend_from_slice(&[0x81, 0x00, 0, 5, 0x86, 0xdd, 0x60]);
        assert_eq!(frame_ip(&t), Some(&[0x60][..]));
        let mut qinq = vec![0u8; 12];
        qinq.extend_from_slice(&[0x88, 0xa8, 0, 5, 0x81, 0x00, 0, 6, 0x08, 0x00, 0x45]);
        assert_eq!(frame_ip(&qinq), Some(&[0x45][..]));
        let mut arp = vec![0u8; 12];
        arp.extend_from_slice(&[0x08, 0x06, 0, 1]);
        assert_eq!(frame_ip(&arp), None);
        assert_eq!(frame_ip(&[0u8; 13]), None);
        assert_eq!(frame_ip(&[]), None);
    }

    fn udp4(dport: u16, frag: u16) -> Vec<u8> {
        let mut p = vec![0u8; 28];
        p[0] = 0x45;
        p[6..8].copy_from_slice(&frag.to_be_bytes());
        p[9] = 17;
        p[20..22].copy_from_slice(&53u16.to_be_bytes());
        p[22..24].copy_from_slice(&dport.to_be_bytes());
        p
    }

    #[test]
    fn dns_replies_go_to_the_worker_of_the_query_port_block() {
        let o = Owners::new(3, Some((61440, 65535)));
        // 4096 ports over 3 workers: blocks of 1365 from 61440.
        for w in 0..3u16 {
            let (lo, hi) = crate::dns::worker_query_ports((61440, 65535), w, 3);
            for p in [lo, lo + (hi - lo) / 2, hi] {
                assert_eq!(o.owner(&udp4(p, 0), None), Some(w), "port {p}");
            }
        }
        // Below the range: not DNS, and without NAT nobody in particular.
        assert_eq!(o.owner(&udp4(61439, 0), None), None);
        // A later fragment has no port.
        assert_eq!(o.owner(&udp4(61440, 5), None), None);
        // One worker: never handed over.
        assert_eq!(
            Owners::new(1, Some((61440, 65535))).owner(&udp4(61440, 0), None),
            None
        );
    }
}
