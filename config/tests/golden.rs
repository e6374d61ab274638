//! Golden tests: the fixture CRs (the seeds' examples with this project's addresses) render to
//! the committed TOML files, byte for byte, and the result loads back as a valid config.
//! Set `UPDATE_GOLDEN=1` to rewrite the expected files after an intended change.

mod common;

use common::*;
use egress_config::VnfConfig;

const DSSM_ENV: [(&str, &str); 6] = [
    ("SESSIONDB_EXTERNAL_STORAGE", "true"),
    ("SESSIONDB_DISCOVERY_SENTINEL", "true"),
    (
        "SESSIONDB_EXTERNAL_SERVICE",
        "f5-dssm-sentinel.spk-utilities",
    ),
    ("REDIS_CA_FILE", "/etc/ssl/certs/dssm-ca.crt"),
    ("REDIS_AUTH_CERT", "/etc/ssl/certs/dssm-cert.crt"),
    ("REDIS_AUTH_KEY", "/etc/ssl/private/dssm-key.key"),
];

fn golden(case: &str, tmm: u32, extra: &[&str], env: &[(&str, &str)]) -> VnfConfig {
    let crs = fixtures().join(case).join("crs");
    let expected_path = fixtures()
        .join(case)
        .join(format!("expected-tmm{tmm}.toml"));
    let dir = temp_dir(case);
    let out = dir.join("egress.toml");
    let o = render(&crs, tmm, extra, env, &out);
    assert!(
        o.status.success(),
        "render {case} failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let got = std::fs::read_to_string(&out).unwrap();
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&expected_path, &got).unwrap();
    }
    let expected = std::fs::read_to_string(&expected_path)
        .unwrap_or_else(|e| panic!("{}: {e}", expected_path.display()));
    assert_eq!(
        got,
        expected,
        "{case} tmm {tmm} differs from {}",
        expected_path.display()
    );

    // Deterministic: a second render into another file gives the same bytes.
    let out2 = dir.join("again.toml");
    let o = render(&crs, tmm, extra, env, &out2);
    assert!(o.status.success());
    assert_eq!(std::fs::read(&out2).unwrap(), got.as_bytes());

    // The VNF can load it, and it serializes back to the same body.
    let cfg = VnfConfig::load(&out).unwrap_or_else(|e| panic!("{e}"));
    let body = got.split_once('\n').unwrap().1;
    assert_eq!(cfg.to_toml_string(), body);
    cfg
}

#[test]
fn dns46_tmm0() {
    let c = golden("dns46", 0, &[], &[]);
    assert_eq!(c.tmm_index, 0);
    assert_eq!(c.vlans.len(), 2, "the ConfigMap document is ignored");
    assert_eq!(c.vlans[1].self_v4, Some("192.0.2.2".parse().unwrap()));
    assert_eq!(
        c.snat.pool_v4,
        vec!["198.51.100.11".parse::<std::net::Ipv4Addr>().unwrap()]
    );
    // 254 usable, 26 reserved, 228 / 4 = 57 per TMM.
    assert_eq!(c.nat46.slice_first, Some("10.250.1.27".parse().unwrap()));
    assert_eq!(c.nat46.slice_last, Some("10.250.1.83".parse().unwrap()));
    assert_eq!(
        c.nat46_slice(),
        Some((
            "10.250.1.27".parse().unwrap(),
            "10.250.1.83".parse().unwrap()
        ))
    );
    assert_eq!(c.dns.forward_zones.len(), 2);
    assert_eq!(c.dns.rate_limit, 300);
    assert!(c.nat64.enabled && c.nat46.enabled && c.dns.enabled && c.log.debug);
    assert_eq!(c.routes.len(), 2);
}

#[test]
fn dns46_tmm3() {
    let c = golden("dns46", 3, &[], &[]);
    assert_eq!(c.vlans[0].self_v4, Some("10.144.0.5".parse().unwrap()));
    assert_eq!(c.vlans[0].self_v6, Some("fd10:144::5".parse().unwrap()));
    assert_eq!(c.snat.pool_v6.len(), 2);
    assert_eq!(
        c.snat.pool_v6[1],
        "2001:db8:50::8".parse::<std::net::Ipv6Addr>().unwrap()
    );
    assert_eq!(c.nat46.slice_first, Some("10.250.1.198".parse().unwrap()));
    assert_eq!(c.nat46.slice_last, Some("10.250.1.254".parse().unwrap()));
}

#[test]
fn automap_dual_stack() {
    let c = golden("automap", 0, &[], &[]);
    assert!(c.snat.enabled && c.snat.dual_stack);
    assert!(
        c.snat.pool_v4.is_empty() && c.snat.pool_v6.is_empty(),
        "automap"
    );
    assert_eq!(
        c.vlans[1].name, "vlan-external",
        "metadata.name when spec.name is absent"
    );
    assert!(!c.nat46.enabled && !c.dns.enabled && !c.dssm.enabled);
}

#[test]
fn nat46_with_dssm_environment_and_eal() {
    let c = golden(
        "nat46-dssm",
        0,
        &["--eal=-l", "--eal", "0-1", "--eal=--no-huge"],
        &DSSM_ENV,
    );
    assert_eq!(c.eal, vec!["-l", "0-1", "--no-huge"]);
    assert!(c.dssm.enabled && c.dssm.sentinel && c.dssm.tls());
    assert_eq!(c.dssm.service, "f5-dssm-sentinel.spk-utilities:26379");
    assert_eq!(
        c.dssm.host_port(),
        Some(("f5-dssm-sentinel.spk-utilities".into(), 26379))
    );
    assert_eq!(c.dssm.master, "dssm");
    assert_eq!(c.snat.pool_v6.len(), 2);
    assert_eq!(c.dns.forward_zones[0].zone, ".");
    assert_eq!(c.nat46.slice_first, Some("100.64.30.1".parse().unwrap()));
    assert_eq!(c.nat46.slice_last, Some("100.64.30.254".parse().unwrap()));
}

#[test]
fn dssm_plain_redis_default_port_and_master() {
    let dir = temp_dir("plain");
    let out = dir.join("o.toml");
    let o = render(
        &fixtures().join("automap/crs"),
        0,
        &[],
        &[
            ("SESSIONDB_EXTERNAL_STORAGE", "true"),
            ("SESSIONDB_EXTERNAL_SERVICE", "10.9.9.9"),
            ("SESSIONDB_SENTINEL_MASTER", "mymaster"),
            ("EGRESS_DSSM_INSECURE", "true"),
        ],
        &out,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let c = VnfConfig::load(&out).unwrap();
    assert_eq!(c.dssm.service, "10.9.9.9:6379");
    assert_eq!(c.dssm.master, "mymaster");
    assert!(c.dssm.insecure && !c.dssm.tls() && !c.dssm.sentinel);
}

#[test]
fn unchanged_output_is_not_rewritten() {
    let dir = temp_dir("same");
    let out = dir.join("o.toml");
    let crs = fixtures().join("automap/crs");
    assert!(render(&crs, 0, &[], &[], &out).status.success());
    let before = std::fs::metadata(&out).unwrap().modified().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    let o = render(&crs, 0, &[], &[], &out);
    assert!(o.status.success());
    assert_eq!(std::fs::metadata(&out).unwrap().modified().unwrap(), before);
    assert!(String::from_utf8_lossy(&o.stderr).contains("unchanged"));
    // No temporary file is left behind.
    let names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
}
