//! The data folder holds buyers' personal data and the keys: folders are 0700 and files 0600
//! (owner only), whatever the process umask. On systems without Unix modes, plain calls.

use std::io::Write;
use std::path::Path;

/// Creates a folder (and its parents) readable by the owner only; an existing one is narrowed.
pub fn create_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
        let mode = std::fs::metadata(dir)?.permissions().mode() & 0o777;
        if mode != 0o700 {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
        }
        Ok(())
    }
    #[cfg(not(unix))]
    std::fs::create_dir_all(dir)
}

/// Writes a whole file readable by the owner only (created 0600, or truncated and narrowed).
pub fn write_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options.open(path)?;
    narrow(path)?;
    f.write_all(bytes)
}

/// Writes a file that must not exist yet, readable by the owner only: created 0600 (the umask
/// can only narrow it further), so unlike [`write_file`] there is nothing to narrow afterwards.
/// `AlreadyExists` when the name is taken; `NotFound` when its folder is missing.
pub fn write_new_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)?.write_all(bytes)
}

/// Makes an existing file owner-only (SQLite gives its -wal and -shm files the database's mode).
pub fn narrow(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)?.permissions().mode() & 0o777;
        if mode != 0o600 {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
        }
    }
    Ok(())
}
