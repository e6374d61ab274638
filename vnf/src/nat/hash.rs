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

/// Hashes the five words of a session key with the secret `k`: two independent
/// multiply-folds over the address halves, then one over their results and the ports word, so
/// the latency is two multiplies instead of one per word.
#[inline(always)]
pub(crate) fn hash_key(k: [u64; 2], w: [u64; 5]) -> u64 {
    let x = mix(w[0] ^ k[0], w[1] ^ k[1] ^ M1);
    let y = mix(w[2] ^ k[1] ^ M2, w[3] ^ k[0].rotate_left(32));
    mix(x ^ w[4] ^ M1, y ^ k[1].rotate_left(17) ^ M2)
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
    fn key_hash_depends_on_every_word_and_the_key() {
        let k = [0x1234_5678, 0x9abc_def0];
        let base = [
            0,
            0xffff_0000_0a00_0001,
            0,
            0xffff_0000_c633_6401,
            0x11_2710_01bb,
        ];
        let h = hash_key(k, base);
        for i in 0..5 {
            for bit in [0, 17, 63] {
                let mut w = base;
                w[i] ^= 1 << bit;
                assert_ne!(hash_key(k, w), h, "word {i} bit {bit}");
            }
        }
        assert_ne!(hash_key([1, 2], base), h);
        // The home slot bits (high half) spread over sequential ports.
        let mut seen = std::collections::HashSet::new();
        for p in 0..4096u64 {
            let mut w = base;
            w[4] = 0x11_0000_01bb | p << 16;
            seen.insert(hash_key(k, w) >> 48);
        }
        assert!(seen.len() > 3800, "{}", seen.len());
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
