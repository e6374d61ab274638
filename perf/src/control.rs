//! A minimal client of the VNF's control socket (docs/control-protocol.md): one JSON request
//! line `{"command":...,"json":true}`, one JSON reply line `{"ok":...,"text":...,"data":...}`.
//! The runner uses it to snapshot counters after the warm-up and at the end of the window, so
//! the VNF's rate covers the same steady state as testpmd's samples.

use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

/// Sends one command and returns the reply's `data`.
pub fn request(socket: &Path, command: &str) -> Result<Value, String> {
    let what = |e: std::io::Error| format!("control socket {}: {e}", socket.display());
    let mut s = UnixStream::connect(socket).map_err(what)?;
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(what)?;
    let line = json!({ "command": command, "json": true }).to_string() + "\n";
    s.write_all(line.as_bytes()).map_err(what)?;
    let mut reply = String::new();
    BufReader::new(&s).read_line(&mut reply).map_err(what)?;
    let v: Value = serde_json::from_str(&reply)
        .map_err(|e| format!("`{command}`: reply is not JSON ({e}): {reply}"))?;
    if v["ok"] != Value::Bool(true) {
        return Err(format!("`{command}` failed: {}", v["text"]));
    }
    Ok(v["data"].clone())
}

/// Counters at one instant.
#[derive(Debug, Clone, Copy)]
pub struct Snapshot {
    pub at: Instant,
    /// `tx_packets` of the port that counts forwarded packets.
    pub tx_packets: u64,
    /// Sums over the workers.
    pub worker_rx_packets: u64,
    pub worker_busy_cycles: u64,
}

fn field(v: &Value, key: &str) -> Result<u64, String> {
    v[key]
        .as_u64()
        .ok_or_else(|| format!("no integer `{key}` in {v}"))
}

/// Reads `show port stats all` and `show lcores`; the instant is the midpoint of the two requests.
pub fn snapshot(socket: &Path, tx_port: &str) -> Result<Snapshot, String> {
    let t0 = Instant::now();
    let ports = request(socket, "show port stats all")?;
    let lcores = request(socket, "show lcores")?;
    let t1 = Instant::now();
    snapshot_from(&ports, &lcores, tx_port, t0 + (t1 - t0) / 2)
}

fn snapshot_from(
    ports: &Value,
    lcores: &Value,
    tx_port: &str,
    at: Instant,
) -> Result<Snapshot, String> {
    let port = ports
        .as_array()
        .and_then(|a| a.iter().find(|p| p["port"] == tx_port))
        .ok_or_else(|| format!("no port {tx_port} in {ports}"))?;
    let workers = lcores
        .as_array()
        .filter(|a| !a.is_empty())
        .ok_or_else(|| format!("no lcores in {lcores}"))?;
    let mut rx = 0;
    let mut busy = 0;
    for w in workers {
        rx += field(w, "rx_packets")?;
        busy += field(w, "busy_cycles")?;
    }
    Ok(Snapshot {
        at,
        tx_packets: field(port, "tx_packets")?,
        worker_rx_packets: rx,
        worker_busy_cycles: busy,
    })
}

/// Rate and cost between two snapshots: (Mpps, busy cycles per received packet).
pub fn window(a: &Snapshot, b: &Snapshot) -> Result<(f64, f64), String> {
    let secs = b.at.duration_since(a.at).as_secs_f64();
    let tx = b.tx_packets.checked_sub(a.tx_packets);
    let rx = b.worker_rx_packets.checked_sub(a.worker_rx_packets);
    let busy = b.worker_busy_cycles.checked_sub(a.worker_busy_cycles);
    match (tx, rx, busy) {
        (Some(tx), Some(rx), Some(busy)) if secs > 0.0 && rx > 0 => {
            Ok((tx as f64 / secs / 1e6, busy as f64 / rx as f64))
        }
        _ => Err(format!(
            "no packets or counters went backwards between {a:?} and {b:?}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_and_window() {
        let ports = json!([
            {"port": "1.1", "device": "net_pcap0", "rx_packets": 50, "tx_packets": 0},
            {"port": "1.2", "device": "net_null0", "rx_packets": 0, "tx_packets": 40}
        ]);
        let l0 = json!([{"lcore": 1, "worker": 0, "rx_packets": 50, "busy_cycles": 5000}]);
        let l1 = json!([{"lcore": 1, "worker": 0, "rx_packets": 2_000_050, "busy_cycles": 200_005_000u64}]);
        let t = Instant::now();
        let a = snapshot_from(&ports, &l0, "1.2", t).unwrap();
        let mut ports2 = ports.clone();
        ports2[1]["tx_packets"] = json!(2_000_040);
        let b = snapshot_from(&ports2, &l1, "1.2", t + Duration::from_secs(2)).unwrap();
        let (mpps, cpp) = window(&a, &b).unwrap();
        assert!((mpps - 1.0).abs() < 1e-9);
        assert!((cpp - 100.0).abs() < 1e-9);
        assert!(window(&b, &a).is_err());
        assert!(snapshot_from(&ports, &l0, "1.3", t).is_err());
        assert!(snapshot_from(&ports, &json!([]), "1.2", t).is_err());
    }
}
