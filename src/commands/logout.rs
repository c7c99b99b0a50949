//! `movieapp logout`: forget the token `movieapp login` kept.

use super::output;
use crate::auth::session;

/// Forget the token `movieapp login` kept, so the other commands stop sending it
///
/// Removes ~/.local/state/movieapp/token. The token itself stays valid until it expires
/// (auth.tokenTtl); to cut a user off at once, remove the user (`movieapp auth user
/// remove`) or rotate the signing keys (`movieapp auth key rotate`). MOVIEAPP_TOKEN and
/// --token are not affected: unset them yourself.
#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> anyhow::Result<()> {
    let path = session::token_file()?;
    if session::forget(&path)? {
        output::line(&format!("removed the token kept in {}", path.display()))?;
    } else {
        output::line(&format!("no token kept (none at {})", path.display()))?;
    }
    if std::env::var(session::TOKEN_ENV).is_ok_and(|v| !v.is_empty()) {
        output::warning(&format!(
            "warning: {} is set, and the commands send it still",
            session::TOKEN_ENV
        ));
    }
    Ok(())
}
