//! The DNS proxy alone (no DPDK): `VecFrame`s, the `TestEnv` sink, the real worker mapping
//! table answered by the in-process store.
//!
//! Every packet the proxy emits must be a well-formed UDP datagram with a right checksum.

use crate::{config, dns_query, self_ext6, udp_packet, POD4, RESOLVER4, SELF_EXT4, UPSTREAM_DNS4};
use egress_vnf::action::{Outcome, TestEnv};
use egress_vnf::dns::packet::{parse_udp, udp_checksum_ok};
use egress_vnf::dns::{DnsProxy, DnsSettings};
use egress_vnf::frame::{Frame, VecFrame};
use egress_vnf::mapping::{MappingConfig, MappingTable};
use egress_vnf::slowpath::dssm::SliceAllocator;
use egress_vnf::slowpath::localmap::{LocalMapStats, LocalStore};
use std::net::{IpAddr, Ipv6Addr};

/// A proxy, its environment and its mapping service.
pub struct Harness {
    pub proxy: DnsProxy,
    pub env: TestEnv,
    pub maps: MappingTable,
    store: LocalStore,
    stats: LocalMapStats,
    pub now: u64,
}

impl Default for Harness {
    fn default() -> Self {
        Self::new()
    }
}

impl Harness {
    pub fn new() -> Harness {
        let cfg = config();
        let settings =
            DnsSettings::from_config(&cfg, Some(SELF_EXT4), Some(self_ext6()), (61440, 65535));
        Harness {
            proxy: DnsProxy::new(settings, [0x33; 32]),
            env: TestEnv::default(),
            maps: MappingTable::new(MappingConfig {
                capacity: 64,
                ..MappingConfig::default()
            }),
            store: LocalStore::new(SliceAllocator::from_config(&cfg.nat46, 0)),
            stats: LocalMapStats::default(),
            now: 10_000,
        }
    }

    /// A pod's address of the family `v6`.
    pub fn pod(v6: bool) -> IpAddr {
        if v6 {
            IpAddr::V6(crate::pod6())
        } else {
            IpAddr::V4(POD4)
        }
    }

    /// The pods' resolver address of the family `v6`.
    pub fn resolver(v6: bool) -> IpAddr {
        if v6 {
            IpAddr::V6("fd00:96::10".parse().unwrap_or(Ipv6Addr::UNSPECIFIED))
        } else {
            IpAddr::V4(RESOLVER4)
        }
    }

    /// A packet (IP header first) from a pod.
    pub fn from_pod(&mut self, pkt: &[u8]) -> Outcome<VecFrame> {
        self.proxy
            .from_pod(VecFrame::new(pkt), self.now, &mut self.env)
    }

    /// A packet (IP header first) from the external VLAN.
    pub fn from_upstream(&mut self, pkt: &[u8]) -> Outcome<VecFrame> {
        self.proxy
            .from_upstream(VecFrame::new(pkt), self.now, &mut self.env, &mut self.maps)
    }

    /// Lets `ms` pass: timers, mapping requests answered, waiting queries resumed.
    pub fn advance(&mut self, ms: u64) {
        self.now += ms;
        for _ in 0..3 {
            let (store, stats) = (&mut self.store, &self.stats);
            let mut answers = Vec::new();
            self.maps.take_requests(|reqs| {
                answers.extend(reqs.iter().map(|r| store.serve(r, stats)));
                reqs.len()
            });
            for a in &answers {
                self.maps.apply(a, self.now);
            }
            self.proxy.poll(self.now, &mut self.env, &mut self.maps);
        }
    }

    /// Takes the emitted packets; panics on one that is not well-formed UDP.
    pub fn take_checked(&mut self) -> Vec<VecFrame> {
        let out: Vec<VecFrame> = self.env.routed.drain(..).collect();
        for f in &out {
            let m = match parse_udp(f.data()) {
                Ok(Some(m)) => m,
                other => panic!(
                    "emitted a packet that is not UDP: {other:?} {:02x?}",
                    f.data()
                ),
            };
            assert!(
                udp_checksum_ok(f.data(), &m),
                "emitted a UDP packet with a bad checksum: {:02x?}",
                f.data()
            );
        }
        out
    }

    /// A valid query from a pod; returns the upstream query's (server, our port, id, payload).
    pub fn query_upstream(
        &mut self,
        v6_pod: bool,
        name: &str,
        qtype: u16,
    ) -> Option<(IpAddr, u16, u16, Vec<u8>)> {
        let q = dns_query(0x4242, name, qtype);
        let pkt = udp_packet(Self::pod(v6_pod), Self::resolver(v6_pod), 40000, 53, &q);
        let _ = self.from_pod(&pkt);
        let out = self.take_checked();
        let f = out.first()?;
        let m = parse_udp(f.data()).ok()??;
        let payload = f.data().get(m.payload())?.to_vec();
        let id = u16::from_be_bytes([*payload.first()?, *payload.get(1)?]);
        Some((m.dst, m.sport, id, payload))
    }
}

/// The upstream's reply packet to our query port.
pub fn reply_packet(server: IpAddr, port: u16, msg: &[u8]) -> Vec<u8> {
    let to = match server {
        IpAddr::V4(_) => IpAddr::V4(SELF_EXT4),
        IpAddr::V6(_) => IpAddr::V6(self_ext6()),
    };
    udp_packet(server, to, 53, port, msg)
}

/// The upstream DNS server of the `.` zone.
pub fn upstream4() -> IpAddr {
    IpAddr::V4(UPSTREAM_DNS4)
}
