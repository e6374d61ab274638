//! DNS messages through hickory-proto: parsing a pod's query, the cache key, the answer chain
//! filter (RFC 1034 section 4.3.2 CNAME chain; RFC 2308 negative answers), and the wire
//! "template" that both the cache and fresh answers are served from.
//!
//! A template is an encoded response (ID 0, no OPT record) plus the offsets of every TTL field.
//! Serving a template to a client copies the bytes and patches the ID, the RD bit, the case of
//! the question name (so 0x20 randomisation of the client survives), the TTLs (decremented by
//! the time spent in the cache) and appends the client's OPT record; if the result exceeds the
//! client's UDP payload size the answer is cut to header + question with TC set (RFC 1035
//! section 4.2.1, RFC 6891 section 7). No re-encoding happens on a cache hit.
//!
//! Allocation: `Message::from_vec` allocates (section vectors; names longer than 32 bytes);
//! encoding reuses the caller's buffers. All of this is bounded by the message size (at most one
//! UDP payload).

use hickory_proto::op::{Edns, Header, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder, BinEncodable, BinEncoder};

/// EDNS UDP payload size advertised upstream and to pods (DNS flag day 2020).
pub const EDNS_PAYLOAD: u16 = 1232;
/// Longest CNAME chain followed inside one answer.
pub const MAX_CHAIN: usize = 16;
/// The DNS header length.
pub const HEADER_LEN: usize = 12;

/// The cache and merge key: lowercased name (hickory `Name` compares case-insensitively),
/// type, class, and the DO and CD bits of the query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QKey {
    pub name: Name,
    pub qtype: RecordType,
    pub qclass: DNSClass,
    pub dnssec_ok: bool,
    pub checking_disabled: bool,
}

/// Hashes the lowercased wire form of the name (label lengths and letters) in one `write`,
/// with the other fields: equal keys (names equal but for case) hash alike, as `Eq` needs.
/// One call instead of hickory's byte-at-a-time `Hash` for `Name` keeps the lookup cheap.
impl std::hash::Hash for QKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        let mut buf = [0u8; 256];
        let mut n = 0;
        for label in self.name.iter() {
            let Some(dst) = buf.get_mut(n..n + 1 + label.len()) else {
                break;
            };
            dst[0] = label.len() as u8;
            for (d, s) in dst[1..].iter_mut().zip(label) {
                *d = s.to_ascii_lowercase();
            }
            n += 1 + label.len();
        }
        state.write(&buf[..n]);
        state.write_u16(u16::from(self.qtype));
        state.write_u16(u16::from(self.qclass));
        state.write_u8(
            u8::from(self.name.is_fqdn())
                | u8::from(self.dnssec_ok) << 1
                | u8::from(self.checking_disabled) << 2,
        );
    }
}

impl QKey {
    /// The question of this key.
    pub fn query(&self) -> Query {
        let mut q = Query::query(self.name.clone(), self.qtype);
        q.set_query_class(self.qclass);
        q
    }
}

/// What a pod asked, as far as the answer needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientQuery {
    pub id: u16,
    pub recursion_desired: bool,
    /// The client's EDNS UDP payload size, if it sent an OPT record.
    pub edns_payload: Option<u16>,
    pub key: QKey,
}

impl ClientQuery {
    /// Largest answer the client accepts over UDP.
    pub fn udp_limit(&self) -> usize {
        usize::from(self.edns_payload.map_or(512, |p| p.max(512)))
    }
}

/// Result of parsing a pod's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParsedQuery {
    Query(ClientQuery),
    /// Answer with this RCODE (header only, the client's ID and opcode): FORMERR for an
    /// unparsable query, NOTIMP for an opcode other than QUERY.
    Error {
        id: u16,
        opcode: u8,
        rcode: ResponseCode,
    },
    /// Not a query at all (too short for a header, or a response): drop.
    Ignore,
}

/// Parses a pod's query with hickory-proto's decoder, without allocating for a name of up to
/// 32 bytes: the header ([`Header`]), the one question ([`Query`]), then the additional
/// records, whose owner names are read and RDATA skipped; the OPT record gives the EDNS payload
/// size and the DO bit (its options are not needed). FORMERR for anything that does not parse,
/// for QDCOUNT other than 1, for answer or authority records, or for two OPT records.
pub fn parse_query(payload: &[u8]) -> ParsedQuery {
    if payload.len() < HEADER_LEN {
        return ParsedQuery::Ignore;
    }
    let id = u16::from_be_bytes([payload[0], payload[1]]);
    let flags = payload[2];
    if flags & 0x80 != 0 {
        return ParsedQuery::Ignore;
    }
    let opcode = (flags >> 3) & 0x0f;
    let formerr = ParsedQuery::Error {
        id,
        opcode,
        rcode: ResponseCode::FormErr,
    };
    if opcode != 0 {
        return ParsedQuery::Error {
            id,
            opcode,
            rcode: ResponseCode::NotImp,
        };
    }
    let mut d = BinDecoder::new(payload);
    let Ok(Header { metadata, counts }) = Header::read(&mut d) else {
        return formerr;
    };
    if counts.queries != 1 || counts.answers != 0 || counts.authorities != 0 {
        return formerr;
    }
    let Ok(q) = Query::read(&mut d) else {
        return formerr;
    };
    let mut edns: Option<(u16, bool)> = None;
    for _ in 0..counts.additionals {
        let Some((rtype, class, ttl)) = read_record_skipping_rdata(&mut d) else {
            return formerr;
        };
        if rtype == u16::from(RecordType::OPT) {
            if edns.is_some() {
                return formerr;
            }
            // RFC 6891 6.1.3: the TTL holds the extended RCODE, the version and the flags (DO
            // is the top bit of the flags).
            edns = Some((class, ttl & 0x8000 != 0));
        }
    }
    ParsedQuery::Query(ClientQuery {
        id,
        recursion_desired: metadata.recursion_desired,
        edns_payload: edns.map(|(p, _)| p),
        key: QKey {
            name: q.name,
            qtype: q.query_type,
            qclass: q.query_class,
            dnssec_ok: edns.is_some_and(|(_, d)| d),
            checking_disabled: metadata.checking_disabled,
        },
    })
}

/// Reads one resource record's owner name (hickory-proto), TYPE, CLASS and TTL, and skips its
/// RDATA; `None` if it runs past the message.
fn read_record_skipping_rdata(d: &mut BinDecoder<'_>) -> Option<(u16, u16, u32)> {
    Name::read(d).ok()?;
    let fixed = d.read_slice(10).ok()?.unverified();
    let be16 = |i: usize| u16::from_be_bytes([fixed[i], fixed[i + 1]]);
    let ttl = u32::from_be_bytes([fixed[4], fixed[5], fixed[6], fixed[7]]);
    let (rtype, class, rdlen) = (be16(0), be16(2), be16(8));
    d.read_slice(usize::from(rdlen)).ok()?;
    Some((rtype, class, ttl))
}

/// A header-only error response (RCODE `rcode`) to query `id`.
pub fn error_header(id: u16, opcode: u8, rcode: ResponseCode, out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(&id.to_be_bytes());
    out.push(0x80 | ((opcode & 0x0f) << 3));
    out.push(0x80 | (u16::from(rcode) as u8 & 0x0f));
    out.extend_from_slice(&[0; 8]);
}

/// Encodes the query sent upstream: `q`, RD set, CD and DO as the client's, EDNS payload
/// [`EDNS_PAYLOAD`].
pub fn encode_upstream_query(id: u16, key: &QKey, q: &Query, out: &mut Vec<u8>) -> bool {
    let mut m = Message::new(id, MessageType::Query, OpCode::Query);
    m.metadata.recursion_desired = true;
    m.metadata.checking_disabled = key.checking_disabled;
    m.add_query(q.clone());
    let mut e = Edns::new();
    e.set_max_payload(EDNS_PAYLOAD);
    e.set_dnssec_ok(key.dnssec_ok);
    m.set_edns(e);
    encode(&m, out)
}

/// Encodes `m` into `out` (cleared first; its capacity is reused).
pub fn encode(m: &Message, out: &mut Vec<u8>) -> bool {
    out.clear();
    let mut enc = BinEncoder::new(out);
    m.emit(&mut enc).is_ok()
}

/// The two OPT records a server appends to its answers (DO clear, DO set), encoded once with
/// hickory-proto; the payload-size field is [`EDNS_PAYLOAD`].
pub fn opt_records() -> [Vec<u8>; 2] {
    let one = |dnssec_ok: bool| {
        let mut e = Edns::new();
        e.set_max_payload(EDNS_PAYLOAD);
        e.set_dnssec_ok(dnssec_ok);
        let mut out = Vec::new();
        let mut enc = BinEncoder::new(&mut out);
        let _ = Record::from(&e).emit(&mut enc);
        out
    };
    [one(false), one(true)]
}

/// Whether a record belongs to the answer of type `qtype` (ANY matches everything but CNAME
/// handling still applies).
fn type_matches(r: &Record, qtype: RecordType) -> bool {
    qtype == RecordType::ANY || r.record_type() == qtype
}

/// The answer chain for `q` in `answers`: starting at the question name, the records of the
/// question's type and class, following CNAMEs (at most [`MAX_CHAIN`]); RRSIGs of those owners
/// when `dnssec_ok`. Returns the records (in order) and the last name of the chain.
pub fn answer_chain(answers: &[Record], q: &QKey) -> (Vec<Record>, Name) {
    let mut out = Vec::new();
    let mut cur = q.name.clone();
    for _ in 0..MAX_CHAIN {
        let mut next = None;
        for r in answers {
            if r.name != cur || r.dns_class != q.qclass {
                continue;
            }
            let t = r.record_type();
            if type_matches(r, q.qtype) || (q.dnssec_ok && t == RecordType::RRSIG) {
                out.push(r.clone());
            } else if t == RecordType::CNAME {
                if let RData::CNAME(c) = &r.data {
                    if next.is_none() {
                        next = Some(c.0.clone());
                        out.push(r.clone());
                    }
                }
            }
        }
        match next {
            Some(n) if n != cur && q.qtype != RecordType::CNAME => cur = n,
            _ => break,
        }
    }
    (out, cur)
}

/// Whether the chain holds a record of type `t`.
pub fn has_type(chain: &[Record], t: RecordType) -> bool {
    chain.iter().any(|r| r.record_type() == t)
}

/// The negative-caching TTL of a response (RFC 2308 section 5): min(SOA TTL, SOA MINIMUM) of
/// the first SOA in the authority section, if any.
pub fn negative_ttl(authorities: &[Record]) -> Option<u32> {
    authorities.iter().find_map(|r| match &r.data {
        RData::SOA(soa) => Some(r.ttl.min(soa.minimum)),
        _ => None,
    })
}

/// The response as pods get it and as it is cached: header (RCODE, RA, RD; AA cleared; AD kept
/// only for DO queries; CD as asked), the question, the answer chain, and for a negative answer
/// the SOA of an enclosing zone (TTL lowered to the negative TTL) plus, for DO queries, its
/// NSEC/NSEC3/RRSIG records. Additional and other authority records are dropped (no
/// out-of-bailiwick data).
pub fn sanitize(resp: &Message, key: &QKey) -> Message {
    let mut m = Message::response(0, OpCode::Query);
    m.metadata.response_code = resp.metadata.response_code;
    m.metadata.recursion_available = true;
    m.metadata.recursion_desired = true;
    m.metadata.authentic_data = resp.metadata.authentic_data && key.dnssec_ok;
    m.metadata.checking_disabled = key.checking_disabled;
    m.add_query(key.query());
    let (chain, last) = answer_chain(&resp.answers, key);
    let positive = chain.iter().any(|r| type_matches(r, key.qtype));
    m.answers = chain;
    if !positive {
        let soa = resp.authorities.iter().find(|r| {
            matches!(r.data, RData::SOA(_)) && r.name.zone_of(&last) && r.dns_class == key.qclass
        });
        if let Some(soa) = soa {
            let zone = soa.name.clone();
            let mut s = soa.clone();
            if let RData::SOA(d) = &soa.data {
                s.ttl = s.ttl.min(d.minimum);
            }
            m.authorities.push(s);
            if key.dnssec_ok {
                for r in &resp.authorities {
                    let t = r.record_type();
                    if matches!(t, RecordType::NSEC | RecordType::NSEC3 | RecordType::RRSIG)
                        && zone.zone_of(&r.name)
                    {
                        m.authorities.push(r.clone());
                    }
                }
            }
        }
    }
    m
}

/// Whether a sanitized response may be cached, and for how long (seconds): NOERROR or
/// NXDOMAIN, the smallest TTL of its records; a negative answer without SOA is not cached.
pub fn cache_ttl(m: &Message) -> Option<u32> {
    let rc = m.metadata.response_code;
    if rc != ResponseCode::NoError && rc != ResponseCode::NXDomain {
        return None;
    }
    if m.answers.is_empty() && m.authorities.is_empty() {
        return None;
    }
    let min = m
        .answers
        .iter()
        .chain(m.authorities.iter())
        .map(|r| r.ttl)
        .min()?;
    (min > 0).then_some(min)
}

/// An encoded response ready to be served to any client asking the same question.
#[derive(Debug, Clone, Default)]
pub struct Template {
    /// The message (ID 0, no OPT, unless `raw`).
    pub wire: Vec<u8>,
    /// Offsets of every TTL field of the answer and authority sections.
    pub ttl_offsets: Vec<u16>,
    /// End of the question section (a TC answer is cut here).
    pub question_end: usize,
    /// Passed through as received (a truncated upstream answer): no OPT is added, TTLs and
    /// sections are left alone.
    pub raw: bool,
}

impl Template {
    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.wire.capacity() + self.ttl_offsets.capacity() * 2
    }

    /// Fills the template from `m` (encoded with hickory-proto), reusing its buffers. False if
    /// `m` does not encode or has more than one question.
    pub fn fill(&mut self, m: &Message) -> bool {
        self.raw = false;
        self.ttl_offsets.clear();
        if m.queries.len() != 1 || m.edns.is_some() || !encode(m, &mut self.wire) {
            return false;
        }
        self.index()
    }

    /// Fills the template with a received message kept as it is (`raw`).
    pub fn fill_raw(&mut self, wire: &[u8]) -> bool {
        self.raw = true;
        self.ttl_offsets.clear();
        self.wire.clear();
        self.wire.extend_from_slice(wire);
        let mut d = BinDecoder::new(&self.wire);
        if d.read_slice(HEADER_LEN).is_err() || Query::read(&mut d).is_err() {
            return false;
        }
        self.question_end = d.index();
        true
    }

    /// Finds the question end and the TTL offsets of answers and authorities.
    fn index(&mut self) -> bool {
        let w = &self.wire;
        if w.len() < HEADER_LEN {
            return false;
        }
        let count = |i: usize| usize::from(u16::from_be_bytes([w[i], w[i + 1]]));
        let (qd, an, ns) = (count(4), count(6), count(8));
        let mut d = BinDecoder::new(w);
        if d.read_slice(HEADER_LEN).is_err() {
            return false;
        }
        for _ in 0..qd {
            if Query::read(&mut d).is_err() {
                return false;
            }
        }
        self.question_end = d.index();
        for _ in 0..an + ns {
            if Name::read(&mut d).is_err() {
                return false;
            }
            let Ok(off) = u16::try_from(d.index() + 4) else {
                return false;
            };
            // TYPE, CLASS, TTL, RDLENGTH.
            let fixed = d.read_slice(10).map(|s| s.unverified());
            let Ok(fixed) = fixed else { return false };
            let rdlen = usize::from(u16::from_be_bytes([fixed[8], fixed[9]]));
            if d.read_slice(rdlen).is_err() {
                return false;
            }
            self.ttl_offsets.push(off);
        }
        true
    }

    /// Smallest TTL in the template (seconds), 0 when it has none.
    pub fn min_ttl(&self) -> u32 {
        self.ttl_offsets
            .iter()
            .filter_map(|&o| read_u32(&self.wire, usize::from(o)))
            .min()
            .unwrap_or(0)
    }

    /// Writes the answer for `client` into `out`: see the module docs. `elapsed` seconds are
    /// taken off every TTL; `opt` are the two encoded OPT records of [`opt_records`].
    pub fn serve(&self, client: &ClientQuery, elapsed: u32, opt: &[Vec<u8>; 2], out: &mut Vec<u8>) {
        out.clear();
        out.extend_from_slice(&self.wire);
        if out.len() < HEADER_LEN {
            return;
        }
        out[0..2].copy_from_slice(&client.id.to_be_bytes());
        out[2] = (out[2] & !0x01) | u8::from(client.recursion_desired);
        restore_case(out, &client.key.name);
        if self.raw {
            return;
        }
        for &o in &self.ttl_offsets {
            let o = usize::from(o);
            if let Some(t) = read_u32(out, o) {
                out[o..o + 4].copy_from_slice(&t.saturating_sub(elapsed).to_be_bytes());
            }
        }
        let opt = client
            .edns_payload
            .map(|_| &opt[usize::from(client.key.dnssec_ok)]);
        let opt_len = opt.map_or(0, |o| o.len());
        if out.len() + opt_len > client.udp_limit() {
            out.truncate(self.question_end);
            out[2] |= 0x02;
            out[6..12].fill(0);
        }
        if let Some(o) = opt {
            out.extend_from_slice(o);
            let ar = u16::from_be_bytes([out[10], out[11]]).saturating_add(1);
            out[10..12].copy_from_slice(&ar.to_be_bytes());
        }
    }
}

fn read_u32(w: &[u8], at: usize) -> Option<u32> {
    let b = w.get(at..at + 4)?;
    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// Copies the letters of `name` over the question name at offset 12 when both spell the same
/// name (the template's question is never compressed: it is the first name of the message).
fn restore_case(out: &mut [u8], name: &Name) {
    let mut pos = HEADER_LEN;
    for label in name.iter() {
        let len = label.len();
        if out.get(pos).map(|&b| usize::from(b)) != Some(len) {
            return;
        }
        let Some(dst) = out.get_mut(pos + 1..pos + 1 + len) else {
            return;
        };
        if !dst.eq_ignore_ascii_case(label) {
            return;
        }
        dst.copy_from_slice(label);
        pos += 1 + len;
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use hickory_proto::rr::rdata::{A, AAAA, CNAME, SOA};

    /// A name as written (case kept, unlike `Name::from_str`).
    pub fn name(s: &str) -> Name {
        Name::from_ascii(s).unwrap()
    }

    pub fn key(n: &str, t: RecordType) -> QKey {
        QKey {
            name: name(n),
            qtype: t,
            qclass: DNSClass::IN,
            dnssec_ok: false,
            checking_disabled: false,
        }
    }

    pub fn soa(zone: &str, ttl: u32, minimum: u32) -> Record {
        Record::from_rdata(
            name(zone),
            ttl,
            RData::SOA(SOA::new(
                name("ns.example."),
                name("host.example."),
                1,
                3600,
                600,
                86400,
                minimum,
            )),
        )
    }

    pub fn a(n: &str, ttl: u32, ip: &str) -> Record {
        Record::from_rdata(name(n), ttl, RData::A(A(ip.parse().unwrap())))
    }
    pub fn aaaa(n: &str, ttl: u32, ip: &str) -> Record {
        Record::from_rdata(name(n), ttl, RData::AAAA(AAAA(ip.parse().unwrap())))
    }
    pub fn cname(n: &str, ttl: u32, target: &str) -> Record {
        Record::from_rdata(name(n), ttl, RData::CNAME(CNAME(name(target))))
    }

    #[test]
    fn chain_follows_cnames_and_drops_unrelated_records() {
        let answers = vec![
            cname("www.example.", 300, "web.example."),
            a("evil.other.", 300, "6.6.6.6"),
            cname("web.example.", 200, "host.example."),
            a("host.example.", 100, "192.0.2.1"),
        ];
        let (chain, last) = answer_chain(&answers, &key("WWW.example.", RecordType::A));
        assert_eq!(chain.len(), 3);
        assert_eq!(last, name("host.example."));
        assert!(!chain.iter().any(|r| r.name == name("evil.other.")));
    }

    #[test]
    fn cname_loop_is_bounded() {
        let answers = vec![
            cname("a.example.", 300, "b.example."),
            cname("b.example.", 300, "a.example."),
        ];
        let (chain, _) = answer_chain(&answers, &key("a.example.", RecordType::A));
        assert!(chain.len() <= MAX_CHAIN);
    }

    #[test]
    fn negative_ttl_is_min_of_soa_ttl_and_minimum() {
        assert_eq!(negative_ttl(&[soa("example.", 3600, 300)]), Some(300));
        assert_eq!(negative_ttl(&[soa("example.", 60, 300)]), Some(60));
        assert_eq!(negative_ttl(&[]), None);
    }

    #[test]
    fn template_serves_with_id_case_ttl_opt_and_tc() {
        let k = key("www.example.", RecordType::A);
        let mut resp = Message::response(7, OpCode::Query);
        resp.add_query(k.query());
        resp.add_answer(a("www.example.", 300, "192.0.2.1"));
        resp.add_additional(a("ns.other.", 300, "192.0.2.9"));
        let clean = sanitize(&resp, &k);
        assert!(clean.additionals.is_empty());
        let mut t = Template::default();
        assert!(t.fill(&clean));
        assert_eq!(t.ttl_offsets.len(), 1);
        assert_eq!(t.min_ttl(), 300);
        let opt = opt_records();
        let mut c = ClientQuery {
            id: 0xbeef,
            recursion_desired: true,
            edns_payload: Some(1232),
            key: key("wWw.ExAmple.", RecordType::A),
        };
        let mut out = Vec::new();
        t.serve(&c, 100, &opt, &mut out);
        let m = Message::from_vec(&out).unwrap();
        assert_eq!(m.metadata.id, 0xbeef);
        assert_eq!(m.answers[0].ttl, 200);
        assert!(m.edns.is_some());
        assert_eq!(m.queries[0].name.to_ascii(), "wWw.ExAmple.");
        // A limit smaller than the answer: header + question with TC.
        c.edns_payload = None;
        let mut big = clean.clone();
        for i in 0..40 {
            big.add_answer(a("www.example.", 300, &format!("192.0.2.{i}")));
        }
        assert!(t.fill(&big));
        t.serve(&c, 0, &opt, &mut out);
        let m = Message::from_vec(&out).unwrap();
        assert!(m.metadata.truncation);
        assert!(m.answers.is_empty());
        assert_eq!(m.queries.len(), 1);
    }

    #[test]
    fn parse_query_rejects_responses_and_opcodes() {
        let mut m = Message::new(5, MessageType::Query, OpCode::Query);
        m.add_query(key("x.example.", RecordType::A).query());
        let mut buf = Vec::new();
        assert!(encode(&m, &mut buf));
        assert!(matches!(parse_query(&buf), ParsedQuery::Query(q) if q.id == 5));
        buf[2] |= 0x80;
        assert_eq!(parse_query(&buf), ParsedQuery::Ignore);
        buf[2] = 0x10; // opcode 2 (status)
        assert!(matches!(
            parse_query(&buf),
            ParsedQuery::Error {
                rcode: ResponseCode::NotImp,
                ..
            }
        ));
        assert_eq!(parse_query(&buf[..5]), ParsedQuery::Ignore);
    }
}
