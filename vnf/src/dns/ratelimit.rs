//! `dnsRateLimit`: a token bucket per pod source address.
//!
//! Each pod may send `rate` queries per second on average with a burst of `rate` (one second
//! of tokens). The table is preallocated (a power of two of buckets, 4-way probed by a keyed
//! hash); when all probed buckets belong to other pods the one idle the longest is taken over,
//! which can only make the new pod's bucket full (never limits a pod wrongly for long).

use std::net::IpAddr;

const WAYS: usize = 4;

#[derive(Debug, Clone, Copy, Default)]
struct Bucket {
    key: [u8; 16],
    used: bool,
    /// Tokens in thousandths of a query.
    tokens: u64,
    last: u64,
}

/// Per-source token buckets.
#[derive(Debug)]
pub struct RateLimiter {
    buckets: Vec<Bucket>,
    mask: usize,
    seed: u64,
    /// Queries per second; 0 = off.
    rate: u32,
}

fn key_of(a: IpAddr) -> [u8; 16] {
    match a {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        IpAddr::V6(v6) => v6.octets(),
    }
}

impl RateLimiter {
    /// `rate` queries per second per source (0 = off), about `slots` tracked sources.
    pub fn new(rate: u32, slots: usize, seed: u64) -> RateLimiter {
        let n = if rate == 0 {
            WAYS
        } else {
            slots.clamp(WAYS, 1 << 24).next_power_of_two()
        };
        RateLimiter {
            buckets: vec![Bucket::default(); n],
            mask: n - 1,
            seed,
            rate,
        }
    }

    fn hash(&self, k: &[u8; 16]) -> usize {
        let mut h = self.seed ^ 0x9e37_79b9_7f4a_7c15;
        for chunk in k.chunks_exact(8) {
            let mut w = [0u8; 8];
            w.copy_from_slice(chunk);
            h = (h ^ u64::from_le_bytes(w)).wrapping_mul(0xff51_afd7_ed55_8ccd);
            h ^= h >> 32;
        }
        h as usize
    }

    /// Takes one token for `src` at `now` (ms); false when the source is over its rate.
    pub fn allow(&mut self, src: IpAddr, now: u64) -> bool {
        if self.rate == 0 {
            return true;
        }
        let cap = u64::from(self.rate) * 1000;
        let k = key_of(src);
        let start = self.hash(&k);
        let mut victim = start & self.mask;
        let mut found = None;
        for w in 0..WAYS {
            let i = (start + w) & self.mask;
            let b = self.buckets[i];
            if b.used && b.key == k {
                found = Some(i);
                break;
            }
            if !b.used {
                victim = i;
                break;
            }
            if b.last < self.buckets[victim].last {
                victim = i;
            }
        }
        let i = match found {
            Some(i) => i,
            None => {
                self.buckets[victim] = Bucket {
                    key: k,
                    used: true,
                    tokens: cap,
                    last: now,
                };
                victim
            }
        };
        let b = &mut self.buckets[i];
        let refill = now
            .saturating_sub(b.last)
            .saturating_mul(u64::from(self.rate));
        b.tokens = b.tokens.saturating_add(refill).min(cap);
        b.last = b.last.max(now);
        if b.tokens >= 1000 {
            b.tokens -= 1000;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn burst_then_refill() {
        let mut r = RateLimiter::new(5, 64, 1);
        let pod = IpAddr::V4(Ipv4Addr::new(10, 1, 0, 5));
        let allowed = (0..10).filter(|_| r.allow(pod, 1000)).count();
        assert_eq!(allowed, 5, "a burst of one second of tokens");
        assert!(!r.allow(pod, 1100));
        assert!(r.allow(pod, 1200), "one token per 200 ms at 5/s");
        let other = IpAddr::V4(Ipv4Addr::new(10, 1, 0, 6));
        assert!(r.allow(other, 1200), "buckets are per source");
    }

    #[test]
    fn off_allows_everything_and_table_is_bounded() {
        let mut r = RateLimiter::new(0, 64, 1);
        assert!((0..1000).all(|_| r.allow(IpAddr::V4(Ipv4Addr::LOCALHOST), 0)));
        let mut r = RateLimiter::new(1, 8, 7);
        for i in 0..10_000u32 {
            r.allow(IpAddr::V4(Ipv4Addr::from(i)), u64::from(i));
        }
        assert_eq!(r.buckets.len(), 8);
    }
}
