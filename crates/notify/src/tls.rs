//! TLS for the channels that open their own connections (SMTP, syslog over TLS): the
//! system's trust store plus an operator's CA file, on rustls with ring.

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use std::path::Path;
use std::sync::Arc;

/// Largest CA file read.
const MAX_CA_FILE_BYTES: u64 = 1024 * 1024;

/// The certificates in the PEM file at `path`; an unreadable file, or one without a
/// certificate, is an error that names it.
pub fn read_ca_file(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let shown = path.display();
    let size = std::fs::metadata(path)
        .map_err(|e| format!("ca_file {shown}: {e}"))?
        .len();
    if size > MAX_CA_FILE_BYTES {
        return Err(format!(
            "ca_file {shown}: {size} bytes is too large for a CA file"
        ));
    }
    let pem = std::fs::read(path).map_err(|e| format!("ca_file {shown}: {e}"))?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("ca_file {shown}: not PEM certificates: {e}"))?;
    if certs.is_empty() {
        return Err(format!("ca_file {shown}: holds no certificate"));
    }
    Ok(certs)
}

/// A client configuration that trusts the platform's roots and `extra_roots`.
pub fn client_config(
    extra_roots: Vec<CertificateDer<'static>>,
) -> Result<Arc<rustls::ClientConfig>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier =
        rustls_platform_verifier::Verifier::new_with_extra_roots(extra_roots, provider.clone())
            .map_err(|e| format!("cannot load the trusted certificates: {e}"))?;
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS settings: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    Ok(Arc::new(config))
}
