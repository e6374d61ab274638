//! egress-vnf benchmarks.
//!
//! - [`pcap`] writes the classic capture files that DPDK's `net_pcap` replays;
//! - [`gen`] builds the frames of each path's input;
//! - [`paths`] lists the paths: generator, VNF configuration, sessions;
//! - [`testpmd`] and [`vnf`] run and parse the two sides of a measurement;
//! - [`control`] reads the VNF's counters over its control socket;
//! - [`proc`], [`sys`] and [`report`] handle processes, machine facts and results.
//!
//! The runner is `src/bin/bench.rs` (`make bench`); see `perf/README.md`.

pub mod control;
pub mod gen;
pub mod paths;
pub mod pcap;
pub mod proc;
pub mod report;
pub mod sys;
pub mod testpmd;
pub mod vnf;
