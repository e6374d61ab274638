//! Reaching the master: TLS material, Sentinel discovery confirmed with `ROLE`, and the
//! `+switch-master` watch.
//!
//! Discovery asks each configured Sentinel in turn (short connect and response timeouts)
//! `SENTINEL get-master-addr-by-name <master>`, connects to the address it names and accepts it
//! only if `ROLE` says `master` (a Sentinel that has not noticed a failover yet, or a demoted
//! master, is skipped). Without Sentinel the endpoints are Redis servers and the first one whose
//! `ROLE` is `master` is used. Every reconnect discovers again.

use super::settings::{DssmSettings, TlsFiles};
use super::{explain, DssmError};
use futures_util::StreamExt;
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Client, ClientTlsConfig, TlsCertificates};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The TLS material read from the files (None: plaintext).
pub type TlsMaterial = Option<TlsCertificates>;

fn read(what: &str, path: &str) -> Result<Vec<u8>, DssmError> {
    let data = std::fs::read(path)
        .map_err(|e| DssmError::Tls(format!("cannot read {what} `{path}`: {e}")))?;
    if !String::from_utf8_lossy(&data).contains("-----BEGIN") {
        return Err(DssmError::Tls(format!("{what} `{path}` is not a PEM file")));
    }
    Ok(data)
}

/// Reads the CA, certificate and key files (clear errors naming the variable and the file).
pub fn load_tls(s: &DssmSettings) -> Result<TlsMaterial, DssmError> {
    let Some(TlsFiles { ca, cert, key }) = &s.tls else {
        return Ok(None);
    };
    let root = read("REDIS_CA_FILE", ca)?;
    let client_tls = match (cert, key) {
        (Some(c), Some(k)) => Some(ClientTlsConfig {
            client_cert: read("REDIS_AUTH_CERT", c)?,
            client_key: read("REDIS_AUTH_KEY", k)?,
        }),
        (None, None) => None,
        _ => {
            return Err(DssmError::Tls(
                "REDIS_AUTH_CERT and REDIS_AUTH_KEY go together".into(),
            ))
        }
    };
    let certs = TlsCertificates {
        client_tls,
        root_cert: Some(root),
    };
    // Parse now so a bad PEM is reported at start, not on every connection attempt.
    client_for("localhost", 1, &Some(certs.clone()))?;
    Ok(Some(certs))
}

/// A client for one `host:port` (TLS when material is given).
pub fn client_for(host: &str, port: u16, tls: &TlsMaterial) -> Result<Client, DssmError> {
    let h = if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_string()
    };
    let r = match tls {
        Some(certs) => Client::build_with_tls(format!("rediss://{h}:{port}/"), certs.clone()),
        None => Client::open(format!("redis://{h}:{port}/")),
    };
    r.map_err(|e| DssmError::redis(format!("client for {host}:{port}"), &e))
}

/// Opens a multiplexed connection with bounded connect and response times.
pub async fn open(
    host: &str,
    port: u16,
    tls: &TlsMaterial,
    connect_timeout: Duration,
    response_timeout: Duration,
) -> Result<MultiplexedConnection, DssmError> {
    let client = client_for(host, port, tls)?;
    let cfg = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(connect_timeout))
        .set_response_timeout(Some(response_timeout));
    // The crate's own timeout covers the TCP connect; this one also bounds the TLS handshake
    // and the HELLO exchange.
    match tokio::time::timeout(
        connect_timeout + response_timeout,
        client.get_multiplexed_async_connection_with_config(&cfg),
    )
    .await
    {
        Ok(Ok(c)) => Ok(c),
        Ok(Err(e)) => Err(DssmError::redis(format!("connect {host}:{port}"), &e)),
        Err(_) => Err(DssmError::Redis {
            context: format!("connect {host}:{port}"),
            message: "timed out (a TLS server reached in plaintext, or a plaintext server \
                      reached with TLS, also ends this way)"
                .into(),
        }),
    }
}

/// A connection to a confirmed master.
pub struct Connection {
    pub con: MultiplexedConnection,
    /// The master's address.
    pub master: (String, u16),
    /// The Sentinel that named it (None without Sentinel).
    pub via: Option<(String, u16)>,
}

/// `ROLE`'s first element.
pub async fn role(con: &mut MultiplexedConnection) -> Result<String, redis::RedisError> {
    let v: redis::Value = redis::cmd("ROLE").query_async(con).await?;
    match v {
        redis::Value::Array(items) => match items.first() {
            Some(redis::Value::BulkString(b)) => Ok(String::from_utf8_lossy(b).into_owned()),
            Some(redis::Value::SimpleString(s)) => Ok(s.clone()),
            _ => Ok(String::new()),
        },
        _ => Ok(String::new()),
    }
}

async fn confirm_master(
    s: &DssmSettings,
    tls: &TlsMaterial,
    host: &str,
    port: u16,
) -> Result<MultiplexedConnection, DssmError> {
    let mut con = open(host, port, tls, s.connect_timeout, s.response_timeout).await?;
    let r = role(&mut con)
        .await
        .map_err(|e| DssmError::redis(format!("ROLE on {host}:{port}"), &e))?;
    if r == "master" {
        Ok(con)
    } else {
        Err(DssmError::Discovery(format!(
            "{host}:{port} is not a master (ROLE says `{r}`)"
        )))
    }
}

/// Asks one Sentinel for the master's address.
pub async fn ask_sentinel(
    s: &DssmSettings,
    tls: &TlsMaterial,
    host: &str,
    port: u16,
) -> Result<(String, u16), DssmError> {
    let mut con = open(host, port, tls, s.connect_timeout, s.response_timeout).await?;
    let addr: Option<(String, String)> = redis::cmd("SENTINEL")
        .arg("get-master-addr-by-name")
        .arg(&s.master)
        .query_async(&mut con)
        .await
        .map_err(|e| DssmError::redis(format!("SENTINEL on {host}:{port}"), &e))?;
    let (h, p) = addr.ok_or_else(|| {
        DssmError::Discovery(format!(
            "Sentinel {host}:{port} does not know master `{}`",
            s.master
        ))
    })?;
    let p: u16 = p
        .parse()
        .map_err(|_| DssmError::Discovery(format!("Sentinel {host}:{port} gave port `{p}`")))?;
    Ok((h, p))
}

/// Discovers the master and connects to it (see the module docs).
pub async fn connect(s: &DssmSettings, tls: &TlsMaterial) -> Result<Connection, DssmError> {
    let mut errors = Vec::new();
    for (host, port) in &s.endpoints {
        if s.sentinel {
            match ask_sentinel(s, tls, host, *port).await {
                Ok((mh, mp)) => match confirm_master(s, tls, &mh, mp).await {
                    Ok(con) => {
                        return Ok(Connection {
                            con,
                            master: (mh, mp),
                            via: Some((host.clone(), *port)),
                        })
                    }
                    Err(e) => errors.push(format!("master {mh}:{mp} (from {host}:{port}): {e}")),
                },
                Err(e) => errors.push(format!("Sentinel {host}:{port}: {e}")),
            }
        } else {
            match confirm_master(s, tls, host, *port).await {
                Ok(con) => {
                    return Ok(Connection {
                        con,
                        master: (host.clone(), *port),
                        via: None,
                    })
                }
                Err(e) => errors.push(format!("{host}:{port}: {e}")),
            }
        }
    }
    Err(DssmError::Discovery(format!(
        "no usable master `{}`: {}",
        s.master,
        errors.join("; ")
    )))
}

/// The master a `+switch-master` announced, waiting for the service to look at it.
pub type Announced = Arc<std::sync::Mutex<Option<(String, u16)>>>;

/// Watches the Sentinels' `+switch-master` channel for our master and puts the new master's
/// address in `announced` on each announcement. Runs until `stop`; moves to the next Sentinel
/// when one fails.
pub async fn watch_switch_master(
    s: DssmSettings,
    tls: TlsMaterial,
    announced: Announced,
    stop: Arc<AtomicBool>,
) {
    let mut i = 0usize;
    while !stop.load(Ordering::Relaxed) {
        let (host, port) = s.endpoints[i % s.endpoints.len()].clone();
        i += 1;
        let r: Result<(), String> = async {
            let client = client_for(&host, port, &tls).map_err(|e| e.to_string())?;
            let mut ps = tokio::time::timeout(
                s.connect_timeout + s.response_timeout,
                client.get_async_pubsub(),
            )
            .await
            .map_err(|_| "timed out".to_string())?
            .map_err(|e| explain(&e))?;
            ps.subscribe("+switch-master")
                .await
                .map_err(|e| explain(&e))?;
            let mut stream = ps.on_message();
            loop {
                if stop.load(Ordering::Relaxed) {
                    return Ok(());
                }
                match tokio::time::timeout(Duration::from_millis(250), stream.next()).await {
                    Err(_) => continue,
                    Ok(None) => return Err("subscription closed".to_string()),
                    Ok(Some(msg)) => {
                        let payload: String = msg.get_payload().unwrap_or_default();
                        // "<master> <old-ip> <old-port> <new-ip> <new-port>"
                        let w: Vec<&str> = payload.split_whitespace().collect();
                        if w.first() == Some(&s.master.as_str()) {
                            log::warn!(
                                "dSSM: Sentinel {host}:{port} announced +switch-master {payload}"
                            );
                            let new = match (w.get(3), w.get(4).and_then(|p| p.parse().ok())) {
                                (Some(h), Some(p)) => (h.to_string(), p),
                                // Unreadable: an address no master has, so the service
                                // discovers again.
                                _ => (String::new(), 0),
                            };
                            *announced.lock().unwrap_or_else(|e| e.into_inner()) = Some(new);
                        }
                    }
                }
            }
        }
        .await;
        if let Err(e) = r {
            log::debug!("dSSM: +switch-master watch on {host}:{port}: {e}");
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}
