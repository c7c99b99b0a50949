//! A development certificate authority, as the book makes one with `openssl req`: a CA, a
//! server certificate for this machine (localhost, 127.0.0.1, ::1 and any names given), and
//! a client certificate for mutual TLS, all ECDSA P-256, written as PEM files. Private keys
//! are created with mode 0600; nothing that exists is overwritten unless asked.

use std::{
    net::IpAddr,
    path::{Path, PathBuf},
};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};

/// The files `init` writes, in order: (name, private).
pub const FILES: [(&str, bool); 6] = [
    ("ca.crt", false),
    ("ca.key", true),
    ("server.crt", false),
    ("server.key", true),
    ("client.crt", false),
    ("client.key", true),
];

/// How long the certificates are valid.
pub const VALID_DAYS: i64 = 365;

#[derive(Debug, thiserror::Error)]
pub enum CertError {
    #[error("invalid host name {0:?}: expected a DNS name (e.g. movie.internal) or an IP address")]
    BadHost(String),
    #[error(
        "{} already exists; pass --force to replace the certificates in {}",
        .0.display(),
        .0.parent().map(Path::display).map(|d| d.to_string()).unwrap_or_default()
    )]
    Exists(PathBuf),
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot make the certificates: {0}")]
    Generate(#[from] rcgen::Error),
}

/// One certificate and its private key, PEM.
pub struct Pair {
    pub cert: String,
    pub key: String,
}

/// A CA, a server and a client certificate.
pub struct DevCerts {
    pub ca: Pair,
    pub server: Pair,
    pub client: Pair,
}

/// The names a server certificate covers: this machine's, then `hosts`.
pub fn server_names(hosts: &[String]) -> Result<Vec<SanType>, CertError> {
    let mut names = vec![
        SanType::DnsName("localhost".try_into()?),
        SanType::IpAddress(IpAddr::from([127, 0, 0, 1])),
        SanType::IpAddress(
            "::1"
                .parse()
                .map_err(|_| CertError::BadHost("::1".into()))?,
        ),
    ];
    for host in hosts {
        let name = match host.parse::<IpAddr>() {
            Ok(ip) => SanType::IpAddress(ip),
            Err(_) if is_dns_name(host) => SanType::DnsName(
                host.as_str()
                    .try_into()
                    .map_err(|_| CertError::BadHost(host.clone()))?,
            ),
            Err(_) => return Err(CertError::BadHost(host.clone())),
        };
        if !names.contains(&name) {
            names.push(name);
        }
    }
    Ok(names)
}

fn is_dns_name(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

fn params(common_name: &str, days: i64) -> CertificateParams {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "movieapp (development)");
    dn.push(DnType::CommonName, common_name);
    params.distinguished_name = dn;
    let now = time::OffsetDateTime::now_utc();
    // An hour back, for clocks a little behind.
    params.not_before = now - time::Duration::hours(1);
    params.not_after = now + time::Duration::days(days);
    params
}

/// Makes the CA and the two certificates it signs.
pub fn generate(hosts: &[String]) -> Result<DevCerts, CertError> {
    let ca_key = KeyPair::generate()?;
    let mut ca = params("movieapp development CA", VALID_DAYS);
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca, &ca_key);

    let leaf = |name: &str, usage: ExtendedKeyUsagePurpose, sans: Vec<SanType>| {
        let key = KeyPair::generate()?;
        let mut p = params(name, VALID_DAYS);
        p.subject_alt_names = sans;
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        p.extended_key_usages = vec![usage];
        p.use_authority_key_identifier_extension = true;
        let cert = p.signed_by(&key, &issuer)?;
        Ok::<_, CertError>(Pair {
            cert: cert.pem(),
            key: key.serialize_pem(),
        })
    };
    let server = leaf(
        "movieapp server",
        ExtendedKeyUsagePurpose::ServerAuth,
        server_names(hosts)?,
    )?;
    let client = leaf(
        "movieapp client",
        ExtendedKeyUsagePurpose::ClientAuth,
        Vec::new(),
    )?;
    Ok(DevCerts {
        ca: Pair {
            cert: ca_cert.pem(),
            key: ca_key.serialize_pem(),
        },
        server,
        client,
    })
}

impl DevCerts {
    /// Writes the six files of [`FILES`] into `dir` (created if needed). Without `force`,
    /// refuses before writing anything if any of them exists.
    pub fn write(&self, dir: &Path, force: bool) -> Result<Vec<PathBuf>, CertError> {
        let contents = [
            &self.ca.cert,
            &self.ca.key,
            &self.server.cert,
            &self.server.key,
            &self.client.cert,
            &self.client.key,
        ];
        let paths: Vec<PathBuf> = FILES.iter().map(|(name, _)| dir.join(name)).collect();
        if !force && let Some(existing) = paths.iter().find(|p| p.exists()) {
            return Err(CertError::Exists(existing.clone()));
        }
        let failed = |path: &Path| {
            let path = path.to_owned();
            move |source| CertError::Write { path, source }
        };
        std::fs::create_dir_all(dir).map_err(failed(dir))?;
        for ((path, (_, private)), text) in paths.iter().zip(FILES).zip(contents) {
            if force {
                match std::fs::remove_file(path) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                        return Err(failed(path)(e));
                    }
                    _ => {}
                }
            }
            crate::files::write_new(path, text.as_bytes(), private).map_err(failed(path))?;
        }
        Ok(paths)
    }
}

#[cfg(test)]
mod tests {
    use rustls::{
        client::{WebPkiServerVerifier, danger::ServerCertVerifier},
        pki_types::{CertificateDer, ServerName, UnixTime, pem::PemObject},
        server::WebPkiClientVerifier,
    };

    use super::*;

    fn der(pem: &str) -> CertificateDer<'static> {
        CertificateDer::from_pem_slice(pem.as_bytes()).unwrap()
    }

    fn roots(ca: &str) -> std::sync::Arc<rustls::RootCertStore> {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(der(ca)).unwrap();
        std::sync::Arc::new(roots)
    }

    #[test]
    fn the_server_and_client_certificates_chain_to_the_ca_for_the_right_names() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let certs = generate(&["movie.internal".into(), "10.0.0.7".into()]).unwrap();
        let server = WebPkiServerVerifier::builder(roots(&certs.ca.cert))
            .build()
            .unwrap();
        let now = UnixTime::now();
        for name in [
            "localhost",
            "127.0.0.1",
            "::1",
            "movie.internal",
            "10.0.0.7",
        ] {
            let name = ServerName::try_from(name).unwrap();
            server
                .verify_server_cert(&der(&certs.server.cert), &[], &name, &[], now)
                .unwrap_or_else(|e| panic!("{name:?}: {e}"));
        }
        let elsewhere = ServerName::try_from("example.com").unwrap();
        assert!(
            server
                .verify_server_cert(&der(&certs.server.cert), &[], &elsewhere, &[], now)
                .is_err()
        );
        // The client certificate is for clients only, and another CA's is refused.
        let clients = WebPkiClientVerifier::builder(roots(&certs.ca.cert))
            .build()
            .unwrap();
        clients
            .verify_client_cert(&der(&certs.client.cert), &[], now)
            .unwrap();
        let localhost = ServerName::try_from("localhost").unwrap();
        assert!(
            server
                .verify_server_cert(&der(&certs.client.cert), &[], &localhost, &[], now)
                .is_err()
        );
        let other = generate(&[]).unwrap();
        assert!(
            clients
                .verify_client_cert(&der(&other.client.cert), &[], now)
                .is_err()
        );
    }

    #[test]
    fn files_are_written_once_with_private_keys_private() {
        let dir = tempfile::tempdir().unwrap();
        let certs = generate(&[]).unwrap();
        let written = certs.write(dir.path(), false).unwrap();
        assert_eq!(written.len(), 6);
        #[cfg(unix)]
        for (path, (_, private)) in written.iter().zip(FILES) {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, if private { 0o600 } else { 0o644 }, "{path:?}");
        }
        let before = std::fs::read_to_string(dir.path().join("ca.crt")).unwrap();
        let again = generate(&[]).unwrap();
        assert!(matches!(
            again.write(dir.path(), false),
            Err(CertError::Exists(_))
        ));
        assert_eq!(
            std::fs::read_to_string(dir.path().join("ca.crt")).unwrap(),
            before
        );
        again.write(dir.path(), true).unwrap();
        assert_ne!(
            std::fs::read_to_string(dir.path().join("ca.crt")).unwrap(),
            before
        );
    }

    #[test]
    fn host_names_are_checked() {
        assert!(server_names(&["movie-1.example.com".into(), "::2".into()]).is_ok());
        for bad in ["", "under_score", "-lead", "a..b", "sp ace"] {
            assert!(
                matches!(server_names(&[bad.into()]), Err(CertError::BadHost(_))),
                "{bad:?}"
            );
        }
    }
}
