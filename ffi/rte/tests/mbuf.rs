//! Mbuf, Burst, Mempool and Ring against a real EAL (`--no-huge`, no devices). All checks share
//! one EAL (DPDK can be initialised once per process), so they run in one test function.

use rte::{Burst, Eal, Mbuf, MbufError, MbufRing, Mempool, Ring, BURST_SIZE};

/// Removes the EAL's runtime directory (`/var/run/dpdk/<prefix>`) when the test ends.
struct RuntimeDir(String);

impl Drop for RuntimeDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(format!("/var/run/dpdk/{}", self.0));
    }
}

fn prefix() -> String {
    format!("rte-test-{}", std::process::id())
}

fn eal() -> Eal {
    let prefix = prefix();
    Eal::init(&[
        "--no-huge",
        "-m",
        "256",
        "--no-pci",
        "-l",
        "0",
        "--file-prefix",
        &prefix,
        "--log-level",
        "lib.eal:error",
    ])
    .expect("EAL init with --no-huge (run as root)")
}

fn fill(m: &mut Mbuf, bytes: &[u8]) {
    m.append(bytes.len()).unwrap().copy_from_slice(bytes);
}

#[test]
fn mbuf_mempool_burst_ring() {
    let _dir = RuntimeDir(prefix());
    let eal = eal();
    assert!(
        Eal::init(&["--no-huge"]).is_err(),
        "a second EAL init is refused"
    );
    let pool = Mempool::new("test_pool", 1023, 0, -1).unwrap();
    let base = pool.avail_count();
    assert_eq!(base, 1023);

    // Length operations: never a panic, errors at the limits.
    let mut m = pool.alloc().unwrap();
    assert!(m.is_empty());
    assert!(m.is_contiguous());
    let head = m.headroom();
    assert_eq!(head, 128, "default RTE_PKTMBUF_HEADROOM");
    fill(&mut m, &[1, 2, 3, 4]);
    assert_eq!(m.data(), &[1, 2, 3, 4]);
    m.prepend(2).unwrap().copy_from_slice(&[8, 9]);
    assert_eq!(m.data(), &[8, 9, 1, 2, 3, 4]);
    assert_eq!(m.pkt_len(), 6);
    assert_eq!(
        m.prepend(head - 1),
        Err(MbufError::NoHeadroom),
        "prepend past headroom is an error"
    );
    assert_eq!(
        m.data(),
        &[8, 9, 1, 2, 3, 4],
        "a failed prepend changes nothing"
    );
    m.prepend(head - 2).unwrap();
    assert_eq!(m.headroom(), 0);
    assert_eq!(m.prepend(1), Err(MbufError::NoHeadroom));
    m.adj(head - 2).unwrap();
    assert_eq!(m.adj(7), Err(MbufError::TooShort));
    m.adj(2).unwrap();
    assert_eq!(m.data(), &[1, 2, 3, 4]);
    let tail = m.tailroom();
    assert_eq!(m.append(tail + 1).err(), Some(MbufError::NoTailroom));
    assert_eq!(m.trim(5), Err(MbufError::TooShort));
    m.trim(1).unwrap();
    assert_eq!(m.data(), &[1, 2, 3]);
    m.data_mut()[0] = 7;
    assert_eq!(m.data(), &[7, 2, 3]);
    assert_eq!(pool.avail_count(), base - 1);
    drop(m);
    assert_eq!(pool.avail_count(), base, "dropping an Mbuf frees it");

    // Bursts: bulk allocation, drain in order, partial consumption frees the rest.
    let mut b = Burst::new();
    pool.alloc_bulk(&mut b, BURST_SIZE).unwrap();
    assert!(b.is_full());
    assert_eq!(pool.alloc_bulk(&mut b, 1), Err(MbufError::NoTailroom));
    for (i, slot) in (0..BURST_SIZE).zip(0u8..) {
        fill(b.get_mut(i).unwrap(), &[slot]);
    }
    let extra = pool.alloc().unwrap();
    let extra = b
        .push(extra)
        .expect_err("a full burst gives the packet back");
    drop(extra);
    let firsts: Vec<u8> = b.drain().take(3).map(|m| m.data()[0]).collect();
    assert_eq!(firsts, vec![0, 1, 2]);
    assert!(b.is_empty());
    assert_eq!(
        pool.avail_count(),
        base,
        "undrained packets are freed with the iterator"
    );
    pool.alloc_bulk(&mut b, 5).unwrap();
    drop(b);
    assert_eq!(
        pool.avail_count(),
        base,
        "dropping a burst frees its packets"
    );

    // Typed ring: values in, values out, bounded.
    let ring: Ring<[u32; 2]> = Ring::new("test_ring", 8, true).unwrap();
    for i in 0..7u32 {
        ring.enqueue([i, i * 10]).unwrap();
    }
    assert_eq!(
        ring.enqueue([99, 99]),
        Err([99, 99]),
        "usable capacity is count - 1"
    );
    assert_eq!(ring.count(), 7);
    assert_eq!(ring.dequeue(), Some([0, 0]));
    assert_eq!(ring.dequeue(), Some([1, 10]));
    assert!(
        Ring::<u8>::new("bad_ring", 8, true).is_err(),
        "element size must be a multiple of 4"
    );
    assert!(
        Ring::<u32>::new("bad_ring2", 6, true).is_err(),
        "size must be a power of two"
    );

    // Mbuf ring: ownership moves through it; dropping the ring frees what it holds.
    let mr = MbufRing::new("test_mring", 64, false).unwrap();
    let mut b = Burst::new();
    pool.alloc_bulk(&mut b, 10).unwrap();
    assert_eq!(mr.enqueue(&mut b), 10);
    assert!(b.is_empty());
    assert_eq!(mr.dequeue(&mut b), 10);
    assert_eq!(mr.enqueue(&mut b), 10);
    drop(mr);
    assert_eq!(pool.avail_count(), base, "no mbuf leaked through the ring");
    drop(ring);
    drop(eal);
}
