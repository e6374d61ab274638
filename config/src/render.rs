//! CRs + dSSM environment -> one TMM replica's [`VnfConfig`] (what `egress-sidecar` writes).
//!
//! Rendering is a pure function of its inputs: CRs in file-name then document order, the TMM
//! index, the EAL arguments and the environment values passed in [`DssmEnv`]. The TOML text is
//! therefore byte-for-byte reproducible. Every cross-resource check of `docs/config.md` runs here
//! and names the CR and field that is wrong.

use crate::cr::{Cr, CrError, CrSet, EgressSpec, Origin, SnatpoolSpec};
use crate::net::{IpPrefix, Ipv4Prefix, Ipv6Prefix, Nat46Partition, PartitionError};
use crate::schema::*;
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;

/// The dSSM environment of CONTRACT §3 (values as read; None = unset).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DssmEnv {
    pub external_storage: Option<String>,
    pub discovery_sentinel: Option<String>,
    pub external_service: Option<String>,
    pub sentinel_master: Option<String>,
    pub ca_file: Option<String>,
    pub auth_cert: Option<String>,
    pub auth_key: Option<String>,
    /// `EGRESS_DSSM_INSECURE` (this project's addition): allow dSSM without TLS.
    pub insecure: Option<String>,
}

/// Environment variable names read by [`DssmEnv::from_env`].
pub const DSSM_ENV_VARS: [&str; 8] = [
    "SESSIONDB_EXTERNAL_STORAGE",
    "SESSIONDB_DISCOVERY_SENTINEL",
    "SESSIONDB_EXTERNAL_SERVICE",
    "SESSIONDB_SENTINEL_MASTER",
    "REDIS_CA_FILE",
    "REDIS_AUTH_CERT",
    "REDIS_AUTH_KEY",
    "EGRESS_DSSM_INSECURE",
];

impl DssmEnv {
    /// Reads the process environment (empty values count as unset).
    pub fn from_env() -> Self {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Reads through `get` (tests pass a map).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Self {
        let g = |k: &str| get(k).filter(|v| !v.trim().is_empty());
        DssmEnv {
            external_storage: g(DSSM_ENV_VARS[0]),
            discovery_sentinel: g(DSSM_ENV_VARS[1]),
            external_service: g(DSSM_ENV_VARS[2]),
            sentinel_master: g(DSSM_ENV_VARS[3]),
            ca_file: g(DSSM_ENV_VARS[4]),
            auth_cert: g(DSSM_ENV_VARS[5]),
            auth_key: g(DSSM_ENV_VARS[6]),
            insecure: g(DSSM_ENV_VARS[7]),
        }
    }

    fn flag(name: &str, v: &Option<String>) -> Result<bool, CrError> {
        match v.as_deref().map(|s| s.trim().to_ascii_lowercase()) {
            None => Ok(false),
            Some(s) if s == "true" || s == "1" || s == "yes" => Ok(true),
            Some(s) if s == "false" || s == "0" || s == "no" => Ok(false),
            Some(s) => Err(CrError::Arg {
                arg: name.into(),
                message: format!("`{s}` is not true or false"),
            }),
        }
    }

    /// The `[dssm]` section these variables describe (the service gets its default port).
    pub fn to_dssm(&self) -> Result<Dssm, CrError> {
        let mut d = Dssm {
            enabled: Self::flag("SESSIONDB_EXTERNAL_STORAGE", &self.external_storage)?,
            sentinel: Self::flag("SESSIONDB_DISCOVERY_SENTINEL", &self.discovery_sentinel)?,
            insecure: Self::flag("EGRESS_DSSM_INSECURE", &self.insecure)?,
            ca_file: self.ca_file.clone(),
            cert_file: self.auth_cert.clone(),
            key_file: self.auth_key.clone(),
            ..Dssm::default()
        };
        if let Some(m) = &self.sentinel_master {
            d.master = m.clone();
        }
        if let Some(s) = &self.external_service {
            let Some((host, port)) = split_host_port(s.trim()) else {
                return Err(CrError::Arg {
                    arg: "SESSIONDB_EXTERNAL_SERVICE".into(),
                    message: format!("`{s}` is not HOST[:PORT]"),
                });
            };
            let port = port.unwrap_or(d.default_port());
            d.service = if host.contains(':') {
                format!("[{host}]:{port}")
            } else {
                format!("{host}:{port}")
            };
        }
        let arg_for = |field: &str| match field {
            "dssm.service" => "SESSIONDB_EXTERNAL_SERVICE",
            "dssm.master" => "SESSIONDB_SENTINEL_MASTER",
            "dssm.ca_file" => "REDIS_CA_FILE",
            "dssm.key_file" | "dssm.cert_file" => "REDIS_AUTH_CERT/REDIS_AUTH_KEY",
            "dssm.insecure" => "REDIS_CA_FILE",
            _ => "SESSIONDB_EXTERNAL_STORAGE",
        };
        let probe = VnfConfig {
            dssm: d.clone(),
            ..minimal()
        };
        if let Err((field, message)) = probe.validate_dssm() {
            let hint = if field == "dssm.insecure" {
                " (set REDIS_CA_FILE, or EGRESS_DSSM_INSECURE=true for a plaintext development store)"
            } else {
                ""
            };
            return Err(CrError::Arg {
                arg: arg_for(&field).into(),
                message: format!("{message}{hint}"),
            });
        }
        Ok(d)
    }
}

fn minimal() -> VnfConfig {
    VnfConfig {
        eal: Vec::new(),
        tmm_index: 0,
        dataplane: Dataplane::default(),
        control: Control::default(),
        vlans: Vec::new(),
        routes: Vec::new(),
        snat: Snat::default(),
        nat46: Nat46::default(),
        nat64: Nat64::default(),
        siit: Siit::default(),
        dns: Dns::default(),
        dssm: Dssm::default(),
        log: Log::default(),
    }
}

/// What the command line adds to the CRs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RenderOptions {
    /// `--tmm-index`.
    pub tmm_index: u32,
    /// `--eal` (repeatable).
    pub eal: Vec<String>,
    /// `--control-socket` (watch): written to `control.socket` so that the VNF listens there.
    pub control_socket: Option<String>,
    pub env: DssmEnv,
}

/// The header line of every rendered file.
pub const HEADER: &str =
    "# Rendered by egress-sidecar from the custom resources; do not edit (edit the CRs).\n";

/// Reads `dir`, renders and returns the TOML text.
pub fn render_dir(dir: &Path, opts: &RenderOptions) -> Result<(String, Vec<String>), CrError> {
    let set = crate::cr::load_dir(dir)?;
    let cfg = render(&set, opts)?;
    Ok((to_toml(&cfg), set.warnings.clone()))
}

/// The rendered file's text: a header and the TOML of `cfg`.
pub fn to_toml(cfg: &VnfConfig) -> String {
    format!("{HEADER}{}", cfg.to_toml_string())
}

/// Writes `bytes` to `path` atomically: a temporary file in the same directory, then rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map_or("out".into(), |n| n.to_string_lossy().into_owned());
    let tmp = dir.join(format!(".{name}.tmp.{}", std::process::id()));
    let res = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if res.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    res
}

fn parse_v4(o: &Origin, field: &str, s: &str) -> Result<Ipv4Addr, CrError> {
    s.trim()
        .parse()
        .map_err(|_| CrError::invalid(o, field, format!("`{s}` is not an IPv4 address")))
}

fn parse_v6(o: &Origin, field: &str, s: &str) -> Result<Ipv6Addr, CrError> {
    s.trim()
        .parse()
        .map_err(|_| CrError::invalid(o, field, format!("`{s}` is not an IPv6 address")))
}

fn parse_ip(o: &Origin, field: &str, s: &str) -> Result<IpAddr, CrError> {
    s.trim()
        .parse()
        .map_err(|_| CrError::invalid(o, field, format!("`{s}` is not an IP address")))
}

/// A VLAN CR with its addresses parsed (all replicas).
struct VlanInfo<'a> {
    cr: &'a Cr<crate::cr::VlanSpec>,
    name: String,
    v4: Vec<Ipv4Addr>,
    v6: Vec<Ipv6Addr>,
}

/// A snatpool with its addresses parsed: replica -> addresses.
struct PoolInfo<'a> {
    cr: &'a Cr<SnatpoolSpec>,
    name: String,
    lists: Vec<Vec<IpAddr>>,
}

fn check_vlans(set: &CrSet) -> Result<Vec<VlanInfo<'_>>, CrError> {
    let mut out: Vec<VlanInfo> = Vec::new();
    let mut port_tags: BTreeMap<(String, u16), usize> = BTreeMap::new();
    for cr in &set.vlans {
        let o = &cr.origin;
        let s = &cr.spec;
        let name = s
            .name
            .clone()
            .filter(|n| !n.is_empty())
            .unwrap_or(o.name.clone());
        if let Some(prev) = out.iter().find(|v| v.name == name) {
            return Err(CrError::invalid(
                o,
                "spec.name",
                format!("VLAN name `{name}` is already used by {}", prev.cr.origin),
            ));
        }
        if s.interfaces.is_empty() {
            return Err(CrError::invalid(
                o,
                "spec.interfaces",
                "needs at least one port",
            ));
        }
        let tag = s.tag.unwrap_or(0);
        if tag > 4094 {
            return Err(CrError::invalid(
                o,
                "spec.tag",
                format!("{tag} is not a VLAN id (0..=4094)"),
            ));
        }
        for (i, p) in s.interfaces.iter().enumerate() {
            if parse_port_name(p).is_none() {
                return Err(CrError::invalid(
                    o,
                    format!("spec.interfaces[{i}]"),
                    format!("`{p}` is not a port name like `1.1` (ports are named 1.1, 1.2, ... in probe order)"),
                ));
            }
            if let Some(j) = port_tags.insert((p.clone(), tag), out.len()) {
                if j != out.len() {
                    let what = if tag == 0 {
                        "untagged".to_string()
                    } else {
                        format!("tag {tag}")
                    };
                    return Err(CrError::invalid(
                        o,
                        "spec.tag",
                        format!("{what} on port {p} is already used by {}", out[j].cr.origin),
                    ));
                }
            }
        }
        let mtu = s.mtu.unwrap_or(1500);
        if !(576..=9216).contains(&mtu) {
            return Err(CrError::invalid(
                o,
                "spec.mtu",
                format!("{mtu} is not in 576..=9216"),
            ));
        }
        let mut v4 = Vec::new();
        for (i, a) in s.selfip_v4s.iter().enumerate() {
            v4.push(parse_v4(o, &format!("spec.selfip_v4s[{i}]"), a)?);
        }
        let mut v6 = Vec::new();
        for (i, a) in s.selfip_v6s.iter().enumerate() {
            v6.push(parse_v6(o, &format!("spec.selfip_v6s[{i}]"), a)?);
        }
        match (v4.is_empty(), s.prefixlen_v4) {
            (false, None) => {
                return Err(CrError::invalid(
                    o,
                    "spec.prefixlen_v4",
                    "required with selfip_v4s",
                ))
            }
            (_, Some(l)) if l > 32 => {
                return Err(CrError::invalid(
                    o,
                    "spec.prefixlen_v4",
                    format!("{l} is not in 0..=32"),
                ))
            }
            _ => {}
        }
        match (v6.is_empty(), s.prefixlen_v6) {
            (false, None) => {
                return Err(CrError::invalid(
                    o,
                    "spec.prefixlen_v6",
                    "required with selfip_v6s",
                ))
            }
            (_, Some(l)) if l > 128 => {
                return Err(CrError::invalid(
                    o,
                    "spec.prefixlen_v6",
                    format!("{l} is not in 0..=128"),
                ))
            }
            _ => {}
        }
        out.push(VlanInfo { cr, name, v4, v6 });
    }
    Ok(out)
}

fn check_pools(set: &CrSet) -> Result<Vec<PoolInfo<'_>>, CrError> {
    let mut out: Vec<PoolInfo> = Vec::new();
    for cr in &set.snatpools {
        let o = &cr.origin;
        let name = cr
            .spec
            .name
            .clone()
            .filter(|n| !n.is_empty())
            .unwrap_or(o.name.clone());
        if let Some(prev) = out.iter().find(|p| p.name == name) {
            return Err(CrError::invalid(
                o,
                "spec.name",
                format!(
                    "snatpool name `{name}` is already used by {}",
                    prev.cr.origin
                ),
            ));
        }
        let mut lists = Vec::new();
        let mut seen: BTreeMap<IpAddr, usize> = BTreeMap::new();
        for (i, list) in cr.spec.address_list.iter().enumerate() {
            let mut l = Vec::new();
            if list.is_empty() {
                return Err(CrError::invalid(
                    o,
                    format!("spec.addressList[{i}]"),
                    format!("the address list of TMM replica {i} is empty"),
                ));
            }
            for (j, a) in list.iter().enumerate() {
                let field = format!("spec.addressList[{i}][{j}]");
                let ip = parse_ip(o, &field, a)?;
                if let Some(k) = seen.insert(ip, i) {
                    let msg = if k == i {
                        format!("{ip} is listed twice for TMM replica {i}")
                    } else {
                        format!("{ip} is already a SNAT address of TMM replica {k}: replicas must not share SNAT addresses")
                    };
                    return Err(CrError::invalid(o, field, msg));
                }
                l.push(ip);
            }
            lists.push(l);
        }
        out.push(PoolInfo { cr, name, lists });
    }
    Ok(out)
}

fn bool_of(b: Option<bool>) -> bool {
    b.unwrap_or(false)
}

/// Renders `set` for the replica `opts.tmm_index`, running every cross-resource check.
pub fn render(set: &CrSet, opts: &RenderOptions) -> Result<VnfConfig, CrError> {
    let vlans = check_vlans(set)?;
    let pools = check_pools(set)?;
    if set.egresses.len() > 1 {
        let e = &set.egresses[1];
        return Err(CrError::invalid(
            &e.origin,
            "metadata.name",
            format!(
                "only one F5SPKEgress is supported; {} is already defined",
                set.egresses[0].origin
            ),
        ));
    }
    let egress: Option<&Cr<EgressSpec>> = set.egresses.first();
    let replicas = egress.and_then(|e| e.spec.max_tmm_replicas).unwrap_or(1);
    if let Some(e) = egress {
        if replicas == 0 {
            return Err(CrError::invalid(
                &e.origin,
                "spec.maxTmmReplicas",
                "must be at least 1",
            ));
        }
    }
    let idx = opts.tmm_index;
    if idx >= replicas {
        let by = egress.map_or(
            "no F5SPKEgress sets maxTmmReplicas, so it is 1".to_string(),
            |e| {
                format!(
                    "maxTmmReplicas of {} in {}",
                    e.origin,
                    e.origin.file.display()
                )
            },
        );
        return Err(CrError::Arg {
            arg: "--tmm-index".into(),
            message: format!("{idx} is not below maxTmmReplicas = {replicas} ({by})"),
        });
    }
    let iu = idx as usize;

    // Self IPs: one per replica.
    let mut cfg = minimal();
    cfg.tmm_index = idx;
    cfg.eal = opts.eal.clone();
    if let Some(s) = &opts.control_socket {
        cfg.control.socket = s.clone();
    }
    for v in &vlans {
        let o = &v.cr.origin;
        for (field, n) in [
            ("spec.selfip_v4s", v.v4.len()),
            ("spec.selfip_v6s", v.v6.len()),
        ] {
            if n != 0 && n < replicas as usize {
                return Err(CrError::invalid(
                    o,
                    field,
                    format!(
                        "has {n} self IP(s) but maxTmmReplicas is {replicas}: one is needed for every TMM replica"
                    ),
                ));
            }
        }
        let s = &v.cr.spec;
        cfg.vlans.push(Vlan {
            name: v.name.clone(),
            interfaces: s.interfaces.clone(),
            tag: s.tag.unwrap_or(0),
            mtu: s.mtu.unwrap_or(1500),
            internal: bool_of(s.internal),
            self_v4: v.v4.get(iu).copied(),
            prefixlen_v4: v.v4.get(iu).and(s.prefixlen_v4),
            self_v6: v.v6.get(iu).copied(),
            prefixlen_v6: v.v6.get(iu).and(s.prefixlen_v6),
        });
    }

    // Static routes.
    for r in &set.routes {
        let o = &r.origin;
        let dest = parse_ip(o, "spec.destination", &r.spec.destination)?;
        let gw = parse_ip(o, "spec.gateway", &r.spec.gateway)?;
        if let Some(t) = &r.spec.route_type {
            if t != "gateway" {
                return Err(CrError::invalid(
                    o,
                    "spec.type",
                    format!("`{t}`: only `gateway` is supported"),
                ));
            }
        }
        let p = IpPrefix::new(dest, r.spec.prefix_len)
            .map_err(|e| CrError::invalid(o, "spec.prefixLen", e.to_string()))?;
        let host_bits = match p {
            IpPrefix::V4(p) => p.addr != p.network(),
            IpPrefix::V6(p) => !p.is_network(),
        };
        if host_bits {
            return Err(CrError::invalid(
                o,
                "spec.destination",
                format!("{dest}/{} has host bits set", r.spec.prefix_len),
            ));
        }
        if dest.is_ipv4() != gw.is_ipv4() {
            return Err(CrError::invalid(
                o,
                "spec.gateway",
                format!("{gw} is not of the family of destination {dest}"),
            ));
        }
        cfg.routes.push(Route {
            destination: dest,
            prefix_len: r.spec.prefix_len,
            gateway: gw,
        });
    }

    cfg.dssm = opts.env.to_dssm()?;
    let Some(e) = egress else {
        cfg.snat.enabled = false;
        return finish(cfg);
    };
    let o = &e.origin;
    let s = &e.spec;

    // SNAT.
    cfg.snat.enabled = true;
    cfg.snat.dual_stack = bool_of(s.dual_stack_enabled);
    let mut pool_all: Vec<IpAddr> = Vec::new();
    match s.egress_snatpool.as_deref().filter(|n| !n.is_empty()) {
        Some(name) => {
            let Some(p) = pools.iter().find(|p| p.name == name) else {
                let known: Vec<&str> = pools.iter().map(|p| p.name.as_str()).collect();
                return Err(CrError::invalid(
                    o,
                    "spec.egressSnatpool",
                    format!(
                        "no F5SPKSnatpool has spec.name `{name}` (known: {})",
                        list_or_none(&known)
                    ),
                ));
            };
            if p.lists.len() < replicas as usize {
                return Err(CrError::invalid(
                    &p.cr.origin,
                    "spec.addressList",
                    format!(
                        "has {} address list(s) but maxTmmReplicas of {o} is {replicas}: one is needed for every TMM replica",
                        p.lists.len()
                    ),
                ));
            }
            for a in &p.lists[iu] {
                match a {
                    IpAddr::V4(a) => cfg.snat.pool_v4.push(*a),
                    IpAddr::V6(a) => cfg.snat.pool_v6.push(*a),
                }
            }
            pool_all = p.lists.iter().flatten().copied().collect();
        }
        None => {
            // Automap: the external VLAN's self IP of each family in use.
            let ext = |v6: bool| {
                vlans.iter().any(|v| {
                    !bool_of(v.cr.spec.internal)
                        && if v6 {
                            !v.v6.is_empty()
                        } else {
                            !v.v4.is_empty()
                        }
                })
            };
            if !ext(false) {
                return Err(CrError::invalid(
                    o,
                    "spec.egressSnatpool",
                    "SNAT automap (no egressSnatpool) needs an external F5SPKVlan (internal: false) with an IPv4 self IP",
                ));
            }
            if (cfg.snat.dual_stack || bool_of(s.dns_nat46_enabled)) && !ext(true) {
                return Err(CrError::invalid(
                    o,
                    "spec.egressSnatpool",
                    "SNAT automap with dualStackEnabled or dnsNat46Enabled needs an external F5SPKVlan with an IPv6 self IP",
                ));
            }
        }
    }
    let mut vlan_list = s.vlan_list.clone();
    let mut disable = s.disable_listed_vlans;
    if let Some(nested) = &s.vlans {
        vlan_list.extend(nested.vlan_list.iter().cloned());
        disable = disable.or(nested.disable_listed_vlans);
    }
    for (i, n) in vlan_list.iter().enumerate() {
        if !vlans.iter().any(|v| &v.name == n || &v.cr.origin.name == n) {
            return Err(CrError::invalid(
                o,
                format!("spec.vlanList[{i}]"),
                format!("no F5SPKVlan is named `{n}`"),
            ));
        }
    }
    cfg.snat.vlan_list = vlan_list
        .iter()
        .map(|n| {
            vlans
                .iter()
                .find(|v| &v.name == n || &v.cr.origin.name == n)
                .map_or(n.clone(), |v| v.name.clone())
        })
        .collect();
    cfg.snat.disable_listed_vlans = bool_of(disable);

    // DNS46 / NAT46.
    let debug = bool_of(s.debug_log_enabled);
    cfg.log.debug = debug;
    cfg.nat46.enabled = bool_of(s.dns_nat46_enabled);
    cfg.nat46.max_tmm_replicas = replicas;
    cfg.nat46.max_reserved_static_ips = s.max_reserved_static_ips.unwrap_or(0);
    if let Some(ttl) = s.max_dns46_ttl {
        if ttl == 0 {
            return Err(CrError::invalid(
                o,
                "spec.maxDNS46TTL",
                "must be at least 1 second",
            ));
        }
        cfg.nat46.max_dns46_ttl = ttl;
    }
    if let Some(ip) = &s.dns_nat46_sorry_ip {
        cfg.nat46.sorry_ip = Some(parse_v4(o, "spec.dnsNat46SorryIp", ip)?);
    }
    match &s.dns_nat46_ipv4_subnet {
        Some(sub) => {
            let p: Ipv4Prefix = sub.trim().parse().map_err(|e| {
                CrError::invalid(
                    o,
                    "spec.dnsNat46Ipv4Subnet",
                    format!("`{sub}`: {e} (expected an IPv4 CIDR like 10.1.0.0/24)"),
                )
            })?;
            let part = Nat46Partition::new(p, cfg.nat46.max_reserved_static_ips, replicas)
                .map_err(|err| {
                    let field = match err {
                        PartitionError::TooSmall(_) => "spec.dnsNat46Ipv4Subnet",
                        PartitionError::ReservedTooMany { .. } => "spec.maxReservedStaticIps",
                        _ => "spec.maxTmmReplicas",
                    };
                    CrError::invalid(o, field, format!("{err} (dnsNat46Ipv4Subnet {p})"))
                })?;
            let field = "spec.dnsNat46Ipv4Subnet";
            for v in &vlans {
                if let Some(l) = v.cr.spec.prefixlen_v4 {
                    for (i, a) in v.v4.iter().enumerate() {
                        if p.contains(*a) {
                            return Err(CrError::invalid(
                                o,
                                field,
                                format!(
                                    "{p} contains self IP {a} (replica {i}) of {}",
                                    v.cr.origin
                                ),
                            ));
                        }
                        let net = Ipv4Prefix { addr: *a, len: l };
                        if net.overlaps(&p) {
                            return Err(CrError::invalid(
                                o,
                                field,
                                format!(
                                    "{p} overlaps the subnet {} of {}",
                                    net.trunc(),
                                    v.cr.origin
                                ),
                            ));
                        }
                    }
                }
            }
            for a in &pool_all {
                if let IpAddr::V4(a) = a {
                    if p.contains(*a) {
                        return Err(CrError::invalid(
                            o,
                            field,
                            format!(
                                "{p} contains SNAT address {a} of snatpool `{}`",
                                s.egress_snatpool.as_deref().unwrap_or("")
                            ),
                        ));
                    }
                }
            }
            if let Some(sorry) = cfg.nat46.sorry_ip {
                if part
                    .slice(idx)
                    .is_some_and(|(f, l)| sorry >= f && sorry <= l)
                {
                    return Err(CrError::invalid(
                        o,
                        "spec.dnsNat46SorryIp",
                        format!("{sorry} is inside TMM {idx}'s DNS46 slice"),
                    ));
                }
            }
            let (first, last) = part.slice(idx).expect("index checked against replicas");
            cfg.nat46.ipv4_subnet = Some(p);
            cfg.nat46.slice_first = Some(first);
            cfg.nat46.slice_last = Some(last);
        }
        None if cfg.nat46.enabled => {
            return Err(CrError::invalid(
                o,
                "spec.dnsNat46Ipv4Subnet",
                "required when dnsNat46Enabled is true",
            ));
        }
        None => {}
    }

    // DNS64 / NAT64.
    cfg.nat64.enabled = bool_of(s.nat64_enabled);
    if let Some(p) = &s.nat64_ipv6_subnet {
        let p: Ipv6Prefix = p.trim().parse().map_err(|e| {
            CrError::invalid(
                o,
                "spec.nat64Ipv6Subnet",
                format!("`{p}`: {e} (expected an IPv6 prefix like 64:ff9b::/96)"),
            )
        })?;
        if !crate::RFC6052_LENGTHS.contains(&p.len) || !p.is_network() {
            return Err(CrError::invalid(
                o,
                "spec.nat64Ipv6Subnet",
                format!(
                    "{p}: needs a network prefix of length 32, 40, 48, 56, 64 or 96 (RFC 6052)"
                ),
            ));
        }
        cfg.nat64.prefix = p;
    }

    // DNS.
    let mut pool_ips = Vec::new();
    for (i, a) in s.dns_nat46_pool_ips.iter().enumerate() {
        pool_ips.push(parse_ip(o, &format!("spec.dnsNat46PoolIps[{i}]"), a)?);
    }
    cfg.dns.pool_ips = pool_ips.clone();
    cfg.dns.rate_limit = s.dns_rate_limit.unwrap_or(0);
    cfg.dns.debug_log = debug;
    match s.dns_cache_name.as_deref().filter(|n| !n.is_empty()) {
        Some(name) => {
            let found = set
                .dnscaches
                .iter()
                .find(|c| format!("{}-{}", c.origin.namespace, c.origin.name) == name)
                .or_else(|| set.dnscaches.iter().find(|c| c.origin.name == name));
            let Some(c) = found else {
                let known: Vec<String> = set
                    .dnscaches
                    .iter()
                    .map(|c| format!("{}-{}", c.origin.namespace, c.origin.name))
                    .collect();
                let known: Vec<&str> = known.iter().map(String::as_str).collect();
                return Err(CrError::invalid(
                    o,
                    "spec.dnsCacheName",
                    format!(
                        "no F5SPKDnscache is named `{name}` (as NAMESPACE-NAME or NAME; known: {})",
                        list_or_none(&known)
                    ),
                ));
            };
            let co = &c.origin;
            if let Some(t) = &c.spec.cache_type {
                if t != "net-resolver" {
                    return Err(CrError::invalid(
                        co,
                        "spec.cacheType",
                        format!("`{t}`: only `net-resolver` is supported"),
                    ));
                }
            }
            let zones = c
                .spec
                .net_resolver
                .as_ref()
                .map(|n| n.forward_zones.as_slice())
                .unwrap_or(&[]);
            if zones.is_empty() {
                return Err(CrError::invalid(
                    co,
                    "spec.netResolver.forwardZones",
                    "needs at least one forward zone",
                ));
            }
            for (i, z) in zones.iter().enumerate() {
                let zf = format!("spec.netResolver.forwardZones[{i}]");
                if !crate::valid_zone(&z.forward_zone) {
                    return Err(CrError::invalid(
                        co,
                        format!("{zf}.forwardZone"),
                        format!("`{}` is not a domain name", z.forward_zone),
                    ));
                }
                if z.name_servers.is_empty() {
                    return Err(CrError::invalid(
                        co,
                        format!("{zf}.nameServers"),
                        "needs at least one name server",
                    ));
                }
                let mut servers = Vec::new();
                for (j, ns) in z.name_servers.iter().enumerate() {
                    let nf = format!("{zf}.nameServers[{j}]");
                    let ip = parse_ip(co, &format!("{nf}.ipAddress"), &ns.ip_address)?;
                    if !pool_ips.contains(&ip) {
                        return Err(CrError::invalid(
                            co,
                            format!("{nf}.ipAddress"),
                            format!(
                                "{ip} is not one of dnsNat46PoolIps of {o} ({})",
                                list_or_none(
                                    &s.dns_nat46_pool_ips
                                        .iter()
                                        .map(String::as_str)
                                        .collect::<Vec<_>>()
                                )
                            ),
                        ));
                    }
                    let port = ns.port.unwrap_or(53);
                    if port == 0 {
                        return Err(CrError::invalid(co, format!("{nf}.port"), "port 0"));
                    }
                    servers.push(SocketAddr::new(ip, port));
                }
                cfg.dns.forward_zones.push(ForwardZone {
                    zone: z.forward_zone.clone(),
                    servers,
                });
            }
            cfg.dns.enabled = true;
        }
        None => {
            if cfg.nat46.enabled || cfg.nat64.enabled {
                let what = if cfg.nat46.enabled {
                    "dnsNat46Enabled"
                } else {
                    "nat64Enabled"
                };
                return Err(CrError::invalid(
                    o,
                    "spec.dnsCacheName",
                    format!(
                        "required when {what} is true (DNS46/DNS64 answer through the DNS cache)"
                    ),
                ));
            }
        }
    }
    finish(cfg)
}

fn list_or_none(items: &[&str]) -> String {
    if items.is_empty() {
        "none".into()
    } else {
        items.join(", ")
    }
}

/// Final check of the rendered config: anything the per-CR checks missed is still reported.
fn finish(cfg: VnfConfig) -> Result<VnfConfig, CrError> {
    cfg.validate()
        .map_err(|(field, message)| CrError::Invalid {
            file: "(rendered config)".into(),
            cr: "all CRs".into(),
            field,
            message,
        })?;
    Ok(cfg)
}
