//! Helpers for the end-to-end tests of egress-vnf.
//!
//! Every end-to-end test of the project builds on these pieces:
//!
//! - [`netns`]: network namespaces and veth pairs with unique, short names, removed on `Drop`,
//!   and [`netns::BridgeTopology`], two peer namespaces joined through the VNF's namespace.
//! - [`hugepages::HugepageGuard`]: reserves 2 MiB hugepages and restores the previous setting.
//! - [`process::ChildGuard`]: a child process with its output in files, stopped by pid
//!   (SIGINT, then SIGKILL after a timeout).
//! - [`vnf`]: starts `target/release/egress-vnf` with a generated TOML config, waits until it
//!   forwards, stops it with SIGINT and parses its final statistics.
//! - [`pcap`]: a small reader and writer of classic libpcap files (Ethernet link type).
//! - [`dns_server`]: a real authoritative DNS server (`knotd`) in a namespace, with the zone
//!   of the DNS46/DNS64 tests, stopped by pid.
//! - [`snat`]: the UDP echo server and many-flow client, HTTP server and packet capture of
//!   the SNAT tests.
//! - [`frames`]: builders of test frames with correct checksums.
//! - [`tshark`]: an independent oracle that decodes a pcap and reports malformed packets and
//!   bad checksums.
//!
//! Tests that touch the network or hugepages need root and call [`require_root`], which fails
//! (never skips) when the test does not run as root: CI runs as root. They also take
//! [`serial`], and `make test` runs them with `--test-threads=1`.
//!
//! Names of everything a test creates (namespaces, interfaces, DPDK file prefixes) carry the
//! test process id and a counter, so that runs never collide and leftovers of a killed run can be
//! recognised (see [`netns::reap_stale_namespaces`]).

pub mod cmd;
pub mod dedicated;
pub mod dns_server;
pub mod egress;
pub mod frames;
pub mod hugepages;
pub mod netns;
pub mod pcap;
pub mod process;
pub mod snat;
pub mod tshark;
pub mod vnf;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, MutexGuard};

static COUNTER: AtomicU32 = AtomicU32::new(0);
static SERIAL: Mutex<()> = Mutex::new(());

/// Fails the test unless it runs as root (network namespaces, veths, hugepages and DPDK need it).
pub fn require_root() {
    assert!(
        rustix::process::geteuid().is_root(),
        "this end-to-end test needs root (network namespaces, veth pairs, hugepages, DPDK); \
         CI runs as root. Run it as root: `cargo test -p egress-tests -- --test-threads=1`"
    );
}

/// Serialises the end-to-end tests of one test binary even when the harness runs several
/// threads. A test that panicked while holding the lock does not poison the others.
pub fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// A short identifier unique to this process and call: `<pid>x<counter>` (at most 11 chars for
/// pids below 2^22 and counters below 1000).
pub fn unique_id() -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{}x{}", std::process::id(), n)
}

/// A DPDK `--file-prefix` unique to this process and call.
pub fn unique_file_prefix() -> String {
    format!("egt{}", unique_id())
}

/// The workspace root (the parent of this crate's directory).
pub fn workspace_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(PathBuf::from).unwrap_or(manifest)
}

/// A fresh temporary directory for one test's files (configs, pcaps, logs). It is removed on
/// drop unless `EGRESS_TESTS_KEEP=1` is set.
pub fn test_dir(label: &str) -> anyhow::Result<tempfile::TempDir> {
    let mut dir = tempfile::Builder::new()
        .prefix(&format!("egress-{label}-"))
        .tempdir()?;
    if std::env::var_os("EGRESS_TESTS_KEEP").is_some_and(|v| v == "1") {
        dir.disable_cleanup(true);
        eprintln!("keeping {}", dir.path().display());
    }
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_ids_differ_and_are_short() {
        let a = unique_id();
        let b = unique_id();
        assert_ne!(a, b);
        assert!(a.len() <= 12, "{a}");
        assert!(unique_file_prefix().starts_with("egt"));
    }

    #[test]
    fn workspace_root_has_the_workspace_manifest() {
        let text = std::fs::read_to_string(workspace_root().join("Cargo.toml")).unwrap();
        assert!(text.contains("[workspace]"));
    }
}
