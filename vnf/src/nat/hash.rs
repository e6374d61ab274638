//! Keyed hashing and a small PRNG for the session tables and port allocation.
//!
//! The table hash is a keyed multiply-fold hash over 64-bit words (one 64x64->128 multiply per
//! word). The key is random per process (from the standard library's randomly seeded
//! `RandomState`), so an outside host cannot aim packets at one probe chain without learning it.
//! The PRNG (`Rng`) is a keyed counter pushed through the same mixer: it picks SNAT ports when the
//! pod's own port cannot be preserved (RFC 6056 section 3.3.1), so they are not predictable from
//! outside.

use std::hash::{BuildHasher, Hasher};

const M1: u64 = 0xa076_1d64_78bd_642f;
const M2: u64 = 0xe703_7ed1_a0b4_28db;

/// Multiplies and folds the 128-bit product: the mixing step.
#[inline(always)]
pub(crate) fn mix(a: u64, b: u64) -> u64 {
    let p = u128::from(a) * u128::from(b);
    (p as u64) ^ ((p >> 64) as u64)
}

/// A random 128-bit secret for one process.
pub fn random_secret() -> [u64; 2] {
    let s = std::collections::hash_map::RandomState::new();
    let mut a = s.build_hasher();
    a.write_u64(0x6e61_7431);
    let mut b = s.build_hasher();
    b.write_u64(0x6e61_7432);
    [a.finish(), b.finish()]
}

/// Hashes a few 64-bit words with the secret `k`.
#[inline(always)]
pub(crate) fn hash_words(k: [u64; 2], words: &[u64]) -> u64 {
    let m = k[1] ^ M2;
    let mut h = k[0];
    for &w in words {
        h = mix(h ^ w ^ M1, m);
    }
    mix(h ^ (words.len() as u64) ^ M2, k[0] ^ M1)
}

/// A keyed pseudo-random sequence (not cryptographic; unpredictable without the key).
#[derive(Debug, Clone)]
pub struct Rng {
    state: u64,
    key: u64,
}

impl Rng {
    /// A sequence seeded from the secret and a stream number (the worker index).
    pub fn new(secret: [u64; 2], stream: u64) -> Rng {
        Rng {
            state: mix(secret[0] ^ stream, M1),
            key: secret[1] | 1,
        }
    }

    /// The next 64 random bits.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(M1);
        mix(self.state ^ M2, self.key ^ self.state)
    }

    /// A number in `0..n` (`n > 0`; 0 when `n == 0`).
    #[inline]
    pub fn below(&mut self, n: u32) -> u32 {
        ((u64::from(self.next_u64() as u32) * u64::from(n)) >> 32) as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyed_hash_depends_on_key_and_words() {
        let k = [1, 2];
        assert_eq!(hash_words(k, &[5, 6]), hash_words(k, &[5, 6]));
        assert_ne!(hash_words(k, &[5, 6]), hash_words(k, &[6, 5]));
        assert_ne!(hash_words(k, &[5, 6]), hash_words([1, 3], &[5, 6]));
        assert_ne!(random_secret(), [0, 0]);
    }

    #[test]
    fn rng_below_is_in_range_and_spread() {
        let mut r = Rng::new([7, 9], 0);
        let mut seen = [0u32; 16];
        for _ in 0..16_000 {
            let v = r.below(16);
            assert!(v < 16);
            seen[v as usize] += 1;
        }
        assert!(seen.iter().all(|&c| (800..1200).contains(&c)), "{seen:?}");
        assert_eq!(r.below(0), 0);
    }
}
