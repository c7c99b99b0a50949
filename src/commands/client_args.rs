//! The options every client command shares: where the service is, how to print, the token.

use super::output::Format;
use crate::config::value::HostPort;

/// Options shared by every client command.
#[derive(Debug, clap::Args)]
pub struct ClientArgs {
    /// Address of the service this command calls (host:port) [default: a healthy instance
    /// found in the service registry, see --registry]
    #[arg(long, value_name = "HOST:PORT")]
    pub addr: Option<HostPort>,
    /// Output format
    #[arg(long, short, value_enum, default_value_t)]
    pub output: Format,
    /// Token to send (visible to other users in the process list: prefer MOVIEAPP_TOKEN or
    /// `movieapp login`) [env: MOVIEAPP_TOKEN; default: the one `movieapp login` kept]
    #[arg(long, value_name = "TOKEN")]
    pub token: Option<String>,
    /// Print the trace id of each call that succeeds, on stderr (a failed call's error
    /// always ends with it), to find the call's log lines: `grep <trace id>`
    #[arg(long, short)]
    pub verbose: bool,
}

impl ClientArgs {
    /// The service to call, found as these options and `config` say, with the token.
    pub async fn target(
        &self,
        service: crate::service::ServiceKind,
        config: &crate::config::Config,
    ) -> Result<crate::client::Target, crate::client::ClientError> {
        let token = crate::auth::session::client_token(self.token.as_deref())?;
        crate::client::Target::open(service, self.addr.as_ref(), config)
            .await?
            .with_token(token.as_deref())
            .map(|target| target.verbose(self.verbose))
    }
}
