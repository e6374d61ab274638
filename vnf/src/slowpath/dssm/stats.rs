//! dSSM client metrics (CONTRACT §5): `egress_dssm_up`, `egress_dssm_requests_total{op,result}`,
//! `egress_dssm_failovers_total` and a latency histogram. Plain atomics written by the dSSM
//! thread and read with [`DssmStats::snapshot`] by whoever publishes metrics.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// The per-operation latency histogram of the metrics endpoint (recorded by the dSSM thread,
/// bucket bounds [`LATENCY_BUCKETS_US`]).
pub const DURATION_METRIC: &str = "egress_dssm_request_duration_seconds";

/// Operation label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Op {
    Lookup4 = 0,
    Lookup6 = 1,
    Create = 2,
    Set = 3,
    Delete = 4,
    Scan = 5,
    Upgrade = 6,
}

impl Op {
    pub const ALL: [Op; 7] = [
        Op::Lookup4,
        Op::Lookup6,
        Op::Create,
        Op::Set,
        Op::Delete,
        Op::Scan,
        Op::Upgrade,
    ];
    /// The `op` label.
    pub fn name(self) -> &'static str {
        match self {
            Op::Lookup4 => "lookup4",
            Op::Lookup6 => "lookup6",
            Op::Create => "create",
            Op::Set => "set",
            Op::Delete => "delete",
            Op::Scan => "scan",
            Op::Upgrade => "upgrade",
        }
    }
}

/// Result label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum OpResult {
    /// Found or done.
    Ok = 0,
    /// No such mapping.
    Missing = 1,
    /// Not connected: answered without asking dSSM.
    Unavailable = 2,
    /// dSSM answered with an error, timed out, or `WAIT` was not acknowledged.
    Error = 3,
    /// The slice is exhausted (creations).
    Exhausted = 4,
}

impl OpResult {
    pub const ALL: [OpResult; 5] = [
        OpResult::Ok,
        OpResult::Missing,
        OpResult::Unavailable,
        OpResult::Error,
        OpResult::Exhausted,
    ];
    /// The `result` label.
    pub fn name(self) -> &'static str {
        match self {
            OpResult::Ok => "ok",
            OpResult::Missing => "missing",
            OpResult::Unavailable => "unavailable",
            OpResult::Error => "error",
            OpResult::Exhausted => "exhausted",
        }
    }
}

/// Upper bounds of the latency buckets, microseconds (the last bucket is +Inf).
pub const LATENCY_BUCKETS_US: [u64; 14] = [
    50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000,
    1_000_000,
];

const NOPS: usize = Op::ALL.len();
const NRES: usize = OpResult::ALL.len();
const NB: usize = LATENCY_BUCKETS_US.len() + 1;

/// The live counters.
#[derive(Debug, Default)]
pub struct DssmStats {
    up: AtomicU64,
    failovers: AtomicU64,
    reconnects: AtomicU64,
    created: AtomicU64,
    result_ring_full: AtomicU64,
    requests: [[AtomicU64; NRES]; NOPS],
    latency: [AtomicU64; NB],
    latency_sum_us: AtomicU64,
}

/// A copy of the counters at one instant.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct DssmSnapshot {
    /// 1 while connected to a confirmed master.
    pub up: u64,
    /// Times the master changed (a different address after rediscovery, or `+switch-master`).
    pub failovers: u64,
    /// Successful connections after the first.
    pub reconnects: u64,
    /// Mappings created by this replica's allocator (`egress_dns46_mappings_created_total`).
    pub created: u64,
    /// Results that found a worker's result ring full (the worker's request times out).
    pub result_ring_full: u64,
    /// `(op, result, count)` for every pair.
    pub requests: Vec<(&'static str, &'static str, u64)>,
    /// Cumulative counts per bucket (`le` = bound in seconds, the last +Inf), Prometheus style.
    pub latency_buckets: Vec<(f64, u64)>,
    /// Sum of latencies, seconds.
    pub latency_sum_seconds: f64,
    /// Number of latency observations.
    pub latency_count: u64,
}

impl DssmStats {
    pub fn set_up(&self, up: bool) {
        self.up.store(up as u64, Relaxed);
    }
    pub fn is_up(&self) -> bool {
        self.up.load(Relaxed) == 1
    }
    pub fn failover(&self) {
        self.failovers.fetch_add(1, Relaxed);
    }
    pub fn reconnected(&self) {
        self.reconnects.fetch_add(1, Relaxed);
    }
    pub fn created(&self, n: u64) {
        self.created.fetch_add(n, Relaxed);
    }
    pub fn result_ring_full(&self, n: u64) {
        self.result_ring_full.fetch_add(n, Relaxed);
    }
    /// Counts one request.
    pub fn count(&self, op: Op, res: OpResult) {
        self.requests[op as usize][res as usize].fetch_add(1, Relaxed);
    }
    /// Records `n` observations of one latency.
    pub fn observe_us(&self, us: u64, n: u64) {
        let i = LATENCY_BUCKETS_US
            .iter()
            .position(|&b| us <= b)
            .unwrap_or(NB - 1);
        self.latency[i].fetch_add(n, Relaxed);
        self.latency_sum_us.fetch_add(us.saturating_mul(n), Relaxed);
    }
    /// Records the latency of a batch of requests, once per request: in these counters (all
    /// operations) and in [`DURATION_METRIC`]`{op}` of the installed metrics recorder.
    pub fn observe_batch(&self, elapsed: Duration, ops: impl IntoIterator<Item = Op>) {
        let mut per_op = [0usize; NOPS];
        for op in ops {
            per_op[op as usize] += 1;
        }
        let total: usize = per_op.iter().sum();
        if total == 0 {
            return;
        }
        self.observe_us(elapsed.as_micros() as u64, total as u64);
        let secs = elapsed.as_secs_f64();
        for op in Op::ALL {
            let n = per_op[op as usize];
            if n > 0 {
                metrics::histogram!(DURATION_METRIC, "op" => op.name()).record_many(secs, n);
            }
        }
    }
    /// Count of one (op, result) pair.
    pub fn requests(&self, op: Op, res: OpResult) -> u64 {
        self.requests[op as usize][res as usize].load(Relaxed)
    }

    pub fn snapshot(&self) -> DssmSnapshot {
        let mut requests = Vec::with_capacity(NOPS * NRES);
        for op in Op::ALL {
            for r in OpResult::ALL {
                requests.push((op.name(), r.name(), self.requests(op, r)));
            }
        }
        let mut cum = 0;
        let mut latency_buckets = Vec::with_capacity(NB);
        for i in 0..NB {
            cum += self.latency[i].load(Relaxed);
            let le = LATENCY_BUCKETS_US
                .get(i)
                .map_or(f64::INFINITY, |&b| b as f64 / 1e6);
            latency_buckets.push((le, cum));
        }
        DssmSnapshot {
            up: self.up.load(Relaxed),
            failovers: self.failovers.load(Relaxed),
            reconnects: self.reconnects.load(Relaxed),
            created: self.created.load(Relaxed),
            result_ring_full: self.result_ring_full.load(Relaxed),
            requests,
            latency_buckets,
            latency_sum_seconds: self.latency_sum_us.load(Relaxed) as f64 / 1e6,
            latency_count: cum,
        }
    }
}

impl DssmSnapshot {
    /// Count of one (op, result) label pair.
    pub fn requests(&self, op: Op, res: OpResult) -> u64 {
        self.requests
            .iter()
            .find(|(o, r, _)| *o == op.name() && *r == res.name())
            .map_or(0, |t| t.2)
    }

    /// The latency under which a share `q` (0..1) of the observations fall, as the upper bound
    /// of the bucket (seconds; +Inf when in the last bucket; 0 when empty).
    pub fn latency_quantile(&self, q: f64) -> f64 {
        if self.latency_count == 0 {
            return 0.0;
        }
        let target = (q * self.latency_count as f64).ceil() as u64;
        self.latency_buckets
            .iter()
            .find(|(_, c)| *c >= target.max(1))
            .map_or(f64::INFINITY, |(le, _)| *le)
    }

    /// Prometheus text lines for these metrics (`egress_dssm_*`).
    pub fn prometheus(&self) -> String {
        let mut s = String::new();
        s.push_str("# TYPE egress_dssm_up gauge\n");
        s.push_str(&format!("egress_dssm_up {}\n", self.up));
        s.push_str("# TYPE egress_dssm_requests_total counter\n");
        for (op, r, n) in &self.requests {
            s.push_str(&format!(
                "egress_dssm_requests_total{{op=\"{op}\",result=\"{r}\"}} {n}\n"
            ));
        }
        s.push_str("# TYPE egress_dssm_failovers_total counter\n");
        s.push_str(&format!("egress_dssm_failovers_total {}\n", self.failovers));
        s.push_str("# TYPE egress_dssm_request_duration_seconds histogram\n");
        for (le, c) in &self.latency_buckets {
            let le = if le.is_infinite() {
                "+Inf".to_string()
            } else {
                format!("{le}")
            };
            s.push_str(&format!(
                "egress_dssm_request_duration_seconds_bucket{{le=\"{le}\"}} {c}\n"
            ));
        }
        s.push_str(&format!(
            "egress_dssm_request_duration_seconds_sum {}\negress_dssm_request_duration_seconds_count {}\n",
            self.latency_sum_seconds, self.latency_count
        ));
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_histogram() {
        let s = DssmStats::default();
        s.set_up(true);
        s.count(Op::Create, OpResult::Ok);
        s.count(Op::Create, OpResult::Ok);
        s.count(Op::Lookup4, OpResult::Unavailable);
        s.observe_us(80, 3);
        s.observe_us(2_000_000, 1);
        let snap = s.snapshot();
        assert_eq!(snap.up, 1);
        assert_eq!(snap.requests(Op::Create, OpResult::Ok), 2);
        assert_eq!(snap.requests(Op::Lookup4, OpResult::Unavailable), 1);
        assert_eq!(snap.latency_count, 4);
        assert_eq!(snap.latency_quantile(0.5), 100e-6);
        assert!(snap.latency_quantile(0.99).is_infinite());
        let text = snap.prometheus();
        assert!(text.contains("egress_dssm_requests_total{op=\"create\",result=\"ok\"} 2"));
        assert!(text.contains("egress_dssm_request_duration_seconds_bucket{le=\"+Inf\"} 4"));
    }
}
