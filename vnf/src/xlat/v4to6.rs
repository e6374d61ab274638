//! IPv4 -> IPv6 translation (RFC 7915 section 4).
//!
//! - 4.1 header: Traffic Class = TOS, Flow Label = 0, Payload Length = Total Length - IHL
//!   (+ 8 with a Fragment header), Next Header = Protocol (1 -> 58), Hop Limit = TTL (copied),
//!   addresses from the caller. IPv4 options are ignored, except an unexpired source route
//!   (LSRR/SSRR), which is answered with ICMPv4 Destination Unreachable code 5. A fragment
//!   (MF or offset) gets a Fragment header: offset and M copied, Identification = the IPv4 one
//!   zero-extended. An unfragmented DF=0 packet never gets a Fragment header (no atomic
//!   fragments, RFC 8021) unless it is split: when its translation exceeds `lowest-ipv6-mtu`
//!   (bounded by the IPv6 next-hop MTU) it is split into fragments that fit. A DF=1 packet too
//!   big for the IPv6 next hop is answered with Fragmentation Needed (MTU = IPv6 MTU - 20, or
//!   - 28 when a Fragment header is added).
//! - 4.2 ICMPv4 -> ICMPv6: echo types and checksum (ICMPv6 pseudo-header added) in place;
//!   errors rebuilt with the tables of [`super::icmp`], the packet inside translated (4.3) and
//!   the whole result at most 1280 bytes; other types dropped.
//! - 4.5 transport: TCP/UDP checksums updated for the pseudo-header change (and NAT ports);
//!   UDP without checksum gets a computed one when unfragmented, else dropped.

use std::net::Ipv6Addr;

use super::icmp::{self, Rest};
use super::inspect::{icmp4_ok, parse_inner_v4, parse_v4, HeaderChecksum, Inspected4, V4};
use super::{
    addr_sum4, addr_sum6, byte, not_words4, put_frag_header, put_v6_header, rd16, rewrite_l4,
    rewrite_ports, words6, wr16, wr32, Dir, Icmp4Error, Map46, Rewrite, Xlat, Xlat46, XlatConfig,
    MAX_ICMP6_ERROR,
};
use crate::action::{FrameAlloc, Sink};
use crate::drop::DropReason;
use crate::frame::Frame;
use crate::wire::checksum;
use crate::wire::IpProtocol;

/// True if the IPv4 options hold an unexpired Loose or Strict Source Route (RFC 791: the
/// pointer is not past the option's length).
fn unexpired_source_route(opts: &[u8]) -> bool {
    let mut i = 0usize;
    while i < opts.len() {
        match byte(opts, i) {
            0 => return false,
            1 => i += 1,
            t => {
                let len = usize::from(byte(opts, i + 1));
                if len < 2 || i + len > opts.len() {
                    return false;
                }
                if (t == 131 || t == 137) && usize::from(byte(opts, i + 2)) <= len {
                    return true;
                }
                i += len;
            }
        }
    }
    false
}

/// Translates the IPv4 packet in `frame` into IPv6 (RFC 7915 section 4). `map` gives the IPv6
/// addresses (and NAT ports) of the packet and, for ICMP errors, of the packet inside. Extra
/// fragments of a split packet come from `alloc` and go to `sink` (see [`Xlat::Translated`]).
pub fn ipv4_to_ipv6<F, A, S>(
    frame: &mut F,
    cfg: &XlatConfig,
    map: &Map46,
    alloc: &mut A,
    sink: &mut S,
) -> Xlat46
where
    F: Frame,
    A: FrameAlloc<Frame = F>,
    S: Sink<F>,
{
    match parse_v4(frame.data(), HeaderChecksum::Verify) {
        Ok(h) => translate(frame, &h, cfg, map, alloc, sink),
        Err(r) => Xlat::Drop(r),
    }
}

/// [`ipv4_to_ipv6`] of a packet already looked at with
/// [`inspect_v4_parsed`](super::inspect_v4_parsed): no second parse (and no second header
/// checksum). `ins` must come from the frame's current bytes.
#[inline]
pub fn ipv4_to_ipv6_parsed<F, A, S>(
    frame: &mut F,
    ins: &Inspected4,
    cfg: &XlatConfig,
    map: &Map46,
    alloc: &mut A,
    sink: &mut S,
) -> Xlat46
where
    F: Frame,
    A: FrameAlloc<Frame = F>,
    S: Sink<F>,
{
    translate(frame, &ins.hdr, cfg, map, alloc, sink)
}

/// Section 4 on the parsed header `h` of the packet in `frame`.
#[inline]
fn translate<F, A, S>(
    frame: &mut F,
    h: &V4,
    cfg: &XlatConfig,
    map: &Map46,
    alloc: &mut A,
    sink: &mut S,
) -> Xlat46
where
    F: Frame,
    A: FrameAlloc<Frame = F>,
    S: Sink<F>,
{
    if h.ihl > 20 && unexpired_source_route(frame.data().get(20..h.ihl).unwrap_or(&[])) {
        return Xlat::Icmp(Icmp4Error::SourceRouteFailed);
    }
    let l4len = h.total - h.ihl;
    let first = h.offset == 0;
    match h.proto {
        58 => return Xlat::Drop(DropReason::XlatBadProtocol),
        1 if first => {
            if l4len < 8 {
                return Xlat::Drop(DropReason::XlatMalformed);
            }
            match byte(frame.data(), h.ihl) {
                0 | 8 if h.mf => return Xlat::Drop(DropReason::XlatFragmentedIcmp),
                0 | 8 => {}
                3 | 11 | 12 => return error_4to6(frame, h, cfg, map),
                _ => return Xlat::Drop(DropReason::XlatIcmpUntranslatable),
            }
        }
        6 if first && l4len < 20 => return Xlat::Drop(DropReason::XlatMalformed),
        17 if first && l4len < 8 => return Xlat::Drop(DropReason::XlatMalformed),
        _ => {}
    }

    let frag = h.is_fragment();
    let fh = if frag { 8 } else { 0 };
    let len6 = 40 + fh + l4len;
    let ipv6_mtu = usize::from(cfg.ipv6_mtu).max(1280);
    if h.df && len6 > ipv6_mtu {
        let mtu = (ipv6_mtu - 20 - fh).min(usize::from(u16::MAX)) as u16;
        return Xlat::Icmp(Icmp4Error::FragNeeded { mtu });
    }
    let limit = usize::from(cfg.lowest_ipv6_mtu).clamp(1280, ipv6_mtu);
    let split = !h.df && len6 > limit;
    if frame.headroom() + h.ihl < 48 {
        return Xlat::Drop(DropReason::XlatNoRoom);
    }

    // Transport header (first fragment or whole packet).
    let out = &map.outer;
    if first {
        let (ihl, total) = (h.ihl, h.total);
        let Some(l4) = frame.data_mut().get_mut(ihl..total) else {
            return Xlat::Drop(DropReason::XlatMalformed);
        };
        if h.proto == 17 && rd16(l4, 6) == 0 {
            if frag || !cfg.compute_udp_zero_checksum {
                return Xlat::Drop(DropReason::XlatUdpZeroChecksum);
            }
            if let Err(r) = udp_full_checksum(l4, out) {
                return Xlat::Drop(r);
            }
        } else if h.proto == 6 || h.proto == 17 {
            // Pseudo-header: the IPv4 addresses out, the IPv6 ones in (the length and the
            // protocol do not change).
            let addrs = not_words4(h.src) + not_words4(h.dst) + words6(&out.src) + words6(&out.dst);
            rewrite_ports(l4, h.proto, addrs, out.src_port, out.dst_port);
        } else {
            let ph =
                checksum::pseudo_header_v6(&out.src, &out.dst, IpProtocol::Icmpv6, l4len as u32);
            rewrite_l4(
                l4,
                h.proto,
                Dir::V4ToV6,
                addr_sum4(h.src, h.dst),
                addr_sum6(&out.src, &out.dst),
                ph,
                out.src_port,
                out.dst_port,
            );
        }
    }

    let nh = if h.proto == 1 { 58 } else { h.proto };
    if !split {
        return finish(
            frame,
            h,
            out,
            nh,
            l4len,
            frag.then_some((h.offset, h.mf)),
            0,
        );
    }

    // Split into fragments of at most `limit` bytes (RFC 7915 4.1, lowest-ipv6-mtu).
    if usize::from(h.offset) + l4len > 65535 {
        return Xlat::Drop(DropReason::XlatMalformed);
    }
    let chunk = ((limit - 48) / 8) * 8;
    let mut sent: u8 = 0;
    let mut pos = chunk;
    while pos < l4len {
        let n = chunk.min(l4len - pos);
        let more = pos + n < l4len || h.mf;
        let Some(mut f) = alloc.alloc() else {
            return Xlat::Drop(DropReason::XlatFragmentFailed);
        };
        let src = frame
            .data()
            .get(h.ihl + pos..h.ihl + pos + n)
            .unwrap_or(&[]);
        let Ok(buf) = f.append(48 + n) else {
            return Xlat::Drop(DropReason::XlatFragmentFailed);
        };
        put_v6_header(buf, h.tos, (8 + n) as u16, 44, h.ttl, &out.src, &out.dst);
        put_frag_header(
            &mut buf[40..],
            nh,
            h.offset + pos as u16,
            more,
            u32::from(h.ident),
        );
        if let Some(d) = buf.get_mut(48..48 + src.len()) {
            d.copy_from_slice(src);
        }
        if sink.route(f).is_err() {
            return Xlat::Drop(DropReason::XlatFragmentFailed);
        }
        sent = sent.saturating_add(1);
        pos += n;
    }
    finish(frame, h, out, nh, chunk, Some((h.offset, true)), sent)
}

/// Replaces the IPv4 header by the IPv6 one (plus a Fragment header when `frag` is set) and
/// keeps `l4len` bytes of payload.
fn finish<F: Frame>(
    frame: &mut F,
    h: &V4,
    out: &Rewrite<Ipv6Addr>,
    nh: u8,
    l4len: usize,
    frag: Option<(u16, bool)>,
    fragments: u8,
) -> Xlat46 {
    let keep = h.ihl + l4len;
    let fh = if frag.is_some() { 8 } else { 0 };
    let excess = frame.len().saturating_sub(keep);
    if excess != 0 && frame.trim(excess).is_err() {
        return Xlat::Drop(DropReason::XlatNoRoom);
    }
    // The IPv4 header (ihl bytes) becomes the IPv6 one (40 or 48): one move of the front.
    let new = 40 + fh;
    let moved = if new >= h.ihl {
        frame.prepend(new - h.ihl).map(|_| ())
    } else {
        frame.adj(h.ihl - new)
    };
    if moved.is_err() {
        return Xlat::Drop(DropReason::XlatNoRoom);
    }
    let Some(hdr) = frame.data_mut().get_mut(..new) else {
        return Xlat::Drop(DropReason::XlatNoRoom);
    };
    let first_nh = if frag.is_some() { 44 } else { nh };
    put_v6_header(
        hdr,
        h.tos,
        (l4len + fh) as u16,
        first_nh,
        h.ttl,
        &out.src,
        &out.dst,
    );
    if let Some((offset, more)) = frag {
        put_frag_header(&mut hdr[40..], nh, offset, more, u32::from(h.ident));
    }
    Xlat::Translated { fragments }
}

/// RFC 7915 4.5: a computed checksum for an unfragmented IPv4 UDP datagram without one (after
/// the NAT port rewrite), over the IPv6 pseudo-header.
fn udp_full_checksum(l4: &mut [u8], out: &Rewrite<Ipv6Addr>) -> Result<(), DropReason> {
    let ulen = usize::from(rd16(l4, 4));
    if ulen < 8 || ulen > l4.len() {
        return Err(DropReason::XlatMalformed);
    }
    if let Some(p) = out.src_port {
        wr16(l4, 0, p);
    }
    if let Some(p) = out.dst_port {
        wr16(l4, 2, p);
    }
    let dgram = l4.get(..ulen).unwrap_or(&[]);
    let ph = checksum::pseudo_header_v6(&out.src, &out.dst, IpProtocol::Udp, ulen as u32);
    let c = !checksum::combine(ph, checksum::sum(dgram));
    wr16(l4, 6, if c == 0 { 0xffff } else { c });
    Ok(())
}

/// RFC 7915 4.2 + 4.3: rebuilds an ICMPv4 error as an ICMPv6 error with the packet inside
/// translated, at most 1280 bytes.
fn error_4to6<F: Frame>(frame: &mut F, h: &V4, cfg: &XlatConfig, map: &Map46) -> Xlat46 {
    let mut buf = [0u8; MAX_ICMP6_ERROR];
    let len = match build_error_4to6(frame.data(), h, cfg, map, &mut buf) {
        Ok(n) => n,
        Err(r) => return Xlat::Drop(r),
    };
    if frame.set_len(len).is_err() {
        return Xlat::Drop(DropReason::XlatNoRoom);
    }
    match frame.data_mut().get_mut(..len) {
        Some(d) => d.copy_from_slice(&buf[..len]),
        None => return Xlat::Drop(DropReason::XlatNoRoom),
    }
    Xlat::Translated { fragments: 0 }
}

fn build_error_4to6(
    data: &[u8],
    h: &V4,
    cfg: &XlatConfig,
    map: &Map46,
    out: &mut [u8; MAX_ICMP6_ERROR],
) -> Result<usize, DropReason> {
    if h.is_fragment() {
        return Err(DropReason::XlatFragmentedIcmp);
    }
    let msg = data.get(h.ihl..h.total).ok_or(DropReason::XlatMalformed)?;
    if !icmp4_ok(msg) {
        return Err(DropReason::XlatBadChecksum);
    }
    let (ty, code) = (byte(msg, 0), byte(msg, 1));
    let m = icmp::error_4to6(ty, code, byte(msg, 4)).ok_or(DropReason::XlatIcmpUntranslatable)?;
    let imap = map.inner.ok_or(DropReason::XlatNoAddressMapping)?;
    let mut body = msg.get(8..).unwrap_or(&[]);
    // RFC 4884: a non-zero length attribute (32-bit words) bounds the original datagram; the
    // extension structure after it is not translated.
    let words = usize::from(byte(msg, 5));
    if words != 0 && matches!(ty, 3 | 11 | 12) {
        body = body.get(..words * 4).unwrap_or(body);
    }

    let ih = parse_inner_v4(body)?;
    let ipresent = body.get(ih.ihl..).unwrap_or(&[]);
    let ifirst = ih.offset == 0;
    let ideclared = ih.total - ih.ihl;
    match ih.proto {
        58 => return Err(DropReason::XlatBadProtocol),
        1 if ifirst => {
            if ipresent.len() < 8 {
                return Err(DropReason::XlatIcmpInnerMalformed);
            }
            match byte(ipresent, 0) {
                0 | 8 => {}
                3 | 4 | 5 | 11 | 12 => return Err(DropReason::XlatIcmpNestedError),
                _ => return Err(DropReason::XlatIcmpUntranslatable),
            }
        }
        6 | 17 if ifirst && ipresent.len() < 8 => return Err(DropReason::XlatIcmpInnerMalformed),
        _ => {}
    }

    // Layout: IPv6 (40) | ICMPv6 (8) | inner IPv6 (40) [| Fragment (8)] | inner payload.
    let ifrag = ih.is_fragment();
    let ifh = if ifrag { 8 } else { 0 };
    let start = 48 + 40 + ifh;
    let copy = ipresent.len().min(MAX_ICMP6_ERROR - start);
    let end = start + copy;
    out[start..end].copy_from_slice(&ipresent[..copy]);
    let inh = if ih.proto == 1 { 58 } else { ih.proto };
    put_v6_header(
        &mut out[48..],
        ih.tos,
        (ideclared + ifh).min(usize::from(u16::MAX)) as u16,
        if ifrag { 44 } else { inh },
        ih.ttl,
        &imap.src,
        &imap.dst,
    );
    if ifrag {
        put_frag_header(&mut out[88..], inh, ih.offset, ih.mf, u32::from(ih.ident));
    }
    if ifirst {
        let ph =
            checksum::pseudo_header_v6(&imap.src, &imap.dst, IpProtocol::Icmpv6, ideclared as u32);
        rewrite_l4(
            &mut out[start..end],
            ih.proto,
            Dir::V4ToV6,
            addr_sum4(ih.src, ih.dst),
            addr_sum6(&imap.src, &imap.dst),
            ph,
            imap.src_port,
            imap.dst_port,
        );
    }

    // ICMPv6 header.
    out[40] = m.ty;
    out[41] = m.code;
    let rest = match m.rest {
        Rest::Unused => 0,
        Rest::Pointer(p) => p,
        Rest::Mtu => icmp::mtu_4to6(rd16(msg, 6), ih.total as u16, cfg.ipv6_mtu, cfg.ipv4_mtu),
    };
    wr32(&mut out[..], 44, rest);
    let o = &map.outer;
    let icmp_len = end - 40;
    let ph = checksum::pseudo_header_v6(&o.src, &o.dst, IpProtocol::Icmpv6, icmp_len as u32);
    let c = !checksum::combine(ph, checksum::sum(&out[40..end]));
    wr16(&mut out[..], 42, c);
    put_v6_header(
        &mut out[..],
        h.tos,
        icmp_len as u16,
        58,
        h.ttl,
        &o.src,
        &o.dst,
    );
    Ok(end)
}
