//! Prometheus metrics (CONTRACT §5), served by `metrics-exporter-prometheus` at
//! `http://ADDR/metrics`.
//!
//! Workers never call the `metrics` macros: they count in their own per-lcore counters. Once a
//! second the slow path reads those counters (and the ports' statistics), sums them and sets the
//! exporter's values (`absolute` for counters, `set` for gauges). Rates such as the lcore busy
//! ratio are computed over that one-second window.

use super::commands::State;
use super::stats::PortReport;
use metrics::{counter, describe_counter, describe_gauge, gauge, Unit};
use metrics_exporter_prometheus::PrometheusBuilder;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How often the slow path publishes.
pub const PUBLISH_INTERVAL: Duration = Duration::from_secs(1);

/// Starts the HTTP listener. Fails if the address cannot be bound.
pub fn install(addr: SocketAddr) -> anyhow::Result<()> {
    PrometheusBuilder::new()
        .with_http_listener(addr)
        .install()
        .map_err(|e| anyhow::anyhow!("metrics endpoint {addr}: {e}"))?;
    describe();
    Ok(())
}

fn describe() {
    describe_counter!(
        "egress_port_rx_packets_total",
        Unit::Count,
        "Packets received by the port"
    );
    describe_counter!(
        "egress_port_tx_packets_total",
        Unit::Count,
        "Packets sent by the port"
    );
    describe_counter!(
        "egress_port_rx_dropped_total",
        Unit::Count,
        "Packets the port dropped on receive (no free descriptor or no mbuf)"
    );
    describe_counter!(
        "egress_port_rx_bytes_total",
        Unit::Bytes,
        "Bytes received by the port"
    );
    describe_counter!(
        "egress_port_tx_bytes_total",
        Unit::Bytes,
        "Bytes sent by the port"
    );
    describe_counter!(
        "egress_drops_total",
        Unit::Count,
        "Packets dropped by the data path, by reason"
    );
    describe_gauge!(
        "egress_mempool_available",
        "Free mbufs in the packet pool (per-lcore caches included)"
    );
    describe_gauge!(
        "egress_mempool_in_use",
        "Mbufs of the packet pool held by ports, rings, queues and the workers"
    );
    describe_gauge!(
        "egress_lcore_busy_ratio",
        "Share of the last second a worker lcore spent on packets"
    );
    describe_counter!(
        "egress_lcore_rx_packets_total",
        Unit::Count,
        "Packets received by a worker lcore"
    );
}

/// Previous readings, for rates.
#[derive(Default)]
pub struct Publisher {
    prev_busy: Vec<(u64, u64)>,
}

impl Publisher {
    /// Reads every counter once and updates the exporter.
    pub fn publish(&mut self, state: &State) {
        for p in &state.ports {
            let r = PortReport::read(p);
            let port = r.port.clone();
            counter!("egress_port_rx_packets_total", "port" => port.clone()).absolute(r.rx_packets);
            counter!("egress_port_tx_packets_total", "port" => port.clone()).absolute(r.tx_packets);
            counter!("egress_port_rx_dropped_total", "port" => port.clone())
                .absolute(r.rx_missed + r.rx_nombuf);
            counter!("egress_port_rx_bytes_total", "port" => port.clone()).absolute(r.rx_bytes);
            counter!("egress_port_tx_bytes_total", "port" => port).absolute(r.tx_bytes);
        }
        if let Some(m) = state.pool {
            gauge!("egress_mempool_available").set(f64::from(m.avail_count()));
            gauge!("egress_mempool_in_use").set(f64::from(m.in_use_count()));
        }
        for (reason, n) in state.drop_totals() {
            counter!("egress_drops_total", "reason" => reason.name()).absolute(n);
        }
        self.publish_features(state);
        let reports = state.lcore_reports();
        self.prev_busy.resize(reports.len(), (0, 0));
        for (r, prev) in reports.iter().zip(self.prev_busy.iter_mut()) {
            let (busy, total) = (r.counters.busy_cycles, r.counters.total_cycles);
            let (db, dt) = (busy.saturating_sub(prev.0), total.saturating_sub(prev.1));
            let ratio = if dt == 0 {
                0.0
            } else {
                (db as f64 / dt as f64).min(1.0)
            };
            *prev = (busy, total);
            let lcore = r.lcore.to_string();
            gauge!("egress_lcore_busy_ratio", "lcore" => lcore.clone()).set(ratio);
            counter!("egress_lcore_rx_packets_total", "lcore" => lcore)
                .absolute(r.counters.rx_packets);
        }
    }

    fn publish_features(&mut self, state: &State) {
        use crate::nat::{OpenError, SessionKind};
        let t = state.feature_totals();
        for r in state.vs_rows() {
            counter!("egress_vs_clientside_connections_total", "vs" => r.name)
                .absolute(r.clientside_tot_conns);
            gauge!("egress_vs_clientside_connections_active", "vs" => r.name)
                .set(r.clientside_cur_conns as f64);
        }
        for (result, n) in t.dns.query_results() {
            counter!("egress_dns_queries_total", "result" => result).absolute(n);
        }
        let created = match (&state.dssm, &state.localmap) {
            (Some(d), _) => d.snapshot().created,
            (None, Some(l)) => l.created.load(std::sync::atomic::Ordering::Relaxed),
            (None, None) => 0,
        };
        counter!("egress_dns46_mappings_created_total").absolute(created);
        counter!("egress_dns46_sorry_answers_total").absolute(t.dns.dns46_sorry);
        for k in SessionKind::ALL {
            gauge!("egress_nat_sessions_active", "kind" => k.name())
                .set(t.nat.sessions_active[k.index()] as f64);
        }
        for e in OpenError::ALL {
            counter!("egress_nat_port_alloc_failures_total", "kind" => e.name())
                .absolute(t.nat.alloc_failures[e.index()]);
        }
        match &state.dssm {
            Some(d) => {
                let s = d.snapshot();
                gauge!("egress_dssm_up").set(s.up as f64);
                counter!("egress_dssm_failovers_total").absolute(s.failovers);
                for (op, result, n) in s.requests {
                    counter!("egress_dssm_requests_total", "op" => op, "result" => result)
                        .absolute(n);
                }
            }
            None => {
                // dSSM disabled: the families exist (dashboards and alerts keep working) at 0.
                use crate::slowpath::dssm::stats::{Op, OpResult};
                gauge!("egress_dssm_up").set(0.0);
                counter!("egress_dssm_failovers_total").absolute(0);
                for op in Op::ALL {
                    for r in OpResult::ALL {
                        counter!("egress_dssm_requests_total", "op" => op.name(), "result" => r.name())
                            .absolute(0);
                    }
                }
            }
        }
    }

    /// Publishes every [`PUBLISH_INTERVAL`] until `stop` is set.
    pub fn run(mut self, state: Arc<State>, stop: Arc<AtomicBool>) {
        while !stop.load(Ordering::Relaxed) {
            self.publish(&state);
            let mut waited = Duration::ZERO;
            while waited < PUBLISH_INTERVAL && !stop.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(50));
                waited += Duration::from_millis(50);
            }
        }
    }
}
