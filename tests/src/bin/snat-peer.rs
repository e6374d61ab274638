//! UDP peers for the SNAT end-to-end tests, run inside a namespace with `ip netns exec`.
//!
//! ```text
//! snat-peer echo ADDR:PORT
//!     UDP echo server: answers every datagram with its payload, a space and the peer address
//!     the server saw (`payload peer`). Prints `ready` once bound.
//! snat-peer flows SERVER:PORT N RETRY_MS TIMEOUT_MS [FIRST_SRC_PORT]
//!     N concurrent UDP flows (one socket each, source ports FIRST_SRC_PORT.. or ephemeral):
//!     every flow sends its index; unanswered flows resend every RETRY_MS until every flow has
//!     its answer or TIMEOUT_MS has passed. Prints one line per answered flow
//!     `flow INDEX LOCAL_PORT SEEN_PEER` and a last line
//!     `summary flows=N answered=M sent=S elapsed_ms=T`.
//! ```
//! Exit status 0 whatever the number of answers (the test judges); 2 for bad arguments.

use std::io::{ErrorKind, Write};
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

fn usage() -> ! {
    eprintln!(
        "usage: snat-peer echo ADDR:PORT | snat-peer flows SERVER:PORT N RETRY_MS TIMEOUT_MS [FIRST_SRC_PORT]"
    );
    std::process::exit(2)
}

fn arg<T: std::str::FromStr>(a: Option<&String>) -> T {
    a.and_then(|s| s.parse().ok()).unwrap_or_else(|| usage())
}

fn echo(addr: SocketAddr) -> std::io::Result<()> {
    let sock = UdpSocket::bind(addr)?;
    println!("ready");
    std::io::stdout().flush()?;
    let mut buf = [0u8; 2048];
    loop {
        let (n, peer) = sock.recv_from(&mut buf)?;
        let mut out = buf[..n].to_vec();
        out.extend_from_slice(format!(" {peer}").as_bytes());
        // A full socket buffer loses a reply; the client resends.
        let _ = sock.send_to(&out, peer);
    }
}

/// Raises the soft limit of open files to the hard limit (one socket per flow).
fn raise_nofile() {
    use rustix::process::{getrlimit, setrlimit, Resource};
    let mut l = getrlimit(Resource::Nofile);
    l.current = l.maximum;
    let _ = setrlimit(Resource::Nofile, l);
}

fn flows(
    server: SocketAddr,
    n: usize,
    retry: Duration,
    timeout: Duration,
    first: Option<u16>,
) -> std::io::Result<()> {
    raise_nofile();
    let any: SocketAddr = if server.is_ipv4() {
        "0.0.0.0:0".parse().unwrap()
    } else {
        "[::]:0".parse().unwrap()
    };
    let mut socks = Vec::with_capacity(n);
    for i in 0..n {
        let mut a = any;
        if let Some(f) = first {
            a.set_port(f + i as u16);
        }
        let s = UdpSocket::bind(a)?;
        s.set_nonblocking(true)?;
        s.connect(server)?;
        socks.push(s);
    }
    let start = Instant::now();
    let mut answered: Vec<Option<String>> = vec![None; n];
    let mut left = n;
    let mut sent = 0u64;
    let mut buf = [0u8; 2048];
    let mut next_send = start;
    while left > 0 && start.elapsed() < timeout {
        if Instant::now() >= next_send {
            for (i, s) in socks.iter().enumerate() {
                if answered[i].is_none() {
                    match s.send(i.to_string().as_bytes()) {
                        Ok(_) => sent += 1,
                        Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                        // ICMP errors of an earlier send surface here: keep trying.
                        Err(_) => {}
                    }
                    // Pace the bursts so that the VNF's and the kernels' rings keep up.
                    if sent.is_multiple_of(256) {
                        std::thread::sleep(Duration::from_millis(2));
                    }
                }
            }
            next_send = Instant::now() + retry;
        }
        let mut got = 0;
        for (i, s) in socks.iter().enumerate() {
            while let Ok(len) = s.recv(&mut buf) {
                let text = String::from_utf8_lossy(&buf[..len]).into_owned();
                let mut w = text.split(' ');
                if w.next() == Some(i.to_string().as_str()) && answered[i].is_none() {
                    answered[i] = Some(w.next().unwrap_or("").to_string());
                    left -= 1;
                    got += 1;
                }
            }
        }
        if got == 0 {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    let elapsed = start.elapsed().as_millis();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for (i, a) in answered.iter().enumerate() {
        if let Some(peer) = a {
            let port = socks[i].local_addr()?.port();
            writeln!(out, "flow {i} {port} {peer}")?;
        }
    }
    writeln!(
        out,
        "summary flows={n} answered={} sent={sent} elapsed_ms={elapsed}",
        n - left
    )?;
    out.flush()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let r = match args.first().map(String::as_str) {
        Some("echo") => echo(arg(args.get(1))),
        Some("flows") => flows(
            arg(args.get(1)),
            arg(args.get(2)),
            Duration::from_millis(arg(args.get(3))),
            Duration::from_millis(arg(args.get(4))),
            args.get(5).map(|_| arg(args.get(5))),
        ),
        _ => usage(),
    };
    if let Err(e) = r {
        eprintln!("snat-peer: {e}");
        std::process::exit(1);
    }
}
