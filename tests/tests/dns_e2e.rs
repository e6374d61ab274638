//! The DNS gateway end to end (issue 8, "End to end with a real DNS server upstream"): a real
//! `knotd` in the external namespace (forward zone `.` to it), real `dig` and `curl` in the
//! pods, whose resolver address exists nowhere (the VNF intercepts UDP/53 from the internal
//! VLANs). DNS46 answers from this TMM's slice and `curl -4` by name reaches the IPv6-only
//! server; A-only and dual-stack names come back unchanged; an exhausted slice gives the
//! sorry IP; the rate limit drops queries; DNS64 + NAT64 serve the IPv6-only pod; with dSSM
//! (a real redis-server) a name keeps its address across a VNF restart.

use egress_tests::egress::*;
use egress_tests::process::ChildGuard;
use egress_tests::{require_root, serial};
use std::net::Ipv4Addr;
use std::time::Duration;

fn v4_lines(lines: &[String]) -> Vec<Ipv4Addr> {
    lines.iter().filter_map(|l| l.parse().ok()).collect()
}

fn in_slice(a: Ipv4Addr, first: &str, last: &str) -> bool {
    let (f, l): (Ipv4Addr, Ipv4Addr) = (first.parse().unwrap(), last.parse().unwrap());
    u32::from(a) >= u32::from(f) && u32::from(a) <= u32::from(l)
}

fn topo() -> EgressTopology {
    EgressTopology::new(TopologyOptions::default()).unwrap()
}

/// DNS46 on, the static mapping on `v6three` (so `v6only` is allocated from the slice).
fn dns_features() -> Features {
    Features {
        static_v6: Some(SERVER_V6_THREE.into()),
        ..Features::default()
    }
}

#[test]
fn dns46_gives_an_address_of_the_slice_and_curl_reaches_the_ipv6_only_server_by_name() {
    require_root();
    let _s = serial();
    let topo = topo();
    let vnf = topo.start_vnf("dns46", &dns_features()).unwrap();

    // AAAA-only name: one A record of the slice, plus the original AAAA.
    let ans = dig_short(&topo.pod4, POD4_RESOLVER, &fqdn("v6only"), "A").unwrap();
    let a = v4_lines(&ans);
    assert_eq!(a.len(), 1, "A v6only: {ans:?}");
    assert!(
        in_slice(a[0], NAT46_SLICE_FIRST, NAT46_SLICE_LAST),
        "{} is not in the slice {NAT46_SLICE_FIRST}-{NAT46_SLICE_LAST}",
        a[0]
    );
    assert!(ans.contains(&SERVER_V6.to_string()), "AAAA kept: {ans:?}");
    // Asked again (cache): the same address.
    let again = v4_lines(&dig_short(&topo.pod4, "192.0.2.99", &fqdn("v6only"), "A").unwrap());
    assert_eq!(again, a, "a second query, to another resolver address");
    // A CNAME to the AAAA-only name: the chain and the same address.
    let alias = dig_short(&topo.pod4, POD4_RESOLVER, &fqdn("alias"), "A").unwrap();
    assert!(
        alias.iter().any(|l| l.starts_with("v6only.")) && v4_lines(&alias) == a,
        "A alias: {alias:?}"
    );

    // A name whose IPv6 host has a static (reserved) mapping gets that address.
    let st = v4_lines(&dig_short(&topo.pod4, POD4_RESOLVER, &fqdn("v6three"), "A").unwrap());
    assert_eq!(st, vec![NAT46_STATIC_V4.parse::<Ipv4Addr>().unwrap()]);

    // The pod's own resolver (getaddrinfo) and curl by name: DNS46 + NAT46.
    let url = format!("http://{}/", fqdn("v6only"));
    let (ok, out) = curl(&topo.pod4, &["-4", &url]).unwrap();
    assert!(ok, "curl -4 {url}: {out}");
    assert!(http_answer_ok(&out, "v6only", EXT_SELF_V6), "{out}");

    // A-only and dual-stack names come back unchanged.
    let v4only = dig_short(&topo.pod4, POD4_RESOLVER, &fqdn("v4only"), "A").unwrap();
    assert_eq!(v4only, vec![SERVER_V4.to_string()]);
    let dual = dig_short(&topo.pod4, POD4_RESOLVER, &fqdn("dual"), "A").unwrap();
    assert_eq!(dual, vec![DUAL_V4.to_string()]);
    // The IPv4-only service by name: plain SNAT44.
    let (ok, out) = curl(&topo.pod4, &["-4", &format!("http://{}/", fqdn("v4only"))]).unwrap();
    assert!(ok && out.contains("hello from v4only"), "{out}");
    assert!(http_answer_ok(&out, "v4only", EXT_SELF_V4), "{out}");
    // A name that does not exist: NXDOMAIN passes through.
    let st =
        egress_tests::dns_server::dig_status(&topo.pod4, POD4_RESOLVER, &fqdn("nosuchname"), "A")
            .unwrap();
    assert_eq!(st, "NXDOMAIN");
    vnf.stop().unwrap();
}

#[test]
fn dns46_with_an_exhausted_slice_answers_the_sorry_ip() {
    require_root();
    let _s = serial();
    let topo = topo();
    let one = "10.250.1.9";
    let f = Features {
        slice: Some((one.into(), one.into())),
        ..dns_features()
    };
    let vnf = topo.start_vnf("dns46-sorry", &f).unwrap();
    let first = v4_lines(&dig_short(&topo.pod4, POD4_RESOLVER, &fqdn("v6only"), "A").unwrap());
    assert_eq!(first, vec![one.parse::<Ipv4Addr>().unwrap()]);
    let second = v4_lines(&dig_short(&topo.pod4, POD4_RESOLVER, &fqdn("v6two"), "A").unwrap());
    assert_eq!(
        second,
        vec![NAT46_SORRY.parse::<Ipv4Addr>().unwrap()],
        "the slice holds one address: the next name gets the sorry IP"
    );
    // The name that got the address keeps it.
    let again = v4_lines(&dig_short(&topo.pod4, POD4_RESOLVER, &fqdn("v6only"), "A").unwrap());
    assert_eq!(again, first);
    vnf.stop().unwrap();
}

#[test]
fn dns_rate_limit_drops_queries_over_the_limit() {
    require_root();
    let _s = serial();
    let topo = topo();
    let f = Features {
        rate_limit: 2,
        ..dns_features()
    };
    let vnf = topo.start_vnf("dns-rate", &f).unwrap();
    // 20 queries at once from one pod; the bucket holds 2 and refills at 2 per second.
    let name = fqdn("v4only");
    let mut children: Vec<ChildGuard> = (0..20)
        .map(|i| {
            let mut c = topo.pod4.command("dig");
            c.args([
                &format!("@{POD4_RESOLVER}"),
                "+short",
                "+time=1",
                "+tries=1",
                &name,
                "A",
            ]);
            ChildGuard::spawn(c, topo.dir(), &format!("dig{i}")).unwrap()
        })
        .collect();
    let mut answered = 0;
    for c in &mut children {
        c.wait_timeout(Duration::from_secs(10)).unwrap();
        if c.stdout().contains(SERVER_V4) {
            answered += 1;
        }
    }
    let dropped = drop_count(&vnf, "dns_rate_limited").unwrap();
    vnf.stop().unwrap();
    assert!(answered >= 1, "at least the burst is answered");
    assert!(
        answered <= 8,
        "{answered} of 20 answered with a limit of 2/s"
    );
    assert!(dropped >= 10, "dns_rate_limited = {dropped}");
}

#[test]
fn dns64_and_nat64_let_an_ipv6_only_pod_fetch_an_ipv4_only_service_by_name() {
    require_root();
    let _s = serial();
    let topo = topo();
    let vnf = topo.start_vnf("dns64", &dns_features()).unwrap();
    let ans = dig_short(&topo.pod6, POD6_RESOLVER, &fqdn("v4only"), "AAAA").unwrap();
    assert_eq!(ans, vec!["64:ff9b::c000:20a".to_string()], "AAAA v4only");
    let dual = dig_short(&topo.pod6, POD6_RESOLVER, &fqdn("dual"), "AAAA").unwrap();
    assert_eq!(dual, vec![DUAL_V6.to_string()], "AAAA dual unchanged");
    let url = format!("http://{}/", fqdn("v4only"));
    let (ok, out) = curl(&topo.pod6, &["-6", &url]).unwrap();
    assert!(ok, "curl -6 {url}: {out}");
    assert!(http_answer_ok(&out, "v4only", EXT_SELF_V4), "{out}");
    // The IPv6-only service by name from the IPv6 pod: plain SNAT66.
    let (ok, out) = curl(&topo.pod6, &["-6", &format!("http://{}/", fqdn("v6only"))]).unwrap();
    assert!(ok && out.contains("hello from v6only"), "{out}");
    vnf.stop().unwrap();
}

/// A plaintext redis-server on the `dut` namespace's loopback (where the VNF's slow path
/// connects), stopped by pid.
fn redis_in(ns: &egress_tests::netns::NetNs, dir: &std::path::Path) -> ChildGuard {
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
    let mut g = ChildGuard::spawn(c, dir, "redis").unwrap();
    g.wait_for_output(
        egress_tests::process::Stream::Stdout,
        "Ready to accept connections",
        Duration::from_secs(10),
    )
    .unwrap();
    g
}

#[test]
fn dns46_with_dssm_gives_the_same_address_after_a_vnf_restart() {
    require_root();
    let _s = serial();
    let topo = topo();
    let _redis = redis_in(&topo.dut, topo.dir());
    let f = Features {
        dssm_toml: Some(
            "[dssm]\nenabled = true\nservice = \"127.0.0.1:6379\"\ninsecure = true\nwait_replicas = 0\n"
                .into(),
        ),
        ..dns_features()
    };
    let vnf = topo.start_vnf("dns46-dssm-1", &f).unwrap();
    let first = v4_lines(&dig_short(&topo.pod4, POD4_RESOLVER, &fqdn("v6only"), "A").unwrap());
    assert_eq!(first.len(), 1, "{first:?}");
    assert!(in_slice(first[0], NAT46_SLICE_FIRST, NAT46_SLICE_LAST));
    vnf.stop().unwrap();
    let keys = topo
        .dut
        .run(
            "redis-cli",
            &["-h", "127.0.0.1", "GET", &format!("dns46:v4:{}", first[0])],
        )
        .unwrap();
    assert_eq!(keys.trim(), SERVER_V6, "dSSM key dns46:v4:{}", first[0]);

    let vnf = topo.start_vnf("dns46-dssm-2", &f).unwrap();
    let again = v4_lines(&dig_short(&topo.pod4, POD4_RESOLVER, &fqdn("v6only"), "A").unwrap());
    assert_eq!(again, first, "same name, same address after the restart");
    // A new name does not get an address handed out before the restart.
    let other = v4_lines(&dig_short(&topo.pod4, POD4_RESOLVER, &fqdn("v6two"), "A").unwrap());
    assert_eq!(other.len(), 1, "{other:?}");
    assert_ne!(other, first);
    let (ok, out) = curl(&topo.pod4, &["-4", &format!("http://{}/", fqdn("v6only"))]).unwrap();
    assert!(ok && out.contains("hello from v6only"), "{out}");
    vnf.stop().unwrap();
}
