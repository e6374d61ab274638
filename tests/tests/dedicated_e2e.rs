//! The dedicated-DNS topology end to end (issues 6 and 12; `docs/dedicated-dns.md`): two
//! egress-vnf processes share one dSSM (a real redis-server master and replica behind a real
//! redis-sentinel, mutual TLS with certificates the test makes); one answers DNS only, the
//! other only translates. An IPv4-only pod whose resolver is the DNS instance's address resolves
//! an AAAA-only name through the first (DNS46 allocates an IPv4 and writes both dSSM keys) and
//! `curl -4` by name reaches the IPv6-only server through the second (NAT46 finds the mapping in
//! dSSM on its first packet). Then dSSM goes down: the data instance's cached flow keeps
//! working, new DNS46 answers are SERVFAIL (counted), and both recover by themselves when dSSM
//! is back (issue 11 item 6).

use egress_tests::dedicated::*;
use egress_tests::egress::{
    curl, dig_short, fqdn, http_answer_ok, metric, NAT46_SLICE_FIRST, NAT46_SLICE_LAST, SERVER_V6,
};
use egress_tests::netns::NetNs;
use egress_tests::{require_root, serial};
use egress_vnf::slowpath::dssm::testbed::{Testbed, TestbedOptions};
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

const DNS_METRICS: &str = "127.0.0.1:9461";
const DATA_METRICS: &str = "127.0.0.1:9462";

fn v4_lines(lines: &[String]) -> Vec<Ipv4Addr> {
    lines.iter().filter_map(|l| l.parse().ok()).collect()
}

fn m(ns: &NetNs, addr: &str, series: &str) -> f64 {
    metric(ns, addr, series).unwrap().unwrap_or(0.0)
}

/// Waits until `series` satisfies `ok` (metrics are published every second).
fn wait_metric(ns: &NetNs, addr: &str, series: &str, ok: impl Fn(f64) -> bool, what: &str) {
    let t0 = Instant::now();
    loop {
        if let Ok(Some(v)) = metric(ns, addr, series) {
            if ok(v) {
                return;
            }
        }
        assert!(t0.elapsed() < Duration::from_secs(15), "{what}: {series}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn dig_status(ns: &NetNs, name: &str) -> String {
    egress_tests::dns_server::dig_status(ns, RESOLVER, name, "A").unwrap()
}

#[test]
fn dns_instance_resolves_data_instance_translates_one_dssm() {
    require_root();
    let _s = serial();
    let topo = DedicatedTopology::new().unwrap();
    let mut tb = Testbed::start(TestbedOptions {
        replicas: 1,
        sentinels: 1,
        netns: Some(topo.dut.name().to_string()),
        ..TestbedOptions::default()
    })
    .unwrap();
    let dssm = tb.vnf_toml();
    assert!(dssm.contains("sentinel = true") && dssm.contains("cert_file"));
    let dns = topo
        .vnf_builder(Role::Dns, &dssm)
        .metrics_listen(DNS_METRICS)
        .start()
        .unwrap();
    let data = topo
        .vnf_builder(Role::Data, &dssm)
        .metrics_listen(DATA_METRICS)
        .start()
        .unwrap();
    for addr in [DNS_METRICS, DATA_METRICS] {
        wait_metric(&topo.dut, addr, "egress_dssm_up", |v| v == 1.0, "dSSM up");
    }

    // The pod resolves through the DNS instance: an address of the slice, written to dSSM.
    let name = fqdn("v6only");
    let ans = dig_short(&topo.pod, RESOLVER, &name, "A").unwrap();
    let a = v4_lines(&ans);
    assert_eq!(a.len(), 1, "A {name}: {ans:?}");
    let (f, l): (Ipv4Addr, Ipv4Addr) = (
        NAT46_SLICE_FIRST.parse().unwrap(),
        NAT46_SLICE_LAST.parse().unwrap(),
    );
    assert!((f..=l).contains(&a[0]), "{} not in {f}-{l}", a[0]);
    let a = a[0];
    let master = tb.ports.master;
    assert_eq!(
        tb.cli(master, &["GET", &format!("dns46:v4:{a}")]).unwrap(),
        SERVER_V6
    );
    assert_eq!(
        tb.cli(master, &["GET", &format!("dns46:v6:{SERVER_V6}")])
            .unwrap(),
        a.to_string()
    );
    // Acknowledged by the replica before the pod got its answer (WAIT 1).
    assert_eq!(
        tb.cli(tb.ports.replicas[0], &["GET", &format!("dns46:v4:{a}")])
            .unwrap(),
        SERVER_V6
    );

    // ... and connects through the data instance, which learns the mapping from dSSM.
    let url = format!("http://{name}/");
    let (ok, out) = curl(&topo.pod, &["-4", &url]).unwrap();
    assert!(ok, "curl -4 {url}: {out}");
    assert!(http_answer_ok(&out, "v6only", DATA_EXT_V6), "{out}");

    // Each did only its own part (worker counters are published about once a second).
    let t0 = Instant::now();
    let (dns_q, data_q, dns_n46, data_n46) = loop {
        let dns_q = vs_stats(&dns, "egress-dns-ipv4").unwrap().1;
        let data_q = vs_stats(&data, "egress-dns-ipv4").unwrap().1;
        let dns_n46 = vs_stats(&dns, "egress-ipv4-nat46").unwrap().0;
        let data_n46 = vs_stats(&data, "egress-ipv4-nat46").unwrap().0;
        if (dns_q >= 1 && data_n46 >= 1) || t0.elapsed() > Duration::from_secs(5) {
            break (dns_q, data_q, dns_n46, data_n46);
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    eprintln!(
        "DNS queries: DNS instance {dns_q}, data instance {data_q}; \
         NAT46 connections: DNS instance {dns_n46}, data instance {data_n46}"
    );
    assert!(dns_q >= 1 && data_q == 0, "DNS only on the DNS instance");
    assert!(
        data_n46 >= 1 && dns_n46 == 0,
        "NAT46 only on the data instance"
    );
    wait_metric(
        &topo.dut,
        DATA_METRICS,
        "egress_dssm_requests_total{op=\"lookup4\",result=\"ok\"}",
        |v| v >= 1.0,
        "the data instance found the mapping in dSSM",
    );
    wait_metric(
        &topo.dut,
        DNS_METRICS,
        "egress_dns46_mappings_created_total",
        |v| v == 1.0,
        "one mapping created by the DNS instance",
    );
    assert_eq!(
        m(
            &topo.dut,
            DATA_METRICS,
            "egress_dns46_mappings_created_total"
        ),
        0.0
    );

    // dSSM goes down (every process killed): cached mappings keep working, new DNS46 answers
    // are SERVFAIL and counted, egress_dssm_up is 0.
    let t_down = Instant::now();
    tb.kill_all();
    for addr in [DNS_METRICS, DATA_METRICS] {
        wait_metric(
            &topo.dut,
            addr,
            "egress_dssm_up",
            |v| v == 0.0,
            "dSSM down noticed",
        );
    }
    eprintln!("dSSM down noticed after {:?}", t_down.elapsed());
    let (ok, out) = curl(&topo.pod, &["-4", &url]).unwrap();
    assert!(ok, "a cached mapping while dSSM is down: {out}");
    assert!(http_answer_ok(&out, "v6only", DATA_EXT_V6), "{out}");
    let unavailable_before = m(
        &topo.dut,
        DNS_METRICS,
        "egress_dns_queries_total{result=\"servfail\"}",
    );
    assert_eq!(dig_status(&topo.pod, &fqdn("v6two")), "SERVFAIL");
    wait_metric(
        &topo.dut,
        DNS_METRICS,
        "egress_dns_queries_total{result=\"servfail\"}",
        |v| v > unavailable_before,
        "SERVFAIL counted",
    );
    // A name mapped before the outage is still answered (cached mapping).
    assert_eq!(
        v4_lines(&dig_short(&topo.pod, RESOLVER, &name, "A").unwrap()),
        vec![a]
    );

    // dSSM comes back (empty, on the same addresses): both reconnect by themselves.
    tb.launch().unwrap();
    let t_up = Instant::now();
    for addr in [DNS_METRICS, DATA_METRICS] {
        wait_metric(&topo.dut, addr, "egress_dssm_up", |v| v == 1.0, "recovery");
    }
    eprintln!("both up again {:?} after dSSM was ready", t_up.elapsed());
    let t0 = Instant::now();
    let b = loop {
        let b = v4_lines(&dig_short(&topo.pod, RESOLVER, &fqdn("v6two"), "A").unwrap());
        if b.len() == 1 {
            break b[0];
        }
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "no DNS46 after recovery"
        );
        std::thread::sleep(Duration::from_millis(300));
    };
    assert!((f..=l).contains(&b) && b != a, "{b}");
    assert_eq!(
        tb.cli(tb.ports.master, &["GET", &format!("dns46:v4:{b}")])
            .unwrap(),
        egress_tests::egress::SERVER_V6_TWO
    );
    dns.stop().unwrap();
    data.stop().unwrap();
}

/// Counts the newline-terminated messages a receiver of `udp_receiver` wrote.
fn lines_received(rx: &egress_tests::process::ChildGuard) -> usize {
    std::fs::read_to_string(rx.stdout_path())
        .unwrap_or_default()
        .lines()
        .count()
}

#[test]
fn dssm_failover_under_running_instances() {
    require_root();
    let _s = serial();
    let topo = DedicatedTopology::new().unwrap();
    // Two replicas, so the one that is not promoted follows the new master and `WAIT 1` is
    // satisfied again after the failover.
    let mut tb = Testbed::start(TestbedOptions {
        replicas: 2,
        sentinels: 1,
        down_after_ms: 1000,
        netns: Some(topo.dut.name().to_string()),
        ..TestbedOptions::default()
    })
    .unwrap();
    let dssm = tb.vnf_toml();
    let dns = topo
        .vnf_builder(Role::Dns, &dssm)
        .metrics_listen(DNS_METRICS)
        .start()
        .unwrap();
    let data = topo
        .vnf_builder(Role::Data, &dssm)
        .metrics_listen(DATA_METRICS)
        .start()
        .unwrap();
    for addr in [DNS_METRICS, DATA_METRICS] {
        wait_metric(&topo.dut, addr, "egress_dssm_up", |v| v == 1.0, "dSSM up");
    }
    let a = v4_lines(&dig_short(&topo.pod, RESOLVER, &fqdn("v6only"), "A").unwrap());
    assert_eq!(a.len(), 1, "{a:?}");
    let a = a[0];

    // One UDP flow through the data instance, 100 messages a second for 6 s, while the
    // master is killed one second in.
    let rx = egress_tests::egress::udp_receiver(&topo.ext, topo.dir(), SERVER_V6, 9999).unwrap();
    const SENT: usize = 600;
    let mut sender = topo.pod.command("bash");
    sender.arg("-c").arg(format!(
        "for i in $(seq 1 {SENT}); do printf '%06d\\n' $i; sleep 0.01; done \
         | socat -u STDIN UDP4-SENDTO:{a}:9999,sourceport=40000"
    ));
    let mut sender =
        egress_tests::process::ChildGuard::spawn(sender, topo.dir(), "udp-flow").unwrap();
    std::thread::sleep(Duration::from_millis(1000));
    assert!(
        lines_received(&rx) > 0,
        "the flow goes through before the failover"
    );
    let old = tb.ports.master;
    let killed = Instant::now();
    assert!(tb.kill9(old));
    let promoted = loop {
        if tb.current_master_port().is_some_and(|p| p != old) {
            break Instant::now();
        }
        assert!(killed.elapsed() < Duration::from_secs(30), "no promotion");
        std::thread::sleep(Duration::from_millis(50));
    };
    eprintln!("promotion {:?} after the kill", promoted - killed);

    // New mappings again, within 10 s of the promotion.
    let created = loop {
        let b = v4_lines(&dig_short(&topo.pod, RESOLVER, &fqdn("v6two"), "A").unwrap());
        if b.len() == 1 {
            break Instant::now();
        }
        assert!(
            promoted.elapsed() < Duration::from_secs(10),
            "no new mapping within 10 s of the promotion"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    eprintln!(
        "new mapping {:?} after the promotion",
        created.saturating_duration_since(promoted)
    );

    sender.wait_timeout(Duration::from_secs(20)).unwrap();
    let got = egress_tests::egress::wait_udp_bytes(&rx, SENT * 7, Duration::from_secs(3));
    let n = lines_received(&rx);
    eprintln!("UDP flow: {SENT} sent, {n} delivered ({got} bytes)");
    assert_eq!(
        n, SENT,
        "a flow with a cached mapping lost packets during the failover"
    );
    wait_metric(
        &topo.dut,
        DNS_METRICS,
        "egress_dssm_failovers_total",
        |v| v >= 1.0,
        "failover counted",
    );
    // The mapping acknowledged before the failover is on the new master.
    let new = tb.current_master_port().unwrap();
    assert_eq!(
        tb.cli(new, &["GET", &format!("dns46:v4:{a}")]).unwrap(),
        SERVER_V6
    );
    dns.stop().unwrap();
    data.stop().unwrap();
}
