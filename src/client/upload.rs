//! Uploading a movie's file: streamed to the movie service in 64 KiB chunks, hashed on the
//! way, and checked against the size and SHA-256 the server answers with.

use std::{
    path::{Path, PathBuf},
    sync::{Arc, Mutex, PoisonError},
};

use tokio_stream::StreamExt;

use super::{ClientError, Target};
use crate::{
    model::MovieId,
    pb::{self, movie_service_client::MovieServiceClient},
    uploads::FileName,
};

/// Bytes per upload message.
pub const CHUNK: usize = 64 * 1024;

/// What the server stored, checked against what was sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uploaded {
    pub size: u64,
    pub sha256: String,
}

#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Call(#[from] ClientError),
    #[error(
        "the server stored {stored} bytes with SHA-256 {stored_sha256}, but {sent} bytes with SHA-256 {sha256} were sent from {}: upload it again",
        path.display()
    )]
    Mismatch {
        path: PathBuf,
        stored: u64,
        stored_sha256: String,
        sent: u64,
        sha256: String,
    },
}

/// Streams `file` (read from `path`) to `target`, the movie service, as `name` of `movie`,
/// in one attempt (a stream is not replayed), calling `progress` with the length of each
/// chunk sent, and checks what the server stored against what was sent (a pipe or FIFO has
/// no size to check against beforehand). A read error ends the stream, so the server keeps
/// nothing, and is reported as such.
pub async fn upload(
    target: &Target,
    movie: &MovieId,
    name: &FileName,
    (file, path): (tokio::fs::File, &Path),
    progress: impl Fn(u64) + Clone + Send + Sync + 'static,
) -> Result<Uploaded, UploadError> {
    let hash = Arc::new(Mutex::new(Sent {
        hash: crate::uploads::sha256(),
        bytes: 0,
    }));
    let read_failed = Arc::new(Mutex::new(None));
    let mut source = Some(file);
    let response = target
        .call(|channel, _| {
            // One attempt: the file is read once.
            let reader: Box<dyn tokio::io::AsyncRead + Send + Unpin> = match source.take() {
                Some(file) => Box::new(file),
                None => Box::new(tokio::io::empty()),
            };
            let messages = chunks(reader, Arc::clone(&hash), Arc::clone(&read_failed)).map({
                let progress = progress.clone();
                move |chunk| {
                    progress(chunk.len() as u64);
                    pb::UploadRequest {
                        chunk,
                        ..pb::UploadRequest::default()
                    }
                }
            });
            // An empty file is one message naming it.
            let opening = tokio_stream::once(pb::UploadRequest {
                filename: name.as_str().to_owned(),
                chunk: Vec::new(),
                movie_id: movie.as_str().to_owned(),
            });
            let request = target.request(opening.chain(messages));
            async move {
                MovieServiceClient::new(channel)
                    .upload_file(request)
                    .await
                    .map(tonic::Response::into_inner)
            }
        })
        .await;
    if let Some(source) = lock(&read_failed).take() {
        let path = path.to_owned();
        return Err(UploadError::Read { path, source });
    }
    let response = response?;
    let (sha256, sent) = {
        let sent = lock(&hash);
        (crate::uploads::sha256_hex(sent.hash.clone()), sent.bytes)
    };
    if response.sha256 != sha256 || response.size != sent {
        return Err(UploadError::Mismatch {
            path: path.to_owned(),
            stored: response.size,
            stored_sha256: response.sha256,
            sent,
            sha256,
        });
    }
    Ok(Uploaded {
        size: response.size,
        sha256: response.sha256,
    })
}

/// What was sent so far: its hash and length.
struct Sent {
    hash: ring::digest::Context,
    bytes: u64,
}

/// `reader`'s bytes in chunks of [`CHUNK`], counted and hashed into `sent`; a read error
/// ends them and is kept in `failed`.
fn chunks(
    reader: Box<dyn tokio::io::AsyncRead + Send + Unpin>,
    hash: Arc<Mutex<Sent>>,
    failed: Arc<Mutex<Option<std::io::Error>>>,
) -> impl tokio_stream::Stream<Item = Vec<u8>> + Send {
    tokio_util::io::ReaderStream::with_capacity(reader, CHUNK).map_while(move |chunk| match chunk {
        Ok(bytes) => {
            let mut sent = lock(&hash);
            sent.hash.update(&bytes);
            sent.bytes += bytes.len() as u64;
            Some(bytes.to_vec())
        }
        Err(e) => {
            *lock(&failed) = Some(e);
            None
        }
    })
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
