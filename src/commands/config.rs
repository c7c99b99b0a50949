//! `movieapp config`: check a configuration file before a deploy, or show the effective
//! configuration and where each value comes from.

use std::path::PathBuf;

use clap::Subcommand;

use super::{GlobalArgs, UsageError, output};
use crate::config::{CONFIG_ENV, Config};

/// Check a configuration file, or show the effective configuration
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: ConfigCommand,
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Check a configuration file: exit 0 when it is valid, 2 with the file, key and
    /// reason when it is not. Only the file is checked, not the environment.
    Check {
        /// The file [default: --config, else MOVIEAPP_CONFIG]
        file: Option<PathBuf>,
    },
    /// Print the effective configuration: the defaults, then the file (--config or
    /// MOVIEAPP_CONFIG), the MOVIEAPP_* environment and the global flags, each value with
    /// its source (default, file, env or flag)
    Show {
        /// yaml: the configuration with a `# source` comment per value; json: one object
        /// keyed by dotted path, each with `value` and `source`
        #[arg(long, short, value_enum, default_value_t)]
        output: ShowFormat,
    },
}

#[derive(Debug, Clone, Copy, Default, clap::ValueEnum)]
enum ShowFormat {
    #[default]
    Yaml,
    Json,
}

pub fn run(args: Args, global: &GlobalArgs) -> anyhow::Result<()> {
    match args.command {
        ConfigCommand::Check { file } => {
            let file = file
                .or_else(|| global.config.clone())
                .or_else(|| {
                    std::env::var_os(CONFIG_ENV)
                        .filter(|v| !v.is_empty())
                        .map(PathBuf::from)
                })
                .ok_or_else(|| {
                    UsageError(anyhow::anyhow!(
                        "no file to check: name one, or pass --config or set {CONFIG_ENV}"
                    ))
                })?;
            let config = Config::load_layers(Some(&file), |_| None, &[])?;
            crate::server::serve::check_faults(&config.config.faults).map_err(|e| {
                crate::config::ConfigError::Invalid(format!("{}: {e}", file.display()))
            })?;
            output::line(&format!("{}: ok", file.display()))?;
            Ok(())
        }
        ConfigCommand::Show { output: format } => {
            let loaded = Config::load_from_env(global.config.as_deref(), &global.overrides())?;
            match format {
                ShowFormat::Yaml => output::line(loaded.to_yaml()?.trim_end())?,
                ShowFormat::Json => output::json(&loaded.to_json()?)?,
            }
            Ok(())
        }
    }
}
