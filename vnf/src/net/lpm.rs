//! Longest-prefix match for IPv4 and IPv6 routes: one small table type for both families.
//!
//! Layout: one sorted array of `(network, value)` per prefix length that is in use, the arrays
//! ordered from the longest length to the shortest. A lookup masks the address for each length
//! in use and binary-searches that array; the first hit is the longest match. With `L` lengths in
//! use and `n` prefixes a lookup costs `O(L log n)` comparisons and never allocates; a gateway
//! has a handful of lengths (connected subnets, a few static routes, a default route), so this is
//! a few cache-resident binary searches.
//!
//! Why our own table and not `rte_lpm`/`rte_lpm6` or a crate: routes come from the config
//! (tens of entries, rebuilt on reload, never changed on the hot path); `rte_lpm` needs the EAL
//! (no unit or property tests without DPDK) and FFI for every lookup; a general-purpose trie
//! crate would be a dependency for what about a hundred lines do here.
//! Correctness is checked by a property test against a linear scan.
//!
//! Keys are `u128`; an IPv4 table has `width` 32 and uses the low 32 bits. Invariants: every
//! stored network has its host bits cleared; each level's array is sorted and free of duplicate
//! networks; levels are sorted by length, longest first.

/// A longest-prefix-match table of `V` keyed by addresses of `width` bits (32 or 128).
#[derive(Debug, Clone)]
pub struct Lpm<V> {
    width: u8,
    /// (prefix length, sorted (network, value) pairs), longest length first.
    levels: Vec<(u8, Vec<(u128, V)>)>,
}

/// Why a prefix could not be inserted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LpmError {
    /// The prefix length exceeds the table's width.
    BadLength,
}

impl<V: Copy> Lpm<V> {
    /// An empty IPv4 table.
    pub fn v4() -> Lpm<V> {
        Lpm {
            width: 32,
            levels: Vec::new(),
        }
    }

    /// An empty IPv6 table.
    pub fn v6() -> Lpm<V> {
        Lpm {
            width: 128,
            levels: Vec::new(),
        }
    }

    /// The mask of the first `len` bits of a `width`-bit address (`len <= width`).
    #[inline]
    fn mask(&self, len: u8) -> u128 {
        if len == 0 {
            return 0;
        }
        let all = u128::MAX >> (128 - u32::from(self.width));
        let host_bits = u32::from(self.width) - u32::from(len);
        let host = if host_bits >= 128 {
            u128::MAX
        } else {
            (1u128 << host_bits) - 1
        };
        all & !host
    }

    /// Inserts `addr/len` (host bits are cleared), replacing the value of an equal prefix.
    /// Returns the value it replaced.
    pub fn insert(&mut self, addr: u128, len: u8, value: V) -> Result<Option<V>, LpmError> {
        if len > self.width {
            return Err(LpmError::BadLength);
        }
        let net = addr & self.mask(len);
        let at = match self.levels.binary_search_by(|(l, _)| len.cmp(l)) {
            Ok(i) => i,
            Err(i) => {
                self.levels.insert(i, (len, Vec::new()));
                i
            }
        };
        let level = &mut self.levels[at].1;
        match level.binary_search_by_key(&net, |(n, _)| *n) {
            Ok(i) => Ok(Some(std::mem::replace(&mut level[i].1, value))),
            Err(i) => {
                level.insert(i, (net, value));
                Ok(None)
            }
        }
    }

    /// The value of the longest prefix containing `addr`, and that prefix's length.
    #[inline]
    pub fn lookup(&self, addr: u128) -> Option<(V, u8)> {
        for (len, entries) in &self.levels {
            let key = addr & self.mask(*len);
            if let Ok(i) = entries.binary_search_by_key(&key, |(n, _)| *n) {
                return entries.get(i).map(|(_, v)| (*v, *len));
            }
        }
        None
    }

    /// The value stored for exactly `addr/len`.
    pub fn get_exact(&self, addr: u128, len: u8) -> Option<V> {
        if len > self.width {
            return None;
        }
        let net = addr & self.mask(len);
        let i = self.levels.binary_search_by(|(l, _)| len.cmp(l)).ok()?;
        let level = &self.levels.get(i)?.1;
        let j = level.binary_search_by_key(&net, |(n, _)| *n).ok()?;
        level.get(j).map(|(_, v)| *v)
    }

    /// Number of prefixes.
    pub fn len(&self) -> usize {
        self.levels.iter().map(|(_, e)| e.len()).sum()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.levels.is_empty()
    }

    /// Every prefix as (network, length, value), longest length first.
    pub fn iter(&self) -> impl Iterator<Item = (u128, u8, V)> + '_ {
        self.levels
            .iter()
            .flat_map(|(len, e)| e.iter().map(move |(n, v)| (*n, *len, *v)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn v4(s: &str) -> u128 {
        u128::from(u32::from(s.parse::<std::net::Ipv4Addr>().unwrap()))
    }
    fn v6(s: &str) -> u128 {
        u128::from(s.parse::<std::net::Ipv6Addr>().unwrap())
    }

    #[test]
    fn longest_prefix_wins_v4() {
        let mut t = Lpm::v4();
        t.insert(v4("0.0.0.0"), 0, 'd').unwrap();
        t.insert(v4("10.0.0.0"), 8, 'a').unwrap();
        t.insert(v4("10.1.0.0"), 16, 'b').unwrap();
        t.insert(v4("10.1.2.3"), 32, 'h').unwrap();
        assert_eq!(t.lookup(v4("10.1.2.3")), Some(('h', 32)));
        assert_eq!(t.lookup(v4("10.1.2.4")), Some(('b', 16)));
        assert_eq!(t.lookup(v4("10.2.0.1")), Some(('a', 8)));
        assert_eq!(t.lookup(v4("192.0.2.1")), Some(('d', 0)));
        assert_eq!(t.len(), 4);
        // Host bits are cleared on insert; replacing returns the old value.
        assert_eq!(t.insert(v4("10.1.99.99"), 16, 'B').unwrap(), Some('b'));
        assert_eq!(t.lookup(v4("10.1.0.1")), Some(('B', 16)));
        assert_eq!(t.get_exact(v4("10.1.0.0"), 16), Some('B'));
        assert_eq!(t.get_exact(v4("10.1.0.0"), 17), None);
        assert_eq!(t.insert(0, 33, 'x'), Err(LpmError::BadLength));
    }

    #[test]
    fn no_default_route_means_no_match() {
        let mut t = Lpm::v6();
        t.insert(v6("2001:db8::"), 32, 1u8).unwrap();
        t.insert(v6("2001:db8:1::"), 48, 2).unwrap();
        t.insert(v6("2001:db8:1::1"), 128, 3).unwrap();
        assert_eq!(t.lookup(v6("2001:db8:1::1")), Some((3, 128)));
        assert_eq!(t.lookup(v6("2001:db8:1::2")), Some((2, 48)));
        assert_eq!(t.lookup(v6("2001:db8:ffff::2")), Some((1, 32)));
        assert_eq!(t.lookup(v6("2001:db9::")), None);
        t.insert(0, 0, 9).unwrap();
        assert_eq!(t.lookup(v6("2001:db9::")), Some((9, 0)));
        assert_eq!(t.lookup(u128::MAX), Some((9, 0)));
    }

    /// The reference: the longest of all prefixes that contain the address, by linear scan.
    fn naive(routes: &[(u128, u8, u16)], width: u8, addr: u128) -> Option<(u16, u8)> {
        let mask = |len: u8| -> u128 {
            if len == 0 {
                0
            } else {
                let all = u128::MAX >> (128 - u32::from(width));
                all & !(u128::MAX
                    .checked_shr(u32::from(len) + 128 - u32::from(width))
                    .unwrap_or(0))
            }
        };
        // Later inserts of the same prefix replace earlier ones.
        let mut best: Option<(u16, u8)> = None;
        for &(net, len, v) in routes {
            if addr & mask(len) == net & mask(len) && best.is_none_or(|(_, l)| len >= l) {
                best = Some((v, len));
            }
        }
        best
    }

    fn check(
        width: u8,
        routes: Vec<(u128, u8, u16)>,
        probes: Vec<u128>,
    ) -> Result<(), TestCaseError> {
        let all = u128::MAX >> (128 - u32::from(width));
        let mut t = if width == 32 { Lpm::v4() } else { Lpm::v6() };
        let routes: Vec<(u128, u8, u16)> = routes
            .into_iter()
            .map(|(a, l, v)| (a & all, l % (width + 1), v))
            .collect();
        for &(a, l, v) in &routes {
            t.insert(a, l, v).unwrap();
        }
        // Probe random addresses and addresses inside (and just outside) every prefix.
        let mut addrs: Vec<u128> = probes.into_iter().map(|p| p & all).collect();
        for &(a, _, _) in &routes {
            addrs.extend([a, a ^ 1, a.wrapping_add(1) & all, a ^ (1 << (width - 1))]);
        }
        for a in addrs {
            prop_assert_eq!(t.lookup(a), naive(&routes, width, a), "addr {:#x}", a);
        }
        Ok(())
    }

    proptest! {
        #[test]
        fn matches_linear_scan_v4(
            routes in proptest::collection::vec((any::<u32>(), 0u8..=32, any::<u16>()), 0..40),
            probes in proptest::collection::vec(any::<u32>(), 0..40),
        ) {
            // Few distinct high bits so that prefixes overlap often.
            let routes = routes.into_iter().map(|(a, l, v)| (u128::from(a & 0xc0ff_00ff), l, v)).collect();
            check(32, routes, probes.into_iter().map(|p| u128::from(p & 0xc0ff_00ff)).collect())?;
        }

        #[test]
        fn matches_linear_scan_v6(
            routes in proptest::collection::vec((any::<u128>(), 0u8..=128, any::<u16>()), 0..40),
            probes in proptest::collection::vec(any::<u128>(), 0..40),
        ) {
            let m = 0xc000_0000_0000_00ff_0000_0000_0000_00ffu128;
            let routes = routes.into_iter().map(|(a, l, v)| (a & m, l, v)).collect();
            check(128, routes, probes.into_iter().map(|p| p & m).collect())?;
        }
    }
}
