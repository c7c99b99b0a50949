//! `movieapp movie`: read a movie's details (movie service) or store its metadata (metadata
//! service).

use clap::Subcommand;

use super::{
    UsageError,
    output::{self, ClientArgs, Format},
};
use crate::config::Config;
use crate::{
    model::{Metadata, MovieDetails, MovieId},
    pb::{
        self, metadata_service_client::MetadataServiceClient,
        movie_service_client::MovieServiceClient,
    },
    service::ServiceKind,
};

/// Show or store movies
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: MovieCommand,
}

#[derive(Debug, Subcommand)]
enum MovieCommand {
    /// Show a movie's metadata and aggregated rating (asks the movie service)
    Get {
        /// Movie id
        id: MovieId,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Store or replace a movie's metadata (asks the metadata service)
    Put {
        /// Movie id
        id: MovieId,
        /// Title, at most 255 bytes
        #[arg(long)]
        title: String,
        /// Description, at most 64 KiB
        #[arg(long, default_value = "")]
        description: String,
        /// Director, at most 255 bytes
        #[arg(long, default_value = "")]
        director: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Upload a file of a movie's (asks the movie service), streamed in 64 KiB chunks
    ///
    /// Shows progress on a terminal, and checks the SHA-256 the server computed against
    /// the file's. The server keeps the file under its data directory by movie id and file
    /// name; the movie processor then checks it (see `movie files`). Uploading a name again
    /// replaces the file.
    Upload {
        /// Movie id
        id: MovieId,
        /// The file to upload; stored under its own name unless --name is given
        file: std::path::PathBuf,
        /// The name to store it under
        #[arg(long, value_name = "NAME")]
        name: Option<String>,
        /// How long the upload may take
        #[arg(long, value_name = "DURATION", default_value = "10m")]
        timeout: crate::config::value::Duration,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// List a movie's files: size, checksum, and whether the processor has checked them
    Files {
        /// Movie id
        id: MovieId,
        #[command(flatten)]
        client: ClientArgs,
    },
}

/// Bytes per upload message.
const CHUNK: usize = 64 * 1024;

pub async fn run(args: Args, config: Config) -> anyhow::Result<()> {
    match args.command {
        MovieCommand::Get { id, client } => {
            let target = client.target(ServiceKind::Movie, &config).await?;
            let request = pb::GetMovieDetailsRequest {
                movie_id: id.into_string(),
            };
            let (addr, response) = target
                .call(|channel, addr| {
                    let (request, addr) = (target.request(request.clone()), addr.to_owned());
                    async move {
                        let response = MovieServiceClient::new(channel)
                            .get_movie_details(request)
                            .await?;
                        Ok((addr, response.into_inner()))
                    }
                })
                .await?;
            let wire = response.movie_details.ok_or_else(|| {
                anyhow::anyhow!("the movie service at {addr} answered without details")
            })?;
            let details = MovieDetails::from_wire(wire)?;
            match client.output {
                Format::Json => output::json(&details),
                Format::Table => Ok(output::table(&details_table(&details))?),
            }
        }
        MovieCommand::Put {
            id,
            title,
            description,
            director,
            client,
        } => {
            let metadata = Metadata::new(id, title, description, director)
                .map_err(|e| UsageError(e.into()))?;
            let target = client.target(ServiceKind::Metadata, &config).await?;
            let request = pb::PutMetadataRequest {
                metadata: Some(metadata.clone().into()),
            };
            target
                .call(|channel, _| {
                    let request = target.request(request.clone());
                    async move {
                        MetadataServiceClient::new(channel)
                            .put_metadata(request)
                            .await
                    }
                })
                .await?;
            match client.output {
                Format::Json => output::json(&metadata),
                Format::Table => Ok(output::line(&format!(
                    "saved movie {:?}",
                    metadata.id().as_str()
                ))?),
            }
        }
        MovieCommand::Upload {
            id,
            file,
            name,
            timeout,
            client,
        } => upload(config, id, &file, name, timeout.get(), &client).await,
        MovieCommand::Files { id, client } => {
            let target = client.target(ServiceKind::Movie, &config).await?;
            let request = pb::ListFilesRequest {
                movie_id: id.into_string(),
            };
            let files = target
                .call(|channel, _| {
                    let request = target.request(request.clone());
                    async move {
                        MovieServiceClient::new(channel)
                            .list_files(request)
                            .await
                            .map(|r| r.into_inner().files)
                    }
                })
                .await?;
            match client.output {
                Format::Json => {
                    let files: Vec<_> = files
                        .iter()
                        .map(|f| {
                            serde_json::json!({
                                "filename": f.filename, "size": f.size, "sha256": f.sha256,
                                "state": f.state, "contentType": f.content_type,
                                "processedByToken": f.processed_by_token,
                                "uploadedAtMs": f.uploaded_at_ms,
                            })
                        })
                        .collect();
                    output::json(&files)
                }
                Format::Table if files.is_empty() => Ok(output::line("no files")?),
                Format::Table => {
                    let mut table = comfy_table::Table::new();
                    table
                        .load_style(comfy_table::presets::UTF8_FULL_CONDENSED)
                        .set_header(["file", "bytes", "sha256", "state", "type"]);
                    for f in &files {
                        table.add_row([
                            output::cell(&f.filename),
                            f.size.to_string(),
                            f.sha256.chars().take(16).collect::<String>() + "…",
                            f.state.clone(),
                            f.content_type.clone(),
                        ]);
                    }
                    Ok(output::table(&table)?)
                }
            }
        }
    }
}

/// Streams `path` to the movie service and checks the checksum it answers with.
async fn upload(
    mut config: Config,
    id: MovieId,
    path: &std::path::Path,
    name: Option<String>,
    timeout: std::time::Duration,
    client: &ClientArgs,
) -> anyhow::Result<()> {
    use std::io::IsTerminal;
    use tokio_stream::StreamExt;

    let name = match name {
        Some(name) => name,
        None => path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| {
                UsageError(anyhow::anyhow!(
                    "{} has no file name; give one with --name",
                    path.display()
                ))
            })?,
    };
    let name = crate::uploads::FileName::new(name).map_err(|e| UsageError(e.into()))?;
    let file = tokio::fs::File::open(path)
        .await
        .map_err(|e| UsageError(anyhow::anyhow!("cannot read {}: {e}", path.display())))?;
    let total = file.metadata().await.map(|m| m.len()).unwrap_or(0);
    // One attempt (a stream is not replayed), for as long as the upload takes.
    config.calls.timeout = timeout.into();
    config.calls.per_try_timeout = timeout.into();
    config.calls.max_attempts = 1;
    let target = client.target(ServiceKind::Movie, &config).await?;
    let bar = if std::io::stderr().is_terminal() {
        let bar = indicatif::ProgressBar::new(total);
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{bar:30} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        ) {
            bar.set_style(style);
        }
        bar
    } else {
        indicatif::ProgressBar::hidden()
    };
    let hash = std::sync::Arc::new(std::sync::Mutex::new(crate::uploads::sha256()));
    let read_failed = std::sync::Arc::new(std::sync::Mutex::new(None));
    let mut source = Some(file);
    let (movie_id, filename) = (id.as_str().to_owned(), name.as_str().to_owned());
    let response = target
        .call(|channel, _| {
            // One attempt: the file is read once.
            let reader: Box<dyn tokio::io::AsyncRead + Send + Unpin> = match source.take() {
                Some(file) => Box::new(file),
                None => Box::new(tokio::io::empty()),
            };
            let (hash, bar, read_failed) = (hash.clone(), bar.clone(), read_failed.clone());
            let messages = tokio_util::io::ReaderStream::with_capacity(reader, CHUNK)
                // A read error ends the stream; the upload is then incomplete, and the
                // server keeps nothing (the error is reported below).
                .map_while(move |chunk| match chunk {
                    Ok(bytes) => Some(bytes),
                    Err(e) => {
                        *read_failed
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(e);
                        None
                    }
                })
                .map(move |bytes| {
                    hash.lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .update(&bytes);
                    bar.inc(bytes.len() as u64);
                    pb::UploadRequest {
                        chunk: bytes.to_vec(),
                        ..pb::UploadRequest::default()
                    }
                });
            // An empty file is one message naming it.
            let opening = tokio_stream::once(pb::UploadRequest {
                filename: filename.clone(),
                chunk: Vec::new(),
                movie_id: movie_id.clone(),
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
    bar.finish_and_clear();
    if let Some(e) = read_failed
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .take()
    {
        anyhow::bail!("cannot read {}: {e}", path.display());
    }
    let response = response?;
    let local = crate::uploads::sha256_hex(
        hash.lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone(),
    );
    if response.sha256 != local || response.size != total {
        anyhow::bail!(
            "the server stored {} bytes with SHA-256 {}, but {} has {total} bytes with SHA-256 {local}: upload it again",
            response.size,
            response.sha256,
            path.display()
        );
    }
    match client.output {
        Format::Json => output::json(&serde_json::json!({
            "movieId": id.as_str(), "filename": name.as_str(),
            "size": response.size, "sha256": response.sha256,
        })),
        Format::Table => Ok(output::line(&format!(
            "uploaded {:?} for movie {:?}: {} bytes, sha256 {} (verified)",
            name.as_str(),
            id.as_str(),
            response.size,
            response.sha256
        ))?),
    }
}

fn details_table(details: &MovieDetails) -> comfy_table::Table {
    let m = &details.metadata;
    let rating = match details.rating {
        Some(rating) => output::rating(rating),
        None => "no ratings yet".to_owned(),
    };
    output::fields([
        ("id", m.id().to_string()),
        ("title", m.title().to_owned()),
        ("description", m.description().to_owned()),
        ("director", m.director().to_owned()),
        ("rating", rating),
    ])
}
