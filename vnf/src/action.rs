//! What a pipeline stage returns, and what it may use to create packets.
//!
//! The protocol modules (`net`, `nat`, `xlat`, `dns`) are pure: they take a packet by value and
//! `now`, and return an [`Outcome`]; the only effects they may have besides changing the packet
//! are allocating a new frame and handing new packets to the data path through a [`Sink`]. This
//! module imports nothing but `frame` and `drop`, so every protocol module can use it.
//!
//! Packet convention for L3 stages: the frame's data starts at the IP header (the data path has
//! removed the Ethernet/802.1Q header and puts the right one back before TX).

use crate::drop::DropReason;
use crate::frame::Frame;

/// The result of one stage for one packet.
#[derive(Debug)]
pub enum Outcome<F> {
    /// Not handled by this stage: the next stage gets the packet unchanged.
    Pass(F),
    /// Handled: route the packet (IP header first) by its destination address.
    Route(F),
    /// Handled: send it back to the host it came from, on the VLAN it came from.
    Reply(F),
    /// Dropped; the data path frees it and counts the reason.
    Drop(F, DropReason),
    /// The stage kept the packet (waiting for a neighbour, a mapping, an upstream answer) and
    /// will hand it back later through its own poll function, or drop it counted.
    Held,
}

impl<F> Outcome<F> {
    /// The stage's verdict name, for tests and debug logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Outcome::Pass(_) => "pass",
            Outcome::Route(_) => "route",
            Outcome::Reply(_) => "reply",
            Outcome::Drop(_, _) => "drop",
            Outcome::Held => "held",
        }
    }

    /// The drop reason, if dropped.
    pub fn drop_reason(&self) -> Option<DropReason> {
        match self {
            Outcome::Drop(_, r) => Some(*r),
            _ => None,
        }
    }

    /// The packet, unless held.
    pub fn into_frame(self) -> Option<F> {
        match self {
            Outcome::Pass(f) | Outcome::Route(f) | Outcome::Reply(f) | Outcome::Drop(f, _) => {
                Some(f)
            }
            Outcome::Held => None,
        }
    }
}

/// Makes new, empty frames (an mbuf from the worker's pool; a `VecFrame` in tests). `None`
/// when the pool is exhausted: the caller counts a drop and goes on.
pub trait FrameAlloc {
    type Frame: Frame;
    fn alloc(&mut self) -> Option<Self::Frame>;
}

/// Where a stage puts packets it creates (ICMP errors, upstream DNS queries, answers to pods,
/// released held packets). Bounded: `route` and `reply` return the packet back when the sink
/// is full, and the stage counts a drop.
pub trait Sink<F> {
    /// An IP packet (header first) to route by its destination address.
    fn route(&mut self, pkt: F) -> Result<(), F>;
}

/// A `Vec`-backed sink and allocator for tests, fuzzing and benchmarks.
#[derive(Debug, Default)]
pub struct TestEnv {
    /// Packets handed to `route`, in order.
    pub routed: Vec<crate::frame::VecFrame>,
    /// Allocations left before `alloc` fails (None = unlimited).
    pub alloc_budget: Option<usize>,
}

impl FrameAlloc for TestEnv {
    type Frame = crate::frame::VecFrame;
    fn alloc(&mut self) -> Option<crate::frame::VecFrame> {
        if let Some(b) = &mut self.alloc_budget {
            if *b == 0 {
                return None;
            }
            *b -= 1;
        }
        Some(crate::frame::VecFrame::new(&[]))
    }
}

impl Sink<crate::frame::VecFrame> for TestEnv {
    fn route(&mut self, pkt: crate::frame::VecFrame) -> Result<(), crate::frame::VecFrame> {
        self.routed.push(pkt);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::VecFrame;

    #[test]
    fn outcome_accessors() {
        let o: Outcome<VecFrame> = Outcome::Drop(VecFrame::new(&[1]), DropReason::Unclassified);
        assert_eq!(o.kind(), "drop");
        assert_eq!(o.drop_reason(), Some(DropReason::Unclassified));
        assert_eq!(o.into_frame().unwrap().data(), &[1]);
        assert!(Outcome::<VecFrame>::Held.into_frame().is_none());
        let mut env = TestEnv {
            alloc_budget: Some(1),
            ..Default::default()
        };
        assert!(env.alloc().is_some());
        assert!(env.alloc().is_none(), "budget exhausted");
        env.route(VecFrame::new(&[2])).unwrap();
        assert_eq!(env.routed.len(), 1);
    }
}
