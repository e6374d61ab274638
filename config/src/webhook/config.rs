//! The webhook's YAML config file (every key is documented in `docs/dedicated-dns.md`).
//!
//! ```yaml
//! server:
//!   listen: "[::]:8443"
//!   certFile: /etc/egress-dns-webhook/tls/tls.crt
//!   keyFile: /etc/egress-dns-webhook/tls/tls.key
//! dns:
//!   nameservers: ["172.30.53.53"]
//!   clusterDomain: cluster.local
//! select:
//!   namespaces: ["app-*"]
//!   podSelector:
//!     matchLabels: { egress.f5net.com/dns46: "true" }
//! ```
//!
//! Unknown keys are errors (a misspelt key must not silently select every pod). Loading never
//! panics: a bad file gives a [`WebhookConfigError`] naming the file, the field and the problem.

use super::selector::{LabelSelector, NamespaceNames};
use crate::valid_zone;
use serde::Deserialize;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A pod's `spec.dnsPolicy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum DnsPolicy {
    ClusterFirst,
    ClusterFirstWithHostNet,
    Default,
    None,
}

impl DnsPolicy {
    /// Parses the API spelling.
    pub fn parse(s: &str) -> Option<DnsPolicy> {
        Some(match s {
            "ClusterFirst" => DnsPolicy::ClusterFirst,
            "ClusterFirstWithHostNet" => DnsPolicy::ClusterFirstWithHostNet,
            "Default" => DnsPolicy::Default,
            "None" => DnsPolicy::None,
            _ => return None,
        })
    }
}

/// `server`: where and how the HTTPS server listens.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ServerConfig {
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    #[serde(default = "default_cert_reload")]
    pub cert_reload_seconds: u64,
    #[serde(default = "default_max_body")]
    pub max_body_bytes: usize,
    #[serde(default = "default_request_timeout")]
    pub request_timeout_seconds: u64,
    #[serde(default = "default_idle_timeout")]
    pub idle_timeout_seconds: u64,
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
}

/// `dns`: what the rewritten pods get.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DnsConfig {
    pub nameservers: Vec<IpAddr>,
    #[serde(default = "default_cluster_domain")]
    pub cluster_domain: String,
    #[serde(default = "default_ndots")]
    pub ndots: u8,
    #[serde(default = "default_policies")]
    pub rewrite_policies: Vec<DnsPolicy>,
}

/// `select`: which pods are rewritten.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct SelectConfig {
    pub namespaces: Vec<String>,
    pub exclude_namespaces: Vec<String>,
    pub pod_selector: LabelSelector,
}

/// The whole config file.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    pub server: ServerConfig,
    pub dns: DnsConfig,
    #[serde(default)]
    pub select: SelectConfig,
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([0u16; 8], 8443))
}
fn default_cert_reload() -> u64 {
    60
}
fn default_max_body() -> usize {
    4 << 20
}
fn default_request_timeout() -> u64 {
    10
}
fn default_idle_timeout() -> u64 {
    90
}
fn default_max_connections() -> usize {
    256
}
fn default_cluster_domain() -> String {
    "cluster.local".into()
}
fn default_ndots() -> u8 {
    5
}
fn default_policies() -> Vec<DnsPolicy> {
    vec![DnsPolicy::ClusterFirst, DnsPolicy::ClusterFirstWithHostNet]
}

/// A config file that could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum WebhookConfigError {
    #[error("{}: cannot read: {source}", file.display())]
    Io {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// YAML syntax, unknown key or wrong type.
    #[error("{}:{line}:{column}: field `{field}`: {message}", file.display())]
    Parse {
        file: PathBuf,
        line: usize,
        column: usize,
        field: String,
        message: String,
    },
    /// The file parsed but a value is not acceptable.
    #[error("{}: field `{field}`: {message}", file.display())]
    Invalid {
        file: PathBuf,
        field: String,
        message: String,
    },
}

impl WebhookConfigError {
    /// The field the error is about, when known.
    pub fn field(&self) -> Option<&str> {
        match self {
            WebhookConfigError::Parse { field, .. } | WebhookConfigError::Invalid { field, .. } => {
                Some(field)
            }
            WebhookConfigError::Io { .. } => None,
        }
    }
}

/// Kubernetes accepts at most this many `dnsConfig.nameservers`.
pub const MAX_NAMESERVERS: usize = 3;

impl WebhookConfig {
    /// Reads, parses and validates a config file.
    pub fn load(path: &Path) -> Result<WebhookConfig, WebhookConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| WebhookConfigError::Io {
            file: path.to_owned(),
            source,
        })?;
        Self::from_yaml_str(&text, path)
    }

    /// Parses and validates YAML text; `path` is only used in messages.
    pub fn from_yaml_str(text: &str, path: &Path) -> Result<WebhookConfig, WebhookConfigError> {
        let de = serde_norway::Deserializer::from_str(text);
        let cfg: WebhookConfig = serde_path_to_error::deserialize(de).map_err(|e| {
            let field = e.path().to_string();
            let inner = e.into_inner();
            let (line, column) = inner.location().map_or((0, 0), |l| (l.line(), l.column()));
            WebhookConfigError::Parse {
                file: path.to_owned(),
                line,
                column,
                field: if field.is_empty() { ".".into() } else { field },
                message: inner.to_string(),
            }
        })?;
        cfg.validate()
            .map_err(|(field, message)| WebhookConfigError::Invalid {
                file: path.to_owned(),
                field,
                message,
            })?;
        Ok(cfg)
    }

    /// Checks values that parse but make no sense. Returns (field, message).
    pub fn validate(&self) -> Result<(), (String, String)> {
        let err = |f: &str, m: String| Err((f.to_string(), m));
        let s = &self.server;
        if s.max_body_bytes < 1024 {
            return err(
                "server.maxBodyBytes",
                format!("{} is too small (at least 1024)", s.max_body_bytes),
            );
        }
        for (f, v) in [
            ("server.requestTimeoutSeconds", s.request_timeout_seconds),
            ("server.idleTimeoutSeconds", s.idle_timeout_seconds),
            ("server.certReloadSeconds", s.cert_reload_seconds),
        ] {
            if v == 0 || v > 86_400 {
                return err(f, format!("{v} is not between 1 and 86400"));
            }
        }
        if s.max_connections == 0 || s.max_connections > 65_536 {
            return err(
                "server.maxConnections",
                format!("{} is not between 1 and 65536", s.max_connections),
            );
        }
        let d = &self.dns;
        if d.nameservers.is_empty() || d.nameservers.len() > MAX_NAMESERVERS {
            return err(
                "dns.nameservers",
                format!(
                    "{} addresses given; Kubernetes takes 1 to {MAX_NAMESERVERS}",
                    d.nameservers.len()
                ),
            );
        }
        let domain = d.cluster_domain.trim_end_matches('.');
        if domain.is_empty() || !valid_zone(domain) {
            return err(
                "dns.clusterDomain",
                format!("`{}` is not a domain name", d.cluster_domain),
            );
        }
        if d.ndots > 15 {
            return err(
                "dns.ndots",
                format!("{} is above 15 (the resolver's cap)", d.ndots),
            );
        }
        if d.rewrite_policies.is_empty() {
            return err(
                "dns.rewritePolicies",
                "is empty: no pod would ever be rewritten".into(),
            );
        }
        for (field, list) in [
            ("select.namespaces", &self.select.namespaces),
            ("select.excludeNamespaces", &self.select.exclude_namespaces),
        ] {
            if let Some(i) = list.iter().position(|p| p.is_empty()) {
                return err(&format!("{field}[{i}]"), "is empty".into());
            }
        }
        self.select.pod_selector.validate("select.podSelector")
    }

    /// The cluster domain without a trailing dot.
    pub fn cluster_domain(&self) -> &str {
        self.dns.cluster_domain.trim_end_matches('.')
    }

    /// The namespace-name selection.
    pub fn namespace_names(&self) -> NamespaceNames {
        NamespaceNames {
            include: self.select.namespaces.clone(),
            exclude: self.select.exclude_namespaces.clone(),
        }
    }

    /// Timeout for a TLS handshake and for reading one request once it has started.
    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.server.request_timeout_seconds)
    }

    /// How long a kept-alive connection may wait for its next request.
    pub fn idle_timeout(&self) -> Duration {
        Duration::from_secs(self.server.idle_timeout_seconds)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str =
        "server:\n  certFile: /c\n  keyFile: /k\ndns:\n  nameservers: [10.0.0.53]\n";

    fn parse(text: &str) -> Result<WebhookConfig, WebhookConfigError> {
        WebhookConfig::from_yaml_str(text, Path::new("wh.yaml"))
    }

    #[test]
    fn defaults() {
        let c = parse(MINIMAL).unwrap();
        assert_eq!(c.server.listen, "[::]:8443".parse().unwrap());
        assert_eq!(c.server.max_body_bytes, 4 << 20);
        assert_eq!(c.server.request_timeout_seconds, 10);
        assert_eq!(c.dns.cluster_domain, "cluster.local");
        assert_eq!(c.dns.ndots, 5);
        assert_eq!(
            c.dns.rewrite_policies,
            [DnsPolicy::ClusterFirst, DnsPolicy::ClusterFirstWithHostNet]
        );
        assert_eq!(c.select, SelectConfig::default());
    }

    #[test]
    fn unknown_key_names_its_path() {
        let e = parse(&format!("{MINIMAL}select:\n  podSelectr: {{}}\n")).unwrap_err();
        let msg = e.to_string();
        assert!(msg.starts_with("wh.yaml:"), "{msg}");
        assert!(msg.contains("podSelectr"), "{msg}");
    }

    #[test]
    fn wrong_type_names_its_path() {
        let e = parse("server:\n  certFile: /c\n  keyFile: /k\ndns:\n  nameservers: [not-an-ip]\n")
            .unwrap_err();
        assert_eq!(e.field(), Some("dns.nameservers[0]"), "{e}");
    }

    #[test]
    fn invalid_values() {
        let cases = [
            ("dns:\n  nameservers: []\n", "dns.nameservers"),
            (
                "dns:\n  nameservers: [1.1.1.1, 1.0.0.1, 8.8.8.8, 8.8.4.4]\n",
                "dns.nameservers",
            ),
            (
                "dns:\n  nameservers: [1.1.1.1]\n  clusterDomain: \"bad domain\"\n",
                "dns.clusterDomain",
            ),
            ("dns:\n  nameservers: [1.1.1.1]\n  ndots: 16\n", "dns.ndots"),
            (
                "dns:\n  nameservers: [1.1.1.1]\n  rewritePolicies: []\n",
                "dns.rewritePolicies",
            ),
            (
                "dns:\n  nameservers: [1.1.1.1]\nselect:\n  namespaces: [\"\"]\n",
                "select.namespaces[0]",
            ),
            (
                "dns:\n  nameservers: [1.1.1.1]\nselect:\n  podSelector:\n    matchExpressions:\n      - {key: a, operator: In}\n",
                "select.podSelector.matchExpressions[0].values",
            ),
        ];
        for (dns, field) in cases {
            let text = format!("server:\n  certFile: /c\n  keyFile: /k\n{dns}");
            let e = parse(&text).unwrap_err();
            assert_eq!(e.field(), Some(field), "{text}: {e}");
        }
        let e = parse("server:\n  certFile: /c\n  keyFile: /k\n  requestTimeoutSeconds: 0\ndns:\n  nameservers: [1.1.1.1]\n").unwrap_err();
        assert_eq!(e.field(), Some("server.requestTimeoutSeconds"));
    }

    #[test]
    fn policies_parse() {
        let c = parse(&format!(
            "{MINIMAL}  rewritePolicies: [ClusterFirst, None]\n"
        ))
        .unwrap();
        assert_eq!(
            c.dns.rewrite_policies,
            [DnsPolicy::ClusterFirst, DnsPolicy::None]
        );
        assert!(parse(&format!("{MINIMAL}  rewritePolicies: [Sometimes]\n")).is_err());
    }
}
