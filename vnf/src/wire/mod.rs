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
//! Nothing here allocates, uses `unsafe`, or touches an mbuf: the modules work on `&[u8]` and
//! `&mut [u8]` (or anything that derefs to them), so the same code serves DPDK mbufs and tests.
//!
//! Errors are one small `Copy` enum, [`WireError`], which the data path maps to drop reasons.
#![forbid(unsafe_code)]

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
pub use icmpv4::{Icmpv4Message, Icmpv4Packet, Icmpv4Repr};
pub use icmpv6::{Icmpv6Message, Icmpv6Packet, Icmpv6Repr};
pub use ipv4::{Ipv4Packet, Ipv4Repr};
pub use ipv6::{
    Ipv6ExtHeader, Ipv6FragmentHeader, Ipv6FragmentRepr, Ipv6Packet, Ipv6Repr, UpperLayer,
};
pub use ndisc::{NdiscOption, NdiscOptionIter, NdiscOptionRepr, NdiscPrefixInfo, NdiscRepr};
pub use tcp::{TcpFlags, TcpOption, TcpOptionIter, TcpPacket, TcpRepr};
pub use udp::{UdpPacket, UdpRepr};
pub use vlan::{L2Info, VlanPacket, VlanRepr};

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
