//! The namespace, veth and hugepage helpers themselves (root): they create what they promise
//! and remove it, and nothing else, on drop.

use egress_tests::hugepages::{free_hugepages, HugepageGuard};
use egress_tests::netns::{netns_exists, ping, NetNs, VethPair};
use egress_tests::{require_root, serial};

#[test]
fn namespaces_and_veths_are_created_and_removed() {
    require_root();
    let _s = serial();
    let (a_name, b_name);
    {
        let a = NetNs::new("ha").unwrap();
        let b = NetNs::new("hb").unwrap();
        a_name = a.name().to_string();
        b_name = b.name().to_string();
        assert!(netns_exists(&a_name) && netns_exists(&b_name));
        let link = VethPair::new(&a, &b).unwrap();
        assert!(link.a.len() <= 15 && link.b.len() <= 15);
        assert!(a.has_link(&link.a) && b.has_link(&link.b));
        // TX checksum offload is off on both ends.
        let features = a.run("ethtool", &["-k", &link.a]).unwrap();
        assert!(features.contains("tx-checksumming: off"), "{features}");
        // The two namespaces talk over the veth.
        a.ip(&["addr", "add", "10.78.0.1/24", "dev", &link.a])
            .unwrap();
        b.ip(&["addr", "add", "10.78.0.2/24", "dev", &link.b])
            .unwrap();
        let r = ping(&a, "10.78.0.2", 2).unwrap();
        assert_eq!((r.transmitted, r.received), (2, 2), "{}", r.output);
        // Dropping the link removes both ends.
        let (la, lb) = (link.a.clone(), link.b.clone());
        drop(link);
        assert!(!a.has_link(&la) && !b.has_link(&lb));
        // No test interface appeared in the host namespace.
        let host = egress_tests::cmd::run("ip", &["-o", "link"]).unwrap();
        assert!(!host.contains(&la) && !host.contains(&lb));
    }
    assert!(!netns_exists(&a_name) && !netns_exists(&b_name));
}

#[test]
fn hugepage_guard_restores_the_previous_setting() {
    require_root();
    let _s = serial();
    let path = "/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages";
    let before = std::fs::read_to_string(path).unwrap();
    {
        let g = HugepageGuard::reserve(16).unwrap();
        assert_eq!(g.previous().to_string(), before.trim());
        assert!(free_hugepages().unwrap() >= 16);
        assert!(!egress_tests::hugepages::hugetlbfs_mounts().is_empty());
    }
    assert_eq!(std::fs::read_to_string(path).unwrap(), before);
}
