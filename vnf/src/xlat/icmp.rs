//! ICMP type, code, pointer and MTU mappings of RFC 7915 sections 4.2 and 5.2, as pure tables.

/// The four bytes after the checksum of a translated ICMP error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rest {
    /// Unused (zero).
    Unused,
    /// The MTU, computed by [`mtu_4to6`] / [`mtu_6to4`].
    Mtu,
    /// A parameter-problem pointer (already mapped).
    Pointer(u32),
}

/// An ICMP error's translated type and code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorMap {
    pub ty: u8,
    pub code: u8,
    pub rest: Rest,
}

const fn map(ty: u8, code: u8, rest: Rest) -> Option<ErrorMap> {
    Some(ErrorMap { ty, code, rest })
}

/// RFC 7915 4.2: ICMPv4 error (type, code, pointer byte) -> ICMPv6. `None`: silently drop.
pub fn error_4to6(ty: u8, code: u8, pointer: u8) -> Option<ErrorMap> {
    match ty {
        // Destination Unreachable.
        3 => match code {
            0 | 1 | 5..=8 | 11 | 12 => map(1, 0, Rest::Unused),
            // Protocol unreachable -> Parameter Problem, unrecognized Next Header, pointer 6.
            2 => map(4, 1, Rest::Pointer(6)),
            3 => map(1, 4, Rest::Unused),
            4 => map(2, 0, Rest::Mtu),
            9 | 10 | 13 | 15 => map(1, 1, Rest::Unused),
            // 14 (host precedence violation) and unknown codes: drop.
            _ => None,
        },
        // Time Exceeded: code unchanged.
        11 => map(3, code, Rest::Unused),
        // Parameter Problem: codes 0 and 2 with the Figure 3 pointer; 1 and others: drop.
        12 => match code {
            0 | 2 => pointer_4to6(pointer).and_then(|p| map(4, 0, Rest::Pointer(p))),
            _ => None,
        },
        // Source Quench (4), Redirect (5), Router Advertisement/Solicitation, unknown: drop.
        _ => None,
    }
}

/// RFC 7915 5.2: ICMPv6 error (type, code, pointer) -> ICMPv4. `None`: silently drop.
pub fn error_6to4(ty: u8, code: u8, pointer: u32) -> Option<ErrorMap> {
    match ty {
        1 => match code {
            0 | 2 | 3 => map(3, 1, Rest::Unused),
            1 => map(3, 10, Rest::Unused),
            4 => map(3, 3, Rest::Unused),
            _ => None,
        },
        2 => map(3, 4, Rest::Mtu),
        3 => map(11, code, Rest::Unused),
        4 => match code {
            0 => pointer_6to4(pointer).and_then(|p| map(12, 0, Rest::Pointer(u32::from(p)))),
            1 => map(3, 2, Rest::Unused),
            _ => None,
        },
        _ => None,
    }
}

/// RFC 7915 Figure 3: IPv4 header pointer -> IPv6 header pointer (`None` = n/a: drop).
pub fn pointer_4to6(p: u8) -> Option<u32> {
    Some(match p {
        0 => 0,        // Version/IHL -> Version/Traffic Class
        1 => 1,        // Type Of Service -> Traffic Class/Flow Label
        2 | 3 => 4,    // Total Length -> Payload Length
        8 => 7,        // Time to Live -> Hop Limit
        9 => 6,        // Protocol -> Next Header
        12..=15 => 8,  // Source Address
        16..=19 => 24, // Destination Address
        _ => return None,
    })
}

/// RFC 7915 Figure 6: IPv6 header pointer -> IPv4 header pointer (`None` = n/a: drop).
pub fn pointer_6to4(p: u32) -> Option<u8> {
    Some(match p {
        0 => 0,        // Version/Traffic Class -> Version/IHL, Type Of Service
        1 => 1,        // Traffic Class/Flow Label -> Type Of Service
        4 | 5 => 2,    // Payload Length -> Total Length
        6 => 9,        // Next Header -> Protocol
        7 => 8,        // Hop Limit -> Time to Live
        8..=23 => 12,  // Source Address
        24..=39 => 16, // Destination Address
        _ => return None,
    })
}

/// RFC 1191 section 7 plateau table.
pub const PLATEAUS: [u16; 11] = [
    65535, 32000, 17914, 8166, 4352, 2002, 1492, 1006, 508, 296, 68,
];

/// The greatest plateau less than `total_len` (RFC 7915 4.2, for routers that send an MTU of
/// zero); 68 if none is.
pub fn plateau(total_len: u16) -> u16 {
    PLATEAUS
        .iter()
        .copied()
        .find(|p| *p < total_len)
        .unwrap_or(68)
}

/// IPv6 minimum MTU (RFC 8200 section 5).
pub const IPV6_MIN_MTU: u32 = 1280;

/// RFC 7915 4.2 Fragmentation Needed -> Packet Too Big MTU:
/// `min(advertised + 20, MTU_of_IPv6_nexthop, MTU_of_IPv4_nexthop + 20)`, the advertised MTU
/// replaced by the plateau below the inner Total Length when zero, and never below 1280
/// (with atomic fragments gone, RFC 8021, an IPv6 host cannot go below it).
pub fn mtu_4to6(advertised: u16, inner_total_len: u16, ipv6_mtu: u16, ipv4_mtu: u16) -> u32 {
    let adv = if advertised == 0 {
        plateau(inner_total_len)
    } else {
        advertised
    };
    let m = (u32::from(adv) + 20)
        .min(u32::from(ipv6_mtu))
        .min(u32::from(ipv4_mtu) + 20);
    m.max(IPV6_MIN_MTU)
}

/// RFC 7915 5.2 Packet Too Big -> Fragmentation Needed MTU:
/// `min(advertised - 20, MTU_of_IPv4_nexthop, MTU_of_IPv6_nexthop - 20)`, 28 instead of 20 when
/// the packet in error carries a Fragment header; at least 68 (RFC 791 minimum).
pub fn mtu_6to4(advertised: u32, inner_has_frag: bool, ipv4_mtu: u16, ipv6_mtu: u16) -> u16 {
    let delta = if inner_has_frag { 28 } else { 20 };
    let m = advertised
        .saturating_sub(delta)
        .min(u32::from(ipv4_mtu))
        .min(u32::from(ipv6_mtu).saturating_sub(20));
    m.clamp(68, 65535) as u16
}
