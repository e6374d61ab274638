//! Logical cores: ids, launching a closure on a worker lcore, waiting for it.

use crate::error::{check, DpdkError};
use std::os::raw::{c_int, c_void};

/// A DPDK logical core id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LcoreId(pub u32);

impl LcoreId {
    /// The lcore the calling thread runs on (`u32::MAX` on a non-EAL thread).
    pub fn current() -> LcoreId {
        // SAFETY: reads a thread-local through the shim.
        LcoreId(unsafe { dpdk_sys::egress_shim_lcore_id() })
    }

    /// The main lcore (runs the slow path).
    pub fn main() -> LcoreId {
        // SAFETY: reads EAL configuration.
        LcoreId(unsafe { dpdk_sys::rte_get_main_lcore() })
    }

    /// Every enabled lcore except the main one, in order.
    pub fn workers() -> Vec<LcoreId> {
        let mut out = Vec::new();
        let mut i = u32::MAX; // -1: start from the beginning
        loop {
            // SAFETY: reads EAL configuration.
            i = unsafe { dpdk_sys::rte_get_next_lcore(i, 1, 0) };
            if i >= dpdk_sys::RTE_MAX_LCORE {
                break;
            }
            out.push(LcoreId(i));
        }
        out
    }

    /// NUMA socket of the calling lcore.
    pub fn socket() -> u32 {
        // SAFETY: reads a thread-local through the shim.
        unsafe { dpdk_sys::egress_shim_socket_id() }
    }
}

impl std::fmt::Display for LcoreId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

type Job = Box<dyn FnOnce() -> i32 + Send + 'static>;

extern "C" fn trampoline(arg: *mut c_void) -> c_int {
    // SAFETY: arg was produced by Box::into_raw in `launch` and is consumed exactly once here.
    let job: Box<Job> = unsafe { Box::from_raw(arg as *mut Job) };
    // A panic must not unwind into C: report it as a failure of the lcore.
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(job)).unwrap_or(-1)
}

/// Runs `f` on worker lcore `lcore` (which must be idle). Its return value is collected by
/// [`wait`]; a panic inside `f` is caught and reported as -1.
pub fn launch<F>(lcore: LcoreId, f: F) -> Result<(), DpdkError>
where
    F: FnOnce() -> i32 + Send + 'static,
{
    let job: Box<Job> = Box::new(Box::new(f));
    let arg = Box::into_raw(job) as *mut c_void;
    // SAFETY: trampoline has the lcore_function_t signature and takes ownership of arg.
    let r = unsafe { dpdk_sys::rte_eal_remote_launch(Some(trampoline), arg, lcore.0) };
    if r < 0 {
        // Not launched: take the job back so it is freed.
        // SAFETY: arg is still ours since the launch failed.
        drop(unsafe { Box::from_raw(arg as *mut Job) });
        return check("rte_eal_remote_launch", r).map(|_| ());
    }
    Ok(())
}

/// Waits for the job on `lcore` and returns its value.
pub fn wait(lcore: LcoreId) -> i32 {
    // SAFETY: plain call from the main lcore.
    unsafe { dpdk_sys::rte_eal_wait_lcore(lcore.0) }
}
