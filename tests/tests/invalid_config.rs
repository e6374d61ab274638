//! Invalid configuration or arguments: exit status 2 and a message that names the file and the
//! field (contract section 1).

use egress_tests::vnf::{run_to_exit, FilePrefix, VnfBuilder, VnfExit};
use std::time::Duration;

/// Writes `config` (a valid bridge config with `edit` applied) and runs the VNF on it.
fn run_with(edit: impl Fn(String) -> String, cli_eal: &[&str]) -> (VnfExit, String) {
    let dir = egress_tests::test_dir("badcfg").unwrap();
    let path = dir.path().join("bad.toml");
    // Dropped at the end, after the VNF exited: removes its DPDK runtime files.
    let prefix = FilePrefix::new();
    let text = VnfBuilder::new()
        .vdev("net_null0")
        .vdev("net_null1")
        .config_text(prefix.as_str(), &dir.path().join("c.sock"));
    std::fs::write(&path, edit(text)).unwrap();
    let mut args = vec!["--config".to_string(), path.to_string_lossy().into_owned()];
    if !cli_eal.is_empty() {
        args.push("--".into());
        args.extend(cli_eal.iter().map(|s| s.to_string()));
    }
    let exit = run_to_exit(&args, dir.path(), Duration::from_secs(60)).unwrap();
    (exit, path.to_string_lossy().into_owned())
}

fn assert_exit_2(exit: &VnfExit, needles: &[&str]) {
    assert_eq!(exit.status.code(), Some(2), "stderr:\n{}", exit.stderr);
    for n in needles {
        assert!(
            exit.stderr.contains(n),
            "stderr does not mention {n:?}:\n{}",
            exit.stderr
        );
    }
}

#[test]
fn unknown_key_is_rejected() {
    let (exit, file) = run_with(
        |t| t.replace("workers = 1", "workers = 1\nbogus_key = 7"),
        &[],
    );
    assert_exit_2(&exit, &[&file, "bogus_key"]);
}

#[test]
fn bad_address_is_rejected() {
    let vlan = "[[vlans]]\nname = \"int\"\ninterfaces = [\"1.1\"]\ninternal = true\nself_v4 = \"10.0.0.300\"\nprefixlen_v4 = 24\n";
    let (exit, file) = run_with(|t| t + vlan, &[]);
    assert_exit_2(&exit, &[&file, "self_v4", "10.0.0.300"]);
}

#[test]
fn vlan_on_a_missing_port_is_rejected() {
    // Ports exist only after EAL probing, which needs root.
    egress_tests::require_root();
    let vlan = "[[vlans]]\nname = \"ext\"\ninterfaces = [\"1.3\"]\ntag = 20\nself_v4 = \"10.0.0.1\"\nprefixlen_v4 = 24\n";
    let (exit, file) = run_with(|t| t + vlan, &[]);
    assert_exit_2(&exit, &[&file, "vlans[0].interfaces", "1.3"]);
}

#[test]
fn bad_eal_argument_is_rejected() {
    egress_tests::require_root();
    let (exit, _file) = run_with(|t| t, &["--bogus-flag"]);
    assert_exit_2(&exit, &["--bogus-flag"]);
}

#[test]
fn missing_config_file_is_rejected() {
    let dir = egress_tests::test_dir("nocfg").unwrap();
    let path = dir.path().join("does-not-exist.toml");
    let args = vec!["--config".to_string(), path.to_string_lossy().into_owned()];
    let exit = run_to_exit(&args, dir.path(), Duration::from_secs(30)).unwrap();
    assert_exit_2(&exit, &[&path.to_string_lossy()]);
}
