//! DNS46 mappings on a worker: the per-worker cache of IPv4 <-> IPv6 pairs, the requests it
//! sends to the slow path (dSSM client) on a miss, and the hold queue for packets that wait.
//!
//! Users: NAT46 asks [`MappingTable::lookup_v4`] (4-to-6: which IPv6 host is behind this pool
//! address); DNS46 asks [`MappingTable::create_v6`] (6-to-4: the existing IPv4 of this IPv6, or a
//! new one allocated by the slow path from this TMM's slice and written to dSSM before the answer
//! is `Found`). A miss returns [`Lookup::Pending`] and queues one request (duplicates are merged:
//! a key with a request in flight is not asked again); the data path drains the requests with
//! [`MappingTable::take_requests`] into the worker's request ring, and feeds what comes back from
//! the result ring to [`MappingTable::apply`]. A packet that must wait goes into a [`HoldQueue`]
//! and comes back from [`HoldQueue::poll`] once its key is resolved (re-run the stage: it now
//! hits the cache) or is dropped with a reason (missing, dSSM unavailable, timeout).
//!
//! Invariants:
//! - Bounded and preallocated: the cache, the request outbox and the hold queue are sized at
//!   construction; nothing allocates per packet; no method panics on any input.
//! - Ring messages ([`MappingRequest`], [`MappingResult`]) are `Copy`, `repr(C)`, 24 bytes
//!   (a multiple of 4, as `rte::Ring<T>` requires) with no padding.
//! - Cached pairs keep answering while dSSM is down (they are only replaced by newer results,
//!   evicted by newer entries, or removed when dSSM says the key is gone). A positive entry older
//!   than `refresh_ms` still answers and triggers one background refresh.
//! - Negative answers (missing, unavailable, exhausted) are cached for a short time so a flood of
//!   packets to an unmapped address costs one request per `negative_ttl_ms`.
//!
//! This module imports nothing of ours but `drop`.

use crate::drop::DropReason;
use std::net::{Ipv4Addr, Ipv6Addr};

// ------------------------------------------------------------------------------------------
// Ring messages
// ------------------------------------------------------------------------------------------

/// What a worker asks the slow path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum MapOp {
    /// 4-to-6: `dns46:v4:<v4>` (NAT46). The request carries `v4`.
    Lookup4 = 1,
    /// 6-to-4: `dns46:v6:<v6>`, no creation. The request carries `v6`.
    Lookup6 = 2,
    /// 6-to-4 or create (DNS46): the existing mapping of `v6`, else a new IPv4 from this TMM's
    /// slice, written to dSSM (both keys, replica-acknowledged) before the result is sent.
    Create6 = 3,
    /// Slow path -> workers only: dSSM connectivity changed (`status` is `Found` = up or
    /// `Unavailable` = down; addresses unused).
    Status = 4,
}

/// How a request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum MapStatus {
    /// The pair in `v4`/`v6` exists (or was created).
    Found = 0,
    /// No mapping for the key.
    Missing = 1,
    /// dSSM is down or did not answer in time; nothing is known.
    Unavailable = 2,
    /// `Create6` only: this TMM's slice has no free address left.
    Exhausted = 3,
}

/// A request from a worker to the slow path (one `rte::Ring<MappingRequest>` per worker).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct MappingRequest {
    pub op: MapOp,
    pub _pad: u8,
    /// The asking worker (index of its result ring).
    pub worker: u16,
    /// IPv4 address octets (network order); set for `Lookup4`.
    pub v4: [u8; 4],
    /// IPv6 address octets; set for `Lookup6` and `Create6`.
    pub v6: [u8; 16],
}

/// A result from the slow path to a worker (one `rte::Ring<MappingResult>` per worker).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct MappingResult {
    /// The request's op (or `Status`).
    pub op: MapOp,
    pub status: MapStatus,
    pub worker: u16,
    /// For `Found`: the pair. Otherwise the request's key is echoed in its field.
    pub v4: [u8; 4],
    pub v6: [u8; 16],
}

impl MappingRequest {
    pub fn lookup4(worker: u16, v4: Ipv4Addr) -> Self {
        MappingRequest {
            op: MapOp::Lookup4,
            _pad: 0,
            worker,
            v4: v4.octets(),
            v6: [0; 16],
        }
    }
    pub fn lookup6(worker: u16, v6: Ipv6Addr) -> Self {
        MappingRequest {
            op: MapOp::Lookup6,
            _pad: 0,
            worker,
            v4: [0; 4],
            v6: v6.octets(),
        }
    }
    pub fn create6(worker: u16, v6: Ipv6Addr) -> Self {
        MappingRequest {
            op: MapOp::Create6,
            _pad: 0,
            worker,
            v4: [0; 4],
            v6: v6.octets(),
        }
    }
    pub fn ipv4(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.v4)
    }
    pub fn ipv6(&self) -> Ipv6Addr {
        Ipv6Addr::from(self.v6)
    }
}

impl MappingResult {
    /// The answer to `req`: `Found` with the pair, or another status with the key echoed.
    pub fn answer(
        req: &MappingRequest,
        status: MapStatus,
        pair: Option<(Ipv4Addr, Ipv6Addr)>,
    ) -> Self {
        let (v4, v6) = match pair {
            Some((a, b)) => (a.octets(), b.octets()),
            None => (req.v4, req.v6),
        };
        MappingResult {
            op: req.op,
            status,
            worker: req.worker,
            v4,
            v6,
        }
    }
    /// A connectivity notice (`up` = dSSM reachable).
    pub fn status(worker: u16, up: bool) -> Self {
        MappingResult {
            op: MapOp::Status,
            status: if up {
                MapStatus::Found
            } else {
                MapStatus::Unavailable
            },
            worker,
            v4: [0; 4],
            v6: [0; 16],
        }
    }
    pub fn ipv4(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.v4)
    }
    pub fn ipv6(&self) -> Ipv6Addr {
        Ipv6Addr::from(self.v6)
    }
}

// ------------------------------------------------------------------------------------------
// Lookup answers
// ------------------------------------------------------------------------------------------

/// The answer of a lookup on the worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup<A> {
    /// Mapped to this address.
    Found(A),
    /// Asked the slow path (or a request is already in flight): hold the packet.
    Pending,
    /// dSSM says there is no mapping.
    Missing,
    /// dSSM is down (or did not answer in time) and nothing is cached.
    Unavailable,
    /// `create_v6` only: the slice is exhausted (DNS46 answers the sorry IP).
    Exhausted,
}

impl<A> Lookup<A> {
    /// The drop reason for a packet whose lookup ended this way (None for `Found`/`Pending`).
    pub fn drop_reason(&self) -> Option<DropReason> {
        match self {
            Lookup::Found(_) | Lookup::Pending => None,
            Lookup::Missing => Some(DropReason::MappingMissing),
            Lookup::Unavailable => Some(DropReason::DssmUnavailable),
            Lookup::Exhausted => Some(DropReason::MappingExhausted),
        }
    }
}

/// The key a held packet waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapKey {
    /// A 4-to-6 lookup (NAT46).
    V4(Ipv4Addr),
    /// A 6-to-4 lookup or creation (DNS46).
    V6(Ipv6Addr),
}

// ------------------------------------------------------------------------------------------
// The table
// ------------------------------------------------------------------------------------------

/// Sizes and timers of a [`MappingTable`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MappingConfig {
    /// This worker's index (goes into every request).
    pub worker: u16,
    /// Cached entries per direction (rounded up to a multiple of the set size, 8).
    pub capacity: usize,
    /// Requests that can wait for the data path to drain them into the ring.
    pub outbox: usize,
    /// A request without answer after this long counts as `Unavailable`, ms.
    pub request_timeout_ms: u64,
    /// How long `Missing` / `Unavailable` / `Exhausted` answers are cached, ms.
    pub negative_ttl_ms: u64,
    /// A positive entry older than this is refreshed in the background, ms (0 = never).
    pub refresh_ms: u64,
    /// Seed of the set hash (different per process makes collisions unpredictable).
    pub seed: u64,
}

impl Default for MappingConfig {
    fn default() -> Self {
        MappingConfig {
            worker: 0,
            capacity: 65536,
            outbox: 256,
            request_timeout_ms: 2000,
            negative_ttl_ms: 1000,
            refresh_ms: 60_000,
            seed: 0x9e37_79b9_7f4a_7c15,
        }
    }
}

/// Counters of one worker's table (read by the slow path).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MappingCounters {
    /// Lookups answered from the cache with a mapping.
    pub hits: u64,
    /// Lookups answered from a cached negative entry.
    pub negative_hits: u64,
    /// Lookups that sent a request.
    pub misses: u64,
    /// Lookups that found a request already in flight.
    pub pending_hits: u64,
    /// Requests queued for the slow path.
    pub requests: u64,
    /// Requests that found the outbox full (answered `Unavailable`).
    pub outbox_full: u64,
    /// Results applied.
    pub results: u64,
    /// Requests that timed out without a result.
    pub timeouts: u64,
    /// Entries replaced to make room.
    pub evictions: u64,
    /// Inserts that found every way of the set pinned (static) or pending.
    pub insert_failures: u64,
    /// Entries in the cache (both directions, including negative and pending ones).
    pub entries: u64,
    /// 1 while the slow path reports dSSM reachable.
    pub dssm_up: u64,
}

const WAYS: usize = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Empty,
    /// A pair (the other address in `val`).
    Mapped,
    /// Pinned pair (config static mapping): never evicted, never expires.
    Static,
    /// A request is in flight since `stamp`.
    Pending,
    /// Negative answer valid until `until`.
    Negative(MapStatus),
}

#[derive(Debug, Clone, Copy)]
struct Slot<K, V> {
    state: State,
    key: K,
    val: V,
    /// Last use (LRU within the set) or, for `Pending`, when the request was sent.
    stamp: u64,
    /// Mapped: when it was learned (refresh); Negative: when it stops being valid.
    until: u64,
}

/// One direction of the cache: a set-associative array (8 ways, LRU within the set).
#[derive(Debug)]
struct Cache<K, V> {
    slots: Vec<Slot<K, V>>,
    sets: usize,
    seed: u64,
    len: usize,
}

trait HashKey: Copy + Eq {
    fn bits(&self) -> u64;
}
impl HashKey for Ipv4Addr {
    fn bits(&self) -> u64 {
        u32::from(*self) as u64
    }
}
impl HashKey for Ipv6Addr {
    fn bits(&self) -> u64 {
        let v = u128::from(*self);
        (v as u64) ^ ((v >> 64) as u64).rotate_left(29)
    }
}

enum Found<V> {
    Val(V, bool),
    Pending(u64),
    Negative(MapStatus, u64),
    None,
}

impl<K: HashKey, V: Copy> Cache<K, V> {
    fn new(capacity: usize, seed: u64, k0: K, v0: V) -> Self {
        let sets = capacity.div_ceil(WAYS).max(1).next_power_of_two();
        Cache {
            slots: vec![
                Slot {
                    state: State::Empty,
                    key: k0,
                    val: v0,
                    stamp: 0,
                    until: 0,
                };
                sets * WAYS
            ],
            sets,
            seed,
            len: 0,
        }
    }

    #[inline]
    fn set_of(&self, k: &K) -> usize {
        let h = (k.bits() ^ self.seed).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let h = h ^ (h >> 32);
        ((h as usize) & (self.sets - 1)) * WAYS
    }

    #[inline]
    fn find(&self, k: &K) -> Option<usize> {
        let base = self.set_of(k);
        (base..base + WAYS).find(|&i| {
            let s = &self.slots[i];
            s.state != State::Empty && s.key == *k
        })
    }

    /// Looks `k` up and marks it used.
    fn get(&mut self, k: &K, now: u64) -> Found<V> {
        let Some(i) = self.find(k) else {
            return Found::None;
        };
        let s = &mut self.slots[i];
        match s.state {
            State::Mapped => {
                s.stamp = now;
                Found::Val(s.val, false)
            }
            State::Static => Found::Val(s.val, true),
            State::Pending => Found::Pending(s.stamp),
            State::Negative(st) => Found::Negative(st, s.until),
            State::Empty => Found::None,
        }
    }

    fn learned_at(&self, k: &K) -> Option<u64> {
        self.find(k).and_then(|i| {
            let s = &self.slots[i];
            (s.state == State::Mapped).then_some(s.until)
        })
    }

    /// Stores `k` in `state`; returns whether it was stored and whether it evicted an entry.
    fn put(&mut self, k: K, v: V, state: State, stamp: u64, until: u64) -> (bool, bool) {
        let base = self.set_of(&k);
        let slot = match self.find(&k) {
            Some(i) if self.slots[i].state == State::Static && state != State::Static => {
                // A pinned pair is not overwritten by dSSM results.
                return (true, false);
            }
            Some(i) => Some((i, false)),
            None => {
                let mut best: Option<(usize, u64)> = None;
                let mut empty = None;
                for i in base..base + WAYS {
                    let s = &self.slots[i];
                    match s.state {
                        State::Empty => {
                            empty = Some(i);
                            break;
                        }
                        State::Static | State::Pending => {}
                        // Negative entries go first: rank them older than any pair.
                        State::Negative(_) => {
                            if best.is_none_or(|(_, r)| r > 0) {
                                best = Some((i, 0));
                            }
                        }
                        State::Mapped => {
                            let rank = s.stamp.saturating_add(1);
                            if best.is_none_or(|(_, r)| rank < r) {
                                best = Some((i, rank));
                            }
                        }
                    }
                }
                match (empty, best) {
                    (Some(i), _) => Some((i, false)),
                    (None, Some((i, _))) => Some((i, true)),
                    (None, None) => None,
                }
            }
        };
        let Some((i, evicted)) = slot else {
            return (false, false);
        };
        if self.slots[i].state == State::Empty {
            self.len += 1;
        }
        self.slots[i] = Slot {
            state,
            key: k,
            val: v,
            stamp,
            until,
        };
        (true, evicted)
    }

    /// Removes `k` unless pinned; with `only_val`, only if it maps to that value.
    fn remove(&mut self, k: &K, only_val: Option<V>) -> bool
    where
        V: PartialEq,
    {
        if let Some(i) = self.find(k) {
            let s = &mut self.slots[i];
            if s.state == State::Static {
                return false;
            }
            if let Some(v) = only_val {
                if !(s.state == State::Mapped && s.val == v) {
                    return false;
                }
            }
            s.state = State::Empty;
            self.len -= 1;
            return true;
        }
        false
    }
}

/// One pair of a worker's mapping cache, for `show dns46 mappings`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MappingEntry {
    pub v4: Ipv4Addr,
    pub v6: Ipv6Addr,
    /// A static mapping from the config (never expires).
    pub pinned: bool,
    /// Since the pair was learned from the mapping service, ms.
    pub age_ms: u64,
}

/// The per-worker mapping cache and its request outbox. See the module docs.
#[derive(Debug)]
pub struct MappingTable {
    cfg: MappingConfig,
    by4: Cache<Ipv4Addr, Ipv6Addr>,
    by6: Cache<Ipv6Addr, Ipv4Addr>,
    outbox: Vec<MappingRequest>,
    up: bool,
    counters: MappingCounters,
}

impl MappingTable {
    /// A table with everything preallocated.
    pub fn new(cfg: MappingConfig) -> Self {
        let cap = cfg.capacity.max(WAYS);
        MappingTable {
            by4: Cache::new(cap, cfg.seed, Ipv4Addr::UNSPECIFIED, Ipv6Addr::UNSPECIFIED),
            by6: Cache::new(
                cap,
                cfg.seed.rotate_left(17),
                Ipv6Addr::UNSPECIFIED,
                Ipv4Addr::UNSPECIFIED,
            ),
            outbox: Vec::with_capacity(cfg.outbox.max(1)),
            up: true,
            counters: MappingCounters::default(),
            cfg,
        }
    }

    /// Number of cache slots of both directions (the bound of a walk with [`MappingTable::entry`]).
    pub fn entry_slots(&self) -> usize {
        self.by6.slots.len() + self.by4.slots.len()
    }

    /// Slot `i` (IPv6-keyed slots first, then IPv4-keyed ones) if it holds a pair. Does not
    /// allocate: the data path walks the slots a few at a time to export them
    /// (`show dns46 mappings`); a pair appears once per direction it is cached in.
    pub fn entry(&self, i: usize, now: u64) -> Option<MappingEntry> {
        let n6 = self.by6.slots.len();
        let (v4, v6, state, learned) = match i.checked_sub(n6) {
            None => {
                let s = self.by6.slots.get(i)?;
                (s.val, s.key, s.state, s.until)
            }
            Some(j) => {
                let s = self.by4.slots.get(j)?;
                (s.key, s.val, s.state, s.until)
            }
        };
        match state {
            State::Mapped => Some(MappingEntry {
                v4,
                v6,
                pinned: false,
                age_ms: now.saturating_sub(learned),
            }),
            State::Static => Some(MappingEntry {
                v4,
                v6,
                pinned: true,
                age_ms: 0,
            }),
            _ => None,
        }
    }

    /// The configuration it was built with.
    pub fn config(&self) -> &MappingConfig {
        &self.cfg
    }

    /// Pins a pair (a static mapping from the config): always found, never evicted.
    /// Returns false when its sets are full of pinned entries.
    pub fn insert_static(&mut self, v4: Ipv4Addr, v6: Ipv6Addr) -> bool {
        let a = self.by4.put(v4, v6, State::Static, 0, 0).0;
        let b = self.by6.put(v6, v4, State::Static, 0, 0).0;
        a && b
    }

    /// NAT46, 4-to-6: the IPv6 host behind pool address `v4`.
    pub fn lookup_v4(&mut self, v4: Ipv4Addr, now: u64) -> Lookup<Ipv6Addr> {
        match self.by4.get(&v4, now) {
            Found::Val(v6, pinned) => {
                self.counters.hits += 1;
                if !pinned {
                    self.maybe_refresh4(v4, now);
                }
                Lookup::Found(v6)
            }
            other => self.miss(other, now, MapKey::V4(v4), MapOp::Lookup4),
        }
    }

    /// 6-to-4 without creation: the pool address of `v6`, if one exists.
    pub fn lookup_v6(&mut self, v6: Ipv6Addr, now: u64) -> Lookup<Ipv4Addr> {
        match self.by6.get(&v6, now) {
            Found::Val(v4, pinned) => {
                self.counters.hits += 1;
                if !pinned {
                    self.maybe_refresh6(v6, now);
                }
                Lookup::Found(v4)
            }
            other => self.miss(other, now, MapKey::V6(v6), MapOp::Lookup6),
        }
    }

    /// DNS46, 6-to-4 or create: the pool address of `v6`; on a miss the slow path returns the
    /// existing mapping or allocates one (persisted in dSSM before the result comes back).
    pub fn create_v6(&mut self, v6: Ipv6Addr, now: u64) -> Lookup<Ipv4Addr> {
        match self.by6.get(&v6, now) {
            Found::Val(v4, _) => {
                self.counters.hits += 1;
                Lookup::Found(v4)
            }
            // A `Missing` learned by a plain lookup does not stop a creation.
            Found::Negative(MapStatus::Missing, _) => {
                self.miss(Found::<Ipv4Addr>::None, now, MapKey::V6(v6), MapOp::Create6)
            }
            other => self.miss(other, now, MapKey::V6(v6), MapOp::Create6),
        }
    }

    /// What the table knows about `key` now, without side effects (no request, no LRU update).
    /// `Pending` also covers "nothing known" (the request may have been evicted: the hold
    /// queue's timeout bounds the wait).
    pub fn peek(&self, key: MapKey, now: u64) -> Lookup<()> {
        let state = match key {
            MapKey::V4(a) => self.by4.find(&a).map(|i| {
                let s = &self.by4.slots[i];
                (s.state, s.stamp, s.until)
            }),
            MapKey::V6(a) => self.by6.find(&a).map(|i| {
                let s = &self.by6.slots[i];
                (s.state, s.stamp, s.until)
            }),
        };
        match state {
            Some((State::Mapped | State::Static, _, _)) => Lookup::Found(()),
            Some((State::Negative(st), _, until)) if now < until => status_lookup(st),
            Some((State::Pending, since, _))
                if now.saturating_sub(since) >= self.cfg.request_timeout_ms =>
            {
                Lookup::Unavailable
            }
            _ => Lookup::Pending,
        }
    }

    /// Applies one result from the slow path.
    pub fn apply(&mut self, r: &MappingResult, now: u64) {
        self.counters.results += 1;
        if r.op == MapOp::Status {
            self.up = r.status == MapStatus::Found;
            return;
        }
        let (v4, v6) = (r.ipv4(), r.ipv6());
        let neg_until = now.saturating_add(self.cfg.negative_ttl_ms);
        match r.status {
            MapStatus::Found => {
                self.up = true;
                // Replace stale pairs that point elsewhere (a mapping changed in dSSM).
                if let Found::Val(old6, false) = self.by4.get(&v4, now) {
                    if old6 != v6 {
                        self.by6.remove(&old6, Some(v4));
                    }
                }
                if let Found::Val(old4, false) = self.by6.get(&v6, now) {
                    if old4 != v4 {
                        self.by4.remove(&old4, Some(v6));
                    }
                }
                self.store(MapKey::V4(v4), v6, v4, State::Mapped, now, now);
                self.store(MapKey::V6(v6), v6, v4, State::Mapped, now, now);
            }
            st => {
                self.up = st != MapStatus::Unavailable;
                let key = match r.op {
                    MapOp::Lookup4 => MapKey::V4(v4),
                    _ => MapKey::V6(v6),
                };
                if st == MapStatus::Missing {
                    // The key is gone from dSSM: forget the cached pair (both directions).
                    match key {
                        MapKey::V4(a) => {
                            if let Found::Val(old6, false) = self.by4.get(&a, now) {
                                self.by6.remove(&old6, Some(a));
                            }
                        }
                        MapKey::V6(a) => {
                            if let Found::Val(old4, false) = self.by6.get(&a, now) {
                                self.by4.remove(&old4, Some(a));
                            }
                        }
                    }
                } else if self.is_mapped(key) {
                    // A failed refresh keeps the cached pair (dSSM down: cached mappings work).
                    return;
                }
                self.store(key, v6, v4, State::Negative(st), now, neg_until);
            }
        }
    }

    /// Moves the queued requests out: `push` gets them as one slice and returns how many it
    /// took (e.g. `|b| ring.enqueue_burst(b)`); the rest stay queued for the next call.
    pub fn take_requests(&mut self, push: impl FnOnce(&[MappingRequest]) -> usize) -> usize {
        if self.outbox.is_empty() {
            return 0;
        }
        let n = push(&self.outbox).min(self.outbox.len());
        self.outbox.drain(..n);
        n
    }

    /// Requests waiting to be drained.
    pub fn queued_requests(&self) -> usize {
        self.outbox.len()
    }

    /// Whether the slow path last reported dSSM reachable.
    pub fn dssm_up(&self) -> bool {
        self.up
    }

    /// The counters (with `entries` and `dssm_up` filled in).
    pub fn counters(&self) -> MappingCounters {
        MappingCounters {
            entries: (self.by4.len + self.by6.len) as u64,
            dssm_up: self.up as u64,
            ..self.counters
        }
    }

    /// Forgets every non-static entry (for tests and `reload`).
    pub fn clear(&mut self) {
        for s in self.by4.slots.iter_mut() {
            if !matches!(s.state, State::Static | State::Empty) {
                s.state = State::Empty;
                self.by4.len -= 1;
            }
        }
        for s in self.by6.slots.iter_mut() {
            if !matches!(s.state, State::Static | State::Empty) {
                s.state = State::Empty;
                self.by6.len -= 1;
            }
        }
    }

    fn is_mapped(&self, key: MapKey) -> bool {
        match key {
            MapKey::V4(a) => self
                .by4
                .find(&a)
                .is_some_and(|i| matches!(self.by4.slots[i].state, State::Mapped | State::Static)),
            MapKey::V6(a) => self
                .by6
                .find(&a)
                .is_some_and(|i| matches!(self.by6.slots[i].state, State::Mapped | State::Static)),
        }
    }

    fn store(
        &mut self,
        key: MapKey,
        v6: Ipv6Addr,
        v4: Ipv4Addr,
        st: State,
        stamp: u64,
        until: u64,
    ) {
        let (ok, evicted) = match key {
            MapKey::V4(a) => self.by4.put(a, v6, st, stamp, until),
            MapKey::V6(a) => self.by6.put(a, v4, st, stamp, until),
        };
        if !ok {
            self.counters.insert_failures += 1;
        }
        if evicted {
            self.counters.evictions += 1;
        }
    }

    fn miss<A>(&mut self, found: Found<impl Copy>, now: u64, key: MapKey, op: MapOp) -> Lookup<A> {
        match found {
            Found::Pending(since) if now.saturating_sub(since) < self.cfg.request_timeout_ms => {
                self.counters.pending_hits += 1;
                return Lookup::Pending;
            }
            Found::Pending(_) => {
                // The request got no answer: count it and cache `Unavailable` for a while.
                self.counters.timeouts += 1;
                let until = now.saturating_add(self.cfg.negative_ttl_ms);
                self.store(
                    key,
                    Ipv6Addr::UNSPECIFIED,
                    Ipv4Addr::UNSPECIFIED,
                    State::Negative(MapStatus::Unavailable),
                    now,
                    until,
                );
                return Lookup::Unavailable;
            }
            Found::Negative(st, until) if now < until => {
                self.counters.negative_hits += 1;
                return status_lookup(st);
            }
            _ => {}
        }
        self.counters.misses += 1;
        if !self.enqueue(key, op) {
            return Lookup::Unavailable;
        }
        self.store(
            key,
            Ipv6Addr::UNSPECIFIED,
            Ipv4Addr::UNSPECIFIED,
            State::Pending,
            now,
            0,
        );
        Lookup::Pending
    }

    fn enqueue(&mut self, key: MapKey, op: MapOp) -> bool {
        if self.outbox.len() >= self.cfg.outbox.max(1) {
            self.counters.outbox_full += 1;
            return false;
        }
        let w = self.cfg.worker;
        self.outbox.push(match (key, op) {
            (MapKey::V4(a), _) => MappingRequest::lookup4(w, a),
            (MapKey::V6(a), MapOp::Create6) => MappingRequest::create6(w, a),
            (MapKey::V6(a), _) => MappingRequest::lookup6(w, a),
        });
        self.counters.requests += 1;
        true
    }

    fn maybe_refresh4(&mut self, v4: Ipv4Addr, now: u64) {
        if self.cfg.refresh_ms == 0 {
            return;
        }
        if let Some(learned) = self.by4.learned_at(&v4) {
            if now.saturating_sub(learned) >= self.cfg.refresh_ms
                && self.enqueue(MapKey::V4(v4), MapOp::Lookup4)
            {
                // Restart the clock so one refresh is in flight at a time.
                if let Some(i) = self.by4.find(&v4) {
                    self.by4.slots[i].until = now;
                }
            }
        }
    }

    fn maybe_refresh6(&mut self, v6: Ipv6Addr, now: u64) {
        if self.cfg.refresh_ms == 0 {
            return;
        }
        if let Some(learned) = self.by6.learned_at(&v6) {
            if now.saturating_sub(learned) >= self.cfg.refresh_ms
                && self.enqueue(MapKey::V6(v6), MapOp::Lookup6)
            {
                if let Some(i) = self.by6.find(&v6) {
                    self.by6.slots[i].until = now;
                }
            }
        }
    }
}

fn status_lookup<A>(st: MapStatus) -> Lookup<A> {
    match st {
        MapStatus::Found | MapStatus::Unavailable => Lookup::Unavailable,
        MapStatus::Missing => Lookup::Missing,
        MapStatus::Exhausted => Lookup::Exhausted,
    }
}

// ------------------------------------------------------------------------------------------
// Hold queue
// ------------------------------------------------------------------------------------------

/// What became of a held packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Release {
    /// Its key is now in the table: run the stage again (it hits the cache).
    Ready,
    /// Dropped: missing mapping, dSSM unavailable, exhausted slice or hold timeout.
    Drop(DropReason),
}

#[derive(Debug)]
struct HeldPkt<P> {
    key: MapKey,
    since: u64,
    pkt: P,
}

/// A small bounded queue of packets (or any `P`: an `Mbuf`, a `VecFrame`, a DNS query id)
/// waiting for a mapping. Preallocated; FIFO among the released ones.
#[derive(Debug)]
pub struct HoldQueue<P> {
    slots: Vec<Option<HeldPkt<P>>>,
    used: usize,
    timeout_ms: u64,
    /// Packets refused because the queue was full.
    pub full_drops: u64,
    /// Packets dropped after waiting `timeout_ms`.
    pub timeouts: u64,
}

impl<P> HoldQueue<P> {
    /// A queue of `capacity` packets that waits at most `timeout_ms` for a key.
    pub fn new(capacity: usize, timeout_ms: u64) -> Self {
        let mut slots = Vec::with_capacity(capacity.max(1));
        slots.resize_with(capacity.max(1), || None);
        HoldQueue {
            slots,
            used: 0,
            timeout_ms,
            full_drops: 0,
            timeouts: 0,
        }
    }

    /// Holds `pkt` until `key` resolves; gives it back with `MappingHoldFull` when full.
    pub fn hold(&mut self, key: MapKey, pkt: P, now: u64) -> Result<(), (P, DropReason)> {
        if self.used == self.slots.len() {
            self.full_drops += 1;
            return Err((pkt, DropReason::MappingHoldFull));
        }
        if let Some(slot) = self.slots.iter_mut().find(|s| s.is_none()) {
            *slot = Some(HeldPkt {
                key,
                since: now,
                pkt,
            });
            self.used += 1;
            Ok(())
        } else {
            self.full_drops += 1;
            Err((pkt, DropReason::MappingHoldFull))
        }
    }

    /// Packets held.
    pub fn len(&self) -> usize {
        self.used
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.used == 0
    }

    /// Hands back every packet whose key is resolved in `table` (or that waited too long),
    /// with what to do with it. Call after applying the burst of results.
    pub fn poll(&mut self, table: &MappingTable, now: u64, mut out: impl FnMut(P, Release)) {
        if self.used == 0 {
            return;
        }
        for slot in self.slots.iter_mut() {
            let Some(h) = slot else { continue };
            let verdict = match table.peek(h.key, now) {
                Lookup::Found(()) => Some(Release::Ready),
                Lookup::Pending => {
                    if now.saturating_sub(h.since) >= self.timeout_ms {
                        self.timeouts += 1;
                        Some(Release::Drop(DropReason::MappingTimeout))
                    } else {
                        None
                    }
                }
                other => other.drop_reason().map(Release::Drop),
            };
            if let Some(v) = verdict {
                if let Some(h) = slot.take() {
                    self.used -= 1;
                    out(h.pkt, v);
                }
            }
        }
    }

    /// Hands back every held packet (shutdown, reload), each as a drop with `reason`.
    pub fn drain(&mut self, reason: DropReason, mut out: impl FnMut(P, Release)) {
        for slot in self.slots.iter_mut() {
            if let Some(h) = slot.take() {
                out(h.pkt, Release::Drop(reason));
            }
        }
        self.used = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }
    fn v6(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }
    fn table() -> MappingTable {
        MappingTable::new(MappingConfig {
            worker: 3,
            capacity: 64,
            outbox: 4,
            request_timeout_ms: 100,
            negative_ttl_ms: 50,
            refresh_ms: 0,
            seed: 1,
        })
    }
    fn drain(t: &mut MappingTable) -> Vec<MappingRequest> {
        let mut v = Vec::new();
        t.take_requests(|b| {
            v.extend_from_slice(b);
            b.len()
        });
        v
    }

    #[test]
    fn messages_are_ring_sized() {
        assert_eq!(std::mem::size_of::<MappingRequest>(), 24);
        assert_eq!(std::mem::size_of::<MappingResult>(), 24);
    }

    #[test]
    fn miss_then_result_then_hit() {
        let mut t = table();
        let a = v4("10.1.1.130");
        assert_eq!(t.lookup_v4(a, 0), Lookup::Pending);
        assert_eq!(t.lookup_v4(a, 1), Lookup::Pending, "merged");
        let reqs = drain(&mut t);
        assert_eq!(reqs.len(), 1);
        assert_eq!(reqs[0].op, MapOp::Lookup4);
        assert_eq!(reqs[0].worker, 3);
        assert_eq!(reqs[0].ipv4(), a);
        let b = v6("fd00:1::250");
        t.apply(
            &MappingResult::answer(&reqs[0], MapStatus::Found, Some((a, b))),
            2,
        );
        assert_eq!(t.lookup_v4(a, 3), Lookup::Found(b));
        assert_eq!(
            t.lookup_v6(b, 3),
            Lookup::Found(a),
            "both directions learned"
        );
        assert_eq!(t.create_v6(b, 3), Lookup::Found(a));
        assert!(drain(&mut t).is_empty());
        let c = t.counters();
        assert_eq!(c.hits, 3);
        assert_eq!(c.misses, 1);
        assert_eq!(c.pending_hits, 1);
    }

    #[test]
    fn negative_answers_are_cached_briefly() {
        let mut t = table();
        let a = v4("10.1.1.131");
        assert_eq!(t.lookup_v4(a, 0), Lookup::Pending);
        let r = drain(&mut t)[0];
        t.apply(&MappingResult::answer(&r, MapStatus::Missing, None), 1);
        assert_eq!(t.lookup_v4(a, 10), Lookup::Missing);
        assert!(drain(&mut t).is_empty());
        assert_eq!(t.lookup_v4(a, 60), Lookup::Pending, "expired: asks again");
        assert_eq!(drain(&mut t).len(), 1);
    }

    #[test]
    fn create_after_missing_lookup_asks_again() {
        let mut t = table();
        let b = v6("2001:db8::1");
        assert_eq!(t.lookup_v6(b, 0), Lookup::Pending);
        let r = drain(&mut t)[0];
        assert_eq!(r.op, MapOp::Lookup6);
        t.apply(&MappingResult::answer(&r, MapStatus::Missing, None), 1);
        assert_eq!(t.create_v6(b, 2), Lookup::Pending);
        let r = drain(&mut t)[0];
        assert_eq!(r.op, MapOp::Create6);
        t.apply(
            &MappingResult::answer(&r, MapStatus::Found, Some((v4("10.1.1.200"), b))),
            3,
        );
        assert_eq!(t.create_v6(b, 4), Lookup::Found(v4("10.1.1.200")));
    }

    #[test]
    fn unavailable_keeps_cached_pairs() {
        let mut t = table();
        let (a, b) = (v4("10.1.1.140"), v6("2001:db8::2"));
        assert_eq!(t.lookup_v4(a, 0), Lookup::Pending);
        let r = drain(&mut t)[0];
        t.apply(
            &MappingResult::answer(&r, MapStatus::Found, Some((a, b))),
            1,
        );
        t.apply(&MappingResult::status(3, false), 2);
        assert!(!t.dssm_up());
        // A failed refresh does not remove the pair.
        t.apply(&MappingResult::answer(&r, MapStatus::Unavailable, None), 3);
        assert_eq!(t.lookup_v4(a, 4), Lookup::Found(b));
        // A new key: asked, answered unavailable, cached as such.
        let c = v6("2001:db8::3");
        assert_eq!(t.create_v6(c, 5), Lookup::Pending);
        let r = drain(&mut t)[0];
        t.apply(&MappingResult::answer(&r, MapStatus::Unavailable, None), 6);
        assert_eq!(t.create_v6(c, 7), Lookup::Unavailable);
        t.apply(&MappingResult::status(3, true), 8);
        assert!(t.dssm_up());
        assert_eq!(t.counters().dssm_up, 1);
    }

    #[test]
    fn request_timeout_is_unavailable() {
        let mut t = table();
        let c = v6("2001:db8::4");
        assert_eq!(t.create_v6(c, 0), Lookup::Pending);
        assert_eq!(t.peek(MapKey::V6(c), 50), Lookup::Pending);
        assert_eq!(t.peek(MapKey::V6(c), 100), Lookup::Unavailable);
        assert_eq!(t.create_v6(c, 100), Lookup::Unavailable);
        assert_eq!(t.counters().timeouts, 1);
    }

    #[test]
    fn outbox_full_is_unavailable() {
        let mut t = table();
        for i in 0..4u8 {
            assert_eq!(t.lookup_v4(Ipv4Addr::new(10, 0, 0, i), 0), Lookup::Pending);
        }
        assert_eq!(
            t.lookup_v4(Ipv4Addr::new(10, 0, 0, 9), 0),
            Lookup::Unavailable
        );
        assert_eq!(t.counters().outbox_full, 1);
        // Partial drain keeps the rest.
        assert_eq!(t.take_requests(|b| b.len().min(3)), 3);
        assert_eq!(t.queued_requests(), 1);
    }

    #[test]
    fn changed_mapping_replaces_both_directions() {
        let mut t = table();
        let (a, b, b2) = (v4("10.1.1.150"), v6("2001:db8::5"), v6("2001:db8::6"));
        let req = MappingRequest::lookup4(3, a);
        t.apply(
            &MappingResult::answer(&req, MapStatus::Found, Some((a, b))),
            0,
        );
        t.apply(
            &MappingResult::answer(&req, MapStatus::Found, Some((a, b2))),
            1,
        );
        assert_eq!(t.lookup_v4(a, 2), Lookup::Found(b2));
        assert_eq!(t.lookup_v6(b2, 2), Lookup::Found(a));
        assert_eq!(t.lookup_v6(b, 2), Lookup::Pending, "old reverse entry gone");
        // Deleted in dSSM: forgotten both ways.
        t.apply(&MappingResult::answer(&req, MapStatus::Missing, None), 3);
        assert_eq!(t.lookup_v4(a, 4), Lookup::Missing);
        assert_eq!(t.peek(MapKey::V6(b2), 4), Lookup::Pending);
    }

    #[test]
    fn statics_are_pinned() {
        let mut t = table();
        let (a, b) = (v4("10.1.1.1"), v6("2001:db8::7"));
        assert!(t.insert_static(a, b));
        let req = MappingRequest::lookup4(3, a);
        t.apply(&MappingResult::answer(&req, MapStatus::Missing, None), 0);
        t.clear();
        assert_eq!(t.lookup_v4(a, 1), Lookup::Found(b));
        // Fill the cache far past capacity: the static survives.
        for i in 0..10_000u32 {
            let k = Ipv4Addr::from(0x0b00_0000 + i);
            let r = MappingRequest::lookup4(3, k);
            t.apply(
                &MappingResult::answer(&r, MapStatus::Found, Some((k, Ipv6Addr::from(i as u128)))),
                2,
            );
        }
        assert_eq!(t.lookup_v4(a, 3), Lookup::Found(b));
        let c = t.counters();
        assert!(c.evictions > 9000);
        assert!(c.entries <= 2 * 64);
    }

    #[test]
    fn lru_within_a_set_keeps_the_recent() {
        let mut t = MappingTable::new(MappingConfig {
            capacity: 8, // one set
            ..MappingConfig::default()
        });
        for i in 0..8u32 {
            let k = Ipv4Addr::from(i + 1);
            let r = MappingRequest::lookup4(0, k);
            t.apply(
                &MappingResult::answer(
                    &r,
                    MapStatus::Found,
                    Some((k, Ipv6Addr::from(i as u128 + 1))),
                ),
                i as u64,
            );
        }
        // Touch 1 so 2 is the oldest.
        assert!(matches!(
            t.lookup_v4(Ipv4Addr::from(1), 100),
            Lookup::Found(_)
        ));
        let k = Ipv4Addr::from(99);
        let r = MappingRequest::lookup4(0, k);
        t.apply(
            &MappingResult::answer(&r, MapStatus::Found, Some((k, Ipv6Addr::from(1000u128)))),
            101,
        );
        assert!(matches!(
            t.lookup_v4(Ipv4Addr::from(1), 102),
            Lookup::Found(_)
        ));
        assert_eq!(t.peek(MapKey::V4(Ipv4Addr::from(2)), 102), Lookup::Pending);
    }

    #[test]
    fn refresh_in_background() {
        let mut t = MappingTable::new(MappingConfig {
            refresh_ms: 1000,
            ..MappingConfig::default()
        });
        let (a, b) = (v4("10.1.1.160"), v6("2001:db8::8"));
        let req = MappingRequest::lookup4(0, a);
        t.apply(
            &MappingResult::answer(&req, MapStatus::Found, Some((a, b))),
            0,
        );
        assert_eq!(t.lookup_v4(a, 500), Lookup::Found(b));
        assert_eq!(t.queued_requests(), 0);
        assert_eq!(t.lookup_v4(a, 1500), Lookup::Found(b));
        assert_eq!(t.lookup_v4(a, 1501), Lookup::Found(b));
        assert_eq!(t.queued_requests(), 1, "one refresh in flight");
    }

    #[test]
    fn hold_queue_releases_and_drops() {
        let mut t = table();
        let mut q: HoldQueue<u32> = HoldQueue::new(3, 60);
        let (a, b) = (v4("10.1.1.170"), v4("10.1.1.171"));
        let c = v6("2001:db8::9");
        assert_eq!(t.lookup_v4(a, 0), Lookup::Pending);
        assert_eq!(t.lookup_v4(b, 0), Lookup::Pending);
        assert_eq!(t.create_v6(c, 0), Lookup::Pending);
        q.hold(MapKey::V4(a), 1, 0).unwrap();
        q.hold(MapKey::V4(b), 2, 0).unwrap();
        q.hold(MapKey::V6(c), 3, 0).unwrap();
        assert_eq!(
            q.hold(MapKey::V4(a), 4, 0),
            Err((4, DropReason::MappingHoldFull))
        );
        let reqs = drain(&mut t);
        t.apply(
            &MappingResult::answer(&reqs[0], MapStatus::Found, Some((a, c))),
            1,
        );
        t.apply(
            &MappingResult::answer(&reqs[1], MapStatus::Missing, None),
            1,
        );
        let mut out = Vec::new();
        q.poll(&t, 2, |p, r| out.push((p, r)));
        // c was learned as a's pair, so the create key is resolved too.
        assert_eq!(
            out,
            vec![
                (1, Release::Ready),
                (2, Release::Drop(DropReason::MappingMissing)),
                (3, Release::Ready)
            ]
        );
        assert!(q.is_empty());
        // Timeout.
        let d = v6("2001:db8::a");
        assert_eq!(t.create_v6(d, 10), Lookup::Pending);
        q.hold(MapKey::V6(d), 5, 10).unwrap();
        let mut out = Vec::new();
        q.poll(&t, 50, |p, r| out.push((p, r)));
        assert!(out.is_empty());
        q.poll(&t, 75, |p, r| out.push((p, r)));
        assert_eq!(out, vec![(5, Release::Drop(DropReason::MappingTimeout))]);
        assert_eq!(q.timeouts, 1);
        // Drain.
        q.hold(MapKey::V6(d), 6, 200).unwrap();
        let mut out = Vec::new();
        q.drain(DropReason::DssmUnavailable, |p, r| out.push((p, r)));
        assert_eq!(out, vec![(6, Release::Drop(DropReason::DssmUnavailable))]);
    }
}
