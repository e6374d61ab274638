//! Golden pcap: in bridge mode the VNF forwards every frame it reads on port 1.1 to port 1.2
//! (and 1.2 to 1.1) byte for byte, in order (`net_pcap` vdevs: rx_pcap files feed the ports,
//! tx_pcap files collect what they send). tshark checks the output independently.

use egress_tests::vnf::{FinalStats, VnfBuilder};
use egress_tests::{frames, pcap, require_root, serial, tshark};
use std::path::Path;
use std::time::{Duration, Instant};

/// Runs the VNF with `net_pcap0` reading `in_1` and `net_pcap1` reading `in_2`; returns what
/// ports 1.1 and 1.2 sent, and the final statistics.
fn run_bridge(
    dir: &Path,
    in_1: &[Vec<u8>],
    in_2: &[Vec<u8>],
) -> (Vec<Vec<u8>>, Vec<Vec<u8>>, FinalStats) {
    let p = |n: &str| dir.join(n);
    pcap::write_frames(&p("in1.pcap"), in_1).unwrap();
    pcap::write_frames(&p("in2.pcap"), in_2).unwrap();
    let vnf = VnfBuilder::new()
        .label("golden")
        .vdev(&format!(
            "net_pcap0,rx_pcap={},tx_pcap={}",
            p("in1.pcap").display(),
            p("out1.pcap").display()
        ))
        .vdev(&format!(
            "net_pcap1,rx_pcap={},tx_pcap={}",
            p("in2.pcap").display(),
            p("out2.pcap").display()
        ))
        .start()
        .unwrap();
    // Let it drain: wait until everything went out (or give up after 30 s and let the
    // comparison below say what is missing).
    let deadline = Instant::now() + Duration::from_secs(30);
    while (pcap::count_packets(&p("out2.pcap")) < in_1.len()
        || pcap::count_packets(&p("out1.pcap")) < in_2.len())
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(100));
    }
    let (_exit, stats) = vnf.stop().unwrap();
    let read = |n: &str| -> Vec<Vec<u8>> {
        let f = pcap::read(&p(n)).unwrap();
        assert_eq!(f.linktype, pcap::LINKTYPE_ETHERNET);
        assert!(f
            .packets
            .iter()
            .all(|p| p.orig_len as usize == p.data.len()));
        f.packets.into_iter().map(|p| p.data).collect()
    };
    (read("out1.pcap"), read("out2.pcap"), stats)
}

fn assert_same_frames(got: &[Vec<u8>], want: &[Vec<u8>], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: frame count");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            g == w,
            "{what}: frame {} differs\n got {g:02x?}\nwant {w:02x?}",
            i + 1
        );
    }
}

fn assert_port_counts(stats: &FinalStats, rx_port: &str, tx_port: &str, frames: &[Vec<u8>]) {
    let bytes: u64 = frames.iter().map(|f| f.len() as u64).sum();
    let (r, t) = (stats.port(rx_port).unwrap(), stats.port(tx_port).unwrap());
    assert_eq!(
        r.get("rx_packets"),
        frames.len() as u64,
        "port {rx_port}: {r:?}"
    );
    assert_eq!(r.get("rx_bytes"), bytes, "port {rx_port}: {r:?}");
    assert_eq!(
        t.get("tx_packets"),
        frames.len() as u64,
        "port {tx_port}: {t:?}"
    );
    assert_eq!(t.get("tx_bytes"), bytes, "port {tx_port}: {t:?}");
    assert_eq!(t.get("tx_errors"), 0, "port {tx_port}: {t:?}");
}

#[test]
fn bridge_forwards_mixed_frames_byte_identically() {
    require_root();
    let _s = serial();
    let dir = egress_tests::test_dir("golden").unwrap();
    let input = frames::mixed_frames();
    // The input itself must satisfy the oracle, or a clean output would prove nothing.
    pcap::write_frames(&dir.path().join("check.pcap"), &input).unwrap();
    tshark::assert_clean(&dir.path().join("check.pcap"), Some(input.len())).unwrap();

    let (out1, out2, stats) = run_bridge(dir.path(), &input, &[]);
    assert_same_frames(&out2, &input, "1.1 -> 1.2");
    assert!(
        out1.is_empty(),
        "{} frames went back out of 1.1",
        out1.len()
    );
    tshark::assert_clean(&dir.path().join("out2.pcap"), Some(input.len())).unwrap();
    assert_port_counts(&stats, "1.1", "1.2", &input);
    assert_eq!(
        stats.port("1.1").unwrap().get_str("name"),
        Some("net_pcap0")
    );
    assert_eq!(
        stats.port("1.2").unwrap().get_str("name"),
        Some("net_pcap1")
    );
    assert_eq!(stats.port("1.1").unwrap().get("tx_packets"), 0);
    let workers: u64 = stats.lcores.values().map(|l| l.get("rx_packets")).sum();
    assert_eq!(workers, input.len() as u64, "{:?}", stats.lcores);
}

#[test]
fn bridge_forwards_both_directions_and_long_bursts_in_order() {
    require_root();
    let _s = serial();
    let dir = egress_tests::test_dir("golden2").unwrap();
    // 3000 frames 1.1 -> 1.2 (many full bursts, every size from 60 to 1514 bytes, each frame
    // numbered), and the mixed frames 1.2 -> 1.1.
    let a = frames::mac(1);
    let b = frames::mac(2);
    let many: Vec<Vec<u8>> = (0..3000u32)
        .map(|i| {
            let len = 46 + (i as usize * 7) % (1500 - 46 + 1);
            let mut payload = vec![(i % 251) as u8; len];
            payload[..4].copy_from_slice(&i.to_be_bytes());
            frames::ethernet(b, a, 0x88b5, &payload)
        })
        .collect();
    let back = frames::mixed_frames();
    let (out1, out2, stats) = run_bridge(dir.path(), &many, &back);
    assert_same_frames(&out2, &many, "1.1 -> 1.2");
    assert_same_frames(&out1, &back, "1.2 -> 1.1");
    assert_port_counts(&stats, "1.1", "1.2", &many);
    assert_port_counts(&stats, "1.2", "1.1", &back);
}
