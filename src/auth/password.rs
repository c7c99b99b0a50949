//! Password hashes: Argon2id with the crate's defaults (OWASP's recommendation: 19 MiB,
//! 2 passes), a random salt each, stored as PHC strings. Checking a user that does not exist
//! hashes against a dummy, so both cases take the same time.
//!
//! Every hash and check in a process takes a turn at one [`Turns`]: each holds 19 MiB
//! while it runs, so a flood of logins would otherwise take the host's memory and every
//! core. Beyond a few at once (one per two cores, at most four), a hash waits
//! [`Turns::WAIT`] for its turn, then is refused ([`HashError::Busy`]), off the executor
//! either way.

use std::{
    sync::{LazyLock, OnceLock},
    time::Duration,
};

use tokio::sync::Semaphore;

use argon2::{Argon2, PasswordHash, PasswordHasher, PasswordVerifier, password_hash::SaltString};

use super::Password;

#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error("cannot hash the password: {0}")]
    Hash(String),
    #[error("cannot make a salt: the system's random source failed")]
    Random,
    /// Too many hashes at once: try again after `retry_after`.
    #[error("too many password checks at once; try again in {}s", retry_after.as_secs().max(1))]
    Busy { retry_after: Duration },
    #[error("password hashing did not finish: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// Turns at hashing: a bound on how many run at once, and how long one waits for its turn.
#[derive(Debug)]
pub struct Turns {
    running: Semaphore,
    wait: Duration,
}

impl Turns {
    /// How long a hash waits for its turn before it is refused.
    pub const WAIT: Duration = Duration::from_secs(2);

    pub fn new(at_once: usize, wait: Duration) -> Self {
        Self {
            running: Semaphore::new(at_once.max(1)),
            wait,
        }
    }

    /// The process's turns: one per two cores this process may use (at least one, at
    /// most four), so hashing leaves the other half to the calls being served.
    pub fn process() -> &'static Self {
        static TURNS: LazyLock<Turns> = LazyLock::new(|| {
            let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
            Turns::new((cores / 2).clamp(1, 4), Turns::WAIT)
        });
        &TURNS
    }

    /// Runs `work` on a blocking thread when its turn comes; `Busy` if it does not come
    /// within the wait. The turn is held until `work` ends, even if the caller goes away.
    pub async fn run<T: Send + 'static>(
        &'static self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, HashError> {
        let permit = tokio::time::timeout(self.wait, self.running.acquire())
            .await
            .ok()
            .and_then(Result::ok)
            .ok_or(HashError::Busy {
                retry_after: Duration::from_secs(1),
            })?;
        Ok(tokio::task::spawn_blocking(move || {
            let _turn = permit;
            work()
        })
        .await?)
    }
}

/// [`hash`], in its turn, off the executor.
pub async fn hash_in_turn(password: Password) -> Result<String, HashError> {
    Turns::process().run(move || hash(&password)).await?
}

/// [`verify`], in its turn, off the executor.
pub async fn verify_in_turn(password: Password, phc: String) -> Result<bool, HashError> {
    Turns::process().run(move || verify(&password, &phc)).await
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

    // On the real clock: a paused one does not move while blocking work runs.
    #[tokio::test]
    async fn hashes_beyond_the_bound_wait_then_are_refused() {
        static TURNS: LazyLock<Turns> = LazyLock::new(|| Turns::new(2, Duration::from_secs(1)));
        let (release, hold) = std::sync::mpsc::channel::<()>();
        let hold = std::sync::Arc::new(std::sync::Mutex::new(hold));
        // Two long hashes take both turns.
        let mut running = Vec::new();
        for _ in 0..2 {
            let hold = std::sync::Arc::clone(&hold);
            running.push(tokio::spawn(TURNS.run(move || {
                let _ = hold.lock().unwrap().recv();
            })));
        }
        while TURNS.running.available_permits() > 0 {
            tokio::task::yield_now().await;
        }
        let refused = TURNS.run(|| ()).await;
        assert!(
            matches!(refused, Err(HashError::Busy { retry_after }) if retry_after.as_secs() == 1),
            "{refused:?}"
        );
        // A turn freed within the wait is taken.
        let waiting = tokio::spawn(TURNS.run(|| 7));
        release.send(()).unwrap();
        assert_eq!(waiting.await.unwrap().unwrap(), 7);
        release.send(()).unwrap();
        for r in running {
            r.await.unwrap().unwrap();
        }
    }

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
