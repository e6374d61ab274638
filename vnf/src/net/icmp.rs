//! ICMP and ICMPv6 for the VNF's own addresses: echo replies (RFC 792, RFC 4443 section 4.2),
//! Time Exceeded (RFC 792, RFC 1812 section 5.3.1, RFC 4443 section 3.3) and the rate limit of
//! the errors (RFC 4443 section 2.4 (f), a token bucket, applied to ICMPv4 too).
//!
//! Rules for errors (RFC 1812 4.3.2.7, RFC 4443 2.4 (e)): never in reply to an ICMP/ICMPv6
//! error, to a packet whose source is not a unicast host address, to a packet sent to a multicast
//! or broadcast address, or to a non-first IPv4 fragment. The error quotes as much of the
//! invoking packet as fits in 576 bytes (IPv4) or 1280 bytes (IPv6).
//!
//! Packets are at L3 (IP header first). Replies are written in place; errors into a new frame.

use crate::frame::Frame;
use crate::wire::{
    ipv4, ipv6, Icmpv4Message, Icmpv4Packet, Icmpv4Repr, Icmpv4TimeExceeded, Icmpv6Message,
    Icmpv6Packet, Icmpv6Repr, Icmpv6TimeExceeded, IpProtocol, Ipv4Packet, Ipv4Repr, Ipv6Packet,
    Ipv6Repr,
};
use std::net::{Ipv4Addr, Ipv6Addr};

/// Largest ICMPv4 error datagram (RFC 1812 4.3.2.3).
pub const MAX_ERROR_V4: usize = 576;
/// Largest ICMPv6 error packet (RFC 4443 2.4 (c): the IPv6 minimum MTU).
pub const MAX_ERROR_V6: usize = 1280;

/// A token bucket: `rate` tokens per second, at most `burst` stored. Integer arithmetic in
/// thousandths of a token; `now` in milliseconds.
#[derive(Debug, Clone, Copy)]
pub struct RateLimiter {
    rate: u64,
    cap: u64,
    milli_tokens: u64,
    last: u64,
}

impl RateLimiter {
    /// A full bucket.
    pub fn new(per_sec: u32, burst: u32) -> RateLimiter {
        let cap = u64::from(burst.max(1)) * 1000;
        RateLimiter {
            rate: u64::from(per_sec),
            cap,
            milli_tokens: cap,
            last: 0,
        }
    }

    /// Takes a token if there is one.
    pub fn allow(&mut self, now: u64) -> bool {
        let elapsed = now.saturating_sub(self.last);
        self.last = self.last.max(now);
        // `rate` tokens per 1000 ms = `rate` milli-tokens per ms.
        self.milli_tokens = self
            .milli_tokens
            .saturating_add(elapsed.saturating_mul(self.rate))
            .min(self.cap);
        if self.milli_tokens >= 1000 {
            self.milli_tokens -= 1000;
            true
        } else {
            false
        }
    }
}

/// Why a message to us was not answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EchoError {
    Truncated,
    BadChecksum,
    /// A valid ICMP message that is not an echo request.
    NotEcho,
}

/// Turns a validated IPv4 packet carrying an ICMP echo request into the echo reply, in place:
/// addresses swapped, TTL `ttl`, type 0, checksums recomputed. IP options are kept.
pub fn echo_reply_v4<F: Frame>(pkt: &mut F, ttl: u8) -> Result<(), EchoError> {
    let data = pkt.data_mut();
    let mut ip = Ipv4Packet::new_unchecked(&mut *data);
    let (src, dst) = (ip.src_addr(), ip.dst_addr());
    let icmp = Icmpv4Packet::new_checked(ip.payload_mut()).map_err(|_| EchoError::Truncated)?;
    if !icmp.verify_checksum() {
        return Err(EchoError::BadChecksum);
    }
    if icmp.msg_type() != Icmpv4Message::EchoRequest || icmp.msg_code() != 0 {
        return Err(EchoError::NotEcho);
    }
    let mut icmp = Icmpv4Packet::new_unchecked(ip.payload_mut());
    icmp.set_msg_type(Icmpv4Message::EchoReply);
    icmp.fill_checksum();
    ip.set_src_addr(dst);
    ip.set_dst_addr(src);
    ip.set_ttl(ttl);
    ip.fill_checksum();
    Ok(())
}

/// Turns a validated IPv6 packet whose next header is ICMPv6 (no extension headers) carrying
/// an echo request into the echo reply, in place.
pub fn echo_reply_v6<F: Frame>(pkt: &mut F, hop_limit: u8) -> Result<(), EchoError> {
    let data = pkt.data_mut();
    let mut ip = Ipv6Packet::new_unchecked(&mut *data);
    let (src, dst) = (ip.src_addr(), ip.dst_addr());
    let icmp = Icmpv6Packet::new_checked(ip.payload_mut()).map_err(|_| EchoError::Truncated)?;
    if !icmp.verify_checksum(&src, &dst) {
        return Err(EchoError::BadChecksum);
    }
    if icmp.msg_type() != Icmpv6Message::EchoRequest || icmp.msg_code() != 0 {
        return Err(EchoError::NotEcho);
    }
    let mut icmp = Icmpv6Packet::new_unchecked(ip.payload_mut());
    icmp.set_msg_type(Icmpv6Message::EchoReply);
    icmp.fill_checksum(&dst, &src);
    ip.set_src_addr(&dst);
    ip.set_dst_addr(&src);
    ip.set_hop_limit(hop_limit);
    Ok(())
}

/// Whether an IPv4 packet (validated) may get an ICMP error: not an ICMP error itself (types
/// other than echo, timestamp, information and address-mask requests/replies), not a non-first
/// fragment, and from a unicast source.
pub fn may_send_error_v4(pkt: &[u8]) -> bool {
    let ip = Ipv4Packet::new_unchecked(pkt);
    if ip.frag_offset() != 0 || !unicast_v4(ip.src_addr()) {
        return false;
    }
    if ip.next_header() == IpProtocol::Icmp {
        let t = ip.payload().first().copied().unwrap_or(3);
        // Queries and replies: echo 0/8, timestamp 13/14, information 15/16, mask 17/18.
        return matches!(t, 0 | 8 | 13..=18);
    }
    true
}

/// Whether an IPv6 packet (validated) may get an ICMPv6 error: not an ICMPv6 error (types
/// below 128; an upper layer we cannot find counts as an error, to be safe) and from a unicast
/// source.
pub fn may_send_error_v6(pkt: &[u8]) -> bool {
    let ip = Ipv6Packet::new_unchecked(pkt);
    if !unicast_v6(&ip.src_addr()) {
        return false;
    }
    match ip.upper_layer() {
        Ok(u) if u.protocol == IpProtocol::Icmpv6 => {
            if !u.has_upper_header() {
                return true;
            }
            let t = pkt.get(u.offset).copied().unwrap_or(0);
            !Icmpv6Message::from(t).is_error()
        }
        Ok(_) => true,
        Err(_) => false,
    }
}

/// A unicast host address (not unspecified, loopback, multicast, broadcast or class E).
#[inline]
pub fn unicast_v4(a: Ipv4Addr) -> bool {
    // 0.0.0.0, 127/8, and 224/4 + 240/4 (multicast, class E and 255.255.255.255) in one compare.
    let a = u32::from(a);
    !(a == 0 || a >> 24 == 127 || a >> 24 >= 224)
}

/// A unicast IPv6 address (not unspecified, loopback or multicast).
#[inline]
pub fn unicast_v6(a: &Ipv6Addr) -> bool {
    !(a.is_unspecified() || a.is_loopback() || a.is_multicast())
}

/// Writes an ICMP Time Exceeded (TTL exceeded in transit) from `src` about `orig` (a validated
/// IPv4 packet) into the empty frame `out`. Returns false if the frame is too small.
pub fn time_exceeded_v4<F: Frame>(out: &mut F, src: Ipv4Addr, orig: &[u8], ttl: u8) -> bool {
    let quoted = &orig[..orig.len().min(MAX_ERROR_V4 - ipv4::HEADER_LEN - 8)];
    let icmp = Icmpv4Repr::TimeExceeded {
        reason: Icmpv4TimeExceeded::TtlExpired,
        data: quoted,
    };
    let ip = Ipv4Repr {
        src_addr: src,
        dst_addr: Ipv4Packet::new_unchecked(orig).src_addr(),
        next_header: IpProtocol::Icmp,
        payload_len: icmp.buffer_len(),
        ttl,
        dscp: 0,
        ecn: 0,
        ident: 0,
        dont_frag: false,
        more_frags: false,
        frag_offset: 0,
    };
    let total = ip.buffer_len() + icmp.buffer_len();
    if out.set_len(total).is_err() {
        return false;
    }
    let data = out.data_mut();
    let (h, rest) = data.split_at_mut(ipv4::HEADER_LEN);
    ip.emit(&mut Ipv4Packet::new_unchecked(h)).is_ok()
        && icmp.emit(&mut Icmpv4Packet::new_unchecked(rest)).is_ok()
}

/// Writes an ICMPv6 Time Exceeded (hop limit exceeded in transit) from `src` about `orig` (a
/// validated IPv6 packet) into the empty frame `out`. Returns false if the frame is too small.
pub fn time_exceeded_v6<F: Frame>(out: &mut F, src: Ipv6Addr, orig: &[u8], hop_limit: u8) -> bool {
    let room = MAX_ERROR_V6 - ipv6::HEADER_LEN - 8;
    let room = room
        .min(out.len() + out.tailroom())
        .saturating_sub(ipv6::HEADER_LEN + 8);
    let quoted = &orig[..orig.len().min(room)];
    let dst = Ipv6Packet::new_unchecked(orig).src_addr();
    let icmp = Icmpv6Repr::TimeExceeded {
        reason: Icmpv6TimeExceeded::HopLimitExceeded,
        data: quoted,
    };
    let ip = Ipv6Repr {
        src_addr: src,
        dst_addr: dst,
        next_header: IpProtocol::Icmpv6,
        payload_len: icmp.buffer_len(),
        hop_limit,
        traffic_class: 0,
        flow_label: 0,
    };
    if out.set_len(ip.buffer_len() + icmp.buffer_len()).is_err() {
        return false;
    }
    let data = out.data_mut();
    let (h, rest) = data.split_at_mut(ipv6::HEADER_LEN);
    ip.emit(&mut Ipv6Packet::new_unchecked(h)).is_ok()
        && icmp
            .emit(&src, &dst, &mut Icmpv6Packet::new_unchecked(rest))
            .is_ok()
}

/// Decrements the IPv4 TTL with an incremental checksum update; None if it is 0 or 1.
#[inline]
pub fn decrement_ttl_v4(pkt: &mut [u8]) -> Option<u8> {
    let mut ip = Ipv4Packet::new_unchecked(pkt.first_chunk_mut::<{ ipv4::HEADER_LEN }>()?);
    if ip.ttl() <= 1 {
        return None;
    }
    Some(ip.decrement_ttl())
}

/// Decrements the IPv6 hop limit; None if it is 0 or 1.
#[inline]
pub fn decrement_hop_limit(pkt: &mut [u8]) -> Option<u8> {
    let mut ip = Ipv6Packet::new_unchecked(pkt);
    let h = ip.hop_limit();
    if h <= 1 {
        return None;
    }
    ip.set_hop_limit(h - 1);
    Some(h - 1)
}

/// Whether the IPv4 header checksum verifies (tests).
#[cfg(test)]
pub(crate) fn ipv4_header_ok(pkt: &[u8]) -> bool {
    let ip = Ipv4Packet::new_unchecked(pkt);
    crate::wire::checksum::verify(&pkt[..ip.header_len()])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::VecFrame;

    #[test]
    fn bucket_allows_a_burst_then_the_rate() {
        let mut r = RateLimiter::new(10, 3);
        assert!(r.allow(0) && r.allow(0) && r.allow(0));
        assert!(!r.allow(0), "burst of 3 used up");
        assert!(!r.allow(99), "10/s: one token per 100 ms");
        assert!(r.allow(100));
        assert!(!r.allow(150));
        // A long pause refills up to the burst only.
        let mut n = 0;
        for _ in 0..10 {
            n += usize::from(r.allow(100_000));
        }
        assert_eq!(n, 3);
        // Time going backwards never panics nor adds tokens.
        assert!(!r.allow(5));
    }

    #[test]
    fn error_eligibility() {
        let s = Ipv4Addr::new(10, 0, 0, 1);
        let d = Ipv4Addr::new(10, 0, 1, 1);
        let mk = |src: Ipv4Addr, proto: IpProtocol, first: u8, frag: u16| {
            let mut b = vec![0u8; 28];
            let repr = Ipv4Repr {
                src_addr: src,
                dst_addr: d,
                next_header: proto,
                payload_len: 8,
                ttl: 1,
                dscp: 0,
                ecn: 0,
                ident: 1,
                dont_frag: false,
                more_frags: false,
                frag_offset: frag,
            };
            repr.emit(&mut Ipv4Packet::new_unchecked(&mut b[..]))
                .unwrap();
            b[20] = first;
            b
        };
        assert!(may_send_error_v4(&mk(s, IpProtocol::Udp, 0, 0)));
        assert!(
            may_send_error_v4(&mk(s, IpProtocol::Icmp, 8, 0)),
            "echo request"
        );
        assert!(
            !may_send_error_v4(&mk(s, IpProtocol::Icmp, 11, 0)),
            "time exceeded"
        );
        assert!(
            !may_send_error_v4(&mk(s, IpProtocol::Icmp, 3, 0)),
            "unreachable"
        );
        assert!(
            !may_send_error_v4(&mk(s, IpProtocol::Udp, 0, 8)),
            "non-first fragment"
        );
        assert!(!may_send_error_v4(&mk(
            Ipv4Addr::UNSPECIFIED,
            IpProtocol::Udp,
            0,
            0
        )));
        assert!(!may_send_error_v4(&mk(
            Ipv4Addr::new(224, 0, 0, 1),
            IpProtocol::Udp,
            0,
            0
        )));
        assert!(!may_send_error_v4(&mk(
            Ipv4Addr::BROADCAST,
            IpProtocol::Udp,
            0,
            0
        )));
    }

    #[test]
    fn time_exceeded_v4_quotes_at_most_576_bytes() {
        let mut orig = vec![0u8; 1000];
        Ipv4Repr {
            src_addr: Ipv4Addr::new(10, 0, 0, 1),
            dst_addr: Ipv4Addr::new(192, 0, 2, 1),
            next_header: IpProtocol::Udp,
            payload_len: 980,
            ttl: 1,
            dscp: 0,
            ecn: 0,
            ident: 7,
            dont_frag: true,
            more_frags: false,
            frag_offset: 0,
        }
        .emit(&mut Ipv4Packet::new_unchecked(&mut orig[..]))
        .unwrap();
        let mut out = VecFrame::new(&[]);
        assert!(time_exceeded_v4(
            &mut out,
            Ipv4Addr::new(10, 0, 0, 254),
            &orig,
            64
        ));
        assert_eq!(out.len(), 576);
        let ip = Ipv4Packet::new_checked(out.data()).unwrap();
        let repr = Ipv4Repr::parse(&ip).unwrap();
        assert_eq!(repr.dst_addr, Ipv4Addr::new(10, 0, 0, 1));
        let icmp = Icmpv4Packet::new_checked(ip.payload()).unwrap();
        match Icmpv4Repr::parse(&icmp).unwrap() {
            Icmpv4Repr::TimeExceeded { reason, data } => {
                assert_eq!(reason, Icmpv4TimeExceeded::TtlExpired);
                assert_eq!(data, &orig[..548]);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn ttl_decrement_keeps_the_checksum_right() {
        let mut b = vec![0u8; 20];
        let mut repr = Ipv4Repr {
            src_addr: Ipv4Addr::new(10, 0, 0, 1),
            dst_addr: Ipv4Addr::new(192, 0, 2, 1),
            next_header: IpProtocol::Tcp,
            payload_len: 0,
            ttl: 64,
            dscp: 0,
            ecn: 0,
            ident: 7,
            dont_frag: true,
            more_frags: false,
            frag_offset: 0,
        };
        repr.emit(&mut Ipv4Packet::new_unchecked(&mut b[..]))
            .unwrap();
        assert_eq!(decrement_ttl_v4(&mut b), Some(63));
        assert!(ipv4_header_ok(&b));
        repr.ttl = 1;
        repr.emit(&mut Ipv4Packet::new_unchecked(&mut b[..]))
            .unwrap();
        assert_eq!(decrement_ttl_v4(&mut b), None);
        let mut v6 = vec![0x60, 0, 0, 0, 0, 0, 59, 2];
        v6.resize(40, 0);
        assert_eq!(decrement_hop_limit(&mut v6), Some(1));
        assert_eq!(decrement_hop_limit(&mut v6), None);
    }
}
