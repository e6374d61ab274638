//! `egress-sidecar watch` with a running VNF (config issue, acceptance): editing a CR file
//! re-renders the TOML and the VNF picks the change up through `reload` on its control socket.
//! The VNF runs on `net_null` ports (no traffic: this test is about configuration).

use egress_tests::process::{ChildGuard, Stream};
use egress_tests::vnf::{release_binary, spawn_vnf, FilePrefix};
use egress_tests::{require_root, serial};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

fn show_config(socket: &Path) -> String {
    let out = Command::new(release_binary("egressctl").unwrap())
        .arg("--socket")
        .arg(socket)
        .args(["show", "config"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn editing_a_cr_rerenders_and_the_running_vnf_reloads() {
    require_root();
    let _serial = serial();
    let dir = egress_tests::test_dir("watch").unwrap();
    let crs = dir.path().join("crs");
    std::fs::create_dir(&crs).unwrap();
    let cr = crs.join("egress.yaml");
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/watch/egress.yaml");
    std::fs::copy(&fixture, &cr).unwrap();
    let out = dir.path().join("vnf.toml");
    let socket = dir.path().join("control.sock");
    // Removes the VNF's DPDK runtime files when the test ends, failed or not.
    let prefix = FilePrefix::new();
    let mut eal: Vec<String> = [
        "-l",
        "0-1",
        "--no-huge",
        "-m",
        "512",
        "--no-pci",
        "--file-prefix",
    ]
    .iter()
    .map(|a| format!("--eal={a}"))
    .collect();
    eal.push(format!("--eal={}", prefix.as_str()));

    // First render, then the VNF on it.
    let status = Command::new(release_binary("egress-sidecar").unwrap())
        .args(["render", "--cr-dir"])
        .arg(&crs)
        .args(["--tmm-index", "0"])
        .args(&eal)
        .arg("--out")
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success());
    let args: Vec<String> = vec![
        "--config".into(),
        out.to_string_lossy().into(),
        "--control-socket".into(),
        socket.to_string_lossy().into(),
        "--metrics-listen".into(),
        "off".into(),
        "--".into(),
        "--vdev".into(),
        "net_null0,no-rx=1".into(),
        "--vdev".into(),
        "net_null1,no-rx=1".into(),
    ];
    let mut vnf = spawn_vnf(&args, None, dir.path(), "vnf").unwrap();
    vnf.wait_for_output(
        Stream::Stderr,
        "forwarding started",
        Duration::from_secs(60),
    )
    .unwrap();
    assert!(show_config(&socket).contains("rate_limit = 10"));

    // The watcher, then an edit of the CR.
    let mut cmd = Command::new(release_binary("egress-sidecar").unwrap());
    cmd.args(["watch", "--cr-dir"])
        .arg(&crs)
        .args(["--tmm-index", "0"])
        .args(&eal)
        .arg("--out")
        .arg(&out)
        .arg("--control-socket")
        .arg(&socket);
    let mut watch = ChildGuard::spawn(cmd, dir.path(), "watch").unwrap();
    std::thread::sleep(Duration::from_secs(2));
    let text = std::fs::read_to_string(&cr).unwrap();
    std::fs::write(&cr, text.replace("dnsRateLimit: 10", "dnsRateLimit: 77")).unwrap();

    let deadline = Instant::now() + Duration::from_secs(30);
    let mut shown = String::new();
    while Instant::now() < deadline {
        shown = show_config(&socket);
        if shown.contains("rate_limit = 77") {
            break;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    assert!(
        shown.contains("rate_limit = 77"),
        "the VNF did not pick the edited CR up.\n--- watch stderr ---\n{}\n--- vnf stderr ---\n{}",
        watch.stderr(),
        vnf.stderr()
    );
    assert!(std::fs::read_to_string(&out)
        .unwrap()
        .contains("rate_limit = 77"));
    assert!(vnf.stderr().contains("config reloaded"), "{}", vnf.stderr());
    watch.interrupt(Duration::from_secs(5)).unwrap();
    let status = vnf.interrupt(Duration::from_secs(20)).unwrap();
    assert_eq!(status.code(), Some(0), "{}", vnf.stderr());
}
