//! Authentication and authorization (book chapter 10): users with Argon2id
//! password hashes ([`users`]), Ed25519 signing keys published as a JWK set ([`keys`]), and
//! the JWTs the auth service issues and every service checks locally ([`token`]).

pub mod access;
mod eddsa;
pub mod keyring;
pub mod keys;
pub mod password;
pub mod session;
pub mod settings;
pub mod token;
pub mod users;

use serde::{Deserialize, Serialize};

/// What a user may do. Each role includes the ones before it: an admin may write, a writer
/// may read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Reader,
    Writer,
    Admin,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Reader, Role::Writer, Role::Admin];

    pub fn name(self) -> &'static str {
        match self {
            Role::Reader => "reader",
            Role::Writer => "writer",
            Role::Admin => "admin",
        }
    }

    /// True when holding `self` grants `needed`.
    pub fn includes(self, needed: Role) -> bool {
        self >= needed
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.name() == s)
            .ok_or_else(|| format!("unknown role {s:?}: expected reader, writer or admin"))
    }
}

/// A user name: 1 to 64 characters of letters, digits, `.`, `_`, `-` and `@`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UserName(String);

impl UserName {
    pub const MAX_CHARS: usize = 64;

    pub fn new(name: &str) -> Result<Self, String> {
        let ok = !name.is_empty()
            && name.chars().count() <= Self::MAX_CHARS
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
        if ok {
            Ok(Self(name.to_owned()))
        } else {
            Err(format!(
                "invalid user name {name:?}: expected 1 to {} letters, digits, '.', '_', '-' or '@'",
                Self::MAX_CHARS
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for UserName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A password as typed. Never printed: its `Debug` is redacted, and it has no `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    /// The shortest password a user may set.
    pub const MIN_CHARS: usize = 8;
    /// The longest (Argon2 would hash more, but nobody types more).
    pub const MAX_BYTES: usize = 1024;

    /// A password to set: long enough, not absurdly long.
    pub fn new(text: String) -> Result<Self, String> {
        if text.chars().count() < Self::MIN_CHARS {
            return Err(format!(
                "the password is too short: expected at least {} characters",
                Self::MIN_CHARS
            ));
        }
        Self::offered(text)
    }

    /// A password offered at login: any length up to the limit (a wrong one is simply wrong).
    pub fn offered(text: String) -> Result<Self, String> {
        if text.len() > Self::MAX_BYTES {
            return Err(format!(
                "the password is too long: expected at most {} bytes",
                Self::MAX_BYTES
            ));
        }
        Ok(Self(text))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(…)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_include_the_ones_below() {
        assert!(Role::Admin.includes(Role::Writer) && Role::Writer.includes(Role::Reader));
        assert!(!Role::Reader.includes(Role::Writer));
        assert_eq!("writer".parse::<Role>(), Ok(Role::Writer));
        assert!(
            "root"
                .parse::<Role>()
                .unwrap_err()
                .contains("reader, writer or admin")
        );
    }

    #[test]
    fn names_and_passwords_are_checked_and_passwords_never_shown() {
        assert!(UserName::new("alex.s@example").is_ok());
        for bad in ["", "a b", "x".repeat(65).as_str(), "semi;colon"] {
            assert!(UserName::new(bad).is_err(), "{bad:?}");
        }
        assert!(
            Password::new("short".into())
                .unwrap_err()
                .contains("at least 8")
        );
        assert!(Password::new("x".repeat(2000)).is_err());
        let secret = Password::new("correct horse".into()).unwrap();
        assert_eq!(format!("{secret:?}"), "Password(…)");
        assert!(Password::offered("a".into()).is_ok());
    }
}
