//! Golden pcap: in bridge mode the VNF forwards every frame it reads on port 1.1 to port 1.2
//! byte for byte (`net_pcap` vdevs: IN.pcap -> 1.1, 1.2 -> OUT.pcap), and sends nothing back.

use egress_tests::vnf::VnfBuilder;
use egress_tests::{frames, pcap, require_root, serial, tshark};
use std::time::{Duration, Instant};

#[test]
fn bridge_forwards_mixed_frames_byte_identically() {
    require_root();
    let _s = serial();
    let dir = egress_tests::test_dir("golden").unwrap();
    let p = |n: &str| dir.path().join(n);
    let input = frames::mixed_frames();
    pcap::write_frames(&p("in.pcap"), &input).unwrap();
    pcap::write_frames(&p("empty.pcap"), &[]).unwrap();
    // The input itself must satisfy the oracle, or a clean output would prove nothing.
    tshark::assert_clean(&p("in.pcap"), Some(input.len())).unwrap();

    let vnf = VnfBuilder::new()
        .label("golden")
        .vdev(&format!(
            "net_pcap0,rx_pcap={},tx_pcap={}",
            p("in.pcap").display(),
            p("back.pcap").display()
        ))
        .vdev(&format!(
            "net_pcap1,rx_pcap={},tx_pcap={}",
            p("empty.pcap").display(),
            p("out.pcap").display()
        ))
        .start()
        .unwrap();

    // Let it drain: wait until everything reached OUT (or give up after 20 s).
    let deadline = Instant::now() + Duration::from_secs(20);
    while pcap::count_packets(&p("out.pcap")) < input.len() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let (_exit, stats) = vnf.stop().unwrap();

    let out = pcap::read(&p("out.pcap")).unwrap();
    assert_eq!(out.linktype, pcap::LINKTYPE_ETHERNET);
    let got: Vec<&Vec<u8>> = out.packets.iter().map(|p| &p.data).collect();
    let want: Vec<&Vec<u8>> = input.iter().collect();
    assert_eq!(got.len(), want.len(), "frames forwarded to 1.2");
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert_eq!(g, w, "frame {} differs", i + 1);
    }
    assert!(out
        .packets
        .iter()
        .all(|p| p.orig_len as usize == p.data.len()));
    let back = pcap::read(&p("back.pcap")).unwrap();
    assert!(
        back.packets.is_empty(),
        "{} frames went back out of 1.1",
        back.packets.len()
    );
    tshark::assert_clean(&p("out.pcap"), Some(input.len())).unwrap();

    let bytes: u64 = input.iter().map(|f| f.len() as u64).sum();
    let (p1, p2) = (stats.port("1.1").unwrap(), stats.port("1.2").unwrap());
    assert_eq!(p1.get("rx_packets"), input.len() as u64, "{p1:?}");
    assert_eq!(p2.get("tx_packets"), input.len() as u64, "{p2:?}");
    assert_eq!(p1.get("rx_bytes"), bytes, "{p1:?}");
    assert_eq!(p2.get("tx_bytes"), bytes, "{p2:?}");
    assert_eq!(p1.get_str("name"), Some("net_pcap0"));
    assert_eq!(p2.get("tx_errors"), 0);
    assert_eq!(p1.get("tx_packets"), 0);
}
