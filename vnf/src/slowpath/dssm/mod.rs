//! The dSSM client: DNS46 mappings shared by every VNF replica in a Redis master/replica set
//! behind Sentinel, over mutual TLS (CONTRACT §3, §4; `docs/dssm.md`).
//!
//! It runs on the slow path only, on its own thread with a current-thread tokio runtime
//! ([`service::start`]); workers reach it through their request/result rings
//! ([`crate::mapping`] messages). Parts:
//! - [`settings`]: where to connect (config file, then the CONTRACT §3 environment) and how.
//! - [`conn`]: master discovery (each Sentinel in turn, `SENTINEL get-master-addr-by-name`,
//!   confirmed with `ROLE`), TLS, the `+switch-master` watch.
//! - [`store`]: the data operations (atomic two-key creation in Lua, `WAIT` for replicas,
//!   lookups, manual entries, `upgrade` of legacy records, scans).
//! - [`alloc`]: this TMM's slice of the DNS46 pool, rebuilt from dSSM at start.
//! - [`service`]: the loop that drains the request rings, runs the operations pipelined and
//!   answers on the result rings; reconnects with back-off; keeps the metrics ([`stats`]).

pub mod admin;
pub mod alloc;
pub mod conn;
pub mod service;
pub mod settings;
pub mod stats;
pub mod store;
pub mod testbed;

pub use alloc::SliceAllocator;
pub use conn::{connect, Connection};
pub use service::{start, DssmHandle, MemLink, RingLink, WorkerLink};
pub use settings::{DssmSettings, TlsFiles};
pub use stats::{DssmSnapshot, DssmStats, Op, OpResult};
pub use store::{CreateOutcome, Store};

/// Installs the one rustls crypto provider of the process (ring). Idempotent; every TLS user
/// of the binary calls it before building a TLS configuration.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A dSSM failure, with enough context to act on it.
#[derive(Debug, thiserror::Error)]
pub enum DssmError {
    /// The settings are incomplete or contradictory.
    #[error("dSSM settings: {0}")]
    Settings(String),
    /// A certificate or key file could not be read or parsed.
    #[error("dSSM TLS: {0}")]
    Tls(String),
    /// No Sentinel answered with a usable master, or the master could not be reached.
    #[error("dSSM discovery: {0}")]
    Discovery(String),
    /// A connection or command failed.
    #[error("dSSM {context}: {message}")]
    Redis { context: String, message: String },
    /// The data in dSSM is not what CONTRACT §4 says.
    #[error("dSSM data: {0}")]
    Data(String),
    /// The allocator's slice is exhausted.
    #[error("dSSM: the DNS46 slice is exhausted")]
    Exhausted,
}

impl DssmError {
    /// Wraps a redis error with what we were doing and a hint for the common TLS mistakes.
    pub fn redis(context: impl Into<String>, e: &redis::RedisError) -> DssmError {
        let message = explain(e);
        DssmError::Redis {
            context: context.into(),
            message,
        }
    }
}

/// The redis error's text, plus a hint when it looks like a TLS/plaintext mismatch.
pub fn explain(e: &redis::RedisError) -> String {
    let text = e.to_string();
    let lower = text.to_ascii_lowercase();
    let hint = if lower.contains("unknownissuer") || lower.contains("unknown issuer") {
        " (the server's certificate is not signed by REDIS_CA_FILE: wrong CA?)"
    } else if lower.contains("certificaterequired") || lower.contains("certificate required") {
        " (the server requires a client certificate: set REDIS_AUTH_CERT and REDIS_AUTH_KEY)"
    } else if lower.contains("notvalidforname") || lower.contains("not valid for name") {
        " (the server's certificate does not name the address Sentinel announced)"
    } else if lower.contains("corrupt message") || lower.contains("invalidcontenttype") {
        " (the server does not speak TLS: is it a plaintext port?)"
    } else if lower.contains("connection reset")
        || lower.contains("broken pipe")
        || lower.contains("connection closed")
        || lower.contains("unexpected end")
        || lower.contains("eof")
    {
        " (the server closed the connection: it stopped, or it speaks only TLS and \
         REDIS_CA_FILE is not set)"
    } else {
        ""
    };
    format!("{text}{hint}")
}
