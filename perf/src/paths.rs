//! The benchmark paths. A path is a name, a generator for its input capture and the
//! configuration tables that make the VNF take that path; adding a path means adding an entry
//! to [`PATHS`].

use crate::gen::{self, topo, GenParams};
use std::fmt::Write;

/// Settings the runner passes to a path's configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PathEnv {
    pub workers: u16,
    /// Distinct flows of the capture.
    pub flows: usize,
    /// Frames of the capture (each holds an mbuf for the whole run: `dataplane.mbufs`).
    pub frames: usize,
}

/// What port 1.2 is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Port2 {
    /// `net_null,no-rx=1`: a sink that counts (bridge).
    Null,
    /// `net_pcap` replaying once, at start, the gateway's ARP reply and NDP messages
    /// ([`gen::neighbours`]), then receiving nothing; its TX side counts and drops. The VNF's
    /// neighbour entries are REACHABLE for 30 s (RFC 4861 REACHABLE_TIME), then probed and,
    /// without answer, removed: the warm-up and measured window must end before that.
    Neighbours,
    /// `net_af_packet` on a veth into a namespace running `knotd` (the DNS paths' upstream);
    /// the VNF and testpmd run in a namespace holding the other end.
    Upstream,
}

/// How long a [`Port2::Neighbours`] run may last from the VNF's start: the gateway's entries
/// stay usable for REACHABLE_TIME (30 s) plus three unanswered probes.
pub const NEIGHBOUR_RUN_LIMIT_SECONDS: u64 = 28;

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
    /// Sessions the VNF holds in steady state on this input (the measured value, from the
    /// VNF's virtual-server counters, is reported beside it).
    pub sessions: fn(&GenParams) -> u64,
    /// Port (by contract name) whose `tx_packets` count the forwarded packets.
    pub tx_port: &'static str,
    pub port2: Port2,
    /// Virtual server (`show vs stats`) whose connections the path creates.
    pub vs: Option<&'static str>,
    /// The figure of merit is new connections per second (every packet a new flow).
    pub new_flows: bool,
    /// The figure of merit is new DNS46 mappings per second (the upstream synthesizes an
    /// AAAA-only name for every query; [`Port2::Upstream`] only).
    pub dns46: bool,
    /// Flows of the capture unless `--flows` says otherwise.
    pub default_flows: usize,
    /// Frames of the capture when more than the flows: the flows are repeated, in the same
    /// order, until the capture holds this many (0: each flow once). Lets a path with few
    /// sessions replay a capture as large as a path with many, so that the two differ only
    /// in their session count and not in the I/O cost of the capture.
    pub capture_frames: usize,
}

/// The frames of `path`'s capture: its generator's, repeated to [`PathSpec::capture_frames`].
pub fn capture(path: &PathSpec, p: &GenParams) -> Vec<Vec<u8>> {
    let once = (path.generate)(p);
    if path.capture_frames <= once.len() || once.is_empty() {
        return once;
    }
    once.iter()
        .cycle()
        .take(path.capture_frames)
        .cloned()
        .collect()
}

fn bridge_config(env: &PathEnv) -> String {
    format!(
        "[dataplane]\nmode = \"bridge\"      # port 1.1 <-> port 1.2\nworkers = {}\n",
        env.workers
    )
}

/// mbufs for a capture of `frames` frames: net_pcap's `infinite_rx` keeps one mbuf per frame
/// of the capture for the whole run, on top of the descriptors and caches.
pub fn mbufs_for(frames: usize) -> usize {
    (frames + 32 * 1024).max(16383)
}

/// Session-table capacity per worker: the default 1 Mi, or twice the flows when more.
pub fn capacity_for(flows: usize) -> usize {
    (1usize << 20).max((2 * flows).next_power_of_two())
}

/// SNAT addresses for `flows` flows from 4096 pods (paired pooling puts each pod on one
/// address): one per 16 Ki flows, 1..=64, so no address runs out of its 64 512 ports.
pub fn snat_addresses(flows: usize) -> usize {
    flows.div_ceil(16 * 1024).clamp(1, 64)
}

/// Options of an egress-mode path.
#[derive(Debug, Clone, Copy, Default)]
struct Egress {
    dual_stack: bool,
    nat46: bool,
    nat64: bool,
    /// UDP idle timeout and port reuse delay (seconds) for the new-flow regime.
    short_timeouts: bool,
    /// DNS proxy and cache forwarding everything to the upstream.
    dns: bool,
    /// DNS46 (`[nat46]` with the 1 Mi pool [`topo::DNS46_SUBNET`], no static mapping).
    dns46: bool,
}

/// The common egress topology (`gen::topo`): VLAN `internal` on 1.1, VLAN `external` on 1.2,
/// default routes via the gateway, SNAT pools sized for the flows.
fn egress_config(env: &PathEnv, e: Egress) -> String {
    let mut c = String::new();
    let _ = write!(
        c,
        "[dataplane]\nmode = \"egress\"\nworkers = {}\nmbufs = {}\n\n",
        env.workers,
        mbufs_for(env.frames)
    );
    let _ = write!(
        c,
        "[[vlans]]\nname = \"internal\"\ninterfaces = [\"1.1\"]\ninternal = true\n\
         self_v4 = \"{}\"\nprefixlen_v4 = {}\nself_v6 = \"{}\"\nprefixlen_v6 = 64\n\n",
        topo::INTERNAL_SELF4,
        topo::INTERNAL_PREFIX4,
        topo::INTERNAL_SELF6
    );
    let _ = write!(
        c,
        "[[vlans]]\nname = \"external\"\ninterfaces = [\"1.2\"]\n\
         self_v4 = \"{}\"\nprefixlen_v4 = {}\nself_v6 = \"{}\"\nprefixlen_v6 = 64\n\n",
        topo::EXTERNAL_SELF4,
        topo::EXTERNAL_PREFIX4,
        topo::EXTERNAL_SELF6
    );
    let _ = write!(
        c,
        "[[routes]]\ndestination = \"0.0.0.0\"\nprefix_len = 0\ngateway = \"{}\"\n\n\
         [[routes]]\ndestination = \"::\"\nprefix_len = 0\ngateway = \"{}\"\n\n",
        topo::GATEWAY4,
        topo::GATEWAY6
    );
    let n = snat_addresses(env.flows);
    let pool4: Vec<String> = (0..n).map(|i| format!("\"{}\"", topo::snat4(i))).collect();
    let pool6: Vec<String> = (0..n).map(|i| format!("\"{}\"", topo::snat6(i))).collect();
    let _ = write!(
        c,
        "[snat]\npool_v4 = [{}]\npool_v6 = [{}]\ndual_stack = {}\nsessions_per_worker = {}\n\n",
        pool4.join(", "),
        pool6.join(", "),
        e.dual_stack,
        capacity_for(env.flows)
    );
    if e.short_timeouts {
        c.push_str(
            "[snat.timeouts]\n# every flow of the capture idles out before the capture comes round again\n\
             udp = 1\nport_reuse_delay = 0\n\n",
        );
    }
    if e.nat46 {
        let _ = write!(
            c,
            "[nat46]\nenabled = true\nipv4_subnet = \"{}\"\nmax_reserved_static_ips = 16\n\
             static_mappings = [{{ ipv4 = \"{}\", ipv6 = \"{}\" }}]\n\n",
            topo::NAT46_SUBNET,
            topo::NAT46_MAPPED,
            topo::SERVER6
        );
    }
    if e.dns46 {
        let _ = write!(
            c,
            "[nat46]\nenabled = true\nipv4_subnet = \"{}\"\nmax_reserved_static_ips = 16\n\n",
            topo::DNS46_SUBNET
        );
    }
    if e.dns {
        let _ = write!(
            c,
            "[dns]\nenabled = true\npool_ips = [\"{up}\"]\ncache_entries = {}\n\n\
             [[dns.forward_zones]]\nzone = \".\"\nservers = [\"{up}:53\"]\n\n",
            (2 * env.flows).next_power_of_two().max(65536),
            up = topo::UPSTREAM_DNS
        );
    }
    if e.nat64 {
        let _ = write!(
            c,
            "[nat64]\nenabled = true\nprefix = \"{}/96\"\n\n",
            topo::NAT64_PREFIX
        );
    }
    c
}

fn snat44_config(env: &PathEnv) -> String {
    egress_config(env, Egress::default())
}

fn snat66_config(env: &PathEnv) -> String {
    egress_config(
        env,
        Egress {
            dual_stack: true,
            ..Egress::default()
        },
    )
}

fn nat46_config(env: &PathEnv) -> String {
    egress_config(
        env,
        Egress {
            dual_stack: true,
            nat46: true,
            ..Egress::default()
        },
    )
}

fn nat64_config(env: &PathEnv) -> String {
    egress_config(
        env,
        Egress {
            nat64: true,
            ..Egress::default()
        },
    )
}

fn new_flows_config(env: &PathEnv) -> String {
    egress_config(
        env,
        Egress {
            short_timeouts: true,
            ..Egress::default()
        },
    )
}

fn dns_cache_config(env: &PathEnv) -> String {
    egress_config(
        env,
        Egress {
            dns: true,
            ..Egress::default()
        },
    )
}

fn dns46_config(env: &PathEnv) -> String {
    egress_config(
        env,
        Egress {
            dns: true,
            dns46: true,
            ..Egress::default()
        },
    )
}

fn flows(p: &GenParams) -> u64 {
    p.flows.max(1) as u64
}

/// Default flows of the new-flow path: below 1 Mi new flows/s and with a 1 s UDP timeout, a
/// replay of 1 Mi distinct flows takes longer than the timeout, so every packet finds its
/// previous session expired (the runner reports the share of packets that opened a flow).
/// Each frame of the capture holds an mbuf (about 2.5 KB): 1 Mi frames need about 3 GB on
/// each side of the run.
pub const NEW_FLOWS_DEFAULT: usize = 1 << 20;

/// Default names of the DNS46 path: the measured window must end long before every name has
/// been mapped once (a mapped name is answered from the cache afterwards); the runner reports
/// the share of the names mapped by the end of each run. Each frame holds an mbuf, as for
/// [`NEW_FLOWS_DEFAULT`].
pub const DNS46_DEFAULT: usize = 1 << 20;

/// Every path the runner knows how to measure.
pub const PATHS: &[PathSpec] = &[
    PathSpec {
        name: "bridge",
        summary: "L2 bridge 1.1 -> 1.2, 64-byte UDP/IPv4 frames",
        generate: gen::bridge,
        config: bridge_config,
        sessions: |_| 0,
        tx_port: "1.2",
        port2: Port2::Null,
        vs: None,
        new_flows: false,
        dns46: false,
        default_flows: 1024,
        capture_frames: 0,
    },
    PathSpec {
        name: "snat44-established",
        summary: "SNAT44 of established UDP flows, pods 1.1 -> outside 1.2",
        generate: gen::snat44,
        config: snat44_config,
        sessions: flows,
        tx_port: "1.2",
        port2: Port2::Neighbours,
        vs: Some("egress-ipv4"),
        new_flows: false,
        dns46: false,
        default_flows: 1024,
        capture_frames: 0,
    },
    PathSpec {
        name: "snat44-established-1m",
        summary: "SNAT44 of 1 Mi established UDP flows (session-table scale), 1.1 -> 1.2",
        generate: gen::snat44,
        config: snat44_config,
        sessions: flows,
        tx_port: "1.2",
        port2: Port2::Neighbours,
        vs: Some("egress-ipv4"),
        new_flows: false,
        dns46: false,
        default_flows: 1 << 20,
        capture_frames: 0,
    },
    PathSpec {
        name: "snat44-established-1k-1mframes",
        summary: "SNAT44 of 1 Ki established UDP flows repeated into a 1 Mi-frame capture (the I/O of the 1m path)",
        generate: gen::snat44,
        config: snat44_config,
        sessions: flows,
        tx_port: "1.2",
        port2: Port2::Neighbours,
        vs: Some("egress-ipv4"),
        new_flows: false,
        dns46: false,
        default_flows: 1024,
        capture_frames: 1 << 20,
    },
    PathSpec {
        name: "snat66",
        summary: "SNAT66 (dual_stack) of established UDP/IPv6 flows, 1.1 -> 1.2",
        generate: gen::snat66,
        config: snat66_config,
        sessions: flows,
        tx_port: "1.2",
        port2: Port2::Neighbours,
        vs: Some("egress-ipv6"),
        new_flows: false,
        dns46: false,
        default_flows: 1024,
        capture_frames: 0,
    },
    PathSpec {
        name: "nat46-established",
        summary: "NAT46 via a static mapping, established UDP flows, IPv4 1.1 -> IPv6 1.2",
        generate: gen::nat46,
        config: nat46_config,
        sessions: flows,
        tx_port: "1.2",
        port2: Port2::Neighbours,
        vs: Some("egress-ipv4-nat46"),
        new_flows: false,
        dns46: false,
        default_flows: 1024,
        capture_frames: 0,
    },
    PathSpec {
        name: "nat64-established",
        summary: "NAT64 (RFC 6052 /96), established UDP flows, IPv6 1.1 -> IPv4 1.2",
        generate: gen::nat64,
        config: nat64_config,
        sessions: flows,
        tx_port: "1.2",
        port2: Port2::Neighbours,
        vs: Some("egress-ipv6-nat64"),
        new_flows: false,
        dns46: false,
        default_flows: 1024,
        capture_frames: 0,
    },
    PathSpec {
        name: "snat-new-flows",
        summary: "SNAT44, every packet a new UDP flow (1 s UDP timeout, no port reuse delay)",
        generate: gen::snat44,
        config: new_flows_config,
        sessions: flows,
        tx_port: "1.2",
        port2: Port2::Neighbours,
        vs: Some("egress-ipv4"),
        new_flows: true,
        dns46: false,
        default_flows: NEW_FLOWS_DEFAULT,
        capture_frames: 0,
    },
    PathSpec {
        name: "dns-cache-hits",
        summary: "DNS cache hits: A queries for cached names answered on 1.1 (knotd upstream)",
        generate: gen::dns_queries,
        config: dns_cache_config,
        sessions: |_| 0,
        tx_port: "1.1",
        port2: Port2::Upstream,
        vs: None,
        new_flows: false,
        dns46: false,
        default_flows: 1024,
        capture_frames: 0,
    },
    PathSpec {
        name: "dns46-new-mappings",
        summary: "DNS46 misses: A queries for distinct AAAA-only names, each a new mapping (knotd upstream)",
        generate: gen::dns46_queries,
        config: dns46_config,
        sessions: |_| 0,
        tx_port: "1.1",
        port2: Port2::Upstream,
        vs: None,
        new_flows: false,
        dns46: true,
        default_flows: DNS46_DEFAULT,
        capture_frames: 0,
    },
];

/// Paths of the performance plan that have no generator yet (see perf/README.md).
pub const PLANNED: &[&str] = &[];

/// Looks a path up by name.
pub fn find(name: &str) -> Result<&'static PathSpec, String> {
    if let Some(p) = PATHS.iter().find(|p| p.name == name) {
        return Ok(p);
    }
    if PLANNED.contains(&name) {
        return Err(format!(
            "path `{name}` is planned but not implemented yet (perf/README.md)"
        ));
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
    use egress_config::VnfConfig;
    use std::path::Path;

    #[test]
    fn lookup() {
        assert_eq!(find("bridge").unwrap().name, "bridge");
        assert_eq!(find("snat66").unwrap().name, "snat66");
        assert!(find("dns46-new-mappings").unwrap().dns46);
        assert!(find("nope").unwrap_err().contains("unknown"));
    }

    #[test]
    fn bridge_config_selects_bridge_mode() {
        let c = (find("bridge").unwrap().config)(&PathEnv {
            workers: 1,
            flows: 1024,
            frames: 1024,
        });
        assert!(c.contains("mode = \"bridge\""));
        assert!(c.contains("workers = 1"));
    }

    /// Every path's configuration is accepted by the VNF's own parser and validation, with the
    /// tables each path needs.
    #[test]
    fn every_config_validates() {
        for p in PATHS {
            for flows in [1024, NEW_FLOWS_DEFAULT] {
                let env = PathEnv {
                    workers: 1,
                    flows,
                    frames: flows,
                };
                let text = crate::vnf::config(&[], &(p.config)(&env), "/tmp/x.sock");
                let cfg = VnfConfig::from_toml_str(&text, Path::new("bench.toml"))
                    .unwrap_or_else(|e| panic!("{}: {e}\n{text}", p.name));
                if p.port2 == Port2::Neighbours {
                    assert!(cfg.dataplane.mbufs as usize >= flows, "{}", p.name);
                    assert!(cfg.snat.sessions_per_worker as usize >= 2 * flows);
                }
            }
        }
        let n = |name| {
            (find(name).unwrap().config)(&PathEnv {
                workers: 1,
                flows: 1024,
                frames: 1024,
            })
        };
        assert!(n("snat66").contains("dual_stack = true"));
        assert!(n("nat46-established").contains("static_mappings"));
        assert!(n("nat64-established").contains("[nat64]"));
        assert!(n("snat-new-flows").contains("udp = 1"));
        assert!(n("dns-cache-hits").contains("[[dns.forward_zones]]"));
        assert!(!n("dns-cache-hits").contains("[nat46]"));
        let d = n("dns46-new-mappings");
        assert!(
            d.contains("[[dns.forward_zones]]") && d.contains("ipv4_subnet = \"100.64.0.0/12\"")
        );
        // The pool holds a mapping for every name of the default capture but the reserved ones.
        let cfg = VnfConfig::from_toml_str(
            &crate::vnf::config(&[], &d, "/tmp/x.sock"),
            Path::new("bench.toml"),
        )
        .unwrap();
        let (first, last) = cfg.nat46_slice().unwrap();
        assert!(u32::from(last) - u32::from(first) + 1 + 64 >= DNS46_DEFAULT as u32);
    }

    #[test]
    fn pools_grow_with_flows() {
        assert_eq!(snat_addresses(1024), 1);
        assert_eq!(snat_addresses(1 << 20), 64);
        assert_eq!(capacity_for(1024), 1 << 20);
        assert_eq!(capacity_for(NEW_FLOWS_DEFAULT), 2 << 20);
    }

    #[test]
    fn the_1k_scale_baseline_repeats_its_flows_into_as_many_frames_as_the_1m_path() {
        let small = find("snat44-established-1k-1mframes").unwrap();
        let big = find("snat44-established-1m").unwrap();
        let g = |flows| GenParams {
            flows,
            ..GenParams::default()
        };
        let frames = capture(small, &g(small.default_flows));
        assert_eq!(frames.len(), big.default_flows);
        assert_eq!(frames.len(), small.capture_frames);
        // The same 1 Ki flows, in the same order, over and over.
        let once = (small.generate)(&g(1024));
        assert_eq!(frames[..1024], once[..]);
        assert_eq!(frames[1024 * 1000..1024 * 1001], once[..]);
        let mut distinct = frames.clone();
        distinct.sort();
        distinct.dedup();
        assert_eq!(distinct.len(), 1024);
        // Paths without the knob: each flow once.
        assert_eq!(capture(big, &g(5000)).len(), 5000);
    }
}
