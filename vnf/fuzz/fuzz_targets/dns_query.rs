//! The DNS proxy's pod side on arbitrary messages.
//!
//! Byte 0: bit 0 = IPv6 pod, bit 1 = the rest is a whole IP packet (not only the DNS message),
//! bits 2-7 = seconds to let pass afterwards (timeouts, SERVFAIL answers). The rest: the DNS
//! message sent to the resolver address on UDP/53 (or the raw packet).
#![no_main]

use egress_vnf_fuzz::dns::Harness;
use egress_vnf_fuzz::udp_packet;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&ctl, msg)) = data.split_first() else {
        return;
    };
    let v6 = ctl & 1 != 0;
    let mut h = Harness::new();
    let pkt = if ctl & 2 != 0 {
        msg.to_vec()
    } else {
        udp_packet(Harness::pod(v6), Harness::resolver(v6), 40000, 53, msg)
    };
    // The same message twice: the second meets the first's pending query or cache entry.
    let _ = h.from_pod(&pkt);
    h.take_checked();
    let _ = h.from_pod(&pkt);
    h.take_checked();
    h.advance(u64::from(ctl >> 2) * 1000);
    h.take_checked();
});
