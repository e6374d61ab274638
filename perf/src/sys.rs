//! Facts about the machine a result was measured on, and CPU accounting that tells how much of
//! the machine other processes used during a measurement.

use serde::Serialize;
use std::fs;
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

/// Linux `USER_HZ`: the unit of `/proc/stat` and `/proc/PID/stat` times.
const USER_HZ: f64 = 100.0;

#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub cpu_model: String,
    pub cpus: usize,
    pub kernel: String,
    pub dpdk: String,
    pub date_utc: String,
    pub git_commit: String,
    pub loadavg_start: String,
}

impl Machine {
    pub fn probe() -> Machine {
        let cpu_model = fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split_once(':'))
                    .map(|(_, v)| v.trim().to_string())
            })
            .unwrap_or_else(|| "unknown".into());
        Machine {
            cpu_model,
            cpus: std::thread::available_parallelism().map_or(0, |n| n.get()),
            kernel: read_trim("/proc/sys/kernel/osrelease"),
            dpdk: command_output("pkg-config", &["--modversion", "libdpdk"]),
            date_utc: utc_now(),
            git_commit: command_output("git", &["rev-parse", "--short=12", "HEAD"]),
            loadavg_start: loadavg(),
        }
    }
}

fn read_trim(path: &str) -> String {
    fs::read_to_string(path).map_or_else(|_| "unknown".into(), |s| s.trim().to_string())
}

fn command_output(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map_or_else(
            || "unknown".into(),
            |o| String::from_utf8_lossy(&o.stdout).trim().to_string(),
        )
}

/// The first three fields of `/proc/loadavg`.
pub fn loadavg() -> String {
    let s = read_trim("/proc/loadavg");
    s.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
}

/// Now as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn utc_now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    format_utc(secs)
}

/// Formats seconds since the epoch as an RFC 3339 UTC time (proleptic Gregorian calendar).
pub fn format_utc(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// Year, month, day of the day `days` after 1970-01-01, counting in 400-year eras that start on
/// March 1st so that the leap day is the last day of an era-year.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468; // days from 0000-03-01
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // day of era, 0..=146096
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // year of era, 0..=399
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // day of the March-based year
    let mp = (5 * doy + 2) / 153; // month index from March, 0..=11
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Busy CPU time of the whole machine (everything but idle and iowait, steal included), in
/// seconds.
pub fn machine_busy_seconds() -> Option<f64> {
    let stat = fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .take(8)
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    if v.len() < 8 {
        return None;
    }
    // user nice system idle iowait irq softirq steal
    let busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
    Some(busy as f64 / USER_HZ)
}

/// Waits until the whole machine used less than `max_cpus` CPUs over a `probe` interval, giving
/// up after `limit`; returns the last measured load and whether it was low enough.
pub fn wait_idle(
    max_cpus: f64,
    probe: std::time::Duration,
    limit: std::time::Duration,
    stop: &dyn Fn() -> bool,
) -> (f64, bool) {
    let end = std::time::Instant::now() + limit;
    loop {
        let t0 = std::time::Instant::now();
        let a = machine_busy_seconds().unwrap_or(0.0);
        std::thread::sleep(probe);
        let b = machine_busy_seconds().unwrap_or(0.0);
        let load = (b - a) / t0.elapsed().as_secs_f64();
        if load < max_cpus {
            return (load, true);
        }
        if stop() || std::time::Instant::now() >= end {
            return (load, false);
        }
    }
}

/// User plus system CPU time of process `pid` (all its threads), in seconds.
pub fn process_cpu_seconds(pid: u32) -> Option<f64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_process_cpu(&stat)
}

fn parse_process_cpu(stat: &str) -> Option<f64> {
    // The command name may contain spaces and parentheses: fields resume after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state(3) ppid(4) ... utime(14) stime(15) -> indexes 11 and 12 here.
    let utime: u64 = f.get(11)?.parse().ok()?;
    let stime: u64 = f.get(12)?.parse().ok()?;
    Some((utime + stime) as f64 / USER_HZ)
}

/// CPU seconds of every thread of process `pid`, by thread id.
pub fn thread_cpu_seconds(pid: u32) -> Vec<(u32, f64)> {
    let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    tasks
        .flatten()
        .filter_map(|t| {
            let tid: u32 = t.file_name().to_str()?.parse().ok()?;
            let stat = fs::read_to_string(t.path().join("stat")).ok()?;
            Some((tid, parse_process_cpu(&stat)?))
        })
        .collect()
}

/// What a measured window cost in CPU time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CpuWindow {
    /// CPUs' worth of time used by processes other than the measured one.
    pub other_cpus: f64,
    /// Share of one CPU that the busiest thread of the measured process (the forwarding lcore,
    /// which polls without sleeping) actually ran; below 1 when it was preempted.
    pub forwarder_share: f64,
}

/// Measures, over a window, how busy other processes were and how much CPU the measured
/// process's forwarding thread got.
pub struct ForeignCpu {
    pid: u32,
    start: std::time::Instant,
    machine: f64,
    process: f64,
    threads: Vec<(u32, f64)>,
}

impl ForeignCpu {
    pub fn start(pid: u32) -> Option<ForeignCpu> {
        Some(ForeignCpu {
            pid,
            start: std::time::Instant::now(),
            machine: machine_busy_seconds()?,
            process: process_cpu_seconds(pid)?,
            threads: thread_cpu_seconds(pid),
        })
    }

    pub fn stop(self) -> Option<CpuWindow> {
        let wall = self.start.elapsed().as_secs_f64();
        let machine = machine_busy_seconds()? - self.machine;
        let process = process_cpu_seconds(self.pid)? - self.process;
        if wall <= 0.0 {
            return None;
        }
        let busiest = thread_cpu_seconds(self.pid)
            .into_iter()
            .filter_map(|(tid, now)| {
                let before = self.threads.iter().find(|(t, _)| *t == tid)?.1;
                Some(now - before)
            })
            .fold(0.0f64, f64::max);
        Some(CpuWindow {
            other_cpus: ((machine - process) / wall).max(0.0),
            forwarder_share: (busiest / wall).clamp(0.0, 1.0),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(format_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(format_utc(1_709_251_199), "2024-02-29T23:59:59Z");
        assert_eq!(format_utc(4_102_444_800), "2100-01-01T00:00:00Z");
    }

    #[test]
    fn process_stat_with_odd_name() {
        let s = "42 (a) b (c)) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 3 0 5 0 0";
        assert_eq!(parse_process_cpu(s), Some(3.0));
    }

    #[test]
    fn own_process_is_readable() {
        assert!(process_cpu_seconds(std::process::id()).is_some());
        assert!(!thread_cpu_seconds(std::process::id()).is_empty());
        assert!(machine_busy_seconds().is_some());
    }
}
