//! Where metadata and ratings are stored (docs/design.md §2): the `database` section of the
//! configuration, and the MySQL backend ([`mysql`]). SQLite files in the data directory are
//! the default; `database.url: mysql://user@host:3306/movieapp` shares one database between
//! hosts.
//!
//! The password never sits in the URL or the configuration file: it comes from
//! `MOVIEAPP_DATABASE_PASSWORD` or from the file `database.passwordFile` names, and is kept
//! in a [`Secret`] that prints as `***`.

pub mod mysql;
pub mod sqlite;

use std::{fmt, path::PathBuf, str::FromStr};

use serde::{Deserialize, Serialize};

use crate::config::value::{self, Duration};

/// The database password, when not in `database.passwordFile`.
pub const PASSWORD_ENV: &str = "MOVIEAPP_DATABASE_PASSWORD";

/// The `database` section of the configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct Settings {
    /// `sqlite` (files in the data directory) or `mysql://user@host:port/database`.
    pub url: DatabaseUrl,
    /// A file holding the MySQL password (its trailing newline is ignored);
    /// `MOVIEAPP_DATABASE_PASSWORD` overrides it.
    #[serde(deserialize_with = "value::non_empty_path")]
    pub password_file: Option<PathBuf>,
    /// Connections each process keeps to MySQL at most.
    pub max_connections: u32,
    /// How long a call waits for a free connection, or for a new one to open.
    pub connect_timeout: Duration,
    /// How long `serve` waits for MySQL to answer at start-up before giving up.
    pub start_timeout: Duration,
    /// Whether `serve` applies pending migrations itself; when false it refuses to start
    /// until `movieapp db migrate` has run.
    pub auto_migrate: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            url: DatabaseUrl::Sqlite,
            password_file: None,
            max_connections: 10,
            connect_timeout: Duration::from_secs(5),
            start_timeout: Duration::from_secs(30),
            auto_migrate: true,
        }
    }
}

/// The most connections `database.maxConnections` allows.
const MAX_CONNECTIONS: u32 = 1000;

impl Settings {
    /// Checks what the types cannot.
    pub fn check(&self) -> Result<(), String> {
        if !(1..=MAX_CONNECTIONS).contains(&self.max_connections) {
            return Err(format!(
                "database.maxConnections: {} is out of range: expected 1 to {MAX_CONNECTIONS}",
                self.max_connections
            ));
        }
        Ok(())
    }

    /// The MySQL connection settings, with the password read from `env_password` (the
    /// variable's value) or the password file; `None` for SQLite.
    pub fn mysql(&self, env_password: Option<String>) -> Result<Option<mysql::Options>, String> {
        let DatabaseUrl::Mysql(url) = &self.url else {
            return Ok(None);
        };
        let password = match (env_password.filter(|p| !p.is_empty()), &self.password_file) {
            (Some(password), _) => Some(Secret(password)),
            (None, Some(path)) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    format!("database.passwordFile: cannot read {}: {e}", path.display())
                })?;
                Some(Secret(text.trim_end_matches(['\r', '\n']).to_owned()))
            }
            (None, None) => None,
        };
        Ok(Some(mysql::Options {
            url: url.clone(),
            password,
            max_connections: self.max_connections,
            connect_timeout: self.connect_timeout.get(),
            start_timeout: self.start_timeout.get(),
            auto_migrate: self.auto_migrate,
        }))
    }
}

/// `database.url`: which database holds metadata and ratings.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum DatabaseUrl {
    /// One SQLite file per service in the data directory.
    #[default]
    Sqlite,
    Mysql(mysql::Url),
}

impl FromStr for DatabaseUrl {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "sqlite" => Ok(Self::Sqlite),
            other if other.starts_with("mysql://") => other.parse().map(Self::Mysql),
            other => Err(format!(
                "invalid database URL {other:?}: expected sqlite or mysql://user@host:port/database"
            )),
        }
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sqlite => f.write_str("sqlite"),
            Self::Mysql(url) => url.fmt(f),
        }
    }
}

value::serde_via_str!(DatabaseUrl);

/// Where a service keeps its data: its SQLite file in the data directory, or the MySQL
/// database. Each service implements its repository trait for it
/// (`server/<service>/repository/`), passing each call to that backend's code; readiness
/// checks ping it.
#[derive(Debug, Clone)]
pub enum Store {
    Sqlite(std::sync::Arc<sqlite::Database>),
    Mysql(std::sync::Arc<mysql::Mysql>),
}

impl Store {
    /// The span of a repository call, named for the backend and the statement
    /// (`sqlite SELECT movies`); `changes` is for the count of changes a write applies.
    pub fn span(&self, statement: &'static str) -> tracing::Span {
        let system = match self {
            Self::Sqlite(_) => "sqlite",
            Self::Mysql(_) => "mysql",
        };
        tracing::debug_span!(
            "repository",
            otel.name = format!("{system} {statement}").as_str(),
            component = "repository",
            db.system = system,
            changes = tracing::field::Empty,
        )
    }

    /// `schema`'s SQLite file in `dir`, migrated. Blocking: call at start-up.
    pub fn sqlite(dir: &std::path::Path, schema: &Schema) -> Result<Self, sqlite::SqliteError> {
        let db = sqlite::Database::open(&dir.join(schema.sqlite_file), schema.sqlite)?;
        Ok(Self::Sqlite(std::sync::Arc::new(db)))
    }

    /// MySQL, `schema` made current first (or refused, when not `auto_migrate` and
    /// migrations are pending).
    pub async fn mysql(
        db: std::sync::Arc<mysql::Mysql>,
        schema: &Schema,
        auto_migrate: bool,
    ) -> Result<Self, mysql::MysqlError> {
        db.prepare(schema.component, schema.mysql, auto_migrate)
            .await?;
        Ok(Self::Mysql(db))
    }
}

/// A service's schema history on each backend (append only).
#[derive(Debug, Clone, Copy)]
pub struct Schema {
    /// The service whose data it holds; names its history on MySQL.
    pub component: &'static str,
    /// Its SQLite file in the data directory.
    pub sqlite_file: &'static str,
    pub sqlite: &'static [&'static str],
    pub mysql: &'static [&'static str],
}

/// Where a schema lives: the data directory's SQLite files, or MySQL.
#[derive(Debug, Clone)]
pub enum Backend {
    Sqlite(PathBuf),
    Mysql(std::sync::Arc<mysql::Mysql>),
}

/// How far a schema's migrations have been applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SchemaStatus {
    pub component: &'static str,
    /// The SQLite file or the MySQL URL.
    pub location: String,
    /// Migrations applied; `None` when the SQLite file does not exist yet.
    pub applied: Option<u32>,
    /// Migrations this movieapp knows.
    pub known: u32,
}

impl SchemaStatus {
    /// `current`, `N pending`, `not created` or `newer than this movieapp`.
    pub fn state(&self) -> String {
        match self.applied {
            None => "not created".to_owned(),
            Some(applied) if applied == self.known => "current".to_owned(),
            Some(applied) if applied < self.known => format!("{} pending", self.known - applied),
            Some(_) => "newer than this movieapp".to_owned(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error(transparent)]
    Sqlite(#[from] sqlite::SqliteError),
    #[error(transparent)]
    Mysql(#[from] mysql::MysqlError),
}

impl DbError {
    /// A mistake in the configuration (see [`mysql::MysqlError::is_config`]).
    pub fn is_config(&self) -> bool {
        matches!(self, Self::Mysql(e) if e.is_config())
    }
}

fn count(migrations: &[&str]) -> u32 {
    u32::try_from(migrations.len()).unwrap_or(u32::MAX)
}

impl Backend {
    /// How far `schema` has been migrated here; changes nothing.
    pub async fn status(&self, schema: &Schema) -> Result<SchemaStatus, DbError> {
        match self {
            Self::Sqlite(dir) => {
                let path = dir.join(schema.sqlite_file);
                let location = path.display().to_string();
                let applied = tokio::task::spawn_blocking(move || sqlite::schema_version(&path))
                    .await
                    .map_err(|source| sqlite::SqliteError::Task {
                        path: dir.join(schema.sqlite_file),
                        source,
                    })??;
                Ok(SchemaStatus {
                    component: schema.component,
                    location,
                    applied,
                    known: count(schema.sqlite),
                })
            }
            Self::Mysql(db) => Ok(SchemaStatus {
                component: schema.component,
                location: db.target().to_string(),
                applied: Some(db.version(schema.component).await?),
                known: count(schema.mysql),
            }),
        }
    }

    /// Applies `schema`'s pending migrations here (creating the SQLite file if need be):
    /// how many this call applied, and the status after.
    pub async fn migrate(&self, schema: &Schema) -> Result<(u32, SchemaStatus), DbError> {
        let applied_now = match self {
            Self::Sqlite(dir) => {
                let before = self.status(schema).await?.applied.unwrap_or(0);
                sqlite::Database::open_in_background(&dir.join(schema.sqlite_file), schema.sqlite)
                    .await?;
                let after = self.status(schema).await?.applied.unwrap_or(0);
                after.saturating_sub(before)
            }
            // Counted under the migration lock: exact with other migrators running.
            Self::Mysql(db) => {
                let (from, to) = db.migrate(schema.component, schema.mysql).await?;
                to.saturating_sub(from)
            }
        };
        Ok((applied_now, self.status(schema).await?))
    }
}

/// A password: shown as `***` by `Debug` and `Display`, so it cannot reach a log by
/// accident.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked_and_never_carry_a_password() {
        assert_eq!("sqlite".parse::<DatabaseUrl>(), Ok(DatabaseUrl::Sqlite));
        let url: DatabaseUrl = "mysql://movie@db.example:3307/movieapp".parse().unwrap();
        assert_eq!(url.to_string(), "mysql://movie@db.example:3307/movieapp");
        let err = "mysql://movie:hunter2@db:3306/movieapp"
            .parse::<DatabaseUrl>()
            .unwrap_err();
        assert!(err.contains("MOVIEAPP_DATABASE_PASSWORD"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
        for bad in ["postgres://x/y", "mysql://movie@db:3306", "mysql://", ""] {
            let err = bad.parse::<DatabaseUrl>().unwrap_err();
            assert!(
                err.contains("mysql://user@host:port/database"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn the_password_comes_from_the_variable_then_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("password");
        std::fs::write(&file, "from-file\n").unwrap();
        let settings = Settings {
            url: "mysql://movie@127.0.0.1:3306/movieapp".parse().unwrap(),
            password_file: Some(file.clone()),
            ..Settings::default()
        };
        let from_env = settings.mysql(Some("from-env".into())).unwrap().unwrap();
        assert_eq!(from_env.password.unwrap().expose(), "from-env");
        let from_file = settings.mysql(None).unwrap().unwrap();
        let password = from_file.password.unwrap();
        assert_eq!(password.expose(), "from-file");
        assert_eq!(format!("{password:?}"), "***");
        std::fs::remove_file(&file).unwrap();
        let err = settings.mysql(None).unwrap_err();
        assert!(err.contains("database.passwordFile"), "{err}");
        assert!(Settings::default().mysql(None).unwrap().is_none());
    }
}
