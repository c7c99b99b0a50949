//! Parse flags, run a command, map errors to exit codes — nothing else.

use std::{io::Write, process::ExitCode};

use clap::Parser;
use movieapp::commands::{Cli, exit_code, one_line, report_parse_error};

// The services allocate many small, short-lived buffers per call (HTTP/2 frames, protobuf
// messages); mimalloc serves them markedly cheaper than the system allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return ExitCode::from(report_parse_error(&e)),
    };
    let result = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(anyhow::Error::from)
        .and_then(|runtime| runtime.block_on(cli.run()));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            let code = exit_code(&err);
            if code != 0 {
                // One line: the error and its causes.
                let _ = writeln!(std::io::stderr(), "error: {}", one_line(&err));
            }
            ExitCode::from(code)
        }
    }
}
