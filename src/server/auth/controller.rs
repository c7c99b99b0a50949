//! Auth business logic: credentials in, tokens out; failed logins limited per user.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, Instant},
};

use crate::{
    auth::{
        Password,
        keyring::Keyring,
        keys::JwkSet,
        password::HashError,
        users::{UserError, UserStore},
    },
    server::error::ServiceError,
};

/// Failed logins per user in one window before further attempts are refused.
pub const FAILED_LOGINS: u32 = 5;
/// The window of [`FAILED_LOGINS`].
pub const FAILED_WINDOW: Duration = Duration::from_secs(60);
/// Users whose failures are remembered at once; past it the oldest are forgotten.
const TRACKED_USERS: usize = 10_000;

pub struct Controller {
    users: UserStore,
    keys: Arc<Keyring>,
    failures: Mutex<Failures>,
}

impl Controller {
    pub fn new(users: UserStore, keys: Arc<Keyring>) -> Self {
        Self {
            users,
            keys,
            failures: Mutex::new(Failures::default()),
        }
    }

    /// A token for `username`, when `password` is theirs. Unknown users and wrong passwords
    /// get the same answer after the same work; after [`FAILED_LOGINS`] failures in a
    /// window, a user's attempts are refused until it ends.
    pub async fn get_token(
        &self,
        username: &str,
        password: String,
    ) -> Result<String, ServiceError> {
        // Never quoted back, not even in part.
        let password = Password::offered(password).map_err(|_| {
            ServiceError::InvalidArgument(crate::model::ValidationError {
                field: "password",
                value: None,
                expected: format!("must be at most {} bytes", Password::MAX_BYTES),
            })
        })?;
        if let Some(retry_after) = self.failures().blocked(username, Instant::now()) {
            return Err(ServiceError::TooManyAttempts {
                message: format!(
                    "too many failed logins for this user; try again in {}s",
                    retry_after.as_secs().max(1)
                ),
                retry_after,
            });
        }
        match self.users.authenticate(username, password).await {
            Ok(user) => {
                self.failures().clear(username);
                self.keys
                    .issue(&user.name, &[user.role])
                    .map_err(|e| ServiceError::Internal(Box::new(e)))
            }
            Err(UserError::InvalidCredentials) => {
                self.failures().failed(username, Instant::now());
                Err(ServiceError::Unauthenticated(
                    "invalid credentials".to_owned(),
                ))
            }
            Err(UserError::Hash(e @ HashError::Busy { retry_after })) => {
                Err(ServiceError::TooManyAttempts {
                    message: e.to_string(),
                    retry_after,
                })
            }
            Err(e) => Err(ServiceError::Internal(Box::new(e))),
        }
    }

    /// The user `token` was issued to, if it is valid.
    pub fn validate_token(&self, token: &str) -> Result<String, ServiceError> {
        self.keys
            .verifier()
            .verify(token)
            .map(|claims| claims.sub)
            .map_err(|e| ServiceError::Unauthenticated(format!("invalid token: {e}")))
    }

    /// The public keys tokens are signed with.
    pub fn jwks(&self) -> JwkSet {
        self.keys.jwks()
    }

    fn failures(&self) -> std::sync::MutexGuard<'_, Failures> {
        self.failures.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Failed logins per user name, in fixed windows, bounded in size.
#[derive(Default)]
struct Failures {
    users: HashMap<String, (u32, Instant)>,
}

impl Failures {
    /// How long until `user` may try again, if they may not now.
    fn blocked(&mut self, user: &str, now: Instant) -> Option<Duration> {
        let (count, since) = *self.users.get(user)?;
        let ends = since + FAILED_WINDOW;
        if now >= ends {
            self.users.remove(user);
            return None;
        }
        (count >= FAILED_LOGINS).then(|| ends - now)
    }

    fn failed(&mut self, user: &str, now: Instant) {
        if self.users.len() >= TRACKED_USERS && !self.users.contains_key(user) {
            self.users
                .retain(|_, (_, since)| now.duration_since(*since) < FAILED_WINDOW);
            if self.users.len() >= TRACKED_USERS {
                // Still full of recent failures: forget the oldest.
                if let Some(oldest) = self
                    .users
                    .iter()
                    .min_by_key(|(_, (_, since))| *since)
                    .map(|(name, _)| name.clone())
                {
                    self.users.remove(&oldest);
                }
            }
        }
        let entry = self.users.entry(user.to_owned()).or_insert((0, now));
        if now.duration_since(entry.1) >= FAILED_WINDOW {
            *entry = (0, now);
        }
        entry.0 += 1;
    }

    fn clear(&mut self, user: &str) {
        self.users.remove(user);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_failures_in_a_window_block_the_user_until_it_ends() {
        let mut f = Failures::default();
        let t0 = Instant::now();
        for _ in 0..FAILED_LOGINS {
            assert_eq!(f.blocked("alex", t0), None);
            f.failed("alex", t0);
        }
        let wait = f.blocked("alex", t0 + Duration::from_secs(10)).unwrap();
        assert_eq!(wait, Duration::from_secs(50));
        assert_eq!(f.blocked("sam", t0), None, "per user");
        assert_eq!(f.blocked("alex", t0 + FAILED_WINDOW), None);
        f.failed("sam", t0);
        f.clear("sam");
        assert!(!f.users.contains_key("sam"));
    }
}
