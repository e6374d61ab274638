//! IEEE 802.1Q VLAN tags (and 802.1ad stacking), and the walk from an Ethernet frame to its L3
//! header.
//!
//! On the wire a tag is the TPID (0x8100 C-tag, 0x88a8 S-tag) in the Ethernet type position,
//! followed by the 16-bit TCI (PCP: 3 bits, DEI: 1 bit, VID: 12 bits) and the encapsulated
//! EtherType (IEEE 802.1Q-2018 section 9.6). A [`VlanPacket`] views the 4 bytes *after* the TPID,
//! i.e. the payload of an [`EthernetFrame`](super::EthernetFrame) whose EtherType is a TPID.
//!
//! [`parse_l2`] accepts an untagged frame, one tag, or two tags (outer 0x88a8 or 0x8100, inner
//! 0x8100) and returns the L3 EtherType and offset; a third tag is `Unsupported`, so the walk is
//! bounded.
//!
//! Invariant: after [`VlanPacket::new_checked`] the buffer holds at least [`HEADER_LEN`] bytes;
//! no accessor panics in any case.

use super::ethernet::{self, EtherType};
use super::{get_u16, set_u16, tail, tail_mut, WireError};

mod field {
    use core::ops::{Range, RangeFrom};
    pub const TCI: Range<usize> = 0..2;
    pub const ETHERTYPE: Range<usize> = 2..4;
    pub const PAYLOAD: RangeFrom<usize> = 4..;
}

/// Bytes of a tag after its TPID (TCI + encapsulated EtherType).
pub const HEADER_LEN: usize = field::PAYLOAD.start;

/// Largest valid VLAN ID (4095 is reserved).
pub const MAX_VID: u16 = 4094;

/// A view of the TCI and encapsulated EtherType that follow a TPID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VlanPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> VlanPacket<T> {
    /// Wraps `buffer` without any check (accessors still never panic).
    #[inline]
    pub const fn new_unchecked(buffer: T) -> VlanPacket<T> {
        VlanPacket { buffer }
    }

    /// Wraps `buffer` after [`check_len`](Self::check_len).
    #[inline]
    pub fn new_checked(buffer: T) -> Result<VlanPacket<T>, WireError> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// `Err(Truncated)` if the buffer is shorter than 4 bytes.
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

    /// The raw 16-bit TCI.
    #[inline]
    pub fn tci(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::TCI.start)
    }

    /// Priority code point (3 bits).
    #[inline]
    pub fn pcp(&self) -> u8 {
        (self.tci() >> 13) as u8
    }

    /// Drop eligible indicator.
    #[inline]
    pub fn dei(&self) -> bool {
        self.tci() & 0x1000 != 0
    }

    /// VLAN identifier (12 bits).
    #[inline]
    pub fn vid(&self) -> u16 {
        self.tci() & 0x0fff
    }

    /// Encapsulated EtherType (may be another TPID).
    #[inline]
    pub fn ethertype(&self) -> EtherType {
        EtherType::from(get_u16(self.buffer.as_ref(), field::ETHERTYPE.start))
    }

    /// Bytes after the tag.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        tail(self.buffer.as_ref(), field::PAYLOAD.start)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> VlanPacket<T> {
    /// Sets the raw TCI.
    #[inline]
    pub fn set_tci(&mut self, value: u16) {
        set_u16(self.buffer.as_mut(), field::TCI.start, value)
    }

    /// Sets the VLAN ID (low 12 bits of `value`), keeping PCP and DEI.
    #[inline]
    pub fn set_vid(&mut self, value: u16) {
        let tci = (self.tci() & 0xf000) | (value & 0x0fff);
        self.set_tci(tci)
    }

    /// Sets the encapsulated EtherType.
    #[inline]
    pub fn set_ethertype(&mut self, value: EtherType) {
        set_u16(self.buffer.as_mut(), field::ETHERTYPE.start, value.into())
    }

    /// Mutable bytes after the tag.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        tail_mut(self.buffer.as_mut(), field::PAYLOAD.start)
    }
}

/// The parsed tag (TCI fields and encapsulated EtherType).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VlanRepr {
    /// Priority code point (0..=7).
    pub pcp: u8,
    /// Drop eligible indicator.
    pub dei: bool,
    /// VLAN ID (0..=4095; 0 means priority tag only).
    pub vid: u16,
    /// Encapsulated EtherType.
    pub ethertype: EtherType,
}

impl VlanRepr {
    /// Parses the tag.
    pub fn parse<T: AsRef<[u8]>>(packet: &VlanPacket<T>) -> Result<VlanRepr, WireError> {
        packet.check_len()?;
        Ok(VlanRepr {
            pcp: packet.pcp(),
            dei: packet.dei(),
            vid: packet.vid(),
            ethertype: packet.ethertype(),
        })
    }

    /// Bytes written by [`emit`](Self::emit): 4.
    #[inline]
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the tag; `Err(Truncated)` if the buffer is too short, `Err(Malformed)` if PCP > 7
    /// or VID > 4095 (nothing written in either case).
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        packet: &mut VlanPacket<T>,
    ) -> Result<(), WireError> {
        packet.check_len()?;
        if self.pcp > 7 || self.vid > 0x0fff {
            return Err(WireError::Malformed);
        }
        let tci = (u16::from(self.pcp) << 13) | (u16::from(self.dei) << 12) | self.vid;
        packet.set_tci(tci);
        packet.set_ethertype(self.ethertype);
        Ok(())
    }
}

/// Where the L3 header of an Ethernet frame is, past at most two VLAN tags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct L2Info {
    /// VID of the outer (first) tag, if the frame is tagged.
    pub outer_vid: Option<u16>,
    /// VID of the inner (second) tag, if the frame is double-tagged.
    pub inner_vid: Option<u16>,
    /// EtherType of the L3 payload.
    pub ethertype: EtherType,
    /// Offset of the L3 header from the start of the frame (14, 18 or 22).
    pub l3_offset: usize,
}

impl L2Info {
    /// The VID the frame belongs to for a single-tag network: the outer tag's.
    #[inline]
    pub fn vid(&self) -> Option<u16> {
        self.outer_vid
    }
}

#[inline]
fn is_tpid(t: EtherType) -> bool {
    matches!(t, EtherType::Vlan | EtherType::QinQ)
}

/// Walks the Ethernet header and up to two VLAN tags of `frame`.
///
/// Errors: `Truncated` if the frame ends inside the Ethernet header or a tag; `Unsupported` for
/// a third tag; `Malformed` for an inner tag with the S-tag TPID (0x88a8 inside a tag).
pub fn parse_l2(frame: &[u8]) -> Result<L2Info, WireError> {
    let eth = ethernet::EthernetFrame::new_checked(frame)?;
    let mut info = L2Info {
        outer_vid: None,
        inner_vid: None,
        ethertype: eth.ethertype(),
        l3_offset: ethernet::HEADER_LEN,
    };
    if !is_tpid(info.ethertype) {
        return Ok(info);
    }
    let outer = VlanPacket::new_checked(eth.payload())?;
    info.outer_vid = Some(outer.vid());
    info.ethertype = outer.ethertype();
    info.l3_offset += HEADER_LEN;
    if !is_tpid(info.ethertype) {
        return Ok(info);
    }
    if info.ethertype == EtherType::QinQ {
        return Err(WireError::Malformed);
    }
    let inner = VlanPacket::new_checked(outer.payload())?;
    info.inner_vid = Some(inner.vid());
    info.ethertype = inner.ethertype();
    info.l3_offset += HEADER_LEN;
    if is_tpid(info.ethertype) {
        return Err(WireError::Unsupported);
    }
    Ok(info)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Ethernet header + 802.1Q tag (PCP 5, DEI 0, VID 100) + IPv4 EtherType, then one L3 byte.
    const TAGGED: [u8; 19] = [
        0x02, 0x00, 0x00, 0x00, 0x00, 0x02, // destination
        0x02, 0x00, 0x00, 0x00, 0x00, 0x01, // source
        0x81, 0x00, // TPID 802.1Q
        0xa0, 0x64, // TCI: PCP 5, DEI 0, VID 100
        0x08, 0x00, // IPv4
        0x45, // first byte of the IPv4 header
    ];

    /// QinQ: S-tag VID 10 (0x88a8), C-tag VID 200, IPv6.
    const DOUBLE: [u8; 22] = [
        0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, //
        0x88, 0xa8, 0x00, 0x0a, // S-tag VID 10
        0x81, 0x00, 0x00, 0xc8, // C-tag VID 200
        0x86, 0xdd, // IPv6
    ];

    #[test]
    fn deconstruct() {
        let tag = VlanPacket::new_checked(&TAGGED[14..]).unwrap();
        assert_eq!(tag.pcp(), 5);
        assert!(!tag.dei());
        assert_eq!(tag.vid(), 100);
        assert_eq!(tag.ethertype(), EtherType::Ipv4);
        assert_eq!(tag.payload(), &[0x45]);
    }

    #[test]
    fn construct() {
        let mut buf = [0u8; 5];
        let mut tag = VlanPacket::new_unchecked(&mut buf[..]);
        tag.set_tci(0xa000);
        tag.set_vid(100);
        tag.set_ethertype(EtherType::Ipv4);
        tag.payload_mut()[0] = 0x45;
        assert_eq!(&buf[..], &TAGGED[14..]);
    }

    #[test]
    fn parse_and_emit() {
        let repr = VlanRepr::parse(&VlanPacket::new_checked(&TAGGED[14..]).unwrap()).unwrap();
        assert_eq!(
            repr,
            VlanRepr {
                pcp: 5,
                dei: false,
                vid: 100,
                ethertype: EtherType::Ipv4
            }
        );
        let mut buf = [0u8; 4];
        repr.emit(&mut VlanPacket::new_unchecked(&mut buf[..]))
            .unwrap();
        assert_eq!(&buf[..], &TAGGED[14..18]);
        let bad = VlanRepr { pcp: 8, ..repr };
        assert_eq!(
            bad.emit(&mut VlanPacket::new_unchecked(&mut buf[..])),
            Err(WireError::Malformed)
        );
    }

    #[test]
    fn l2_walk() {
        let untagged = [&TAGGED[..12], &[0x86, 0xdd][..]].concat();
        assert_eq!(
            parse_l2(&untagged).unwrap(),
            L2Info {
                outer_vid: None,
                inner_vid: None,
                ethertype: EtherType::Ipv6,
                l3_offset: 14
            }
        );
        let one = parse_l2(&TAGGED).unwrap();
        assert_eq!(one.vid(), Some(100));
        assert_eq!((one.ethertype, one.l3_offset), (EtherType::Ipv4, 18));
        let two = parse_l2(&DOUBLE).unwrap();
        assert_eq!((two.outer_vid, two.inner_vid), (Some(10), Some(200)));
        assert_eq!((two.ethertype, two.l3_offset), (EtherType::Ipv6, 22));
    }

    #[test]
    fn l2_walk_errors() {
        assert_eq!(parse_l2(&TAGGED[..13]), Err(WireError::Truncated));
        assert_eq!(parse_l2(&TAGGED[..17]), Err(WireError::Truncated));
        assert_eq!(parse_l2(&DOUBLE[..21]), Err(WireError::Truncated));
        let mut triple = DOUBLE.to_vec();
        triple[20..22].copy_from_slice(&[0x81, 0x00]);
        triple.extend_from_slice(&[0x00, 0x01, 0x08, 0x00]);
        assert_eq!(parse_l2(&triple), Err(WireError::Unsupported));
        let mut inner_s = DOUBLE;
        inner_s[16..18].copy_from_slice(&[0x88, 0xa8]);
        assert_eq!(parse_l2(&inner_s), Err(WireError::Malformed));
    }

    fn arb_repr() -> impl Strategy<Value = VlanRepr> {
        (0u8..8, any::<bool>(), 0u16..4096, any::<u16>()).prop_map(|(pcp, dei, vid, t)| VlanRepr {
            pcp,
            dei,
            vid,
            ethertype: EtherType::from(t),
        })
    }

    proptest! {
        #[test]
        fn parse_emit_round_trip(repr in arb_repr()) {
            let mut buf = [0u8; 4];
            repr.emit(&mut VlanPacket::new_unchecked(&mut buf[..])).unwrap();
            prop_assert_eq!(VlanRepr::parse(&VlanPacket::new_checked(&buf[..]).unwrap()).unwrap(), repr);
        }

        #[test]
        fn l2_walk_never_panics(data in proptest::collection::vec(any::<u8>(), 0..40), tpids in 0usize..4) {
            let mut data = data;
            // Plant TPIDs so that tagged paths are exercised.
            for i in 0..tpids {
                let at = 12 + 4 * i;
                if data.len() >= at + 2 {
                    data[at..at + 2].copy_from_slice(&[0x81, 0x00]);
                }
            }
            if let Ok(info) = parse_l2(&data) {
                prop_assert!(info.l3_offset <= data.len());
            }
        }
    }
}
