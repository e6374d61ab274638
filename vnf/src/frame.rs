//! `Frame`: packet bytes with headroom, the one abstraction all packet logic works on.
//!
//! Implemented by the DPDK `Mbuf` (in `datapath`) and by [`VecFrame`] here, so every protocol
//! module is tested, fuzzed and benchmarked without DPDK. This module imports nothing of ours,
//! so the pure modules (`xlat`, `net`, `nat`, `dns`) may use it without depending on `datapath`.
//!
//! Invariant: no method panics; running out of room is a [`FrameError`].

/// Why a length operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameError {
    /// Not enough headroom to prepend.
    NoHeadroom,
    /// Not enough tailroom to append.
    NoTailroom,
    /// Removing more bytes than the frame holds.
    TooShort,
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            FrameError::NoHeadroom => "not enough headroom",
            FrameError::NoTailroom => "not enough tailroom",
            FrameError::TooShort => "frame shorter than requested",
        })
    }
}

impl std::error::Error for FrameError {}

/// Packet bytes with room before and after them.
pub trait Frame {
    /// The packet bytes.
    fn data(&self) -> &[u8];
    /// The packet bytes, mutably.
    fn data_mut(&mut self) -> &mut [u8];
    /// Free bytes before the packet.
    fn headroom(&self) -> usize;
    /// Free bytes after the packet.
    fn tailroom(&self) -> usize;
    /// Grows the packet by `n` bytes at the front; returns the new front bytes (contents
    /// unspecified).
    fn prepend(&mut self, n: usize) -> Result<&mut [u8], FrameError>;
    /// Removes `n` bytes from the front.
    fn adj(&mut self, n: usize) -> Result<(), FrameError>;
    /// Grows the packet by `n` bytes at the end; returns them (contents unspecified).
    fn append(&mut self, n: usize) -> Result<&mut [u8], FrameError>;
    /// Removes `n` bytes from the end.
    fn trim(&mut self, n: usize) -> Result<(), FrameError>;

    /// Packet length.
    fn len(&self) -> usize {
        self.data().len()
    }
    /// Whether the packet is empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Sets the length to `n` by trimming or appending (appended bytes are zeroed).
    fn set_len(&mut self, n: usize) -> Result<(), FrameError> {
        let len = self.len();
        if n < len {
            self.trim(len - n)
        } else if n > len {
            self.append(n - len).map(|b| b.fill(0))
        } else {
            Ok(())
        }
    }
}

/// A heap-backed frame for tests, fuzzing and benchmarks, laid out like an mbuf: `headroom`
/// bytes, the data, then tailroom up to `capacity`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VecFrame {
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl VecFrame {
    /// Default headroom, as DPDK's `RTE_PKTMBUF_HEADROOM`.
    pub const HEADROOM: usize = 128;
    /// Default buffer size, as an mbuf of the default data room.
    pub const CAPACITY: usize = 2176;

    /// A frame holding `data` with the default headroom and capacity (grown if `data` is
    /// larger).
    pub fn new(data: &[u8]) -> VecFrame {
        Self::with_room(
            data,
            Self::HEADROOM,
            Self::CAPACITY.max(Self::HEADROOM + data.len()),
        )
    }

    /// A frame holding `data` after `headroom` bytes in a buffer of `capacity` bytes (grown to
    /// fit the data if needed).
    pub fn with_room(data: &[u8], headroom: usize, capacity: usize) -> VecFrame {
        let capacity = capacity.max(headroom + data.len());
        let mut buf = vec![0u8; capacity];
        buf[headroom..headroom + data.len()].copy_from_slice(data);
        VecFrame {
            buf,
            start: headroom,
            end: headroom + data.len(),
        }
    }
}

impl Frame for VecFrame {
    fn data(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }
    fn data_mut(&mut self) -> &mut [u8] {
        &mut self.buf[self.start..self.end]
    }
    fn headroom(&self) -> usize {
        self.start
    }
    fn tailroom(&self) -> usize {
        self.buf.len() - self.end
    }
    fn prepend(&mut self, n: usize) -> Result<&mut [u8], FrameError> {
        if n > self.start {
            return Err(FrameError::NoHeadroom);
        }
        self.start -= n;
        Ok(&mut self.buf[self.start..self.start + n])
    }
    fn adj(&mut self, n: usize) -> Result<(), FrameError> {
        if n > self.end - self.start {
            return Err(FrameError::TooShort);
        }
        self.start += n;
        Ok(())
    }
    fn append(&mut self, n: usize) -> Result<&mut [u8], FrameError> {
        if n > self.buf.len() - self.end {
            return Err(FrameError::NoTailroom);
        }
        let old = self.end;
        self.end += n;
        Ok(&mut self.buf[old..self.end])
    }
    fn trim(&mut self, n: usize) -> Result<(), FrameError> {
        if n > self.end - self.start {
            return Err(FrameError::TooShort);
        }
        self.end -= n;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn prepend_within_headroom_then_past_it_is_an_error() {
        let mut f = VecFrame::with_room(&[1, 2, 3], 4, 16);
        assert_eq!(f.headroom(), 4);
        f.prepend(4).unwrap().copy_from_slice(&[9, 9, 9, 9]);
        assert_eq!(f.data(), &[9, 9, 9, 9, 1, 2, 3]);
        assert_eq!(f.prepend(1), Err(FrameError::NoHeadroom));
        assert_eq!(
            f.data(),
            &[9, 9, 9, 9, 1, 2, 3],
            "failed prepend leaves the frame as it was"
        );
    }

    #[test]
    fn adj_trim_append_bounds() {
        let mut f = VecFrame::with_room(&[1, 2, 3, 4], 2, 8);
        assert_eq!(f.tailroom(), 2);
        assert_eq!(f.append(3), Err(FrameError::NoTailroom));
        f.append(2).unwrap().copy_from_slice(&[5, 6]);
        assert_eq!(f.data(), &[1, 2, 3, 4, 5, 6]);
        assert_eq!(f.adj(7), Err(FrameError::TooShort));
        f.adj(2).unwrap();
        assert_eq!(f.data(), &[3, 4, 5, 6]);
        assert_eq!(f.headroom(), 4);
        assert_eq!(f.trim(5), Err(FrameError::TooShort));
        f.trim(1).unwrap();
        assert_eq!(f.data(), &[3, 4, 5]);
        assert_eq!(f.tailroom(), 1);
        f.set_len(4).unwrap();
        assert_eq!(f.data(), &[3, 4, 5, 0]);
        assert_eq!(f.set_len(6), Err(FrameError::NoTailroom));
        f.set_len(1).unwrap();
        assert_eq!(f.data(), &[3]);
        f.adj(1).unwrap();
        assert!(f.is_empty());
    }

    #[test]
    fn new_keeps_large_data() {
        let data = vec![7u8; 4000];
        let f = VecFrame::new(&data);
        assert_eq!(f.data(), &data[..]);
        assert_eq!(f.headroom(), VecFrame::HEADROOM);
    }

    proptest! {
        /// Any sequence of operations keeps headroom + len + tailroom constant and never panics.
        #[test]
        fn operations_conserve_room(ops in proptest::collection::vec((0u8..4, 0usize..300), 0..40)) {
            let mut f = VecFrame::with_room(&[0xab; 64], 128, 512);
            for (op, n) in ops {
                let before = f.headroom() + f.len() + f.tailroom();
                let _ = match op {
                    0 => f.prepend(n).map(|_| ()),
                    1 => f.adj(n),
                    2 => f.append(n).map(|_| ()),
                    _ => f.trim(n),
                };
                prop_assert_eq!(before, f.headroom() + f.len() + f.tailroom());
            }
        }
    }
}
