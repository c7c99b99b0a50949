//! `movieapp lock`: run a command while holding a distributed lock, or show the locks.

use std::{process::ExitStatus, time::Duration};

use clap::Subcommand;
use tokio_util::sync::CancellationToken;

use super::{UsageError, output};
use crate::{
    config::Config,
    lock::{KeyStatus, Locks, check_key, now_ms},
};

/// Run a command while holding a lock, or show who holds which lock
///
/// Locks are leases: held for lock.ttl (default 10s) and renewed in the background. A key
/// whose lease ran out without a release stays locked for lock.lockDelay (default 15s), so
/// a holder that was only paused does not overlap its successor. Each acquisition gets a
/// fencing token, larger than every earlier one for the key: pass it with every write, and
/// have the store refuse writes with a smaller token than it has seen.
///
/// The store is lock.backend: sqlite (default; <dataDir>/locks.db, every process on this
/// host), consul (the agent of serviceDiscovery.consul.address) or consul://host:port.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  movieapp lock run jobs/nightly -- ./nightly.sh   # waits for it, then runs
  movieapp lock run jobs/nightly --timeout 0s -- ./nightly.sh  # only if free
  movieapp lock status
  movieapp lock status --output json")]
pub struct Args {
    #[command(subcommand)]
    command: LockCommand,
}

#[derive(Debug, Subcommand)]
enum LockCommand {
    /// Run CMD while holding KEY, like `consul lock`
    ///
    /// Waits for the lock (--timeout bounds the wait), runs CMD with its fencing token in
    /// MOVIEAPP_LOCK_TOKEN, and releases the lock when CMD ends. Exits with CMD's exit code
    /// (127 if CMD is not found, 126 if it cannot be run).
    ///
    /// CMD runs in a process group of its own, and nothing of it outlives the lock: if the
    /// lease is lost (it could not be renewed in time), the whole group gets SIGTERM, then
    /// SIGKILL after 5s, and the exit code is 1; if `lock run` itself dies, even by
    /// SIGKILL, the group is killed; and when CMD ends, what it left running in its group
    /// is killed before the lock is released. SIGINT and SIGTERM are passed on to the
    /// group as they came. Fencing tokens remain the defence for what escapes the group.
    Run {
        /// The lock's key: path segments of letters, digits, '-', '_' and '.', e.g.
        /// jobs/nightly
        #[arg(value_name = "KEY")]
        lock_key: String,
        /// How long to wait for the lock, e.g. 30s; 0s: only if it is free now
        /// [default: wait as long as it takes]
        #[arg(long, value_name = "DURATION")]
        timeout: Option<crate::config::value::Delay>,
        /// Who holds it, as `lock status` shows [default: lock-run-PID@HOST]
        #[arg(long, value_name = "NAME")]
        holder: Option<String>,
        /// The command and its arguments
        #[arg(required = true, last = true, value_name = "CMD")]
        command: Vec<String>,
    },
    /// Every lock: its holder, fencing token and expiry
    Status {
        #[arg(long, short, value_enum, default_value_t)]
        output: output::Format,
    },
}

/// How long a command killed for a lost lease gets between SIGTERM and SIGKILL.
const KILL_GRACE: Duration = Duration::from_secs(2);

pub(super) async fn open(config: &Config) -> anyhow::Result<Locks> {
    let tls = config
        .tls
        .client()?
        .as_ref()
        .map(crate::tls::ClientTls::rustls)
        .transpose()?;
    Ok(config
        .lock
        .open(
            &config.resolved_data_dir()?,
            config.service_discovery.consul.address.as_str(),
            tls,
        )
        .await?)
}

pub async fn run(args: Args, config: Config) -> anyhow::Result<()> {
    match args.command {
        LockCommand::Status { output } => status(&config, output).await,
        LockCommand::Run {
            lock_key: key,
            timeout,
            holder,
            command,
        } => {
            check_key(&key).map_err(|e| UsageError(e.into()))?;
            let holder = holder.unwrap_or_else(|| crate::lock::default_holder("lock-run"));
            let code =
                run_locked(&config, &key, &holder, timeout.map(|t| t.get()), &command).await?;
            if code == 0 {
                Ok(())
            } else {
                Err(super::ExitWith(code).into())
            }
        }
    }
}

/// Takes the lock, runs the command under it, and returns the exit code to exit with.
async fn run_locked(
    config: &Config,
    key: &str,
    holder: &str,
    timeout: Option<Duration>,
    command: &[String],
) -> anyhow::Result<u8> {
    let locks = open(config).await?;
    let stop = CancellationToken::new();
    let stop_requested = super::signals::stop_signal()
        .map_err(|e| anyhow::anyhow!("cannot listen for SIGINT and SIGTERM: {e}"))?;
    let waiting = locks.acquire(key, holder, timeout, &stop);
    tokio::pin!(stop_requested);
    let held = tokio::select! {
        held = waiting => held?,
        _ = &mut stop_requested => None,
    };
    let Some(held) = held else {
        anyhow::bail!("stopped while waiting for the lock on {key:?}");
    };
    let token = held.token();
    let (program, rest) = command
        .split_first()
        .ok_or_else(|| UsageError(anyhow::anyhow!("no command to run: give it after --")))?;
    let mut command = tokio::process::Command::new(program);
    command
        .args(rest)
        .env(crate::lock::TOKEN_ENV, token.to_string())
        // A group of its own, so that all it starts can be signalled together.
        .process_group(0)
        .kill_on_drop(true);
    // The command must not outlive `lock run` (killed with SIGKILL, say): it would go on
    // without the lock. Its group leader dies with `lock run`; the rest of the group is
    // the watchdog's (below).
    #[cfg(target_os = "linux")]
    // SAFETY: prctl(2) is async-signal-safe, and the closure touches nothing else.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(e) => {
            let _ = held.release().await;
            // As shells do: 127 for a command not found, 126 for one that cannot run.
            let code = match e.kind() {
                std::io::ErrorKind::NotFound => 127,
                _ => 126,
            };
            eprintln!("error: cannot run {program:?}: {e}");
            return Ok(code);
        }
    };
    let group = child.id().and_then(|id| libc::pid_t::try_from(id).ok());
    // Kept open for as long as this process lives; its end kills the group.
    let _watchdog = match group.map(watchdog::watch_over).transpose() {
        Ok(watchdog) => watchdog,
        Err(e) => {
            terminate(&mut child, group).await;
            let _ = held.release().await;
            anyhow::bail!("cannot start the watchdog of {program:?}'s process group: {e}");
        }
    };
    let lost = held.lost();
    let status = tokio::select! {
        status = child.wait() => status,
        () = lost.cancelled() => {
            terminate(&mut child, group).await;
            anyhow::bail!(
                "the lease on {key:?} (token {token}) was lost; {program:?} and its process group were killed"
            );
        }
        signal = &mut stop_requested => {
            // Passed on as it came; the lock is kept until the command has stopped.
            signal_group(group, signal);
            tokio::select! {
                status = child.wait() => status,
                () = lost.cancelled() => {
                    terminate(&mut child, group).await;
                    anyhow::bail!("the lease on {key:?} (token {token}) was lost; {program:?} and its process group were killed");
                }
            }
        }
    };
    let status = status.map_err(|e| anyhow::anyhow!("waiting for {program:?}: {e}"))?;
    // What the command left running must not go on without the lock.
    signal_group(group, libc::SIGKILL);
    held.release().await?;
    Ok(exit_code(status))
}

/// SIGTERM to the command's group, then SIGKILL if the command has not stopped within
/// [`KILL_GRACE`]; what is left of the group gets SIGKILL either way.
async fn terminate(child: &mut tokio::process::Child, group: Option<libc::pid_t>) {
    signal_group(group, libc::SIGTERM);
    if tokio::time::timeout(KILL_GRACE, child.wait())
        .await
        .is_err()
    {
        let _ = child.kill().await;
    }
    signal_group(group, libc::SIGKILL);
}

/// Signals every process of the command's group.
fn signal_group(group: Option<libc::pid_t>, signal: libc::c_int) {
    if let Some(group) = group.filter(|g| *g > 1) {
        // SAFETY: kill(2) on the process group our child leads, with a valid signal.
        unsafe {
            libc::kill(-group, signal);
        }
    }
}

/// The process that kills the command's group when `lock run` ends, however it ends.
mod watchdog {
    use std::os::fd::{FromRawFd, OwnedFd};

    /// Forks a watchdog that waits for the end of a pipe whose only writer is this
    /// process, then kills `group` with SIGKILL. The write end is returned: the kernel
    /// closes it when this process ends, even by SIGKILL.
    pub fn watch_over(group: libc::pid_t) -> std::io::Result<OwnedFd> {
        let mut fds = [0 as libc::c_int; 2];
        // SAFETY: pipe2 fills `fds` with two new descriptors, or fails.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } == -1 {
            return Err(std::io::Error::last_os_error());
        }
        let [read, write] = fds;
        // SAFETY: after fork the child makes only async-signal-safe calls (close, read,
        // kill, _exit), as a multithreaded parent requires, and never returns.
        match unsafe { libc::fork() } {
            -1 => {
                let e = std::io::Error::last_os_error();
                // SAFETY: both descriptors are ours and open.
                unsafe {
                    libc::close(read);
                    libc::close(write);
                }
                Err(e)
            }
            0 => unsafe {
                libc::close(write);
                let mut byte = 0u8;
                loop {
                    let n = libc::read(read, std::ptr::addr_of_mut!(byte).cast(), 1);
                    if n == 0 || (n == -1 && *libc::__errno_location() != libc::EINTR) {
                        break;
                    }
                }
                libc::kill(-group, libc::SIGKILL);
                libc::_exit(0)
            },
            _ => {
                // SAFETY: `read` is ours and open; `write` is ours, open, and owned from here.
                unsafe {
                    libc::close(read);
                    Ok(OwnedFd::from_raw_fd(write))
                }
            }
        }
    }
}

/// The shell's convention: the exit code, or 128 + the signal that ended the command.
fn exit_code(status: ExitStatus) -> u8 {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => u8::try_from(code).unwrap_or(1),
        (None, Some(signal)) => u8::try_from(128 + signal).unwrap_or(1),
        (None, None) => 1,
    }
}

async fn status(config: &Config, format: output::Format) -> anyhow::Result<()> {
    let locks = open(config).await?;
    let keys = locks.backend().status().await?;
    match format {
        output::Format::Json => output::json(&keys)?,
        output::Format::Table => {
            if keys.is_empty() {
                output::line("no locks yet")?;
                return Ok(());
            }
            let now = now_ms();
            let mut table = comfy_table::Table::new();
            table
                .load_style(comfy_table::presets::UTF8_FULL_CONDENSED)
                .set_header(["key", "holder", "token", "state"]);
            for key in &keys {
                table.add_row([
                    output::cell(&key.key),
                    output::cell(key.holder.as_deref().unwrap_or("-")),
                    key.token.to_string(),
                    state(key, now),
                ]);
            }
            output::table(&table)?;
        }
    }
    Ok(())
}

fn state(key: &KeyStatus, now: i64) -> String {
    let secs = |ms: i64| format!("{:.1}s", (ms - now).max(0) as f64 / 1000.0);
    match (
        key.holder.is_some(),
        key.expires_at_ms,
        key.delayed_until_ms,
    ) {
        (true, Some(expires), _) => format!("held, expires in {}", secs(expires)),
        (true, None, _) => "held".to_owned(),
        (false, _, Some(until)) => format!("lock-delay, free in {}", secs(until)),
        (false, _, None) => "free".to_owned(),
    }
}
