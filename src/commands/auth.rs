//! `movieapp auth`: the users the auth service knows, and its signing keys.

use std::io::{BufRead, IsTerminal, Read};

use clap::Subcommand;
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};

use super::{UsageError, output};
use crate::{
    auth::{
        Password, Role, UserName,
        keyring::{self, KeySource, Keyring},
        session,
        settings::SIGNING_KEY_ENV,
        users::{self, User, UserStore},
    },
    config::Config,
};

/// Manage the users who may get tokens from the auth service, and its signing keys
///
/// Users live in <data-dir>/auth.db with their role and an Argon2id hash of their
/// password; the password itself is never stored. A password is read from standard input
/// (one line) when it is not a terminal, else asked for twice without echo.
///
/// Tokens are signed with an Ed25519 key, <data-dir>/auth-signing-key.pem unless
/// auth.signingKeyFile or MOVIEAPP_AUTH_SIGNING_KEY says otherwise.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  movieapp auth user add alex --role writer        # asks for the password
  printf '%s\\n' \"$PASSWORD\" | movieapp auth user add ci-bot --role reader
  movieapp auth user list
  movieapp auth user passwd alex
  movieapp auth user remove alex
  movieapp auth key rotate                  # running services pick it up")]
pub struct Args {
    #[command(subcommand)]
    command: AuthCommand,
}

#[derive(Debug, Subcommand)]
enum AuthCommand {
    /// Users: add, list, change passwords, remove
    #[command(subcommand)]
    User(UserCommand),
    /// Signing keys: list, rotate
    #[command(subcommand)]
    Key(KeyCommand),
    /// Print the token `movieapp login` kept (or MOVIEAPP_TOKEN), for curl and grpcurl:
    /// curl -H "authorization: Bearer $(movieapp auth token)" …
    Token,
}

#[derive(Debug, Subcommand)]
enum KeyCommand {
    /// The key tokens are signed with and the previous one, by key id (kid)
    List,
    /// Make a new signing key; the current one becomes the previous and keeps verifying the
    /// tokens it signed, the one before it is dropped. A running auth service picks the new
    /// key up within seconds; services elsewhere fetch it when they first see a token
    /// signed with it.
    Rotate,
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Add a user (the password: at least 8 characters)
    Add {
        #[arg(value_parser = UserName::new)]
        name: UserName,
        /// reader: may read when reads need a token; writer: may also write; admin: may
        /// also use the admin endpoints
        #[arg(long, default_value = "writer", value_parser = parse_role)]
        role: Role,
    },
    /// Every user, with role and dates (never a password or hash)
    List {
        #[arg(long, short, value_enum, default_value_t)]
        output: output::Format,
    },
    /// Set a user's password
    Passwd {
        #[arg(value_parser = UserName::new)]
        name: UserName,
    },
    /// Remove a user; tokens already issued stay valid until they expire
    Remove {
        #[arg(value_parser = UserName::new)]
        name: UserName,
    },
}

fn parse_role(value: &str) -> Result<Role, String> {
    value.parse()
}

pub async fn run(args: Args, config: Config) -> anyhow::Result<()> {
    match args.command {
        AuthCommand::User(command) => users(command, config).await,
        AuthCommand::Key(command) => keys(command, &config),
        AuthCommand::Token => {
            let token = session::client_token(None)?.ok_or(session::SessionError::None)?;
            if session::expired(&token) {
                return Err(session::SessionError::Expired.into());
            }
            Ok(output::line(&token)?)
        }
    }
}

fn keys(command: KeyCommand, config: &Config) -> anyhow::Result<()> {
    let source = KeySource::resolve(
        &config.auth,
        &config.resolved_data_dir()?,
        std::env::var(SIGNING_KEY_ENV).ok(),
    );
    let path = match &source {
        KeySource::Env(_) => {
            return Err(UsageError(anyhow::anyhow!(
                "the signing key comes from {SIGNING_KEY_ENV}: change it where that variable is set"
            ))
            .into());
        }
        KeySource::File { path, .. } => path.clone(),
    };
    if !path.exists() {
        return Err(UsageError(anyhow::anyhow!(
            "no signing key at {}: the auth service makes it when it first starts; check --data-dir or auth.signingKeyFile",
            path.display()
        ))
        .into());
    }
    match command {
        KeyCommand::List => {
            let keyring = Keyring::open(source, config.auth.tokens())?;
            for (i, kid) in keyring.kids().iter().enumerate() {
                let role = if i == 0 { "current " } else { "previous" };
                output::line(&format!("{role} {kid}"))?;
            }
        }
        KeyCommand::Rotate => {
            let (was, now) = keyring::rotate(&path)?;
            output::line(&format!(
                "new signing key {now} in {}; {was} still verifies the tokens it signed",
                path.display()
            ))?;
        }
    }
    Ok(())
}

async fn users(command: UserCommand, config: Config) -> anyhow::Result<()> {
    let dir = config.resolved_data_dir()?;
    let creating = matches!(command, UserCommand::Add { .. });
    if !creating && !dir.join(users::FILE_NAME).exists() {
        return Err(UsageError(anyhow::anyhow!(
            "no user database at {}: no user has been added with this data directory; check --data-dir, or add one with `movieapp auth user add NAME`",
            dir.join(users::FILE_NAME).display()
        ))
        .into());
    }
    let store = {
        let dir = dir.clone();
        tokio::task::spawn_blocking(move || UserStore::open(&dir)).await??
    };
    match command {
        UserCommand::Add { name, role } => {
            let password = read_password(&format!("Password for {name}: "))?;
            store.add(&name, role, password).await?;
            output::line(&format!("added user {name} ({role})"))?;
        }
        UserCommand::List { output: format } => {
            let users = store.list().await?;
            match format {
                output::Format::Json => {
                    output::json(&users.iter().map(UserJson::from).collect::<Vec<_>>())?
                }
                output::Format::Table if users.is_empty() => {
                    output::line("no users; add one with `movieapp auth user add NAME`")?;
                }
                output::Format::Table => output::table(&table(&users))?,
            }
        }
        UserCommand::Passwd { name } => {
            let password = read_password(&format!("New password for {name}: "))?;
            store.set_password(&name, password).await?;
            output::line(&format!("changed the password of {name}"))?;
        }
        UserCommand::Remove { name } => {
            store.remove(&name).await?;
            output::line(&format!("removed user {name}"))?;
        }
    }
    Ok(())
}

/// A new password: one line of standard input when it is not a terminal, else typed twice
/// without echo.
fn read_password(prompt: &str) -> anyhow::Result<Password> {
    let text = read_secret(prompt, true)?;
    Password::new(text).map_err(|e| UsageError(anyhow::anyhow!(e)).into())
}

/// A password: one line of standard input when it is not a terminal, else typed without
/// echo (twice when `confirm`).
pub fn read_secret(prompt: &str, confirm: bool) -> anyhow::Result<String> {
    let usage = |message: String| UsageError(anyhow::anyhow!(message));
    let text = if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password(prompt)?;
        if confirm && rpassword::prompt_password("Again: ")? != first {
            return Err(usage("the two passwords differ; nothing was changed".into()).into());
        }
        first
    } else {
        let mut line = String::new();
        let limit = u64::try_from(Password::MAX_BYTES + 2).unwrap_or(u64::MAX);
        std::io::stdin()
            .lock()
            .take(limit)
            .read_line(&mut line)
            .map_err(|e| usage(format!("cannot read the password from standard input: {e}")))?;
        let line = line.strip_suffix('\n').unwrap_or(&line);
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.is_empty() {
            return Err(usage(
                "no password on standard input: expected one line with the password".into(),
            )
            .into());
        }
        line.to_owned()
    };
    Ok(text)
}

/// A user as `-o json` prints it: times in RFC 3339, named as the table names them.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct UserJson<'a> {
    name: &'a str,
    role: String,
    created: String,
    password_changed: String,
}

impl<'a> From<&'a User> for UserJson<'a> {
    fn from(u: &'a User) -> Self {
        Self {
            name: &u.name,
            role: u.role.to_string(),
            created: output::rfc3339(u.created_ms),
            password_changed: output::rfc3339(u.updated_ms),
        }
    }
}

fn table(users: &[User]) -> Table {
    let mut table = Table::new();
    table.load_style(UTF8_FULL_CONDENSED).set_header(vec![
        "user",
        "role",
        "created",
        "password changed",
    ]);
    for u in users {
        table.add_row(vec![
            output::cell(&u.name),
            u.role.to_string(),
            date(u.created_ms),
            date(u.updated_ms),
        ]);
    }
    table
}

/// Unix milliseconds as an HTTP date (RFC 9110), e.g. `Mon, 23 Nov 2026 10:00:00 GMT`.
fn date(ms: i64) -> String {
    let since_epoch = std::time::Duration::from_millis(u64::try_from(ms).unwrap_or(0));
    httpdate::fmt_http_date(std::time::UNIX_EPOCH + since_epoch)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_utc_calendar_dates() {
        assert_eq!(date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(date(1_795_435_200_000), "Mon, 23 Nov 2026 12:00:00 GMT");
    }
}
