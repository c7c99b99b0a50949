//! Password hashes: Argon2id with the crate's defaults (OWASP's recommendation: 19 MiB,
//! 2 passes), a random salt each, stored as PHC strings. Checking a user that does not exist
//! hashes against a dummy, so both cases take the same time.

use std::sync::OnceLock;

use argon2::{Argon2, PasswordHash, PasswordHasher, PasswordVerifier, password_hash::SaltString};

use super::Password;

#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error("cannot hash the password: {0}")]
    Hash(String),
    #[error("cannot make a salt: the system's random source failed")]
    Random,
}

/// The PHC string of `password` with a fresh salt.
pub fn hash(password: &Password) -> Result<String, HashError> {
    let mut bytes = [0u8; 16];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
        .map_err(|_| HashError::Random)?;
    let salt = SaltString::encode_b64(&bytes).map_err(|e| HashError::Hash(e.to_string()))?;
    Argon2::default()
        .hash_password(password.expose().as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| HashError::Hash(e.to_string()))
}

/// True when `password` matches the stored `phc` string; false for a malformed one too.
pub fn verify(password: &Password, phc: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|parsed| {
        Argon2::default()
            .verify_password(password.expose().as_bytes(), &parsed)
            .is_ok()
    })
}

/// A hash no password matches in practice, checked when the user is unknown so that an
/// unknown user costs what a wrong password does.
pub fn dummy() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let random = format!("{:032x}", rand::random::<u128>());
        Password::offered(random)
            .ok()
            .and_then(|p| hash(&p).ok())
            // A constant PHC string of the same cost, should the random source fail.
            .unwrap_or_else(|| {
                "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$6D4l8D7a0LSvzwbpNqTq0nBVRzjjl8rIFVY1a7n2Kxo".to_owned()
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_their_password_only_and_are_salted() {
        let password = Password::new("correct horse battery".into()).unwrap();
        let phc = hash(&password).unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(!phc.contains("correct horse"));
        assert!(verify(&password, &phc));
        assert!(!verify(&Password::offered("wrong".into()).unwrap(), &phc));
        assert_ne!(hash(&password).unwrap(), phc, "a fresh salt each time");
        assert!(!verify(&password, "not a phc string"));
        assert!(!verify(&password, dummy()));
    }
}
