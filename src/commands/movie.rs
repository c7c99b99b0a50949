//! `movieapp movie`: read a movie's details (movie service) or store its metadata (metadata
//! service).

use clap::Subcommand;

use super::{
    UsageError,
    client_args::ClientArgs,
    output::{self, Format},
    pages,
};
use crate::config::Config;
use crate::{
    calls::fallback::{STALE_HEADER, read_stale_header},
    client::upload::UploadError,
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
    /// List the movies by id, following pages to the end (asks the metadata service)
    ///
    /// Rows are printed as each page arrives: a table per page of up to 1000, or with
    /// --output json one JSON object per line (JSON Lines), so a catalogue of any size
    /// streams in constant memory.
    #[command(after_help = "Examples:
  movieapp movie list
  movieapp movie list --title-prefix 'The ' --limit 20
  movieapp movie list -o json | jq -r .title")]
    List {
        /// Only movies whose title starts with this (byte for byte)
        #[arg(long, value_name = "PREFIX", default_value = "")]
        title_prefix: String,
        /// Stop after this many movies
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
        limit: Option<u64>,
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

pub async fn run(args: Args, config: Config) -> anyhow::Result<()> {
    match args.command {
        MovieCommand::Get { id, client } => get(&config, id, &client).await,
        MovieCommand::Put {
            id,
            title,
            description,
            director,
            client,
        } => {
            let metadata = Metadata::new(id, title, description, director)
                .map_err(|e| UsageError(e.into()))?;
            put(&config, metadata, &client).await
        }
        MovieCommand::Upload {
            id,
            file,
            name,
            timeout,
            client,
        } => upload(config, id, &file, name, timeout.get(), &client).await,
        MovieCommand::Files { id, client } => files(&config, id, &client).await,
        MovieCommand::List {
            title_prefix,
            limit,
            client,
        } => list(&config, title_prefix, limit, &client).await,
    }
}

/// Every movie (whose title starts with `title_prefix`), page by page.
async fn list(
    config: &Config,
    title_prefix: String,
    limit: Option<u64>,
    client: &ClientArgs,
) -> anyhow::Result<()> {
    let target = client.target(ServiceKind::Metadata, config).await?;
    let fetch = |page_size, page_token| {
        let request = pb::ListMetadataRequest {
            page_size,
            page_token,
            title_prefix: title_prefix.clone(),
        };
        let target = &target;
        async move {
            let page = target
                .call(|channel, _| {
                    let request = target.request(request.clone());
                    async move {
                        MetadataServiceClient::new(channel)
                            .list_metadata(request)
                            .await
                            .map(tonic::Response::into_inner)
                    }
                })
                .await?;
            let movies = page
                .metadata
                .into_iter()
                .map(Metadata::try_from)
                .collect::<Result<Vec<_>, _>>()?;
            Ok((movies, page.next_page_token))
        }
    };
    let row = |m: &Metadata| {
        vec![
            m.id().to_string(),
            m.title().to_owned(),
            m.director().to_owned(),
        ]
    };
    let columns = ["id", "title", "director"];
    let printed = pages::follow(limit, client.output, &columns, row, fetch).await?;
    if printed == 0 && client.output == Format::Table {
        output::line("no movies")?;
    }
    Ok(())
}

/// A movie's details, from the movie service.
async fn get(config: &Config, id: MovieId, client: &ClientArgs) -> anyhow::Result<()> {
    let target = client.target(ServiceKind::Movie, config).await?;
    let request = pb::GetMovieDetailsRequest {
        movie_id: id.into_string(),
    };
    let (addr, stale, response) = target
        .call(|channel, addr| {
            let (request, addr) = (target.request(request.clone()), addr.to_owned());
            async move {
                let response = MovieServiceClient::new(channel)
                    .get_movie_details(request)
                    .await?;
                let stale = read_stale_header(
                    response
                        .metadata()
                        .get(STALE_HEADER)
                        .and_then(|v| v.to_str().ok()),
                );
                Ok((addr, stale, response.into_inner()))
            }
        })
        .await?;
    if let Some(age) = stale {
        output::warning(&stale_warning(age));
    }
    let wire = response
        .movie_details
        .ok_or_else(|| anyhow::anyhow!("the movie service at {addr} answered without details"))?;
    let details = MovieDetails::from_wire(wire)?;
    match client.output {
        Format::Json => output::json(&details),
        Format::Table => Ok(output::table(&details_table(&details))?),
    }
}

/// What a stale answer is, in one line for stderr.
fn stale_warning(age: std::time::Duration) -> String {
    format!(
        "warning: this answer is stale: a service the movie service depends on failed, so it answered with the last value it served, {}s old ({STALE_HEADER})",
        age.as_secs()
    )
}

/// Stores a movie's metadata in the metadata service.
async fn put(config: &Config, metadata: Metadata, client: &ClientArgs) -> anyhow::Result<()> {
    let target = client.target(ServiceKind::Metadata, config).await?;
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

/// A movie's files, from the movie service.
async fn files(config: &Config, id: MovieId, client: &ClientArgs) -> anyhow::Result<()> {
    let target = client.target(ServiceKind::Movie, config).await?;
    let movie_id = id.into_string();
    let request = pb::ListFilesRequest {
        movie_id: movie_id.clone(),
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
        // The keys and values of the HTTP API's `GET /movie/files`.
        Format::Json => {
            let files: Vec<_> = files
                .iter()
                .map(|f| {
                    serde_json::json!({
                        "movieId": movie_id, "filename": f.filename, "size": f.size, "sha256": f.sha256,
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

/// Streams `path` to the movie service, with a progress bar on a terminal, and checks the
/// checksum it answers with.
async fn upload(
    mut config: Config,
    id: MovieId,
    path: &std::path::Path,
    name: Option<String>,
    timeout: std::time::Duration,
    client: &ClientArgs,
) -> anyhow::Result<()> {
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
    let size = file.metadata().await.map(|m| m.len()).unwrap_or(0);
    // One attempt (a stream is not replayed), for as long as the upload takes.
    config.calls.timeout = timeout.into();
    config.calls.per_try_timeout = timeout.into();
    config.calls.max_attempts = 1;
    let target = client.target(ServiceKind::Movie, &config).await?;
    let bar = progress_bar(size);
    let progress = {
        let bar = bar.clone();
        move |bytes| bar.inc(bytes)
    };
    let sent = (file, path);
    let uploaded = crate::client::upload::upload(&target, &id, &name, sent, progress).await;
    bar.finish_and_clear();
    let uploaded = uploaded.map_err(|e| match e {
        UploadError::Call(e) => anyhow::Error::from(e),
        other => anyhow::Error::from(other),
    })?;
    match client.output {
        Format::Json => output::json(&serde_json::json!({
            "movieId": id.as_str(), "filename": name.as_str(),
            "size": uploaded.size, "sha256": uploaded.sha256,
        })),
        Format::Table => Ok(output::line(&format!(
            "uploaded {:?} for movie {:?}: {} bytes, sha256 {} (verified)",
            name.as_str(),
            id.as_str(),
            uploaded.size,
            uploaded.sha256
        ))?),
    }
}

/// A progress bar of `total` bytes on a terminal; hidden otherwise.
fn progress_bar(total: u64) -> indicatif::ProgressBar {
    use std::io::IsTerminal;
    if !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(total);
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{bar:30} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
    ) {
        bar.set_style(style);
    }
    bar
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
