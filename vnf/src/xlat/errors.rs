//! The ICMP errors the translator itself answers with (RFC 7915 4.1 / 5.1): the offending
//! packet becomes, in place, an error addressed to its source, carrying as much of it as fits
//! in 576 bytes (ICMPv4, RFC 1812 4.3.2.3) or 1280 bytes (ICMPv6, RFC 4443 2.4(c)).
//!
//! The caller chooses the source address (a self IP of the VLAN the packet came from) and
//! sends the result back (`Outcome::Reply`); rate limiting is the caller's.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::{put_v4_header, put_v6_header, wr16, wr32, Icmp4Error, Icmp6Error, V4Out};
use super::{MAX_ICMP4_ERROR, MAX_ICMP6_ERROR};
use crate::drop::DropReason;
use crate::frame::Frame;
use crate::wire::{checksum, IpProtocol, Ipv4Packet, Ipv6Packet};

/// Hop limit / TTL of the errors built here.
pub const ERROR_TTL: u8 = 64;

/// Replaces the IPv4 packet in `frame` by the ICMPv4 error `err` from `src` to the packet's
/// source.
pub fn icmp4_error_in_place<F: Frame>(
    frame: &mut F,
    err: Icmp4Error,
    src: Ipv4Addr,
) -> Result<(), DropReason> {
    let mut out = [0u8; MAX_ICMP4_ERROR];
    let data = frame.data();
    let ip = Ipv4Packet::new_checked(data).map_err(|_| DropReason::XlatMalformed)?;
    let orig = data
        .get(..usize::from(ip.total_len()))
        .ok_or(DropReason::XlatMalformed)?;
    let copy = orig.len().min(MAX_ICMP4_ERROR - 28);
    out[28..28 + copy].copy_from_slice(&orig[..copy]);
    let (ty, code, rest) = err.wire();
    out[20] = ty;
    out[21] = code;
    wr32(&mut out[..], 24, rest);
    let end = 28 + copy;
    let c = checksum::checksum(&out[20..end]);
    wr16(&mut out[..], 22, c);
    put_v4_header(
        &mut out[..],
        &V4Out {
            tos: 0,
            total: end as u16,
            ident: 0,
            df: false,
            mf: false,
            offset: 0,
            ttl: ERROR_TTL,
            proto: 1,
            src,
            dst: ip.src_addr(),
        },
    );
    write_back(frame, &out[..end])
}

/// Replaces the IPv6 packet in `frame` by the ICMPv6 error `err` from `src` to the packet's
/// source.
pub fn icmp6_error_in_place<F: Frame>(
    frame: &mut F,
    err: Icmp6Error,
    src: Ipv6Addr,
) -> Result<(), DropReason> {
    let mut out = [0u8; MAX_ICMP6_ERROR];
    let data = frame.data();
    let ip = Ipv6Packet::new_checked(data).map_err(|_| DropReason::XlatMalformed)?;
    let orig = data
        .get(..40 + usize::from(ip.payload_len()))
        .ok_or(DropReason::XlatMalformed)?;
    let copy = orig.len().min(MAX_ICMP6_ERROR - 48);
    out[48..48 + copy].copy_from_slice(&orig[..copy]);
    let (ty, code, rest) = err.wire();
    out[40] = ty;
    out[41] = code;
    wr32(&mut out[..], 44, rest);
    let end = 48 + copy;
    let dst = ip.src_addr();
    let ph = checksum::pseudo_header_v6(&src, &dst, IpProtocol::Icmpv6, (end - 40) as u32);
    let c = !checksum::combine(ph, checksum::sum(&out[40..end]));
    wr16(&mut out[..], 42, c);
    put_v6_header(
        &mut out[..],
        0,
        (end - 40) as u16,
        58,
        ERROR_TTL,
        &src,
        &dst,
    );
    write_back(frame, &out[..end])
}

fn write_back<F: Frame>(frame: &mut F, bytes: &[u8]) -> Result<(), DropReason> {
    frame
        .set_len(bytes.len())
        .map_err(|_| DropReason::XlatNoRoom)?;
    frame
        .data_mut()
        .get_mut(..bytes.len())
        .ok_or(DropReason::XlatNoRoom)?
        .copy_from_slice(bytes);
    Ok(())
}
