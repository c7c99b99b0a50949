//! `movieapp rate`: give a rating, or read a record's aggregated rating (rating service).

use clap::Subcommand;
use serde::Serialize;

use super::{
    client_args::ClientArgs,
    output::{self, Format},
    pages,
};
use crate::config::Config;
use crate::{
    model::{MOVIE_RECORD_TYPE, RatingValue, RecordId, RecordKey, RecordType, UserId, UserRating},
    pb::{self, rating_service_client::RatingServiceClient},
    service::ServiceKind,
};

/// Rate records, read their aggregated rating, or list who rated them
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: RateCommand,
}

#[derive(Debug, Subcommand)]
enum RateCommand {
    /// Rate a record from 1 to 5; a user's new rating of a record replaces their old one
    Put {
        /// Record id (the movie id for movies)
        record_id: RecordId,
        /// Rating, an integer from 1 to 5
        #[arg(allow_negative_numbers = true)]
        value: RatingValue,
        /// Who rates
        #[arg(long)]
        user: UserId,
        #[command(flatten)]
        record: RecordTypeArg,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// List who rated a record and how, by user id, following pages to the end
    ///
    /// A table per page of up to 1000, or with --output json one JSON object per line.
    List {
        /// Record id (the movie id for movies)
        record_id: RecordId,
        #[command(flatten)]
        record: RecordTypeArg,
        /// Stop after this many ratings
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
        limit: Option<u64>,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Show a record's aggregated rating: the mean over its users
    Get {
        /// Record id (the movie id for movies)
        record_id: RecordId,
        #[command(flatten)]
        record: RecordTypeArg,
        #[command(flatten)]
        client: ClientArgs,
    },
}

#[derive(Debug, clap::Args)]
struct RecordTypeArg {
    /// Record type
    #[arg(long = "type", value_name = "TYPE", default_value = MOVIE_RECORD_TYPE)]
    record_type: RecordType,
}

/// `rate get --output json`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AggregatedRating {
    #[serde(flatten)]
    key: RecordKey,
    rating: f64,
}

pub async fn run(args: Args, config: Config) -> anyhow::Result<()> {
    match args.command {
        RateCommand::List {
            record_id,
            record,
            limit,
            client,
        } => {
            let key = RecordKey::from_parts(record_id, record.record_type);
            list(&config, key, limit, &client).await
        }
        RateCommand::Put {
            record_id,
            value,
            user,
            record,
            client,
        } => {
            let key = RecordKey::from_parts(record_id, record.record_type);
            let rating = UserRating::new(key, user, value);
            let target = client.target(ServiceKind::Rating, &config).await?;
            let request = pb::PutRatingRequest {
                user_id: rating.user_id().to_string(),
                record_id: rating.key().record_id().to_owned(),
                record_type: rating.key().record_type().to_owned(),
                rating_value: i32::from(rating.value().get()),
            };
            target
                .call(|channel, _| {
                    let request = target.request(request.clone());
                    async move { RatingServiceClient::new(channel).put_rating(request).await }
                })
                .await?;
            match client.output {
                Format::Json => output::json(&rating),
                Format::Table => Ok(output::line(&format!(
                    "saved: user {:?} rated {} {}",
                    rating.user_id().as_str(),
                    rating.key(),
                    rating.value()
                ))?),
            }
        }
        RateCommand::Get {
            record_id,
            record,
            client,
        } => {
            let key = RecordKey::from_parts(record_id, record.record_type);
            let target = client.target(ServiceKind::Rating, &config).await?;
            let request = pb::GetAggregatedRatingRequest {
                record_id: key.record_id().to_owned(),
                record_type: key.record_type().to_owned(),
            };
            let rating = target
                .call(|channel, _| {
                    let request = target.request(request.clone());
                    async move {
                        RatingServiceClient::new(channel)
                            .get_aggregated_rating(request)
                            .await
                    }
                })
                .await?
                .into_inner()
                .rating_value;
            let result = AggregatedRating { key, rating };
            match client.output {
                Format::Json => output::json(&result),
                Format::Table => Ok(output::table(&output::fields([
                    ("record", result.key.record_id().to_owned()),
                    ("type", result.key.record_type().to_owned()),
                    ("rating", output::rating(result.rating)),
                ]))?),
            }
        }
    }
}

/// Every rating of `key`, page by page.
async fn list(
    config: &Config,
    key: RecordKey,
    limit: Option<u64>,
    client: &ClientArgs,
) -> anyhow::Result<()> {
    let target = client.target(ServiceKind::Rating, config).await?;
    let fetch = |page_size, page_token| {
        let request = pb::ListRatingsRequest {
            record_id: key.record_id().to_owned(),
            record_type: key.record_type().to_owned(),
            page_size,
            page_token,
        };
        let (target, key) = (&target, &key);
        async move {
            let page = target
                .call(|channel, _| {
                    let request = target.request(request.clone());
                    async move {
                        RatingServiceClient::new(channel)
                            .list_ratings(request)
                            .await
                            .map(tonic::Response::into_inner)
                    }
                })
                .await?;
            let ratings = page
                .ratings
                .into_iter()
                .map(|r| {
                    let value = RatingValue::new(i64::from(r.value))?;
                    Ok(UserRating::new(key.clone(), UserId::new(r.user_id)?, value))
                })
                .collect::<Result<Vec<_>, crate::model::ValidationError>>()?;
            Ok((ratings, page.next_page_token))
        }
    };
    let row = |r: &UserRating| vec![r.user_id().to_string(), r.value().to_string()];
    let printed = pages::follow(limit, client.output, &["user", "rating"], row, fetch).await?;
    if printed == 0 && client.output == Format::Table {
        output::line(&format!("no ratings of {key}"))?;
    }
    Ok(())
}
