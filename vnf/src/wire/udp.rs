//! UDP datagrams (RFC 768), checksummed over the IPv4 pseudo-header (RFC 768) or the IPv6
//! pseudo-header (RFC 8200 section 8.1).
//!
//! [`UdpPacket::new_checked`] validates: the 8-byte header is present (`Truncated`), the length
//! field is at least 8 and at most the buffer (`BadLength`). Afterwards
//! [`payload`](UdpPacket::payload) is exactly `[8 .. length]`, and the checksum functions cover
//! `[0 .. length]`.
//!
//! Checksum zero: over IPv4 it means "not computed" and verifies; over IPv6 it is invalid
//! (RFC 8200 section 8.1; the RFC 6935 tunnel exception is not applied). A computed checksum of
//! zero is sent as 0xffff (RFC 768). [`UdpRepr`] carries ports and payload length only; its
//! `parse` does not verify the checksum (a NAT translates without checking it), callers that
//! terminate UDP (the DNS proxy) call `verify_checksum_v4`/`_v6`.
//!
//! No accessor panics in any case.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::checksum;
use super::{get_u16, set_u16, slice, slice_mut, IpProtocol, WireError};

mod field {
    use core::ops::Range;
    pub const SRC_PORT: Range<usize> = 0..2;
    pub const DST_PORT: Range<usize> = 2..4;
    pub const LENGTH: Range<usize> = 4..6;
    pub const CHECKSUM: Range<usize> = 6..8;
}

/// Length of the UDP header.
pub const HEADER_LEN: usize = field::CHECKSUM.end;

/// A read/write view of a UDP datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UdpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> UdpPacket<T> {
    /// Wraps `buffer` without any check (accessors still never panic).
    #[inline]
    pub const fn new_unchecked(buffer: T) -> UdpPacket<T> {
        UdpPacket { buffer }
    }

    /// Wraps `buffer` after [`check_len`](Self::check_len).
    #[inline]
    pub fn new_checked(buffer: T) -> Result<UdpPacket<T>, WireError> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Validates the header and the length field (see the module docs).
    #[inline]
    pub fn check_len(&self) -> Result<(), WireError> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        let field_len = usize::from(self.len());
        if field_len < HEADER_LEN || field_len > len {
            return Err(WireError::BadLength);
        }
        Ok(())
    }

    /// The wrapped buffer.
    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Source port.
    #[inline]
    pub fn src_port(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::SRC_PORT.start)
    }

    /// Destination port.
    #[inline]
    pub fn dst_port(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::DST_PORT.start)
    }

    /// Length field (header and payload).
    #[inline]
    pub fn len(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::LENGTH.start)
    }

    /// True if the length field says there is no payload.
    #[inline]
    pub fn is_empty(&self) -> bool {
        usize::from(self.len()) <= HEADER_LEN
    }

    /// Checksum field.
    #[inline]
    pub fn checksum(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::CHECKSUM.start)
    }

    /// Payload: `[8 .. length]`.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        slice(self.buffer.as_ref(), HEADER_LEN, usize::from(self.len()))
    }

    #[inline]
    fn datagram(&self) -> &[u8] {
        slice(self.buffer.as_ref(), 0, usize::from(self.len()))
    }

    /// Verifies the checksum over the IPv4 pseudo-header; a zero checksum (none) verifies.
    #[inline]
    pub fn verify_checksum_v4(&self, src: Ipv4Addr, dst: Ipv4Addr) -> bool {
        if self.checksum() == 0 {
            return true;
        }
        let ph = checksum::pseudo_header_v4(src, dst, IpProtocol::Udp, self.len());
        checksum::combine(ph, checksum::sum(self.datagram())) == 0xffff
    }

    /// Verifies the checksum over the IPv6 pseudo-header; a zero checksum fails.
    #[inline]
    pub fn verify_checksum_v6(&self, src: &Ipv6Addr, dst: &Ipv6Addr) -> bool {
        if self.checksum() == 0 {
            return false;
        }
        let ph = checksum::pseudo_header_v6(src, dst, IpProtocol::Udp, u32::from(self.len()));
        checksum::combine(ph, checksum::sum(self.datagram())) == 0xffff
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> UdpPacket<T> {
    /// Sets the source port.
    #[inline]
    pub fn set_src_port(&mut self, value: u16) {
        set_u16(self.buffer.as_mut(), field::SRC_PORT.start, value)
    }

    /// Sets the destination port.
    #[inline]
    pub fn set_dst_port(&mut self, value: u16) {
        set_u16(self.buffer.as_mut(), field::DST_PORT.start, value)
    }

    /// Sets the length field.
    #[inline]
    pub fn set_len(&mut self, value: u16) {
        set_u16(self.buffer.as_mut(), field::LENGTH.start, value)
    }

    /// Sets the checksum field.
    #[inline]
    pub fn set_checksum(&mut self, value: u16) {
        set_u16(self.buffer.as_mut(), field::CHECKSUM.start, value)
    }

    #[inline]
    fn finish(&mut self, pseudo: u16) {
        self.set_checksum(0);
        let c = !checksum::combine(pseudo, checksum::sum(self.datagram()));
        self.set_checksum(if c == 0 { 0xffff } else { c })
    }

    /// Computes the checksum over the IPv4 pseudo-header and `[0 .. length]`.
    #[inline]
    pub fn fill_checksum_v4(&mut self, src: Ipv4Addr, dst: Ipv4Addr) {
        let ph = checksum::pseudo_header_v4(src, dst, IpProtocol::Udp, self.len());
        self.finish(ph)
    }

    /// Computes the checksum over the IPv6 pseudo-header and `[0 .. length]`.
    #[inline]
    pub fn fill_checksum_v6(&mut self, src: &Ipv6Addr, dst: &Ipv6Addr) {
        let ph = checksum::pseudo_header_v6(src, dst, IpProtocol::Udp, u32::from(self.len()));
        self.finish(ph)
    }

    /// Mutable payload (`[8 .. length]`).
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let end = usize::from(self.len());
        slice_mut(self.buffer.as_mut(), HEADER_LEN, end)
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for UdpPacket<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

/// The parsed UDP header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UdpRepr {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Payload length (length field minus 8).
    pub payload_len: usize,
}

impl UdpRepr {
    /// Parses the header (lengths only; the checksum is not verified, see the module docs).
    pub fn parse<T: AsRef<[u8]>>(packet: &UdpPacket<T>) -> Result<UdpRepr, WireError> {
        packet.check_len()?;
        Ok(UdpRepr {
            src_port: packet.src_port(),
            dst_port: packet.dst_port(),
            payload_len: usize::from(packet.len()) - HEADER_LEN,
        })
    }

    /// Bytes written by [`emit`](Self::emit): 8.
    #[inline]
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes ports and length, and a zero checksum: write the payload, then call
    /// `fill_checksum_v4`/`_v6`. `Truncated` if the buffer is shorter than 8 bytes, `BadLength`
    /// if 8 + payload_len exceeds 65535 (nothing written in either case).
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        packet: &mut UdpPacket<T>,
    ) -> Result<(), WireError> {
        if packet.buffer.as_ref().len() < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        let len = u16::try_from(HEADER_LEN + self.payload_len).map_err(|_| WireError::BadLength)?;
        packet.set_src_port(self.src_port);
        packet.set_dst_port(self.dst_port);
        packet.set_len(len);
        packet.set_checksum(0);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A DNS query for example.com A from 192.0.2.1:54321 to 192.0.2.53:53.
    const DNS_QUERY: [u8; 37] = [
        0xd4, 0x31, 0x00, 0x35, // ports 54321 -> 53
        0x00, 0x25, 0xc5, 0x64, // length 37, checksum
        0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // DNS header
        0x07, b'e', b'x', b'a', b'm', b'p', b'l', b'e', 0x03, b'c', b'o', b'm', 0x00, // name
        0x00, 0x01, 0x00, 0x01, // A, IN
    ];

    /// The checksum of the same datagram between 2001:db8::1 and 2001:db8::53.
    const DNS_QUERY_V6_CHECKSUM: u16 = 0xedd5;

    fn v4() -> (Ipv4Addr, Ipv4Addr) {
        (Ipv4Addr::new(192, 0, 2, 1), Ipv4Addr::new(192, 0, 2, 53))
    }

    fn v6() -> (Ipv6Addr, Ipv6Addr) {
        (
            "2001:db8::1".parse().unwrap(),
            "2001:db8::53".parse().unwrap(),
        )
    }

    #[test]
    fn deconstruct() {
        let p = UdpPacket::new_checked(&DNS_QUERY[..]).unwrap();
        assert_eq!((p.src_port(), p.dst_port()), (54321, 53));
        assert_eq!(p.len(), 37);
        assert!(!p.is_empty());
        assert_eq!(p.checksum(), 0xc564);
        assert_eq!(p.payload(), &DNS_QUERY[8..]);
        let (s, d) = v4();
        assert!(p.verify_checksum_v4(s, d));
        assert!(!p.verify_checksum_v4(s, Ipv4Addr::new(192, 0, 2, 54)));
    }

    #[test]
    fn construct() {
        let mut buf = [0u8; 37];
        let mut p = UdpPacket::new_unchecked(&mut buf[..]);
        p.set_src_port(54321);
        p.set_dst_port(53);
        p.set_len(37);
        p.payload_mut().copy_from_slice(&DNS_QUERY[8..]);
        let (s, d) = v4();
        p.fill_checksum_v4(s, d);
        assert_eq!(buf, DNS_QUERY);
        let (s6, d6) = v6();
        let mut p = UdpPacket::new_unchecked(&mut buf[..]);
        p.fill_checksum_v6(&s6, &d6);
        assert_eq!(p.checksum(), DNS_QUERY_V6_CHECKSUM);
        assert!(p.verify_checksum_v6(&s6, &d6));
    }

    #[test]
    fn parse_and_emit() {
        let p = UdpPacket::new_checked(&DNS_QUERY[..]).unwrap();
        let repr = UdpRepr::parse(&p).unwrap();
        assert_eq!(
            repr,
            UdpRepr {
                src_port: 54321,
                dst_port: 53,
                payload_len: 29
            }
        );
        let mut buf = [0u8; 37];
        let mut out = UdpPacket::new_unchecked(&mut buf[..]);
        repr.emit(&mut out).unwrap();
        out.payload_mut().copy_from_slice(&DNS_QUERY[8..]);
        let (s, d) = v4();
        out.fill_checksum_v4(s, d);
        assert_eq!(buf, DNS_QUERY);
    }

    #[test]
    fn zero_checksum_rules() {
        let mut buf = DNS_QUERY;
        let mut p = UdpPacket::new_unchecked(&mut buf[..]);
        p.set_checksum(0);
        let (s, d) = v4();
        let (s6, d6) = v6();
        assert!(p.verify_checksum_v4(s, d));
        assert!(!p.verify_checksum_v6(&s6, &d6));
        // A datagram whose checksum computes to 0 is sent with 0xffff. Find one by adjusting
        // a payload word so that the sum becomes 0xffff.
        let mut buf = [0u8; 10];
        let mut p = UdpPacket::new_unchecked(&mut buf[..]);
        p.set_len(10);
        p.fill_checksum_v4(s, d);
        let c = p.checksum();
        p.payload_mut().copy_from_slice(&c.to_be_bytes());
        p.fill_checksum_v4(s, d);
        assert_eq!(p.checksum(), 0xffff);
        assert!(p.verify_checksum_v4(s, d));
    }

    #[test]
    fn malformed() {
        assert_eq!(
            UdpPacket::new_checked(&DNS_QUERY[..7]).unwrap_err(),
            WireError::Truncated
        );
        assert_eq!(
            UdpPacket::new_checked(&DNS_QUERY[..36]).unwrap_err(),
            WireError::BadLength
        );
        let mut short = DNS_QUERY;
        short[5] = 7;
        assert_eq!(
            UdpPacket::new_checked(&short[..]).unwrap_err(),
            WireError::BadLength
        );
        // Trailing bytes past the length field are not payload.
        let mut padded = [0u8; 40];
        padded[..37].copy_from_slice(&DNS_QUERY);
        let p = UdpPacket::new_checked(&padded[..]).unwrap();
        assert_eq!(p.payload().len(), 29);
        let (s, d) = v4();
        assert!(p.verify_checksum_v4(s, d));
        let too_long = UdpRepr {
            src_port: 1,
            dst_port: 2,
            payload_len: 65528,
        };
        let mut buf = [0u8; 8];
        assert_eq!(
            too_long.emit(&mut UdpPacket::new_unchecked(&mut buf[..])),
            Err(WireError::BadLength)
        );
        assert_eq!(buf, [0u8; 8]);
    }

    proptest! {
        #[test]
        fn parse_emit_round_trip(src_port in any::<u16>(), dst_port in any::<u16>(), payload_len in 0usize..=65527) {
            let repr = UdpRepr { src_port, dst_port, payload_len };
            let mut buf = vec![0u8; repr.buffer_len() + payload_len];
            repr.emit(&mut UdpPacket::new_unchecked(&mut buf[..])).unwrap();
            let p = UdpPacket::new_checked(&buf[..]).unwrap();
            prop_assert_eq!(UdpRepr::parse(&p).unwrap(), repr);
        }

        #[test]
        fn checksums_verify_after_fill(
            payload in proptest::collection::vec(any::<u8>(), 0..100),
            s4 in any::<[u8; 4]>(), d4 in any::<[u8; 4]>(),
            s6 in any::<[u8; 16]>(), d6 in any::<[u8; 16]>(),
        ) {
            let mut buf = vec![0u8; HEADER_LEN + payload.len()];
            let mut p = UdpPacket::new_unchecked(&mut buf[..]);
            UdpRepr { src_port: 1, dst_port: 2, payload_len: payload.len() }.emit(&mut p).unwrap();
            p.payload_mut().copy_from_slice(&payload);
            p.fill_checksum_v4(s4.into(), d4.into());
            prop_assert!(p.verify_checksum_v4(s4.into(), d4.into()));
            p.fill_checksum_v6(&s6.into(), &d6.into());
            prop_assert!(p.verify_checksum_v6(&s6.into(), &d6.into()));
        }

        #[test]
        fn any_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..24)) {
            let u = UdpPacket::new_unchecked(&data[..]);
            let _ = (u.payload(), u.verify_checksum_v4(Ipv4Addr::LOCALHOST, Ipv4Addr::LOCALHOST));
            if let Ok(p) = UdpPacket::new_checked(&data[..]) {
                prop_assert_eq!(p.payload().len() + HEADER_LEN, usize::from(p.len()));
            }
        }
    }
}
