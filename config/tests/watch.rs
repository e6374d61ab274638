//! `egress-sidecar watch`: editing a CR file re-renders the output and sends one `reload`
//! request over the control socket (recorded by a small Unix-socket listener here); invalid CRs
//! and failed reloads are logged and the watcher keeps the last good output and keeps running.

mod common;

use common::*;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

const REQUEST: &str = "{\"command\":\"reload\",\"json\":false}";

/// A fake VNF control socket: records each request line, answers with the next reply of
/// `replies` (the last one repeats).
fn fake_vnf(path: &Path, replies: Vec<&'static str>) -> Receiver<String> {
    let listener = UnixListener::bind(path).unwrap();
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for (n, conn) in listener.incoming().enumerate() {
            let Ok(mut conn) = conn else { return };
            let mut line = String::new();
            if BufReader::new(&conn).read_line(&mut line).is_err() {
                continue;
            }
            let reply = replies[n.min(replies.len() - 1)];
            let _ = conn.write_all(format!("{reply}\n").as_bytes());
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

struct Watcher {
    child: Child,
    log: PathBuf,
}

impl Drop for Watcher {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Watcher {
    fn start(dir: &Path, crs: &Path, out: &Path, socket: &Path) -> Watcher {
        let log = dir.join("watch.log");
        let child = sidecar(
            &[
                "watch",
                "--cr-dir",
                crs.to_str().unwrap(),
                "--tmm-index",
                "0",
                "--out",
                out.to_str().unwrap(),
                "--control-socket",
                socket.to_str().unwrap(),
                "--poll-ms",
                "100",
            ],
            &[],
        )
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
        Watcher { child, log }
    }
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
    fn assert_running(&mut self) {
        assert!(
            self.child.try_wait().unwrap().is_none(),
            "watcher exited: {}",
            self.log()
        );
    }
}

fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let end = Instant::now() + Duration::from_secs(15);
    while Instant::now() < end {
        if cond() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("timed out waiting for {what}");
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_default()
}

#[test]
fn edit_rerenders_and_requests_reload() {
    let dir = temp_dir("watch");
    let crs = dir.join("crs");
    copy_dir(&fixtures().join("automap/crs"), &crs);
    let out = dir.join("egress.toml");
    let sock = dir.join("ctl.sock");
    let requests = fake_vnf(
        &sock,
        vec![
            "{\"ok\":true,\"text\":\"reloaded\"}",
            "{\"ok\":false,\"text\":\"bad config\"}",
        ],
    );
    let mut w = Watcher::start(&dir, &crs, &out, &sock);

    // Initial render; the output did not exist, so no VNF runs on it: no reload request.
    wait_for("initial render", || read(&out).contains("10.10.0.1"));
    assert!(read(&out).contains(&format!("socket = \"{}\"", sock.display())));
    std::thread::sleep(Duration::from_millis(400));
    assert!(
        requests.try_recv().is_err(),
        "no reload expected for the first render"
    );

    // Edit a CR: re-render, then exactly one reload request with the fixed protocol line.
    let cr = crs.join("egress.yaml");
    edit(&cr, "selfip_v4s: [10.10.0.1]", "selfip_v4s: [10.10.0.7]");
    wait_for("re-render", || read(&out).contains("10.10.0.7"));
    let req = requests
        .recv_timeout(Duration::from_secs(10))
        .expect("reload request");
    assert_eq!(req, format!("{REQUEST}\n"));
    wait_for("reload logged", || {
        w.log().contains("VNF reloaded: reloaded")
    });

    // Invalid CR: logged, last good output kept, no request, watcher still running.
    let good = read(&out);
    edit(&cr, "interfaces: [\"1.1\"]", "interfaces: [\"eth0\"]");
    wait_for("error logged", || w.log().contains("spec.interfaces[0]"));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(read(&out), good);
    assert!(requests.try_recv().is_err());
    w.assert_running();
    assert!(w.log().contains("keeping the last good"), "{}", w.log());

    // Fixed again with another change: re-render and a second request; the VNF refuses it,
    // which is logged, and the watcher goes on.
    edit(&cr, "interfaces: [\"eth0\"]", "interfaces: [\"1.3\"]");
    wait_for("re-render after fix", || read(&out).contains("\"1.3\""));
    let req = requests
        .recv_timeout(Duration::from_secs(10))
        .expect("second reload request");
    assert_eq!(req, format!("{REQUEST}\n"));
    wait_for("refusal logged", || {
        w.log().contains("refused the reload: bad config")
    });
    w.assert_running();

    // A new file counts as a change too.
    std::fs::write(
        crs.join("route.yaml"),
        "apiVersion: k8s.f5net.com/v1\nkind: F5SPKStaticRoute\nmetadata: {name: r}\nspec: {destination: 198.51.100.0, prefixLen: 24, gateway: 203.0.113.1}\n",
    )
    .unwrap();
    wait_for("route rendered", || read(&out).contains("198.51.100.0"));
    requests
        .recv_timeout(Duration::from_secs(10))
        .expect("third reload request");
    w.assert_running();
}

#[test]
fn unreachable_vnf_does_not_stop_the_watcher() {
    let dir = temp_dir("watchnovnf");
    let crs = dir.join("crs");
    copy_dir(&fixtures().join("automap/crs"), &crs);
    let out = dir.join("egress.toml");
    std::fs::write(&out, "# older config\n").unwrap();
    let sock = dir.join("nobody.sock");
    let mut w = Watcher::start(&dir, &crs, &out, &sock);
    // The output existed with other content: written, and a reload is tried and fails.
    wait_for("render", || read(&out).contains("10.10.0.1"));
    wait_for("failed reload logged", || {
        w.log().contains("reload request failed")
    });
    edit(
        &crs.join("egress.yaml"),
        "selfip_v4s: [10.10.0.1]",
        "selfip_v4s: [10.10.0.9]",
    );
    wait_for("re-render", || read(&out).contains("10.10.0.9"));
    w.assert_running();
}
