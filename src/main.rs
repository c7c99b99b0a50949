//! Parse flags, run a command, map errors to exit codes — nothing else.

use std::{io::Write, process::ExitCode};

use movieapp::commands::{exit_code, is_quiet, one_line, report_parse_error};

// The services allocate many small, short-lived buffers per call (HTTP/2 frames, protobuf
// messages); mimalloc serves them markedly cheaper than the system allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    movieapp::commands::output::note_stdout(stdout_closed_at_start());
    let cli = match movieapp::commands::parse() {
        Ok(cli) => cli,
        Err(e) => return ExitCode::from(report_parse_error(&e)),
    };
    let result = cli
        .runtime()
        .enable_all()
        .build()
        .map_err(anyhow::Error::from)
        .and_then(|runtime| runtime.block_on(cli.run()));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            let code = exit_code(&err);
            if code != 0 && !is_quiet(&err) {
                // One line: the error and its causes.
                let _ = writeln!(std::io::stderr(), "error: {}", one_line(&err));
            }
            ExitCode::from(code)
        }
    }
}

/// Whether descriptor 1 was closed when the process was loaded, recorded before the Rust
/// runtime reopens it on /dev/null (a constructor in `.init_array` runs first).
fn stdout_closed_at_start() -> bool {
    #[cfg(target_os = "linux")]
    {
        !start::STDOUT_OPEN.load(std::sync::atomic::Ordering::Relaxed)
    }
    #[cfg(not(target_os = "linux"))]
    {
        false
    }
}

#[cfg(target_os = "linux")]
mod start {
    use std::sync::atomic::{AtomicBool, Ordering};

    pub static STDOUT_OPEN: AtomicBool = AtomicBool::new(true);

    extern "C" fn record() {
        // SAFETY: F_GETFD only reads the descriptor's flags; -1 means it is not open.
        let open = unsafe { libc::fcntl(1, libc::F_GETFD) } != -1;
        STDOUT_OPEN.store(open, Ordering::Relaxed);
    }

    #[used]
    #[unsafe(link_section = ".init_array")]
    static RECORD: extern "C" fn() = record;
}
