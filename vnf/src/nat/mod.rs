//! Stateful NAT of egress traffic: SNAT44, and SNAT66 with `dual_stack` (RFC 4787, RFC 5382,
//! RFC 5508, RFC 6056, RFC 6888, RFC 7857); the session table is shared with NAT46/NAT64.
//!
//! One [`Nat`] per worker lcore. The data path calls three functions (docs/datapath.md):
//! - [`Nat::in2out`] for IP packets from an internal VLAN (frame starts at the IP header):
//!   finds or opens the session, rewrites the source address and port (or ICMP identifier),
//!   updates the IPv4 header and TCP/UDP/ICMP checksums incrementally (RFC 1624), and returns
//!   `Route`; ICMP errors from pods are translated (outer source and embedded destination).
//! - [`Nat::out2in`] for IP packets from the external VLAN: when the destination is a SNAT
//!   address and the packet matches a session, rewrites the destination (or, for an ICMP error,
//!   the outer destination and the embedded source) and returns `Route`; otherwise `Pass`.
//! - [`Nat::poll`] once per burst: bounded expiry and port reclaiming.
//!
//! Before `out2in`, a worker with several siblings asks [`Nat::owner_of`] which worker owns the
//! packet (its SNAT port decides, [`owner_worker`]) and hands it over when it is not itself.
//!
//! Behaviour (see `table` and `ports` for the details):
//! - endpoint-independent mapping (RFC 4787 REQ-1, RFC 5382 REQ-1), address-and-port-dependent
//!   filtering (RFC 4787 REQ-8 permits it): inbound packets need a session;
//! - paired address pooling (RFC 4787 REQ-2): a keyed hash of the pod's address picks its SNAT
//!   address, identically on every worker;
//! - port preservation when the pod's port is free in this worker's block, else RFC 6056
//!   section 3.3.1 random selection; a released port waits `port_reuse_delay` (RFC 6888);
//! - TCP tracking (SYN, FIN, RST, simultaneous open; RFC 5382, RFC 7857); idle timeouts
//!   UDP 300 s, TCP established 7440 s, transitory 240 s, ICMP query 60 s (configurable);
//! - ICMP echo identifiers are mapped like ports (RFC 5508 section 3); ICMP errors are
//!   translated with their embedded packet (addresses, ports, embedded IP and transport
//!   checksums, the ICMP checksum) and never refresh the session (RFC 5508 section 4);
//! - exhaustion, quotas, a full table: the new flow is dropped and counted, existing sessions
//!   are untouched.
//!
//! Not translated: non-first fragments (dropped, `nat_fragment`), hairpinning (`nat_hairpin`),
//! protocols other than TCP, UDP, ICMP query and error.
//!
//! Invariants: no allocation after [`Nat::new`]; no panic on any input (every byte access is
//! checked); per call work is bounded.

pub mod frag;
pub mod hash;
pub mod index;
mod nat46;
mod nat64;
pub mod ports;
mod snat;
pub mod stateful;
pub mod table;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod xlat_tests;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::action::Outcome;
use crate::frame::Frame;

pub use ports::owner_worker;
pub use stateful::{StaticBib, XlatMeta, XlatNat, XlatNatConfig, XlatNatCounters};
pub use table::{
    Dir, FlowKey, MappingView, NewSession, OpenError, Session, SessionKind, SessionTable,
    TableConfig, TableCounters, TcpSeen, Timeouts, LOOKUP_BURST,
};

/// An address as the session table stores it: IPv6, or IPv4 as IPv4-mapped IPv6.
pub type Addr = [u8; 16];

/// The table form of an IPv4 address (`::ffff:a.b.c.d`).
#[inline]
pub fn addr_v4(a: Ipv4Addr) -> Addr {
    a.to_ipv6_mapped().octets()
}

/// The table form of an IPv6 address.
#[inline]
pub fn addr_v6(a: &Ipv6Addr) -> Addr {
    a.octets()
}

/// True if the table address is an IPv4 one (IPv4-mapped).
#[inline(always)]
pub fn is_v4_mapped(a: &Addr) -> bool {
    // The first 96 bits are `::ffff`: one 128-bit compare instead of a 12-byte slice compare.
    u128::from_be_bytes(*a) >> 32 == 0xffff
}

/// The address a table address stands for.
pub fn addr_ip(a: &Addr) -> IpAddr {
    let v6 = Ipv6Addr::from(*a);
    match v6.to_ipv4_mapped() {
        Some(v4) => IpAddr::V4(v4),
        None => IpAddr::V6(v6),
    }
}

/// Sessions looked at (at most) and ports reclaimed (at most) per [`Nat::poll`]. The worker
/// calls it once per millisecond of its clock, so this is also the rate per millisecond:
/// 256 k sessions swept and up to 256 k ports given back per second.
pub const POLL_BUDGET: usize = 256;

/// Everything the workers' [`Nat`]s are built from (the same for every worker).
#[derive(Debug, Clone)]
pub struct NatConfig {
    /// Egress SNAT on.
    pub enabled: bool,
    /// SNAT66 on (`dualStackEnabled`).
    pub dual_stack: bool,
    /// Number of workers (port blocks).
    pub workers: u16,
    /// The table parameters (`worker` is set by [`Nat::new`]).
    pub table: TableConfig,
}

impl NatConfig {
    /// From the `[snat]` section: the pools, or the external self IPs when a pool is empty
    /// (automap). The per-pod quota is split over the workers (each allows
    /// `ceil(ports_per_pod / workers)`), since a pod's flows all land on one worker when RSS
    /// hashes the internal port on the source address only (docs/nat.md).
    pub fn from_config(
        snat: &egress_config::Snat,
        workers: u16,
        automap_v4: Option<Ipv4Addr>,
        automap_v6: Option<Ipv6Addr>,
    ) -> NatConfig {
        let workers = workers.max(1);
        let mut pool_v4: Vec<Addr> = snat.pool_v4.iter().map(|a| addr_v4(*a)).collect();
        if pool_v4.is_empty() {
            pool_v4.extend(automap_v4.map(addr_v4));
        }
        let mut pool_v6: Vec<Addr> = snat.pool_v6.iter().map(addr_v6).collect();
        if pool_v6.is_empty() {
            pool_v6.extend(automap_v6.as_ref().map(addr_v6));
        }
        let t = &snat.timeouts;
        let ms = |s: u32| u64::from(s) * 1000;
        NatConfig {
            enabled: snat.enabled,
            dual_stack: snat.dual_stack,
            workers,
            table: TableConfig {
                capacity: snat.sessions_per_worker,
                timeouts: Timeouts {
                    udp: ms(t.udp),
                    tcp_established: ms(t.tcp_established),
                    tcp_transitory: ms(t.tcp_transitory),
                    icmp: ms(t.icmp),
                    port_reuse_delay: ms(t.port_reuse_delay),
                },
                pool_v4,
                pool_v6,
                port_min: snat.port_min,
                port_max: snat.port_max,
                workers,
                worker: 0,
                pod_quota: snat.ports_per_pod.div_ceil(u32::from(workers)),
                secret: hash::random_secret(),
            },
        }
    }
}

/// What the data path tells the NAT about a packet from an internal VLAN.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NatMeta {
    /// Egress applies to the packet's VLAN (`snat.vlan_list` / `disable_listed_vlans`, see
    /// `egress_config::Snat::applies_to_vlan`; the data path computes it per VLAN once).
    pub egress: bool,
}

/// Counters of one virtual server (CONTRACT section 1, `show vs stats`). Client side = the pods'
/// side, server side = the world's side; `_in` = towards the VNF, `_out` = from it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VsCounters {
    pub clientside_tot_conns: u64,
    pub clientside_cur_conns: u64,
    pub clientside_pkts_in: u64,
    pub clientside_pkts_out: u64,
    pub clientside_bytes_in: u64,
    pub clientside_bytes_out: u64,
    pub serverside_tot_conns: u64,
    pub serverside_cur_conns: u64,
    pub serverside_pkts_in: u64,
    pub serverside_pkts_out: u64,
    pub serverside_bytes_in: u64,
    pub serverside_bytes_out: u64,
}

/// The NAT counters of one worker.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NatCounters {
    /// Per virtual server, indexed by [`SessionKind::index`] (`egress-ipv4`, `egress-ipv6`,
    /// `egress-ipv4-nat46`, `egress-ipv6-nat64`).
    pub vs: [VsCounters; SessionKind::COUNT],
    /// Live sessions by kind (`egress_nat_sessions_active{kind}`).
    pub sessions_active: [u64; SessionKind::COUNT],
    /// Live mappings (ports in use).
    pub mappings_active: u64,
    /// Failed session opens by kind, indexed by [`OpenError::index`]
    /// (`egress_nat_port_alloc_failures_total{kind}`).
    pub alloc_failures: [u64; OpenError::COUNT],
    /// Sessions that timed out.
    pub sessions_expired: u64,
    /// ICMP errors translated (both directions).
    pub icmp_errors_translated: u64,
}

impl NatCounters {
    /// The counters of a virtual server.
    pub fn vs(&self, kind: SessionKind) -> &VsCounters {
        &self.vs[kind.index()]
    }

    /// Adds another worker's counters (the slow path sums the workers).
    pub fn add(&mut self, o: &NatCounters) {
        for (a, b) in self.vs.iter_mut().zip(o.vs.iter()) {
            a.clientside_tot_conns += b.clientside_tot_conns;
            a.clientside_cur_conns += b.clientside_cur_conns;
            a.clientside_pkts_in += b.clientside_pkts_in;
            a.clientside_pkts_out += b.clientside_pkts_out;
            a.clientside_bytes_in += b.clientside_bytes_in;
            a.clientside_bytes_out += b.clientside_bytes_out;
            a.serverside_tot_conns += b.serverside_tot_conns;
            a.serverside_cur_conns += b.serverside_cur_conns;
            a.serverside_pkts_in += b.serverside_pkts_in;
            a.serverside_pkts_out += b.serverside_pkts_out;
            a.serverside_bytes_in += b.serverside_bytes_in;
            a.serverside_bytes_out += b.serverside_bytes_out;
        }
        for (a, b) in self.sessions_active.iter_mut().zip(o.sessions_active) {
            *a += b;
        }
        for (a, b) in self.alloc_failures.iter_mut().zip(o.alloc_failures) {
            *a += b;
        }
        self.mappings_active += o.mappings_active;
        self.sessions_expired += o.sessions_expired;
        self.icmp_errors_translated += o.icmp_errors_translated;
    }
}

/// Packet counts kept per kind (the connection counts come from the table).
#[derive(Debug, Clone, Copy, Default)]
struct Traffic {
    in2out_pkts: u64,
    in2out_bytes: u64,
    out2in_pkts: u64,
    out2in_bytes: u64,
}

/// The NAT state of one worker.
#[derive(Debug, Clone)]
pub struct Nat {
    enabled: bool,
    dual_stack: bool,
    workers: u16,
    worker: u16,
    table: SessionTable,
    traffic: [Traffic; SessionKind::COUNT],
    alloc_failures: [u64; OpenError::COUNT],
    icmp_errors: u64,
}

/// A stage result without the frame (the byte-level functions return it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    Pass,
    Route,
    Drop(crate::drop::DropReason),
}

impl Nat {
    /// The NAT of worker `worker` (its port blocks, its preallocated table).
    pub fn new(cfg: &NatConfig, worker: u16) -> Nat {
        let mut t = cfg.table.clone();
        t.workers = cfg.workers.max(1);
        t.worker = worker;
        Nat {
            enabled: cfg.enabled,
            dual_stack: cfg.dual_stack,
            workers: t.workers,
            worker,
            table: SessionTable::new(&t),
            traffic: [Traffic::default(); SessionKind::COUNT],
            alloc_failures: [0; OpenError::COUNT],
            icmp_errors: 0,
        }
    }

    /// This worker's index.
    pub fn worker(&self) -> u16 {
        self.worker
    }

    /// The session table (for `show sessions`, and for NAT46/NAT64).
    pub fn table(&self) -> &SessionTable {
        &self.table
    }

    /// The session table, mutably (NAT46/NAT64 open and look up their sessions in it).
    pub fn table_mut(&mut self) -> &mut SessionTable {
        &mut self.table
    }

    /// Stage: a packet from an internal VLAN (IP header first).
    #[inline]
    pub fn in2out<F: Frame>(&mut self, mut pkt: F, meta: &NatMeta, now: u64) -> Outcome<F> {
        if !self.enabled || !meta.egress {
            return Outcome::Pass(pkt);
        }
        match self.in2out_bytes(pkt.data_mut(), now) {
            Step::Pass => Outcome::Pass(pkt),
            Step::Route => Outcome::Route(pkt),
            Step::Drop(r) => Outcome::Drop(pkt, r),
        }
    }

    /// Stage: a packet from the external VLAN (IP header first).
    #[inline]
    pub fn out2in<F: Frame>(&mut self, mut pkt: F, now: u64) -> Outcome<F> {
        if !self.enabled {
            return Outcome::Pass(pkt);
        }
        match self.out2in_bytes(pkt.data_mut(), now) {
            Step::Pass => Outcome::Pass(pkt),
            Step::Route => Outcome::Route(pkt),
            Step::Drop(r) => Outcome::Drop(pkt, r),
        }
    }

    /// Expiry and port reclaiming, bounded by [`POLL_BUDGET`]. Returns the sessions freed.
    pub fn poll(&mut self, now: u64) -> usize {
        self.table.sweep(now, POLL_BUDGET)
    }

    /// The worker that owns a packet from the external VLAN (IP header first): the owner of its
    /// SNAT port, or `None` when it is not a NAT return packet (not to a SNAT address, no port).
    pub fn owner_of(&self, data: &[u8]) -> Option<u16> {
        if self.workers <= 1 {
            return Some(0);
        }
        Some(owner_worker(self.return_port(data)?, self.workers))
    }

    /// The SNAT port (or ICMP identifier) a packet from the external VLAN (IP header first) is
    /// for: its destination port, its echo reply identifier, or the source port of the packet
    /// embedded in an ICMP error. `None` when it is not to a SNAT address or has no port.
    #[inline]
    pub fn return_port(&self, data: &[u8]) -> Option<u16> {
        snat::return_port(data, |a| self.table.is_snat_addr(a))
    }

    /// Burst pre-pass, step 1: computes the lookup a packet (IP header first) will make and
    /// starts loading its index slot. Returns what step 2 needs, or `None` (nothing to
    /// prefetch: not TCP/UDP/echo, or NAT off).
    #[inline]
    pub fn prefetch(&self, data: &[u8]) -> Option<(Dir, u64)> {
        if !self.enabled {
            return None;
        }
        let (dir, key) = snat::prefetch_key(data, |a| self.table.is_snat_addr(a))?;
        let h = self.table.key_hash(&key);
        self.table.prefetch(dir, h);
        Some((dir, h))
    }

    /// Burst pre-pass, step 2 (after step 1 for the whole burst): starts loading the session
    /// the slot points to.
    #[inline]
    pub fn prefetch_session(&self, dir: Dir, hash: u64) {
        self.table.prefetch_session(dir, hash);
    }

    /// The counters.
    pub fn counters(&self) -> NatCounters {
        let t = self.table.counters();
        let mut c = NatCounters {
            sessions_active: t.active,
            mappings_active: t.mappings,
            alloc_failures: self.alloc_failures,
            sessions_expired: t.expired,
            icmp_errors_translated: self.icmp_errors,
            ..NatCounters::default()
        };
        for k in SessionKind::ALL {
            let i = k.index();
            let tr = &self.traffic[i];
            c.vs[i] = VsCounters {
                clientside_tot_conns: t.created[i],
                clientside_cur_conns: t.active[i],
                clientside_pkts_in: tr.in2out_pkts,
                clientside_pkts_out: tr.out2in_pkts,
                clientside_bytes_in: tr.in2out_bytes,
                clientside_bytes_out: tr.out2in_bytes,
                serverside_tot_conns: t.created[i],
                serverside_cur_conns: t.active[i],
                serverside_pkts_in: tr.out2in_pkts,
                serverside_pkts_out: tr.in2out_pkts,
                serverside_bytes_in: tr.out2in_bytes,
                serverside_bytes_out: tr.in2out_bytes,
            };
        }
        c
    }
}
