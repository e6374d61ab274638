//! ICMP for IPv6 (RFC 4443).
//!
//! The view's buffer is the whole ICMPv6 message (the upper-layer payload of the IPv6 packet):
//! type, code, checksum, four type-specific bytes, then the message body. The checksum covers
//! the IPv6 pseudo-header (RFC 4443 section 2.3, RFC 8200 section 8.1) and the whole buffer, so
//! [`Icmpv6Packet::verify_checksum`], [`Icmpv6Packet::fill_checksum`], [`Icmpv6Repr::parse`]
//! and [`Icmpv6Repr::emit`] take the source and destination addresses.
//!
//! [`Icmpv6Repr`] covers echo (section 4), the four error messages (section 3; `data` is the
//! invoking packet's prefix as raw bytes) and Neighbor Discovery (RFC 4861, parsed by
//! [`super::ndisc`]); other types are `Unsupported`. Echo messages with a non-zero code are
//! `Malformed`.
//!
//! Invariant: after [`Icmpv6Packet::new_checked`] the buffer holds the 8-byte header; no accessor
//! panics in any case.

use std::net::Ipv6Addr;

use super::checksum;
use super::ndisc::NdiscRepr;
use super::{
    get_u16, get_u32, get_u8, set_u16, set_u32, set_u8, tail, tail_mut, IpProtocol, WireError,
};

wire_enum! {
    /// ICMPv6 message types (IANA "ICMPv6 Type Numbers").
    pub enum Icmpv6Message(u8) {
        /// Destination unreachable.
        DstUnreachable = 1,
        /// Packet too big.
        PktTooBig = 2,
        /// Time exceeded.
        TimeExceeded = 3,
        /// Parameter problem.
        ParamProblem = 4,
        /// Echo request.
        EchoRequest = 128,
        /// Echo reply.
        EchoReply = 129,
        /// Multicast listener query (RFC 2710).
        MldQuery = 130,
        /// Multicast listener report (RFC 2710).
        MldReport = 131,
        /// Multicast listener done (RFC 2710).
        MldDone = 132,
        /// Router solicitation (RFC 4861).
        RouterSolicit = 133,
        /// Router advertisement (RFC 4861).
        RouterAdvert = 134,
        /// Neighbor solicitation (RFC 4861).
        NeighborSolicit = 135,
        /// Neighbor advertisement (RFC 4861).
        NeighborAdvert = 136,
        /// Redirect (RFC 4861).
        Redirect = 137,
        /// Version 2 multicast listener report (RFC 3810).
        MldReportV2 = 143,
    }
}

impl Icmpv6Message {
    /// True for error messages (types 0..=127, RFC 4443 section 2.1).
    #[inline]
    pub fn is_error(self) -> bool {
        u8::from(self) < 128
    }
}

wire_enum! {
    /// Codes of destination unreachable (RFC 4443 section 3.1).
    pub enum Icmpv6DstUnreachable(u8) {
        /// No route to destination.
        NoRoute = 0,
        /// Communication administratively prohibited.
        AdminProhibit = 1,
        /// Beyond scope of source address.
        BeyondScope = 2,
        /// Address unreachable.
        AddrUnreachable = 3,
        /// Port unreachable.
        PortUnreachable = 4,
        /// Source address failed ingress/egress policy.
        FailedPolicy = 5,
        /// Reject route to destination.
        RejectRoute = 6,
    }
}

wire_enum! {
    /// Codes of time exceeded (RFC 4443 section 3.3).
    pub enum Icmpv6TimeExceeded(u8) {
        /// Hop limit exceeded in transit.
        HopLimitExceeded = 0,
        /// Fragment reassembly time exceeded.
        FragReassemblyExceeded = 1,
    }
}

wire_enum! {
    /// Codes of parameter problem (RFC 4443 section 3.4).
    pub enum Icmpv6ParamProblem(u8) {
        /// Erroneous header field encountered.
        ErroneousHeaderField = 0,
        /// Unrecognized Next Header type encountered.
        UnrecognizedNextHeader = 1,
        /// Unrecognized IPv6 option encountered.
        UnrecognizedOption = 2,
    }
}

mod field {
    use core::ops::Range;
    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: Range<usize> = 2..4;
    pub const ECHO_IDENT: Range<usize> = 4..6;
    pub const ECHO_SEQNO: Range<usize> = 6..8;
    pub const MTU: Range<usize> = 4..8;
    pub const POINTER: Range<usize> = 4..8;
    pub const UNUSED: Range<usize> = 4..8;
    pub const DATA: usize = 8;
}

/// Length of the ICMPv6 header (including the four type-specific bytes).
pub const HEADER_LEN: usize = field::DATA;

/// A read/write view of an ICMPv6 message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Icmpv6Packet<T: AsRef<[u8]>> {
    pub(super) buffer: T,
}

impl<T: AsRef<[u8]>> Icmpv6Packet<T> {
    /// Wraps `buffer` without any check (accessors still never panic).
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Icmpv6Packet<T> {
        Icmpv6Packet { buffer }
    }

    /// Wraps `buffer` after [`check_len`](Self::check_len).
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Icmpv6Packet<T>, WireError> {
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
    pub fn msg_type(&self) -> Icmpv6Message {
        Icmpv6Message::from(get_u8(self.buffer.as_ref(), field::TYPE))
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

    /// MTU of a packet-too-big message.
    #[inline]
    pub fn pkt_too_big_mtu(&self) -> u32 {
        get_u32(self.buffer.as_ref(), field::MTU.start)
    }

    /// Pointer of a parameter-problem message.
    #[inline]
    pub fn param_problem_ptr(&self) -> u32 {
        get_u32(self.buffer.as_ref(), field::POINTER.start)
    }

    /// The bytes after the 8-byte header.
    #[inline]
    pub fn data(&self) -> &[u8] {
        tail(self.buffer.as_ref(), field::DATA)
    }

    /// True if pseudo-header plus message checksum to zero.
    #[inline]
    pub fn verify_checksum(&self, src: &Ipv6Addr, dst: &Ipv6Addr) -> bool {
        let data = self.buffer.as_ref();
        let ph = checksum::pseudo_header_v6(src, dst, IpProtocol::Icmpv6, data.len() as u32);
        checksum::combine(ph, checksum::sum(data)) == 0xffff
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Icmpv6Packet<T> {
    /// Sets the message type.
    #[inline]
    pub fn set_msg_type(&mut self, value: Icmpv6Message) {
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

    /// Sets the MTU of a packet-too-big message.
    #[inline]
    pub fn set_pkt_too_big_mtu(&mut self, value: u32) {
        set_u32(self.buffer.as_mut(), field::MTU.start, value)
    }

    /// Sets the pointer of a parameter-problem message.
    #[inline]
    pub fn set_param_problem_ptr(&mut self, value: u32) {
        set_u32(self.buffer.as_mut(), field::POINTER.start, value)
    }

    /// Clears the four type-specific header bytes.
    #[inline]
    pub fn clear_rest_of_header(&mut self) {
        set_u32(self.buffer.as_mut(), field::UNUSED.start, 0)
    }

    /// Recomputes the checksum over the pseudo-header and the whole buffer.
    #[inline]
    pub fn fill_checksum(&mut self, src: &Ipv6Addr, dst: &Ipv6Addr) {
        self.set_checksum(0);
        let data = self.buffer.as_ref();
        let ph = checksum::pseudo_header_v6(src, dst, IpProtocol::Icmpv6, data.len() as u32);
        let c = !checksum::combine(ph, checksum::sum(data));
        self.set_checksum(c)
    }

    /// Mutable bytes after the header.
    #[inline]
    pub fn data_mut(&mut self) -> &mut [u8] {
        tail_mut(self.buffer.as_mut(), field::DATA)
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for Icmpv6Packet<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

/// A parsed ICMPv6 message; `data` borrows from the packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Icmpv6Repr<'a> {
    /// Echo request (type 128, code 0).
    EchoRequest {
        /// Identifier.
        ident: u16,
        /// Sequence number.
        seq_no: u16,
        /// Echo data.
        data: &'a [u8],
    },
    /// Echo reply (type 129, code 0).
    EchoReply {
        /// Identifier.
        ident: u16,
        /// Sequence number.
        seq_no: u16,
        /// Echo data.
        data: &'a [u8],
    },
    /// Destination unreachable (type 1).
    DstUnreachable {
        /// Code.
        reason: Icmpv6DstUnreachable,
        /// Prefix of the invoking packet.
        data: &'a [u8],
    },
    /// Packet too big (type 2).
    PktTooBig {
        /// MTU of the next-hop link.
        mtu: u32,
        /// Prefix of the invoking packet.
        data: &'a [u8],
    },
    /// Time exceeded (type 3).
    TimeExceeded {
        /// Code.
        reason: Icmpv6TimeExceeded,
        /// Prefix of the invoking packet.
        data: &'a [u8],
    },
    /// Parameter problem (type 4).
    ParamProblem {
        /// Code.
        reason: Icmpv6ParamProblem,
        /// Offset of the error in the invoking packet.
        pointer: u32,
        /// Prefix of the invoking packet.
        data: &'a [u8],
    },
    /// Neighbor Discovery (types 133..=136).
    Ndisc(NdiscRepr),
}

impl<'a> Icmpv6Repr<'a> {
    /// Parses a message: length, checksum with the pseudo-header (`BadChecksum`), echo code
    /// (`Malformed`), Neighbor Discovery validation (see [`NdiscRepr::parse`]), types without a
    /// variant (`Unsupported`).
    pub fn parse<T: AsRef<[u8]>>(
        src: &Ipv6Addr,
        dst: &Ipv6Addr,
        packet: &'a Icmpv6Packet<T>,
    ) -> Result<Icmpv6Repr<'a>, WireError> {
        packet.check_len()?;
        if !packet.verify_checksum(src, dst) {
            return Err(WireError::BadChecksum);
        }
        let code = packet.msg_code();
        let data = packet.data();
        match packet.msg_type() {
            Icmpv6Message::EchoRequest | Icmpv6Message::EchoReply if code != 0 => {
                Err(WireError::Malformed)
            }
            Icmpv6Message::EchoRequest => Ok(Icmpv6Repr::EchoRequest {
                ident: packet.echo_ident(),
                seq_no: packet.echo_seq_no(),
                data,
            }),
            Icmpv6Message::EchoReply => Ok(Icmpv6Repr::EchoReply {
                ident: packet.echo_ident(),
                seq_no: packet.echo_seq_no(),
                data,
            }),
            Icmpv6Message::DstUnreachable => Ok(Icmpv6Repr::DstUnreachable {
                reason: Icmpv6DstUnreachable::from(code),
                data,
            }),
            Icmpv6Message::PktTooBig => Ok(Icmpv6Repr::PktTooBig {
                mtu: packet.pkt_too_big_mtu(),
                data,
            }),
            Icmpv6Message::TimeExceeded => Ok(Icmpv6Repr::TimeExceeded {
                reason: Icmpv6TimeExceeded::from(code),
                data,
            }),
            Icmpv6Message::ParamProblem => Ok(Icmpv6Repr::ParamProblem {
                reason: Icmpv6ParamProblem::from(code),
                pointer: packet.param_problem_ptr(),
                data,
            }),
            Icmpv6Message::RouterSolicit
            | Icmpv6Message::RouterAdvert
            | Icmpv6Message::NeighborSolicit
            | Icmpv6Message::NeighborAdvert => NdiscRepr::parse(packet).map(Icmpv6Repr::Ndisc),
            _ => Err(WireError::Unsupported),
        }
    }

    /// Bytes written by [`emit`](Self::emit).
    #[inline]
    pub fn buffer_len(&self) -> usize {
        match self {
            Icmpv6Repr::EchoRequest { data, .. }
            | Icmpv6Repr::EchoReply { data, .. }
            | Icmpv6Repr::DstUnreachable { data, .. }
            | Icmpv6Repr::PktTooBig { data, .. }
            | Icmpv6Repr::TimeExceeded { data, .. }
            | Icmpv6Repr::ParamProblem { data, .. } => HEADER_LEN + data.len(),
            Icmpv6Repr::Ndisc(ndisc) => ndisc.buffer_len(),
        }
    }

    /// Writes the message and its checksum. The buffer should be exactly `buffer_len()` long
    /// (the checksum covers all of it); `Err(Truncated)` (nothing written) if shorter.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        src: &Ipv6Addr,
        dst: &Ipv6Addr,
        packet: &mut Icmpv6Packet<T>,
    ) -> Result<(), WireError> {
        if packet.buffer.as_ref().len() < self.buffer_len() {
            return Err(WireError::Truncated);
        }
        let (kind, code, data) = match *self {
            Icmpv6Repr::EchoRequest {
                ident,
                seq_no,
                data,
            } => {
                packet.set_echo_ident(ident);
                packet.set_echo_seq_no(seq_no);
                (Icmpv6Message::EchoRequest, 0, data)
            }
            Icmpv6Repr::EchoReply {
                ident,
                seq_no,
                data,
            } => {
                packet.set_echo_ident(ident);
                packet.set_echo_seq_no(seq_no);
                (Icmpv6Message::EchoReply, 0, data)
            }
            Icmpv6Repr::DstUnreachable { reason, data } => {
                packet.clear_rest_of_header();
                (Icmpv6Message::DstUnreachable, reason.into(), data)
            }
            Icmpv6Repr::PktTooBig { mtu, data } => {
                packet.set_pkt_too_big_mtu(mtu);
                (Icmpv6Message::PktTooBig, 0, data)
            }
            Icmpv6Repr::TimeExceeded { reason, data } => {
                packet.clear_rest_of_header();
                (Icmpv6Message::TimeExceeded, reason.into(), data)
            }
            Icmpv6Repr::ParamProblem {
                reason,
                pointer,
                data,
            } => {
                packet.set_param_problem_ptr(pointer);
                (Icmpv6Message::ParamProblem, reason.into(), data)
            }
            Icmpv6Repr::Ndisc(ndisc) => {
                ndisc.emit(packet)?;
                packet.fill_checksum(src, dst);
                return Ok(());
            }
        };
        packet.set_msg_type(kind);
        packet.set_msg_code(code);
        if let Some(dst) = packet.data_mut().get_mut(..data.len()) {
            dst.copy_from_slice(data);
        }
        packet.fill_checksum(src, dst);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Echo request 2001:db8::1 -> 2001:db8::2, ident 0x1234, seq 1, data "abcd".
    const ECHO_REQUEST: [u8; 12] = [
        0x80, 0x00, 0x4d, 0x48, // type 128, code 0, checksum
        0x12, 0x34, 0x00, 0x01, // ident, seq
        b'a', b'b', b'c', b'd',
    ];

    fn addrs() -> (Ipv6Addr, Ipv6Addr) {
        (
            "2001:db8::1".parse().unwrap(),
            "2001:db8::2".parse().unwrap(),
        )
    }

    #[test]
    fn deconstruct() {
        let (src, dst) = addrs();
        let p = Icmpv6Packet::new_checked(&ECHO_REQUEST[..]).unwrap();
        assert_eq!(p.msg_type(), Icmpv6Message::EchoRequest);
        assert!(!p.msg_type().is_error());
        assert_eq!(p.msg_code(), 0);
        assert_eq!(p.checksum(), 0x4d48);
        assert_eq!((p.echo_ident(), p.echo_seq_no()), (0x1234, 1));
        assert_eq!(p.data(), b"abcd");
        assert!(p.verify_checksum(&src, &dst));
        assert!(!p.verify_checksum(&dst, &"2001:db8::3".parse().unwrap()));
    }

    #[test]
    fn construct() {
        let (src, dst) = addrs();
        let mut buf = [0u8; 12];
        let mut p = Icmpv6Packet::new_unchecked(&mut buf[..]);
        p.set_msg_type(Icmpv6Message::EchoRequest);
        p.set_msg_code(0);
        p.set_echo_ident(0x1234);
        p.set_echo_seq_no(1);
        p.data_mut().copy_from_slice(b"abcd");
        p.fill_checksum(&src, &dst);
        assert_eq!(buf, ECHO_REQUEST);
    }

    #[test]
    fn parse_and_emit() {
        let (src, dst) = addrs();
        let p = Icmpv6Packet::new_checked(&ECHO_REQUEST[..]).unwrap();
        let repr = Icmpv6Repr::parse(&src, &dst, &p).unwrap();
        assert_eq!(
            repr,
            Icmpv6Repr::EchoRequest {
                ident: 0x1234,
                seq_no: 1,
                data: b"abcd"
            }
        );
        let mut buf = [0u8; 12];
        repr.emit(&src, &dst, &mut Icmpv6Packet::new_unchecked(&mut buf[..]))
            .unwrap();
        assert_eq!(buf, ECHO_REQUEST);
    }

    #[test]
    fn packet_too_big() {
        let (src, dst) = addrs();
        let invoking = [0x60u8, 0, 0, 0, 0, 0, 0x3a, 0x40];
        let repr = Icmpv6Repr::PktTooBig {
            mtu: 1280,
            data: &invoking,
        };
        let mut buf = [0u8; 16];
        repr.emit(&src, &dst, &mut Icmpv6Packet::new_unchecked(&mut buf[..]))
            .unwrap();
        assert_eq!(&buf[..2], &[0x02, 0x00]);
        assert_eq!(&buf[4..8], &[0x00, 0x00, 0x05, 0x00]);
        let p = Icmpv6Packet::new_checked(&buf[..]).unwrap();
        assert!(p.msg_type().is_error());
        assert_eq!(Icmpv6Repr::parse(&src, &dst, &p).unwrap(), repr);
    }

    #[test]
    fn malformed() {
        let (src, dst) = addrs();
        assert_eq!(
            Icmpv6Packet::new_checked(&ECHO_REQUEST[..7]).unwrap_err(),
            WireError::Truncated
        );
        let p = Icmpv6Packet::new_checked(&ECHO_REQUEST[..11]).unwrap();
        assert_eq!(
            Icmpv6Repr::parse(&src, &dst, &p),
            Err(WireError::BadChecksum)
        );
        let mut buf = ECHO_REQUEST;
        let mut p = Icmpv6Packet::new_unchecked(&mut buf[..]);
        p.set_msg_code(3);
        p.fill_checksum(&src, &dst);
        assert_eq!(Icmpv6Repr::parse(&src, &dst, &p), Err(WireError::Malformed));
        p.set_msg_type(Icmpv6Message::MldQuery);
        p.set_msg_code(0);
        p.fill_checksum(&src, &dst);
        assert_eq!(
            Icmpv6Repr::parse(&src, &dst, &p),
            Err(WireError::Unsupported)
        );
        let repr = Icmpv6Repr::EchoReply {
            ident: 1,
            seq_no: 1,
            data: b"abc",
        };
        let mut short = [0u8; 10];
        assert_eq!(
            repr.emit(&src, &dst, &mut Icmpv6Packet::new_unchecked(&mut short[..])),
            Err(WireError::Truncated)
        );
        assert_eq!(short, [0u8; 10]);
    }

    fn make_repr(kind: u8, a: u16, b: u16, c: u32, data: &[u8]) -> Icmpv6Repr<'_> {
        match kind {
            0 => Icmpv6Repr::EchoRequest {
                ident: a,
                seq_no: b,
                data,
            },
            1 => Icmpv6Repr::EchoReply {
                ident: a,
                seq_no: b,
                data,
            },
            2 => Icmpv6Repr::DstUnreachable {
                reason: Icmpv6DstUnreachable::from(a as u8),
                data,
            },
            3 => Icmpv6Repr::PktTooBig { mtu: c, data },
            4 => Icmpv6Repr::TimeExceeded {
                reason: Icmpv6TimeExceeded::from(a as u8),
                data,
            },
            _ => Icmpv6Repr::ParamProblem {
                reason: Icmpv6ParamProblem::from(a as u8),
                pointer: c,
                data,
            },
        }
    }

    proptest! {
        #[test]
        fn parse_emit_round_trip(
            kind in 0u8..6,
            a in any::<u16>(),
            b in any::<u16>(),
            c in any::<u32>(),
            data in proptest::collection::vec(any::<u8>(), 0..64),
            src in any::<[u8; 16]>(),
            dst in any::<[u8; 16]>(),
        ) {
            let (src, dst) = (Ipv6Addr::from(src), Ipv6Addr::from(dst));
            let repr = make_repr(kind, a, b, c, &data);
            let mut buf = vec![0u8; repr.buffer_len()];
            repr.emit(&src, &dst, &mut Icmpv6Packet::new_unchecked(&mut buf[..])).unwrap();
            let p = Icmpv6Packet::new_checked(&buf[..]).unwrap();
            prop_assert_eq!(Icmpv6Repr::parse(&src, &dst, &p).unwrap(), repr);
        }

        #[test]
        fn any_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..80), kind in 128u8..140) {
            let mut data = data;
            if let Some(b) = data.first_mut() { *b = kind; }
            let (src, dst) = addrs();
            if let Ok(mut p) = Icmpv6Packet::new_checked(&mut data[..]) {
                p.fill_checksum(&src, &dst);
                let _ = Icmpv6Repr::parse(&src, &dst, &p);
                let _ = (p.pkt_too_big_mtu(), p.param_problem_ptr(), p.data());
            }
        }
    }
}
