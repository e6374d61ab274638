//! A throwaway local dSSM for tests, benchmarks and demos: a Redis master, its replicas and
//! Sentinels (Debian's `redis-server` and `redis-sentinel`), all on 127.0.0.1 with free ports,
//! with TLS certificates made by `openssl` (a CA, a server certificate for 127.0.0.1/localhost,
//! a client certificate, and a second CA that signed nothing of ours, for negative tests).
//! Processes are killed by pid and the directory removed when the [`Testbed`] is dropped.

use super::settings::{DssmSettings, TlsFiles};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// What to start.
#[derive(Debug, Clone)]
pub struct TestbedOptions {
    pub tls: bool,
    pub replicas: usize,
    pub sentinels: usize,
    /// Sentinel `down-after-milliseconds`.
    pub down_after_ms: u64,
    /// Sentinel `failover-timeout`.
    pub failover_timeout_ms: u64,
    /// Run every process (and `redis-cli`) inside this network namespace
    /// (`ip netns exec NAME`), on its loopback; None = the caller's namespace.
    pub netns: Option<String>,
}

impl Default for TestbedOptions {
    fn default() -> Self {
        TestbedOptions {
            tls: true,
            replicas: 1,
            sentinels: 1,
            down_after_ms: 1000,
            failover_timeout_ms: 5000,
            netns: None,
        }
    }
}

/// Paths of the generated PEM files.
#[derive(Debug, Clone)]
pub struct Certs {
    pub ca: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
    /// A CA that signed none of the above.
    pub other_ca: PathBuf,
}

/// The ports of a testbed (to start a new one in the same place).
#[derive(Debug, Clone)]
pub struct Ports {
    pub master: u16,
    pub replicas: Vec<u16>,
    pub sentinels: Vec<u16>,
}

impl Ports {
    /// Free loopback ports for `opts`.
    ///
    /// Every listener is held until all the ports are chosen: a port bound and released at
    /// once can be handed out again by the next `bind(0)`, and two roles on one port would
    /// leave one of them unstarted (a Redis answering where a Sentinel should be).
    pub fn free(opts: &TestbedOptions) -> std::io::Result<Ports> {
        let n = 1 + opts.replicas + opts.sentinels;
        let held: Vec<TcpListener> = (0..n)
            .map(|_| TcpListener::bind("127.0.0.1:0"))
            .collect::<Result<_, _>>()?;
        let mut ports = held
            .iter()
            .map(|l| l.local_addr().map(|a| a.port()))
            .collect::<Result<Vec<u16>, _>>()?
            .into_iter();
        let master = ports.next().unwrap_or_default();
        let replicas: Vec<u16> = ports.by_ref().take(opts.replicas).collect();
        let sentinels: Vec<u16> = ports.collect();
        drop(held);
        Ok(Ports {
            master,
            replicas,
            sentinels,
        })
    }
}

/// A running local dSSM.
pub struct Testbed {
    dir: PathBuf,
    pub opts: TestbedOptions,
    pub ports: Ports,
    pub certs: Option<Certs>,
    /// (name, port, process)
    procs: Vec<(String, u16, Child)>,
}

/// A free TCP port on 127.0.0.1 (bound and released).
pub fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn run(cmd: &mut Command) -> std::io::Result<()> {
    let out = cmd.stdout(Stdio::null()).stderr(Stdio::piped()).output()?;
    if out.status.success() {
        Ok(())
    } else {
        Err(std::io::Error::other(format!(
            "{cmd:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        )))
    }
}

fn ec_key_req(dir: &Path, name: &str, subj: &str) -> std::io::Result<()> {
    run(Command::new("openssl")
        .current_dir(dir)
        .args(["req", "-new", "-newkey", "ec", "-pkeyopt"])
        .arg("ec_paramgen_curve:prime256v1")
        .args(["-nodes", "-keyout"])
        .arg(format!("{name}.key"))
        .arg("-out")
        .arg(format!("{name}.csr"))
        .args(["-subj", subj]))
}

fn make_ca(dir: &Path, name: &str) -> std::io::Result<()> {
    run(Command::new("openssl")
        .current_dir(dir)
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
        .arg("ec_paramgen_curve:prime256v1")
        .args(["-nodes", "-days", "2", "-keyout"])
        .arg(format!("{name}.key"))
        .arg("-out")
        .arg(format!("{name}.crt"))
        .args(["-subj", &format!("/CN={name}")])
        .args(["-addext", "basicConstraints=critical,CA:TRUE"])
        .args(["-addext", "keyUsage=critical,keyCertSign,cRLSign"]))
}

fn sign(dir: &Path, name: &str, ext: &str) -> std::io::Result<()> {
    std::fs::write(dir.join(format!("{name}.ext")), ext)?;
    run(Command::new("openssl")
        .current_dir(dir)
        .args(["x509", "-req", "-in"])
        .arg(format!("{name}.csr"))
        .args([
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
        ])
        .arg("-out")
        .arg(format!("{name}.crt"))
        .arg("-extfile")
        .arg(format!("{name}.ext")))
}

/// Makes the certificates in `dir`.
pub fn make_certs(dir: &Path) -> std::io::Result<Certs> {
    make_ca(dir, "ca")?;
    make_ca(dir, "other-ca")?;
    ec_key_req(dir, "server", "/CN=localhost")?;
    sign(
        dir,
        "server",
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\nbasicConstraints=CA:FALSE\n",
    )?;
    ec_key_req(dir, "client", "/CN=egress-vnf")?;
    sign(
        dir,
        "client",
        "extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n",
    )?;
    Ok(Certs {
        ca: dir.join("ca.crt"),
        server_cert: dir.join("server.crt"),
        server_key: dir.join("server.key"),
        client_cert: dir.join("client.crt"),
        client_key: dir.join("client.key"),
        other_ca: dir.join("other-ca.crt"),
    })
}

impl Testbed {
    /// Starts a master, replicas and Sentinels on free ports and waits until the Sentinels
    /// know the master and the replicas are in sync.
    pub fn start(opts: TestbedOptions) -> std::io::Result<Testbed> {
        let mut tb = Self::new(opts)?;
        tb.launch()?;
        Ok(tb)
    }

    /// Prepares the directory, certificates and ports without starting anything (so a client
    /// can be started against a dSSM that is down).
    pub fn new(opts: TestbedOptions) -> std::io::Result<Testbed> {
        let ports = Ports::free(&opts)?;
        let dir = std::env::temp_dir().join(format!(
            "egress-dssm-{}-{}",
            std::process::id(),
            ports.master
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        let mut tb = Testbed {
            dir,
            opts,
            ports,
            certs: None,
            procs: Vec::new(),
        };
        if tb.opts.tls {
            tb.certs = Some(make_certs(&tb.dir)?);
        }
        Ok(tb)
    }

    /// Starts every process (after [`Testbed::new`] or [`Testbed::kill_all`]) on the same ports
    /// and waits until they are ready. Data is not persisted across a restart.
    pub fn launch(&mut self) -> std::io::Result<()> {
        self.kill_all();
        let ports = self.ports.clone();
        self.spawn_redis("master", ports.master, None)?;
        for (i, p) in ports.replicas.iter().enumerate() {
            self.spawn_redis(&format!("replica{i}"), *p, Some(ports.master))?;
        }
        // The Sentinels start once every replica is in sync, so that their first look at the
        // master (`INFO`, then every 10 s) finds all the replicas: a replica a Sentinel does not
        // know is not reconfigured to follow the new master after a failover (and `WAIT` on
        // the new master then has no replica to count).
        self.wait_ready(false, Duration::from_secs(20))?;
        for (i, p) in ports.sentinels.iter().enumerate() {
            self.spawn_sentinel(i, *p)?;
        }
        self.wait_ready(true, Duration::from_secs(20))
    }

    /// A command for `program`, inside [`TestbedOptions::netns`] when set (`ip netns exec`
    /// execs the program, so the child's pid is the program's).
    fn command(&self, program: &str) -> Command {
        match &self.opts.netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, program]);
                c
            }
            None => Command::new(program),
        }
    }

    fn tls_lines(&self, port: u16) -> String {
        match &self.certs {
            Some(c) => format!(
                "port 0\ntls-port {port}\ntls-cert-file {}\ntls-key-file {}\ntls-ca-cert-file {}\ntls-auth-clients yes\ntls-replication yes\n",
                c.server_cert.display(),
                c.server_key.display(),
                c.ca.display()
            ),
            None => format!("port {port}\n"),
        }
    }

    fn spawn_redis(&mut self, name: &str, port: u16, master: Option<u16>) -> std::io::Result<()> {
        let d = self.dir.join(name);
        std::fs::create_dir_all(&d)?;
        let mut conf = format!(
            "bind 127.0.0.1\nprotected-mode no\ndaemonize no\nsave \"\"\nappendonly no\ndir {}\nlogfile {}\nreplica-announce-ip 127.0.0.1\n{}",
            d.display(),
            self.dir.join(format!("{name}.log")).display(),
            self.tls_lines(port)
        );
        if let Some(m) = master {
            conf.push_str(&format!("replicaof 127.0.0.1 {m}\n"));
        }
        let path = self.dir.join(format!("{name}.conf"));
        std::fs::write(&path, conf)?;
        let child = self
            .command("redis-server")
            .arg(&path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| {
                std::io::Error::other(format!("redis-server: {e} (make setup installs it)"))
            })?;
        self.procs.push((name.to_string(), port, child));
        Ok(())
    }

    fn spawn_sentinel(&mut self, i: usize, port: u16) -> std::io::Result<()> {
        let name = format!("sentinel{i}");
        let conf = format!(
            "bind 127.0.0.1\nprotected-mode no\ndaemonize no\ndir {}\nlogfile {}\n{}sentinel announce-ip 127.0.0.1\nsentinel monitor dssm 127.0.0.1 {} {}\nsentinel down-after-milliseconds dssm {}\nsentinel failover-timeout dssm {}\nsentinel parallel-syncs dssm 1\n",
            self.dir.display(),
            self.dir.join(format!("{name}.log")).display(),
            self.tls_lines(port),
            self.ports.master,
            (self.opts.sentinels / 2 + 1),
            self.opts.down_after_ms,
            self.opts.failover_timeout_ms,
        );
        let path = self.dir.join(format!("{name}.conf"));
        std::fs::write(&path, conf)?;
        let child = self
            .command("redis-sentinel")
            .arg(&path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| {
                std::io::Error::other(format!("redis-sentinel: {e} (make setup installs it)"))
            })?;
        self.procs.push((name, port, child));
        Ok(())
    }

    /// `redis-cli` against `port` (with the client certificate when TLS is on); stdout.
    pub fn cli(&self, port: u16, args: &[&str]) -> std::io::Result<String> {
        let mut cmd = self.command("redis-cli");
        cmd.args(["-h", "127.0.0.1", "-p", &port.to_string()]);
        if let Some(c) = &self.certs {
            cmd.arg("--tls")
                .arg("--cacert")
                .arg(&c.ca)
                .arg("--cert")
                .arg(&c.client_cert)
                .arg("--key")
                .arg(&c.client_key);
        }
        let out = cmd
            .args(args)
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()?;
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    /// Waits until the master answers and every replica is in sync, and with `sentinels`, until
    /// every Sentinel lists every replica.
    fn wait_ready(&self, sentinels: bool, timeout: Duration) -> std::io::Result<()> {
        let t0 = Instant::now();
        loop {
            let mut ok = self.cli(self.ports.master, &["PING"])? == "PONG";
            for r in &self.ports.replicas {
                ok &= self
                    .cli(*r, &["INFO", "replication"])?
                    .contains("master_link_status:up");
            }
            for s in self.ports.sentinels.iter().filter(|_| sentinels) {
                let info = self.cli(*s, &["SENTINEL", "replicas", "dssm"])?;
                let known: Vec<&str> = info.lines().map(str::trim).collect();
                ok &= self
                    .ports
                    .replicas
                    .iter()
                    .all(|r| known.contains(&format!("127.0.0.1:{r}").as_str()));
            }
            if ok {
                return Ok(());
            }
            if t0.elapsed() > timeout {
                return Err(std::io::Error::other(format!(
                    "local dSSM not ready after {timeout:?} (logs in {})",
                    self.dir.display()
                )));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Client settings: the Sentinels (or the master when there is none), TLS with the client
    /// certificate (or plaintext with `insecure`), `WAIT 1` when there are replicas.
    pub fn settings(&self) -> DssmSettings {
        let sentinel = !self.ports.sentinels.is_empty();
        let endpoints = if sentinel {
            self.ports
                .sentinels
                .iter()
                .map(|p| ("127.0.0.1".to_string(), *p))
                .collect()
        } else {
            vec![("127.0.0.1".to_string(), self.ports.master)]
        };
        DssmSettings {
            enabled: true,
            sentinel,
            endpoints,
            master: "dssm".into(),
            tls: self.certs.as_ref().map(|c| TlsFiles {
                ca: c.ca.display().to_string(),
                cert: Some(c.client_cert.display().to_string()),
                key: Some(c.client_key.display().to_string()),
            }),
            insecure: self.certs.is_none(),
            wait_replicas: self.ports.replicas.len().min(1) as u32,
            wait_timeout_ms: 1000,
            ..DssmSettings::default()
        }
    }

    /// The environment variables of CONTRACT §3 for these settings.
    pub fn env(&self) -> Vec<(String, String)> {
        let s = self.settings();
        let mut v = vec![
            ("SESSIONDB_EXTERNAL_STORAGE".into(), "true".into()),
            (
                "SESSIONDB_DISCOVERY_SENTINEL".into(),
                s.sentinel.to_string(),
            ),
            (
                "SESSIONDB_EXTERNAL_SERVICE".into(),
                s.endpoints
                    .iter()
                    .map(|(h, p)| format!("{h}:{p}"))
                    .collect::<Vec<_>>()
                    .join(","),
            ),
            ("SESSIONDB_SENTINEL_MASTER".into(), "dssm".into()),
        ];
        if let Some(c) = &self.certs {
            v.push(("REDIS_CA_FILE".into(), c.ca.display().to_string()));
            v.push((
                "REDIS_AUTH_CERT".into(),
                c.client_cert.display().to_string(),
            ));
            v.push(("REDIS_AUTH_KEY".into(), c.client_key.display().to_string()));
        } else {
            v.push(("DSSM_INSECURE".into(), "true".into()));
        }
        v
    }

    /// The `[dssm]` section of a VNF config for these settings (TOML).
    pub fn vnf_toml(&self) -> String {
        let s = self.settings();
        let q = |v: &str| format!("\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\""));
        let service = s
            .endpoints
            .iter()
            .map(|(h, p)| format!("{h}:{p}"))
            .collect::<Vec<_>>()
            .join(",");
        let mut t = format!(
            "[dssm]\nenabled = true\nsentinel = {}\nservice = {}\nmaster = {}\nwait_replicas = {}\nwait_timeout_ms = {}\n",
            s.sentinel,
            q(&service),
            q(&s.master),
            s.wait_replicas,
            s.wait_timeout_ms
        );
        match &s.tls {
            Some(tls) => {
                t.push_str(&format!("ca_file = {}\n", q(&tls.ca)));
                if let (Some(c), Some(k)) = (&tls.cert, &tls.key) {
                    t.push_str(&format!("cert_file = {}\nkey_file = {}\n", q(c), q(k)));
                }
            }
            None => t.push_str("insecure = true\n"),
        }
        t
    }

    /// The master's port as the first Sentinel reports it now.
    pub fn current_master_port(&self) -> Option<u16> {
        let s = *self.ports.sentinels.first()?;
        let out = self
            .cli(s, &["SENTINEL", "get-master-addr-by-name", "dssm"])
            .ok()?;
        out.lines().nth(1)?.trim().parse().ok()
    }

    /// `kill -9` the process listening on `port`; returns whether one was found.
    pub fn kill9(&mut self, port: u16) -> bool {
        if let Some(i) = self.procs.iter().position(|(_, p, _)| *p == port) {
            let (_, _, mut c) = self.procs.remove(i);
            let _ = c.kill(); // SIGKILL
            let _ = c.wait();
            return true;
        }
        false
    }

    /// Kills every process (the directory stays until drop).
    pub fn kill_all(&mut self) {
        for (_, _, mut c) in self.procs.drain(..) {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// The working directory (configs, logs, certificates).
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Testbed {
    fn drop(&mut self) {
        self.kill_all();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
