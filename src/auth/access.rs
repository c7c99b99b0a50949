//! Who may call what: each endpoint needs an [`Access`]; under the configured [`Mode`] the
//! [`Gate`] checks the caller's bearer token for it, locally, with the auth service's
//! public keys: in process when the auth service runs here, else from its JWK set, cached
//! and fetched again when a token names a key not seen yet. A call let through keeps its
//! token for calls it makes within the same auth domain ([`forwarded`]).

use std::{
    future::Future,
    sync::{Arc, PoisonError, RwLock},
    time::{Duration, Instant},
};

use super::{
    Role,
    keyring::Keyring,
    keys::JwkSet,
    settings::Mode,
    token::{Claims, TokenError, TokenSettings, TokenVerifier},
};
use crate::discovery::Registry;

/// What an endpoint needs: each endpoint table entry says (`server::table`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Never checked: health, reflection, probes, metrics, getting a token.
    Open,
    /// Reading the service's data: a valid token under `all`.
    Read,
    /// Changing it: the writer role under `writes` and `all`.
    Write,
    /// Operating it (profiles): the admin role whenever auth is on.
    Admin,
}

impl Access {
    /// The role a caller needs under `mode`; `None`: no token is looked at.
    pub fn needs(self, mode: Mode) -> Option<Role> {
        match (self, mode) {
            (Self::Open, _) | (_, Mode::Off) | (Self::Read, Mode::Writes) => None,
            (Self::Read, Mode::All) => Some(Role::Reader),
            (Self::Write, _) => Some(Role::Writer),
            (Self::Admin, _) => Some(Role::Admin),
        }
    }
}

/// Why a call was not let through. Messages never quote the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    /// No token, or not a valid one: UNAUTHENTICATED, HTTP 401.
    #[error("{0}")]
    Unauthenticated(String),
    /// A valid token without the role: PERMISSION_DENIED, HTTP 403.
    #[error("{0}")]
    Forbidden(String),
    /// The keys to check it with cannot be had: UNAVAILABLE, HTTP 503.
    #[error("{0}")]
    Unavailable(String),
    /// More than one token, so no telling whose call it is: UNAUTHENTICATED, HTTP 400
    /// (RFC 6750's `invalid_request`).
    #[error("{0}")]
    Ambiguous(String),
}

impl Denied {
    /// Whether the caller sent a token that was refused (RFC 6750's `invalid_token`), as
    /// opposed to none at all.
    pub fn invalid_token(&self) -> bool {
        matches!(self, Self::Unauthenticated(m) if m.starts_with("invalid token"))
    }
}

/// The token of an `authorization` header value: `Bearer TOKEN`.
pub fn bearer(value: &[u8]) -> Result<&str, Denied> {
    let text = std::str::from_utf8(value).ok();
    let token = text.and_then(|t| {
        let (scheme, token) = t.trim().split_once(' ')?;
        scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
    });
    match token {
        Some(token) if !token.is_empty() => Ok(token),
        _ => Err(Denied::Unauthenticated(
            "invalid token: the authorization header must be `Bearer TOKEN`".to_owned(),
        )),
    }
}

/// Checks callers' tokens for the endpoints that need one.
#[derive(Debug)]
pub struct Gate {
    mode: Mode,
    keys: Keys,
}

impl Gate {
    pub fn new(mode: Mode, keys: Keys) -> Self {
        Self { mode, keys }
    }

    /// The role `access` needs here, if any.
    pub fn needs(&self, access: Access) -> Option<Role> {
        access.needs(self.mode)
    }

    /// Lets a call for `endpoint` needing `role` through when `authorization` (the header's
    /// value) holds a valid token with it; returns the caller, whose token is forwarded.
    pub async fn check(
        &self,
        endpoint: &str,
        role: Role,
        authorization: Option<&[u8]>,
    ) -> Result<Caller, Denied> {
        let Some(value) = authorization else {
            return Err(missing(endpoint));
        };
        let token = bearer(value)?;
        let claims = self.keys.verify(token).await?;
        let caller = Caller {
            token: token.into(),
            claims: Arc::new(claims),
        };
        allowed(endpoint, role, &caller)?;
        Ok(caller)
    }

    /// The same decision for a call made inside this process, on behalf of the call being
    /// served: its caller's token was checked when that call arrived (by this gate), so
    /// only the role is looked at.
    pub fn check_forwarded(&self, endpoint: &str, role: Role) -> Result<(), Denied> {
        match FORWARDED.try_with(Caller::clone) {
            Ok(caller) => allowed(endpoint, role, &caller),
            Err(_) => Err(missing(endpoint)),
        }
    }
}

fn missing(endpoint: &str) -> Denied {
    Denied::Unauthenticated(format!(
        "{endpoint} needs a token: send `authorization: Bearer TOKEN` (get one with `movieapp login`)"
    ))
}

fn allowed(endpoint: &str, role: Role, caller: &Caller) -> Result<(), Denied> {
    let claims = &caller.claims;
    if claims.has(role) {
        return Ok(());
    }
    let held = claims
        .roles
        .iter()
        .map(|r| r.name())
        .collect::<Vec<_>>()
        .join(", ");
    Err(Denied::Forbidden(format!(
        "{endpoint} needs the {role} role; user {:?} has {held}",
        claims.sub
    )))
}

/// Who made the call being served: the token as sent, and what it says.
#[derive(Debug, Clone)]
pub struct Caller {
    token: Arc<str>,
    claims: Arc<Claims>,
}

/// The public keys tokens are checked with.
#[derive(Debug)]
pub enum Keys {
    /// The auth service's own, in this process.
    Local(Arc<Keyring>),
    /// Fetched from an auth service found through discovery.
    Remote(RemoteKeys),
}

impl Keys {
    pub async fn verify(&self, token: &str) -> Result<Claims, Denied> {
        let refused = |e: TokenError| Denied::Unauthenticated(format!("invalid token: {e}"));
        match self {
            Self::Local(keyring) => keyring.verifier().verify(token).map_err(refused),
            Self::Remote(remote) => remote.verify(token).await.map_err(|e| match e {
                RemoteError::Token(e) => refused(e),
                RemoteError::Unavailable(message) => Denied::Unavailable(message),
            }),
        }
    }
}

/// How often the JWK set may be fetched because of an unknown key id, at most.
const REFETCH_INTERVAL: Duration = Duration::from_secs(1);
/// How long a fetched JWK set is used before it is fetched again (to drop retired keys).
const JWKS_MAX_AGE: Duration = Duration::from_secs(300);
/// How long one fetch may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug)]
enum RemoteError {
    Token(TokenError),
    Unavailable(String),
}

/// The auth service's JWK set, fetched over HTTP from an instance discovery names.
pub struct RemoteKeys {
    registry: Arc<dyn Registry>,
    http: reqwest::Client,
    /// `https` when the services speak TLS.
    scheme: &'static str,
    tokens: TokenSettings,
    /// The keys and when they were fetched.
    cached: RwLock<Option<(Arc<TokenVerifier>, Instant)>>,
    /// One fetch at a time; holds when the last one was tried.
    fetching: tokio::sync::Mutex<Option<Instant>>,
}

impl std::fmt::Debug for RemoteKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteKeys")
            .field("registry", &self.registry.describe())
            .finish()
    }
}

impl RemoteKeys {
    pub fn new(
        registry: Arc<dyn Registry>,
        http: reqwest::Client,
        scheme: &'static str,
        tokens: TokenSettings,
    ) -> Self {
        Self {
            registry,
            http,
            scheme,
            tokens,
            cached: RwLock::new(None),
            fetching: tokio::sync::Mutex::new(None),
        }
    }

    fn cached(&self) -> Option<(Arc<TokenVerifier>, Instant)> {
        self.cached
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    async fn verify(&self, token: &str) -> Result<Claims, RemoteError> {
        let verifier = match self.cached() {
            Some((verifier, at)) if at.elapsed() < JWKS_MAX_AGE => verifier,
            _ => self.refresh(None).await?,
        };
        match verifier.verify(token) {
            Err(TokenError::UnknownKey(_)) => {
                // Perhaps a key made since the set was fetched (a rotation).
                let fetched = self.cached().map(|(_, at)| at);
                let verifier = self.refresh(fetched).await?;
                verifier.verify(token).map_err(RemoteError::Token)
            }
            result => result.map_err(RemoteError::Token),
        }
    }

    /// Fetches the set, unless another call did since `seen` or one was tried less than
    /// [`REFETCH_INTERVAL`] ago; returns the keys to use.
    async fn refresh(&self, seen: Option<Instant>) -> Result<Arc<TokenVerifier>, RemoteError> {
        let mut last_try = self.fetching.lock().await;
        let cached = self.cached();
        if let Some((verifier, at)) = &cached {
            let newer = seen.is_some_and(|seen| *at > seen);
            let too_soon = last_try.is_some_and(|t| t.elapsed() < REFETCH_INTERVAL);
            if newer || too_soon {
                return Ok(Arc::clone(verifier));
            }
        }
        *last_try = Some(Instant::now());
        match self.fetch().await {
            Ok(jwks) => {
                let verifier = Arc::new(TokenVerifier::new(&jwks, &self.tokens));
                *self.cached.write().unwrap_or_else(PoisonError::into_inner) =
                    Some((Arc::clone(&verifier), Instant::now()));
                Ok(verifier)
            }
            // Keys fetched before still serve while the auth service is away.
            Err(e) => match cached {
                Some((verifier, _)) => {
                    tracing::warn!(error = %e, "cannot refresh the auth service's keys; using the ones fetched before");
                    Ok(verifier)
                }
                None => Err(RemoteError::Unavailable(format!(
                    "cannot check the token: {e}"
                ))),
            },
        }
    }

    async fn fetch(&self) -> Result<JwkSet, String> {
        let service = crate::service::ServiceKind::Auth.name();
        let addrs = self
            .registry
            .service_addresses(service)
            .await
            .map_err(|e| format!("cannot find the auth service: {e}"))?;
        let mut last = format!("no instance of the {service} service is registered");
        for addr in addrs {
            let url = format!("{}://{addr}/.well-known/jwks.json", self.scheme);
            let result = async {
                let response = self
                    .http
                    .get(&url)
                    .timeout(FETCH_TIMEOUT)
                    .send()
                    .await?
                    .error_for_status()?;
                response.json::<JwkSet>().await
            };
            match result.await {
                Ok(jwks) => return Ok(jwks),
                Err(e) => last = format!("the auth service's keys at {url}: {e}"),
            }
        }
        Err(last)
    }
}

tokio::task_local! {
    static FORWARDED: Caller;
}

/// Runs `f` as a call made by `caller`, whose token calls to the same auth domain forward.
pub async fn as_caller<F: Future>(caller: Option<Caller>, f: F) -> F::Output {
    match caller {
        Some(caller) => FORWARDED.scope(caller, f).await,
        None => f.await,
    }
}

/// The caller of the call being served, if it came with a checked token: to carry into
/// work done for it in another task ([`as_caller`]).
pub fn current_caller() -> Option<Caller> {
    FORWARDED.try_with(Caller::clone).ok()
}

/// The token of the call being served, to forward to metadata and rating (and nothing
/// else), if it came with a checked one.
pub fn forwarded() -> Option<Arc<str>> {
    FORWARDED.try_with(|c| Arc::clone(&c.token)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_each_mode_asks_of_each_endpoint() {
        use Access::*;
        assert_eq!(Write.needs(Mode::Off), None);
        assert_eq!(Read.needs(Mode::Writes), None);
        assert_eq!(Write.needs(Mode::Writes), Some(Role::Writer));
        assert_eq!(Read.needs(Mode::All), Some(Role::Reader));
        assert_eq!(Write.needs(Mode::All), Some(Role::Writer));
        assert_eq!(Open.needs(Mode::All), None);
        assert_eq!(Admin.needs(Mode::Writes), Some(Role::Admin));
    }

    #[test]
    fn only_bearer_headers_carry_a_token() {
        assert_eq!(bearer(b"Bearer abc.def.ghi"), Ok("abc.def.ghi"));
        assert_eq!(bearer(b"bearer  abc "), Ok("abc"));
        for bad in [
            &b"Basic dXNlcjpwYXNz"[..],
            b"Bearer",
            b"Bearer ",
            b"abc",
            b"\xff",
        ] {
            let err = bearer(bad).unwrap_err();
            assert!(err.invalid_token(), "{err}");
            assert!(!err.to_string().contains("dXNlcjpwYXNz"));
        }
    }

    #[tokio::test]
    async fn the_gate_lets_through_the_role_it_needs_and_says_why_not() {
        let dir = tempfile::tempdir().unwrap();
        let tokens = super::super::settings::Settings::default().tokens();
        let source = super::super::keyring::KeySource::File {
            path: dir.path().join("key.pem"),
            create: true,
        };
        let keyring = Arc::new(Keyring::open(source, tokens).unwrap());
        let reader = keyring.issue("rita", &[Role::Reader]).unwrap();
        let writer = keyring.issue("walt", &[Role::Writer]).unwrap();
        let gate = Gate::new(Mode::Writes, Keys::Local(keyring));
        let header = |t: &str| format!("Bearer {t}").into_bytes();

        let passed = gate
            .check("PutRating", Role::Writer, Some(&header(&writer)))
            .await
            .unwrap();
        assert_eq!(&*passed.token, writer.as_str());
        // Inside that call, a call in this process is judged by the same caller's role.
        as_caller(Some(passed), async {
            assert!(gate.check_forwarded("PutMetadata", Role::Writer).is_ok());
            assert!(matches!(
                gate.check_forwarded("Admin", Role::Admin),
                Err(Denied::Forbidden(_))
            ));
        })
        .await;
        assert!(matches!(
            gate.check_forwarded("PutMetadata", Role::Writer),
            Err(Denied::Unauthenticated(_))
        ));
        let err = gate
            .check("PutRating", Role::Writer, Some(&header(&reader)))
            .await
            .unwrap_err();
        assert!(matches!(err, Denied::Forbidden(_)), "{err}");
        assert!(err.to_string().contains("writer role"), "{err}");
        let err = gate
            .check("PutRating", Role::Writer, None)
            .await
            .unwrap_err();
        assert!(matches!(&err, Denied::Unauthenticated(m) if m.contains("needs a token")));
        assert!(!err.invalid_token());
        let err = gate
            .check("PutRating", Role::Writer, Some(b"Bearer garbage"))
            .await
            .unwrap_err();
        assert!(err.invalid_token(), "{err}");
    }

    #[tokio::test]
    async fn a_forwarded_token_is_seen_inside_its_call_only() {
        assert!(forwarded().is_none());
        let caller = Caller {
            token: "t".into(),
            claims: Arc::new(Claims {
                sub: "u".into(),
                iat: 0,
                nbf: 0,
                exp: 0,
                iss: String::new(),
                aud: String::new(),
                jti: String::new(),
                roles: vec![Role::Reader],
            }),
        };
        as_caller(Some(caller), async {
            assert_eq!(forwarded().as_deref(), Some("t"));
        })
        .await;
        assert!(forwarded().is_none());
    }
}
