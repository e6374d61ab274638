//! End to end of the network layer with real kernel stacks: a pod namespace on the internal
//! VLAN and an external namespace on the external VLAN, joined to the VNF (egress mode,
//! `net_af_packet` ports in a `dut` namespace) by veth pairs. `ping` and `ping -6` reach the
//! self IPs from both sides; the pod's `ip neigh` has the VNF's MAC; the VNF's `show neigh`
//! has the pod. Once untagged, once with the internal VLAN tagged.
//!
//! Tagged case: the pod's frames carry 802.1Q id 101 on the wire to the VNF. The kernels of
//! the machines this runs on may lack the `8021q` module (no `ip link add ... type vlan`), a
//! VLAN-filtering bridge and the tc `vlan` action, so the pod's VLAN sub-interface is a small
//! user-space tagger in a namespace of its own: it pushes the tag on frames from the pod and
//! pops it on frames to the pod (AF_PACKET sockets, the tag read from PACKET_AUXDATA as the
//! kernel strips it on receive). The pod's stack, ARP/NDP and ping are the kernel's.
//!
//! ```text
//!  untagged:  [pod] a ==veth== b [dut: VNF 1.1 | VNF 1.2] b ==veth== a [ext]
//!  tagged:    [pod] a ==veth== b [tag: tagger] a ==veth(802.1Q 101)== b [dut: VNF 1.1 | ...]
//! ```

#[path = "net/topology.rs"]
mod topology;

use egress_tests::netns::{ping, NetNs};
use egress_tests::{require_root, serial};
use topology::*;

fn assert_ping(ns: &NetNs, dst: &str) {
    let r = ping(ns, dst, 3).unwrap();
    assert!(
        r.success && r.transmitted == 3 && r.received == 3,
        "ping {dst} from {}:\n{}",
        ns.name(),
        r.output
    );
}

fn run(tag: Option<u16>) {
    require_root();
    let _s = serial();
    let topo = NetTopology::new(tag);
    let vnf = topo.start_vnf(if tag.is_some() {
        "net-e2e-tagged"
    } else {
        "net-e2e"
    });

    // Both sides reach their VLAN's self IPs, both families; the pod also reaches the external
    // self IPs through its default route via the VNF.
    for dst in [INT_SELF_V4, INT_SELF_V6, EXT_SELF_V4, EXT_SELF_V6] {
        assert_ping(&topo.pod, dst);
    }
    for dst in [EXT_SELF_V4, EXT_SELF_V6] {
        assert_ping(&topo.ext, dst);
    }

    // The pod resolved the VNF to the MAC of the VNF's port (the dut end of the veth).
    let vnf_mac = NetTopology::mac_of(&topo.dut, &topo.vnf_if_1);
    assert!(!vnf_mac.is_empty());
    for dst in [INT_SELF_V4, INT_SELF_V6] {
        let neigh = topo.pod.ip(&["neigh", "show", dst]).unwrap();
        assert!(
            neigh.contains(&vnf_mac),
            "pod's neighbour {dst}: {neigh:?}, VNF MAC {vnf_mac}"
        );
    }

    // The VNF learned the pod (both families) and the external host.
    let pod_mac = NetTopology::mac_of(&topo.pod, &topo.pod_if);
    std::thread::sleep(std::time::Duration::from_millis(700));
    let neigh = egressctl(&vnf, &["show", "neigh"]);
    for (addr, mac) in [(POD_V4, &pod_mac), (POD_V6, &pod_mac)] {
        assert!(
            neigh.lines().any(|l| l.contains(&format!(" {addr} "))
                && l.contains(mac.as_str())
                && l.contains("pods")),
            "show neigh lacks {addr} at {mac}:\n{neigh}"
        );
    }
    assert!(
        neigh.contains(EXT_V4),
        "show neigh lacks {EXT_V4}:\n{neigh}"
    );
    let vlans = egressctl(&vnf, &["show", "vlan"]);
    assert!(
        vlans.contains("pods") && vlans.contains(&vnf_mac),
        "{vlans}"
    );
    if let Some(t) = tag {
        assert!(vlans.contains(&format!(" {t} ")), "{vlans}");
    }
    let routes = egressctl(&vnf, &["show", "route"]);
    assert!(
        routes.contains("10.1.0.0/24") && routes.contains("fd00:1::/64"),
        "{routes}"
    );
    let (_exit, stats) = vnf.stop().unwrap();
    assert!(stats.port("1.1").unwrap().get("tx_packets") >= 12);
}

#[test]
fn ping_self_ips_from_pod_and_external_side() {
    run(None);
}

#[test]
fn ping_self_ips_with_the_internal_vlan_tagged() {
    run(Some(101));
}
