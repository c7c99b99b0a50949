//! `movieapp certs`: development certificates for TLS and mutual TLS.

use std::path::PathBuf;

use clap::Subcommand;

use super::{UsageError, output};
use crate::{
    config::Config,
    tls::dev_certs::{self, CertError},
};

/// Make certificates for trying TLS and mutual TLS on this machine
///
/// Like the book's `openssl req` commands: a development CA, a server certificate for
/// localhost, 127.0.0.1 and ::1 (plus --host names), and a client certificate, all signed
/// by that CA and valid for a year. For development only: anyone holding ca.key can make
/// certificates this CA vouches for.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  movieapp certs init                              # into <data-dir>/certs
  movieapp certs init --dir ./certs --host movie.internal --host 10.0.0.7")]
pub struct Args {
    #[command(subcommand)]
    command: CertsCommand,
}

#[derive(Debug, Subcommand)]
enum CertsCommand {
    /// Write ca.crt/ca.key, server.crt/server.key and client.crt/client.key (keys mode 0600)
    Init {
        /// Where to write them [default: <data-dir>/certs]
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
        /// Another name (DNS name or IP address) the server certificate covers; repeatable
        #[arg(long = "host", value_name = "NAME")]
        hosts: Vec<String>,
        /// Replace certificates that are already there
        #[arg(long)]
        force: bool,
    },
}

pub fn run(args: Args, config: &Config) -> anyhow::Result<()> {
    let CertsCommand::Init { dir, hosts, force } = args.command;
    let dir = match dir {
        Some(dir) => dir,
        None => config.resolved_data_dir()?.join("certs"),
    };
    let certs = dev_certs::generate(&hosts).map_err(|e| match e {
        e @ CertError::BadHost(_) => UsageError(e.into()).into(),
        e => anyhow::Error::from(e),
    })?;
    certs.write(&dir, force).map_err(|e| match e {
        e @ CertError::Exists(_) => anyhow::Error::from(UsageError(e.into())),
        e => e.into(),
    })?;
    output::line(&format!("wrote certificates to {}:", dir.display()))?;
    for line in [
        "  ca.crt                   the CA: clients trust it (e.g. grpcurl -cacert ca.crt)",
        "  server.crt, server.key   the server's certificate and private key",
        "  client.crt, client.key   a client certificate, for mutual TLS (grpcurl -cert -key)",
        "  ca.key                   signs certificates: keep it private",
    ] {
        output::line(line)?;
    }
    Ok(())
}
