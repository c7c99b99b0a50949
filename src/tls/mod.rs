//! TLS (book chapter 10): every port TLS-only when `tls.cert` and `tls.key`
//! are set ([`server`]), client certificates required when `tls.clientCa` is (mutual TLS),
//! and every client, the services' calls to each other included, verifying the server
//! against `tls.ca` (the book's client ignores its CA pool) and presenting
//! `tls.clientCert` under mutual TLS. rustls with the ring provider throughout. The
//! development CA that `movieapp certs init` writes is in [`dev_certs`].

pub mod dev_certs;
pub mod server;

use std::{
    path::{Path, PathBuf},
    sync::Arc,
};

use rustls::pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
use serde::{Deserialize, Serialize};

/// The largest certificate or key file read: a chain fits in far less.
const MAX_PEM_BYTES: u64 = 1 << 20;

/// The `tls` section of the configuration. Paths to PEM files; all unset: plaintext, as in
/// the book's demo.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct Settings {
    /// The servers' certificate chain; with `key`, every port speaks TLS only.
    #[serde(deserialize_with = "crate::config::value::non_empty_path")]
    pub cert: Option<PathBuf>,
    #[serde(deserialize_with = "crate::config::value::non_empty_path")]
    pub key: Option<PathBuf>,
    /// Require client certificates signed by this CA (mutual TLS).
    #[serde(deserialize_with = "crate::config::value::non_empty_path")]
    pub client_ca: Option<PathBuf>,
    /// The CA clients verify servers against; set, clients speak TLS.
    #[serde(deserialize_with = "crate::config::value::non_empty_path")]
    pub ca: Option<PathBuf>,
    /// The certificate clients present under mutual TLS, with its key.
    #[serde(deserialize_with = "crate::config::value::non_empty_path")]
    pub client_cert: Option<PathBuf>,
    #[serde(deserialize_with = "crate::config::value::non_empty_path")]
    pub client_key: Option<PathBuf>,
    /// Serve a certificate that has expired or is not valid yet (clients will refuse it);
    /// without it, `serve` refuses to start with one. A reload only warns.
    pub allow_expired: bool,
}

impl Settings {
    /// Whether the servers speak TLS.
    pub fn serving(&self) -> bool {
        self.cert.is_some()
    }

    /// Checks that the keys that go together are given together: the key at fault, and
    /// what is wrong.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        let pairs = [
            ("tls.cert", &self.cert, "tls.key", &self.key),
            (
                "tls.clientCert",
                &self.client_cert,
                "tls.clientKey",
                &self.client_key,
            ),
        ];
        for (a, x, b, y) in pairs {
            if x.is_some() != y.is_some() {
                let (set, unset) = if x.is_some() { (a, b) } else { (b, a) };
                return Err((set, format!("{set} is set but {unset} is not: give both")));
            }
        }
        if self.client_ca.is_some() && self.cert.is_none() {
            return Err((
                "tls.clientCa",
                "tls.clientCa is set but tls.cert is not: client certificates need TLS; set tls.cert and tls.key"
                    .into(),
            ));
        }
        if self.cert.is_some() && self.ca.is_none() {
            return Err((
                "tls.cert",
                "tls.cert is set but tls.ca is not: the services call each other over TLS and verify each other against tls.ca; set it to the CA that signed tls.cert"
                    .into(),
            ));
        }
        if self.client_ca.is_some() && self.client_cert.is_none() {
            return Err((
                "tls.clientCa",
                "tls.clientCa is set but tls.clientCert is not: under mutual TLS the services present tls.clientCert and tls.clientKey when they call each other; set them"
                    .into(),
            ));
        }
        Ok(())
    }

    /// What clients need to call a server under these settings; `None`: plaintext.
    pub fn client(&self) -> Result<Option<ClientTls>, TlsError> {
        let Some(ca) = &self.ca else {
            return Ok(None);
        };
        let identity = match (&self.client_cert, &self.client_key) {
            (Some(cert), Some(key)) => Some((read_pem(cert)?, read_pem(key)?)),
            _ => None,
        };
        let tls = ClientTls {
            ca_pem: read_pem(ca)?,
            identity,
        };
        // Parsed now, so a bad file is reported before any call.
        tls.rustls()?;
        Ok(Some(tls))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Says what is wrong, never what is in the file.
    #[error("{what}: {reason}")]
    Invalid { what: String, reason: String },
}

fn invalid(what: impl std::fmt::Display, reason: impl std::fmt::Display) -> TlsError {
    TlsError::Invalid {
        what: what.to_string(),
        reason: reason.to_string(),
    }
}

/// A PEM file, bounded.
fn read_pem(path: &Path) -> Result<Pem, TlsError> {
    let text = crate::files::read_to_string_at_most(path, MAX_PEM_BYTES).map_err(|source| {
        TlsError::Read {
            path: path.to_owned(),
            source,
        }
    })?;
    Ok(Pem {
        path: path.to_owned(),
        text,
    })
}

/// The text of a PEM file and where it came from.
#[derive(Clone)]
pub struct Pem {
    path: PathBuf,
    text: String,
}

impl std::fmt::Debug for Pem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // It may hold a private key.
        f.debug_struct("Pem").field("path", &self.path).finish()
    }
}

impl Pem {
    /// When the first certificate is valid: `(not before, not after)`, Unix seconds.
    fn validity(&self) -> Result<(i64, i64), TlsError> {
        let certs = self.certs()?;
        let parsed = certs
            .first()
            .map(|der| x509_parser::parse_x509_certificate(der.as_ref()));
        match parsed {
            Some(Ok((_, cert))) => {
                let validity = cert.validity();
                Ok((
                    validity.not_before.timestamp(),
                    validity.not_after.timestamp(),
                ))
            }
            _ => Err(invalid(
                self.path.display(),
                "holds a certificate that cannot be read",
            )),
        }
    }

    fn certs(&self) -> Result<Vec<CertificateDer<'static>>, TlsError> {
        let certs = CertificateDer::pem_slice_iter(self.text.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| invalid(self.path.display(), format!("not PEM certificates ({e})")))?;
        if certs.is_empty() {
            return Err(invalid(
                self.path.display(),
                "holds no certificate (\"-----BEGIN CERTIFICATE-----\")",
            ));
        }
        Ok(certs)
    }

    fn key(&self) -> Result<PrivateKeyDer<'static>, TlsError> {
        PrivateKeyDer::from_pem_slice(self.text.as_bytes()).map_err(|_| {
            invalid(
                self.path.display(),
                "holds no private key in PEM (PKCS#8, PKCS#1 or SEC1)",
            )
        })
    }

    fn roots(&self) -> Result<rustls::RootCertStore, TlsError> {
        let mut roots = rustls::RootCertStore::empty();
        for cert in self.certs()? {
            roots.add(cert).map_err(|e| {
                invalid(
                    self.path.display(),
                    format!("not a usable CA certificate ({e})"),
                )
            })?;
        }
        Ok(roots)
    }
}

/// The crypto provider every TLS configuration here uses.
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// What a client verifies servers against and presents under mutual TLS.
#[derive(Debug, Clone)]
pub struct ClientTls {
    ca_pem: Pem,
    identity: Option<(Pem, Pem)>,
}

impl ClientTls {
    /// Whether it presents a client certificate (for mutual TLS).
    pub fn has_identity(&self) -> bool {
        self.identity.is_some()
    }

    /// For tonic channels (`https://` endpoints).
    pub fn tonic(&self) -> tonic::transport::ClientTlsConfig {
        let config = tonic::transport::ClientTlsConfig::new()
            .ca_certificate(tonic::transport::Certificate::from_pem(&self.ca_pem.text));
        match &self.identity {
            Some((cert, key)) => {
                config.identity(tonic::transport::Identity::from_pem(&cert.text, &key.text))
            }
            None => config,
        }
    }

    /// For HTTP clients (reqwest's `use_preconfigured_tls`).
    pub fn rustls(&self) -> Result<rustls::ClientConfig, TlsError> {
        let roots = self.ca_pem.roots()?;
        let builder = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| invalid("TLS", e))?
            .with_root_certificates(roots);
        let mut config = match &self.identity {
            Some((cert, key)) => builder
                .with_client_auth_cert(cert.certs()?, key.key()?)
                .map_err(|e| {
                    invalid(cert.path.display(), format!("unusable with its key ({e})"))
                })?,
            None => builder.with_no_client_auth(),
        };
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(config)
    }

    /// An HTTP client that speaks TLS this way.
    pub fn http_client(&self) -> Result<reqwest::Client, TlsError> {
        reqwest::Client::builder()
            .use_preconfigured_tls(self.rustls()?)
            .build()
            .map_err(|e| invalid("the HTTP client", e))
    }
}

/// The scheme for calling a server: `https` when clients speak TLS.
pub fn scheme(tls: Option<&ClientTls>) -> &'static str {
    if tls.is_some() { "https" } else { "http" }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> Settings {
        let mut s = Settings::default();
        for (key, path) in pairs {
            let path = Some(PathBuf::from(path));
            match *key {
                "cert" => s.cert = path,
                "key" => s.key = path,
                "clientCa" => s.client_ca = path,
                "ca" => s.ca = path,
                "clientCert" => s.client_cert = path,
                "clientKey" => s.client_key = path,
                _ => unreachable!(),
            }
        }
        s
    }

    #[test]
    fn keys_that_go_together_are_given_together() {
        assert!(Settings::default().check().is_ok());
        let full = [
            ("cert", "s.crt"),
            ("key", "s.key"),
            ("ca", "ca.crt"),
            ("clientCa", "ca.crt"),
            ("clientCert", "c.crt"),
            ("clientKey", "c.key"),
        ];
        assert!(settings(&full).check().is_ok());
        for (pairs, said) in [
            (&[("cert", "s.crt")][..], "tls.key is not"),
            (&[("key", "s.key")][..], "tls.cert is not"),
            (&[("cert", "s"), ("key", "k")][..], "tls.ca is not"),
            (&[("clientCa", "ca")][..], "tls.cert is not"),
            (
                &[("cert", "s"), ("key", "k"), ("ca", "c"), ("clientCa", "c")][..],
                "tls.clientCert is not",
            ),
            (&[("clientKey", "k")][..], "tls.clientCert is not"),
        ] {
            let (_, err) = settings(pairs).check().unwrap_err();
            assert!(err.contains(said), "{pairs:?}: {err}");
        }
    }

    #[test]
    fn bad_files_are_named_and_never_quoted() {
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.crt");
        std::fs::write(&ca, "secret-looking text").unwrap();
        let err = settings(&[("ca", ca.to_str().unwrap())])
            .client()
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("ca.crt") && err.contains("no certificate"),
            "{err}"
        );
        assert!(!err.contains("secret-looking"), "{err}");
        let err = settings(&[("ca", "/nonexistent/ca.crt")])
            .client()
            .unwrap_err()
            .to_string();
        assert!(err.contains("cannot read /nonexistent/ca.crt"), "{err}");
    }
}
