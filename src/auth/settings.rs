//! The `auth` section of the configuration: the auth service's port and limits like every
//! service's, plus who must show a token ([`Mode`]) and how tokens are made.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::token::TokenSettings;
use crate::{
    config::value,
    service::{self, ApiSettings, RateLimit},
};

/// The environment variable that may hold the signing key itself (PKCS#8 PEM), for
/// platforms that hand secrets over that way. Read by `serve` only, never shown.
pub const SIGNING_KEY_ENV: &str = "MOVIEAPP_AUTH_SIGNING_KEY";

/// Which calls need a token.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// None: the book's demo, on loopback only unless `serve --insecure`.
    #[default]
    Off,
    /// Writes (PutMetadata, PutRating, the HTTP PUTs) need the writer role.
    Writes,
    /// Writes as above, and every read needs a valid token.
    All,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Off => "off",
            Mode::Writes => "writes",
            Mode::All => "all",
        }
    }
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The `auth:` section. The first three keys are those of every service's section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct Settings {
    pub api: ApiSettings,
    pub rate_limit: RateLimit,
    pub max_concurrent_calls: u32,
    /// Which calls of every service need a token.
    pub mode: Mode,
    /// How long an issued token is valid.
    pub token_ttl: value::Duration,
    /// The `iss` of issued tokens, and the only one accepted.
    #[serde(deserialize_with = "value::non_empty")]
    pub issuer: String,
    /// The `aud` of issued tokens, and the only one accepted.
    #[serde(deserialize_with = "value::non_empty")]
    pub audience: String,
    /// The signing key (PKCS#8 PEM, mode 0600); `None`: `auth-signing-key.pem` in the data
    /// directory, made at first start. [`SIGNING_KEY_ENV`] overrides both.
    #[serde(deserialize_with = "value::non_empty_path")]
    pub signing_key_file: Option<PathBuf>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            api: ApiSettings::default(),
            rate_limit: RateLimit::default(),
            max_concurrent_calls: 0,
            mode: Mode::Off,
            token_ttl: value::Duration::from_secs(3600),
            issuer: "movieapp".to_owned(),
            audience: "movieapp".to_owned(),
            signing_key_file: None,
        }
    }
}

/// Shortest and longest token lifetimes accepted.
const TTL_RANGE: std::ops::RangeInclusive<std::time::Duration> =
    std::time::Duration::from_secs(60)..=std::time::Duration::from_secs(24 * 3600);

impl Settings {
    /// The keys every service's section has.
    pub fn service(&self) -> service::Settings {
        service::Settings {
            api: self.api.clone(),
            rate_limit: self.rate_limit.clone(),
            max_concurrent_calls: self.max_concurrent_calls,
        }
    }

    /// Checks what the types cannot, naming the key.
    pub fn check(&self) -> Result<(), String> {
        self.service().check(service::ServiceKind::Auth)?;
        if !TTL_RANGE.contains(&self.token_ttl.get()) {
            return Err(format!(
                "auth.tokenTtl {}: expected 1m to 24h",
                self.token_ttl
            ));
        }
        Ok(())
    }

    /// How tokens are issued and checked.
    pub fn tokens(&self) -> TokenSettings {
        TokenSettings {
            issuer: self.issuer.clone(),
            audience: self.audience.clone(),
            ttl: self.token_ttl.get(),
        }
    }
}
