//! Lock-free rings: [`Ring<T>`] for small `Copy` messages between lcores, [`MbufRing`] for
//! handing packets over.

use crate::error::DpdkError;
use crate::mbuf::{Burst, BURST_SIZE};
use dpdk_sys::rte_ring;
use std::ffi::CString;
use std::marker::PhantomData;
use std::ptr::NonNull;

const RING_F_SP_ENQ: u32 = 0x0001;
const RING_F_SC_DEQ: u32 = 0x0002;

fn create(
    name: &str,
    esize: u32,
    count: u32,
    single: bool,
) -> Result<NonNull<rte_ring>, DpdkError> {
    let cname = CString::new(name)
        .map_err(|_| DpdkError::invalid("rte_ring_create_elem", "name contains NUL"))?;
    if !count.is_power_of_two() {
        return Err(DpdkError::invalid(
            "rte_ring_create_elem",
            format!("ring size {count} is not a power of two"),
        ));
    }
    let flags = if single {
        RING_F_SP_ENQ | RING_F_SC_DEQ
    } else {
        0
    };
    // SAFETY: valid C string; DPDK copies it. SOCKET_ID_ANY = -1.
    let p = unsafe { dpdk_sys::rte_ring_create_elem(cname.as_ptr(), esize, count, -1, flags) };
    NonNull::new(p).ok_or_else(|| DpdkError::from_rte_errno("rte_ring_create_elem"))
}

/// A bounded lock-free ring of `T` values (copied in and out). `T` must be `Copy`, its size a
/// multiple of 4 bytes (a DPDK requirement checked at creation).
pub struct Ring<T: Copy> {
    raw: NonNull<rte_ring>,
    _t: PhantomData<T>,
}

// SAFETY: rte_ring is designed for concurrent producers/consumers across lcores (single-producer
// single-consumer rings must be used by one producer and one consumer, which the owner ensures
// by giving each side to one lcore).
unsafe impl<T: Copy + Send> Send for Ring<T> {}
// SAFETY: as above.
unsafe impl<T: Copy + Send> Sync for Ring<T> {}

impl<T: Copy> Ring<T> {
    /// Creates a ring with `count` slots (power of two; usable capacity is count - 1).
    /// `single` = single producer and single consumer.
    pub fn new(name: &str, count: u32, single: bool) -> Result<Ring<T>, DpdkError> {
        let esize = std::mem::size_of::<T>();
        if esize == 0 || !esize.is_multiple_of(4) {
            return Err(DpdkError::invalid(
                "rte_ring_create_elem",
                format!("element size {esize} is not a non-zero multiple of 4"),
            ));
        }
        Ok(Ring {
            raw: create(name, esize as u32, count, single)?,
            _t: PhantomData,
        })
    }

    /// Enqueues as many of `items` as fit; returns how many.
    #[inline]
    pub fn enqueue_burst(&self, items: &[T]) -> usize {
        // SAFETY: items is a valid array of len elements of size_of::<T>() bytes.
        unsafe {
            dpdk_sys::egress_shim_ring_enqueue_burst_elem(
                self.raw.as_ptr(),
                items.as_ptr() as *const _,
                std::mem::size_of::<T>() as u32,
                items.len() as u32,
                std::ptr::null_mut(),
            ) as usize
        }
    }

    /// Enqueues one item; gives it back when the ring is full.
    #[inline]
    pub fn enqueue(&self, item: T) -> Result<(), T> {
        if self.enqueue_burst(std::slice::from_ref(&item)) == 1 {
            Ok(())
        } else {
            Err(item)
        }
    }

    /// Dequeues up to `out.len()` items into `out`; returns how many were written.
    #[inline]
    pub fn dequeue_burst(&self, out: &mut [std::mem::MaybeUninit<T>]) -> usize {
        // SAFETY: out has room for len elements; the ring writes n fully formed T values.
        unsafe {
            dpdk_sys::egress_shim_ring_dequeue_burst_elem(
                self.raw.as_ptr(),
                out.as_mut_ptr() as *mut _,
                std::mem::size_of::<T>() as u32,
                out.len() as u32,
                std::ptr::null_mut(),
            ) as usize
        }
    }

    /// Dequeues one item.
    #[inline]
    pub fn dequeue(&self) -> Option<T> {
        let mut slot = [std::mem::MaybeUninit::<T>::uninit()];
        if self.dequeue_burst(&mut slot) == 1 {
            // SAFETY: the ring wrote a complete T into the slot.
            Some(unsafe { slot[0].assume_init() })
        } else {
            None
        }
    }

    /// Items currently queued.
    pub fn count(&self) -> u32 {
        // SAFETY: reads the ring's indexes.
        unsafe { dpdk_sys::egress_shim_ring_count(self.raw.as_ptr()) }
    }
}

impl<T: Copy> Drop for Ring<T> {
    fn drop(&mut self) {
        if !crate::eal::alive() {
            return;
        }
        // SAFETY: the ring is no longer used by anyone (we own it); T is Copy so nothing leaks.
        unsafe { dpdk_sys::rte_ring_free(self.raw.as_ptr()) }
    }
}

/// A ring of owned mbufs (ownership moves through it). Dropping it frees what is still queued.
pub struct MbufRing {
    raw: NonNull<rte_ring>,
}

// SAFETY: see Ring.
unsafe impl Send for MbufRing {}
// SAFETY: see Ring.
unsafe impl Sync for MbufRing {}

impl MbufRing {
    /// Creates a ring with `count` slots (power of two). `single` = one producer, one consumer.
    pub fn new(name: &str, count: u32, single: bool) -> Result<MbufRing, DpdkError> {
        Ok(MbufRing {
            raw: create(name, std::mem::size_of::<*mut u8>() as u32, count, single)?,
        })
    }

    /// Moves as many packets of `burst` as fit into the ring (from the front); the rest stay.
    #[inline]
    pub fn enqueue(&self, burst: &mut Burst) -> usize {
        // SAFETY: slots 0..len are valid owned mbufs; the ring takes ownership of the first n.
        unsafe {
            let n = dpdk_sys::egress_shim_ring_enqueue_burst_elem(
                self.raw.as_ptr(),
                burst.raw_slots() as *const _,
                std::mem::size_of::<*mut u8>() as u32,
                burst.len() as u32,
                std::ptr::null_mut(),
            ) as usize;
            burst.consumed(n);
            n
        }
    }

    /// Moves up to the free room of `burst` packets out of the ring.
    #[inline]
    pub fn dequeue(&self, burst: &mut Burst) -> usize {
        let room = BURST_SIZE - burst.len();
        // SAFETY: the slots after len are empty; the ring writes n owned mbuf pointers there.
        unsafe {
            let base = burst.raw_slots().add(burst.len());
            let n = dpdk_sys::egress_shim_ring_dequeue_burst_elem(
                self.raw.as_ptr(),
                base as *mut _,
                std::mem::size_of::<*mut u8>() as u32,
                room as u32,
                std::ptr::null_mut(),
            ) as usize;
            burst.set_filled(n);
            n
        }
    }
}

impl Drop for MbufRing {
    fn drop(&mut self) {
        if !crate::eal::alive() {
            return;
        }
        let mut b = Burst::new();
        while self.dequeue(&mut b) > 0 {
            b.clear();
        }
        // SAFETY: emptied and owned.
        unsafe { dpdk_sys::rte_ring_free(self.raw.as_ptr()) }
    }
}
