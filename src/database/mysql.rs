//! MySQL (and MariaDB) through `mysql_async`: a bounded pool, versioned migrations applied
//! under a server-side lock, and errors sorted into "the database is unavailable" (a lost
//! connection, a server restarting: UNAVAILABLE to callers) and everything else.
//!
//! Why `mysql_async`: it is the maintained async driver built for MySQL alone, with its own
//! pool and rustls; sqlx would also do, but its `sqlx` crate pulls in its SQLite driver's
//! `libsqlite3-sys`, which cannot live beside rusqlite's in one build.
//!
//! Every statement the repositories run is idempotent (an upsert, a delete, a read, or a
//! transaction of those), so one that fails on a connection the server has dropped (after
//! a restart every pooled connection is dead) is run again on another connection.

use std::{fmt, future::Future, str::FromStr, sync::Arc, time::Duration};

use mysql_async::{Conn, OptsBuilder, Pool, PoolConstraints, PoolOpts, prelude::Queryable};

use super::Secret;

/// How MySQL is reached: the resolved `database` section.
#[derive(Debug, Clone)]
pub struct Options {
    pub url: Url,
    pub password: Option<Secret>,
    pub max_connections: u32,
    pub connect_timeout: Duration,
    pub start_timeout: Duration,
    pub auto_migrate: bool,
}

/// A `mysql://user@host:port/database` URL without a password, checked by the driver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url(String);

impl FromStr for Url {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let expected = "expected mysql://user@host:port/database";
        let opts = mysql_async::Opts::from_url(s).map_err(|e| {
            // The driver's message may quote the URL; a URL with a password is refused
            // below, so quote only what says what is wrong.
            format!("invalid database URL: {e}; {expected}")
        })?;
        if opts.pass().is_some() {
            return Err(format!(
                "invalid database URL: it holds a password; give the password in {} or database.passwordFile instead ({expected})",
                super::PASSWORD_ENV
            ));
        }
        if opts.db_name().is_none_or(str::is_empty) {
            return Err(format!(
                "invalid database URL {s:?}: it names no database; {expected}"
            ));
        }
        Ok(Self(s.to_owned()))
    }
}

impl fmt::Display for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MysqlError {
    #[error("database {target} is unavailable: {source}")]
    Unavailable {
        target: Url,
        #[source]
        source: mysql_async::Error,
    },
    #[error(
        "database {target}: no connection within {timeout:?} (the server is slow or unreachable, or all database.maxConnections are busy)"
    )]
    Timeout { target: Url, timeout: Duration },
    #[error("database {target}: {source}{}", hint(source))]
    Query {
        target: Url,
        #[source]
        source: mysql_async::Error,
    },
    #[error(
        "database {target}: the {component} schema is at version {found}, newer than this movieapp knows ({known}); use a newer movieapp"
    )]
    TooNew {
        target: Url,
        component: &'static str,
        found: u32,
        known: u32,
    },
    #[error("database {target}: migration {version} of {component} failed: {source}")]
    Migration {
        target: Url,
        component: &'static str,
        version: u32,
        #[source]
        source: mysql_async::Error,
    },
    #[error(
        "database {target}: {component} has {pending} migration(s) to apply and database.autoMigrate is false; run `movieapp db migrate` first"
    )]
    Pending {
        target: Url,
        component: &'static str,
        pending: u32,
    },
    #[error(
        "database {target}: another process held the migration lock for {0:?}; is a migration stuck?",
        MIGRATION_LOCK_WAIT
    )]
    LockTimeout { target: Url },
}

impl MysqlError {
    /// The database cannot be reached now, and may be later: UNAVAILABLE to callers,
    /// "not ready" to probes.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Unavailable { .. } | Self::Timeout { .. })
    }

    /// A mistake in the configuration (wrong password or user, no such database) rather
    /// than a failure: exit code 2 at start-up.
    pub fn is_config(&self) -> bool {
        match self {
            Self::Query {
                source: mysql_async::Error::Server(e),
                ..
            } => matches!(
                e.code,
                // Access denied (user, password, database), unknown database.
                1044 | 1045 | 1049 | 1698
            ),
            Self::Pending { .. } | Self::TooNew { .. } => true,
            _ => false,
        }
    }
}

/// What to do about a mistake in the configuration, for the message.
fn hint(e: &mysql_async::Error) -> &'static str {
    match e {
        mysql_async::Error::Server(s) if matches!(s.code, 1044 | 1045 | 1698) => {
            "; check the user in database.url and the password (MOVIEAPP_DATABASE_PASSWORD or database.passwordFile)"
        }
        mysql_async::Error::Server(s) if s.code == 1049 => {
            "; create the database (CREATE DATABASE …) or correct database.url"
        }
        _ => "",
    }
}

/// True when `e` means the connection (or the server) went away, so the same statement
/// may succeed on another connection.
fn connection_lost(e: &mysql_async::Error) -> bool {
    use mysql_async::{DriverError, Error};
    match e {
        Error::Io(_) => true,
        Error::Driver(
            DriverError::ConnectionClosed
            | DriverError::PoolDisconnected
            | DriverError::PacketOutOfOrder,
        ) => true,
        // Too many connections; server shutting down; connection killed; aborted
        // connection; disconnected for inactivity (MySQL 8).
        Error::Server(s) => matches!(s.code, 1040 | 1053 | 1077..=1080 | 1152 | 1927 | 4031),
        _ => false,
    }
}

/// True when InnoDB rolled the transaction back to break a deadlock, or gave up waiting
/// for a row lock: running it again is the documented remedy.
fn deadlock(e: &mysql_async::Error) -> bool {
    matches!(e, mysql_async::Error::Server(s) if s.code == 1213 || s.code == 1205)
}

/// How long `migrate` waits for another process's migration.
const MIGRATION_LOCK_WAIT: Duration = Duration::from_secs(60);
/// The server-side lock migrations run under (`GET_LOCK`), across every process.
const MIGRATION_LOCK: &str = "movieapp.migrate";

/// Which migrations of each component have been applied; one row per version.
const HISTORY_TABLE: &str = "CREATE TABLE IF NOT EXISTS movieapp_migrations (
    component VARCHAR(64) NOT NULL,
    version INT NOT NULL,
    applied_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    PRIMARY KEY (component, version)
) ENGINE = InnoDB";

/// A pool of connections to one MySQL database.
pub struct Mysql {
    pool: Pool,
    target: Url,
    connect_timeout: Duration,
    max_connections: u32,
}

impl fmt::Debug for Mysql {
    /// The target only: the pool's options hold the password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mysql")
            .field("target", &self.target.0)
            .finish_non_exhaustive()
    }
}

impl Mysql {
    /// The pool; it opens connections when they are first needed.
    pub fn new(options: &Options) -> Result<Self, MysqlError> {
        let opts = mysql_async::Opts::from_url(&options.url.0).map_err(|e| MysqlError::Query {
            target: options.url.clone(),
            source: e.into(),
        })?;
        let max = usize::try_from(options.max_connections).unwrap_or(usize::MAX);
        let constraints = PoolConstraints::new(0, max.max(1)).unwrap_or_default();
        let builder = OptsBuilder::from_opts(opts)
            .pass(options.password.as_ref().map(|p| p.expose().to_owned()))
            .pool_opts(
                PoolOpts::default()
                    .with_constraints(constraints)
                    .with_inactive_connection_ttl(Duration::from_secs(60)),
            )
            // Text as UTF-8 whatever the server's default, and strict: a value that does
            // not fit is an error, never silently cut.
            .init(vec![
                "SET NAMES utf8mb4",
                "SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION'",
            ]);
        Ok(Self {
            pool: Pool::new(builder),
            target: options.url.clone(),
            connect_timeout: options.connect_timeout,
            max_connections: options.max_connections,
        })
    }

    /// The pool, once the server answers: waits up to `start_timeout` for a database that
    /// is still starting. A wrong password or database name fails at once.
    pub async fn connect(options: &Options) -> Result<Arc<Self>, MysqlError> {
        let db = Arc::new(Self::new(options)?);
        let give_up = tokio::time::Instant::now() + options.start_timeout;
        let mut pause = Duration::from_millis(100);
        loop {
            match db.ping().await {
                Ok(()) => return Ok(db),
                Err(e) if e.is_unavailable() && tokio::time::Instant::now() + pause < give_up => {
                    tracing::warn!(error = %e, "waiting for the database");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(2));
                }
                Err(e) => return Err(e),
            }
        }
    }

    pub fn target(&self) -> &Url {
        &self.target
    }

    /// One round trip to the server.
    pub async fn ping(&self) -> Result<(), MysqlError> {
        self.run(|mut conn| async move { conn.ping().await }).await
    }

    /// Closes every connection.
    pub async fn close(&self) {
        if let Err(e) = self.pool.clone().disconnect().await {
            tracing::debug!(error = %e, "closing the database pool");
        }
    }

    /// A connection from the pool, within `connect_timeout`.
    async fn conn(&self) -> Result<Conn, MysqlError> {
        match tokio::time::timeout(self.connect_timeout, self.pool.get_conn()).await {
            Ok(Ok(conn)) => Ok(conn),
            Ok(Err(source)) => Err(self.failed(source)),
            Err(_) => Err(MysqlError::Timeout {
                target: self.target.clone(),
                timeout: self.connect_timeout,
            }),
        }
    }

    fn failed(&self, source: mysql_async::Error) -> MysqlError {
        let target = self.target.clone();
        if connection_lost(&source) {
            MysqlError::Unavailable { target, source }
        } else {
            MysqlError::Query { target, source }
        }
    }

    /// Runs `work` on a connection. `work` must be idempotent: when the connection turns
    /// out to be lost, it runs again on another (every pooled connection may be dead after
    /// a server restart, so up to one more time than the pool holds); when InnoDB chose it
    /// as a deadlock's victim, it runs again too.
    pub async fn run<T, F, Fut>(&self, work: F) -> Result<T, MysqlError>
    where
        F: Fn(Conn) -> Fut,
        Fut: Future<Output = Result<T, mysql_async::Error>>,
    {
        let mut attempts = self.max_connections + 1;
        loop {
            let conn = self.conn().await?;
            match work(conn).await {
                Ok(value) => return Ok(value),
                Err(e) if (connection_lost(&e) || deadlock(&e)) && attempts > 1 => {
                    attempts -= 1;
                    tracing::debug!(error = %e, "database statement failed; trying again");
                }
                Err(e) => return Err(self.failed(e)),
            }
        }
    }

    /// How many of `component`'s migrations have been applied.
    pub async fn version(&self, component: &'static str) -> Result<u32, MysqlError> {
        let mut conn = self.conn().await?;
        self.applied(&mut conn, component).await
    }

    async fn applied(&self, conn: &mut Conn, component: &'static str) -> Result<u32, MysqlError> {
        conn.query_drop(HISTORY_TABLE)
            .await
            .map_err(|e| self.failed(e))?;
        let found: Option<Option<u32>> = conn
            .exec_first(
                "SELECT MAX(version) FROM movieapp_migrations WHERE component = ?",
                (component,),
            )
            .await
            .map_err(|e| self.failed(e))?;
        Ok(found.flatten().unwrap_or(0))
    }

    /// Applies `component`'s migrations not yet applied, in order, under a server-wide
    /// lock, so that instances starting together apply each one once. Returns the versions
    /// before and after.
    pub async fn migrate(
        &self,
        component: &'static str,
        migrations: &[&str],
    ) -> Result<(u32, u32), MysqlError> {
        let known = u32::try_from(migrations.len()).unwrap_or(u32::MAX);
        let mut conn = self.conn().await?;
        let wait = MIGRATION_LOCK_WAIT.as_secs();
        let locked: Option<Option<i64>> = conn
            .exec_first("SELECT GET_LOCK(?, ?)", (MIGRATION_LOCK, wait))
            .await
            .map_err(|e| self.failed(e))?;
        if locked.flatten() != Some(1) {
            return Err(MysqlError::LockTimeout {
                target: self.target.clone(),
            });
        }
        let result = self
            .migrate_locked(&mut conn, component, migrations, known)
            .await;
        // Closing the connection would release it too.
        let _ = conn
            .exec_drop("SELECT RELEASE_LOCK(?)", (MIGRATION_LOCK,))
            .await;
        result
    }

    async fn migrate_locked(
        &self,
        conn: &mut Conn,
        component: &'static str,
        migrations: &[&str],
        known: u32,
    ) -> Result<(u32, u32), MysqlError> {
        let found = self.applied(conn, component).await?;
        if found > known {
            return Err(MysqlError::TooNew {
                target: self.target.clone(),
                component,
                found,
                known,
            });
        }
        for (version, sql) in (found + 1..).zip(&migrations[found as usize..]) {
            // MySQL commits DDL as it goes; each migration is written so that running it
            // again after a crash between the statement and the history row is harmless.
            let failed = |source| MysqlError::Migration {
                target: self.target.clone(),
                component,
                version,
                source,
            };
            conn.query_drop(*sql).await.map_err(failed)?;
            conn.exec_drop(
                "INSERT INTO movieapp_migrations (component, version) VALUES (?, ?)",
                (component, version),
            )
            .await
            .map_err(failed)?;
            tracing::info!(component, version, "database migration applied");
        }
        Ok((found, known))
    }

    /// Makes `component`'s schema current: migrates when `auto` is set, else refuses a
    /// schema with migrations pending.
    pub async fn prepare(
        &self,
        component: &'static str,
        migrations: &[&str],
        auto: bool,
    ) -> Result<(), MysqlError> {
        if auto {
            return self.migrate(component, migrations).await.map(drop);
        }
        let known = u32::try_from(migrations.len()).unwrap_or(u32::MAX);
        let found = self.version(component).await?;
        match found.cmp(&known) {
            std::cmp::Ordering::Equal => Ok(()),
            std::cmp::Ordering::Less => Err(MysqlError::Pending {
                target: self.target.clone(),
                component,
                pending: known - found,
            }),
            std::cmp::Ordering::Greater => Err(MysqlError::TooNew {
                target: self.target.clone(),
                component,
                found,
                known,
            }),
        }
    }
}

/// A throwaway database on the test server scripts/test.sh starts
/// (`MYSQL_TEST_URL`, a `mysql://root@127.0.0.1:PORT/` URL).
#[cfg(test)]
pub mod testing {
    use super::*;

    /// The variable naming the test server.
    pub const URL_ENV: &str = "MYSQL_TEST_URL";

    /// Options for a new, empty database of its own; `None` (with a line saying so) when
    /// no test server is set up, outside CI.
    pub async fn fresh_database(name: &str) -> Option<Options> {
        let server = match std::env::var(URL_ENV) {
            Ok(url) if !url.is_empty() => url,
            _ if std::env::var_os("CI").is_some() => {
                panic!("{URL_ENV} is not set: CI must run the tests through scripts/test.sh")
            }
            _ => {
                eprintln!(
                    "skipped: {URL_ENV} is not set; run scripts/test.sh to include this test"
                );
                return None;
            }
        };
        let database = format!("t_{name}_{}", rand::random::<u32>());
        let pool = Pool::new(mysql_async::Opts::from_url(&server).unwrap());
        let mut conn = pool.get_conn().await.unwrap();
        conn.query_drop(format!("CREATE DATABASE {database}"))
            .await
            .unwrap();
        drop(conn);
        pool.disconnect().await.unwrap();
        Some(Options {
            url: format!("{}/{database}", server.trim_end_matches('/'))
                .parse()
                .unwrap(),
            password: None,
            max_connections: 4,
            connect_timeout: Duration::from_secs(5),
            start_timeout: Duration::from_secs(5),
            auto_migrate: true,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIGRATIONS: &[&str] = &[
        "CREATE TABLE IF NOT EXISTS t (k VARBINARY(255) PRIMARY KEY, v INT)",
        "CREATE TABLE IF NOT EXISTS u (k INT PRIMARY KEY)",
    ];

    #[tokio::test]
    async fn concurrent_migrations_apply_each_version_once() {
        let Some(options) = testing::fresh_database("migrate").await else {
            return;
        };
        let first = Mysql::connect(&options).await.unwrap();
        assert_eq!(first.migrate("t", &MIGRATIONS[..1]).await.unwrap(), (0, 1));
        // Several instances starting at once with one more migration.
        let racers: Vec<_> = (0..4)
            .map(|_| {
                let options = options.clone();
                tokio::spawn(async move {
                    let db = Mysql::connect(&options).await.unwrap();
                    db.migrate("t", MIGRATIONS).await.unwrap()
                })
            })
            .collect();
        let mut moved = 0;
        for racer in racers {
            let (from, to) = racer.await.unwrap();
            assert_eq!(to, 2);
            moved += u32::from(from == 1);
        }
        assert_eq!(moved, 1, "exactly one instance applied migration 2");
        assert_eq!(first.version("t").await.unwrap(), 2);
        // An older movieapp refuses the newer schema; without auto-migration, a pending
        // one is refused too.
        let err = first
            .prepare("t", &MIGRATIONS[..1], true)
            .await
            .unwrap_err();
        assert!(matches!(err, MysqlError::TooNew { found: 2, .. }), "{err}");
        let err = first.prepare("other", MIGRATIONS, false).await.unwrap_err();
        assert!(
            matches!(err, MysqlError::Pending { pending: 2, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("movieapp db migrate"), "{err}");
    }

    #[tokio::test]
    async fn connections_the_server_dropped_are_replaced_without_failing_a_call() {
        let Some(options) = testing::fresh_database("dropped").await else {
            return;
        };
        let db = Mysql::connect(&options).await.unwrap();
        // Fill the pool: four connections in use at once, then idle in the pool.
        let held = tokio::join!(db.conn(), db.conn(), db.conn(), db.conn());
        drop(held);
        // The server drops every one of them, as a restart would.
        let server = std::env::var(testing::URL_ENV).unwrap();
        let admin = Pool::new(mysql_async::Opts::from_url(&server).unwrap());
        let mut conn = admin.get_conn().await.unwrap();
        let name = options.url.0.rsplit('/').next().unwrap().to_owned();
        let ids: Vec<u64> = conn
            .exec(
                "SELECT id FROM information_schema.processlist WHERE db = ?",
                (name,),
            )
            .await
            .unwrap();
        assert!(ids.len() >= 2, "{ids:?}");
        for id in ids {
            conn.query_drop(format!("KILL CONNECTION {id}"))
                .await
                .unwrap();
        }
        // The next calls find dead connections first, and still succeed.
        for _ in 0..4 {
            db.ping().await.unwrap();
        }
        drop(conn);
        admin.disconnect().await.unwrap();
    }

    #[tokio::test]
    async fn an_unreachable_server_is_unavailable_and_a_wrong_password_is_a_config_error() {
        // Nothing listens on a port just released.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let options = Options {
            url: format!("mysql://movie@127.0.0.1:{port}/movieapp")
                .parse()
                .unwrap(),
            password: Some(Secret::new("s3cret-pw")),
            max_connections: 2,
            connect_timeout: Duration::from_secs(2),
            start_timeout: Duration::from_millis(300),
            auto_migrate: true,
        };
        let err = Mysql::connect(&options).await.unwrap_err();
        assert!(err.is_unavailable(), "{err}");
        assert!(!err.to_string().contains("s3cret-pw"));
        assert!(!format!("{:?}", Mysql::new(&options).unwrap()).contains("s3cret-pw"));

        let Some(mut options) = testing::fresh_database("password").await else {
            return;
        };
        options.url = options
            .url
            .0
            .replace("mysql://root@", "mysql://nobody_here@")
            .parse()
            .unwrap();
        options.password = Some(Secret::new("s3cret-pw"));
        let err = Mysql::connect(&options).await.unwrap_err();
        assert!(err.is_config(), "{err}");
        assert!(!err.to_string().contains("s3cret-pw"), "{err}");
    }
}
