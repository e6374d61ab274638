//! ARP packets (RFC 826), as carried in Ethernet with EtherType 0x0806.
//!
//! The view handles any hardware/protocol address lengths (the address fields are located from
//! HLEN and PLEN); [`ArpRepr`] covers the only combination the data path uses, Ethernet (hardware
//! type 1, HLEN 6) and IPv4 (protocol type 0x0800, PLEN 4), and reports anything else as
//! `Unsupported`. Ethernet padding after the packet (frames are at least 60 bytes) is ignored.
//!
//! Invariant: after [`ArpPacket::new_checked`] the buffer holds the 8-byte fixed part and the
//! four address fields it declares; no accessor panics in any case.

use std::net::Ipv4Addr;

use super::ethernet::{EtherType, EthernetAddress};
use super::{get_u16, get_u8, set_u16, set_u8, slice, slice_mut, WireError};

wire_enum! {
    /// ARP opcodes (RFC 826; IANA "ARP Operation Codes").
    pub enum ArpOperation(u16) {
        /// Request (who-has).
        Request = 1,
        /// Reply (is-at).
        Reply = 2,
    }
}

/// ARP hardware type for Ethernet.
pub const HTYPE_ETHERNET: u16 = 1;

mod field {
    use core::ops::Range;
    pub const HTYPE: Range<usize> = 0..2;
    pub const PTYPE: Range<usize> = 2..4;
    pub const HLEN: usize = 4;
    pub const PLEN: usize = 5;
    pub const OPER: Range<usize> = 6..8;
    pub const ADDRS: usize = 8;
}

/// Length of the fixed part (before the addresses).
pub const FIXED_LEN: usize = field::ADDRS;

/// Length of an Ethernet/IPv4 ARP packet.
pub const ETHERNET_IPV4_LEN: usize = FIXED_LEN + 2 * (6 + 4);

/// A read/write view of an ARP packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> ArpPacket<T> {
    /// Wraps `buffer` without any check (accessors still never panic).
    #[inline]
    pub const fn new_unchecked(buffer: T) -> ArpPacket<T> {
        ArpPacket { buffer }
    }

    /// Wraps `buffer` after [`check_len`](Self::check_len).
    #[inline]
    pub fn new_checked(buffer: T) -> Result<ArpPacket<T>, WireError> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// `Err(Truncated)` if the buffer ends before the fixed part or the declared addresses.
    #[inline]
    pub fn check_len(&self) -> Result<(), WireError> {
        let len = self.buffer.as_ref().len();
        if len < FIXED_LEN || len < self.packet_len() {
            Err(WireError::Truncated)
        } else {
            Ok(())
        }
    }

    /// The wrapped buffer.
    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Length of the packet as declared by HLEN and PLEN.
    #[inline]
    pub fn packet_len(&self) -> usize {
        FIXED_LEN + 2 * (usize::from(self.hardware_len()) + usize::from(self.protocol_len()))
    }

    /// Hardware type (1 = Ethernet).
    #[inline]
    pub fn hardware_type(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::HTYPE.start)
    }

    /// Protocol type (an EtherType; 0x0800 = IPv4).
    #[inline]
    pub fn protocol_type(&self) -> EtherType {
        EtherType::from(get_u16(self.buffer.as_ref(), field::PTYPE.start))
    }

    /// Hardware address length (HLEN).
    #[inline]
    pub fn hardware_len(&self) -> u8 {
        get_u8(self.buffer.as_ref(), field::HLEN)
    }

    /// Protocol address length (PLEN).
    #[inline]
    pub fn protocol_len(&self) -> u8 {
        get_u8(self.buffer.as_ref(), field::PLEN)
    }

    /// Opcode.
    #[inline]
    pub fn operation(&self) -> ArpOperation {
        ArpOperation::from(get_u16(self.buffer.as_ref(), field::OPER.start))
    }

    #[inline]
    fn offsets(&self) -> [usize; 5] {
        let h = usize::from(self.hardware_len());
        let p = usize::from(self.protocol_len());
        let sha = field::ADDRS;
        [
            sha,
            sha + h,
            sha + h + p,
            sha + 2 * h + p,
            sha + 2 * h + 2 * p,
        ]
    }

    /// Sender hardware address (HLEN bytes).
    #[inline]
    pub fn source_hardware_addr(&self) -> &[u8] {
        let o = self.offsets();
        slice(self.buffer.as_ref(), o[0], o[1])
    }

    /// Sender protocol address (PLEN bytes).
    #[inline]
    pub fn source_protocol_addr(&self) -> &[u8] {
        let o = self.offsets();
        slice(self.buffer.as_ref(), o[1], o[2])
    }

    /// Target hardware address (HLEN bytes).
    #[inline]
    pub fn target_hardware_addr(&self) -> &[u8] {
        let o = self.offsets();
        slice(self.buffer.as_ref(), o[2], o[3])
    }

    /// Target protocol address (PLEN bytes).
    #[inline]
    pub fn target_protocol_addr(&self) -> &[u8] {
        let o = self.offsets();
        slice(self.buffer.as_ref(), o[3], o[4])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> ArpPacket<T> {
    /// Sets the hardware type.
    #[inline]
    pub fn set_hardware_type(&mut self, value: u16) {
        set_u16(self.buffer.as_mut(), field::HTYPE.start, value)
    }

    /// Sets the protocol type.
    #[inline]
    pub fn set_protocol_type(&mut self, value: EtherType) {
        set_u16(self.buffer.as_mut(), field::PTYPE.start, value.into())
    }

    /// Sets HLEN (moves where the address fields are).
    #[inline]
    pub fn set_hardware_len(&mut self, value: u8) {
        set_u8(self.buffer.as_mut(), field::HLEN, value)
    }

    /// Sets PLEN (moves where the address fields are).
    #[inline]
    pub fn set_protocol_len(&mut self, value: u8) {
        set_u8(self.buffer.as_mut(), field::PLEN, value)
    }

    /// Sets the opcode.
    #[inline]
    pub fn set_operation(&mut self, value: ArpOperation) {
        set_u16(self.buffer.as_mut(), field::OPER.start, value.into())
    }

    fn copy_into(&mut self, index: usize, value: &[u8]) {
        let o = self.offsets();
        let (start, end) = (o[index], o[index + 1]);
        let dst = slice_mut(self.buffer.as_mut(), start, end);
        for (d, s) in dst.iter_mut().zip(value) {
            *d = *s;
        }
    }

    /// Sets the sender hardware address (copies at most HLEN bytes).
    #[inline]
    pub fn set_source_hardware_addr(&mut self, value: &[u8]) {
        self.copy_into(0, value)
    }

    /// Sets the sender protocol address (copies at most PLEN bytes).
    #[inline]
    pub fn set_source_protocol_addr(&mut self, value: &[u8]) {
        self.copy_into(1, value)
    }

    /// Sets the target hardware address (copies at most HLEN bytes).
    #[inline]
    pub fn set_target_hardware_addr(&mut self, value: &[u8]) {
        self.copy_into(2, value)
    }

    /// Sets the target protocol address (copies at most PLEN bytes).
    #[inline]
    pub fn set_target_protocol_addr(&mut self, value: &[u8]) {
        self.copy_into(3, value)
    }
}

/// An Ethernet/IPv4 ARP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ArpRepr {
    /// Opcode.
    pub operation: ArpOperation,
    /// Sender MAC.
    pub source_hardware_addr: EthernetAddress,
    /// Sender IPv4 address.
    pub source_protocol_addr: Ipv4Addr,
    /// Target MAC (zero in a request).
    pub target_hardware_addr: EthernetAddress,
    /// Target IPv4 address.
    pub target_protocol_addr: Ipv4Addr,
}

fn ipv4(bytes: &[u8]) -> Ipv4Addr {
    let mut o = [0u8; 4];
    for (d, s) in o.iter_mut().zip(bytes) {
        *d = *s;
    }
    Ipv4Addr::from(o)
}

impl ArpRepr {
    /// Parses an Ethernet/IPv4 ARP packet; `Unsupported` for other hardware or protocol
    /// types/lengths.
    pub fn parse<T: AsRef<[u8]>>(packet: &ArpPacket<T>) -> Result<ArpRepr, WireError> {
        packet.check_len()?;
        if packet.hardware_type() != HTYPE_ETHERNET
            || packet.protocol_type() != EtherType::Ipv4
            || packet.hardware_len() != 6
            || packet.protocol_len() != 4
        {
            return Err(WireError::Unsupported);
        }
        let mac = |b: &[u8]| EthernetAddress::from_bytes(b).unwrap_or_default();
        Ok(ArpRepr {
            operation: packet.operation(),
            source_hardware_addr: mac(packet.source_hardware_addr()),
            source_protocol_addr: ipv4(packet.source_protocol_addr()),
            target_hardware_addr: mac(packet.target_hardware_addr()),
            target_protocol_addr: ipv4(packet.target_protocol_addr()),
        })
    }

    /// Bytes written by [`emit`](Self::emit): 28.
    #[inline]
    pub const fn buffer_len(&self) -> usize {
        ETHERNET_IPV4_LEN
    }

    /// Writes the packet; `Err(Truncated)` (nothing written) if the buffer is too short.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        packet: &mut ArpPacket<T>,
    ) -> Result<(), WireError> {
        if packet.buffer.as_ref().len() < ETHERNET_IPV4_LEN {
            return Err(WireError::Truncated);
        }
        packet.set_hardware_type(HTYPE_ETHERNET);
        packet.set_protocol_type(EtherType::Ipv4);
        packet.set_hardware_len(6);
        packet.set_protocol_len(4);
        packet.set_operation(self.operation);
        packet.set_source_hardware_addr(self.source_hardware_addr.as_bytes());
        packet.set_source_protocol_addr(&self.source_protocol_addr.octets());
        packet.set_target_hardware_addr(self.target_hardware_addr.as_bytes());
        packet.set_target_protocol_addr(&self.target_protocol_addr.octets());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// ARP payload of a captured request "who-has 192.168.1.1 tell 192.168.1.100" from
    /// 00:0c:29:3e:53:b7, followed by the 18 bytes of Ethernet padding that bring the frame to
    /// 60 bytes.
    const REQUEST: [u8; 46] = [
        0x00, 0x01, // hardware type: Ethernet
        0x08, 0x00, // protocol type: IPv4
        0x06, 0x04, // HLEN 6, PLEN 4
        0x00, 0x01, // request
        0x00, 0x0c, 0x29, 0x3e, 0x53, 0xb7, // sender MAC
        0xc0, 0xa8, 0x01, 0x64, // sender IP 192.168.1.100
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // target MAC: unknown
        0xc0, 0xa8, 0x01, 0x01, // target IP 192.168.1.1
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // padding
    ];

    fn request_repr() -> ArpRepr {
        ArpRepr {
            operation: ArpOperation::Request,
            source_hardware_addr: EthernetAddress([0x00, 0x0c, 0x29, 0x3e, 0x53, 0xb7]),
            source_protocol_addr: Ipv4Addr::new(192, 168, 1, 100),
            target_hardware_addr: EthernetAddress::UNSPECIFIED,
            target_protocol_addr: Ipv4Addr::new(192, 168, 1, 1),
        }
    }

    #[test]
    fn deconstruct() {
        let p = ArpPacket::new_checked(&REQUEST[..]).unwrap();
        assert_eq!(p.hardware_type(), 1);
        assert_eq!(p.protocol_type(), EtherType::Ipv4);
        assert_eq!((p.hardware_len(), p.protocol_len()), (6, 4));
        assert_eq!(p.operation(), ArpOperation::Request);
        assert_eq!(
            p.source_hardware_addr(),
            &[0x00, 0x0c, 0x29, 0x3e, 0x53, 0xb7]
        );
        assert_eq!(p.source_protocol_addr(), &[192, 168, 1, 100]);
        assert_eq!(p.target_hardware_addr(), &[0; 6]);
        assert_eq!(p.target_protocol_addr(), &[192, 168, 1, 1]);
        assert_eq!(p.packet_len(), 28);
    }

    #[test]
    fn construct() {
        let mut buf = [0u8; 28];
        let mut p = ArpPacket::new_unchecked(&mut buf[..]);
        p.set_hardware_type(1);
        p.set_protocol_type(EtherType::Ipv4);
        p.set_hardware_len(6);
        p.set_protocol_len(4);
        p.set_operation(ArpOperation::Request);
        p.set_source_hardware_addr(&[0x00, 0x0c, 0x29, 0x3e, 0x53, 0xb7]);
        p.set_source_protocol_addr(&[192, 168, 1, 100]);
        p.set_target_hardware_addr(&[0; 6]);
        p.set_target_protocol_addr(&[192, 168, 1, 1]);
        assert_eq!(&buf[..], &REQUEST[..28]);
    }

    #[test]
    fn parse_and_emit() {
        let p = ArpPacket::new_checked(&REQUEST[..]).unwrap();
        assert_eq!(ArpRepr::parse(&p).unwrap(), request_repr());
        let mut buf = [0u8; 28];
        request_repr()
            .emit(&mut ArpPacket::new_unchecked(&mut buf[..]))
            .unwrap();
        assert_eq!(&buf[..], &REQUEST[..28]);
    }

    #[test]
    fn malformed() {
        assert_eq!(
            ArpPacket::new_checked(&REQUEST[..7]).unwrap_err(),
            WireError::Truncated
        );
        assert_eq!(
            ArpPacket::new_checked(&REQUEST[..27]).unwrap_err(),
            WireError::Truncated
        );
        let mut other = REQUEST;
        other[1] = 6; // IEEE 802 hardware type
        assert_eq!(
            ArpRepr::parse(&ArpPacket::new_checked(&other[..]).unwrap()),
            Err(WireError::Unsupported)
        );
        let mut long = REQUEST;
        long[4] = 20; // HLEN 20: addresses run past the buffer
        assert_eq!(
            ArpPacket::new_checked(&long[..]).unwrap_err(),
            WireError::Truncated
        );
        let mut short = [0u8; 27];
        assert_eq!(
            request_repr().emit(&mut ArpPacket::new_unchecked(&mut short[..])),
            Err(WireError::Truncated)
        );
    }

    fn arb_repr() -> impl Strategy<Value = ArpRepr> {
        (
            any::<u16>(),
            any::<[u8; 6]>(),
            any::<[u8; 4]>(),
            any::<[u8; 6]>(),
            any::<[u8; 4]>(),
        )
            .prop_map(|(op, sha, spa, tha, tpa)| ArpRepr {
                operation: ArpOperation::from(op),
                source_hardware_addr: EthernetAddress(sha),
                source_protocol_addr: Ipv4Addr::from(spa),
                target_hardware_addr: EthernetAddress(tha),
                target_protocol_addr: Ipv4Addr::from(tpa),
            })
    }

    proptest! {
        #[test]
        fn parse_emit_round_trip(repr in arb_repr()) {
            let mut buf = [0u8; ETHERNET_IPV4_LEN];
            repr.emit(&mut ArpPacket::new_unchecked(&mut buf[..])).unwrap();
            let p = ArpPacket::new_checked(&buf[..]).unwrap();
            prop_assert_eq!(ArpRepr::parse(&p).unwrap(), repr);
        }

        #[test]
        fn any_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..64)) {
            let p = ArpPacket::new_unchecked(&data[..]);
            let _ = (p.source_hardware_addr(), p.target_protocol_addr(), p.operation());
            if let Ok(p) = ArpPacket::new_checked(&data[..]) {
                prop_assert_eq!(p.target_protocol_addr().len(), usize::from(p.protocol_len()));
                let _ = ArpRepr::parse(&p);
            }
        }
    }
}
