//! Where and how to reach dSSM: the `[dssm]` section of the VNF config, overridden by the
//! CONTRACT §3 environment variables that are set.
//!
//! | variable | meaning |
//! | --- | --- |
//! | `SESSIONDB_EXTERNAL_STORAGE` | `true` enables dSSM (the VNF only) |
//! | `SESSIONDB_DISCOVERY_SENTINEL` | `true`: the service is a Sentinel |
//! | `SESSIONDB_EXTERNAL_SERVICE` | `host[:port]` (several separated by commas) |
//! | `SESSIONDB_SENTINEL_MASTER` | master name (default `dssm`) |
//! | `REDIS_CA_FILE` / `REDIS_AUTH_CERT` / `REDIS_AUTH_KEY` | TLS (on when the CA is set) |
//! | `DSSM_INSECURE` | `true` allows plaintext (development only) |

use super::DssmError;
use egress_config::Dssm;
use std::time::Duration;

/// The three PEM files of mutual TLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub ca: String,
    /// Client certificate (chain); None = no client authentication.
    pub cert: Option<String>,
    pub key: Option<String>,
}

/// Resolved connection settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DssmSettings {
    /// dSSM is used at all (`SESSIONDB_EXTERNAL_STORAGE`).
    pub enabled: bool,
    /// The endpoints are Sentinels (else: the Redis master itself).
    pub sentinel: bool,
    /// `host:port` endpoints, tried in turn.
    pub endpoints: Vec<(String, u16)>,
    /// Sentinel master name.
    pub master: String,
    /// TLS; None = plaintext (needs `insecure`).
    pub tls: Option<TlsFiles>,
    /// Plaintext allowed.
    pub insecure: bool,
    /// Replicas that must acknowledge a mapping write (`WAIT`); 0 = do not wait.
    pub wait_replicas: u32,
    /// `WAIT` timeout.
    pub wait_timeout_ms: u32,
    /// Per-endpoint connect timeout (discovery and master).
    pub connect_timeout: Duration,
    /// Per-command response timeout.
    pub response_timeout: Duration,
}

impl Default for DssmSettings {
    fn default() -> Self {
        DssmSettings::from_config(&Dssm::default())
    }
}

fn truthy(v: &str) -> bool {
    matches!(
        v.trim().to_ascii_lowercase().as_str(),
        "1" | "true" | "yes" | "on"
    )
}

/// Parses `host[:port][,host[:port]...]`.
pub fn parse_endpoints(s: &str, default_port: u16) -> Result<Vec<(String, u16)>, DssmError> {
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (h, p) = egress_config::split_host_port(part).ok_or_else(|| {
            DssmError::Settings(format!(
                "SESSIONDB_EXTERNAL_SERVICE: `{part}` is not host[:port]"
            ))
        })?;
        out.push((h, p.unwrap_or(default_port)));
    }
    Ok(out)
}

impl DssmSettings {
    /// From the `[dssm]` config section alone.
    pub fn from_config(c: &Dssm) -> DssmSettings {
        let default_port = c.default_port();
        DssmSettings {
            enabled: c.enabled,
            sentinel: c.sentinel,
            endpoints: parse_endpoints(&c.service, default_port).unwrap_or_default(),
            master: c.master.clone(),
            tls: c.ca_file.as_ref().map(|ca| TlsFiles {
                ca: ca.clone(),
                cert: c.cert_file.clone(),
                key: c.key_file.clone(),
            }),
            insecure: c.insecure,
            wait_replicas: c.wait_replicas,
            wait_timeout_ms: c.wait_timeout_ms,
            connect_timeout: Duration::from_millis(500),
            response_timeout: Duration::from_millis(2000u64.max(c.wait_timeout_ms as u64 + 1000)),
        }
    }

    /// The config section, then every CONTRACT §3 variable that `get` returns overrides it.
    pub fn from_config_and(
        c: &Dssm,
        get: impl Fn(&str) -> Option<String>,
    ) -> Result<DssmSettings, DssmError> {
        let mut c = c.clone();
        if let Some(v) = get("SESSIONDB_EXTERNAL_STORAGE") {
            c.enabled = truthy(&v);
        }
        if let Some(v) = get("SESSIONDB_DISCOVERY_SENTINEL") {
            c.sentinel = truthy(&v);
        }
        if let Some(v) = get("SESSIONDB_EXTERNAL_SERVICE") {
            c.service = v;
        }
        if let Some(v) = get("SESSIONDB_SENTINEL_MASTER") {
            if !v.is_empty() {
                c.master = v;
            }
        }
        if let Some(v) = get("REDIS_CA_FILE") {
            c.ca_file = (!v.is_empty()).then_some(v);
        }
        if let Some(v) = get("REDIS_AUTH_CERT") {
            c.cert_file = (!v.is_empty()).then_some(v);
        }
        if let Some(v) = get("REDIS_AUTH_KEY") {
            c.key_file = (!v.is_empty()).then_some(v);
        }
        if let Some(v) = get("DSSM_INSECURE") {
            c.insecure = truthy(&v);
        }
        let mut s = DssmSettings::from_config(&c);
        s.endpoints = parse_endpoints(&c.service, c.default_port())?;
        Ok(s)
    }

    /// The config section overridden by the process environment.
    pub fn from_config_and_env(c: &Dssm) -> Result<DssmSettings, DssmError> {
        Self::from_config_and(c, |k| std::env::var(k).ok())
    }

    /// One line for the logs: where, how, and the write acknowledgement.
    pub fn describe(&self) -> String {
        let eps = self
            .endpoints
            .iter()
            .map(|(h, p)| {
                if h.contains(':') {
                    format!("[{h}]:{p}")
                } else {
                    format!("{h}:{p}")
                }
            })
            .collect::<Vec<_>>()
            .join(",");
        let via = if self.sentinel {
            format!("Sentinel {eps}, master `{}`", self.master)
        } else {
            format!("Redis {eps}")
        };
        let tls = match &self.tls {
            Some(t) if t.cert.is_some() => "mutual TLS",
            Some(_) => "TLS without a client certificate",
            None => "PLAINTEXT (insecure)",
        };
        format!(
            "{via}, {tls}, writes wait for {} replica(s) up to {} ms",
            self.wait_replicas, self.wait_timeout_ms
        )
    }

    /// Checks that a connection can be attempted (endpoints, TLS files named, plaintext allowed).
    pub fn validate(&self) -> Result<(), DssmError> {
        if self.endpoints.is_empty() {
            return Err(DssmError::Settings(
                "no service: set SESSIONDB_EXTERNAL_SERVICE (host[:port]) or dssm.service".into(),
            ));
        }
        if self.sentinel && self.master.is_empty() {
            return Err(DssmError::Settings(
                "empty Sentinel master name (SESSIONDB_SENTINEL_MASTER)".into(),
            ));
        }
        match &self.tls {
            None if !self.insecure => Err(DssmError::Settings(
                "TLS is off (REDIS_CA_FILE is not set) and plaintext is not allowed; \
                 set REDIS_CA_FILE/REDIS_AUTH_CERT/REDIS_AUTH_KEY, or dssm.insecure = true \
                 (DSSM_INSECURE=true, egressctl --insecure) for development"
                    .into(),
            )),
            Some(t) if t.cert.is_some() != t.key.is_some() => Err(DssmError::Settings(
                "REDIS_AUTH_CERT and REDIS_AUTH_KEY go together (mutual TLS needs both)".into(),
            )),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn env_overrides_config() {
        let env: HashMap<&str, &str> = [
            ("SESSIONDB_EXTERNAL_STORAGE", "true"),
            ("SESSIONDB_DISCOVERY_SENTINEL", "true"),
            (
                "SESSIONDB_EXTERNAL_SERVICE",
                "f5-dssm-sentinel.dssm, [::1]:26380",
            ),
            ("REDIS_CA_FILE", "/ca.crt"),
            ("REDIS_AUTH_CERT", "/c.crt"),
            ("REDIS_AUTH_KEY", "/c.key"),
        ]
        .into_iter()
        .collect();
        let s =
            DssmSettings::from_config_and(&Dssm::default(), |k| env.get(k).map(|v| v.to_string()))
                .unwrap();
        assert!(s.enabled && s.sentinel);
        assert_eq!(
            s.endpoints,
            vec![
                ("f5-dssm-sentinel.dssm".to_string(), 26379),
                ("::1".to_string(), 26380)
            ]
        );
        assert_eq!(s.master, "dssm");
        assert_eq!(s.tls.as_ref().unwrap().cert.as_deref(), Some("/c.crt"));
        s.validate().unwrap();
    }

    #[test]
    fn plaintext_needs_insecure() {
        let c = Dssm {
            service: "127.0.0.1".into(),
            ..Dssm::default()
        };
        let s = DssmSettings::from_config(&c);
        assert_eq!(s.endpoints, vec![("127.0.0.1".to_string(), 6379)]);
        let e = s.validate().unwrap_err().to_string();
        assert!(e.contains("plaintext is not allowed"), "{e}");
        let s = DssmSettings::from_config(&Dssm {
            insecure: true,
            ..c
        });
        s.validate().unwrap();
        assert!(DssmSettings::from_config_and(&Dssm::default(), |k| {
            (k == "SESSIONDB_EXTERNAL_SERVICE").then(|| "a:b:c".to_string())
        })
        .is_err());
    }
}
