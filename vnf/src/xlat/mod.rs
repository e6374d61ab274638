//! IP/ICMP translation (RFC 7915) and IPv4-embedded IPv6 addresses (RFC 6052): pure functions.
//!
//! This module translates headers; it never decides addresses or ports. The callers (NAT46,
//! NAT64, stateless SIIT) look at a packet with [`inspect_v4`] / [`inspect_v6`] (which also
//! describe the packet inside an ICMP error), choose the translated addresses and ports, and
//! call [`ipv4_to_ipv6`] or [`ipv6_to_ipv4`] with them. Everything here works on a
//! [`Frame`](crate::frame::Frame) whose data starts at the IP header; nothing allocates on the
//! heap, keeps state or panics, whatever the input.
//!
//! - [`v4to6`]: RFC 7915 section 4 (IPv4 -> IPv6), with section 4.2 (ICMPv4 -> ICMPv6), 4.3
//!   (the packet inside an ICMPv4 error), 4.5 (transport checksums, zero UDP checksum) and the
//!   `lowest-ipv6-mtu` fragmentation of section 4.1 (no atomic fragments, RFC 8021).
//! - [`v6to4`]: RFC 7915 section 5 (IPv6 -> IPv4), 5.2 (ICMPv6 -> ICMPv4), 5.3, 5.5; IPv4
//!   fragmentation when a DF=0 result exceeds the IPv4 next-hop MTU.
//! - [`icmp`]: the type/code/pointer/MTU mapping tables (Figures 3 and 6, RFC 1191 plateaus).
//! - [`rfc6052`]: address embedding and extraction for prefix lengths 32..96.
//! - [`eamt`]: stateless SIIT address mapping (RFC 7757 EAMT, longest prefix match, pool6
//!   fallback) and RFC 6791 source addresses for ICMP errors from untranslatable sources.
//! - [`siit`]: the stateless SIIT stage ([`SiitStage`]) on top of the above.
//! - [`errors`]: ICMP errors the translator itself sends back ([`Icmp4Error`], [`Icmp6Error`]).
//!
//! Invariants:
//! - TTL / hop limit is copied, never decremented (the forwarding stage decrements once).
//! - A function either fully translates the frame ([`Xlat::Translated`]) or leaves the frame
//!   unchanged except for transport bytes it may already have rewritten, in which case the
//!   result is always [`Xlat::Drop`] (the packet is dropped anyway).
//! - Checksums of TCP/UDP/ICMP echo are updated incrementally (RFC 1624); ICMP errors, whose
//!   body is rebuilt, are verified first and then computed from scratch.
//!
//! `docs/xlat.md` lists what is implemented per RFC section and the choices made where the
//! RFC leaves options.

pub mod eamt;
pub mod errors;
pub mod icmp;
pub mod inspect;
pub mod rfc6052;
pub mod siit;
pub mod v4to6;
pub mod v6to4;

#[cfg(test)]
mod tests;

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::drop::DropReason;

pub use eamt::{rfc6791_v4, rfc6791_v6, Eamt, EamtEntry, EamtError, Ipv4Prefix, Ipv6Prefix, Siit};
pub use errors::{icmp4_error_in_place, icmp6_error_in_place};
pub use inspect::{
    inspect_v4, inspect_v4_parsed, inspect_v6, inspect_v6_parsed, Flow, HeaderChecksum, Inspected,
    Inspected4, Inspected6, PacketInfo, Transport,
};
pub use rfc6052::{Rfc6052Error, Rfc6052Prefix};
pub use siit::{SiitCounters, SiitError, SiitStage};
pub use v4to6::{ipv4_to_ipv6, ipv4_to_ipv6_parsed};
pub use v6to4::{ipv6_to_ipv4, ipv6_to_ipv4_parsed};

/// Translator settings that do not change per packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct XlatConfig {
    /// RFC 7915 4.1 `lowest-ipv6-mtu`: an IPv4 packet with DF=0 whose translation is larger is
    /// split into IPv6 fragments no larger than this (and than `ipv6_mtu`). Default 1280.
    pub lowest_ipv6_mtu: u16,
    /// MTU of the IPv6 next hop (the output link). An IPv4 packet with DF=1 whose translation
    /// is larger is answered with ICMPv4 Fragmentation Needed. Also bounds the MTU reported in
    /// a translated Packet Too Big (RFC 7915 4.2 "MTU_of_IPv6_nexthop").
    pub ipv6_mtu: u16,
    /// MTU of the IPv4 next hop. A translated IPv4 packet with DF=1 that is larger gets an
    /// ICMPv6 Packet Too Big back; with DF=0 it is split into IPv4 fragments. Also bounds the
    /// MTU of translated Packet Too Big / Fragmentation Needed messages.
    pub ipv4_mtu: u16,
    /// RFC 7915 4.5: give IPv4 UDP packets without checksum a computed one (unfragmented
    /// only). When false they are dropped like fragmented ones.
    pub compute_udp_zero_checksum: bool,
}

impl Default for XlatConfig {
    fn default() -> Self {
        XlatConfig {
            lowest_ipv6_mtu: 1280,
            ipv6_mtu: 1500,
            ipv4_mtu: 1500,
            compute_udp_zero_checksum: true,
        }
    }
}

/// What the caller decided for one IP header: the translated addresses and, optionally, new
/// transport identifiers (NAT). For ICMP echo the identifier plays both roles: it becomes
/// `src_port` if set, else `dst_port`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rewrite<A> {
    pub src: A,
    pub dst: A,
    pub src_port: Option<u16>,
    pub dst_port: Option<u16>,
}

impl<A> Rewrite<A> {
    /// Addresses only, ports unchanged.
    pub fn addrs(src: A, dst: A) -> Rewrite<A> {
        Rewrite {
            src,
            dst,
            src_port: None,
            dst_port: None,
        }
    }

    /// Addresses and new ports.
    pub fn with_ports(src: A, dst: A, src_port: u16, dst_port: u16) -> Rewrite<A> {
        Rewrite {
            src,
            dst,
            src_port: Some(src_port),
            dst_port: Some(dst_port),
        }
    }
}

/// Addresses (and ports) of an IPv4 -> IPv6 translation: the outer header, and for ICMP
/// errors the packet inside (whose source and destination are the reverse of a flow's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Map46 {
    pub outer: Rewrite<Ipv6Addr>,
    /// Needed for ICMPv4 errors; `None` makes an ICMP error a drop
    /// ([`DropReason::XlatNoAddressMapping`]).
    pub inner: Option<Rewrite<Ipv6Addr>>,
}

/// Addresses (and ports) of an IPv6 -> IPv4 translation; see [`Map46`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Map64 {
    pub outer: Rewrite<Ipv4Addr>,
    pub inner: Option<Rewrite<Ipv4Addr>>,
    /// Identification for the IPv4 header when the IPv6 packet has no Fragment header and the
    /// result has DF=0 (RFC 7915 5.1 "set according to a Fragment Identification algorithm":
    /// the caller supplies it, e.g. a per-worker counter).
    pub ident: u16,
}

/// An ICMPv4 error the translator asks the caller to send back to the IPv4 source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Icmp4Error {
    /// Type 3 code 4 with the next-hop MTU (DF=1 packet too big for the IPv6 next hop).
    FragNeeded { mtu: u16 },
    /// Type 3 code 5 (an unexpired IPv4 source route option, RFC 7915 4.1).
    SourceRouteFailed,
}

impl Icmp4Error {
    /// (type, code, rest-of-header word).
    pub fn wire(self) -> (u8, u8, u32) {
        match self {
            Icmp4Error::FragNeeded { mtu } => (3, 4, u32::from(mtu)),
            Icmp4Error::SourceRouteFailed => (3, 5, 0),
        }
    }
}

/// An ICMPv6 error the translator asks the caller to send back to the IPv6 source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Icmp6Error {
    /// Type 2 with the MTU (DF=1 result too big for the IPv4 next hop).
    PacketTooBig { mtu: u32 },
    /// Type 4 with code and pointer (a Routing header with Segments Left != 0, RFC 7915 5.1).
    ParamProblem { code: u8, pointer: u32 },
}

impl Icmp6Error {
    /// (type, code, rest-of-header word).
    pub fn wire(self) -> (u8, u8, u32) {
        match self {
            Icmp6Error::PacketTooBig { mtu } => (2, 0, mtu),
            Icmp6Error::ParamProblem { code, pointer } => (4, code, pointer),
        }
    }
}

/// Result of a translation. `E` is the ICMP error type of the source family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Xlat<E> {
    /// The frame holds the translated packet. `fragments` more packets (the other fragments of
    /// a split packet) were handed to the sink before returning; the frame is the first one.
    Translated { fragments: u8 },
    /// Not translated (frame unchanged): send this ICMP error back to the source, then drop.
    Icmp(E),
    /// Not translated: drop for this reason.
    Drop(DropReason),
}

/// IPv4 -> IPv6 result.
pub type Xlat46 = Xlat<Icmp4Error>;
/// IPv6 -> IPv4 result.
pub type Xlat64 = Xlat<Icmp6Error>;

impl<E> Xlat<E> {
    /// True if translated.
    pub fn is_translated(&self) -> bool {
        matches!(self, Xlat::Translated { .. })
    }

    /// The drop reason, if dropped.
    pub fn drop_reason(&self) -> Option<DropReason> {
        match self {
            Xlat::Drop(r) => Some(*r),
            _ => None,
        }
    }
}

/// Largest packet an ICMPv6 error produced by translation may be (RFC 7915 4.3 / RFC 4443
/// 2.4(c): the IPv6 minimum MTU).
pub const MAX_ICMP6_ERROR: usize = 1280;
/// Largest packet an ICMPv4 error produced by translation may be (RFC 7915 5.3 / RFC 1812
/// 4.3.2.3).
pub const MAX_ICMP4_ERROR: usize = 576;

/// The four big-endian 32-bit words of an IPv6 address, added (not folded): its share of a
/// one's complement sum (RFC 1071; a 32-bit word counts as its two 16-bit halves, the carries
/// are folded in at the end). Plain 64-bit adds of four loads: no byte loop, no 128-bit math.
#[inline(always)]
pub(crate) fn words6(a: &Ipv6Addr) -> u64 {
    let o = a.octets();
    let w = |i: usize| u64::from(u32::from_be_bytes([o[i], o[i + 1], o[i + 2], o[i + 3]]));
    w(0) + w(4) + w(8) + w(12)
}

/// The same words complemented one by one: in one's complement `-x` is `!x`, so adding these
/// subtracts the address from a sum (RFC 1624 equation 3 for all the words at once).
#[inline(always)]
pub(crate) fn not_words6(a: &Ipv6Addr) -> u64 {
    let o = a.octets();
    let w = |i: usize| u64::from(!u32::from_be_bytes([o[i], o[i + 1], o[i + 2], o[i + 3]]));
    w(0) + w(4) + w(8) + w(12)
}

/// An IPv4 address as one big-endian 32-bit word of a one's complement sum.
#[inline(always)]
pub(crate) fn words4(a: Ipv4Addr) -> u64 {
    u64::from(u32::from(a))
}

/// The complement of [`words4`] (subtracts the address from a sum).
#[inline(always)]
pub(crate) fn not_words4(a: Ipv4Addr) -> u64 {
    u64::from(!u32::from(a))
}

/// Sum of the 32 address bytes of an IPv6 pseudo-header.
#[inline]
pub(crate) fn addr_sum6(src: &Ipv6Addr, dst: &Ipv6Addr) -> u16 {
    crate::wire::checksum::fold(words6(src) + words6(dst))
}

/// Sum of the 8 address bytes of an IPv4 pseudo-header.
#[inline]
pub(crate) fn addr_sum4(src: Ipv4Addr, dst: Ipv4Addr) -> u16 {
    crate::wire::checksum::fold(words4(src) + words4(dst))
}

#[inline]
pub(crate) fn rd16(b: &[u8], at: usize) -> u16 {
    match b.get(at..at + 2) {
        Some(s) => u16::from_be_bytes([s[0], s[1]]),
        None => 0,
    }
}

#[inline]
pub(crate) fn wr16(b: &mut [u8], at: usize, v: u16) {
    if let Some(s) = b.get_mut(at..at + 2) {
        s.copy_from_slice(&v.to_be_bytes());
    }
}

#[inline]
pub(crate) fn rd32(b: &[u8], at: usize) -> u32 {
    match b.get(at..at + 4) {
        Some(s) => u32::from_be_bytes([s[0], s[1], s[2], s[3]]),
        None => 0,
    }
}

#[inline]
pub(crate) fn wr32(b: &mut [u8], at: usize, v: u32) {
    if let Some(s) = b.get_mut(at..at + 4) {
        s.copy_from_slice(&v.to_be_bytes());
    }
}

#[inline]
pub(crate) fn byte(b: &[u8], at: usize) -> u8 {
    b.get(at).copied().unwrap_or(0)
}

/// Writes a 40-byte IPv6 header (flow label 0, RFC 7915 4.1).
#[allow(clippy::too_many_arguments)]
#[inline]
pub(crate) fn put_v6_header(
    b: &mut [u8],
    tc: u8,
    payload_len: u16,
    next_header: u8,
    hop_limit: u8,
    src: &Ipv6Addr,
    dst: &Ipv6Addr,
) {
    if let Some(h) = b.first_chunk_mut::<40>() {
        let w0 = (6u32 << 28) | (u32::from(tc) << 20);
        let w1 =
            (u32::from(payload_len) << 16) | (u32::from(next_header) << 8) | u32::from(hop_limit);
        h[0..4].copy_from_slice(&w0.to_be_bytes());
        h[4..8].copy_from_slice(&w1.to_be_bytes());
        h[8..24].copy_from_slice(&src.octets());
        h[24..40].copy_from_slice(&dst.octets());
    }
}

/// Writes an 8-byte Fragment header.
pub(crate) fn put_frag_header(b: &mut [u8], next_header: u8, offset: u16, more: bool, ident: u32) {
    if let Some(h) = b.get_mut(..8) {
        h[0] = next_header;
        h[1] = 0;
        h[2..4].copy_from_slice(&((offset & 0xfff8) | u16::from(more)).to_be_bytes());
        h[4..8].copy_from_slice(&ident.to_be_bytes());
    }
}

/// IPv4 header fields for [`put_v4_header`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct V4Out {
    pub tos: u8,
    pub total: u16,
    pub ident: u16,
    pub df: bool,
    pub mf: bool,
    pub offset: u16,
    pub ttl: u8,
    pub proto: u8,
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
}

/// Writes a 20-byte IPv4 header with its checksum (no options): five 32-bit stores, the
/// checksum summed from the same five words (RFC 1071) rather than read back from the bytes.
#[inline]
pub(crate) fn put_v4_header(b: &mut [u8], f: &V4Out) {
    let Some(h) = b.first_chunk_mut::<20>() else {
        return;
    };
    let flags = (u16::from(f.df) << 14) | (u16::from(f.mf) << 13) | ((f.offset >> 3) & 0x1fff);
    let w0 = (0x45u32 << 24) | (u32::from(f.tos) << 16) | u32::from(f.total);
    let w1 = (u32::from(f.ident) << 16) | u32::from(flags);
    let w2 = (u32::from(f.ttl) << 24) | (u32::from(f.proto) << 16); // checksum 0 while summing
    let (src, dst) = (u32::from(f.src), u32::from(f.dst));
    let sum = u64::from(w0) + u64::from(w1) + u64::from(w2) + u64::from(src) + u64::from(dst);
    let w2 = w2 | u32::from(!crate::wire::checksum::fold(sum));
    h[0..4].copy_from_slice(&w0.to_be_bytes());
    h[4..8].copy_from_slice(&w1.to_be_bytes());
    h[8..12].copy_from_slice(&w2.to_be_bytes());
    h[12..16].copy_from_slice(&src.to_be_bytes());
    h[16..20].copy_from_slice(&dst.to_be_bytes());
}

/// Direction of a transport rewrite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dir {
    V4ToV6,
    V6ToV4,
}

/// Rewrites a (possibly truncated) transport header after the IP header changed: ports (NAT),
/// ICMP echo type and identifier, and the checksum, incrementally (RFC 1624): the pseudo-header
/// addresses `old_addrs` -> `new_addrs` (sums), and for ICMP the ICMPv6 pseudo-header `icmp6_ph`
/// added (v4 -> v6) or removed (v6 -> v4). Fields cut off by truncation are left alone. A UDP
/// checksum of zero stays zero (the caller handles RFC 7915 4.5 for outer packets).
#[allow(clippy::too_many_arguments)]
pub(crate) fn rewrite_l4(
    l4: &mut [u8],
    proto: u8,
    dir: Dir,
    old_addrs: u16,
    new_addrs: u16,
    icmp6_ph: u16,
    src_port: Option<u16>,
    dst_port: Option<u16>,
) {
    use crate::wire::checksum::{update_sum, update_u16};
    match proto {
        6 | 17 => {
            let addrs = u64::from(!old_addrs) + u64::from(new_addrs);
            if rewrite_ports(l4, proto, addrs, src_port, dst_port) {
                return;
            }
            // A truncated header (inside an ICMP error): what is present.
            let at = if proto == 6 { 16 } else { 6 };
            let has_sum = l4.len() >= at + 2;
            let mut c = rd16(l4, at);
            let udp_none = proto == 17 && c == 0;
            if has_sum && !udp_none {
                c = update_sum(c, old_addrs, new_addrs);
            }
            for (pos, new) in [(0usize, src_port), (2usize, dst_port)] {
                if let (Some(n), true) = (new, l4.len() >= pos + 2) {
                    let old = rd16(l4, pos);
                    wr16(l4, pos, n);
                    if has_sum && !udp_none {
                        c = update_u16(c, old, n);
                    }
                }
            }
            if has_sum && !udp_none {
                if proto == 17 && c == 0 {
                    c = 0xffff;
                }
                wr16(l4, at, c);
            }
        }
        1 | 58 => {
            if l4.len() < 4 {
                return;
            }
            let ty = byte(l4, 0);
            let new_ty = match (dir, ty) {
                (Dir::V4ToV6, 8) => 128,
                (Dir::V4ToV6, 0) => 129,
                (Dir::V6ToV4, 128) => 8,
                (Dir::V6ToV4, 129) => 0,
                _ => return,
            };
            let code = byte(l4, 1);
            let mut c = rd16(l4, 2);
            c = update_u16(
                c,
                u16::from_be_bytes([ty, code]),
                u16::from_be_bytes([new_ty, code]),
            );
            c = match dir {
                Dir::V4ToV6 => update_sum(c, 0, icmp6_ph),
                Dir::V6ToV4 => update_sum(c, icmp6_ph, 0),
            };
            if let (Some(n), true) = (src_port.or(dst_port), l4.len() >= 6) {
                let old = rd16(l4, 4);
                wr16(l4, 4, n);
                c = update_u16(c, old, n);
            }
            if let Some(t) = l4.get_mut(0) {
                *t = new_ty;
            }
            wr16(l4, 2, c);
        }
        _ => {}
    }
}

/// Rewrites a whole TCP (at least 18 bytes) or UDP (8 bytes) header after the pseudo-header
/// changed: the ports (NAT) and the checksum in one incremental update (RFC 1624 equation 3,
/// `HC' = ~(~HC + ~m + m')`, with every changed word in one sum). `addrs` is the pseudo-header
/// part of `~m + m'`, unfolded: the new address words plus the complemented old ones
/// ([`words6`], [`not_words4`] ...). A UDP checksum of zero (none) stays zero, a computed zero
/// is sent as 0xffff (RFC 768). Returns false, touching nothing, if the header is shorter.
///
/// The result is the one the field-by-field updates give: both are the one's complement sum
/// of the same terms, and the sum is never zero (the new addresses are not all zero), so the
/// end-around-carry fold lands on the same one of the two representations of a value.
#[inline(always)]
pub(crate) fn rewrite_ports(
    l4: &mut [u8],
    proto: u8,
    addrs: u64,
    src_port: Option<u16>,
    dst_port: Option<u16>,
) -> bool {
    let at = if proto == 6 { 16 } else { 6 };
    let Some(h) = l4.get_mut(..at + 2) else {
        return false;
    };
    let old = u32::from_be_bytes([h[0], h[1], h[2], h[3]]);
    let sport = src_port.unwrap_or((old >> 16) as u16);
    let dport = dst_port.unwrap_or(old as u16);
    let new = (u32::from(sport) << 16) | u32::from(dport);
    h[..4].copy_from_slice(&new.to_be_bytes());
    let c = u16::from_be_bytes([h[at], h[at + 1]]);
    if proto == 17 && c == 0 {
        return true;
    }
    let acc = u64::from(!c) + addrs + u64::from(!old) + u64::from(new);
    let mut c = !crate::wire::checksum::fold(acc);
    if proto == 17 && c == 0 {
        c = 0xffff;
    }
    h[at..at + 2].copy_from_slice(&c.to_be_bytes());
    true
}
