//! The egress pipeline: one pass per packet, top to bottom (docs/datapath.md).
//!
//! ```text
//!  1. L2 + VLAN (+ ARP)      net.l2_input       -> IP packet at L3 and where it came from
//!  2. for us (echo, NDP)     net.local_input    -> Reply / Pass
//!  3. TTL check              net.ttl_check      -> Time Exceeded / Pass
//!  4. features               features.run       -> dns, nat46/nat64, snat (features.rs)
//!  5. forward                net.forward        -> route + neighbour + L2 header of the output VLAN
//!  6. TX                     io.send            -> per-port buffer
//! ```
//!
//! Every stage takes the packet by value and returns an `Outcome`; [`Egress::settle`] applies
//! the outcomes that end the pass (reply, route, drop, held) the same way for every stage.

use super::features::Features;
use super::io::WorkerIo;
use crate::action::Outcome;
use crate::drop::DropReason;
use crate::net::{Forward, L2Input, Net, NetIo, RxMeta};
use rte::{Burst, Mbuf};

/// The per-worker state of egress mode: one field per protocol module.
pub struct Egress {
    pub net: Net<Mbuf>,
    /// DNS, NAT46/NAT64 and SNAT (None: nothing but the network layer is configured).
    pub features: Option<Features>,
}

impl Egress {
    /// One packet received on `port`, to completion.
    #[inline]
    pub fn process(&mut self, mut m: Mbuf, port: u16, now: u64, io: &mut WorkerIo<'_>) {
        if !m.is_contiguous() && m.linearize().is_err() {
            return io.discard(m, DropReason::Segmented);
        }

        // 1. L2 + VLAN; ARP is answered or learned here.
        let (pkt, meta) = match self.net.l2_input(m, port, now, io) {
            L2Input::Ip(pkt, meta) => (pkt, meta),
            L2Input::Reply(frame) => return io.send(port, frame),
            L2Input::Done => return,
            L2Input::Drop(frame, reason) => return io.discard(frame, reason),
        };

        // 2. For us: ICMP/ICMPv6 echo to a self IP, Neighbor Discovery.
        let pkt = match self.net.local_input(pkt, &meta, now, io) {
            Outcome::Pass(pkt) => pkt,
            done => return self.settle(done, &meta, now, io),
        };

        // 3. TTL / hop limit: Time Exceeded before any translation.
        let pkt = match self.net.ttl_check(pkt, &meta, now, io) {
            Outcome::Pass(pkt) => pkt,
            done => return self.settle(done, &meta, now, io),
        };

        // 4. Features: the first that does not pass decides.
        let outcome = self.features(pkt, &meta, now, io);

        // 5. + 6. Route, resolve, encapsulate, transmit (or reply / drop / held).
        self.settle(outcome, &meta, now, io);

        // Packets the stages created on the way (DNS queries and answers, ICMP errors).
        self.route_created(now, io);
    }

    /// Routes the packets the stages created (IP header first).
    #[inline]
    pub fn route_created(&mut self, now: u64, io: &mut WorkerIo<'_>) {
        let Some(f) = self.features.as_mut() else {
            return;
        };
        if f.env.routed.0.is_empty() {
            return;
        }
        let mut q = Burst::new();
        f.drain_routed(&mut q);
        for pkt in q.drain() {
            // Originated here (DNS queries and answers, ICMP errors, fragments whose hop limit
            // the translator already set): no TTL decrement.
            self.route_local(pkt, now, io);
        }
    }

    /// Stage 5 for a packet the VNF originates.
    #[inline]
    fn route_local(&mut self, pkt: Mbuf, now: u64, io: &mut WorkerIo<'_>) {
        match self.net.forward_local(pkt, now, io) {
            Forward::Tx(port, frame) => io.send(port, frame),
            Forward::Held => {}
            Forward::Drop(pkt, reason) => io.discard(pkt, reason),
        }
    }

    /// Stage 5 for one packet: route, resolve, encapsulate, transmit.
    #[inline]
    fn route(&mut self, pkt: Mbuf, now: u64, io: &mut WorkerIo<'_>) {
        match self.net.forward(pkt, now, io) {
            Forward::Tx(port, frame) => io.send(port, frame),
            Forward::Held => {}
            Forward::Drop(pkt, reason) => io.discard(pkt, reason),
        }
    }

    /// Timers of the features and the packets they release (held for a mapping): replies
    /// among them are routed too (they are addressed to the sender). `tick`: the millisecond
    /// clock moved since the last call, so the timer walks are due ([`Features::poll`]).
    pub fn poll_features(&mut self, now: u64, tick: bool, io: &mut WorkerIo<'_>) {
        let Some(f) = self.features.as_mut() else {
            return;
        };
        f.poll(now, tick);
        let mut released = f.released_buf();
        for o in released.drain(..) {
            match o {
                Outcome::Route(pkt) | Outcome::Reply(pkt) => self.route(pkt, now, io),
                Outcome::Drop(pkt, reason) => io.discard(pkt, reason),
                Outcome::Pass(pkt) => io.discard(pkt, DropReason::Unclassified),
                Outcome::Held => {}
            }
        }
        if let Some(f) = self.features.as_mut() {
            f.return_released_buf(released);
        }
        self.route_created(now, io);
    }

    /// Stage 4, the hook of the protocol modules. Each feature has the shape
    /// `fn(&mut self, pkt: Mbuf, meta: &RxMeta, now: u64, io: &mut WorkerIo<'_>) -> Outcome<Mbuf>`
    /// (the packet at L3; `meta.vlan` says internal or external; `io` allocates frames and
    /// sends complete ones) and is called as:
    ///
    /// ```text
    /// internal VLAN:  let pkt = match self.dns.from_pod(pkt, meta, now, io)      { Outcome::Pass(p) => p, o => return o };
    ///                 let pkt = match self.nat.in2out(pkt, meta, now, io)        { Outcome::Pass(p) => p, o => return o };
    /// external VLAN:  let pkt = match self.dns.from_upstream(pkt, meta, now, io) { Outcome::Pass(p) => p, o => return o };
    ///                 let pkt = match self.nat.out2in(pkt, meta, now, io)        { Outcome::Pass(p) => p, o => return o };
    /// ```
    ///
    /// `Route(pkt)` goes to stage 5 (TTL decremented there, once), `Reply(pkt)` back to the
    /// sender. Nothing matched: the gateway does not route unknown traffic.
    #[inline]
    fn features(
        &mut self,
        pkt: Mbuf,
        meta: &RxMeta,
        now: u64,
        _io: &mut WorkerIo<'_>,
    ) -> Outcome<Mbuf> {
        match self.features.as_mut() {
            Some(f) => f.run(pkt, meta, now),
            None => Outcome::Drop(pkt, DropReason::Unclassified),
        }
    }

    /// Ends the pass of a packet a stage did not pass on.
    #[inline]
    fn settle(&mut self, outcome: Outcome<Mbuf>, meta: &RxMeta, now: u64, io: &mut WorkerIo<'_>) {
        match outcome {
            // 5. Forward: route + neighbour + L2 header; 6. TX.
            Outcome::Route(pkt) => self.route(pkt, now, io),
            // Back to the sender, out of the input port.
            Outcome::Reply(pkt) => match self.net.encap_reply(pkt, meta) {
                Ok((port, frame)) => io.send(port, frame),
                Err((pkt, reason)) => io.discard(pkt, reason),
            },
            Outcome::Drop(pkt, reason) => io.discard(pkt, reason),
            Outcome::Held => {}
            // A stage that passes at the end of the pipeline: nothing claimed the packet.
            Outcome::Pass(pkt) => io.discard(pkt, DropReason::Unclassified),
        }
    }
}
