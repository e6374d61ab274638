//! The PMDs the project relies on are found at run time with Debian's shared DPDK build: EAL
//! loads every driver of its built-in plugin directory at `rte_eal_init` (no `-d` needed).
//! Virtual devices are probed and named 1.1, 1.2, ... in order; the PCI drivers for SR-IOV VFs
//! (iavf, mlx5, i40e, ixgbe) cannot be probed without hardware, so the test checks that EAL
//! loaded them (its debug log names every shared object it opens).

use egress_tests::vnf::VnfBuilder;

#[test]
fn virtual_and_pci_pmds_are_loaded_and_vdevs_probe_in_order() {
    egress_tests::require_root();
    let _serial = egress_tests::serial();
    let dir = egress_tests::test_dir("pmds").unwrap();
    let rx = dir.path().join("empty.pcap");
    egress_tests::pcap::write_frames(&rx, &[]).unwrap();
    let pcap = format!(
        "net_pcap0,rx_pcap={},tx_pcap={}",
        rx.display(),
        dir.path().join("out.pcap").display()
    );
    let vnf = VnfBuilder::new()
        .label("pmds")
        .vdev("net_null0")
        .vdev("net_ring0")
        .vdev(&pcap)
        .vdev("net_null1")
        .eal_arg("--log-level")
        .eal_arg("lib.eal:debug")
        .start()
        .unwrap();
    let info = egress_tests::cmd::run(
        egress_tests::vnf::release_binary("egressctl")
            .unwrap()
            .to_str()
            .unwrap(),
        &[
            "--socket",
            vnf.control_socket().to_str().unwrap(),
            "show",
            "port",
            "info",
            "all",
        ],
    )
    .unwrap();
    let stderr = vnf.stderr();
    let (_exit, stats) = vnf.stop().unwrap();
    // Text table: header, then `port device driver ...` per row (other lines, such as the
    // packet pool's, do not start with a port name).
    let names: Vec<(&str, &str)> = info
        .lines()
        .skip(1)
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            Some((w.next()?, w.next()?))
        })
        .filter(|(port, _)| port.starts_with("1."))
        .collect();
    assert_eq!(
        names,
        vec![
            ("1.1", "net_null0"),
            ("1.2", "net_ring0"),
            ("1.3", "net_pcap0"),
            ("1.4", "net_null1")
        ],
        "ports are named 1.N in probe order"
    );
    for pmd in [
        "net_af_packet",
        "net_tap",
        "net_pcap",
        "net_null",
        "net_ring",
        "net_iavf",
        "net_mlx5",
        "net_i40e",
        "net_ixgbe",
    ] {
        let lib = format!("librte_{pmd}.so");
        assert!(
            stderr
                .lines()
                .any(|l| l.contains("open shared lib") && l.contains(&lib)),
            "EAL did not load {lib}; stderr:\n{}",
            stderr
                .lines()
                .filter(|l| l.contains("shared lib"))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
    assert!(!stats.ports.is_empty());
}
