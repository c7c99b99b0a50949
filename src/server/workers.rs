//! The threads that serve connections (docs/design.md §1). Each worker is a single-threaded
//! event loop: a connection, its calls and the tasks they spawn stay on one thread, so a call
//! costs no cross-thread wake-ups, atomics of a work-stealing queue or cache-line transfers.
//! `serve` runs one worker per CPU the process may use (`connections.workers`): the thread
//! that runs `serve` itself, and one thread each for the others. Each port's acceptor hands a
//! new connection to the worker with the fewest open ([`super::conn`]).

use std::{io, num::NonZeroUsize, time::Duration};

use tokio::runtime::Handle;
use tokio_util::sync::CancellationToken;

/// How long a worker's leftover tasks get once serving stopped (its blocking work, mostly).
const LINGER: Duration = Duration::from_secs(1);

/// The workers of one `serve`; they stop when this is stopped or dropped.
#[derive(Debug)]
pub struct Workers {
    handles: Vec<Handle>,
    threads: Vec<std::thread::JoinHandle<()>>,
    stop: CancellationToken,
}

impl Workers {
    /// `count` workers (0: one per CPU this process may use): the calling task's runtime and
    /// `count − 1` threads, each with a runtime of its own.
    pub fn start(count: usize) -> io::Result<Self> {
        let count = match NonZeroUsize::new(count) {
            Some(n) => n.get(),
            None => std::thread::available_parallelism().map_or(1, NonZeroUsize::get),
        };
        let stop = CancellationToken::new();
        let mut workers = Self {
            handles: vec![Handle::current()],
            threads: Vec::with_capacity(count - 1),
            stop,
        };
        for index in 1..count {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                // Its blocking pool's threads (the worker's own is named below).
                .thread_name("serve-blocking")
                .build()?;
            workers.handles.push(runtime.handle().clone());
            let stop = workers.stop.clone();
            let thread = std::thread::Builder::new()
                .name(format!("serve-worker-{index}"))
                .spawn(move || {
                    // Tasks spawned on a current-thread runtime run while this thread is in
                    // `block_on`: until the workers stop.
                    runtime.block_on(stop.cancelled());
                    runtime.shutdown_timeout(LINGER);
                })?;
            workers.threads.push(thread);
        }
        Ok(workers)
    }

    /// The workers' runtimes; the first is the caller's.
    pub fn handles(&self) -> &[Handle] {
        &self.handles
    }

    /// Stops the workers' threads and waits for them (at most [`LINGER`] each), off the
    /// executor.
    pub async fn stop(mut self) {
        self.stop.cancel();
        let threads = std::mem::take(&mut self.threads);
        let _ = tokio::task::spawn_blocking(move || {
            for thread in threads {
                let _ = thread.join();
            }
        })
        .await;
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn runs_tasks_on_threads_of_their_own_and_stops() {
        let workers = Workers::start(3).unwrap();
        assert_eq!(workers.handles().len(), 3);
        let mut names = Vec::new();
        for handle in workers.handles() {
            let name = handle
                .spawn(async { std::thread::current().name().map(str::to_owned) })
                .await
                .unwrap();
            names.push(name);
        }
        assert_eq!(names[1].as_deref(), Some("serve-worker-1"));
        assert_eq!(names[2].as_deref(), Some("serve-worker-2"));
        assert_ne!(names[0], names[1]);
        let second = workers.handles()[1].clone();
        workers.stop().await;
        // A stopped worker runs nothing more.
        let late = second.spawn(async {});
        assert!(late.await.is_err());
    }

    #[tokio::test]
    async fn zero_means_one_per_cpu() {
        let workers = Workers::start(0).unwrap();
        let cpus = std::thread::available_parallelism().map_or(1, NonZeroUsize::get);
        assert_eq!(workers.handles().len(), cpus);
        workers.stop().await;
    }
}
