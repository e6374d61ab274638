//! The DNS proxy's upstream side on arbitrary replies to a real outstanding query.
//!
//! Byte 0: bit 0 = the pod asks AAAA (else A: DNS46 when the answer has no A), bit 1 = IPv6
//! pod, bit 2 = graft: keep the query's question (the reply passes the question check and its
//! records are parsed), bit 3 = the name is under `corp.example` (IPv6 upstream). The rest: the
//! reply message; its ID is set to the query's.
#![no_main]

use egress_vnf_fuzz::dns::{reply_packet, Harness};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&ctl, body)) = data.split_first() else {
        return;
    };
    let qtype = if ctl & 1 != 0 { 28 } else { 1 };
    let name = if ctl & 8 != 0 {
        "db.corp.example"
    } else {
        "www.example.com"
    };
    let mut h = Harness::new();
    let Some((server, port, id, query)) = h.query_upstream(ctl & 2 != 0, name, qtype) else {
        panic!("a valid pod query produced no upstream query");
    };
    let mut msg = Vec::with_capacity(body.len() + query.len());
    if ctl & 4 != 0 {
        // Header from the input (QDCOUNT 1), the query's question, then the input's records.
        let mut hdr = [0u8; 12];
        let n = body.len().min(12);
        hdr[..n].copy_from_slice(&body[..n]);
        hdr[4..6].copy_from_slice(&[0, 1]);
        msg.extend_from_slice(&hdr);
        let qlen = query.len().saturating_sub(12);
        // The question of our query (no EDNS OPT: it is in the additional section).
        let qend = 12 + question_len(&query[12..]).unwrap_or(qlen);
        msg.extend_from_slice(&query[12..qend.min(query.len())]);
        msg.extend_from_slice(body.get(12..).unwrap_or(&[]));
    } else {
        msg.extend_from_slice(body);
    }
    if msg.len() >= 2 {
        msg[..2].copy_from_slice(&id.to_be_bytes());
    }
    let _ = h.from_upstream(&reply_packet(server, port, &msg));
    h.take_checked();
    // A duplicate (must be refused) and the timers.
    let _ = h.from_upstream(&reply_packet(server, port, &msg));
    h.take_checked();
    h.advance(100);
    h.take_checked();
    h.advance(3000);
    h.take_checked();
});

/// Length of one question (name + type + class) at the start of `q`.
fn question_len(q: &[u8]) -> Option<usize> {
    let mut i = 0;
    loop {
        let l = usize::from(*q.get(i)?);
        i += 1;
        if l == 0 {
            break;
        }
        i += l;
    }
    Some(i + 4)
}
