//! Stateless SIIT addressing: the Explicit Address Mapping Table (RFC 7757) with an RFC 6052
//! pool6 fallback, and RFC 6791 source addresses for ICMP errors from untranslatable sources.
//!
//! The table is built once from the configuration ([`Eamt::new`]) and is read-only afterwards:
//! lookups do not allocate. Each direction is a list of prefix lengths (longest first), each
//! with its entries sorted by masked prefix, so a lookup is a binary search per distinct length
//! and the first hit is the longest match (RFC 7757 3.2 "longest prefix match").
//!
//! Translation of an address inside a matching entry keeps the host bits (RFC 7757 3.2/3.3:
//! the suffix lengths of both prefixes are equal, which [`Eamt::new`] checks).
//!
//! [`Siit`] combines the EAMT and pool6 the way RFC 7757 section 3 orders them: EAMT first,
//! then RFC 6052 with pool6; no match is [`DropReason::XlatNoAddressMapping`]. For the source
//! of an ICMP error that matches nothing, RFC 7915 4.2 / 5.2 and RFC 6791 let the translator use
//! an address of its own: [`Siit::icmp_src_6to4`] falls back to [`rfc6791_v4`].

use std::net::{Ipv4Addr, Ipv6Addr};

use super::rfc6052::Rfc6052Prefix;
use crate::drop::DropReason;

/// An IPv4 prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv4Prefix {
    pub addr: Ipv4Addr,
    pub len: u8,
}

/// An IPv6 prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv6Prefix {
    pub addr: Ipv6Addr,
    pub len: u8,
}

fn mask4(len: u8) -> u32 {
    if len == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(len.min(32)))
    }
}

fn mask6(len: u8) -> u128 {
    if len == 0 {
        0
    } else {
        u128::MAX << (128 - u32::from(len.min(128)))
    }
}

/// One EAMT entry: `ipv4` <-> `ipv6`, both with the same number of host bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EamtEntry {
    pub ipv4: Ipv4Prefix,
    pub ipv6: Ipv6Prefix,
}

/// Why an EAMT could not be built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EamtError {
    /// Entry `index` has different suffix lengths, a length out of range, or host bits set.
    BadEntry { index: usize },
    /// Entry `index` has the same IPv4 (or IPv6) prefix as an earlier entry.
    Duplicate { index: usize },
}

impl std::fmt::Display for EamtError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EamtError::BadEntry { index } => write!(
                f,
                "eamt[{index}]: prefixes must have the same number of host bits and no host bits set"
            ),
            EamtError::Duplicate { index } => write!(f, "eamt[{index}]: duplicate prefix"),
        }
    }
}

impl std::error::Error for EamtError {}

/// The Explicit Address Mapping Table, indexed both ways.
#[derive(Debug, Clone, Default)]
pub struct Eamt {
    entries: Vec<EamtEntry>,
    /// (prefix length, sorted (masked v4 prefix, entry index)), longest length first.
    by_v4: Vec<(u8, Vec<(u32, usize)>)>,
    by_v6: Vec<(u8, Vec<(u128, usize)>)>,
}

impl Eamt {
    /// Builds the table (at start or reload; allocates).
    pub fn new(entries: &[EamtEntry]) -> Result<Eamt, EamtError> {
        let mut by_v4: Vec<(u8, Vec<(u32, usize)>)> = Vec::new();
        let mut by_v6: Vec<(u8, Vec<(u128, usize)>)> = Vec::new();
        for (i, e) in entries.iter().enumerate() {
            let (l4, l6) = (e.ipv4.len, e.ipv6.len);
            if l4 > 32 || l6 > 128 || 32 - l4 != 128 - l6 {
                return Err(EamtError::BadEntry { index: i });
            }
            let k4 = u32::from(e.ipv4.addr);
            let k6 = u128::from(e.ipv6.addr);
            if k4 & !mask4(l4) != 0 || k6 & !mask6(l6) != 0 {
                return Err(EamtError::BadEntry { index: i });
            }
            match by_v4.iter_mut().find(|(l, _)| *l == l4) {
                Some((_, v)) => v.push((k4, i)),
                None => by_v4.push((l4, vec![(k4, i)])),
            }
            match by_v6.iter_mut().find(|(l, _)| *l == l6) {
                Some((_, v)) => v.push((k6, i)),
                None => by_v6.push((l6, vec![(k6, i)])),
            }
        }
        by_v4.sort_by_key(|e| std::cmp::Reverse(e.0));
        by_v6.sort_by_key(|e| std::cmp::Reverse(e.0));
        for (_, v) in &mut by_v4 {
            v.sort_unstable();
            if let Some(w) = v.windows(2).find(|w| w[0].0 == w[1].0) {
                return Err(EamtError::Duplicate {
                    index: w[0].1.max(w[1].1),
                });
            }
        }
        for (_, v) in &mut by_v6 {
            v.sort_unstable();
            if let Some(w) = v.windows(2).find(|w| w[0].0 == w[1].0) {
                return Err(EamtError::Duplicate {
                    index: w[0].1.max(w[1].1),
                });
            }
        }
        Ok(Eamt {
            entries: entries.to_vec(),
            by_v4,
            by_v6,
        })
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True if there is no entry.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The longest entry whose IPv4 prefix holds `a`.
    pub fn lookup_v4(&self, a: Ipv4Addr) -> Option<&EamtEntry> {
        let k = u32::from(a);
        for (len, v) in &self.by_v4 {
            let m = k & mask4(*len);
            if let Ok(i) = v.binary_search_by(|(p, _)| p.cmp(&m)) {
                return v.get(i).and_then(|(_, idx)| self.entries.get(*idx));
            }
        }
        None
    }

    /// The longest entry whose IPv6 prefix holds `a`.
    pub fn lookup_v6(&self, a: &Ipv6Addr) -> Option<&EamtEntry> {
        let k = u128::from(*a);
        for (len, v) in &self.by_v6 {
            let m = k & mask6(*len);
            if let Ok(i) = v.binary_search_by(|(p, _)| p.cmp(&m)) {
                return v.get(i).and_then(|(_, idx)| self.entries.get(*idx));
            }
        }
        None
    }

    /// IPv4 -> IPv6 by the EAMT (RFC 7757 3.2): the entry's IPv6 prefix plus the host bits.
    pub fn v4_to_v6(&self, a: Ipv4Addr) -> Option<Ipv6Addr> {
        let e = self.lookup_v4(a)?;
        let host = u128::from(u32::from(a) & !mask4(e.ipv4.len));
        Some(Ipv6Addr::from(u128::from(e.ipv6.addr) | host))
    }

    /// IPv6 -> IPv4 by the EAMT (RFC 7757 3.3).
    pub fn v6_to_v4(&self, a: &Ipv6Addr) -> Option<Ipv4Addr> {
        let e = self.lookup_v6(a)?;
        // The host part has 32 - len4 bits; the IPv6 host part has as many.
        let host = (u128::from(*a) & !mask6(e.ipv6.len)) as u32;
        Some(Ipv4Addr::from(u32::from(e.ipv4.addr) | host))
    }
}

/// Stateless SIIT addressing: EAMT, then pool6 (RFC 7757 section 3), then for ICMP error
/// sources the RFC 6791 pool.
#[derive(Debug, Clone, Default)]
pub struct Siit {
    pub eamt: Eamt,
    pub pool6: Option<Rfc6052Prefix>,
    /// RFC 6791 IPv4 addresses for ICMPv6 errors from sources with no IPv4 mapping.
    pub rfc6791_v4: Vec<Ipv4Addr>,
    /// IPv6 address for ICMPv4 errors from sources with no IPv6 mapping.
    pub rfc6791_v6: Option<Ipv6Addr>,
}

impl Siit {
    /// IPv4 -> IPv6 for any address (EAMT, else pool6).
    pub fn addr_4to6(&self, a: Ipv4Addr) -> Result<Ipv6Addr, DropReason> {
        if let Some(v6) = self.eamt.v4_to_v6(a) {
            return Ok(v6);
        }
        match &self.pool6 {
            Some(p) => p.embed(a).map_err(|_| DropReason::XlatNoAddressMapping),
            None => Err(DropReason::XlatNoAddressMapping),
        }
    }

    /// IPv6 -> IPv4 for any address (EAMT, else pool6).
    pub fn addr_6to4(&self, a: &Ipv6Addr) -> Result<Ipv4Addr, DropReason> {
        if let Some(v4) = self.eamt.v6_to_v4(a) {
            return Ok(v4);
        }
        match &self.pool6 {
            Some(p) => p.extract(a).map_err(|_| DropReason::XlatNoAddressMapping),
            None => Err(DropReason::XlatNoAddressMapping),
        }
    }

    /// Source of a translated ICMPv4 error whose IPv6 source has no mapping (RFC 6791).
    pub fn icmp_src_6to4(&self, a: &Ipv6Addr) -> Result<Ipv4Addr, DropReason> {
        self.addr_6to4(a)
            .or_else(|_| rfc6791_v4(&self.rfc6791_v4, a).ok_or(DropReason::XlatNoAddressMapping))
    }

    /// Source of a translated ICMPv6 error whose IPv4 source has no mapping.
    pub fn icmp_src_4to6(&self, a: Ipv4Addr) -> Result<Ipv6Addr, DropReason> {
        self.addr_4to6(a)
            .or_else(|_| rfc6791_v6(self.rfc6791_v6).ok_or(DropReason::XlatNoAddressMapping))
    }
}

/// RFC 6791 section 4: the IPv4 source of an ICMPv4 error translated from an ICMPv6 error whose
/// source cannot be translated. The address is picked from `pool` by a hash of the IPv6 source,
/// so one router keeps one address (traceroute shows distinct hops as distinct addresses).
/// `None` if the pool is empty.
pub fn rfc6791_v4(pool: &[Ipv4Addr], src6: &Ipv6Addr) -> Option<Ipv4Addr> {
    if pool.is_empty() {
        return None;
    }
    // FNV-1a over the address bytes: cheap, stable, good enough to spread routers.
    let mut h: u32 = 0x811c_9dc5;
    for b in src6.octets() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    pool.get(h as usize % pool.len()).copied()
}

/// The IPv6 counterpart (a single configured address).
pub fn rfc6791_v6(addr: Option<Ipv6Addr>) -> Option<Ipv6Addr> {
    addr
}
