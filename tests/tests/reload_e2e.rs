//! Live reload (config issue, item 4): a long-running flow through the VNF keeps working across a
//! reload that changes the DNS rate limit and adds a forward zone; a reload that needs a restart
//! is refused with the section named, and the config in force stays the old one.
//!
//! ```text
//!  [pod 10.1.0.1] ==veth== [dut: VNF 1.1 | VNF 1.2, SNAT automap 192.0.2.254] ==veth== [ext 192.0.2.1]
//! ```

#[path = "net/topology.rs"]
mod topology;

use egress_tests::process::ChildGuard;
use egress_tests::vnf::{release_binary, VnfBuilder};
use egress_tests::{require_root, serial};
use std::time::Duration;
use topology::*;

fn features(rate_limit: u32, extra_zone: bool, workers_line: &str) -> String {
    let zone = if extra_zone {
        "\n[[dns.forward_zones]]\nzone = \"example.\"\nservers = [\"192.0.2.1:53\"]\n"
    } else {
        ""
    };
    format!(
        "\n[snat]\nenabled = true\n\n[dns]\nenabled = true\nrate_limit = {rate_limit}\n\n[[dns.forward_zones]]\nzone = \".\"\nservers = [\"192.0.2.1:53\"]\n{zone}{workers_line}"
    )
}

/// `egressctl reload`: (exit success, stdout + stderr).
fn reload(vnf: &egress_tests::vnf::Vnf) -> (bool, String) {
    let out = std::process::Command::new(release_binary("egressctl").unwrap())
        .arg("--socket")
        .arg(vnf.control_socket())
        .arg("reload")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn a_flow_survives_a_live_reload_and_a_refused_reload_changes_nothing() {
    require_root();
    let _serial = serial();
    let topo = NetTopology::new(None);
    let vnf = VnfBuilder::new()
        .label("reload")
        .mode("egress")
        .netns(&topo.dut)
        .eal_args(topo.vdevs())
        .extra_toml(&format!("{}{}", topo.vlans_toml(), features(10, false, "")))
        .start()
        .unwrap();
    let config = vnf.config_path().to_path_buf();
    let original = std::fs::read_to_string(&config).unwrap();

    // Warm up the path (neighbours on both sides), then a flow of 40 pings over 8 s.
    let warm = egress_tests::netns::ping(&topo.pod, EXT_V4, 2).unwrap();
    assert!(warm.received >= 1, "no path through the SNAT: {warm:?}");
    let dir = egress_tests::test_dir("reload-ping").unwrap();
    let mut cmd = topo.pod.command("ping");
    cmd.args(["-n", "-i", "0.2", "-c", "40", "-W", "1", EXT_V4]);
    let mut flow = ChildGuard::spawn(cmd, dir.path(), "ping").unwrap();
    std::thread::sleep(Duration::from_secs(2));

    // A live reload: new rate limit, one more forward zone.
    let live = original.replace(&features(10, false, ""), &features(50, true, ""));
    assert_ne!(live, original);
    std::fs::write(&config, &live).unwrap();
    let (ok, text) = reload(&vnf);
    assert!(ok, "live reload failed: {text}");
    assert!(text.contains("reloaded: dns"), "{text}");
    let shown = egressctl(&vnf, &["show", "config"]);
    assert!(shown.contains("rate_limit = 50"), "{shown}");
    assert!(shown.contains("example."), "{shown}");
    std::thread::sleep(Duration::from_secs(1));

    // A reload that needs a restart: refused, the config in force is the previous one.
    let refused = live.replace("workers = 1", "workers = 2");
    assert_ne!(refused, live);
    std::fs::write(&config, &refused).unwrap();
    let (ok, text) = reload(&vnf);
    assert!(
        !ok,
        "a change of dataplane.workers was accepted live: {text}"
    );
    assert!(
        text.contains("dataplane") && text.contains("restart"),
        "{text}"
    );
    let shown = egressctl(&vnf, &["show", "config"]);
    assert!(
        shown.contains("rate_limit = 50") && shown.contains("workers = 1"),
        "{shown}"
    );

    // An invalid file: refused with the field named, nothing changes.
    std::fs::write(
        &config,
        live.replace("rate_limit = 50", "rate_limit = \"fast\""),
    )
    .unwrap();
    let (ok, text) = reload(&vnf);
    assert!(!ok && text.contains("rate_limit"), "{text}");

    // The flow never stopped.
    let status = flow.wait_timeout(Duration::from_secs(30)).unwrap();
    assert!(status.is_some(), "ping did not finish");
    let out = flow.stdout();
    assert!(
        out.contains("40 packets transmitted, 40 received"),
        "the flow lost packets across the reloads:\n{out}"
    );
    let (exit, _) = vnf.stop().unwrap();
    assert_eq!(exit.status.code(), Some(0), "{}", exit.stderr);
    assert!(exit.stderr.contains("config reloaded"), "{}", exit.stderr);
}
