//! `egress-sidecar`: renders the VNF's TOML config from the cluster's custom resources
//! (CONTRACT §1). `render` writes once; `watch` re-renders on every change of the CR directory
//! and asks the running VNF to reload.
//!
//! Exit status: 0 on success, 2 for invalid CRs, arguments or dSSM environment (nothing is
//! written then), 1 for other failures (e.g. the output cannot be written).

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use egress_config::control::request_reload;
use egress_config::cr::CrError;
use egress_config::render::{render_dir, write_atomic, DssmEnv, RenderOptions};
use egress_config::watch::Snapshot;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "egress-sidecar",
    version,
    about = "Renders the egress-vnf config from F5SPK custom resources"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Render once and exit.
    Render(Common),
    /// Render, then re-render whenever a CR file changes and ask the VNF to reload.
    Watch {
        #[command(flatten)]
        common: Common,
        /// The VNF's control socket.
        #[arg(long, default_value = "/run/egress-vnf/control.sock")]
        control_socket: PathBuf,
        /// Poll interval of the CR directory, milliseconds.
        #[arg(long, default_value_t = 500, hide = true)]
        poll_ms: u64,
    },
}

#[derive(Args)]
struct Common {
    /// Directory of the CR YAML files (*.yaml, *.yml; multi-document files allowed).
    #[arg(long)]
    cr_dir: PathBuf,
    /// This replica's TMM index (0-based).
    #[arg(long)]
    tmm_index: u32,
    /// An EAL argument for the VNF (repeat for several).
    #[arg(long = "eal", allow_hyphen_values = true)]
    eal: Vec<String>,
    /// The TOML file to write (atomically).
    #[arg(long)]
    out: PathBuf,
}

fn log(msg: impl std::fmt::Display) {
    eprintln!("egress-sidecar: {msg}");
}

fn options(c: &Common, control_socket: Option<&Path>) -> RenderOptions {
    RenderOptions {
        tmm_index: c.tmm_index,
        eal: c.eal.clone(),
        control_socket: control_socket.map(|p| p.display().to_string()),
        env: DssmEnv::from_env(),
    }
}

/// Renders; on success writes `out` when its content differs. Returns whether it was written.
fn render_once(c: &Common, opts: &RenderOptions) -> Result<Result<bool, anyhow::Error>, CrError> {
    let (text, warnings) = render_dir(&c.cr_dir, opts)?;
    for w in warnings {
        log(format!("warning: {w}"));
    }
    if std::fs::read(&c.out).ok().as_deref() == Some(text.as_bytes()) {
        return Ok(Ok(false));
    }
    Ok(write_atomic(&c.out, text.as_bytes())
        .with_context(|| format!("cannot write {}", c.out.display()))
        .map(|()| true))
}

fn render_cmd(c: &Common) -> ExitCode {
    let opts = options(c, None);
    match render_once(c, &opts) {
        Err(e) => {
            log(format!("error: {e}"));
            log(format!("{} not written", c.out.display()));
            ExitCode::from(2)
        }
        Ok(Err(e)) => {
            log(format!("error: {e:#}"));
            ExitCode::from(1)
        }
        Ok(Ok(written)) => {
            let what = if written { "wrote" } else { "unchanged:" };
            log(format!(
                "{what} {} (tmm index {})",
                c.out.display(),
                c.tmm_index
            ));
            ExitCode::SUCCESS
        }
    }
}

fn watch_cmd(c: &Common, socket: &Path, poll: Duration) -> ExitCode {
    let opts = options(c, Some(socket));
    log(format!(
        "watching {} every {} ms for tmm index {}; output {}; VNF control socket {}",
        c.cr_dir.display(),
        poll.as_millis(),
        c.tmm_index,
        c.out.display(),
        socket.display()
    ));
    let mut last: Option<Snapshot> = None;
    let mut rendered_once = false;
    loop {
        let snap = Snapshot::take(&c.cr_dir);
        if last.as_ref() != Some(&snap) {
            last = Some(snap);
            let existed = c.out.exists();
            match render_once(c, &opts) {
                Err(e) => log(format!(
                    "error: {e}; keeping the last good {}",
                    c.out.display()
                )),
                Ok(Err(e)) => {
                    log(format!("error: {e:#}; will retry"));
                    // Try again on the next poll even if nothing changes.
                    last = None;
                }
                Ok(Ok(false)) => {
                    rendered_once = true;
                    log(format!(
                        "{}: CRs changed, config unchanged",
                        c.out.display()
                    ));
                }
                Ok(Ok(true)) => {
                    log(format!("wrote {}", c.out.display()));
                    // A VNF can only be running on an output that existed before.
                    if existed || rendered_once {
                        reload(socket);
                    }
                    rendered_once = true;
                }
            }
        }
        std::thread::sleep(poll);
    }
}

fn reload(socket: &Path) {
    match request_reload(socket, Duration::from_secs(10)) {
        Ok(r) if r.ok => log(format!("VNF reloaded: {}", r.text)),
        Ok(r) => log(format!("error: VNF refused the reload: {}", r.text)),
        Err(e) => log(format!(
            "error: reload request failed: {e} (will retry on the next change)"
        )),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match &cli.cmd {
        Cmd::Render(c) => render_cmd(c),
        Cmd::Watch {
            common,
            control_socket,
            poll_ms,
        } => watch_cmd(
            common,
            control_socket,
            Duration::from_millis((*poll_ms).max(10)),
        ),
    }
}
