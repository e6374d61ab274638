//! Burst pre-pass of the session table: before the first packet of a burst runs through the
//! pipeline, the index slot of every packet's session lookup is requested, then the session
//! each slot points to. The cache misses of the 32 lookups then overlap instead of stalling
//! each packet in turn (docs/nat.md, "Session table").

use super::handoff::frame_ip;
use crate::nat::Nat;
use rte::{Burst, BURST_SIZE};

/// Below this many live sessions the table stays in the caches and the pre-pass would cost
/// more (a second look at each header) than it saves.
pub const PREFETCH_MIN_SESSIONS: usize = 1 << 14;

/// Prefetches what the NAT lookups of the frames of `rx` (Ethernet first) will read.
#[inline]
pub fn prefetch_burst(nat: &Nat, rx: &Burst) {
    if nat.table().len() < PREFETCH_MIN_SESSIONS {
        return;
    }
    let mut pending = [None; BURST_SIZE];
    for (i, p) in pending.iter_mut().enumerate() {
        let Some(m) = rx.get(i) else { break };
        *p = frame_ip(m.data()).and_then(|ip| nat.prefetch(ip));
    }
    for &(dir, h) in pending.iter().flatten() {
        nat.prefetch_session(dir, h);
    }
}
