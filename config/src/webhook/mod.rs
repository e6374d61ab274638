//! `egress-dns-webhook`: the mutating admission webhook of the dedicated-DNS topology
//! (`docs/dedicated-dns.md`).
//!
//! It rewrites the DNS settings of selected pods at creation so that their queries go to a
//! resolver address that only the DNS instance of egress-vnf serves (through a second CoreDNS).
//! Modules: [`config`] (the YAML config file), [`selector`] (namespace names, label selectors),
//! [`admission`] (AdmissionReview in, AdmissionReview with a JSONPatch out: pure), [`http`] (a
//! minimal HTTP/1.1 server side with size and time bounds) and [`tls`] (ring, PEM files, reload of
//! renewed certificates). [`serve`] ties them together on a tokio runtime.
//!
//! Endpoints: `POST /mutate` (AdmissionReview, any query string such as the API server's
//! `?timeout=10s`), `GET /healthz` (`ok`). Other paths get 404, other methods 405.

pub mod admission;
pub mod config;
pub mod http;
pub mod selector;
pub mod tls;

pub use config::{WebhookConfig, WebhookConfigError};

use http::{Conn, Limits, ReadError, Request};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;

/// The path the MutatingWebhookConfiguration calls.
pub const MUTATE_PATH: &str = "/mutate";
/// The probe path.
pub const HEALTHZ_PATH: &str = "/healthz";

/// One log line on stderr.
pub fn log(msg: impl std::fmt::Display) {
    eprintln!("egress-dns-webhook: {msg}");
}

/// A response before it is written.
struct Answer {
    status: u16,
    content_type: &'static str,
    body: Vec<u8>,
}

fn text(status: u16, msg: impl Into<String>) -> Answer {
    let mut body = msg.into().into_bytes();
    body.push(b'\n');
    Answer {
        status,
        content_type: "text/plain; charset=utf-8",
        body,
    }
}

fn route(cfg: &WebhookConfig, peer: SocketAddr, req: &Request) -> Answer {
    match (req.method.as_str(), req.path.as_str()) {
        ("GET" | "HEAD", HEALTHZ_PATH) => text(200, "ok"),
        ("POST", MUTATE_PATH) => {
            let reply = admission::review(cfg, &req.body);
            log(format!("{peer}: {}", reply.log));
            Answer {
                status: reply.status,
                content_type: reply.content_type,
                body: reply.body,
            }
        }
        (m, HEALTHZ_PATH | MUTATE_PATH) => {
            log(format!("{peer}: {m} {}: 405", req.path));
            text(405, format!("method {m} not allowed on {}", req.path))
        }
        (m, p) => {
            log(format!("{peer}: {m} {p}: 404"));
            text(
                404,
                format!("no such path {p} (the webhook serves POST {MUTATE_PATH} and GET {HEALTHZ_PATH})"),
            )
        }
    }
}

async fn connection(
    tcp: TcpStream,
    peer: SocketAddr,
    acceptor: TlsAcceptor,
    cfg: Arc<WebhookConfig>,
    limits: Limits,
) {
    let _ = tcp.set_nodelay(true);
    let tls = match tokio::time::timeout(limits.request_timeout, acceptor.accept(tcp)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return log(format!("{peer}: TLS handshake failed: {e}")),
        Err(_) => return log(format!("{peer}: TLS handshake timed out")),
    };
    let mut conn = Conn::new(tls);
    loop {
        match conn.read_request(&limits).await {
            Ok(req) => {
                let a = route(&cfg, peer, &req);
                let head_only = req.method == "HEAD";
                if let Err(e) = conn
                    .respond(a.status, a.content_type, &a.body, req.close, head_only)
                    .await
                {
                    return log(format!("{peer}: cannot write the response: {e}"));
                }
                if req.close {
                    break;
                }
            }
            Err(ReadError::Closed) => break,
            Err(ReadError::Timeout) => {
                log(format!(
                    "{peer}: 408: the request was not complete within {:?}",
                    limits.request_timeout
                ));
                let a = text(408, "request timeout");
                let _ = conn
                    .respond(408, a.content_type, &a.body, true, false)
                    .await;
                break;
            }
            Err(ReadError::Reject(status, msg)) => {
                log(format!("{peer}: {status}: {msg}"));
                let a = text(status, msg);
                let _ = conn
                    .respond(status, a.content_type, &a.body, true, false)
                    .await;
                break;
            }
            Err(ReadError::Io(e)) => return log(format!("{peer}: read error: {e}")),
        }
    }
    conn.shutdown().await;
}

/// The size and time bounds from the config.
pub fn limits(cfg: &WebhookConfig) -> Limits {
    Limits {
        max_body_bytes: cfg.server.max_body_bytes,
        request_timeout: cfg.request_timeout(),
        idle_timeout: cfg.idle_timeout(),
    }
}

/// Accepts connections until `shutdown` completes, then waits (up to the request timeout) for
/// the connections in progress. At most `server.maxConnections` are served at once; more wait in
/// the listen backlog.
pub async fn serve(
    listener: TcpListener,
    cfg: Arc<WebhookConfig>,
    acceptor: TlsAcceptor,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let limits = limits(&cfg);
    let max = cfg.server.max_connections;
    let slots = Arc::new(Semaphore::new(max));
    let accept_loop = async {
        loop {
            let Ok(permit) = slots.clone().acquire_owned().await else {
                return;
            };
            let (tcp, peer) = match listener.accept().await {
                Ok(x) => x,
                Err(e) => {
                    // EMFILE and the like: back off instead of spinning.
                    log(format!("accept failed: {e}"));
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let (acceptor, cfg) = (acceptor.clone(), cfg.clone());
            tokio::spawn(async move {
                connection(tcp, peer, acceptor, cfg, limits).await;
                drop(permit);
            });
        }
    };
    tokio::select! {
        () = accept_loop => {}
        () = shutdown => {}
    }
    drop(listener);
    let all = u32::try_from(max).unwrap_or(u32::MAX);
    if tokio::time::timeout(limits.request_timeout, slots.acquire_many(all))
        .await
        .is_err()
    {
        log("connections still open at shutdown are closed");
    }
}

/// Re-reads the certificate files every `period`, logging what happened.
pub async fn reload_certificates(resolver: Arc<tls::CertResolver>, period: Duration) {
    let mut tick = tokio::time::interval(period);
    tick.tick().await;
    loop {
        tick.tick().await;
        match resolver.reload() {
            Ok(true) => log("certificate files changed: the new certificate is in use"),
            Ok(false) => {}
            Err(e) => log(format!("error: {e}; keeping the previous certificate")),
        }
    }
}
