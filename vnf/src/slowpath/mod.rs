//! The slow path, on the main lcore: the control socket and its commands, statistics.
//! It talks to workers only through their counters (read-only) and, later, bounded rings.

pub mod commands;
pub mod control;
pub mod dssm;
pub mod localmap;
pub mod lograte;
pub mod metrics;
pub mod prompt;
pub mod reload;
pub mod stats;

pub use commands::{Reply, Request, State};
