//! Running the `egress-vnf` binary in a test.
//!
//! [`VnfBuilder`] writes a TOML config into a fresh temporary directory (EAL lcores `0-1`,
//! `--no-pci`, a unique `--file-prefix`, `--no-huge -m 512` unless told otherwise, the control socket in the
//! same directory, metrics off), starts the release binary (optionally inside a network
//! namespace) and waits for `forwarding started` on stderr. [`Vnf::stop`] sends SIGINT, expects
//! exit status 0 and parses the final statistics. Dropping a [`Vnf`] stops it by pid and removes
//! the DPDK runtime directory and hugepage files of its file prefix.

use crate::netns::NetNs;
use crate::process::{tail, ChildGuard, Stream};
use anyhow::{bail, Context, Result};
pub use rustix::process::Signal;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::time::Duration;

/// The line the VNF logs on stderr once its workers forward.
pub const READY_LINE: &str = "forwarding started";

/// How long the VNF gets to become ready (EAL init on a busy 2-core machine included).
pub const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// How long the VNF gets to exit after SIGINT.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(20);

/// The target directories where the release binary may be, best first: `EGRESS_TARGET_DIR`,
/// the target directory that holds the running test executable, `CARGO_TARGET_DIR` (relative
/// to the workspace root when relative), and `<workspace>/target`.
pub fn target_dir_candidates() -> Vec<PathBuf> {
    let root = crate::workspace_root();
    let mut dirs = Vec::new();
    if let Some(d) = std::env::var_os("EGRESS_TARGET_DIR") {
        dirs.push(root.join(d));
    }
    // .../target/<profile>/deps/<test-exe> or .../target/<profile>/<bin>
    if let Ok(exe) = std::env::current_exe() {
        for anc in exe.ancestors().skip(1) {
            if anc.join("CACHEDIR.TAG").exists() {
                dirs.push(anc.to_path_buf());
                break;
            }
        }
    }
    if let Some(d) = std::env::var_os("CARGO_TARGET_DIR") {
        dirs.push(root.join(d));
    }
    dirs.push(root.join("target"));
    dirs.dedup();
    dirs
}

/// The path of a release binary of the workspace (`egress-vnf`, `egressctl`, ...), or
/// `EGRESS_VNF_BIN` for `egress-vnf` when set.
pub fn release_binary(name: &str) -> Result<PathBuf> {
    if name == "egress-vnf" {
        if let Some(p) = std::env::var_os("EGRESS_VNF_BIN") {
            return Ok(PathBuf::from(p));
        }
    }
    let candidates: Vec<PathBuf> = target_dir_candidates()
        .into_iter()
        .map(|d| d.join("release").join(name))
        .collect();
    candidates.iter().find(|p| p.is_file()).cloned().with_context(|| {
        format!(
            "{name} is not built (looked at {candidates:?}); run `cargo build --release --workspace` \
             (`make build`) first"
        )
    })
}

/// The `egress-vnf` release binary.
pub fn vnf_binary() -> Result<PathBuf> {
    release_binary("egress-vnf")
}

/// A TOML string literal.
pub fn toml_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// What to run and how.
#[derive(Debug, Clone)]
pub struct VnfBuilder {
    mode: String,
    workers: u16,
    lcores: String,
    no_huge: bool,
    memory_mb: Option<u32>,
    eal: Vec<String>,
    extra_toml: String,
    cli_eal: Vec<String>,
    netns: Option<String>,
    label: String,
    ready_timeout: Duration,
    metrics_listen: String,
    cli_args: Vec<String>,
    stdin: Option<PathBuf>,
}

impl Default for VnfBuilder {
    fn default() -> Self {
        VnfBuilder {
            mode: "bridge".into(),
            workers: 1,
            lcores: "0-1".into(),
            no_huge: true,
            memory_mb: Some(512),
            eal: vec![],
            extra_toml: String::new(),
            cli_eal: vec![],
            netns: None,
            label: "vnf".into(),
            ready_timeout: READY_TIMEOUT,
            metrics_listen: "off".into(),
            cli_args: vec![],
            stdin: None,
        }
    }
}

impl VnfBuilder {
    pub fn new() -> VnfBuilder {
        VnfBuilder::default()
    }

    /// `dataplane.mode` (`bridge` by default).
    pub fn mode(mut self, mode: &str) -> Self {
        self.mode = mode.into();
        self
    }

    pub fn workers(mut self, n: u16) -> Self {
        self.workers = n;
        self
    }

    /// EAL `-l` (default `0-1`: main lcore 0, worker lcore 1). A list with `@` (lcore to CPU
    /// map, e.g. `0@0,1@1,2@0` for two workers on a two-CPU machine) is passed as `--lcores`.
    pub fn lcores(mut self, l: &str) -> Self {
        self.lcores = l.into();
        self
    }

    /// `--no-huge` (default true). With false, the test must provide hugepages
    /// ([`crate::hugepages::HugepageGuard`]).
    pub fn no_huge(mut self, yes: bool) -> Self {
        self.no_huge = yes;
        self
    }

    /// EAL `-m` (default 512); `None` passes no `-m`.
    pub fn memory_mb(mut self, mb: Option<u32>) -> Self {
        self.memory_mb = mb;
        self
    }

    /// An EAL argument in the config file's `eal` list.
    pub fn eal_arg(mut self, a: impl Into<String>) -> Self {
        self.eal.push(a.into());
        self
    }

    /// EAL arguments in the config file's `eal` list.
    pub fn eal_args<I: IntoIterator<Item = S>, S: Into<String>>(mut self, args: I) -> Self {
        self.eal.extend(args.into_iter().map(Into::into));
        self
    }

    /// `--vdev SPEC` in the config file's `eal` list.
    pub fn vdev(self, spec: &str) -> Self {
        self.eal_arg("--vdev").eal_arg(spec)
    }

    /// EAL arguments passed on the command line after `--`.
    pub fn cli_eal_arg(mut self, a: impl Into<String>) -> Self {
        self.cli_eal.push(a.into());
        self
    }

    /// A command-line option of `egress-vnf` (before `--`), e.g. `-i` or `--metrics-listen`.
    pub fn cli_arg(mut self, a: impl Into<String>) -> Self {
        self.cli_args.push(a.into());
        self
    }

    /// Feeds this file to the VNF's stdin (for `-i`; default /dev/null).
    pub fn stdin_file(mut self, p: &Path) -> Self {
        self.stdin = Some(p.to_owned());
        self
    }

    /// TOML appended to the generated config (tables such as `[[vlans]]`).
    pub fn extra_toml(mut self, t: &str) -> Self {
        self.extra_toml.push_str(t);
        self.extra_toml.push('\n');
        self
    }

    /// Runs the VNF inside this network namespace.
    pub fn netns(mut self, ns: &NetNs) -> Self {
        self.netns = Some(ns.name().into());
        self
    }

    /// Names the log files and temporary directory.
    pub fn label(mut self, l: &str) -> Self {
        self.label = l.into();
        self
    }

    /// `control.metrics_listen` (default `off`), e.g. `127.0.0.1:9100` in the VNF's namespace.
    pub fn metrics_listen(mut self, addr: &str) -> Self {
        self.metrics_listen = addr.into();
        self
    }

    pub fn ready_timeout(mut self, t: Duration) -> Self {
        self.ready_timeout = t;
        self
    }

    /// The config file text for a given file prefix and control socket path.
    pub fn config_text(&self, file_prefix: &str, control_socket: &Path) -> String {
        // --no-pci: tests use vdevs only and must not touch the machine's PCI devices.
        let lcore_opt = if self.lcores.contains('@') {
            "--lcores"
        } else {
            "-l"
        };
        let mut eal = vec![
            lcore_opt.to_string(),
            self.lcores.clone(),
            "--no-pci".to_string(),
        ];
        if self.no_huge {
            eal.push("--no-huge".into());
        }
        if let Some(m) = self.memory_mb {
            eal.push("-m".into());
            eal.push(m.to_string());
        }
        eal.push("--file-prefix".into());
        eal.push(file_prefix.into());
        eal.extend(self.eal.iter().cloned());
        let eal: Vec<String> = eal.iter().map(|a| toml_str(a)).collect();
        format!(
            "eal = [{}]\n\n[dataplane]\nmode = {}\nworkers = {}\n\n[control]\nsocket = {}\nmetrics_listen = {}\n\n{}",
            eal.join(", "),
            toml_str(&self.mode),
            self.workers,
            toml_str(&control_socket.to_string_lossy()),
            toml_str(&self.metrics_listen),
            self.extra_toml
        )
    }

    /// Writes the config and starts the VNF without waiting for readiness.
    pub fn spawn(&self) -> Result<Vnf> {
        let dir = crate::test_dir(&self.label)?;
        let file_prefix = FilePrefix::new();
        let control_socket = dir.path().join("control.sock");
        let config = dir.path().join("vnf.toml");
        std::fs::write(
            &config,
            self.config_text(file_prefix.as_str(), &control_socket),
        )?;
        let mut args: Vec<String> = vec!["--config".into(), config.to_string_lossy().into()];
        args.extend(self.cli_args.iter().cloned());
        if !self.cli_eal.is_empty() {
            args.push("--".into());
            args.extend(self.cli_eal.iter().cloned());
        }
        let child = spawn_vnf_with_stdin(
            &args,
            self.netns.as_deref(),
            dir.path(),
            &self.label,
            self.stdin.as_deref(),
        )?;
        Ok(Vnf {
            child,
            config,
            file_prefix,
            control_socket,
            dir,
        })
    }

    /// Starts the VNF and waits until it logs [`READY_LINE`].
    pub fn start(&self) -> Result<Vnf> {
        let mut vnf = self.spawn()?;
        vnf.child
            .wait_for_output(Stream::Stderr, READY_LINE, self.ready_timeout)
            .with_context(|| format!("starting egress-vnf with {}", vnf.config.display()))?;
        Ok(vnf)
    }
}

/// Starts the VNF binary with `args` (inside `netns` when given), logs in `log_dir`.
pub fn spawn_vnf(
    args: &[String],
    netns: Option<&str>,
    log_dir: &Path,
    label: &str,
) -> Result<ChildGuard> {
    spawn_vnf_with_stdin(args, netns, log_dir, label, None)
}

/// [`spawn_vnf`] with stdin read from a file (None: /dev/null).
pub fn spawn_vnf_with_stdin(
    args: &[String],
    netns: Option<&str>,
    log_dir: &Path,
    label: &str,
    stdin: Option<&Path>,
) -> Result<ChildGuard> {
    let bin = vnf_binary()?;
    let mut cmd = match netns {
        Some(ns) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns]).arg(&bin);
            c
        }
        None => Command::new(&bin),
    };
    cmd.args(args);
    cmd.env("RUST_BACKTRACE", "1");
    match stdin {
        Some(p) => {
            ChildGuard::spawn_with_stdin(cmd, std::fs::File::open(p)?.into(), log_dir, label)
        }
        None => ChildGuard::spawn(cmd, log_dir, label),
    }
}

/// Runs the VNF with `args` until it exits by itself (invalid config or arguments). Fails if it
/// is still running after `timeout` (it is then stopped).
pub fn run_to_exit(args: &[String], log_dir: &Path, timeout: Duration) -> Result<VnfExit> {
    let mut child = spawn_vnf(args, None, log_dir, "vnf")?;
    match child.wait_timeout(timeout)? {
        Some(status) => Ok(VnfExit {
            status,
            stdout: child.stdout(),
            stderr: child.stderr(),
        }),
        None => {
            let _ = child.interrupt(STOP_TIMEOUT);
            bail!(
                "egress-vnf {args:?} still ran after {timeout:?}\n--- stderr ---\n{}",
                tail(&child.stderr(), 40)
            )
        }
    }
}

/// A running VNF.
#[derive(Debug)]
pub struct Vnf {
    child: ChildGuard,
    config: PathBuf,
    file_prefix: FilePrefix,
    control_socket: PathBuf,
    dir: tempfile::TempDir,
}

/// How a VNF run ended.
#[derive(Debug, Clone)]
pub struct VnfExit {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl VnfExit {
    /// The final statistics printed on stdout.
    pub fn stats(&self) -> Result<FinalStats> {
        FinalStats::parse(&self.stdout)
    }
}

impl Vnf {
    pub fn pid(&self) -> u32 {
        self.child.pid()
    }

    pub fn config_path(&self) -> &Path {
        &self.config
    }

    pub fn control_socket(&self) -> &Path {
        &self.control_socket
    }

    pub fn file_prefix(&self) -> &str {
        self.file_prefix.as_str()
    }

    /// The test's temporary directory (config, logs).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn stderr(&self) -> String {
        self.child.stderr()
    }

    pub fn stdout(&self) -> String {
        self.child.stdout()
    }

    /// Fails if the VNF has exited.
    pub fn check_running(&mut self) -> Result<()> {
        if let Some(s) = self.child.try_status()? {
            bail!(
                "egress-vnf exited ({s})\n--- stderr ---\n{}",
                tail(&self.stderr(), 40)
            );
        }
        Ok(())
    }

    /// Stops the VNF with SIGINT and requires exit status 0 and parseable final statistics.
    pub fn stop(self) -> Result<(VnfExit, FinalStats)> {
        self.stop_with(Signal::INT)
    }

    /// Stops the VNF with `sig` (SIGINT or SIGTERM; SIGKILL after [`STOP_TIMEOUT`]) and requires
    /// exit status 0 and parseable final statistics.
    pub fn stop_with(mut self, sig: Signal) -> Result<(VnfExit, FinalStats)> {
        let status = self.child.stop_with(sig, STOP_TIMEOUT)?;
        let exit = VnfExit {
            status,
            stdout: self.child.stdout(),
            stderr: self.child.stderr(),
        };
        if status.code() != Some(0) {
            bail!(
                "egress-vnf exited with {status} after SIGINT, expected 0\n--- stderr ---\n{}\n--- stdout ---\n{}",
                tail(&exit.stderr, 40),
                tail(&exit.stdout, 20)
            );
        }
        let stats = exit
            .stats()
            .with_context(|| format!("final statistics on stdout:\n{}", exit.stdout))?;
        Ok((exit, stats))
    }
}

impl Drop for Vnf {
    fn drop(&mut self) {
        if self.child.try_status().ok().flatten().is_none() {
            if let Err(e) = self.child.interrupt(STOP_TIMEOUT) {
                eprintln!("cleanup: {e:#}");
            }
        }
        if std::thread::panicking() {
            eprintln!(
                "--- egress-vnf stderr ({}) ---\n{}\n--- egress-vnf stdout ---\n{}",
                self.config.display(),
                tail(&self.stderr(), 60),
                tail(&self.stdout(), 20)
            );
        }
        // `file_prefix` is dropped after this, with the process gone: it removes the DPDK files.
    }
}

/// A unique DPDK `--file-prefix`; on drop, removes what a DPDK process with this prefix left
/// behind ([`remove_dpdk_files`]). Drop it only after the process has exited.
#[derive(Debug)]
pub struct FilePrefix(String);

impl FilePrefix {
    pub fn new() -> FilePrefix {
        FilePrefix(crate::unique_file_prefix())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for FilePrefix {
    fn default() -> Self {
        FilePrefix::new()
    }
}

impl Drop for FilePrefix {
    fn drop(&mut self) {
        remove_dpdk_files(&self.0);
    }
}

/// Removes what a DPDK primary process with this `--file-prefix` leaves behind: its runtime
/// directory and its hugepage files.
pub fn remove_dpdk_files(file_prefix: &str) {
    for run_dir in ["/var/run/dpdk", "/run/dpdk"] {
        let d = Path::new(run_dir).join(file_prefix);
        if d.exists() {
            let _ = std::fs::remove_dir_all(&d);
        }
    }
    for mount in crate::hugepages::hugetlbfs_mounts() {
        if let Ok(entries) = std::fs::read_dir(&mount) {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if name.starts_with(&format!("{file_prefix}map_")) {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
    }
}

/// One `key=value` line of the final statistics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatsLine {
    pub fields: BTreeMap<String, String>,
}

impl StatsLine {
    fn parse(words: &[&str]) -> StatsLine {
        let fields = words
            .iter()
            .filter_map(|w| w.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        StatsLine { fields }
    }

    /// A numeric field (0 if absent or not a number).
    pub fn get(&self, key: &str) -> u64 {
        self.fields
            .get(key)
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }

    pub fn get_str(&self, key: &str) -> Option<&str> {
        self.fields.get(key).map(String::as_str)
    }
}

/// The statistics the VNF prints on stdout when it stops:
///
/// ```text
/// port 1.1 name=net_pcap0 rx_packets=N rx_bytes=N ... tx_errors=N
/// lcore 1 worker=0 rx_packets=N tx_packets=N tx_dropped=N busy_cycles=N total_cycles=N
/// forwarding_seconds=F tsc_hz=N
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FinalStats {
    /// By port name (`1.1`).
    pub ports: BTreeMap<String, StatsLine>,
    /// By lcore id.
    pub lcores: BTreeMap<u32, StatsLine>,
    pub forwarding_seconds: f64,
    pub tsc_hz: u64,
}

impl FinalStats {
    pub fn parse(stdout: &str) -> Result<FinalStats> {
        let mut s = FinalStats::default();
        let mut summary = false;
        for line in stdout.lines() {
            let words: Vec<&str> = line.split_whitespace().collect();
            match words.as_slice() {
                ["port", name, rest @ ..] => {
                    s.ports.insert(name.to_string(), StatsLine::parse(rest));
                }
                ["lcore", id, rest @ ..] => {
                    if let Ok(id) = id.parse() {
                        s.lcores.insert(id, StatsLine::parse(rest));
                    }
                }
                [first, ..] if first.starts_with("forwarding_seconds=") => {
                    let l = StatsLine::parse(&words);
                    s.forwarding_seconds = l
                        .get_str("forwarding_seconds")
                        .and_then(|v| v.parse().ok())
                        .context("forwarding_seconds is not a number")?;
                    s.tsc_hz = l.get("tsc_hz");
                    summary = true;
                }
                _ => {}
            }
        }
        if s.ports.is_empty() || !summary {
            bail!("no final statistics (port lines and a forwarding_seconds line)");
        }
        Ok(s)
    }

    /// The statistics of a port (`1.1`); an error names the ports that exist.
    pub fn port(&self, name: &str) -> Result<&StatsLine> {
        self.ports
            .get(name)
            .with_context(|| format!("no stats for port {name} (have {:?})", self.ports.keys()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_final_statistics() {
        let out = "something else\n\
            port 1.1 name=net_pcap0 rx_packets=10 rx_bytes=1000 rx_missed=0 rx_nombuf=0 rx_errors=0 tx_packets=0 tx_bytes=0 tx_errors=0\n\
            port 1.2 name=net_pcap1 rx_packets=0 rx_bytes=0 rx_missed=0 rx_nombuf=0 rx_errors=0 tx_packets=10 tx_bytes=1000 tx_errors=0\n\
            lcore 1 worker=0 rx_packets=10 tx_packets=10 tx_dropped=0 busy_cycles=5 total_cycles=9\n\
            forwarding_seconds=1.25 tsc_hz=2000000000\n";
        let s = FinalStats::parse(out).unwrap();
        assert_eq!(s.port("1.1").unwrap().get("rx_packets"), 10);
        assert_eq!(s.port("1.2").unwrap().get("tx_bytes"), 1000);
        assert_eq!(s.port("1.2").unwrap().get_str("name"), Some("net_pcap1"));
        assert_eq!(s.lcores[&1].get("tx_packets"), 10);
        assert_eq!(s.forwarding_seconds, 1.25);
        assert_eq!(s.tsc_hz, 2_000_000_000);
        assert!(s.port("1.3").is_err());
        assert!(FinalStats::parse("no stats\n").is_err());
    }

    #[test]
    fn config_text_is_valid_toml_shape() {
        let b = VnfBuilder::new()
            .vdev("net_null0")
            .extra_toml("[[vlans]]\nname = \"x\"");
        let t = b.config_text("egt1x2", Path::new("/tmp/a \"b\"/c.sock"));
        assert!(t.starts_with(
            "eal = [\"-l\", \"0-1\", \"--no-pci\", \"--no-huge\", \"-m\", \"512\", \"--file-prefix\", \"egt1x2\", \"--vdev\", \"net_null0\"]"
        ));
        assert!(t.contains("mode = \"bridge\""));
        assert!(t.contains("socket = \"/tmp/a \\\"b\\\"/c.sock\""));
        assert!(t.ends_with("[[vlans]]\nname = \"x\"\n"));
    }

    #[test]
    fn target_dirs_include_the_workspace_target() {
        let c = target_dir_candidates();
        assert!(c.contains(&crate::workspace_root().join("target")), "{c:?}");
    }
}
