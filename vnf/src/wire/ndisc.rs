//! Neighbor Discovery for IPv6 (RFC 4861): Router Solicitation (section 4.1), Router
//! Advertisement (4.2), Neighbor Solicitation (4.3), Neighbor Advertisement (4.4) and the options
//! Source/Target Link-Layer Address, Prefix Information and MTU (4.6.1, 4.6.2, 4.6.4).
//!
//! ND messages are ICMPv6 messages: the message-specific fields are accessors on
//! [`Icmpv6Packet`] defined here, and [`NdiscRepr`] is reached through
//! [`Icmpv6Repr::Ndisc`](super::Icmpv6Repr::Ndisc) (the checksum is the ICMPv6 one).
//!
//! Validation in [`NdiscRepr::parse`] (RFC 4861 sections 6.1, 7.1): ICMP code 0 (`Malformed`),
//! the message at least as long as its fixed part (`BadLength`), every option with a non-zero
//! length (`Malformed`) that fits the message (`Truncated`). Link-layer address options must be
//! Ethernet-sized (length 1, RFC 2464 section 6), Prefix Information must have length 4 and MTU
//! length 1 (`Malformed` otherwise). Unknown options are skipped (section 4.6). The IPv6 hop
//! limit of 255 and the address rules of sections 6.1/7.1 need the IPv6 header and are checked
//! by the caller.
//!
//! The option walk ([`NdiscOptionIter`]) consumes at least 8 bytes per step, so it ends after at
//! most `len / 8` steps; after an error it yields nothing more. A Router Advertisement's
//! [`NdiscRepr`] keeps the first Prefix Information option; iterate the options for all of them.
//!
//! No accessor panics in any case.

use std::net::Ipv6Addr;

use super::ethernet::EthernetAddress;
use super::icmpv6::{Icmpv6Message, Icmpv6Packet};
use super::WireError;
use super::{
    get_u16, get_u32, get_u8, read, set_u16, set_u32, set_u8, slice, slice_mut, tail, tail_mut,
    write,
};

mod field {
    use core::ops::Range;
    // Router Advertisement.
    pub const CUR_HOP_LIMIT: usize = 4;
    pub const ROUTER_FLAGS: usize = 5;
    pub const ROUTER_LIFETIME: Range<usize> = 6..8;
    pub const REACHABLE_TIME: Range<usize> = 8..12;
    pub const RETRANS_TIME: Range<usize> = 12..16;
    // Neighbor Solicitation / Advertisement.
    pub const NEIGHBOR_FLAGS: usize = 4;
    pub const RESERVED: Range<usize> = 4..8;
    pub const TARGET_ADDR: Range<usize> = 8..24;
    // Where options start.
    pub const RS_OPTIONS: usize = 8;
    pub const RA_OPTIONS: usize = 16;
    pub const NS_NA_OPTIONS: usize = 24;
}

/// Router Advertisement flags (RFC 4861 section 4.2, RFC 4191, RFC 5175).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct NdiscRouterFlags(pub u8);

impl NdiscRouterFlags {
    /// M: addresses are available via DHCPv6.
    pub const MANAGED: u8 = 0x80;
    /// O: other configuration is available via DHCPv6.
    pub const OTHER: u8 = 0x40;

    /// True if all bits of `mask` are set.
    #[inline]
    pub fn contains(self, mask: u8) -> bool {
        self.0 & mask == mask
    }
}

/// Neighbor Advertisement flags (RFC 4861 section 4.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct NdiscNeighborFlags(pub u8);

impl NdiscNeighborFlags {
    /// R: the sender is a router.
    pub const ROUTER: u8 = 0x80;
    /// S: sent in response to a solicitation.
    pub const SOLICITED: u8 = 0x40;
    /// O: override an existing cache entry.
    pub const OVERRIDE: u8 = 0x20;

    /// True if all bits of `mask` are set.
    #[inline]
    pub fn contains(self, mask: u8) -> bool {
        self.0 & mask == mask
    }
}

/// Offset of the options in an ND message of type `kind`, or `None` if it is not RS/RA/NS/NA.
#[inline]
fn options_offset(kind: Icmpv6Message) -> Option<usize> {
    match kind {
        Icmpv6Message::RouterSolicit => Some(field::RS_OPTIONS),
        Icmpv6Message::RouterAdvert => Some(field::RA_OPTIONS),
        Icmpv6Message::NeighborSolicit | Icmpv6Message::NeighborAdvert => {
            Some(field::NS_NA_OPTIONS)
        }
        _ => None,
    }
}

/// Neighbor Discovery fields of an ICMPv6 message. They read zero when the message is too short
/// for them; [`NdiscRepr::parse`] checks the lengths.
impl<T: AsRef<[u8]>> Icmpv6Packet<T> {
    /// RA: current hop limit.
    #[inline]
    pub fn cur_hop_limit(&self) -> u8 {
        get_u8(self.buffer.as_ref(), field::CUR_HOP_LIMIT)
    }

    /// RA: flags byte.
    #[inline]
    pub fn router_flags(&self) -> NdiscRouterFlags {
        NdiscRouterFlags(get_u8(self.buffer.as_ref(), field::ROUTER_FLAGS))
    }

    /// RA: router lifetime in seconds.
    #[inline]
    pub fn router_lifetime(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::ROUTER_LIFETIME.start)
    }

    /// RA: reachable time in milliseconds.
    #[inline]
    pub fn reachable_time(&self) -> u32 {
        get_u32(self.buffer.as_ref(), field::REACHABLE_TIME.start)
    }

    /// RA: retransmission timer in milliseconds.
    #[inline]
    pub fn retrans_time(&self) -> u32 {
        get_u32(self.buffer.as_ref(), field::RETRANS_TIME.start)
    }

    /// NA: flags byte (R, S, O).
    #[inline]
    pub fn neighbor_flags(&self) -> NdiscNeighborFlags {
        NdiscNeighborFlags(get_u8(self.buffer.as_ref(), field::NEIGHBOR_FLAGS))
    }

    /// NS/NA: target address.
    #[inline]
    pub fn target_addr(&self) -> Ipv6Addr {
        Ipv6Addr::from(read::<16>(self.buffer.as_ref(), field::TARGET_ADDR.start))
    }

    /// The options of an RS/RA/NS/NA (empty for other types or a too-short message).
    #[inline]
    pub fn ndisc_options(&self) -> &[u8] {
        match options_offset(self.msg_type()) {
            Some(at) => tail(self.buffer.as_ref(), at),
            None => &[],
        }
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Icmpv6Packet<T> {
    /// RA: sets the current hop limit.
    #[inline]
    pub fn set_cur_hop_limit(&mut self, value: u8) {
        set_u8(self.buffer.as_mut(), field::CUR_HOP_LIMIT, value)
    }

    /// RA: sets the flags byte.
    #[inline]
    pub fn set_router_flags(&mut self, value: NdiscRouterFlags) {
        set_u8(self.buffer.as_mut(), field::ROUTER_FLAGS, value.0)
    }

    /// RA: sets the router lifetime.
    #[inline]
    pub fn set_router_lifetime(&mut self, value: u16) {
        set_u16(self.buffer.as_mut(), field::ROUTER_LIFETIME.start, value)
    }

    /// RA: sets the reachable time.
    #[inline]
    pub fn set_reachable_time(&mut self, value: u32) {
        set_u32(self.buffer.as_mut(), field::REACHABLE_TIME.start, value)
    }

    /// RA: sets the retransmission timer.
    #[inline]
    pub fn set_retrans_time(&mut self, value: u32) {
        set_u32(self.buffer.as_mut(), field::RETRANS_TIME.start, value)
    }

    /// NA: sets the flags byte (and clears the three reserved bytes after it).
    #[inline]
    pub fn set_neighbor_flags(&mut self, value: NdiscNeighborFlags) {
        set_u32(self.buffer.as_mut(), field::RESERVED.start, 0);
        set_u8(self.buffer.as_mut(), field::NEIGHBOR_FLAGS, value.0)
    }

    /// NS/NA: sets the target address.
    #[inline]
    pub fn set_target_addr(&mut self, value: &Ipv6Addr) {
        write(
            self.buffer.as_mut(),
            field::TARGET_ADDR.start,
            value.octets(),
        )
    }
}

wire_enum! {
    /// ND option types (IANA "IPv6 Neighbor Discovery Option Formats").
    pub enum NdiscOptionType(u8) {
        /// Source link-layer address.
        SourceLinkLayerAddr = 1,
        /// Target link-layer address.
        TargetLinkLayerAddr = 2,
        /// Prefix information.
        PrefixInformation = 3,
        /// Redirected header.
        RedirectedHeader = 4,
        /// MTU.
        Mtu = 5,
    }
}

mod opt_field {
    use core::ops::Range;
    pub const TYPE: usize = 0;
    pub const LENGTH: usize = 1;
    pub const LLADDR: Range<usize> = 2..8;
    pub const MTU: Range<usize> = 4..8;
    pub const PREFIX_LEN: usize = 2;
    pub const PREFIX_FLAGS: usize = 3;
    pub const VALID_LT: Range<usize> = 4..8;
    pub const PREF_LT: Range<usize> = 8..12;
    pub const PREFIX_RESERVED: Range<usize> = 12..16;
    pub const PREFIX: Range<usize> = 16..32;
}

/// Length of a link-layer address (Ethernet) or MTU option.
pub const SHORT_OPTION_LEN: usize = 8;
/// Length of a Prefix Information option.
pub const PREFIX_OPTION_LEN: usize = 32;

/// A view of one ND option: type, length in 8-octet units, body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NdiscOption<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> NdiscOption<T> {
    /// Wraps `buffer` without any check (accessors still never panic).
    #[inline]
    pub const fn new_unchecked(buffer: T) -> NdiscOption<T> {
        NdiscOption { buffer }
    }

    /// Wraps `buffer` after [`check_len`](Self::check_len).
    #[inline]
    pub fn new_checked(buffer: T) -> Result<NdiscOption<T>, WireError> {
        let option = Self::new_unchecked(buffer);
        option.check_len()?;
        Ok(option)
    }

    /// `Truncated` if the type/length bytes or the declared option are missing, `Malformed` for
    /// a zero length (RFC 4861 section 4.6: such options must make the packet be discarded).
    #[inline]
    pub fn check_len(&self) -> Result<(), WireError> {
        let len = self.buffer.as_ref().len();
        if len < 2 {
            return Err(WireError::Truncated);
        }
        if get_u8(self.buffer.as_ref(), opt_field::LENGTH) == 0 {
            return Err(WireError::Malformed);
        }
        if self.option_len() > len {
            return Err(WireError::Truncated);
        }
        Ok(())
    }

    /// The wrapped buffer.
    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Option type.
    #[inline]
    pub fn option_type(&self) -> NdiscOptionType {
        NdiscOptionType::from(get_u8(self.buffer.as_ref(), opt_field::TYPE))
    }

    /// Option length in bytes (length field * 8).
    #[inline]
    pub fn option_len(&self) -> usize {
        usize::from(get_u8(self.buffer.as_ref(), opt_field::LENGTH)) * 8
    }

    /// Link-layer address of a source/target link-layer address option.
    #[inline]
    pub fn link_layer_addr(&self) -> EthernetAddress {
        EthernetAddress(read(self.buffer.as_ref(), opt_field::LLADDR.start))
    }

    /// MTU of an MTU option.
    #[inline]
    pub fn mtu(&self) -> u32 {
        get_u32(self.buffer.as_ref(), opt_field::MTU.start)
    }

    /// Prefix Information: prefix length.
    #[inline]
    pub fn prefix_len(&self) -> u8 {
        get_u8(self.buffer.as_ref(), opt_field::PREFIX_LEN)
    }

    /// Prefix Information: flags (L = 0x80, A = 0x40).
    #[inline]
    pub fn prefix_flags(&self) -> u8 {
        get_u8(self.buffer.as_ref(), opt_field::PREFIX_FLAGS)
    }

    /// Prefix Information: valid lifetime (seconds).
    #[inline]
    pub fn valid_lifetime(&self) -> u32 {
        get_u32(self.buffer.as_ref(), opt_field::VALID_LT.start)
    }

    /// Prefix Information: preferred lifetime (seconds).
    #[inline]
    pub fn preferred_lifetime(&self) -> u32 {
        get_u32(self.buffer.as_ref(), opt_field::PREF_LT.start)
    }

    /// Prefix Information: prefix.
    #[inline]
    pub fn prefix(&self) -> Ipv6Addr {
        Ipv6Addr::from(read::<16>(self.buffer.as_ref(), opt_field::PREFIX.start))
    }

    /// The option body: bytes 2 up to the option length.
    #[inline]
    pub fn data(&self) -> &[u8] {
        slice(self.buffer.as_ref(), 2, self.option_len())
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> NdiscOption<T> {
    /// Sets the option type.
    #[inline]
    pub fn set_option_type(&mut self, value: NdiscOptionType) {
        set_u8(self.buffer.as_mut(), opt_field::TYPE, value.into())
    }

    /// Sets the option length in bytes (`value / 8` is stored).
    #[inline]
    pub fn set_option_len(&mut self, value: usize) {
        set_u8(self.buffer.as_mut(), opt_field::LENGTH, (value / 8) as u8)
    }

    /// Sets the link-layer address.
    #[inline]
    pub fn set_link_layer_addr(&mut self, value: EthernetAddress) {
        write(self.buffer.as_mut(), opt_field::LLADDR.start, value.0)
    }

    /// Sets the MTU (and clears the reserved bytes).
    #[inline]
    pub fn set_mtu(&mut self, value: u32) {
        set_u16(self.buffer.as_mut(), 2, 0);
        set_u32(self.buffer.as_mut(), opt_field::MTU.start, value)
    }

    /// Sets all Prefix Information fields (and clears the reserved field).
    #[inline]
    pub fn set_prefix_info(&mut self, info: &NdiscPrefixInfo) {
        let b = self.buffer.as_mut();
        set_u8(b, opt_field::PREFIX_LEN, info.prefix_len);
        set_u8(b, opt_field::PREFIX_FLAGS, info.flags);
        set_u32(b, opt_field::VALID_LT.start, info.valid_lifetime);
        set_u32(b, opt_field::PREF_LT.start, info.preferred_lifetime);
        set_u32(b, opt_field::PREFIX_RESERVED.start, 0);
        write(b, opt_field::PREFIX.start, info.prefix.octets());
    }

    /// Mutable option body.
    #[inline]
    pub fn data_mut(&mut self) -> &mut [u8] {
        let end = self.option_len();
        slice_mut(self.buffer.as_mut(), 2, end)
    }
}

/// Iterates over the options of an ND message. Yields `Err` once and then stops if an option is
/// zero-length or runs past the end.
#[derive(Debug, Clone)]
pub struct NdiscOptionIter<'a> {
    data: &'a [u8],
}

impl<'a> NdiscOptionIter<'a> {
    /// Iterates over `options` (the bytes from the first option to the end of the message).
    #[inline]
    pub fn new(options: &'a [u8]) -> NdiscOptionIter<'a> {
        NdiscOptionIter { data: options }
    }
}

impl<'a> Iterator for NdiscOptionIter<'a> {
    type Item = Result<NdiscOption<&'a [u8]>, WireError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.data.is_empty() {
            return None;
        }
        match NdiscOption::new_checked(self.data) {
            Ok(option) => {
                let len = option.option_len();
                let (this, rest) = self.data.split_at(len.min(self.data.len()));
                self.data = rest;
                Some(Ok(NdiscOption::new_unchecked(this)))
            }
            Err(e) => {
                self.data = &[];
                Some(Err(e))
            }
        }
    }
}

/// Prefix Information option fields (RFC 4861 section 4.6.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NdiscPrefixInfo {
    /// Prefix length in bits.
    pub prefix_len: u8,
    /// Flags: [`NdiscPrefixInfo::ON_LINK`], [`NdiscPrefixInfo::AUTONOMOUS`].
    pub flags: u8,
    /// Valid lifetime in seconds (0xffffffff = infinity).
    pub valid_lifetime: u32,
    /// Preferred lifetime in seconds.
    pub preferred_lifetime: u32,
    /// The prefix.
    pub prefix: Ipv6Addr,
}

impl NdiscPrefixInfo {
    /// L flag.
    pub const ON_LINK: u8 = 0x80;
    /// A flag.
    pub const AUTONOMOUS: u8 = 0x40;
}

/// A parsed ND option.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NdiscOptionRepr<'a> {
    /// Source link-layer address (type 1).
    SourceLinkLayerAddr(EthernetAddress),
    /// Target link-layer address (type 2).
    TargetLinkLayerAddr(EthernetAddress),
    /// Prefix information (type 3).
    PrefixInformation(NdiscPrefixInfo),
    /// MTU (type 5).
    Mtu(u32),
    /// Any other type; `data` is the body after the type and length bytes.
    Unknown {
        /// Option type.
        kind: u8,
        /// Option body (length * 8 - 2 bytes).
        data: &'a [u8],
    },
}

impl<'a> NdiscOptionRepr<'a> {
    /// Parses one option; `Malformed` if a known type has the wrong length.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(
        option: &'a NdiscOption<&'a T>,
    ) -> Result<NdiscOptionRepr<'a>, WireError> {
        option.check_len()?;
        let len = option.option_len();
        match option.option_type() {
            NdiscOptionType::SourceLinkLayerAddr | NdiscOptionType::TargetLinkLayerAddr
                if len != SHORT_OPTION_LEN =>
            {
                Err(WireError::Malformed)
            }
            NdiscOptionType::SourceLinkLayerAddr => Ok(NdiscOptionRepr::SourceLinkLayerAddr(
                option.link_layer_addr(),
            )),
            NdiscOptionType::TargetLinkLayerAddr => Ok(NdiscOptionRepr::TargetLinkLayerAddr(
                option.link_layer_addr(),
            )),
            NdiscOptionType::Mtu if len != SHORT_OPTION_LEN => Err(WireError::Malformed),
            NdiscOptionType::Mtu => Ok(NdiscOptionRepr::Mtu(option.mtu())),
            NdiscOptionType::PrefixInformation if len != PREFIX_OPTION_LEN => {
                Err(WireError::Malformed)
            }
            NdiscOptionType::PrefixInformation => {
                Ok(NdiscOptionRepr::PrefixInformation(NdiscPrefixInfo {
                    prefix_len: option.prefix_len(),
                    flags: option.prefix_flags(),
                    valid_lifetime: option.valid_lifetime(),
                    preferred_lifetime: option.preferred_lifetime(),
                    prefix: option.prefix(),
                }))
            }
            other => Ok(NdiscOptionRepr::Unknown {
                kind: other.into(),
                data: option.data(),
            }),
        }
    }

    /// Bytes written by [`emit`](Self::emit).
    #[inline]
    pub fn buffer_len(&self) -> usize {
        match self {
            NdiscOptionRepr::SourceLinkLayerAddr(_)
            | NdiscOptionRepr::TargetLinkLayerAddr(_)
            | NdiscOptionRepr::Mtu(_) => SHORT_OPTION_LEN,
            NdiscOptionRepr::PrefixInformation(_) => PREFIX_OPTION_LEN,
            NdiscOptionRepr::Unknown { data, .. } => 2 + data.len(),
        }
    }

    /// Writes the option. `Truncated` if the buffer is too short; `Malformed` for an `Unknown`
    /// option whose length is not a non-zero multiple of 8 or does not fit the length byte
    /// (nothing written in either case).
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        option: &mut NdiscOption<T>,
    ) -> Result<(), WireError> {
        let len = self.buffer_len();
        if !len.is_multiple_of(8) || len > 255 * 8 {
            return Err(WireError::Malformed);
        }
        if option.buffer.as_ref().len() < len {
            return Err(WireError::Truncated);
        }
        option.set_option_len(len);
        match *self {
            NdiscOptionRepr::SourceLinkLayerAddr(addr) => {
                option.set_option_type(NdiscOptionType::SourceLinkLayerAddr);
                option.set_link_layer_addr(addr);
            }
            NdiscOptionRepr::TargetLinkLayerAddr(addr) => {
                option.set_option_type(NdiscOptionType::TargetLinkLayerAddr);
                option.set_link_layer_addr(addr);
            }
            NdiscOptionRepr::Mtu(mtu) => {
                option.set_option_type(NdiscOptionType::Mtu);
                option.set_mtu(mtu);
            }
            NdiscOptionRepr::PrefixInformation(ref info) => {
                option.set_option_type(NdiscOptionType::PrefixInformation);
                option.set_prefix_info(info);
            }
            NdiscOptionRepr::Unknown { kind, data } => {
                option.set_option_type(NdiscOptionType::from(kind));
                if let Some(dst) = option.data_mut().get_mut(..data.len()) {
                    dst.copy_from_slice(data);
                }
            }
        }
        Ok(())
    }
}

/// A parsed Neighbor Discovery message (the ICMPv6 header is implied by the variant).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NdiscRepr {
    /// Router Solicitation.
    RouterSolicit {
        /// Source link-layer address option.
        lladdr: Option<EthernetAddress>,
    },
    /// Router Advertisement.
    RouterAdvert {
        /// Current hop limit (0 = unspecified).
        hop_limit: u8,
        /// M/O/... flags.
        flags: NdiscRouterFlags,
        /// Router lifetime in seconds.
        router_lifetime: u16,
        /// Reachable time in milliseconds.
        reachable_time: u32,
        /// Retransmission timer in milliseconds.
        retrans_time: u32,
        /// Source link-layer address option.
        lladdr: Option<EthernetAddress>,
        /// MTU option.
        mtu: Option<u32>,
        /// The first Prefix Information option.
        prefix_info: Option<NdiscPrefixInfo>,
    },
    /// Neighbor Solicitation.
    NeighborSolicit {
        /// Target address.
        target_addr: Ipv6Addr,
        /// Source link-layer address option (absent in DAD probes).
        lladdr: Option<EthernetAddress>,
    },
    /// Neighbor Advertisement.
    NeighborAdvert {
        /// R/S/O flags.
        flags: NdiscNeighborFlags,
        /// Target address.
        target_addr: Ipv6Addr,
        /// Target link-layer address option.
        lladdr: Option<EthernetAddress>,
    },
}

impl NdiscRepr {
    /// Parses an RS/RA/NS/NA whose ICMPv6 checksum has been verified (as
    /// [`Icmpv6Repr::parse`](super::Icmpv6Repr::parse) does). See the module docs for the
    /// checks; other ICMPv6 types are `Unsupported`.
    pub fn parse<T: AsRef<[u8]>>(packet: &Icmpv6Packet<T>) -> Result<NdiscRepr, WireError> {
        packet.check_len()?;
        let kind = packet.msg_type();
        let min_len = options_offset(kind).ok_or(WireError::Unsupported)?;
        if packet.msg_code() != 0 {
            return Err(WireError::Malformed);
        }
        if packet.buffer.as_ref().len() < min_len {
            return Err(WireError::BadLength);
        }
        let mut source_lladdr = None;
        let mut target_lladdr = None;
        let mut mtu = None;
        let mut prefix_info = None;
        for option in NdiscOptionIter::new(packet.ndisc_options()) {
            let option = option?;
            match NdiscOptionRepr::parse(&option)? {
                NdiscOptionRepr::SourceLinkLayerAddr(addr) => source_lladdr = Some(addr),
                NdiscOptionRepr::TargetLinkLayerAddr(addr) => target_lladdr = Some(addr),
                NdiscOptionRepr::Mtu(value) => mtu = Some(value),
                NdiscOptionRepr::PrefixInformation(info) => {
                    prefix_info = prefix_info.or(Some(info));
                }
                NdiscOptionRepr::Unknown { .. } => {}
            }
        }
        Ok(match kind {
            Icmpv6Message::RouterSolicit => NdiscRepr::RouterSolicit {
                lladdr: source_lladdr,
            },
            Icmpv6Message::RouterAdvert => NdiscRepr::RouterAdvert {
                hop_limit: packet.cur_hop_limit(),
                flags: packet.router_flags(),
                router_lifetime: packet.router_lifetime(),
                reachable_time: packet.reachable_time(),
                retrans_time: packet.retrans_time(),
                lladdr: source_lladdr,
                mtu,
                prefix_info,
            },
            Icmpv6Message::NeighborSolicit => NdiscRepr::NeighborSolicit {
                target_addr: packet.target_addr(),
                lladdr: source_lladdr,
            },
            _ => NdiscRepr::NeighborAdvert {
                flags: packet.neighbor_flags(),
                target_addr: packet.target_addr(),
                lladdr: target_lladdr,
            },
        })
    }

    /// Bytes written by [`emit`](Self::emit) (ICMPv6 header, fixed part and options).
    pub fn buffer_len(&self) -> usize {
        let opt = |present: bool, len: usize| if present { len } else { 0 };
        match self {
            NdiscRepr::RouterSolicit { lladdr } => {
                field::RS_OPTIONS + opt(lladdr.is_some(), SHORT_OPTION_LEN)
            }
            NdiscRepr::RouterAdvert {
                lladdr,
                mtu,
                prefix_info,
                ..
            } => {
                field::RA_OPTIONS
                    + opt(lladdr.is_some(), SHORT_OPTION_LEN)
                    + opt(mtu.is_some(), SHORT_OPTION_LEN)
                    + opt(prefix_info.is_some(), PREFIX_OPTION_LEN)
            }
            NdiscRepr::NeighborSolicit { lladdr, .. }
            | NdiscRepr::NeighborAdvert { lladdr, .. } => {
                field::NS_NA_OPTIONS + opt(lladdr.is_some(), SHORT_OPTION_LEN)
            }
        }
    }

    /// Writes type, code, fixed fields and options, but not the checksum: use
    /// [`Icmpv6Repr::emit`](super::Icmpv6Repr::emit), or call
    /// [`Icmpv6Packet::fill_checksum`] afterwards. `Err(Truncated)` (nothing written) if the
    /// buffer is shorter than `buffer_len()`.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        packet: &mut Icmpv6Packet<T>,
    ) -> Result<(), WireError> {
        if packet.buffer.as_ref().len() < self.buffer_len() {
            return Err(WireError::Truncated);
        }
        packet.set_msg_code(0);
        packet.clear_rest_of_header();
        let mut options: [Option<NdiscOptionRepr<'static>>; 3] = [None; 3];
        let start = match *self {
            NdiscRepr::RouterSolicit { lladdr } => {
                packet.set_msg_type(Icmpv6Message::RouterSolicit);
                options[0] = lladdr.map(NdiscOptionRepr::SourceLinkLayerAddr);
                field::RS_OPTIONS
            }
            NdiscRepr::RouterAdvert {
                hop_limit,
                flags,
                router_lifetime,
                reachable_time,
                retrans_time,
                lladdr,
                mtu,
                prefix_info,
            } => {
                packet.set_msg_type(Icmpv6Message::RouterAdvert);
                packet.set_cur_hop_limit(hop_limit);
                packet.set_router_flags(flags);
                packet.set_router_lifetime(router_lifetime);
                packet.set_reachable_time(reachable_time);
                packet.set_retrans_time(retrans_time);
                options[0] = lladdr.map(NdiscOptionRepr::SourceLinkLayerAddr);
                options[1] = mtu.map(NdiscOptionRepr::Mtu);
                options[2] = prefix_info.map(NdiscOptionRepr::PrefixInformation);
                field::RA_OPTIONS
            }
            NdiscRepr::NeighborSolicit {
                target_addr,
                lladdr,
            } => {
                packet.set_msg_type(Icmpv6Message::NeighborSolicit);
                packet.set_target_addr(&target_addr);
                options[0] = lladdr.map(NdiscOptionRepr::SourceLinkLayerAddr);
                field::NS_NA_OPTIONS
            }
            NdiscRepr::NeighborAdvert {
                flags,
                target_addr,
                lladdr,
            } => {
                packet.set_msg_type(Icmpv6Message::NeighborAdvert);
                packet.set_neighbor_flags(flags);
                packet.set_target_addr(&target_addr);
                options[0] = lladdr.map(NdiscOptionRepr::TargetLinkLayerAddr);
                field::NS_NA_OPTIONS
            }
        };
        let mut at = start;
        for option in options.iter().flatten() {
            let buf = tail_mut(packet.buffer.as_mut(), at);
            option.emit(&mut NdiscOption::new_unchecked(buf))?;
            at += option.buffer_len();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::icmpv6::Icmpv6Repr;
    use super::*;
    use proptest::prelude::*;

    const MAC_A: EthernetAddress = EthernetAddress([0x52, 0x54, 0x00, 0x12, 0x34, 0x56]);
    const MAC_B: EthernetAddress = EthernetAddress([0x52, 0x54, 0x00, 0xab, 0xcd, 0xef]);

    fn ip(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    /// Neighbor Solicitation as a Linux host sends it for address resolution: fe80::1 ->
    /// ff02::1:ff00:2 (solicited-node), target fe80::2, source link-layer address option.
    const NEIGHBOR_SOLICIT: [u8; 32] = [
        0x87, 0x00, 0xf5, 0xdb, // type 135, code 0, checksum
        0x00, 0x00, 0x00, 0x00, // reserved
        0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02, // target fe80::2
        0x01, 0x01, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56, // SLLA 52:54:00:12:34:56
    ];

    /// The solicited Neighbor Advertisement answering it: fe80::2 -> fe80::1, flags S|O,
    /// target link-layer address option.
    const NEIGHBOR_ADVERT: [u8; 32] = [
        0x88, 0x00, 0xf9, 0x2c, // type 136, code 0, checksum
        0x60, 0x00, 0x00, 0x00, // S, O
        0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02, // target fe80::2
        0x02, 0x01, 0x52, 0x54, 0x00, 0xab, 0xcd, 0xef, // TLLA 52:54:00:ab:cd:ef
    ];

    /// Router Solicitation fe80::2 -> ff02::2 with a source link-layer address option.
    const ROUTER_SOLICIT: [u8; 16] = [
        0x85, 0x00, 0x5b, 0x3d, 0x00, 0x00, 0x00, 0x00, //
        0x01, 0x01, 0x52, 0x54, 0x00, 0xab, 0xcd, 0xef,
    ];

    /// Router Advertisement fe80::1 -> ff02::1: hop limit 64, lifetime 1800 s, SLLA, MTU 1500,
    /// prefix 2001:db8::/64 with L and A, valid 30 days, preferred 7 days.
    const ROUTER_ADVERT: [u8; 64] = [
        0x86, 0x00, 0x69, 0x2e, // type 134, code 0, checksum
        0x40, 0x00, 0x07, 0x08, // hop limit 64, flags 0, router lifetime 1800
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // reachable time, retrans timer
        0x01, 0x01, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56, // SLLA
        0x05, 0x01, 0x00, 0x00, 0x00, 0x00, 0x05, 0xdc, // MTU 1500
        0x03, 0x04, 0x40, 0xc0, // prefix info, /64, L|A
        0x00, 0x27, 0x8d, 0x00, 0x00, 0x09, 0x3a, 0x80, // valid 2592000, preferred 604800
        0x00, 0x00, 0x00, 0x00, // reserved
        0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // 2001:db8::
    ];

    fn ra_repr() -> NdiscRepr {
        NdiscRepr::RouterAdvert {
            hop_limit: 64,
            flags: NdiscRouterFlags(0),
            router_lifetime: 1800,
            reachable_time: 0,
            retrans_time: 0,
            lladdr: Some(MAC_A),
            mtu: Some(1500),
            prefix_info: Some(NdiscPrefixInfo {
                prefix_len: 64,
                flags: NdiscPrefixInfo::ON_LINK | NdiscPrefixInfo::AUTONOMOUS,
                valid_lifetime: 2_592_000,
                preferred_lifetime: 604_800,
                prefix: ip("2001:db8::"),
            }),
        }
    }

    #[test]
    fn deconstruct_ns() {
        let p = Icmpv6Packet::new_checked(&NEIGHBOR_SOLICIT[..]).unwrap();
        assert!(p.verify_checksum(&ip("fe80::1"), &ip("ff02::1:ff00:2")));
        assert_eq!(p.msg_type(), Icmpv6Message::NeighborSolicit);
        assert_eq!(p.target_addr(), ip("fe80::2"));
        let mut options = NdiscOptionIter::new(p.ndisc_options());
        let opt = options.next().unwrap().unwrap();
        assert_eq!(opt.option_type(), NdiscOptionType::SourceLinkLayerAddr);
        assert_eq!(opt.option_len(), 8);
        assert_eq!(opt.link_layer_addr(), MAC_A);
        assert!(options.next().is_none());
    }

    #[test]
    fn construct_na() {
        let mut buf = [0u8; 32];
        let mut p = Icmpv6Packet::new_unchecked(&mut buf[..]);
        p.set_msg_type(Icmpv6Message::NeighborAdvert);
        p.set_msg_code(0);
        p.set_neighbor_flags(NdiscNeighborFlags(
            NdiscNeighborFlags::SOLICITED | NdiscNeighborFlags::OVERRIDE,
        ));
        p.set_target_addr(&ip("fe80::2"));
        let mut opt = NdiscOption::new_unchecked(&mut p.data_mut()[16..]);
        opt.set_option_type(NdiscOptionType::TargetLinkLayerAddr);
        opt.set_option_len(8);
        opt.set_link_layer_addr(MAC_B);
        p.fill_checksum(&ip("fe80::2"), &ip("fe80::1"));
        assert_eq!(buf, NEIGHBOR_ADVERT);
    }

    #[test]
    fn parse_and_emit_labelled() {
        let cases: [(&[u8], &str, &str, NdiscRepr); 4] = [
            (
                &NEIGHBOR_SOLICIT,
                "fe80::1",
                "ff02::1:ff00:2",
                NdiscRepr::NeighborSolicit {
                    target_addr: ip("fe80::2"),
                    lladdr: Some(MAC_A),
                },
            ),
            (
                &NEIGHBOR_ADVERT,
                "fe80::2",
                "fe80::1",
                NdiscRepr::NeighborAdvert {
                    flags: NdiscNeighborFlags(0x60),
                    target_addr: ip("fe80::2"),
                    lladdr: Some(MAC_B),
                },
            ),
            (
                &ROUTER_SOLICIT,
                "fe80::2",
                "ff02::2",
                NdiscRepr::RouterSolicit {
                    lladdr: Some(MAC_B),
                },
            ),
            (&ROUTER_ADVERT, "fe80::1", "ff02::1", ra_repr()),
        ];
        for (bytes, src, dst, expected) in cases {
            let (src, dst) = (ip(src), ip(dst));
            let p = Icmpv6Packet::new_checked(bytes).unwrap();
            let repr = Icmpv6Repr::parse(&src, &dst, &p).unwrap();
            assert_eq!(repr, Icmpv6Repr::Ndisc(expected));
            assert_eq!(repr.buffer_len(), bytes.len());
            let mut buf = vec![0xaau8; bytes.len()];
            repr.emit(&src, &dst, &mut Icmpv6Packet::new_unchecked(&mut buf[..]))
                .unwrap();
            assert_eq!(&buf[..], bytes);
        }
    }

    #[test]
    fn ra_accessors() {
        let p = Icmpv6Packet::new_checked(&ROUTER_ADVERT[..]).unwrap();
        assert_eq!(p.cur_hop_limit(), 64);
        assert!(!p.router_flags().contains(NdiscRouterFlags::MANAGED));
        assert_eq!(p.router_lifetime(), 1800);
        assert_eq!((p.reachable_time(), p.retrans_time()), (0, 0));
        let kinds: Vec<_> = NdiscOptionIter::new(p.ndisc_options())
            .map(|o| o.unwrap().option_type())
            .collect();
        assert_eq!(
            kinds,
            [
                NdiscOptionType::SourceLinkLayerAddr,
                NdiscOptionType::Mtu,
                NdiscOptionType::PrefixInformation
            ]
        );
        let prefix = NdiscOptionIter::new(p.ndisc_options())
            .nth(2)
            .unwrap()
            .unwrap();
        assert_eq!(prefix.prefix(), ip("2001:db8::"));
        assert_eq!(prefix.prefix_len(), 64);
        assert_eq!(prefix.valid_lifetime(), 2_592_000);
        assert_eq!(prefix.preferred_lifetime(), 604_800);
    }

    #[test]
    fn malformed_options() {
        // Zero-length option.
        let mut zero = NEIGHBOR_SOLICIT;
        zero[25] = 0;
        let p = Icmpv6Packet::new_checked(&zero[..]).unwrap();
        assert_eq!(NdiscRepr::parse(&p), Err(WireError::Malformed));
        let mut it = NdiscOptionIter::new(p.ndisc_options());
        assert_eq!(it.next(), Some(Err(WireError::Malformed)));
        assert_eq!(it.next(), None);
        // Option longer than the message.
        let mut long = NEIGHBOR_SOLICIT;
        long[25] = 2;
        let p = Icmpv6Packet::new_checked(&long[..]).unwrap();
        assert_eq!(NdiscRepr::parse(&p), Err(WireError::Truncated));
        // A lone type byte.
        let p = Icmpv6Packet::new_checked(&NEIGHBOR_SOLICIT[..25]).unwrap();
        assert_eq!(NdiscRepr::parse(&p), Err(WireError::Truncated));
        // Link-layer address option of the wrong size.
        let mut big = [0u8; 40];
        big[..32].copy_from_slice(&NEIGHBOR_SOLICIT);
        big[25] = 2;
        let p = Icmpv6Packet::new_checked(&big[..]).unwrap();
        assert_eq!(NdiscRepr::parse(&p), Err(WireError::Malformed));
        // Unknown options are skipped.
        let mut unknown = [0u8; 40];
        unknown[..32].copy_from_slice(&NEIGHBOR_SOLICIT);
        unknown[32] = 0x0e; // nonce option (RFC 3971), length 1
        unknown[33] = 1;
        let p = Icmpv6Packet::new_checked(&unknown[..]).unwrap();
        assert!(matches!(
            NdiscRepr::parse(&p),
            Ok(NdiscRepr::NeighborSolicit {
                lladdr: Some(_),
                ..
            })
        ));
    }

    #[test]
    fn malformed_messages() {
        // NS shorter than its fixed part.
        let p = Icmpv6Packet::new_checked(&NEIGHBOR_SOLICIT[..20]).unwrap();
        assert_eq!(NdiscRepr::parse(&p), Err(WireError::BadLength));
        // Non-zero code.
        let mut code = NEIGHBOR_SOLICIT;
        code[1] = 1;
        let p = Icmpv6Packet::new_checked(&code[..]).unwrap();
        assert_eq!(NdiscRepr::parse(&p), Err(WireError::Malformed));
        // Not an ND message.
        let mut echo = NEIGHBOR_SOLICIT;
        echo[0] = 128;
        let p = Icmpv6Packet::new_checked(&echo[..]).unwrap();
        assert_eq!(NdiscRepr::parse(&p), Err(WireError::Unsupported));
        // Emit into a short buffer.
        let mut short = [0u8; 63];
        assert_eq!(
            ra_repr().emit(&mut Icmpv6Packet::new_unchecked(&mut short[..])),
            Err(WireError::Truncated)
        );
        assert_eq!(short, [0u8; 63]);
    }

    fn arb_lladdr() -> impl Strategy<Value = Option<EthernetAddress>> {
        proptest::option::of(any::<[u8; 6]>().prop_map(EthernetAddress))
    }

    fn arb_prefix() -> impl Strategy<Value = NdiscPrefixInfo> {
        (
            any::<u8>(),
            any::<u8>(),
            any::<u32>(),
            any::<u32>(),
            any::<[u8; 16]>(),
        )
            .prop_map(
                |(prefix_len, flags, valid_lifetime, preferred_lifetime, prefix)| NdiscPrefixInfo {
                    prefix_len,
                    flags,
                    valid_lifetime,
                    preferred_lifetime,
                    prefix: Ipv6Addr::from(prefix),
                },
            )
    }

    fn arb_repr() -> impl Strategy<Value = NdiscRepr> {
        prop_oneof![
            arb_lladdr().prop_map(|lladdr| NdiscRepr::RouterSolicit { lladdr }),
            (
                any::<(u8, u8, u16, u32, u32)>(),
                arb_lladdr(),
                proptest::option::of(any::<u32>()),
                proptest::option::of(arb_prefix()),
            )
                .prop_map(
                    |(
                        (hop_limit, flags, router_lifetime, reachable_time, retrans_time),
                        lladdr,
                        mtu,
                        prefix_info,
                    )| {
                        NdiscRepr::RouterAdvert {
                            hop_limit,
                            flags: NdiscRouterFlags(flags),
                            router_lifetime,
                            reachable_time,
                            retrans_time,
                            lladdr,
                            mtu,
                            prefix_info,
                        }
                    }
                ),
            (any::<[u8; 16]>(), arb_lladdr()).prop_map(|(t, lladdr)| NdiscRepr::NeighborSolicit {
                target_addr: Ipv6Addr::from(t),
                lladdr,
            }),
            (any::<u8>(), any::<[u8; 16]>(), arb_lladdr()).prop_map(|(f, t, lladdr)| {
                NdiscRepr::NeighborAdvert {
                    flags: NdiscNeighborFlags(f),
                    target_addr: Ipv6Addr::from(t),
                    lladdr,
                }
            }),
        ]
    }

    proptest! {
        #[test]
        fn parse_emit_round_trip(repr in arb_repr(), src in any::<[u8; 16]>(), dst in any::<[u8; 16]>()) {
            let (src, dst) = (Ipv6Addr::from(src), Ipv6Addr::from(dst));
            let icmp = Icmpv6Repr::Ndisc(repr);
            let mut buf = vec![0u8; icmp.buffer_len()];
            icmp.emit(&src, &dst, &mut Icmpv6Packet::new_unchecked(&mut buf[..])).unwrap();
            let p = Icmpv6Packet::new_checked(&buf[..]).unwrap();
            prop_assert_eq!(Icmpv6Repr::parse(&src, &dst, &p).unwrap(), icmp);
            prop_assert_eq!(NdiscRepr::parse(&p).unwrap(), repr);
        }

        #[test]
        fn option_round_trip(
            kind in 0u8..6,
            mac in any::<[u8; 6]>(),
            mtu in any::<u32>(),
            prefix in arb_prefix(),
            unknown_kind in 6u8..=255,
            units in 1usize..4,
        ) {
            let body = vec![0x5au8; units * 8 - 2];
            let repr = match kind {
                0 => NdiscOptionRepr::SourceLinkLayerAddr(EthernetAddress(mac)),
                1 => NdiscOptionRepr::TargetLinkLayerAddr(EthernetAddress(mac)),
                2 => NdiscOptionRepr::Mtu(mtu),
                3 => NdiscOptionRepr::PrefixInformation(prefix),
                4 => NdiscOptionRepr::Unknown { kind: 4, data: &body },
                _ => NdiscOptionRepr::Unknown { kind: unknown_kind, data: &body },
            };
            let mut buf = vec![0u8; repr.buffer_len()];
            repr.emit(&mut NdiscOption::new_unchecked(&mut buf[..])).unwrap();
            let opt = NdiscOption::new_checked(&buf[..]).unwrap();
            prop_assert_eq!(NdiscOptionRepr::parse(&opt).unwrap(), repr);
        }

        #[test]
        fn option_walk_never_panics(data in proptest::collection::vec(any::<u8>(), 0..96)) {
            let mut steps = 0;
            for option in NdiscOptionIter::new(&data) {
                steps += 1;
                if let Ok(o) = option {
                    let _ = (o.link_layer_addr(), o.prefix(), o.mtu(), o.data());
                    let _ = NdiscOptionRepr::parse(&o);
                }
            }
            prop_assert!(steps <= data.len() / 8 + 1);
        }

        #[test]
        fn any_message_never_panics(data in proptest::collection::vec(any::<u8>(), 0..96), kind in 133u8..137) {
            let mut data = data;
            if let Some(b) = data.first_mut() { *b = kind; }
            if let Some(b) = data.get_mut(1) { *b = 0; }
            if let Ok(p) = Icmpv6Packet::new_checked(&data[..]) {
                let _ = NdiscRepr::parse(&p);
                let _ = (p.target_addr(), p.retrans_time(), p.ndisc_options());
            }
        }
    }
}
