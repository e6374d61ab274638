//! Ethernet and 802.1Q headers of the frames the VNF sends: the output VLAN's tag (if any) and
//! the MAC address of its port as the source.

use super::config::Vlan;
use crate::drop::DropReason;
use crate::frame::Frame;
use crate::wire::{ethernet, vlan as vlan_hdr, EtherType, EthernetAddress};

/// Length of the L2 header on `vlan` (14, or 18 with a tag).
#[inline]
pub fn header_len(vlan: &Vlan) -> usize {
    ethernet::HEADER_LEN
        + if vlan.tag.is_some() {
            vlan_hdr::HEADER_LEN
        } else {
            0
        }
}

/// Writes the L2 header of `vlan` at the start of `buf` (which must hold [`header_len`] bytes;
/// shorter buffers are left as they are). Returns the header length. Always inlined: a few
/// stores, fewer than the call would cost.
#[inline(always)]
pub fn write(buf: &mut [u8], vlan: &Vlan, dst: EthernetAddress, ethertype: EtherType) -> usize {
    // Fixed-size views: every store below has a constant offset and no bounds check.
    const ETH: usize = ethernet::HEADER_LEN;
    const TAGGED: usize = ethernet::HEADER_LEN + vlan_hdr::HEADER_LEN;
    let et = u16::from(ethertype).to_be_bytes();
    match vlan.tag {
        Some(tag) => {
            if let Some(h) = buf.first_chunk_mut::<TAGGED>() {
                h[0..6].copy_from_slice(dst.as_bytes());
                h[6..12].copy_from_slice(vlan.mac.as_bytes());
                h[12..14].copy_from_slice(&u16::from(EtherType::Vlan).to_be_bytes());
                h[14..16].copy_from_slice(&(tag & 0x0fff).to_be_bytes());
                h[16..18].copy_from_slice(&et);
            }
            TAGGED
        }
        None => {
            if let Some(h) = buf.first_chunk_mut::<ETH>() {
                h[0..6].copy_from_slice(dst.as_bytes());
                h[6..12].copy_from_slice(vlan.mac.as_bytes());
                h[12..14].copy_from_slice(&et);
            }
            ETH
        }
    }
}

/// Prepends the L2 header of `vlan` to an L3 packet.
#[inline]
pub fn encap<F: Frame>(
    pkt: &mut F,
    vlan: &Vlan,
    dst: EthernetAddress,
    ethertype: EtherType,
) -> Result<(), DropReason> {
    let len = header_len(vlan);
    let h = pkt.prepend(len).map_err(|_| DropReason::NoHeadroom)?;
    write(h, vlan, dst, ethertype);
    Ok(())
}

/// The EtherType of an L3 packet, from its version nibble.
#[inline]
pub fn ethertype_of(pkt: &[u8]) -> EtherType {
    match pkt.first().map(|b| b >> 4) {
        Some(6) => EtherType::Ipv6,
        _ => EtherType::Ipv4,
    }
}
