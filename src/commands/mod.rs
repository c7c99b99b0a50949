//! The command line: one file per subcommand, each an `Args` and a `run`. This file only
//! routes, sets up logging, and classifies errors into exit codes.

pub mod auth;
pub mod bench_load;
pub mod bench_serialize;
pub mod certs;
pub mod client_args;
pub mod completions;
pub mod config;
pub mod db;
pub mod feed;
pub mod health;
pub mod lock;
pub mod login;
pub mod logout;
pub mod movie;
pub mod output;
mod pages;
pub mod produce;
pub mod profile;
pub mod rate;
pub mod registry;
pub mod serve;
mod signals;
pub mod top;
pub mod version;

use std::{io::Write as _, path::PathBuf};

use clap::{Parser, Subcommand};
use tracing::Instrument;

use crate::{
    broker::{BrokerError, BrokerKind},
    client::ClientError,
    config::{Config, ConfigError, Override},
    discovery::{RegistryError, RegistryKind},
    server::serve::ServeError,
    telemetry::{self, LogFormat, PROCESS},
};

const EXAMPLES: &str = "\
Examples:
  movieapp serve                             # all four services, in SQLite
  movieapp movie put 1 --title 'The Movie' --director 'Mr. D'
  movieapp rate put 1 5 --user alex
  movieapp movie get 1
  movieapp movie get 1 --output json | jq .rating
  movieapp registry list                     # which instances are up
  movieapp health --addr 127.0.0.1:8083      # exit 0 if SERVING
  movieapp produce                           # publish fixtures/ratingsdata.json
  movieapp feed status                       # how far behind the feed is
  movieapp bench-serialize                   # JSON, XML, Protobuf (chapter 4)
  movieapp bench-load --addr 127.0.0.1:8083 --http 'GET /movie?id=1'
  movieapp config show                       # the configuration, and why
  movieapp db status                         # schema versions
  movieapp auth user add alex --role writer  # a user who may get tokens
  movieapp login --user alex                 # a token for the other commands
  movieapp lock run jobs/nightly -- ./nightly.sh   # under a distributed lock
  movieapp certs init                        # a development CA and certificates
  movieapp version                           # version, commit, compiler";

/// The movie-rating system from "Microservices with Go": metadata, rating, movie and auth
/// services, and the clients to use them.
#[derive(Debug, Parser)]
#[command(name = "movieapp", version = telemetry::build_info::VERSION_LINE, propagate_version = true, after_help = EXAMPLES)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// The command line as clap reads it: [`Cli`], with each shared option that a command
/// does not use left out of that command's help (and completions). It is still accepted
/// anywhere, as before, so scripts that pass it everywhere keep working.
pub fn command() -> clap::Command {
    let mut cli = <Cli as clap::CommandFactory>::command();
    // A subcommand that has an argument of a shared option's id does not get the shared
    // one: it gets the same option, hidden.
    let hidden: Vec<(clap::Arg, &[&str])> = USED_BY
        .iter()
        .filter_map(|(option, users)| {
            let arg = cli.get_arguments().find(|a| a.get_id() == option)?;
            Some((arg.clone().hide(true), *users))
        })
        .collect();
    for name in subcommand_names(&cli) {
        cli = cli.mut_subcommand(&name, |mut sub| {
            for (arg, users) in &hidden {
                if !users.contains(&name.as_str()) {
                    sub = sub.arg(arg.clone());
                }
            }
            sub
        });
    }
    cli
}

/// The names of `cli`'s subcommands.
pub(crate) fn subcommand_names(cli: &clap::Command) -> Vec<String> {
    cli.get_subcommands()
        .map(|s| s.get_name().to_owned())
        .collect()
}

/// Parses the process' arguments with [`command`].
pub fn parse() -> Result<Cli, clap::Error> {
    use clap::FromArgMatches;
    Cli::from_arg_matches(&command().try_get_matches()?)
}

/// The shared options that only some commands use, and those commands (`config` shows
/// the configuration they set, so it takes them all).
pub(crate) const USED_BY: &[(&str, &[&str])] = &[
    (
        "registry",
        &[
            "serve",
            "movie",
            "rate",
            "registry",
            "login",
            "bench-load",
            "config",
        ],
    ),
    ("broker", &["serve", "produce", "feed", "config"]),
    ("cacert", CALLERS),
    ("cert", CALLERS),
    ("key", CALLERS),
];

/// The clients that call a service, over TLS when told to.
const CALLERS: &[&str] = &[
    "movie",
    "top",
    "rate",
    "login",
    "health",
    "profile",
    "bench-load",
    "lock",
    "config",
];

/// Options every command takes.
#[derive(Debug, clap::Args)]
pub struct GlobalArgs {
    /// YAML configuration file (format: configs/base.yaml) [env: MOVIEAPP_CONFIG]
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        value_name = "FILE"
    )]
    pub config: Option<PathBuf>,
    /// Where the services keep their data [env: MOVIEAPP_DATA_DIR; default: the platform
    /// data directory, e.g. ~/.local/share/movieapp]
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        value_name = "DIR"
    )]
    pub data_dir: Option<PathBuf>,
    /// Log level (error, warn, info, debug, trace) or a filter such as
    /// `movieapp=debug`; overrides RUST_LOG [default: info for serve, warn for clients]
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        value_name = "LEVEL"
    )]
    pub log_level: Option<String>,
    /// Log lines on stderr as text, or as JSON objects with `service`, `component` and
    /// `endpoint` fields [env: MOVIEAPP_LOG_FORMAT; config: log.format; default: text]
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        value_name = "FORMAT",
        value_enum
    )]
    pub log_format: Option<LogFormat>,
    /// Service registry: sqlite (default; <data-dir>/registry.db, shared by every movieapp
    /// on this host), memory, static (addresses from config) or consul://host:port
    /// [env: MOVIEAPP_REGISTRY; config: serviceDiscovery.backend]
    #[arg(long, global = true, help_heading = "Global options", value_name = "REGISTRY", value_parser = parse_registry)]
    pub registry: Option<RegistryKind>,
    /// Rating feed broker: sqlite (default; <data-dir>/broker.db, embedded) or
    /// kafka://host:9092[,host2:9092] [env: MOVIEAPP_BROKER; config: broker.backend]
    #[arg(long, global = true, help_heading = "Global options", value_name = "BROKER", value_parser = parse_broker)]
    pub broker: Option<BrokerKind>,
    /// The CA to verify the services' certificates against; given, clients speak TLS
    /// [env: MOVIEAPP_TLS_CA; config: tls.ca]
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        value_name = "FILE"
    )]
    pub cacert: Option<PathBuf>,
    /// The client certificate to present under mutual TLS, with --key [env:
    /// MOVIEAPP_TLS_CLIENT_CERT; config: tls.clientCert]
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        value_name = "FILE"
    )]
    pub cert: Option<PathBuf>,
    /// The client certificate's private key [env: MOVIEAPP_TLS_CLIENT_KEY; config:
    /// tls.clientKey]
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        value_name = "FILE"
    )]
    pub key: Option<PathBuf>,
}

impl GlobalArgs {
    /// The configuration keys these flags set.
    pub fn overrides(&self) -> Vec<Override> {
        let flag =
            |path, flag, value: Option<String>| value.map(|value| Override { path, value, flag });
        let path = |p: &Option<PathBuf>| p.as_ref().map(|p| p.to_string_lossy().into_owned());
        [
            flag("tls.ca", "--cacert", path(&self.cacert)),
            flag("tls.clientCert", "--cert", path(&self.cert)),
            flag("tls.clientKey", "--key", path(&self.key)),
            flag(
                "dataDir",
                "--data-dir",
                self.data_dir
                    .as_ref()
                    .map(|d| d.to_string_lossy().into_owned()),
            ),
            flag(
                "serviceDiscovery.backend",
                "--registry",
                self.registry.as_ref().map(ToString::to_string),
            ),
            flag(
                "broker.backend",
                "--broker",
                self.broker.as_ref().map(ToString::to_string),
            ),
            flag(
                "log.format",
                "--log-format",
                self.log_format.map(|f| {
                    match f {
                        LogFormat::Text => "text",
                        LogFormat::Json => "json",
                    }
                    .to_owned()
                }),
            ),
        ]
        .into_iter()
        .flatten()
        .collect()
    }
}

fn parse_broker(value: &str) -> Result<BrokerKind, String> {
    value.parse()
}

fn parse_registry(value: &str) -> Result<RegistryKind, String> {
    value.parse()
}

#[derive(Debug, Subcommand)]
pub enum Command {
    Serve(serve::Args),
    Movie(movie::Args),
    Rate(rate::Args),
    Produce(produce::Args),
    Profile(profile::Args),
    Feed(feed::Args),
    Registry(registry::Args),
    Auth(auth::Args),
    Login(login::Args),
    Logout(logout::Args),
    Lock(lock::Args),
    Health(health::Args),
    Top(top::Args),
    Certs(certs::Args),
    BenchSerialize(bench_serialize::Args),
    BenchLoad(bench_load::Args),
    Config(config::Args),
    Db(db::Args),
    Completions(completions::Args),
    Version(version::Args),
}

impl Cli {
    /// The runtime the command runs on. `serve` starts on a single-threaded one: its thread
    /// is the first of the connection workers, which bring threads of their own
    /// ([`crate::server::workers`]). So does `bench-load`, which needs one thread only. The
    /// other clients run on the multi-threaded one.
    pub fn runtime(&self) -> tokio::runtime::Builder {
        match self.command {
            // The load generator is one thread, as h2load -t 1: its calls never hop
            // between threads, and the other CPUs are left to the server it measures.
            Command::Serve(_) | Command::BenchLoad(_) => {
                tokio::runtime::Builder::new_current_thread()
            }
            _ => tokio::runtime::Builder::new_multi_thread(),
        }
    }

    pub async fn run(self) -> anyhow::Result<()> {
        let (name, default_level, trace_name) = match &self.command {
            Command::Serve(args) => ("serve", "info", args.trace_service_name()),
            Command::Movie(_) => ("movie", "warn", PROCESS.to_owned()),
            Command::Rate(_) => ("rate", "warn", PROCESS.to_owned()),
            Command::Produce(_) => ("produce", "warn", PROCESS.to_owned()),
            Command::Profile(_) => ("profile", "warn", PROCESS.to_owned()),
            Command::Feed(_) => ("feed", "warn", PROCESS.to_owned()),
            Command::Registry(_) => ("registry", "warn", PROCESS.to_owned()),
            Command::Auth(_) => ("auth", "warn", PROCESS.to_owned()),
            Command::Login(_) => ("login", "warn", PROCESS.to_owned()),
            Command::Logout(_) => ("logout", "warn", PROCESS.to_owned()),
            Command::Lock(_) => ("lock", "warn", PROCESS.to_owned()),
            Command::Health(_) => ("health", "warn", PROCESS.to_owned()),
            Command::Top(_) => ("top", "warn", PROCESS.to_owned()),
            Command::Certs(_) => ("certs", "warn", PROCESS.to_owned()),
            Command::BenchSerialize(_) => ("bench-serialize", "warn", PROCESS.to_owned()),
            Command::BenchLoad(_) => ("bench-load", "warn", PROCESS.to_owned()),
            Command::Config(_) => ("config", "warn", PROCESS.to_owned()),
            Command::Db(_) => ("db", "warn", PROCESS.to_owned()),
            Command::Completions(_) => ("completions", "warn", PROCESS.to_owned()),
            Command::Version(_) => ("version", "warn", PROCESS.to_owned()),
        };
        // Commands that talk to services read the configuration first: it says how to log.
        // (`config` reads it itself: the file to check is its argument.)
        let mut overrides = self.global.overrides();
        if let Command::Serve(args) = &self.command {
            overrides.extend(args.overrides());
        }
        let config = match self.command {
            Command::BenchSerialize(_)
            | Command::Completions(_)
            | Command::Config(_)
            | Command::Version(_) => Config::default(),
            _ => Config::load_from_env(self.global.config.as_deref(), &overrides)?.config,
        };
        let settings = telemetry::Setup {
            level: self.global.log_level.clone(),
            default_level,
            format: self.global.log_format.unwrap_or(config.log.format),
            otlp_endpoint: config.telemetry.otlp.endpoint.clone(),
            service_name: trace_name,
            keep_logs: matches!(self.command, Command::Serve(_)),
        };
        let telemetry = telemetry::init(&settings).map_err(|e| UsageError(e.into()))?;
        let context = telemetry::context(PROCESS, name);
        for variable in Config::unknown_env_vars() {
            context.in_scope(|| tracing::warn!(%variable, "ignoring unknown environment variable"));
        }
        // reqwest (the Consul client) uses rustls; pick its crypto provider once, up front.
        // An error means one is installed already, which is as good.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let result = run_command(self.command, config, &self.global)
            .instrument(context)
            .await;
        telemetry.shutdown().await;
        result
    }
}

async fn run_command(command: Command, config: Config, global: &GlobalArgs) -> anyhow::Result<()> {
    match command {
        Command::Serve(args) => serve::run(args, config, global).await,
        Command::Movie(args) => movie::run(args, config).await,
        Command::Rate(args) => rate::run(args, config).await,
        Command::Produce(args) => produce::run(args, config).await,
        Command::Profile(args) => profile::run(args, config).await,
        Command::Feed(args) => feed::run(args, config).await,
        Command::Registry(args) => registry::run(args, config).await,
        Command::Auth(args) => auth::run(args, config).await,
        Command::Login(args) => login::run(args, config).await,
        Command::Logout(args) => logout::run(args),
        Command::Lock(args) => lock::run(args, config).await,
        Command::Health(args) => health::run(args, config).await,
        Command::Top(args) => top::run(args, config).await,
        Command::Certs(args) => certs::run(args, &config),
        Command::BenchSerialize(args) => bench_serialize::run(args),
        Command::BenchLoad(args) => bench_load::run(args, config).await,
        Command::Config(args) => config::run(args, global),
        Command::Db(args) => db::run(args, config).await,
        Command::Completions(args) => completions::run(args),
        Command::Version(args) => version::run(&args),
    }
}

/// A mistake in how movieapp was called, found after clap parsed the arguments.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct UsageError(#[from] pub anyhow::Error);

/// Ends the process with this exit code and no message: the exit code of a command
/// `movieapp lock run` ran, which has said what it had to say.
#[derive(Debug, thiserror::Error)]
#[error("the command exited with code {0}")]
pub struct ExitWith(pub u8);

/// Whether the error has nothing to print (see [`ExitWith`]).
pub fn is_quiet(err: &anyhow::Error) -> bool {
    err.is::<ExitWith>()
}

/// Exit codes: 0 ok (and a closed pipe, e.g. `| head`), 1 runtime failure, 2 usage or
/// configuration error (including an environment unfit to start in: port in use, unusable
/// data directory).
pub fn exit_code(err: &anyhow::Error) -> u8 {
    if is_broken_pipe(err) {
        return 0;
    }
    if let Some(ExitWith(code)) = err.downcast_ref::<ExitWith>() {
        return *code;
    }
    let usage = err.chain().any(|e| {
        e.is::<UsageError>()
            || e.is::<ConfigError>()
            || matches!(
                e.downcast_ref::<RegistryError>(),
                Some(RegistryError::Open { .. } | RegistryError::Missing { .. })
            )
            || matches!(
                e.downcast_ref::<BrokerError>(),
                Some(BrokerError::Open { .. } | BrokerError::Missing { .. })
            )
            || e.downcast_ref::<ClientError>()
                .is_some_and(ClientError::is_usage)
            || e.downcast_ref::<ServeError>()
                .is_some_and(ServeError::is_startup)
            || e.downcast_ref::<crate::database::DbError>()
                .is_some_and(crate::database::DbError::is_config)
            || e.downcast_ref::<crate::database::mysql::MysqlError>()
                .is_some_and(crate::database::mysql::MysqlError::is_config)
    });
    if usage { 2 } else { 1 }
}

/// Prints a command-line error as clap does, except that values a user typed are shown
/// with control characters escaped, so the message stays one line per line clap means.
/// Returns the exit code (0 for --help and --version, 2 for mistakes).
pub fn report_parse_error(e: &clap::Error) -> u8 {
    use clap::error::ContextValue;
    let mut typed = Vec::new();
    for (_, value) in e.context() {
        match value {
            ContextValue::String(s) => typed.push(s.clone()),
            ContextValue::Strings(list) => typed.extend(list.iter().cloned()),
            _ => {}
        }
    }
    let code = u8::try_from(e.exit_code()).unwrap_or(2);
    if !typed.iter().any(|v| v.chars().any(char::is_control)) {
        let _ = e.print();
        return code;
    }
    let mut text = e.render().to_string();
    for value in typed.iter().filter(|v| v.chars().any(char::is_control)) {
        text = text.replace(value.as_str(), &value.escape_debug().to_string());
    }
    let _ = write!(std::io::stderr(), "{text}");
    code
}

/// The error as one line: each cause once, outermost first. Causes whose text the line
/// already carries (many messages quote their source) are not repeated.
pub fn one_line(err: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if parts.iter().any(|p| p.contains(&text)) {
            continue;
        }
        // A cause that says the same as the one before, with more detail ("Input/output
        // error", then "Input/output error (os error 5)"), takes its place.
        match parts.last_mut() {
            Some(last) if text.starts_with(last.as_str()) => *last = text,
            _ => parts.push(text),
        }
    }
    parts.join(": ")
}

/// True when the error is a write to a closed pipe: the reader went away, nothing to say.
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
        command().debug_assert();
    }

    #[test]
    fn causes_are_not_repeated() {
        let inner = std::io::Error::other("disk full");
        let err = anyhow::Error::from(inner).context("cannot write x.db: disk full");
        assert_eq!(one_line(&err), "cannot write x.db: disk full");
        let err = anyhow::anyhow!("root").context("outer");
        assert_eq!(one_line(&err), "outer: root");
        // A cause that repeats the one before with more detail replaces it.
        #[derive(Debug, thiserror::Error)]
        #[error("Input/output error")]
        struct Kind(#[source] std::io::Error);
        let os = std::io::Error::from_raw_os_error(libc::EIO);
        let err = anyhow::Error::from(Kind(os)).context("cannot read the password");
        assert_eq!(
            one_line(&err),
            "cannot read the password: Input/output error (os error 5)"
        );
    }

    #[test]
    fn exit_codes() {
        let usage = anyhow::Error::from(UsageError(anyhow::anyhow!("bad")));
        assert_eq!(exit_code(&usage), 2);
        let config = anyhow::Error::from(ConfigError::NoDataDir).context("loading");
        assert_eq!(exit_code(&config), 2);
        assert_eq!(exit_code(&anyhow::anyhow!("boom")), 1);
        let pipe = anyhow::Error::from(std::io::Error::from(std::io::ErrorKind::BrokenPipe));
        assert_eq!(exit_code(&pipe), 0);
    }
}
