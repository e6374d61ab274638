//! IPv6 Neighbor Discovery (RFC 4861) for the VNF's IPv6 addresses on a VLAN: Neighbor
//! Solicitations for our addresses (to the solicited-node multicast address or to the address
//! itself) are answered with a Neighbor Advertisement (Router, Solicited and Override flags, our
//! MAC as Target Link-Layer Address); a solicitation from the unspecified address (duplicate
//! address detection) is answered to all-nodes without the Solicited flag (section 7.2.4).
//! Solicitations for next hops go to their solicited-node multicast address (unicast when
//! probing); unsolicited advertisements announce our addresses at start (section 7.2.6).
//!
//! Validation (section 7.1) is the caller's: hop limit 255, ICMPv6 checksum and code, option
//! lengths ([`crate::wire::NdiscRepr::parse`]).

use super::config::Vlan;
use super::l2;
use crate::frame::Frame;
use crate::wire::{
    ipv6, EtherType, EthernetAddress, Icmpv6Packet, Icmpv6Repr, IpProtocol, Ipv6Packet, Ipv6Repr,
    NdiscNeighborFlags, NdiscRepr,
};
use std::net::Ipv6Addr;

/// All-nodes multicast address.
pub const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);

/// The solicited-node multicast address of `a` (RFC 4291 section 2.7.1: ff02::1:ff00:0/104).
pub fn solicited_node(a: &Ipv6Addr) -> Ipv6Addr {
    let o = a.octets();
    Ipv6Addr::new(
        0xff02,
        0,
        0,
        0,
        0,
        1,
        0xff00 | u16::from(o[13]),
        u16::from_be_bytes([o[14], o[15]]),
    )
}

/// Writes the IPv6 header and ND message (`src` -> `dst`, hop limit 255) at the start of `buf`,
/// which must be exactly 40 + `nd.buffer_len()` bytes.
fn write_ip(buf: &mut [u8], src: Ipv6Addr, dst: Ipv6Addr, nd: NdiscRepr) -> bool {
    let icmp = Icmpv6Repr::Ndisc(nd);
    let ip = Ipv6Repr {
        src_addr: src,
        dst_addr: dst,
        next_header: IpProtocol::Icmpv6,
        payload_len: icmp.buffer_len(),
        hop_limit: 255,
        traffic_class: 0,
        flow_label: 0,
    };
    if buf.len() != ipv6::HEADER_LEN + icmp.buffer_len() {
        return false;
    }
    let (h, rest) = buf.split_at_mut(ipv6::HEADER_LEN);
    ip.emit(&mut Ipv6Packet::new_unchecked(h)).is_ok()
        && icmp
            .emit(&src, &dst, &mut Icmpv6Packet::new_unchecked(rest))
            .is_ok()
}

/// Writes a complete frame (L2 header to `l2_dst`, IPv6, ND message) into `out`.
fn write_frame<F: Frame>(
    out: &mut F,
    vlan: &Vlan,
    l2_dst: EthernetAddress,
    src: Ipv6Addr,
    dst: Ipv6Addr,
    nd: NdiscRepr,
) -> bool {
    let l2len = l2::header_len(vlan);
    let len = l2len + ipv6::HEADER_LEN + nd.buffer_len();
    if out.set_len(len).is_err() {
        return false;
    }
    let data = out.data_mut();
    l2::write(data, vlan, l2_dst, EtherType::Ipv6);
    match data.get_mut(l2len..) {
        Some(body) => write_ip(body, src, dst, nd),
        None => false,
    }
}

/// A Neighbor Solicitation from `src` for `target`: to its solicited-node address, or unicast
/// to `target` at `unicast` (a probe of a stale entry).
pub fn solicit<F: Frame>(
    out: &mut F,
    vlan: &Vlan,
    src: Ipv6Addr,
    target: Ipv6Addr,
    unicast: Option<EthernetAddress>,
) -> bool {
    let nd = NdiscRepr::NeighborSolicit {
        target_addr: target,
        lladdr: Some(vlan.mac),
    };
    match unicast {
        Some(mac) => write_frame(out, vlan, mac, src, target, nd),
        None => {
            let dst = solicited_node(&target);
            write_frame(
                out,
                vlan,
                EthernetAddress::from_ipv6_multicast(&dst),
                src,
                dst,
                nd,
            )
        }
    }
}

/// An unsolicited Neighbor Advertisement of `addr` to all-nodes (Router and Override flags).
pub fn unsolicited_advert<F: Frame>(out: &mut F, vlan: &Vlan, addr: Ipv6Addr) -> bool {
    let nd = NdiscRepr::NeighborAdvert {
        flags: NdiscNeighborFlags(NdiscNeighborFlags::ROUTER | NdiscNeighborFlags::OVERRIDE),
        target_addr: addr,
        lladdr: Some(vlan.mac),
    };
    write_frame(
        out,
        vlan,
        EthernetAddress::from_ipv6_multicast(&ALL_NODES),
        addr,
        ALL_NODES,
        nd,
    )
}

/// Rewrites an L3 Neighbor Solicitation for `target` (ours) from `src` into the answering
/// Neighbor Advertisement, in place. `src` unspecified: the advertisement goes to all-nodes
/// without the Solicited flag.
pub fn advert_in_place<F: Frame>(
    pkt: &mut F,
    vlan: &Vlan,
    target: Ipv6Addr,
    src: Ipv6Addr,
) -> bool {
    let dad = src.is_unspecified();
    let mut flags = NdiscNeighborFlags::ROUTER | NdiscNeighborFlags::OVERRIDE;
    if !dad {
        flags |= NdiscNeighborFlags::SOLICITED;
    }
    let nd = NdiscRepr::NeighborAdvert {
        flags: NdiscNeighborFlags(flags),
        target_addr: target,
        lladdr: Some(vlan.mac),
    };
    let dst = if dad { ALL_NODES } else { src };
    if pkt.set_len(ipv6::HEADER_LEN + nd.buffer_len()).is_err() {
        return false;
    }
    write_ip(pkt.data_mut(), target, dst, nd)
}
