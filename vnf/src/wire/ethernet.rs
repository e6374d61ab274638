//! Ethernet II frames (IEEE 802.3 clause 3.2.6 "Length/Type", EtherType use per RFC 894).
//!
//! The view covers the 14-byte header (destination, source, EtherType) and the rest of the buffer
//! as payload; the frame check sequence is not present (NICs strip it). A type value below
//! 0x0600 would be an 802.3 length: it is reported as `EtherType::Unknown(n)`.
//!
//! Invariant: after [`EthernetFrame::new_checked`] the buffer holds at least [`HEADER_LEN`]
//! bytes; no accessor panics in any case.

use core::fmt;

use super::{get_u16, read, set_u16, tail, tail_mut, write, WireError};

wire_enum! {
    /// EtherType values (IEEE registry) that the data path recognises.
    pub enum EtherType(u16) {
        /// IPv4 (RFC 894).
        Ipv4 = 0x0800,
        /// ARP (RFC 826).
        Arp = 0x0806,
        /// IEEE 802.1Q customer VLAN tag (C-tag).
        Vlan = 0x8100,
        /// IPv6 (RFC 2464).
        Ipv6 = 0x86dd,
        /// IEEE 802.1ad service VLAN tag (S-tag, "QinQ").
        QinQ = 0x88a8,
    }
}

/// A 48-bit MAC address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct EthernetAddress(pub [u8; 6]);

impl EthernetAddress {
    /// ff:ff:ff:ff:ff:ff.
    pub const BROADCAST: EthernetAddress = EthernetAddress([0xff; 6]);
    /// 00:00:00:00:00:00 (the ARP request "unknown target").
    pub const UNSPECIFIED: EthernetAddress = EthernetAddress([0; 6]);

    /// The address from the first 6 bytes of `data`, or `None` if `data` is shorter.
    #[inline]
    pub fn from_bytes(data: &[u8]) -> Option<EthernetAddress> {
        let bytes: [u8; 6] = data.get(..6)?.try_into().ok()?;
        Some(EthernetAddress(bytes))
    }

    /// The six bytes.
    #[inline]
    pub const fn as_bytes(&self) -> &[u8; 6] {
        &self.0
    }

    /// ff:ff:ff:ff:ff:ff.
    #[inline]
    pub fn is_broadcast(&self) -> bool {
        *self == Self::BROADCAST
    }

    /// Group bit set (includes broadcast).
    #[inline]
    pub const fn is_multicast(&self) -> bool {
        self.0[0] & 0x01 != 0
    }

    /// Neither multicast nor broadcast.
    #[inline]
    pub const fn is_unicast(&self) -> bool {
        !self.is_multicast()
    }

    /// Locally administered bit set.
    #[inline]
    pub const fn is_local(&self) -> bool {
        self.0[0] & 0x02 != 0
    }

    /// The multicast MAC of an IPv6 multicast address (RFC 2464 section 7: 33:33 + last 4 bytes).
    #[inline]
    pub fn from_ipv6_multicast(addr: &std::net::Ipv6Addr) -> EthernetAddress {
        let o = addr.octets();
        EthernetAddress([0x33, 0x33, o[12], o[13], o[14], o[15]])
    }
}

impl fmt::Display for EthernetAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }
}

mod field {
    use core::ops::{Range, RangeFrom};
    pub const DESTINATION: Range<usize> = 0..6;
    pub const SOURCE: Range<usize> = 6..12;
    pub const ETHERTYPE: Range<usize> = 12..14;
    pub const PAYLOAD: RangeFrom<usize> = 14..;
}

/// Length of the Ethernet II header.
pub const HEADER_LEN: usize = field::PAYLOAD.start;

/// A read/write view of an Ethernet II frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EthernetFrame<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> EthernetFrame<T> {
    /// Wraps `buffer` without any check (accessors still never panic).
    #[inline]
    pub const fn new_unchecked(buffer: T) -> EthernetFrame<T> {
        EthernetFrame { buffer }
    }

    /// Wraps `buffer` after [`check_len`](Self::check_len).
    #[inline]
    pub fn new_checked(buffer: T) -> Result<EthernetFrame<T>, WireError> {
        let frame = Self::new_unchecked(buffer);
        frame.check_len()?;
        Ok(frame)
    }

    /// `Err(Truncated)` if the buffer is shorter than the 14-byte header.
    #[inline]
    pub fn check_len(&self) -> Result<(), WireError> {
        if self.buffer.as_ref().len() < HEADER_LEN {
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

    /// Length of the header (always 14).
    #[inline]
    pub const fn header_len() -> usize {
        HEADER_LEN
    }

    /// Length of a frame carrying `payload_len` bytes.
    #[inline]
    pub const fn buffer_len(payload_len: usize) -> usize {
        HEADER_LEN + payload_len
    }

    /// Destination MAC.
    #[inline]
    pub fn dst_addr(&self) -> EthernetAddress {
        EthernetAddress(read(self.buffer.as_ref(), field::DESTINATION.start))
    }

    /// Source MAC.
    #[inline]
    pub fn src_addr(&self) -> EthernetAddress {
        EthernetAddress(read(self.buffer.as_ref(), field::SOURCE.start))
    }

    /// EtherType (or TPID if the frame is VLAN-tagged).
    #[inline]
    pub fn ethertype(&self) -> EtherType {
        EtherType::from(get_u16(self.buffer.as_ref(), field::ETHERTYPE.start))
    }

    /// Bytes after the header.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        tail(self.buffer.as_ref(), field::PAYLOAD.start)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> EthernetFrame<T> {
    /// Sets the destination MAC.
    #[inline]
    pub fn set_dst_addr(&mut self, value: EthernetAddress) {
        write(self.buffer.as_mut(), field::DESTINATION.start, value.0)
    }

    /// Sets the source MAC.
    #[inline]
    pub fn set_src_addr(&mut self, value: EthernetAddress) {
        write(self.buffer.as_mut(), field::SOURCE.start, value.0)
    }

    /// Sets the EtherType.
    #[inline]
    pub fn set_ethertype(&mut self, value: EtherType) {
        set_u16(self.buffer.as_mut(), field::ETHERTYPE.start, value.into())
    }

    /// Mutable bytes after the header.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        tail_mut(self.buffer.as_mut(), field::PAYLOAD.start)
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for EthernetFrame<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

/// The parsed Ethernet II header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EthernetRepr {
    /// Source MAC.
    pub src_addr: EthernetAddress,
    /// Destination MAC.
    pub dst_addr: EthernetAddress,
    /// EtherType.
    pub ethertype: EtherType,
}

impl EthernetRepr {
    /// Parses a frame made by `new_checked` (re-checks the length otherwise).
    pub fn parse<T: AsRef<[u8]>>(frame: &EthernetFrame<T>) -> Result<EthernetRepr, WireError> {
        frame.check_len()?;
        Ok(EthernetRepr {
            src_addr: frame.src_addr(),
            dst_addr: frame.dst_addr(),
            ethertype: frame.ethertype(),
        })
    }

    /// Bytes written by [`emit`](Self::emit): 14.
    #[inline]
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the header; `Err(Truncated)` (nothing written) if the buffer is too short.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        frame: &mut EthernetFrame<T>,
    ) -> Result<(), WireError> {
        frame.check_len()?;
        frame.set_dst_addr(self.dst_addr);
        frame.set_src_addr(self.src_addr);
        frame.set_ethertype(self.ethertype);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Start of a broadcast ARP request as seen on the wire (dst ff.., src 52:54:00:12:34:56).
    const ARP_FRAME_HEAD: [u8; 16] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // destination: broadcast
        0x52, 0x54, 0x00, 0x12, 0x34, 0x56, // source
        0x08, 0x06, // EtherType: ARP
        0x00, 0x01, // payload: ARP hardware type
    ];

    #[test]
    fn deconstruct() {
        let frame = EthernetFrame::new_checked(&ARP_FRAME_HEAD[..]).unwrap();
        assert_eq!(frame.dst_addr(), EthernetAddress::BROADCAST);
        assert_eq!(
            frame.src_addr(),
            EthernetAddress([0x52, 0x54, 0x00, 0x12, 0x34, 0x56])
        );
        assert_eq!(frame.ethertype(), EtherType::Arp);
        assert_eq!(frame.payload(), &[0x00, 0x01]);
        assert_eq!(frame.src_addr().to_string(), "52:54:00:12:34:56");
    }

    #[test]
    fn construct() {
        let mut buf = [0u8; 16];
        let mut frame = EthernetFrame::new_unchecked(&mut buf[..]);
        frame.set_dst_addr(EthernetAddress::BROADCAST);
        frame.set_src_addr(EthernetAddress([0x52, 0x54, 0x00, 0x12, 0x34, 0x56]));
        frame.set_ethertype(EtherType::Arp);
        frame.payload_mut().copy_from_slice(&[0x00, 0x01]);
        assert_eq!(buf, ARP_FRAME_HEAD);
    }

    #[test]
    fn parse_and_emit() {
        let frame = EthernetFrame::new_checked(&ARP_FRAME_HEAD[..]).unwrap();
        let repr = EthernetRepr::parse(&frame).unwrap();
        assert_eq!(repr.ethertype, EtherType::Arp);
        let mut buf = [0u8; 16];
        let mut out = EthernetFrame::new_unchecked(&mut buf[..]);
        repr.emit(&mut out).unwrap();
        out.payload_mut().copy_from_slice(&[0x00, 0x01]);
        assert_eq!(buf, ARP_FRAME_HEAD);
    }

    #[test]
    fn truncated() {
        assert_eq!(
            EthernetFrame::new_checked(&ARP_FRAME_HEAD[..13]).unwrap_err(),
            WireError::Truncated
        );
        assert!(EthernetFrame::new_checked(&ARP_FRAME_HEAD[..14]).is_ok());
        let mut short = [0u8; 10];
        let repr = EthernetRepr {
            src_addr: EthernetAddress::BROADCAST,
            dst_addr: EthernetAddress::BROADCAST,
            ethertype: EtherType::Ipv4,
        };
        assert_eq!(
            repr.emit(&mut EthernetFrame::new_unchecked(&mut short[..])),
            Err(WireError::Truncated)
        );
        assert_eq!(short, [0u8; 10]);
    }

    #[test]
    fn address_classes() {
        assert!(EthernetAddress::BROADCAST.is_multicast());
        assert!(EthernetAddress([0x02, 0, 0, 0, 0, 1]).is_local());
        assert!(EthernetAddress([0x00, 0, 0, 0, 0, 1]).is_unicast());
        let mc: std::net::Ipv6Addr = "ff02::1:ff00:1".parse().unwrap();
        assert_eq!(
            EthernetAddress::from_ipv6_multicast(&mc),
            EthernetAddress([0x33, 0x33, 0xff, 0x00, 0x00, 0x01])
        );
        assert_eq!(EthernetAddress::from_bytes(&[1, 2, 3]), None);
    }

    #[test]
    fn ethertype_unknown() {
        assert_eq!(EtherType::from(0x88cc), EtherType::Unknown(0x88cc));
        assert_eq!(u16::from(EtherType::Ipv6), 0x86dd);
    }

    fn arb_repr() -> impl Strategy<Value = EthernetRepr> {
        (any::<[u8; 6]>(), any::<[u8; 6]>(), any::<u16>()).prop_map(|(s, d, t)| EthernetRepr {
            src_addr: EthernetAddress(s),
            dst_addr: EthernetAddress(d),
            ethertype: EtherType::from(t),
        })
    }

    proptest! {
        #[test]
        fn parse_emit_round_trip(repr in arb_repr(), extra in 0usize..8) {
            let mut buf = vec![0u8; repr.buffer_len() + extra];
            repr.emit(&mut EthernetFrame::new_unchecked(&mut buf[..])).unwrap();
            let frame = EthernetFrame::new_checked(&buf[..]).unwrap();
            prop_assert_eq!(EthernetRepr::parse(&frame).unwrap(), repr);
            prop_assert_eq!(frame.payload().len(), extra);
        }

        #[test]
        fn any_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..32)) {
            if let Ok(frame) = EthernetFrame::new_checked(&data[..]) {
                let _ = (frame.dst_addr(), frame.src_addr(), frame.ethertype(), frame.payload());
                let _ = EthernetRepr::parse(&frame);
            }
            let unchecked = EthernetFrame::new_unchecked(&data[..]);
            let _ = (unchecked.dst_addr(), unchecked.ethertype(), unchecked.payload());
        }
    }
}
