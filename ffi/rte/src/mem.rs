//! Memory hints for large preallocated tables (they need no EAL): cache-line prefetch, and
//! transparent huge pages for a buffer before it is first touched.

use std::mem::MaybeUninit;

/// Starts loading the cache line that holds `r` into every cache level. A hint: it never
/// faults and has no visible effect besides timing.
#[inline(always)]
pub fn prefetch<T>(r: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: PREFETCHT0 of the address of a live reference; the instruction only hints the
    // cache and cannot fault or change memory.
    unsafe {
        core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(
            r as *const T as *const i8,
        )
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = r;
}

/// Asks the kernel to back the whole 2 MiB pages inside `buf` with transparent huge pages
/// (`madvise(MADV_HUGEPAGE)`; honoured when `/sys/kernel/mm/transparent_hugepage/enabled` is
/// `madvise` or `always`). Call it before the buffer is first written: the pages are then
/// faulted in as huge pages, which cuts the TLB misses of random accesses to a table of many
/// megabytes. Returns false when the kernel refused (the buffer works the same, with small
/// pages).
pub fn advise_huge_pages<T>(buf: &mut [MaybeUninit<T>]) -> bool {
    const PAGE: usize = 4096;
    let start = buf.as_mut_ptr() as usize;
    let end = start + std::mem::size_of_val(buf);
    let first = start.next_multiple_of(PAGE);
    let last = end - end % PAGE;
    if last <= first {
        return false;
    }
    // SAFETY: [first, last) is a page-aligned range inside `buf`, which this call borrows
    // mutably; MADV_HUGEPAGE changes how the kernel backs the range, never its contents.
    let r = unsafe {
        libc::madvise(
            first as *mut libc::c_void,
            last - first,
            libc::MADV_HUGEPAGE,
        )
    };
    r == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_page_advice_on_a_large_buffer_keeps_contents_usable() {
        let mut v: Vec<u64> = Vec::with_capacity(1 << 20);
        let _ = advise_huge_pages(v.spare_capacity_mut());
        v.resize(1 << 20, 7);
        prefetch(&v[12345]);
        assert!(v.iter().all(|&x| x == 7));
        // Smaller than a page: nothing to advise.
        let mut small: Vec<u8> = Vec::with_capacity(16);
        assert!(!advise_huge_pages(small.spare_capacity_mut()) || small.capacity() >= 4096);
    }
}
