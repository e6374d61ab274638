//! Prometheus metrics (CONTRACT §5), served by `metrics-exporter-prometheus` at
//! `http://ADDR/metrics`.
//!
//! Workers never call the `metrics` macros: they count in their own per-lcore counters. Once a
//! second the slow path reads those counters (and the ports' statistics), sums them and sets the
//! exporter's values (`absolute` for counters, `set` for gauges). Rates such as the lcore busy
//! ratio are computed over that one-second window.
//!
//! Histograms: the dSSM thread records each mapping request's latency itself
//! (`egress_dssm_request_duration_seconds{op}`, see `dssm::stats`). The workers count upstream
//! DNS latencies in fixed buckets of their own ([`crate::dns::UPSTREAM_LATENCY_BUCKETS_US`]);
//! every second the new observations of each bucket are recorded into
//! `egress_dns_upstream_duration_seconds`, which has the same bucket bounds, at values inside
//! that bucket chosen so that the histogram's sum is the workers' sum ([`replay_buckets`]).

use super::commands::State;
use super::stats::PortReport;
use crate::dns::{UPSTREAM_LATENCY_BUCKETS, UPSTREAM_LATENCY_BUCKETS_US};
use crate::slowpath::dssm::stats::{DURATION_METRIC as DSSM_DURATION, LATENCY_BUCKETS_US};
use metrics::{
    counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram, Unit,
};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How often the slow path publishes.
pub const PUBLISH_INTERVAL: Duration = Duration::from_secs(1);

/// The upstream DNS latency histogram.
pub const DNS_UPSTREAM_DURATION: &str = "egress_dns_upstream_duration_seconds";

/// The exporter's settings: the bucket bounds of the histograms (seconds).
pub fn builder() -> PrometheusBuilder {
    let secs = |us: &[u64]| us.iter().map(|&u| u as f64 / 1e6).collect::<Vec<f64>>();
    PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full(DNS_UPSTREAM_DURATION.into()),
            &secs(&UPSTREAM_LATENCY_BUCKETS_US),
        )
        .and_then(|b| {
            b.set_buckets_for_metric(
                Matcher::Full(DSSM_DURATION.into()),
                &secs(&LATENCY_BUCKETS_US),
            )
        })
        .expect("bucket lists are not empty")
}

/// Starts the HTTP listener. Fails if the address cannot be bound.
pub fn install(addr: SocketAddr) -> anyhow::Result<()> {
    builder()
        .with_http_listener(addr)
        .install()
        .map_err(|e| anyhow::anyhow!("metrics endpoint {addr}: {e}"))?;
    describe();
    Ok(())
}

/// Describes every family (HELP lines).
pub fn describe() {
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
    describe_histogram!(
        DNS_UPSTREAM_DURATION,
        Unit::Seconds,
        "Time from sending a query upstream to its accepted reply"
    );
    describe_histogram!(
        DSSM_DURATION,
        Unit::Seconds,
        "Time a dSSM mapping request took (its batch's round trips), by operation"
    );
}

/// Values to record for new observations counted in fixed buckets: one `(value in seconds,
/// count)` per bucket, each value inside its bucket (lower bound exclusive, upper bound
/// inclusive; the last bucket is +Inf), and the values' total as close to `sum_us` as the
/// bounds allow.
pub fn replay_buckets(
    counts: &[u64; UPSTREAM_LATENCY_BUCKETS],
    sum_us: u64,
) -> [(f64, u64); UPSTREAM_LATENCY_BUCKETS] {
    let lo = |i: usize| {
        if i == 0 {
            0
        } else {
            UPSTREAM_LATENCY_BUCKETS_US[i - 1] + 1
        }
    };
    let hi = |i: usize| {
        UPSTREAM_LATENCY_BUCKETS_US
            .get(i)
            .copied()
            .unwrap_or(u64::MAX)
    };
    let least: u64 = (0..counts.len())
        .map(|i| counts[i].saturating_mul(lo(i)))
        .fold(0, u64::saturating_add);
    let mut extra = sum_us.saturating_sub(least);
    let mut out = [(0.0, 0); UPSTREAM_LATENCY_BUCKETS];
    for (i, &n) in counts.iter().enumerate() {
        let mut v = lo(i);
        if let Some(each) = extra.checked_div(n) {
            let add = each.min(hi(i) - v);
            v += add;
            extra -= add * n;
        }
        out[i] = (v as f64 / 1e6, n);
    }
    out
}

/// Previous readings, for rates.
#[derive(Default)]
pub struct Publisher {
    prev_busy: Vec<(u64, u64)>,
    prev_dns_latency: ([u64; UPSTREAM_LATENCY_BUCKETS], u64),
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
        counter!("egress_dns_tcp_segments_total", "direction" => "redirected")
            .absolute(t.dns.tcp_redirected);
        counter!("egress_dns_tcp_segments_total", "direction" => "restored")
            .absolute(t.dns.tcp_restored);
        for (result, n) in t.siit.results() {
            counter!("egress_siit_packets_total", "result" => result).absolute(n);
        }
        let (prev, prev_sum) = &mut self.prev_dns_latency;
        let mut new = [0u64; UPSTREAM_LATENCY_BUCKETS];
        for (i, n) in new.iter_mut().enumerate() {
            *n = t.dns.upstream_latency[i].saturating_sub(prev[i]);
        }
        let new_sum = t.dns.upstream_latency_sum_us.saturating_sub(*prev_sum);
        *prev = t.dns.upstream_latency;
        *prev_sum = t.dns.upstream_latency_sum_us;
        let h = histogram!(DNS_UPSTREAM_DURATION);
        for (v, n) in replay_buckets(&new, new_sum) {
            if n > 0 {
                h.record_many(v, n as usize);
            }
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replayed_values_stay_in_their_buckets_and_keep_the_sum() {
        let mut counts = [0u64; UPSTREAM_LATENCY_BUCKETS];
        counts[0] = 10; // <= 0.5 ms
        counts[2] = 3; // 1 .. 2.5 ms
        counts[UPSTREAM_LATENCY_BUCKETS - 1] = 1; // > 2 s
        let sum = 10 * 200 + 3 * 1_800 + 3_000_000;
        let r = replay_buckets(&counts, sum);
        let bound = |i: usize| {
            UPSTREAM_LATENCY_BUCKETS_US
                .get(i)
                .map_or(f64::INFINITY, |&b| b as f64 / 1e6)
        };
        let mut total = 0.0;
        for (i, (v, n)) in r.iter().enumerate() {
            assert_eq!(*n, counts[i]);
            if *n > 0 {
                assert!(*v <= bound(i), "bucket {i}: {v}");
                if i > 0 {
                    assert!(*v > bound(i - 1), "bucket {i}: {v}");
                }
            }
            total += v * *n as f64;
        }
        assert!((total - sum as f64 / 1e6).abs() < 1e-5, "{total}");
        // A sum below what the buckets allow: every value at its bucket's least.
        let r = replay_buckets(&counts, 0);
        assert_eq!(r[0].0, 0.0);
        assert_eq!(r[2].0, 1_001e-6);
    }

    #[test]
    fn dns_histogram_is_published_from_worker_buckets() {
        let recorder = builder().build_recorder();
        let handle = recorder.handle();
        let mut counts = [0u64; UPSTREAM_LATENCY_BUCKETS];
        counts[1] = 4; // 0.5 .. 1 ms
        counts[3] = 1; // 2.5 .. 5 ms
        let sum = 4 * 700 + 4_000;
        metrics::with_local_recorder(&recorder, || {
            let h = histogram!(DNS_UPSTREAM_DURATION);
            for (v, n) in replay_buckets(&counts, sum) {
                if n > 0 {
                    h.record_many(v, n as usize);
                }
            }
        });
        let text = handle.render();
        assert!(
            text.contains("egress_dns_upstream_duration_seconds_bucket{le=\"0.0005\"} 0"),
            "{text}"
        );
        assert!(
            text.contains("egress_dns_upstream_duration_seconds_bucket{le=\"0.001\"} 4"),
            "{text}"
        );
        assert!(
            text.contains("egress_dns_upstream_duration_seconds_bucket{le=\"0.005\"} 5"),
            "{text}"
        );
        assert!(
            text.contains("egress_dns_upstream_duration_seconds_count 5"),
            "{text}"
        );
    }
}
