//! The Internet checksum: full computation (RFC 1071) and incremental update (RFC 1624).
//!
//! - [`sum`] is the RFC 1071 section 2 one's-complement sum of a byte string taken as
//!   big-endian 16-bit words (an odd final byte is padded with a zero low byte), folded to
//!   16 bits but *not* complemented. It adds 64-bit words with end-around carry (RFC 1071
//!   section 2(B), "parallel summation" and section 4.1's deferred carries) and folds once at the
//!   end, so it costs one add per 8 bytes and never allocates.
//! - [`checksum`] is the value placed in a header: the complement of the sum.
//! - Partial sums combine with [`combine`]; this is only correct if every part except the last
//!   has an even length (RFC 1071 section 2(A): byte order and alignment independence hold per
//!   16-bit word).
//! - [`pseudo_header_v4`] and [`pseudo_header_v6`] are the sums of the TCP/UDP/ICMPv6
//!   pseudo-headers (RFC 9293 section 3.1, RFC 768, RFC 8200 section 8.1).
//! - The `update_*` functions apply RFC 1624 section 3, equation 3:
//!   `HC' = ~(~HC + ~m + m')`, which, unlike equation 2 of RFC 1141, never turns a correct
//!   checksum into `0x0000` when the true value is `0xffff` (RFC 1624 section 4, example).
//!   They take and return the checksum field as it appears in the header.
//!
//! Invariant: in one's-complement arithmetic `0x0000` and `0xffff` are both zero; the functions
//! here return results that verify identically to a full recomputation, but may differ in that
//! representation when the covered data is all zeros. UDP over IPv4 gives `0` the meaning
//! "no checksum": callers must not update such a checksum and must send a computed `0` as
//! `0xffff` (RFC 768); [`super::udp`] does the latter.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::IpProtocol;

/// Adds `data` to the 64-bit one's-complement accumulator `acc` (end-around carry).
#[inline]
fn accumulate(mut acc: u64, data: &[u8]) -> u64 {
    let mut chunks = data.chunks_exact(8);
    for chunk in &mut chunks {
        let word = u64::from_be_bytes(<[u8; 8]>::try_from(chunk).unwrap_or([0; 8]));
        let (s, carry) = acc.overflowing_add(word);
        acc = s + u64::from(carry);
    }
    let rem = chunks.remainder();
    if !rem.is_empty() {
        let (s, carry) = acc.overflowing_add(tail_word(rem));
        acc = s + u64::from(carry);
    }
    acc
}

/// The last 1..=7 bytes of a string as the big-endian 64-bit word they start, zero-padded on
/// the right. The remainder starts at an even offset, so this padding is the RFC 1071
/// treatment of an odd final byte. Built from a 4-, a 2- and a 1-byte load (no byte loop: a
/// 20-byte IPv4 header is two 8-byte words and one 4-byte tail).
#[inline]
fn tail_word(rem: &[u8]) -> u64 {
    let mut w = 0u64;
    let mut i = 0;
    if let Some(&[a, b, c, d]) = rem.get(..4) {
        w = u64::from(u32::from_be_bytes([a, b, c, d])) << 32;
        i = 4;
    }
    if let Some(&[a, b]) = rem.get(i..i + 2) {
        w |= u64::from(u16::from_be_bytes([a, b])) << (48 - 8 * i);
        i += 2;
    }
    if let Some(&a) = rem.get(i) {
        w |= u64::from(a) << (56 - 8 * i);
    }
    w
}

/// Folds a 64-bit one's-complement accumulator to 16 bits (not complemented).
#[inline]
pub fn fold(acc: u64) -> u16 {
    let s = (acc & 0xffff_ffff) + (acc >> 32); // < 2^33
    let s = (s & 0xffff) + ((s >> 16) & 0xffff) + (s >> 32); // < 3 * 2^16
    let s = (s & 0xffff) + (s >> 16); // <= 0xffff + 2
    ((s & 0xffff) + (s >> 16)) as u16
}

/// Folds a 32-bit accumulator (the incremental updates add a handful of 16-bit terms).
#[inline]
fn fold32(acc: u32) -> u16 {
    let s = (acc & 0xffff) + (acc >> 16);
    ((s & 0xffff) + (s >> 16)) as u16
}

/// [`sum`] of a 20-byte IPv4 header without options: five 32-bit big-endian words added in
/// 64 bits (no carry can be lost: the total is below 2^35), then folded: the two 32-bit halves
/// (below 2^33), then 16-bit folds until no carry is left.
#[inline]
pub fn sum_20(h: &[u8; 20]) -> u16 {
    let w = |i: usize| u64::from(u32::from_be_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]));
    let acc = w(0) + w(4) + w(8) + w(12) + w(16);
    let s = (acc & 0xffff_ffff) + (acc >> 32); // < 2^32 + 8
    let s = (s & 0xffff) + (s >> 16); // < 2^17 + 2
    let s = (s & 0xffff) + (s >> 16); // <= 0xffff + 2
    ((s & 0xffff) + (s >> 16)) as u16
}

/// RFC 1071 one's-complement sum of `data`, folded to 16 bits, not complemented.
#[inline]
pub fn sum(data: &[u8]) -> u16 {
    fold(accumulate(0, data))
}

/// One's-complement addition of partial sums.
#[inline]
pub fn combine(a: u16, b: u16) -> u16 {
    fold(u64::from(a) + u64::from(b))
}

/// The Internet checksum of `data`: the complement of [`sum`].
#[inline]
pub fn checksum(data: &[u8]) -> u16 {
    !sum(data)
}

/// True if `data`, which includes its checksum field, sums to all ones (RFC 1071 section 1(3)).
#[inline]
pub fn verify(data: &[u8]) -> bool {
    sum(data) == 0xffff
}

/// Sum of the IPv4 pseudo-header: source, destination, zero, protocol, upper-layer length.
#[inline]
pub fn pseudo_header_v4(src: Ipv4Addr, dst: Ipv4Addr, protocol: IpProtocol, length: u16) -> u16 {
    let s = src.octets();
    let d = dst.octets();
    let acc = u64::from(u32::from_be_bytes(s))
        + u64::from(u32::from_be_bytes(d))
        + u64::from(u8::from(protocol))
        + u64::from(length);
    fold(acc)
}

/// Sum of the IPv6 pseudo-header (RFC 8200 section 8.1): source, destination, 32-bit
/// upper-layer length, three zero bytes, next header.
#[inline]
pub fn pseudo_header_v6(
    src: &Ipv6Addr,
    dst: &Ipv6Addr,
    next_header: IpProtocol,
    length: u32,
) -> u16 {
    let mut acc = accumulate(0, &src.octets());
    acc = accumulate(acc, &dst.octets());
    // Each term is below 2^32 and `acc` was folded by the carries above; no overflow.
    let acc = u64::from(fold(acc)) + u64::from(length) + u64::from(u8::from(next_header));
    fold(acc)
}

/// RFC 1624 equation 3 for any change whose old and new contributions are known as sums:
/// `HC' = ~(~HC + ~old_sum + new_sum)`. Also the tool for replacing a whole pseudo-header
/// (NAT46/NAT64: `pseudo_header_v4` vs `pseudo_header_v6`).
#[inline]
pub fn update_sum(checksum: u16, old_sum: u16, new_sum: u16) -> u16 {
    !fold32(u32::from(!checksum) + u32::from(!old_sum) + u32::from(new_sum))
}

/// Incremental update for one 16-bit field (RFC 1624 section 3, equation 3).
#[inline]
pub fn update_u16(checksum: u16, old: u16, new: u16) -> u16 {
    update_sum(checksum, old, new)
}

/// Incremental update for a 16-bit-aligned 32-bit field (sequence number, IPv4 address).
/// Uses `~(a + b) = ~a + ~b` in one's complement, so the old words are negated one by one.
#[inline]
pub fn update_u32(checksum: u16, old: u32, new: u32) -> u16 {
    let acc = u32::from(!checksum)
        + u32::from(!((old >> 16) as u16))
        + u32::from(!(old as u16))
        + (new >> 16)
        + (new & 0xffff);
    !fold32(acc)
}

/// Incremental update for an IPv4 address change (SNAT source or destination rewrite).
#[inline]
pub fn update_ipv4_addr(checksum: u16, old: Ipv4Addr, new: Ipv4Addr) -> u16 {
    update_u32(checksum, u32::from(old), u32::from(new))
}

/// Incremental update for an IPv6 address change.
#[inline]
pub fn update_ipv6_addr(checksum: u16, old: &Ipv6Addr, new: &Ipv6Addr) -> u16 {
    let mut acc = u32::from(!checksum);
    for (o, n) in old.segments().iter().zip(new.segments().iter()) {
        acc += u32::from(!*o) + u32::from(*n);
    }
    !fold32(acc)
}

/// Incremental update for a change of `old` into `new` at a 16-bit-aligned offset. The two
/// slices stand for the same bytes before and after; lengths may differ only if the shorter is
/// padded by zeros in the checksummed data (an odd length counts as padded with one zero byte).
#[inline]
pub fn update_bytes(checksum: u16, old: &[u8], new: &[u8]) -> u16 {
    update_sum(checksum, sum(old), sum(new))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// One's-complement equality: 0x0000 and 0xffff are the same number.
    fn same(a: u16, b: u16) -> bool {
        a == b || (a == 0 && b == 0xffff) || (a == 0xffff && b == 0)
    }

    /// Straightforward RFC 1071 reference: 16-bit words into a u32, fold at the end.
    fn reference_sum(data: &[u8]) -> u16 {
        let mut acc: u64 = 0;
        for pair in data.chunks(2) {
            let hi = u64::from(pair[0]) << 8;
            let lo = pair.get(1).map_or(0, |b| u64::from(*b));
            acc += hi | lo;
        }
        while acc > 0xffff {
            acc = (acc >> 16) + (acc & 0xffff);
        }
        acc as u16
    }

    #[test]
    fn rfc1071_section_3_example() {
        // RFC 1071 section 3: the bytes 00 01 f2 03 f4 f5 f6 f7 sum to ddf2.
        let bytes = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(sum(&bytes), 0xddf2);
        let mut twenty = [0u8; 20];
        twenty[..8].copy_from_slice(&bytes);
        twenty[12..].copy_from_slice(&bytes);
        assert_eq!(sum_20(&twenty), sum(&twenty));
        assert_eq!(checksum(&bytes), !0xddf2);
        // Byte-swapped order gives the byte-swapped sum (section 2(B)).
        let swapped = [0x01, 0x00, 0x03, 0xf2, 0xf5, 0xf4, 0xf7, 0xf6];
        assert_eq!(sum(&swapped), 0xf2dd);
    }

    #[test]
    fn rfc1624_section_4_example() {
        // RFC 1624 section 4: HC = 0xDD2F, m = 0x5555 -> m' = 0x3285; equation 3 gives 0x0000.
        assert_eq!(update_u16(0xdd2f, 0x5555, 0x3285), 0x0000);
    }

    #[test]
    fn ipv4_header_checksum_known_value() {
        // A 20-byte IPv4 header (wikipedia / common capture): checksum 0xb861.
        let hdr = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        assert_eq!(checksum(&hdr), 0xb861);
        let mut with = hdr;
        with[10] = 0xb8;
        with[11] = 0x61;
        assert!(verify(&with));
    }

    #[test]
    fn odd_length_pads_with_zero() {
        assert_eq!(sum(&[0xab]), 0xab00);
        assert_eq!(sum(&[0x12, 0x34, 0x56]), 0x1234 + 0x5600);
        assert_eq!(sum(&[]), 0);
    }

    #[test]
    fn pseudo_headers_match_byte_layout() {
        let src = Ipv4Addr::new(192, 0, 2, 1);
        let dst = Ipv4Addr::new(198, 51, 100, 7);
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&src.octets());
        bytes.extend_from_slice(&dst.octets());
        bytes.extend_from_slice(&[0, 17, 0x01, 0x2c]);
        assert_eq!(
            pseudo_header_v4(src, dst, IpProtocol::Udp, 300),
            sum(&bytes)
        );

        let src6: Ipv6Addr = "2001:db8::1".parse().unwrap();
        let dst6: Ipv6Addr = "64:ff9b::c633:6407".parse().unwrap();
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&src6.octets());
        bytes.extend_from_slice(&dst6.octets());
        bytes.extend_from_slice(&70000u32.to_be_bytes());
        bytes.extend_from_slice(&[0, 0, 0, 6]);
        assert_eq!(
            pseudo_header_v6(&src6, &dst6, IpProtocol::Tcp, 70000),
            sum(&bytes)
        );
    }

    proptest! {
        #[test]
        fn fast_sum_matches_reference(data in proptest::collection::vec(any::<u8>(), 0..600)) {
            prop_assert_eq!(sum(&data), reference_sum(&data));
        }

        #[test]
        fn sum_20_matches_reference(data in proptest::array::uniform20(any::<u8>())) {
            prop_assert_eq!(sum_20(&data), reference_sum(&data));
        }

        #[test]
        fn split_sums_combine(data in proptest::collection::vec(any::<u8>(), 0..300), cut in 0usize..150) {
            let cut = (cut * 2).min(data.len() & !1);
            let (a, b) = data.split_at(cut);
            prop_assert!(same(combine(sum(a), sum(b)), sum(&data)));
        }

        #[test]
        fn incremental_u16_matches_full(
            data in proptest::collection::vec(any::<u8>(), 2..200),
            at in 0usize..100,
            new in any::<u16>(),
        ) {
            let mut data = data;
            let at = (at * 2) % (data.len() & !1);
            let old = u16::from_be_bytes([data[at], data[at + 1]]);
            let before = checksum(&data);
            data[at..at + 2].copy_from_slice(&new.to_be_bytes());
            prop_assert!(same(update_u16(before, old, new), checksum(&data)));
        }

        #[test]
        fn incremental_u32_matches_full(
            data in proptest::collection::vec(any::<u8>(), 4..200),
            at in 0usize..100,
            new in any::<u32>(),
        ) {
            let mut data = data;
            let at = (at * 2) % ((data.len() - 2) & !1);
            let old = u32::from_be_bytes([data[at], data[at + 1], data[at + 2], data[at + 3]]);
            let before = checksum(&data);
            data[at..at + 4].copy_from_slice(&new.to_be_bytes());
            prop_assert!(same(update_u32(before, old, new), checksum(&data)));
        }

        #[test]
        fn incremental_addresses_match_full(
            data in proptest::collection::vec(any::<u8>(), 40..120),
            new4 in any::<[u8; 4]>(),
            new6 in any::<[u8; 16]>(),
        ) {
            let mut data = data;
            // IPv4 address at offset 12, IPv6 address at offset 24 (16-bit aligned both).
            let old4 = Ipv4Addr::from(<[u8; 4]>::try_from(&data[12..16]).unwrap());
            let old6 = Ipv6Addr::from(<[u8; 16]>::try_from(&data[24..40]).unwrap());
            let before = checksum(&data);
            data[12..16].copy_from_slice(&new4);
            data[24..40].copy_from_slice(&new6);
            let after = update_ipv4_addr(before, old4, Ipv4Addr::from(new4));
            let after = update_ipv6_addr(after, &old6, &Ipv6Addr::from(new6));
            prop_assert!(same(after, checksum(&data)));
            let via_bytes = update_bytes(before, &[&old4.octets()[..], &old6.octets()[..]].concat(),
                &[&new4[..], &new6[..]].concat());
            prop_assert!(same(via_bytes, after));
        }

        #[test]
        fn pseudo_header_swap_matches_full(
            payload in proptest::collection::vec(any::<u8>(), 0..64),
            s4 in any::<[u8; 4]>(), d4 in any::<[u8; 4]>(),
            s6 in any::<[u8; 16]>(), d6 in any::<[u8; 16]>(),
        ) {
            // NAT64-style: replace an IPv4 pseudo-header by an IPv6 one incrementally.
            let len = payload.len() as u16;
            let (s4, d4, s6, d6) = (Ipv4Addr::from(s4), Ipv4Addr::from(d4), Ipv6Addr::from(s6), Ipv6Addr::from(d6));
            let p4 = pseudo_header_v4(s4, d4, IpProtocol::Udp, len);
            let p6 = pseudo_header_v6(&s6, &d6, IpProtocol::Udp, u32::from(len));
            let c4 = !combine(p4, sum(&payload));
            let c6 = !combine(p6, sum(&payload));
            prop_assert!(same(update_sum(c4, p4, p6), c6));
        }
    }
}
