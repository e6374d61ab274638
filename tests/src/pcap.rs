//! Classic libpcap files (not pcapng): a writer of Ethernet captures and a reader that accepts
//! both byte orders and both microsecond and nanosecond timestamps.
//!
//! File header (24 bytes): magic, version 2.4, thiszone, sigfigs, snaplen, link type. Record
//! header (16 bytes): seconds, sub-second fraction, captured length, original length.

use anyhow::{bail, Context, Result};
use std::path::Path;

/// Link type of Ethernet captures (`LINKTYPE_ETHERNET`).
pub const LINKTYPE_ETHERNET: u32 = 1;
const MAGIC_USEC: u32 = 0xa1b2_c3d4;
const MAGIC_NSEC: u32 = 0xa1b2_3c4d;
const SNAPLEN: u32 = 65535;

/// One captured packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    pub ts_sec: u32,
    /// Microseconds, or nanoseconds if the file says so.
    pub ts_frac: u32,
    /// Length on the wire (at least `data.len()`).
    pub orig_len: u32,
    pub data: Vec<u8>,
}

impl Packet {
    /// A packet captured whole, at `ts_sec`.`ts_frac`.
    pub fn new(ts_sec: u32, ts_frac: u32, data: Vec<u8>) -> Packet {
        Packet {
            ts_sec,
            ts_frac,
            orig_len: data.len() as u32,
            data,
        }
    }
}

/// The contents of a pcap file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pcap {
    pub linktype: u32,
    pub nanosecond: bool,
    pub packets: Vec<Packet>,
    /// Bytes after the last complete record (a file still being written); 0 for a whole file.
    pub trailing_bytes: usize,
}

/// Serialises packets as a little-endian microsecond pcap of Ethernet frames.
pub fn to_bytes(packets: &[Packet]) -> Vec<u8> {
    let mut out = Vec::with_capacity(24 + packets.iter().map(|p| 16 + p.data.len()).sum::<usize>());
    out.extend_from_slice(&MAGIC_USEC.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&0i32.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&SNAPLEN.to_le_bytes());
    out.extend_from_slice(&LINKTYPE_ETHERNET.to_le_bytes());
    for p in packets {
        out.extend_from_slice(&p.ts_sec.to_le_bytes());
        out.extend_from_slice(&p.ts_frac.to_le_bytes());
        out.extend_from_slice(&(p.data.len() as u32).to_le_bytes());
        out.extend_from_slice(&p.orig_len.max(p.data.len() as u32).to_le_bytes());
        out.extend_from_slice(&p.data);
    }
    out
}

/// Writes packets to `path` (see [`to_bytes`]).
pub fn write(path: &Path, packets: &[Packet]) -> Result<()> {
    std::fs::write(path, to_bytes(packets)).with_context(|| format!("writing {}", path.display()))
}

/// Writes frames to `path` with timestamps one millisecond apart.
pub fn write_frames(path: &Path, frames: &[Vec<u8>]) -> Result<()> {
    let packets: Vec<Packet> = frames
        .iter()
        .enumerate()
        .map(|(i, f)| Packet::new(1_700_000_000, (i as u32) * 1000, f.clone()))
        .collect();
    write(path, &packets)
}

/// Parses a whole pcap file; a truncated last record is an error.
pub fn parse(bytes: &[u8]) -> Result<Pcap> {
    let p = parse_lenient(bytes)?;
    if p.trailing_bytes != 0 {
        bail!(
            "{} bytes of an incomplete record at the end",
            p.trailing_bytes
        );
    }
    Ok(p)
}

/// Parses the complete records of a pcap file that may still be growing.
pub fn parse_lenient(bytes: &[u8]) -> Result<Pcap> {
    if bytes.len() < 24 {
        bail!("{} bytes is too short for a pcap file header", bytes.len());
    }
    let magic_le = u32::from_le_bytes(bytes[0..4].try_into().unwrap());
    let magic_be = u32::from_be_bytes(bytes[0..4].try_into().unwrap());
    let (big_endian, nanosecond) = match (magic_le, magic_be) {
        (MAGIC_USEC, _) => (false, false),
        (MAGIC_NSEC, _) => (false, true),
        (_, MAGIC_USEC) => (true, false),
        (_, MAGIC_NSEC) => (true, true),
        _ => bail!("not a classic pcap file (magic {magic_le:#010x})"),
    };
    let u32_at = |off: usize| -> u32 {
        let b: [u8; 4] = bytes[off..off + 4].try_into().unwrap();
        if big_endian {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        }
    };
    let major_bytes = [bytes[4], bytes[5]];
    let major = if big_endian {
        u16::from_be_bytes(major_bytes)
    } else {
        u16::from_le_bytes(major_bytes)
    };
    if major != 2 {
        bail!("unsupported pcap major version {major}");
    }
    let linktype = u32_at(20) & 0x0fff_ffff;
    let mut packets = Vec::new();
    let mut off = 24;
    while off + 16 <= bytes.len() {
        let incl = u32_at(off + 8) as usize;
        if incl > 0x0400_0000 {
            bail!("record at offset {off} claims {incl} bytes");
        }
        if off + 16 + incl > bytes.len() {
            break;
        }
        packets.push(Packet {
            ts_sec: u32_at(off),
            ts_frac: u32_at(off + 4),
            orig_len: u32_at(off + 12),
            data: bytes[off + 16..off + 16 + incl].to_vec(),
        });
        off += 16 + incl;
    }
    Ok(Pcap {
        linktype,
        nanosecond,
        packets,
        trailing_bytes: bytes.len() - off,
    })
}

/// Reads a whole pcap file.
pub fn read(path: &Path) -> Result<Pcap> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    parse(&bytes).with_context(|| format!("parsing {}", path.display()))
}

/// The number of complete records in a pcap file that may still be growing; 0 if the file does
/// not exist yet or has no complete header.
pub fn count_packets(path: &Path) -> usize {
    std::fs::read(path)
        .ok()
        .and_then(|b| parse_lenient(&b).ok())
        .map_or(0, |p| p.packets.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_then_read_gives_the_same_packets() {
        let pkts = vec![
            Packet::new(1, 2, vec![0xaa; 60]),
            Packet::new(3, 999_999, (0..=255u8).cycle().take(1514).collect()),
        ];
        let bytes = to_bytes(&pkts);
        assert_eq!(bytes.len(), 24 + 16 + 60 + 16 + 1514);
        let p = parse(&bytes).unwrap();
        assert_eq!(p.linktype, LINKTYPE_ETHERNET);
        assert!(!p.nanosecond);
        assert_eq!(p.packets, pkts);
    }

    #[test]
    fn header_is_the_classic_little_endian_one() {
        let bytes = to_bytes(&[]);
        assert_eq!(
            bytes,
            [
                0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 1, 0,
                0, 0
            ]
        );
    }

    #[test]
    fn reads_big_endian_nanosecond_files() {
        let mut b = vec![0xa1, 0xb2, 0x3c, 0x4d, 0, 2, 0, 4];
        b.extend_from_slice(&[0; 8]);
        b.extend_from_slice(&65535u32.to_be_bytes());
        b.extend_from_slice(&1u32.to_be_bytes());
        b.extend_from_slice(&7u32.to_be_bytes());
        b.extend_from_slice(&123_456_789u32.to_be_bytes());
        b.extend_from_slice(&3u32.to_be_bytes());
        b.extend_from_slice(&64u32.to_be_bytes());
        b.extend_from_slice(&[1, 2, 3]);
        let p = parse(&b).unwrap();
        assert!(p.nanosecond);
        assert_eq!(
            p.packets,
            vec![Packet {
                ts_sec: 7,
                ts_frac: 123_456_789,
                orig_len: 64,
                data: vec![1, 2, 3]
            }]
        );
    }

    #[test]
    fn a_growing_file_yields_its_complete_records() {
        let mut bytes = to_bytes(&[
            Packet::new(0, 0, vec![1; 60]),
            Packet::new(0, 1, vec![2; 60]),
        ]);
        bytes.truncate(bytes.len() - 10);
        assert!(parse(&bytes).is_err());
        let p = parse_lenient(&bytes).unwrap();
        assert_eq!(p.packets.len(), 1);
        assert_eq!(p.trailing_bytes, 66);
        assert!(parse(b"not a pcap file at all!!").is_err());
    }
}
