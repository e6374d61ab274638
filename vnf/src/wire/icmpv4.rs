//! ICMP for IPv4 (RFC 792), with the Next-Hop MTU of "fragmentation needed" (RFC 1191
//! section 4).
//!
//! The view's buffer is the whole ICMP message (the IPv4 payload): an 8-byte header (type, code,
//! checksum, four type-specific bytes) and the data. The checksum covers the whole buffer.
//! [`Icmpv4Repr`] covers echo request/reply and the three error messages that the data path
//! originates or translates (destination unreachable, time exceeded, parameter problem); other
//! types parse as `Unsupported`. For error messages `data` is the invoking packet's prefix, kept
//! as raw bytes (its IPv4 header can be viewed with [`Ipv4Packet`](super::Ipv4Packet) by the
//! caller). RFC 4884 extension structures are not interpreted.
//!
//! Invariant: after [`Icmpv4Packet::new_checked`] the buffer holds the 8-byte header; no
//! accessor panics in any case.

use super::checksum;
use super::{get_u16, get_u8, set_u16, set_u8, tail, tail_mut, WireError};

wire_enum! {
    /// ICMPv4 message types (IANA "ICMP Type Numbers").
    pub enum Icmpv4Message(u8) {
        /// Echo reply.
        EchoReply = 0,
        /// Destination unreachable.
        DstUnreachable = 3,
        /// Redirect.
        Redirect = 5,
        /// Echo request.
        EchoRequest = 8,
        /// Time exceeded.
        TimeExceeded = 11,
        /// Parameter problem.
        ParamProblem = 12,
    }
}

wire_enum! {
    /// Codes of destination unreachable (RFC 792, RFC 1122 section 3.2.2.1, RFC 1812 5.2.7.1).
    pub enum Icmpv4DstUnreachable(u8) {
        /// Network unreachable.
        NetUnreachable = 0,
        /// Host unreachable.
        HostUnreachable = 1,
        /// Protocol unreachable.
        ProtoUnreachable = 2,
        /// Port unreachable.
        PortUnreachable = 3,
        /// Fragmentation needed and DF set (carries the next-hop MTU).
        FragRequired = 4,
        /// Source route failed.
        SrcRouteFailed = 5,
        /// Destination network unknown.
        DstNetUnknown = 6,
        /// Destination host unknown.
        DstHostUnknown = 7,
        /// Source host isolated.
        SrcHostIsolated = 8,
        /// Network administratively prohibited.
        NetProhibited = 9,
        /// Host administratively prohibited.
        HostProhibited = 10,
        /// Network unreachable for type of service.
        NetUnreachToS = 11,
        /// Host unreachable for type of service.
        HostUnreachToS = 12,
        /// Communication administratively prohibited.
        CommProhibited = 13,
        /// Host precedence violation.
        HostPrecedenceViolation = 14,
        /// Precedence cutoff in effect.
        PrecedenceCutoff = 15,
    }
}

wire_enum! {
    /// Codes of time exceeded (RFC 792).
    pub enum Icmpv4TimeExceeded(u8) {
        /// TTL exceeded in transit.
        TtlExpired = 0,
        /// Fragment reassembly time exceeded.
        FragExpired = 1,
    }
}

mod field {
    use core::ops::Range;
    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: Range<usize> = 2..4;
    pub const ECHO_IDENT: Range<usize> = 4..6;
    pub const ECHO_SEQNO: Range<usize> = 6..8;
    pub const POINTER: usize = 4;
    pub const UNUSED: Range<usize> = 4..6;
    pub const NEXT_HOP_MTU: Range<usize> = 6..8;
    pub const DATA: usize = 8;
}

/// Length of the ICMP header.
pub const HEADER_LEN: usize = field::DATA;

/// A read/write view of an ICMPv4 message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Icmpv4Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Icmpv4Packet<T> {
    /// Wraps `buffer` without any check (accessors still never panic).
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Icmpv4Packet<T> {
        Icmpv4Packet { buffer }
    }

    /// Wraps `buffer` after [`check_len`](Self::check_len).
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Icmpv4Packet<T>, WireError> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// `Err(Truncated)` if the buffer is shorter than the 8-byte header.
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

    /// Message type.
    #[inline]
    pub fn msg_type(&self) -> Icmpv4Message {
        Icmpv4Message::from(get_u8(self.buffer.as_ref(), field::TYPE))
    }

    /// Message code.
    #[inline]
    pub fn msg_code(&self) -> u8 {
        get_u8(self.buffer.as_ref(), field::CODE)
    }

    /// Checksum field.
    #[inline]
    pub fn checksum(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::CHECKSUM.start)
    }

    /// Echo identifier.
    #[inline]
    pub fn echo_ident(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::ECHO_IDENT.start)
    }

    /// Echo sequence number.
    #[inline]
    pub fn echo_seq_no(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::ECHO_SEQNO.start)
    }

    /// Next-hop MTU of "fragmentation needed" (RFC 1191); zero in other messages.
    #[inline]
    pub fn next_hop_mtu(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::NEXT_HOP_MTU.start)
    }

    /// Pointer of a parameter problem.
    #[inline]
    pub fn pointer(&self) -> u8 {
        get_u8(self.buffer.as_ref(), field::POINTER)
    }

    /// The bytes after the 8-byte header.
    #[inline]
    pub fn data(&self) -> &[u8] {
        tail(self.buffer.as_ref(), field::DATA)
    }

    /// True if the whole message checksums to zero.
    #[inline]
    pub fn verify_checksum(&self) -> bool {
        checksum::verify(self.buffer.as_ref())
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Icmpv4Packet<T> {
    /// Sets the message type.
    #[inline]
    pub fn set_msg_type(&mut self, value: Icmpv4Message) {
        set_u8(self.buffer.as_mut(), field::TYPE, value.into())
    }

    /// Sets the message code.
    #[inline]
    pub fn set_msg_code(&mut self, value: u8) {
        set_u8(self.buffer.as_mut(), field::CODE, value)
    }

    /// Sets the checksum field.
    #[inline]
    pub fn set_checksum(&mut self, value: u16) {
        set_u16(self.buffer.as_mut(), field::CHECKSUM.start, value)
    }

    /// Sets the echo identifier.
    #[inline]
    pub fn set_echo_ident(&mut self, value: u16) {
        set_u16(self.buffer.as_mut(), field::ECHO_IDENT.start, value)
    }

    /// Sets the echo sequence number.
    #[inline]
    pub fn set_echo_seq_no(&mut self, value: u16) {
        set_u16(self.buffer.as_mut(), field::ECHO_SEQNO.start, value)
    }

    /// Sets the next-hop MTU (bytes 6..8).
    #[inline]
    pub fn set_next_hop_mtu(&mut self, value: u16) {
        set_u16(self.buffer.as_mut(), field::NEXT_HOP_MTU.start, value)
    }

    /// Sets the parameter-problem pointer (byte 4).
    #[inline]
    pub fn set_pointer(&mut self, value: u8) {
        set_u8(self.buffer.as_mut(), field::POINTER, value)
    }

    /// Clears the four type-specific header bytes.
    #[inline]
    pub fn clear_rest_of_header(&mut self) {
        set_u16(self.buffer.as_mut(), field::UNUSED.start, 0);
        set_u16(self.buffer.as_mut(), field::NEXT_HOP_MTU.start, 0);
    }

    /// Recomputes the checksum over the whole buffer.
    #[inline]
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let c = checksum::checksum(self.buffer.as_ref());
        self.set_checksum(c)
    }

    /// Mutable bytes after the header.
    #[inline]
    pub fn data_mut(&mut self) -> &mut [u8] {
        tail_mut(self.buffer.as_mut(), field::DATA)
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for Icmpv4Packet<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

/// A parsed ICMPv4 message; `data` borrows from the packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Icmpv4Repr<'a> {
    /// Echo request (type 8, code 0).
    EchoRequest {
        /// Identifier.
        ident: u16,
        /// Sequence number.
        seq_no: u16,
        /// Echo data.
        data: &'a [u8],
    },
    /// Echo reply (type 0, code 0).
    EchoReply {
        /// Identifier.
        ident: u16,
        /// Sequence number.
        seq_no: u16,
        /// Echo data.
        data: &'a [u8],
    },
    /// Destination unreachable (type 3).
    DstUnreachable {
        /// Code.
        reason: Icmpv4DstUnreachable,
        /// Next-hop MTU (meaningful for `FragRequired`, else usually 0).
        next_hop_mtu: u16,
        /// Prefix of the invoking packet.
        data: &'a [u8],
    },
    /// Time exceeded (type 11).
    TimeExceeded {
        /// Code.
        reason: Icmpv4TimeExceeded,
        /// Prefix of the invoking packet.
        data: &'a [u8],
    },
    /// Parameter problem (type 12).
    ParamProblem {
        /// Code (0: pointer indicates the error).
        code: u8,
        /// Offending octet in the invoking packet.
        pointer: u8,
        /// Prefix of the invoking packet.
        data: &'a [u8],
    },
}

impl<'a> Icmpv4Repr<'a> {
    /// Parses a message: length, checksum (`BadChecksum`), a non-zero echo code (`Malformed`),
    /// types without a variant (`Unsupported`).
    pub fn parse<T: AsRef<[u8]>>(packet: &'a Icmpv4Packet<T>) -> Result<Icmpv4Repr<'a>, WireError> {
        packet.check_len()?;
        if !packet.verify_checksum() {
            return Err(WireError::BadChecksum);
        }
        let code = packet.msg_code();
        let data = packet.data();
        match packet.msg_type() {
            Icmpv4Message::EchoRequest | Icmpv4Message::EchoReply if code != 0 => {
                Err(WireError::Malformed)
            }
            Icmpv4Message::EchoRequest => Ok(Icmpv4Repr::EchoRequest {
                ident: packet.echo_ident(),
                seq_no: packet.echo_seq_no(),
                data,
            }),
            Icmpv4Message::EchoReply => Ok(Icmpv4Repr::EchoReply {
                ident: packet.echo_ident(),
                seq_no: packet.echo_seq_no(),
                data,
            }),
            Icmpv4Message::DstUnreachable => Ok(Icmpv4Repr::DstUnreachable {
                reason: Icmpv4DstUnreachable::from(code),
                next_hop_mtu: packet.next_hop_mtu(),
                data,
            }),
            Icmpv4Message::TimeExceeded => Ok(Icmpv4Repr::TimeExceeded {
                reason: Icmpv4TimeExceeded::from(code),
                data,
            }),
            Icmpv4Message::ParamProblem => Ok(Icmpv4Repr::ParamProblem {
                code,
                pointer: packet.pointer(),
                data,
            }),
            _ => Err(WireError::Unsupported),
        }
    }

    /// The message's data bytes.
    #[inline]
    pub fn data(&self) -> &'a [u8] {
        match *self {
            Icmpv4Repr::EchoRequest { data, .. }
            | Icmpv4Repr::EchoReply { data, .. }
            | Icmpv4Repr::DstUnreachable { data, .. }
            | Icmpv4Repr::TimeExceeded { data, .. }
            | Icmpv4Repr::ParamProblem { data, .. } => data,
        }
    }

    /// Bytes written by [`emit`](Self::emit): 8 + data length.
    #[inline]
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN + self.data().len()
    }

    /// Writes the message and its checksum. The buffer should be exactly `buffer_len()` long
    /// (the checksum covers the whole buffer); `Err(Truncated)` (nothing written) if shorter.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        packet: &mut Icmpv4Packet<T>,
    ) -> Result<(), WireError> {
        if packet.buffer.as_ref().len() < self.buffer_len() {
            return Err(WireError::Truncated);
        }
        packet.clear_rest_of_header();
        match *self {
            Icmpv4Repr::EchoRequest { ident, seq_no, .. } => {
                packet.set_msg_type(Icmpv4Message::EchoRequest);
                packet.set_msg_code(0);
                packet.set_echo_ident(ident);
                packet.set_echo_seq_no(seq_no);
            }
            Icmpv4Repr::EchoReply { ident, seq_no, .. } => {
                packet.set_msg_type(Icmpv4Message::EchoReply);
                packet.set_msg_code(0);
                packet.set_echo_ident(ident);
                packet.set_echo_seq_no(seq_no);
            }
            Icmpv4Repr::DstUnreachable {
                reason,
                next_hop_mtu,
                ..
            } => {
                packet.set_msg_type(Icmpv4Message::DstUnreachable);
                packet.set_msg_code(reason.into());
                packet.set_next_hop_mtu(next_hop_mtu);
            }
            Icmpv4Repr::TimeExceeded { reason, .. } => {
                packet.set_msg_type(Icmpv4Message::TimeExceeded);
                packet.set_msg_code(reason.into());
            }
            Icmpv4Repr::ParamProblem { code, pointer, .. } => {
                packet.set_msg_type(Icmpv4Message::ParamProblem);
                packet.set_msg_code(code);
                packet.set_pointer(pointer);
            }
        }
        let data = self.data();
        if let Some(dst) = packet.data_mut().get_mut(..data.len()) {
            dst.copy_from_slice(data);
        }
        packet.fill_checksum();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Echo request, ident 0x1234, seq 1, data "abcd" (the ICMP part of a ping to 8.8.8.8).
    const ECHO_REQUEST: [u8; 12] = [
        0x08, 0x00, 0x21, 0x04, // type 8, code 0, checksum 0x2104
        0x12, 0x34, 0x00, 0x01, // ident, seq
        b'a', b'b', b'c', b'd',
    ];

    /// "Fragmentation needed" with next-hop MTU 1400 (RFC 1191), quoting the IPv4 header and 8
    /// bytes of the echo request above as sent from 10.0.2.15 to 8.8.8.8.
    const FRAG_NEEDED: [u8; 36] = [
        0x03, 0x04, 0xbc, 0x4a, // type 3, code 4, checksum
        0x00, 0x00, 0x05, 0x78, // unused, next-hop MTU 1400
        0x45, 0x00, 0x00, 0x20, 0xab, 0xcd, 0x40, 0x00, 0x40, 0x01, 0x72, 0xf1, // IPv4 header
        0x0a, 0x00, 0x02, 0x0f, 0x08, 0x08, 0x08, 0x08, //
        0x08, 0x00, 0x21, 0x04, 0x12, 0x34, 0x00, 0x01, // first 8 bytes of the ICMP message
    ];

    #[test]
    fn deconstruct() {
        let p = Icmpv4Packet::new_checked(&ECHO_REQUEST[..]).unwrap();
        assert_eq!(p.msg_type(), Icmpv4Message::EchoRequest);
        assert_eq!(p.msg_code(), 0);
        assert_eq!(p.checksum(), 0x2104);
        assert_eq!((p.echo_ident(), p.echo_seq_no()), (0x1234, 1));
        assert_eq!(p.data(), b"abcd");
        assert!(p.verify_checksum());

        let p = Icmpv4Packet::new_checked(&FRAG_NEEDED[..]).unwrap();
        assert_eq!(p.msg_type(), Icmpv4Message::DstUnreachable);
        assert_eq!(
            Icmpv4DstUnreachable::from(p.msg_code()),
            Icmpv4DstUnreachable::FragRequired
        );
        assert_eq!(p.next_hop_mtu(), 1400);
        assert!(p.verify_checksum());
    }

    #[test]
    fn construct() {
        let mut buf = [0u8; 12];
        let mut p = Icmpv4Packet::new_unchecked(&mut buf[..]);
        p.set_msg_type(Icmpv4Message::EchoRequest);
        p.set_msg_code(0);
        p.set_echo_ident(0x1234);
        p.set_echo_seq_no(1);
        p.data_mut().copy_from_slice(b"abcd");
        p.fill_checksum();
        assert_eq!(buf, ECHO_REQUEST);
    }

    #[test]
    fn parse_and_emit() {
        let p = Icmpv4Packet::new_checked(&ECHO_REQUEST[..]).unwrap();
        let repr = Icmpv4Repr::parse(&p).unwrap();
        assert_eq!(
            repr,
            Icmpv4Repr::EchoRequest {
                ident: 0x1234,
                seq_no: 1,
                data: b"abcd"
            }
        );
        let mut buf = [0u8; 12];
        repr.emit(&mut Icmpv4Packet::new_unchecked(&mut buf[..]))
            .unwrap();
        assert_eq!(buf, ECHO_REQUEST);

        let p = Icmpv4Packet::new_checked(&FRAG_NEEDED[..]).unwrap();
        let repr = Icmpv4Repr::parse(&p).unwrap();
        assert_eq!(
            repr,
            Icmpv4Repr::DstUnreachable {
                reason: Icmpv4DstUnreachable::FragRequired,
                next_hop_mtu: 1400,
                data: &FRAG_NEEDED[8..],
            }
        );
        let mut buf = [0u8; 36];
        repr.emit(&mut Icmpv4Packet::new_unchecked(&mut buf[..]))
            .unwrap();
        assert_eq!(buf, FRAG_NEEDED);
    }

    #[test]
    fn malformed() {
        assert_eq!(
            Icmpv4Packet::new_checked(&ECHO_REQUEST[..7]).unwrap_err(),
            WireError::Truncated
        );
        // Truncating the data breaks the checksum.
        let p = Icmpv4Packet::new_checked(&ECHO_REQUEST[..10]).unwrap();
        assert_eq!(Icmpv4Repr::parse(&p), Err(WireError::BadChecksum));
        // Echo with a non-zero code.
        let mut buf = ECHO_REQUEST;
        let mut p = Icmpv4Packet::new_unchecked(&mut buf[..]);
        p.set_msg_code(1);
        p.fill_checksum();
        assert_eq!(Icmpv4Repr::parse(&p), Err(WireError::Malformed));
        // Redirect has no Repr variant.
        p.set_msg_type(Icmpv4Message::Redirect);
        p.fill_checksum();
        assert_eq!(Icmpv4Repr::parse(&p), Err(WireError::Unsupported));
        // Emit into a short buffer.
        let repr = Icmpv4Repr::EchoReply {
            ident: 1,
            seq_no: 2,
            data: b"xyz",
        };
        let mut short = [0u8; 10];
        assert_eq!(
            repr.emit(&mut Icmpv4Packet::new_unchecked(&mut short[..])),
            Err(WireError::Truncated)
        );
        assert_eq!(short, [0u8; 10]);
    }

    fn make_repr(kind: u8, a: u16, b: u16, c: u8, data: &[u8]) -> Icmpv4Repr<'_> {
        match kind {
            0 => Icmpv4Repr::EchoRequest {
                ident: a,
                seq_no: b,
                data,
            },
            1 => Icmpv4Repr::EchoReply {
                ident: a,
                seq_no: b,
                data,
            },
            2 => Icmpv4Repr::DstUnreachable {
                reason: Icmpv4DstUnreachable::from(c),
                next_hop_mtu: a,
                data,
            },
            3 => Icmpv4Repr::TimeExceeded {
                reason: Icmpv4TimeExceeded::from(c),
                data,
            },
            _ => Icmpv4Repr::ParamProblem {
                code: c,
                pointer: (b >> 8) as u8,
                data,
            },
        }
    }

    proptest! {
        #[test]
        fn parse_emit_round_trip(
            kind in 0u8..5,
            a in any::<u16>(),
            b in any::<u16>(),
            c in any::<u8>(),
            data in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            let repr = make_repr(kind, a, b, c, &data);
            let mut buf = vec![0u8; repr.buffer_len()];
            repr.emit(&mut Icmpv4Packet::new_unchecked(&mut buf[..])).unwrap();
            let p = Icmpv4Packet::new_checked(&buf[..]).unwrap();
            prop_assert_eq!(Icmpv4Repr::parse(&p).unwrap(), repr);
        }

        #[test]
        fn any_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..40)) {
            if let Ok(p) = Icmpv4Packet::new_checked(&data[..]) {
                let _ = Icmpv4Repr::parse(&p);
                let _ = (p.echo_ident(), p.next_hop_mtu(), p.pointer(), p.data());
            }
        }
    }
}
