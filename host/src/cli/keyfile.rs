//! Key files: an API key kept in a file only its owner can read, so that it never has to stand
//! on a command line (which every local user can read in `/proc/<pid>/cmdline`).

use std::io::Write as _;
use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::Path;

use anyhow::{Context as _, bail};

/// Writes `key` to a new file at `path`, readable and writable by its owner only. Refuses a path
/// that exists (a file planted there, or a symlink, is never written through).
pub(super) fn write_new(path: &Path, key: &str) -> anyhow::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .with_context(|| format!("creating the key file {}", path.display()))?;
    file.write_all(key.as_bytes())?;
    file.write_all(b"\n")?;
    Ok(())
}

/// Reads a key from `path`, which must be a regular file that other users cannot read.
pub(super) fn read(path: &Path) -> anyhow::Result<String> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .with_context(|| format!("opening the key file {}", path.display()))?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        bail!("the key file {} is not a regular file", path.display());
    }
    if meta.permissions().mode() & 0o077 != 0 {
        bail!(
            "the key file {} can be read by other users (mode {:o}); chmod 600 it",
            path.display(),
            meta.mode() & 0o777
        );
    }
    let text = std::io::read_to_string(file)?;
    let key = text.trim();
    if key.is_empty() {
        bail!("the key file {} is empty", path.display());
    }
    Ok(key.to_string())
}
