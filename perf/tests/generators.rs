//! The captures the benchmark replays are valid: every path's generator, written as a pcap by
//! the runner's writer, decoded by `tshark` with IPv4/UDP checksum validation on (ICMPv6
//! checksums are always checked): no malformed frame, no bad checksum, the expected protocols.
//! The same frames are also checked with the data plane's own `wire` parsers in
//! `src/gen.rs`'s unit tests.

use egress_perf::gen::{self, GenParams};
use egress_perf::{paths, pcap};
use egress_tests::tshark;
use std::sync::atomic::{AtomicUsize, Ordering};

fn decode(name: &str, frames: &[Vec<u8>]) -> Vec<tshark::Frame> {
    static SEQ: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "egress-perf-gen-test-{}-{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join(format!("{name}.pcap"));
    pcap::write_file(&file, frames).unwrap();
    let decoded = tshark::decode(&file);
    std::fs::remove_dir_all(&dir).unwrap();
    decoded.unwrap()
}

fn assert_clean(name: &str, decoded: &[tshark::Frame], count: usize, stack: &str) {
    assert_eq!(decoded.len(), count, "{name}: frames decoded");
    for f in decoded {
        assert!(
            f.problems().is_empty(),
            "{name}: frame {} ({}): {:?}",
            f.number,
            f.protocols,
            f.problems()
        );
        assert!(
            f.protocols.starts_with(stack),
            "{name}: frame {} is {}, expected {stack}",
            f.number,
            f.protocols
        );
    }
}

/// One capture holding every path's frames at three frame lengths (one `tshark` run).
#[test]
fn every_path_capture_decodes_without_errors() {
    let mut frames = Vec::new();
    let mut labels = Vec::new();
    for p in paths::PATHS {
        for frame_len in [gen::MIN_FRAME_LEN, 200, gen::MAX_FRAME_LEN] {
            let params = GenParams {
                flows: 100,
                frame_len,
            };
            let f = (p.generate)(&params);
            let arp = f.iter().filter(|f| f[12..14] == [0x08, 0x06]).count();
            assert_eq!(f.len() - arp, 100, "{}", p.name);
            labels.extend(std::iter::repeat_n(
                format!("{} {frame_len}", p.name),
                f.len(),
            ));
            frames.extend(f);
        }
    }
    let decoded = decode("paths", &frames);
    assert_eq!(decoded.len(), frames.len(), "frames decoded");
    for ((f, d), label) in frames.iter().zip(&decoded).zip(&labels) {
        let stack = match [f[12], f[13]] {
            [0x86, 0xdd] => "eth:ethertype:ipv6:udp",
            [0x08, 0x06] => "eth:ethertype:arp",
            _ => "eth:ethertype:ip:udp",
        };
        assert_clean(label, std::slice::from_ref(d), 1, stack);
    }
}

/// The DNS paths' queries are DNS to tshark too, each a standard query for the expected name.
#[test]
fn dns46_queries_decode_as_dns() {
    let frames = gen::dns46_queries(&GenParams {
        flows: 50,
        frame_len: gen::MIN_FRAME_LEN,
    });
    let decoded = decode("dns46", &frames);
    assert_clean(
        "dns46 arp",
        &decoded[..gen::DNS_PODS],
        gen::DNS_PODS,
        "eth:ethertype:arp",
    );
    assert_clean(
        "dns46",
        &decoded[gen::DNS_PODS..],
        50,
        "eth:ethertype:ip:udp:dns",
    );
}

#[test]
fn neighbour_announcements_decode_without_errors() {
    let frames = gen::neighbours();
    let decoded = decode("neighbours", &frames);
    assert_eq!(decoded.len(), 3);
    assert_clean("neighbours", &decoded[..1], 1, "eth:ethertype:arp");
    assert_clean("neighbours", &decoded[1..], 2, "eth:ethertype:ipv6:icmpv6");
}
