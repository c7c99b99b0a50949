//! The auth service's keys: the one it signs with and, after a rotation, the one before it,
//! which still verifies the tokens it signed. Both are published in the JWK set. The files
//! are watched, so `movieapp auth key rotate` (or an operator replacing the file) takes
//! effect in a running service without a restart.

use std::{
    path::{Path, PathBuf},
    sync::{Arc, PoisonError, RwLock},
};

use crate::files::Stamps;

use super::{
    keys::{JwkSet, KeyError, SigningKey},
    settings::{SIGNING_KEY_ENV, Settings},
    token::{TokenIssuer, TokenSettings, TokenVerifier},
};

/// The signing key's file in the data directory, made at first start.
pub const DEFAULT_KEY_FILE: &str = "auth-signing-key.pem";

/// Where the signing key comes from.
#[derive(Clone)]
pub enum KeySource {
    /// The PEM text of [`SIGNING_KEY_ENV`]: fixed for the life of the process.
    Env(String),
    /// A file, made at first start when `create`; its previous key sits beside it.
    File { path: PathBuf, create: bool },
}

impl std::fmt::Debug for KeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key itself.
        match self {
            Self::Env(_) => write!(f, "Env({SIGNING_KEY_ENV})"),
            Self::File { path, create } => f
                .debug_struct("File")
                .field("path", path)
                .field("create", create)
                .finish(),
        }
    }
}

impl KeySource {
    /// The variable when set, else the configured file, else the data directory's.
    pub fn resolve(settings: &Settings, data_dir: &Path, env: Option<String>) -> Self {
        if let Some(pem) = env.filter(|v| !v.trim().is_empty()) {
            return Self::Env(pem);
        }
        match &settings.signing_key_file {
            Some(path) => Self::File {
                path: path.clone(),
                create: false,
            },
            None => Self::File {
                path: data_dir.join(DEFAULT_KEY_FILE),
                create: true,
            },
        }
    }

    /// Where the key before the current one is kept: `<file>.previous`.
    pub fn previous_path(&self) -> Option<PathBuf> {
        match self {
            Self::Env(_) => None,
            Self::File { path, .. } => Some(previous_of(path)),
        }
    }

    /// The current key and, if there is one, the previous. Blocking.
    fn load(&self) -> Result<(SigningKey, Option<SigningKey>), KeyError> {
        match self {
            Self::Env(pem) => Ok((SigningKey::from_pem(pem, SIGNING_KEY_ENV)?, None)),
            Self::File { path, create } => {
                let current = if *create {
                    SigningKey::open_or_create(path)?
                } else {
                    SigningKey::read(path)?
                };
                let previous = previous_of(path);
                let previous = previous
                    .exists()
                    .then(|| SigningKey::read(&previous))
                    .transpose()?;
                Ok((current, previous))
            }
        }
    }

    /// What identifies the files' present versions, to notice a change.
    fn stamp(&self) -> Stamps {
        match self {
            Self::Env(_) => Stamps::of(&[] as &[PathBuf]),
            Self::File { path, .. } => Stamps::of(&[path.clone(), previous_of(path)]),
        }
    }
}

fn previous_of(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".previous");
    PathBuf::from(name)
}

/// Makes a new signing key at `path`, keeping the current one as `<path>.previous` (the
/// one before is dropped: tokens it signed stop verifying). Every step replaces a file
/// whole, so a service reading the files at any moment finds valid keys. Returns the
/// previous and new key ids. Blocking.
pub fn rotate(path: &Path) -> Result<(String, String), KeyError> {
    let current = SigningKey::read(path)?;
    let next = SigningKey::generate()?;
    current.replace(&previous_of(path))?;
    next.replace(path)?;
    Ok((current.kid().to_owned(), next.kid().to_owned()))
}

/// What the keys are now.
struct State {
    issuer: TokenIssuer,
    verifier: Arc<TokenVerifier>,
    jwks: JwkSet,
    stamp: Stamps,
}

/// The auth service's keys, reloaded when their files change.
pub struct Keyring {
    source: KeySource,
    tokens: TokenSettings,
    state: RwLock<Arc<State>>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring")
            .field("source", &self.source)
            .field("kids", &self.kids())
            .finish()
    }
}

impl Keyring {
    /// Loads the keys (making the data directory's key at first start). Blocking.
    pub fn open(source: KeySource, tokens: TokenSettings) -> Result<Self, KeyError> {
        let state = Self::load(&source, &tokens)?;
        Ok(Self {
            source,
            tokens,
            state: RwLock::new(Arc::new(state)),
        })
    }

    fn load(source: &KeySource, tokens: &TokenSettings) -> Result<State, KeyError> {
        // Stamped after loading (which may make the file), and loaded again if the files
        // changed meanwhile, so the stamp is of what was loaded.
        let mut before = source.stamp();
        let mut tries = 0;
        let (current, previous, stamp) = loop {
            let (current, previous) = source.load()?;
            let after = source.stamp();
            tries += 1;
            if after == before || tries == 3 {
                break (current, previous, after);
            }
            before = after;
        };
        let mut jwks = JwkSet {
            keys: vec![current.jwk()],
        };
        if let Some(previous) = previous.filter(|p| p.kid() != current.kid()) {
            jwks.keys.push(previous.jwk());
        }
        Ok(State {
            verifier: Arc::new(TokenVerifier::new(&jwks, tokens)),
            issuer: TokenIssuer::new(current, tokens.clone()),
            jwks,
            stamp,
        })
    }

    fn state(&self) -> Arc<State> {
        Arc::clone(&self.state.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Issues a token with the current key.
    pub fn issue(
        &self,
        user: &str,
        roles: &[super::Role],
    ) -> Result<String, jsonwebtoken::errors::Error> {
        self.state().issuer.issue(user, roles)
    }

    /// Checks tokens against the current and previous keys.
    pub fn verifier(&self) -> Arc<TokenVerifier> {
        Arc::clone(&self.state().verifier)
    }

    /// The public keys, current first.
    pub fn jwks(&self) -> JwkSet {
        self.state().jwks.clone()
    }

    /// The ids of the keys, current first.
    pub fn kids(&self) -> Vec<String> {
        self.state()
            .jwks
            .keys
            .iter()
            .map(|k| k.kid.clone())
            .collect()
    }

    /// Reloads the keys if their files changed. A change that does not load (a file half
    /// replaced by hand, a wrong mode) keeps the keys in use and is reported. Blocking.
    pub fn reload_if_changed(&self) -> Result<bool, KeyError> {
        if self.source.stamp() == self.state().stamp {
            return Ok(false);
        }
        let state = Self::load(&self.source, &self.tokens)?;
        *self.state.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(state);
        Ok(true)
    }

    /// Checks the files every [`crate::files::WATCH_INTERVAL`] until `stop`.
    pub async fn watch(self: Arc<Self>, stop: tokio_util::sync::CancellationToken) {
        if matches!(self.source, KeySource::Env(_)) {
            return;
        }
        crate::files::watch("signing key", stop, move || self.reload_if_changed()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens() -> TokenSettings {
        TokenSettings {
            issuer: "movieapp".into(),
            audience: "movieapp".into(),
            ttl: std::time::Duration::from_secs(3600),
        }
    }

    #[test]
    fn after_a_rotation_old_tokens_verify_new_ones_use_the_new_key_and_both_are_published() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(DEFAULT_KEY_FILE);
        let source = KeySource::File {
            path: path.clone(),
            create: true,
        };
        let keyring = Keyring::open(source, tokens()).unwrap();
        let first = keyring.kids();
        assert_eq!(first.len(), 1);
        let old_token = keyring
            .issue("alice", &[super::super::Role::Writer])
            .unwrap();
        assert!(!keyring.reload_if_changed().unwrap());

        let (was, now) = rotate(&path).unwrap();
        assert_eq!(was, first[0]);
        assert!(keyring.reload_if_changed().unwrap());
        assert_eq!(keyring.kids(), vec![now.clone(), was.clone()]);
        assert_eq!(keyring.jwks().keys.len(), 2);
        let verifier = keyring.verifier();
        assert_eq!(verifier.verify(&old_token).unwrap().sub, "alice");
        let new_token = keyring.issue("bob", &[super::super::Role::Reader]).unwrap();
        assert_eq!(verifier.verify(&new_token).unwrap().sub, "bob");
        assert!(new_token != old_token);

        // A second rotation drops the first key: its tokens stop verifying.
        rotate(&path).unwrap();
        keyring.reload_if_changed().unwrap();
        assert!(!keyring.kids().contains(&was));
        assert!(keyring.verifier().verify(&old_token).is_err());
        assert!(keyring.verifier().verify(&new_token).is_ok());
    }

    #[test]
    fn a_broken_replacement_keeps_the_keys_in_use() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key.pem");
        SigningKey::generate().unwrap().write_new(&path).unwrap();
        let source = KeySource::File {
            path: path.clone(),
            create: false,
        };
        let keyring = Keyring::open(source, tokens()).unwrap();
        let kids = keyring.kids();
        std::fs::write(&path, "not a key, and longer than before").unwrap();
        let err = keyring.reload_if_changed().unwrap_err();
        assert!(err.to_string().contains("key.pem"), "{err}");
        assert_eq!(keyring.kids(), kids);
    }

    #[test]
    fn a_key_from_the_environment_is_named_by_its_variable_only() {
        let source = KeySource::resolve(
            &Settings::default(),
            Path::new("/nonexistent"),
            Some("-----BEGIN PRIVATE KEY-----\nc2VjcmV0\n-----END PRIVATE KEY-----\n".into()),
        );
        assert!(format!("{source:?}").contains(SIGNING_KEY_ENV));
        assert!(!format!("{source:?}").contains("c2VjcmV0"));
        let err = Keyring::open(source, tokens()).unwrap_err().to_string();
        assert!(err.contains(SIGNING_KEY_ENV), "{err}");
        assert!(!err.contains("c2VjcmV0"), "{err}");
    }
}
