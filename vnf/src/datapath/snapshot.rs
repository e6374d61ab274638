//! Lock-free publication of a worker's neighbour table (and network counters) to the slow path.
//!
//! Each worker owns one [`NeighSnapshot`] and rewrites it every `PUBLISH_MS` milliseconds; the
//! slow path copies it out when `show neigh` runs. The protocol is a sequence lock over plain
//! atomics: the writer makes the sequence odd, stores the words, then makes it even again; a
//! reader retries while the sequence is odd or changed under it. The writer never waits and
//! never allocates (the word array is allocated at start, [`SNAPSHOT_ENTRIES`] entries); a
//! reader may retry a few times and gives up (None) rather than spin for long.
//!
//! [`Export`] is the request/answer mailbox through which the slow path gets a bounded copy of
//! a worker's larger tables (sessions, DNS cache, DNS46 mappings) without a lock: see its docs.
//!
//! The same module carries [`NeighMsg`], the ring message that shares a confirmed neighbour
//! with the other workers.

use super::features::Features;
use crate::dns::message::QKey;
use crate::mapping::MappingEntry;
use crate::nat::Session;
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

// ------------------------------------------------------------------------------------------
// Table export: `show sessions`, `show dns cache`, `show dns46 mappings`
// ------------------------------------------------------------------------------------------

/// Most records one export answer holds (per worker).
pub const EXPORT_RECORDS: usize = 1024;
/// Table slots a worker looks at per loop iteration while it answers an export request.
pub const EXPORT_SCAN_PER_STEP: usize = 256;
/// Records a worker copies per loop iteration while it answers an export request.
pub const EXPORT_COPY_PER_STEP: usize = 32;
/// Words of one record (the longest, a DNS cache key with its 255-byte name, needs 36).
const RECORD_WORDS: usize = 36;
const NAME_BYTES: usize = (RECORD_WORDS - 4) * 8;

/// Which per-worker table an export request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportKind {
    /// The NAT session table.
    Sessions = 1,
    /// The DNS answer cache.
    DnsCache = 2,
    /// The DNS46 mapping cache.
    Mappings = 3,
}

impl ExportKind {
    fn from_word(w: u64) -> Option<ExportKind> {
        match w {
            1 => Some(ExportKind::Sessions),
            2 => Some(ExportKind::DnsCache),
            3 => Some(ExportKind::Mappings),
            _ => None,
        }
    }
}

/// The request/answer mailbox between the slow path and one worker, for tables too large to
/// republish periodically. The slow path writes one request word (sequence number, kind,
/// limit); the worker notices it between bursts and walks its table a few slots per loop
/// iteration ([`EXPORT_SCAN_PER_STEP`], [`EXPORT_COPY_PER_STEP`]), copying records into the
/// preallocated word array; when done it stores the record count and then the request's
/// sequence number in `done` (release). The slow path reads the array after it sees its own
/// sequence number in `done` (acquire); the worker does not touch the array again before the
/// next request, which the slow path only posts after reading (requests are serialised by a
/// slow-path mutex the worker never takes). A worker that does not answer (stopped, or a
/// feature absent) makes the request time out; a newer request abandons an older one.
#[derive(Debug)]
pub struct Export {
    /// `seq << 32 | kind << 16 | limit`, written by the slow path.
    request: AtomicU64,
    /// The `seq` of the last request answered.
    done: AtomicU64,
    /// Records written for `done`.
    len: AtomicU64,
    /// Entries the table held (records written or not) for `done`.
    total: AtomicU64,
    words: Box<[AtomicU64]>,
    /// Slow path only: the next sequence number, and the serialisation of requests.
    client: std::sync::Mutex<u32>,
}

impl Default for Export {
    fn default() -> Self {
        Export {
            request: AtomicU64::new(0),
            done: AtomicU64::new(0),
            len: AtomicU64::new(0),
            total: AtomicU64::new(0),
            words: (0..EXPORT_RECORDS * RECORD_WORDS)
                .map(|_| AtomicU64::new(0))
                .collect(),
            client: std::sync::Mutex::new(0),
        }
    }
}

/// An export answer as the slow path copied it.
#[derive(Debug, Clone, Default)]
pub struct ExportCopy {
    records: Vec<[u64; RECORD_WORDS]>,
    /// Entries the worker's table held when it was walked.
    pub total: u64,
}

impl Export {
    /// Slow path: asks the worker for up to `limit` records of `kind` and waits for the answer
    /// (None after `timeout`).
    pub fn fetch(
        &self,
        kind: ExportKind,
        limit: usize,
        timeout: std::time::Duration,
    ) -> Option<ExportCopy> {
        let mut seq = match self.client.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        *seq = seq.wrapping_add(1).max(1);
        let s = u64::from(*seq);
        let limit = limit.min(EXPORT_RECORDS) as u64;
        self.request
            .store(s << 32 | (kind as u64) << 16 | limit, Ordering::Release);
        let deadline = std::time::Instant::now() + timeout;
        while self.done.load(Ordering::Acquire) != s {
            if std::time::Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(std::time::Duration::from_micros(200));
        }
        let n = (self.len.load(Ordering::Relaxed) as usize).min(EXPORT_RECORDS);
        let records = self
            .words
            .chunks_exact(RECORD_WORDS)
            .take(n)
            .map(|c| std::array::from_fn(|i| c[i].load(Ordering::Relaxed)))
            .collect();
        Some(ExportCopy {
            records,
            total: self.total.load(Ordering::Relaxed),
        })
    }
}

/// A worker's progress on the current export request (worker side, owned by the worker).
#[derive(Debug, Default)]
pub struct ExportJob {
    request: u64,
    kind: Option<ExportKind>,
    limit: usize,
    cursor: usize,
    written: usize,
    seen: u64,
}

impl ExportJob {
    /// One bounded step (between bursts): picks up a new request, copies at most
    /// [`EXPORT_COPY_PER_STEP`] records out of at most [`EXPORT_SCAN_PER_STEP`] slots, and
    /// publishes the answer when the table has been walked. No allocation, no lock.
    pub fn step(&mut self, ex: &Export, features: Option<&Features>, now: u64) {
        let r = ex.request.load(Ordering::Acquire);
        if r != self.request {
            *self = ExportJob {
                request: r,
                kind: ExportKind::from_word((r >> 16) & 0xffff),
                limit: (r & 0xffff) as usize,
                ..ExportJob::default()
            };
        }
        let Some(kind) = self.kind else {
            return;
        };
        let slots = features.map_or(0, |f| match kind {
            ExportKind::Sessions => f.nat().map_or(0, |n| n.table().capacity() as usize),
            ExportKind::DnsCache => f.dns().map_or(0, |d| d.cache().slots()),
            ExportKind::Mappings => f.maps().entry_slots(),
        });
        let end = (self.cursor + EXPORT_SCAN_PER_STEP).min(slots);
        let mut copied = 0;
        while self.cursor < end && copied < EXPORT_COPY_PER_STEP {
            let i = self.cursor;
            self.cursor += 1;
            let mut rec = [0u64; RECORD_WORDS];
            let found = features.is_some_and(|f| match kind {
                ExportKind::Sessions => f
                    .nat()
                    .and_then(|n| n.table().session(i as u32))
                    .map(|s| encode_session(s, now, &mut rec))
                    .is_some(),
                ExportKind::DnsCache => f
                    .dns()
                    .and_then(|d| d.cache().slot(i, now))
                    .map(|(k, ttl, bytes)| encode_dns(k, ttl, bytes, &mut rec))
                    .is_some(),
                ExportKind::Mappings => f
                    .maps()
                    .entry(i, now)
                    .map(|e| encode_mapping(&e, &mut rec))
                    .is_some(),
            });
            if !found {
                continue;
            }
            self.seen += 1;
            if self.written < self.limit {
                let base = self.written * RECORD_WORDS;
                if let Some(dst) = ex.words.get(base..base + RECORD_WORDS) {
                    for (d, w) in dst.iter().zip(rec) {
                        d.store(w, Ordering::Relaxed);
                    }
                    self.written += 1;
                    copied += 1;
                }
            }
        }
        if self.cursor >= slots {
            ex.len.store(self.written as u64, Ordering::Relaxed);
            ex.total.store(self.seen, Ordering::Relaxed);
            ex.done.store(self.request >> 32, Ordering::Release);
            self.kind = None;
        }
    }
}

fn addr_words(a: &crate::nat::Addr) -> (u64, u64) {
    let v = u128::from_be_bytes(*a);
    ((v >> 64) as u64, v as u64)
}

fn words_addr(hi: u64, lo: u64) -> IpAddr {
    crate::nat::addr_ip(&((u128::from(hi) << 64) | u128::from(lo)).to_be_bytes())
}

fn encode_session(s: &Session, now: u64, rec: &mut [u64; RECORD_WORDS]) {
    for (i, a) in [&s.inside, &s.remote_in, &s.outside, &s.remote_out]
        .into_iter()
        .enumerate()
    {
        (rec[2 * i], rec[2 * i + 1]) = addr_words(a);
    }
    rec[8] = u64::from(s.inside_port)
        | u64::from(s.remote_in_port) << 16
        | u64::from(s.outside_port) << 32
        | u64::from(s.remote_out_port) << 48;
    rec[9] = u64::from(s.proto) | u64::from(s.kind() as u8) << 8 | u64::from(s.tcp) << 16;
    rec[10] = s.expires.saturating_sub(now);
}

fn encode_dns(k: &QKey, ttl_left: u64, bytes: usize, rec: &mut [u64; RECORD_WORDS]) {
    let mut name = [0u8; NAME_BYTES];
    let mut n = 0;
    for label in k.name.iter() {
        for &b in label.iter().chain(std::iter::once(&b'.')) {
            if let Some(d) = name.get_mut(n) {
                *d = b;
                n += 1;
            }
        }
    }
    if n == 0 {
        name[0] = b'.';
        n = 1;
    }
    rec[0] = u64::from(u16::from(k.qtype))
        | u64::from(u16::from(k.qclass)) << 16
        | u64::from(k.dnssec_ok) << 32
        | u64::from(k.checking_disabled) << 33;
    rec[1] = ttl_left;
    rec[2] = bytes as u64;
    rec[3] = n as u64;
    for (w, chunk) in rec[4..].iter_mut().zip(name.chunks_exact(8)) {
        let mut b = [0u8; 8];
        b.copy_from_slice(chunk);
        *w = u64::from_le_bytes(b);
    }
}

fn encode_mapping(e: &MappingEntry, rec: &mut [u64; RECORD_WORDS]) {
    let v6 = u128::from(e.v6);
    rec[0] = (v6 >> 64) as u64;
    rec[1] = v6 as u64;
    rec[2] = u64::from(u32::from(e.v4)) | u64::from(e.pinned) << 32;
    rec[3] = e.age_ms;
}

/// One NAT session as exported.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SessionView {
    pub kind: &'static str,
    pub proto: u8,
    pub inside: IpAddr,
    pub inside_port: u16,
    pub remote_in: IpAddr,
    pub remote_in_port: u16,
    pub outside: IpAddr,
    pub outside_port: u16,
    pub remote_out: IpAddr,
    pub remote_out_port: u16,
    /// [`crate::nat::tcp_state`] bits.
    pub tcp: u8,
    pub expires_in_ms: u64,
}

/// One DNS cache entry as exported.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DnsCacheView {
    pub name: String,
    pub qtype: u16,
    pub qclass: u16,
    pub dnssec_ok: bool,
    pub checking_disabled: bool,
    pub ttl_left: u64,
    pub bytes: u64,
}

impl ExportCopy {
    /// The records, read as sessions.
    pub fn sessions(&self) -> Vec<SessionView> {
        self.records
            .iter()
            .map(|r| {
                let kind = crate::nat::SessionKind::ALL
                    .get(((r[9] >> 8) & 0xff) as usize)
                    .copied()
                    .unwrap_or(crate::nat::SessionKind::Snat44);
                SessionView {
                    kind: kind.name(),
                    proto: r[9] as u8,
                    inside: words_addr(r[0], r[1]),
                    remote_in: words_addr(r[2], r[3]),
                    outside: words_addr(r[4], r[5]),
                    remote_out: words_addr(r[6], r[7]),
                    inside_port: r[8] as u16,
                    remote_in_port: (r[8] >> 16) as u16,
                    outside_port: (r[8] >> 32) as u16,
                    remote_out_port: (r[8] >> 48) as u16,
                    tcp: (r[9] >> 16) as u8,
                    expires_in_ms: r[10],
                }
            })
            .collect()
    }

    /// The records, read as DNS cache entries.
    pub fn dns_cache(&self) -> Vec<DnsCacheView> {
        self.records
            .iter()
            .map(|r| {
                let mut name = Vec::with_capacity(NAME_BYTES);
                for w in &r[4..] {
                    name.extend_from_slice(&w.to_le_bytes());
                }
                name.truncate((r[3] as usize).min(NAME_BYTES));
                DnsCacheView {
                    name: String::from_utf8_lossy(&name).into_owned(),
                    qtype: r[0] as u16,
                    qclass: (r[0] >> 16) as u16,
                    dnssec_ok: (r[0] >> 32) & 1 == 1,
                    checking_disabled: (r[0] >> 33) & 1 == 1,
                    ttl_left: r[1],
                    bytes: r[2],
                }
            })
            .collect()
    }

    /// The records, read as DNS46 mapping pairs.
    pub fn mappings(&self) -> Vec<MappingEntry> {
        self.records
            .iter()
            .map(|r| MappingEntry {
                v6: Ipv6Addr::from((u128::from(r[0]) << 64) | u128::from(r[1])),
                v4: Ipv4Addr::from(r[2] as u32),
                pinned: (r[2] >> 32) & 1 == 1,
                age_ms: r[3],
            })
            .collect()
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
    fn export_request_is_answered_by_worker_steps() {
        let ex = Arc::new(Export::default());
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let w = {
            let (ex, stop) = (ex.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut job = ExportJob::default();
                while !stop.load(Ordering::Relaxed) {
                    job.step(&ex, None, 0);
                    std::thread::yield_now();
                }
            })
        };
        for kind in [
            ExportKind::Sessions,
            ExportKind::DnsCache,
            ExportKind::Mappings,
        ] {
            let c = ex
                .fetch(kind, 10, std::time::Duration::from_secs(5))
                .expect("answered");
            assert_eq!(
                (c.records.len(), c.total),
                (0, 0),
                "no features, no records"
            );
        }
        stop.store(true, Ordering::Relaxed);
        w.join().unwrap();
        // Nobody stepping: the request times out.
        assert!(ex
            .fetch(
                ExportKind::Sessions,
                1,
                std::time::Duration::from_millis(20)
            )
            .is_none());
    }

    #[test]
    fn export_records_round_trip() {
        use hickory_proto::rr::{DNSClass, Name, RecordType};
        let key = QKey {
            name: Name::from_ascii("v6only.egress.test.").unwrap(),
            qtype: RecordType::AAAA,
            qclass: DNSClass::IN,
            dnssec_ok: true,
            checking_disabled: false,
        };
        let mut rec = [0u64; RECORD_WORDS];
        encode_dns(&key, 42, 99, &mut rec);
        let long = Name::from_ascii(format!("{}.", vec!["a".repeat(63); 3].join("."))).unwrap();
        let mut rec2 = [0u64; RECORD_WORDS];
        encode_dns(
            &QKey {
                name: long.clone(),
                ..key.clone()
            },
            1,
            1,
            &mut rec2,
        );
        let m = MappingEntry {
            v4: Ipv4Addr::new(10, 250, 1, 9),
            v6: Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x11),
            pinned: true,
            age_ms: 7,
        };
        let mut rec3 = [0u64; RECORD_WORDS];
        encode_mapping(&m, &mut rec3);
        let copy = ExportCopy {
            records: vec![rec, rec2],
            total: 2,
        };
        let d = copy.dns_cache();
        assert_eq!(d[0].name, "v6only.egress.test.");
        assert_eq!((d[0].qtype, d[0].qclass), (28, 1));
        assert!(d[0].dnssec_ok && !d[0].checking_disabled);
        assert_eq!((d[0].ttl_left, d[0].bytes), (42, 99));
        assert_eq!(d[1].name, long.to_ascii());
        let copy = ExportCopy {
            records: vec![rec3],
            total: 1,
        };
        assert_eq!(copy.mappings(), vec![m]);
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
