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
    /// `clientside.tot_conns` and `clientside.cur_conns` of the path's virtual server
    /// (`show vs stats`), when it has one.
    pub conns: Option<Conns>,
    /// DNS46 counters (DNS46 paths).
    pub dns46: Option<Dns46>,
}

/// DNS46 counters at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dns46 {
    /// Mappings the VNF's allocator created (`show dns46 mappings`: `created`).
    pub created: u64,
    /// Answers with a synthesized A record (`synthesized46`).
    pub synthesized: u64,
    /// Queries from pods (`show vs stats`: `egress-dns-ipv4` `clientside.pkts_in`).
    pub queries: u64,
}

/// The DNS46 counters from a `show dns46 mappings` and a `show vs stats` reply.
pub fn dns46_from(mappings: &Value, vs: &Value) -> Result<Dns46, String> {
    let queries = vs
        .as_array()
        .and_then(|a| a.iter().find(|r| r["name"] == "egress-dns-ipv4"))
        .ok_or_else(|| format!("no virtual server egress-dns-ipv4 in {vs}"))?;
    Ok(Dns46 {
        created: field(mappings, "created")?,
        synthesized: field(mappings, "synthesized46")?,
        queries: field(queries, "clientside.pkts_in")?,
    })
}

/// DNS46 rates between two snapshots.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Dns46Window {
    /// New mappings per second.
    pub mappings_per_s: f64,
    /// Synthesized answers per second.
    pub answers_per_s: f64,
    /// New mappings per query received.
    pub mappings_per_query: f64,
}

/// The DNS46 rates between two snapshots (None without DNS46 counters or queries).
pub fn dns46_window(a: &Snapshot, b: &Snapshot) -> Option<Dns46Window> {
    let (x, y) = (a.dns46?, b.dns46?);
    let secs = b.at.duration_since(a.at).as_secs_f64();
    let queries = y.queries.checked_sub(x.queries)?;
    if secs <= 0.0 || queries == 0 {
        return None;
    }
    let created = y.created.checked_sub(x.created)? as f64;
    Some(Dns46Window {
        mappings_per_s: created / secs,
        answers_per_s: y.synthesized.checked_sub(x.synthesized)? as f64 / secs,
        mappings_per_query: created / queries as f64,
    })
}

/// Connection counters of one virtual server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conns {
    pub total: u64,
    pub current: u64,
}

fn field(v: &Value, key: &str) -> Result<u64, String> {
    v[key]
        .as_u64()
        .ok_or_else(|| format!("no integer `{key}` in {v}"))
}

/// Reads `show port stats all`, `show lcores`, with `vs` or `dns46` `show vs stats`, and with
/// `dns46` `show dns46 mappings limit 1`; the instant is the midpoint of the requests.
pub fn snapshot(
    socket: &Path,
    tx_port: &str,
    vs: Option<&str>,
    dns46: bool,
) -> Result<Snapshot, String> {
    let t0 = Instant::now();
    let ports = request(socket, "show port stats all")?;
    let lcores = request(socket, "show lcores")?;
    let vs_stats = if vs.is_some() || dns46 {
        Some(request(socket, "show vs stats")?)
    } else {
        None
    };
    let mappings = if dns46 {
        Some(request(socket, "show dns46 mappings limit 1")?)
    } else {
        None
    };
    let t1 = Instant::now();
    let mut s = snapshot_from(&ports, &lcores, tx_port, t0 + (t1 - t0) / 2)?;
    if let (Some(name), Some(v)) = (vs, &vs_stats) {
        s.conns = Some(conns_from(v, name)?);
    }
    if let (Some(m), Some(v)) = (mappings, &vs_stats) {
        s.dns46 = Some(dns46_from(&m, v)?);
    }
    Ok(s)
}

/// The connection counters of virtual server `name` in a `show vs stats` reply.
pub fn conns_from(v: &Value, name: &str) -> Result<Conns, String> {
    let row = v
        .as_array()
        .and_then(|a| a.iter().find(|r| r["name"] == name))
        .ok_or_else(|| format!("no virtual server {name} in {v}"))?;
    Ok(Conns {
        total: field(row, "clientside.tot_conns")?,
        current: field(row, "clientside.cur_conns")?,
    })
}

/// New connections per second between two snapshots.
pub fn conns_per_second(a: &Snapshot, b: &Snapshot) -> Option<f64> {
    let secs = b.at.duration_since(a.at).as_secs_f64();
    let n = b.conns?.total.checked_sub(a.conns?.total)?;
    (secs > 0.0).then(|| n as f64 / secs)
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
        conns: None,
        dns46: None,
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

    #[test]
    fn vs_conns() {
        let v = json!([
            {"name": "egress-ipv4", "clientside.tot_conns": 10, "clientside.cur_conns": 4},
            {"name": "egress-ipv6", "clientside.tot_conns": 0, "clientside.cur_conns": 0}
        ]);
        assert_eq!(
            conns_from(&v, "egress-ipv4").unwrap(),
            Conns {
                total: 10,
                current: 4
            }
        );
        assert!(conns_from(&v, "egress-dns-ipv4").is_err());
        let t = Instant::now();
        let mut a = snapshot_from(
            &json!([{"port": "1.2", "tx_packets": 0}]),
            &json!([{"rx_packets": 0, "busy_cycles": 0}]),
            "1.2",
            t,
        )
        .unwrap();
        let mut b = a;
        b.at = t + Duration::from_secs(2);
        assert_eq!(conns_per_second(&a, &b), None);
        a.conns = Some(Conns {
            total: 10,
            current: 10,
        });
        b.conns = Some(Conns {
            total: 2_000_010,
            current: 5,
        });
        assert_eq!(conns_per_second(&a, &b), Some(1e6));
    }

    #[test]
    fn dns46_counters() {
        let vs = json!([
            {"name": "egress-ipv4", "clientside.pkts_in": 7},
            {"name": "egress-dns-ipv4", "clientside.pkts_in": 1000}
        ]);
        let m = json!({"mappings": [], "created": 10, "synthesized46": 12, "sorry": 0});
        let d = dns46_from(&m, &vs).unwrap();
        assert_eq!(
            d,
            Dns46 {
                created: 10,
                synthesized: 12,
                queries: 1000
            }
        );
        assert!(dns46_from(&json!({"created": null}), &vs).is_err());
        assert!(dns46_from(&m, &json!([])).is_err());
        let t = Instant::now();
        let mut a = snapshot_from(
            &json!([{"port": "1.1", "tx_packets": 0}]),
            &json!([{"rx_packets": 0, "busy_cycles": 0}]),
            "1.1",
            t,
        )
        .unwrap();
        let mut b = a;
        b.at = t + Duration::from_secs(2);
        assert_eq!(dns46_window(&a, &b), None);
        a.dns46 = Some(d);
        b.dns46 = Some(Dns46 {
            created: 20_010,
            synthesized: 20_012,
            queries: 2_001_000,
        });
        let w = dns46_window(&a, &b).unwrap();
        assert_eq!(w.mappings_per_s, 10_000.0);
        assert_eq!(w.answers_per_s, 10_000.0);
        assert_eq!(w.mappings_per_query, 0.01);
        assert_eq!(dns46_window(&b, &a), None, "counters went backwards");
    }
}
