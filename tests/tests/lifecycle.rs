//! Start and stop (contract section 1): SIGTERM stops the VNF as cleanly as SIGINT (exit 0,
//! final statistics), and a stopped VNF leaves no process behind.

use egress_tests::vnf::{Signal, VnfBuilder};
use egress_tests::{require_root, serial};

#[test]
fn sigterm_stops_cleanly_with_final_statistics() {
    require_root();
    let _s = serial();
    let vnf = VnfBuilder::new()
        .label("sigterm")
        .vdev("net_null0")
        .vdev("net_null1")
        .start()
        .unwrap();
    let pid = vnf.pid();
    let (exit, stats) = vnf.stop_with(Signal::TERM).unwrap();
    assert_eq!(exit.status.code(), Some(0));
    // net_null receives bursts of empty frames as fast as it is polled: both ports forwarded.
    assert!(
        stats.port("1.1").unwrap().get("rx_packets") > 0,
        "{stats:?}"
    );
    assert!(
        stats.port("1.2").unwrap().get("tx_packets") > 0,
        "{stats:?}"
    );
    assert!(
        stats.tsc_hz > 0 && stats.forwarding_seconds > 0.0,
        "{stats:?}"
    );
    assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists());
}
