//! mbuf accounting and soak (docs/testing.md, "Soak and mbuf accounting").
//!
//! The VNF runs in egress mode with every function on (SNAT, NAT46, NAT64, DNS proxy with
//! DNS46/DNS64) on two `net_pcap` ports whose `rx_pcap` are named pipes: the test streams pcap
//! records of mixed traffic into them as fast as the VNF reads (forwarded flows, DNS queries
//! that time out upstream, echo requests, TTL 1, bad checksums, truncated frames, unknown VLANs,
//! unsolicited inbound traffic), and everything the VNF sends goes to `/dev/null`.
//!
//! - `mbuf_accounting_after_ten_million_packets`: 10^7 packets, then idle: the packet pool's
//!   in-use count (`show port info`) returns exactly to its value before the traffic.
//! - `soak_short` (in `make test`, 25 s) and `soak` (`make soak`, `SOAK_MINUTES`, default 10):
//!   continuous traffic; RSS, mempool in-use and NAT session counts sampled every few seconds
//!   must stay flat after the warm-up.

use egress_tests::egress::egressctl;
use egress_tests::vnf::{Vnf, VnfBuilder};
use egress_tests::{frames, require_root, serial};
use frames::{tcp_flags, Ips};
use std::io::Write;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

const TOML: &str = r#"
[[vlans]]
name = "internal"
interfaces = ["1.1"]
internal = true
self_v4 = "10.1.0.254"
prefixlen_v4 = 16
self_v6 = "fd00:1::fe"
prefixlen_v6 = 64

[[vlans]]
name = "external"
interfaces = ["1.2"]
tag = 100
self_v4 = "192.0.2.254"
prefixlen_v4 = 24
self_v6 = "2001:db8::fe"
prefixlen_v6 = 64

[[routes]]
destination = "0.0.0.0"
prefix_len = 0
gateway = "192.0.2.1"

[[routes]]
destination = "::"
prefix_len = 0
gateway = "2001:db8::1"

[snat]
dual_stack = true
sessions_per_worker = 65536

[nat46]
enabled = true
ipv4_subnet = "10.250.1.0/24"
max_reserved_static_ips = 8
static_mappings = [{ ipv4 = "10.250.1.5", ipv6 = "2001:db8:300::80" }]

[nat64]
enabled = true

[dns]
enabled = true
pending_capacity = 1024
upstream_timeout_ms = 300

[[dns.forward_zones]]
zone = "."
servers = ["192.0.2.53:53"]
"#;

const POD_MAC: [u8; 6] = [0x02, 0x00, 0x5e, 0x10, 0x00, 0x05];
const GW_MAC: [u8; 6] = [0x02, 0x00, 0x5e, 0x20, 0x00, 0x01];
const BC: [u8; 6] = frames::BROADCAST;
/// Distinct SNAT flows per cycle (all fit in the session table: the count stays flat).
const FLOWS: u16 = 2048;

fn pod4() -> Ipv4Addr {
    Ipv4Addr::new(10, 1, 0, 5)
}
fn pod6() -> Ipv6Addr {
    "fd00:1::5".parse().unwrap()
}

fn v6(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

fn icmpv6(src: Ipv6Addr, dst: Ipv6Addr, mut msg: Vec<u8>) -> Vec<u8> {
    let mut ph = Vec::new();
    ph.extend_from_slice(&src.octets());
    ph.extend_from_slice(&dst.octets());
    ph.extend_from_slice(&(msg.len() as u32).to_be_bytes());
    ph.extend_from_slice(&[0, 0, 0, 58]);
    let s = frames::ones_complement_sum(&msg, frames::ones_complement_sum(&ph, 0) as u32);
    msg[2..4].copy_from_slice(&(!s).to_be_bytes());
    frames::ipv6(src, dst, frames::PROTO_ICMPV6, 255, &msg)
}

fn dns_query(id: u16, name: &str, qtype: u16) -> Vec<u8> {
    let mut m = id.to_be_bytes().to_vec();
    m.extend_from_slice(&[1, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    for l in name.split('.') {
        m.push(l.len() as u8);
        m.extend_from_slice(l.as_bytes());
    }
    m.extend_from_slice(&[0]);
    m.extend_from_slice(&qtype.to_be_bytes());
    m.extend_from_slice(&[0, 1]);
    m
}

fn syn(ips: Ips, sport: u16, dport: u16) -> Vec<u8> {
    ips.wrap(
        frames::PROTO_TCP,
        &frames::tcp(ips, sport, dport, 1, 0, tcp_flags::SYN, &[]),
    )
}

/// One cycle of pod-side frames (port 1.1): forwarded flows and every kind of drop and error.
fn pod_cycle() -> Vec<Vec<u8>> {
    let e4 = |ip: &[u8]| frames::ethernet(BC, POD_MAC, frames::ETHERTYPE_IPV4, ip);
    let e6 = |ip: &[u8]| frames::ethernet(BC, POD_MAC, frames::ETHERTYPE_IPV6, ip);
    let server = Ipv4Addr::new(198, 51, 100, 7);
    let mut out = Vec::new();
    for i in 0..FLOWS {
        let sport = 20000 + i;
        // SNAT44 TCP and UDP, SNAT66, NAT64, NAT46: forwarded.
        out.push(e4(&syn(Ips::V4(pod4(), server), sport, 80)));
        let u = Ips::V4(pod4(), server);
        out.push(e4(
            &u.wrap(frames::PROTO_UDP, &frames::udp(u, sport, 9000, b"data"))
        ));
        if i % 8 == 0 {
            out.push(e6(&syn(
                Ips::V6(pod6(), v6("2001:db8:300::80")),
                sport,
                443,
            )));
            out.push(e6(&syn(
                Ips::V6(pod6(), v6("64:ff9b::c633:6407")),
                sport,
                80,
            )));
            out.push(e4(&syn(
                Ips::V4(pod4(), Ipv4Addr::new(10, 250, 1, 5)),
                sport,
                80,
            )));
        }
        if i % 16 == 0 {
            // DNS queries: forwarded upstream, never answered (timeouts, SERVFAIL answers).
            let q = dns_query(
                i,
                &format!("h{i}.example.com"),
                if i % 32 == 0 { 1 } else { 28 },
            );
            let d = Ips::V4(pod4(), Ipv4Addr::new(10, 96, 0, 10));
            out.push(e4(
                &d.wrap(frames::PROTO_UDP, &frames::udp(d, sport, 53, &q))
            ));
            // Echo to the self IP (reply), TTL 1 (Time Exceeded).
            out.push(e4(&frames::ipv4(
                pod4(),
                Ipv4Addr::new(10, 1, 0, 254),
                frames::PROTO_ICMP,
                64,
                i,
                &frames::icmpv4_echo_request(1, i, b"ping"),
            )));
            out.push(e4(&frames::ipv4(
                pod4(),
                server,
                frames::PROTO_UDP,
                1,
                i,
                &frames::udp(u, sport, 33434, b"trace"),
            )));
            // Errors: bad IPv4 checksum, truncated IPv4, unknown ethertype, unknown VLAN,
            // runt frame, bad UDP checksum to DNS.
            let mut bad = syn(Ips::V4(pod4(), server), sport, 81);
            bad[10] ^= 0xff;
            out.push(e4(&bad));
            out.push(e4(&syn(Ips::V4(pod4(), server), sport, 82)[..30]));
            out.push(frames::ethernet(BC, POD_MAC, 0x88b5, b"local experimental"));
            out.push(frames::ethernet_vlan(
                BC,
                POD_MAC,
                999,
                frames::ETHERTYPE_IPV4,
                &bad,
            ));
            out.push(vec![0xff; 10]);
            let mut badq = d.wrap(frames::PROTO_UDP, &frames::udp(d, sport, 53, &q));
            let n = badq.len();
            badq[n - 1] ^= 0x55;
            out.push(e4(&badq));
        }
    }
    out
}

/// One cycle of world-side frames (port 1.2, VLAN 100): the gateways make themselves known
/// (ARP request, NS), then unsolicited inbound traffic and forged DNS replies.
fn world_cycle() -> Vec<Vec<u8>> {
    let self4 = Ipv4Addr::new(192, 0, 2, 254);
    let gw4 = Ipv4Addr::new(192, 0, 2, 1);
    let w4 = |ip: &[u8]| frames::ethernet_vlan(BC, GW_MAC, 100, frames::ETHERTYPE_IPV4, ip);
    let mut out = vec![
        frames::ethernet_vlan(
            BC,
            GW_MAC,
            100,
            frames::ETHERTYPE_ARP,
            &frames::arp_request(GW_MAC, gw4, self4),
        ),
        {
            let target = v6("2001:db8::fe");
            let mut ns = vec![135, 0, 0, 0, 0, 0, 0, 0];
            ns.extend_from_slice(&target.octets());
            ns.extend_from_slice(&[1, 1]);
            ns.extend_from_slice(&GW_MAC);
            frames::ethernet_vlan(
                [0x33, 0x33, 0xff, 0, 0, 0xfe],
                GW_MAC,
                100,
                frames::ETHERTYPE_IPV6,
                &icmpv6(v6("2001:db8::1"), v6("ff02::1:ff00:fe"), ns),
            )
        },
    ];
    // Answers to the VNF's own ARP request and NS for the gateways (net_pcap1's MAC).
    let vnf_mac = [0x02, 0x70, 0x63, 0x61, 0x70, 0x01];
    let mut reply = frames::arp_request(GW_MAC, gw4, self4);
    reply[7] = 2;
    reply[18..24].copy_from_slice(&vnf_mac);
    out.push(frames::ethernet_vlan(
        vnf_mac,
        GW_MAC,
        100,
        frames::ETHERTYPE_ARP,
        &reply,
    ));
    let gw6 = v6("2001:db8::1");
    let mut na = vec![136, 0, 0, 0, 0x60, 0, 0, 0];
    na.extend_from_slice(&gw6.octets());
    na.extend_from_slice(&[2, 1]);
    na.extend_from_slice(&GW_MAC);
    out.push(frames::ethernet_vlan(
        vnf_mac,
        GW_MAC,
        100,
        frames::ETHERTYPE_IPV6,
        &icmpv6(gw6, v6("2001:db8::fe"), na),
    ));
    let server = Ipv4Addr::new(198, 51, 100, 7);
    for i in 0..64u16 {
        out.push(w4(&syn(Ips::V4(server, self4), 80, 1024 + i)));
        let r = Ips::V4(Ipv4Addr::new(192, 0, 2, 53), self4);
        let q = dns_query(i, "forged.example.com", 1);
        out.push(w4(
            &r.wrap(frames::PROTO_UDP, &frames::udp(r, 53, 61440 + i, &q))
        ));
    }
    out
}

/// pcap records (16-byte header each) of `frames`.
fn records(frames: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for f in frames {
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&(f.len() as u32).to_le_bytes());
        out.extend_from_slice(&(f.len() as u32).to_le_bytes());
        out.extend_from_slice(f);
    }
    out
}

/// The pcap file header (Ethernet, microseconds).
fn pcap_header() -> Vec<u8> {
    let mut h = Vec::new();
    h.extend_from_slice(&0xa1b2c3d4u32.to_le_bytes());
    h.extend_from_slice(&2u16.to_le_bytes());
    h.extend_from_slice(&4u16.to_le_bytes());
    h.extend_from_slice(&[0; 8]);
    h.extend_from_slice(&65535u32.to_le_bytes());
    h.extend_from_slice(&1u32.to_le_bytes());
    h
}

/// A writer thread streaming pcap records into a named pipe.
struct Feeder {
    path: PathBuf,
    go: mpsc::Sender<u64>,
    stop: Arc<AtomicBool>,
    written: Arc<AtomicU64>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Feeder {
    /// Creates the pipe; the thread opens it (blocks until the VNF opens it for reading) and
    /// writes the pcap header, then, at `send(n)`, `n` packets of `cycle` (`u64::MAX`: until
    /// stopped) and closes the pipe: the VNF reads end of file and its port goes idle.
    ///
    /// `net_pcap` reads the pipe with blocking reads: while a pipe is open and empty, the
    /// worker waits in that read. Hence one `send` per feeder, and both feeders sent before
    /// anything is expected.
    fn new(path: &Path, cycle: Vec<Vec<u8>>) -> Feeder {
        let st = std::process::Command::new("mkfifo")
            .arg(path)
            .status()
            .unwrap();
        assert!(st.success(), "mkfifo {}", path.display());
        let (go, rx) = mpsc::channel::<u64>();
        let stop = Arc::new(AtomicBool::new(false));
        let written = Arc::new(AtomicU64::new(0));
        let path = path.to_owned();
        let (p2, st2, w2) = (path.clone(), stop.clone(), written.clone());
        let thread = std::thread::spawn(move || {
            let Ok(f) = std::fs::OpenOptions::new().write(true).open(&p2) else {
                return;
            };
            let mut f = std::io::BufWriter::with_capacity(1 << 20, f);
            if f.write_all(&pcap_header()).is_err() || f.flush().is_err() {
                return;
            }
            let recs: Vec<Vec<u8>> = cycle
                .iter()
                .map(|c| records(std::slice::from_ref(c)))
                .collect();
            let Ok(n) = rx.recv() else {
                return;
            };
            let mut left = n;
            'cycle: while left > 0 {
                for r in &recs {
                    if left == 0 || st2.load(Ordering::Relaxed) {
                        break 'cycle;
                    }
                    if f.write_all(r).is_err() {
                        return;
                    }
                    left -= 1;
                    w2.fetch_add(1, Ordering::Relaxed);
                }
            }
            let _ = f.flush();
        });
        Feeder {
            path,
            go,
            stop,
            written,
            thread: Some(thread),
        }
    }

    fn send(&self, n: u64) {
        self.go.send(n).unwrap();
    }

    fn written(&self) -> u64 {
        self.written.load(Ordering::Relaxed)
    }

    /// Stops an endless `send` (the pipe closes).
    fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

impl Drop for Feeder {
    fn drop(&mut self) {
        use std::io::Read;
        use std::os::unix::fs::OpenOptionsExt;
        self.stop.store(true, Ordering::Relaxed);
        let (tx, _) = mpsc::channel();
        self.go = tx;
        let Some(t) = self.thread.take() else {
            return;
        };
        // A writer still blocked (the VNF never opened the pipe, or stopped reading): open the
        // read side ourselves (non-blocking) and drain until the thread is done.
        let mut reader = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(0o4000) // O_NONBLOCK
            .open(&self.path);
        let mut buf = vec![0u8; 1 << 16];
        let deadline = Instant::now() + Duration::from_secs(30);
        while !t.is_finished() && Instant::now() < deadline {
            match &mut reader {
                Ok(r) => {
                    if !matches!(r.read(&mut buf), Ok(n) if n > 0) {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                }
                Err(_) => std::thread::sleep(Duration::from_millis(10)),
            }
        }
        if t.is_finished() {
            let _ = t.join();
        }
    }
}

struct Rig {
    vnf: Vnf,
    pods: Feeder,
    world: Feeder,
    _dir: tempfile::TempDir,
}

fn start(label: &str) -> Rig {
    let dir = egress_tests::test_dir(label).unwrap();
    let p: PathBuf = dir.path().to_owned();
    let pods = Feeder::new(&p.join("pods.pcap"), pod_cycle());
    let world = Feeder::new(&p.join("world.pcap"), world_cycle());
    let vnf = VnfBuilder::new()
        .label(label)
        .mode("egress")
        .extra_toml(TOML)
        .vdev(&format!(
            "net_pcap0,rx_pcap={},tx_pcap=/dev/null",
            p.join("pods.pcap").display()
        ))
        .vdev(&format!(
            "net_pcap1,rx_pcap={},tx_pcap=/dev/null",
            p.join("world.pcap").display()
        ))
        .start()
        .unwrap();
    Rig {
        vnf,
        pods,
        world,
        _dir: dir,
    }
}

/// (size, available, in use) of the packet pool, from `show port info`.
fn mempool(vnf: &Vnf) -> (u64, u64, u64) {
    let out = egressctl(vnf, &["show", "port", "info", "all"]).unwrap();
    let line = out
        .lines()
        .find(|l| l.starts_with("mempool:"))
        .unwrap_or_else(|| panic!("no mempool line in `show port info`:\n{out}"));
    let nums: Vec<u64> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|w| w.parse().ok())
        .collect();
    assert_eq!(nums.len(), 3, "{line}");
    (nums[0], nums[1], nums[2])
}

/// A column of a text table, by header name, for the row whose first cell is `row`.
fn cell(table: &str, row: &str, col: &str) -> Option<u64> {
    let mut lines = table.lines().filter(|l| !l.trim().is_empty());
    let header: Vec<&str> = lines
        .find(|l| l.split_whitespace().any(|w| w == col))?
        .split_whitespace()
        .collect();
    let i = header.iter().position(|h| *h == col)?;
    lines
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|w| w.first() == Some(&row))
        .and_then(|w| w.get(i).and_then(|v| v.parse().ok()))
}

fn port_counter(vnf: &Vnf, port: &str, col: &str) -> u64 {
    let out = egressctl(vnf, &["show", "port", "stats", "all"]).unwrap();
    cell(&out, port, col).unwrap_or_else(|| panic!("{port} {col} in:\n{out}"))
}

/// Active NAT sessions (SNAT, NAT46, NAT64 virtual servers).
fn sessions(vnf: &Vnf) -> u64 {
    let out = egressctl(vnf, &["show", "vs", "stats"]).unwrap();
    [
        "egress-ipv4",
        "egress-ipv6",
        "egress-ipv4-nat46",
        "egress-ipv6-nat64",
    ]
    .iter()
    .filter_map(|vs| cell(&out, vs, "clientside.cur_conns"))
    .sum()
}

fn rss_kib(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap()
}

fn drops_total(vnf: &Vnf) -> u64 {
    let out = egressctl(vnf, &["show", "drops"]).unwrap();
    out.lines()
        .filter_map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            (w.len() >= 2 && w[0].contains('_')).then(|| w[1].parse::<u64>().ok())?
        })
        .sum()
}

/// Waits until port `port` has received `n` packets and has been still for a second.
fn wait_received(vnf: &Vnf, port: &str, n: u64, timeout: Duration) -> u64 {
    let deadline = Instant::now() + timeout;
    loop {
        let got = port_counter(vnf, port, "rx_packets");
        if got >= n || Instant::now() > deadline {
            return got;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn mbuf_accounting_after_ten_million_packets() {
    require_root();
    let _s = serial();
    let mut rig = start("mbuf-accounting");
    // Nothing received yet (the worker waits on the empty pipes).
    std::thread::sleep(Duration::from_secs(1));
    let (size, avail0, base) = mempool(&rig.vnf);
    assert_eq!(avail0 + base, size);

    const N: u64 = 10_000_000;
    let t0 = Instant::now();
    rig.world.send(N / 100);
    rig.pods.send(N - N / 100);
    let got1 = wait_received(&rig.vnf, "1.1", N - N / 100, Duration::from_secs(240));
    let got2 = wait_received(&rig.vnf, "1.2", N / 100, Duration::from_secs(30));
    let took = t0.elapsed();
    assert_eq!(
        got1,
        N - N / 100,
        "port 1.1 received (fed {})",
        rig.pods.written()
    );
    assert_eq!(
        got2,
        N / 100,
        "port 1.2 received (fed {})",
        rig.world.written()
    );
    // Idle: DNS upstream timeouts (300 ms), neighbour holds, TX drain.
    std::thread::sleep(Duration::from_secs(4));
    let (_, avail1, after) = mempool(&rig.vnf);
    let tx =
        port_counter(&rig.vnf, "1.2", "tx_packets") + port_counter(&rig.vnf, "1.1", "tx_packets");
    let drops = drops_total(&rig.vnf);
    eprintln!(
        "mbuf accounting: {} packets in {:.1} s ({:.2} Mpps), tx {tx}, drops {drops}; pool size {size}, in use before {base}, after {after}",
        got1 + got2,
        took.as_secs_f64(),
        (got1 + got2) as f64 / took.as_secs_f64() / 1e6
    );
    let table = egressctl(&rig.vnf, &["show", "drops"]).unwrap();
    let nonzero: Vec<&str> = table
        .lines()
        .filter(|l| l.split_whitespace().nth(1).is_some_and(|n| n != "0"))
        .collect();
    eprintln!("{}", nonzero.join("\n"));
    assert!(tx > N / 4, "forwarded traffic: tx {tx}");
    assert!(drops > N / 100, "drops and errors counted: {drops}");
    assert_eq!(
        after, base,
        "mbufs in use after idle (available {avail1}, before {avail0})"
    );
    rig.vnf.check_running().unwrap();
    let Rig {
        vnf, pods, world, ..
    } = rig;
    drop(pods);
    drop(world);
    let (exit, _) = vnf.stop().unwrap();
    assert_eq!(exit.status.code(), Some(0));
}

/// Streams mixed traffic for `dur`, sampling every `every`; asserts RSS, mempool in-use and
/// session counts stay flat after the first quarter (warm-up).
fn soak_for(label: &str, dur: Duration, every: Duration) {
    let mut rig = start(label);
    rig.pods.send(u64::MAX);
    rig.world.send(u64::MAX);
    let pid = rig.vnf.pid();
    let t0 = Instant::now();
    let mut samples: Vec<(f64, u64, u64, u64, u64)> = Vec::new();
    while t0.elapsed() < dur {
        std::thread::sleep(every);
        rig.vnf.check_running().unwrap();
        let s = (
            t0.elapsed().as_secs_f64(),
            rss_kib(pid),
            mempool(&rig.vnf).2,
            sessions(&rig.vnf),
            port_counter(&rig.vnf, "1.1", "rx_packets"),
        );
        eprintln!(
            "soak {:>6.1} s: rss {} KiB, mbufs in use {}, sessions {}, rx {}",
            s.0, s.1, s.2, s.3, s.4
        );
        samples.push(s);
    }
    rig.pods.stop();
    rig.world.stop();
    assert!(samples.len() >= 4, "{samples:?}");
    let warm = samples.len() / 4;
    let (w, rest) = samples.split_at(warm.max(1));
    let max = |v: &[(f64, u64, u64, u64, u64)], f: fn(&(f64, u64, u64, u64, u64)) -> u64| {
        v.iter().map(f).max().unwrap_or(0)
    };
    let rss_warm = max(w, |s| s.1);
    let rss_end = max(rest, |s| s.1);
    let pool_warm = max(w, |s| s.2);
    let pool_end = max(rest, |s| s.2);
    let ses_warm = max(w, |s| s.3);
    let ses_end = max(rest, |s| s.3);
    let rx = samples.last().map_or(0, |s| s.4);
    eprintln!(
        "soak {label}: {:.0} s, {rx} packets on 1.1; rss {rss_warm} -> {rss_end} KiB, mbufs in use {pool_warm} -> {pool_end}, sessions {ses_warm} -> {ses_end}",
        dur.as_secs_f64()
    );
    assert!(rx > 100_000, "traffic flowed: {rx}");
    // RSS: at most 8 MiB above the warm-up's peak.
    assert!(
        rss_end <= rss_warm + 8 * 1024,
        "RSS grew: {rss_warm} -> {rss_end} KiB"
    );
    // Mempool: in flight at most a few bursts per queue above the warm-up's peak.
    assert!(
        pool_end <= pool_warm + 256,
        "mbufs in use grew: {pool_warm} -> {pool_end}"
    );
    // Sessions: the flows of one cycle, refreshed; bounded by the warm-up's peak (+1%).
    assert!(ses_end > 0, "sessions exist");
    assert!(
        ses_end <= ses_warm + ses_warm / 100 + 8,
        "sessions grew: {ses_warm} -> {ses_end}"
    );
    let Rig {
        vnf, pods, world, ..
    } = rig;
    drop(pods);
    drop(world);
    let (exit, _) = vnf.stop().unwrap();
    assert_eq!(exit.status.code(), Some(0));
}

#[test]
fn soak_short() {
    require_root();
    let _s = serial();
    soak_for(
        "soak-short",
        Duration::from_secs(25),
        Duration::from_secs(2),
    );
}

/// `make soak` (SOAK_MINUTES, default 10).
#[test]
#[ignore = "long: run by `make soak`"]
fn soak() {
    require_root();
    let _s = serial();
    let minutes: u64 = std::env::var("SOAK_MINUTES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    soak_for(
        "soak",
        Duration::from_secs(minutes * 60),
        Duration::from_secs(10),
    );
}
