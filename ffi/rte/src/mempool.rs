//! Packet mempools (`rte_pktmbuf_pool_create`).

use crate::error::DpdkError;
use crate::mbuf::{Burst, Mbuf, MbufError};
use dpdk_sys::rte_mempool;
use std::ffi::CString;
use std::ptr::NonNull;

/// A packet mbuf pool. A handle: copies refer to the same pool, which lives until EAL cleanup
/// (pools are never freed while the process runs, so no mbuf can outlive its pool).
#[derive(Debug, Clone, Copy)]
pub struct Mempool {
    raw: NonNull<rte_mempool>,
}

// SAFETY: DPDK mempools are multi-producer/multi-consumer and may be used from any lcore.
unsafe impl Send for Mempool {}
// SAFETY: as above.
unsafe impl Sync for Mempool {}

impl Mempool {
    /// Creates a pool of `n` mbufs with the default data room (2048 + headroom) on `socket`
    /// (-1 = any).
    pub fn new(name: &str, n: u32, cache: u32, socket: i32) -> Result<Mempool, DpdkError> {
        let cname = CString::new(name)
            .map_err(|_| DpdkError::invalid("rte_pktmbuf_pool_create", "name contains NUL"))?;
        // SAFETY: cname is a valid C string; DPDK copies the name.
        let p = unsafe {
            dpdk_sys::rte_pktmbuf_pool_create(
                cname.as_ptr(),
                n,
                cache,
                0,
                dpdk_sys::RTE_MBUF_DEFAULT_BUF_SIZE as u16,
                socket,
            )
        };
        NonNull::new(p)
            .map(|raw| Mempool { raw })
            .ok_or_else(|| DpdkError::from_rte_errno("rte_pktmbuf_pool_create"))
    }

    pub(crate) fn as_ptr(&self) -> *mut rte_mempool {
        self.raw.as_ptr()
    }

    /// Allocates one mbuf (empty, default headroom).
    #[inline]
    pub fn alloc(&self) -> Result<Mbuf, MbufError> {
        // SAFETY: the pool is valid for the life of the EAL.
        let p = unsafe { dpdk_sys::egress_shim_pktmbuf_alloc(self.raw.as_ptr()) };
        match NonNull::new(p) {
            // SAFETY: a freshly allocated mbuf is owned by the caller.
            Some(raw) => Ok(unsafe { Mbuf::from_raw(raw) }),
            None => Err(MbufError::NoMemory),
        }
    }

    /// Fills `burst` up to `n` packets (all or nothing).
    pub fn alloc_bulk(&self, burst: &mut Burst, n: usize) -> Result<(), MbufError> {
        let room = crate::mbuf::BURST_SIZE - burst.len();
        if n > room {
            return Err(MbufError::NoTailroom);
        }
        // SAFETY: the slots after len are None (null) and can hold n pointers; on success the
        // pool wrote n valid owned mbufs there.
        unsafe {
            let base = burst.raw_slots().add(burst.len());
            if dpdk_sys::egress_shim_pktmbuf_alloc_bulk(self.raw.as_ptr(), base, n as u32) != 0 {
                return Err(MbufError::NoMemory);
            }
            burst.set_filled(n);
        }
        Ok(())
    }

    /// Mbufs currently free in the pool (including per-lcore caches).
    pub fn avail_count(&self) -> u32 {
        // SAFETY: reads counters of a valid pool.
        unsafe { dpdk_sys::egress_shim_mempool_avail_count(self.raw.as_ptr()) }
    }

    /// Mbufs currently allocated.
    pub fn in_use_count(&self) -> u32 {
        // SAFETY: reads counters of a valid pool.
        unsafe { dpdk_sys::rte_mempool_in_use_count(self.raw.as_ptr()) }
    }

    /// Total mbufs in the pool.
    pub fn size(&self) -> u32 {
        // SAFETY: reads a field of a valid pool.
        unsafe { self.raw.as_ref().size }
    }
}
