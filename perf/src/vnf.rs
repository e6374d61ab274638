//! The VNF side: its configuration file and the final statistics it prints on shutdown.
//!
//! On SIGINT `egress-vnf` prints to standard output, one line per port and per worker lcore:
//! ```text
//! port 1.1 name=net_pcap0 rx_packets=N rx_bytes=N rx_missed=N rx_nombuf=N rx_errors=N tx_packets=N tx_bytes=N tx_errors=N
//! lcore 1 worker=0 rx_packets=N tx_packets=N tx_dropped=N busy_cycles=N total_cycles=N
//! forwarding_seconds=F tsc_hz=N
//! ```

use std::collections::BTreeMap;

/// The line on standard error after which the workers are forwarding.
pub const READY_LINE: &str = "forwarding started";

/// Writes the configuration: EAL arguments, the path's own tables and the control section.
pub fn config(eal: &[String], path_tables: &str, control_socket: &str) -> String {
    let eal: Vec<String> = eal.iter().map(|a| toml_string(a)).collect();
    format!(
        "# written by egress-perf bench\neal = [{}]\n\n{}\n\n[control]\nsocket = {}\nmetrics_listen = \"off\"\n",
        eal.join(", "),
        path_tables.trim_end(),
        toml_string(control_socket)
    )
}

/// A TOML basic string.
pub fn toml_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 || c == '\x7f' => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Final counters of one port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortStats {
    /// `1.1`, `1.2`, ...
    pub port: String,
    /// Every `key=value` of the line (`name`, `rx_packets`, ...).
    pub fields: BTreeMap<String, String>,
}

impl PortStats {
    pub fn counter(&self, key: &str) -> Result<u64, String> {
        counter(&self.fields, key, &format!("port {}", self.port))
    }
}

/// Final counters of one worker lcore.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LcoreStats {
    pub lcore: u32,
    pub fields: BTreeMap<String, String>,
}

impl LcoreStats {
    pub fn counter(&self, key: &str) -> Result<u64, String> {
        counter(&self.fields, key, &format!("lcore {}", self.lcore))
    }
}

/// Everything the VNF printed on shutdown.
#[derive(Debug, Clone, PartialEq)]
pub struct FinalStats {
    pub ports: Vec<PortStats>,
    pub lcores: Vec<LcoreStats>,
    pub forwarding_seconds: f64,
    pub tsc_hz: u64,
}

fn counter(fields: &BTreeMap<String, String>, key: &str, what: &str) -> Result<u64, String> {
    let v = fields
        .get(key)
        .ok_or_else(|| format!("{what}: no `{key}=`"))?;
    v.parse()
        .map_err(|e| format!("{what}: `{key}={v}` is not a counter: {e}"))
}

fn key_values<'a>(
    words: impl Iterator<Item = &'a str>,
) -> Result<BTreeMap<String, String>, String> {
    words
        .map(|w| {
            w.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .ok_or_else(|| format!("`{w}` is not key=value"))
        })
        .collect()
}

impl FinalStats {
    /// Parses the statistics lines out of the VNF's standard output (other lines are ignored).
    pub fn parse(stdout: &str) -> Result<FinalStats, String> {
        let mut ports = Vec::new();
        let mut lcores = Vec::new();
        let mut summary = None;
        for line in stdout.lines() {
            let mut words = line.split_whitespace();
            match words.next() {
                Some("port") => {
                    let port = words.next().ok_or("`port` line without a port name")?;
                    ports.push(PortStats {
                        port: port.to_string(),
                        fields: key_values(words)?,
                    });
                }
                Some("lcore") => {
                    let id = words.next().ok_or("`lcore` line without an id")?;
                    lcores.push(LcoreStats {
                        lcore: id.parse().map_err(|e| format!("lcore `{id}`: {e}"))?,
                        fields: key_values(words)?,
                    });
                }
                Some(w) if w.starts_with("forwarding_seconds=") => {
                    summary = Some(key_values(line.split_whitespace())?);
                }
                _ => {}
            }
        }
        let summary = summary.ok_or("no `forwarding_seconds=` line")?;
        let forwarding_seconds = summary["forwarding_seconds"]
            .parse::<f64>()
            .map_err(|e| format!("forwarding_seconds: {e}"))?;
        let tsc_hz = counter(&summary, "tsc_hz", "summary line")?;
        if ports.is_empty() {
            return Err("no `port` lines".into());
        }
        if lcores.is_empty() {
            return Err("no `lcore` lines".into());
        }
        Ok(FinalStats {
            ports,
            lcores,
            forwarding_seconds,
            tsc_hz,
        })
    }

    pub fn port(&self, name: &str) -> Result<&PortStats, String> {
        self.ports
            .iter()
            .find(|p| p.port == name)
            .ok_or_else(|| format!("no statistics for port {name}"))
    }

    /// Sum of a counter over the worker lcores.
    pub fn workers_sum(&self, key: &str) -> Result<u64, String> {
        self.lcores.iter().map(|l| l.counter(key)).sum()
    }

    /// Packets sent on `tx_port` per second of forwarding, in millions.
    pub fn mpps(&self, tx_port: &str) -> Result<f64, String> {
        if self.forwarding_seconds <= 0.0 {
            return Err(format!("forwarding_seconds={}", self.forwarding_seconds));
        }
        let tx = self.port(tx_port)?.counter("tx_packets")?;
        Ok(tx as f64 / self.forwarding_seconds / 1e6)
    }

    /// Busy TSC cycles of the workers per packet they received.
    pub fn cycles_per_packet(&self) -> Result<f64, String> {
        let rx = self.workers_sum("rx_packets")?;
        if rx == 0 {
            return Err("the workers received no packets".into());
        }
        Ok(self.workers_sum("busy_cycles")? as f64 / rx as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OUT: &str = "\
some banner
port 1.1 name=net_pcap0 rx_packets=200 rx_bytes=12000 rx_missed=0 rx_nombuf=0 rx_errors=0 tx_packets=0 tx_bytes=0 tx_errors=0
port 1.2 name=net_null0 rx_packets=0 rx_bytes=0 rx_missed=0 rx_nombuf=0 rx_errors=0 tx_packets=190 tx_bytes=11400 tx_errors=0
lcore 1 worker=0 rx_packets=200 tx_packets=190 tx_dropped=10 busy_cycles=30000 total_cycles=90000
forwarding_seconds=0.00001 tsc_hz=2500000000
";

    #[test]
    fn parses_final_stats() {
        let s = FinalStats::parse(OUT).unwrap();
        assert_eq!(s.ports.len(), 2);
        assert_eq!(s.port("1.2").unwrap().fields["name"], "net_null0");
        assert_eq!(s.lcores[0].counter("tx_dropped"), Ok(10));
        assert_eq!(s.tsc_hz, 2_500_000_000);
        assert!((s.mpps("1.2").unwrap() - 19.0).abs() < 1e-9);
        assert!((s.cycles_per_packet().unwrap() - 150.0).abs() < 1e-9);
    }

    #[test]
    fn missing_parts_are_errors() {
        assert!(FinalStats::parse("").is_err());
        let no_lcore: String = OUT
            .lines()
            .filter(|l| !l.starts_with("lcore"))
            .map(|l| format!("{l}\n"))
            .collect();
        assert!(FinalStats::parse(&no_lcore).is_err());
        let s = FinalStats::parse(OUT).unwrap();
        assert!(s.port("1.3").is_err());
        assert!(s.lcores[0].counter("nope").is_err());
        assert!(FinalStats::parse("port 1.1 junk\nforwarding_seconds=1 tsc_hz=1\n").is_err());
    }

    #[test]
    fn config_text() {
        let c = config(
            &["-l".into(), "0-1".into()],
            "[dataplane]\nmode = \"bridge\"\n",
            "/tmp/x \"y\"/control.sock",
        );
        assert_eq!(
            c,
            "# written by egress-perf bench\neal = [\"-l\", \"0-1\"]\n\n[dataplane]\nmode = \"bridge\"\n\n\
             [control]\nsocket = \"/tmp/x \\\"y\\\"/control.sock\"\nmetrics_listen = \"off\"\n"
        );
    }
}
