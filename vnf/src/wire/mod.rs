//! Zero-copy views of packet headers, and the Internet checksum.
//!
//! Every protocol lives in its own module and follows the same shape:
//!
//! - `XxxPacket<T: AsRef<[u8]>>` (or `EthernetFrame`) wraps a buffer without copying it. A private
//!   `field` module names the byte ranges of the header.
//! - `new_unchecked(buffer)` wraps anything; `new_checked(buffer)` also validates every length
//!   the header declares (fixed header present, header-length field at least its minimum, length
//!   fields no larger than the buffer). After `new_checked` succeeds every getter returns the field
//!   from the wire and every `payload()` is the exact range the header describes.
//! - Accessors never panic, not even on a view built with `new_unchecked`: a read past the end of
//!   the buffer yields zero bytes and a write past the end is dropped. Only `new_checked` makes the
//!   values meaningful; the data path must always use it on received frames.
//! - Setters exist when `T: AsMut<[u8]>`; `payload_mut()` gives the bytes after the header.
//! - `XxxRepr` is the parsed, owned (or borrowing) form of a header: `parse(&packet)` validates the
//!   semantics (version, checksum where the header alone carries one, supported variants),
//!   `buffer_len()` is the size `emit` writes, and `emit(&mut packet)` writes the header. `emit`
//!   returns `Err(WireError::Truncated)` and writes nothing if the buffer is shorter than
//!   `buffer_len()`.
//! - Protocol numbers are enums with an `Unknown(n)` variant; conversion from the raw number
//!   never fails and never produces `Unknown(n)` for a number that has a named variant.
//!
//! Nothing here allocates or touches an mbuf: the modules work on `&[u8]` and
//! `&mut [u8]` (or anything that derefs to them), so the same code serves DPDK mbufs and tests.
//!
//! Errors are one small `Copy` enum, [`WireError`], which the data path maps to drop reasons.

use core::fmt;

/// Defines a protocol-number enum with an `Unknown(n)` variant and lossless conversions.
macro_rules! wire_enum {
    (
        $(#[$attr:meta])*
        pub enum $name:ident($ty:ty) {
            $( $(#[$vattr:meta])* $variant:ident = $value:literal ),+ $(,)?
        }
    ) => {
        $(#[$attr])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $( $(#[$vattr])* $variant, )+
            /// A value without a named variant.
            Unknown($ty),
        }

        impl From<$ty> for $name {
            #[inline]
            fn from(value: $ty) -> Self {
                match value {
                    $( $value => $name::$variant, )+
                    other => $name::Unknown(other),
                }
            }
        }

        impl From<$name> for $ty {
            #[inline]
            fn from(value: $name) -> $ty {
                match value {
                    $( $name::$variant => $value, )+
                    $name::Unknown(other) => other,
                }
            }
        }
    };
}

pub mod arp;
pub mod checksum;
pub mod ethernet;
pub mod icmpv4;
pub mod icmpv6;
pub mod ipv4;
pub mod ipv6;
pub mod ndisc;
pub mod tcp;
pub mod udp;
pub mod vlan;

pub use arp::{ArpOperation, ArpPacket, ArpRepr};
pub use ethernet::{EtherType, EthernetAddress, EthernetFrame, EthernetRepr};
pub use icmpv4::{
    Icmpv4DstUnreachable, Icmpv4Message, Icmpv4Packet, Icmpv4Repr, Icmpv4TimeExceeded,
};
pub use icmpv6::{
    Icmpv6DstUnreachable, Icmpv6Message, Icmpv6Packet, Icmpv6ParamProblem, Icmpv6Repr,
    Icmpv6TimeExceeded,
};
pub use ipv4::{Ipv4Packet, Ipv4Repr};
pub use ipv6::{
    walk_ext_headers, Ipv6ExtHeader, Ipv6FragmentHeader, Ipv6FragmentRepr, Ipv6Packet, Ipv6Repr,
    UpperLayer,
};
pub use ndisc::{
    NdiscNeighborFlags, NdiscOption, NdiscOptionIter, NdiscOptionRepr, NdiscOptionType,
    NdiscPrefixInfo, NdiscRepr, NdiscRouterFlags,
};
pub use tcp::{TcpFlags, TcpOption, TcpOptionIter, TcpPacket, TcpRepr};
pub use udp::{UdpPacket, UdpRepr};
pub use vlan::{parse_l2, L2Info, VlanPacket, VlanRepr};

/// Why a buffer is not a valid header. Small and `Copy`: the data path maps each variant to a
/// drop reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WireError {
    /// The buffer ends before the header does (fixed part, or the options/extension the header
    /// declares: IPv4 IHL, TCP data offset, IPv6 extension header, ND option length).
    Truncated,
    /// The version field is not the expected one (IPv4 packet without 4, IPv6 without 6).
    BadVersion,
    /// A header-length field is below its minimum (IPv4 IHL < 5, TCP data offset < 5).
    BadHeaderLen,
    /// A datagram length field is inconsistent: IPv4 total length smaller than the header or
    /// larger than the buffer, IPv6 payload length past the buffer, UDP length < 8 or past the
    /// buffer, ICMP message shorter than its type requires.
    BadLength,
    /// The checksum does not verify.
    BadChecksum,
    /// A field value that the protocol forbids (zero-length ND option, hop-by-hop header not
    /// first, second fragment header, non-zero code where zero is required, ...).
    Malformed,
    /// Valid on the wire but not handled here (ARP for non-Ethernet/IPv4, three VLAN tags,
    /// too many IPv6 extension headers, an ICMP type without a `Repr` variant).
    Unsupported,
}

impl WireError {
    /// A short, stable, lower-case name (suitable for counters and metrics labels).
    pub const fn as_str(self) -> &'static str {
        match self {
            WireError::Truncated => "truncated",
            WireError::BadVersion => "bad_version",
            WireError::BadHeaderLen => "bad_header_len",
            WireError::BadLength => "bad_length",
            WireError::BadChecksum => "bad_checksum",
            WireError::Malformed => "malformed",
            WireError::Unsupported => "unsupported",
        }
    }
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::error::Error for WireError {}

wire_enum! {
    /// IP protocol numbers / IPv6 next-header values (IANA "Assigned Internet Protocol Numbers").
    pub enum IpProtocol(u8) {
        /// IPv6 Hop-by-Hop Options (RFC 8200 section 4.3).
        HopByHop = 0,
        /// ICMP for IPv4 (RFC 792).
        Icmp = 1,
        /// TCP (RFC 9293).
        Tcp = 6,
        /// UDP (RFC 768).
        Udp = 17,
        /// IPv6 Routing header (RFC 8200 section 4.4).
        Ipv6Route = 43,
        /// IPv6 Fragment header (RFC 8200 section 4.5).
        Ipv6Frag = 44,
        /// Encapsulating Security Payload (RFC 4303).
        Esp = 50,
        /// Authentication Header (RFC 4302).
        Ah = 51,
        /// ICMP for IPv6 (RFC 4443).
        Icmpv6 = 58,
        /// IPv6 No Next Header (RFC 8200 section 4.7).
        Ipv6NoNxt = 59,
        /// IPv6 Destination Options (RFC 8200 section 4.6).
        Ipv6Opts = 60,
    }
}

// Panic-free byte access shared by all views. Reads past the end yield zeros, writes past the
// end are dropped; `new_checked` guarantees neither happens for the fields of a valid header.

#[inline]
fn read<const N: usize>(data: &[u8], at: usize) -> [u8; N] {
    let mut out = [0u8; N];
    if let Some(bytes) = data.get(at..).and_then(|s| s.get(..N)) {
        out.copy_from_slice(bytes);
    }
    out
}

#[inline]
fn write<const N: usize>(data: &mut [u8], at: usize, value: [u8; N]) {
    if let Some(bytes) = data.get_mut(at..).and_then(|s| s.get_mut(..N)) {
        bytes.copy_from_slice(&value);
    }
}

#[inline]
fn get_u8(data: &[u8], at: usize) -> u8 {
    data.get(at).copied().unwrap_or(0)
}

#[inline]
fn get_u16(data: &[u8], at: usize) -> u16 {
    u16::from_be_bytes(read(data, at))
}

#[inline]
fn get_u32(data: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(read(data, at))
}

#[inline]
fn set_u8(data: &mut [u8], at: usize, value: u8) {
    if let Some(byte) = data.get_mut(at) {
        *byte = value;
    }
}

#[inline]
fn set_u16(data: &mut [u8], at: usize, value: u16) {
    write(data, at, value.to_be_bytes());
}

#[inline]
fn set_u32(data: &mut [u8], at: usize, value: u32) {
    write(data, at, value.to_be_bytes());
}

/// `data[start..end]`, or an empty slice if that range is not inside `data`.
#[inline]
fn slice(data: &[u8], start: usize, end: usize) -> &[u8] {
    data.get(start..end).unwrap_or(&[])
}

/// `&mut data[start..end]`, or an empty slice if that range is not inside `data`.
#[inline]
fn slice_mut(data: &mut [u8], start: usize, end: usize) -> &mut [u8] {
    data.get_mut(start..end).unwrap_or(&mut [])
}

/// `data[start..]`, or an empty slice if `start` is past the end.
#[inline]
fn tail(data: &[u8], start: usize) -> &[u8] {
    data.get(start..).unwrap_or(&[])
}

/// `&mut data[start..]`, or an empty slice if `start` is past the end.
#[inline]
fn tail_mut(data: &mut [u8], start: usize) -> &mut [u8] {
    data.get_mut(start..).unwrap_or(&mut [])
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Walks a frame through every layer the way the data path will: L2, L3, extension
    /// headers, L4 view and `Repr`. Returns the first error.
    fn parse_frame(frame: &[u8]) -> Result<(), WireError> {
        let l2 = parse_l2(frame)?;
        let l3 = frame.get(l2.l3_offset..).ok_or(WireError::Truncated)?;
        match l2.ethertype {
            EtherType::Arp => {
                ArpRepr::parse(&ArpPacket::new_checked(l3)?)?;
            }
            EtherType::Ipv4 => {
                let ip = Ipv4Packet::new_checked(l3)?;
                let repr = Ipv4Repr::parse(&ip)?;
                if ip.frag_offset() == 0 {
                    parse_l4(repr.next_header, ip.payload(), None)?;
                }
            }
            EtherType::Ipv6 => {
                let ip = Ipv6Packet::new_checked(l3)?;
                let repr = Ipv6Repr::parse(&ip)?;
                let upper = ip.upper_layer()?;
                if upper.has_upper_header() {
                    let l4 = ip
                        .as_ref()
                        .get(upper.offset..ipv6::HEADER_LEN + repr.payload_len);
                    let l4 = l4.ok_or(WireError::Truncated)?;
                    parse_l4(upper.protocol, l4, Some((repr.src_addr, repr.dst_addr)))?;
                }
            }
            _ => return Err(WireError::Unsupported),
        }
        Ok(())
    }

    fn parse_l4(
        protocol: IpProtocol,
        data: &[u8],
        v6: Option<(std::net::Ipv6Addr, std::net::Ipv6Addr)>,
    ) -> Result<(), WireError> {
        match (protocol, v6) {
            (IpProtocol::Tcp, _) => {
                TcpRepr::parse(&TcpPacket::new_checked(data)?)?;
            }
            (IpProtocol::Udp, _) => {
                UdpRepr::parse(&UdpPacket::new_checked(data)?)?;
            }
            (IpProtocol::Icmp, None) => {
                Icmpv4Repr::parse(&Icmpv4Packet::new_checked(data)?)?;
            }
            (IpProtocol::Icmpv6, Some((src, dst))) => {
                Icmpv6Repr::parse(&src, &dst, &Icmpv6Packet::new_checked(data)?)?;
            }
            _ => return Err(WireError::Unsupported),
        }
        Ok(())
    }

    /// Ethernet + IPv4 + ICMP echo request (10.0.2.15 -> 8.8.8.8), as in `ipv4::tests`.
    const ECHO_FRAME: [u8; 46] = [
        0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x08, 0x00, //
        0x45, 0x00, 0x00, 0x20, 0xab, 0xcd, 0x40, 0x00, 0x40, 0x01, 0x72, 0xf1, //
        0x0a, 0x00, 0x02, 0x0f, 0x08, 0x08, 0x08, 0x08, //
        0x08, 0x00, 0x21, 0x04, 0x12, 0x34, 0x00, 0x01, b'a', b'b', b'c', b'd',
    ];

    #[test]
    fn malformed_frames_give_typed_errors() {
        assert_eq!(parse_frame(&ECHO_FRAME), Ok(()));
        // Truncated Ethernet header.
        assert_eq!(parse_frame(&ECHO_FRAME[..13]), Err(WireError::Truncated));
        // Truncated IPv4 header.
        assert_eq!(parse_frame(&ECHO_FRAME[..30]), Err(WireError::Truncated));
        // IHL < 5.
        let mut f = ECHO_FRAME;
        f[14] = 0x43;
        assert_eq!(parse_frame(&f), Err(WireError::BadHeaderLen));
        // Total length larger than the frame.
        assert_eq!(parse_frame(&ECHO_FRAME[..45]), Err(WireError::BadLength));
        // Truncated ICMP: total length and header checksum say 26 bytes, ICMP has 6.
        let mut f = ECHO_FRAME;
        f[17] = 26;
        let mut ip = Ipv4Packet::new_unchecked(&mut f[14..]);
        ip.fill_checksum();
        assert_eq!(parse_frame(&f), Err(WireError::Truncated));
        // IPv6 payload length past the frame.
        let mut v6 = vec![0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x86, 0xdd];
        v6.extend_from_slice(&[0x60, 0, 0, 0, 0, 9, 17, 64]);
        v6.extend_from_slice(&[0u8; 32]);
        v6.extend_from_slice(&[0, 1, 0, 2, 0, 8, 0, 0]);
        assert_eq!(parse_frame(&v6), Err(WireError::BadLength));
        v6[19] = 8;
        assert_eq!(parse_frame(&v6), Ok(()));
    }

    proptest! {
        #[test]
        fn random_frames_never_panic(
            ethertype in prop_oneof![Just(0x0800u16), Just(0x86dd), Just(0x0806), Just(0x8100), any::<u16>()],
            first in any::<u8>(),
            proto in prop_oneof![Just(1u8), Just(6), Just(17), Just(58), Just(0), Just(44), any::<u8>()],
            body in proptest::collection::vec(any::<u8>(), 0..120),
        ) {
            let mut frame = vec![0u8; 12];
            frame.extend_from_slice(&ethertype.to_be_bytes());
            frame.extend_from_slice(&body);
            if let Some(b) = frame.get_mut(14) {
                *b = match ethertype {
                    0x0800 => 0x40 | (first & 0x0f),
                    0x86dd => 0x60 | (first & 0x0f),
                    _ => first,
                };
            }
            // Point the protocol field at interesting values for both IP versions.
            let proto_at = if ethertype == 0x86dd { 14 + 6 } else { 14 + 9 };
            if let Some(b) = frame.get_mut(proto_at) {
                *b = proto;
            }
            // Mostly make the IPv4 total length and header checksum consistent, so that the
            // walk reaches the upper layers.
            if ethertype == 0x0800 && first & 0x80 != 0 && frame.len() >= 14 + 20 {
                let total = (frame.len() - 14).min(usize::from(u16::MAX)) as u16;
                let mut ip = Ipv4Packet::new_unchecked(&mut frame[14..]);
                ip.set_total_len(total);
                ip.fill_checksum();
            }
            let _ = parse_frame(&frame);
        }
    }

    #[test]
    fn ip_protocol_round_trip() {
        for n in 0..=255u8 {
            assert_eq!(u8::from(IpProtocol::from(n)), n);
        }
        assert_eq!(IpProtocol::from(6), IpProtocol::Tcp);
        assert_eq!(IpProtocol::from(200), IpProtocol::Unknown(200));
    }

    #[test]
    fn byte_helpers_never_panic() {
        let mut buf = [1u8, 2, 3];
        assert_eq!(get_u16(&buf, 1), 0x0203);
        assert_eq!(get_u16(&buf, 2), 0);
        assert_eq!(get_u32(&buf, usize::MAX), 0);
        assert_eq!(get_u8(&buf, 3), 0);
        set_u16(&mut buf, 2, 0xffff);
        set_u32(&mut buf, usize::MAX, 1);
        assert_eq!(buf, [1, 2, 3]);
        assert!(slice(&buf, 2, 1).is_empty());
        assert!(tail(&buf, 9).is_empty());
    }

    #[test]
    fn error_names_are_distinct() {
        let all = [
            WireError::Truncated,
            WireError::BadVersion,
            WireError::BadHeaderLen,
            WireError::BadLength,
            WireError::BadChecksum,
            WireError::Malformed,
            WireError::Unsupported,
        ];
        for (i, a) in all.iter().enumerate() {
            for b in &all[i + 1..] {
                assert_ne!(a.as_str(), b.as_str());
            }
        }
        assert_eq!(WireError::Truncated.to_string(), "truncated");
    }
}
