//! IPv6 headers (RFC 8200 section 3) and extension headers (RFC 8200 section 4).
//!
//! [`Ipv6Packet::new_checked`] validates: the 40-byte header is present (`Truncated`), version is
//! 6 (`BadVersion`), and 40 + payload length <= buffer (`BadLength`). Afterwards
//! [`payload`](Ipv6Packet::payload) is exactly the payload-length bytes after the header
//! (Ethernet padding is excluded). Jumbograms (RFC 2675) are not supported: a zero payload
//! length means an empty payload.
//!
//! Extension headers: [`walk_ext_headers`] (and [`Ipv6Packet::upper_layer`]) follow the
//! next-header chain through Hop-by-Hop Options (4.3), Routing (4.4), Fragment (4.5),
//! Destination Options (4.6) and the Authentication Header (RFC 4302 section 2.2, whose length
//! is in 4-octet units), and return the upper-layer protocol, its offset and the Fragment header
//! fields. The walk is bounded by [`MAX_EXT_HEADERS`] (`Unsupported` beyond), rejects a
//! Hop-by-Hop header that is not first or a second Fragment header (`Malformed`, RFC 8200
//! section 4.1), reports a header running past the payload as `Truncated`, and stops right after
//! the Fragment header of a non-first fragment (offset != 0), whose next-header bytes are not
//! the upper-layer header. ESP, No Next Header and any other value end the walk.
//!
//! No accessor panics in any case.

use std::net::Ipv6Addr;

use super::{
    get_u16, get_u32, get_u8, read, set_u16, set_u32, set_u8, slice, slice_mut, tail, write,
};
use super::{IpProtocol, WireError};

mod field {
    use core::ops::Range;
    pub const VER_TC_FLOW: Range<usize> = 0..4;
    pub const LENGTH: Range<usize> = 4..6;
    pub const NXT_HDR: usize = 6;
    pub const HOP_LIMIT: usize = 7;
    pub const SRC_ADDR: Range<usize> = 8..24;
    pub const DST_ADDR: Range<usize> = 24..40;
}

/// Length of the fixed IPv6 header.
pub const HEADER_LEN: usize = field::DST_ADDR.end;

/// Most extension headers [`walk_ext_headers`] will traverse.
pub const MAX_EXT_HEADERS: usize = 8;

/// A read/write view of an IPv6 packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ipv6Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv6Packet<T> {
    /// Wraps `buffer` without any check (accessors still never panic).
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Ipv6Packet<T> {
        Ipv6Packet { buffer }
    }

    /// Wraps `buffer` after [`check_len`](Self::check_len).
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Ipv6Packet<T>, WireError> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Validates the header length, version and payload length (see the module docs).
    #[inline]
    pub fn check_len(&self) -> Result<(), WireError> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        if self.version() != 6 {
            return Err(WireError::BadVersion);
        }
        if HEADER_LEN + usize::from(self.payload_len()) > len {
            return Err(WireError::BadLength);
        }
        Ok(())
    }

    /// The wrapped buffer.
    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    #[inline]
    fn ver_tc_flow(&self) -> u32 {
        get_u32(self.buffer.as_ref(), field::VER_TC_FLOW.start)
    }

    /// Version (6 for a valid packet).
    #[inline]
    pub fn version(&self) -> u8 {
        (self.ver_tc_flow() >> 28) as u8
    }

    /// Traffic class (DSCP << 2 | ECN).
    #[inline]
    pub fn traffic_class(&self) -> u8 {
        (self.ver_tc_flow() >> 20) as u8
    }

    /// Flow label (20 bits).
    #[inline]
    pub fn flow_label(&self) -> u32 {
        self.ver_tc_flow() & 0x000f_ffff
    }

    /// Payload length (everything after the 40-byte header, extension headers included).
    #[inline]
    pub fn payload_len(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::LENGTH.start)
    }

    /// Next header (first extension header or upper-layer protocol).
    #[inline]
    pub fn next_header(&self) -> IpProtocol {
        IpProtocol::from(get_u8(self.buffer.as_ref(), field::NXT_HDR))
    }

    /// Hop limit.
    #[inline]
    pub fn hop_limit(&self) -> u8 {
        get_u8(self.buffer.as_ref(), field::HOP_LIMIT)
    }

    /// Source address.
    #[inline]
    pub fn src_addr(&self) -> Ipv6Addr {
        Ipv6Addr::from(read::<16>(self.buffer.as_ref(), field::SRC_ADDR.start))
    }

    /// Destination address.
    #[inline]
    pub fn dst_addr(&self) -> Ipv6Addr {
        Ipv6Addr::from(read::<16>(self.buffer.as_ref(), field::DST_ADDR.start))
    }

    /// The payload-length bytes after the header.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        slice(
            self.buffer.as_ref(),
            HEADER_LEN,
            HEADER_LEN + usize::from(self.payload_len()),
        )
    }

    /// Walks the extension headers; the returned offset counts from the start of this IPv6
    /// header (so it is at least 40).
    #[inline]
    pub fn upper_layer(&self) -> Result<UpperLayer, WireError> {
        let mut upper = walk_ext_headers(self.next_header(), self.payload())?;
        upper.offset += HEADER_LEN;
        Ok(upper)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv6Packet<T> {
    #[inline]
    fn set_ver_tc_flow(&mut self, value: u32) {
        set_u32(self.buffer.as_mut(), field::VER_TC_FLOW.start, value)
    }

    /// Sets the version nibble.
    #[inline]
    pub fn set_version(&mut self, value: u8) {
        let v = (self.ver_tc_flow() & 0x0fff_ffff) | (u32::from(value & 0x0f) << 28);
        self.set_ver_tc_flow(v)
    }

    /// Sets the traffic class.
    #[inline]
    pub fn set_traffic_class(&mut self, value: u8) {
        let v = (self.ver_tc_flow() & 0xf00f_ffff) | (u32::from(value) << 20);
        self.set_ver_tc_flow(v)
    }

    /// Sets the flow label (low 20 bits of `value`).
    #[inline]
    pub fn set_flow_label(&mut self, value: u32) {
        let v = (self.ver_tc_flow() & 0xfff0_0000) | (value & 0x000f_ffff);
        self.set_ver_tc_flow(v)
    }

    /// Sets the payload length.
    #[inline]
    pub fn set_payload_len(&mut self, value: u16) {
        set_u16(self.buffer.as_mut(), field::LENGTH.start, value)
    }

    /// Sets the next header.
    #[inline]
    pub fn set_next_header(&mut self, value: IpProtocol) {
        set_u8(self.buffer.as_mut(), field::NXT_HDR, value.into())
    }

    /// Sets the hop limit.
    #[inline]
    pub fn set_hop_limit(&mut self, value: u8) {
        set_u8(self.buffer.as_mut(), field::HOP_LIMIT, value)
    }

    /// Sets the source address.
    #[inline]
    pub fn set_src_addr(&mut self, value: &Ipv6Addr) {
        write(self.buffer.as_mut(), field::SRC_ADDR.start, value.octets())
    }

    /// Sets the destination address.
    #[inline]
    pub fn set_dst_addr(&mut self, value: &Ipv6Addr) {
        write(self.buffer.as_mut(), field::DST_ADDR.start, value.octets())
    }

    /// Mutable payload.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let end = HEADER_LEN + usize::from(self.payload_len());
        slice_mut(self.buffer.as_mut(), HEADER_LEN, end)
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for Ipv6Packet<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

/// The parsed fixed IPv6 header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv6Repr {
    /// Source address.
    pub src_addr: Ipv6Addr,
    /// Destination address.
    pub dst_addr: Ipv6Addr,
    /// Next header.
    pub next_header: IpProtocol,
    /// Payload length (extension headers included).
    pub payload_len: usize,
    /// Hop limit.
    pub hop_limit: u8,
    /// Traffic class.
    pub traffic_class: u8,
    /// Flow label (0..=0xfffff).
    pub flow_label: u32,
}

impl Ipv6Repr {
    /// Parses the fixed header.
    pub fn parse<T: AsRef<[u8]>>(packet: &Ipv6Packet<T>) -> Result<Ipv6Repr, WireError> {
        packet.check_len()?;
        Ok(Ipv6Repr {
            src_addr: packet.src_addr(),
            dst_addr: packet.dst_addr(),
            next_header: packet.next_header(),
            payload_len: usize::from(packet.payload_len()),
            hop_limit: packet.hop_limit(),
            traffic_class: packet.traffic_class(),
            flow_label: packet.flow_label(),
        })
    }

    /// Bytes written by [`emit`](Self::emit): 40.
    #[inline]
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the header. Errors (nothing written): `Truncated` if the buffer is shorter than 40
    /// bytes, `BadLength` if payload_len > 65535, `Malformed` if the flow label exceeds 20 bits.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        packet: &mut Ipv6Packet<T>,
    ) -> Result<(), WireError> {
        if packet.buffer.as_ref().len() < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        let payload_len = u16::try_from(self.payload_len).map_err(|_| WireError::BadLength)?;
        if self.flow_label > 0x000f_ffff {
            return Err(WireError::Malformed);
        }
        packet.set_ver_tc_flow((6 << 28) | (u32::from(self.traffic_class) << 20) | self.flow_label);
        packet.set_payload_len(payload_len);
        packet.set_next_header(self.next_header);
        packet.set_hop_limit(self.hop_limit);
        packet.set_src_addr(&self.src_addr);
        packet.set_dst_addr(&self.dst_addr);
        Ok(())
    }
}

mod ext_field {
    pub const NXT_HDR: usize = 0;
    pub const LENGTH: usize = 1;
    pub const DATA: usize = 2;
}

/// A view of a generic extension header with the RFC 8200 section 4 layout (Hop-by-Hop,
/// Routing, Destination Options): next header, length in 8-octet units not counting the first
/// 8 octets, then options or routing data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ipv6ExtHeader<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv6ExtHeader<T> {
    /// Wraps `buffer` without any check (accessors still never panic).
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Ipv6ExtHeader<T> {
        Ipv6ExtHeader { buffer }
    }

    /// Wraps `buffer` after [`check_len`](Self::check_len).
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Ipv6ExtHeader<T>, WireError> {
        let header = Self::new_unchecked(buffer);
        header.check_len()?;
        Ok(header)
    }

    /// `Err(Truncated)` if the buffer ends before the length field or the declared header.
    #[inline]
    pub fn check_len(&self) -> Result<(), WireError> {
        let len = self.buffer.as_ref().len();
        if len < ext_field::DATA || len < self.header_len() {
            Err(WireError::Truncated)
        } else {
            Ok(())
        }
    }

    /// Next header.
    #[inline]
    pub fn next_header(&self) -> IpProtocol {
        IpProtocol::from(get_u8(self.buffer.as_ref(), ext_field::NXT_HDR))
    }

    /// Total header length in bytes: (Hdr Ext Len + 1) * 8.
    #[inline]
    pub fn header_len(&self) -> usize {
        (usize::from(get_u8(self.buffer.as_ref(), ext_field::LENGTH)) + 1) * 8
    }

    /// The bytes after the two-byte prefix, up to the header length.
    #[inline]
    pub fn data(&self) -> &[u8] {
        slice(self.buffer.as_ref(), ext_field::DATA, self.header_len())
    }
}

mod frag_field {
    use core::ops::Range;
    pub const NXT_HDR: usize = 0;
    pub const RESERVED: usize = 1;
    pub const OFF_M: Range<usize> = 2..4;
    pub const IDENT: Range<usize> = 4..8;
}

/// Length of the Fragment header.
pub const FRAGMENT_HEADER_LEN: usize = frag_field::IDENT.end;

/// A view of the Fragment header (RFC 8200 section 4.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ipv6FragmentHeader<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv6FragmentHeader<T> {
    /// Wraps `buffer` without any check (accessors still never panic).
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Ipv6FragmentHeader<T> {
        Ipv6FragmentHeader { buffer }
    }

    /// Wraps `buffer` after [`check_len`](Self::check_len).
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Ipv6FragmentHeader<T>, WireError> {
        let header = Self::new_unchecked(buffer);
        header.check_len()?;
        Ok(header)
    }

    /// `Err(Truncated)` if the buffer is shorter than 8 bytes.
    #[inline]
    pub fn check_len(&self) -> Result<(), WireError> {
        if self.buffer.as_ref().len() < FRAGMENT_HEADER_LEN {
            Err(WireError::Truncated)
        } else {
            Ok(())
        }
    }

    /// Next header of the fragmentable part.
    #[inline]
    pub fn next_header(&self) -> IpProtocol {
        IpProtocol::from(get_u8(self.buffer.as_ref(), frag_field::NXT_HDR))
    }

    /// Fragment offset in bytes (a multiple of 8).
    #[inline]
    pub fn frag_offset(&self) -> u16 {
        get_u16(self.buffer.as_ref(), frag_field::OFF_M.start) & 0xfff8
    }

    /// M flag (more fragments).
    #[inline]
    pub fn more_frags(&self) -> bool {
        get_u16(self.buffer.as_ref(), frag_field::OFF_M.start) & 1 != 0
    }

    /// Identification.
    #[inline]
    pub fn ident(&self) -> u32 {
        get_u32(self.buffer.as_ref(), frag_field::IDENT.start)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv6FragmentHeader<T> {
    /// Sets the next header.
    #[inline]
    pub fn set_next_header(&mut self, value: IpProtocol) {
        set_u8(self.buffer.as_mut(), frag_field::NXT_HDR, value.into())
    }

    /// Sets the offset (bytes; the low 3 bits are dropped) and the M flag; clears the reserved
    /// bits.
    #[inline]
    pub fn set_offset_and_more(&mut self, frag_offset: u16, more_frags: bool) {
        let v = (frag_offset & 0xfff8) | u16::from(more_frags);
        set_u16(self.buffer.as_mut(), frag_field::OFF_M.start, v)
    }

    /// Sets the identification.
    #[inline]
    pub fn set_ident(&mut self, value: u32) {
        set_u32(self.buffer.as_mut(), frag_field::IDENT.start, value)
    }

    /// Clears the reserved byte.
    #[inline]
    pub fn clear_reserved(&mut self) {
        set_u8(self.buffer.as_mut(), frag_field::RESERVED, 0)
    }
}

/// The parsed Fragment header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv6FragmentRepr {
    /// Next header of the fragmentable part.
    pub next_header: IpProtocol,
    /// Fragment offset in bytes (multiple of 8).
    pub frag_offset: u16,
    /// M flag.
    pub more_frags: bool,
    /// Identification.
    pub ident: u32,
}

impl Ipv6FragmentRepr {
    /// Parses a Fragment header.
    pub fn parse<T: AsRef<[u8]>>(
        header: &Ipv6FragmentHeader<T>,
    ) -> Result<Ipv6FragmentRepr, WireError> {
        header.check_len()?;
        Ok(Ipv6FragmentRepr {
            next_header: header.next_header(),
            frag_offset: header.frag_offset(),
            more_frags: header.more_frags(),
            ident: header.ident(),
        })
    }

    /// True if this is the first fragment (offset 0), which carries the upper-layer header.
    #[inline]
    pub fn is_first(&self) -> bool {
        self.frag_offset == 0
    }

    /// Bytes written by [`emit`](Self::emit): 8.
    #[inline]
    pub const fn buffer_len(&self) -> usize {
        FRAGMENT_HEADER_LEN
    }

    /// Writes the header; `Truncated` if the buffer is too short, `Malformed` if the offset is
    /// not a multiple of 8 (nothing written in either case).
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        header: &mut Ipv6FragmentHeader<T>,
    ) -> Result<(), WireError> {
        header.check_len()?;
        if !self.frag_offset.is_multiple_of(8) {
            return Err(WireError::Malformed);
        }
        header.set_next_header(self.next_header);
        header.clear_reserved();
        header.set_offset_and_more(self.frag_offset, self.more_frags);
        header.set_ident(self.ident);
        Ok(())
    }
}

/// Where the upper-layer header of an IPv6 packet is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UpperLayer {
    /// Upper-layer protocol (TCP, UDP, ICMPv6, ESP, No Next Header, or anything unknown).
    pub protocol: IpProtocol,
    /// Offset of the upper-layer header: from the start of the bytes given to
    /// [`walk_ext_headers`], or from the IPv6 header for [`Ipv6Packet::upper_layer`].
    pub offset: usize,
    /// The Fragment header, if the packet has one. When its offset is non-zero the walk stopped
    /// right after it and `offset` points at fragment data, not at an upper-layer header.
    pub fragment: Option<Ipv6FragmentRepr>,
}

impl UpperLayer {
    /// True if the upper-layer header is present at `offset` (not a non-first fragment).
    #[inline]
    pub fn has_upper_header(&self) -> bool {
        self.fragment.is_none_or(|f| f.is_first())
    }
}

/// Walks the extension-header chain that starts with `first` at the beginning of `payload` (the
/// IPv6 payload). See the module docs for the rules; at most [`MAX_EXT_HEADERS`] headers.
pub fn walk_ext_headers(first: IpProtocol, payload: &[u8]) -> Result<UpperLayer, WireError> {
    let mut protocol = first;
    let mut offset = 0usize;
    let mut fragment: Option<Ipv6FragmentRepr> = None;
    let mut count = 0usize;
    loop {
        let header_len = match protocol {
            IpProtocol::HopByHop | IpProtocol::Ipv6Route | IpProtocol::Ipv6Opts => {
                if protocol == IpProtocol::HopByHop && count != 0 {
                    return Err(WireError::Malformed);
                }
                let h = Ipv6ExtHeader::new_checked(tail(payload, offset))?;
                protocol = h.next_header();
                h.header_len()
            }
            IpProtocol::Ah => {
                let rest = tail(payload, offset);
                if rest.len() < 2 {
                    return Err(WireError::Truncated);
                }
                let len = (usize::from(get_u8(rest, 1)) + 2) * 4;
                if rest.len() < len {
                    return Err(WireError::Truncated);
                }
                protocol = IpProtocol::from(get_u8(rest, 0));
                len
            }
            IpProtocol::Ipv6Frag => {
                if fragment.is_some() {
                    return Err(WireError::Malformed);
                }
                let h = Ipv6FragmentHeader::new_checked(tail(payload, offset))?;
                let repr = Ipv6FragmentRepr::parse(&h)?;
                fragment = Some(repr);
                protocol = repr.next_header;
                if !repr.is_first() {
                    return Ok(UpperLayer {
                        protocol,
                        offset: offset + FRAGMENT_HEADER_LEN,
                        fragment,
                    });
                }
                FRAGMENT_HEADER_LEN
            }
            _ => {
                return Ok(UpperLayer {
                    protocol,
                    offset,
                    fragment,
                })
            }
        };
        offset += header_len;
        count += 1;
        if count > MAX_EXT_HEADERS {
            return Err(WireError::Unsupported);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// An MLDv2 report's IPv6 header and Hop-by-Hop header with the Router Alert option
    /// (RFC 2711, value 0 = MLD) as hosts send it, from fe80::1 to ff02::16, followed by the
    /// first 8 bytes of the ICMPv6 message (type 143).
    const MLD_REPORT: [u8; 56] = [
        0x60, 0x00, 0x00, 0x00, // version 6, traffic class 0, flow label 0
        0x00, 0x10, 0x00, 0x01, // payload length 16, next header Hop-by-Hop, hop limit 1
        0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, // fe80::1
        0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x16, // ff02::16
        0x3a, 0x00, // next header ICMPv6, length 0 (8 bytes)
        0x05, 0x02, 0x00, 0x00, // Router Alert, MLD
        0x01, 0x00, // PadN
        0x8f, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // ICMPv6 type 143 (checksum not set)
    ];

    /// A Fragment header: next header UDP, offset 1448, M set, ident 0x12345678.
    const FRAGMENT: [u8; 8] = [0x11, 0x00, 0x05, 0xa9, 0x12, 0x34, 0x56, 0x78];

    fn mld_repr() -> Ipv6Repr {
        Ipv6Repr {
            src_addr: "fe80::1".parse().unwrap(),
            dst_addr: "ff02::16".parse().unwrap(),
            next_header: IpProtocol::HopByHop,
            payload_len: 16,
            hop_limit: 1,
            traffic_class: 0,
            flow_label: 0,
        }
    }

    #[test]
    fn deconstruct() {
        let p = Ipv6Packet::new_checked(&MLD_REPORT[..]).unwrap();
        assert_eq!(p.version(), 6);
        assert_eq!((p.traffic_class(), p.flow_label()), (0, 0));
        assert_eq!(p.payload_len(), 16);
        assert_eq!(p.next_header(), IpProtocol::HopByHop);
        assert_eq!(p.hop_limit(), 1);
        assert_eq!(p.src_addr(), "fe80::1".parse::<Ipv6Addr>().unwrap());
        assert_eq!(p.dst_addr(), "ff02::16".parse::<Ipv6Addr>().unwrap());
        assert_eq!(p.payload(), &MLD_REPORT[40..]);
        let hbh = Ipv6ExtHeader::new_checked(p.payload()).unwrap();
        assert_eq!(hbh.next_header(), IpProtocol::Icmpv6);
        assert_eq!(hbh.header_len(), 8);
        assert_eq!(hbh.data(), &[0x05, 0x02, 0x00, 0x00, 0x01, 0x00]);
        assert_eq!(
            p.upper_layer().unwrap(),
            UpperLayer {
                protocol: IpProtocol::Icmpv6,
                offset: 48,
                fragment: None
            }
        );
    }

    #[test]
    fn construct() {
        let mut buf = [0u8; 56];
        let mut p = Ipv6Packet::new_unchecked(&mut buf[..]);
        p.set_version(6);
        p.set_traffic_class(0);
        p.set_flow_label(0);
        p.set_payload_len(16);
        p.set_next_header(IpProtocol::HopByHop);
        p.set_hop_limit(1);
        p.set_src_addr(&"fe80::1".parse().unwrap());
        p.set_dst_addr(&"ff02::16".parse().unwrap());
        p.payload_mut().copy_from_slice(&MLD_REPORT[40..]);
        assert_eq!(buf, MLD_REPORT);
    }

    #[test]
    fn traffic_class_and_flow_label() {
        let mut buf = [0u8; 40];
        let mut p = Ipv6Packet::new_unchecked(&mut buf[..]);
        p.set_version(6);
        p.set_traffic_class(0xb8);
        p.set_flow_label(0x12345);
        assert_eq!(&buf[..4], &[0x6b, 0x81, 0x23, 0x45]);
        let p = Ipv6Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(
            (p.version(), p.traffic_class(), p.flow_label()),
            (6, 0xb8, 0x12345)
        );
    }

    #[test]
    fn parse_and_emit() {
        let p = Ipv6Packet::new_checked(&MLD_REPORT[..]).unwrap();
        assert_eq!(Ipv6Repr::parse(&p).unwrap(), mld_repr());
        let mut buf = [0u8; 40];
        mld_repr()
            .emit(&mut Ipv6Packet::new_unchecked(&mut buf[..]))
            .unwrap();
        assert_eq!(&buf[..], &MLD_REPORT[..40]);
    }

    #[test]
    fn fragment_header() {
        let h = Ipv6FragmentHeader::new_checked(&FRAGMENT[..]).unwrap();
        assert_eq!(h.next_header(), IpProtocol::Udp);
        assert_eq!(h.frag_offset(), 1448);
        assert!(h.more_frags());
        assert_eq!(h.ident(), 0x1234_5678);
        let repr = Ipv6FragmentRepr::parse(&h).unwrap();
        let mut buf = [0xffu8; 8];
        repr.emit(&mut Ipv6FragmentHeader::new_unchecked(&mut buf[..]))
            .unwrap();
        assert_eq!(buf, FRAGMENT);
        assert_eq!(
            Ipv6FragmentHeader::new_checked(&FRAGMENT[..7]).unwrap_err(),
            WireError::Truncated
        );
    }

    #[test]
    fn walk_through_chain() {
        // Destination Options (8 bytes) -> Routing (16 bytes) -> Fragment (first) -> TCP.
        let mut chain = vec![0x2b, 0x00, 0x01, 0x04, 0, 0, 0, 0];
        chain.extend_from_slice(&[0x2c, 0x01, 0x04, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        chain.extend_from_slice(&[0x06, 0x00, 0x00, 0x01, 0, 0, 0, 7]);
        chain.extend_from_slice(&[0u8; 20]);
        let up = walk_ext_headers(IpProtocol::Ipv6Opts, &chain).unwrap();
        assert_eq!(up.protocol, IpProtocol::Tcp);
        assert_eq!(up.offset, 32);
        let frag = up.fragment.unwrap();
        assert!(frag.is_first() && frag.more_frags && up.has_upper_header());
        assert_eq!(frag.ident, 7);

        // A non-first fragment stops right after the Fragment header.
        let up = walk_ext_headers(IpProtocol::Ipv6Frag, &FRAGMENT).unwrap();
        assert_eq!((up.protocol, up.offset), (IpProtocol::Udp, 8));
        assert!(!up.has_upper_header());

        // No extension headers at all.
        let up = walk_ext_headers(IpProtocol::Udp, &[]).unwrap();
        assert_eq!(
            (up.protocol, up.offset, up.fragment),
            (IpProtocol::Udp, 0, None)
        );

        // Authentication header: length 4 -> (4 + 2) * 4 = 24 bytes.
        let mut ah = vec![0x3a, 0x04];
        ah.resize(24, 0);
        let up = walk_ext_headers(IpProtocol::Ah, &ah).unwrap();
        assert_eq!((up.protocol, up.offset), (IpProtocol::Icmpv6, 24));
    }

    #[test]
    fn walk_errors() {
        // Header runs past the payload.
        assert_eq!(
            walk_ext_headers(IpProtocol::HopByHop, &[0x3a, 0x01, 0, 0, 0, 0, 0, 0]),
            Err(WireError::Truncated)
        );
        assert_eq!(
            walk_ext_headers(IpProtocol::Ipv6Opts, &[0x3a]),
            Err(WireError::Truncated)
        );
        assert_eq!(
            walk_ext_headers(IpProtocol::Ipv6Frag, &FRAGMENT[..4]),
            Err(WireError::Truncated)
        );
        assert_eq!(
            walk_ext_headers(IpProtocol::Ah, &[0x3a, 0x04, 0, 0]),
            Err(WireError::Truncated)
        );
        // Hop-by-Hop not first.
        let hbh_second = [0x00, 0, 0, 0, 0, 0, 0, 0, 0x3a, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(
            walk_ext_headers(IpProtocol::Ipv6Opts, &hbh_second),
            Err(WireError::Malformed)
        );
        // Two fragment headers.
        let two_frags = [0x2c, 0, 0, 1, 0, 0, 0, 1, 0x11, 0, 0, 0, 0, 0, 0, 1];
        assert_eq!(
            walk_ext_headers(IpProtocol::Ipv6Frag, &two_frags),
            Err(WireError::Malformed)
        );
        // A long chain of Destination Options headers is cut off.
        let mut long = Vec::new();
        for _ in 0..(MAX_EXT_HEADERS + 1) {
            long.extend_from_slice(&[0x3c, 0, 0, 0, 0, 0, 0, 0]);
        }
        assert_eq!(
            walk_ext_headers(IpProtocol::Ipv6Opts, &long),
            Err(WireError::Unsupported)
        );
        // Exactly MAX_EXT_HEADERS is fine.
        let mut ok = long[..8 * MAX_EXT_HEADERS].to_vec();
        let last = 8 * (MAX_EXT_HEADERS - 1);
        ok[last] = 0x11;
        assert_eq!(
            walk_ext_headers(IpProtocol::Ipv6Opts, &ok).unwrap().offset,
            8 * MAX_EXT_HEADERS
        );
    }

    #[test]
    fn malformed() {
        assert_eq!(
            Ipv6Packet::new_checked(&MLD_REPORT[..39]).unwrap_err(),
            WireError::Truncated
        );
        let mut v = MLD_REPORT;
        v[0] = 0x40;
        assert_eq!(
            Ipv6Packet::new_checked(&v[..]).unwrap_err(),
            WireError::BadVersion
        );
        // Payload length larger than the buffer.
        let mut long = MLD_REPORT;
        long[5] = 17;
        assert_eq!(
            Ipv6Packet::new_checked(&long[..]).unwrap_err(),
            WireError::BadLength
        );
        assert_eq!(
            Ipv6Packet::new_checked(&MLD_REPORT[..55]).unwrap_err(),
            WireError::BadLength
        );
        // Payload length shorter than the extension headers: the walk sees a truncated chain.
        let mut short = MLD_REPORT;
        short[5] = 4;
        let p = Ipv6Packet::new_checked(&short[..]).unwrap();
        assert_eq!(p.upper_layer(), Err(WireError::Truncated));
    }

    #[test]
    fn emit_errors() {
        let mut buf = [0u8; 40];
        assert_eq!(
            mld_repr().emit(&mut Ipv6Packet::new_unchecked(&mut buf[..39])),
            Err(WireError::Truncated)
        );
        let r = Ipv6Repr {
            payload_len: 65536,
            ..mld_repr()
        };
        assert_eq!(
            r.emit(&mut Ipv6Packet::new_unchecked(&mut buf[..])),
            Err(WireError::BadLength)
        );
        let r = Ipv6Repr {
            flow_label: 0x10_0000,
            ..mld_repr()
        };
        assert_eq!(
            r.emit(&mut Ipv6Packet::new_unchecked(&mut buf[..])),
            Err(WireError::Malformed)
        );
        assert_eq!(buf, [0u8; 40]);
    }

    fn arb_repr() -> impl Strategy<Value = Ipv6Repr> {
        (
            any::<[u8; 16]>(),
            any::<[u8; 16]>(),
            any::<u8>(),
            0usize..=65535,
            any::<u8>(),
            any::<u8>(),
            0u32..=0xfffff,
        )
            .prop_map(|(s, d, nh, len, hl, tc, fl)| Ipv6Repr {
                src_addr: Ipv6Addr::from(s),
                dst_addr: Ipv6Addr::from(d),
                next_header: IpProtocol::from(nh),
                payload_len: len,
                hop_limit: hl,
                traffic_class: tc,
                flow_label: fl,
            })
    }

    fn arb_fragment() -> impl Strategy<Value = Ipv6FragmentRepr> {
        (any::<u8>(), 0u16..8192, any::<bool>(), any::<u32>()).prop_map(|(nh, off, m, id)| {
            Ipv6FragmentRepr {
                next_header: IpProtocol::from(nh),
                frag_offset: off * 8,
                more_frags: m,
                ident: id,
            }
        })
    }

    proptest! {
        #[test]
        fn parse_emit_round_trip(repr in arb_repr()) {
            let mut buf = vec![0u8; repr.buffer_len() + repr.payload_len];
            repr.emit(&mut Ipv6Packet::new_unchecked(&mut buf[..])).unwrap();
            let p = Ipv6Packet::new_checked(&buf[..]).unwrap();
            prop_assert_eq!(Ipv6Repr::parse(&p).unwrap(), repr);
        }

        #[test]
        fn fragment_round_trip(repr in arb_fragment()) {
            let mut buf = [0u8; FRAGMENT_HEADER_LEN];
            repr.emit(&mut Ipv6FragmentHeader::new_unchecked(&mut buf[..])).unwrap();
            let h = Ipv6FragmentHeader::new_checked(&buf[..]).unwrap();
            prop_assert_eq!(Ipv6FragmentRepr::parse(&h).unwrap(), repr);
        }

        #[test]
        fn walk_never_panics(first in any::<u8>(), data in proptest::collection::vec(any::<u8>(), 0..128)) {
            // Steer next-header bytes towards extension headers so that long chains occur.
            let mut data = data;
            for (i, b) in data.iter_mut().enumerate() {
                if i % 8 == 0 {
                    *b = [0u8, 43, 44, 51, 60, 6][usize::from(*b) % 6];
                } else if i % 8 == 1 {
                    *b %= 3;
                }
            }
            if let Ok(up) = walk_ext_headers(IpProtocol::from(first), &data) {
                prop_assert!(up.offset <= data.len());
            }
        }
    }
}
