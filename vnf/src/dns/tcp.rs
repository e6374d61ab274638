//! TCP/53 from pods: redirected to a forward zone's server through the normal NAT path.
//!
//! The proxy answers DNS over UDP only. A pod's TCP connection to port 53 (typically the retry
//! after a truncated UDP answer) has its destination rewritten to the redirect target of its
//! family, before the SNAT stage, so the flow is translated like any other. On the way back,
//! after the SNAT (and NAT64) stages, the source of the server's segments is rewritten back to
//! the address and port the pod connected to, so the pod never sees the server.
//!
//! The target is chosen when the settings are applied (the query name is not known when the
//! connection opens): the first server of the `.` forward zone, else of the first zone, of the
//! pod's family. An IPv6 pod with only IPv4 servers is sent to the server's NAT64 address
//! (`nat64Enabled`). No target of the family: the packet passes untouched.
//!
//! The original destination is remembered per pod address and port in a preallocated table
//! (4-way probed by a keyed hash; a new connection takes over the entry used the longest ago).
//! Fragments and IPv6 packets with extension headers before TCP are not redirected.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use hickory_proto::rr::Name;

use super::{DnsSettings, DNS_PORT};
use crate::frame::Frame;
use crate::wire::checksum;

const WAYS: usize = 4;
const TCP: u8 = 6;
/// Connections remembered per worker (a power of two).
pub const TCP_REDIRECT_SLOTS: usize = 4096;

/// TCP/53 redirect counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TcpRedirectCounters {
    /// Pod segments whose destination was rewritten to the target.
    pub redirected: u64,
    /// Server segments whose source was rewritten back.
    pub restored: u64,
    /// Entries taken over from another connection (table full in that bucket).
    pub evicted: u64,
}

#[derive(Debug, Clone, Copy, Default)]
struct Entry {
    live: bool,
    pod: [u8; 16],
    pod_port: u16,
    /// What the pod connected to.
    orig: [u8; 16],
    /// What the segment was sent to instead.
    target: [u8; 16],
    target_port: u16,
    used: u64,
}

/// The redirect of one worker.
#[derive(Debug)]
pub struct TcpRedirect {
    target_v4: Option<(Ipv4Addr, u16)>,
    target_v6: Option<(Ipv6Addr, u16)>,
    entries: Vec<Entry>,
    mask: usize,
    seed: u64,
    live: usize,
    c: TcpRedirectCounters,
}

/// Where a TCP segment's fields are.
struct Seg {
    v6: bool,
    /// Offset of the TCP header.
    at: usize,
}

/// Locates the TCP header of an unfragmented IPv4 packet or of an IPv6 packet without
/// extension headers; checks that the header lies inside the datagram.
fn locate(d: &[u8]) -> Option<Seg> {
    let (v6, at, end) = match d.first()? >> 4 {
        4 => {
            let ihl = usize::from(d[0] & 0x0f) * 4;
            let total = usize::from(u16::from_be_bytes([*d.get(2)?, *d.get(3)?]));
            let frag = u16::from_be_bytes([*d.get(6)?, *d.get(7)?]);
            if ihl < 20 || *d.get(9)? != TCP || frag & 0x3fff != 0 {
                return None;
            }
            (false, ihl, total)
        }
        6 => {
            let plen = usize::from(u16::from_be_bytes([*d.get(4)?, *d.get(5)?]));
            if *d.get(6)? != TCP {
                return None;
            }
            (true, 40, 40 + plen)
        }
        _ => return None,
    };
    if end > d.len() || at + 20 > end {
        return None;
    }
    Some(Seg { v6, at })
}

fn rd16(d: &[u8], at: usize) -> u16 {
    d.get(at..at + 2)
        .map_or(0, |b| u16::from_be_bytes([b[0], b[1]]))
}

fn wr16(d: &mut [u8], at: usize, v: u16) {
    if let Some(b) = d.get_mut(at..at + 2) {
        b.copy_from_slice(&v.to_be_bytes());
    }
}

/// The address at `at` (4 or 16 bytes) in table form.
fn rd_addr(d: &[u8], at: usize, v6: bool) -> [u8; 16] {
    let mut a = [0u8; 16];
    if v6 {
        if let Some(b) = d.get(at..at + 16) {
            a.copy_from_slice(b);
        }
    } else if let Some(b) = d.get(at..at + 4) {
        a = Ipv4Addr::new(b[0], b[1], b[2], b[3])
            .to_ipv6_mapped()
            .octets();
    }
    a
}

/// Rewrites the address at `addr_at` and the port at `port_at` (TCP), fixing the TCP checksum
/// and, for IPv4, the header checksum.
fn rewrite(d: &mut [u8], s: &Seg, addr_at: usize, port_at: usize, addr: &[u8; 16], port: u16) {
    let (new, alen): (&[u8], usize) = if s.v6 {
        (&addr[..], 16)
    } else {
        (&addr[12..], 4)
    };
    let mut old = [0u8; 16];
    if let Some(b) = d.get(addr_at..addr_at + alen) {
        old[..alen].copy_from_slice(b);
    } else {
        return;
    }
    let old = &old[..alen];
    let tcsum_at = s.at + 16;
    let old_port = rd16(d, port_at);
    let mut c = rd16(d, tcsum_at);
    c = checksum::update_bytes(c, old, new);
    c = checksum::update_u16(c, old_port, port);
    wr16(d, tcsum_at, c);
    if !s.v6 {
        let h = checksum::update_bytes(rd16(d, 10), old, new);
        wr16(d, 10, h);
    }
    if let Some(b) = d.get_mut(addr_at..addr_at + alen) {
        b.copy_from_slice(new);
    }
    wr16(d, port_at, port);
}

impl TcpRedirect {
    /// An empty table of [`TCP_REDIRECT_SLOTS`] entries; targets from `cfg`.
    pub fn new(cfg: &DnsSettings, seed: u64) -> TcpRedirect {
        Self::with_slots(cfg, TCP_REDIRECT_SLOTS, seed)
    }

    /// An empty table of about `slots` entries.
    pub fn with_slots(cfg: &DnsSettings, slots: usize, seed: u64) -> TcpRedirect {
        let n = slots.clamp(WAYS, 1 << 20).next_power_of_two();
        let mut t = TcpRedirect {
            target_v4: None,
            target_v6: None,
            entries: vec![Entry::default(); n],
            mask: n - 1,
            seed,
            live: 0,
            c: TcpRedirectCounters::default(),
        };
        t.set_targets(cfg);
        t
    }

    /// Chooses the targets from the zones (`.` first, then in order) and the NAT64 prefix.
    pub fn set_targets(&mut self, cfg: &DnsSettings) {
        let root = Name::root();
        let order = cfg
            .zones
            .iter()
            .filter(|z| z.name == root)
            .chain(cfg.zones.iter().filter(|z| z.name != root));
        let servers: Vec<SocketAddr> = order.flat_map(|z| z.servers.iter().copied()).collect();
        self.target_v4 = servers.iter().find_map(|s| match s.ip() {
            IpAddr::V4(a) => Some((a, s.port())),
            IpAddr::V6(_) => None,
        });
        self.target_v6 = servers
            .iter()
            .find_map(|s| match s.ip() {
                IpAddr::V6(a) => Some((a, s.port())),
                IpAddr::V4(_) => None,
            })
            .or_else(|| {
                let d64 = cfg.dns64.as_ref()?;
                let (a, p) = self.target_v4?;
                Some((super::synth::embed_rfc6052(&d64.prefix, a)?, p))
            });
    }

    /// The targets in force (IPv4 pods, IPv6 pods).
    pub fn targets(&self) -> (Option<SocketAddr>, Option<SocketAddr>) {
        (
            self.target_v4
                .map(|(a, p)| SocketAddr::new(IpAddr::V4(a), p)),
            self.target_v6
                .map(|(a, p)| SocketAddr::new(IpAddr::V6(a), p)),
        )
    }

    pub fn counters(&self) -> TcpRedirectCounters {
        self.c
    }

    /// Connections remembered.
    pub fn len(&self) -> usize {
        self.live
    }

    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    fn hash(&self, a: &[u8; 16], port: u16) -> usize {
        let mut h = self.seed ^ 0x9e37_79b9_7f4a_7c15 ^ u64::from(port);
        for chunk in a.chunks_exact(8) {
            let mut w = [0u8; 8];
            w.copy_from_slice(chunk);
            h = (h ^ u64::from_le_bytes(w)).wrapping_mul(0xff51_afd7_ed55_8ccd);
            h ^= h >> 32;
        }
        h as usize
    }

    fn find(&self, pod: &[u8; 16], port: u16) -> Option<usize> {
        let start = self.hash(pod, port);
        (0..WAYS).map(|w| (start + w) & self.mask).find(|&i| {
            let e = &self.entries[i];
            e.live && e.pod_port == port && e.pod == *pod
        })
    }

    /// A pod's packet (internal VLAN, IP header first): TCP to port 53 gets the target of its
    /// family as destination. True if rewritten.
    pub fn redirect<F: Frame>(&mut self, pkt: &mut F, now: u64) -> bool {
        let d = pkt.data();
        let Some(s) = locate(d) else {
            return false;
        };
        if rd16(d, s.at + 2) != DNS_PORT {
            return false;
        }
        let (src_at, dst_at) = if s.v6 { (8, 24) } else { (12, 16) };
        let target = if s.v6 {
            self.target_v6.map(|(a, p)| (a.octets(), p))
        } else {
            self.target_v4
                .map(|(a, p)| (a.to_ipv6_mapped().octets(), p))
        };
        let Some((target, tport)) = target else {
            return false;
        };
        let pod = rd_addr(d, src_at, s.v6);
        let pod_port = rd16(d, s.at);
        let orig = rd_addr(d, dst_at, s.v6);
        if orig == target && tport == DNS_PORT {
            return false;
        }
        let i = match self.find(&pod, pod_port) {
            Some(i) => i,
            None => {
                let start = self.hash(&pod, pod_port);
                let mut victim = start & self.mask;
                for w in 0..WAYS {
                    let i = (start + w) & self.mask;
                    if !self.entries[i].live {
                        victim = i;
                        break;
                    }
                    if self.entries[i].used < self.entries[victim].used {
                        victim = i;
                    }
                }
                if self.entries[victim].live {
                    self.c.evicted += 1;
                } else {
                    self.live += 1;
                }
                victim
            }
        };
        self.entries[i] = Entry {
            live: true,
            pod,
            pod_port,
            orig,
            target,
            target_port: tport,
            used: now,
        };
        rewrite(pkt.data_mut(), &s, dst_at, s.at + 2, &target, tport);
        self.c.redirected += 1;
        true
    }

    /// A packet towards a pod (after the NAT stages, IP header first): a segment from the
    /// target to a redirected connection gets the pod's original destination back as source.
    /// True if rewritten.
    pub fn restore<F: Frame>(&mut self, pkt: &mut F) -> bool {
        if self.live == 0 {
            return false;
        }
        let d = pkt.data();
        let Some(s) = locate(d) else {
            return false;
        };
        let (src_at, dst_at) = if s.v6 { (8, 24) } else { (12, 16) };
        let pod = rd_addr(d, dst_at, s.v6);
        let pod_port = rd16(d, s.at + 2);
        let Some(i) = self.find(&pod, pod_port) else {
            return false;
        };
        let e = self.entries[i];
        if rd16(d, s.at) != e.target_port || rd_addr(d, src_at, s.v6) != e.target {
            return false;
        }
        rewrite(pkt.data_mut(), &s, src_at, s.at, &e.orig, DNS_PORT);
        self.c.restored += 1;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dns::{Dns64Settings, Prefix6, Zone};
    use crate::frame::VecFrame;
    use crate::wire::{Ipv4Packet, TcpPacket};

    const POD: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 5);
    const RESOLVER: Ipv4Addr = Ipv4Addr::new(10, 96, 0, 10);
    const ROOT_SERVER: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 53);

    fn name(s: &str) -> Name {
        Name::from_ascii(s).unwrap()
    }

    fn settings(dns64: bool) -> DnsSettings {
        DnsSettings {
            zones: vec![
                Zone {
                    name: name("corp.example."),
                    servers: vec!["203.0.113.53:5353".parse().unwrap()],
                },
                Zone {
                    name: Name::root(),
                    servers: vec![
                        SocketAddr::new(IpAddr::V4(ROOT_SERVER), 53),
                        "198.51.100.54:53".parse().unwrap(),
                    ],
                },
            ],
            dns64: dns64.then(|| Dns64Settings {
                prefix: Prefix6 {
                    addr: "64:ff9b::".parse().unwrap(),
                    len: 96,
                },
                exclusions: vec![],
            }),
            ..DnsSettings::default()
        }
    }

    /// A TCP segment `src:sport -> dst:dport` with a payload, checksums filled.
    fn tcp(src: IpAddr, sport: u16, dst: IpAddr, dport: u16, payload: &[u8]) -> VecFrame {
        let mut l4 = vec![0u8; 20 + payload.len()];
        l4[0..2].copy_from_slice(&sport.to_be_bytes());
        l4[2..4].copy_from_slice(&dport.to_be_bytes());
        l4[12] = 5 << 4;
        l4[13] = 0x18;
        l4[14..16].copy_from_slice(&1024u16.to_be_bytes());
        l4[20..].copy_from_slice(payload);
        let mut p = match (src, dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                TcpPacket::new_unchecked(&mut l4[..]).fill_checksum_v4(s, d);
                let mut p = vec![0u8; 20];
                p[0] = 0x45;
                p[2..4].copy_from_slice(&((20 + l4.len()) as u16).to_be_bytes());
                p[8] = 64;
                p[9] = TCP;
                p[12..16].copy_from_slice(&s.octets());
                p[16..20].copy_from_slice(&d.octets());
                p.extend_from_slice(&l4);
                Ipv4Packet::new_unchecked(&mut p[..]).fill_checksum();
                p
            }
            (IpAddr::V6(s), IpAddr::V6(d)) => {
                TcpPacket::new_unchecked(&mut l4[..]).fill_checksum_v6(&s, &d);
                let mut p = vec![0u8; 40];
                p[0] = 0x60;
                p[4..6].copy_from_slice(&(l4.len() as u16).to_be_bytes());
                p[6] = TCP;
                p[7] = 64;
                p[8..24].copy_from_slice(&s.octets());
                p[24..40].copy_from_slice(&d.octets());
                p.extend_from_slice(&l4);
                p
            }
            _ => unreachable!(),
        };
        p.shrink_to_fit();
        VecFrame::new(&p)
    }

    /// (src, sport, dst, dport) of a segment whose checksums are all valid.
    fn read(f: &VecFrame) -> (IpAddr, u16, IpAddr, u16) {
        let d = f.data();
        let s = locate(d).expect("a TCP segment");
        let seg = TcpPacket::new_unchecked(&d[s.at..]);
        let (src, dst) = if s.v6 {
            let a = Ipv6Addr::from(<[u8; 16]>::try_from(&d[8..24]).unwrap());
            let b = Ipv6Addr::from(<[u8; 16]>::try_from(&d[24..40]).unwrap());
            assert!(seg.verify_checksum_v6(&a, &b), "TCP checksum");
            (IpAddr::V6(a), IpAddr::V6(b))
        } else {
            let a = Ipv4Addr::new(d[12], d[13], d[14], d[15]);
            let b = Ipv4Addr::new(d[16], d[17], d[18], d[19]);
            assert!(
                Ipv4Packet::new_unchecked(d).verify_checksum(),
                "IPv4 checksum"
            );
            assert!(seg.verify_checksum_v4(a, b), "TCP checksum");
            (IpAddr::V4(a), IpAddr::V4(b))
        };
        (src, seg.src_port(), dst, seg.dst_port())
    }

    #[test]
    fn tcp53_goes_to_the_root_zone_server_and_comes_back_from_the_original_destination() {
        let mut t = TcpRedirect::new(&settings(false), 1);
        let (pod, res, srv) = (
            IpAddr::V4(POD),
            IpAddr::V4(RESOLVER),
            IpAddr::V4(ROOT_SERVER),
        );
        let mut q = tcp(pod, 40000, res, 53, b"\x00\x1dquery");
        assert!(t.redirect(&mut q, 10));
        assert_eq!(read(&q), (pod, 40000, srv, 53), "destination rewritten");
        assert_eq!(&q.data()[40..], b"\x00\x1dquery", "payload untouched");
        // The server's answer (after the SNAT stage: addressed to the pod again).
        let mut a = tcp(srv, 53, pod, 40000, b"answer");
        assert!(t.restore(&mut a));
        assert_eq!(
            read(&a),
            (res, 53, pod, 40000),
            "the pod sees its resolver address"
        );
        let c = t.counters();
        assert_eq!((c.redirected, c.restored, c.evicted), (1, 1, 0));
        // A second segment of the same connection: same rewrite, still one entry.
        let mut q2 = tcp(pod, 40000, res, 53, b"more");
        assert!(t.redirect(&mut q2, 20));
        assert_eq!(read(&q2).2, srv);
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn a_server_on_another_port_is_reached_on_that_port() {
        let mut s = settings(false);
        s.zones.remove(1);
        let mut t = TcpRedirect::new(&s, 1);
        let (pod, res) = (IpAddr::V4(POD), IpAddr::V4(RESOLVER));
        let srv: IpAddr = "203.0.113.53".parse().unwrap();
        let mut q = tcp(pod, 40001, res, 53, b"q");
        assert!(t.redirect(&mut q, 0));
        assert_eq!(read(&q), (pod, 40001, srv, 5353));
        let mut a = tcp(srv, 5353, pod, 40001, b"a");
        assert!(t.restore(&mut a));
        assert_eq!(read(&a), (res, 53, pod, 40001));
    }

    #[test]
    fn ipv6_pods_reach_an_ipv4_only_server_through_its_nat64_address() {
        let pod6: IpAddr = "fd00:1::5".parse().unwrap();
        let res6: IpAddr = "fd00:96::10".parse().unwrap();
        let nat64: IpAddr = "64:ff9b::c633:6435".parse().unwrap();
        let mut t = TcpRedirect::new(&settings(true), 1);
        let mut q = tcp(pod6, 40000, res6, 53, b"q");
        assert!(t.redirect(&mut q, 0));
        assert_eq!(read(&q), (pod6, 40000, nat64, 53));
        let mut a = tcp(nat64, 53, pod6, 40000, b"a");
        assert!(t.restore(&mut a));
        assert_eq!(read(&a), (res6, 53, pod6, 40000));
        // Without NAT64 there is no IPv6 target: the segment passes untouched.
        let mut t = TcpRedirect::new(&settings(false), 1);
        let mut q = tcp(pod6, 40000, res6, 53, b"q");
        assert!(!t.redirect(&mut q, 0));
        assert_eq!(read(&q), (pod6, 40000, res6, 53));
    }

    #[test]
    fn other_traffic_is_never_rewritten() {
        let mut t = TcpRedirect::new(&settings(false), 1);
        let (pod, res, srv) = (
            IpAddr::V4(POD),
            IpAddr::V4(RESOLVER),
            IpAddr::V4(ROOT_SERVER),
        );
        // Not port 53; a fragment; a non-TCP packet; garbage.
        let mut f = tcp(pod, 40000, res, 80, b"x");
        assert!(!t.redirect(&mut f, 0));
        let mut frag = tcp(pod, 40000, res, 53, b"x");
        frag.data_mut()[6] = 0x20;
        assert!(!t.redirect(&mut frag, 0));
        let mut udp = tcp(pod, 40000, res, 53, b"x");
        udp.data_mut()[9] = 17;
        assert!(!t.redirect(&mut udp, 0));
        for n in 0..60 {
            let mut g = VecFrame::new(&vec![0x45; n]);
            assert!(!t.redirect(&mut g, 0));
            assert!(!t.restore(&mut g));
        }
        assert!(t.is_empty());
        // Restore only touches segments from the target to a redirected pod port.
        let mut q = tcp(pod, 40000, res, 53, b"q");
        assert!(t.redirect(&mut q, 0));
        let other_src = tcp("198.51.100.99".parse().unwrap(), 53, pod, 40000, b"a");
        let other_port = tcp(srv, 54, pod, 40000, b"a");
        let other_pod_port = tcp(srv, 53, pod, 40002, b"a");
        for mut f in [other_src, other_port, other_pod_port] {
            let before = f.data().to_vec();
            assert!(!t.restore(&mut f));
            assert_eq!(f.data(), &before[..]);
        }
        assert_eq!(t.counters().restored, 0);
    }

    #[test]
    fn the_connection_table_is_bounded() {
        let mut t = TcpRedirect::with_slots(&settings(false), 16, 3);
        let res = IpAddr::V4(RESOLVER);
        for i in 0..10_000u32 {
            let pod = IpAddr::V4(Ipv4Addr::from(0x0a01_0000 + (i >> 4)));
            let mut q = tcp(pod, 1024 + (i & 15) as u16, res, 53, b"q");
            assert!(t.redirect(&mut q, u64::from(i)));
        }
        assert_eq!(t.entries.len(), 16);
        assert!(t.len() <= 16);
        assert_eq!(t.counters().evicted, 10_000 - t.len() as u64);
        // The most recent connection is still remembered.
        let last = IpAddr::V4(Ipv4Addr::from(0x0a01_0000 + (9_999 >> 4)));
        let mut a = tcp(IpAddr::V4(ROOT_SERVER), 53, last, 1024 + 15, b"a");
        assert!(t.restore(&mut a));
    }
}
