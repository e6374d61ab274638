//! Operations (issue 9): `/metrics` during traffic. Every family of CONTRACT §5 is present in
//! the Prometheus text, and the counters that the traffic drives move between two scrapes:
//! port packets and bytes, virtual-server connections, DNS queries, DNS46 mappings created,
//! drops (a NAT64 packet to a private IPv4 address), active sessions, and the upstream DNS
//! latency histogram.

use egress_tests::egress::*;
use egress_tests::netns::ping;
use egress_tests::{require_root, serial};
use std::collections::BTreeMap;
use std::time::Duration;

const LISTEN: &str = "127.0.0.1:9464";

/// name -> [(labels, value)] of one scrape.
type Scrape = BTreeMap<String, Vec<(String, f64)>>;

fn scrape(topo: &EgressTopology) -> (Scrape, String) {
    let text = topo
        .dut
        .run(
            "curl",
            &[
                "-sS",
                "--max-time",
                "5",
                &format!("http://{LISTEN}/metrics"),
            ],
        )
        .unwrap();
    let mut m = Scrape::new();
    for l in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let (series, value) = l.rsplit_once(' ').unwrap_or((l, "nan"));
        let (name, labels) = match series.split_once('{') {
            Some((n, rest)) => (n, rest.trim_end_matches('}')),
            None => (series, ""),
        };
        let v: f64 = value.parse().unwrap_or(f64::NAN);
        m.entry(name.to_string())
            .or_default()
            .push((labels.to_string(), v));
    }
    (m, text)
}

fn sum(s: &Scrape, name: &str) -> f64 {
    s.get(name).map_or(0.0, |v| v.iter().map(|(_, x)| x).sum())
}

fn labelled(s: &Scrape, name: &str, label: &str) -> f64 {
    s.get(name).map_or(0.0, |v| {
        v.iter()
            .filter(|(l, _)| l.contains(label))
            .map(|(_, x)| x)
            .sum()
    })
}

/// The families of CONTRACT §5 and a label each series of the family carries (if any).
const FAMILIES: [(&str, Option<&str>); 17] = [
    ("egress_port_rx_packets_total", Some("port=")),
    ("egress_port_tx_packets_total", Some("port=")),
    ("egress_port_rx_dropped_total", Some("port=")),
    ("egress_port_rx_bytes_total", Some("port=")),
    ("egress_port_tx_bytes_total", Some("port=")),
    ("egress_vs_clientside_connections_total", Some("vs=")),
    ("egress_vs_clientside_connections_active", Some("vs=")),
    ("egress_drops_total", Some("reason=")),
    ("egress_dns_queries_total", Some("result=")),
    ("egress_dns46_mappings_created_total", None),
    ("egress_dns46_sorry_answers_total", None),
    ("egress_nat_sessions_active", Some("kind=")),
    ("egress_nat_port_alloc_failures_total", Some("kind=")),
    ("egress_dssm_up", None),
    ("egress_dssm_requests_total", Some("op=")),
    ("egress_dssm_failovers_total", None),
    ("egress_lcore_busy_ratio", Some("lcore=")),
];

#[test]
fn metrics_families_present_and_counters_move_during_traffic() {
    require_root();
    let _s = serial();
    let topo = EgressTopology::new(TopologyOptions::default()).unwrap();
    let vnf = topo
        .vnf_builder("ops-metrics", &Features::default())
        .cli_arg("--metrics-listen")
        .cli_arg(LISTEN)
        .start()
        .unwrap();
    // The slow path publishes once a second.
    std::thread::sleep(Duration::from_millis(1500));
    let (before, text) = scrape(&topo);
    for (family, label) in FAMILIES {
        let series = before
            .get(family)
            .unwrap_or_else(|| panic!("family {family} missing before traffic:\n{text}"));
        if let Some(l) = label {
            assert!(
                series.iter().all(|(ls, _)| ls.contains(l)),
                "{family}: {series:?}"
            );
        }
    }
    for vs in ["egress-ipv4", "egress-ipv6-nat64", "egress-dns-ipv4"] {
        assert!(text.contains(&format!(
            "egress_vs_clientside_connections_total{{vs=\"{vs}\"}}"
        )));
    }
    for port in ["1.1", "1.2", "1.3"] {
        assert!(text.contains(&format!("egress_port_rx_packets_total{{port=\"{port}\"}}")));
    }

    // Traffic: DNS (cache miss, then hit; a DNS46 mapping), HTTP through SNAT, NAT46 and
    // NAT64, a ping that keeps an ICMP session, and a refused NAT64 destination (a drop).
    let name = fqdn("v6two");
    for _ in 0..2 {
        let a = dig_short(&topo.pod4, POD4_RESOLVER, &name, "A").unwrap();
        assert!(a.iter().any(|l| l.starts_with("10.250.1.")), "{a:?}");
    }
    let (ok, out) = curl(&topo.pod4, &["-4", &format!("http://{SERVER_V4}/")]).unwrap();
    assert!(ok, "{out}");
    let (ok, out) = curl(&topo.pod4, &["-4", &format!("http://{NAT46_STATIC_V4}/")]).unwrap();
    assert!(ok, "{out}");
    let (ok, out) = curl(
        &topo.pod6,
        &["-6", &format!("http://[{}]/", nat64_addr(SERVER_V4))],
    )
    .unwrap();
    assert!(ok, "{out}");
    let r = ping(&topo.pod4, SERVER_V4, 2).unwrap();
    assert_eq!(r.received, 2, "{}", r.output);
    let r = ping(&topo.pod6, &nat64_addr("10.9.9.9"), 1).unwrap();
    assert_eq!(r.received, 0, "{}", r.output);
    std::thread::sleep(Duration::from_millis(2200));
    let (after, text) = scrape(&topo);
    for (family, _) in FAMILIES {
        assert!(after.contains_key(family), "{family} missing:\n{text}");
    }

    let grew = |name: &str| {
        let (b, a) = (sum(&before, name), sum(&after, name));
        assert!(a > b, "{name} did not move: {b} -> {a}\n{text}");
    };
    for c in [
        "egress_port_rx_packets_total",
        "egress_port_tx_packets_total",
        "egress_port_rx_bytes_total",
        "egress_port_tx_bytes_total",
        "egress_vs_clientside_connections_total",
        "egress_dns_queries_total",
        "egress_dns46_mappings_created_total",
        "egress_drops_total",
    ] {
        grew(c);
    }
    for vs in [
        "egress-ipv4\"",
        "egress-ipv4-nat46",
        "egress-ipv6-nat64",
        "egress-dns-ipv4",
    ] {
        let (b, a) = (
            labelled(&before, "egress_vs_clientside_connections_total", vs),
            labelled(&after, "egress_vs_clientside_connections_total", vs),
        );
        assert!(a > b, "vs {vs}: {b} -> {a}");
    }
    assert!(
        labelled(&after, "egress_dns_queries_total", "result=\"cache_hit\"") >= 1.0,
        "the second lookup is a cache hit:\n{text}"
    );
    assert!(
        labelled(&after, "egress_drops_total", "nat64_bad_address")
            > labelled(&before, "egress_drops_total", "nat64_bad_address")
    );
    assert!(
        labelled(&after, "egress_nat_sessions_active", "snat44") >= 1.0,
        "the ping's ICMP session is active:\n{text}"
    );
    // The upstream DNS latency histogram: the cache misses were answered by knotd.
    let count = sum(&after, "egress_dns_upstream_duration_seconds_count");
    assert!(count >= 1.0, "upstream latency not observed:\n{text}");
    let inf = labelled(
        &after,
        "egress_dns_upstream_duration_seconds_bucket",
        "le=\"+Inf\"",
    );
    assert_eq!(inf, count, "+Inf bucket = count:\n{text}");
    let secs = sum(&after, "egress_dns_upstream_duration_seconds_sum");
    assert!(
        secs > 0.0 && secs / count < 2.0,
        "mean upstream latency {secs}/{count}"
    );
    assert_eq!(sum(&after, "egress_dssm_up"), 0.0, "no dSSM configured");
    for (_, v) in &after["egress_lcore_busy_ratio"] {
        assert!((0.0..=1.0).contains(v), "busy ratio {v}");
    }
    vnf.stop().unwrap();
}
