//! The answer cache: bounded entries and bytes, LRU eviction, TTLs honoured.
//!
//! Keyed by the wire form of [`QKey`] ([`WireKey`]: the DO and CD bits, type, class and the
//! lower-cased wire-format name), so the fast path looks an answer up with the question bytes
//! of the query and no hickory-proto decoding. Each entry holds a [`Template`]: the sanitized
//! answer (only the answer chain, and the SOA for negative answers, RFC 2308) encoded once,
//! served by patching ID, case and TTLs. An entry expires when its smallest TTL runs out; the
//! served TTLs are decremented by the seconds spent in the cache.
//!
//! Index: open addressing with linear probing over a table of at least twice the entry
//! capacity (so a probe always ends at an empty slot), each slot one `u64`: the high half of
//! the key's hash and the entry number. Keys are hashed with [`KeyHasher`], keyed with a
//! secret drawn at start; a removal shifts the following slots back (no tombstones).
//!
//! Memory: the entry slab and the index are allocated at start for `capacity` entries. An
//! entry's byte buffers (answer, TTL offsets, key) are allocated the first time the slot is
//! used and reused afterwards (a bigger answer may grow them); the sum of the answers'
//! capacities is kept under `max_bytes` by evicting least-recently-used entries.

use super::fast::{KeyHasher, WireKey};
use super::message::{QKey, Template};

const NIL: u32 = u32::MAX;
/// An empty index slot.
const EMPTY: u64 = 0;

#[derive(Debug, Default)]
struct Entry {
    key: Option<QKey>,
    /// The key in wire form and its hash.
    wkey: Vec<u8>,
    hash: u64,
    tpl: Template,
    stored_at: u64,
    expires: u64,
    prev: u32,
    next: u32,
}

/// The DNS answer cache of one worker.
#[derive(Debug)]
pub struct Cache {
    index: Vec<u64>,
    mask: usize,
    hasher: KeyHasher,
    len: usize,
    entries: Vec<Entry>,
    free: Vec<u32>,
    head: u32,
    tail: u32,
    bytes: usize,
    max_bytes: usize,
}

/// One cached answer, for `show dns cache`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheItem {
    pub key: QKey,
    /// Seconds left.
    pub ttl_left: u64,
    /// Bytes held.
    pub bytes: usize,
}

#[inline]
fn slot_of(v: u64) -> u32 {
    (v as u32).wrapping_sub(1)
}

#[inline]
fn tag_of(hash: u64) -> u64 {
    hash & 0xffff_ffff_0000_0000
}

impl Cache {
    /// A cache of at most `capacity` entries and `max_bytes` bytes of answers, its hash keyed
    /// with a random secret (from the standard library's per-process random keys; the proxy
    /// uses [`Cache::with_seed`] with its own generator).
    pub fn new(capacity: usize, max_bytes: usize) -> Cache {
        use std::hash::BuildHasher;
        let r = std::collections::hash_map::RandomState::new();
        let seed = [0u64, 1, 2, 3].map(|i| r.hash_one(i));
        Self::with_seed(capacity, max_bytes, seed)
    }

    /// As [`Cache::new`] with the hash secret `seed`.
    pub fn with_seed(capacity: usize, max_bytes: usize, seed: [u64; 4]) -> Cache {
        let capacity = capacity.clamp(1, (NIL as usize - 1) / 4);
        let mut entries = Vec::with_capacity(capacity);
        entries.resize_with(capacity, Entry::default);
        let size = (capacity * 2).next_power_of_two();
        Cache {
            index: vec![EMPTY; size],
            mask: size - 1,
            hasher: KeyHasher::new(seed),
            len: 0,
            entries,
            free: (0..capacity as u32).rev().collect(),
            head: NIL,
            tail: NIL,
            bytes: 0,
            max_bytes,
        }
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the cache is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes held by the answers.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// The hash of a wire key.
    #[inline]
    pub fn hash(&self, key: &[u8]) -> u64 {
        self.hasher.hash(key)
    }

    /// Index position and entry of `key` (hash `h`).
    #[inline]
    fn find(&self, key: &[u8], h: u64) -> Option<(usize, u32)> {
        let tag = tag_of(h);
        let mut pos = h as usize & self.mask;
        // At most half the table is in use: the probe ends at an empty slot.
        for _ in 0..=self.mask {
            let v = self.index[pos];
            if v == EMPTY {
                return None;
            }
            if v & 0xffff_ffff_0000_0000 == tag {
                let i = slot_of(v);
                if self
                    .entries
                    .get(i as usize)
                    .is_some_and(|e| e.wkey.as_slice() == key)
                {
                    return Some((pos, i));
                }
            }
            pos = (pos + 1) & self.mask;
        }
        None
    }

    /// The answer for `key` and the seconds it has spent in the cache; an expired entry is
    /// removed. A hit becomes the most recently used entry.
    pub fn get(&mut self, key: &QKey, now: u64) -> Option<(&Template, u32)> {
        let w = WireKey::of(key)?;
        let h = self.hash(w.as_bytes());
        self.get_wire(w.as_bytes(), h, now)
    }

    /// As [`Cache::get`] for a key in wire form and its hash ([`Cache::hash`]).
    #[inline]
    pub fn get_wire(&mut self, key: &[u8], h: u64, now: u64) -> Option<(&Template, u32)> {
        let (_, i) = self.find(key, h)?;
        let e = self.entries.get(i as usize)?;
        if now >= e.expires {
            self.remove_slot(i);
            return None;
        }
        let elapsed = u32::try_from(now.saturating_sub(e.stored_at) / 1000).unwrap_or(u32::MAX);
        if self.head != i {
            self.unlink(i);
            self.push_front(i);
        }
        let e = self.entries.get(i as usize)?;
        Some((&e.tpl, elapsed))
    }

    /// Stores `tpl` for `key` for `ttl` seconds (replacing an older answer), evicting the least
    /// recently used entries to stay within the entry and byte bounds.
    pub fn insert(&mut self, key: &QKey, tpl: &Template, ttl: u32, now: u64) {
        if ttl == 0 || tpl.wire.len() + 2 * tpl.ttl_offsets.len() > self.max_bytes {
            return;
        }
        let Some(w) = WireKey::of(key) else {
            return;
        };
        let wk = w.as_bytes();
        let h = self.hash(wk);
        if let Some((_, i)) = self.find(wk, h) {
            self.remove_slot(i);
        }
        let slot = match self.free.pop() {
            Some(s) => s,
            None => {
                let lru = self.tail;
                if lru == NIL {
                    return;
                }
                self.remove_slot(lru);
                match self.free.pop() {
                    Some(s) => s,
                    None => return,
                }
            }
        };
        let Some(e) = self.entries.get_mut(slot as usize) else {
            return;
        };
        let before = e.tpl.bytes();
        e.tpl.wire.clone_from(&tpl.wire);
        e.tpl.ttl_offsets.clone_from(&tpl.ttl_offsets);
        e.tpl.question_end = tpl.question_end;
        e.tpl.raw = tpl.raw;
        let after = e.tpl.bytes();
        e.key = Some(key.clone());
        e.wkey.clear();
        e.wkey.extend_from_slice(wk);
        e.hash = h;
        e.stored_at = now;
        e.expires = now.saturating_add(u64::from(ttl) * 1000);
        self.bytes = self.bytes - before + after;
        self.index_insert(h, slot);
        self.len += 1;
        self.push_front(slot);
        while self.bytes > self.max_bytes && self.tail != slot && self.tail != NIL {
            let t = self.tail;
            self.remove_slot(t);
            // A freed slot keeps its buffers for reuse; release them when over the bound.
            if let Some(e) = self.entries.get_mut(t as usize) {
                self.bytes -= e.tpl.bytes();
                e.tpl = Template::default();
            }
        }
    }

    fn index_insert(&mut self, h: u64, slot: u32) {
        let mut pos = h as usize & self.mask;
        for _ in 0..=self.mask {
            if self.index[pos] == EMPTY {
                self.index[pos] = tag_of(h) | u64::from(slot + 1);
                return;
            }
            pos = (pos + 1) & self.mask;
        }
    }

    /// Empties index position `pos`, shifting back the entries after it whose probe passes
    /// through it (linear-probing deletion without tombstones).
    fn index_remove(&mut self, mut pos: usize) {
        let mut j = pos;
        loop {
            j = (j + 1) & self.mask;
            let v = self.index[j];
            if v == EMPTY || j == pos {
                break;
            }
            let home = self
                .entries
                .get(slot_of(v) as usize)
                .map_or(j, |e| e.hash as usize & self.mask);
            // Move `j` into the hole unless its home lies in (pos, j].
            if (j.wrapping_sub(home) & self.mask) >= (j.wrapping_sub(pos) & self.mask) {
                self.index[pos] = v;
                pos = j;
            }
        }
        self.index[pos] = EMPTY;
    }

    /// Removes every entry (configuration change).
    pub fn clear(&mut self) {
        while self.head != NIL {
            let h = self.head;
            self.remove_slot(h);
        }
    }

    /// Number of entry slots (the bound of a walk with [`Cache::slot`]).
    pub fn slots(&self) -> usize {
        self.entries.len()
    }

    /// Slot `i` if it holds an answer: its key, seconds left, bytes held. Does not allocate:
    /// the data path walks the slots a few at a time to export them (`show dns cache`).
    pub fn slot(&self, i: usize, now: u64) -> Option<(&QKey, u64, usize)> {
        let e = self.entries.get(i)?;
        let k = e.key.as_ref()?;
        Some((k, e.expires.saturating_sub(now) / 1000, e.tpl.bytes()))
    }

    /// The entries, most recently used first (slow path: allocates).
    pub fn items(&self, now: u64) -> Vec<CacheItem> {
        let mut out = Vec::with_capacity(self.len());
        let mut i = self.head;
        while let Some(e) = self.entries.get(i as usize) {
            if let Some(k) = &e.key {
                out.push(CacheItem {
                    key: k.clone(),
                    ttl_left: e.expires.saturating_sub(now) / 1000,
                    bytes: e.tpl.bytes(),
                });
            }
            i = e.next;
        }
        out
    }

    fn remove_slot(&mut self, i: u32) {
        let Some(e) = self.entries.get_mut(i as usize) else {
            return;
        };
        if e.key.take().is_none() {
            return;
        }
        let h = e.hash;
        let mut pos = h as usize & self.mask;
        for _ in 0..=self.mask {
            let v = self.index[pos];
            if v == EMPTY {
                break;
            }
            if slot_of(v) == i {
                self.index_remove(pos);
                break;
            }
            pos = (pos + 1) & self.mask;
        }
        self.len -= 1;
        self.unlink(i);
        self.free.push(i);
    }
    fn unlink(&mut self, i: u32) {
        let (prev, next) = match self.entries.get(i as usize) {
            Some(e) => (e.prev, e.next),
            None => return,
        };
        match self.entries.get_mut(prev as usize) {
            Some(p) => p.next = next,
            None => self.head = next,
        }
        match self.entries.get_mut(next as usize) {
            Some(n) => n.prev = prev,
            None => self.tail = prev,
        }
        if let Some(e) = self.entries.get_mut(i as usize) {
            e.prev = NIL;
            e.next = NIL;
        }
    }

    fn push_front(&mut self, i: u32) {
        let old = self.head;
        if let Some(e) = self.entries.get_mut(i as usize) {
            e.prev = NIL;
            e.next = old;
        }
        match self.entries.get_mut(old as usize) {
            Some(h) => h.prev = i,
            None => self.tail = i,
        }
        self.head = i;
    }
}

#[cfg(test)]
mod tests {
    use super::super::message::tests::{a, key};
    use super::*;
    use hickory_proto::op::{Message, OpCode};
    use hickory_proto::rr::RecordType;

    fn tpl(n: &str, ttl: u32) -> Template {
        let k = key(n, RecordType::A);
        let mut m = Message::response(0, OpCode::Query);
        m.add_query(k.query());
        m.add_answer(a(n, ttl, "192.0.2.1"));
        let mut t = Template::default();
        assert!(t.fill(&m));
        t
    }

    #[test]
    fn ttl_expiry_and_elapsed_seconds() {
        let mut c = Cache::new(4, 1 << 20);
        let k = key("a.example.", RecordType::A);
        c.insert(&k, &tpl("a.example.", 10), 10, 1_000);
        assert_eq!(c.get(&k, 4_500).map(|(_, e)| e), Some(3));
        assert!(c.get(&k, 11_000).is_none(), "expired at stored + ttl");
        assert!(c.is_empty());
    }

    #[test]
    fn lookup_is_case_insensitive_and_respects_do_cd() {
        let mut c = Cache::new(4, 1 << 20);
        c.insert(
            &key("A.Example.", RecordType::A),
            &tpl("a.example.", 60),
            60,
            0,
        );
        assert!(c.get(&key("a.EXAMPLE.", RecordType::A), 1).is_some());
        let mut k = key("a.example.", RecordType::A);
        k.dnssec_ok = true;
        assert!(c.get(&k, 1).is_none());
        k.dnssec_ok = false;
        k.checking_disabled = true;
        assert!(c.get(&k, 1).is_none());
        assert!(c.get(&key("a.example.", RecordType::AAAA), 1).is_none());
    }

    #[test]
    fn lru_eviction_by_entries() {
        let mut c = Cache::new(2, 1 << 20);
        let (k1, k2, k3) = (
            key("1.example.", RecordType::A),
            key("2.example.", RecordType::A),
            key("3.example.", RecordType::A),
        );
        c.insert(&k1, &tpl("1.example.", 60), 60, 0);
        c.insert(&k2, &tpl("2.example.", 60), 60, 0);
        assert!(c.get(&k1, 1).is_some()); // k2 is now least recently used
        c.insert(&k3, &tpl("3.example.", 60), 60, 2);
        assert_eq!(c.len(), 2);
        assert!(c.get(&k2, 3).is_none());
        assert!(c.get(&k1, 3).is_some() && c.get(&k3, 3).is_some());
    }

    #[test]
    fn lru_eviction_by_bytes() {
        let mut one = Cache::new(1, 1 << 20);
        one.insert(
            &key("1.example.", RecordType::A),
            &tpl("1.example.", 60),
            60,
            0,
        );
        let per = one.bytes();
        let mut c = Cache::new(100, per * 3);
        for i in 0..10 {
            let n = format!("{i}.example.");
            c.insert(&key(&n, RecordType::A), &tpl(&n, 60), 60, 0);
            assert!(c.bytes() <= per * 3);
        }
        assert!(c.len() <= 3);
        assert!(c.get(&key("9.example.", RecordType::A), 1).is_some());
        c.clear();
        assert!(c.is_empty());
        assert_eq!(c.items(0).len(), 0);
    }
}
