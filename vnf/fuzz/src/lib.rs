//! Shared parts of the data-plane fuzz targets: the topology every target uses, the record
//! format of the pipeline target, the DPDK world it runs in, and the DNS harness.
//!
//! Topology (one TMM, every egress function on):
//!
//! ```text
//!   pods  ── port 1.1, VLAN 100 "internal" (10.1.0.1/16, fd00:1::1/64) ──┐
//!                                                                       VNF
//!   world ── port 1.2, VLAN 200 "external" (192.0.2.2/24, 2001:db8:200::2/64) ──┘
//!             gateways 192.0.2.1 and 2001:db8:200::1, upstream DNS 192.0.2.53:53
//! ```
//!
//! SNAT (automap, dual stack), NAT46 (10.250.1.0/24, static mapping 10.250.1.5 ->
//! 2001:db8:300::80), NAT64 (64:ff9b::/96), DNS proxy with DNS46/DNS64, mappings served by the
//! in-process store.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

#[path = "../../../tests/src/frames.rs"]
#[allow(dead_code)]
pub mod frames;

pub mod dns;
pub mod pipeline;

/// The MAC addresses the harness gives ports 1.1 and 1.2.
pub const PORT_MACS: [[u8; 6]; 2] = [
    [0x02, 0x00, 0x00, 0x00, 0x00, 0x01],
    [0x02, 0x00, 0x00, 0x00, 0x00, 0x02],
];
pub const INTERNAL_TAG: u16 = 100;
pub const EXTERNAL_TAG: u16 = 200;
pub const SELF_INT4: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 1);
pub const SELF_EXT4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
pub const GW4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
pub const POD4: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 5);
pub const SERVER4: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 7);
pub const UPSTREAM_DNS4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 53);
pub const RESOLVER4: Ipv4Addr = Ipv4Addr::new(10, 96, 0, 10);
pub const NAT46_STATIC4: Ipv4Addr = Ipv4Addr::new(10, 250, 1, 5);

pub fn self_int6() -> Ipv6Addr {
    "fd00:1::1".parse().unwrap_or(Ipv6Addr::UNSPECIFIED)
}
pub fn self_ext6() -> Ipv6Addr {
    "2001:db8:200::2".parse().unwrap_or(Ipv6Addr::UNSPECIFIED)
}
pub fn gw6() -> Ipv6Addr {
    "2001:db8:200::1".parse().unwrap_or(Ipv6Addr::UNSPECIFIED)
}
pub fn pod6() -> Ipv6Addr {
    "fd00:1::5".parse().unwrap_or(Ipv6Addr::UNSPECIFIED)
}
pub fn server6() -> Ipv6Addr {
    "2001:db8:300::80".parse().unwrap_or(Ipv6Addr::UNSPECIFIED)
}
/// SERVER4 behind the NAT64 prefix.
pub fn server4_in_64() -> Ipv6Addr {
    "64:ff9b::c633:6407"
        .parse()
        .unwrap_or(Ipv6Addr::UNSPECIFIED)
}

/// The config of every target (small tables: a fresh pipeline per input stays cheap).
pub const CONFIG: &str = r#"
tmm_index = 0

[dataplane]
mode = "egress"
mbufs = 2047
mbuf_cache = 32

[control]
metrics_listen = "off"

[[vlans]]
name = "internal"
interfaces = ["1.1"]
tag = 100
internal = true
self_v4 = "10.1.0.1"
prefixlen_v4 = 16
self_v6 = "fd00:1::1"
prefixlen_v6 = 64

[[vlans]]
name = "external"
interfaces = ["1.2"]
tag = 200
self_v4 = "192.0.2.2"
prefixlen_v4 = 24
self_v6 = "2001:db8:200::2"
prefixlen_v6 = 64

[[routes]]
destination = "0.0.0.0"
prefix_len = 0
gateway = "192.0.2.1"

[[routes]]
destination = "::"
prefix_len = 0
gateway = "2001:db8:200::1"

[snat]
dual_stack = true
sessions_per_worker = 1024
ports_per_pod = 64

[nat46]
enabled = true
ipv4_subnet = "10.250.1.0/24"
max_reserved_static_ips = 8
max_tmm_replicas = 1
sorry_ip = "10.250.1.254"
static_mappings = [{ ipv4 = "10.250.1.5", ipv6 = "2001:db8:300::80" }]

[nat64]
enabled = true
static_bib = [{ protocol = "tcp", ipv6 = "fd00:1::80", port6 = 80, ipv4 = "192.0.2.2", port4 = 8080 }]

[dns]
enabled = true
cache_entries = 64
pending_capacity = 64
upstream_timeout_ms = 500
rate_limit = 50

[[dns.forward_zones]]
zone = "."
servers = ["192.0.2.53:53"]

[[dns.forward_zones]]
zone = "corp.example"
servers = ["[2001:db8:200::53]:53"]
"#;

/// The parsed config (panics only if the constant above is wrong: a harness bug).
pub fn config() -> egress_config::VnfConfig {
    match egress_config::VnfConfig::from_toml_str(CONFIG, std::path::Path::new("fuzz.toml")) {
        Ok(c) => c,
        Err(e) => panic!("fuzz harness config: {e}"),
    }
}

/// One frame of a pipeline input: `ctl` then a big-endian length then the frame.
///
/// `ctl` bit 0: the port (0 = 1.1 internal, 1 = 1.2 external); bits 1-7: milliseconds to let
/// pass before the frame, in units of 25 ms (up to 3.2 s: DNS and neighbour timers fire).
#[derive(Debug, Clone, Copy)]
pub struct Record<'a> {
    pub port: u16,
    pub advance_ms: u64,
    pub frame: &'a [u8],
}

/// Splits an input into records; a short last record takes what is left.
pub fn records(mut data: &[u8]) -> impl Iterator<Item = Record<'_>> {
    std::iter::from_fn(move || {
        let (&ctl, rest) = data.split_first()?;
        let (len, rest) = match rest {
            [a, b, rest @ ..] => (usize::from(u16::from_be_bytes([*a, *b])), rest),
            _ => (rest.len(), &rest[rest.len()..]),
        };
        let n = len.min(rest.len());
        let (frame, rest) = rest.split_at(n);
        data = rest;
        Some(Record {
            port: u16::from(ctl & 1),
            advance_ms: u64::from(ctl >> 1) * 25,
            frame,
        })
    })
}

/// Builds an input from (port, advance in 25 ms units, frame).
pub fn encode_records(recs: &[(u16, u8, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (port, adv, frame) in recs {
        out.push(((adv & 0x7f) << 1) | (*port as u8 & 1));
        out.extend_from_slice(&(frame.len() as u16).to_be_bytes());
        out.extend_from_slice(frame);
    }
    out
}

/// A minimal DNS query (RD set) for `name` and `qtype`.
pub fn dns_query(id: u16, name: &str, qtype: u16) -> Vec<u8> {
    let mut m = Vec::new();
    m.extend_from_slice(&id.to_be_bytes());
    m.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    push_name(&mut m, name);
    m.extend_from_slice(&qtype.to_be_bytes());
    m.extend_from_slice(&[0, 1]);
    m
}

/// Appends `name` in wire format (no compression).
pub fn push_name(m: &mut Vec<u8>, name: &str) {
    for label in name.split('.').filter(|l| !l.is_empty()) {
        m.push(label.len().min(63) as u8);
        m.extend_from_slice(&label.as_bytes()[..label.len().min(63)]);
    }
    m.push(0);
}

/// An IP packet (header first) carrying UDP `payload`, checksums right.
pub fn udp_packet(src: IpAddr, dst: IpAddr, sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    use frames::{udp, Ips, PROTO_UDP};
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let ips = Ips::V4(s, d);
            ips.wrap(PROTO_UDP, &udp(ips, sport, dport, payload))
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            let ips = Ips::V6(s, d);
            ips.wrap(PROTO_UDP, &udp(ips, sport, dport, payload))
        }
        _ => Vec::new(),
    }
}
