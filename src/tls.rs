//! TLS for the QUIC endpoint: creating the local development CA and the server's rustls
//! configuration (TLS 1.3, ALPN `lockgate/1`, the `ring` provider, installed explicitly). The
//! loaders, the error type and the client's configuration are the client crate's
//! (`lockgate_client::tls`), re-exported here.
//!
//! With no certificate configured, the first start creates under `<data_dir>/tls/` a CA
//! (`ca.pem`, `ca.key`) and a server certificate for `localhost` and `127.0.0.1`
//! (`server.pem`, `server.key`), and later starts reuse them. Clients on the same machine trust
//! `ca.pem`. Private keys are written with mode 0600.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::protocol::ALPN;

pub use lockgate_client::tls::{TlsError, client_config, load_certs, load_key, provider, roots};

/// An error of the certificate generator, as a [`TlsError`].
fn generate(e: rcgen::Error) -> TlsError {
    TlsError::Generate(e.to_string())
}

/// Keys that make a restarted server recognize its old connection ids and answer packets for
/// them with a stateless reset its old clients can verify, so that they reconnect at once
/// instead of waiting for their idle timeout.
pub struct RestartKeys {
    /// Signs stateless-reset tokens.
    pub reset: ring::hmac::Key,
    /// Keys the connection-id hash that tells this server's ids from random ones.
    pub connection_ids: u64,
}

/// The [`RestartKeys`] of a data directory, from `<data_dir>/tls/reset.key` (32 random bytes,
/// owner-only), made on first use.
pub fn restart_keys(data_dir: &Path) -> Result<RestartKeys, TlsError> {
    let path = data_dir.join("tls/reset.key");
    let secret = match std::fs::read(&path) {
        Ok(bytes) if bytes.len() == 32 => bytes,
        Ok(_) => {
            return Err(TlsError::BadPem {
                path,
                reason: "a stateless-reset key is 32 bytes; remove the file to make a new one"
                    .into(),
            });
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            use std::io::Write;
            use std::os::unix::fs::OpenOptionsExt;
            let mut bytes = vec![0u8; 32];
            ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes).map_err(
                |_| TlsError::BadPem {
                    path: path.clone(),
                    reason: "no randomness for a stateless-reset key".into(),
                },
            )?;
            let write = |e| TlsError::Write {
                path: path.clone(),
                source: e,
            };
            std::fs::create_dir_all(data_dir.join("tls")).map_err(write)?;
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
                .and_then(|mut f| f.write_all(&bytes).and_then(|()| f.sync_all()))
                .map_err(write)?;
            bytes
        }
        Err(e) => return Err(TlsError::Read { path, source: e }),
    };
    let reset = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &secret);
    let tag = ring::hmac::sign(&reset, b"lockgate connection ids");
    let mut id_key = [0u8; 8];
    id_key.copy_from_slice(&tag.as_ref()[..8]);
    Ok(RestartKeys {
        reset,
        connection_ids: u64::from_le_bytes(id_key),
    })
}

/// Paths of the development CA and server certificate under a data directory.
pub struct DevPaths {
    pub ca_cert: PathBuf,
    pub ca_key: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
}

impl DevPaths {
    pub fn new(data_dir: &Path) -> DevPaths {
        let dir = data_dir.join("tls");
        DevPaths {
            ca_cert: dir.join("ca.pem"),
            ca_key: dir.join("ca.key"),
            server_cert: dir.join("server.pem"),
            server_key: dir.join("server.key"),
        }
    }
}

/// Creates the development CA and server certificate unless they exist. Returns their paths
/// and whether they were created now.
pub fn ensure_dev_certs(data_dir: &Path) -> Result<(DevPaths, bool), TlsError> {
    let paths = DevPaths::new(data_dir);
    if paths.server_cert.exists() && paths.server_key.exists() && paths.ca_cert.exists() {
        return Ok((paths, false));
    }
    let dir = paths.ca_cert.parent().expect("tls dir");
    std::fs::create_dir_all(dir).map_err(|source| TlsError::Write {
        path: dir.to_path_buf(),
        source,
    })?;

    let ca_key = rcgen::KeyPair::generate().map_err(generate)?;
    let ca_params = dev_ca_params()?;
    let ca_cert = ca_params.self_signed(&ca_key).map_err(generate)?;
    let issuer = rcgen::Issuer::new(ca_params, &ca_key);

    let server_key = rcgen::KeyPair::generate().map_err(generate)?;
    let mut params =
        rcgen::CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .map_err(generate)?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "lockgate server");
    let server_cert = params.signed_by(&server_key, &issuer).map_err(generate)?;

    write_file(&paths.ca_cert, ca_cert.pem().as_bytes(), false)?;
    write_file(&paths.ca_key, ca_key.serialize_pem().as_bytes(), true)?;
    write_file(&paths.server_cert, server_cert.pem().as_bytes(), false)?;
    write_file(
        &paths.server_key,
        server_key.serialize_pem().as_bytes(),
        true,
    )?;
    Ok((paths, true))
}

/// Issues a client certificate signed by the development CA of `data_dir` (for mTLS set-ups
/// and tests). Returns (certificate PEM, key PEM).
pub fn issue_dev_client_cert(data_dir: &Path, name: &str) -> Result<(String, String), TlsError> {
    let paths = DevPaths::new(data_dir);
    let key_pem = read(&paths.ca_key)?;
    let ca_key = rcgen::KeyPair::from_pem(&key_pem).map_err(|e| TlsError::BadPem {
        path: paths.ca_key.clone(),
        reason: e.to_string(),
    })?;
    // The issuer is named by the CA's parameters and identified by its key, both of which are
    // reproducible; the CA certificate itself need not be parsed.
    let issuer = rcgen::Issuer::new(dev_ca_params()?, &ca_key);
    let key = rcgen::KeyPair::generate().map_err(generate)?;
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(generate)?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    let cert = params.signed_by(&key, &issuer).map_err(generate)?;
    Ok((cert.pem(), key.serialize_pem()))
}

fn dev_ca_params() -> Result<rcgen::CertificateParams, TlsError> {
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(generate)?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Lockgate local development CA");
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
    ];
    Ok(params)
}

fn read(path: &Path) -> Result<String, TlsError> {
    std::fs::read_to_string(path).map_err(|source| TlsError::Read {
        path: path.to_path_buf(),
        source,
    })
}

fn write_file(path: &Path, bytes: &[u8], private: bool) -> Result<(), TlsError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let err = |source| TlsError::Write {
        path: path.to_path_buf(),
        source,
    };
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(if private { 0o600 } else { 0o644 })
        .open(path)
        .map_err(err)?;
    f.write_all(bytes).map_err(err)?;
    f.sync_all().map_err(err)
}

/// The server's rustls configuration: the given chain and key, TLS 1.3, ALPN `lockgate/1`,
/// and, with `client_ca`, required client certificates signed by it.
pub fn server_config(
    cert: &Path,
    key: &Path,
    client_ca: Option<&Path>,
) -> Result<rustls::ServerConfig, TlsError> {
    let builder = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?;
    let builder = match client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots(ca)?),
                provider(),
            )
            .build()?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder.with_single_cert(load_certs(cert)?, load_key(key)?)?;
    config.alpn_protocols = vec![ALPN.to_vec()];
    Ok(config)
}
