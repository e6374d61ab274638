//! Real peers: two network namespaces on one subnet whose only path is the VNF in bridge mode
//! (`net_af_packet` ports on veths). Ping crosses it, without and with hugepages.

use egress_tests::hugepages::{free_hugepages, HugepageGuard};
use egress_tests::netns::{ping, BridgeTopology};
use egress_tests::vnf::{FinalStats, VnfBuilder};
use egress_tests::{require_root, serial};

fn assert_pings(topo: &BridgeTopology, dst: &str) {
    let r = ping(&topo.peer_a, dst, 3).unwrap();
    assert!(
        r.success && r.transmitted == 3 && r.received == 3,
        "ping {dst}:\n{}",
        r.output
    );
}

fn assert_forwarded(stats: &FinalStats, at_least: u64) {
    for (rx, tx) in [("1.1", "1.2"), ("1.2", "1.1")] {
        let (r, t) = (stats.port(rx).unwrap(), stats.port(tx).unwrap());
        assert!(r.get("rx_packets") >= at_least, "port {rx}: {r:?}");
        assert!(t.get("tx_packets") >= at_least, "port {tx}: {t:?}");
    }
}

fn run(hugepages: bool) {
    require_root();
    let _s = serial();
    let _huge = hugepages.then(|| HugepageGuard::reserve(256).unwrap());
    let topo = BridgeTopology::new().unwrap();
    let mut b = VnfBuilder::new()
        .label(if hugepages { "peers-huge" } else { "peers" })
        .netns(&topo.dut)
        .eal_args(topo.af_packet_vdevs());
    if hugepages {
        b = b.no_huge(false).memory_mb(None);
    }
    let free_before = hugepages.then(|| free_hugepages().unwrap());
    let vnf = b.start().unwrap();
    if let Some(before) = free_before {
        let now = free_hugepages().unwrap();
        assert!(
            now < before,
            "the VNF uses no hugepages ({before} free before, {now} now)"
        );
    }
    assert_pings(&topo, BridgeTopology::B.v4);
    assert_pings(&topo, BridgeTopology::B.v6);
    // IPv6 link-local: B's fe80:: address, reached through A's interface.
    let (a_if, b_if) = topo.peer_ifaces();
    let ll_b = topo.peer_b.link_local(b_if).unwrap();
    let ll_b = format!("{}%{a_if}", ll_b.split('%').next().unwrap());
    assert_pings(&topo, &ll_b);
    let (_exit, stats) = vnf.stop().unwrap();
    // 3 echo requests and 3 replies per destination, plus ARP and neighbour discovery.
    assert_forwarded(&stats, 9);
}

#[test]
fn ping_crosses_the_vnf_without_hugepages() {
    run(false);
}

#[test]
fn ping_crosses_the_vnf_with_hugepages() {
    run(true);
}
