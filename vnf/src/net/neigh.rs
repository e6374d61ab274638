//! The neighbour table of one worker (ARP for IPv4, NDP for IPv6), after RFC 4861 section 7.3.
//!
//! States: `INCOMPLETE` (a request was sent, packets wait in the entry's queue), `REACHABLE`
//! (confirmed less than `reachable_ms` ago), `STALE` (known but unconfirmed: still used, and the
//! first use sends a unicast probe), `PROBE` (probing a stale entry; packets still flow). There is
//! no DELAY state: a stale entry is probed at its first use. An INCOMPLETE entry that gets no
//! answer after `max_probes` requests is removed and its waiting packets are dropped
//! (`neigh_timeout`); a PROBE entry that gets no answer is removed; a STALE entry unused for
//! `gc_stale_ms` is removed.
//!
//! Memory is preallocated: a slab of `capacity` entries, an index with room for twice that many
//! keys (it never grows, and rehashes in place after removals), and `capacity * queue_len`
//! slots for waiting packets, `queue_len` per entry (a ring). Nothing allocates after
//! [`NeighTable::new`]. The timer walk ([`NeighTable::poll`]) looks at `timer_budget` slots
//! per call, so its cost per loop is bounded.
//!
//! The index hashes keys with a multiplicative hash seeded at random per table (keys are learned
//! from the network, so the seed keeps collisions from being chosen by a sender).

use super::config::{NeighConfig, VlanId};
use crate::drop::DropReason;
use crate::wire::EthernetAddress;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::net::IpAddr;

/// A neighbour: an address on a VLAN.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NeighKey {
    pub vlan: VlanId,
    pub addr: IpAddr,
}

/// RFC 4861 neighbour states (without DELAY).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NeighState {
    Incomplete,
    Reachable,
    Stale,
    Probe,
}

impl NeighState {
    pub fn name(self) -> &'static str {
        match self {
            NeighState::Incomplete => "incomplete",
            NeighState::Reachable => "reachable",
            NeighState::Stale => "stale",
            NeighState::Probe => "probe",
        }
    }

    /// Compact code for snapshots.
    pub fn code(self) -> u8 {
        self as u8
    }

    pub fn from_code(c: u8) -> NeighState {
        match c {
            0 => NeighState::Incomplete,
            1 => NeighState::Reachable,
            2 => NeighState::Stale,
            _ => NeighState::Probe,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    key: NeighKey,
    state: NeighState,
    mac: EthernetAddress,
    /// Last confirmation (or creation).
    confirmed: u64,
    /// Last time a packet used the entry.
    used: u64,
    /// Next retransmission (INCOMPLETE, PROBE).
    timer: u64,
    /// Requests sent in the current INCOMPLETE/PROBE round.
    probes: u8,
    /// Waiting packets: ring of `queue_len` slots starting at `qhead`.
    qhead: u16,
    qlen: u16,
}

/// The answer of [`NeighTable::resolve`].
#[derive(Debug)]
pub enum Resolve<F> {
    /// Send the packet to `mac`. `probe`: the entry was STALE; send a unicast probe to `mac` too.
    Ready {
        pkt: F,
        mac: EthernetAddress,
        probe: bool,
    },
    /// The packet waits in the entry's queue. `solicit`: the entry is new; send the first
    /// (broadcast/multicast) request now.
    Queued { solicit: bool },
    /// Queue or table full.
    Drop(F, DropReason),
}

/// What the timer walk asks the caller to do.
#[derive(Debug)]
pub enum NeighEvent<F> {
    /// Send a request for `key`: broadcast/multicast when `mac` is None, unicast to `mac` (a
    /// probe) otherwise.
    Solicit {
        key: NeighKey,
        mac: Option<EthernetAddress>,
    },
    /// A waiting packet is dropped: resolution timed out.
    Dropped(F, DropReason),
}

/// One entry as `show neigh` sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NeighView {
    pub key: NeighKey,
    pub state: NeighState,
    pub mac: EthernetAddress,
    /// Milliseconds since the last confirmation.
    pub age_ms: u64,
    /// Packets waiting.
    pub queued: u16,
}

/// Table counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct NeighCounters {
    pub created: u64,
    pub resolved: u64,
    pub timeouts: u64,
    pub removed: u64,
    pub table_full: u64,
    pub queue_full: u64,
    pub released: u64,
}

/// Seeded multiplicative hasher (see the module docs).
#[derive(Debug, Clone, Copy)]
pub struct SeededHash(u64);

impl SeededHash {
    fn random() -> SeededHash {
        // RandomState carries per-process random keys; hashing a constant extracts a seed.
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(0x9e37_79b9_7f4a_7c15);
        SeededHash(h.finish() | 1)
    }
}

/// The hasher of [`SeededHash`].
#[derive(Debug, Clone, Copy)]
pub struct MulHasher(u64);

impl Hasher for MulHasher {
    #[inline]
    fn finish(&self) -> u64 {
        let x = self.0;
        (x ^ (x >> 29)).wrapping_mul(0xbf58_476d_1ce4_e5b9) ^ (x >> 32)
    }
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(b));
        }
    }
    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.0 = (self.0.rotate_left(23) ^ i).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
    #[inline]
    fn write_u16(&mut self, i: u16) {
        self.write_u64(u64::from(i));
    }
    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.write_u64(u64::from(i));
    }
    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.write_u64(u64::from(i));
    }
    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.write_u64(i as u64);
    }
}

impl BuildHasher for SeededHash {
    type Hasher = MulHasher;
    #[inline]
    fn build_hasher(&self) -> MulHasher {
        MulHasher(self.0)
    }
}

/// The neighbour table of one worker; `F` is the packet type that waits in the queues.
pub struct NeighTable<F> {
    cfg: NeighConfig,
    index: HashMap<NeighKey, u32, SeededHash>,
    entries: Vec<Option<Entry>>,
    free: Vec<u32>,
    queues: Vec<Option<F>>,
    cursor: usize,
    /// The entry the last [`NeighTable::resolve`] found: consecutive packets mostly go to the
    /// same next hop (the gateway), and comparing one key is cheaper than hashing it. Checked
    /// against the entry's key on use, so a removed or reused slot is never taken for it.
    last: usize,
    counters: NeighCounters,
}

impl<F> NeighTable<F> {
    /// A table with everything preallocated (`cfg.capacity` entries, `cfg.queue_len` waiting
    /// packets each; both at least 1).
    pub fn new(cfg: NeighConfig) -> NeighTable<F> {
        let cfg = NeighConfig {
            capacity: cfg.capacity.clamp(1, u32::MAX as usize),
            queue_len: cfg.queue_len.clamp(1, usize::from(u16::MAX)),
            timer_budget: cfg.timer_budget.max(1),
            ..cfg
        };
        let mut queues = Vec::with_capacity(cfg.capacity * cfg.queue_len);
        queues.resize_with(cfg.capacity * cfg.queue_len, || None);
        NeighTable {
            // Twice the entries: with tombstones from removals the map rehashes in place (no
            // allocation) as long as it is at most half full.
            index: HashMap::with_capacity_and_hasher(2 * cfg.capacity, SeededHash::random()),
            entries: vec![None; cfg.capacity],
            free: (0..cfg.capacity as u32).rev().collect(),
            queues,
            cursor: 0,
            last: usize::MAX,
            counters: NeighCounters::default(),
            cfg,
        }
    }

    pub fn config(&self) -> &NeighConfig {
        &self.cfg
    }

    pub fn counters(&self) -> NeighCounters {
        self.counters
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// The entry of `key`, if any.
    pub fn get(&self, key: &NeighKey, now: u64) -> Option<NeighView> {
        let i = *self.index.get(key)? as usize;
        self.view(i, now)
    }

    fn view(&self, i: usize, now: u64) -> Option<NeighView> {
        let e = self.entries.get(i)?.as_ref()?;
        Some(NeighView {
            key: e.key,
            state: e.state,
            mac: e.mac,
            age_ms: now.saturating_sub(e.confirmed),
            queued: e.qlen,
        })
    }

    /// Every entry.
    pub fn iter(&self, now: u64) -> impl Iterator<Item = NeighView> + '_ {
        (0..self.entries.len()).filter_map(move |i| self.view(i, now))
    }

    /// The MAC address to send a packet for `key` to, or the packet queued while it is
    /// resolved. Updates the entry's use time; a STALE entry becomes PROBE.
    #[inline]
    pub fn resolve(&mut self, key: NeighKey, pkt: F, now: u64) -> Resolve<F> {
        // The common case, inlined: the entry used last, REACHABLE or PROBE (exactly what
        // `resolve_any` does for it).
        if let Some(Some(e)) = self.entries.get_mut(self.last) {
            if e.key == key && matches!(e.state, NeighState::Reachable | NeighState::Probe) {
                e.used = now;
                return Resolve::Ready {
                    pkt,
                    mac: e.mac,
                    probe: false,
                };
            }
        }
        self.resolve_any(key, pkt, now)
    }

    /// [`resolve`](Self::resolve) for any entry (or a new one).
    #[inline(never)]
    fn resolve_any(&mut self, key: NeighKey, pkt: F, now: u64) -> Resolve<F> {
        let last = self
            .entries
            .get(self.last)
            .and_then(Option::as_ref)
            .is_some_and(|e| e.key == key)
            .then_some(self.last);
        let found = last.or_else(|| self.index.get(&key).map(|&i| i as usize));
        if let Some(i) = found {
            self.last = i;
            let retrans = self.cfg.retrans_ms;
            let Some(Some(e)) = self.entries.get_mut(i) else {
                return Resolve::Drop(pkt, DropReason::NeighTableFull);
            };
            e.used = now;
            return match e.state {
                NeighState::Reachable | NeighState::Probe => Resolve::Ready {
                    pkt,
                    mac: e.mac,
                    probe: false,
                },
                NeighState::Stale => {
                    e.state = NeighState::Probe;
                    e.probes = 1;
                    e.timer = now + retrans;
                    Resolve::Ready {
                        pkt,
                        mac: e.mac,
                        probe: true,
                    }
                }
                NeighState::Incomplete => match self.enqueue(i, pkt) {
                    Ok(()) => Resolve::Queued { solicit: false },
                    Err(pkt) => {
                        self.counters.queue_full += 1;
                        Resolve::Drop(pkt, DropReason::NeighQueueFull)
                    }
                },
            };
        }
        let Some(i) = self.insert(
            key,
            NeighState::Incomplete,
            EthernetAddress::UNSPECIFIED,
            now,
        ) else {
            self.counters.table_full += 1;
            return Resolve::Drop(pkt, DropReason::NeighTableFull);
        };
        if let Some(Some(e)) = self.entries.get_mut(i) {
            e.probes = 1;
            e.timer = now + self.cfg.retrans_ms;
        }
        match self.enqueue(i, pkt) {
            Ok(()) => Resolve::Queued { solicit: true },
            Err(pkt) => Resolve::Drop(pkt, DropReason::NeighQueueFull),
        }
    }

    fn insert(
        &mut self,
        key: NeighKey,
        state: NeighState,
        mac: EthernetAddress,
        now: u64,
    ) -> Option<usize> {
        if self.index.len() >= self.cfg.capacity {
            return None;
        }
        let i = self.free.pop()? as usize;
        let slot = self.entries.get_mut(i)?;
        *slot = Some(Entry {
            key,
            state,
            mac,
            confirmed: now,
            used: now,
            timer: 0,
            probes: 0,
            qhead: 0,
            qlen: 0,
        });
        self.index.insert(key, i as u32);
        self.counters.created += 1;
        Some(i)
    }

    fn enqueue(&mut self, i: usize, pkt: F) -> Result<(), F> {
        let ql = self.cfg.queue_len;
        let Some(Some(e)) = self.entries.get_mut(i) else {
            return Err(pkt);
        };
        if usize::from(e.qlen) >= ql {
            return Err(pkt);
        }
        let slot = i * ql + (usize::from(e.qhead) + usize::from(e.qlen)) % ql;
        match self.queues.get_mut(slot) {
            Some(s) => {
                *s = Some(pkt);
                e.qlen += 1;
                Ok(())
            }
            None => Err(pkt),
        }
    }

    /// Takes the oldest packet waiting in entry `i`.
    fn dequeue(&mut self, i: usize) -> Option<F> {
        let ql = self.cfg.queue_len;
        let e = self.entries.get_mut(i)?.as_mut()?;
        if e.qlen == 0 {
            return None;
        }
        let slot = i * ql + usize::from(e.qhead);
        e.qhead = ((usize::from(e.qhead) + 1) % ql) as u16;
        e.qlen -= 1;
        self.queues.get_mut(slot)?.take()
    }

    /// Records what a neighbour told us about itself: its MAC address for `key`.
    ///
    /// - `confirmed`: an answer to our request (ARP reply, solicited NA): the entry becomes
    ///   REACHABLE. Otherwise (a request from it, an unsolicited NA, a gratuitous ARP) a new or
    ///   changed entry becomes STALE and an unchanged one keeps its state.
    /// - `override_mac`: the MAC replaces a different known one (ARP always; NDP per the O flag).
    ///   Without it a different MAC is ignored (RFC 4861 7.2.5), unless the entry is INCOMPLETE.
    /// - `create`: add the entry if it does not exist (ARP/NS addressed to us); else only update.
    ///
    /// Returns the MAC and the packets that waited for it (the caller sends them), or None.
    pub fn learn<'a>(
        &'a mut self,
        key: NeighKey,
        mac: EthernetAddress,
        now: u64,
        confirmed: bool,
        override_mac: bool,
        create: bool,
    ) -> Option<Released<'a, F>> {
        if !mac.is_unicast() || mac == EthernetAddress::UNSPECIFIED {
            return None;
        }
        let i = match self.index.get(&key) {
            Some(&i) => i as usize,
            None if create => {
                let state = if confirmed {
                    NeighState::Reachable
                } else {
                    NeighState::Stale
                };
                let i = self.insert(key, state, mac, now);
                if i.is_none() {
                    self.counters.table_full += 1;
                }
                return None;
            }
            None => return None,
        };
        let e = self.entries.get_mut(i)?.as_mut()?;
        let was_incomplete = e.state == NeighState::Incomplete;
        if was_incomplete {
            e.mac = mac;
            e.state = if confirmed {
                NeighState::Reachable
            } else {
                NeighState::Stale
            };
            e.confirmed = now;
            e.probes = 0;
            self.counters.resolved += 1;
        } else if e.mac != mac {
            if !override_mac {
                if e.state == NeighState::Reachable {
                    e.state = NeighState::Stale;
                }
                return None;
            }
            e.mac = mac;
            e.state = if confirmed {
                NeighState::Reachable
            } else {
                NeighState::Stale
            };
            e.confirmed = now;
            e.probes = 0;
        } else if confirmed {
            e.state = NeighState::Reachable;
            e.confirmed = now;
            e.probes = 0;
        }
        if e.qlen == 0 {
            return None;
        }
        Some(Released {
            table: self,
            index: i,
            mac,
        })
    }

    /// Runs timers over the next `timer_budget` slots; `on` receives the requests to send and
    /// the packets dropped by timeouts.
    pub fn poll(&mut self, now: u64, mut on: impl FnMut(NeighEvent<F>)) {
        let n = self.entries.len();
        if n == 0 || self.index.is_empty() {
            return;
        }
        for _ in 0..self.cfg.timer_budget.min(n) {
            let i = self.cursor;
            self.cursor = (self.cursor + 1) % n;
            let Some(Some(e)) = self.entries.get(i).copied() else {
                continue;
            };
            let (retrans, max_probes) = (self.cfg.retrans_ms, self.cfg.max_probes);
            match e.state {
                NeighState::Incomplete | NeighState::Probe if now >= e.timer => {
                    if e.probes >= max_probes {
                        if e.state == NeighState::Incomplete {
                            self.counters.timeouts += 1;
                        }
                        while let Some(p) = self.dequeue(i) {
                            on(NeighEvent::Dropped(p, DropReason::NeighTimeout));
                        }
                        self.remove(i);
                    } else {
                        if let Some(Some(m)) = self.entries.get_mut(i) {
                            m.probes += 1;
                            m.timer = now + retrans;
                        }
                        let mac = (e.state == NeighState::Probe).then_some(e.mac);
                        on(NeighEvent::Solicit { key: e.key, mac });
                    }
                }
                NeighState::Reachable
                    if now.saturating_sub(e.confirmed) >= self.cfg.reachable_ms =>
                {
                    if let Some(Some(m)) = self.entries.get_mut(i) {
                        m.state = NeighState::Stale;
                    }
                }
                NeighState::Stale
                    if now.saturating_sub(e.used) >= self.cfg.gc_stale_ms
                        && now.saturating_sub(e.confirmed) >= self.cfg.gc_stale_ms =>
                {
                    self.remove(i);
                }
                _ => {}
            }
        }
    }

    /// Removes entry `i` (its queue must be empty: packets would leak into the next user).
    fn remove(&mut self, i: usize) {
        while self.dequeue(i).is_some() {}
        if let Some(slot) = self.entries.get_mut(i) {
            if let Some(e) = slot.take() {
                self.index.remove(&e.key);
                self.free.push(i as u32);
                self.counters.removed += 1;
            }
        }
    }
}

/// Packets released by [`NeighTable::learn`]: iterate to take them, oldest first.
pub struct Released<'a, F> {
    table: &'a mut NeighTable<F>,
    index: usize,
    mac: EthernetAddress,
}

impl<F> Released<'_, F> {
    /// The resolved MAC address.
    pub fn mac(&self) -> EthernetAddress {
        self.mac
    }
}

impl<F> Iterator for Released<'_, F> {
    type Item = F;
    fn next(&mut self) -> Option<F> {
        let p = self.table.dequeue(self.index)?;
        self.table.counters.released += 1;
        Some(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn key(n: u8) -> NeighKey {
        NeighKey {
            vlan: VlanId(0),
            addr: IpAddr::V4(Ipv4Addr::new(10, 0, 0, n)),
        }
    }
    const MAC: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0, 9]);
    const MAC2: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0, 10]);

    fn small() -> NeighConfig {
        NeighConfig {
            capacity: 4,
            queue_len: 2,
            reachable_ms: 1000,
            retrans_ms: 100,
            max_probes: 3,
            gc_stale_ms: 5000,
            timer_budget: 16,
        }
    }

    type Solicits = Vec<(NeighKey, Option<EthernetAddress>)>;

    fn events(t: &mut NeighTable<u32>, now: u64) -> (Solicits, Vec<(u32, DropReason)>) {
        let (mut sol, mut drops) = (vec![], vec![]);
        t.poll(now, |e| match e {
            NeighEvent::Solicit { key, mac } => sol.push((key, mac)),
            NeighEvent::Dropped(p, r) => drops.push((p, r)),
        });
        (sol, drops)
    }

    #[test]
    fn incomplete_queues_then_releases_in_order_on_reply() {
        let mut t: NeighTable<u32> = NeighTable::new(small());
        assert!(matches!(
            t.resolve(key(1), 1, 0),
            Resolve::Queued { solicit: true }
        ));
        assert!(matches!(
            t.resolve(key(1), 2, 1),
            Resolve::Queued { solicit: false }
        ));
        // Queue of 2: the third packet is dropped with a reason.
        match t.resolve(key(1), 3, 2) {
            Resolve::Drop(3, DropReason::NeighQueueFull) => {}
            other => panic!("{other:?}"),
        }
        assert_eq!(t.get(&key(1), 2).unwrap().state, NeighState::Incomplete);
        assert_eq!(t.get(&key(1), 2).unwrap().queued, 2);
        let released: Vec<u32> = t
            .learn(key(1), MAC, 50, true, true, false)
            .unwrap()
            .collect();
        assert_eq!(released, vec![1, 2]);
        let v = t.get(&key(1), 50).unwrap();
        assert_eq!((v.state, v.mac, v.queued), (NeighState::Reachable, MAC, 0));
        match t.resolve(key(1), 4, 60) {
            Resolve::Ready {
                pkt: 4,
                mac,
                probe: false,
            } => assert_eq!(mac, MAC),
            other => panic!("{other:?}"),
        }
        assert_eq!(t.counters().resolved, 1);
        assert_eq!(t.counters().queue_full, 1);
    }

    #[test]
    fn unanswered_requests_time_out_and_drop_the_queue() {
        let mut t: NeighTable<u32> = NeighTable::new(small());
        assert!(matches!(
            t.resolve(key(1), 7, 0),
            Resolve::Queued { solicit: true }
        ));
        // Retransmissions at 100 and 200 ms (probes 2 and 3), then the timeout at 300 ms.
        assert!(events(&mut t, 50).0.is_empty());
        assert_eq!(events(&mut t, 100).0, vec![(key(1), None)]);
        assert_eq!(events(&mut t, 200).0, vec![(key(1), None)]);
        let (sol, drops) = events(&mut t, 300);
        assert!(sol.is_empty());
        assert_eq!(drops, vec![(7, DropReason::NeighTimeout)]);
        assert!(t.get(&key(1), 300).is_none());
        assert!(t.is_empty());
        assert_eq!(t.counters().timeouts, 1);
        // The slot is reusable.
        assert!(matches!(
            t.resolve(key(1), 8, 400),
            Resolve::Queued { solicit: true }
        ));
    }

    #[test]
    fn reachable_ages_to_stale_then_probe_then_removal() {
        let mut t: NeighTable<u32> = NeighTable::new(small());
        assert!(t.learn(key(2), MAC, 0, true, true, true).is_none());
        assert_eq!(t.get(&key(2), 0).unwrap().state, NeighState::Reachable);
        events(&mut t, 999);
        assert_eq!(t.get(&key(2), 999).unwrap().state, NeighState::Reachable);
        events(&mut t, 1000);
        assert_eq!(t.get(&key(2), 1000).unwrap().state, NeighState::Stale);
        // First use of a stale entry: packet goes out, and a unicast probe is asked for.
        match t.resolve(key(2), 1, 1100) {
            Resolve::Ready {
                probe: true, mac, ..
            } => assert_eq!(mac, MAC),
            other => panic!("{other:?}"),
        }
        assert_eq!(t.get(&key(2), 1100).unwrap().state, NeighState::Probe);
        assert_eq!(events(&mut t, 1200).0, vec![(key(2), Some(MAC))]);
        assert_eq!(events(&mut t, 1300).0, vec![(key(2), Some(MAC))]);
        assert!(events(&mut t, 1400).0.is_empty());
        assert!(
            t.get(&key(2), 1400).is_none(),
            "no answer to the probes: removed"
        );
        // A confirmation during PROBE makes it REACHABLE again.
        t.learn(key(3), MAC, 0, false, true, true);
        assert_eq!(t.get(&key(3), 0).unwrap().state, NeighState::Stale);
        assert!(matches!(
            t.resolve(key(3), 1, 10),
            Resolve::Ready { probe: true, .. }
        ));
        t.learn(key(3), MAC, 20, true, true, false);
        assert_eq!(t.get(&key(3), 20).unwrap().state, NeighState::Reachable);
    }

    #[test]
    fn stale_entries_are_collected_and_learning_rules_hold() {
        let mut t: NeighTable<u32> = NeighTable::new(small());
        // Not created without `create`.
        assert!(t.learn(key(1), MAC, 0, true, true, false).is_none());
        assert!(t.is_empty());
        t.learn(key(1), MAC, 0, false, true, true);
        assert_eq!(t.get(&key(1), 0).unwrap().state, NeighState::Stale);
        // Without override a different MAC is ignored; with it, replaced (and STALE).
        t.learn(key(1), MAC, 10, true, true, false);
        t.learn(key(1), MAC2, 20, true, false, false);
        assert_eq!(t.get(&key(1), 20).unwrap().mac, MAC);
        assert_eq!(t.get(&key(1), 20).unwrap().state, NeighState::Stale);
        t.learn(key(1), MAC2, 30, false, true, false);
        assert_eq!(t.get(&key(1), 30).unwrap().mac, MAC2);
        // Multicast/zero MACs are never learned.
        t.learn(key(2), EthernetAddress::BROADCAST, 0, true, true, true);
        assert!(t.get(&key(2), 0).is_none());
        // Garbage collection of a stale, unused entry.
        events(&mut t, 5029);
        assert!(t.get(&key(1), 5029).is_some());
        events(&mut t, 5030);
        assert!(t.get(&key(1), 5030).is_none());
    }

    #[test]
    fn full_table_drops_with_a_reason() {
        let mut t: NeighTable<u32> = NeighTable::new(small());
        for n in 1..=4 {
            assert!(matches!(
                t.resolve(key(n), u32::from(n), 0),
                Resolve::Queued { .. }
            ));
        }
        match t.resolve(key(5), 5, 0) {
            Resolve::Drop(5, DropReason::NeighTableFull) => {}
            other => panic!("{other:?}"),
        }
        assert_eq!(t.len(), 4);
        assert_eq!(t.iter(0).count(), 4);
    }

    #[test]
    fn index_never_reallocates_under_churn() {
        let cfg = NeighConfig {
            capacity: 64,
            ..small()
        };
        let mut t: NeighTable<u32> = NeighTable::new(cfg);
        let cap = t.index.capacity();
        for round in 0..300u32 {
            for n in 0..64u32 {
                let a = round * 64 + n;
                let key = NeighKey {
                    vlan: VlanId(0),
                    addr: IpAddr::V4(Ipv4Addr::from(0x0a00_0000 | a)),
                };
                t.learn(key, MAC, 0, true, true, true);
            }
            assert_eq!(t.len(), 64);
            for i in 0..64 {
                t.remove(i);
            }
            assert!(t.is_empty());
        }
        // `capacity()` is the entries plus the room left before the table must be rebuilt:
        // removals that leave tombstones lower it, and an insert that finds no room rebuilds
        // the table in place (no allocation) while it is at most half full, which brings it
        // back to `cap`. A reallocation would make it larger than `cap`.
        assert!(
            t.index.capacity() <= cap,
            "the index grew: {} > {cap}",
            t.index.capacity()
        );
    }

    #[test]
    fn timer_walk_is_bounded() {
        let cfg = NeighConfig {
            capacity: 100,
            timer_budget: 10,
            ..small()
        };
        let mut t: NeighTable<u32> = NeighTable::new(cfg);
        for n in 0..50u8 {
            t.resolve(key(n), 0, 0);
        }
        let (sol, _) = events(&mut t, 100);
        assert!(sol.len() <= 10, "{}", sol.len());
    }
}
