//! Classic libpcap capture files (the format `tcpdump -w` writes and DPDK's `net_pcap` reads).
//!
//! Layout: a 24-byte global header (magic `0xa1b2c3d4`, version 2.4, thiszone, sigfigs, snaplen,
//! link type), then per packet a 16-byte record header (seconds, microseconds, captured length,
//! original length) followed by the captured bytes. This module writes little-endian files with
//! microsecond timestamps and reads either byte order.

use std::fmt;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::time::Duration;

/// `LINKTYPE_ETHERNET`: frames start with the Ethernet header (no preamble, no FCS).
pub const LINKTYPE_ETHERNET: u32 = 1;
/// Snapshot length written by default: large enough for any jumbo frame.
pub const DEFAULT_SNAPLEN: u32 = 65_535;

const MAGIC_USEC: u32 = 0xa1b2_c3d4;
const GLOBAL_HEADER_LEN: usize = 24;
const RECORD_HEADER_LEN: usize = 16;

/// Writes packets to a classic pcap stream.
pub struct PcapWriter<W: Write> {
    out: W,
    snaplen: u32,
    packets: u64,
}

impl<W: Write> PcapWriter<W> {
    /// Writes the global header and returns a writer for the packet records.
    pub fn new(mut out: W, snaplen: u32, linktype: u32) -> io::Result<Self> {
        let mut header = [0u8; GLOBAL_HEADER_LEN];
        header[0..4].copy_from_slice(&MAGIC_USEC.to_le_bytes());
        header[4..6].copy_from_slice(&2u16.to_le_bytes());
        header[6..8].copy_from_slice(&4u16.to_le_bytes());
        // thiszone (8..12) and sigfigs (12..16) stay 0.
        header[16..20].copy_from_slice(&snaplen.to_le_bytes());
        header[20..24].copy_from_slice(&linktype.to_le_bytes());
        out.write_all(&header)?;
        Ok(PcapWriter {
            out,
            snaplen,
            packets: 0,
        })
    }

    /// Appends one packet captured at `ts` (time since the epoch); bytes beyond the snapshot
    /// length are cut, the original length is kept in the record.
    pub fn write_packet(&mut self, ts: Duration, data: &[u8]) -> io::Result<()> {
        let orig_len = u32::try_from(data.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "packet longer than 4 GiB"))?;
        let cap_len = orig_len.min(self.snaplen);
        let secs = u32::try_from(ts.as_secs()).map_err(|_| {
            io::Error::new(io::ErrorKind::InvalidInput, "timestamp after year 2106")
        })?;
        let mut record = [0u8; RECORD_HEADER_LEN];
        record[0..4].copy_from_slice(&secs.to_le_bytes());
        record[4..8].copy_from_slice(&ts.subsec_micros().to_le_bytes());
        record[8..12].copy_from_slice(&cap_len.to_le_bytes());
        record[12..16].copy_from_slice(&orig_len.to_le_bytes());
        self.out.write_all(&record)?;
        self.out.write_all(&data[..cap_len as usize])?;
        self.packets += 1;
        Ok(())
    }

    /// Number of packets written so far.
    pub fn packets(&self) -> u64 {
        self.packets
    }

    /// Flushes and returns the underlying writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}

/// Writes `frames` as an Ethernet capture at `path`, one microsecond apart.
pub fn write_file<P: AsRef<Path>>(path: P, frames: &[Vec<u8>]) -> io::Result<()> {
    let file = File::create(path)?;
    let mut writer = PcapWriter::new(BufWriter::new(file), DEFAULT_SNAPLEN, LINKTYPE_ETHERNET)?;
    for (i, frame) in frames.iter().enumerate() {
        writer.write_packet(Duration::from_micros(i as u64), frame)?;
    }
    writer.finish()?.into_inner().map_err(|e| e.into_error())?;
    Ok(())
}

/// A capture file that could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PcapError {
    /// Shorter than a global header, or a record runs past the end.
    Truncated { offset: usize },
    /// Not a classic microsecond pcap magic in either byte order.
    BadMagic(u32),
}

impl fmt::Display for PcapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PcapError::Truncated { offset } => write!(f, "pcap truncated at byte {offset}"),
            PcapError::BadMagic(m) => write!(f, "not a classic pcap file (magic {m:#010x})"),
        }
    }
}

impl std::error::Error for PcapError {}

/// A parsed capture: link type and the captured bytes of every packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capture {
    pub linktype: u32,
    pub snaplen: u32,
    pub packets: Vec<Vec<u8>>,
}

/// Reads a classic pcap file held in memory (either byte order).
pub fn parse(bytes: &[u8]) -> Result<Capture, PcapError> {
    let header = bytes
        .get(..GLOBAL_HEADER_LEN)
        .ok_or(PcapError::Truncated { offset: 0 })?;
    let magic_le = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
    let little = match magic_le {
        MAGIC_USEC => true,
        m if m.swap_bytes() == MAGIC_USEC => false,
        m => return Err(PcapError::BadMagic(m)),
    };
    let word = |b: &[u8]| {
        let a = [b[0], b[1], b[2], b[3]];
        if little {
            u32::from_le_bytes(a)
        } else {
            u32::from_be_bytes(a)
        }
    };
    let snaplen = word(&header[16..20]);
    let linktype = word(&header[20..24]);
    let mut packets = Vec::new();
    let mut offset = GLOBAL_HEADER_LEN;
    while offset < bytes.len() {
        let record = bytes
            .get(offset..offset + RECORD_HEADER_LEN)
            .ok_or(PcapError::Truncated { offset })?;
        let cap_len = word(&record[8..12]) as usize;
        let start = offset + RECORD_HEADER_LEN;
        let data = bytes
            .get(start..start + cap_len)
            .ok_or(PcapError::Truncated { offset })?;
        packets.push(data.to_vec());
        offset = start + cap_len;
    }
    Ok(Capture {
        linktype,
        snaplen,
        packets,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn global_header_bytes() {
        let w = PcapWriter::new(Vec::new(), 65_535, LINKTYPE_ETHERNET).unwrap();
        let out = w.finish().unwrap();
        assert_eq!(
            out,
            [
                0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 1, 0,
                0, 0
            ]
        );
    }

    #[test]
    fn record_bytes() {
        let mut w = PcapWriter::new(Vec::new(), 65_535, LINKTYPE_ETHERNET).unwrap();
        w.write_packet(Duration::new(3, 5_000), &[0xaa, 0xbb])
            .unwrap();
        assert_eq!(w.packets(), 1);
        let out = w.finish().unwrap();
        assert_eq!(
            &out[GLOBAL_HEADER_LEN..],
            [3, 0, 0, 0, 5, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 0xaa, 0xbb]
        );
    }

    #[test]
    fn snaplen_cuts_but_keeps_original_length() {
        let mut w = PcapWriter::new(Vec::new(), 4, LINKTYPE_ETHERNET).unwrap();
        w.write_packet(Duration::ZERO, &[1, 2, 3, 4, 5, 6]).unwrap();
        let out = w.finish().unwrap();
        assert_eq!(
            &out[GLOBAL_HEADER_LEN + 8..GLOBAL_HEADER_LEN + 16],
            [4, 0, 0, 0, 6, 0, 0, 0]
        );
        assert_eq!(parse(&out).unwrap().packets, vec![vec![1, 2, 3, 4]]);
    }

    #[test]
    fn round_trip() {
        let frames = vec![vec![1u8; 60], vec![2u8; 61], vec![]];
        let mut w = PcapWriter::new(Vec::new(), DEFAULT_SNAPLEN, LINKTYPE_ETHERNET).unwrap();
        for f in &frames {
            w.write_packet(Duration::ZERO, f).unwrap();
        }
        let cap = parse(&w.finish().unwrap()).unwrap();
        assert_eq!(cap.linktype, LINKTYPE_ETHERNET);
        assert_eq!(cap.snaplen, DEFAULT_SNAPLEN);
        assert_eq!(cap.packets, frames);
    }

    #[test]
    fn big_endian_files_are_read() {
        let mut be = Vec::new();
        be.extend_from_slice(&MAGIC_USEC.to_be_bytes());
        be.extend_from_slice(&[0, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 64, 0, 0, 0, 1]);
        be.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0x42]);
        let cap = parse(&be).unwrap();
        assert_eq!(cap.snaplen, 64);
        assert_eq!(cap.packets, vec![vec![0x42]]);
    }

    #[test]
    fn errors() {
        assert_eq!(parse(&[0; 10]), Err(PcapError::Truncated { offset: 0 }));
        assert_eq!(parse(&[0; 24]), Err(PcapError::BadMagic(0)));
        let mut w = PcapWriter::new(Vec::new(), DEFAULT_SNAPLEN, LINKTYPE_ETHERNET).unwrap();
        w.write_packet(Duration::ZERO, &[9; 8]).unwrap();
        let mut out = w.finish().unwrap();
        out.pop();
        assert_eq!(
            parse(&out),
            Err(PcapError::Truncated {
                offset: GLOBAL_HEADER_LEN
            })
        );
    }
}
