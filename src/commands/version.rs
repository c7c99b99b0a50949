//! `movieapp version`: what this binary was built from.

use super::output;
use crate::telemetry::build_info::BUILD;

/// What this binary was built from: version, git commit, compiler, features
///
/// The same facts are embedded for scanners: a release build made with `cargo auditable`
/// carries its dependency list, which `cargo audit bin`, trivy or syft read from the binary.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  movieapp version
  movieapp version -o json | jq -r .commit
  movieapp --version                     # one line: version and commit")]
pub struct Args {
    #[arg(long, short, value_enum, default_value_t)]
    output: output::Format,
}

pub fn run(args: &Args) -> anyhow::Result<()> {
    match args.output {
        output::Format::Json => output::json(&serde_json::json!({
            "version": BUILD.version,
            "commit": BUILD.commit,
            "rustc": BUILD.rustc,
            "features": BUILD.feature_list(),
            "profile": BUILD.profile,
            "target": BUILD.target,
        })),
        output::Format::Table => {
            let features = if BUILD.features.is_empty() {
                "(none)".to_owned()
            } else {
                BUILD.features.replace(',', ", ")
            };
            output::table(&output::fields([
                ("version", BUILD.version.to_owned()),
                ("commit", BUILD.commit.to_owned()),
                ("rustc", BUILD.rustc.to_owned()),
                ("features", features),
                ("profile", BUILD.profile.to_owned()),
                ("target", BUILD.target.to_owned()),
            ]))?;
            Ok(())
        }
    }
}
