//! IPv4/IPv6 + UDP framing of DNS messages: locating the UDP datagram of a received packet and
//! writing a complete UDP packet (fresh IP header, UDP header, payload, checksums) into a frame.
//!
//! Only the `wire` views are used; nothing here allocates. A frame's data starts at the IP header
//! (see `action.rs`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::frame::Frame;
use crate::wire::{
    ipv4, ipv6, udp, IpProtocol, Ipv4Packet, Ipv4Repr, Ipv6Packet, Ipv6Repr, UdpPacket, UdpRepr,
    WireError,
};

/// Hop limit / TTL of the packets this module creates.
pub const DEFAULT_TTL: u8 = 64;

/// Where the UDP datagram of a packet is, and its addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpMeta {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub sport: u16,
    pub dport: u16,
    /// Offset of the UDP header in the frame.
    pub udp_at: usize,
    /// Length of the UDP datagram (header included), from its length field.
    pub udp_len: usize,
    /// The datagram is (part of) a fragmented IP packet.
    pub fragment: bool,
}

impl UdpMeta {
    /// The UDP payload range in the frame.
    pub fn payload(&self) -> core::ops::Range<usize> {
        self.udp_at + udp::HEADER_LEN..self.udp_at + self.udp_len
    }
}

/// Locates the UDP datagram. `Ok(None)`: not UDP (or a non-first fragment, which has no UDP
/// header). `Err`: the IP or UDP header is malformed.
pub fn parse_udp(data: &[u8]) -> Result<Option<UdpMeta>, WireError> {
    match data.first().map(|b| b >> 4) {
        Some(4) => {
            let ip = Ipv4Packet::new_checked(data)?;
            let repr = Ipv4Repr::parse(&ip)?;
            if repr.next_header != IpProtocol::Udp || repr.frag_offset != 0 {
                return Ok(None);
            }
            let at = ip.header_len();
            let end = at + repr.payload_len;
            let u = UdpPacket::new_checked(data.get(at..end).ok_or(WireError::Truncated)?)?;
            Ok(Some(UdpMeta {
                src: IpAddr::V4(repr.src_addr),
                dst: IpAddr::V4(repr.dst_addr),
                sport: u.src_port(),
                dport: u.dst_port(),
                udp_at: at,
                udp_len: usize::from(u.len()),
                fragment: repr.more_frags,
            }))
        }
        Some(6) => {
            let ip = Ipv6Packet::new_checked(data)?;
            let repr = Ipv6Repr::parse(&ip)?;
            let upper = ip.upper_layer()?;
            if upper.protocol != IpProtocol::Udp || !upper.has_upper_header() {
                return Ok(None);
            }
            let end = ipv6::HEADER_LEN + repr.payload_len;
            let seg = data.get(upper.offset..end).ok_or(WireError::Truncated)?;
            let u = UdpPacket::new_checked(seg)?;
            Ok(Some(UdpMeta {
                src: IpAddr::V6(repr.src_addr),
                dst: IpAddr::V6(repr.dst_addr),
                sport: u.src_port(),
                dport: u.dst_port(),
                udp_at: upper.offset,
                udp_len: usize::from(u.len()),
                fragment: upper.fragment.is_some(),
            }))
        }
        _ => Err(WireError::BadVersion),
    }
}

/// Verifies the UDP checksum of a datagram located by [`parse_udp`].
pub fn udp_checksum_ok(data: &[u8], m: &UdpMeta) -> bool {
    let Some(seg) = data.get(m.udp_at..m.udp_at + m.udp_len) else {
        return false;
    };
    let u = UdpPacket::new_unchecked(seg);
    match (m.src, m.dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => u.verify_checksum_v4(s, d),
        (IpAddr::V6(s), IpAddr::V6(d)) => u.verify_checksum_v6(&s, &d),
        _ => false,
    }
}

/// Why a packet could not be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmitError {
    /// The frame has no room for the packet.
    NoRoom,
    /// Source and destination of different families, or a length that does not fit.
    Invalid,
}

/// Replaces the frame's contents with `src:sport -> dst:dport` UDP carrying `payload` (IPv4
/// without options, DF set, or IPv6 without extension headers), checksums filled.
pub fn write_udp<F: Frame>(
    frame: &mut F,
    src: IpAddr,
    dst: IpAddr,
    sport: u16,
    dport: u16,
    payload: &[u8],
) -> Result<(), EmitError> {
    write_udp_with(frame, src, dst, sport, dport, payload.len(), |p| {
        p.copy_from_slice(payload)
    })
}

/// Offset of the UDP payload in a packet written by [`write_udp_with`] from `src`.
#[inline]
pub fn payload_offset(src: IpAddr) -> usize {
    udp::HEADER_LEN
        + match src {
            IpAddr::V4(_) => ipv4::HEADER_LEN,
            IpAddr::V6(_) => ipv6::HEADER_LEN,
        }
}

/// As [`write_udp`] with a payload of `len` bytes written by `fill`, which gets the payload
/// area as it is: bytes the frame already held at those offsets ([`payload_offset`] on) are
/// kept, bytes beyond its old length are zero. The cache-hit fast path uses this to build the
/// answer around the question bytes of the query, which it leaves in place.
pub fn write_udp_with<F: Frame>(
    frame: &mut F,
    src: IpAddr,
    dst: IpAddr,
    sport: u16,
    dport: u16,
    len: usize,
    fill: impl FnOnce(&mut [u8]),
) -> Result<(), EmitError> {
    let ip_len = match src {
        IpAddr::V4(_) => ipv4::HEADER_LEN,
        IpAddr::V6(_) => ipv6::HEADER_LEN,
    };
    let udp_len = udp::HEADER_LEN + len;
    if udp_len > usize::from(u16::MAX) - ip_len {
        return Err(EmitError::Invalid);
    }
    frame
        .set_len(ip_len + udp_len)
        .map_err(|_| EmitError::NoRoom)?;
    let data = frame.data_mut();
    let (ip_hdr, rest) = data.split_at_mut(ip_len);
    let repr = UdpRepr {
        src_port: sport,
        dst_port: dport,
        payload_len: len,
    };
    let mut u = UdpPacket::new_unchecked(&mut *rest);
    repr.emit(&mut u).map_err(|_| EmitError::Invalid)?;
    fill(u.payload_mut());
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            u.fill_checksum_v4(s, d);
            emit_v4(ip_hdr, s, d, udp_len)
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            u.fill_checksum_v6(&s, &d);
            emit_v6(ip_hdr, s, d, udp_len)
        }
        _ => Err(EmitError::Invalid),
    }
}

fn emit_v4(hdr: &mut [u8], src: Ipv4Addr, dst: Ipv4Addr, len: usize) -> Result<(), EmitError> {
    let repr = Ipv4Repr {
        src_addr: src,
        dst_addr: dst,
        next_header: IpProtocol::Udp,
        payload_len: len,
        ttl: DEFAULT_TTL,
        dscp: 0,
        ecn: 0,
        ident: 0,
        dont_frag: true,
        more_frags: false,
        frag_offset: 0,
    };
    repr.emit(&mut Ipv4Packet::new_unchecked(hdr))
        .map_err(|_| EmitError::Invalid)
}

fn emit_v6(hdr: &mut [u8], src: Ipv6Addr, dst: Ipv6Addr, len: usize) -> Result<(), EmitError> {
    let repr = Ipv6Repr {
        src_addr: src,
        dst_addr: dst,
        next_header: IpProtocol::Udp,
        payload_len: len,
        hop_limit: DEFAULT_TTL,
        traffic_class: 0,
        flow_label: 0,
    };
    repr.emit(&mut Ipv6Packet::new_unchecked(hdr))
        .map_err(|_| EmitError::Invalid)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::VecFrame;

    #[test]
    fn write_then_parse_v4_and_v6() {
        let cases = [
            (
                IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
                IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
            ),
            (
                IpAddr::V6("fd00::1".parse().unwrap()),
                IpAddr::V6("fd00::2".parse().unwrap()),
            ),
        ];
        for (s, d) in cases {
            let mut f = VecFrame::new(&[0u8; 70]);
            write_udp(&mut f, s, d, 1234, 53, b"hello").unwrap();
            let m = parse_udp(f.data()).unwrap().unwrap();
            assert_eq!((m.src, m.dst, m.sport, m.dport), (s, d, 1234, 53));
            assert_eq!(&f.data()[m.payload()], b"hello");
            assert!(udp_checksum_ok(f.data(), &m));
            assert!(!m.fragment);
        }
    }

    #[test]
    fn mixed_families_and_no_room_are_errors() {
        let mut f = VecFrame::with_room(&[], 0, 30);
        let v4 = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let v6 = IpAddr::V6(Ipv6Addr::LOCALHOST);
        assert_eq!(
            write_udp(&mut f, v4, v6, 1, 2, b""),
            Err(EmitError::Invalid)
        );
        assert_eq!(
            write_udp(&mut f, v4, v4, 1, 2, &[0; 40]),
            Err(EmitError::NoRoom)
        );
    }

    #[test]
    fn non_udp_and_garbage() {
        assert_eq!(parse_udp(&[]), Err(WireError::BadVersion));
        assert!(parse_udp(&[0x45, 0, 0]).is_err());
    }
}
