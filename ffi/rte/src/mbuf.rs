//! `Mbuf`: an owned DPDK packet buffer, and `Burst`: up to 32 of them for RX/TX.
//!
//! Invariants: an `Mbuf` is the only owner of its `rte_mbuf` (refcount 1 as far as we are
//! concerned); dropping it frees the whole chain; handing it to TX (`Burst` + `Port::tx_burst`)
//! transfers ownership to the driver. The byte accessors cover the first segment: the data path
//! works on single-segment mbufs and linearizes or drops the others.

use dpdk_sys::rte_mbuf;
use std::ptr::NonNull;

/// Packets per RX/TX burst.
pub const BURST_SIZE: usize = 32;

/// Errors of the mbuf length operations (never a panic).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MbufError {
    /// Not enough headroom to prepend.
    NoHeadroom,
    /// Not enough tailroom to append.
    NoTailroom,
    /// Trying to remove more bytes than the buffer holds.
    TooShort,
    /// The operation needs a single-segment mbuf.
    NotContiguous,
    /// The mempool is empty.
    NoMemory,
}

impl std::fmt::Display for MbufError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            MbufError::NoHeadroom => "not enough headroom",
            MbufError::NoTailroom => "not enough tailroom",
            MbufError::TooShort => "buffer shorter than requested",
            MbufError::NotContiguous => "mbuf has several segments",
            MbufError::NoMemory => "mempool exhausted",
        })
    }
}

impl std::error::Error for MbufError {}

/// An owned packet buffer. `repr(transparent)` over a non-null pointer so that an array of
/// `Option<Mbuf>` has the layout of an array of `struct rte_mbuf *` (used by [`Burst`]).
#[repr(transparent)]
#[derive(Debug)]
pub struct Mbuf {
    raw: NonNull<rte_mbuf>,
}

// SAFETY: an Mbuf is uniquely owned; DPDK mbufs may be processed and freed on any lcore (the
// mempool is multi-producer/multi-consumer).
unsafe impl Send for Mbuf {}

impl Mbuf {
    /// Wraps a raw mbuf that the caller owns.
    ///
    /// # Safety
    /// `raw` must be a valid mbuf that nobody else owns or frees.
    #[inline]
    pub(crate) unsafe fn from_raw(raw: NonNull<rte_mbuf>) -> Mbuf {
        Mbuf { raw }
    }

    /// Gives up ownership without freeing.
    #[inline]
    pub(crate) fn into_raw(self) -> *mut rte_mbuf {
        let p = self.raw.as_ptr();
        std::mem::forget(self);
        p
    }

    #[inline(always)]
    fn m(&self) -> &rte_mbuf {
        // SAFETY: raw is valid and uniquely owned for the life of self.
        unsafe { self.raw.as_ref() }
    }

    #[inline(always)]
    fn m_mut(&mut self) -> &mut rte_mbuf {
        // SAFETY: as above, and &mut self gives exclusive access.
        unsafe { self.raw.as_mut() }
    }

    /// Bytes of the first segment.
    #[inline]
    pub fn data(&self) -> &[u8] {
        let m = self.m();
        // SAFETY: buf_addr + data_off .. + data_len lies inside the mbuf's buffer (DPDK
        // invariant maintained by every length operation below).
        unsafe {
            std::slice::from_raw_parts(
                (m.buf_addr as *const u8).add(m.data_off as usize),
                m.data_len as usize,
            )
        }
    }

    /// Mutable bytes of the first segment.
    #[inline]
    pub fn data_mut(&mut self) -> &mut [u8] {
        let m = self.m_mut();
        // SAFETY: as in data(); &mut self guarantees exclusive access.
        unsafe {
            std::slice::from_raw_parts_mut(
                (m.buf_addr as *mut u8).add(m.data_off as usize),
                m.data_len as usize,
            )
        }
    }

    /// Length of the first segment.
    #[inline]
    pub fn len(&self) -> usize {
        self.m().data_len as usize
    }

    /// Whether the first segment is empty.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Total packet length over all segments.
    #[inline]
    pub fn pkt_len(&self) -> usize {
        self.m().pkt_len as usize
    }

    /// Number of segments.
    #[inline]
    pub fn nb_segs(&self) -> u16 {
        self.m().nb_segs
    }

    /// Whether the packet is in one segment.
    #[inline]
    pub fn is_contiguous(&self) -> bool {
        self.m().nb_segs == 1
    }

    /// Input port recorded by the driver.
    #[inline]
    pub fn port(&self) -> u16 {
        self.m().port
    }

    /// Records the input port (a packet handed from one lcore to another keeps where it came
    /// in).
    #[inline]
    pub fn set_port(&mut self, port: u16) {
        self.m_mut().port = port;
    }

    /// Free bytes before the data.
    #[inline]
    pub fn headroom(&self) -> usize {
        self.m().data_off as usize
    }

    /// Free bytes after the data (of the last segment).
    #[inline]
    pub fn tailroom(&self) -> usize {
        // SAFETY: the shim reads the mbuf's own fields.
        unsafe { dpdk_sys::egress_shim_pktmbuf_tailroom(self.raw.as_ptr()) as usize }
    }

    /// Grows the packet at the front by `n` bytes and returns the new front bytes.
    #[inline]
    pub fn prepend(&mut self, n: usize) -> Result<&mut [u8], MbufError> {
        if n > self.headroom() {
            return Err(MbufError::NoHeadroom);
        }
        let m = self.m_mut();
        m.data_off -= n as u16;
        m.data_len += n as u16;
        m.pkt_len += n as u32;
        Ok(&mut self.data_mut()[..n])
    }

    /// Removes `n` bytes from the front.
    #[inline]
    pub fn adj(&mut self, n: usize) -> Result<(), MbufError> {
        if n > self.len() {
            return Err(MbufError::TooShort);
        }
        let m = self.m_mut();
        m.data_off += n as u16;
        m.data_len -= n as u16;
        m.pkt_len -= n as u32;
        Ok(())
    }

    /// Grows the packet at the end by `n` bytes and returns them (single-segment only).
    #[inline]
    pub fn append(&mut self, n: usize) -> Result<&mut [u8], MbufError> {
        if !self.is_contiguous() {
            return Err(MbufError::NotContiguous);
        }
        if n > self.tailroom() {
            return Err(MbufError::NoTailroom);
        }
        let old = self.len();
        let m = self.m_mut();
        m.data_len += n as u16;
        m.pkt_len += n as u32;
        Ok(&mut self.data_mut()[old..])
    }

    /// Removes `n` bytes from the end (single-segment only).
    #[inline]
    pub fn trim(&mut self, n: usize) -> Result<(), MbufError> {
        if !self.is_contiguous() {
            return Err(MbufError::NotContiguous);
        }
        if n > self.len() {
            return Err(MbufError::TooShort);
        }
        let m = self.m_mut();
        m.data_len -= n as u16;
        m.pkt_len -= n as u32;
        Ok(())
    }

    /// Copies a multi-segment packet into its first segment (fails if it does not fit).
    pub fn linearize(&mut self) -> Result<(), MbufError> {
        if self.is_contiguous() {
            return Ok(());
        }
        // SAFETY: the mbuf is valid and owned; linearize only moves data between our segments.
        let r = unsafe { dpdk_sys::egress_shim_pktmbuf_linearize(self.raw.as_ptr()) };
        if r == 0 {
            Ok(())
        } else {
            Err(MbufError::NoTailroom)
        }
    }

    /// Prefetches the first cache line of the packet data.
    #[inline(always)]
    pub fn prefetch_data(&self) {
        let m = self.m();
        // SAFETY: prefetch of an address inside the mbuf's buffer; no memory is read.
        unsafe {
            dpdk_sys::egress_shim_prefetch0((m.buf_addr as *const u8).add(m.data_off as usize) as _)
        }
    }
}

impl Drop for Mbuf {
    #[inline]
    fn drop(&mut self) {
        if !crate::eal::alive() {
            return; // the pool's memory is gone with the EAL
        }
        // SAFETY: we own the mbuf; it is freed exactly once, while the EAL is alive.
        unsafe { dpdk_sys::egress_shim_pktmbuf_free(self.raw.as_ptr()) }
    }
}

/// Up to [`BURST_SIZE`] owned mbufs in order. Invariant: slots `0..len` are `Some`, the rest
/// `None`. Dropping a burst frees what it still holds.
pub struct Burst {
    len: usize,
    slots: [Option<Mbuf>; BURST_SIZE],
}

impl Default for Burst {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Burst {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Burst({})", self.len)
    }
}

impl Burst {
    /// An empty burst.
    pub const fn new() -> Burst {
        const NONE: Option<Mbuf> = None;
        Burst {
            len: 0,
            slots: [NONE; BURST_SIZE],
        }
    }

    /// Packets held.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no packet is held.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether the burst is full.
    #[inline]
    pub fn is_full(&self) -> bool {
        self.len == BURST_SIZE
    }

    /// Adds a packet at the end; gives it back when full.
    #[inline]
    pub fn push(&mut self, m: Mbuf) -> Result<(), Mbuf> {
        if self.len == BURST_SIZE {
            return Err(m);
        }
        self.slots[self.len] = Some(m);
        self.len += 1;
        Ok(())
    }

    /// The packet at `i`.
    #[inline]
    pub fn get(&self, i: usize) -> Option<&Mbuf> {
        self.slots.get(i).and_then(Option::as_ref)
    }

    /// The packet at `i`, mutably.
    #[inline]
    pub fn get_mut(&mut self, i: usize) -> Option<&mut Mbuf> {
        self.slots.get_mut(i).and_then(Option::as_mut)
    }

    /// Takes every packet out, in order, leaving the burst empty.
    #[inline]
    pub fn drain(&mut self) -> Drain<'_> {
        let len = self.len;
        self.len = 0;
        Drain {
            slots: &mut self.slots[..len],
            next: 0,
        }
    }

    /// Frees every packet held.
    pub fn clear(&mut self) {
        for s in &mut self.slots[..self.len] {
            drop(s.take());
        }
        self.len = 0;
    }

    /// Pointer to the first slot, for the driver (slots are laid out as `struct rte_mbuf *`).
    #[inline]
    pub(crate) fn raw_slots(&mut self) -> *mut *mut rte_mbuf {
        self.slots.as_mut_ptr() as *mut *mut rte_mbuf
    }

    /// Records that the driver filled `n` more slots after `len`.
    ///
    /// # Safety
    /// Slots `len..len+n` must have been written with valid owned mbufs.
    #[inline]
    pub(crate) unsafe fn set_filled(&mut self, n: usize) {
        self.len += n;
    }

    /// Records that the driver took the first `n` packets: forgets them and moves the rest to
    /// the front.
    ///
    /// # Safety
    /// The first `n` mbufs must now be owned by the driver.
    #[inline]
    pub(crate) unsafe fn consumed(&mut self, n: usize) {
        for s in &mut self.slots[..n] {
            if let Some(m) = s.take() {
                let _ = m.into_raw();
            }
        }
        if n > 0 && n < self.len {
            self.slots[..self.len].rotate_left(n);
        }
        self.len -= n;
    }
}

impl Drop for Burst {
    fn drop(&mut self) {
        self.clear();
    }
}

/// Iterator returned by [`Burst::drain`]; frees whatever is not consumed.
pub struct Drain<'a> {
    slots: &'a mut [Option<Mbuf>],
    next: usize,
}

impl Iterator for Drain<'_> {
    type Item = Mbuf;
    #[inline]
    fn next(&mut self) -> Option<Mbuf> {
        let s = self.slots.get_mut(self.next)?;
        self.next += 1;
        s.take()
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.slots.len() - self.next;
        (n, Some(n))
    }
}

impl Drop for Drain<'_> {
    fn drop(&mut self) {
        for s in &mut self.slots[self.next..] {
            drop(s.take());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn option_mbuf_has_pointer_layout() {
        assert_eq!(
            std::mem::size_of::<Option<Mbuf>>(),
            std::mem::size_of::<*mut rte_mbuf>()
        );
        assert_eq!(
            std::mem::size_of::<Burst>(),
            std::mem::size_of::<usize>() * (BURST_SIZE + 1)
        );
    }
}
