//! `egress-dns-webhook`: the mutating admission webhook that points selected pods' DNS at the
//! dedicated DNS instance's resolver address (docs/dedicated-dns.md).
//!
//! ```text
//! egress-dns-webhook --config FILE [--listen ADDR:PORT]
//! ```
//! Logs go to stderr, one line per decision. Exit status: 0 after SIGTERM/SIGINT, 2 for an invalid
//! config, argument or certificate, 1 otherwise (e.g. the address cannot be bound).

use clap::Parser;
use egress_config::webhook::{self, log, tls, WebhookConfig};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "egress-dns-webhook",
    version,
    about = "Mutating admission webhook: rewrites selected pods' DNS to the dedicated DNS resolver"
)]
struct Cli {
    /// The YAML config file.
    #[arg(long)]
    config: PathBuf,
    /// Listen address, overriding `server.listen` (port 0 picks a free port).
    #[arg(long)]
    listen: Option<SocketAddr>,
}

async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                log(format!("cannot watch SIGTERM: {e}"));
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        () = term => log("SIGTERM: shutting down"),
        _ = tokio::signal::ctrl_c() => log("SIGINT: shutting down"),
    }
}

async fn run(cfg: WebhookConfig) -> ExitCode {
    if !tls::install_provider() {
        log("a process-level TLS provider was already installed; the server uses ring explicitly");
    }
    let provider = tls::provider();
    let resolver = match tls::CertResolver::load(
        &cfg.server.cert_file,
        &cfg.server.key_file,
        provider.clone(),
    ) {
        Ok(r) => Arc::new(r),
        Err(e) => {
            log(format!("error: {e}"));
            return ExitCode::from(2);
        }
    };
    let server_config = match tls::server_config(resolver.clone(), provider) {
        Ok(c) => c,
        Err(e) => {
            log(format!("error: {e}"));
            return ExitCode::from(2);
        }
    };
    let listener = match tokio::net::TcpListener::bind(cfg.server.listen).await {
        Ok(l) => l,
        Err(e) => {
            log(format!(
                "error: cannot listen on {}: {e}",
                cfg.server.listen
            ));
            return ExitCode::from(1);
        }
    };
    let addr = listener.local_addr().map_or(cfg.server.listen, |a| a);
    log(format!(
        "nameservers {:?}, cluster domain {}, ndots {}, namespaces {:?} minus {:?}, pod selector {}, rewriting dnsPolicy {:?}",
        cfg.dns.nameservers,
        cfg.cluster_domain(),
        cfg.dns.ndots,
        cfg.select.namespaces,
        cfg.select.exclude_namespaces,
        cfg.select.pod_selector.describe(),
        cfg.dns.rewrite_policies,
    ));
    log(format!("listening on https://{addr}"));
    let period = Duration::from_secs(cfg.server.cert_reload_seconds);
    tokio::spawn(webhook::reload_certificates(resolver, period));
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server_config));
    webhook::serve(listener, Arc::new(cfg), acceptor, shutdown_signal()).await;
    log("stopped");
    ExitCode::SUCCESS
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut cfg = match WebhookConfig::load(&cli.config) {
        Ok(c) => c,
        Err(e) => {
            log(format!("error: {e}"));
            return ExitCode::from(2);
        }
    };
    if let Some(l) = cli.listen {
        cfg.server.listen = l;
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            log(format!("error: cannot start the runtime: {e}"));
            return ExitCode::from(1);
        }
    };
    rt.block_on(run(cfg))
}
