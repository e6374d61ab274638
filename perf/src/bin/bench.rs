//! `bench`: pcap-replay throughput of each path of the VNF beside testpmd's I/O limit.
//!
//! For each path and each run: generate the path's capture, run `dpdk-testpmd --forward-mode=io`
//! and `egress-vnf` on the same vdevs (`net_pcap` replaying the capture forever -> `net_null`),
//! one after the other (the order alternates between runs), and report medians. See
//! `perf/README.md`.

use egress_perf::gen::GenParams;
use egress_perf::paths::{self, PathEnv, PathSpec, Port2};
use egress_perf::proc::{self, DpdkPrefix, Proc, StopFlag, TempDir};
use egress_perf::report::{self, PathResult, Run, Settings};
use egress_perf::sys::{CpuWindow, ForeignCpu, Machine};
use egress_perf::{control, pcap, testpmd, vnf};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Duration;

const USAGE: &str = "\
usage: bench [OPTIONS]

  --paths LIST       comma-separated paths to measure (default: every implemented path)
  --seconds N        measured seconds per run and side (default 10)
  --runs N           runs per path; the medians are reported (default 3)
  --warmup N         seconds of forwarding not measured, on both sides (default 2)
  --flows N          distinct flows in every path's capture (default: 1024; snat-new-flows
                     and dns46-new-mappings 1 Mi)
  --frame-len N      frame length without FCS, 60..=1514 (default 60: 64 bytes on the wire)
  --vnf PATH         egress-vnf binary (default: target/release/egress-vnf of the workspace)
  --testpmd PATH     testpmd binary (default: dpdk-testpmd)
  --no-build         do not run `cargo build --release -p egress-vnf` first
  --limit-only       measure testpmd only (no VNF); prints the table, writes no results
  --out PATH         results file (default: perf/results/latest.json)
  --keep-inputs DIR  also copy each path's capture, neighbour announcements and egress-vnf
                     configuration into DIR (for perf/scripts/callgrind-path.sh)
  --wait-idle N      before each run, wait up to N s for the machine to be idle (< 0.15 CPUs busy)
  --max-other-cpus X redo a run when other processes used more than X CPUs while either side
                     was measured, at most --runs redos in all (default: off)
  --note TEXT        free text stored with the results (e.g. what else ran on the machine)
  -h, --help         this text
";

struct Options {
    paths: Vec<&'static PathSpec>,
    seconds: u64,
    runs: usize,
    warmup: u64,
    frame_len: usize,
    flows: Option<usize>,
    vnf: PathBuf,
    testpmd: PathBuf,
    build: bool,
    limit_only: bool,
    out: PathBuf,
    keep_inputs: Option<PathBuf>,
    note: String,
    wait_idle: u64,
    max_other_cpus: Option<f64>,
}

const WORKERS: u16 = 1;
/// Longest wait, after the warm-up, for an established path's sessions to be open.
const PREWARM_LIMIT_SECONDS: u64 = 12;

/// EAL memory (`-m`, MB, no hugepages) for a capture of `frames` frames: twice the mbufs'
/// size (about 2.5 KB each with headers; without hugepages a mempool of a million mbufs does
/// not fit in less, as measured with testpmd) plus room for the rest, at least 1 GB.
fn memory_mb(frames: usize) -> usize {
    (paths::mbufs_for(frames) * 2 * 2560 / (1 << 20) + 512).max(1024)
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

fn parse_args() -> Result<Options, String> {
    let root = workspace_root();
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    let mut o = Options {
        paths: paths::PATHS.iter().collect(),
        seconds: 10,
        runs: 3,
        warmup: 2,
        frame_len: GenParams::default().frame_len,
        flows: None,
        vnf: target.join("release").join("egress-vnf"),
        testpmd: PathBuf::from("dpdk-testpmd"),
        build: true,
        limit_only: false,
        out: Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("results")
            .join("latest.json"),
        note: String::new(),
        keep_inputs: None,
        wait_idle: 0,
        max_other_cpus: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
        fn number<T: std::str::FromStr>(name: &str, v: String) -> Result<T, String> {
            v.parse()
                .map_err(|_| format!("{name}: `{v}` is not a number"))
        }
        match a.as_str() {
            "--paths" => {
                o.paths = value("--paths")?
                    .split(',')
                    .filter(|s| !s.is_empty())
                    .map(paths::find)
                    .collect::<Result<_, _>>()?;
            }
            "--seconds" => o.seconds = number("--seconds", value("--seconds")?)?,
            "--runs" => o.runs = number("--runs", value("--runs")?)?,
            "--warmup" => o.warmup = number("--warmup", value("--warmup")?)?,
            "--flows" => o.flows = Some(number("--flows", value("--flows")?)?),
            "--frame-len" => o.frame_len = number("--frame-len", value("--frame-len")?)?,
            "--vnf" => o.vnf = PathBuf::from(value("--vnf")?),
            "--testpmd" => o.testpmd = PathBuf::from(value("--testpmd")?),
            "--no-build" => o.build = false,
            "--limit-only" => o.limit_only = true,
            "--out" => o.out = PathBuf::from(value("--out")?),
            "--keep-inputs" => o.keep_inputs = Some(PathBuf::from(value("--keep-inputs")?)),
            "--note" => o.note = value("--note")?,
            "--max-other-cpus" => {
                o.max_other_cpus = Some(number("--max-other-cpus", value("--max-other-cpus")?)?)
            }
            "--wait-idle" => o.wait_idle = number("--wait-idle", value("--wait-idle")?)?,
            "-h" | "--help" => {
                print!("{USAGE}");
                std::process::exit(0);
            }
            _ => return Err(format!("unknown argument `{a}`\n{USAGE}")),
        }
    }
    if o.paths.is_empty() || o.seconds == 0 || o.runs == 0 || o.flows == Some(0) {
        return Err("--paths, --seconds, --runs and --flows must not be empty or zero".into());
    }
    if !(egress_perf::gen::MIN_FRAME_LEN..=egress_perf::gen::MAX_FRAME_LEN).contains(&o.frame_len) {
        return Err(format!("--frame-len {} is not in 60..=1514", o.frame_len));
    }
    let limit = paths::NEIGHBOUR_RUN_LIMIT_SECONDS;
    if o.warmup + o.seconds + 4 > limit && o.paths.iter().any(|p| p.port2 == Port2::Neighbours) {
        return Err(format!(
            "--warmup + --seconds must stay below {} s for the egress paths: the gateway's \
             neighbour entries, announced once at start, stay usable for about {limit} s \
             (perf/README.md)",
            limit - 4
        ));
    }
    Ok(o)
}

/// The DNS paths' upstream: a namespace holding the DPDK processes' end of a veth (port 1.2,
/// `net_af_packet`), and one running `knotd` on the other end with the zone of the capture's
/// names. Removed (knotd stopped by pid, veth and namespaces deleted) when dropped.
struct Upstream {
    _dns: egress_tests::dns_server::AuthDns,
    veth: egress_tests::netns::VethPair,
    dut: egress_tests::netns::NetNs,
    _up: egress_tests::netns::NetNs,
}

/// The zone the upstream serves for `path`: `dns-cache-hits` gets an A record (TTL 1 day) for
/// each of the capture's names; `dns46-new-mappings` an empty zone in which Knot's
/// synthrecord module answers AAAA for every `h-<address>.w46.bench.test` of
/// `topo::DNS46_HOSTS` (and NODATA to A), so any number of distinct names costs nothing to
/// load.
fn upstream_zone(
    path: &PathSpec,
    names: usize,
) -> (
    egress_tests::dns_server::Zone,
    Option<egress_tests::dns_server::SynthForward>,
) {
    use egress_perf::gen::{topo, DNS46_LABEL_PREFIX, DNS_ZONE};
    use egress_tests::dns_server::{Rr, SynthForward, Zone};
    let mut zone = Zone {
        origin: DNS_ZONE.into(),
        soa_minimum: 300,
        records: Vec::new(),
    };
    if path.dns46 {
        let synth = SynthForward {
            prefix: DNS46_LABEL_PREFIX.into(),
            network: format!("{}/{}", topo::DNS46_HOSTS, topo::DNS46_HOSTS_PREFIX),
            ttl: 86400,
        };
        return (zone, Some(synth));
    }
    zone.records = (0..names)
        .map(|i| {
            let a = std::net::Ipv4Addr::from(u32::from(topo::SERVER4) + i as u32);
            Rr::new(&format!("n{i}"), 86400, "A", &a.to_string())
        })
        .collect();
    (zone, None)
}

fn start_upstream(dir: &Path, path: &PathSpec, names: usize) -> Result<Upstream, String> {
    use egress_perf::gen::topo;
    use egress_tests::dns_server::AuthDns;
    use egress_tests::netns::{NetNs, VethPair};
    let e = |what: &str, err: anyhow::Error| format!("DNS upstream: {what}: {err:#}");
    let dut = NetNs::new("bench-dut").map_err(|x| e("namespace", x))?;
    let up = NetNs::new("bench-up").map_err(|x| e("namespace", x))?;
    let veth = VethPair::new(&dut, &up).map_err(|x| e("veth", x))?;
    up.ip(&[
        "addr",
        "add",
        &format!("{}/{}", topo::UPSTREAM_DNS, topo::EXTERNAL_PREFIX4),
        "dev",
        &veth.b,
    ])
    .map_err(|x| e("address", x))?;
    let (zone, synth) = upstream_zone(path, names);
    let knot = dir.join("knot");
    std::fs::create_dir_all(&knot).map_err(|x| format!("mkdir {}: {x}", knot.display()))?;
    let dns = AuthDns::start_with(
        &up,
        &knot,
        &[topo::UPSTREAM_DNS.into()],
        &zone,
        synth.as_ref(),
    )
    .map_err(|x| e("knotd", x))?;
    Ok(Upstream {
        _dns: dns,
        veth,
        dut,
        _up: up,
    })
}

/// Everything one run of one path needs.
struct Ctx<'a> {
    /// Network namespace the DPDK processes run in (DNS paths).
    netns: Option<&'a str>,
    opts: &'a Options,
    path: &'a PathSpec,
    gen: GenParams,
    /// Frames of the capture.
    frames: usize,
    dir: &'a Path,
    vdevs: Vec<String>,
    stop: &'a StopFlag,
    seq: u32,
}

fn eal(prefix: &str, memory_mb: usize) -> Vec<String> {
    [
        "-l",
        &format!("0-{WORKERS}"),
        "--no-huge",
        "-m",
        &memory_mb.to_string(),
        "--no-pci",
        "--file-prefix",
        prefix,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// Port 1.1 replays the capture forever; port 1.2 is a counting sink (`net_null`), or a
/// `net_pcap` that delivers the gateway's neighbour announcements once (`neighbours`) and
/// counts and drops what it is given to send.
fn vdevs(pcap: &Path, neighbours: Option<&Path>, upstream: Option<&str>) -> Vec<String> {
    vec![
        format!("net_pcap0,rx_pcap={},infinite_rx=1", pcap.display()),
        match (neighbours, upstream) {
            (_, Some(iface)) => format!("net_af_packet0,iface={iface}"),
            (Some(n), None) => format!("net_pcap1,rx_pcap={}", n.display()),
            (None, None) => "net_null0,no-rx=1".to_string(),
        },
    ]
}

/// Starts `program` (in the path's namespace when it has one: `ip netns exec` execs it, so
/// the pid is the program's).
fn spawn(ctx: &Ctx, name: &str, program: &Path, args: &[String]) -> Result<Proc, String> {
    match ctx.netns {
        None => Proc::spawn(name, program, args),
        Some(ns) => {
            let mut a = vec![
                "netns".to_string(),
                "exec".into(),
                ns.into(),
                program.to_string_lossy().into_owned(),
            ];
            a.extend_from_slice(args);
            Proc::spawn(name, Path::new("ip"), &a)
        }
    }
}

/// DPDK device names of ports 1.1 and 1.2.
fn port_drivers(path: &PathSpec) -> [(&'static str, &'static str); 2] {
    [
        ("1.1", "net_pcap0"),
        (
            "1.2",
            match path.port2 {
                Port2::Null => "net_null0",
                Port2::Neighbours => "net_pcap1",
                Port2::Upstream => "net_af_packet0",
            },
        ),
    ]
}

struct LimitRun {
    result: testpmd::TestpmdResult,
    cpu: Option<CpuWindow>,
}

/// With `--wait-idle`, waits for the machine to be idle before a side is started.
fn wait_idle(ctx: &Ctx) {
    if ctx.opts.wait_idle == 0 {
        return;
    }
    let (load, idle) = egress_perf::sys::wait_idle(
        0.15,
        Duration::from_secs(3),
        Duration::from_secs(ctx.opts.wait_idle),
        &|| ctx.stop.is_set(),
    );
    if !idle {
        eprintln!(
            "bench: machine still busy ({load:.2} CPUs) after {} s; measuring anyway",
            ctx.opts.wait_idle
        );
    }
}

fn run_testpmd(ctx: &Ctx) -> Result<LimitRun, String> {
    wait_idle(ctx);
    let prefix = format!("bench-tp-{}-{}", std::process::id(), ctx.seq);
    let _runtime = DpdkPrefix(prefix.clone());
    let mut args = testpmd::args(
        &eal(&prefix, memory_mb(ctx.frames)),
        &ctx.vdevs,
        WORKERS,
        paths::mbufs_for(ctx.frames),
    );
    if ctx.path.tx_port == "1.1" {
        // Answers leave where the queries came in: each port forwards to itself.
        args.push("--port-topology=loop".into());
    }
    let mut p = spawn(ctx, "dpdk-testpmd", &ctx.opts.testpmd, &args)?;
    // Start-up (EAL, mempool: long for a large capture) and the warm-up seconds are not part
    // of the samples used: the first statistics display comes when forwarding has started.
    p.wait_for_stdout(testpmd::FIRST_DISPLAY, Duration::from_secs(180), ctx.stop)
        .map_err(|e| format!("dpdk-testpmd {}: {e}", args.join(" ")))?;
    ctx.stop.sleep(Duration::from_secs(1 + ctx.opts.warmup))?;
    p.check_running()?;
    let cpu = ForeignCpu::start(p.pid());
    ctx.stop.sleep(Duration::from_secs(ctx.opts.seconds))?;
    let cpu = cpu.and_then(ForeignCpu::stop);
    p.interrupt()?;
    let f = p.finish(Duration::from_secs(20))?;
    if f.killed || !f.status.success() {
        return Err(format!(
            "dpdk-testpmd {} ended with {}{}\nstderr:\n{}\nstdout (tail):\n{}",
            args.join(" "),
            f.status,
            if f.killed { " after SIGKILL" } else { "" },
            f.stderr,
            tail(&f.stdout, 40)
        ));
    }
    let skip = 1 + ctx.opts.warmup as usize;
    // A slow start (EAL memory set-up on a loaded machine) leaves fewer displays than the
    // warm-up skips: keep the steady-state ones that exist (never the first, always 0).
    let tx_port = if ctx.path.tx_port == "1.1" { 0 } else { 1 };
    let result = testpmd::parse(&f.stdout, tx_port, skip)
        .or_else(|e| {
            let r = testpmd::parse(&f.stdout, tx_port, 1)?;
            eprintln!(
                "bench: {e}; using the {} samples after the first",
                r.samples.len()
            );
            Ok(r)
        })
        .map_err(|e: String| {
            format!(
                "dpdk-testpmd {}: {e}\nstdout (tail):\n{}",
                args.join(" "),
                tail(&f.stdout, 40)
            )
        })?;
    Ok(LimitRun { result, cpu })
}

struct VnfRun {
    stats: vnf::FinalStats,
    /// Steady state: between the control-socket snapshots after the warm-up and at the end.
    mpps: f64,
    cycles_per_packet: f64,
    window_seconds: f64,
    /// Whole run: from the final statistics (forwarding start to SIGINT).
    mpps_whole_run: f64,
    cycles_per_packet_whole_run: f64,
    cpu: Option<CpuWindow>,
    new_flows_per_s: Option<f64>,
    new_flows_per_packet: Option<f64>,
    sessions_end: Option<u64>,
    cycles_per_answer: Option<f64>,
    dns46: Option<control::Dns46Window>,
    dns46_created_end: Option<u64>,
    dns46_queries_end: Option<u64>,
}

fn run_vnf(ctx: &Ctx) -> Result<VnfRun, String> {
    wait_idle(ctx);
    let prefix = format!("bench-vnf-{}-{}", std::process::id(), ctx.seq);
    let _runtime = DpdkPrefix(prefix.clone());
    let socket = ctx.dir.join("control.sock");
    let cfg_path = ctx.dir.join(format!("vnf-{}.toml", ctx.seq));
    let tables = (ctx.path.config)(&PathEnv {
        workers: WORKERS,
        flows: ctx.gen.flows,
        frames: ctx.frames,
    });
    let cfg = vnf::config(
        &eal(&prefix, memory_mb(ctx.frames)),
        &tables,
        &socket.to_string_lossy(),
    );
    std::fs::write(&cfg_path, &cfg).map_err(|e| format!("write {}: {e}", cfg_path.display()))?;
    keep_input(ctx.opts, &cfg_path, "vnf.toml")?;
    let mut args = vec![
        "--config".to_string(),
        cfg_path.to_string_lossy().into_owned(),
        "--metrics-listen".into(),
        "off".into(),
        "--".into(),
    ];
    for v in &ctx.vdevs {
        args.push("--vdev".into());
        args.push(v.clone());
    }
    let cmdline = format!("{} {}", ctx.opts.vnf.display(), args.join(" "));
    let mut p = spawn(ctx, "egress-vnf", &ctx.opts.vnf, &args)?;
    p.wait_for_stderr(vnf::READY_LINE, Duration::from_secs(180), ctx.stop)
        .map_err(|e| format!("{cmdline}: {e}\nconfig:\n{cfg}"))?;
    ctx.stop.sleep(Duration::from_secs(ctx.opts.warmup))?;
    // Pre-warm: an established path is measured once the capture's first replay has opened
    // its sessions (a large capture takes longer than the warm-up to go round once).
    if let (Some(vs), false) = (ctx.path.vs, ctx.path.new_flows) {
        let want = (ctx.path.sessions)(&ctx.gen);
        let end = std::time::Instant::now() + Duration::from_secs(PREWARM_LIMIT_SECONDS);
        loop {
            let v = control::request(&socket, "show vs stats")
                .and_then(|v| control::conns_from(&v, vs))
                .map_err(|e| format!("{cmdline}: {e}"))?;
            if v.current >= want {
                break;
            }
            if std::time::Instant::now() >= end {
                eprintln!(
                    "bench: {}: {} of {want} sessions after the warm-up and {PREWARM_LIMIT_SECONDS} s more; measuring anyway",
                    ctx.path.name, v.current
                );
                break;
            }
            ctx.stop.sleep(Duration::from_millis(200))?;
        }
    }
    let snap = || {
        control::snapshot(&socket, ctx.path.tx_port, ctx.path.vs, ctx.path.dns46)
            .map_err(|e| format!("{cmdline}: {e}"))
    };
    let first = snap()?;
    let cpu = ForeignCpu::start(p.pid());
    ctx.stop.sleep(Duration::from_secs(ctx.opts.seconds))?;
    let last = snap()?;
    let cpu = cpu.and_then(ForeignCpu::stop);
    p.check_running().map_err(|e| format!("{cmdline}: {e}"))?;
    let (mpps, cycles_per_packet) =
        control::window(&first, &last).map_err(|e| format!("{cmdline}: {e}"))?;
    let window_seconds = last.at.duration_since(first.at).as_secs_f64();
    let new_flows_per_s = control::conns_per_second(&first, &last);
    let rx = last
        .worker_rx_packets
        .saturating_sub(first.worker_rx_packets);
    let new_flows_per_packet = match (first.conns, last.conns) {
        (Some(a), Some(b)) if rx > 0 => Some(b.total.saturating_sub(a.total) as f64 / rx as f64),
        _ => None,
    };
    let sessions_end = last.conns.map(|c| c.current);
    // DNS paths: every packet sent on port 1.1 is an answer to a pod.
    let answers = last.tx_packets.saturating_sub(first.tx_packets);
    let cycles_per_answer = (ctx.path.tx_port == "1.1" && answers > 0).then(|| {
        last.worker_busy_cycles
            .saturating_sub(first.worker_busy_cycles) as f64
            / answers as f64
    });
    let dns46 = control::dns46_window(&first, &last);
    let dns46_created_end = last.dns46.map(|d| d.created);
    let dns46_queries_end = last.dns46.map(|d| d.queries);
    p.interrupt()?;
    let f = p.finish(Duration::from_secs(30))?;
    let failed = |why: String| {
        format!(
            "{cmdline}: {why}\nconfig:\n{cfg}\nstdout:\n{}\nstderr (tail):\n{}",
            tail(&f.stdout, 40),
            tail(&f.stderr, 40)
        )
    };
    if f.killed || !f.status.success() {
        let how = if f.killed {
            " (killed: no exit within 30 s of SIGINT)"
        } else {
            ""
        };
        return Err(failed(format!("exited with {}{how}", f.status)));
    }
    let stats =
        vnf::FinalStats::parse(&f.stdout).map_err(|e| failed(format!("final statistics: {e}")))?;
    for (port, driver) in port_drivers(ctx.path) {
        let name = stats
            .port(port)
            .ok()
            .and_then(|p| p.fields.get("name").cloned());
        if name.as_deref() != Some(driver) {
            return Err(failed(format!(
                "port {port} is {name:?}, expected {driver}"
            )));
        }
    }
    let mpps_whole_run = stats.mpps(ctx.path.tx_port).map_err(&failed)?;
    if mpps_whole_run <= 0.0 || mpps <= 0.0 {
        return Err(failed("the VNF forwarded no packets".into()));
    }
    let cycles_per_packet_whole_run = stats.cycles_per_packet().map_err(&failed)?;
    Ok(VnfRun {
        stats,
        mpps,
        cycles_per_packet,
        window_seconds,
        mpps_whole_run,
        cycles_per_packet_whole_run,
        cpu,
        new_flows_per_s,
        new_flows_per_packet,
        sessions_end,
        cycles_per_answer,
        dns46,
        dns46_created_end,
        dns46_queries_end,
    })
}

fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

fn build_vnf() -> Result<(), String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    eprintln!("bench: cargo build --release -p egress-vnf --bin egress-vnf");
    let st = Command::new(cargo)
        .args([
            "build",
            "--release",
            "-p",
            "egress-vnf",
            "--bin",
            "egress-vnf",
        ])
        .current_dir(workspace_root())
        .status()
        .map_err(|e| format!("cargo: {e}"))?;
    if st.success() {
        Ok(())
    } else {
        Err(format!("cargo build --release -p egress-vnf failed ({st})"))
    }
}

/// Memory per session of the VNF's session table at the capacity the path configures:
/// `SessionTable::bytes_per_session` of a table built from the same `[snat]` section
/// (bytes, capacity).
fn session_memory(
    path: &PathSpec,
    gen: &GenParams,
    frames: usize,
) -> Result<(usize, usize), String> {
    let tables = (path.config)(&PathEnv {
        workers: WORKERS,
        flows: gen.flows,
        frames,
    });
    let text = vnf::config(&[], &tables, "/dev/null");
    let cfg = egress_config::VnfConfig::from_toml_str(&text, Path::new("bench.toml"))
        .map_err(|e| format!("{}: configuration: {e}", path.name))?;
    let nat = egress_vnf::nat::Nat::new(
        &egress_vnf::nat::NatConfig::from_config(&cfg.snat, WORKERS, None, None),
        0,
    );
    Ok((
        nat.table().bytes_per_session(),
        cfg.snat.sessions_per_worker as usize,
    ))
}

/// `--keep-inputs`: copies one input of a run into that directory under `name`.
fn keep_input(opts: &Options, from: &Path, name: &str) -> Result<(), String> {
    let Some(dir) = &opts.keep_inputs else {
        return Ok(());
    };
    std::fs::create_dir_all(dir).map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
    std::fs::copy(from, dir.join(name))
        .map(|_| ())
        .map_err(|e| format!("copy {} to {}: {e}", from.display(), dir.display()))
}

fn measure_path(
    opts: &Options,
    path: &PathSpec,
    dir: &Path,
    stop: &StopFlag,
    machine: &Machine,
) -> Result<PathResult, String> {
    let gen = GenParams {
        flows: opts.flows.unwrap_or(path.default_flows),
        frame_len: opts.frame_len,
    };
    let frames = paths::capture(path, &gen);
    let frame_count = frames.len();
    let pcap_path = dir.join(format!("{}.pcap", path.name));
    pcap::write_file(&pcap_path, &frames)
        .map_err(|e| format!("write {}: {e}", pcap_path.display()))?;
    drop(frames);
    let neighbours = match path.port2 {
        Port2::Null | Port2::Upstream => None,
        Port2::Neighbours => {
            let n = dir.join("neighbours.pcap");
            pcap::write_file(&n, &egress_perf::gen::neighbours())
                .map_err(|e| format!("write {}: {e}", n.display()))?;
            Some(n)
        }
    };
    keep_input(opts, &pcap_path, &format!("{}.pcap", path.name))?;
    if let Some(n) = &neighbours {
        keep_input(opts, n, "neighbours.pcap")?;
    }
    let upstream = match path.port2 {
        Port2::Upstream => Some(start_upstream(dir, path, gen.flows)?),
        _ => None,
    };
    let vdevs = vdevs(
        &pcap_path,
        neighbours.as_deref(),
        upstream.as_ref().map(|u| u.veth.a.as_str()),
    );
    let table = if path.vs.is_some() {
        Some(session_memory(path, &gen, frame_count)?)
    } else {
        None
    };
    let mut runs = Vec::new();
    let mut redone = 0;
    let mut r = 0;
    while r < opts.runs {
        let ctx = Ctx {
            netns: upstream.as_ref().map(|u| u.dut.name()),
            opts,
            path,
            gen,
            frames: frame_count,
            dir,
            vdevs: vdevs.clone(),
            stop,
            seq: (r + redone) as u32,
        };
        let limit_first = r % 2 == 0 || opts.limit_only;
        let (limit, v) = if limit_first {
            let l = run_testpmd(&ctx)?;
            let v = if opts.limit_only {
                None
            } else {
                Some(run_vnf(&ctx)?)
            };
            (l, v)
        } else {
            let v = run_vnf(&ctx)?;
            (run_testpmd(&ctx)?, Some(v))
        };
        let lim = &limit.result;
        let run = match &v {
            Some(v) => {
                let p11 = v.stats.port("1.1")?;
                Run {
                    vnf_mpps: v.mpps,
                    limit_mpps: lim.mpps,
                    ratio: v.mpps / lim.mpps,
                    vnf_cycles_per_packet: v.cycles_per_packet,
                    limit_cycles_per_packet: lim.cycles_per_packet,
                    vnf_window_seconds: v.window_seconds,
                    vnf_mpps_whole_run: v.mpps_whole_run,
                    vnf_cycles_per_packet_whole_run: v.cycles_per_packet_whole_run,
                    vnf_forwarding_seconds: v.stats.forwarding_seconds,
                    vnf_rx_packets: v.stats.workers_sum("rx_packets")?,
                    vnf_tx_packets: v.stats.port(path.tx_port)?.counter("tx_packets")?,
                    vnf_tx_dropped: v.stats.workers_sum("tx_dropped")?,
                    vnf_rx_missed: p11.counter("rx_missed")?,
                    vnf_rx_nombuf: p11.counter("rx_nombuf")?,
                    limit_samples_pps: lim.samples.clone(),
                    other_cpus_vnf: v.cpu.map(|c| c.other_cpus),
                    other_cpus_limit: limit.cpu.map(|c| c.other_cpus),
                    cpu_share_vnf: v.cpu.map(|c| c.forwarder_share),
                    cpu_share_limit: limit.cpu.map(|c| c.forwarder_share),
                    first: if limit_first { "testpmd" } else { "egress-vnf" },
                    vnf_new_flows_per_s: v.new_flows_per_s,
                    vnf_new_flows_per_packet: v.new_flows_per_packet,
                    vnf_sessions_end: v.sessions_end,
                    vnf_cycles_per_answer: v.cycles_per_answer,
                    vnf_dns46_mappings_per_s: v.dns46.map(|d| d.mappings_per_s),
                    vnf_dns46_answers_per_s: v.dns46.map(|d| d.answers_per_s),
                    vnf_dns46_mappings_per_query: v.dns46.map(|d| d.mappings_per_query),
                    vnf_dns46_mappings_end: v.dns46_created_end,
                    vnf_dns46_queries_end: v.dns46_queries_end,
                }
            }
            None => Run {
                vnf_mpps: f64::NAN,
                limit_mpps: lim.mpps,
                ratio: f64::NAN,
                vnf_cycles_per_packet: f64::NAN,
                limit_cycles_per_packet: lim.cycles_per_packet,
                vnf_window_seconds: 0.0,
                vnf_mpps_whole_run: f64::NAN,
                vnf_cycles_per_packet_whole_run: f64::NAN,
                vnf_forwarding_seconds: 0.0,
                vnf_rx_packets: 0,
                vnf_tx_packets: 0,
                vnf_tx_dropped: 0,
                vnf_rx_missed: 0,
                vnf_rx_nombuf: 0,
                limit_samples_pps: lim.samples.clone(),
                other_cpus_vnf: None,
                other_cpus_limit: limit.cpu.map(|c| c.other_cpus),
                cpu_share_vnf: None,
                cpu_share_limit: limit.cpu.map(|c| c.forwarder_share),
                first: "testpmd",
                vnf_new_flows_per_s: None,
                vnf_new_flows_per_packet: None,
                vnf_sessions_end: None,
                vnf_cycles_per_answer: None,
                vnf_dns46_mappings_per_s: None,
                vnf_dns46_answers_per_s: None,
                vnf_dns46_mappings_per_query: None,
                vnf_dns46_mappings_end: None,
                vnf_dns46_queries_end: None,
            },
        };
        let fmt_other = |o: Option<f64>| o.map_or_else(|| "?".into(), |o| format!("{o:.2}"));
        let dns46_part = match (
            run.vnf_dns46_mappings_per_s,
            run.vnf_dns46_mappings_per_query,
        ) {
            (Some(m), Some(q)) => format!(
                " | DNS46 {m:.0} new mappings/s ({} per CPU-second, {:.3} % of queries), \
                 {:.0} synthesized answers/s, {} cyc/answer, {} mappings at the end",
                run.cpu_share_vnf
                    .filter(|s| *s > 0.0)
                    .map_or_else(|| "?".into(), |s| format!("{:.0}", m / s)),
                q * 100.0,
                run.vnf_dns46_answers_per_s.unwrap_or(f64::NAN),
                run.vnf_cycles_per_answer
                    .map_or_else(|| "?".into(), |c| format!("{c:.0}")),
                run.vnf_dns46_mappings_end
                    .map_or_else(|| "?".into(), |c| c.to_string()),
            ),
            _ => String::new(),
        };
        let vnf_part = if v.is_some() {
            format!(
                "egress-vnf {:.2} Mpps ({:.1} cyc/pkt, other CPUs {}, forwarder CPU {}) | ratio {:.3}{dns46_part}",
                run.vnf_mpps,
                run.vnf_cycles_per_packet,
                fmt_other(run.other_cpus_vnf),
                fmt_other(run.cpu_share_vnf),
                run.ratio
            )
        } else {
            "egress-vnf not run".into()
        };
        eprintln!(
            "bench: {} run {}/{}: testpmd {:.2} Mpps ({} cyc/pkt, other CPUs {}, forwarder CPU {}) | {vnf_part}",
            path.name,
            r + 1,
            opts.runs,
            run.limit_mpps,
            run.limit_cycles_per_packet
                .map_or_else(|| "?".into(), |c| format!("{c:.1}")),
            fmt_other(run.other_cpus_limit),
            fmt_other(run.cpu_share_limit),
        );
        let other = [run.other_cpus_limit, run.other_cpus_vnf]
            .into_iter()
            .flatten()
            .fold(0.0f64, f64::max);
        if let Some(max) = opts.max_other_cpus {
            if other > max && redone < opts.runs {
                redone += 1;
                eprintln!(
                    "bench: other processes used {other:.2} CPUs (> {max}); run {} again",
                    r + 1
                );
                continue;
            }
        }
        runs.push(run);
        r += 1;
    }
    let settings = Settings {
        runs: opts.runs,
        seconds: opts.seconds,
        warmup_seconds: opts.warmup,
        flows: gen.flows,
        frame_len: opts.frame_len,
        wire_frame_len: opts.frame_len + 4,
        workers: WORKERS,
        hugepages: false,
        eal: eal("bench-{tp,vnf}-PID-RUN", memory_mb(frame_count)),
        vdevs: vdevs
            .iter()
            .map(|v| v.replace(&*dir.to_string_lossy(), "TMP"))
            .collect(),
        testpmd_args: testpmd::args(&[], &[], WORKERS, paths::mbufs_for(frame_count))[1..].to_vec(),
        note: opts.note.clone(),
    };
    let mut result = PathResult::from_runs(
        path.name,
        (path.sessions)(&gen),
        runs,
        settings,
        machine.clone(),
    );
    if let Some((bytes, capacity)) = table {
        result.bytes_per_session = Some(bytes as f64);
        result.session_capacity = Some(capacity as u64);
    }
    if path.dns46 {
        // Each name is asked once per pass of the capture: while a run has not gone round the
        // capture once, no name was asked twice and every query was a miss. After that a
        // mapped name is answered from the cache.
        if let Some(p) = result.dns46_passes {
            if p >= 1.0 {
                eprintln!(
                    "bench: {}: the pods asked {p:.2} x the {} names by the end of a run: names \
                     mapped earlier were answered from the cache; use a larger --flows",
                    path.name, gen.flows
                );
            } else {
                eprintln!(
                    "bench: {}: {:.0} % of the {} names asked by the end of the longest run: \
                     no name was asked twice, every query was a miss",
                    path.name,
                    p * 100.0,
                    gen.flows
                );
            }
        }
    }
    if path.new_flows {
        if let Some(f) = result.new_flows_per_packet.filter(|f| *f < 0.95) {
            eprintln!(
                "bench: {}: only {:.0} % of the packets opened a new flow: the capture comes \
                 round before the 1 s UDP timeout; use a larger --flows",
                path.name,
                f * 100.0
            );
        }
    }
    Ok(result)
}

fn write_results(out: &Path, results: &[PathResult]) -> Result<(), String> {
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
    }
    let json = serde_json::to_string_pretty(results).map_err(|e| e.to_string())?;
    let tmp = out.with_extension("json.tmp");
    std::fs::write(&tmp, json + "\n").map_err(|e| format!("write {}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, out).map_err(|e| format!("rename to {}: {e}", out.display()))
}

fn run() -> Result<(), String> {
    let opts = parse_args()?;
    let stop = StopFlag::default();
    for sig in [
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGHUP,
    ] {
        signal_hook::flag::register(sig, stop.0.clone())
            .map_err(|e| format!("signal handler: {e}"))?;
    }
    let mut parents = vec![
        PathBuf::from("/var/run/dpdk"),
        PathBuf::from("/tmp/dpdk"),
        std::env::temp_dir(),
    ];
    if let Some(x) = std::env::var_os("XDG_RUNTIME_DIR") {
        parents.push(PathBuf::from(x).join("dpdk"));
    }
    proc::sweep_stale(&parents, &["bench-tp", "bench-vnf", "egress-perf"]);

    if !opts.limit_only {
        if opts.build {
            build_vnf()?;
        }
        if !opts.vnf.is_file() {
            return Err(format!(
                "{} not found: build it with `cargo build --release -p egress-vnf`",
                opts.vnf.display()
            ));
        }
    }
    let dir =
        TempDir::create(std::env::temp_dir().join(format!("egress-perf-{}", std::process::id())))?;
    let machine = Machine::probe();
    let mut results = Vec::new();
    for path in &opts.paths {
        eprintln!(
            "bench: {} ({}): {} runs x {} s, {} flows, {}-byte frames",
            path.name,
            path.summary,
            opts.runs,
            opts.seconds,
            opts.flows.unwrap_or(path.default_flows),
            opts.frame_len + 4
        );
        results.push(measure_path(&opts, path, dir.path(), &stop, &machine)?);
    }
    print!("{}", report::table(&results));
    print!("{}", report::scale_summary(&results));
    let noisy = results
        .iter()
        .flat_map(|r| &r.runs)
        .flat_map(|r| [r.other_cpus_vnf, r.other_cpus_limit])
        .flatten()
        .fold(0.0f64, f64::max);
    if noisy > 0.2 {
        println!("note: other processes used up to {noisy:.2} CPUs during the measurements; the figures are noisy");
    }
    if opts.limit_only {
        println!("(--limit-only: results not written)");
    } else {
        write_results(&opts.out, &results)?;
        println!("results: {}", opts.out.display());
    }
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench: error: {e}");
            ExitCode::FAILURE
        }
    }
}
