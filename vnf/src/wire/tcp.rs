//! TCP segments (RFC 9293 section 3.1), the options of RFC 9293 section 3.2 (EOL, NOP, MSS),
//! RFC 7323 (window scale, timestamps) and RFC 2018 (SACK permitted), and the AE flag of
//! RFC 3168/AccECN.
//!
//! The view's buffer is the whole segment (the upper-layer payload of the IP packet): TCP has
//! no length field, so [`payload`](TcpPacket::payload) runs from the data offset to the end of
//! the buffer and the checksum covers the whole buffer. [`TcpPacket::new_checked`] validates: the
//! 20-byte header is present (`Truncated`), data offset >= 5 (`BadHeaderLen`), the header with
//! its options is present (`Truncated`).
//!
//! Options are walked by [`TcpOptionIter`], which stops at End of Option List, consumes at least
//! one byte per step, and yields `Err` once (then stops) for an option without room for its
//! length byte or body (`Truncated`), a length below 2 (`Malformed`) or a known option with the
//! wrong length (`Malformed`). [`TcpRepr`] keeps MSS, window scale, SACK-permitted and
//! timestamps and ignores other options; `parse` does not verify the checksum (a NAT translates
//! without checking it). [`TcpPacket::clamp_mss`] rewrites the MSS option with an RFC 1624
//! checksum update, as NAT46/NAT64 need for the 20-byte header size difference.
//!
//! No accessor panics in any case.

use core::ops::BitOr;
use std::net::{Ipv4Addr, Ipv6Addr};

use super::checksum;
use super::{
    get_u16, get_u32, get_u8, set_u16, set_u32, set_u8, slice, slice_mut, tail, tail_mut,
    IpProtocol, WireError,
};

mod field {
    use core::ops::Range;
    pub const SRC_PORT: Range<usize> = 0..2;
    pub const DST_PORT: Range<usize> = 2..4;
    pub const SEQ_NUM: Range<usize> = 4..8;
    pub const ACK_NUM: Range<usize> = 8..12;
    pub const FLAGS: Range<usize> = 12..14;
    pub const WIN_SIZE: Range<usize> = 14..16;
    pub const CHECKSUM: Range<usize> = 16..18;
    pub const URGENT: Range<usize> = 18..20;
}

/// Length of the TCP header without options.
pub const HEADER_LEN: usize = field::URGENT.end;

/// Largest header (data offset 15).
pub const MAX_HEADER_LEN: usize = 60;

/// The nine TCP flag bits (low 9 bits of the data-offset/flags word).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TcpFlags(pub u16);

impl TcpFlags {
    /// FIN.
    pub const FIN: TcpFlags = TcpFlags(0x001);
    /// SYN.
    pub const SYN: TcpFlags = TcpFlags(0x002);
    /// RST.
    pub const RST: TcpFlags = TcpFlags(0x004);
    /// PSH.
    pub const PSH: TcpFlags = TcpFlags(0x008);
    /// ACK.
    pub const ACK: TcpFlags = TcpFlags(0x010);
    /// URG.
    pub const URG: TcpFlags = TcpFlags(0x020);
    /// ECE (RFC 3168).
    pub const ECE: TcpFlags = TcpFlags(0x040);
    /// CWR (RFC 3168).
    pub const CWR: TcpFlags = TcpFlags(0x080);
    /// AE (formerly NS, RFC 3540; AccECN).
    pub const AE: TcpFlags = TcpFlags(0x100);
    /// All nine bits.
    pub const MASK: u16 = 0x01ff;

    /// True if every bit of `other` is set.
    #[inline]
    pub const fn contains(self, other: TcpFlags) -> bool {
        self.0 & other.0 == other.0
    }

    /// True if any bit of `other` is set.
    #[inline]
    pub const fn intersects(self, other: TcpFlags) -> bool {
        self.0 & other.0 != 0
    }
}

impl BitOr for TcpFlags {
    type Output = TcpFlags;
    #[inline]
    fn bitor(self, rhs: TcpFlags) -> TcpFlags {
        TcpFlags(self.0 | rhs.0)
    }
}

/// A read/write view of a TCP segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> TcpPacket<T> {
    /// Wraps `buffer` without any check (accessors still never panic).
    #[inline]
    pub const fn new_unchecked(buffer: T) -> TcpPacket<T> {
        TcpPacket { buffer }
    }

    /// Wraps `buffer` after [`check_len`](Self::check_len).
    #[inline]
    pub fn new_checked(buffer: T) -> Result<TcpPacket<T>, WireError> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Validates the header and data offset (see the module docs).
    #[inline]
    pub fn check_len(&self) -> Result<(), WireError> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        let header_len = self.header_len();
        if header_len < HEADER_LEN {
            return Err(WireError::BadHeaderLen);
        }
        if header_len > len {
            return Err(WireError::Truncated);
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

    /// Sequence number.
    #[inline]
    pub fn seq_number(&self) -> u32 {
        get_u32(self.buffer.as_ref(), field::SEQ_NUM.start)
    }

    /// Acknowledgment number.
    #[inline]
    pub fn ack_number(&self) -> u32 {
        get_u32(self.buffer.as_ref(), field::ACK_NUM.start)
    }

    /// Header length in bytes (data offset * 4).
    #[inline]
    pub fn header_len(&self) -> usize {
        usize::from(get_u16(self.buffer.as_ref(), field::FLAGS.start) >> 12) * 4
    }

    /// The flag bits.
    #[inline]
    pub fn flags(&self) -> TcpFlags {
        TcpFlags(get_u16(self.buffer.as_ref(), field::FLAGS.start) & TcpFlags::MASK)
    }

    /// SYN set.
    #[inline]
    pub fn syn(&self) -> bool {
        self.flags().contains(TcpFlags::SYN)
    }

    /// ACK set.
    #[inline]
    pub fn ack(&self) -> bool {
        self.flags().contains(TcpFlags::ACK)
    }

    /// FIN set.
    #[inline]
    pub fn fin(&self) -> bool {
        self.flags().contains(TcpFlags::FIN)
    }

    /// RST set.
    #[inline]
    pub fn rst(&self) -> bool {
        self.flags().contains(TcpFlags::RST)
    }

    /// Window size (unscaled).
    #[inline]
    pub fn window_len(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::WIN_SIZE.start)
    }

    /// Checksum field.
    #[inline]
    pub fn checksum(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::CHECKSUM.start)
    }

    /// Urgent pointer.
    #[inline]
    pub fn urgent_at(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::URGENT.start)
    }

    /// The options bytes (20 to the data offset).
    #[inline]
    pub fn options(&self) -> &[u8] {
        slice(self.buffer.as_ref(), HEADER_LEN, self.header_len())
    }

    /// Iterates over the options.
    #[inline]
    pub fn options_iter(&self) -> TcpOptionIter<'_> {
        TcpOptionIter::new(self.options())
    }

    /// Payload: from the data offset to the end of the buffer.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        tail(self.buffer.as_ref(), self.header_len())
    }

    #[inline]
    fn sum_with(&self, pseudo: u16) -> u16 {
        checksum::combine(pseudo, checksum::sum(self.buffer.as_ref()))
    }

    /// Verifies the checksum over the IPv4 pseudo-header and the whole buffer.
    #[inline]
    pub fn verify_checksum_v4(&self, src: Ipv4Addr, dst: Ipv4Addr) -> bool {
        let len = self.buffer.as_ref().len() as u16;
        self.sum_with(checksum::pseudo_header_v4(src, dst, IpProtocol::Tcp, len)) == 0xffff
    }

    /// Verifies the checksum over the IPv6 pseudo-header and the whole buffer.
    #[inline]
    pub fn verify_checksum_v6(&self, src: &Ipv6Addr, dst: &Ipv6Addr) -> bool {
        let len = self.buffer.as_ref().len() as u32;
        self.sum_with(checksum::pseudo_header_v6(src, dst, IpProtocol::Tcp, len)) == 0xffff
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> TcpPacket<T> {
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

    /// Sets the sequence number.
    #[inline]
    pub fn set_seq_number(&mut self, value: u32) {
        set_u32(self.buffer.as_mut(), field::SEQ_NUM.start, value)
    }

    /// Sets the acknowledgment number.
    #[inline]
    pub fn set_ack_number(&mut self, value: u32) {
        set_u32(self.buffer.as_mut(), field::ACK_NUM.start, value)
    }

    /// Sets the header length in bytes (`value / 4` is stored as the data offset) and clears
    /// the reserved bits; keeps the flags.
    #[inline]
    pub fn set_header_len(&mut self, value: usize) {
        let offset = ((value / 4) & 0x0f) as u16;
        let word = (offset << 12) | self.flags().0;
        set_u16(self.buffer.as_mut(), field::FLAGS.start, word)
    }

    /// Sets the flag bits; keeps the data offset, clears the reserved bits.
    #[inline]
    pub fn set_flags(&mut self, value: TcpFlags) {
        let offset = get_u16(self.buffer.as_ref(), field::FLAGS.start) & 0xf000;
        set_u16(
            self.buffer.as_mut(),
            field::FLAGS.start,
            offset | (value.0 & TcpFlags::MASK),
        )
    }

    /// Sets the window size.
    #[inline]
    pub fn set_window_len(&mut self, value: u16) {
        set_u16(self.buffer.as_mut(), field::WIN_SIZE.start, value)
    }

    /// Sets the checksum field.
    #[inline]
    pub fn set_checksum(&mut self, value: u16) {
        set_u16(self.buffer.as_mut(), field::CHECKSUM.start, value)
    }

    /// Sets the urgent pointer.
    #[inline]
    pub fn set_urgent_at(&mut self, value: u16) {
        set_u16(self.buffer.as_mut(), field::URGENT.start, value)
    }

    /// Computes the checksum over the IPv4 pseudo-header and the whole buffer.
    #[inline]
    pub fn fill_checksum_v4(&mut self, src: Ipv4Addr, dst: Ipv4Addr) {
        self.set_checksum(0);
        let len = self.buffer.as_ref().len() as u16;
        let c = !self.sum_with(checksum::pseudo_header_v4(src, dst, IpProtocol::Tcp, len));
        self.set_checksum(c)
    }

    /// Computes the checksum over the IPv6 pseudo-header and the whole buffer.
    #[inline]
    pub fn fill_checksum_v6(&mut self, src: &Ipv6Addr, dst: &Ipv6Addr) {
        self.set_checksum(0);
        let len = self.buffer.as_ref().len() as u32;
        let c = !self.sum_with(checksum::pseudo_header_v6(src, dst, IpProtocol::Tcp, len));
        self.set_checksum(c)
    }

    /// Lowers the MSS option to `max` if it is larger, updating the checksum incrementally.
    /// Returns true if the segment was changed. Options after a malformed one are not searched.
    pub fn clamp_mss(&mut self, max: u16) -> bool {
        let mut at = HEADER_LEN;
        let mut found = None;
        let mut iter = self.options_iter();
        while let Some(Ok(option)) = iter.next() {
            if let TcpOption::MaxSegmentSize(mss) = option {
                found = Some((at, mss));
                break;
            }
            at += option.buffer_len();
        }
        match found {
            Some((at, mss)) if mss > max => {
                let value_at = at + 2;
                let c = if value_at % 2 == 0 {
                    checksum::update_u16(self.checksum(), mss, max)
                } else {
                    // The value straddles two 16-bit words: [prev, hi] [lo, next].
                    let b = self.buffer.as_ref();
                    let (prev, next) = (get_u8(b, value_at - 1), get_u8(b, value_at + 2));
                    let [oh, ol] = mss.to_be_bytes();
                    let [nh, nl] = max.to_be_bytes();
                    checksum::update_bytes(
                        self.checksum(),
                        &[prev, oh, ol, next],
                        &[prev, nh, nl, next],
                    )
                };
                set_u16(self.buffer.as_mut(), value_at, max);
                self.set_checksum(c);
                true
            }
            _ => false,
        }
    }

    /// Mutable options bytes.
    #[inline]
    pub fn options_mut(&mut self) -> &mut [u8] {
        let end = self.header_len();
        slice_mut(self.buffer.as_mut(), HEADER_LEN, end)
    }

    /// Mutable payload.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let start = self.header_len();
        tail_mut(self.buffer.as_mut(), start)
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for TcpPacket<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

mod opt {
    pub const END: u8 = 0;
    pub const NOP: u8 = 1;
    pub const MSS: u8 = 2;
    pub const WS: u8 = 3;
    pub const SACK_PERMITTED: u8 = 4;
    pub const TIMESTAMP: u8 = 8;
}

/// One TCP option.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TcpOption<'a> {
    /// End of option list (kind 0).
    EndOfList,
    /// No-operation (kind 1).
    NoOperation,
    /// Maximum segment size (kind 2).
    MaxSegmentSize(u16),
    /// Window scale shift count (kind 3).
    WindowScale(u8),
    /// SACK permitted (kind 4).
    SackPermitted,
    /// Timestamps (kind 8).
    Timestamp {
        /// TSval.
        tsval: u32,
        /// TSecr.
        tsecr: u32,
    },
    /// Any other option; `data` excludes the kind and length bytes.
    Unknown {
        /// Option kind.
        kind: u8,
        /// Option body.
        data: &'a [u8],
    },
}

impl TcpOption<'_> {
    /// Bytes this option takes on the wire.
    #[inline]
    pub fn buffer_len(&self) -> usize {
        match self {
            TcpOption::EndOfList | TcpOption::NoOperation => 1,
            TcpOption::MaxSegmentSize(_) => 4,
            TcpOption::WindowScale(_) => 3,
            TcpOption::SackPermitted => 2,
            TcpOption::Timestamp { .. } => 10,
            TcpOption::Unknown { data, .. } => 2 + data.len(),
        }
    }
}

/// Iterates over TCP options (see the module docs for the rules).
#[derive(Debug, Clone)]
pub struct TcpOptionIter<'a> {
    data: &'a [u8],
}

impl<'a> TcpOptionIter<'a> {
    /// Iterates over `options` (the bytes between the fixed header and the data offset).
    #[inline]
    pub fn new(options: &'a [u8]) -> TcpOptionIter<'a> {
        TcpOptionIter { data: options }
    }

    fn parse_one(&mut self) -> Result<TcpOption<'a>, WireError> {
        let data = self.data;
        let kind = data.first().copied().unwrap_or(opt::END);
        match kind {
            opt::END => {
                self.data = &[];
                return Ok(TcpOption::EndOfList);
            }
            opt::NOP => {
                self.data = tail(data, 1);
                return Ok(TcpOption::NoOperation);
            }
            _ => {}
        }
        let len = usize::from(*data.get(1).ok_or(WireError::Truncated)?);
        if len < 2 {
            return Err(WireError::Malformed);
        }
        let body = data.get(2..len).ok_or(WireError::Truncated)?;
        self.data = tail(data, len);
        let expect = |n: usize| {
            if len == n {
                Ok(())
            } else {
                Err(WireError::Malformed)
            }
        };
        Ok(match kind {
            opt::MSS => {
                expect(4)?;
                TcpOption::MaxSegmentSize(get_u16(body, 0))
            }
            opt::WS => {
                expect(3)?;
                TcpOption::WindowScale(body.first().copied().unwrap_or(0))
            }
            opt::SACK_PERMITTED => {
                expect(2)?;
                TcpOption::SackPermitted
            }
            opt::TIMESTAMP => {
                expect(10)?;
                TcpOption::Timestamp {
                    tsval: get_u32(body, 0),
                    tsecr: get_u32(body, 4),
                }
            }
            _ => TcpOption::Unknown { kind, data: body },
        })
    }
}

impl<'a> Iterator for TcpOptionIter<'a> {
    type Item = Result<TcpOption<'a>, WireError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.data.is_empty() {
            return None;
        }
        let result = self.parse_one();
        if result.is_err() {
            self.data = &[];
        }
        Some(result)
    }
}

/// The parsed TCP header with the options the data path uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TcpRepr {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Sequence number.
    pub seq_number: u32,
    /// Acknowledgment number.
    pub ack_number: u32,
    /// Flags.
    pub flags: TcpFlags,
    /// Window size (unscaled).
    pub window_len: u16,
    /// Urgent pointer.
    pub urgent_at: u16,
    /// MSS option.
    pub max_seg_size: Option<u16>,
    /// Window scale option.
    pub window_scale: Option<u8>,
    /// SACK-permitted option.
    pub sack_permitted: bool,
    /// Timestamps option (TSval, TSecr).
    pub timestamp: Option<(u32, u32)>,
}

impl TcpRepr {
    /// Parses the header and options (`Malformed`/`Truncated` from the option walk); the
    /// checksum is not verified.
    pub fn parse<T: AsRef<[u8]>>(packet: &TcpPacket<T>) -> Result<TcpRepr, WireError> {
        packet.check_len()?;
        let mut repr = TcpRepr {
            src_port: packet.src_port(),
            dst_port: packet.dst_port(),
            seq_number: packet.seq_number(),
            ack_number: packet.ack_number(),
            flags: packet.flags(),
            window_len: packet.window_len(),
            urgent_at: packet.urgent_at(),
            max_seg_size: None,
            window_scale: None,
            sack_permitted: false,
            timestamp: None,
        };
        for option in packet.options_iter() {
            match option? {
                TcpOption::MaxSegmentSize(v) => repr.max_seg_size = Some(v),
                TcpOption::WindowScale(v) => repr.window_scale = Some(v),
                TcpOption::SackPermitted => repr.sack_permitted = true,
                TcpOption::Timestamp { tsval, tsecr } => repr.timestamp = Some((tsval, tsecr)),
                TcpOption::EndOfList | TcpOption::NoOperation | TcpOption::Unknown { .. } => {}
            }
        }
        Ok(repr)
    }

    /// Header length `emit` writes: 20 plus 4 per MSS, window scale and SACK-permitted option
    /// and 12 for timestamps (each option NOP-padded to 4 bytes).
    #[inline]
    pub fn header_len(&self) -> usize {
        HEADER_LEN
            + if self.max_seg_size.is_some() { 4 } else { 0 }
            + if self.window_scale.is_some() { 4 } else { 0 }
            + if self.sack_permitted { 4 } else { 0 }
            + if self.timestamp.is_some() { 12 } else { 0 }
    }

    /// Bytes written by [`emit`](Self::emit): the header with options.
    #[inline]
    pub fn buffer_len(&self) -> usize {
        self.header_len()
    }

    /// Writes the header and options and a zero checksum: write the payload after
    /// `header_len()`, then call `fill_checksum_v4`/`_v6` over the segment. `Err(Truncated)`
    /// (nothing written) if the buffer is shorter than `header_len()`.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        packet: &mut TcpPacket<T>,
    ) -> Result<(), WireError> {
        let header_len = self.header_len();
        if packet.buffer.as_ref().len() < header_len {
            return Err(WireError::Truncated);
        }
        packet.set_src_port(self.src_port);
        packet.set_dst_port(self.dst_port);
        packet.set_seq_number(self.seq_number);
        packet.set_ack_number(self.ack_number);
        set_u16(packet.buffer.as_mut(), field::FLAGS.start, 0);
        packet.set_header_len(header_len);
        packet.set_flags(self.flags);
        packet.set_window_len(self.window_len);
        packet.set_checksum(0);
        packet.set_urgent_at(self.urgent_at);
        let buf = packet.buffer.as_mut();
        let mut at = HEADER_LEN;
        if let Some(mss) = self.max_seg_size {
            set_u8(buf, at, opt::MSS);
            set_u8(buf, at + 1, 4);
            set_u16(buf, at + 2, mss);
            at += 4;
        }
        if let Some(shift) = self.window_scale {
            set_u8(buf, at, opt::NOP);
            set_u8(buf, at + 1, opt::WS);
            set_u8(buf, at + 2, 3);
            set_u8(buf, at + 3, shift);
            at += 4;
        }
        if self.sack_permitted {
            set_u8(buf, at, opt::NOP);
            set_u8(buf, at + 1, opt::NOP);
            set_u8(buf, at + 2, opt::SACK_PERMITTED);
            set_u8(buf, at + 3, 2);
            at += 4;
        }
        if let Some((tsval, tsecr)) = self.timestamp {
            set_u8(buf, at, opt::NOP);
            set_u8(buf, at + 1, opt::NOP);
            set_u8(buf, at + 2, opt::TIMESTAMP);
            set_u8(buf, at + 3, 10);
            set_u32(buf, at + 4, tsval);
            set_u32(buf, at + 8, tsecr);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A Linux SYN from 10.0.0.1:40000 to 93.184.216.34:80 with the usual options: MSS 1460,
    /// SACK permitted, timestamps (12345, 0), NOP, window scale 7.
    const SYN: [u8; 40] = [
        0x9c, 0x40, 0x00, 0x50, // ports 40000 -> 80
        0x01, 0x02, 0x03, 0x04, // seq
        0x00, 0x00, 0x00, 0x00, // ack
        0xa0, 0x02, 0xfa, 0xf0, // data offset 10, SYN, window 64240
        0x3c, 0x64, 0x00, 0x00, // checksum, urgent
        0x02, 0x04, 0x05, 0xb4, // MSS 1460
        0x04, 0x02, // SACK permitted
        0x08, 0x0a, 0x00, 0x00, 0x30, 0x39, 0x00, 0x00, 0x00, 0x00, // timestamps
        0x01, // NOP
        0x03, 0x03, 0x07, // window scale 7
    ];

    fn addrs() -> (Ipv4Addr, Ipv4Addr) {
        (Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(93, 184, 216, 34))
    }

    fn syn_repr() -> TcpRepr {
        TcpRepr {
            src_port: 40000,
            dst_port: 80,
            seq_number: 0x0102_0304,
            ack_number: 0,
            flags: TcpFlags::SYN,
            window_len: 64240,
            urgent_at: 0,
            max_seg_size: Some(1460),
            window_scale: Some(7),
            sack_permitted: true,
            timestamp: Some((12345, 0)),
        }
    }

    #[test]
    fn deconstruct() {
        let p = TcpPacket::new_checked(&SYN[..]).unwrap();
        assert_eq!((p.src_port(), p.dst_port()), (40000, 80));
        assert_eq!(p.seq_number(), 0x0102_0304);
        assert_eq!(p.ack_number(), 0);
        assert_eq!(p.header_len(), 40);
        assert_eq!(p.flags(), TcpFlags::SYN);
        assert!(p.syn() && !p.ack() && !p.fin() && !p.rst());
        assert_eq!(p.window_len(), 64240);
        assert_eq!(p.checksum(), 0x3c64);
        assert_eq!(p.urgent_at(), 0);
        assert!(p.payload().is_empty());
        let (s, d) = addrs();
        assert!(p.verify_checksum_v4(s, d));
        let options: Vec<_> = p.options_iter().map(Result::unwrap).collect();
        assert_eq!(
            options,
            [
                TcpOption::MaxSegmentSize(1460),
                TcpOption::SackPermitted,
                TcpOption::Timestamp {
                    tsval: 12345,
                    tsecr: 0
                },
                TcpOption::NoOperation,
                TcpOption::WindowScale(7),
            ]
        );
    }

    #[test]
    fn construct() {
        let mut buf = [0u8; 40];
        let mut p = TcpPacket::new_unchecked(&mut buf[..]);
        p.set_src_port(40000);
        p.set_dst_port(80);
        p.set_seq_number(0x0102_0304);
        p.set_ack_number(0);
        p.set_header_len(40);
        p.set_flags(TcpFlags::SYN);
        p.set_window_len(64240);
        p.set_urgent_at(0);
        p.options_mut().copy_from_slice(&SYN[20..]);
        let (s, d) = addrs();
        p.fill_checksum_v4(s, d);
        assert_eq!(buf, SYN);
    }

    #[test]
    fn parse_and_emit() {
        let p = TcpPacket::new_checked(&SYN[..]).unwrap();
        let repr = TcpRepr::parse(&p).unwrap();
        assert_eq!(repr, syn_repr());
        // Emit uses its own (NOP-aligned) option layout: same options, 44 bytes.
        let mut buf = vec![0u8; repr.buffer_len() + 3];
        let mut out = TcpPacket::new_unchecked(&mut buf[..]);
        repr.emit(&mut out).unwrap();
        out.payload_mut().copy_from_slice(b"abc");
        let (s, d) = addrs();
        out.fill_checksum_v4(s, d);
        assert_eq!(out.header_len(), 44);
        assert_eq!(out.payload(), b"abc");
        assert!(out.verify_checksum_v4(s, d));
        assert_eq!(TcpRepr::parse(&out).unwrap(), repr);
    }

    #[test]
    fn clamp_mss_updates_checksum() {
        let (s, d) = addrs();
        let mut buf = SYN;
        let mut p = TcpPacket::new_checked(&mut buf[..]).unwrap();
        assert!(!p.clamp_mss(1500));
        assert!(p.clamp_mss(1220));
        assert_eq!(TcpRepr::parse(&p).unwrap().max_seg_size, Some(1220));
        assert!(p.verify_checksum_v4(s, d));
        // MSS at an odd offset (after a NOP).
        let mut odd = [0u8; 28];
        let mut p = TcpPacket::new_unchecked(&mut odd[..]);
        p.set_header_len(28);
        p.set_flags(TcpFlags::SYN);
        p.options_mut()
            .copy_from_slice(&[0x01, 0x02, 0x04, 0x05, 0xb4, 0x01, 0x01, 0x00]);
        p.fill_checksum_v4(s, d);
        assert!(p.clamp_mss(1400));
        assert!(p.verify_checksum_v4(s, d));
        assert_eq!(TcpRepr::parse(&p).unwrap().max_seg_size, Some(1400));
    }

    #[test]
    fn malformed() {
        assert_eq!(
            TcpPacket::new_checked(&SYN[..19]).unwrap_err(),
            WireError::Truncated
        );
        let mut off = SYN;
        off[12] = 0x40; // data offset 4
        assert_eq!(
            TcpPacket::new_checked(&off[..]).unwrap_err(),
            WireError::BadHeaderLen
        );
        // Data offset 10 but only 39 bytes.
        assert_eq!(
            TcpPacket::new_checked(&SYN[..39]).unwrap_err(),
            WireError::Truncated
        );
        // Option length 1.
        let mut one = SYN;
        one[21] = 1;
        let p = TcpPacket::new_checked(&one[..]).unwrap();
        assert_eq!(TcpRepr::parse(&p), Err(WireError::Malformed));
        // MSS with length 3.
        let mut mss = SYN;
        mss[21] = 3;
        let p = TcpPacket::new_checked(&mss[..]).unwrap();
        assert_eq!(TcpRepr::parse(&p), Err(WireError::Malformed));
        // Option running past the header.
        let mut long = SYN;
        long[37] = 0x03;
        long[38] = 0x05;
        let p = TcpPacket::new_checked(&long[..]).unwrap();
        assert_eq!(TcpRepr::parse(&p), Err(WireError::Truncated));
        let mut it = TcpOptionIter::new(&[0x02]);
        assert_eq!(it.next(), Some(Err(WireError::Truncated)));
        assert_eq!(it.next(), None);
        // End of option list stops the walk.
        let opts: Vec<_> = TcpOptionIter::new(&[0x01, 0x00, 0x02, 0x04]).collect();
        assert_eq!(opts, [Ok(TcpOption::NoOperation), Ok(TcpOption::EndOfList)]);
        // Emit into a short buffer.
        let mut short = [0u8; 43];
        assert_eq!(
            syn_repr().emit(&mut TcpPacket::new_unchecked(&mut short[..])),
            Err(WireError::Truncated)
        );
        assert_eq!(short, [0u8; 43]);
    }

    fn arb_repr() -> impl Strategy<Value = TcpRepr> {
        (
            any::<(u16, u16, u32, u32)>(),
            0u16..=TcpFlags::MASK,
            any::<(u16, u16)>(),
            proptest::option::of(any::<u16>()),
            proptest::option::of(any::<u8>()),
            any::<bool>(),
            proptest::option::of(any::<(u32, u32)>()),
        )
            .prop_map(
                |((sp, dp, seq, ack), flags, (win, urg), mss, ws, sack, ts)| TcpRepr {
                    src_port: sp,
                    dst_port: dp,
                    seq_number: seq,
                    ack_number: ack,
                    flags: TcpFlags(flags),
                    window_len: win,
                    urgent_at: urg,
                    max_seg_size: mss,
                    window_scale: ws,
                    sack_permitted: sack,
                    timestamp: ts,
                },
            )
    }

    proptest! {
        #[test]
        fn parse_emit_round_trip(repr in arb_repr(), payload in proptest::collection::vec(any::<u8>(), 0..32)) {
            let mut buf = vec![0u8; repr.buffer_len() + payload.len()];
            let mut p = TcpPacket::new_unchecked(&mut buf[..]);
            repr.emit(&mut p).unwrap();
            p.payload_mut().copy_from_slice(&payload);
            let p = TcpPacket::new_checked(&buf[..]).unwrap();
            prop_assert_eq!(TcpRepr::parse(&p).unwrap(), repr);
            prop_assert_eq!(p.payload(), &payload[..]);
        }

        #[test]
        fn clamp_matches_full_checksum(repr in arb_repr(), max in any::<u16>(), s6 in any::<[u8; 16]>(), d6 in any::<[u8; 16]>()) {
            let (s6, d6) = (Ipv6Addr::from(s6), Ipv6Addr::from(d6));
            let mut buf = vec![0u8; repr.buffer_len()];
            let mut p = TcpPacket::new_unchecked(&mut buf[..]);
            repr.emit(&mut p).unwrap();
            p.fill_checksum_v6(&s6, &d6);
            let changed = p.clamp_mss(max);
            prop_assert_eq!(changed, repr.max_seg_size.is_some_and(|m| m > max));
            prop_assert!(p.verify_checksum_v6(&s6, &d6));
        }

        #[test]
        fn option_walk_never_panics(data in proptest::collection::vec(any::<u8>(), 0..40)) {
            let mut steps = 0;
            for option in TcpOptionIter::new(&data) {
                steps += 1;
                let _ = option;
            }
            prop_assert!(steps <= data.len());
        }

        #[test]
        fn any_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..64)) {
            let u = TcpPacket::new_unchecked(&data[..]);
            let _ = (u.options(), u.payload(), u.flags());
            if let Ok(p) = TcpPacket::new_checked(&data[..]) {
                let _ = TcpRepr::parse(&p);
                prop_assert_eq!(p.options().len() + HEADER_LEN, p.header_len());
            }
        }
    }
}
