//! The hub's own certificate authority and server certificate.
//!
//! On first use the hub creates a CA (ECDSA P-256) and a server certificate
//! it signs, under `DIR/tls/` (keys readable by the owner only). Enrolment
//! tokens carry the CA certificate; a node pins exactly that CA and checks
//! the name [`SERVER_NAME`], whatever address it dials, so a LAN address or
//! a changed IP needs no new certificate.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};

/// The name in the server certificate that nodes verify.
pub const SERVER_NAME: &str = "lianfang-hub";

/// Errors creating or reading the TLS files.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot {what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot create the hub's certificates: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("{0} is not a PEM certificate")]
    BadPem(PathBuf),
}

/// The PEM files a TLS server needs, and the CA for tokens.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// The CA certificate (PEM), which nodes pin.
    pub ca_pem: String,
    /// The CA certificate (DER), carried in enrolment tokens.
    pub ca_der: Vec<u8>,
    /// The server certificate chain (PEM).
    pub server_cert_pem: String,
    /// The server's private key (PEM).
    pub server_key_pem: String,
}

fn read(path: &Path) -> Result<String, TlsError> {
    std::fs::read_to_string(path).map_err(|source| TlsError::Io {
        what: "read",
        path: path.to_owned(),
        source,
    })
}

fn write(path: &Path, text: &str, secret: bool) -> Result<(), TlsError> {
    let io = |what| {
        move |source| TlsError::Io {
            what,
            path: path.to_owned(),
            source,
        }
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    if secret {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let _ = secret;
    let mut file = options.open(path).map_err(io("create"))?;
    std::io::Write::write_all(&mut file, text.as_bytes()).map_err(io("write"))?;
    file.sync_all().map_err(io("sync"))
}

/// DER of the first certificate in a PEM text.
pub fn pem_to_der(pem: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    let body: String = pem
        .lines()
        .skip_while(|l| !l.starts_with("-----BEGIN CERTIFICATE-----"))
        .skip(1)
        .take_while(|l| !l.starts_with("-----END"))
        .collect();
    base64::engine::general_purpose::STANDARD.decode(body).ok()
}

/// Reads the hub's TLS files in `dir`, creating them on first use.
///
/// # Errors
/// I/O or generation errors.
pub fn ensure(dir: &Path) -> Result<TlsFiles, TlsError> {
    let tls = dir.join("tls");
    let (ca, cert, key) = (
        tls.join("ca.pem"),
        tls.join("server.pem"),
        tls.join("server.key"),
    );
    if !ca.exists() {
        // Build the files in a scratch directory and rename it into place,
        // so a crash never leaves half a set; a concurrent creator's rename
        // may win, and then we read theirs.
        let partial = dir.join(format!("tls.partial.{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&partial);
        let io = |what, path: &Path| {
            let path = path.to_owned();
            move |source| TlsError::Io { what, path, source }
        };
        std::fs::create_dir_all(&partial).map_err(io("create", &partial))?;
        create(&partial)?;
        if std::fs::rename(&partial, &tls).is_err() {
            let _ = std::fs::remove_dir_all(&partial);
        }
    }
    let ca_pem = read(&ca)?;
    let ca_der = pem_to_der(&ca_pem).ok_or_else(|| TlsError::BadPem(ca.clone()))?;
    Ok(TlsFiles {
        ca_der,
        ca_pem,
        server_cert_pem: read(&cert)?,
        server_key_pem: read(&key)?,
    })
}

fn create(tls: &Path) -> Result<(), TlsError> {
    let ca_key = KeyPair::generate()?;
    let mut ca_params = CertificateParams::default();
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, "Lianfang street hub CA");
    ca_params.distinguished_name = name;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca_params.not_before = rcgen::date_time_ymd(2020, 1, 1);
    ca_params.not_after = rcgen::date_time_ymd(2045, 1, 1);
    let ca_cert = ca_params.self_signed(&ca_key)?;

    let server_key = KeyPair::generate()?;
    let mut params = CertificateParams::new(vec![SERVER_NAME.to_owned(), "localhost".to_owned()])?;
    params
        .subject_alt_names
        .push(SanType::IpAddress(std::net::Ipv4Addr::LOCALHOST.into()));
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, SERVER_NAME);
    params.distinguished_name = name;
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.not_before = rcgen::date_time_ymd(2020, 1, 1);
    params.not_after = rcgen::date_time_ymd(2045, 1, 1);
    let issuer = Issuer::new(ca_params, &ca_key);
    let cert = params.signed_by(&server_key, &issuer)?;

    // The CA key is not kept: the server certificate lasts until 2045, and a
    // new CA means re-enrolling every node, as a lost hub does anyway.
    write(&tls.join("server.key"), &server_key.serialize_pem(), true)?;
    write(&tls.join("server.pem"), &cert.pem(), false)?;
    write(&tls.join("ca.pem"), &ca_cert.pem(), false)?;
    Ok(())
}

/// The host names the server certificate carries besides addresses: a
/// browser off loopback opens the dashboard by [`SERVER_NAME`] (the hosts
/// file maps it to the hub's address) and trusts `DIR/tls/ca.pem`.
pub fn host_names() -> Vec<String> {
    vec![SERVER_NAME.to_owned()]
}

/// The certificates of a PEM chain, for a rustls server (the dashboard).
///
/// # Errors
/// A PEM text that holds no certificate.
pub fn pem_certs(
    pem: &str,
) -> Result<Vec<tokio_rustls::rustls::pki_types::CertificateDer<'static>>, String> {
    use tokio_rustls::rustls::pki_types::CertificateDer;
    use tokio_rustls::rustls::pki_types::pem::PemObject as _;
    let certs: Vec<_> = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<_, _>>()
        .map_err(|e| format!("server certificate: {e}"))?;
    if certs.is_empty() {
        return Err("server certificate: no certificate in the PEM".into());
    }
    Ok(certs)
}

/// The private key of a PEM text, for a rustls server.
///
/// # Errors
/// A PEM text that holds no key.
pub fn pem_key(
    pem: &str,
) -> Result<tokio_rustls::rustls::pki_types::PrivateKeyDer<'static>, String> {
    use tokio_rustls::rustls::pki_types::PrivateKeyDer;
    use tokio_rustls::rustls::pki_types::pem::PemObject as _;
    PrivateKeyDer::from_pem_slice(pem.as_bytes()).map_err(|e| format!("server key: {e}"))
}
