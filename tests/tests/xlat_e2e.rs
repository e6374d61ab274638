//! NAT46 and NAT64 end to end with real kernel stacks (issue 5, "End to end with real peers"):
//! an IPv4-only pod reaches an IPv6-only HTTP server through a static NAT46 mapping
//! (`curl -4 http://10.250.1.5/`), an IPv6-only pod reaches an IPv4-only server through
//! 64:ff9b::/96 (`curl -6 http://[64:ff9b::192.0.2.10]/`), `ping` both ways, a 3000-byte UDP
//! datagram both ways, and `tracepath` finds the smaller MTU on the far side of the
//! translator. Topology: `egress_tests::egress` (the external IPv4 addresses are in
//! 192.0.2.0/24, which the Well-Known Prefix accepts as global).

use egress_tests::egress::*;
use egress_tests::netns::{ping, NetNs};
use egress_tests::vnf::VnfBuilder;
use egress_tests::{require_root, serial};
use std::path::Path;
use std::time::Duration;

fn assert_ping(ns: &NetNs, dst: &str) {
    let r = ping(ns, dst, 3).unwrap();
    assert!(
        r.success && r.transmitted == 3 && r.received == 3,
        "ping {dst} from {}:\n{}",
        ns.name(),
        r.output
    );
}

/// No DNS in these tests: the addresses are used directly.
fn features() -> Features {
    Features {
        dns: false,
        ..Features::default()
    }
}

#[test]
fn nat46_static_mapping_curl_and_ping_from_an_ipv4_pod() {
    require_root();
    let _s = serial();
    let topo = EgressTopology::new(TopologyOptions {
        dns_server: false,
        ..Default::default()
    })
    .unwrap();
    let vnf = topo.start_vnf("xlat-nat46", &features()).unwrap();

    let (ok, out) = curl(&topo.pod4, &["-4", &format!("http://{NAT46_STATIC_V4}/")]).unwrap();
    assert!(ok, "curl -4 http://{NAT46_STATIC_V4}/ failed: {out}");
    assert!(
        http_answer_ok(&out, "v6only", EXT_SELF_V6),
        "the IPv6-only server should answer, seeing the VNF's IPv6 SNAT address: {out}"
    );
    assert_ping(&topo.pod4, NAT46_STATIC_V4);

    let (_, stats) = vnf.stop().unwrap();
    assert!(stats.port("1.2").unwrap().get("tx_packets") >= 8);
}

#[test]
fn nat64_curl_and_ping_from_an_ipv6_pod_through_the_well_known_prefix() {
    require_root();
    let _s = serial();
    let topo = EgressTopology::new(TopologyOptions {
        dns_server: false,
        ..Default::default()
    })
    .unwrap();
    let vnf = topo.start_vnf("xlat-nat64", &features()).unwrap();

    let dst = nat64_addr(SERVER_V4);
    let (ok, out) = curl(&topo.pod6, &["-6", &format!("http://[{dst}]/")]).unwrap();
    assert!(ok, "curl -6 http://[{dst}]/ failed: {out}");
    assert!(
        http_answer_ok(&out, "v4only", EXT_SELF_V4),
        "the IPv4-only server should answer, seeing the VNF's IPv4 address: {out}"
    );
    assert_ping(&topo.pod6, &dst);

    // A private IPv4 under the Well-Known Prefix is refused (RFC 6052 3.1), counted.
    let before = drop_count(&vnf, "nat64_bad_address").unwrap();
    let r = ping(&topo.pod6, &nat64_addr("10.9.9.9"), 1).unwrap();
    assert_eq!(r.received, 0, "{}", r.output);
    assert!(drop_count(&vnf, "nat64_bad_address").unwrap() > before);
    vnf.stop().unwrap();
}

/// Sends `len` bytes in one datagram from `ns` to `dst:port` and returns what came back
/// (`socat`, 3 s for the answer).
fn udp_exchange(ns: &NetNs, dir: &Path, dst: &str, port: u16, len: usize) -> usize {
    let file = dir.join(format!("payload-{len}"));
    let payload: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
    std::fs::write(&file, payload).unwrap();
    let peer = if dst.contains(':') {
        format!("UDP6:[{dst}]:{port}")
    } else {
        format!("UDP4:{dst}:{port}")
    };
    let out = egress_tests::cmd::output(ns.command("socat").args([
        "-b",
        "65536",
        "-t",
        "3",
        &format!("OPEN:{}!!STDOUT", file.display()),
        &peer,
    ]))
    .unwrap();
    out.stdout.len()
}

/// UDP servers in the external namespace: port 9000 echoes a datagram, port 9001 answers any
/// datagram with `len` bytes.
fn udp_servers(
    topo: &EgressTopology,
    addr: &str,
    len: usize,
) -> Vec<egress_tests::process::ChildGuard> {
    let big = topo.dir().join(format!("big-{len}"));
    std::fs::write(&big, vec![b'z'; len]).unwrap();
    let script = topo.dir().join("big.sh");
    std::fs::write(
        &script,
        format!(
            "dd bs=65536 count=1 of=/dev/null 2>/dev/null; cat {}\n",
            big.display()
        ),
    )
    .unwrap();
    let fam = if addr.contains(':') {
        format!("UDP6-LISTEN:{{}},bind=[{addr}],ipv6only=1,fork")
    } else {
        format!("UDP4-LISTEN:{{}},bind={addr},fork")
    };
    let mut v = Vec::new();
    for (port, exec) in [
        (9000, "EXEC:cat".to_string()),
        (9001, format!("EXEC:/bin/bash {}", script.display())),
    ] {
        let mut c = topo.ext.command("socat");
        c.args([
            "-b",
            "65536",
            "-T",
            "5",
            &fam.replace("{}", &port.to_string()),
            &exec,
        ]);
        v.push(
            egress_tests::process::ChildGuard::spawn(c, topo.dir(), &format!("udp{port}")).unwrap(),
        );
    }
    std::thread::sleep(Duration::from_millis(500));
    v
}

/// The ports of the topology as `net_pcap` devices on the same veths (`iface=`, the veth's own
/// MAC): unlike `net_af_packet`, whose fanout group asks the kernel to reassemble IPv4
/// fragments (`PACKET_FANOUT_FLAG_DEFRAG`, fixed in DPDK 22.11) and then cuts the reassembled
/// datagram to its 2048-byte ring frame, libpcap hands every fragment over as it was sent
/// (docs/testing.md, "Fragments end to end").
fn pcap_vdevs(topo: &EgressTopology) -> Vec<String> {
    [&topo.pod4_link.b, &topo.ext_link.b, &topo.pod6_link.b]
        .iter()
        .enumerate()
        .flat_map(|(i, ifname)| {
            [
                "--vdev".to_string(),
                format!("net_pcap{i},iface={ifname},phy_mac=1"),
            ]
        })
        .collect()
}

/// A 3000-byte datagram out (echoed back) and a 3000-byte datagram in, through NAT46 and
/// through NAT64; 1000-byte datagrams first show the path itself works. The kernels fragment
/// the 3000-byte datagrams (MTU 1500): the VNF translates the first fragment with its session
/// and the later ones with the fragment table (RFC 7915 4.1/5.1), splitting IPv4 fragments to
/// IPv6 fragments of at most 1280 bytes (lowest-ipv6-mtu).
#[test]
fn udp_3000_byte_datagrams_both_ways_through_nat46_and_nat64() {
    require_root();
    let _s = serial();
    let topo = EgressTopology::new(TopologyOptions {
        dns_server: false,
        ..Default::default()
    })
    .unwrap();
    let mut servers = udp_servers(&topo, SERVER_V6, 3000);
    servers.extend(udp_servers(&topo, SERVER_V4, 3000));
    let vnf = VnfBuilder::new()
        .label("xlat-udp")
        .mode("egress")
        .netns(&topo.dut)
        .eal_args(pcap_vdevs(&topo))
        .extra_toml(&topo.vlans_toml())
        .extra_toml(&features().toml())
        .start()
        .unwrap();

    let mut failures = Vec::new();
    for (what, ns, dst) in [
        ("NAT46", &topo.pod4, NAT46_STATIC_V4.to_string()),
        ("NAT64", &topo.pod6, nat64_addr(SERVER_V4)),
    ] {
        let small = udp_exchange(ns, topo.dir(), &dst, 9000, 1000);
        assert_eq!(small, 1000, "{what}: a 1000-byte datagram should be echoed");
        let out = udp_exchange(ns, topo.dir(), &dst, 9000, 3000);
        if out != 3000 {
            failures.push(format!("{what}: 3000 bytes out, {out} echoed back"));
        }
        let back = udp_exchange(ns, topo.dir(), &dst, 9001, 10);
        if back != 3000 {
            failures.push(format!("{what}: 3000 bytes in, {back} received"));
        }
    }
    let frag = drop_count(&vnf, "nat_fragment").unwrap();
    let drops = egressctl(&vnf, &["show", "drops"]).unwrap();
    vnf.stop().unwrap();
    drop(servers);
    assert!(
        failures.is_empty(),
        "{failures:?} (nat_fragment drops: {frag})\n{drops}"
    );
    assert_eq!(frag, 0, "no fragment without state:\n{drops}");
}

/// `tracepath` from the IPv4 pod to a NAT46 address across an external (IPv6) MTU of 1400:
/// the translator answers the 1500-byte DF probes with Fragmentation Needed, MTU 1380
/// (1400 - 20, RFC 7915 4.1), and the IPv6 server's Port Unreachable comes back translated.
/// The same from the IPv6 pod through NAT64: Packet Too Big with 1420 (1400 + 20).
#[test]
fn tracepath_finds_the_smaller_mtu_behind_the_translator() {
    require_root();
    let _s = serial();
    let topo = EgressTopology::new(TopologyOptions {
        ext_mtu: 1400,
        dns_server: false,
    })
    .unwrap();
    let vnf = topo.start_vnf("xlat-pmtu", &features()).unwrap();

    let out4 = egress_tests::cmd::output(topo.pod4.command("tracepath").args([
        "-4",
        "-n",
        "-m",
        "5",
        NAT46_STATIC_V4,
    ]))
    .unwrap();
    let out4 = String::from_utf8_lossy(&out4.stdout).into_owned();
    let dst6 = nat64_addr(SERVER_V4);
    let out6 = egress_tests::cmd::output(
        topo.pod6
            .command("tracepath")
            .args(["-6", "-n", "-m", "5", &dst6]),
    )
    .unwrap();
    let out6 = String::from_utf8_lossy(&out6.stdout).into_owned();
    vnf.stop().unwrap();
    assert!(
        out4.contains("pmtu 1380") && out4.contains("reached"),
        "tracepath -4 {NAT46_STATIC_V4}:\n{out4}"
    );
    assert!(
        out6.contains("pmtu 1420") && out6.contains("reached"),
        "tracepath -6 {dst6}:\n{out6}"
    );
}
