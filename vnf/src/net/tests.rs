//! Stage-level tests of the network layer on `VecFrame`: ARP, NDP, echo, TTL and Time Exceeded,
//! forwarding with neighbour resolution, malformed input.

use super::*;
use crate::frame::VecFrame;
use crate::wire::{checksum, Icmpv4Packet, Icmpv4Repr, Icmpv6Repr, Ipv4Repr, Ipv6Repr, NdiscRepr};
use proptest::prelude::*;
use std::path::Path;

const MAC_1: [u8; 6] = [0x02, 0, 0, 0, 0x01, 0x01];
const MAC_2: [u8; 6] = [0x02, 0, 0, 0, 0x01, 0x02];
const POD_MAC: [u8; 6] = [0x02, 0xaa, 0, 0, 0, 0x01];
const GW_MAC: [u8; 6] = [0x02, 0xbb, 0, 0, 0, 0x01];

const CONFIG: &str = r#"
[[vlans]]
name = "internal"
interfaces = ["1.1"]
internal = true
self_v4 = "10.1.0.254"
prefixlen_v4 = 24
self_v6 = "fd00:1::fe"
prefixlen_v6 = 64

[[vlans]]
name = "external"
interfaces = ["1.2"]
tag = 100
self_v4 = "192.0.2.254"
prefixlen_v4 = 24
self_v6 = "2001:db8::fe"
prefixlen_v6 = 64

[[routes]]
destination = "0.0.0.0"
prefix_len = 0
gateway = "192.0.2.1"

[[routes]]
destination = "::"
prefix_len = 0
gateway = "2001:db8::1"

[snat]
pool_v4 = ["192.0.2.10"]
pool_v6 = ["2001:db8::10"]
"#;

fn config() -> Arc<NetConfig> {
    let cfg = egress_config::VnfConfig::from_toml_str(CONFIG, Path::new("test.toml")).unwrap();
    Arc::new(NetConfig::from_config(&cfg, &[MAC_1, MAC_2]).unwrap())
}

fn net() -> Net<VecFrame> {
    Net::new(config())
}

/// The test side of [`NetIo`]: collects what the layer sends and drops.
#[derive(Default)]
struct Io {
    sent: Vec<(u16, Vec<u8>)>,
    discarded: Vec<DropReason>,
    learned: Vec<NeighUpdate>,
    alloc_budget: Option<usize>,
}

impl FrameAlloc for Io {
    type Frame = VecFrame;
    fn alloc(&mut self) -> Option<VecFrame> {
        if let Some(b) = &mut self.alloc_budget {
            if *b == 0 {
                return None;
            }
            *b -= 1;
        }
        Some(VecFrame::new(&[]))
    }
}

impl NetIo<VecFrame> for Io {
    fn send(&mut self, port: u16, frame: VecFrame) {
        self.sent.push((port, frame.data().to_vec()));
    }
    fn discard(&mut self, _frame: VecFrame, reason: DropReason) {
        self.discarded.push(reason);
    }
    fn neigh_learned(&mut self, u: NeighUpdate) {
        self.learned.push(u);
    }
}

fn v4(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}
fn v6(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

fn eth(dst: [u8; 6], src: [u8; 6], tag: Option<u16>, ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = dst.to_vec();
    f.extend_from_slice(&src);
    if let Some(t) = tag {
        f.extend_from_slice(&[0x81, 0x00]);
        f.extend_from_slice(&t.to_be_bytes());
    }
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

fn ipv4(src: Ipv4Addr, dst: Ipv4Addr, proto: IpProtocol, ttl: u8, payload: &[u8]) -> Vec<u8> {
    let repr = Ipv4Repr {
        src_addr: src,
        dst_addr: dst,
        next_header: proto,
        payload_len: payload.len(),
        ttl,
        dscp: 0,
        ecn: 0,
        ident: 0x1234,
        dont_frag: true,
        more_frags: false,
        frag_offset: 0,
    };
    let mut b = vec![0u8; 20 + payload.len()];
    repr.emit(&mut Ipv4Packet::new_unchecked(&mut b[..]))
        .unwrap();
    b[20..].copy_from_slice(payload);
    b
}

fn echo_v4(src: Ipv4Addr, dst: Ipv4Addr, ttl: u8) -> Vec<u8> {
    let icmp = Icmpv4Repr::EchoRequest {
        ident: 0x77,
        seq_no: 1,
        data: b"abcdefgh",
    };
    let mut m = vec![0u8; icmp.buffer_len()];
    icmp.emit(&mut Icmpv4Packet::new_unchecked(&mut m[..]))
        .unwrap();
    ipv4(src, dst, IpProtocol::Icmp, ttl, &m)
}

fn ipv6(src: Ipv6Addr, dst: Ipv6Addr, next: IpProtocol, hop: u8, payload: &[u8]) -> Vec<u8> {
    let repr = Ipv6Repr {
        src_addr: src,
        dst_addr: dst,
        next_header: next,
        payload_len: payload.len(),
        hop_limit: hop,
        traffic_class: 0,
        flow_label: 0,
    };
    let mut b = vec![0u8; 40 + payload.len()];
    repr.emit(&mut Ipv6Packet::new_unchecked(&mut b[..]))
        .unwrap();
    b[40..].copy_from_slice(payload);
    b
}

fn icmpv6(src: Ipv6Addr, dst: Ipv6Addr, hop: u8, msg: Icmpv6Repr) -> Vec<u8> {
    let mut m = vec![0u8; msg.buffer_len()];
    msg.emit(&src, &dst, &mut Icmpv6Packet::new_unchecked(&mut m[..]))
        .unwrap();
    ipv6(src, dst, IpProtocol::Icmpv6, hop, &m)
}

fn ip_frame(dst: [u8; 6], src: [u8; 6], tag: Option<u16>, pkt: &[u8]) -> VecFrame {
    let et = if pkt[0] >> 4 == 6 { 0x86dd } else { 0x0800 };
    VecFrame::new(&eth(dst, src, tag, et, pkt))
}

/// Runs stages 1-3 and 5 (no features: anything left is forwarded, as a feature's `Route`
/// would be) and returns what the pipeline would transmit plus the drop reason, if any.
fn pipeline(
    net: &mut Net<VecFrame>,
    frame: VecFrame,
    port: u16,
    now: u64,
    io: &mut Io,
) -> Result<Option<(u16, Vec<u8>)>, DropReason> {
    let (pkt, meta) = match net.l2_input(frame, port, now, io) {
        L2Input::Ip(p, m) => (p, m),
        L2Input::Reply(f) => return Ok(Some((port, f.data().to_vec()))),
        L2Input::Done => return Ok(None),
        L2Input::Drop(_, r) => return Err(r),
    };
    let pkt = match net.local_input(pkt, &meta, now, io) {
        Outcome::Pass(p) => p,
        Outcome::Reply(p) => {
            let (port, f) = net.encap_reply(p, &meta).map_err(|e| e.1)?;
            return Ok(Some((port, f.data().to_vec())));
        }
        Outcome::Held => return Ok(None),
        Outcome::Drop(_, r) => return Err(r),
        Outcome::Route(p) => p,
    };
    let pkt = match net.ttl_check(pkt, &meta, now, io) {
        Outcome::Pass(p) => p,
        Outcome::Drop(_, r) => return Err(r),
        _ => return Ok(None),
    };
    match net.forward(pkt, now, io) {
        Forward::Tx(port, f) => Ok(Some((port, f.data().to_vec()))),
        Forward::Held => Ok(None),
        Forward::Drop(_, r) => Err(r),
    }
}

// ---- ARP ----

/// A broadcast ARP request from 10.1.0.1 (02:aa:00:00:00:01) for 10.1.0.254, on port 1.1.
const ARP_REQUEST: [u8; 42] = [
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // destination: broadcast
    0x02, 0xaa, 0x00, 0x00, 0x00, 0x01, // source: the pod
    0x08, 0x06, // ARP
    0x00, 0x01, 0x08, 0x00, 0x06, 0x04, // Ethernet, IPv4, 6, 4
    0x00, 0x01, // request
    0x02, 0xaa, 0x00, 0x00, 0x00, 0x01, 10, 1, 0, 1, // sender
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 10, 1, 0, 254, // target
];

/// The reply the VNF must send (port 1.1's MAC 02:00:00:00:01:01).
const ARP_REPLY: [u8; 42] = [
    0x02, 0xaa, 0x00, 0x00, 0x00, 0x01, // destination: the pod
    0x02, 0x00, 0x00, 0x00, 0x01, 0x01, // source: port 1.1
    0x08, 0x06, // ARP
    0x00, 0x01, 0x08, 0x00, 0x06, 0x04, // Ethernet, IPv4, 6, 4
    0x00, 0x02, // reply
    0x02, 0x00, 0x00, 0x00, 0x01, 0x01, 10, 1, 0, 254, // sender: us
    0x02, 0xaa, 0x00, 0x00, 0x00, 0x01, 10, 1, 0, 1, // target: the pod
];

#[test]
fn arp_request_for_self_ip_gets_the_exact_reply_and_learns_the_sender() {
    let mut n = net();
    let mut io = Io::default();
    let mut req = ARP_REQUEST.to_vec();
    req.resize(60, 0); // Ethernet padding
    let out = pipeline(&mut n, VecFrame::new(&req), 0, 5, &mut io).unwrap();
    assert_eq!(out, Some((0, ARP_REPLY.to_vec())));
    let key = NeighKey {
        vlan: VlanId(0),
        addr: IpAddr::V4(v4("10.1.0.1")),
    };
    let e = n.neigh.get(&key, 5).unwrap();
    assert_eq!(
        (e.state, e.mac),
        (NeighState::Stale, EthernetAddress(POD_MAC))
    );
    assert_eq!(n.counters().arp_replies_sent, 1);
}

#[test]
fn arp_for_snat_address_only_on_the_external_vlan_with_its_tag() {
    let mut n = net();
    let mut io = Io::default();
    let mut body = ARP_REQUEST[14..].to_vec();
    body[8..14].copy_from_slice(&GW_MAC);
    body[14..18].copy_from_slice(&[192, 0, 2, 77]);
    body[24..28].copy_from_slice(&[192, 0, 2, 10]);
    let req = eth([0xff; 6], GW_MAC, Some(100), 0x0806, &body);
    let (port, reply) = pipeline(&mut n, VecFrame::new(&req), 1, 0, &mut io)
        .unwrap()
        .unwrap();
    assert_eq!(port, 1);
    assert_eq!(&reply[..6], &GW_MAC);
    assert_eq!(&reply[6..12], &MAC_2);
    assert_eq!(&reply[12..18], &[0x81, 0x00, 0x00, 100, 0x08, 0x06]);
    let arp = ArpRepr::parse(&ArpPacket::new_checked(&reply[18..]).unwrap()).unwrap();
    assert_eq!(arp.operation, ArpOperation::Reply);
    assert_eq!(arp.source_protocol_addr, v4("192.0.2.10"));
    assert_eq!(arp.source_hardware_addr, EthernetAddress(MAC_2));
    // The same question on the internal VLAN is not ours.
    let mut body = ARP_REQUEST[14..].to_vec();
    body[24..28].copy_from_slice(&[192, 0, 2, 10]);
    let req = eth([0xff; 6], POD_MAC, None, 0x0806, &body);
    assert_eq!(
        pipeline(&mut n, VecFrame::new(&req), 0, 0, &mut io),
        Err(DropReason::ArpNotForUs)
    );
    // Untagged on the tagged port: unknown VLAN.
    assert_eq!(
        pipeline(&mut n, VecFrame::new(&req), 1, 0, &mut io),
        Err(DropReason::UnknownVlan)
    );
    // Truncated ARP.
    let short = eth([0xff; 6], POD_MAC, None, 0x0806, &ARP_REQUEST[14..30]);
    assert_eq!(
        pipeline(&mut n, VecFrame::new(&short), 0, 0, &mut io),
        Err(DropReason::ArpMalformed)
    );
}

// ---- NDP ----

fn ns(src: Ipv6Addr, target: Ipv6Addr, lladdr: Option<[u8; 6]>) -> Vec<u8> {
    let dst = ndp::solicited_node(&target);
    icmpv6(
        src,
        dst,
        255,
        Icmpv6Repr::Ndisc(NdiscRepr::NeighborSolicit {
            target_addr: target,
            lladdr: lladdr.map(EthernetAddress),
        }),
    )
}

fn parse_na(frame: &[u8], l2len: usize) -> (Ipv6Repr, NdiscRepr) {
    let ip = Ipv6Packet::new_checked(&frame[l2len..]).unwrap();
    let repr = Ipv6Repr::parse(&ip).unwrap();
    let icmp = Icmpv6Packet::new_checked(ip.payload()).unwrap();
    match Icmpv6Repr::parse(&repr.src_addr, &repr.dst_addr, &icmp).unwrap() {
        Icmpv6Repr::Ndisc(nd) => (repr, nd),
        other => panic!("{other:?}"),
    }
}

#[test]
fn ns_for_self_ip_gets_a_solicited_na() {
    let mut n = net();
    let mut io = Io::default();
    let pod = v6("fd00:1::1");
    let pkt = ns(pod, v6("fd00:1::fe"), Some(POD_MAC));
    let dst_mac = EthernetAddress::from_ipv6_multicast(&ndp::solicited_node(&v6("fd00:1::fe")));
    let f = ip_frame(dst_mac.0, POD_MAC, None, &pkt);
    let (port, out) = pipeline(&mut n, f, 0, 0, &mut io).unwrap().unwrap();
    assert_eq!(port, 0);
    assert_eq!(&out[..14], &eth(POD_MAC, MAC_1, None, 0x86dd, &[])[..]);
    let (ip, nd) = parse_na(&out, 14);
    assert_eq!(
        (ip.src_addr, ip.dst_addr, ip.hop_limit),
        (v6("fd00:1::fe"), pod, 255)
    );
    assert_eq!(
        nd,
        NdiscRepr::NeighborAdvert {
            flags: NdiscNeighborFlags(
                NdiscNeighborFlags::ROUTER
                    | NdiscNeighborFlags::SOLICITED
                    | NdiscNeighborFlags::OVERRIDE
            ),
            target_addr: v6("fd00:1::fe"),
            lladdr: Some(EthernetAddress(MAC_1)),
        }
    );
    // The pod is learned from its source link-layer address option.
    let key = NeighKey {
        vlan: VlanId(0),
        addr: IpAddr::V6(pod),
    };
    assert_eq!(n.neigh.get(&key, 0).unwrap().mac, EthernetAddress(POD_MAC));
    assert_eq!(n.counters().na_sent, 1);
}

#[test]
fn ndp_dad_snat_address_and_validation() {
    let mut n = net();
    let mut io = Io::default();
    // DAD probe for our address: NA to all-nodes, not solicited.
    let pkt = ns(Ipv6Addr::UNSPECIFIED, v6("fd00:1::fe"), None);
    let f = ip_frame([0x33, 0x33, 0xff, 0, 0, 0xfe], POD_MAC, None, &pkt);
    let (_, out) = pipeline(&mut n, f, 0, 0, &mut io).unwrap().unwrap();
    assert_eq!(&out[..6], &[0x33, 0x33, 0, 0, 0, 1]);
    let (ip, nd) = parse_na(&out, 14);
    assert_eq!(ip.dst_addr, ndp::ALL_NODES);
    match nd {
        NdiscRepr::NeighborAdvert { flags, .. } => {
            assert!(!flags.contains(NdiscNeighborFlags::SOLICITED))
        }
        other => panic!("{other:?}"),
    }
    // NS for a SNAT address on the external (tagged) VLAN.
    let pkt = ns(v6("2001:db8::1"), v6("2001:db8::10"), Some(GW_MAC));
    let f = ip_frame([0x33, 0x33, 0xff, 0, 0, 0x10], GW_MAC, Some(100), &pkt);
    let (port, out) = pipeline(&mut n, f, 1, 0, &mut io).unwrap().unwrap();
    assert_eq!(port, 1);
    assert_eq!(&out[12..16], &[0x81, 0x00, 0x00, 100]);
    let (ip, _) = parse_na(&out, 18);
    assert_eq!(ip.src_addr, v6("2001:db8::10"));
    // Hop limit other than 255: invalid.
    let mut bad = ns(v6("fd00:1::1"), v6("fd00:1::fe"), Some(POD_MAC));
    bad[7] = 64;
    let f = ip_frame([0x33, 0x33, 0xff, 0, 0, 0xfe], POD_MAC, None, &bad);
    assert_eq!(
        pipeline(&mut n, f, 0, 0, &mut io),
        Err(DropReason::NdpInvalid)
    );
    // Someone else's address.
    let pkt = ns(v6("fd00:1::1"), v6("fd00:1::2"), Some(POD_MAC));
    let f = ip_frame([0x33, 0x33, 0xff, 0, 0, 2], POD_MAC, None, &pkt);
    assert_eq!(
        pipeline(&mut n, f, 0, 0, &mut io),
        Err(DropReason::NdpNotForUs)
    );
    // Bad checksum.
    let mut bad = ns(v6("fd00:1::1"), v6("fd00:1::fe"), Some(POD_MAC));
    bad[42] ^= 0xff;
    let f = ip_frame([0x33, 0x33, 0xff, 0, 0, 0xfe], POD_MAC, None, &bad);
    assert_eq!(
        pipeline(&mut n, f, 0, 0, &mut io),
        Err(DropReason::IcmpBadChecksum)
    );
}

// ---- echo ----

#[test]
fn echo_to_self_ipv4_is_answered_in_place() {
    let mut n = net();
    let mut io = Io::default();
    let req = echo_v4(v4("10.1.0.1"), v4("10.1.0.254"), 64);
    let (port, out) = pipeline(&mut n, ip_frame(MAC_1, POD_MAC, None, &req), 0, 0, &mut io)
        .unwrap()
        .unwrap();
    assert_eq!(port, 0);
    assert_eq!(&out[..14], &eth(POD_MAC, MAC_1, None, 0x0800, &[])[..]);
    let ip = Ipv4Packet::new_checked(&out[14..]).unwrap();
    let repr = Ipv4Repr::parse(&ip).unwrap();
    assert_eq!(
        (repr.src_addr, repr.dst_addr, repr.ttl),
        (v4("10.1.0.254"), v4("10.1.0.1"), 64)
    );
    let icmp = Icmpv4Packet::new_checked(ip.payload()).unwrap();
    assert_eq!(
        Icmpv4Repr::parse(&icmp).unwrap(),
        Icmpv4Repr::EchoReply {
            ident: 0x77,
            seq_no: 1,
            data: b"abcdefgh"
        }
    );
    // The external self IP answers from the internal side too (it is ours).
    let req = echo_v4(v4("10.1.0.1"), v4("192.0.2.254"), 64);
    assert!(
        pipeline(&mut n, ip_frame(MAC_1, POD_MAC, None, &req), 0, 0, &mut io)
            .unwrap()
            .is_some()
    );
    assert_eq!(n.counters().echo_replies, 2);
}

#[test]
fn echo_to_self_ipv6_is_answered_in_place() {
    let mut n = net();
    let mut io = Io::default();
    let (pod, us) = (v6("fd00:1::1"), v6("fd00:1::fe"));
    let req = icmpv6(
        pod,
        us,
        64,
        Icmpv6Repr::EchoRequest {
            ident: 9,
            seq_no: 3,
            data: b"0123456789",
        },
    );
    let (_, out) = pipeline(&mut n, ip_frame(MAC_1, POD_MAC, None, &req), 0, 0, &mut io)
        .unwrap()
        .unwrap();
    let ip = Ipv6Packet::new_checked(&out[14..]).unwrap();
    assert_eq!(
        (ip.src_addr(), ip.dst_addr(), ip.hop_limit()),
        (us, pod, 64)
    );
    let icmp = Icmpv6Packet::new_checked(ip.payload()).unwrap();
    assert_eq!(
        Icmpv6Repr::parse(&us, &pod, &icmp).unwrap(),
        Icmpv6Repr::EchoReply {
            ident: 9,
            seq_no: 3,
            data: b"0123456789"
        }
    );
}

// ---- TTL, Time Exceeded, forwarding ----

fn learn_pod(n: &mut Net<VecFrame>, io: &mut Io) {
    let mut req = ARP_REQUEST.to_vec();
    req.resize(60, 0);
    pipeline(n, VecFrame::new(&req), 0, 0, io).unwrap();
}

#[test]
fn ttl_1_gets_time_exceeded_from_the_input_vlan_self_ip() {
    let mut n = net();
    let mut io = Io::default();
    learn_pod(&mut n, &mut io);
    let pkt = ipv4(
        v4("10.1.0.1"),
        v4("198.51.100.7"),
        IpProtocol::Udp,
        1,
        &[0, 1, 0, 2, 0, 8, 0, 0],
    );
    let r = pipeline(&mut n, ip_frame(MAC_1, POD_MAC, None, &pkt), 0, 10, &mut io);
    assert_eq!(r, Err(DropReason::TtlExceeded));
    // The error went to the pod (a known neighbour; STALE so a unicast probe goes too).
    let errs: Vec<&(u16, Vec<u8>)> = io
        .sent
        .iter()
        .filter(|(_, f)| f[12..14] == [8, 0])
        .collect();
    assert_eq!(errs.len(), 1);
    let (port, f) = errs[0];
    assert_eq!(*port, 0);
    assert_eq!(&f[..12], &[POD_MAC, MAC_1].concat()[..]);
    let ip = Ipv4Packet::new_checked(&f[14..]).unwrap();
    let repr = Ipv4Repr::parse(&ip).unwrap();
    assert_eq!(
        (repr.src_addr, repr.dst_addr),
        (v4("10.1.0.254"), v4("10.1.0.1"))
    );
    let icmp = Icmpv4Packet::new_checked(ip.payload()).unwrap();
    match Icmpv4Repr::parse(&icmp).unwrap() {
        Icmpv4Repr::TimeExceeded { data, .. } => assert_eq!(data, &pkt[..]),
        other => panic!("{other:?}"),
    }
    assert_eq!(n.counters().icmp_errors_sent, 1);
}

#[test]
fn hop_limit_1_gets_icmpv6_time_exceeded_after_resolution() {
    let mut n = net();
    let mut io = Io::default();
    let pod = v6("fd00:1::1");
    let pkt = icmpv6(
        pod,
        v6("2001:db8:99::1"),
        1,
        Icmpv6Repr::EchoRequest {
            ident: 1,
            seq_no: 1,
            data: b"x",
        },
    );
    let r = pipeline(&mut n, ip_frame(MAC_1, POD_MAC, None, &pkt), 0, 0, &mut io);
    assert_eq!(r, Err(DropReason::TtlExceeded));
    // The pod is unknown: an NS went out, the error waits.
    assert_eq!(io.sent.len(), 1);
    let (_, nd) = parse_na(&io.sent[0].1, 14);
    assert!(matches!(nd, NdiscRepr::NeighborSolicit { target_addr, .. } if target_addr == pod));
    // The pod's solicited NA releases the error.
    let na = icmpv6(
        pod,
        v6("fd00:1::fe"),
        255,
        Icmpv6Repr::Ndisc(NdiscRepr::NeighborAdvert {
            flags: NdiscNeighborFlags(NdiscNeighborFlags::SOLICITED | NdiscNeighborFlags::OVERRIDE),
            target_addr: pod,
            lladdr: Some(EthernetAddress(POD_MAC)),
        }),
    );
    assert_eq!(
        pipeline(&mut n, ip_frame(MAC_1, POD_MAC, None, &na), 0, 5, &mut io),
        Ok(None)
    );
    assert_eq!(io.sent.len(), 2);
    let f = &io.sent[1].1;
    assert_eq!(&f[..6], &POD_MAC);
    let ip = Ipv6Packet::new_checked(&f[14..]).unwrap();
    let icmp = Icmpv6Packet::new_checked(ip.payload()).unwrap();
    match Icmpv6Repr::parse(&ip.src_addr(), &ip.dst_addr(), &icmp).unwrap() {
        Icmpv6Repr::TimeExceeded { data, .. } => assert_eq!(data, &pkt[..]),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        io.learned.len(),
        1,
        "a solicited NA is shared with other workers"
    );
}

#[test]
fn icmp_errors_are_rate_limited_and_never_about_icmp_errors() {
    let mut n = net();
    let mut io = Io::default();
    learn_pod(&mut n, &mut io);
    let pkt = ipv4(
        v4("10.1.0.1"),
        v4("198.51.100.7"),
        IpProtocol::Udp,
        1,
        &[0; 8],
    );
    for _ in 0..50 {
        let r = pipeline(
            &mut n,
            ip_frame(MAC_1, POD_MAC, None, &pkt),
            0,
            100,
            &mut io,
        );
        assert_eq!(r, Err(DropReason::TtlExceeded));
    }
    let c = n.counters();
    assert_eq!(c.icmp_errors_sent, 20, "the burst");
    assert_eq!(c.icmp_errors_rate_limited, 30);
    // 100 per second: 10 ms later there is one more token.
    pipeline(
        &mut n,
        ip_frame(MAC_1, POD_MAC, None, &pkt),
        0,
        110,
        &mut io,
    )
    .unwrap_err();
    assert_eq!(n.counters().icmp_errors_sent, 21);
    // A Time Exceeded with TTL 1 in transit gets no error back.
    let mut te = vec![11, 0, 0, 0, 0, 0, 0, 0];
    te.extend_from_slice(&pkt);
    let c = !checksum::sum(&te);
    te[2..4].copy_from_slice(&c.to_be_bytes());
    let err = ipv4(v4("10.1.0.1"), v4("198.51.100.7"), IpProtocol::Icmp, 1, &te);
    let r = pipeline(
        &mut n,
        ip_frame(MAC_1, POD_MAC, None, &err),
        0,
        10_000,
        &mut io,
    );
    assert_eq!(r, Err(DropReason::TtlExceeded));
    assert_eq!(n.counters().icmp_errors_sent, 21);
    assert_eq!(n.counters().icmp_errors_suppressed, 1);
}

#[test]
fn forwarding_resolves_the_gateway_then_releases_with_the_output_tag() {
    let mut n = net();
    let mut io = Io::default();
    let pkt = echo_v4(v4("10.1.0.1"), v4("198.51.100.7"), 64);
    // Two packets wait for the gateway; one ARP request goes out on the tagged VLAN.
    for _ in 0..2 {
        assert_eq!(
            pipeline(&mut n, ip_frame(MAC_1, POD_MAC, None, &pkt), 0, 0, &mut io),
            Ok(None)
        );
    }
    assert_eq!(io.sent.len(), 1);
    let (port, req) = &io.sent[0];
    assert_eq!(*port, 1);
    assert_eq!(&req[..6], &[0xff; 6]);
    assert_eq!(&req[12..18], &[0x81, 0x00, 0x00, 100, 0x08, 0x06]);
    let arp = ArpRepr::parse(&ArpPacket::new_checked(&req[18..]).unwrap()).unwrap();
    assert_eq!(
        (
            arp.operation,
            arp.source_protocol_addr,
            arp.target_protocol_addr
        ),
        (ArpOperation::Request, v4("192.0.2.254"), v4("192.0.2.1"))
    );
    // The gateway's reply releases both, TTL decremented, checksum right.
    let reply = ArpRepr {
        operation: ArpOperation::Reply,
        source_hardware_addr: EthernetAddress(GW_MAC),
        source_protocol_addr: v4("192.0.2.1"),
        target_hardware_addr: EthernetAddress(MAC_2),
        target_protocol_addr: v4("192.0.2.254"),
    };
    let mut b = vec![0u8; 28];
    reply
        .emit(&mut ArpPacket::new_unchecked(&mut b[..]))
        .unwrap();
    let f = VecFrame::new(&eth(MAC_2, GW_MAC, Some(100), 0x0806, &b));
    assert_eq!(pipeline(&mut n, f, 1, 20, &mut io), Ok(None));
    assert_eq!(io.sent.len(), 3);
    for (port, f) in &io.sent[1..] {
        assert_eq!(*port, 1);
        assert_eq!(
            &f[..18],
            &[&GW_MAC[..], &MAC_2, &[0x81, 0, 0, 100, 8, 0]].concat()[..]
        );
        let ip = Ipv4Packet::new_checked(&f[18..]).unwrap();
        let repr = Ipv4Repr::parse(&ip).unwrap();
        assert_eq!(repr.ttl, 63);
    }
    // Now resolved: the next packet goes straight out.
    let (port, f) = pipeline(&mut n, ip_frame(MAC_1, POD_MAC, None, &pkt), 0, 30, &mut io)
        .unwrap()
        .unwrap();
    assert_eq!((port, &f[..6]), (1, &GW_MAC[..]));
    assert_eq!(io.learned.len(), 1);
}

#[test]
fn unanswered_resolution_drops_waiting_packets_with_a_reason() {
    let mut n = net();
    let mut io = Io::default();
    let pkt = ipv6(
        v6("fd00:1::1"),
        v6("2001:db8:5::5"),
        IpProtocol::Udp,
        64,
        &[0; 8],
    );
    for _ in 0..10 {
        let _ = pipeline(&mut n, ip_frame(MAC_1, POD_MAC, None, &pkt), 0, 0, &mut io);
    }
    // queue_len 8: two were dropped right away.
    let full = pipeline(&mut n, ip_frame(MAC_1, POD_MAC, None, &pkt), 0, 0, &mut io);
    assert_eq!(full, Err(DropReason::NeighQueueFull));
    let mut ns_count = io.sent.len();
    assert_eq!(ns_count, 1);
    for t in [500, 1000, 2000, 3000] {
        for _ in 0..100 {
            n.poll(t, &mut io);
        }
        if t < 3000 {
            assert!(io.discarded.is_empty());
        }
        ns_count = io.sent.len();
    }
    assert_eq!(ns_count, 3, "three solicitations in all");
    assert_eq!(io.discarded, vec![DropReason::NeighTimeout; 8]);
    assert_eq!(n.neighbours(3000).count(), 0);
}

#[test]
fn no_route_martians_and_multicast() {
    let mut n = Net::new(Arc::new({
        let mut cfg = egress_config::VnfConfig::from_toml_str(CONFIG, Path::new("t")).unwrap();
        cfg.routes.clear();
        NetConfig::from_config(&cfg, &[MAC_1, MAC_2]).unwrap()
    }));
    let mut io = Io::default();
    let udp = [0u8; 8];
    let cases = [
        (
            ipv4(
                v4("10.1.0.1"),
                v4("198.51.100.7"),
                IpProtocol::Udp,
                64,
                &udp,
            ),
            DropReason::NoRoute,
        ),
        (
            ipv4(v4("0.0.0.0"), v4("198.51.100.7"), IpProtocol::Udp, 64, &udp),
            DropReason::MartianSrc,
        ),
        (
            ipv4(v4("10.1.0.1"), v4("224.0.0.251"), IpProtocol::Udp, 1, &udp),
            DropReason::MulticastDst,
        ),
        (
            ipv4(v4("10.1.0.1"), v4("10.1.0.255"), IpProtocol::Udp, 64, &udp),
            DropReason::MulticastDst,
        ),
        (
            ipv6(v6("fd00:1::1"), v6("ff02::16"), IpProtocol::Udp, 1, &udp),
            DropReason::MulticastDst,
        ),
        (
            ipv6(
                v6("fd00:1::1"),
                v6("2001:db9::1"),
                IpProtocol::Udp,
                64,
                &udp,
            ),
            DropReason::NoRoute,
        ),
    ];
    for (pkt, want) in cases {
        let r = pipeline(&mut n, ip_frame(MAC_1, POD_MAC, None, &pkt), 0, 0, &mut io);
        assert_eq!(r, Err(want), "{pkt:02x?}");
    }
    assert!(io.sent.is_empty(), "no ICMP error for any of these");
}

#[test]
fn announce_sends_garp_and_unsolicited_na_for_every_address() {
    let mut n = net();
    let mut io = Io::default();
    // Internal: self v4 + v6; external: self v4 + v6 + SNAT v4 + v6.
    assert_eq!(n.announce(&mut io), 6);
    let garps: Vec<ArpRepr> = io
        .sent
        .iter()
        .filter_map(|(_, f)| {
            let l2 = parse_l2(f).ok()?;
            (l2.ethertype == EtherType::Arp).then(|| {
                ArpRepr::parse(&ArpPacket::new_checked(&f[l2.l3_offset..]).unwrap()).unwrap()
            })
        })
        .collect();
    assert_eq!(garps.len(), 3);
    assert!(garps
        .iter()
        .all(|a| a.source_protocol_addr == a.target_protocol_addr));
    let nas = io
        .sent
        .iter()
        .filter(|(_, f)| parse_l2(f).unwrap().ethertype == EtherType::Ipv6)
        .count();
    assert_eq!(nas, 3);
    let mut failing = Io {
        alloc_budget: Some(0),
        ..Default::default()
    };
    assert_eq!(n.announce(&mut failing), 0);
    assert_eq!(n.counters().alloc_failures, 6);
}

// ---- malformed input ----

#[test]
fn malformed_frames_are_dropped_with_named_reasons() {
    let mut n = net();
    let mut io = Io::default();
    let echo = echo_v4(v4("10.1.0.1"), v4("10.1.0.254"), 64);
    let f = |pkt: &[u8]| ip_frame(MAC_1, POD_MAC, None, pkt);
    let mut cases: Vec<(VecFrame, DropReason)> = vec![
        (
            VecFrame::new(&eth(MAC_1, POD_MAC, None, 0x0800, &[])[..13]),
            DropReason::L2Truncated,
        ),
        (
            VecFrame::new(&eth(MAC_1, POD_MAC, Some(7), 0x0800, &[])[..16]),
            DropReason::L2Truncated,
        ),
        (f(&echo[..19]), DropReason::Ipv4Truncated),
        (f(&echo[..echo.len() - 1]), DropReason::Ipv4BadLength),
        (
            VecFrame::new(&eth(MAC_1, POD_MAC, None, 0x88b5, &[1, 2, 3])),
            DropReason::UnsupportedEthertype,
        ),
        (
            ip_frame([0x02, 9, 9, 9, 9, 9], POD_MAC, None, &echo),
            DropReason::L2OtherHost,
        ),
        (
            ip_frame(MAC_1, POD_MAC, Some(5), &echo),
            DropReason::UnknownVlan,
        ),
    ];
    let mut ihl = echo.clone();
    ihl[0] = 0x44;
    cases.push((f(&ihl), DropReason::Ipv4BadHeaderLen));
    let mut ver = echo.clone();
    ver[0] = 0x65;
    cases.push((
        VecFrame::new(&eth(MAC_1, POD_MAC, None, 0x0800, &ver)),
        DropReason::Ipv4BadVersion,
    ));
    let mut csum = echo.clone();
    csum[10] ^= 1;
    cases.push((f(&csum), DropReason::Ipv4BadChecksum));
    // Truncated ICMP: the IPv4 header says 24 bytes (4 bytes of ICMP).
    let short = ipv4(
        v4("10.1.0.1"),
        v4("10.1.0.254"),
        IpProtocol::Icmp,
        64,
        &echo[20..24],
    );
    cases.push((f(&short), DropReason::IcmpTruncated));
    let mut icsum = echo.clone();
    icsum[22] ^= 1;
    cases.push((f(&icsum), DropReason::IcmpBadChecksum));
    let v6pkt = ipv6(
        v6("fd00:1::1"),
        v6("fd00:1::fe"),
        IpProtocol::Udp,
        64,
        &[0; 8],
    );
    cases.push((f(&v6pkt[..39]), DropReason::Ipv6Truncated));
    cases.push((f(&v6pkt[..47]), DropReason::Ipv6BadLength));
    for (i, (frame, want)) in cases.into_iter().enumerate() {
        let r = pipeline(&mut n, frame, 0, 0, &mut io);
        assert_eq!(r, Err(want), "case {i}");
    }
    // Ethernet padding after a short IPv4 packet is trimmed, not an error.
    let mut padded = eth(MAC_1, POD_MAC, None, 0x0800, &echo);
    padded.extend_from_slice(&[0; 10]);
    let (_, out) = pipeline(&mut n, VecFrame::new(&padded), 0, 0, &mut io)
        .unwrap()
        .unwrap();
    assert_eq!(out.len(), 14 + echo.len());
}

proptest! {
    /// Random frames (with plausible headers) never panic in any stage.
    #[test]
    fn random_frames_never_panic(
        port in 0u16..3,
        tag in prop_oneof![Just(None), Just(Some(100u16)), any::<u16>().prop_map(Some)],
        ethertype in prop_oneof![Just(0x0800u16), Just(0x86dd), Just(0x0806), Just(0x8100), any::<u16>()],
        first in any::<u8>(),
        proto in prop_oneof![Just(1u8), Just(58), Just(17), any::<u8>()],
        ttl in prop_oneof![Just(1u8), Just(255), any::<u8>()],
        icmp_type in prop_oneof![Just(8u8), Just(128), Just(135), Just(136), any::<u8>()],
        body in proptest::collection::vec(any::<u8>(), 0..200),
        fix in any::<bool>(),
    ) {
        let mut n = net();
        let mut io = Io::default();
        let mut pkt = body.clone();
        if pkt.len() > 41 {
            match ethertype {
                0x0800 => {
                    pkt[0] = 0x40 | (first & 0x0f);
                    pkt[8] = ttl;
                    pkt[9] = proto;
                    pkt[12..16].copy_from_slice(&[10, 1, 0, 1]);
                    pkt[16..20].copy_from_slice(&[10, 1, 0, 254]);
                    if fix {
                        pkt[0] = 0x45;
                        let total = pkt.len() as u16;
                        pkt[2..4].copy_from_slice(&total.to_be_bytes());
                        pkt[20] = icmp_type;
                        let mut ip = Ipv4Packet::new_unchecked(&mut pkt[..]);
                        ip.fill_checksum();
                    }
                }
                0x86dd => {
                    pkt[0] = 0x60 | (first & 0x0f);
                    pkt[6] = proto;
                    pkt[7] = ttl;
                    if fix {
                        let pl = (pkt.len() - 40) as u16;
                        pkt[4..6].copy_from_slice(&pl.to_be_bytes());
                        pkt[40] = icmp_type;
                    }
                }
                _ => {}
            }
        }
        let frame = VecFrame::new(&eth(if first & 1 == 0 { MAC_1 } else { [0xff; 6] }, POD_MAC, tag, ethertype, &pkt));
        let _ = pipeline(&mut n, frame, port, 0, &mut io);
        n.poll(10_000, &mut io);
    }
}

#[test]
fn a_reply_on_one_worker_releases_packets_waiting_on_another() {
    // Worker A forwards towards the gateway and waits; the gateway's ARP reply lands on B.
    let (mut a, mut b) = (net(), net());
    let (mut io_a, mut io_b) = (Io::default(), Io::default());
    let pkt = echo_v4(v4("10.1.0.1"), v4("198.51.100.7"), 64);
    let f = ip_frame(MAC_1, POD_MAC, None, &pkt);
    assert_eq!(pipeline(&mut a, f, 0, 0, &mut io_a), Ok(None));
    assert_eq!(io_a.sent.len(), 1, "A's ARP request");
    let reply = ArpRepr {
        operation: ArpOperation::Reply,
        source_hardware_addr: EthernetAddress(GW_MAC),
        source_protocol_addr: v4("192.0.2.1"),
        target_hardware_addr: EthernetAddress(MAC_2),
        target_protocol_addr: v4("192.0.2.254"),
    };
    let mut body = vec![0u8; 28];
    reply
        .emit(&mut ArpPacket::new_unchecked(&mut body[..]))
        .unwrap();
    let f = VecFrame::new(&eth(MAC_2, GW_MAC, Some(100), 0x0806, &body));
    assert_eq!(pipeline(&mut b, f, 1, 10, &mut io_b), Ok(None));
    // B had no entry: nothing released there, but the update is shared.
    assert!(io_b.sent.is_empty());
    assert_eq!(io_b.learned.len(), 1);
    a.apply_update(io_b.learned[0], 10, &mut io_a);
    assert_eq!(io_a.sent.len(), 2, "A's waiting packet went out");
    assert_eq!(&io_a.sent[1].1[..6], &GW_MAC);
    // An update about a neighbour A never asked for creates nothing.
    let other = NeighUpdate {
        key: NeighKey {
            vlan: VlanId(1),
            addr: IpAddr::V4(v4("192.0.2.99")),
        },
        mac: EthernetAddress(GW_MAC),
    };
    a.apply_update(other, 20, &mut io_a);
    assert!(a.neighbours(20).all(|n| n.key != other.key));
}
