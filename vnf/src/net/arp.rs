//! ARP (RFC 826) for the VNF's IPv4 addresses on a VLAN: requests for our addresses are answered,
//! senders that address us are learned (RFC 826 "merge": a known sender is updated by any ARP
//! packet, a new one is added only when the packet is for us), requests for next hops are sent
//! broadcast (unicast when probing a stale entry), and gratuitous ARP announces our addresses
//! at start (RFC 5227 section 3: an ARP request with sender and target set to our address).

use super::config::Vlan;
use super::l2;
use crate::frame::Frame;
use crate::wire::{ArpOperation, ArpPacket, ArpRepr, EtherType, EthernetAddress};
use std::net::Ipv4Addr;

/// Writes a complete ARP frame (L2 header of `vlan`, then the ARP packet) into `out`.
pub fn write_frame<F: Frame>(
    out: &mut F,
    vlan: &Vlan,
    dst: EthernetAddress,
    repr: &ArpRepr,
) -> bool {
    let l2len = l2::header_len(vlan);
    if out.set_len(l2len + repr.buffer_len()).is_err() {
        return false;
    }
    let data = out.data_mut();
    l2::write(data, vlan, dst, EtherType::Arp);
    let Some(body) = data.get_mut(l2len..) else {
        return false;
    };
    repr.emit(&mut ArpPacket::new_unchecked(body)).is_ok()
}

/// An ARP request from `sender` for `target`: broadcast, or unicast to `unicast` (a probe).
pub fn request(vlan: &Vlan, sender: Ipv4Addr, target: Ipv4Addr) -> ArpRepr {
    ArpRepr {
        operation: ArpOperation::Request,
        source_hardware_addr: vlan.mac,
        source_protocol_addr: sender,
        target_hardware_addr: EthernetAddress::UNSPECIFIED,
        target_protocol_addr: target,
    }
}

/// The reply to `req` (a request for `req.target_protocol_addr`, one of our addresses).
pub fn reply(vlan: &Vlan, req: &ArpRepr) -> ArpRepr {
    ArpRepr {
        operation: ArpOperation::Reply,
        source_hardware_addr: vlan.mac,
        source_protocol_addr: req.target_protocol_addr,
        target_hardware_addr: req.source_hardware_addr,
        target_protocol_addr: req.source_protocol_addr,
    }
}

/// A gratuitous ARP request announcing `addr`.
pub fn gratuitous(vlan: &Vlan, addr: Ipv4Addr) -> ArpRepr {
    request(vlan, addr, addr)
}
