//! The safe layer over DPDK used by egress-vnf.
//!
//! Every `unsafe` block of the project lives in `ffi/` (here and in `dpdk-sys`), each with a
//! `// SAFETY:` line. Handles ([`Mempool`], [`Port`], [`Ring`]) are plain values that stay valid
//! for the life of the [`Eal`]: the EAL is initialised once at the start of `main` and cleaned up
//! at its very end, after every worker lcore has returned, which is what [`Eal`]'s `Drop` enforces.
//!
//! Fast-path functions (`rx_burst`, `tx_burst`, mbuf accessors) are thin and `#[inline]`; the
//! `static inline` functions of DPDK are reached through the C shim of `dpdk-sys`.

mod eal;
mod error;
mod lcore;
mod mbuf;
pub mod mem;
mod mempool;
mod port;
pub mod privs;
mod ring;

pub use eal::{tsc, tsc_hz, version, Eal};
pub use error::DpdkError;
pub use lcore::{launch, wait, LcoreId};
pub use mbuf::{Burst, Drain as BurstDrain, Mbuf, MbufError, BURST_SIZE};
pub use mempool::Mempool;
pub use port::{DevInfo, Link, Port, PortConfig, PortId, PortStats, QueueId};
pub use ring::{MbufRing, Ring};

/// Re-export of the raw bindings for the few places that need a constant.
pub use dpdk_sys as sys;
