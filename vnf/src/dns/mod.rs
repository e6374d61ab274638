//! The DNS gateway of the pods: proxy, cache, DNS46 and DNS64 (issue 8).
//!
//! Pods use the VNF as their gateway and keep a resolver address that leads nowhere: every
//! UDP/53 packet from the internal VLAN, to any destination, is the DNS virtual server
//! `egress-dns-ipv4` / `egress-dns-ipv6`. The answer goes back with the original destination
//! as its source. TCP/53 is redirected to a forward zone's server and goes through the NAT like
//! any flow ([`tcp`]), so the DNS46/DNS64 synthesis applies to UDP only; a truncated upstream
//! answer is passed through so the client retries over TCP.
//!
//! Stages (see `docs/datapath.md` and `docs/dns.md`):
//! - [`DnsProxy::from_pod`] (internal VLAN): `Reply` from the cache (or an error answer built
//!   in place), `Held` while the query is upstream (the packet is rewritten into the upstream
//!   query and leaves through the `Sink`), `Drop` (rate limit, malformed), `Pass` (not UDP/53).
//! - [`DnsProxy::from_upstream`] (external VLAN): a reply to one of our query ports on the
//!   external self IP. Accepted only if server address and port, query ID and question all match
//!   an outstanding query (RFC 5452 section 9.1); then `Held` (the packet is reused for the
//!   answer or the follow-up query, which leave through the `Sink`); otherwise `Drop`, counted.
//! - [`DnsProxy::poll`]: upstream timeouts (next name server, then SERVFAIL) and DNS46
//!   mappings that were pending, in bounded steps.
//!
//! Upstream queries come from the external self IP of the server's family, with a random ID and
//! a random source port from this worker's query port range (which the NAT must not use on that
//! address), EDNS payload 1232, RD set, DO and CD as the pod's.
//!
//! Invariants: no panics on any input; tables (pending, cache slab, rate buckets, log queue)
//! are allocated in [`DnsProxy::new`]; the per-packet allocations are hickory-proto's parsing
//! and, on a cache miss, the encoding of new messages (see `docs/dns.md`).

pub mod cache;
pub mod fast;
pub mod message;
pub mod packet;
pub mod ratelimit;
pub mod synth;
pub mod tcp;

#[cfg(test)]
mod tests;

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use hickory_proto::op::{Message, OpCode, Query, ResponseCode};
use hickory_proto::rr::{DNSClass, Name, RecordType};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::action::{FrameAlloc, Outcome, Sink};
use crate::drop::DropReason;
use crate::frame::Frame;

use cache::Cache;
pub use cache::CacheItem;
use fast::WireKey;
use message::{
    cache_ttl, encode_upstream_query, error_header, parse_query, sanitize, ClientQuery,
    ParsedQuery, QKey, Template,
};
use packet::{parse_udp, payload_offset, udp_checksum_ok, write_udp, write_udp_with, UdpMeta};
use ratelimit::RateLimiter;
pub use synth::{Map46, Mapper46, NoMapper, Prefix6};
use tcp::TcpRedirect;

/// The DNS port.
pub const DNS_PORT: u16 = 53;
/// Default source-port range of upstream queries (split between workers). The NAT must not
/// hand out these ports on the external self IPs.
pub const DEFAULT_QUERY_PORTS: (u16, u16) = (61440, 65535);
/// Pods merged into one outstanding upstream query, at most.
pub const MAX_WAITERS: usize = 8;
/// Pending slots examined for timeouts per `poll`.
pub const POLL_SCAN: usize = 256;
/// DNS46 translations kept for the slow path's debug log, at most.
pub const LOG_CAPACITY: usize = 256;
/// Upper bounds (microseconds) of the upstream latency histogram's buckets; one more bucket
/// (+Inf) follows the last.
pub const UPSTREAM_LATENCY_BUCKETS_US: [u64; 12] = [
    500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000,
    2_000_000,
];
/// Buckets of [`DnsCounters::upstream_latency`] (the bounds and +Inf).
pub const UPSTREAM_LATENCY_BUCKETS: usize = UPSTREAM_LATENCY_BUCKETS_US.len() + 1;

/// The query port range of worker `index` of `workers`: equal contiguous blocks of `range`.
pub fn worker_query_ports(range: (u16, u16), index: u16, workers: u16) -> (u16, u16) {
    let (lo, hi) = (u32::from(range.0), u32::from(range.1.max(range.0)));
    let n = u32::from(workers.max(1));
    let per = ((hi - lo + 1) / n).max(1);
    let first = (lo + per * u32::from(index)).min(hi);
    let last = (first + per - 1).min(hi);
    (first as u16, last as u16)
}

/// A forward zone: a domain and its name servers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Zone {
    pub name: Name,
    pub servers: Vec<SocketAddr>,
}

/// DNS46 knobs (F5SPKEgress `dnsNat46*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dns46Settings {
    /// `maxDNS46TTL`, seconds.
    pub max_ttl: u32,
    /// `dnsNat46SorryIp`.
    pub sorry_ip: Option<Ipv4Addr>,
    /// A mapping still pending after this many ms: SERVFAIL.
    pub mapping_timeout_ms: u64,
}

/// DNS64 knobs (F5SPKEgress `nat64Enabled`, `nat64Ipv6Subnet`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dns64Settings {
    /// The RFC 6052 prefix.
    pub prefix: Prefix6,
    /// AAAA records inside these prefixes count as absent (RFC 6147 5.1.4); `::ffff:0:0/96` is
    /// always included.
    pub exclusions: Vec<Prefix6>,
}

/// Everything the proxy of one worker needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsSettings {
    /// External self IPs: sources of upstream queries.
    pub self_v4: Option<Ipv4Addr>,
    pub self_v6: Option<Ipv6Addr>,
    /// This worker's upstream source ports (inclusive).
    pub query_ports: (u16, u16),
    pub zones: Vec<Zone>,
    pub cache_entries: usize,
    pub cache_bytes: usize,
    pub pending_capacity: usize,
    pub upstream_timeout_ms: u64,
    /// Queries per second per pod; 0 = off.
    pub rate_limit: u32,
    /// Pods tracked by the rate limiter.
    pub rate_slots: usize,
    pub dns46: Option<Dns46Settings>,
    pub dns64: Option<Dns64Settings>,
    /// `debugLogEnabled`: queue a [`Dns46Log`] per translation.
    pub debug_log: bool,
}

impl Default for DnsSettings {
    fn default() -> Self {
        DnsSettings {
            self_v4: None,
            self_v6: None,
            query_ports: DEFAULT_QUERY_PORTS,
            zones: Vec::new(),
            cache_entries: 65536,
            cache_bytes: 32 << 20,
            pending_capacity: 4096,
            upstream_timeout_ms: 2000,
            rate_limit: 0,
            rate_slots: 16384,
            dns46: None,
            dns64: None,
            debug_log: false,
        }
    }
}

impl DnsSettings {
    /// The settings of one worker from the VNF configuration: `self_v4`/`self_v6` are the
    /// external VLAN's self IPs, `query_ports` this worker's block (see
    /// [`worker_query_ports`]). Zones whose name does not parse are skipped (the config crate
    /// validates them); with no zone but `pool_ips`, the pool serves `.` on port 53.
    pub fn from_config(
        cfg: &egress_config::VnfConfig,
        self_v4: Option<Ipv4Addr>,
        self_v6: Option<Ipv6Addr>,
        query_ports: (u16, u16),
    ) -> DnsSettings {
        let d = &cfg.dns;
        let mut zones: Vec<Zone> = d
            .forward_zones
            .iter()
            .filter_map(|z| {
                let mut name = Name::from_ascii(&z.zone).ok()?;
                name.set_fqdn(true);
                Some(Zone {
                    name,
                    servers: z.servers.clone(),
                })
            })
            .collect();
        if zones.is_empty() && !d.pool_ips.is_empty() {
            zones.push(Zone {
                name: Name::root(),
                servers: d
                    .pool_ips
                    .iter()
                    .map(|ip| SocketAddr::new(*ip, DNS_PORT))
                    .collect(),
            });
        }
        let entries = d.cache_entries as usize;
        DnsSettings {
            self_v4,
            self_v6,
            query_ports,
            zones,
            cache_entries: entries,
            cache_bytes: entries.saturating_mul(512).max(1 << 20),
            pending_capacity: d.pending_capacity as usize,
            upstream_timeout_ms: u64::from(d.upstream_timeout_ms),
            rate_limit: d.rate_limit,
            rate_slots: 16384,
            dns46: cfg.nat46.enabled.then(|| Dns46Settings {
                max_ttl: cfg.nat46.max_dns46_ttl,
                sorry_ip: cfg.nat46.sorry_ip,
                mapping_timeout_ms: u64::from(d.upstream_timeout_ms),
            }),
            dns64: cfg.nat64.enabled.then(|| Dns64Settings {
                prefix: Prefix6 {
                    addr: cfg.nat64.prefix.addr,
                    len: cfg.nat64.prefix.len,
                },
                exclusions: Vec::new(),
            }),
            debug_log: d.debug_log,
        }
    }

    /// The longest forward zone containing `name` (`.` matches everything).
    pub fn zone_for(&self, name: &Name) -> Option<usize> {
        self.zones
            .iter()
            .enumerate()
            .filter(|(_, z)| z.name.zone_of(name))
            .max_by_key(|(_, z)| z.name.num_labels())
            .map(|(i, _)| i)
    }
}

/// One DNS46 translation, for the slow path's debug log (`debugLogEnabled`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dns46Log {
    name: [u8; 256],
    name_len: u8,
    pub v6: Ipv6Addr,
    pub v4: Ipv4Addr,
    pub ttl: u32,
    /// The mapping was created for this answer.
    pub created: bool,
    /// The slice was exhausted: `v4` is the sorry IP.
    pub sorry: bool,
}

impl Dns46Log {
    /// The queried name (ASCII, trailing dot).
    pub fn name(&self) -> &str {
        std::str::from_utf8(&self.name[..usize::from(self.name_len)]).unwrap_or("?")
    }
}

/// Per-worker counters (plain integers; the slow path sums them).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DnsCounters {
    /// Queries received from pods over IPv4 / IPv6 (`egress-dns-ipv4/6` clientside.pkts_in).
    pub queries_v4: u64,
    pub queries_v6: u64,
    /// Answers sent to pods over IPv4 / IPv6 (clientside.pkts_out).
    pub answers_v4: u64,
    pub answers_v6: u64,
    // Queries, by how they were handled (`egress_dns_queries_total{result}`).
    pub cache_hit: u64,
    pub forwarded: u64,
    /// Joined an identical outstanding query.
    pub merged: u64,
    pub rate_limited: u64,
    pub formerr: u64,
    pub notimp: u64,
    /// No forward zone for the name.
    pub refused: u64,
    /// Not a DNS query (too short, a response, a fragment).
    pub malformed: u64,
    pub bad_checksum: u64,
    // Answers, by kind.
    pub servfail: u64,
    pub nxdomain: u64,
    pub synthesized46: u64,
    pub synthesized64: u64,
    /// Truncated answers (passed through from upstream or cut to the client's size).
    pub truncated: u64,
    /// TCP/53 segments from pods sent to the redirect target, and segments of the target
    /// given back the pod's original destination as source.
    pub tcp_redirected: u64,
    pub tcp_restored: u64,
    /// `egress_dns46_mappings_created_total`.
    pub dns46_mappings_created: u64,
    /// `egress_dns46_sorry_answers_total`.
    pub dns46_sorry: u64,
    /// The mapping store was unavailable or too slow (SERVFAIL).
    pub dns46_unavailable: u64,
    // Upstream side.
    pub upstream_queries: u64,
    pub upstream_replies: u64,
    pub upstream_timeouts: u64,
    /// Replies that matched no outstanding query (address, port, ID or question).
    pub spoofed_reply: u64,
    /// Upstream replies that did not parse.
    pub upstream_malformed: u64,
    /// SERVFAIL because the pending table was full.
    pub pending_full: u64,
    /// Accepted upstream replies by latency (time since the query was sent to the server that
    /// answered), per bucket of [`UPSTREAM_LATENCY_BUCKETS_US`] (not cumulative; the last is
    /// +Inf), and the sum of those latencies in microseconds.
    pub upstream_latency: [u64; UPSTREAM_LATENCY_BUCKETS],
    pub upstream_latency_sum_us: u64,
    /// A packet could not be created or queued.
    pub emit_failed: u64,
    /// Debug-log events lost because the queue was full.
    pub log_dropped: u64,
    // Gauges.
    pub cache_entries: u64,
    pub cache_bytes: u64,
    pub pending: u64,
}

impl DnsCounters {
    /// `(result label, count)` pairs of `egress_dns_queries_total{result}`.
    pub fn query_results(&self) -> [(&'static str, u64); 17] {
        [
            ("cache_hit", self.cache_hit),
            ("forwarded", self.forwarded),
            ("merged", self.merged),
            ("rate_limited", self.rate_limited),
            ("formerr", self.formerr),
            ("notimp", self.notimp),
            ("refused", self.refused),
            ("malformed", self.malformed),
            ("bad_checksum", self.bad_checksum),
            ("servfail", self.servfail),
            ("nxdomain", self.nxdomain),
            ("synthesized46", self.synthesized46),
            ("synthesized64", self.synthesized64),
            ("truncated", self.truncated),
            ("dns46_sorry", self.dns46_sorry),
            ("spoofed_reply", self.spoofed_reply),
            ("upstream_timeout", self.upstream_timeouts),
        ]
    }
}

/// What an outstanding upstream query is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// The pod's own question.
    Primary,
    /// DNS46: the A answer was empty; asking AAAA.
    Dns46Aaaa,
    /// DNS64: the AAAA answer was empty; asking A.
    Dns64A,
    /// DNS46: waiting for the mapping table (no upstream query outstanding).
    AwaitMapping,
}

/// A pod waiting for an answer.
#[derive(Debug, Clone)]
struct Waiter {
    client: IpAddr,
    client_port: u16,
    /// The address the pod sent to: the answer's source.
    local: IpAddr,
    local_port: u16,
    query: ClientQuery,
}

#[derive(Debug)]
struct Slot {
    live: bool,
    key: Option<QKey>,
    stage: Stage,
    up_query: Option<Query>,
    up_id: u16,
    up_port: u16,
    server: Option<SocketAddr>,
    zone: usize,
    server_idx: usize,
    tries: usize,
    deadline: u64,
    /// When the current upstream query was sent (microseconds, see [`DnsProxy::set_clock_us`]).
    sent_us: u64,
    /// The sanitized answer kept across a follow-up query or a mapping wait.
    held: Option<Message>,
    v6: Ipv6Addr,
    waiters: Vec<Waiter>,
}

impl Slot {
    fn new() -> Slot {
        Slot {
            live: false,
            key: None,
            stage: Stage::Primary,
            up_query: None,
            up_id: 0,
            up_port: 0,
            server: None,
            zone: 0,
            server_idx: 0,
            tries: 0,
            deadline: 0,
            sent_us: 0,
            held: None,
            v6: Ipv6Addr::UNSPECIFIED,
            waiters: Vec::with_capacity(MAX_WAITERS),
        }
    }
}

/// The DNS proxy of one worker.
pub struct DnsProxy {
    cfg: DnsSettings,
    exclusions64: Vec<Prefix6>,
    cache: Cache,
    rate: RateLimiter,
    tcp: TcpRedirect,
    rng: StdRng,
    slots: Vec<Slot>,
    free: Vec<u32>,
    by_upstream: HashMap<(u16, u16), u32>,
    by_key: HashMap<QKey, u32>,
    awaiting: Vec<u32>,
    scan: usize,
    /// No upstream deadline of a pending slot is earlier than this (see [`DnsProxy::poll`]).
    next_due: u64,
    /// The smallest deadline seen since the timeout sweep last went once round the table,
    /// and how many slots it has examined since.
    cycle_min: u64,
    swept: usize,
    /// The fast path's key buffer.
    fkey: WireKey,
    /// The cache-hit fast path is on (see [`DnsProxy::set_fast_path`]).
    fast_path: bool,
    /// Queries the fast path answered (tests tell the two paths apart with it).
    #[cfg(test)]
    fast_answers: u64,
    log: VecDeque<Dns46Log>,
    opt: [Vec<u8>; 2],
    tpl: Template,
    out: Vec<u8>,
    c: DnsCounters,
    clock_us: u64,
}

impl std::fmt::Debug for DnsProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DnsProxy")
            .field("cfg", &self.cfg)
            .field("counters", &self.c)
            .finish_non_exhaustive()
    }
}

type Emit = Result<(), ()>;

impl DnsProxy {
    /// A proxy with its tables allocated; `seed` seeds the query ID / port generator (give it
    /// 32 bytes from the OS, e.g. `rand::rng()`).
    pub fn new(cfg: DnsSettings, seed: [u8; 32]) -> DnsProxy {
        let mut rng = StdRng::from_seed(seed);
        let cap = cfg.pending_capacity.clamp(1, 1 << 20);
        let mut slots = Vec::with_capacity(cap);
        slots.resize_with(cap, Slot::new);
        let rate_seed = u64::from(rng.next_u32()) << 32 | u64::from(rng.next_u32());
        let tcp_seed = u64::from(rng.next_u32()) << 32 | u64::from(rng.next_u32());
        let cache_seed = [
            rng.next_u64(),
            rng.next_u64(),
            rng.next_u64(),
            rng.next_u64(),
        ];
        let mut p = DnsProxy {
            exclusions64: Vec::new(),
            cache: Cache::with_seed(cfg.cache_entries, cfg.cache_bytes, cache_seed),
            rate: RateLimiter::new(cfg.rate_limit, cfg.rate_slots, rate_seed),
            tcp: TcpRedirect::new(&cfg, tcp_seed),
            rng,
            slots,
            free: (0..cap as u32).rev().collect(),
            by_upstream: HashMap::with_capacity(cap),
            by_key: HashMap::with_capacity(cap),
            awaiting: Vec::with_capacity(cap),
            scan: 0,
            next_due: u64::MAX,
            cycle_min: u64::MAX,
            swept: 0,
            fkey: WireKey::default(),
            fast_path: true,
            #[cfg(test)]
            fast_answers: 0,
            log: VecDeque::with_capacity(LOG_CAPACITY),
            opt: message::opt_records(),
            tpl: Template::default(),
            out: Vec::with_capacity(4096),
            c: DnsCounters::default(),
            clock_us: 0,
            cfg,
        };
        p.tpl.wire.reserve(4096);
        p.set_exclusions();
        p
    }

    fn set_exclusions(&mut self) {
        self.exclusions64.clear();
        self.exclusions64.push(synth::V4_MAPPED);
        if let Some(d) = &self.cfg.dns64 {
            self.exclusions64.extend(d.exclusions.iter().copied());
        }
    }

    /// Applies new settings (reload): zones, DNS46/DNS64, rate limit, self IPs and ports take
    /// effect for new queries; the cache is emptied. Table sizes stay as allocated.
    pub fn reconfigure(&mut self, cfg: DnsSettings) {
        if cfg.rate_limit != self.cfg.rate_limit {
            let seed = u64::from(self.rng.next_u32());
            self.rate = RateLimiter::new(cfg.rate_limit, cfg.rate_slots, seed);
        }
        self.tcp.set_targets(&cfg);
        self.cfg = cfg;
        self.set_exclusions();
        self.cache.clear();
    }

    /// The worker's clock in microseconds (same origin as the millisecond `now` of the other
    /// calls), set once per loop iteration: upstream latencies are measured with it. Without
    /// it they are measured with `now`, to the millisecond.
    #[inline]
    pub fn set_clock_us(&mut self, us: u64) {
        self.clock_us = us;
    }

    fn now_us(&self, now: u64) -> u64 {
        self.clock_us.max(now.saturating_mul(1000))
    }

    /// Turns the cache-hit fast path ([`fast`]) on (the default) or off. Off, every query
    /// goes through the hickory-proto path; the answers are the same bytes either way, so
    /// this exists to compare the two (benchmarks, tests).
    pub fn set_fast_path(&mut self, on: bool) {
        self.fast_path = on;
    }

    /// The settings in force.
    pub fn settings(&self) -> &DnsSettings {
        &self.cfg
    }

    /// Counters, with the gauges filled in.
    pub fn counters(&self) -> DnsCounters {
        let mut c = self.c;
        c.cache_entries = self.cache.len() as u64;
        c.cache_bytes = self.cache.bytes() as u64;
        c.pending = (self.slots.len() - self.free.len()) as u64;
        let t = self.tcp.counters();
        c.tcp_redirected = t.redirected;
        c.tcp_restored = t.restored;
        c
    }

    /// The TCP/53 redirect targets (IPv4 pods, IPv6 pods).
    pub fn tcp_targets(&self) -> (Option<SocketAddr>, Option<SocketAddr>) {
        self.tcp.targets()
    }

    /// A packet towards a pod after the NAT stages: the source of a redirected TCP/53
    /// connection's segment is set back to what the pod connected to (see [`tcp`]).
    #[inline]
    pub fn restore_tcp<F: Frame>(&mut self, pkt: &mut F) -> bool {
        self.tcp.restore(pkt)
    }

    /// The answer cache (read-only).
    pub fn cache(&self) -> &Cache {
        &self.cache
    }

    /// The cached answers (slow path, allocates).
    pub fn cache_items(&self, now: u64) -> Vec<CacheItem> {
        self.cache.items(now)
    }

    /// Hands every queued DNS46 debug-log event to `f` (slow path).
    pub fn drain_log(&mut self, mut f: impl FnMut(&Dns46Log)) {
        while let Some(e) = self.log.pop_front() {
            f(&e);
        }
    }

    /// Whether a UDP packet to `dst:dport` is a reply to one of our upstream queries.
    fn is_ours(&self, dst: IpAddr, dport: u16) -> bool {
        let (lo, hi) = self.cfg.query_ports;
        let addr = match dst {
            IpAddr::V4(a) => self.cfg.self_v4 == Some(a),
            IpAddr::V6(a) => self.cfg.self_v6 == Some(a),
        };
        addr && (lo..=hi).contains(&dport)
    }

    // ---- stage: from the pods ----

    /// A packet from a pod (internal VLAN, frame starting at the IP header).
    pub fn from_pod<F, E>(&mut self, pkt: F, now: u64, env: &mut E) -> Outcome<F>
    where
        F: Frame,
        E: FrameAlloc<Frame = F> + Sink<F>,
    {
        let meta = match parse_udp(pkt.data()) {
            Ok(Some(m)) if m.dport == DNS_PORT => m,
            Ok(None) => {
                // TCP/53 goes to the redirect target through the NAT.
                let mut pkt = pkt;
                self.tcp.redirect(&mut pkt, now);
                return Outcome::Pass(pkt);
            }
            _ => return Outcome::Pass(pkt),
        };
        match meta.src {
            IpAddr::V4(_) => self.c.queries_v4 += 1,
            IpAddr::V6(_) => self.c.queries_v6 += 1,
        }
        if meta.fragment {
            self.c.malformed += 1;
            return Outcome::Drop(pkt, DropReason::DnsMalformed);
        }
        if !udp_checksum_ok(pkt.data(), &meta) {
            self.c.bad_checksum += 1;
            return Outcome::Drop(pkt, DropReason::DnsBadChecksum);
        }
        if !self.rate.allow(meta.src, now) {
            self.c.rate_limited += 1;
            return Outcome::Drop(pkt, DropReason::DnsRateLimited);
        }
        let pkt = if self.fast_path {
            match self.answer_fast(pkt, &meta, now) {
                Ok(o) => return o,
                Err(pkt) => pkt,
            }
        } else {
            pkt
        };
        let parsed = match pkt.data().get(meta.payload()) {
            Some(p) => parse_query(p),
            None => ParsedQuery::Ignore,
        };
        let q = match parsed {
            ParsedQuery::Query(q) => q,
            ParsedQuery::Ignore => {
                self.c.malformed += 1;
                return Outcome::Drop(pkt, DropReason::DnsMalformed);
            }
            ParsedQuery::Error { id, opcode, rcode } => {
                if rcode == ResponseCode::NotImp {
                    self.c.notimp += 1;
                } else {
                    self.c.formerr += 1;
                }
                error_header(id, opcode, rcode, &mut self.out);
                return self.reply_in_place(pkt, &meta);
            }
        };
        if let Some((tpl, elapsed)) = self.cache.get(&q.key, now) {
            tpl.serve(&q, elapsed, &self.opt, &mut self.out);
            self.c.cache_hit += 1;
            return self.reply_in_place(pkt, &meta);
        }
        let waiter = Waiter {
            client: meta.src,
            client_port: meta.sport,
            local: meta.dst,
            local_port: meta.dport,
            query: q,
        };
        if let Some(&s) = self.by_key.get(&waiter.query.key) {
            if let Some(slot) = self.slots.get_mut(s as usize) {
                if slot.waiters.len() < MAX_WAITERS {
                    slot.waiters.push(waiter);
                    self.c.merged += 1;
                    return Outcome::Held;
                }
            }
        }
        let Some(zone) = self.cfg.zone_for(&waiter.query.key.name) else {
            self.c.refused += 1;
            self.error_answer(&waiter.query, ResponseCode::Refused);
            return self.reply_in_place(pkt, &meta);
        };
        let Some(s) = self.free.pop() else {
            self.c.pending_full += 1;
            self.error_answer(&waiter.query, ResponseCode::ServFail);
            return self.reply_in_place(pkt, &meta);
        };
        let key = waiter.query.key.clone();
        let up_query = key.query();
        if let Some(slot) = self.slots.get_mut(s as usize) {
            slot.live = true;
            slot.stage = Stage::Primary;
            slot.zone = zone;
            slot.server_idx = 0;
            slot.tries = 0;
            slot.held = None;
            slot.up_query = Some(up_query);
            slot.waiters.clear();
            slot.waiters.push(waiter);
            slot.key = Some(key.clone());
        }
        self.by_key.insert(key, s);
        self.c.forwarded += 1;
        let mut spare = Some(pkt);
        if self.send_upstream(s, false, now, &mut spare, env).is_err() {
            self.fail_slot(s, ResponseCode::ServFail, &mut spare, env);
        }
        Outcome::Held
    }

    /// The cache-hit fast path: a plain query (see [`fast`]) whose answer is cached is
    /// answered in its own frame: the cached answer is copied around the query's question
    /// bytes, which stay where they are (so the client's 0x20 case is kept) unless the IP
    /// header shrinks; ID, RD, TTLs, OPT record and truncation are patched as
    /// [`Template::serve`] does, so the bytes are the same as the hickory path's. `Err` gives
    /// the packet back untouched: not the plain shape, or not in the cache.
    fn answer_fast<F: Frame>(
        &mut self,
        mut pkt: F,
        meta: &UdpMeta,
        now: u64,
    ) -> Result<Outcome<F>, F> {
        let Some(q) = pkt
            .data()
            .get(meta.payload())
            .and_then(|p| fast::parse(p, &mut self.fkey))
        else {
            return Err(pkt);
        };
        let key = self.fkey.as_bytes();
        let h = self.cache.hash(key);
        let Some((tpl, elapsed)) = self.cache.get_wire(key, h, now) else {
            return Err(pkt);
        };
        let wire = tpl.wire.as_slice();
        let qend = message::HEADER_LEN + q.question_len;
        if tpl.question_end != qend || wire.len() < qend {
            return Err(pkt);
        }
        let opt = match (tpl.raw, q.edns_payload) {
            (false, Some(_)) => self.opt.get(usize::from(q.dnssec_ok)).map(Vec::as_slice),
            _ => None,
        };
        let opt = opt.unwrap_or(&[]);
        let truncate = !tpl.raw && wire.len() + opt.len() > q.udp_limit();
        let body = if truncate { qend } else { wire.len() };
        // The question moves only if the query's IP header was longer than the answer's.
        let (from, to) = (meta.udp_at + 8, payload_offset(meta.dst));
        if from != to {
            let d = pkt.data_mut();
            let src = from + message::HEADER_LEN..from + qend;
            if d.get(src.clone()).is_none() || d.len() < to + qend {
                return Err(pkt);
            }
            d.copy_within(src, to + message::HEADER_LEN);
        }
        let fill = |p: &mut [u8]| {
            p[..2].copy_from_slice(&q.id.to_be_bytes());
            p[2] = (wire[2] & !0x01) | u8::from(q.recursion_desired);
            p[3..message::HEADER_LEN].copy_from_slice(&wire[3..message::HEADER_LEN]);
            p[qend..body].copy_from_slice(&wire[qend..body]);
            if !tpl.raw && !truncate && elapsed > 0 {
                for &o in &tpl.ttl_offsets {
                    let o = usize::from(o);
                    if let (Some(t), Some(d)) = (wire.get(o..o + 4), p.get_mut(o..o + 4)) {
                        let t = u32::from_be_bytes([t[0], t[1], t[2], t[3]]);
                        d.copy_from_slice(&t.saturating_sub(elapsed).to_be_bytes());
                    }
                }
            }
            if truncate {
                p[2] |= 0x02;
                p[6..12].fill(0);
            }
            if !opt.is_empty() {
                p[body..].copy_from_slice(opt);
                let ar = u16::from_be_bytes([p[10], p[11]]).saturating_add(1);
                p[10..12].copy_from_slice(&ar.to_be_bytes());
            }
        };
        let flags = (wire[2] & !0x01) | u8::from(truncate) << 1;
        let rcode = wire[3] & 0x0f;
        let r = write_udp_with(
            &mut pkt,
            meta.dst,
            meta.src,
            meta.dport,
            meta.sport,
            body + opt.len(),
            fill,
        );
        self.c.cache_hit += 1;
        #[cfg(test)]
        {
            self.fast_answers += 1;
        }
        if flags & 0x02 != 0 {
            self.c.truncated += 1;
        }
        self.count_answer_rcode(meta.src, rcode);
        Ok(match r {
            Ok(()) => Outcome::Reply(pkt),
            Err(_) => {
                self.c.emit_failed += 1;
                Outcome::Drop(pkt, DropReason::DnsEmitFailed)
            }
        })
    }

    /// Rewrites the pod's packet into the answer in `self.out`: addresses and ports swapped.
    fn reply_in_place<F: Frame>(&mut self, mut pkt: F, meta: &UdpMeta) -> Outcome<F> {
        if self.out.len() > 12 && self.out[2] & 0x02 != 0 {
            self.c.truncated += 1;
        }
        self.count_answer(meta.src);
        match write_udp(
            &mut pkt, meta.dst, meta.src, meta.dport, meta.sport, &self.out,
        ) {
            Ok(()) => Outcome::Reply(pkt),
            Err(_) => {
                self.c.emit_failed += 1;
                Outcome::Drop(pkt, DropReason::DnsEmitFailed)
            }
        }
    }

    fn count_answer(&mut self, to: IpAddr) {
        let rcode = if self.out.len() >= 4 {
            self.out[3] & 0x0f
        } else {
            0
        };
        self.count_answer_rcode(to, rcode);
    }

    fn count_answer_rcode(&mut self, to: IpAddr, rcode: u8) {
        match to {
            IpAddr::V4(_) => self.c.answers_v4 += 1,
            IpAddr::V6(_) => self.c.answers_v6 += 1,
        }
        match rcode {
            2 => self.c.servfail += 1,
            3 => self.c.nxdomain += 1,
            _ => {}
        }
    }

    /// An error answer (RCODE `rcode`, the question echoed) to `q` in `self.out`.
    fn error_answer(&mut self, q: &ClientQuery, rcode: ResponseCode) {
        let mut m = Message::error_msg(0, OpCode::Query, rcode);
        m.metadata.recursion_available = true;
        m.add_query(q.key.query());
        if self.tpl.fill(&m) {
            self.tpl.serve(q, 0, &self.opt, &mut self.out);
        } else {
            error_header(q.id, 0, rcode, &mut self.out);
        }
    }

    // ---- upstream queries ----

    /// The next usable server of the slot's zone from `server_idx` on (a server of a family
    /// without a self IP is skipped): (index, server, source).
    fn pick_server(&self, zone: usize, from: usize) -> Option<(usize, SocketAddr, IpAddr)> {
        let z = self.cfg.zones.get(zone)?;
        z.servers.iter().enumerate().skip(from).find_map(|(i, s)| {
            let src = match s.ip() {
                IpAddr::V4(_) => self.cfg.self_v4.map(IpAddr::V4),
                IpAddr::V6(_) => self.cfg.self_v6.map(IpAddr::V6),
            }?;
            Some((i, *s, src))
        })
    }

    /// Sends the slot's upstream question (`next_server`: to the server after the current
    /// one) with a fresh random ID and source port.
    fn send_upstream<F, E>(
        &mut self,
        s: u32,
        next_server: bool,
        now: u64,
        spare: &mut Option<F>,
        env: &mut E,
    ) -> Emit
    where
        F: Frame,
        E: FrameAlloc<Frame = F> + Sink<F>,
    {
        let (zone, from) = match self.slots.get(s as usize) {
            Some(sl) => (sl.zone, sl.server_idx + usize::from(next_server)),
            None => return Err(()),
        };
        let (idx, server, src) = self.pick_server(zone, from).ok_or(())?;
        self.unregister(s);
        let (lo, hi) = self.cfg.query_ports;
        let span = u32::from(hi.saturating_sub(lo)) + 1;
        let mut pick = None;
        for _ in 0..16 {
            let r = self.rng.next_u32();
            let port = lo.wrapping_add(((r >> 16) % span) as u16);
            let id = r as u16;
            if !self.by_upstream.contains_key(&(port, id)) {
                pick = Some((port, id));
                break;
            }
        }
        let (port, id) = pick.ok_or(())?;
        let slot = self.slots.get_mut(s as usize).ok_or(())?;
        let (Some(key), Some(q)) = (&slot.key, &slot.up_query) else {
            return Err(());
        };
        if !encode_upstream_query(id, key, q, &mut self.out) {
            return Err(());
        }
        slot.server_idx = idx;
        slot.server = Some(server);
        slot.up_id = id;
        slot.up_port = port;
        slot.tries += 1;
        slot.deadline = now.saturating_add(self.cfg.upstream_timeout_ms);
        let deadline = slot.deadline;
        slot.sent_us = self.clock_us.max(now.saturating_mul(1000));
        self.note_deadline(deadline);
        self.by_upstream.insert((port, id), s);
        self.c.upstream_queries += 1;
        self.emit(spare, env, src, server.ip(), port, server.port())
    }

    /// Removes the slot's upstream (port, ID) registration.
    fn unregister(&mut self, s: u32) {
        if let Some(sl) = self.slots.get(s as usize) {
            if sl.server.is_some() && self.by_upstream.get(&(sl.up_port, sl.up_id)) == Some(&s) {
                self.by_upstream.remove(&(sl.up_port, sl.up_id));
            }
        }
        if let Some(sl) = self.slots.get_mut(s as usize) {
            sl.server = None;
        }
    }

    /// Writes `self.out` as a UDP packet into the spare frame (or a new one) and queues it.
    fn emit<F, E>(
        &mut self,
        spare: &mut Option<F>,
        env: &mut E,
        src: IpAddr,
        dst: IpAddr,
        sport: u16,
        dport: u16,
    ) -> Emit
    where
        F: Frame,
        E: FrameAlloc<Frame = F> + Sink<F>,
    {
        let frame = match spare.take() {
            Some(f) => Some(f),
            None => env.alloc(),
        };
        let Some(mut f) = frame else {
            self.c.emit_failed += 1;
            return Err(());
        };
        if write_udp(&mut f, src, dst, sport, dport, &self.out).is_err() {
            self.c.emit_failed += 1;
            *spare = Some(f);
            return Err(());
        }
        match env.route(f) {
            Ok(()) => Ok(()),
            Err(f) => {
                self.c.emit_failed += 1;
                *spare = Some(f);
                Err(())
            }
        }
    }

    // ---- stage: from upstream ----

    /// A packet from the external VLAN. `Pass` unless it is UDP to one of our query ports on
    /// the external self IP.
    pub fn from_upstream<F, E, M>(
        &mut self,
        pkt: F,
        now: u64,
        env: &mut E,
        map: &mut M,
    ) -> Outcome<F>
    where
        F: Frame,
        E: FrameAlloc<Frame = F> + Sink<F>,
        M: Mapper46,
    {
        let meta = match parse_udp(pkt.data()) {
            Ok(Some(m)) if self.is_ours(m.dst, m.dport) => m,
            _ => return Outcome::Pass(pkt),
        };
        let payload = pkt.data().get(meta.payload()).unwrap_or(&[]);
        if meta.fragment || payload.len() < message::HEADER_LEN {
            self.c.upstream_malformed += 1;
            return Outcome::Drop(pkt, DropReason::DnsMalformed);
        }
        let id = u16::from_be_bytes([payload[0], payload[1]]);
        let Some(&s) = self.by_upstream.get(&(meta.dport, id)) else {
            self.c.spoofed_reply += 1;
            return Outcome::Drop(pkt, DropReason::DnsSpoofedReply);
        };
        let from = SocketAddr::new(meta.src, meta.sport);
        if self.slots.get(s as usize).and_then(|sl| sl.server) != Some(from) {
            self.c.spoofed_reply += 1;
            return Outcome::Drop(pkt, DropReason::DnsSpoofedReply);
        }
        if !udp_checksum_ok(pkt.data(), &meta) {
            self.c.bad_checksum += 1;
            return Outcome::Drop(pkt, DropReason::DnsBadChecksum);
        }
        let Ok(resp) = Message::from_vec(payload) else {
            self.c.upstream_malformed += 1;
            return Outcome::Drop(pkt, DropReason::DnsMalformed);
        };
        let matches = self.slots.get(s as usize).is_some_and(|sl| {
            resp.metadata.message_type == hickory_proto::op::MessageType::Response
                && resp.queries.len() == 1
                && sl.up_query.as_ref().is_some_and(|q| {
                    let r = &resp.queries[0];
                    r.name == q.name
                        && r.query_type == q.query_type
                        && r.query_class == q.query_class
                })
        });
        if !matches {
            self.c.spoofed_reply += 1;
            return Outcome::Drop(pkt, DropReason::DnsSpoofedReply);
        }
        self.c.upstream_replies += 1;
        if let Some(sl) = self.slots.get(s as usize) {
            let us = self.now_us(now).saturating_sub(sl.sent_us);
            let b = UPSTREAM_LATENCY_BUCKETS_US
                .iter()
                .position(|&b| us <= b)
                .unwrap_or(UPSTREAM_LATENCY_BUCKETS - 1);
            self.c.upstream_latency[b] += 1;
            self.c.upstream_latency_sum_us += us;
        }
        self.unregister(s);
        let truncated = resp.metadata.truncation;
        if truncated {
            // Kept as received so the client retries over TCP.
            let ok = self.tpl.fill_raw(payload);
            let mut spare = Some(pkt);
            let stage = self.slots.get(s as usize).map(|sl| sl.stage);
            if stage == Some(Stage::Primary) && ok {
                self.c.truncated += 1;
                self.answer_waiters(s, &mut spare, env);
                self.release(s);
            } else {
                // The follow-up of a synthesis was truncated: answer with the kept answer.
                let held = self.slots.get_mut(s as usize).and_then(|sl| sl.held.take());
                match held {
                    Some(h) => self.finish(s, &h, true, now, &mut spare, env),
                    None => self.fail_slot(s, ResponseCode::ServFail, &mut spare, env),
                }
            }
            return Outcome::Held;
        }
        let mut spare = Some(pkt);
        self.on_answer(s, resp, now, &mut spare, env, map);
        Outcome::Held
    }

    /// An accepted, parsed upstream answer for slot `s`.
    fn on_answer<F, E, M>(
        &mut self,
        s: u32,
        resp: Message,
        now: u64,
        spare: &mut Option<F>,
        env: &mut E,
        map: &mut M,
    ) where
        F: Frame,
        E: FrameAlloc<Frame = F> + Sink<F>,
        M: Mapper46,
    {
        let Some(sl) = self.slots.get(s as usize) else {
            return;
        };
        let (Some(key), Some(upq)) = (sl.key.clone(), sl.up_query.as_ref()) else {
            return;
        };
        let stage = sl.stage;
        let up_key = QKey {
            name: upq.name.clone(),
            qtype: upq.query_type,
            qclass: upq.query_class,
            ..key.clone()
        };
        let rcode = resp.metadata.response_code;
        if stage == Stage::Primary
            && matches!(rcode, ResponseCode::ServFail | ResponseCode::Refused)
            && self.pick_server(sl.zone, sl.server_idx + 1).is_some()
        {
            if self.send_upstream(s, true, now, spare, env).is_err() {
                self.fail_slot(s, ResponseCode::ServFail, spare, env);
            }
            return;
        }
        let clean = sanitize(&resp, &up_key);
        let dnssec_bypass = key.dnssec_ok && key.checking_disabled;
        let inet = key.qclass == DNSClass::IN && !dnssec_bypass;
        match stage {
            Stage::Primary => {
                if inet
                    && key.qtype == RecordType::A
                    && self.cfg.dns46.is_some()
                    && synth::dns46_needs_aaaa(&clean)
                {
                    self.follow_up(
                        s,
                        Stage::Dns46Aaaa,
                        RecordType::AAAA,
                        clean,
                        now,
                        spare,
                        env,
                    );
                } else if inet
                    && key.qtype == RecordType::AAAA
                    && self.cfg.dns64.is_some()
                    && synth::dns64_needs_a(&clean, &self.exclusions64)
                {
                    self.follow_up(s, Stage::Dns64A, RecordType::A, clean, now, spare, env);
                } else {
                    self.finish(s, &clean, true, now, spare, env);
                }
            }
            Stage::Dns46Aaaa => match synth::dns46_candidate(&clean) {
                Some((v6, _)) => {
                    if let Some(sl) = self.slots.get_mut(s as usize) {
                        sl.v6 = v6;
                        sl.held = Some(clean);
                    }
                    self.try_mapping(s, now, spare, env, map);
                }
                None => self.finish_held(s, now, spare, env),
            },
            Stage::Dns64A => {
                let synthesized = match (
                    &self.cfg.dns64,
                    self.slots.get(s as usize).and_then(|sl| sl.held.as_ref()),
                ) {
                    (Some(d), Some(orig)) => synth::dns64_answer(&key, orig, &clean, &d.prefix),
                    _ => None,
                };
                match synthesized {
                    Some(m) => {
                        self.c.synthesized64 += 1;
                        self.finish(s, &m, true, now, spare, env);
                    }
                    None => self.finish_held(s, now, spare, env),
                }
            }
            Stage::AwaitMapping => {}
        }
    }

    /// Keeps `held` and asks the follow-up question `qtype` for the same name.
    #[allow(clippy::too_many_arguments)]
    fn follow_up<F, E>(
        &mut self,
        s: u32,
        stage: Stage,
        qtype: RecordType,
        held: Message,
        now: u64,
        spare: &mut Option<F>,
        env: &mut E,
    ) where
        F: Frame,
        E: FrameAlloc<Frame = F> + Sink<F>,
    {
        let Some(sl) = self.slots.get_mut(s as usize) else {
            return;
        };
        let Some(key) = &sl.key else { return };
        let mut q = Query::query(key.name.clone(), qtype);
        q.set_query_class(key.qclass);
        sl.up_query = Some(q);
        sl.stage = stage;
        sl.held = Some(held);
        sl.tries = 0;
        // Same server first (it answered); `send_upstream` picks from `server_idx`.
        if self.send_upstream(s, false, now, spare, env).is_err() {
            self.finish_held(s, now, spare, env);
        }
    }

    /// Asks the mapping table for the slot's AAAA; answers, or waits (`AwaitMapping`).
    fn try_mapping<F, E, M>(
        &mut self,
        s: u32,
        now: u64,
        spare: &mut Option<F>,
        env: &mut E,
        map: &mut M,
    ) where
        F: Frame,
        E: FrameAlloc<Frame = F> + Sink<F>,
        M: Mapper46,
    {
        let Some(d46) = self.cfg.dns46.clone() else {
            self.fail_slot(s, ResponseCode::ServFail, spare, env);
            return;
        };
        let Some(sl) = self.slots.get(s as usize) else {
            return;
        };
        let v6 = sl.v6;
        let result = map.map_v6(v6, now);
        let (v4, created, sorry) = match result {
            Map46::Mapped { v4, created } => (v4, created, false),
            Map46::Exhausted => match d46.sorry_ip {
                Some(ip) => (ip, false, true),
                None => {
                    self.c.dns46_unavailable += 1;
                    self.fail_slot(s, ResponseCode::ServFail, spare, env);
                    return;
                }
            },
            Map46::Unavailable => {
                self.c.dns46_unavailable += 1;
                self.fail_slot(s, ResponseCode::ServFail, spare, env);
                return;
            }
            Map46::Pending => {
                if let Some(sl) = self.slots.get_mut(s as usize) {
                    if sl.stage != Stage::AwaitMapping {
                        sl.stage = Stage::AwaitMapping;
                        sl.deadline = now.saturating_add(d46.mapping_timeout_ms);
                        let deadline = sl.deadline;
                        self.awaiting.push(s);
                        self.note_deadline(deadline);
                    }
                }
                return;
            }
        };
        let Some(sl) = self.slots.get(s as usize) else {
            return;
        };
        let (Some(key), Some(held)) = (&sl.key, &sl.held) else {
            self.fail_slot(s, ResponseCode::ServFail, spare, env);
            return;
        };
        let answer = synth::dns46_answer(key, held, v4, d46.max_ttl);
        let ttl = answer
            .answers
            .iter()
            .find(|r| r.record_type() == RecordType::A)
            .map_or(0, |r| r.ttl);
        if self.cfg.debug_log {
            let mut e = Dns46Log {
                name: [0; 256],
                name_len: 0,
                v6,
                v4,
                ttl,
                created,
                sorry,
            };
            let mut n = 0usize;
            for label in key.name.iter() {
                for &b in label.iter().chain(b".".iter()) {
                    if n < 255 {
                        e.name[n] = b;
                        n += 1;
                    }
                }
            }
            e.name_len = n as u8;
            if self.log.len() < LOG_CAPACITY {
                self.log.push_back(e);
            } else {
                self.c.log_dropped += 1;
            }
        }
        if created {
            self.c.dns46_mappings_created += 1;
        }
        if sorry {
            self.c.dns46_sorry += 1;
        } else {
            self.c.synthesized46 += 1;
        }
        self.finish(s, &answer, !sorry, now, spare, env);
    }

    /// Answers with the kept answer (the synthesis did not apply).
    fn finish_held<F, E>(&mut self, s: u32, now: u64, spare: &mut Option<F>, env: &mut E)
    where
        F: Frame,
        E: FrameAlloc<Frame = F> + Sink<F>,
    {
        let held = self.slots.get_mut(s as usize).and_then(|sl| sl.held.take());
        match held {
            Some(h) => self.finish(s, &h, true, now, spare, env),
            None => self.fail_slot(s, ResponseCode::ServFail, spare, env),
        }
    }

    /// Answers every waiter of slot `s` with `m` (caching it if `cache` and cacheable) and frees
    /// the slot.
    fn finish<F, E>(
        &mut self,
        s: u32,
        m: &Message,
        cache: bool,
        now: u64,
        spare: &mut Option<F>,
        env: &mut E,
    ) where
        F: Frame,
        E: FrameAlloc<Frame = F> + Sink<F>,
    {
        if !self.tpl.fill(m) {
            self.fail_slot(s, ResponseCode::ServFail, spare, env);
            return;
        }
        if cache {
            if let (Some(ttl), Some(key)) = (
                cache_ttl(m),
                self.slots.get(s as usize).and_then(|sl| sl.key.as_ref()),
            ) {
                self.cache.insert(key, &self.tpl, ttl, now);
            }
        }
        self.answer_waiters(s, spare, env);
        self.release(s);
    }

    /// Answers every waiter of slot `s` with RCODE `rcode` and frees the slot.
    fn fail_slot<F, E>(&mut self, s: u32, rcode: ResponseCode, spare: &mut Option<F>, env: &mut E)
    where
        F: Frame,
        E: FrameAlloc<Frame = F> + Sink<F>,
    {
        let key = self.slots.get(s as usize).and_then(|sl| sl.key.clone());
        let mut m = Message::error_msg(0, OpCode::Query, rcode);
        m.metadata.recursion_available = true;
        if let Some(k) = key {
            m.add_query(k.query());
        }
        if self.tpl.fill(&m) {
            self.answer_waiters(s, spare, env);
        }
        self.release(s);
    }

    /// Serves `self.tpl` to every waiter of slot `s`.
    fn answer_waiters<F, E>(&mut self, s: u32, spare: &mut Option<F>, env: &mut E)
    where
        F: Frame,
        E: FrameAlloc<Frame = F> + Sink<F>,
    {
        let Some(sl) = self.slots.get_mut(s as usize) else {
            return;
        };
        let waiters = std::mem::take(&mut sl.waiters);
        for w in &waiters {
            self.tpl.serve(&w.query, 0, &self.opt, &mut self.out);
            if self.out.len() > 12 && self.out[2] & 0x02 != 0 && !self.tpl.raw {
                self.c.truncated += 1;
            }
            self.count_answer(w.client);
            let _ = self.emit(spare, env, w.local, w.client, w.local_port, w.client_port);
        }
        if let Some(sl) = self.slots.get_mut(s as usize) {
            sl.waiters = waiters;
            sl.waiters.clear();
        }
    }

    /// Frees slot `s`.
    fn release(&mut self, s: u32) {
        self.unregister(s);
        let Some(sl) = self.slots.get_mut(s as usize) else {
            return;
        };
        if !sl.live {
            return;
        }
        sl.live = false;
        sl.held = None;
        sl.up_query = None;
        sl.waiters.clear();
        if let Some(k) = sl.key.take() {
            if self.by_key.get(&k) == Some(&s) {
                self.by_key.remove(&k);
            }
        }
        self.free.push(s);
    }

    // ---- timers ----

    /// A pending slot's deadline was set to `deadline`: the timeout sweep must not be skipped
    /// past it.
    #[inline]
    fn note_deadline(&mut self, deadline: u64) {
        self.next_due = self.next_due.min(deadline);
        self.cycle_min = self.cycle_min.min(deadline);
    }

    /// Upstream timeouts (next name server, then SERVFAIL) and pending DNS46 mappings, in
    /// bounded steps. Call once per burst: it returns at once when nothing can be due (no
    /// mapping awaited, and no pending slot or `now` before the earliest deadline known).
    ///
    /// The timeout sweep examines [`POLL_SCAN`] slots per call, round the table. `next_due`
    /// is at most every pending slot's deadline: each new deadline lowers it, and when the
    /// sweep has gone once round the table it becomes the smallest deadline seen on the way
    /// (or set meanwhile), so skipping the sweep while `now < next_due` misses nothing.
    pub fn poll<F, E, M>(&mut self, now: u64, env: &mut E, map: &mut M)
    where
        F: Frame,
        E: FrameAlloc<Frame = F> + Sink<F>,
        M: Mapper46,
    {
        if self.awaiting.is_empty() {
            if self.free.len() == self.slots.len() {
                // Nothing pending: nothing can be due.
                self.next_due = u64::MAX;
                self.cycle_min = u64::MAX;
                self.swept = 0;
                return;
            }
            if now < self.next_due {
                return;
            }
        }
        let mut spare: Option<F> = None;
        // Mappings: retry each waiting slot (bounded by the list, itself bounded by the table).
        let mut i = 0;
        while i < self.awaiting.len() && i < POLL_SCAN {
            let s = self.awaiting[i];
            let state = self
                .slots
                .get(s as usize)
                .map(|sl| (sl.live && sl.stage == Stage::AwaitMapping, sl.deadline));
            if let Some((true, deadline)) = state {
                self.try_mapping(s, now, &mut spare, env, map);
                let still = self
                    .slots
                    .get(s as usize)
                    .is_some_and(|sl| sl.live && sl.stage == Stage::AwaitMapping);
                if still && now < deadline {
                    i += 1;
                    continue;
                }
                if still {
                    self.c.dns46_unavailable += 1;
                    self.fail_slot(s, ResponseCode::ServFail, &mut spare, env);
                }
            }
            self.awaiting.swap_remove(i);
        }
        // Upstream timeouts: a bounded sweep of the table.
        if now < self.next_due {
            return;
        }
        let n = self.slots.len();
        for _ in 0..POLL_SCAN.min(n) {
            self.scan = (self.scan + 1) % n;
            self.swept += 1;
            let s = self.scan as u32;
            let pending = self
                .slots
                .get(s as usize)
                .filter(|sl| sl.live && sl.stage != Stage::AwaitMapping)
                .map(|sl| sl.deadline);
            let Some(deadline) = pending else {
                continue;
            };
            if now < deadline {
                self.cycle_min = self.cycle_min.min(deadline);
                continue;
            }
            self.c.upstream_timeouts += 1;
            self.on_timeout(s, now, &mut spare, env);
            // Still pending (a new deadline, or one that could not be renewed): keep it in
            // view.
            if let Some(sl) = self.slots.get(s as usize) {
                if sl.live && sl.stage != Stage::AwaitMapping {
                    self.cycle_min = self.cycle_min.min(sl.deadline);
                }
            }
        }
        if self.swept >= n {
            self.next_due = self.cycle_min;
            self.cycle_min = u64::MAX;
            self.swept = 0;
        }
    }

    /// Slot `s`'s upstream query timed out: the next server, or what its stage falls back to.
    fn on_timeout<F, E>(&mut self, s: u32, now: u64, spare: &mut Option<F>, env: &mut E)
    where
        F: Frame,
        E: FrameAlloc<Frame = F> + Sink<F>,
    {
        if self.send_upstream(s, true, now, spare, env).is_ok() {
            return;
        }
        let stage = self.slots.get(s as usize).map(|sl| sl.stage);
        if matches!(stage, Some(Stage::Dns46Aaaa | Stage::Dns64A)) {
            // The follow-up went unanswered: the kept answer is still right.
            self.finish_held(s, now, spare, env);
        } else if stage == Some(Stage::Primary) && self.dns64_applies(s) {
            // RFC 6147 5.1.3: an AAAA query that timed out is a SERVFAIL, which 5.1.2
            // treats as an empty answer: ask A (first server again).
            let held = self.slots.get_mut(s as usize).and_then(|sl| {
                sl.server_idx = 0;
                let key = sl.key.as_ref()?;
                let mut m = Message::error_msg(0, OpCode::Query, ResponseCode::ServFail);
                m.metadata.recursion_available = true;
                m.add_query(key.query());
                Some(m)
            });
            match held {
                Some(h) => self.follow_up(s, Stage::Dns64A, RecordType::A, h, now, spare, env),
                None => self.fail_slot(s, ResponseCode::ServFail, spare, env),
            }
        } else {
            self.fail_slot(s, ResponseCode::ServFail, spare, env);
        }
    }

    /// Whether DNS64 synthesis applies to slot `s`'s question (AAAA, class IN, DNS64 on, not
    /// both CD and DO).
    fn dns64_applies(&self, s: u32) -> bool {
        self.cfg.dns64.is_some()
            && self
                .slots
                .get(s as usize)
                .and_then(|sl| sl.key.as_ref())
                .is_some_and(|k| {
                    k.qtype == RecordType::AAAA
                        && k.qclass == DNSClass::IN
                        && !(k.dnssec_ok && k.checking_disabled)
                })
    }
}
