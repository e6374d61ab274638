//! This TMM's slice of the DNS46 IPv4 pool (CONTRACT §2 partitioning; the reserved statics
//! are outside every slice). A bitmap of used addresses, rebuilt from dSSM (`dns46:v4:*` keys
//! inside the slice) before the first creation so no address is handed out twice; the next free
//! address is searched round-robin from the last one handed out (addresses freed by a delete are
//! reused last).

use egress_config::{Nat46, Nat46Partition};
use std::net::Ipv4Addr;

/// The used/free state of one contiguous slice.
#[derive(Debug, Clone)]
pub struct SliceAllocator {
    first: u32,
    size: u32,
    used: Vec<u64>,
    in_use: u32,
    cursor: u32,
}

impl SliceAllocator {
    /// A slice from `first` to `last` inclusive, all free.
    pub fn new(first: Ipv4Addr, last: Ipv4Addr) -> Option<SliceAllocator> {
        let (f, l) = (u32::from(first), u32::from(last));
        if l < f {
            return None;
        }
        let size = l - f + 1;
        Some(SliceAllocator {
            first: f,
            size,
            used: vec![0; (size as usize).div_ceil(64)],
            in_use: 0,
            cursor: 0,
        })
    }

    /// The slice of TMM `tmm_index` from the `[nat46]` config (`slice_first`/`slice_last` when
    /// given, else computed from the subnet, reserved count and replicas). None when DNS46 has
    /// no subnet or the index has no slice.
    pub fn from_config(n: &Nat46, tmm_index: u32) -> Option<SliceAllocator> {
        if let (Some(f), Some(l)) = (n.slice_first, n.slice_last) {
            return SliceAllocator::new(f, l);
        }
        let p = Nat46Partition::new(
            n.ipv4_subnet?,
            n.max_reserved_static_ips,
            n.max_tmm_replicas,
        )
        .ok()?;
        let (f, l) = p.slice(tmm_index)?;
        SliceAllocator::new(f, l)
    }

    /// First and last address.
    pub fn range(&self) -> (Ipv4Addr, Ipv4Addr) {
        (
            Ipv4Addr::from(self.first),
            Ipv4Addr::from(self.first + self.size - 1),
        )
    }

    /// Number of addresses in the slice.
    pub fn size(&self) -> u32 {
        self.size
    }

    /// Addresses marked used.
    pub fn in_use(&self) -> u32 {
        self.in_use
    }

    /// Whether `a` is in the slice.
    pub fn contains(&self, a: Ipv4Addr) -> bool {
        let v = u32::from(a);
        v >= self.first && v - self.first < self.size
    }

    fn bit(&self, a: Ipv4Addr) -> Option<(usize, u64)> {
        self.contains(a).then(|| {
            let i = u32::from(a) - self.first;
            ((i / 64) as usize, 1u64 << (i % 64))
        })
    }

    /// Whether `a` is marked used (false outside the slice).
    pub fn is_used(&self, a: Ipv4Addr) -> bool {
        self.bit(a).is_some_and(|(w, m)| self.used[w] & m != 0)
    }

    /// Marks `a` used (ignored outside the slice).
    pub fn mark_used(&mut self, a: Ipv4Addr) {
        if let Some((w, m)) = self.bit(a) {
            if self.used[w] & m == 0 {
                self.used[w] |= m;
                self.in_use += 1;
            }
        }
    }

    /// Gives `a` back (an allocation that was not used).
    pub fn release(&mut self, a: Ipv4Addr) {
        if let Some((w, m)) = self.bit(a) {
            if self.used[w] & m != 0 {
                self.used[w] &= !m;
                self.in_use -= 1;
            }
        }
    }

    /// Forgets everything (before a rebuild).
    pub fn clear(&mut self) {
        self.used.iter_mut().for_each(|w| *w = 0);
        self.in_use = 0;
    }

    /// Takes the next free address after the last one handed out, or None when exhausted.
    pub fn allocate(&mut self) -> Option<Ipv4Addr> {
        if self.in_use >= self.size {
            return None;
        }
        let words = self.used.len();
        let start = self.cursor % self.size;
        // Scan word by word from the cursor, wrapping once.
        let mut idx = start;
        for _ in 0..=words {
            let w = (idx / 64) as usize;
            let bit = idx % 64;
            let mut free = !self.used[w] & (!0u64 << bit);
            if w == words - 1 && !self.size.is_multiple_of(64) {
                free &= (1u64 << (self.size % 64)) - 1;
            }
            if free != 0 {
                let i = w as u32 * 64 + free.trailing_zeros();
                self.used[w] |= 1u64 << (i % 64);
                self.in_use += 1;
                self.cursor = (i + 1) % self.size;
                return Some(Ipv4Addr::from(self.first + i));
            }
            idx = ((w as u32 + 1) * 64) % self.size.next_multiple_of(64);
            if idx >= self.size {
                idx = 0;
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    #[test]
    fn allocates_in_order_skipping_used_and_exhausts() {
        let mut s = SliceAllocator::new(a("10.1.1.129"), a("10.1.1.191")).unwrap();
        assert_eq!(s.size(), 63);
        s.mark_used(a("10.1.1.130"));
        s.mark_used(a("10.1.1.1")); // outside: ignored
        assert_eq!(s.allocate(), Some(a("10.1.1.129")));
        assert_eq!(s.allocate(), Some(a("10.1.1.131")));
        let mut n = 2;
        while s.allocate().is_some() {
            n += 1;
        }
        assert_eq!(n, 62);
        assert_eq!(s.in_use(), 63);
        s.release(a("10.1.1.150"));
        assert_eq!(s.allocate(), Some(a("10.1.1.150")));
        assert_eq!(s.allocate(), None);
    }

    #[test]
    fn wraps_round_robin() {
        let mut s = SliceAllocator::new(a("10.0.0.0"), a("10.0.0.199")).unwrap();
        for _ in 0..150 {
            s.allocate().unwrap();
        }
        s.release(a("10.0.0.5"));
        // The cursor is at 150: the rest first, then the freed one.
        for i in 150..200u32 {
            assert_eq!(
                s.allocate(),
                Some(Ipv4Addr::from(u32::from(a("10.0.0.0")) + i))
            );
        }
        assert_eq!(s.allocate(), Some(a("10.0.0.5")));
        assert_eq!(s.allocate(), None);
    }

    #[test]
    fn from_config_partition() {
        let n = Nat46 {
            enabled: true,
            ipv4_subnet: Some("10.1.1.0/24".parse().unwrap()),
            max_reserved_static_ips: 128,
            max_tmm_replicas: 2,
            ..Nat46::default()
        };
        let s = SliceAllocator::from_config(&n, 1).unwrap();
        assert_eq!(s.range(), (a("10.1.1.192"), a("10.1.1.254")));
        assert!(SliceAllocator::from_config(&n, 2).is_none());
        let mut s = SliceAllocator::new(a("10.0.0.7"), a("10.0.0.7")).unwrap();
        assert_eq!(s.allocate(), Some(a("10.0.0.7")));
        assert_eq!(s.allocate(), None);
    }
}
