//! Stop signals, listened for from the moment of the call.
//!
//! `tokio::signal::ctrl_c()` registers its handler only when first polled, and a signal
//! that arrives while no listener exists is lost — or, if the process inherited SIGINT as
//! ignored (background jobs of a non-interactive shell, as in CI), never seen at all. Unix
//! signal streams register when created, so creating them up front closes that gap.

use std::future::Future;

/// A future that completes on SIGINT (Ctrl-C) or SIGTERM. The handlers are installed before
/// this returns.
pub fn stop_requested() -> std::io::Result<impl Future<Output = ()>> {
    #[cfg(unix)]
    {
        let stop = stop_signal()?;
        Ok(async move {
            stop.await;
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            let _ = tokio::signal::ctrl_c().await;
        })
    }
}

/// [`stop_requested`], answering which signal came: `SIGINT` or `SIGTERM`, to pass on.
#[cfg(unix)]
pub fn stop_signal() -> std::io::Result<impl Future<Output = libc::c_int>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => libc::SIGINT,
            _ = terminate.recv() => libc::SIGTERM,
        }
    })
}
