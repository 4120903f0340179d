//! Files only the daemon's user may read: the data directory and what it
//! holds (the event log, snapshots — which are router configs with their
//! secrets — and the demo's inventory).
//!
//! Directories are created 0700 and files 0600 from the start, never
//! created open and narrowed afterwards; an existing directory or file that
//! others can read is narrowed, and the caller says so once.

use std::fs::{DirBuilder, OpenOptions};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Create `dir` and any missing parents, each 0700.
pub fn create_dir(dir: &Path) -> std::io::Result<()> {
    DirBuilder::new().recursive(true).mode(0o700).create(dir)
}

/// Narrow `path` to `mode` when group or others have any access; returns
/// the mode it had, for the caller's message.
pub fn narrow(path: &Path, mode: u32) -> std::io::Result<Option<u32>> {
    let had = std::fs::metadata(path)?.permissions().mode() & 0o777;
    if had & 0o077 == 0 {
        return Ok(None);
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    Ok(Some(had))
}

/// Make sure `path` exists as a file of mode 0600 (created empty when
/// missing), so that whoever opens it next finds it private.
pub fn ensure_file(path: &Path) -> std::io::Result<Option<u32>> {
    match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(None),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => narrow(path, 0o600),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn directories_and_files_are_private_from_the_start() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a/b");
        create_dir(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&tmp.path().join("a")), 0o700);
        let file = dir.join("events.redb");
        assert_eq!(ensure_file(&file).unwrap(), None);
        assert_eq!(mode(&file), 0o600);
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(ensure_file(&file).unwrap(), Some(0o644));
        assert_eq!(mode(&file), 0o600);
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(narrow(&dir, 0o700).unwrap(), Some(0o755));
        assert_eq!(narrow(&dir, 0o700).unwrap(), None);
    }
}
