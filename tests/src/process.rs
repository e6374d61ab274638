//! A child process owned by a test: output in files, stopped by pid.
//!
//! The guard keeps the `Child` unreaped until it has exited, so its pid cannot be reused by
//! another process while the guard may still signal it. On drop, a child that still runs gets
//! SIGINT, then SIGKILL after [`ChildGuard::DROP_GRACE`].

use anyhow::{bail, Context, Result};
use rustix::process::{kill_process, Pid, Signal};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// Which output stream of a child.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

#[derive(Debug)]
pub struct ChildGuard {
    name: String,
    child: Child,
    status: Option<ExitStatus>,
    stdout_path: PathBuf,
    stderr_path: PathBuf,
}

impl ChildGuard {
    /// Time a child gets to exit after SIGINT when the guard is dropped.
    pub const DROP_GRACE: Duration = Duration::from_secs(10);

    /// Spawns `cmd` with stdin from /dev/null and stdout/stderr in `log_dir/NAME.stdout` and
    /// `log_dir/NAME.stderr`.
    pub fn spawn(cmd: Command, log_dir: &Path, name: &str) -> Result<ChildGuard> {
        Self::spawn_with_stdin(cmd, Stdio::null(), log_dir, name)
    }

    /// [`ChildGuard::spawn`] with another stdin.
    pub fn spawn_with_stdin(
        mut cmd: Command,
        stdin: Stdio,
        log_dir: &Path,
        name: &str,
    ) -> Result<ChildGuard> {
        let stdout_path = log_dir.join(format!("{name}.stdout"));
        let stderr_path = log_dir.join(format!("{name}.stderr"));
        let out = File::create(&stdout_path)?;
        let err = File::create(&stderr_path)?;
        cmd.stdin(stdin)
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err));
        let child = cmd
            .spawn()
            .with_context(|| format!("cannot start `{}`", crate::cmd::describe(&cmd)))?;
        Ok(ChildGuard {
            name: name.into(),
            child,
            status: None,
            stdout_path,
            stderr_path,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn stdout_path(&self) -> &Path {
        &self.stdout_path
    }

    pub fn stderr_path(&self) -> &Path {
        &self.stderr_path
    }

    /// Everything the child wrote to stdout so far.
    pub fn stdout(&self) -> String {
        read_lossy(&self.stdout_path)
    }

    /// Everything the child wrote to stderr so far.
    pub fn stderr(&self) -> String {
        read_lossy(&self.stderr_path)
    }

    /// The exit status if the child has exited (reaping it), `None` while it runs.
    pub fn try_status(&mut self) -> Result<Option<ExitStatus>> {
        if self.status.is_none() {
            self.status = self.child.try_wait()?;
        }
        Ok(self.status)
    }

    /// Waits up to `timeout` for the child to exit.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Result<Option<ExitStatus>> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(s) = self.try_status()? {
                return Ok(Some(s));
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends `sig` to the child's pid, unless it has already been reaped.
    pub fn signal(&mut self, sig: Signal) -> Result<()> {
        if self.try_status()?.is_some() {
            return Ok(());
        }
        let pid = Pid::from_raw(self.pid() as i32).context("child pid is not a valid pid")?;
        kill_process(pid, sig).with_context(|| format!("kill({pid:?}, {sig:?})"))?;
        Ok(())
    }

    /// Stops the child: SIGINT, then waits up to `timeout`. If it has not exited by then it is
    /// killed with SIGKILL and this returns an error. Returns the exit status.
    pub fn interrupt(&mut self, timeout: Duration) -> Result<ExitStatus> {
        self.stop_with(Signal::INT, timeout)
    }

    /// Like [`ChildGuard::interrupt`] with another first signal (SIGTERM, ...).
    pub fn stop_with(&mut self, sig: Signal, timeout: Duration) -> Result<ExitStatus> {
        self.signal(sig)?;
        if let Some(s) = self.wait_timeout(timeout)? {
            return Ok(s);
        }
        self.signal(Signal::KILL)?;
        let s = self.child.wait()?;
        self.status = Some(s);
        bail!(
            "{} (pid {}) did not exit within {:?} of {:?} and was killed",
            self.name,
            self.pid(),
            timeout,
            sig
        )
    }

    /// Waits until the child's `stream` contains `needle`. Fails if the child exits first or
    /// `timeout` passes.
    pub fn wait_for_output(
        &mut self,
        stream: Stream,
        needle: &str,
        timeout: Duration,
    ) -> Result<()> {
        let path = match stream {
            Stream::Stdout => self.stdout_path.clone(),
            Stream::Stderr => self.stderr_path.clone(),
        };
        let deadline = Instant::now() + timeout;
        loop {
            if read_lossy(&path).contains(needle) {
                return Ok(());
            }
            if let Some(s) = self.try_status()? {
                // The last lines may have been written just before exiting.
                if read_lossy(&path).contains(needle) {
                    return Ok(());
                }
                bail!(
                    "{} exited ({s}) before printing {needle:?}\n--- stderr ---\n{}",
                    self.name,
                    tail(&self.stderr(), 40)
                );
            }
            if Instant::now() >= deadline {
                bail!(
                    "{} did not print {needle:?} within {timeout:?}\n--- stderr ---\n{}",
                    self.name,
                    tail(&self.stderr(), 40)
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if matches!(self.try_status(), Ok(Some(_))) {
            return;
        }
        if let Err(e) = self.interrupt(Self::DROP_GRACE) {
            eprintln!("cleanup: {e:#}");
        }
    }
}

fn read_lossy(path: &Path) -> String {
    std::fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

/// The last `n` lines of `text`.
pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_goes_to_files_and_exit_status_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = Command::new("sh");
        c.args(["-c", "echo out; echo err >&2; exit 4"]);
        let mut g = ChildGuard::spawn(c, dir.path(), "sh").unwrap();
        let s = g.wait_timeout(Duration::from_secs(10)).unwrap().unwrap();
        assert_eq!(s.code(), Some(4));
        assert_eq!(g.stdout(), "out\n");
        assert_eq!(g.stderr(), "err\n");
    }

    #[test]
    fn sigint_stops_a_cooperative_child() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = Command::new("sh");
        // The trap is set before the readiness line, so the signal cannot arrive too early.
        c.args([
            "-c",
            "trap 'echo bye; exit 0' INT; echo ready; while :; do sleep 0.05; done",
        ]);
        let mut g = ChildGuard::spawn(c, dir.path(), "trap").unwrap();
        g.wait_for_output(Stream::Stdout, "ready", Duration::from_secs(10))
            .unwrap();
        let s = g.interrupt(Duration::from_secs(10)).unwrap();
        assert!(s.success(), "{s}");
        assert!(g.stdout().contains("bye"));
    }

    #[test]
    fn a_child_that_ignores_sigint_is_killed() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = Command::new("sh");
        c.args([
            "-c",
            "trap '' INT; echo ready; while :; do sleep 0.05; done",
        ]);
        let mut g = ChildGuard::spawn(c, dir.path(), "stubborn").unwrap();
        g.wait_for_output(Stream::Stdout, "ready", Duration::from_secs(10))
            .unwrap();
        let err = g.interrupt(Duration::from_millis(300)).unwrap_err();
        assert!(err.to_string().contains("killed"), "{err}");
        assert!(g.try_status().unwrap().is_some());
    }

    #[test]
    fn drop_stops_a_running_child() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = Command::new("sleep");
        c.arg("60");
        let g = ChildGuard::spawn(c, dir.path(), "sleep").unwrap();
        let pid = g.pid();
        drop(g);
        // Reaped by the guard: the pid no longer names our child.
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        assert!(!stat.contains("(sleep)"), "{stat}");
    }

    #[test]
    fn waiting_for_output_fails_when_the_child_exits() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = Command::new("sh");
        c.args(["-c", "echo nope >&2; exit 1"]);
        let mut g = ChildGuard::spawn(c, dir.path(), "early").unwrap();
        let err = g
            .wait_for_output(Stream::Stderr, "never", Duration::from_secs(10))
            .unwrap_err()
            .to_string();
        assert!(err.contains("exited"), "{err}");
        assert!(err.contains("nope"), "{err}");
    }
}
