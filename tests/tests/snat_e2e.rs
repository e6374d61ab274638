//! SNAT end to end with real kernel stacks (issue 4, acceptance): a pod namespace on the
//! internal VLAN, an external namespace with the servers on the external VLAN, the VNF (egress
//! mode, one worker, `net_af_packet` ports) in a `dut` namespace between them (the topology of
//! `net_e2e.rs`).
//!
//! - `curl` over IPv4 and IPv6 (`snat.dual_stack`): the HTTP server logs the SNAT pool address
//!   as the client; automap (empty pools): it logs the external self IPs.
//! - `ping`: the echo identifier is translated (seen on the external link by `dumpcap`) and the
//!   replies come back to the pod.
//! - 10 000 concurrent UDP flows from the pod to an echo server (`snat-peer`): every flow gets
//!   its answer, every one from the pool address with its own port.
//! - Exhaustion: one address, ten ports: flows beyond them are dropped and counted
//!   (`nat_ports_exhausted`) while the first ten keep working.
//! - Timeouts: one port, a 2 s UDP timeout: a second flow gets the port only after the session
//!   expired and the reuse delay passed.
//!
//! ```text
//!  [pod 10.1.0.1 fd00:1::1] ==veth== [dut: VNF 1.1 | VNF 1.2] ==veth== [ext 192.0.2.1 2001:db8::1]
//!                                     SNAT 192.0.2.10 2001:db8::10 (self 192.0.2.254 2001:db8::fe)
//! ```

#[path = "net/topology.rs"]
mod topology;

use egress_tests::netns::NetNs;
use egress_tests::process::{ChildGuard, Stream};
use egress_tests::snat::{http_peers, http_server, Capture, FlowsResult, SnatPeer};
use egress_tests::vnf::{Vnf, VnfBuilder};
use egress_tests::{require_root, serial};
use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};
use topology::*;

const POOL_V4: &str = "192.0.2.10";
const POOL_V6: &str = "2001:db8::10";

fn peer() -> SnatPeer {
    SnatPeer::new(env!("CARGO_BIN_EXE_snat-peer"))
}

/// The `[snat]` section: pools (empty = automap), dual stack on, and more keys/tables.
fn snat_toml(pool_v4: &[&str], pool_v6: &[&str], extra: &str) -> String {
    snat_toml_stack(pool_v4, pool_v6, true, extra)
}

fn snat_toml_stack(pool_v4: &[&str], pool_v6: &[&str], dual_stack: bool, extra: &str) -> String {
    let list = |p: &[&str]| {
        p.iter()
            .map(|a| format!("\"{a}\""))
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!(
        "\n[snat]\npool_v4 = [{}]\npool_v6 = [{}]\ndual_stack = {dual_stack}\nsessions_per_worker = 65536\n{extra}\n",
        list(pool_v4),
        list(pool_v6)
    )
}

fn start(topo: &NetTopology, label: &str, snat: &str) -> Vnf {
    VnfBuilder::new()
        .label(label)
        .mode("egress")
        .workers(1)
        .netns(&topo.dut)
        .eal_args(topo.vdevs())
        .extra_toml(&topo.vlans_toml())
        .extra_toml(snat)
        .start()
        .unwrap()
}

/// `show drops` → packets by reason.
fn drops(vnf: &Vnf) -> BTreeMap<String, u64> {
    egressctl(vnf, &["show", "drops"])
        .lines()
        .skip(1)
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            Some((w.next()?.to_string(), w.next()?.parse().ok()?))
        })
        .collect()
}

/// The drop counters are published by the workers periodically: wait until `reason` reaches
/// `at_least` (or 5 s passed) and return its value.
fn drop_count(vnf: &Vnf, reason: &str, at_least: u64) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let n = drops(vnf).get(reason).copied().unwrap_or(0);
        if n >= at_least || Instant::now() >= deadline {
            return n;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// `curl` from the pod; returns the body.
fn curl(pod: &NetNs, url: &str) -> String {
    let out = pod
        .command("curl")
        .args(["-sS", "-g", "--max-time", "10", url])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "curl {url}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Serves a file from the external namespace on v4 and v6; `curl` from the pod, three times per
/// family; the server must log `seen_v4` / `seen_v6` as the client of every request.
fn http_run(label: &str, pool_v4: &[&str], pool_v6: &[&str], seen_v4: &str, seen_v6: &str) {
    require_root();
    let _s = serial();
    let dir = egress_tests::test_dir(label).unwrap();
    let root = dir.path().join("www");
    std::fs::create_dir(&root).unwrap();
    std::fs::write(root.join("hello.txt"), "hello through egress-vnf\n").unwrap();
    let topo = NetTopology::new(None);
    let web4 = http_server(&topo.ext, EXT_V4, 8080, &root, dir.path()).unwrap();
    let web6 = http_server(&topo.ext, EXT_V6, 8080, &root, dir.path()).unwrap();
    let vnf = start(&topo, label, &snat_toml(pool_v4, pool_v6, ""));

    for url in [
        format!("http://{EXT_V4}:8080/hello.txt"),
        format!("http://[{EXT_V6}]:8080/hello.txt"),
    ] {
        for _ in 0..3 {
            assert_eq!(curl(&topo.pod, &url), "hello through egress-vnf\n", "{url}");
        }
    }
    let (p4, p6) = (http_peers(&web4), http_peers(&web6));
    assert_eq!(p4, vec![seen_v4; 3], "IPv4 server log:\n{}", web4.stderr());
    assert_eq!(p6, vec![seen_v6; 3], "IPv6 server log:\n{}", web6.stderr());
    // The server never saw the pod itself.
    assert!(!web4.stderr().contains(POD_V4) && !web6.stderr().contains(POD_V6));
    let d = drops(&vnf);
    vnf.stop().unwrap();
    assert_eq!(
        d.get("nat_ports_exhausted").copied().unwrap_or(0),
        0,
        "{d:?}"
    );
}

/// RFC 4787 REQ-2 (paired pooling): every connection of the pod leaves from the one pool
/// address, IPv4 (SNAT44) and IPv6 (SNAT66 with `dual_stack`).
#[test]
fn curl_v4_and_v6_server_sees_the_snat_pool_address_rfc4787_req2() {
    http_run("snat-curl", &[POOL_V4], &[POOL_V6], POOL_V4, POOL_V6);
}

/// SNAT automap: empty pools, the server sees the external VLAN's self IPs.
#[test]
fn curl_automap_server_sees_the_external_self_ip() {
    http_run("snat-automap", &[], &[], EXT_SELF_V4, EXT_SELF_V6);
}

/// ICMP echo identifiers of IPv4 (RFC 5508 section 3) and IPv6 pings from the pod: the
/// identifier 7 lies outside the configured range, so the VNF must translate it; the replies
/// come back to the pod with its own identifier (ping counts only those).
#[test]
fn ping_through_translates_the_echo_identifier_rfc5508_section3() {
    require_root();
    let _s = serial();
    let dir = egress_tests::test_dir("snat-ping").unwrap();
    let topo = NetTopology::new(None);
    let vnf = start(
        &topo,
        "snat-ping",
        &snat_toml(&[POOL_V4], &[POOL_V6], "port_min = 20000\nport_max = 29999"),
    );
    let cap = Capture::start(&topo.ext, &topo.ext_link.a, dir.path(), "ext").unwrap();
    for dst in [EXT_V4, EXT_V6] {
        let mut c = topo.pod.command("ping");
        if dst.contains(':') {
            c.arg("-6");
        }
        let out = c
            .args(["-n", "-c", "3", "-i", "0.2", "-W", "2", "-e", "7", dst])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && text.contains("3 received"),
            "ping {dst}:\n{text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let frames = cap.stop().unwrap();
    vnf.stop().unwrap();
    // Echo requests seen on the external link: IPv4 (type 8) and ICMPv6 (type 128).
    let mut ids4 = BTreeSet::new();
    let mut ids6 = BTreeSet::new();
    for f in &frames {
        match u16::from_be_bytes([f[12], f[13]]) {
            0x0800 if f[23] == 1 && f[34] == 8 => {
                assert_eq!(
                    &f[26..30],
                    &POOL_V4.parse::<std::net::Ipv4Addr>().unwrap().octets()
                );
                ids4.insert(u16::from_be_bytes([f[38], f[39]]));
            }
            0x86dd if f[20] == 58 && f[54] == 128 => {
                assert_eq!(
                    &f[22..38],
                    &POOL_V6.parse::<std::net::Ipv6Addr>().unwrap().octets()
                );
                ids6.insert(u16::from_be_bytes([f[58], f[59]]));
            }
            _ => {}
        }
    }
    for (fam, ids) in [("IPv4", &ids4), ("IPv6", &ids6)] {
        assert_eq!(ids.len(), 1, "{fam}: one identifier outside: {ids:?}");
        let id = *ids.iter().next().unwrap();
        assert!(
            (20000..=29999).contains(&id),
            "{fam}: identifier {id} is not a translated one"
        );
    }
}

/// 10 000 concurrent UDP flows (one socket each) from the pod to an echo server at `server`:
/// every flow is answered; the server saw every flow from `pool`, each with its own port
/// (RFC 4787 REQ-1: one mapping per pod address and port).
fn udp_many(label: &str, server: &str, pool: &str) {
    require_root();
    let _s = serial();
    let dir = egress_tests::test_dir(label).unwrap();
    let topo = NetTopology::new(None);
    let peer = peer();
    let _echo = peer.echo(&topo.ext, server, dir.path()).unwrap();
    let vnf = start(&topo, label, &snat_toml(&[POOL_V4], &[POOL_V6], ""));
    // Resolve the neighbours on both sides first.
    let warm = peer
        .flows(
            &topo.pod,
            server,
            1,
            Duration::from_millis(200),
            Duration::from_secs(5),
            None,
        )
        .unwrap();
    assert_eq!(warm.answered(), 1, "{}", warm.output);

    const N: usize = 10_000;
    let r = peer
        .flows(
            &topo.pod,
            server,
            N,
            Duration::from_millis(1000),
            Duration::from_secs(60),
            None,
        )
        .unwrap();
    eprintln!(
        "{label}: {N} flows to {server}: answered {} in {} ms, {} datagrams sent",
        r.answered(),
        r.elapsed_ms,
        r.sent
    );
    let d = drops(&vnf);
    let (_, stats) = vnf.stop().unwrap();
    // Where first sends were lost (resent): the VNF's drops and its ports' missed packets.
    let nonzero: BTreeMap<&String, &u64> = d.iter().filter(|(_, n)| **n > 0).collect();
    for port in ["1.1", "1.2"] {
        let st = stats.port(port).unwrap();
        eprintln!(
            "{label}: port {port} rx {} missed {} tx {} tx_errors {}",
            st.get("rx_packets"),
            st.get("rx_missed"),
            st.get("tx_packets"),
            st.get("tx_errors")
        );
    }
    eprintln!("{label}: drops {nonzero:?}");
    assert_eq!(r.answered(), N, "drops {d:?}\n{}", tail(&r));
    let pool: IpAddr = pool.parse().unwrap();
    assert!(
        r.answers.iter().all(|a| a.seen.ip() == pool),
        "{}",
        tail(&r)
    );
    let ports: BTreeSet<u16> = r.answers.iter().map(|a| a.seen.port()).collect();
    assert_eq!(ports.len(), N, "one outside port per flow");
}

#[test]
fn udp_10000_concurrent_flows_all_answered_rfc4787() {
    udp_many("snat-udp", &format!("{EXT_V4}:7000"), POOL_V4);
}

/// The same over IPv6 (SNAT66 with dual stack).
#[test]
fn udp6_10000_concurrent_flows_all_answered_rfc4787() {
    udp_many("snat-udp6", &format!("[{EXT_V6}]:7000"), POOL_V6);
}

/// A full session table (issue 11, item 4): `sessions_per_worker = 10`; ten flows fill it, 200
/// more flows are refused, every datagram of them counted as `nat_table_full`, and the first
/// ten keep working with their mappings.
#[test]
fn full_session_table_drops_and_counts_new_flows_existing_keep_working() {
    require_root();
    let _s = serial();
    let dir = egress_tests::test_dir("snat-full").unwrap();
    let topo = NetTopology::new(None);
    let peer = peer();
    let server = format!("{EXT_V4}:7000");
    let _echo = peer.echo(&topo.ext, &server, dir.path()).unwrap();
    let snat =
        format!("\n[snat]\npool_v4 = [\"{POOL_V4}\"]\npool_v6 = []\nsessions_per_worker = 10\n");
    let vnf = start(&topo, "snat-full", &snat);
    let retry = Duration::from_millis(300);
    let first = peer
        .flows(
            &topo.pod,
            &server,
            10,
            retry,
            Duration::from_secs(10),
            Some(30000),
        )
        .unwrap();
    assert_eq!(first.answered(), 10, "{}", first.output);

    let before = drop_count(&vnf, "nat_table_full", 0);
    let extra = peer
        .flows(
            &topo.pod,
            &server,
            200,
            retry,
            Duration::from_secs(2),
            Some(31000),
        )
        .unwrap();
    assert_eq!(extra.answered(), 0, "{}", extra.output);
    let after = drop_count(&vnf, "nat_table_full", before + extra.sent);
    eprintln!(
        "full table: {} datagrams of 200 new flows sent, nat_table_full {before} -> {after}",
        extra.sent
    );
    assert_eq!(
        after - before,
        extra.sent,
        "every datagram of a new flow counted"
    );

    let again = peer
        .flows(
            &topo.pod,
            &server,
            10,
            retry,
            Duration::from_secs(10),
            Some(30000),
        )
        .unwrap();
    assert_eq!(again.answered(), 10, "{}", again.output);
    assert_eq!(seen(&again), seen(&first), "same mappings as before");
    vnf.stop().unwrap();
}

/// Two workers, each port with two queues (`net_af_packet` `qpairs=2`: the kernel's fanout
/// hash spreads the flows over the queues like RSS). 10 000 UDP flows from the pod: each flow's
/// packets from the pod stay on one worker (the one that opens its session and allocates its
/// port from its own block); the replies land on either queue and those on the wrong worker are
/// handed to the owner of their destination port. Every flow is answered, both workers opened
/// sessions, and `show lcores` counts hand-offs (RSS does not know about NAT).
#[test]
fn udp_10000_flows_over_two_workers_replies_handed_to_the_port_owner() {
    require_root();
    let _s = serial();
    let label = "snat-2w";
    let dir = egress_tests::test_dir(label).unwrap();
    let topo = NetTopology::new(None);
    let peer = peer();
    let server = format!("{EXT_V4}:7000");
    let _echo = peer.echo(&topo.ext, &server, dir.path()).unwrap();
    let vdevs: Vec<String> = topo
        .vdevs()
        .into_iter()
        .map(|a| {
            if a.starts_with("net_af_packet") {
                format!("{a},qpairs=2")
            } else {
                a
            }
        })
        .collect();
    let vnf = VnfBuilder::new()
        .label(label)
        .mode("egress")
        .workers(2)
        // Main lcore and worker 1 share CPU 0 on a two-CPU machine.
        .lcores("0@0,1@1,2@0")
        .netns(&topo.dut)
        .eal_args(vdevs)
        .extra_toml(&topo.vlans_toml())
        .extra_toml(&snat_toml(&[POOL_V4], &[POOL_V6], ""))
        .start()
        .unwrap();
    let warm = peer
        .flows(
            &topo.pod,
            &server,
            4,
            Duration::from_millis(200),
            Duration::from_secs(5),
            None,
        )
        .unwrap();
    assert_eq!(warm.answered(), 4, "{}", warm.output);

    const N: usize = 10_000;
    let r = peer
        .flows(
            &topo.pod,
            &server,
            N,
            Duration::from_millis(1000),
            Duration::from_secs(60),
            None,
        )
        .unwrap();
    eprintln!(
        "{label}: {N} flows: answered {} in {} ms, {} datagrams sent",
        r.answered(),
        r.elapsed_ms,
        r.sent
    );
    let lcores = egressctl(&vnf, &["show", "lcores"]);
    eprintln!("{lcores}");
    let d = drops(&vnf);
    let (_, stats) = vnf.stop().unwrap();
    let nonzero: BTreeMap<&String, &u64> = d.iter().filter(|(_, n)| **n > 0).collect();
    eprintln!("{label}: drops {nonzero:?}");
    assert_eq!(r.answered(), N, "drops {d:?}\n{}", tail(&r));
    let pool: IpAddr = POOL_V4.parse().unwrap();
    assert!(
        r.answers.iter().all(|a| a.seen.ip() == pool),
        "{}",
        tail(&r)
    );
    let ports: BTreeSet<u16> = r.answers.iter().map(|a| a.seen.port()).collect();
    assert_eq!(ports.len(), N, "one outside port per flow");
    // Both workers opened sessions: their outside ports are from both blocks (p % 2).
    let odd = ports.iter().filter(|p| *p % 2 == 1).count();
    assert!(
        odd > N / 10 && odd < N - N / 10,
        "{odd} of {N} outside ports are odd: the flows did not spread over both workers"
    );
    assert_eq!(stats.lcores.len(), 2, "{stats:?}");
    let out: u64 = stats.lcores.values().map(|l| l.get("handoff_out")).sum();
    let inn: u64 = stats.lcores.values().map(|l| l.get("handoff_in")).sum();
    eprintln!("{label}: handed over {out}, received {inn}");
    assert!(out > 0, "no packet was handed over: {stats:?}");
    assert_eq!(
        out, inn,
        "every packet handed over was received by its owner"
    );
    for (l, st) in &stats.lcores {
        assert!(st.get("handoff_in") > 0, "lcore {l} received no hand-off");
        assert!(st.get("rx_packets") > 0, "lcore {l} received nothing");
    }
    assert_eq!(d.get("handoff_ring_full").copied().unwrap_or(0), 0);
    assert!(lcores.contains("handoff_out"), "{lcores}");
}

fn tail(r: &FlowsResult) -> String {
    let lines: Vec<&str> = r.output.lines().collect();
    lines[lines.len().saturating_sub(10)..].join("\n")
}

fn seen(r: &FlowsResult) -> BTreeMap<u16, SocketAddr> {
    r.answers.iter().map(|a| (a.local_port, a.seen)).collect()
}

/// One SNAT address, ports 20000-20009: ten flows take them all; five more flows are dropped
/// and counted (`nat_ports_exhausted`, every datagram of them); the first ten flows keep
/// working with the same mappings.
#[test]
fn port_exhaustion_drops_and_counts_new_flows_existing_keep_working() {
    require_root();
    let _s = serial();
    let dir = egress_tests::test_dir("snat-exhaust").unwrap();
    let topo = NetTopology::new(None);
    let peer = peer();
    let server = format!("{EXT_V4}:7000");
    let _echo = peer.echo(&topo.ext, &server, dir.path()).unwrap();
    let vnf = start(
        &topo,
        "snat-exhaust",
        &snat_toml(&[POOL_V4], &[], "port_min = 20000\nport_max = 20009"),
    );
    let retry = Duration::from_millis(300);
    let first = peer
        .flows(
            &topo.pod,
            &server,
            10,
            retry,
            Duration::from_secs(10),
            Some(30000),
        )
        .unwrap();
    assert_eq!(first.answered(), 10, "{}", first.output);
    let ports: BTreeSet<u16> = first.answers.iter().map(|a| a.seen.port()).collect();
    assert_eq!(ports, (20000..=20009).collect(), "{}", first.output);

    let before = drop_count(&vnf, "nat_ports_exhausted", 0);
    let extra = peer
        .flows(
            &topo.pod,
            &server,
            5,
            retry,
            Duration::from_secs(2),
            Some(31000),
        )
        .unwrap();
    assert_eq!(extra.answered(), 0, "{}", extra.output);
    let after = drop_count(&vnf, "nat_ports_exhausted", before + extra.sent);
    eprintln!(
        "exhaustion: {} datagrams of 5 new flows sent, nat_ports_exhausted {before} -> {after}",
        extra.sent
    );
    assert_eq!(
        after - before,
        extra.sent,
        "every datagram of a new flow counted"
    );

    let again = peer
        .flows(
            &topo.pod,
            &server,
            10,
            retry,
            Duration::from_secs(10),
            Some(30000),
        )
        .unwrap();
    assert_eq!(again.answered(), 10, "{}", again.output);
    assert_eq!(seen(&again), seen(&first), "same mappings as before");
    vnf.stop().unwrap();
}

/// One SNAT port, UDP timeout 2 s: flow A holds the port; flow B (another source port) is
/// dropped until A's session expired (configurable UDP timeout, RFC 4787 REQ-5) and the port
/// passed the reuse delay (RFC 6888), then B gets that very port. The VNF keeps reuse times in
/// whole seconds rounded up, so the port may come back up to 1 s late, never early.
fn timeout_run(label: &str, reuse_delay_s: u64) {
    require_root();
    let _s = serial();
    let dir = egress_tests::test_dir(label).unwrap();
    let topo = NetTopology::new(None);
    let peer = peer();
    let server = format!("{EXT_V4}:7000");
    let _echo = peer.echo(&topo.ext, &server, dir.path()).unwrap();
    const UDP_S: u64 = 2;
    let vnf = start(
        &topo,
        label,
        &snat_toml(
            &[POOL_V4],
            &[],
            &format!(
                "port_min = 20000\nport_max = 20000\n[snat.timeouts]\nudp = {UDP_S}\nport_reuse_delay = {reuse_delay_s}"
            ),
        ),
    );
    let retry = Duration::from_millis(200);
    let a = peer
        .flows(
            &topo.pod,
            &server,
            1,
            retry,
            Duration::from_secs(10),
            Some(30000),
        )
        .unwrap();
    assert_eq!(a.answered(), 1, "{}", a.output);
    assert_eq!(
        a.answers[0].seen,
        format!("{POOL_V4}:20000").parse().unwrap()
    );
    // A's last packet (its answer) passed now; B retries every 200 ms until it is answered.
    let t0 = Instant::now();
    let b = peer
        .flows(
            &topo.pod,
            &server,
            1,
            retry,
            Duration::from_secs(20),
            Some(31000),
        )
        .unwrap();
    let waited = t0.elapsed();
    let exhausted = drop_count(&vnf, "nat_ports_exhausted", 1);
    vnf.stop().unwrap();
    eprintln!(
        "{label}: udp timeout {UDP_S} s, reuse delay {reuse_delay_s} s: B answered after {} ms, \
         {} datagrams of B dropped as nat_ports_exhausted",
        waited.as_millis(),
        exhausted
    );
    assert_eq!(b.answered(), 1, "{}", b.output);
    assert_eq!(
        b.answers[0].seen,
        format!("{POOL_V4}:20000").parse().unwrap(),
        "B got the port A had"
    );
    let min = Duration::from_secs(UDP_S + reuse_delay_s);
    assert!(
        waited + Duration::from_millis(300) >= min,
        "B answered after {waited:?}, before timeout + reuse delay {min:?}"
    );
    assert!(
        waited <= min + Duration::from_secs(4),
        "B answered only after {waited:?} (timeout + reuse delay {min:?})"
    );
    assert!(exhausted >= 1, "B was refused while the port was held");
}

/// UDP timeout 2 s and a reuse delay of 4 s: the port comes back after about 6 s.
#[test]
fn udp_session_expires_and_port_returns_after_reuse_delay_rfc6888() {
    timeout_run("snat-timeout", 4);
}

/// The same without a reuse delay: the port comes back as soon as the session expired (2 s),
/// which shows that the delay above is the reuse delay and not something else.
#[test]
fn udp_session_expires_and_port_returns_at_once_without_reuse_delay() {
    timeout_run("snat-timeout0", 0);
}

/// `ping -c 1 -e ID` from the pod; whether the reply came.
fn ping_once(pod: &NetNs, dst: &str, id: u16) -> bool {
    let out = pod
        .command("ping")
        .args(["-n", "-c", "1", "-W", "1", "-e", &id.to_string(), dst])
        .output()
        .unwrap();
    out.status.success() && String::from_utf8_lossy(&out.stdout).contains("1 received")
}

/// ICMP query sessions (RFC 5508 section 3.2: configurable query timeout): one identifier,
/// ICMP timeout 2 s, reuse delay 2 s. Ping A (identifier 7) takes it; ping B (identifier 8) is
/// refused until A's session expired and the identifier passed the delay, about 4 s later.
#[test]
fn icmp_query_session_expires_and_identifier_returns_rfc5508_section3() {
    require_root();
    let _s = serial();
    let topo = NetTopology::new(None);
    let vnf = start(
        &topo,
        "snat-icmp-timeout",
        &snat_toml(
            &[POOL_V4],
            &[],
            "port_min = 20000\nport_max = 20000\n[snat.timeouts]\nicmp = 2\nport_reuse_delay = 2",
        ),
    );
    assert!(ping_once(&topo.pod, EXT_V4, 7), "ping A");
    let t0 = Instant::now();
    assert!(
        !ping_once(&topo.pod, EXT_V4, 8),
        "ping B while A holds the identifier"
    );
    let mut waited = None;
    while t0.elapsed() < Duration::from_secs(15) {
        if ping_once(&topo.pod, EXT_V4, 8) {
            waited = Some(t0.elapsed());
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let exhausted = drop_count(&vnf, "nat_ports_exhausted", 1);
    vnf.stop().unwrap();
    let waited = waited.expect("ping B never got through");
    eprintln!(
        "icmp timeout 2 s, reuse delay 2 s: ping B answered after {} ms, {exhausted} echo requests \
         dropped as nat_ports_exhausted",
        waited.as_millis()
    );
    assert!(exhausted >= 1);
    assert!(
        waited >= Duration::from_millis(3500),
        "B got the identifier after {waited:?}, before timeout + delay (4 s)"
    );
    assert!(waited <= Duration::from_secs(10), "{waited:?}");
}

/// Without `snat.dual_stack` IPv6 from a pod is not translated: the IPv6 request never reaches
/// the server (dropped in the VNF as `unclassified`), while IPv4 still goes out from the pool
/// address.
#[test]
fn ipv6_is_not_translated_without_dual_stack() {
    require_root();
    let _s = serial();
    let dir = egress_tests::test_dir("snat-v4only").unwrap();
    let root = dir.path().join("www");
    std::fs::create_dir(&root).unwrap();
    std::fs::write(root.join("hello.txt"), "hello\n").unwrap();
    let topo = NetTopology::new(None);
    let web4 = http_server(&topo.ext, EXT_V4, 8080, &root, dir.path()).unwrap();
    let web6 = http_server(&topo.ext, EXT_V6, 8080, &root, dir.path()).unwrap();
    let vnf = start(
        &topo,
        "snat-v4only",
        &snat_toml_stack(&[POOL_V4], &[POOL_V6], false, ""),
    );
    assert_eq!(
        curl(&topo.pod, &format!("http://{EXT_V4}:8080/hello.txt")),
        "hello\n"
    );
    let out = topo
        .pod
        .command("curl")
        .args(["-sS", "-g", "--max-time", "3"])
        .arg(format!("http://[{EXT_V6}]:8080/hello.txt"))
        .output()
        .unwrap();
    // The pod's SYNs (first one and retransmissions) match no egress function.
    let unclassified = drop_count(&vnf, "unclassified", 1);
    vnf.stop().unwrap();
    assert!(
        !out.status.success(),
        "IPv6 curl must fail without dual stack"
    );
    assert_eq!(http_peers(&web4), vec![POOL_V4]);
    assert!(http_peers(&web6).is_empty(), "{}", web6.stderr());
    assert!(
        unclassified >= 1,
        "the IPv6 SYNs are counted as unclassified drops"
    );
}

/// TCP tracking (RFC 5382 REQ-5, RFC 7857 section 2.2): a connection closed by FINs from both
/// sides falls back to the transitory timeout (2 s here) instead of the established one (two
/// hours): with one SNAT port, a second connection gets through once the first one's session
/// expired and the port passed the reuse delay (2 s).
#[test]
fn tcp_closed_connection_expires_after_transitory_timeout_rfc7857_section2_2() {
    require_root();
    let _s = serial();
    let dir = egress_tests::test_dir("snat-tcp-timeout").unwrap();
    let root = dir.path().join("www");
    std::fs::create_dir(&root).unwrap();
    std::fs::write(root.join("hello.txt"), "hello\n").unwrap();
    let topo = NetTopology::new(None);
    let web = http_server(&topo.ext, EXT_V4, 8080, &root, dir.path()).unwrap();
    let vnf = start(
        &topo,
        "snat-tcp-timeout",
        &snat_toml(
            &[POOL_V4],
            &[],
            "port_min = 20000\nport_max = 20000\n[snat.timeouts]\ntcp_transitory = 2\nport_reuse_delay = 2",
        ),
    );
    let url = format!("http://{EXT_V4}:8080/hello.txt");
    assert_eq!(curl(&topo.pod, &url), "hello\n");
    // The server closed, the client closed: both FINs crossed the VNF.
    let t0 = Instant::now();
    let attempt = || {
        topo.pod
            .command("curl")
            .args(["-sS", "--max-time", "1", &url])
            .output()
            .unwrap()
            .status
            .success()
    };
    let mut waited = None;
    while t0.elapsed() < Duration::from_secs(15) {
        if attempt() {
            waited = Some(t0.elapsed());
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let exhausted = drop_count(&vnf, "nat_ports_exhausted", 1);
    vnf.stop().unwrap();
    let waited = waited.expect("the second connection never got through");
    eprintln!(
        "tcp_transitory 2 s, reuse delay 2 s: second connection after {} ms, {exhausted} SYNs \
         dropped as nat_ports_exhausted",
        waited.as_millis()
    );
    assert_eq!(http_peers(&web), vec![format!("{POOL_V4}"); 2]);
    assert!(exhausted >= 1, "the second connection was refused first");
    assert!(
        waited >= Duration::from_millis(3000),
        "second connection after {waited:?}: before timeout + delay (4 s)"
    );
    assert!(waited <= Duration::from_secs(10), "{waited:?}");
}

/// `python3` UDP listener for the filtering test: prints `ready`, then `got PAYLOAD ADDR PORT`
/// per datagram until the payload `session` (sent last) or `timeout` seconds without one.
const UDP_LISTEN: &str = r#"
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2])))
s.settimeout(float(sys.argv[3]))
print("ready", flush=True)
try:
    while True:
        d, a = s.recvfrom(2048)
        print("got", d.decode(), a[0], a[1], flush=True)
        if d == b"session":
            break
except socket.timeout:
    pass
finally:
    print("done", flush=True)
"#;

/// `python3` one-shot UDP sender: from ADDR:PORT to ADDR:PORT.
const UDP_SEND: &str = r#"
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2])))
s.sendto(sys.argv[5].encode(), (sys.argv[3], int(sys.argv[4])))
"#;

/// RFC 4787 REQ-1 (endpoint-independent mapping): the pod's source port 30000 (outside the
/// configured range, so the VNF must pick another) keeps one outside port towards two servers.
/// RFC 4787 REQ-8 (address-and-port-dependent filtering, the behaviour docs/nat.md documents):
/// a datagram to that outside port from a third host, or from a known host but another port,
/// does not reach the pod; one from a remote of a live session does.
#[test]
fn udp_endpoint_independent_mapping_and_filtering_rfc4787_req1_req8() {
    require_root();
    let _s = serial();
    let dir = egress_tests::test_dir("snat-eim").unwrap();
    let topo = NetTopology::new(None);
    for a in ["192.0.2.2/24", "192.0.2.3/24"] {
        topo.ext
            .ip(&["addr", "add", a, "dev", &topo.ext_link.a])
            .unwrap();
    }
    let peer = peer();
    let echo1 = peer.echo(&topo.ext, "192.0.2.1:7000", dir.path()).unwrap();
    let echo2 = peer.echo(&topo.ext, "192.0.2.2:7000", dir.path()).unwrap();
    let vnf = start(
        &topo,
        "snat-eim",
        &snat_toml(&[POOL_V4], &[], "port_min = 20000\nport_max = 29999"),
    );
    let one = |server: &str| {
        let r = peer
            .flows(
                &topo.pod,
                server,
                1,
                Duration::from_millis(200),
                Duration::from_secs(10),
                Some(30000),
            )
            .unwrap();
        assert_eq!(r.answered(), 1, "{server}: {}", r.output);
        r.answers[0].seen
    };
    let s1 = one("192.0.2.1:7000");
    let s2 = one("192.0.2.2:7000");
    assert_eq!(s1, s2, "one mapping for the pod's 10.1.0.1:30000");
    assert_eq!(s1.ip(), POOL_V4.parse::<IpAddr>().unwrap());
    assert!((20000..=29999).contains(&s1.port()), "{s1}");
    // Free 192.0.2.1:7000 for the sender below.
    drop((echo1, echo2));

    let mut listen = topo.pod.command("python3");
    listen.args(["-u", "-c", UDP_LISTEN, POD_V4, "30000", "10"]);
    let mut listener = ChildGuard::spawn(listen, dir.path(), "listener").unwrap();
    listener
        .wait_for_output(Stream::Stdout, "ready", Duration::from_secs(10))
        .unwrap();
    let mapped = s1.port().to_string();
    for (src, sport, what) in [
        ("192.0.2.3", "7000", "stranger"),
        ("192.0.2.1", "7001", "otherport"),
        ("192.0.2.1", "7000", "session"),
    ] {
        topo.ext
            .run(
                "python3",
                &["-c", UDP_SEND, src, sport, POOL_V4, &mapped, what],
            )
            .unwrap();
        std::thread::sleep(Duration::from_millis(100));
    }
    listener
        .wait_for_output(Stream::Stdout, "done", Duration::from_secs(20))
        .unwrap();
    let got = listener.stdout();
    vnf.stop().unwrap();
    assert!(
        got.contains("got session 192.0.2.1 7000"),
        "the session's remote reaches the pod:\n{got}"
    );
    assert!(
        !got.contains("stranger") && !got.contains("otherport"),
        "filtered:\n{got}"
    );
}
