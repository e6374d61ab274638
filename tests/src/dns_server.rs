//! A real authoritative DNS server (Knot DNS, `knotd`) inside a test namespace: the upstream of
//! the VNF's DNS proxy in end-to-end tests.
//!
//! [`AuthDns::start`] writes a Knot configuration and one zone file into the test directory,
//! starts `knotd` in the namespace (listening on the given addresses, port 53), and waits until
//! it answers the zone's SOA. The server is stopped by pid when the guard is dropped (SIGINT,
//! then SIGKILL), so nothing outlives the test. [`test_zone`] is the zone the DNS46/DNS64 tests
//! use: an A-only, an AAAA-only and a dual-stack name, a CNAME to the AAAA-only name, and a
//! name whose AAAA is IPv4-mapped.

use crate::process::ChildGuard;
use anyhow::{bail, Context, Result};
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::netns::NetNs;

/// One resource record of a zone, in zone-file syntax (`name` relative to the origin or `@`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rr {
    pub name: String,
    pub ttl: u32,
    pub rtype: String,
    pub rdata: String,
}

impl Rr {
    pub fn new(name: &str, ttl: u32, rtype: &str, rdata: &str) -> Rr {
        Rr {
            name: name.into(),
            ttl,
            rtype: rtype.into(),
            rdata: rdata.into(),
        }
    }
}

/// A zone: origin (e.g. `egress.test.`), SOA minimum (negative-caching TTL) and records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Zone {
    pub origin: String,
    pub soa_minimum: u32,
    pub records: Vec<Rr>,
}

/// Addresses of the names in [`test_zone`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TestNames {
    /// `v4only.<origin>`: A only.
    pub v4only: Ipv4Addr,
    /// `v6only.<origin>`: AAAA only.
    pub v6only: Ipv6Addr,
    /// `dual.<origin>`: A and AAAA.
    pub dual_v4: Ipv4Addr,
    pub dual_v6: Ipv6Addr,
}

impl Default for TestNames {
    fn default() -> Self {
        TestNames {
            v4only: Ipv4Addr::new(198, 18, 4, 10),
            v6only: "2001:db8:6::10".parse().unwrap_or(Ipv6Addr::UNSPECIFIED),
            dual_v4: Ipv4Addr::new(198, 18, 4, 20),
            dual_v6: "2001:db8:6::20".parse().unwrap_or(Ipv6Addr::UNSPECIFIED),
        }
    }
}

/// The zone of the DNS tests: `v4only` (A), `v6only` (AAAA), `dual` (A + AAAA), `alias` (CNAME
/// to `v6only`), `mapped` (AAAA `::ffff:198.18.4.30` only); SOA minimum 30 s.
pub fn test_zone(origin: &str, names: &TestNames) -> Zone {
    Zone {
        origin: origin.into(),
        soa_minimum: 30,
        records: vec![
            Rr::new("v4only", 300, "A", &names.v4only.to_string()),
            Rr::new("v6only", 300, "AAAA", &names.v6only.to_string()),
            Rr::new("dual", 300, "A", &names.dual_v4.to_string()),
            Rr::new("dual", 300, "AAAA", &names.dual_v6.to_string()),
            Rr::new("alias", 300, "CNAME", "v6only"),
            Rr::new("mapped", 300, "AAAA", "::ffff:198.18.4.30"),
        ],
    }
}

impl Zone {
    /// The zone file.
    pub fn file(&self) -> String {
        let mut z = String::new();
        let _ = writeln!(z, "$ORIGIN {}", self.origin);
        let _ = writeln!(z, "$TTL 300");
        let _ = writeln!(
            z,
            "@ 300 IN SOA ns hostmaster 1 3600 600 86400 {}",
            self.soa_minimum
        );
        let _ = writeln!(z, "@ 300 IN NS ns");
        let _ = writeln!(z, "ns 300 IN A 192.0.2.53");
        for r in &self.records {
            let _ = writeln!(z, "{} {} IN {} {}", r.name, r.ttl, r.rtype, r.rdata);
        }
        z
    }
}

/// Knot's `mod-synthrecord` in forward mode: every name `<prefix><address>.<zone>` whose address
/// (with `-` for `:`) is inside `network` gets an AAAA (or A) record of that address with
/// `ttl`, and a query of the other type gets NODATA; nothing is stored, so a zone of any number
/// of distinct AAAA-only names costs nothing to load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SynthForward {
    /// First characters of the first label, e.g. `h-`.
    pub prefix: String,
    /// The address range, e.g. `2001:db8::/64`.
    pub network: String,
    pub ttl: u32,
}

impl SynthForward {
    /// The name of `addr` under `origin` (`h-2001-db8--1a.<origin>`).
    pub fn name(&self, addr: IpAddr, origin: &str) -> String {
        let label = match addr {
            IpAddr::V4(a) => a.to_string().replace('.', "-"),
            IpAddr::V6(a) => a.to_string().replace(':', "-"),
        };
        format!("{}{label}.{}", self.prefix, origin.trim_end_matches('.'))
    }

    /// The module's section of the Knot configuration (`mod-synthrecord`, id `synth`).
    fn conf(&self) -> String {
        format!(
            "mod-synthrecord:\n  - id: synth\n    type: forward\n    prefix: \"{}\"\n    \
             network: {}\n    ttl: {}\n",
            self.prefix, self.network, self.ttl
        )
    }
}

/// A running `knotd` in a namespace, stopped on drop.
#[derive(Debug)]
pub struct AuthDns {
    child: ChildGuard,
    listen: Vec<IpAddr>,
}

impl AuthDns {
    /// Starts `knotd` in `ns`, serving `zone` on port 53 of every address of `listen` (they must
    /// already be configured in the namespace). Files go to `dir`.
    pub fn start(ns: &NetNs, dir: &Path, listen: &[IpAddr], zone: &Zone) -> Result<AuthDns> {
        AuthDns::start_with(ns, dir, listen, zone, None)
    }

    /// [`AuthDns::start`], with `synth` records synthesized in the zone.
    pub fn start_with(
        ns: &NetNs,
        dir: &Path,
        listen: &[IpAddr],
        zone: &Zone,
        synth: Option<&SynthForward>,
    ) -> Result<AuthDns> {
        if listen.is_empty() {
            bail!("knotd needs at least one listen address");
        }
        let zone_name = zone.origin.trim_end_matches('.');
        std::fs::write(dir.join(format!("{zone_name}.zone")), zone.file())?;
        let db = dir.join("knot-db");
        std::fs::create_dir_all(&db)?;
        let listens: Vec<String> = listen.iter().map(|a| format!("\"{a}@53\"")).collect();
        let conf = format!(
            "server:\n    rundir: \"{dir}\"\n    listen: [ {listen} ]\n\
             database:\n    storage: \"{db}\"\n\
             log:\n  - target: stderr\n    any: info\n\
             {module}\
             template:\n  - id: default\n    storage: \"{dir}\"\n    semantic-checks: on\n\
             zone:\n  - domain: {zone_name}\n    file: \"{zone_name}.zone\"\n{use_module}",
            dir = dir.display(),
            db = db.display(),
            listen = listens.join(", "),
            module = synth.map(SynthForward::conf).unwrap_or_default(),
            use_module = if synth.is_some() {
                "    module: mod-synthrecord/synth\n"
            } else {
                ""
            },
        );
        let conf_path = dir.join("knot.conf");
        std::fs::write(&conf_path, conf)?;
        let mut cmd = ns.command("knotd");
        cmd.arg("-c").arg(&conf_path);
        let child = ChildGuard::spawn(cmd, dir, "knotd")?;
        let mut server = AuthDns {
            child,
            listen: listen.to_vec(),
        };
        server.wait_ready(ns, &zone.origin, Duration::from_secs(10))?;
        Ok(server)
    }

    /// The pid of `knotd`.
    pub fn pid(&self) -> u32 {
        self.child.pid()
    }

    /// The addresses it listens on.
    pub fn listen(&self) -> &[IpAddr] {
        &self.listen
    }

    fn wait_ready(&mut self, ns: &NetNs, origin: &str, timeout: Duration) -> Result<()> {
        let start = Instant::now();
        let server = self.listen[0].to_string();
        loop {
            if let Some(status) = self.child.try_status()? {
                bail!(
                    "knotd exited ({status}) before it served {origin}:\n{}",
                    crate::process::tail(&self.child.stderr(), 20)
                );
            }
            let out = dig(ns, &server, origin, "SOA");
            if out.as_deref().is_ok_and(|o| !o.trim().is_empty()) {
                return Ok(());
            }
            if start.elapsed() > timeout {
                bail!(
                    "knotd did not serve {origin} within {timeout:?}:\n{}",
                    crate::process::tail(&self.child.stderr(), 20)
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Stops the server (SIGINT, then SIGKILL).
    pub fn stop(mut self) -> Result<()> {
        self.child
            .interrupt(Duration::from_secs(5))
            .map(|_| ())
            .context("stopping knotd")
    }
}

/// `dig @server +short +time=1 +tries=1 name type` inside `ns`: the answer lines.
pub fn dig(ns: &NetNs, server: &str, name: &str, rtype: &str) -> Result<String> {
    ns.run(
        "dig",
        &[
            &format!("@{server}"),
            "+short",
            "+time=1",
            "+tries=1",
            name,
            rtype,
        ],
    )
}

/// `dig @server +time=1 +tries=1 name type` inside `ns`: the RCODE (`NOERROR`, `NXDOMAIN`, ...).
pub fn dig_status(ns: &NetNs, server: &str, name: &str, rtype: &str) -> Result<String> {
    let out = ns.run(
        "dig",
        &[&format!("@{server}"), "+time=1", "+tries=1", name, rtype],
    )?;
    out.split("status: ")
        .nth(1)
        .and_then(|s| s.split(',').next())
        .map(str::to_string)
        .context("no status in dig output")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zone_file_lists_every_record() {
        let z = test_zone("egress.test.", &TestNames::default());
        let f = z.file();
        assert!(f.starts_with("$ORIGIN egress.test.\n"));
        assert!(f.contains("SOA ns hostmaster 1 3600 600 86400 30"));
        assert!(f.contains("v6only 300 IN AAAA 2001:db8:6::10"));
        assert!(f.contains("alias 300 IN CNAME v6only"));
        assert_eq!(f.lines().count(), 5 + z.records.len());
    }

    #[test]
    fn synthesized_names_and_module_section() {
        let s = SynthForward {
            prefix: "h-".into(),
            network: "2001:db8:d::/64".into(),
            ttl: 3600,
        };
        let a: Ipv6Addr = "2001:db8:d::1:a".parse().unwrap();
        assert_eq!(s.name(a.into(), "w.test."), "h-2001-db8-d--1-a.w.test");
        let c = s.conf();
        assert!(c.starts_with("mod-synthrecord:\n  - id: synth\n"), "{c}");
        assert!(c.contains("    type: forward\n    prefix: \"h-\"\n"), "{c}");
        assert!(
            c.contains("    network: 2001:db8:d::/64\n    ttl: 3600\n"),
            "{c}"
        );
    }
}
