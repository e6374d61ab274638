//! NAT46: IPv4 pods to IPv6 hosts behind DNS46 addresses (see `stateful` for the whole).
//!
//! in2out (IPv4 from a pod to an address of the DNS46 subnet):
//! 1. the session of (protocol, pod address/port, DNS46 address/port) gives the translation;
//! 2. without one, a TCP packet other than a SYN (or an echo reply) is dropped; else the
//!    IPv6 host comes from a static mapping of the config or the DNS46 mapping table (a miss
//!    holds the packet: `Outcome::Held`; missing or dSSM down: dropped with the mapping's
//!    reason), and a session of kind NAT46 is opened: source = this TMM's IPv6 SNAT address
//!    (paired with the pod) and a port of the worker's block (endpoint-independent mapping);
//! 3. RFC 7915 section 4 translation with destination = the mapped IPv6 host.
//!
//! out2in (IPv6 from the world to our IPv6 SNAT address): the session of the reply is
//! looked up; the packet is translated back with source = the DNS46 address and destination
//! = the pod. ICMPv6 errors about a NAT46 flow are translated with their inner packet; their
//! source is the DNS46 address of the remote when the remote itself sent the error, else
//! the RFC 6791 address (or that DNS46 address when none is configured).
//!
//! ICMPv4 errors from a pod about a packet it received (inner: DNS46 address -> pod) go out
//! as ICMPv6 errors from our IPv6 SNAT address to the IPv6 host.

use super::frag::FragXlat;
use super::stateful::{
    count, flow_ports, key_proto, open_failed, rewrite, tcp_seen, v4_of, XlatMeta, XlatNat,
};
use super::table::{Dir, FlowKey, NewSession, SessionKind, TcpSeen};
use super::{addr_v4, addr_v6, Nat};
use crate::action::{FrameAlloc, Outcome, Sink};
use crate::drop::DropReason;
use crate::frame::Frame;
use crate::mapping::{Lookup, MapKey, MappingTable};
use crate::xlat::{
    icmp4_error_in_place, icmp6_error_in_place, inspect_v4_parsed, inspect_v6_parsed,
    ipv4_to_ipv6_parsed, ipv6_to_ipv4_parsed, HeaderChecksum, Inspected4, Inspected6, Map46, Map64,
    Transport, Xlat,
};

const TCP: u8 = 6;

impl<F: Frame> XlatNat<F> {
    /// NAT46 in2out of an IPv4 packet whose destination is in the DNS46 subnet.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn nat46_in2out<A, S>(
        &mut self,
        nat: &mut Nat,
        maps: &mut MappingTable,
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
        // The L2 stage verified the IPv4 header checksum; the translation below continues
        // from this parse.
        let ins = match inspect_v4_parsed(pkt.data(), HeaderChecksum::Verified) {
            Ok(i) => i,
            Err(r) => return Outcome::Drop(pkt, r),
        };
        let info = &ins.info;
        let o = info.outer;
        if self.in_dns46_subnet(o.src) {
            return Outcome::Drop(pkt, DropReason::Nat46SrcInPool);
        }
        let (sport, dport, icmp) = match o.transport {
            Transport::IcmpError { .. } => {
                return self.nat46_icmp_error_in2out(nat, pkt, &ins, now, alloc, sink)
            }
            Transport::Fragment => return self.later_fragment_4to6(nat, pkt, now, alloc, sink),
            Transport::EchoReply { .. } => return Outcome::Drop(pkt, DropReason::NatNoSession),
            Transport::Other => {
                let r = if o.protocol == 1 {
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
            local: addr_v4(o.src),
            local_port: sport,
            remote: addr_v4(o.dst),
            remote_port: dport,
        };
        let mut opened = false;
        let id = match nat.table_mut().lookup_in2out(&key, now) {
            Some(id) => id,
            None => {
                if proto == TCP && !(tcp.syn && !tcp.ack && !tcp.rst) {
                    return Outcome::Drop(pkt, DropReason::NatNoSession);
                }
                let host = match self.static46(o.dst) {
                    Some(h) => h,
                    None => match maps.lookup_v4(o.dst, now) {
                        Lookup::Found(h) => h,
                        Lookup::Pending => return self.hold(MapKey::V4(o.dst), pkt, meta, now),
                        other => {
                            let r = other.drop_reason().unwrap_or(DropReason::MappingMissing);
                            return Outcome::Drop(pkt, r);
                        }
                    },
                };
                let host = addr_v6(&host);
                if nat.table().is_snat_addr(&host) {
                    return Outcome::Drop(pkt, DropReason::NatHairpin);
                }
                let n = NewSession {
                    kind: SessionKind::Nat46,
                    proto,
                    inside: key.local,
                    inside_port: sport,
                    remote_in: key.remote,
                    remote_in_port: dport,
                    remote_out: host,
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
        if s.kind() != SessionKind::Nat46 {
            return Outcome::Pass(pkt);
        }
        let len = pkt.len();
        let fkey = Self::frag_key(pkt.data(), info.fragment);
        let map = Map46 {
            outer: rewrite(
                s.outside.into(),
                s.remote_out.into(),
                icmp,
                s.outside_port,
                s.remote_out_port,
                s.outside_port,
            ),
            inner: None,
        };
        match ipv4_to_ipv6_parsed(&mut pkt, &ins, &self.cfg.xlat, &map, alloc, sink) {
            Xlat::Translated { fragments } => {
                nat.table_mut().touch(id, Dir::In2Out, tcp, now);
                let x = FragXlat {
                    src: s.outside,
                    dst: s.remote_out,
                    kind: SessionKind::Nat46,
                    dir: Dir::In2Out,
                };
                self.track(fkey, x, now);
                count(nat, SessionKind::Nat46, Dir::In2Out, len);
                self.counters.nat46_out += 1;
                self.counters.fragments_out += u64::from(fragments);
                Outcome::Route(pkt)
            }
            Xlat::Icmp(e) => {
                if opened {
                    nat.table_mut().remove(id, now);
                }
                let src = meta.self_v4.unwrap_or(o.dst);
                match icmp4_error_in_place(&mut pkt, e, src) {
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

    /// An ICMPv4 error from a pod about a packet of a NAT46 flow it received (inner: DNS46
    /// address -> pod).
    fn nat46_icmp_error_in2out<A, S>(
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
        if inner.dst != info.outer.src {
            return Outcome::Drop(pkt, DropReason::NatIcmpErrorMalformed);
        }
        // The inner packet went remote -> pod: the pod's port is its destination port (the
        // echo identifier for ICMP).
        let key = FlowKey {
            proto: key_proto(inner.protocol),
            local: addr_v4(inner.dst),
            local_port: if icmp { isport } else { idport },
            remote: addr_v4(inner.src),
            remote_port: if icmp { 0 } else { isport },
        };
        let Some(s) = nat
            .table_mut()
            .lookup_in2out(&key, now)
            .and_then(|id| nat.table().session(id).copied())
            .filter(|s| s.kind() == SessionKind::Nat46)
        else {
            return Outcome::Drop(pkt, DropReason::NatIcmpErrorNoSession);
        };
        let len = pkt.len();
        let (ours, host) = (s.outside.into(), s.remote_out.into());
        let inner_rw = if icmp {
            crate::xlat::Rewrite {
                src: host,
                dst: ours,
                src_port: Some(s.outside_port),
                dst_port: None,
            }
        } else {
            crate::xlat::Rewrite::with_ports(host, ours, s.remote_out_port, s.outside_port)
        };
        let map = Map46 {
            outer: crate::xlat::Rewrite::addrs(ours, host),
            inner: Some(inner_rw),
        };
        match ipv4_to_ipv6_parsed(&mut pkt, ins, &self.cfg.xlat, &map, alloc, sink) {
            Xlat::Translated { fragments } => {
                nat.icmp_errors += 1;
                count(nat, SessionKind::Nat46, Dir::In2Out, len);
                self.counters.nat46_out += 1;
                self.counters.fragments_out += u64::from(fragments);
                Outcome::Route(pkt)
            }
            // Never answer an error with an error.
            Xlat::Icmp(_) => Outcome::Drop(pkt, DropReason::XlatMalformed),
            Xlat::Drop(r) => Outcome::Drop(pkt, r),
        }
    }

    /// NAT46 out2in of an IPv6 packet to one of our IPv6 SNAT addresses.
    pub(super) fn nat46_out2in<A, S>(
        &mut self,
        nat: &mut Nat,
        mut pkt: F,
        now: u64,
        alloc: &mut A,
        sink: &mut S,
    ) -> Outcome<F>
    where
        A: FrameAlloc<Frame = F>,
        S: Sink<F>,
    {
        let ins = match inspect_v6_parsed(pkt.data()) {
            Ok(i) => i,
            Err(r) => return Outcome::Drop(pkt, r),
        };
        let info = &ins.info;
        let o = info.outer;
        let (sport, dport, icmp) = match o.transport {
            Transport::IcmpError { .. } => {
                return self.nat46_icmp_error_out2in(nat, pkt, &ins, now, alloc, sink)
            }
            Transport::Fragment => return self.later_fragment_6to4(nat, pkt, now, alloc, sink),
            Transport::EchoReply { .. } | Transport::Tcp { .. } | Transport::Udp { .. } => {
                match flow_ports(&o.transport) {
                    Some(p) => p,
                    None => return Outcome::Pass(pkt),
                }
            }
            _ => return Outcome::Pass(pkt),
        };
        let proto = key_proto(o.protocol);
        let key = FlowKey {
            proto,
            local: addr_v6(&o.dst),
            local_port: if icmp { sport } else { dport },
            remote: addr_v6(&o.src),
            remote_port: if icmp { 0 } else { sport },
        };
        let Some(id) = nat.table_mut().lookup_out2in(&key, now) else {
            return Outcome::Pass(pkt);
        };
        let Some(s) = nat.table().session(id).copied() else {
            return Outcome::Pass(pkt);
        };
        if s.kind() != SessionKind::Nat46 {
            return Outcome::Pass(pkt);
        }
        let (Some(remote4), Some(pod)) = (v4_of(&s.remote_in), v4_of(&s.inside)) else {
            return Outcome::Drop(pkt, DropReason::NatMalformed);
        };
        let tcp = if proto == TCP {
            tcp_seen(pkt.data(), ins.l4_offset())
        } else {
            TcpSeen::default()
        };
        let len = pkt.len();
        let fkey = Self::frag_key(pkt.data(), info.fragment);
        let outer = if icmp {
            crate::xlat::Rewrite {
                src: remote4,
                dst: pod,
                src_port: None,
                dst_port: Some(s.inside_port),
            }
        } else {
            crate::xlat::Rewrite::with_ports(remote4, pod, s.remote_in_port, s.inside_port)
        };
        let map = Map64 {
            outer,
            inner: None,
            ident: self.next_ident(),
        };
        match ipv6_to_ipv4_parsed(&mut pkt, &ins, &self.cfg.xlat, &map, alloc, sink) {
            Xlat::Translated { fragments } => {
                nat.table_mut().touch(id, Dir::Out2In, tcp, now);
                let x = FragXlat {
                    src: addr_v4(remote4),
                    dst: addr_v4(pod),
                    kind: SessionKind::Nat46,
                    dir: Dir::Out2In,
                };
                self.track(fkey, x, now);
                count(nat, SessionKind::Nat46, Dir::Out2In, len);
                self.counters.nat46_in += 1;
                self.counters.fragments_out += u64::from(fragments);
                Outcome::Route(pkt)
            }
            Xlat::Icmp(e) => match icmp6_error_in_place(&mut pkt, e, o.dst) {
                Ok(()) => {
                    self.counters.icmp_errors_sent += 1;
                    Outcome::Reply(pkt)
                }
                Err(r) => Outcome::Drop(pkt, r),
            },
            Xlat::Drop(r) => Outcome::Drop(pkt, r),
        }
    }

    /// An ICMPv6 error to our IPv6 SNAT address about a packet we sent for a NAT46 flow
    /// (inner: our address/port -> the IPv6 host).
    fn nat46_icmp_error_out2in<A, S>(
        &mut self,
        nat: &mut Nat,
        mut pkt: F,
        ins: &Inspected6,
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
            local: addr_v6(&inner.src),
            local_port: isport,
            remote: addr_v6(&inner.dst),
            remote_port: if icmp { 0 } else { idport },
        };
        let Some(s) = nat
            .table_mut()
            .lookup_out2in(&key, now)
            .and_then(|id| nat.table().session(id).copied())
        else {
            return Outcome::Pass(pkt);
        };
        if s.kind() != SessionKind::Nat46 {
            return Outcome::Pass(pkt);
        }
        let (Some(remote4), Some(pod)) = (v4_of(&s.remote_in), v4_of(&s.inside)) else {
            return Outcome::Drop(pkt, DropReason::NatMalformed);
        };
        let src = if addr_v6(&info.outer.src) == s.remote_out {
            remote4
        } else {
            self.cfg.rfc6791_v4.unwrap_or(remote4)
        };
        let inner_rw = if icmp {
            crate::xlat::Rewrite {
                src: pod,
                dst: remote4,
                src_port: Some(s.inside_port),
                dst_port: None,
            }
        } else {
            crate::xlat::Rewrite::with_ports(pod, remote4, s.inside_port, s.remote_in_port)
        };
        let map = Map64 {
            outer: crate::xlat::Rewrite::addrs(src, pod),
            inner: Some(inner_rw),
            ident: self.next_ident(),
        };
        let len = pkt.len();
        match ipv6_to_ipv4_parsed(&mut pkt, ins, &self.cfg.xlat, &map, alloc, sink) {
            Xlat::Translated { fragments } => {
                nat.icmp_errors += 1;
                count(nat, SessionKind::Nat46, Dir::Out2In, len);
                self.counters.nat46_in += 1;
                self.counters.fragments_out += u64::from(fragments);
                Outcome::Route(pkt)
            }
            Xlat::Icmp(_) => Outcome::Drop(pkt, DropReason::XlatMalformed),
            Xlat::Drop(r) => Outcome::Drop(pkt, r),
        }
    }
}
