//! Results: per-run measurements, per-path medians, the printed table and `latest.json`.

use crate::sys::Machine;
use serde::Serialize;

/// One run of one path: the VNF and testpmd measured back to back.
#[derive(Debug, Clone, Serialize)]
pub struct Run {
    pub vnf_mpps: f64,
    pub limit_mpps: f64,
    pub ratio: f64,
    pub vnf_cycles_per_packet: f64,
    pub limit_cycles_per_packet: Option<f64>,
    /// Seconds between the VNF's two control-socket snapshots (the measured window).
    pub vnf_window_seconds: f64,
    /// The VNF's rate and cost over its whole forwarding time (final statistics).
    pub vnf_mpps_whole_run: f64,
    pub vnf_cycles_per_packet_whole_run: f64,
    pub vnf_forwarding_seconds: f64,
    pub vnf_rx_packets: u64,
    pub vnf_tx_packets: u64,
    pub vnf_tx_dropped: u64,
    pub vnf_rx_missed: u64,
    pub vnf_rx_nombuf: u64,
    /// Steady-state `Tx-pps` samples of testpmd's sink port.
    pub limit_samples_pps: Vec<u64>,
    /// CPUs' worth of time used by other processes while the VNF / testpmd were measured.
    pub other_cpus_vnf: Option<f64>,
    pub other_cpus_limit: Option<f64>,
    /// Share of a CPU the forwarding thread ran during the window (1.0 on an idle machine).
    pub cpu_share_vnf: Option<f64>,
    pub cpu_share_limit: Option<f64>,
    /// Which ran first in this run.
    pub first: &'static str,
    /// New connections per second of the path's virtual server during the window.
    pub vnf_new_flows_per_s: Option<f64>,
    /// New connections per packet received during the window (1.0: every packet a new flow).
    pub vnf_new_flows_per_packet: Option<f64>,
    /// The virtual server's current connections at the end of the window.
    pub vnf_sessions_end: Option<u64>,
    /// Busy cycles per packet sent on the counting port (DNS paths: per answer).
    pub vnf_cycles_per_answer: Option<f64>,
    /// New DNS46 mappings per second during the window (`dns46-new-mappings`).
    pub vnf_dns46_mappings_per_s: Option<f64>,
    /// Answers with a synthesized A record per second during the window.
    pub vnf_dns46_answers_per_s: Option<f64>,
    /// New DNS46 mappings per query received during the window.
    pub vnf_dns46_mappings_per_query: Option<f64>,
    /// Mappings created from the VNF's start to the end of the window.
    pub vnf_dns46_mappings_end: Option<u64>,
    /// Queries from pods from the VNF's start to the end of the window.
    pub vnf_dns46_queries_end: Option<u64>,
}

/// How the runs were made.
#[derive(Debug, Clone, Serialize)]
pub struct Settings {
    pub runs: usize,
    pub seconds: u64,
    pub warmup_seconds: u64,
    pub flows: usize,
    pub frame_len: usize,
    pub wire_frame_len: usize,
    pub workers: u16,
    pub hugepages: bool,
    pub eal: Vec<String>,
    pub vdevs: Vec<String>,
    pub testpmd_args: Vec<String>,
    pub note: String,
}

/// One path's result: medians over the runs.
#[derive(Debug, Clone, Serialize)]
pub struct PathResult {
    pub name: String,
    pub mpps: f64,
    pub limit_mpps: f64,
    pub ratio: f64,
    pub cycles_per_packet: f64,
    pub limit_cycles_per_packet: Option<f64>,
    /// Mpps divided by the share of a CPU the forwarding thread ran: the rate per CPU-second,
    /// less sensitive to other processes preempting the forwarder on a shared machine.
    pub mpps_per_cpu: Option<f64>,
    pub limit_mpps_per_cpu: Option<f64>,
    pub ratio_per_cpu: Option<f64>,
    /// Sessions the capture creates (distinct flows; 0 for paths without sessions).
    pub sessions: u64,
    /// Median of the sessions the VNF reported (`clientside.cur_conns`) at the end of the
    /// measured windows.
    pub sessions_measured: Option<u64>,
    /// Memory per session in bytes at the configured table capacity
    /// (`SessionTable::bytes_per_session`); None for paths without sessions.
    pub bytes_per_session: Option<f64>,
    /// Session-table capacity per worker (`snat.sessions_per_worker`) of the runs.
    pub session_capacity: Option<u64>,
    /// Median new connections per second (the figure of merit of `snat-new-flows`).
    pub new_flows_per_s: Option<f64>,
    /// Median new connections per received packet.
    pub new_flows_per_packet: Option<f64>,
    /// Median busy cycles per answer (DNS paths).
    pub cycles_per_answer: Option<f64>,
    /// Median new DNS46 mappings per second (the figure of merit of `dns46-new-mappings`).
    pub dns46_mappings_per_s: Option<f64>,
    /// Median new DNS46 mappings per CPU-second of the forwarding thread (mappings/s divided
    /// by the share of a CPU it ran, as `mpps_per_cpu`).
    pub dns46_mappings_per_cpu: Option<f64>,
    /// Median synthesized DNS46 answers per second.
    pub dns46_answers_per_s: Option<f64>,
    /// Median new DNS46 mappings per query received.
    pub dns46_mappings_per_query: Option<f64>,
    /// Largest share of the capture's names asked by the end of a run (queries / names):
    /// below 1, no name was asked twice, so every query was a miss.
    pub dns46_passes: Option<f64>,
    pub loadavg_end: String,
    pub runs: Vec<Run>,
    pub settings: Settings,
    pub machine: Machine,
}

/// Median (mean of the two middle values for an even count); `None` for no values.
pub fn median(values: &[f64]) -> Option<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

fn round(x: f64, digits: i32) -> f64 {
    let p = 10f64.powi(digits);
    (x * p).round() / p
}

impl PathResult {
    pub fn from_runs(
        name: &str,
        sessions: u64,
        runs: Vec<Run>,
        settings: Settings,
        machine: Machine,
    ) -> PathResult {
        let pick =
            |f: fn(&Run) -> f64| median(&runs.iter().map(f).collect::<Vec<_>>()).unwrap_or(0.0);
        let mpps = pick(|r| r.vnf_mpps);
        let limit_mpps = pick(|r| r.limit_mpps);
        let limit_cpp: Vec<f64> = runs
            .iter()
            .filter_map(|r| r.limit_cycles_per_packet)
            .collect();
        let per_cpu = |rate: fn(&Run) -> f64, share: fn(&Run) -> Option<f64>| {
            median(
                &runs
                    .iter()
                    .filter_map(|r| share(r).filter(|s| *s > 0.0).map(|s| rate(r) / s))
                    .collect::<Vec<_>>(),
            )
        };
        let vnf_per_cpu = per_cpu(|r| r.vnf_mpps, |r| r.cpu_share_vnf);
        let limit_per_cpu = per_cpu(|r| r.limit_mpps, |r| r.cpu_share_limit);
        let ratio_per_cpu = median(
            &runs
                .iter()
                .filter_map(|r| {
                    let v = r.vnf_mpps / r.cpu_share_vnf.filter(|s| *s > 0.0)?;
                    let l = r.limit_mpps / r.cpu_share_limit.filter(|s| *s > 0.0)?;
                    Some(v / l)
                })
                .collect::<Vec<_>>(),
        );
        let opt =
            |f: fn(&Run) -> Option<f64>| median(&runs.iter().filter_map(f).collect::<Vec<_>>());
        let new_flows_per_s = opt(|r| r.vnf_new_flows_per_s).map(|x| x.round());
        let new_flows_per_packet = opt(|r| r.vnf_new_flows_per_packet).map(|x| round(x, 3));
        let sessions_measured = opt(|r| r.vnf_sessions_end.map(|s| s as f64)).map(|x| x as u64);
        let cycles_per_answer = opt(|r| r.vnf_cycles_per_answer).map(|x| round(x, 1));
        let dns46_mappings_per_s = opt(|r| r.vnf_dns46_mappings_per_s).map(f64::round);
        let dns46_answers_per_s = opt(|r| r.vnf_dns46_answers_per_s).map(f64::round);
        let dns46_mappings_per_cpu =
            opt(|r| Some(r.vnf_dns46_mappings_per_s? / r.cpu_share_vnf.filter(|s| *s > 0.0)?))
                .map(f64::round);
        let dns46_mappings_per_query = opt(|r| r.vnf_dns46_mappings_per_query).map(|x| round(x, 5));
        let dns46_passes = runs
            .iter()
            .filter_map(|r| r.vnf_dns46_queries_end)
            .max()
            .filter(|_| settings.flows > 0)
            .map(|q| round(q as f64 / settings.flows as f64, 3));
        PathResult {
            name: name.to_string(),
            mpps: round(mpps, 3),
            limit_mpps: round(limit_mpps, 3),
            // Each run pairs the two sides measured back to back: the ratio is the median of
            // the per-run ratios, which a noisy run disturbs less than a ratio of medians.
            ratio: round(pick(|r| r.ratio), 3),
            cycles_per_packet: round(pick(|r| r.vnf_cycles_per_packet), 1),
            limit_cycles_per_packet: median(&limit_cpp).map(|c| round(c, 1)),
            mpps_per_cpu: vnf_per_cpu.map(|x| round(x, 3)),
            limit_mpps_per_cpu: limit_per_cpu.map(|x| round(x, 3)),
            ratio_per_cpu: ratio_per_cpu.map(|x| round(x, 3)),
            sessions,
            sessions_measured,
            bytes_per_session: None,
            session_capacity: None,
            new_flows_per_s,
            new_flows_per_packet,
            cycles_per_answer,
            dns46_mappings_per_s,
            dns46_mappings_per_cpu,
            dns46_answers_per_s,
            dns46_mappings_per_query,
            dns46_passes,
            loadavg_end: crate::sys::loadavg(),
            runs,
            settings,
            machine,
        }
    }
}

/// The session-table scale lines printed under the table: the 1 Mi-session path against the
/// 1 Ki-session path on a capture of the same size (only the session count differs) and
/// against the 1 Ki-frame path (the capture's own cache cost included). Empty when the
/// 1 Mi-session path was not measured.
pub fn scale_summary(results: &[PathResult]) -> String {
    let mpps = |name: &str| {
        results
            .iter()
            .find(|r| r.name == name && r.mpps.is_finite() && r.mpps > 0.0)
            .map(|r| r.mpps)
    };
    let Some(big) = mpps("snat44-established-1m") else {
        return String::new();
    };
    let mut out = String::new();
    for (base, what) in [
        (
            "snat44-established-1k-1mframes",
            "same 1 Mi-frame capture, sessions only",
        ),
        ("snat44-established", "1 Ki-frame capture"),
    ] {
        if let Some(small) = mpps(base) {
            out.push_str(&format!(
                "session-table scale: 1 Mi sessions {big:.2} Mpps vs {base} {small:.2} Mpps ({what}): {:.1} % slower\n",
                (1.0 - big / small) * 100.0
            ));
        }
    }
    out
}

/// The printed table.
pub fn table(results: &[PathResult]) -> String {
    let header = [
        "path",
        "VNF Mpps",
        "testpmd Mpps",
        "ratio",
        "VNF cyc/pkt",
        "testpmd cyc/pkt",
        "sessions",
        "B/session",
        "new flows/s",
        "DNS46 maps/s",
        "other CPUs",
        "ratio per CPU",
    ];
    let mut rows: Vec<Vec<String>> = vec![header.iter().map(|s| s.to_string()).collect()];
    for r in results {
        let other = median(
            &r.runs
                .iter()
                .flat_map(|x| [x.other_cpus_vnf, x.other_cpus_limit])
                .flatten()
                .collect::<Vec<_>>(),
        );
        let vnf_ran = r.runs.iter().any(|x| x.vnf_mpps.is_finite());
        let or_dash = |s: String| if vnf_ran { s } else { "-".into() };
        rows.push(vec![
            r.name.clone(),
            or_dash(format!("{:.2}", r.mpps)),
            format!("{:.2}", r.limit_mpps),
            or_dash(format!("{:.3}", r.ratio)),
            or_dash(format!("{:.1}", r.cycles_per_packet)),
            r.limit_cycles_per_packet
                .map_or_else(|| "-".into(), |c| format!("{c:.1}")),
            r.sessions_measured
                .map_or_else(|| r.sessions.to_string(), |m| m.to_string()),
            r.bytes_per_session
                .map_or_else(|| "-".into(), |b| format!("{b:.0}")),
            r.new_flows_per_s
                .map_or_else(|| "-".into(), |n| format!("{:.3} M", n / 1e6)),
            r.dns46_mappings_per_s
                .map_or_else(|| "-".into(), |n| format!("{n:.0}")),
            other.map_or_else(|| "-".into(), |o| format!("{o:.2}")),
            r.ratio_per_cpu
                .map_or_else(|| "-".into(), |x| format!("{x:.3}")),
        ]);
    }
    let widths: Vec<usize> = (0..header.len())
        .map(|c| rows.iter().map(|r| r[c].len()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for (i, row) in rows.iter().enumerate() {
        let cells: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(c, s)| {
                if c == 0 {
                    format!("{s:<w$}", w = widths[c])
                } else {
                    format!("{s:>w$}", w = widths[c])
                }
            })
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
        if i == 0 {
            let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
            out.push_str(&rule.join("  "));
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&[f64::NAN, 5.0]), Some(5.0));
    }

    fn run(vnf: f64, limit: f64) -> Run {
        Run {
            vnf_mpps: vnf,
            limit_mpps: limit,
            ratio: vnf / limit,
            vnf_cycles_per_packet: 100.0,
            limit_cycles_per_packet: Some(90.0),
            vnf_window_seconds: 10.0,
            vnf_mpps_whole_run: vnf,
            vnf_cycles_per_packet_whole_run: 100.0,
            vnf_forwarding_seconds: 12.0,
            vnf_rx_packets: 1,
            vnf_tx_packets: 1,
            vnf_tx_dropped: 0,
            vnf_rx_missed: 0,
            vnf_rx_nombuf: 0,
            limit_samples_pps: vec![],
            other_cpus_vnf: Some(0.1),
            other_cpus_limit: Some(0.3),
            cpu_share_vnf: Some(0.5),
            cpu_share_limit: Some(1.0),
            first: "testpmd",
            vnf_new_flows_per_s: None,
            vnf_new_flows_per_packet: None,
            vnf_sessions_end: None,
            vnf_cycles_per_answer: None,
            vnf_dns46_mappings_per_s: None,
            vnf_dns46_answers_per_s: None,
            vnf_dns46_mappings_per_query: None,
            vnf_dns46_mappings_end: None,
            vnf_dns46_queries_end: None,
        }
    }

    fn settings() -> Settings {
        Settings {
            runs: 3,
            seconds: 10,
            warmup_seconds: 2,
            flows: 1,
            frame_len: 60,
            wire_frame_len: 64,
            workers: 1,
            hugepages: false,
            eal: vec![],
            vdevs: vec![],
            testpmd_args: vec![],
            note: String::new(),
        }
    }

    #[test]
    fn medians_and_table() {
        let r = PathResult::from_runs(
            "bridge",
            0,
            vec![run(18.0, 20.0), run(19.0, 21.0), run(10.0, 22.0)],
            settings(),
            Machine::probe(),
        );
        assert_eq!(r.mpps, 18.0);
        assert_eq!(r.limit_mpps, 21.0);
        assert_eq!(r.ratio, 0.9); // median of 0.9, 0.905, 0.455
        let t = table(&[r]);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].starts_with("path    VNF Mpps"));
        assert!(lines[2].starts_with("bridge"));
        assert!(lines[2].contains("18.00"));
        assert!(lines[2].contains("0.20"));
        assert!(lines[2].ends_with("1.800"));
    }

    #[test]
    fn scale_summary_compares_the_same_capture_size() {
        let path = |name: &str, vnf: f64| {
            PathResult::from_runs(name, 0, vec![run(vnf, 10.0)], settings(), Machine::probe())
        };
        assert_eq!(scale_summary(&[path("snat44-established", 4.0)]), "");
        let s = scale_summary(&[
            path("snat44-established", 4.0),
            path("snat44-established-1k-1mframes", 2.0),
            path("snat44-established-1m", 1.5),
        ]);
        let lines: Vec<&str> = s.lines().collect();
        assert_eq!(lines.len(), 2, "{s}");
        assert!(lines[0].contains("1k-1mframes 2.00 Mpps"), "{s}");
        assert!(lines[0].ends_with("25.0 % slower"), "{s}");
        assert!(lines[1].ends_with("62.5 % slower"), "{s}");
    }

    #[test]
    fn dns46_figures_are_medians() {
        let runs = [(30_000.0, 0.02), (10_000.0, 0.01), (20_000.0, 0.03)]
            .into_iter()
            .map(|(m, q)| Run {
                vnf_dns46_mappings_per_s: Some(m),
                vnf_dns46_answers_per_s: Some(m + 1.0),
                vnf_dns46_mappings_per_query: Some(q),
                vnf_cycles_per_answer: Some(m / 100.0),
                vnf_dns46_queries_end: Some(m as u64 / 10),
                ..run(1.0, 2.0)
            })
            .collect();
        let r = PathResult::from_runs("dns46", 0, runs, settings(), Machine::probe());
        assert_eq!(r.dns46_mappings_per_s, Some(20_000.0));
        assert_eq!(r.dns46_answers_per_s, Some(20_001.0));
        // run(): the forwarder ran half of the time.
        assert_eq!(r.dns46_mappings_per_cpu, Some(40_000.0));
        assert_eq!(r.dns46_mappings_per_query, Some(0.02));
        assert_eq!(r.cycles_per_answer, Some(200.0));
        assert_eq!(
            r.dns46_passes,
            Some(3000.0),
            "3000 queries for settings().flows = 1 name"
        );
        let t = table(std::slice::from_ref(&r));
        assert!(t.lines().next().unwrap().contains("DNS46 maps/s"));
        assert!(t.lines().nth(2).unwrap().contains(" 20000 "), "{t}");
    }

    #[test]
    fn json_has_the_contract_fields() {
        let r = PathResult::from_runs(
            "bridge",
            0,
            vec![run(1.0, 2.0)],
            settings(),
            Machine::probe(),
        );
        let v = serde_json::to_value(vec![r]).unwrap();
        for k in [
            "name",
            "mpps",
            "limit_mpps",
            "ratio",
            "cycles_per_packet",
            "sessions",
            "runs",
            "machine",
        ] {
            assert!(v[0].get(k).is_some(), "{k}");
        }
    }
}
