//! SNAT44/SNAT66 packet handling: parse just enough, find or open the session, rewrite in place
//! with incremental checksums (RFC 1624), ICMP errors with their embedded packet (RFC 5508
//! section 4, RFC 4443 section 2.4 for ICMPv6).
//!
//! Offsets are checked on every access (`rd16`/`wr16` ignore out-of-range positions), and the
//! parsers below establish that every field touched lies inside the IP datagram, so a
//! truncated or lying packet is dropped (counted) and never causes a panic.

use super::table::{Dir, FlowKey, NewSession, OpenError, SessionKind, TcpSeen};
use super::{Addr, Nat, Step};
use crate::drop::DropReason;
use crate::wire::checksum;
use crate::wire::{Ipv4Packet, Ipv6Packet};

const TCP: u8 = 6;
const UDP: u8 = 17;
const ICMP: u8 = 1;
const ICMPV6: u8 = 58;

/// Where a plain TCP/UDP packet's fields are (IPv4 with IHL 5, IPv6 with TCP or UDP as first
/// next header), as [`plain_header`] found them.
struct Plain {
    /// IP header length (the L4 header's offset).
    hdr: usize,
    /// Offsets of the source and destination addresses.
    s_off: usize,
    d_off: usize,
    /// End of the IP packet (its total length).
    end: usize,
    proto: u8,
}

/// The plain paths' common checks: the length fields fit the bytes, TCP or UDP with its whole
/// header, not a non-first IPv4 fragment. `None`: the general path decides.
#[inline(always)]
fn plain_header<const V6: bool>(d: &[u8]) -> Option<Plain> {
    let (hdr, s_off, d_off) = if V6 { (40, 8, 24) } else { (20, 12, 16) };
    let end = if V6 {
        40 + usize::from(rd16(d, 4))
    } else {
        usize::from(rd16(d, 2))
    };
    // `end >= hdr` and `end <= len` also give `len >= hdr`.
    if end < hdr || end > d.len() {
        return None;
    }
    let proto = d.get(if V6 { 6 } else { 9 }).copied().unwrap_or(0);
    if (proto != TCP && proto != UDP) || hdr + min_l4(proto) > end {
        return None;
    }
    if !V6 && rd16(d, 6) & 0x1fff != 0 {
        return None; // a non-first fragment
    }
    Some(Plain {
        hdr,
        s_off,
        d_off,
        end,
        proto,
    })
}

#[inline(always)]
fn rd16(d: &[u8], at: usize) -> u16 {
    match d.get(at..at.wrapping_add(2)) {
        Some(b) => u16::from_be_bytes([b[0], b[1]]),
        None => 0,
    }
}

#[inline(always)]
fn wr16(d: &mut [u8], at: usize, v: u16) {
    if let Some(b) = d.get_mut(at..at.wrapping_add(2)) {
        b.copy_from_slice(&v.to_be_bytes());
    }
}

#[inline(always)]
fn rd_addr(d: &[u8], at: usize, v6: bool) -> Addr {
    let mut a = [0u8; 16];
    if v6 {
        if let Some(b) = d.get(at..at + 16) {
            a.copy_from_slice(b);
        }
    } else {
        a[10] = 0xff;
        a[11] = 0xff;
        if let Some(b) = d.get(at..at + 4) {
            a[12..].copy_from_slice(b);
        }
    }
    a
}

#[inline(always)]
fn wr_addr(d: &mut [u8], at: usize, a: &Addr, v6: bool) {
    let src = if v6 { &a[..] } else { &a[12..] };
    if let Some(b) = d.get_mut(at..at + src.len()) {
        b.copy_from_slice(src);
    }
}

/// The RFC 1071 sum of a 16-byte address (what `checksum::sum` gives for it): two 64-bit
/// big-endian words added with end-around carry, then folded.
#[inline(always)]
fn sum_addr(a: &Addr) -> u16 {
    let (hi, lo) = a.split_at(8);
    let hi = u64::from_be_bytes(hi.try_into().unwrap_or([0; 8]));
    let lo = u64::from_be_bytes(lo.try_into().unwrap_or([0; 8]));
    let (s, carry) = hi.overflowing_add(lo);
    checksum::fold(s + u64::from(carry))
}

/// Incremental checksum update for an address change (RFC 1624 equation 3).
#[inline(always)]
fn upd_addr(c: u16, old: &Addr, new: &Addr, v6: bool) -> u16 {
    if v6 {
        // As `checksum::update_bytes(c, old, new)`, without the generic byte loop.
        checksum::update_sum(c, sum_addr(old), sum_addr(new))
    } else {
        let o = u32::from_be_bytes([old[12], old[13], old[14], old[15]]);
        let n = u32::from_be_bytes([new[12], new[13], new[14], new[15]]);
        checksum::update_u32(c, o, n)
    }
}

/// Offsets of the source and destination addresses in the IP header.
#[inline(always)]
fn addr_offsets(v6: bool) -> (usize, usize) {
    if v6 {
        (8, 24)
    } else {
        (12, 16)
    }
}

/// What the packet's IP header says.
#[derive(Debug, Clone, Copy)]
struct L3 {
    v6: bool,
    src: Addr,
    dst: Addr,
    proto: u8,
    /// Offset of the transport header.
    l4: usize,
    /// End of the IP datagram in the buffer (padding excluded).
    end: usize,
    /// A non-first fragment: no transport header at `l4`.
    later_fragment: bool,
}

/// IPv6 next-header values that `walk_ext_headers` treats as extension headers (Hop-by-Hop,
/// Routing, Fragment, AH, Destination Options).
#[inline(always)]
fn is_v6_ext_header(nh: u8) -> bool {
    matches!(nh, 0 | 43 | 44 | 51 | 60)
}

/// Parses the IP header. `Err(None)`: not an IP packet of a known version; `Err(Some(_))`:
/// malformed.
///
/// The length checks are those of `Ipv4Packet::check_len` and `Ipv6Packet::check_len`, made
/// on the bytes directly (one pass, no view); an IPv6 packet whose first next header is an
/// extension header goes through `Ipv6Packet::upper_layer`.
#[inline(always)]
fn parse_l3(d: &[u8]) -> Result<L3, Option<DropReason>> {
    let Some(&b0) = d.first() else {
        return Err(None);
    };
    match b0 >> 4 {
        4 => {
            let hl = usize::from(b0 & 0x0f) * 4;
            let end = usize::from(rd16(d, 2));
            if d.len() < 20 || hl < 20 || hl > d.len() || end < hl || end > d.len() {
                return Err(Some(DropReason::NatMalformed));
            }
            Ok(L3 {
                v6: false,
                src: rd_addr(d, 12, false),
                dst: rd_addr(d, 16, false),
                proto: d.get(9).copied().unwrap_or(0),
                l4: hl,
                end,
                // Fragment offset (low 13 bits of bytes 6-7) not zero.
                later_fragment: rd16(d, 6) & 0x1fff != 0,
            })
        }
        6 => {
            let end = 40 + usize::from(rd16(d, 4));
            if d.len() < 40 || end > d.len() {
                return Err(Some(DropReason::NatMalformed));
            }
            let nh = d.get(6).copied().unwrap_or(0);
            let (proto, l4, later_fragment) = if is_v6_ext_header(nh) {
                let upper = Ipv6Packet::new_unchecked(d)
                    .upper_layer()
                    .map_err(|_| Some(DropReason::NatMalformed))?;
                (
                    u8::from(upper.protocol),
                    upper.offset,
                    !upper.has_upper_header(),
                )
            } else {
                (nh, 40, false)
            };
            Ok(L3 {
                v6: true,
                src: rd_addr(d, 8, true),
                dst: rd_addr(d, 24, true),
                proto,
                l4,
                end,
                later_fragment,
            })
        }
        _ => Err(None),
    }
}

#[inline(always)]
fn is_icmp_of(proto: u8, v6: bool) -> bool {
    (proto == ICMP && !v6) || (proto == ICMPV6 && v6)
}

/// Minimum transport bytes to translate: ports and checksum (TCP 18, UDP 8, ICMP 8).
#[inline(always)]
fn min_l4(proto: u8) -> usize {
    if proto == TCP {
        18
    } else {
        8
    }
}

#[inline(always)]
fn csum_offset(proto: u8) -> usize {
    match proto {
        TCP => 16,
        UDP => 6,
        _ => 2,
    }
}

/// The TCP flags session tracking cares about (none for other protocols).
#[inline(always)]
fn tcp_seen(d: &[u8], l4: usize, proto: u8) -> TcpSeen {
    if proto != TCP {
        return TcpSeen::default();
    }
    let f = rd16(d, l4 + 12);
    TcpSeen {
        fin: f & 0x01 != 0,
        syn: f & 0x02 != 0,
        rst: f & 0x04 != 0,
        ack: f & 0x10 != 0,
    }
}

/// True for ICMP echo requests (`request`) or replies.
#[inline(always)]
fn is_echo(t: u8, v6: bool, request: bool) -> bool {
    match (v6, request) {
        (false, true) => t == 8,
        (false, false) => t == 0,
        (true, true) => t == 128,
        (true, false) => t == 129,
    }
}

/// ICMP error types that carry an embedded packet (RFC 792 3, 11, 12; RFC 4443 1 to 4).
#[inline(always)]
fn is_icmp_error(t: u8, v6: bool) -> bool {
    if v6 {
        (1..=4).contains(&t)
    } else {
        matches!(t, 3 | 11 | 12)
    }
}

/// Rewrites the source (`dir == In2Out`) or destination address and port of a packet, with its
/// IPv4 header checksum and transport checksum. `port_off` is the port's offset in the
/// transport header (0 source, 2 destination, 4 ICMP identifier).
#[inline(always)]
fn rewrite(d: &mut [u8], ip: &L3, src_side: bool, addr: &Addr, port: u16, port_off: usize) {
    let (s, t) = addr_offsets(ip.v6);
    let (at, old) = if src_side { (s, ip.src) } else { (t, ip.dst) };
    wr_addr(d, at, addr, ip.v6);
    if !ip.v6 {
        let c = rd16(d, 10);
        wr16(d, 10, upd_addr(c, &old, addr, false));
    }
    let l4 = ip.l4;
    let old_port = rd16(d, l4 + port_off);
    wr16(d, l4 + port_off, port);
    let co = l4 + csum_offset(ip.proto);
    let c = rd16(d, co);
    if ip.proto == UDP && c == 0 && !ip.v6 {
        return; // RFC 768: no checksum; leave it absent.
    }
    let mut c = c;
    if ip.proto != ICMP {
        c = upd_addr(c, &old, addr, ip.v6); // pseudo-header
    }
    c = checksum::update_u16(c, old_port, port);
    if ip.proto == UDP && c == 0 {
        c = 0xffff;
    }
    wr16(d, co, c);
}

/// The embedded packet of an ICMP error.
#[derive(Debug, Clone, Copy)]
struct Inner {
    /// Offset of the embedded IP header.
    ip: usize,
    src: Addr,
    dst: Addr,
    proto: u8,
    /// Offset of the embedded transport header.
    l4: usize,
    /// Source port (ICMP: the identifier).
    sport: u16,
    /// Destination port (ICMP: the identifier).
    dport: u16,
}

/// Parses the embedded packet of an ICMP error at `at..end`: same family as the outer packet,
/// a whole IP header, not a non-first fragment, TCP/UDP/ICMP echo, and the first 8 transport
/// bytes present (RFC 792 guarantees 8; RFC 1812 and RFC 4443 send more).
fn parse_inner(d: &[u8], at: usize, end: usize, v6: bool) -> Option<Inner> {
    let b = d.get(at..end)?;
    let (proto, l4) = if v6 {
        let ip = Ipv6Packet::new_unchecked(b);
        if b.len() < 40 || ip.version() != 6 {
            return None;
        }
        let upper = crate::wire::walk_ext_headers(ip.next_header(), b.get(40..)?).ok()?;
        if !upper.has_upper_header() {
            return None;
        }
        (u8::from(upper.protocol), 40 + upper.offset)
    } else {
        let ip = Ipv4Packet::new_unchecked(b);
        let hl = ip.header_len();
        if b.len() < 20 || ip.version() != 4 || hl < 20 || hl > b.len() || ip.frag_offset() != 0 {
            return None;
        }
        (u8::from(ip.next_header()), hl)
    };
    let l4b = b.get(l4..l4 + 8)?;
    let (sport, dport) = match proto {
        TCP | UDP => (rd16(l4b, 0), rd16(l4b, 2)),
        p if is_icmp_of(p, v6) => {
            // Only echo messages have identifiers; an error inside an error is not translated.
            if !(is_echo(l4b[0], v6, true) || is_echo(l4b[0], v6, false)) {
                return None;
            }
            (rd16(l4b, 4), rd16(l4b, 4))
        }
        _ => return None,
    };
    let (s, t) = addr_offsets(v6);
    Some(Inner {
        ip: at,
        src: rd_addr(b, s, v6),
        dst: rd_addr(b, t, v6),
        proto,
        l4: at + l4,
        sport,
        dport,
    })
}

/// The lookup a packet will make, as far as a cheap look tells (for prefetching): out2in when
/// it is to a SNAT address, else in2out; TCP, UDP and ICMP echo only.
pub(super) fn prefetch_key(d: &[u8], is_snat: impl Fn(&Addr) -> bool) -> Option<(Dir, FlowKey)> {
    let ip = parse_l3(d).ok()?;
    if ip.later_fragment || ip.l4 + 8 > d.len() {
        return None;
    }
    let out = is_snat(&ip.dst);
    let (lport, rport) = match ip.proto {
        TCP | UDP if out => (rd16(d, ip.l4 + 2), rd16(d, ip.l4)),
        TCP | UDP => (rd16(d, ip.l4), rd16(d, ip.l4 + 2)),
        p if is_icmp_of(p, ip.v6) && is_echo(*d.get(ip.l4)?, ip.v6, !out) => {
            (rd16(d, ip.l4 + 4), 0)
        }
        _ => return None,
    };
    let (dir, local, remote) = if out {
        (Dir::Out2In, ip.dst, ip.src)
    } else {
        (Dir::In2Out, ip.src, ip.dst)
    };
    Some((
        dir,
        FlowKey {
            proto: ip.proto,
            local,
            local_port: lport,
            remote,
            remote_port: rport,
        },
    ))
}

/// The SNAT port a return packet is for: destination port, echo reply identifier, or the
/// source port of the packet embedded in an ICMP error. `None` if not to a SNAT address.
pub(super) fn return_port(d: &[u8], is_snat: impl Fn(&Addr) -> bool) -> Option<u16> {
    let ip = parse_l3(d).ok()?;
    if !is_snat(&ip.dst) || ip.later_fragment || ip.l4 + 8 > ip.end {
        return None;
    }
    match ip.proto {
        TCP | UDP => Some(rd16(d, ip.l4 + 2)),
        p if is_icmp_of(p, ip.v6) => {
            let t = d.get(ip.l4).copied()?;
            if is_echo(t, ip.v6, false) {
                Some(rd16(d, ip.l4 + 4))
            } else if is_icmp_error(t, ip.v6) {
                parse_inner(d, ip.l4 + 8, ip.end, ip.v6).map(|i| i.sport)
            } else {
                None
            }
        }
        _ => None,
    }
}

impl Nat {
    #[inline]
    fn open_failed(&mut self, e: OpenError) -> Step {
        self.alloc_failures[e.index()] += 1;
        Step::Drop(match e {
            OpenError::NoAddress => DropReason::NatNoAddress,
            OpenError::PortsExhausted => DropReason::NatPortsExhausted,
            OpenError::PodQuota => DropReason::NatPodQuota,
            OpenError::TableFull => DropReason::NatTableFull,
            OpenError::Unsupported => DropReason::NatUnsupportedProtocol,
        })
    }

    /// in2out on the bytes of an IP packet from a pod.
    ///
    /// The common packets (IPv4 without options, IPv6 without extension headers, TCP or UDP)
    /// take [`Nat::in2out_plain`]; every other packet, and every packet that path declines,
    /// takes [`Nat::in2out_general`]. Where the plain path answers, it gives the general
    /// path's answer (same bytes, counters and verdict): it is only shorter.
    #[inline]
    pub(super) fn in2out_bytes(&mut self, d: &mut [u8], now: u64) -> Step {
        let plain = match d.first() {
            Some(0x45) => self.in2out_plain::<false>(d, now),
            Some(b) if b >> 4 == 6 && self.dual_stack => self.in2out_plain::<true>(d, now),
            _ => None,
        };
        match plain {
            Some(step) => step,
            None => self.in2out_general(d, now),
        }
    }

    /// The in2out session of `key`: found (and refreshed), or opened for a packet that may
    /// open one (any UDP or ICMP echo, a TCP SYN). `Err` is the verdict for the packet.
    #[inline(always)]
    fn in2out_session(
        &mut self,
        key: &FlowKey,
        tcp: TcpSeen,
        kind: SessionKind,
        now: u64,
    ) -> Result<u32, Step> {
        let hash = self.table.key_hash(key);
        let id = match self.table.lookup_in2out_hashed(key, hash, now) {
            Some(id) => id,
            None => {
                if key.proto == TCP && !(tcp.syn && !tcp.ack && !tcp.rst) {
                    return Err(Step::Drop(DropReason::NatNoSession));
                }
                let n = NewSession {
                    kind,
                    proto: key.proto,
                    inside: key.local,
                    inside_port: key.local_port,
                    remote_in: key.remote,
                    remote_in_port: key.remote_port,
                    remote_out: key.remote,
                    remote_out_port: key.remote_port,
                };
                match self.table.open_hashed(&n, hash, now) {
                    Ok(id) => id,
                    Err(e) => return Err(self.open_failed(e)),
                }
            }
        };
        self.table.touch(id, Dir::In2Out, tcp, now);
        Ok(id)
    }

    /// in2out of a TCP or UDP packet with a plain IP header (IPv4 with IHL 5, not a non-first
    /// fragment; IPv6 with TCP or UDP as first next header): the general path's steps without
    /// the header view, the 16-byte address copies of [`L3`] and the ICMP cases. `None`:
    /// not such a packet (or a hairpin): the general path decides.
    #[inline(always)]
    fn in2out_plain<const V6: bool>(&mut self, d: &mut [u8], now: u64) -> Option<Step> {
        let Plain {
            hdr,
            s_off,
            d_off,
            end,
            proto,
        } = plain_header::<V6>(d)?;
        let src = rd_addr(d, s_off, V6);
        let dst = rd_addr(d, d_off, V6);
        if self.table.is_snat_addr(&dst) {
            return None; // hairpin
        }
        let key = FlowKey {
            proto,
            local: src,
            local_port: rd16(d, hdr),
            remote: dst,
            remote_port: rd16(d, hdr + 2),
        };
        let tcp = tcp_seen(d, hdr, proto);
        let kind = if V6 {
            SessionKind::Snat66
        } else {
            SessionKind::Snat44
        };
        let id = match self.in2out_session(&key, tcp, kind, now) {
            Ok(id) => id,
            Err(step) => return Some(step),
        };
        let Some(s) = self.table.session(id) else {
            return Some(Step::Drop(DropReason::NatNoSession));
        };
        let (addr, port) = (s.outside, s.outside_port);
        // The rewrite of `rewrite(.., src_side = true, .., port_off = 0)`.
        wr_addr(d, s_off, &addr, V6);
        if !V6 {
            let c = rd16(d, 10);
            wr16(d, 10, upd_addr(c, &src, &addr, false));
        }
        wr16(d, hdr, port);
        let co = hdr + csum_offset(proto);
        let c = rd16(d, co);
        if !(proto == UDP && c == 0 && !V6) {
            let mut c = upd_addr(c, &src, &addr, V6);
            c = checksum::update_u16(c, key.local_port, port);
            if proto == UDP && c == 0 {
                c = 0xffff;
            }
            wr16(d, co, c);
        }
        let t = &mut self.traffic[kind.index()];
        t.in2out_pkts += 1;
        t.in2out_bytes += end as u64;
        Some(Step::Route)
    }

    /// in2out of any packet (the reference path): IPv4 options, IPv6 extension headers,
    /// fragments, ICMP queries and errors, and every malformed case.
    #[inline(never)]
    pub(super) fn in2out_general(&mut self, d: &mut [u8], now: u64) -> Step {
        let ip = match parse_l3(d) {
            Ok(ip) => ip,
            Err(None) => return Step::Pass,
            Err(Some(r)) => return Step::Drop(r),
        };
        if ip.v6 && !self.dual_stack {
            return Step::Pass;
        }
        let kind = if ip.v6 {
            SessionKind::Snat66
        } else {
            SessionKind::Snat44
        };
        if self.table.is_snat_addr(&ip.dst) {
            return Step::Drop(DropReason::NatHairpin);
        }
        if ip.later_fragment {
            return Step::Drop(DropReason::NatFragment);
        }
        let icmp = is_icmp_of(ip.proto, ip.v6);
        if !(ip.proto == TCP || ip.proto == UDP || icmp) {
            return Step::Drop(DropReason::NatUnsupportedProtocol);
        }
        if ip.l4 + min_l4(ip.proto) > ip.end {
            return Step::Drop(DropReason::NatMalformed);
        }
        let (key, tcp, port_off) = if icmp {
            let t = d.get(ip.l4).copied().unwrap_or(0);
            if is_icmp_error(t, ip.v6) {
                return self.icmp_error(d, &ip, kind, Dir::In2Out, now);
            }
            if !is_echo(t, ip.v6, true) {
                return Step::Drop(if is_echo(t, ip.v6, false) {
                    DropReason::NatNoSession
                } else {
                    DropReason::NatIcmpUnsupported
                });
            }
            let id = rd16(d, ip.l4 + 4);
            let key = FlowKey {
                proto: ip.proto,
                local: ip.src,
                local_port: id,
                remote: ip.dst,
                remote_port: 0,
            };
            (key, TcpSeen::default(), 4)
        } else {
            let key = FlowKey {
                proto: ip.proto,
                local: ip.src,
                local_port: rd16(d, ip.l4),
                remote: ip.dst,
                remote_port: rd16(d, ip.l4 + 2),
            };
            (key, tcp_seen(d, ip.l4, ip.proto), 0)
        };
        let id = match self.in2out_session(&key, tcp, kind, now) {
            Ok(id) => id,
            Err(step) => return step,
        };
        let Some(s) = self.table.session(id) else {
            return Step::Drop(DropReason::NatNoSession);
        };
        let (addr, port) = (s.outside, s.outside_port);
        rewrite(d, &ip, true, &addr, port, port_off);
        let t = &mut self.traffic[kind.index()];
        t.in2out_pkts += 1;
        t.in2out_bytes += ip.end as u64;
        Step::Route
    }

    /// out2in on the bytes of an IP packet from the world: [`Nat::out2in_plain`] for TCP and
    /// UDP with a plain header, [`Nat::out2in_general`] for the rest (as for in2out).
    #[inline]
    pub(super) fn out2in_bytes(&mut self, d: &mut [u8], now: u64) -> Step {
        let plain = match d.first() {
            Some(0x45) => self.out2in_plain::<false>(d, now),
            Some(b) if b >> 4 == 6 => self.out2in_plain::<true>(d, now),
            _ => None,
        };
        match plain {
            Some(step) => step,
            None => self.out2in_general(d, now),
        }
    }

    /// out2in of a TCP or UDP packet with a plain IP header (as [`Nat::in2out_plain`]): the
    /// general path's steps and answers, without the header view and the [`L3`] copies.
    /// `None`: not such a packet; the general path decides.
    #[inline(always)]
    fn out2in_plain<const V6: bool>(&mut self, d: &mut [u8], now: u64) -> Option<Step> {
        let Plain {
            hdr,
            s_off,
            d_off,
            end,
            proto,
        } = plain_header::<V6>(d)?;
        let dst = rd_addr(d, d_off, V6);
        if !self.table.is_snat_addr(&dst) {
            return Some(Step::Pass);
        }
        let key = FlowKey {
            proto,
            local: dst,
            local_port: rd16(d, hdr + 2),
            remote: rd_addr(d, s_off, V6),
            remote_port: rd16(d, hdr),
        };
        let tcp = tcp_seen(d, hdr, proto);
        let Some(id) = self.table.lookup_out2in(&key, now) else {
            return Some(Step::Pass);
        };
        let Some(s) = self.table.session(id) else {
            return Some(Step::Pass);
        };
        let kind = s.kind();
        if !matches!(kind, SessionKind::Snat44 | SessionKind::Snat66) {
            // NAT46/NAT64 sessions are translated by their own stage.
            return Some(Step::Pass);
        }
        let (addr, port) = (s.inside, s.inside_port);
        self.table.touch(id, Dir::Out2In, tcp, now);
        // The rewrite of `rewrite(.., src_side = false, .., port_off = 2)`.
        wr_addr(d, d_off, &addr, V6);
        if !V6 {
            let c = rd16(d, 10);
            wr16(d, 10, upd_addr(c, &dst, &addr, false));
        }
        wr16(d, hdr + 2, port);
        let co = hdr + csum_offset(proto);
        let c = rd16(d, co);
        if !(proto == UDP && c == 0 && !V6) {
            let mut c = upd_addr(c, &dst, &addr, V6);
            c = checksum::update_u16(c, key.local_port, port);
            if proto == UDP && c == 0 {
                c = 0xffff;
            }
            wr16(d, co, c);
        }
        let t = &mut self.traffic[kind.index()];
        t.out2in_pkts += 1;
        t.out2in_bytes += end as u64;
        Some(Step::Route)
    }

    /// out2in of any packet (the reference path).
    #[inline(never)]
    pub(super) fn out2in_general(&mut self, d: &mut [u8], now: u64) -> Step {
        let Ok(ip) = parse_l3(d) else {
            return Step::Pass;
        };
        if !self.table.is_snat_addr(&ip.dst) {
            return Step::Pass;
        }
        if ip.later_fragment {
            return Step::Drop(DropReason::NatFragment);
        }
        let icmp = is_icmp_of(ip.proto, ip.v6);
        if !(ip.proto == TCP || ip.proto == UDP || icmp) {
            return Step::Pass;
        }
        if ip.l4 + min_l4(ip.proto) > ip.end {
            return Step::Drop(DropReason::NatMalformed);
        }
        let (key, tcp, port_off) = if icmp {
            let t = d.get(ip.l4).copied().unwrap_or(0);
            if is_icmp_error(t, ip.v6) {
                let kind = if ip.v6 {
                    SessionKind::Snat66
                } else {
                    SessionKind::Snat44
                };
                return self.icmp_error(d, &ip, kind, Dir::Out2In, now);
            }
            if !is_echo(t, ip.v6, false) {
                return Step::Pass;
            }
            let key = FlowKey {
                proto: ip.proto,
                local: ip.dst,
                local_port: rd16(d, ip.l4 + 4),
                remote: ip.src,
                remote_port: 0,
            };
            (key, TcpSeen::default(), 4)
        } else {
            let key = FlowKey {
                proto: ip.proto,
                local: ip.dst,
                local_port: rd16(d, ip.l4 + 2),
                remote: ip.src,
                remote_port: rd16(d, ip.l4),
            };
            (key, tcp_seen(d, ip.l4, ip.proto), 2)
        };
        let Some(id) = self.table.lookup_out2in(&key, now) else {
            return Step::Pass;
        };
        let Some(s) = self.table.session(id) else {
            return Step::Pass;
        };
        let kind = s.kind();
        if !matches!(kind, SessionKind::Snat44 | SessionKind::Snat66) {
            // NAT46/NAT64 sessions are translated by their own stage.
            return Step::Pass;
        }
        let (addr, port) = (s.inside, s.inside_port);
        self.table.touch(id, Dir::Out2In, tcp, now);
        rewrite(d, &ip, false, &addr, port, port_off);
        let t = &mut self.traffic[kind.index()];
        t.out2in_pkts += 1;
        t.out2in_bytes += ip.end as u64;
        Step::Route
    }

    /// Translates an ICMP error and its embedded packet. In2out: a pod reports a problem with a
    /// packet it received (embedded: remote -> pod): outer source and embedded destination
    /// become the SNAT address and port. Out2in: a host reports a problem with a packet we sent
    /// (embedded: SNAT address -> remote): outer destination and embedded source become the
    /// pod's. The session is not refreshed (RFC 5508 section 4.2).
    fn icmp_error(&mut self, d: &mut [u8], ip: &L3, kind: SessionKind, dir: Dir, now: u64) -> Step {
        let Some(inner) = parse_inner(d, ip.l4 + 8, ip.end, ip.v6) else {
            return Step::Drop(DropReason::NatIcmpErrorMalformed);
        };
        let inner_icmp = is_icmp_of(inner.proto, ip.v6);
        let zero_if_icmp = |p: u16| if inner_icmp { 0 } else { p };
        let (target, new_addr, new_port) = match dir {
            Dir::In2Out => {
                // The pod's error is about a packet addressed to it.
                if inner.dst != ip.src {
                    return Step::Drop(DropReason::NatIcmpErrorMalformed);
                }
                let key = FlowKey {
                    proto: inner.proto,
                    local: inner.dst,
                    local_port: inner.dport,
                    remote: inner.src,
                    remote_port: zero_if_icmp(inner.sport),
                };
                // `lookup` (not `touch`): the error does not refresh the session.
                let Some(s) = self
                    .table
                    .lookup_in2out(&key, now)
                    .and_then(|id| self.table.session(id))
                    .filter(|s| s.kind() == kind)
                else {
                    return Step::Drop(DropReason::NatIcmpErrorNoSession);
                };
                (Dir::In2Out, s.outside, s.outside_port)
            }
            Dir::Out2In => {
                if inner.src != ip.dst {
                    return Step::Drop(DropReason::NatIcmpErrorMalformed);
                }
                let key = FlowKey {
                    proto: inner.proto,
                    local: inner.src,
                    local_port: inner.sport,
                    remote: inner.dst,
                    remote_port: zero_if_icmp(inner.dport),
                };
                let Some(s) = self
                    .table
                    .lookup_out2in(&key, now)
                    .and_then(|id| self.table.session(id))
                else {
                    return Step::Pass;
                };
                if s.kind() != kind {
                    return Step::Pass;
                }
                (Dir::Out2In, s.inside, s.inside_port)
            }
        };
        let v6 = ip.v6;
        let ic_at = ip.l4 + 2;
        let mut ic = rd16(d, ic_at);
        // Outer address: the IPv4 header checksum, or the ICMPv6 pseudo-header.
        let (s_off, d_off) = addr_offsets(v6);
        let (outer_at, outer_old) = match target {
            Dir::In2Out => (s_off, ip.src),
            Dir::Out2In => (d_off, ip.dst),
        };
        wr_addr(d, outer_at, &new_addr, v6);
        if v6 {
            ic = upd_addr(ic, &outer_old, &new_addr, true);
        } else {
            let c = rd16(d, 10);
            wr16(d, 10, upd_addr(c, &outer_old, &new_addr, false));
        }
        // Embedded address (and the embedded IPv4 header checksum).
        let (inner_at, inner_old) = match target {
            Dir::In2Out => (inner.ip + d_off, inner.dst),
            Dir::Out2In => (inner.ip + s_off, inner.src),
        };
        wr_addr(d, inner_at, &new_addr, v6);
        ic = upd_addr(ic, &inner_old, &new_addr, v6);
        if !v6 {
            let old = rd16(d, inner.ip + 10);
            let new = upd_addr(old, &inner_old, &new_addr, false);
            wr16(d, inner.ip + 10, new);
            ic = checksum::update_u16(ic, old, new);
        }
        // Embedded port or identifier.
        let port_at = inner.l4
            + match (inner_icmp, target) {
                (true, _) => 4,
                (false, Dir::In2Out) => 2,
                (false, Dir::Out2In) => 0,
            };
        let old_port = rd16(d, port_at);
        wr16(d, port_at, new_port);
        ic = checksum::update_u16(ic, old_port, new_port);
        // Embedded transport checksum, when the error carries it.
        let co = inner.l4 + csum_offset(inner.proto);
        if co + 2 <= ip.end {
            let old = rd16(d, co);
            if !(inner.proto == UDP && old == 0 && !v6) {
                let mut new = old;
                if inner.proto != ICMP {
                    new = upd_addr(new, &inner_old, &new_addr, v6);
                }
                new = checksum::update_u16(new, old_port, new_port);
                if inner.proto == UDP && new == 0 {
                    new = 0xffff;
                }
                wr16(d, co, new);
                ic = checksum::update_u16(ic, old, new);
            }
        }
        wr16(d, ic_at, ic);
        self.icmp_errors += 1;
        let t = &mut self.traffic[kind.index()];
        match dir {
            Dir::In2Out => {
                t.in2out_pkts += 1;
                t.in2out_bytes += ip.end as u64;
            }
            Dir::Out2In => {
                t.out2in_pkts += 1;
                t.out2in_bytes += ip.end as u64;
            }
        }
        Step::Route
    }
}
