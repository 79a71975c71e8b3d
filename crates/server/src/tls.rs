//! HTTPS from certificate files (`api.tls_cert_file`, `api.tls_key_file`), on rustls with
//! ring: the TLS settings; [`crate::accept`] serves the connections.

use anyhow::Context;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::path::Path;
use std::sync::Arc;

/// Largest certificate or key file read.
const MAX_PEM_BYTES: u64 = 1024 * 1024;

/// The TLS settings of the certificate chain and private key in these PEM files.
pub fn server_config(
    cert_file: &Path,
    key_file: &Path,
) -> anyhow::Result<Arc<rustls::ServerConfig>> {
    let read = |path: &Path, what: &str| -> anyhow::Result<Vec<u8>> {
        let size = std::fs::metadata(path)
            .with_context(|| format!("api.{what} {}", path.display()))?
            .len();
        anyhow::ensure!(
            size <= MAX_PEM_BYTES,
            "api.{what} {}: {size} bytes is too large for a PEM file",
            path.display()
        );
        std::fs::read(path).with_context(|| format!("api.{what} {}", path.display()))
    };
    let cert_pem = read(cert_file, "tls_cert_file")?;
    let chain = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| {
            format!(
                "api.tls_cert_file {}: not PEM certificates",
                cert_file.display()
            )
        })?;
    anyhow::ensure!(
        !chain.is_empty(),
        "api.tls_cert_file {}: holds no certificate",
        cert_file.display()
    );
    let key_pem = read(key_file, "tls_key_file")?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem).with_context(|| {
        format!(
            "api.tls_key_file {}: no PKCS#8, PKCS#1 or SEC1 private key",
            key_file.display()
        )
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .with_context(|| {
            format!(
                "api.tls_key_file {} does not match api.tls_cert_file {}",
                key_file.display(),
                cert_file.display()
            )
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
