//! An open-addressing hash index from a 64-bit hash to an entry number, over one preallocated
//! array of `u64` slots (linear probing, backward-shift deletion: no tombstones, so probe chains
//! never degrade with churn).
//!
//! A slot holds `hash32 << 32 | (entry + 1)`; `0` is empty. `hash32` (the high half of the
//! entry's hash) gives the home slot (`hash32 & mask`) and doubles as a tag: a probe only looks
//! at an entry (a cache miss) when the whole 32-bit tag matches. The array has at least twice
//! as many slots as the table has entries, so the load factor stays at or below 1/2 and the
//! expected probe length is about 1.5 slots for a hit and 2.5 for a miss.
//!
//! Invariants: every stored entry is reachable from its home slot without crossing an empty
//! slot; `len <= slots / 2`.

/// The index.
#[derive(Debug, Clone)]
pub struct Index {
    slots: Vec<u64>,
    mask: usize,
    len: usize,
}

#[inline(always)]
fn tag(hash: u64) -> u32 {
    (hash >> 32) as u32
}

impl Index {
    /// An index for up to `entries` entries (at least 2 slots per entry, a power of two).
    pub fn with_entries(entries: usize) -> Index {
        let slots = (entries.max(1) * 2).next_power_of_two().max(16);
        let mut v: Vec<u64> = Vec::with_capacity(slots);
        // Huge pages (a random probe then costs no TLB miss), then write every slot now, so
        // that no page fault happens on the hot path.
        rte::mem::advise_huge_pages(v.spare_capacity_mut());
        v.resize(slots, 0);
        Index {
            slots: v,
            mask: slots - 1,
            len: 0,
        }
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes of the slot array.
    pub fn bytes(&self) -> usize {
        self.slots.len() * 8
    }

    /// Starts loading the home slot of `hash` (the first of a lookup's probes).
    #[inline(always)]
    pub fn prefetch(&self, hash: u64) {
        if let Some(s) = self.slots.get(tag(hash) as usize & self.mask) {
            rte::mem::prefetch(s);
        }
    }

    /// The first entry stored under the tag of `hash` within the first few probes (a
    /// candidate to prefetch; the lookup itself still compares the key).
    #[inline(always)]
    pub fn candidate(&self, hash: u64) -> Option<u32> {
        let t = tag(hash);
        let mut pos = t as usize & self.mask;
        for _ in 0..4 {
            let slot = self.slots.get(pos).copied().unwrap_or(0);
            if slot == 0 {
                return None;
            }
            if (slot >> 32) as u32 == t {
                return Some((slot as u32).wrapping_sub(1));
            }
            pos = (pos + 1) & self.mask;
        }
        None
    }

    /// The entry whose hash is `hash` and for which `eq` holds.
    #[inline]
    pub fn find(&self, hash: u64, mut eq: impl FnMut(u32) -> bool) -> Option<u32> {
        let t = tag(hash);
        let mut pos = t as usize & self.mask;
        // At most every slot once: the table is never full, so an empty slot ends the loop first.
        for _ in 0..self.slots.len() {
            let slot = self.slots.get(pos).copied().unwrap_or(0);
            if slot == 0 {
                return None;
            }
            if (slot >> 32) as u32 == t {
                let entry = (slot as u32).wrapping_sub(1);
                if eq(entry) {
                    return Some(entry);
                }
            }
            pos = (pos + 1) & self.mask;
        }
        None
    }

    /// Adds `entry` under `hash`. The caller makes sure that the index has room (`len` below
    /// the entry count it was built for) and that the key is not present yet. Returns false
    /// (and stores nothing) if the index is at its load limit.
    #[inline]
    pub fn insert(&mut self, hash: u64, entry: u32) -> bool {
        if self.len >= self.slots.len() / 2 || entry == u32::MAX {
            return false;
        }
        let t = tag(hash);
        let mut pos = t as usize & self.mask;
        loop {
            match self.slots.get_mut(pos) {
                Some(slot) if *slot == 0 => {
                    *slot = (u64::from(t) << 32) | u64::from(entry + 1);
                    self.len += 1;
                    return true;
                }
                Some(_) => pos = (pos + 1) & self.mask,
                None => return false,
            }
        }
    }

    /// Removes `entry` stored under `hash`; false if it is not there.
    pub fn remove(&mut self, hash: u64, entry: u32) -> bool {
        let t = tag(hash);
        let want = (u64::from(t) << 32) | u64::from(entry.wrapping_add(1));
        let mut pos = t as usize & self.mask;
        let mut found = None;
        for _ in 0..self.slots.len() {
            let slot = self.slots.get(pos).copied().unwrap_or(0);
            if slot == 0 {
                break;
            }
            if slot == want {
                found = Some(pos);
                break;
            }
            pos = (pos + 1) & self.mask;
        }
        let Some(mut hole) = found else {
            return false;
        };
        // Backward shift: move later members of the cluster into the hole when their home slot
        // is not between the hole and their current position.
        let mut next = (hole + 1) & self.mask;
        loop {
            let slot = self.slots.get(next).copied().unwrap_or(0);
            if slot == 0 {
                break;
            }
            let home = ((slot >> 32) as usize) & self.mask;
            // Distance from home to `next` and from home to `hole`, cyclically.
            let d_next = next.wrapping_sub(home) & self.mask;
            let d_hole = hole.wrapping_sub(home) & self.mask;
            if d_hole < d_next {
                if let Some(h) = self.slots.get_mut(hole) {
                    *h = slot;
                }
                hole = next;
            }
            next = (next + 1) & self.mask;
        }
        if let Some(h) = self.slots.get_mut(hole) {
            *h = 0;
        }
        self.len -= 1;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    proptest! {
        /// Random inserts and removes with colliding hashes behave like a map.
        #[test]
        fn behaves_like_a_map(ops in proptest::collection::vec((any::<bool>(), 0u32..64, 0u64..8), 1..400)) {
            let mut idx = Index::with_entries(64);
            let mut model: HashMap<u32, u64> = HashMap::new();
            for (ins, entry, h) in ops {
                // Few distinct hashes with the same home slot: long clusters.
                let hash = (h << 36) | (h << 32) | u64::from(entry);
                if ins {
                    if let std::collections::hash_map::Entry::Vacant(e) = model.entry(entry) {
                        prop_assert!(idx.insert(hash, entry));
                        e.insert(hash);
                    }
                } else if let Some(hh) = model.remove(&entry) {
                    prop_assert!(idx.remove(hh, entry));
                }
                prop_assert_eq!(idx.len(), model.len());
                for (&e, &hh) in &model {
                    prop_assert_eq!(idx.find(hh, |x| x == e), Some(e));
                }
            }
        }
    }

    #[test]
    fn refuses_past_load_limit() {
        let mut idx = Index::with_entries(4);
        let slots = idx.bytes() / 8;
        for i in 0..(slots / 2) as u32 {
            assert!(idx.insert(u64::from(i) << 32, i));
        }
        assert!(!idx.insert(1 << 40, 99));
        assert_eq!(idx.find(3 << 32, |e| e == 3), Some(3));
        assert_eq!(idx.find(3 << 32, |e| e == 4), None);
        assert!(!idx.remove(3 << 32, 4));
    }
}
