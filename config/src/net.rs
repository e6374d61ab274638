//! Address prefixes (`ADDR/LEN`) and the small amount of address arithmetic the config needs:
//! containment, overlap, and the DNS46 IPv4 pool partitioning of CONTRACT §2.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// An IPv4 prefix such as `10.20.0.0/24`. The address keeps its host bits as written;
/// [`Ipv4Prefix::network`] masks them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv4Prefix {
    pub addr: Ipv4Addr,
    pub len: u8,
}

/// An IPv6 prefix such as `64:ff9b::/96`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv6Prefix {
    pub addr: Ipv6Addr,
    pub len: u8,
}

/// Why a prefix did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PrefixError {
    #[error("`{0}` is not ADDRESS/LENGTH")]
    Syntax(String),
    #[error("`{0}` is not an address of the right family")]
    Address(String),
    #[error("prefix length {len} is above {max}")]
    Length { len: u8, max: u8 },
}

fn split_prefix(s: &str) -> Result<(&str, u8), PrefixError> {
    let (a, l) = s
        .split_once('/')
        .ok_or_else(|| PrefixError::Syntax(s.to_owned()))?;
    let len: u8 = l.parse().map_err(|_| PrefixError::Syntax(s.to_owned()))?;
    Ok((a, len))
}

impl Ipv4Prefix {
    pub fn new(addr: Ipv4Addr, len: u8) -> Result<Self, PrefixError> {
        if len > 32 {
            return Err(PrefixError::Length { len, max: 32 });
        }
        Ok(Ipv4Prefix { addr, len })
    }
    fn mask(&self) -> u32 {
        if self.len == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(self.len))
        }
    }
    /// The network address (host bits cleared).
    pub fn network(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) & self.mask())
    }
    /// The last address of the prefix (the broadcast address for lengths below 31).
    pub fn last(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) | !self.mask())
    }
    /// Number of addresses covered.
    pub fn size(&self) -> u64 {
        1u64 << (32 - u32::from(self.len))
    }
    pub fn contains(&self, a: Ipv4Addr) -> bool {
        u32::from(a) & self.mask() == u32::from(self.network())
    }
    /// True when the two prefixes share at least one address.
    pub fn overlaps(&self, other: &Ipv4Prefix) -> bool {
        self.contains(other.network()) || other.contains(self.network())
    }
    /// The prefix with its host bits cleared.
    pub fn trunc(&self) -> Ipv4Prefix {
        Ipv4Prefix {
            addr: self.network(),
            len: self.len,
        }
    }
}

impl Ipv6Prefix {
    pub fn new(addr: Ipv6Addr, len: u8) -> Result<Self, PrefixError> {
        if len > 128 {
            return Err(PrefixError::Length { len, max: 128 });
        }
        Ok(Ipv6Prefix { addr, len })
    }
    fn mask(&self) -> u128 {
        if self.len == 0 {
            0
        } else {
            u128::MAX << (128 - u32::from(self.len))
        }
    }
    pub fn network(&self) -> Ipv6Addr {
        Ipv6Addr::from(u128::from(self.addr) & self.mask())
    }
    pub fn contains(&self, a: Ipv6Addr) -> bool {
        u128::from(a) & self.mask() == u128::from(self.network())
    }
    pub fn overlaps(&self, other: &Ipv6Prefix) -> bool {
        self.contains(other.network()) || other.contains(self.network())
    }
    /// True when the host bits of the address are all zero.
    pub fn is_network(&self) -> bool {
        self.addr == self.network()
    }
}

impl FromStr for Ipv4Prefix {
    type Err = PrefixError;
    fn from_str(s: &str) -> Result<Self, PrefixError> {
        let (a, len) = split_prefix(s)?;
        let addr: Ipv4Addr = a.parse().map_err(|_| PrefixError::Address(a.to_owned()))?;
        Ipv4Prefix::new(addr, len)
    }
}

impl FromStr for Ipv6Prefix {
    type Err = PrefixError;
    fn from_str(s: &str) -> Result<Self, PrefixError> {
        let (a, len) = split_prefix(s)?;
        let addr: Ipv6Addr = a.parse().map_err(|_| PrefixError::Address(a.to_owned()))?;
        Ipv6Prefix::new(addr, len)
    }
}

impl fmt::Display for Ipv4Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

impl fmt::Display for Ipv6Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

macro_rules! serde_via_str {
    ($t:ty, $what:literal) => {
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse()
                    .map_err(|e| serde::de::Error::custom(format!("{}: {e}", $what)))
            }
        }
    };
}
serde_via_str!(Ipv4Prefix, "expected an IPv4 prefix like 10.0.0.0/24");
serde_via_str!(Ipv6Prefix, "expected an IPv6 prefix like 64:ff9b::/96");

/// The network of `addr/len` for either family, as a comparable prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpPrefix {
    V4(Ipv4Prefix),
    V6(Ipv6Prefix),
}

impl IpPrefix {
    pub fn new(addr: IpAddr, len: u8) -> Result<Self, PrefixError> {
        match addr {
            IpAddr::V4(a) => Ipv4Prefix::new(a, len).map(IpPrefix::V4),
            IpAddr::V6(a) => Ipv6Prefix::new(a, len).map(IpPrefix::V6),
        }
    }
}

/// The DNS46 IPv4 pool split of CONTRACT §2 for one subnet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Nat46Partition {
    /// First usable address (network + 1).
    pub first_usable: Ipv4Addr,
    /// Number of usable addresses (network and broadcast excluded).
    pub usable: u32,
    /// Reserved addresses for manual mappings: the first `reserved` usable ones.
    pub reserved: u32,
    /// Addresses in each TMM replica's slice.
    pub slice_size: u32,
    pub replicas: u32,
}

/// Why a DNS46 pool cannot be partitioned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PartitionError {
    #[error("a /{0} has no usable addresses once network and broadcast are excluded (use /30 or shorter)")]
    TooSmall(u8),
    #[error(
        "{reserved} reserved addresses do not fit the {usable} usable addresses of the subnet"
    )]
    ReservedTooMany { reserved: u32, usable: u32 },
    #[error("maxTmmReplicas must be at least 1")]
    NoReplicas,
    #[error(
        "{left} unreserved addresses cannot give each of {replicas} TMM replicas at least one"
    )]
    SliceEmpty { left: u32, replicas: u32 },
}

impl Nat46Partition {
    /// Splits `subnet`: first `reserved` usable addresses reserved, the rest split into
    /// `replicas` equal contiguous slices (remainder unused).
    pub fn new(subnet: Ipv4Prefix, reserved: u32, replicas: u32) -> Result<Self, PartitionError> {
        if subnet.len > 30 {
            return Err(PartitionError::TooSmall(subnet.len));
        }
        let usable = (subnet.size() - 2) as u32;
        if reserved > usable {
            return Err(PartitionError::ReservedTooMany { reserved, usable });
        }
        if replicas == 0 {
            return Err(PartitionError::NoReplicas);
        }
        let left = usable - reserved;
        let slice_size = left / replicas;
        if slice_size == 0 {
            return Err(PartitionError::SliceEmpty { left, replicas });
        }
        Ok(Nat46Partition {
            first_usable: Ipv4Addr::from(u32::from(subnet.network()) + 1),
            usable,
            reserved,
            slice_size,
            replicas,
        })
    }

    /// The reserved range (first, last), if any address is reserved.
    pub fn reserved_range(&self) -> Option<(Ipv4Addr, Ipv4Addr)> {
        let f = u32::from(self.first_usable);
        (self.reserved > 0).then(|| (Ipv4Addr::from(f), Ipv4Addr::from(f + self.reserved - 1)))
    }

    /// Slice of TMM replica `index` (first, last), or None when `index >= replicas`.
    pub fn slice(&self, index: u32) -> Option<(Ipv4Addr, Ipv4Addr)> {
        if index >= self.replicas {
            return None;
        }
        let first = u32::from(self.first_usable) + self.reserved + index * self.slice_size;
        Some((
            Ipv4Addr::from(first),
            Ipv4Addr::from(first + self.slice_size - 1),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_of_a_24() {
        let p = Nat46Partition::new("10.1.1.0/24".parse().unwrap(), 128, 2).unwrap();
        assert_eq!(p.usable, 254);
        assert_eq!(p.slice_size, 63);
        assert_eq!(
            p.reserved_range(),
            Some(("10.1.1.1".parse().unwrap(), "10.1.1.128".parse().unwrap()))
        );
        assert_eq!(
            p.slice(0),
            Some(("10.1.1.129".parse().unwrap(), "10.1.1.191".parse().unwrap()))
        );
        assert_eq!(
            p.slice(1),
            Some(("10.1.1.192".parse().unwrap(), "10.1.1.254".parse().unwrap()))
        );
        assert_eq!(p.slice(2), None);
    }

    #[test]
    fn partition_remainder_unused() {
        let p = Nat46Partition::new("10.1.1.0/24".parse().unwrap(), 26, 4).unwrap();
        // 228 left, 57 each, no remainder; 26 reserved: .1-.26
        assert_eq!(p.slice_size, 57);
        assert_eq!(
            p.slice(3),
            Some(("10.1.1.198".parse().unwrap(), "10.1.1.254".parse().unwrap()))
        );
        let p = Nat46Partition::new("10.1.1.0/29".parse().unwrap(), 0, 4).unwrap();
        // 6 usable, 1 each, 2 unused
        assert_eq!(
            p.slice(3),
            Some(("10.1.1.4".parse().unwrap(), "10.1.1.4".parse().unwrap()))
        );
    }

    #[test]
    fn partition_errors() {
        let s: Ipv4Prefix = "10.1.1.0/28".parse().unwrap();
        assert_eq!(
            Nat46Partition::new(s, 15, 1),
            Err(PartitionError::ReservedTooMany {
                reserved: 15,
                usable: 14
            })
        );
        assert!(matches!(
            Nat46Partition::new(s, 10, 5),
            Err(PartitionError::SliceEmpty { .. })
        ));
        assert!(matches!(
            Nat46Partition::new("10.0.0.0/31".parse().unwrap(), 0, 1),
            Err(PartitionError::TooSmall(31))
        ));
    }

    #[test]
    fn prefixes() {
        let a: Ipv4Prefix = "10.0.0.0/16".parse().unwrap();
        let b: Ipv4Prefix = "10.0.3.7/24".parse().unwrap();
        assert!(a.overlaps(&b) && b.overlaps(&a));
        assert_eq!(b.network(), Ipv4Addr::new(10, 0, 3, 0));
        assert_eq!(b.last(), Ipv4Addr::new(10, 0, 3, 255));
        assert!(!b.overlaps(&"10.0.4.0/24".parse().unwrap()));
        assert!("10.0.0.0/33".parse::<Ipv4Prefix>().is_err());
        assert!("10.0.0.0".parse::<Ipv4Prefix>().is_err());
        let p: Ipv6Prefix = "64:ff9b::/96".parse().unwrap();
        assert!(p.contains("64:ff9b::10.0.0.1".parse().unwrap()));
        assert_eq!(p.to_string(), "64:ff9b::/96");
    }
}
