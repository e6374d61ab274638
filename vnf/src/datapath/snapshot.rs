//! Lock-free publication of a worker's neighbour table (and network counters) to the slow path.
//!
//! Each worker owns one [`NeighSnapshot`] and rewrites it every `PUBLISH_MS` milliseconds; the
//! slow path copies it out when `show neigh` runs. The protocol is a sequence lock over plain
//! atomics: the writer makes the sequence odd, stores the words, then makes it even again; a
//! reader retries while the sequence is odd or changed under it. The writer never waits and
//! never allocates (the word array is allocated at start, [`SNAPSHOT_ENTRIES`] entries); a
//! reader may retry a few times and gives up (None) rather than spin for long.
//!
//! The same module carries [`NeighMsg`], the ring message that shares a confirmed neighbour
//! with the other workers.

use crate::net::{NeighKey, NeighState, NeighUpdate, NeighView, NetCounters, VlanId};
use crate::wire::EthernetAddress;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{fence, AtomicU64, Ordering};

/// Most entries one snapshot holds (the rest of a larger table is not shown).
pub const SNAPSHOT_ENTRIES: usize = 1024;
/// How often a worker republishes, milliseconds.
pub const PUBLISH_MS: u64 = 500;

const WORDS: usize = 4;
const NCOUNTERS: usize = NetCounters::NAMES.len();

/// One worker's published neighbour table.
#[derive(Debug)]
pub struct NeighSnapshot {
    seq: AtomicU64,
    len: AtomicU64,
    /// TSC when written.
    tsc: AtomicU64,
    counters: [AtomicU64; NCOUNTERS],
    words: Box<[AtomicU64]>,
}

impl Default for NeighSnapshot {
    fn default() -> Self {
        NeighSnapshot {
            seq: AtomicU64::new(0),
            len: AtomicU64::new(0),
            tsc: AtomicU64::new(0),
            counters: std::array::from_fn(|_| AtomicU64::new(0)),
            words: (0..SNAPSHOT_ENTRIES * WORDS)
                .map(|_| AtomicU64::new(0))
                .collect(),
        }
    }
}

/// A copy read by the slow path.
#[derive(Debug, Clone, Default)]
pub struct NeighCopy {
    pub entries: Vec<NeighView>,
    pub counters: Vec<u64>,
    /// TSC of the publication.
    pub tsc: u64,
}

fn encode(v: &NeighView) -> [u64; WORDS] {
    let (addr, v6) = match v.key.addr {
        IpAddr::V4(a) => (u128::from(u32::from(a)), 0u64),
        IpAddr::V6(a) => (u128::from(a), 1u64),
    };
    let m = v.mac.0;
    let mac = u64::from_be_bytes([0, 0, m[0], m[1], m[2], m[3], m[4], m[5]]);
    [
        (addr >> 64) as u64,
        addr as u64,
        mac | (u64::from(v.key.vlan.0) << 48),
        u64::from(v.state.code())
            | (v6 << 8)
            | (u64::from(v.queued) << 16)
            | (v.age_ms.min(u64::from(u32::MAX)) << 32),
    ]
}

fn decode(w: [u64; WORDS]) -> NeighView {
    let addr = (u128::from(w[0]) << 64) | u128::from(w[1]);
    let v6 = (w[3] >> 8) & 0xff == 1;
    let b = w[2].to_be_bytes();
    NeighView {
        key: NeighKey {
            vlan: VlanId((w[2] >> 48) as u16),
            addr: if v6 {
                IpAddr::V6(Ipv6Addr::from(addr))
            } else {
                IpAddr::V4(Ipv4Addr::from(addr as u32))
            },
        },
        state: NeighState::from_code(w[3] as u8),
        mac: EthernetAddress([b[2], b[3], b[4], b[5], b[6], b[7]]),
        age_ms: w[3] >> 32,
        queued: (w[3] >> 16) as u16,
    }
}

impl NeighSnapshot {
    /// Writes a new snapshot (worker side; one writer per snapshot).
    pub fn publish(
        &self,
        entries: impl Iterator<Item = NeighView>,
        counters: &[u64; NCOUNTERS],
        tsc: u64,
    ) {
        let s = self.seq.load(Ordering::Relaxed);
        self.seq.store(s.wrapping_add(1), Ordering::Relaxed);
        fence(Ordering::Release);
        let mut n = 0usize;
        for (v, chunk) in entries.zip(self.words.chunks_exact(WORDS)) {
            for (slot, w) in chunk.iter().zip(encode(&v)) {
                slot.store(w, Ordering::Relaxed);
            }
            n += 1;
        }
        for (slot, c) in self.counters.iter().zip(counters) {
            slot.store(*c, Ordering::Relaxed);
        }
        self.len.store(n as u64, Ordering::Relaxed);
        self.tsc.store(tsc, Ordering::Relaxed);
        self.seq.store(s.wrapping_add(2), Ordering::Release);
    }

    /// A consistent copy (slow path side), or None if the writer kept it busy for 100 tries or
    /// nothing was published yet.
    pub fn read(&self) -> Option<NeighCopy> {
        for _ in 0..100 {
            let s1 = self.seq.load(Ordering::Acquire);
            if s1 == 0 {
                return None;
            }
            if s1 % 2 == 1 {
                std::thread::yield_now();
                continue;
            }
            let n = (self.len.load(Ordering::Relaxed) as usize).min(SNAPSHOT_ENTRIES);
            let mut entries = Vec::with_capacity(n);
            for chunk in self.words.chunks_exact(WORDS).take(n) {
                let mut w = [0u64; WORDS];
                for (d, s) in w.iter_mut().zip(chunk) {
                    *d = s.load(Ordering::Relaxed);
                }
                entries.push(w);
            }
            let counters: Vec<u64> = self
                .counters
                .iter()
                .map(|c| c.load(Ordering::Relaxed))
                .collect();
            let tsc = self.tsc.load(Ordering::Relaxed);
            fence(Ordering::Acquire);
            if self.seq.load(Ordering::Relaxed) == s1 {
                return Some(NeighCopy {
                    entries: entries.into_iter().map(decode).collect(),
                    counters,
                    tsc,
                });
            }
        }
        None
    }
}

/// A confirmed neighbour on the ring between workers (28 bytes, a multiple of 4 as DPDK rings
/// require).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NeighMsg {
    addr: [u8; 16],
    vlan: u16,
    family: u16,
    mac: [u8; 6],
    _pad: [u8; 2],
}

impl From<NeighUpdate> for NeighMsg {
    fn from(u: NeighUpdate) -> NeighMsg {
        let (addr, family) = match u.key.addr {
            IpAddr::V4(a) => (a.to_ipv6_mapped().octets(), 4),
            IpAddr::V6(a) => (a.octets(), 6),
        };
        NeighMsg {
            addr,
            vlan: u.key.vlan.0,
            family,
            mac: u.mac.0,
            _pad: [0; 2],
        }
    }
}

impl From<NeighMsg> for NeighUpdate {
    fn from(m: NeighMsg) -> NeighUpdate {
        let a = Ipv6Addr::from(m.addr);
        let addr = match (m.family, a.to_ipv4_mapped()) {
            (4, Some(v4)) => IpAddr::V4(v4),
            _ => IpAddr::V6(a),
        };
        NeighUpdate {
            key: NeighKey {
                vlan: VlanId(m.vlan),
                addr,
            },
            mac: EthernetAddress(m.mac),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn view(n: u16, v6: bool) -> NeighView {
        NeighView {
            key: NeighKey {
                vlan: VlanId(n % 3),
                addr: if v6 {
                    IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, n))
                } else {
                    IpAddr::V4(Ipv4Addr::new(10, 0, (n >> 8) as u8, n as u8))
                },
            },
            state: NeighState::from_code((n % 4) as u8),
            mac: EthernetAddress([2, 0, 0, 0, (n >> 8) as u8, n as u8]),
            age_ms: u64::from(n) * 1000,
            queued: n % 9,
        }
    }

    #[test]
    fn round_trip_and_bounded() {
        let s = NeighSnapshot::default();
        assert!(s.read().is_none(), "nothing published yet");
        let views: Vec<NeighView> = (0..2000u16).map(|n| view(n, n % 2 == 1)).collect();
        let mut c = [0u64; NCOUNTERS];
        c[3] = 42;
        s.publish(views.iter().copied(), &c, 7);
        let copy = s.read().unwrap();
        assert_eq!(copy.entries.len(), SNAPSHOT_ENTRIES);
        assert_eq!(&copy.entries[..], &views[..SNAPSHOT_ENTRIES]);
        assert_eq!(copy.counters[3], 42);
        assert_eq!(copy.tsc, 7);
        s.publish(views[..2].iter().copied(), &c, 8);
        assert_eq!(s.read().unwrap().entries, views[..2].to_vec());
    }

    #[test]
    fn readers_never_see_a_torn_snapshot() {
        let s = Arc::new(NeighSnapshot::default());
        let w = {
            let s = s.clone();
            std::thread::spawn(move || {
                for round in 0..2000u64 {
                    // Every entry of a round carries the round number as its age.
                    let views = (0..50u16).map(|n| NeighView {
                        age_ms: round,
                        ..view(n, false)
                    });
                    s.publish(views, &[round; NCOUNTERS], round);
                }
            })
        };
        let mut seen = 0;
        while !w.is_finished() {
            if let Some(c) = s.read() {
                assert!(c.entries.iter().all(|e| e.age_ms == c.tsc), "torn read");
                assert!(c.counters.iter().all(|x| *x == c.tsc));
                seen += 1;
            }
        }
        w.join().unwrap();
        assert!(seen > 0 || s.read().is_some());
    }

    #[test]
    fn ring_message_round_trip() {
        for v6 in [false, true] {
            let u = NeighUpdate {
                key: view(77, v6).key,
                mac: EthernetAddress([2, 1, 2, 3, 4, 5]),
            };
            assert_eq!(std::mem::size_of::<NeighMsg>() % 4, 0);
            assert_eq!(NeighUpdate::from(NeighMsg::from(u)), u);
        }
    }
}
