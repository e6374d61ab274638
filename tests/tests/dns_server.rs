//! The upstream DNS server helper: a real `knotd` in a namespace answers `dig` for the A-only,
//! AAAA-only and dual-stack names, and is gone (process and namespace) after the test.

use egress_tests::dns_server::{dig, dig_status, test_zone, AuthDns, TestNames};
use egress_tests::netns::{netns_exists, NetNs};
use egress_tests::{require_root, serial, test_dir};
use std::net::IpAddr;

#[test]
fn knot_in_a_namespace_serves_the_test_zone() {
    require_root();
    let _s = serial();
    let dir = test_dir("knot").unwrap();
    let ns = NetNs::new("dns").unwrap();
    ns.ip(&["addr", "add", "192.0.2.53/32", "dev", "lo"])
        .unwrap();
    ns.ip(&["addr", "add", "2001:db8:53::53/128", "dev", "lo", "nodad"])
        .unwrap();
    let listen: Vec<IpAddr> = vec![
        "192.0.2.53".parse().unwrap(),
        "2001:db8:53::53".parse().unwrap(),
    ];
    let names = TestNames::default();
    let zone = test_zone("egress.test.", &names);
    let server = AuthDns::start(&ns, dir.path(), &listen, &zone).unwrap();
    let pid = server.pid();

    for at in ["192.0.2.53", "2001:db8:53::53"] {
        assert_eq!(
            dig(&ns, at, "v4only.egress.test.", "A").unwrap().trim(),
            names.v4only.to_string()
        );
        assert_eq!(
            dig(&ns, at, "v4only.egress.test.", "AAAA").unwrap().trim(),
            ""
        );
        assert_eq!(
            dig(&ns, at, "v6only.egress.test.", "AAAA").unwrap().trim(),
            names.v6only.to_string()
        );
        assert_eq!(dig(&ns, at, "v6only.egress.test.", "A").unwrap().trim(), "");
        assert_eq!(
            dig(&ns, at, "dual.egress.test.", "A").unwrap().trim(),
            names.dual_v4.to_string()
        );
        assert_eq!(
            dig(&ns, at, "dual.egress.test.", "AAAA").unwrap().trim(),
            names.dual_v6.to_string()
        );
        let alias = dig(&ns, at, "alias.egress.test.", "AAAA").unwrap();
        assert!(
            alias.contains("v6only.egress.test.") && alias.contains(&names.v6only.to_string()),
            "{alias}"
        );
        assert_eq!(
            dig_status(&ns, at, "missing.egress.test.", "A").unwrap(),
            "NXDOMAIN"
        );
        assert_eq!(
            dig_status(&ns, at, "v6only.egress.test.", "A").unwrap(),
            "NOERROR"
        );
    }

    server.stop().unwrap();
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "knotd is gone"
    );
    let name = ns.name().to_string();
    drop(ns);
    assert!(!netns_exists(&name));
}
