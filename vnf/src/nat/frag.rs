//! Fragment tracking for the translating NATs (NAT46, NAT64): a bounded per-worker table that
//! lets the non-first fragments of a datagram follow the translation of its first fragment.
//!
//! A non-first fragment carries no transport header, so no session can be found for it. When
//! the first fragment of a datagram (offset 0, More Fragments set) is translated, the stage
//! records the datagram's key — source, destination, protocol and fragment Identification as
//! received (RFC 791 / RFC 8200 section 4.5: the tuple that names one datagram) — with the
//! translated addresses. Later fragments with the same key are translated with those addresses
//! (no port to rewrite: they hold payload only; the transport checksum, which covers the whole
//! datagram, was updated in the first fragment).
//!
//! Bounds (issue 11 item 5, a fragment flood): the table is set-associative, `capacity`
//! entries allocated once in [`FragTable::new`], [`WAYS`] per bucket. An entry lives
//! `timeout_ms` after the last fragment that used it. Inserting into a full bucket evicts its
//! oldest entry (counted): a flood of first fragments costs the flooder's own datagrams and,
//! at worst, the later fragments of some other datagram, never memory. Out-of-order delivery
//! (a non-first fragment before the first) is not reassembled or held: that fragment is
//! dropped and counted (`nat_fragment`); the sender's own reassembly timeout then applies.
//!
//! Invariants: no allocation after `new`; every operation looks at one bucket (bounded work);
//! no panic on any input.

use super::hash::{hash_words, random_secret};
use super::table::{Dir, SessionKind};
use super::Addr;

/// Entries per bucket.
pub const WAYS: usize = 4;
/// Default entries per worker.
pub const DEFAULT_CAPACITY: usize = 1024;
/// Default lifetime of an entry after its last use, ms.
pub const DEFAULT_TIMEOUT_MS: u64 = 5_000;

/// What names one datagram: addresses as received (table form), protocol, Identification
/// (IPv4: 16 bits; IPv6: the Fragment header's 32 bits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FragKey {
    pub src: Addr,
    pub dst: Addr,
    pub proto: u8,
    pub ident: u32,
}

/// How the fragments of a datagram are translated: the addresses of the translated header
/// (table form), and what they are counted as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FragXlat {
    pub src: Addr,
    pub dst: Addr,
    pub kind: SessionKind,
    pub dir: Dir,
}

#[derive(Debug, Clone, Copy)]
struct Slot {
    key: FragKey,
    xlat: FragXlat,
    /// 0: free.
    expires: u64,
}

/// Counters of one worker's fragment table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FragCounters {
    /// First fragments recorded.
    pub tracked: u64,
    /// Non-first fragments that found their datagram.
    pub hits: u64,
    /// Non-first fragments without state (first fragment not seen, expired or evicted).
    pub misses: u64,
    /// Live entries pushed out by a new datagram in a full bucket.
    pub evictions: u64,
}

/// The bounded fragment table of one worker.
#[derive(Debug, Clone)]
pub struct FragTable {
    slots: Vec<Slot>,
    /// Buckets - 1 (a power of two minus one).
    mask: usize,
    timeout_ms: u64,
    secret: [u64; 2],
    counters: FragCounters,
}

impl FragTable {
    /// A table of at least `capacity` entries (rounded up to a power of two, at least
    /// [`WAYS`]); entries live `timeout_ms` after their last use.
    pub fn new(capacity: usize, timeout_ms: u64) -> FragTable {
        let buckets = (capacity.max(WAYS).div_ceil(WAYS)).next_power_of_two();
        let free = Slot {
            key: FragKey::default(),
            xlat: FragXlat {
                src: [0; 16],
                dst: [0; 16],
                kind: SessionKind::Nat46,
                dir: Dir::In2Out,
            },
            expires: 0,
        };
        FragTable {
            slots: vec![free; buckets * WAYS],
            mask: buckets - 1,
            timeout_ms: timeout_ms.max(1),
            secret: random_secret(),
            counters: FragCounters::default(),
        }
    }

    /// Entries the table can hold.
    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// Live entries at `now` (walks the table: for tests and `show`, not per packet).
    pub fn live(&self, now: u64) -> usize {
        self.slots.iter().filter(|s| s.expires > now).count()
    }

    /// The counters.
    pub fn counters(&self) -> FragCounters {
        self.counters
    }

    #[inline]
    fn bucket(&self, k: &FragKey) -> usize {
        let w = |a: &Addr, i: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&a[i..i + 8]);
            u64::from_le_bytes(b)
        };
        let h = hash_words(
            self.secret,
            &[
                w(&k.src, 0),
                w(&k.src, 8),
                w(&k.dst, 0),
                w(&k.dst, 8),
                (u64::from(k.proto) << 32) | u64::from(k.ident),
            ],
        );
        ((h as usize) & self.mask) * WAYS
    }

    /// Records the translation of the datagram `key` (its first fragment was translated).
    /// An entry with the same key is replaced (a new datagram reusing the Identification).
    pub fn insert(&mut self, key: FragKey, xlat: FragXlat, now: u64) {
        let b = self.bucket(&key);
        let expires = now.saturating_add(self.timeout_ms).max(1);
        let Some(bucket) = self.slots.get_mut(b..b + WAYS) else {
            return;
        };
        // Same key, else a free or expired slot, else the one expiring first.
        let mut pick = 0usize;
        let mut pick_rank = (3u8, u64::MAX);
        for (i, s) in bucket.iter().enumerate() {
            let rank = if s.expires > now && s.key == key {
                (0, 0)
            } else if s.expires <= now {
                (1, 0)
            } else {
                (2, s.expires)
            };
            if rank < pick_rank {
                pick_rank = rank;
                pick = i;
            }
        }
        if pick_rank.0 == 2 {
            self.counters.evictions += 1;
        }
        if let Some(s) = bucket.get_mut(pick) {
            *s = Slot { key, xlat, expires };
        }
        self.counters.tracked += 1;
    }

    /// The translation of a non-first fragment of datagram `key`; refreshes the entry. A miss
    /// is counted (the caller drops the fragment).
    pub fn lookup(&mut self, key: &FragKey, now: u64) -> Option<FragXlat> {
        let b = self.bucket(key);
        let expires = now.saturating_add(self.timeout_ms).max(1);
        let found = self
            .slots
            .get_mut(b..b + WAYS)
            .and_then(|bucket| bucket.iter_mut().find(|s| s.expires > now && s.key == *key))
            .map(|s| {
                s.expires = expires;
                s.xlat
            });
        match found {
            Some(_) => self.counters.hits += 1,
            None => self.counters.misses += 1,
        }
        found
    }

    /// True if `key` has a live entry (no refresh, not counted).
    pub fn contains(&self, key: &FragKey, now: u64) -> bool {
        let b = self.bucket(key);
        self.slots
            .get(b..b + WAYS)
            .is_some_and(|bucket| bucket.iter().any(|s| s.expires > now && s.key == *key))
    }
}

/// The datagram key of an IPv4 fragment (header at the start of `d`, already validated), and
/// whether it is a non-first fragment. `None` if not a fragment.
#[inline]
pub fn key_v4(d: &[u8]) -> Option<(FragKey, bool)> {
    let h = d.get(..20)?;
    let fo = u16::from_be_bytes([h[6], h[7]]);
    let (mf, off) = (fo & 0x2000 != 0, fo & 0x1fff);
    if !mf && off == 0 {
        return None;
    }
    let a = |i: usize| super::addr_v4(std::net::Ipv4Addr::new(h[i], h[i + 1], h[i + 2], h[i + 3]));
    Some((
        FragKey {
            src: a(12),
            dst: a(16),
            proto: h[9],
            ident: u32::from(u16::from_be_bytes([h[4], h[5]])),
        },
        off != 0,
    ))
}

/// The datagram key of an IPv6 fragment (walks the extension headers like the translator),
/// with the upper-layer protocol, and whether it is a non-first fragment. `None` if it has no
/// Fragment header (or does not parse).
#[inline]
pub fn key_v6(d: &[u8]) -> Option<(FragKey, bool)> {
    let h = crate::xlat::inspect::parse_v6(d).ok()?;
    let f = h.frag?;
    if !f.more && f.offset == 0 {
        // An atomic fragment (RFC 8021): a whole datagram.
        return None;
    }
    Some((
        FragKey {
            src: h.src.octets(),
            dst: h.dst.octets(),
            proto: h.proto,
            ident: f.ident,
        },
        f.offset != 0,
    ))
}

/// True if the IP packet at the start of `d` may be a non-first fragment (cheap pre-check:
/// IPv4 offset != 0, IPv6 with a Fragment header right after the fixed header or any
/// extension header).
#[inline]
pub fn maybe_later_fragment(d: &[u8]) -> bool {
    match d.first().map(|b| b >> 4) {
        Some(4) => d
            .get(6..8)
            .is_some_and(|b| u16::from_be_bytes([b[0], b[1]]) & 0x1fff != 0),
        Some(6) => d.get(6).is_some_and(|nh| matches!(nh, 0 | 43 | 44 | 60)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(i: u32) -> FragKey {
        FragKey {
            src: super::super::addr_v4(std::net::Ipv4Addr::new(10, 1, 0, 1)),
            dst: super::super::addr_v4(std::net::Ipv4Addr::new(10, 250, 1, 5)),
            proto: 17,
            ident: i,
        }
    }

    fn xl(b: u8) -> FragXlat {
        FragXlat {
            src: [b; 16],
            dst: [b; 16],
            kind: SessionKind::Nat46,
            dir: Dir::In2Out,
        }
    }

    #[test]
    fn later_fragments_find_the_first_fragments_translation() {
        let mut t = FragTable::new(64, 1000);
        t.insert(key(7), xl(1), 10);
        assert_eq!(t.lookup(&key(7), 20), Some(xl(1)));
        assert_eq!(t.lookup(&key(8), 20), None);
        let c = t.counters();
        assert_eq!((c.tracked, c.hits, c.misses), (1, 1, 1));
        // Refreshed by use: still there 1000 ms after the last use, gone after.
        assert_eq!(t.lookup(&key(7), 1019), Some(xl(1)));
        assert_eq!(t.lookup(&key(7), 2018), Some(xl(1)));
        assert_eq!(t.lookup(&key(7), 3020), None);
    }

    #[test]
    fn same_key_is_replaced_not_duplicated() {
        let mut t = FragTable::new(4, 1000);
        t.insert(key(1), xl(1), 0);
        t.insert(key(1), xl(2), 1);
        assert_eq!(t.live(2), 1);
        assert_eq!(t.lookup(&key(1), 2), Some(xl(2)));
        assert_eq!(t.counters().evictions, 0);
    }

    /// Issue 11 item 5: a flood of first fragments keeps the fragment state under its fixed
    /// cap; the table's memory never grows; evictions are counted; lookups stay bounded.
    #[test]
    fn a_fragment_flood_stays_under_the_fixed_cap() {
        let mut t = FragTable::new(256, 5_000);
        let cap = t.capacity();
        assert_eq!(cap, 256);
        let slots_ptr = t.slots.as_ptr();
        for i in 0..200_000u32 {
            let mut k = key(i);
            k.src[15] = (i >> 16) as u8;
            t.insert(k, xl(i as u8), u64::from(i / 100));
            // Non-first fragments of datagrams never seen: all misses.
            let mut stray = key(i);
            stray.proto = 6;
            assert_eq!(t.lookup(&stray, u64::from(i / 100)), None);
        }
        assert!(t.live(2_000) <= cap);
        assert_eq!(t.capacity(), cap);
        assert_eq!(t.slots.as_ptr(), slots_ptr, "no reallocation");
        let c = t.counters();
        assert_eq!(c.tracked, 200_000);
        assert_eq!(c.misses, 200_000);
        assert!(c.evictions >= 200_000 - cap as u64, "{c:?}");
        // The most recent datagram is still tracked.
        let mut last = key(199_999);
        last.src[15] = (199_999u32 >> 16) as u8;
        assert!(t.contains(&last, 2_000));
        // Everything expires.
        assert_eq!(t.live(2_000 + 5_000), 0);
    }

    #[test]
    fn keys_of_ipv4_and_ipv6_fragments() {
        let mut v4 = [0u8; 28];
        v4[0] = 0x45;
        v4[4..6].copy_from_slice(&0x1234u16.to_be_bytes());
        v4[9] = 17;
        assert!(key_v4(&v4).is_none(), "not a fragment");
        assert!(!maybe_later_fragment(&v4));
        v4[6] = 0x20; // MF, offset 0
        let (k, later) = key_v4(&v4).unwrap();
        assert_eq!((k.ident, k.proto, later), (0x1234, 17, false));
        v4[6] = 0x00;
        v4[7] = 0xb9; // offset 185 * 8
        assert!(key_v4(&v4).unwrap().1);
        assert!(maybe_later_fragment(&v4));
        assert!(key_v4(&v4[..10]).is_none());

        let mut v6 = vec![0u8; 40 + 8 + 16];
        v6[0] = 0x60;
        v6[4..6].copy_from_slice(&24u16.to_be_bytes());
        v6[6] = 44;
        v6[40] = 17;
        v6[42..44].copy_from_slice(&((1448u16) | 1).to_be_bytes());
        v6[44..48].copy_from_slice(&0xdead_beefu32.to_be_bytes());
        let (k, later) = key_v6(&v6).unwrap();
        assert_eq!((k.ident, k.proto, later), (0xdead_beef, 17, true));
        assert!(maybe_later_fragment(&v6));
        // Atomic fragment: not tracked.
        v6[42..44].copy_from_slice(&0u16.to_be_bytes());
        assert!(key_v6(&v6).is_none());
        // An extension header after the Fragment header does not parse.
        v6[40] = 60;
        v6[42..44].copy_from_slice(&1u16.to_be_bytes());
        assert!(key_v6(&v6).is_none());
    }
}
