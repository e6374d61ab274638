//! DNS over TCP from the pods, end to end (issue 8, "Interception"): a real `knotd` upstream
//! serving a name whose RRset does not fit a UDP answer, real `dig` in the pods.
//!
//! - Over UDP the truncated (TC) answer reaches the pod as the upstream sent it, so the client
//!   retries over TCP (`dig +ignore` shows the TC flag; plain `dig` retries and gets it all).
//! - TCP/53 to the resolver address that exists nowhere is redirected to the forward zone's
//!   server through the NAT; the pod talks to the address it connected to (a TCP connection
//!   from any other address would not be accepted by its socket).
//! - An IPv6-only pod reaches the IPv4-only upstream over TCP through its NAT64 address.

use egress_tests::dns_server::{AuthDns, Rr};
use egress_tests::egress::*;
use egress_tests::{require_root, serial};
use std::net::{IpAddr, Ipv4Addr};

/// Records of the name `big`: too many for a 1232-byte UDP answer.
const BIG: usize = 120;

fn big_addr(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(198, 18, (i / 200) as u8, (i % 200 + 1) as u8)
}

/// The topology with knotd serving the usual zone plus `big`.
fn topo() -> EgressTopology {
    let mut topo = EgressTopology::new(TopologyOptions {
        dns_server: false,
        ..TopologyOptions::default()
    })
    .unwrap();
    let mut z = zone();
    for i in 0..BIG {
        z.records
            .push(Rr::new("big", 300, "A", &big_addr(i).to_string()));
    }
    let dir = topo.dir().join("knot");
    std::fs::create_dir_all(&dir).unwrap();
    let ip: IpAddr = DNS_UPSTREAM.parse().unwrap();
    topo.dns = Some(AuthDns::start(&topo.ext, &dir, &[ip], &z).unwrap());
    topo
}

fn dig(ns: &egress_tests::netns::NetNs, args: &[&str]) -> String {
    let mut a = vec!["+time=3", "+tries=1"];
    a.extend_from_slice(args);
    ns.run("dig", &a).unwrap()
}

fn addr_lines(out: &str) -> Vec<IpAddr> {
    out.lines().filter_map(|l| l.trim().parse().ok()).collect()
}

#[test]
fn dns_over_tcp_reaches_the_upstream_and_a_truncated_udp_answer_is_passed_through() {
    require_root();
    let _s = serial();
    let topo = topo();
    let listen = "127.0.0.1:9464";
    let vnf = topo
        .vnf_builder("dns-tcp", &Features::default())
        .metrics_listen(listen)
        .start()
        .unwrap();
    let big = fqdn("big");
    let at4 = format!("@{POD4_RESOLVER}");

    // UDP only (+ignore: no retry over TCP): the answer comes back truncated.
    let udp = dig(
        &topo.pod4,
        &[&at4, "+notcp", "+ignore", "+bufsize=1232", &big, "A"],
    );
    let flags = udp
        .lines()
        .find(|l| l.starts_with(";; flags:"))
        .unwrap_or_default()
        .to_string();
    assert!(flags.contains(" tc"), "TC passed through: {udp}");
    assert!(flags.contains("qr"), "{udp}");

    // TCP, from the IPv4 pod to its (non-existent) resolver address: the whole RRset.
    let tcp = dig(&topo.pod4, &[&at4, "+tcp", &big, "A"]);
    assert!(
        tcp.contains(&format!(
            "SERVER: {POD4_RESOLVER}#53({POD4_RESOLVER}) (TCP)"
        )),
        "the pod talked to its resolver address over TCP: {tcp}"
    );
    let mut got = addr_lines(&dig(&topo.pod4, &[&at4, "+tcp", "+short", &big, "A"]));
    got.sort();
    let mut want: Vec<IpAddr> = (0..BIG).map(|i| IpAddr::V4(big_addr(i))).collect();
    want.sort();
    assert_eq!(got, want, "dig +tcp gets the upstream's full answer");

    // A client that retries over TCP by itself after the TC answer gets everything too.
    let retried = addr_lines(&dig(&topo.pod4, &[&at4, "+short", &big, "A"]));
    assert_eq!(retried.len(), BIG, "UDP (TC) then TCP");

    // Any other resolver address works the same way over TCP.
    let other = dig(
        &topo.pod4,
        &["@192.0.2.99", "+tcp", "+short", &fqdn("v4only"), "A"],
    );
    assert_eq!(
        addr_lines(&other),
        vec![SERVER_V4.parse::<IpAddr>().unwrap()]
    );

    // The IPv6-only pod: TCP to the IPv4-only upstream through NAT64.
    let at6 = format!("@{POD6_RESOLVER}");
    let v6 = dig(&topo.pod6, &[&at6, "+tcp", &fqdn("dual"), "AAAA"]);
    assert!(
        v6.contains(&format!(
            "SERVER: {POD6_RESOLVER}#53({POD6_RESOLVER}) (TCP)"
        )),
        "{v6}"
    );
    assert!(
        v6.contains(DUAL_V6),
        "AAAA dual over TCP (no synthesis): {v6}"
    );

    // Both directions of the redirect are counted in /metrics (published once a second).
    let seg = |d: &str| {
        let s = format!("egress_dns_tcp_segments_total{{direction=\"{d}\"}}");
        metric(&topo.dut, listen, &s).unwrap().unwrap_or(0.0)
    };
    let t0 = std::time::Instant::now();
    while (seg("redirected") < 15.0 || seg("restored") < 15.0)
        && t0.elapsed() < std::time::Duration::from_secs(5)
    {
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
    // Five TCP queries of at least 3 segments each way (handshake, query or answer, close).
    assert!(
        seg("redirected") >= 15.0,
        "redirected {}",
        seg("redirected")
    );
    assert!(seg("restored") >= 15.0, "restored {}", seg("restored"));

    vnf.stop().unwrap();
}
