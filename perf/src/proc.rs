//! Child processes of a benchmark run (testpmd, the VNF): started in their own process group so
//! that a terminal's Ctrl-C reaches only the runner, signalled and killed by pid only, and
//! killed when dropped so that an error path never leaves a busy-polling process behind.

use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// Set by SIGINT/SIGTERM/SIGHUP: every wait gives up and the run unwinds, cleaning up.
#[derive(Clone, Default)]
pub struct StopFlag(pub Arc<AtomicBool>);

impl StopFlag {
    pub fn is_set(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    /// Sleeps for `d` unless the flag is set first; returns an error if it was.
    pub fn sleep(&self, d: Duration) -> Result<(), String> {
        let end = Instant::now() + d;
        loop {
            if self.is_set() {
                return Err("interrupted".into());
            }
            let now = Instant::now();
            if now >= end {
                return Ok(());
            }
            thread::sleep((end - now).min(Duration::from_millis(50)));
        }
    }
}

/// A running child with its output collected by two threads.
pub struct Proc {
    name: String,
    child: Option<Child>,
    stdout: Option<JoinHandle<String>>,
    /// Standard output so far (the thread appends as it reads).
    stdout_all: Arc<Mutex<String>>,
    stderr_lines: Receiver<String>,
    stderr_all: Arc<Mutex<String>>,
    stderr_thread: Option<JoinHandle<()>>,
}

/// How a child ended.
pub struct Finished {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    /// The child had to be killed after ignoring SIGINT.
    pub killed: bool,
}

impl Proc {
    pub fn spawn(name: &str, program: &Path, args: &[String]) -> Result<Proc, String> {
        let mut child = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", program.display()))?;
        let mut out = child.stdout.take().ok_or("no stdout pipe")?;
        let err = child.stderr.take().ok_or("no stderr pipe")?;
        let stdout_all = Arc::new(Mutex::new(String::new()));
        let out_all = Arc::clone(&stdout_all);
        let stdout = thread::spawn(move || {
            let mut s = Vec::new();
            let mut chunk = [0u8; 8192];
            while let Ok(n) = out.read(&mut chunk) {
                if n == 0 {
                    break;
                }
                s.extend_from_slice(&chunk[..n]);
                if let Ok(mut a) = out_all.lock() {
                    a.push_str(&String::from_utf8_lossy(&chunk[..n]));
                }
            }
            String::from_utf8_lossy(&s).into_owned()
        });
        let (tx, rx) = mpsc::channel();
        let all = Arc::new(Mutex::new(String::new()));
        let all2 = Arc::clone(&all);
        let stderr_thread = thread::spawn(move || {
            let mut reader = BufReader::new(err);
            let mut buf = Vec::new();
            while reader.read_until(b'\n', &mut buf).is_ok_and(|n| n > 0) {
                let line = String::from_utf8_lossy(&buf).into_owned();
                if let Ok(mut a) = all2.lock() {
                    a.push_str(&line);
                }
                let _ = tx.send(line);
                buf.clear();
            }
        });
        Ok(Proc {
            name: name.to_string(),
            child: Some(child),
            stdout: Some(stdout),
            stdout_all,
            stderr_lines: rx,
            stderr_all: all,
            stderr_thread: Some(stderr_thread),
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    fn stderr_so_far(&self) -> String {
        self.stderr_all
            .lock()
            .map(|s| s.clone())
            .unwrap_or_default()
    }

    /// Waits until standard output contains `needle`.
    pub fn wait_for_stdout(
        &mut self,
        needle: &str,
        timeout: Duration,
        stop: &StopFlag,
    ) -> Result<(), String> {
        let end = Instant::now() + timeout;
        loop {
            if self.stdout_all.lock().is_ok_and(|s| s.contains(needle)) {
                return Ok(());
            }
            self.check_running()?;
            if Instant::now() >= end {
                return Err(format!(
                    "{} did not print `{needle}` within {timeout:?}; stderr:\n{}",
                    self.name,
                    self.stderr_so_far()
                ));
            }
            stop.sleep(Duration::from_millis(100))?;
        }
    }

    /// Waits for a line of standard error containing `needle`.
    pub fn wait_for_stderr(
        &mut self,
        needle: &str,
        timeout: Duration,
        stop: &StopFlag,
    ) -> Result<(), String> {
        let end = Instant::now() + timeout;
        loop {
            if stop.is_set() {
                return Err("interrupted".into());
            }
            match self.stderr_lines.recv_timeout(Duration::from_millis(100)) {
                Ok(line) if line.contains(needle) => return Ok(()),
                Ok(_) => {}
                Err(RecvTimeoutError::Disconnected) | Err(RecvTimeoutError::Timeout) => {
                    if let Some(status) = self
                        .child
                        .as_mut()
                        .and_then(|c| c.try_wait().ok().flatten())
                    {
                        return Err(format!(
                            "{} exited ({status}) before printing `{needle}`; stderr:\n{}",
                            self.name,
                            self.stderr_so_far()
                        ));
                    }
                }
            }
            if Instant::now() >= end {
                return Err(format!(
                    "{} did not print `{needle}` within {timeout:?}; stderr:\n{}",
                    self.name,
                    self.stderr_so_far()
                ));
            }
        }
    }

    /// Fails if the child has already exited.
    pub fn check_running(&mut self) -> Result<(), String> {
        match self.child.as_mut().map(Child::try_wait) {
            Some(Ok(None)) => Ok(()),
            Some(Ok(Some(status))) => Err(format!(
                "{} exited early ({status}); stderr:\n{}",
                self.name,
                self.stderr_so_far()
            )),
            Some(Err(e)) => Err(format!("{}: {e}", self.name)),
            None => Err(format!("{} already reaped", self.name)),
        }
    }

    /// Sends SIGINT to the child's pid.
    pub fn interrupt(&self) -> Result<(), String> {
        let pid = self.pid().to_string();
        let st = Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .map_err(|e| format!("kill -INT {pid}: {e}"))?;
        if st.success() {
            Ok(())
        } else {
            Err(format!("kill -INT {pid} failed ({st})"))
        }
    }

    /// Waits up to `grace` for the child to exit, kills it after that, and returns its output.
    pub fn finish(mut self, grace: Duration) -> Result<Finished, String> {
        let mut child = self.child.take().ok_or("already finished")?;
        let end = Instant::now() + grace;
        let mut killed = false;
        let status = loop {
            match child.try_wait() {
                Ok(Some(st)) => break st,
                Ok(None) if Instant::now() < end => thread::sleep(Duration::from_millis(20)),
                Ok(None) => {
                    killed = true;
                    let _ = child.kill();
                    break child.wait().map_err(|e| format!("{}: {e}", self.name))?;
                }
                Err(e) => return Err(format!("{}: {e}", self.name)),
            }
        };
        let stdout = self
            .stdout
            .take()
            .map(|h| h.join().unwrap_or_default())
            .unwrap_or_default();
        if let Some(h) = self.stderr_thread.take() {
            let _ = h.join();
        }
        Ok(Finished {
            status,
            stdout,
            stderr: self.stderr_so_far(),
            killed,
        })
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            if let Ok(None) = child.try_wait() {
                let _ = child.kill();
            }
            let _ = child.wait();
        }
    }
}

/// A directory removed with everything in it when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn create(path: PathBuf) -> Result<TempDir, String> {
        fs::create_dir_all(&path).map_err(|e| format!("mkdir {}: {e}", path.display()))?;
        Ok(TempDir(path))
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Where a DPDK primary process keeps its runtime files for `prefix`.
pub fn dpdk_runtime_dirs(prefix: &str) -> Vec<PathBuf> {
    let mut dirs = vec![PathBuf::from("/var/run/dpdk").join(prefix)];
    if let Some(xdg) = std::env::var_os("XDG_RUNTIME_DIR") {
        dirs.push(PathBuf::from(xdg).join("dpdk").join(prefix));
    }
    dirs.push(PathBuf::from("/tmp/dpdk").join(prefix));
    dirs
}

/// Removes the DPDK runtime directory of `prefix` when dropped (after its process exited).
pub struct DpdkPrefix(pub String);

impl Drop for DpdkPrefix {
    fn drop(&mut self) {
        for d in dpdk_runtime_dirs(&self.0) {
            let _ = fs::remove_dir_all(d);
        }
    }
}

/// Removes runtime and temporary directories left by runner processes that no longer exist
/// (named `<tag>-<pid>` or `<tag>-<pid>-<n>`).
pub fn sweep_stale(parents: &[PathBuf], tags: &[&str]) {
    for parent in parents {
        let Ok(entries) = fs::read_dir(parent) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            for tag in tags {
                let Some(rest) = name.strip_prefix(tag).and_then(|r| r.strip_prefix('-')) else {
                    continue;
                };
                let pid = rest.split('-').next().unwrap_or("");
                if !pid.is_empty()
                    && pid.bytes().all(|b| b.is_ascii_digit())
                    && !Path::new("/proc").join(pid).exists()
                {
                    let _ = fs::remove_dir_all(e.path());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_interrupts_and_collects_output() {
        let stop = StopFlag::default();
        let args = [
            "-c".to_string(),
            "echo out; echo ready >&2; exec sleep 10".to_string(),
        ];
        let mut p = Proc::spawn("sh", Path::new("/bin/sh"), &args).unwrap();
        p.wait_for_stderr("ready", Duration::from_secs(10), &stop)
            .unwrap();
        p.check_running().unwrap();
        p.interrupt().unwrap();
        let f = p.finish(Duration::from_secs(10)).unwrap();
        assert!(!f.status.success());
        assert!(!f.killed);
        assert_eq!(f.stdout, "out\n");
        assert_eq!(f.stderr, "ready\n");
    }

    #[test]
    fn early_exit_is_reported() {
        let stop = StopFlag::default();
        let args = ["-c".to_string(), "echo boom >&2; exit 3".to_string()];
        let mut p = Proc::spawn("sh", Path::new("/bin/sh"), &args).unwrap();
        let e = p
            .wait_for_stderr("never", Duration::from_secs(10), &stop)
            .unwrap_err();
        assert!(e.contains("exited") && e.contains("boom"), "{e}");
    }

    #[test]
    fn sweep_removes_only_dead_owners() {
        let base =
            std::env::temp_dir().join(format!("egress-perf-sweep-test-{}", std::process::id()));
        let dead = base.join("bench-tp-999999999-0");
        let alive = base.join(format!("bench-tp-{}-0", std::process::id()));
        let other = base.join("bench-tpx-999999999");
        for d in [&dead, &alive, &other] {
            fs::create_dir_all(d).unwrap();
        }
        sweep_stale(std::slice::from_ref(&base), &["bench-tp"]);
        assert!(!dead.exists());
        assert!(alive.exists());
        assert!(other.exists());
        fs::remove_dir_all(&base).unwrap();
    }
}
