//! SQLite plumbing shared by every store: opening with the right pragmas, versioned
//! migrations (`PRAGMA user_version`), and running blocking calls off the async executor.
//!
//! One writer connection (SQLite allows one writer at a time anyway), used on tokio's
//! blocking pool, and a few reader threads, each owning a connection, which WAL mode lets
//! run beside the writer. Reads are the hot path (every GetMovieDetails reads the rating
//! aggregate): long-lived reader threads draining one queue served about 20% more
//! GetAggregatedRating/s, at a lower p99, than a `spawn_blocking` per read.
//!
//! A call that is given up (its deadline passed, or its caller went away) stops its SQLite
//! work too: a statement under way is interrupted (`sqlite3_interrupt`), and a read still
//! queued is skipped.

use std::{
    panic::AssertUnwindSafe,
    path::{Path, PathBuf},
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicBool, Ordering},
        mpsc,
    },
    time::Duration,
};

use rusqlite::{Connection, OpenFlags, TransactionBehavior};

/// How long a connection waits for a lock held by another connection or process.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// How long opening a database keeps trying while other processes hold its lock.
pub const OPEN_TIMEOUT: Duration = Duration::from_secs(30);
/// Reader threads per database, each with its own connection.
const MAX_READERS: usize = 4;

#[derive(Debug, thiserror::Error)]
pub enum SqliteError {
    #[error("cannot create directory {path}: {source}")]
    Directory {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot make {path} readable by its owner only: {source}")]
    Private {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot open database {path}: {source}")]
    Open {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error(
        "database {path} has schema version {found}, newer than this movieapp knows ({known}); use a newer movieapp"
    )]
    TooNew {
        path: PathBuf,
        found: u32,
        known: u32,
    },
    #[error("migration {version} of database {path} failed: {source}")]
    Migration {
        path: PathBuf,
        version: u32,
        #[source]
        source: rusqlite::Error,
    },
    #[error("database {path}: {source}")]
    Query {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("database task for {path} did not finish: {source}")]
    Task {
        path: PathBuf,
        #[source]
        source: tokio::task::JoinError,
    },
    #[error("cannot start a reader thread for database {path}: {source}")]
    Thread {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("database {path}: the read was lost (its reader thread failed)")]
    ReadLost { path: PathBuf },
    #[error(
        "database {path} is corrupt ({detail}); restore it from a backup, or move it away to start empty"
    )]
    Corrupt { path: PathBuf, detail: String },
}

impl SqliteError {
    /// True when SQLite said "busy" or "locked": another connection holds the lock.
    fn is_busy(&self) -> bool {
        let source = match self {
            Self::Open { source, .. }
            | Self::Migration { source, .. }
            | Self::Query { source, .. } => source,
            _ => return false,
        };
        matches!(
            source.sqlite_error_code(),
            Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
        )
    }
}

/// A read to run on a reader thread.
type ReadJob = Box<dyn FnOnce(&Connection) + Send>;

/// While a call's statement runs: the handle to interrupt it with. Shared by the call's
/// future (which interrupts when dropped before the answer) and the thread running it
/// (which sets it before and clears it after, under the lock, so an interrupt can never hit
/// the next job on that connection).
#[derive(Default)]
struct Running(Mutex<Option<rusqlite::InterruptHandle>>);

impl Running {
    /// Runs `f` on `conn`, interruptible through `handle` (`conn`'s) meanwhile.
    fn run<C, T>(&self, handle: rusqlite::InterruptHandle, conn: C, f: impl FnOnce(C) -> T) -> T {
        *self.slot() = Some(handle);
        let result = f(conn);
        *self.slot() = None;
        result
    }

    fn slot(&self) -> std::sync::MutexGuard<'_, Option<rusqlite::InterruptHandle>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Interrupts the call's statement if dropped while armed (the call was given up).
struct InterruptOnDrop {
    running: Arc<Running>,
    armed: bool,
}

impl InterruptOnDrop {
    fn new(running: &Arc<Running>) -> Self {
        Self {
            running: Arc::clone(running),
            armed: true,
        }
    }

    fn disarm(mut self) {
        self.armed = false;
    }
}

impl Drop for InterruptOnDrop {
    fn drop(&mut self) {
        if self.armed {
            // Under the lock: the statement is still the call's own.
            if let Some(handle) = self.running.slot().as_ref() {
                handle.interrupt();
            }
        }
    }
}

/// The writer connection's page cache, in KiB.
const WRITER_CACHE_KIB: u32 = 32 * 1024;

/// An open SQLite database file. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct Database {
    path: PathBuf,
    /// Set once SQLite reports the file corrupt; readiness reports it from then on.
    corrupt: AtomicBool,
    writer: Mutex<Connection>,
    /// Feeds the reader threads; they exit when this is dropped with the database.
    reads: mpsc::Sender<ReadJob>,
}

impl Database {
    /// Opens (creating if needed) the database at `path` and applies the migrations it has
    /// not seen. `migrations[i]` takes the schema from version `i` to `i + 1`; an applied
    /// migration is never edited, only new ones appended. Blocking: call at start-up.
    ///
    /// Several processes may open a new file at the same moment: SQLite answers some of
    /// them "database is locked" without waiting (switching to WAL and recovering take the
    /// lock outright), so opening is retried, with growing pauses, for up to
    /// [`OPEN_TIMEOUT`].
    pub fn open(path: &Path, migrations: &[&str]) -> Result<Self, SqliteError> {
        let deadline = std::time::Instant::now() + OPEN_TIMEOUT;
        let mut pause = Duration::from_millis(5);
        loop {
            match Self::try_open(path, migrations) {
                Err(e) if e.is_busy() && std::time::Instant::now() < deadline => {
                    let jitter = Duration::from_micros(rand::random::<u64>() % 5_000);
                    std::thread::sleep(pause + jitter);
                    pause = (pause * 2).min(Duration::from_millis(250));
                }
                result => return result,
            }
        }
    }

    fn try_open(path: &Path, migrations: &[&str]) -> Result<Self, SqliteError> {
        let open_err = |source| SqliteError::Open {
            path: path.to_owned(),
            source,
        };
        let mut writer = Connection::open(path).map_err(open_err)?;
        writer.busy_timeout(BUSY_TIMEOUT).map_err(open_err)?;
        stable_plans(&writer).map_err(open_err)?;
        // Reading the journal mode is the first real read: a file that is not a database
        // fails here, with the path in the message.
        writer
            .pragma_update_and_check(None, "journal_mode", "WAL", |_| Ok(()))
            .map_err(open_err)?;
        // The writer reads the pages it changes: a larger page cache than SQLite's 2 MB keeps
        // a big table's inner pages, and its recently written ones, in memory (it grows only
        // as a file's pages are used).
        writer
            .execute_batch(&format!(
                "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; PRAGMA cache_size = -{};",
                WRITER_CACHE_KIB
            ))
            .map_err(open_err)?;
        migrate(&mut writer, path, migrations)?;
        check_integrity(&writer, path)?;
        let (reads, queue) = mpsc::channel::<ReadJob>();
        let queue = Arc::new(Mutex::new(queue));
        let threads =
            std::thread::available_parallelism().map_or(2, |n| n.get().clamp(2, MAX_READERS));
        for i in 0..threads {
            let conn = open_reader(path).map_err(open_err)?;
            let queue = Arc::clone(&queue);
            std::thread::Builder::new()
                .name(format!("sqlite-reader-{i}"))
                .spawn(move || serve_reads(&conn, &queue))
                .map_err(|source| SqliteError::Thread {
                    path: path.to_owned(),
                    source,
                })?;
        }
        Ok(Self {
            path: path.to_owned(),
            corrupt: AtomicBool::new(false),
            writer: Mutex::new(writer),
            reads,
        })
    }

    /// [`Database::open`] on the blocking thread pool, creating the file's directory first:
    /// for stores opened from async code (registry, broker).
    pub async fn open_in_background(
        path: &Path,
        migrations: &'static [&'static str],
    ) -> Result<Self, SqliteError> {
        let owned = path.to_owned();
        let opened = tokio::task::spawn_blocking(move || {
            if let Some(dir) = owned.parent() {
                crate::files::create_private_dir(dir).map_err(|source| SqliteError::Directory {
                    path: dir.to_owned(),
                    source,
                })?;
            }
            Database::open(&owned, migrations)
        })
        .await;
        opened.unwrap_or_else(|source| {
            Err(SqliteError::Task {
                path: path.to_owned(),
                source,
            })
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// True once SQLite has reported the file corrupt (or not a database) on any call.
    pub fn is_corrupt(&self) -> bool {
        self.corrupt.load(Ordering::Relaxed)
    }

    /// Maps a failed call, remembering corruption.
    fn failed(&self, source: rusqlite::Error) -> SqliteError {
        if is_corruption(&source) {
            self.corrupt.store(true, Ordering::Relaxed);
        }
        SqliteError::Query {
            path: self.path.clone(),
            source,
        }
    }

    /// Runs a read on one of the reader threads' connections.
    pub async fn read<T, F>(&self, f: F) -> Result<T, SqliteError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let running = Arc::new(Running::default());
        let job: ReadJob = {
            let running = Arc::clone(&running);
            Box::new(move |conn| {
                // The caller has gone away (deadline, cancelled call): nothing to do.
                if tx.is_closed() {
                    return;
                }
                let _ = tx.send(running.run(conn.get_interrupt_handle(), conn, f));
            })
        };
        let lost = || SqliteError::ReadLost {
            path: self.path.clone(),
        };
        self.reads.send(job).map_err(|_| lost())?;
        let guard = InterruptOnDrop::new(&running);
        let answer = rx.await;
        guard.disarm();
        answer.map_err(|_| lost())?.map_err(|e| self.failed(e))
    }

    /// Runs a write (or a read that must see the latest write) on the single writer
    /// connection, on the blocking thread pool. Use a transaction inside `f` for several
    /// statements.
    pub async fn write<T, F>(self: &Arc<Self>, f: F) -> Result<T, SqliteError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let db = Arc::clone(self);
        let running = Arc::new(Running::default());
        let guard = InterruptOnDrop::new(&running);
        let done = tokio::task::spawn_blocking(move || {
            let mut conn = db.writer.lock().unwrap_or_else(PoisonError::into_inner);
            running.run(conn.get_interrupt_handle(), &mut *conn, f)
        })
        .await;
        guard.disarm();
        match done {
            Ok(result) => result.map_err(|e| self.failed(e)),
            Err(source) => Err(SqliteError::Task {
                path: self.path.clone(),
                source,
            }),
        }
    }
}

/// A reader thread: runs queued reads until the database is dropped. A read that panics
/// loses only itself (its caller gets `ReadLost`); the thread goes on.
fn serve_reads(conn: &Connection, queue: &Mutex<mpsc::Receiver<ReadJob>>) {
    loop {
        let job = match queue.lock().unwrap_or_else(PoisonError::into_inner).recv() {
            Ok(job) => job,
            Err(mpsc::RecvError) => return,
        };
        if std::panic::catch_unwind(AssertUnwindSafe(|| job(conn))).is_err() {
            tracing::error!("a database read panicked");
        }
    }
}

/// True for SQLite's "the file is damaged" answers.
fn is_corruption(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseCorrupt | rusqlite::ErrorCode::NotADatabase)
    )
}

/// `PRAGMA quick_check` at open: a damaged file is refused at start-up, naming it, rather
/// than failing reads later.
fn check_integrity(conn: &Connection, path: &Path) -> Result<(), SqliteError> {
    let corrupt = |detail: String| SqliteError::Corrupt {
        path: path.to_owned(),
        detail,
    };
    let first: String = conn
        .query_row("PRAGMA quick_check(1)", [], |r| r.get(0))
        .map_err(|e| match e {
            e if is_corruption(&e) => corrupt(e.to_string()),
            source => SqliteError::Open {
                path: path.to_owned(),
                source,
            },
        })?;
    if first == "ok" {
        Ok(())
    } else {
        Err(corrupt(first))
    }
}

/// The schema version of the database file at `path`, read without changing it; `None`
/// when there is no file yet. Blocking.
pub fn schema_version(path: &Path) -> Result<Option<u32>, SqliteError> {
    if !path.exists() {
        return Ok(None);
    }
    let open_err = |source| SqliteError::Open {
        path: path.to_owned(),
        source,
    };
    let conn = open_reader(path).map_err(open_err)?;
    conn.pragma_query_value(None, "user_version", |row| row.get(0))
        .map(Some)
        .map_err(open_err)
}

fn open_reader(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    stable_plans(&conn)?;
    Ok(conn)
}

/// Keeps a statement's query plan when new values are bound to it. Without this, SQLite
/// (built with STAT4) re-prepares a cached statement whenever a bound value that could
/// change its plan does: the broker's fetch (`seq >= ?`, `LIMIT ?`) was re-prepared on every
/// poll, two thirds of an idle `serve`'s CPU. Our statements are key lookups and key ranges,
/// whose plan never depends on the values.
fn stable_plans(conn: &Connection) -> rusqlite::Result<()> {
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )
    .map(drop)
}

fn migrate(conn: &mut Connection, path: &Path, migrations: &[&str]) -> Result<(), SqliteError> {
    let known = u32::try_from(migrations.len()).unwrap_or(u32::MAX);
    // A migration that meets a damaged file says so, as opening one does.
    let failed = |version: u32| {
        move |source: rusqlite::Error| {
            if is_corruption(&source) {
                SqliteError::Corrupt {
                    path: path.to_owned(),
                    detail: source.to_string(),
                }
            } else {
                SqliteError::Migration {
                    path: path.to_owned(),
                    version,
                    source,
                }
            }
        }
    };
    // IMMEDIATE takes the write lock before reading the version, so processes opening a new
    // file at the same moment migrate one after the other (the busy timeout makes the
    // others wait) and each sees the version the previous one left.
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(|source| SqliteError::Open {
            path: path.to_owned(),
            source,
        })?;
    let found: u32 = tx
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .map_err(|source| SqliteError::Open {
            path: path.to_owned(),
            source,
        })?;
    if found > known {
        return Err(SqliteError::TooNew {
            path: path.to_owned(),
            found,
            known,
        });
    }
    for (version, sql) in (found + 1..).zip(&migrations[found as usize..]) {
        tx.execute_batch(sql).map_err(failed(version))?;
        tx.pragma_update(None, "user_version", version)
            .map_err(failed(version))?;
    }
    tx.commit().map_err(failed(known))
}

/// Wall-clock Unix milliseconds, as the databases store times: comparable across
/// processes, unlike `Instant`.
pub fn now_ms() -> i64 {
    unix_ms(std::time::SystemTime::now())
}

/// `t` as Unix milliseconds.
pub fn unix_ms(t: std::time::SystemTime) -> i64 {
    t.duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIGRATIONS: &[&str] = &[
        "CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER);",
        "ALTER TABLE t ADD COLUMN note TEXT;",
    ];

    #[tokio::test]
    async fn migrations_apply_once_and_data_persists() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let db = Arc::new(Database::open(&path, &MIGRATIONS[..1]).unwrap());
        db.write(|c| c.execute("INSERT INTO t VALUES ('a', 1)", []))
            .await
            .unwrap();
        drop(db);

        // Re-opening with one more migration applies only the new one.
        let db = Arc::new(Database::open(&path, MIGRATIONS).unwrap());
        let (v, version): (i64, u32) = db
            .read(|c| {
                let v = c.query_row("SELECT v FROM t WHERE k = 'a'", [], |r| r.get(0))?;
                let version = c.pragma_query_value(None, "user_version", |r| r.get(0))?;
                Ok((v, version))
            })
            .await
            .unwrap();
        assert_eq!((v, version), (1, 2));
        let mode: String = db
            .read(|c| c.pragma_query_value(None, "journal_mode", |r| r.get(0)))
            .await
            .unwrap();
        assert_eq!(mode, "wal");
    }

    #[tokio::test]
    async fn cached_statements_are_not_prepared_again_for_new_values() {
        let dir = tempfile::tempdir().unwrap();
        let db = Arc::new(Database::open(&dir.path().join("t.db"), MIGRATIONS).unwrap());
        db.write(|c| {
            for (i, k) in (0_i64..).zip(["a", "b", "c", "d", "e"]) {
                c.execute(
                    "INSERT INTO t (k, v) VALUES (?1, ?2)",
                    rusqlite::params![k, i],
                )?;
            }
            Ok(())
        })
        .await
        .unwrap();
        // The broker's poll: a key range and a limit, bound anew on every call.
        const POLL: &str = "SELECT k FROM t WHERE k >= ?1 ORDER BY k LIMIT ?2";
        let (rows, reprepared) = db
            .read(|c| {
                let mut rows = 0;
                for (from, limit) in [("a", 1), ("b", 5), ("a", 0), ("c", 2), ("d", 9)] {
                    let mut stmt = c.prepare_cached(POLL)?;
                    rows += stmt
                        .query_map(rusqlite::params![from, limit], |r| r.get::<_, String>(0))?
                        .count();
                }
                let stmt = c.prepare_cached(POLL)?;
                Ok((rows, stmt.get_status(rusqlite::StatementStatus::RePrepare)))
            })
            .await
            .unwrap();
        assert_eq!((rows, reprepared), (1 + 4 + 2 + 2, 0));
    }

    /// A query that counts for minutes unless interrupted.
    const ENDLESS: &str = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n)
        SELECT count(*) FROM n";

    #[tokio::test]
    async fn work_given_up_is_interrupted_not_left_running() {
        let dir = tempfile::tempdir().unwrap();
        let db = Arc::new(Database::open(&dir.path().join("t.db"), MIGRATIONS).unwrap());
        let (told, outcome) = std::sync::mpsc::channel();
        for write in [false, true] {
            let told = told.clone();
            let endless = move |c: &Connection| {
                let result = c.query_row(ENDLESS, [], |r| r.get::<_, i64>(0));
                told.send(result.map_err(|e| e.sqlite_error_code()))
                    .unwrap();
                Ok(())
            };
            // The call is given up after 100 ms, as a deadline would.
            let given_up = if write {
                tokio::time::timeout(Duration::from_millis(100), db.write(move |c| endless(c)))
                    .await
            } else {
                tokio::time::timeout(Duration::from_millis(100), db.read(endless)).await
            };
            assert!(given_up.is_err());
            // The statement stops at once instead of counting on.
            let stopped = outcome.recv_timeout(Duration::from_secs(10)).unwrap();
            assert_eq!(
                stopped,
                Err(Some(rusqlite::ErrorCode::OperationInterrupted)),
                "write: {write}"
            );
        }
        // The connections are fine afterwards.
        db.write(|c| c.execute("INSERT INTO t (k, v) VALUES ('a', 1)", []))
            .await
            .unwrap();
        let v: i64 = db
            .read(|c| c.query_row("SELECT v FROM t", [], |r| r.get(0)))
            .await
            .unwrap();
        assert_eq!(v, 1);
    }

    #[tokio::test]
    async fn a_panicking_read_loses_only_itself() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::open(&dir.path().join("t.db"), MIGRATIONS).unwrap();
        // More panics than there are reader threads: none of them may take a thread down.
        for _ in 0..MAX_READERS + 1 {
            let err = db
                .read(|_| -> rusqlite::Result<()> { panic!("a bug in a read") })
                .await
                .unwrap_err();
            assert!(matches!(err, SqliteError::ReadLost { .. }), "{err}");
        }
        let one: i64 = db
            .read(|c| c.query_row("SELECT 1", [], |r| r.get(0)))
            .await
            .unwrap();
        assert_eq!(one, 1);
    }

    #[test]
    fn concurrent_openers_of_a_new_file_migrate_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("race.db");
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let path = path.clone();
                std::thread::spawn(move || Database::open(&path, MIGRATIONS).map(|_| ()))
            })
            .collect();
        for t in threads {
            t.join().unwrap().unwrap();
        }
    }

    #[test]
    fn a_newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        Database::open(&path, MIGRATIONS).unwrap();
        let err = Database::open(&path, &MIGRATIONS[..1]).unwrap_err();
        assert!(
            matches!(
                err,
                SqliteError::TooNew {
                    found: 2,
                    known: 1,
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn a_file_that_is_not_a_database_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("junk.db");
        std::fs::write(&path, vec![b'x'; 4096]).unwrap();
        let err = Database::open(&path, MIGRATIONS).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("junk.db"), "{msg}");
        assert!(msg.contains("not a database"), "{msg}");
    }
}
