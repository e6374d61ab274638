//! The command language of the control socket, `egressctl` and `egress-vnf -i` (testpmd-style
//! words, CONTRACT §1). Each command returns aligned text and the same data as JSON.

use super::stats::{table, LcoreReport, PortReport};
use crate::datapath::{DropReason, NeighSnapshot, WorkerCounters};
use crate::net::{NetConfig, NetCounters};
use egress_config::VnfConfig;
use rte::{LcoreId, Port};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::sync::Arc;

/// One request line on the control socket.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Request {
    pub command: String,
    #[serde(default)]
    pub json: bool,
}

/// One reply line on the control socket.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Reply {
    pub ok: bool,
    pub text: String,
    #[serde(default)]
    pub data: Value,
}

impl Reply {
    pub fn ok(text: String, data: Value) -> Reply {
        Reply {
            ok: true,
            text,
            data,
        }
    }
    pub fn err(text: impl Into<String>) -> Reply {
        Reply {
            ok: false,
            text: text.into(),
            data: Value::Null,
        }
    }
}

/// What the commands can see: handles and counters, read-only.
pub struct State {
    pub config_path: std::path::PathBuf,
    /// The config in force (replaced by a successful `reload`).
    pub config: std::sync::Mutex<VnfConfig>,
    pub ports: Vec<Port>,
    /// The packet pool every port receives into (`show port info`, `egress_mempool_*`).
    pub pool: Option<rte::Mempool>,
    pub workers: Vec<(LcoreId, Arc<WorkerCounters>)>,
    pub tsc_hz: u64,
    /// The network configuration (egress mode), for `show vlan` and `show route`.
    pub net: Option<Arc<NetConfig>>,
    /// Each worker's published neighbour table (egress mode), for `show neigh`.
    pub neigh: Vec<Arc<NeighSnapshot>>,
    /// Each worker's published feature counters (DNS, NAT), for `show vs stats` and metrics.
    pub features: Vec<Arc<crate::datapath::FeatureStats>>,
    /// The dSSM client's counters, when dSSM is enabled.
    pub dssm: Option<Arc<crate::slowpath::dssm::DssmStats>>,
    /// The in-process mapping store's counters, when dSSM is disabled.
    pub localmap: Option<Arc<crate::slowpath::localmap::LocalMapStats>>,
    /// Each worker's reload slot (egress mode).
    pub reload: Vec<Arc<crate::datapath::ReloadSlot>>,
    /// Each worker's export mailbox (egress mode), for `show sessions`, `show dns cache` and
    /// `show dns46 mappings`.
    pub exports: Vec<Arc<crate::datapath::Export>>,
    /// Command-line overrides of the file (`--control-socket`, `--metrics-listen`), applied to
    /// a reloaded file too so they keep precedence.
    pub overrides: ControlOverrides,
}

/// Values the command line set over the config file's `[control]`.
#[derive(Debug, Clone, Default)]
pub struct ControlOverrides {
    pub socket: Option<String>,
    pub metrics_listen: Option<String>,
}

impl ControlOverrides {
    /// Applies the overrides to a config read from the file.
    pub fn apply(&self, cfg: &mut VnfConfig) {
        if let Some(s) = &self.socket {
            cfg.control.socket = s.clone();
        }
        if let Some(m) = &self.metrics_listen {
            cfg.control.metrics_listen = m.clone();
        }
    }
}

/// The virtual servers of CONTRACT section 1, in `show vs stats` order.
pub const VIRTUAL_SERVERS: [&str; 6] = [
    "egress-ipv4",
    "egress-ipv6",
    "egress-dns-ipv4",
    "egress-dns-ipv6",
    "egress-ipv4-nat46",
    "egress-ipv6-nat64",
];

/// One row of `show vs stats`.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct VsRow {
    pub name: &'static str,
    #[serde(rename = "clientside.tot_conns")]
    pub clientside_tot_conns: u64,
    #[serde(rename = "clientside.cur_conns")]
    pub clientside_cur_conns: u64,
    #[serde(rename = "serverside.tot_conns")]
    pub serverside_tot_conns: u64,
    #[serde(rename = "clientside.pkts_in")]
    pub clientside_pkts_in: u64,
    #[serde(rename = "clientside.pkts_out")]
    pub clientside_pkts_out: u64,
    #[serde(rename = "clientside.bytes_in")]
    pub clientside_bytes_in: u64,
    #[serde(rename = "clientside.bytes_out")]
    pub clientside_bytes_out: u64,
}

const HELP: &str = "\
commands:
  show port info all|<port>      port device, driver, MAC, link, queues
  show port stats all|<port>     packet, byte, miss and error counters
  clear port stats all|<port>    reset port counters
  show lcores                    worker lcores: packets, busy ratio, cycles per packet, hand-offs
  show vlan                      VLANs: ports, 802.1Q tag, MTU, side, MAC, self IPs, SNAT addresses
  show route                     connected and static routes, longest prefix first
  show neigh                     each worker's neighbour table (ARP/NDP) and network counters
  show config                    the configuration in force
  show vs stats                  virtual servers: connections and packets (egress-ipv4, egress-dns-ipv4, ...)
  show sessions [limit N]        NAT sessions (SNAT, NAT46, NAT64) of every worker, N rows (default 50)
  show dns cache [limit N]       cached DNS answers of every worker, N rows (default 50)
  show dns46 mappings [limit N]  DNS46 pairs (IPv6 host <-> IPv4 pool address) cached by the workers
  show drops                     drop counters by reason, with what each reason means
  reload                         re-read the config file: [dns] and [log] change live, the rest needs a restart
  help                           this text
  quit                           leave the interactive prompt
add --json to a command for JSON output; ports are named 1.1, 1.2, ... in probe order";

/// The command phrases, for the suggestion after an unknown command.
const PHRASES: [&str; 16] = [
    "show port info all",
    "show port stats all",
    "clear port stats all",
    "show lcores",
    "show vlan",
    "show route",
    "show neigh",
    "show config",
    "show vs stats",
    "show sessions",
    "show dns cache",
    "show dns46 mappings",
    "show drops",
    "reload",
    "help",
    "quit",
];

/// What the workers answered to an export request: (worker, copy) pairs and the workers that
/// did not answer.
type Exported = (Vec<(usize, crate::datapath::ExportCopy)>, Vec<usize>);

/// Rows of a table export shown when no `limit` is given.
pub const DEFAULT_LIMIT: usize = 50;

/// Edit distance between two strings (bytes).
fn distance(a: &str, b: &str) -> usize {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The known command closest to `words`, if close enough to be a typo.
pub fn suggest(words: &[&str]) -> Option<&'static str> {
    PHRASES
        .iter()
        .filter_map(|p| {
            let n = p.split_whitespace().count();
            let typed = words.iter().take(n).copied().collect::<Vec<_>>().join(" ");
            let d = distance(&typed, p);
            (d <= (p.len() / 3).max(2)).then_some((d, *p))
        })
        .min_by_key(|(d, _)| *d)
        .map(|(_, p)| p)
}

/// `limit N` after a table command: N, the default, or an error.
fn parse_limit(rest: &[&str]) -> Result<usize, String> {
    match rest {
        [] => Ok(DEFAULT_LIMIT),
        ["limit", n] => match n.parse::<usize>() {
            Ok(v) if v > 0 => Ok(v),
            _ => Err(format!("`limit {n}`: expected a positive number")),
        },
        _ => Err(format!(
            "unexpected `{}`: expected nothing or `limit N`",
            rest.join(" ")
        )),
    }
}

impl State {
    /// Runs one command line.
    pub fn execute(&self, line: &str) -> Reply {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            [] => Reply::err("empty command; try `help`"),
            ["help"] | ["?"] => Reply::ok(HELP.to_string(), json!({ "help": HELP })),
            ["show", "port", "info", which] => self.ports_for(which).map_or_else(Reply::err, |p| self.port_info(&p)),
            ["show", "port", "stats", which] => self.ports_for(which).map_or_else(Reply::err, |p| self.port_stats(&p)),
            ["clear", "port", "stats", which] => self.ports_for(which).map_or_else(Reply::err, |p| {
                for port in &p {
                    if let Err(e) = port.reset_stats() {
                        return Reply::err(format!("port {}: {e}", port.id()));
                    }
                }
                Reply::ok(format!("cleared stats of {} port(s)\n", p.len()), json!({ "cleared": p.len() }))
            }),
            ["show", "lcores"] => self.lcores(),
            ["show", "vlan"] | ["show", "vlans"] => self.vlans(),
            ["show", "route"] | ["show", "routes"] => self.routes(),
            ["show", "neigh"] | ["show", "neighbours"] | ["show", "arp"] => self.neighbours(),
            ["show", "drops"] => self.drops(),
            ["show", "vs", "stats"] => self.vs_stats(),
            ["show", "sessions", rest @ ..] => parse_limit(rest).map_or_else(Reply::err, |n| self.sessions(n)),
            ["show", "dns", "cache", rest @ ..] => parse_limit(rest).map_or_else(Reply::err, |n| self.dns_cache(n)),
            ["show", "dns46", "mappings", rest @ ..] => parse_limit(rest).map_or_else(Reply::err, |n| self.mappings(n)),
            ["quit"] | ["exit"] => Reply::err("`quit` ends an interactive prompt (egress-vnf -i, egressctl without a command); there is nothing to quit here"),
            ["reload"] => self.reload(),
            ["show", "config"] => {
                let cfg = self.config();
                let text = cfg.to_toml_string();
                Reply::ok(format!("# {}\n{text}", self.config_path.display()), serde_json::to_value(&cfg).unwrap_or(Value::Null))
            }
            ["show", "port", ..] | ["clear", "port", ..] => {
                Reply::err("usage: show port info|stats all|<port>, clear port stats all|<port> (ports: 1.1, 1.2, ...)")
            }
            _ => Reply::err(match suggest(&words) {
                Some(p) => format!("unknown command `{}`; did you mean `{p}`? (`help` lists the commands)", words.join(" ")),
                None => format!("unknown command `{}`; try `help`", words.join(" ")),
            }),
        }
    }

    fn ports_for(&self, which: &str) -> Result<Vec<Port>, String> {
        if which == "all" {
            return Ok(self.ports.clone());
        }
        let id = egress_config::parse_port_name(which).ok_or_else(|| {
            format!("`{which}` is not a port name (ports are named 1.1, 1.2, ...) or `all`")
        })?;
        self.ports
            .iter()
            .find(|p| p.id().0 == id)
            .map(|p| vec![*p])
            .ok_or_else(|| format!("no port {which}: this VNF has {} port(s)", self.ports.len()))
    }

    fn port_info(&self, ports: &[Port]) -> Reply {
        let mut rows = vec![[
            "port",
            "device",
            "driver",
            "mac",
            "link",
            "speed",
            "rxq/txq max",
        ]
        .map(String::from)
        .to_vec()];
        let mut data = Vec::new();
        for p in ports {
            let info = p.info().ok();
            let mac = p.mac().map(|m| fmt_mac(&m)).unwrap_or_default();
            let link = p.link().ok();
            let row = vec![
                p.id().to_string(),
                p.name(),
                info.as_ref().map(|i| i.driver.clone()).unwrap_or_default(),
                mac.clone(),
                link.map_or(
                    "?".into(),
                    |l| if l.up { "up".into() } else { "down".into() },
                ),
                link.map_or("?".into(), |l| format!("{} Mb/s", l.speed_mbps)),
                info.as_ref().map_or("?".into(), |i| {
                    format!("{}/{}", i.max_rx_queues, i.max_tx_queues)
                }),
            ];
            data.push(json!({
                "port": row[0], "device": row[1], "driver": row[2], "mac": mac,
                "link_up": link.map(|l| l.up), "speed_mbps": link.map(|l| l.speed_mbps),
                "max_rx_queues": info.as_ref().map(|i| i.max_rx_queues),
                "max_tx_queues": info.as_ref().map(|i| i.max_tx_queues),
                "socket": info.as_ref().map(|i| i.socket),
                "mempool_size": self.pool.map(|m| m.size()),
                "mempool_available": self.pool.map(|m| m.avail_count()),
                "mempool_in_use": self.pool.map(|m| m.in_use_count()),
            }));
            rows.push(row);
        }
        let mut text = table(&rows);
        if let Some(m) = self.pool {
            text.push_str(&format!(
                "mempool: size {}, available {}, in use {}\n",
                m.size(),
                m.avail_count(),
                m.in_use_count()
            ));
        }
        Reply::ok(text, Value::Array(data))
    }

    fn port_stats(&self, ports: &[Port]) -> Reply {
        let reports: Vec<PortReport> = ports.iter().map(PortReport::read).collect();
        let mut rows = vec![[
            "port",
            "rx_packets",
            "rx_bytes",
            "rx_dropped",
            "rx_errors",
            "tx_packets",
            "tx_bytes",
            "tx_errors",
        ]
        .map(String::from)
        .to_vec()];
        for r in &reports {
            rows.push(vec![
                r.port.clone(),
                r.rx_packets.to_string(),
                r.rx_bytes.to_string(),
                (r.rx_missed + r.rx_nombuf).to_string(),
                r.rx_errors.to_string(),
                r.tx_packets.to_string(),
                r.tx_bytes.to_string(),
                r.tx_errors.to_string(),
            ]);
        }
        Reply::ok(
            table(&rows),
            serde_json::to_value(&reports).unwrap_or(Value::Null),
        )
    }

    /// Per-worker reports.
    pub fn lcore_reports(&self) -> Vec<LcoreReport> {
        self.workers
            .iter()
            .enumerate()
            .map(|(i, (l, c))| LcoreReport {
                lcore: l.0,
                worker: i as u16,
                counters: c.snapshot(),
            })
            .collect()
    }

    fn lcores(&self) -> Reply {
        let reports = self.lcore_reports();
        let mut rows = vec![[
            "lcore",
            "worker",
            "rx_packets",
            "tx_packets",
            "tx_dropped",
            "busy",
            "cycles/pkt",
            "handoff_out",
            "handoff_in",
        ]
        .map(String::from)
        .to_vec()];
        let mut data = Vec::new();
        for r in &reports {
            let cpp = if r.counters.rx_packets == 0 {
                0.0
            } else {
                r.counters.busy_cycles as f64 / r.counters.rx_packets as f64
            };
            rows.push(vec![
                r.lcore.to_string(),
                r.worker.to_string(),
                r.counters.rx_packets.to_string(),
                r.counters.tx_packets.to_string(),
                r.counters.tx_dropped.to_string(),
                format!("{:.1}%", r.busy_ratio() * 100.0),
                format!("{cpp:.1}"),
                r.counters.handoff_out.to_string(),
                r.counters.handoff_in.to_string(),
            ]);
            let mut v = serde_json::to_value(r).unwrap_or(Value::Null);
            if let Value::Object(m) = &mut v {
                m.insert("busy_ratio".into(), json!(r.busy_ratio()));
                m.insert("cycles_per_packet".into(), json!(cpp));
            }
            data.push(v);
        }
        Reply::ok(
            format!(
                "main lcore {} (slow path), tsc {} Hz\n{}",
                LcoreId::main(),
                self.tsc_hz,
                table(&rows)
            ),
            Value::Array(data),
        )
    }

    fn net_config(&self) -> Result<&NetConfig, Reply> {
        self.net
            .as_deref()
            .ok_or_else(|| Reply::err("no network layer: dataplane.mode is not egress"))
    }

    fn vlans(&self) -> Reply {
        let net = match self.net_config() {
            Ok(n) => n,
            Err(r) => return r,
        };
        let mut rows = vec![[
            "vlan", "ports", "tag", "mtu", "side", "mac", "self_v4", "self_v6", "snat",
        ]
        .map(String::from)
        .to_vec()];
        let mut data = Vec::new();
        for v in &net.vlans {
            let ports: Vec<String> = v.ports.iter().map(|p| format!("1.{}", p + 1)).collect();
            let self_v4 = v
                .self_v4
                .map(|(a, l)| format!("{a}/{l}"))
                .unwrap_or_else(|| "-".into());
            let self_v6 = v
                .self_v6
                .map(|(a, l)| format!("{a}/{l}"))
                .unwrap_or_else(|| "-".into());
            let snat: Vec<String> = v
                .extra_v4
                .iter()
                .map(|a| a.to_string())
                .chain(v.extra_v6.iter().map(|a| a.to_string()))
                .collect();
            let side = if v.internal { "internal" } else { "external" };
            rows.push(vec![
                v.name.clone(),
                ports.join(","),
                v.tag.map_or("untagged".into(), |t| t.to_string()),
                v.mtu.to_string(),
                side.into(),
                v.mac.to_string(),
                self_v4.clone(),
                self_v6.clone(),
                if snat.is_empty() {
                    "-".into()
                } else {
                    snat.join(",")
                },
            ]);
            data.push(json!({
                "name": v.name, "ports": ports, "tag": v.tag, "mtu": v.mtu, "internal": v.internal,
                "mac": v.mac.to_string(), "self_v4": v.self_v4.map(|_| self_v4), "self_v6": v.self_v6.map(|_| self_v6),
                "snat": snat,
            }));
        }
        Reply::ok(table(&rows), Value::Array(data))
    }

    fn routes(&self) -> Reply {
        let net = match self.net_config() {
            Ok(n) => n,
            Err(r) => return r,
        };
        let mut rows = vec![["destination", "gateway", "vlan", "kind"]
            .map(String::from)
            .to_vec()];
        let mut data = Vec::new();
        for r in net.routes.entries() {
            let vlan = net
                .vlan(r.next_hop.vlan)
                .map_or("?".to_string(), |v| v.name.clone());
            let dest = format!("{}/{}", r.network, r.len);
            let gw = r
                .next_hop
                .gateway
                .map_or("connected".to_string(), |g| g.to_string());
            data.push(
                json!({ "destination": dest, "gateway": r.next_hop.gateway.map(|g| g.to_string()),
                "vlan": vlan, "kind": r.kind }),
            );
            rows.push(vec![dest, gw, vlan, format!("{:?}", r.kind).to_lowercase()]);
        }
        Reply::ok(table(&rows), Value::Array(data))
    }

    fn neighbours(&self) -> Reply {
        let net = match self.net_config() {
            Ok(n) => n,
            Err(r) => return r,
        };
        let mut rows = vec![
            ["worker", "vlan", "address", "mac", "state", "age", "queued"]
                .map(String::from)
                .to_vec(),
        ];
        let mut data = Vec::new();
        let mut totals = vec![0u64; NetCounters::NAMES.len()];
        let now = rte::tsc();
        let mut missing = Vec::new();
        for (w, snap) in self.neigh.iter().enumerate() {
            let Some(copy) = snap.read() else {
                missing.push(w.to_string());
                continue;
            };
            for (t, c) in totals.iter_mut().zip(&copy.counters) {
                *t += c;
            }
            let since_ms = if self.tsc_hz == 0 {
                0
            } else {
                now.saturating_sub(copy.tsc) / (self.tsc_hz / 1000).max(1)
            };
            for e in &copy.entries {
                let vlan = net
                    .vlan(e.key.vlan)
                    .map_or("?".to_string(), |v| v.name.clone());
                let age = e.age_ms + since_ms;
                rows.push(vec![
                    w.to_string(),
                    vlan.clone(),
                    e.key.addr.to_string(),
                    if e.state == crate::net::NeighState::Incomplete {
                        "-".into()
                    } else {
                        e.mac.to_string()
                    },
                    e.state.name().into(),
                    format!("{:.1}s", age as f64 / 1000.0),
                    e.queued.to_string(),
                ]);
                data.push(json!({
                    "worker": w, "vlan": vlan, "address": e.key.addr.to_string(), "mac": e.mac.to_string(),
                    "state": e.state.name(), "age_ms": age, "queued": e.queued,
                }));
            }
        }
        let mut text = table(&rows);
        let counters: serde_json::Map<String, Value> = NetCounters::NAMES
            .iter()
            .zip(&totals)
            .map(|(n, v)| (n.to_string(), json!(v)))
            .collect();
        let line: Vec<String> = NetCounters::NAMES
            .iter()
            .zip(&totals)
            .filter(|(_, v)| **v > 0)
            .map(|(n, v)| format!("{n}={v}"))
            .collect();
        text.push_str(&format!(
            "counters: {}\n",
            if line.is_empty() {
                "-".into()
            } else {
                line.join(" ")
            }
        ));
        if !missing.is_empty() {
            text.push_str(&format!(
                "no snapshot yet from worker(s) {}\n",
                missing.join(",")
            ));
        }
        Reply::ok(text, json!({ "neighbours": data, "counters": counters }))
    }

    /// A copy of the config in force.
    pub fn config(&self) -> VnfConfig {
        match self.config.lock() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// `reload`: validate the file, refuse what needs a restart, hand the rest to the workers.
    fn reload(&self) -> Reply {
        use crate::slowpath::reload;
        let mut new = match VnfConfig::load(&self.config_path) {
            Ok(c) => c,
            Err(e) => {
                log::warn!("reload refused: {e}");
                return Reply::err(format!(
                    "reload refused, the config in force is unchanged: {e}"
                ));
            }
        };
        self.overrides.apply(&mut new);
        let old = self.config();
        let (live, restart) = reload::diff(&old, &new);
        if let Some(msg) = reload::refusal(&old, &new, &restart) {
            log::warn!("{msg}");
            return Reply::err(msg);
        }
        if live.is_empty() {
            return Reply::ok("reload: no change\n".into(), json!({ "changed": [] }));
        }
        if live.contains(&"dns") {
            let Some(net) = &self.net else {
                return Reply::err("reload refused: DNS needs egress mode");
            };
            let workers = self.reload.len() as u16;
            match crate::datapath::features::FeatureSetup::from_config(&new, net, workers) {
                Ok(Some(setup)) => {
                    for (i, slot) in self.reload.iter().enumerate() {
                        if let Some(d) = setup.for_worker(i as u16, workers).dns {
                            slot.offer(d);
                        }
                    }
                }
                Ok(None) => {}
                Err((field, msg)) => {
                    return Reply::err(format!("reload refused: field `{field}`: {msg}"));
                }
            }
        }
        if live.contains(&"log") {
            log::set_max_level(reload::log_filter(new.log.level));
        }
        let changed = live.join(", ");
        if let Ok(mut g) = self.config.lock() {
            *g = new;
        }
        log::info!(
            "config reloaded from {}: {changed}",
            self.config_path.display()
        );
        Reply::ok(format!("reloaded: {changed}\n"), json!({ "changed": live }))
    }

    /// Feature counters summed over workers.
    pub fn feature_totals(&self) -> crate::datapath::features::FeatureCounters {
        let mut t = crate::datapath::features::FeatureCounters::default();
        for f in &self.features {
            t.add(&f.get());
        }
        t
    }

    /// The rows of `show vs stats` (CONTRACT section 1). NAT virtual servers count sessions
    /// (a connection = a session); DNS virtual servers count queries from pods (client side)
    /// and queries to upstream servers (server side, both families in the IPv4 row's total).
    pub fn vs_rows(&self) -> Vec<VsRow> {
        use crate::nat::SessionKind;
        let t = self.feature_totals();
        let nat = |name: &'static str, k: SessionKind| {
            let v = t.nat.vs(k);
            VsRow {
                name,
                clientside_tot_conns: v.clientside_tot_conns,
                clientside_cur_conns: v.clientside_cur_conns,
                serverside_tot_conns: v.serverside_tot_conns,
                clientside_pkts_in: v.clientside_pkts_in,
                clientside_pkts_out: v.clientside_pkts_out,
                clientside_bytes_in: v.clientside_bytes_in,
                clientside_bytes_out: v.clientside_bytes_out,
            }
        };
        let d = &t.dns;
        vec![
            nat("egress-ipv4", SessionKind::Snat44),
            nat("egress-ipv6", SessionKind::Snat66),
            VsRow {
                name: "egress-dns-ipv4",
                clientside_tot_conns: d.queries_v4,
                clientside_cur_conns: d.pending,
                serverside_tot_conns: d.upstream_queries,
                clientside_pkts_in: d.queries_v4,
                clientside_pkts_out: d.answers_v4,
                ..VsRow::default()
            },
            VsRow {
                name: "egress-dns-ipv6",
                clientside_tot_conns: d.queries_v6,
                clientside_pkts_in: d.queries_v6,
                clientside_pkts_out: d.answers_v6,
                ..VsRow::default()
            },
            nat("egress-ipv4-nat46", SessionKind::Nat46),
            nat("egress-ipv6-nat64", SessionKind::Nat64),
        ]
    }

    fn vs_stats(&self) -> Reply {
        let rows = self.vs_rows();
        let mut t = vec![[
            "name",
            "clientside.tot_conns",
            "clientside.cur_conns",
            "serverside.tot_conns",
            "clientside.pkts_in",
            "clientside.pkts_out",
        ]
        .map(String::from)
        .to_vec()];
        for r in &rows {
            t.push(vec![
                r.name.to_string(),
                r.clientside_tot_conns.to_string(),
                r.clientside_cur_conns.to_string(),
                r.serverside_tot_conns.to_string(),
                r.clientside_pkts_in.to_string(),
                r.clientside_pkts_out.to_string(),
            ]);
        }
        Reply::ok(
            table(&t),
            serde_json::to_value(&rows).unwrap_or(Value::Null),
        )
    }

    /// Asks every worker for up to `limit` records of `kind`: the copies (worker index, copy)
    /// and the workers that did not answer.
    fn export(&self, kind: crate::datapath::ExportKind, limit: usize) -> Result<Exported, Reply> {
        if self.exports.is_empty() {
            return Err(Reply::err(
                "no per-worker tables: dataplane.mode is not egress",
            ));
        }
        let mut copies = Vec::new();
        let mut silent = Vec::new();
        for (w, ex) in self.exports.iter().enumerate() {
            match ex.fetch(kind, limit, std::time::Duration::from_secs(2)) {
                Some(c) => copies.push((w, c)),
                None => silent.push(w),
            }
        }
        Ok((copies, silent))
    }

    /// The footer of a table export: shown/total and the workers that did not answer.
    fn export_footer(what: &str, shown: usize, total: u64, silent: &[usize]) -> String {
        let mut s = format!("{shown} of {total} {what} shown\n");
        if !silent.is_empty() {
            let w: Vec<String> = silent.iter().map(usize::to_string).collect();
            s.push_str(&format!("no answer from worker(s) {}\n", w.join(",")));
        }
        s
    }

    /// `show sessions [limit N]`.
    fn sessions(&self, limit: usize) -> Reply {
        let (copies, silent) = match self.export(crate::datapath::ExportKind::Sessions, limit) {
            Ok(c) => c,
            Err(r) => return r,
        };
        let mut rows = vec![[
            "worker",
            "kind",
            "proto",
            "inside",
            "remote",
            "outside",
            "remote_out",
            "state",
            "expires",
        ]
        .map(String::from)
        .to_vec()];
        let mut data = Vec::new();
        let total: u64 = copies.iter().map(|(_, c)| c.total).sum();
        'outer: for (w, c) in &copies {
            for s in c.sessions() {
                if data.len() >= limit {
                    break 'outer;
                }
                let ep = |a: std::net::IpAddr, p: u16| match a {
                    std::net::IpAddr::V4(v) => format!("{v}:{p}"),
                    std::net::IpAddr::V6(v) => format!("[{v}]:{p}"),
                };
                rows.push(vec![
                    w.to_string(),
                    s.kind.to_string(),
                    proto_name(s.proto),
                    ep(s.inside, s.inside_port),
                    ep(s.remote_in, s.remote_in_port),
                    ep(s.outside, s.outside_port),
                    ep(s.remote_out, s.remote_out_port),
                    tcp_state_name(s.proto, s.tcp).into(),
                    format!("{:.1}s", s.expires_in_ms as f64 / 1000.0),
                ]);
                let mut v = serde_json::to_value(&s).unwrap_or(Value::Null);
                if let Value::Object(m) = &mut v {
                    m.insert("worker".into(), json!(w));
                    m.insert("state".into(), json!(tcp_state_name(s.proto, s.tcp)));
                }
                data.push(v);
            }
        }
        let shown = data.len();
        Reply::ok(
            table(&rows) + &Self::export_footer("sessions", shown, total, &silent),
            json!({ "sessions": data, "total": total, "shown": shown, "silent_workers": silent }),
        )
    }

    /// `show dns cache [limit N]`.
    fn dns_cache(&self, limit: usize) -> Reply {
        let (copies, silent) = match self.export(crate::datapath::ExportKind::DnsCache, limit) {
            Ok(c) => c,
            Err(r) => return r,
        };
        let mut rows = vec![["worker", "name", "type", "class", "ttl", "bytes", "flags"]
            .map(String::from)
            .to_vec()];
        let mut data = Vec::new();
        let total: u64 = copies.iter().map(|(_, c)| c.total).sum();
        'outer: for (w, c) in &copies {
            for e in c.dns_cache() {
                if data.len() >= limit {
                    break 'outer;
                }
                let qtype = hickory_proto::rr::RecordType::from(e.qtype).to_string();
                let qclass = hickory_proto::rr::DNSClass::from(e.qclass).to_string();
                let mut flags = Vec::new();
                if e.dnssec_ok {
                    flags.push("do");
                }
                if e.checking_disabled {
                    flags.push("cd");
                }
                rows.push(vec![
                    w.to_string(),
                    e.name.clone(),
                    qtype.clone(),
                    qclass.clone(),
                    format!("{}s", e.ttl_left),
                    e.bytes.to_string(),
                    if flags.is_empty() {
                        "-".into()
                    } else {
                        flags.join(",")
                    },
                ]);
                data.push(json!({
                    "worker": w, "name": e.name, "type": qtype, "class": qclass,
                    "ttl_left": e.ttl_left, "bytes": e.bytes, "dnssec_ok": e.dnssec_ok,
                    "checking_disabled": e.checking_disabled,
                }));
            }
        }
        let shown = data.len();
        Reply::ok(
            table(&rows) + &Self::export_footer("cached answers", shown, total, &silent),
            json!({ "entries": data, "total": total, "shown": shown, "silent_workers": silent }),
        )
    }

    /// `show dns46 mappings [limit N]`: the pairs the workers hold, one row per pair.
    fn mappings(&self, limit: usize) -> Reply {
        let (copies, silent) = match self.export(crate::datapath::ExportKind::Mappings, limit) {
            Ok(c) => c,
            Err(r) => return r,
        };
        // A pair cached in both directions, or by several workers, is one row.
        let mut pairs: std::collections::BTreeMap<
            (std::net::Ipv6Addr, std::net::Ipv4Addr),
            (bool, u64, Vec<usize>),
        > = std::collections::BTreeMap::new();
        for (w, c) in &copies {
            for m in c.mappings() {
                let e = pairs
                    .entry((m.v6, m.v4))
                    .or_insert((m.pinned, m.age_ms, Vec::new()));
                e.0 |= m.pinned;
                e.1 = e.1.min(m.age_ms);
                if !e.2.contains(w) {
                    e.2.push(*w);
                }
            }
        }
        let mut rows = vec![["ipv6", "ipv4", "kind", "age", "workers"]
            .map(String::from)
            .to_vec()];
        let mut data = Vec::new();
        for ((v6, v4), (pinned, age, workers)) in pairs.iter().take(limit) {
            let ws: Vec<String> = workers.iter().map(usize::to_string).collect();
            let kind = if *pinned { "static" } else { "learned" };
            rows.push(vec![
                v6.to_string(),
                v4.to_string(),
                kind.into(),
                if *pinned {
                    "-".into()
                } else {
                    format!("{:.1}s", *age as f64 / 1000.0)
                },
                ws.join(","),
            ]);
            data.push(json!({
                "ipv6": v6.to_string(), "ipv4": v4.to_string(), "kind": kind,
                "age_ms": if *pinned { None } else { Some(age) }, "workers": workers,
            }));
        }
        let shown = data.len();
        let mut text = table(&rows);
        text.push_str(&Self::export_footer(
            "mappings",
            shown,
            pairs.len() as u64,
            &silent,
        ));
        // Mappings this replica's allocator created (`egress_dns46_mappings_created_total`).
        let mut created = None;
        if let Some(l) = &self.localmap {
            let n = l.created.load(std::sync::atomic::Ordering::Relaxed);
            created = Some(n);
            text.push_str(&format!("mapping service: in-process, {n} created\n"));
        } else if let Some(d) = &self.dssm {
            let n = d.snapshot().created;
            created = Some(n);
            text.push_str(&format!(
                "mapping service: dSSM ({}), {n} created\n",
                if d.is_up() { "up" } else { "down" }
            ));
        }
        let dns = self.feature_totals().dns;
        text.push_str(&format!(
            "answers: {} synthesized, {} sorry, {} unavailable\n",
            dns.synthesized46, dns.dns46_sorry, dns.dns46_unavailable
        ));
        Reply::ok(
            text,
            json!({
                "mappings": data, "total": pairs.len(), "shown": shown, "silent_workers": silent,
                "created": created, "synthesized46": dns.synthesized46,
                "sorry": dns.dns46_sorry, "unavailable": dns.dns46_unavailable,
            }),
        )
    }

    /// Drop counters summed over workers, by reason.
    pub fn drop_totals(&self) -> Vec<(DropReason, u64)> {
        let mut totals = vec![0u64; DropReason::COUNT];
        for (_, c) in &self.workers {
            for (t, v) in totals.iter_mut().zip(c.snapshot().drops) {
                *t += v;
            }
        }
        DropReason::ALL.iter().copied().zip(totals).collect()
    }

    fn drops(&self) -> Reply {
        let totals = self.drop_totals();
        let mut rows = vec![["reason", "packets", "meaning"].map(String::from).to_vec()];
        let mut data = serde_json::Map::new();
        for (r, n) in &totals {
            rows.push(vec![r.name().into(), n.to_string(), r.description().into()]);
            data.insert(
                r.name().into(),
                json!({ "packets": n, "meaning": r.description() }),
            );
        }
        Reply::ok(table(&rows), Value::Object(data))
    }
}

/// The name of an IP protocol number.
fn proto_name(p: u8) -> String {
    match p {
        1 => "icmp".into(),
        6 => "tcp".into(),
        17 => "udp".into(),
        58 => "icmpv6".into(),
        n => n.to_string(),
    }
}

/// A TCP session's state in words (from [`crate::nat::table::tcp_state`] bits); `-` for others.
fn tcp_state_name(proto: u8, bits: u8) -> &'static str {
    use crate::nat::table::tcp_state::*;
    if proto != 6 {
        return "-";
    }
    if bits & RST != 0 {
        "reset"
    } else if bits & (FIN_IN | FIN_OUT) == (FIN_IN | FIN_OUT) {
        "closed"
    } else if bits & (FIN_IN | FIN_OUT) != 0 {
        "closing"
    } else if bits & (SYN_IN | SYN_OUT) == (SYN_IN | SYN_OUT) {
        "established"
    } else {
        "syn"
    }
}

/// `aa:bb:cc:dd:ee:ff`.
pub fn fmt_mac(m: &[u8; 6]) -> String {
    format!(
        "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        m[0], m[1], m[2], m[3], m[4], m[5]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_the_closest_command() {
        assert_eq!(suggest(&["show", "sesions"]), Some("show sessions"));
        assert_eq!(suggest(&["shwo", "vs", "stats"]), Some("show vs stats"));
        assert_eq!(
            suggest(&["show", "dns46", "mapings"]),
            Some("show dns46 mappings")
        );
        assert_eq!(suggest(&["show", "dns", "cahce"]), Some("show dns cache"));
        assert_eq!(suggest(&["relaod"]), Some("reload"));
        assert_eq!(suggest(&["frobnicate"]), None);
        assert_eq!(suggest(&["show", "everything", "now"]), None);
    }

    #[test]
    fn limits() {
        assert_eq!(parse_limit(&[]), Ok(DEFAULT_LIMIT));
        assert_eq!(parse_limit(&["limit", "7"]), Ok(7));
        assert!(parse_limit(&["limit", "0"]).is_err());
        assert!(parse_limit(&["limit"]).is_err());
        assert!(parse_limit(&["7"]).is_err());
    }

    #[test]
    fn tcp_states_in_words() {
        use crate::nat::table::tcp_state::*;
        assert_eq!(tcp_state_name(17, 0), "-");
        assert_eq!(tcp_state_name(6, SYN_IN), "syn");
        assert_eq!(tcp_state_name(6, SYN_IN | SYN_OUT), "established");
        assert_eq!(tcp_state_name(6, SYN_IN | SYN_OUT | FIN_IN), "closing");
        assert_eq!(
            tcp_state_name(6, SYN_IN | SYN_OUT | FIN_IN | FIN_OUT),
            "closed"
        );
        assert_eq!(tcp_state_name(6, SYN_IN | RST), "reset");
    }
}
