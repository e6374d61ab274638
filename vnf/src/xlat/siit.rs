//! The stateless SIIT stage (RFC 7915 with RFC 7757 EAMT and an RFC 6052 pool6): no session,
//! addresses mapped by [`Siit`] in both directions, so any worker can translate any packet.
//!
//! The data path calls [`SiitStage::v4_to_v6`] for IPv4 packets and [`SiitStage::v6_to_v4`]
//! for IPv6 packets that reach the SIIT feature (frame at the IP header):
//! - destination without a mapping: `Pass` (not a SIIT packet);
//! - source without a mapping: `Drop(xlat_no_address_mapping)`, except the source of an ICMP
//!   error, which falls back to the RFC 6791 address (IPv6 -> IPv4) or the configured IPv6
//!   address for untranslatable IPv4 sources;
//! - translated: `Route` (extra fragments of a split packet went to the sink);
//! - the translator's own ICMP error (Fragmentation Needed, Packet Too Big, Parameter Problem,
//!   Source Route Failed): `Reply` with the error built in place from `self_v4` / `self_v6`
//!   (the self IP of the VLAN the packet came in on);
//! - anything else: `Drop` with the reason.
//!
//! No allocation per packet; counters are plain integers ([`SiitCounters`]).

use std::net::{Ipv4Addr, Ipv6Addr};

use super::eamt::{Eamt, EamtEntry, EamtError, Ipv4Prefix, Ipv6Prefix, Siit};
use super::inspect::Transport;
use super::rfc6052::{Rfc6052Error, Rfc6052Prefix};
use super::{
    icmp4_error_in_place, icmp6_error_in_place, inspect_v4_parsed, inspect_v6_parsed,
    ipv4_to_ipv6_parsed, ipv6_to_ipv4, ipv6_to_ipv4_parsed, HeaderChecksum, Inspected, Map46,
    Map64, Rewrite, Xlat, XlatConfig,
};
use crate::action::{FrameAlloc, Outcome, Sink};
use crate::drop::DropReason;
use crate::frame::Frame;

/// Per-worker SIIT counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SiitCounters {
    /// IPv4 packets translated to IPv6.
    pub translated_4to6: u64,
    /// IPv6 packets translated to IPv4.
    pub translated_6to4: u64,
    /// Extra fragments produced by splitting.
    pub fragments_out: u64,
    /// ICMP errors the translator answered with.
    pub icmp_errors: u64,
    /// Packets dropped (the reason is counted by the data path).
    pub dropped: u64,
    /// Packets passed on (destination not mapped).
    pub passed: u64,
}

impl SiitCounters {
    /// `(result, count)` as exported in `egress_siit_packets_total{result}`.
    pub fn results(&self) -> [(&'static str, u64); 6] {
        [
            ("translated_4to6", self.translated_4to6),
            ("translated_6to4", self.translated_6to4),
            ("fragments_out", self.fragments_out),
            ("icmp_error", self.icmp_errors),
            ("dropped", self.dropped),
            ("passed", self.passed),
        ]
    }
}

/// Why a [`SiitStage`] could not be built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SiitError {
    Pool6(Rfc6052Error),
    Eamt(EamtError),
}

impl std::fmt::Display for SiitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SiitError::Pool6(e) => write!(f, "siit.pool6: {e}"),
            SiitError::Eamt(e) => write!(f, "siit.{e}"),
        }
    }
}

impl std::error::Error for SiitError {}

/// The stateless translator of one worker.
#[derive(Debug, Clone)]
pub struct SiitStage {
    cfg: XlatConfig,
    siit: Siit,
    ident: u16,
    counters: SiitCounters,
}

impl SiitStage {
    /// Built at start from the `[siit]` section: `pool6` as (prefix, length), the EAMT as
    /// (IPv4 prefix, length, IPv6 prefix, length) and the RFC 6791 addresses.
    pub fn new(
        cfg: XlatConfig,
        pool6: Option<(Ipv6Addr, u8)>,
        eamt: &[(Ipv4Addr, u8, Ipv6Addr, u8)],
        rfc6791_v4: &[Ipv4Addr],
        rfc6791_v6: Option<Ipv6Addr>,
    ) -> Result<SiitStage, SiitError> {
        let pool6 = match pool6 {
            Some((p, l)) => Some(Rfc6052Prefix::new(p, l).map_err(SiitError::Pool6)?),
            None => None,
        };
        let entries: Vec<EamtEntry> = eamt
            .iter()
            .map(|(a4, l4, a6, l6)| EamtEntry {
                ipv4: Ipv4Prefix {
                    addr: *a4,
                    len: *l4,
                },
                ipv6: Ipv6Prefix {
                    addr: *a6,
                    len: *l6,
                },
            })
            .collect();
        let eamt = Eamt::new(&entries).map_err(SiitError::Eamt)?;
        Ok(SiitStage {
            cfg,
            siit: Siit {
                eamt,
                pool6,
                rfc6791_v4: rfc6791_v4.to_vec(),
                rfc6791_v6,
            },
            ident: 1,
            counters: SiitCounters::default(),
        })
    }

    /// The address mapping.
    pub fn siit(&self) -> &Siit {
        &self.siit
    }

    /// The counters.
    pub fn counters(&self) -> SiitCounters {
        self.counters
    }

    fn drop<F>(&mut self, f: F, r: DropReason) -> Outcome<F> {
        self.counters.dropped += 1;
        Outcome::Drop(f, r)
    }

    /// An IPv4 packet to translate to IPv6 (see the module docs).
    pub fn v4_to_v6<F, A, S>(
        &mut self,
        mut frame: F,
        self_v4: Ipv4Addr,
        alloc: &mut A,
        sink: &mut S,
    ) -> Outcome<F>
    where
        F: Frame,
        A: FrameAlloc<Frame = F>,
        S: Sink<F>,
    {
        let ins = match inspect_v4_parsed(frame.data(), HeaderChecksum::Verify) {
            Ok(i) => i,
            Err(r) => return self.drop(frame, r),
        };
        let info = &ins.info;
        let s = &self.siit;
        let Ok(dst) = s.addr_4to6(info.outer.dst) else {
            self.counters.passed += 1;
            return Outcome::Pass(frame);
        };
        let is_error = matches!(info.outer.transport, Transport::IcmpError { .. });
        let src = if is_error {
            s.icmp_src_4to6(info.outer.src)
        } else {
            s.addr_4to6(info.outer.src)
        };
        let src = match src {
            Ok(a) => a,
            Err(r) => return self.drop(frame, r),
        };
        let inner = match info.inner {
            Some(i) => match (s.addr_4to6(i.src), s.addr_4to6(i.dst)) {
                (Ok(a), Ok(b)) => Some(Rewrite::addrs(a, b)),
                _ => return self.drop(frame, DropReason::XlatNoAddressMapping),
            },
            None => None,
        };
        let map = Map46 {
            outer: Rewrite::addrs(src, dst),
            inner,
        };
        match ipv4_to_ipv6_parsed(&mut frame, &ins, &self.cfg, &map, alloc, sink) {
            Xlat::Translated { fragments } => {
                self.counters.translated_4to6 += 1;
                self.counters.fragments_out += u64::from(fragments);
                Outcome::Route(frame)
            }
            Xlat::Icmp(e) => match icmp4_error_in_place(&mut frame, e, self_v4) {
                Ok(()) => {
                    self.counters.icmp_errors += 1;
                    Outcome::Reply(frame)
                }
                Err(r) => self.drop(frame, r),
            },
            Xlat::Drop(r) => self.drop(frame, r),
        }
    }

    /// An IPv6 packet to translate to IPv4 (see the module docs).
    pub fn v6_to_v4<F, A, S>(
        &mut self,
        mut frame: F,
        self_v6: Ipv6Addr,
        alloc: &mut A,
        sink: &mut S,
    ) -> Outcome<F>
    where
        F: Frame,
        A: FrameAlloc<Frame = F>,
        S: Sink<F>,
    {
        let ins = match inspect_v6_parsed(frame.data()) {
            // A Routing header with Segments Left != 0 still goes to translation, which
            // answers it with a Parameter Problem; it needs the addresses of the header only.
            Ok(i) => Some(i),
            Err(DropReason::XlatMalformed) => None,
            Err(r) => return self.drop(frame, r),
        };
        let (osrc, odst, is_error, inner_flow) = match &ins {
            Some(Inspected { info: i, .. }) => (
                i.outer.src,
                i.outer.dst,
                matches!(i.outer.transport, Transport::IcmpError { .. }),
                i.inner,
            ),
            None => {
                let d = frame.data();
                let (Some(s), Some(t)) = (d.get(8..24), d.get(24..40)) else {
                    return self.drop(frame, DropReason::XlatMalformed);
                };
                let mut a = [0u8; 16];
                let mut b = [0u8; 16];
                a.copy_from_slice(s);
                b.copy_from_slice(t);
                (Ipv6Addr::from(a), Ipv6Addr::from(b), false, None)
            }
        };
        let s = &self.siit;
        let Ok(dst) = s.addr_6to4(&odst) else {
            self.counters.passed += 1;
            return Outcome::Pass(frame);
        };
        let src = if is_error {
            s.icmp_src_6to4(&osrc)
        } else {
            s.addr_6to4(&osrc)
        };
        let src = match src {
            Ok(a) => a,
            Err(r) => return self.drop(frame, r),
        };
        let inner = match inner_flow {
            Some(i) => match (s.addr_6to4(&i.src), s.addr_6to4(&i.dst)) {
                (Ok(a), Ok(b)) => Some(Rewrite::addrs(a, b)),
                _ => return self.drop(frame, DropReason::XlatNoAddressMapping),
            },
            None => None,
        };
        self.ident = self.ident.wrapping_add(1);
        let map = Map64 {
            outer: Rewrite::addrs(src, dst),
            inner,
            ident: self.ident,
        };
        let x = match &ins {
            Some(ins) => ipv6_to_ipv4_parsed(&mut frame, ins, &self.cfg, &map, alloc, sink),
            None => ipv6_to_ipv4(&mut frame, &self.cfg, &map, alloc, sink),
        };
        match x {
            Xlat::Translated { fragments } => {
                self.counters.translated_6to4 += 1;
                self.counters.fragments_out += u64::from(fragments);
                Outcome::Route(frame)
            }
            Xlat::Icmp(e) => match icmp6_error_in_place(&mut frame, e, self_v6) {
                Ok(()) => {
                    self.counters.icmp_errors += 1;
                    Outcome::Reply(frame)
                }
                Err(r) => self.drop(frame, r),
            },
            Xlat::Drop(r) => self.drop(frame, r),
        }
    }
}
