//! `movieapp login`: get a token from the auth service and keep it for the other clients.

use super::{UsageError, auth::read_secret, output};
use crate::{
    auth::{UserName, session},
    config::Config,
    pb::{self, auth_service_client::AuthServiceClient},
    service::ServiceKind,
};

/// Get a token from the auth service and keep it for the other commands
///
/// The password is read from standard input (one line) when it is not a terminal, else
/// asked for without echo. The token is kept in the user's state directory
/// (~/.local/state/movieapp/token, mode 0600) and sent by `movie`, `rate` and the other
/// clients until it expires (auth.tokenTtl, an hour by default); `movieapp auth token`
/// prints it for curl and grpcurl.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  movieapp login --user alex                       # asks for the password
  printf '%s\\n' \"$PASSWORD\" | movieapp login --user ci-bot
  curl -H \"authorization: Bearer $(movieapp auth token)\" \\
    -X PUT 'localhost:8082/rating?id=1&userId=alex&value=5'")]
pub struct Args {
    /// The user to log in as
    #[arg(long, value_parser = UserName::new)]
    user: UserName,
    /// Address of the auth service (host:port) [default: found through the registry, e.g.
    /// 127.0.0.1:8084]
    #[arg(long, value_name = "HOST:PORT")]
    addr: Option<crate::config::value::HostPort>,
}

pub async fn run(args: Args, config: Config) -> anyhow::Result<()> {
    let path = session::token_file()?;
    let password = read_secret(&format!("Password for {}: ", args.user), false)?;
    if password.len() > crate::auth::Password::MAX_BYTES {
        return Err(UsageError(anyhow::anyhow!(
            "the password is longer than {} bytes",
            crate::auth::Password::MAX_BYTES
        ))
        .into());
    }
    let target =
        crate::client::Target::open(ServiceKind::Auth, args.addr.as_ref(), &config).await?;
    let request = pb::GetTokenRequest {
        username: args.user.as_str().to_owned(),
        password,
    };
    let token = target
        .call(|channel, _| {
            let request = target.request(request.clone());
            async move {
                let response = AuthServiceClient::new(channel).get_token(request).await?;
                Ok(response.into_inner().token)
            }
        })
        .await?;
    session::save(&path, &token)?;
    let until = session::expires_at(&token)
        .map(|exp| {
            httpdate::fmt_http_date(std::time::UNIX_EPOCH + std::time::Duration::from_secs(exp))
        })
        .unwrap_or_else(|| "its expiry".to_owned());
    output::line(&format!(
        "logged in as {}; the token is valid until {until} and kept in {}",
        args.user,
        path.display()
    ))?;
    Ok(())
}
