//! The movie processor (book chapter 15): every movie instance runs one; they
//! compete for [`PROCESSOR_KEY`], and only the holder works. Its work is checking uploaded
//! files: reading each one back, comparing its SHA-256 with the one taken at upload, and
//! recording its size, content type and state. Every record carries the lease's fencing
//! token, so a holder that lost its lease without noticing (paused, then resumed) has its
//! next write refused; its work is cancelled the moment the lease is known to be lost.

use std::{io::Read, path::PathBuf, time::Duration};

use tokio_util::sync::CancellationToken;

use super::{FileState, FileStore, StoredFile, UploadError};
use crate::lock::{Locks, PROCESSOR_KEY};

/// How often the holder looks for new files.
const POLL: Duration = Duration::from_millis(500);

/// Why the holder stopped working.
enum Stopped {
    /// Asked to (shutdown).
    Stop,
    /// The lease is lost.
    Lost,
    /// The store refused a write: a newer holder exists.
    Fenced(UploadError),
    /// The store failed.
    Failed(UploadError),
}

/// Competes for the lock and works while holding it, until `stop`.
pub async fn run(locks: Locks, store: FileStore, holder: String, stop: CancellationToken) {
    loop {
        let held = match locks.acquire(PROCESSOR_KEY, &holder, None, &stop).await {
            Ok(Some(held)) => held,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(error = %e, "processor: cannot take the lock; trying again");
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(Duration::from_secs(1)) => continue,
                }
            }
        };
        let token = held.token();
        tracing::info!(token, "processor: holding the lock; processing uploads");
        let lost = held.lost();
        let stopped = tokio::select! {
            () = stop.cancelled() => Stopped::Stop,
            () = lost.cancelled() => Stopped::Lost,
            stopped = work(&store, token) => stopped,
        };
        match stopped {
            Stopped::Stop => {
                if let Err(e) = held.release().await {
                    tracing::warn!(error = %e, "processor: cannot release the lock");
                }
                return;
            }
            Stopped::Lost => {
                tracing::warn!(token, "processor: the lease is lost; stopped processing");
            }
            Stopped::Fenced(e) => {
                tracing::warn!(token, error = %e, "processor: a write was refused by fencing; stopped processing");
            }
            Stopped::Failed(e) => {
                tracing::warn!(token, error = %e, "processor: the file store failed; giving up the lock");
                let _ = held.release().await;
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
        }
    }
}

/// Processes pending files until stopped from outside or refused.
async fn work(store: &FileStore, token: u64) -> Stopped {
    loop {
        let pending = match store.pending().await {
            Ok(pending) => pending,
            Err(e) => return Stopped::Failed(e),
        };
        for file in pending {
            let Ok(path) = store.path_of(&file) else {
                continue;
            };
            let (state, content_type) = inspect(path, file.clone()).await;
            match store
                .record(PROCESSOR_KEY, token, &file, state, &content_type)
                .await
            {
                Ok(true) => tracing::info!(
                    movie_id = file.movie_id,
                    filename = file.filename,
                    state = state.as_str(),
                    content_type,
                    token,
                    "processor: file checked"
                ),
                // Replaced by a new upload meantime: checked in the next round.
                Ok(false) => {}
                Err(e @ UploadError::Fenced { .. }) => return Stopped::Fenced(e),
                Err(e) => return Stopped::Failed(e),
            }
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Reads the file back: its state (its bytes match the checksum, or not) and its content
/// type.
async fn inspect(path: PathBuf, file: StoredFile) -> (FileState, String) {
    let checked =
        tokio::task::spawn_blocking(move || -> std::io::Result<(String, u64, Vec<u8>)> {
            let mut reader = std::fs::File::open(&path)?;
            let mut hash = super::sha256();
            let mut buffer = vec![0; 64 * 1024];
            let mut head = Vec::new();
            let mut size = 0u64;
            loop {
                let n = reader.read(&mut buffer)?;
                if n == 0 {
                    break;
                }
                if head.len() < 512 {
                    head.extend_from_slice(&buffer[..n.min(512 - head.len())]);
                }
                hash.update(&buffer[..n]);
                size += n as u64;
            }
            let sha256 = hash
                .finish()
                .as_ref()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            Ok((sha256, size, head))
        })
        .await;
    match checked {
        Ok(Ok((sha256, size, head))) if sha256 == file.sha256 && size == file.size => {
            (FileState::Processed, content_type(&head).to_owned())
        }
        _ => (FileState::Corrupt, String::new()),
    }
}

/// The content type from a file's first bytes: common media types by their signatures,
/// else text when it is UTF-8, else `application/octet-stream`.
pub fn content_type(head: &[u8]) -> &'static str {
    const SIGNATURES: &[(&[u8], &str)] = &[
        (b"\x89PNG\r\n\x1a\n", "image/png"),
        (b"\xff\xd8\xff", "image/jpeg"),
        (b"GIF87a", "image/gif"),
        (b"GIF89a", "image/gif"),
        (b"%PDF-", "application/pdf"),
        (b"\x1a\x45\xdf\xa3", "video/webm"),
        (b"PK\x03\x04", "application/zip"),
        (b"\x1f\x8b", "application/gzip"),
    ];
    if let Some((_, kind)) = SIGNATURES.iter().find(|(sig, _)| head.starts_with(sig)) {
        return kind;
    }
    if head.len() >= 12 && &head[4..8] == b"ftyp" {
        return "video/mp4";
    }
    if head.len() >= 12 && &head[..4] == b"RIFF" && &head[8..12] == b"WEBP" {
        return "image/webp";
    }
    // A multi-byte character may be cut at the end of the head.
    let text = match std::str::from_utf8(head) {
        Ok(_) => true,
        Err(e) => e.error_len().is_none(),
    };
    if text && !head.contains(&0) {
        "text/plain"
    } else {
        "application/octet-stream"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types_from_signatures() {
        assert_eq!(content_type(b"\x89PNG\r\n\x1a\n...."), "image/png");
        assert_eq!(content_type(b"\x00\x00\x00\x18ftypmp42"), "video/mp4");
        assert_eq!(content_type("héllo".as_bytes()), "text/plain");
        assert_eq!(content_type(&[0, 1, 2, 0xff]), "application/octet-stream");
    }
}
