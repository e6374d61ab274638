//! The TOML schema of the VNF's configuration file (see `docs/config.md`).

use crate::net::{Ipv4Prefix, Ipv6Prefix};
use serde::{Deserialize, Serialize};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The whole configuration file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VnfConfig {
    /// EAL arguments (the ones after `--` on the command line are appended).
    #[serde(default)]
    pub eal: Vec<String>,
    /// This replica's TMM index (selects self IPs, SNAT addresses and the DNS46 slice).
    #[serde(default)]
    pub tmm_index: u32,
    #[serde(default)]
    pub dataplane: Dataplane,
    #[serde(default)]
    pub control: Control,
    #[serde(default)]
    pub vlans: Vec<Vlan>,
    /// Static routes (F5SPKStaticRoute).
    #[serde(default)]
    pub routes: Vec<Route>,
    #[serde(default)]
    pub snat: Snat,
    #[serde(default)]
    pub nat46: Nat46,
    #[serde(default)]
    pub nat64: Nat64,
    #[serde(default)]
    pub siit: Siit,
    #[serde(default)]
    pub dns: Dns,
    #[serde(default)]
    pub dssm: Dssm,
    #[serde(default)]
    pub log: Log,
}

/// Data-plane mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// The egress gateway (network layer and features).
    #[default]
    Egress,
    /// Plain L2 bridge between ports 1.1 and 1.2 (I/O path checks and benchmarks).
    Bridge,
}

/// Worker and port resources.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Dataplane {
    pub mode: Mode,
    /// Number of worker lcores (the EAL lcore list must provide workers + 1 lcores; the main
    /// lcore runs the slow path).
    pub workers: u16,
    /// Mbufs in the packet pool (per NUMA socket).
    pub mbufs: u32,
    /// Per-lcore mempool cache size.
    pub mbuf_cache: u32,
    /// RX descriptors per queue.
    pub rx_desc: u16,
    /// TX descriptors per queue.
    pub tx_desc: u16,
    /// A partly filled TX buffer is flushed after this many microseconds.
    pub tx_drain_us: u32,
    /// Put every port in promiscuous mode.
    pub promiscuous: bool,
}

impl Default for Dataplane {
    fn default() -> Self {
        Dataplane {
            mode: Mode::Egress,
            workers: 1,
            mbufs: 16383,
            mbuf_cache: 256,
            rx_desc: 1024,
            tx_desc: 1024,
            tx_drain_us: 100,
            promiscuous: true,
        }
    }
}

/// Control socket and metrics endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Control {
    /// Unix socket of the CLI (`egressctl`), created with mode 0600.
    pub socket: String,
    /// Prometheus listen address, or `off`.
    pub metrics_listen: String,
}

impl Default for Control {
    fn default() -> Self {
        Control {
            socket: "/run/egress-vnf/control.sock".into(),
            metrics_listen: "[::]:9464".into(),
        }
    }
}

/// One VLAN (from an F5SPKVlan), already narrowed to this TMM's self IPs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Vlan {
    pub name: String,
    /// Port names (`1.1`, `1.2`, ...).
    pub interfaces: Vec<String>,
    /// 802.1Q id; 0 = untagged.
    #[serde(default)]
    pub tag: u16,
    #[serde(default = "default_mtu")]
    pub mtu: u16,
    /// true = the pods' side.
    #[serde(default)]
    pub internal: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub self_v4: Option<Ipv4Addr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefixlen_v4: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub self_v6: Option<Ipv6Addr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefixlen_v6: Option<u8>,
}

fn default_mtu() -> u16 {
    1500
}

/// One static route (from an F5SPKStaticRoute). Destination and gateway are of the same family.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    /// Destination network address (host bits must be zero).
    pub destination: IpAddr,
    /// Destination prefix length (0..=32 for IPv4, 0..=128 for IPv6; 0 = default route).
    pub prefix_len: u8,
    /// Next hop; must be reachable on a VLAN subnet (the VNF resolves it by ARP/NDP).
    pub gateway: IpAddr,
}

/// NAT session timeouts, in seconds (RFC 6146 / RFC 7857 defaults).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Timeouts {
    pub udp: u32,
    pub tcp_established: u32,
    pub tcp_transitory: u32,
    pub icmp: u32,
    /// A released (address, port) is not handed out again before this many seconds.
    pub port_reuse_delay: u32,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            udp: 300,
            tcp_established: 7440,
            tcp_transitory: 240,
            icmp: 60,
            port_reuse_delay: 120,
        }
    }
}

/// Source NAT of egress traffic (F5SPKEgress + F5SPKSnatpool), narrowed to this TMM.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Snat {
    /// Egress SNAT on (the `egress-ipv4` / `egress-ipv6` virtual servers).
    pub enabled: bool,
    /// This TMM's IPv4 SNAT addresses; empty = automap to the external VLAN's IPv4 self IP.
    pub pool_v4: Vec<Ipv4Addr>,
    /// This TMM's IPv6 SNAT addresses (also the NAT46 sources); empty = automap.
    pub pool_v6: Vec<Ipv6Addr>,
    /// Also serve IPv6 egress (`dualStackEnabled`).
    pub dual_stack: bool,
    /// Lowest SNAT source port.
    pub port_min: u16,
    /// Highest SNAT source port.
    pub port_max: u16,
    /// Session-table capacity of each worker (preallocated).
    pub sessions_per_worker: u32,
    /// Most SNAT ports one pod (source address) may hold at once; 0 = no quota.
    pub ports_per_pod: u32,
    /// Internal VLANs named by `vlanList`.
    pub vlan_list: Vec<String>,
    /// false: egress applies only to the VLANs of `vlan_list` (all internal VLANs when empty);
    /// true: egress applies to every internal VLAN except those of `vlan_list`.
    pub disable_listed_vlans: bool,
    pub timeouts: Timeouts,
}

impl Default for Snat {
    fn default() -> Self {
        Snat {
            enabled: true,
            pool_v4: Vec::new(),
            pool_v6: Vec::new(),
            dual_stack: false,
            port_min: 1024,
            port_max: 65535,
            sessions_per_worker: 1 << 20,
            ports_per_pod: 0,
            vlan_list: Vec::new(),
            disable_listed_vlans: false,
            timeouts: Timeouts::default(),
        }
    }
}

impl Snat {
    /// Whether egress applies to traffic arriving on the internal VLAN `name`.
    pub fn applies_to_vlan(&self, name: &str) -> bool {
        let listed = self.vlan_list.iter().any(|v| v == name);
        if self.disable_listed_vlans {
            !listed
        } else {
            self.vlan_list.is_empty() || listed
        }
    }
}

/// A manual DNS46 mapping (IPv4 from the reserved range -> IPv6 host).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaticMapping46 {
    pub ipv4: Ipv4Addr,
    pub ipv6: Ipv6Addr,
}

/// DNS46 / NAT46 (F5SPKEgress `dnsNat46*`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Nat46 {
    /// `dnsNat46Enabled`.
    pub enabled: bool,
    /// `dnsNat46Ipv4Subnet`: the pool the synthesized A records come from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ipv4_subnet: Option<Ipv4Prefix>,
    /// `maxReservedStaticIps`: first usable addresses kept for manual mappings.
    pub max_reserved_static_ips: u32,
    /// `maxTmmReplicas`: number of slices the rest of the pool is split into.
    pub max_tmm_replicas: u32,
    /// First address of this TMM's slice (computed from the above when absent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slice_first: Option<Ipv4Addr>,
    /// Last address of this TMM's slice (computed from the above when absent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slice_last: Option<Ipv4Addr>,
    /// `dnsNat46SorryIp`: A record given when the slice is exhausted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sorry_ip: Option<Ipv4Addr>,
    /// `maxDNS46TTL`: cap on a synthesized A record's TTL, seconds.
    pub max_dns46_ttl: u32,
    /// Manual mappings loaded at start (addresses of the reserved range).
    pub static_mappings: Vec<StaticMapping46>,
}

impl Default for Nat46 {
    fn default() -> Self {
        Nat46 {
            enabled: false,
            ipv4_subnet: None,
            max_reserved_static_ips: 0,
            max_tmm_replicas: 1,
            slice_first: None,
            slice_last: None,
            sorry_ip: None,
            max_dns46_ttl: 120,
            static_mappings: Vec::new(),
        }
    }
}

/// A static NAT64 binding (IPv6 transport address <-> IPv4 transport address).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BibEntry {
    /// `tcp`, `udp` or `icmp` (for ICMP the ports are echo identifiers).
    pub protocol: BibProtocol,
    pub ipv6: Ipv6Addr,
    pub port6: u16,
    pub ipv4: Ipv4Addr,
    pub port4: u16,
}

/// Protocol of a static BIB entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BibProtocol {
    Tcp,
    Udp,
    Icmp,
}

/// DNS64 / NAT64 (F5SPKEgress `nat64Enabled`, `nat64Ipv6Subnet`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Nat64 {
    pub enabled: bool,
    /// RFC 6052 prefix (length 32, 40, 48, 56, 64 or 96).
    pub prefix: Ipv6Prefix,
    pub static_bib: Vec<BibEntry>,
}

/// The RFC 6052 well-known prefix.
pub fn well_known_nat64_prefix() -> Ipv6Prefix {
    Ipv6Prefix {
        addr: Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, 0, 0),
        len: 96,
    }
}

impl Default for Nat64 {
    fn default() -> Self {
        Nat64 {
            enabled: false,
            prefix: well_known_nat64_prefix(),
            static_bib: Vec::new(),
        }
    }
}

/// One explicit address mapping (RFC 7757).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EamEntry {
    pub ipv4_prefix: Ipv4Prefix,
    pub ipv6_prefix: Ipv6Prefix,
}

/// Stateless IP/ICMP translation (RFC 7915); set by hand, never rendered from CRs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Siit {
    pub enabled: bool,
    /// RFC 6052 prefix for addresses without an EAM entry.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pool6: Option<Ipv6Prefix>,
    /// Explicit address mapping table.
    pub eamt: Vec<EamEntry>,
}

/// A forward zone of the DNS proxy (F5SPKDnscache `forwardZones[]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForwardZone {
    /// Domain (`.` = everything); the longest matching zone wins.
    pub zone: String,
    /// Upstream servers, `IP:PORT` or `[IPV6]:PORT`.
    pub servers: Vec<SocketAddr>,
}

/// DNS proxy and cache (F5SPKDnscache + F5SPKEgress DNS fields).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Dns {
    pub enabled: bool,
    /// `dnsNat46PoolIps`: upstream DNS servers (or gateways to them).
    pub pool_ips: Vec<IpAddr>,
    /// Most cached answers (per worker).
    pub cache_entries: u32,
    /// `dnsRateLimit`: DNS requests per second per pod; 0 = off.
    pub rate_limit: u32,
    /// Most queries waiting for an upstream answer (per worker).
    pub pending_capacity: u32,
    /// Give up on an upstream after this many milliseconds.
    pub upstream_timeout_ms: u32,
    /// `debugLogEnabled`: log every DNS46 translation.
    pub debug_log: bool,
    pub forward_zones: Vec<ForwardZone>,
}

impl Default for Dns {
    fn default() -> Self {
        Dns {
            enabled: false,
            pool_ips: Vec::new(),
            cache_entries: 65536,
            rate_limit: 0,
            pending_capacity: 4096,
            upstream_timeout_ms: 2000,
            debug_log: false,
            forward_zones: Vec::new(),
        }
    }
}

/// The dSSM (Redis) connection (CONTRACT §3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Dssm {
    /// `SESSIONDB_EXTERNAL_STORAGE`.
    pub enabled: bool,
    /// `SESSIONDB_DISCOVERY_SENTINEL`: `service` is a Redis Sentinel.
    pub sentinel: bool,
    /// `SESSIONDB_EXTERNAL_SERVICE`: `host[:port]`; see [`Dssm::host_port`].
    pub service: String,
    /// `SESSIONDB_SENTINEL_MASTER`.
    pub master: String,
    /// `REDIS_CA_FILE`: TLS is on whenever set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<String>,
    /// `REDIS_AUTH_CERT`: client certificate (mutual TLS).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cert_file: Option<String>,
    /// `REDIS_AUTH_KEY`: client key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_file: Option<String>,
    /// Allow plaintext (development only).
    pub insecure: bool,
    /// Replicas a mapping write must reach (Redis `WAIT`); 0 = do not wait.
    pub wait_replicas: u32,
    /// Timeout of that `WAIT`, milliseconds.
    pub wait_timeout_ms: u32,
}

impl Default for Dssm {
    fn default() -> Self {
        Dssm {
            enabled: false,
            sentinel: false,
            service: String::new(),
            master: "dssm".into(),
            ca_file: None,
            cert_file: None,
            key_file: None,
            insecure: false,
            wait_replicas: 1,
            wait_timeout_ms: 100,
        }
    }
}

/// Splits `host[:port]` / `[v6]:port` / bare IPv6; the port is None when absent.
pub fn split_host_port(s: &str) -> Option<(String, Option<u16>)> {
    if s.is_empty() {
        return None;
    }
    if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        host.parse::<Ipv6Addr>().ok()?;
        return match after {
            "" => Some((host.to_owned(), None)),
            p => Some((host.to_owned(), Some(p.strip_prefix(':')?.parse().ok()?))),
        };
    }
    if s.parse::<Ipv6Addr>().is_ok() {
        return Some((s.to_owned(), None));
    }
    match s.rsplit_once(':') {
        Some((h, p)) if !h.is_empty() && !h.contains(':') => {
            Some((h.to_owned(), Some(p.parse().ok()?)))
        }
        Some(_) => None,
        None => Some((s.to_owned(), None)),
    }
}

impl Dssm {
    /// TLS is on whenever a CA file is set.
    pub fn tls(&self) -> bool {
        self.ca_file.is_some()
    }
    /// The default port: 26379 for a Sentinel, 6379 for a plain Redis.
    pub fn default_port(&self) -> u16 {
        if self.sentinel {
            26379
        } else {
            6379
        }
    }
    /// Host and port of `service` (default port filled in), or None if it is malformed.
    pub fn host_port(&self) -> Option<(String, u16)> {
        let (h, p) = split_host_port(&self.service)?;
        Some((h, p.unwrap_or(self.default_port())))
    }
}

/// Log verbosity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Error,
    Warn,
    #[default]
    Info,
    Debug,
    Trace,
}

/// Logging.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Log {
    pub level: LogLevel,
    /// `debugLogEnabled`: extra per-translation logs (DNS46, NAT46).
    pub debug: bool,
}

/// Result of a validation step: the dotted field path and the problem.
pub type FieldError = (String, String);

/// Parses a port name `1.N` into a 0-based DPDK port id.
pub fn parse_port_name(name: &str) -> Option<u16> {
    let n: u16 = name.strip_prefix("1.")?.parse().ok()?;
    n.checked_sub(1)
}

impl VnfConfig {
    /// Checks values that the types alone do not constrain.
    pub fn validate(&self) -> Result<(), FieldError> {
        let d = &self.dataplane;
        if d.workers == 0 || d.workers > 64 {
            return Err((
                "dataplane.workers".into(),
                format!("{} is not in 1..=64", d.workers),
            ));
        }
        if d.mbufs < 1024 {
            return Err((
                "dataplane.mbufs".into(),
                format!("{} is below the minimum of 1024", d.mbufs),
            ));
        }
        if d.mbuf_cache > 512 {
            return Err((
                "dataplane.mbuf_cache".into(),
                format!("{} exceeds 512 (RTE_MEMPOOL_CACHE_MAX_SIZE)", d.mbuf_cache),
            ));
        }
        for (name, v) in [
            ("dataplane.rx_desc", d.rx_desc),
            ("dataplane.tx_desc", d.tx_desc),
        ] {
            if !(64..=16384).contains(&v) {
                return Err((name.into(), format!("{v} is not in 64..=16384")));
            }
        }
        if self.control.metrics_listen != "off"
            && self.control.metrics_listen.parse::<SocketAddr>().is_err()
        {
            return Err((
                "control.metrics_listen".into(),
                format!(
                    "`{}` is not ADDR:PORT or `off`",
                    self.control.metrics_listen
                ),
            ));
        }
        for (i, v) in self.vlans.iter().enumerate() {
            let f = |k: &str| format!("vlans[{i}].{k}");
            if v.interfaces.is_empty() {
                return Err((f("interfaces"), "needs at least one port".into()));
            }
            for p in &v.interfaces {
                if parse_port_name(p).is_none() {
                    return Err((
                        f("interfaces"),
                        format!("`{p}` is not a port name like `1.1`"),
                    ));
                }
            }
            if v.tag > 4094 {
                return Err((f("tag"), format!("{} is not a VLAN id (0..=4094)", v.tag)));
            }
            if v.self_v4.is_some() != v.prefixlen_v4.is_some() {
                return Err((
                    f("prefixlen_v4"),
                    "self_v4 and prefixlen_v4 go together".into(),
                ));
            }
            if v.self_v6.is_some() != v.prefixlen_v6.is_some() {
                return Err((
                    f("prefixlen_v6"),
                    "self_v6 and prefixlen_v6 go together".into(),
                ));
            }
            if v.prefixlen_v4.is_some_and(|p| p > 32) {
                return Err((f("prefixlen_v4"), "must be 0..=32".into()));
            }
            if v.prefixlen_v6.is_some_and(|p| p > 128) {
                return Err((f("prefixlen_v6"), "must be 0..=128".into()));
            }
            if !(576..=9216).contains(&v.mtu) {
                return Err((f("mtu"), format!("{} is not in 576..=9216", v.mtu)));
            }
        }
        self.validate_vlan_set()?;
        self.validate_routes()?;
        self.validate_snat()?;
        self.validate_nat46()?;
        self.validate_nat64_siit()?;
        self.validate_dns()?;
        self.validate_dssm()?;
        Ok(())
    }
}
