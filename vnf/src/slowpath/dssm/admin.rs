//! `egressctl dssm ...`: manual DNS46 entries, straight to dSSM (CONTRACT §4).
//!
//! ```text
//! egressctl dssm [CONNECTION] set dns46 --key IPV4 --val IPV6 [--force] [RANGE]
//! egressctl dssm [CONNECTION] display dns46
//! egressctl dssm [CONNECTION] delete dns46 --key IPV4
//! egressctl dssm [CONNECTION] upgrade dns46
//! ```
//! Connection: the CONTRACT §3 environment, over the `[dssm]` section of `--config FILE` when
//! given, under the flags `--service`, `--sentinel`/`--no-sentinel`, `--master`, `--ca`,
//! `--cert`, `--key-file`, `--insecure`. Range (for `set`): the reserved static range is the
//! first `maxReservedStaticIps` usable addresses of `dnsNat46Ipv4Subnet`, from
//! `--subnet CIDR --reserved N`, or from the `[nat46]` section of `--config FILE`.

use super::conn::{connect, load_tls};
use super::settings::{DssmSettings, TlsFiles};
use super::store::Store;
use super::{install_crypto_provider, DssmError};
use clap::{Parser, Subcommand, ValueEnum};
use egress_config::{Dssm, Ipv4Prefix, Nat46Partition, VnfConfig};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "egressctl dssm",
    about = "Manual DNS46 mappings in dSSM (Redis behind Sentinel, mutual TLS)",
    after_help = "Connection settings come from the environment (SESSIONDB_EXTERNAL_SERVICE, \
SESSIONDB_DISCOVERY_SENTINEL, SESSIONDB_SENTINEL_MASTER, REDIS_CA_FILE, REDIS_AUTH_CERT, \
REDIS_AUTH_KEY), over the [dssm] section of --config, under the flags."
)]
pub struct DssmArgs {
    /// VNF config file: its [dssm] section (connection) and [nat46] section (reserved range).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// host[:port][,host[:port]...] of the Sentinels (or of the master with --no-sentinel).
    #[arg(long, global = true)]
    service: Option<String>,
    /// The service is a Sentinel.
    #[arg(long, global = true, conflicts_with = "no_sentinel")]
    sentinel: bool,
    /// The service is the Redis master itself.
    #[arg(long, global = true)]
    no_sentinel: bool,
    /// Sentinel master name.
    #[arg(long, global = true)]
    master: Option<String>,
    /// CA file (turns TLS on).
    #[arg(long, global = true)]
    ca: Option<String>,
    /// Client certificate.
    #[arg(long, global = true)]
    cert: Option<String>,
    /// Client key.
    #[arg(long = "key-file", global = true)]
    key_file: Option<String>,
    /// Allow plaintext (development only).
    #[arg(long, global = true)]
    insecure: bool,
    #[command(subcommand)]
    cmd: DssmCmd,
}

/// The record kind (only `dns46` exists).
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Dns46,
}

#[derive(Subcommand, Debug)]
enum DssmCmd {
    /// Adds or replaces a manual mapping (both keys).
    Set {
        kind: Kind,
        /// The IPv4 address (from the reserved static range).
        #[arg(long)]
        key: String,
        /// The IPv6 address it maps to.
        #[arg(long)]
        val: String,
        /// Accept an IPv4 outside the reserved static range.
        #[arg(long)]
        force: bool,
        /// dnsNat46Ipv4Subnet, for the reserved range.
        #[arg(long)]
        subnet: Option<String>,
        /// maxReservedStaticIps, for the reserved range.
        #[arg(long)]
        reserved: Option<u32>,
    },
    /// Lists every mapping: IPV4 and IPV6, one per line.
    Display { kind: Kind },
    /// Deletes the mapping of an IPv4 (both keys).
    Delete {
        kind: Kind,
        #[arg(long)]
        key: String,
    },
    /// Adds the missing v6 key to every legacy (v4-only) record.
    Upgrade { kind: Kind },
}

/// Shortest `WAIT` timeout of `egressctl dssm` writes, milliseconds.
const ADMIN_WAIT_MS: u32 = 2000;

fn settings(a: &DssmArgs, cfg: Option<&VnfConfig>) -> Result<DssmSettings, DssmError> {
    let base = cfg.map(|c| c.dssm.clone()).unwrap_or_else(|| Dssm {
        sentinel: true,
        ..Dssm::default()
    });
    let mut s = DssmSettings::from_config_and_env(&base)?;
    if a.no_sentinel {
        s.sentinel = false;
    }
    if a.sentinel {
        s.sentinel = true;
    }
    let svc = a.service.clone().or_else(|| {
        // Re-parse the service with the (possibly changed) default port.
        std::env::var("SESSIONDB_EXTERNAL_SERVICE")
            .ok()
            .or_else(|| (!base.service.is_empty()).then(|| base.service.clone()))
    });
    if let Some(svc) = svc {
        s.endpoints =
            super::settings::parse_endpoints(&svc, if s.sentinel { 26379 } else { 6379 })?;
    }
    if let Some(m) = &a.master {
        s.master = m.clone();
    }
    if let Some(ca) = &a.ca {
        s.tls = Some(TlsFiles {
            ca: ca.clone(),
            cert: s.tls.as_ref().and_then(|t| t.cert.clone()),
            key: s.tls.as_ref().and_then(|t| t.key.clone()),
        });
    }
    if let Some(t) = s.tls.as_mut() {
        if a.cert.is_some() {
            t.cert = a.cert.clone();
        }
        if a.key_file.is_some() {
            t.key = a.key_file.clone();
        }
    }
    if a.insecure {
        s.insecure = true;
    }
    s.validate()?;
    Ok(s)
}

fn reserved_range(
    subnet: &Option<String>,
    reserved: Option<u32>,
    cfg: Option<&VnfConfig>,
) -> Result<Option<(Ipv4Addr, Ipv4Addr)>, String> {
    let (subnet, reserved) = match (subnet, reserved) {
        (Some(s), r) => (
            s.parse::<Ipv4Prefix>()
                .map_err(|e| format!("--subnet `{s}`: {e}"))?,
            r.or(cfg.map(|c| c.nat46.max_reserved_static_ips))
                .ok_or("--subnet needs --reserved N (maxReservedStaticIps)")?,
        ),
        (None, r) => match cfg.and_then(|c| c.nat46.ipv4_subnet.map(|s| (s, c))) {
            Some((s, c)) => (s, r.unwrap_or(c.nat46.max_reserved_static_ips)),
            None => return Ok(None),
        },
    };
    let p = Nat46Partition::new(subnet, reserved, 1).map_err(|e| e.to_string())?;
    Ok(p.reserved_range())
}

/// Runs `egressctl dssm ARGS...` (ARGS without the leading `dssm`); returns the exit status.
pub fn main(args: &[String]) -> u8 {
    let parsed = match DssmArgs::try_parse_from(
        std::iter::once("egressctl dssm".to_string()).chain(args.iter().cloned()),
    ) {
        Ok(a) => a,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { 2 } else { 0 };
        }
    };
    match run(&parsed) {
        Ok(text) => {
            print!("{text}");
            0
        }
        Err(e) => {
            eprintln!("egressctl dssm: {e}");
            1
        }
    }
}

fn run(a: &DssmArgs) -> Result<String, String> {
    let cfg = match &a.config {
        Some(p) => Some(VnfConfig::load(p).map_err(|e| e.to_string())?),
        None => None,
    };
    // Check the arguments before connecting.
    let (key, val) = match &a.cmd {
        DssmCmd::Set {
            key,
            val,
            force,
            subnet,
            reserved,
            ..
        } => {
            let k: Ipv4Addr = key
                .parse()
                .map_err(|_| format!("--key `{key}` is not an IPv4 address"))?;
            let v: Ipv6Addr = val
                .parse()
                .map_err(|_| format!("--val `{val}` is not an IPv6 address"))?;
            if !force {
                match reserved_range(subnet, *reserved, cfg.as_ref())? {
                    Some((f, l)) if k >= f && k <= l => {}
                    Some((f, l)) => {
                        return Err(format!(
                            "{k} is outside the reserved range {f}-{l} (manual entries belong \
                             there; --force to set it anyway)"
                        ))
                    }
                    None => {
                        return Err("the reserved range is unknown: give --subnet CIDR \
                                    --reserved N (dnsNat46Ipv4Subnet, maxReservedStaticIps), \
                                    --config FILE, or --force"
                            .into())
                    }
                }
            }
            (Some(k), Some(v))
        }
        DssmCmd::Delete { key, .. } => (
            Some(
                key.parse::<Ipv4Addr>()
                    .map_err(|_| format!("--key `{key}` is not an IPv4 address"))?,
            ),
            None,
        ),
        _ => (None, None),
    };
    let mut s = settings(a, cfg.as_ref()).map_err(|e| e.to_string())?;
    // An operator's write is not on a packet's path: the replicas get at least ADMIN_WAIT_MS to
    // acknowledge it rather than the data path's short WAIT timeout.
    s.wait_timeout_ms = s.wait_timeout_ms.max(ADMIN_WAIT_MS);
    s.response_timeout = s.response_timeout.max(std::time::Duration::from_millis(
        u64::from(ADMIN_WAIT_MS) + 1000,
    ));
    install_crypto_provider();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async {
        let tls = load_tls(&s).map_err(|e| e.to_string())?;
        let c = connect(&s, &tls).await.map_err(|e| e.to_string())?;
        let mut st = Store::new(c.con, s.wait_replicas, s.wait_timeout_ms);
        match &a.cmd {
            DssmCmd::Set { .. } => {
                let (k, v) = (
                    key.unwrap_or(Ipv4Addr::UNSPECIFIED),
                    val.unwrap_or(Ipv6Addr::UNSPECIFIED),
                );
                let (old6, old4) = st.set(k, v).await.map_err(|e| e.to_string())?;
                let mut out = format!("{k} {v}\n");
                if let Some(o) = old6.filter(|o| *o != v.to_string()) {
                    out.push_str(&format!("replaced: {k} was mapped to {o}\n"));
                }
                if let Some(o) = old4.filter(|o| *o != k.to_string()) {
                    out.push_str(&format!("replaced: {v} was mapped from {o}\n"));
                }
                Ok(out)
            }
            DssmCmd::Display { .. } => {
                let list = st.list().await.map_err(|e| e.to_string())?;
                let mut out = String::new();
                for (k, v) in list {
                    let v = v.parse::<Ipv6Addr>().map(|a| a.to_string()).unwrap_or(v);
                    out.push_str(&format!("{:<15}  {v}\n", k.to_string()));
                }
                Ok(out)
            }
            DssmCmd::Delete { .. } => {
                let k = key.unwrap_or(Ipv4Addr::UNSPECIFIED);
                match st.delete(k).await.map_err(|e| e.to_string())? {
                    Some(v) => Ok(format!("deleted {k} {v}\n")),
                    None => Err(format!("no mapping for {k}")),
                }
            }
            DssmCmd::Upgrade { .. } => {
                let r = st.upgrade().await.map_err(|e| e.to_string())?;
                let mut out = format!(
                    "{} upgraded, {} already complete, {} conflicts, {} invalid\n",
                    r.upgraded,
                    r.complete,
                    r.conflicts.len(),
                    r.invalid.len()
                );
                for (a, b, o) in &r.conflicts {
                    out.push_str(&format!(
                        "conflict: {a} -> {b}, but {b} is mapped to {o} (left as is)\n"
                    ));
                }
                for (k, v) in &r.invalid {
                    out.push_str(&format!("invalid: {k} = {v}\n"));
                }
                Ok(out)
            }
        }
    })
}
