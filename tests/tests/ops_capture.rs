//! Operations (issue 9): capture and introspection of a running VNF. `dpdk-dumpcap` attaches
//! as a DPDK secondary process (same `--file-prefix`) to the VNF's pdump server and captures
//! port 1.1 while a pod pings through it; `tshark` reads the file back. `dpdk-telemetry.py`
//! queries the VNF's telemetry socket (`/ethdev/list`, `/ethdev/stats`).
//!
//! A secondary process maps the primary's memory, so the VNF runs on hugepages here (not
//! `--no-huge`): the test reserves them and gives them back ([`HugepageGuard`]).

use egress_tests::egress::*;
use egress_tests::hugepages::HugepageGuard;
use egress_tests::netns::ping;
use egress_tests::process::ChildGuard;
use egress_tests::{require_root, serial};
use std::process::{Command, Stdio};
use std::time::Duration;

#[test]
fn dumpcap_captures_a_running_vnf_and_telemetry_answers() {
    require_root();
    let _s = serial();
    let _huge = HugepageGuard::reserve(128).unwrap();
    let topo = EgressTopology::new(TopologyOptions {
        dns_server: false,
        ..Default::default()
    })
    .unwrap();
    let f = Features {
        dns: false,
        ..Features::default()
    };
    let vnf = topo
        .vnf_builder("ops-capture", &f)
        .no_huge(false)
        .memory_mb(Some(128))
        .start()
        .unwrap();
    assert!(
        vnf.stderr()
            .contains("packet capture: dpdk-dumpcap --file-prefix"),
        "{}",
        vnf.stderr()
    );
    // Learn the pod's neighbour first so the capture holds only the pings.
    let r = ping(&topo.pod4, SERVER_V4, 1).unwrap();
    assert_eq!(r.received, 1, "{}", r.output);

    // dpdk-dumpcap on port 0 (1.1, the IPv4 pod's side), both directions, 6 packets.
    let pcap = topo.dir().join("capture.pcapng");
    let mut cmd = topo.dut.command("dpdk-dumpcap");
    cmd.arg(format!("--file-prefix={}", vnf.file_prefix()))
        .args(["-i", "0", "-f", "icmp", "-c", "6", "-w"])
        .arg(&pcap);
    let mut cap = ChildGuard::spawn(cmd, topo.dir(), "dumpcap").unwrap();
    // dumpcap's "Capturing on" line is buffered (stdout is a file): ping once a second until
    // it has its six packets and exits.
    let mut pings = 0;
    while cap.try_status().unwrap().is_none() && pings < 20 {
        let r = ping(&topo.pod4, SERVER_V4, 1).unwrap();
        assert_eq!(r.received, 1, "{}", r.output);
        pings += 1;
    }
    if cap.wait_timeout(Duration::from_secs(5)).unwrap().is_none() {
        let _ = cap.interrupt(Duration::from_secs(10));
    }
    let status = cap.try_status().unwrap();
    assert!(
        status.is_some_and(|s| s.success()),
        "dpdk-dumpcap after {pings} ping(s): {status:?}\n{}\n{}",
        cap.stdout(),
        cap.stderr()
    );
    assert!(
        cap.stdout().contains("Capturing on 'net_af_packet0'"),
        "{}",
        cap.stdout()
    );

    // tshark reads the capture: echo requests in from the pod, replies out to it.
    let out = Command::new("tshark")
        .arg("-r")
        .arg(&pcap)
        .args([
            "-n",
            "-T",
            "fields",
            "-e",
            "ip.src",
            "-e",
            "ip.dst",
            "-e",
            "icmp.type",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let rows: Vec<Vec<&str>> = text.lines().map(|l| l.split('\t').collect()).collect();
    assert_eq!(rows.len(), 6, "six packets captured:\n{text}");
    let requests = rows
        .iter()
        .filter(|r| r == &&vec![POD4_V4, SERVER_V4, "8"])
        .count();
    let replies = rows
        .iter()
        .filter(|r| r == &&vec![SERVER_V4, POD4_V4, "0"])
        .count();
    assert!(
        requests >= 2 && replies >= 2,
        "requests and replies:\n{text}"
    );

    // DPDK telemetry: the socket in the VNF's runtime directory, queried with the DPDK tool.
    let sock = format!("/var/run/dpdk/{}/dpdk_telemetry.v2", vnf.file_prefix());
    assert!(std::path::Path::new(&sock).exists(), "{sock}");
    let mut child = Command::new("dpdk-telemetry.py")
        .args(["-f", vnf.file_prefix()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(b"/ethdev/list\n/ethdev/stats,0\n").unwrap();
    }
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let compact: String = text.split_whitespace().collect();
    assert!(
        compact.contains("\"/ethdev/list\":[0,1,2]"),
        "three ports listed:\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ipackets = compact
        .split("\"ipackets\":")
        .nth(1)
        .and_then(|s| s.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap_or_else(|| panic!("ipackets of port 0:\n{text}"));
    assert!(ipackets >= 5, "port 0 received the pings: {ipackets}");

    vnf.stop().unwrap();
}
