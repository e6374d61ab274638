//! Sums and formats per-port and per-lcore statistics.

use crate::datapath::WorkerSnapshot;
use rte::Port;

/// Stats of one port under its VNF name.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PortReport {
    pub port: String,
    pub device: String,
    pub rx_packets: u64,
    pub rx_bytes: u64,
    pub rx_missed: u64,
    pub rx_nombuf: u64,
    pub rx_errors: u64,
    pub tx_packets: u64,
    pub tx_bytes: u64,
    pub tx_errors: u64,
}

impl PortReport {
    pub fn read(p: &Port) -> PortReport {
        let s = p.stats().unwrap_or_default();
        PortReport {
            port: p.id().to_string(),
            device: p.name(),
            rx_packets: s.rx_packets,
            rx_bytes: s.rx_bytes,
            rx_missed: s.rx_missed,
            rx_nombuf: s.rx_nombuf,
            rx_errors: s.rx_errors,
            tx_packets: s.tx_packets,
            tx_bytes: s.tx_bytes,
            tx_errors: s.tx_errors,
        }
    }

    /// One `key=value` line, the format of the final statistics.
    pub fn line(&self) -> String {
        format!(
            "port {} name={} rx_packets={} rx_bytes={} rx_missed={} rx_nombuf={} rx_errors={} tx_packets={} tx_bytes={} tx_errors={}",
            self.port, self.device, self.rx_packets, self.rx_bytes, self.rx_missed, self.rx_nombuf,
            self.rx_errors, self.tx_packets, self.tx_bytes, self.tx_errors
        )
    }
}

/// One worker lcore's counters.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LcoreReport {
    pub lcore: u32,
    pub worker: u16,
    #[serde(flatten)]
    pub counters: WorkerSnapshot,
}

impl LcoreReport {
    pub fn line(&self) -> String {
        let c = &self.counters;
        format!(
            "lcore {} worker={} rx_packets={} tx_packets={} tx_dropped={} busy_cycles={} total_cycles={} handoff_out={} handoff_in={}",
            self.lcore, self.worker, c.rx_packets, c.tx_packets, c.tx_dropped, c.busy_cycles, c.total_cycles, c.handoff_out, c.handoff_in
        )
    }

    /// Busy share of the lcore's time.
    pub fn busy_ratio(&self) -> f64 {
        if self.counters.total_cycles == 0 {
            0.0
        } else {
            self.counters.busy_cycles as f64 / self.counters.total_cycles as f64
        }
    }
}

/// Aligns rows of cells into a text table (first row = header).
pub fn table(rows: &[Vec<String>]) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(String::len)
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for r in rows {
        let line: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(i, cell)| format!("{:<w$}", cell, w = widths[i]))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_aligns_columns() {
        let t = table(&[
            vec!["port".into(), "rx".into()],
            vec!["1.1".into(), "123456".into()],
        ]);
        assert_eq!(t, "port  rx\n1.1   123456\n");
    }
}
