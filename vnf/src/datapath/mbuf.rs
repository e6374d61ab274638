//! [`Frame`] for DPDK's `Mbuf` (first segment; the worker makes packets contiguous first).

use crate::frame::{Frame, FrameError};
use rte::{Mbuf, MbufError};

fn map(e: MbufError) -> FrameError {
    match e {
        MbufError::NoHeadroom => FrameError::NoHeadroom,
        MbufError::TooShort => FrameError::TooShort,
        MbufError::NoTailroom | MbufError::NotContiguous | MbufError::NoMemory => {
            FrameError::NoTailroom
        }
    }
}

impl Frame for Mbuf {
    #[inline]
    fn data(&self) -> &[u8] {
        Mbuf::data(self)
    }
    #[inline]
    fn data_mut(&mut self) -> &mut [u8] {
        Mbuf::data_mut(self)
    }
    #[inline]
    fn headroom(&self) -> usize {
        Mbuf::headroom(self)
    }
    #[inline]
    fn tailroom(&self) -> usize {
        Mbuf::tailroom(self)
    }
    #[inline]
    fn prepend(&mut self, n: usize) -> Result<&mut [u8], FrameError> {
        Mbuf::prepend(self, n).map_err(map)
    }
    #[inline]
    fn adj(&mut self, n: usize) -> Result<(), FrameError> {
        Mbuf::adj(self, n).map_err(map)
    }
    #[inline]
    fn append(&mut self, n: usize) -> Result<&mut [u8], FrameError> {
        Mbuf::append(self, n).map_err(map)
    }
    #[inline]
    fn trim(&mut self, n: usize) -> Result<(), FrameError> {
        Mbuf::trim(self, n).map_err(map)
    }
}
