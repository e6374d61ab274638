//! The dedicated-DNS topology of `docs/dedicated-dns.md` in namespaces: one egress-vnf that
//! answers DNS only (DNS46: it allocates and writes the mappings to dSSM), one that carries the
//! data only (NAT46: it reads the mappings from dSSM on a miss), one shared dSSM, and an
//! IPv4-only pod that resolves through the first and connects through the second.
//!
//! ```text
//!                 10.3.0.1/24 ==veth== 1.1 internal (10.3.0.254) [dut: DNS instance ] 1.2 ==veth==\
//!  [pod] -<                                                                                       [ext: br0]
//!                 10.1.0.1/24 ==veth== 1.1 internal (10.1.0.254) [dut: data instance] 1.2 ==veth==/
//! ```
//!
//! - The pod's default route goes to the data instance's internal self IP; only the resolver
//!   address [`RESOLVER`] is routed to the DNS instance (the secondary-interface layout of
//!   `docs/dedicated-dns.md`, "Routing the second CoreDNS", with the pod in CoreDNS's place).
//!   `/etc/netns/<pod>/resolv.conf` names [`RESOLVER`], so `curl` by name asks it.
//! - Both instances run in one `dut` namespace (their own ports, file prefixes and control
//!   sockets); dSSM (the caller starts it, e.g. the Redis + Sentinel testbed with mutual TLS)
//!   listens on that namespace's loopback, where both slow paths connect.
//! - The external namespace joins both external ports in a bridge, with the upstream DNS server
//!   (`knotd`, [`DNS_UPSTREAM`], serving [`zone`]) and the IPv6-only HTTP server [`SERVER_V6`]
//!   (`v6only`). Each instance has its own external self IPs: [`DNS_EXT_V4`]/[`DNS_EXT_V6`] and
//!   [`DATA_EXT_V4`]/[`DATA_EXT_V6`] (the data instance's IPv6 is its NAT46 source).

use crate::dns_server::AuthDns;
use crate::egress::*;
use crate::netns::{NetNs, VethPair};
use crate::process::ChildGuard;
use crate::vnf::{Vnf, VnfBuilder};
use anyhow::Result;
use std::net::IpAddr;
use std::path::Path;

/// The resolver address: nothing has it; the DNS instance answers it.
pub const RESOLVER: &str = "198.18.0.53";
/// The pod's address on each link and the instances' internal self IPs.
pub const POD_DATA_V4: &str = "10.1.0.1";
pub const DATA_INT_V4: &str = "10.1.0.254";
pub const POD_DNS_V4: &str = "10.3.0.1";
pub const DNS_INT_V4: &str = "10.3.0.254";
/// External self IPs.
pub const DNS_EXT_V4: &str = "192.0.2.254";
pub const DNS_EXT_V6: &str = "2001:db8::fe";
pub const DATA_EXT_V4: &str = "192.0.2.253";
pub const DATA_EXT_V6: &str = "2001:db8::fd";

/// Which instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Dns,
    Data,
}

/// The namespaces and links. Field order is drop order.
pub struct DedicatedTopology {
    pub servers: Vec<ChildGuard>,
    pub dns: Option<AuthDns>,
    _resolv: NsResolvConf,
    pub dns_int: VethPair,
    pub data_int: VethPair,
    pub dns_ext: VethPair,
    pub data_ext: VethPair,
    pub pod: NetNs,
    pub ext: NetNs,
    pub dut: NetNs,
    dir: tempfile::TempDir,
}

impl DedicatedTopology {
    pub fn new() -> Result<DedicatedTopology> {
        let dir = crate::test_dir("dedicated-topo")?;
        let dut = NetNs::new("dut")?;
        dut.sysctl("net.ipv6.conf.all.disable_ipv6", "1")?;
        dut.sysctl("net.ipv6.conf.default.disable_ipv6", "1")?;
        let pod = NetNs::new("pod")?;
        pod.sysctl("net.ipv6.conf.all.disable_ipv6", "1")?;
        pod.sysctl("net.ipv6.conf.default.disable_ipv6", "1")?;
        let ext = NetNs::new("ext")?;
        ext.sysctl("net.ipv6.conf.all.accept_dad", "0")?;
        ext.sysctl("net.ipv6.conf.default.accept_dad", "0")?;
        let dns_int = VethPair::new(&pod, &dut)?;
        let dns_ext = VethPair::new(&ext, &dut)?;
        let data_int = VethPair::new(&pod, &dut)?;
        let data_ext = VethPair::new(&ext, &dut)?;
        pod.ip(&[
            "addr",
            "add",
            &format!("{POD_DNS_V4}/24"),
            "dev",
            &dns_int.a,
        ])?;
        pod.ip(&[
            "addr",
            "add",
            &format!("{POD_DATA_V4}/24"),
            "dev",
            &data_int.a,
        ])?;
        pod.ip(&["route", "add", "default", "via", DATA_INT_V4])?;
        pod.ip(&["route", "add", &format!("{RESOLVER}/32"), "via", DNS_INT_V4])?;
        // One L2 segment outside: both instances' external ports and the servers.
        ext.ip(&["link", "add", "br0", "type", "bridge"])?;
        for l in [&dns_ext.a, &data_ext.a] {
            ext.ip(&["link", "set", "dev", l, "master", "br0"])?;
        }
        ext.ip(&["link", "set", "dev", "br0", "up"])?;
        ext.run("ethtool", &["-K", "br0", "tx", "off"])?;
        for a in [EXT_V4, DNS_UPSTREAM] {
            ext.ip(&["addr", "add", &format!("{a}/24"), "dev", "br0"])?;
        }
        for a in [EXT_V6, SERVER_V6] {
            ext.ip(&[
                "-6",
                "addr",
                "add",
                &format!("{a}/64"),
                "dev",
                "br0",
                "nodad",
            ])?;
        }
        let resolv = NsResolvConf::new(&pod, RESOLVER)?;
        let mut topo = DedicatedTopology {
            servers: Vec::new(),
            dns: None,
            _resolv: resolv,
            dns_int,
            data_int,
            dns_ext,
            data_ext,
            pod,
            ext,
            dut,
            dir,
        };
        let http = start_http_server(&topo.ext, topo.dir.path(), SERVER_V6, "v6only")?;
        topo.servers.push(http);
        let knot = topo.dir.path().join("knot");
        std::fs::create_dir_all(&knot)?;
        let ip: IpAddr = DNS_UPSTREAM.parse()?;
        topo.dns = Some(AuthDns::start(&topo.ext, &knot, &[ip], &zone())?);
        Ok(topo)
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The instance's config: its two VLANs (1.1 internal, 1.2 external), DNS46 and NAT46 on
    /// the same pool for both (as the CRs of `docs/dedicated-dns.md` render), no NAT64, and
    /// `dssm_toml` (the shared dSSM's `[dssm]` section).
    pub fn vnf_builder(&self, role: Role, dssm_toml: &str) -> VnfBuilder {
        let (int, ext, int_v4, ext_v4, ext_v6, label) = match role {
            Role::Dns => (
                &self.dns_int,
                &self.dns_ext,
                DNS_INT_V4,
                DNS_EXT_V4,
                DNS_EXT_V6,
                "dns-instance",
            ),
            Role::Data => (
                &self.data_int,
                &self.data_ext,
                DATA_INT_V4,
                DATA_EXT_V4,
                DATA_EXT_V6,
                "data-instance",
            ),
        };
        let vlans = format!(
            r#"
[[vlans]]
name = "internal"
interfaces = ["1.1"]
internal = true
self_v4 = "{int_v4}"
prefixlen_v4 = 24

[[vlans]]
name = "external"
interfaces = ["1.2"]
self_v4 = "{ext_v4}"
prefixlen_v4 = 24
self_v6 = "{ext_v6}"
prefixlen_v6 = 64
"#
        );
        let f = Features {
            nat64: false,
            static_v6: None,
            dssm_toml: Some(dssm_toml.to_string()),
            ..Features::default()
        };
        let b = VnfBuilder::new()
            .label(label)
            .mode("egress")
            .netns(&self.dut)
            .vdev(&format!("net_af_packet0,iface={}", int.b))
            .vdev(&format!("net_af_packet1,iface={}", ext.b))
            .extra_toml(&vlans)
            .extra_toml(&f.toml());
        // Two busy-polling workers on a 2-core machine: one CPU each (the main lcores
        // mostly sleep).
        match role {
            Role::Dns => b.lcores("0-1"),
            Role::Data => b.lcores("0-1").eal_arg("--main-lcore").eal_arg("1"),
        }
    }

    pub fn start_vnf(&self, role: Role, dssm_toml: &str) -> Result<Vnf> {
        self.vnf_builder(role, dssm_toml).start()
    }
}

/// A row of `egressctl show vs stats`: (clientside.tot_conns, clientside.pkts_in).
pub fn vs_stats(vnf: &Vnf, name: &str) -> Result<(u64, u64)> {
    let out = egressctl(vnf, &["show", "vs", "stats"])?;
    for l in out.lines() {
        let w: Vec<&str> = l.split_whitespace().collect();
        if w.first() == Some(&name) && w.len() >= 5 {
            return Ok((w[1].parse()?, w[4].parse()?));
        }
    }
    anyhow::bail!("no row `{name}` in show vs stats:\n{out}")
}
