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
}

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
