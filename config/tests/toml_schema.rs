//! The TOML schema: defaults, the examples of docs/config.md, every key documented there, and
//! validation errors that name the line or the field.

use egress_config::*;
use std::path::Path;

fn docs() -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/config.md");
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn parse(text: &str) -> Result<VnfConfig, ConfigError> {
    VnfConfig::from_toml_str(text, Path::new("test.toml"))
}

fn invalid(text: &str, field: &str) -> String {
    match parse(text) {
        Err(e @ ConfigError::Invalid { .. }) => {
            assert_eq!(e.field(), Some(field), "{e}");
            let msg = e.to_string();
            assert!(msg.starts_with("test.toml: field `"), "{msg}");
            msg
        }
        other => panic!("expected an invalid `{field}`, got {other:?}"),
    }
}

#[test]
fn minimal_file_and_defaults() {
    let c = parse("eal = [\"-l\", \"0-1\"]\n[dataplane]\nmode = \"bridge\"\n").unwrap();
    assert_eq!(c.dataplane.mode, Mode::Bridge);
    assert!(c.snat.enabled && c.snat.pool_v4.is_empty());
    assert_eq!((c.snat.port_min, c.snat.port_max), (1024, 65535));
    assert_eq!(c.snat.sessions_per_worker, 1_048_576);
    let t = &c.snat.timeouts;
    assert_eq!(
        (
            t.udp,
            t.tcp_established,
            t.tcp_transitory,
            t.icmp,
            t.port_reuse_delay
        ),
        (300, 7440, 240, 60, 120)
    );
    assert_eq!(c.nat46.max_dns46_ttl, 120);
    assert_eq!(c.nat64.prefix.to_string(), "64:ff9b::/96");
    assert_eq!(c.dns.cache_entries, 65536);
    assert_eq!(c.dssm.master, "dssm");
    assert_eq!(c.dssm.wait_replicas, 1);
    assert_eq!(c.log.level, LogLevel::Info);
    assert_eq!(c.nat46_slice(), None);
}

#[test]
fn docs_examples_parse() {
    let d = docs();
    let mut n = 0;
    for block in d.split("```toml\n").skip(1) {
        let text = block.split("```").next().unwrap();
        parse(text).unwrap_or_else(|e| panic!("docs example does not load: {e}\n{text}"));
        n += 1;
    }
    assert!(n >= 3, "{n} toml examples");
    let full = d
        .split("## A complete hand-written example")
        .nth(1)
        .unwrap();
    let text = full
        .split("```toml\n")
        .nth(1)
        .unwrap()
        .split("```")
        .next()
        .unwrap();
    let c = parse(text).unwrap();
    assert_eq!(
        c.nat46_slice(),
        Some((
            "10.250.1.27".parse().unwrap(),
            "10.250.1.83".parse().unwrap()
        ))
    );
    assert_eq!(c.dssm.host_port(), Some(("127.0.0.1".into(), 26379)));
}

fn leaf_keys(prefix: &str, v: &toml::Value, out: &mut Vec<String>) {
    match v {
        toml::Value::Table(t) => {
            for (k, v) in t {
                out.push(k.clone());
                leaf_keys(&format!("{prefix}{k}."), v, out);
            }
        }
        toml::Value::Array(a) => {
            for v in a {
                leaf_keys(prefix, v, out);
            }
        }
        _ => {}
    }
}

#[test]
fn every_key_is_documented() {
    let d = docs();
    let full = d
        .split("## A complete hand-written example")
        .nth(1)
        .unwrap();
    let text = full
        .split("```toml\n")
        .nth(1)
        .unwrap()
        .split("```")
        .next()
        .unwrap();
    let mut c = parse(text).unwrap();
    // Fill every optional key so that it appears in the serialized form.
    c.nat46.slice_first = Some("10.250.1.27".parse().unwrap());
    c.nat46.slice_last = Some("10.250.1.83".parse().unwrap());
    c.nat46.sorry_ip = Some("10.250.1.1".parse().unwrap());
    c.dssm.ca_file = Some("ca".into());
    c.dssm.cert_file = Some("c".into());
    c.dssm.key_file = Some("k".into());
    let v: toml::Value = toml::from_str(&c.to_toml_string()).unwrap();
    let mut keys = Vec::new();
    leaf_keys("", &v, &mut keys);
    keys.sort();
    keys.dedup();
    assert!(keys.len() > 80, "{} keys", keys.len());
    for k in keys {
        let documented = [
            format!("`{k}`"),
            format!("[{k}]"),
            format!("[[{k}]]"),
            format!(".{k}]"),
        ]
        .iter()
        .any(|f| d.contains(f.as_str()));
        assert!(documented, "key `{k}` is not documented in docs/config.md");
    }
}

#[test]
fn syntax_and_type_errors_have_a_line() {
    let e = parse("eal = []\n\n[snat]\nport_min = \"low\"\n").unwrap_err();
    match &e {
        ConfigError::Parse { line, .. } => assert_eq!(*line, 4, "{e}"),
        other => panic!("{other:?}"),
    }
    assert!(e.to_string().starts_with("test.toml:4:"), "{e}");
    let e = parse("[dns]\nenabled = true\ncache_entrys = 5\n").unwrap_err();
    assert!(matches!(e, ConfigError::Parse { line: 3, .. }), "{e}");
    assert!(e.to_string().contains("cache_entrys"), "{e}");
}

const VLANS: &str = r#"
[[vlans]]
name = "internal"
interfaces = ["1.1"]
internal = true
self_v4 = "10.144.0.2"
prefixlen_v4 = 16

[[vlans]]
name = "external"
interfaces = ["1.2"]
tag = 200
self_v4 = "192.0.2.2"
prefixlen_v4 = 24
"#;

#[test]
fn invalid_values_name_their_field() {
    invalid("[nat46]\nenabled = true\n", "nat46.ipv4_subnet");
    invalid(
        "[nat46]\nenabled = true\nipv4_subnet = \"10.9.0.0/24\"\nmax_reserved_static_ips = 300\n",
        "nat46.max_reserved_static_ips",
    );
    invalid("tmm_index = 4\n[nat46]\nenabled = true\nipv4_subnet = \"10.9.0.0/24\"\nmax_tmm_replicas = 4\n", "tmm_index");
    let m = invalid(
        &format!("{VLANS}\n[nat46]\nenabled = true\nipv4_subnet = \"10.144.9.0/24\"\n"),
        "nat46.ipv4_subnet",
    );
    assert!(m.contains("internal"), "{m}");
    invalid("[snat]\npool_v4 = [\"10.9.0.7\"]\n[nat46]\nenabled = true\nipv4_subnet = \"10.9.0.0/24\"\n", "nat46.ipv4_subnet");
    invalid("[nat46]\nenabled = true\nipv4_subnet = \"10.9.0.0/24\"\nmax_reserved_static_ips = 2\nstatic_mappings = [{ ipv4 = \"10.9.0.3\", ipv6 = \"2001:db8::1\" }]\n", "nat46.static_mappings[0].ipv4");
    invalid("[nat46]\nenabled = true\nipv4_subnet = \"10.9.0.0/24\"\nslice_first = \"10.9.1.1\"\nslice_last = \"10.9.0.9\"\n", "nat46.slice_first");
    invalid(
        "[dssm]\nenabled = true\nservice = \"redis:6379\"\n",
        "dssm.insecure",
    );
    invalid("[dssm]\nenabled = true\n", "dssm.service");
    invalid(
        "[dssm]\ncert_file = \"c\"\nkey_file = \"k\"\n",
        "dssm.ca_file",
    );
    invalid("[nat64]\nprefix = \"64:ff9b::/97\"\n", "nat64.prefix");
    invalid(
        "[siit]\neamt = [{ ipv4_prefix = \"192.0.2.0/24\", ipv6_prefix = \"2001:db8::/64\" }]\n",
        "siit.eamt[0].ipv6_prefix",
    );
    invalid("[siit]\nenabled = true\n", "siit.pool6");
    invalid("[dns]\npool_ips = [\"192.0.2.53\"]\n[[dns.forward_zones]]\nzone = \".\"\nservers = [\"192.0.2.54:53\"]\n", "dns.forward_zones[0].servers[0]");
    invalid("[dns]\nenabled = true\n", "dns.forward_zones");
    invalid(
        "[[dns.forward_zones]]\nzone = \"bad..zone\"\nservers = [\"192.0.2.54:53\"]\n",
        "dns.forward_zones[0].zone",
    );
    invalid(
        &VLANS
            .replace("tag = 200", "tag = 0")
            .replace("[\"1.2\"]", "[\"1.1\"]"),
        "vlans[1].tag",
    );
    invalid(
        &VLANS.replace("\"external\"", "\"internal\""),
        "vlans[1].name",
    );
    invalid(
        &VLANS.replace("[\"1.2\"]", "[\"eth1\"]"),
        "vlans[1].interfaces",
    );
    invalid(
        "[[routes]]\ndestination = \"0.0.0.0\"\nprefix_len = 0\ngateway = \"2001:db8::1\"\n",
        "routes[0].gateway",
    );
    invalid(
        "[[routes]]\ndestination = \"10.0.0.1\"\nprefix_len = 8\ngateway = \"10.0.0.254\"\n",
        "routes[0].destination",
    );
    invalid(
        "[snat]\nport_min = 5000\nport_max = 4000\n",
        "snat.port_min",
    );
    invalid(
        "[snat]\npool_v4 = [\"198.51.100.1\", \"198.51.100.1\"]\n",
        "snat.pool_v4[1]",
    );
    invalid(
        &format!("{VLANS}\n[snat]\nvlan_list = [\"inside\"]\n"),
        "snat.vlan_list[0]",
    );
    invalid("[snat.timeouts]\nudp = 0\n", "snat.timeouts.udp");
}

#[test]
fn serialization_round_trips() {
    let d = docs();
    let full = d
        .split("## A complete hand-written example")
        .nth(1)
        .unwrap();
    let text = full
        .split("```toml\n")
        .nth(1)
        .unwrap()
        .split("```")
        .next()
        .unwrap();
    let c = parse(text).unwrap();
    let again = parse(&c.to_toml_string()).unwrap();
    assert_eq!(again, c);
    assert_eq!(again.to_toml_string(), c.to_toml_string());
}

#[test]
fn vlan_list_semantics() {
    let mut s = Snat::default();
    assert!(s.applies_to_vlan("a"));
    s.vlan_list = vec!["a".into()];
    assert!(s.applies_to_vlan("a") && !s.applies_to_vlan("b"));
    s.disable_listed_vlans = true;
    assert!(!s.applies_to_vlan("a") && s.applies_to_vlan("b"));
}

#[test]
fn host_port_forms() {
    assert_eq!(split_host_port("h"), Some(("h".into(), None)));
    assert_eq!(
        split_host_port("h.ns:26379"),
        Some(("h.ns".into(), Some(26379)))
    );
    assert_eq!(
        split_host_port("[2001:db8::1]:6379"),
        Some(("2001:db8::1".into(), Some(6379)))
    );
    assert_eq!(
        split_host_port("2001:db8::1"),
        Some(("2001:db8::1".into(), None))
    );
    assert_eq!(split_host_port("h:port"), None);
    assert_eq!(split_host_port(""), None);
}
