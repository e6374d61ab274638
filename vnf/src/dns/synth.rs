//! DNS46 and DNS64 answer synthesis (pure functions on hickory-proto messages) and RFC 6052
//! address embedding.
//!
//! DNS46 (the product rule): an answer with A records, or with A and AAAA records, returns
//! unchanged. When the name has no A record but has AAAA records, the first AAAA outside
//! `::ffff:0:0/96` is mapped to an IPv4 address of the DNS46 pool and the answer is the CNAME
//! chain, one A record (TTL = min(AAAA TTL, `maxDNS46TTL`)) and the original AAAA records.
//! NXDOMAIN and SERVFAIL pass through.
//!
//! DNS64 (RFC 6147): only when the AAAA answer is empty (after the exclusions of section 5.1.4,
//! `::ffff:0:0/96` by default) and never for NXDOMAIN (section 5.1.2; other error RCODEs are
//! treated as an empty answer); the A records of the name become AAAA records with the NAT64
//! prefix (RFC 6052 section 2.2), TTL = min(A TTL, negative-cache TTL of the AAAA answer's SOA)
//! or min(A TTL, 600) without an SOA (section 5.1.7); CNAMEs are kept (section 5.1.6). The
//! caller skips synthesis for queries with both CD and DO set (section 5.5).

use std::net::{Ipv4Addr, Ipv6Addr};

use hickory_proto::op::{Message, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA};
use hickory_proto::rr::{RData, Record, RecordType};

use super::message::{negative_ttl, QKey};

/// TTL cap of a synthesized AAAA record when the AAAA answer had no SOA (RFC 6147 5.1.7).
pub const DNS64_TTL_WITHOUT_SOA: u32 = 600;

/// The result of asking the mapping table for the IPv4 address of an IPv6 host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Map46 {
    /// The mapping exists and is persisted (`created`: it was made for this request).
    Mapped { v4: Ipv4Addr, created: bool },
    /// The lookup or the write is in progress: ask again later (the answer is held).
    Pending,
    /// No free address is left in this TMM's slice: answer with the sorry IP.
    Exhausted,
    /// The mapping store cannot be reached: SERVFAIL.
    Unavailable,
}

/// What DNS46 needs from the 6-to-4 mapping table (local cache, then dSSM; `create` allocates
/// the next free IPv4 of this TMM's slice and persists both keys before it reports `Mapped`).
pub trait Mapper46 {
    /// The IPv4 address for `v6`, existing or newly created.
    fn map_v6(&mut self, v6: Ipv6Addr, now: u64) -> Map46;
}

/// A mapper for configurations without DNS46: always unavailable.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoMapper;

impl Mapper46 for NoMapper {
    fn map_v6(&mut self, _v6: Ipv6Addr, _now: u64) -> Map46 {
        Map46::Unavailable
    }
}

/// An IPv6 prefix (address and length).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Prefix6 {
    pub addr: Ipv6Addr,
    pub len: u8,
}

impl Prefix6 {
    /// Whether `a` is inside the prefix.
    pub fn contains(&self, a: &Ipv6Addr) -> bool {
        let len = u32::from(self.len.min(128));
        if len == 0 {
            return true;
        }
        let mask = u128::MAX << (128 - len);
        (u128::from(*a) & mask) == (u128::from(self.addr) & mask)
    }
}

/// `::ffff:0:0/96`, the IPv4-mapped addresses.
pub const V4_MAPPED: Prefix6 = Prefix6 {
    addr: Ipv6Addr::new(0, 0, 0, 0, 0, 0xffff, 0, 0),
    len: 96,
};

/// RFC 6052 section 2.2: `v4` embedded in `prefix` (length 32, 40, 48, 56, 64 or 96; bits
/// 64..71 stay zero). `None` for another length. The translator's RFC 6052 code
/// ([`crate::xlat::Rfc6052Prefix`]) does the embedding, so DNS64 and NAT64 agree bit for bit;
/// bits of `prefix` beyond its length are ignored, and the Well-Known Prefix's non-global
/// check is left to NAT64 (which drops such a destination, `nat64_bad_address`).
pub fn embed_rfc6052(prefix: &Prefix6, v4: Ipv4Addr) -> Option<Ipv6Addr> {
    let mut p = prefix.addr.octets();
    let n = usize::from(prefix.len / 8).min(16);
    p[n..].fill(0);
    crate::xlat::Rfc6052Prefix::new(Ipv6Addr::from(p), prefix.len)
        .ok()?
        .with_wkp_global_only(false)
        .embed(v4)
        .ok()
}

/// DNS46, first step: the (sanitized) A answer is NOERROR without any A record, so the name
/// may have only AAAA records: ask AAAA.
pub fn dns46_needs_aaaa(a_answer: &Message) -> bool {
    a_answer.metadata.response_code == ResponseCode::NoError
        && !a_answer
            .answers
            .iter()
            .any(|r| r.record_type() == RecordType::A)
}

/// DNS46, second step: the IPv6 address to map and its TTL: the first AAAA record outside
/// `::ffff:0:0/96` of a NOERROR (sanitized) AAAA answer.
pub fn dns46_candidate(aaaa_answer: &Message) -> Option<(Ipv6Addr, u32)> {
    if aaaa_answer.metadata.response_code != ResponseCode::NoError {
        return None;
    }
    aaaa_answer.answers.iter().find_map(|r| match &r.data {
        RData::AAAA(AAAA(v6)) if !V4_MAPPED.contains(v6) => Some((*v6, r.ttl)),
        _ => None,
    })
}

/// DNS46, last step: the answer to the A question `a_key`: the CNAME chain of the AAAA answer,
/// an A record `v4` owned by the AAAA's owner (TTL = min(AAAA TTL, `max_ttl`)), and the
/// original AAAA records.
pub fn dns46_answer(a_key: &QKey, aaaa_answer: &Message, v4: Ipv4Addr, max_ttl: u32) -> Message {
    let mut m = response_for(a_key, aaaa_answer);
    let mut a_done = false;
    for r in &aaaa_answer.answers {
        match &r.data {
            RData::CNAME(_) => m.answers.push(r.clone()),
            RData::AAAA(AAAA(v6)) if !a_done && !V4_MAPPED.contains(v6) => {
                let mut rec =
                    Record::from_rdata(r.name.clone(), r.ttl.min(max_ttl), RData::A(A(v4)));
                rec.dns_class = r.dns_class;
                m.answers.push(rec);
                a_done = true;
            }
            _ => {}
        }
    }
    for r in &aaaa_answer.answers {
        if r.record_type() == RecordType::AAAA {
            m.answers.push(r.clone());
        }
    }
    m
}

/// DNS64, first step: whether the (sanitized) AAAA answer calls for synthesis: not NXDOMAIN,
/// and no AAAA record outside the exclusions.
pub fn dns64_needs_a(aaaa_answer: &Message, exclusions: &[Prefix6]) -> bool {
    match aaaa_answer.metadata.response_code {
        ResponseCode::NXDomain => false,
        ResponseCode::NoError => !aaaa_answer.answers.iter().any(|r| match &r.data {
            RData::AAAA(AAAA(v6)) => !exclusions.iter().any(|p| p.contains(v6)),
            _ => false,
        }),
        _ => true,
    }
}

/// DNS64, last step: the synthesized answer to the AAAA question `aaaa_key` from the (sanitized)
/// A answer, or `None` when the A answer has no A record (the original AAAA answer is then
/// returned). `aaaa_answer` is the original AAAA answer (for its SOA).
pub fn dns64_answer(
    aaaa_key: &QKey,
    aaaa_answer: &Message,
    a_answer: &Message,
    prefix: &Prefix6,
) -> Option<Message> {
    if a_answer.metadata.response_code != ResponseCode::NoError {
        return None;
    }
    let cap = negative_ttl(&aaaa_answer.authorities).unwrap_or(DNS64_TTL_WITHOUT_SOA);
    let mut m = response_for(aaaa_key, a_answer);
    for r in &a_answer.answers {
        match &r.data {
            RData::CNAME(_) => m.answers.push(r.clone()),
            RData::A(A(v4)) => {
                let v6 = embed_rfc6052(prefix, *v4)?;
                let mut rec =
                    Record::from_rdata(r.name.clone(), r.ttl.min(cap), RData::AAAA(AAAA(v6)));
                rec.dns_class = r.dns_class;
                m.answers.push(rec);
            }
            _ => {}
        }
    }
    m.answers
        .iter()
        .any(|r| r.record_type() == RecordType::AAAA)
        .then_some(m)
}

/// An empty NOERROR response to `key` with the header flags of `from`; AD is cleared (the data
/// is synthesized).
fn response_for(key: &QKey, from: &Message) -> Message {
    let mut m = Message::response(0, OpCode::Query);
    m.metadata = from.metadata;
    m.metadata.response_code = ResponseCode::NoError;
    m.metadata.authentic_data = false;
    m.add_query(key.query());
    m
}

/// DNS46 through the worker's mapping table: `create_v6` (cache, then the slow path, which
/// returns the existing mapping or allocates and persists a new one). Whether the mapping was
/// created is only known to the slow path, which counts it.
impl Mapper46 for crate::mapping::MappingTable {
    fn map_v6(&mut self, v6: Ipv6Addr, now: u64) -> Map46 {
        use crate::mapping::Lookup;
        match self.create_v6(v6, now) {
            Lookup::Found(v4) => Map46::Mapped { v4, created: false },
            Lookup::Pending => Map46::Pending,
            Lookup::Exhausted => Map46::Exhausted,
            Lookup::Missing | Lookup::Unavailable => Map46::Unavailable,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str, len: u8) -> Prefix6 {
        Prefix6 {
            addr: s.parse().unwrap(),
            len,
        }
    }

    /// RFC 6052 section 2.4, the table of examples for 192.0.2.33.
    #[test]
    fn rfc6052_2_4_examples() {
        let v4 = Ipv4Addr::new(192, 0, 2, 33);
        let cases = [
            ("2001:db8::", 32, "2001:db8:c000:221::"),
            ("2001:db8:100::", 40, "2001:db8:1c0:2:21::"),
            ("2001:db8:122::", 48, "2001:db8:122:c000:2:2100::"),
            ("2001:db8:122:300::", 56, "2001:db8:122:3c0:0:221::"),
            ("2001:db8:122:344::", 64, "2001:db8:122:344:c0:2:2100:0"),
            ("2001:db8:122:344::", 96, "2001:db8:122:344::192.0.2.33"),
            ("64:ff9b::", 96, "64:ff9b::192.0.2.33"),
        ];
        for (prefix, len, want) in cases {
            let got = embed_rfc6052(&p(prefix, len), v4).unwrap();
            assert_eq!(got, want.parse::<Ipv6Addr>().unwrap(), "/{len}");
        }
        assert_eq!(embed_rfc6052(&p("64:ff9b::", 80), v4), None);
    }

    #[test]
    fn prefix_contains() {
        assert!(V4_MAPPED.contains(&"::ffff:1.2.3.4".parse().unwrap()));
        assert!(!V4_MAPPED.contains(&"2001:db8::1".parse().unwrap()));
        assert!(p("::", 0).contains(&"2001:db8::1".parse().unwrap()));
    }
}
