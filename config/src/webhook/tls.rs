//! The webhook's TLS: one crypto provider (ring) for the whole process, certificate and key read
//! from PEM files, and a certificate resolver that picks up renewed files (cert-manager rewrites
//! the Secret, the kubelet updates the mounted files) without a restart.

use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

/// The crypto provider of the webhook: ring.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Installs ring as the process-level provider. Returns false when another provider was already
/// installed (the webhook still uses ring explicitly for its own config).
pub fn install_provider() -> bool {
    rustls::crypto::ring::default_provider()
        .install_default()
        .is_ok()
}

/// A certificate or key file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{}: cannot read: {source}", file.display())]
    Io {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: {message}", file.display())]
    Pem { file: PathBuf, message: String },
    #[error("{} and {}: {message}", cert.display(), key.display())]
    Key {
        cert: PathBuf,
        key: PathBuf,
        message: String,
    },
    #[error("TLS configuration: {0}")]
    Config(String),
}

/// Builds the certified key from PEM bytes (a certificate chain, end entity first, and a PKCS#8,
/// PKCS#1 or SEC1 private key).
pub fn certified_key(
    cert_file: &Path,
    cert_pem: &[u8],
    key_file: &Path,
    key_pem: &[u8],
    provider: &CryptoProvider,
) -> Result<CertifiedKey, TlsError> {
    let pem_err = |file: &Path, message: String| TlsError::Pem {
        file: file.to_owned(),
        message,
    };
    let certs = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_err(cert_file, format!("bad PEM certificate: {e}")))?;
    if certs.is_empty() {
        return Err(pem_err(cert_file, "no CERTIFICATE in the file".into()));
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem)
        .map_err(|e| pem_err(key_file, format!("no usable private key: {e}")))?;
    CertifiedKey::from_der(certs, key, provider).map_err(|e| TlsError::Key {
        cert: cert_file.to_owned(),
        key: key_file.to_owned(),
        message: e.to_string(),
    })
}

fn read(file: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(file).map_err(|source| TlsError::Io {
        file: file.to_owned(),
        source,
    })
}

/// Serves the current certificate; [`CertResolver::reload`] swaps in changed files.
#[derive(Debug)]
pub struct CertResolver {
    cert_file: PathBuf,
    key_file: PathBuf,
    provider: Arc<CryptoProvider>,
    current: RwLock<Arc<CertifiedKey>>,
    /// The file contents `current` was built from.
    loaded: Mutex<(Vec<u8>, Vec<u8>)>,
}

impl CertResolver {
    /// Loads the files once; fails when they are unusable.
    pub fn load(
        cert_file: &Path,
        key_file: &Path,
        provider: Arc<CryptoProvider>,
    ) -> Result<CertResolver, TlsError> {
        let (c, k) = (read(cert_file)?, read(key_file)?);
        let ck = certified_key(cert_file, &c, key_file, &k, &provider)?;
        Ok(CertResolver {
            cert_file: cert_file.to_owned(),
            key_file: key_file.to_owned(),
            provider,
            current: RwLock::new(Arc::new(ck)),
            loaded: Mutex::new((c, k)),
        })
    }

    /// Re-reads the files. `Ok(true)`: a new certificate is in use; `Ok(false)`: the files did
    /// not change; `Err`: they changed but are unusable (the previous certificate stays).
    pub fn reload(&self) -> Result<bool, TlsError> {
        let (c, k) = (read(&self.cert_file)?, read(&self.key_file)?);
        let mut loaded = self.loaded.lock().unwrap_or_else(|p| p.into_inner());
        if loaded.0 == c && loaded.1 == k {
            return Ok(false);
        }
        let ck = certified_key(&self.cert_file, &c, &self.key_file, &k, &self.provider)?;
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(ck);
        *loaded = (c, k);
        Ok(true)
    }
}

impl ResolvesServerCert for CertResolver {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(
            self.current
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
        )
    }
}

/// The server config: ring, TLS 1.2 and 1.3, no client authentication, ALPN `http/1.1`.
pub fn server_config(
    resolver: Arc<CertResolver>,
    provider: Arc<CryptoProvider>,
) -> Result<rustls::ServerConfig, TlsError> {
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_no_client_auth()
        .with_cert_resolver(resolver);
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(cfg)
}
