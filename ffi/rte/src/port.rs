//! Ethernet ports: configuration, start/stop, RX/TX bursts, MAC, link, statistics.

use crate::error::{check, DpdkError};
use crate::mbuf::{Burst, BURST_SIZE};
use crate::mempool::Mempool;
use std::ffi::CStr;
use std::os::raw::c_char;

/// A DPDK port id (port id 0 is named `1.1` by the VNF).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PortId(pub u16);

/// A queue index on a port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct QueueId(pub u16);

impl std::fmt::Display for PortId {
    /// The VNF's port name: `1.<id+1>`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "1.{}", self.0 as u32 + 1)
    }
}

/// How to set a port up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortConfig {
    pub rx_queues: u16,
    pub tx_queues: u16,
    pub rx_desc: u16,
    pub tx_desc: u16,
    /// MTU to set, if any (ignored with a warning by drivers that cannot change it).
    pub mtu: Option<u16>,
}

/// Port counters (`rte_eth_stats`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PortStats {
    pub rx_packets: u64,
    pub tx_packets: u64,
    pub rx_bytes: u64,
    pub tx_bytes: u64,
    /// Packets dropped by the NIC because no RX descriptor was free.
    pub rx_missed: u64,
    pub rx_errors: u64,
    pub tx_errors: u64,
    /// RX mbuf allocation failures.
    pub rx_nombuf: u64,
}

/// Link state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Link {
    pub up: bool,
    /// Mbit/s (0 = unknown).
    pub speed_mbps: u32,
    pub full_duplex: bool,
}

/// What the driver says about the device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DevInfo {
    pub driver: String,
    pub max_rx_queues: u16,
    pub max_tx_queues: u16,
    pub min_mtu: u16,
    pub max_mtu: u16,
    pub max_rx_pktlen: u32,
    pub rss_offloads: u64,
    pub socket: i32,
}

/// A probed port. A handle (copyable); valid for the life of the EAL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Port {
    id: PortId,
}

// RSS hash types (RTE_ETH_RSS_*; macros that bindgen cannot evaluate).
const RSS_IPV4: u64 = 1 << 2;
const RSS_FRAG_IPV4: u64 = 1 << 3;
const RSS_NONFRAG_IPV4_TCP: u64 = 1 << 4;
const RSS_NONFRAG_IPV4_UDP: u64 = 1 << 5;
const RSS_NONFRAG_IPV4_OTHER: u64 = 1 << 7;
const RSS_IPV6: u64 = 1 << 8;
const RSS_FRAG_IPV6: u64 = 1 << 9;
const RSS_NONFRAG_IPV6_TCP: u64 = 1 << 10;
const RSS_NONFRAG_IPV6_UDP: u64 = 1 << 11;
const RSS_NONFRAG_IPV6_OTHER: u64 = 1 << 13;
/// The hash types the VNF asks for when a port has several RX queues.
pub const RSS_WANTED: u64 = RSS_IPV4
    | RSS_FRAG_IPV4
    | RSS_NONFRAG_IPV4_TCP
    | RSS_NONFRAG_IPV4_UDP
    | RSS_NONFRAG_IPV4_OTHER
    | RSS_IPV6
    | RSS_FRAG_IPV6
    | RSS_NONFRAG_IPV6_TCP
    | RSS_NONFRAG_IPV6_UDP
    | RSS_NONFRAG_IPV6_OTHER;

impl Port {
    /// Every valid port, in probe order (port id order).
    pub fn all() -> Vec<Port> {
        (0..dpdk_sys::RTE_MAX_ETHPORTS as u16)
            // SAFETY: is_valid_port only reads the port table.
            .filter(|&id| unsafe { dpdk_sys::rte_eth_dev_is_valid_port(id) } == 1)
            .map(|id| Port { id: PortId(id) })
            .collect()
    }

    /// The port with this id, if it exists.
    pub fn get(id: PortId) -> Option<Port> {
        // SAFETY: is_valid_port only reads the port table.
        (unsafe { dpdk_sys::rte_eth_dev_is_valid_port(id.0) } == 1).then_some(Port { id })
    }

    /// Its id.
    #[inline]
    pub fn id(&self) -> PortId {
        self.id
    }

    /// The device name (e.g. `net_pcap0`, `0000:3b:02.0`).
    pub fn name(&self) -> String {
        let mut buf = [0 as c_char; dpdk_sys::RTE_ETH_NAME_MAX_LEN as usize];
        // SAFETY: buf has RTE_ETH_NAME_MAX_LEN bytes as the API requires.
        let r = unsafe { dpdk_sys::rte_eth_dev_get_name_by_port(self.id.0, buf.as_mut_ptr()) };
        if r != 0 {
            return format!("port{}", self.id.0);
        }
        // SAFETY: on success buf holds a NUL-terminated string.
        unsafe { CStr::from_ptr(buf.as_ptr()) }
            .to_string_lossy()
            .into_owned()
    }

    /// Device information.
    pub fn info(&self) -> Result<DevInfo, DpdkError> {
        let mut info = dpdk_sys::rte_eth_dev_info::default();
        // SAFETY: info is a valid out-parameter.
        check("rte_eth_dev_info_get", unsafe {
            dpdk_sys::rte_eth_dev_info_get(self.id.0, &mut info)
        })?;
        let driver = if info.driver_name.is_null() {
            String::new()
        } else {
            // SAFETY: driver_name points to the driver's static name.
            unsafe { CStr::from_ptr(info.driver_name) }
                .to_string_lossy()
                .into_owned()
        };
        Ok(DevInfo {
            driver,
            max_rx_queues: info.max_rx_queues,
            max_tx_queues: info.max_tx_queues,
            min_mtu: info.min_mtu,
            max_mtu: info.max_mtu,
            max_rx_pktlen: info.max_rx_pktlen,
            rss_offloads: info.flow_type_rss_offloads,
            socket: self.socket(),
        })
    }

    /// NUMA socket of the device (-1 when unknown).
    pub fn socket(&self) -> i32 {
        // SAFETY: reads the port's data.
        unsafe { dpdk_sys::rte_eth_dev_socket_id(self.id.0) }
    }

    /// Configures queues (RSS over IP/TCP/UDP when there are several RX queues) and sets them up
    /// with mbufs from `pool`. The port must be stopped.
    pub fn configure(&self, conf: &PortConfig, pool: &Mempool) -> Result<(), DpdkError> {
        let info = self.info()?;
        if conf.rx_queues == 0 || conf.rx_queues > info.max_rx_queues.max(1) {
            return Err(DpdkError::invalid(
                "rte_eth_dev_configure",
                format!(
                    "port {} ({}) supports {} RX queues, {} requested",
                    self.id,
                    self.name(),
                    info.max_rx_queues,
                    conf.rx_queues
                ),
            ));
        }
        if conf.tx_queues == 0 || conf.tx_queues > info.max_tx_queues.max(1) {
            return Err(DpdkError::invalid(
                "rte_eth_dev_configure",
                format!(
                    "port {} ({}) supports {} TX queues, {} requested",
                    self.id,
                    self.name(),
                    info.max_tx_queues,
                    conf.tx_queues
                ),
            ));
        }
        let mut eth_conf = dpdk_sys::rte_eth_conf::default();
        if conf.rx_queues > 1 && info.rss_offloads & RSS_WANTED != 0 {
            eth_conf.rxmode.mq_mode = dpdk_sys::RTE_ETH_MQ_RX_RSS;
            eth_conf.rx_adv_conf.rss_conf.rss_hf = RSS_WANTED & info.rss_offloads;
        }
        // SAFETY: eth_conf is a valid, fully initialised configuration.
        check("rte_eth_dev_configure", unsafe {
            dpdk_sys::rte_eth_dev_configure(self.id.0, conf.rx_queues, conf.tx_queues, &eth_conf)
        })?;
        let (mut nb_rx, mut nb_tx) = (conf.rx_desc, conf.tx_desc);
        // SAFETY: valid out-parameters.
        check("rte_eth_dev_adjust_nb_rx_tx_desc", unsafe {
            dpdk_sys::rte_eth_dev_adjust_nb_rx_tx_desc(self.id.0, &mut nb_rx, &mut nb_tx)
        })?;
        let socket = self.socket();
        for q in 0..conf.rx_queues {
            // SAFETY: NULL rx_conf selects the driver defaults; the pool outlives the port.
            check("rte_eth_rx_queue_setup", unsafe {
                dpdk_sys::rte_eth_rx_queue_setup(
                    self.id.0,
                    q,
                    nb_rx,
                    socket as u32,
                    std::ptr::null(),
                    pool.as_ptr(),
                )
            })?;
        }
        for q in 0..conf.tx_queues {
            // SAFETY: NULL tx_conf selects the driver defaults.
            check("rte_eth_tx_queue_setup", unsafe {
                dpdk_sys::rte_eth_tx_queue_setup(
                    self.id.0,
                    q,
                    nb_tx,
                    socket as u32,
                    std::ptr::null(),
                )
            })?;
        }
        if let Some(mtu) = conf.mtu {
            // SAFETY: plain call on a configured port.
            let r = unsafe { dpdk_sys::rte_eth_dev_set_mtu(self.id.0, mtu) };
            // Virtual devices often cannot change the MTU: not fatal, reported to the caller.
            if r < 0 && r != -95 {
                check("rte_eth_dev_set_mtu", r)?;
            }
        }
        Ok(())
    }

    /// Starts the port.
    pub fn start(&self) -> Result<(), DpdkError> {
        // SAFETY: plain call on a configured port.
        check("rte_eth_dev_start", unsafe {
            dpdk_sys::rte_eth_dev_start(self.id.0)
        })
        .map(|_| ())
    }

    /// Stops the port (no RX/TX may run on it afterwards).
    pub fn stop(&self) -> Result<(), DpdkError> {
        // SAFETY: plain call.
        check("rte_eth_dev_stop", unsafe {
            dpdk_sys::rte_eth_dev_stop(self.id.0)
        })
        .map(|_| ())
    }

    /// Closes the port and releases its resources (after `stop`).
    pub fn close(&self) -> Result<(), DpdkError> {
        // SAFETY: plain call.
        check("rte_eth_dev_close", unsafe {
            dpdk_sys::rte_eth_dev_close(self.id.0)
        })
        .map(|_| ())
    }

    /// Enables or disables promiscuous mode.
    pub fn set_promiscuous(&self, on: bool) -> Result<(), DpdkError> {
        // SAFETY: plain calls.
        let r = unsafe {
            if on {
                dpdk_sys::rte_eth_promiscuous_enable(self.id.0)
            } else {
                dpdk_sys::rte_eth_promiscuous_disable(self.id.0)
            }
        };
        // Drivers without the feature answer -ENOTSUP: not an error for us.
        if r == -95 {
            return Ok(());
        }
        check("rte_eth_promiscuous_enable", r).map(|_| ())
    }

    /// Enables all-multicast reception (needed for IPv6 solicited-node groups).
    pub fn set_allmulticast(&self) -> Result<(), DpdkError> {
        // SAFETY: plain call.
        let r = unsafe { dpdk_sys::rte_eth_allmulticast_enable(self.id.0) };
        if r == -95 {
            return Ok(());
        }
        check("rte_eth_allmulticast_enable", r).map(|_| ())
    }

    /// The port's MAC address.
    pub fn mac(&self) -> Result<[u8; 6], DpdkError> {
        let mut a = dpdk_sys::rte_ether_addr::default();
        // SAFETY: valid out-parameter.
        check("rte_eth_macaddr_get", unsafe {
            dpdk_sys::rte_eth_macaddr_get(self.id.0, &mut a)
        })?;
        Ok(a.addr_bytes)
    }

    /// Link state, without waiting.
    pub fn link(&self) -> Result<Link, DpdkError> {
        let mut l = dpdk_sys::rte_eth_link::default();
        // SAFETY: valid out-parameter.
        check("rte_eth_link_get_nowait", unsafe {
            dpdk_sys::rte_eth_link_get_nowait(self.id.0, &mut l)
        })?;
        Ok(Link {
            up: l.link_status() != 0,
            speed_mbps: if l.link_speed == u32::MAX {
                0
            } else {
                l.link_speed
            },
            full_duplex: l.link_duplex() != 0,
        })
    }

    /// Basic counters.
    pub fn stats(&self) -> Result<PortStats, DpdkError> {
        let mut s = dpdk_sys::rte_eth_stats::default();
        // SAFETY: valid out-parameter.
        check("rte_eth_stats_get", unsafe {
            dpdk_sys::rte_eth_stats_get(self.id.0, &mut s)
        })?;
        Ok(PortStats {
            rx_packets: s.ipackets,
            tx_packets: s.opackets,
            rx_bytes: s.ibytes,
            tx_bytes: s.obytes,
            rx_missed: s.imissed,
            rx_errors: s.ierrors,
            tx_errors: s.oerrors,
            rx_nombuf: s.rx_nombuf,
        })
    }

    /// Resets the basic counters.
    pub fn reset_stats(&self) -> Result<(), DpdkError> {
        // SAFETY: plain call.
        check("rte_eth_stats_reset", unsafe {
            dpdk_sys::rte_eth_stats_reset(self.id.0)
        })
        .map(|_| ())
    }

    /// Extended counters, by name.
    pub fn xstats(&self) -> Result<Vec<(String, u64)>, DpdkError> {
        // SAFETY: NULL/0 asks for the count.
        let n = check("rte_eth_xstats_get_names", unsafe {
            dpdk_sys::rte_eth_xstats_get_names(self.id.0, std::ptr::null_mut(), 0)
        })? as usize;
        let mut names = vec![dpdk_sys::rte_eth_xstat_name::default(); n];
        let mut vals = vec![dpdk_sys::rte_eth_xstat::default(); n];
        // SAFETY: the arrays have n elements.
        let got_names = check("rte_eth_xstats_get_names", unsafe {
            dpdk_sys::rte_eth_xstats_get_names(self.id.0, names.as_mut_ptr(), n as u32)
        })? as usize;
        // SAFETY: as above.
        let got_vals = check("rte_eth_xstats_get", unsafe {
            dpdk_sys::rte_eth_xstats_get(self.id.0, vals.as_mut_ptr(), n as u32)
        })? as usize;
        let mut out = Vec::with_capacity(n);
        for v in vals.iter().take(got_vals.min(n)) {
            let idx = v.id as usize;
            if idx < got_names.min(n) {
                // SAFETY: names[idx].name is a NUL-terminated fixed array filled by DPDK.
                let name = unsafe { CStr::from_ptr(names[idx].name.as_ptr()) }
                    .to_string_lossy()
                    .into_owned();
                out.push((name, v.value));
            }
        }
        Ok(out)
    }

    /// Receives up to the free room of `burst` packets from queue `q`; returns how many.
    #[inline]
    pub fn rx_burst(&self, q: QueueId, burst: &mut Burst) -> usize {
        let room = BURST_SIZE - burst.len();
        if room == 0 {
            return 0;
        }
        // SAFETY: the slots after len are empty and can hold `room` pointers; the driver writes
        // n owned mbufs there, recorded by set_filled.
        unsafe {
            let base = burst.raw_slots().add(burst.len());
            let n = dpdk_sys::egress_shim_rx_burst(self.id.0, q.0, base, room as u16) as usize;
            burst.set_filled(n);
            n
        }
    }

    /// Transmits the packets of `burst` on queue `q`; the sent ones leave the burst (the driver
    /// owns them), the unsent ones stay at its front. Returns how many were sent.
    #[inline]
    pub fn tx_burst(&self, q: QueueId, burst: &mut Burst) -> usize {
        if burst.is_empty() {
            return 0;
        }
        // SAFETY: slots 0..len hold valid owned mbufs; the driver takes the first n.
        unsafe {
            let n = dpdk_sys::egress_shim_tx_burst(
                self.id.0,
                q.0,
                burst.raw_slots(),
                burst.len() as u16,
            ) as usize;
            burst.consumed(n);
            n
        }
    }
}
