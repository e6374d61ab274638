//! IPv4-embedded IPv6 addresses (RFC 6052 section 2).
//!
//! An [`Rfc6052Prefix`] is a validated prefix of length 32, 40, 48, 56, 64 or 96 with no host
//! bits set. The IPv4 address fills the 32 bits after the prefix, skipping bits 64..71 (the
//! "u" octet, which is always zero); the suffix after the IPv4 address is zero when embedding
//! (RFC 6052 2.2) and ignored when extracting. Extraction fails when the prefix does not match
//! or the u octet is not zero.
//!
//! The Well-Known Prefix 64:ff9b::/96 "MUST NOT be used to represent non-global IPv4
//! addresses" (RFC 6052 3.1): with [`Rfc6052Prefix::wkp_global_only`] set (the default for
//! the WKP) embedding and extraction refuse non-global IPv4 addresses
//! ([`is_non_global_v4`]). Operators who translate to private IPv4 services through the WKP
//! can turn the check off.

use std::net::{Ipv4Addr, Ipv6Addr};

/// Why a prefix or an address is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rfc6052Error {
    /// The length is not 32, 40, 48, 56, 64 or 96.
    BadLength,
    /// The prefix has bits set after its length.
    HostBits,
    /// The address is not under the prefix.
    NotInPrefix,
    /// Bits 64..71 of the address are not zero.
    NonZeroU,
    /// A non-global IPv4 address with the Well-Known Prefix.
    NonGlobal,
}

impl std::fmt::Display for Rfc6052Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Rfc6052Error::BadLength => "RFC 6052 prefix length must be 32, 40, 48, 56, 64 or 96",
            Rfc6052Error::HostBits => "prefix has host bits set",
            Rfc6052Error::NotInPrefix => "address is not under the prefix",
            Rfc6052Error::NonZeroU => "bits 64..71 (u octet) are not zero",
            Rfc6052Error::NonGlobal => "the Well-Known Prefix must not carry a non-global IPv4",
        })
    }
}

impl std::error::Error for Rfc6052Error {}

/// The RFC 6052 Well-Known Prefix 64:ff9b::/96.
pub const WELL_KNOWN_PREFIX: Ipv6Addr = Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, 0, 0);

/// A validated RFC 6052 prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rfc6052Prefix {
    prefix: [u8; 16],
    len: u8,
    /// Refuse non-global IPv4 addresses (only meaningful for the Well-Known Prefix).
    pub wkp_global_only: bool,
    /// Derived from `prefix` and `len` once, for the per-packet [`contains`](Self::contains)
    /// and [`extract`](Self::extract): the prefix as two big-endian 64-bit words, the masks
    /// of its length, and the byte positions of the IPv4 octets.
    words: [u64; 2],
    mask: [u64; 2],
    pos: [u8; 4],
}

/// Byte positions of the four IPv4 octets for each prefix length (RFC 6052 Figure 1).
fn positions(len: u8) -> Option<[usize; 4]> {
    Some(match len {
        32 => [4, 5, 6, 7],
        40 => [5, 6, 7, 9],
        48 => [6, 7, 9, 10],
        56 => [7, 9, 10, 11],
        64 => [9, 10, 11, 12],
        96 => [12, 13, 14, 15],
        _ => return None,
    })
}

/// True for IPv4 addresses that are not global (RFC 6052 3.1 names RFC 1918; also this
/// network, loopback, link-local, shared address space RFC 6598, multicast, reserved and
/// broadcast).
pub fn is_non_global_v4(a: Ipv4Addr) -> bool {
    let o = a.octets();
    o[0] == 0
        || o[0] == 10
        || o[0] == 127
        || (o[0] == 169 && o[1] == 254)
        || (o[0] == 172 && (16..=31).contains(&o[1]))
        || (o[0] == 192 && o[1] == 168)
        || (o[0] == 100 && (64..=127).contains(&o[1]))
        || o[0] >= 224
}

impl Rfc6052Prefix {
    /// Validates `prefix/len`. The non-global check is on for the Well-Known Prefix.
    pub fn new(prefix: Ipv6Addr, len: u8) -> Result<Rfc6052Prefix, Rfc6052Error> {
        positions(len).ok_or(Rfc6052Error::BadLength)?;
        let bytes = prefix.octets();
        let n = usize::from(len / 8);
        if bytes[n..].iter().any(|b| *b != 0) {
            return Err(Rfc6052Error::HostBits);
        }
        Ok(Rfc6052Prefix::build(
            bytes,
            len,
            len == 96 && prefix == WELL_KNOWN_PREFIX,
        ))
    }

    /// The Well-Known Prefix 64:ff9b::/96.
    pub fn well_known() -> Rfc6052Prefix {
        Rfc6052Prefix::build(WELL_KNOWN_PREFIX.octets(), 96, true)
    }

    /// A prefix of a valid length (see [`positions`]) with its derived fields.
    fn build(prefix: [u8; 16], len: u8, wkp_global_only: bool) -> Rfc6052Prefix {
        let bits = u128::MAX
            .checked_shl(u32::from(128u8.saturating_sub(len)))
            .unwrap_or(0);
        let p = u128::from_be_bytes(prefix);
        let pos = positions(len).unwrap_or([12, 13, 14, 15]);
        Rfc6052Prefix {
            prefix,
            len,
            wkp_global_only,
            words: [(p >> 64) as u64, p as u64],
            mask: [(bits >> 64) as u64, bits as u64],
            pos: pos.map(|i| i as u8),
        }
    }

    /// Same prefix with the non-global check set as given.
    pub fn with_wkp_global_only(mut self, on: bool) -> Rfc6052Prefix {
        self.wkp_global_only = on;
        self
    }

    /// The prefix address.
    pub fn addr(&self) -> Ipv6Addr {
        Ipv6Addr::from(self.prefix)
    }

    /// The prefix length.
    pub fn len(&self) -> u8 {
        self.len
    }

    /// Always false: a prefix is never empty (kept for the `len` convention).
    pub fn is_empty(&self) -> bool {
        false
    }

    fn global_ok(&self, v4: Ipv4Addr) -> bool {
        !(self.wkp_global_only && is_non_global_v4(v4))
    }

    /// True unless the Well-Known Prefix's non-global check refuses `v4`: for an address `a`
    /// under the prefix, `extract(a)` succeeds exactly when the same prefix without the check
    /// extracts `v4` from it and this is true.
    #[inline]
    pub fn allows_v4(&self, v4: Ipv4Addr) -> bool {
        self.global_ok(v4)
    }

    /// True if `addr` starts with this prefix: two masked 64-bit compares with the words and
    /// masks derived at construction (this runs on every packet of the NAT64 path).
    #[inline]
    pub fn contains(&self, addr: &Ipv6Addr) -> bool {
        let o = addr.octets();
        let hi = u64::from_be_bytes([o[0], o[1], o[2], o[3], o[4], o[5], o[6], o[7]]);
        let lo = u64::from_be_bytes([o[8], o[9], o[10], o[11], o[12], o[13], o[14], o[15]]);
        ((hi ^ self.words[0]) & self.mask[0]) | ((lo ^ self.words[1]) & self.mask[1]) == 0
    }

    /// Embeds `v4` (RFC 6052 2.2): prefix, IPv4 octets around the zero u octet, zero suffix.
    pub fn embed(&self, v4: Ipv4Addr) -> Result<Ipv6Addr, Rfc6052Error> {
        if !self.global_ok(v4) {
            return Err(Rfc6052Error::NonGlobal);
        }
        let mut out = self.prefix;
        for (p, o) in self.pos.iter().zip(v4.octets()) {
            out[usize::from(*p) & 15] = o;
        }
        Ok(Ipv6Addr::from(out))
    }

    /// Extracts the IPv4 address (RFC 6052 2.3); the suffix is ignored.
    #[inline]
    pub fn extract(&self, v6: &Ipv6Addr) -> Result<Ipv4Addr, Rfc6052Error> {
        if !self.contains(v6) {
            return Err(Rfc6052Error::NotInPrefix);
        }
        let b = v6.octets();
        if self.len < 96 && b[8] != 0 {
            return Err(Rfc6052Error::NonZeroU);
        }
        let at = |i: usize| b[usize::from(self.pos[i]) & 15];
        let v4 = Ipv4Addr::new(at(0), at(1), at(2), at(3));
        if !self.global_ok(v4) {
            return Err(Rfc6052Error::NonGlobal);
        }
        Ok(v4)
    }
}

impl std::fmt::Display for Rfc6052Prefix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr(), self.len)
    }
}
