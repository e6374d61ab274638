//! `make demo`: the mission of egress-vnf, end to end with real kernel stacks.
//!
//! An IPv4-only pod and an IPv6-only pod reach the world only through egress-vnf (egress mode,
//! `net_af_packet` ports, one worker). The external namespace holds an IPv6-only web server, an
//! IPv4-only web server and a real authoritative DNS server (knotd); a redis-server in the VNF's
//! namespace is its dSSM. The pods' resolver address leads nowhere: the VNF intercepts their DNS.
//!
//! 1. The IPv4-only pod resolves the IPv6-only name (DNS46: an IPv4 of this TMM's slice) and
//!    fetches it with `curl -4` (NAT46).
//! 2. The IPv6-only pod resolves the IPv4-only name (DNS64: 64:ff9b::/96) and fetches it with
//!    `curl -6` (NAT64).
//! 3. The IPv4-only pod fetches the IPv4 server directly (SNAT44).
//! 4. `egressctl show vs stats`.
//!
//! Everything is torn down at the end; exit status 0 when every step got the expected answer.
//! `--hold` keeps the topology up until Ctrl-C.

use anyhow::{bail, Context, Result};
use egress_tests::egress::*;
use egress_tests::netns::NetNs;
use egress_tests::process::{ChildGuard, Stream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

fn main() {
    match run() {
        Ok(()) => println!("\ndemo: OK"),
        Err(e) => {
            eprintln!("\ndemo: FAILED: {e:#}");
            std::process::exit(1);
        }
    }
}

/// Runs a command in `ns`, prints it and its output; returns the output.
fn show(ns: &NetNs, program: &str, args: &[&str]) -> Result<String> {
    println!(
        "\n$ ip netns exec {} {program} {}",
        ns.name(),
        args.join(" ")
    );
    let out = egress_tests::cmd::output(ns.command(program).args(args))?;
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    print!("{text}");
    if !text.ends_with('\n') {
        println!();
    }
    Ok(text)
}

fn redis(ns: &NetNs, dir: &std::path::Path) -> Result<ChildGuard> {
    let mut c = ns.command("redis-server");
    c.args([
        "--port",
        "6379",
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
    ])
    .arg(dir);
    let mut g = ChildGuard::spawn(c, dir, "redis").context("redis-server (make setup)")?;
    g.wait_for_output(
        Stream::Stdout,
        "Ready to accept connections",
        Duration::from_secs(10),
    )?;
    Ok(g)
}

fn run() -> Result<()> {
    let hold = std::env::args().skip(1).any(|a| a == "--hold");
    if !rustix::process::geteuid().is_root() {
        bail!("the demo needs root (network namespaces, veth pairs, DPDK)");
    }
    let stop = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGINT, Arc::clone(&stop))?;
    signal_hook::flag::register(signal_hook::consts::SIGTERM, Arc::clone(&stop))?;

    let topo = EgressTopology::new(TopologyOptions::default())?;
    let redis = redis(&topo.dut, topo.dir())?;
    println!("topology:");
    println!(
        "  {} (IPv4-only pod) {POD4_V4}/24, resolver {POD4_RESOLVER}  --  port 1.1 vlan pods4 {INT_SELF_V4}",
        topo.pod4.name()
    );
    println!(
        "  {} (IPv6-only pod) {POD6_V6}/64, resolver {POD6_RESOLVER}  --  port 1.3 vlan pods6 {INT_SELF_V6}",
        topo.pod6.name()
    );
    println!(
        "  {} (egress-vnf, dSSM redis-server on 127.0.0.1:6379)",
        topo.dut.name()
    );
    println!(
        "  {} (world)  --  port 1.2 vlan outside {EXT_SELF_V4} {EXT_SELF_V6}: knotd {DNS_UPSTREAM} (zone {ZONE}), \
         web v6only {SERVER_V6} (IPv6 only), web v4only {SERVER_V4} (IPv4 only)",
        topo.ext.name()
    );
    println!(
        "  the pods' resolver addresses exist nowhere: the VNF intercepts UDP/53 from the pods"
    );

    let features = Features {
        static_v6: None,
        dssm_toml: Some(
            "[dssm]\nenabled = true\nservice = \"127.0.0.1:6379\"\ninsecure = true\nwait_replicas = 0\n"
                .into(),
        ),
        ..Features::default()
    };
    let vnf = topo.start_vnf("demo", &features)?;
    println!(
        "\negress-vnf running (pid {}, config {}): DNS46/NAT46 pool {NAT46_SUBNET} (slice {NAT46_SLICE_FIRST}-{NAT46_SLICE_LAST}), \
         DNS64/NAT64 64:ff9b::/96, SNAT automap, DNS forward zone . -> {DNS_UPSTREAM}",
        vnf.pid(),
        vnf.config_path().display()
    );

    let mut failed: Vec<String> = Vec::new();
    let v6name = fqdn("v6only");
    let v4name = fqdn("v4only");

    println!(
        "\n== 1. the IPv4-only pod resolves and fetches the IPv6-only service (DNS46 + NAT46) =="
    );
    let ans = show(&topo.pod4, "dig", &["+short", "+time=3", &v6name, "A"])?;
    let a: Vec<std::net::Ipv4Addr> = ans.lines().filter_map(|l| l.trim().parse().ok()).collect();
    if a.len() != 1 {
        failed.push(format!("A {v6name}: {ans:?}"));
    }
    let body = show(
        &topo.pod4,
        "curl",
        &["-4", "-sS", "--max-time", "8", &format!("http://{v6name}/")],
    )?;
    if !http_answer_ok(&body, "v6only", EXT_SELF_V6) {
        failed.push(format!("curl -4 http://{v6name}/"));
    }
    if let Some(ip) = a.first() {
        println!(
            "\n$ redis-cli GET dns46:v4:{ip}   (the mapping in dSSM)\n{}",
            topo.dut
                .run(
                    "redis-cli",
                    &["-h", "127.0.0.1", "GET", &format!("dns46:v4:{ip}")]
                )
                .unwrap_or_default()
                .trim()
        );
    }

    println!(
        "\n== 2. the IPv6-only pod resolves and fetches the IPv4-only service (DNS64 + NAT64) =="
    );
    let ans = show(&topo.pod6, "dig", &["+short", "+time=3", &v4name, "AAAA"])?;
    if !ans.lines().any(|l| l.trim() == "64:ff9b::c000:20a") {
        failed.push(format!("AAAA {v4name}: {ans:?}"));
    }
    let body = show(
        &topo.pod6,
        "curl",
        &["-6", "-sS", "--max-time", "8", &format!("http://{v4name}/")],
    )?;
    if !http_answer_ok(&body, "v4only", EXT_SELF_V4) {
        failed.push(format!("curl -6 http://{v4name}/"));
    }

    println!(
        "\n== 3. a plain IPv4 flow from the IPv4-only pod (SNAT44 to the external self IP) =="
    );
    let body = show(
        &topo.pod4,
        "curl",
        &[
            "-4",
            "-sS",
            "--max-time",
            "8",
            &format!("http://{SERVER_V4}/"),
        ],
    )?;
    if !http_answer_ok(&body, "v4only", EXT_SELF_V4) {
        failed.push(format!("curl -4 http://{SERVER_V4}/"));
    }

    println!("\n== 4. the virtual servers ==");
    // The workers publish their counters every 500 ms.
    std::thread::sleep(Duration::from_millis(1200));
    println!("\n$ egressctl show vs stats");
    match egressctl(&vnf, &["show", "vs", "stats"]) {
        Ok(t) => print!("{t}"),
        Err(e) => {
            println!("(show vs stats is not available: {e:#}); show drops and port stats instead");
            for cmd in [
                &["show", "drops"][..],
                &["show", "port", "stats", "all"][..],
            ] {
                println!("\n$ egressctl {}", cmd.join(" "));
                print!("{}", egressctl(&vnf, cmd)?);
            }
        }
    }

    if hold {
        println!(
            "\nHOLD: the topology stays up; try `ip netns exec {} curl -4 http://{v6name}/` or \
             `ip netns exec {} curl -6 http://{v4name}/`. Ctrl-C tears it down.",
            topo.pod4.name(),
            topo.pod6.name()
        );
        while !stop.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    let (_, stats) = vnf.stop()?;
    println!("\negress-vnf stopped; final port statistics:");
    for (name, p) in &stats.ports {
        println!(
            "  port {name}: rx_packets={} tx_packets={}",
            p.get("rx_packets"),
            p.get("tx_packets")
        );
    }
    drop(redis);
    drop(topo);
    println!("topology removed (namespaces, links, servers)");
    if !failed.is_empty() {
        bail!("these steps did not get the expected answer: {failed:?}");
    }
    Ok(())
}
