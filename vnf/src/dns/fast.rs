//! The cache-hit fast path: a plain query read straight from the wire, and the cache key in
//! wire form with its keyed hash.
//!
//! This is not a DNS codec. [`parse`] reads only the header, the one question and, if
//! present, a single OPT record, and accepts only the common shape of a stub resolver's
//! query: QR clear, opcode QUERY, QDCOUNT 1, ANCOUNT and NSCOUNT 0, ARCOUNT 0 or 1; a question
//! name made of labels of 1 to 63 bytes ending at the root, at most 255 bytes in wire form, no
//! compression pointer; the one additional record, if any, an OPT record owned by the root
//! whose RDATA (EDNS options, ignored as the hickory path ignores them) ends exactly at the
//! end of the message. Anything else, and any bounds failure, gives `None`: the query then
//! goes through the hickory-proto path ([`super::message::parse_query`]), which answers it,
//! or counts and drops it, as it always did. `parse` never panics and never allocates.
//!
//! A query the fast path accepts is one the hickory path parses into the same
//! [`super::message::ClientQuery`]: the key built here ([`WireKey`]) is equal for two queries
//! exactly when their `QKey`s are equal (hickory compares names ASCII-case-insensitively and
//! maps QTYPE/QCLASS to and from `u16` without loss), so a fast-path hit finds the entry the
//! hickory path would have found, and the answer written from it is the same bytes.

use super::message::{QKey, HEADER_LEN};
use hickory_proto::rr::RecordType;

/// Longest wire-form name (RFC 1035 section 3.1, as hickory-proto enforces it).
pub const NAME_MAX: usize = 255;
/// Bytes of a key before the name: flags, QTYPE, QCLASS.
pub const KEY_PREFIX: usize = 5;
/// Longest key.
pub const KEY_MAX: usize = KEY_PREFIX + NAME_MAX;

const FLAG_FQDN: u8 = 0x01;
const FLAG_DO: u8 = 0x02;
const FLAG_CD: u8 = 0x04;

/// A cache key: one flags byte (fully qualified, DO, CD), QTYPE and QCLASS (big-endian), then
/// the name in wire form, ASCII lower-cased (the root label included for a fully qualified
/// name). Fixed-size, so building one does not allocate.
#[derive(Clone)]
pub struct WireKey {
    buf: [u8; KEY_MAX],
    len: usize,
}

impl Default for WireKey {
    fn default() -> Self {
        WireKey {
            buf: [0; KEY_MAX],
            len: 0,
        }
    }
}

impl std::fmt::Debug for WireKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("WireKey").field(&self.as_bytes()).finish()
    }
}

impl WireKey {
    /// The key bytes.
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or(&[])
    }

    /// Sets the key of `k` (the hickory path's key). False if the name does not fit (hickory
    /// names never exceed 255 bytes, so only a hand-made `QKey` could).
    pub fn set_from(&mut self, k: &QKey) -> bool {
        let flags = if k.name.is_fqdn() { FLAG_FQDN } else { 0 }
            | if k.dnssec_ok { FLAG_DO } else { 0 }
            | if k.checking_disabled { FLAG_CD } else { 0 };
        self.buf[0] = flags;
        self.buf[1..3].copy_from_slice(&u16::from(k.qtype).to_be_bytes());
        self.buf[3..5].copy_from_slice(&u16::from(k.qclass).to_be_bytes());
        let mut n = KEY_PREFIX;
        for label in k.name.iter() {
            let Some(dst) = self.buf.get_mut(n..n + 1 + label.len()) else {
                self.len = 0;
                return false;
            };
            dst[0] = label.len() as u8;
            for (d, s) in dst[1..].iter_mut().zip(label) {
                *d = s.to_ascii_lowercase();
            }
            n += 1 + label.len();
        }
        if k.name.is_fqdn() {
            let Some(b) = self.buf.get_mut(n) else {
                self.len = 0;
                return false;
            };
            *b = 0;
            n += 1;
        }
        self.len = n;
        true
    }

    /// The key of `k`, if its name fits.
    pub fn of(k: &QKey) -> Option<WireKey> {
        let mut w = WireKey::default();
        w.set_from(k).then_some(w)
    }

    /// QTYPE of the key.
    pub fn qtype(&self) -> RecordType {
        RecordType::from(u16::from_be_bytes([self.buf[1], self.buf[2]]))
    }
}

/// What the answer needs of a query read by [`parse`]; the key is written into the caller's
/// [`WireKey`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FastQuery {
    pub id: u16,
    pub recursion_desired: bool,
    /// The client's EDNS UDP payload size, if it sent an OPT record.
    pub edns_payload: Option<u16>,
    pub dnssec_ok: bool,
    /// Length of the question (name, QTYPE, QCLASS); it starts right after the header.
    pub question_len: usize,
}

impl FastQuery {
    /// Largest answer the client accepts over UDP (as [`super::message::ClientQuery`]).
    #[inline]
    pub fn udp_limit(&self) -> usize {
        usize::from(self.edns_payload.map_or(512, |p| p.max(512)))
    }
}

#[inline]
fn be16(p: &[u8], at: usize) -> Option<u16> {
    let b = p.get(at..at + 2)?;
    Some(u16::from_be_bytes([b[0], b[1]]))
}

/// Reads a plain query (see the module docs) and writes its cache key into `key`; `None` for
/// anything else (the caller falls back to the hickory path).
pub fn parse(p: &[u8], key: &mut WireKey) -> Option<FastQuery> {
    let hdr = p.get(..HEADER_LEN)?;
    // QR clear, opcode QUERY (0); AA, TC and Z are ignored as by the hickory path.
    if hdr[2] & 0xf8 != 0 {
        return None;
    }
    // QDCOUNT 1, ANCOUNT 0, NSCOUNT 0, ARCOUNT 0 or 1.
    if hdr[4..10] != [0, 1, 0, 0, 0, 0] || hdr[10] != 0 || hdr[11] > 1 {
        return None;
    }
    let additional = hdr[11] == 1;
    // The name, lower-cased into the key after the 5-byte prefix.
    let mut at = HEADER_LEN;
    let mut k = KEY_PREFIX;
    loop {
        let len = usize::from(*p.get(at)?);
        if len == 0 {
            *key.buf.get_mut(k)? = 0;
            k += 1;
            at += 1;
            break;
        }
        // 0xC0: a compression pointer; 0x40/0x80: reserved label types; or over 63 bytes.
        if len > 63 {
            return None;
        }
        let label = p.get(at + 1..at + 1 + len)?;
        // The name in wire form, root included, stays within 255 bytes.
        if k - KEY_PREFIX + 1 + len + 1 > NAME_MAX {
            return None;
        }
        let dst = key.buf.get_mut(k..k + 1 + len)?;
        dst[0] = len as u8;
        for (d, s) in dst[1..].iter_mut().zip(label) {
            *d = s.to_ascii_lowercase();
        }
        k += 1 + len;
        at += 1 + len;
    }
    let fixed = p.get(at..at + 4)?;
    key.buf[1..5].copy_from_slice(fixed);
    at += 4;
    let question_len = at - HEADER_LEN;
    let mut edns_payload = None;
    let mut dnssec_ok = false;
    if additional {
        // OPT: root owner, TYPE 41, CLASS = payload size, TTL = ext-RCODE, version, flags
        // (DO is the top bit of the flags), RDLENGTH, options.
        if *p.get(at)? != 0 || be16(p, at + 1)? != u16::from(RecordType::OPT) {
            return None;
        }
        edns_payload = Some(be16(p, at + 3)?);
        dnssec_ok = *p.get(at + 7)? & 0x80 != 0;
        let rdlen = usize::from(be16(p, at + 9)?);
        at += 11 + rdlen;
    }
    // Trailing bytes (or RDATA running past the end): not the plain shape.
    if at != p.len() {
        return None;
    }
    let cd = hdr[3] & 0x10 != 0;
    key.buf[0] = FLAG_FQDN | if dnssec_ok { FLAG_DO } else { 0 } | if cd { FLAG_CD } else { 0 };
    key.len = k;
    Some(FastQuery {
        id: u16::from_be_bytes([hdr[0], hdr[1]]),
        recursion_desired: hdr[2] & 0x01 != 0,
        edns_payload,
        dnssec_ok,
        question_len,
    })
}

/// The keyed hash of cache keys: a folded 64 x 64 -> 128-bit multiply over 16-byte blocks with
/// four secret words drawn at start. Not cryptographic; the secret keeps a client from
/// choosing names that collide, and the table's probe length is bounded by its size anyway.
#[derive(Debug, Clone, Copy)]
pub struct KeyHasher {
    seed: [u64; 4],
}

#[inline]
fn fold_mul(a: u64, b: u64) -> u64 {
    let p = u128::from(a) * u128::from(b);
    (p as u64) ^ ((p >> 64) as u64)
}

#[inline]
fn le64(b: &[u8]) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[..8]);
    u64::from_le_bytes(w)
}

impl KeyHasher {
    /// A hasher with secret `seed`.
    pub fn new(seed: [u64; 4]) -> KeyHasher {
        // Fixed words mixed in so an all-zero seed still gives distinct secrets.
        const K: [u64; 4] = [
            0x243f_6a88_85a3_08d3,
            0x1319_8a2e_0370_7344,
            0xa409_3822_299f_31d0,
            0x082e_fa98_ec4e_6c89,
        ];
        KeyHasher {
            seed: [
                seed[0] ^ K[0],
                seed[1] ^ K[1],
                seed[2] ^ K[2],
                seed[3] ^ K[3],
            ],
        }
    }

    /// The hash of `key`.
    #[inline]
    pub fn hash(&self, key: &[u8]) -> u64 {
        let [s0, s1, s2, s3] = self.seed;
        let mut h = s0 ^ (key.len() as u64);
        let mut blocks = key.chunks_exact(16);
        for b in &mut blocks {
            h = fold_mul(le64(&b[..8]) ^ s1 ^ h, le64(&b[8..]) ^ s2);
        }
        let rest = blocks.remainder();
        if !rest.is_empty() {
            let mut b = [0u8; 16];
            b[..rest.len()].copy_from_slice(rest);
            h = fold_mul(le64(&b[..8]) ^ s1 ^ h, le64(&b[8..]) ^ s2);
        }
        fold_mul(h ^ s3, 0x9e37_79b9_7f4a_7c15)
    }
}

#[cfg(test)]
mod tests {
    use super::super::message::{encode, parse_query, ParsedQuery};
    use super::*;
    use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query};
    use hickory_proto::rr::rdata::opt::{EdnsCode, EdnsOption};
    use hickory_proto::rr::{DNSClass, Name};
    use proptest::prelude::*;

    /// A query as hickory-proto encodes it.
    fn hq(n: &str, t: RecordType, edns: Option<(u16, bool)>, cookie: bool, cd: bool) -> Vec<u8> {
        let mut m = Message::new(0xabcd, MessageType::Query, OpCode::Query);
        m.metadata.recursion_desired = true;
        m.metadata.checking_disabled = cd;
        m.add_query(Query::query(Name::from_ascii(n).unwrap(), t));
        if let Some((payload, dnssec_ok)) = edns {
            let mut e = Edns::new();
            e.set_max_payload(payload);
            e.set_dnssec_ok(dnssec_ok);
            if cookie {
                e.options_mut().insert(EdnsOption::Unknown(
                    u16::from(EdnsCode::Cookie),
                    vec![0x5a; 8],
                ));
            }
            m.set_edns(e);
        }
        let mut buf = Vec::new();
        assert!(encode(&m, &mut buf));
        buf
    }

    /// The fast path read `p` as the hickory path does: same ID, RD, EDNS size, DO, and a
    /// key equal to the wire form of the hickory key.
    fn agrees(p: &[u8]) -> Result<(), String> {
        let mut k = WireKey::default();
        let Some(f) = parse(p, &mut k) else {
            return Ok(());
        };
        let ParsedQuery::Query(q) = parse_query(p) else {
            return Err(format!("fast path accepted what hickory rejects: {p:02x?}"));
        };
        let want = WireKey::of(&q.key).ok_or("key too long")?;
        if f.id != q.id
            || f.recursion_desired != q.recursion_desired
            || f.edns_payload != q.edns_payload
            || f.dnssec_ok != q.key.dnssec_ok
            || k.as_bytes() != want.as_bytes()
        {
            return Err(format!("{f:?} / {k:?} differ from {q:?} for {p:02x?}"));
        }
        Ok(())
    }

    #[test]
    fn plain_edns_and_cookie_queries_read_like_the_hickory_path() {
        // (query, length of its OPT record: 11 bytes, plus 4 + 8 for the cookie option)
        let cases = [
            (hq("WwW.Example.COM.", RecordType::A, None, false, false), 0),
            (
                hq("a.b.", RecordType::AAAA, Some((1232, false)), false, false),
                11,
            ),
            (
                hq(
                    "_srv._tcp.x.",
                    RecordType::SRV,
                    Some((4096, true)),
                    true,
                    true,
                ),
                23,
            ),
            (
                hq(".", RecordType::NS, Some((100, false)), false, false),
                11,
            ),
        ];
        for (p, opt) in &cases {
            let mut k = WireKey::default();
            let f = parse(p, &mut k).expect("the plain shape");
            assert_eq!(HEADER_LEN + f.question_len + opt, p.len());
            agrees(p).unwrap();
        }
        let cases: Vec<Vec<u8>> = cases.into_iter().map(|(p, _)| p).collect();
        let mut k = WireKey::default();
        let f = parse(&cases[0], &mut k).unwrap();
        assert_eq!(f.question_len, "WwW.Example.COM.".len() + 1 + 4);
        assert_eq!(&k.as_bytes()[5..], b"\x03www\x07example\x03com\x00");
        assert_eq!(k.as_bytes()[..5], [FLAG_FQDN, 0, 1, 0, 1]);
        assert_eq!(k.qtype(), RecordType::A);
        let f = parse(&cases[2], &mut k).unwrap();
        assert_eq!((f.edns_payload, f.dnssec_ok), (Some(4096), true));
        assert_eq!(k.as_bytes()[0], FLAG_FQDN | FLAG_DO | FLAG_CD);
    }

    /// A valid plain query for `x.example.` A with the header fields given.
    fn raw(flags: [u8; 2], counts: [u16; 4], body: &[u8]) -> Vec<u8> {
        let mut v = vec![0x12, 0x34, flags[0], flags[1]];
        for c in counts {
            v.extend_from_slice(&c.to_be_bytes());
        }
        v.extend_from_slice(body);
        v
    }

    const Q: &[u8] = b"\x01x\x07example\x00\x00\x01\x00\x01";
    /// OPT: root, type 41, payload 1232, TTL 0, RDLENGTH 0.
    const OPT: &[u8] = &[0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0];

    #[test]
    fn each_unusual_shape_falls_back() {
        let mut long = Vec::new();
        for _ in 0..4 {
            long.push(63);
            long.extend_from_slice(&[b'a'; 63]);
        }
        // 4 x 64 + root = 257 bytes.
        long.extend_from_slice(&[0, 0, 1, 0, 1]);
        let mut label64 = vec![64];
        label64.extend_from_slice(&[b'a'; 64]);
        label64.extend_from_slice(&[0, 0, 1, 0, 1]);
        let with = |extra: &[u8]| [Q, extra].concat();
        let mut opt_owner = with(&[1, b'o']);
        opt_owner.extend_from_slice(OPT);
        let mut opt_long_rd = with(OPT);
        let n = opt_long_rd.len();
        opt_long_rd[n - 1] = 4; // RDLENGTH 4, no RDATA
        let tsig = with(&[0, 0, 250, 0, 255, 0, 0, 0, 0, 0, 0]);
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("qdcount 0", raw([1, 0], [0, 0, 0, 0], &[])),
            ("qdcount 2", raw([1, 0], [2, 0, 0, 0], &[Q, Q].concat())),
            ("ancount 1", raw([1, 0], [1, 1, 0, 0], Q)),
            ("nscount 1", raw([1, 0], [1, 0, 1, 0], Q)),
            (
                "arcount 2",
                raw([1, 0], [1, 0, 0, 2], &with(&[OPT, OPT].concat())),
            ),
            ("arcount 256", raw([1, 0], [1, 0, 0, 256], Q)),
            ("opcode STATUS", raw([0x11, 0], [1, 0, 0, 0], Q)),
            ("opcode UPDATE", raw([0x29, 0], [1, 0, 0, 0], Q)),
            ("a response", raw([0x81, 0], [1, 0, 0, 0], Q)),
            (
                "pointer",
                raw([1, 0], [1, 0, 0, 0], &[0xc0, 12, 0, 1, 0, 1]),
            ),
            (
                "pointer after a label",
                raw([1, 0], [1, 0, 0, 0], &[1, b'x', 0xc0, 4, 0, 1, 0, 1]),
            ),
            (
                "label type 0x40",
                raw([1, 0], [1, 0, 0, 0], &[0x41, b'x', 0, 0, 1, 0, 1]),
            ),
            (
                "label type 0x80",
                raw([1, 0], [1, 0, 0, 0], &[0x81, b'x', 0, 0, 1, 0, 1]),
            ),
            ("label > 63", raw([1, 0], [1, 0, 0, 0], &label64)),
            ("name > 255", raw([1, 0], [1, 0, 0, 0], &long)),
            ("trailing byte", raw([1, 0], [1, 0, 0, 0], &with(&[0]))),
            ("opt owner not root", raw([1, 0], [1, 0, 0, 1], &opt_owner)),
            (
                "opt rdata past end",
                raw([1, 0], [1, 0, 0, 1], &opt_long_rd),
            ),
            ("additional not OPT", raw([1, 0], [1, 0, 0, 1], &tsig)),
            ("arcount 1, no record", raw([1, 0], [1, 0, 0, 1], Q)),
            ("header only", raw([1, 0], [1, 0, 0, 0], &[])),
            ("short header", vec![0x12, 0x34, 1, 0, 0, 1]),
            ("empty", vec![]),
        ];
        let mut k = WireKey::default();
        for (what, p) in &cases {
            assert!(parse(p, &mut k).is_none(), "{what}: not the plain shape");
        }
        // Every strict prefix of a plain query (truncated question or OPT) falls back too.
        let full = raw([1, 0], [1, 0, 0, 1], &with(OPT));
        assert!(parse(&full, &mut k).is_some());
        for n in 0..full.len() {
            assert!(parse(&full[..n], &mut k).is_none(), "prefix of {n} bytes");
        }
        // The longest name that fits: 3 x 64 + 62 + root = 255 bytes.
        let mut max = Vec::new();
        for _ in 0..3 {
            max.push(63);
            max.extend_from_slice(&[b'A'; 63]);
        }
        max.push(61);
        max.extend_from_slice(&[b'b'; 61]);
        max.extend_from_slice(&[0, 0, 1, 0, 1]);
        let p = raw([1, 0], [1, 0, 0, 0], &max);
        let f = parse(&p, &mut k).expect("255 bytes is allowed");
        assert_eq!(f.question_len, 255 + 4);
        agrees(&p).unwrap();
    }

    #[test]
    fn keyed_hash_depends_on_key_and_secret() {
        let a = KeyHasher::new([1, 2, 3, 4]);
        let b = KeyHasher::new([1, 2, 3, 5]);
        let k1 = b"\x01\x00\x01\x00\x01\x03www\x07example\x00";
        let k2 = b"\x01\x00\x01\x00\x01\x03wwx\x07example\x00";
        assert_eq!(a.hash(k1), a.hash(k1));
        assert_ne!(a.hash(k1), a.hash(k2));
        assert_ne!(a.hash(k1), b.hash(k1));
        // Zero padding of the last block does not make keys of different lengths collide.
        assert_ne!(a.hash(&[1, 2, 3]), a.hash(&[1, 2, 3, 0]));
    }

    fn build(
        id: u16,
        flags: [u8; 2],
        labels: &[Vec<u8>],
        qtype: u16,
        qclass: u16,
        opt: Option<(u16, u32, Vec<u8>)>,
    ) -> Vec<u8> {
        let mut body = Vec::new();
        for l in labels {
            body.push(l.len() as u8);
            body.extend_from_slice(l);
        }
        body.push(0);
        body.extend_from_slice(&qtype.to_be_bytes());
        body.extend_from_slice(&qclass.to_be_bytes());
        let ar = u16::from(opt.is_some());
        if let Some((payload, ttl, rdata)) = opt {
            body.extend_from_slice(&[0, 0, 41]);
            body.extend_from_slice(&payload.to_be_bytes());
            body.extend_from_slice(&ttl.to_be_bytes());
            body.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
            body.extend_from_slice(&rdata);
        }
        let mut p = raw(flags, [1, 0, 0, ar], &body);
        p[0..2].copy_from_slice(&id.to_be_bytes());
        p
    }

    fn label() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            proptest::collection::vec(
                prop_oneof![Just(b'a'), Just(b'Z'), Just(b'-'), Just(b'0'), Just(b'q')],
                1..12
            ),
            proptest::collection::vec(any::<u8>(), 1..64),
        ]
    }

    proptest! {
        /// Any query of the plain shape, with any bytes in its labels, any type and class,
        /// any header bits the fast path ignores, and any OPT record: read alike by both.
        #[test]
        fn plain_queries_read_like_the_hickory_path(
            id in any::<u16>(),
            f2 in any::<u8>(),
            f3 in any::<u8>(),
            labels in proptest::collection::vec(label(), 0..6),
            qtype in any::<u16>(),
            qclass in prop_oneof![Just(1u16), any::<u16>()],
            opt in proptest::option::of((any::<u16>(), any::<u32>(), proptest::collection::vec(any::<u8>(), 0..12))),
        ) {
            let p = build(id, [f2 & 0x07, f3], &labels, qtype, qclass, opt);
            let wire_len: usize = labels.iter().map(|l| l.len() + 1).sum::<usize>() + 1;
            let mut k = WireKey::default();
            prop_assert_eq!(parse(&p, &mut k).is_some(), wire_len <= NAME_MAX);
            prop_assert!(agrees(&p).is_ok(), "{:?}", agrees(&p));
        }

        /// Mutated and truncated queries: never a panic, and whatever the fast path accepts,
        /// the hickory path reads the same way.
        #[test]
        fn mutated_queries_never_panic_and_agree(
            labels in proptest::collection::vec(label(), 1..4),
            edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..4),
            cut in any::<usize>(),
            edns in any::<bool>(),
        ) {
            let opt = edns.then(|| (1232u16, 0x8000u32, vec![0, 10, 0, 2, 1, 2]));
            let mut p = build(7, [1, 0], &labels, 1, 1, opt);
            for (at, b) in edits {
                let i = at % p.len();
                p[i] = b;
            }
            let n = p.len();
            p.truncate(n - cut % 3.min(n));
            prop_assert!(agrees(&p).is_ok(), "{:?}", agrees(&p));
        }

        #[test]
        fn random_bytes_never_panic(p in proptest::collection::vec(any::<u8>(), 0..300)) {
            let mut k = WireKey::default();
            let _ = parse(&p, &mut k);
            prop_assert!(agrees(&p).is_ok());
        }

        /// Two keys are equal exactly when the hickory keys are.
        #[test]
        fn wire_keys_equal_exactly_when_qkeys_are(
            a in proptest::collection::vec(label(), 1..4),
            b in proptest::collection::vec(label(), 1..4),
            upper in any::<bool>(),
            t in prop_oneof![Just(RecordType::A), Just(RecordType::AAAA)],
            dnssec_ok in any::<bool>(),
            checking_disabled in any::<bool>(),
        ) {
            let name = |ls: &[Vec<u8>], up: bool| {
                let mut n = Name::root();
                for l in ls.iter().rev() {
                    let l: Vec<u8> = l.iter().map(|c| if up { c.to_ascii_uppercase() } else { *c }).collect();
                    n = Name::from_labels(std::iter::once(l.as_slice())).unwrap().append_name(&n).unwrap();
                }
                n
            };
            let ka = QKey { name: name(&a, false), qtype: t, qclass: DNSClass::IN, dnssec_ok, checking_disabled };
            let mut kb = ka.clone();
            kb.name = name(&b, false);
            let mut kc = ka.clone();
            kc.name = name(&a, upper);
            let (wa, wb, wc) = (WireKey::of(&ka).unwrap(), WireKey::of(&kb).unwrap(), WireKey::of(&kc).unwrap());
            prop_assert_eq!(ka == kb, wa.as_bytes() == wb.as_bytes());
            prop_assert_eq!(ka == kc, wa.as_bytes() == wc.as_bytes());
            prop_assert!(wa.as_bytes() == wc.as_bytes());
        }
    }
}
