//! The benchmark paths. A path is a name, a generator for its input capture and the
//! configuration tables that make the VNF take that path; adding a path means adding an entry
//! to [`PATHS`].

use crate::gen::{self, GenParams};

/// Settings the runner passes to a path's configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PathEnv {
    pub workers: u16,
}

/// One benchmark path.
#[derive(Debug)]
pub struct PathSpec {
    /// Name used by `--paths` and in the results.
    pub name: &'static str,
    pub summary: &'static str,
    /// Builds the frames of the input capture.
    pub generate: fn(&GenParams) -> Vec<Vec<u8>>,
    /// TOML tables of the VNF configuration other than `eal` and `[control]`.
    pub config: fn(&PathEnv) -> String,
    /// Sessions the VNF holds in steady state on this input.
    pub sessions: fn(&GenParams) -> u64,
    /// Port (by contract name) whose `tx_packets` count the forwarded packets.
    pub tx_port: &'static str,
}

fn bridge_config(env: &PathEnv) -> String {
    format!(
        "[dataplane]\nmode = \"bridge\"      # port 1.1 <-> port 1.2\nworkers = {}\n",
        env.workers
    )
}

/// Every path the runner knows how to measure.
pub const PATHS: &[PathSpec] = &[PathSpec {
    name: "bridge",
    summary: "L2 bridge 1.1 -> 1.2, 64-byte UDP/IPv4 frames",
    generate: gen::bridge,
    config: bridge_config,
    sessions: |_| 0,
    tx_port: "1.2",
}];

/// Paths of the performance plan that have no generator yet.
pub const PLANNED: &[&str] = &[
    "snat44-established",
    "snat66",
    "nat46-established",
    "nat64-established",
    "snat-new-flows",
    "dns-cache-hits",
    "dns46-new-mappings",
];

/// Looks a path up by name.
pub fn find(name: &str) -> Result<&'static PathSpec, String> {
    if let Some(p) = PATHS.iter().find(|p| p.name == name) {
        return Ok(p);
    }
    if PLANNED.contains(&name) {
        return Err(format!("path `{name}` is planned but has no generator yet"));
    }
    let known: Vec<&str> = PATHS.iter().map(|p| p.name).collect();
    Err(format!(
        "unknown path `{name}` (known: {})",
        known.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup() {
        assert_eq!(find("bridge").unwrap().name, "bridge");
        assert!(find("snat66").unwrap_err().contains("planned"));
        assert!(find("nope").unwrap_err().contains("unknown"));
    }

    #[test]
    fn bridge_config_selects_bridge_mode() {
        let c = (find("bridge").unwrap().config)(&PathEnv { workers: 1 });
        assert!(c.contains("mode = \"bridge\""));
        assert!(c.contains("workers = 1"));
    }
}
