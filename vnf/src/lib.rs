//! egress-vnf: the packet logic (pure, testable without DPDK) and the data path that drives it.
//!
//! Module map (see DESIGN.md): `frame` (the `Frame` abstraction), `wire` (header views),
//! `datapath` (lcore loop, verdicts, counters), `slowpath` (control socket, stats).

pub mod action;
pub mod datapath;
pub mod dns;
pub mod drop;
pub mod frame;
pub mod mapping;
pub mod nat;
pub mod net;
pub mod slowpath;
pub mod wire;
pub mod xlat;
