//! Peers of the SNAT end-to-end tests: a UDP echo server and a many-flow UDP client (the
//! `snat-peer` binary of this crate), an HTTP server (`python3 -m http.server`) that logs the
//! peer address of every request, and a packet capture (`dumpcap`) in a namespace. Every
//! process runs inside the test's own namespaces and is stopped by pid ([`ChildGuard`]).

use crate::netns::NetNs;
use crate::process::{ChildGuard, Stream};
use anyhow::{bail, Context, Result};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The `snat-peer` binary (integration tests pass `env!("CARGO_BIN_EXE_snat-peer")`).
#[derive(Debug, Clone)]
pub struct SnatPeer {
    pub bin: PathBuf,
}

/// One answered flow of [`SnatPeer::flows`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub index: usize,
    /// The client's own source port.
    pub local_port: u16,
    /// The client address the server saw (after SNAT).
    pub seen: SocketAddr,
}

/// What [`SnatPeer::flows`] reports.
#[derive(Debug, Clone, Default)]
pub struct FlowsResult {
    pub flows: usize,
    pub answers: Vec<Answer>,
    pub sent: u64,
    pub elapsed_ms: u64,
    pub output: String,
}

impl FlowsResult {
    pub fn answered(&self) -> usize {
        self.answers.len()
    }
}

impl SnatPeer {
    pub fn new(bin: impl Into<PathBuf>) -> SnatPeer {
        SnatPeer { bin: bin.into() }
    }

    /// Starts the UDP echo server in `ns` on `addr` and waits until it is bound.
    pub fn echo(&self, ns: &NetNs, addr: &str, log_dir: &Path) -> Result<ChildGuard> {
        let mut cmd = ns.command(&self.bin.to_string_lossy());
        cmd.args(["echo", addr]);
        let mut c = ChildGuard::spawn(cmd, log_dir, "udp-echo")?;
        c.wait_for_output(Stream::Stdout, "ready", Duration::from_secs(10))?;
        Ok(c)
    }

    /// Runs `n` concurrent UDP flows from `ns` to `server` (see the binary's doc); source
    /// ports `first..first+n` when given.
    pub fn flows(
        &self,
        ns: &NetNs,
        server: &str,
        n: usize,
        retry: Duration,
        timeout: Duration,
        first: Option<u16>,
    ) -> Result<FlowsResult> {
        let mut cmd = ns.command(&self.bin.to_string_lossy());
        cmd.args([
            "flows",
            server,
            &n.to_string(),
            &retry.as_millis().to_string(),
            &timeout.as_millis().to_string(),
        ]);
        if let Some(f) = first {
            cmd.arg(f.to_string());
        }
        let out = crate::cmd::output(&mut cmd)?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        if !out.status.success() {
            bail!(
                "snat-peer flows: {}\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        parse_flows(&text)
    }
}

/// Parses the output of `snat-peer flows`.
pub fn parse_flows(text: &str) -> Result<FlowsResult> {
    let mut r = FlowsResult {
        output: text.to_string(),
        ..FlowsResult::default()
    };
    let mut summary = false;
    for line in text.lines() {
        let w: Vec<&str> = line.split_whitespace().collect();
        match w.as_slice() {
            ["flow", i, port, seen] => r.answers.push(Answer {
                index: i.parse()?,
                local_port: port.parse()?,
                seen: seen.parse().with_context(|| format!("peer in {line:?}"))?,
            }),
            ["summary", rest @ ..] => {
                summary = true;
                for kv in rest {
                    let (k, v) = kv.split_once('=').context("summary field")?;
                    match k {
                        "flows" => r.flows = v.parse()?,
                        "sent" => r.sent = v.parse()?,
                        "elapsed_ms" => r.elapsed_ms = v.parse()?,
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    if !summary {
        bail!("no summary line in:\n{text}");
    }
    Ok(r)
}

/// `python3 -m http.server` in `ns`, bound to `addr:port`, serving `root`. It logs one line
/// per request on stderr, starting with the peer address.
pub fn http_server(
    ns: &NetNs,
    addr: &str,
    port: u16,
    root: &Path,
    log_dir: &Path,
) -> Result<ChildGuard> {
    let mut cmd = ns.command("python3");
    cmd.args(["-u", "-m", "http.server", "--bind", addr, "--directory"])
        .arg(root)
        .arg(port.to_string());
    let name = format!("http-{}", if addr.contains(':') { "v6" } else { "v4" });
    let mut c = ChildGuard::spawn(cmd, log_dir, &name)?;
    c.wait_for_output(Stream::Stdout, "Serving HTTP", Duration::from_secs(20))?;
    Ok(c)
}

/// The peer addresses of the requests an `http.server` logged so far.
pub fn http_peers(server: &ChildGuard) -> Vec<String> {
    server
        .stderr()
        .lines()
        .filter(|l| l.contains("\"GET "))
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect()
}

/// A packet capture with `dumpcap` on one interface of a namespace.
pub struct Capture {
    child: ChildGuard,
    pub file: PathBuf,
}

impl Capture {
    /// Starts capturing on `ifname` in `ns` into `dir/NAME.pcap` and waits until dumpcap
    /// captures.
    pub fn start(ns: &NetNs, ifname: &str, dir: &Path, name: &str) -> Result<Capture> {
        let file = dir.join(format!("{name}.pcap"));
        let mut cmd = ns.command("dumpcap");
        cmd.args(["-q", "-P", "-i", ifname, "-w"]).arg(&file);
        let mut child = ChildGuard::spawn(cmd, dir, name)?;
        child.wait_for_output(Stream::Stderr, "Capturing on", Duration::from_secs(20))?;
        // dumpcap announces itself just before it opens the socket.
        let deadline = Instant::now() + Duration::from_secs(5);
        while !file.exists() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        std::thread::sleep(Duration::from_millis(300));
        Ok(Capture { child, file })
    }

    /// Stops dumpcap and returns the captured frames.
    pub fn stop(mut self) -> Result<Vec<Vec<u8>>> {
        std::thread::sleep(Duration::from_millis(300));
        self.child.interrupt(Duration::from_secs(10))?;
        Ok(crate::pcap::read(&self.file)?
            .packets
            .into_iter()
            .map(|p| p.data)
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_flows_output() {
        let r = parse_flows(
            "flow 0 40000 192.0.2.10:40000\nflow 2 40002 [2001:db8::10]:1025\n\
             summary flows=3 answered=2 sent=7 elapsed_ms=12\n",
        )
        .unwrap();
        assert_eq!(r.flows, 3);
        assert_eq!(r.answered(), 2);
        assert_eq!(r.sent, 7);
        assert_eq!(r.answers[1].seen, "[2001:db8::10]:1025".parse().unwrap());
        assert!(parse_flows("flow 0 1 1.2.3.4:5\n").is_err());
    }
}
