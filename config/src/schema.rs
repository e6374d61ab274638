//! The TOML schema of the VNF's configuration file (see `docs/config.md`).

use serde::{Deserialize, Serialize};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

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
    pub self_v4: Option<Ipv4Addr>,
    pub prefixlen_v4: Option<u8>,
    pub self_v6: Option<Ipv6Addr>,
    pub prefixlen_v6: Option<u8>,
}

fn default_mtu() -> u16 {
    1500
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
            return Err(("dataplane.workers".into(), format!("{} is not in 1..=64", d.workers)));
        }
        if d.mbufs < 1024 {
            return Err(("dataplane.mbufs".into(), format!("{} is below the minimum of 1024", d.mbufs)));
        }
        if d.mbuf_cache > 512 {
            return Err(("dataplane.mbuf_cache".into(), format!("{} exceeds 512 (RTE_MEMPOOL_CACHE_MAX_SIZE)", d.mbuf_cache)));
        }
        for (name, v) in [("dataplane.rx_desc", d.rx_desc), ("dataplane.tx_desc", d.tx_desc)] {
            if !(64..=16384).contains(&v) {
                return Err((name.into(), format!("{v} is not in 64..=16384")));
            }
        }
        if self.control.metrics_listen != "off" && self.control.metrics_listen.parse::<SocketAddr>().is_err() {
            return Err(("control.metrics_listen".into(), format!("`{}` is not ADDR:PORT or `off`", self.control.metrics_listen)));
        }
        for (i, v) in self.vlans.iter().enumerate() {
            let f = |k: &str| format!("vlans[{i}].{k}");
            if v.interfaces.is_empty() {
                return Err((f("interfaces"), "needs at least one port".into()));
            }
            for p in &v.interfaces {
                if parse_port_name(p).is_none() {
                    return Err((f("interfaces"), format!("`{p}` is not a port name like `1.1`")));
                }
            }
            if v.tag > 4094 {
                return Err((f("tag"), format!("{} is not a VLAN id (0..=4094)", v.tag)));
            }
            if v.self_v4.is_some() != v.prefixlen_v4.is_some() {
                return Err((f("prefixlen_v4"), "self_v4 and prefixlen_v4 go together".into()));
            }
            if v.self_v6.is_some() != v.prefixlen_v6.is_some() {
                return Err((f("prefixlen_v6"), "self_v6 and prefixlen_v6 go together".into()));
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
        Ok(())
    }
}
