//! The auth service's users, in its own SQLite file (`auth.db` in the data directory):
//! a name, a role, and an Argon2id hash of the password, never the password itself.

use std::{path::Path, sync::Arc};

use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use super::{Password, Role, UserName, password};
use crate::database::sqlite::{Database, SqliteError, now_ms};

/// The file's name in the data directory.
pub const FILE_NAME: &str = "auth.db";

/// Schema history; append only.
const MIGRATIONS: &[&str] = &["CREATE TABLE users (
        name TEXT PRIMARY KEY,
        role TEXT NOT NULL,
        password_hash TEXT NOT NULL,
        created_ms INTEGER NOT NULL,
        updated_ms INTEGER NOT NULL);"];

#[derive(Debug, thiserror::Error)]
pub enum UserError {
    #[error("user {0} already exists; change its password with `movieapp auth user passwd {0}`")]
    Exists(UserName),
    #[error("no user {0}; `movieapp auth user list` shows who there is")]
    Unknown(UserName),
    /// Wrong password and unknown user alike: the caller learns nothing more.
    #[error("invalid credentials")]
    InvalidCredentials,
    #[error("user {name} has an unknown role {role:?} in the user database")]
    BadRole { name: String, role: String },
    #[error(transparent)]
    Hash(#[from] password::HashError),
    #[error(transparent)]
    Storage(#[from] SqliteError),
}

/// A user as listed (no hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub name: String,
    pub role: Role,
    /// Unix milliseconds.
    pub created_ms: i64,
    pub updated_ms: i64,
}

#[derive(Debug, Clone)]
pub struct UserStore {
    db: Arc<Database>,
}

impl UserStore {
    /// Opens (creating if needed, with `dir`) `auth.db` in `dir`, readable by the owner
    /// only: it holds the password hashes. Blocking: call at start-up.
    pub fn open(dir: &Path) -> Result<Self, SqliteError> {
        crate::files::create_private_dir(dir).map_err(|source| SqliteError::Directory {
            path: dir.to_owned(),
            source,
        })?;
        let path = dir.join(FILE_NAME);
        let db = Database::open(&path, MIGRATIONS)?;
        // SQLite gives its -wal and -shm files the database file's mode when it makes them.
        crate::files::make_private(&path).map_err(|source| SqliteError::Private {
            path: path.clone(),
            source,
        })?;
        Ok(Self { db: Arc::new(db) })
    }

    /// The database, for readiness checks.
    pub fn database(&self) -> Arc<Database> {
        Arc::clone(&self.db)
    }

    /// Adds a user; `Exists` if the name is taken.
    pub async fn add(
        &self,
        name: &UserName,
        role: Role,
        password: Password,
    ) -> Result<(), UserError> {
        let hash = hash_off_thread(password).await?;
        let (user, role) = (name.as_str().to_owned(), role.name());
        let added = self
            .db
            .write(move |c| {
                let now = now_ms();
                c.execute(
                    "INSERT INTO users (name, role, password_hash, created_ms, updated_ms)
                     VALUES (?1, ?2, ?3, ?4, ?4) ON CONFLICT (name) DO NOTHING",
                    params![user, role, hash, now],
                )
            })
            .await?;
        if added == 0 {
            return Err(UserError::Exists(name.clone()));
        }
        Ok(())
    }

    /// Every user, by name.
    pub async fn list(&self) -> Result<Vec<User>, UserError> {
        let rows: Vec<(String, String, i64, i64)> = self
            .db
            .read(|c| {
                let mut stmt = c.prepare_cached(
                    "SELECT name, role, created_ms, updated_ms FROM users ORDER BY name",
                )?;
                let rows =
                    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
                rows.collect()
            })
            .await?;
        rows.into_iter()
            .map(|(name, role, created_ms, updated_ms)| {
                Ok(User {
                    role: parse_role(&name, &role)?,
                    name,
                    created_ms,
                    updated_ms,
                })
            })
            .collect()
    }

    /// Removes a user; `Unknown` if there is none by that name.
    pub async fn remove(&self, name: &UserName) -> Result<(), UserError> {
        let user = name.as_str().to_owned();
        let removed = self
            .db
            .write(move |c| c.execute("DELETE FROM users WHERE name = ?1", params![user]))
            .await?;
        if removed == 0 {
            return Err(UserError::Unknown(name.clone()));
        }
        Ok(())
    }

    /// Sets a user's password; `Unknown` if there is none by that name.
    pub async fn set_password(&self, name: &UserName, password: Password) -> Result<(), UserError> {
        let hash = hash_off_thread(password).await?;
        let user = name.as_str().to_owned();
        let changed = self
            .db
            .write(move |c| {
                c.execute(
                    "UPDATE users SET password_hash = ?1, updated_ms = ?2 WHERE name = ?3",
                    params![hash, now_ms(), user],
                )
            })
            .await?;
        if changed == 0 {
            return Err(UserError::Unknown(name.clone()));
        }
        Ok(())
    }

    /// The user, when `password` is theirs; `InvalidCredentials` otherwise, after the same
    /// work whether the user exists or not.
    pub async fn authenticate(&self, name: &str, password: Password) -> Result<User, UserError> {
        let user = name.to_owned();
        let row: Option<(String, String, i64, i64)> =
            self.db
                .read(move |c| {
                    c.prepare_cached(
                    "SELECT role, password_hash, created_ms, updated_ms FROM users WHERE name = ?1",
                )?
                .query_row(params![user], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
                .optional()
                })
                .await?;
        let stored = row
            .as_ref()
            .map_or(password::dummy(), |(_, hash, ..)| hash.as_str())
            .to_owned();
        let matches = password::verify_in_turn(password, stored).await?;
        match row {
            Some((role, _, created_ms, updated_ms)) if matches => Ok(User {
                role: parse_role(name, &role)?,
                name: name.to_owned(),
                created_ms,
                updated_ms,
            }),
            _ => Err(UserError::InvalidCredentials),
        }
    }
}

/// Argon2 takes tens of milliseconds of CPU and 19 MiB: in its turn, off the executor.
async fn hash_off_thread(password: Password) -> Result<String, UserError> {
    Ok(password::hash_in_turn(password).await?)
}

fn parse_role(name: &str, role: &str) -> Result<Role, UserError> {
    role.parse().map_err(|_| UserError::BadRole {
        name: name.to_owned(),
        role: role.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(n: &str) -> UserName {
        UserName::new(n).unwrap()
    }

    fn password(p: &str) -> Password {
        Password::new(p.to_owned()).unwrap()
    }

    #[tokio::test]
    async fn users_are_added_listed_authenticated_changed_and_removed() {
        let dir = tempfile::tempdir().unwrap();
        let store = UserStore::open(dir.path()).unwrap();
        store
            .add(&name("alex"), Role::Writer, password("correct horse"))
            .await
            .unwrap();
        assert!(matches!(
            store
                .add(&name("alex"), Role::Reader, password("another one"))
                .await,
            Err(UserError::Exists(_))
        ));
        let user = store
            .authenticate("alex", password("correct horse"))
            .await
            .unwrap();
        assert_eq!((user.name.as_str(), user.role), ("alex", Role::Writer));
        for (who, what) in [("alex", "wrong password"), ("nobody", "correct horse")] {
            let err = store.authenticate(who, password(what)).await.unwrap_err();
            assert_eq!(err.to_string(), "invalid credentials");
        }
        store
            .set_password(&name("alex"), password("battery staple"))
            .await
            .unwrap();
        assert!(
            store
                .authenticate("alex", password("correct horse"))
                .await
                .is_err()
        );
        assert!(
            store
                .authenticate("alex", password("battery staple"))
                .await
                .is_ok()
        );
        assert_eq!(store.list().await.unwrap().len(), 1);
        store.remove(&name("alex")).await.unwrap();
        assert!(matches!(
            store.remove(&name("alex")).await,
            Err(UserError::Unknown(_))
        ));
        assert!(store.list().await.unwrap().is_empty());
        // Nothing on disk (database, WAL) holds a password.
        for file in std::fs::read_dir(dir.path()).unwrap() {
            let bytes = std::fs::read(file.unwrap().path()).unwrap();
            let text = String::from_utf8_lossy(&bytes);
            assert!(!text.contains("correct horse") && !text.contains("battery staple"));
        }
    }
}
