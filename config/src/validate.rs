//! Validation of the feature sections of [`VnfConfig`] (the checks the types alone cannot make).
//! Every error names the dotted TOML field and what is wrong with it.

use crate::net::{IpPrefix, Ipv4Prefix, Ipv6Prefix, Nat46Partition};
use crate::schema::*;
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

fn err<T>(field: impl Into<String>, msg: impl Into<String>) -> Result<T, FieldError> {
    Err((field.into(), msg.into()))
}

/// Prefix lengths RFC 6052 allows for an IPv4-embedded IPv6 prefix.
pub const RFC6052_LENGTHS: [u8; 6] = [32, 40, 48, 56, 64, 96];

/// True when `zone` is `.` or a domain name of non-empty labels of at most 63 bytes.
pub fn valid_zone(zone: &str) -> bool {
    if zone == "." {
        return true;
    }
    let z = zone.strip_suffix('.').unwrap_or(zone);
    !z.is_empty()
        && z.len() <= 253
        && z.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

impl VnfConfig {
    /// This TMM's DNS46 slice (first, last): the explicit `nat46.slice_first`/`slice_last`, or
    /// the CONTRACT §2 partition of `nat46.ipv4_subnet` for `tmm_index`. None when DNS46 is
    /// off or has no subnet.
    pub fn nat46_slice(&self) -> Option<(Ipv4Addr, Ipv4Addr)> {
        let n = &self.nat46;
        if let (Some(f), Some(l)) = (n.slice_first, n.slice_last) {
            return Some((f, l));
        }
        let p = Nat46Partition::new(
            n.ipv4_subnet?,
            n.max_reserved_static_ips,
            n.max_tmm_replicas,
        )
        .ok()?;
        p.slice(self.tmm_index)
    }

    /// IPv4 and IPv6 networks of the VLANs' self IPs.
    pub fn vlan_subnets(&self) -> Vec<(String, IpPrefix)> {
        let mut out = Vec::new();
        for v in &self.vlans {
            if let (Some(a), Some(l)) = (v.self_v4, v.prefixlen_v4) {
                if let Ok(p) = IpPrefix::new(IpAddr::V4(a), l) {
                    out.push((v.name.clone(), p));
                }
            }
            if let (Some(a), Some(l)) = (v.self_v6, v.prefixlen_v6) {
                if let Ok(p) = IpPrefix::new(IpAddr::V6(a), l) {
                    out.push((v.name.clone(), p));
                }
            }
        }
        out
    }

    pub(crate) fn validate_vlan_set(&self) -> Result<(), FieldError> {
        let mut names = BTreeMap::new();
        // (port, tag) -> vlan index
        let mut tags: BTreeMap<(&str, u16), usize> = BTreeMap::new();
        for (i, v) in self.vlans.iter().enumerate() {
            if v.name.is_empty() {
                return err(format!("vlans[{i}].name"), "must not be empty");
            }
            if let Some(j) = names.insert(v.name.as_str(), i) {
                return err(
                    format!("vlans[{i}].name"),
                    format!("`{}` is already the name of vlans[{j}]", v.name),
                );
            }
            for p in &v.interfaces {
                if let Some(j) = tags.insert((p.as_str(), v.tag), i) {
                    if j != i {
                        return err(
                            format!("vlans[{i}].tag"),
                            format!(
                                "tag {} on port {p} is already used by VLAN `{}`",
                                v.tag, self.vlans[j].name
                            ),
                        );
                    }
                }
            }
        }
        Ok(())
    }

    pub(crate) fn validate_routes(&self) -> Result<(), FieldError> {
        for (i, r) in self.routes.iter().enumerate() {
            let f = |k: &str| format!("routes[{i}].{k}");
            let p = IpPrefix::new(r.destination, r.prefix_len)
                .or_else(|e| err(f("prefix_len"), e.to_string()))?;
            let host_bits = match p {
                IpPrefix::V4(p) => p.addr != p.network(),
                IpPrefix::V6(p) => !p.is_network(),
            };
            if host_bits {
                return err(
                    f("destination"),
                    format!("{}/{} has host bits set", r.destination, r.prefix_len),
                );
            }
            if r.destination.is_ipv4() != r.gateway.is_ipv4() {
                return err(
                    f("gateway"),
                    format!(
                        "{} is not of the family of destination {}",
                        r.gateway, r.destination
                    ),
                );
            }
        }
        Ok(())
    }

    pub(crate) fn validate_snat(&self) -> Result<(), FieldError> {
        let s = &self.snat;
        if s.port_min == 0 || s.port_min > s.port_max {
            return err(
                "snat.port_min",
                format!(
                    "port range {}-{} is empty or starts at 0",
                    s.port_min, s.port_max
                ),
            );
        }
        if s.sessions_per_worker == 0 {
            return err("snat.sessions_per_worker", "must be at least 1");
        }
        let t = &s.timeouts;
        for (k, v) in [
            ("udp", t.udp),
            ("tcp_established", t.tcp_established),
            ("tcp_transitory", t.tcp_transitory),
            ("icmp", t.icmp),
        ] {
            if v == 0 {
                return err(format!("snat.timeouts.{k}"), "must be at least 1 second");
            }
        }
        let mut seen = std::collections::BTreeSet::new();
        for (i, a) in s.pool_v4.iter().enumerate() {
            if !seen.insert(IpAddr::V4(*a)) {
                return err(format!("snat.pool_v4[{i}]"), format!("{a} is listed twice"));
            }
        }
        for (i, a) in s.pool_v6.iter().enumerate() {
            if !seen.insert(IpAddr::V6(*a)) {
                return err(format!("snat.pool_v6[{i}]"), format!("{a} is listed twice"));
            }
        }
        for (i, n) in s.vlan_list.iter().enumerate() {
            if !self.vlans.is_empty() && !self.vlans.iter().any(|v| &v.name == n) {
                return err(
                    format!("snat.vlan_list[{i}]"),
                    format!("no VLAN is named `{n}`"),
                );
            }
        }
        Ok(())
    }

    pub(crate) fn validate_nat46(&self) -> Result<(), FieldError> {
        let n = &self.nat46;
        if n.slice_first.is_some() != n.slice_last.is_some() {
            return err("nat46.slice_last", "slice_first and slice_last go together");
        }
        if !n.enabled {
            return Ok(());
        }
        let Some(subnet) = n.ipv4_subnet else {
            return err("nat46.ipv4_subnet", "required when nat46.enabled is true");
        };
        if n.max_tmm_replicas == 0 {
            return err("nat46.max_tmm_replicas", "must be at least 1");
        }
        if self.tmm_index >= n.max_tmm_replicas {
            return err(
                "tmm_index",
                format!(
                    "{} is not below nat46.max_tmm_replicas ({})",
                    self.tmm_index, n.max_tmm_replicas
                ),
            );
        }
        let part = Nat46Partition::new(subnet, n.max_reserved_static_ips, n.max_tmm_replicas)
            .or_else(|e| {
                let field = match e {
                    crate::net::PartitionError::TooSmall(_) => "nat46.ipv4_subnet",
                    crate::net::PartitionError::ReservedTooMany { .. } => {
                        "nat46.max_reserved_static_ips"
                    }
                    _ => "nat46.max_tmm_replicas",
                };
                err(field, e.to_string())
            })?;
        if let (Some(f), Some(l)) = (n.slice_first, n.slice_last) {
            let first_usable = u32::from(part.first_usable);
            let last_usable = first_usable + part.usable - 1;
            for (k, a) in [("slice_first", f), ("slice_last", l)] {
                let x = u32::from(a);
                if x < first_usable || x > last_usable {
                    return err(
                        format!("nat46.{k}"),
                        format!("{a} is not a usable address of {subnet}"),
                    );
                }
            }
            if f > l {
                return err("nat46.slice_last", format!("{l} is below slice_first {f}"));
            }
        }
        if n.max_dns46_ttl == 0 {
            return err("nat46.max_dns46_ttl", "must be at least 1 second");
        }
        let reserved = part.reserved_range();
        for (i, m) in n.static_mappings.iter().enumerate() {
            let inside = reserved.is_some_and(|(f, l)| m.ipv4 >= f && m.ipv4 <= l);
            if !inside {
                let range = reserved.map_or(
                    "none: nat46.max_reserved_static_ips is 0".to_string(),
                    |(f, l)| format!("{f}-{l}"),
                );
                return err(
                    format!("nat46.static_mappings[{i}].ipv4"),
                    format!("{} is not in the reserved range ({range})", m.ipv4),
                );
            }
        }
        // The pool must not overlap the VLANs or the SNAT addresses.
        for (name, p) in self.vlan_subnets() {
            if let IpPrefix::V4(p) = p {
                if p.overlaps(&subnet) {
                    return err(
                        "nat46.ipv4_subnet",
                        format!(
                            "{subnet} overlaps the subnet {} of VLAN `{name}`",
                            p.trunc()
                        ),
                    );
                }
            }
        }
        for (i, a) in self.snat.pool_v4.iter().enumerate() {
            if subnet.contains(*a) {
                return err(
                    "nat46.ipv4_subnet",
                    format!("{subnet} contains SNAT address snat.pool_v4[{i}] = {a}"),
                );
            }
        }
        Ok(())
    }

    pub(crate) fn validate_nat64_siit(&self) -> Result<(), FieldError> {
        let check_6052 = |field: &str, p: &Ipv6Prefix| {
            if !RFC6052_LENGTHS.contains(&p.len) {
                return err(
                    field,
                    format!("{p}: RFC 6052 allows prefix lengths 32, 40, 48, 56, 64 or 96"),
                );
            }
            if !p.is_network() {
                return err(field, format!("{p} has host bits set"));
            }
            Ok(())
        };
        check_6052("nat64.prefix", &self.nat64.prefix)?;
        for (i, b) in self.nat64.static_bib.iter().enumerate() {
            if b.protocol != BibProtocol::Icmp && (b.port4 == 0 || b.port6 == 0) {
                return err(
                    format!("nat64.static_bib[{i}].port4"),
                    "ports must not be 0",
                );
            }
        }
        let s = &self.siit;
        if let Some(p) = &s.pool6 {
            check_6052("siit.pool6", p)?;
        }
        if s.enabled && s.pool6.is_none() && s.eamt.is_empty() {
            return err("siit.pool6", "SIIT needs pool6 or at least one eamt entry");
        }
        let mut v4s: Vec<Ipv4Prefix> = Vec::new();
        for (i, e) in s.eamt.iter().enumerate() {
            let suffix4 = 32 - e.ipv4_prefix.len;
            let suffix6 = 128 - e.ipv6_prefix.len;
            if suffix4 != suffix6 {
                return err(
                    format!("siit.eamt[{i}].ipv6_prefix"),
                    format!(
                        "{} has {suffix6} host bits but {} has {suffix4}",
                        e.ipv6_prefix, e.ipv4_prefix
                    ),
                );
            }
            if let Some(j) = v4s.iter().position(|p| p.overlaps(&e.ipv4_prefix)) {
                return err(
                    format!("siit.eamt[{i}].ipv4_prefix"),
                    format!("{} overlaps siit.eamt[{j}].ipv4_prefix", e.ipv4_prefix),
                );
            }
            v4s.push(e.ipv4_prefix);
        }
        Ok(())
    }

    pub(crate) fn validate_dns(&self) -> Result<(), FieldError> {
        let d = &self.dns;
        for (i, z) in d.forward_zones.iter().enumerate() {
            if !valid_zone(&z.zone) {
                return err(
                    format!("dns.forward_zones[{i}].zone"),
                    format!("`{}` is not a domain name", z.zone),
                );
            }
            if z.servers.is_empty() {
                return err(
                    format!("dns.forward_zones[{i}].servers"),
                    "needs at least one server",
                );
            }
            for (j, s) in z.servers.iter().enumerate() {
                if s.port() == 0 {
                    return err(format!("dns.forward_zones[{i}].servers[{j}]"), "port 0");
                }
                if !d.pool_ips.is_empty() && !d.pool_ips.contains(&s.ip()) {
                    return err(
                        format!("dns.forward_zones[{i}].servers[{j}]"),
                        format!("{} is not one of dns.pool_ips", s.ip()),
                    );
                }
            }
        }
        if !d.enabled {
            return Ok(());
        }
        if d.forward_zones.is_empty() {
            return err(
                "dns.forward_zones",
                "DNS is enabled but no forward zone is configured",
            );
        }
        if d.cache_entries == 0 {
            return err("dns.cache_entries", "must be at least 1");
        }
        if d.pending_capacity == 0 {
            return err("dns.pending_capacity", "must be at least 1");
        }
        if d.upstream_timeout_ms == 0 {
            return err("dns.upstream_timeout_ms", "must be at least 1");
        }
        Ok(())
    }

    pub(crate) fn validate_dssm(&self) -> Result<(), FieldError> {
        let s = &self.dssm;
        if s.cert_file.is_some() != s.key_file.is_some() {
            return err(
                "dssm.key_file",
                "cert_file and key_file go together (mutual TLS)",
            );
        }
        if s.cert_file.is_some() && s.ca_file.is_none() {
            return err(
                "dssm.ca_file",
                "a client certificate needs TLS: set ca_file",
            );
        }
        if !s.enabled {
            return Ok(());
        }
        if s.service.is_empty() {
            return err("dssm.service", "required when dssm.enabled is true");
        }
        if s.host_port().is_none() {
            return err(
                "dssm.service",
                format!("`{}` is not HOST[:PORT]", s.service),
            );
        }
        if s.master.is_empty() && s.sentinel {
            return err("dssm.master", "a Sentinel needs the master's name");
        }
        if !s.tls() && !s.insecure {
            return err(
                "dssm.insecure",
                "dSSM without TLS (no ca_file) must be asked for explicitly with insecure = true",
            );
        }
        Ok(())
    }
}
