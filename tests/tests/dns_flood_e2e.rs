//! DNS attacks through the running VNF (issue 11 item 3): a flood of queries from one pod is
//! held to the configured rate (`dns.rate_limit`, dropped and counted as `dns_rate_limited`)
//! while another pod is still answered.

use egress_tests::egress::*;
use egress_tests::process::ChildGuard;
use egress_tests::{require_root, serial};
use std::time::{Duration, Instant};

/// Sends `count` A queries for `name` to `resolver`:53 from one socket (about 4000 per second:
/// faster only loses packets in the veth/`af_packet` rings before the VNF), then collects
/// answers for one second; prints `sent N answered M seconds S`.
const FLOOD: &str = r#"
import random, socket, struct, sys, time
resolver, name, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
qname = b"".join(bytes([len(l)]) + l.encode() for l in name.split(".") if l) + b"\0"
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setblocking(False)
answered = 0
t0 = time.time()
for i in range(count):
    q = struct.pack(">HHHHHH", random.getrandbits(16), 0x0100, 1, 0, 0, 0) + qname + struct.pack(">HH", 1, 1)
    while True:
        try:
            s.sendto(q, (resolver, 53))
            break
        except BlockingIOError:
            time.sleep(0.0005)
    try:
        while True:
            s.recv(2048)
            answered += 1
    except BlockingIOError:
        pass
    if i % 4 == 3:
        time.sleep(0.001)
elapsed = time.time() - t0
s.settimeout(1.0)
try:
    while True:
        s.recv(2048)
        answered += 1
except socket.timeout:
    pass
print("sent %d answered %d seconds %.3f" % (count, answered, elapsed), flush=True)
"#;

fn field(line: &str, key: &str) -> f64 {
    line.split_whitespace()
        .skip_while(|w| *w != key)
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(f64::NAN)
}

#[test]
fn rate_limit_holds_under_a_flood_from_one_pod_while_another_pod_is_served() {
    require_root();
    let _s = serial();
    let topo = EgressTopology::new(TopologyOptions::default()).unwrap();
    let rate = 20u32;
    let f = Features {
        rate_limit: rate,
        ..Features::default()
    };
    let vnf = topo.start_vnf("dns-flood", &f).unwrap();
    let script = topo.dir().join("flood.py");
    std::fs::write(&script, FLOOD).unwrap();
    let count = 4000;
    let mut c = topo.pod4.command("python3");
    c.arg(&script)
        .args([POD4_RESOLVER, &fqdn("v4only"), &count.to_string()]);
    let t0 = Instant::now();
    let mut flood = ChildGuard::spawn(c, topo.dir(), "flood").unwrap();

    // While the flood runs, the IPv6 pod asks (a different source: its own bucket).
    let mut served = 0;
    let asks = 5;
    for _ in 0..asks {
        let ans = dig_short(&topo.pod6, POD6_RESOLVER, &fqdn("dual"), "AAAA").unwrap();
        if ans == vec![DUAL_V6.to_string()] {
            served += 1;
        }
    }
    let during = t0.elapsed();
    flood.wait_timeout(Duration::from_secs(60)).unwrap();
    let out = flood.stdout();
    let line = out.lines().find(|l| l.starts_with("sent ")).unwrap_or("");
    let (sent, answered, secs) = (
        field(line, "sent"),
        field(line, "answered"),
        field(line, "seconds"),
    );
    let dropped = drop_count(&vnf, "dns_rate_limited").unwrap();
    // The DNS virtual server of the IPv4 pod: queries the VNF received and answers it sent.
    let vs = egressctl(&vnf, &["show", "vs", "stats"]).unwrap();
    let row: Vec<f64> = vs
        .lines()
        .find(|l| l.starts_with("egress-dns-ipv4 "))
        .map(|l| {
            l.split_whitespace()
                .skip(1)
                .filter_map(|w| w.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    let (received, answers) = (row[3], row[4]);
    vnf.stop().unwrap();
    eprintln!(
        "flood: {line}; VNF received {received}, answered {answers}; other pod served \
         {served}/{asks} in {during:?}; dns_rate_limited {dropped}"
    );
    assert_eq!(sent, f64::from(count), "flood output: {out}");
    assert_eq!(served, asks, "the other pod is answered during the flood");
    // Burst of one second plus `rate` per second of flood (and one second of slack).
    let allowed = f64::from(rate) * (secs + 2.0);
    assert!(
        answered <= allowed,
        "{answered} answers to the flooding pod in {secs} s at {rate}/s"
    );
    assert!(answered >= 1.0, "the flooding pod still gets its share");
    assert!(
        answers <= allowed,
        "{answers} answers over IPv4 at {rate}/s"
    );
    assert!(
        received >= sent / 2.0,
        "the flood reached the VNF: {received} of {sent}"
    );
    assert_eq!(
        dropped as f64,
        received - answers,
        "every query over the limit is dropped and counted"
    );
}
