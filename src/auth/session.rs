//! The clients' side of tokens: the one `movieapp login` keeps in the user's state
//! directory (mode 0600), and which token a client sends: `--token`, else
//! `MOVIEAPP_TOKEN`, else the kept one.

use std::path::{Path, PathBuf};

/// The variable a client's token may come from.
pub const TOKEN_ENV: &str = "MOVIEAPP_TOKEN";
/// The largest token file read.
const MAX_TOKEN_BYTES: u64 = 16 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error(
        "no directory to keep the token in: this platform has none for the user; set XDG_STATE_HOME"
    )]
    NoStateDir,
    #[error("cannot keep the token in {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read the token in {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("no token: run `movieapp login --user NAME` (or pass --token, or set {TOKEN_ENV})")]
    None,
    #[error("token expired; run `movieapp login`")]
    Expired,
}

/// Where `login` keeps the token: `$XDG_STATE_HOME/movieapp/token`, by default
/// `~/.local/state/movieapp/token`.
pub fn token_file() -> Result<PathBuf, SessionError> {
    dirs::state_dir()
        .or_else(dirs::data_local_dir)
        .map(|d| d.join("movieapp").join("token"))
        .ok_or(SessionError::NoStateDir)
}

/// Keeps `token` for later commands, readable by the user only. Replaces the one before.
pub fn save(path: &Path, token: &str) -> Result<(), SessionError> {
    let failed = |source| SessionError::Write {
        path: path.to_owned(),
        source,
    };
    if let Some(dir) = path.parent() {
        crate::files::create_private_dir(dir).map_err(failed)?;
    }
    crate::files::replace(path, format!("{token}\n").as_bytes(), true).map_err(failed)
}

/// Removes the kept token; whether there was one.
pub fn forget(path: &Path) -> Result<bool, SessionError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(source) => Err(SessionError::Write {
            path: path.to_owned(),
            source,
        }),
    }
}

/// The kept token, if there is one.
pub fn load(path: &Path) -> Result<Option<String>, SessionError> {
    match crate::files::read_to_string_at_most(path, MAX_TOKEN_BYTES) {
        Ok(text) => Ok(Some(text.trim().to_owned()).filter(|t| !t.is_empty())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(SessionError::Read {
            path: path.to_owned(),
            source,
        }),
    }
}

/// The token a client sends: `flag`, else [`TOKEN_ENV`], else the kept one; none is fine
/// (calls that need one are refused by the service, which says so).
pub fn client_token(flag: Option<&str>) -> Result<Option<String>, SessionError> {
    if let Some(token) = flag.filter(|t| !t.is_empty()) {
        return Ok(Some(token.to_owned()));
    }
    if let Some(token) = std::env::var(TOKEN_ENV).ok().filter(|t| !t.is_empty()) {
        return Ok(Some(token));
    }
    match token_file() {
        Ok(path) => load(&path),
        Err(_) => Ok(None),
    }
}

/// When a token expires (its `exp`), read without checking the signature: for telling
/// the user, never for trusting it.
pub fn expires_at(token: &str) -> Option<u64> {
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
    let payload = token.split('.').nth(1)?;
    let json: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
    json["exp"].as_u64()
}

/// Whether a token's `exp` has passed (not counting the services' leeway).
pub fn expired(token: &str) -> bool {
    expires_at(token).is_some_and(|exp| exp <= jsonwebtoken::get_current_timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kept_token_is_the_owners_only_and_replaced_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state/movieapp/token");
        assert_eq!(load(&path).unwrap(), None);
        save(&path, "first").unwrap();
        save(&path, "second").unwrap();
        assert_eq!(load(&path).unwrap().as_deref(), Some("second"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        assert_eq!(
            std::fs::read_dir(path.parent().unwrap()).unwrap().count(),
            1
        );
    }

    #[test]
    fn expiry_is_read_from_the_payload() {
        use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
        let token = |exp: u64| {
            format!(
                "h.{}.s",
                URL_SAFE_NO_PAD.encode(format!(r#"{{"exp":{exp}}}"#))
            )
        };
        assert!(expired(&token(1)));
        assert!(!expired(&token(u64::MAX / 2)));
        assert!(!expired("garbage"));
        assert_eq!(expires_at(&token(42)), Some(42));
    }
}
