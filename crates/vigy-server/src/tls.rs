//! TLS from PEM files: the certificate chain and its private key, served
//! with rustls (ring) for HTTP/2 and HTTP/1.1 alike.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::ServerConfig;

/// Where a server's certificate and key are.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// PEM: the certificate chain, leaf first.
    pub cert: PathBuf,
    /// PEM: the private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read as PEM.
    #[error("{path}: {error}")]
    Pem {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        error: rustls_pki_types::pem::Error,
    },
    /// The file held no certificate.
    #[error("{0}: no certificate in it")]
    NoCertificate(PathBuf),
    /// rustls refused the pair (a key that does not match, say).
    #[error("the certificate and key: {0}")]
    Rustls(#[from] tokio_rustls::rustls::Error),
}

impl TlsFiles {
    /// The rustls configuration for these files.
    pub fn server_config(&self) -> Result<Arc<ServerConfig>, TlsError> {
        let certs = CertificateDer::pem_file_iter(&self.cert)
            .map_err(|e| pem(&self.cert, e))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| pem(&self.cert, e))?;
        if certs.is_empty() {
            return Err(TlsError::NoCertificate(self.cert.clone()));
        }
        let key = PrivateKeyDer::from_pem_file(&self.key).map_err(|e| pem(&self.key, e))?;
        let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(certs, key)?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}

fn pem(path: &Path, error: rustls_pki_types::pem::Error) -> TlsError {
    TlsError::Pem { path: path.to_owned(), error }
}
