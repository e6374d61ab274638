//! Looking at a packet before translating it: the header parsers shared by both directions,
//! and [`inspect_v4`] / [`inspect_v6`], which tell a NAT what it keys on (addresses, protocol,
//! ports or echo identifier) for the packet and, for an ICMP error, for the packet inside.
//!
//! The parsers apply the checks of the translation itself, so a packet that `inspect_*`
//! accepts fails translation only for reasons that depend on the configuration (MTU) or on the
//! ICMP type mapping.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::{byte, rd16, rd32};
use crate::drop::DropReason;
use crate::wire::{checksum, Ipv4Packet, Ipv6Packet};

/// What the transport header says (NAT keys).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Tcp {
        src_port: u16,
        dst_port: u16,
    },
    Udp {
        src_port: u16,
        dst_port: u16,
    },
    /// ICMP/ICMPv6 echo request.
    EchoRequest {
        ident: u16,
    },
    /// ICMP/ICMPv6 echo reply.
    EchoReply {
        ident: u16,
    },
    /// An ICMP error (type and code as on the wire); the packet inside is in
    /// [`PacketInfo::inner`].
    IcmpError {
        ty: u8,
        code: u8,
    },
    /// A non-first fragment: no transport header.
    Fragment,
    /// Another protocol, or an ICMP informational type without translation.
    Other,
}

/// One IP header and its transport identifiers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flow<A> {
    pub src: A,
    pub dst: A,
    /// Upper-layer protocol number as on the wire (1 or 58 for ICMP).
    pub protocol: u8,
    pub transport: Transport,
}

impl<A> Flow<A> {
    /// (source, destination) ports; for echo the identifier twice.
    pub fn ports(&self) -> Option<(u16, u16)> {
        match self.transport {
            Transport::Tcp { src_port, dst_port } | Transport::Udp { src_port, dst_port } => {
                Some((src_port, dst_port))
            }
            Transport::EchoRequest { ident } | Transport::EchoReply { ident } => {
                Some((ident, ident))
            }
            _ => None,
        }
    }
}

/// A packet as a NAT sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacketInfo<A> {
    pub outer: Flow<A>,
    /// The packet inside an ICMP error (its header as sent: source = the original sender).
    pub inner: Option<Flow<A>>,
    /// True if the outer packet is a fragment (first or not).
    pub fragment: bool,
}

/// Parsed IPv4 header fields.
#[derive(Debug, Clone, Copy)]
pub struct V4 {
    pub(crate) ihl: usize,
    /// Total Length as declared.
    pub(crate) total: usize,
    pub(crate) tos: u8,
    pub(crate) ident: u16,
    pub(crate) df: bool,
    pub(crate) mf: bool,
    /// Fragment offset in bytes.
    pub(crate) offset: u16,
    pub(crate) ttl: u8,
    pub(crate) proto: u8,
    pub(crate) src: Ipv4Addr,
    pub(crate) dst: Ipv4Addr,
}

impl V4 {
    pub fn is_fragment(&self) -> bool {
        self.mf || self.offset != 0
    }
}

fn v4_fields<T: AsRef<[u8]>>(ip: &Ipv4Packet<T>) -> V4 {
    V4 {
        ihl: ip.header_len(),
        total: usize::from(ip.total_len()),
        tos: (ip.dscp() << 2) | ip.ecn(),
        ident: ip.ident(),
        df: ip.dont_frag(),
        mf: ip.more_frags(),
        offset: ip.frag_offset(),
        ttl: ip.ttl(),
        proto: u8::from(ip.next_header()),
        src: ip.src_addr(),
        dst: ip.dst_addr(),
    }
}

/// Whether [`parse_v4`] checks the IPv4 header checksum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderChecksum {
    /// Verify it (a packet from anywhere).
    Verify,
    /// The caller already did: the data path's L2 stage (`Net::l2_input`) verifies the header
    /// checksum of every IPv4 packet before any NAT stage sees it, and drops a bad one
    /// (`ipv4_bad_checksum`).
    Verified,
}

/// The outer IPv4 header: lengths (wire checks) and, unless the caller verified it, the
/// header checksum. The fields are read from the first 20 bytes once the lengths are known
/// to be good.
#[inline(always)]
pub(crate) fn parse_v4(data: &[u8], csum: HeaderChecksum) -> Result<V4, DropReason> {
    let ip = Ipv4Packet::new_checked(data).map_err(|_| DropReason::XlatMalformed)?;
    if csum == HeaderChecksum::Verify && !ip.verify_checksum() {
        return Err(DropReason::XlatBadChecksum);
    }
    let Some(b) = data.first_chunk::<20>() else {
        return Err(DropReason::XlatMalformed);
    };
    let fo = u16::from_be_bytes([b[6], b[7]]);
    Ok(V4 {
        ihl: usize::from(b[0] & 0x0f) * 4,
        total: usize::from(u16::from_be_bytes([b[2], b[3]])),
        tos: b[1],
        ident: u16::from_be_bytes([b[4], b[5]]),
        df: fo & 0x4000 != 0,
        mf: fo & 0x2000 != 0,
        offset: (fo & 0x1fff) << 3,
        ttl: b[8],
        proto: b[9],
        src: Ipv4Addr::new(b[12], b[13], b[14], b[15]),
        dst: Ipv4Addr::new(b[16], b[17], b[18], b[19]),
    })
}

/// The IPv4 header inside an ICMP error: the header must be whole, the Total Length may
/// exceed what is present (the packet is truncated) but not be below the header length.
pub(crate) fn parse_inner_v4(data: &[u8]) -> Result<V4, DropReason> {
    let bad = DropReason::XlatIcmpInnerMalformed;
    let ip = Ipv4Packet::new_unchecked(data);
    if data.len() < 20 || ip.version() != 4 {
        return Err(bad);
    }
    let f = v4_fields(&ip);
    if f.ihl < 20 || f.ihl > data.len() || f.total < f.ihl {
        return Err(bad);
    }
    Ok(f)
}

/// Parsed IPv6 header and extension-header walk.
#[derive(Debug, Clone, Copy)]
pub struct V6 {
    /// Payload Length as declared.
    pub(crate) payload_len: usize,
    pub(crate) tc: u8,
    pub(crate) hop: u8,
    pub(crate) src: Ipv6Addr,
    pub(crate) dst: Ipv6Addr,
    /// Upper-layer protocol (after the skipped extension headers).
    pub(crate) proto: u8,
    /// Offset of the upper-layer data from the IPv6 header start.
    pub(crate) l4: usize,
    pub(crate) frag: Option<Frag6>,
}

/// Fragment header fields.
#[derive(Debug, Clone, Copy)]
pub struct Frag6 {
    /// Offset in bytes.
    pub(crate) offset: u16,
    pub(crate) more: bool,
    pub(crate) ident: u32,
}

impl V6 {
    /// True if the upper-layer header is present (not a non-first fragment).
    pub fn has_l4_header(&self) -> bool {
        self.frag.is_none_or(|f| f.offset == 0)
    }
}

/// Why the IPv6 walk stopped.
pub(crate) enum Walk6Error {
    Drop(DropReason),
    /// Routing header with Segments Left != 0: pointer to that field (RFC 7915 5.1).
    SegmentsLeft(u32),
}

fn is_ext(nh: u8) -> bool {
    matches!(nh, 0 | 43 | 44 | 60 | 51)
}

/// Walks the extension headers of the IPv6 header at the start of `data`, whose bytes end at
/// `end` (the payload end for an outer packet, the truncated end for an inner one). RFC 7915
/// 5.1: Hop-by-Hop, Destination Options and Routing (Segments Left 0) are skipped; a Routing
/// header with Segments Left != 0 is an error for an outer packet (`outer`); a Fragment header
/// is recorded and must be followed by the upper layer; AH is not translatable.
pub(crate) fn walk_v6(
    data: &[u8],
    end: usize,
    outer: bool,
    bad: DropReason,
) -> Result<(u8, usize, Option<Frag6>), Walk6Error> {
    let mut nh = byte(data, 6);
    let mut off = 40usize;
    let mut frag: Option<Frag6> = None;
    let mut count = 0usize;
    loop {
        match nh {
            0 | 43 | 60 => {
                if nh == 0 && count != 0 {
                    return Err(Walk6Error::Drop(bad));
                }
                if off + 8 > end {
                    return Err(Walk6Error::Drop(bad));
                }
                let len = (usize::from(byte(data, off + 1)) + 1) * 8;
                if off + len > end {
                    return Err(Walk6Error::Drop(bad));
                }
                if nh == 43 && outer && byte(data, off + 3) != 0 {
                    return Err(Walk6Error::SegmentsLeft((off + 3) as u32));
                }
                nh = byte(data, off);
                off += len;
            }
            44 => {
                if frag.is_some() || off + 8 > end {
                    return Err(Walk6Error::Drop(bad));
                }
                let om = rd16(data, off + 2);
                frag = Some(Frag6 {
                    offset: om & 0xfff8,
                    more: om & 1 != 0,
                    ident: rd32(data, off + 4),
                });
                nh = byte(data, off);
                off += 8;
                if is_ext(nh) {
                    return Err(Walk6Error::Drop(DropReason::XlatExtAfterFragment));
                }
            }
            51 => return Err(Walk6Error::Drop(DropReason::XlatUnsupportedExt)),
            _ => return Ok((nh, off, frag)),
        }
        count += 1;
        if count > crate::wire::ipv6::MAX_EXT_HEADERS {
            return Err(Walk6Error::Drop(DropReason::XlatUnsupportedExt));
        }
    }
}

/// The outer IPv6 header (wire length checks) and its extension headers.
#[inline(always)]
pub(crate) fn parse_v6(data: &[u8]) -> Result<V6, Walk6Error> {
    Ipv6Packet::new_checked(data).map_err(|_| Walk6Error::Drop(DropReason::XlatMalformed))?;
    let Some(b) = data.first_chunk::<40>() else {
        return Err(Walk6Error::Drop(DropReason::XlatMalformed));
    };
    let payload_len = usize::from(u16::from_be_bytes([b[4], b[5]]));
    let (proto, l4, frag) = if is_ext(b[6]) {
        walk_v6(data, 40 + payload_len, true, DropReason::XlatMalformed)?
    } else {
        // No extension header (the common case): the upper layer follows the fixed header.
        (b[6], 40, None)
    };
    let a = |at: usize| {
        let mut o = [0u8; 16];
        o.copy_from_slice(&b[at..at + 16]);
        Ipv6Addr::from(o)
    };
    Ok(V6 {
        payload_len,
        tc: (b[0] << 4) | (b[1] >> 4),
        hop: b[7],
        src: a(8),
        dst: a(24),
        proto,
        l4,
        frag,
    })
}

/// The IPv6 header inside an ICMPv6 error (possibly truncated): the fixed header and the
/// extension headers must be whole and within the declared Payload Length.
pub(crate) fn parse_inner_v6(data: &[u8]) -> Result<V6, DropReason> {
    let bad = DropReason::XlatIcmpInnerMalformed;
    let ip = Ipv6Packet::new_unchecked(data);
    if data.len() < 40 || ip.version() != 6 {
        return Err(bad);
    }
    let payload_len = usize::from(ip.payload_len());
    let end = data.len().min(40 + payload_len);
    let (proto, l4, frag) = walk_v6(data, end, false, bad).map_err(|e| match e {
        Walk6Error::Drop(r) => r,
        Walk6Error::SegmentsLeft(_) => bad,
    })?;
    Ok(V6 {
        payload_len,
        tc: ip.traffic_class(),
        hop: ip.hop_limit(),
        src: ip.src_addr(),
        dst: ip.dst_addr(),
        proto,
        l4,
        frag,
    })
}

/// Transport identifiers of `l4` (present bytes) for protocol `proto`; `icmp` is 1 or 58.
/// `Err` for an inner packet whose transport header is too short.
#[inline(always)]
fn transport(proto: u8, l4: &[u8], icmp: u8, inner: bool) -> Result<Transport, DropReason> {
    let short = if inner {
        DropReason::XlatIcmpInnerMalformed
    } else {
        DropReason::XlatMalformed
    };
    let need = |n: usize| if l4.len() < n { Err(short) } else { Ok(()) };
    Ok(match proto {
        6 => {
            need(if inner { 8 } else { 20 })?;
            Transport::Tcp {
                src_port: rd16(l4, 0),
                dst_port: rd16(l4, 2),
            }
        }
        17 => {
            need(8)?;
            Transport::Udp {
                src_port: rd16(l4, 0),
                dst_port: rd16(l4, 2),
            }
        }
        p if p == icmp => {
            need(8)?;
            let ty = byte(l4, 0);
            let (req, rep) = if icmp == 1 { (8, 0) } else { (128, 129) };
            let is_error = if icmp == 1 {
                matches!(ty, 3 | 4 | 5 | 11 | 12)
            } else {
                ty < 128
            };
            if ty == req {
                Transport::EchoRequest { ident: rd16(l4, 4) }
            } else if ty == rep {
                Transport::EchoReply { ident: rd16(l4, 4) }
            } else if is_error {
                if inner {
                    return Err(DropReason::XlatIcmpNestedError);
                }
                Transport::IcmpError {
                    ty,
                    code: byte(l4, 1),
                }
            } else {
                Transport::Other
            }
        }
        _ => Transport::Other,
    })
}

/// A packet as [`inspect_v4_parsed`] / [`inspect_v6_parsed`] saw it: what a NAT keys on
/// ([`PacketInfo`]) and the parsed outer header, which
/// [`ipv4_to_ipv6_parsed`](super::ipv4_to_ipv6_parsed) /
/// [`ipv6_to_ipv4_parsed`](super::ipv6_to_ipv4_parsed) continue from instead of parsing the
/// packet a second time. Valid for the bytes it was made from, as long as they do not change.
#[derive(Debug, Clone, Copy)]
pub struct Inspected<A, H> {
    pub info: PacketInfo<A>,
    pub(crate) hdr: H,
}

/// An inspected IPv4 packet.
pub type Inspected4 = Inspected<Ipv4Addr, V4>;
/// An inspected IPv6 packet.
pub type Inspected6 = Inspected<Ipv6Addr, V6>;

impl Inspected4 {
    /// Offset of the transport header (the IPv4 header length).
    #[inline]
    pub fn l4_offset(&self) -> usize {
        self.hdr.ihl
    }
}

impl Inspected6 {
    /// Offset of the transport header (after the extension headers).
    #[inline]
    pub fn l4_offset(&self) -> usize {
        self.hdr.l4
    }
}

/// Describes an IPv4 packet (and the packet inside an ICMPv4 error). Applies the checks of
/// [`ipv4_to_ipv6`](super::ipv4_to_ipv6) on headers and lengths.
pub fn inspect_v4(data: &[u8]) -> Result<PacketInfo<Ipv4Addr>, DropReason> {
    inspect_v4_parsed(data, HeaderChecksum::Verify).map(|i| i.info)
}

/// The packet inside an ICMPv4 error whose message (from the ICMP header) is `l4`; out of line,
/// off the path of the flows' own packets.
#[inline(never)]
fn inner_flow_v4(l4: &[u8]) -> Result<Flow<Ipv4Addr>, DropReason> {
    let body = l4.get(8..).unwrap_or(&[]);
    let ih = parse_inner_v4(body)?;
    let il4 = body.get(ih.ihl..).unwrap_or(&[]);
    let it = if ih.offset != 0 {
        Transport::Fragment
    } else {
        transport(ih.proto, il4, 1, true)?
    };
    Ok(Flow {
        src: ih.src,
        dst: ih.dst,
        protocol: ih.proto,
        transport: it,
    })
}

/// The packet inside an ICMPv6 error, as [`inner_flow_v4`].
#[inline(never)]
fn inner_flow_v6(l4: &[u8]) -> Result<Flow<Ipv6Addr>, DropReason> {
    let body = l4.get(8..).unwrap_or(&[]);
    let ih = parse_inner_v6(body)?;
    let il4 = body.get(ih.l4..).unwrap_or(&[]);
    let it = if !ih.has_l4_header() {
        Transport::Fragment
    } else {
        transport(ih.proto, il4, 58, true)?
    };
    Ok(Flow {
        src: ih.src,
        dst: ih.dst,
        protocol: ih.proto,
        transport: it,
    })
}

/// [`inspect_v4`], keeping the parsed header for
/// [`ipv4_to_ipv6_parsed`](super::ipv4_to_ipv6_parsed); `csum` says whether the header
/// checksum is still to be verified.
#[inline(always)]
pub fn inspect_v4_parsed(data: &[u8], csum: HeaderChecksum) -> Result<Inspected4, DropReason> {
    let h = parse_v4(data, csum)?;
    let l4 = data.get(h.ihl..h.total).unwrap_or(&[]);
    let t = if h.offset != 0 {
        Transport::Fragment
    } else {
        transport(h.proto, l4, 1, false)?
    };
    let inner = match t {
        Transport::IcmpError { .. } => Some(inner_flow_v4(l4)?),
        _ => None,
    };
    Ok(Inspected {
        info: PacketInfo {
            outer: Flow {
                src: h.src,
                dst: h.dst,
                protocol: h.proto,
                transport: t,
            },
            inner,
            fragment: h.is_fragment(),
        },
        hdr: h,
    })
}

/// Describes an IPv6 packet (and the packet inside an ICMPv6 error). A Routing header with
/// Segments Left != 0 is reported as [`DropReason::XlatMalformed`] here; translation answers
/// it with a Parameter Problem.
pub fn inspect_v6(data: &[u8]) -> Result<PacketInfo<Ipv6Addr>, DropReason> {
    inspect_v6_parsed(data).map(|i| i.info)
}

/// [`inspect_v6`], keeping the parsed header for
/// [`ipv6_to_ipv4_parsed`](super::ipv6_to_ipv4_parsed).
#[inline(always)]
pub fn inspect_v6_parsed(data: &[u8]) -> Result<Inspected6, DropReason> {
    let h = parse_v6(data).map_err(|e| match e {
        Walk6Error::Drop(r) => r,
        Walk6Error::SegmentsLeft(_) => DropReason::XlatMalformed,
    })?;
    let l4 = data.get(h.l4..40 + h.payload_len).unwrap_or(&[]);
    let t = if !h.has_l4_header() {
        Transport::Fragment
    } else {
        transport(h.proto, l4, 58, false)?
    };
    let inner = match t {
        Transport::IcmpError { .. } => Some(inner_flow_v6(l4)?),
        _ => None,
    };
    Ok(Inspected {
        info: PacketInfo {
            outer: Flow {
                src: h.src,
                dst: h.dst,
                protocol: h.proto,
                transport: t,
            },
            inner,
            fragment: h.frag.is_some(),
        },
        hdr: h,
    })
}

/// Verifies an ICMPv4 message checksum.
pub(crate) fn icmp4_ok(msg: &[u8]) -> bool {
    checksum::verify(msg)
}

/// Verifies an ICMPv6 message checksum.
pub(crate) fn icmp6_ok(msg: &[u8], src: &Ipv6Addr, dst: &Ipv6Addr) -> bool {
    let ph =
        checksum::pseudo_header_v6(src, dst, crate::wire::IpProtocol::Icmpv6, msg.len() as u32);
    checksum::combine(ph, checksum::sum(msg)) == 0xffff
}
