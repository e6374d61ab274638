//! egress-vnf configuration.
//!
//! The VNF reads one TOML file ([`VnfConfig`]); `egress-sidecar` renders it from the cluster's
//! custom resources. Every key is documented in `docs/config.md`. Loading never panics: a
//! malformed or inconsistent file yields a [`ConfigError`] that names the file, the line (when
//! the TOML parser gives a span), the field and what is wrong.
//!
//! Modules: the schema and its validation (re-exported here), [`net`] (prefixes and the DNS46
//! pool partition), [`cr`] (the custom resources read from YAML), [`render`] (CRs + dSSM
//! environment -> one TMM's config, with the cross-resource checks), [`control`] (the reload
//! request to the VNF), [`watch`] (change detection for `egress-sidecar watch`) and [`webhook`]
//! (the `egress-dns-webhook` admission webhook of the dedicated-DNS topology).

pub mod control;
pub mod cr;
pub mod net;
pub mod render;
mod schema;
mod validate;
pub mod watch;
pub mod webhook;

pub use net::{Ipv4Prefix, Ipv6Prefix, Nat46Partition};
pub use schema::*;
pub use validate::{valid_zone, RFC6052_LENGTHS};

use std::path::{Path, PathBuf};

/// A configuration that could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{file}: cannot read: {source}")]
    Io {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// TOML syntax error, unknown key or wrong type (the parser's own message carries the line).
    #[error("{file}:{line}:{column}: {message}")]
    Parse {
        file: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    /// The file parsed but a value is not acceptable.
    #[error("{file}: field `{field}`: {message}")]
    Invalid {
        file: PathBuf,
        field: String,
        message: String,
    },
}

impl ConfigError {
    /// The field the error is about, when known.
    pub fn field(&self) -> Option<&str> {
        match self {
            ConfigError::Invalid { field, .. } => Some(field),
            _ => None,
        }
    }
}

/// Line and column (1-based) of a byte offset in `text`.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.bytes().filter(|&b| b == b'\n').count() + 1;
    let column = before.rfind('\n').map_or(offset, |nl| offset - nl - 1) + 1;
    (line, column)
}

impl VnfConfig {
    /// Reads, parses and validates a config file.
    pub fn load(path: &Path) -> Result<VnfConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            file: path.to_owned(),
            source,
        })?;
        Self::from_toml_str(&text, path)
    }

    /// Parses and validates TOML text; `path` is only used in messages.
    pub fn from_toml_str(text: &str, path: &Path) -> Result<VnfConfig, ConfigError> {
        // serde_path_to_error names the field a type error is about (`vlans[0].self_v4`).
        let de = toml::Deserializer::new(text);
        let cfg: VnfConfig = serde_path_to_error::deserialize(de).map_err(|e| {
            let field = e.path().to_string();
            let inner = e.into_inner();
            let span = inner.span();
            let (line, column) = span.clone().map_or((0, 0), |s| line_col(text, s.start));
            // The offending value as written (short values only), e.g. `"10.0.0.300"`.
            let value = span
                .and_then(|s| text.get(s))
                .filter(|v| !v.is_empty() && v.len() <= 80 && !v.contains('\n'))
                .map(|v| format!(" (got {v})"))
                .unwrap_or_default();
            let message = if field.is_empty() || field == "." {
                format!("{}{value}", inner.message())
            } else {
                format!("field `{field}`: {}{value}", inner.message())
            };
            ConfigError::Parse {
                file: path.to_owned(),
                line,
                column,
                message,
            }
        })?;
        cfg.validate()
            .map_err(|(field, message)| ConfigError::Invalid {
                file: path.to_owned(),
                field,
                message,
            })?;
        Ok(cfg)
    }

    /// Renders the config as TOML (deterministic: same value, same bytes).
    pub fn to_toml_string(&self) -> String {
        toml::to_string(self).unwrap_or_else(|e| format!("# render error: {e}\n"))
    }
}

#[cfg(test)]
mod parse_error_tests {
    use super::*;

    #[test]
    fn type_errors_name_the_field_and_the_line() {
        let text = "eal = []\n[[vlans]]\nname = \"int\"\ninterfaces = [\"1.1\"]\nself_v4 = \"10.0.0.300\"\nprefixlen_v4 = 24\n";
        let e = VnfConfig::from_toml_str(text, Path::new("x.toml"))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("x.toml:5:"), "{e}");
        assert!(e.contains("field `vlans[0].self_v4`"), "{e}");
        assert!(
            e.contains("10.0.0.300"),
            "the offending value is quoted: {e}"
        );
    }

    #[test]
    fn unknown_keys_name_the_key() {
        let text = "[dataplane]\nworkers = 1\nbogus = 3\n";
        let e = VnfConfig::from_toml_str(text, Path::new("x.toml"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("x.toml:3:") && e.contains("bogus"), "{e}");
    }
}
