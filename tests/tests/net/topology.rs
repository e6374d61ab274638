//! The network-layer topology of the end-to-end tests and of `make demo`: a pod namespace on
//! the internal VLAN (optionally 802.1Q-tagged through a user-space tagger) and an external
//! namespace on the external VLAN, joined to the VNF (egress mode, `net_af_packet` ports in a
//! `dut` namespace). Included with `#[path]` by `tests/net_e2e.rs` and `src/bin/egress-demo.rs`.
#![allow(dead_code)]

use egress_tests::netns::{ping, NetNs, VethPair};
use egress_tests::process::ChildGuard;
use egress_tests::vnf::{release_binary, Vnf, VnfBuilder};

/// A user-space 802.1Q sub-interface: `tagger.py ACCESS TRUNK VID` bridges ACCESS (untagged)
/// and TRUNK (tagged VID), nothing else.
const TAGGER: &str = r#"
import select, socket, struct, sys
access, trunk, vid = sys.argv[1], sys.argv[2], int(sys.argv[3])
SOL_PACKET, PACKET_AUXDATA, TP_STATUS_VLAN_VALID = 263, 8, 1 << 4
def sock(ifname):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
    s.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1)
    s.bind((ifname, 0))
    return s
a, t = sock(access), sock(trunk)
print("tagger ready", flush=True)
while True:
    for s in select.select([a, t], [], [])[0]:
        data, anc, _, addr = s.recvmsg(65535, socket.CMSG_SPACE(32))
        if addr[2] == socket.PACKET_OUTGOING:
            continue
        tci = None
        for level, kind, d in anc:
            if level == SOL_PACKET and kind == PACKET_AUXDATA and len(d) >= 18:
                status, _, _, _, _, vtci = struct.unpack_from("IIIHHH", d)
                if status & TP_STATUS_VLAN_VALID:
                    tci = vtci
        if s is a:
            t.send(data[:12] + struct.pack("!HH", 0x8100, vid) + data[12:])
        elif tci is not None:
            if tci & 0xfff == vid:
                a.send(data)
        elif data[12:14] == b"\x81\x00" and struct.unpack("!H", data[14:16])[0] & 0xfff == vid:
            a.send(data[:12] + data[16:])
"#;

/// The two sides of the VNF. Field order is drop order: the tagger, links, then namespaces.
pub struct NetTopology {
    pub tagger: Option<ChildGuard>,
    pub trunk: Option<VethPair>,
    pub pod_link: VethPair,
    pub ext_link: VethPair,
    pub tag_ns: Option<NetNs>,
    pub pod: NetNs,
    pub ext: NetNs,
    pub dut: NetNs,
    /// The pod's interface on the internal VLAN.
    pub pod_if: String,
    /// The `dut` end the VNF's port 1.1 uses.
    pub vnf_if_1: String,
    pub tag: Option<u16>,
    _dir: tempfile::TempDir,
}

pub const POD_V4: &str = "10.1.0.1";
pub const POD_V6: &str = "fd00:1::1";
pub const INT_SELF_V4: &str = "10.1.0.254";
pub const INT_SELF_V6: &str = "fd00:1::fe";
pub const EXT_V4: &str = "192.0.2.1";
pub const EXT_V6: &str = "2001:db8::1";
pub const EXT_SELF_V4: &str = "192.0.2.254";
pub const EXT_SELF_V6: &str = "2001:db8::fe";

impl NetTopology {
    pub fn new(tag: Option<u16>) -> NetTopology {
        let dut = NetNs::new("dut").unwrap();
        dut.sysctl("net.ipv6.conf.all.disable_ipv6", "1").unwrap();
        dut.sysctl("net.ipv6.conf.default.disable_ipv6", "1")
            .unwrap();
        let pod = NetNs::new("pod").unwrap();
        let ext = NetNs::new("ext").unwrap();
        let ext_link = VethPair::new(&ext, &dut).unwrap();
        let dir = egress_tests::test_dir("net-e2e").unwrap();
        let (pod_link, tag_ns, trunk, tagger) = match tag {
            None => (VethPair::new(&pod, &dut).unwrap(), None, None, None),
            Some(t) => {
                let tag_ns = NetNs::new("tag").unwrap();
                tag_ns
                    .sysctl("net.ipv6.conf.all.disable_ipv6", "1")
                    .unwrap();
                tag_ns
                    .sysctl("net.ipv6.conf.default.disable_ipv6", "1")
                    .unwrap();
                let pod_link = VethPair::new(&pod, &tag_ns).unwrap();
                let trunk = VethPair::new(&tag_ns, &dut).unwrap();
                let mut cmd = tag_ns.command("python3");
                cmd.args(["-u", "-c", TAGGER, &pod_link.b, &trunk.a, &t.to_string()]);
                let mut tagger = ChildGuard::spawn(cmd, dir.path(), "tagger").unwrap();
                tagger
                    .wait_for_output(
                        egress_tests::process::Stream::Stdout,
                        "tagger ready",
                        std::time::Duration::from_secs(20),
                    )
                    .unwrap();
                (pod_link, Some(tag_ns), Some(trunk), Some(tagger))
            }
        };
        let pod_if = pod_link.a.clone();
        let vnf_if_1 = trunk.as_ref().map_or(pod_link.b.clone(), |t| t.b.clone());
        pod.ip(&["addr", "add", &format!("{POD_V4}/24"), "dev", &pod_if])
            .unwrap();
        pod.ip(&[
            "-6",
            "addr",
            "add",
            &format!("{POD_V6}/64"),
            "dev",
            &pod_if,
            "nodad",
        ])
        .unwrap();
        pod.ip(&["route", "add", "default", "via", INT_SELF_V4])
            .unwrap();
        pod.ip(&["-6", "route", "add", "default", "via", INT_SELF_V6])
            .unwrap();
        ext.ip(&["addr", "add", &format!("{EXT_V4}/24"), "dev", &ext_link.a])
            .unwrap();
        ext.ip(&[
            "-6",
            "addr",
            "add",
            &format!("{EXT_V6}/64"),
            "dev",
            &ext_link.a,
            "nodad",
        ])
        .unwrap();
        NetTopology {
            tagger,
            trunk,
            pod_link,
            ext_link,
            tag_ns,
            pod,
            ext,
            dut,
            pod_if,
            vnf_if_1,
            tag,
            _dir: dir,
        }
    }

    /// The VLAN section of the VNF's config.
    pub fn vlans_toml(&self) -> String {
        format!(
            r#"
[[vlans]]
name = "pods"
interfaces = ["1.1"]
internal = true
tag = {tag}
self_v4 = "{INT_SELF_V4}"
prefixlen_v4 = 24
self_v6 = "{INT_SELF_V6}"
prefixlen_v6 = 64

[[vlans]]
name = "outside"
interfaces = ["1.2"]
self_v4 = "{EXT_SELF_V4}"
prefixlen_v4 = 24
self_v6 = "{EXT_SELF_V6}"
prefixlen_v6 = 64
"#,
            tag = self.tag.unwrap_or(0)
        )
    }

    /// EAL arguments: port 1.1 on the pod link, 1.2 on the external link (both `dut` ends).
    pub fn vdevs(&self) -> Vec<String> {
        vec![
            "--vdev".into(),
            format!("net_af_packet0,iface={}", self.vnf_if_1),
            "--vdev".into(),
            format!("net_af_packet1,iface={}", self.ext_link.b),
        ]
    }

    pub fn start_vnf(&self, label: &str) -> Vnf {
        VnfBuilder::new()
            .label(label)
            .mode("egress")
            .netns(&self.dut)
            .eal_args(self.vdevs())
            .extra_toml(&self.vlans_toml())
            .start()
            .unwrap()
    }

    /// MAC address of an interface in a namespace.
    pub fn mac_of(ns: &NetNs, ifname: &str) -> String {
        let out = ns.ip(&["-o", "link", "show", "dev", ifname]).unwrap();
        out.split_whitespace()
            .skip_while(|w| *w != "link/ether")
            .nth(1)
            .unwrap_or_default()
            .to_string()
    }
}

/// Runs `egressctl --socket <the VNF's> ARGS`; returns its stdout.
pub fn egressctl(vnf: &Vnf, args: &[&str]) -> String {
    let out = std::process::Command::new(release_binary("egressctl").unwrap())
        .arg("--socket")
        .arg(vnf.control_socket())
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "egressctl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The network-layer part of `make demo`: the pod pings the internal self IPv4 and IPv6, the
/// external namespace pings the external ones; then `show vlan` and `show neigh`. Everything is
/// removed on return. Returns whether every ping got all its replies.
pub fn demo() -> anyhow::Result<bool> {
    let topo = NetTopology::new(None);
    println!("topology:");
    println!(
        "  {} {} {POD_V4}/24 {POD_V6}/64  <->  [{}: port 1.1 vlan pods {INT_SELF_V4} {INT_SELF_V6} | egress-vnf | vlan outside {EXT_SELF_V4} {EXT_SELF_V6} port 1.2]  <->  {} {EXT_V4}/24 {EXT_V6}/64 {}",
        topo.pod.name(),
        topo.pod_if,
        topo.dut.name(),
        topo.ext_link.a,
        topo.ext.name()
    );
    let vnf = topo.start_vnf("demo-net");
    let mut ok = true;
    for (ns, dsts) in [
        (&topo.pod, [INT_SELF_V4, INT_SELF_V6]),
        (&topo.ext, [EXT_SELF_V4, EXT_SELF_V6]),
    ] {
        for dst in dsts {
            println!("\n$ ip netns exec {} ping -c 3 {dst}", ns.name());
            let r = ping(ns, dst, 3)?;
            print!("{}", r.output);
            ok &= r.success && r.received == 3;
        }
    }
    // The workers publish their neighbour tables every 500 ms.
    std::thread::sleep(std::time::Duration::from_millis(600));
    for cmd in [["show", "vlan"], ["show", "neigh"]] {
        println!("\n$ egressctl {}", cmd.join(" "));
        print!("{}", egressctl(&vnf, &cmd));
    }
    vnf.stop()?;
    drop(topo);
    println!("network-layer topology removed");
    Ok(ok)
}
