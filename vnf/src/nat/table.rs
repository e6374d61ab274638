//! The per-worker session table: sessions keyed both ways, endpoint-independent mappings, the
//! per-pod port count, the SNAT port pools, timeouts and expiry.
//!
//! Shared by every kind of session ([`SessionKind`]: SNAT44, SNAT66, NAT46, NAT64): addresses
//! are stored as 16 bytes (IPv4 as IPv4-mapped IPv6, `::ffff:a.b.c.d`), so one table holds keys
//! of both families and a session may have an inside family different from its outside one.
//!
//! Structure (everything allocated and touched at construction from the capacity; nothing
//! allocates or faults in a page per packet):
//! - `sessions`: a slab of [`Session`] records, each carrying both keys:
//!   in2out = (protocol, inside address/port, remote address/port as seen inside) and
//!   out2in = (protocol, outside address/port, remote address/port as seen outside).
//! - two [`Index`]es (open addressing) from the hash of each key to the session number.
//! - `maps`: the mappings (RFC 4787 "endpoint-independent mapping", the BIB of RFC 6146):
//!   (kind, protocol, inside address, inside port) -> (outside address, outside port), with the
//!   number of sessions that use it. A mapping lives while at least one session uses it; its
//!   port then waits `port_reuse_delay` before another mapping may take it (RFC 6888).
//! - `pods`: when a per-pod quota is configured, the number of mappings (ports) each pod holds.
//!
//! Filtering is address-and-port-dependent (RFC 4787 section 5, REQ-8 allows it): an inbound
//! packet is translated only when it matches a session, i.e. the pod sent to that remote
//! address and port first.
//!
//! TCP (RFC 5382, RFC 7857 section 3): the session records which side sent SYN, FIN, RST. It is
//! established once both sides sent a SYN (a normal handshake or a simultaneous open, RFC 5382
//! REQ-2) and uses the established idle timeout (default 7440 s, RFC 5382 REQ-5) until both
//! sides sent a FIN or either sent a RST; before and after, the transitory timeout (240 s). A
//! new SYN from the pod on a closing session starts it again.
//!
//! Expiry: `expires` (ms) is checked on every lookup (an expired session is removed there and
//! never matches), and `sweep` visits a bounded number of sessions per call to free the
//! expired ones nobody looks up. Neither stalls: work per call is bounded by its budget.

use super::hash::{hash_key, hash_words, Rng};
use super::index::Index;
use super::ports::{proto_space, Pool, PortError};
use super::Addr;

/// What a session translates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum SessionKind {
    /// IPv4 pod -> IPv4 host, source from the IPv4 pool (virtual server `egress-ipv4`).
    Snat44 = 0,
    /// IPv6 pod -> IPv6 host, source from the IPv6 pool (virtual server `egress-ipv6`).
    Snat66 = 1,
    /// IPv4 pod -> IPv6 host (DNS46), source from the IPv6 pool (`egress-ipv4-nat46`).
    Nat46 = 2,
    /// IPv6 pod -> IPv4 host (NAT64 prefix), source from the IPv4 pool (`egress-ipv6-nat64`).
    Nat64 = 3,
}

impl SessionKind {
    /// Every kind, in counter order.
    pub const ALL: [SessionKind; 4] = [
        SessionKind::Snat44,
        SessionKind::Snat66,
        SessionKind::Nat46,
        SessionKind::Nat64,
    ];
    /// Number of kinds.
    pub const COUNT: usize = 4;

    /// Counter index.
    #[inline]
    pub const fn index(self) -> usize {
        self as usize
    }

    /// The `kind` label of `egress_nat_sessions_active{kind}`.
    pub const fn name(self) -> &'static str {
        match self {
            SessionKind::Snat44 => "snat44",
            SessionKind::Snat66 => "snat66",
            SessionKind::Nat46 => "nat46",
            SessionKind::Nat64 => "nat64",
        }
    }

    /// The virtual server whose counters the sessions feed (CONTRACT section 1).
    pub const fn vs_name(self) -> &'static str {
        match self {
            SessionKind::Snat44 => "egress-ipv4",
            SessionKind::Snat66 => "egress-ipv6",
            SessionKind::Nat46 => "egress-ipv4-nat46",
            SessionKind::Nat64 => "egress-ipv6-nat64",
        }
    }

    /// True if the outside (SNAT) address is IPv6.
    #[inline]
    pub const fn outside_v6(self) -> bool {
        matches!(self, SessionKind::Snat66 | SessionKind::Nat46)
    }

    /// True if the pod side is IPv6.
    #[inline]
    pub const fn inside_v6(self) -> bool {
        matches!(self, SessionKind::Snat66 | SessionKind::Nat64)
    }

    fn from_u8(v: u8) -> SessionKind {
        match v {
            1 => SessionKind::Snat66,
            2 => SessionKind::Nat46,
            3 => SessionKind::Nat64,
            _ => SessionKind::Snat44,
        }
    }
}

/// A lookup key: protocol, local address/port (inside for in2out, outside for out2in), remote
/// address/port. For ICMP queries the local port is the identifier and the remote port 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FlowKey {
    pub proto: u8,
    pub local: Addr,
    pub local_port: u16,
    pub remote: Addr,
    pub remote_port: u16,
}

#[inline(always)]
fn halves(a: &Addr) -> (u64, u64) {
    let mut lo = [0u8; 8];
    let mut hi = [0u8; 8];
    lo.copy_from_slice(&a[..8]);
    hi.copy_from_slice(&a[8..]);
    (u64::from_ne_bytes(lo), u64::from_ne_bytes(hi))
}

impl FlowKey {
    /// The keyed hash of the key (three multiplies, two of them independent).
    #[inline(always)]
    pub fn hash(&self, secret: [u64; 2]) -> u64 {
        let (a, b) = halves(&self.local);
        let (c, d) = halves(&self.remote);
        let ports = u64::from(self.proto) << 32
            | u64::from(self.local_port) << 16
            | u64::from(self.remote_port);
        hash_key(secret, [a, b, c, d, ports])
    }
}

/// TCP flags seen on a session ([`Session::tcp`]).
pub mod tcp_state {
    /// The pod sent a SYN.
    pub const SYN_IN: u8 = 1;
    /// The remote sent a SYN.
    pub const SYN_OUT: u8 = 2;
    /// The pod sent a FIN.
    pub const FIN_IN: u8 = 4;
    /// The remote sent a FIN.
    pub const FIN_OUT: u8 = 8;
    /// Either side sent a RST.
    pub const RST: u8 = 16;

    /// Established: both SYNs, no RST, not both FINs.
    #[inline]
    pub const fn established(s: u8) -> bool {
        s & (SYN_IN | SYN_OUT) == (SYN_IN | SYN_OUT)
            && s & RST == 0
            && s & (FIN_IN | FIN_OUT) != (FIN_IN | FIN_OUT)
    }
}

/// Which way a packet goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    /// From a pod (internal VLAN) to the world.
    In2Out,
    /// From the world back to a pod.
    Out2In,
}

/// TCP flag bits of a packet, as far as session tracking cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TcpSeen {
    pub syn: bool,
    pub ack: bool,
    pub fin: bool,
    pub rst: bool,
}

const NONE: u32 = u32::MAX;

/// The part of a 64-bit hash an [`Index`] keeps (its high half).
#[inline(always)]
fn tag_of(hash: u64) -> u32 {
    (hash >> 32) as u32
}

/// A hash with the same [`Index`] tag as the one `tag` was taken from (enough to remove it).
#[inline(always)]
fn from_tag(tag: u32) -> u64 {
    u64::from(tag) << 32
}

/// One session: both keys, the translation, its timer and TCP state. Two cache lines
/// (`repr(C, align(64))`, 128 bytes): the first holds everything an in2out hit of SNAT44/SNAT66
/// reads (the in2out key, the outside address and port, the expiry, the TCP state), so an
/// established flow from a pod costs one session cache line; the second holds what out2in and
/// NAT46/NAT64 add (the remote as seen outside, the kind, the mapping).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C, align(64))]
pub struct Session {
    /// The pod's address.
    pub inside: Addr,
    /// The remote address as the pod sees it.
    pub remote_in: Addr,
    /// The SNAT address.
    pub outside: Addr,
    /// Expiry time (ms).
    pub expires: u64,
    pub inside_port: u16,
    pub remote_in_port: u16,
    pub outside_port: u16,
    /// IP protocol (6, 17, 1, 58; 0 while the slot is free).
    pub proto: u8,
    /// [`tcp_state`] bits.
    pub tcp: u8,
    // ---- second cache line ----
    /// The remote address as the world sees it (differs from `remote_in` for NAT46/NAT64).
    pub remote_out: Addr,
    /// The mapping (while live), or the next free session (while free).
    mapping: u32,
    /// The high halves of the in2out and out2in key hashes (what the indexes store), kept so
    /// that removing the session does not hash its keys again.
    in_tag: u32,
    out_tag: u32,
    pub remote_out_port: u16,
    kind: u8,
}

impl Session {
    const EMPTY: Session = Session {
        inside: [0; 16],
        remote_in: [0; 16],
        outside: [0; 16],
        expires: 0,
        inside_port: 0,
        remote_in_port: 0,
        outside_port: 0,
        proto: 0,
        tcp: 0,
        remote_out: [0; 16],
        mapping: NONE,
        in_tag: 0,
        out_tag: 0,
        remote_out_port: 0,
        kind: 0,
    };

    /// True while the slot holds a session (a free slot has protocol 0).
    #[inline(always)]
    fn live(&self) -> bool {
        self.proto != 0
    }

    /// The session's kind.
    #[inline]
    pub fn kind(&self) -> SessionKind {
        SessionKind::from_u8(self.kind)
    }

    /// Its in2out key.
    #[inline]
    pub fn in_key(&self) -> FlowKey {
        FlowKey {
            proto: self.proto,
            local: self.inside,
            local_port: self.inside_port,
            remote: self.remote_in,
            remote_port: self.remote_in_port,
        }
    }

    /// Its out2in key.
    #[inline]
    pub fn out_key(&self) -> FlowKey {
        FlowKey {
            proto: self.proto,
            local: self.outside,
            local_port: self.outside_port,
            remote: self.remote_out,
            remote_port: self.remote_out_port,
        }
    }

    #[inline(always)]
    fn matches_in(&self, k: &FlowKey) -> bool {
        key_eq(
            (&self.inside, &self.remote_in),
            (self.inside_port, self.remote_in_port, self.proto),
            k,
        )
    }

    #[inline(always)]
    fn matches_out(&self, k: &FlowKey) -> bool {
        key_eq(
            (&self.outside, &self.remote_out),
            (self.outside_port, self.remote_out_port, self.proto),
            k,
        )
    }
}

/// Key compare without branches per field and without `memcmp`: the two addresses as 128-bit
/// words, the ports and protocol packed in one 64-bit word, all differences or-ed together.
#[inline(always)]
fn key_eq(addrs: (&Addr, &Addr), ports: (u16, u16, u8), k: &FlowKey) -> bool {
    let a = u128::from_ne_bytes(*addrs.0) ^ u128::from_ne_bytes(k.local);
    let b = u128::from_ne_bytes(*addrs.1) ^ u128::from_ne_bytes(k.remote);
    let p = (u64::from(ports.0) | u64::from(ports.1) << 16 | u64::from(ports.2) << 32)
        ^ (u64::from(k.local_port) | u64::from(k.remote_port) << 16 | u64::from(k.proto) << 32);
    (a | b | u128::from(p)) == 0
}

/// An endpoint-independent mapping. 52 bytes.
#[derive(Debug, Clone, Copy)]
struct Mapping {
    inside: Addr,
    outside: Addr,
    inside_port: u16,
    outside_port: u16,
    /// Sessions using it (while live), or the next free mapping (while free).
    refs: u32,
    /// The high halves of [`Mapping::hash`] and [`Mapping::out_hash`] (what `map_index` and
    /// `out_maps` store), kept so that dropping the mapping does not hash again.
    tag: u32,
    out_tag: u32,
    pool: u16,
    proto: u8,
    kind: u8,
}

/// `Mapping::pool` of a static mapping (config): its port is not the pool's to give back.
const STATIC_POOL: u16 = u16::MAX;

impl Mapping {
    const EMPTY: Mapping = Mapping {
        inside: [0; 16],
        outside: [0; 16],
        inside_port: 0,
        outside_port: 0,
        refs: 0,
        tag: 0,
        out_tag: 0,
        pool: 0,
        proto: 0,
        kind: u8::MAX,
    };

    #[inline]
    fn hash(secret: [u64; 2], kind: u8, proto: u8, inside: &Addr, port: u16) -> u64 {
        let (a, b) = halves(inside);
        hash_words(
            secret,
            &[
                a,
                b,
                u64::from(kind) << 24 | u64::from(proto) << 16 | u64::from(port),
            ],
        )
    }

    /// Hash of the outside transport address (the out-side mapping index).
    #[inline]
    fn out_hash(secret: [u64; 2], proto: u8, outside: &Addr, port: u16) -> u64 {
        let (a, b) = halves(outside);
        hash_words(
            secret,
            &[a, b, u64::from(proto) << 16 | u64::from(port), 0x006f_7574],
        )
    }
}

/// A mapping as seen from outside ([`SessionTable::mapping_out`]): who owns an outside
/// transport address (RFC 6146 BIB entry).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MappingView {
    pub kind: SessionKind,
    pub proto: u8,
    pub inside: Addr,
    pub inside_port: u16,
    pub outside: Addr,
    pub outside_port: u16,
    /// Set from the config: never expires, its port is not from the pool.
    pub is_static: bool,
}

/// Per-pod port counts (only with a quota).
#[derive(Debug, Clone)]
struct Pods {
    quota: u32,
    entries: Vec<(Addr, u32)>,
    free: Vec<u32>,
    index: Index,
}

impl Pods {
    fn find(&self, secret: [u64; 2], pod: &Addr) -> (u64, Option<u32>) {
        let (a, b) = halves(pod);
        let h = hash_words(secret, &[a, b, 0x0070_6f64]);
        let e = self.index.find(h, |i| {
            self.entries.get(i as usize).is_some_and(|e| e.0 == *pod)
        });
        (h, e)
    }

    fn count(&self, secret: [u64; 2], pod: &Addr) -> u32 {
        match self.find(secret, pod).1 {
            Some(i) => self.entries.get(i as usize).map_or(0, |e| e.1),
            None => 0,
        }
    }

    /// Adds one port to the pod's count; false if no room to track a new pod.
    fn add(&mut self, secret: [u64; 2], pod: &Addr) -> bool {
        match self.find(secret, pod) {
            (_, Some(i)) => {
                if let Some(e) = self.entries.get_mut(i as usize) {
                    e.1 += 1;
                }
                true
            }
            (h, None) => {
                let Some(i) = self.free.pop() else {
                    return false;
                };
                if let Some(e) = self.entries.get_mut(i as usize) {
                    *e = (*pod, 1);
                }
                self.index.insert(h, i)
            }
        }
    }

    fn sub(&mut self, secret: [u64; 2], pod: &Addr) {
        if let (h, Some(i)) = self.find(secret, pod) {
            if let Some(e) = self.entries.get_mut(i as usize) {
                e.1 = e.1.saturating_sub(1);
                if e.1 == 0 {
                    self.index.remove(h, i);
                    self.free.push(i);
                }
            }
        }
    }
}

/// Idle timeouts and the port reuse delay, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    pub udp: u64,
    pub tcp_established: u64,
    pub tcp_transitory: u64,
    pub icmp: u64,
    pub port_reuse_delay: u64,
}

impl Default for Timeouts {
    /// RFC 4787 REQ-5 (UDP 300 s), RFC 5382 REQ-5 (TCP established 7440 s, transitory 240 s),
    /// RFC 5508 REQ-1 (ICMP query 60 s), RFC 6888 (reuse after 120 s).
    fn default() -> Self {
        Timeouts {
            udp: 300_000,
            tcp_established: 7_440_000,
            tcp_transitory: 240_000,
            icmp: 60_000,
            port_reuse_delay: 120_000,
        }
    }
}

/// Why a session could not be opened (each a port-allocation failure kind).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OpenError {
    /// No SNAT address of the outside family.
    NoAddress,
    /// No free port on the pod's paired address in this worker's block.
    PortsExhausted,
    /// The pod holds its quota of ports.
    PodQuota,
    /// The session (or mapping) table is full.
    TableFull,
    /// The protocol has no port space.
    Unsupported,
}

impl OpenError {
    /// Every kind, in counter order.
    pub const ALL: [OpenError; 5] = [
        OpenError::NoAddress,
        OpenError::PortsExhausted,
        OpenError::PodQuota,
        OpenError::TableFull,
        OpenError::Unsupported,
    ];
    /// Number of kinds.
    pub const COUNT: usize = 5;

    /// Counter index.
    pub const fn index(self) -> usize {
        match self {
            OpenError::NoAddress => 0,
            OpenError::PortsExhausted => 1,
            OpenError::PodQuota => 2,
            OpenError::TableFull => 3,
            OpenError::Unsupported => 4,
        }
    }

    /// The `kind` label of `egress_nat_port_alloc_failures_total{kind}`.
    pub const fn name(self) -> &'static str {
        match self {
            OpenError::NoAddress => "no_address",
            OpenError::PortsExhausted => "ports_exhausted",
            OpenError::PodQuota => "pod_quota",
            OpenError::TableFull => "table_full",
            OpenError::Unsupported => "unsupported",
        }
    }
}

/// What a new session translates: the in2out key fields and the remote as seen outside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewSession {
    pub kind: SessionKind,
    pub proto: u8,
    pub inside: Addr,
    pub inside_port: u16,
    pub remote_in: Addr,
    pub remote_in_port: u16,
    pub remote_out: Addr,
    pub remote_out_port: u16,
}

/// Construction parameters of a [`SessionTable`].
#[derive(Debug, Clone)]
pub struct TableConfig {
    /// Sessions (and mappings) the table holds.
    pub capacity: u32,
    pub timeouts: Timeouts,
    /// IPv4 SNAT addresses (IPv4-mapped).
    pub pool_v4: Vec<Addr>,
    /// IPv6 SNAT addresses.
    pub pool_v6: Vec<Addr>,
    pub port_min: u16,
    pub port_max: u16,
    pub workers: u16,
    pub worker: u16,
    /// Ports one pod may hold in this worker (0 = no quota).
    pub pod_quota: u32,
    /// Hash and PRNG key, the same for every worker of the process.
    pub secret: [u64; 2],
}

/// Counts kept by the table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TableCounters {
    /// Live sessions by kind.
    pub active: [u64; SessionKind::COUNT],
    /// Sessions created by kind.
    pub created: [u64; SessionKind::COUNT],
    /// Live mappings.
    pub mappings: u64,
    /// Sessions removed because they timed out.
    pub expired: u64,
}

/// Most keys [`SessionTable::lookup_burst`] handles in one pass (a burst).
pub const LOOKUP_BURST: usize = 32;

/// `n` copies of `fill` in memory advised for huge pages and written now (no page fault, and
/// few TLB misses, when the hot path touches it at random later).
fn prealloc<T: Clone>(n: usize, fill: T) -> Vec<T> {
    let mut v = Vec::with_capacity(n);
    rte::mem::advise_huge_pages(v.spare_capacity_mut());
    v.resize(n, fill);
    v
}

/// The session table of one worker.
#[derive(Debug, Clone)]
pub struct SessionTable {
    secret: [u64; 2],
    timeouts: Timeouts,
    capacity: u32,
    sessions: Vec<Session>,
    /// Slots `sessions_used..` were never used (free slots below are on the free list).
    sessions_used: usize,
    free_session: u32,
    in2out: Index,
    out2in: Index,
    maps: Vec<Mapping>,
    maps_used: usize,
    free_map: u32,
    map_index: Index,
    /// Mappings by outside (protocol, address, port): endpoint-independent filtering and
    /// static BIB entries (NAT64, RFC 6146 section 3.5).
    out_maps: Index,
    pods: Option<Pods>,
    v4: Pool,
    v6: Pool,
    rng: Rng,
    sweep_at: usize,
    counters: TableCounters,
}

impl SessionTable {
    /// A table with everything preallocated (`capacity` sessions and mappings).
    pub fn new(cfg: &TableConfig) -> SessionTable {
        let cap = cfg.capacity.clamp(1, u32::MAX / 4);
        let pods = (cfg.pod_quota > 0).then(|| {
            let n = cap.min(1 << 16);
            Pods {
                quota: cfg.pod_quota,
                entries: vec![([0; 16], 0); n as usize],
                free: (0..n).rev().collect(),
                index: Index::with_entries(n as usize),
            }
        });
        SessionTable {
            secret: cfg.secret,
            timeouts: cfg.timeouts,
            capacity: cap,
            sessions: prealloc(cap as usize, Session::EMPTY),
            sessions_used: 0,
            free_session: NONE,
            in2out: Index::with_entries(cap as usize),
            out2in: Index::with_entries(cap as usize),
            maps: prealloc(cap as usize, Mapping::EMPTY),
            maps_used: 0,
            free_map: NONE,
            map_index: Index::with_entries(cap as usize),
            out_maps: Index::with_entries(cap as usize),
            pods,
            v4: Pool::new(
                &cfg.pool_v4,
                cfg.port_min,
                cfg.port_max,
                cfg.workers,
                cfg.worker,
            ),
            v6: Pool::new(
                &cfg.pool_v6,
                cfg.port_min,
                cfg.port_max,
                cfg.workers,
                cfg.worker,
            ),
            rng: Rng::new(cfg.secret, u64::from(cfg.worker)),
            sweep_at: 0,
            counters: TableCounters::default(),
        }
    }

    /// The timeouts in force.
    pub fn timeouts(&self) -> Timeouts {
        self.timeouts
    }

    /// Replaces the timeouts (a config reload); live sessions keep their current expiry.
    pub fn set_timeouts(&mut self, t: Timeouts) {
        self.timeouts = t;
    }

    /// Capacity in sessions.
    pub fn capacity(&self) -> u32 {
        self.capacity
    }

    /// Live sessions.
    pub fn len(&self) -> usize {
        self.in2out.len()
    }

    /// True if no session is live.
    pub fn is_empty(&self) -> bool {
        self.in2out.is_empty()
    }

    /// The counters.
    pub fn counters(&self) -> TableCounters {
        self.counters
    }

    /// The IPv4 or IPv6 pool.
    pub fn pool(&self, v6: bool) -> &Pool {
        if v6 {
            &self.v6
        } else {
            &self.v4
        }
    }

    /// True if `addr` is a SNAT address of either pool.
    #[inline]
    pub fn is_snat_addr(&self, addr: &Addr) -> bool {
        if super::is_v4_mapped(addr) {
            self.v4.contains(addr)
        } else {
            self.v6.contains(addr)
        }
    }

    /// Session `id`, if live.
    #[inline]
    pub fn session(&self, id: u32) -> Option<&Session> {
        self.sessions.get(id as usize).filter(|s| s.live())
    }

    /// Live sessions.
    pub fn iter(&self) -> impl Iterator<Item = &Session> {
        self.sessions
            .get(..self.sessions_used)
            .unwrap_or(&[])
            .iter()
            .filter(|s| s.live())
    }

    /// Bytes of the structures sized by the capacity (slabs and indexes), divided by the
    /// capacity: the memory cost of one session slot including both keys, its index slots, and
    /// a mapping (port pools and per-pod counts are extra and do not grow with the capacity).
    pub fn bytes_per_session(&self) -> usize {
        let cap = self.capacity as usize;
        let fixed = cap * std::mem::size_of::<Session>()
            + cap * std::mem::size_of::<Mapping>()
            + self.in2out.bytes()
            + self.out2in.bytes()
            + self.map_index.bytes()
            + self.out_maps.bytes();
        fixed.div_ceil(cap)
    }

    /// Bytes of the port pools.
    pub fn pool_bytes(&self) -> usize {
        self.v4.bytes() + self.v6.bytes()
    }

    /// The keyed hash of a lookup key (for [`SessionTable::prefetch`]).
    #[inline]
    pub fn key_hash(&self, key: &FlowKey) -> u64 {
        key.hash(self.secret)
    }

    /// Starts loading what a lookup of the key whose hash is `hash` will read first: its index
    /// slot. Call it for the next packets of a burst before looking up the current one.
    #[inline]
    pub fn prefetch(&self, dir: Dir, hash: u64) {
        match dir {
            Dir::In2Out => self.in2out.prefetch(hash),
            Dir::Out2In => self.out2in.prefetch(hash),
        }
    }

    /// Starts loading the session the index slot of `hash` points to (after
    /// [`SessionTable::prefetch`] had time to bring the slot in): the first cache line, and the
    /// second for out2in.
    #[inline]
    pub fn prefetch_session(&self, dir: Dir, hash: u64) {
        let cand = match dir {
            Dir::In2Out => self.in2out.candidate(hash),
            Dir::Out2In => self.out2in.candidate(hash),
        };
        if let Some(s) = cand.and_then(|e| self.sessions.get(e as usize)) {
            rte::mem::prefetch(&s.inside);
            if dir == Dir::Out2In {
                rte::mem::prefetch(&s.remote_out);
            }
        }
    }

    /// Looks up a burst of keys (`out[i]` for `keys[i]`, up to [`LOOKUP_BURST`] at a time):
    /// hashes them all and prefetches their index slots, then prefetches the sessions those
    /// slots point to, then compares. The cache misses of the burst overlap instead of being
    /// paid one after the other. Same results as one [`SessionTable::lookup_in2out`] (or
    /// `out2in`) per key.
    pub fn lookup_burst(&mut self, dir: Dir, keys: &[FlowKey], out: &mut [Option<u32>], now: u64) {
        for (keys, out) in keys.chunks(LOOKUP_BURST).zip(out.chunks_mut(LOOKUP_BURST)) {
            let mut hashes = [0u64; LOOKUP_BURST];
            for (h, k) in hashes.iter_mut().zip(keys) {
                *h = k.hash(self.secret);
                self.prefetch(dir, *h);
            }
            let n = keys.len().min(out.len());
            for &h in hashes.iter().take(n) {
                self.prefetch_session(dir, h);
            }
            for ((o, k), &h) in out.iter_mut().zip(keys).zip(hashes.iter()) {
                *o = match dir {
                    Dir::In2Out => self.lookup_in2out_hashed(k, h, now),
                    Dir::Out2In => self.lookup_out2in_hashed(k, h, now),
                };
            }
        }
    }

    /// The in2out lookup; an expired session is removed and not found.
    #[inline]
    pub fn lookup_in2out(&mut self, key: &FlowKey, now: u64) -> Option<u32> {
        let h = key.hash(self.secret);
        self.lookup_in2out_hashed(key, h, now)
    }

    /// [`SessionTable::lookup_in2out`] with the key's hash already computed.
    #[inline]
    pub fn lookup_in2out_hashed(&mut self, key: &FlowKey, h: u64, now: u64) -> Option<u32> {
        let sessions = &self.sessions;
        let id = self.in2out.find(h, |i| {
            sessions.get(i as usize).is_some_and(|s| s.matches_in(key))
        })?;
        self.check_expiry(id, now)
    }

    /// The out2in lookup; an expired session is removed and not found.
    #[inline]
    pub fn lookup_out2in(&mut self, key: &FlowKey, now: u64) -> Option<u32> {
        let h = key.hash(self.secret);
        self.lookup_out2in_hashed(key, h, now)
    }

    /// [`SessionTable::lookup_out2in`] with the key's hash already computed.
    #[inline]
    pub fn lookup_out2in_hashed(&mut self, key: &FlowKey, h: u64, now: u64) -> Option<u32> {
        let sessions = &self.sessions;
        let id = self.out2in.find(h, |i| {
            sessions.get(i as usize).is_some_and(|s| s.matches_out(key))
        })?;
        self.check_expiry(id, now)
    }

    #[inline]
    fn check_expiry(&mut self, id: u32, now: u64) -> Option<u32> {
        let expires = self.sessions.get(id as usize)?.expires;
        if expires <= now {
            self.remove(id, now);
            self.counters.expired += 1;
            None
        } else {
            Some(id)
        }
    }

    /// The idle timeout of a session in its current state.
    #[inline]
    fn timeout_of(&self, proto: u8, tcp: u8) -> u64 {
        match proto {
            6 if tcp_state::established(tcp) => self.timeouts.tcp_established,
            6 => self.timeouts.tcp_transitory,
            17 => self.timeouts.udp,
            _ => self.timeouts.icmp,
        }
    }

    /// Records a translated packet of session `id`: TCP state and the idle timer. ICMP errors
    /// never call this: an error does not refresh (or close) the session it is about
    /// (RFC 5508 section 4.2).
    #[inline(always)]
    pub fn touch(&mut self, id: u32, dir: Dir, tcp: TcpSeen, now: u64) {
        let Some(s) = self.sessions.get_mut(id as usize) else {
            return;
        };
        if s.proto == 6 {
            use tcp_state::*;
            let closing = s.tcp & (RST | FIN_IN | FIN_OUT) != 0;
            if dir == Dir::In2Out && tcp.syn && !tcp.ack && closing {
                // The pod opens the same 5-tuple again (RFC 6146 section 3.5.2.2, 4MIN state).
                s.tcp = 0;
            }
            let (syn, fin) = match dir {
                Dir::In2Out => (SYN_IN, FIN_IN),
                Dir::Out2In => (SYN_OUT, FIN_OUT),
            };
            if tcp.syn {
                s.tcp |= syn;
            }
            if tcp.fin {
                s.tcp |= fin;
            }
            if tcp.rst {
                s.tcp |= RST;
            }
        }
        let timeout = match s.proto {
            6 if tcp_state::established(s.tcp) => self.timeouts.tcp_established,
            6 => self.timeouts.tcp_transitory,
            17 => self.timeouts.udp,
            _ => self.timeouts.icmp,
        };
        let expires = now.saturating_add(timeout);
        // Packets of a flow within one millisecond leave the line clean.
        if s.expires != expires {
            s.expires = expires;
        }
    }

    /// Opens a session: finds or creates the pod's mapping (endpoint-independent), then adds
    /// the session with both keys. The caller has checked that no session has the in2out key.
    pub fn open(&mut self, n: &NewSession, now: u64) -> Result<u32, OpenError> {
        let hi = FlowKey {
            proto: n.proto,
            local: n.inside,
            local_port: n.inside_port,
            remote: n.remote_in,
            remote_port: n.remote_in_port,
        }
        .hash(self.secret);
        self.open_hashed(n, hi, now)
    }

    /// [`SessionTable::open`] with the hash of the in2out key (as [`SessionTable::key_hash`]
    /// gives it for the lookup that missed) already computed.
    pub fn open_hashed(&mut self, n: &NewSession, hi: u64, now: u64) -> Result<u32, OpenError> {
        let space = proto_space(n.proto).ok_or(OpenError::Unsupported)?;
        if self.in2out.len() >= self.capacity as usize {
            return Err(OpenError::TableFull);
        }
        let kind = n.kind as u8;
        let mh = Mapping::hash(self.secret, kind, n.proto, &n.inside, n.inside_port);
        let maps = &self.maps;
        let found = self.map_index.find(mh, |i| {
            maps.get(i as usize).is_some_and(|m| {
                m.inside_port == n.inside_port
                    && m.proto == n.proto
                    && m.kind == kind
                    && m.inside == n.inside
            })
        });
        let (mid, created) = match found {
            Some(m) => (m, false),
            None => (self.new_mapping(n, kind, space, mh, now)?, true),
        };
        let Some(m) = self.maps.get(mid as usize).copied() else {
            return Err(OpenError::TableFull);
        };
        let sid = match self.alloc_session() {
            Some(s) => s,
            None => {
                if created {
                    self.drop_mapping(mid, None);
                }
                return Err(OpenError::TableFull);
            }
        };
        let s = Session {
            inside: n.inside,
            remote_in: n.remote_in,
            outside: m.outside,
            remote_out: n.remote_out,
            expires: now.saturating_add(self.timeout_of(n.proto, 0)),
            mapping: mid,
            inside_port: n.inside_port,
            remote_in_port: n.remote_in_port,
            outside_port: m.outside_port,
            remote_out_port: n.remote_out_port,
            proto: n.proto,
            kind,
            tcp: 0,
            in_tag: tag_of(hi),
            out_tag: 0,
        };
        let ho = s.out_key().hash(self.secret);
        let s = Session {
            out_tag: tag_of(ho),
            ..s
        };
        if !self.in2out.insert(hi, sid) {
            self.free_session_slot(sid);
            if created {
                self.drop_mapping(mid, None);
            }
            return Err(OpenError::TableFull);
        }
        if !self.out2in.insert(ho, sid) {
            self.in2out.remove(hi, sid);
            self.free_session_slot(sid);
            if created {
                self.drop_mapping(mid, None);
            }
            return Err(OpenError::TableFull);
        }
        if let Some(slot) = self.sessions.get_mut(sid as usize) {
            *slot = s;
        }
        if let Some(m) = self.maps.get_mut(mid as usize) {
            m.refs += 1;
        }
        self.counters.active[n.kind.index()] += 1;
        self.counters.created[n.kind.index()] += 1;
        Ok(sid)
    }

    fn new_mapping(
        &mut self,
        n: &NewSession,
        kind: u8,
        space: usize,
        mh: u64,
        now: u64,
    ) -> Result<u32, OpenError> {
        if self.map_index.len() >= self.capacity as usize {
            return Err(OpenError::TableFull);
        }
        if let Some(p) = &self.pods {
            if p.count(self.secret, &n.inside) >= p.quota {
                return Err(OpenError::PodQuota);
            }
        }
        let pool = if n.kind.outside_v6() {
            &mut self.v6
        } else {
            &mut self.v4
        };
        let at = pool
            .paired(self.secret, &n.inside)
            .ok_or(OpenError::NoAddress)?;
        let (outside, port) = match pool.alloc(at, space, n.inside_port, &mut self.rng) {
            Ok(x) => x,
            Err(PortError::NoAddress) => return Err(OpenError::NoAddress),
            Err(PortError::Exhausted) => {
                // Released ports may be due: reclaim a bounded number and try once more.
                let reclaimed = pool.block_mut(at, space).map_or(0, |b| b.reclaim(now, 256));
                if reclaimed == 0 {
                    return Err(OpenError::PortsExhausted);
                }
                pool.alloc(at, space, n.inside_port, &mut self.rng)
                    .map_err(|_| OpenError::PortsExhausted)?
            }
        };
        let oh = Mapping::out_hash(self.secret, n.proto, &outside, port);
        let m = Mapping {
            inside: n.inside,
            outside,
            inside_port: n.inside_port,
            outside_port: port,
            refs: 0,
            tag: tag_of(mh),
            out_tag: tag_of(oh),
            pool: at as u16,
            proto: n.proto,
            kind,
        };
        let mid = if self.free_map != NONE {
            let id = self.free_map;
            self.free_map = self.maps.get(id as usize).map_or(NONE, |m| m.refs);
            if let Some(slot) = self.maps.get_mut(id as usize) {
                *slot = m;
            }
            id
        } else if let Some(slot) = self.maps.get_mut(self.maps_used) {
            *slot = m;
            self.maps_used += 1;
            (self.maps_used - 1) as u32
        } else {
            if let Some(b) = pool.block_mut(at, space) {
                b.put_back(port);
            }
            return Err(OpenError::TableFull);
        };
        if let Some(p) = &mut self.pods {
            if !p.add(self.secret, &n.inside) {
                self.release_map_slot(mid);
                if let Some(b) = self.pool_mut(n.kind.outside_v6()).block_mut(at, space) {
                    b.put_back(port);
                }
                return Err(OpenError::PodQuota);
            }
        }
        self.map_index.insert(mh, mid);
        self.out_maps.insert(oh, mid);
        self.counters.mappings += 1;
        Ok(mid)
    }

    fn pool_mut(&mut self, v6: bool) -> &mut Pool {
        if v6 {
            &mut self.v6
        } else {
            &mut self.v4
        }
    }

    fn release_map_slot(&mut self, mid: u32) {
        if let Some(m) = self.maps.get_mut(mid as usize) {
            m.refs = self.free_map;
            m.kind = u8::MAX;
            self.free_map = mid;
        }
    }

    /// Removes mapping `mid`: its port waits for the reuse delay (`due = Some(now)`), or comes
    /// back at once (`None`: it was never used).
    fn drop_mapping(&mut self, mid: u32, now: Option<u64>) {
        let Some(m) = self.maps.get(mid as usize).copied() else {
            return;
        };
        self.map_index.remove(from_tag(m.tag), mid);
        self.out_maps.remove(from_tag(m.out_tag), mid);
        self.counters.mappings = self.counters.mappings.saturating_sub(1);
        let kind = SessionKind::from_u8(m.kind);
        let delay = self.timeouts.port_reuse_delay;
        if m.pool == STATIC_POOL {
            self.release_map_slot(mid);
            return;
        }
        if let Some(space) = proto_space(m.proto) {
            let pool = self.pool_mut(kind.outside_v6());
            let at = usize::from(m.pool);
            match now {
                Some(t) => pool.release(at, space, m.outside_port, t.saturating_add(delay)),
                None => {
                    if let Some(b) = pool.block_mut(at, space) {
                        b.put_back(m.outside_port);
                    }
                }
            }
        }
        let secret = self.secret;
        if let Some(p) = &mut self.pods {
            p.sub(secret, &m.inside);
        }
        self.release_map_slot(mid);
    }

    fn alloc_session(&mut self) -> Option<u32> {
        if self.free_session != NONE {
            let id = self.free_session;
            self.free_session = self.sessions.get(id as usize).map_or(NONE, |s| s.mapping);
            Some(id)
        } else if self.sessions_used < self.sessions.len() {
            self.sessions_used += 1;
            Some((self.sessions_used - 1) as u32)
        } else {
            None
        }
    }

    fn free_session_slot(&mut self, id: u32) {
        if let Some(s) = self.sessions.get_mut(id as usize) {
            *s = Session::EMPTY;
            s.mapping = self.free_session;
            self.free_session = id;
        }
    }

    /// Removes session `id` (no-op if not live); its mapping goes when it was the last user.
    pub fn remove(&mut self, id: u32, now: u64) {
        let Some(s) = self.session(id).copied() else {
            return;
        };
        self.in2out.remove(from_tag(s.in_tag), id);
        self.out2in.remove(from_tag(s.out_tag), id);
        let k = s.kind();
        self.counters.active[k.index()] = self.counters.active[k.index()].saturating_sub(1);
        self.free_session_slot(id);
        let mid = s.mapping;
        let last = match self.maps.get_mut(mid as usize) {
            Some(m) => {
                m.refs = m.refs.saturating_sub(1);
                m.refs == 0
            }
            None => false,
        };
        if last {
            self.drop_mapping(mid, Some(now));
        }
    }

    /// The mapping that owns the outside transport address `(proto, outside, port)`, if any
    /// (endpoint-independent filtering looks it up when no session matches).
    pub fn mapping_out(&self, proto: u8, outside: &Addr, port: u16) -> Option<MappingView> {
        let h = Mapping::out_hash(self.secret, proto, outside, port);
        let maps = &self.maps;
        let id = self.out_maps.find(h, |i| {
            maps.get(i as usize).is_some_and(|m| {
                m.kind != u8::MAX
                    && m.outside_port == port
                    && m.proto == proto
                    && m.outside == *outside
            })
        })?;
        let m = self.maps.get(id as usize)?;
        Some(MappingView {
            kind: SessionKind::from_u8(m.kind),
            proto: m.proto,
            inside: m.inside,
            inside_port: m.inside_port,
            outside: m.outside,
            outside_port: m.outside_port,
            is_static: m.pool == STATIC_POOL,
        })
    }

    /// Adds a static mapping (a static BIB entry of RFC 6146): `(proto, inside, inside_port)`
    /// always leaves as `(outside, outside_port)`, and the mapping never expires. When the
    /// outside port belongs to this worker's block of a pool address it is taken out of the
    /// pool. Fails with `TableFull` when the table is full and with `PortsExhausted` when the
    /// inside or outside transport address is already mapped.
    pub fn add_static_mapping(
        &mut self,
        kind: SessionKind,
        proto: u8,
        inside: Addr,
        inside_port: u16,
        outside: Addr,
        outside_port: u16,
    ) -> Result<(), OpenError> {
        let space = proto_space(proto).ok_or(OpenError::Unsupported)?;
        if self.map_index.len() >= self.capacity as usize {
            return Err(OpenError::TableFull);
        }
        let k = kind as u8;
        let mh = Mapping::hash(self.secret, k, proto, &inside, inside_port);
        let maps = &self.maps;
        let taken_in = self
            .map_index
            .find(mh, |i| {
                maps.get(i as usize).is_some_and(|m| {
                    m.inside_port == inside_port
                        && m.proto == proto
                        && m.kind == k
                        && m.inside == inside
                })
            })
            .is_some();
        if taken_in || self.mapping_out(proto, &outside, outside_port).is_some() {
            return Err(OpenError::PortsExhausted);
        }
        let v6 = !super::is_v4_mapped(&outside);
        let pool = self.pool_mut(v6);
        if let Some(at) = pool.position(&outside) {
            if let Some(b) = pool.block_mut(at, space) {
                b.take(outside_port);
            }
        }
        let m = Mapping {
            inside,
            outside,
            inside_port,
            outside_port,
            // Pinned: the sessions that come and go never bring it to zero.
            refs: 1,
            tag: tag_of(mh),
            out_tag: tag_of(Mapping::out_hash(
                self.secret,
                proto,
                &outside,
                outside_port,
            )),
            pool: STATIC_POOL,
            proto,
            kind: k,
        };
        let mid = if self.free_map != NONE {
            let id = self.free_map;
            self.free_map = self.maps.get(id as usize).map_or(NONE, |m| m.refs);
            id
        } else if self.maps_used < self.maps.len() {
            self.maps_used += 1;
            (self.maps_used - 1) as u32
        } else {
            return Err(OpenError::TableFull);
        };
        if let Some(slot) = self.maps.get_mut(mid as usize) {
            *slot = m;
        }
        self.map_index.insert(mh, mid);
        self.out_maps.insert(from_tag(m.out_tag), mid);
        self.counters.mappings += 1;
        Ok(())
    }

    /// Sets the expiry time of session `id` (NAT64: the short lifetime of a session opened
    /// by an inbound SYN, RFC 6146 section 3.5.2.2 V4 INIT).
    pub fn set_expires(&mut self, id: u32, expires: u64) {
        if let Some(s) = self.sessions.get_mut(id as usize).filter(|s| s.live()) {
            s.expires = expires;
        }
    }

    /// Frees expired sessions among the next `budget` slots, and released ports whose delay
    /// is over (at most `budget`). Returns the number of sessions freed.
    pub fn sweep(&mut self, now: u64, budget: usize) -> usize {
        let n = self.sessions_used;
        let mut freed = 0;
        if n > 0 {
            // The cursor wraps by a compare (no division per visited slot).
            let mut next = if self.sweep_at < n { self.sweep_at } else { 0 };
            for _ in 0..budget.min(n) {
                let i = next;
                next += 1;
                if next == n {
                    next = 0;
                }
                self.sweep_at = next;
                if let Some(s) = self.sessions.get(i) {
                    if s.live() && s.expires <= now {
                        self.remove(i as u32, now);
                        self.counters.expired += 1;
                        freed += 1;
                    }
                }
            }
        }
        self.v4.reclaim(now, budget);
        self.v6.reclaim(now, budget);
        freed
    }
}
