//! IPv6 -> IPv4 translation (RFC 7915 section 5).
//!
//! - 5.1 header: IHL 5, TOS = Traffic Class, Total Length = Payload Length - skipped extension
//!   headers + 20, TTL = Hop Limit (copied), Protocol = the upper layer after Hop-by-Hop,
//!   Destination Options and Routing headers (58 -> 1), header checksum computed, addresses
//!   from the caller. A Routing header with Segments Left != 0 is answered with ICMPv6
//!   Parameter Problem code 0 pointing at that field. Without a Fragment header: DF = 1 if the
//!   result is larger than 1260 bytes, else 0 with the caller's Identification; with one:
//!   Identification = its low 16 bits, MF and offset copied, DF = 0 (an atomic fragment, RFC
//!   8021, becomes an unfragmented DF=0 packet). An extension header after the Fragment header
//!   is dropped. A DF=1 result too big for the IPv4 next hop is answered with Packet Too Big
//!   (MTU = IPv4 MTU + 20, at least 1280); a DF=0 result is split into IPv4 fragments.
//! - 5.2 ICMPv6 -> ICMPv4: echo in place (pseudo-header removed from the checksum); errors
//!   rebuilt (at most 576 bytes) with the packet inside translated (5.3); other types dropped.
//! - 5.5 transport: TCP/UDP checksums updated incrementally; a zero UDP checksum stays zero.

use std::net::Ipv4Addr;

use super::icmp::{self, Rest};
use super::inspect::{icmp6_ok, parse_inner_v6, parse_v6, Inspected6, Walk6Error, V6};
use super::{
    addr_sum4, addr_sum6, byte, not_words6, put_v4_header, rd32, rewrite_l4, rewrite_ports, words4,
    wr16, Dir, Icmp6Error, Map64, Rewrite, V4Out, Xlat, Xlat64, XlatConfig, MAX_ICMP4_ERROR,
};
use crate::action::{FrameAlloc, Sink};
use crate::drop::DropReason;
use crate::frame::Frame;
use crate::wire::checksum;
use crate::wire::IpProtocol;

/// Largest translated packet that gets DF = 0 (RFC 7915 5.1).
pub const DF_THRESHOLD: usize = 1260;

/// Translates the IPv6 packet in `frame` into IPv4 (RFC 7915 section 5). See
/// [`ipv4_to_ipv6`](super::ipv4_to_ipv6) for `map`, `alloc` and `sink`.
pub fn ipv6_to_ipv4<F, A, S>(
    frame: &mut F,
    cfg: &XlatConfig,
    map: &Map64,
    alloc: &mut A,
    sink: &mut S,
) -> Xlat64
where
    F: Frame,
    A: FrameAlloc<Frame = F>,
    S: Sink<F>,
{
    match parse_v6(frame.data()) {
        Ok(h) => translate(frame, &h, cfg, map, alloc, sink),
        Err(Walk6Error::Drop(r)) => Xlat::Drop(r),
        Err(Walk6Error::SegmentsLeft(pointer)) => {
            Xlat::Icmp(Icmp6Error::ParamProblem { code: 0, pointer })
        }
    }
}

/// [`ipv6_to_ipv4`] of a packet already looked at with
/// [`inspect_v6_parsed`](super::inspect_v6_parsed): no second parse. `ins` must come from the
/// frame's current bytes.
#[inline]
pub fn ipv6_to_ipv4_parsed<F, A, S>(
    frame: &mut F,
    ins: &Inspected6,
    cfg: &XlatConfig,
    map: &Map64,
    alloc: &mut A,
    sink: &mut S,
) -> Xlat64
where
    F: Frame,
    A: FrameAlloc<Frame = F>,
    S: Sink<F>,
{
    translate(frame, &ins.hdr, cfg, map, alloc, sink)
}

/// Section 5 on the parsed header `h` of the packet in `frame`.
#[inline]
fn translate<F, A, S>(
    frame: &mut F,
    h: &V6,
    cfg: &XlatConfig,
    map: &Map64,
    alloc: &mut A,
    sink: &mut S,
) -> Xlat64
where
    F: Frame,
    A: FrameAlloc<Frame = F>,
    S: Sink<F>,
{
    let end = 40 + h.payload_len;
    let l4len = end - h.l4;
    let first = h.has_l4_header();
    let fragmented = h.frag.is_some_and(|f| f.more || f.offset != 0);
    match h.proto {
        1 => return Xlat::Drop(DropReason::XlatBadProtocol),
        58 if first => {
            if l4len < 8 {
                return Xlat::Drop(DropReason::XlatMalformed);
            }
            match byte(frame.data(), h.l4) {
                128 | 129 if fragmented => return Xlat::Drop(DropReason::XlatFragmentedIcmp),
                128 | 129 => {}
                t if t < 128 => return error_6to4(frame, h, cfg, map),
                _ => return Xlat::Drop(DropReason::XlatIcmpUntranslatable),
            }
        }
        6 if first && l4len < 20 => return Xlat::Drop(DropReason::XlatMalformed),
        17 if first && l4len < 8 => return Xlat::Drop(DropReason::XlatMalformed),
        _ => {}
    }

    let total = 20 + l4len;
    if total > usize::from(u16::MAX) {
        return Xlat::Drop(DropReason::XlatMalformed);
    }
    let (ident, df, mf, offset) = match h.frag {
        Some(f) => (f.ident as u16, false, f.more, f.offset),
        None => {
            let df = total > DF_THRESHOLD;
            (if df { 0 } else { map.ident }, df, false, 0)
        }
    };
    let ipv4_mtu = usize::from(cfg.ipv4_mtu).max(68);
    if df && total > ipv4_mtu {
        let mtu = (ipv4_mtu as u32 + 20).max(icmp::IPV6_MIN_MTU);
        return Xlat::Icmp(Icmp6Error::PacketTooBig { mtu });
    }
    let split = total > ipv4_mtu;
    if split && usize::from(offset) + l4len > 65535 {
        return Xlat::Drop(DropReason::XlatMalformed);
    }

    let out = &map.outer;
    if first {
        let l4off = h.l4;
        let Some(l4) = frame.data_mut().get_mut(l4off..end) else {
            return Xlat::Drop(DropReason::XlatMalformed);
        };
        if h.proto == 6 || h.proto == 17 {
            // Pseudo-header: the IPv6 addresses out, the IPv4 ones in.
            let addrs = not_words6(&h.src) + not_words6(&h.dst) + words4(out.src) + words4(out.dst);
            rewrite_ports(l4, h.proto, addrs, out.src_port, out.dst_port);
        } else {
            let ph = checksum::pseudo_header_v6(&h.src, &h.dst, IpProtocol::Icmpv6, l4len as u32);
            rewrite_l4(
                l4,
                h.proto,
                Dir::V6ToV4,
                addr_sum6(&h.src, &h.dst),
                addr_sum4(out.src, out.dst),
                ph,
                out.src_port,
                out.dst_port,
            );
        }
    }

    let proto = if h.proto == 58 { 1 } else { h.proto };
    let hdr = V4Out {
        tos: h.tc,
        total: total as u16,
        ident,
        df,
        mf,
        offset,
        ttl: h.hop,
        proto,
        src: out.src,
        dst: out.dst,
    };
    if !split {
        return finish(frame, h, hdr, l4len, 0);
    }

    // DF = 0 and too big for the IPv4 next hop: IPv4 fragments (RFC 791 section 3.2).
    let chunk = ((ipv4_mtu - 20) / 8) * 8;
    let mut sent: u8 = 0;
    let mut pos = chunk;
    while pos < l4len {
        let n = chunk.min(l4len - pos);
        let Some(mut f) = alloc.alloc() else {
            return Xlat::Drop(DropReason::XlatFragmentFailed);
        };
        let src = frame.data().get(h.l4 + pos..h.l4 + pos + n).unwrap_or(&[]);
        let Ok(buf) = f.append(20 + n) else {
            return Xlat::Drop(DropReason::XlatFragmentFailed);
        };
        let fh = V4Out {
            total: (20 + n) as u16,
            mf: pos + n < l4len || mf,
            offset: offset + pos as u16,
            ..hdr
        };
        put_v4_header(buf, &fh);
        if let Some(d) = buf.get_mut(20..20 + src.len()) {
            d.copy_from_slice(src);
        }
        if sink.route(f).is_err() {
            return Xlat::Drop(DropReason::XlatFragmentFailed);
        }
        sent = sent.saturating_add(1);
        pos += n;
    }
    let first_hdr = V4Out {
        total: (20 + chunk) as u16,
        mf: true,
        ..hdr
    };
    finish(frame, h, first_hdr, chunk, sent)
}

/// Replaces the IPv6 header and skipped extension headers by the IPv4 header `hdr`, keeping
/// `l4len` bytes of payload.
fn finish<F: Frame>(frame: &mut F, h: &V6, hdr: V4Out, l4len: usize, fragments: u8) -> Xlat64 {
    let keep = h.l4 + l4len;
    let excess = frame.len().saturating_sub(keep);
    if excess != 0 && frame.trim(excess).is_err() {
        return Xlat::Drop(DropReason::XlatNoRoom);
    }
    // The IPv6 header and its extension headers (h.l4 >= 40 bytes) become the 20-byte IPv4
    // header: one move of the front.
    if frame.adj(h.l4.saturating_sub(20)).is_err() {
        return Xlat::Drop(DropReason::XlatNoRoom);
    }
    let Some(b) = frame.data_mut().get_mut(..20) else {
        return Xlat::Drop(DropReason::XlatNoRoom);
    };
    put_v4_header(b, &hdr);
    Xlat::Translated { fragments }
}

/// RFC 7915 5.2 + 5.3: rebuilds an ICMPv6 error as an ICMPv4 error with the packet inside
/// translated, at most 576 bytes.
fn error_6to4<F: Frame>(frame: &mut F, h: &V6, cfg: &XlatConfig, map: &Map64) -> Xlat64 {
    let mut buf = [0u8; MAX_ICMP4_ERROR];
    let len = match build_error_6to4(frame.data(), h, cfg, map, &mut buf) {
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

fn build_error_6to4(
    data: &[u8],
    h: &V6,
    cfg: &XlatConfig,
    map: &Map64,
    out: &mut [u8; MAX_ICMP4_ERROR],
) -> Result<usize, DropReason> {
    if h.frag.is_some() {
        return Err(DropReason::XlatFragmentedIcmp);
    }
    let msg = data
        .get(h.l4..40 + h.payload_len)
        .ok_or(DropReason::XlatMalformed)?;
    if !icmp6_ok(msg, &h.src, &h.dst) {
        return Err(DropReason::XlatBadChecksum);
    }
    let (ty, code, rest) = (byte(msg, 0), byte(msg, 1), rd32(msg, 4));
    let m = icmp::error_6to4(ty, code, rest).ok_or(DropReason::XlatIcmpUntranslatable)?;
    let imap: Rewrite<Ipv4Addr> = map.inner.ok_or(DropReason::XlatNoAddressMapping)?;
    let mut body = msg.get(8..).unwrap_or(&[]);
    // RFC 4884: the length attribute (64-bit words) of Destination Unreachable and Time
    // Exceeded bounds the original datagram; extensions after it are not translated.
    let words = usize::from(byte(msg, 4));
    if words != 0 && matches!(ty, 1 | 3) {
        body = body.get(..words * 8).unwrap_or(body);
    }

    let ih = parse_inner_v6(body)?;
    let ipresent = body.get(ih.l4..).unwrap_or(&[]);
    let ifirst = ih.has_l4_header();
    let ideclared = (40 + ih.payload_len)
        .checked_sub(ih.l4)
        .ok_or(DropReason::XlatIcmpInnerMalformed)?;
    match ih.proto {
        1 => return Err(DropReason::XlatBadProtocol),
        58 if ifirst => {
            if ipresent.len() < 8 {
                return Err(DropReason::XlatIcmpInnerMalformed);
            }
            match byte(ipresent, 0) {
                128 | 129 => {}
                t if t < 128 => return Err(DropReason::XlatIcmpNestedError),
                _ => return Err(DropReason::XlatIcmpUntranslatable),
            }
        }
        6 | 17 if ifirst && ipresent.len() < 8 => return Err(DropReason::XlatIcmpInnerMalformed),
        _ => {}
    }
    let itotal = 20 + ideclared;
    if itotal > usize::from(u16::MAX) {
        return Err(DropReason::XlatIcmpInnerMalformed);
    }

    // Layout: IPv4 (20) | ICMPv4 (8) | inner IPv4 (20) | inner payload.
    let start = 48;
    let copy = ipresent.len().min(MAX_ICMP4_ERROR - start);
    let end = start + copy;
    out[start..end].copy_from_slice(&ipresent[..copy]);
    let (iident, idf, imf, ioff) = match ih.frag {
        Some(f) => (f.ident as u16, false, f.more, f.offset),
        None => (0, itotal > DF_THRESHOLD, false, 0),
    };
    put_v4_header(
        &mut out[28..],
        &V4Out {
            tos: ih.tc,
            total: itotal as u16,
            ident: iident,
            df: idf,
            mf: imf,
            offset: ioff,
            ttl: ih.hop,
            proto: if ih.proto == 58 { 1 } else { ih.proto },
            src: imap.src,
            dst: imap.dst,
        },
    );
    if ifirst {
        let ph = checksum::pseudo_header_v6(&ih.src, &ih.dst, IpProtocol::Icmpv6, ideclared as u32);
        rewrite_l4(
            &mut out[start..end],
            ih.proto,
            Dir::V6ToV4,
            addr_sum6(&ih.src, &ih.dst),
            addr_sum4(imap.src, imap.dst),
            ph,
            imap.src_port,
            imap.dst_port,
        );
    }

    // ICMPv4 header.
    out[20] = m.ty;
    out[21] = m.code;
    match m.rest {
        Rest::Unused => {}
        Rest::Pointer(p) => out[24] = p as u8,
        Rest::Mtu => {
            let mtu = icmp::mtu_6to4(rest, ih.frag.is_some(), cfg.ipv4_mtu, cfg.ipv6_mtu);
            wr16(&mut out[..], 26, mtu);
        }
    }
    let c = checksum::checksum(&out[20..end]);
    wr16(&mut out[..], 22, c);
    let o = &map.outer;
    put_v4_header(
        &mut out[..],
        &V4Out {
            tos: h.tc,
            total: end as u16,
            ident: map.ident,
            df: false,
            mf: false,
            offset: 0,
            ttl: h.hop,
            proto: 1,
            src: o.src,
            dst: o.dst,
        },
    );
    Ok(end)
}
