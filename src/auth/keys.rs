//! Token signing keys: Ed25519 (EdDSA), kept as PKCS#8 PEM files that only their owner can
//! read, and published as a JWK set so other services verify tokens without the private
//! key. A key's id (`kid`) is its RFC 7638 thumbprint, so the same key always has the same
//! id wherever it is loaded.

use std::path::{Path, PathBuf};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use ring::signature::{Ed25519KeyPair, KeyPair};
use serde::{Deserialize, Serialize};

const PEM_LABEL: &str = "PRIVATE KEY";

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read signing key {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write signing key {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Says what is wrong with the key, never what is in it.
    #[error(
        "signing key {what} is not an Ed25519 private key in PKCS#8 PEM (\"-----BEGIN PRIVATE KEY-----\"): {reason}"
    )]
    Invalid { what: String, reason: String },
    #[error(
        "signing key {path} can be read by other users (mode {mode:o}); run `chmod 600 {path}`"
    )]
    TooOpen { path: PathBuf, mode: u32 },
    #[error("cannot generate a signing key: the system's random source failed")]
    Random,
}

/// A private signing key and its public half.
pub struct SigningKey {
    kid: String,
    pkcs8: Vec<u8>,
    public: Vec<u8>,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the private key.
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .finish()
    }
}

impl SigningKey {
    /// A new random key.
    pub fn generate() -> Result<Self, KeyError> {
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).map_err(|_| KeyError::Random)?;
        Self::from_pkcs8(pkcs8.as_ref(), "generated")
    }

    /// The key in PKCS#8 DER; `what` names it in errors.
    pub fn from_pkcs8(der: &[u8], what: &str) -> Result<Self, KeyError> {
        let pair =
            Ed25519KeyPair::from_pkcs8_maybe_unchecked(der).map_err(|e| KeyError::Invalid {
                what: what.to_owned(),
                reason: e.to_string(),
            })?;
        let public = pair.public_key().as_ref().to_vec();
        Ok(Self {
            kid: thumbprint(&public),
            pkcs8: der.to_vec(),
            public,
        })
    }

    /// The key in PEM text; `what` names it in errors (a path, or an environment variable).
    pub fn from_pem(text: &str, what: &str) -> Result<Self, KeyError> {
        let invalid = |reason: String| KeyError::Invalid {
            what: what.to_owned(),
            reason,
        };
        // pem's errors name what is malformed, never the text.
        let pem = pem::parse(text).map_err(|e| invalid(e.to_string()))?;
        if pem.tag() != PEM_LABEL {
            return Err(invalid(format!("it is a {:?} block", pem.tag())));
        }
        Self::from_pkcs8(pem.contents(), what)
    }

    /// Reads a PEM file, which must not be readable by others.
    pub fn read(path: &Path) -> Result<Self, KeyError> {
        check_private(path)?;
        let text = std::fs::read_to_string(path).map_err(|source| KeyError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::from_pem(&text, &path.display().to_string())
    }

    /// The key as PKCS#8 PEM text. Secret: never to be shown.
    pub(super) fn pem(&self) -> String {
        pem::encode(&pem::Pem::new(PEM_LABEL, self.pkcs8.clone()))
    }

    /// Writes the key as PEM to a new file with mode 0600 (never over an existing one).
    pub fn write_new(&self, path: &Path) -> Result<(), KeyError> {
        crate::files::write_new(path, self.pem().as_bytes(), true).map_err(|source| {
            KeyError::Write {
                path: path.to_owned(),
                source,
            }
        })
    }

    /// Writes the key as PEM over `path`, whole (mode 0600).
    pub fn replace(&self, path: &Path) -> Result<(), KeyError> {
        crate::files::replace(path, self.pem().as_bytes(), true).map_err(|source| KeyError::Write {
            path: path.to_owned(),
            source,
        })
    }

    /// The key at `path`, made (mode 0600) when there is none yet. Blocking.
    ///
    /// Several processes may start at once on a new data directory: the key is written
    /// whole to a file of its own, then linked into place, which fails if another process
    /// linked one first; that one is then used. A reader never sees a half-written key.
    pub fn open_or_create(path: &Path) -> Result<Self, KeyError> {
        if path.exists() {
            return Self::read(path);
        }
        let key = Self::generate()?;
        let draft = crate::files::draft_beside(path);
        key.write_new(&draft)?;
        let linked = std::fs::hard_link(&draft, path);
        let _ = std::fs::remove_file(&draft);
        match linked {
            Ok(()) => Ok(key),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Self::read(path),
            Err(source) => Err(KeyError::Write {
                path: path.to_owned(),
                source,
            }),
        }
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub(super) fn encoding_key(&self) -> jsonwebtoken::EncodingKey {
        jsonwebtoken::EncodingKey::from_ed_der(&self.pkcs8)
    }

    /// The public half, as a JWK.
    pub fn jwk(&self) -> Jwk {
        Jwk::ed25519(&self.kid, &self.public)
    }
}

/// One public key as RFC 8037 writes an Ed25519 JWK.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Jwk {
    pub kty: String,
    pub crv: String,
    /// The public key, base64url without padding.
    pub x: String,
    pub kid: String,
    pub alg: String,
    #[serde(rename = "use")]
    pub use_: String,
}

impl Jwk {
    fn ed25519(kid: &str, public: &[u8]) -> Self {
        Self {
            kty: "OKP".to_owned(),
            crv: "Ed25519".to_owned(),
            x: URL_SAFE_NO_PAD.encode(public),
            kid: kid.to_owned(),
            alg: "EdDSA".to_owned(),
            use_: "sig".to_owned(),
        }
    }
}

/// What `/.well-known/jwks.json` serves.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct JwkSet {
    pub keys: Vec<Jwk>,
}

/// RFC 7638: base64url(SHA-256 of the JWK's required members, in lexical order).
fn thumbprint(public: &[u8]) -> String {
    let canonical = format!(
        r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#,
        URL_SAFE_NO_PAD.encode(public)
    );
    URL_SAFE_NO_PAD.encode(ring::digest::digest(
        &ring::digest::SHA256,
        canonical.as_bytes(),
    ))
}

/// A private key file must be readable by its owner only.
fn check_private(path: &Path) -> Result<(), KeyError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)
            .map_err(|source| KeyError::Read {
                path: path.to_owned(),
                source,
            })?
            .permissions()
            .mode()
            & 0o777;
        if mode & 0o077 != 0 {
            return Err(KeyError::TooOpen {
                path: path.to_owned(),
                mode,
            });
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_written_key_reads_back_the_same_and_only_its_owner_can_read_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("signing.pem");
        let key = SigningKey::generate().unwrap();
        key.write_new(&path).unwrap();
        let again = SigningKey::read(&path).unwrap();
        assert_eq!(again.kid(), key.kid());
        assert_eq!(again.jwk(), key.jwk());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            let err = SigningKey::read(&path).unwrap_err();
            assert!(err.to_string().contains("chmod 600"), "{err}");
        }
        assert!(key.write_new(&path).is_err(), "never over an existing key");
        assert!(!format!("{key:?}").contains("pkcs8"));
    }

    #[test]
    fn a_key_is_made_once_and_shared_by_processes_starting_together() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("signing.pem");
        let kids: Vec<String> = std::thread::scope(|s| {
            let starts: Vec<_> = (0..8)
                .map(|_| s.spawn(|| SigningKey::open_or_create(&path).unwrap().kid().to_owned()))
                .collect();
            starts.into_iter().map(|t| t.join().unwrap()).collect()
        });
        assert!(kids.iter().all(|k| *k == kids[0]), "{kids:?}");
        assert_eq!(SigningKey::open_or_create(&path).unwrap().kid(), kids[0]);
        let files = std::fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(files, 1, "no drafts left behind");
    }

    #[test]
    fn bad_pem_says_what_is_wrong_without_echoing_it() {
        let err = SigningKey::from_pem("hunter2", "MOVIEAPP_AUTH_SIGNING_KEY").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("MOVIEAPP_AUTH_SIGNING_KEY"), "{msg}");
        assert!(!msg.contains("hunter2"), "{msg}");
        let not_ed = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
        assert!(SigningKey::from_pem(not_ed, "x").is_err());
    }

    #[test]
    fn the_key_id_is_the_rfc_7638_thumbprint() {
        // RFC 8037 appendix A.3: the thumbprint of its example public key.
        let public = URL_SAFE_NO_PAD
            .decode("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo")
            .unwrap();
        assert_eq!(
            thumbprint(&public),
            "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
        );
    }
}
