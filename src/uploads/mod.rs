//! Movie files (book chapter 16): uploads streamed to a temp file and renamed
//! into place when complete, so a partial upload is never visible and a client that goes
//! away leaves nothing behind; names checked, never trusted as paths; a size limit; the
//! SHA-256 and size recorded. The movie processor ([`processor`]) then checks each file
//! under the distributed lock, and every state it records carries its fencing token: the
//! store refuses a token older than the newest it has seen.
//!
//! Layout: `<dataDir>/uploads/<movie>/<name>`, in-flight uploads in
//! `<dataDir>/uploads/.partial/`, and the records in `<dataDir>/files.db`.

pub mod processor;

use std::{
    path::{Path, PathBuf},
    sync::Arc,
};

use rusqlite::{OptionalExtension, TransactionBehavior, params};
use serde::Serialize;
use tokio::io::AsyncWriteExt;

use crate::{
    database::sqlite::{Database, SqliteError, now_ms},
    model::{MovieId, ValidationError},
};

/// The records' file in the data directory.
pub const DB_FILE: &str = "files.db";
/// The files' directory in the data directory.
pub const DIR: &str = "uploads";
/// In-flight uploads, inside [`DIR`]; movie directories never start with a dot.
const PARTIAL: &str = ".partial";

/// Schema history; append only.
const MIGRATIONS: &[&str] = &["CREATE TABLE files (
        movie_id TEXT NOT NULL,
        name TEXT NOT NULL,
        size INTEGER NOT NULL,
        sha256 TEXT NOT NULL,
        uploaded_at_ms INTEGER NOT NULL,
        state TEXT NOT NULL,
        content_type TEXT NOT NULL DEFAULT '',
        processed_by_token INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (movie_id, name));
    CREATE INDEX files_by_state ON files (state);
    CREATE TABLE fences (key TEXT PRIMARY KEY, token INTEGER NOT NULL);"];

/// The `uploads` section of the configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct Settings {
    /// The largest file an upload may store, in bytes.
    pub max_bytes: u64,
    /// An upload that sends nothing for this long is cancelled, and nothing is kept.
    pub idle_timeout: crate::config::value::Duration,
    /// Uploads under way at once in this process; past it, a new one is refused at once
    /// (RESOURCE_EXHAUSTED, HTTP 429), so uploads cannot take every descriptor and starve
    /// ordinary calls and health checks.
    pub max_concurrent: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            max_bytes: 100 * 1024 * 1024,
            idle_timeout: crate::config::value::Duration::from_secs(30),
            max_concurrent: 32,
        }
    }
}

impl Settings {
    pub fn check(&self) -> Result<(), String> {
        if self.max_bytes == 0 {
            return Err(
                "uploads.maxBytes: 0 would refuse every upload: expected at least 1".into(),
            );
        }
        if self.max_concurrent == 0 {
            return Err(
                "uploads.maxConcurrent: 0 would refuse every upload: expected at least 1".into(),
            );
        }
        if self.idle_timeout.get().is_zero() {
            return Err(
                "uploads.idleTimeout: 0s would cancel every upload: expected at least 1ms".into(),
            );
        }
        Ok(())
    }
}

/// The most bytes a name may have (what file systems allow).
const MAX_NAME_BYTES: usize = 255;

/// A file's name: one plain path component, never a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileName(String);

impl utoipa::PartialSchema for FileName {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        // Not `.` or `..`: no dot first, or one dot and then another character, or two
        // and then at least one more (JSON Schema patterns have no look-ahead to say it).
        let c = crate::model::validate::CONTROL_CHARACTERS_CLASS;
        let pattern = format!(
            "^(?:[^./\\\\{c}][^/\\\\{c}]*|\\.[^./\\\\{c}][^/\\\\{c}]*|\\.\\.[^/\\\\{c}]+)$"
        );
        crate::model::validate::text_schema(
            format!(
                "A plain file name: 1 to {MAX_NAME_BYTES} bytes, not . or .., without / or \\, no control characters"
            ),
            MAX_NAME_BYTES,
            &pattern,
        )
    }
}

impl utoipa::ToSchema for FileName {}

impl FileName {
    pub fn new(value: impl Into<String>) -> Result<Self, ValidationError> {
        let value = value.into();
        let invalid = |expected: &str| Err(ValidationError::new("filename", &value, expected));
        if value.is_empty() {
            return invalid("must not be empty");
        }
        if value == "." || value == ".." {
            return invalid("must be a file name, not . or ..");
        }
        if value.contains(['/', '\\']) {
            return invalid("must be a plain file name, without / or \\");
        }
        if value.chars().any(char::is_control) {
            return invalid("must not contain control characters (NUL included)");
        }
        if value.len() > MAX_NAME_BYTES {
            return invalid(&format!("must be at most {MAX_NAME_BYTES} bytes"));
        }
        Ok(Self(value))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The directory of a movie's files: the id itself when it is plain (letters, digits, `-`,
/// `_`, `.`, not starting with a dot), else `%` and its bytes in hex (`%` is never in a
/// plain id, so the two never collide).
fn movie_dir(id: &MovieId) -> String {
    let id = id.as_str();
    let plain = !id.starts_with('.')
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if plain {
        id.to_owned()
    } else {
        let mut dir = String::from("%");
        for byte in id.as_bytes() {
            dir.push_str(&format!("{byte:02x}"));
        }
        dir
    }
}

/// What the processor found a file to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum FileState {
    /// Stored, not yet checked.
    Uploaded,
    /// Checked: its bytes match the checksum; its content type is recorded.
    Processed,
    /// Its bytes no longer match the checksum taken at upload.
    Corrupt,
}

impl FileState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Uploaded => "uploaded",
            Self::Processed => "processed",
            Self::Corrupt => "corrupt",
        }
    }

    fn parse(text: &str) -> Self {
        match text {
            "processed" => Self::Processed,
            "corrupt" => Self::Corrupt,
            _ => Self::Uploaded,
        }
    }
}

/// A stored file and its record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StoredFile {
    pub movie_id: String,
    pub filename: String,
    pub size: u64,
    pub sha256: String,
    pub state: FileState,
    pub content_type: String,
    pub processed_by_token: u64,
    pub uploaded_at_ms: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    #[error("the upload is larger than the limit of {max} bytes (uploads.maxBytes)")]
    TooLarge { max: u64 },
    #[error(
        "too many uploads at once ({max}, uploads.maxConcurrent); try again when one has finished"
    )]
    Busy { max: u32 },
    #[error("the upload sent nothing for {idle:?} (uploads.idleTimeout); nothing was kept")]
    Stalled { idle: std::time::Duration },
    #[error("cannot {what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Storage(#[from] SqliteError),
    /// A write with a fencing token older than one the store has seen: its writer has lost
    /// the lock to a newer holder.
    #[error("fencing token {token} is older than {newest}, the newest seen: a newer holder exists")]
    Fenced { token: u64, newest: u64 },
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> UploadError {
    let what = what.into();
    move |source| UploadError::Io { what, source }
}

/// A running SHA-256, as uploads and their checks compute it.
pub fn sha256() -> ring::digest::Context {
    ring::digest::Context::new(&ring::digest::SHA256)
}

/// A finished SHA-256 in lowercase hex, as `UploadResponse.sha256` carries it.
pub fn sha256_hex(hash: ring::digest::Context) -> String {
    hash.finish()
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The files of every movie, under a data directory.
#[derive(Debug, Clone)]
pub struct FileStore {
    root: PathBuf,
    db: Arc<Database>,
    settings: Settings,
    /// A permit per upload under way.
    uploads: Arc<tokio::sync::Semaphore>,
}

impl FileStore {
    /// Opens the records and the directories; in-flight uploads of processes that died
    /// are removed (other processes sharing the data directory keep theirs).
    pub async fn open(data_dir: &Path, settings: &Settings) -> Result<Self, UploadError> {
        let db = Database::open_in_background(&data_dir.join(DB_FILE), MIGRATIONS).await?;
        let root = data_dir.join(DIR);
        let partial = root.join(PARTIAL);
        tokio::fs::create_dir_all(&partial)
            .await
            .map_err(io(format!("create {}", partial.display())))?;
        remove_abandoned(&partial).await;
        Ok(Self {
            root,
            db: Arc::new(db),
            uploads: Arc::new(tokio::sync::Semaphore::new(
                settings.max_concurrent.max(1) as usize
            )),
            settings: settings.clone(),
        })
    }

    pub fn max_bytes(&self) -> u64 {
        self.settings.max_bytes
    }

    /// The next piece of an upload's body (`next`), unless the upload sends nothing for
    /// `uploads.idleTimeout`: then it is [`UploadError::Stalled`].
    pub async fn next_within_idle<T>(
        &self,
        next: impl std::future::Future<Output = T>,
    ) -> Result<T, UploadError> {
        let idle = self.settings.idle_timeout.get();
        tokio::time::timeout(idle, next)
            .await
            .map_err(|_| UploadError::Stalled { idle })
    }

    /// Where a stored file's bytes are.
    pub fn path_of(&self, file: &StoredFile) -> Result<PathBuf, ValidationError> {
        let movie = MovieId::new(file.movie_id.clone())?;
        Ok(self
            .root
            .join(movie_dir(&movie))
            .join(FileName::new(file.filename.clone())?.as_str()))
    }

    /// Starts an upload of `name` for `movie`: the bytes go to a temp file until
    /// [`Upload::finish`].
    pub async fn begin(&self, movie: MovieId, name: FileName) -> Result<Upload, UploadError> {
        let permit =
            Arc::clone(&self.uploads)
                .try_acquire_owned()
                .map_err(|_| UploadError::Busy {
                    max: self.settings.max_concurrent,
                })?;
        let temp = self.root.join(PARTIAL).join(format!(
            "{}-{:016x}",
            std::process::id(),
            rand::random::<u64>()
        ));
        let file = tokio::fs::File::create(&temp)
            .await
            .map_err(io(format!("create {}", temp.display())))?;
        Ok(Upload {
            store: self.clone(),
            movie,
            name,
            temp: Some(temp),
            file: Some(file),
            hash: sha256(),
            size: 0,
            _permit: permit,
        })
    }

    /// A movie's files, by name.
    pub async fn list(&self, movie: &MovieId) -> Result<Vec<StoredFile>, UploadError> {
        let id = movie.as_str().to_owned();
        Ok(self
            .db
            .read(move |c| {
                let mut statement =
                    c.prepare_cached(&format!("{SELECT} WHERE movie_id = ?1 ORDER BY name"))?;
                let rows = statement.query_map(params![id], row)?;
                rows.collect()
            })
            .await?)
    }

    /// Files not yet checked, oldest first.
    pub async fn pending(&self) -> Result<Vec<StoredFile>, UploadError> {
        Ok(self
            .db
            .read(|c| {
                let mut statement = c.prepare_cached(&format!(
                    "{SELECT} WHERE state = 'uploaded' ORDER BY uploaded_at_ms"
                ))?;
                let rows = statement.query_map([], row)?;
                rows.collect()
            })
            .await?)
    }

    /// Records what the processor found `file` to be, fenced by `token` under `fence` (the
    /// lock's key): refused with [`UploadError::Fenced`] if a newer token has written.
    /// Returns false, recording nothing, when the file was replaced since it was read.
    pub async fn record(
        &self,
        fence: &str,
        token: u64,
        file: &StoredFile,
        state: FileState,
        content_type: &str,
    ) -> Result<bool, UploadError> {
        let (fence, file, content_type) = (fence.to_owned(), file.clone(), content_type.to_owned());
        let signed = i64::try_from(token).unwrap_or(i64::MAX);
        let outcome = self
            .db
            .write(move |c| {
                let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let newest: Option<i64> = tx
                    .query_row(
                        "SELECT token FROM fences WHERE key = ?1",
                        params![fence],
                        |r| r.get(0),
                    )
                    .optional()?;
                if let Some(newest) = newest
                    && newest > signed
                {
                    return Ok(Err(newest.unsigned_abs()));
                }
                tx.execute(
                    "INSERT INTO fences (key, token) VALUES (?1, ?2)
                     ON CONFLICT (key) DO UPDATE SET token = excluded.token",
                    params![fence, signed],
                )?;
                let changed = tx.execute(
                    "UPDATE files SET state = ?1, content_type = ?2, processed_by_token = ?3
                     WHERE movie_id = ?4 AND name = ?5 AND sha256 = ?6 AND uploaded_at_ms = ?7",
                    params![
                        state.as_str(),
                        content_type,
                        signed,
                        file.movie_id,
                        file.filename,
                        file.sha256,
                        file.uploaded_at_ms
                    ],
                )?;
                tx.commit()?;
                Ok(Ok(changed == 1))
            })
            .await?;
        outcome.map_err(|newest| UploadError::Fenced { token, newest })
    }
}

/// Removes the temp files of processes no longer running: a temp file is named after its
/// process (`PID-RANDOM`).
async fn remove_abandoned(partial: &Path) {
    let Ok(mut entries) = tokio::fs::read_dir(partial).await else {
        return;
    };
    while let Ok(Some(entry)) = entries.next_entry().await {
        let name = entry.file_name();
        let pid = name
            .to_str()
            .and_then(|n| n.split_once('-'))
            .and_then(|(pid, _)| pid.parse::<libc::pid_t>().ok());
        let alive = pid.is_some_and(|pid| {
            // SAFETY: kill(2) with signal 0 only asks whether the process exists.
            let answered = unsafe { libc::kill(pid, 0) };
            answered == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
        });
        if !alive {
            let _ = tokio::fs::remove_file(entry.path()).await;
        }
    }
}

const SELECT: &str = "SELECT movie_id, name, size, sha256, state, content_type,
    processed_by_token, uploaded_at_ms FROM files";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<StoredFile> {
    Ok(StoredFile {
        movie_id: r.get(0)?,
        filename: r.get(1)?,
        size: r.get::<_, i64>(2)?.unsigned_abs(),
        sha256: r.get(3)?,
        state: FileState::parse(&r.get::<_, String>(4)?),
        content_type: r.get(5)?,
        processed_by_token: r.get::<_, i64>(6)?.unsigned_abs(),
        uploaded_at_ms: r.get(7)?,
    })
}

/// An upload in progress. Dropped before [`Upload::finish`] (the client went away, the
/// limit was passed), its temp file is removed.
pub struct Upload {
    store: FileStore,
    movie: MovieId,
    name: FileName,
    temp: Option<PathBuf>,
    file: Option<tokio::fs::File>,
    hash: ring::digest::Context,
    size: u64,
    /// Its place among the uploads under way, until it is finished or dropped.
    _permit: tokio::sync::OwnedSemaphorePermit,
}

impl Upload {
    /// Appends `chunk`; refused once the upload passes the size limit.
    pub async fn write(&mut self, chunk: &[u8]) -> Result<(), UploadError> {
        self.size = self.size.saturating_add(chunk.len() as u64);
        if self.size > self.store.settings.max_bytes {
            return Err(UploadError::TooLarge {
                max: self.store.settings.max_bytes,
            });
        }
        self.hash.update(chunk);
        let Some(file) = self.file.as_mut() else {
            return Ok(());
        };
        file.write_all(chunk)
            .await
            .map_err(io("write the upload's temp file"))
    }

    /// Makes the upload durable and visible in one step: the temp file is renamed over
    /// any earlier file of the name, and the record replaced, under the store's one
    /// writer, so concurrent uploads of a name never mix.
    pub async fn finish(mut self) -> Result<StoredFile, UploadError> {
        if let Some(mut file) = self.file.take() {
            file.flush().await.map_err(io("flush the upload"))?;
            file.sync_all().await.map_err(io("sync the upload"))?;
        }
        let temp = self.temp.clone().unwrap_or_default();
        let dir = self.store.root.join(movie_dir(&self.movie));
        let target = dir.join(self.name.as_str());
        let sha256 = sha256_hex(self.hash.clone());
        let stored = StoredFile {
            movie_id: self.movie.as_str().to_owned(),
            filename: self.name.as_str().to_owned(),
            size: self.size,
            sha256,
            state: FileState::Uploaded,
            content_type: String::new(),
            processed_by_token: 0,
            uploaded_at_ms: now_ms(),
        };
        let record = stored.clone();
        let moved = self
            .store
            .db
            .write(move |c| {
                if let Err(e) =
                    std::fs::create_dir_all(&dir).and_then(|()| std::fs::rename(&temp, &target))
                {
                    return Ok(Err(e));
                }
                c.execute(
                    "INSERT INTO files (movie_id, name, size, sha256, uploaded_at_ms, state)
                     VALUES (?1, ?2, ?3, ?4, ?5, 'uploaded')
                     ON CONFLICT (movie_id, name) DO UPDATE SET size = excluded.size,
                         sha256 = excluded.sha256, uploaded_at_ms = excluded.uploaded_at_ms,
                         state = 'uploaded', content_type = '', processed_by_token = 0",
                    params![
                        record.movie_id,
                        record.filename,
                        i64::try_from(record.size).unwrap_or(i64::MAX),
                        record.sha256,
                        record.uploaded_at_ms
                    ],
                )?;
                Ok(Ok(()))
            })
            .await?;
        moved.map_err(io("move the upload into place"))?;
        self.temp = None;
        Ok(stored)
    }
}

impl Drop for Upload {
    fn drop(&mut self) {
        if let Some(temp) = self.temp.take() {
            drop(self.file.take());
            let _ = std::fs::remove_file(temp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_plain_file_names() {
        for good in ["poster.png", "a b.txt", ".hidden", "é✓"] {
            assert!(FileName::new(good).is_ok(), "{good:?}");
        }
        for bad in [
            "",
            ".",
            "..",
            "../x",
            "/etc/passwd",
            "a\0b",
            "a/b",
            "a\\b",
            "x\n",
        ] {
            assert!(FileName::new(bad).is_err(), "{bad:?}");
        }
        assert!(FileName::new("x".repeat(256)).is_err());
    }

    #[test]
    fn movie_directories_are_plain_or_hex_and_never_collide() {
        let dir = |id: &str| movie_dir(&MovieId::new(id).unwrap());
        assert_eq!(dir("the-movie_1.2"), "the-movie_1.2");
        assert_eq!(dir(".."), "%2e2e");
        assert_eq!(dir("a/b"), "%612f62");
        assert_eq!(dir("%612f62"), "%25363132663632");
    }

    #[tokio::test]
    async fn an_upload_is_visible_only_once_finished_and_fencing_refuses_old_tokens() {
        let dir = tempfile::tempdir().unwrap();
        let settings = Settings {
            max_bytes: 10,
            ..Settings::default()
        };
        let store = FileStore::open(dir.path(), &settings).await.unwrap();
        let movie = MovieId::new("1").unwrap();
        let mut upload = store
            .begin(movie.clone(), FileName::new("a.txt").unwrap())
            .await
            .unwrap();
        upload.write(b"hello").await.unwrap();
        assert!(store.list(&movie).await.unwrap().is_empty());
        let stored = upload.finish().await.unwrap();
        assert_eq!(stored.size, 5);
        assert_eq!(
            stored.sha256,
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        let path = store.path_of(&stored).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"hello");

        // Past the limit: refused, and the temp file goes with the upload.
        let mut big = store
            .begin(movie.clone(), FileName::new("b.txt").unwrap())
            .await
            .unwrap();
        assert!(matches!(
            big.write(&[0; 11]).await,
            Err(UploadError::TooLarge { max: 10 })
        ));
        drop(big);
        let partial = std::fs::read_dir(dir.path().join(DIR).join(PARTIAL)).unwrap();
        assert_eq!(partial.count(), 0);

        // Fencing: token 2 writes, then token 1 is refused.
        assert!(
            store
                .record("k", 2, &stored, FileState::Processed, "text/plain")
                .await
                .unwrap()
        );
        let refused = store
            .record("k", 1, &stored, FileState::Corrupt, "")
            .await
            .unwrap_err();
        assert!(
            matches!(
                refused,
                UploadError::Fenced {
                    token: 1,
                    newest: 2
                }
            ),
            "{refused}"
        );
        let listed = store.list(&movie).await.unwrap();
        assert_eq!(listed[0].state, FileState::Processed);
        assert_eq!(listed[0].processed_by_token, 2);
    }
}
