//! `dpdk-testpmd --forward-mode=io`: the I/O limit measured beside the VNF.
//!
//! testpmd runs in the background with `--stats-period 1`: every second it prints, per port,
//! `Tx-pps: N` measured with the TSC since the previous display. The limit is the mean of those
//! samples on the sink port once the warm-up samples are skipped. With `--record-core-cycles`
//! it prints on exit `CPU cycles/packet=F (...)`: cycles spent in bursts that received packets,
//! divided by the packets forwarded.

/// Printed at every statistics display; the first one comes once forwarding has started.
pub const FIRST_DISPLAY: &str = "Port statistics ====";

/// Arguments after the program name.
/// `mbufs`: `--total-num-mbufs` (a replayed capture holds one mbuf per frame for the whole run).
pub fn args(eal: &[String], vdevs: &[String], fwd_cores: u16, mbufs: usize) -> Vec<String> {
    let mut a: Vec<String> = eal.to_vec();
    for v in vdevs {
        a.push("--vdev".into());
        a.push(v.clone());
    }
    a.push("--".into());
    for s in [
        "--forward-mode=io",
        "--stats-period",
        "1",
        "--record-core-cycles",
        "--burst=32",
    ] {
        a.push(s.into());
    }
    a.push(format!("--nb-cores={fwd_cores}"));
    a.push(format!("--total-num-mbufs={mbufs}"));
    a
}

/// What one testpmd run measured.
#[derive(Debug, Clone, PartialEq)]
pub struct TestpmdResult {
    /// Mean of the steady-state `Tx-pps` samples of the sink port, in Mpps.
    pub mpps: f64,
    /// The samples used, in packets per second.
    pub samples: Vec<u64>,
    /// `CPU cycles/packet`, when printed.
    pub cycles_per_packet: Option<f64>,
}

fn value_after<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let rest = &line[line.find(key)? + key.len()..];
    rest.split_whitespace().next()
}

/// Parses testpmd's standard output. `tx_port` is the port id of the sink; the first `skip`
/// samples (the initial zero display and the warm-up seconds) are ignored.
pub fn parse(stdout: &str, tx_port: u16, skip: usize) -> Result<TestpmdResult, String> {
    let mut port: Option<u16> = None;
    let mut all = Vec::new();
    let mut cycles = None;
    for line in stdout.lines() {
        if let Some(p) = value_after(line, "NIC statistics for port ") {
            port = p.parse().ok();
        } else if line.contains("Tx-pps:") && port == Some(tx_port) {
            let v = value_after(line, "Tx-pps:").ok_or("Tx-pps without a value")?;
            all.push(
                v.parse::<u64>()
                    .map_err(|e| format!("bad Tx-pps `{v}`: {e}"))?,
            );
        } else if let Some(v) = value_after(line, "CPU cycles/packet=") {
            cycles = v.parse::<f64>().ok();
        }
    }
    if all.len() <= skip {
        return Err(format!(
            "testpmd printed {} Tx-pps samples for port {tx_port}; need more than the {skip} skipped",
            all.len()
        ));
    }
    let samples = all.split_off(skip);
    let mpps = samples.iter().sum::<u64>() as f64 / samples.len() as f64 / 1e6;
    Ok(TestpmdResult {
        mpps,
        samples,
        cycles_per_packet: cycles,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const OUT: &str = "\
Port statistics ====================================
  ######################## NIC statistics for port 0  ########################
  RX-packets: 154688     RX-missed: 0          RX-bytes:  9281280
  Throughput (since last show)
  Rx-pps:            0          Rx-bps:            0
  Tx-pps:            0          Tx-bps:            0
  ######################## NIC statistics for port 1  ########################
  TX-packets: 224        TX-errors: 0          TX-bytes:  0
  Throughput (since last show)
  Rx-pps:            0          Rx-bps:            0
  Tx-pps:            0          Tx-bps:            0
Port statistics ====================================
  ######################## NIC statistics for port 0  ########################
  Tx-pps:            5          Tx-bps:            0
  ######################## NIC statistics for port 1  ########################
  Tx-pps:     20000000          Tx-bps:            0
Port statistics ====================================
  ######################## NIC statistics for port 0  ########################
  Tx-pps:            0          Tx-bps:            0
  ######################## NIC statistics for port 1  ########################
  Tx-pps:     21000000          Tx-bps:            0
Port statistics ====================================
  ######################## NIC statistics for port 1  ########################
  Tx-pps:     23000000          Tx-bps:            0
  ---------------------- Forward statistics for port 1  ----------------------
  CPU cycles/packet=162.76 (total cycles=9679313950 / total io packets=59469536) at 2500 MHz Clock
";

    #[test]
    fn parses_sink_samples_after_skip() {
        let r = parse(OUT, 1, 2).unwrap();
        assert_eq!(r.samples, vec![21_000_000, 23_000_000]);
        assert!((r.mpps - 22.0).abs() < 1e-9);
        assert_eq!(r.cycles_per_packet, Some(162.76));
    }

    #[test]
    fn too_few_samples() {
        assert!(parse(OUT, 1, 4).is_err());
        assert!(parse("", 1, 0).is_err());
    }

    #[test]
    fn argument_layout() {
        let a = args(
            &["-l".into(), "0-1".into()],
            &["net_null0".into()],
            1,
            40000,
        );
        assert!(a.contains(&"--total-num-mbufs=40000".to_string()));
        assert_eq!(a[..4], ["-l", "0-1", "--vdev", "net_null0"]);
        assert_eq!(a[4], "--");
        assert!(a.contains(&"--nb-cores=1".to_string()));
    }
}
