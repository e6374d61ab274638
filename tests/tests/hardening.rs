//! Hardening (docs/deploy.md, "Hardening"): the control socket is 0600; the metrics listen
//! address is configurable (and `off` listens nowhere); dSSM without TLS is refused unless
//! `insecure` says so; after start-up the VNF runs with no-new-privileges and only the
//! capabilities it still needs, on the main thread and on the worker lcores.

use egress_tests::process::{ChildGuard, Stream};
use egress_tests::vnf::{run_to_exit, spawn_vnf, FilePrefix, VnfBuilder, READY_LINE};
use egress_tests::{require_root, serial};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::time::Duration;

/// CAP_NET_BIND_SERVICE, CAP_NET_ADMIN, CAP_NET_RAW, CAP_IPC_LOCK, CAP_SYS_RAWIO.
const KEPT: u64 = (1 << 10) | (1 << 12) | (1 << 13) | (1 << 14) | (1 << 17);

fn status_field(path: &str, field: &str) -> String {
    let s = std::fs::read_to_string(path).unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix(field))
        .map(|v| v.trim().to_string())
        .unwrap_or_else(|| panic!("{field} not in {path}:\n{s}"))
}

fn hex(s: &str) -> u64 {
    u64::from_str_radix(s, 16).unwrap()
}

/// A free TCP port on 127.0.0.1.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn http_get(addr: &str, path: &str) -> std::io::Result<String> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n")?;
    let mut body = String::new();
    s.read_to_string(&mut body)?;
    Ok(body)
}

/// The TCP sockets process `pid` listens on (`ss -Hltnp`), as `ADDR:PORT`.
fn tcp_listeners(pid: u32) -> Vec<String> {
    let out = std::process::Command::new("ss")
        .args(["-Hltnp"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let tag = format!("pid={pid},");
    text.lines()
        .filter(|l| l.contains(&tag))
        .filter_map(|l| l.split_whitespace().nth(3).map(str::to_string))
        .collect()
}

/// Starts the VNF (bridge mode, net_null ports) with `--metrics-listen metrics`; returns it,
/// its control socket path and the guards to keep alive.
fn start(
    metrics: &str,
) -> (
    ChildGuard,
    std::path::PathBuf,
    FilePrefix,
    tempfile::TempDir,
) {
    let dir = egress_tests::test_dir("hardening").unwrap();
    let prefix = FilePrefix::new();
    let sock = dir.path().join("control.sock");
    let text = VnfBuilder::new()
        .vdev("net_null0")
        .vdev("net_null1")
        .config_text(prefix.as_str(), &sock);
    let cfg = dir.path().join("vnf.toml");
    std::fs::write(&cfg, text).unwrap();
    let args = vec![
        "--config".to_string(),
        cfg.to_string_lossy().into_owned(),
        "--metrics-listen".to_string(),
        metrics.to_string(),
    ];
    let mut child = spawn_vnf(&args, None, dir.path(), "hardening").unwrap();
    child
        .wait_for_output(Stream::Stderr, READY_LINE, Duration::from_secs(60))
        .unwrap();
    (child, sock, prefix, dir)
}

#[test]
fn control_socket_0600_metrics_address_and_privileges_dropped() {
    require_root();
    let _s = serial();
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let (mut child, sock, _prefix, _dir) = start(&addr);
    let pid = child.pid();

    // Control socket: a socket, mode 0600.
    let meta = std::fs::metadata(&sock).unwrap();
    assert!(meta.file_type().is_socket());
    assert_eq!(
        meta.permissions().mode() & 0o777,
        0o600,
        "{}",
        sock.display()
    );

    // Metrics on the address given, and only there.
    let mut body = String::new();
    for _ in 0..50 {
        body = http_get(&addr, "/metrics").unwrap_or_default();
        if body.contains("egress_port_rx_packets_total") {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(body.contains("200 OK"), "{body}");
    assert!(body.contains("egress_port_rx_packets_total"), "{body}");
    assert!(body.contains("egress_mempool_in_use"), "{body}");

    // Privileges: the main thread and every worker lcore thread.
    let main = format!("/proc/{pid}/status");
    assert_eq!(status_field(&main, "NoNewPrivs:"), "1");
    assert_eq!(hex(&status_field(&main, "CapEff:")), KEPT, "main CapEff");
    assert_eq!(hex(&status_field(&main, "CapPrm:")), KEPT, "main CapPrm");
    assert_eq!(hex(&status_field(&main, "CapBnd:")), KEPT, "main CapBnd");
    let mut workers = 0;
    let mut threads = Vec::new();
    for t in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
        let t = t.unwrap().path();
        let comm = std::fs::read_to_string(t.join("comm")).unwrap_or_default();
        let comm = comm.trim().to_string();
        let st = t.join("status").to_string_lossy().into_owned();
        let eff = hex(&status_field(&st, "CapEff:"));
        threads.push(format!("{comm}: {eff:#x}"));
        // EAL lcore threads: `lcore-worker-N` (DPDK 22.11) or `rte-worker-N`.
        if comm.contains("worker") {
            workers += 1;
            assert_eq!(eff, KEPT, "worker thread {comm}");
            assert_eq!(status_field(&st, "NoNewPrivs:"), "1", "{comm}");
        }
        // Threads the VNF creates after start-up inherit the reduced set.
        if ["control", "metrics"].contains(&comm.as_str()) {
            assert_eq!(eff, KEPT, "thread {comm}");
        }
    }
    assert!(workers >= 1, "no worker lcore thread among {threads:?}");

    // Listening on that address only (not on the default `[::]:9464`).
    let listening = tcp_listeners(pid);
    assert_eq!(listening, vec![addr.clone()], "listening sockets");

    // Still running after the drop; stops cleanly.
    assert!(child.try_status().unwrap().is_none());
    let st = child.interrupt(Duration::from_secs(30)).unwrap();
    assert_eq!(st.code(), Some(0));
    assert!(child.stdout().contains("---- final statistics ----"));
}

#[test]
fn metrics_off_listens_nowhere() {
    require_root();
    let _s = serial();
    let (mut child, _sock, _prefix, _dir) = start("off");
    let pid = child.pid();
    assert_eq!(
        tcp_listeners(pid),
        Vec::<String>::new(),
        "listening sockets"
    );
    assert!(
        !child.stderr().contains("metrics at http://"),
        "{}",
        child.stderr()
    );
    let st = child.interrupt(Duration::from_secs(30)).unwrap();
    assert_eq!(st.code(), Some(0));
}

#[test]
fn dssm_without_tls_is_refused_unless_insecure() {
    let dir = egress_tests::test_dir("hardening-tls").unwrap();
    let prefix = FilePrefix::new();
    let base = VnfBuilder::new()
        .vdev("net_null0")
        .vdev("net_null1")
        .config_text(prefix.as_str(), &dir.path().join("c.sock"));
    let run = |extra: &str| {
        let cfg = dir.path().join("dssm.toml");
        std::fs::write(&cfg, format!("{base}\n{extra}")).unwrap();
        let args = vec!["--config".to_string(), cfg.to_string_lossy().into_owned()];
        run_to_exit(&args, dir.path(), Duration::from_secs(60))
    };
    // Plaintext dSSM: exit 2 before EAL starts, naming the fields.
    let exit = run("[dssm]\nenabled = true\nservice = \"127.0.0.1:6379\"\n").unwrap();
    assert_eq!(exit.status.code(), Some(2), "{}", exit.stderr);
    assert!(exit.stderr.contains("dssm"), "{}", exit.stderr);
    assert!(
        exit.stderr.contains("ca_file") || exit.stderr.contains("insecure"),
        "{}",
        exit.stderr
    );
    // A client certificate without the CA is refused as well.
    let exit = run(
        "[dssm]\nenabled = true\nservice = \"127.0.0.1:6379\"\ncert_file = \"/c.crt\"\nkey_file = \"/c.key\"\n",
    )
    .unwrap();
    assert_eq!(exit.status.code(), Some(2), "{}", exit.stderr);
}
