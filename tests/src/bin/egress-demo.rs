//! `make demo`: two network namespaces joined through egress-vnf in bridge mode; a ping (IPv4
//! and IPv6) crosses it. Then the network layer in egress mode: a pod namespace pings the VNF's
//! internal self IPv4 and IPv6, an external namespace pings the external ones, and `egressctl
//! show vlan` / `show neigh` show the VLANs and the neighbours learned. Everything is torn down
//! at the end; exit status 0 when every ping got its replies. `--hold` keeps the bridge
//! topology up until Ctrl-C.

use anyhow::{bail, Result};
use egress_tests::netns::{ping, BridgeTopology};
use egress_tests::vnf::VnfBuilder;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The network-layer topology and its demo (shared with `tests/net_e2e.rs`).
#[path = "../../tests/net/topology.rs"]
mod net_topology;

fn main() {
    match run() {
        Ok(()) => println!("demo: OK"),
        Err(e) => {
            eprintln!("demo: FAILED: {e:#}");
            std::process::exit(1);
        }
    }
}

fn run() -> Result<()> {
    let hold = std::env::args().skip(1).any(|a| a == "--hold");
    if !rustix::process::geteuid().is_root() {
        bail!("the demo needs root (network namespaces, veth pairs, DPDK)");
    }
    let stop = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGINT, Arc::clone(&stop))?;
    signal_hook::flag::register(signal_hook::consts::SIGTERM, Arc::clone(&stop))?;

    let topo = BridgeTopology::new()?;
    let (pa, pb) = topo.peer_ifaces();
    let (da, db) = topo.dut_ifaces();
    println!("topology:");
    println!(
        "  {} {pa} {}/24 {}/64  <->  [{}: {da} = port 1.1 | egress-vnf bridge | port 1.2 = {db}]  <->  {pb} {}/24 {}/64 {}",
        topo.peer_a.name(),
        BridgeTopology::A.v4,
        BridgeTopology::A.v6,
        topo.dut.name(),
        BridgeTopology::B.v4,
        BridgeTopology::B.v6,
        topo.peer_b.name(),
    );
    let vnf = VnfBuilder::new()
        .label("demo")
        .netns(&topo.dut)
        .eal_args(topo.af_packet_vdevs())
        .start()?;
    println!(
        "egress-vnf running (pid {}, config {})",
        vnf.pid(),
        vnf.config_path().display()
    );

    let mut ok = true;
    for dst in [BridgeTopology::B.v4, BridgeTopology::B.v6] {
        println!("\n$ ip netns exec {} ping -c 3 {dst}", topo.peer_a.name());
        let r = ping(&topo.peer_a, dst, 3)?;
        print!("{}", r.output);
        ok &= r.success && r.received == 3;
    }

    if hold {
        println!(
            "\nHOLD: the topology stays up; try `ip netns exec {} ping {}`. Ctrl-C tears it down.",
            topo.peer_a.name(),
            BridgeTopology::B.v4
        );
        while !stop.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    let (_, stats) = vnf.stop()?;
    println!("\negress-vnf final statistics:");
    for (name, p) in &stats.ports {
        println!(
            "  port {name}: rx_packets={} tx_packets={}",
            p.get("rx_packets"),
            p.get("tx_packets")
        );
    }
    drop(topo);
    println!("topology removed");
    if !ok {
        bail!("a ping through the VNF did not get all its replies");
    }

    println!(
        "\n== network layer (egress mode): a pod and an external host ping the VNF's self IPs =="
    );
    if !net_topology::demo()? {
        bail!("a ping to a self IP of the VNF did not get all its replies");
    }
    Ok(())
}
