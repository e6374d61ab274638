//! `egress-vnf`: the data plane (CONTRACT §1).
//!
//! `egress-vnf --config FILE [--interactive|-i] [--control-socket PATH] [--metrics-listen ADDR:PORT|off] [-- EAL-ARGS...]`
//!
//! Exit status: 0 after a clean shutdown on SIGINT/SIGTERM (final statistics printed on stdout),
//! 2 for an invalid config or argument, 1 otherwise.

use anyhow::Context;
use clap::Parser;
use egress_config::{parse_port_name, Mode, VnfConfig};
use egress_vnf::datapath::features::{FeatureSetup, MapRings};
use egress_vnf::datapath::{
    EgressSetup, NeighMsg, NeighSnapshot, Worker, WorkerConfig, WorkerCounters,
};
use egress_vnf::datapath::{Export, FeatureStats, ReloadSlot};
use egress_vnf::net::NetConfig;
use egress_vnf::slowpath::commands::ControlOverrides;
use egress_vnf::slowpath::control::ControlSocket;
use egress_vnf::slowpath::dssm::{self, DssmSettings, RingLink, SliceAllocator, WorkerLink};
use egress_vnf::slowpath::localmap;
use egress_vnf::slowpath::stats::PortReport;
use egress_vnf::slowpath::State;
use rte::{Eal, LcoreId, Mempool, Port, PortConfig, Ring};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Parser, Debug)]
#[command(
    name = "egress-vnf",
    version,
    about = "DPDK egress gateway: SNAT, NAT46/NAT64, DNS46/DNS64"
)]
struct Args {
    /// The TOML configuration file.
    #[arg(long)]
    config: PathBuf,
    /// Interactive prompt `egress> ` on stdin.
    #[arg(short = 'i', long)]
    interactive: bool,
    /// Control socket path (default from the config: /run/egress-vnf/control.sock).
    #[arg(long)]
    control_socket: Option<PathBuf>,
    /// Prometheus listen address ADDR:PORT, or `off`.
    #[arg(long)]
    metrics_listen: Option<String>,
    /// EAL arguments, appended to the config's `eal` list.
    #[arg(last = true)]
    eal: Vec<String>,
}

/// A failure and its exit status.
enum Fail {
    /// Invalid configuration or arguments: exit 2.
    Usage(String),
    /// Anything else: exit 1.
    Runtime(anyhow::Error),
}

impl From<anyhow::Error> for Fail {
    fn from(e: anyhow::Error) -> Self {
        Fail::Runtime(e)
    }
}

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"))
        .target(env_logger::Target::Stderr)
        .init();
    let args = match Args::try_parse() {
        Ok(a) => a,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Fail::Usage(msg)) => {
            eprintln!("egress-vnf: {msg}");
            ExitCode::from(2)
        }
        Err(Fail::Runtime(e)) => {
            eprintln!("egress-vnf: error: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn run(args: Args) -> Result<(), Fail> {
    let mut cfg = VnfConfig::load(&args.config).map_err(|e| Fail::Usage(e.to_string()))?;
    let file = args.config.display().to_string();
    if let Some(s) = &args.control_socket {
        cfg.control.socket = s.display().to_string();
    }
    if let Some(m) = &args.metrics_listen {
        if m != "off" && m.parse::<std::net::SocketAddr>().is_err() {
            return Err(Fail::Usage(format!(
                "--metrics-listen: `{m}` is not ADDR:PORT or `off`"
            )));
        }
        cfg.control.metrics_listen = m.clone();
    }

    // EAL: the config's arguments, then the command line's.
    let mut eal_args = cfg.eal.clone();
    eal_args.extend(args.eal.iter().cloned());
    log::info!("starting EAL: {}", eal_args.join(" "));
    let eal = Eal::init(&eal_args).map_err(|e| {
        if e.code == 22 {
            Fail::Usage(format!("invalid EAL arguments `{}` ({file}: field `eal` and the arguments after `--`): {e}", eal_args.join(" ")))
        } else {
            Fail::Runtime(anyhow::anyhow!("EAL initialisation failed: {e}"))
        }
    })?;
    // Capture and introspection: dpdk-dumpcap (pdump server) and dpdk-telemetry.py.
    let prefix = eal_args
        .iter()
        .position(|a| a == "--file-prefix")
        .and_then(|i| eal_args.get(i + 1))
        .or_else(|| {
            eal_args
                .iter()
                .find_map(|a| a.strip_prefix("--file-prefix=").map(|_| a))
        })
        .map(|a| a.trim_start_matches("--file-prefix=").to_string())
        .unwrap_or_else(|| "rte".into());
    match eal.enable_pdump() {
        Ok(()) if eal_args.iter().any(|a| a == "--no-huge" || a == "--in-memory") => log::info!(
            "packet capture: pdump server up, but --no-huge/--in-memory keeps memory private: dpdk-dumpcap cannot attach (use hugepages)"
        ),
        Ok(()) => log::info!(
            "packet capture: dpdk-dumpcap --file-prefix {prefix} -i <port> (ports are DPDK port ids 0, 1, ...)"
        ),
        Err(e) => log::warn!("packet capture unavailable: {e}"),
    }
    match eal.telemetry_socket() {
        Some(p) => log::info!("telemetry: {} (dpdk-telemetry.py -f {prefix})", p.display()),
        None => log::info!("telemetry: off"),
    }
    let result = run_with_eal(&args, &cfg, &file);
    drop(eal);
    result
}

fn run_with_eal(args: &Args, cfg: &VnfConfig, file: &str) -> Result<(), Fail> {
    let ports = Port::all();
    let names: Vec<String> = ports
        .iter()
        .map(|p| format!("{} ({})", p.id(), p.name()))
        .collect();
    log::info!("{} port(s): {}", ports.len(), names.join(", "));

    // Cross-checks that need the probed hardware: exit 2, naming the field.
    for (i, v) in cfg.vlans.iter().enumerate() {
        for ifname in &v.interfaces {
            let exists =
                parse_port_name(ifname).is_some_and(|id| ports.iter().any(|p| p.id().0 == id));
            if !exists {
                return Err(Fail::Usage(format!(
                    "{file}: field `vlans[{i}].interfaces`: port {ifname} does not exist ({} port(s) probed: {})",
                    ports.len(),
                    if names.is_empty() { "none".into() } else { names.join(", ") }
                )));
            }
        }
    }
    if cfg.dataplane.mode == Mode::Bridge && ports.len() < 2 {
        return Err(Fail::Usage(format!(
            "{file}: field `dataplane.mode`: bridge mode needs ports 1.1 and 1.2, {} port(s) probed",
            ports.len()
        )));
    }
    let lcores = LcoreId::workers();
    let nworkers = cfg.dataplane.workers as usize;
    if lcores.len() < nworkers {
        return Err(Fail::Usage(format!(
            "{file}: field `dataplane.workers`: {nworkers} worker(s) configured but the EAL lcore list gives {} worker lcore(s) besides the main lcore {} (use e.g. `-l 0-{nworkers}`)",
            lcores.len(),
            LcoreId::main()
        )));
    }
    let lcores = &lcores[..nworkers];

    // Ports and the packet pool.
    let pool = Mempool::new(
        "egress_pkts",
        cfg.dataplane.mbufs,
        cfg.dataplane.mbuf_cache,
        -1,
    )
    .context("cannot create the packet mempool (more memory: -m, or hugepages)")?;
    let pconf = PortConfig {
        rx_queues: nworkers as u16,
        tx_queues: nworkers as u16,
        rx_desc: cfg.dataplane.rx_desc,
        tx_desc: cfg.dataplane.tx_desc,
        mtu: None,
    };
    for p in &ports {
        p.configure(&pconf, &pool)
            .with_context(|| format!("port {} ({})", p.id(), p.name()))?;
        p.start()
            .with_context(|| format!("port {} ({}): start", p.id(), p.name()))?;
        if cfg.dataplane.promiscuous {
            p.set_promiscuous(true)
                .with_context(|| format!("port {}: promiscuous", p.id()))?;
        }
        let mac = p
            .mac()
            .map(|m| egress_vnf::slowpath::commands::fmt_mac(&m))
            .unwrap_or_default();
        log::info!(
            "port {} ({}) started: mac {mac}, {} rx/tx queue(s)",
            p.id(),
            p.name(),
            nworkers
        );
    }

    // Everything that needs privileges is done (memory, devices, ports): drop the rest on
    // this thread before it creates any other (docs/deploy.md); each worker does the same.
    harden("main");

    // Metrics endpoint: bound before the workers start, so a failure leaves nothing running.
    let metrics_on = cfg.control.metrics_listen != "off";
    if metrics_on {
        let addr: std::net::SocketAddr = cfg.control.metrics_listen.parse().map_err(|_| {
            Fail::Usage(format!(
                "metrics listen address `{}` is not ADDR:PORT",
                cfg.control.metrics_listen
            ))
        })?;
        egress_vnf::slowpath::metrics::install(addr)?;
        log::info!("metrics at http://{addr}/metrics");
    }

    // Egress mode: the network layer (VLANs on the ports' MACs, routes), one neighbour-update
    // inbox and one neighbour-table snapshot per worker.
    let net = if cfg.dataplane.mode == Mode::Egress {
        let macs: Vec<[u8; 6]> = ports.iter().map(|p| p.mac().unwrap_or_default()).collect();
        let net = NetConfig::from_config(cfg, &macs)
            .map_err(|(field, msg)| Fail::Usage(format!("{file}: field `{field}`: {msg}")))?;
        for p in &ports {
            if let Err(e) = p.set_allmulticast() {
                log::warn!("port {}: all-multicast: {e}", p.id());
            }
        }
        for v in &net.vlans {
            log::info!(
                "vlan {} on port(s) {:?} tag {:?} mac {}: self {:?} {:?}, snat {:?} {:?}",
                v.name,
                v.ports
                    .iter()
                    .map(|p| format!("1.{}", p + 1))
                    .collect::<Vec<_>>(),
                v.tag,
                v.mac,
                v.self_v4,
                v.self_v6,
                v.extra_v4,
                v.extra_v6
            );
        }
        Some(Arc::new(net))
    } else {
        None
    };
    let mut inboxes = Vec::new();
    let mut snapshots = Vec::new();
    if net.is_some() {
        for i in 0..nworkers {
            let ring = Ring::<NeighMsg>::new(&format!("egress_neigh{i}"), 1024, false)
                .context("creating a neighbour-update ring")?;
            inboxes.push(Arc::new(ring));
            snapshots.push(Arc::new(NeighSnapshot::default()));
        }
    }

    // Egress functions (DNS, NAT46/NAT64, SNAT) and, for DNS46/NAT46, the mapping service on
    // the slow path: dSSM when enabled, else an in-process store (one replica only).
    let features = match &net {
        Some(n) => FeatureSetup::from_config(cfg, n, nworkers as u16)
            .map_err(|(field, msg)| Fail::Usage(format!("{file}: field `{field}`: {msg}")))?
            .map(Arc::new),
        None => None,
    };
    let mut map_rings = Vec::new();
    let mut summary_slice = None;
    let mut summary_dssm = "disabled (DNS46/NAT46 not configured)".to_string();
    let mut _dssm = None;
    let mut _localmap = None;
    if features.is_some() && (cfg.nat46.enabled || cfg.dns.enabled) {
        let mut links: Vec<Box<dyn WorkerLink>> = Vec::new();
        for i in 0..nworkers {
            let rings = MapRings {
                requests: Arc::new(
                    Ring::new(&format!("egress_mapreq{i}"), 4096, true)
                        .context("creating a mapping request ring")?,
                ),
                results: Arc::new(
                    Ring::new(&format!("egress_mapres{i}"), 4096, true)
                        .context("creating a mapping result ring")?,
                ),
            };
            links.push(Box::new(RingLink {
                requests: rings.requests.clone(),
                results: rings.results.clone(),
            }));
            map_rings.push(rings);
        }
        let slice = SliceAllocator::from_config(&cfg.nat46, cfg.tmm_index);
        if let Some(s) = &slice {
            let (a, b) = s.range();
            summary_slice = Some(format!("{a} - {b} ({} addresses)", s.size()));
            log::info!(
                "dns46 slice of tmm {}: {a} - {b} ({} addresses)",
                cfg.tmm_index,
                s.size()
            );
        }
        let settings = DssmSettings::from_config_and_env(&cfg.dssm)
            .map_err(|e| Fail::Usage(format!("{file}: field `dssm`: {e}")))?;
        summary_dssm = if settings.enabled {
            settings.describe()
        } else {
            "disabled: DNS46 mappings kept in this process only".into()
        };
        if settings.enabled {
            log::info!(
                "dssm: {} {:?} master `{}`, tls {}",
                if settings.sentinel {
                    "sentinel"
                } else {
                    "redis"
                },
                settings.endpoints,
                settings.master,
                if settings.tls.is_some() {
                    "on (mutual)"
                } else {
                    "off"
                }
            );
            _dssm = Some(
                dssm::start(settings, slice, links)
                    .map_err(|e| Fail::Usage(format!("{file}: field `dssm`: {e}")))?,
            );
        } else {
            log::info!("dssm disabled: DNS46 mappings are kept in this process only");
            _localmap =
                Some(localmap::start(slice, links).context("starting the mapping service")?);
        }
    }
    let reload_slots: Vec<Arc<ReloadSlot>> = (0..nworkers)
        .map(|_| Arc::new(ReloadSlot::default()))
        .collect();
    let exports: Vec<Arc<Export>> = (0..nworkers).map(|_| Arc::new(Export::default())).collect();
    let feature_stats: Vec<Arc<FeatureStats>> = (0..nworkers)
        .map(|_| Arc::new(FeatureStats::default()))
        .collect();

    // Hand-off rings (several workers with NAT or DNS): a packet whose state another worker
    // owns (its NAT port, its DNS query port) is moved to that worker's ring (docs/nat.md).
    let mut handoff_rings = Vec::new();
    let owners = features.as_ref().map(|f| {
        egress_vnf::datapath::handoff::Owners::new(
            nworkers as u16,
            f.dns.as_ref().map(|d| d.query_ports),
        )
    });
    if nworkers > 1 && owners.is_some() {
        for i in 0..nworkers {
            handoff_rings.push(Arc::new(
                rte::MbufRing::new(
                    &format!("egress_handoff{i}"),
                    egress_vnf::datapath::handoff::HANDOFF_RING_SIZE,
                    false,
                )
                .context("creating a hand-off ring")?,
            ));
        }
    }

    // Workers.
    let stop = Arc::new(AtomicBool::new(false));
    let hz = rte::tsc_hz();
    let drain_cycles = hz / 1_000_000 * cfg.dataplane.tx_drain_us as u64;
    let mut workers = Vec::new();
    for (i, &l) in lcores.iter().enumerate() {
        let counters = Arc::new(WorkerCounters::default());
        let mut w = Worker::new(
            WorkerConfig {
                index: i as u16,
                ports: ports.clone(),
                mode: cfg.dataplane.mode,
                drain_cycles,
            },
            counters.clone(),
            stop.clone(),
        );
        if let (Some(net), Some(inbox), Some(snapshot)) = (&net, inboxes.get(i), snapshots.get(i)) {
            w = w.with_egress(EgressSetup {
                net: net.clone(),
                pool,
                inbox: inbox.clone(),
                peers: inboxes
                    .iter()
                    .enumerate()
                    .filter(|(j, _)| *j != i)
                    .map(|(_, r)| r.clone())
                    .collect(),
                snapshot: snapshot.clone(),
                announce: i == 0,
                tsc_hz: hz,
                features: features
                    .as_ref()
                    .map(|f| Arc::new(f.for_worker(i as u16, nworkers as u16))),
                map_rings: map_rings.get(i).cloned(),
                seed: random_seed(),
                feature_stats: feature_stats[i].clone(),
                reload: reload_slots[i].clone(),
                handoff: owners.and_then(|o| {
                    egress_vnf::datapath::handoff::Handoff::new(i as u16, o, handoff_rings.clone())
                }),
                export: exports[i].clone(),
            });
        }
        rte::launch(l, move || {
            harden("worker");
            w.run()
        })
        .with_context(|| format!("launching worker on lcore {l}"))?;
        workers.push((l, counters));
    }
    let started = Instant::now();
    startup_summary(
        cfg,
        &ports,
        net.as_deref(),
        summary_slice.as_deref(),
        &summary_dssm,
    );
    log::info!(
        "forwarding started: mode {:?}, {} worker(s) on lcore(s) {}, {} port(s), tsc {} Hz",
        cfg.dataplane.mode,
        nworkers,
        lcores
            .iter()
            .map(|l| l.to_string())
            .collect::<Vec<_>>()
            .join(","),
        ports.len(),
        hz
    );

    // Slow path on the main lcore: signals, control socket, interactive prompt.
    let shutdown = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, shutdown.clone()).context("installing signal handlers")?;
    }
    let state = Arc::new(State {
        config_path: args.config.clone(),
        config: std::sync::Mutex::new(cfg.clone()),
        ports: ports.clone(),
        pool: Some(pool),
        workers: workers.clone(),
        tsc_hz: hz,
        net: net.clone(),
        neigh: snapshots.clone(),
        features: feature_stats.clone(),
        dssm: _dssm.as_ref().map(|d: &dssm::DssmHandle| d.stats()),
        localmap: _localmap
            .as_ref()
            .map(|l: &localmap::LocalMapHandle| l.stats.clone()),
        reload: if net.is_some() {
            reload_slots.clone()
        } else {
            Vec::new()
        },
        exports: if net.is_some() {
            exports.clone()
        } else {
            Vec::new()
        },
        overrides: ControlOverrides {
            socket: args
                .control_socket
                .as_ref()
                .map(|p| p.display().to_string()),
            metrics_listen: args.metrics_listen.clone(),
        },
    });
    let control = match ControlSocket::bind(std::path::Path::new(&cfg.control.socket)) {
        Ok(c) => Some(Arc::new(c)),
        Err(e) => {
            log::warn!("control socket {} unavailable: {e}", cfg.control.socket);
            None
        }
    };
    let server = control.clone().map(|c| {
        let (state, stop_srv, quit) = (state.clone(), shutdown.clone(), shutdown.clone());
        std::thread::Builder::new()
            .name("control".into())
            .spawn(move || c.serve(state, stop_srv, quit))
    });
    if let Some(c) = &control {
        let _ = c;
        log::info!("control socket {}", cfg.control.socket);
    }
    let metrics_thread = if metrics_on {
        let (state, stop_pub) = (state.clone(), shutdown.clone());
        Some(
            std::thread::Builder::new()
                .name("metrics".into())
                .spawn(move || {
                    egress_vnf::slowpath::metrics::Publisher::default().run(state, stop_pub)
                })
                .context("starting the metrics thread")?,
        )
    } else {
        None
    };
    if args.interactive {
        let (state, quit) = (state.clone(), shutdown.clone());
        let _ = std::thread::Builder::new()
            .name("prompt".into())
            .spawn(move || prompt(&state, &quit));
    }

    // The main thread watches the error counters (rate-limited log lines) until shutdown.
    let mut watch = egress_vnf::slowpath::lograte::ErrorWatch::default();
    let mut next_watch = Instant::now();
    while !shutdown.load(Ordering::Relaxed) {
        if Instant::now() >= next_watch {
            watch.run(&state);
            next_watch += Duration::from_secs(1);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    log::info!("shutting down");
    stop.store(true, Ordering::SeqCst);
    let mut failed = Vec::new();
    for (l, _) in &workers {
        let code = rte::wait(*l);
        if code != 0 {
            failed.push(format!("worker lcore {l} exited with {code}"));
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    if let Some(Ok(h)) = server {
        let _ = h.join();
    }
    if let Some(h) = metrics_thread {
        let _ = h.join();
    }
    drop(control);

    // Final statistics (stdout), then stop the ports.
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "---- final statistics ----");
    for p in &ports {
        let _ = writeln!(out, "{}", PortReport::read(p).line());
    }
    for r in state.lcore_reports() {
        let _ = writeln!(out, "{}", r.line());
    }
    for (r, n) in state.drop_totals() {
        if n > 0 {
            let _ = writeln!(out, "drop {}={n}", r.name());
        }
    }
    let _ = writeln!(out, "forwarding_seconds={elapsed:.3} tsc_hz={hz}");
    let _ = out.flush();
    for p in &ports {
        if let Err(e) = p.stop() {
            log::warn!("port {}: {e}", p.id());
        }
        let _ = p.close();
    }
    if !failed.is_empty() {
        return Err(Fail::Runtime(anyhow::anyhow!(failed.join("; "))));
    }
    Ok(())
}

/// The start-up summary: one `summary:` line per item an operator checks first.
fn startup_summary(
    cfg: &VnfConfig,
    ports: &[Port],
    net: Option<&NetConfig>,
    slice: Option<&str>,
    dssm: &str,
) {
    log::info!(
        "summary: {} {} (tmm index {}), mode {:?}, {} worker(s), {} mbufs",
        env!("CARGO_PKG_NAME"),
        env!("CARGO_PKG_VERSION"),
        cfg.tmm_index,
        cfg.dataplane.mode,
        cfg.dataplane.workers,
        cfg.dataplane.mbufs
    );
    for p in ports {
        let driver = p.info().map(|i| i.driver).unwrap_or_default();
        let mac = p
            .mac()
            .map(|m| egress_vnf::slowpath::commands::fmt_mac(&m))
            .unwrap_or_default();
        let link = match p.link() {
            Ok(l) if l.up => format!("up {} Mb/s", l.speed_mbps),
            Ok(_) => "down".into(),
            Err(_) => "?".into(),
        };
        log::info!(
            "summary: port {} {} driver {driver} mac {mac} link {link}",
            p.id(),
            p.name()
        );
    }
    if let Some(net) = net {
        for v in &net.vlans {
            let ports: Vec<String> = v.ports.iter().map(|p| format!("1.{}", p + 1)).collect();
            let addrs: Vec<String> = v
                .self_v4
                .map(|(a, l)| format!("{a}/{l}"))
                .into_iter()
                .chain(v.self_v6.map(|(a, l)| format!("{a}/{l}")))
                .collect();
            log::info!(
                "summary: vlan {} ({}) on {} tag {} mtu {}, self {}",
                v.name,
                if v.internal { "internal" } else { "external" },
                ports.join(","),
                v.tag.map_or("untagged".into(), |t| t.to_string()),
                v.mtu,
                if addrs.is_empty() {
                    "-".into()
                } else {
                    addrs.join(" ")
                }
            );
        }
        log::info!("summary: {} route(s)", net.routes.entries().len());
    }
    let s = &cfg.snat;
    if s.enabled {
        let pool: Vec<String> = s
            .pool_v4
            .iter()
            .map(|a| a.to_string())
            .chain(s.pool_v6.iter().map(|a| a.to_string()))
            .collect();
        log::info!(
            "summary: snat pool {} ports {}-{}, {} sessions per worker",
            if pool.is_empty() {
                "automap (external self IPs)".into()
            } else {
                pool.join(",")
            },
            s.port_min,
            s.port_max,
            s.sessions_per_worker
        );
    }
    if cfg.nat46.enabled {
        log::info!(
            "summary: nat46 pool {}, slice of this tmm {}, {} static mapping(s)",
            cfg.nat46
                .ipv4_subnet
                .as_ref()
                .map_or("-".into(), |p| format!("{p}")),
            slice.unwrap_or("-"),
            cfg.nat46.static_mappings.len()
        );
    }
    if cfg.nat64.enabled {
        log::info!("summary: nat64 on");
    }
    if cfg.dns.enabled {
        log::info!(
            "summary: dns gateway: {} forward zone(s), cache {} entries, rate limit {}",
            cfg.dns.forward_zones.len(),
            cfg.dns.cache_entries,
            cfg.dns.rate_limit
        );
    }
    log::info!("summary: dssm {dssm}");
}

/// `egress-vnf -i`: the command language on stdin (line editing and history on a terminal).
fn prompt(state: &State, quit: &AtomicBool) {
    let typed_quit = egress_vnf::slowpath::prompt::run(
        None,
        false,
        || quit.load(Ordering::Relaxed),
        |cmd, _json| state.execute(cmd),
    );
    if typed_quit {
        quit.store(true, Ordering::SeqCst);
    }
}

/// Capabilities kept after start-up: the kernel interfaces of the PMDs (`net_af_packet`,
/// `net_tap`: link and socket calls), locked memory, raw I/O of the device drivers, and binding
/// a metrics port below 1024. Everything else goes (docs/deploy.md).
const KEPT_CAPS: [u32; 5] = [
    rte::privs::cap::NET_ADMIN,
    rte::privs::cap::NET_RAW,
    rte::privs::cap::NET_BIND_SERVICE,
    rte::privs::cap::IPC_LOCK,
    rte::privs::cap::SYS_RAWIO,
];

/// Drops the privileges the calling thread no longer needs; a failure is logged, not fatal
/// (an unprivileged run has nothing to drop).
fn harden(thread: &str) {
    match rte::privs::drop_privileges(&KEPT_CAPS) {
        Ok(d) => log::log!(
            if thread == "main" { log::Level::Info } else { log::Level::Debug },
            "{thread}: privileges dropped: no_new_privs {}, effective capabilities {:#x}, {} dropped from the bounding set",
            d.no_new_privs,
            d.effective,
            d.bounding_dropped
        ),
        Err(e) => log::warn!("{thread}: cannot drop privileges: {e}"),
    }
}

/// 32 random bytes from the OS (seeds of query IDs, ports and hashes).
fn random_seed() -> [u8; 32] {
    let mut seed = [0u8; 32];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        use std::io::Read;
        if f.read_exact(&mut seed).is_ok() {
            return seed;
        }
    }
    // No /dev/urandom: time and pid, still different per process and run.
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    seed[..16].copy_from_slice(&t.to_le_bytes());
    seed[16..20].copy_from_slice(&std::process::id().to_le_bytes());
    seed
}
