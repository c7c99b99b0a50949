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
        assert_eq!(size(256 << 20), "256 MiB");
    }
}
