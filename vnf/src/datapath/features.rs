//! Stage 4 of the pipeline: the egress functions, in order (docs/datapath.md).
//!
//! ```text
//!  internal VLAN:  dns.from_pod  ->  nat46/nat64 in2out  ->  siit  ->  snat in2out
//!  external VLAN:  dns.from_upstream  ->  snat out2in  ->  nat46/nat64 out2in  ->  dns.restore_tcp
//!                  (then siit for what they passed)
//! ```
//!
//! The first stage that does not `Pass` decides. The non-first fragment of a datagram whose
//! first fragment a NAT46/NAT64 session translated skips the SNAT (it has no ports to find its
//! session by) and goes straight to nat46/nat64 out2in. The stateless SIIT stage (`[siit]`)
//! sees what the stateful ones passed: a packet of a NAT46/NAT64 session never meets it.
//! Packets the stages create (upstream DNS queries, answers to pods, ICMP errors, fragments,
//! released held packets) go to a bounded route queue that the pipeline drains after each packet. Everything here is per worker and
//! preallocated at start; the settings shared by the workers are built once ([`FeatureSetup`]).

use crate::action::{FrameAlloc, Outcome, Sink};
use crate::dns::{DnsCounters, DnsProxy, DnsSettings};
use crate::drop::DropReason;
use crate::mapping::{MappingConfig, MappingCounters, MappingRequest, MappingResult, MappingTable};
use crate::nat::stateful::{XlatMeta, XlatNat, XlatNatConfig, XlatNatCounters};
use crate::nat::{Nat, NatConfig, NatCounters, NatMeta};
use crate::net::{RxMeta, VlanId};
use crate::xlat::{SiitCounters, SiitStage};
use rte::{Burst, Mbuf, Mempool, Ring};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

/// What the stages need to know about one VLAN (indexed by `VlanId`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct VlanFeature {
    /// The pods' side.
    pub internal: bool,
    /// Egress applies to this VLAN (`snat.vlan_list` / `disable_listed_vlans`).
    pub egress: bool,
    pub self_v4: Option<Ipv4Addr>,
    pub self_v6: Option<Ipv6Addr>,
}

/// The rings between one worker and the mapping service of the slow path.
#[derive(Clone)]
pub struct MapRings {
    pub requests: Arc<Ring<MappingRequest>>,
    pub results: Arc<Ring<MappingResult>>,
}

/// Settings shared by every worker's stages, built once from the config.
#[derive(Clone)]
pub struct FeatureSetup {
    pub vlans: Vec<VlanFeature>,
    /// Session table and SNAT (None: no NAT function configured).
    pub nat: Option<NatConfig>,
    /// NAT46/NAT64 (None: both off).
    pub xnat: Option<XlatNatConfig>,
    /// Stateless SIIT (None: `[siit]` off); each worker gets its own copy.
    pub siit: Option<SiitStage>,
    /// DNS gateway; the query ports are split per worker by the caller.
    pub dns: Option<DnsSettings>,
    pub mapping: MappingConfig,
}

/// Counters of every stage of one worker.
#[derive(Debug, Clone, Copy, Default)]
pub struct FeatureCounters {
    pub nat: NatCounters,
    pub xnat: XlatNatCounters,
    pub siit: SiitCounters,
    pub dns: DnsCounters,
    pub mapping: MappingCounters,
    pub sessions: u64,
}

impl FeatureCounters {
    /// Sums another worker's counters into these.
    pub fn add(&mut self, o: &FeatureCounters) {
        self.nat.add(&o.nat);
        self.xnat.add(&o.xnat);
        let (x, y) = (&mut self.siit, &o.siit);
        x.translated_4to6 += y.translated_4to6;
        x.translated_6to4 += y.translated_6to4;
        x.fragments_out += y.fragments_out;
        x.icmp_errors += y.icmp_errors;
        x.dropped += y.dropped;
        x.passed += y.passed;
        let (a, b) = (&mut self.dns, &o.dns);
        macro_rules! sum {
            ($($f:ident),*) => { $( a.$f += b.$f; )* };
        }
        sum!(
            queries_v4,
            queries_v6,
            answers_v4,
            answers_v6,
            cache_hit,
            forwarded,
            merged,
            rate_limited,
            formerr,
            notimp,
            refused,
            malformed,
            bad_checksum,
            servfail,
            nxdomain,
            synthesized46,
            synthesized64,
            truncated,
            tcp_redirected,
            tcp_restored,
            dns46_mappings_created,
            dns46_sorry,
            dns46_unavailable,
            upstream_queries,
            upstream_replies,
            upstream_timeouts,
            spoofed_reply,
            upstream_malformed,
            cache_entries,
            cache_bytes,
            pending,
            upstream_latency_sum_us
        );
        for (x, y) in a.upstream_latency.iter_mut().zip(b.upstream_latency) {
            *x += y;
        }
        self.sessions += o.sessions;
    }
}

/// Allocates frames from the worker's pool.
pub struct PoolAlloc(pub Option<Mempool>);

impl FrameAlloc for PoolAlloc {
    type Frame = Mbuf;
    #[inline]
    fn alloc(&mut self) -> Option<Mbuf> {
        self.0.and_then(|p| p.alloc().ok())
    }
}

/// Packets created by the stages, to route (bounded: a full queue refuses the packet and the
/// stage counts the drop).
#[derive(Default)]
pub struct RouteQueue(pub Burst);

impl Sink<Mbuf> for RouteQueue {
    #[inline]
    fn route(&mut self, pkt: Mbuf) -> Result<(), Mbuf> {
        self.0.push(pkt)
    }
}

/// Allocator and route queue together, for stages that take one environment.
pub struct StageEnv {
    pub alloc: PoolAlloc,
    pub routed: RouteQueue,
}

impl FrameAlloc for StageEnv {
    type Frame = Mbuf;
    #[inline]
    fn alloc(&mut self) -> Option<Mbuf> {
        self.alloc.alloc()
    }
}

impl Sink<Mbuf> for StageEnv {
    #[inline]
    fn route(&mut self, pkt: Mbuf) -> Result<(), Mbuf> {
        self.routed.route(pkt)
    }
}

/// One worker's egress functions.
pub struct Features {
    vlans: Vec<VlanFeature>,
    nat: Option<Nat>,
    xnat: Option<XlatNat<Mbuf>>,
    siit: Option<SiitStage>,
    dns: Option<DnsProxy>,
    maps: MappingTable,
    rings: Option<MapRings>,
    pub env: StageEnv,
    /// Outcomes of held packets released by `poll`, settled by the pipeline.
    released: Vec<Outcome<Mbuf>>,
}

impl Features {
    /// Builds worker `worker`'s stages. `seed` makes query IDs, ports and hashes unpredictable.
    pub fn new(
        setup: &FeatureSetup,
        worker: u16,
        pool: Mempool,
        rings: Option<MapRings>,
        seed: [u8; 32],
    ) -> Features {
        let mut mcfg = setup.mapping;
        mcfg.worker = worker;
        let mut maps = MappingTable::new(mcfg);
        let mut nat = setup.nat.as_ref().map(|c| Nat::new(c, worker));
        let xnat = match (&setup.xnat, nat.as_mut()) {
            (Some(xc), Some(n)) => {
                xc.load_static_mappings(&mut maps);
                Some(XlatNat::new(xc, n))
            }
            _ => None,
        };
        let dns = setup.dns.clone().map(|s| DnsProxy::new(s, seed));
        Features {
            vlans: setup.vlans.clone(),
            nat,
            xnat,
            siit: setup.siit.clone(),
            dns,
            maps,
            rings,
            env: StageEnv {
                alloc: PoolAlloc(Some(pool)),
                routed: RouteQueue::default(),
            },
            released: Vec::with_capacity(256),
        }
    }

    #[inline]
    fn vlan(&self, id: VlanId) -> VlanFeature {
        self.vlans
            .get(usize::from(id.0))
            .copied()
            .unwrap_or_default()
    }

    /// Stage 4 for one packet (IP header first).
    #[inline]
    pub fn run(&mut self, pkt: Mbuf, meta: &RxMeta, now: u64) -> Outcome<Mbuf> {
        let v = self.vlan(meta.vlan);
        if v.internal {
            self.pod_side(pkt, &v, now)
        } else {
            self.world_side(pkt, &v, now)
        }
    }

    /// Internal VLAN: DNS, then NAT46/NAT64, then SNAT.
    #[inline]
    fn pod_side(&mut self, pkt: Mbuf, v: &VlanFeature, now: u64) -> Outcome<Mbuf> {
        if !v.egress {
            return Outcome::Drop(pkt, DropReason::Unclassified);
        }
        let pkt = match self.dns.as_mut() {
            Some(dns) => match dns.from_pod(pkt, now, &mut self.env) {
                Outcome::Pass(p) => p,
                o => return o,
            },
            None => pkt,
        };
        let pkt = match (self.xnat.as_mut(), self.nat.as_mut()) {
            (Some(x), Some(nat)) => {
                let xm = XlatMeta {
                    egress: v.egress,
                    self_v4: v.self_v4,
                    self_v6: v.self_v6,
                };
                let StageEnv { alloc, routed } = &mut self.env;
                match x.in2out(nat, &mut self.maps, pkt, &xm, now, alloc, routed) {
                    Outcome::Pass(p) => p,
                    o => return o,
                }
            }
            _ => pkt,
        };
        let pkt = match self.siit.as_mut() {
            Some(siit) => match siit_run(siit, pkt, v, &mut self.env) {
                Outcome::Pass(p) => p,
                o => return o,
            },
            None => pkt,
        };
        match self.nat.as_mut() {
            Some(nat) => nat.in2out(pkt, &NatMeta { egress: v.egress }, now),
            None => Outcome::Pass(pkt),
        }
    }

    /// External VLAN: DNS replies, then SNAT sessions, then NAT46/NAT64 sessions, then SIIT.
    #[inline]
    fn world_side(&mut self, pkt: Mbuf, v: &VlanFeature, now: u64) -> Outcome<Mbuf> {
        let pkt = match self.dns.as_mut() {
            Some(dns) => match dns.from_upstream(pkt, now, &mut self.env, &mut self.maps) {
                Outcome::Pass(p) => p,
                o => return o,
            },
            None => pkt,
        };
        let o = match (self.nat.as_mut(), self.xnat.as_mut()) {
            (Some(nat), Some(x)) if x.tracks_fragment(pkt.data(), now) => {
                let StageEnv { alloc, routed } = &mut self.env;
                x.out2in(nat, pkt, now, alloc, routed)
            }
            (Some(nat), x) => match nat.out2in(pkt, now) {
                Outcome::Pass(p) => match x {
                    Some(x) => {
                        let StageEnv { alloc, routed } = &mut self.env;
                        x.out2in(nat, p, now, alloc, routed)
                    }
                    None => Outcome::Pass(p),
                },
                o => o,
            },
            (None, _) => Outcome::Pass(pkt),
        };
        match (o, self.siit.as_mut()) {
            (Outcome::Pass(p), Some(siit)) => siit_run(siit, p, v, &mut self.env),
            (o, _) => self.dns_tcp_restore(o),
        }
    }

    /// TCP/53 redirected by the DNS stage: the pod sees the address it connected to.
    #[inline]
    fn dns_tcp_restore(&mut self, o: Outcome<Mbuf>) -> Outcome<Mbuf> {
        match (o, self.dns.as_mut()) {
            (Outcome::Route(mut p), Some(dns)) => {
                dns.restore_tcp(&mut p);
                Outcome::Route(p)
            }
            (o, _) => o,
        }
    }

    /// Once per loop: mapping results in, requests out, held packets; with `timers` (once per
    /// millisecond, see `Worker::housekeeping`) also the timer walks: session expiry and port
    /// reclaiming, and the DNS proxy's (run as well when mapping results came in, which it may
    /// be waiting for). Released packets end up in `released` (settled by the pipeline through
    /// [`Features::released_buf`]).
    pub fn poll(&mut self, now: u64, timers: bool) {
        let mut results = 0;
        if let Some(r) = &self.rings {
            for _ in 0..64 {
                match r.results.dequeue() {
                    Some(res) => {
                        self.maps.apply(&res, now);
                        results += 1;
                    }
                    None => break,
                }
            }
            let requests = r.requests.clone();
            self.maps.take_requests(|reqs| requests.enqueue_burst(reqs));
        }
        if let Some(nat) = self.nat.as_mut() {
            if timers {
                nat.poll(now);
            }
            if let Some(x) = self.xnat.as_mut() {
                let StageEnv { alloc, routed } = &mut self.env;
                let released = &mut self.released;
                x.poll(nat, &mut self.maps, now, alloc, routed, |o| {
                    released.push(o)
                });
            }
        }
        if timers || results > 0 {
            if let Some(dns) = self.dns.as_mut() {
                dns.poll(now, &mut self.env, &mut self.maps);
            }
        }
    }

    /// The outcomes of the held packets released by the last `poll` (the buffer is lent to
    /// the pipeline and given back with [`Features::return_released_buf`], so nothing is
    /// allocated per poll).
    pub fn released_buf(&mut self) -> Vec<Outcome<Mbuf>> {
        std::mem::take(&mut self.released)
    }

    /// Gives the (emptied) buffer of [`Features::released_buf`] back.
    pub fn return_released_buf(&mut self, mut buf: Vec<Outcome<Mbuf>>) {
        buf.clear();
        self.released = buf;
    }

    /// Moves every created packet to `out`, in order.
    #[inline]
    pub fn drain_routed(&mut self, out: &mut Burst) {
        std::mem::swap(&mut self.env.routed.0, out);
    }

    /// New DNS settings from a live reload (zones, cache, rate limit, timeouts).
    pub fn reconfigure_dns(&mut self, settings: DnsSettings) {
        if let Some(dns) = self.dns.as_mut() {
            dns.reconfigure(settings);
        }
    }

    /// The worker's clock in microseconds, once per loop iteration (DNS upstream latency).
    #[inline]
    pub fn set_clock_us(&mut self, us: u64) {
        if let Some(dns) = self.dns.as_mut() {
            dns.set_clock_us(us);
        }
    }

    /// Counters of every stage.
    pub fn counters(&self) -> FeatureCounters {
        FeatureCounters {
            siit: self
                .siit
                .as_ref()
                .map(SiitStage::counters)
                .unwrap_or_default(),
            nat: self.nat.as_ref().map(Nat::counters).unwrap_or_default(),
            xnat: self
                .xnat
                .as_ref()
                .map(XlatNat::counters)
                .unwrap_or_default(),
            dns: self
                .dns
                .as_ref()
                .map(DnsProxy::counters)
                .unwrap_or_default(),
            mapping: self.maps.counters(),
            sessions: self.nat.as_ref().map_or(0, |n| n.table().len() as u64),
        }
    }

    /// The DNS46 translations to log (when `debug_log`), oldest first.
    pub fn drain_dns_log(&mut self, f: impl FnMut(&crate::dns::Dns46Log)) {
        if let Some(dns) = self.dns.as_mut() {
            dns.drain_log(f);
        }
    }

    /// The session table, for `show sessions`.
    pub fn nat(&self) -> Option<&Nat> {
        self.nat.as_ref()
    }

    /// The DNS proxy, for `show dns cache`.
    pub fn dns(&self) -> Option<&DnsProxy> {
        self.dns.as_ref()
    }

    /// The mapping cache, for `show dns46 mappings`.
    pub fn maps(&self) -> &MappingTable {
        &self.maps
    }
}

/// The SIIT stage for one packet, by IP version; ICMP errors the translator answers with come
/// from the input VLAN's self IP (the destination's address when the VLAN has none).
#[inline]
fn siit_run(siit: &mut SiitStage, pkt: Mbuf, v: &VlanFeature, env: &mut StageEnv) -> Outcome<Mbuf> {
    let StageEnv { alloc, routed } = env;
    let d = pkt.data();
    match d.first().map(|b| b >> 4) {
        Some(4) => {
            let own = d.get(16..20).map_or(Ipv4Addr::UNSPECIFIED, |b| {
                Ipv4Addr::new(b[0], b[1], b[2], b[3])
            });
            siit.v4_to_v6(pkt, v.self_v4.unwrap_or(own), alloc, routed)
        }
        Some(6) => {
            let mut a = [0u8; 16];
            if let Some(b) = d.get(24..40) {
                a.copy_from_slice(b);
            }
            siit.v6_to_v4(pkt, v.self_v6.unwrap_or(Ipv6Addr::from(a)), alloc, routed)
        }
        _ => Outcome::Pass(pkt),
    }
}

/// First port of the DNS proxy's upstream query range: the SNAT ports stay below it when both
/// share the external self IP (automap).
pub const DNS_QUERY_PORT_MIN: u16 = 61440;

impl FeatureSetup {
    /// Builds the shared settings from the config and the network layer's VLANs (same order as
    /// `VlanId`). Errors name the config field. `None` when no egress function is configured.
    pub fn from_config(
        cfg: &egress_config::VnfConfig,
        net: &crate::net::NetConfig,
        workers: u16,
    ) -> Result<Option<FeatureSetup>, (String, String)> {
        let vlans: Vec<VlanFeature> = net
            .vlans
            .iter()
            .map(|v| VlanFeature {
                internal: v.internal,
                egress: v.internal && cfg.snat.applies_to_vlan(&v.name),
                self_v4: v.self_v4.map(|(a, _)| a),
                self_v6: v.self_v6.map(|(a, _)| a),
            })
            .collect();
        // The external self IPs: SNAT automap and the source of upstream DNS queries.
        let ext = net.vlans.iter().filter(|v| !v.internal);
        let ext_v4 = ext.clone().find_map(|v| v.self_v4.map(|(a, _)| a));
        let ext_v6 = ext.clone().find_map(|v| v.self_v6.map(|(a, _)| a));
        let ext_mtu = ext.clone().map(|v| v.mtu).next().unwrap_or(1500);

        let xlat_on = cfg.nat46.enabled || cfg.nat64.enabled;
        let nat = (cfg.snat.enabled || xlat_on).then(|| {
            let mut snat = cfg.snat.clone();
            if cfg.dns.enabled && snat.port_max >= DNS_QUERY_PORT_MIN {
                snat.port_max = DNS_QUERY_PORT_MIN - 1;
            }
            NatConfig::from_config(&snat, workers, ext_v4, ext_v6)
        });
        let xnat = if xlat_on {
            let xc = crate::xlat::XlatConfig {
                ipv6_mtu: ext_mtu,
                ipv4_mtu: ext_mtu,
                ..crate::xlat::XlatConfig::default()
            };
            Some(
                XlatNatConfig::from_config(&cfg.nat46, &cfg.nat64, xc)
                    .map_err(|e| ("nat64.prefix".to_string(), format!("{e:?}")))?,
            )
        } else {
            None
        };
        let dns = cfg
            .dns
            .enabled
            .then(|| DnsSettings::from_config(cfg, ext_v4, ext_v6, (DNS_QUERY_PORT_MIN, u16::MAX)));
        let siit = if cfg.siit.enabled {
            let s = &cfg.siit;
            let xc = crate::xlat::XlatConfig {
                ipv6_mtu: ext_mtu,
                ipv4_mtu: ext_mtu,
                ..crate::xlat::XlatConfig::default()
            };
            let eamt: Vec<(Ipv4Addr, u8, Ipv6Addr, u8)> = s
                .eamt
                .iter()
                .map(|e| {
                    (
                        e.ipv4_prefix.network(),
                        e.ipv4_prefix.len,
                        e.ipv6_prefix.network(),
                        e.ipv6_prefix.len,
                    )
                })
                .collect();
            // RFC 6791: ICMP errors from untranslatable routers take the external self IPs.
            let pool6 = s.pool6.map(|p| (p.network(), p.len));
            let rfc6791_v4: Vec<Ipv4Addr> = ext_v4.into_iter().collect();
            Some(
                SiitStage::new(xc, pool6, &eamt, &rfc6791_v4, ext_v6)
                    .map_err(|e| ("siit".to_string(), e.to_string()))?,
            )
        } else {
            None
        };
        if nat.is_none() && dns.is_none() && siit.is_none() {
            return Ok(None);
        }
        Ok(Some(FeatureSetup {
            vlans,
            nat,
            xnat,
            siit,
            dns,
            mapping: MappingConfig::default(),
        }))
    }

    /// This worker's copy: its share of the DNS query ports.
    pub fn for_worker(&self, worker: u16, workers: u16) -> FeatureSetup {
        let mut s = self.clone();
        if let Some(d) = s.dns.as_mut() {
            d.query_ports = crate::dns::worker_query_ports(d.query_ports, worker, workers);
        }
        s
    }
}
