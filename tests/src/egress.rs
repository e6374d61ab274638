//! The egress topology of the NAT46/NAT64/DNS end-to-end tests and of `make demo`: an
//! IPv4-only pod, an IPv6-only pod and an external namespace with real servers, joined only
//! through the VNF (egress mode, `net_af_packet` ports in a `dut` namespace).
//!
//! ```text
//!  [pod4] 10.1.0.1/24 ==veth== port 1.1 vlan pods4 (10.1.0.254)  \
//!  [pod6] fd00:1::1/64 ==veth== port 1.3 vlan pods6 (fd00:1::fe)  -> [dut: egress-vnf]
//!  [ext]  192.0.2.1/24 2001:db8::1/64 ==veth== port 1.2 vlan outside (192.0.2.254, 2001:db8::fe)
//! ```
//!
//! The external namespace holds the servers: an IPv6-only HTTP server on `2001:db8::10`
//! (the DNS name `v6only`), an IPv4-only HTTP server on `192.0.2.10` (`v4only`), a dual-stack
//! name on `.20`/`::20`, and a real authoritative DNS server (`knotd`) on `192.0.2.53` that the
//! VNF forwards every zone (`.`) to. HTTP servers are `socat` running a small bash responder
//! (both installed by `make setup`); the body names the server and the client address it saw.
//!
//! The pods resolve names through the system resolver: `ip netns exec` bind-mounts
//! `/etc/netns/<ns>/resolv.conf`, which names a resolver address that exists nowhere
//! ([`POD4_RESOLVER`], [`POD6_RESOLVER`]); the VNF intercepts UDP/53 from the internal VLANs.
//! That directory is the only thing created outside the test's namespaces; it carries the
//! namespace's name (with the test's pid) and is removed on drop.
//!
//! NAT64 uses the Well-Known Prefix 64:ff9b::/96, which refuses non-global IPv4 (RFC 6052 3.1,
//! `is_non_global_v4`): the external IPv4 addresses are therefore in 192.0.2.0/24
//! (TEST-NET-1), which the translator treats as global, rather than in RFC 1918 space.

use crate::dns_server::{AuthDns, Rr, TestNames, Zone};
use crate::netns::{NetNs, VethPair};
use crate::process::{ChildGuard, Stream};
use crate::vnf::{release_binary, Vnf, VnfBuilder};
use anyhow::{bail, Context, Result};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

pub const POD4_V4: &str = "10.1.0.1";
pub const POD6_V6: &str = "fd00:1::1";
pub const INT_SELF_V4: &str = "10.1.0.254";
pub const INT_SELF_V6: &str = "fd00:1::fe";
pub const EXT_V4: &str = "192.0.2.1";
pub const EXT_V6: &str = "2001:db8::1";
pub const EXT_SELF_V4: &str = "192.0.2.254";
pub const EXT_SELF_V6: &str = "2001:db8::fe";
/// The IPv6-only HTTP server (name `v6only`).
pub const SERVER_V6: &str = "2001:db8::10";
/// The IPv4-only HTTP server (name `v4only`).
pub const SERVER_V4: &str = "192.0.2.10";
/// The dual-stack name `dual`.
pub const DUAL_V4: &str = "192.0.2.20";
pub const DUAL_V6: &str = "2001:db8::20";
/// Two more AAAA-only names (`v6two`, `v6three`) for the exhausted-slice test.
pub const SERVER_V6_TWO: &str = "2001:db8::11";
pub const SERVER_V6_THREE: &str = "2001:db8::12";
/// The upstream DNS server (knotd).
pub const DNS_UPSTREAM: &str = "192.0.2.53";
/// The zone the upstream serves.
pub const ZONE: &str = "egress.test.";
/// Resolver addresses the pods are configured with (off-link, like a cluster DNS service IP:
/// reached through the default route): nothing has them, the VNF answers.
pub const POD4_RESOLVER: &str = "10.96.0.10";
pub const POD6_RESOLVER: &str = "fd00:96::10";
/// The DNS46 pool, its reserved range and the static NAT46 mapping.
pub const NAT46_SUBNET: &str = "10.250.1.0/24";
pub const NAT46_RESERVED: u32 = 8;
pub const NAT46_STATIC_V4: &str = "10.250.1.5";
pub const NAT46_SORRY: &str = "10.250.1.1";
/// First address of TMM 0's slice with [`NAT46_RESERVED`] reserved (network excluded).
pub const NAT46_SLICE_FIRST: &str = "10.250.1.9";
pub const NAT46_SLICE_LAST: &str = "10.250.1.254";

/// `name.egress.test`.
pub fn fqdn(name: &str) -> String {
    format!("{name}.{}", ZONE.trim_end_matches('.'))
}

/// `64:ff9b::a.b.c.d`.
pub fn nat64_addr(v4: &str) -> String {
    format!("64:ff9b::{v4}")
}

/// The egress functions of the VNF's config.
#[derive(Debug, Clone)]
pub struct Features {
    pub nat46: bool,
    pub nat64: bool,
    pub dns: bool,
    /// `dns.rate_limit` (0 = off).
    pub rate_limit: u32,
    /// `nat46.slice_first`/`slice_last` (None: computed: the whole rest of the pool).
    pub slice: Option<(String, String)>,
    /// `nat46.sorry_ip`.
    pub sorry_ip: Option<String>,
    /// The IPv6 host of the static NAT46 mapping of [`NAT46_STATIC_V4`] (None: no mapping).
    pub static_v6: Option<String>,
    /// A `[dssm]` section (None: the in-process store).
    pub dssm_toml: Option<String>,
}

impl Default for Features {
    fn default() -> Self {
        Features {
            nat46: true,
            nat64: true,
            dns: true,
            rate_limit: 0,
            slice: None,
            sorry_ip: Some(NAT46_SORRY.into()),
            static_v6: Some(SERVER_V6.into()),
            dssm_toml: None,
        }
    }
}

impl Features {
    /// The TOML sections (after the VLANs).
    pub fn toml(&self) -> String {
        let mut t = String::from(
            "[snat]\ndual_stack = true\nsessions_per_worker = 65536\n\n[snat.timeouts]\nport_reuse_delay = 0\n\n",
        );
        if self.nat46 {
            t.push_str(&format!(
                "[nat46]\nenabled = true\nipv4_subnet = \"{NAT46_SUBNET}\"\nmax_reserved_static_ips = {NAT46_RESERVED}\nmax_tmm_replicas = 1\n"
            ));
            if let Some(v6) = &self.static_v6 {
                t.push_str(&format!(
                    "static_mappings = [{{ ipv4 = \"{NAT46_STATIC_V4}\", ipv6 = \"{v6}\" }}]\n"
                ));
            }
            if let Some((a, b)) = &self.slice {
                t.push_str(&format!("slice_first = \"{a}\"\nslice_last = \"{b}\"\n"));
            }
            if let Some(s) = &self.sorry_ip {
                t.push_str(&format!("sorry_ip = \"{s}\"\n"));
            }
            t.push('\n');
        }
        if self.nat64 {
            t.push_str("[nat64]\nenabled = true\nprefix = \"64:ff9b::/96\"\n\n");
        }
        if self.dns {
            t.push_str(&format!(
                "[dns]\nenabled = true\npool_ips = [\"{DNS_UPSTREAM}\"]\nrate_limit = {}\ncache_entries = 4096\n\n[[dns.forward_zones]]\nzone = \".\"\nservers = [\"{DNS_UPSTREAM}:53\"]\n\n",
                self.rate_limit
            ));
        }
        if let Some(d) = &self.dssm_toml {
            t.push_str(d);
            t.push('\n');
        }
        t
    }
}

/// A `/etc/netns/<ns>/resolv.conf` for one namespace, removed on drop.
#[derive(Debug)]
pub struct NsResolvConf {
    dir: PathBuf,
}

impl NsResolvConf {
    pub fn new(ns: &NetNs, nameserver: &str) -> Result<NsResolvConf> {
        let dir = Path::new("/etc/netns").join(ns.name());
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let g = NsResolvConf { dir };
        std::fs::write(
            g.dir.join("resolv.conf"),
            format!("nameserver {nameserver}\noptions timeout:2 attempts:2\n"),
        )?;
        Ok(g)
    }
}

impl Drop for NsResolvConf {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.dir) {
            eprintln!("cleanup: removing {}: {e}", self.dir.display());
        }
    }
}

/// Options of the topology.
#[derive(Debug, Clone, Copy)]
pub struct TopologyOptions {
    /// MTU of the external link and VLAN (the IPv6 side of NAT46).
    pub ext_mtu: u32,
    /// Start knotd.
    pub dns_server: bool,
}

impl Default for TopologyOptions {
    fn default() -> Self {
        TopologyOptions {
            ext_mtu: 1500,
            dns_server: true,
        }
    }
}

/// The topology. Field order is drop order: servers, resolver files, links, namespaces.
pub struct EgressTopology {
    pub servers: Vec<ChildGuard>,
    pub dns: Option<AuthDns>,
    resolv: Vec<NsResolvConf>,
    pub pod4_link: VethPair,
    pub pod6_link: VethPair,
    pub ext_link: VethPair,
    pub pod4: NetNs,
    pub pod6: NetNs,
    pub ext: NetNs,
    pub dut: NetNs,
    pub opts: TopologyOptions,
    dir: tempfile::TempDir,
}

/// The zone of the upstream server: `v4only`, `v6only`, `dual`, `alias` (CNAME to `v6only`),
/// `mapped` (IPv4-mapped AAAA only), plus `v6two` and `v6three` (AAAA only).
pub fn zone() -> Zone {
    let names = TestNames {
        v4only: SERVER_V4.parse().unwrap_or(Ipv4Addr::UNSPECIFIED),
        v6only: SERVER_V6.parse().unwrap_or(Ipv6Addr::UNSPECIFIED),
        dual_v4: DUAL_V4.parse().unwrap_or(Ipv4Addr::UNSPECIFIED),
        dual_v6: DUAL_V6.parse().unwrap_or(Ipv6Addr::UNSPECIFIED),
    };
    let mut z = crate::dns_server::test_zone(ZONE, &names);
    z.records.push(Rr::new("v6two", 300, "AAAA", SERVER_V6_TWO));
    z.records
        .push(Rr::new("v6three", 300, "AAAA", SERVER_V6_THREE));
    z
}

impl EgressTopology {
    pub fn new(opts: TopologyOptions) -> Result<EgressTopology> {
        let dir = crate::test_dir("egress-topo")?;
        let dut = NetNs::new("dut")?;
        dut.sysctl("net.ipv6.conf.all.disable_ipv6", "1")?;
        dut.sysctl("net.ipv6.conf.default.disable_ipv6", "1")?;
        let pod4 = NetNs::new("pod4")?;
        let pod6 = NetNs::new("pod6")?;
        let ext = NetNs::new("ext")?;
        // The IPv4-only pod has no IPv6 at all.
        pod4.sysctl("net.ipv6.conf.all.disable_ipv6", "1")?;
        pod4.sysctl("net.ipv6.conf.default.disable_ipv6", "1")?;
        for ns in [&pod6, &ext] {
            ns.sysctl("net.ipv6.conf.all.accept_dad", "0")?;
            ns.sysctl("net.ipv6.conf.default.accept_dad", "0")?;
        }
        // Port order: 1.1 pod4, 1.2 ext, 1.3 pod6.
        let pod4_link = VethPair::new(&pod4, &dut)?;
        let ext_link = VethPair::new(&ext, &dut)?;
        let pod6_link = VethPair::new(&pod6, &dut)?;
        if opts.ext_mtu != 1500 {
            let m = opts.ext_mtu.to_string();
            ext.ip(&["link", "set", "dev", &ext_link.a, "mtu", &m])?;
            dut.ip(&["link", "set", "dev", &ext_link.b, "mtu", &m])?;
        }
        pod4.ip(&["addr", "add", &format!("{POD4_V4}/24"), "dev", &pod4_link.a])?;
        pod4.ip(&["route", "add", "default", "via", INT_SELF_V4])?;
        pod6.ip(&[
            "-6",
            "addr",
            "add",
            &format!("{POD6_V6}/64"),
            "dev",
            &pod6_link.a,
            "nodad",
        ])?;
        pod6.ip(&["-6", "route", "add", "default", "via", INT_SELF_V6])?;
        for a in [EXT_V4, SERVER_V4, DUAL_V4, DNS_UPSTREAM] {
            ext.ip(&["addr", "add", &format!("{a}/24"), "dev", &ext_link.a])?;
        }
        for a in [EXT_V6, SERVER_V6, DUAL_V6, SERVER_V6_TWO, SERVER_V6_THREE] {
            ext.ip(&[
                "-6",
                "addr",
                "add",
                &format!("{a}/64"),
                "dev",
                &ext_link.a,
                "nodad",
            ])?;
        }
        let mut topo = EgressTopology {
            servers: Vec::new(),
            dns: None,
            resolv: Vec::new(),
            pod4_link,
            pod6_link,
            ext_link,
            pod4,
            pod6,
            ext,
            dut,
            opts,
            dir,
        };
        topo.resolv
            .push(NsResolvConf::new(&topo.pod4, POD4_RESOLVER)?);
        topo.resolv
            .push(NsResolvConf::new(&topo.pod6, POD6_RESOLVER)?);
        for (addr, name) in [(SERVER_V6, "v6only"), (SERVER_V4, "v4only")] {
            let s = topo.start_http(addr, name)?;
            topo.servers.push(s);
        }
        if opts.dns_server {
            let ip: IpAddr = DNS_UPSTREAM.parse()?;
            let dns_dir = topo.dir.path().join("knot");
            std::fs::create_dir_all(&dns_dir)?;
            topo.dns = Some(AuthDns::start(&topo.ext, &dns_dir, &[ip], &zone())?);
        }
        Ok(topo)
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// An HTTP server on `addr:80` in the external namespace (only that family): answers
    /// `hello from NAME (you are PEER)`.
    pub fn start_http(&self, addr: &str, name: &str) -> Result<ChildGuard> {
        start_http_server(&self.ext, self.dir.path(), addr, name)
    }

    /// Port 1.1 pod4, 1.2 ext, 1.3 pod6.
    pub fn vdevs(&self) -> Vec<String> {
        vec![
            "--vdev".into(),
            format!("net_af_packet0,iface={}", self.pod4_link.b),
            "--vdev".into(),
            format!("net_af_packet1,iface={}", self.ext_link.b),
            "--vdev".into(),
            format!("net_af_packet2,iface={}", self.pod6_link.b),
        ]
    }

    /// The VLANs of the VNF's config.
    pub fn vlans_toml(&self) -> String {
        format!(
            r#"
[[vlans]]
name = "pods4"
interfaces = ["1.1"]
internal = true
self_v4 = "{INT_SELF_V4}"
prefixlen_v4 = 24

[[vlans]]
name = "outside"
interfaces = ["1.2"]
mtu = {mtu}
self_v4 = "{EXT_SELF_V4}"
prefixlen_v4 = 24
self_v6 = "{EXT_SELF_V6}"
prefixlen_v6 = 64

[[vlans]]
name = "pods6"
interfaces = ["1.3"]
internal = true
self_v6 = "{INT_SELF_V6}"
prefixlen_v6 = 64

"#,
            mtu = self.opts.ext_mtu
        )
    }

    /// The VNF builder for this topology and these functions (one worker, `-l 0-1`,
    /// `--no-pci --no-huge`).
    pub fn vnf_builder(&self, label: &str, f: &Features) -> VnfBuilder {
        VnfBuilder::new()
            .label(label)
            .mode("egress")
            .netns(&self.dut)
            .eal_args(self.vdevs())
            .extra_toml(&self.vlans_toml())
            .extra_toml(&f.toml())
    }

    pub fn start_vnf(&self, label: &str, f: &Features) -> Result<Vnf> {
        self.vnf_builder(label, f).start()
    }
}

/// An HTTP server on `addr:80` in `ns` (only that family; the address must be configured there):
/// answers `hello from NAME (ADDR); you are PEER`. Logs and its script go to `dir`.
pub fn start_http_server(ns: &NetNs, dir: &Path, addr: &str, name: &str) -> Result<ChildGuard> {
    let script = dir.join(format!("http-{name}.sh"));
    std::fs::write(
        &script,
        format!(
            "while IFS= read -r line; do line=${{line%$'\\r'}}; [ -z \"$line\" ] && break; done\n\
             body=\"hello from {name} ({addr}); you are $SOCAT_PEERADDR\"\n\
             printf 'HTTP/1.0 200 OK\\r\\nContent-Type: text/plain\\r\\nContent-Length: %d\\r\\nConnection: close\\r\\n\\r\\n%s\\n' $((${{#body}} + 1)) \"$body\"\n"
        ),
    )?;
    let listen = if addr.contains(':') {
        format!("TCP6-LISTEN:80,bind=[{addr}],ipv6only=1,reuseaddr,fork")
    } else {
        format!("TCP4-LISTEN:80,bind={addr},reuseaddr,fork")
    };
    let mut cmd = ns.command("socat");
    // -T: a forked child whose client went quiet exits (nothing outlives the test).
    cmd.args(["-T", "10"])
        .arg(listen)
        .arg(format!("EXEC:/bin/bash {}", script.display()));
    let child = ChildGuard::spawn(cmd, dir, &format!("http-{name}"))?;
    // Wait until it listens.
    let family = if addr.contains(':') { "-6" } else { "-4" };
    for _ in 0..100 {
        let out = ns.run("ss", &[family, "-ltnH"])?;
        if out.contains(&format!("{addr}]:80")) || out.contains(&format!("{addr}:80")) {
            return Ok(child);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    bail!("the HTTP server on {addr} did not start")
}

/// `curl -sS --max-time T ARGS` inside `ns`: (exit success, stdout + stderr).
pub fn curl(ns: &NetNs, args: &[&str]) -> Result<(bool, String)> {
    let mut c = ns.command("curl");
    c.args(["-sS", "--max-time", "8"]).args(args);
    let out = crate::cmd::output(&mut c)?;
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    Ok((out.status.success(), text))
}

/// `dig +short` through the pod's resolver (`resolver` is the address it is configured with;
/// any address works: the VNF intercepts). Returns the answer lines.
pub fn dig_short(ns: &NetNs, resolver: &str, name: &str, rtype: &str) -> Result<Vec<String>> {
    let out = ns.run(
        "dig",
        &[
            &format!("@{resolver}"),
            "+short",
            "+time=3",
            "+tries=2",
            name,
            rtype,
        ],
    )?;
    Ok(out.lines().map(|l| l.trim().to_string()).collect())
}

/// Runs `egressctl --socket <the VNF's> ARGS`; returns its stdout.
pub fn egressctl(vnf: &Vnf, args: &[&str]) -> Result<String> {
    let out = Command::new(release_binary("egressctl")?)
        .arg("--socket")
        .arg(vnf.control_socket())
        .args(args)
        .output()?;
    if !out.status.success() {
        bail!(
            "egressctl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The packet count of a drop reason in `egressctl show drops` (0 when absent).
pub fn drop_count(vnf: &Vnf, reason: &str) -> Result<u64> {
    let out = egressctl(vnf, &["show", "drops"])?;
    Ok(out
        .lines()
        .find_map(|l| {
            let mut w = l.split_whitespace();
            (w.next() == Some(reason)).then(|| w.next().and_then(|n| n.parse().ok()))?
        })
        .unwrap_or(0))
}

/// A UDP receiver (`socat -u UDPx-RECV:PORT`) in `ns` writing every datagram to its stdout.
pub fn udp_receiver(ns: &NetNs, dir: &Path, addr: &str, port: u16) -> Result<ChildGuard> {
    let spec = if addr.contains(':') {
        format!("UDP6-RECV:{port},bind=[{addr}],ipv6only=1")
    } else {
        format!("UDP4-RECV:{port},bind={addr}")
    };
    let mut cmd = ns.command("socat");
    cmd.args(["-u", "-b", "65536", &spec, "STDOUT"]);
    let name = format!("udp-recv-{port}");
    let g = ChildGuard::spawn(cmd, dir, &name)?;
    std::thread::sleep(Duration::from_millis(300));
    Ok(g)
}

/// Sends one UDP datagram of `len` bytes (`socat -u` from a file) from `ns` to `dst:port`.
pub fn udp_send(ns: &NetNs, dir: &Path, dst: &str, port: u16, len: usize) -> Result<()> {
    let file = dir.join(format!("payload-{len}"));
    let payload: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
    std::fs::write(&file, payload)?;
    let spec = if dst.contains(':') {
        format!("UDP6-SENDTO:[{dst}]:{port}")
    } else {
        format!("UDP4-SENDTO:{dst}:{port}")
    };
    ns.run(
        "socat",
        &[
            "-u",
            "-b",
            "65536",
            &format!("OPEN:{}", file.display()),
            &spec,
        ],
    )?;
    Ok(())
}

/// Waits up to `timeout` until the receiver's stdout holds `len` bytes; returns what it has.
pub fn wait_udp_bytes(rx: &ChildGuard, len: usize, timeout: Duration) -> usize {
    let t0 = std::time::Instant::now();
    loop {
        let n = std::fs::metadata(rx.stdout_path()).map_or(0, |m| m.len() as usize);
        if n >= len || t0.elapsed() > timeout {
            return n;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits for `needle` in the child's stdout (helper re-exported for tests).
pub fn wait_stdout(c: &mut ChildGuard, needle: &str, timeout: Duration) -> Result<()> {
    c.wait_for_output(Stream::Stdout, needle, timeout)
}

/// The client address an HTTP server of [`EgressTopology::start_http`] reports (`you are X`).
pub fn seen_peer(body: &str) -> Option<IpAddr> {
    let rest = body.split("you are ").nth(1)?;
    let word = rest.split_whitespace().next()?;
    word.trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()
}

/// Whether the HTTP answer says `hello from NAME` to the client `peer`.
pub fn http_answer_ok(body: &str, name: &str, peer: &str) -> bool {
    body.contains(&format!("hello from {name} "))
        && seen_peer(body).is_some_and(|p| Some(p) == peer.parse().ok())
}

/// The value of one Prometheus series (`name` or `name{label="v",...}` exactly as exported)
/// scraped from `http://ADDR/metrics` inside `ns`; None when the series is absent.
pub fn metric(ns: &NetNs, addr: &str, series: &str) -> Result<Option<f64>> {
    let out = ns.run(
        "curl",
        &["-sS", "--max-time", "3", &format!("http://{addr}/metrics")],
    )?;
    Ok(series_value(&out, series))
}

/// The value of one series (`name` or `name{label="v",...}` exactly as exported) in a
/// Prometheus text; None when the series is absent.
pub fn series_value(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        let (k, v) = l.rsplit_once(' ')?;
        (k == series).then(|| v.parse().ok())?
    })
}
