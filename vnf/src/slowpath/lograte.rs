//! Rate-limited logging for the slow path: one line per error condition per interval.
//!
//! The first occurrence of a condition (a key such as `port 1.1 rx_dropped`) is logged at once;
//! later ones within [`INTERVAL`] are only counted, and the next line after the interval says
//! how many were suppressed. [`ErrorWatch`] applies this to the counters that signal trouble
//! (ports dropping or failing, TX queues full, NAT port exhaustion, upstream DNS timeouts,
//! mapping requests refused): it is run once a second by the slow path and logs the increases.
//! The data path never logs.

use super::commands::State;
use super::stats::PortReport;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Shortest time between two lines of one condition.
pub const INTERVAL: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy)]
struct Condition {
    last: Instant,
    suppressed: u64,
}

/// Decides, per condition, whether a line may be logged now.
#[derive(Debug)]
pub struct LogLimiter {
    interval: Duration,
    conditions: HashMap<String, Condition>,
}

impl LogLimiter {
    pub fn new(interval: Duration) -> LogLimiter {
        LogLimiter {
            interval,
            conditions: HashMap::new(),
        }
    }

    /// An occurrence of `key` at `now`: `Some(suppressed)` when a line should be logged (with
    /// the number of occurrences swallowed since the last line), `None` when it is counted only.
    pub fn allow(&mut self, key: &str, now: Instant) -> Option<u64> {
        match self.conditions.get_mut(key) {
            Some(c) if now.duration_since(c.last) < self.interval => {
                c.suppressed += 1;
                None
            }
            Some(c) => {
                let n = c.suppressed;
                *c = Condition {
                    last: now,
                    suppressed: 0,
                };
                Some(n)
            }
            None => {
                self.conditions.insert(
                    key.to_string(),
                    Condition {
                        last: now,
                        suppressed: 0,
                    },
                );
                Some(0)
            }
        }
    }
}

static GLOBAL: Mutex<Option<LogLimiter>> = Mutex::new(None);

/// Logs `msg` at `level` for condition `key`, at most once per [`INTERVAL`], with the count of
/// the occurrences suppressed in between. Slow path only (takes a mutex).
pub fn log_limited(level: log::Level, key: &str, msg: std::fmt::Arguments<'_>) {
    let allowed = {
        let mut g = GLOBAL.lock().unwrap_or_else(|p| p.into_inner());
        g.get_or_insert_with(|| LogLimiter::new(INTERVAL))
            .allow(key, Instant::now())
    };
    match allowed {
        Some(0) => log::log!(level, "{msg}"),
        Some(n) => log::log!(level, "{msg} ({n} more since the last report)"),
        None => {}
    }
}

/// `warn_limited!("key", "format", args...)`: a warning through [`log_limited`].
#[macro_export]
macro_rules! warn_limited {
    ($key:expr, $($arg:tt)+) => {
        $crate::slowpath::lograte::log_limited(log::Level::Warn, $key, format_args!($($arg)+))
    };
}

/// Watches the error counters and logs their increases, rate limited per condition.
#[derive(Debug)]
pub struct ErrorWatch {
    limiter: LogLimiter,
    /// Last value read, per condition.
    seen: HashMap<String, u64>,
    /// Increase not reported yet (suppressed lines), per condition.
    pending: HashMap<String, u64>,
}

impl Default for ErrorWatch {
    fn default() -> Self {
        ErrorWatch::new(INTERVAL)
    }
}

impl ErrorWatch {
    pub fn new(interval: Duration) -> ErrorWatch {
        ErrorWatch {
            limiter: LogLimiter::new(interval),
            seen: HashMap::new(),
            pending: HashMap::new(),
        }
    }

    /// One reading of counter `key` (cumulative). Returns the line to log, if any: the first
    /// reading only sets the baseline.
    pub fn observe(&mut self, key: &str, value: u64, what: &str, now: Instant) -> Option<String> {
        let prev = self.seen.insert(key.to_string(), value)?;
        let delta = value.saturating_sub(prev);
        if delta == 0 {
            return None;
        }
        let pending = self.pending.entry(key.to_string()).or_insert(0);
        *pending += delta;
        self.limiter.allow(key, now)?;
        let n = std::mem::take(pending);
        Some(format!("{key}: {n} {what}"))
    }

    /// Reads every error counter of the VNF and logs what increased.
    pub fn run(&mut self, state: &State) {
        let now = Instant::now();
        let mut lines = Vec::new();
        for p in &state.ports {
            let r = PortReport::read(p);
            let port = format!("port {}", r.port);
            lines.extend(self.observe(
                &format!("{port} rx_dropped"),
                r.rx_missed + r.rx_nombuf,
                "packets dropped on receive (RX ring full or no mbuf: workers too slow or pool too small)",
                now,
            ));
            lines.extend(self.observe(
                &format!("{port} rx_errors"),
                r.rx_errors,
                "receive errors",
                now,
            ));
            lines.extend(self.observe(
                &format!("{port} tx_errors"),
                r.tx_errors,
                "transmit errors",
                now,
            ));
        }
        for r in state.lcore_reports() {
            lines.extend(self.observe(
                &format!("lcore {} tx_dropped", r.lcore),
                r.counters.tx_dropped,
                "packets dropped on transmit (TX queue full)",
                now,
            ));
        }
        if !state.features.is_empty() {
            let t = state.feature_totals();
            let failures: u64 = t.nat.alloc_failures.iter().sum();
            lines.extend(self.observe(
                "nat port allocation",
                failures,
                "new flows refused (no address, ports exhausted, pod quota or table full; see egress_nat_port_alloc_failures_total)",
                now,
            ));
            lines.extend(self.observe(
                "dns upstream",
                t.dns.upstream_timeouts,
                "upstream DNS queries timed out",
                now,
            ));
            lines.extend(self.observe(
                "dns46 mapping requests",
                t.mapping.outbox_full,
                "mapping requests refused (queue to the mapping service full)",
                now,
            ));
        }
        for l in lines {
            log::warn!("{l}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_condition_per_interval() {
        let mut l = LogLimiter::new(Duration::from_secs(10));
        let t0 = Instant::now();
        assert_eq!(l.allow("a", t0), Some(0));
        assert_eq!(
            l.allow("b", t0),
            Some(0),
            "another condition is independent"
        );
        for i in 1..=5 {
            assert_eq!(l.allow("a", t0 + Duration::from_secs(i)), None);
        }
        assert_eq!(l.allow("a", t0 + Duration::from_secs(10)), Some(5));
        assert_eq!(l.allow("a", t0 + Duration::from_secs(11)), None);
        assert_eq!(l.allow("a", t0 + Duration::from_secs(30)), Some(1));
    }

    #[test]
    fn watch_reports_increases_with_the_suppressed_total() {
        let mut w = ErrorWatch::new(Duration::from_secs(10));
        let t0 = Instant::now();
        let s = |n| t0 + Duration::from_secs(n);
        assert_eq!(
            w.observe("port 1.1 rx_dropped", 100, "drops", s(0)),
            None,
            "baseline"
        );
        assert_eq!(w.observe("port 1.1 rx_dropped", 100, "drops", s(1)), None);
        assert_eq!(
            w.observe("port 1.1 rx_dropped", 103, "drops", s(2))
                .as_deref(),
            Some("port 1.1 rx_dropped: 3 drops")
        );
        assert_eq!(w.observe("port 1.1 rx_dropped", 110, "drops", s(3)), None);
        assert_eq!(w.observe("port 1.1 rx_dropped", 120, "drops", s(5)), None);
        assert_eq!(
            w.observe("port 1.1 rx_dropped", 121, "drops", s(12))
                .as_deref(),
            Some("port 1.1 rx_dropped: 18 drops"),
            "everything since the last line"
        );
    }
}
