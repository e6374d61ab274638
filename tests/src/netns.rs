//! Network namespaces and veth pairs for end-to-end tests.
//!
//! Everything here is created with a name unique to the test process and removed in `Drop`:
//! a [`NetNs`] deletes its namespace, a [`VethPair`] deletes its link. Nothing else is touched.
//! Veth pairs are created directly inside their namespaces, so no test interface ever appears in
//! the host's namespace and no test packet can reach the host's network.
//!
//! Namespace names are `egt-<pid>-<n>-<label>`; [`reap_stale_namespaces`] removes the ones whose
//! process no longer exists (leftovers of a test run that was killed).

use crate::cmd::{check, run};
use anyhow::{bail, Context, Result};
use std::process::Command;

/// Prefix of every namespace the tests create.
pub const NETNS_PREFIX: &str = "egt-";

/// A network namespace, deleted on drop (which also deletes the interfaces inside it).
#[derive(Debug)]
pub struct NetNs {
    name: String,
}

impl NetNs {
    /// Creates `egt-<pid>-<n>-<label>` and brings its loopback up.
    pub fn new(label: &str) -> Result<NetNs> {
        reap_stale_namespaces();
        let name = format!(
            "{NETNS_PREFIX}{}-{label}",
            crate::unique_id().replace('x', "-")
        );
        run("ip", &["netns", "add", &name])?;
        let ns = NetNs { name };
        ns.ip(&["link", "set", "lo", "up"])?;
        Ok(ns)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// A command that runs `program` inside the namespace (`ip netns exec NS program`). `ip`
    /// execs the program, so the child's pid is the program's pid.
    pub fn command(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name, program]);
        c
    }

    /// Runs `program args` in the namespace and fails unless it exits 0; returns stdout.
    pub fn run(&self, program: &str, args: &[&str]) -> Result<String> {
        check(self.command(program).args(args))
    }

    /// `ip -n NS args...`.
    pub fn ip(&self, args: &[&str]) -> Result<String> {
        let mut c = Command::new("ip");
        c.args(["-n", &self.name]).args(args);
        check(&mut c)
    }

    /// Sets a per-namespace sysctl (`net.*`).
    pub fn sysctl(&self, key: &str, value: &str) -> Result<()> {
        self.run("sysctl", &["-q", "-w", &format!("{key}={value}")])?;
        Ok(())
    }

    /// The IPv6 link-local address of an interface, as `fe80::...%IFNAME`.
    pub fn link_local(&self, ifname: &str) -> Result<String> {
        let out = self.ip(&["-6", "-o", "addr", "show", "dev", ifname, "scope", "link"])?;
        let addr = out
            .split_whitespace()
            .skip_while(|w| *w != "inet6")
            .nth(1)
            .and_then(|a| a.split('/').next())
            .with_context(|| format!("{ifname} in {} has no link-local address", self.name))?;
        Ok(format!("{addr}%{ifname}"))
    }

    /// Whether the namespace holds a link of this name.
    pub fn has_link(&self, ifname: &str) -> bool {
        self.ip(&["link", "show", "dev", ifname]).is_ok()
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        if let Err(e) = run("ip", &["netns", "del", &self.name]) {
            eprintln!("cleanup: {e:#}");
        }
    }
}

/// Whether a namespace of this name exists.
pub fn netns_exists(name: &str) -> bool {
    std::path::Path::new("/run/netns").join(name).exists()
}

/// Deletes test namespaces (`egt-<pid>-...`) whose process is gone. Namespaces of running test
/// processes and every other namespace are left alone.
pub fn reap_stale_namespaces() {
    let Ok(entries) = std::fs::read_dir("/run/netns") else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(NETNS_PREFIX) else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            eprintln!("removing stale test namespace {name}");
            let _ = run("ip", &["netns", "del", &name]);
        }
    }
}

/// An interface name unique to this process: `e<pid>x<n><role>`, checked to fit IFNAMSIZ.
pub fn unique_ifname(role: &str) -> Result<String> {
    let name = format!("e{}{role}", crate::unique_id());
    if name.len() > 15 {
        bail!("interface name {name} is longer than 15 characters");
    }
    Ok(name)
}

/// A veth pair whose two ends live in two namespaces; the link is deleted on drop.
#[derive(Debug)]
pub struct VethPair {
    /// End A: name and namespace.
    pub a: String,
    pub a_ns: String,
    /// End B: name and namespace.
    pub b: String,
    pub b_ns: String,
}

impl VethPair {
    /// Creates a veth pair with end `a` in `a_ns` and end `b` in `b_ns`, brings both ends up and
    /// turns TX checksum offload off on both (else the kernel hands partial checksums to
    /// `net_af_packet` and the peers drop the forwarded packets).
    pub fn new(a_ns: &NetNs, b_ns: &NetNs) -> Result<VethPair> {
        let a = unique_ifname("a")?;
        let b = unique_ifname("b")?;
        run(
            "ip",
            &[
                "link",
                "add",
                &a,
                "netns",
                a_ns.name(),
                "type",
                "veth",
                "peer",
                "name",
                &b,
                "netns",
                b_ns.name(),
            ],
        )?;
        let pair = VethPair {
            a,
            a_ns: a_ns.name().into(),
            b,
            b_ns: b_ns.name().into(),
        };
        for (ns, ifname) in [(a_ns, &pair.a), (b_ns, &pair.b)] {
            ns.ip(&["link", "set", "dev", ifname, "up"])?;
            ns.run("ethtool", &["-K", ifname, "tx", "off"])
                .with_context(|| format!("turning TX offload off on {ifname}"))?;
        }
        Ok(pair)
    }
}

impl Drop for VethPair {
    fn drop(&mut self) {
        // Deleting one end deletes the pair. If the namespace is already gone, so is the link.
        if netns_exists(&self.a_ns) {
            let out = Command::new("ip")
                .args(["-n", &self.a_ns, "link", "del", "dev", &self.a])
                .output();
            if let Ok(o) = out {
                let err = String::from_utf8_lossy(&o.stderr);
                if !o.status.success() && !err.contains("Cannot find device") {
                    eprintln!("cleanup: ip link del {}: {}", self.a, err.trim());
                }
            }
        }
    }
}

/// Addresses of one peer of a [`BridgeTopology`].
#[derive(Debug, Clone)]
pub struct PeerAddrs {
    pub v4: &'static str,
    pub v6: &'static str,
}

/// Two peers on one IPv4/IPv6 subnet whose only path to each other is the VNF:
///
/// ```text
///  [peer_a] a.peer ==veth== a.dut [dut: VNF port 1.1 | VNF port 1.2] b.dut ==veth== b.peer [peer_b]
/// ```
///
/// The VNF runs inside `dut` (see [`crate::vnf::VnfBuilder::netns`]) with `net_af_packet` ports
/// on the two `dut` ends ([`BridgeTopology::af_packet_vdevs`]). The `dut` namespace has IPv6 off
/// and no addresses, so its kernel neither answers nor sends anything.
#[derive(Debug)]
pub struct BridgeTopology {
    // Field order is drop order: links first, then namespaces.
    pub link_a: VethPair,
    pub link_b: VethPair,
    pub peer_a: NetNs,
    pub peer_b: NetNs,
    pub dut: NetNs,
}

impl BridgeTopology {
    pub const A: PeerAddrs = PeerAddrs {
        v4: "10.77.0.1",
        v6: "fd00:77::1",
    };
    pub const B: PeerAddrs = PeerAddrs {
        v4: "10.77.0.2",
        v6: "fd00:77::2",
    };

    pub fn new() -> Result<BridgeTopology> {
        let dut = NetNs::new("dut")?;
        dut.sysctl("net.ipv6.conf.all.disable_ipv6", "1")?;
        dut.sysctl("net.ipv6.conf.default.disable_ipv6", "1")?;
        let peer_a = NetNs::new("a")?;
        let peer_b = NetNs::new("b")?;
        for ns in [&peer_a, &peer_b] {
            // No duplicate address detection: addresses, link-local ones included, are usable at
            // once (the topology has no duplicates by construction).
            ns.sysctl("net.ipv6.conf.all.accept_dad", "0")?;
            ns.sysctl("net.ipv6.conf.default.accept_dad", "0")?;
        }
        let link_a = VethPair::new(&peer_a, &dut)?;
        let link_b = VethPair::new(&peer_b, &dut)?;
        for (ns, ifname, addrs) in [(&peer_a, &link_a.a, Self::A), (&peer_b, &link_b.a, Self::B)] {
            ns.ip(&["addr", "add", &format!("{}/24", addrs.v4), "dev", ifname])?;
            ns.ip(&[
                "-6",
                "addr",
                "add",
                &format!("{}/64", addrs.v6),
                "dev",
                ifname,
                "nodad",
            ])?;
        }
        Ok(BridgeTopology {
            link_a,
            link_b,
            peer_a,
            peer_b,
            dut,
        })
    }

    /// The peer-side interface names (in `peer_a` and `peer_b`).
    pub fn peer_ifaces(&self) -> (&str, &str) {
        (&self.link_a.a, &self.link_b.a)
    }

    /// The VNF-side interface names (both in `dut`).
    pub fn dut_ifaces(&self) -> (&str, &str) {
        (&self.link_a.b, &self.link_b.b)
    }

    /// EAL arguments that make the two `dut` ends ports 1.1 and 1.2 of the VNF.
    pub fn af_packet_vdevs(&self) -> Vec<String> {
        let (x, y) = self.dut_ifaces();
        vec![
            "--vdev".into(),
            format!("net_af_packet0,iface={x}"),
            "--vdev".into(),
            format!("net_af_packet1,iface={y}"),
        ]
    }
}

/// The result of a `ping`.
#[derive(Debug, Clone)]
pub struct PingResult {
    pub transmitted: u32,
    pub received: u32,
    pub output: String,
    pub success: bool,
}

/// Runs `ping -c COUNT` from `ns` to `dst` (IPv4 or IPv6) and parses the summary.
pub fn ping(ns: &NetNs, dst: &str, count: u32) -> Result<PingResult> {
    let mut c = ns.command("ping");
    if dst.contains(':') {
        c.arg("-6");
    }
    c.args(["-n", "-c", &count.to_string(), "-i", "0.2", "-W", "2", dst]);
    let out = crate::cmd::output(&mut c)?;
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    let (mut transmitted, mut received) = (0, 0);
    for line in text.lines() {
        if line.contains("packets transmitted") {
            for part in line.split(',') {
                let mut words = part.split_whitespace();
                let n = words.next().and_then(|w| w.parse().ok()).unwrap_or(0);
                match words.next() {
                    Some("packets") => transmitted = n,
                    Some("received") => received = n,
                    _ => {}
                }
            }
        }
    }
    Ok(PingResult {
        transmitted,
        received,
        output: text,
        success: out.status.success(),
    })
}
