//! Invalid inputs: each case breaks one thing in a copy of the `dns46` fixture and checks that
//! the real `egress-sidecar render` exits with status 2, names the file, the CR and the field,
//! and leaves the output file untouched (or does not create it).

mod common;

use common::*;
use std::path::{Path, PathBuf};

struct Case {
    dir: PathBuf,
    crs: PathBuf,
}

impl Case {
    fn new(tag: &str) -> Case {
        let dir = temp_dir(tag);
        let crs = dir.join("crs");
        copy_dir(&fixtures().join("dns46/crs"), &crs);
        Case { dir, crs }
    }
    fn file(&self, name: &str) -> PathBuf {
        self.crs.join(name)
    }
    fn edit(&self, file: &str, from: &str, to: &str) -> &Self {
        edit(&self.file(file), from, to);
        self
    }
    fn write(&self, file: &str, text: &str) -> &Self {
        std::fs::write(self.file(file), text).unwrap();
        self
    }

    /// Renders with `tmm` and `env` and checks exit 2, the message parts and that the output
    /// file, present before with other content, is unchanged; then again without an output
    /// file, which must not appear.
    fn expect_invalid(
        &self,
        tmm: u32,
        env: &[(&str, &str)],
        field: &str,
        parts: &[&str],
    ) -> String {
        let out = self.dir.join("egress.toml");
        let previous = "# the last good config\neal = []\n";
        std::fs::write(&out, previous).unwrap();
        let o = render(&self.crs, tmm, &[], env, &out);
        let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
        assert_eq!(
            o.status.code(),
            Some(2),
            "expected exit 2, got {:?}: {stderr}",
            o.status
        );
        assert!(
            stderr.contains(&format!("`{field}`")) || stderr.contains(field),
            "field {field} not named in: {stderr}"
        );
        for p in parts {
            assert!(stderr.contains(p), "{p:?} not in: {stderr}");
        }
        assert_eq!(
            std::fs::read_to_string(&out).unwrap(),
            previous,
            "output replaced"
        );
        std::fs::remove_file(&out).unwrap();
        let o = render(&self.crs, tmm, &[], env, &out);
        assert_eq!(o.status.code(), Some(2));
        assert!(!out.exists(), "output written for invalid CRs");
        let leftovers: Vec<_> = std::fs::read_dir(&self.dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n != "crs")
            .collect();
        assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
        stderr
    }
}

const VLANS: &str = "00-vlans.yaml";
const EGRESS: &str = "30-egress.yml";
const SNAT: &str = "20-snatpool.yaml";
const CACHE: &str = "10-dnscache.yaml";
const ROUTES: &str = "40-routes.yaml";
const VLAN_INT: &str = "F5SPKVlan spk-ingress/vlan-internal";
const VLAN_EXT: &str = "F5SPKVlan spk-ingress/vlan-external";
const EGRESS_CR: &str = "F5SPKEgress spk-ingress/spk-egress-crd";
const SNAT_CR: &str = "F5SPKSnatpool spk-ingress/spk-dns-snat";

fn base_is_valid() {
    let c = Case::new("base");
    let out = c.dir.join("ok.toml");
    let o = render(&c.crs, 0, &[], &[], &out);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn the_base_fixture_renders() {
    base_is_valid();
}

#[test]
fn interface_not_a_port_name() {
    Case::new("iface")
        .edit(VLANS, "- \"1.1\"", "- \"eth0\"")
        .expect_invalid(0, &[], "spec.interfaces[0]", &[VLANS, VLAN_INT, "eth0"]);
}

#[test]
fn interface_port_zero() {
    Case::new("iface0")
        .edit(VLANS, "- \"1.2\"", "- \"1.0\"")
        .expect_invalid(0, &[], "spec.interfaces[0]", &[VLANS, VLAN_EXT, "1.0"]);
}

#[test]
fn self_ip_not_an_address() {
    Case::new("selfip")
        .edit(VLANS, "- 10.144.0.3", "- 10.144.0.300")
        .expect_invalid(
            0,
            &[],
            "spec.selfip_v4s[1]",
            &[VLAN_INT, "10.144.0.300", "not an IPv4 address"],
        );
}

#[test]
fn prefix_length_out_of_range() {
    Case::new("plen")
        .edit(VLANS, "prefixlen_v6: 64", "prefixlen_v6: 129")
        .expect_invalid(0, &[], "spec.prefixlen_v6", &[VLAN_INT, "129"]);
}

#[test]
fn self_ip_list_shorter_than_max_tmm_replicas() {
    Case::new("fewselfips")
        .edit(
            VLANS,
            "[192.0.2.2, 192.0.2.3, 192.0.2.4, 192.0.2.5]",
            "[192.0.2.2, 192.0.2.3]",
        )
        .expect_invalid(
            0,
            &[],
            "spec.selfip_v4s",
            &[VLAN_EXT, "maxTmmReplicas is 4"],
        );
}

#[test]
fn snat_address_lists_shorter_than_max_tmm_replicas() {
    Case::new("fewsnat")
        .write(
            SNAT,
            "apiVersion: k8s.f5net.com/v1\nkind: F5SPKSnatpool\nmetadata: {name: spk-dns-snat, namespace: spk-ingress}\nspec:\n  name: egress_snatpool\n  addressList:\n    - [198.51.100.11]\n    - [198.51.100.12]\n    - [198.51.100.13]\n",
        )
        .expect_invalid(0, &[], "spec.addressList", &[SNAT, SNAT_CR, "3 address list(s)"]);
}

#[test]
fn tmm_index_not_below_max_tmm_replicas() {
    Case::new("tmmindex").expect_invalid(
        4,
        &[],
        "--tmm-index",
        &["maxTmmReplicas", EGRESS_CR, EGRESS],
    );
}

#[test]
fn reserved_static_ips_do_not_fit_the_subnet() {
    Case::new("reserved")
        .edit(
            EGRESS,
            "maxReservedStaticIps: 26",
            "maxReservedStaticIps: 300",
        )
        .expect_invalid(
            0,
            &[],
            "spec.maxReservedStaticIps",
            &[EGRESS, EGRESS_CR, "254 usable"],
        );
}

#[test]
fn nat46_subnet_leaves_a_replica_without_addresses() {
    Case::new("slice")
        .edit(
            EGRESS,
            "maxReservedStaticIps: 26",
            "maxReservedStaticIps: 252",
        )
        .expect_invalid(
            0,
            &[],
            "spec.maxTmmReplicas",
            &[EGRESS_CR, "2 unreserved addresses"],
        );
}

#[test]
fn nat46_subnet_is_not_a_cidr() {
    Case::new("cidr")
        .edit(EGRESS, "10.250.1.0/24", "10.250.1.0/33")
        .expect_invalid(
            0,
            &[],
            "spec.dnsNat46Ipv4Subnet",
            &[EGRESS_CR, "10.250.1.0/33"],
        );
}

#[test]
fn nat46_subnet_overlaps_a_vlan_subnet() {
    Case::new("overlapvlan")
        .edit(EGRESS, "10.250.1.0/24", "10.144.200.0/24")
        .expect_invalid(
            0,
            &[],
            "spec.dnsNat46Ipv4Subnet",
            &[EGRESS_CR, "overlaps the subnet 10.144.0.0/16", VLAN_INT],
        );
}

#[test]
fn nat46_subnet_contains_a_self_ip() {
    Case::new("overlapself")
        .edit(EGRESS, "10.250.1.0/24", "192.0.2.0/26")
        .expect_invalid(
            0,
            &[],
            "spec.dnsNat46Ipv4Subnet",
            &[EGRESS_CR, "self IP 192.0.2.2"],
        );
}

#[test]
fn nat46_subnet_contains_a_snat_address() {
    Case::new("overlapsnat")
        .edit(EGRESS, "10.250.1.0/24", "198.51.100.0/24")
        .expect_invalid(
            0,
            &[],
            "spec.dnsNat46Ipv4Subnet",
            &[EGRESS_CR, "SNAT address 198.51.100.11"],
        );
}

#[test]
fn snat_address_shared_by_two_replicas() {
    Case::new("snatshare")
        .edit(SNAT, "- 198.51.100.12", "- 198.51.100.11")
        .expect_invalid(
            0,
            &[],
            "spec.addressList[1][0]",
            &[SNAT, SNAT_CR, "TMM replica 0"],
        );
}

#[test]
fn snat_address_not_an_address() {
    Case::new("snataddr")
        .edit(SNAT, "\"2001:db8:50::4\"", "\"2001:db8:50::4::\"")
        .expect_invalid(
            0,
            &[],
            "spec.addressList[1][2]",
            &[SNAT_CR, "not an IP address"],
        );
}

#[test]
fn egress_snatpool_names_no_pool() {
    Case::new("nopool")
        .edit(
            EGRESS,
            "egressSnatpool: egress_snatpool",
            "egressSnatpool: other_pool",
        )
        .expect_invalid(
            0,
            &[],
            "spec.egressSnatpool",
            &[EGRESS_CR, "other_pool", "known: egress_snatpool"],
        );
}

#[test]
fn dns_cache_name_names_no_cache() {
    Case::new("nocache")
        .edit(
            EGRESS,
            "dnsCacheName: \"dnscache-cr\"",
            "dnsCacheName: \"spk-ingress-cache\"",
        )
        .expect_invalid(
            0,
            &[],
            "spec.dnsCacheName",
            &[EGRESS_CR, "spk-ingress-cache", "spk-ingress-dnscache-cr"],
        );
}

#[test]
fn name_server_not_among_pool_ips() {
    Case::new("nspool")
        .edit(
            CACHE,
            "- ipAddress: 192.0.2.53\n            port: 53",
            "- ipAddress: 192.0.2.54\n            port: 53",
        )
        .expect_invalid(
            0,
            &[],
            "spec.netResolver.forwardZones[0].nameServers[0].ipAddress",
            &[
                CACHE,
                "F5SPKDnscache spk-ingress/dnscache-cr",
                "192.0.2.54 is not one of dnsNat46PoolIps",
            ],
        );
}

#[test]
fn vlan_tag_used_twice_on_a_port() {
    Case::new("tagdup")
        .edit(VLANS, "- \"1.2\"\n  tag: 200", "- \"1.1\"\n  tag: 0")
        .expect_invalid(
            0,
            &[],
            "spec.tag",
            &[VLAN_EXT, "untagged on port 1.1", VLAN_INT],
        );
}

#[test]
fn vlan_tag_out_of_range() {
    Case::new("tagrange")
        .edit(VLANS, "tag: 200", "tag: 4095")
        .expect_invalid(0, &[], "spec.tag", &[VLAN_EXT, "4095"]);
}

#[test]
fn wrong_type_is_reported_with_its_path() {
    Case::new("type")
        .edit(EGRESS, "maxTmmReplicas: 4", "maxTmmReplicas: four")
        .expect_invalid(
            0,
            &[],
            "spec.maxTmmReplicas",
            &[EGRESS, EGRESS_CR, "invalid type"],
        );
}

#[test]
fn route_gateway_of_the_other_family() {
    Case::new("route")
        .edit(ROUTES, "gateway: 192.0.2.1", "gateway: \"2001:db8:200::1\"")
        .expect_invalid(
            0,
            &[],
            "spec.gateway",
            &[ROUTES, "F5SPKStaticRoute spk-ingress/default-v4"],
        );
}

#[test]
fn route_missing_destination() {
    Case::new("routedest")
        .edit(ROUTES, "  destination: 0.0.0.0\n", "")
        .expect_invalid(0, &[], "spec.destination", &[ROUTES, "missing field"]);
}

#[test]
fn vlan_list_names_no_vlan() {
    Case::new("vlanlist")
        .edit(EGRESS, "    - internal\n", "    - inside\n")
        .expect_invalid(0, &[], "spec.vlanList[0]", &[EGRESS_CR, "inside"]);
}

#[test]
fn two_egress_resources() {
    let c = Case::new("twoegress");
    let text = std::fs::read_to_string(c.file(EGRESS))
        .unwrap()
        .replace("name: spk-egress-crd", "name: second");
    c.write("50-second.yaml", &text).expect_invalid(
        0,
        &[],
        "metadata.name",
        &[
            "50-second.yaml",
            "F5SPKEgress spk-ingress/second",
            "only one F5SPKEgress",
        ],
    );
}

#[test]
fn yaml_syntax_error_names_file_and_line() {
    let s = Case::new("yaml")
        .write(
            "60-broken.yaml",
            "apiVersion: k8s.f5net.com/v1\nkind: F5SPKVlan\nmetadata:\n  name: [oops\n",
        )
        .expect_invalid(0, &[], "60-broken.yaml", &["invalid YAML"]);
    assert!(s.contains("60-broken.yaml:"), "{s}");
}

#[test]
fn dssm_without_tls_needs_insecure() {
    Case::new("dssm").expect_invalid(
        0,
        &[
            ("SESSIONDB_EXTERNAL_STORAGE", "true"),
            ("SESSIONDB_EXTERNAL_SERVICE", "dssm.example:6379"),
        ],
        "REDIS_CA_FILE",
        &["EGRESS_DSSM_INSECURE"],
    );
}

#[test]
fn dssm_flag_not_a_boolean() {
    Case::new("dssmflag").expect_invalid(
        0,
        &[("SESSIONDB_EXTERNAL_STORAGE", "maybe")],
        "SESSIONDB_EXTERNAL_STORAGE",
        &["maybe"],
    );
}

#[test]
fn missing_cr_directory() {
    let c = Case::new("nodir");
    std::fs::remove_dir_all(&c.crs).unwrap();
    let s = c.expect_invalid(0, &[], "crs", &["cannot read"]);
    assert!(s.contains(Path::new("crs").to_str().unwrap()));
}
