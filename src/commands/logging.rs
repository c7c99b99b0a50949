//! Logs go to stderr (stdout is for command output), filtered by --log-level, else RUST_LOG,
//! else the command's default.

use tracing_subscriber::EnvFilter;

use super::UsageError;

pub fn init(flag: Option<&str>, default: &str) -> anyhow::Result<()> {
    let filter = match flag {
        Some(level) => EnvFilter::try_new(level).map_err(|e| {
            UsageError(anyhow::anyhow!(
                "invalid --log-level {level:?}: {e}; expected error, warn, info, debug, trace or a filter such as movieapp=debug"
            ))
        })?,
        None => EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default)),
    };
    // A second init (tests calling into commands) keeps the first subscriber.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
    Ok(())
}
