//! Reading local files that a user names, bounded: `/dev/zero` or a runaway file gives a
//! clear error instead of filling memory; and writing secrets only their owner can read.

use std::{io::Read, path::Path};

/// Reads `path` as UTF-8 text of at most `max` bytes.
pub fn read_to_string_at_most(path: &Path, max: u64) -> std::io::Result<String> {
    let file = std::fs::File::open(path)?;
    let mut bytes = Vec::new();
    file.take(max + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "it is larger than {}; the limit is there so a wrong file cannot exhaust memory",
                size(max)
            ),
        ));
    }
    String::from_utf8(bytes)
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidData, "it is not UTF-8 text"))
}

/// Writes `contents` to `path`, which must not exist yet; with `private`, the file is
/// created with mode 0600 (owner only) before anything is written into it.
pub fn write_new(path: &Path, contents: &[u8], private: bool) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, if private { 0o600 } else { 0o644 });
    #[cfg(not(unix))]
    let _ = private;
    let mut file = options.open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

/// Creates `dir` and any missing parents, readable by the owner only (0700). A directory
/// that exists already keeps its mode (see [`shared_with_others`]).
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Makes an existing file readable and writable by its owner only (0600).
pub fn make_private(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        Ok(())
    }
}

/// The mode of `path` when its group or others may use it (any of 0o077), else `None`.
pub fn shared_with_others(path: &Path) -> Option<u32> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o777;
        (mode & 0o077 != 0).then_some(mode)
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

/// An unused name beside `path`, for a file written whole before it takes `path`'s place.
pub fn draft_beside(path: &Path) -> std::path::PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{:016x}.new", rand::random::<u64>()));
    std::path::PathBuf::from(name)
}

/// Replaces `path` with `contents` whole: written to a draft beside it (mode 0600 when
/// `private`), then renamed over it, so a reader finds the old file or the new one, never
/// half of one. Nothing is left behind on failure.
pub fn replace(path: &Path, contents: &[u8], private: bool) -> std::io::Result<()> {
    let draft = draft_beside(path);
    let written = write_new(&draft, contents, private).and_then(|()| std::fs::rename(&draft, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&draft);
    }
    written
}

/// How often watched files are checked for a change.
pub const WATCH_INTERVAL: std::time::Duration = std::time::Duration::from_secs(2);

/// What identifies the present versions of some files (modification time, length and
/// inode of each; `None` for a missing one), to notice when any changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stamps(Vec<Option<(std::time::SystemTime, u64, u64)>>);

impl Stamps {
    pub fn of(paths: &[impl AsRef<Path>]) -> Self {
        Self(
            paths
                .iter()
                .map(|p| {
                    let m = std::fs::metadata(p).ok()?;
                    #[cfg(unix)]
                    let inode = std::os::unix::fs::MetadataExt::ino(&m);
                    #[cfg(not(unix))]
                    let inode = 0;
                    let modified = m.modified().unwrap_or(std::time::SystemTime::UNIX_EPOCH);
                    Some((modified, m.len(), inode))
                })
                .collect(),
        )
    }
}

/// Runs `reload` (blocking: it reads files) every [`WATCH_INTERVAL`] until `stop`, logging
/// what it did: `Ok(true)` reloaded, `Ok(false)` nothing changed, an error once until the
/// next success. `what` names the files in the log.
pub async fn watch<E: std::fmt::Display + Send + 'static>(
    what: &'static str,
    stop: tokio_util::sync::CancellationToken,
    reload: impl Fn() -> Result<bool, E> + Send + Sync + 'static,
) {
    let reload = std::sync::Arc::new(reload);
    let mut reported = false;
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(WATCH_INTERVAL) => {}
        }
        let reload = std::sync::Arc::clone(&reload);
        match tokio::task::spawn_blocking(move || reload()).await {
            Ok(Ok(true)) => {
                reported = false;
                tracing::info!("{what} files changed: reloaded");
            }
            Ok(Ok(false)) => {}
            Ok(Err(e)) if !reported => {
                reported = true;
                tracing::warn!(error = %e, "{what} files changed but cannot be loaded; still using the ones loaded before");
            }
            Ok(Err(_)) => {}
            Err(e) => tracing::warn!(error = %e, "the {what} file check failed"),
        }
    }
}

/// A byte count for people: `64 KiB`, `256 MiB`.
pub fn size(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 30 && b % (1 << 30) == 0 => format!("{} GiB", b >> 30),
        b if b >= 1 << 20 && b % (1 << 20) == 0 => format!("{} MiB", b >> 20),
        b if b >= 1 << 10 && b % (1 << 10) == 0 => format!("{} KiB", b >> 10),
        b => format!("{b} bytes"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_are_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, "12345").unwrap();
        assert_eq!(read_to_string_at_most(&path, 5).unwrap(), "12345");
        let err = read_to_string_at_most(&path, 4).unwrap_err();
        assert!(err.to_string().contains("larger than 4 bytes"), "{err}");
        #[cfg(unix)]
        {
            let err = read_to_string_at_most(Path::new("/dev/zero"), 1 << 20).unwrap_err();
            assert!(err.to_string().contains("larger than 1 MiB"), "{err}");
        }
        std::fs::write(&path, [0xff, 0xfe]).unwrap();
        assert!(read_to_string_at_most(&path, 10).is_err());
        replace(&path, b"whole", true).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"whole");
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no draft left"
        );
        assert_eq!(size(256 << 20), "256 MiB");
    }
}
