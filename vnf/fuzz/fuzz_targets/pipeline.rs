//! The whole per-packet pipeline on arbitrary frames arriving on either VLAN (record format:
//! `egress_vnf_fuzz::records`). Aborts on a panic or a lost mbuf.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    egress_vnf_fuzz::pipeline::run(data);
});
