//! NAT64 (RFC 6146): IPv6 pods to IPv4 hosts under the NAT64 prefix (see `stateful`).
//!
//! in2out (IPv6 from a pod to the prefix): the embedded IPv4 is extracted (RFC 6052 2.3; an
//! invalid one is dropped, `nat64_bad_address`); a pod source under the prefix is dropped
//! (`nat64_src_in_prefix`). The session (RFC 6146 3.5.1 / 3.5.2: UDP, ICMP query, TCP opened
//! by a SYN) gives the IPv4 source from this TMM's IPv4 pool (the BIB is the table's
//! endpoint-independent mappings, static entries included); RFC 7915 section 5 translation.
//! An embedded IPv4 that is one of our pool addresses is hairpinned (RFC 6146 3.8): the packet
//! is translated to IPv4 as usual and goes straight through out2in.
//!
//! out2in (IPv4 to one of our pool addresses): the session of the reply, or, for a TCP SYN or
//! a UDP packet to a live NAT64 mapping without a session, a new session from that mapping
//! (endpoint-independent filtering, the RFC 6146 default); a session opened by a SYN lives
//! `tcp_incoming_syn_ms` (6 s, V4 INIT) until the pod answers. Then RFC 7915 section 4
//! translation with source = the remote embedded in the prefix. ICMPv4 errors carry the
//! embedded source of the reporting router (or the remote's when that one cannot be
//! embedded).

use std::net::{Ipv4Addr, Ipv6Addr};

use super::frag::FragXlat;
use super::stateful::{
    count, flow_ports, key_proto, open_failed, rewrite, tcp_seen, v4_of, XlatMeta, XlatNat,
};
use super::table::{Dir, FlowKey, NewSession, SessionKind, TcpSeen};
use super::{addr_v4, addr_v6, Nat};
use crate::action::{FrameAlloc, Outcome, Sink};
use crate::drop::DropReason;
use crate::frame::Frame;
use crate::xlat::{
    icmp4_error_in_place, icmp6_error_in_place, inspect_v4_parsed, inspect_v6_parsed,
    ipv4_to_ipv6_parsed, ipv6_to_ipv4_parsed, HeaderChecksum, Inspected4, Inspected6, Map46, Map64,
    Rewrite, Transport, Xlat,
};

const TCP: u8 = 6;
const UDP: u8 = 17;

impl<F: Frame> XlatNat<F> {
    /// NAT64 in2out of an IPv6 packet whose destination is under the NAT64 prefix.
    pub(super) fn nat64_in2out<A, S>(
        &mut self,
        nat: &mut Nat,
        mut pkt: F,
        meta: &XlatMeta,
        now: u64,
        alloc: &mut A,
        sink: &mut S,
    ) -> Outcome<F>
    where
        A: FrameAlloc<Frame = F>,
        S: Sink<F>,
    {
        // The translation below continues from this parse.
        let ins = match inspect_v6_parsed(pkt.data()) {
            Ok(i) => i,
            Err(r) => return Outcome::Drop(pkt, r),
        };
        let info = &ins.info;
        let o = info.outer;
        if self.cfg.prefix.contains(&o.src) {
            return Outcome::Drop(pkt, DropReason::Nat64SrcInPrefix);
        }
        // Our own pool addresses may be private: they are hairpinned whatever the prefix.
        // (`prefix_any` is the prefix without the Well-Known Prefix's non-global check, so
        // `cfg.prefix.extract` would give the same address or refuse it as non-global.)
        let Ok(dst4) = self.prefix_any.extract(&o.dst) else {
            return Outcome::Drop(pkt, DropReason::Nat64BadAddress);
        };
        let hairpin = nat.table().is_snat_addr(&addr_v4(dst4));
        if !hairpin && !self.cfg.prefix.allows_v4(dst4) {
            return Outcome::Drop(pkt, DropReason::Nat64BadAddress);
        }
        let (sport, dport, icmp) = match o.transport {
            Transport::IcmpError { .. } if hairpin => {
                return Outcome::Drop(pkt, DropReason::NatHairpin)
            }
            Transport::IcmpError { .. } => {
                return self.nat64_icmp_error_in2out(nat, pkt, &ins, dst4, now, alloc, sink)
            }
            Transport::Fragment if hairpin => return Outcome::Drop(pkt, DropReason::NatFragment),
            Transport::Fragment => return self.later_fragment_6to4(nat, pkt, now, alloc, sink),
            Transport::EchoReply { .. } => return Outcome::Drop(pkt, DropReason::NatNoSession),
            Transport::Other => {
                let r = if o.protocol == 58 {
                    DropReason::NatIcmpUnsupported
                } else {
                    DropReason::NatUnsupportedProtocol
                };
                return Outcome::Drop(pkt, r);
            }
            ref t => match flow_ports(t) {
                Some(p) => p,
                None => return Outcome::Drop(pkt, DropReason::NatUnsupportedProtocol),
            },
        };
        let proto = key_proto(o.protocol);
        let tcp = if proto == TCP {
            tcp_seen(pkt.data(), ins.l4_offset())
        } else {
            TcpSeen::default()
        };
        let key = FlowKey {
            proto,
            local: addr_v6(&o.src),
            local_port: sport,
            remote: addr_v6(&o.dst),
            remote_port: dport,
        };
        let mut opened = false;
        let id = match nat.table_mut().lookup_in2out(&key, now) {
            Some(id) => id,
            None => {
                if proto == TCP && !(tcp.syn && !tcp.ack && !tcp.rst) {
                    return Outcome::Drop(pkt, DropReason::NatNoSession);
                }
                let n = NewSession {
                    kind: SessionKind::Nat64,
                    proto,
                    inside: key.local,
                    inside_port: sport,
                    remote_in: key.remote,
                    remote_in_port: dport,
                    remote_out: addr_v4(dst4),
                    remote_out_port: dport,
                };
                match nat.table_mut().open(&n, now) {
                    Ok(id) => {
                        opened = true;
                        id
                    }
                    Err(e) => return Outcome::Drop(pkt, open_failed(nat, e)),
                }
            }
        };
        let Some(s) = nat.table().session(id).copied() else {
            return Outcome::Drop(pkt, DropReason::NatNoSession);
        };
        if s.kind() != SessionKind::Nat64 {
            return Outcome::Pass(pkt);
        }
        let Some(ours) = v4_of(&s.outside) else {
            return Outcome::Drop(pkt, DropReason::NatNoAddress);
        };
        let len = pkt.len();
        let fkey = Self::frag_key(pkt.data(), info.fragment && !hairpin);
        let map = Map64 {
            outer: rewrite(
                ours,
                dst4,
                icmp,
                s.outside_port,
                s.remote_out_port,
                s.outside_port,
            ),
            inner: None,
            ident: self.next_ident(),
        };
        let cfg = if hairpin {
            &self.xlat_hairpin
        } else {
            &self.cfg.xlat
        };
        match ipv6_to_ipv4_parsed(&mut pkt, &ins, cfg, &map, alloc, sink) {
            Xlat::Translated { fragments } => {
                nat.table_mut().touch(id, Dir::In2Out, tcp, now);
                let x = FragXlat {
                    src: s.outside,
                    dst: addr_v4(dst4),
                    kind: SessionKind::Nat64,
                    dir: Dir::In2Out,
                };
                self.track(fkey, x, now);
                count(nat, SessionKind::Nat64, Dir::In2Out, len);
                self.counters.nat64_out += 1;
                self.counters.fragments_out += u64::from(fragments);
                if hairpin {
                    self.counters.nat64_hairpin += 1;
                    return self.nat64_out2in(nat, pkt, now, true, alloc, sink);
                }
                Outcome::Route(pkt)
            }
            Xlat::Icmp(e) => {
                if opened {
                    nat.table_mut().remove(id, now);
                }
                let src = meta.self_v6.unwrap_or(o.dst);
                match icmp6_error_in_place(&mut pkt, e, src) {
                    Ok(()) => {
                        self.counters.icmp_errors_sent += 1;
                        Outcome::Reply(pkt)
                    }
                    Err(r) => Outcome::Drop(pkt, r),
                }
            }
            Xlat::Drop(r) => {
                if opened {
                    nat.table_mut().remove(id, now);
                }
                Outcome::Drop(pkt, r)
            }
        }
    }

    /// An ICMPv6 error from a pod about a packet of a NAT64 flow it received (inner: the
    /// remote under the prefix -> pod).
    #[allow(clippy::too_many_arguments)]
    fn nat64_icmp_error_in2out<A, S>(
        &mut self,
        nat: &mut Nat,
        mut pkt: F,
        ins: &Inspected6,
        dst4: Ipv4Addr,
        now: u64,
        alloc: &mut A,
        sink: &mut S,
    ) -> Outcome<F>
    where
        A: FrameAlloc<Frame = F>,
        S: Sink<F>,
    {
        let info = &ins.info;
        let Some(inner) = info.inner else {
            return Outcome::Drop(pkt, DropReason::NatIcmpErrorMalformed);
        };
        let Some((isport, idport, icmp)) = flow_ports(&inner.transport) else {
            return Outcome::Drop(pkt, DropReason::NatIcmpErrorMalformed);
        };
        if inner.dst != info.outer.src {
            return Outcome::Drop(pkt, DropReason::NatIcmpErrorMalformed);
        }
        let key = FlowKey {
            proto: key_proto(inner.protocol),
            local: addr_v6(&inner.dst),
            local_port: if icmp { isport } else { idport },
            remote: addr_v6(&inner.src),
            remote_port: if icmp { 0 } else { isport },
        };
        let Some(s) = nat
            .table_mut()
            .lookup_in2out(&key, now)
            .and_then(|id| nat.table().session(id).copied())
            .filter(|s| s.kind() == SessionKind::Nat64)
        else {
            return Outcome::Drop(pkt, DropReason::NatIcmpErrorNoSession);
        };
        let (Some(ours), Some(remote4)) = (v4_of(&s.outside), v4_of(&s.remote_out)) else {
            return Outcome::Drop(pkt, DropReason::NatNoAddress);
        };
        if remote4 != dst4 {
            return Outcome::Drop(pkt, DropReason::NatIcmpErrorMalformed);
        }
        let inner_rw = if icmp {
            Rewrite {
                src: remote4,
                dst: ours,
                src_port: Some(s.outside_port),
                dst_port: None,
            }
        } else {
            Rewrite::with_ports(remote4, ours, s.remote_out_port, s.outside_port)
        };
        let map = Map64 {
            outer: Rewrite::addrs(ours, remote4),
            inner: Some(inner_rw),
            ident: self.next_ident(),
        };
        let len = pkt.len();
        match ipv6_to_ipv4_parsed(&mut pkt, ins, &self.cfg.xlat, &map, alloc, sink) {
            Xlat::Translated { fragments } => {
                nat.icmp_errors += 1;
                count(nat, SessionKind::Nat64, Dir::In2Out, len);
                self.counters.nat64_out += 1;
                self.counters.fragments_out += u64::from(fragments);
                Outcome::Route(pkt)
            }
            Xlat::Icmp(_) => Outcome::Drop(pkt, DropReason::XlatMalformed),
            Xlat::Drop(r) => Outcome::Drop(pkt, r),
        }
    }

    /// NAT64 out2in of an IPv4 packet to one of our IPv4 pool addresses (`hairpin`: the
    /// packet is the IPv4 translation of a pod's packet to our own pool address).
    pub(super) fn nat64_out2in<A, S>(
        &mut self,
        nat: &mut Nat,
        mut pkt: F,
        now: u64,
        hairpin: bool,
        alloc: &mut A,
        sink: &mut S,
    ) -> Outcome<F>
    where
        A: FrameAlloc<Frame = F>,
        S: Sink<F>,
    {
        // The L2 stage verified the IPv4 header checksum (a hairpinned packet's header was
        // just written with one); the translation below continues from this parse.
        let ins = match inspect_v4_parsed(pkt.data(), HeaderChecksum::Verified) {
            Ok(i) => i,
            Err(r) => return Outcome::Drop(pkt, r),
        };
        let info = &ins.info;
        let o = info.outer;
        let (sport, dport, icmp) = match o.transport {
            Transport::IcmpError { .. } if !hairpin => {
                return self.nat64_icmp_error_out2in(nat, pkt, &ins, now, alloc, sink)
            }
            Transport::Fragment if hairpin => return Outcome::Drop(pkt, DropReason::NatFragment),
            Transport::Fragment => return self.later_fragment_4to6(nat, pkt, now, alloc, sink),
            Transport::EchoReply { .. } | Transport::Tcp { .. } | Transport::Udp { .. } => {
                match flow_ports(&o.transport) {
                    Some(p) => p,
                    None => return Outcome::Pass(pkt),
                }
            }
            _ if hairpin => return Outcome::Drop(pkt, DropReason::NatHairpin),
            _ => return Outcome::Pass(pkt),
        };
        let proto = key_proto(o.protocol);
        let tcp = if proto == TCP {
            tcp_seen(pkt.data(), ins.l4_offset())
        } else {
            TcpSeen::default()
        };
        let key = FlowKey {
            proto,
            local: addr_v4(o.dst),
            local_port: if icmp { sport } else { dport },
            remote: addr_v4(o.src),
            remote_port: if icmp { 0 } else { sport },
        };
        let prefix = if hairpin {
            self.prefix_any
        } else {
            self.cfg.prefix
        };
        let not_ours = |pkt: F| {
            if hairpin {
                Outcome::Drop(pkt, DropReason::NatHairpin)
            } else {
                Outcome::Pass(pkt)
            }
        };
        let mut inbound_syn = false;
        let id = match nat.table_mut().lookup_out2in(&key, now) {
            Some(id) => id,
            None => {
                // Endpoint-independent filtering (RFC 6146 3.5.1.1, 3.5.2.2): a live NAT64
                // mapping accepts UDP and TCP SYNs from any remote.
                if !(proto == TCP || proto == UDP) {
                    return not_ours(pkt);
                }
                let Some(m) = nat.table().mapping_out(proto, &key.local, dport) else {
                    return not_ours(pkt);
                };
                if m.kind != SessionKind::Nat64 {
                    return not_ours(pkt);
                }
                if proto == TCP && !(tcp.syn && !tcp.ack && !tcp.rst) {
                    return Outcome::Drop(pkt, DropReason::NatXlatUnsolicited);
                }
                let Ok(remote6) = prefix.embed(o.src) else {
                    return Outcome::Drop(pkt, DropReason::Nat64BadAddress);
                };
                let n = NewSession {
                    kind: SessionKind::Nat64,
                    proto,
                    inside: m.inside,
                    inside_port: m.inside_port,
                    remote_in: addr_v6(&remote6),
                    remote_in_port: sport,
                    remote_out: key.remote,
                    remote_out_port: sport,
                };
                let id = match nat.table_mut().open(&n, now) {
                    Ok(id) => id,
                    Err(e) => return Outcome::Drop(pkt, open_failed(nat, e)),
                };
                let same = nat
                    .table()
                    .session(id)
                    .is_some_and(|s| s.outside == key.local && s.outside_port == dport);
                if !same {
                    // The mapping went away in between: never let an inbound packet make one.
                    nat.table_mut().remove(id, now);
                    return not_ours(pkt);
                }
                self.counters.eif_sessions += 1;
                inbound_syn = proto == TCP;
                id
            }
        };
        let Some(s) = nat.table().session(id).copied() else {
            return not_ours(pkt);
        };
        if s.kind() != SessionKind::Nat64 {
            return not_ours(pkt);
        }
        let pod = Ipv6Addr::from(s.inside);
        let remote6 = Ipv6Addr::from(s.remote_in);
        let len = pkt.len();
        let fkey = Self::frag_key(pkt.data(), info.fragment && !hairpin);
        let outer = if icmp {
            Rewrite {
                src: remote6,
                dst: pod,
                src_port: None,
                dst_port: Some(s.inside_port),
            }
        } else {
            Rewrite::with_ports(remote6, pod, s.remote_in_port, s.inside_port)
        };
        let map = Map46 { outer, inner: None };
        match ipv4_to_ipv6_parsed(&mut pkt, &ins, &self.cfg.xlat, &map, alloc, sink) {
            Xlat::Translated { fragments } => {
                nat.table_mut().touch(id, Dir::Out2In, tcp, now);
                let x = FragXlat {
                    src: s.remote_in,
                    dst: s.inside,
                    kind: SessionKind::Nat64,
                    dir: Dir::Out2In,
                };
                self.track(fkey, x, now);
                if inbound_syn {
                    let t = now.saturating_add(self.cfg.tcp_incoming_syn_ms);
                    nat.table_mut().set_expires(id, t);
                }
                count(nat, SessionKind::Nat64, Dir::Out2In, len);
                self.counters.nat64_in += 1;
                self.counters.fragments_out += u64::from(fragments);
                Outcome::Route(pkt)
            }
            Xlat::Icmp(e) => {
                if inbound_syn {
                    nat.table_mut().remove(id, now);
                }
                if hairpin {
                    return Outcome::Drop(pkt, DropReason::NatHairpin);
                }
                match icmp4_error_in_place(&mut pkt, e, o.dst) {
                    Ok(()) => {
                        self.counters.icmp_errors_sent += 1;
                        Outcome::Reply(pkt)
                    }
                    Err(r) => Outcome::Drop(pkt, r),
                }
            }
            Xlat::Drop(r) => {
                if inbound_syn {
                    nat.table_mut().remove(id, now);
                }
                Outcome::Drop(pkt, r)
            }
        }
    }

    /// An ICMPv4 error to our pool address about a packet we sent for a NAT64 flow (inner:
    /// our address/port -> the IPv4 host).
    fn nat64_icmp_error_out2in<A, S>(
        &mut self,
        nat: &mut Nat,
        mut pkt: F,
        ins: &Inspected4,
        now: u64,
        alloc: &mut A,
        sink: &mut S,
    ) -> Outcome<F>
    where
        A: FrameAlloc<Frame = F>,
        S: Sink<F>,
    {
        let info = &ins.info;
        let Some(inner) = info.inner else {
            return Outcome::Drop(pkt, DropReason::NatIcmpErrorMalformed);
        };
        let Some((isport, idport, icmp)) = flow_ports(&inner.transport) else {
            return Outcome::Drop(pkt, DropReason::NatIcmpErrorMalformed);
        };
        if inner.src != info.outer.dst {
            return Outcome::Drop(pkt, DropReason::NatIcmpErrorMalformed);
        }
        let key = FlowKey {
            proto: key_proto(inner.protocol),
            local: addr_v4(inner.src),
            local_port: isport,
            remote: addr_v4(inner.dst),
            remote_port: if icmp { 0 } else { idport },
        };
        let Some(s) = nat
            .table_mut()
            .lookup_out2in(&key, now)
            .and_then(|id| nat.table().session(id).copied())
        else {
            return Outcome::Pass(pkt);
        };
        if s.kind() != SessionKind::Nat64 {
            return Outcome::Pass(pkt);
        }
        let pod = Ipv6Addr::from(s.inside);
        let remote6 = Ipv6Addr::from(s.remote_in);
        // The reporting router, embedded; the remote's own address when it cannot be.
        let src = self.cfg.prefix.embed(info.outer.src).unwrap_or(remote6);
        let inner_rw = if icmp {
            Rewrite {
                src: pod,
                dst: remote6,
                src_port: Some(s.inside_port),
                dst_port: None,
            }
        } else {
            Rewrite::with_ports(pod, remote6, s.inside_port, s.remote_in_port)
        };
        let map = Map46 {
            outer: Rewrite::addrs(src, pod),
            inner: Some(inner_rw),
        };
        let len = pkt.len();
        match ipv4_to_ipv6_parsed(&mut pkt, ins, &self.cfg.xlat, &map, alloc, sink) {
            Xlat::Translated { fragments } => {
                nat.icmp_errors += 1;
                count(nat, SessionKind::Nat64, Dir::Out2In, len);
                self.counters.nat64_in += 1;
                self.counters.fragments_out += u64::from(fragments);
                Outcome::Route(pkt)
            }
            Xlat::Icmp(_) => Outcome::Drop(pkt, DropReason::XlatMalformed),
            Xlat::Drop(r) => Outcome::Drop(pkt, r),
        }
    }
}
