//! SNAT addresses and their ports: per-worker port blocks, port preservation, random allocation
//! (RFC 6056), the reuse delay (RFC 6888), and paired address pooling (RFC 4787 REQ-2).
//!
//! - **Blocks.** The configured range `port_min..=port_max` is interleaved over the workers:
//!   port `p` belongs to worker [`owner_worker`]`(p, workers)` = `p % workers`. Every worker
//!   therefore holds the same share of every SNAT address, and the owner of a return packet
//!   follows from its destination port (or ICMP identifier) alone. With a power-of-two number of
//!   workers the rule is a mask on the low bits of the port, which NIC flow rules can express
//!   (see `docs/nat.md`).
//! - **One block per (address, protocol).** TCP, UDP and ICMP identifiers are separate spaces
//!   (RFC 4787 and RFC 5508 treat ICMP identifiers as ports). A block is a bitmap of free ports
//!   plus a FIFO of released ports with the time they may be used again.
//! - **Port preservation** (RFC 4787 section 4.2.1, "MAY"): the pod's own source port is taken
//!   when it is in this worker's block and free; otherwise a port is picked by RFC 6056
//!   section 3.3.1 (algorithm 1, "simple port randomization"): a random start in the block, then
//!   the next free port from there, wrapping around.
//! - **Reuse delay** (RFC 6888 REQ-8 wording, "port reuse ... not before 120 s"): a released port
//!   enters the FIFO; since the delay is one constant the FIFO is ordered by due time, so
//!   reclaiming is popping its head while due (bounded per call).
//! - **Paired pooling** (RFC 4787 REQ-2): a pod's SNAT address is a keyed hash of the pod's address
//!   over the pool, the same on every worker and for every protocol; when that address has no
//!   free port the new flow fails (it is not moved to another address).

use super::hash::{hash_words, Rng};
use super::Addr;

/// The worker that owns `port` of every SNAT address when there are `workers` workers.
#[inline]
pub fn owner_worker(port: u16, workers: u16) -> u16 {
    if workers <= 1 {
        0
    } else {
        port % workers
    }
}

/// Index of the port space of a protocol in a [`PoolAddr`].
#[inline]
pub fn proto_space(proto: u8) -> Option<usize> {
    match proto {
        6 => Some(0),
        17 => Some(1),
        1 | 58 => Some(2),
        _ => None,
    }
}

/// The ports of one (SNAT address, protocol) that one worker owns.
#[derive(Debug, Clone)]
pub struct PortBlock {
    first: u32,
    step: u32,
    count: u32,
    /// Bit i set: port `first + i * step` is free.
    free: Vec<u64>,
    free_count: u32,
    /// FIFO of released ports (block indexes) ...
    cool_port: Vec<u16>,
    /// ... and the time (whole seconds, rounded up) they become free again.
    cool_due: Vec<u32>,
    cool_head: usize,
    cool_len: usize,
}

impl PortBlock {
    /// The ports `p` in `min..=max` with `p % workers == worker`.
    pub fn new(min: u16, max: u16, workers: u16, worker: u16) -> PortBlock {
        let workers = u32::from(workers.max(1));
        let worker = u32::from(worker) % workers;
        let (min, max) = (u32::from(min), u32::from(max));
        let first = min + (worker + workers - min % workers) % workers;
        let count = if first > max || min > max {
            0
        } else {
            (max - first) / workers + 1
        };
        let words = count.div_ceil(64) as usize;
        let mut free = vec![u64::MAX; words];
        if count % 64 != 0 {
            if let Some(last) = free.last_mut() {
                *last = (1u64 << (count % 64)) - 1;
            }
        }
        PortBlock {
            first,
            step: workers,
            count,
            free,
            free_count: count,
            cool_port: vec![0; count as usize],
            cool_due: vec![0; count as usize],
            cool_head: 0,
            cool_len: 0,
        }
    }

    /// Number of ports in the block.
    pub fn len(&self) -> u32 {
        self.count
    }

    /// True if the block has no port.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Ports free now.
    pub fn free(&self) -> u32 {
        self.free_count
    }

    /// Ports released and waiting for the reuse delay.
    pub fn cooling(&self) -> u32 {
        self.cool_len as u32
    }

    /// The time (whole seconds) the oldest released port becomes free, if any waits.
    #[inline]
    fn next_due(&self) -> Option<u64> {
        if self.cool_len == 0 {
            return None;
        }
        self.cool_due.get(self.cool_head).map(|&d| u64::from(d))
    }

    /// Block index of `port`, if the block has it.
    #[inline]
    pub fn index_of(&self, port: u16) -> Option<u32> {
        let p = u32::from(port);
        if p < self.first {
            return None;
        }
        let off = p - self.first;
        // One worker: every port of the range, no division.
        let i = if self.step == 1 {
            off
        } else if off.is_multiple_of(self.step) {
            off / self.step
        } else {
            return None;
        };
        (i < self.count).then_some(i)
    }

    #[inline]
    fn port_at(&self, i: u32) -> u16 {
        (self.first + i * self.step) as u16
    }

    #[inline]
    fn is_free(&self, i: u32) -> bool {
        self.free
            .get((i / 64) as usize)
            .is_some_and(|w| w & (1 << (i % 64)) != 0)
    }

    #[inline]
    fn set_free(&mut self, i: u32, free: bool) {
        if let Some(w) = self.free.get_mut((i / 64) as usize) {
            if free {
                *w |= 1 << (i % 64);
            } else {
                *w &= !(1 << (i % 64));
            }
        }
    }

    /// Takes `port` if it is in the block and free (port preservation).
    #[inline]
    pub fn take(&mut self, port: u16) -> bool {
        match self.index_of(port) {
            Some(i) if self.is_free(i) => {
                self.set_free(i, false);
                self.free_count -= 1;
                true
            }
            _ => false,
        }
    }

    /// Takes a free port after a random start (RFC 6056 section 3.3.1).
    pub fn take_random(&mut self, rng: &mut Rng) -> Option<u16> {
        if self.free_count == 0 {
            return None;
        }
        let start = rng.below(self.count);
        let words = self.free.len();
        let w0 = (start / 64) as usize;
        let b0 = start % 64;
        let mut found = None;
        // The start word from the start bit, the other words, then the start word's low bits.
        let mut w = w0;
        for k in 0..=words {
            if k > 0 {
                w += 1;
                if w == words {
                    w = 0;
                }
            }
            let mut bits = self.free.get(w).copied().unwrap_or(0);
            if k == 0 {
                bits &= u64::MAX << b0;
            } else if k == words {
                bits &= !(u64::MAX << b0);
            }
            if bits != 0 {
                found = Some(w as u32 * 64 + bits.trailing_zeros());
                break;
            }
        }
        let i = found?;
        self.set_free(i, false);
        self.free_count -= 1;
        Some(self.port_at(i))
    }

    /// Releases `port`: free again at `due` (ms, kept rounded up to whole seconds) by a
    /// [`PortBlock::reclaim`] at or after that time; [`PortBlock::put_back`] frees it at once.
    pub fn release(&mut self, port: u16, due: u64) {
        let Some(i) = self.index_of(port) else { return };
        if self.is_free(i) || self.cool_len >= self.cool_port.len() {
            return;
        }
        // `cool_head < len` and `cool_len < len`: one subtraction wraps the sum.
        let mut tail = self.cool_head + self.cool_len;
        if tail >= self.cool_port.len() {
            tail -= self.cool_port.len();
        }
        let due_s = u32::try_from(due.div_ceil(1000)).unwrap_or(u32::MAX);
        if let (Some(p), Some(d)) = (self.cool_port.get_mut(tail), self.cool_due.get_mut(tail)) {
            *p = i as u16;
            *d = due_s;
            self.cool_len += 1;
        }
    }

    /// Frees `port` at once (a port taken for a flow that could not be set up).
    pub fn put_back(&mut self, port: u16) {
        if let Some(i) = self.index_of(port) {
            if !self.is_free(i) {
                self.set_free(i, true);
                self.free_count += 1;
            }
        }
    }

    /// Frees up to `budget` released ports whose delay is over. Returns how many.
    pub fn reclaim(&mut self, now: u64, budget: usize) -> usize {
        let mut n = 0;
        let now_s = now / 1000;
        while n < budget && self.cool_len > 0 {
            let (Some(&i), Some(&due)) = (
                self.cool_port.get(self.cool_head),
                self.cool_due.get(self.cool_head),
            ) else {
                break;
            };
            if u64::from(due) > now_s {
                break;
            }
            self.cool_head += 1;
            if self.cool_head == self.cool_port.len() {
                self.cool_head = 0;
            }
            self.cool_len -= 1;
            let i = u32::from(i);
            if !self.is_free(i) {
                self.set_free(i, true);
                self.free_count += 1;
            }
            n += 1;
        }
        n
    }

    /// Bytes of memory held.
    pub fn bytes(&self) -> usize {
        self.free.len() * 8 + self.cool_port.len() * 2 + self.cool_due.len() * 4
    }
}

/// One SNAT address with its TCP, UDP and ICMP blocks for this worker.
#[derive(Debug, Clone)]
pub struct PoolAddr {
    /// The address (IPv4-mapped for IPv4).
    pub addr: Addr,
    /// Blocks by [`proto_space`].
    pub blocks: [PortBlock; 3],
}

/// Why no port could be had.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortError {
    /// No address of the family.
    NoAddress,
    /// Every port of the address (this worker's block) is taken or cooling.
    Exhausted,
}

/// Up to this many addresses, [`Pool::contains`] compares them one by one; above, it does a
/// binary search in the sorted list.
const LINEAR_CONTAINS: usize = 8;

/// The SNAT addresses of one family for one worker.
#[derive(Debug, Clone)]
pub struct Pool {
    addrs: Vec<PoolAddr>,
    /// The addresses alone as 128-bit words (native byte order), sorted: the per-packet
    /// membership test compares words, and large pools are searched by bisection.
    list: Vec<u128>,
    /// No released port is due before this time (whole seconds): a lower bound, lowered by
    /// every [`Pool::release`] and recomputed by every [`Pool::reclaim`] that scans the blocks,
    /// so that the per-millisecond reclaim does not visit every block of a large pool when
    /// nothing is due.
    next_due: u64,
}

impl Pool {
    /// A pool of `addrs` with this worker's blocks of `min..=max`.
    pub fn new(addrs: &[Addr], min: u16, max: u16, workers: u16, worker: u16) -> Pool {
        let block = PortBlock::new(min, max, workers, worker);
        Pool {
            addrs: addrs
                .iter()
                .map(|a| PoolAddr {
                    addr: *a,
                    blocks: [block.clone(), block.clone(), block.clone()],
                })
                .collect(),
            list: {
                let mut l: Vec<u128> = addrs.iter().map(|a| u128::from_ne_bytes(*a)).collect();
                l.sort_unstable();
                l
            },
            next_due: u64::MAX,
        }
    }

    /// The addresses.
    pub fn addrs(&self) -> &[PoolAddr] {
        &self.addrs
    }

    /// True if `addr` is one of the pool's addresses.
    #[inline]
    pub fn contains(&self, addr: &Addr) -> bool {
        let k = u128::from_ne_bytes(*addr);
        if self.list.len() <= LINEAR_CONTAINS {
            self.list.contains(&k)
        } else {
            self.list.binary_search(&k).is_ok()
        }
    }

    /// Position of `addr` in the pool.
    #[inline]
    pub fn position(&self, addr: &Addr) -> Option<usize> {
        self.addrs.iter().position(|a| a.addr == *addr)
    }

    /// The pod's paired address: a keyed hash of the pod's address over the pool (RFC 4787
    /// REQ-2). The same secret on every worker gives the same answer everywhere.
    #[inline]
    pub fn paired(&self, secret: [u64; 2], inside: &Addr) -> Option<usize> {
        let n = self.addrs.len();
        if n <= 1 {
            return (n == 1).then_some(0);
        }
        let (a, b) = inside.split_at(8);
        let w = [
            u64::from_ne_bytes(a.try_into().unwrap_or([0; 8])),
            u64::from_ne_bytes(b.try_into().unwrap_or([0; 8])),
        ];
        let h = hash_words(secret, &w);
        Some(((u128::from(h) * n as u128) >> 64) as usize)
    }

    /// Allocates a port of `proto` on address `at`: `preferred` if free (port preservation),
    /// else a random free one.
    pub fn alloc(
        &mut self,
        at: usize,
        space: usize,
        preferred: u16,
        rng: &mut Rng,
    ) -> Result<(Addr, u16), PortError> {
        let a = self.addrs.get_mut(at).ok_or(PortError::NoAddress)?;
        let block = a.blocks.get_mut(space).ok_or(PortError::Exhausted)?;
        if block.take(preferred) {
            return Ok((a.addr, preferred));
        }
        match block.take_random(rng) {
            Some(p) => Ok((a.addr, p)),
            None => Err(PortError::Exhausted),
        }
    }

    /// The block of (`at`, `space`).
    #[inline]
    pub fn block_mut(&mut self, at: usize, space: usize) -> Option<&mut PortBlock> {
        self.addrs.get_mut(at).and_then(|a| a.blocks.get_mut(space))
    }

    /// Releases `port` of the block (`at`, `space`) ([`PortBlock::release`]: free again at
    /// `due`, ms). Ports of a pool are released through here, so that [`Pool::reclaim`] knows
    /// when one is due.
    pub fn release(&mut self, at: usize, space: usize, port: u16, due: u64) {
        if let Some(b) = self.block_mut(at, space) {
            b.release(port, due);
            self.next_due = self
                .next_due
                .min(due.div_ceil(1000).min(u64::from(u32::MAX)));
        }
    }

    /// Frees due released ports, at most `budget` in all. Returns how many. Visits the blocks
    /// only when a released port may be due (`next_due`).
    pub fn reclaim(&mut self, now: u64, budget: usize) -> usize {
        if now / 1000 < self.next_due {
            return 0;
        }
        let mut n = 0;
        let mut next = u64::MAX;
        for a in &mut self.addrs {
            for b in &mut a.blocks {
                if n < budget {
                    n += b.reclaim(now, budget - n);
                }
                if let Some(d) = b.next_due() {
                    next = next.min(d);
                }
            }
        }
        self.next_due = next;
        n
    }

    /// Bytes of memory held.
    pub fn bytes(&self) -> usize {
        self.addrs
            .iter()
            .map(|a| a.blocks.iter().map(PortBlock::bytes).sum::<usize>())
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::{any, prop_assert, prop_assert_eq, proptest};

    #[test]
    fn blocks_are_disjoint_and_cover_the_range() {
        for workers in 1..=5u16 {
            let mut seen = std::collections::HashSet::new();
            for w in 0..workers {
                let b = PortBlock::new(1000, 1100, workers, w);
                for p in 1000..=1100u16 {
                    let mine = b.index_of(p).is_some();
                    assert_eq!(
                        mine,
                        owner_worker(p, workers) == w,
                        "port {p} w {w}/{workers}"
                    );
                    if mine {
                        assert!(seen.insert(p));
                    }
                }
            }
            assert_eq!(seen.len(), 101);
        }
        let b = PortBlock::new(10, 9, 1, 0);
        assert!(b.is_empty());
        let b = PortBlock::new(65535, 65535, 4, 3);
        assert_eq!(b.len(), 1);
        assert_eq!(b.index_of(65535), Some(0));
    }

    #[test]
    fn rfc6056_3_3_1_random_allocation_takes_every_port_once() {
        let mut b = PortBlock::new(2000, 2299, 3, 1);
        let mut rng = Rng::new([1, 2], 0);
        let mut got = std::collections::HashSet::new();
        while let Some(p) = b.take_random(&mut rng) {
            assert_eq!(owner_worker(p, 3), 1);
            assert!((2000..=2299).contains(&p));
            assert!(got.insert(p), "port {p} twice");
        }
        assert_eq!(got.len(), 100);
        assert_eq!(b.free(), 0);
    }

    #[test]
    fn rfc6888_released_port_waits_for_the_delay() {
        let mut b = PortBlock::new(5000, 5001, 1, 0);
        assert!(b.take(5000));
        assert!(b.take(5001));
        b.release(5000, 1000);
        assert_eq!(b.reclaim(999, 10), 0);
        assert!(!b.take(5000));
        assert_eq!(b.reclaim(1000, 10), 1);
        assert!(b.take(5000));
        b.release(5000, 5);
        b.put_back(5001);
        assert_eq!(b.free(), 1);
        // A port that is free already is not queued twice.
        b.release(5001, 5);
        assert_eq!(b.cooling(), 1);
    }

    proptest! {
        #[test]
        fn random_allocation_is_spread(seed in any::<u64>()) {
            // First picks from a fresh block land all over it, not on the first ports.
            let mut b = PortBlock::new(1024, 65535, 1, 0);
            let mut rng = Rng::new([seed, 3], 0);
            let picks: Vec<u16> = (0..32).filter_map(|_| b.take_random(&mut rng)).collect();
            prop_assert_eq!(picks.len(), 32);
            prop_assert!(picks.iter().any(|&p| p > 40000));
            prop_assert!(picks.iter().any(|&p| p < 30000));
        }
    }
}
