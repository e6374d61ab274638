//! `tshark` as an independent oracle for the packets the VNF emits.
//!
//! Method: decode with IPv4/TCP/UDP checksum validation on and print, per frame, the expert
//! info group, severity and message plus `_ws.malformed`. A frame is bad when any expert item is
//! in the checksum group (any severity: Wireshark reports bad ICMP/ICMPv6 checksums as warnings
//! and bad IPv4/TCP/UDP ones as errors), in the malformed group, has error severity, or the
//! frame carries `_ws.malformed`. Chat and note items (a TCP SYN) and ordinary warnings (a
//! sequence gap in a partial capture) are fine.

use anyhow::{bail, Context, Result};
use std::path::Path;
use std::process::Command;

/// Wireshark expert groups (epan/proto.h).
pub const PI_CHECKSUM: u32 = 0x0100_0000;
pub const PI_MALFORMED: u32 = 0x0700_0000;
/// Wireshark expert severity "error".
pub const PI_ERROR: u32 = 0x0080_0000;

const SEP: char = '\u{1f}';
const AGG: char = '\u{1e}';

/// One expert item tshark reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expert {
    pub group: u32,
    pub severity: u32,
    pub message: String,
}

impl Expert {
    /// Whether this item makes the frame fail the oracle.
    pub fn is_problem(&self) -> bool {
        self.group == PI_CHECKSUM || self.group == PI_MALFORMED || self.severity >= PI_ERROR
    }
}

/// One decoded frame.
#[derive(Debug, Clone)]
pub struct Frame {
    pub number: u64,
    /// `eth:ethertype:ip:udp:data` style protocol stack.
    pub protocols: String,
    pub experts: Vec<Expert>,
    pub malformed: bool,
}

impl Frame {
    pub fn problems(&self) -> Vec<String> {
        let mut p: Vec<String> = self
            .experts
            .iter()
            .filter(|e| e.is_problem())
            .map(|e| e.message.clone())
            .collect();
        if self.malformed && p.is_empty() {
            p.push("malformed packet".into());
        }
        p
    }
}

/// Decodes every frame of a pcap file.
pub fn decode(pcap: &Path) -> Result<Vec<Frame>> {
    let out = Command::new("tshark")
        .arg("-r")
        .arg(pcap)
        .args([
            "-n",
            "-o",
            "ip.check_checksum:TRUE",
            "-o",
            "tcp.check_checksum:TRUE",
            "-o",
            "udp.check_checksum:TRUE",
            "-T",
            "fields",
            "-E",
            "occurrence=a",
            "-E",
            &format!("separator={SEP}"),
            "-E",
            &format!("aggregator={AGG}"),
            "-e",
            "frame.number",
            "-e",
            "frame.protocols",
            "-e",
            "_ws.expert.group",
            "-e",
            "_ws.expert.severity",
            "-e",
            "_ws.expert.message",
            "-e",
            "_ws.malformed",
        ])
        .output()
        .context("cannot run tshark (installed by `make setup`)")?;
    if !out.status.success() {
        bail!(
            "tshark -r {} failed ({}): {}",
            pcap.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let text = String::from_utf8(out.stdout).context("tshark output is not UTF-8")?;
    let mut frames = Vec::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        let f: Vec<&str> = line.split(SEP).collect();
        if f.len() != 6 {
            bail!("unexpected tshark line {line:?}");
        }
        let list = |s: &str| -> Vec<String> {
            if s.is_empty() {
                vec![]
            } else {
                s.split(AGG).map(String::from).collect()
            }
        };
        let groups = list(f[2]);
        let severities = list(f[3]);
        let messages = list(f[4]);
        let mut experts = Vec::new();
        for (i, g) in groups.iter().enumerate() {
            experts.push(Expert {
                group: g.parse().with_context(|| format!("expert group {g:?}"))?,
                severity: severities
                    .get(i)
                    .map(|s| s.parse())
                    .transpose()?
                    .unwrap_or(PI_ERROR),
                message: messages.get(i).cloned().unwrap_or_default(),
            });
        }
        frames.push(Frame {
            number: f[0]
                .parse()
                .with_context(|| format!("frame number {:?}", f[0]))?,
            protocols: f[1].to_string(),
            experts,
            malformed: !f[5].is_empty(),
        });
    }
    Ok(frames)
}

/// Decodes a pcap and fails if tshark finds any malformed frame or bad checksum, or decodes a
/// different number of frames than `expected_frames` (when given). Returns the frames.
pub fn assert_clean(pcap: &Path, expected_frames: Option<usize>) -> Result<Vec<Frame>> {
    let frames = decode(pcap)?;
    if let Some(n) = expected_frames {
        if frames.len() != n {
            bail!(
                "tshark decoded {} frames in {}, expected {n}",
                frames.len(),
                pcap.display()
            );
        }
    }
    let bad: Vec<String> = frames
        .iter()
        .filter(|f| !f.problems().is_empty())
        .map(|f| {
            format!(
                "frame {} ({}): {}",
                f.number,
                f.protocols,
                f.problems().join("; ")
            )
        })
        .collect();
    if !bad.is_empty() {
        bail!(
            "tshark found problems in {}:\n{}",
            pcap.display(),
            bad.join("\n")
        );
    }
    Ok(frames)
}
